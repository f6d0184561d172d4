import { createHash } from 'node:crypto'
import { ClicktrailError, type ErrorCode } from '../errors.js'
import { dateStart, floorLocal, isTimezone, localDate } from './time.js'

/*
 * An analytics request (POST /v1/analytics, `clicktrail report`) checked and turned into a
 * plan that knows no HTTP: what to count, over which instants, grouped and filtered how.
 * Every refusal is a ClicktrailError whose code names the field (CT_ERR_ANALYTICS_*, 422;
 * a value of the wrong JSON type is CT_ERR_VALIDATION, 400, as elsewhere in the API).
 */

/** Counted per recipient (distinct messages: each recipient has a message id of its own) and, as `_events`, per observation. */
export const CLICK_CLASSES = ['clicks', 'human_clicks', 'machine_clicks', 'privacy_clicks', 'bot_clicks', 'scanner_clicks', 'preview_clicks'] as const
export type ClickClass = typeof CLICK_CLASSES[number]

export const METRICS = [
  ...CLICK_CLASSES,
  ...CLICK_CLASSES.map(c => `${c}_events` as const),
  'unique_links_clicked', 'tracked_messages', 'human_click_rate', 'median_time_to_first_click'
] as const
export type Metric = typeof METRICS[number]
const METRIC_SET: ReadonlySet<string> = new Set(METRICS)

export const DIMENSIONS = ['project', 'route', 'message_id', 'link_index', 'destination_url', 'tag', 'metadata', 'device_type', 'client_type', 'client_name', 'classification', 'proxy_type', 'reason_code', 'first_click', 'is_human', 'is_machine'] as const
export type DimensionKind = typeof DIMENSIONS[number]
/** Filters only: grouping by them says nothing `classification` does not. */
const FILTER_ONLY: ReadonlySet<DimensionKind> = new Set(['is_human', 'is_machine'])
/** Attributes of the message (one value per recipient's message): `messages` has them too, so tracked_messages can be split and filtered by them. */
export const MESSAGE_DIMENSIONS: ReadonlySet<DimensionKind> = new Set(['project', 'route', 'message_id', 'tag', 'metadata'])
const BOOLEAN_DIMENSIONS: ReadonlySet<DimensionKind> = new Set(['first_click', 'is_human', 'is_machine'])
const UUID_DIMENSIONS: ReadonlySet<DimensionKind> = new Set(['route', 'message_id'])

export const OPERATORS = ['eq', 'in', 'not_in', 'is_null', 'is_not_null'] as const
export type Operator = typeof OPERATORS[number]
export const INCLUDES = ['summary', 'time_series', 'breakdown'] as const
export type Include = typeof INCLUDES[number]

/** The bounds of one request (README, Analytics API). */
export const ANALYTICS_LIMITS = {
  /** Request body, bytes (the route's maxBody). */
  maxBodyBytes: 16 * 1024,
  maxRangeDays: 90,
  defaultRangeDays: 30,
  maxGroupBy: 3,
  maxMetrics: METRICS.length,
  maxFilters: 20,
  maxFilterValues: 100,
  maxValueLength: 1000,
  maxMetadataKeyLength: 200,
  defaultLimit: 50,
  maxLimit: 200,
  /** No page starts past this many groups (a cursor cannot walk a million groups page by page). */
  maxOffset: 100_000,
  /** A breakdown with time_series: rows × points per page (under the reader's max_result_rows, 100,000). */
  maxRowPoints: 50_000
} as const

export interface Dimension {
  /** As the request names it: `tag`, `metadata.campaign`. */
  name: string
  kind: DimensionKind
  /** The metadata key of `metadata.<key>`. */
  key?: string
}

export type FilterValue = string | number | boolean
export interface Filter { dim: Dimension, op: Operator, values: FilterValue[] }

export interface Range {
  from: number
  /** Exclusive. */
  to: number
  /** Given (or defaulted) as calendar dates: whole local days. */
  calendar: boolean
}

