import { Packr } from 'msgpackr'
import { classify, clientFields, type ClassifyInput } from '../classify/index.js'
import type { Observation } from '../records.js'
import { messageKey } from '../messages/directory.js'
import type { Classified, ClassifyBatch, ClassifyItem } from './types.js'

/**
 * A classification batch as it crosses to a worker thread: every observation once (the
 * ones to judge and the rest of their messages), the indices to judge, and link counts.
 * Sending each message's context once, instead of once per observation, keeps the
 * structured clone proportional to the batch.
 */
export interface ClassifyTask {
  kind: 'classify'
  observations: ClassifyInput[]
  judge: number[]
  linkCounts: Record<string, number>
}

/** Builds the task from the promoter's items. */
export function toClassifyTask (items: ClassifyItem[]): ClassifyTask {
  const index = new Map<Observation, number>()
  const observations: ClassifyInput[] = []
  const add = (o: Observation): number => {
    let i = index.get(o)
    if (i === undefined) {
      i = observations.length
      index.set(o, i)
      observations.push(pick(o))
    }
    return i
  }
  const judge: number[] = []
  const linkCounts: Record<string, number> = {}
  // Items of one message share their context: add it once per message, not once per item
  // (a hot message with thousands of observations made this quadratic on the main thread).
  const seen = new Set<string>()
  for (const item of items) {
    judge.push(add(item.obs))
    const k = messageKey(item.obs.sid, item.obs.messageId)
    if (!seen.has(k)) {
      seen.add(k)
      for (const c of item.context) add(c)
    }
    if (item.linkCount !== undefined) linkCounts[k] = item.linkCount
  }
  return { kind: 'classify', observations, judge, linkCounts }
}

function pick (o: Observation): ClassifyInput {
  return {
    ts: o.ts, sentAt: o.sentAt, ip: o.ip, userAgent: o.userAgent, accept: o.accept, acceptLanguage: o.acceptLanguage,
    secFetchSite: o.secFetchSite, secFetchMode: o.secFetchMode, secFetchDest: o.secFetchDest, secFetchUser: o.secFetchUser,
    // The message as (project, message id): the classifier compares it as an opaque key, so
    // another project's observations under the same message id are never its siblings.
    secChUa: o.secChUa, secPurpose: o.secPurpose, purpose: o.purpose, xMoz: o.xMoz, messageId: messageKey(o.sid, o.messageId), linkIndex: o.linkIndex,
    method: o.method
  }
}

/** Runs a task (in a worker, or in-process): each judged observation against its message's observations. */
export function runClassifyTask (task: ClassifyTask): Classified[] {
  const byMessage = new Map<string, ClassifyInput[]>()
  for (const o of task.observations) {
    const list = byMessage.get(o.messageId)
    if (list === undefined) byMessage.set(o.messageId, [o])
    else list.push(o)
  }
  return task.judge.map(i => {
    const o = task.observations[i]
    const verdict = classify(o, { siblings: byMessage.get(o.messageId), linkCount: task.linkCounts[o.messageId] })
    return { verdict, client: clientFields(o.userAgent) }
  })
}

/** In-process classification (tests, or when no pool is configured). */
export const classifyInProcess: ClassifyBatch = async items => runClassifyTask(toClassifyTask(items))

// Batches cross the thread boundary as one msgpack buffer, transferred rather than cloned
// (STYLE.md): measured, a structured clone of a 1,000-observation task cost the main thread
// more than classifying it in place. Records mode: every observation has the same keys.
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
