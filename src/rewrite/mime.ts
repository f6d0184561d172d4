/// <reference path="./mailsplit.d.ts" />
import { Readable, Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { Splitter, Joiner, type MimeNode, type SplitterItem } from 'mailsplit'
import iconv from 'iconv-lite'
import * as libqp from 'libqp'
import * as libbase64 from 'libbase64'
import libmime from 'libmime'
import { ClicktrailError } from '../errors.js'

/**
 * Rewrites the text/html parts of a raw RFC 5322 message and nothing else.
 *
 * mailsplit splits the message into header blocks, multipart framing and part bodies,
 * and the Joiner puts back exactly what it was given, so every byte outside an HTML part
 * body — other parts, boundaries, preamble and epilogue, every header — comes out as it
 * came in. An HTML body is decoded (libqp / libbase64, then iconv-lite for its declared
 * charset), handed to the caller, and encoded back in the same charset and the same
 * transfer encoding (line length and line ending of the original kept). The only header
 * ever edited is `X-LM-Override-Track-Clicks` in the top-level header block, which is
 * read and removed (SPEC §4), and — only when a rewrite would push a 7bit/8bit line past
 * SMTP's 998 octets — the part's own Content-Transfer-Encoding, switched to
 * quoted-printable.
 */

export const OVERRIDE_HEADER = 'X-LM-Override-Track-Clicks'

export interface HtmlPartInfo {
  /** Zero-based position among the message's rewritten text/html parts. */
  index: number
  /** The charset the part was decoded with. */
  charset: string
  /** The part's Content-Transfer-Encoding ('' when none is given). */
  encoding: string
  /** The message's X-LM-Override-Track-Clicks, read before any part is reached. */
  override: boolean | undefined
}

/**
 * Rewrites one HTML part. Called in part order, each call awaited before the next.
 * Returning the very string it was given leaves the part byte-identical.
 */
export type HtmlPartRewriter = (html: string, part: HtmlPartInfo) => Promise<string> | string

export type PartSkipReason = 'unknown_encoding' | 'unknown_charset' | 'charset_roundtrip'

export interface MimeRewriteResult {
  raw: Buffer
  /** X-LM-Override-Track-Clicks: true/false, or undefined when absent or unreadable. */
  override: boolean | undefined
  /** The header's value when it was present (it is removed either way). */
  overrideHeader?: string
  /** text/html parts handed to the rewriter. */
  htmlParts: number
  /** text/html parts left byte-identical because they could not be decoded faithfully. */
  skippedParts: Array<{ index: number, charset: string, reason: PartSkipReason }>
}

export interface MimeOptions {
  /** Largest header block mailsplit accepts (its default is 1 MB). */
  maxHeadSize?: number
  /** Most MIME nodes in one message (mailsplit's default is 1 000). */
  maxChildNodes?: number
}

const SMTP_LINE_MAX = 998 // RFC 5321 §4.5.3.1.6, without CRLF
// RFC 2045 §6.1; anything else (x-uuencode, a typo) is left alone rather than guessed at.
const KNOWN_ENCODINGS = new Set(['', '7bit', '8bit', 'binary', 'quoted-printable', 'base64'])

/** Reads and removes X-LM-Override-Track-Clicks, rewrites every HTML part. */
export async function rewriteMime (raw: Buffer, rewrite: HtmlPartRewriter, options: MimeOptions = {}): Promise<MimeRewriteResult> {
  const result: MimeRewriteResult = { raw: Buffer.alloc(0), override: undefined, htmlParts: 0, skippedParts: [] }
  const eol = raw.indexOf('\r\n') !== -1 && raw.indexOf('\r\n') <= raw.indexOf('\n') ? '\r\n' : '\n'
  const out: Buffer[] = []
  let length = 0
  const state = new PartRewriter(rewrite, result, eol)
  try {
    await pipeline(
      Readable.from([raw]),
      // message/rfc822 attachments (forwarded mail) are attachments: never parsed into.
      new Splitter({ ignoreEmbedded: true, maxHeadSize: options.maxHeadSize, maxChildNodes: options.maxChildNodes }),
      state,
      new Joiner(),
      async function * (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) { out.push(chunk); length += chunk.length }
      }
    )
  } catch (err) {
    if (err instanceof ClicktrailError || !(err instanceof Error)) throw err
    // Errors of the caller's rewriter are theirs; mailsplit's are a message we cannot read.
    if (state.callerError === err) throw err
    throw ClicktrailError.detailed('CT_ERR_MIME_PARSE', err.message, { cause: err })
  }
  result.raw = Buffer.concat(out, length)
  return result
}

