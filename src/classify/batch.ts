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
// (STYLE.md): measured, a structured clone of a 1,000-observation task cost the main thread
// more than classifying it in place (bench/micro/classify-transfer.mjs). Records mode: every
// observation has the same keys.
const packr = new Packr({ useRecords: true, maxSharedStructures: 0 })

/** The wire form of a classify task: a msgpack buffer to transfer. */
export interface PackedClassifyTask {
  kind: 'classify'
  payload: Uint8Array
}

export function packClassifyTask (task: ClassifyTask): PackedClassifyTask {
  return { kind: 'classify', payload: packr.pack(task) }
}

/** Worker side: unpack, classify, pack the verdicts. */
export function runPackedClassifyTask (task: PackedClassifyTask): Uint8Array {
  const t = packr.unpack(task.payload) as ClassifyTask
  // A copy with its own ArrayBuffer, so that it can be transferred (pack reuses its buffer).
  return new Uint8Array(packr.pack(runClassifyTask(t)))
}

export function unpackClassified (payload: Uint8Array): Classified[] {
  return packr.unpack(payload) as Classified[]
}
