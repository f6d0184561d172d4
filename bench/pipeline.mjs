#!/usr/bin/env node
// Pipeline benchmark: the product as it runs — the real engine with everything on (embedded
// ClickHouse, spool, promotion with its window, classification in the pool, the webhook
// outbox and one webhook receiver on loopback), every request a new token, a browser's
// header set — beside bare uWS answering a fixed 302, in one run. See bench/README.md.
//
//   bare uWS, closed loop (wrk) ─► engine, closed-loop peak (wrk), drain
//   ─► engine, open loop at fixed rates stepping up, each drained: the highest rate whose
//      backlog stays bounded is the sustained rate
//   ─► engine at half the sustained rate (redirect latency while the pipeline runs), drain
//   ─► bare uWS at the same rate ─► loss and duplicates: receiver and ClickHouse
//
// Needs dist/ (npx tsc -p .). The engine, bare uWS and the receiver each run in their own
// child process, so /proc gives each one's CPU time (every thread) on its own; counters
// come from the engine's admin listener (GET /metrics), rows from its analyst SQL.
import { randomBytes, randomUUID } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { HOST, ROOT, envBool, envInt, envList } from './lib/settings.mjs'
import { ServerChild, fail, killAll, runMain, tempDir, watchdog } from './lib/children.mjs'
import { chooseTool, runAutocannon, runWrk, toolVersions } from './lib/load.mjs'
import { pacedRun } from './lib/paced.mjs'
import { apiRequest, probe } from './lib/http.mjs'
import { adminSql, scrapeMetrics } from './lib/admin.mjs'
import { chromeHeaders } from './lib/browser.mjs'
import { newSecrets, tokenKit } from './lib/tokens.mjs'
import { machineCpuUs, processCpuUs, processMemory } from './lib/proc.mjs'
import { loadText, machineFacts } from './lib/machine.mjs'
import { chromeMajorAt, requireDist } from './lib/project.mjs'
import { every } from './lib/sampler.mjs'
import { percentile, ratio, round, slope } from './lib/stats.mjs'
import { f, log, mb, mdTable, printReport, writeResults } from './lib/report.mjs'
import { writeTimePlot } from './lib/plot.mjs'

// ---------------------------------------------------------------- settings

const PRODUCT_WINDOW_MS = 15_000 // the engine's default --promotion-window-ms
const S = {
  tool: chooseTool(),
  bareSeconds: envInt('BENCH_BARE_SECONDS', 30, 1, 3600), // bare uWS closed loop
  peakSeconds: envInt('BENCH_PEAK_SECONDS', 60, 1, 3600), // engine closed loop
  stepSeconds: envInt('BENCH_STEP_SECONDS', 60, 1, 3600), // each open-loop rate
  halfSeconds: envInt('BENCH_HALF_SECONDS', 0, 0, 3600), // at half the sustained rate (0: BENCH_STEP_SECONDS)
  connections: envInt('BENCH_CONNECTIONS', 50, 1, 10_000),
  peakTokens: envInt('BENCH_PEAK_TOKENS', 0, 0, 20_000_000), // tokens for the closed loop (0: 50 000 per second)
  rates: envList('BENCH_RATES', undefined), // explicit open-loop rates, clicks/s
  rateStart: envInt('BENCH_RATE_START', 0, 0, 1_000_000), // 0: 60 % of the peak phase's end-to-end rate
  rateFactorPct: envInt('BENCH_RATE_FACTOR', 130, 101, 400), // each step × this / 100
  maxSteps: envInt('BENCH_MAX_STEPS', 6, 1, 30),
  refine: envBool('BENCH_REFINE', true), // one more step between the last pass and the first failure
  backlogSeconds: envInt('BENCH_BACKLOG_SECONDS', 5, 1, 600), // the bound: this many seconds' worth of clicks overdue
  drainTimeout: envInt('BENCH_DRAIN_TIMEOUT', 600, 10, 7200), // longest wait for a backlog to empty
  windowMs: envInt('BENCH_WINDOW_MS', PRODUCT_WINDOW_MS, 0, 600_000), // --promotion-window-ms
  engineFlags: (process.env.BENCH_ENGINE_FLAGS ?? '').trim(),
  verifyEvery: envInt('BENCH_VERIFY_EVERY', 50, 1, 1_000_000), // the receiver checks every n-th signature
  sampleMs: 1000
}
S.halfSeconds ||= S.stepSeconds
S.peakTokens ||= Math.min(20_000_000, 50_000 * S.peakSeconds)
if (S.rates !== undefined) {
  S.rates = S.rates.map(Number)
  if (S.rates.some(r => !(Number.isInteger(r) && r > 0 && r <= 1_000_000))) throw new Error('BENCH_RATES must be whole numbers of clicks per second, e.g. 2000,4000,6000')
}
const WINDOW_S = S.windowMs / 1000
const SID = 'pipe'
const HOST_HEADER = `p${SID}.t.localhost` // tracking base http://t.localhost:8080 (the default)
const BARE_LOCATION = 'https://shop.example.com/p/0?utm_source=newsletter&utm_medium=email&utm_campaign=pipeline'
const urlOf = (i) => `https://shop.example.com/p/${i}?utm_source=newsletter&utm_medium=email&utm_campaign=pipeline`
const RECEIVER_CAPACITY = 1 << 25 // click indexes the receiver counts (32 MiB)

// ---------------------------------------------------------------- the plan

