import { randomUUID } from 'node:crypto'
import type { ClickHouseClient } from '@clickhouse/client'
import type { Logger } from '../log.js'

/**
 * Rows for one table, inserted in batches (by size and by time), each insert with its own
 * deduplication token and retried with the same one until ClickHouse takes it. Bounded
 * in memory: past `maxBuffered` rows new ones are shed and counted. Used for records that
 * are not on the click path (messages, message links); observations have the disk spool.
 */
export class BatchedWriter {
  #rows: Array<Record<string, unknown>> = []
  #inFlight: Promise<void> | undefined
  #timer: NodeJS.Timeout
  #retry: { rows: Array<Record<string, unknown>>, token: string } | undefined
  inserted = 0
  shed = 0
  failures = 0

  constructor (readonly client: ClickHouseClient, readonly table: string, readonly log: Logger, readonly flushMs = 1000, readonly maxRows = 10_000, readonly maxBuffered = 1_000_000) {
    this.#timer = setInterval(() => { void this.flush() }, flushMs)
    this.#timer.unref()
  }

  get buffered (): number { return this.#rows.length + (this.#retry?.rows.length ?? 0) }

  add (rows: Array<Record<string, unknown>>): void {
    if (this.buffered + rows.length > this.maxBuffered) {
      this.shed += rows.length
      this.log.warn({ table: this.table, rows: rows.length }, 'batched writer full: rows shed')
      return
    }
    for (const r of rows) this.#rows.push(r)
    if (this.#rows.length >= this.maxRows) void this.flush()
  }

  /** Inserts what is buffered (one insert at a time); resolves when that attempt ends. */
  async flush (): Promise<void> {
    if (this.#inFlight !== undefined) return await this.#inFlight
    if (this.#retry === undefined && this.#rows.length === 0) return
    const batch = this.#retry ?? { rows: this.#rows.splice(0, this.maxRows), token: randomUUID() }
    this.#retry = batch
    this.#inFlight = (async () => {
      try {
        await this.client.insert({ table: this.table, values: batch.rows, format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: batch.token } })
        this.inserted += batch.rows.length
        this.#retry = undefined
      } catch (err) {
        this.failures++
        if (this.failures === 1 || this.failures % 20 === 0) this.log.warn({ table: this.table, err: (err as Error).message }, 'insert failed; will retry')
      }
    })().finally(() => { this.#inFlight = undefined })
    await this.#inFlight
  }

  async close (): Promise<void> {
    clearInterval(this.#timer)
    for (let i = 0; i < 3 && this.buffered > 0; i++) await this.flush()
  }
}
