import { workerData } from 'node:worker_threads'
// Only token/ and rewrite/ (and the import-free redirect/hosts.ts) are loaded here: chdb in
// a worker thread crashes the whole process when the worker exits (DESIGN.md).
import { KeyRing } from '../token/keys.js'
import { HONEYPOT_LINK_INDEX, mintToken } from '../token/codec.js'
import { trackedUrl } from '../token/tracked-url.js'
import { trackingHostPredicate, type TrackingHostPredicate } from '../rewrite/links.js'
import { renderHtml, scanHtml, type HoneypotMintFn, type LinkRecord, type MintFn, type ScannedDocument } from '../rewrite/html.js'
import { JsonPieces, linkView } from '../rewrite/answer.js'
import { ClicktrailError, type ErrorCode } from '../errors.js'
import type { JobResult, MimeOutput, MimeTask, PoolTask, RewriteOutput, RewriteSendOutput, RewriteSendTask, RewriteTask, TaskFailure, TrackingConfig, WorkerData } from './tasks.js'
import { Piscina } from 'piscina'
import { runPackedClassifyTask } from '../classify/batch.js'

const allowTestTasks = (workerData as WorkerData | undefined)?.allowTestTasks === true

/** Piscina's entry: one task in, its result out. Never throws for bad input: failures are data. */
export default async function run (task: PoolTask): Promise<unknown> {
  switch (task.kind) {
    case 'rewrite': return await rewriteTask(task)
    case 'rewrite-send': {
      const r = await settle(async () => await sendTask(task))
      return r.ok ? moveWith(r, r.value.body.buffer as ArrayBuffer) : r
    }
    case 'rewrite-mime': {
      const r = await settle(async () => await mimeTask(task))
      return r.ok ? moveWith(r, r.value.raw.buffer as ArrayBuffer) : r
    }
    case 'classify': {
      const r = await settle(async () => runPackedClassifyTask(task))
      // The verdicts go back as a transferred buffer too.
      return r.ok ? Piscina.move(r.value) : r
    }
    case 'test-crash':
      if (allowTestTasks) process.exit(70)
      return failure('CT_ERR_POOL_TASK', 'test tasks are not enabled in this pool')
    default:
      return failure('CT_ERR_POOL_TASK', `unknown task kind ${JSON.stringify((task as { kind?: unknown }).kind)}`)
  }
}

interface Minting {
  ring: KeyRing
  isTrackingHost: TrackingHostPredicate
  prefix: string
  config: TrackingConfig
}

// KeyRings keep their derived keys; tasks of one project arrive again and again. Bounded.
const minters = new Map<string, Minting>()
const MINTERS_MAX = 32

function minting (config: TrackingConfig): Minting {
  let key = `${config.sid}|${config.trackingBaseUrl}|${config.maxUrlBytes ?? ''}|${(config.customDomains ?? []).join(',')}`
  for (const s of config.secrets) key += `|${s.kid}:${Buffer.from(s.secret.buffer, s.secret.byteOffset, s.secret.byteLength).toString('base64')}`
  let m = minters.get(key)
  if (m === undefined) {
    const ring = new KeyRing(config.secrets.map(s => ({ kid: s.kid, secret: Buffer.from(s.secret) })))
    m = {
      ring,
      isTrackingHost: trackingHostPredicate(config.trackingBaseUrl, config.customDomains),
      prefix: trackedUrl(config.trackingBaseUrl, config.sid, ''),
      config
    }
    if (minters.size >= MINTERS_MAX) minters.delete(minters.keys().next().value as string)
    minters.set(key, m)
  }
  return m
}

function mintFor (m: Minting, messageId: string, sentAt: number): MintFn {
  const { sid, maxUrlBytes } = m.config
  // Fails here, once, on a bad message id / sid / sent time, rather than on every link.
  mintToken(m.ring, { sid, messageId, linkIndex: 0, sentAt, url: 'https://example.com/' })
  return (linkIndex, url) => m.prefix + mintToken(m.ring, { sid, messageId, linkIndex, sentAt, url }, { maxUrlBytes })
}

