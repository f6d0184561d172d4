import type { Store } from '../store/client.js'
import { aggregate, lastIngestedAt, MESSAGE_KEYS, timeZones, type AggColumn, type AggRow, type AggSpec, type ClickColumn, type SqlFilter } from '../store/analytics.js'
import { chooseSource, RAW_SOURCE } from '../store/analytics-views.js'
import { encodeCursor, planAnalytics, type Dimension, type Metric, type Plan, type Range } from './query.js'
import { floorLocal, nextLocal, wholeHourOffsets } from './time.js'

/*
 * runAnalytics: one request → the response of POST /v1/analytics (and of `clicktrail
 * report`). Validation is in query.ts, SQL in store/analytics.ts; here the plan becomes
 * queries, and their rows become zero-filled series, pages and comparisons.
 */

/** The projects a caller may see: a team's own, nothing else. */
export interface Scope { projects: ReadonlyArray<{ project_id: string, sid: string }> }

export interface AnalyticsOptions {
  /** 'raw' answers every query from `clicks` (the tests compare it with the views). */
  source?: 'auto' | 'raw'
}

type Values = Partial<Record<AggColumn, number | null>>
type MetricValues = Partial<Record<Metric, number | null>>
type RateBases = Record<string, { numerator: number | null, denominator: number | null }>
interface Change { absolute: number | null, relative: number | null }

export interface Measures {
  metrics: MetricValues
  rate_bases: RateBases
  previous?: { from?: string, to?: string, metrics: MetricValues, rate_bases: RateBases }
  change?: Partial<Record<Metric, Change>>
}
export interface Point extends Measures { from: string, to: string, partial: boolean }
export interface BreakdownRow extends Measures { dimensions: Record<string, string | number | boolean | null>, time_series?: Point[] }

export interface AnalyticsResponse {
  data: { summary?: Measures, time_series?: Point[], breakdown?: BreakdownRow[] }
  meta: {
    metrics: Metric[]
    group_by: string[]
    timezone: string
    interval: 'hour' | 'day'
    from: string
    to: string
    /** How points are cut: at local midnights (day) or local hours (hour) of `timezone`; the first and last may be partial. */
    alignment: 'local_day' | 'local_hour'
    /** The range was whole local days (dates given, or the default). */
    calendar: boolean
    compare: { from: string, to: string } | null
    generated_at: string
    last_ingested_at: string | null
    /** `to` is still in the future: the last points will grow. */
    range_open: boolean
    /** What answered the click side: `clicks` or the views used. */
    sources: string[]
  }
  pagination: { total_groups: number, returned_groups: number, next_cursor: string | null }
}

const iso = (ms: number): string => new Date(ms).toISOString()

/** The click columns and whether tracked messages are needed for `metrics`. */
function needs (metrics: readonly Metric[]): { clickColumns: ClickColumn[], messages: boolean } {
  const cols = new Set<ClickColumn>()
  let messages = false
  for (const m of metrics) {
    if (m === 'tracked_messages') messages = true
    else if (m === 'human_click_rate') { messages = true; cols.add('human_clicks') } else cols.add(m)
  }
  return { clickColumns: [...cols], messages }
}

function metricValues (metrics: readonly Metric[], v: Values | undefined): { metrics: MetricValues, rate_bases: RateBases } {
  const out: MetricValues = {}
  const bases: RateBases = {}
  for (const m of metrics) {
    if (m === 'human_click_rate') {
      const n = v?.human_clicks ?? 0
      const d = v?.tracked_messages ?? 0
      out[m] = d === 0 ? null : n / d
      bases[m] = { numerator: n, denominator: d }
    } else if (m === 'median_time_to_first_click') {
      out[m] = v?.[m] ?? null
    } else {
      out[m] = v?.[m] ?? 0
    }
  }
  return { metrics: out, rate_bases: bases }
}

