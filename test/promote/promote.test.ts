import t from 'tap'
import { randomUUID } from 'node:crypto'
import { startTestEngine, tempDir, type TestEngine } from '../helpers/engine.js'
import { request } from '../helpers/http.js'
import { mintToken } from '../../src/token/codec.js'
import { loadCorpus, evaluate, formatReport, type Scored } from '../classify/corpus.js'
import type { BotVerdict } from '../../src/classify/index.js'
import { until } from '../helpers/wait.js'

// End to end: HTTP requests with the corpus's headers, from the corpus's addresses (as
// X-Forwarded-For through a trusted proxy), through the real server, ingest, the real
// embedded ClickHouse and promotion, into the `clicks` table.

const HOST = 'pacme.t.localhost:8080'
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function recordMessage (e: TestEngine, messageId: string, links: number, recipient: string): Promise<void> {
  const sentAt = Math.floor(Date.now() / 1000)
  await e.store.writer.insert({
    table: 'messages',
    values: [{ message_id: messageId, sid: 'acme', project_id: e.team!.project.project_id, route_id: e.team!.routes[0].route_id, recipient, sender: 'news@acme.example', subject: 'Weekly', tag: 'weekly', metadata: { 'X-Campaign-ID': 'wk' }, sent_at: sentAt, tracking: true, tracking_reason: 'route', link_count: links }],
    format: 'JSONEachRow',
    clickhouse_settings: { insert_deduplication_token: randomUUID() }
  })
  await e.store.writer.insert({
    table: 'message_links',
    values: Array.from({ length: links }, (_, i) => ({ message_id: messageId, sid: 'acme', link_index: i, url: `https://example.com/l/${i}`, anchor_text: `Link ${i}`, tracked: true, skip_reason: '', sent_at: sentAt })),
    format: 'JSONEachRow',
    clickhouse_settings: { insert_deduplication_token: randomUUID() }
  })
}

interface ClickOut { destination_url: string, first_click: boolean, classification: string, machine: boolean, detected: boolean, probability: number, proxy_type: string | null, reason_codes: string[], counts_for_metrics: boolean, recipient: string, anchor_text: string, device_type: string, client_type: string, client_name: string }

async function clicks (e: TestEngine, where = '1'): Promise<ClickOut[]> {
  const rows = await (await e.store.reader.query({
    query: `SELECT destination_url, first_click, classification, machine, bot_detected AS detected, bot_probability AS probability, proxy_type, reason_codes, counts_for_metrics, recipient, anchor_text, device_type, client_type, client_name FROM clicks WHERE ${where} ORDER BY ts`,
    format: 'JSONEachRow'
  })).json<ClickOut>()
  return rows.map(r => ({ ...r, probability: Number(r.probability) }))
}

