import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { parse as parseCsv } from 'csv-parse/sync'
import { parse as parseCsvStream } from 'csv-parse'
import { startTestEngine, type TestEngine } from '../helpers/engine.js'
import { api, type ApiReply } from '../helpers/api.js'
import { request, SAFARI_IPHONE as BROWSER } from '../helpers/http.js'
import { until } from '../helpers/wait.js'
import { bootstrap, type Bootstrapped } from '../../src/control/projects.js'
import { insertRows } from '../../src/store/row-insert.js'
import { CLICK_COLUMNS, clickLine } from '../../src/store/promotion.js'
import { eventIdFor } from '../../src/webhooks/payload.js'
import { mintToken } from '../../src/token/codec.js'
import type { ClickRow } from '../../src/records.js'
import { CSV_COLUMNS, MAX_EXPORTS_PER_TEAM } from '../../src/api/event-routes.js'

// GET /v1/messages/{id}/events, GET /v1/stats and GET /v1/projects/{id}/clicks through the
// real engine: the real Team API over HTTP, the real embedded ClickHouse, clicks seeded
// straight into `clicks` (and one real click through the redirect and promotion).

const FAST = { 'promotion-window-ms': '300', 'batch-max-ms': '50' }
const DAY = 86_400_000
const today = Math.floor(Date.now() / DAY) * DAY
const iso = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

// The webhook's data fields (SPEC §6): every message event carries them, with the SDK's own.
const WEBHOOK_FIELDS = ['message_id', 'subject', 'metadata', 'tag', 'recipient', 'clicked_at', 'destination_url', 'link_index', 'anchor_text', 'first_click', 'device_type', 'client_type', 'client_name', 'user_agent', 'bot']
const SDK_FIELDS = ['message_id', 'event', 'tag', 'tags', 'metadata', 'timestamp']

let seq = 0
function click (sid: string, messageId: string, ts: number, o: Partial<ClickRow> & { machine?: boolean } = {}): ClickRow {
  const machine = o.machine ?? false
  seq++
  return {
    obs_id: o.obs_id ?? randomUUID(),
    ts,
    sid,
    message_id: messageId,
    route_id: o.route_id ?? '00000000-0000-0000-0000-000000000000',
    link_index: o.link_index ?? 0,
    sent_at: Math.floor(ts / 1000) - 600,
    recipient: o.recipient ?? 'user@example.com',
    subject: 'Your weekly recommendations',
    tag: o.tag ?? 'recommendations',
    metadata: o.metadata ?? { 'X-Campaign-ID': 'weekly-recs' },
    destination_url: o.destination_url ?? `https://example.com/product/${seq}`,
    anchor_text: 'View Product',
    first_click: o.first_click ?? false,
    device_type: machine ? 'desktop' : 'mobile',
    client_type: machine ? 'bot' : 'browser',
    client_name: machine ? 'Barracuda' : 'Safari',
    user_agent: o.user_agent ?? (machine ? 'Barracuda Sentinel (EE)' : BROWSER['user-agent']),
    ip: '203.0.113.7',
    method: 'GET',
    bot: machine
      ? { detected: true, probability: 97, classification: 'security_scanner', proxy_type: null, reason_codes: ['scanner_agent', 'no_fetch_metadata'], machine: true, counts_for_metrics: false }
      : { detected: false, probability: 0, classification: 'genuine', proxy_type: null, reason_codes: [], machine: false, counts_for_metrics: true },
    retention_days: 400
  }
}

async function seed (e: TestEngine, rows: ClickRow[]): Promise<void> {
  await insertRows(e.store.writer, { table: 'clicks', columns: CLICK_COLUMNS, format: 'JSONCompactEachRow', rows: rows.map(clickLine), settings: { insert_deduplication_token: randomUUID() } })
}

async function message (e: TestEngine, team: Bootstrapped, messageId: string, routeId: string, sentAt = Math.floor(Date.now() / 1000) - 3600): Promise<void> {
  await e.store.writer.insert({
    table: 'messages',
    values: [{ message_id: messageId, sid: team.project.sid, project_id: team.project.project_id, route_id: routeId, recipient: 'user@example.com', sender: 's@acme.example', subject: 'Your weekly recommendations', tag: 'recommendations', metadata: { 'X-Campaign-ID': 'weekly-recs' }, sent_at: sentAt, tracking: true, tracking_reason: 'route_setting', link_count: 1 }],
    format: 'JSONEachRow',
    clickhouse_settings: { insert_deduplication_token: randomUUID() }
  })
}

