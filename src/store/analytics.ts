import type { ClickHouseClient } from '@clickhouse/client'

/*
 * The SQL of the analytics API (src/analytics/ owns what the numbers mean; README,
 * "Analytics API"). One aggregation shape serves the summary, the time series and the
 * breakdown: click aggregates grouped by up to three keys (and a time bucket), joined with
 * tracked messages grouped by the keys that are attributes of the message. Every value
 * reaches ClickHouse as a bound parameter; keys are compared as String on both sides.
 *
 * Unique counts are exact (uniqExact): the API promises the same number the raw rows give.
 * "Unique per recipient" is distinct (sid, message_id): each recipient has a message id of
 * its own (sql/005_messages.sql), so a recipient who clicked three times counts once and a
 * recipient of two emails counts once per email.
 */

/**
 * (sid, message_id) as one UInt128: the message id XOR the sid's hash. One-to-one within a
 * project; two projects' pairs meet only if their ids differ by exactly the XOR of the two
 * sids' hashes (random v4 ids: never). uniqExact over it is 3.5–6× cheaper than over the
 * pair, which it must SipHash row by row (measured, bench/micro/analytics-queries.mjs).
 */
export const RECIPIENT = 'bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid)))'
/** (sid, message_id, link_index) as one UInt128: the link index in the top 16 bits. */
export const RECIPIENT_LINK = `bitXor(${RECIPIENT}, bitShiftLeft(toUInt128(link_index), 112))`

export type KeyKind = 'project' | 'route' | 'message_id' | 'link_index' | 'destination_url' | 'tag' | 'metadata' | 'device_type' | 'client_type' | 'client_name' | 'classification' | 'proxy_type' | 'reason_code' | 'first_click' | 'is_human' | 'is_machine'
export interface SqlDim { kind: KeyKind, key?: string }
export type SqlOp = 'eq' | 'in' | 'not_in' | 'is_null' | 'is_not_null'
export interface SqlFilter { dim: SqlDim, op: SqlOp, values: Array<string | number | boolean> }

/** What the click side can count: per recipient (distinct messages) and per observation. */
export const CLICK_COLUMNS = [
  'clicks', 'human_clicks', 'machine_clicks', 'privacy_clicks', 'bot_clicks', 'scanner_clicks', 'preview_clicks',
  'clicks_events', 'human_clicks_events', 'machine_clicks_events', 'privacy_clicks_events', 'bot_clicks_events', 'scanner_clicks_events', 'preview_clicks_events',
  'unique_links_clicked', 'median_time_to_first_click'
] as const
export type ClickColumn = typeof CLICK_COLUMNS[number]
/** A column of the answer: a click column, tracked_messages, or the rate (for ordering). */
export type AggColumn = ClickColumn | 'tracked_messages' | 'human_click_rate'

/** Message attributes: `messages` has them as well as `clicks`. */
export const MESSAGE_KEYS: ReadonlySet<KeyKind> = new Set(['project', 'route', 'message_id', 'tag', 'metadata'])

export interface AggSpec {
  sids: readonly string[]
  /** Unix ms, `to` exclusive. */
  from: number
  to: number
  filters: readonly SqlFilter[]
  keys: readonly SqlDim[]
  /** Points: local days or hours of `tz`; `wholeHours`: every offset of `tz` over the range is whole hours (UTC hours make its hours and days). */
  bucket?: { unit: 'hour' | 'day', tz: string, wholeHours: boolean }
  clickColumns: readonly ClickColumn[]
  /** Count tracked messages (sent in the range, tracking on) by the message keys. */
  messages: boolean
  /** Breakdown pages: sorted in SQL, every group counted (total). */
  page?: { by: AggColumn, desc: boolean, limit: number, offset: number }
  /** Only these key tuples (a page's groups, for their series or their previous period). */
  only?: ReadonlyArray<readonly string[]>
}

export interface AggRow {
  keys: string[]
  /** Bucket start, unix ms. */
  bucket?: number
  values: Partial<Record<AggColumn, number | null>>
  /** Groups in the whole breakdown (page queries only). */
  total?: number
}

/** Where the click side comes from: the raw table or a materialized view (see analytics views). */
export interface ClickSource {
  /** For meta.source and the tests. */
  name: string
  /** SQL of the click side: keys as k0.., bucket as b, click columns as c_<name>. */
  sql (spec: AggSpec, p: Params): string
}

const ZERO_UUID = '00000000-0000-0000-0000-000000000000'