async function main () {
  requireDist()
  const started = new Date()
  const loadAtStart = loadText()
  const tmp = tempDir('clicktrail-bench-pipeline-')
  const stepBudget = S.stepSeconds + WINDOW_S + Math.max(60, 2 * S.stepSeconds)
  watchdog(600 + S.bareSeconds + S.peakSeconds + 2 * S.halfSeconds + S.drainTimeout * 3 + (S.maxSteps + 2) * stepBudget + S.peakTokens / 20_000)

  const secrets = newSecrets()
  const kit = await tokenKit(secrets)
  const major = (await chromeMajorAt())(Date.now()) - 1
  const HEADERS = chromeHeaders(major, HOST_HEADER)
  const clicks = clickMinter(kit)
  const peakFile = mintFile(tmp, clicks, S.peakTokens)

  const bare = new ServerChild('uws-bare', 'uws-bare', { BENCH_LOCATION: BARE_LOCATION }, { readyTimeoutMs: 30_000 })
  const receiver = new ServerChild('receiver', 'receiver', { BENCH_RUN_PREFIX: clicks.prefix, BENCH_RECEIVER_CAPACITY: String(RECEIVER_CAPACITY), BENCH_VERIFY_EVERY: String(S.verifyEvery) },
    { script: new URL('./lib/receiver-child.mjs', import.meta.url).pathname, readyTimeoutMs: 30_000 })
  const adminToken = randomBytes(24).toString('hex')
  const engine = startEngine(tmp, secrets, adminToken)
  let stopped = false
  try {
    await Promise.all([bare.ready, receiver.ready])
    const bareProbe = await probe(bare.port, '/c/x', HEADERS)
    if (bareProbe.status !== 302 || bareProbe.location !== BARE_LOCATION) fail(`bare uWS probe answered ${bareProbe.status} ${bareProbe.location}`)
    log(`tool ${S.tool}, ${S.connections} connections; ${cpus().length} CPUs, load ${loadAtStart}`)

    // Bare uWS first, while the engine starts (its start-up is mostly ClickHouse's, idle afterwards).
    const bareLoad = await closedLoop(bare, { file: peakFile.file, wrap: true }, S.bareSeconds, HEADERS)
    log(`bare uWS: ${f(bareLoad.rps)} req/s, p50 ${f(bareLoad.p50Ms, 3)} ms, p99 ${f(bareLoad.p99Ms, 3)} ms, ${f(bareLoad.cpuUsPerReq, 2)} µs CPU/req`)

    await engine.ready
    const info = await engine.call('info')
    if (info.settings.promotionWindowMs !== S.windowMs) fail(`the engine runs a ${info.settings.promotionWindowMs} ms window, not ${S.windowMs}`)
    log(`engine: pid ${engine.pid}, redirect port ${engine.port}, admin ${info.adminPort}, Team API ${info.apiPort}, ${info.settings.storage} ClickHouse; extra flags ${S.engineFlags || 'none'}`)
    log(`engine settings: ${JSON.stringify(info.settings)}`)
    const webhook = await createWebhook(info, receiver)
    const admin = { port: info.adminPort, token: adminToken }

    // One checked click before the load: 302 with its own destination.
    const p = clicks.next()
    const r = await probe(engine.port, p.path, HEADERS)
    if (r.status !== 302 || r.location !== urlOf(p.i)) fail(`engine probe answered ${r.status} ${r.location}, expected 302 ${urlOf(p.i)}`)

    const run = new Run(engine, receiver, admin)
    await run.startSampling()

    // ---- closed-loop peak
    const peak = await run.phase('peak (closed loop)', null, async () => {
      const range = [0, 0]
      const load = await closedLoop(engine, { file: peakFile.file, wrap: false }, S.peakSeconds, HEADERS)
      range[1] = load.extra?.lines ?? load.requests
      return { load, ranges: [range] }
    })
    log(`peak: ${f(peak.load.rps)} req/s (${f(ratio(peak.load.rps, bareLoad.rps), 3)}× bare), p99 ${f(peak.load.p99Ms, 1)} ms, max ${f(peak.load.maxMs, 1)} ms; ${f(peak.clicks)} clicks drained ${f(peak.drainSeconds, 1)} s after the load: ${f(peak.e2eRate)} clicks/s end to end, ${f(peak.cpuUsPerClick, 1)} µs CPU per click`)

    // ---- open-loop steps
    const steps = []
    const paced = (rate, seconds) => run.pacedAt(rate, seconds, HEADERS, clicks, engine)
    for (const rate of rateSchedule(peak, steps)) {
      const step = await run.phase(`${f(rate)}/s`, rate, () => paced(rate, S.stepSeconds))
      judge(step, run)
      steps.push(step)
      log(`step ${f(rate)}/s: ${step.verdict.pass ? 'SUSTAINED' : 'not sustained'} — ${step.verdict.why}`)
      if (step.drainTimedOut) break
    }
    const passed = steps.filter(s => s.verdict.pass)
    const sustained = passed.length > 0 ? passed.reduce((a, b) => (b.rate > a.rate ? b : a)) : undefined
    const halfRate = Math.max(1, Math.round((sustained?.rate ?? Math.min(...steps.map(s => s.rate))) / 2))

    // ---- half the sustained rate, engine then bare uWS
    const half = await run.phase(`half ${f(halfRate)}/s`, halfRate, () => paced(halfRate, S.halfSeconds))
    log(`half the sustained rate (${f(halfRate)}/s): p50 ${f(half.latency.p50_us / 1000, 2)} ms, p99 ${f(half.latency.p99_us / 1000, 2)} ms, max ${f(half.latency.max_us / 1000, 1)} ms`)
    const halfBare = await pacedBare(bare, halfRate, S.halfSeconds, HEADERS, clicks)
    log(`bare uWS at ${f(halfRate)}/s: p50 ${f(halfBare.latency.p50_us / 1000, 2)} ms, p99 ${f(halfBare.latency.p99_us / 1000, 2)} ms, max ${f(halfBare.latency.max_us / 1000, 1)} ms`)

    const series = await run.stopSampling()
    const accounting = await account(run, admin, receiver, [peak, ...steps, half])
    const engineStop = await engine.stop()
    stopped = true
    await Promise.allSettled([bare.stop(3000), receiver.stop(3000)])

    const json = report({ started, loadAtStart, info, webhook, major, HEADERS, bareLoad, halfBare, peak, steps, sustained, half, halfRate, series, accounting, engineStop, phases: run.phases })
    const written = writeResults('pipeline', json, { started })
    const svg = await plot(json, written)
    printReport(json.markdown + `\n\nplot: ${svg.file} and ${svg.latest}`, written)
    if (accounting.lost !== 0 || accounting.duplicates !== 0) fail(`loss ${accounting.lost}, duplicates ${accounting.duplicates} after the drain (must be 0 / 0)`)
  } finally {
    // A run that fails because the engine died says how it died (its stderr is this one's).
    if (!stopped && engine.exitedWith !== undefined) log(`the engine process exited during the run: ${JSON.stringify(engine.exitedWith)}`)
    if (!stopped) await engine.stop(5000).catch(() => {})
    await Promise.allSettled([bare.stop(2000), receiver.stop(2000)])
    killAll()
  }
}

