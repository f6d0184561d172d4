#!/usr/bin/env node
// Redirect benchmark: clicktrail against a bare uWebSockets.js 302 and a node:http 302,
// all in one run, same load tool, same settings, same request bytes. See bench/README.md.
//
// Needs dist/ (npx tsc -p .). Every server runs in its own child process on a free
// 127.0.0.1 port, so its CPU time (user + system, all threads) is measured on its own.
import { randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { availableParallelism } from 'node:os'
import { envBool, envChoice, envInt, envList } from './lib/settings.mjs'
import { ServerChild, fail, killAll, runMain, tempDir, watchdog } from './lib/children.mjs'
import { chooseTool, loadRunner, pathCycle, runAutocannon, toolVersions } from './lib/load.mjs'
import { pacedRun } from './lib/paced.mjs'
import { probe } from './lib/http.mjs'
import { REDIRECT_REQUEST } from './lib/browser.mjs'
import { corruptToken, newSecrets, tokenKit } from './lib/tokens.mjs'
import { machineBusyUs } from './lib/proc.mjs'
import { machineFacts, loadText } from './lib/machine.mjs'
import { requireDist } from './lib/project.mjs'
import { diffStats, median, ratio } from './lib/stats.mjs'
import { f, log, mdTable, printReport, writeResults } from './lib/report.mjs'

// ---------------------------------------------------------------- settings

const S = {
  tool: chooseTool(),
  duration: envInt('BENCH_DURATION', 10, 1, 600), // seconds per measured round
  connections: envInt('BENCH_CONNECTIONS', 50, 1, 10_000),
  rounds: envInt('BENCH_ROUNDS', 3, 1, 25), // median of this many rounds per server
  warmup: envInt('BENCH_WARMUP', 3, 0, 120), // seconds of unmeasured load per server first
  wrkThreads: envInt('BENCH_WRK_THREADS', 1, 1, 64), // 1: the server gets the other core
  tokens: envInt('BENCH_TOKENS', 200_000, 1000, 5_000_000), // distinct tokens cycled (LRU miss, invalid)
  invalid: envChoice('BENCH_INVALID', 'distinct', ['distinct', 'repeat']),
  halfPeak: envBool('BENCH_HALF_PEAK', true)
}
// The cycled tokens must outnumber the caches, or the "every token new" case would hit the
// LRU: the engine's defaults (100 000 and 10 000) unless BENCH_TOKENS is small.
// Each redirect thread has its own LRU: together they must stay below the token count, or a
// miss run turns into hits (BENCH_REDIRECT_THREADS; the engine's default is one per core).
const REDIRECT_THREADS = process.env.BENCH_REDIRECT_THREADS ? Math.max(1, Number(process.env.BENCH_REDIRECT_THREADS)) : availableParallelism()
S.lruMax = Math.min(100_000, Math.floor(S.tokens / 2 / REDIRECT_THREADS))
S.negativeCacheMax = Math.min(10_000, Math.floor(S.tokens / 2))
if (S.tool === 'wrk' && S.connections < S.wrkThreads) throw new Error('BENCH_CONNECTIONS must be ≥ BENCH_WRK_THREADS')
const ONLY = envList('BENCH_SERVERS', undefined)

const { sid: SID, destination: DESTINATION, headers: HEADERS } = REDIRECT_REQUEST
const runLoad = loadRunner({ tool: S.tool, connections: S.connections, headers: HEADERS, wrkThreads: S.wrkThreads })
const PACE = 0.85 // a server whose one thread used less than this many cores did not set its own pace
const pathOf = (t) => `/c/${t}`

// ---------------------------------------------------------------- the plan

async function main () {
  requireDist()
  const started = new Date()
  const tmp = tempDir('clicktrail-bench-')
  const tokens = await mintTokens()
  const active = serverDefs(tmp, tokens).filter(d => ONLY === undefined || ONLY.includes(d.name) || d.name === 'uws-bare')
  // Hard bound on the whole run, whatever hangs.
  const halfPeakSeconds = S.halfPeak ? 3 * (S.duration + 5) : 0
  watchdog(active.length * (S.warmup + 5 + S.rounds * (S.duration + 5)) + halfPeakSeconds + 120)

  const servers = active.map(def => startServer(def, tmp, tokens.secrets))
  try {
    await Promise.all(servers.map(s => s.ready))
    for (const s of servers) await preflight(s)
    log(`tool ${S.tool}${S.tool === 'wrk' ? ` (${S.wrkThreads} thread)` : ''}, ${S.connections} connections, ${S.rounds} × ${S.duration} s per server after ${S.warmup} s warm-up; ${cpus().length} CPUs, load ${loadText()}`)
    for (const s of servers) if (S.warmup > 0) await measure(s, S.warmup)
    const results = await interleavedRounds(servers)
    const halfPeak = S.halfPeak ? await halfPeakPhase(servers, results, tokens.hot) : undefined
    for (const s of servers) await s.stop(3000)
    const { markdown, targets, notes } = report(servers, results, halfPeak, started)
    const json = {
      benchmark: 'redirect',
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      settings: { ...S, headers: HEADERS, destination: DESTINATION, tokenChars: tokens.hot.length, ...toolVersions(S.tool) },
      machine: machineFacts(),
      servers: results,
      halfPeak,
      targets,
      notes,
      markdown
    }
    printReport(markdown, writeResults('redirect', json, { started, tag: S.tool }))
  } finally {
    await Promise.allSettled(servers.map(s => s.stop(3000)))
    killAll()
  }
}

// ---------------------------------------------------------------- tokens and servers

/** The hot token, the LRU-miss tokens and the invalid ones, minted with the children's secret. */
async function mintTokens () {
  const secrets = newSecrets()
  const kit = await tokenKit(secrets)
  const sentAt = Math.floor(Date.now() / 1000)
  const mint = () => kit.mint({ sid: SID, messageId: randomUUID(), linkIndex: 0, sentAt, url: DESTINATION })
  const t0 = performance.now()
  const hot = mint()
  const miss = new Array(S.tokens)
  for (let i = 0; i < S.tokens; i++) miss[i] = mint()
  const invalid = S.invalid === 'distinct' ? miss.map(corruptToken) : [corruptToken(hot)]
  for (const t of invalid.slice(0, 5)) {
    const v = kit.verify(t)
    if (v !== 'CT_ERR_TOKEN_SIGNATURE') fail(`a corrupted token was refused as ${JSON.stringify(v)}, not CT_ERR_TOKEN_SIGNATURE`)
  }
  log(`minted ${S.tokens + 2} tokens (${hot.length} chars each) in ${f(performance.now() - t0)} ms`)
  return { secrets, hot, miss, invalid, fresh: mint }
}

function serverDefs (tmp, tokens) {
  const hotCycle = () => pathCycle(tmp, 'hot', [pathOf(tokens.hot)])
  return [
    { name: 'uws-bare', label: 'bare uWS fixed 302 (baseline)', kind: 'uws-bare', expect: 302, cycle: hotCycle(), probePath: pathOf(tokens.hot) },
    { name: 'node-http', label: 'node:http fixed 302 (baseline)', kind: 'node-http', expect: 302, cycle: hotCycle(), probePath: pathOf(tokens.hot) },
    { name: 'clicktrail-hot', label: 'clicktrail, one hot token', kind: 'clicktrail', expect: 302, cycle: hotCycle(), probePath: pathOf(tokens.hot) },
    { name: 'clicktrail-miss', label: `clicktrail, every token new (LRU miss, ${f(S.tokens)} cycled)`, kind: 'clicktrail', expect: 302, cycle: pathCycle(tmp, 'miss', tokens.miss.map(pathOf)), probePath: pathOf(tokens.fresh()) },
    { name: 'clicktrail-invalid', label: `clicktrail, invalid tokens (${S.invalid === 'distinct' ? f(S.tokens) + ' distinct' : '1 repeated'}, bad HMAC)`, kind: 'clicktrail', expect: 404, cycle: pathCycle(tmp, 'invalid', tokens.invalid.map(pathOf)), probePath: pathOf(corruptToken(tokens.fresh())) }
  ]
}

function startServer (def, tmp, secrets) {
  const env = { BENCH_LOCATION: DESTINATION }
  if (def.kind === 'clicktrail') {
    const dataDir = join(tmp, `data-${def.name}`)
    mkdirSync(dataDir, { recursive: true })
    Object.assign(env, { BENCH_SECRETS: secrets, BENCH_DATA_DIR: dataDir, BENCH_LRU_MAX: String(S.lruMax), BENCH_NEGATIVE_CACHE_MAX: String(S.negativeCacheMax) })
  }
  const s = new ServerChild(def.name, def.kind, env, { readyTimeoutMs: 30_000, sampleTimeoutMs: 10_000 })
  s.def = def
  s.cycle = def.cycle
  return s
}

/** One request with node:http, checked exactly (status, Location, Cache-Control). */
async function preflight (server) {
  const { def } = server
  const r = await probe(server.port, def.probePath, HEADERS)
  if (r.status !== def.expect) fail(`${def.name}: probe answered ${r.status}, expected ${def.expect}`)
  if (def.expect === 302) {
    if (r.location !== DESTINATION) fail(`${def.name}: probe Location is ${JSON.stringify(r.location)}, expected ${DESTINATION}`)
    if (r.cacheControl !== 'no-store') fail(`${def.name}: probe Cache-Control is ${JSON.stringify(r.cacheControl)}`)
  }
  log(`${def.name}: pid ${server.pid}, port ${server.port}, probe → ${r.status}${r.location ? ' ' + r.location.slice(0, 40) + '…' : ''}`)
}

// ---------------------------------------------------------------- measuring

/** Fails loudly unless the server answered what it had to, as many times as the client saw. */
function verify (def, load, d) {
  const where = `${def.name}`
  const slack = S.connections * 2 + 10 // sent but not completed when the load tool stopped
  if (load.requests <= 0) fail(`${where}: no request completed`)
  if (load.errors > slack || load.timeouts > slack) fail(`${where}: ${load.errors} socket errors, ${load.timeouts} timeouts`)
  const served = def.kind === 'clicktrail' ? d.requests : d.handled
  if (!(served >= load.requests && served <= load.requests + slack)) fail(`${where}: the server handled ${served} requests, the client completed ${load.requests}`)
  if (def.expect === 302) {
    if (load.non2xx3xx !== 0) fail(`${where}: ${load.non2xx3xx} responses were not 2xx/3xx (${JSON.stringify(load.statuses)})`)
    if (S.tool === 'autocannon' && Object.keys(load.statuses).some(c => c !== '302')) fail(`${where}: statuses other than 302: ${JSON.stringify(load.statuses)}`)
    if (def.kind === 'clicktrail') {
      if (d.redirects !== d.requests) fail(`${where}: ${d.requests} requests but ${d.redirects} redirects (${JSON.stringify(d)})`)
      if (d.ringDropped !== 0) fail(`${where}: the observation ring dropped ${d.ringDropped}`)
      if (def.name === 'clicktrail-miss' && d.lruHits > slack) fail(`${where}: ${d.lruHits} LRU hits — tokens repeated within the LRU window`)
      // Each redirect thread has its own LRU: one miss per thread (at most 64) on its first sight of the token.
      if (def.name === 'clicktrail-hot' && d.lruMisses > 64) fail(`${where}: ${d.lruMisses} LRU misses on the hot token`)
    }
  } else {
    if (load.non2xx3xx !== load.requests) fail(`${where}: only ${load.non2xx3xx} of ${load.requests} responses were errors (${JSON.stringify(load.statuses)})`)
    if (S.tool === 'autocannon' && Object.keys(load.statuses).some(c => c !== '404')) fail(`${where}: statuses other than 404: ${JSON.stringify(load.statuses)}`)
    if (d.notFound !== d.requests || d.redirects !== 0) fail(`${where}: ${d.requests} requests, ${d.notFound} 404s, ${d.redirects} redirects`)
  }
}

/** One closed-loop window: load tool result, server CPU per request, and what the rest of the machine used. */
async function measure (server, seconds) {
  const before = await server.sample()
  const busy0 = machineBusyUs()
  const self0 = process.cpuUsage()
  const load = await runLoad(server.port, server.cycle, seconds)
  const self = process.cpuUsage(self0)
  const busy = machineBusyUs() - busy0
  const after = await server.sample()
  const d = diffStats(before.stats, after.stats)
  verify(server.def, load, d)
  const cpuUs = after.cpuUs - before.cpuUs
  const wallMs = after.at - before.at
  // What the rest of the machine (other processes, the kernel's own threads) used meanwhile:
  // the machine's busy time less the server's, the bench process's and wrk's.
  const wrkUs = S.tool === 'wrk' ? load.loadgenCpuUtil * load.seconds * 1e6 : 0
  const otherUs = busy - cpuUs - (self.user + self.system) - wrkUs
  return {
    ...load,
    cpuUsPerReq: cpuUs / load.requests,
    serverCpuUtil: cpuUs / 1000 / wallMs,
    otherCpuUtil: otherUs / 1000 / wallMs,
    serverStats: d,
    rssMB: after.rss / 1048576
  }
}

/** Rounds interleave the servers, so drift on a shared machine hits all of them alike; medians per server. */
async function interleavedRounds (servers) {
  const rounds = new Map(servers.map(s => [s.def.name, []]))
  for (let r = 0; r < S.rounds; r++) {
    for (const s of servers) {
      const m = await measure(s, S.duration)
      rounds.get(s.def.name).push(m)
      log(`round ${r + 1}/${S.rounds} ${s.def.name.padEnd(18)} ${f(m.rps).padStart(8)} req/s  p50 ${f(m.p50Ms, 3)} ms  p99 ${f(m.p99Ms, 3)} ms  ${f(m.cpuUsPerReq, 2)} µs CPU/req  server ${f(m.serverCpuUtil * 100)}% / load gen ${f(m.loadgenCpuUtil * 100)}% / others ${f(m.otherCpuUtil * 100)}% of a core`)
    }
  }
  const results = {}
  for (const s of servers) {
    const rs = rounds.get(s.def.name)
    const med = (k) => median(rs.map(x => x[k]))
    results[s.def.name] = {
      label: s.def.label,
      expect: s.def.expect,
      median: {
        rps: med('rps'),
        p50Ms: med('p50Ms'),
        p99Ms: med('p99Ms'),
        cpuUsPerReq: med('cpuUsPerReq'),
        serverCpuUtil: med('serverCpuUtil'),
        loadgenCpuUtil: med('loadgenCpuUtil'),
        otherCpuUtil: med('otherCpuUtil'),
        requests: med('requests'),
        non2xx3xx: med('non2xx3xx')
      },
      rounds: rs
    }
  }
  return results
}

/** p50/p99 at half the hot-token peak: paced open-loop rounds (clicktrail and bare uWS), then autocannon overallRate. */
async function halfPeakPhase (servers, results, hot) {
  const hotServer = servers.find(s => s.def.name === 'clicktrail-hot')
  const bareServer = servers.find(s => s.def.name === 'uws-bare')
  if (hotServer === undefined) return undefined
  const rate = Math.max(1, Math.round(results['clicktrail-hot'].median.rps / 2))
  log(`half peak: ${f(rate)} req/s against clicktrail-hot (paced open-loop client, then autocannon overallRate), and bare uWS paced at the same rate`)
  const paced = async (s, seconds) => {
    const before = await s.sample()
    const busy0 = machineBusyUs()
    const self0 = process.cpuUsage()
    const r = await pacedRun({ port: s.port, path: pathOf(hot), headers: HEADERS, rate, seconds, connections: S.connections })
    const self = process.cpuUsage(self0)
    const busy = machineBusyUs() - busy0
    const after = await s.sample()
    r.otherCpuUtil = (busy - (after.cpuUs - before.cpuUs) - self.user - self.system) / 1000 / (after.at - before.at)
    const bad = Object.keys(r.statuses).filter(c => c !== '302')
    if (bad.length > 0) fail(`${s.def.name} at half peak: statuses ${JSON.stringify(r.statuses)}`)
    return { ...r, cpuUsPerReq: (after.cpuUs - before.cpuUs) / r.completed, serverCpuUtil: (after.cpuUs - before.cpuUs) / 1000 / (after.at - before.at) }
  }
  // Interleaved short rounds, median of each figure, so one stall of a shared machine
  // does not decide the verdict for one server alone.
  const pacedSeconds = Math.max(3, Math.round(S.duration / 2))
  const pacedRounds = { hot: [], bare: [] }
  for (let r = 0; r < S.rounds; r++) {
    pacedRounds.hot.push(await paced(hotServer, pacedSeconds))
    if (bareServer !== undefined) pacedRounds.bare.push(await paced(bareServer, pacedSeconds))
  }
  const summarize = (rs) => rs.length === 0
    ? undefined
    : {
        method: rs[0].method,
        targetRate: rate,
        secondsPerRound: pacedSeconds,
        achievedRate: median(rs.map(x => x.achievedRate)),
        unfinished: rs.reduce((a, x) => a + x.unfinished, 0),
        otherCpuUtil: median(rs.map(x => x.otherCpuUtil)),
        cpuUsPerReq: median(rs.map(x => x.cpuUsPerReq)),
        latency: { p50_us: median(rs.map(x => x.latency.p50_us)), p99_us: median(rs.map(x => x.latency.p99_us)), p999_us: median(rs.map(x => x.latency.p999_us)), max_us: Math.max(...rs.map(x => x.latency.max_us)) },
        rounds: rs
      }
  const acBefore = await hotServer.sample()
  const ac = await runAutocannon({ port: hotServer.port, cycle: { paths: [pathOf(hot)], offset: 0 }, seconds: S.duration, connections: S.connections, headers: HEADERS, overallRate: rate })
  const acAfter = await hotServer.sample()
  if (Object.keys(ac.statuses).some(c => c !== '302')) fail(`clicktrail-hot at half peak (autocannon): statuses ${JSON.stringify(ac.statuses)}`)
  return {
    rate,
    clicktrailPaced: summarize(pacedRounds.hot),
    bareUwsPaced: summarize(pacedRounds.bare),
    clicktrailAutocannonOverallRate: { ...ac, cpuUsPerReq: (acAfter.cpuUs - acBefore.cpuUs) / ac.requests, note: 'autocannon overallRate sends each connection\'s per-second quota back to back from the top of each second: the server sees bursts at full speed, so this is closer to latency under full load' }
  }
}

// ---------------------------------------------------------------- report

function report (servers, results, halfPeak, started) {
  const bare = results['uws-bare'].median
  const node = results['node-http']?.median
  const hotM = results['clicktrail-hot']?.median
  const miss = results['clicktrail-miss']?.median
  const main = mdTable(['server', 'req/s', 'ratio vs bare uWS', 'p50 ms', 'p99 ms', 'CPU µs/req', 'CPU ratio vs bare uWS'], servers.map(s => {
    const m = results[s.def.name].median
    return [s.def.label, f(m.rps), `${f(ratio(m.rps, bare.rps), 2)}×`, f(m.p50Ms, 3), f(m.p99Ms, 3), f(m.cpuUsPerReq, 2), `${f(ratio(m.cpuUsPerReq, bare.cpuUsPerReq), 2)}×`]
  }))
  const detail = mdTable(['server', 'requests (median round)', 'non-2xx/3xx', 'server CPU (cores)', 'load generator CPU (cores)', 'other processes\' CPU (cores)', 'server-side counts (median round)'], servers.map(s => {
    const r = results[s.def.name]
    const mid = r.rounds.slice().sort((a, b) => a.rps - b.rps)[r.rounds.length >> 1]
    const d = mid.serverStats
    const counts = s.def.kind === 'clicktrail'
      ? `redirects ${d.redirects}, 404 ${d.notFound}, LRU hits ${d.lruHits}, misses ${d.lruMisses}, negative hits ${d.negativeHits}, ring dropped ${d.ringDropped}`
      : `handled ${d.handled}`
    return [s.def.name, f(r.median.requests), f(r.median.non2xx3xx), f(r.median.serverCpuUtil, 2), f(r.median.loadgenCpuUtil, 2), f(Math.max(0, r.median.otherCpuUtil), 2), counts]
  }), 'lrrrrrl')

  const targets = []
  // A throughput ratio A/B ≥ k is proven only if B set its own pace (its one thread was
  // busy, ≥ 0.85 core) and disproven only if A did; when a server sat below that, the load
  // generator or the rest of a shared machine set the pace and the verdict is inconclusive.
  const target = (name, verdict, text) => { targets.push({ target: name, verdict, met: verdict === 'met', detail: text }) }
  const throughputVerdict = (a, b, k) => {
    const q = ratio(a.rps, b.rps)
    if (q >= k) return b.serverCpuUtil >= PACE ? 'met' : 'inconclusive'
    return a.serverCpuUtil >= PACE ? 'not met' : 'inconclusive'
  }
  const why = (a, b, aName, bName, k) => {
    const q = ratio(a.rps, b.rps)
    const held = (m, n) => `${n} used only ${f(m.serverCpuUtil, 2)} core (load generator ${f(m.loadgenCpuUtil, 2)}, other processes ${f(Math.max(0, m.otherCpuUtil), 2)})`
    if (q >= k && b.serverCpuUtil < PACE) return ` (inconclusive: ${held(b, bName)}, its real peak is higher)`
    if (q < k && a.serverCpuUtil < PACE) return ` (inconclusive: ${held(a, aName)}, its real peak is higher)`
    if (q < k && b.serverCpuUtil < PACE) return ` (${held(b, bName)}: the real ratio is lower still)`
    return ''
  }
  if (hotM) {
    const q = ratio(hotM.rps, bare.rps)
    target('hot token throughput ≥ 0.9 × bare uWS', throughputVerdict(hotM, bare, 0.9), `${f(hotM.rps)} vs ${f(bare.rps)} req/s = ${f(q, 3)}×` + why(hotM, bare, 'clicktrail', 'bare uWS', 0.9))
  }
  if (miss) {
    const q = ratio(miss.rps, bare.rps)
    target('LRU-miss throughput ≥ 0.75 × bare uWS', throughputVerdict(miss, bare, 0.75), `${f(miss.rps)} vs ${f(bare.rps)} req/s = ${f(q, 3)}×` + why(miss, bare, 'clicktrail', 'bare uWS', 0.75))
  }
  if (hotM) {
    const q = ratio(hotM.cpuUsPerReq, bare.cpuUsPerReq)
    const qm = miss ? ratio(miss.cpuUsPerReq, bare.cpuUsPerReq) : NaN
    target('server CPU per redirect ≤ 1.2 × bare uWS (hot token)', q <= 1.2 ? 'met' : 'not met', `${f(hotM.cpuUsPerReq, 2)} vs ${f(bare.cpuUsPerReq, 2)} µs/req = ${f(q, 3)}×` + (miss ? `; LRU miss: ${f(miss.cpuUsPerReq, 2)} µs/req = ${f(qm, 3)}×` : '') +
      ` (servers at ${f(hotM.serverCpuUtil, 2)} and ${f(bare.serverCpuUtil, 2)} core; an idler server pays more wake-ups per request)`)
  }
  if (hotM && node) {
    const q = ratio(hotM.rps, node.rps)
    const qm = miss ? ratio(miss.rps, node.rps) : NaN
    target('clicktrail ≥ 1.5 × node:http fixed 302 (hot token)', throughputVerdict(hotM, node, 1.5), `${f(hotM.rps)} vs ${f(node.rps)} req/s = ${f(q, 3)}×` + (miss ? `; LRU miss: ${f(qm, 3)}×` : '') + why(hotM, node, 'clicktrail', 'node:http', 1.5))
  }
  if (halfPeak) {
    const p = halfPeak.clicktrailPaced
    const p99 = p.latency.p99_us / 1000
    const b = halfPeak.bareUwsPaced
    const bp99 = b ? b.latency.p99_us / 1000 : NaN
    const kept = p.unfinished === 0 && p.achievedRate >= 0.97 * halfPeak.rate
    // When even the bare uWS 302 misses 1 ms at that rate, the floor is the machine or the client.
    const verdict = p99 <= 1 && kept ? 'met' : (bp99 > 1 ? 'inconclusive' : 'not met')
    const ac = halfPeak.clicktrailAutocannonOverallRate
    target('p99 latency at half of peak ≤ 1 ms (hot token)', verdict,
      `paced open-loop at ${f(halfPeak.rate)} req/s, median of ${p.rounds.length} × ${p.secondsPerRound} s (achieved ${f(p.achievedRate)}, other processes ${f(Math.max(0, p.otherCpuUtil), 2)} core): p50 ${f(p.latency.p50_us / 1000, 3)} ms, p99 ${f(p99, 3)} ms, p99.9 ${f(p.latency.p999_us / 1000, 3)} ms` +
      (b ? `; bare uWS at the same rate: p50 ${f(b.latency.p50_us / 1000, 3)} ms, p99 ${f(bp99, 3)} ms (other processes ${f(Math.max(0, b.otherCpuUtil), 2)} core)` : '') +
      `; autocannon overallRate (bursty, see note): p50 ${f(ac.p50Ms, 3)} ms, p99 ${f(ac.p99Ms, 3)} ms at ${f(ac.rps)} req/s`)
  }

  const heldBack = servers.filter(s => results[s.def.name].median.serverCpuUtil < PACE).map(s => s.def.name)
  const notes = []
  const busiest = Math.max(...servers.map(s => results[s.def.name].median.otherCpuUtil))
  if (busiest > 0.15) notes.push(`Other processes used up to ${f(busiest, 2)} cores during the measured rounds (of ${cpus().length}): the numbers are disturbed; ratios within the run are still like for like, absolute numbers are not.`)
  if (heldBack.length > 0) {
    notes.push(`Server below 0.85 core in: ${heldBack.join(', ')} — the load generator (or the rest of the machine) was the limit there, so req/s understates that server's own peak; CPU µs/req is the server-side comparison.`)
  }
  if (halfPeak) notes.push('Half-peak latency is measured from when the paced client queued each request; its ~0.1 ms wake-up interval adds up to ~0.15 ms to p50 for every server alike (compare with bare uWS at the same rate).')
  notes.push(`Latency: ${S.tool === 'wrk' ? 'wrk\'s histogram (µs)' : 'recorded per response from autocannon\'s response event (µs resolution; autocannon\'s own histogram is whole ms)'}; closed loop with ${S.connections} connections, so it is latency at full load.`)
  if (S.tool === 'wrk' && halfPeak) notes.push('The half-peak phase does not use wrk (which cannot pace); it uses bench/lib/paced.mjs (open-loop, CO-corrected) and, for reference, autocannon overallRate.')

  const title = `## Redirect benchmark — ${S.tool}, ${S.connections} connections, median of ${S.rounds} × ${S.duration} s, ${started.toISOString()}`
  const markdown = [title, '', main, '', detail, '', '### Targets (DESIGN.md)', '',
    ...targets.map(t => `- ${t.verdict.toUpperCase()}: ${t.target} — ${t.detail}`), '',
    ...notes.map(n => `> ${n}`)].join('\n')
  return { markdown, targets, notes }
}

runMain(main)
