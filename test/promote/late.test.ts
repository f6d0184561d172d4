import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { Webhook as StandardWebhook } from 'standardwebhooks'
import { startTestEngine, type TestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { CHROME_NAVIGATION as CHROME, request, SAFARI_IPHONE as SAFARI } from '../helpers/http.js'
import { Receiver, type Received } from '../helpers/receiver.js'
import { until } from '../helpers/wait.js'
import { mintToken } from '../../src/token/codec.js'
import { observationFromHeaders, type ClickRow, type Observation } from '../../src/records.js'
import { insertObservationRows, toRow } from '../../src/store/observations.js'
import { CLICK_COLUMNS, clickLine } from '../../src/store/promotion.js'
import { insertRows } from '../../src/store/row-insert.js'
import { scannerRanges } from '../../src/classify/index.js'
import type { LateEvidenceStore } from '../../src/store/late-evidence.js'

// Late evidence end to end (issue 16): the real server, ingest, embedded ClickHouse,
// promotion, the worker pool's classification, late evidence, the outbox and a real receiver.
// Short windows and horizons through the config.

const HOST = 'pacme.t.localhost:8080'
const FLAGS = {
  'trusted-proxy': ['127.0.0.1'],
  'promotion-window-ms': '300',
  'batch-max-ms': '50',
  'late-evidence-horizon-ms': '600000',
  'webhook-retry-schedule': '200ms,200ms,300ms,500ms,1s,1s,1s,1s,1s,1s'
}
const EVENTS = ['message.clicked', 'message.click_reclassified']
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

interface Event { id: string, event: string, timestamp: string, data: Record<string, any> }

async function hook (e: TestEngine, url: string, extra: Record<string, unknown> = {}): Promise<{ webhook_id: string, secret: string }> {
  const r = await api(e.api.port, 'POST', `/v1/projects/${e.team!.project.project_id}/webhooks`, e.team!.token, { url, events: EVENTS, include_machine_events: true, ...extra })
  if (r.status !== 201) throw new Error(r.raw)
  return r.body
}

/** A real receiver and a webhook for both events, sending to it. */
async function subscribed (t: Test, e: TestEngine): Promise<{ rx: Receiver, w: { webhook_id: string, secret: string } }> {
  const rx = new Receiver()
  await rx.up()
  t.teardown(() => rx.down())
  return { rx, w: await hook(e, rx.url) }
}

/** The store with one method replaced (faults injected on the way to, or instead of, the real one). */
function overriding (s: LateEvidenceStore, name: keyof LateEvidenceStore, fn: (inner: LateEvidenceStore) => (...args: any[]) => Promise<unknown>): LateEvidenceStore {
  return new Proxy(s, {
    get (inner, prop) {
      if (prop === name) return fn(inner)
      const v = (inner as any)[prop]
      return typeof v === 'function' ? v.bind(inner) : v
    }
  })
}

async function click (e: TestEngine, o: { ip: string, headers: Record<string, string>, messageId: string, sentAt: number, link?: number }): Promise<void> {
  const token = mintToken(e.keys, { sid: 'acme', messageId: o.messageId, linkIndex: o.link ?? 0, sentAt: o.sentAt, url: `https://example.com/${o.link ?? 0}` })
  const r = await request(e.port, { path: `/c/${token}`, host: HOST, headers: { ...o.headers, 'x-forwarded-for': o.ip } })
  if (r.status !== 302) throw new Error(`status ${r.status}`)
}

/** Chrome on link 0, then `second` on link 1, from one address, both promoted (the engine's first two). */
async function twoClicks (e: TestEngine, ip: string, messageId: string, sentAt: number, second: Record<string, string>): Promise<void> {
  await click(e, { ip, headers: CHROME, messageId, sentAt })
  await sleep(30)
  await click(e, { ip, headers: second, messageId, sentAt, link: 1 })
  await until('two clicks promoted', () => e.promoter.stats.promoted >= 2)
}

function events (rx: Receiver, kind: string, secret?: string): Event[] {
  return rx.received.map((r: Received) => {
    const body = secret === undefined ? JSON.parse(r.body) : new StandardWebhook(secret).verify(r.body, r.headers as Record<string, string>)
    return body as Event
  }).filter(x => x.event === kind)
}

interface Version { obs_id: string, sign: number, first_click: boolean, machine: boolean, counts_for_metrics: boolean, classification: string, reason_codes: string[], ip: string }

async function versions (e: TestEngine, messageId: string): Promise<Version[]> {
  return await (await e.store.reader.query({
    query: 'SELECT toString(obs_id) AS obs_id, sign, first_click, machine, counts_for_metrics, classification, reason_codes, ip FROM clicks WHERE message_id = {m:UUID} ORDER BY promoted_at, sign',
    query_params: { m: messageId },
    format: 'JSONEachRow'
  })).json<Version>()
}

/** The current version of each click of the message (the last sign = +1 row by promoted_at). */
async function current (e: TestEngine, messageId: string): Promise<Map<string, Version>> {
  const out = new Map<string, Version>()
  for (const v of await versions(e, messageId)) if (v.sign === 1) out.set(v.obs_id, v)
  return out
}

t.test('address burst: a click judged genuine is reclassified once its address bursts across many recipients; first_click moves; readers show the new version', async t => {
  const e = await startTestEngine(t, FLAGS)
  const { rx, w } = await subscribed(t, e)
  const now = Math.floor(Date.now() / 1000)
  // A: Safari 10 s after send from an address of its own (sent_lt_30s: 25, genuine), then B (Chrome) from another one.
  const m1 = randomUUID()
  await click(e, { ip: '198.51.100.50', headers: SAFARI, messageId: m1, sentAt: now - 10 })
  await sleep(50)
  await click(e, { ip: '203.0.113.5', headers: CHROME, messageId: m1, sentAt: now - 10, link: 1 })
  await until('two clicks promoted', () => e.promoter.stats.promoted >= 2)
  await rx.waitFor(2)
  const clicked = events(rx, 'message.clicked', w.secret)
  t.equal(clicked.length, 2, 'two message.clicked events')
  const before = await current(e, m1)
  const a = [...before.values()].find(v => v.ip === '198.51.100.50')!
  const b = [...before.values()].find(v => v.ip === '203.0.113.5')!
  t.match(a, { classification: 'genuine', counts_for_metrics: true, first_click: true }, 'A: genuine at promotion, the first click')
  t.match(b, { counts_for_metrics: true, first_click: false })
  t.notOk(a.reason_codes.includes('address_many_recipients'))
  // Later (A is out of the promotion context), the same address clicks for six other recipients within a second.
  await sleep(1200)
  const burst: string[] = []
  for (let i = 0; i < 6; i++) {
    burst.push(randomUUID())
    await click(e, { ip: '198.51.100.50', headers: CHROME, messageId: burst[i], sentAt: now - 3600 })
  }
  await until('the burst promoted', () => e.promoter.stats.promoted >= 8)
  await until('a reclassification delivered', () => events(rx, 'message.click_reclassified').length >= 1, 20_000)
  await e.late.idle()
  await sleep(300)
  const re = events(rx, 'message.click_reclassified', w.secret)
  t.equal(re.length, 1, 'one message.click_reclassified event, signed like message.clicked')
  const ev = re[0]
  t.equal(ev.data.click_id, a.obs_id, 'for click A, by its click id (observation id)')
  t.equal(ev.data.click_event_id, clicked.find(c => c.data.user_agent === SAFARI['user-agent'])!.id, 'naming the id of its message.clicked event')
  t.equal(ev.data.message_id, m1)
  t.equal(ev.data.reason, 'address_burst')
  t.match(ev.data.previous_bot, { classification: 'genuine', machine: false, counts_for_metrics: true })
  t.match(ev.data.bot, { classification: 'security_scanner', machine: true, detected: true, counts_for_metrics: false })
  t.ok(ev.data.bot.reason_codes.includes('address_many_recipients'), 'the burst is among its reasons')
  t.equal(ev.data.previous_first_click, true)
  t.equal(ev.data.first_click, false, 'a machine click does not hold first_click')
  t.match(ev.data.clicked_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/)
  t.match(ev.data.reclassified_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/)
  t.match(ev.data.evidence_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/)
  t.match(ev.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  t.equal(rx.received.find(r => JSON.parse(r.body).id === ev.id)!.headers['webhook-id'], ev.id)
  t.equal(e.late.stats.reclassified.address_burst, 1)

  // Row versions: A and B each have a cancel row and a new row; the current versions are right.
  const rows = await versions(e, m1)
  t.equal(rows.length, 6, 'two clicks × (original, cancel, new)')
  t.equal(rows.reduce((n, r) => n + r.sign, 0), 2, 'the signs sum to the two clicks')
  const after = await current(e, m1)
  t.match(after.get(a.obs_id), { machine: true, counts_for_metrics: false, first_click: false, classification: 'security_scanner' })
  t.match(after.get(b.obs_id), { counts_for_metrics: true, first_click: true }, 'first_click moved to B')
  // The burst's own clicks: the signal alone (35) is no machine verdict, so none flips.
  for (const m of burst) {
    const vs = await versions(e, m)
    t.same(vs.map(v => [v.sign, v.counts_for_metrics]), [[1, true]], 'a burst click keeps its one version')
  }

  // Readers outside analytics: the message's events, the export (JSON and CSV), stats.
  const tok = e.team!.token
  const people = await api(e.api.port, 'GET', `/v1/messages/${m1}/events`, tok)
  t.equal(people.status, 200)
  t.equal(people.body.data.length, 1, 'message events (people only): B alone')
  t.equal(people.body.data[0].first_click, true, 'B is the first click')
  const all = await api(e.api.port, 'GET', `/v1/messages/${m1}/events?include_machine_events=true`, tok)
  t.equal(all.body.data.length, 2, 'with machines: each click once (its current version)')
  t.match(all.body.data.find((d: any) => d.user_agent === SAFARI['user-agent']), { first_click: false, bot: { classification: 'security_scanner', machine: true } })
  const from = new Date(Date.now() - 3600_000).toISOString()
  const to = new Date(Date.now() + 60_000).toISOString()
  const pid = e.team!.project.project_id
  const exp = await api(e.api.port, 'GET', `/v1/projects/${pid}/clicks?from=${from}&to=${to}&include_machine_events=true&per_page=100`, tok)
  t.equal(exp.status, 200)
  const expM1 = exp.body.data.filter((d: any) => d.message_id === m1)
  t.equal(expM1.length, 2, 'the JSON export has each click of the message once')
  const csv = await request(e.api.port, { path: `/v1/projects/${pid}/clicks?from=${from}&to=${to}&include_machine_events=true&format=csv`, host: '127.0.0.1', headers: { authorization: `Bearer ${tok}` } })
  const csvRows = csv.body.toString().split('\n').filter(l => l.includes(m1))
  t.equal(csvRows.length, 2, 'the CSV export has each click of the message once')
  t.equal(csvRows.filter(l => l.includes(',security_scanner,')).length, 1, 'A as a scanner in the CSV')
  const day = new Date().toISOString().slice(0, 10)
  const stats = await api(e.api.port, 'GET', `/v1/stats?from=${day}&to=${day}`, tok)
  t.equal(stats.status, 200)
  t.equal(stats.body.totals.clicked_events, 7, 'stats count people: B and the six burst clicks, not A')
  t.equal(stats.body.totals.clicked, 7, 'seven messages with a human click')
  t.equal(stats.body.totals.machine_clicked_events, 1, 'A as a machine, once')
  const any = await api(e.api.port, 'GET', `/v1/stats?from=${day}&to=${day}&include_machine=true`, tok)
  t.equal(any.body.totals.clicked_events, 8, 'every click once (its current version), with machines')

  // A later human click of the message is not its first (B holds it).
  await click(e, { ip: '203.0.113.6', headers: SAFARI, messageId: m1, sentAt: now - 10, link: 1 })
  await until('the later click promoted', () => e.promoter.stats.promoted >= 9)
  const later = [...(await current(e, m1)).values()].find(v => v.ip === '203.0.113.6')!
  t.equal(later.first_click, false, 'first_click stays with B')
})

function honeypotObservation (o: { ip: string, userAgent: string, messageId: string, sentAt: number }): Observation {
  const h = observationFromHeaders({ 'user-agent': o.userAgent })
  return Object.assign(h, {
    ts: Date.now(),
    id: randomUUID(),
    sid: 'acme',
    messageId: o.messageId,
    linkIndex: 9,
    sentAt: o.sentAt,
    url: 'https://example.com/honeypot',
    kid: 1,
    retentionDays: 400,
    method: 'GET' as const,
    host: HOST,
    ip: o.ip,
    peerIp: '127.0.0.1',
    scheme: 'http',
    honeypot: true
  })
}

t.test('honeypot: a hit re-judges the message\'s clicks from the same address and agent as scanner, before or after their promotion', async t => {
  const e = await startTestEngine(t, FLAGS)
  const { rx, w } = await subscribed(t, e)
  const now = Math.floor(Date.now() / 1000)
  const m2 = randomUUID()
  // C: Chrome from 198.51.100.60; D: the same address with another agent (another person behind it).
  await twoClicks(e, '198.51.100.60', m2, now - 3600, SAFARI)
  const before = await current(e, m2)
  const c = [...before.values()].find(v => v.first_click)!
  t.equal(c.counts_for_metrics, true, 'C genuine, first click')
  // The honeypot link is fetched by C's address and agent: through the ingest/store path.
  e.pipeline.write([honeypotObservation({ ip: '198.51.100.60', userAgent: CHROME['user-agent'], messageId: m2, sentAt: now - 3600 })])
  await until('a reclassification delivered', () => events(rx, 'message.click_reclassified').length >= 1, 20_000)
  await e.late.idle()
  await sleep(500)
  const re = events(rx, 'message.click_reclassified', w.secret)
  t.equal(re.length, 1, 'one reclassification: C, not D (another agent)')
  t.equal(re[0].data.click_id, c.obs_id)
  t.equal(re[0].data.reason, 'honeypot')
  t.match(re[0].data.bot, { classification: 'security_scanner', machine: true, counts_for_metrics: false })
  t.equal(re[0].data.bot.reason_codes[0], 'honeypot_fetcher')
  t.ok(re[0].data.bot.probability >= 95)
  const delivery = await api(e.api.port, 'GET', `/v1/webhooks/${w.webhook_id}/deliveries/${re[0].id}`, e.team!.token)
  t.equal(delivery.status, 200)
  t.equal(delivery.body.event_type, 'message.click_reclassified', 'the delivery names its event type')
  t.equal(delivery.body.payload.id, re[0].id)
  // The list (Lettermint's shape, one entry per event) labels each entry with its own type.
  await until('both deliveries listed', async () => (await api(e.api.port, 'GET', `/lettermint/v1/webhooks/${w.webhook_id}/deliveries`, e.team!.token)).body.data?.length >= 3, 20_000)
  const listed = await api(e.api.port, 'GET', `/lettermint/v1/webhooks/${w.webhook_id}/deliveries`, e.team!.token)
  const types = new Map<string, string>(listed.body.data.map((d: { id: string, event_type: string }) => [d.id, d.event_type]))
  t.equal(types.get(re[0].id), 'message.click_reclassified', 'the reclassification listed as such')
  t.same([...types.values()].filter(x => x === 'message.clicked').length, 2, 'the two clicks as message.clicked')
  const after = await current(e, m2)
  t.match(after.get(c.obs_id), { machine: true, first_click: false })
  const d = [...after.values()].find(v => v.obs_id !== c.obs_id && v.ip === '198.51.100.60' && !v.reason_codes.includes('honeypot_fetcher') && v.counts_for_metrics)
  t.ok(d, 'D keeps its verdict')
  t.equal(d?.first_click, true, 'and takes first_click')

  // The hit first, then a click of the same fetcher within the promotion window: promotion
  // itself judges it by the hit (honeypot_hit, README "Honeypot links"), so late evidence has
  // nothing to change and sends no reclassification.
  const m3 = randomUUID()
  e.pipeline.write([honeypotObservation({ ip: '198.51.100.61', userAgent: CHROME['user-agent'], messageId: m3, sentAt: now - 3600 })])
  await sleep(100)
  await click(e, { ip: '198.51.100.61', headers: CHROME, messageId: m3, sentAt: now - 3600 })
  await until('the click after the hit promoted', async () => (await current(e, m3)).size >= 1, 20_000)
  const judged = [...(await current(e, m3)).values()][0]
  t.match(judged, { machine: true, classification: 'security_scanner' }, 'promoted as a scanner: its honeypot hit came first')
  t.equal(judged.reason_codes[0], 'honeypot_hit')
  await e.late.idle()
  await sleep(500)
  t.equal(events(rx, 'message.click_reclassified').length, 1, 'and no reclassification for it')
})

t.test('a reclassification ClickHouse refuses in part: the refused click is quarantined and keeps its verdict, the rest goes through, nothing is retried for ever', async t => {
  // The rows are corrupted on their way to the real insert (a proxy of the store: a version
  // ClickHouse refuses cannot be produced from rows it took); the refusal and the isolation are real.
  let target = ''
  const corrupting = (s: LateEvidenceStore): LateEvidenceStore => overriding(s, 'insertVersions', inner =>
    async (rows: Array<Record<string, unknown>>, token: string) => await inner.insertVersions(rows.map(r => r.obs_id === target && r.sign === 1 ? { ...r, promoted_at: 'not a time' } : r), token))
  const e = await startTestEngine(t, FLAGS, { wrapLateStore: corrupting })
  const { rx, w } = await subscribed(t, e)
  const now = Math.floor(Date.now() / 1000)
  const m = randomUUID()
  await twoClicks(e, '198.51.100.62', m, now - 3600, CHROME)
  const before = await current(e, m)
  t.equal([...before.values()].filter(v => v.counts_for_metrics).length, 2, 'both genuine at promotion')
  const kept = [...before.values()].find(v => !v.first_click)!
  const flipped = [...before.values()].find(v => v.first_click)!
  target = kept.obs_id
  e.pipeline.write([honeypotObservation({ ip: '198.51.100.62', userAgent: CHROME['user-agent'], messageId: m, sentAt: now - 3600 })])
  await until('a reclassification delivered', () => events(rx, 'message.click_reclassified').length >= 1, 20_000)
  await e.late.idle()
  await sleep(500)
  const re = events(rx, 'message.click_reclassified', w.secret)
  t.equal(re.length, 1, 'one event: the stored click, not the refused one')
  t.equal(re[0].data.click_id, flipped.obs_id)
  t.equal(e.late.stats.refused, 1, 'the refused click counted')
  t.equal(e.late.stats.failures, 0, 'a data refusal is not a failure to retry')
  t.equal(e.quarantine.stats.bySource.get('clicks'), 2, 'its cancel row and new row quarantined together')
  const after = await current(e, m)
  t.match(after.get(flipped.obs_id), { machine: true, classification: 'security_scanner' })
  t.match(after.get(kept.obs_id), { machine: false, counts_for_metrics: true }, 'the refused click keeps its stored verdict')
  t.equal((await versions(e, m)).filter(v => v.obs_id === kept.obs_id).length, 1, 'and no cancel row of it was stored')
  const open = await (await e.store.reader.query({ query: 'SELECT count() AS n FROM reclassification_batches FINAL WHERE NOT done', format: 'JSONEachRow' })).json<{ n: string }>()
  t.equal(Number(open[0].n), 0, 'the batch is done')
  const metrics = await request(e.admin.port, { path: '/metrics' })
  t.match(metrics.body, /clicktrail_late_evidence_refused_total 1/)
})

t.test('scanner range: a newly listed range re-judges the horizon at start-up; a crash between deciding and storing is finished once, and a restart sends nothing twice', async t => {
  const e1 = await startTestEngine(t, FLAGS)
  const dir = e1.dataDir
  const { rx, w } = await subscribed(t, e1)
  // The click as the previous release stored it: 52.238.78.88 (EOP, listed since issue 16) was not a scanner range then.
  const m4 = randomUUID()
  const now = Date.now()
  const o = Object.assign(observationFromHeaders(CHROME), { ts: now - 60_000, id: randomUUID(), sid: 'acme', messageId: m4, linkIndex: 0, sentAt: Math.floor(now / 1000) - 7200, url: 'https://example.com/0', kid: 1, retentionDays: 400, method: 'GET' as const, host: HOST, ip: '52.238.78.88', peerIp: '127.0.0.1', scheme: 'http' })
  await insertObservationRows(e1.store.writer, [toRow(o, 'seed-node')], randomUUID())
  const row: ClickRow = {
    obs_id: o.id,
    ts: o.ts,
    sid: 'acme',
    message_id: m4,
    route_id: '00000000-0000-0000-0000-000000000000',
    link_index: 0,
    sent_at: o.sentAt,
    recipient: 'r@example.com',
    subject: 's',
    tag: '',
    metadata: {},
    destination_url: o.url,
    anchor_text: '',
    first_click: true,
    device_type: 'desktop',
    client_type: 'browser',
    client_name: 'Chrome',
    user_agent: o.userAgent,
    ip: o.ip,
    method: 'GET',
    bot: { detected: false, probability: 0, classification: 'genuine', proxy_type: null, reason_codes: [], machine: false, counts_for_metrics: true },
    retention_days: 400
  }
  await insertRows(e1.store.writer, { table: 'clicks', columns: CLICK_COLUMNS, format: 'JSONCompactEachRow', rows: [clickLine(row)], settings: { insert_deduplication_token: randomUUID() } })
  const previous = scannerRanges().filter(r => r !== '52.238.78.88/32').sort()
  await insertRows(e1.store.writer, { table: 'late_evidence_state', format: 'JSONEachRow', rows: [JSON.stringify({ key: 'scanner_ranges', value: JSON.stringify(previous), version: (Date.now() + 1000) * 1000 })], settings: { insert_deduplication_token: randomUUID() } })
  await e1.stop()

  // Start 2: the batch is decided and stored, then the clicks insert fails (an injected fault:
  // a crash between the two cannot be caused on cue) until the engine stops.
  const failing = (s: LateEvidenceStore): LateEvidenceStore => overriding(s, 'insertVersions', () => async () => { throw new Error('injected: clicks insert refused') })
  const e2 = await startTestEngine(t, FLAGS, { wrapLateStore: failing }, dir)
  await until('the batch decided and its store failed', () => e2.late.stats.failures >= 1, 20_000)
  await e2.stop()
  t.equal(events(rx, 'message.click_reclassified').length, 0, 'nothing sent while its rows are not stored')
  const e3 = await startTestEngine(t, FLAGS, {}, dir)
  await until('the reclassification delivered', () => events(rx, 'message.click_reclassified').length >= 1, 20_000)
  await e3.late.idle()
  t.equal(e3.late.stats.recovered, 1, 'the interrupted batch was finished at start-up')
  const re = events(rx, 'message.click_reclassified', w.secret)
  t.equal(re.length, 1)
  t.equal(re[0].data.click_id, o.id)
  t.equal(re[0].data.reason, 'scanner_range')
  t.match(re[0].data.bot, { classification: 'security_scanner', proxy_type: 'microsoft_eop', machine: true })
  t.ok(re[0].data.bot.reason_codes.includes('scanner_network_microsoft_eop'))
  t.equal(re[0].data.previous_bot.classification, 'genuine')
  const rows1 = await versions(e3, m4)
  t.equal(rows1.length, 3, 'original, cancel, new: stored once')
  await e3.stop()
  const e4 = await startTestEngine(t, FLAGS, {}, dir)
  await e4.late.idle()
  await sleep(1500)
  t.equal(events(rx, 'message.click_reclassified').length, 1, 'a restart sends nothing again')
  t.equal((await versions(e4, m4)).length, 3, 'and writes no further version')
  t.equal(e4.late.stats.recovered, 0)
})

t.test('a click older than the horizon keeps its verdict', async t => {
  const e = await startTestEngine(t, { ...FLAGS, 'late-evidence-horizon-ms': '1000' })
  const now = Math.floor(Date.now() / 1000)
  const m = randomUUID()
  await click(e, { ip: '198.51.100.70', headers: CHROME, messageId: m, sentAt: now - 3600 })
  await until('promoted', () => e.promoter.stats.promoted >= 1)
  await sleep(1500)
  e.pipeline.write([honeypotObservation({ ip: '198.51.100.70', userAgent: CHROME['user-agent'], messageId: m, sentAt: now - 3600 })])
  await until('the hit seen', () => e.late.stats.triggers.honeypot >= 1)
  await e.late.idle()
  const v = [...(await current(e, m)).values()].filter(x => x.ip === '198.51.100.70' && x.counts_for_metrics)
  t.equal(v.length, 1, 'the click outside the horizon still counts')
  t.equal(e.late.stats.reclassified.honeypot, 0)
})
