import t from 'tap'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

// The analytics page's query builders (dashboard/lib/analytics.js, a browser module that also
// loads in Node): the filters a chip becomes, the default range in a time zone, the chart's data.

const lib = await import(pathToFileURL(resolve(import.meta.dirname, '..', '..', 'dashboard', 'lib', 'analytics.js')).href)

t.test('a chip is an eq filter, or is_null for a missing value; every query is scoped to the project', async t => {
  t.same(lib.apiFilter({ dimension: 'tag', value: 'welcome' }), { dimension: 'tag', operator: 'eq', values: ['welcome'] })
  t.same(lib.apiFilter({ dimension: 'tag', value: null }), { dimension: 'tag', operator: 'is_null', values: [] })
  t.same(lib.apiFilter({ dimension: 'link_index', value: 0 }), { dimension: 'link_index', operator: 'eq', values: [0] }, 'a number stays a number')
  const state = { projectId: 'p1', from: '2026-11-01', to: '2026-11-30', timezone: 'Europe/Amsterdam', interval: 'hour', chips: [{ dimension: 'classification', value: 'genuine' }] }
  const q = lib.seriesQuery(state)
  t.same(q.filters, [{ dimension: 'project', operator: 'eq', values: ['p1'] }, { dimension: 'classification', operator: 'eq', values: ['genuine'] }])
  t.match(q, { from: '2026-11-01', to: '2026-11-30', timezone: 'Europe/Amsterdam', interval: 'hour', include: ['summary', 'time_series'], compare: 'previous_period' })
  const b = lib.tableQuery(state, ['metadata.campaign'])
  t.match(b, { group_by: ['metadata.campaign'], include: ['breakdown'], sort: { metric: 'clicks', direction: 'desc' }, limit: 10 })
  t.equal(b.interval, undefined, 'a table has no interval')
  t.same(lib.tables('cmp').find((x: unknown[]) => x[0] === 'campaigns')[2], ['metadata.cmp'], 'the campaign key names the metadata dimension')
})

t.test('the default range: the last 30 local days of the zone, today included', async t => {
  // 2026-03-01T23:30Z is already March 2 in Amsterdam (UTC+1) and still March 1 in UTC.
  const now = Date.UTC(2026, 2, 1, 23, 30)
  t.same(lib.lastDays(30, 'UTC', now), { from: '2026-01-31', to: '2026-03-01' })
  t.same(lib.lastDays(30, 'Europe/Amsterdam', now), { from: '2026-02-01', to: '2026-03-02' })
  t.equal(lib.daysIn('2026-02-01', '2026-03-02'), 30)
  t.equal(lib.daysIn('2026-03-02', '2026-03-01'), 0, 'reversed')
  t.ok(Number.isNaN(lib.daysIn('', '2026-03-01')), 'not a date')
})

t.test('the chart\'s data from the API\'s points; changes as text', async t => {
  const points = [
    { from: '2026-11-01T23:00:00.000Z', metrics: { human_clicks: 3, machine_clicks: 1 } },
    { from: '2026-11-02T23:00:00.000Z', metrics: { human_clicks: 0, machine_clicks: 2 } }
  ]
  t.same(lib.chartData(points), [[Date.UTC(2026, 10, 1, 23) / 1000, Date.UTC(2026, 10, 2, 23) / 1000], [3, 0], [1, 2]])
  t.equal(lib.changeText({ absolute: 5, relative: 0.25 }), '+25 %')
  t.equal(lib.changeText({ absolute: -1, relative: -0.125 }), '−12.5 %')
  t.equal(lib.changeText({ absolute: 0, relative: 0 }), 'no change')
  t.equal(lib.changeText({ absolute: 4, relative: null }), '', 'from nothing: no percentage')
  t.equal(lib.changeText(undefined), '')
})
