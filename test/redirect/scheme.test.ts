import t from 'tap'
import { connect } from 'node:net'
import { once } from 'node:events'
import { startRedirectTestEngine } from '../helpers/engine.js'
import { request } from '../helpers/http.js'
import { MemorySink } from '../../src/records.js'
import { forwardedScheme } from '../../src/redirect/server.js'

// Issue 16: the scheme the recipient used, captured on the redirect path through the real
// server. The listener is plain HTTP; only a trusted proxy is believed about TLS in front.

const pathOf = (trackedUrl: string): string => new URL(trackedUrl).pathname

/** A GET with header lines exactly as given (node:http would fold repeated headers). */
async function rawGet (port: number, path: string, host: string, headerLines: string[]): Promise<string> {
  const socket = connect(port, '127.0.0.1')
  await once(socket, 'connect')
  socket.end(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${headerLines.map(h => `${h}\r\n`).join('')}Connection: close\r\n\r\n`)
  let out = ''
  for await (const chunk of socket) out += (chunk as Buffer).toString('latin1')
  return out
}

t.test('forwardedScheme: the rightmost value, https or http in any case, else the configured scheme', async t => {
  const cases: Array<[string, '' | 'http' | 'https', string]> = [
    ['https', 'http', 'https'],
    ['http', 'https', 'http'],
    ['HTTPS', '', 'https'],
    ['  https  ', '', 'https'],
    ['\thttp', 'https', 'http'],
    ['https, http', '', 'http'],
    ['http,https', '', 'https'],
    ['https,', 'http', 'http'],
    ['', 'https', 'https'],
    ['', '', ''],
    ['wss', 'http', 'http'],
    ['httpx', '', ''],
    ['htt', 'https', 'https'],
    ['https2', 'http', 'http'],
    ['ftp', 'https', 'https']
  ]
  for (const [xfp, configured, want] of cases) t.equal(forwardedScheme(xfp, configured), want, `${JSON.stringify(xfp)} over ${JSON.stringify(configured)}`)
})

t.test('the scheme on the observation: direct, through a trusted proxy, on custom domains', async t => {
  const sink = new MemorySink()
  const e = await startRedirectTestEngine(t, { 'tracking-base-url': 'https://t.example.com', 'trusted-proxy': ['127.0.0.1'], domain: ['track.example.org=acme'] }, sink)
  const base = 'pacme.t.example.com'
  const p = pathOf(e.track('acme', 'https://example.com/'))
  const sent: Array<[string, string, Record<string, string>, string]> = [
    ['no forwarded headers: the client spoke to our plain-HTTP listener', base, {}, 'http'],
    ['a trusted proxy that says nothing of TLS: the configured https', base, { 'x-forwarded-for': '203.0.113.9' }, 'https'],
    ['a trusted proxy that says http', base, { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'http' }, 'http'],
    ['a trusted proxy that says https, without X-Forwarded-For', base, { 'x-forwarded-proto': 'HTTPS' }, 'https'],
    ['junk from a trusted proxy: the configured scheme', base, { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'gopher' }, 'https'],
    ['a custom domain: no configured scheme', 'track.example.org', { 'x-forwarded-for': '203.0.113.9' }, ''],
    ['a custom domain, the proxy says https', 'track.example.org', { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' }, 'https'],
    ['a custom domain straight to the listener', 'track.example.org', {}, 'http']
  ]
  for (const [name, host, headers] of sent) t.equal((await request(e.port, { path: p, host, headers })).status, 302, `${name}: 302`)
  await e.server.handoff()
  t.same(sink.observations.map(o => o.scheme), sent.map(s => s[3]), sent.map(s => s[0]).join('; '))
})

t.test('several X-Forwarded-Proto lines: the last, as the proxy wrote it last', async t => {
  const sink = new MemorySink()
  const e = await startRedirectTestEngine(t, { 'tracking-base-url': 'http://t.example.com', 'trusted-proxy': ['127.0.0.1'] }, sink)
  const p = pathOf(e.track('acme', 'https://example.com/'))
  t.match(await rawGet(e.port, p, 'pacme.t.example.com', ['X-Forwarded-Proto: http', 'X-Forwarded-Proto: https']), /^HTTP\/1\.1 302 /)
  t.match(await rawGet(e.port, p, 'pacme.t.example.com', ['X-Forwarded-For: 203.0.113.9']), /^HTTP\/1\.1 302 /)
  await e.server.handoff()
  t.same(sink.observations.map(o => o.scheme), ['https', 'http'], 'the last line; the configured http when the proxy does not say')
})

t.test('X-Forwarded-Proto from an untrusted peer is not believed', async t => {
  const sink = new MemorySink()
  const none = await startRedirectTestEngine(t, { 'tracking-base-url': 'https://t.example.com' }, sink)
  await request(none.port, { path: pathOf(none.track('acme', 'https://example.com/')), host: 'pacme.t.example.com', headers: { 'x-forwarded-proto': 'https' } })
  await none.server.handoff()
  t.equal(sink.observations[0]?.scheme, 'http', 'no trusted proxies: every request came straight over plain HTTP')

  const sink2 = new MemorySink()
  const other = await startRedirectTestEngine(t, { 'tracking-base-url': 'https://t.example.com', 'trusted-proxy': ['10.0.0.0/8'] }, sink2)
  await request(other.port, { path: pathOf(other.track('acme', 'https://example.com/')), host: 'pacme.t.example.com', headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.9' } })
  await other.server.handoff()
  t.same([sink2.observations[0]?.scheme, sink2.observations[0]?.ip], ['http', '127.0.0.1'], 'a peer that is not a trusted proxy: neither its address nor its scheme')
})

t.test('x-native-host is captured', async t => {
  const sink = new MemorySink()
  const e = await startRedirectTestEngine(t, {}, sink)
  await request(e.port, { path: pathOf(e.track('acme', 'https://example.com/')), host: 'pacme.t.localhost:8080', headers: { 'x-native-host': 'OneOutlook/1.2023.927.100' } })
  await e.server.handoff()
  t.equal(sink.observations[0]?.xNativeHost, 'OneOutlook/1.2023.927.100')
})
