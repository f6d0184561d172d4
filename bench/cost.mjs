#!/usr/bin/env node
// CPU per click, end to end: the real engine with everything on (kind 'clicktrail-e2e':
// embedded ClickHouse, spool, ingest, promotion with its window, classification in the pool,
// webhooks outbox to a receiver in this process), wrk at peak with a new token on every
// request (every click its own message), then the drain until every click is stored,
// promoted and its webhook received. Reported: the engine's CPU (all threads, from
// process.cpuUsage) over load + drain ÷ clicks, the same split by thread name
// (/proc/<pid>/task/*: threads that ended during the run are the "ended threads" line), and,
// in the same run, bare uWS answering a fixed 302 under the same wrk for the ratio.
//
//   BENCH_DURATION     seconds of load (default 10)
//   BENCH_CONNECTIONS  wrk connections (default 50)
//   BENCH_WINDOW_MS    --promotion-window-ms (default 15000, the product's)
//   BENCH_CPU_PROF     a directory: the engine runs with --cpu-prof there (every thread's profile)
//   BENCH_EXEC_ARGV    more node flags for the engine (e.g. --perf-basic-prof for perf record -p)
//   BENCH_BARE         0 skips the bare uWS baseline
//   BENCH_WEBHOOK      0: no webhook is configured (no outbox, no POSTs)
//   BENCH_BATCH_MAX_ROWS / BENCH_BATCH_MAX_MS / BENCH_POOL_THREADS   engine overrides
//
// Needs dist/ (npx tsc -p .) and wrk. Output: markdown on stdout, bench/results/cost-latest.json.
import { randomUUID } from 'node:crypto'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import http from 'node:http'
import { HOST, envBool, envInt, envOpt } from './lib/settings.mjs'
import { ServerChild, atExit, fail, killAll, runMain, tempDir, watchdog } from './lib/children.mjs'
import { apiRequest } from './lib/http.mjs'
import { chromeHeaders } from './lib/browser.mjs'
import { newSecrets, tokenKit } from './lib/tokens.mjs'
import { hasWrk, pathCycle, runWrk } from './lib/load.mjs'
import { machineFacts } from './lib/machine.mjs'
import { chromeMajorAt, requireDist } from './lib/project.mjs'
import { f, log, mdTable, printReport, writeResults } from './lib/report.mjs'

const S = {
  seconds: envInt('BENCH_DURATION', 10, 1, 600),
  connections: envInt('BENCH_CONNECTIONS', 50, 1, 1000),
  windowMs: envInt('BENCH_WINDOW_MS', 15_000, 0, 600_000),
  bare: envBool('BENCH_BARE', true),
  cpuProf: process.env.BENCH_CPU_PROF || undefined,
  batchMaxRows: envOpt('BENCH_BATCH_MAX_ROWS', /^\d+$/, 'a whole number'),
  batchMaxMs: envOpt('BENCH_BATCH_MAX_MS', /^\d+$/, 'a whole number'),
  poolThreads: envOpt('BENCH_POOL_THREADS', /^\d+$/, 'a whole number'),
  webhook: envBool('BENCH_WEBHOOK', true),
  tokens: envInt('BENCH_TOKENS', 0, 0, 5_000_000) // 0: 45 000 per second of load
}
const SID = 'cost'
const HOST_HEADER = `p${SID}.t.localhost`
const CLK_TCK = 100

/** CPU µs per thread of `pid`, keyed by tid, with the thread's name. */
function threadTimes (pid) {
  const out = new Map()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const fl = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out.set(tid, { name, us: (Number(fl[11]) + Number(fl[12])) * 1e6 / CLK_TCK })
    } catch {}
  }
  return out
}

/** Per thread name: CPU µs spent between two threadTimes snapshots (threads started in between count from 0). */
function threadDiff (a, b, pid) {
  const by = {}
  for (const [tid, t] of b) {
    const name = tid === String(pid) ? 'main (JS)' : t.name
    by[name] = (by[name] ?? 0) + t.us - (a.get(tid)?.us ?? 0)
  }
  return by
}

