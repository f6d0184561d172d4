import { ClicktrailError, type ErrorCode } from '../errors.js'

/** A refused destination, with its stable CT_ERR_URL_* code (422 in the API). */
function refused (code: ErrorCode, detail?: string): ClicktrailError {
  return ClicktrailError.detailed(code, detail)
}

/** Whether `err` is a destination refused by this policy (and not, say, a bad message id). */
export function isUrlRefusal (err: unknown): err is ClicktrailError {
  return err instanceof ClicktrailError && err.code.startsWith('CT_ERR_URL_')
}

/** Default ceiling on a destination URL, in UTF-8 bytes. Browsers accept far more,
 * but mail clients and proxies start to cut links somewhere past 2 KB, and a tracked
 * URL is the destination plus the token overhead. */
export const DEFAULT_MAX_URL_BYTES = 4096

// C0 controls, DEL, C1 controls, and every Unicode whitespace (space, NBSP, line and
// paragraph separators, ideographic space, ...). A URL that holds one is either broken or
// an attempt at header injection (CR/LF) or at hiding its real target.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const FORBIDDEN_CHARS = /[\u0000-\u0020\u007f-\u009f\u00a0\u1680\u2000-\u200f\u2028\u2029\u202f\u205f\u3000\ufeff]/
const SCHEME = /^https?:\/\//i
const ASCII_VISIBLE = /^[\u0021-\u007e]*$/

/**
 * Checks that `raw` may ever become a redirect target and returns the string to put in
 * the `Location` header. Throws a ClicktrailError with a stable CT_ERR_URL_* code otherwise.
 *
 * The token keeps `raw` exactly as the author wrote it. The Location value is `raw`
 * itself when it is printable ASCII (a browser parses it exactly as it would have parsed
 * the untracked href); otherwise it is the WHATWG serialisation of `raw`, which is what
 * the browser would have navigated to (punycode host, UTF-8 percent-encoded path), so
 * that no raw non-ASCII byte reaches a header.
 */
export function checkDestination (raw: string, maxBytes = DEFAULT_MAX_URL_BYTES): string {
  if (typeof raw !== 'string' || raw.length === 0) throw refused('CT_ERR_URL_INVALID')
  if (raw.length > maxBytes || Buffer.byteLength(raw) > maxBytes) {
    throw refused('CT_ERR_URL_TOO_LONG', `${Buffer.byteLength(raw)} > ${maxBytes} bytes`)
  }
  // A lone UTF-16 surrogate cannot be written as UTF-8: the token would carry U+FFFD
  // instead, the WHATWG parser would send the browser to %EF%BF%BD, and ClickHouse would
  // refuse the link row. Such a string is not a URL anyone wrote on purpose.
  if (!(raw as unknown as { isWellFormed: () => boolean }).isWellFormed()) throw refused('CT_ERR_URL_INVALID', 'not well-formed Unicode (a lone UTF-16 surrogate)')
  if (FORBIDDEN_CHARS.test(raw)) throw refused('CT_ERR_URL_CONTROL_CHARS')
  if (!SCHEME.test(raw)) throw refused('CT_ERR_URL_SCHEME')
  // Backslashes are read as slashes in special schemes: `https://a.com\@b.com` is a
  // classic trick to make a reader and a parser disagree about the host. None belongs in a
  // hand-written scheme, host or path; inside a query or fragment it is only data.
  const backslash = raw.indexOf('\\')
  if (backslash !== -1 && backslash < endOfPath(raw)) throw refused('CT_ERR_URL_BACKSLASH')
  const authorityEnd = findAuthorityEnd(raw)
  const authority = raw.slice(raw.indexOf('//') + 2, authorityEnd)
  if (authority.includes('@')) throw refused('CT_ERR_URL_USERINFO')
  if (authority.length === 0) throw refused('CT_ERR_URL_HOST')
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw refused('CT_ERR_URL_INVALID')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw refused('CT_ERR_URL_SCHEME')
  if (url.username !== '' || url.password !== '') throw refused('CT_ERR_URL_USERINFO')
  if (url.hostname === '') throw refused('CT_ERR_URL_HOST')
  return ASCII_VISIBLE.test(raw) ? raw : url.href
}

/** Index where the authority of an `http(s)://` string ends: the first `/`, `\`, `?` or `#`. */
function findAuthorityEnd (raw: string): number {
  const start = raw.indexOf('//') + 2
  for (let i = start; i < raw.length; i++) {
    const c = raw.charCodeAt(i)
    if (c === 0x2f || c === 0x5c || c === 0x3f || c === 0x23) return i
  }
  return raw.length
}

function endOfPath (raw: string): number {
  const q = raw.indexOf('?')
  const h = raw.indexOf('#')
  if (q === -1) return h === -1 ? raw.length : h
  return h === -1 ? q : Math.min(q, h)
}
