import { bucketExpr, clickFilterExpr, clickKeyExpr, firstClickRows, outerSelect, RAW_CLICKS, RECIPIENT, VERDICT, type AggSpec, type ClickColumn, type ClickSource, type KeyKind, type Params, type SqlDim } from './analytics.js'

/*
 * Which source answers a query (sql/030_analytics_rollups.sql): a rollup when it holds every
 * key and filter of the query at the grain the range and points need, else raw `clicks`.
 * Every rollup keeps signed counts only (a re-classification's cancel row subtracts, issue
 * 16); unique counts and medians are computed here over rows whose parts' signed counts are
 * summed first (GROUP BY the rollup key, or FINAL), so any source gives the numbers the surviving raw rows give
 * (test/api/analytics.test.ts compares them, before and after a re-classification).
 *
 *   analytics_recipients       whole UTC days, no points: summaries and breakdowns by project,
 *                              route, tag, metadata.<key>, classification (and their filters,
 *                              is_human, is_machine): one row per recipient and verdict
 *   analytics_recipient_links  the same with link_index and destination_url, and
 *                              unique_links_clicked, where a verdict is a key or a filter
 *                              (classification, is_human, is_machine): one row per
 *                              recipient, link and verdict
 *   analytics_link_totals      whole UTC days, no points: summaries and breakdowns by project,
 *                              route, tag, metadata.<key>, link_index, destination_url (and
 *                              their filters) that need a link key or unique_links_clicked:
 *                              one row per recipient and link, a count per class (sql/031)
 *   analytics_recipient_days   UTC day points (summary-shaped, and per breakdown row) by
 *                              project, route, tag, metadata.<key>: one row per recipient and day
 *   analytics_recipient_hours  points of a zone whose offsets are whole hours (hours, or local
 *                              days not UTC's) over whole UTC hours, by the same keys: one
 *                              row per recipient and UTC hour (sql/032)
 *   analytics_first_clicks     beside each of them for median_time_to_first_click: the
 *                              surviving first clicks, bucketed by their own ts
 *   clicks                     everything else (reason_code, device/client, message_id,
 *                              first_click, proxy_type; points by link or verdict; ranges not
 *                              made of whole UTC days (summaries, breakdowns) or hours (points);
 *                              points of zones with offsets not whole hours; unique_links_clicked in points)
 */

/** Every query can be answered from `clicks`. */
export const RAW_SOURCE: ClickSource = RAW_CLICKS

const DAY = 86_400_000
const HOUR = 3_600_000

const SERIES_KEYS: ReadonlySet<KeyKind> = new Set(['project', 'route', 'tag', 'metadata'])
const RECIPIENT_KEYS: ReadonlySet<KeyKind> = new Set([...SERIES_KEYS, 'classification', 'is_human', 'is_machine'])
const RECIPIENT_LINK_KEYS: ReadonlySet<KeyKind> = new Set([...RECIPIENT_KEYS, 'link_index', 'destination_url'])
const LINK_TOTAL_KEYS: ReadonlySet<KeyKind> = new Set([...SERIES_KEYS, 'link_index', 'destination_url'])

const median = (spec: AggSpec): boolean => spec.clickColumns.includes('median_time_to_first_click')
const keyCols = (spec: AggSpec, p: Params, keyExpr: (d: SqlDim, p: Params) => string = clickKeyExpr): string[] => spec.keys.map((k, i) => `${keyExpr(k, p)} AS k${i}`)
const sidWhere = (spec: AggSpec, p: Params): string => `sid IN ${p.add('Array(String)', spec.sids)}`

