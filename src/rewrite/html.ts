import { HTMLRewriter } from 'html-rewriter-wasm'
import { isUrlRefusal } from '../token/url-policy.js'
import { classifyHref, decodeHref, type LinkDecision, type LinkRuleOptions, type SkipReason } from './links.js'
import { attributeValueText, findAttribute, nameIs, readStartTag, type SourceAttribute } from './start-tag.js'
import { ClicktrailError } from '../errors.js'
import { anchorText as anchorTextOf } from './anchor-text.js'
import { toWellFormed } from './unicode.js'
import { honeypotMarkup } from './honeypot.js'

/**
 * Link rewriting on html-rewriter-wasm (lol-html), byte-exact outside href values.
 *
 * lol-html's `setAttribute` re-serialises the whole start tag: it turns single quotes and
 * unquoted values into double quotes, collapses the spaces between attributes, drops a
 * stray `/` and leaves `&` unescaped (checked against 0.4.1). So lol-html is used only to
 * find things — which `<a href>` elements and comments the document really has (it knows
 * raw-text elements, RCDATA, comments, foreign content) — and never edits a tag: each
 * handler inserts a marker before the start tag or comment, nothing else.
 * The output is then the input plus markers; a marker's position minus the markers before
 * it is the offset of its tag in the input. The tag is read there by `readStartTag` (the
 * HTML tokenizer's attribute states) and the final document is the input with only the
 * href values (and `data-ct-no-track` attributes) spliced.
 *
 * Splitting scan from render lets one parse serve many recipients: the same document is
 * rendered once per message id, each with its own tokens.
 */

/** One row of the link table (SPEC §3; stored in `message_links`). */
export interface LinkRecord {
  /** Position among the document's `<a href>` elements, tracked or not (plus `firstIndex`). */
  index: number
  /** The destination as a browser reads it: entity-decoded once, trimmed. */
  url: string
  /** Visible text, whitespace collapsed; the alt text of an image-only link. */
  anchor_text: string
  tracked: boolean
  reason?: SkipReason
  /** The CT_ERR_URL_* code behind `invalid_url`. */
  code?: string
}

/** Mints the tracked URL for a link; a UrlRefusedError marks the link `invalid_url` instead. */
export type MintFn = (linkIndex: number, url: string) => string

export interface ScanOptions extends LinkRuleOptions {
  /** Index of the document's first link, for messages with several HTML parts. */
  firstIndex?: number
  /** Also find where a honeypot link goes (the `<body>` start tag): see honeypot.ts. */
  honeypot?: boolean
}

/** Mints the honeypot's tracked URL, carrying `url` (the first tracked link's destination). */
export type HoneypotMintFn = (url: string) => string

export interface RewriteHtmlOptions extends ScanOptions {
  mint: MintFn
  /** Given: the document gets one honeypot link (honeypot.ts), when it has a tracked link. */
  mintHoneypot?: HoneypotMintFn
}

export interface RewriteHtmlResult {
  html: string
  links: LinkRecord[]
  /** hrefs inside Outlook conditional comments (`<v:roundrect href>`…): given the token of the `<a>` they duplicate, or left as written. */
  mso: { rewritten: number, untouched: number }
  /** Whether a honeypot link was added (not in `links`: it is no link of the message). */
  honeypot: boolean
}

/** A link as found in the source. */
export interface ScannedLink {
  index: number
  offset: number
  href: SourceAttribute | undefined
  /** `data-ct-no-track` attributes, removed from the output whatever the decision. */
  optOut: SourceAttribute[]
  decision: LinkDecision
  anchorText: string
}

/** An href inside a conditional comment, bound to the `<a>` whose URL it repeats. */
export interface CommentHref {
  href: SourceAttribute
  link: ScannedLink | undefined
}

export interface ScannedDocument {
  source: string
  links: ScannedLink[]
  commentHrefs: CommentHref[]
  /** Offset just past the first `<body>` start tag, when scanned for a honeypot and there is one. */
  bodyEnd?: number
}

const HTML_CONTENT = { html: true }
const WRITE_CHUNK = 64 * 1024 // wasm memory only grows: feeding pieces keeps it small for multi-MB mails

interface Freeable { free: () => void }

interface Pending {
  kind: 'link' | 'comment' | 'body'
  offset: number
}

let markerSeed = 0
function markerFor (source: string): string {
  // Private-use code points, never in real mail; made unique when a document holds one.
  let marker = '\uE000ct\uE001'
  while (source.includes(marker)) marker = `\uE000ct${(++markerSeed).toString(36)}\uE001`
  return marker
}

/**
 * Finds the document's links and classifies them. Malformed markup is read the way
 * lol-html reads it; a document lol-html refuses throws RewriteError CT_ERR_REWRITE_PARSE.
 */
