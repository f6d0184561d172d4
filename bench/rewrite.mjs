#!/usr/bin/env node
// Link-rewriting benchmark: the rewriter in this thread (no pool) against the piscina pool
// (2 worker threads), same emails, same run. See the DESIGN.md targets printed at the end.
//
// Needs dist/ (npx tsc -p .). Emails of ~10 KB, ~100 KB and ~1 MB are built from the
// corpus in /work/shared/corpus/emails (CLICKTRAIL_CORPUS to override) by concatenating
// the <body> of every template, round-robin, into the <head> of the first, so link density,
// comments and markup are those of real mail. Every email is rewritten for a new message id
// (new tokens), as one recipient of a send would be.
import { randomBytes, randomUUID } from 'node:crypto'
import { availableParallelism, cpus, loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { envInt } from './lib/settings.mjs'
import { rewriteModules } from './lib/project.mjs'
import { machineFacts, machineLine } from './lib/machine.mjs'
import { percentile } from './lib/stats.mjs'
import { log, mdTable, writeResults } from './lib/report.mjs'
import { emailBuilder } from './lib/emails.mjs'

const S = {
  threads: envInt('BENCH_THREADS', 2, 1, 64),
  // bytes rewritten per (mode, size): enough for a stable p99 at every size
  volume: envInt('BENCH_MB', 40, 1, 10_000) * 1e6,
  minEmails: envInt('BENCH_MIN_EMAILS', 60, 10, 1_000_000),
  warmup: envInt('BENCH_WARMUP_EMAILS', 30, 0, 100_000)
}

let mod
try {
  mod = await rewriteModules()
} catch (err) {
  console.error(`bench/rewrite.mjs runs the built code: run \`npx tsc -p .\` first (${err.message})`)
  process.exit(1)
}

// ---------------------------------------------------------------- the plan

async function main () {
  const started = new Date()
  const emails = buildEmails()
  const load = loadavg()
  log(`rewrite bench: ${machineLine()}`)
  log(`emails: ${emails.map(e => `${e.label} = ${e.bytes} B`).join(', ')}; ${S.volume / 1e6} MB per mode and size`)
  const results = await runAll(emails)
  const targets = designTargets(results)
  const out = {
    bench: 'rewrite',
    date: started.toISOString(),
    node: process.version,
    cpus: cpus().length,
    availableParallelism: availableParallelism(),
    cpuModel: cpus()[0]?.model,
    loadavgAtStart: load,
    loadavgAtEnd: loadavg(),
    machine: machineFacts(),
    settings: S,
    emails: emails.map(e => ({ size: e.label, bytes: e.bytes })),
    results,
    targets
  }
  const written = writeResults('rewrite', out, { started })
  console.log([
    mdTable(['email', 'mode', 'MB/s', 'p50 ms', 'p99 ms', 'max ms', 'links/email', 'process CPU ms/email (all threads)'],
      results.map(r => [`${r.size} (${r.bytes} B)`, r.mode.startsWith('pool') ? `${r.mode}, ${r.threads} threads` : 'in-process, 1 thread', r.mbPerSec, r.p50ms, r.p99ms, r.maxms, r.linksPerEmail, r.cpuMsPerEmail]), 'llrrrrrr'),
    '',
    mdTable(['target (DESIGN.md)', 'wanted', 'measured', ''], targets.map(t => [t.what, t.target, t.value, t.met ? 'MET' : 'NOT MET']), 'llll'),
    '',
    `node ${process.version}, ${cpus().length} CPUs, load average ${load[0].toFixed(2)} at start and ${loadavg()[0].toFixed(2)} at the end (a load above the CPU count means other processes took CPU from this run) — results in ${written.latest}`
  ].join('\n'))
}

/** Every size in-process and through the pool (one email per task; batched; one send to many recipients). */
async function runAll (emails) {
  const pool = mod.createRewritePool({ threads: S.threads, maxQueue: S.threads * 4 })
  const results = []
  try {
    for (const email of emails) {
      const a = await inProcess(email)
      log(`  ${email.label} in-process: ${a.mbPerSec} MB/s, p50 ${a.p50ms} ms, p99 ${a.p99ms} ms (${a.links} links per email)`)
      const b = await throughPool(pool, email)
      log(`  ${email.label} pool ×${b.threads}: ${b.mbPerSec} MB/s, p50 ${b.p50ms} ms, p99 ${b.p99ms} ms`)
      results.push({ ...a, links: undefined, linksPerEmail: a.links }, { ...b, linksPerEmail: a.links })
      const extra = []
      const batch = Math.floor(100_000 / email.bytes)
      if (batch > 1) extra.push(await throughPool(pool, email, batch))
      if (email.label === '100 KB') extra.push(await throughPool(pool, email, 10, true))
      for (const c of extra) {
        log(`  ${email.label} ${c.mode} ×${c.threads}: ${c.mbPerSec} MB/s, p50 ${c.p50ms} ms, p99 ${c.p99ms} ms`)
        results.push({ ...c, linksPerEmail: a.links })
      }
    }
  } finally {
    await pool.close()
  }
  return results
}

/** DESIGN.md: ≥ 50 MB/s on 2 worker threads; a 100 KB email's p99 ≤ 5 ms. */
function designTargets (results) {
  const poolMbps = Math.min(...results.filter(r => r.mode === 'pool' && r.size !== '10 KB').map(r => r.mbPerSec))
  const p99At100 = results.filter(r => r.size === '100 KB' && (r.mode === 'in-process' || r.mode === 'pool')).map(r => r.p99ms)
  return [
    { what: `HTML rewriting on ${S.threads} worker threads (slowest of 100 KB and 1 MB, one email per task)`, target: '≥ 50 MB/s', value: `${poolMbps} MB/s`, met: poolMbps >= 50 },
    { what: 'a 100 KB email, p99 (in-process / pool)', target: '≤ 5 ms', value: p99At100.map(v => `${v} ms`).join(' / '), met: p99At100.every(v => v <= 5) }
  ]
}

// ---------------------------------------------------------------- emails

function buildEmails () {
  const build = emailBuilder()
  return [['10 KB', build(10_000)], ['100 KB', build(100_000)], ['1 MB', build(1_000_000)]]
    .map(([label, html]) => ({ label, html, bytes: Buffer.byteLength(html) }))
}

// ---------------------------------------------------------------- tracking

const SID = 'bench'
const BASE = 'http://t.localhost:8080'
const secrets = [{ kid: 1, secret: randomBytes(32) }]
const ring = new mod.KeyRing(secrets)
const isTrackingHost = mod.trackingHostPredicate(BASE, [])
const prefix = mod.trackedUrl(BASE, SID, '')
const tracking = { secrets: secrets.map(s => ({ kid: s.kid, secret: new Uint8Array(s.secret) })), sid: SID, trackingBaseUrl: BASE, customDomains: [] }
const SENT_AT = Math.floor(Date.now() / 1000)

function mintFor (messageId) {
  return (linkIndex, url) => prefix + mod.mintToken(ring, { sid: SID, messageId, linkIndex, sentAt: SENT_AT, url })
}

// ---------------------------------------------------------------- runs

function summarize (mode, threads, email, latencies, wallMs, cpuMs) {
  const sorted = Float64Array.from(latencies).sort()
  const n = latencies.length
  return {
    mode,
    threads,
    size: email.label,
    bytes: email.bytes,
    emails: n,
    mbPerSec: +(email.bytes * n / 1e6 / (wallMs / 1000)).toFixed(1),
    p50ms: +percentile(sorted, 50).toFixed(3),
    p99ms: +percentile(sorted, 99).toFixed(3),
    maxms: +sorted[n - 1].toFixed(3),
    cpuMsPerEmail: +(cpuMs / n).toFixed(3)
  }
}

function countFor (email) {
  return Math.max(S.minEmails, Math.ceil(S.volume / email.bytes))
}

function cpuNow () {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}

/** The rewriter on this thread, one email after the other. */
async function inProcess (email) {
  const n = countFor(email)
  for (let i = 0; i < S.warmup; i++) await mod.rewriteHtml(email.html, { isTrackingHost, mint: mintFor(randomUUID()) })
  const lat = []
  const cpu0 = cpuNow()
  const t0 = performance.now()
  let links = 0
  for (let i = 0; i < n; i++) {
    const s = performance.now()
    const r = await mod.rewriteHtml(email.html, { isTrackingHost, mint: mintFor(randomUUID()) })
    lat.push(performance.now() - s)
    links = r.links.length
  }
  const wall = performance.now() - t0
  return { ...summarize('in-process', 1, email, lat, wall, cpuNow() - cpu0), links }
}

/**
 * The pool with `threads` tasks in flight (one per thread): every thread stays busy and
 * no task waits in the queue, so latency is the round trip of one task (thread hop both
 * ways included) at full throughput. `batch` emails per task amortise the hop for small
 * emails (STYLE.md: batches, not single items, cross a thread boundary); per-email latency
 * is then the task's round trip. Batched emails differ (a comment with a counter), so each
 * is parsed; with `sameSend` they are one send to `batch` recipients: one parse, each
 * recipient's own tokens.
 */
let serial = 0
async function throughPool (pool, email, batch = 1, sameSend = false) {
  const n = Math.ceil(countFor(email) / batch)
  const html = () => sameSend || batch === 1 ? email.html : `${email.html}<!-- ${++serial} -->`
  const job = () => ({ tracking, jobs: Array.from({ length: batch }, () => ({ html: html(), messageId: randomUUID(), sentAt: SENT_AT })) })
  let next = 0
  const warm = async () => { while (next < Math.ceil(S.warmup / batch)) { next++; await pool.rewrite(job()) } }
  await Promise.all(Array.from({ length: pool.threads }, warm))
  next = 0
  const lat = []
  const cpu0 = cpuNow()
  const t0 = performance.now()
  const lane = async () => {
    while (next < n) {
      next++
      const s = performance.now()
      const out = await pool.rewrite(job())
      const ms = performance.now() - s
      for (const r of out) {
        lat.push(ms)
        if (r.html.length < email.html.length) throw new Error('pool returned a short document')
      }
    }
  }
  await Promise.all(Array.from({ length: pool.threads }, lane))
  const wall = performance.now() - t0
  const mode = batch === 1 ? 'pool' : sameSend ? `pool, one send to ${batch} recipients per task` : `pool, ${batch} emails per task`
  return summarize(mode, pool.threads, email, lat, wall, cpuNow() - cpu0)
}

main().catch((err) => { console.error(err); process.exit(1) })
