import { readIntentFile, removeIntentFile, writeIntentFile } from '../store/intent-file.js'
import { randomUUID } from 'node:crypto'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'
import { Backoff } from '../backoff.js'
import { errorText, insertIsolating, type Quarantine } from '../store/quarantine.js'
import type { InsertedSink, Observation, ObservationSink } from '../records.js'
import type { BatchRef, Spool } from '../store/spool.js'
import { counter, gauge, histogram, Histogram, type Metric } from '../metrics.js'

/** Where batches of prepared rows go (ClickHouse in production). */
export interface RowWriter {
  /** Inserts prepared rows (one JSON text each); the same `token` twice must be stored once. */
  insert (rows: string[], token: string): Promise<void>
}

export interface PipelineOptions {
  spool: Spool<string>
  writer: RowWriter
  log: Logger
  /** Turns an observation into one prepared row (serialised once, kept in the spool). */
  toRow: (o: Observation) => string
  /** The inverse of toRow, for frames replayed from the spool; throws on a row that is not one. */
  fromRow: (row: string) => Observation
  /** Where rows ClickHouse refuses go; the rest of their batch is stored. */
  quarantine: Quarantine
  /** Where the in-flight insert's intent is kept (see below). */
  intentPath: string
  batchMaxRows: number
  batchMaxMs: number
  retryMinMs: number
  retryMaxMs: number
  /** The next stage (promotion): every batch ClickHouse acknowledged, and the low watermark of what is still on its way. */
  next?: InsertedSink
}

interface Frame {
  ref: BatchRef
  rows: string[]
  /**
   * The observations behind `rows`, in the same order; undefined for a replayed row that
   * does not decode (it is still sent as it is, refused and quarantined with ClickHouse's
   * error, so that a replayed batch keeps exactly the rows, and the tokens, of the first try).
   */
  obs: Array<Observation | undefined>
  /** Earliest observation time in the frame (ms). */
  minTs: number
  /** When the frame was spooled (ms); drives the time bound. */
  at: number
}

interface Intent {
  token: string
  frames: string[]
}

/** Counters for /metrics. */
export class PipelineStats {
  received = 0
  expiredDropped = 0
  spooled = 0
  shed = 0
  inserted = 0
  insertedBatches = 0
  retried = 0
  failures = 0
  replayed = 0
  /** Replayed rows that did not decode (they go to the quarantine when ClickHouse refuses them). */
  replayUndecodable = 0
  /** Rows ClickHouse refused, quarantined. */
  quarantined = 0
  /** Intent-file writes that failed (disk full, bad path): the insert waits and retries. */
  intentFailures = 0
  lastInsertMs = 0
  lastBatchRows = 0
  consecutiveFailures = 0
}

/**
 * Durable, batched ingest of observations.
 *
 *   redirect ring ──write()──► spool frame (disk) ──► in-memory queue ──► one insert at a time
 *
 * - Every hand-off from the redirect server becomes one spool frame before anything else
 *   happens; a full spool sheds the frame and counts it (the redirect already succeeded).
 * - Inserts take whole frames from the head of the queue, up to batchMaxRows rows, once
 *   batchMaxRows rows are waiting or the oldest has waited batchMaxMs. One insert runs at a
 *   time; a failed one is retried with the same frames and the same deduplication token,
 *   with exponential back-off and jitter, until it succeeds.
 * - Exactly once: before an insert starts, its token and frame ids are written to an
 *   intent file (fsync'ed). A crash after ClickHouse stored the rows but before the spool
 *   recorded the acks replays those frames on the next start — and the intent makes the
 *   replay use the same grouping and token, so ClickHouse drops it as a duplicate. Frames
 *   never part of an intent were never sent, so any grouping of them is safe.
 * - Expired-token observations are counted and dropped here: they were redirected, but a
 *   click after the token's TTL is not recorded (SPEC §2).
 *
 * Memory: the queue holds the rows of unacknowledged frames, so it is bounded by the
 * spool's byte bound.
 */
export class IngestPipeline implements ObservationSink {
  readonly #insertSeconds = new Histogram([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10])
  readonly #batchRows = new Histogram([1, 10, 100, 1000, 5000, 10000, 20000, 50000, 100000])

