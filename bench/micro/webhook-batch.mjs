// src/webhooks/dispatcher.ts (ENQUEUE_SLICE) in the real engine: a promotion batch of
// BENCH_MICRO_ROWS (5 000) promoted clicks handed to the webhook dispatcher (ClickSink), one
// webhook subscribed, its receiver in a child process answering 200. Measured from the
// hand-over until the receiver has every event: the main thread's CPU per click
// (/proc/self/task/<pid>/stat: building the event, the outbox writes, the webhook_events
// rows, the signed POSTs, the delivery records) and the longest event-loop delay in that
// time (a 5 ms probe timer: the longest task the hand-over left on the main thread).
// With no argument it runs the A/B itself: BENCH_MICRO_BASE (a build of the code before,
// e.g. /tmp/base/dist) and this dist/, alternating, BENCH_MICRO_RUNS (4) processes each,
// every process BENCH_MICRO_INSERTS (3) batches after a warm-up batch.
import { fork } from 'node:child_process'
import { createServer } from 'node:http'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { randomBytes, randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { envInt } from '../lib/settings.mjs'
import { threadCpuUs } from '../lib/proc.mjs'
import { apiRequest } from '../lib/http.mjs'
import { mdTable } from '../lib/report.mjs'
import { emit, loadNow } from './lib/race.mjs'

const ROWS = envInt('BENCH_MICRO_ROWS', 5000, 10, 100_000)
const BATCHES = envInt('BENCH_MICRO_INSERTS', 3, 1, 100)
const RUNS = envInt('BENCH_MICRO_RUNS', 4, 1, 50)
const self = fileURLToPath(import.meta.url)

function click (i) {
  return {
    obs_id: randomUUID(),
    ts: Date.now(),
    sid: 'acme',
    message_id: randomUUID(),
    route_id: '00000000-0000-0000-0000-000000000000',
    link_index: i % 8,
    sent_at: Math.floor(Date.now() / 1000) - 600,
    recipient: 'user@example.com',
    subject: 'Your weekly "recommendations"',
    tag: 'news',
    metadata: { campaign: 'w48' },
    destination_url: `https://shop.example.com/p/${i}?utm_source=newsletter&utm_medium=email&c=${i}`,
    anchor_text: 'View Product',
    first_click: true,
    device_type: 'desktop',
    client_type: 'browser',
    client_name: 'Chrome',
    user_agent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
    ip: '203.0.113.7',
    method: 'GET',
    bot: { detected: false, probability: 0, classification: 'genuine', proxy_type: null, reason_codes: [], machine: false, counts_for_metrics: true },
    retention_days: 400
  }
}

if (process.argv[2] === 'receiver') {
  let n = 0
  const s = createServer((req, res) => { req.resume(); req.on('end', () => { n++; res.writeHead(200).end('ok') }) })
  s.listen(0, '127.0.0.1', () => { process.send({ port: s.address().port }) })
  process.on('message', () => { process.send({ n }) })
} else if (process.argv[2] === 'side') {
  const { wholeEngine } = await import('./lib/project.mjs')
  const { loadConfig, startEngine, silentLogger, bootstrap } = await wholeEngine()
  const rx = fork(self, ['receiver'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const { port } = await new Promise(resolve => rx.once('message', resolve))
  const received = () => new Promise(resolve => { rx.once('message', m => resolve(m.n)); rx.send('n') })
  const dir = mkdtempSync(join(tmpdir(), 'ct-micro-whbatch-'))
  const config = loadConfig({ host: '127.0.0.1', port: '0', 'admin-host': '127.0.0.1', 'admin-port': '0', 'api-host': '127.0.0.1', 'api-port': '0', 'data-dir': dir, secrets: `1:${randomBytes(32).toString('base64')}`, 'webhook-allow-private': 'true', 'log-level': 'silent' }, {})
  const engine = await startEngine(config, silentLogger)
  const boot = await bootstrap(engine.plane, { sid: 'acme' })
  const created = await apiRequest(engine.api.port, 'POST', `/v1/projects/${boot.project.project_id}/webhooks`, boot.token, { url: `http://127.0.0.1:${port}/hook`, events: ['message.clicked'] })
  if (created.status !== 201) throw new Error(`webhook: ${created.status}`)
  await new Promise(resolve => setTimeout(resolve, 500))
  const out = []
  let total = 0
  for (let b = 0; b <= BATCHES; b++) {
    const rows = Array.from({ length: ROWS }, (_, i) => click(i))
    let maxLate = 0
    let last = performance.now()
    const probe = setInterval(() => { const now = performance.now(); const late = now - last - 5; if (late > maxLate) maxLate = late; last = now }, 5)
    const cpu0 = threadCpuUs()
    const t0 = performance.now()
    await engine.dispatcher.clicks(rows)
    const handMs = performance.now() - t0
    total += ROWS
    while (await received() < total) await new Promise(resolve => setTimeout(resolve, 20))
    const ms = performance.now() - t0
    const cpu = threadCpuUs() - cpu0
    clearInterval(probe)
    if (b > 0) out.push({ mainCpuUsPerClick: cpu / ROWS, maxLoopDelayMs: maxLate, handOverMs: handMs, deliveredMs: ms })
  }
  await engine.stop()
  rx.kill()
  rmSync(dir, { recursive: true, force: true })
  if (process.send) process.send(out)
  else console.log(JSON.stringify(out)) // run by hand (node --cpu-prof bench/micro/webhook-batch.mjs side)
  process.exit(0)
} else {
  const loadBefore = loadNow()
  const base = process.env.BENCH_MICRO_BASE
  const sides = [...(base ? [{ name: `before (${base})`, dist: base }] : []), { name: 'current (dist/)', dist: undefined, current: true }]
  const results = new Map(sides.map(s => [s.name, []]))
  for (let r = 0; r < RUNS; r++) {
    for (const s of (r % 2 === 0 ? sides : [...sides].reverse())) {
      const env = { ...process.env }
      if (s.dist) env.BENCH_DIST = s.dist
      else delete env.BENCH_DIST
      const cp = fork(self, ['side'], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      const got = await new Promise((resolve, reject) => { cp.once('message', resolve); cp.once('exit', code => reject(new Error(`side exited ${code}`))) })
      results.get(s.name).push(...got)
    }
  }
  const med = (xs) => { const a = [...xs].sort((x, y) => x - y); return a.length % 2 ? a[(a.length - 1) / 2] : (a[a.length / 2 - 1] + a[a.length / 2]) / 2 }
  const rows = sides.map(s => {
    const xs = results.get(s.name)
    return { name: s.name, n: xs.length, cpu: med(xs.map(x => x.mainCpuUsPerClick)), late: med(xs.map(x => x.maxLoopDelayMs)), lateMax: Math.max(...xs.map(x => x.maxLoopDelayMs)), hand: med(xs.map(x => x.handOverMs)), all: med(xs.map(x => x.deliveredMs)) }
  })
  const cur = rows.at(-1)
  const bef = rows.length > 1 ? rows[0] : undefined
  emit({
    topic: 'webhook-batch',
    loadBefore,
    claims: [{ where: 'src/webhooks/dispatcher.ts (ENQUEUE_SLICE)', words: 'a promotion batch of 5,000 clicks held the main thread 300–600 ms in one task before; a slice of 256 takes a few ms' }],
    sections: [{
      title: `A promotion batch of ${ROWS} clicks handed to webhooks, until all delivered (medians of ${cur.n} batches, alternating processes)`,
      table: mdTable(['build', 'main-thread CPU µs per click', 'longest loop delay ms (median / max)', 'hand-over ms', 'all delivered ms'],
        rows.map(r => [r.name, r.cpu.toFixed(1), `${r.late.toFixed(1)} / ${r.lateMax.toFixed(1)}`, r.hand.toFixed(0), r.all.toFixed(0)]))
    }],
    verdicts: bef
      ? [{ where: 'src/webhooks/dispatcher.ts (ENQUEUE_SLICE)', holds: bef.late > 250 && cur.late < 50 ? true : (cur.late < bef.late ? null : false), measured: `longest loop delay ${bef.late.toFixed(0)} → ${cur.late.toFixed(1)} ms (median); main-thread CPU per click ${bef.cpu.toFixed(1)} → ${cur.cpu.toFixed(1)} µs (${(cur.cpu / bef.cpu).toFixed(2)}×)` }]
      : [{ where: 'src/webhooks/dispatcher.ts (ENQUEUE_SLICE)', holds: null, measured: `no BENCH_MICRO_BASE: current only, longest loop delay ${cur.late.toFixed(1)} ms, ${cur.cpu.toFixed(1)} µs per click` }],
    data: { rows, results: Object.fromEntries(results) }
  })
}
