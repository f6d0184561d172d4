import type { ClickHouseClient } from '@clickhouse/client'
import { LATE_FIELDS_FROM, OBSERVATION_FIELDS, newObservation, type Observation } from '../records.js'
import { insertRows } from './row-insert.js'

/*
 * click_observations rows, derived from the one field table (records.ts OBSERVATION_FIELDS):
 * a row is the fields in table order with this node's id after obs_id. The codec functions are
 * generated once from the table, so they are as fast as hand-written positional code (measured:
 * a positional array stringifies about 1.5× as fast as an object with the same fields,
 * bench/micro/observation-row.mjs) and no field list is written twice.
 */

const NODE_AFTER = OBSERVATION_FIELDS.findIndex(f => f.key === 'id') + 1
const FIELDS = OBSERVATION_FIELDS

/** Columns of click_observations we write, in the order `toRow` emits them. */
export const OBSERVATION_COLUMNS: readonly string[] = [
  ...FIELDS.slice(0, NODE_AFTER).map(f => f.column), 'node_id', ...FIELDS.slice(NODE_AFTER).map(f => f.column)
]

// The expressions of a row, in column order (booleans written as true/false whatever they held).
const ROW_EXPRESSIONS = [
  ...FIELDS.slice(0, NODE_AFTER).map(f => f.type === 'boolean' ? `o.${f.key} === true` : `o.${f.key}`), 'nodeId',
  ...FIELDS.slice(NODE_AFTER).map(f => f.type === 'boolean' ? `o.${f.key} === true` : `o.${f.key}`)
]

/**
 * One JSONCompactEachRow line: the text the spool keeps, so an observation is serialised once
 * on its way to ClickHouse (integer milliseconds are read as DateTime64(3) ticks).
 */

// eslint-disable-next-line no-new-func -- generated once at load from the field table (records.ts), never from input
export const toRow = new Function('o', 'nodeId', `return JSON.stringify([${ROW_EXPRESSIONS.join(', ')}])`) as (o: Observation, nodeId: string) => string

// Reads a parsed row array `a` into a new observation; the node id is skipped. A row spooled
// by a version before the late fields (blocked, then scheme and x_native_host, then honeypot) were added is
// shorter: the fields it lacks keep their initial values.
const SHORTEST_ROW = LATE_FIELDS_FROM + 1 // the leading fields and node_id

// eslint-disable-next-line no-new-func -- generated once at load from the field table (records.ts), never from input
const readRow = new Function('a', 'o', OBSERVATION_COLUMNS.map((c, i) => {
  if (c === 'node_id') return ''
  const f = FIELDS[i < NODE_AFTER ? i : i - 1]
  const read = f.type === 'boolean' ? `o.${f.key} = a[${i}] === true` : `o.${f.key} = a[${i}]`
  return i < SHORTEST_ROW ? read : `if (a.length > ${i}) ${read}`
}).filter(s => s !== '').join('\n') + '\nreturn o') as (a: unknown[], o: Observation) => Observation

const ID_AT = OBSERVATION_COLUMNS.indexOf('obs_id')
const SID_AT = OBSERVATION_COLUMNS.indexOf('sid')
const MESSAGE_AT = OBSERVATION_COLUMNS.indexOf('message_id')

/** The inverse of toRow: an observation from its prepared row (spool replays). Throws on anything else. */
export function fromRow (row: string): Observation {
  const a = JSON.parse(row) as unknown[]
  if (!Array.isArray(a) || a.length > OBSERVATION_COLUMNS.length || a.length < SHORTEST_ROW ||
      typeof a[0] !== 'number' || typeof a[ID_AT] !== 'string' || typeof a[SID_AT] !== 'string' || typeof a[MESSAGE_AT] !== 'string') {
    throw new TypeError('not an observation row')
  }
  return readRow(a, newObservation())
}

/**
 * Inserts prepared rows (JSONCompactEachRow lines). `token` is the
 * insert_deduplication_token: the same token again is stored once (the table keeps a
 * non-replicated deduplication window), which makes retries and replays idempotent.
 */
export async function insertObservationRows (client: ClickHouseClient, rows: string[], token: string): Promise<void> {
  await insertRows(client, {
    table: 'click_observations',
    columns: OBSERVATION_COLUMNS,
    format: 'JSONCompactEachRow',
    rows,
    // One thread for parsing and writing, so an insert leaves the other core to the redirect
    // thread. It did not remove the insert's own stall of the event loop (measured,
    // bench/micro/insert-threads.mjs: 20,000 rows held a busy main thread 40–65 ms at
    // max_threads 1 and at auto alike, most of it rows.join and chdb's copy of the SQL
    // text): the rows now reach chdb as one Buffer (store/row-insert.ts).
    settings: { insert_deduplication_token: token, async_insert: 0, max_threads: 1, max_insert_threads: 1, input_format_parallel_parsing: 0 }
  })
}

