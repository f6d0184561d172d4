#!/usr/bin/env node
// Ingest benchmark: the redirect server at its peak rate with the real embedded ClickHouse
// behind it (ingest ON) against the same engine with a CountingSink (ingest OFF), in one
// run, with the same load tool, settings and request bytes. See bench/README.md.
//
// Needs dist/ (npx tsc -p .). Each server runs in its own child process
// (bench/lib/server-child.mjs, kind 'clicktrail-ingest') on a free 127.0.0.1 port.
//
//   OFF round A ─► ON: warm-up, drain, measured window (BENCH_DURATION), drain, count rows
//   ─► OFF round B            (OFF brackets ON, so drift of a shared machine shows)
import { fork, spawn, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import http from 'node:http'
import { LatencyHistogram } from './lib/histogram.mjs'

const require = createRequire(import.meta.url)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DIST = new URL('../dist/', import.meta.url)
const CHILD = fileURLToPath(new URL('./lib/server-child.mjs', import.meta.url))
const LUA = fileURLToPath(new URL('./lib/paths.lua', import.meta.url))
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url))

// ---------------------------------------------------------------- settings

function envInt (name, dflt, min, max) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return dflt
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new Error(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`)
  return Number(raw)
}

const hasWrk = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).status === 0
const TOOL = process.env.BENCH_TOOL || (hasWrk ? 'wrk' : 'autocannon')
if (TOOL !== 'wrk' && TOOL !== 'autocannon') throw new Error(`BENCH_TOOL must be autocannon or wrk, got "${TOOL}"`)
if (TOOL === 'wrk' && !hasWrk) throw new Error('BENCH_TOOL=wrk but wrk is not on PATH (apt-get install -y wrk)')

const QUICK = (process.env.BENCH_QUICK ?? '0') !== '0'
const TARGET_SECONDS = 60 // DESIGN.md: "keeps up with peak redirect rate for 60 s"
const S = {
  tool: TOOL,
  quick: QUICK,
  onSeconds: envInt('BENCH_DURATION', QUICK ? 10 : TARGET_SECONDS, 2, 3600), // ingest ON, one window
  offSeconds: envInt('BENCH_OFF_DURATION', QUICK ? 6 : 20, 2, 3600), // ingest OFF, split in two rounds around ON
  warmup: envInt('BENCH_WARMUP', QUICK ? 2 : 3, 0, 120),
  connections: envInt('BENCH_CONNECTIONS', 50, 1, 10_000),
  wrkThreads: envInt('BENCH_WRK_THREADS', 1, 1, 64),
  tokens: envInt('BENCH_TOKENS', 1000, 1, 100_000), // distinct hot tokens cycled (all stay in the LRU)
  drainTimeout: envInt('BENCH_DRAIN_TIMEOUT', 120, 5, 3600), // seconds to wait for the queue to empty
  sampleMs: 1000 // spool depth, event-loop delay, rates: one sample a second
}
if (S.tool === 'wrk' && S.connections < S.wrkThreads) throw new Error('BENCH_CONNECTIONS must be ≥ BENCH_WRK_THREADS')
if (S.tokens > 100_000) throw new Error('BENCH_TOKENS must stay within the LRU (100 000)')

// The same request bytes as bench/redirect.mjs: a mail reader's browser following a link.
const SID = 'bench'
const HOST_HEADER = `p${SID}.t.localhost` // tracking base http://t.localhost:8080 (the default)
const DESTINATION = 'https://shop.example.com/spring-sale/shoes?utm_source=newsletter&utm_medium=email&utm_campaign=spring'
const HEADERS = {
  Host: HOST_HEADER,
  'User-Agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
  Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'Accept-Language': 'en-US,en;q=0.9',
  'Accept-Encoding': 'gzip, deflate, br'
}

// ---------------------------------------------------------------- process hygiene

const live = new Set() // ChildProcess of every server and load generator still running
let tmp // temp dir: paths file and the data dirs (embedded ClickHouse, spool)

function killAll () {
  for (const cp of live) {
    try {
      if (cp.bench_group) process.kill(-cp.pid, 'SIGKILL')
      else cp.kill('SIGKILL')
    } catch {}
  }
  live.clear()
  if (tmp !== undefined) { try { rmSync(tmp, { recursive: true, force: true }) } catch {} }
}
process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { console.error(`\n${sig}: stopping every child`); killAll(); process.exit(130) })
}

function fail (msg) {
  const err = new Error(msg)
  err.benchFailure = true
  throw err
}

// ---------------------------------------------------------------- servers

class ServerChild {
  constructor (name, env) {
    this.name = name
    this.waiters = new Map()
    this.nextId = 1
    this.cp = fork(CHILD, ['clicktrail-ingest'], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    live.add(this.cp)
    this.cp.on('error', (err) => { this.lastError = err })
    this.exited = new Promise(resolve => this.cp.once('exit', (code, signal) => {
      live.delete(this.cp)
      this.exitedWith = { code, signal }
      resolve({ code, signal })
    }))
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: not ready after 120 s`)), 120_000)
      this.cp.on('message', (m) => {
        if (m.type === 'ready') { clearTimeout(timer); this.port = m.port; resolve(m.port) } else if (m.type === 'error') { clearTimeout(timer); reject(new Error(`${name} failed to start: ${m.message}`)) } else if (m.type === 'sample' || m.type === 'reply') {
          const w = this.waiters.get(m.id)
          if (w !== undefined) { this.waiters.delete(m.id); w(m) }
        }
      })
      this.exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`${name} exited (code ${code}, signal ${signal})`)) })
    })
    this.ready.catch(() => {})
  }

  #request (msg, timeoutMs) {
    const id = this.nextId++
    if (this.exitedWith !== undefined || !this.cp.connected) {
      return Promise.reject(Object.assign(new Error(`${this.name}: the server process is gone (${JSON.stringify(this.exitedWith ?? 'IPC closed')})`), { benchFailure: true }))
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiters.delete(id); reject(new Error(`${this.name}: no answer to ${msg.type} within ${timeoutMs / 1000} s`)) }, timeoutMs)
      this.waiters.set(id, (m) => { clearTimeout(timer); resolve(m) })
      this.cp.send({ ...msg, id })
    })
  }

  /** CPU time (whole process and main thread) and counters of the server, right now. */
  async sample () {
    const m = await this.#request({ type: 'sample' }, 60_000)
    return { at: performance.now(), wall: Date.now(), cpuUs: m.cpu.user + m.cpu.system, mainCpuUs: m.stats.mainCpuUs, stats: m.stats, rss: m.rss }
  }

  async call (type, payload = {}, timeoutMs = 60_000) {
    const m = await this.#request({ type, ...payload }, timeoutMs)
    if (!m.ok) fail(`${this.name}: ${type} failed: ${m.error}`)
    return m.result
  }

  async stop (graceMs = 20_000) {
    if (this.cp.exitCode !== null || this.cp.signalCode !== null) return this.exitedWith
    try { this.cp.send({ type: 'stop' }) } catch {}
    let killed = false
    const t = setTimeout(() => { killed = true; try { this.cp.kill('SIGKILL') } catch {} }, graceMs)
    const r = await this.exited
    clearTimeout(t)
    return { ...r, killedAfterGrace: killed }
  }
}