/**
 * analytics_recipients / analytics_recipient_links over whole UTC days: a row counts when it
 * has observations in the range (ev, the sum of its signed per-day counts there). A row whose
 * days all fall inside the range counts whole, without its per-day list; only rows that
 * straddle a bound sum their list.
 *
 * Read FINAL: each row key's parts are merged in key order (one row per recipient and verdict
 * [and link], as a GROUP BY over the row key would give), and the day bounds apply after the
 * merge (optimize_move_to_prewhere_if_final is off: first_day and last_day are the merged
 * bounds). The GROUP BY it replaces hashed every row on the wide key (k0.., sid, message_id,
 * the verdict, link_index): 150–400 ms over the 233,358 rows of 1M clicks, FINAL over merged
 * parts ~10 ms (measured, bench/micro/analytics-queries.mjs).
 */
function recipientSource (table: string, links: boolean): ClickSource {
  return {
    name: table,
    sql (spec, p) {
      const a = p.add('UInt16', Math.floor(spec.from / DAY))
      const b = p.add('UInt16', Math.floor(spec.to / DAY))
      const A = `toDate(fromUnixTimestamp64Milli(${p.add('Int64', spec.from)}, 'UTC'))`
      const B = `toDate(fromUnixTimestamp64Milli(${p.add('Int64', spec.to)}, 'UTC'))`
      const ident = [VERDICT, ...(links ? ['link_index'] : [])]
      const cols = [...keyCols(spec, p), ...ident].join(', ')
      const where = [sidWhere(spec, p), `last_day >= ${A}`, `first_day < ${B}`, ...spec.filters.map(f => clickFilterExpr(f, p))].join(' AND ')
      const ev = `if(first_day >= ${A} AND last_day < ${B}, events, arraySum(arrayMap((d, n) -> if(d >= ${a} AND d < ${b}, n, 0), day_events.1, day_events.2)))`
      let inner = `SELECT ${cols}, ${ev} AS ev, toUInt8(0) AS fin, toFloat64(0) AS first_delay FROM ${table} FINAL WHERE ${where}`
      if (median(spec)) inner += ` UNION ALL ${firstClickRows(spec, p, 'analytics_first_clicks', links)}`
      return outerSelect(spec, inner)
    }
  }
}

/** The class of each click column, as analytics_recipient_days and _hours name their counts (ev_<class>). */
const DAY_CLASS: Record<string, string> = {
  clicks: 'all', human_clicks: 'human', machine_clicks: 'machine', privacy_clicks: 'privacy', bot_clicks: 'bot', scanner_clicks: 'scanner', preview_clicks: 'preview'
}
/** The classes whose counts `spec`'s click columns read. */
function classesOf (spec: AggSpec): string[] {
  const classes = new Set<string>()
  for (const c of spec.clickColumns) {
    if (c === 'unique_links_clicked') classes.add('human')
    else if (c !== 'median_time_to_first_click') classes.add(DAY_CLASS[c.endsWith('_events') ? c.slice(0, -7) : c])
  }
  return [...classes]
}

/**
 * A click column over analytics_recipient_days / _hours rows (one per recipient and UTC day
 * or hour after FINAL). `rowPerBucket`: a recipient has one row per point at most (UTC day
 * points over days, hour points over hours), so it counts once where the class's count is
 * > 0; else (local days over hours) its hours in the point are counted by uniqExact.
 */
function periodColumn (c: ClickColumn, rowPerBucket: boolean): string {
  if (c === 'median_time_to_first_click') return 'if(countIf(fin = 1) = 0, NULL, quantileExactInclusiveIf(0.5)(first_delay, fin = 1))'
  if (c.endsWith('_events')) return `sum(ev_${DAY_CLASS[c.slice(0, -7)]})`
  return rowPerBucket ? `countIf(ev_${DAY_CLASS[c]} > 0)` : `uniqExactIf(${RECIPIENT}, ev_${DAY_CLASS[c]} > 0)`
}

/**
 * analytics_recipient_days (UTC day points: the bucket is the row's day) or
 * analytics_recipient_hours (points of a zone whose offsets are whole hours, over whole UTC
 * hours: the bucket is the local hour or day the row's UTC hour falls in).
 */
