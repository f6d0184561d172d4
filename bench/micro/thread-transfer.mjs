// src/engine/redirect-wire.ts: redirect threads hand their observations to the main thread,
// which runs the whole pipeline and is the busy one. Races what receiving one hand-off batch
// of 1,000 observations costs the main thread: msgpackr records unpacked from a transferred
// buffer (the current wire form), a structured clone's deserialization (v8.deserialize, the
// serializer postMessage uses), and JSON.parse of a string sent as one.
import { deserialize, serialize } from 'node:v8'
import { Packr } from 'msgpackr'
import { sampleObservation } from './lib/samples.mjs'
import { emit, fmtNs, loadNow, race, raceTable } from './lib/race.mjs'

const loadBefore = loadNow()
const N = 1000
const batch = Array.from({ length: N }, (_, i) => sampleObservation(i))
const packr = new Packr({ useRecords: true, maxSharedStructures: 0 }) // redirect-wire.ts's options
const packed = new Uint8Array(packr.pack(batch))
const cloned = serialize(batch)
const json = JSON.stringify(batch)
if (packr.unpack(packed)[7].url !== batch[7].url || deserialize(cloned)[7].url !== batch[7].url) throw new Error('a batch does not decode')

const result = await race([
  { name: `msgpackr records from a transferred buffer (${(packed.length / 1024).toFixed(0)} KB)`, current: true, fn: () => packr.unpack(packed).length },
  { name: `structured clone, the receiver's deserialize (${(cloned.length / 1024).toFixed(0)} KB)`, fn: () => deserialize(cloned).length },
  { name: `JSON.parse of one string (${(json.length / 1024).toFixed(0)} KB)`, fn: () => JSON.parse(json).length }
], { batchMs: 50 })
const [rec, clone, parse] = result.variants.map(v => v.ns.median)
emit({
  topic: 'thread-transfer',
  loadBefore,
  claims: [{ where: 'src/engine/redirect-wire.ts', words: 'observations cross as one msgpack buffer, transferred: the cheapest form for the main thread to receive' }],
  sections: [{ title: `Receiving one hand-off batch of ${N} observations on the main thread`, table: raceTable(result, { per: 'batch' }) }],
  verdicts: [
    { where: 'src/engine/redirect-wire.ts', holds: rec < clone && rec < parse ? true : (rec < clone * 1.1 ? null : false), measured: `records ${fmtNs(rec)}, structured clone ${fmtNs(clone)}, JSON.parse ${fmtNs(parse)} per batch` }
  ],
  data: { race: result, bytes: { records: packed.length, clone: cloned.length, json: json.length } }
})