// ---------------------------------------------------------------- load generators

/** autocannon, in this process. */
async function runAutocannon ({ port, cycle, seconds, connections }) {
  const autocannon = require('autocannon')
  const hist = new LatencyHistogram()
  const { paths } = cycle
  const n = paths.length
  let i = cycle.offset
  const headers = {}
  for (const [k, v] of Object.entries(HEADERS)) headers[k.toLowerCase()] = v
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const instance = autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: seconds,
    timeout: 10,
    headers,
    requests: [{ method: 'GET', setupRequest: (req) => { req.path = paths[i % n]; i++; return req } }]
  })
  instance.on('response', (client, statusCode, bytes, responseTime) => { hist.record(responseTime * 1000) })
  const watchdog = setTimeout(() => { instance.stop() }, (seconds + 30) * 1000)
  const r = await instance
  clearTimeout(watchdog)
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  cycle.offset = i
  const statuses = {}
  for (const [code, { count }] of Object.entries(r.statusCodeStats)) statuses[code] = count
  const lat = hist.summary()
  return {
    requests: r.requests.total,
    seconds: r.duration,
    rps: r.requests.total / r.duration,
    p50Ms: lat.p50_us / 1000,
    p99Ms: lat.p99_us / 1000,
    maxMs: lat.max_us / 1000,
    statuses,
    non2xx3xx: r['1xx'] + r['4xx'] + r['5xx'],
    other3xx: Object.entries(statuses).filter(([c]) => c !== '302').reduce((a, [, v]) => a + v, 0),
    errors: r.errors,
    timeouts: r.timeouts,
    loadgenCpuUtil: (cpu.user + cpu.system) / 1000 / wallMs,
    loadgenInProcess: true
  }
}

/** wrk in its own process group (killed as a group on error); `times` gives its CPU time. */
async function runWrk ({ port, cycle, seconds, connections }) {
  const args = ['-t', String(S.wrkThreads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '10s', '-s', LUA]
  for (const [k, v] of Object.entries(HEADERS)) args.push('-H', `${k}: ${v}`)
  args.push(`http://127.0.0.1:${port}`, '--', cycle.file, String(cycle.offset), String(S.wrkThreads))
  const cp = spawn('bash', ['-c', 'wrk "$@"; rc=$?; echo TIMES; times; exit $rc', 'bash', ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  cp.bench_group = true
  live.add(cp)
  let out = ''
  let err = ''
  cp.stdout.on('data', d => { out += d })
  cp.stderr.on('data', d => { err += d })
  const watchdog = setTimeout(() => { try { process.kill(-cp.pid, 'SIGKILL') } catch {} }, (seconds + 30) * 1000)
  const t0 = performance.now()
  const code = await new Promise(resolve => cp.once('close', resolve))
  const wallMs = performance.now() - t0
  clearTimeout(watchdog)
  live.delete(cp)
  const line = out.split('\n').find(l => l.startsWith('WRKJSON '))
  if (code !== 0 || line === undefined) fail(`wrk failed (exit ${code}):\n${out}\n${err}`)
  const w = JSON.parse(line.slice('WRKJSON '.length))
  // `times` prints the shell's own user/sys, then its children's: the second line is wrk.
  const timesLines = out.slice(out.indexOf('TIMES')).split('\n').filter(l => /\d+m[\d.]+s/.test(l))
  let loadgenCpuUtil = NaN
  if (timesLines.length >= 2) {
    const secs = timesLines[1].trim().split(/\s+/).map(t => { const m = /(\d+)m([\d.]+)s/.exec(t); return Number(m[1]) * 60 + Number(m[2]) })
    loadgenCpuUtil = (secs[0] + secs[1]) * 1000 / wallMs
  }
  cycle.offset += w.requests + connections
  const secondsRun = w.duration_us / 1e6
  return {
    requests: w.requests,
    seconds: secondsRun,
    rps: w.requests / secondsRun,
    p50Ms: w.p50_us / 1000,
    p99Ms: w.p99_us / 1000,
    maxMs: w.max_us / 1000,
    // wrk only counts statuses > 399; that every answer was a 302 is checked on the server side.
    statuses: { '<400': w.requests - w.status, '>=400': w.status },
    non2xx3xx: w.status,
    other3xx: 0,
    errors: w.connect + w.read + w.write,
    socketErrors: { connect: w.connect, read: w.read, write: w.write },
    timeouts: w.timeout,
    loadgenCpuUtil,
    loadgenInProcess: false
  }
}

const runLoad = S.tool === 'wrk' ? runWrk : runAutocannon

/** Busy CPU time of the whole machine so far, in µs (all cores; /proc/stat, Linux only). */
function machineBusyUs () {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
    return (user + nice + system + irq + softirq + (steal ?? 0)) * 1e6 / 100
  } catch {
    return NaN
  }
}

// ---------------------------------------------------------------- checks

/** One request with node:http, checked exactly (status, Location, Cache-Control). */
function probe (port, path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers: HEADERS, agent: false, timeout: 5000 }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode, location: res.headers.location, cacheControl: res.headers['cache-control'] }))
    })
    req.on('timeout', () => req.destroy(new Error('probe timed out')))
    req.on('error', reject)
    req.end()
  })
}