// Columns read back as the row codec expects them: times as numbers, UUIDs as text.
const READ_BACK: Record<string, string> = {
  ts: 'toUnixTimestamp64Milli(ts) AS ts',
  sent_at: 'toUnixTimestamp(sent_at) AS sent_at',
  obs_id: 'toString(obs_id) AS obs_id',
  message_id: 'toString(message_id) AS message_id'
}
/**
 * Every observation column of the click_observations rows matching `where`, as
 * readObservationRow reads them. `where` is applied to the table's own columns in a subquery:
 * the read-back aliases (message_id as text, ts as a number) would shadow them.
 */
export function observationsWhere (where: string): string {
  return `SELECT ${OBSERVATION_COLUMNS.map(c => READ_BACK[c] ?? c).join(', ')} FROM (SELECT * FROM click_observations WHERE ${where})`
}
const SINCE_SQL = `SELECT ${OBSERVATION_COLUMNS.map(c => READ_BACK[c] ?? c).join(', ')} FROM click_observations WHERE node_id = {node:String} AND ts > fromUnixTimestamp64Milli({from:Int64}) ORDER BY ts`
const TS_AT = OBSERVATION_COLUMNS.indexOf('ts')
const SENT_AT = OBSERVATION_COLUMNS.indexOf('sent_at')

/** Observations this node captured after `fromMs` (promotion reads them back after a restart). */
export async function observationsSince (client: ClickHouseClient, nodeId: string, fromMs: number): Promise<Observation[]> {
  const rs = await client.query({ query: SINCE_SQL, query_params: { node: nodeId, from: fromMs }, format: 'JSONCompactEachRow' })
  const rows = await rs.json<unknown[]>()
  return rows.map(readObservationRow)
}

/** An observation from a row read back with OBSERVATION_COLUMNS (times as numbers, UUIDs as text, as observationsSince selects them). */
export function readObservationRow (r: unknown[]): Observation {
  // 64-bit integers arrive quoted (output_format_json_quote_64bit_integers).
  r[TS_AT] = Number(r[TS_AT])
  r[SENT_AT] = Number(r[SENT_AT])
  return readRow(r, newObservation())
}

/** The promotion partition of a message id in SQL: the same number as promote/partitions.ts partitionOf. */
export const PARTITION_SQL = 'CRC32(toString(message_id)) % {count:UInt16}'

const PARTITION_SQL_TEXT = `SELECT ${OBSERVATION_COLUMNS.map(c => READ_BACK[c] ?? c).join(', ')}, toUnixTimestamp64Milli(ingested_at) AS ingested
  FROM click_observations
  WHERE ${PARTITION_SQL} IN {partitions:Array(UInt16)} AND ts > fromUnixTimestamp64Milli({from:Int64})
    AND ingested_at >= fromUnixTimestamp64Milli({ingestedFrom:Int64})
  ORDER BY ts`

/**
 * Every node's observations of the promotion `partitions` (of `count`) captured after
 * `fromMs` and taken by ClickHouse at or after `ingestedFromMs` (its own clock), with the
 * latest such ingest time (0 when none): a partition's owner reads them back at hand-over and
 * polls them as they come.
 */
export async function partitionObservations (client: ClickHouseClient, count: number, partitions: number[], fromMs: number, ingestedFromMs: number): Promise<{ observations: Observation[], ingested: number[], maxIngestedAt: number }> {
  if (partitions.length === 0) return { observations: [], ingested: [], maxIngestedAt: 0 }
  const rs = await client.query({
    query: PARTITION_SQL_TEXT,
    query_params: { count, partitions, from: Math.floor(fromMs), ingestedFrom: Math.max(0, Math.floor(ingestedFromMs)) },
    format: 'JSONCompactEachRow'
  })
  const rows = await rs.json<unknown[]>()
  const observations: Observation[] = []
  const ingested: number[] = []
  let maxIngestedAt = 0
  for (const r of rows) {
    const at = Number(r.pop())
    ingested.push(at)
    if (at > maxIngestedAt) maxIngestedAt = at
    r[TS_AT] = Number(r[TS_AT])
    r[SENT_AT] = Number(r[SENT_AT])
    observations.push(readRow(r, newObservation()))
  }
  return { observations, ingested, maxIngestedAt }
}
