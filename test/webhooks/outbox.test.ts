import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { loadConfig, type FlagValues } from '../../src/config.js'
import { startEngine } from '../../src/engine/index.js'
import { limited } from '../../src/log-limit.js'
import { bootstrap, type Bootstrapped } from '../../src/control/projects.js'
import { mintToken } from '../../src/token/codec.js'
import { startTestEngine, tempDir, SECRET_1, type TestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { request } from '../helpers/http.js'
import { Receiver } from '../helpers/receiver.js'
import { Spool } from '../../src/store/spool.js'
import { join } from 'node:path'

// The real engine (embedded ClickHouse, promotion, outbox), real redirects and real
// receivers on loopback. A "dead endpoint" is a Receiver whose port was closed again.
const FAST = { 'promotion-window-ms': '300', 'batch-max-ms': '50' }
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
const BROWSER = {
  'user-agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'accept-language': 'en-US,en;q=0.9',
  'sec-fetch-site': 'none',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document'
}
// About the size of a real message.clicked event.
const BODY = JSON.stringify({ id: randomUUID(), event: 'message.clicked', data: { subject: 'x'.repeat(700), recipient: 'user@example.com' } })

interface LogLine { kind?: string, msg: string, count?: number, webhookId?: string, [k: string]: unknown }

/** The engine as startTestEngine builds it, with a logger whose lines the test can read. */
async function engineWithLogs (t: Test, flags: FlagValues): Promise<{ e: TestEngine, lines: LogLine[], log: pino.Logger }> {
  const lines: LogLine[] = []
  const sink = new Writable({ write (chunk: Buffer, _enc, done) { for (const l of chunk.toString().split('\n')) if (l !== '') lines.push(JSON.parse(l) as LogLine); done() } })
  const log = pino({ level: 'info' }, sink)
  const dir = tempDir(t)
  const config = loadConfig({ port: '0', host: '127.0.0.1', 'admin-port': '0', 'api-port': '0', 'config-refresh-ms': '100', 'webhook-allow-private': 'true', 'data-dir': dir, secrets: SECRET_1, 'tracking-base-url': 'http://t.localhost:8080', ...flags }, {})
  const engine = await startEngine(config, log)
  t.teardown(async () => { await engine.stop() })
  const team = await bootstrap(engine.plane, { sid: 'acme' })
  return { e: Object.assign(engine, { dataDir: dir, team }), lines, log }
}

async function hook (e: TestEngine, team: Bootstrapped, url: string): Promise<{ webhook_id: string }> {
  const r = await api(e.api.port, 'POST', `/v1/projects/${team.project.project_id}/webhooks`, team.token, { url })
  if (r.status !== 201) throw new Error(r.raw)
  return r.body
}

async function click (e: TestEngine, sid: string): Promise<string> {
  const url = `https://example.com/${sid}/${randomUUID()}`
  const token = mintToken(e.keys, { sid, messageId: randomUUID(), linkIndex: 0, sentAt: Math.floor(Date.now() / 1000) - 3600, url })
  const r = await request(e.port, { path: `/c/${token}`, host: `p${sid}.t.localhost:8080`, headers: BROWSER })
  if (r.status !== 302) throw new Error(`status ${r.status}`)
  return url
}

async function until (what: () => boolean, ms = 20_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!what() && Date.now() < deadline) await sleep(25)
  return what()
}

async function metric (e: TestEngine, name: string, labels = ''): Promise<number> {
  const text = (await request(e.admin.port, { path: '/metrics' })).body
  const line = text.split('\n').find(l => l.startsWith(`${name}${labels === '' ? ' ' : `{${labels}}`}`))
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1))
}

