// The analytics page's queries to POST /v1/analytics (README "Analytics API"), built from the
// page's controls: one project, a range of local calendar dates, a time zone, an interval and
// the filter chips. Pure functions (no DOM): test/dashboard/api-client.test.ts loads them in
// Node, and the browser test asks the API the same questions to compare with what is drawn.

/** The chart's and the summary's metrics: people and machines, unique per recipient. */
export const SERIES_METRICS = ['human_clicks', 'machine_clicks', 'clicks_events', 'human_click_rate']
/** A breakdown table's metrics (sorted by the first). */
export const TABLE_METRICS = ['clicks', 'human_clicks', 'machine_clicks']

/**
 * The tables: [id, title, group_by, what a row filters by]. A campaign is the value of one
 * metadata key, named on the page (`metadata.<key>`).
 */
export function tables (campaignKey) {
  return [
    ['links', 'Top links', ['destination_url']],
    ['tags', 'Tags', ['tag']],
    ['campaigns', `Campaigns (metadata “${campaignKey}”)`, [`metadata.${campaignKey}`]],
    ['devices', 'Devices', ['device_type']],
    ['clients', 'Clients', ['client_name']],
    ['classes', 'Classification and reason codes', ['classification', 'reason_code']]
  ]
}

/** A filter chip `{dimension, value}` as an API filter: a null value (no tag, say) is is_null. */
export function apiFilter (chip) {
  return chip.value === null
    ? { dimension: chip.dimension, operator: 'is_null', values: [] }
    : { dimension: chip.dimension, operator: 'eq', values: [chip.value] }
}

/** What every query of the page shares: this project, the range, the zone, the chips. */
export function baseQuery ({ projectId, from, to, timezone, chips }) {
  return {
    from,
    to,
    timezone,
    filters: [{ dimension: 'project', operator: 'eq', values: [projectId] }, ...chips.map(apiFilter)]
  }
}

/** The chart and the summary, with the previous period of the same length. */
export function seriesQuery (state) {
  return { ...baseQuery(state), metrics: SERIES_METRICS, interval: state.interval, include: ['summary', 'time_series'], compare: 'previous_period' }
}

/** One breakdown table's query: its top rows by clicks. */
export function tableQuery (state, groupBy, limit = 10) {
  return { ...baseQuery(state), metrics: TABLE_METRICS, group_by: groupBy, include: ['breakdown'], sort: { metric: 'clicks', direction: 'desc' }, limit }
}

/** The chart's data as uPlot takes it: [x (unix seconds of each point's start), people, machines]. */
export function chartData (points) {
  return [
    points.map(p => Date.parse(p.from) / 1000),
    points.map(p => p.metrics.human_clicks ?? 0),
    points.map(p => p.metrics.machine_clicks ?? 0)
  ]
}

/** YYYY-MM-DD of an instant in a time zone. */
export function localDate (ms, timezone) {
  // en-CA writes dates as YYYY-MM-DD.
  return new Intl.DateTimeFormat('en-CA', { timeZone: timezone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(ms))
}

/** The default range: the last `days` local days of `timezone`, today included (as the API's default). */
export function lastDays (days, timezone, now = Date.now()) {
  const to = localDate(now, timezone)
  const [y, m, d] = to.split('-').map(Number)
  const from = new Date(Date.UTC(y, m - 1, d - (days - 1))).toISOString().slice(0, 10)
  return { from, to }
}

/** Days from `from` to `to`, both included; NaN when either is not a date. */
export function daysIn (from, to) {
  return Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / 86_400_000) + 1
}

/** The browser's own time zone, or UTC. */
export function browserZone () {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC' } catch { return 'UTC' }
}

/** Every IANA zone the browser knows (with UTC and `current` in it). */
export function zones (current) {
  let list = []
  try { list = Intl.supportedValuesOf('timeZone') } catch { /* an older browser: the two below */ }
  const set = new Set(list)
  set.add('UTC')
  set.add(current)
  return [...set].sort()
}

/** A relative change as text: "+25 %", "−10 %", "no change"; "" when the previous period had none. */
export function changeText (change) {
  if (change === undefined || change === null) return ''
  // From nothing: no percentage to give; the previous value (0) is shown beside it.
  if (change.relative === null || change.relative === undefined) return change.absolute === 0 ? 'no change' : ''
  if (change.relative === 0) return 'no change'
  const pct = Math.round(change.relative * 1000) / 10
  return `${pct > 0 ? '+' : '−'}${Math.abs(pct)} %`
}
