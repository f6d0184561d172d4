// Classification batches shaped like promotion's, from the labeled corpus's requests
// (test/fixtures/classify/corpus.json): observations as the redirect server makes them, each
// copy in its own message (so bursts stay within their group), every observation with its
// message's context. Used by bench/classify.mjs and bench/micro/classify-transfer.mjs.
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'

const corpus = JSON.parse(readFileSync(new URL('../../test/fixtures/classify/corpus.json', import.meta.url), 'utf8'))

/**
 * `size` observations starting at corpus request `from`, as one task. With varyAgents, one
 * agent in 50 gets a suffix, so the UA memo is exercised as in real traffic (mostly repeats,
 * some new agents).
 */
export function classifyBatch ({ observationFromHeaders, toClassifyTask }, size, from = 0, varyAgents = false) {
  const now = Date.now()
  const obs = Array.from({ length: size }, (_, k) => {
    const i = from + k
    const r = corpus.requests[i % corpus.requests.length]
    const o = observationFromHeaders(r.headers)
    return Object.assign(o, {
      ts: now,
      sentAt: Math.floor(now / 1000 - r.delay),
      ip: r.ip,
      messageId: `${r.message}-${i % 500}`,
      linkIndex: r.link,
      method: r.method,
      userAgent: varyAgents && i % 50 === 0 ? `${o.userAgent} v${i}` : o.userAgent,
      id: randomUUID()
    })
  })
  const byMsg = new Map()
  for (const o of obs) { const l = byMsg.get(o.messageId) ?? []; l.push(o); byMsg.set(o.messageId, l) }
  return toClassifyTask(obs.map(o => ({ obs: o, context: byMsg.get(o.messageId) })))
}