function changeOf (metrics: readonly Metric[], cur: MetricValues, prev: MetricValues): Partial<Record<Metric, Change>> {
  const out: Partial<Record<Metric, Change>> = {}
  for (const m of metrics) {
    const a = cur[m]
    const b = prev[m]
    if (a === null || a === undefined || b === null || b === undefined) out[m] = { absolute: null, relative: null }
    else out[m] = { absolute: a - b, relative: b === 0 ? null : (a - b) / b }
  }
  return out
}

function measures (plan: Plan, cur: Values | undefined, prev?: Values, prevRange?: { from: string, to: string }): Measures {
  const c = metricValues(plan.metrics, cur)
  if (plan.previous === undefined) return c
  const p = metricValues(plan.metrics, prev)
  return { ...c, previous: { ...prevRange, ...p }, change: changeOf(plan.metrics, c.metrics, p.metrics) }
}

/** Bucket starts of the range: local midnights or hours, the first at or before `from`. */
function buckets (plan: Plan, r: Range): number[] {
  const out: number[] = []
  for (let t = floorLocal(plan.timezone, plan.interval, r.from); t < r.to; t = nextLocal(plan.timezone, plan.interval, t)) out.push(t)
  return out
}

function series (plan: Plan, now: number, rows: AggRow[], prevRows: AggRow[] | undefined): Point[] {
  const cur = buckets(plan, plan.range)
  const byBucket = new Map(rows.map(r => [r.bucket, r.values]))
  const prevStarts = plan.previous === undefined ? [] : buckets(plan, plan.previous)
  const prevBy = new Map((prevRows ?? []).map(r => [r.bucket, r.values]))
  return cur.map((start, i) => {
    const end = i + 1 < cur.length ? cur[i + 1] : nextLocal(plan.timezone, plan.interval, start)
    const from = Math.max(start, plan.range.from)
    const to = Math.min(end, plan.range.to)
    const partial = from !== start || to !== end || end > now
    let prevRange: { from: string, to: string } | undefined
    let prev: Values | undefined
    if (plan.previous !== undefined) {
      // Points are paired by position: point i of this period with point i of the previous one.
      const ps = prevStarts[i]
      if (ps !== undefined) {
        const pe = i + 1 < prevStarts.length ? prevStarts[i + 1] : nextLocal(plan.timezone, plan.interval, ps)
        prevRange = { from: iso(Math.max(ps, plan.previous.from)), to: iso(Math.min(pe, plan.previous.to)) }
        prev = prevBy.get(ps)
      }
    }
    return { from: iso(from), to: iso(to), partial, ...measures(plan, byBucket.get(start), prev, prevRange) }
  })
}

/**
 * Whether the groups of `plan`'s breakdown split the recipients: every key is an attribute of
 * the message (a recipient has one tag, one route, one value per metadata key), so each
 * recipient counts in exactly one group and every count of the whole is the sum of its groups'
 * counts (unique per recipient, per observation, tracked messages). A click's own keys
 * (link, verdict, device) do not: a recipient who clicked two links is in two groups. The
 * median is not a sum.
 */
function partitions (plan: Plan): boolean {
  return plan.groupBy.length > 0 && plan.groupBy.every(d => MESSAGE_KEYS.has(d.kind)) && !plan.metrics.includes('median_time_to_first_click')
}

function addValues (into: Values, v: Values): void {
  for (const [k, n] of Object.entries(v) as Array<[AggColumn, number | null]>) into[k] = (into[k] ?? 0) + (n ?? 0)
}

function sumValues (rows: readonly AggRow[]): Values {
  const out: Values = {}
  for (const r of rows) addValues(out, r.values)
  return out
}

/** Rows of groups × buckets summed per bucket. */
function sumByBucket (rows: readonly AggRow[]): AggRow[] {
  const by = new Map<number | undefined, AggRow>()
  for (const r of rows) {
    let b = by.get(r.bucket)
    if (b === undefined) by.set(r.bucket, b = { keys: [], bucket: r.bucket, values: {} })
    addValues(b.values, r.values)
  }
  return [...by.values()]
}