t.test('one team\'s dead endpoint fills the outbox: another team\'s clicks still reach its webhook; the dead one is told 503, counted and logged', async t => {
  const { e, lines, log } = await engineWithLogs(t, { ...FAST, 'outbox-max-bytes': String(1024 * 1024), 'webhook-retry-schedule': '1h' })
  const dead = new Receiver()
  await dead.up()
  await dead.down()
  const live = new Receiver()
  await live.up()
  t.teardown(async () => { await live.down() })
  const teamA = e.team!
  const teamB = await bootstrap(e.plane, { sid: 'bshop', team: 'B' })
  const a = await hook(e, teamA, dead.url)
  const b = await hook(e, teamB, live.url)

  // Team A's backlog: far more than the outbox holds (the issue's 283 000 jobs, scaled to a 1 MiB outbox).
  const results = new Map<string, number>()
  for (let i = 0; i < 3000; i++) {
    const r = e.dispatcher.enqueue({ eventId: randomUUID(), webhookId: a.webhook_id, sid: 'acme', event: 'message.clicked', body: BODY, createdAt: Date.now() })
    results.set(String(r), (results.get(String(r)) ?? 0) + 1)
  }
  t.ok((results.get('queued') ?? 0) > 100, `A queued until the outbox was full (${results.get('queued')})`)
  t.ok((results.get('shed_share') ?? 0) > 1000, `then A's jobs were refused (${results.get('shed_share')})`)
  t.ok(e.dispatcher.liveBytes <= e.dispatcher.liveBound, 'pending bytes within the bound')
  const aPending = e.dispatcher.pending

  // A asks for a test event: not queued, and the answer says so.
  const test = await api(e.api.port, 'POST', `/v1/webhooks/${a.webhook_id}/test`, teamA.token)
  t.equal(test.status, 503, 'A\'s test event is not queued: 503')
  t.equal(test.body?.error?.code, 'CT_ERR_OUTBOX_FULL')
  t.equal(test.body?.error?.details?.reason, 'webhook_share')
  t.ok(Number(test.headers['retry-after']) > 0, 'with Retry-After')

  // Team B: real clicks through the redirect, promoted, delivered to B's receiver.
  const urls: string[] = []
  for (let i = 0; i < 5; i++) urls.push(await click(e, 'bshop'))
  t.ok(await until(() => live.received.length >= 5), 'B received its clicks\' events while A\'s backlog fills the outbox')
  t.same(live.received.map(r => (JSON.parse(r.body) as { data: { destination_url: string } }).data.destination_url).sort(), urls.sort(), 'exactly B\'s clicks')
  const bTest = await api(e.api.port, 'POST', `/v1/webhooks/${b.webhook_id}/test`, teamB.token)
  t.equal(bTest.status, 202, 'B\'s test event is queued')
  t.equal(bTest.body.queued, true)
  t.ok(await until(() => live.received.some(r => r.headers['webhook-id'] === bTest.body.event_id)), 'and delivered')
  t.ok(e.dispatcher.pending <= aPending + 6, 'room for B was made by dropping A\'s oldest jobs')

  // Counted per webhook in /metrics, and logged once per webhook per interval with a count.
  t.ok(await metric(e, 'clicktrail_webhook_shed_by_webhook_total', `webhook_id="${a.webhook_id}",reason="share"`) >= (results.get('shed_share') ?? 0), 'A\'s refusals are counted under A')
  t.ok(await metric(e, 'clicktrail_webhook_shed_by_webhook_total', `webhook_id="${a.webhook_id}",reason="evicted"`) >= 1, 'A\'s dropped jobs are counted under A')
  t.equal(await metric(e, 'clicktrail_webhook_shed_by_webhook_total', `webhook_id="${b.webhook_id}",reason="share"`), 0, 'B lost nothing')
  t.ok(await metric(e, 'clicktrail_webhook_pending_by_webhook', `webhook_id="${a.webhook_id}"`) > 100)
  t.ok(await until(() => e.dispatcher.stats.failedAttempts >= 50), 'A\'s attempts fail')
  // A's endpoint is failing: paced to --webhook-failing-rate (10/s), its other jobs wait
  const f0 = e.dispatcher.stats.failedAttempts
  await sleep(2000)
  const rate = (e.dispatcher.stats.failedAttempts - f0) / 2
  t.ok(rate > 2 && rate <= 13, `A is attempted about 10 times a second, not as fast as its port refuses (${rate}/s)`)
  t.equal(await metric(e, 'clicktrail_webhook_failing_webhooks'), 1, 'one failing webhook')
  limited(log).flush(true)
  const shedLines = lines.filter(l => l.kind === `webhook.shed.${a.webhook_id}`)
  const told = (ls: LogLine[]): number => ls.length + ls.reduce((n, l) => n + (l.count ?? 0), 0)
  t.ok(shedLines.length >= 1 && shedLines.length <= 4, `A's sheds are logged, rate-limited (${shedLines.length} lines)`)
  t.ok(told(shedLines) >= (results.get('shed_share') ?? 0), `the summary lines carry the count (${told(shedLines)})`)
  const failing = lines.filter(l => l.kind === `webhook.failing.${a.webhook_id}`)
  t.ok(failing.length >= 1 && failing.length <= 4, `A's failing endpoint is logged, rate-limited (${failing.length} lines)`)
  t.match(failing[0] ?? {}, { webhookId: a.webhook_id, status: 0, error: /ECONNREFUSED/ })
  t.ok(told(failing) >= 50, `with a count of the attempts since (${told(failing)})`)
  t.notOk(lines.some(l => l.kind === `webhook.failing.${b.webhook_id}` || l.kind === `webhook.shed.${b.webhook_id}`), 'nothing logged against B')
})

