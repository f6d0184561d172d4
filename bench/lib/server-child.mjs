// One server under test, run in its own process (lib/children.mjs ServerChild, a fork) so
// that its CPU time (process.cpuUsage: user + system, every thread of the process) can
// be read on its own. Usage: node server-child.mjs <kind>
//
// Kinds 'uws-bare', 'node-http' and 'clicktrail' (bench/redirect.mjs). Environment:
//   BENCH_LOCATION          the fixed Location of the two baselines
//   BENCH_SECRETS           clicktrail master secrets (kid:base64)
//   BENCH_DATA_DIR          clicktrail --data-dir (a temp dir; nothing is written to it
//                           while secrets are given, but the option must point somewhere)
//   BENCH_LRU_MAX / BENCH_NEGATIVE_CACHE_MAX   clicktrail --lru-max / --negative-cache-max
//   BENCH_REDIRECT_FRONT    clicktrail --redirect-front (default: the engine's, true)
//   BENCH_REDIRECT_THREADS  clicktrail --redirect-threads (default: the engine's, one per core)
//
// IPC protocol: the child sends {type:'ready', port}; the parent sends {type:'sample', id}
// and gets {type:'sample', id, cpu, stats, rss}; {type:'stop'} ends the child. The child
// also exits when the parent goes away (IPC disconnect), so no server is ever left behind.
//
// Kind 'clicktrail-ingest' (bench/ingest.mjs) adds, without touching the kinds above:
//   BENCH_INGEST            on (default): the real engine with storage — embedded ClickHouse
//                           (chdb) in BENCH_DATA_DIR, spool, batched inserts with the default
//                           batching — and a project bootstrapped for BENCH_SID; off: the same
//                           engine with a CountingSink, as the 'clicktrail' kind
//   BENCH_SID               the project sid (storage on)
//   BENCH_BATCH_MAX_ROWS / BENCH_BATCH_MAX_MS   optional overrides (defaults: the engine's)
//   BENCH_LOG_LEVEL         engine log level, to stderr (default warn)
// Its stats add the pipeline and spool counters, the event-loop delay since the previous
// sample (perf_hooks.monitorEventLoopDelay, reset at every sample), the main thread's own
// CPU time (/proc/self/task/<pid>/stat) and its time runnable but waiting for a CPU
// (/proc/self/task/<pid>/schedstat), and the insert latencies / batch sizes recorded
// since the previous sample. It also answers {type:'query', id, sql} (read-only SQL on
// the engine's reader client) with {type:'reply', id, ok, result | error}.
//
// Kind 'clicktrail-e2e' (bench/e2e.mjs) adds, without touching the kinds above: the real
// engine with storage (embedded ClickHouse in BENCH_DATA_DIR), promotion and webhooks, with
// --webhook-allow-private on (the bench's receiver is on 127.0.0.1) and a project
// bootstrapped for BENCH_SID. Environment:
//   BENCH_SECRETS, BENCH_DATA_DIR, BENCH_SID    as for 'clicktrail-ingest'
//   BENCH_WINDOW_MS          --promotion-window-ms (default: the engine's, 15000)
//   BENCH_WEBHOOK_CONCURRENCY / BENCH_WEBHOOK_RETRY_SCHEDULE / BENCH_WEBHOOK_TIMEOUT_MS
//   BENCH_BATCH_MAX_ROWS / BENCH_BATCH_MAX_MS / BENCH_POOL_THREADS   optional overrides
//   BENCH_LOG_LEVEL          engine log level, to stderr (default warn)
//   BENCH_ADMIN_TOKEN        --admin-token (bench/pipeline.mjs reads the admin listener)
//   BENCH_ENGINE_FLAGS       extra engine flags, `--name=value` or `--name value` separated by
//                            white space (no quoting), checked against the engine's own option
//                            table, so a flag this build does not know stops the child
// It answers {type:'info'} with the Team API and admin ports, the bootstrapped team token and project
// id and the effective settings; {type:'query', sql} as 'clicktrail-ingest'; {type:'flush'}
// by writing the dispatcher's buffered delivery records to ClickHouse; its samples
// add the pipeline, promoter and dispatcher counters and queue lengths and the event-loop
// delay since the previous sample.
import { createRequire } from 'node:module'
import { createServer } from 'node:http'
import { parseArgs } from 'node:util'
import { engineModules } from './project.mjs'
import { threadCpuUs, threadRunqueueWaitUs } from './proc.mjs'
import { loopDelay } from './sampler.mjs'

