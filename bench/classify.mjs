#!/usr/bin/env node
// Classification throughput: observations/s on one thread in-process, and through the
// piscina pool with 1 and 2 worker threads (batches of BENCH_BATCH, as promotion sends them).
// Runs against dist/ (after `npx tsc -p .`). Usage: node bench/classify.mjs
import { readFileSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { envInt } from './lib/settings.mjs'
import { classifyModules } from './lib/project.mjs'
import { machineFacts, machineLine } from './lib/machine.mjs'
import { log, mdTable, writeResults } from './lib/report.mjs'

const SECONDS = envInt('BENCH_SECONDS', 5, 1, 600)
const BATCH = envInt('BENCH_BATCH', 1000, 1, 100_000)
const { runClassifyTask, toClassifyTask, createRewritePool } = await classifyModules()
const corpus = JSON.parse(readFileSync(new URL('../test/fixtures/classify/corpus.json', import.meta.url), 'utf8'))

async function main () {
  const started = new Date()
  log(`classify bench: ${machineLine()}`)
  const batches = buildBatches()
  runClassifyTask(batches[0]) // warm-up
  const one = inProcess(batches)
  const p1 = await pooled(batches, 1)
  const p2 = await pooled(batches, 2)
  const result = { benchmark: 'classify', at: started.toISOString(), batch: BATCH, seconds: SECONDS, inProcess: one, pool1: p1, pool2: p2, machine: machineFacts() }
  const written = writeResults('classify', result, { started })
  const f = x => Math.round(x).toLocaleString('en-US')
  console.log(mdTable(['mode', 'observations/s'], [
    ['one thread, in-process', `${f(one.obsPerS)} (${one.cpuUsPerObs.toFixed(2)} µs CPU each)`],
    ['pool, 1 worker', f(p1.obsPerS)],
    ['pool, 2 workers', f(p2.obsPerS)]
  ]))
  console.log(`batches of ${BATCH} observations with their message context; ${SECONDS} s per mode; results in ${written.latest}`)
}

// Observations shaped like the redirect server's, from the labeled corpus's requests; each
// copy gets its own message (so bursts stay within their group) and the agent varies a little
// so that the UA memo is exercised as in real traffic (mostly repeats, some new agents).
function observation (r, i) {
  const h = name => r.headers[name] ?? ''
  const now = Date.now()
  return {
    ts: now,
    sentAt: Math.floor(now / 1000 - r.delay),
    ip: r.ip,
    messageId: `${r.message}-${i % 500}`,
    linkIndex: r.link,
    method: r.method,
    userAgent: i % 50 === 0 ? `${h('user-agent')} v${i}` : h('user-agent'),
    accept: h('accept'),
    acceptLanguage: h('accept-language'),
    secFetchSite: h('sec-fetch-site'),
    secFetchMode: h('sec-fetch-mode'),
    secFetchDest: h('sec-fetch-dest'),
    secFetchUser: h('sec-fetch-user'),
    secChUa: h('sec-ch-ua'),
    secPurpose: h('sec-purpose'),
    purpose: h('purpose'),
    xMoz: h('x-moz'),
    id: randomUUID()
  }
}

function buildBatches () {
  const batches = []
  for (let b = 0; b < 20; b++) {
    const obs = Array.from({ length: BATCH }, (_, i) => observation(corpus.requests[(b * BATCH + i) % corpus.requests.length], b * BATCH + i))
    const byMsg = new Map()
    for (const o of obs) { const l = byMsg.get(o.messageId) ?? []; l.push(o); byMsg.set(o.messageId, l) }
    batches.push(toClassifyTask(obs.map(o => ({ obs: o, context: byMsg.get(o.messageId) }))))
  }
  return batches
}

function inProcess (batches) {
  const end = performance.now() + SECONDS * 1000
  let n = 0
  let i = 0
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  while (performance.now() < end) { n += runClassifyTask(batches[i++ % batches.length]).length }
  const cpu = process.cpuUsage(cpu0)
  return { obsPerS: n / ((performance.now() - t0) / 1000), cpuUsPerObs: (cpu.user + cpu.system) / n }
}

async function pooled (batches, threads) {
  const pool = createRewritePool({ threads, maxQueue: 1000 })
  try {
    await Promise.all(Array.from({ length: threads * 2 }, (_, i) => pool.classify(batches[i % batches.length]))) // warm-up
    const end = performance.now() + SECONDS * 1000
    let n = 0
    let i = 0
    const t0 = performance.now()
    // Keep two batches in flight per thread.
    await Promise.all(Array.from({ length: threads * 2 }, async () => {
      while (performance.now() < end) n += (await pool.classify(batches[i++ % batches.length])).length
    }))
    return { obsPerS: n / ((performance.now() - t0) / 1000) }
  } finally {
    await pool.close()
  }
}

main().catch((err) => { console.error(err); process.exit(1) })
