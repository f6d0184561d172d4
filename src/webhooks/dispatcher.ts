import { isIP } from 'node:net'
import { Agent, errors as undiciErrors } from 'undici'
import { randomUUID } from 'node:crypto'
import { BatchedWriter } from '../store/batched.js'
import type { Quarantine } from '../store/quarantine.js'
import type { ClickHouseClient } from '@clickhouse/client'
import type { Logger } from '../log.js'
import type { ControlPlane } from '../control/plane.js'
import type { Webhook } from '../control/model.js'
import type { Spool, BatchRef } from '../store/spool.js'
import type { ClickRow, ClickSink, Reclassification, ReclassificationSink } from '../records.js'
import { buildClickedEvent, buildReclassifiedEvent, offsetTime } from './payload.js'
import { deliveryHeaders } from './sign.js'
import { forbiddenAddress, guardedLookup, isForbiddenAddress } from './address.js'
import { Scheduler, type Schedulable } from './scheduler.js'
import { RateLimiter } from './rate.js'
import { limited, type LogLimiter } from '../log-limit.js'
import { counter, gauge, labelled, type Metric } from '../metrics.js'

/** One delivery to one webhook; kept in the outbox until a 2xx (or until it is given up). */
export interface Job {
  eventId: string
  webhookId: string
  sid: string
  event: string
  body: string
  createdAt: number
}

/**
 * What an outbox frame holds: jobs as objects (one frame per slice of a promotion batch, the
 * body stored as it is) or tombstones; a JSON text of one job in frames of earlier versions (still read).
 */
export type OutboxRecord = Job | Tombstone | string

/**
 * One outbox frame and how many of its jobs are still pending: acked when the last one is
 * done. A job done while others of its frame are still pending is named in a tombstone
 * frame (below), so that a restart does not deliver it again; `tombstones` are the frames
 * naming some of its jobs, each acked once every frame it names is.
 */
interface Frame {
  readonly ref: BatchRef
  jobs: number
  tombstones?: Frame[]
}

/** A tombstone record: jobs (keys) of the frame `done` (its BatchRef id) that are finished. */
export interface Tombstone { done: string, keys: string[] }

/** A pending job: its outbox frame, its retry state and its place in the scheduler. */
interface Live extends Schedulable {
  readonly key: string
  readonly job: Job
  readonly hook: Hook
  frame: Frame | undefined
  /** Bytes it takes in the outbox (its share of its frame, estimated: jobBytes). */
  readonly bytes: number
  attempt: number
}

/**
 * Per-webhook state: its pending jobs (oldest first), the outbox bytes they hold, and what
 * it lost to the bound. Kept while the webhook exists or has jobs (webhooks are bounded in
 * number, so are these).
 */
class Hook {
  readonly jobs = new Map<string, Live>()
  bytes = 0
  /** New deliveries refused: the outbox was full and this webhook held the most of it. */
  shedShare = 0
  /** Pending deliveries dropped (oldest first) to make room for a webhook holding less. */
  evicted = 0
  /** New deliveries refused because the outbox could not store them (disk full or failing). */
  shedOutbox = 0
  consecutiveFailures = 0
  constructor (readonly id: string) {}
}

/** What one webhook holds and lost, for /metrics. */
export interface HookView {
  webhookId: string
  pending: number
  bytes: number
  shedShare: number
  evicted: number
  shedOutbox: number
  /** Paced: its last FAILING_AFTER attempts failed. */
  failing: boolean
}

/**
 * queued: durably in the outbox now. pending: this event is already pending for this
 * webhook (it will be delivered; nothing new was queued). shed_share: refused, the outbox
 * is full and this webhook holds the largest part of it. shed_outbox: refused, the outbox
 * could not store it (disk full or failing, or the dispatcher is stopped).
 */
export type EnqueueResult = 'queued' | 'pending' | 'shed_share' | 'shed_outbox'

export interface DispatcherOptions {
  spool: Spool<OutboxRecord>
  plane: ControlPlane
  client: ClickHouseClient
  log: Logger
  /** Where delivery records and event bodies ClickHouse refuses go. */
  quarantine: Quarantine
  /** Deliver to loopback/private/link-local addresses too (tests, private deployments). */
  allowPrivate: boolean
  timeoutMs: number
  /** Attempts in flight per webhook at most, so one slow receiver cannot starve the others. */
  concurrency: number
  /** Waits before each retry (ms); its length is the number of retries. */
  schedule: number[]
  /** Test events a webhook may ask for per minute, and at once (token bucket). */
  testPerMinute?: number
  testBurst?: number
  /**
   * Attempts per second at most for a failing webhook (FAILING_AFTER failures in a row, no
   * success since), so a dead endpoint's backlog costs the engine little CPU; default 10.
   */
  failingRate?: number
  /** How often deleted or disabled webhooks' jobs are dropped and idle state is pruned. */
  maintenanceMs?: number
}

export class DispatcherStats {
  enqueued = 0
  attempts = 0
  delivered = 0
  failedAttempts = 0
  givenUp = 0
  disabled = 0
  /** Deliveries lost to the outbox bound, all reasons: shedShare + evicted + shedOutbox. */
  shed = 0
  shedShare = 0
  evicted = 0
  shedOutbox = 0
  /** Jobs dropped because their webhook was deleted or disabled. */
  cancelled = 0
  /** Jobs appended again to free outbox segments pinned by a few long-pending jobs. */
  relocated = 0
  /** Test events refused by the per-webhook rate limit. */
  testRateLimited = 0
  lastLatencyMs = 0
}