interface OpenPart {
  node: MimeNode
  headers: Buffer
  chunks: Buffer[]
}

class PartRewriter extends Transform {
  readonly #rewrite: HtmlPartRewriter
  readonly #result: MimeRewriteResult
  readonly #eol: string
  #open: OpenPart | undefined
  callerError: unknown

  constructor (rewrite: HtmlPartRewriter, result: MimeRewriteResult, eol: string) {
    super({ objectMode: true })
    this.#rewrite = rewrite
    this.#result = result
    this.#eol = eol
  }

  override _transform (item: SplitterItem, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.#open !== undefined) {
      if (item.type === 'body') {
        this.#open.chunks.push(item.value)
        done()
        return
      }
      const part = this.#open
      this.#open = undefined
      this.#finish(part).then(() => { this.#accept(item); done() }, done)
      return
    }
    this.#accept(item)
    done()
  }

  override _flush (done: TransformCallback): void {
    const part = this.#open
    if (part === undefined) { done(); return }
    this.#open = undefined
    this.#finish(part).then(() => { done() }, done)
  }

  #accept (item: SplitterItem): void {
    if (item.type !== 'node') {
      this.push(item)
      return
    }
    const headers = item.root ? this.#consumeOverride(item) : undefined
    if (item.contentType === 'text/html' && item.multipart === false && item.disposition !== 'attachment') {
      // Held back with its body: its header block may still need a new transfer encoding.
      this.#open = { node: item, headers: headers ?? item.getHeaders(), chunks: [] }
      return
    }
    this.push(headers ?? item)
  }

  /** The root's header block without the override header, or undefined when it has none. */
  #consumeOverride (node: MimeNode): Buffer | undefined {
    const lines = node.headers.get(OVERRIDE_HEADER)
    if (lines.length === 0) return undefined
    const line = unfold(lines[0])
    const value = libmime.decodeWords(line.slice(line.indexOf(':') + 1)).trim()
    this.#result.overrideHeader = value
    const v = value.toLowerCase()
    this.#result.override = v === 'true' ? true : v === 'false' ? false : undefined
    return editHeader(node.getHeaders(), OVERRIDE_HEADER, null)
  }

  async #finish (part: OpenPart): Promise<void> {
    const { node } = part
    let headers = part.headers
    const body = Buffer.concat(part.chunks)
    const encoding = node.encoding
    const index = this.#result.htmlParts++
    const charset = (node.charset === false ? '' : node.charset.trim()) || 'utf-8'
    let text: string | undefined
    const decoded = KNOWN_ENCODINGS.has(encoding) ? decodeTransfer(body, encoding) : undefined
    if (decoded === undefined) {
      this.#result.skippedParts.push({ index, charset, reason: 'unknown_encoding' })
    } else if (!iconv.encodingExists(charset)) {
      this.#result.skippedParts.push({ index, charset, reason: 'unknown_charset' })
    } else {
      text = iconv.decode(decoded, charset, { stripBOM: false })
      // Only a charset that gives back the same bytes can be rewritten without touching
      // text outside the links (unmapped bytes, invalid UTF-8 would come back changed).
      if (!iconv.encode(text, charset).equals(decoded)) {
        this.#result.skippedParts.push({ index, charset, reason: 'charset_roundtrip' })
        text = undefined
      }
    }
    let newBody: Buffer = body
    if (text !== undefined) {
      let html: string
      try {
        html = await this.#rewrite(text, { index, charset, encoding, override: this.#result.override })
      } catch (err) {
        this.callerError = err
        throw err
      }
      if (html !== text) {
        const bytes = iconv.encode(html, charset)
        const encoded = encodeTransfer(bytes, encoding, body, this.#eol)
        if (encoded.headers) headers = editHeader(headers, 'Content-Transfer-Encoding', 'quoted-printable')
        newBody = encoded.body
      }
    }
    this.push(headers)
    if (newBody.length > 0) this.push(newBody)
  }
}

function decodeTransfer (body: Buffer, encoding: string): Buffer {
  switch (encoding) {
    case 'base64': return libbase64.decode(body.toString('latin1'))
    case 'quoted-printable': return libqp.decode(body)
    default: return body // 7bit, 8bit, binary, none
  }
}

