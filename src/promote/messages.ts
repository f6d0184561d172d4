import type { ClickHouseClient } from '@clickhouse/client'
import { LRUCache } from 'lru-cache'

/** What promotion needs of a rewritten message. */
export interface MessageInfo {
  recipient: string
  subject: string
  tag: string
  metadata: Record<string, string>
  linkCount: number
  links: Map<number, { url: string, anchorText: string }>
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

/**
 * Message enrichment for promoted clicks, read from `messages` and `message_links` in one
 * query per batch for the ids not in the (bounded) cache. A message that was never
 * rewritten by clicktrail (a token minted by hand) is cached as unknown.
 */
export class MessageDirectory {
  readonly #cache: LRUCache<string, MessageInfo | false>
  constructor (readonly client: ClickHouseClient, max = 50_000) {
    this.#cache = new LRUCache({ max })
  }

  async lookup (ids: Iterable<string>): Promise<Map<string, MessageInfo | undefined>> {
    const out = new Map<string, MessageInfo | undefined>()
    const missing: string[] = []
    for (const id of ids) {
      if (out.has(id)) continue
      const hit = this.#cache.get(id)
      if (hit === undefined) missing.push(id)
      out.set(id, hit === false ? undefined : hit)
    }
    const safe = missing.filter(id => UUID.test(id))
    if (safe.length > 0) {
      const list = safe.map(id => `'${id}'`).join(',')
      const msgs = await (await this.client.query({
        query: `SELECT toString(message_id) AS id, recipient, subject, tag, metadata, link_count FROM messages WHERE message_id IN (${list})`,
        format: 'JSONEachRow'
      })).json<{ id: string, recipient: string, subject: string, tag: string, metadata: Record<string, string>, link_count: number }>()
      const links = await (await this.client.query({
        query: `SELECT toString(message_id) AS id, link_index, url, anchor_text FROM message_links WHERE message_id IN (${list})`,
        format: 'JSONEachRow'
      })).json<{ id: string, link_index: number, url: string, anchor_text: string }>()
      const found = new Map<string, MessageInfo>()
      for (const m of msgs) found.set(m.id, { recipient: m.recipient, subject: m.subject, tag: m.tag, metadata: m.metadata, linkCount: Number(m.link_count), links: new Map() })
      for (const l of links) found.get(l.id)?.links.set(Number(l.link_index), { url: l.url, anchorText: l.anchor_text })
      for (const id of safe) {
        const info = found.get(id)
        if (info === undefined) this.#cache.set(id, false, { ttl: 60_000 }) // may be recorded later
        else this.#cache.set(id, info)
        out.set(id, info)
      }
    }
    return out
  }

  /** Rewriting just recorded this message: cache it without a query. */
  remember (id: string, info: MessageInfo): void {
    this.#cache.set(id, info)
  }
}
