import { randomUUID } from 'node:crypto'
import type { ClickHouseClient } from '@clickhouse/client'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'
import { Backoff } from '../backoff.js'
import { errorText, insertIsolating, type Quarantine } from './quarantine.js'
import { labelled, type Metric } from '../metrics.js'
import { insertRows } from './row-insert.js'

/** A flush never throws (its failures are counted and retried): nothing to handle. */
const noop = (): void => {}

export interface BatchedWriterOptions {
  /** Where rows ClickHouse refuses go (the rest of their batch is stored). */
  quarantine: Quarantine
  /** Insert at least this often (ms). */
  flushMs?: number
  /** Rows per insert at most. */
  maxRows?: number
  /** Rows held in memory at most; past it new rows are shed and counted. */
  maxBuffered?: number
  retryMinMs?: number
  retryMaxMs?: number
}

type Row = Record<string, unknown>

/** The tenant of a refused row's line (a rare path: parsed again only then). */
function sidOf (line: string): string {
  const sid = (JSON.parse(line) as Row).sid
  return typeof sid === 'string' ? sid : ''
}

/**
 * Rows for one table, inserted in batches (by size and by time), each insert with its own
 * deduplication token and retried with the same one, with back-off, while ClickHouse is
 * unavailable. A row ClickHouse refuses is isolated and quarantined; the rest of its batch
 * goes through. Bounded in memory: past `maxBuffered` rows new ones are shed, counted and
 * logged. Used for records that are not on the click path (messages, message links, webhook
 * deliveries); observations have the disk spool.
 */
export class BatchedWriter {
  /** One series per writer (labelled by its table); the registry merges the writers' families. */
  metrics (): Metric[] {
    const labels = { table: this.table }
    return [
      labelled('clicktrail_writer_inserted_total', 'rows stored by the batched writers', 'counter', [{ labels, value: this.inserted }]),
      labelled('clicktrail_writer_shed_total', 'rows shed because a batched writer was full', 'counter', [{ labels, value: this.shed }]),
      labelled('clicktrail_writer_failures_total', 'failed batched inserts (retried with back-off)', 'counter', [{ labels, value: this.failures }]),
      labelled('clicktrail_writer_quarantined_total', 'rows a batched writer had refused and quarantined', 'counter', [{ labels, value: this.quarantined }]),
      labelled('clicktrail_writer_buffered', 'rows waiting in a batched writer', 'gauge', [{ labels, value: this.buffered }])
    ]
  }

  /** Rows as JSONEachRow lines: serialised as they are added (in the adder's small tasks), so a flush of many rows holds the event loop for no stringify. */
  #rows: string[] = []
  #inFlight: Promise<void> | undefined
  readonly #timer: NodeJS.Timeout
  #retry: { rows: string[], token: string } | undefined
  readonly #o: Required<BatchedWriterOptions>
  readonly #backoff: Backoff
  inserted = 0
  shed = 0
  failures = 0
  quarantined = 0

  constructor (readonly client: ClickHouseClient, readonly table: string, readonly log: Logger, options: BatchedWriterOptions) {
    this.#o = { flushMs: 1000, maxRows: 10_000, maxBuffered: 1_000_000, retryMinMs: 200, retryMaxMs: 30_000, ...options }
    this.#backoff = new Backoff(this.#o.retryMinMs, this.#o.retryMaxMs)
    this.#timer = setInterval(() => { this.flush().catch(noop) }, this.#o.flushMs)
    this.#timer.unref()
  }

  get buffered (): number { return this.#rows.length + (this.#retry?.rows.length ?? 0) }

  add (rows: Row[]): void {
    if (this.buffered + rows.length > this.#o.maxBuffered) {
      this.shed += rows.length
      limited(this.log).warn(`writer.${this.table}.shed`, { table: this.table, rows: rows.length, buffered: this.buffered }, 'batched writer full: rows shed')
      return
    }
    for (const r of rows) this.#rows.push(JSON.stringify(r))
    if (this.#rows.length >= this.#o.maxRows) this.flush().catch(noop)
  }

  /** Inserts what is buffered (one insert at a time, not during a back-off); resolves when that attempt ends. */
  async flush (force = false): Promise<void> {
    if (this.#inFlight !== undefined) return await this.#inFlight
    if (this.#retry === undefined && this.#rows.length === 0) return
    if (!force && !this.#backoff.ready()) return
    const batch = this.#retry ?? { rows: this.#rows.splice(0, this.#o.maxRows), token: randomUUID() }
    this.#retry = batch
    this.#inFlight = (async () => {
      try {
        const r = await insertIsolating(batch.rows, batch.token, async (rows, token) => {
          await insertRows(this.client, { table: this.table, format: 'JSONEachRow', rows, settings: { insert_deduplication_token: token } })
        }, (line, _i, err) => { this.#o.quarantine.add(this.table, line, err, sidOf(line)) })
        this.quarantined += r.refused.length
        this.inserted += batch.rows.length - r.refused.length
        this.#retry = undefined
        if (this.#backoff.failures > 0) this.log.info({ table: this.table, afterFailures: this.#backoff.failures }, 'batched inserts recovered')
        this.#backoff.reset()
        // A backlog of full batches (a large send) goes in back to back, not one per tick.
        if (this.#rows.length >= this.#o.maxRows) setImmediate(() => { this.flush().catch(noop) })
      } catch (err) {
        this.failures++
        const wait = this.#backoff.fail()
        limited(this.log).warn(`writer.${this.table}.retry`, { table: this.table, err: errorText(err), rows: batch.rows.length, retryInMs: Math.round(wait) }, 'insert failed; will retry')
      }
    })().finally(() => { this.#inFlight = undefined })
    await this.#inFlight
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    for (let i = 0; i < 3 && this.buffered > 0; i++) await this.flush(true)
  }
}
