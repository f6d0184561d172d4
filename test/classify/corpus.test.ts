import t from 'tap'
import { classify, classifyBatch, classifyGroup, type ClassifyItem } from '../../src/classify/classify.js'
import { evaluate, formatReport, loadCorpus, toInput } from './corpus.js'

// A fixed send time keeps the corpus deterministic (the stale-Chrome signal estimates the
// current Chrome from the click time): 2026-05-28T20:26:40Z.
const SENT_AT = 1_780_000_000

const corpus = loadCorpus()
const inputs = corpus.requests.map(r => toInput(r, SENT_AT))
const verdicts = classifyGroup(inputs, { linkCount: id => corpus.messages[id]?.links })

t.test('the corpus is well formed', async t => {
  t.ok(corpus.requests.length >= 60, `${corpus.requests.length} requests`)
  t.equal(new Set(corpus.requests.map(r => r.id)).size, corpus.requests.length, 'ids are unique')
  for (const r of corpus.requests) {
    t.ok(['GET', 'HEAD'].includes(r.method) && r.delay >= 0 && Number.isInteger(r.link), r.id)
    t.ok(Object.keys(r.headers).every(name => name === name.toLowerCase()), `${r.id}: header names are lower case`)
  }
})

t.test('precision and recall for machine, confusion matrix by class', async t => {
  const report = evaluate(corpus.requests.map((r, i) => ({ id: r.id, expect: r.expect, verdict: verdicts[i] })))
  t.comment('\n' + formatReport(report))
  t.ok(report.precision >= 0.95, `machine precision ${report.precision.toFixed(3)} ≥ 0.95`)
  t.ok(report.recall >= 0.9, `machine recall ${report.recall.toFixed(3)} ≥ 0.9`)
  t.ok(report.classAccuracy >= 0.85, `class accuracy ${report.classAccuracy.toFixed(3)} ≥ 0.85`)
})

t.test('proxy types named in the labels', async t => {
  corpus.requests.forEach((r, i) => {
    if (r.expect.proxy_type !== undefined) t.equal(verdicts[i].proxy_type, r.expect.proxy_type, r.id)
  })
})

t.test('every verdict has the spec\'s shape', async t => {
  for (const v of verdicts) {
    t.same(Object.keys(v).sort(), ['classification', 'counts_for_metrics', 'detected', 'machine', 'probability', 'proxy_type', 'reason_codes'])
    t.ok(Number.isInteger(v.probability) && v.probability >= 0 && v.probability <= 100)
    t.equal(v.counts_for_metrics, !v.machine)
    t.equal(v.detected, v.machine)
    t.equal(v.machine, v.classification !== 'genuine')
  }
})

t.test('throughput on one thread (reported, not asserted)', async t => {
  // Each observation with its message context, as the promotion window hands them over.
  const byMessage = new Map<string, typeof inputs>()
  for (const o of inputs) byMessage.set(o.messageId, [...(byMessage.get(o.messageId) ?? []), o])
  const items: ClassifyItem[] = inputs.map(o => ({ obs: o, context: { siblings: byMessage.get(o.messageId), linkCount: corpus.messages[o.messageId]?.links } }))
  classifyBatch(items) // warm the agent memo and the JIT
  const rounds = 2000
  const started = process.hrtime.bigint()
  for (let i = 0; i < rounds; i++) classifyBatch(items)
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  const perSecond = Math.round(rounds * items.length / seconds)
  t.comment(`classifyBatch: ${perSecond.toLocaleString('en-US')} observations/s on one thread (${items.length}-request corpus × ${rounds}, agents memoized)`)

  // Cold agents: every agent new, so every call pays a ua-parser parse.
  const cold = inputs.map((o, i) => ({ ...o, userAgent: o.userAgent === '' ? '' : `${o.userAgent} cold/${i}` }))
  const coldRounds = 20
  const t0 = process.hrtime.bigint()
  for (let k = 0; k < coldRounds; k++) {
    for (const o of cold) classify({ ...o, userAgent: o.userAgent === '' ? '' : `${o.userAgent}.${k}` })
  }
  const coldSeconds = Number(process.hrtime.bigint() - t0) / 1e9
  t.comment(`classify with unseen agents: ${Math.round(coldRounds * cold.length / coldSeconds).toLocaleString('en-US')} observations/s (ua-parser on every call)`)
  t.pass('measured')
})
