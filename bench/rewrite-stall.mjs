#!/usr/bin/env node
// Redirect latency while a big POST /v1/rewrite runs (issue 10, Rule 1: "20,000 links × 50
// recipients stalled redirects for 1.5 s").
//
// The real engine (embedded ClickHouse, worker pool, batched writers) runs in its own
// process (bench/lib/server-child.mjs, kind clicktrail-e2e). This process probes
// `GET /c/{token}` on the redirect port at a fixed rate over a few keep-alive connections
// (latency counted from the moment a probe was due, so a stalled server cannot hide its
// stall) and, after a quiet baseline, sends each rewrite request of the plan. Probes are
// grouped by phase: baseline, "request" (from the POST's first byte to the answer's last)
// and "drain" (the few seconds after, while the batched writers insert the records).
// The answer is counted, never parsed, so the client's own work does not show up as server
// latency.
//
// Needs dist/ (npx tsc -p .). Environment:
//   BENCH_PLAN        comma list of LINKSxRECIPIENTS[:HTML_BYTES_PER_LINK] requests
//                     (default 20000x50,5000x50,100x1000)
//   BENCH_RATE        probes per second (default 200)
//   BENCH_DRAIN_S     seconds measured after each answer (default 5)
//   BENCH_CPU_PROF    a directory: the engine runs with --cpu-prof there
import net from 'node:net'
import { request as httpRequest } from 'node:http'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { LatencyHistogram } from './lib/histogram.mjs'
import { HOST, envInt, envList } from './lib/settings.mjs'
import { ServerChild, killAll, runMain, tempDir } from './lib/children.mjs'
import { apiRequest } from './lib/http.mjs'
import { newSecrets } from './lib/tokens.mjs'
import { machineFacts, machineLine } from './lib/machine.mjs'
import { requireDist } from './lib/project.mjs'
import { log, mdTable, writeResults } from './lib/report.mjs'

const PLAN = envList('BENCH_PLAN', ['20000x50', '5000x50', '100x1000']).map(s => {
  const m = /^(\d+)x(\d+)(?::(\d+))?$/.exec(s)
  if (m === null) throw new Error(`BENCH_PLAN: "${s}" is not LINKSxRECIPIENTS[:BYTES]`)
  return { links: Number(m[1]), recipients: Number(m[2]), pad: Number(m[3] ?? 0) }
})
const RATE = envInt('BENCH_RATE', 200, 1, 100_000)
const DRAIN_S = envInt('BENCH_DRAIN_S', 5, 0, 600)
const CONNECTIONS = 8

// ---------------------------------------------------------------- the plan

async function main () {
  requireDist()
  const started = new Date()
  const execArgv = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []
  const engine = new ServerChild('engine', 'clicktrail-e2e', { BENCH_SECRETS: newSecrets(), BENCH_DATA_DIR: tempDir('ct-rewrite-stall-'), BENCH_SID: 'stall' }, { execArgv })
  try {
    const port = await engine.ready
    const info = await engine.call('info')
    log(`rewrite-stall bench: ${machineLine()}; engine pid ${engine.pid}, redirect port ${port}, Team API port ${info.apiPort}`)
    const { routeId, probePath, probeHost } = await seedLink(info)
    const prober = startProber(port, probePath, probeHost)
    await sleep(2000)
    const rows = [{ phase: 'baseline (no rewrite)', ...summarise(prober.samples, 0, performance.now()) }]
    for (const p of PLAN) rows.push(...await bigRewrite(info, routeId, p, prober))
    prober.stop()
    const out = { at: started.toISOString(), rate: RATE, connections: CONNECTIONS, rows, machine: machineFacts() }
    console.log(mdTable(['phase', 'answer', 'probes', 'p50 ms', 'p99 ms', 'max ms', 'statuses'],
      rows.map(r => [r.phase, r.answer ?? '', r.probes, r.p50_ms, r.p99_ms, r.max_ms, JSON.stringify(r.statuses)]), 'lllllll'))
    writeResults('rewrite-stall', out, { started })
  } finally {
    await engine.stop(60_000)
    killAll()
  }
}

/** One small rewrite, for a tracked link to probe. */
async function seedLink (info) {
  const routes = await apiRequest(info.apiPort, 'GET', `/v1/projects/${info.projectId}/routes`, info.token)
  const routeId = routes.body.data[0].route_id
  const seed = await apiRequest(info.apiPort, 'POST', '/v1/rewrite', info.token, { route_id: routeId, from: 'bench@stall.example', to: ['probe@example.com'], html: '<a href="https://example.com/landing">go</a>' })
  const href = /href="([^"]+)"/.exec(seed.body.messages[0].html)[1]
  const u = new URL(href)
  return { routeId, probePath: u.pathname, probeHost: u.host }
}