async function preflight (server, path) {
  const r = await probe(server.port, path)
  if (r.status !== 302) fail(`${server.name}: probe answered ${r.status}, expected 302`)
  if (r.location !== DESTINATION) fail(`${server.name}: probe Location is ${JSON.stringify(r.location)}, expected ${DESTINATION}`)
  if (r.cacheControl !== 'no-store') fail(`${server.name}: probe Cache-Control is ${JSON.stringify(r.cacheControl)}`)
}

function diffStats (a, b) {
  const out = {}
  for (const [k, v] of Object.entries(b)) if (typeof v === 'number' && typeof a[k] === 'number') out[k] = v - a[k]
  return out
}

/** Fails loudly unless every request was a 302 and the server counted what the client saw. */
function verify (name, load, d, ingest) {
  const slack = S.connections * 2 + 10 // sent but not completed when the load tool stopped
  if (load.requests <= 0) fail(`${name}: no request completed`)
  if (load.errors > slack || load.timeouts > slack) fail(`${name}: ${load.errors} socket errors, ${load.timeouts} timeouts`)
  if (!(d.requests >= load.requests && d.requests <= load.requests + slack)) fail(`${name}: the server handled ${d.requests} requests, the client completed ${load.requests}`)
  if (load.non2xx3xx !== 0 || load.other3xx !== 0) fail(`${name}: ${load.non2xx3xx + load.other3xx} responses were not 302 (${JSON.stringify(load.statuses)})`)
  if (d.redirects !== d.requests) fail(`${name}: ${d.requests} requests but ${d.redirects} redirects (${JSON.stringify(d)})`)
  if (d.ringDropped !== 0) fail(`${name}: the observation ring dropped ${d.ringDropped}`)
  if (d.lruMisses > S.tokens) fail(`${name}: ${d.lruMisses} LRU misses on ${S.tokens} hot tokens: they do not stay in the LRU`)
  if (ingest && d.ingest_shed !== 0) fail(`${name}: ingest shed ${d.ingest_shed} observations (spool full or failing)`)
}

// ---------------------------------------------------------------- one measured window

/**
 * Runs the load for `seconds` against `server` while sampling it every second: rates,
 * spool depth, event-loop delay. Returns the window's summary and its series.
 */
async function measure (server, cycle, seconds, { ingest, series = true }) {
  const before = await server.sample()
  const busy0 = machineBusyUs()
  const self0 = process.cpuUsage()
  const samples = [before]
  const stopSampling = new AbortController()
  const sampler = (async () => {
    let next = before.at + S.sampleMs
    while (series && !stopSampling.signal.aborted) {
      try {
        await sleep(Math.max(0, next - performance.now()), undefined, { signal: stopSampling.signal })
      } catch {
        break // aborted: the load is over
      }
      samples.push(await server.sample())
      next += S.sampleMs
    }
  })()
  let load
  try {
    load = await runLoad({ port: server.port, cycle, seconds, connections: S.connections })
  } finally {
    stopSampling.abort()
    await sampler.catch(() => {})
  }
  const self = process.cpuUsage(self0)
  const busy = machineBusyUs() - busy0
  const after = await server.sample()
  samples.push(after)
  const d = diffStats(before.stats, after.stats)
  verify(server.name, load, d, ingest)
  const cpuUs = after.cpuUs - before.cpuUs
  const mainUs = after.mainCpuUs - before.mainCpuUs
  const wallMs = after.at - before.at
  const wrkUs = S.tool === 'wrk' ? load.loadgenCpuUtil * load.seconds * 1e6 : 0
  const otherUs = busy - cpuUs - (self.user + self.system) - wrkUs
  // Per-second series (each point covers the interval since the previous sample).
  const points = []
  const latencies = []
  const batchRows = []
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]
    const b = samples[i]
    const dt = (b.at - a.at) / 1000
    const p = {
      t: Math.round((b.at - before.at) / 100) / 10,
      redirectsPerS: Math.round((b.stats.redirects - a.stats.redirects) / dt),
      serverCores: round((b.cpuUs - a.cpuUs) / 1e6 / dt, 2),
      mainThreadCores: round((b.mainCpuUs - a.mainCpuUs) / 1e6 / dt, 2),
      // ms per second the redirect thread was runnable but had no CPU (starved by other threads)
      mainWaitMsPerS: round((b.stats.mainWaitUs - a.stats.mainWaitUs) / 1000 / dt, 1),
      eldMaxMs: round(b.stats.eldMaxMs, 1),
      eldP99Ms: round(b.stats.eldP99Ms, 1)
    }
    if (ingest) {
      p.insertedPerS = Math.round((b.stats.ingest_inserted - a.stats.ingest_inserted) / dt)
      p.inserts = b.stats.ingest_insertedBatches - a.stats.ingest_insertedBatches
      p.queuedRows = b.stats.queuedRows
      p.spoolPendingRecords = b.stats.spool_pendingRecords
      p.spoolBytes = b.stats.spool_bytes
      p.ringSize = b.stats.ringSize
      for (const x of b.stats.insertLatenciesMs ?? []) latencies.push(x)
      for (const x of b.stats.insertBatchRows ?? []) batchRows.push(x)
    }
    p.partial = dt < 0.9 * S.sampleMs / 1000 // the last point covers less than a second
    points.push(p)
  }
  const full = points.filter(p => !p.partial)
  const perSecond = full.map(p => p.redirectsPerS)
  const out = {
    ...load,
    serverRedirects: d.redirects,
    serverRedirectsPerS: d.redirects / (wallMs / 1000),
    cpuUsPerRedirect: cpuUs / d.redirects,
    mainThreadCpuUsPerRedirect: mainUs / d.redirects,
    serverCpuUtil: cpuUs / 1000 / wallMs,
    mainThreadCpuUtil: mainUs / 1000 / wallMs,
    mainThreadWaitMsPerS: (after.stats.mainWaitUs - before.stats.mainWaitUs) / wallMs,
    mainThreadWaitMaxMsPerS: Math.max(...points.map(p => p.mainWaitMsPerS)),
    otherCpuUtil: otherUs / 1000 / wallMs,
    eldMaxMs: Math.max(...points.map(p => p.eldMaxMs)),
    eldP99MaxMs: Math.max(...points.map(p => p.eldP99Ms)),
    slowestSecond: perSecond.length ? Math.min(...perSecond) : NaN,
    medianSecond: median(perSecond),
    rssMB: after.rss / 1048576,
    serverStats: d,
    series: points
  }
  if (ingest) {
    out.startCpuUs = before.cpuUs
    out.startMainCpuUs = before.mainCpuUs
    out.insertedPerS = d.ingest_inserted / (wallMs / 1000)
    out.inserted = d.ingest_inserted
    out.inserts = d.ingest_insertedBatches
    out.insertLatencyMs = summarize(latencies)
    out.insertBatchRows = summarize(batchRows)
    out.maxQueuedRows = Math.max(...points.map(p => p.queuedRows))
    out.maxSpoolBytes = Math.max(...points.map(p => p.spoolBytes))
    out.queuedRowsAtEnd = after.stats.queuedRows
    // Trend of the queue over the window (least squares over the full-second points):
    // the sawtooth of batching averages out; a pipeline that falls behind shows a slope.
    out.queueSlopeRowsPerS = slope(full.map(p => [p.t, p.queuedRows]))
    out.spoolRetries = d.ingest_retried
    out.insertFailures = d.ingest_failures
    out.shed = d.ingest_shed
    out.spoolWriteErrors = d.spool_writeErrors
  }
  return out
}

