import t from 'tap'
import { randomBytes, randomUUID } from 'node:crypto'
import { startRedirectTestEngine, startTestEngine } from '../helpers/engine.js'
import { request } from '../helpers/http.js'
import { until } from '../helpers/wait.js'
import { mintToken } from '../../src/token/codec.js'
import { KeyRing } from '../../src/token/keys.js'
import { MemorySink } from '../../src/records.js'
import { connect } from 'node:net'
import { once } from 'node:events'

const HOST = 'pacme.t.localhost:8080'
const now = (): number => Math.floor(Date.now() / 1000)

function pathOf (trackedUrl: string): string {
  return new URL(trackedUrl).pathname
}

t.test('an authentic token on its project host → 302 to the destination, observed', async t => {
  const sink = new MemorySink()
  const e = await startRedirectTestEngine(t, {}, sink)
  const url = 'https://example.com/product/123?utm_source=mail&x=%20y#top'
  const token = mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: 4, sentAt: now(), url })
  const r = await request(e.port, { path: `/c/${token}`, host: HOST, headers: { 'user-agent': 'Mozilla/5.0 test', 'accept-language': 'en-GB', 'sec-fetch-mode': 'navigate' } })
  t.equal(r.status, 302)
  t.equal(r.headers.location, url)
  t.equal(r.headers['cache-control'], 'no-store')
  t.equal(r.body, '', 'empty body')
  await e.server.handoff()
  t.equal(sink.observations.length, 1)
  const o = sink.observations[0]
  t.match(o, { sid: 'acme', linkIndex: 4, url, method: 'GET', expired: false, userAgent: 'Mozilla/5.0 test', acceptLanguage: 'en-GB', secFetchMode: 'navigate', ip: '127.0.0.1', host: HOST })
  t.equal(o.secPurpose, '', 'absent headers are empty strings')
  t.ok(Math.abs(o.ts - Date.now()) < 5000, 'time captured')
})

t.test('HEAD gets the same 302 and is observed as HEAD', async t => {
  const sink = new MemorySink()
  const e = await startRedirectTestEngine(t, {}, sink)
  const token = mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: 0, sentAt: now(), url: 'https://example.com/h' })
  const r = await request(e.port, { method: 'HEAD', path: `/c/${token}`, host: HOST })
  t.equal(r.status, 302)
  t.equal(r.headers.location, 'https://example.com/h')
  await e.server.handoff()
  t.equal(sink.observations[0]?.method, 'HEAD')
  const bad = await request(e.port, { method: 'HEAD', path: '/c/garbage', host: HOST })
  t.equal(bad.status, 404)
  t.equal(bad.body, '', 'HEAD 404 has no body')
})

t.test('expired but authentic → still 302, observation flagged expired', async t => {
  const sink = new MemorySink()
  const e = await startRedirectTestEngine(t, { 'token-ttl-days': '30' }, sink)
  const sentAt = now() - 31 * 86400
  const token = mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: 1, sentAt, url: 'https://example.com/old' })
  const r = await request(e.port, { path: `/c/${token}`, host: HOST })
  t.equal(r.status, 302)
  t.equal(r.headers.location, 'https://example.com/old')
  const fresh = mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: 1, sentAt: now() - 29 * 86400, url: 'https://example.com/recent' })
  t.equal((await request(e.port, { path: `/c/${fresh}`, host: HOST })).status, 302)
  await e.server.handoff()
  t.same(sink.observations.map(o => o.expired), [true, false])
  t.equal(e.server.stats.expired, 1)
})

