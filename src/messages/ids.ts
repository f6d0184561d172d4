import type { ClickHouseClient } from '@clickhouse/client'
import { LRUCache } from 'lru-cache'
import { counter, type Metric } from '../metrics.js'
import { messageOwner } from '../store/messages.js'

/**
 * Which project owns a message id. Message ids are readable from any tracked URL (the
 * token is signed, not encrypted), so `/v1/rewrite` with a caller-chosen `message_id`
 * must not let team B record a message under team A's id: B's subject, recipient and
 * anchor text would then reach A's webhooks and A's clicks would be judged against B's.
 *
 * The owner of an id is the project that recorded it first. Ids recently claimed or
 * recorded on this node are held in a bounded LRU (id → owner), which also covers the
 * second or so before the batched writer lands the `messages` row; any other id is looked
 * up in `messages` with a parameterised query (the earliest row's sid wins, so every node
 * that reads the table reaches the same answer). A claim is a promise stored before the
 * query starts: concurrent claims of one id on this node all wait for the first one's
 * answer, so two projects racing for a new id cannot both win here. Across nodes, two
 * claims within the same write delay can both pass (ClickHouse has no transactions);
 * the earliest `created_at` then owns the id for every later claim.
 */
interface Entry {
  /** The owning sid, once known (a lookup may still be running). */
  owner: Promise<string>
  /** A message was recorded under the id: the entry is never released. */
  recorded: boolean
}

export class MessageIds {
  metrics (): Metric[] {
    return [
      counter('clicktrail_message_id_lookups_total', 'message-id ownership lookups in ClickHouse (ids not in the cache)', this.lookups),
      counter('clicktrail_message_id_refused_total', 'rewrites refused because another project owns the message id (409)', this.refused)
    ]
  }

  readonly #owners: LRUCache<string, Entry>
  readonly #client: ClickHouseClient
  readonly #settings: Record<string, string | number>
  /** Ownership queries sent to ClickHouse (LRU misses). */
  lookups = 0
  /** Claims refused because another project owns the id. */
  refused = 0

  constructor (client: ClickHouseClient, options: { max?: number, settings?: Record<string, string | number> } = {}) {
    this.#client = client
    this.#settings = options.settings ?? {}
    this.#owners = new LRUCache({ max: options.max ?? 100_000 })
  }

  /**
   * Resolves true when `sid` may record a message under `id`: the id is new, or already
   * `sid`'s (a retried send). False when another project owns it. A failed lookup rejects
   * (and is not remembered).
   */
  async claim (id: string, sid: string): Promise<boolean> {
    const key = id.toLowerCase()
    let entry = this.#owners.get(key)
    if (entry === undefined) {
      const e: Entry = { owner: this.#lookup(key, sid), recorded: false }
      entry = e
      this.#owners.set(key, e)
      e.owner.catch(() => { if (this.#owners.get(key) === e) this.#owners.delete(key) })
    }
    const ok = (await entry.owner) === sid
    if (!ok) this.refused++
    return ok
  }

  /** A message was recorded under `id` for `sid` (ids the engine made itself included). */
  remember (id: string, sid: string): void {
    const key = id.toLowerCase()
    const e = this.#owners.get(key)
    if (e === undefined) this.#owners.set(key, { owner: Promise.resolve(sid), recorded: true })
    else e.recorded = true
  }

  /**
   * Forgets a claim whose message was never recorded (the request failed after claiming),
   * so that the id does not stay reserved for nothing. A claim by another project, or one
   * backed by a recorded message, is left alone.
   */
  release (id: string, sid: string): void {
    const key = id.toLowerCase()
    const e = this.#owners.get(key)
    if (e === undefined || e.recorded) return
    e.owner.then(owner => { if (owner === sid && !e.recorded && this.#owners.get(key) === e) this.#owners.delete(key) }, () => {})
  }

  async #lookup (id: string, sid: string): Promise<string> {
    this.lookups++
    return await messageOwner(this.#client, id, this.#settings) ?? sid
  }
}
