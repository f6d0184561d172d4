import { Packr } from 'msgpackr'
import type { BotVerdict, ClientFields } from '../records.js'
import { classifyGroup, type ClassifyInput } from './classify.js'
import { clientFields } from './ua.js'

/*
 * The one batch entry of the classifier: the worker pool runs it, the tests run it, and so
 * does in-process classification. A batch carries every observation once (the ones to judge
 * and the rest of their messages), the indexes to judge, and what the promotion layer counts
 * around them: link counts per message and distinct recipients per address.
 */

/** A classification batch as it crosses to a worker thread. */
export interface ClassifyTask {
  kind: 'classify'
  /** `messageId` is the message's key (project and message id): another project's same id is another message. */
  observations: ClassifyInput[]
  /** Indexes of the observations to judge (the others are context). */
  judge: number[]
  /** Tracked links per message key, when known. */
  linkCounts: Record<string, number>
  /** Distinct messages (recipients) each address clicked recently, link previews not counted. */
  addressRecipients: Record<string, number>
}

export interface Classified { verdict: BotVerdict, client: ClientFields }

/** Runs a task: each judged observation against its message's observations and its address's reach. */
export function runClassifyTask (task: ClassifyTask): Classified[] {
  const verdicts = classifyGroup(task.observations, {
    linkCount: key => task.linkCounts[key],
    addressRecipients: ip => task.addressRecipients[ip]
  }, task.judge)
  return verdicts.map((verdict, i) => ({ verdict, client: clientFields(task.observations[task.judge[i]].userAgent) }))
}

// Batches cross the thread boundary as one msgpack buffer, transferred rather than cloned
// (STYLE.md): a structured clone of a 1,000-observation task cost the main thread more than
// classifying it in place (bench/micro/classify-transfer.mjs).
//
// The observations travel as columns with every string once. Packing them as msgpack
// records cost the main thread as much as classifying them in place, and records made each
// batch's linkCounts and addressRecipients (one key per message, per address) a new record
// structure of a thousand keys that the worker had to read as such. The header strings of a
// batch mostly repeat (one browser's User-Agent, Accept, client hints), so a table of the
// distinct strings and an index per field is a fraction of the bytes and of the time on both
// sides (measured, bench/micro/classify-transfer.mjs, 1,000 observations: packing on the main
// thread 6.2 → 1.2 ms, now below the 2 ms of classifying them in place; 300 → 114 KB; the
// worker's unpack 1.6 → 0.9 ms), and the worker's User-Agent memo sees one string instance
// per distinct agent.
const packr = new Packr({ useRecords: true, maxSharedStructures: 0 })
const plain = new Packr({ useRecords: false })

/** String fields of ClassifyInput, in wire order. */
const STRING_FIELDS = ['ip', 'userAgent', 'accept', 'acceptLanguage', 'secFetchSite', 'secFetchMode', 'secFetchDest', 'secFetchUser', 'secChUa', 'secPurpose', 'purpose', 'xMoz', 'messageId', 'method', 'xNativeHost'] as const
/** Number fields of ClassifyInput, in wire order. */
const NUMBER_FIELDS = ['ts', 'sentAt', 'linkIndex'] as const
const NS = STRING_FIELDS.length
const NN = NUMBER_FIELDS.length

/** The wire form of a classify task: a msgpack buffer to transfer. */
export interface PackedClassifyTask {
  kind: 'classify'
  payload: Uint8Array
}

/** The columns inside a packed task (see above); typed arrays travel as msgpack bin (their bytes). */
interface TaskColumns<I = Int32Array, F = Float64Array> {
  /** Every distinct string of the task once. */
  strings: string[]
  /** Per observation, NS indexes into `strings` (-1: not a string, read back as undefined). */
  text: I
  /** Per observation, NN numbers. */
  nums: F
  /** Per observation: 0 secure absent, 1 false, 2 true. */
  secure: Uint8Array
  /** Per observation: 1 a honeypot fetch, else 0. */
  honeypot: Uint8Array
  judge: I
  /** [string index of the message key, count] pairs. */
  linkCounts: F
  /** [string index of the address, count] pairs. */
  addressRecipients: F
}

const bytes = (a: Int32Array | Float64Array): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
// msgpack bin comes back as a Buffer anywhere in the payload: copied out (aligned) as what it was.
const int32s = (b: Uint8Array): Int32Array => new Int32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
const float64s = (b: Uint8Array): Float64Array => new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))