/** Polls until the ring and the pipeline queue are empty; returns ms waited and the last sample. */
async function drain (server, timeoutS) {
  const t0 = performance.now()
  for (;;) {
    const s = await server.sample()
    const st = s.stats
    if (st.ringSize === 0 && st.queuedRows === 0 && st.ingest_received === st.ringPushed) return { ms: performance.now() - t0, sample: s }
    if (performance.now() - t0 > timeoutS * 1000) fail(`${server.name}: the ingest queue did not drain within ${timeoutS} s (${st.queuedRows} rows queued, ring ${st.ringSize}, ${st.ingest_failures} insert failures)`)
    await sleep(100)
  }
}

// ---------------------------------------------------------------- helpers

const median = (xs) => {
  const v = xs.filter(x => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const m = v.length >> 1
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2
}
const pct = (sorted, q) => sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
function summarize (xs) {
  const v = xs.slice().sort((a, b) => a - b)
  return { n: v.length, min: round(v[0], 1), p50: round(pct(v, 0.5), 1), p90: round(pct(v, 0.9), 1), max: round(v[v.length - 1], 1), mean: round(v.reduce((a, b) => a + b, 0) / v.length, 1) }
}
function slope (pts) {
  if (pts.length < 3) return NaN
  const n = pts.length
  const mx = pts.reduce((a, [x]) => a + x, 0) / n
  const my = pts.reduce((a, [, y]) => a + y, 0) / n
  let sxy = 0
  let sxx = 0
  for (const [x, y] of pts) { sxy += (x - mx) * (y - my); sxx += (x - mx) ** 2 }
  return sxx > 0 ? sxy / sxx : NaN
}
const round = (x, d = 0) => Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x
const f = (x, digits = 0) => Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : 'n/a'
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0) ? a / b : NaN
const log = (...a) => { console.error(...a) }
const mb = (bytes) => f(bytes / 1048576, 1)

function logWindow (label, m) {
  log(`${label.padEnd(16)} ${f(m.rps).padStart(8)} req/s  p50 ${f(m.p50Ms, 3)} ms  p99 ${f(m.p99Ms, 3)} ms  ${f(m.cpuUsPerRedirect, 2)} µs CPU/redirect (main thread ${f(m.mainThreadCpuUsPerRedirect, 2)})  server ${f(m.serverCpuUtil * 100)}% (main ${f(m.mainThreadCpuUtil * 100)}%) / load gen ${f(m.loadgenCpuUtil * 100)}% / others ${f(Math.max(0, m.otherCpuUtil) * 100)}% of a core  max loop delay ${f(m.eldMaxMs, 1)} ms` +
    (m.inserted !== undefined ? `  inserted ${f(m.insertedPerS)} rows/s, max queue ${f(m.maxQueuedRows)} rows` : ''))
}

// ---------------------------------------------------------------- main