t.test('the labeled corpus, end to end: precision and recall for machine, confusion by class', async t => {
  const corpus = loadCorpus()
  // A tracking host that is no secure origin of its own (not *.localhost): each request's
  // scheme comes from the trusted proxy's X-Forwarded-Proto, as the corpus labels it.
  const e = await startTestEngine(t, { 'trusted-proxy': ['127.0.0.1'], 'promotion-window-ms': '13000', 'batch-max-ms': '100', 'tracking-base-url': 'http://t.example.com' })
  const messageIds = new Map<string, string>()
  const idOf = (key: string): string => {
    let id = messageIds.get(key)
    if (id === undefined) { id = randomUUID(); messageIds.set(key, id) }
    return id
  }
  for (const [key, m] of Object.entries(corpus.messages)) await recordMessage(e, idOf(key), m.links, `${key}@example.com`)
  // Each message keeps its requests' relative timing; all messages start together.
  const minDelay = new Map<string, number>()
  for (const r of corpus.requests) minDelay.set(r.message, Math.min(minDelay.get(r.message) ?? Infinity, r.delay))
  // Token sentAt has 1 s resolution: start just after a whole second, so that a sub-2 s delay
  // comes out at about 1 s, and send those messages alone first (134 requests at once made the
  // first ones wait long enough on a loaded machine to cross 2 s); the rest start a second later.
  await sleep(1050 - (Date.now() % 1000))
  const t0 = Date.now()
  const sends = corpus.requests.map(async r => {
    const first = minDelay.get(r.message) as number
    const start = t0 + (first < 2 ? 0 : 1000)
    const sentAt = Math.floor((start - first * 1000) / 1000)
    const token = mintToken(e.keys, { sid: 'acme', messageId: idOf(r.message), linkIndex: r.link, sentAt, url: `https://example.com/r/${r.id}` })
    await sleep(start - Date.now() + (r.delay - first) * 1000)
    const reply = await request(e.port, { method: r.method, path: `/c/${token}`, host: 'pacme.t.example.com', headers: { ...r.headers, 'x-forwarded-for': r.ip, 'x-forwarded-proto': r.scheme ?? 'https' } })
    return reply.status
  })
  const statuses = await Promise.all(sends)
  t.ok(statuses.every(s => s === 302), 'every request redirected, whatever clicked')
  await until('promotion', () => e.promoter.stats.promoted >= corpus.requests.length)
  const rows = await clicks(e)
  t.equal(rows.length, corpus.requests.length, 'one click per request')
  const byId = new Map(rows.map(r => [r.destination_url.slice('https://example.com/r/'.length), r]))
  const scored: Scored[] = corpus.requests.map(r => {
    const c = byId.get(r.id)
    const verdict: BotVerdict = c === undefined
      ? { detected: false, probability: 0, classification: 'genuine', proxy_type: null, reason_codes: ['missing'], machine: false, counts_for_metrics: true }
      : { detected: c.detected, probability: c.probability, classification: c.classification as BotVerdict['classification'], proxy_type: c.proxy_type, reason_codes: c.reason_codes, machine: c.machine, counts_for_metrics: c.counts_for_metrics }
    return { id: r.id, expect: r.expect, verdict }
  })
  const report = evaluate(scored)
  t.comment(`end to end through the server:\n${formatReport(report)}`)
  t.ok(report.precision >= 0.95, `machine precision ${report.precision.toFixed(3)}`)
  t.ok(report.recall >= 0.9, `machine recall ${report.recall.toFixed(3)}`)
  for (const r of rows) t.equal(r.counts_for_metrics, !r.machine, 'counts_for_metrics = !machine')
  const enriched = rows.find(r => r.recipient !== '')
  t.ok(enriched, 'clicks of recorded messages carry the recipient')
  t.match(enriched?.anchor_text ?? '', /^Link \d$/, 'and the anchor text of the link')
})