/** The sids of `scope` that the project filters leave (a project is named by its id or its sid). */
function scopedSids (scope: Scope, plan: Plan): string[] {
  let projects = [...scope.projects]
  for (const f of plan.filters) {
    if (f.dim.kind !== 'project') continue
    const named = (p: { project_id: string, sid: string }): boolean => f.values.some(v => v === p.project_id || v === p.sid)
    if (f.op === 'eq' || f.op === 'in') projects = projects.filter(named)
    else if (f.op === 'not_in') projects = projects.filter(p => !named(p))
    else if (f.op === 'is_null') projects = []
  }
  return projects.map(p => p.sid)
}

function dimensionValue (d: Dimension, raw: string, projects: Map<string, string>): string | number | boolean | null {
  if (d.kind === 'project') return projects.get(raw) ?? null
  if (d.kind === 'link_index') return Number(raw)
  if (d.kind === 'first_click') return raw === 'true'
  return raw === '' ? null : raw
}

/** Checks and answers one request (`body` as parsed JSON, trusted for nothing); `now` is the clock (ms). */
export async function runAnalytics (store: Pick<Store, 'reader' | 'readerSettings'>, scope: Scope, body: unknown, now: number, options: AnalyticsOptions = {}): Promise<AnalyticsResponse> {
  return await runPlan(store, scope, await plan(store, body, now), now, options)
}

/** planAnalytics with the time zones of this store's ClickHouse. */
export async function plan (store: Pick<Store, 'reader' | 'readerSettings'>, body: unknown, now: number): Promise<Plan> {
  return planAnalytics(body, now, await timeZones(store.reader, store.readerSettings))
}

