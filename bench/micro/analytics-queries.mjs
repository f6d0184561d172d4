// The analytics API's common queries (summary, daily series, top links, by classification,
// tag × day, by metadata key) on BENCH_MICRO_CLICKS clicks (default 10 million) of 10,000
// messages over 90 days, seeded with INSERT … SELECT into a temp embedded ClickHouse through
// the migrations (so the views of sql/014 fill as promotion would fill them), each answered
// by runAnalytics from the views (as the API does) and from raw `clicks` (source: 'raw'):
// p50 / p95 of BENCH_MICRO_REPS runs each, and whether both gave the same answer.
// Also: the bytes each analytics view holds on disk, beside `clicks`.
import { performance } from 'node:perf_hooks'
import { envInt } from '../lib/settings.mjs'
import { mdTable } from '../lib/report.mjs'
import { analytics } from './lib/project.mjs'
import { openTempStore } from './lib/store.mjs'
import { emit, loadNow } from './lib/race.mjs'

const loadBefore = loadNow()
const CLICKS = envInt('BENCH_MICRO_CLICKS', 10_000_000, 1000, 100_000_000)
const MESSAGES = 10_000
const REPS = envInt('BENCH_MICRO_REPS', 20, 1, 1000)
const { runAnalytics } = await analytics()
const { store } = await openTempStore()
const w = store.writer

const DAY = 86_400_000
const end = Date.UTC(2026, 10, 1)
const start = end - 90 * DAY
const ROUTES = ['20000000-0000-4000-8000-000000000001', '20000000-0000-4000-8000-000000000002']
const msgId = m => `toUUID(concat('10000000-0000-4000-8000-', leftPad(lower(hex(toUInt64(${m}))), 12, '0')))`
const t0 = performance.now()
await w.command({
  query: `INSERT INTO messages (message_id, sid, project_id, route_id, recipient, sender, subject, tag, metadata, sent_at, tracking, tracking_reason, link_count, retention_days)
    SELECT ${msgId('number')}, 'bench', toUUID('30000000-0000-4000-8000-000000000001'), toUUID(['${ROUTES[0]}', '${ROUTES[1]}'][number % 2 + 1]),
      concat('u', toString(number), '@example.com'), 's@example.com', 'Hi', ['welcome', 'promo', 'news', 'digest'][number % 4 + 1],
      map('campaign', concat('c', toString(number % 20))), toDateTime(intDiv(${start} + number * intDiv(${90 * DAY}, ${MESSAGES}), 1000), 'UTC'), true, 'route_setting', 5, 3650
    FROM numbers(${MESSAGES})`
})
// Clicks: each of a message (m), after it was sent; one first click per message (its first row).
await w.command({
  query: `INSERT INTO clicks (obs_id, ts, sid, message_id, route_id, link_index, sent_at, recipient, subject, tag, metadata, destination_url, anchor_text, first_click, device_type, client_type, client_name, user_agent, ip, method, bot_detected, bot_probability, classification, proxy_type, reason_codes, machine, counts_for_metrics, retention_days)
    SELECT generateUUIDv4(), fromUnixTimestamp64Milli(toInt64(sent_ms + (cityHash64(number, 1) % greatest(${end} - sent_ms, 1))), 'UTC'), 'bench', ${msgId('m')},
      toUUID(['${ROUTES[0]}', '${ROUTES[1]}'][m % 2 + 1]), link, toDateTime(intDiv(sent_ms, 1000), 'UTC'), concat('u', toString(m), '@example.com'), 'Hi',
      ['welcome', 'promo', 'news', 'digest'][m % 4 + 1], map('campaign', concat('c', toString(m % 20))), concat('https://shop.example.com/p/', toString(link)), '',
      number < ${MESSAGES} AND cls = 'genuine', ['desktop', 'mobile', 'tablet'][h % 3 + 1], 'browser', ['Chrome', 'Safari', 'Firefox'][h % 3 + 1], 'ua', '198.51.100.1', 'GET',
      cls != 'genuine', if(cls = 'genuine', 5, 90), cls, if(cls = 'privacy_proxy', 'apple_mpp', NULL), if(cls = 'genuine', [], ['isbot']), cls != 'genuine', cls = 'genuine', 3650
    FROM (SELECT number, if(number < ${MESSAGES}, number, cityHash64(number, 2) % ${MESSAGES}) AS m, number % 5 AS link, cityHash64(number, 3) AS h,
      ['genuine', 'genuine', 'genuine', 'genuine', 'privacy_proxy', 'security_scanner', 'link_preview', 'generic_bot'][h % 8 + 1] AS cls,
      ${start} + m * intDiv(${90 * DAY}, ${MESSAGES}) AS sent_ms FROM numbers(${CLICKS}))`
})
// Parts merged as the background merges would leave closed days (the queries read the
// rollups FINAL and stay exact either way; unmerged parts only cost reading time): every
// rollup the migrations made (an older build, BENCH_DIST, may have fewer).
const rollups = await (await w.query({ query: "SELECT name FROM system.tables WHERE database = currentDatabase() AND startsWith(name, 'analytics_') AND engine LIKE '%MergeTree'", format: 'JSONEachRow' })).json()
for (const { name } of rollups) await w.command({ query: `OPTIMIZE TABLE ${name} FINAL` })
// Then the background merges of `clicks` (the seed is one big insert) finish before the clock
// starts, at most 120 s: they would take the cores from the first queries measured.
for (let i = 0; i < 240; i++) {
  const [{ n }] = await (await w.query({ query: 'SELECT count() AS n FROM system.merges WHERE database = currentDatabase()', format: 'JSONEachRow' })).json()
  if (Number(n) === 0) break
  await new Promise(resolve => setTimeout(resolve, 500))
}
const seedS = (performance.now() - t0) / 1000

