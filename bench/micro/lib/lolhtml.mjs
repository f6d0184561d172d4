// One pass of html-rewriter-wasm (lol-html) over a document, with the handlers a bench
// asks for; every wrapper handed to a handler is freed afterwards unless `free` is false
// (DESIGN.md: unfreed wrappers pin wasm memory).
import { HTMLRewriter } from 'html-rewriter-wasm'

const HTML = { html: true }
const CHUNK = 64 * 1024 // as src/rewrite/html.ts writes

/**
 * @param {Uint8Array} bytes
 * @param {{ element?: boolean, text?: boolean, endTag?: boolean, marker?: boolean, free?: boolean }} o
 * @returns {Promise<number>} output bytes
 */
export async function lolPass (bytes, o) {
  let out = 0
  const handed = []
  const keep = o.free !== false
  const rewriter = new HTMLRewriter((chunk) => { out += chunk.length })
  if (o.element || o.text) {
    // eslint-disable-next-line no-unused-vars -- the accumulation is the work measured (as the rewriter gathers link text)
    let text = ''
    rewriter.on('a[href]', {
      element: o.element
        ? (el) => {
            if (keep) handed.push(el)
            if (o.marker) el.before('<!--m-->', HTML)
            if (o.endTag) el.onEndTag((end) => { if (keep) handed.push(end); text = '' })
          }
        : undefined,
      text: o.text ? (t) => { if (keep) handed.push(t); text += t.text } : undefined
    })
  }
  try {
    for (let at = 0; at < bytes.length; at += CHUNK) await rewriter.write(bytes.subarray(at, Math.min(at + CHUNK, bytes.length)))
    await rewriter.end()
  } finally {
    for (const h of handed) h.free?.()
    rewriter.free()
  }
  return out
}