/** Bound parameters of one statement, named p0, p1, … */
export class Params {
  readonly values: Record<string, unknown> = {}
  #n = 0
  add (type: string, value: unknown): string {
    const name = `p${this.#n++}`
    this.values[name] = value
    return `{${name}:${type}}`
  }
}

/** A key as a String expression over `clicks` (or a view with the same column names). */
export function clickKeyExpr (d: SqlDim, p: Params): string {
  switch (d.kind) {
    case 'project': return 'CAST(sid AS String)'
    case 'route': return `if(route_id = toUUID('${ZERO_UUID}'), '', toString(route_id))`
    case 'message_id': return 'toString(message_id)'
    case 'link_index': return 'toString(link_index)'
    case 'destination_url': return 'destination_url'
    case 'metadata': return `metadata[${p.add('String', d.key)}]`
    case 'proxy_type': return "CAST(ifNull(proxy_type, '') AS String)"
    case 'reason_code': return "arrayJoin(if(empty(reason_codes), [''], CAST(reason_codes AS Array(String))))"
    case 'first_click': return "if(first_click, 'true', 'false')"
    case 'is_human': return "if(counts_for_metrics, 'true', 'false')"
    case 'is_machine': return "if(machine, 'true', 'false')"
    default: return `CAST(${d.kind} AS String)`
  }
}

function messageKeyExpr (d: SqlDim, p: Params): string {
  switch (d.kind) {
    case 'project': return 'CAST(sid AS String)'
    case 'route': return `if(route_id = toUUID('${ZERO_UUID}'), '', toString(route_id))`
    case 'message_id': return 'toString(message_id)'
    case 'tag': return 'CAST(tag AS String)'
    case 'metadata': return `metadata[${p.add('String', d.key)}]`
    default: throw new Error(`${d.kind} is not a message attribute`)
  }
}

/** One filter as a condition over `clicks`. Null is the empty value ('' or the zero UUID, no reason codes). */
export function clickFilterExpr (f: SqlFilter, p: Params): string {
  const { dim, op, values } = f
  switch (dim.kind) {
    case 'reason_code': {
      if (op === 'is_null') return 'empty(reason_codes)'
      if (op === 'is_not_null') return 'notEmpty(reason_codes)'
      const any = `hasAny(reason_codes, ${p.add('Array(String)', values)})`
      return op === 'not_in' ? `NOT ${any}` : any
    }
    case 'first_click': case 'is_human': case 'is_machine': {
      const col = dim.kind === 'first_click' ? 'first_click' : dim.kind === 'is_human' ? 'counts_for_metrics' : 'machine'
      if (op === 'is_null') return '0'
      if (op === 'is_not_null') return '1'
      return `${col} ${op === 'not_in' ? 'NOT IN' : 'IN'} ${p.add('Array(Bool)', values)}`
    }
    case 'link_index':
      if (op === 'is_null') return '0'
      if (op === 'is_not_null') return '1'
      return `link_index ${op === 'not_in' ? 'NOT IN' : 'IN'} ${p.add('Array(UInt16)', values)}`
    case 'message_id': case 'route': {
      const col = dim.kind === 'route' ? 'route_id' : 'message_id'
      if (op === 'is_null') return `${col} = toUUID('${ZERO_UUID}')`
      if (op === 'is_not_null') return `${col} != toUUID('${ZERO_UUID}')`
      return `${col} ${op === 'not_in' ? 'NOT IN' : 'IN'} ${p.add('Array(UUID)', values)}`
    }
    default:
      return stringFilter(clickKeyExpr(dim, p), f, p)
  }
}

function messageFilterExpr (f: SqlFilter, p: Params): string {
  const { dim, op, values } = f
  if (dim.kind === 'message_id' || dim.kind === 'route') {
    const col = dim.kind === 'route' ? 'route_id' : 'message_id'
    if (op === 'is_null') return `${col} = toUUID('${ZERO_UUID}')`
    if (op === 'is_not_null') return `${col} != toUUID('${ZERO_UUID}')`
    return `${col} ${op === 'not_in' ? 'NOT IN' : 'IN'} ${p.add('Array(UUID)', values)}`
  }
  return stringFilter(messageKeyExpr(dim, p), f, p)
}

