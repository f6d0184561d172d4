import { rewriteHtml } from '../../src/rewrite/html.js'
const block = '<tr><td style="padding:8px">Ünïcödé text &amp; more text to pad the row out a little</td><td><a href="https://x.com/p?id=ID&amp;s=1" style="color:#333">Product ID</a></td></tr>\n'
let html = '<!doctype html><table>'
let n = 0
let t0 = Date.now()
while (html.length < 4_000_000) html += block.replaceAll('ID', String(n++))
console.log('build', Date.now() - t0, n); t0 = Date.now()
const r = await rewriteHtml(html, { mint: (i) => `https://pabc.t.example.net/c/T${i}` })
console.log('rewrite', Date.now() - t0); t0 = Date.now()
const restored = r.html.replace(/https:\/\/pabc\.t\.example\.net\/c\/T(\d+)/g, (_, i: string) => `https://x.com/p?id=${i}&amp;s=1`)
console.log('restore', Date.now() - t0, restored === html)
