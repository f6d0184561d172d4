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
import { Worker } from 'node:worker_threads'
import { classifyTask } from './lib/project.mjs'
import { classifyBatch } from '../lib/classify-batches.mjs'
import { emit, fmtNs, loadNow, race, raceTable } from './lib/race.mjs'

const loadBefore = loadNow()
const modules = await classifyTask()
const { runClassifyTask, packClassifyTask } = modules
const SIZE = 1000

const task = classifyBatch(modules, SIZE)

const worker = new Worker('require("node:worker_threads").parentPort.on("message", () => {})', { eval: true })
await new Promise(resolve => worker.once('online', resolve))
const packedBytes = packClassifyTask(task).payload.length

const result = await race([
  { name: 'packClassifyTask + own buffer + postMessage, transferred (pool.ts)', current: true, fn: () => { const p = packClassifyTask(task).payload; const own = new Uint8Array(p); worker.postMessage({ kind: 'classify', payload: own }, [own.buffer]); return own.byteLength } },
  { name: 'postMessage(task): structured clone', fn: () => { worker.postMessage(task); return 1 } },
  { name: 'runClassifyTask in place', fn: () => runClassifyTask(task).length }
], { batchMs: 100 })
await worker.terminate()
const [moved, cloned, inPlace] = result.variants.map(v => v.ns.median)
emit({
  topic: 'classify-transfer',
  loadBefore,
  claims: [{ where: 'src/classify/batch.ts:39', words: 'measured, a structured clone of a 1,000-observation task cost the main thread more than classifying it in place' }],
  sections: [{ title: `Main-thread cost of one ${SIZE}-observation classify task (packed: ${(packedBytes / 1024).toFixed(0)} KB)`, table: raceTable(result, { per: 'task' }) }],
  verdicts: [{ where: 'src/classify/batch.ts:39', holds: cloned > inPlace, measured: `structured clone ${fmtNs(cloned)}, classifying in place ${fmtNs(inPlace)}, pack + transfer ${fmtNs(moved)} per task` }],
  notes: ['The clone is timed as postMessage returns; the worker then decodes on its own thread. The packed form also costs the worker an unpack, which the main thread does not see.'],
  data: { race: result, packedBytes, observations: SIZE }
})
