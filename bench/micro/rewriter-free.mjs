// DESIGN.md (html-rewriter-wasm): "It also leaks every `Element` and `TextChunk` handed to a
// handler unless you call their `free()` once the document is done: measured on 1 000
// documents of 64 KB with an element and a text handler, memory grew 40 MB per 1 000
// documents and throughput fell from 26 to 14 MB/s; freeing them kept memory flat and
// throughput at 27 MB/s per thread. Handler calls are the cost: the same documents with no
// handlers pass at ~300 MB/s."
// Three runs of BENCH_MICRO_DOCS (1 000) documents of 64 KB from the corpus, each in a
// process of its own (a leak stays in the process): element and text handlers with every
// wrapper freed (what src/rewrite/html.ts does), the same without free(), and no handlers.
// Reported, after a warm-up of 50 documents (freed): MB/s over the second and the last
// tenth of the documents and the median tenth, and the trend (least squares over the
// tenths) of the process's memory (RSS, after a GC) per 1 000 documents.
import { fork } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import { envInt } from '../lib/settings.mjs'
import { track } from '../lib/children.mjs'
import { mdTable } from '../lib/report.mjs'
import { median, slope } from '../lib/stats.mjs'
import { QUICK, emit, loadNow } from './lib/race.mjs'
import { corpusEmail } from './lib/samples.mjs'
import { lolPass } from './lib/lolhtml.mjs'

const DOCS = envInt('BENCH_MICRO_DOCS', QUICK ? 300 : 1000, 20, 100_000)
const VARIANTS = {
  freed: { label: 'element + text handlers, wrappers freed (html.ts)', o: { element: true, text: true, free: true } },
  leaked: { label: 'element + text handlers, never freed', o: { element: true, text: true, free: false } },
  none: { label: 'no handlers', o: {} }
}

if (process.argv[2] !== undefined) {
  // Child: one variant.
  const v = VARIANTS[process.argv[2]]
  const bytes = Buffer.from(corpusEmail(64 * 1024))
  const tenth = Math.max(1, Math.floor(DOCS / 10))
  for (let i = 0; i < 50; i++) await lolPass(bytes, { ...v.o, free: true }) // warm-up, nothing kept
  const tenths = [] // per tenth of the documents: MB/s, and the RSS after it (after a GC)
  for (let t = 0; t < 10; t++) {
    const t0 = performance.now()
    for (let i = 0; i < tenth; i++) await lolPass(bytes, v.o)
    const ms = performance.now() - t0
    global.gc?.()
    tenths.push({ mbps: (bytes.length * tenth / 1e6) / (ms / 1000), rssMB: process.memoryUsage.rss() / 1048576 })
  }
  // Least-squares slope of the RSS over the tenths: the leak, without the first growth.
  const growth = slope(tenths.map((x, i) => [(i + 1) * tenth, x.rssMB])) * 1000
  process.send({ bytes: bytes.length, secondTenthMBps: tenths[1].mbps, lastTenthMBps: tenths[9].mbps, medianMBps: median(tenths.map(x => x.mbps)), rssGrowthMBPer1000: growth, tenths })
  process.exit(0)
}

const loadBefore = loadNow()
const out = {}
for (const name of Object.keys(VARIANTS)) {
  const cp = track(fork(fileURLToPath(import.meta.url), [name], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }))
  out[name] = await new Promise((resolve, reject) => { cp.once('message', resolve); cp.once('exit', code => reject(new Error(`${name} exited with ${code}`))) })
}
const rows = Object.entries(VARIANTS).map(([k, v]) => [v.label + (k === 'freed' ? ' **(current)**' : ''), out[k].secondTenthMBps.toFixed(1), out[k].lastTenthMBps.toFixed(1), out[k].medianMBps.toFixed(1), out[k].rssGrowthMBPer1000.toFixed(1)])
const { freed, leaked, none } = out
emit({
  topic: 'rewriter-free',
  loadBefore,
  claims: [{ where: 'DESIGN.md:93', words: 'measured on 1 000 documents of 64 KB with an element and a text handler, memory grew 40 MB per 1 000 documents and throughput fell from 26 to 14 MB/s; freeing them kept memory flat and throughput at 27 MB/s per thread. … with no handlers pass at ~300 MB/s' }],
  sections: [{ title: `${DOCS} documents of ${(freed.bytes / 1024).toFixed(0)} KB, one process per row`, table: mdTable(['handlers', 'MB/s, 2nd tenth', 'MB/s, last tenth', 'MB/s, median tenth', 'RSS trend, MB per 1 000 documents'], rows) }],
  verdicts: [
    { where: 'DESIGN.md:93 (leak)', holds: leaked.rssGrowthMBPer1000 >= 25 && leaked.lastTenthMBps < 0.8 * leaked.secondTenthMBps ? true : (leaked.rssGrowthMBPer1000 > 3 && leaked.rssGrowthMBPer1000 > 3 * freed.rssGrowthMBPer1000 ? null : false), measured: `never freed: ${leaked.rssGrowthMBPer1000.toFixed(0)} MB per 1 000 documents, ${leaked.secondTenthMBps.toFixed(0)} → ${leaked.lastTenthMBps.toFixed(0)} MB/s; freed: ${freed.rssGrowthMBPer1000.toFixed(0)} MB, ${freed.secondTenthMBps.toFixed(0)} → ${freed.lastTenthMBps.toFixed(0)} MB/s (claim +40 MB and 26 → 14 MB/s, against flat at 27 MB/s)` },
    { where: 'DESIGN.md:93 (no handlers ~300 MB/s)', holds: none.medianMBps >= 225 ? true : none.medianMBps >= 100 ? null : false, measured: `no handlers ${none.medianMBps.toFixed(0)} MB/s, ${(none.medianMBps / freed.medianMBps).toFixed(1)}× the freed handlers' rate (claim ~300 MB/s)` }
  ],
  data: { docs: DOCS, results: out }
})