async function main () {
  if (!existsSync(new URL('engine.js', DIST))) throw new Error('dist/ is missing: build first (npx tsc -p .)')
  const started = new Date()
  tmp = mkdtempSync(join(tmpdir(), 'clicktrail-bench-ingest-'))

  // Hot tokens, minted here with the secret both children get: distinct message ids, so the
  // rows in ClickHouse can be told apart; few enough that all stay in the LRU after warm-up.
  const { KeyRing, parseSecrets } = await import(new URL('token/keys.js', DIST))
  const { mintToken } = await import(new URL('token/codec.js', DIST))
  const secrets = `1:${randomBytes(32).toString('base64')}`
  const ring = new KeyRing(parseSecrets(secrets))
  const sentAt = Math.floor(Date.now() / 1000)
  const tokens = []
  for (let i = 0; i < S.tokens; i++) tokens.push(mintToken(ring, { sid: SID, messageId: randomUUID(), linkIndex: i % 8, sentAt, url: DESTINATION }))
  const paths = tokens.map(t => `/c/${t}`)
  const pathsFile = join(tmp, 'hot.paths')
  writeFileSync(pathsFile, paths.join('\n') + '\n')
  const cycle = { paths, file: pathsFile, offset: 0 }
  log(`minted ${S.tokens} hot tokens (${tokens[0].length} chars each)`)

  const offA = Math.max(1, Math.ceil(S.offSeconds / 2))
  const offB = Math.max(1, S.offSeconds - offA)
  const budget = (3 * S.warmup + S.onSeconds + S.offSeconds + 2 * S.drainTimeout + 360) * 1000
  const watchdog = setTimeout(() => { console.error(`bench: still running after ${Math.round(budget / 1000)} s, giving up`); killAll(); process.exit(2) }, budget)

  const common = { BENCH_SECRETS: secrets, BENCH_SID: SID, BENCH_LOCATION: DESTINATION }
  let off
  let on
  try {
    // ------------------------------------------------------------ OFF, round A
    const offDir = join(tmp, 'data-off')
    mkdirSync(offDir)
    off = new ServerChild('ingest-off', { ...common, BENCH_INGEST: 'off', BENCH_DATA_DIR: offDir })
    await off.ready
    await preflight(off, paths[0])
    const offConfig = await off.call('config')
    log(`ingest-off: pid ${off.cp.pid}, port ${off.port} (${offConfig.storage})`)
    log(`tool ${S.tool}${S.tool === 'wrk' ? ` (${S.wrkThreads} thread)` : ''}, ${S.connections} connections, ${S.tokens} hot tokens cycled; ON ${S.onSeconds} s, OFF ${offA} + ${offB} s around it, warm-up ${S.warmup} s; ${cpus().length} CPUs, load ${loadavg().map(x => x.toFixed(2)).join(' ')}`)
    if (S.warmup > 0) await runLoad({ port: off.port, cycle, seconds: S.warmup, connections: S.connections })
    const offRoundA = await measure(off, cycle, offA, { ingest: false })
    logWindow('OFF (round A)', offRoundA)

    // ------------------------------------------------------------ ON
    const onDir = join(tmp, 'data-on')
    mkdirSync(onDir)
    const t0 = performance.now()
    on = new ServerChild('ingest-on', { ...common, BENCH_INGEST: 'on', BENCH_DATA_DIR: onDir })
    await on.ready
    const startupMs = performance.now() - t0
    await preflight(on, paths[0])
    const onConfig = await on.call('config')
    log(`ingest-on: pid ${on.cp.pid}, port ${on.port}, ${onConfig.storage} ClickHouse in ${onDir}, started in ${f(startupMs)} ms; batch-max-rows ${onConfig.batchMaxRows}, batch-max-ms ${onConfig.batchMaxMs}, spool bound ${mb(onConfig.spoolMaxBytes)} MB`)
    if (S.warmup > 0) await runLoad({ port: on.port, cycle, seconds: S.warmup, connections: S.connections })
    const preDrain = await drain(on, S.drainTimeout)
    log(`ingest-on: warm-up drained in ${f(preDrain.ms)} ms; measuring ${S.onSeconds} s`)
    const onRun = await measure(on, cycle, S.onSeconds, { ingest: true })
    logWindow('ON', onRun)
    const drained = await drain(on, S.drainTimeout)
    log(`ingest-on: queue drained ${f(drained.ms)} ms after the load stopped`)
    // CPU per redirect up to the moment its rows were all in ClickHouse (the window's own
    // figure leaves out the inserts of its last second).
    onRun.cpuUsPerRedirectInclDrain = (drained.sample.cpuUs - onRun.startCpuUs) / onRun.serverRedirects
    onRun.mainThreadCpuUsPerRedirectInclDrain = (drained.sample.mainCpuUs - onRun.startMainCpuUs) / onRun.serverRedirects

    // Every 302 the server answered (warm-up, probe and window) against the rows stored.
    const st = drained.sample.stats
    const [q] = await on.call('query', {
      sql: `SELECT count() AS rows, uniqExact(obs_id) AS ids, uniqExact(message_id) AS messages, countIf(sid = '${SID}') AS sid_rows,
              countIf(user_agent = '${HEADERS['User-Agent']}' AND accept_language = '${HEADERS['Accept-Language']}' AND host = '${HOST_HEADER}' AND url = '${DESTINATION}') AS intact,
              toUnixTimestamp64Milli(min(ts)) AS min_ts, toUnixTimestamp64Milli(max(ts)) AS max_ts
            FROM click_observations`
    })
    const counted = Object.fromEntries(Object.entries(q).map(([k, v]) => [k, Number(v)]))
    const answered302 = st.redirects - st.expired
    const loss = {
      redirects: st.redirects,
      expired: st.expired,
      expected: answered302,
      observed: st.ringPushed,
      ringDropped: st.ringDropped,
      received: st.ingest_received,
      expiredDropped: st.ingest_expiredDropped,
      spooled: st.ingest_spooled,
      shed: st.ingest_shed,
      inserted: st.ingest_inserted,
      insertFailures: st.ingest_failures,
      rowsInClickHouse: counted.rows,
      distinctObsIds: counted.ids,
      distinctMessages: counted.messages,
      rowsOfSid: counted.sid_rows,
      rowsWithIntactFields: counted.intact,
      minTs: new Date(counted.min_ts).toISOString(),
      maxTs: new Date(counted.max_ts).toISOString(),
      lost: answered302 - counted.rows,
      duplicates: counted.rows - counted.ids,
      drainMs: drained.ms,
      spoolBytesAfterDrain: st.spool_bytes,
      spoolSegmentsAfterDrain: st.spool_segments
    }
    const tsOk = counted.min_ts >= started.getTime() - 1000 && counted.max_ts <= Date.now() + 1000
    log(`ingest-on: ${f(answered302)} 302s answered, ${f(counted.rows)} rows in click_observations (${f(counted.ids)} distinct obs_id, ${f(counted.messages)} messages), lost ${loss.lost}, duplicates ${loss.duplicates}; ts ${loss.minTs} … ${loss.maxTs}${tsOk ? '' : ' (OUTSIDE the run!)'}`)
    const onStop = await on.stop()
    log(`ingest-on: stopped (${JSON.stringify(onStop)})`)

    // ------------------------------------------------------------ OFF, round B
    const offRoundB = await measure(off, cycle, offB, { ingest: false })
    logWindow('OFF (round B)', offRoundB)
    await off.stop()

    // ---------------------------------------------------------- report
    const offReq = offRoundA.requests + offRoundB.requests
    const offSec = offRoundA.seconds + offRoundB.seconds
    const offRedirects = offRoundA.serverRedirects + offRoundB.serverRedirects
    const wsum = (k) => (offRoundA[k] * offRoundA.serverRedirects + offRoundB[k] * offRoundB.serverRedirects) / offRedirects
    const offM = {
      rps: offReq / offSec,
      p50Ms: median([offRoundA.p50Ms, offRoundB.p50Ms]),
      p99Ms: Math.max(offRoundA.p99Ms, offRoundB.p99Ms),
      cpuUsPerRedirect: wsum('cpuUsPerRedirect'),
      mainThreadCpuUsPerRedirect: wsum('mainThreadCpuUsPerRedirect'),
      serverCpuUtil: (offRoundA.serverCpuUtil * offRoundA.seconds + offRoundB.serverCpuUtil * offRoundB.seconds) / offSec,
      mainThreadCpuUtil: (offRoundA.mainThreadCpuUtil * offRoundA.seconds + offRoundB.mainThreadCpuUtil * offRoundB.seconds) / offSec,
      loadgenCpuUtil: (offRoundA.loadgenCpuUtil * offRoundA.seconds + offRoundB.loadgenCpuUtil * offRoundB.seconds) / offSec,
      otherCpuUtil: (offRoundA.otherCpuUtil * offRoundA.seconds + offRoundB.otherCpuUtil * offRoundB.seconds) / offSec,
      mainThreadWaitMsPerS: (offRoundA.mainThreadWaitMsPerS * offRoundA.seconds + offRoundB.mainThreadWaitMsPerS * offRoundB.seconds) / offSec,
      mainThreadWaitMaxMsPerS: Math.max(offRoundA.mainThreadWaitMaxMsPerS, offRoundB.mainThreadWaitMaxMsPerS),
      eldMaxMs: Math.max(offRoundA.eldMaxMs, offRoundB.eldMaxMs),
      slowestSecond: Math.min(offRoundA.slowestSecond, offRoundB.slowestSecond),
      medianSecond: median([...offRoundA.series, ...offRoundB.series].filter(p => !p.partial).map(p => p.redirectsPerS)),
      requests: offReq,
      seconds: offSec
    }
    const q10 = ratio(onRun.rps, offM.rps)
    const cpuQ = ratio(onRun.cpuUsPerRedirect, offM.cpuUsPerRedirect)
    const mainQ = ratio(onRun.mainThreadCpuUsPerRedirect, offM.mainThreadCpuUsPerRedirect)

    const rows = []
    rows.push('| ingest | seconds | redirects/s | ON ÷ OFF | p50 ms | p99 ms | CPU µs/redirect (process) | main thread µs/redirect | server CPU (cores) | main thread (cores) | load gen (cores) | other processes (cores) | main thread waiting for a CPU, ms/s (worst second) | slowest second ÷ median second | max event-loop delay ms |')
    rows.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    const row = (label, m, r) => `| ${label} | ${f(m.seconds, 1)} | ${f(m.rps)} | ${r} | ${f(m.p50Ms, 3)} | ${f(m.p99Ms, 3)} | ${f(m.cpuUsPerRedirect, 2)} | ${f(m.mainThreadCpuUsPerRedirect, 2)} | ${f(m.serverCpuUtil, 2)} | ${f(m.mainThreadCpuUtil, 2)} | ${f(m.loadgenCpuUtil, 2)} | ${f(Math.max(0, m.otherCpuUtil), 2)} | ${f(m.mainThreadWaitMsPerS)} (${f(m.mainThreadWaitMaxMsPerS)}) | ${f(ratio(m.slowestSecond, m.medianSecond), 2)} | ${f(m.eldMaxMs, 1)} |`
    rows.push(row('OFF (CountingSink), both rounds', offM, '1.00×'))
    rows.push(row('  OFF round A (before ON)', offRoundA, `${f(ratio(offRoundA.rps, offM.rps), 2)}×`))
    rows.push(row('  OFF round B (after ON)', offRoundB, `${f(ratio(offRoundB.rps, offM.rps), 2)}×`))
    rows.push(row('**ON** (embedded ClickHouse)', onRun, `**${f(q10, 3)}×**`))

    const ing = []
    ing.push('| ingest ON | value |')
    ing.push('|---|---:|')
    ing.push(`| rows inserted/s during the window | ${f(onRun.insertedPerS)} (redirects/s ${f(onRun.serverRedirectsPerS)}) |`)
    ing.push(`| CPU µs/redirect until its rows were inserted (window + drain): process / main thread | ${f(onRun.cpuUsPerRedirectInclDrain, 2)} / ${f(onRun.mainThreadCpuUsPerRedirectInclDrain, 2)} |`)
    ing.push(`| inserts in the window / rows per insert p50, max | ${f(onRun.inserts)} / ${f(onRun.insertBatchRows.p50)}, ${f(onRun.insertBatchRows.max)} |`)
    ing.push(`| insert latency ms p50 / p90 / max | ${f(onRun.insertLatencyMs.p50, 1)} / ${f(onRun.insertLatencyMs.p90, 1)} / ${f(onRun.insertLatencyMs.max, 1)} |`)
    ing.push(`| queued rows (spool, not yet acknowledged): max / at the end of the load | ${f(onRun.maxQueuedRows)} / ${f(onRun.queuedRowsAtEnd)} |`)
    ing.push(`| queue trend over the window (least squares) | ${f(onRun.queueSlopeRowsPerS, 1)} rows/s (${f(onRun.queueSlopeRowsPerS * onRun.seconds)} rows over ${f(onRun.seconds)} s) |`)
    ing.push(`| spool bytes max (segment files, acked frames included until a segment rolls) | ${mb(onRun.maxSpoolBytes)} MB |`)
    ing.push(`| drain after the load stopped | ${f(loss.drainMs)} ms |`)
    ing.push(`| insert failures / retries / shed / spool write errors | ${onRun.insertFailures} / ${onRun.spoolRetries} / ${onRun.shed} / ${onRun.spoolWriteErrors} |`)
    ing.push(`| 302s answered (redirects − expired, warm-up and probe included) | ${f(loss.expected)} |`)
    ing.push(`| rows in click_observations / distinct obs_id / distinct message_id | ${f(loss.rowsInClickHouse)} / ${f(loss.distinctObsIds)} / ${f(loss.distinctMessages)} |`)
    ing.push(`| lost / duplicated | **${f(loss.lost)}** / **${f(loss.duplicates)}** |`)

    // Spool depth over time: every second, compactly (and every point in the JSON).
    const ser = []
    ser.push('| t s | redirects/s | inserted/s | inserts | queued rows | spool MB | max loop delay ms | server cores (main thread) | main thread waiting for a CPU ms |')
    ser.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    const step = Math.max(1, Math.ceil(onRun.series.length / 30))
    onRun.series.forEach((p, i) => {
      if (i % step !== 0 && i !== onRun.series.length - 1) return
      ser.push(`| ${f(p.t, 1)} | ${f(p.redirectsPerS)} | ${f(p.insertedPerS)} | ${p.inserts} | ${f(p.queuedRows)} | ${mb(p.spoolBytes)} | ${f(p.eldMaxMs, 1)} | ${f(p.serverCores, 2)} (${f(p.mainThreadCores, 2)}) | ${f(p.mainWaitMsPerS)} |`)
    })

    const targets = []
    const target = (name, verdict, text) => { targets.push({ target: name, verdict, met: verdict === 'met', detail: text }) }
    // 1. Throughput. A ratio below 0.9 is proven only if the ON server's main thread set its
    // own pace (≥ 0.85 core busy); a ratio above only if the OFF one did (see redirect.mjs).
    const PACE = 0.85
    // When the throughput ratio is inconclusive, the redirect thread's own CPU time per
    // redirect decides: it is the thread's service time, so OFF ÷ ON is the share of its
    // OFF capacity it keeps with ingest ON, given a core of its own (a starved thread
    // batches more requests per wake-up, which makes this, if anything, kind to ON).
    const capacity = ratio(offM.mainThreadCpuUsPerRedirect, onRun.mainThreadCpuUsPerRedirect)
    {
      let verdict
      let why = ''
      if (q10 >= 0.9) {
        verdict = offM.mainThreadCpuUtil >= PACE ? 'met' : 'inconclusive'
        if (verdict === 'inconclusive') why = ` (throughput inconclusive: with ingest OFF the server's main thread used only ${f(offM.mainThreadCpuUtil, 2)} core — load generator ${f(offM.loadgenCpuUtil, 2)}, other processes ${f(Math.max(0, offM.otherCpuUtil), 2)} — so the OFF peak is higher than measured)`
      } else {
        verdict = onRun.mainThreadCpuUtil >= PACE ? 'not met' : 'inconclusive'
        if (verdict === 'inconclusive') why = ` (throughput inconclusive: with ingest ON the main thread used only ${f(onRun.mainThreadCpuUtil, 2)} core; the process used ${f(onRun.serverCpuUtil, 2)} (ClickHouse threads), the load generator ${f(onRun.loadgenCpuUtil, 2)}, other processes ${f(Math.max(0, onRun.otherCpuUtil), 2)} of ${cpus().length} cores — the machine, not the redirect path, set the pace)`
      }
      if (verdict === 'inconclusive' && Number.isFinite(capacity)) {
        if (capacity < 0.85) verdict = 'not met'
        else if (capacity >= 0.95) verdict = 'met'
        why += `; decided by the redirect thread's CPU per redirect: with ingest ON it keeps ${f(capacity, 2)}× of its OFF capacity` + (verdict === 'inconclusive' ? ' (within the ±5 % margin of 0.90)' : '')
      }
      target('ingest costs the redirect path ≤ 10 % throughput (ON ÷ OFF ≥ 0.90)', verdict,
        `${f(onRun.rps)} vs ${f(offM.rps)} redirects/s = ${f(q10, 3)}×; CPU per redirect ${f(onRun.cpuUsPerRedirect, 2)} vs ${f(offM.cpuUsPerRedirect, 2)} µs = ${f(cpuQ, 2)}× for the process, ${f(onRun.mainThreadCpuUsPerRedirect, 2)} vs ${f(offM.mainThreadCpuUsPerRedirect, 2)} µs = ${f(mainQ, 2)}× on the main (redirect) thread` + why)
    }
    // 2. Keeps up, spool bounded.
    {
      const rate = onRun.serverRedirectsPerS
      const growth = onRun.queueSlopeRowsPerS * onRun.seconds
      // Bounded: the queue's trend over the window adds up to less than 2 s of traffic
      // (the batching sawtooth alone spans about batch-max-ms of it), nothing was shed, and
      // the queue emptied within 10 s of the load stopping.
      const bound = 2 * rate
      const kept = growth <= bound && onRun.shed === 0 && loss.drainMs <= 10_000
      const short = S.onSeconds < TARGET_SECONDS && kept
      const verdict = kept ? (short ? 'inconclusive' : 'met') : 'not met'
      target(`ingest keeps up with the peak redirect rate for ${TARGET_SECONDS} s, spool bounded`, verdict,
        `${f(onRun.seconds, 1)} s at ${f(rate)} redirects/s: inserted ${f(onRun.insertedPerS)} rows/s (${f(ratio(onRun.insertedPerS, rate) * 100, 1)} %), queue max ${f(onRun.maxQueuedRows)} rows (${f(onRun.maxQueuedRows / rate, 2)} s of traffic), trend ${f(onRun.queueSlopeRowsPerS, 1)} rows/s = ${f(growth)} rows over the window (bound ${f(bound)}: 2 s of traffic), shed ${onRun.shed}, drained ${f(loss.drainMs)} ms after the load stopped` +
        (short ? ` (inconclusive: the window was ${S.onSeconds} s, the target asks ${TARGET_SECONDS} s)` : ''))
    }
    // 3. Zero loss.
    {
      const ok = loss.lost === 0 && loss.duplicates === 0 && loss.shed === 0 && loss.ringDropped === 0 && loss.rowsOfSid === loss.rowsInClickHouse && loss.rowsWithIntactFields === loss.rowsInClickHouse && tsOk && loss.distinctMessages === Math.min(S.tokens, loss.expected)
      target('zero loss (rows in click_observations = 302s answered)', ok ? 'met' : 'not met',
        `${f(loss.expected)} 302s answered (${f(loss.redirects)} redirects − ${f(loss.expired)} expired), ${f(loss.rowsInClickHouse)} rows stored: lost ${f(loss.lost)}, duplicated ${f(loss.duplicates)}; ring dropped ${loss.ringDropped}, shed ${loss.shed}; ${f(loss.distinctMessages)} of ${S.tokens} message ids, ${f(loss.rowsWithIntactFields)} rows with every checked field intact, ts within the run: ${tsOk ? 'yes' : 'NO'}`)
    }
    // 4. A flush does not stall redirects (issue 3; the bench's own criterion).
    {
      const ok = onRun.eldMaxMs <= offM.eldMaxMs + 10
      target('a flush does not stall redirects (max event-loop delay ON ≤ OFF + 10 ms; bench criterion)', ok ? 'met' : 'not met',
        `max event-loop delay ON ${f(onRun.eldMaxMs, 1)} ms vs OFF ${f(offM.eldMaxMs, 1)} ms (beyond the 10 ms monitor interval); worst per-second p99 ON ${f(onRun.eldP99MaxMs, 1)} ms; slowest second ON ${f(onRun.slowestSecond)} redirects vs median ${f(onRun.medianSecond)}; wrk max latency ON ${f(onRun.maxMs, 1)} ms vs OFF ${f(Math.max(offRoundA.maxMs, offRoundB.maxMs), 1)} ms; the redirect thread waited for a CPU ${f(onRun.mainThreadWaitMsPerS)} ms/s ON (worst second ${f(onRun.mainThreadWaitMaxMsPerS)}) vs ${f(offM.mainThreadWaitMsPerS)} ms/s OFF (worst ${f(offM.mainThreadWaitMaxMsPerS)})`)
    }

    const notes = []
    if (Math.max(onRun.otherCpuUtil, offM.otherCpuUtil) > 0.15) notes.push(`Other processes used up to ${f(Math.max(onRun.otherCpuUtil, offM.otherCpuUtil), 2)} cores during the measured windows (of ${cpus().length}): absolute numbers are disturbed.`)
    if (ratio(Math.abs(offRoundA.rps - offRoundB.rps), offM.rps) > 0.1) notes.push(`The two OFF rounds differ by ${f(ratio(Math.abs(offRoundA.rps - offRoundB.rps), offM.rps) * 100)} %: the machine drifted during the run; read the ON ÷ OFF ratio with that margin.`)
    notes.push(`With ingest ON the server process also runs the embedded ClickHouse (chdb) threads: "CPU µs/redirect (process)" includes inserts, merges and the control-plane poll; "main thread" is the redirect thread alone (hand-off, JSON rows, spool writes, batch assembly). On ${cpus().length} cores those threads compete with the load generator.`)
    notes.push('Event-loop delay: perf_hooks.monitorEventLoopDelay (10 ms timer) in the server, reset every second; shown is the delay beyond the timer interval. "Waiting for a CPU" is the redirect thread\'s run-queue wait (/proc schedstat): a loop delay with a high wait is CPU starvation by other threads (ClickHouse, the load generator, other processes), not blocking code on the redirect thread.')

    const title = `## Ingest benchmark — ${S.tool}, ${S.connections} connections, ${S.tokens} hot tokens, ON ${S.onSeconds} s vs OFF ${offA} + ${offB} s, ${started.toISOString()}`
    const md = [title, '', rows.join('\n'), '', ing.join('\n'), '', `### Spool depth over time (ON, every ${step === 1 ? '' : step + ' '}second${step === 1 ? '' : 's'})`, '', ser.join('\n'), '', '### Targets (DESIGN.md / issue 3)', '',
      ...targets.map(t => `- ${t.verdict.toUpperCase()}: ${t.target} — ${t.detail}`), '',
      ...notes.map(n => `> ${n}`)].join('\n')

    const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}`, loadavgAtEnd: loadavg() }
    const json = {
      benchmark: 'ingest',
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      settings: { ...S, offRoundSeconds: [offA, offB], headers: HEADERS, destination: DESTINATION, tokenChars: tokens[0].length, engine: onConfig, wrkVersion: S.tool === 'wrk' ? spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] : undefined, autocannonVersion: require('autocannon/package.json').version },
      machine,
      summary: {
        onRedirectsPerS: onRun.rps,
        offRedirectsPerS: offM.rps,
        onOffRatio: q10,
        redirectThreadCapacityOnOff: capacity,
        onCpuUsPerRedirect: onRun.cpuUsPerRedirect,
        offCpuUsPerRedirect: offM.cpuUsPerRedirect,
        onMainThreadCpuUsPerRedirect: onRun.mainThreadCpuUsPerRedirect,
        onCpuUsPerRedirectInclDrain: onRun.cpuUsPerRedirectInclDrain,
        offMainThreadCpuUsPerRedirect: offM.mainThreadCpuUsPerRedirect,
        rowsInsertedPerS: onRun.insertedPerS,
        maxQueuedRows: onRun.maxQueuedRows,
        queueSlopeRowsPerS: onRun.queueSlopeRowsPerS,
        maxSpoolBytes: onRun.maxSpoolBytes,
        onEventLoopDelayMaxMs: onRun.eldMaxMs,
        offEventLoopDelayMaxMs: offM.eldMaxMs,
        drainMs: loss.drainMs,
        expectedRows: loss.expected,
        rowsInClickHouse: loss.rowsInClickHouse,
        lost: loss.lost,
        duplicates: loss.duplicates,
        onStartupMs: startupMs
      },
      off: { combined: offM, roundA: offRoundA, roundB: offRoundB },
      on: onRun,
      loss,
      onStop,
      targets,
      notes,
      markdown: md
    }
    mkdirSync(RESULTS, { recursive: true })
    const stamp = started.toISOString().replace(/[:.]/g, '-')
    const file = join(RESULTS, `ingest-${S.tool}-${stamp}.json`)
    writeFileSync(file, JSON.stringify(json, null, 2) + '\n')
    writeFileSync(join(RESULTS, 'ingest-latest.json'), JSON.stringify(json, null, 2) + '\n')
    console.log(md)
    console.log(`\nwrote ${file.slice(ROOT.length)} and bench/results/ingest-latest.json`)
  } finally {
    clearTimeout(watchdog)
    await Promise.allSettled([on, off].filter(Boolean).map(s => s.stop(5000)))
    killAll()
  }
}

main().catch((err) => {
  console.error(err.benchFailure ? `\nBENCH FAILED: ${err.message}` : err)
  killAll()
  process.exit(1)
})
