import { isSecureOrigin, type ClassifyInput, type ClassifyTask } from '../classify/index.js'
import type { Observation } from '../records.js'
import { messageKey } from '../messages/directory.js'
import type { ClassifyItem } from './types.js'

/**
 * Promotion's items as one classification task (classify/batch.ts): every observation once,
 * each message's context once (not once per item: a hot message with thousands of
 * observations made that quadratic on the main thread), link counts by message, and the
 * recipients each judged address reached (`addressRecipients`).
 */
export function toClassifyTask (items: ClassifyItem[], addressRecipients: (ip: string) => number = () => 0): ClassifyTask {
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
  const reach: Record<string, number> = {}
  const seen = new Set<string>()
  for (const item of items) {
    judge.push(add(item.obs))
    const k = messageKey(item.obs.sid, item.obs.messageId)
    if (!seen.has(k)) {
      seen.add(k)
      for (const c of item.context) add(c)
    }
    if (item.linkCount !== undefined) linkCounts[k] = item.linkCount
    if (!(item.obs.ip in reach)) reach[item.obs.ip] = addressRecipients(item.obs.ip)
  }
  return { kind: 'classify', observations, judge, linkCounts, addressRecipients: reach }
}

function pick (o: Observation): ClassifyInput {
  return {
    ts: o.ts,
    sentAt: o.sentAt,
    ip: o.ip,
    userAgent: o.userAgent,
    accept: o.accept,
    acceptLanguage: o.acceptLanguage,
    secFetchSite: o.secFetchSite,
    secFetchMode: o.secFetchMode,
    secFetchDest: o.secFetchDest,
    secFetchUser: o.secFetchUser,
    // The message as (project, message id): the classifier compares it as an opaque key, so
    // another project's observations under the same message id are never its siblings.
    secChUa: o.secChUa,
    secPurpose: o.secPurpose,
    purpose: o.purpose,
    xMoz: o.xMoz,
    messageId: messageKey(o.sid, o.messageId),
    linkIndex: o.linkIndex,
    method: o.method,
    // Browsers send Fetch Metadata and client hints only to secure origins: the scheme the
    // redirect path recorded (and a localhost host) says whether their absence means anything.
    secure: isSecureOrigin(o.scheme, o.host),
    xNativeHost: o.xNativeHost,
    honeypot: o.honeypot === true
  }
}