const kind = process.argv[2]
const HOST = '127.0.0.1' // loopback only, never any other address
const LOCATION = process.env.BENCH_LOCATION ?? 'https://example.com/'

let stats = () => ({})
let refresh = async () => {}
let stop = async () => {}
const handlers = {} // extra IPC requests of a kind: type → async (message) => result

function send (msg) {
  if (process.connected) process.send(msg)
}

/** Engine flags every clicktrail kind shares: loopback ports, the parent's secret and data dir, no log. */
function baseFlags (what, more = []) {
  const secrets = process.env.BENCH_SECRETS
  const dataDir = process.env.BENCH_DATA_DIR
  for (const name of ['BENCH_SECRETS', 'BENCH_DATA_DIR', ...more]) {
    if (!process.env[name]) throw new Error(`${what}: ${['BENCH_SECRETS', 'BENCH_DATA_DIR', ...more].join(', ')} are required`)
  }
  const flags = { host: HOST, port: '0', 'data-dir': dataDir, secrets, 'log-level': 'silent' }
  if (process.env.BENCH_REDIRECT_FRONT) flags['redirect-front'] = process.env.BENCH_REDIRECT_FRONT
  if (process.env.BENCH_REDIRECT_THREADS) flags['redirect-threads'] = process.env.BENCH_REDIRECT_THREADS
  return flags
}

/** Copies the BENCH_* variables that are set into engine flags. */
function overrides (flags, table) {
  for (const [env, flag] of Object.entries(table)) if (process.env[env]) flags[flag] = process.env[env]
  return flags
}

/**
 * BENCH_ENGINE_FLAGS as engine flags, parsed as the CLI parses `serve` (strict: an unknown
 * flag is an error, since loadConfig itself ignores names it has no option for).
 */
function extraFlags (options) {
  const raw = (process.env.BENCH_ENGINE_FLAGS ?? '').trim()
  if (raw === '') return {}
  const spec = Object.fromEntries(options.map(o => [o.flag, o.kind === 'bool' ? { type: 'boolean' } : { type: 'string', multiple: o.flag === 'domain' || o.flag === 'trusted-proxy' }]))
  try {
    return parseArgs({ args: raw.split(/\s+/), options: spec, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new Error(`BENCH_ENGINE_FLAGS "${raw}": ${String(err?.message ?? err).split('\n')[0]}`)
  }
}

/** Read-only SQL on the engine's reader client. */
function queryHandler (engine) {
  return async (m) => {
    if (engine.store === undefined) throw new Error('no storage (BENCH_INGEST=off)')
    const r = await engine.store.reader.query({ query: m.sql, format: 'JSONEachRow', clickhouse_settings: engine.store.readerSettings })
    return await r.json()
  }
}

async function startUwsBare () {
  const require = createRequire(import.meta.url)
  const uws = require('uWebSockets.js')
  // Same check as src/redirect/uws.ts: the package silently falls back to pure JS.
  if (typeof uws.SSLApp !== 'function' || typeof uws.getParts !== 'function') {
    throw new Error('uWebSockets.js native binding did not load (pure-JS fallback in use)')
  }
  let handled = 0
  const app = uws.App()
  // Same route shape as clicktrail (GET /c/:token), answering a fixed 302 and nothing else.
  app.get('/c/:token', (res) => {
    handled++
    res.writeStatus('302 Found').writeHeader('Location', LOCATION).writeHeader('Cache-Control', 'no-store').end()
  })
  app.any('/*', (res) => { res.writeStatus('404 Not Found').end() })
  const socket = await new Promise(resolve => app.listen(HOST, 0, resolve))
  if (!socket) throw new Error('uws-bare: cannot listen')
  stats = () => ({ handled })
  stop = async () => { uws.us_listen_socket_close(socket); app.close?.() }
  return uws.us_socket_local_port(socket)
}

async function startNodeHttp () {
  let handled = 0
  const headers = { Location: LOCATION, 'Cache-Control': 'no-store' }
  const server = createServer((req, res) => {
    handled++
    res.writeHead(302, headers)
    res.end()
  })
  await new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, HOST, resolve)
  })
  stats = () => ({ handled })
  stop = async () => { server.closeAllConnections?.(); await new Promise(resolve => server.close(resolve)) }
  return server.address().port
}

