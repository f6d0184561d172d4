import t, { type Test } from 'tap'
import { ClicktrailError } from '../../src/errors.js'
import { decodeCursor, encodeCursor, flag, integer, parseQuery, prefersCsv, timeRange } from '../../src/api/query.js'
import type { QueryParamDef } from '../../src/api/routes.js'

// The query-string rules of the Team API's read endpoints (src/api/query.ts), without a server:
// the endpoints' own tests (events.test.ts) send the same through HTTP.

const defs = (...names: string[]): QueryParamDef[] => names.map(name => ({ name, description: name, schema: {} }))
const DAY = 86_400_000
const NOW = Date.parse('2026-12-01T16:00:00Z')

function refusal (t: Test, fn: () => unknown, code: string, param: string | undefined, what: string): void {
  try {
    fn()
    t.fail(`${what}: no error`)
  } catch (err) {
    t.ok(err instanceof ClicktrailError, what)
    t.equal((err as ClicktrailError).code, code, `${what}: ${code}`)
    t.equal(((err as ClicktrailError).details as { param?: string } | undefined)?.param, param, `${what}: names ${String(param)}`)
  }
}

t.test('parseQuery: decoded names and values; unknown, repeated and ill-encoded refused', async t => {
  const q = parseQuery('a=1&b=hello+world%21&&c', defs('a', 'b', 'c'))
  t.same([...q], [['a', '1'], ['b', 'hello world!'], ['c', '']])
  t.same([...parseQuery('', defs('a'))], [])
  refusal(t, () => parseQuery('z=1', defs('a')), 'CT_ERR_QUERY_PARAM', 'z', 'unknown')
  refusal(t, () => parseQuery('a=1&a=2', defs('a')), 'CT_ERR_QUERY_PARAM', 'a', 'repeated')
  refusal(t, () => parseQuery('a=%E2%82', defs('a')), 'CT_ERR_QUERY_PARAM', 'a', 'truncated UTF-8')
  refusal(t, () => parseQuery('a=%ED%A0%80', defs('a')), 'CT_ERR_QUERY_PARAM', 'a', 'an encoded lone surrogate')
  refusal(t, () => parseQuery('%3Cscript%3E=1', defs('a')), 'CT_ERR_QUERY_PARAM', undefined, 'a name that is not a name is not echoed')
  const long = 'x'.repeat(5000)
  try { parseQuery(`${long}=1`, defs('a')) } catch (err) { t.ok((err as Error).message.length < 300, 'a long unknown name is not echoed back') }
})

t.test('flag and integer', async t => {
  const q = parseQuery('y=true&n=0&one=1&bad=yes&i=42&z=00', defs('y', 'n', 'one', 'bad', 'i', 'z'))
  t.equal(flag(q, 'y', false), true)
  t.equal(flag(q, 'n', true), false)
  t.equal(flag(q, 'one', false), true)
  t.equal(flag(q, 'missing', true), true)
  refusal(t, () => flag(q, 'bad', false), 'CT_ERR_QUERY_PARAM', 'bad', 'yes is not a flag')
  t.equal(integer(q, 'i', 1, 100, 5), 42)
  t.equal(integer(q, 'missing', 1, 100, 5), 5)
  refusal(t, () => integer(q, 'i', 1, 10, 5), 'CT_ERR_QUERY_PARAM', 'i', 'over the maximum')
  refusal(t, () => integer(q, 'z', 1, 10, 5), 'CT_ERR_QUERY_PARAM', 'z', 'under the minimum')
})

