// src/rewrite/anchor-text.ts: "Read from the source rather than through lol-html text
// handlers: a handler call costs more than scanning the few hundred bytes of a link
// (measured: text and end-tag handlers halved the rewriter's throughput)."
// Races, on a 100 KB email from the corpus, lol-html with the rewriter's one handler (a
// marker before each <a href>) against the same plus a text handler and an end-tag handler
// collecting the link text, and the project's scanHtml (the current code: one handler,
// anchor text read from the source) for the whole scan.
import { emit, fmtNs, loadNow, race, raceTable } from './lib/race.mjs'
import { rewrite } from './lib/project.mjs'
import { corpusEmail } from './lib/samples.mjs'
import { lolPass } from './lib/lolhtml.mjs'

const loadBefore = loadNow()
const { scanHtml } = await rewrite()
const html = corpusEmail(100_000)
const bytes = Buffer.from(html)
const links = (await scanHtml(html)).links.length
const mbps = ns => (bytes.length / 1e6) / (ns / 1e9)

const result = await race([
  { name: 'scanHtml (one handler, anchor text from the source)', current: true, async: true, fn: async () => (await scanHtml(html)).links.length },
  { name: 'lol-html, `a[href]` element handler only', async: true, fn: () => lolPass(bytes, { element: true, marker: true }) },
  { name: 'lol-html, + text and end-tag handlers', async: true, fn: () => lolPass(bytes, { element: true, marker: true, text: true, endTag: true }) }
], { batchMs: 100 })
const [scan, one, three] = result.variants.map(v => v.ns.median)
const q = mbps(three) / mbps(one)
emit({
  topic: 'anchor-text',
  loadBefore,
  claims: [{ where: 'src/rewrite/anchor-text.ts:22', words: "measured: text and end-tag handlers halved the rewriter's throughput" }],
  sections: [{ title: `One ${(bytes.length / 1024).toFixed(0)} KB email (${links} links)`, table: raceTable(result, { per: 'email' }) }],
  verdicts: [{ where: 'src/rewrite/anchor-text.ts:22', holds: q <= 0.6 ? true : q <= 0.8 ? null : false, measured: `element handler only ${mbps(one).toFixed(1)} MB/s, with text and end-tag handlers ${mbps(three).toFixed(1)} MB/s (${(q * 100).toFixed(0)} % of it); scanHtml ${mbps(scan).toFixed(1)} MB/s (${fmtNs(scan)} an email)` }],
  data: { race: result, bytes: bytes.length, links }
})