t.test('/test is rate-limited per webhook: 429 CT_ERR_RATE_LIMITED with Retry-After, nothing queued', async t => {
  const e = await startTestEngine(t, { ...FAST, 'webhook-test-burst': '2', 'webhook-test-per-minute': '1' })
  const rx = new Receiver()
  const other = new Receiver()
  await rx.up()
  await other.up()
  t.teardown(async () => { await rx.down(); await other.down() })
  const w = await hook(e, e.team!, rx.url)
  const w2 = await hook(e, e.team!, other.url)
  const answers = []
  for (let i = 0; i < 5; i++) answers.push(await api(e.api.port, 'POST', `/v1/webhooks/${w.webhook_id}/test`, e.team!.token))
  t.same(answers.map(a => a.status), [202, 202, 429, 429, 429], 'the burst, then 429')
  t.equal(answers[2].body?.error?.code, 'CT_ERR_RATE_LIMITED')
  const retry = Number(answers[2].headers['retry-after'])
  t.ok(retry >= 1 && retry <= 60, `Retry-After ${retry} s (1 per minute)`)
  t.equal((await api(e.api.port, 'POST', `/v1/webhooks/${w2.webhook_id}/test`, e.team!.token)).status, 202, 'another webhook has its own allowance')
  await rx.waitFor(2)
  await sleep(500)
  t.equal(rx.received.length, 2, 'only the accepted test events were sent')
  t.equal(e.dispatcher.stats.testRateLimited, 3, 'refusals counted')
})

t.test('a failed first attempt is recorded: delivery history shows it with an integer-ms next_retry', async t => {
  const e = await startTestEngine(t, { ...FAST, 'webhook-retry-schedule': '1h' })
  const rx = new Receiver()
  await rx.up()
  await rx.down()
  const w = await hook(e, e.team!, rx.url)
  const test = await api(e.api.port, 'POST', `/v1/webhooks/${w.webhook_id}/test`, e.team!.token)
  t.equal(test.status, 202)
  t.equal(test.body.queued, true)
  t.ok(await until(() => e.dispatcher.stats.failedAttempts >= 1), 'the attempt failed')
  let rows: Array<Record<string, unknown>> = []
  const deadline = Date.now() + 15_000
  while (rows.length === 0 && Date.now() < deadline) {
    const r = await api(e.api.port, 'GET', `/v1/webhooks/${w.webhook_id}/deliveries`, e.team!.token)
    if (r.status !== 200) throw new Error(r.raw)
    rows = r.body.data
    if (rows.length === 0) await sleep(200)
  }
  t.equal(rows.length, 1, 'the failed attempt is in the history')
  t.match(rows[0], { event_id: test.body.event_id, attempt: 1, ok: false, status: 0, error: /ECONNREFUSED/ })
  const next = Date.parse(rows[0]?.next_retry as string)
  t.ok(next > Date.now() + 40 * 60_000 && next < Date.now() + 80 * 60_000, `next_retry about an hour away (${String(rows[0]?.next_retry)})`)
})

