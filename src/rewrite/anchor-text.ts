import { decodeHTML } from 'entities'
import { decodeHref } from './links.js'
import { findAttribute, readStartTag, spanIs } from './start-tag.js'
import { toWellFormed } from './unicode.js'

/** anchor_text is for reports and webhooks; a link wrapping a whole article is cut here. */
export const ANCHOR_TEXT_MAX = 1024
const RAW_TEXT_MAX = 4 * ANCHOR_TEXT_MAX
const WHITESPACE_RUN = /\s+/g
// Elements whose content the tokenizer reads as text up to their own end tag (HTML
// §13.2.5: RAWTEXT, RCDATA, script data); none of it is link text, and a `</a>` inside
// one does not end the link.
const RAW_TEXT_ELEMENTS = ['script', 'style', 'textarea', 'title', 'xmp', 'iframe', 'noembed', 'noframes']

/**
 * The visible text of the link whose start tag ends at `from`: text up to its `</a>` (or
 * up to `limit`, the next link's start tag, as a new `<a>` closes an open one), with
 * comments, tags and raw-text elements left out, entities decoded, whitespace collapsed.
 * An image-only link reads as the alt text of its first image that has one.
 *
 * Read from the source rather than through lol-html text handlers: a handler call costs
 * more than scanning the few hundred bytes of a link (measured, bench/micro/anchor-text.mjs:
 * text and end-tag handlers cost lol-html a third of its throughput).
 */
export function anchorText (src: string, from: number, limit: number): string {
  let raw = ''
  let alt: string | undefined
  let i = from
  while (i < limit && raw.length < RAW_TEXT_MAX) {
    const lt = src.indexOf('<', i)
    const stop = lt === -1 || lt >= limit ? limit : lt
    if (stop > i) raw += src.slice(i, stop)
    if (stop === limit) break
    i = lt
    const c = src.charCodeAt(i + 1)
    if (c === 0x21) { // `<!`: a comment, or a doctype / CDATA / bogus comment up to `>`
      if (src.startsWith('<!--', i)) {
        const end = src.indexOf('-->', i + 4)
        i = end === -1 ? limit : end + 3
      } else {
        const end = src.indexOf('>', i + 2)
        i = end === -1 ? limit : end + 1
      }
    } else if (c === 0x2f) { // `</`: an end tag; `</a>` ends the link
      const end = src.indexOf('>', i + 2)
      const n = src.charCodeAt(i + 3)
      if ((src.charCodeAt(i + 2) | 0x20) === 0x61 && (n === 0x3e || n === 0x2f || n === 0x20 || n === 0x0a || n === 0x09 || n === 0x0c || n === 0x0d)) break
      i = end === -1 ? limit : end + 1
    } else if (((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a)) {
      const tag = readStartTag(src, i, limit)
      if (tag === undefined) break
      if (alt === undefined && spanIs(src, i + 1, tag.nameEnd, 'img')) {
        const a = findAttribute(src, tag, 'alt')
        if (a !== undefined && a.valueStart !== -1) {
          const value = decodeHref(src.slice(a.valueStart, a.valueEnd))
          if (value !== '') alt = value
        }
      }
      i = tag.end
      for (const name of RAW_TEXT_ELEMENTS) {
        if (spanIs(src, lt + 1, tag.nameEnd, name)) {
          i = skipRawText(src, i, limit, name)
          break
        }
      }
    } else {
      raw += '<' // a `<` that opens nothing is text
      i++
    }
  }
  let text = collapse(raw.includes('&') ? decodeHTML(raw) : raw)
  if (text === '' && alt !== undefined) text = collapse(alt)
  if (text.length > ANCHOR_TEXT_MAX) {
    let cut = ANCHOR_TEXT_MAX
    const last = text.charCodeAt(cut - 1)
    if (last >= 0xd800 && last <= 0xdbff) cut-- // never split a surrogate pair
    text = text.slice(0, cut)
  }
  // A lone surrogate in the source (a UTF-16 MIME part) becomes U+FFFD: anchor_text is
  // stored in message_links and sent in webhooks (unicode.ts). Character references to a
  // surrogate (`&#xD800;`) already decode to U+FFFD, as HTML §13.2.5.80 says.
  return toWellFormed(text)
}

function skipRawText (src: string, from: number, limit: number, name: string): number {
  let i = from
  for (;;) {
    const lt = src.indexOf('</', i)
    if (lt === -1 || lt >= limit) return limit
    if (spanIs(src, lt + 2, lt + 2 + name.length, name)) {
      const end = src.indexOf('>', lt + 2)
      return end === -1 ? limit : end + 1
    }
    i = lt + 2
  }
}

function collapse (s: string): string {
  return s.replace(WHITESPACE_RUN, ' ').trim()
}