function periodSource (table: 'analytics_recipient_days' | 'analytics_recipient_hours'): ClickSource {
  const days = table === 'analytics_recipient_days'
  return {
    name: table,
    sql (spec, p) {
      const evs = classesOf(spec)
      // UTC day points over UTC days (chooseSource): a row's day is its point, no zone to convert per row.
      const cols = [...keyCols(spec, p), `${days ? "toUnixTimestamp(toDateTime(day, 'UTC'))" : bucketExpr('hour', spec, p)} AS b`, 'sid', 'message_id']
      const range = days
        ? `day >= toDate(fromUnixTimestamp64Milli(${p.add('Int64', spec.from)}, 'UTC')) AND day < toDate(fromUnixTimestamp64Milli(${p.add('Int64', spec.to)}, 'UTC'))`
        : `hour >= toDateTime(${p.add('UInt32', Math.floor(spec.from / 1000))}, 'UTC') AND hour < toDateTime(${p.add('UInt32', Math.floor(spec.to / 1000))}, 'UTC')`
      const where = [sidWhere(spec, p), range, ...spec.filters.map(f => clickFilterExpr(f, p))].join(' AND ')
      let inner = `SELECT ${[...cols, ...evs.map(c => `ev_${c}`)].join(', ')}, toUInt8(0) AS fin, toFloat64(0) AS first_delay FROM ${table} FINAL WHERE ${where}`
      if (median(spec)) {
        // The first clicks' rows in the same columns (their class counts zero).
        const fc = firstClickRows(spec, p, 'analytics_first_clicks', false)
        const keys = spec.keys.map((_, i) => `k${i}`)
        inner += ` UNION ALL SELECT ${[...keys, 'b', 'sid', 'message_id', ...evs.map(c => `toInt64(0) AS ev_${c}`), 'fin', 'first_delay'].join(', ')} FROM (${fc})`
      }
      const rowPerBucket = days || spec.bucket?.unit === 'hour'
      const select = [...spec.keys.map((_, i) => `k${i}`), 'b']
      const group = [...select]
      for (const c of spec.clickColumns) select.push(`${periodColumn(c, rowPerBucket)} AS c_${c}`)
      return `SELECT ${select.join(', ')} FROM (${inner}) GROUP BY ${group.join(', ')}`
    }
  }
}
const RECIPIENT_DAYS_SOURCE = periodSource('analytics_recipient_days')
const RECIPIENT_HOURS_SOURCE = periodSource('analytics_recipient_hours')

/**
 * Whether a day_events key of analytics_link_totals (sql/031: day * 32 + 4 * class +
 * 2 * counts_for_metrics + machine) is in each class, as CLASS_PREDICATE says over `clicks`.
 */
const KEY_IN_CLASS: Record<string, string> = {
  all: '1', human: 'bitAnd(k, 2) != 0', machine: 'bitAnd(k, 1) != 0', privacy: 'bitAnd(k, 28) = 4', bot: 'bitAnd(k, 28) = 8', scanner: 'bitAnd(k, 28) = 12', preview: 'bitAnd(k, 28) = 16'
}

/**
 * analytics_link_totals over whole UTC days: one row per recipient and link after FINAL,
 * with signed counts per class (e_<class>: the row's in the range). In a group that has
 * link_index among its keys a recipient has one row at most, so it is unique by a count of
 * rows; otherwise (its links may share a destination_url, or there is no link key) by
 * uniqExact over the 50,000 rows, still a fifth of analytics_recipient_links' rows per verdict.
 */