export async function scanHtml (input: string | Uint8Array, options: ScanOptions = {}): Promise<ScannedDocument> {
  const source = typeof input === 'string' ? input : new TextDecoder().decode(input)
  // No `<a` at all: nothing to find, and the parser pass is skipped.
  if (source.indexOf('<a') === -1 && source.indexOf('<A') === -1) return { source, links: [], commentHrefs: [] }

  const marker = markerFor(source)
  const markerBytes = Buffer.from(marker)
  const events: Pending[] = []
  const handed: Freeable[] = []
  // Byte offsets (in the UTF-8 input) of each marker, counted as the output streams by:
  // the output is the input plus markers, so the bytes emitted before marker k, minus the
  // k markers before it, are the input offset of its tag. Nothing is copied or decoded.
  const found: number[] = []
  let emitted = 0
  const sink = (chunk: Uint8Array): void => {
    // lol-html emits inserted content as a chunk of its own (checked with 0.4.1); a
    // marker inside a larger chunk is still found, one split over two is caught below.
    if (chunk.length === markerBytes.length && isMarker(chunk, markerBytes)) {
      found.push(emitted)
      return
    }
    if (chunk.length > 0 && chunk.indexOf(markerBytes[0]) !== -1) {
      const view = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length)
      let from = 0
      for (let at = view.indexOf(markerBytes); at !== -1; at = view.indexOf(markerBytes, from)) {
        found.push(emitted + at - from)
        emitted += at - from
        from = at + markerBytes.length
      }
      emitted += chunk.length - from
      return
    }
    emitted += chunk.length
  }

  // Handler calls are the cost (DESIGN.md), so there are as few as possible: one per
  // `<a href>`, and one per comment only in documents that have a conditional comment
  // with an href in it. Anchor text is read from the source afterwards (anchor-text.ts).
  const rewriter = new HTMLRewriter(sink)
  const bytes = utf8(source)
  try {
    rewriter.on('a[href]', {
      element (el) {
        handed.push(el as unknown as Freeable)
        events.push({ kind: 'link', offset: -1 })
        el.before(marker, HTML_CONTENT)
      }
    })
    if (options.honeypot === true) {
      rewriter.on('body', {
        element (el) {
          handed.push(el as unknown as Freeable)
          events.push({ kind: 'body', offset: -1 })
          el.before(marker, HTML_CONTENT)
        }
      })
    }
    if (hasConditionalHref(source)) {
      rewriter.onDocument({
        comments (comment) {
          handed.push(comment as unknown as Freeable)
          events.push({ kind: 'comment', offset: -1 })
          comment.before(marker, HTML_CONTENT)
        }
      })
    }
    for (let at = 0; at < bytes.length; at += WRITE_CHUNK) {
      await rewriter.write(bytes.subarray(at, Math.min(at + WRITE_CHUNK, bytes.length)))
    }
    await rewriter.end()
  } catch (err) {
    throw ClicktrailError.detailed('CT_ERR_REWRITE_PARSE', err instanceof Error ? err.message : String(err), { cause: err })
  } finally {
    // Every wrapper handed to a handler pins wasm memory until freed (DESIGN.md: 40 MB
    // per 1 000 documents otherwise).
    for (const h of handed) h.free()
    rewriter.free()
  }
  if (found.length !== events.length || emitted !== bytes.length) {
    throw ClicktrailError.detailed('CT_ERR_REWRITE_INTERNAL', `parser output is not the input plus markers (${found.length}/${events.length} markers, ${emitted}/${bytes.length} bytes)`)
  }
  toCharOffsets(source, bytes, found, events)
  return bind(source, events, options)
}

const encoder = new TextEncoder()

/**
 * UTF-8 bytes of `s`. encodeInto a worst-case-sized buffer skips Buffer.from's separate
 * length pass (measured 0.16 ms against 0.26 ms for 100 KB of two-byte text,
 * bench/micro/utf8-encode.mjs). A lone
 * surrogate becomes U+FFFD, as it does for every UTF-8 encoder.
 */
function utf8 (s: string): Buffer {
  const buf = Buffer.allocUnsafe(s.length * 3)
  const { written } = encoder.encodeInto(s, buf)
  return buf.subarray(0, written)
}

function isMarker (chunk: Uint8Array, marker: Buffer): boolean {
  for (let i = 0; i < marker.length; i++) if (chunk[i] !== marker[i]) return false
  return true
}

/**
 * UTF-8 byte offsets to string offsets; markers sit before `<`, so never inside a
 * character. A lone surrogate (one UTF-16 unit) is encoded as U+FFFD and decodes back to
 * one unit, so offsets stay right and the source is returned with it untouched.
 */
