import { bucketExpr, CLASS_PREDICATE, clickFilterExpr, clickKeyExpr, RAW_CLICKS, RECIPIENT, RECIPIENT_LINK, type AggSpec, type ClickColumn, type ClickSource, type KeyKind, type Params, type SqlDim, type SqlFilter } from './analytics.js'

/*
 * Which source answers a query (sql/014_analytics_views.sql): a view when it holds every
 * key and filter of the query at the grain the range and points need, else raw `clicks`.
 * Every view is exact (uniqExact states, per-day counts, first clicks), so any source gives
 * the same numbers (test/api/analytics.test.ts compares them with the raw table's).
 *
 *   analytics_recipients       whole UTC days, no points: summaries and breakdowns by project,
 *                              route, tag, metadata.<key>, classification (and their filters,
 *                              is_human, is_machine): one row per recipient and verdict
 *   analytics_recipient_links  the same with link_index and destination_url, and
 *                              unique_links_clicked: one row per recipient, link and verdict
 *   analytics_daily            day points in UTC (summary-shaped and per breakdown row) by
 *                              project, route, tag (a click class is a column there)
 *   analytics_hourly           the same at UTC-hour grain: hour-aligned ranges, hour points,
 *                              day points of zones whose offset is whole hours in the range
 *   clicks                     everything else (reason_code, device/client, message_id,
 *                              first_click, proxy_type; points by link, metadata or verdict;
 *                              30/45-minute zones; instants not on the hour)
 */

/** Every query can be answered from `clicks`. */
export const RAW_SOURCE: ClickSource = RAW_CLICKS

const HOUR = 3_600_000
const DAY = 86_400_000

/** What the series views are keyed by (a click class is a column there, not a key). */
const SERIES_KEYS: ReadonlySet<KeyKind> = new Set(['project', 'route', 'tag'])
const RECIPIENT_KEYS: ReadonlySet<KeyKind> = new Set([...SERIES_KEYS, 'classification', 'is_human', 'is_machine', 'metadata'])
const RECIPIENT_LINK_KEYS: ReadonlySet<KeyKind> = new Set([...RECIPIENT_KEYS, 'link_index', 'destination_url'])

/** The class columns of the series views (sql/014): events_<class>, recipients_<class>. */
const SERIES_CLASS: Record<string, string> = {
  clicks: 'all', human_clicks: 'human', machine_clicks: 'machine', privacy_clicks: 'privacy', bot_clicks: 'bot', scanner_clicks: 'scanner', preview_clicks: 'preview'
}

/** A click column from the states of a series view. */
function viewColumn (c: ClickColumn): string {
  if (c === 'unique_links_clicked') return 'uniqExactMerge(links)'
  if (c === 'median_time_to_first_click') return 'if(sum(first_clicks) = 0, NULL, quantileExactInclusiveMerge(0.5)(first_delays))'
  if (c.endsWith('_events')) return `sum(events_${SERIES_CLASS[c.slice(0, -7)]})`
  return `uniqExactMerge(recipients_${SERIES_CLASS[c]})`
}

interface Grain { table: string, column: string, unit: number }

function rangeWhere (g: Grain, spec: AggSpec, p: Params): string {
  const from = p.add('Int64', spec.from)
  const to = p.add('Int64', spec.to)
  if (g.column === 'day') return `day >= toDate(fromUnixTimestamp64Milli(${from}, 'UTC')) AND day < toDate(fromUnixTimestamp64Milli(${to}, 'UTC'))`
  return `hour >= fromUnixTimestamp64Milli(${from}, 'UTC') AND hour < fromUnixTimestamp64Milli(${to}, 'UTC')`
}

/** SELECT … FROM a view, in the click side's shape (k0.., b, c_<column>). */
function viewSelect (g: Grain, spec: AggSpec, p: Params, keyExpr: (d: SqlDim, p: Params) => string, extraWhere: string[], filters: readonly SqlFilter[]): string {
  const select: string[] = spec.keys.map((k, i) => `${keyExpr(k, p)} AS k${i}`)
  const group = spec.keys.map((_, i) => `k${i}`)
  if (spec.bucket !== undefined) {
    select.push(`${bucketExpr(g.column === 'day' ? "toDateTime(day, 'UTC')" : 'hour', spec, p)} AS b`)
    group.push('b')
  }
  for (const c of spec.clickColumns) select.push(`${viewColumn(c)} AS c_${c}`)
  const where = [`sid IN ${p.add('Array(String)', spec.sids)}`, rangeWhere(g, spec, p), ...extraWhere, ...filters.map(f => clickFilterExpr(f, p))]
  return `SELECT ${select.join(', ')} FROM ${g.table} WHERE ${where.join(' AND ')}${group.length > 0 ? ` GROUP BY ${group.join(', ')}` : ''}`
}

function plainView (g: Grain): ClickSource {
  return { name: g.table, sql: (spec, p) => viewSelect(g, spec, p, clickKeyExpr, [], spec.filters) }
}

const DAILY: Grain = { table: 'analytics_daily', column: 'day', unit: DAY }
const HOURLY: Grain = { table: 'analytics_hourly', column: 'hour', unit: HOUR }
const DAILY_SOURCE = plainView(DAILY)
const HOURLY_SOURCE = plainView(HOURLY)