export interface Plan {
  metrics: Metric[]
  range: Range
  /** The period compared with (same length, just before), when compare is previous_period. */
  previous?: Range
  timezone: string
  interval: 'hour' | 'day'
  include: ReadonlySet<Include>
  groupBy: Dimension[]
  filters: Filter[]
  sort: { metric: Metric, direction: 'asc' | 'desc' }
  limit: number
  offset: number
  /** The query without its page: a cursor is valid only for the query it came from. */
  fingerprint: string
}

const ALLOWED_FIELDS: ReadonlySet<string> = new Set(['metrics', 'from', 'to', 'timezone', 'interval', 'include', 'group_by', 'filters', 'compare', 'sort', 'limit', 'cursor'])
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
const INSTANT = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const DAY = 86_400_000
const HOUR = 3_600_000

const refuse = (code: ErrorCode, field: string, message: string, value?: unknown): ClicktrailError =>
  new ClicktrailError(code, message, { details: { field, ...(value === undefined ? {} : { value }) } })
const badType = (field: string, what: string): ClicktrailError =>
  new ClicktrailError('CT_ERR_VALIDATION', `field "${field}" must be ${what}`, { details: { field } })

function str (v: unknown, field: string, max: number = ANALYTICS_LIMITS.maxValueLength): string {
  if (typeof v !== 'string') throw badType(field, 'a string')
  if (v.length > max) throw badType(field, `at most ${max} characters`)
  return v
}
function arr (v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw badType(field, 'an array')
  return v
}

/** A dimension name: one of DIMENSIONS, or `metadata.<key>`. */
export function parseDimension (v: unknown, field: string): Dimension {
  const name = str(v, field, ANALYTICS_LIMITS.maxMetadataKeyLength + 9)
  if (name.startsWith('metadata.')) {
    const key = name.slice(9)
    if (key.length === 0) throw refuse('CT_ERR_ANALYTICS_DIMENSION', field, 'metadata dimensions name their key: metadata.<key>', name)
    return { name, kind: 'metadata', key }
  }
  if (name === 'metadata' || !(DIMENSIONS as readonly string[]).includes(name)) {
    throw refuse('CT_ERR_ANALYTICS_DIMENSION', field, `unknown dimension "${name}"; one of ${DIMENSIONS.filter(d => d !== 'metadata').join(', ')} or metadata.<key>`, name)
  }
  return { name, kind: name as DimensionKind }
}

function parseValue (dim: Dimension, v: unknown, field: string): FilterValue {
  if (BOOLEAN_DIMENSIONS.has(dim.kind)) {
    if (typeof v === 'boolean') return v
    if (v === 'true' || v === 'false') return v === 'true'
    throw refuse('CT_ERR_ANALYTICS_FILTER', field, `${dim.name} is true or false`, v)
  }
  if (dim.kind === 'link_index') {
    const n = typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : v
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 65535) throw refuse('CT_ERR_ANALYTICS_FILTER', field, 'link_index is an integer from 0 to 65535', v)
    return n
  }
  const s = str(v, field)
  if (UUID_DIMENSIONS.has(dim.kind) && !UUID.test(s)) throw refuse('CT_ERR_ANALYTICS_FILTER', field, `${dim.name} is a UUID`, s)
  return UUID_DIMENSIONS.has(dim.kind) ? s.toLowerCase() : s
}

function parseFilter (v: unknown, i: number): Filter {
  const field = `filters.${i}`
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badType(field, 'an object {dimension, operator, values}')
  const f = v as Record<string, unknown>
  for (const k of Object.keys(f)) if (k !== 'dimension' && k !== 'operator' && k !== 'values') throw new ClicktrailError('CT_ERR_VALIDATION', `unknown field "${field}.${k}"`, { details: { field: `${field}.${k}` } })
  const dim = parseDimension(f.dimension, `${field}.dimension`)
  const op = f.operator ?? 'eq'
  if (typeof op !== 'string' || !(OPERATORS as readonly string[]).includes(op)) throw refuse('CT_ERR_ANALYTICS_FILTER', `${field}.operator`, `operator is one of ${OPERATORS.join(', ')}`, op)
  const raw = f.values === undefined ? [] : arr(f.values, `${field}.values`)
  if (raw.length > ANALYTICS_LIMITS.maxFilterValues) throw refuse('CT_ERR_ANALYTICS_FILTER', `${field}.values`, `at most ${ANALYTICS_LIMITS.maxFilterValues} values per filter`)
  const operator = op as Operator
  if (operator === 'is_null' || operator === 'is_not_null') {
    if (raw.length > 0) throw refuse('CT_ERR_ANALYTICS_FILTER', `${field}.values`, `${operator} takes no values`)
  } else if (operator === 'eq' ? raw.length !== 1 : raw.length === 0) {
    throw refuse('CT_ERR_ANALYTICS_FILTER', `${field}.values`, operator === 'eq' ? 'eq takes exactly one value' : `${operator} takes at least one value`)
  }
  return { dim, op: operator, values: raw.map((x, j) => parseValue(dim, x, `${field}.values.${j}`)) }
}