function toCharOffsets (source: string, bytes: Buffer, found: number[], events: Pending[]): void {
  if (bytes.length === source.length) { // all ASCII: the same
    for (let k = 0; k < found.length; k++) events[k].offset = found[k]
    return
  }
  let byte = 0
  let char = 0
  for (let k = 0; k < found.length; k++) {
    char += bytes.toString('utf8', byte, found[k]).length
    byte = found[k]
    events[k].offset = char
  }
}

/** Cheap pre-check: is there a `<!--[if …]>` comment with an href inside? Linear. */
function hasConditionalHref (source: string): boolean {
  let href = -1
  for (let at = source.indexOf('<!--[if'); at !== -1;) {
    if (href < at) {
      href = source.indexOf('href', at)
      if (href === -1) return false
    }
    const end = source.indexOf('-->', at + 7)
    if (end === -1 || href < end) return true
    at = source.indexOf('<!--[if', end)
  }
  return false
}

function bind (source: string, events: Pending[], options: ScanOptions): ScannedDocument {
  const first = options.firstIndex ?? 0
  const links: ScannedLink[] = []
  const linkAt: Array<ScannedLink | undefined> = new Array(events.length)
  let next = events.length
  const nextLinkOffset: number[] = new Array(events.length)
  for (let e = events.length - 1; e >= 0; e--) {
    nextLinkOffset[e] = next === events.length ? source.length : events[next].offset
    if (events[e].kind === 'link') next = e
  }
  for (let e = 0; e < events.length; e++) {
    const ev = events[e]
    if (ev.kind !== 'link') continue
    const link = readLink(source, ev.offset, nextLinkOffset[e], first + links.length, options)
    links.push(link)
    linkAt[e] = link
  }
  const commentHrefs: CommentHref[] = []
  let bodyEnd: number | undefined
  for (let e = 0; e < events.length; e++) {
    const ev = events[e]
    if (ev.kind === 'comment' && startsWithConditional(source, ev.offset)) {
      readConditionalComment(source, ev.offset, neighbours(linkAt, e), commentHrefs)
    } else if (ev.kind === 'body' && bodyEnd === undefined && source.charCodeAt(ev.offset) === 0x3c) {
      bodyEnd = readStartTag(source, ev.offset)?.end
    }
  }
  return bodyEnd === undefined ? { source, links, commentHrefs } : { source, links, commentHrefs, bodyEnd }
}

function readLink (source: string, offset: number, limit: number, index: number, options: ScanOptions): ScannedLink {
  const tag = source.charCodeAt(offset) === 0x3c ? readStartTag(source, offset) : undefined
  const href = tag === undefined ? undefined : findAttribute(source, tag, 'href')
  if (tag === undefined || href === undefined) {
    // lol-html saw an <a href> that the tokenizer states do not: never guess where to splice.
    return { index, offset, href: undefined, optOut: [], anchorText: '', decision: { tracked: false, url: '', reason: 'unreadable_tag' } }
  }
  const anchorText = anchorTextOf(source, tag.end, limit)
  const optOut: SourceAttribute[] = []
  for (const a of tag.attributes) if (nameIs(source, a, 'data-ct-no-track')) optOut.push(a)
  const raw = href.valueStart === -1 ? '' : source.slice(href.valueStart, href.valueEnd)
  return { index, offset, href, optOut, anchorText, decision: classifyHref(raw, optOut.length > 0, options, anchorText) }
}

function startsWithConditional (source: string, at: number): boolean {
  // `<!--[if mso]>`, `<!--[if gte mso 9]>`, `<!--[if (gte mso 9)|(IE)]>`: what Outlook renders.
  return source.startsWith('<!--[', at) && (source.charCodeAt(at + 5) | 0x20) === 0x69 && (source.charCodeAt(at + 6) | 0x20) === 0x66
}

/** The `<a>` right after the comment, then the one right before it. */
function neighbours (linkAt: Array<ScannedLink | undefined>, e: number): ScannedLink[] {
  const out: ScannedLink[] = []
  for (let k = e + 1; k < linkAt.length; k++) {
    const l = linkAt[k]
    if (l !== undefined) { out.push(l); break }
  }
  for (let k = e - 1; k >= 0; k--) {
    const l = linkAt[k]
    if (l !== undefined) { out.push(l); break }
  }
  return out
}

/**
 * Outlook renders the markup inside `<!--[if mso]>…<![endif]-->`, so a VML button there
 * (`<v:roundrect href>`) is what Outlook users click, while every other client clicks the
 * `<a>` beside it. Such an href is given the tracked URL of the neighbouring `<a>` when,
 * and only when, both decode to the same URL: the token then carries exactly the
 * destination the VML names, so the rewrite can never send anyone elsewhere, and the
 * click is reported under the index of the link it duplicates. An href that matches no
 * neighbour is left as written (those clicks go straight to the destination, untracked).
 */
