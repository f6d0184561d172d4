import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parse } from 'csv-parse/sync'
import { startTestEngine } from '../helpers/engine.js'
import { bootstrap } from '../../src/control/projects.js'
import { T0, breakdown, evaluate, insertData, makeData, select } from './fixture.js'
import { REPORT_METRICS } from '../../src/analytics/report.js'

// `clicktrail report` as an operator runs it: the command line against a running engine's
// admin listener, over the seeded data set of the analytics tests, checked against the
// fixture's independent evaluator (plain JS over the seeded rows).
const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'cli.js')
const DAY = 86_400_000

t.test('clicktrail report: totals, by link / tag / day / classification / device / campaign, table csv json', async t => {
  const e = await startTestEngine(t)
  const A = e.team!
  const B = await bootstrap(e.plane, { team: 'Other team', sid: 'other' })
  const projects = [
    { sid: 'acme', project_id: A.project.project_id, routes: A.routes.map(r => r.route_id) },
    { sid: 'other', project_id: B.project.project_id, routes: B.routes.map(r => r.route_id) }
  ]
  const data = makeData(projects, 7)
  await insertData(e.store.writer, data)
  const projectOf = (sid: string): string => projects.find(p => p.sid === sid)?.project_id ?? ''
  const admin = ['--data-dir', e.dataDir, '--admin-port', String(e.admin.port)]
  // Asynchronous: the admin listener answering the command runs in this very process.
  const run = async (args: string[]): Promise<{ status: number | null, stdout: string, stderr: string }> => await new Promise(resolve => {
    execFile(process.execPath, [CLI, 'report', ...admin, '--from', '2025-06-01', '--to', '2025-06-30', ...args], { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr })
    })
  })
  const june = { metrics: [...REPORT_METRICS], from: T0, to: T0 + 30 * DAY }
  const acme = { messages: data.messages.filter(m => m.sid === 'acme'), clicks: data.clicks.filter(c => c.sid === 'acme') }
  const round = (v: number | null): number | null => v === null ? null : Math.round(v * 1e4) / 1e4

  // Totals of one project, as JSON (the analytics answer itself).
  const json = await run(['--project', 'acme', '--format', 'json'])
  t.equal(json.status, 0, json.stderr)
  const expected = evaluate(REPORT_METRICS, select(june, acme, projectOf).clicks, select(june, acme, projectOf).messages)
  t.same(JSON.parse(json.stdout).data.summary.metrics, expected, 'totals of acme, exact')
  // Every project without --project: both projects' rows count.
  const all = JSON.parse((await run(['--format', 'json'])).stdout)
  t.equal(all.data.summary.metrics.clicks_events, select(june, data, projectOf).clicks.length, 'every project without --project')

  // --by link as CSV: one row per destination, parsed with a real CSV parser.
  const csv = await run(['--project', 'acme', '--by', 'link', '--format', 'csv'])
  t.equal(csv.status, 0, csv.stderr)
  const rows = parse(csv.stdout, { columns: true }) as Array<Record<string, string>>
  const byLink = breakdown({ ...june, group_by: ['destination_url'] }, acme, projectOf)
  t.equal(rows.length, byLink.size, 'one row per link')
  for (const r of rows) {
    const want = byLink.get(JSON.stringify({ destination_url: r.destination_url }))
    t.ok(want !== undefined, `${r.destination_url} is a link of acme`)
    for (const m of ['clicks', 'human_clicks', 'machine_clicks', 'clicks_events']) t.equal(Number(r[m]), want?.[m], `${r.destination_url} ${m}`)
  }
  const sorted = rows.map(r => Number(r.clicks))
  t.same(sorted, [...sorted].sort((a, b) => b - a), 'most clicked first')

  // The table: a header, a rule, one line per classification.
  const table = await run(['--project', 'acme', '--by', 'classification'])
  t.equal(table.status, 0, table.stderr)
  const lines = table.stdout.trimEnd().split('\n')
  t.match(lines[0], /^classification\s+clicks\s+human_clicks\s+machine_clicks\s+clicks_events\s+human_click_rate$/)
  t.match(lines[1], /^-+( +-+){5}$/)
  const byClass = breakdown({ ...june, group_by: ['classification'] }, acme, projectOf)
  t.equal(lines.length - 2, byClass.size, 'a line per classification')
  for (const line of lines.slice(2)) {
    const [cls, clicks, , , events] = line.split(/\s+/)
    const want = byClass.get(JSON.stringify({ classification: cls }))
    t.same([Number(clicks), Number(events)], [want?.clicks, want?.clicks_events], `${cls}: clicks and events`)
  }

  // --by day: 30 daily rows (zero-filled) and a total equal to the summary.
  const days = parse((await run(['--project', 'acme', '--by', 'day', '--format', 'csv'])).stdout, { columns: true }) as Array<Record<string, string>>
  t.equal(days.length, 31, '30 days and the total')
  t.equal(days[0].day, '2025-06-01')
  t.equal(days.at(-1)?.day, 'total')
  t.equal(days.slice(0, -1).reduce((n, d) => n + Number(d.clicks_events), 0), expected.clicks_events, 'the days add up to the total')
  t.equal(round(Number(days.at(-1)?.human_click_rate)), round(expected.human_click_rate), 'the total row is the summary')

  // --by tag, device and campaign:KEY name their dimension; the counts match.
  for (const [by, dim] of [['tag', 'tag'], ['device', 'device_type'], ['campaign:campaign', 'metadata.campaign']]) {
    const r = JSON.parse((await run(['--project', 'acme', '--by', by, '--format', 'json'])).stdout)
    t.same(r.meta.group_by, [dim], `--by ${by} groups by ${dim}`)
    const want = breakdown({ ...june, group_by: [dim] }, acme, projectOf)
    for (const row of r.data.breakdown) t.equal(row.metrics.clicks_events, want.get(JSON.stringify({ [dim]: row.dimensions[dim] }))?.clicks_events, `--by ${by}: ${String(row.dimensions[dim])}`)
  }

  // Mistakes are usage errors or the analytics API's own codes, in one line.
  const badBy = await run(['--by', 'colour'])
  t.equal(badBy.status, 2, 'an unknown --by is a usage error')
  t.match(badBy.stderr, /^clicktrail: --by takes link, tag, day/)
  const wide = await run(['--from', '2025-01-01', '--to', '2025-06-30'])
  t.equal(wide.status, 1)
  t.match(wide.stderr, /CT_ERR_ANALYTICS_/, 'a range over 90 days is refused by the analytics code')
  const nosuch = await run(['--project', 'nosuch'])
  t.equal(nosuch.status, 1)
  t.match(nosuch.stderr, /CT_ERR_PROJECT_NOT_FOUND/)
  // The admin listener's route itself needs the admin token.
  const token = readFileSync(join(e.dataDir, 'admin-token'), 'utf8').trim()
  const unauth = await fetch(`http://127.0.0.1:${e.admin.port}/analytics`, { method: 'POST', body: '{}' })
  t.equal(unauth.status, 401)
  const garbage = await fetch(`http://127.0.0.1:${e.admin.port}/analytics`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: '{nope' })
  t.equal(garbage.status, 400)
})