function refused (t: Test, r: ApiReply, status: number, code: string, what: string): void {
  t.equal(r.status, status, `${what}: ${status}`)
  t.equal(r.body?.error?.code, code, `${what}: ${code}`)
}

/** GET that keeps the body as bytes and headers (CSV). */
function fetchRaw (port: number, path: string, token: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number, headers: IncomingMessage['headers'], body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers: { authorization: `Bearer ${token}`, ...headers }, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('message events, stats and click exports through the real server', async t => {
  const e = await startTestEngine(t, FAST)
  const a = e.team as Bootstrapped
  const b = await bootstrap(e.plane, { sid: 'beta' })
  const [txA, bcA] = a.routes
  const port = e.api.port

  await t.test('GET /v1/messages/{id}/events: the SDK shape, people only by default, machines on request', async t => {
    const m = randomUUID()
    await message(e, a, m, txA.route_id)
    const base = Date.now() - 3600_000
    const humans = [0, 1, 2, 3, 4].map(i => click('acme', m, base + i * 1000, { link_index: i, first_click: i === 0 }))
    // Two clicks in the same millisecond: the order (and the cursor) falls back to obs_id.
    humans.push(click('acme', m, base + 4000, { link_index: 5 }))
    const machines = [0, 1, 2].map(i => click('acme', m, base - 5000 + i, { machine: true }))
    await seed(e, [...humans, ...machines])

    const r = await api(port, 'GET', `/v1/messages/${m}/events`, a.token)
    t.equal(r.status, 200)
    t.equal(r.body.data.length, 6, 'the six human clicks')
    t.same(r.body.links, [])
    t.same(r.body.meta, { path: `/v1/messages/${m}/events`, per_page: 100, next_cursor: null, next_cursor_url: null, prev_cursor: null, prev_cursor_url: null })
    const ev = r.body.data[0]
    for (const k of [...SDK_FIELDS, ...WEBHOOK_FIELDS, 'event_id']) t.ok(k in ev, `event has ${k}`)
    t.match(ev, {
      message_id: m,
      event: 'clicked',
      tag: 'recommendations',
      tags: [],
      metadata: { 'X-Campaign-ID': 'weekly-recs' },
      timestamp: new Date(base).toISOString(),
      event_id: eventIdFor(humans[0].obs_id),
      clicked_at: new Date(base).toISOString().slice(0, 19) + '+00:00',
      destination_url: humans[0].destination_url,
      link_index: 0,
      first_click: true,
      device_type: 'mobile',
      client_type: 'browser',
      client_name: 'Safari',
      bot: { detected: false, probability: 0, classification: 'genuine', proxy_type: null, reason_codes: [], machine: false, counts_for_metrics: true }
    })
    const times = r.body.data.map((x: { timestamp: string }) => x.timestamp)
    t.same(times, [...times].sort(), 'oldest first')
    t.notOk(r.body.data.some((x: { bot: { machine: boolean } }) => x.bot.machine), 'no machine event by default')

    const all = await api(port, 'GET', `/v1/messages/${m}/events?include_machine_events=true`, a.token)
    t.equal(all.body.data.length, 9, 'with include_machine_events=true: the machines too')
    t.match(all.body.data[0].bot, { machine: true, classification: 'security_scanner', reason_codes: ['scanner_agent', 'no_fetch_metadata'] })

    // Cursor pages, forwards then backwards: every event exactly once, in order.
    const seen: string[] = []
    let url: string | null = `/v1/messages/${m}/events?include_machine_events=true&per_page=2`
    let last: ApiReply | undefined
    let pages = 0
    while (url !== null) {
      const p: ApiReply = await api(port, 'GET', url, a.token)
      t.equal(p.status, 200)
      t.ok(p.body.data.length <= 2)
      if (pages === 0) t.equal(p.body.meta.prev_cursor, null, 'the first page has no previous one')
      else t.type(p.body.meta.prev_cursor, 'string')
      seen.push(...p.body.data.map((x: { event_id: string }) => x.event_id))
      url = p.body.meta.next_cursor_url
      last = p
      pages++
    }
    t.equal(pages, 5)
    t.same(seen, all.body.data.map((x: { event_id: string }) => x.event_id), 'forwards: every event once, in order')
    const back: string[] = []
    url = last?.body.meta.prev_cursor_url ?? null
    back.unshift(...(last?.body.data ?? []).map((x: { event_id: string }) => x.event_id))
    while (url !== null) {
      const p: ApiReply = await api(port, 'GET', url, a.token)
      back.unshift(...p.body.data.map((x: { event_id: string }) => x.event_id))
      t.type(p.body.meta.next_cursor, 'string', 'a page reached backwards has a next one')
      url = p.body.meta.prev_cursor_url
    }
    t.same(back, seen, 'backwards: the same events')

    // A message of this team without clicks: 200 and nothing. Another team's, or none: 404.
    const quiet = randomUUID()
    await message(e, a, quiet, txA.route_id)
    const none = await api(port, 'GET', `/v1/messages/${quiet}/events`, a.token)
    t.equal(none.status, 200)
    t.same(none.body.data, [])
    refused(t, await api(port, 'GET', `/v1/messages/${m}/events`, b.token), 404, 'CT_ERR_NOT_FOUND', 'another team\'s message')
    refused(t, await api(port, 'GET', `/v1/messages/${m}/events?include_machine_events=true`, b.token), 404, 'CT_ERR_NOT_FOUND', 'another team\'s message, machines asked for')
    refused(t, await api(port, 'GET', `/v1/messages/${randomUUID()}/events`, a.token), 404, 'CT_ERR_NOT_FOUND', 'an unknown message')
    refused(t, await api(port, 'GET', '/v1/messages/not-a-uuid/events', a.token), 404, 'CT_ERR_NOT_FOUND', 'not a message id')
    refused(t, await api(port, 'GET', `/v1/messages/${m}/events`), 401, 'CT_ERR_UNAUTHORIZED', 'no token')
    // Another team's message with a cursor: 404 all the same.
    const other = randomUUID()
    await seed(e, [click('beta', other, base)])
    refused(t, await api(port, 'GET', `/v1/messages/${other}/events?cursor=${seenCursor(0)}`, a.token), 404, 'CT_ERR_NOT_FOUND', 'another team\'s message with a cursor')

    // Malformed query parameters: 400 with a stable code and the parameter named.
    const bad: Array<[string, string, string]> = [
      ['include_machine_events=maybe', 'CT_ERR_QUERY_PARAM', 'include_machine_events'],
      ['per_page=0', 'CT_ERR_QUERY_PARAM', 'per_page'],
      ['per_page=1001', 'CT_ERR_QUERY_PARAM', 'per_page'],
      ['per_page=2x', 'CT_ERR_QUERY_PARAM', 'per_page'],
      ['per_page=2&per_page=3', 'CT_ERR_QUERY_PARAM', 'per_page'],
      ['limit=5', 'CT_ERR_QUERY_PARAM', 'limit'],
      ['per_page=%ZZ', 'CT_ERR_QUERY_PARAM', 'per_page'],
      ['cursor=!!!', 'CT_ERR_CURSOR', 'cursor'],
      [`cursor=${Buffer.from('{"t":1}').toString('base64url')}`, 'CT_ERR_CURSOR', 'cursor'],
      [`cursor=${Buffer.from('{"t":-1,"o":"00000000-0000-4000-8000-000000000000","d":"n"}').toString('base64url')}`, 'CT_ERR_CURSOR', 'cursor'],
      [`cursor=${Buffer.from('not json').toString('base64url')}`, 'CT_ERR_CURSOR', 'cursor']
    ]
    for (const [query, code, param] of bad) {
      const x = await api(port, 'GET', `/v1/messages/${m}/events?${query}`, a.token)
      refused(t, x, 400, code, query)
      t.equal(x.body?.error?.details?.param, param, `${query}: names ${param}`)
    }
  })

  await t.test('GET /v1/stats: daily and total clicks per route type, against a count of the seed', async t => {
    const c = await bootstrap(e.plane, { sid: 'gamma' })
    const [tx, bc] = c.routes
    const d = (n: number, h = 10): number => today - n * DAY + h * 3600_000
    const mTx = randomUUID()
    const mTx2 = randomUUID()
    const mBc = randomUUID()
    const mUnknown = randomUUID() // clicked, but never rewritten here: no route
    await message(e, c, mTx, tx.route_id)
    await message(e, c, mTx2, tx.route_id)
    await message(e, c, mBc, bc.route_id)
    const rows = [
      // mTx: two human clicks today, one two days ago, a machine today
      click('gamma', mTx, d(0)), click('gamma', mTx, d(0, 11)), click('gamma', mTx, d(2)), click('gamma', mTx, d(0, 9), { machine: true }),
      // mTx2: machine only, yesterday
      click('gamma', mTx2, d(1), { machine: true }), click('gamma', mTx2, d(1, 12), { machine: true }),
      // mBc: one human today, one yesterday
      click('gamma', mBc, d(0)), click('gamma', mBc, d(1)),
      // no route known: one human two days ago
      click('gamma', mUnknown, d(2)),
      // outside the range asked for below (10 days ago)
      click('gamma', mTx, d(10))
    ]
    await seed(e, rows)
    await seed(e, [click('beta', randomUUID(), d(0)), click('beta', randomUUID(), d(0))]) // another team's

    const from = iso(today - 2 * DAY)
    const to = iso(today)
    const r = await api(port, 'GET', `/v1/stats?from=${from}&to=${to}`, c.token)
    t.equal(r.status, 200)
    t.equal(r.body.from, from)
    t.equal(r.body.to, to)
    t.same(r.body.daily.map((x: { date: string }) => x.date), [iso(today - 2 * DAY), iso(today - DAY), iso(today)], 'one entry per day, zero-filled, oldest first')
    // Independent count over the seed: messages with a human click, per day / over the range.
    const inRange = rows.filter(x => x.ts >= today - 2 * DAY && x.ts < today + DAY)
    const uniq = (xs: ClickRow[]): number => new Set(xs.map(x => x.message_id)).size
    const humans = inRange.filter(x => !x.bot.machine)
    const machines = inRange.filter(x => x.bot.machine)
    t.match(r.body.totals, {
      sent: 0,
      delivered: 0,
      hard_bounced: 0,
      spam_complaints: 0,
      opened: null,
      clicked: uniq(humans),
      machine_clicked: uniq(machines),
      clicked_events: humans.length,
      machine_clicked_events: machines.length,
      inbound: { received: 0 },
      effective_opened: null,
      machine_opened: null,
      transactional: { sent: 0, hard_bounced: 0, spam_complaints: 0, clicked: 1, machine_clicked: 2, clicked_events: 3, machine_clicked_events: 3 },
      broadcast: { clicked: 1, machine_clicked: 0, clicked_events: 2, machine_clicked_events: 0 }
    })
    t.equal(r.body.totals.clicked, 3, 'mTx, mBc and the message without a route')
    const dayOf = (n: number): Record<string, any> => r.body.daily.find((x: { date: string }) => x.date === iso(today - n * DAY))
    t.match(dayOf(0), { clicked: 2, clicked_events: 3, machine_clicked: 1, transactional: { clicked: 1, clicked_events: 2, machine_clicked: 1 }, broadcast: { clicked: 1 } })
    t.match(dayOf(1), { clicked: 1, machine_clicked: 1, machine_clicked_events: 2, transactional: { clicked: 0, machine_clicked: 1 }, broadcast: { clicked: 1 } })
    t.match(dayOf(2), { clicked: 2, transactional: { clicked: 1 }, broadcast: { clicked: 0 } })
    t.ok(r.body.daily.reduce((n: number, x: { clicked: number }) => n + x.clicked, 0) >= r.body.totals.clicked, 'unique per day, so days may add up to more than the range')

    const withMachines = await api(port, 'GET', `/v1/stats?start=${from}&end=${to}&include_machine=true`, c.token)
    t.equal(withMachines.body.totals.clicked, uniq(inRange), 'include_machine: messages with any click; start/end as from/to')
    t.equal(withMachines.body.totals.clicked_events, inRange.length)
    t.equal(withMachines.body.totals.machine_clicked, uniq(machines))

    const one = await api(port, 'GET', `/v1/stats?from=${from}&to=${to}&project_id=${c.project.project_id}`, c.token)
    t.same(one.body.totals, r.body.totals, 'the team\'s only project')
    refused(t, await api(port, 'GET', `/v1/stats?project_id=${a.project.project_id}`, c.token), 404, 'CT_ERR_NOT_FOUND', 'another team\'s project')
    const def = await api(port, 'GET', '/v1/stats', c.token)
    t.equal(def.body.daily.length, 30, 'default: the last 30 days')
    t.equal(def.body.to, iso(today))
    t.equal(def.body.totals.clicked, 3, 'the 10-day-old click is in the last 30 days too')

    refused(t, await api(port, 'GET', `/v1/stats?from=${iso(today - 90 * DAY)}&to=${to}`, c.token), 422, 'CT_ERR_RANGE', '91 days')
    t.equal((await api(port, 'GET', `/v1/stats?from=${iso(today - 89 * DAY)}&to=${to}`, c.token)).status, 200, '90 days')
    refused(t, await api(port, 'GET', `/v1/stats?from=${to}&to=${from}`, c.token), 422, 'CT_ERR_RANGE', 'reversed')
    for (const q of ['from=2026-02-30', 'from=yesterday', `from=${from}T00:00:00Z`, `from=${from}&start=${from}`, 'include_machine=yes', 'project=1']) {
      refused(t, await api(port, 'GET', `/v1/stats?${q}`, c.token), 400, 'CT_ERR_QUERY_PARAM', q)
    }
  })

  await t.test('GET /v1/projects/{id}/clicks: JSON pages and streamed CSV, every click once', async t => {
    const a = await bootstrap(e.plane, { sid: 'epsilon' })
    const m1 = randomUUID()
    const m2 = randomUUID()
    const start = today - 5 * DAY
    const rows: ClickRow[] = []
    for (let i = 0; i < 2500; i++) rows.push(click('epsilon', i % 2 === 0 ? m1 : m2, start + Math.floor(i / 2) * 60_000, { machine: i % 10 === 9, recipient: `r${i % 7}@example.com` }))
    rows.push(click('epsilon', m1, start + 3000, { user_agent: '=HYPERLINK("https://evil.example")' }))
    await seed(e, rows)
    const humans = rows.filter(x => !x.bot.machine)
    const path = `/v1/projects/${a.project.project_id}/clicks?from=${iso(start)}&to=${iso(today)}`

    const seen: string[] = []
    let url: string | null = `${path}&per_page=1000`
    let pages = 0
    while (url !== null) {
      const p: ApiReply = await api(port, 'GET', url, a.token)
      t.equal(p.status, 200, `page ${pages}`)
      seen.push(...p.body.data.map((x: { event_id: string }) => x.event_id))
      url = p.body.meta.next_cursor_url
      pages++
    }
    t.equal(pages, 3)
    t.equal(seen.length, humans.length, 'every human click')
    t.equal(new Set(seen).size, seen.length, 'none twice')
    t.same(new Set(seen), new Set(humans.map(x => eventIdFor(x.obs_id))), 'exactly the seeded ones')
    const firstPage = await api(port, 'GET', `${path}&per_page=3`, a.token)
    // The project keeps truncated addresses (the default ip_addresses): the export shows the /24.
    t.match(firstPage.body.data[0], { event: 'clicked', ip: '203.0.113.0', method: 'GET', sent_at: /Z$/, bot: { machine: false } })

    const csv = await fetchRaw(port, `${path}&format=csv&include_machine_events=true`, a.token)
    t.equal(csv.status, 200)
    t.match(csv.headers['content-type'], /^text\/csv/)
    t.equal(csv.headers['transfer-encoding'], 'chunked', 'streamed')
    t.match(csv.headers['content-disposition'], /attachment; filename="clicks-epsilon\.csv"/)
    const parsed = parseCsv(csv.body, { columns: true }) as Array<Record<string, string>>
    t.same(Object.keys(parsed[0]), [...CSV_COLUMNS], 'the header row')
    t.equal(parsed.length, rows.length, 'with include_machine_events: every click')
    t.equal(new Set(parsed.map(x => x.event_id)).size, rows.length, 'each once')
    const sample = rows[1234]
    const got = parsed.find(x => x.event_id === eventIdFor(sample.obs_id))
    t.same(got, {
      event_id: eventIdFor(sample.obs_id),
      timestamp: new Date(sample.ts).toISOString(),
      message_id: sample.message_id,
      recipient: sample.recipient,
      subject: sample.subject,
      tag: sample.tag,
      metadata: JSON.stringify(sample.metadata),
      link_index: '0',
      destination_url: sample.destination_url,
      anchor_text: sample.anchor_text,
      first_click: 'false',
      device_type: sample.device_type,
      client_type: sample.client_type,
      client_name: sample.client_name,
      user_agent: sample.user_agent,
      ip: '203.0.113.0',
      method: 'GET',
      sent_at: new Date(sample.sent_at * 1000).toISOString(),
      bot_detected: String(sample.bot.detected),
      bot_probability: String(sample.bot.probability),
      classification: sample.bot.classification,
      proxy_type: '',
      reason_codes: sample.bot.reason_codes.join(' '),
      machine: String(sample.bot.machine),
      counts_for_metrics: String(sample.bot.counts_for_metrics)
    }, 'a sample row, field by field')
    const times = parsed.map(x => x.timestamp)
    t.same(times, [...times].sort(), 'oldest first')
    const evil = parsed.find(x => x.user_agent.includes('HYPERLINK'))
    t.equal(evil?.user_agent, '\'=HYPERLINK("https://evil.example")', 'a formula is escaped (OWASP CSV injection)')

    const byAccept = await fetchRaw(port, path, a.token, { accept: 'text/csv' })
    t.match(byAccept.headers['content-type'], /^text\/csv/, 'Accept: text/csv')
    t.equal((parseCsv(byAccept.body, { columns: true }) as unknown[]).length, humans.length, 'machines hidden by default')
    const preferJson = await fetchRaw(port, path, a.token, { accept: 'application/json, text/csv;q=0.5' })
    t.match(preferJson.headers['content-type'], /^application\/json/, 'JSON preferred by q-value')
    const head = await fetchRaw(port, `${path}&format=csv`, a.token, {}, 'HEAD')
    t.equal(head.status, 200)
    t.match(head.headers['content-type'], /^text\/csv/, 'HEAD: the headers of the GET')
    t.equal(head.body, '')
    const empty = await fetchRaw(port, `/v1/projects/${a.project.project_id}/clicks?from=2026-01-01&to=2026-01-02&format=csv`, a.token)
    t.same(parseCsv(empty.body), [[...CSV_COLUMNS]], 'no clicks: the header alone')

    refused(t, await api(port, 'GET', `/v1/projects/${a.project.project_id}/clicks`, b.token), 404, 'CT_ERR_NOT_FOUND', 'another team\'s project')
    const theirs = await fetchRaw(port, `/v1/projects/${a.project.project_id}/clicks?format=csv`, b.token)
    t.equal(theirs.status, 404, 'another team\'s project as CSV')
    refused(t, await api(port, 'GET', `${path}&format=xml`, a.token), 400, 'CT_ERR_QUERY_PARAM', 'format=xml')
    refused(t, await api(port, 'GET', `${path}&format=csv&per_page=10`, a.token), 400, 'CT_ERR_QUERY_PARAM', 'per_page with CSV')
    refused(t, await api(port, 'GET', `/v1/projects/${a.project.project_id}/clicks?from=2026-01-01&to=2026-06-01`, a.token), 422, 'CT_ERR_RANGE', 'over 90 days')
    refused(t, await api(port, 'GET', `/v1/projects/${a.project.project_id}/clicks?from=2026-01-01T10:00:00Z&to=2026-01-01T10:00:00Z`, a.token), 422, 'CT_ERR_RANGE', 'empty')
    const instants = await api(port, 'GET', `/v1/projects/${a.project.project_id}/clicks?from=${new Date(start).toISOString()}&to=${new Date(start + 60_000).toISOString()}&include_machine_events=1`, a.token)
    t.equal(instants.body.data.length, 3, 'RFC 3339 instants, to exclusive: the clicks of the first minute')
  })

  await t.test('a real click through the redirect shows up in its message\'s events after promotion', async t => {
    const m = randomUUID()
    await message(e, a, m, bcA.route_id)
    const sentAt = Math.floor(Date.now() / 1000) - 3600
    const human = mintToken(e.keys, { sid: 'acme', messageId: m, linkIndex: 0, sentAt, url: 'https://example.com/product/123' })
    const scanner = mintToken(e.keys, { sid: 'acme', messageId: m, linkIndex: 1, sentAt, url: 'https://example.com/product/456' })
    t.equal((await request(e.port, { path: `/c/${scanner}`, host: 'pacme.t.localhost:8080', headers: { 'user-agent': 'Barracuda Sentinel (EE)' } })).status, 302)
    t.equal((await request(e.port, { path: `/c/${human}`, host: 'pacme.t.localhost:8080', headers: BROWSER })).status, 302)
    let all: ApiReply | undefined
    await until('both clicks promoted', async () => {
      all = await api(port, 'GET', `/v1/messages/${m}/events?include_machine_events=true`, a.token)
      return all.body?.data?.length === 2
    }, 30_000, 100)
    const people = await api(port, 'GET', `/v1/messages/${m}/events`, a.token)
    t.equal(people.body.data.length, 1, 'the person\'s click only, by default')
    t.match(people.body.data[0], { message_id: m, event: 'clicked', destination_url: 'https://example.com/product/123', recipient: 'user@example.com', tag: 'recommendations', first_click: true, client_name: 'Safari', bot: { classification: 'genuine', machine: false } })
    t.match(all?.body.data.find((x: { link_index: number }) => x.link_index === 1), { destination_url: 'https://example.com/product/456', bot: { machine: true } })
    const stats = await api(port, 'GET', '/v1/stats', a.token)
    t.ok(stats.body.totals.broadcast.clicked >= 1, 'and in the stats, as a broadcast route\'s click')
  })

  await t.test('a 100,000-row CSV export streams through the real server; exports are bounded per team; an aborted one gives its slot back', async t => {
    const d = await bootstrap(e.plane, { sid: 'delta' })
    const ROWS = 100_000
    const start = today - 3 * DAY
    // Three clicks share each millisecond (the order falls back to obs_id), every tenth is a
    // machine, and the destination holds n: every field of row n is known.
    await e.store.writer.command({
      query: `INSERT INTO clicks (obs_id, ts, sid, message_id, link_index, sent_at, recipient, subject, tag, metadata, destination_url, anchor_text, first_click, device_type, client_type, client_name, user_agent, ip, method, bot_detected, bot_probability, classification, proxy_type, reason_codes, machine, counts_for_metrics)
        SELECT generateUUIDv4(number), fromUnixTimestamp64Milli(toInt64(${start} + intDiv(number, 3) * 1000), 'UTC'), 'delta', generateUUIDv4(number + ${ROWS}), number % 4,
          toDateTime(${Math.floor(start / 1000) - 3600}, 'UTC'), concat('r', toString(number % 1000), '@example.com'), 'Weekly', 'w', map('X-Campaign-ID', 'c'),
          concat('https://example.com/p/', toString(number)), 'View', false, 'mobile', 'browser', 'Safari', 'Mozilla/5.0 (iPhone) Safari/604.1', '203.0.113.1', 'GET',
          number % 10 = 9, if(number % 10 = 9, 97, 0), if(number % 10 = 9, 'security_scanner', 'genuine'), NULL, if(number % 10 = 9, ['scanner_agent'], []), number % 10 = 9, number % 10 != 9
        FROM numbers(${ROWS})`
    })
    const url = `/v1/projects/${d.project.project_id}/clicks?format=csv`
    const before = e.api.stats.streams

    // Every row, parsed as it arrives (csv-parse), checked and counted.
    const got = await new Promise<{ rows: number, distinct: number, ordered: boolean, sample: Record<string, string> | undefined, chunked: boolean }>((resolve, reject) => {
      const seen = new Set<number>()
      let rows = 0
      let ordered = true
      let last = ''
      let sample: Record<string, string> | undefined
      const req = httpRequest({ host: '127.0.0.1', port, path: url, headers: { authorization: `Bearer ${d.token}` }, agent: false }, res => {
        const parser = parseCsvStream({ columns: true })
        parser.on('data', (row: Record<string, string>) => {
          rows++
          const n = Number(/\/p\/(\d+)$/.exec(row.destination_url)?.[1])
          seen.add(n)
          if (row.timestamp < last) ordered = false
          last = row.timestamp
          if (n === 31_337) sample = row
        })
        parser.on('end', () => { resolve({ rows, distinct: seen.size, ordered, sample, chunked: res.headers['transfer-encoding'] === 'chunked' }) })
        parser.on('error', reject)
        res.pipe(parser)
      })
      req.on('error', reject)
      req.end()
    })
    t.equal(got.rows, ROWS - ROWS / 10, 'every human click (machines hidden by default)')
    t.equal(got.distinct, got.rows, 'each once')
    t.ok(got.ordered, 'oldest first')
    t.ok(got.chunked, 'streamed (chunked)')
    t.match(got.sample, { timestamp: new Date(start + Math.floor(31_337 / 3) * 1000).toISOString(), recipient: 'r337@example.com', link_index: '1', metadata: '{"X-Campaign-ID":"c"}', classification: 'genuine', machine: 'false', counts_for_metrics: 'true', reason_codes: '', proxy_type: '', sent_at: new Date((Math.floor(start / 1000) - 3600) * 1000).toISOString() }, 'a sample row')
    t.equal(e.api.stats.streams.ended, before.ended + 1, 'counted as ended')

    // Readers that take the headers and stop reading: the exports stay open (back-pressure).
    const open: IncomingMessage[] = []
    const slow = async (): Promise<IncomingMessage> => await new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: `${url}&include_machine_events=true`, headers: { authorization: `Bearer ${d.token}` }, agent: false }, res => { res.pause(); resolve(res) })
      req.on('error', reject)
      req.end()
    })
    for (let i = 0; i < MAX_EXPORTS_PER_TEAM; i++) open.push(await slow())
    for (const res of open) t.equal(res.statusCode, 200)
    const busy = await api(port, 'GET', url, d.token)
    refused(t, busy, 429, 'CT_ERR_EXPORT_BUSY', 'one export more than a team may run')
    t.equal(busy.headers['retry-after'], '10')
    const small = '&from=2026-01-01&to=2026-01-02'
    t.equal((await api(port, 'GET', `/v1/projects/${a.project.project_id}/clicks?format=csv${small}`, a.token)).status, 200, 'another team still exports')
    const aborted = e.api.stats.streams.aborted
    for (const res of open) res.destroy()
    await until('the abandoned exports are over', () => e.api.stats.streams.aborted >= aborted + MAX_EXPORTS_PER_TEAM, 10_000)
    t.equal((await fetchRaw(port, `${url}${small}`, d.token)).status, 200, 'their slots are back')
    t.equal(e.api.stats.streams.failed, 0, 'no stream failed')
  })
})