const LINK_TOTALS_SOURCE: ClickSource = {
  name: 'analytics_link_totals',
  sql (spec, p) {
    const a = p.add('UInt32', Math.floor(spec.from / DAY) * 32)
    const b = p.add('UInt32', Math.floor(spec.to / DAY) * 32)
    const A = `toDate(fromUnixTimestamp64Milli(${p.add('Int64', spec.from)}, 'UTC'))`
    const B = `toDate(fromUnixTimestamp64Milli(${p.add('Int64', spec.to)}, 'UTC'))`
    const evs = classesOf(spec)
    const inRange = (c: string): string => `if(first_day >= ${A} AND last_day < ${B}, ev_${c}, arraySum(arrayMap((k, n) -> if(k >= ${a} AND k < ${b} AND ${KEY_IN_CLASS[c]}, n, 0), day_events.1, day_events.2)))`
    const where = [sidWhere(spec, p), `last_day >= ${A}`, `first_day < ${B}`, ...spec.filters.map(f => clickFilterExpr(f, p))].join(' AND ')
    const keys = spec.keys.map((_, i) => `k${i}`)
    let inner = `SELECT ${[...keyCols(spec, p), 'sid', 'message_id', ...evs.map(c => `${inRange(c)} AS e_${c}`)].join(', ')}, toUInt8(0) AS fin, toFloat64(0) AS first_delay FROM analytics_link_totals FINAL WHERE ${where}`
    if (median(spec)) {
      const fc = firstClickRows(spec, p, 'analytics_first_clicks', true)
      inner += ` UNION ALL SELECT ${[...keys, 'sid', 'message_id', ...evs.map(c => `toInt64(0) AS e_${c}`), 'fin', 'first_delay'].join(', ')} FROM (${fc})`
    }
    const byLink = spec.keys.some(k => k.kind === 'link_index')
    const select = [...keys]
    for (const c of spec.clickColumns) {
      let col: string
      if (c === 'median_time_to_first_click') col = 'if(countIf(fin = 1) = 0, NULL, quantileExactInclusiveIf(0.5)(first_delay, fin = 1))'
      // One row per recipient and link: each row with human clicks is one link clicked.
      else if (c === 'unique_links_clicked') col = 'countIf(e_human > 0)'
      else if (c.endsWith('_events')) col = `sum(e_${DAY_CLASS[c.slice(0, -7)]})`
      else col = byLink ? `countIf(e_${DAY_CLASS[c]} > 0)` : `uniqExactIf(${RECIPIENT}, e_${DAY_CLASS[c]} > 0)`
      select.push(`${col} AS c_${c}`)
    }
    return `SELECT ${select.join(', ')} FROM (${inner})${keys.length > 0 ? ` GROUP BY ${keys.join(', ')}` : ''}`
  }
}

const RECIPIENTS_SOURCE = recipientSource('analytics_recipients', false)
const RECIPIENT_LINKS_SOURCE = recipientSource('analytics_recipient_links', true)

const within = (dims: readonly SqlDim[], allowed: ReadonlySet<KeyKind>): boolean => dims.every(d => allowed.has(d.kind))

/** The cheapest source that answers `spec` exactly. */
export function chooseSource (spec: AggSpec): ClickSource {
  const b = spec.bucket
  const dayAligned = spec.from % DAY === 0 && spec.to % DAY === 0
  const hourAligned = spec.from % HOUR === 0 && spec.to % HOUR === 0
  const dims = [...spec.keys, ...spec.filters.map(f => f.dim)]
  const links = spec.clickColumns.includes('unique_links_clicked')
  if (b === undefined) {
    if (!dayAligned) return RAW_CLICKS
    const linkKeys = dims.some(d => d.kind === 'link_index' || d.kind === 'destination_url')
    if (within(dims, RECIPIENT_KEYS) && !links && !linkKeys) return RECIPIENTS_SOURCE
    if (within(dims, LINK_TOTAL_KEYS)) return LINK_TOTALS_SOURCE
    if (within(dims, RECIPIENT_LINK_KEYS)) return RECIPIENT_LINKS_SOURCE
    return RAW_CLICKS
  }
  if (links || !within(dims, SERIES_KEYS)) return RAW_CLICKS
  const utc = b.tz === 'UTC' || b.tz === 'Etc/UTC'
  if (b.unit === 'day' && utc && dayAligned) return RECIPIENT_DAYS_SOURCE
  if (b.wholeHours && hourAligned) return RECIPIENT_HOURS_SOURCE
  return RAW_CLICKS
}
