import t, { type Test } from 'tap'
import { request as httpRequest } from 'node:http'
import { parse } from 'csv-parse/sync'
import { startTestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { bootstrap, createProject, createRoute } from '../../src/control/projects.js'
import { runAnalytics } from '../../src/analytics/run.js'
import { ALL_METRICS, T0, breakdown, evaluate, insertClicks, insertData, makeData, rounded, select, type Click, type Query, type TestFilter, type Values } from '../analytics/fixture.js'

// POST /v1/analytics through the real Team API and the real embedded ClickHouse, on rows
// written straight into `messages` and `clicks` (fixture.ts: times controlled, midnight
// boundaries in UTC and Europe/Amsterdam), each answer checked against fixture.ts's own
// count over the same rows.

const DAY = 86_400_000
const HOUR = 3_600_000

/** A POST with an Accept header (test/helpers/api.ts sends none). */
function post (port: number, path: string, token: string, body: unknown, accept: string): Promise<{ status: number, raw: string, headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body)
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path, agent: false, headers: { 'content-type': 'application/json', accept, authorization: `Bearer ${token}`, 'content-length': String(Buffer.byteLength(payload)) } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, raw: Buffer.concat(chunks).toString('utf8'), headers: res.headers }) })
    })
    req.on('error', reject)
    req.end(payload)
  })
}

// Every metric and dimension, before and after a re-classification, from the views and from raw
// clicks: over .taprc's 300 s on a loaded 2-core machine.
t.setTimeout(900_000)