function readConditionalComment (source: string, at: number, candidates: ScannedLink[], found: CommentHref[]): void {
  let end = source.indexOf('-->', at + 4)
  const bang = source.indexOf('--!>', at + 4)
  if (bang !== -1 && (end === -1 || bang < end)) end = bang
  if (end === -1) return // unterminated: the rest of the document is a comment no client renders
  let i = source.indexOf('<', at + 4)
  while (i !== -1 && i < end) {
    const c = source.charCodeAt(i + 1) | 0x20
    if (c >= 0x61 && c <= 0x7a) {
      const tag = readStartTag(source, i, end)
      if (tag === undefined) return
      const href = findAttribute(source, tag, 'href')
      if (href !== undefined && href.valueStart !== -1) {
        const url = decodeHref(source.slice(href.valueStart, href.valueEnd))
        let link: ScannedLink | undefined
        for (const l of candidates) {
          if (l.decision.tracked && l.decision.url === url) { link = l; break }
        }
        found.push({ href, link })
      }
      i = source.indexOf('<', tag.end)
    } else {
      i = source.indexOf('<', i + 1)
    }
  }
}

interface Edit { start: number, end: number, text: string }

/**
 * Writes the document with each tracked link's href replaced by `mint(index, url)`, and,
 * with `mintHoneypot`, one honeypot link (honeypot.ts) carrying the first tracked link's
 * destination: right after the `<body>` start tag (the document must have been scanned with
 * `honeypot: true`), else right before the first link. No tracked link, no honeypot.
 */
export function renderHtml (doc: ScannedDocument, mint: MintFn, mintHoneypot?: HoneypotMintFn): RewriteHtmlResult {
  const { source } = doc
  const edits: Edit[] = []
  const links: LinkRecord[] = new Array(doc.links.length)
  const minted = new Map<ScannedLink, string>()
  let honeypot = false
  for (let n = 0; n < doc.links.length; n++) {
    const link = doc.links[n]
    let d = link.decision
    for (const a of link.optOut) edits.push({ start: a.prevEnd, end: a.end, text: '' })
    if (d.tracked && link.href !== undefined) {
      try {
        const url = mint(link.index, d.url)
        minted.set(link, url)
        edits.push({ start: link.href.valueStart, end: link.href.valueEnd, text: attributeValueText(url, link.href.quote) })
        if (mintHoneypot !== undefined && !honeypot) {
          honeypot = true
          edits.push({ start: doc.bodyEnd ?? doc.links[0].offset, end: doc.bodyEnd ?? doc.links[0].offset, text: honeypotMarkup(mintHoneypot(d.url)) })
        }
      } catch (err) {
        // A destination the codec refuses is a skipped link; anything else (bad message id,
        // sid, a bug) is the caller's error and fails the document.
        if (!isUrlRefusal(err)) throw err
        d = { tracked: false, url: d.url, reason: 'invalid_url', code: err.code }
      }
    }
    // Recorded text is well-formed (unicode.ts): a tracked URL already is (checkDestination
    // refuses a lone surrogate); a skipped one is stored with U+FFFD in its place.
    const rec: LinkRecord = { index: link.index, url: d.tracked ? d.url : toWellFormed(d.url), anchor_text: link.anchorText, tracked: d.tracked }
    if (!d.tracked) {
      rec.reason = d.reason
      if (d.code !== undefined) rec.code = d.code
    }
    links[n] = rec
  }
  let rewritten = 0
  for (const ch of doc.commentHrefs) {
    const url = ch.link === undefined ? undefined : minted.get(ch.link)
    if (url === undefined) continue
    edits.push({ start: ch.href.valueStart, end: ch.href.valueEnd, text: attributeValueText(url, ch.href.quote) })
    rewritten++
  }
  return { html: splice(source, edits), links, mso: { rewritten, untouched: doc.commentHrefs.length - rewritten }, honeypot }
}

function splice (source: string, edits: Edit[]): string {
  if (edits.length === 0) return source
  edits.sort((a, b) => a.start - b.start)
  const parts: string[] = []
  let at = 0
  for (const e of edits) {
    parts.push(source.slice(at, e.start), e.text)
    at = e.end
  }
  parts.push(source.slice(at))
  return parts.join('')
}

/** Scans and renders in one go: the common case of one document, one message. */
export async function rewriteHtml (input: string | Uint8Array, options: RewriteHtmlOptions): Promise<RewriteHtmlResult> {
  return renderHtml(await scanHtml(input, { ...options, honeypot: options.honeypot ?? options.mintHoneypot !== undefined }), options.mint, options.mintHoneypot)
}
