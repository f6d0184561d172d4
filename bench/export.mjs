#!/usr/bin/env node
// Export benchmark: a 1,000,000-row click export (GET /v1/projects/{id}/clicks?format=csv)
// streamed by the real server, and the server's peak RSS beside its baselines, in one run:
//   idle        the server after seeding, before any export (its RSS)
//   streamed    the export of a tenth of the clicks, then of all of them, read by a client as
//               fast as it parses; every row is parsed (csv-parse), counted, checked to come
//               once, in time order, and a sample of rows is compared field by field with
//               what was seeded: the peak must not grow with the size of the export
//   slow        the same export read at BENCH_EXPORT_SLOW_MBPS for BENCH_EXPORT_SLOW_S seconds,
//               then abandoned: back-pressure must hold the server's memory flat, and the
//               abandoned export must end (the server counts it aborted)
//   held whole  the non-streamed alternative: the first BENCH_EXPORT_WHOLE_ROWS clicks read
//               with the same queries and held as one CSV body, as a whole-body reply would
// Peak RSS is the kernel's VmHWM of the server process (reset before each run with
// /proc/self/clear_refs), so it catches peaks between samples. The server runs in its own
// process (lib/export-child.mjs) on a temp data dir; the rows are seeded with one
// INSERT … SELECT FROM numbers() (lib/export-seed.mjs), not through ingest.
//
//   npx tsc -p . && npm run bench:export
//   BENCH_EXPORT_ROWS=200000 npm run bench:export     (a quicker run)
import http from 'node:http'
import { fileURLToPath } from 'node:url'
import { parse } from 'csv-parse'
import { setTimeout as sleep } from 'node:timers/promises'
import { ServerChild, fail, runMain, tempDir, watchdog } from './lib/children.mjs'
import { newSecrets } from './lib/tokens.mjs'
import { envInt, HOST } from './lib/settings.mjs'
import { f, log, mb, mdTable, printReport, writeResults } from './lib/report.mjs'
import { machineFacts, loadText } from './lib/machine.mjs'
import { DIST, requireDist } from './lib/project.mjs'
import { processCpuUs } from './lib/proc.mjs'
import { seedClock, seedNumber, seededRow } from './lib/export-seed.mjs'

const S = {
  rows: envInt('BENCH_EXPORT_ROWS', 1_000_000, 1000, 10_000_000),
  days: envInt('BENCH_EXPORT_DAYS', 30, 1, 89),
  wholeRows: envInt('BENCH_EXPORT_WHOLE_ROWS', 100_000, 1000, 100_000),
  slowMbps: envInt('BENCH_EXPORT_SLOW_MBPS', 4, 1, 1000),
  slowSeconds: envInt('BENCH_EXPORT_SLOW_S', 6, 1, 600),
  settleSeconds: envInt('BENCH_EXPORT_SETTLE_S', 30, 0, 600),
  sampleEvery: 997 // rows compared field by field
}
const CHILD = fileURLToPath(new URL('./lib/export-child.mjs', import.meta.url))

/** Samples the server's RSS (no GC) every 250 ms while `run` runs; returns run's result and the samples. */
async function sampled (child, run) {
  const samples = []
  const state = { on: true }
  const loop = (async () => {
    while (state.on) {
      const m = await child.request({ type: 'mem', noGc: true }, 30_000)
      if (m.ok) samples.push(m.result)
      await sleep(250)
    }
  })()
  try {
    return { result: await run(), samples }
  } finally {
    state.on = false
    await loop
  }
}

/** Streams the CSV export and checks every row; resolves with counts, bytes and time. */
function readExport (port, path, token, now, eventIdFor, nMax = S.rows) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now()
    const seen = new Uint8Array(S.rows)
    let rows = 0
    let bytes = 0
    let lastTs = ''
    let checked = 0
    const bad = []
    const req = http.get({ host: HOST, port, path, headers: { authorization: `Bearer ${token}` }, agent: false }, res => {
      if (res.statusCode !== 200) { reject(new Error(`export answered ${res.statusCode}`)); res.resume(); return }
      const parser = parse({ columns: true })
      res.on('data', d => { bytes += d.length })
      res.on('error', reject)
      parser.on('error', reject)
      parser.on('data', row => {
        rows++
        const n = seedNumber(row)
        if (!(n >= 0 && n < nMax) || seen[n] === 1) { if (bad.length < 5) bad.push(`row ${rows}: number ${n} ${seen[n] === 1 ? 'twice' : 'unknown'}`); return }
        seen[n] = 1
        if (row.timestamp < lastTs && bad.length < 5) bad.push(`row ${rows}: ${row.timestamp} after ${lastTs}`)
        lastTs = row.timestamp
        if (n % S.sampleEvery === 0) {
          checked++
          const want = seededRow(n, S.rows, S.days, now)
          const { obs_id: obsId, ...fields } = want
          for (const [k, v] of Object.entries(fields)) if (row[k] !== v && bad.length < 5) bad.push(`row of n=${n}: ${k} is ${JSON.stringify(row[k])}, not ${JSON.stringify(v)}`)
          if (row.event_id !== eventIdFor(obsId) && bad.length < 5) bad.push(`row of n=${n}: event_id ${row.event_id}`)
        }
      })
      parser.on('end', () => {
        let missing = 0
        for (let n = 0; n < nMax; n++) if (seen[n] === 0) missing++
        resolve({ rows, bytes, ms: performance.now() - t0, checked, missing, bad, headers: res.headers })
      })
      res.pipe(parser)
    })
    req.on('error', reject)
  })
}