t.test('anything else → 404 with a fixed page that echoes nothing', async t => {
  const sink = new MemorySink()
  const e = await startRedirectTestEngine(t, { domain: ['track.example.com=acme', 'links.other.org=beta'] }, sink)
  const good = mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: 0, sentAt: now(), url: 'https://example.com/' })
  const forged = mintToken(new KeyRing([{ kid: 1, secret: randomBytes(32) }]), { sid: 'acme', messageId: randomUUID(), linkIndex: 0, sentAt: now(), url: 'https://evil.example/' })
  const marker = 'ECHO<script>alert(1)</script>'
  const cases: Array<[string, { path: string, host?: string }]> = [
    ['forged token', { path: `/c/${forged}`, host: HOST }],
    ['garbage token', { path: `/c/${encodeURIComponent(marker)}`, host: HOST }],
    ['empty token', { path: '/c/', host: HOST }],
    ['64 KB token', { path: `/c/${'A'.repeat(65536)}`, host: HOST }],
    ['padded token', { path: `/c/${good}==`, host: HOST }],
    ['truncated token', { path: `/c/${good.slice(0, -4)}`, host: HOST }],
    ['percent-encoded token', { path: `/c/${good.slice(0, 5)}%${good.charCodeAt(5).toString(16)}${good.slice(6)}`, host: HOST }],
    ['extra path segment', { path: `/c/${good}/x`, host: HOST }],
    ['unknown host', { path: `/c/${good}`, host: 'evil.example.com' }],
    ['bare tracking host', { path: `/c/${good}`, host: 't.localhost:8080' }],
    ['another project host', { path: `/c/${good}`, host: 'pbeta.t.localhost:8080' }],
    ['another project custom domain', { path: `/c/${good}`, host: 'links.other.org' }],
    ['other path', { path: `/${marker}`, host: HOST }],
    ['no host header token', { path: `/c/${good}`, host: '' }]
  ]
  let firstBody: string | undefined
  for (const [name, opts] of cases) {
    const r = await request(e.port, opts)
    t.equal(r.status, 404, name)
    t.notOk(r.headers.location, `${name}: no Location`)
    t.notMatch(r.body, /ECHO|script>alert/, `${name}: nothing echoed`)
    firstBody ??= r.body
    t.equal(r.body, firstBody, `${name}: the same fixed page`)
  }
  t.match(firstBody, /<html/)
  // Styled for a phone since issue 14 (src/redirect/pages.ts), still one small fixed page.
  t.ok(Buffer.byteLength(firstBody ?? '') < 2048, 'small page')
  await e.server.handoff()
  t.equal(sink.observations.length, 0, 'nothing refused is observed')
  const ok = await request(e.port, { path: `/c/${good}`, host: 'TRACK.Example.COM' })
  t.equal(ok.status, 302, 'custom domain (case-insensitive) → 302')
  const ok2 = await request(e.port, { path: `/c/${good}`, host: 'PACME.t.localhost' })
  t.equal(ok2.status, 302, 'tracking host without port, any case → 302')
})

t.test('a CR/LF destination cannot be minted, so it can never reach a header', async t => {
  const e = await startTestEngine(t)
  t.throws(() => e.track('acme', 'https://example.com/\r\nSet-Cookie: pwn=1'), { code: 'CT_ERR_URL_CONTROL_CHARS' })
  t.throws(() => e.track('acme', 'https://example.com/%0d%0a\nX: y'), { code: 'CT_ERR_URL_CONTROL_CHARS' })
  // percent-encoded CR/LF are just data: they stay encoded in the Location.
  const url = 'https://example.com/%0d%0aSet-Cookie:%20a=b'
  const r = await request(e.port, { path: pathOf(e.track('acme', url)), host: HOST })
  t.equal(r.status, 302)
  t.equal(r.headers.location, url)
  t.notOk(r.headers['set-cookie'])
})

t.test('the token LRU serves repeats and the negative cache remembers garbage, both bounded', async t => {
  // One server's caches: on the main thread (each redirect thread has its own).
  const e = await startTestEngine(t, { 'lru-max': '3', 'negative-cache-max': '2', 'redirect-threads': '0' })
  const paths = [0, 1, 2, 3, 4].map(i => pathOf(e.track('acme', `https://example.com/${i}`)))
  for (const p of paths) t.equal((await request(e.port, { path: p, host: HOST })).status, 302)
  t.equal(e.server.lruSize, 3, 'LRU holds at most lru-max entries')
  const missesBefore = e.server.stats.lruMisses
  t.equal((await request(e.port, { path: paths[4], host: HOST })).status, 302)
  t.equal(e.server.stats.lruMisses, missesBefore, 'a hot token is a hit')
  t.equal((await request(e.port, { path: paths[0], host: HOST })).status, 302, 'an evicted token is verified again')
  t.equal(e.server.stats.lruMisses, missesBefore + 1)
  for (const g of ['garbage1garbage1garbage1garbage1', 'garbage2garbage2garbage2garbage2', 'garbage3garbage3garbage3garbage3']) {
    await request(e.port, { path: `/c/${g}`, host: HOST })
  }
  t.equal(e.server.negativeSize, 2, 'negative cache is bounded')
  await request(e.port, { path: '/c/garbage3garbage3garbage3garbage3', host: HOST })
  t.equal(e.server.stats.negativeHits, 1, 'repeated garbage is answered from the negative cache')
})

t.test('X-Forwarded-For is believed only from a trusted proxy', async t => {
  const sink = new MemorySink()
  const trusting = await startRedirectTestEngine(t, { 'trusted-proxy': ['127.0.0.1'] }, sink)
  const p = pathOf(trusting.track('acme', 'https://example.com/'))
  await request(trusting.port, { path: p, host: HOST, headers: { 'x-forwarded-for': '203.0.113.9' } })
  await request(trusting.port, { path: p, host: HOST, headers: { 'x-forwarded-for': 'not-an-ip' } })
  await trusting.server.handoff()
  t.same(sink.observations.map(o => o.ip), ['203.0.113.9', '127.0.0.1'], 'the hop from a trusted peer; junk ignored')
  t.same(sink.observations.map(o => o.peerIp), ['127.0.0.1', '127.0.0.1'])

  const sink2 = new MemorySink()
  const strict = await startRedirectTestEngine(t, { 'trusted-proxy': ['10.0.0.0/8'] }, sink2)
  await request(strict.port, { path: pathOf(strict.track('acme', 'https://example.com/')), host: HOST, headers: { 'x-forwarded-for': '203.0.113.9' } })
  await strict.server.handoff()
  t.equal(sink2.observations[0]?.ip, '127.0.0.1', 'an untrusted peer cannot claim another address')
})

