// src/webhooks/dispatcher.ts: "undici, not node:http: a signed POST on a kept-alive
// connection costs the main thread about half the CPU". A node:http receiver in a child
// process (answers 200 at once); this process POSTs a 1 KB JSON body with the dispatcher's
// headers, four requests in flight (the dispatcher's default concurrency), over a kept-alive
// node:http Agent (before) and an undici Agent (current), rounds interleaved. Reported: this
// process's CPU per POST (user + system: the client's whole cost, sockets included).
import { fork } from 'node:child_process'
import { createServer, request, Agent as HttpAgent } from 'node:http'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { track, killAll } from '../lib/children.mjs'
import { mdTable } from '../lib/report.mjs'
import { QUICK, emit, loadNow } from './lib/race.mjs'

if (process.argv[2] === 'receiver') {
  const s = createServer((req, res) => { req.resume(); req.on('end', () => { res.writeHead(200, { 'content-type': 'text/plain' }).end('ok') }) })
  s.listen(0, '127.0.0.1', () => { process.send(s.address().port) })
} else {
  const loadBefore = loadNow()
  const { Agent } = createRequire(import.meta.url)('undici')
  const cp = track(fork(fileURLToPath(import.meta.url), ['receiver'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  const port = await new Promise(resolve => cp.once('message', resolve))
  const url = `http://127.0.0.1:${port}/hook`
  const body = JSON.stringify({ id: 'evt', event: 'message.clicked', data: { destination_url: 'https://shop.example.com/p/1', user_agent: 'x'.repeat(800) } })
  const headers = { 'webhook-id': 'msg_1', 'webhook-timestamp': '1790000000', 'webhook-signature': 'v1,' + 'a'.repeat(44), 'content-type': 'application/json', 'user-agent': 'clicktrail-webhooks/1' }
  const httpAgent = new HttpAgent({ keepAlive: true })
  const viaHttp = () => new Promise((resolve, reject) => {
    const req = request(new URL(url), { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: httpAgent, timeout: 10_000 }, res => { res.resume(); res.on('end', () => resolve(res.statusCode)) })
    req.on('error', reject)
    req.end(body)
  })
  const agent = new Agent({ connect: { timeout: 10_000 } })
  const viaUndici = async () => { const r = await agent.request({ origin: `http://127.0.0.1:${port}`, path: '/hook', method: 'POST', headers, body, headersTimeout: 10_000, bodyTimeout: 10_000 }); await r.body.dump(); return r.statusCode }
  const N = QUICK ? 500 : 3000
  async function round (fn) {
    const c0 = process.cpuUsage()
    const t0 = performance.now()
    let i = 0
    await Promise.all(Array.from({ length: 4 }, async () => { while (i++ < N) await fn() }))
    const c = process.cpuUsage(c0)
    return { us: (c.user + c.system) / N, perS: N / ((performance.now() - t0) / 1000) }
  }
  const variants = [['node:http request, kept-alive Agent (before)', viaHttp], ['undici Agent.request (current)', viaUndici]]
  for (const [, fn] of variants) await round(fn) // warm-up
  const acc = variants.map(() => [])
  const rounds = QUICK ? 3 : 7
  for (let r = 0; r < rounds; r++) for (let v = 0; v < variants.length; v++) acc[v].push(await round(variants[v][1]))
  const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }
  const q = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) * p)] }
  const us = acc.map(a => a.map(x => x.us))
  emit({
    topic: 'webhook-post',
    loadBefore,
    claims: [{ where: 'src/webhooks/dispatcher.ts:222', words: 'undici, not node:http: a signed POST on a kept-alive connection costs the main thread about half the CPU' }],
    sections: [{ title: `CPU of this process per POST (${N} POSTs per round, 4 in flight, median of ${rounds} rounds)`, table: mdTable(['client', 'µs per POST (p25–p75)', 'POSTs/s'], variants.map(([name], v) => [name, `${med(us[v]).toFixed(1)} (${q(us[v], 0.25).toFixed(1)}–${q(us[v], 0.75).toFixed(1)})`, med(acc[v].map(x => x.perS)).toFixed(0)])) }],
    verdicts: [{ where: 'src/webhooks/dispatcher.ts:222', holds: med(us[1]) < 0.65 * med(us[0]) ? true : med(us[1]) < med(us[0]) ? null : false, measured: `node:http ${med(us[0]).toFixed(1)} µs, undici ${med(us[1]).toFixed(1)} µs per POST` }],
    data: { acc, n: N, rounds }
  })
  httpAgent.destroy()
  await agent.close()
  killAll()
  process.exit(0)
}