// ---------------------------------------------------------------- clicks and children

/**
 * Every click its own message id — `<run prefix><index, 12 hex digits>`, which the receiver
 * reads back — token and destination; sent an hour ago, so the time-since-send signals stay
 * quiet. next() mints the next index.
 */
function clickMinter (kit) {
  const prefix = randomUUID().slice(0, 24)
  const sentAt = Math.floor(Date.now() / 1000) - 3600
  let n = 0
  const mint = (i) => `/c/${kit.mint({ sid: SID, messageId: prefix + i.toString(16).padStart(12, '0'), linkIndex: i % 8, sentAt, url: urlOf(i) })}`
  return {
    prefix,
    get count () { return n },
    next () { const i = n++; return { i, path: mint(i) } },
    nextPath () { return mint(n++) },
    reserve (count) { const from = n; n += count; return { from, mint } }
  }
}

/** The closed loop's tokens, one per line, streamed to a file for wrk (lib/stream.lua). */
function mintFile (tmp, clicks, count) {
  const file = join(tmp, 'peak.paths')
  const t0 = performance.now()
  const { from, mint } = clicks.reserve(count)
  const fd = openSync(file, 'w')
  const CHUNK = 10_000
  for (let i = 0; i < count; i += CHUNK) {
    const lines = []
    for (let j = i; j < Math.min(count, i + CHUNK); j++) lines.push(mint(from + j))
    writeSync(fd, lines.join('\n') + '\n')
    if (i > 0 && i % 500_000 === 0) log(`minting: ${f(i)} of ${f(count)} tokens`)
  }
  closeSync(fd)
  log(`minted ${f(count)} tokens for the closed loop in ${f((performance.now() - t0) / 1000, 1)} s`)
  return { file, count }
}

function startEngine (tmp, secrets, adminToken) {
  const dataDir = join(tmp, 'data')
  mkdirSync(dataDir)
  const env = { BENCH_SECRETS: secrets, BENCH_DATA_DIR: dataDir, BENCH_SID: SID, BENCH_WINDOW_MS: String(S.windowMs), BENCH_ADMIN_TOKEN: adminToken, BENCH_ENGINE_FLAGS: S.engineFlags }
  return new ServerChild('engine', 'clicktrail-e2e', env, { readyTimeoutMs: 180_000, sampleTimeoutMs: 20_000 })
}

/** The webhook (every click, machine verdicts included), through the Team API; its secret goes to the receiver. */
async function createWebhook (info, receiver) {
  const url = `http://${HOST}:${receiver.port}/hook`
  const created = await apiRequest(info.apiPort, 'POST', `/v1/projects/${info.projectId}/webhooks`, info.token, { url, events: ['message.clicked'], include_machine_events: true })
  if (created.status !== 201 || typeof created.body?.secret !== 'string') fail(`creating the webhook answered ${created.status}: ${JSON.stringify(created.body)}`)
  await receiver.call('secret', { secret: created.body.secret })
  log(`webhook ${created.body.webhook_id} → ${url}`)
  return created.body
}

// ---------------------------------------------------------------- load

/** One closed-loop window (wrk streaming the token file, or autocannon minting as it goes) with the server's CPU from /proc. */
async function closedLoop (server, stream, seconds, headers) {
  const cpu0 = processCpuUs(server.pid)
  const t0 = performance.now()
  let load
  if (S.tool === 'wrk') {
    load = await runWrk({ port: server.port, stream, seconds, connections: S.connections, headers, threads: 1 })
  } else {
    load = await runAutocannon({ port: server.port, nextPath: streamFallback(stream), seconds, connections: S.connections, headers })
    load.extra = { lines: stream.extraLines(), wraps: 0 }
  }
  const wallMs = performance.now() - t0
  const cpuUs = processCpuUs(server.pid) - cpu0
  if (load.requests <= 0) fail(`${server.name}: no request completed`)
  if (load.non2xx3xx !== 0 || load.other3xx !== 0) fail(`${server.name}: ${load.non2xx3xx + load.other3xx} responses were not 302 (${JSON.stringify(load.statuses)})`)
  if (load.errors > 2 * S.connections + 10 || load.timeouts > 2 * S.connections + 10) fail(`${server.name}: ${load.errors} socket errors, ${load.timeouts} timeouts`)
  const mem = processMemory(server.pid)
  return { ...load, cpuUsPerReq: cpuUs / load.requests, serverCores: cpuUs / 1000 / wallMs, rssBytes: mem.rssBytes, threads: mem.threads }
}

/** autocannon has no file stream: the same file's lines, read whole (fine for autocannon's rates). */
function streamFallback (stream) {
  const lines = readLines(stream.file)
  let i = 0
  stream.extraLines = () => Math.min(i, lines.length)
  return () => {
    if (i >= lines.length) { if (stream.wrap) i = 0; else return lines[lines.length - 1] }
    return lines[i++]
  }
}

function readLines (file) {
  return readFileSync(file, 'latin1').split('\n').filter(l => l !== '')
}

/** bare uWS paced at `rate` with the same client (new token paths, which it ignores). */
async function pacedBare (bare, rate, seconds, headers, clicks) {
  const cpu0 = processCpuUs(bare.pid)
  const r = await pacedRun({ port: bare.port, path: '/', headers, rate, seconds, connections: S.connections, napWhenBusy: true, reconnect: true, nextPath: () => clicks.nextPath() })
  const bad = Object.keys(r.statuses).filter(c => c !== '302')
  if (bad.length > 0) fail(`bare uWS paced: statuses ${JSON.stringify(r.statuses)}`)
  return { ...r, cpuUsPerReq: (processCpuUs(bare.pid) - cpu0) / r.completed }
}

