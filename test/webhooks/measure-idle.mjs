// Not a test (tap runs *.test.ts only): measures what N deliveries pending for a dead
// endpoint cost an otherwise idle engine — CPU time of the engine process over 5 s, and
// redirect latency at 200 req/s (open loop, bench/lib/paced.mjs) while it idles.
//
//   npx tsc -p . && node test/webhooks/measure-idle.mjs [jobs=100000] [dist=./dist]
//   MEASURE_FLAGS='{"webhook-failing-rate":"100000"}'   extra serve flags
//   MEASURE_SETTLE=all    wait for every first attempt even when the webhook is paced
//   MEASURE_WAIT_S=600    longest wait for that
//   MEASURE_QUIET_S=30    then this long before measuring (ClickHouse inserts and merges settle)
//
// The engine runs in a child process (real embedded ClickHouse in a temp dir); the jobs
// are put in its outbox with dispatcher.enqueue, for a webhook whose port is closed, with
// a 1 h retry schedule; the measurement starts once every job's first attempt failed (so
// all of them are waiting for their retry).
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(import.meta.url)

if (process.argv[2] === '--child') {
  const dist = process.argv[3]
  const jobs = Number(process.argv[4])
  const { loadConfig } = await import(join(dist, 'config.js'))
  const { startEngine } = await import(join(dist, 'engine', 'index.js'))
  const { silentLogger } = await import(join(dist, 'log.js'))
  const { bootstrap } = await import(join(dist, 'control/bootstrap.js'))
  const { mintToken } = await import(join(dist, 'token/codec.js'))
  const dir = process.env.MEASURE_DIR
  const config = loadConfig({ port: '0', host: '127.0.0.1', 'admin-port': '0', 'api-port': '0', 'webhook-allow-private': 'true', 'data-dir': dir, secrets: `1:${randomBytes(32).toString('base64')}`, 'tracking-base-url': 'http://t.localhost:8080', 'webhook-retry-schedule': '1h', ...JSON.parse(process.env.MEASURE_FLAGS ?? '{}') }, {})
  const e = await startEngine(config, silentLogger)
  const team = await bootstrap(e.plane, { sid: 'acme' })
  const deadPort = Number(process.env.MEASURE_DEAD_PORT)
  const now = Date.now()
  const webhookId = randomUUID()
  await e.plane.write('webhooks', { webhook_id: webhookId, project_id: team.project.project_id, team_id: team.team.team_id, url: `http://127.0.0.1:${deadPort}/hook`, secret: 'whsec_' + Buffer.alloc(32, 1).toString('base64'), events: ['message.clicked'], include_machine_events: false, enabled: true, created_at: now, updated_at: now })
  const body = JSON.stringify({ id: randomUUID(), event: 'message.clicked', data: { subject: 'x'.repeat(600) } })
  let queued = 0
  const t0 = Date.now()
  for (let i = 0; i < jobs; i++) {
    const r = e.dispatcher.enqueue({ eventId: randomUUID(), webhookId, sid: 'acme', event: 'message.clicked', body, createdAt: now })
    if (r === true || r === 'queued') queued++
  }
  const deadline = Date.now() + Number(process.env.MEASURE_WAIT_S ?? 600) * 1000
  // Settled: every first attempt failed (all jobs wait for their retry), or the webhook is
  // paced as failing (new code: its due jobs wait in its queue).
  const paced = () => process.env.MEASURE_SETTLE !== 'all' && typeof e.dispatcher.hooks === 'function' && [...e.dispatcher.hooks()].some(h => h.failing)
  while (e.dispatcher.stats.failedAttempts < queued && !paced() && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 200))
  const settleMs = Date.now() - t0
  // let the embedded ClickHouse finish inserting the event and attempt records first
  await new Promise(resolve => setTimeout(resolve, Number(process.env.MEASURE_QUIET_S ?? 30) * 1000))
  const token = mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: 0, sentAt: Math.floor(Date.now() / 1000) - 3600, url: 'https://example.com/landing' })
  process.on('message', m => {
    if (m.type === 'cpu') process.send({ type: 'cpu', cpu: process.cpuUsage(), pending: e.dispatcher.pending, failed: e.dispatcher.stats.failedAttempts })
    if (m.type === 'stop') e.stop().then(() => process.exit(0))
  })
  process.send({ type: 'ready', port: e.port, path: `/c/${token}`, queued, failed: e.dispatcher.stats.failedAttempts, settleMs })
} else {
  const jobs = Number(process.argv[2] ?? 100_000)
  const dist = resolve(process.argv[3] ?? 'dist')
  const { pacedRun } = await import(new URL('../../bench/lib/paced.mjs', import.meta.url).href)
  const dir = mkdtempSync(join(tmpdir(), 'clicktrail-measure-'))
  // a port that was free a moment ago: nothing listens there (connection refused)
  const deadPort = await new Promise(resolve => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)) }) })
  const child = fork(here, ['--child', dist, String(jobs)], { env: { ...process.env, MEASURE_DIR: dir, MEASURE_DEAD_PORT: String(deadPort) } })
  const next = type => new Promise(resolve => { const f = m => { if (m.type === type) { child.off('message', f); resolve(m) } }; child.on('message', f) })
  const ready = await next('ready')
  console.log(`dist ${dist}: ${ready.queued} jobs queued, ${ready.failed} first attempts failed after ${(ready.settleMs / 1000).toFixed(1)} s`)
  const cpu = async () => { child.send({ type: 'cpu' }); return await next('cpu') }
  const a = await cpu()
  await new Promise(resolve => setTimeout(resolve, 5000))
  const b = await cpu()
  const idleMs = (b.cpu.user + b.cpu.system - a.cpu.user - a.cpu.system) / 1000
  console.log(`idle: engine CPU ${idleMs.toFixed(0)} ms over 5 s (${(idleMs / 50).toFixed(1)} % of a core), pending ${b.pending}`)
  const run = await pacedRun({ port: ready.port, path: ready.path, headers: { host: 'pacme.t.localhost:8080', 'user-agent': 'Mozilla/5.0 (Macintosh) Chrome/124.0 Safari/537.36', accept: 'text/html' }, rate: 200, seconds: 5, connections: 8 })
  const c = await cpu()
  const loadMs = (c.cpu.user + c.cpu.system - b.cpu.user - b.cpu.system) / 1000
  const l = run.latency
  console.log(`redirects at 200 req/s for 5 s: ${run.completed} done, statuses ${JSON.stringify(run.statuses)}, p50 ${(l.p50_us / 1000).toFixed(2)} ms, p99 ${(l.p99_us / 1000).toFixed(2)} ms, max ${(l.max_us / 1000).toFixed(2)} ms; engine CPU ${loadMs.toFixed(0)} ms`)
  child.send({ type: 'stop' })
  await new Promise(resolve => child.once('exit', resolve))
  rmSync(dir, { recursive: true, force: true })
}