async function startClicktrail () {
  const { loadConfig, startRedirectEngine, silentLogger, CountingSink } = await engineModules()
  // Defaults for everything else (ring 65 536, hand-off every 10 ms; LRU 100 000 and negative
  // cache 10 000 unless the parent lowers them below its token count); the environment is
  // not read, so a stray PORT or LRU_MAX cannot skew a run.
  const flags = overrides(baseFlags('clicktrail'), { BENCH_LRU_MAX: 'lru-max', BENCH_NEGATIVE_CACHE_MAX: 'negative-cache-max' })
  const config = loadConfig(flags, {})
  const sink = new CountingSink()
  const engine = await startRedirectEngine(config, silentLogger, sink)
  const server = engine.server
  refresh = async () => { await server.handoff() }
  stats = () => ({
    ...server.stats,
    lruSize: server.lruSize,
    negativeSize: server.negativeSize,
    ringPushed: server.ring.pushed,
    ringDropped: server.ring.dropped,
    sinkCount: sink.count
  })
  stop = async () => { await engine.stop() }
  return engine.port
}

async function startClicktrailIngest () {
  const { loadConfig, startEngine, startRedirectEngine, createLogger, CountingSink, bootstrap } = await engineModules()
  const ingest = (process.env.BENCH_INGEST ?? 'on') !== 'off'
  const sid = process.env.BENCH_SID
  // Engine defaults for everything else (batching included); the environment is not read.
  // Admin and Team API listen on free loopback ports so that nothing clashes.
  const flags = overrides({ ...baseFlags('clicktrail-ingest', ['BENCH_SID']), 'admin-host': HOST, 'admin-port': '0', 'api-host': HOST, 'api-port': '0' },
    { BENCH_BATCH_MAX_ROWS: 'batch-max-rows', BENCH_BATCH_MAX_MS: 'batch-max-ms' })
  const config = loadConfig(flags, {})
  const log = createLogger(process.env.BENCH_LOG_LEVEL || 'warn')
  const sink = ingest ? undefined : new CountingSink()
  const engine = sink === undefined ? await startEngine(config, log) : await startRedirectEngine(config, log, sink)
  if (ingest && engine.plane.projectBySid(sid) === undefined) await bootstrap(engine.plane, { sid })
  const server = engine.server
  refresh = async () => { await server.handoff() }
  const { pipeline, spool } = engine
  const eld = loopDelay(10)
  stats = () => {
    const out = {
      ...server.stats,
      lruSize: server.lruSize,
      ringPushed: server.ring.pushed,
      ringDropped: server.ring.dropped,
      ringSize: server.ring.size,
      mainCpuUs: threadCpuUs(),
      mainWaitUs: threadRunqueueWaitUs(),
      // The histogram holds the timer's whole interval; what exceeds it is the loop's delay.
      ...eld.read()
    }
    if (sink !== undefined) out.sinkCount = sink.count
    if (pipeline !== undefined) {
      for (const [k, v] of Object.entries(pipeline.stats)) out[`ingest_${k}`] = v
      out.queuedRows = pipeline.queuedRows
      out.queuedFrames = pipeline.queuedFrames
      for (const [k, v] of Object.entries(spool.stats)) out[`spool_${k}`] = v
      // Nothing scrapes /metrics (the admin listener's) during a bench run, so the bench takes these itself.
      out.insertLatenciesMs = pipeline.takeLatencies()
      out.insertBatchRows = pipeline.takeBatchSizes()
    }
    return out
  }
  handlers.query = queryHandler(engine)
  handlers.config = async () => ({ batchMaxRows: config.batchMaxRows, batchMaxMs: config.batchMaxMs, spoolMaxBytes: config.spoolMaxBytes, ringSize: config.ringSize, handoffIntervalMs: config.handoffIntervalMs, lruMax: config.lruMax, storage: engine.store?.kind ?? 'none (CountingSink)', eldResolutionMs: eld.resolutionMs })
  stop = async () => { eld.disable(); await engine.stop() }
  return engine.port
}

