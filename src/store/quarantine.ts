import { createHash } from 'node:crypto'
import type { ClickHouseClient } from '@clickhouse/client'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'
import { Backoff } from '../backoff.js'
import { counter, gauge, labelled, type Metric } from '../metrics.js'

/** A flush never throws (its failures are counted and retried): nothing to handle. */
const noop = (): void => {}

/*
 * A row the database refuses must not block anything else (issue 10, rule 2). Every
 * writer inserts through `insertIsolating`: when ClickHouse refuses a batch because of
 * its data, the batch is split in halves, and halves again, until each refused row is
 * alone; every other row is stored and each refused one goes to the quarantine table
 * with the error. When the server or the schema is the problem (down, timeouts, memory,
 * read-only, a missing table), the error is thrown: the caller backs off and retries the
 * same batch later.
 *
 * Exactly once: the halves get tokens derived from the batch's token (`-a`, `-b`), so a
 * retry of the same batch (after a crash, with the token its intent recorded) splits the
 * same way and ClickHouse drops the parts it already has.
 */

// ClickHouse exception codes that say the server, the connection or the schema is at fault,
// not the rows: the same rows may well go in later. Everything else ClickHouse answers
// with a code (parse errors, bad escapes, type and range errors, …) is about the data.
// Codes: github.com/ClickHouse/ClickHouse src/Common/ErrorCodes.cpp.
const SYSTEMIC_CODES = new Set([
  8, 10, 16, 47, 60, 81, // no such column / identifier / table / database: schema not there yet
  32, 33, // read after EOF, cannot read all data: a cut request body (transport)
  48, 62, // not implemented, syntax error: our statement, not the rows
  74, 75, 76, 107, 173, 243, // file descriptors, files, allocation, disk space
  159, 160, 164, 202, 203, 209, 210, 236, 241, 242, 252, 279, 285, 286, 290, 319, 394, 425, 439, 473, // server state
  225, 234, 999, // ZooKeeper/Keeper, replicas
  497, 516, // access denied, authentication
  1000, 1001, 1002 // POCO / std / unknown exceptions
])

/** True when ClickHouse refused the data itself: retrying the same rows will fail again. */
export function isDataError (err: unknown): boolean {
  const e = err as { code?: unknown, type?: unknown }
  if (e === null || typeof e !== 'object' || typeof e.type !== 'string') return false
  const code = Number(e.code)
  return Number.isInteger(code) && code > 0 && !SYSTEMIC_CODES.has(code)
}

export type InsertFn<R> = (rows: R[], token: string) => Promise<void>

export interface IsolationResult {
  /** Indexes (into the rows given) of the rows ClickHouse refused, ascending. */
  refused: number[]
  /** Inserts made (1 when nothing was refused). */
  inserts: number
}

/**
 * Inserts `rows` with `token`; on a data error, bisects until every refused row is alone
 * and calls `onRefused` for each (the rest is stored). Throws on any other error: what was
 * inserted before it is deduplicated when the caller retries the same rows with the same token.
 */
export async function insertIsolating<R> (rows: R[], token: string, insert: InsertFn<R>, onRefused: (row: R, index: number, err: unknown) => void): Promise<IsolationResult> {
  const result: IsolationResult = { refused: [], inserts: 0 }
  await isolate(rows, 0, token, insert, onRefused, result)
  return result
}

async function isolate<R> (rows: R[], offset: number, token: string, insert: InsertFn<R>, onRefused: (row: R, index: number, err: unknown) => void, result: IsolationResult): Promise<void> {
  if (rows.length === 0) return
  result.inserts++
  try {
    await insert(rows, token)
    return
  } catch (err) {
    if (!isDataError(err)) throw err
    if (rows.length === 1) {
      result.refused.push(offset)
      onRefused(rows[0], offset, err)
      return
    }
  }
  const mid = rows.length >>> 1
  await isolate(rows.slice(0, mid), offset, `${token}-a`, insert, onRefused, result)
  await isolate(rows.slice(mid), offset + mid, `${token}-b`, insert, onRefused, result)
}

/** Longest `row` text kept in the quarantine (the rest is cut, and `truncated` set). */
export const MAX_QUARANTINED_ROW_CHARS = 256 * 1024

interface QuarantinedRow {
  ts: number
  source: string
  sid: string
  node_id: string
  error: string
  row: string
  truncated: boolean
}

export class QuarantineStats {
  /** Rows quarantined (accepted into the quarantine buffer), by source. */
  readonly bySource = new Map<string, number>()
  rows = 0
  /** Rows that could not even be quarantined (buffer full, or the quarantine table refused them). */
  shed = 0
  /** Failed inserts into the quarantine table (retried with back-off). */
  failures = 0
}