/** Default retry schedule: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h — about 24 h in all. */
export const DEFAULT_SCHEDULE_MS = [5e3, 30e3, 120e3, 600e3, 1800e3, 3600e3, 7200e3, 14400e3, 28800e3, 28800e3]

/**
 * Share of the outbox's byte bound that pending jobs may hold. The rest is room for acked
 * frames in segments that are not free yet, so compaction always has space to work in:
 * while live bytes are at most half the bound and the files pass three quarters of it, at
 * least a quarter is garbage, and some segment is mostly garbage.
 */
const LIVE_SHARE = 0.5
const COMPACT_AT = 0.75
/** Segments more live than this are not copied: too much writing for what it frees. */
const MAX_COMPACT_RATIO = 0.75
/** Failed attempts in a row after which a webhook is paced to `failingRate`. */
export const FAILING_AFTER = 10
/** How long finished jobs of frames still pending wait to be named in one tombstone frame (ms). */
const TOMBSTONE_MS = 50
/** Jobs relocated per turn of the event loop, so compaction never holds the redirect thread long. */
const COMPACT_SLICE = 500
/**
 * Promoted clicks turned into jobs per turn of the event loop (one outbox frame each): a
 * promotion batch of 5,000 clicks held the main thread 300–600 ms in one task before
 * (bench/micro/outbox-enqueue.mjs); a slice of 256 takes a few ms.
 */
export const ENQUEUE_SLICE = 256

/**
 * Durable webhook delivery. Each (event, webhook) pair becomes one job, appended to an
 * outbox on disk (the spool machinery) before anything is sent and released only after a
 * 2xx, a 410 (the webhook is then disabled) or the last retry. After a restart the outbox
 * replays what was pending. Attempts are signed (Standard Webhooks), time-limited,
 * retried on the schedule with ±20 % jitter, limited per webhook, and every attempt is
 * recorded in ClickHouse (`webhook_deliveries`).
 *
 * Scheduling (scheduler.ts): a min-heap of retry times and one timer, and a ready queue
 * per webhook; nothing is looked at until it is due, so pending jobs cost no CPU. A
 * webhook whose last FAILING_AFTER attempts all failed is paced to `failingRate` attempts
 * per second until one succeeds: its due jobs wait in its queue (late, never skipped), so
 * a dead endpoint with 100 000 jobs costs a few attempts a second, not a core.
 *
 * Fair share of the outbox (longest queue drop): pending jobs may hold LIVE_SHARE of
 * `--outbox-max-bytes`. Below that every job is taken. When it is full, a job for webhook W
 * is taken only if W would still hold less than the webhook holding the most, and room is
 * made by dropping that webhook's oldest pending jobs; otherwise W's new job is refused.
 * So one webhook can fill an otherwise idle outbox, but never keep it: with N webhooks
 * queueing, each can always hold 1/N of it. Everything refused or dropped is counted per
 * webhook (/metrics), logged rate-limited and, when dropped, recorded in its history.
 *
 * Compaction: the spool frees bytes a whole segment at a time, so a dead endpoint's few
 * jobs scattered over many segments would pin the disk bound while holding little. When
 * the files pass COMPACT_AT of the bound with at least a quarter of it garbage, the live
 * jobs of the segment with the least live data are appended again and their old frames
 * acked, which deletes that segment (a crash in between leaves both frames: the replay
 * keeps one and acks the other).
 */
export class WebhookDispatcher implements ClickSink, ReclassificationSink {
  metrics (): Metric[] {
    const ds = this.stats
    const hooks = [...this.hooks()]
    return [
      counter('clicktrail_webhook_enqueued_total', 'webhook deliveries queued', ds.enqueued),
      counter('clicktrail_webhook_attempts_total', 'webhook delivery attempts', ds.attempts),
      counter('clicktrail_webhook_delivered_total', 'webhook deliveries answered 2xx', ds.delivered),
      counter('clicktrail_webhook_failed_attempts_total', 'webhook attempts that failed and will be retried', ds.failedAttempts),
      counter('clicktrail_webhook_given_up_total', 'webhook deliveries abandoned after the last retry', ds.givenUp),
      counter('clicktrail_webhook_disabled_total', 'webhooks disabled after a 410', ds.disabled),
      counter('clicktrail_webhook_shed_total', 'webhook deliveries lost to the outbox bound (refused or dropped, every reason)', ds.shed),
      counter('clicktrail_webhook_shed_share_total', 'new webhook deliveries refused: the outbox was full and their webhook held the largest share of it', ds.shedShare),
      counter('clicktrail_webhook_evicted_total', 'pending webhook deliveries dropped (oldest first) from the webhook holding the most of a full outbox, to make room for another', ds.evicted),
      counter('clicktrail_webhook_shed_outbox_total', 'webhook deliveries refused because the outbox could not store them (disk full or failing)', ds.shedOutbox),
      counter('clicktrail_webhook_cancelled_total', 'pending webhook deliveries dropped because their webhook was deleted or disabled', ds.cancelled),
      counter('clicktrail_webhook_relocated_total', 'pending webhook deliveries rewritten to free outbox segments (compaction)', ds.relocated),
      counter('clicktrail_webhook_test_rate_limited_total', 'test events refused by the per-webhook rate limit (429)', ds.testRateLimited),
      gauge('clicktrail_webhook_pending', 'webhook deliveries waiting in the outbox', this.pending),
      gauge('clicktrail_webhook_outbox_live_bytes', 'outbox bytes held by pending deliveries (fair-share accounting; at most half of --outbox-max-bytes)', this.liveBytes),
      gauge('clicktrail_webhook_failing_webhooks', 'webhooks whose last 10 attempts failed, paced to --webhook-failing-rate', hooks.filter(h => h.failing).length),
      gauge('clicktrail_webhook_outbox_bytes', 'bytes of the outbox files, live and acked frames', this.outboxBytes),
      // One series per webhook with pending deliveries or losses: webhooks are bounded in
      // number and the dispatcher forgets deleted ones, so these labels are bounded too.
      labelled('clicktrail_webhook_pending_by_webhook', 'webhook deliveries waiting in the outbox, by webhook', 'gauge',
        hooks.filter(h => h.pending > 0).map(h => ({ labels: { webhook_id: h.webhookId }, value: h.pending }))),
      labelled('clicktrail_webhook_shed_by_webhook_total', 'webhook deliveries lost to the outbox bound, by webhook and reason (share: refused over its share; evicted: dropped for another webhook; outbox: disk full or failing)', 'counter',
        hooks.flatMap(h => [
          ...(h.shedShare > 0 ? [{ labels: { webhook_id: h.webhookId, reason: 'share' }, value: h.shedShare }] : []),
          ...(h.evicted > 0 ? [{ labels: { webhook_id: h.webhookId, reason: 'evicted' }, value: h.evicted }] : []),
          ...(h.shedOutbox > 0 ? [{ labels: { webhook_id: h.webhookId, reason: 'outbox' }, value: h.shedOutbox }] : [])
        ]))
    ]
  }

