import { createHmac, timingSafeEqual } from 'node:crypto'
import { Packr } from 'msgpackr'
import { ClicktrailError } from '../errors.js'

/** Why a token did not verify (verifyToken returns the code, it never throws). */
export type TokenErrorCode = 'CT_ERR_TOKEN_MALFORMED' | 'CT_ERR_TOKEN_VERSION' | 'CT_ERR_TOKEN_KEY_UNKNOWN' | 'CT_ERR_TOKEN_SIGNATURE' | 'CT_ERR_TOKEN_PAYLOAD' | 'CT_ERR_TOKEN_FIELDS'
import { checkDestination, DEFAULT_MAX_URL_BYTES } from './url-policy.js'
import type { KeyRing } from './keys.js'

/**
 * Token layout, version 1 (all of it base64url without padding):
 *
 *   byte 0       version (0x01)
 *   byte 1       key id of the master secret that signed it (0–255)
 *   bytes 2..n-16  msgpack array [sid, message id (bin 16), link index, sent at (unix s), url]
 *   last 16      HMAC-SHA256(project key, bytes 0..n-16) truncated to 128 bits
 *
 * A positional msgpack array (no keys, no records extension) keeps the payload to the
 * fields themselves plus a byte or two of framing each.
 */
export const TOKEN_VERSION = 1
export const TAG_BYTES = 16
const HEADER_BYTES = 2
const MIN_TOKEN_BYTES = HEADER_BYTES + 1 + TAG_BYTES

export const SID_PATTERN = /^[a-z0-9]{1,32}$/
const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const BASE64URL = /^[A-Za-z0-9_-]+$/
const MAX_LINK_INDEX = 0xffff
/**
 * The link index of a message's honeypot link (rewrite/honeypot.ts): the highest index a
 * token can carry, never a real link's (minting it needs `honeypot: true`). It is inside the
 * signed payload, so a token says by itself, and unforgeably, that it is a honeypot; the
 * token layout is unchanged.
 */
export const HONEYPOT_LINK_INDEX = MAX_LINK_INDEX
const MAX_SENT_AT = 0xffffffff

// useRecords:false keeps plain msgpack (no msgpackr record extension) so the bytes are
// readable by any msgpack decoder; mapsAsObjects is irrelevant as we only write arrays.
const packr = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false })

/** What a token says. */
export interface TokenFields {
  /** Project short id, `[a-z0-9]{1,32}`. */
  sid: string
  /** Message id, a UUID in its canonical lowercase text form. */
  messageId: string
  /** Zero-based position of the link among the email's links. */
  linkIndex: number
  /** When the email was sent, unix seconds. */
  sentAt: number
  /** The destination exactly as the author wrote it. */
  url: string
}

/** A verified token: its fields, the key id that signed it, and the Location to answer with. */
export interface VerifiedToken extends TokenFields {
  kid: number
  location: string
}

export interface MintOptions {
  maxUrlBytes?: number
  /** Mint the honeypot index (HONEYPOT_LINK_INDEX); without it that index is refused. */
  honeypot?: boolean
}

/** Mints a token. Throws ClicktrailError (CT_ERR_URL_* for a refused destination, CT_ERR_TOKEN_FIELDS). */
export function mintToken (ring: KeyRing, fields: TokenFields, options: MintOptions = {}): string {
  checkDestination(fields.url, options.maxUrlBytes ?? DEFAULT_MAX_URL_BYTES)
  if (!SID_PATTERN.test(fields.sid)) throw new ClicktrailError('CT_ERR_TOKEN_FIELDS', `project sid "${fields.sid}" must match ${String(SID_PATTERN)}`)
  if (!UUID_PATTERN.test(fields.messageId)) throw new ClicktrailError('CT_ERR_TOKEN_FIELDS', 'message id must be a UUID')
  if (!Number.isInteger(fields.linkIndex) || fields.linkIndex < 0 || fields.linkIndex > MAX_LINK_INDEX) {
    throw new ClicktrailError('CT_ERR_TOKEN_FIELDS', `link index must be an integer from 0 to ${MAX_LINK_INDEX}`)
  }
  if (fields.linkIndex === HONEYPOT_LINK_INDEX && options.honeypot !== true) {
    throw new ClicktrailError('CT_ERR_TOKEN_FIELDS', `link index ${HONEYPOT_LINK_INDEX} is the honeypot link's; a message's links go up to ${HONEYPOT_LINK_INDEX - 1}`)
  }
  if (!Number.isInteger(fields.sentAt) || fields.sentAt < 0 || fields.sentAt > MAX_SENT_AT) {
    throw new ClicktrailError('CT_ERR_TOKEN_FIELDS', 'sent at must be unix seconds')
  }
  const kid = ring.signingKid
  const key = ring.key(kid, fields.sid) as Buffer
  const payload = packr.pack([fields.sid, uuidToBytes(fields.messageId), fields.linkIndex, fields.sentAt, fields.url])
  const out = Buffer.allocUnsafe(HEADER_BYTES + payload.length + TAG_BYTES)
  out[0] = TOKEN_VERSION
  out[1] = kid
  payload.copy(out, HEADER_BYTES)
  const body = out.subarray(0, HEADER_BYTES + payload.length)
  createHmac('sha256', key).update(body).digest().copy(out, body.length, 0, TAG_BYTES)
  return out.toString('base64url')
}

/** Longest token string whose destination can fit under `maxUrlBytes`. */
export function maxTokenLength (maxUrlBytes = DEFAULT_MAX_URL_BYTES): number {
  // header + msgpack framing and fixed fields (≤ 64 bytes with a 32-char sid) + url + tag
  const bytes = HEADER_BYTES + 64 + maxUrlBytes + TAG_BYTES
  return Math.ceil(bytes * 4 / 3)
}