// ---------------------------------------------------------------- the engine's run: phases, sampling, drains

class Run {
  constructor (engine, receiver, admin) {
    this.engine = engine
    this.receiver = receiver
    this.admin = admin
    this.rows = []
    this.phases = []
    this.current = undefined // the phase under way: {label, rate}
    this.sent = 0 // requests the paced client wrote (all phases)
    this.lat = [] // paced latencies (µs) of the current second
  }

  async startSampling () {
    const first = await this.snapshot()
    this.t0 = first.at
    this.prev = first
    this.stopTick = every(S.sampleMs, async () => { await this.tick().catch((err) => { log(`sample failed: ${err.message}`) }) })
  }

  async stopSampling () {
    await this.stopTick()
    return this.rows
  }

  /**
   * Everything read at one instant: /metrics, /proc, the receiver's counts and, for the
   * once-a-second rows only (`eld`: reading it resets it), the engine's loop delay.
   */
  async snapshot (eld = false) {
    const [m, rx, eng] = await Promise.all([scrapeMetrics(this.admin.port), this.receiver.sample(), eld ? this.engine.sample().catch(() => undefined) : undefined])
    const mem = processMemory(this.engine.pid)
    return {
      at: performance.now(),
      m: m.values,
      scrapeMs: m.scrapeMs,
      rx: rx.stats,
      rxCpuUs: rx.cpuUs,
      engineCpuUs: processCpuUs(this.engine.pid),
      selfCpu: process.cpuUsage(),
      machine: machineCpuUs(),
      rssBytes: mem.rssBytes,
      threads: mem.threads,
      eldMaxMs: eng?.stats?.eldMaxMs,
      sent: this.sent
    }
  }

  async tick () {
    const s = await this.snapshot(true)
    const p = this.prev
    const dt = (s.at - p.at) / 1000
    const d = (k) => ((s.m[k] ?? 0) - (p.m[k] ?? 0)) / dt
    const lat = this.lat.sort((a, b) => a - b)
    this.lat = []
    const selfUs = (s.selfCpu.user + s.selfCpu.system) - (p.selfCpu.user + p.selfCpu.system)
    const engineCores = (s.engineCpuUs - p.engineCpuUs) / 1e6 / dt
    const rxCores = (s.rxCpuUs - p.rxCpuUs) / 1e6 / dt
    const machineCores = (s.machine.busy - p.machine.busy) / 1e6 / dt
    const M = s.m
    this.rows.push({
      t: round((s.at - this.t0) / 1000, 2),
      phase: this.current?.label ?? null,
      offeredPerS: this.current?.rate ?? null,
      sentPerS: this.current?.rate ? Math.round((s.sent - p.sent) / dt) : null,
      redirectsPerS: Math.round(d('clicktrail_redirects_total')),
      spooledPerS: Math.round(d('clicktrail_ingest_spooled_total')),
      insertedPerS: Math.round(d('clicktrail_ingest_inserted_total')),
      promotedPerS: Math.round(d('clicktrail_promoted_total')),
      webhookDeliveredPerS: Math.round(d('clicktrail_webhook_delivered_total')),
      receivedPerS: Math.round((s.rx.unique - p.rx.unique) / dt),
      observed: M.clicktrail_observed_total ?? 0,
      received: s.rx.unique,
      events: s.rx.events,
      inFlight: (M.clicktrail_observed_total ?? 0) - s.rx.unique,
      ingestQueued: M.clicktrail_ingest_queued_rows ?? null,
      promotionPending: M.clicktrail_promotion_pending ?? null,
      webhookPending: M.clicktrail_webhook_pending ?? null,
      spoolBytes: M.clicktrail_spool_bytes ?? null,
      spoolPending: M.clicktrail_spool_pending_records ?? null,
      outboxBytes: M.clicktrail_outbox_bytes ?? null,
      shed: (M.clicktrail_ingest_shed_total ?? 0) + (M.clicktrail_ring_dropped_total ?? 0) + (M.clicktrail_webhook_shed_total ?? 0) + (M.clicktrail_promotion_quarantined_total ?? 0),
      webhookFailedAttempts: M.clicktrail_webhook_failed_attempts_total ?? 0,
      p50Ms: lat.length ? round(percentile(lat, 50) / 1000, 3) : null,
      p99Ms: lat.length ? round(percentile(lat, 99) / 1000, 3) : null,
      maxMs: lat.length ? round(lat[lat.length - 1] / 1000, 3) : null,
      engineCores: round(engineCores, 2),
      receiverCores: round(rxCores, 2),
      benchCores: round(selfUs / 1e6 / dt, 2),
      otherCores: round(Math.max(0, machineCores - engineCores - rxCores - selfUs / 1e6 / dt), 2),
      rssMB: round(s.rssBytes / 1048576, 1),
      threads: s.threads,
      engineEldMaxMs: s.eldMaxMs === undefined ? null : round(s.eldMaxMs, 1),
      // the engine's own probe (src/loop-delay.ts, /metrics): stalls over 50 ms so far
      engineStalls: M.clicktrail_event_loop_stalls_total ?? null,
      scrapeMs: round(s.scrapeMs, 1)
    })
    this.prev = s
    this.last = s
  }

  /** A paced open-loop window on the engine: every request a new click. */
  async pacedAt (rate, seconds, headers, clicks, server) {
    const from = clicks.count
    const r = await pacedRun({
      port: server.port,
      path: '/',
      headers,
      rate,
      seconds,
      connections: S.connections,
      napWhenBusy: true,
      reconnect: true,
      nextPath: () => { this.sent++; return clicks.nextPath() },
      onLatency: (us) => { this.lat.push(us) }
    })
    const bad = Object.keys(r.statuses).filter(c => c !== '302')
    if (bad.length > 0) fail(`engine at ${rate}/s: statuses ${JSON.stringify(r.statuses)}`)
    return { paced: r, latency: r.latency, ranges: [[from, clicks.count]] }
  }