  readonly stats = new DispatcherStats()
  readonly #o: DispatcherOptions
  readonly #jobs = new Map<string, Live>()
  readonly #hooks = new Map<string, Hook>()
  /** Live jobs (and their bytes) by outbox segment, for compaction. */
  readonly #bySegment = new Map<string, { jobs: Set<Live>, bytes: number }>()
  readonly #scheduler: Scheduler<Live>
  readonly #liveBound: number
  #liveBytes = 0
  // Attempts and event bodies go to ClickHouse through the same bounded, retrying batch
  // writer as message records.
  readonly #records: BatchedWriter
  readonly #events: BatchedWriter
  readonly #lookup
  // undici, not node:http: a signed POST on a kept-alive connection costs the main thread
  // about half the CPU (measured, bench/micro/webhook-post.mjs: 87 against 178 µs per POST,
  // four in flight). Connections are kept alive per origin; every new one resolves through
  // the address guard.
  readonly #agent: Agent
  /** Parsed webhook URLs (bounded: cleared past URL_CACHE_MAX). */
  readonly #targets = new Map<string, { origin: string, path: string, host: string }>()
  readonly #testLimit: RateLimiter
  readonly #running = new Set<Promise<void>>()
  readonly #limited: LogLimiter
  #maintenance: NodeJS.Timeout | undefined
  /** Jobs finished while others of their frame are pending, to be named in the next tombstone frame. */
  #done = new Map<Frame, string[]>()
  #doneQueued = false
  #compacting = false
  #stopped = false

  constructor (options: DispatcherOptions) {
    this.#o = options
    this.#lookup = guardedLookup(options.allowPrivate)
    this.#agent = new Agent({ connect: { lookup: this.#lookup as never, timeout: options.timeoutMs } })
    this.#records = new BatchedWriter(options.client, 'webhook_deliveries', options.log, { quarantine: options.quarantine, maxBuffered: 50_000 })
    this.#events = new BatchedWriter(options.client, 'webhook_events', options.log, { quarantine: options.quarantine, maxBuffered: 10_000 })
    this.#limited = limited(options.log)
    this.#liveBound = Math.floor(options.spool.maxBytes * LIVE_SHARE)
    this.#testLimit = new RateLimiter(options.testPerMinute ?? 10, options.testBurst ?? 5)
    const gap = 1000 / (options.failingRate ?? 10)
    this.#scheduler = new Scheduler<Live>({
      concurrency: options.concurrency,
      run: live => { this.#run(live) },
      gap: lane => (this.#hooks.get(lane)?.consecutiveFailures ?? 0) >= FAILING_AFTER ? gap : 0
    })
  }