/**
 * Verifies and decodes a token. Returns the fields, or the stable code of why it was
 * refused; never throws, so that a flood of garbage costs no exception unwinding.
 * Nothing but bytes authenticated by the HMAC is ever handed to the msgpack decoder.
 */
export function verifyToken (ring: KeyRing, token: string, maxUrlBytes = DEFAULT_MAX_URL_BYTES): VerifiedToken | TokenErrorCode {
  if (token.length < 26 || token.length > maxTokenLength(maxUrlBytes) || !BASE64URL.test(token)) return 'CT_ERR_TOKEN_MALFORMED'
  if (!isCanonicalBase64url(token)) return 'CT_ERR_TOKEN_MALFORMED'
  const buf = Buffer.from(token, 'base64url')
  if (buf.length < MIN_TOKEN_BYTES) return 'CT_ERR_TOKEN_MALFORMED'
  if (buf[0] !== TOKEN_VERSION) return 'CT_ERR_TOKEN_VERSION'
  const kid = buf[1]
  const bodyEnd = buf.length - TAG_BYTES
  const sid = peekSid(buf)
  if (sid === undefined) return 'CT_ERR_TOKEN_PAYLOAD'
  const key = ring.key(kid, sid)
  if (key === undefined) return 'CT_ERR_TOKEN_KEY_UNKNOWN'
  const mac = createHmac('sha256', key).update(buf.subarray(0, bodyEnd)).digest()
  if (!timingSafeEqual(mac.subarray(0, TAG_BYTES), buf.subarray(bodyEnd))) return 'CT_ERR_TOKEN_SIGNATURE'
  let fields: unknown
  try {
    fields = packr.unpack(buf.subarray(HEADER_BYTES, bodyEnd))
  } catch {
    return 'CT_ERR_TOKEN_PAYLOAD'
  }
  if (!Array.isArray(fields) || fields.length !== 5) return 'CT_ERR_TOKEN_PAYLOAD'
  const [fsid, mid, linkIndex, sentAt, url] = fields as unknown[]
  if (fsid !== sid || !(mid instanceof Uint8Array) || mid.length !== 16 ||
      typeof linkIndex !== 'number' || typeof sentAt !== 'number' || typeof url !== 'string') {
    return 'CT_ERR_TOKEN_FIELDS'
  }
  // The URL passed the destination policy when the token was minted, and the HMAC says
  // it is unchanged: only the Location form is needed (no re-parse for printable ASCII).
  let location = url
  if (!PRINTABLE_ASCII.test(url)) {
    try {
      location = checkDestination(url, maxUrlBytes)
    } catch {
      return 'CT_ERR_TOKEN_FIELDS'
    }
  }
  return { sid, messageId: bytesToUuid(mid), linkIndex, sentAt, url, kid, location }
}

/**
 * Reads the sid (the first element of the payload array) before the HMAC is checked, as
 * the key depends on it. Only a fixarray holding a fixstr/str8 of sid characters is
 * accepted; anything else cannot be a token we minted.
 */
function peekSid (buf: Buffer): string | undefined {
  let i = HEADER_BYTES
  if (buf[i++] !== 0x95) return undefined // fixarray of 5
  let len: number
  const b = buf[i++]
  if ((b & 0xe0) === 0xa0) len = b & 0x1f
  else if (b === 0xd9) len = buf[i++]
  else return undefined
  if (len < 1 || len > 32 || i + len > buf.length - TAG_BYTES) return undefined
  for (let j = i; j < i + len; j++) {
    const c = buf[j]
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39))) return undefined
  }
  return buf.toString('latin1', i, i + len)
}

const PRINTABLE_ASCII = /^[\u0021-\u007e]*$/
const B64URL_VALUE = new Int8Array(128).fill(-1)
for (let i = 0; i < 64; i++) B64URL_VALUE['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.charCodeAt(i)] = i

/**
 * Canonical unpadded base64url only, so that exactly one string stands for each token (no
 * aliases in caches or logs): the length leaves no lone character, and the unused low bits
 * of the last character are zero. Cheaper than decoding and re-encoding to compare.
 */
function isCanonicalBase64url (token: string): boolean {
  const rem = token.length & 3
  if (rem === 1) return false
  if (rem === 0) return true
  const last = B64URL_VALUE[token.charCodeAt(token.length - 1)]
  return rem === 2 ? (last & 0x0f) === 0 : (last & 0x03) === 0
}

const HEX: string[] = []
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, '0'))

export function uuidToBytes (uuid: string): Buffer {
  return Buffer.from(uuid.replace(/-/g, ''), 'hex')
}

export function bytesToUuid (b: Uint8Array): string {
  let s = ''
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) s += '-'
    s += HEX[b[i]]
  }
  return s
}

/** Reads a token's header and payload WITHOUT verifying it: for `token inspect` only. */
export function inspectUnverified (token: string): { version: number, kid: number, fields: unknown } | undefined {
  if (!BASE64URL.test(token)) return undefined
  const buf = Buffer.from(token, 'base64url')
  if (buf.length < MIN_TOKEN_BYTES) return undefined
  let fields: unknown
  try {
    const raw = packr.unpack(buf.subarray(HEADER_BYTES, buf.length - TAG_BYTES))
    fields = Array.isArray(raw) && raw[1] instanceof Uint8Array && raw[1].length === 16 ? [raw[0], bytesToUuid(raw[1]), ...raw.slice(2)] : raw
  } catch {
    fields = undefined
  }
  return { version: buf[0], kid: buf[1], fields }
}