t.test('a few long-pending jobs spread over many outbox segments do not pin the disk bound (compaction)', async t => {
  const e = await startTestEngine(t, { ...FAST, 'outbox-max-bytes': String(1024 * 1024), 'webhook-retry-schedule': '1h', 'webhook-concurrency': '16' })
  const dead = new Receiver()
  await dead.up()
  await dead.down()
  const live = new Receiver()
  await live.up()
  t.teardown(async () => { await live.down() })
  const d = await hook(e, e.team!, dead.url)
  const l = await hook(e, e.team!, live.url)
  const job = (webhookId: string): { eventId: string, webhookId: string, sid: string, event: string, body: string, createdAt: number } => ({ eventId: randomUUID(), webhookId, sid: 'acme', event: 'message.clicked', body: BODY, createdAt: Date.now() })
  // 4 MB of deliveries through a 1 MiB outbox (256 KiB segments); one in 25 for the dead
  // endpoint, so every segment keeps a few pending jobs.
  let sent = 0
  let refused = 0
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 75; i++) {
      if (e.dispatcher.enqueue(job(i % 25 === 0 ? d.webhook_id : l.webhook_id)) !== 'queued') refused++
      if (i % 25 !== 0) sent++
    }
    if (refused > 0) break // the outbox is pinned: no use going on
    await until(() => live.received.length >= sent - 20, 10_000)
  }
  t.equal(refused, 0, 'nothing refused')
  t.ok(await until(() => live.received.length >= sent), `every delivery to the live endpoint arrived (${live.received.length}/${sent})`)
  t.equal(e.dispatcher.stats.shed, 0, 'nothing shed')
  t.ok(e.dispatcher.stats.relocated > 0, `pinned jobs were relocated (${e.dispatcher.stats.relocated})`)
  t.ok(e.spool !== undefined && e.dispatcher.outboxBytes <= 1024 * 1024, `outbox files within the bound (${e.dispatcher.outboxBytes} bytes)`)
  // A delivery the receiver has counted may still be finishing in the dispatcher.
  await until(() => e.dispatcher.pending <= 150, 10_000)
  t.equal(e.dispatcher.pending, 150, 'the dead endpoint\'s jobs are all still pending')
  // They survive a restart exactly once. A crash between relocating a job and acking its
  // old frame leaves two frames of one job: made here by appending one job twice.
  const dir = e.dataDir
  await e.stop()
  const outbox = new Spool<string>({ dir: join(dir, 'outbox'), maxBytes: 1024 * 1024, fsync: 'none' })
  await outbox.open()
  // Hand out the old frames; they stay pending.
  let handedOut = 0
  for await (const batch of outbox.recover()) handedOut += batch.records.length
  t.equal(handedOut, 150, 'the old frames are handed out at recovery')
  const twice = JSON.stringify(job(d.webhook_id))
  t.ok(outbox.append([twice]) !== undefined && outbox.append([twice]) !== undefined)
  outbox.close()
  const back = await startTestEngine(t, { ...FAST, 'outbox-max-bytes': String(1024 * 1024), 'webhook-retry-schedule': '1h' }, {}, dir)
  t.equal(back.dispatcher.pending, 151, 'all 150 pending after the restart and the doubled one once')
  await back.stop()
  const after = new Spool<string>({ dir: join(dir, 'outbox'), maxBytes: 1024 * 1024, fsync: 'none' })
  await after.open()
  t.equal(after.stats.pendingRecords, 151, 'the second frame of the doubled job was acked at replay')
  after.close()
})

