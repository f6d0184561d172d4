#!/usr/bin/env node
// Reclassification latency: late evidence arrives → its message.click_reclassified webhook
// is received. The real engine (embedded ClickHouse, ingest, promotion, the worker pool, late
// evidence, the outbox) and a webhook receiver, in this process (one clock for both ends).
//
//   honeypot: a promoted Chrome click, then a honeypot observation of its message by the same
//     address and agent, written through the ingest path; from the write to the webhook.
//   address_burst: a click 10 s after send (genuine), then the same address clicks for six
//     other recipients; from the burst's last click (its 302) to the webhook. This includes the
//     burst's own promotion window (BENCH_WINDOW_MS).
//
// Needs dist/ (npx tsc -p .). Settings: BENCH_ROUNDS (default 20 per kind), BENCH_WINDOW_MS
// (promotion window, default 300), BENCH_BATCH_MAX_MS (ingest batch wait, default 50).
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'

const dist = new URL('../dist/', import.meta.url)
const { loadConfig } = await import(new URL('config.js', dist))
const { startEngine } = await import(new URL('engine/index.js', dist))
const { silentLogger } = await import(new URL('log.js', dist))
const { bootstrap } = await import(new URL('control/projects.js', dist))
const { mintToken } = await import(new URL('token/codec.js', dist))
const { observationFromHeaders } = await import(new URL('records.js', dist))

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20)
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 300)
const BATCH_MS = Number(process.env.BENCH_BATCH_MAX_MS ?? 50)
const HOST = 'pacme.t.localhost:8080'
const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36'
const CHROME = {
  'sec-ch-ua': '"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"',
  'sec-ch-ua-mobile': '?0',
  'sec-ch-ua-platform': '"Windows"',
  'user-agent': UA,
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'sec-fetch-site': 'cross-site',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'accept-language': 'en-US,en;q=0.9'
}
const SAFARI = {
  'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1',
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'sec-fetch-site': 'cross-site',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'accept-language': 'en-GB,en;q=0.9'
}

const dir = mkdtempSync(join(tmpdir(), 'clicktrail-bench-late-'))
const config = loadConfig({
  port: '0',
  host: '127.0.0.1',
  'admin-port': '0',
  'api-port': '0',
  'data-dir': dir,
  'webhook-allow-private': 'true',
  'dns-server': '127.0.0.1:9',
  'trusted-proxy': ['127.0.0.1'],
  'promotion-window-ms': String(WINDOW_MS),
  'batch-max-ms': String(BATCH_MS),
  'redirect-threads': '1',
  'late-evidence-horizon-ms': '600000',
  'tracking-base-url': 'http://t.localhost:8080'
}, {})
const e = await startEngine(config, silentLogger, {})
const team = await bootstrap(e.plane, { sid: 'acme' })

// The receiver: arrival time of each reclassification by click id.
const arrived = new Map()
const rx = http.createServer((req, res) => {
  const chunks = []
  req.on('data', c => chunks.push(c))
  req.on('end', () => {
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    if (body.event === 'message.click_reclassified') arrived.set(body.data.message_id, performance.now())
    res.writeHead(200).end('ok')
  })
})
await new Promise(resolve => rx.listen(0, '127.0.0.1', resolve))
const hookUrl = `http://127.0.0.1:${rx.address().port}/hook`

function apiPost (path, body) {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body)
    const req = http.request({ host: '127.0.0.1', port: e.api.port, path, method: 'POST', headers: { authorization: `Bearer ${team.token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } }, res => {
      const c = []
      res.on('data', x => c.push(x))
      res.on('end', () => res.statusCode === 201 ? resolve(JSON.parse(Buffer.concat(c))) : reject(new Error(Buffer.concat(c).toString())))
    })
    req.on('error', reject)
    req.end(data)
  })
}
await apiPost(`/v1/projects/${team.project.project_id}/webhooks`, { url: hookUrl, events: ['message.click_reclassified'], include_machine_events: true })
await sleep(300) // the control plane's refresh

function click (ip, headers, messageId, sentAt) {
  const token = mintToken(e.keys, { sid: 'acme', messageId, linkIndex: 0, sentAt, url: 'https://example.com/' })
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: e.port, path: `/c/${token}`, headers: { ...headers, host: HOST, 'x-forwarded-for': ip } }, res => {
      res.resume()
      res.on('end', () => res.statusCode === 302 ? resolve() : reject(new Error(`status ${res.statusCode}`)))
    })
    req.on('error', reject)
    req.end()
  })
}

async function waitFor (what, check, ms = 30_000) {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`)
    await sleep(2)
  }
}

const results = { honeypot: [], address_burst: [] }
const now = () => Math.floor(Date.now() / 1000)

for (let i = 0; i < ROUNDS; i++) {
  const m = randomUUID()
  const ip = `198.51.${100 + (i >> 8)}.${i & 255}`
  const promoted = e.promoter.stats.promoted
  await click(ip, CHROME, m, now() - 3600)
  await waitFor('promoted', () => e.promoter.stats.promoted > promoted)
  const o = Object.assign(observationFromHeaders({ 'user-agent': UA }), {
    ts: Date.now(),
    id: randomUUID(),
    sid: 'acme',
    messageId: m,
    linkIndex: 9,
    sentAt: now() - 3600,
    url: 'https://example.com/h',
    kid: 1,
    retentionDays: 400,
    method: 'GET',
    host: HOST,
    ip,
    peerIp: '127.0.0.1',
    scheme: 'http',
    honeypot: true
  })
  const t0 = performance.now()
  e.pipeline.write([o])
  await waitFor('reclassified', () => arrived.has(m))
  results.honeypot.push(arrived.get(m) - t0)
}

for (let i = 0; i < ROUNDS; i++) {
  const m = randomUUID()
  const ip = `203.0.${113 + (i >> 8)}.${i & 255}`
  const promoted = e.promoter.stats.promoted
  await click(ip, SAFARI, m, now() - 10)
  await waitFor('promoted', () => e.promoter.stats.promoted > promoted)
  await sleep(2 * WINDOW_MS + 1100) // out of the promotion context (forgotten at most once a second)
  for (let k = 0; k < 6; k++) await click(ip, CHROME, randomUUID(), now() - 3600)
  const t0 = performance.now()
  await waitFor('reclassified', () => arrived.has(m))
  results.address_burst.push(arrived.get(m) - t0)
}

const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(p * s.length))] }
console.log(`late evidence → message.click_reclassified received (ms), ${ROUNDS} rounds each, promotion window ${WINDOW_MS} ms, ingest batch ${BATCH_MS} ms`)
console.log('| evidence | p50 | p95 | max |')
console.log('|---|---|---|---|')
for (const [k, xs] of Object.entries(results)) console.log(`| ${k} | ${pct(xs, 0.5).toFixed(0)} | ${pct(xs, 0.95).toFixed(0)} | ${Math.max(...xs).toFixed(0)} |`)
console.log(`reclassified: ${JSON.stringify(e.late.stats.reclassified)}, rejudged ${e.late.stats.rejudged}`)
await e.stop()
rx.close()
rmSync(dir, { recursive: true, force: true })