  /**
   * One phase: its load, then the drain (every click the engine observed delivered to the
   * receiver, every queue empty); CPU of the engine over both, from /proc.
   */
  async phase (label, rate, load) {
    const before = await this.snapshot()
    const tStart = (before.at - this.t0) / 1000
    this.current = { label, rate }
    const out = await load()
    const afterLoad = await this.snapshot()
    const tLoadEnd = (afterLoad.at - this.t0) / 1000
    this.current = { label: `${label}: drain`, rate: null }
    const limit = rate === null ? S.drainTimeout : Math.min(S.drainTimeout, WINDOW_S + Math.max(60, 2 * S.stepSeconds))
    const drained = await this.drain(limit)
    this.current = undefined
    const after = drained.snapshot
    const tEnd = (after.at - this.t0) / 1000
    const clicks = (after.m.clicktrail_observed_total ?? 0) - (before.m.clicktrail_observed_total ?? 0)
    const loadSeconds = tLoadEnd - tStart
    const ph = {
      label,
      rate,
      tStart,
      tLoadEnd,
      tEnd,
      loadSeconds,
      drainSeconds: tEnd - tLoadEnd,
      drainTimedOut: !drained.done,
      clicks,
      redirects: (after.m.clicktrail_redirects_total ?? 0) - (before.m.clicktrail_redirects_total ?? 0),
      delivered: after.rx.unique - before.rx.unique,
      e2eRate: (after.rx.unique - before.rx.unique) / (tEnd - tStart),
      cpuUsPerClick: (after.engineCpuUs - before.engineCpuUs) / clicks,
      cpuUsPerClickLoadOnly: (afterLoad.engineCpuUs - before.engineCpuUs) / clicks,
      engineCoresDuringLoad: (afterLoad.engineCpuUs - before.engineCpuUs) / 1e6 / loadSeconds,
      shed: shedOf(after.m) - shedOf(before.m),
      ...out
    }
    this.phases.push({ from: round(tStart, 1), to: round(tEnd, 1), label })
    return ph
  }

  /** Waits until the receiver has every click the engine observed and the queues are empty; gives up after `limitS` s or 30 s without progress. */
  async drain (limitS) {
    const t0 = performance.now()
    let lastProgress = t0
    let lastUnique = -1
    for (;;) {
      const s = await this.snapshot()
      const M = s.m
      const observed = M.clicktrail_observed_total ?? 0
      const empty = (M.clicktrail_ingest_queued_rows ?? 0) === 0 && (M.clicktrail_promotion_pending ?? 0) === 0 && (M.clicktrail_webhook_pending ?? 0) === 0
      if (s.rx.unique >= observed && empty) return { done: true, snapshot: s }
      if (s.rx.unique !== lastUnique) { lastUnique = s.rx.unique; lastProgress = performance.now() }
      const now = performance.now()
      if (now - t0 > limitS * 1000 || (empty && now - lastProgress > 30_000)) return { done: false, snapshot: await this.snapshot() }
      await sleep(500)
    }
  }
}

const shedOf = (m) => (m.clicktrail_ingest_shed_total ?? 0) + (m.clicktrail_ring_dropped_total ?? 0) + (m.clicktrail_webhook_shed_total ?? 0) + (m.clicktrail_promotion_quarantined_total ?? 0)

// ---------------------------------------------------------------- stepping and judging

/** The open-loop rates: BENCH_RATES as given, else from 60 % of the peak's end-to-end rate up by BENCH_RATE_FACTOR until one fails (then one between). */
function * rateSchedule (peak, steps) {
  const r2 = (x) => Math.max(1, Number(x.toPrecision(2)))
  if (S.rates !== undefined) { yield * S.rates; return }
  const factor = S.rateFactorPct / 100
  let rate = r2(S.rateStart || peak.e2eRate * 0.6)
  let tried = 0
  while (tried < S.maxSteps) {
    yield rate
    tried++
    const last = steps[steps.length - 1]
    const passed = steps.filter(s => s.verdict.pass)
    if (last.verdict.pass) { rate = r2(rate * factor); continue }
    if (passed.length === 0) { rate = r2(rate / 2); if (rate < 10) return; continue } // even the first failed: halve
    const below = Math.max(...passed.map(s => s.rate))
    const between = r2(Math.sqrt(below * last.rate))
    if (S.refine && between > below && between < last.rate && !steps.some(s => s.rate === between)) { rate = between; continue }
    return
  }
}

/**
 * A rate is sustained when the paced client got every 302 at that rate, nothing was shed,
 * and the clicks overdue — observed more than one promotion window ago and not delivered
 * yet — never exceeded BENCH_BACKLOG_SECONDS' worth, so every click reached the receiver
 * within window + that bound and the backlog did not grow over the step.
 */
function judge (step, run) {
  const rows = run.rows.filter(r => r.t >= step.tStart && r.t <= step.tEnd + 0.5)
  const observedAt = interpolator(run.rows.map(r => [r.t, r.observed]))
  for (const r of rows) r.overdue = Math.max(0, Math.round(observedAt(r.t - WINDOW_S) - r.received))
  const bound = Math.max(100, step.rate * S.backlogSeconds)
  const overdueMax = Math.max(0, ...rows.map(r => r.overdue))
  // The slope over the steady part: from one window after the start to the end of the load.
  const steady = rows.filter(r => r.t >= step.tStart + WINDOW_S + 2 && r.t <= step.tLoadEnd)
  const growth = steady.length >= 10 ? slope(steady.map(r => [r.t, r.overdue])) : NaN
  const achieved = step.paced.achievedRate
  const reasons = []
  if (step.paced.unfinished > 0) reasons.push(`${f(step.paced.unfinished)} requests unanswered`)
  if (achieved < 0.97 * step.rate) reasons.push(`302s at ${f(achieved)}/s only`)
  if (step.shed > 0) reasons.push(`${f(step.shed)} shed`)
  if (overdueMax > bound) reasons.push(`backlog beyond the window reached ${f(overdueMax)} clicks (bound ${f(bound)})`)
  if (step.drainTimedOut) reasons.push(`not drained within ${f(step.drainSeconds)} s`)
  else if (step.drainSeconds > WINDOW_S + S.backlogSeconds + 1) reasons.push(`drain took ${f(step.drainSeconds, 1)} s (window + bound ${f(WINDOW_S + S.backlogSeconds)} s)`)
  if (Number.isFinite(growth) && growth > 0.05 * step.rate) reasons.push(`backlog grew ${f(growth)} clicks/s`)
  const pass = reasons.length === 0
  step.overdueMax = overdueMax
  step.overdueGrowthPerS = growth
  step.backlogBound = bound
  step.verdict = { pass, why: pass ? `302s at ${f(achieved)}/s, backlog beyond the window ≤ ${f(overdueMax)} clicks (bound ${f(bound)}), drained ${f(step.drainSeconds, 1)} s after the load` : reasons.join('; ') }
}

