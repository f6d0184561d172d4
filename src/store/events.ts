import type { ClickHouseClient } from '@clickhouse/client'
import type { ClickRow, Classification } from '../records.js'

/*
 * The SQL of the Team API's reads of promoted clicks: a message's events, click exports and
 * the legacy daily stats. Every query runs on the reader with `settings` (store.readerSettings)
 * and nothing else: with chdb a query's clickhouse_settings become SETs on the shared reader
 * session, so no query here changes a setting. Every result stays under the reader's
 * max_result_rows (100 000): pages are at most MAX_PAGE_ROWS.
 */

export type Settings = Record<string, string | number>

/** The largest page any caller may ask for (the reader refuses results past 100 000 rows). */
export const MAX_PAGE_ROWS = 50_000

/** A position in the (ts, obs_id) order every read here uses: unique, so pages never overlap. */
export interface ClickKey { ts: number, obsId: string }

/** Which clicks: of these projects (by sid), optionally one message, a time range, humans only or all. */
export interface ClickFilter {
  sids: readonly string[]
  messageId?: string
  /** Unix ms, inclusive; undefined = no lower bound. */
  fromMs?: number
  /** Unix ms, exclusive; undefined = no upper bound. */
  toMs?: number
  /** false: only clicks that count for metrics (people); true: machines too. */
  includeMachine: boolean
}

/**
 * The current version of each click matching `where`, which may name only columns every
 * version of a click shares (sid, message_id, ts, obs_id, …; not the verdict or first_click).
 * Row versions (sql/040): a reclassified click has a cancel row (sign = -1, the old row's
 * values) and a new row (sign = +1, a later promoted_at); the current version is the sign = +1
 * row with the latest promoted_at. `columns` defaults to every column.
 */
export function currentClicks (where: string, columns = '*'): string {
  return `SELECT ${columns} FROM clicks WHERE sign = 1 AND ${where} ORDER BY promoted_at DESC LIMIT 1 BY obs_id`
}

/** The largest UUID in any byte order: (t, MAX_UUID) is after every click at t. */
const MAX_UUID = 'ffffffff-ffff-ffff-ffff-ffffffffffff'

// Positional, in this order (clickFrom reads them by index).
const COLUMNS = [
  'toString(obs_id)', 'toUnixTimestamp64Milli(ts)', 'sid', 'toString(message_id)', 'link_index', 'toUnixTimestamp(sent_at)',
  'recipient', 'subject', 'tag', 'metadata', 'destination_url', 'anchor_text', 'first_click', 'device_type', 'client_type',
  'client_name', 'user_agent', 'ip', 'method', 'bot_detected', 'bot_probability', 'classification', 'proxy_type',
  'reason_codes', 'machine', 'counts_for_metrics', 'retention_days', 'toString(route_id)'
].join(', ')

function clickFrom (r: unknown[]): ClickRow {
  return {
    obs_id: r[0] as string,
    ts: Number(r[1]),
    sid: r[2] as string,
    message_id: r[3] as string,
    link_index: Number(r[4]),
    sent_at: Number(r[5]),
    recipient: r[6] as string,
    subject: r[7] as string,
    tag: r[8] as string,
    metadata: r[9] as Record<string, string>,
    destination_url: r[10] as string,
    anchor_text: r[11] as string,
    first_click: r[12] as boolean,
    device_type: r[13] as string,
    client_type: r[14] as string,
    client_name: r[15] as string,
    user_agent: r[16] as string,
    ip: r[17] as string,
    method: r[18] as string,
    bot: {
      detected: r[19] as boolean,
      probability: Number(r[20]),
      classification: r[21] as Classification,
      proxy_type: r[22] as string | null,
      reason_codes: r[23] as string[],
      machine: r[24] as boolean,
      counts_for_metrics: r[25] as boolean
    },
    retention_days: Number(r[26]),
    route_id: r[27] as string
  }
}

/** How a page's rows are read: the SELECT list (ts and obs_id first), and each row's value. */
interface Shape<T> {
  columns: string
  decode: (r: unknown[]) => T
}

/** A row and its place in (ts, obs_id) order. */
interface Keyed { ts: number, obs_id: string }

const CLICK: Shape<ClickRow> = { columns: COLUMNS, decode: clickFrom }