async function startClicktrailE2e () {
  const { loadConfig, startEngine, createLogger, bootstrap, configOptions } = await engineModules()
  const extra = extraFlags(configOptions)
  const sid = process.env.BENCH_SID
  // Engine defaults for everything not named here; the environment is not read.
  const flags = overrides({
    ...baseFlags('clicktrail-e2e', ['BENCH_SID']),
    'admin-host': HOST,
    'admin-port': '0',
    'api-host': HOST,
    'api-port': '0',
    'webhook-allow-private': 'true' // the receiver is on loopback
  }, {
    BENCH_WINDOW_MS: 'promotion-window-ms',
    BENCH_WEBHOOK_CONCURRENCY: 'webhook-concurrency',
    BENCH_WEBHOOK_RETRY_SCHEDULE: 'webhook-retry-schedule',
    BENCH_WEBHOOK_TIMEOUT_MS: 'webhook-timeout-ms',
    BENCH_BATCH_MAX_ROWS: 'batch-max-rows',
    BENCH_BATCH_MAX_MS: 'batch-max-ms',
    BENCH_POOL_THREADS: 'pool-threads',
    BENCH_ADMIN_TOKEN: 'admin-token'
  })
  const config = loadConfig({ ...flags, ...extra }, {})
  const log = createLogger(process.env.BENCH_LOG_LEVEL || 'warn')
  const engine = await startEngine(config, log)
  const boot = await bootstrap(engine.plane, { sid, team: 'bench e2e', project: 'bench e2e' })
  const { server, pipeline, promoter, dispatcher } = engine
  refresh = async () => { await server.handoff() }
  const eld = loopDelay(10)
  stats = () => {
    const out = {
      ...server.stats,
      ringPushed: server.ring.pushed,
      ringDropped: server.ring.dropped,
      ringSize: server.ring.size,
      queuedRows: pipeline.queuedRows,
      promoterPending: promoter.pending,
      dispatcherPending: dispatcher.pending,
      eldMaxMs: eld.read().eldMaxMs,
      // the engine's own probe (src/loop-delay.ts; absent in builds before it)
      loopStalls: engine.loopDelay?.stalls
    }
    for (const [k, v] of Object.entries(pipeline.stats)) out[`ingest_${k}`] = v
    for (const [k, v] of Object.entries(promoter.stats)) out[`promoter_${k}`] = v
    for (const [k, v] of Object.entries(dispatcher.stats)) out[`dispatcher_${k}`] = v
    return out
  }
  handlers.info = async () => ({
    apiPort: engine.api.port,
    adminPort: engine.admin.port,
    extraFlags: extra,
    token: boot.token,
    projectId: boot.project.project_id,
    sid: boot.project.sid,
    settings: {
      promotionWindowMs: config.promotionWindowMs,
      webhookAllowPrivate: config.webhookAllowPrivate,
      webhookConcurrency: config.webhookConcurrency,
      webhookRetrySchedule: config.webhookRetrySchedule,
      webhookTimeoutMs: config.webhookTimeoutMs,
      batchMaxRows: config.batchMaxRows,
      batchMaxMs: config.batchMaxMs,
      handoffIntervalMs: config.handoffIntervalMs,
      poolThreads: config.poolThreads,
      configRefreshMs: config.configRefreshMs,
      redirectThreads: config.redirectThreads, // undefined on a build without --redirect-threads
      storage: engine.store.kind
    }
  })
  handlers.query = queryHandler(engine)
  handlers.flush = async () => { await dispatcher.flush(); return true }
  stop = async () => { eld.disable(); await engine.stop() }
  return engine.port
}

const starters = { 'uws-bare': startUwsBare, 'node-http': startNodeHttp, clicktrail: startClicktrail, 'clicktrail-ingest': startClicktrailIngest, 'clicktrail-e2e': startClicktrailE2e }

async function main () {
  const start = starters[kind]
  if (start === undefined) throw new Error(`unknown server kind "${kind}"`)
  const port = await start()
  process.on('message', (m) => {
    if (m?.type === 'sample') {
      // Redirect threads post their counters every 100 ms; a hand-off brings them up to date.
      refresh().then(() => { send({ type: 'sample', id: m.id, cpu: process.cpuUsage(), stats: { ...stats() }, rss: process.memoryUsage.rss() }) })
    } else if (m?.type === 'stop') {
      stop().finally(() => process.exit(0))
    } else if (typeof m?.type === 'string' && Object.hasOwn(handlers, m.type)) {
      handlers[m.type](m).then(
        result => send({ type: 'reply', id: m.id, ok: true, result }),
        err => send({ type: 'reply', id: m.id, ok: false, error: String(err?.message ?? err) }))
    }
  })
  send({ type: 'ready', port, pid: process.pid })
}

process.on('disconnect', () => { process.exit(0) })
main().catch((err) => {
  send({ type: 'error', message: String(err?.stack ?? err) })
  console.error(err)
  process.exit(1)
})