async function startReceiver () {
  const rx = { posts: 0, events: 0, ids: new Set(), duplicates: 0 }
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      res.writeHead(200).end('ok')
      rx.posts++
      const id = req.headers['webhook-id']
      if (rx.ids.has(id)) rx.duplicates++
      else { rx.ids.add(id); rx.events++ }
    })
  })
  atExit(() => { server.closeAllConnections?.(); server.close() })
  await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, HOST, resolve) })
  return { rx, url: `http://${HOST}:${server.address().port}/hook` }
}

async function bareBaseline (cycle, headers) {
  const bare = new ServerChild('uws-bare', 'uws-bare', { BENCH_LOCATION: 'https://shop.example.com/p/0' })
  try {
    await bare.ready
    await runWrk({ port: bare.port, cycle, seconds: 2, connections: S.connections, headers })
    const a = await bare.sample()
    const w = await runWrk({ port: bare.port, cycle, seconds: Math.min(S.seconds, 10), connections: S.connections, headers })
    const b = await bare.sample()
    const n = b.stats.handled - a.stats.handled
    return { rps: w.rps, cpuUsPerRequest: (b.cpuUs - a.cpuUs) / n, requests: n }
  } finally {
    await bare.stop(5000)
  }
}

async function main () {
  requireDist()
  if (!hasWrk) fail('wrk is needed (apt-get install -y wrk)')
  const started = new Date()
  const tmp = tempDir('clicktrail-bench-cost-')
  watchdog(300 + S.seconds * 3 + S.windowMs / 1000 * 2)
  const secrets = newSecrets()
  const kit = await tokenKit(secrets)
  const major = (await chromeMajorAt())(Date.now()) - 1
  const headers = chromeHeaders(major, HOST_HEADER)

  const total = S.tokens || 45_000 * S.seconds
  const sentAt = Math.floor(Date.now() / 1000) - 3600
  const paths = new Array(total)
  for (let i = 0; i < total; i++) {
    paths[i] = '/c/' + kit.mint({ sid: SID, messageId: randomUUID(), linkIndex: i % 8, sentAt, url: `https://shop.example.com/p/${i}?utm_source=newsletter&utm_medium=email&c=${i}` })
  }
  const cycle = pathCycle(tmp, 'cost', paths)
  log(`minted ${f(total)} tokens`)

  const baseline = S.bare ? await bareBaseline(pathCycle(tmp, 'bare', ['/c/x']), headers) : undefined
  if (baseline) log(`bare uWS: ${f(baseline.rps)} req/s, ${f(baseline.cpuUsPerRequest, 1)} µs CPU per request`)

  const receiver = await startReceiver()
  const env = { BENCH_SECRETS: secrets, BENCH_DATA_DIR: join(tmp, 'data'), BENCH_SID: SID, BENCH_WINDOW_MS: String(S.windowMs) }
  if (S.batchMaxMs) env.BENCH_BATCH_MAX_MS = S.batchMaxMs
  if (S.batchMaxRows) env.BENCH_BATCH_MAX_ROWS = S.batchMaxRows
  if (S.poolThreads) env.BENCH_POOL_THREADS = S.poolThreads
  mkdirSync(env.BENCH_DATA_DIR)
  const execArgv = [...(S.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${S.cpuProf}`] : []), ...(process.env.BENCH_EXEC_ARGV ?? '').split(' ').filter(Boolean)]
  const engine = new ServerChild('engine', 'clicktrail-e2e', env, { readyTimeoutMs: 120_000, sampleTimeoutMs: 30_000, execArgv })
  let stopped
  try {
    await engine.ready
    const info = await engine.call('info')
    const created = !S.webhook ? { status: 201 } : await apiRequest(info.apiPort, 'POST', `/v1/projects/${info.projectId}/webhooks`, info.token, { url: receiver.url, events: ['message.clicked'], include_machine_events: true })
    if (created.status !== 201) fail(`creating the webhook answered ${created.status}: ${JSON.stringify(created.body)}`)
    log(`engine pid ${engine.pid}: ${JSON.stringify(info.settings)}`)
    await sleep(1000)

    const s0 = await engine.sample()
    const t0 = threadTimes(engine.pid)
    const w = await runWrk({ port: engine.port, cycle, seconds: S.seconds, connections: S.connections, headers })
    const s1 = await engine.sample()
    const t1 = threadTimes(engine.pid)
    const clicks = s1.stats.redirects - s0.stats.redirects
    if (clicks > total) fail(`${f(clicks)} clicks but only ${f(total)} tokens: raise BENCH_TOKENS`)
    log(`load: ${f(w.rps)} req/s, ${f(clicks)} redirects; draining`)
    // Drained: every click stored, promoted, its webhook received.
    const d0 = performance.now()
    let s2 = s1
    const eldLoadMs = s1.stats.eldMaxMs
    let eldDrainMs = 0
    for (;;) {
      await sleep(500)
      s2 = await engine.sample()
      if (s2.stats.eldMaxMs > eldDrainMs) eldDrainMs = s2.stats.eldMaxMs
      const st = s2.stats
      const done = st.queuedRows === 0 && st.promoterPending === 0 && st.dispatcherPending === 0 &&
        st.promoter_promoted >= st.ingest_inserted && (!S.webhook || receiver.rx.events >= st.promoter_promoted)
      if (done) break
      if (performance.now() - d0 > 600_000) fail(`no drain after 600 s: ${JSON.stringify(st)}`)
    }
    const t2 = threadTimes(engine.pid)
    const drainS = (performance.now() - d0) / 1000
    const st = s2.stats
    const cpuLoad = s1.cpuUs - s0.cpuUs
    const cpuAll = s2.cpuUs - s0.cpuUs
    const perClick = cpuAll / clicks
    const byThread = threadDiff(t0, t2, engine.pid)
    const summed = Object.values(byThread).reduce((a, b) => a + b, 0)
    byThread['(ended threads)'] = cpuAll - summed
    const loadThreads = threadDiff(t0, t1, engine.pid)
    const rows = Object.entries(byThread).sort((a, b) => b[1] - a[1]).filter(([, us]) => Math.abs(us) / clicks >= 0.05)
      .map(([name, us]) => [name, f(us / clicks, 1), f((loadThreads[name] ?? 0) / clicks, 1), f(100 * us / cpuAll, 1) + ' %'])
    const md = [
      `# CPU per click, end to end (${new Date().toISOString()})`, '',
      mdTable(['', 'value'], [
        ['clicks (new token each)', f(clicks)],
        ['load', `${f(w.rps)} req/s for ${f(w.seconds, 1)} s, p99 ${f(w.p99Ms, 1)} ms`],
        ['drain after the load', `${f(drainS, 1)} s`],
        ['end to end', `${f(clicks / (w.seconds + drainS))} clicks/s`],
        ['engine CPU during load', `${f(cpuLoad / clicks, 1)} µs per click`],
        ['engine CPU load + drain', `**${f(perClick, 1)} µs per click**`],
        ['bare uWS 302 (same run)', baseline ? `${f(baseline.rps)} req/s, ${f(baseline.cpuUsPerRequest, 1)} µs per request` : 'skipped'],
        ['× bare uWS', baseline ? f(perClick / baseline.cpuUsPerRequest, 1) + '×' : 'n/a'],
        ['inserted / promoted / webhooks', `${f(st.ingest_inserted - s0.stats.ingest_inserted)} / ${f(st.promoter_promoted - s0.stats.promoter_promoted)} / ${f(receiver.rx.events)} (duplicates ${receiver.rx.duplicates})`],
        ['engine main-thread loop delay max, load / drain', `${f(eldLoadMs, 1)} / ${f(eldDrainMs, 1)} ms` + (st.loopStalls === undefined ? '' : `; ${f(st.loopStalls - s0.stats.loopStalls)} stalls over 50 ms`)],
        ['RSS at the end', `${f(s2.rss / 1048576)} MB`]
      ]), '',
      '## By thread (µs per click)', '',
      mdTable(['thread', 'load + drain', 'during load', 'share'], rows)
    ].join('\n')
    stopped = await engine.stop(60_000)
    const json = { started: started.toISOString(), settings: S, machine: machineFacts(), clicks, wrk: w, drainS, cpuUsPerClick: perClick, cpuUsPerClickLoad: cpuLoad / clicks, loopDelay: { loadMaxMs: eldLoadMs, drainMaxMs: eldDrainMs, stallsOver50Ms: st.loopStalls === undefined ? null : st.loopStalls - s0.stats.loopStalls }, baseline, byThreadUs: byThread, stats: st, markdown: md }
    printReport(md, writeResults('cost', json, { started }))
  } finally {
    if (stopped === undefined) await engine.stop(30_000).catch(() => {})
    killAll()
  }
}

runMain(main)