/** `from` / `to`: a calendar date (`to` inclusive) or an RFC 3339 instant (`to` exclusive). */
function parseBound (v: unknown, field: 'from' | 'to', tz: string): { ms: number, calendar: boolean } {
  const s = str(v, field, 40)
  const d = DATE.exec(s)
  if (d !== null) {
    const [y, m, day] = [Number(d[1]), Number(d[2]), Number(d[3])]
    const check = new Date(Date.UTC(y, m - 1, day))
    if (check.getUTCFullYear() !== y || check.getUTCMonth() !== m - 1 || check.getUTCDate() !== day) throw refuse('CT_ERR_ANALYTICS_RANGE', field, `${field} is not a calendar date`, s)
    return { ms: dateStart(tz, s, field === 'to' ? 1 : 0), calendar: true }
  }
  const ms = INSTANT.test(s) ? Date.parse(s) : NaN
  if (Number.isNaN(ms)) throw refuse('CT_ERR_ANALYTICS_RANGE', field, `${field} is a date (YYYY-MM-DD) or an RFC 3339 time (2025-08-01T00:00:00Z)`, s)
  return { ms, calendar: false }
}

function parseRange (b: Record<string, unknown>, tz: string, now: number): Range {
  const today = localDate(tz, now)
  const to = b.to === undefined ? { ms: dateStart(tz, today, 1), calendar: true } : parseBound(b.to, 'to', tz)
  let from: { ms: number, calendar: boolean }
  if (b.from !== undefined) from = parseBound(b.from, 'from', tz)
  else {
    // The 30 local days that end where `to` does (today included by default).
    const end = to.calendar ? to.ms : floorLocal(tz, 'day', to.ms)
    from = { ms: dateStart(tz, localDate(tz, end - DAY / 2), 1 - ANALYTICS_LIMITS.defaultRangeDays), calendar: true }
  }
  if (from.ms >= to.ms) throw refuse('CT_ERR_ANALYTICS_RANGE', 'to', '`to` must come after `from`')
  const calendar = from.calendar && to.calendar
  // Whole local days are counted as days (a DST day is 23 or 25 hours); instants by the clock.
  const days = calendar ? Math.round((to.ms - from.ms) / DAY) : (to.ms - from.ms) / DAY
  if (days > ANALYTICS_LIMITS.maxRangeDays) throw refuse('CT_ERR_ANALYTICS_RANGE', 'to', `the range is ${Math.ceil(days)} days; at most ${ANALYTICS_LIMITS.maxRangeDays}`)
  return { from: from.ms, to: to.ms, calendar }
}

/** The same number of local days (or the same length) just before `r`. */
export function previousRange (r: Range, tz: string): Range {
  if (r.calendar) {
    const days = Math.round((r.to - r.from) / DAY)
    return { from: dateStart(tz, localDate(tz, r.from + DAY / 2), -days), to: r.from, calendar: true }
  }
  return { from: r.from - (r.to - r.from), to: r.from, calendar: false }
}

function oneOf<T extends string> (v: unknown, field: string, allowed: readonly T[], code: ErrorCode): T {
  const s = str(v, field, 100)
  if (!(allowed as readonly string[]).includes(s)) throw refuse(code, field, `${field} is one of ${allowed.join(', ')}`, s)
  return s as T
}

interface CursorBody { o: number, f: string }

export function encodeCursor (offset: number, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ o: offset, f: fingerprint } satisfies CursorBody)).toString('base64url')
}

