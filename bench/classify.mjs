#!/usr/bin/env node
// Classification throughput: observations/s on one thread in-process, and through the
// piscina pool with 1 and 2 worker threads (batches of BENCH_BATCH, as promotion sends them).
// Runs against dist/ (after `npx tsc -p .`). Usage: node bench/classify.mjs
import { performance } from 'node:perf_hooks'
import { envInt } from './lib/settings.mjs'
import { classifyModules } from './lib/project.mjs'
import { machineFacts, machineLine } from './lib/machine.mjs'
import { log, mdTable, writeResults } from './lib/report.mjs'
import { classifyBatch } from './lib/classify-batches.mjs'

const SECONDS = envInt('BENCH_SECONDS', 5, 1, 600)
const BATCH = envInt('BENCH_BATCH', 1000, 1, 100_000)
const modules = await classifyModules()
const { runClassifyTask, createRewritePool } = modules

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

function buildBatches () {
  return Array.from({ length: 20 }, (_, b) => classifyBatch(modules, BATCH, b * BATCH, true))
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
