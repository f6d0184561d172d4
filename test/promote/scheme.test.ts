import t from 'tap'
import { randomUUID } from 'node:crypto'
import { startTestEngine } from '../helpers/engine.js'
import { request } from '../helpers/http.js'
import { until } from '../helpers/wait.js'
import { mintToken } from '../../src/token/codec.js'
import { loadCorpus } from '../classify/corpus.js'

// Issue 16 end to end: the real server (a redirect thread), ingest, the embedded ClickHouse
// (the scheme and x_native_host columns of migration 020), promotion and the worker pool's
// classification. A plain-http tracking host: browsers send it no Fetch Metadata and no client
// hints, so their absence must not make a person a machine.

const HOST = 'pacme.t.example.com'
const corpus = loadCorpus()
const headersOf = (id: string): Record<string, string> => {
  const r = corpus.requests.find(x => x.id === id)
  if (r === undefined) throw new Error(`no corpus request ${id}`)
  return r.headers
}

interface Row { url: string, scheme: string, machine: boolean, classification: string, probability: number, reason_codes: string[], proxy_type: string | null, device_type: string, x_native_host: string }

t.test('a Chrome click on an http:// tracking host 20 s and 60 s after send is genuine; the same headers over https are not', async t => {
  const e = await startTestEngine(t, { 'tracking-base-url': 'http://t.example.com', 'trusted-proxy': ['127.0.0.1'], 'promotion-window-ms': '1500', 'batch-max-ms': '50' })
  const now = Math.floor(Date.now() / 1000)
  const sent: Array<[string, number, Record<string, string>, boolean]> = [
    // [corpus header set, seconds since send, extra headers, machine]
    ['http-chrome-win-20s', 20, { 'x-forwarded-for': '203.0.113.201' }, false],
    ['http-chrome-win-60s', 60, { 'x-forwarded-for': '198.51.100.201' }, false],
    ['http-chrome-win-20s', 20, { 'x-forwarded-for': '203.0.113.202', 'x-forwarded-proto': 'http' }, false],
    ['http-firefox-win-20s', 20, { 'x-forwarded-for': '198.51.100.203' }, false],
    ['http-safari-iphone-15s', 15, { 'x-forwarded-for': '203.0.113.205' }, false],
    // The same Chrome header set through a proxy that terminated TLS: Chrome would have sent
    // Sec-Fetch-* and client hints to that https origin.
    ['http-chrome-win-20s', 20, { 'x-forwarded-for': '34.141.20.10', 'x-forwarded-proto': 'https' }, true],
    ['http-chrome-win-60s', 60, { 'x-forwarded-for': '34.141.20.12', 'x-forwarded-proto': 'https' }, true]
  ]
  const urls: string[] = []
  for (const [id, ago, extra] of sent) {
    const url = `https://example.com/${id}/${randomUUID()}`
    urls.push(url)
    const token = mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: 0, sentAt: now - ago, url })
    t.equal((await request(e.port, { path: `/c/${token}`, host: HOST, headers: { ...headersOf(id), ...extra } })).status, 302)
  }
  await until('promotion', () => e.promoter.stats.promoted >= sent.length)
  const rows = await (await e.store.reader.query({
    query: `SELECT c.destination_url AS url, o.scheme AS scheme, c.machine AS machine, c.classification AS classification, c.bot_probability AS probability, c.reason_codes AS reason_codes
      FROM clicks AS c INNER JOIN click_observations AS o ON o.obs_id = c.obs_id`,
    format: 'JSONEachRow'
  })).json<Row>()
  const byUrl = new Map(rows.map(r => [r.url, r]))
  sent.forEach(([id, ago, extra, machine], i) => {
    const r = byUrl.get(urls[i])
    const scheme = extra['x-forwarded-proto'] ?? 'http'
    t.equal(r?.scheme, scheme, `${id} +${ago} s: stored scheme ${scheme}`)
    t.equal(r?.machine, machine, `${id} +${ago} s over ${scheme}: ${machine ? 'machine' : 'genuine'} (${r?.classification} at ${r?.probability} [${r?.reason_codes.join(', ')}])`)
  })
})

t.test('the new Outlook\'s check (x-native-host) is a machine; the browser click it opens is the person', async t => {
  const e = await startTestEngine(t, { 'tracking-base-url': 'https://t.example.com', 'trusted-proxy': ['127.0.0.1'], 'promotion-window-ms': '2500', 'batch-max-ms': '50' })
  const messageId = randomUUID()
  const sentAt = Math.floor(Date.now() / 1000) - 40
  const token = mintToken(e.keys, { sid: 'acme', messageId, linkIndex: 0, sentAt, url: 'https://example.com/login' })
  const address = { 'x-forwarded-for': '198.51.100.210' }
  t.equal((await request(e.port, { path: `/c/${token}`, host: HOST, headers: { ...headersOf('new-outlook-check'), ...address } })).status, 302)
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal((await request(e.port, { path: `/c/${token}`, host: HOST, headers: { ...headersOf('new-outlook-then-edge'), ...address } })).status, 302)
  await until('promotion', () => e.promoter.stats.promoted >= 2)
  const rows = await (await e.store.reader.query({
    query: `SELECT c.machine AS machine, c.classification AS classification, c.proxy_type AS proxy_type, c.reason_codes AS reason_codes, c.device_type AS device_type, o.x_native_host AS x_native_host, o.scheme AS scheme
      FROM clicks AS c INNER JOIN click_observations AS o ON o.obs_id = c.obs_id ORDER BY c.ts`,
    format: 'JSONEachRow'
  })).json<Row>()
  t.equal(rows.length, 2)
  t.match(rows[0], { machine: true, classification: 'security_scanner', proxy_type: 'new_outlook', x_native_host: 'OneOutlook/1.2026.508.400', scheme: 'https' }, 'the check')
  t.ok(rows[0]?.reason_codes.includes('new_outlook_fetch') && rows[0]?.reason_codes.includes('shadow_pair'), rows[0]?.reason_codes.join(', '))
  t.match(rows[1], { machine: false, classification: 'genuine', x_native_host: '', device_type: 'desktop' }, 'the person in Edge')
})
