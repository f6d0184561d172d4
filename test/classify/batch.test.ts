import t from 'tap'
import { packClassifyTask, unpackClassifyTask, runPackedClassifyTask, runClassifyTask, unpackClassified, type ClassifyTask } from '../../src/classify/batch.js'
import type { ClassifyInput } from '../../src/classify/classify.js'
import { loadCorpus, toInput } from './corpus.js'

// Classification tasks cross to the pool as columns with every string once (classify/batch.ts):
// what the worker unpacks must be the task that was packed, field for field.

function corpusTask (): ClassifyTask {
  const corpus = loadCorpus()
  const sentAt = Math.floor(Date.now() / 1000) - 3600
  // What promotion sends (promote/classify-task.ts pick): the ClassifyInput fields only.
  const observations = corpus.requests.map(r => {
    const o = toInput(r, sentAt)
    const input: ClassifyInput = {
      ts: o.ts,
      sentAt: o.sentAt,
      ip: o.ip,
      userAgent: o.userAgent,
      accept: o.accept,
      acceptLanguage: o.acceptLanguage,
      secFetchSite: o.secFetchSite,
      secFetchMode: o.secFetchMode,
      secFetchDest: o.secFetchDest,
      secFetchUser: o.secFetchUser,
      secChUa: o.secChUa,
      secPurpose: o.secPurpose,
      purpose: o.purpose,
      xMoz: o.xMoz,
      messageId: `acme/${r.message}`,
      linkIndex: o.linkIndex,
      method: o.method
    }
    return input
  })
  const linkCounts: Record<string, number> = {}
  for (const [m, v] of Object.entries(corpus.messages)) linkCounts[`acme/${m}`] = v.links
  const addressRecipients: Record<string, number> = {}
  for (const o of observations) addressRecipients[o.ip] = (addressRecipients[o.ip] ?? 0) + 1
  return { kind: 'classify', observations, judge: observations.map((_o, i) => i).filter(i => i % 3 !== 1), linkCounts, addressRecipients }
}

t.test('a packed task unpacks to the same task', async t => {
  const task = corpusTask()
  // Values the wire must keep apart: secure absent / false / true, an empty string, text
  // beyond Latin-1, a string field that is not set at all.
  const odd: ClassifyInput = { ...task.observations[0], userAgent: 'ünï ✓ 😀 "q" \\ \n', accept: '', secure: false, linkIndex: 65_535, ts: 1_790_000_000_123 }
  const unset = { ...task.observations[1], secure: true } as Partial<ClassifyInput>
  delete unset.xMoz
  task.observations.push(odd, unset as ClassifyInput)
  const back = unpackClassifyTask(packClassifyTask(task).payload)
  t.same(back, task, 'observations, judged indexes, link counts and address reach as packed')
  t.equal(back.observations.at(-1)?.xMoz, undefined, 'an unset field stays unset')
  t.equal(back.observations.at(-2)?.secure, false)
  t.equal(back.observations.at(-1)?.secure, true)
  t.notOk('secure' in back.observations[2], 'secure stays absent where it was')
})

t.test('the packed path classifies as in-process classification does', async t => {
  const task = corpusTask()
  const packed = packClassifyTask(task)
  const viaWire = unpackClassified(runPackedClassifyTask({ kind: 'classify', payload: new Uint8Array(packed.payload) }))
  t.same(viaWire, runClassifyTask(task), 'every verdict and client field alike')
  t.equal(viaWire.length, task.judge.length)
})

t.test('each distinct string crosses once', async t => {
  const task = corpusTask()
  const once = packClassifyTask(task).payload.length
  const doubled = { ...task, observations: [...task.observations, ...task.observations.map(o => ({ ...o }))] }
  const twice = packClassifyTask(doubled).payload.length
  // The second copy adds indexes and numbers, not its header strings again.
  t.ok(twice < once * 1.5, `${twice} bytes for twice the observations, ${once} for once`)
})
