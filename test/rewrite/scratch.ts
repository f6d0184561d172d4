import { readFileSync, readdirSync } from 'node:fs'
import { rewriteHtml, scanHtml } from '../../src/rewrite/html.js'
import { trackingHostPredicate } from '../../src/rewrite/links.js'
const dir = '/work/shared/corpus/emails/'
const isTrackingHost = trackingHostPredicate('https://t.example.net', ['track.acme.com'])
let all = ''
for (const f of readdirSync(dir).filter(f => f.endsWith('.html'))) all += readFileSync(dir + f, 'utf8')
for (const size of [10e3, 100e3, 1e6]) {
  let doc = ''
  while (doc.length < size) doc += all
  doc = doc.slice(0, size)
  const n = Math.max(5, Math.floor(20e6 / size))
  for (let i = 0; i < 3; i++) await rewriteHtml(doc, { isTrackingHost, mint: (i, u) => `https://pabc.t.example.net/c/TOKEN${i}` })
  let t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await rewriteHtml(doc, { isTrackingHost, mint: (i, u) => `https://pabc.t.example.net/c/TOKEN${i}` })
  let ms = Number(process.hrtime.bigint() - t0) / 1e6
  console.log(size, 'rewrite', (size * n / 1e6 / (ms / 1000)).toFixed(1), 'MB/s', (ms / n).toFixed(3), 'ms/doc', process.memoryUsage().rss >> 20)
  t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) await scanHtml(doc, { isTrackingHost })
  ms = Number(process.hrtime.bigint() - t0) / 1e6
  console.log(size, 'scan', (size * n / 1e6 / (ms / 1000)).toFixed(1), 'MB/s')
}
