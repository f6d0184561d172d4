// src/ingest/spool.ts (file comment): "The msgpackr encoding uses records (each key list is
// written once per batch, which makes a batch of observations about half the size and 3×
// faster to decode than plain maps)". Races msgpackr's unpack of a batch of 1,000
// observation objects packed with records (the spool's Packr options) against the same
// batch packed as plain maps, and shows what the spools pack today: both Spool instances
// (ingest and webhook outbox, src/engine.ts) are Spool<string>, so a batch is an array of
// JSON texts and records play no part.
import { Packr, Unpackr } from 'msgpackr'
import { observations } from './lib/project.mjs'
import { sampleObservation } from './lib/samples.mjs'
import { emit, fmtNs, loadNow, race, raceTable } from './lib/race.mjs'

const loadBefore = loadNow()
const { toRow } = await observations()
const N = 1000
const objects = Array.from({ length: N }, (_, i) => sampleObservation(i))
const rows = objects.map(o => toRow(o, 'node-1'))

const spoolPackr = new Packr({ maxSharedStructures: 0 }) // spool.ts: records on (msgpackr's default)
const spoolUnpackr = new Unpackr({ maxSharedStructures: 0 })
const mapsPackr = new Packr({ useRecords: false })
const mapsUnpackr = new Unpackr({ useRecords: false })
const withRecords = Buffer.from(spoolPackr.pack(objects))
const asMaps = Buffer.from(mapsPackr.pack(objects))
const asRows = Buffer.from(spoolPackr.pack(rows))
if (spoolUnpackr.unpack(withRecords)[7].url !== objects[7].url || mapsUnpackr.unpack(asMaps)[7].url !== objects[7].url) throw new Error('a batch does not decode')

const result = await race([
  { name: `observation objects, records (${(withRecords.length / 1024).toFixed(0)} KB)`, current: true, fn: () => spoolUnpackr.unpack(withRecords).length },
  { name: `observation objects, plain maps (${(asMaps.length / 1024).toFixed(0)} KB)`, fn: () => mapsUnpackr.unpack(asMaps).length },
  { name: `JSON row strings, as the spool stores them now (${(asRows.length / 1024).toFixed(0)} KB)`, fn: () => spoolUnpackr.unpack(asRows).length }
], { batchMs: 50 })
const [rec, maps, strs] = result.variants.map(v => v.ns.median)
const sizeQ = withRecords.length / asMaps.length
const speedQ = maps / rec
emit({
  topic: 'spool-records',
  loadBefore,
  claims: [{ where: 'src/ingest/spool.ts:52', words: 'records (each key list is written once per batch, which makes a batch of observations about half the size and 3× faster to decode than plain maps)' }],
  sections: [{ title: `Decoding one spool batch of ${N} observations`, table: raceTable(result, { per: 'batch' }) }],
  verdicts: [
    { where: 'src/ingest/spool.ts:52 (for objects)', holds: sizeQ < 0.6 && speedQ > 2.5 ? true : (sizeQ < 0.8 && speedQ > 1.5 ? null : false), measured: `records are ${(sizeQ * 100).toFixed(0)} % of the maps' size and decode ${speedQ.toFixed(2)}× as fast (${fmtNs(rec)} vs ${fmtNs(maps)}); claim: half the size, 3× faster` },
    { where: 'src/ingest/spool.ts:52 (what the spool stores)', holds: null, measured: `the spools store JSON texts (Spool<string>: ingest rows, outbox jobs), where records change nothing: a batch of ${N} rows is ${(asRows.length / 1024).toFixed(0)} KB and decodes in ${fmtNs(strs)}; the comment describes an earlier payload` }
  ],
  data: { race: result, bytes: { records: withRecords.length, maps: asMaps.length, rows: asRows.length } }
})