function stringFilter (expr: string, f: SqlFilter, p: Params): string {
  if (f.op === 'is_null') return `${expr} = ''`
  if (f.op === 'is_not_null') return `${expr} != ''`
  return `${expr} ${f.op === 'not_in' ? 'NOT IN' : 'IN'} ${p.add('Array(String)', f.values.map(String))}`
}

/** The predicate of each click class, over `clicks` columns. */
export const CLASS_PREDICATE: Record<string, string> = {
  clicks: '1',
  human_clicks: 'counts_for_metrics',
  machine_clicks: 'machine',
  privacy_clicks: "classification = 'privacy_proxy'",
  bot_clicks: "classification = 'generic_bot'",
  scanner_clicks: "classification = 'security_scanner'",
  preview_clicks: "classification = 'link_preview'"
}

/**
 * Re-classification (issue 16) inserts, for a click, a cancel row (the old row's exact values,
 * sign = -1) and a new row (sign = +1). A cancel row and the row it cancels agree on every
 * column, so a filter or a group takes both or neither: an observation count is sum(sign) over
 * any group, and a recipient counts in a class when its rows of that class sum to > 0. Every
 * click side therefore yields the same inner rows, one per group keys (and bucket), recipient
 * and verdict (classification, counts_for_metrics, machine), with `ev` their signed count;
 * plus, for the median, one row per surviving first click (fin = 1, first_delay). The outer
 * aggregation below turns them into the click columns, whatever table they came from.
 */
export function clickColumn (c: ClickColumn): string {
  if (c === 'unique_links_clicked') return `uniqExactIf(${RECIPIENT_LINK}, ev > 0 AND counts_for_metrics)`
  // Seconds from sending to the recipient's first human click, over the surviving first
  // clicks (one per message at most); null when there are none.
  if (c === 'median_time_to_first_click') return 'if(countIf(fin = 1) = 0, NULL, quantileExactInclusiveIf(0.5)(first_delay, fin = 1))'
  if (c.endsWith('_events')) {
    const cls = c.slice(0, -7)
    return cls === 'clicks' ? 'sum(ev)' : `sumIf(ev, ${CLASS_PREDICATE[cls]})`
  }
  return c === 'clicks' ? `uniqExactIf(${RECIPIENT}, ev > 0)` : `uniqExactIf(${RECIPIENT}, ev > 0 AND ${CLASS_PREDICATE[c]})`
}

/** The inner rows' shared columns after the keys and bucket. */
export const VERDICT = 'sid, message_id, classification, counts_for_metrics, machine'

/** The outer aggregation over inner rows (k0.., b, VERDICT, [link_index], ev, fin, first_delay). */
export function outerSelect (spec: AggSpec, inner: string): string {
  const select: string[] = spec.keys.map((_, i) => `k${i}`)
  if (spec.bucket !== undefined) select.push('b')
  const group = [...select]
  for (const c of spec.clickColumns) select.push(`${clickColumn(c)} AS c_${c}`)
  return `SELECT ${select.join(', ')} FROM (${inner})${group.length > 0 ? ` GROUP BY ${group.join(', ')}` : ''}`
}

/** Seconds from sending to a click (its first-click delay), over `clicks` columns. */
export const DELAY = '(toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000'

export function bucketExpr (column: string, spec: AggSpec, p: Params): string {
  const b = spec.bucket as NonNullable<AggSpec['bucket']>
  const fn = b.unit === 'day' ? 'toStartOfDay' : 'toStartOfHour'
  return `toUnixTimestamp(${fn}(${column}, ${p.add('String', b.tz)}))`
}

export function rangeOf (column: string, spec: AggSpec, p: Params): string {
  return `${column} >= fromUnixTimestamp64Milli(${p.add('Int64', spec.from)}, 'UTC') AND ${column} < fromUnixTimestamp64Milli(${p.add('Int64', spec.to)}, 'UTC')`
}

/**
 * The surviving first clicks in the range, as inner rows (fin = 1): from `clicks` (the rows
 * of each observation and verdict summed by sign, kept when > 0) or analytics_first_clicks
 * read FINAL (its parts' rows of a click merged in key order, kept when their count `n` is
 * > 0: the same rows without hashing every first click, 19.6 -> 10.6 ms over 4,974 of them,
 * measured, bench/micro/analytics-queries.mjs). Keys and filters as over `clicks`.
 */