/**
 * `bytes` in the part's transfer encoding, laid out like `original` (line length, line
 * ending, final line break). `headers` is true when the part had to move to
 * quoted-printable to keep its lines within SMTP's limit.
 */
function encodeTransfer (bytes: Buffer, encoding: string, original: Buffer, messageEol: string): { body: Buffer, headers: boolean } {
  const eol = original.indexOf('\n') === -1 ? messageEol : original.indexOf('\r\n') !== -1 ? '\r\n' : '\n'
  const endsWithEol = original.length > 0 && original[original.length - 1] === 0x0a
  let text: string
  switch (encoding) {
    case 'base64': {
      const first = original.indexOf('\n')
      const lineLength = first === -1 ? 76 : original.toString('latin1', 0, first).replace(/\r$/, '').length
      text = libbase64.wrap(libbase64.encode(bytes), lineLength > 0 ? lineLength : 76).replace(/\r\n/g, eol)
      break
    }
    case 'quoted-printable':
      text = qp(bytes, eol)
      break
    default:
      if (longestLine(bytes) > SMTP_LINE_MAX && longestLine(original) <= SMTP_LINE_MAX) {
        // A tracked URL is longer than most originals; rather than send a line an SMTP
        // server may cut, move this part to quoted-printable (what mailsplit's own
        // Rewriter does for every 7/8-bit part).
        return { body: withFinalEol(Buffer.from(qp(bytes, eol), 'latin1'), endsWithEol, eol), headers: true }
      }
      return { body: bytes, headers: false }
  }
  return { body: withFinalEol(Buffer.from(text, 'latin1'), endsWithEol, eol), headers: false }
}

function qp (bytes: Buffer, eol: string): string {
  const wrapped = libqp.wrap(libqp.encode(bytes), 76)
  // `=` is always written =3D, so `=\r\n` can only be a soft line break.
  return eol === '\r\n' ? wrapped : wrapped.replace(/=\r\n/g, '=\n')
}

function withFinalEol (body: Buffer, wanted: boolean, eol: string): Buffer {
  if (!wanted || (body.length > 0 && body[body.length - 1] === 0x0a)) return body
  return Buffer.concat([body, Buffer.from(eol)])
}

function longestLine (bytes: Buffer): number {
  let longest = 0
  let start = 0
  for (let nl = bytes.indexOf(0x0a); ; nl = bytes.indexOf(0x0a, start)) {
    const end = nl === -1 ? bytes.length : nl
    const len = end - start - (end > start && bytes[end - 1] === 0x0d ? 1 : 0)
    if (len > longest) longest = len
    if (nl === -1) return longest
    start = nl + 1
  }
}

function unfold (line: string): string {
  return line.replace(/\r?\n(?=[ \t])/g, '')
}

/**
 * A header block with field `name` removed (`value` null) or given `value` (the first
 * occurrence replaced, later ones removed; appended when absent). Works on the raw bytes
 * so every other field keeps its folding, case and line endings exactly.
 */
export function editHeader (block: Buffer, name: string, value: string | null): Buffer {
  const text = block.toString('latin1')
  const eol = text.includes('\r\n') ? '\r\n' : '\n'
  const lower = name.toLowerCase()
  const fields: string[] = []
  let at = 0
  while (at < text.length) {
    let end = text.indexOf('\n', at)
    end = end === -1 ? text.length : end + 1
    // continuation lines (starting with SP or HT) belong to the field above
    while (end < text.length && (text.charCodeAt(end) === 0x20 || text.charCodeAt(end) === 0x09)) {
      const next = text.indexOf('\n', end)
      end = next === -1 ? text.length : next + 1
    }
    fields.push(text.slice(at, end))
    at = end
  }
  let replaced = false
  const kept: string[] = []
  for (const f of fields) {
    const colon = f.indexOf(':')
    if (colon > 0 && f.slice(0, colon).trim().toLowerCase() === lower) {
      if (value !== null && !replaced) kept.push(`${f.slice(0, colon)}: ${value}${eol}`)
      replaced = true
      continue
    }
    kept.push(f)
  }
  if (value !== null && !replaced) {
    // before the blank line that ends the block
    let blank = kept.length - 1
    while (blank >= 0 && kept[blank].trim() !== '') blank--
    kept.splice(blank === -1 ? kept.length : blank, 0, `${name}: ${value}${eol}`)
  }
  return Buffer.from(kept.join(''), 'latin1')
}
