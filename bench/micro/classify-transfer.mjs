// src/promote/classify-task.ts: "Batches cross the thread boundary as one msgpack buffer,
// transferred rather than cloned (STYLE.md): measured, a structured clone of a
// 1,000-observation task cost the main thread more than classifying it in place."
// Races, on the main thread, for one task of 1,000 observations with their message context
// (built from the labelled corpus, as bench/classify.mjs builds them):
//   - what the pool does now: packClassifyTask, a copy into an ArrayBuffer of its own
//     (pool.ts runMoved) and postMessage with that buffer transferred (current);
//   - postMessage of the task object itself (a structured clone on this thread);
//   - runClassifyTask in place (no thread at all).
// The messages go to a real worker thread that drops them; the main thread's time is what
// postMessage takes (serialisation happens inside the call).
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import { classifyTask } from './lib/project.mjs'
import { classifyBatch } from '../lib/classify-batches.mjs'
import { emit, fmtNs, loadNow, race, raceTable } from './lib/race.mjs'

const loadBefore = loadNow()
const modules = await classifyTask()
const { runClassifyTask, packClassifyTask, unpackClassifyTask } = modules
const SIZE = 1000
// The records packing batch.ts used before the columns (a copy): msgpack records of the task object.
const { Packr } = createRequire(import.meta.url)('msgpackr')
const records = new Packr({ useRecords: true, maxSharedStructures: 0 })

const task = classifyBatch(modules, SIZE)
// Every click its own message (as bench/cost.mjs sends them): a link count and an address per observation.
const distinct = classifyBatch(modules, SIZE)
distinct.linkCounts = {}
distinct.addressRecipients = {}
distinct.observations.forEach((o, i) => { o.messageId = `cost/${i}-${Math.random()}`; o.ip = `10.0.${i >> 8}.${i & 255}`; distinct.linkCounts[o.messageId] = 3; distinct.addressRecipients[o.ip] = 1 })

const worker = new Worker('require("node:worker_threads").parentPort.on("message", () => {})', { eval: true })
await new Promise(resolve => worker.once('online', resolve))
const packedBytes = packClassifyTask(task).payload.length

const result = await race([
  { name: 'packClassifyTask + own buffer + postMessage, transferred (pool.ts)', current: true, fn: () => { const p = packClassifyTask(task).payload; const own = new Uint8Array(p); worker.postMessage({ kind: 'classify', payload: own }, [own.buffer]); return own.byteLength } },
  { name: 'postMessage(task): structured clone', fn: () => { worker.postMessage(task); return 1 } },
  { name: 'runClassifyTask in place', fn: () => runClassifyTask(task).length },
  { name: 'msgpack records of the task (before) + own buffer + postMessage', fn: () => { const p = records.pack(task); const own = new Uint8Array(p); worker.postMessage({ kind: 'classify', payload: own }, [own.buffer]); return own.byteLength } }
], { batchMs: 100 })
const packedNow = new Uint8Array(packClassifyTask(distinct).payload)
const packedBefore = new Uint8Array(records.pack(distinct))
const sides = await race([
  { name: 'main: packClassifyTask, every observation its own message (current)', current: true, fn: () => packClassifyTask(distinct).payload.length },
  { name: 'main: msgpack records, every observation its own message (before)', fn: () => records.pack(distinct).length },
  { name: 'worker: unpackClassifyTask (current)', fn: () => unpackClassifyTask(packedNow).observations.length },
  { name: 'worker: records unpack (before)', fn: () => records.unpack(packedBefore).observations.length }
], { batchMs: 100 })
await worker.terminate()
const [moved, cloned, inPlace, before] = result.variants.map(v => v.ns.median)
const [packNow, packBefore, unpackNow, unpackBefore] = sides.variants.map(v => v.ns.median)
emit({
  topic: 'classify-transfer',
  loadBefore,
  claims: [
    { where: 'src/classify/batch.ts:37', words: 'a structured clone of a 1,000-observation task cost the main thread more than classifying it in place' },
    { where: 'src/classify/batch.ts:47', words: 'a table of the distinct strings and an index per field is a fraction of the bytes and of the time on both sides' }
  ],
  sections: [
    { title: `Main-thread cost of one ${SIZE}-observation classify task (packed: ${(packedBytes / 1024).toFixed(0)} KB; as records before: ${(records.pack(task).length / 1024).toFixed(0)} KB)`, table: raceTable(result, { per: 'task' }) },
    { title: `Both sides, every observation its own message and address (packed: ${(packedNow.length / 1024).toFixed(0)} KB, records: ${(packedBefore.length / 1024).toFixed(0)} KB)`, table: raceTable(sides, { per: 'task' }) }
  ],
  verdicts: [
    { where: 'src/classify/batch.ts:37', holds: cloned > inPlace, measured: `structured clone ${fmtNs(cloned)}, classifying in place ${fmtNs(inPlace)}, pack + transfer ${fmtNs(moved)} per task (records before: ${fmtNs(before)})` },
    { where: 'src/classify/batch.ts:47', holds: packNow < packBefore && unpackNow < unpackBefore && packedNow.length < packedBefore.length, measured: `pack ${fmtNs(packBefore)} → ${fmtNs(packNow)}, unpack ${fmtNs(unpackBefore)} → ${fmtNs(unpackNow)}, ${(packedBefore.length / 1024).toFixed(0)} → ${(packedNow.length / 1024).toFixed(0)} KB` }
  ],
  notes: ['The clone is timed as postMessage returns; the worker then decodes on its own thread. The packed form also costs the worker an unpack, which the main thread does not see.'],
  data: { race: result, packedBytes, observations: SIZE }
})