export function firstClickRows (spec: AggSpec, p: Params, table: 'clicks' | 'analytics_first_clicks', links: boolean): string {
  const raw = table === 'clicks'
  const cols = spec.keys.map((k, i) => `${clickKeyExpr(k, p)} AS k${i}`)
  const group = spec.keys.map((_, i) => `k${i}`)
  if (spec.bucket !== undefined) {
    cols.push(`${bucketExpr('ts', spec, p)} AS b`)
    group.push('b')
  }
  cols.push(VERDICT, ...(links ? ['link_index'] : []), 'toInt64(0) AS ev', 'toUInt8(1) AS fin', `toFloat64(${raw ? `any(${DELAY})` : 'delay'}) AS first_delay`)
  group.push(VERDICT, ...(links ? ['link_index'] : []), 'obs_id', 'ts')
  const where = [`sid IN ${p.add('Array(String)', spec.sids)}`, rangeOf('ts', spec, p), ...(raw ? ['first_click'] : []), ...spec.filters.map(f => clickFilterExpr(f, p))]
  if (!raw) return `SELECT ${cols.join(', ')} FROM ${table} FINAL WHERE ${[...where, 'n > 0'].join(' AND ')}`
  return `SELECT ${cols.join(', ')} FROM ${table} WHERE ${where.join(' AND ')} GROUP BY ${group.join(', ')} HAVING sum(sign) > 0`
}

/** The raw `clicks` table: answers every query. */
export const RAW_CLICKS: ClickSource = {
  name: 'clicks',
  sql (spec, p) {
    const links = spec.clickColumns.includes('unique_links_clicked')
    const cols = spec.keys.map((k, i) => `${clickKeyExpr(k, p)} AS k${i}`)
    const group = spec.keys.map((_, i) => `k${i}`)
    if (spec.bucket !== undefined) {
      cols.push(`${bucketExpr('ts', spec, p)} AS b`)
      group.push('b')
    }
    cols.push(VERDICT, ...(links ? ['link_index'] : []), 'sum(toInt64(sign)) AS ev', 'toUInt8(0) AS fin', 'toFloat64(0) AS first_delay')
    group.push(VERDICT, ...(links ? ['link_index'] : []))
    const where = [`sid IN ${p.add('Array(String)', spec.sids)}`, rangeOf('ts', spec, p), ...spec.filters.map(f => clickFilterExpr(f, p))]
    let inner = `SELECT ${cols.join(', ')} FROM clicks WHERE ${where.join(' AND ')} GROUP BY ${group.join(', ')}`
    if (spec.clickColumns.includes('median_time_to_first_click')) inner += ` UNION ALL ${firstClickRows(spec, p, 'clicks', links)}`
    return outerSelect(spec, inner)
  }
}

function messagesSql (spec: AggSpec, p: Params, keys: Array<{ dim: SqlDim, i: number }>): string {
  const select = keys.map(({ dim, i }) => `${messageKeyExpr(dim, p)} AS k${i}`)
  const group = keys.map(({ i }) => `k${i}`)
  if (spec.bucket !== undefined) {
    select.push(`${bucketExpr('sent_at', spec, p)} AS b`)
    group.push('b')
  }
  select.push(`uniqExact(${RECIPIENT}) AS m_tracked_messages`)
  const where = [`sid IN ${p.add('Array(String)', spec.sids)}`, 'tracking', rangeOf('sent_at', spec, p), ...spec.filters.filter(f => MESSAGE_KEYS.has(f.dim.kind)).map(f => messageFilterExpr(f, p))]
  return `SELECT ${select.join(', ')} FROM messages WHERE ${where.join(' AND ')}${group.length > 0 ? ` GROUP BY ${group.join(', ')}` : ''}`
}

function orderExpr (by: AggColumn): string {
  if (by === 'human_click_rate') return 'if(tracked_messages = 0, NULL, human_clicks / tracked_messages)'
  return by
}