// Reader and writer of the columns, generated once from the field lists (like the row codec
// of store/observations.ts): monomorphic property reads and one object literal per
// observation, where a loop over field names made the observations dictionary-mode objects
// that classified ten times slower.
// eslint-disable-next-line no-new-func -- generated once at load from the constant field lists above, never from input
const writeColumns = new Function('obs', 'text', 'nums', 'secure', 'honeypot', 'intern', `
  for (let k = 0; k < obs.length; k++) {
    const o = obs[k]
    ${STRING_FIELDS.map((f, i) => `text[k * ${NS} + ${i}] = intern(o.${f})`).join('\n    ')}
    ${NUMBER_FIELDS.map((f, i) => `nums[k * ${NN} + ${i}] = o.${f}`).join('\n    ')}
    secure[k] = o.secure === undefined ? 0 : o.secure === true ? 2 : 1
    honeypot[k] = o.honeypot === true ? 1 : 0
  }`) as (obs: ClassifyInput[], text: Int32Array, nums: Float64Array, secure: Uint8Array, honeypot: Uint8Array, intern: (v: unknown) => number) => void

// eslint-disable-next-line no-new-func -- generated once at load from the constant field lists above, never from input
const readColumns = new Function('strings', 'text', 'nums', 'secure', 'honeypot', `
  const n = secure.length
  const out = new Array(n)
  const s = i => i < 0 ? undefined : strings[i]
  for (let k = 0; k < n; k++) {
    const o = {
      ${STRING_FIELDS.map((f, i) => `${f}: s(text[k * ${NS} + ${i}])`).join(',\n      ')},
      ${NUMBER_FIELDS.map((f, i) => `${f}: nums[k * ${NN} + ${i}]`).join(',\n      ')}
    }
    if (secure[k] !== 0) o.secure = secure[k] === 2
    if (honeypot[k] === 1) o.honeypot = true
    out[k] = o
  }
  return out`) as (strings: string[], text: Int32Array, nums: Float64Array, secure: Uint8Array, honeypot: Uint8Array) => ClassifyInput[]

export function packClassifyTask (task: ClassifyTask): PackedClassifyTask {
  const index = new Map<string, number>()
  const strings: string[] = []
  const intern = (v: unknown): number => {
    if (typeof v !== 'string') return -1
    let i = index.get(v)
    if (i === undefined) {
      i = strings.length
      strings.push(v)
      index.set(v, i)
    }
    return i
  }
  const n = task.observations.length
  const text = new Int32Array(n * NS)
  const nums = new Float64Array(n * NN)
  const secure = new Uint8Array(n)
  const honeypot = new Uint8Array(n)
  writeColumns(task.observations, text, nums, secure, honeypot, intern)
  const pairs = (r: Record<string, number>): Float64Array => {
    const keys = Object.keys(r)
    const out = new Float64Array(keys.length * 2)
    for (let i = 0; i < keys.length; i++) {
      out[2 * i] = intern(keys[i])
      out[2 * i + 1] = r[keys[i]]
    }
    return out
  }
  const columns: TaskColumns<Uint8Array, Uint8Array> = {
    strings,
    text: bytes(text),
    nums: bytes(nums),
    secure,
    honeypot,
    judge: bytes(Int32Array.from(task.judge)),
    linkCounts: bytes(pairs(task.linkCounts)),
    addressRecipients: bytes(pairs(task.addressRecipients))
  }
  return { kind: 'classify', payload: plain.pack(columns) }
}

/** The task a packed one carries (worker side; exported for tests). */
export function unpackClassifyTask (payload: Uint8Array): ClassifyTask {
  const c = plain.unpack(payload) as TaskColumns<Uint8Array, Uint8Array>
  const strings = c.strings
  const record = (pairs: Float64Array): Record<string, number> => {
    const r: Record<string, number> = {}
    for (let i = 0; i < pairs.length; i += 2) r[strings[pairs[i]]] = pairs[i + 1]
    return r
  }
  return {
    kind: 'classify',
    // A task packed before the honeypot column (none crosses a restart, but be exact): all false.
    observations: readColumns(strings, int32s(c.text), float64s(c.nums), c.secure, c.honeypot ?? new Uint8Array(c.secure.length)),
    judge: Array.from(int32s(c.judge)),
    linkCounts: record(float64s(c.linkCounts)),
    addressRecipients: record(float64s(c.addressRecipients))
  }
}

/** Worker side: unpack, classify, pack the verdicts. */
export function runPackedClassifyTask (task: PackedClassifyTask): Uint8Array {
  const t = unpackClassifyTask(task.payload)
  // A copy with its own ArrayBuffer, so that it can be transferred (pack reuses its buffer).
  return new Uint8Array(packr.pack(runClassifyTask(t)))
}

export function unpackClassified (payload: Uint8Array): Classified[] {
  return packr.unpack(payload) as Classified[]
}
