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
import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { envBool, envInt } from './lib/settings.mjs'
import { ServerChild, fail, killAll, runMain, tempDir, watchdog } from './lib/children.mjs'
import { chooseTool, loadRunner, pathCycle, toolVersions } from './lib/load.mjs'
import { probe } from './lib/http.mjs'
import { REDIRECT_REQUEST } from './lib/browser.mjs'
import { newSecrets, tokenKit } from './lib/tokens.mjs'
import { machineBusyUs } from './lib/proc.mjs'
import { machineFacts, loadText } from './lib/machine.mjs'
import { requireDist } from './lib/project.mjs'
import { every } from './lib/sampler.mjs'
import { diffStats, median, ratio, round, slope, summarize } from './lib/stats.mjs'
import { f, log, mb, mdTable, printReport, writeResults } from './lib/report.mjs'

// ---------------------------------------------------------------- settings

const QUICK = envBool('BENCH_QUICK', false)
const TARGET_SECONDS = 60 // DESIGN.md: "keeps up with peak redirect rate for 60 s"
const S = {
  tool: chooseTool(),
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

// The same request bytes as bench/redirect.mjs: a mail reader's browser following a link.
const { sid: SID, host: HOST_HEADER, destination: DESTINATION, headers: HEADERS } = REDIRECT_REQUEST
const runLoad = loadRunner({ tool: S.tool, connections: S.connections, headers: HEADERS, wrkThreads: S.wrkThreads })

// ---------------------------------------------------------------- the plan

async function main () {
  requireDist()
  const started = new Date()
  const tmp = tempDir('clicktrail-bench-ingest-')
  const { secrets, tokens, cycle } = await hotTokens(tmp)
  const offA = Math.max(1, Math.ceil(S.offSeconds / 2))
  const offB = Math.max(1, S.offSeconds - offA)
  watchdog(3 * S.warmup + S.onSeconds + S.offSeconds + 2 * S.drainTimeout + 360)

  const common = { BENCH_SECRETS: secrets, BENCH_SID: SID, BENCH_LOCATION: DESTINATION }
  let off
  let on
  try {
    off = await startServer('ingest-off', { ...common, BENCH_INGEST: 'off', BENCH_DATA_DIR: dataDir(tmp, 'data-off') }, cycle)
    log(`ingest-off: pid ${off.pid}, port ${off.port} (${off.config.storage})`)
    log(`tool ${S.tool}${S.tool === 'wrk' ? ` (${S.wrkThreads} thread)` : ''}, ${S.connections} connections, ${S.tokens} hot tokens cycled; ON ${S.onSeconds} s, OFF ${offA} + ${offB} s around it, warm-up ${S.warmup} s; ${cpus().length} CPUs, load ${loadText()}`)
    const offRoundA = await measure(off, cycle, offA, { ingest: false })
    logWindow('OFF (round A)', offRoundA)

    const onDir = dataDir(tmp, 'data-on')
    on = await startServer('ingest-on', { ...common, BENCH_INGEST: 'on', BENCH_DATA_DIR: onDir }, cycle)
    log(`ingest-on: pid ${on.pid}, port ${on.port}, ${on.config.storage} ClickHouse in ${onDir}, started in ${f(on.startupMs)} ms; batch-max-rows ${on.config.batchMaxRows}, batch-max-ms ${on.config.batchMaxMs}, spool bound ${mb(on.config.spoolMaxBytes)} MB`)
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
    const { loss, tsOk } = await countRows(on, drained, started)
    const onStop = await on.stop()
    log(`ingest-on: stopped (${JSON.stringify(onStop)})`)

    const offRoundB = await measure(off, cycle, offB, { ingest: false })
    logWindow('OFF (round B)', offRoundB)
    await off.stop()

    const offM = combineOff(offRoundA, offRoundB)
    const r = report({ started, offA, offB, offM, offRoundA, offRoundB, onRun, loss, tsOk })
    const json = resultJson({ started, offA, offB, tokens, on, offM, offRoundA, offRoundB, onRun, loss, onStop, r })
    printReport(r.markdown, writeResults('ingest', json, { started, tag: S.tool }))
  } finally {
    await Promise.allSettled([on, off].filter(Boolean).map(s => s.stop(5000)))
    killAll()
  }
}

/** The result JSON: settings, machine, a summary, every window and the loss count. */
function resultJson ({ started, offA, offB, tokens, on, offM, offRoundA, offRoundB, onRun, loss, onStop, r }) {
  return {
    benchmark: 'ingest',
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    settings: { ...S, offRoundSeconds: [offA, offB], headers: HEADERS, destination: DESTINATION, tokenChars: tokens[0].length, engine: on.config, ...toolVersions(S.tool) },
    machine: machineFacts(),
    summary: {
      onRedirectsPerS: onRun.rps,
      offRedirectsPerS: offM.rps,
      onOffRatio: r.q10,
      redirectThreadCapacityOnOff: r.capacity,
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
      onStartupMs: on.startupMs
    },
    off: { combined: offM, roundA: offRoundA, roundB: offRoundB },
    on: onRun,
    loss,
    onStop,
    targets: r.targets,
    notes: r.notes,
    markdown: r.markdown
  }
}

// ---------------------------------------------------------------- tokens and servers

/**
 * Hot tokens, minted here with the secret both children get: distinct message ids, so the
 * rows in ClickHouse can be told apart; few enough that all stay in the LRU after warm-up.
 */
async function hotTokens (tmp) {
  const secrets = newSecrets()
  const kit = await tokenKit(secrets)
  const sentAt = Math.floor(Date.now() / 1000)
  const tokens = []
  for (let i = 0; i < S.tokens; i++) tokens.push(kit.mint({ sid: SID, messageId: randomUUID(), linkIndex: i % 8, sentAt, url: DESTINATION }))
  log(`minted ${S.tokens} hot tokens (${tokens[0].length} chars each)`)
  return { secrets, tokens, cycle: pathCycle(tmp, 'hot', tokens.map(t => `/c/${t}`)) }
}

function dataDir (tmp, name) {
  const dir = join(tmp, name)
  mkdirSync(dir)
  return dir
}

/** Starts a server, checks one redirect, reads its settings and warms it up. */
async function startServer (name, env, cycle) {
  const t0 = performance.now()
  const s = new ServerChild(name, 'clicktrail-ingest', env, { readyTimeoutMs: 120_000, sampleTimeoutMs: 60_000 })
  await s.ready
  s.startupMs = performance.now() - t0
  await preflight(s, cycle.paths[0])
  s.config = await s.call('config')
  if (S.warmup > 0) await runLoad(s.port, cycle, S.warmup)
  return s
}

/** One request with node:http, checked exactly (status, Location, Cache-Control). */
async function preflight (server, path) {
  const r = await probe(server.port, path, HEADERS)
  if (r.status !== 302) fail(`${server.name}: probe answered ${r.status}, expected 302`)
  if (r.location !== DESTINATION) fail(`${server.name}: probe Location is ${JSON.stringify(r.location)}, expected ${DESTINATION}`)
  if (r.cacheControl !== 'no-store') fail(`${server.name}: probe Cache-Control is ${JSON.stringify(r.cacheControl)}`)
}

// ---------------------------------------------------------------- measuring

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

/**
 * Runs the load for `seconds` against `server` while sampling it every second: rates,
 * spool depth, event-loop delay. Returns the window's summary and its series.
 */
async function measure (server, cycle, seconds, { ingest, series = true }) {
  const before = await server.sample()
  const busy0 = machineBusyUs()
  const self0 = process.cpuUsage()
  const samples = [before]
  const stopSampling = series ? every(S.sampleMs, async () => { samples.push(await server.sample()) }) : async () => {}
  let load
  try {
    load = await runLoad(server.port, cycle, seconds)
  } finally {
    await stopSampling()
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

/** Every 302 the server answered (warm-up, probe and window) against the rows stored. */
async function countRows (on, drained, started) {
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
  return { loss, tsOk }
}

/** The two OFF rounds as one: rates over their summed time, CPU per redirect weighted by redirects. */
function combineOff (offRoundA, offRoundB) {
  const offReq = offRoundA.requests + offRoundB.requests
  const offSec = offRoundA.seconds + offRoundB.seconds
  const offRedirects = offRoundA.serverRedirects + offRoundB.serverRedirects
  const wsum = (k) => (offRoundA[k] * offRoundA.serverRedirects + offRoundB[k] * offRoundB.serverRedirects) / offRedirects
  return {
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
}

function logWindow (label, m) {
  log(`${label.padEnd(16)} ${f(m.rps).padStart(8)} req/s  p50 ${f(m.p50Ms, 3)} ms  p99 ${f(m.p99Ms, 3)} ms  ${f(m.cpuUsPerRedirect, 2)} µs CPU/redirect (main thread ${f(m.mainThreadCpuUsPerRedirect, 2)})  server ${f(m.serverCpuUtil * 100)}% (main ${f(m.mainThreadCpuUtil * 100)}%) / load gen ${f(m.loadgenCpuUtil * 100)}% / others ${f(Math.max(0, m.otherCpuUtil) * 100)}% of a core  max loop delay ${f(m.eldMaxMs, 1)} ms` +
    (m.inserted !== undefined ? `  inserted ${f(m.insertedPerS)} rows/s, max queue ${f(m.maxQueuedRows)} rows` : ''))
}

// ---------------------------------------------------------------- report

function report ({ started, offA, offB, offM, offRoundA, offRoundB, onRun, loss, tsOk }) {
  const q10 = ratio(onRun.rps, offM.rps)
  const cpuQ = ratio(onRun.cpuUsPerRedirect, offM.cpuUsPerRedirect)
  const mainQ = ratio(onRun.mainThreadCpuUsPerRedirect, offM.mainThreadCpuUsPerRedirect)

  const row = (label, m, r) => [label, f(m.seconds, 1), f(m.rps), r, f(m.p50Ms, 3), f(m.p99Ms, 3), f(m.cpuUsPerRedirect, 2), f(m.mainThreadCpuUsPerRedirect, 2), f(m.serverCpuUtil, 2), f(m.mainThreadCpuUtil, 2), f(m.loadgenCpuUtil, 2), f(Math.max(0, m.otherCpuUtil), 2), `${f(m.mainThreadWaitMsPerS)} (${f(m.mainThreadWaitMaxMsPerS)})`, f(ratio(m.slowestSecond, m.medianSecond), 2), f(m.eldMaxMs, 1)]
  const rows = mdTable(['ingest', 'seconds', 'redirects/s', 'ON ÷ OFF', 'p50 ms', 'p99 ms', 'CPU µs/redirect (process)', 'main thread µs/redirect', 'server CPU (cores)', 'main thread (cores)', 'load gen (cores)', 'other processes (cores)', 'main thread waiting for a CPU, ms/s (worst second)', 'slowest second ÷ median second', 'max event-loop delay ms'], [
    row('OFF (CountingSink), both rounds', offM, '1.00×'),
    row('  OFF round A (before ON)', offRoundA, `${f(ratio(offRoundA.rps, offM.rps), 2)}×`),
    row('  OFF round B (after ON)', offRoundB, `${f(ratio(offRoundB.rps, offM.rps), 2)}×`),
    row('**ON** (embedded ClickHouse)', onRun, `**${f(q10, 3)}×**`)
  ])

  const ing = mdTable(['ingest ON', 'value'], [
    ['rows inserted/s during the window', `${f(onRun.insertedPerS)} (redirects/s ${f(onRun.serverRedirectsPerS)})`],
    ['CPU µs/redirect until its rows were inserted (window + drain): process / main thread', `${f(onRun.cpuUsPerRedirectInclDrain, 2)} / ${f(onRun.mainThreadCpuUsPerRedirectInclDrain, 2)}`],
    ['inserts in the window / rows per insert p50, max', `${f(onRun.inserts)} / ${f(onRun.insertBatchRows.p50)}, ${f(onRun.insertBatchRows.max)}`],
    ['insert latency ms p50 / p90 / max', `${f(onRun.insertLatencyMs.p50, 1)} / ${f(onRun.insertLatencyMs.p90, 1)} / ${f(onRun.insertLatencyMs.max, 1)}`],
    ['queued rows (spool, not yet acknowledged): max / at the end of the load', `${f(onRun.maxQueuedRows)} / ${f(onRun.queuedRowsAtEnd)}`],
    ['queue trend over the window (least squares)', `${f(onRun.queueSlopeRowsPerS, 1)} rows/s (${f(onRun.queueSlopeRowsPerS * onRun.seconds)} rows over ${f(onRun.seconds)} s)`],
    ['spool bytes max (segment files, acked frames included until a segment rolls)', `${mb(onRun.maxSpoolBytes)} MB`],
    ['drain after the load stopped', `${f(loss.drainMs)} ms`],
    ['insert failures / retries / shed / spool write errors', `${onRun.insertFailures} / ${onRun.spoolRetries} / ${onRun.shed} / ${onRun.spoolWriteErrors}`],
    ['302s answered (redirects − expired, warm-up and probe included)', `${f(loss.expected)}`],
    ['rows in click_observations / distinct obs_id / distinct message_id', `${f(loss.rowsInClickHouse)} / ${f(loss.distinctObsIds)} / ${f(loss.distinctMessages)}`],
    ['lost / duplicated', `**${f(loss.lost)}** / **${f(loss.duplicates)}**`]
  ])

  // Spool depth over time: every second, compactly (and every point in the JSON).
  const serRows = []
  const step = Math.max(1, Math.ceil(onRun.series.length / 30))
  onRun.series.forEach((p, i) => {
    if (i % step !== 0 && i !== onRun.series.length - 1) return
    serRows.push([f(p.t, 1), f(p.redirectsPerS), f(p.insertedPerS), p.inserts, f(p.queuedRows), mb(p.spoolBytes), f(p.eldMaxMs, 1), `${f(p.serverCores, 2)} (${f(p.mainThreadCores, 2)})`, f(p.mainWaitMsPerS)])
  })
  const ser = mdTable(['t s', 'redirects/s', 'inserted/s', 'inserts', 'queued rows', 'spool MB', 'max loop delay ms', 'server cores (main thread)', 'main thread waiting for a CPU ms'], serRows, 'rrrrrrrrr')

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
  const markdown = [title, '', rows, '', ing, '', `### Spool depth over time (ON, every ${step === 1 ? '' : step + ' '}second${step === 1 ? '' : 's'})`, '', ser, '', '### Targets (DESIGN.md / issue 3)', '',
    ...targets.map(t => `- ${t.verdict.toUpperCase()}: ${t.target} — ${t.detail}`), '',
    ...notes.map(n => `> ${n}`)].join('\n')
  return { markdown, targets, notes, q10, capacity }
}

runMain(main)
