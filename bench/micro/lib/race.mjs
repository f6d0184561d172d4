// The micro benchmarks' harness: race the alternatives of one hot helper, in batches,
// interleaved round by round (the order flips every round, so drift of a shared machine
// hits all alike), and report per variant the median time per call and the spread
// (p25–p75 over the rounds), with the machine's load average before and after.
//
// Every bench prints a markdown report and, last, one line `MICRO_JSON {...}` that
// bench/micro/run.mjs collects into bench/results/micro-latest.json.
import { loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import { envBool, envInt } from '../../lib/settings.mjs'
import { machineFacts, loadText } from '../../lib/machine.mjs'
import { mdTable } from '../../lib/report.mjs'

export const QUICK = envBool('BENCH_MICRO_QUICK', false)
export const ROUNDS = envInt('BENCH_MICRO_ROUNDS', QUICK ? 5 : 21, 1, 1001)
export const BATCH_MS = envInt('BENCH_MICRO_BATCH_MS', QUICK ? 5 : 20, 1, 10_000)

let sink = 0 // results of the raced calls go here, so no call is optimised away
export function consume (x) { if (x !== undefined && x !== null) sink ^= (typeof x === 'number' ? x : 1) }

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))]

/** median, p25, p75, min, max of a list. */
export function spread (xs) {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b)
  if (v.length === 0) return { median: NaN, p25: NaN, p75: NaN, min: NaN, max: NaN, n: 0 }
  return { median: quantile(v, 0.5), p25: quantile(v, 0.25), p75: quantile(v, 0.75), min: v[0], max: v[v.length - 1], n: v.length }
}

/** A time in ns as text in a fitting unit. */
export function fmtNs (ns) {
  if (!Number.isFinite(ns)) return 'n/a'
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(ns >= 1e7 ? 1 : 2)} ms`
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(ns >= 1e4 ? 1 : 2)} µs`
  return `${ns.toFixed(ns >= 100 ? 0 : 1)} ns`
}

async function timeBatch (v, n) {
  const t0 = performance.now()
  if (v.async) { for (let i = 0; i < n; i++) consume(await v.fn()) } else { for (let i = 0; i < n; i++) consume(v.fn()) }
  return (performance.now() - t0) * 1e6 / n
}

/**
 * Races `variants` ({ name, fn, async?, current? }: `current` marks the project's own code):
 * each gets a batch size that takes about BATCH_MS, a warm-up, then ROUNDS timed batches.
 * Returns { variants: [{ name, current, batch, ns: spread, samples: ns per call of each round }], rounds, batchMs }.
 */
export async function race (variants, { rounds = ROUNDS, batchMs = BATCH_MS, maxBatch = 1e7 } = {}) {
  for (const v of variants) {
    // Warm up (the JIT compiles the hot paths), then calibrate: double the batch until it
    // takes a quarter of the target, and size it from that batch's time per call.
    let n = 1
    const until = performance.now() + Math.max(50, batchMs * 2)
    while (performance.now() < until && n < maxBatch) { await timeBatch(v, n); n *= 2 }
    n = 1
    let ns = await timeBatch(v, n)
    while (ns * n < batchMs * 2.5e5 && n < maxBatch) { n *= 2; ns = await timeBatch(v, n) }
    v.batch = Math.max(1, Math.min(maxBatch, Math.round(batchMs * 1e6 / Math.max(ns, 1))))
    await timeBatch(v, v.batch)
    v.samples = []
  }
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? variants : [...variants].reverse()
    for (const v of order) v.samples.push(await timeBatch(v, v.batch))
  }
  return { rounds, batchMs, variants: variants.map(v => ({ name: v.name, current: v.current === true, batch: v.batch, ns: spread(v.samples), samples: v.samples.map(x => Math.round(x * 10) / 10) })) }
}

/** A markdown table of a race: median, p25–p75, and each variant against the current one. */
export function raceTable (result, { per = 'call', vs } = {}) {
  const cur = result.variants.find(v => v.current) ?? result.variants[0]
  return mdTable(['variant', `median per ${per}`, 'p25–p75', `vs ${vs ?? (cur.current ? 'current' : 'the first')}`, 'calls per batch'], result.variants.map(v => [
    `${v.name}${v.current ? ' **(current)**' : ''}`,
    fmtNs(v.ns.median),
    `${fmtNs(v.ns.p25)} – ${fmtNs(v.ns.p75)}`,
    `${(v.ns.median / cur.ns.median).toFixed(2)}×`,
    v.batch
  ]))
}

/**
 * One micro benchmark's report: its claims (where and the words), the tables, the verdict
 * on each claim here, notes; printed as markdown plus the MICRO_JSON line.
 * @param {{ topic: string, claims: Array<{ where: string, words: string }>, sections: Array<{ title?: string, table: string }>,
 *           verdicts: Array<{ where: string, holds: boolean|null, measured: string }>, notes?: string[], data?: object }} r
 */
export function emit (r) {
  const out = [`## micro: ${r.topic}`, '']
  for (const c of r.claims) out.push(`- claim, ${c.where}: "${c.words}"`)
  out.push('')
  for (const s of r.sections) {
    if (s.title) out.push(`### ${s.title}`, '')
    out.push(s.table, '')
  }
  for (const v of r.verdicts) out.push(`- ${v.holds === true ? 'HOLDS' : v.holds === false ? 'DOES NOT HOLD' : 'PARTLY / SEE NOTE'}: ${v.where} — ${v.measured}`)
  for (const n of r.notes ?? []) out.push('', `> ${n}`)
  out.push('', `node ${process.version}, load average ${r.loadBefore ?? loadText()} before, ${loadText()} after; ${ROUNDS} rounds${QUICK ? ' (quick)' : ''}`)
  console.log(out.join('\n'))
  const json = { topic: r.topic, claims: r.claims, verdicts: r.verdicts, notes: r.notes ?? [], data: r.data ?? {}, loadavgBefore: r.loadBefore, loadavgAfter: loadavg(), machine: machineFacts(), rounds: ROUNDS, quick: QUICK, sink }
  console.log(`MICRO_JSON ${JSON.stringify(json)}`)
}

/** The load average now, as text (take it at the start of a bench, for emit's loadBefore). */
export const loadNow = loadText

/**
 * 'faster' when a's p75 is below b's p25, 'slower' when a's p25 is above b's p75, else
 * 'tie' (the spreads overlap: no difference this machine can show).
 */
export function compare (a, b) {
  if (a.ns.p75 < b.ns.p25) return 'faster'
  if (a.ns.p25 > b.ns.p75) return 'slower'
  return 'tie'
}