t.test('timeRange: inclusive dates, exclusive instants, defaults, aliases, bounds', async t => {
  const rules = { datesOnly: false, maxDays: 90, defaultDays: 30, aliases: { from: 'start', to: 'end' }, now: NOW }
  const r = (qs: string, more = {}): ReturnType<typeof timeRange> => timeRange(parseQuery(qs, defs('from', 'to', 'start', 'end')), { ...rules, ...more })
  t.same(r('from=2026-11-01&to=2026-11-30'), { fromMs: Date.parse('2026-11-01T00:00:00Z'), toMs: Date.parse('2026-12-01T00:00:00Z'), from: '2026-11-01', to: '2026-11-30' }, 'to is inclusive: the end of its day')
  t.same(r('start=2026-11-01&end=2026-11-01'), { fromMs: Date.parse('2026-11-01T00:00:00Z'), toMs: Date.parse('2026-11-02T00:00:00Z'), from: '2026-11-01', to: '2026-11-01' }, 'start/end, one day')
  t.same(r('from=2026-11-01T10:00:00%2B02:00&to=2026-11-01T12:00:00Z'), { fromMs: Date.parse('2026-11-01T08:00:00Z'), toMs: Date.parse('2026-11-01T12:00:00Z'), from: '2026-11-01T08:00:00.000Z', to: '2026-11-01T12:00:00.000Z' }, 'RFC 3339 instants with offsets; to exclusive')
  const def = r('')
  t.equal(def.to, '2026-12-01', 'default to: today (UTC)')
  t.equal(def.from, '2026-11-02', 'default from: 30 days with today')
  t.equal(def.toMs - def.fromMs, 30 * DAY)
  t.equal(r('from=2026-09-03').toMs - r('from=2026-09-03').fromMs, 90 * DAY, '90 days is allowed')
  refusal(t, () => r('from=2026-09-02'), 'CT_ERR_RANGE', 'to', '91 days')
  refusal(t, () => r('from=2026-11-02&to=2026-11-01'), 'CT_ERR_RANGE', 'from', 'reversed')
  refusal(t, () => r('from=2026-11-01T10:00:00Z&to=2026-11-01T10:00:00Z'), 'CT_ERR_RANGE', 'from', 'empty')
  refusal(t, () => r('from=2026-02-29'), 'CT_ERR_QUERY_PARAM', 'from', 'not a calendar date (2026 is not a leap year)')
  refusal(t, () => r('from=2026-11-01T10:00:00'), 'CT_ERR_QUERY_PARAM', 'from', 'an instant without an offset')
  refusal(t, () => r('from=0099-01-01'), 'CT_ERR_QUERY_PARAM', 'from', 'a two-digit year Date.UTC would move to 1999')
  refusal(t, () => r('from=2026-11-01&start=2026-11-01'), 'CT_ERR_QUERY_PARAM', 'start', 'from and its alias')
  refusal(t, () => r('from=2026-11-01T00:00:00Z', { datesOnly: true }), 'CT_ERR_QUERY_PARAM', 'from', 'dates only')
})

t.test('cursors: what encodeCursor makes decodes; anything else is CT_ERR_CURSOR', async t => {
  const c = { ts: 1764600000123, obsId: '0f0e0d0c-0b0a-4908-8706-050403020100', direction: 'prev' as const }
  t.same(decodeCursor(encodeCursor(c)), c)
  t.equal(decodeCursor(undefined), undefined)
  const enc = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
  for (const [bad, what] of [
    ['', 'empty'],
    ['a+b/', 'not base64url'],
    ['x'.repeat(201), 'too long'],
    [enc({ t: 1, o: c.obsId }), 'a field missing'],
    [enc({ t: 1, o: c.obsId, d: 'n', x: 1 }), 'a field more'],
    [enc({ t: 1.5, o: c.obsId, d: 'n' }), 'a fractional time'],
    [enc({ t: 1, o: 'NOT-A-UUID', d: 'n' }), 'not a UUID'],
    [enc({ t: 1, o: c.obsId, d: 'sideways' }), 'no such direction'],
    [enc([1, 2, 3]), 'an array'],
    [enc(null), 'null']
  ] as const) {
    refusal(t, () => decodeCursor(bad), 'CT_ERR_CURSOR', 'cursor', what)
  }
})

t.test('prefersCsv: q-values, ties go to JSON', async t => {
  t.equal(prefersCsv('text/csv'), true)
  t.equal(prefersCsv('text/csv, */*'), true)
  t.equal(prefersCsv('application/json, text/csv'), false, 'a tie')
  t.equal(prefersCsv('application/json;q=0.5, text/csv'), true)
  t.equal(prefersCsv('text/csv;q=0.2, application/json;q=0.9'), false)
  t.equal(prefersCsv('text/csv;q=0'), false, 'q=0: not acceptable')
  t.equal(prefersCsv(''), false)
  t.equal(prefersCsv('*/*'), false)
  t.equal(prefersCsv('TEXT/CSV'), true, 'media types are case-insensitive')
})