  get pending (): number { return this.#jobs.size }
  /** Outbox bytes held by pending jobs, and the most they may hold. */
  get liveBytes (): number { return this.#liveBytes }
  get liveBound (): number { return this.#liveBound }
  /** Bytes of the outbox files (live frames and acked ones in segments not freed yet). */
  get outboxBytes (): number { return this.#o.spool.stats.bytes }

  /** Every webhook with pending jobs or counted losses. */
  * hooks (): Iterable<HookView> {
    for (const h of this.#hooks.values()) yield { webhookId: h.id, pending: h.jobs.size, bytes: h.bytes, shedShare: h.shedShare, evicted: h.evicted, shedOutbox: h.shedOutbox, failing: h.consecutiveFailures >= FAILING_AFTER }
  }

  async start (): Promise<void> {
    // Tombstones come after the frames they name: read everything first.
    const batches: Array<{ ref: BatchRef, records: unknown[] }> = []
    const done = new Set<string>()
    const tombstoneBatches: Array<{ ref: BatchRef, names: string[] }> = []
    for await (const batch of this.#o.spool.recover()) {
      if (batch.records.length > 0 && batch.records.every(isTombstone)) {
        const names: string[] = []
        for (const t of batch.records as unknown as Tombstone[]) {
          names.push(t.done)
          for (const k of t.keys) done.add(`${t.done} ${k}`)
        }
        tombstoneBatches.push({ ref: batch.ref, names })
      } else {
        batches.push(batch)
      }
    }
    const frames = new Map<string, Frame>()
    for (const batch of batches) {
      const frame: Frame = { ref: batch.ref, jobs: 0 }
      for (const record of batch.records) {
        const job = parseJob(record)
        if (job === undefined) {
          // a bad record must not stop the start-up: drop it, say so
          this.#limited.warn('webhook.outbox_bad_frame', { ref: batch.ref.id }, 'webhook outbox frame is not a job: dropped')
          continue
        }
        const k = key(job)
        // delivered (or dropped) before the restart while others of its frame were pending
        if (done.has(`${batch.ref.id} ${k}`)) continue
        // Two frames for one job: compaction appended it again and the process stopped
        // before the old frame was acked. Keep the first.
        if (this.#jobs.has(k)) continue
        frame.jobs++
        const live = this.#add(job, frame, jobBytes(job.body))
        this.#scheduler.add(live, 0)
      }
      // nothing of it is pending (bad records, duplicates, done): released now
      if (frame.jobs === 0) this.#o.spool.ack(batch.ref)
      else frames.set(batch.ref.id, frame)
    }
    for (const t of tombstoneBatches) this.#pin({ ref: t.ref, jobs: 0 }, t.names.map(n => frames.get(n)))
    if (this.#jobs.size > 0) this.#o.log.info({ jobs: this.#jobs.size }, 'webhooks: resuming pending deliveries')
    this.#maintenance = setInterval(() => { this.#maintain() }, this.#o.maintenanceMs ?? 10_000)
    this.#maintenance.unref()
  }

  /**
   * ClickSink: promoted clicks from promotion (once stored) become deliveries; resolves once
   * every job is in the outbox (promotion moves its watermark only then).
   */
  async clicks (rows: ClickRow[]): Promise<void> { await this.enqueueClicks(rows) }

  /**
   * Promoted clicks → jobs for every enabled webhook that wants them, ENQUEUE_SLICE clicks per
   * turn of the event loop, each slice's jobs written as one outbox frame.
   */
  async enqueueClicks (clicks: ClickRow[]): Promise<void> {
    for (let at = 0; at < clicks.length; at += ENQUEUE_SLICE) {
      if (at > 0) await new Promise(resolve => setImmediate(resolve))
      this.#enqueueSlice(clicks, at, Math.min(clicks.length, at + ENQUEUE_SLICE))
    }
  }

  #enqueueSlice (clicks: ClickRow[], from: number, to: number): void {
    const now = Date.now()
    const admitted: Live[] = []
    for (let i = from; i < to; i++) {
      const c = clicks[i]
      const project = this.#o.plane.projectBySid(c.sid)
      if (project === undefined) continue
      let body: string | undefined
      let eventId = ''
      let bytes = 0
      for (const w of this.#o.plane.webhooks(project.project_id)) {
        if (!wants(w, c)) continue
        // A webhook of one route gets that route's clicks only (the message's route).
        if (w.route_id !== '' && w.route_id !== c.route_id) continue
        if (body === undefined) {
          const event = buildClickedEvent(c, now)
          body = JSON.stringify(event)
          eventId = event.id
          bytes = jobBytes(body)
        }
        const job: Job = { eventId, webhookId: w.webhook_id, sid: c.sid, event: 'message.clicked', body, createdAt: now }
        if (this.#jobs.has(key(job))) continue // pending already (a batch stored again after a crash)
        const hook = this.#hook(job.webhookId)
        if (this.#stopped) { this.#refuse(hook, job, 'shed_outbox'); continue }
        if (!this.#admit(hook, bytes)) { this.#refuse(hook, job, 'shed_share'); continue }
        // Counted now (so that the next jobs of the slice are admitted against it), written below.
        admitted.push(this.#add(job, undefined, bytes))
      }
    }
    // Admitting a later job may have evicted an earlier one of this slice: it is gone already.
    const lives = admitted.filter(l => this.#jobs.get(l.key) === l)
    if (lives.length === 0) return
    const ref = this.#o.spool.append(lives.map(l => l.job))
    if (ref === undefined) {
      for (const l of lives) {
        this.#drop(l)
        this.#refuse(l.hook, l.job, 'shed_outbox')
      }
      return
    }
    const frame: Frame = { ref, jobs: lives.length }
    const events = new Array<Record<string, unknown>>(lives.length)
    for (let i = 0; i < lives.length; i++) {
      const l = lives[i]
      l.frame = frame
      this.#track(l)
      const job = l.job
      events[i] = { event_id: job.eventId, webhook_id: job.webhookId, sid: job.sid, event: job.event, body: job.body, created_at: job.createdAt }
      this.#scheduler.add(l, 0)
    }
    this.#events.add(events)
    this.stats.enqueued += lives.length
    this.#maybeCompact()
  }

  /**
   * ReclassificationSink: reclassified clicks (late evidence, once stored) become
   * message.click_reclassified deliveries for every enabled webhook subscribed to that event
   * (of the click's route, for a route's webhook), machine or not. `skip` holds the
   * `event:webhook` pairs queued before a restart.
   */
  reclassified (items: Reclassification[], skip?: ReadonlySet<string>): void {
    for (const r of items) {
      const c = r.click
      const project = this.#o.plane.projectBySid(c.sid)
      if (project === undefined) continue
      let body: string | undefined
      for (const w of this.#o.plane.webhooks(project.project_id)) {
        if (!w.enabled || !w.events.includes('message.click_reclassified')) continue
        if (w.route_id !== '' && w.route_id !== c.route_id) continue
        if (skip?.has(`${r.event_id}:${w.webhook_id}`) === true) continue
        body ??= JSON.stringify(buildReclassifiedEvent(r))
        this.enqueue({ eventId: r.event_id, webhookId: w.webhook_id, sid: c.sid, event: 'message.click_reclassified', body, createdAt: r.reclassified_at })
      }
    }
  }

  /** The attempts made so far of this event's delivery to this webhook, while it is pending; undefined once done. */
  pendingAttempts (eventId: string, webhookId: string): number | undefined {
    return this.#jobs.get(`${eventId}:${webhookId}`)?.attempt
  }

  /** Queues one job, durably first; see EnqueueResult. Refusals are counted and logged. */
  enqueue (job: Job): EnqueueResult {
    const k = key(job)
    if (this.#jobs.has(k)) return 'pending'
    const bytes = jobBytes(job.body)
    const hook = this.#hook(job.webhookId)
    if (this.#stopped) return this.#refuse(hook, job, 'shed_outbox')
    if (!this.#admit(hook, bytes)) return this.#refuse(hook, job, 'shed_share')
    const ref = this.#o.spool.append([job])
    if (ref === undefined) return this.#refuse(hook, job, 'shed_outbox')
    const live = this.#add(job, { ref, jobs: 1 }, bytes)
    this.#events.add([{ event_id: job.eventId, webhook_id: job.webhookId, sid: job.sid, event: job.event, body: job.body, created_at: job.createdAt }])
    this.stats.enqueued++
    this.#scheduler.add(live, 0)
    this.#maybeCompact()
    return 'queued'
  }

  /**
   * A test event (SPEC §6 shape with placeholder data) for one webhook, within its rate
   * limit: `rate_limited` (with the ms until the next one is allowed) when past it.
   */
  enqueueTest (w: Webhook): { eventId: string, result: EnqueueResult | 'rate_limited', retryAfterMs: number } {
    const now = Date.now()
    const wait = this.#testLimit.take(w.webhook_id)
    if (wait > 0) {
      this.stats.testRateLimited++
      return { eventId: '', result: 'rate_limited', retryAfterMs: wait }
    }
    const event = {
      id: randomUUID(),
      event: 'message.clicked',
      timestamp: new Date(now).toISOString(),
      data: {
        message_id: '00000000-0000-4000-8000-000000000000',
        subject: 'clicktrail test event',
        metadata: { test: 'true' },
        tag: 'test',
        recipient: 'test@example.com',
        clicked_at: offsetTime(now),
        destination_url: 'https://example.com/',
        link_index: 0,
        anchor_text: 'Test',
        first_click: true,
        device_type: 'desktop',
        client_type: 'browser',
        client_name: 'Chrome',
        user_agent: 'clicktrail-test',
        bot: { detected: false, probability: 0, classification: 'genuine', proxy_type: null, reason_codes: [], machine: false, counts_for_metrics: true }
      }
    }
    const sid = this.#o.plane.project(w.project_id)?.sid ?? ''
    const result = this.enqueue({ eventId: event.id, webhookId: w.webhook_id, sid, event: 'message.clicked', body: JSON.stringify(event), createdAt: now })
    // a test that was not queued does not use up the webhook's allowance
    if (result !== 'queued') this.#testLimit.refund(w.webhook_id)
    return { eventId: event.id, result, retryAfterMs: 0 }
  }

  #hook (id: string): Hook {
    let h = this.#hooks.get(id)
    if (h === undefined) {
      h = new Hook(id)
      this.#hooks.set(id, h)
    }
    return h
  }

  #add (job: Job, frame: Frame | undefined, bytes: number): Live {
    const hook = this.#hook(job.webhookId)
    const live: Live = { key: key(job), lane: job.webhookId, job, hook, frame, bytes, attempt: 0, due: 0, state: 'idle', heapIndex: -1 }
    this.#jobs.set(live.key, live)
    hook.jobs.set(live.key, live)
    hook.bytes += bytes
    this.#liveBytes += bytes
    this.#track(live)
    return live
  }

  /** Takes a job out of the accounting (not the scheduler, not the outbox). */
  #drop (live: Live): void {
    this.#jobs.delete(live.key)
    const h = live.hook
    h.jobs.delete(live.key)
    h.bytes -= live.bytes
    this.#liveBytes -= live.bytes
    this.#untrack(live)
  }

  /**
   * The job `k` of `frame` is done (delivered, dropped, relocated): the frame is acked with its
   * last job, and the tombstones naming it with the last frame they name. A job done before
   * the others of its frame is named in a tombstone frame, written TOMBSTONE_MS later for all
   * done meanwhile, and only for frames not released by then (a live webhook's frames mostly
   * are: few tombstones are written). A process killed within TOMBSTONE_MS of a delivery may
   * send it again after the restart (delivery is at least once; receivers de-duplicate on
   * the event id); a stop writes them first.
   */
  #release (frame: Frame | undefined, k: string): void {
    if (frame === undefined) return
    if (--frame.jobs === 0) {
      this.#o.spool.ack(frame.ref)
      for (const t of frame.tombstones ?? []) if (--t.jobs === 0) this.#o.spool.ack(t.ref)
      return
    }
    const keys = this.#done.get(frame)
    if (keys === undefined) this.#done.set(frame, [k])
    else keys.push(k)
    if (!this.#doneQueued) {
      this.#doneQueued = true
      setTimeout(() => { this.#writeTombstones() }, TOMBSTONE_MS).unref()
    }
  }

  #writeTombstones (): void {
    this.#doneQueued = false
    const done = this.#done
    if (done.size === 0) return
    this.#done = new Map()
    const records: Tombstone[] = []
    const named: Frame[] = []
    for (const [frame, keys] of done) {
      if (frame.jobs === 0) continue // released meanwhile: nothing of it replays
      records.push({ done: frame.ref.id, keys })
      named.push(frame)
    }
    if (records.length === 0) return
    const ref = this.#o.spool.append(records)
    if (ref === undefined) {
      // outbox full or failing: after a restart these jobs are delivered again (receivers de-duplicate on the event id)
      this.#limited.warn('webhook.tombstone_failed', { frames: records.length, outboxBytes: this.#o.spool.stats.bytes }, 'webhook outbox could not record finished deliveries: a restart would send them again')
      return
    }
    this.#pin({ ref, jobs: 0 }, named)
  }

  /** Tombstone frame `t` is kept while a frame it names is (acked at once when none is). */
  #pin (t: Frame, named: Array<Frame | undefined>): void {
    for (const f of new Set(named)) {
      if (f === undefined || f.jobs === 0) continue
      t.jobs++
      if (f.tombstones === undefined) f.tombstones = [t]
      else f.tombstones.push(t)
    }
    if (t.jobs === 0) this.#o.spool.ack(t.ref)
  }

  #track (live: Live): void {
    if (live.frame === undefined) return
    const name = live.frame.ref.segment
    let seg = this.#bySegment.get(name)
    if (seg === undefined) {
      seg = { jobs: new Set(), bytes: 0 }
      this.#bySegment.set(name, seg)
    }
    seg.jobs.add(live)
    seg.bytes += live.bytes
  }

  #untrack (live: Live): void {
    if (live.frame === undefined) return
    const name = live.frame.ref.segment
    const seg = this.#bySegment.get(name)
    if (seg === undefined || !seg.jobs.delete(live)) return
    seg.bytes -= live.bytes
    if (seg.jobs.size === 0) this.#bySegment.delete(name)
  }

  /** Longest queue drop; see the class comment. */
  #admit (hook: Hook, bytes: number): boolean {
    while (this.#liveBytes + bytes > this.#liveBound) {
      let top: Hook | undefined
      for (const h of this.#hooks.values()) if (top === undefined || h.bytes > top.bytes) top = h
      if (top === undefined || top === hook || top.bytes <= hook.bytes + bytes) return false
      let victim: Live | undefined
      for (const l of top.jobs.values()) if (l.state !== 'running') { victim = l; break }
      if (victim === undefined) return false // all in flight: nothing can go now
      this.#evict(victim)
    }
    return true
  }

  #evict (live: Live): void {
    const h = live.hook
    h.evicted++
    this.stats.evicted++
    this.stats.shed++
    this.#limited.warn(`webhook.evicted.${h.id}`, { webhookId: h.id, eventId: live.job.eventId, pending: h.jobs.size - 1, bytes: h.bytes - live.bytes, evicted: h.evicted }, 'webhook outbox full: oldest pending delivery of the webhook holding most of it dropped to make room for another webhook')
    this.#finish(live, 'dropped: the outbox was full and this webhook held the largest share of it')
  }

  #refuse (hook: Hook, job: Job, why: 'shed_share' | 'shed_outbox'): EnqueueResult {
    this.stats.shed++
    if (why === 'shed_share') {
      hook.shedShare++
      this.stats.shedShare++
      this.#limited.warn(`webhook.shed.${hook.id}`, { webhookId: hook.id, eventId: job.eventId, pending: hook.jobs.size, bytes: hook.bytes, shed: hook.shedShare }, 'webhook outbox full and this webhook holds the largest share of it: new delivery shed')
    } else {
      hook.shedOutbox++
      this.stats.shedOutbox++
      this.#limited.warn('webhook.outbox_failed', { webhookId: hook.id, eventId: job.eventId, outboxBytes: this.#o.spool.stats.bytes, writeErrors: this.#o.spool.stats.writeErrors }, 'webhook outbox could not store a delivery (disk full or failing): shed')
    }
    return why
  }

  #run (live: Live): void {
    const p = this.#attempt(live).then(next => {
      this.#scheduler.finished(live)
      if (next !== undefined && this.#jobs.get(live.key) === live && !this.#stopped) this.#scheduler.add(live, next)
    }, (err: Error) => {
      // #attempt catches what the request throws; this is a bug, not the receiver: retry later.
      this.#o.log.error({ err: err.message, webhookId: live.lane }, 'webhook attempt failed unexpectedly')
      this.#scheduler.finished(live)
      if (this.#jobs.get(live.key) === live && !this.#stopped) this.#scheduler.add(live, Date.now() + (this.#o.schedule[0] ?? 5000))
    }).finally(() => { this.#running.delete(p) })
    this.#running.add(p)
  }

  /** One attempt; resolves to the time of the next one, or undefined when the job is done. */
  async #attempt (live: Live): Promise<number | undefined> {
    const { job } = live
    const w = this.#o.plane.webhook(job.webhookId)
    if (w === undefined || !w.enabled) {
      this.stats.cancelled++
      this.#finish(live, 'webhook deleted or disabled')
      return undefined
    }
    live.attempt++
    this.stats.attempts++
    const started = performance.now()
    let status = 0
    let error = ''
    let answer = ''
    try {
      ({ status, answer } = await this.#post(w, job, live.attempt))
    } catch (err) {
      error = (err as Error).message
    }
    const latency = Math.round(performance.now() - started)
    this.stats.lastLatencyMs = latency
    const ok = status >= 200 && status < 300
    // DateTime64(3) takes integer milliseconds; a fractional value made ClickHouse refuse
    // the whole batch of delivery records.
    let nextRetry: number | null = null
    const hook = live.hook
    if (ok) {
      this.stats.delivered++
      hook.consecutiveFailures = 0
      this.#finish(live)
    } else if (status === 410) {
      // 410 Gone: the receiver says this endpoint is no more.
      this.stats.disabled++
      this.#finish(live, 'receiver answered 410: webhook disabled')
      this.#o.plane.write('webhooks', { ...w, enabled: false, updated_at: Date.now() }).catch((err: Error) => { this.#o.log.warn({ err: err.message }, 'could not disable webhook') })
      this.#o.log.warn({ webhookId: w.webhook_id, url: w.url }, 'webhook disabled after 410 Gone')
    } else {
      this.stats.failedAttempts++
      hook.consecutiveFailures++
      if (error === '') error = `HTTP ${status}`
      const last = live.attempt > this.#o.schedule.length
      if (last) {
        this.stats.givenUp++
        this.#finish(live, 'retries exhausted')
      } else {
        nextRetry = Date.now() + Math.round(this.#o.schedule[live.attempt - 1] * (0.8 + Math.random() * 0.4))
      }
      this.#limited.warn(`webhook.failing.${w.webhook_id}`, { webhookId: w.webhook_id, projectId: w.project_id, host: hostOf(w.url), status, error, attempt: live.attempt, givenUp: last, consecutiveFailures: hook.consecutiveFailures, pending: hook.jobs.size }, 'webhook delivery attempt failed')
    }
    this.#records.add([{ event_id: job.eventId, webhook_id: job.webhookId, sid: job.sid, attempt: live.attempt, ts: Date.now(), status, ok, latency_ms: latency, error, response_body: answer, next_retry: nextRetry }])
    return nextRetry ?? undefined
  }

  /** Releases a job: out of the scheduler, the outbox and the accounting; `why` is recorded for a job never attempted. */
  #finish (live: Live, why?: string): void {
    if (this.#jobs.get(live.key) !== live) return
    this.#scheduler.remove(live)
    this.#drop(live)
    this.#release(live.frame, live.key)
    if (why !== undefined && (live.attempt === 0 || why.startsWith('dropped'))) {
      this.#records.add([{ event_id: live.job.eventId, webhook_id: live.job.webhookId, sid: live.job.sid, attempt: live.attempt, ts: Date.now(), status: 0, ok: false, latency_ms: 0, error: why, next_retry: null }])
    }
  }

  /** Starts compaction on a later turn when the outbox files are mostly garbage. */
  #maybeCompact (): void {
    if (this.#compacting || this.#stopped || !this.#needsCompaction(COMPACT_AT, 1 - COMPACT_AT)) return
    this.#compacting = true
    setImmediate(() => { this.#compactSlice() })
  }

  /** The files pass `files` of the bound and at least `garbage` of it is acked frames. */
  #needsCompaction (files: number, garbage: number): boolean {
    const sp = this.#o.spool
    return sp.stats.bytes > sp.maxBytes * files && sp.stats.bytes - this.#liveBytes > sp.maxBytes * garbage
  }

  #compactSlice (): void {
    const moved = this.#stopped ? 0 : this.compact(COMPACT_SLICE)
    // once started, go on down to half the bound, while there is garbage worth the copying
    if (moved > 0 && !this.#stopped && this.#needsCompaction(COMPACT_AT - 0.25, (1 - COMPACT_AT) / 2)) {
      setImmediate(() => { this.#compactSlice() })
      return
    }
    this.#compacting = false
  }

  /**
   * Appends up to `budget` live jobs again, taken from the inactive outbox segment with the
   * least live data, and acks their old frames; returns how many moved. Public for tests.
   */
  compact (budget: number): number {
    const sp = this.#o.spool
    let best: { name: string, ratio: number } | undefined
    for (const seg of sp.segmentInfo()) {
      const live = this.#bySegment.get(seg.name)
      if (seg.active || seg.bytes === 0 || live === undefined) continue
      const ratio = live.bytes / seg.bytes
      if (best === undefined || ratio < best.ratio) best = { name: seg.name, ratio }
    }
    // a segment that is mostly live is not worth copying
    if (best === undefined || best.ratio > MAX_COMPACT_RATIO) return 0
    const set = this.#bySegment.get(best.name)?.jobs
    let moved = 0
    for (const live of set === undefined ? [] : [...set]) {
      if (moved >= budget) break
      const ref = sp.append([live.job])
      if (ref === undefined) break // no room or a disk error: try again later
      const old = live.frame
      this.#untrack(live)
      live.frame = { ref, jobs: 1 }
      this.#track(live)
      this.#release(old, live.key)
      moved++
    }
    this.stats.relocated += moved
    return moved
  }

  /** Drops the jobs of deleted or disabled webhooks, and forgets webhooks that are gone. */
  #maintain (): void {
    for (const h of [...this.#hooks.values()]) {
      const w = this.#o.plane.webhook(h.id)
      if (w !== undefined && w.enabled) continue
      let dropped = 0
      for (const live of [...h.jobs.values()]) {
        if (live.state === 'running') continue
        this.#finish(live)
        dropped++
      }
      if (dropped > 0) {
        this.stats.cancelled += dropped
        this.#o.log.info({ webhookId: h.id, dropped, deleted: w === undefined }, 'webhook deleted or disabled: its pending deliveries dropped')
      }
      if (w === undefined && h.jobs.size === 0) this.#hooks.delete(h.id)
    }
    this.#maybeCompact()
  }

  #target (url: string): { origin: string, path: string, host: string } {
    let t = this.#targets.get(url)
    if (t === undefined) {
      const u = new URL(url)
      t = { origin: u.origin, path: `${u.pathname}${u.search}`, host: u.hostname.replace(/^\[|\]$/g, '') }
      if (this.#targets.size >= URL_CACHE_MAX) this.#targets.clear()
      this.#targets.set(url, t)
    }
    return t
  }

  /** One signed POST: the receiver's status and the first RESPONSE_BODY_MAX bytes of its answer. */
  async #post (w: Webhook, job: Job, attempt: number): Promise<{ status: number, answer: string }> {
    const { origin, path, host } = this.#target(w.url)
    if (!this.#o.allowPrivate && isIP(host) !== 0 && isForbiddenAddress(host)) throw forbiddenAddress(host, host)
    const headers = {
      ...deliveryHeaders(w.secret, job.eventId, Math.floor(Date.now() / 1000), job.body, job.event, attempt),
      'content-type': 'application/json',
      'user-agent': 'clicktrail-webhooks/1'
    }
    const timeout = this.#o.timeoutMs
    try {
      const res = await this.#agent.request({ origin, path, method: 'POST', headers, body: job.body, headersTimeout: timeout, bodyTimeout: timeout })
      // The first bytes of the answer are kept for the delivery history; a larger answer is
      // cut off there (its connection is closed) rather than drained.
      const chunks: Buffer[] = []
      let bytes = 0
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        chunks.push(chunk)
        bytes += chunk.length
        if (bytes >= RESPONSE_BODY_MAX) break
      }
      return { status: res.statusCode, answer: Buffer.concat(chunks).subarray(0, RESPONSE_BODY_MAX).toString('utf8') }
    } catch (err) {
      if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError) {
        throw new Error(`${NO_ANSWER} ${timeout} ms`, { cause: err })
      }
      throw err
    }
  }

  /** Records what is buffered; for tests and the redelivery API. */
  async flush (): Promise<void> {
    await Promise.all([this.#events.flush(), this.#records.flush()])
  }

  async stop (deadlineMs = 3000): Promise<void> {
    this.#stopped = true
    this.#scheduler.stop()
    if (this.#maintenance !== undefined) clearInterval(this.#maintenance)
    await Promise.race([Promise.allSettled([...this.#running]), new Promise(resolve => setTimeout(resolve, deadlineMs))])
    await Promise.all([this.#events.close(), this.#records.close()])
    await this.#agent.destroy().catch(() => {})
    this.#writeTombstones()
    this.#o.spool.close()
  }
}

/** Bytes of a receiver's answer kept in the delivery history. */
export const RESPONSE_BODY_MAX = 1024
/** How an attempt that got no answer in time is recorded (deliveryStatus reads it back). */
const NO_ANSWER = 'no answer within'

/** Lettermint's delivery states. */
export type DeliveryStatus = 'pending' | 'success' | 'failed' | 'client_error' | 'server_error' | 'timeout'

/**
 * A delivery's state from its last record: success (2xx), client_error (4xx), server_error
 * (5xx), timeout (no answer in time), failed (no HTTP answer otherwise — refused, unreachable,
 * address not allowed — or dropped before an attempt); pending when not attempted yet.
 */
export function deliveryStatus (last: { attempt: number, status: number, ok: boolean, error: string } | undefined, pending: boolean): DeliveryStatus {
  if (last === undefined || (last.attempt === 0 && pending)) return 'pending'
  if (last.ok) return 'success'
  if (last.status >= 400 && last.status < 500) return 'client_error'
  if (last.status >= 500) return 'server_error'
  if (last.status === 0 && last.error.startsWith(NO_ANSWER)) return 'timeout'
  return 'failed'
}

/** Distinct webhook URLs kept parsed at most. */
const URL_CACHE_MAX = 10_000

function key (job: Job): string {
  return `${job.eventId}:${job.webhookId}`
}

/** A job as the outbox holds it (an object, or the JSON text of one in older frames); undefined for anything else. */
function parseJob (record: unknown): Job | undefined {
  let j: Partial<Job> | null
  if (typeof record === 'string') {
    try { j = JSON.parse(record) as Partial<Job> | null } catch { return undefined }
  } else {
    j = record as Partial<Job> | null
  }
  if (j === null || typeof j !== 'object' || typeof j.eventId !== 'string' || typeof j.webhookId !== 'string' || typeof j.body !== 'string' ||
    typeof j.sid !== 'string' || typeof j.event !== 'string' || typeof j.createdAt !== 'number') return undefined
  return { eventId: j.eventId, webhookId: j.webhookId, sid: j.sid, event: j.event, body: j.body, createdAt: j.createdAt }
}

function isTombstone (r: unknown): boolean {
  const t = r as Partial<Tombstone> | null
  return typeof t === 'object' && t !== null && typeof t.done === 'string' && Array.isArray(t.keys) && t.keys.every(k => typeof k === 'string')
}

/**
 * Outbox bytes a job is counted for (fair share, compaction): its body and a fixed allowance
 * for the ids, the event name, the time and msgpack's headers (about 110 bytes in a frame of
 * many jobs, whose key list is written once per frame).
 */
function jobBytes (body: string): number {
  return JOB_OVERHEAD_BYTES + Buffer.byteLength(body)
}
const JOB_OVERHEAD_BYTES = 128

function hostOf (url: string): string {
  try { return new URL(url).host } catch { return '' }
}

/** Who gets what: counting clicks go to every subscribed webhook; machine ones only where asked. */
export function wants (w: Webhook, c: ClickRow): boolean {
  if (!w.enabled || !w.events.includes('message.clicked')) return false
  return c.bot.counts_for_metrics || w.include_machine_events
}