/** One rewrite request of the plan, and the probes during it and in the DRAIN_S seconds after. */
async function bigRewrite (info, routeId, p, prober) {
  const html = buildHtml(p.links, p.pad)
  const to = Array.from({ length: p.recipients }, (_, i) => `r${i}@example.com`)
  const payload = Buffer.from(JSON.stringify({ route_id: routeId, from: 'bench@stall.example', to, subject: 'stall', html }))
  await sleep(500)
  const start = performance.now()
  const r = await postCounted(info.apiPort, info.token, payload)
  const end = performance.now()
  await sleep(DRAIN_S * 1000)
  const label = `${p.links} links × ${p.recipients} recipients (${(payload.length / 1024).toFixed(0)} KB request)`
  const code = r.status === 200 ? '' : ` ${/"code":"([A-Z_]+)"/.exec(r.head)?.[1] ?? ''}`
  return [
    { phase: `${label}: request`, answer: `${r.status}${code}, ${(r.bytes / 1e6).toFixed(1)} MB in ${r.ms.toFixed(0)} ms`, ...summarise(prober.samples, start, end) },
    { phase: `${label}: next ${DRAIN_S} s`, ...summarise(prober.samples, end, end + DRAIN_S * 1000) }
  ]
}

/** Sends a prepared body; resolves when the answer's last byte is in, with its size only. */
function postCounted (port, token, payload) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const req = httpRequest({ host: HOST, port, method: 'POST', path: '/v1/rewrite', agent: false, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': String(payload.length) } }, res => {
      let bytes = 0
      let head = ''
      res.on('data', c => { if (head.length < 200) head += c.toString('utf8', 0, Math.min(c.length, 200)); bytes += c.length })
      res.on('end', () => { resolve({ status: res.statusCode, bytes, head: head.slice(0, 200), ms: performance.now() - t0 }) })
    })
    req.on('error', reject)
    req.end(payload)
  })
}

/** Paced GETs over keep-alive sockets; each sample is [dueTimeMs, latencyMs]. */
function startProber (port, path, host) {
  const request = Buffer.from(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: Mozilla/5.0 (bench)\r\nAccept: text/html\r\n\r\n`, 'latin1')
  const samples = []
  const idle = []
  const backlog = []
  let stopped = false
  let failure
  const t0 = performance.now()
  let scheduled = 0
  const conns = []
  for (let i = 0; i < CONNECTIONS; i++) {
    const c = { due: 0, buf: Buffer.alloc(0), sock: net.connect({ host: HOST, port }) }
    c.sock.setNoDelay(true)
    c.sock.on('data', d => {
      c.buf = c.buf.length === 0 ? d : Buffer.concat([c.buf, d])
      for (;;) {
        const end = c.buf.indexOf('\r\n\r\n')
        if (end === -1) return
        const head = c.buf.toString('latin1', 0, end)
        const cl = /content-length:\s*(\d+)/i.exec(head)
        const len = end + 4 + (cl === null ? 0 : Number(cl[1]))
        if (c.buf.length < len) return
        c.buf = c.buf.subarray(len)
        const now = performance.now()
        samples.push([c.due, now - c.due, Number(head.slice(9, 12))])
        if (backlog.length > 0) send(c)
        else idle.push(c)
      }
    })
    c.sock.on('error', err => { failure ??= err })
    c.sock.on('connect', () => { idle.push(c) })
    conns.push(c)
  }
  function send (c) { c.due = backlog.shift(); c.sock.write(request) }
  const timer = setInterval(() => {
    const now = performance.now()
    const due = Math.floor((now - t0) * RATE / 1000) + 1
    // Due time of each probe, not the (possibly late) time this timer ran.
    while (scheduled < due) { backlog.push(t0 + scheduled * 1000 / RATE); scheduled++ }
    while (backlog.length > 0 && idle.length > 0) send(idle.pop())
  }, 1)
  return {
    samples,
    stop () { stopped = true; clearInterval(timer); for (const c of conns) c.sock.destroy(); if (failure) throw failure },
    get stopped () { return stopped }
  }
}

function summarise (samples, from, to) {
  const h = new LatencyHistogram()
  const statuses = {}
  for (const [due, ms, status] of samples) {
    if (due < from || due >= to) continue
    h.record(ms * 1000)
    statuses[status] = (statuses[status] ?? 0) + 1
  }
  const s = h.summary()
  return { probes: s.count, p50_ms: +(s.p50_us / 1000).toFixed(2), p99_ms: +(s.p99_us / 1000).toFixed(2), max_ms: +(s.max_us / 1000).toFixed(2), statuses }
}

function buildHtml (links, pad) {
  const parts = ['<!doctype html><html><body>']
  const filler = pad > 0 ? 'x'.repeat(pad) : ''
  // Without padding, about 46 bytes a link: 20,000 links make the 918 KB request.
  for (let i = 0; i < links; i++) parts.push(pad > 0 ? `<p>${filler}<a href="https://shop.example/p/${i}?utm_source=news">Item ${i}</a></p>\n` : `<a href="https://s.example/p/${i}">L${i}</a>\n`)
  parts.push('</body></html>')
  return parts.join('')
}

runMain(main)