/** A GET with header lines exactly as given (node:http would fold repeated headers). */
async function rawGet (port: number, path: string, headerLines: string[]): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.end(`GET ${path} HTTP/1.1\r\nHost: ${HOST}\r\n${headerLines.map(h => `${h}\r\n`).join('')}Connection: close\r\n\r\n`)
  let out = ''
  for await (const chunk of socket) out += (chunk as Buffer).toString('latin1')
  return out
}

t.test('X-Forwarded-For appended by the proxy: the rightmost untrusted address is the client, whatever the client prepends', async t => {
  const sink = new MemorySink()
  const e = await startRedirectTestEngine(t, { 'trusted-proxy': ['127.0.0.1', '10.0.0.0/8'] }, sink)
  const p = pathOf(e.track('acme', 'https://example.com/'))
  const sent: Array<[string, string[], string]> = [
    ['forged first hop, real client appended by the proxy', ['X-Forwarded-For: 6.6.6.6, 203.0.113.9'], '203.0.113.9'],
    ['through two trusted proxies', ['X-Forwarded-For: 6.6.6.6, 203.0.113.9, 10.0.0.2'], '203.0.113.9'],
    ['junk stops the walk at the last trusted hop', ['X-Forwarded-For: 203.0.113.9, junk, 10.0.0.2'], '10.0.0.2'],
    // A proxy that adds its own header line instead of appending: the lines are one list.
    ['the forged value in its own header line, the proxy\'s in another', ['X-Forwarded-For: 6.6.6.6', 'X-Forwarded-For: 203.0.113.9'], '203.0.113.9'],
    ['three header lines', ['X-Forwarded-For: 6.6.6.6', 'x-forwarded-for: 198.51.100.1', 'X-Forwarded-For: 10.0.0.7'], '198.51.100.1']
  ]
  for (const [name, lines] of sent) t.match(await rawGet(e.port, p, lines), /^HTTP\/1\.1 302 /, `${name}: 302`)
  await e.server.handoff()
  t.same(sink.observations.map(o => o.ip), sent.map(s => s[2]), 'the client address of each')
  t.ok(sink.observations.every(o => o.peerIp === '127.0.0.1'), 'the peer is kept as it is')
})

t.test('a full ring never fails a redirect; it counts what it dropped', async t => {
  const sink = new MemorySink()
  const e = await startRedirectTestEngine(t, { 'ring-size': '4', 'handoff-interval-ms': '10000' }, sink)
  const p = pathOf(e.track('acme', 'https://example.com/'))
  for (let i = 0; i < 10; i++) t.equal((await request(e.port, { path: p, host: HOST })).status, 302)
  t.equal(e.server.ring.dropped, 6)
  t.equal(e.server.ring.size, 4)
  await e.server.handoff()
  t.equal(sink.observations.length, 4)
})

t.test('observations reach the sink in batches by the hand-off timer, and on stop', async t => {
  const sink = new MemorySink()
  const e = await startRedirectTestEngine(t, { 'handoff-interval-ms': '20' }, sink)
  const p = pathOf(e.track('acme', 'https://example.com/'))
  await Promise.all(Array.from({ length: 20 }, () => request(e.port, { path: p, host: HOST })))
  await new Promise(resolve => setTimeout(resolve, 100))
  t.equal(sink.observations.length, 20, 'handed off without a manual call')
  t.ok(sink.batches < 20, `in ${sink.batches} batches`)
  await request(e.port, { path: p, host: HOST })
  await e.stop()
  t.equal(sink.observations.length, 21, 'stop hands off what is buffered')
  t.ok(sink.closed, 'and closes the sink')
})

t.test('/healthz on the redirect port, /metrics on the admin listener', async t => {
  const e = await startTestEngine(t)
  const h = await request(e.port, { path: '/healthz' })
  t.equal(h.status, 200)
  t.match(JSON.parse(h.body), { status: 'ok', uws_native: true })
  await request(e.port, { path: pathOf(e.track('acme', 'https://example.com/')), host: HOST })
  // Redirect threads post their counters every 100 ms: /metrics sums what they posted.
  let m = await request(e.admin.port, { path: '/metrics' })
  await until('the click counted', async () => /^clicktrail_redirects_total 1$/m.test((m = await request(e.admin.port, { path: '/metrics' })).body), 5000)
  t.equal(m.status, 200)
  t.match(m.body, /^clicktrail_redirects_total 1$/m)
  t.match(m.body, /^clicktrail_observed_total 1$/m)
  t.match(m.body, /^clicktrail_ring_dropped_total 0$/m)
})