/**
 * The click export's columns, each formatted as text by ClickHouse (so that the export does not
 * build a ClickRow per row): name, then SQL. `obs_id` comes out as is (the API turns it into the
 * event id) and `metadata` as a map (the API writes it as JSON: ClickHouse's JSON escapes `/`).
 */
export const EXPORT_COLUMNS: ReadonlyArray<readonly [string, string]> = [
  ['event_id', 'toString(obs_id)'],
  ['timestamp', "concat(formatDateTime(ts, '%Y-%m-%dT%H:%i:%S.', 'UTC'), leftPad(toString(toUnixTimestamp64Milli(ts) % 1000), 3, '0'), 'Z')"],
  ['message_id', 'toString(message_id)'],
  ['recipient', 'recipient'],
  ['subject', 'subject'],
  ['tag', 'tag'],
  ['metadata', 'metadata'],
  ['link_index', 'toString(link_index)'],
  ['destination_url', 'destination_url'],
  ['anchor_text', 'anchor_text'],
  ['first_click', "if(first_click, 'true', 'false')"],
  ['device_type', 'device_type'],
  ['client_type', 'client_type'],
  ['client_name', 'client_name'],
  ['user_agent', 'user_agent'],
  ['ip', 'ip'],
  ['method', 'method'],
  ['sent_at', "formatDateTime(sent_at, '%Y-%m-%dT%H:%i:%S.000Z', 'UTC')"],
  ['bot_detected', "if(bot_detected, 'true', 'false')"],
  ['bot_probability', 'toString(bot_probability)'],
  ['classification', 'classification'],
  ['proxy_type', "ifNull(proxy_type, '')"],
  ['reason_codes', "arrayStringConcat(reason_codes, ' ')"],
  ['machine', "if(machine, 'true', 'false')"],
  ['counts_for_metrics', "if(counts_for_metrics, 'true', 'false')"]
]

/** An export row: its cells in EXPORT_COLUMNS order, and its place in the order. */
export interface ExportRow extends Keyed { cells: unknown[] }

const EXPORT: Shape<ExportRow> = {
  columns: `toUnixTimestamp64Milli(ts), toString(obs_id), ${EXPORT_COLUMNS.map(c => c[1]).join(', ')}`,
  decode: r => ({ ts: Number(r[0]), obs_id: r[1] as string, cells: r.slice(2) })
}

async function page<T> (shape: Shape<T>, client: ClickHouseClient, settings: Settings, f: ClickFilter, key: ClickKey | undefined, direction: 'next' | 'prev', limit: number): Promise<T[]> {
  if (f.sids.length === 0) return []
  const where = ['sid IN {sids:Array(String)}']
  const params: Record<string, unknown> = { sids: f.sids, limit: Math.min(limit, MAX_PAGE_ROWS) }
  if (f.messageId !== undefined) {
    where.push('message_id = {mid:UUID}')
    params.mid = f.messageId
  }
  if (f.fromMs !== undefined) {
    where.push("ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')")
    params.from = f.fromMs
  }
  if (f.toMs !== undefined) {
    where.push("ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')")
    params.to = f.toMs
  }
  if (key !== undefined) {
    where.push(`(ts, obs_id) ${direction === 'next' ? '>' : '<'} (fromUnixTimestamp64Milli({kt:Int64}, 'UTC'), {ko:UUID})`)
    params.kt = key.ts
    params.ko = key.obsId
  }
  const order = direction === 'next' ? 'ts, obs_id' : 'ts DESC, obs_id DESC'
  const result = await client.query({
    // The current version of each click (CURRENT_CLICKS); the verdict is filtered after it is chosen.
    query: `SELECT ${shape.columns} FROM (${currentClicks(where.join(' AND '))})${f.includeMachine ? '' : ' WHERE counts_for_metrics'} ORDER BY ${order} LIMIT {limit:UInt32}`,
    query_params: params,
    // One JSON document per page: one JSON.parse, not one per row (JSONCompactEachRow).
    format: 'JSONCompact',
    clickhouse_settings: settings
  })
  const rows = (await result.json<unknown[]>()).data.map(shape.decode)
  if (direction === 'prev') rows.reverse()
  return rows
}