/** Linear interpolation in [t, y] points sorted by t (flat beyond the ends). */
function interpolator (pts) {
  return (t) => {
    if (pts.length === 0 || t <= pts[0][0]) return pts.length ? pts[0][1] : 0
    for (let i = 1; i < pts.length; i++) {
      if (pts[i][0] >= t) {
        const [t0, y0] = pts[i - 1]
        const [t1, y1] = pts[i]
        return t1 === t0 ? y1 : y0 + (y1 - y0) * (t - t0) / (t1 - t0)
      }
    }
    return pts[pts.length - 1][1]
  }
}

// ---------------------------------------------------------------- loss and duplicates

/** After the last drain: what the engine observed against what the receiver got and what ClickHouse holds. */
async function account (run, admin, receiver, phases) {
  const s = await run.snapshot()
  const observed = s.m.clicktrail_observed_total ?? 0
  const redirects = s.m.clicktrail_redirects_total ?? 0
  const [ch] = await adminSql(admin.port, admin.token, `SELECT count() AS rows, uniqExact(message_id) AS messages, countIf(counts_for_metrics) AS counting FROM clicks WHERE sid = '${SID}'`)
  const [obs] = await adminSql(admin.port, admin.token, `SELECT count() AS rows, uniqExact(message_id) AS messages FROM click_observations WHERE sid = '${SID}'`)
  const ranges = phases.flatMap(p => p.ranges)
  const rx = await receiver.call('ranges', { ranges })
  const num = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v)]))
  const clicksCh = num(ch)
  const obsCh = num(obs)
  return {
    observed,
    redirects,
    received: s.rx.unique,
    events: s.rx.events,
    posts: s.rx.posts,
    lost: observed - s.rx.unique,
    duplicates: s.rx.duplicates,
    unmatched: s.rx.unmatched,
    badSignature: s.rx.badSignature,
    verified: s.rx.verified,
    notCounting: s.rx.notCounting,
    clickhouse: { clicks: clicksCh, observations: obsCh, lostClicks: observed - clicksCh.messages, duplicateClicks: clicksCh.rows - clicksCh.messages, lostObservations: observed - obsCh.messages, duplicateObservations: obsCh.rows - obsCh.messages },
    byPhase: phases.map((p, i) => ({ label: p.label, ...rx.ranges[i] })),
    receiverErrors: rx.errors,
    webhookFailedAttempts: s.m.clicktrail_webhook_failed_attempts_total ?? 0,
    shed: shedOf(s.m)
  }
}

// ---------------------------------------------------------------- report