t.test('analytics', async t => {
  const e = await startTestEngine(t)
  const A = e.team!
  const acme2 = await createProject(e.plane, A.team.team_id, { name: 'Second', sid: 'acme2' })
  const acme2Route = await createRoute(e.plane, acme2, { name: 'Tx', type: 'transactional', track_clicks: true })
  const B = await bootstrap(e.plane, { team: 'Other team', sid: 'other' })
  const projects = [
    { sid: 'acme', project_id: A.project.project_id, routes: A.routes.map(r => r.route_id) },
    { sid: 'acme2', project_id: acme2.project_id, routes: [acme2Route.route_id] },
    { sid: 'other', project_id: B.project.project_id, routes: B.routes.map(r => r.route_id) }
  ]
  const data = makeData(projects, 13)
  await insertData(e.store.writer, data)
  const projectOf = (sid: string): string => projects.find(p => p.sid === sid)?.project_id ?? ''
  // Team A's rows only: what team A must see.
  const mine = { messages: data.messages.filter(m => m.sid !== 'other'), clicks: data.clicks.filter(c => c.sid !== 'other') }
  t.ok(mine.clicks.length > 150, `${mine.clicks.length} clicks of team A`)
  t.ok(mine.clicks.some(c => c.machine) && mine.clicks.some(c => c.classification === 'privacy_proxy'), 'machines and privacy proxies')
  const call = async (body: unknown, token = A.token): Promise<any> => {
    const r = await api(e.api.port, 'POST', '/v1/analytics', token, body)
    if (r.status !== 200) t.fail(`${r.status} ${r.raw}`)
    return r.body
  }
  const june = { from: '2025-06-01', to: '2025-06-30' }
  const juneMs = { from: T0, to: T0 + 30 * DAY }

  await t.test('summary: every metric, exact, UTC and Amsterdam days, instants', async t => {
    for (const [range, expectRange, tz] of [
      [june, juneMs, 'UTC'],
      // Amsterdam (UTC+2 in June): June 1 – 9 local ends at 2025-06-09T22:00Z, between the two edge clicks.
      [{ from: '2025-06-01', to: '2025-06-09' }, { from: T0 - 2 * HOUR, to: T0 + 9 * DAY - 2 * HOUR }, 'Europe/Amsterdam'],
      [{ from: '2025-06-03T10:00:00Z', to: '2025-06-09T22:00:00Z' }, { from: T0 + 2 * DAY + 10 * HOUR, to: T0 + 8 * DAY + 22 * HOUR }, 'UTC'],
      [{ from: '2025-06-03T12:00:00+02:00', to: '2025-06-10T00:00:00.000+02:00' }, { from: T0 + 2 * DAY + 10 * HOUR, to: T0 + 8 * DAY + 22 * HOUR }, 'Asia/Kolkata']
    ] as const) {
      const res = await call({ metrics: ALL_METRICS, ...range, timezone: tz })
      const { clicks, messages } = select({ metrics: ALL_METRICS, ...expectRange }, mine, projectOf)
      t.same(rounded(res.data.summary.metrics), rounded(evaluate(ALL_METRICS, clicks, messages)), `${JSON.stringify(range)} ${tz}`)
      t.equal(res.meta.from, new Date(expectRange.from).toISOString())
      t.equal(res.meta.to, new Date(expectRange.to).toISOString())
      const v = evaluate(['human_clicks', 'tracked_messages'], clicks, messages)
      t.same(res.data.summary.rate_bases, { human_click_rate: { numerator: v.human_clicks, denominator: v.tracked_messages } })
    }
    // The edge clicks: 21:59:59.999Z is June 9 in Amsterdam, 22:00Z June 10.
    const day = async (d: string, tz: string): Promise<number> => (await call({ metrics: ['clicks_events'], from: d, to: d, timezone: tz, filters: [{ dimension: 'message_id', operator: 'eq', values: [data.messages[0].message_id] }] })).data.summary.metrics.clicks_events
    const raw = (from: number, to: number): number => data.clicks.filter(c => c.message_id === data.messages[0].message_id && c.ts >= from && c.ts < to).length
    t.equal(await day('2025-06-09', 'Europe/Amsterdam'), raw(T0 + 8 * DAY - 2 * HOUR, T0 + 9 * DAY - 2 * HOUR), 'Amsterdam June 9')
    t.equal(await day('2025-06-10', 'Europe/Amsterdam'), raw(T0 + 9 * DAY - 2 * HOUR, T0 + 10 * DAY - 2 * HOUR), 'Amsterdam June 10')
    t.equal(await day('2025-06-09', 'UTC'), raw(T0 + 8 * DAY, T0 + 9 * DAY), 'UTC June 9')
    t.not(raw(T0 + 8 * DAY - 2 * HOUR, T0 + 9 * DAY - 2 * HOUR), raw(T0 + 8 * DAY, T0 + 9 * DAY), 'the two zones disagree on that day')
  })

  await t.test('time series: zero-filled, local days and hours, from/to/partial', async t => {
    for (const tz of ['UTC', 'Europe/Amsterdam']) {
      const res = await call({ metrics: ALL_METRICS, ...june, timezone: tz, include: ['time_series'] })
      t.equal(res.data.summary, undefined)
      const pts = res.data.time_series
      t.equal(pts.length, 30, `${tz}: 30 days`)
      const off = tz === 'UTC' ? 0 : 2 * HOUR
      for (let i = 0; i < 30; i++) {
        const from = T0 + i * DAY - off
        t.equal(pts[i].from, new Date(from).toISOString())
        t.equal(pts[i].to, new Date(from + DAY).toISOString())
        t.equal(pts[i].partial, false)
        const { clicks, messages } = select({ metrics: ALL_METRICS, from, to: from + DAY }, mine, projectOf)
        t.same(rounded(pts[i].metrics), rounded(evaluate(ALL_METRICS, clicks, messages)), `${tz} day ${i}`)
      }
      t.ok(pts.some((p: any) => p.metrics.clicks === 0), 'days without clicks are there, as zero')
    }
    // Hours, from an instant that is not on the hour: the first and last points are partial.
    const from = T0 + 8 * DAY + 20 * HOUR + 30 * 60_000
    const to = T0 + 9 * DAY + 1 * HOUR + 15 * 60_000
    const res = await call({ metrics: ['clicks_events', 'human_clicks'], from: new Date(from).toISOString(), to: new Date(to).toISOString(), interval: 'hour', include: ['time_series'] })
    const pts = res.data.time_series
    t.equal(pts.length, 6)
    t.same(pts.map((p: any) => p.partial), [true, false, false, false, false, true])
    t.equal(pts[0].from, new Date(from).toISOString())
    t.equal(pts[5].to, new Date(to).toISOString())
    for (const p of pts) {
      const { clicks, messages } = select({ metrics: [], from: Date.parse(p.from), to: Date.parse(p.to) }, mine, projectOf)
      t.same(p.metrics, evaluate(['clicks_events', 'human_clicks'], clicks, messages), p.from)
    }
    t.equal(res.meta.alignment, 'local_hour')
    t.equal(res.meta.range_open, false)
    // A 30-minute zone: hours start at :30 UTC.
    const ist = await call({ metrics: ['clicks_events'], from: '2025-06-09', to: '2025-06-09', timezone: 'Asia/Kolkata', interval: 'hour', include: ['time_series'] })
    t.equal(ist.data.time_series.length, 24)
    t.equal(ist.data.time_series[0].from, '2025-06-08T18:30:00.000Z')
    let sum = 0
    for (const p of ist.data.time_series) {
      const n = mine.clicks.filter(c => c.ts >= Date.parse(p.from) && c.ts < Date.parse(p.to)).length
      t.equal(p.metrics.clicks_events, n)
      sum += n
    }
    t.ok(sum > 0, 'that day has clicks')
  })

  const DIMS = ['project', 'route', 'message_id', 'link_index', 'destination_url', 'tag', 'metadata.campaign', 'metadata.segment', 'device_type', 'client_type', 'client_name', 'classification', 'proxy_type', 'reason_code', 'first_click']

  const checkBreakdown = async (t: Test, q: Query & Record<string, unknown>, label: string): Promise<void> => {
    const { from, to, ...rest } = q
    const res = await call({ ...rest, from: new Date(from).toISOString(), to: new Date(to).toISOString(), include: ['breakdown'], limit: 200 })
    const expected = breakdown(q, mine, projectOf)
    const got = new Map<string, Values>(res.data.breakdown.map((r: any) => [JSON.stringify(r.dimensions), rounded(r.metrics)]))
    t.same(new Set(got.keys()), new Set(expected.keys()), `${label}: the groups`)
    for (const [k, v] of expected) t.same(got.get(k), rounded(v), `${label}: ${k}`)
    t.equal(res.pagination.total_groups, expected.size)
    t.equal(res.pagination.returned_groups, expected.size)
    const first = q.metrics[0]
    const col = res.data.breakdown.map((r: any) => r.metrics[first] ?? -Infinity)
    t.ok(col.every((x: number, i: number) => i === 0 || col[i - 1] >= x), `${label}: sorted by ${first}, descending`)
  }

  await t.test('breakdown: every dimension, every metric', async t => {
    for (const d of DIMS) await checkBreakdown(t, { metrics: ALL_METRICS, group_by: [d], ...juneMs }, d)
  })

  await t.test('breakdown: several dimensions; filters of every operator', async t => {
    await checkBreakdown(t, { metrics: ALL_METRICS, group_by: ['tag', 'classification'], ...juneMs }, 'tag × classification')
    await checkBreakdown(t, { metrics: ['clicks', 'tracked_messages', 'human_click_rate'], group_by: ['project', 'route', 'metadata.campaign'], ...juneMs }, 'project × route × campaign')
    await checkBreakdown(t, { metrics: ['clicks', 'clicks_events'], group_by: ['reason_code', 'device_type', 'link_index'], ...juneMs }, 'reason × device × link')
    const filters: TestFilter[][] = [
      [{ dimension: 'classification', operator: 'eq', values: ['genuine'] }],
      [{ dimension: 'is_human', operator: 'eq', values: [false] }],
      [{ dimension: 'is_machine', operator: 'eq', values: [true] }, { dimension: 'reason_code', operator: 'in', values: ['isbot', 'head_request'] }],
      [{ dimension: 'reason_code', operator: 'not_in', values: ['isbot'] }],
      [{ dimension: 'reason_code', operator: 'is_null' }],
      [{ dimension: 'proxy_type', operator: 'is_not_null' }],
      [{ dimension: 'metadata.campaign', operator: 'is_null' }],
      [{ dimension: 'metadata.campaign', operator: 'not_in', values: ['spring'] }],
      [{ dimension: 'tag', operator: 'in', values: ['welcome', 'promo'] }, { dimension: 'link_index', operator: 'not_in', values: [0] }],
      [{ dimension: 'project', operator: 'eq', values: [acme2.project_id] }],
      [{ dimension: 'project', operator: 'not_in', values: [acme2.project_id] }],
      [{ dimension: 'route', operator: 'eq', values: [A.routes[1].route_id] }],
      [{ dimension: 'first_click', operator: 'eq', values: [true] }],
      [{ dimension: 'client_name', operator: 'is_null' }, { dimension: 'device_type', operator: 'in', values: ['tablet', 'mobile'] }]
    ]
    // A project is named by its id or its sid.
    const bySid = await call({ metrics: ALL_METRICS, ...june, filters: [{ dimension: 'project', operator: 'not_in', values: ['acme2'] }] })
    const byId = await call({ metrics: ALL_METRICS, ...june, filters: [{ dimension: 'project', operator: 'not_in', values: [acme2.project_id] }] })
    t.same(bySid.data, byId.data, 'project by sid = project by id')
    t.ok(byId.data.summary.metrics.clicks > 0)
    for (const f of filters) {
      await checkBreakdown(t, { metrics: ALL_METRICS, group_by: ['tag'], filters: f, ...juneMs }, `tag where ${JSON.stringify(f)}`)
      const { clicks, messages } = select({ metrics: ALL_METRICS, filters: f, ...juneMs }, mine, projectOf)
      const res = await call({ metrics: ALL_METRICS, ...june, filters: f })
      t.same(rounded(res.data.summary.metrics), rounded(evaluate(ALL_METRICS, clicks, messages)), `summary where ${JSON.stringify(f)}`)
    }
  })

  await t.test('another team sees none of it', async t => {
    const res = await call({ metrics: ALL_METRICS, ...june, include: ['summary', 'breakdown'], group_by: ['project'] }, B.token)
    const theirs = { messages: data.messages.filter(m => m.sid === 'other'), clicks: data.clicks.filter(c => c.sid === 'other') }
    const { clicks, messages } = select({ metrics: ALL_METRICS, ...juneMs }, theirs, projectOf)
    t.same(rounded(res.data.summary.metrics), rounded(evaluate(ALL_METRICS, clicks, messages)), 'their own rows only')
    t.same(res.data.breakdown.map((r: any) => r.dimensions.project), [B.project.project_id])
    for (const values of [[A.project.project_id], ['acme'], [acme2.project_id]]) {
      const r = await call({ metrics: ['clicks', 'clicks_events', 'tracked_messages'], ...june, filters: [{ dimension: 'project', operator: 'in', values }] }, B.token)
      t.same(r.data.summary.metrics, { clicks: 0, clicks_events: 0, tracked_messages: 0 }, `team B naming team A's ${values[0]}: nothing`)
    }
    const byMessage = await call({ metrics: ['clicks_events'], ...june, filters: [{ dimension: 'message_id', operator: 'eq', values: [data.messages[0].message_id] }] }, B.token)
    t.equal(byMessage.data.summary.metrics.clicks_events, 0, 'nor team A\'s message by its id')
  })

  await t.test('compare previous_period', async t => {
    const body = { metrics: ['clicks', 'human_clicks_events', 'human_click_rate'], from: '2025-06-11', to: '2025-06-20', compare: 'previous_period', include: ['summary', 'time_series', 'breakdown'], group_by: ['tag'] }
    const res = await call(body)
    const cur = { from: T0 + 10 * DAY, to: T0 + 20 * DAY }
    const prev = { from: T0, to: T0 + 10 * DAY }
    t.same(res.meta.compare, { from: new Date(prev.from).toISOString(), to: new Date(prev.to).toISOString() })
    const ev = (r: { from: number, to: number }, filters: TestFilter[] = []): Values => { const s = select({ metrics: [], ...r, filters }, mine, projectOf); return evaluate(body.metrics, s.clicks, s.messages) }
    const c = ev(cur)
    const p = ev(prev)
    t.same(rounded(res.data.summary.metrics), rounded(c))
    t.same(rounded(res.data.summary.previous.metrics), rounded(p))
    t.equal(res.data.summary.change.clicks.absolute, (c.clicks as number) - (p.clicks as number))
    t.equal(res.data.summary.change.clicks.relative, ((c.clicks as number) - (p.clicks as number)) / (p.clicks as number))
    t.equal(res.data.time_series.length, 10)
    res.data.time_series.forEach((pt: any, i: number) => {
      t.equal(pt.previous.from, new Date(prev.from + i * DAY).toISOString())
      t.same(rounded(pt.previous.metrics), rounded(ev({ from: prev.from + i * DAY, to: prev.from + (i + 1) * DAY })))
    })
    for (const row of res.data.breakdown) {
      const f: TestFilter[] = [row.dimensions.tag === null ? { dimension: 'tag', operator: 'is_null' } : { dimension: 'tag', operator: 'eq', values: [row.dimensions.tag] }]
      t.same(rounded(row.previous.metrics), rounded(ev(prev, f)), `previous of tag ${row.dimensions.tag}`)
    }
  })

  await t.test('pagination: cursors walk every group once', async t => {
    const body = { metrics: ['clicks_events'], ...june, group_by: ['message_id'], limit: 7 }
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    let total = 0
    do {
      const res: any = await call({ ...body, ...(cursor === null ? {} : { cursor }) })
      seen.push(...res.data.breakdown.map((r: any) => r.dimensions.message_id))
      total = res.pagination.total_groups
      cursor = res.pagination.next_cursor
      pages++
    } while (cursor !== null && pages < 50)
    const expected = new Set(mine.clicks.filter(c => c.ts >= juneMs.from && c.ts < juneMs.to).map(c => c.message_id))
    t.equal(total, expected.size)
    t.equal(seen.length, expected.size, 'no group twice')
    t.same(new Set(seen), expected)
    t.equal(pages, Math.ceil(expected.size / 7))
    const other = await api(e.api.port, 'POST', '/v1/analytics', A.token, { ...body, limit: 8, cursor: (await call(body)).pagination.next_cursor })
    t.equal(other.status, 422)
    t.equal(other.body.error.code, 'CT_ERR_ANALYTICS_CURSOR', 'a cursor of another query')
  })

  await t.test('CSV: Accept or ?format=csv, parsed back', async t => {
    const body = { metrics: ['clicks', 'human_click_rate', 'median_time_to_first_click'], ...june, group_by: ['tag', 'link_index'], compare: 'previous_period' }
    const json = await call(body)
    for (const [path, accept] of [['/v1/analytics', 'text/csv'], ['/v1/analytics?format=csv', 'application/json'], ['/v1/analytics', 'application/json;q=0.5, text/csv;q=0.9']]) {
      const r = await post(e.api.port, path, A.token, body, accept)
      t.equal(r.status, 200, `${path} ${accept}`)
      t.match(String(r.headers['content-type']), /^text\/csv/)
      t.equal(r.headers['x-total-groups'], String(json.pagination.total_groups))
      const rows = parse(r.raw, { columns: true }) as Array<Record<string, string>>
      t.equal(rows.length, json.data.breakdown.length)
      t.same(Object.keys(rows[0]), ['tag', 'link_index', 'clicks', 'human_click_rate', 'median_time_to_first_click', 'previous.clicks', 'change.clicks.absolute', 'change.clicks.relative', 'previous.human_click_rate', 'change.human_click_rate.absolute', 'change.human_click_rate.relative', 'previous.median_time_to_first_click', 'change.median_time_to_first_click.absolute', 'change.median_time_to_first_click.relative'])
      json.data.breakdown.forEach((j: any, i: number) => {
        const c = rows[i]
        t.equal(c.tag, j.dimensions.tag ?? '')
        t.equal(Number(c.link_index), j.dimensions.link_index)
        t.equal(Number(c.clicks), j.metrics.clicks)
        t.equal(c.human_click_rate === '' ? null : Number(c.human_click_rate), j.metrics.human_click_rate)
        t.equal(c['change.clicks.absolute'] === '' ? null : Number(c['change.clicks.absolute']), j.change.clicks.absolute)
      })
    }
    const noBreakdown = await api(e.api.port, 'POST', '/v1/analytics?format=csv', A.token, { metrics: ['clicks'] })
    t.equal(noBreakdown.status, 422)
    t.equal(noBreakdown.body.error.code, 'CT_ERR_ANALYTICS_FORMAT')
    const badFormat = await api(e.api.port, 'POST', '/v1/analytics?format=xml', A.token, { metrics: ['clicks'] })
    t.equal(badFormat.body.error.code, 'CT_ERR_ANALYTICS_FORMAT')
  })

  await t.test('422 with a code naming the field; 400 for the wrong JSON types', async t => {
    const cases: Array<[unknown, number, string, string]> = [
      [{ metrics: ['clicks', 'nope'] }, 422, 'CT_ERR_ANALYTICS_METRIC', 'metrics.1'],
      [{ metrics: [] }, 422, 'CT_ERR_ANALYTICS_METRIC', 'metrics'],
      [{ metrics: ['clicks'], group_by: ['colour'] }, 422, 'CT_ERR_ANALYTICS_DIMENSION', 'group_by.0'],
      [{ metrics: ['clicks'], group_by: ['is_human'] }, 422, 'CT_ERR_ANALYTICS_DIMENSION', 'group_by.0'],
      [{ metrics: ['clicks'], filters: [{ dimension: 'metadata.', values: ['x'] }] }, 422, 'CT_ERR_ANALYTICS_DIMENSION', 'filters.0.dimension'],
      [{ metrics: ['clicks'], from: '2025-01-01', to: '2025-04-01' }, 422, 'CT_ERR_ANALYTICS_RANGE', 'to'],
      [{ metrics: ['clicks'], from: '2025-01-01', to: '2025-03-31' }, 200, '', ''],
      [{ metrics: ['clicks'], from: '2025-01-01T00:00:00Z', to: '2025-04-01T00:00:01Z' }, 422, 'CT_ERR_ANALYTICS_RANGE', 'to'],
      [{ metrics: ['clicks'], from: '2025-02-30' }, 422, 'CT_ERR_ANALYTICS_RANGE', 'from'],
      [{ metrics: ['clicks'], from: '2025-06-05', to: '2025-06-01' }, 422, 'CT_ERR_ANALYTICS_RANGE', 'to'],
      [{ metrics: ['clicks'], group_by: ['tag', 'route', 'project', 'link_index'] }, 422, 'CT_ERR_ANALYTICS_GROUP_BY', 'group_by'],
      [{ metrics: ['clicks'], include: ['breakdown'] }, 422, 'CT_ERR_ANALYTICS_GROUP_BY', 'group_by'],
      [{ metrics: ['clicks'], timezone: 'Mars/Olympus' }, 422, 'CT_ERR_ANALYTICS_TIMEZONE', 'timezone'],
      [{ metrics: ['clicks'], interval: 'week' }, 422, 'CT_ERR_ANALYTICS_INTERVAL', 'interval'],
      [{ metrics: ['clicks'], include: ['everything'] }, 422, 'CT_ERR_ANALYTICS_INCLUDE', 'include.0'],
      [{ metrics: ['clicks'], compare: 'last_year' }, 422, 'CT_ERR_ANALYTICS_COMPARE', 'compare'],
      [{ metrics: ['clicks'], group_by: ['tag'], sort: { metric: 'human_clicks' } }, 422, 'CT_ERR_ANALYTICS_SORT', 'sort.metric'],
      [{ metrics: ['clicks'], group_by: ['tag'], limit: 201 }, 422, 'CT_ERR_ANALYTICS_LIMIT', 'limit'],
      [{ metrics: ['clicks'], group_by: ['tag'], include: ['breakdown', 'time_series'], interval: 'hour', from: '2025-01-01', to: '2025-03-31', limit: 200 }, 422, 'CT_ERR_ANALYTICS_LIMIT', 'limit'],
      [{ metrics: ['clicks'], group_by: ['tag'], include: ['breakdown', 'time_series'], interval: 'hour', from: '2025-01-01', to: '2025-03-31', limit: 23 }, 200, '', ''],
      [{ metrics: ['clicks'], filters: [{ dimension: 'tag', operator: 'like', values: ['x'] }] }, 422, 'CT_ERR_ANALYTICS_FILTER', 'filters.0.operator'],
      [{ metrics: ['clicks'], filters: [{ dimension: 'tag', operator: 'eq', values: ['a', 'b'] }] }, 422, 'CT_ERR_ANALYTICS_FILTER', 'filters.0.values'],
      [{ metrics: ['clicks'], filters: [{ dimension: 'message_id', operator: 'eq', values: ['not-a-uuid'] }] }, 422, 'CT_ERR_ANALYTICS_FILTER', 'filters.0.values.0'],
      [{ metrics: ['clicks'], filters: [{ dimension: 'tag', operator: 'in', values: Array.from({ length: 101 }, (_, i) => `t${i}`) }] }, 422, 'CT_ERR_ANALYTICS_FILTER', 'filters.0.values'],
      [{ metrics: ['clicks'], filters: Array.from({ length: 21 }, () => ({ dimension: 'tag', values: ['x'] })) }, 422, 'CT_ERR_ANALYTICS_FILTER', 'filters'],
      [{ metrics: ['clicks'], cursor: 'garbage' }, 422, 'CT_ERR_ANALYTICS_CURSOR', 'cursor'],
      [{ metrics: 'clicks' }, 400, 'CT_ERR_VALIDATION', 'metrics'],
      [{ metrics: ['clicks'], limit: 'ten' }, 400, 'CT_ERR_VALIDATION', 'limit'],
      [{ metrics: ['clicks'], colour: 'red' }, 400, 'CT_ERR_VALIDATION', 'colour'],
      [{}, 400, 'CT_ERR_VALIDATION', 'metrics']
    ]
    for (const [body, status, code, field] of cases) {
      const r = await api(e.api.port, 'POST', '/v1/analytics', A.token, body)
      t.equal(r.status, status, `${JSON.stringify(body).slice(0, 120)} → ${status} ${r.raw.slice(0, 200)}`)
      if (status !== 200) {
        t.equal(r.body.error.code, code)
        t.equal(r.body.error.details?.field, field)
      }
    }
    const big = await api(e.api.port, 'POST', '/v1/analytics', A.token, { metrics: ['clicks'], filters: [{ dimension: 'tag', operator: 'in', values: Array.from({ length: 100 }, () => 'x'.repeat(200)) }] })
    t.equal(big.status, 413, 'a body over 16 KiB')
    t.equal((await api(e.api.port, 'POST', '/v1/analytics', undefined, { metrics: ['clicks'] })).status, 401)
  })

  await t.test('defaults: the last 30 local days, today included; the answer is documented in /openapi.json', async t => {
    const res = await call({ metrics: ['clicks'] })
    t.equal(res.meta.calendar, true)
    t.equal(Date.parse(res.meta.to) - Date.parse(res.meta.from), 30 * DAY)
    t.ok(Date.parse(res.meta.to) > Date.now() && Date.parse(res.meta.to) - Date.now() <= DAY, 'to: the end of today')
    t.equal(res.meta.range_open, true)
    t.same(Object.keys(res.data), ['summary'])
    const doc = await api(e.api.port, 'GET', '/v1/openapi.json', A.token)
    const op = doc.body.paths['/v1/analytics'].post
    t.equal(op.operationId, 'queryAnalytics')
    t.ok(op.responses['200'].content['text/csv'], 'CSV is documented')
    t.ok(doc.body.components.schemas.AnalyticsRequest.properties.metrics)
    t.ok(op.parameters.some((p: any) => p.name === 'format' && p.in === 'query'))
  })

  await t.test('meta.last_ingested_at: the latest promotion watermark of any node', async t => {
    // Two other nodes' watermarks beside this engine's own (which follows the clock): the latest wins.
    const later = Date.now() + 365 * DAY
    await e.store.writer.insert({
      table: 'promotion_state',
      values: [{ node_id: 'zz-node-a', promoted_until: later, version: 1 }, { node_id: 'zz-node-b', promoted_until: later - DAY, version: 1 }],
      format: 'JSONEachRow'
    })
    const res = await call({ metrics: ['clicks'] })
    t.equal(res.meta.last_ingested_at, new Date(later).toISOString())
    // A node's newer row replaces its older one (ReplacingMergeTree by version, read FINAL).
    await e.store.writer.insert({ table: 'promotion_state', values: [{ node_id: 'zz-node-a', promoted_until: later - 2 * DAY, version: 2 }], format: 'JSONEachRow' })
    t.equal((await call({ metrics: ['clicks'] })).meta.last_ingested_at, new Date(later - DAY).toISOString(), 'node a\'s replaced row no longer counts')
  })

  const scope = { projects: projects.filter(p => p.sid !== 'other') }
  const noMedian = ALL_METRICS.filter(m => m !== 'median_time_to_first_click')
  const noLinks = ALL_METRICS.filter(m => m !== 'unique_links_clicked')
  // Each with the sources that must answer it: a change that sends a common shape to the
  // raw table fails here as well as in the benchmark.
  const sourceCases: Array<[unknown, string[]]> = [
    [{ metrics: ALL_METRICS, ...june }, ['analytics_link_totals']],
    [{ metrics: noMedian.filter(m => m !== 'unique_links_clicked'), ...june }, ['analytics_recipients']],
    [{ metrics: noLinks, ...june }, ['analytics_recipients']],
    [{ metrics: noLinks, ...june, include: ['time_series'] }, ['analytics_recipient_days']],
    [{ metrics: ALL_METRICS, ...june, include: ['time_series'] }, ['clicks']],
    [{ metrics: ALL_METRICS, ...june, timezone: 'Europe/Amsterdam', include: ['time_series'], compare: 'previous_period' }, ['clicks']],
    [{ metrics: ALL_METRICS, ...june, interval: 'hour', from: '2025-06-08', to: '2025-06-10', include: ['time_series'] }, ['clicks']],
    [{ metrics: ALL_METRICS, ...june, timezone: 'Asia/Kolkata', include: ['summary', 'time_series'] }, ['clicks']],
    [{ metrics: ['clicks', 'clicks_events', 'human_clicks'], ...june, group_by: ['classification'], compare: 'previous_period' }, ['analytics_recipients']],
    [{ metrics: ALL_METRICS, ...june, group_by: ['tag'], include: ['breakdown', 'time_series'], compare: 'previous_period' }, ['clicks', 'analytics_link_totals']],
    [{ metrics: noLinks, ...june, group_by: ['tag'], include: ['breakdown', 'time_series'], compare: 'previous_period' }, ['analytics_recipient_days', 'analytics_recipients']],
    [{ metrics: noLinks, ...june, group_by: ['metadata.campaign', 'route'], include: ['summary', 'breakdown', 'time_series'] }, ['analytics_recipients', 'analytics_recipient_days']],
    [{ metrics: ALL_METRICS, ...june, group_by: ['link_index', 'destination_url'] }, ['analytics_link_totals']],
    [{ metrics: ALL_METRICS, ...june, group_by: ['metadata.campaign'] }, ['analytics_link_totals']],
    // The bench's top links (a recipient counted by rows, link_index is a key), a URL alone (two links may share it: uniqExact).
    [{ metrics: ['clicks', 'human_clicks', 'clicks_events'], ...june, group_by: ['link_index', 'destination_url'], limit: 10 }, ['analytics_recipients', 'analytics_link_totals']],
    [{ metrics: ['clicks', 'human_clicks', 'unique_links_clicked', 'median_time_to_first_click'], from: '2025-06-05', to: '2025-06-12', group_by: ['destination_url', 'tag'] }, ['analytics_link_totals']],
    [{ metrics: noMedian, ...june, group_by: ['metadata.segment', 'classification'], filters: [{ dimension: 'is_human', values: [true] }] }, ['analytics_recipient_links']],
    [{ metrics: ['clicks', 'human_clicks_events', 'median_time_to_first_click', 'human_click_rate'], ...june, group_by: ['tag'], filters: [{ dimension: 'metadata.campaign', operator: 'not_in', values: ['spring'] }] }, ['analytics_recipients']],
    [{ metrics: ALL_METRICS, ...june, group_by: ['metadata.segment'], filters: [{ dimension: 'metadata.segment', operator: 'is_null' }] }, ['analytics_link_totals']],
    [{ metrics: ALL_METRICS, ...june, group_by: ['project', 'route'], filters: [{ dimension: 'is_human', values: [true] }] }, ['analytics_recipient_links']],
    [{ metrics: ALL_METRICS, ...june, group_by: ['link_index'], include: ['breakdown', 'time_series'] }, ['clicks', 'analytics_link_totals']],
    [{ metrics: ALL_METRICS, ...june, group_by: ['reason_code'] }, ['analytics_link_totals', 'clicks']],
    [{ metrics: ALL_METRICS, from: '2025-06-03T10:00:00Z', to: '2025-06-09T22:00:00Z', include: ['summary', 'time_series'] }, ['clicks']],
    // Hour points and local-day points of zones with whole-hour offsets, over whole UTC hours: the hourly rollup (sql/032).
    [{ metrics: noLinks, interval: 'hour', from: '2025-06-08', to: '2025-06-10', include: ['time_series'] }, ['analytics_recipient_hours']],
    [{ metrics: noLinks, interval: 'hour', from: '2025-06-08', to: '2025-06-10', timezone: 'Europe/Amsterdam', include: ['time_series'], compare: 'previous_period' }, ['analytics_recipient_hours']],
    [{ metrics: noLinks, ...june, timezone: 'Europe/Amsterdam', include: ['time_series'], compare: 'previous_period' }, ['analytics_recipient_hours']],
    [{ metrics: noLinks, from: '2025-06-03T10:00:00Z', to: '2025-06-09T22:00:00Z', include: ['time_series'] }, ['analytics_recipient_hours']],
    [{ metrics: noLinks, interval: 'hour', from: '2025-06-08', to: '2025-06-10', timezone: 'Europe/Amsterdam', group_by: ['tag'], include: ['breakdown', 'time_series'] }, ['analytics_recipient_hours', 'clicks']],
    // Groups that split the recipients (message attributes, no median): the totals are the sums of a page that holds every group; a page of one group does not.
    [{ metrics: noMedian.filter(m => m !== 'unique_links_clicked'), ...june, group_by: ['metadata.campaign'], include: ['summary', 'breakdown', 'time_series'] }, ['analytics_recipients', 'analytics_recipient_days']],
    [{ metrics: noMedian.filter(m => m !== 'unique_links_clicked'), ...june, group_by: ['metadata.campaign'], include: ['summary', 'breakdown', 'time_series'], limit: 1 }, ['analytics_recipients', 'analytics_recipient_days']],
    [{ metrics: noMedian, ...june, group_by: ['tag', 'route'], include: ['summary', 'breakdown'] }, ['analytics_link_totals']],
    [{ metrics: ['clicks', 'tracked_messages', 'human_click_rate'], interval: 'hour', from: '2025-06-08', to: '2025-06-10', group_by: ['tag'], include: ['summary', 'breakdown', 'time_series'] }, ['analytics_recipients', 'analytics_recipient_hours']],
    // Offsets of half an hour, a range not of whole hours: raw.
    [{ metrics: noLinks, interval: 'hour', from: '2025-06-08', to: '2025-06-10', timezone: 'Asia/Kolkata', include: ['time_series'] }, ['clicks']],
    [{ metrics: noLinks, from: '2025-06-03T10:00:01Z', to: '2025-06-09T22:00:00Z', include: ['time_series'] }, ['clicks']],
    [{ metrics: ALL_METRICS, from: '2025-06-03T10:00:01Z', to: '2025-06-09T22:00:00Z' }, ['clicks']]
  ]
  const viewsVsRaw = async (t: Test): Promise<void> => {
    for (const [body, sources] of sourceCases) {
      const auto = await runAnalytics(e.store, scope, body, Date.now())
      const raw = await runAnalytics(e.store, scope, body, Date.now(), { source: 'raw' })
      t.same(raw.meta.sources, ['clicks'], 'raw: the clicks table alone')
      const label = JSON.stringify(body).replace(/"metrics":\[[^\]]*\],?/, '').slice(0, 160)
      t.same(auto.data, raw.data, `${label} (${auto.meta.sources.join(', ')})`)
      // As sets: a breakdown whose page holds every group is queried before the totals it sums (src/analytics/run.ts).
      t.same([...auto.meta.sources].sort(), [...sources].sort(), `${label}: answered by ${sources.join(', ')}`)
    }
  }

  await t.test('the views and the raw table give the same answers', async t => {
    await viewsVsRaw(t)
  })

  await t.test('a re-classified click (issue 16): cancel and new rows; every metric and dimension over the surviving rows, views = raw', async t => {
    const before = (await call({ metrics: ALL_METRICS, ...june })).data.summary.metrics
    const cancels: Click[] = []
    const news: Click[] = []
    const current = new Map(data.clicks.map(c => [c.obs_id, c]))
    const reclassify = (c: Click, change: Partial<Click>): Click => {
      const old = current.get(c.obs_id) as Click
      const next = { ...old, ...change }
      cancels.push(old)
      news.push(next)
      current.set(c.obs_id, next)
      return next
    }
    const bot = { classification: 'generic_bot', machine: true, counts_for_metrics: false, proxy_type: null, reason_codes: ['isbot'], first_click: false }
    const human = { classification: 'genuine', machine: false, counts_for_metrics: true, proxy_type: null, reason_codes: [] }
    // A first click found to be a bot: it stops being the first click, the message's next human click becomes it.
    const byMessage = (id: string): Click[] => data.clicks.filter(c => c.message_id === id && c.counts_for_metrics).sort((a, b) => a.ts - b.ts)
    const moved = mine.clicks.filter(c => c.first_click && byMessage(c.message_id).length >= 2 && c.ts >= juneMs.from).slice(0, 3)
    t.ok(moved.length >= 2, `${moved.length} first clicks move`)
    for (const c of moved) {
      reclassify(c, bot)
      reclassify(byMessage(c.message_id)[1], { first_click: true })
    }
    // A message's only human click becomes a machine one (the recipient leaves human_clicks).
    const lone = mine.clicks.find(c => c.counts_for_metrics && byMessage(c.message_id).length === 1 && !moved.includes(c))
    t.ok(lone !== undefined, 'a message with one human click')
    reclassify(lone as Click, bot)
    // Privacy proxies found to be people; a scanner re-classified twice (preview, then genuine).
    for (const c of mine.clicks.filter(c => c.classification === 'privacy_proxy').slice(0, 3)) reclassify(c, human)
    const scanner = mine.clicks.find(c => c.classification === 'security_scanner') as Click
    reclassify(scanner, { classification: 'link_preview', reason_codes: ['preview_agent'] })
    // Another team's click: theirs alone change.
    reclassify(data.clicks.find(c => c.sid === 'other' && c.counts_for_metrics) as Click, bot)
    // Cancels and new rows in separate inserts (parts), then the second re-classification.
    await insertClicks(e.store.writer, cancels.splice(0), -1, 'reclassify-cancel-1')
    await insertClicks(e.store.writer, news.splice(0), 1, 'reclassify-new-1')
    reclassify(scanner, human)
    await insertClicks(e.store.writer, cancels.splice(0), -1, 'reclassify-cancel-2')
    await insertClicks(e.store.writer, news.splice(0), 1, 'reclassify-new-2')
    data.clicks = [...current.values()]
    mine.clicks = data.clicks.filter(c => c.sid !== 'other')

    const after = (await call({ metrics: ALL_METRICS, ...june })).data.summary.metrics
    t.equal(after.privacy_clicks_events, (before.privacy_clicks_events as number) - 3, 'three privacy proxies fewer')
    t.not(after.median_time_to_first_click, before.median_time_to_first_click, 'and the first clicks')
    for (const [range, expectRange, tz] of [
      [june, juneMs, 'UTC'],
      [{ from: '2025-06-01', to: '2025-06-09' }, { from: T0 - 2 * HOUR, to: T0 + 9 * DAY - 2 * HOUR }, 'Europe/Amsterdam'],
      [{ from: '2025-06-05', to: '2025-06-12' }, { from: T0 + 4 * DAY, to: T0 + 12 * DAY }, 'UTC'],
      [{ from: '2025-06-03T10:00:00Z', to: '2025-06-09T22:00:00Z' }, { from: T0 + 2 * DAY + 10 * HOUR, to: T0 + 8 * DAY + 22 * HOUR }, 'UTC']
    ] as const) {
      for (const metrics of [ALL_METRICS, noLinks]) {
        const res = await call({ metrics, ...range, timezone: tz, include: ['summary', 'time_series'] })
        const { clicks, messages } = select({ metrics, ...expectRange }, mine, projectOf)
        t.same(rounded(res.data.summary.metrics), rounded(evaluate(metrics, clicks, messages)), `summary ${JSON.stringify(range)} ${tz} (${res.meta.sources.join(', ')})`)
        for (const p of res.data.time_series) {
          const s = select({ metrics, from: Date.parse(p.from), to: Date.parse(p.to) }, mine, projectOf)
          t.same(rounded(p.metrics), rounded(evaluate(metrics, s.clicks, s.messages)), `point ${p.from} ${tz} (${res.meta.sources.join(', ')})`)
        }
      }
    }
    // Hour points in two zones (the hourly rollup, and raw where offsets are half hours), each against the surviving rows.
    for (const tz of ['Europe/Amsterdam', 'UTC', 'Asia/Kolkata']) {
      const res = await call({ metrics: noLinks, from: '2025-06-05', to: '2025-06-06', timezone: tz, interval: 'hour', include: ['time_series'] })
      t.same(res.meta.sources, [tz === 'Asia/Kolkata' ? 'clicks' : 'analytics_recipient_hours'], `hour points ${tz}: ${res.meta.sources.join(', ')}`)
      let seen = 0
      for (const p of res.data.time_series) {
        const s = select({ metrics: noLinks, from: Date.parse(p.from), to: Date.parse(p.to) }, mine, projectOf)
        seen += s.clicks.length
        t.same(rounded(p.metrics), rounded(evaluate(noLinks, s.clicks, s.messages)), `hour point ${p.from} ${tz} (${res.meta.sources.join(', ')})`)
      }
      t.ok(seen > 0, `hour points ${tz} have clicks`)
    }
    for (const d of DIMS) await checkBreakdown(t, { metrics: ALL_METRICS, group_by: [d], ...juneMs }, `after: ${d}`)
    await checkBreakdown(t, { metrics: ALL_METRICS, group_by: ['tag', 'classification'], ...juneMs }, 'after: tag × classification')
    await checkBreakdown(t, { metrics: noLinks, group_by: ['metadata.campaign'], filters: [{ dimension: 'is_human', operator: 'eq', values: [true] }], ...juneMs }, 'after: campaign, humans')
    await viewsVsRaw(t)
    // The analyst views (006's names) count the surviving rows too.
    for (const c of [...moved, lone as Click, scanner]) {
      const rows = await (await e.store.reader.query({ query: 'SELECT clicks, human_clicks, machine_clicks, toUnixTimestamp64Milli(first_human_click) AS first FROM clicks_by_message WHERE sid = {s:String} AND message_id = {m:UUID}', query_params: { s: c.sid, m: c.message_id }, format: 'JSONEachRow' })).json<Record<string, string>>()
      const mine1 = data.clicks.filter(x => x.message_id === c.message_id)
      const humans = mine1.filter(x => x.counts_for_metrics)
      t.same(rows.map(r => ({ clicks: Number(r.clicks), human: Number(r.human_clicks), machine: Number(r.machine_clicks), first: humans.length === 0 ? 0 : Number(r.first) })),
        [{ clicks: mine1.length, human: humans.length, machine: mine1.filter(x => x.machine).length, first: humans.length === 0 ? 0 : Math.min(...humans.map(x => x.ts)) }], `clicks_by_message of ${c.message_id}`)
    }
    const [tagDay] = await (await e.store.reader.query({ query: "SELECT sum(human_clicks) AS h, uniqMerge(unique_clickers) AS u FROM clicks_by_tag_day WHERE sid = 'acme'", format: 'JSONEachRow' })).json<Record<string, string>>()
    const acme = data.clicks.filter(x => x.sid === 'acme' && x.counts_for_metrics)
    t.same({ h: Number(tagDay.h), u: Number(tagDay.u) }, { h: acme.length, u: new Set(acme.map(x => x.recipient)).size }, 'clicks_by_tag_day')
  })
})
