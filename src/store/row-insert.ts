import { Readable } from 'node:stream'
import type { ClickHouseClient } from '@clickhouse/client'
import type { RawInsertParams } from './chdb-session.js'

/*
 * Inserts of rows that are already text (one JSON line each), the one way every writer of
 * the click path reaches ClickHouse. With the embedded engine the lines are written into
 * one Buffer and handed to chdb's raw insert, zero-copy, instead of being joined into a
 * string that chdb's connection concatenates into one SQL text (measured,
 * bench/micro/row-insert.mjs, 2,000-row batches: CPU of all threads per observation row
 * 59 → 34 µs, per click row with clickLine 113 → 81 µs, the event loop held per click batch
 * 136 → 35 ms). Against a server the same text goes through the client's exec, as a body.
 */

type RawInsert = (p: RawInsertParams) => Promise<void>

/** The embedded clients' raw inserts (openStore registers them); remote clients have none. */
const raw = new WeakMap<ClickHouseClient, RawInsert>()

export function registerRawInsert (client: ClickHouseClient, insert: RawInsert): void {
  raw.set(client, insert)
}

export interface RowInsert {
  table: string
  /** The columns, in the order of a JSONCompactEachRow line; all of them, in table order, when absent. */
  columns?: readonly string[]
  format: 'JSONEachRow' | 'JSONCompactEachRow'
  /** One line of `format` each, without the newline. */
  rows: readonly string[]
  /** Settings of this statement (insert_deduplication_token among them). */
  settings?: Record<string, string | number>
}

/**
 * The lines, newline-terminated, in one Buffer sized exactly (a first pass of byteLength),
 * written row by row: no joined string of the whole batch is built (measured,
 * bench/micro/row-insert.mjs: 20,000 observation rows 28 ms against 63 ms for join + Buffer.from).
 */
export function rowsBuffer (rows: readonly string[]): Buffer {
  let bytes = 0
  for (const r of rows) bytes += Buffer.byteLength(r, 'utf8') + 1
  const buf = Buffer.allocUnsafe(bytes)
  let at = 0
  for (const r of rows) {
    at += buf.write(r, at)
    buf[at++] = 0x0a
  }
  return buf
}

export async function insertRows (client: ClickHouseClient, o: RowInsert): Promise<void> {
  if (o.rows.length === 0) return
  const direct = raw.get(client)
  if (direct !== undefined) {
    await direct({ table: o.table, columns: o.columns, format: o.format, values: rowsBuffer(o.rows), settings: o.settings })
    return
  }
  const columns = o.columns === undefined ? '' : ` (${o.columns.join(', ')})`
  const r = await client.exec({
    query: `INSERT INTO ${o.table}${columns} FORMAT ${o.format}`,
    values: Readable.from([o.rows.join('\n')]),
    clickhouse_settings: o.settings
  })
  // Drain the (empty) response so the connection is released.
  for await (const chunk of r.stream) void chunk // eslint-disable-line no-void -- nothing to read; draining releases the connection
}