function decodeCursor (v: unknown, fingerprint: string): number {
  const s = str(v, 'cursor', 200)
  let c: Partial<CursorBody> | undefined
  try { c = JSON.parse(Buffer.from(s, 'base64url').toString('utf8')) } catch { c = undefined }
  if (c === undefined || c === null || typeof c.o !== 'number' || !Number.isInteger(c.o) || c.o < 0 || c.o > ANALYTICS_LIMITS.maxOffset || typeof c.f !== 'string') {
    throw refuse('CT_ERR_ANALYTICS_CURSOR', 'cursor', 'cursor is not one this API gave out')
  }
  if (c.f !== fingerprint) throw refuse('CT_ERR_ANALYTICS_CURSOR', 'cursor', 'cursor belongs to another query: send the same query with it')
  return c.o
}

/** Checks `body` (parsed JSON, trusted for nothing) and plans it; `now` is the clock (ms), `zones` the time zones ClickHouse knows (store/analytics.ts timeZones). */
export function planAnalytics (body: unknown, now: number, zones: ReadonlySet<string>): Plan {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new ClicktrailError('CT_ERR_VALIDATION', 'request body must be a JSON object')
  const b = body as Record<string, unknown>
  for (const k of Object.keys(b)) if (!ALLOWED_FIELDS.has(k)) throw new ClicktrailError('CT_ERR_VALIDATION', `unknown field "${k}"`, { details: { field: k } })

  if (b.metrics === undefined) throw new ClicktrailError('CT_ERR_VALIDATION', 'missing field "metrics"', { details: { field: 'metrics' } })
  const rawMetrics = arr(b.metrics, 'metrics')
  if (rawMetrics.length === 0) throw refuse('CT_ERR_ANALYTICS_METRIC', 'metrics', 'name at least one metric')
  if (rawMetrics.length > ANALYTICS_LIMITS.maxMetrics) throw refuse('CT_ERR_ANALYTICS_METRIC', 'metrics', `at most ${ANALYTICS_LIMITS.maxMetrics} metrics`)
  const metrics: Metric[] = []
  rawMetrics.forEach((m, i) => {
    const s = str(m, `metrics.${i}`, 100)
    if (!METRIC_SET.has(s)) throw refuse('CT_ERR_ANALYTICS_METRIC', `metrics.${i}`, `unknown metric "${s}"; one of ${METRICS.join(', ')}`, s)
    if (!metrics.includes(s as Metric)) metrics.push(s as Metric)
  })

  const timezone = b.timezone === undefined ? 'UTC' : str(b.timezone, 'timezone', 100)
  if (!isTimezone(timezone, zones)) throw refuse('CT_ERR_ANALYTICS_TIMEZONE', 'timezone', `unknown time zone "${timezone}"; an IANA name such as Europe/Amsterdam`, timezone)
  const interval = b.interval === undefined ? 'day' : oneOf(b.interval, 'interval', ['hour', 'day'] as const, 'CT_ERR_ANALYTICS_INTERVAL')
  const range = parseRange(b, timezone, now)

  const groupBy: Dimension[] = b.group_by === undefined ? [] : arr(b.group_by, 'group_by').map((g, i) => parseDimension(g, `group_by.${i}`))
  if (groupBy.length > ANALYTICS_LIMITS.maxGroupBy) throw refuse('CT_ERR_ANALYTICS_GROUP_BY', 'group_by', `at most ${ANALYTICS_LIMITS.maxGroupBy} group_by dimensions, got ${groupBy.length}`)
  groupBy.forEach((d, i) => {
    if (FILTER_ONLY.has(d.kind)) throw refuse('CT_ERR_ANALYTICS_DIMENSION', `group_by.${i}`, `${d.name} is a filter; group by classification instead`, d.name)
    if (groupBy.findIndex(x => x.name === d.name) !== i) throw refuse('CT_ERR_ANALYTICS_GROUP_BY', `group_by.${i}`, `${d.name} is named twice`, d.name)
  })

  let include: Set<Include>
  if (b.include === undefined) include = new Set(groupBy.length > 0 ? ['summary', 'breakdown'] : ['summary'])
  else {
    const raw = arr(b.include, 'include')
    if (raw.length === 0) throw refuse('CT_ERR_ANALYTICS_INCLUDE', 'include', `include names at least one of ${INCLUDES.join(', ')}`)
    include = new Set(raw.slice(0, INCLUDES.length + 1).map((x, i) => oneOf(x, `include.${i}`, INCLUDES, 'CT_ERR_ANALYTICS_INCLUDE')))
  }
  if (include.has('breakdown') && groupBy.length === 0) throw refuse('CT_ERR_ANALYTICS_GROUP_BY', 'group_by', 'a breakdown needs group_by')
  if (!include.has('breakdown') && groupBy.length > 0) throw refuse('CT_ERR_ANALYTICS_GROUP_BY', 'group_by', 'group_by needs "breakdown" in include')

  const rawFilters = b.filters === undefined ? [] : arr(b.filters, 'filters')
  if (rawFilters.length > ANALYTICS_LIMITS.maxFilters) throw refuse('CT_ERR_ANALYTICS_FILTER', 'filters', `at most ${ANALYTICS_LIMITS.maxFilters} filters`)
  const filters = rawFilters.map(parseFilter)

  let previous: Range | undefined
  if (b.compare !== undefined && b.compare !== null) {
    oneOf(b.compare, 'compare', ['previous_period'] as const, 'CT_ERR_ANALYTICS_COMPARE')
    previous = previousRange(range, timezone)
  }

  let sort: Plan['sort'] = { metric: metrics[0], direction: 'desc' }
  if (b.sort !== undefined) {
    if (b.sort === null || typeof b.sort !== 'object' || Array.isArray(b.sort)) throw badType('sort', 'an object {metric, direction}')
    const s = b.sort as Record<string, unknown>
    for (const k of Object.keys(s)) if (k !== 'metric' && k !== 'direction') throw new ClicktrailError('CT_ERR_VALIDATION', `unknown field "sort.${k}"`, { details: { field: `sort.${k}` } })
    const metric = s.metric === undefined ? metrics[0] : str(s.metric, 'sort.metric', 100)
    if (!metrics.includes(metric as Metric)) throw refuse('CT_ERR_ANALYTICS_SORT', 'sort.metric', `sort by one of the requested metrics (${metrics.join(', ')})`, metric)
    const direction = s.direction === undefined ? 'desc' : oneOf(s.direction, 'sort.direction', ['asc', 'desc'] as const, 'CT_ERR_ANALYTICS_SORT')
    sort = { metric: metric as Metric, direction }
  }

  let limit: number = ANALYTICS_LIMITS.defaultLimit
  if (b.limit !== undefined) {
    if (typeof b.limit !== 'number' || !Number.isInteger(b.limit)) throw badType('limit', 'an integer')
    if (b.limit < 1 || b.limit > ANALYTICS_LIMITS.maxLimit) throw refuse('CT_ERR_ANALYTICS_LIMIT', 'limit', `limit is from 1 to ${ANALYTICS_LIMITS.maxLimit}`, b.limit)
    limit = b.limit
  }

  if (include.has('breakdown') && include.has('time_series')) {
    const points = Math.ceil((range.to - range.from) / (interval === 'hour' ? HOUR : DAY)) + 1
    if (limit * points > ANALYTICS_LIMITS.maxRowPoints) {
      throw refuse('CT_ERR_ANALYTICS_LIMIT', 'limit', `a breakdown with time_series holds at most ${ANALYTICS_LIMITS.maxRowPoints} points per page: ${points} points per row allow a limit of ${Math.max(1, Math.floor(ANALYTICS_LIMITS.maxRowPoints / points))}`, limit)
    }
  }

  const fingerprint = createHash('sha256').update(JSON.stringify([metrics, range, timezone, interval, [...include].sort(), groupBy.map(d => d.name), filters.map(f => [f.dim.name, f.op, f.values]), previous !== undefined, sort, limit])).digest('base64url').slice(0, 16)
  const offset = b.cursor === undefined || b.cursor === null ? 0 : decodeCursor(b.cursor, fingerprint)
  return { metrics, range, previous, timezone, interval, include, groupBy, filters, sort, limit, offset, fingerprint }
}
