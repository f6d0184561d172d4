import t from 'tap'
import { randomUUID } from 'node:crypto'
import { createServer, connect, type Socket } from 'node:net'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startRedirectTestEngine, startTestEngine } from '../helpers/engine.js'
import { request } from '../helpers/http.js'
import { api } from '../helpers/api.js'
import { until } from '../helpers/wait.js'
import { mintToken } from '../../src/token/codec.js'
import { MemorySink } from '../../src/records.js'
import { RedirectThreads } from '../../src/engine/redirect-threads.js'
import { bootstrap } from '../../src/control/projects.js'

// Redirect threads (issue 12): the real engine with its redirect port served by worker
// threads, each with its own uWS app, through real sockets on loopback.

const HOST = 'pacme.t.localhost:8080'
const now = (): number => Math.floor(Date.now() / 1000)

function threads (server: unknown): RedirectThreads {
  if (!(server instanceof RedirectThreads)) throw new Error('the engine did not start redirect threads')
  return server
}

/** Opens `n` keep-alive connections and sends one click on each; resolves with their status codes. */
async function clickOnConnections (port: number, n: number, path: (i: number) => string, host = HOST): Promise<number[]> {
  const sockets: Socket[] = []
  const codes = await Promise.all(Array.from({ length: n }, async (_, i) => {
    const s = connect(port, '127.0.0.1')
    sockets.push(s)
    await once(s, 'connect')
    s.write(`GET ${path(i)} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: threads-test\r\n\r\n`)
    let text = ''
    for await (const chunk of s) {
      text += String(chunk)
      if (text.includes('\r\n\r\n')) break
    }
    return Number(text.slice(9, 12))
  }))
  for (const s of sockets) s.destroy()
  return codes
}

t.test('redirect-only engine, two threads on one port (no front): connections spread over both, every click observed once', async t => {
  const sink = new MemorySink()
  const e = await startRedirectTestEngine(t, { 'redirect-threads': '2', 'redirect-front': 'false' }, sink)
  const rt = threads(e.server)
  t.equal(rt.threads, 2)
  const tokens = Array.from({ length: 400 }, (_, i) => mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: i, sentAt: now(), url: `https://example.com/${i}` }))
  const codes = await clickOnConnections(e.port, 400, i => `/c/${tokens[i]}`)
  t.ok(codes.every(c => c === 302), 'every connection got its 302')
  await rt.handoff()
  t.equal(sink.observations.length, 400, 'every click observed')
  t.equal(new Set(sink.observations.map(o => o.linkIndex)).size, 400, 'each once')
  await until('thread counters', () => rt.stats.redirects === 400)
  const per = rt.threadStats().map(s => s.redirects)
  t.ok(per.every(n => n >= 40), `both threads served connections (${per.join(' / ')})`)
  // /healthz, answered by whichever thread: the rings of all threads (posted every 100 ms).
  await until('health summed', async () => JSON.parse((await request(e.port, { path: '/healthz' })).body).redirect_threads === 2, 5000)
  t.match(JSON.parse((await request(e.port, { path: '/healthz' })).body), { status: 'ok', redirect_threads: 2, ring: { dropped: 0 } })
  const bad = await request(e.port, { path: '/c/not-a-token', host: HOST })
  t.equal(bad.status, 404, 'a token that does not verify is refused on the threads too')
})

t.test('whole engine, two threads behind the HTTP front: HTTP/1.0 answered, clicks stored; new projects and blocks reach the threads; /metrics sums them', async t => {
  const e = await startTestEngine(t, { 'redirect-threads': '2', 'promotion-window-ms': '300', 'batch-max-ms': '50' })
  const rt = threads(e.server)
  t.ok(rt.front !== undefined, 'the front is on')
  // HTTP/1.0 through the front, answered by a thread.
  const token = mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: 0, sentAt: now(), url: 'https://example.com/old' })
  const old = connect(e.port, '127.0.0.1')
  await once(old, 'connect')
  old.write(`GET /c/${token} HTTP/1.0\r\nHost: ${HOST}\r\n\r\n`)
  let text = ''
  for await (const chunk of old) text += String(chunk)
  t.match(text, /^HTTP\/1\.1 302 /, 'HTTP/1.0 gets its 302')
  t.match(text, /\r\nLocation: https:\/\/example\.com\/old\r\n/i)

  // Clicks over many connections: the front hands them to both threads; all are stored.
  const tokens = Array.from({ length: 60 }, (_, i) => mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: i, sentAt: now(), url: `https://example.com/t/${i}` }))
  const codes = await clickOnConnections(e.port, 60, i => `/c/${tokens[i]}`)
  t.ok(codes.every(c => c === 302))
  await rt.handoff()
  const count = async (q: string): Promise<number> => Number((await (await e.store.reader.query({ query: q, format: 'JSONEachRow' })).json<{ n: string }>())[0].n)
  await until('61 observations stored', async () => await count("SELECT count() AS n FROM click_observations WHERE sid = 'acme'") === 61)
  const per = rt.threadStats().map(s => s.redirects)
  t.ok(per.every(n => n > 0), `both threads answered (${per.join(' / ')})`)

  // A project created after start: its host resolves on the threads once the snapshot moves.
  await bootstrap(e.plane, { sid: 'later', team: 'L' })
  const later = mintToken(e.keys, { sid: 'later', messageId: randomUUID(), linkIndex: 0, sentAt: now(), url: 'https://example.com/later' })
  await until('a new project redirects on the threads', async () => (await request(e.port, { path: `/c/${later}`, host: 'plater.t.localhost:8080' })).status === 302, 5000)
  t.pass('a new project redirects on the threads')

  // The operator's block reaches every thread: each connection gets the warning page.
  const blocked = mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: 0, sentAt: now(), url: 'https://evil.example/x' })
  const adminToken = readFileSync(join(e.dataDir, 'admin-token'), 'utf8').trim()
  const block = await api(e.admin.port, 'POST', '/blocks', adminToken, { kind: 'host', value: 'evil.example', reason: 'phishing' })
  t.equal(block.status, 201)
  await until('blocked on every thread', async () => (await clickOnConnections(e.port, 8, () => `/c/${blocked}`)).every(c => c === 403), 5000)
  t.pass('blocked on every thread')

  await until('counters posted', () => rt.stats.redirects >= 62)
  const metrics = await api(e.admin.port, 'GET', '/metrics')
  const redirects = Number(/^clicktrail_redirects_total (\d+)$/m.exec(metrics.raw)?.[1])
  t.ok(redirects >= 62, `/metrics sums the threads' redirects (${redirects})`)
  t.match(metrics.raw, /^clicktrail_redirect_threads 2$/m)
})

t.test('the port held by another process is refused, threads or not', async t => {
  const other = createServer()
  await new Promise<void>(resolve => other.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { other.close() })
  const port = (other.address() as { port: number }).port
  await t.rejects(startRedirectTestEngine(t, { 'redirect-threads': '2', 'redirect-front': 'false', port: String(port) }, new MemorySink()), { code: 'CT_ERR_LISTEN' })
})