export interface QuarantineOptions {
  nodeId?: string
  flushMs?: number
  /** Quarantined rows held in memory while the table cannot be written, at most. */
  maxBuffered?: number
}

/**
 * The dead-letter table: `add` a refused row with its error; rows are inserted in batches
 * (retried with back-off when ClickHouse is unavailable), counted in /metrics and logged
 * once per source and interval.
 */
export class Quarantine {
  metrics (): Metric[] {
    const q = this.stats
    return [
      labelled('clicktrail_quarantined_total', 'rows the database refused, moved to the quarantine table, by the table they were meant for', 'counter', [...q.bySource].map(([source, value]) => ({ labels: { source }, value }))),
      counter('clicktrail_quarantine_shed_total', 'refused rows that could not be quarantined either (buffer full, or refused by the quarantine table)', q.shed),
      counter('clicktrail_quarantine_failures_total', 'failed inserts into the quarantine table (retried with back-off)', q.failures),
      gauge('clicktrail_quarantine_buffered', 'quarantined rows waiting to be written', this.buffered)
    ]
  }

  readonly stats = new QuarantineStats()
  readonly #client: ClickHouseClient
  readonly #log: Logger
  readonly #nodeId: string
  readonly #maxBuffered: number
  readonly #backoff = new Backoff(200, 30_000)
  #rows: QuarantinedRow[] = []
  #inFlight: Promise<void> | undefined
  readonly #timer: NodeJS.Timeout

  constructor (client: ClickHouseClient, log: Logger, options: QuarantineOptions = {}) {
    this.#client = client
    this.#log = log
    this.#nodeId = options.nodeId ?? ''
    this.#maxBuffered = options.maxBuffered ?? 10_000
    this.#timer = setInterval(() => { this.flush().catch(noop) }, options.flushMs ?? 500)
    this.#timer.unref()
  }

  get buffered (): number { return this.#rows.length }

  /** Quarantines one refused row. `row` is its text, or a value to serialise as JSON. */
  add (source: string, row: unknown, err: unknown, sid = ''): void {
    const error = errorText(err)
    limited(this.#log).warn(`quarantine.${source}`, { source, sid, error }, 'row refused by ClickHouse: quarantined, the rest of its batch went through')
    if (this.#rows.length >= this.#maxBuffered) {
      this.stats.shed++
      limited(this.#log).error('quarantine.shed', { source, buffered: this.#rows.length }, 'quarantine buffer full: refused row dropped')
      return
    }
    let text = typeof row === 'string' ? row : safeJson(row)
    const truncated = text.length > MAX_QUARANTINED_ROW_CHARS
    if (truncated) text = text.slice(0, MAX_QUARANTINED_ROW_CHARS)
    this.#rows.push({ ts: Date.now(), source, sid: wellFormed(sid), node_id: this.#nodeId, error: wellFormed(error), row: wellFormed(text), truncated })
    this.stats.rows++
    this.stats.bySource.set(source, (this.stats.bySource.get(source) ?? 0) + 1)
  }

  /** Inserts what is buffered; one insert at a time; never throws. */
  async flush (): Promise<void> {
    if (this.#inFlight !== undefined) return await this.#inFlight
    if (this.#rows.length === 0 || !this.#backoff.ready()) return
    const rows = this.#rows.splice(0, 1000)
    const token = 'ct-quarantine-' + createHash('sha256').update(rows.map(r => `${r.ts}:${r.source}:${r.row}`).join('\n')).digest('hex').slice(0, 32)
    this.#inFlight = (async () => {
      try {
        await this.#client.insert({ table: 'quarantine', values: rows, format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: token } })
        this.#backoff.reset()
      } catch (err) {
        if (isDataError(err)) {
          // The quarantine itself refused them: nothing left to try (never recurse).
          this.stats.shed += rows.length
          limited(this.#log).error('quarantine.refused', { rows: rows.length, error: errorText(err) }, 'the quarantine table refused rows: dropped')
          return
        }
        this.stats.failures++
        this.#rows.unshift(...rows)
        const wait = this.#backoff.fail()
        limited(this.#log).warn('quarantine.retry', { error: errorText(err), retryInMs: Math.round(wait) }, 'quarantine insert failed; will retry')
      }
    })().finally(() => { this.#inFlight = undefined })
    await this.#inFlight
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    for (let i = 0; i < 3 && this.#rows.length > 0; i++) {
      this.#backoff.reset()
      await this.flush()
    }
  }
}

/** The first line of an error's message, for logs and the quarantine's `error` column. */
export function errorText (err: unknown): string {
  const text = err instanceof Error ? `${err.message}` : String(err)
  const line = text.split('\n')[0]
  return line.length > 2000 ? line.slice(0, 2000) : line
}

function safeJson (value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

function wellFormed (s: string): string {
  return s.isWellFormed() ? s : s.toWellFormed()
}