  metrics (): Metric[] {
    const p = this.stats
    return [
      counter('clicktrail_ingest_received_total', 'observations handed to ingest', p.received),
      counter('clicktrail_ingest_expired_dropped_total', 'observations of expired tokens, redirected but not recorded', p.expiredDropped),
      counter('clicktrail_ingest_spooled_total', 'observations written to the disk spool', p.spooled),
      counter('clicktrail_ingest_shed_total', 'observations shed because the spool was full or failed', p.shed),
      counter('clicktrail_ingest_inserted_total', 'observations acknowledged by ClickHouse', p.inserted),
      counter('clicktrail_ingest_insert_batches_total', 'ClickHouse inserts that succeeded', p.insertedBatches),
      counter('clicktrail_ingest_retried_total', 'ClickHouse inserts that failed and will be retried', p.retried),
      counter('clicktrail_ingest_replayed_total', 'observations replayed from the spool at start-up', p.replayed),
      counter('clicktrail_ingest_replay_undecodable_total', 'replayed spool rows that did not decode (sent on, refused, quarantined)', p.replayUndecodable),
      counter('clicktrail_ingest_quarantined_total', 'observations ClickHouse refused, moved to the quarantine', p.quarantined),
      counter('clicktrail_ingest_intent_failures_total', 'ingest intent-file writes that failed (disk full, bad path); inserts waited', p.intentFailures),
      gauge('clicktrail_ingest_queued_rows', 'observations spooled and not yet acknowledged by ClickHouse', this.queuedRows),
      histogram('clicktrail_ingest_insert_seconds', 'ClickHouse insert latency', this.#insertSeconds),
      histogram('clicktrail_ingest_batch_rows', 'rows per ClickHouse insert', this.#batchRows)
    ]
  }

  readonly stats = new PipelineStats()
  readonly #o: PipelineOptions
  readonly #queue: Frame[] = []
  #queuedRows = 0
  #intent: Intent | undefined
  #timer: NodeJS.Timeout | undefined
  #inFlight: Promise<void> | undefined
  readonly #backoff: Backoff
  #closing = false
  /** Earliest observation of a stored batch still being handed to the next stage in slices. */
  #handing: number | undefined

  constructor (options: PipelineOptions) {
    this.#o = options
    this.#backoff = new Backoff(options.retryMinMs, options.retryMaxMs)
  }

  get queuedRows (): number { return this.#queuedRows }
  get queuedFrames (): number { return this.#queue.length }

  /** Earliest observation time not yet acknowledged by ClickHouse, or not yet handed to the next stage (ms), or undefined. */
  oldestQueuedTs (): number | undefined {
    let min = this.#handing
    for (const f of this.#queue) if (min === undefined || f.minTs < min) min = f.minTs
    return min
  }

  /** Tells the next stage how far back an observation may still arrive (after every change of the queue). */
  #publishPending (): void {
    this.#o.next?.pendingSince(this.oldestQueuedTs())
  }

  /** Replays what the spool holds from an earlier run, then starts the batching timer. */
  async start (): Promise<void> {
    this.#intent = readIntentFile<Intent>(this.#o.intentPath, isIntent, this.#o.log)
    for await (const batch of this.#o.spool.recover()) {
      // A frame passed its CRC, but its content is only trusted once it decodes: a record
      // that is not a row text, or a row that is not an observation, must not stop start-up.
      const rows = batch.records.map(r => typeof r === 'string' ? r : safeText(r))
      const obs = rows.map((r, i) => {
        try {
          const o = this.#o.fromRow(r)
          // In today's column layout (a row spooled by an earlier version may lack a column).
          rows[i] = this.#o.toRow(o)
          return o
        } catch {
          this.stats.replayUndecodable++
          limited(this.#o.log).warn('ingest.replay_undecodable', { frame: batch.ref.id }, 'a spooled row does not decode; ClickHouse will be asked and refuse it into the quarantine')
          return undefined
        }
      })
      this.#queue.push({ ref: batch.ref, rows, obs, minTs: minTs(obs), at: 0 })
      this.#queuedRows += rows.length
      this.stats.replayed += rows.length
    }
    this.#publishPending()
    if (this.#intent !== undefined) {
      const ids = new Set(this.#intent.frames)
      // Frames of the intent that are no longer pending were acknowledged: drop them from it.
      const present = this.#queue.filter(f => ids.has(f.ref.id)).map(f => f.ref.id)
      if (present.length === 0) {
        this.#intent = undefined
        await removeIntentFile(this.#o.intentPath)
      } else {
        this.#intent.frames = present
      }
    }
    if (this.stats.replayed > 0) this.#o.log.info({ rows: this.stats.replayed, frames: this.#queue.length, intent: this.#intent?.token }, 'replaying spooled observations')
    const tick = Math.max(5, Math.min(250, Math.floor(this.#o.batchMaxMs / 4)))
    this.#timer = setInterval(() => { this.#maybeInsert() }, tick)
    this.#timer.unref()
    this.#maybeInsert()
  }

  write (batch: Observation[]): void {
    this.stats.received += batch.length
    const rows: string[] = []
    const kept: Observation[] = []
    for (const o of batch) {
      if (o.expired) {
        this.stats.expiredDropped++
        continue
      }
      if (o.id === '') o.id = randomUUID() // from birth (the redirect names it); other sources may not
      rows.push(this.#o.toRow(o))
      kept.push(o)
    }
    if (rows.length === 0) return
    const ref = this.#o.spool.append(rows)
    if (ref === undefined) {
      this.stats.shed += rows.length
      limited(this.#o.log).warn('ingest.shed', { rows: rows.length, spoolBytes: this.#o.spool.stats.bytes, writeErrors: this.#o.spool.stats.writeErrors }, 'spool full or failing: observations shed (their redirects succeeded)')
      return
    }
    this.stats.spooled += rows.length
    this.#queue.push({ ref, rows, obs: kept, minTs: minTs(kept), at: Date.now() })
    this.#queuedRows += rows.length
    this.#publishPending()
    if (this.#queuedRows >= this.#o.batchMaxRows) this.#maybeInsert()
  }

  #maybeInsert (): void {
    if (this.#inFlight !== undefined || this.#queue.length === 0) return
    const now = Date.now()
    if (!this.#backoff.ready(now)) return
    const due = this.#intent !== undefined || this.#closing ||
      this.#queuedRows >= this.#o.batchMaxRows || now - this.#queue[0].at >= this.#o.batchMaxMs
    if (!due) return
    this.#inFlight = this.#insertHead().finally(() => {
      this.#inFlight = undefined
      if (this.#queue.length > 0 && (this.#intent !== undefined || this.#queuedRows >= this.#o.batchMaxRows)) setImmediate(() => { this.#maybeInsert() })
    })
  }

  async #insertHead (): Promise<void> {
    let intent = this.#intent
    let count: number
    if (intent === undefined) {
      count = 0
      let rows = 0
      while (count < this.#queue.length && (count === 0 || rows + this.#queue[count].rows.length <= this.#o.batchMaxRows)) {
        rows += this.#queue[count].rows.length
        count++
      }
      const frames = this.#queue.slice(0, count).map(f => f.ref.id)
      const next = { token: `ct-obs-${frames[0]}-n${count}`, frames }
      try {
        // Off the event loop (libuv's pool): an fsync here holds the redirect thread 0.6–9 ms (store/intent-file.ts).
        await writeIntentFile(this.#o.intentPath, next)
      } catch (err) {
        // Disk full, or the path is unusable: nothing was sent, so nothing is lost; the
        // frames wait in the spool and the write is retried with back-off.
        this.stats.intentFailures++
        this.#failed(err, count, 'ingest.intent_failed', 'cannot write the ingest intent file; inserts wait')
        return
      }
      intent = next
      this.#intent = intent
    } else {
      count = intent.frames.length
    }
    const group = this.#queue.slice(0, count)
    const rows: string[] = []
    for (const f of group) for (const r of f.rows) rows.push(r)
    const started = performance.now()
    let refused: number[]
    try {
      refused = (await insertIsolating(rows, intent.token, async (part, token) => { await this.#o.writer.insert(part, token) }, (row, i, err) => {
        this.#o.quarantine.add('click_observations', row, err, sidAt(group, i))
      })).refused
    } catch (err) {
      this.stats.failures++
      this.stats.retried++
      this.#failed(err, count, 'ingest.insert_failed', 'ClickHouse insert failed; will retry')
      return
    }
    const ms = performance.now() - started
    this.#insertSeconds.observe(ms / 1000)
    for (const f of group) this.#o.spool.ack(f.ref)
    this.#queue.splice(0, count)
    this.#queuedRows -= rows.length
    this.#intent = undefined
    try {
      await removeIntentFile(this.#o.intentPath)
    } catch (err) {
      // Harmless: at the next start its frames are no longer pending, and it is dropped.
      limited(this.#o.log).warn('ingest.intent_remove_failed', { err: errorText(err) }, 'cannot remove the ingest intent file')
    }
    if (this.#backoff.failures > 0) this.#o.log.info({ afterFailures: this.#backoff.failures }, 'ClickHouse inserts recovered')
    this.stats.consecutiveFailures = 0
    this.#backoff.reset()
    const stored = rows.length - refused.length
    this.stats.quarantined += refused.length
    this.stats.inserted += stored
    this.stats.insertedBatches++
    this.stats.lastInsertMs = ms
    this.stats.lastBatchRows = stored
    this.#batchRows.observe(stored)
    const next = this.#o.next
    if (next !== undefined) {
      const skip = new Set(refused)
      const obs: Observation[] = []
      let i = 0
      for (const f of group) {
        for (const o of f.obs) {
          if (o !== undefined && !skip.has(i)) obs.push(o)
          i++
        }
      }
      // The observations first, then the watermark past them: promotion never moves its
      // cut-off beyond an observation it has not been given. Given in slices (a batch is up
      // to --batch-max-rows, 20,000 by default: one task for all held the main thread for
      // tens of ms), the watermark held at the batch's earliest until the last slice.
      this.#handing = obs.length > 0 ? minTs(obs) : undefined
      for (let at = 0; at < obs.length; at += HANDOVER_SLICE) {
        if (at > 0) await new Promise(resolve => setImmediate(resolve))
        next.inserted(at === 0 && obs.length <= HANDOVER_SLICE ? obs : obs.slice(at, at + HANDOVER_SLICE))
      }
      this.#handing = undefined
      this.#publishPending()
    }
  }

  #failed (err: unknown, frames: number, kind: string, msg: string): void {
    this.stats.consecutiveFailures++
    const wait = this.#backoff.fail()
    limited(this.#o.log).warn(kind, { err: errorText(err), frames, retryInMs: Math.round(wait), failures: this.stats.consecutiveFailures }, msg)
  }

  /**
   * Flushes what it can within `deadlineMs`: inserts everything queued (no waiting for
   * batch bounds, no back-off waits past the deadline). Whatever is left stays in the spool
   * for the next start.
   */
  async close (deadlineMs = 5000): Promise<void> {
    this.#closing = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    const deadline = Date.now() + deadlineMs
    while (this.#queue.length > 0 && Date.now() < deadline) {
      if (this.#inFlight !== undefined) {
        await this.#inFlight
        continue
      }
      if (this.stats.consecutiveFailures > 0) break // ClickHouse is down: leave it to the spool
      this.#backoff.reset()
      this.#maybeInsert()
      if (this.#inFlight === undefined) break
    }
    if (this.#inFlight !== undefined) await this.#inFlight
    this.#o.spool.close()
    if (this.#queue.length > 0) this.#o.log.info({ rows: this.#queuedRows, frames: this.#queue.length }, 'left in the spool for the next start')
  }
}

/** Observations handed to the next stage per turn of the event loop. */
const HANDOVER_SLICE = 2000

function minTs (obs: Array<Observation | undefined>): number {
  let min = Infinity
  for (const o of obs) if (o !== undefined && o.ts < min) min = o.ts
  return min
}

/** The sid of the i-th row of a group of frames, when it decoded. */
function sidAt (group: Frame[], i: number): string {
  let k = i
  for (const f of group) {
    if (k < f.obs.length) return f.obs[k]?.sid ?? ''
    k -= f.obs.length
  }
  return ''
}

function isIntent (v: Intent): boolean {
  return typeof v === 'object' && v !== null && typeof v.token === 'string' && v.token.length > 0 && v.token.length < 1024 &&
    Array.isArray(v.frames) && v.frames.length > 0 && v.frames.every(f => typeof f === 'string')
}

function safeText (v: unknown): string {
  try { return JSON.stringify(v) ?? String(v) } catch { return String(v) }
}