/** A click column from the per-recipient tables (in the subquery of recipientSource: ev, fin). */
function recipientColumn (c: ClickColumn): string {
  if (c === 'unique_links_clicked') return `uniqExactIf(${RECIPIENT_LINK}, counts_for_metrics)`
  if (c === 'median_time_to_first_click') return 'if(countIf(fin) = 0, NULL, quantileExactInclusiveIf(0.5)(assumeNotNull(first_delay), fin))'
  if (c.endsWith('_events')) {
    const cls = c.slice(0, -7)
    return cls === 'clicks' ? 'sum(ev)' : `sumIf(ev, ${CLASS_PREDICATE[cls]})`
  }
  return c === 'clicks' ? `uniqExact(${RECIPIENT})` : `uniqExactIf(${RECIPIENT}, ${CLASS_PREDICATE[c]})`
}

/**
 * analytics_recipients / analytics_recipient_links over whole UTC days: a row counts when it
 * has observations in the range (ev, the sum of its per-day counts there); its first click
 * counts when it fell in the range (fin).
 * Rows of one recipient in parts not merged yet are counted once (uniqExact) or added up.
 */
function recipientSource (table: string, links: boolean): ClickSource {
  return {
    name: table,
    sql (spec, p) {
      const a = p.add('UInt32', Math.floor(spec.from / DAY))
      const b = p.add('UInt32', Math.floor(spec.to / DAY))
      const A = `toDate(fromUnixTimestamp64Milli(${p.add('Int64', spec.from)}, 'UTC'))`
      const B = `toDate(fromUnixTimestamp64Milli(${p.add('Int64', spec.to)}, 'UTC'))`
      const from = p.add('Int64', spec.from)
      const to = p.add('Int64', spec.to)
      const cols = [
        ...spec.keys.map((k, i) => `${clickKeyExpr(k, p)} AS k${i}`),
        'sid', 'message_id', ...(links ? ['link_index'] : []), 'classification', 'counts_for_metrics', 'machine', 'first_delay',
        `ifNull(first_ts >= fromUnixTimestamp64Milli(${from}, 'UTC') AND first_ts < fromUnixTimestamp64Milli(${to}, 'UTC'), 0) AS fin`
      ].join(', ')
      const where = [`sid IN ${p.add('Array(String)', spec.sids)}`, ...spec.filters.map(f => clickFilterExpr(f, p))].join(' AND ')
      // A row whose days all fall in the range counts whole, without its per-day list; only
      // rows that straddle a bound read it (the condition moves to PREWHERE: the list is read
      // for their granules alone).
      const inside = `SELECT ${cols}, events AS ev FROM ${table} WHERE first_day >= ${A} AND last_day < ${B} AND ${where}`
      const straddling = `SELECT ${cols}, arraySum(arrayMap((d, n) -> if(d >= ${a} AND d < ${b}, n, 0), day_events.1, day_events.2)) AS ev FROM ${table} WHERE last_day >= ${A} AND first_day < ${B} AND NOT (first_day >= ${A} AND last_day < ${B}) AND ${where}`
      const select: string[] = spec.keys.map((_, i) => `k${i}`)
      const group = [...select]
      for (const c of spec.clickColumns) select.push(`${recipientColumn(c)} AS c_${c}`)
      return `SELECT ${select.join(', ')} FROM (${inside} UNION ALL ${straddling}) WHERE ev > 0${group.length > 0 ? ` GROUP BY ${group.join(', ')}` : ''}`
    }
  }
}

const RECIPIENTS_SOURCE = recipientSource('analytics_recipients', false)
const RECIPIENT_LINKS_SOURCE = recipientSource('analytics_recipient_links', true)

const within = (dims: readonly SqlDim[], allowed: ReadonlySet<KeyKind>): boolean => dims.every(d => allowed.has(d.kind))

/** The grain the range and the points need: a day view, an hour view, or neither. */
function grain (spec: AggSpec): 'day' | 'hour' | undefined {
  const b = spec.bucket
  const utc = b === undefined || b.tz === 'UTC' || b.tz === 'Etc/UTC'
  const dayAligned = spec.from % DAY === 0 && spec.to % DAY === 0
  if (dayAligned && (b === undefined || (b.unit === 'day' && utc))) return 'day'
  const hourAligned = spec.from % HOUR === 0 && spec.to % HOUR === 0
  if (hourAligned && (b === undefined || b.wholeHours)) return 'hour'
  return undefined
}

/** The cheapest source that answers `spec` exactly. */
export function chooseSource (spec: AggSpec): ClickSource {
  const g = grain(spec)
  if (g === undefined) return RAW_CLICKS
  const dims = [...spec.keys, ...spec.filters.map(f => f.dim)]
  if (g === 'day' && spec.bucket === undefined) {
    if (within(dims, RECIPIENT_KEYS) && !spec.clickColumns.includes('unique_links_clicked')) return RECIPIENTS_SOURCE
    if (within(dims, RECIPIENT_LINK_KEYS)) return RECIPIENT_LINKS_SOURCE
  }
  if (within(dims, SERIES_KEYS)) return g === 'day' ? DAILY_SOURCE : HOURLY_SOURCE
  return RAW_CLICKS
}