/** A well-formed cursor (as the API mints them). */
function seenCursor (n: number): string {
  return Buffer.from(JSON.stringify({ t: n, o: '00000000-0000-4000-8000-000000000000', d: 'n' })).toString('base64url')
}

t.test('storage failing part-way through a streamed export cuts the connection; failing at once answers 503', async t => {
  // A real fault: the clicks table is renamed away while an export waits on a paused reader.
  const e = await startTestEngine(t)
  const a = e.team as Bootstrapped
  const port = e.api.port
  await e.store.writer.command({
    query: `INSERT INTO clicks (obs_id, ts, sid, message_id, link_index, sent_at, recipient, subject, tag, metadata, destination_url, anchor_text, first_click, device_type, client_type, client_name, user_agent, ip, method, bot_detected, bot_probability, classification, proxy_type, reason_codes, machine, counts_for_metrics)
      SELECT generateUUIDv4(number), fromUnixTimestamp64Milli(toInt64(${today - 2 * DAY} + number * 100), 'UTC'), 'acme', generateUUIDv4(number + 1000000), 0, toDateTime(${Math.floor((today - 3 * DAY) / 1000)}, 'UTC'),
        'r@example.com', 'Weekly', 'w', map(), concat('https://example.com/p/', toString(number)), 'View', false, 'mobile', 'browser', 'Safari', 'Mozilla/5.0 (iPhone) Safari/604.1', '203.0.113.1', 'GET', false, 0, 'genuine', NULL, [], false, true
      FROM numbers(100000)`
  })
  const url = `/v1/projects/${a.project.project_id}/clicks?format=csv`
  const res = await new Promise<IncomingMessage>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: url, headers: { authorization: `Bearer ${a.token}` }, agent: false }, r => { r.pause(); resolve(r) })
    req.on('error', reject)
    req.end()
  })
  t.equal(res.statusCode, 200, 'the export started')
  await new Promise(resolve => setTimeout(resolve, 300)) // the server fills the buffers and waits
  await e.store.writer.command({ query: 'RENAME TABLE clicks TO clicks_away' })
  t.teardown(async () => { await e.store.writer.command({ query: 'RENAME TABLE clicks_away TO clicks' }).catch(() => {}) })
  const outcome = await new Promise<{ bytes: number, how: string }>(resolve => {
    let bytes = 0
    res.on('data', (d: Buffer) => { bytes += d.length })
    res.on('end', () => { resolve({ bytes, how: res.complete ? 'complete' : 'cut' }) })
    res.on('error', () => { resolve({ bytes, how: 'cut' }) })
    res.resume()
  })
  t.equal(outcome.how, 'cut', 'the chunked body never ends: the client knows the export is incomplete')
  t.ok(outcome.bytes > 0, `${outcome.bytes} bytes arrived first`)
  await until('the failure is counted', () => e.api.stats.streams.failed === 1, 10_000)
  const now = await api(port, 'GET', url, a.token)
  refused(t, now, 503, 'CT_ERR_STORE_UNAVAILABLE', 'the first page fails: a proper error answer')
  t.equal(e.api.stats.streams.failed, 1, 'not a stream failure: nothing was sent')
})
