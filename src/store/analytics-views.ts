import { bucketExpr, CLASS_PREDICATE, clickFilterExpr, clickKeyExpr, RAW_CLICKS, type AggSpec, type ClickColumn, type ClickSource, type KeyKind, type Params, type SqlDim, type SqlFilter } from './analytics.js'

/*
 * Which source answers a query (sql/014_analytics_views.sql): a view when it holds every
 * key and filter of the query at the grain the range and points need, else raw `clicks`.
 * Each view holds exact states (uniqExact, quantileExactInclusive), so any source gives the
 * same numbers (test/api/analytics.test.ts compares them with the raw table's).
 *
 *   analytics_daily           UTC-day ranges; summary, day points in UTC; keys and filters
 *                             project, route, tag, classification, is_human, is_machine
 *   analytics_hourly          the same at UTC-hour grain: hour-aligned ranges, hour points,
 *                             day points of zones whose offset is whole hours in the range
 *   analytics_links_daily     UTC days with link_index and destination_url as well
 *   analytics_metadata_daily  UTC days with one metadata.<key> (group or eq/in/is_not_null
 *                             filter); its null group is the daily total less the others
 *   clicks                    everything else (reason_code, device/client, message_id,
 *                             first_click, proxy_type; 30/45-minute zones; unaligned instants)
 */

/** Every query can be answered from `clicks`. */
export const RAW_SOURCE: ClickSource = RAW_CLICKS

const HOUR = 3_600_000
const DAY = 86_400_000

const BASE_KEYS: ReadonlySet<KeyKind> = new Set(['project', 'route', 'tag', 'classification', 'is_human', 'is_machine'])
const LINK_KEYS: ReadonlySet<KeyKind> = new Set([...BASE_KEYS, 'link_index', 'destination_url'])

/** A click column from the states of a view. */
function viewColumn (c: ClickColumn): string {
  if (c === 'unique_links_clicked') return 'uniqExactMerge(links)'
  if (c === 'median_time_to_first_click') return 'if(sum(first_clicks) = 0, NULL, quantileExactInclusiveMerge(0.5)(first_delays))'
  if (c.endsWith('_events')) {
    const cls = c.slice(0, -7)
    return cls === 'clicks' ? 'sum(events)' : `sumIf(events, ${CLASS_PREDICATE[cls]})`
  }
  return c === 'clicks' ? 'uniqExactMerge(recipients)' : `uniqExactMergeIf(recipients, ${CLASS_PREDICATE[c]})`
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
  select.push('sum(events) AS c__events')
  const where = [`sid IN ${p.add('Array(String)', spec.sids)}`, rangeWhere(g, spec, p), ...extraWhere, ...filters.map(f => clickFilterExpr(f, p))]
  return `SELECT ${select.join(', ')} FROM ${g.table} WHERE ${where.join(' AND ')}${group.length > 0 ? ` GROUP BY ${group.join(', ')}` : ''}`
}

function plainView (g: Grain): ClickSource {
  return { name: g.table, sql: (spec, p) => viewSelect(g, spec, p, clickKeyExpr, [], spec.filters) }
}

const DAILY: Grain = { table: 'analytics_daily', column: 'day', unit: DAY }
const HOURLY: Grain = { table: 'analytics_hourly', column: 'hour', unit: HOUR }
const LINKS: Grain = { table: 'analytics_links_daily', column: 'day', unit: DAY }
const METADATA: Grain = { table: 'analytics_metadata_daily', column: 'day', unit: DAY }
const DAILY_SOURCE = plainView(DAILY)
const HOURLY_SOURCE = plainView(HOURLY)
const LINKS_SOURCE = plainView(LINKS)

/**
 * analytics_metadata_daily for one metadata key. Grouped by that key with no filter on it,
 * the null group (messages without the key, or with it empty) is analytics_daily's total
 * less the sum of the other groups: exact, because a recipient's clicks all carry the
 * metadata of its one message, so the groups partition recipients, links and observations.
 */
function metadataSource (key: string, nullGroup: boolean): ClickSource {
  return {
    name: nullGroup ? `${METADATA.table}+${DAILY.table}` : METADATA.table,
    sql (spec, p) {
      const metaKey = p.add('String', key)
      const keyExpr = (d: SqlDim, q: Params): string => d.kind === 'metadata' ? 'meta_value' : clickKeyExpr(d, q)
      const others = spec.filters.filter(f => f.dim.kind !== 'metadata')
      const metaWhere = [`meta_key = ${metaKey}`, ...spec.filters.filter(f => f.dim.kind === 'metadata').map(f => metaFilter(f, p))]
      if (!nullGroup) return viewSelect(METADATA, spec, p, keyExpr, metaWhere, others)
      // Only [metadata.<key>] as the key, no bucket (chooseSource checks).
      const groups = viewSelect(METADATA, spec, p, keyExpr, [...metaWhere, "meta_value != ''"], others)
      const total = viewSelect(DAILY, { ...spec, keys: [] }, p, clickKeyExpr, [], others)
      const cols = [...spec.clickColumns, '_events']
      // Never below 0 with consistent data; UInt64 on both sides of the UNION.
      const rest = cols.map(c => `toUInt64(greatest(toInt64(t.c_${c}) - toInt64(g.c_${c}), 0)) AS c_${c}`).join(', ')
      const sums = cols.map(c => `sum(c_${c}) AS c_${c}`).join(', ')
      return `SELECT * FROM (${groups} UNION ALL SELECT '' AS k0, ${rest} FROM (${total}) AS t CROSS JOIN (SELECT ${sums} FROM (${groups})) AS g) WHERE k0 != '' OR c__events > 0`
    }
  }
}

function metaFilter (f: SqlFilter, p: Params): string {
  if (f.op === 'is_not_null') return "meta_value != ''"
  return `meta_value IN ${p.add('Array(String)', f.values.map(String))}`
}

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
  if (within(dims, BASE_KEYS)) return g === 'day' ? DAILY_SOURCE : HOURLY_SOURCE
  if (g !== 'day') return RAW_CLICKS
  if (within(dims, LINK_KEYS)) return LINKS_SOURCE
  const meta = dims.filter(d => d.kind === 'metadata')
  const keys = new Set(meta.map(d => d.key))
  if (meta.length === 0 || keys.size !== 1 || !within(dims.filter(d => d.kind !== 'metadata'), BASE_KEYS)) return RAW_CLICKS
  const metaFilters = spec.filters.filter(f => f.dim.kind === 'metadata')
  // eq/in '' would match messages without the key (the raw table's metadata[key] is '').
  if (!metaFilters.every(f => f.op === 'is_not_null' || ((f.op === 'eq' || f.op === 'in') && !f.values.includes('')))) return RAW_CLICKS
  const grouped = spec.keys.some(d => d.kind === 'metadata')
  if (grouped && metaFilters.length === 0) {
    if (spec.keys.length !== 1 || spec.bucket !== undefined || spec.clickColumns.includes('median_time_to_first_click')) return RAW_CLICKS
    return metadataSource(keys.values().next().value as string, true)
  }
  return metadataSource(keys.values().next().value as string, false)
}