const from = new Date(start).toISOString().slice(0, 10)
const to = new Date(end - DAY).toISOString().slice(0, 10)
const m = ['clicks', 'human_clicks', 'machine_clicks', 'clicks_events', 'human_clicks_events', 'tracked_messages', 'human_click_rate']
const SHAPES = {
  summary: { metrics: [...m, 'median_time_to_first_click'], from, to },
  'daily series': { metrics: m, from, to, include: ['time_series'] },
  'top links': { metrics: ['clicks', 'human_clicks', 'clicks_events'], from, to, group_by: ['link_index', 'destination_url'], limit: 10 },
  'by classification': { metrics: ['clicks', 'clicks_events'], from, to, group_by: ['classification'] },
  'tag × day': { metrics: ['clicks', 'human_clicks', 'clicks_events'], from, to, group_by: ['tag'], include: ['breakdown', 'time_series'] },
  'by metadata key': { metrics: m, from, to, group_by: ['metadata.campaign'], limit: 50 }
}
const scope = { projects: [{ sid: 'bench', project_id: '30000000-0000-4000-8000-000000000001' }] }
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))] }
const rows = []
const results = {}
for (const [name, body] of Object.entries(SHAPES)) {
  const out = {}
  for (const source of ['auto', 'raw']) {
    const times = []
    let res
    for (let i = 0; i < REPS + 2; i++) {
      const t = performance.now()
      res = await runAnalytics(store, scope, body, end, { source })
      if (i >= 2) times.push(performance.now() - t)
    }
    out[source] = { p50: pct(times, 0.5), p95: pct(times, 0.95), sources: res.meta.sources, data: res.data }
  }
  const same = JSON.stringify(out.auto.data) === JSON.stringify(out.raw.data)
  results[name] = { views_p50_ms: out.auto.p50, views_p95_ms: out.auto.p95, raw_p50_ms: out.raw.p50, raw_p95_ms: out.raw.p95, sources: out.auto.sources, same }
  rows.push([name, out.auto.sources.join(' + '), `${out.auto.p50.toFixed(1)} / ${out.auto.p95.toFixed(1)}`, `${out.raw.p50.toFixed(1)} / ${out.raw.p95.toFixed(1)}`, same ? 'yes' : 'NO'])
}
// The recipient key of src/store/analytics.ts (RECIPIENT) against the pair it stands for.
const keyRace = {}
for (const [name, expr] of [['uniqExact(sid, message_id)', 'uniqExact(sid, message_id)'], ['uniqExact(RECIPIENT)', 'uniqExact(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))))']]) {
  const times = []
  for (let i = 0; i < Math.max(5, Math.min(REPS, 11)); i++) {
    const t = performance.now()
    await (await store.reader.query({ query: `SELECT ${expr} AS n FROM clicks WHERE sid IN ['bench']`, format: 'JSONEachRow' })).json()
    times.push(performance.now() - t)
  }
  keyRace[name] = pct(times, 0.5)
}
const sizes = await (await w.query({ query: "SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes FROM system.parts WHERE active AND database = currentDatabase() AND (table LIKE 'analytics_%' OR table = 'clicks') GROUP BY table ORDER BY table", format: 'JSONEachRow' })).json()
const slowest = Math.max(...Object.values(results).map(r => r.views_p95_ms))
emit({
  topic: 'analytics-queries',
  loadBefore,
  claims: [
    { where: 'issue 13, src/store/analytics-views.ts', words: 'p95 ≤ 100 ms for every common query on 10 million clicks over 90 days, from the views' },
    { where: 'src/store/analytics-views.ts', words: 'any source gives the same numbers' },
    { where: 'src/store/analytics.ts', words: 'uniqExact over it is 3.5–6× cheaper than over the pair' }
  ],
  sections: [
    { title: `${CLICKS.toLocaleString('en')} clicks of ${MESSAGES.toLocaleString('en')} messages over 90 days (seeded in ${seedS.toFixed(0)} s), ${REPS} runs per query`, table: mdTable(['query', 'answered from', 'views p50 / p95 ms', 'raw clicks p50 / p95 ms', 'same answer'], rows) },
    { title: `the recipient key, over all ${CLICKS.toLocaleString('en')} clicks (median ms)`, table: mdTable(['uniqExact over', 'ms'], Object.entries(keyRace).map(([k, v]) => [k, v.toFixed(1)])) },
    { title: 'on disk', table: mdTable(['table', 'rows', 'MiB on disk'], sizes.map(s => [s.table, Number(s.rows).toLocaleString('en'), (Number(s.bytes) / 1048576).toFixed(1)])) }
  ],
  verdicts: [
    { where: 'p95 ≤ 100 ms', holds: slowest <= 100, measured: `slowest p95 from the views ${slowest.toFixed(1)} ms` },
    { where: 'src/store/analytics.ts RECIPIENT: cheaper than the pair', holds: keyRace['uniqExact(RECIPIENT)'] < keyRace['uniqExact(sid, message_id)'], measured: `${(keyRace['uniqExact(sid, message_id)'] / keyRace['uniqExact(RECIPIENT)']).toFixed(1)}× faster` },
    { where: 'same numbers', holds: Object.values(results).every(r => r.same), measured: Object.entries(results).filter(([, r]) => !r.same).map(([k]) => k).join(', ') || 'every query' }
  ],
  data: { clicks: CLICKS, messages: MESSAGES, reps: REPS, seed_s: seedS, results, keyRace, sizes }
})
await store.close()
