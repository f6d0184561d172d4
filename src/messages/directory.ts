import type { ClickHouseClient } from '@clickhouse/client'
import { LRUCache } from 'lru-cache'
import { findMessages } from '../store/messages.js'

/** What promotion needs of a rewritten message. */
export interface MessageInfo {
  /** The route it was sent on (clicks carry it: the analytics `route` dimension). */
  routeId: string
  recipient: string
  subject: string
  tag: string
  metadata: Record<string, string>
  linkCount: number
  links: Map<number, { url: string, anchorText: string }>
}

/**
 * A message is (project, message id): message ids travel in tokens anyone can read, so
 * another tenant can reuse one, and nothing keyed by the id alone may be shared.
 */
export function messageKey (sid: string, messageId: string): string {
  return `${sid}/${messageId}`
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const SID = /^[a-z0-9]{1,32}$/

/**
 * Message enrichment for promoted clicks, read from `messages` and `message_links` in one
 * query per batch for the messages not in the (bounded) cache. A message that was never
 * rewritten by clicktrail (a token minted by hand) is cached as unknown for a minute.
 */
export class MessageDirectory {
  readonly #cache: LRUCache<string, MessageInfo | false>
  constructor (readonly client: ClickHouseClient, max = 50_000) {
    this.#cache = new LRUCache({ max })
  }

  /** The messages of `refs`, by messageKey; undefined for a message clicktrail did not rewrite. */
  async lookup (refs: Iterable<{ sid: string, messageId: string }>): Promise<Map<string, MessageInfo | undefined>> {
    const out = new Map<string, MessageInfo | undefined>()
    const missing = new Map<string, { sid: string, messageId: string }>()
    for (const r of refs) {
      const k = messageKey(r.sid, r.messageId)
      if (out.has(k) || missing.has(k)) continue
      const hit = this.#cache.get(k)
      if (hit === undefined) {
        if (UUID.test(r.messageId) && SID.test(r.sid)) missing.set(k, r)
        else out.set(k, undefined)
      } else {
        out.set(k, hit === false ? undefined : hit)
      }
    }
    if (missing.size > 0) {
      const sids = [...new Set([...missing.values()].map(r => r.sid))]
      const ids = [...new Set([...missing.values()].map(r => r.messageId))]
      // (sid, message_id) is the table's key; the pairs are matched exactly below.
      const { messages: msgs, links } = await findMessages(this.client, sids, ids)
      const found = new Map<string, MessageInfo>()
      for (const m of msgs) {
        const k = messageKey(m.sid, m.id)
        if (missing.has(k)) found.set(k, { routeId: m.route_id, recipient: m.recipient, subject: m.subject, tag: m.tag, metadata: m.metadata, linkCount: Number(m.link_count), links: new Map() })
      }
      for (const l of links) found.get(messageKey(l.sid, l.id))?.links.set(Number(l.link_index), { url: l.url, anchorText: l.anchor_text })
      for (const k of missing.keys()) {
        const info = found.get(k)
        if (info === undefined) this.#cache.set(k, false, { ttl: 60_000 }) // may be recorded later
        else this.#cache.set(k, info)
        out.set(k, info)
      }
    }
    return out
  }

  /** Rewriting just recorded this message: cache it without a query. */
  remember (sid: string, messageId: string, info: MessageInfo): void {
    this.#cache.set(messageKey(sid, messageId), info)
  }
}
