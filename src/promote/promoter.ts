import { createHash } from 'node:crypto'
import { readIntentFile, removeIntentFile, writeIntentFile } from '../store/intent-file.js'
import { LRUCache } from 'lru-cache'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'
import { Backoff } from '../backoff.js'
import type { ClickRow, ClickSink, InsertedSink, Observation } from '../records.js'
import { errorText } from '../store/quarantine.js'
import type { PromotionStore } from '../store/promotion.js'
import { messageKey, type MessageDirectory } from '../messages/directory.js'
import type { ClassifyBatch } from './types.js'
import { counter, gauge, type Metric } from '../metrics.js'
import { isLinkPreviewAgent, isSharedAddress } from '../classify/index.js'
import { toClassifyTask } from './classify-task.js'

export interface PromoterOptions {
  /** Storage, through its port (unit tests give a fake). */
  store: PromotionStore
  log: Logger
  nodeId: string
  messages: MessageDirectory
  classify: ClassifyBatch
  /** How long an observation waits for the rest of its message before its verdict is final. */
  windowMs: number
  /** Where the in-flight promotion is kept until its clicks are stored (exact-once replay). */
  intentPath: string
  /** Where promoted clicks go once stored (webhooks). */
  clicks?: ClickSink
  retryMinMs?: number
  retryMaxMs?: number
  tickMs?: number
  /** first_click memory: messages whose first counting click is known (a miss asks ClickHouse). */
  firstClickCacheMax?: number
  /**
   * Address → messages reached, shared by the promoters of one node's partitions
   * (promote/partitions.ts), so an address's reach spans every message the node promotes.
   */
  addresses?: Map<string, Map<string, number>>
}

export class PromoterStats {
  received = 0
  duplicates = 0
  promoted = 0
  human = 0
  machine = 0
  batches = 0
  failures = 0
  /** Observations of blocked links: stored, marked, never promoted. */
  blocked = 0
  /** Fetches of honeypot links: stored, context for their message's verdicts, never promoted. */
  honeypot = 0
  /** Click rows ClickHouse refused, quarantined (no webhook is sent for them). */
  quarantined = 0
  lastLagMs = 0
}

interface Intent { token: string, watermark: number, rows: ClickRow[] }

// Observations that arrive this late after the window closed are still promoted together
// with their message, as long as they are in ClickHouse: the cut-off waits for ingest.
const CONTEXT_KEEP_FACTOR = 2
/**
 * Clicks per promotion batch at most. Building a batch (its classify task, rows, intent file)
 * is one task of the main thread: 5,000 held it for 150–250 ms under a profiler
 * (bench:cost with BENCH_CPU_PROF); 2,000 keeps it near the 50 ms of a stall, and the
 * per-batch statements (first clicks, messages, the clicks insert) stay amortised.
 */
const MAX_BATCH = 2000
/** The route of a click whose message clicktrail did not rewrite (a token minted by hand). */
const ZERO_UUID = '00000000-0000-0000-0000-000000000000'
/** Addresses whose reach is tracked at once at most (oldest dropped first): bounded memory under a flood of addresses. */
const MAX_ADDRESSES = 200_000

/**
 * Promotion: observations become clicks with a final verdict.
 *
 * Observations come in once ClickHouse has them (from the ingest pipeline) and wait in
 * memory for `windowMs`, so that burst and shadow-pair signals can see the rest of the
 * message. Each tick promotes every observation older than the cut-off
 * (now − window, and never past the oldest observation still in the ingest queue):
 * classify the batch in the pool with each observation's message context, enrich with the
 * message and link, decide first_click, store the rows in `clicks`, move the watermark,
 * and hand the rows to webhooks.
 *
 * Exactly once: every observation of this node up to the watermark (kept in
 * `promotion_state`) has been promoted. Before the clicks insert, the rows, their dedup
 * token and the new watermark go to an intent file; after a crash the intent is inserted
 * again with the same token (ClickHouse drops the duplicate) and the watermark taken from
 * it, and observations after the watermark are read back from click_observations.
 */
