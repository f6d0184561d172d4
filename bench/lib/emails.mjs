// Emails of a chosen size from the real-world corpus (../shared/corpus/emails, or
// CLICKTRAIL_CORPUS): whole bodies of the corpus's templates, round-robin, inside the first
// template's head, so link density and markup are those of real mail. Used by
// bench/rewrite.mjs and the micro benchmarks.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export const CORPUS = process.env.CLICKTRAIL_CORPUS || '/work/shared/corpus/emails'

/** Returns build(target): an email of about `target` bytes (within 5 %). */
export function emailBuilder (dir = CORPUS) {
  const files = readdirSync(dir).filter(f => f.endsWith('.html')).sort()
  if (files.length === 0) throw new Error(`no .html files in ${dir}`)
  const docs = files.map(f => readFileSync(join(dir, f), 'utf8'))
  const bodies = docs.map(d => {
    const open = d.search(/<body[^>]*>/i)
    const close = d.search(/<\/body>/i)
    return open === -1 || close === -1 ? d : d.slice(d.indexOf('>', open) + 1, close)
  })
  const headEnd = docs[0].search(/<body[^>]*>/i)
  const head = headEnd === -1 ? '<!doctype html><html><body>' : docs[0].slice(0, docs[0].indexOf('>', headEnd) + 1)
  const tail = '</body></html>\n'
  return target => {
    let html = head
    let size = Buffer.byteLength(head) + Buffer.byteLength(tail)
    for (let i = 0, misses = 0; misses < bodies.length; i++) {
      const b = bodies[i % bodies.length]
      const len = Buffer.byteLength(b)
      if (size + len > target * 1.05) { misses++; continue }
      html += b
      size += len
      misses = 0
    }
    return html + tail
  }
}
