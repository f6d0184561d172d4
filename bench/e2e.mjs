#!/usr/bin/env node
// End-to-end benchmark: browser-like clicks at a steady rate through the real engine
// (embedded ClickHouse, ingest, promotion window, classification, webhook outbox) to a
// webhook receiver in this process, and the latency from each click's 302 to the arrival
// of its signed `message.clicked` webhook. DESIGN.md target: p50 ≤ promotion window + 100 ms.
// See bench/README.md.
//
// Needs dist/ (npx tsc -p .). The engine runs in a child process (bench/lib/server-child.mjs,
// kind 'clicktrail-e2e') on free 127.0.0.1 ports; the clicks and the receiver run here, so
// both ends of every latency are read from this process's clock.
import { fork } from 'node:child_process'
import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import http from 'node:http'
import { Webhook } from 'standardwebhooks'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const DIST = new URL('../dist/', import.meta.url)
const CHILD = fileURLToPath(new URL('./lib/server-child.mjs', import.meta.url))
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url))
const HOST = '127.0.0.1' // every socket of the bench is on loopback

// ---------------------------------------------------------------- settings

function envInt (name, dflt, min, max) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return dflt
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new Error(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`)
  return Number(raw)
}
function envOpt (name, re, what) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return undefined
  if (!re.test(raw)) throw new Error(`${name} must be ${what}, got "${raw}"`)
  return raw
}

const PRODUCT_WINDOW_MS = 15_000 // the engine's default --promotion-window-ms
const S = {
  windowMs: envInt('BENCH_WINDOW_MS', 2000, 0, 600_000), // 2 s keeps a default run short
  rate: envInt('BENCH_RATE', 200, 1, 20_000), // clicks per second
  seconds: envInt('BENCH_DURATION', 20, 1, 3600),
  drainSeconds: envInt('BENCH_DRAIN', 30, 1, 3600), // after the last click's window, waiting for missing webhooks
  dupWaitSeconds: envInt('BENCH_DUP_WAIT', 3, 0, 600), // listening on after the last expected webhook, for duplicates
  connections: envInt('BENCH_CONNECTIONS', 32, 1, 1000), // keep-alive connections of the click sender
  machineEvents: (process.env.BENCH_MACHINE_EVENTS ?? '0') !== '0', // webhook include_machine_events
  webhookConcurrency: envOpt('BENCH_WEBHOOK_CONCURRENCY', /^\d+$/, 'a whole number'),
  webhookRetrySchedule: envOpt('BENCH_WEBHOOK_RETRY_SCHEDULE', /^[\w,]+$/, 'a duration list like 1s,5s,30s'),
  batchMaxMs: envOpt('BENCH_BATCH_MAX_MS', /^\d+$/, 'a whole number'),
  batchMaxRows: envOpt('BENCH_BATCH_MAX_ROWS', /^\d+$/, 'a whole number'),
  poolThreads: envOpt('BENCH_POOL_THREADS', /^\d+$/, 'a whole number'),
  sampleMs: 1000
}
const TOTAL = S.rate * S.seconds
if (TOTAL > 2_000_000) throw new Error('BENCH_RATE × BENCH_DURATION must stay within 2 000 000 clicks')

const SID = 'e2e'
const HOST_HEADER = `p${SID}.t.localhost` // tracking base http://t.localhost:8080 (the default)

// ---------------------------------------------------------------- process hygiene

const live = new Set() // every child process still running
let tmp // temp dir: the engine's data dir (embedded ClickHouse, spool, outbox)
let receiverServer
let clickAgent

function killAll () {
  for (const cp of live) { try { cp.kill('SIGKILL') } catch {} }
  live.clear()
  try { clickAgent?.destroy() } catch {}
  try { receiverServer?.closeAllConnections?.(); receiverServer?.close() } catch {}
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

// ---------------------------------------------------------------- the engine, in a child

class EngineChild {
  constructor (env) {
    this.name = 'clicktrail-e2e'
    this.waiters = new Map()
    this.nextId = 1
    this.cp = fork(CHILD, ['clicktrail-e2e'], { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    live.add(this.cp)
    this.exited = new Promise(resolve => this.cp.once('exit', (code, signal) => {
      live.delete(this.cp)
      this.exitedWith = { code, signal }
      resolve({ code, signal })
    }))
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('engine: not ready after 120 s')), 120_000)
      this.cp.on('message', (m) => {
        if (m.type === 'ready') { clearTimeout(timer); this.port = m.port; resolve(m.port) } else if (m.type === 'error') { clearTimeout(timer); reject(new Error(`engine failed to start: ${m.message}`)) } else if (m.type === 'sample' || m.type === 'reply') {
          const w = this.waiters.get(m.id)
          if (w !== undefined) { this.waiters.delete(m.id); w(m) }
        }
      })
      this.exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`engine exited (code ${code}, signal ${signal})`)) })
    })
    this.ready.catch(() => {})
  }

  #request (msg, timeoutMs) {
    const id = this.nextId++
    if (this.exitedWith !== undefined || !this.cp.connected) return Promise.reject(Object.assign(new Error(`the engine process is gone (${JSON.stringify(this.exitedWith ?? 'IPC closed')})`), { benchFailure: true }))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiters.delete(id); reject(new Error(`engine: no answer to ${msg.type} within ${timeoutMs / 1000} s`)) }, timeoutMs)
      this.waiters.set(id, (m) => { clearTimeout(timer); resolve(m) })
      this.cp.send({ ...msg, id })
    })
  }

  async sample () {
    const m = await this.#request({ type: 'sample' }, 10_000)
    return { at: performance.now(), cpuUs: m.cpu.user + m.cpu.system, stats: m.stats, rss: m.rss }
  }

  async call (type, payload = {}, timeoutMs = 60_000) {
    const m = await this.#request({ type, ...payload }, timeoutMs)
    if (!m.ok) fail(`engine: ${type} failed: ${m.error}`)
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

// ---------------------------------------------------------------- HTTP helpers

/** JSON request to the Team API on loopback. */
function apiRequest (port, method, path, token, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const headers = { authorization: `Bearer ${token}` }
    if (data !== undefined) { headers['content-type'] = 'application/json'; headers['content-length'] = String(data.length) }
    const req = http.request({ host: HOST, port, method, path, headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json
        try { json = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode, body: json ?? text })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)))
    req.on('error', reject)
    req.end(data)
  })
}

/**
 * Browser navigation headers of a current desktop Chrome following a link from webmail:
 * the Chrome major is the one current at the click time by the classifier's own release
 * train estimate, so the stale-Chrome signal does not fire; Fetch Metadata with
 * Sec-Fetch-User, client hints, Accept-Language and an HTML Accept are all present.
 */
function chromeHeaders (major) {
  return {
    Host: HOST_HEADER,
    Connection: 'keep-alive',
    'sec-ch-ua': `"Chromium";v="${major}", "Google Chrome";v="${major}", "Not/A)Brand";v="24"`,
    'sec-ch-ua-mobile': '?0',
    'sec-ch-ua-platform': '"Windows"',
    'Upgrade-Insecure-Requests': '1',
    'User-Agent': `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${major}.0.0.0 Safari/537.36`,
    Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7',
    'Sec-Fetch-Site': 'cross-site',
    'Sec-Fetch-Mode': 'navigate',
    'Sec-Fetch-User': '?1',
    'Sec-Fetch-Dest': 'document',
    Referer: 'https://mail.example.net/',
    'Accept-Encoding': 'gzip, deflate, br, zstd',
    'Accept-Language': 'en-US,en;q=0.9,de;q=0.8',
    Priority: 'u=0, i'
  }
}

/** Busy and stolen CPU time of the whole machine so far, in µs (all cores; /proc/stat, Linux only). */
function machineCpuUs () {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
    return { busy: (user + nice + system + irq + softirq + (steal ?? 0)) * 1e6 / 100, steal: (steal ?? 0) * 1e6 / 100 }
  } catch {
    return { busy: NaN, steal: NaN }
  }
}

// ---------------------------------------------------------------- statistics

const round = (x, d = 1) => Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x
const f = (x, digits = 0) => Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : (x === Infinity ? '∞' : 'n/a')
const log = (...a) => { console.error(...a) }

/** Nearest-rank percentile of a sorted array (Infinity stands for "never arrived"). */
function pct (sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p / 100) - 1))]
}
function dist (values) {
  const v = values.slice().sort((a, b) => a - b)
  const finite = v.filter(Number.isFinite)
  return {
    n: v.length,
    min: round(v[0]),
    p50: round(pct(v, 50)),
    p90: round(pct(v, 90)),
    p99: round(pct(v, 99)),
    max: round(v[v.length - 1]),
    mean: finite.length ? round(finite.reduce((a, b) => a + b, 0) / finite.length) : NaN
  }
}

// ---------------------------------------------------------------- main

async function main () {
  if (!existsSync(new URL('engine.js', DIST))) throw new Error('dist/ is missing: build first (npx tsc -p .)')
  const started = new Date()
  tmp = mkdtempSync(join(tmpdir(), 'clicktrail-bench-e2e-'))
  const budgetS = 180 + S.seconds + S.windowMs / 1000 + S.drainSeconds + S.dupWaitSeconds
  const watchdog = setTimeout(() => { console.error(`bench: still running after ${Math.round(budgetS)} s, giving up`); killAll(); process.exit(2) }, budgetS * 1000)
  watchdog.unref()

  const { KeyRing, parseSecrets } = await import(new URL('token/keys.js', DIST))
  const { mintToken } = await import(new URL('token/codec.js', DIST))
  const { chromeMajorAt } = await import(new URL('classify/classify.js', DIST))
  const secrets = `1:${randomBytes(32).toString('base64')}`
  const keyRing = new KeyRing(parseSecrets(secrets))
  const major = chromeMajorAt(Date.now()) - 1
  const HEADERS = chromeHeaders(major)

  // ------------------------------------------------------------ the receiver
  // One record per click; the webhook's message_id finds it.
  const clicks = new Array(TOTAL)
  const byMessage = new Map()
  const rx = { closed: false, afterDrain: 0, posts: 0, verified: 0, matched: 0, duplicates: 0, unmatched: 0, badSignature: 0, badPayload: 0, extraEvents: 0, notCounting: 0, notFirst: 0, errors: [] }
  const seenIds = new Set()
  let verifier // standardwebhooks verifier, set once the webhook exists
  const note = (what) => { if (rx.errors.length < 20) rx.errors.push(what) }
  receiverServer = http.createServer((req, res) => {
    const chunks = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      const atPerf = performance.now()
      const atWall = Date.now()
      res.writeHead(200, { 'content-type': 'text/plain' })
      res.end('ok')
      rx.posts++
      const body = Buffer.concat(chunks).toString('utf8')
      const id = req.headers['webhook-id']
      if (seenIds.has(id)) { rx.duplicates++; note(`duplicate webhook-id ${id}`); return }
      seenIds.add(id)
      try {
        verifier.verify(body, { 'webhook-id': id, 'webhook-timestamp': req.headers['webhook-timestamp'], 'webhook-signature': req.headers['webhook-signature'] })
        rx.verified++
      } catch (err) {
        rx.badSignature++
        note(`signature of ${id} did not verify: ${err.message}`)
      }
      let ev
      try { ev = JSON.parse(body) } catch { rx.badPayload++; note(`unparsable body of ${id}`); return }
      const c = byMessage.get(ev?.data?.message_id)
      if (c === undefined) { rx.unmatched++; note(`webhook ${id} for an unknown message ${ev?.data?.message_id}`); return }
      if (ev.event !== 'message.clicked' || ev.id !== id || ev.data.destination_url !== c.url) { rx.badPayload++; note(`payload of ${id} does not match its click: ${body.slice(0, 300)}`) }
      if (rx.closed) { rx.afterDrain++; return } // the drain is over: reported apart, not as received
      if (c.webhookAtPerf !== undefined) { rx.extraEvents++; note(`second event ${id} for message ${c.messageId}`); return }
      if (ev.data.bot?.counts_for_metrics !== true) rx.notCounting++
      if (ev.data.first_click !== true) rx.notFirst++
      rx.matched++
      c.webhookAtPerf = atPerf
      c.webhookAtWall = atWall
      c.eventCreatedWall = Date.parse(ev.timestamp)
      c.eventId = id
    })
  })
  receiverServer.on('clientError', (err, socket) => { note(`receiver client error: ${err.message}`); socket.destroy() })
  await new Promise((resolve, reject) => { receiverServer.once('error', reject); receiverServer.listen(0, HOST, resolve) })
  const receiverUrl = `http://${HOST}:${receiverServer.address().port}/hook`

  // ------------------------------------------------------------ the engine
  const env = { BENCH_SECRETS: secrets, BENCH_DATA_DIR: join(tmp, 'data'), BENCH_SID: SID, BENCH_WINDOW_MS: String(S.windowMs) }
  if (S.webhookConcurrency) env.BENCH_WEBHOOK_CONCURRENCY = S.webhookConcurrency
  if (S.webhookRetrySchedule) env.BENCH_WEBHOOK_RETRY_SCHEDULE = S.webhookRetrySchedule
  if (S.batchMaxMs) env.BENCH_BATCH_MAX_MS = S.batchMaxMs
  if (S.batchMaxRows) env.BENCH_BATCH_MAX_ROWS = S.batchMaxRows
  if (S.poolThreads) env.BENCH_POOL_THREADS = S.poolThreads
  mkdirSync(env.BENCH_DATA_DIR)
  const t0 = performance.now()
  const engine = new EngineChild(env)
  let engineStop
  try {
    await engine.ready
    const info = await engine.call('info')
    const startupMs = performance.now() - t0
    if (info.settings.promotionWindowMs !== S.windowMs) fail(`the engine runs a ${info.settings.promotionWindowMs} ms window, not ${S.windowMs}`)
    log(`engine: pid ${engine.cp.pid}, redirect port ${engine.port}, Team API port ${info.apiPort}, ${info.settings.storage} ClickHouse, started in ${f(startupMs)} ms`)
    log(`engine settings: ${JSON.stringify(info.settings)}`)

    // The webhook, through the Team API with the bootstrapped team token.
    const created = await apiRequest(info.apiPort, 'POST', `/v1/projects/${info.projectId}/webhooks`, info.token, { url: receiverUrl, events: ['message.clicked'], include_machine_events: S.machineEvents })
    if (created.status !== 201 || typeof created.body?.secret !== 'string') fail(`creating the webhook answered ${created.status}: ${JSON.stringify(created.body)}`)
    const webhook = created.body
    verifier = new Webhook(webhook.secret)
    log(`webhook ${webhook.webhook_id} → ${webhook.url} (include_machine_events ${webhook.include_machine_events})`)

    // ---------------------------------------------------------- clicks
    // Each click its own message, token and destination; sent an hour ago, so the
    // time-since-send signals stay quiet.
    const sentAt = Math.floor(Date.now() / 1000) - 3600
    for (let i = 0; i < TOTAL; i++) {
      const messageId = randomUUID()
      const url = `https://shop.example.com/p/${i}?utm_source=newsletter&utm_medium=email&utm_campaign=e2e&c=${i}`
      const token = mintToken(keyRing, { sid: SID, messageId, linkIndex: i % 8, sentAt, url })
      const c = { i, messageId, url, path: `/c/${token}` }
      clicks[i] = c
      byMessage.set(messageId, c)
    }
    log(`minted ${f(TOTAL)} tokens (${clicks[0].path.length - 3} chars each); Chrome ${major} headers; sending ${f(S.rate)} clicks/s for ${S.seconds} s, window ${S.windowMs} ms`)

    clickAgent = new http.Agent({ keepAlive: true, maxSockets: S.connections })
    const redirectErrors = []
    let inFlight = 0
    let maxInFlight = 0
    const send = (c) => {
      c.sentPerf = performance.now()
      inFlight++
      if (inFlight > maxInFlight) maxInFlight = inFlight
      const req = http.request({ host: HOST, port: engine.port, path: c.path, headers: HEADERS, agent: clickAgent, timeout: 10_000 }, (res) => {
        c.redirectAtPerf = performance.now()
        c.redirectAtWall = Date.now()
        c.status = res.statusCode
        if (res.statusCode !== 302 || res.headers.location !== c.url) { if (redirectErrors.length < 20) redirectErrors.push(`click ${c.i}: ${res.statusCode} ${res.headers.location}`) }
        res.resume()
        res.on('end', () => { inFlight-- })
      })
      req.on('timeout', () => req.destroy(new Error('click timed out')))
      req.on('error', (err) => { inFlight--; c.status = 0; if (redirectErrors.length < 20) redirectErrors.push(`click ${c.i}: ${err.message}`) })
      req.end()
    }

    // Engine and bench-process samples once a second, from the first click until the end.
    const series = []
    const benchEld = monitorEventLoopDelay({ resolution: 10 })
    benchEld.enable()
    let sampling = true
    let prev = await engine.sample()
    let prevMachine = machineCpuUs()
    let prevSelf = process.cpuUsage()
    const sampleT0 = prev.at
    const sampler = (async () => {
      while (sampling) {
        await sleep(S.sampleMs)
        if (!sampling) break
        const s = await engine.sample().catch(() => undefined)
        if (s === undefined) break
        const dt = (s.at - prev.at) / 1000
        const machine = machineCpuUs()
        const self = process.cpuUsage()
        const engineCores = (s.cpuUs - prev.cpuUs) / 1e6 / dt
        const benchCores = (self.user + self.system - prevSelf.user - prevSelf.system) / 1e6 / dt
        const machineCores = (machine.busy - prevMachine.busy) / 1e6 / dt
        series.push({
          t: round((s.at - sampleT0) / 1000, 1),
          redirectsPerS: Math.round((s.stats.redirects - prev.stats.redirects) / dt),
          insertedPerS: Math.round((s.stats.ingest_inserted - prev.stats.ingest_inserted) / dt),
          promotedPerS: Math.round((s.stats.promoter_promoted - prev.stats.promoter_promoted) / dt),
          deliveredPerS: Math.round((s.stats.dispatcher_delivered - prev.stats.dispatcher_delivered) / dt),
          ingestQueued: s.stats.queuedRows,
          promoterPending: s.stats.promoterPending,
          dispatcherPending: s.stats.dispatcherPending,
          receivedTotal: rx.matched,
          engineCores: round(engineCores, 2),
          benchCores: round(benchCores, 2),
          otherCores: round(Math.max(0, machineCores - engineCores - benchCores), 2),
          stealCores: round((machine.steal - prevMachine.steal) / 1e6 / dt, 2),
          engineEldMaxMs: round(s.stats.eldMaxMs, 1),
          benchEldMaxMs: round(Math.max(0, benchEld.max / 1e6 - 10), 1)
        })
        benchEld.reset()
        prev = s
        prevMachine = machine
        prevSelf = self
      }
    })()

    const cpu0 = process.cpuUsage()
    const interval = 1000 / S.rate
    const sendT0 = performance.now() + 20
    let next = 0
    let maxLagMs = 0
    while (next < TOTAL) {
      const now = performance.now()
      while (next < TOTAL && sendT0 + next * interval <= now) {
        const lag = now - (sendT0 + next * interval)
        if (lag > maxLagMs) maxLagMs = lag
        send(clicks[next++])
      }
      await sleep(1)
    }
    const sendSeconds = (performance.now() - sendT0) / 1000
    // Every 302 back (or failed).
    const t302 = performance.now()
    while (clicks.some(c => c.status === undefined) && performance.now() - t302 < 15_000) await sleep(10)
    const answered = clicks.filter(c => c.status === 302 && c.redirectAtPerf !== undefined).length
    log(`sent ${f(TOTAL)} clicks in ${f(sendSeconds, 2)} s (${f(TOTAL / sendSeconds)}/s; pacing lag max ${f(maxLagMs, 1)} ms, ${maxInFlight} in flight at most); ${f(answered)} 302s`)
    if (answered !== TOTAL) fail(`${TOTAL - answered} clicks did not get their 302: ${redirectErrors.slice(0, 5).join('; ')}`)

    // ---------------------------------------------------------- drain
    const lastRedirect = Math.max(...clicks.map(c => c.redirectAtPerf))
    const deadline = lastRedirect + S.windowMs + S.drainSeconds * 1000
    let lastLog = performance.now()
    while (rx.matched < TOTAL && performance.now() < deadline) {
      await sleep(100)
      if (performance.now() - lastLog >= 5000) { log(`waiting for webhooks: ${f(rx.matched)} of ${f(TOTAL)}`); lastLog = performance.now() }
    }
    const allBy = performance.now()
    rx.closed = true // what arrives from now on is counted apart (duplicates still count as such)
    if (rx.matched === TOTAL && S.dupWaitSeconds > 0) await sleep(S.dupWaitSeconds * 1000) // late duplicates
    sampling = false
    await sampler
    benchEld.disable()
    const benchCpu = process.cpuUsage(cpu0)
    const drainMs = allBy - lastRedirect
    log(`received ${f(rx.matched)} of ${f(TOTAL)} webhooks (${f(rx.posts)} POSTs) ${f(drainMs)} ms after the last 302`)

    // ---------------------------------------------------------- the engine's own view
    await engine.call('flush') // delivery records into ClickHouse
    const final = await engine.sample()
    const q = async (sql) => (await engine.call('query', { sql }))
    const [clickRows] = await q(`SELECT count() AS rows, uniqExact(obs_id) AS ids, countIf(counts_for_metrics) AS counting, countIf(first_click) AS first,
      quantileExact(0.5)(toUnixTimestamp64Milli(promoted_at) - toUnixTimestamp64Milli(ts)) AS promoted_p50_ms,
      quantileExact(0.99)(toUnixTimestamp64Milli(promoted_at) - toUnixTimestamp64Milli(ts)) AS promoted_p99_ms,
      max(toUnixTimestamp64Milli(promoted_at) - toUnixTimestamp64Milli(ts)) AS promoted_max_ms FROM clicks WHERE sid = '${SID}'`)
    // Per click: when the engine stored it in `clicks` (promoted_at, ClickHouse's now64 at insert).
    for (const r of await q(`SELECT toString(message_id) AS m, toUnixTimestamp64Milli(ts) AS ts, toUnixTimestamp64Milli(promoted_at) AS p FROM clicks WHERE sid = '${SID}'`)) {
      const c = byMessage.get(r.m)
      if (c !== undefined) { c.clickTs = Number(r.ts); c.promotedAtWall = Number(r.p) }
    }
    const reasons = await q(`SELECT arrayJoin(reason_codes) AS code, count() AS n FROM clicks WHERE sid = '${SID}' GROUP BY code ORDER BY n DESC LIMIT 10`)
    const [deliveries] = await q(`SELECT count() AS attempts, countIf(ok) AS ok, uniqExact(event_id) AS events, max(attempt) AS max_attempt,
      quantileExact(0.5)(latency_ms) AS post_p50_ms, quantileExact(0.99)(latency_ms) AS post_p99_ms, max(latency_ms) AS post_max_ms FROM webhook_deliveries WHERE webhook_id = '${webhook.webhook_id}'`)
    const deliveryErrors = await q(`SELECT error, count() AS n FROM webhook_deliveries WHERE webhook_id = '${webhook.webhook_id}' AND NOT ok GROUP BY error ORDER BY n DESC LIMIT 5`)
    const num = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v)]))
    const ch = { clicks: num(clickRows), reasonCodes: reasons.map(r => ({ code: r.code, n: Number(r.n) })), deliveries: num(deliveries), deliveryErrors: deliveryErrors.map(r => ({ error: r.error, n: Number(r.n) })) }
    engineStop = await engine.stop()

    // ---------------------------------------------------------- report
    const latency = clicks.map(c => c.webhookAtPerf === undefined ? Infinity : c.webhookAtPerf - c.redirectAtPerf)
    const fromSend = clicks.map(c => c.webhookAtPerf === undefined ? Infinity : c.webhookAtPerf - c.sentPerf)
    const delivered = clicks.filter(c => c.webhookAtPerf !== undefined)
    // Stages, from wall clocks of this process, the engine and ClickHouse (one host clock, ms):
    // 302 → stored in `clicks` (ingest, window, promotion tick, classify, lookups, insert),
    // stored → event queued (the rest of the promotion batch's store), queued → received
    // (outbox, dispatcher tick, signed POST).
    const withStore = delivered.filter(c => c.promotedAtWall !== undefined)
    const storeStage = clicks.filter(c => c.promotedAtWall !== undefined).map(c => c.promotedAtWall - c.redirectAtWall)
    const queueStage = withStore.map(c => c.eventCreatedWall - c.promotedAtWall)
    const promotionStage = delivered.map(c => c.eventCreatedWall - c.redirectAtWall)
    const deliveryStage = delivered.map(c => c.webhookAtWall - c.eventCreatedWall)
    const clickTsSkew = clicks.filter(c => c.clickTs !== undefined).map(c => c.redirectAtWall - c.clickTs)
    const redirectMs = clicks.map(c => c.redirectAtPerf - c.sentPerf)
    const L = dist(latency)
    const missing = TOTAL - rx.matched
    const targetMs = S.windowMs + 100
    const met = Number.isFinite(L.p50) && L.p50 <= targetMs

    // Per second of sending: did the latency stay flat, or grow with a backlog?
    const perSecond = []
    for (let s = 0; s < S.seconds; s++) {
      const slice = latency.slice(s * S.rate, (s + 1) * S.rate)
      const d = dist(slice)
      perSecond.push({ second: s + 1, clicks: slice.length, received: slice.filter(Number.isFinite).length, p50: d.p50, p99: d.p99, max: d.max })
    }
    const peak = (k) => Math.max(0, ...series.map(p => p[k]))

    const md = []
    md.push(`## End-to-end benchmark — click → webhook, promotion window ${f(S.windowMs)} ms${S.windowMs === PRODUCT_WINDOW_MS ? ' (the product default)' : ` (product default ${f(PRODUCT_WINDOW_MS)} ms)`}, ${f(S.rate)} clicks/s for ${S.seconds} s, ${started.toISOString()}`)
    md.push('')
    md.push('| what | value |')
    md.push('|---|---:|')
    md.push(`| promotion window | **${f(S.windowMs)} ms** |`)
    md.push(`| clicks sent / 302s with the right Location | ${f(TOTAL)} / ${f(answered)} (${f(TOTAL / sendSeconds)} clicks/s achieved) |`)
    md.push(`| webhooks received (one per click, matched by message_id and destination_url) | ${f(rx.matched)} |`)
    md.push(`| duplicates (same webhook-id again) | ${f(rx.duplicates)} |`)
    md.push(`| missing after the drain (last 302 + window + ${S.drainSeconds} s) | **${f(missing)}**${rx.afterDrain > 0 ? ` (${f(rx.afterDrain)} of them arrived later, while the bench wrapped up)` : ''} |`)
    md.push(`| signatures verified with standardwebhooks / failed | ${f(rx.verified)} / ${f(rx.badSignature)} |`)
    md.push(`| other anomalies: unknown message / second event for a click / bad payload / not counting / not first_click | ${rx.unmatched} / ${rx.extraEvents} / ${rx.badPayload} / ${rx.notCounting} / ${rx.notFirst} |`)
    md.push(`| **click (302) → webhook received, ms: p50 / p90 / p99 / max** | **${f(L.p50)} / ${f(L.p90)} / ${f(L.p99)} / ${f(L.max)}** |`)
    md.push(`| latency above the window, ms: p50 / p99 | ${f(L.p50 - S.windowMs)} / ${f(L.p99 - S.windowMs)} |`)
    const P = dist(promotionStage)
    const D = dist(deliveryStage)
    const S1 = dist(storeStage)
    const S2 = dist(queueStage)
    md.push(`| stage 1: 302 → stored in \`clicks\` (ingest, window, promotion tick, classify, lookups, insert), ms: p50 / p99 / max | ${f(S1.p50)} / ${f(S1.p99)} / ${f(S1.max)} |`)
    md.push(`| stage 2: stored → event queued in the outbox, ms: p50 / p99 / max | ${f(S2.p50)} / ${f(S2.p99)} / ${f(S2.max)} |`)
    md.push(`| stage 3: queued → received (dispatcher, signed POST), ms: p50 / p99 / max | ${f(D.p50)} / ${f(D.p99)} / ${f(D.max)} |`)
    md.push(`| click sent → 302, ms: p50 / p99 / max | ${f(pct(redirectMs.slice().sort((a, b) => a - b), 50), 2)} / ${f(pct(redirectMs.slice().sort((a, b) => a - b), 99), 2)} / ${f(Math.max(...redirectMs), 1)} |`)
    md.push(`| engine: clicks stored / counting / first_click; reason codes | ${f(ch.clicks.rows)} / ${f(ch.clicks.counting)} / ${f(ch.clicks.first)}; ${ch.reasonCodes.length ? ch.reasonCodes.map(r => `${r.code} ${r.n}`).join(', ') : 'none'} |`)
    md.push(`| engine at the end: outbox pending / delivered / failed attempts / shed | ${f(final.stats.dispatcherPending)} / ${f(final.stats.dispatcher_delivered)} / ${f(final.stats.dispatcher_failedAttempts)} / ${f(final.stats.dispatcher_shed)} |`)
    md.push(`| engine: delivery attempts / ok / max attempt; POST ms p50 / p99 / max | ${f(ch.deliveries.attempts)} / ${f(ch.deliveries.ok)} / ${f(ch.deliveries.max_attempt)}; ${f(ch.deliveries.post_p50_ms)} / ${f(ch.deliveries.post_p99_ms)} / ${f(ch.deliveries.post_max_ms)} |`)
    md.push(`| engine: peak queues — ingest rows / promoter pending / webhook outbox pending | ${f(peak('ingestQueued'))} / ${f(peak('promoterPending'))} / ${f(peak('dispatcherPending'))} |`)
    md.push(`| engine settings | window ${info.settings.promotionWindowMs} ms, webhook concurrency ${info.settings.webhookConcurrency}, retry schedule ${info.settings.webhookRetrySchedule.map(ms => ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`).join(',')}, batch-max-ms ${info.settings.batchMaxMs}, pool threads ${info.settings.poolThreads} |`)
    md.push('')
    md.push('### Latency by second of sending (click → webhook, ms)')
    md.push('')
    md.push('| second | clicks | received | p50 | p99 | max |')
    md.push('|---:|---:|---:|---:|---:|---:|')
    for (const p of perSecond) md.push(`| ${p.second} | ${p.clicks} | ${p.received} | ${f(p.p50)} | ${f(p.p99)} | ${f(p.max)} |`)
    md.push('')
    md.push('### Engine every second')
    md.push('')
    md.push('| t s | redirects/s | inserted/s | promoted/s | delivered/s | ingest queued | promoter pending | outbox pending | engine cores | bench cores | other processes cores | engine loop delay ms | bench loop delay ms |')
    md.push('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    const step = Math.max(1, Math.ceil(series.length / 40))
    series.forEach((p, i) => {
      if (i % step !== 0 && i !== series.length - 1) return
      md.push(`| ${f(p.t, 1)} | ${f(p.redirectsPerS)} | ${f(p.insertedPerS)} | ${f(p.promotedPerS)} | ${f(p.deliveredPerS)} | ${f(p.ingestQueued)} | ${f(p.promoterPending)} | ${f(p.dispatcherPending)} | ${f(p.engineCores, 2)} | ${f(p.benchCores, 2)} | ${f(p.otherCores, 2)} | ${f(p.engineEldMaxMs, 1)} | ${f(p.benchEldMaxMs, 1)} |`)
    })
    md.push('')
    md.push('### Target (DESIGN.md)')
    md.push('')
    const targetLine = `${met ? 'MET' : 'NOT MET'}: click → webhook delivered p50 ≤ promotion window + 100 ms — p50 ${f(L.p50)} ms vs ${f(targetMs)} ms (window ${f(S.windowMs)} ms)` +
      (missing > 0 ? `; ${f(missing)} of ${f(TOTAL)} webhooks never arrived within the drain (counted as infinitely late)` : '') +
      (rx.duplicates > 0 ? `; ${f(rx.duplicates)} duplicate deliveries` : '') +
      (rx.badSignature > 0 ? `; ${f(rx.badSignature)} signatures failed to verify` : '')
    md.push(`- ${targetLine}`)
    md.push('')
    md.push('> Latency runs from the moment the 302 reached the click sender to the moment the receiver had read the whole webhook request, both on this process\'s monotonic clock; missing webhooks count as infinitely late in the percentiles. The stages use wall clocks of this process, the engine and ClickHouse (the payload\'s `timestamp` is when the event was queued; `clicks.promoted_at` when ClickHouse stored the click), so they carry ±1 ms. Traffic is on 127.0.0.1 only; the engine and the bench share the machine\'s ' + cpus().length + ' cores.')
    const otherMean = series.length ? series.reduce((a, p) => a + p.otherCores, 0) / series.length : NaN
    const otherMax = peak('otherCores')
    const benchEldMax = peak('benchEldMaxMs')
    if (otherMean > 0.15 || otherMax > 0.5) md.push('', `> Other processes on the machine used ${f(otherMean, 2)} cores on average (up to ${f(otherMax, 2)}) of ${cpus().length} during the run: the numbers are disturbed; read the loop-delay columns with that in mind.`)
    if (benchEldMax > 50) md.push('', `> The bench process's own event loop was late by up to ${f(benchEldMax)} ms in some second: a click's 302 or webhook may be timestamped that late (CPU starvation on a shared machine, not engine latency).`)
    if (rx.errors.length > 0 || redirectErrors.length > 0) md.push('', '> First anomalies: ' + [...redirectErrors, ...rx.errors].slice(0, 10).join('; '))
    const markdown = md.join('\n')

    const json = {
      benchmark: 'e2e',
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      settings: { ...S, productWindowMs: PRODUCT_WINDOW_MS, clicks: TOTAL, chromeMajor: major, headers: HEADERS, engine: info.settings, webhook: { webhook_id: webhook.webhook_id, url: webhook.url, include_machine_events: webhook.include_machine_events, events: webhook.events } },
      machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memGB: Math.round(totalmem() / 2 ** 30), node: process.version, platform: `${process.platform}-${process.arch}`, loadavgAtEnd: loadavg() },
      summary: {
        windowMs: S.windowMs,
        clicks: TOTAL,
        redirects302: answered,
        achievedRatePerS: TOTAL / sendSeconds,
        webhooksReceived: rx.matched,
        posts: rx.posts,
        duplicates: rx.duplicates,
        missing,
        arrivedAfterDrain: rx.afterDrain,
        signaturesFailed: rx.badSignature,
        unmatched: rx.unmatched,
        extraEvents: rx.extraEvents,
        badPayload: rx.badPayload,
        notCounting: rx.notCounting,
        notFirstClick: rx.notFirst,
        latencyMs: L,
        latencyDeliveredOnlyMs: dist(latency.filter(Number.isFinite)),
        latencyFromSendMs: dist(fromSend),
        storeStageMs: S1,
        queueStageMs: S2,
        promotionStageMs: P,
        deliveryStageMs: D,
        redirectWallMinusClickTsMs: dist(clickTsSkew),
        redirectMs: dist(redirectMs),
        drainMs: rx.matched === TOTAL ? drainMs : null,
        otherProcessesCoresMean: otherMean,
        otherProcessesCoresMax: otherMax,
        benchEventLoopDelayMaxMs: benchEldMax,
        benchCpuCores: (benchCpu.user + benchCpu.system) / 1000 / (performance.now() - sendT0),
        engineStartupMs: startupMs,
        engineFinalStats: final.stats
      },
      target: { target: 'click → webhook delivered p50 ≤ promotion window + 100 ms', thresholdMs: targetMs, p50Ms: L.p50, verdict: met ? 'met' : 'not met', detail: targetLine },
      clickhouse: ch,
      perSecond,
      series,
      anomalies: [...redirectErrors, ...rx.errors],
      engineStop,
      // Per click, in sending order: ms from its 302 to its webhook (null: never arrived).
      latenciesMs: latency.map(x => Number.isFinite(x) ? round(x, 1) : null),
      markdown
    }
    mkdirSync(RESULTS, { recursive: true })
    const stamp = started.toISOString().replace(/[:.]/g, '-')
    const file = join(RESULTS, `e2e-${stamp}.json`)
    writeFileSync(file, JSON.stringify(json, null, 2) + '\n')
    writeFileSync(join(RESULTS, 'e2e-latest.json'), JSON.stringify(json, null, 2) + '\n')
    console.log(markdown)
    console.log(`\nwrote ${file.slice(ROOT.length)} and bench/results/e2e-latest.json`)
    if (rx.badSignature > 0) fail(`${rx.badSignature} webhook signatures did not verify`)
  } finally {
    clearTimeout(watchdog)
    if (engineStop === undefined) await engine.stop(5000).catch(() => {})
    killAll()
  }
}

main().catch((err) => {
  console.error(err.benchFailure ? `\nBENCH FAILED: ${err.message}` : err)
  killAll()
  process.exit(1)
})