export class Promoter implements InsertedSink {
  metrics (): Metric[] {
    const ps = this.stats
    return [
      counter('clicktrail_promoted_total', 'observations promoted to clicks', ps.promoted),
      counter('clicktrail_promoted_human_total', 'promoted clicks that count for metrics', ps.human),
      counter('clicktrail_promoted_machine_total', 'promoted clicks classified as machine, preview or scanner', ps.machine),
      counter('clicktrail_promotion_failures_total', 'promotion batches that failed and will be retried', ps.failures),
      counter('clicktrail_promotion_quarantined_total', 'click rows ClickHouse refused, moved to the quarantine (no webhook sent)', ps.quarantined),
      counter('clicktrail_promotion_blocked_total', 'observations of blocked links, kept and never promoted', ps.blocked),
      counter('clicktrail_promotion_honeypot_total', 'fetches of honeypot links: scanner evidence for their message, never promoted to clicks', ps.honeypot),
      gauge('clicktrail_promotion_pending', 'observations waiting for their promotion window', this.pending),
      gauge('clicktrail_promotion_lag_seconds', 'age of the oldest observation in the last promoted batch', ps.lastLagMs / 1000)
    ]
  }

  readonly stats = new PromoterStats()
  readonly #o: PromoterOptions
  #pending: Observation[] = []
  readonly #known = new Set<string>()
  readonly #byMessage = new Map<string, Observation[]>()
  /** Address → the messages (keys) it clicked within the kept context, with observation counts. */
  readonly #byAddress: Map<string, Map<string, number>>
  readonly #firstDone: LRUCache<string, true>
  #watermark = 0
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  /** Work that must not overlap a batch (late evidence moving first_click): no tick starts while it runs. */
  #exclusive: Promise<void> | undefined
  /** A batch whose clicks are not stored yet (an intent left by a crash, or a failed store): stored before anything else. */
  #unstored: Intent | undefined
  readonly #backoff: Backoff
  #lastForget = 0
  /** Ingest's low watermark (see pendingSince). */
  #pendingSince: number | undefined
  /** When the earliest pending observation's window closes (ms); Infinity when none. */
  #nextDue = Infinity

  constructor (options: PromoterOptions) {
    this.#o = options
    this.#byAddress = options.addresses ?? new Map()
    this.#firstDone = new LRUCache({ max: options.firstClickCacheMax ?? 200_000 })
    this.#backoff = new Backoff(options.retryMinMs ?? 200, options.retryMaxMs ?? 30_000)
  }

