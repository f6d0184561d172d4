import t from 'tap'
import { ObservationRing } from '../../src/redirect/ring.js'
import type { Observation } from '../../src/records.js'

const obs = (i: number): Observation => ({ ts: i } as unknown as Observation)

t.test('FIFO across wrap-around, bounded, counts drops', async t => {
  const r = new ObservationRing(4)
  for (let i = 0; i < 3; i++) t.ok(r.push(obs(i)))
  t.same(r.drain(2).map(o => o.ts), [0, 1])
  for (let i = 3; i < 6; i++) t.ok(r.push(obs(i)))
  t.notOk(r.push(obs(6)), 'full ring refuses')
  t.equal(r.dropped, 1)
  t.equal(r.size, 4)
  t.same(r.drain().map(o => o.ts), [2, 3, 4, 5])
  t.equal(r.size, 0)
  t.same(r.drain(), [])
  t.equal(r.pushed, 6)
})

t.test('capacity must be a power of two', async t => {
  t.throws(() => new ObservationRing(3), RangeError)
  t.throws(() => new ObservationRing(0), RangeError)
})