function report ({ started, loadAtStart, info, webhook, major, HEADERS, bareLoad, halfBare, peak, steps, sustained, half, halfRate, series, accounting: A, engineStop, phases }) {
  const x = (a, b, d = 3) => `${f(ratio(a, b), d)}×`
  const ms = (us, d = 2) => f(us / 1000, d)
  const peakRss = Math.max(...series.map(r => r.rssMB).filter(Number.isFinite))
  const md = []
  const loadAtEnd = loadText()
  md.push(`## Pipeline benchmark — the engine with everything on, every click a new token, ${started.toISOString()}`)
  md.push('')
  md.push(`${S.tool}, ${S.connections} connections; closed loop ${S.peakSeconds} s, open-loop steps ${S.stepSeconds} s, half rate ${S.halfSeconds} s, bare uWS ${S.bareSeconds} s; promotion window ${f(S.windowMs)} ms${S.windowMs === PRODUCT_WINDOW_MS ? ' (the default)' : ` (default ${f(PRODUCT_WINDOW_MS)})`}; engine flags: ${S.engineFlags || 'none'}; ${cpus().length} CPUs, load average ${loadAtStart} at the start, ${loadAtEnd} at the end.`)
  md.push('')
  const sus = sustained
  md.push(mdTable(['', 'clicktrail', 'bare uWS fixed 302', '× bare uWS'], [
    ['closed-loop peak, req/s (every token new)', f(peak.load.rps), f(bareLoad.rps), x(peak.load.rps, bareLoad.rps)],
    ['closed-loop latency p50 / p99 / max, ms', `${f(peak.load.p50Ms, 2)} / ${f(peak.load.p99Ms, 1)} / ${f(peak.load.maxMs, 1)}`, `${f(bareLoad.p50Ms, 2)} / ${f(bareLoad.p99Ms, 2)} / ${f(bareLoad.maxMs, 1)}`, x(peak.load.p99Ms, bareLoad.p99Ms, 1) + ' (p99)'],
    [`closed loop + drain: ${f(peak.clicks)} clicks stored, promoted and delivered in ${f(peak.tEnd - peak.tStart, 1)} s (drain ${f(peak.drainSeconds, 1)} s), clicks/s`, f(peak.e2eRate), f(bareLoad.rps), x(peak.e2eRate, bareLoad.rps)],
    [`**sustained end to end, clicks/s** (open loop, ${S.stepSeconds} s, backlog ≤ ${S.backlogSeconds} s beyond the window)`, sus ? `**${f(sus.rate)}**` : '**none of the rates tried**', f(bareLoad.rps), sus ? `**${x(sus.rate, bareLoad.rps)}**` : 'n/a'],
    ['**CPU per click, load + drain, µs** (all threads of the engine; closed loop)', `**${f(peak.cpuUsPerClick, 1)}**`, f(bareLoad.cpuUsPerReq, 2), `**${x(peak.cpuUsPerClick, bareLoad.cpuUsPerReq, 1)}**`],
    ['CPU per click, load + drain, µs, at the sustained rate (open loop)', sus ? f(sus.cpuUsPerClick, 1) : 'n/a', f(bareLoad.cpuUsPerReq, 2), sus ? x(sus.cpuUsPerClick, bareLoad.cpuUsPerReq, 1) : 'n/a'],
    [`**redirect p50 / p99 / max at half the sustained rate (${f(halfRate)}/s), pipeline running, ms**`, `**${ms(half.latency.p50_us)} / ${ms(half.latency.p99_us)} / ${ms(half.latency.max_us, 1)}**`, `${ms(halfBare.latency.p50_us)} / ${ms(halfBare.latency.p99_us)} / ${ms(halfBare.latency.max_us, 1)}`, `**${x(half.latency.p99_us, halfBare.latency.p99_us, 1)}** (p99)`],
    ['RSS, MB (engine: the run\'s peak)', f(peakRss), mb(bareLoad.rssBytes), x(peakRss, bareLoad.rssBytes / 1048576, 1)],
    ['**loss / duplicates after the drain** (receiver; ClickHouse `clicks`)', `**${f(A.lost)} / ${f(A.duplicates)}**; ${f(A.clickhouse.lostClicks)} / ${f(A.clickhouse.duplicateClicks)}`, '', '']
  ]))
  md.push('')
  md.push('### Open-loop steps')
  md.push('')
  md.push(mdTable(['offered /s', '302s /s', 'clicks delivered / observed', 'backlog beyond the window, max (growth /s)', 'drain s', 'CPU µs per click', 'engine cores (load)', 'redirect p50 / p99 / max ms', 'verdict'],
    [...steps, half].map(s => [f(s.rate), f(s.paced.achievedRate), `${f(s.delivered)} / ${f(s.clicks)}`, s.overdueMax === undefined ? '' : `${f(s.overdueMax)} (${f(s.overdueGrowthPerS, 0)})`, f(s.drainSeconds, 1), f(s.cpuUsPerClick, 1), f(s.engineCoresDuringLoad, 2),
      `${ms(s.latency.p50_us)} / ${ms(s.latency.p99_us)} / ${ms(s.latency.max_us, 1)}`, s === half ? 'half rate' : (s.verdict.pass ? 'sustained' : `not: ${s.verdict.why}`)]), 'rrrrrrrrl'))
  md.push('')
  md.push('### Loss and duplicates')
  md.push('')
  md.push(mdTable(['', 'count'], [
    ['clicks the engine observed (`clicktrail_observed_total`) / 302s (`clicktrail_redirects_total`)', `${f(A.observed)} / ${f(A.redirects)}`],
    ['delivered to the receiver, one per click / events / POSTs', `${f(A.received)} / ${f(A.events)} / ${f(A.posts)}`],
    ['**lost** (observed, never delivered) / **duplicates** (a click delivered again)', `**${f(A.lost)} / ${f(A.duplicates)}**`],
    ['ClickHouse `clicks`: rows / distinct messages → lost / duplicates', `${f(A.clickhouse.clicks.rows)} / ${f(A.clickhouse.clicks.messages)} → ${f(A.clickhouse.lostClicks)} / ${f(A.clickhouse.duplicateClicks)}`],
    ['ClickHouse `click_observations`: rows / distinct messages → lost / duplicates', `${f(A.clickhouse.observations.rows)} / ${f(A.clickhouse.observations.messages)} → ${f(A.clickhouse.lostObservations)} / ${f(A.clickhouse.duplicateObservations)}`],
    ['signatures checked / failed (every ' + S.verifyEvery + 'th); events of another run; not counting for metrics', `${f(A.verified)} / ${f(A.badSignature)}; ${f(A.unmatched)}; ${f(A.notCounting)}`],
    ['shed anywhere (ring, spool, outbox, quarantine) / webhook attempts failed', `${f(A.shed)} / ${f(A.webhookFailedAttempts)}`],
    ...A.byPhase.map(p => [`phase ${p.label}: clicks ${f(p.from)}–${f(p.to - 1)} delivered / missing / duplicates`, `${f(p.delivered)} / ${f(p.missing)} / ${f(p.duplicates)}`])
  ]))
  const wrkCut = A.byPhase[0]?.missing ?? 0
  const notes = []
  if (sus !== undefined && steps.every(s => s.verdict.pass)) notes.push(`Every rate tried was sustained: ${f(sus.rate)} clicks/s is a lower bound (raise BENCH_MAX_STEPS or BENCH_RATE_START).`)
  if (S.stepSeconds <= WINDOW_S + 2) notes.push(`The steps (${S.stepSeconds} s) are not longer than the promotion window (${f(WINDOW_S)} s): the backlog's growth within a step is not judged, only its bound and the drain; use BENCH_STEP_SECONDS=60 for the verdict that counts.`)
  if (peak.load.extra && peak.load.extra.lines < peak.load.requests) notes.push(`The closed loop ran out of tokens (${f(peak.load.extra.lines)} for ${f(peak.load.requests)} requests): raise BENCH_PEAK_TOKENS; the rest repeated the last token (LRU hits, not new clicks).`)
  if (wrkCut > 0 && wrkCut <= S.connections) notes.push(`${wrkCut} click(s) of the closed loop's range never reached the engine: wrk had read their tokens for requests still unsent or in flight when it stopped (at most one per connection). They are not counted as lost: loss is observed minus delivered.`)
  const other = series.map(r => r.otherCores)
  const otherMean = other.reduce((a, b) => a + b, 0) / Math.max(1, other.length)
  notes.push(`Other processes used ${f(otherMean, 2)} cores on average of ${cpus().length} (up to ${f(Math.max(0, ...other), 2)}); the receiver ${f(Math.max(0, ...series.map(r => r.receiverCores)), 2)} at most, this process (the paced client, minting each token as it sends) ${f(Math.max(0, ...series.map(r => r.benchCores)), 2)} at most. Ratios within the run are like for like; absolute numbers on a shared machine are not.`)
  const eldMax = Math.max(0, ...series.map(r => r.engineEldMaxMs ?? 0))
  notes.push(`Engine main thread: event-loop delay up to ${f(eldMax, 1)} ms in some second; RSS up to ${f(peakRss)} MB, ${f(Math.max(0, ...series.map(r => r.threads)))} threads.`)
  md.push('')
  for (const n of notes) md.push(`> ${n}`, '')
  const markdown = md.join('\n').trimEnd()

  return {
    benchmark: 'pipeline',
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    settings: { ...S, productWindowMs: PRODUCT_WINDOW_MS, chromeMajor: major, headers: HEADERS, engine: info.settings, engineExtraFlags: info.extraFlags, webhook: { webhook_id: webhook.webhook_id, include_machine_events: webhook.include_machine_events }, ...toolVersions(S.tool) },
    machine: { ...machineFacts(), loadavgAtStart: loadAtStart },
    summary: {
      bareRps: bareLoad.rps,
      bareCpuUsPerReq: bareLoad.cpuUsPerReq,
      peakRps: peak.load.rps,
      peakRatio: ratio(peak.load.rps, bareLoad.rps),
      peakE2eClicksPerS: peak.e2eRate,
      peakCpuUsPerClick: peak.cpuUsPerClick,
      peakCpuRatio: ratio(peak.cpuUsPerClick, bareLoad.cpuUsPerReq),
      sustainedClicksPerS: sustained?.rate ?? null,
      sustainedRatio: sustained ? ratio(sustained.rate, bareLoad.rps) : null,
      sustainedCpuUsPerClick: sustained?.cpuUsPerClick ?? null,
      halfRate,
      halfLatencyUs: half.latency,
      halfBareLatencyUs: halfBare.latency,
      halfP99Ratio: ratio(half.latency.p99_us, halfBare.latency.p99_us),
      // The engine main thread's worst event-loop delay (any second of the run; in the half-rate phase) and its stalls over 50 ms.
      engineLoopDelayMaxMs: eldMax,
      engineLoopDelayMaxMsHalf: Math.max(0, ...series.filter(r => r.phase === half.label).map(r => r.engineEldMaxMs ?? 0)),
      engineStalls: series.at(-1)?.engineStalls ?? null,
      engineRssPeakMB: peakRss,
      bareRssMB: bareLoad.rssBytes / 1048576,
      lost: A.lost,
      duplicates: A.duplicates
    },
    bare: { closedLoop: bareLoad, paced: halfBare },
    peak,
    steps,
    half,
    accounting: A,
    phases,
    engineStop,
    series,
    markdown
  }
}