/** The message's honeypot URL (rewrite/honeypot.ts): the reserved index, the first tracked link's destination. */
function honeypotFor (m: Minting, messageId: string, sentAt: number): HoneypotMintFn {
  const { sid, maxUrlBytes } = m.config
  return url => m.prefix + mintToken(m.ring, { sid, messageId, linkIndex: HONEYPOT_LINK_INDEX, sentAt, url }, { maxUrlBytes, honeypot: true })
}

async function rewriteTask (task: RewriteTask): Promise<Array<JobResult<RewriteOutput>>> {
  let m: Minting
  try {
    m = minting(task.tracking)
  } catch (err) {
    const f = toFailure(err)
    return task.jobs.map(() => ({ ok: false, error: f }))
  }
  const out: Array<JobResult<RewriteOutput>> = []
  let previous: { html: string, firstIndex: number, honeypot: boolean, doc: ScannedDocument } | undefined
  for (const job of task.jobs) {
    if (typeof job?.html !== 'string') {
      out.push(failure('CT_ERR_POOL_TASK', 'each job needs html (a string), messageId and sentAt'))
      continue
    }
    out.push(await settle(async () => {
      const firstIndex = job.firstIndex ?? 0
      const mint = mintFor(m, job.messageId, job.sentAt)
      const honeypot = job.honeypot === true
      let doc: ScannedDocument
      if (previous !== undefined && previous.firstIndex === firstIndex && previous.honeypot === honeypot && previous.html === job.html) {
        doc = previous.doc
      } else {
        doc = await scanHtml(job.html, { isTrackingHost: m.isTrackingHost, maxUrlBytes: m.config.maxUrlBytes, firstIndex, honeypot })
        previous = { html: job.html, firstIndex, honeypot, doc }
      }
      return renderHtml(doc, mint, honeypot ? honeypotFor(m, job.messageId, job.sentAt) : undefined)
    }))
  }
  return out
}

/**
 * `value` goes back to the pool with `buffer` transferred rather than cloned: piscina
 * transfers what a movable object names under transferableSymbol and posts what it names
 * under valueSymbol. `buffer` must be the buffer's own ArrayBuffer (never Buffer's pool).
 */
function moveWith (value: object, buffer: ArrayBuffer): unknown {
  return Piscina.move({ [Piscina.transferableSymbol]: buffer, [Piscina.valueSymbol]: value } as never)
}

/** `bytes` on an ArrayBuffer of its own, copied only when it shares one (Buffer's pool, a slice). */
function own (bytes: Uint8Array): Uint8Array {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  return copy
}