t.test('fair share: webhooks pushing into a full outbox end up with equal shares; a newcomer can always queue', async t => {
  const e = await startTestEngine(t, { ...FAST, 'outbox-max-bytes': String(1024 * 1024), 'webhook-retry-schedule': '1h' })
  const dead = new Receiver()
  await dead.up()
  await dead.down()
  const ids: string[] = []
  for (let i = 0; i < 4; i++) ids.push((await hook(e, e.team!, dead.url)).webhook_id)
  const push = (id: string): string => e.dispatcher.enqueue({ eventId: randomUUID(), webhookId: id, sid: 'acme', event: 'message.clicked', body: BODY, createdAt: Date.now() })
  for (let i = 0; i < 1000; i++) push(ids[0]) // the first fills the outbox alone
  for (let i = 0; i < 1000; i++) { push(ids[1]); push(ids[2]) } // two more arrive
  const bytes = (): number[] => ids.map(id => [...e.dispatcher.hooks()].find(h => h.webhookId === id)?.bytes ?? 0)
  const [a, b, c] = bytes()
  const third = e.dispatcher.liveBound / 3
  for (const [name, x] of [['first', a], ['second', b], ['third', c]] as const) t.ok(Math.abs(x - third) < third * 0.05, `${name} holds a third of the bound (${x} of ${e.dispatcher.liveBound})`)
  t.equal(push(ids[3]), 'queued', 'a fourth webhook\'s first job is queued into the full outbox')
  t.equal(push(ids[0]), 'shed_share', 'while the largest holder is refused')
  t.ok(e.dispatcher.liveBytes <= e.dispatcher.liveBound)
})

t.test('deleting or disabling a webhook drops its pending deliveries (counted), freeing the outbox', async t => {
  const e = await startTestEngine(t, { ...FAST, 'webhook-retry-schedule': '1h' })
  const dead = new Receiver()
  await dead.up()
  await dead.down()
  const w = await hook(e, e.team!, dead.url)
  for (let i = 0; i < 300; i++) e.dispatcher.enqueue({ eventId: randomUUID(), webhookId: w.webhook_id, sid: 'acme', event: 'message.clicked', body: BODY, createdAt: Date.now() })
  t.equal(e.dispatcher.pending, 300)
  t.equal((await api(e.api.port, 'PATCH', `/v1/webhooks/${w.webhook_id}`, e.team!.token, { enabled: false })).status, 200)
  t.ok(await until(() => e.dispatcher.pending === 0, 30_000), 'all dropped')
  t.equal(e.dispatcher.liveBytes, 0, 'and their bytes released')
  t.equal(await metric(e, 'clicktrail_webhook_cancelled_total'), 300, 'counted')
})

t.test('an outbox frame that is not a job (valid CRC, bad content) does not stop the start-up; it is dropped', async t => {
  const dir = tempDir(t)
  const outbox = new Spool<string>({ dir: join(dir, 'outbox'), maxBytes: 1024 * 1024, fsync: 'none' })
  await outbox.open()
  for (const bad of ['not json', 'null', '42', '{"eventId":1}', JSON.stringify({ eventId: randomUUID(), webhookId: randomUUID() })]) outbox.append([bad])
  outbox.append([{ not: 'a string' } as unknown as string])
  outbox.close()
  const e = await startTestEngine(t, FAST, {}, dir)
  t.equal(e.dispatcher.pending, 0, 'started, nothing pending')
  await e.stop()
  const after = new Spool<string>({ dir: join(dir, 'outbox'), maxBytes: 1024 * 1024, fsync: 'none' })
  await after.open()
  t.equal(after.stats.pendingRecords, 0, 'the bad frames were released')
  after.close()
})