async function plot (json, written) {
  const file = written.file.replace(/\.json$/, '.svg')
  const latest = written.latest.replace(/\.json$/, '.svg')
  const rows = json.series
  const panels = [
    { title: 'rates', unit: 'clicks/s', lines: [{ key: 'offeredPerS', label: 'offered (paced client)' }, { key: 'redirectsPerS', label: 'redirected (302s)' }, { key: 'insertedPerS', label: 'stored (ClickHouse)' }, { key: 'promotedPerS', label: 'promoted' }, { key: 'receivedPerS', label: 'sustained: webhooks received' }] },
    { title: 'backlog', unit: 'clicks', lines: [{ key: 'inFlight', label: 'observed, not delivered yet' }, { key: 'overdue', label: 'of those, older than the window' }, { key: 'ingestQueued', label: 'spooled, not stored' }, { key: 'promotionPending', label: 'promotion pending' }, { key: 'webhookPending', label: 'webhook outbox pending' }] },
    { title: 'redirect latency (paced phases)', unit: 'ms (log)', log: true, lines: [{ key: 'p99Ms', label: 'p99 per second' }, { key: 'p50Ms', label: 'p50 per second' }, { key: 'maxMs', label: 'max per second' }] },
    { title: 'engine process', unit: 'cores / MB / 100', lines: [{ key: 'engineCores', label: 'CPU, cores (all threads)' }, { key: 'rss100', label: 'RSS, 100 MB' }, { key: 'spoolMB', label: 'spool, MB' }] }
  ]
  const observedAt = interpolator(rows.map(r => [r.t, r.observed]))
  const plotted = rows.map(r => ({ ...r, overdue: r.overdue ?? Math.max(0, Math.round(observedAt(r.t - WINDOW_S) - r.received)), rss100: r.rssMB / 100, spoolMB: r.spoolBytes === null ? null : r.spoolBytes / 1048576 }))
  const s = json.summary
  const opts = {
    title: `clicktrail pipeline: everything on, every click a new token (${json.startedAt})`,
    subtitle: `sustained ${s.sustainedClicksPerS === null ? 'n/a' : f(s.sustainedClicksPerS)} clicks/s end to end (${f(s.sustainedRatio, 3)}× bare uWS ${f(s.bareRps)} req/s); CPU ${f(s.peakCpuUsPerClick, 1)} µs/click (${f(s.peakCpuRatio, 1)}×); p99 at half rate ${f(s.halfLatencyUs.p99_us / 1000, 2)} ms (${f(s.halfP99Ratio, 1)}×); loss ${s.lost}, duplicates ${s.duplicates}; window ${f(S.windowMs)} ms; flags: ${S.engineFlags || 'none'}`,
    rows: plotted,
    panels,
    phases: json.phases
  }
  await writeTimePlot(join(ROOT, file), opts)
  await writeTimePlot(join(ROOT, latest), opts)
  return { file, latest }
}

runMain(main)