/** One page of clicks strictly after (`next`) or before (`prev`) `key`, in (ts, obs_id) order either way. */
export async function clickPage (client: ClickHouseClient, settings: Settings, f: ClickFilter, key: ClickKey | undefined, direction: 'next' | 'prev', limit: number): Promise<ClickRow[]> {
  return await page(CLICK, client, settings, f, key, direction, limit)
}

/** The first window an export reads: the whole range (one query for a small export). */
const MIN_WINDOW_MS = 1000

/**
 * Every row of `f` (which must have a range), in (ts, obs_id) order, as pages of at most
 * `pageRows`: keyset pagination, one bounded query per page, so an export of any size holds one
 * page in memory and the reader session is free between pages.
 *
 * The clicks table is ordered by (sid, message_id, ts), not by time, so ClickHouse sorts every
 * row a page query matches; a plain `(ts, obs_id) > key ORDER BY … LIMIT n` re-reads and sorts
 * the rest of the range for every page. Each query is therefore also bounded to a time window
 * [key, key + span) sized from the previous page: a full page asks for a window twice its own
 * span next, a short one means the window is read out and the next one is wider. The windows
 * tile the range and the key is exclusive, so every click comes exactly once.
 */
async function * pages<T extends Keyed> (shape: Shape<T>, client: ClickHouseClient, settings: Settings, f: ClickFilter & { fromMs: number, toMs: number }, pageRows: number): AsyncGenerator<T[]> {
  const limit = Math.min(pageRows, MAX_PAGE_ROWS)
  let key: ClickKey = { ts: f.fromMs - 1, obsId: MAX_UUID }
  let span = f.toMs - f.fromMs
  for (;;) {
    const hi = Math.min(f.toMs, key.ts + 1 + span)
    const rows = await page(shape, client, settings, { ...f, fromMs: Math.max(f.fromMs, key.ts), toMs: hi }, key, 'next', limit)
    if (rows.length > 0) yield rows
    if (rows.length === limit) {
      const last = rows[rows.length - 1]
      span = Math.max(MIN_WINDOW_MS, 2 * (last.ts - rows[0].ts))
      key = { ts: last.ts, obsId: last.obs_id }
      continue
    }
    if (hi >= f.toMs) return
    // The window is read out: the next one starts where it ended.
    key = { ts: hi - 1, obsId: MAX_UUID }
    span *= rows.length < limit / 4 ? 4 : 2
  }
}

/** Every click of `f` as ClickRows, page by page (see `pages`). */
export function clickPages (client: ClickHouseClient, settings: Settings, f: ClickFilter & { fromMs: number, toMs: number }, pageRows: number): AsyncGenerator<ClickRow[]> {
  return pages(CLICK, client, settings, f, pageRows)
}

/** Every click of `f` as export rows (EXPORT_COLUMNS, formatted by ClickHouse), page by page. */
export function exportPages (client: ClickHouseClient, settings: Settings, f: ClickFilter & { fromMs: number, toMs: number }, pageRows: number): AsyncGenerator<ExportRow[]> {
  return pages(EXPORT, client, settings, f, pageRows)
}

/** Whether the message is one of these projects': rewritten by them, or clicked through their tokens. */
export async function messageKnown (client: ClickHouseClient, settings: Settings, sids: readonly string[], messageId: string): Promise<boolean> {
  if (sids.length === 0) return false
  const rows = await (await client.query({
    // Both tables are ordered by (sid, message_id): two primary-key look-ups.
    query: `SELECT 1 FROM (SELECT 1 FROM messages WHERE sid IN {sids:Array(String)} AND message_id = {mid:UUID} LIMIT 1
            UNION ALL SELECT 1 FROM clicks WHERE sid IN {sids:Array(String)} AND message_id = {mid:UUID} LIMIT 1) LIMIT 1`,
    query_params: { sids, mid: messageId },
    format: 'JSONCompact',
    clickhouse_settings: settings
  })).json<unknown[]>()
  return rows.data.length > 0
}

/** One link of a message as the rewriter recorded it (message_links). */
export interface MessageLink { link_index: number, url: string, anchor_text: string, tracked: boolean, skip_reason: string }

/**
 * A message's links in link order, each index once (a retried rewrite may have written a row
 * twice), at most `limit`: one primary-key range of message_links, ordered by (sid, message_id, link_index).
 */