/** The full statement of `spec` with the click side from `source`. */
export function aggSql (spec: AggSpec, source: ClickSource, p: Params): string {
  const keyCols = spec.keys.map((_, i) => `k${i}`)
  const hasBucket = spec.bucket !== undefined
  const outer: string[] = [...keyCols]
  if (hasBucket) outer.push('b')
  const clickSql = source.sql(spec, p)
  let from: string
  if (!spec.messages) {
    from = `(${clickSql}) AS c`
    for (const c of spec.clickColumns) outer.push(`c_${c} AS ${c}`)
  } else {
    const msgKeys = spec.keys.map((dim, i) => ({ dim, i })).filter(k => MESSAGE_KEYS.has(k.dim.kind))
    const join = [...msgKeys.map(k => `k${k.i}`), ...(hasBucket ? ['b'] : [])]
    // Groups that are all message attributes also exist without clicks (sent, not clicked):
    // a FULL join keeps them; a key of the click alone exists only where there are clicks.
    const kind = join.length === 0 ? 'CROSS JOIN' : msgKeys.length === spec.keys.length ? 'FULL OUTER JOIN' : 'LEFT JOIN'
    from = `(${clickSql}) AS c ${kind} (${messagesSql(spec, p, msgKeys)}) AS m${join.length === 0 ? '' : ` USING (${join.join(', ')})`}`
    for (const c of spec.clickColumns) outer.push(`c_${c} AS ${c}`)
    outer.push('m_tracked_messages AS tracked_messages')
  }
  let sql = `SELECT ${outer.join(', ')}`
  if (spec.page !== undefined) sql += ', count() OVER () AS total_groups'
  sql += ` FROM ${from}`
  if (spec.only !== undefined) {
    // Several keys as an array of Strings: the client writes a JS array of arrays as
    // Array(Array(String)), not as tuples.
    const tuple = spec.keys.length === 1 ? 'k0' : `[${keyCols.join(', ')}]`
    const type = spec.keys.length === 1 ? 'Array(String)' : 'Array(Array(String))'
    sql += ` WHERE ${tuple} IN ${p.add(type, spec.keys.length === 1 ? spec.only.map(k => k[0]) : spec.only)}`
  }
  if (spec.page !== undefined) {
    const dir = spec.page.desc ? 'DESC' : 'ASC'
    sql += ` ORDER BY ${orderExpr(spec.page.by)} ${dir} NULLS LAST${keyCols.map(k => `, ${k} ASC`).join('')}`
    sql += ` LIMIT ${p.add('UInt32', spec.page.limit)} OFFSET ${p.add('UInt32', spec.page.offset)}`
  } else if (hasBucket) {
    sql += ' ORDER BY b'
  }
  return sql
}

const num = (v: unknown): number | null => v === null || v === undefined ? null : Number(v)

/** Runs `spec` on the reader (its session settings as they are: nothing is SET per query). */
export async function aggregate (client: ClickHouseClient, settings: Record<string, string | number>, spec: AggSpec, source: ClickSource): Promise<AggRow[]> {
  const p = new Params()
  const query = aggSql(spec, source, p)
  const rows = await (await client.query({ query, query_params: p.values, format: 'JSONEachRow', clickhouse_settings: settings })).json<Record<string, unknown>>()
  const columns: AggColumn[] = [...spec.clickColumns, ...(spec.messages ? ['tracked_messages' as const] : [])]
  return rows.map(r => {
    const values: AggRow['values'] = {}
    for (const c of columns) values[c] = num(r[c])
    return {
      keys: spec.keys.map((_, i) => String(r[`k${i}`])),
      bucket: r.b === undefined ? undefined : Number(r.b) * 1000,
      values,
      total: r.total_groups === undefined ? undefined : Number(r.total_groups)
    }
  })
}

const zoneLists = new WeakMap<ClickHouseClient, Promise<ReadonlySet<string>>>()

/** The time zones ClickHouse can bucket by (system.time_zones), read once per client. */
export async function timeZones (client: ClickHouseClient, settings: Record<string, string | number>): Promise<ReadonlySet<string>> {
  let zones = zoneLists.get(client)
  if (zones === undefined) {
    zones = client.query({ query: 'SELECT time_zone FROM system.time_zones', format: 'JSONEachRow', clickhouse_settings: settings })
      .then(async r => new Set((await r.json<{ time_zone: string }>()).map(z => z.time_zone)))
    // A failure is not kept: the next request asks again.
    zones.catch(() => { zoneLists.delete(client) })
    zoneLists.set(client, zones)
  }
  return await zones
}

/** The latest promotion watermark: every click observed up to it is in `clicks`. Null before any. */
export async function lastIngestedAt (client: ClickHouseClient, settings: Record<string, string | number>): Promise<number | null> {
  const rows = await (await client.query({
    query: 'SELECT toUnixTimestamp64Milli(max(promoted_until)) AS w, count() AS n FROM promotion_state FINAL',
    format: 'JSONEachRow',
    clickhouse_settings: settings
  })).json<{ w: string, n: string }>()
  return rows.length === 0 || Number(rows[0].n) === 0 ? null : Number(rows[0].w)
}