async function sendTask (task: RewriteSendTask): Promise<RewriteSendOutput> {
  const n = task.recipients.length
  if (n === 0 || task.messageIds.length !== n || typeof task.html !== 'string') throw ClicktrailError.detailed('CT_ERR_REWRITE_INTERNAL', 'a send needs html and one message id per recipient')
  const { maxLinks, maxTokens, maxOutputBytes } = task.limits
  const m = minting(task.tracking)
  const honeypot = task.honeypot === true && task.track
  const doc = await scanHtml(task.html, { isTrackingHost: m.isTrackingHost, maxUrlBytes: m.config.maxUrlBytes, honeypot })
  const trap = (i: number): HoneypotMintFn | undefined => honeypot ? honeypotFor(m, task.messageIds[i], task.sentAt) : undefined
  // The bounds, before a single token is minted.
  const count = doc.links.length
  if (count > maxLinks) throw ClicktrailError.detailed('CT_ERR_REWRITE_TOO_MANY_LINKS', `${count} links, at most ${maxLinks}`)
  if (count * n > maxTokens) throw ClicktrailError.detailed('CT_ERR_REWRITE_TOO_MANY_TOKENS', `${count} links × ${n} recipients = ${count * n}, at most ${maxTokens}; send fewer recipients per request`)
  const out = new JsonPieces(maxOutputBytes)
  out.push(`{"route_id":${JSON.stringify(task.answer.route_id)},"tracking":${JSON.stringify(task.answer.tracking)},"messages":[`)
  const tail = Buffer.from(task.text === undefined ? '}' : `,"text":${JSON.stringify(task.text)}}`)
  // The link table does not depend on the recipient (only the tokens do): read from the first.
  const first = renderHtml(doc, mintFor(m, task.messageIds[0], task.sentAt), trap(0))
  // Tracking off: every message is the input, serialised once.
  const fixed = task.track ? undefined : Buffer.from(JSON.stringify(task.html))
  for (let i = 0; i < n; i++) {
    const start = out.bytes
    out.push(`${i === 0 ? '' : ','}{"recipient":${JSON.stringify(task.recipients[i])},"message_id":${JSON.stringify(task.messageIds[i])},"html":`)
    if (fixed !== undefined) out.pushBytes(fixed)
    else out.push(JSON.stringify((i === 0 ? first : renderHtml(doc, mintFor(m, task.messageIds[i], task.sentAt), trap(i))).html))
    out.pushBytes(tail)
    if (i === 0 && n > 1) {
      // Every copy is as long as the first but for its recipient (tokens of one document
      // have the same lengths): refuse now rather than after rendering them all.
      out.reserve((n - 1) * (out.bytes - start - Buffer.byteLength(JSON.stringify(task.recipients[0]))))
    }
  }
  out.push(`],"links":${JSON.stringify(first.links.map(l => linkView(l, task.track)))}}`)
  return { body: out.finish(), links: first.links }
}

async function mimeTask (task: MimeTask): Promise<MimeOutput> {
  const m = minting(task.tracking)
  const mint = mintFor(m, task.messageId, task.sentAt)
  const links: LinkRecord[] = []
  let trap = task.honeypot === true ? honeypotFor(m, task.messageId, task.sentAt) : undefined
  // SPEC §4: the per-email override beats the route setting; inbound routes never track.
  const effective = (override: boolean | undefined): boolean => task.overridable && override !== undefined ? override : task.trackClicks
  const raw = Buffer.from(task.raw.buffer, task.raw.byteOffset, task.raw.byteLength)
  // Loaded on first use: mailsplit, libmime and iconv-lite are a good part of a worker's
  // start-up and most pools only ever see HTML.
  const { rewriteMime } = await import('../rewrite/mime.js')
  const r = await rewriteMime(raw, async (html, part) => {
    if (!effective(part.override)) return html
    const doc = await scanHtml(html, { isTrackingHost: m.isTrackingHost, maxUrlBytes: m.config.maxUrlBytes, firstIndex: links.length, honeypot: trap !== undefined })
    const total = links.length + doc.links.length
    if (task.maxLinks !== undefined && total > task.maxLinks) throw ClicktrailError.detailed('CT_ERR_REWRITE_TOO_MANY_LINKS', `${total} links, at most ${task.maxLinks}`)
    const res = renderHtml(doc, mint, trap)
    if (res.honeypot) trap = undefined // one per message
    links.push(...res.links)
    return res.html
  })
  return { raw: own(r.raw), override: r.override, overrideHeader: r.overrideHeader, tracked: effective(r.override), links, htmlParts: r.htmlParts, skippedParts: r.skippedParts }
}

async function settle<T> (f: () => Promise<T>): Promise<JobResult<T>> {
  try {
    return { ok: true, value: await f() }
  } catch (err) {
    return { ok: false, error: toFailure(err) }
  }
}

function toFailure (err: unknown): TaskFailure {
  if (err instanceof ClicktrailError) return { code: err.code, message: err.message }
  // Not one of ours: a bug, reported with its message so it is not swallowed.
  return { code: 'CT_ERR_POOL_TASK_FAILED', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) }
}

function failure (code: ErrorCode, message: string): JobResult<never> {
  return { ok: false, error: { code, message } }
}