/** Answers a plan of planAnalytics (for callers that look at the plan first, as the CSV route does). */
export async function runPlan (store: Pick<Store, 'reader' | 'readerSettings'>, scope: Scope, plan: Plan, now: number, options: AnalyticsOptions = {}): Promise<AnalyticsResponse> {
  const sids = scopedSids(scope, plan)
  const filters: SqlFilter[] = plan.filters.filter(f => f.dim.kind !== 'project').map(f => ({ dim: { kind: f.dim.kind, key: f.dim.key }, op: f.op, values: f.values }))
  const { clickColumns, messages } = needs(plan.metrics)
  const sources = new Set<string>()
  const run = async (spec: AggSpec): Promise<AggRow[]> => {
    const source = options.source === 'raw' ? RAW_SOURCE : chooseSource(spec)
    sources.add(source.name)
    return await aggregate(store.reader, store.readerSettings, spec, source)
  }
  const base = (r: Range): AggSpec => ({ sids, from: r.from, to: r.to, filters, keys: [], clickColumns, messages })
  const bucket = { unit: plan.interval, tz: plan.timezone, wholeHours: wholeHourOffsets(plan.timezone, Math.min(plan.range.from, plan.previous?.from ?? Infinity), plan.range.to) }
  const prevRange = plan.previous === undefined ? undefined : { from: iso(plan.previous.from), to: iso(plan.previous.to) }
  const data: AnalyticsResponse['data'] = {}

  let pagination: AnalyticsResponse['pagination'] = { total_groups: 0, returned_groups: 0, next_cursor: null }
  // The summary and series, when the breakdown's page already holds them (see partitions).
  let whole: { summary: Values, series?: AggRow[] } | undefined
  if (plan.include.has('breakdown')) {
    const keys = plan.groupBy.map(d => ({ kind: d.kind, key: d.key }))
    const by: AggColumn = plan.sort.metric
    const page = { by, desc: plan.sort.direction === 'desc', limit: plan.limit, offset: plan.offset }
    const pageSpec = (r: Range): AggSpec => ({ ...base(r), keys, page, clickColumns: by === 'human_click_rate' ? [...new Set([...clickColumns, 'human_clicks' as const])] : clickColumns })
    const rows = await run(pageSpec(plan.range))
    let total = rows[0]?.total ?? 0
    if (rows.length === 0 && plan.offset > 0) total = (await run({ ...pageSpec(plan.range), page: { ...page, limit: 1, offset: 0 } }))[0]?.total ?? 0
    const only = rows.map(r => r.keys)
    const tupleKey = (k: readonly string[]): string => JSON.stringify(k)
    let prevBy = new Map<string, Values>()
    if (plan.previous !== undefined && only.length > 0) {
      prevBy = new Map((await run({ ...base(plan.previous), keys, only })).map(r => [tupleKey(r.keys), r.values]))
    }
    let seriesBy: Map<string, AggRow[]> | undefined
    let seriesRows: AggRow[] | undefined
    let prevSeriesBy: Map<string, AggRow[]> | undefined
    if (plan.include.has('time_series') && only.length > 0) {
      // Each row's own series (tag × day and the like), for this page's groups only.
      const group = (list: AggRow[]): Map<string, AggRow[]> => {
        const m = new Map<string, AggRow[]>()
        for (const r of list) {
          const k = tupleKey(r.keys)
          const l = m.get(k)
          if (l === undefined) m.set(k, [r])
          else l.push(r)
        }
        return m
      }
      seriesRows = await run({ ...base(plan.range), keys, only, bucket })
      seriesBy = group(seriesRows)
      if (plan.previous !== undefined) prevSeriesBy = group(await run({ ...base(plan.previous), keys, only, bucket }))
    }
    const projects = new Map(scope.projects.map(p => [p.sid, p.project_id]))
    data.breakdown = rows.map(r => {
      const k = tupleKey(r.keys)
      const dimensions: BreakdownRow['dimensions'] = {}
      plan.groupBy.forEach((d, i) => { dimensions[d.name] = dimensionValue(d, r.keys[i], projects) })
      const row: BreakdownRow = { dimensions, ...measures(plan, r.values, prevBy.get(k), prevRange) }
      if (seriesBy !== undefined) row.time_series = series(plan, now, seriesBy.get(k) ?? [], prevSeriesBy?.get(k) ?? [])
      return row
    })
    const next = plan.offset + rows.length < total && rows.length > 0 ? encodeCursor(plan.offset + plan.limit, plan.fingerprint) : null
    pagination = { total_groups: total, returned_groups: rows.length, next_cursor: next }
    if (options.source !== 'raw' && partitions(plan) && plan.offset === 0 && rows.length === total) {
      // The page holds every group, and the groups split the recipients: the totals are its sums.
      whole = { summary: sumValues(rows), series: seriesRows === undefined ? undefined : sumByBucket(seriesRows) }
    }
  }
  if (plan.include.has('summary')) {
    const cur = whole !== undefined ? whole.summary : (await run(base(plan.range)))[0]?.values
    const prev = plan.previous === undefined ? undefined : (await run(base(plan.previous)))[0]?.values
    data.summary = measures(plan, cur, prev, prevRange)
  }
  if (plan.include.has('time_series')) {
    const rows = whole?.series ?? await run({ ...base(plan.range), bucket })
    const prev = plan.previous === undefined ? undefined : await run({ ...base(plan.previous), bucket })
    data.time_series = series(plan, now, rows, prev)
  }
  // The same order of keys whichever was computed first.
  const ordered: AnalyticsResponse['data'] = {}
  if (data.summary !== undefined) ordered.summary = data.summary
  if (data.time_series !== undefined) ordered.time_series = data.time_series
  if (data.breakdown !== undefined) ordered.breakdown = data.breakdown

  const ingested = await lastIngestedAt(store.reader, store.readerSettings)
  return {
    data: ordered,
    meta: {
      metrics: plan.metrics,
      group_by: plan.groupBy.map(d => d.name),
      timezone: plan.timezone,
      interval: plan.interval,
      from: iso(plan.range.from),
      to: iso(plan.range.to),
      alignment: plan.interval === 'day' ? 'local_day' : 'local_hour',
      calendar: plan.range.calendar,
      compare: prevRange ?? null,
      generated_at: iso(now),
      last_ingested_at: ingested === null ? null : iso(ingested),
      range_open: plan.range.to > now,
      sources: [...sources]
    },
    pagination
  }
}
