import { readFileSync, readdirSync } from 'node:fs'
import { rewriteHtml, scanHtml } from '../../src/rewrite/html.js'
import { trackingHostPredicate } from '../../src/rewrite/links.js'
const dir = '/work/shared/corpus/emails/'
const isTrackingHost = trackingHostPredicate('https://t.example.net', ['track.acme.com'])
let all = ''
for (const f of readdirSync(dir).filter(f => f.endsWith('.html'))) all += readFileSync(dir + f, 'utf8')
const sizes = process.argv[2] ? [Number(process.argv[2])] : [10e3, 100e3, 1e6]
for (const size of sizes) {
  let doc = ''
  while (doc.length < size) doc += all
  doc = doc.slice(0, size)
  const n = Math.max(5, Math.floor(40e6 / size))
  for (let i = 0; i < 20; i++) await rewriteHtml(doc, { isTrackingHost, mint: (i, u) => `https://pabc.t.example.net/c/TOKEN${i}` })
  let t0 = process.cpuUsage()
  for (let i = 0; i < n; i++) await rewriteHtml(doc, { isTrackingHost, mint: (i, u) => `https://pabc.t.example.net/c/TOKEN${i}` })
  let cu = process.cpuUsage(t0); let ms = (cu.user + cu.system) / 1000
  console.log(size, 'rewrite', (size * n / 1e6 / (ms / 1000)).toFixed(1), 'MB/s cpu', (ms / n).toFixed(3), 'ms/doc', process.memoryUsage().rss >> 20)
}