  get pending (): number { return this.#pending.length }
  get watermark (): number { return this.#watermark }

  async start (): Promise<void> {
    const intent = readIntentFile<Intent>(this.#o.intentPath, isIntent, this.#o.log)
    this.#watermark = await this.#o.store.readWatermark(this.#o.nodeId)
    if (intent !== undefined) {
      // Their webhooks may not have been queued: #store queues them again (event ids are
      // stable, the outbox de-duplicates). Start-up never fails on it: if ClickHouse does not
      // take it now, the first tick tries again (with back-off), before anything else.
      this.#unstored = intent
      // Its observations are promoted (decided), stored or not yet: only context from here on.
      if (intent.watermark > this.#watermark) this.#watermark = intent.watermark
      try {
        await this.#storeUnstored()
        this.#o.log.info({ clicks: intent.rows.length }, 'promotion: re-stored the clicks of an interrupted batch')
      } catch (err) {
        this.#noteFailure(err)
      }
    }
    if (this.#watermark > 0) await this.#reload()
    else this.#watermark = Date.now() - this.#o.windowMs * CONTEXT_KEEP_FACTOR
    // A short tick that costs nothing until the earliest pending observation is due.
    this.#timer = setInterval(() => { if (this.#unstored !== undefined || Date.now() >= this.#nextDue) this.#tick() }, this.#o.tickMs ?? 20)
    this.#timer.unref()
  }

  /** Ingest's low watermark: no observation captured before it is still on its way (promotion waits for it). */
  pendingSince (ts: number | undefined): void { this.#pendingSince = ts }

  /** Observations ClickHouse now has, in any order, possibly seen before. */
  inserted (observations: Observation[]): void {
    for (const o of observations) {
      if (o.blocked === true) {
        // The operator's kill switch stopped it: kept in click_observations, never a click.
        this.stats.blocked++
        continue
      }
      if (o.id === '' || o.expired || this.#known.has(o.id)) {
        this.stats.duplicates++
        continue
      }
      this.stats.received++
      this.#known.add(o.id)
      if (o.honeypot === true) {
        // No person reaches a honeypot link (rewrite/honeypot.ts): never a click, no webhook;
        // it stays in the message's context, where its fetcher's other clicks are judged.
        this.stats.honeypot++
        this.#context(o)
        continue
      }
      if (o.ts <= this.#watermark) {
        // Promoted before a restart: only context now.
        this.#context(o)
        continue
      }
      this.#pending.push(o)
      if (o.ts + this.#o.windowMs < this.#nextDue) this.#nextDue = o.ts + this.#o.windowMs
      this.#context(o)
    }
  }

  #context (o: Observation): void {
    const k = messageKey(o.sid, o.messageId)
    let list = this.#byMessage.get(k)
    if (list === undefined) {
      list = []
      this.#byMessage.set(k, list)
    }
    list.push(o)
    // Which messages (recipients) each address reached within the kept context, for the
    // address_many_recipients signal; link previews come from the recipient's own address
    // (iMessage) and are not counted, nor are addresses many people share by design (private,
    // loopback, carrier-grade NAT, relay egress).
    if (isLinkPreviewAgent(o.userAgent) || isSharedAddress(o.ip)) return
    let reached = this.#byAddress.get(o.ip)
    if (reached === undefined) {
      if (this.#byAddress.size >= MAX_ADDRESSES) this.#byAddress.delete(this.#byAddress.keys().next().value as string)
      reached = new Map()
      this.#byAddress.set(o.ip, reached)
    }
    reached.set(k, (reached.get(k) ?? 0) + 1)
  }

  #uncount (o: Observation, k: string): void {
    const reached = this.#byAddress.get(o.ip)
    const n = reached?.get(k)
    if (reached === undefined || n === undefined) return
    if (n > 1) reached.set(k, n - 1)
    else reached.delete(k)
    if (reached.size === 0) this.#byAddress.delete(o.ip)
  }

  /** Reads back what a crash left unpromoted (and a window of context before it). */
  async #reload (): Promise<void> {
    const from = this.#watermark - this.#o.windowMs * CONTEXT_KEEP_FACTOR
    const obs = await this.#o.store.observationsSince(this.#o.nodeId, from)
    this.inserted(obs)
    if (obs.length > 0) this.#o.log.info({ observations: obs.length, pending: this.#pending.length }, 'promotion: resumed after a restart')
  }

  #tick (): void {
    if (this.#running !== undefined || this.#exclusive !== undefined || !this.#backoff.ready()) return
    this.#running = this.promoteDue().then(() => {
      if (this.#backoff.failures > 0) this.#o.log.info({ afterFailures: this.#backoff.failures }, 'promotion recovered')
      this.#backoff.reset()
    }, (err: unknown) => { this.#noteFailure(err) }).finally(() => { this.#running = undefined })
  }

  #noteFailure (err: unknown): void {
    this.stats.failures++
    const wait = this.#backoff.fail()
    limited(this.#o.log).warn('promotion.failed', { err: errorText(err), retryInMs: Math.round(wait), failures: this.#backoff.failures }, 'promotion failed; will retry')
  }

  /** Promotes everything due now; returns when its clicks are stored. */
  async promoteDue (now = Date.now()): Promise<number> {
    if (this.#unstored !== undefined) await this.#storeUnstored()
    let cutoff = now - this.#o.windowMs
    const oldest = this.#pendingSince
    if (oldest !== undefined && oldest - 1 < cutoff) cutoff = oldest - 1
    let due: Observation[] = []
    for (const o of this.#pending) if (o.ts <= cutoff) due.push(o)
    // Bounded batches: a backlog (after an outage, or at peak load) is worked off over
    // several ticks, so that no single batch holds the event loop for long.
    if (due.length > MAX_BATCH) {
      due.sort((a, b) => a.ts - b.ts)
      due = due.slice(0, MAX_BATCH)
    }
    if (due.length === 0) {
      this.#forget(now)
      return 0
    }
    due.sort((a, b) => a.ts - b.ts)
    const messages = await this.#o.messages.lookup(due)
    const items = due.map(o => {
      const k = messageKey(o.sid, o.messageId)
      return { obs: o, context: this.#byMessage.get(k) ?? [o], linkCount: messages.get(k)?.linkCount }
    })
    // The pool classifies while the first-click state is read from ClickHouse.
    const task = toClassifyTask(items, ip => this.#byAddress.get(ip)?.size ?? 0)
    const [classified] = await Promise.all([this.#o.classify(task), this.#loadFirstClicks(due)])
    const rows: ClickRow[] = []
    // first_click is remembered only once the batch is decided (its intent written): a batch
    // that fails before that is promoted again, and must find the same first clicks.
    const firstNow = new Set<string>()
    for (let i = 0; i < due.length; i++) {
      const o = due[i]
      const { verdict, client } = classified[i]
      const k = messageKey(o.sid, o.messageId)
      const m = messages.get(k)
      const link = m?.links.get(o.linkIndex)
      let first = false
      if (verdict.counts_for_metrics && !this.#firstDone.has(k) && !firstNow.has(k)) {
        first = true
        firstNow.add(k)
      }
      rows.push({
        obs_id: o.id as string,
        ts: o.ts,
        sid: o.sid,
        message_id: o.messageId,
        route_id: m?.routeId ?? ZERO_UUID,
        link_index: o.linkIndex,
        sent_at: o.sentAt,
        recipient: m?.recipient ?? '',
        subject: m?.subject ?? '',
        tag: m?.tag ?? '',
        metadata: m?.metadata ?? {},
        destination_url: o.url,
        anchor_text: link?.anchorText ?? '',
        first_click: first,
        ...client,
        user_agent: o.userAgent,
        ip: o.ip,
        method: o.method,
        bot: verdict,
        retention_days: o.retentionDays
      })
    }
    // Observations may have come in while this batch was classified: keep everything not
    // in it, and let the watermark (everything up to it is promoted once this batch is
    // stored) stop short of the earliest of them.
    const promoted = new Set(due)
    const keep = this.#pending.filter(o => !promoted.has(o))
    let watermark = cutoff
    for (const o of keep) if (o.ts - 1 < watermark) watermark = o.ts - 1
    if (watermark < this.#watermark) watermark = this.#watermark
    const token = 'ct-clicks-' + createHash('sha256').update(rows.map(r => r.obs_id).join(',')).digest('hex').slice(0, 32)
    const intent: Intent = { token, watermark, rows }
    await writeIntentFile(this.#o.intentPath, intent)
    // From here the batch is decided: if storing fails, it is stored (same rows, same token)
    // before anything else, however long ClickHouse takes to come back.
    for (const k of firstNow) this.#firstDone.set(k, true)
    this.#pending = this.#pending.filter(o => !promoted.has(o))
    this.#nextDue = Infinity
    for (const o of this.#pending) if (o.ts + this.#o.windowMs < this.#nextDue) this.#nextDue = o.ts + this.#o.windowMs
    this.#unstored = intent
    await this.#storeUnstored()
    this.stats.lastLagMs = now - due[0].ts
    this.#forget(now)
    return rows.length
  }

  /**
   * Runs `fn` with no promotion batch in flight, and starts none until it is done: late
   * evidence (late.ts) moves first_click between stored clicks, which a batch deciding
   * first_click at the same time would contradict.
   */
  async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    while (this.#running !== undefined || this.#exclusive !== undefined) await (this.#exclusive ?? this.#running)
    let release = (): void => {}
    this.#exclusive = new Promise<void>(resolve => { release = resolve })
    try {
      return await fn()
    } finally {
      this.#exclusive = undefined
      release()
    }
  }

  /** A reclassification left the message without a counting click: its next counting click is its first. */
  forgetFirstClick (sid: string, messageId: string): void {
    this.#firstDone.delete(messageKey(sid, messageId))
  }

  /** first_click must hold across restarts: for messages not in memory, ask ClickHouse. */
  async #loadFirstClicks (due: Observation[]): Promise<void> {
    const unknown = new Map<string, Observation>()
    for (const o of due) {
      const k = messageKey(o.sid, o.messageId)
      if (!this.#firstDone.has(k)) unknown.set(k, o)
    }
    if (unknown.size === 0) return
    const clicked = await this.#o.store.firstClicked([...unknown.values()].map(o => ({ sid: o.sid, messageId: o.messageId })))
    for (const r of clicked) this.#firstDone.set(messageKey(r.sid, r.messageId), true)
  }

  async #storeUnstored (): Promise<void> {
    const intent = this.#unstored
    if (intent === undefined) return
    await this.#store(intent)
    this.#unstored = undefined
  }

  async #store (intent: Intent): Promise<void> {
    if (intent.rows.length > 0) {
      // A row ClickHouse refuses (text it cannot take, say) is quarantined; the batch's
      // other clicks are stored and only they are handed to webhooks.
      const { refused, duplicates = [] } = await this.#o.store.storeClicks(intent.rows, intent.token)
      this.stats.quarantined += refused.length
      // Rows a previous owner of the partition had stored (promote/partitions.ts) are neither counted nor sent again.
      const dup = new Set(duplicates)
      this.stats.promoted += intent.rows.length - dup.size
      this.stats.batches++
      for (let i = 0; i < intent.rows.length; i++) {
        if (dup.has(i)) continue
        if (intent.rows[i].bot.counts_for_metrics) this.stats.human++
        else this.stats.machine++
      }
      const skip = new Set([...refused, ...dup])
      // Webhooks as soon as the clicks are stored (in slices: awaited), then the watermark.
      await this.#o.clicks?.clicks(skip.size === 0 ? intent.rows : intent.rows.filter((_r, i) => !skip.has(i)))
    }
    await this.#o.store.saveWatermark(this.#o.nodeId, intent.watermark, `${intent.token}-state`)
    this.#watermark = intent.watermark
    await removeIntentFile(this.#o.intentPath)
  }

  /** Drops context older than two windows behind the watermark (at most once a second: it walks every message). */
  #forget (now: number): void {
    if (now - this.#lastForget < 1000) return
    this.#lastForget = now
    const horizon = Math.min(this.#watermark, now) - this.#o.windowMs * CONTEXT_KEEP_FACTOR
    for (const [k, list] of this.#byMessage) {
      const kept = list.filter(o => o.ts > horizon)
      if (kept.length === list.length) continue
      for (const o of list) {
        if (o.ts > horizon) continue
        this.#known.delete(o.id)
        this.#uncount(o, k)
      }
      if (kept.length === 0) this.#byMessage.delete(k)
      else this.#byMessage.set(k, kept)
    }
  }

  /** Promotes what is due (ignoring the window when `flush`) and stops the timer. */
  async stop (): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    await this.#running
  }
}

/** An intent as written by promoteDue; anything else (a damaged or foreign file) is set aside. */
function isIntent (v: Intent): boolean {
  return typeof v === 'object' && v !== null && typeof v.token === 'string' && Number.isFinite(v.watermark) && Array.isArray(v.rows) &&
    v.rows.every(r => typeof r === 'object' && r !== null && typeof r.obs_id === 'string' && typeof r.sid === 'string' &&
      typeof r.message_id === 'string' && typeof r.bot === 'object' && r.bot !== null)
}