export async function messageLinks (client: ClickHouseClient, settings: Settings, sids: readonly string[], messageId: string, limit: number): Promise<MessageLink[]> {
  if (sids.length === 0) return []
  const rows = await (await client.query({
    query: `SELECT link_index, url, anchor_text, tracked, skip_reason FROM message_links
            WHERE sid IN {sids:Array(String)} AND message_id = {mid:UUID}
            ORDER BY link_index LIMIT 1 BY link_index LIMIT {limit:UInt32}`,
    query_params: { sids, mid: messageId, limit },
    format: 'JSONEachRow',
    clickhouse_settings: settings
  })).json<MessageLink>()
  return rows.map(r => ({ ...r, link_index: Number(r.link_index), tracked: Boolean(r.tracked) }))
}

/** Click counts of one (day, route type) cell, or of one route type over the range (day ''). */
export interface StatsCell {
  /** YYYY-MM-DD (UTC); '' in the range totals. */
  day: string
  /** 'transactional', 'broadcast', or '' when the message's route is unknown (not rewritten here, or deleted). */
  type: string
  /** Messages with at least one human click / their human clicks. */
  humanMessages: number
  humanClicks: number
  /** Messages with at least one machine click / their machine clicks. */
  machineMessages: number
  machineClicks: number
  /** Messages with any click / every click. */
  anyMessages: number
  anyClicks: number
}

export interface StatsQuery {
  sids: readonly string[]
  fromMs: number
  toMs: number
  /** Route ids by type (the control plane's routes: `messages` holds only the route id). */
  transactional: readonly string[]
  broadcast: readonly string[]
}

/**
 * Click counts per (UTC day, route type) and per route type over the whole range. A message
 * is one recipient's copy with one route, so unique-message counts add up across route types
 * (never across days: a message clicked on two days counts on both, and once in the totals).
 */
export async function clickStats (client: ClickHouseClient, settings: Settings, q: StatsQuery): Promise<{ daily: StatsCell[], totals: StatsCell[] }> {
  if (q.sids.length === 0) return { daily: [], totals: [] }
  const params = { sids: q.sids, from: q.fromMs, to: q.toMs, tx: q.transactional, bc: q.broadcast }
  const range = "c.sid IN {sids:Array(String)} AND c.ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND c.ts < fromUnixTimestamp64Milli({to:Int64}, 'UTC')"
  const inner = range.replace(/c\./g, '')
  const body = (day: string, group: string): string => `
    SELECT ${day} AS day,
      multiIf(m.route_id IN {tx:Array(UUID)}, 'transactional', m.route_id IN {bc:Array(UUID)}, 'broadcast', '') AS type,
      uniqExactIf((c.sid, c.message_id), c.counts_for_metrics) AS hm, countIf(c.counts_for_metrics) AS hc,
      uniqExactIf((c.sid, c.message_id), c.machine) AS mm, countIf(c.machine) AS mc,
      uniqExact((c.sid, c.message_id)) AS am, count() AS ac
    FROM (${currentClicks(inner, 'obs_id, sid, message_id, ts, counts_for_metrics, machine')}) AS c
    LEFT JOIN (
      SELECT sid, message_id, any(route_id) AS route_id FROM messages
      WHERE sid IN {sids:Array(String)} AND message_id IN (SELECT message_id FROM clicks WHERE ${inner})
      GROUP BY sid, message_id
    ) AS m ON c.sid = m.sid AND c.message_id = m.message_id
    WHERE ${range}
    GROUP BY ${group}`
  const run = async (sql: string): Promise<StatsCell[]> => {
    const rows = (await (await client.query({ query: sql, query_params: params, format: 'JSONCompact', clickhouse_settings: settings })).json<unknown[]>()).data
    return rows.map(r => ({ day: r[0] as string, type: r[1] as string, humanMessages: Number(r[2]), humanClicks: Number(r[3]), machineMessages: Number(r[4]), machineClicks: Number(r[5]), anyMessages: Number(r[6]), anyClicks: Number(r[7]) }))
  }
  const daily = await run(body('toString(toDate(c.ts))', 'day, type'))
  const totals = await run(body("''", 'type'))
  return { daily, totals }
}