/** Reads the export at about `mbps` MB/s for `seconds`, then goes away. */
function readSlowly (port, path, token, mbps, seconds) {
  return new Promise((resolve, reject) => {
    let bytes = 0
    const t0 = performance.now()
    const req = http.get({ host: HOST, port, path, headers: { authorization: `Bearer ${token}` }, agent: false }, res => {
      res.on('data', d => {
        bytes += d.length
        const ahead = bytes / (mbps * 1048576) * 1000 - (performance.now() - t0)
        if (ahead > 0) { res.pause(); setTimeout(() => res.resume(), ahead) }
      })
      res.on('error', () => {})
      setTimeout(() => { res.destroy(); resolve({ bytes, ms: performance.now() - t0 }) }, seconds * 1000)
    })
    req.on('error', reject)
  })
}

async function main () {
  requireDist()
  watchdog(3600)
  const { eventIdFor } = await import(new URL('webhooks/payload.js', DIST))
  const started = new Date()
  const loadBefore = loadText()
  const child = new ServerChild('export server', 'export', { BENCH_DATA_DIR: tempDir('clicktrail-bench-export-'), BENCH_SECRETS: newSecrets() }, { script: CHILD, execArgv: ['--expose-gc', ...(process.env.BENCH_EXPORT_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_EXPORT_PROF}`] : [])] })
  await child.ready
  const { port, token, projectId } = child.info
  const ask = async (msg, ms = 600_000) => {
    const r = await child.request(msg, ms)
    if (!r.ok) fail(`${msg.type}: ${r.error}`)
    return r.result
  }
  const now = Date.now()
  log(`seeding ${f(S.rows)} clicks over ${S.days} days …`)
  let t = performance.now()
  await ask({ type: 'seed', rows: S.rows, days: S.days, now })
  const seedMs = performance.now() - t
  const clock = seedClock(S.rows, S.days, now)
  const path = `/v1/projects/${projectId}/clicks?format=csv&include_machine_events=true&from=${new Date(clock.start).toISOString()}&to=${new Date(clock.end + 1).toISOString()}`
  // A small export first, so the idle baseline has every module loaded and warm.
  await readSlowly(port, `/v1/projects/${projectId}/clicks?format=csv&from=2026-01-01&to=2026-01-02`, token, 100, 1)

  // The seed's INSERT and OPTIMIZE leave memory with ClickHouse's allocator, which hands it
  // back over some seconds: the idle baseline is taken once it has settled.
  let idle = await ask({ type: 'mem' })
  for (let i = 0; i < S.settleSeconds; i++) {
    await sleep(1000)
    const m = await ask({ type: 'mem' })
    if (m.rss >= idle.rss - 1048576) { idle = m; break }
    idle = m
  }
  log(`idle: RSS ${mb(idle.rss)} MB`)
  /** One streamed export of the clicks with n < nMax, checked, with its server CPU and peak RSS. */
  const streamRun = async (nMax) => {
    const to = nMax === S.rows ? clock.end + 1 : clock.start + Math.ceil(nMax / 3) * clock.step
    log(`streaming ${f(nMax)} rows …`)
    await ask({ type: 'resetPeak' })
    const cpu0 = processCpuUs(child.pid)
    const run = await sampled(child, () => readExport(port, `/v1/projects/${projectId}/clicks?format=csv&include_machine_events=true&from=${new Date(clock.start).toISOString()}&to=${new Date(to).toISOString()}`, token, now, eventIdFor, nMax))
    const cpuUs = processCpuUs(child.pid) - cpu0
    const peak = (await ask({ type: 'mem' })).peak
    const r = run.result
    if (r.rows !== nMax || r.missing !== 0 || r.bad.length > 0) fail(`the export is wrong: ${r.rows} rows of ${nMax}, ${r.missing} missing, ${r.bad.join('; ')}`)
    if (r.headers['transfer-encoding'] !== 'chunked') fail('the export was not streamed (no chunked transfer encoding)')
    return { ...r, headers: undefined, cpuUs, peak, samples: run.samples }
  }
  const tenth = await streamRun(Math.floor(S.rows / 30) * 3)
  const s = await streamRun(S.rows)

  log(`slow client: ${S.slowMbps} MB/s for ${S.slowSeconds} s …`)
  await ask({ type: 'resetPeak' })
  const before = await ask({ type: 'stats' })
  const slow = await sampled(child, () => readSlowly(port, path, token, S.slowMbps, S.slowSeconds))
  const slowPeak = (await ask({ type: 'mem' })).peak
  let after = await ask({ type: 'stats' })
  for (let i = 0; i < 50 && after.streams.aborted === before.streams.aborted; i++) { await sleep(100); after = await ask({ type: 'stats' }) }
  // (An export small enough to be read whole within the slow run ends instead.)
  if (slow.result.bytes < s.bytes && after.streams.aborted !== before.streams.aborted + 1) fail(`the abandoned export was not counted aborted (${JSON.stringify(after.streams)})`)

  log(`held whole: ${f(S.wholeRows)} rows …`)
  await ask({ type: 'resetPeak' })
  t = performance.now()
  const cpu0 = processCpuUs(child.pid)
  const whole = await ask({ type: 'whole', rows: S.wholeRows, fromMs: clock.start, toMs: clock.end + 1 })
  const wholeCpuUs = processCpuUs(child.pid) - cpu0
  const wholeMs = performance.now() - t
  const finalStats = await ask({ type: 'stats' })
  child.cp.send({ type: 'stop' })
  await Promise.race([child.exited, sleep(30_000)])

  const maxOf = (xs, k = 'rss') => xs.reduce((a, b) => Math.max(a, b[k]), 0)
  const over = (peak) => `+${mb(peak - idle.rss)} MB`
  const streamRow = (label, r) => [label, f(r.rows), `${mb(r.bytes)} MB`, `${f(r.ms / 1000, 1)} s`, `${f(r.cpuUs / 1e6, 1)} s`, `${f(r.cpuUs / r.rows, 1)} µs`, `${mb(r.peak)} MB`, over(r.peak), `${mb(maxOf(r.samples))} MB / ${mb(maxOf(r.samples, 'heapTotal'))} MB`]
  const table = mdTable(['run', 'rows', 'body', 'time', 'server CPU', 'CPU per row', 'peak RSS (VmHWM)', 'over idle', 'max sampled RSS / JS heap'], [
    ['idle, after seeding and a warm-up export (baseline)', '–', '–', '–', '–', '–', '–', '–', `${mb(idle.rss)} MB / ${mb(idle.heapTotal)} MB`],
    streamRow('streamed CSV, a tenth of the clicks', tenth),
    streamRow('streamed CSV, every click', s),
    [`streamed CSV, read at ${S.slowMbps} MB/s for ${S.slowSeconds} s, then abandoned`, '–', `${mb(slow.result.bytes)} MB read`, `${f(slow.result.ms / 1000, 1)} s`, '–', '–', `${mb(slowPeak)} MB`, over(slowPeak), `${mb(maxOf(slow.samples))} MB / ${mb(maxOf(slow.samples, 'heapTotal'))} MB`],
    [`${f(whole.rows)} rows held as one body (non-streamed baseline)`, f(whole.rows), `${mb(whole.bytes)} MB`, `${f(wholeMs / 1000, 1)} s`, `${f(wholeCpuUs / 1e6, 1)} s`, `${f(wholeCpuUs / whole.rows, 1)} µs`, `${mb(whole.peak.peak)} MB`, over(whole.peak.peak), '–']
  ], 'lrrrrrrrr')
  const md = [
    `## Click export: ${f(S.rows)} rows streamed as CSV`,
    '',
    `Seeded ${f(S.rows)} clicks over ${S.days} days straight into \`clicks\` in ${f(seedMs / 1000, 1)} s. Each streamed export: every row parsed with csv-parse; the whole one: ${f(s.rows)} rows, each once (${f(s.missing)} missing), in time order, ${f(s.checked)} sampled rows equal to the seed field by field; \`Transfer-Encoding: chunked\`. The abandoned export was counted aborted (streams: ${JSON.stringify(finalStats.streams)}).`,
    '',
    table,
    '',
    `${machineFacts().cpus} cores, load average ${loadBefore} before, ${loadText()} after; node ${process.version}.`
  ].join('\n')
  // Samples as MB, RSS and JS heap: the timeline shows whether memory trends (it must not).
  const compact = (r) => ({ ...r, samples: r.samples.map(x => [Math.round(x.rss / 1048576), Math.round(x.heapTotal / 1048576)]) })
  printReport(md, writeResults('export', { settings: S, started, seedMs, idle, tenth: compact(tenth), streamed: compact(s), slow: compact({ ...slow.result, peak: slowPeak, samples: slow.samples }), whole: { ...whole, ms: wholeMs, cpuUs: wholeCpuUs }, streams: finalStats.streams, machine: machineFacts(), loadBefore, loadAfter: loadText() }, { started }))
  process.exit(0)
}

runMain(main)