t.test('first_click: a scanner burst does not use it up; it holds across a restart', async t => {
  const dir = tempDir(t)
  const flags = { 'trusted-proxy': ['127.0.0.1'], 'promotion-window-ms': '2500', 'batch-max-ms': '50' }
  const e = await startTestEngine(t, flags, {}, dir)
  const message = randomUUID()
  await recordMessage(e, message, 4, 'pat@example.com')
  const sentAt = Math.floor(Date.now() / 1000) - 600
  const tok = (i: number): string => mintToken(e.keys, { sid: 'acme', messageId: message, linkIndex: i, sentAt, url: `https://example.com/l/${i}` })
  // Safe Links: every link within a second, old Chrome, from Exchange Online Protection.
  const scanner = { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.93 Safari/537.36', 'x-forwarded-for': '40.107.218.12' }
  for (let i = 0; i < 4; i++) t.equal((await request(e.port, { path: `/c/${tok(i)}`, host: HOST, headers: scanner })).status, 302)
  await sleep(3000)
  const human = {
    'user-agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'accept-language': 'en-GB,en;q=0.9',
    'sec-fetch-site': 'none',
    'sec-fetch-mode': 'navigate',
    'sec-fetch-dest': 'document',
    'x-forwarded-for': '198.51.100.23'
  }
  t.equal((await request(e.port, { path: `/c/${tok(2)}`, host: HOST, headers: human })).status, 302)
  await until('promotion', () => e.promoter.stats.promoted >= 5)
  const rows = await clicks(e, `message_id = '${message}'`)
  t.equal(rows.length, 5, JSON.stringify(rows.map(r => [r.classification, r.probability, r.reason_codes, r.first_click])))
  const machines = rows.filter(r => r.machine)
  t.equal(machines.length, 4, 'the burst is machine')
  t.ok(machines.every(r => !r.first_click), 'no scanner click is a first click')
  const person = rows.find(r => !r.machine)
  t.equal(person?.first_click, true, 'the human click after the burst is the first click')
  t.equal(person?.client_name, 'Safari')
  await e.stop()

  const again = await startTestEngine(t, flags, {}, dir)
  t.equal((await request(again.port, { path: `/c/${tok(1)}`, host: HOST, headers: human })).status, 302)
  await until('promotion after restart', () => again.promoter.stats.promoted >= 1)
  const after = await clicks(again, `message_id = '${message}' AND link_index = 1 AND NOT machine`)
  t.equal(after.length, 1)
  t.equal(after[0].first_click, false, 'a second human click after a restart is not first (looked up in ClickHouse)')
  const other = randomUUID()
  const first = mintToken(again.keys, { sid: 'acme', messageId: other, linkIndex: 0, sentAt, url: 'https://example.com/o' })
  await request(again.port, { path: `/c/${first}`, host: HOST, headers: human })
  await until('promotion of another message', () => again.promoter.stats.promoted >= 2)
  t.equal((await clicks(again, `message_id = '${other}'`))[0]?.first_click, true, 'another message has its own first click')
})

t.test('metrics views answer the common questions', async t => {
  const e = await startTestEngine(t, { 'promotion-window-ms': '300', 'batch-max-ms': '50' })
  const message = randomUUID()
  await recordMessage(e, message, 2, 'lee@example.com')
  const sentAt = Math.floor(Date.now() / 1000) - 3600
  const human = { 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1', accept: 'text/html', 'accept-language': 'en', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'sec-fetch-site': 'none' }
  for (const i of [0, 1, 1]) {
    await request(e.port, { path: `/c/${mintToken(e.keys, { sid: 'acme', messageId: message, linkIndex: i, sentAt, url: `https://example.com/l/${i}` })}`, host: HOST, headers: human })
    await sleep(400)
  }
  await request(e.port, { method: 'HEAD', path: `/c/${mintToken(e.keys, { sid: 'acme', messageId: message, linkIndex: 0, sentAt, url: 'https://example.com/l/0' })}`, host: HOST, headers: { 'user-agent': 'curl/8.0' } })
  await until('promotion', () => e.promoter.stats.promoted >= 4, 20_000).catch(err => { t.comment(JSON.stringify({ ...e.promoter.stats, pending: e.promoter.pending, ingest: e.pipeline.stats })); throw err })
  const q = async (sql: string): Promise<Record<string, unknown>[]> => await (await e.store.reader.query({ query: sql, format: 'JSONEachRow' })).json()
  const [m] = await q(`SELECT sum(clicks) AS clicks, sum(human_clicks) AS humans, sum(machine_clicks) AS machines FROM clicks_by_message WHERE message_id = '${message}'`)
  t.same(m, { clicks: '4', humans: '3', machines: '1' })
  const links = await q(`SELECT link_index, sum(human_clicks) AS humans FROM clicks_by_link WHERE message_id = '${message}' GROUP BY link_index ORDER BY link_index`)
  t.same(links, [{ link_index: 0, humans: '1' }, { link_index: 1, humans: '2' }])
  const [tag] = await q("SELECT sum(human_clicks) AS humans, uniqMerge(unique_clickers) AS clickers FROM clicks_by_tag_day WHERE tag = 'weekly'")
  t.same(tag, { humans: '3', clickers: '1' }, 'one unique human clicker')
  const mix = await q("SELECT device_type, client_name, sum(clicks) AS n FROM clicks_by_day WHERE classification = 'genuine' GROUP BY device_type, client_name")
  t.same(mix, [{ device_type: 'mobile', client_name: 'Safari', n: '3' }])
})
