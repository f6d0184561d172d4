import t, { type Test } from 'tap'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { startTestEngine, type TestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { until } from '../helpers/wait.js'

// The signed POST itself (dispatcher.ts #post, on undici): a receiver that never answers is
// timed out, a redirect is not followed, a large answer is not read to its end, and
// deliveries reuse kept-alive connections. Real receivers on loopback, /test events.

interface Rx { server: Server, url: string, posts: number, connections: number }

async function receiver (t: Test, answer: (res: import('node:http').ServerResponse) => void): Promise<Rx> {
  const rx: Rx = { server: undefined as unknown as Server, url: '', posts: 0, connections: 0 }
  rx.server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      if (req.url === '/hook') rx.posts++
      answer(res)
    })
  })
  rx.server.on('connection', () => { rx.connections++ })
  await new Promise<void>(resolve => rx.server.listen(0, '127.0.0.1', resolve))
  rx.url = `http://127.0.0.1:${(rx.server.address() as AddressInfo).port}/hook`
  t.teardown(async () => { rx.server.closeAllConnections(); await new Promise(resolve => rx.server.close(resolve)) })
  return rx
}

async function hook (e: TestEngine, url: string): Promise<string> {
  const r = await api(e.api.port, 'POST', `/v1/projects/${e.team!.project.project_id}/webhooks`, e.team!.token, { url })
  if (r.status !== 201) throw new Error(r.raw)
  return r.body.webhook_id as string
}

async function history (e: TestEngine, id: string): Promise<Array<Record<string, unknown>>> {
  let rows: Array<Record<string, unknown>> = []
  const deadline = Date.now() + 15_000
  while (rows.length === 0 && Date.now() < deadline) {
    await e.dispatcher.flush()
    const r = await api(e.api.port, 'GET', `/v1/webhooks/${id}/deliveries`, e.team!.token)
    rows = r.body.data
    if (rows.length === 0) await new Promise(resolve => setTimeout(resolve, 200))
  }
  return rows
}

const FLAGS = { 'webhook-timeout-ms': '300', 'webhook-retry-schedule': '1h', 'webhook-allow-private': 'true' }

t.test('a receiver that never answers is timed out, and the attempt says so', async t => {
  const e = await startTestEngine(t, FLAGS)
  const rx = await receiver(t, () => {}) // never answers
  const id = await hook(e, rx.url)
  const started = Date.now()
  t.equal((await api(e.api.port, 'POST', `/v1/webhooks/${id}/test`, e.team!.token)).status, 202)
  await until('the attempt to fail', () => e.dispatcher.stats.failedAttempts >= 1, 15_000)
  t.ok(Date.now() - started < 5000, 'within the timeout, not the receiver\'s patience')
  const rows = await history(e, id)
  t.match(rows[0], { attempt: 1, ok: false, status: 0, error: /no answer within 300 ms/ })
})

t.test('a redirect is an answer, not followed; a large answer body is not read to its end', async t => {
  const e = await startTestEngine(t, FLAGS)
  const target = await receiver(t, res => { res.writeHead(200).end('ok') })
  const redirecting = await receiver(t, res => { res.writeHead(302, { location: target.url }).end() })
  const id = await hook(e, redirecting.url)
  await api(e.api.port, 'POST', `/v1/webhooks/${id}/test`, e.team!.token)
  await until('the 302 to fail the attempt', () => e.dispatcher.stats.failedAttempts >= 1, 15_000)
  t.match((await history(e, id))[0], { ok: false, status: 302 })
  t.equal(target.posts, 0, 'the Location was never posted to')

  const big = await receiver(t, res => { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('x'.repeat(8 * 1024 * 1024)) })
  const id2 = await hook(e, big.url)
  await api(e.api.port, 'POST', `/v1/webhooks/${id2}/test`, e.team!.token)
  await until('the 8 MB answer to count as delivered', () => e.dispatcher.stats.delivered >= 1, 15_000)
  t.pass('an 8 MB answer still counts as delivered')
})

t.test('deliveries reuse kept-alive connections', async t => {
  const e = await startTestEngine(t, { ...FLAGS, 'webhook-test-burst': '40', 'webhook-test-per-minute': '600' })
  const rx = await receiver(t, res => { res.writeHead(200).end('ok') })
  const id = await hook(e, rx.url)
  for (let i = 0; i < 30; i++) t.equal((await api(e.api.port, 'POST', `/v1/webhooks/${id}/test`, e.team!.token)).status, 202)
  await until('all 30 delivered', () => rx.posts >= 30, 30_000)
  t.ok(rx.connections <= 4, `over ${rx.connections} connection(s) (concurrency 4), not one each`)
})
