/**
 * Address → network family, for IPv4 and IPv6. Ranges become sorted, non-overlapping integer
 * spans (IPv4 as one uint32, IPv6 as four uint32 words) searched by binary search: a lookup
 * is O(log n) with no allocation, whatever the number of ranges. The table is built once, at
 * module load, from signals.ts.
 *
 * Addresses arrive as uWS prints them (`1.2.3.4`, `2001:db8::1`, `::ffff:1.2.3.4`) or from
 * X-Forwarded-For; IPv4-mapped IPv6 (RFC 4291 §2.5.5.2) is looked up as IPv4.
 */
import { NETWORKS, type NetworkFamily } from './signals.js'

// ---------------------------------------------------------------------------------------
// Parsing. Hand-written (no regex, no split) because it runs once per observation.

/** Parses dotted-quad IPv4 into an unsigned 32-bit integer; -1 when `s[from, to)` is not one. */
export function parseIPv4 (s: string, from = 0, to = s.length): number {
  let value = 0
  let part = -1
  let parts = 0
  let digits = 0
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i)
    if (c === 46) { // '.'
      if (part < 0 || parts === 3) return -1
      value = value * 256 + part
      parts++
      part = -1
      digits = 0
    } else if (c >= 48 && c <= 57) {
      // No leading zeros: "010" is octal to some parsers, so refuse it rather than guess.
      if (digits > 0 && part === 0) return -1
      part = (part < 0 ? 0 : part) * 10 + (c - 48)
      digits++
      if (part > 255) return -1
    } else {
      return -1
    }
  }
  if (part < 0 || parts !== 3) return -1
  return value * 256 + part
}

function hexValue (c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

/**
 * Parses IPv6 text into `out` (four big-endian 32-bit words). Accepts `::` compression, an
 * embedded dotted quad at the end, a zone id (`%eth0`, ignored) and surrounding brackets.
 * Returns false when the text is not an IPv6 address.
 */
export function parseIPv6 (s: string, out: Uint32Array): boolean {
  let start = 0
  let end = s.length
  if (end > 1 && s.charCodeAt(0) === 91 && s.charCodeAt(end - 1) === 93) { start = 1; end-- } // [ ]
  const pct = s.indexOf('%', start)
  if (pct >= 0 && pct < end) end = pct
  if (end - start < 2) return false

  const groups = GROUPS
  let n = 0 // groups written
  let gap = -1 // index in groups where '::' sits
  let i = start
  if (s.charCodeAt(i) === 58) { // leading ':' must be '::'
    if (s.charCodeAt(i + 1) !== 58) return false
    gap = 0
    i += 2
  }
  while (i < end) {
    // Embedded IPv4 in the last 32 bits?
    let j = i
    let isV4 = false
    while (j < end) {
      const c = s.charCodeAt(j)
      if (c === 58) break
      if (c === 46) { isV4 = true; break }
      j++
    }
    if (isV4) {
      if (n > 6) return false
      const v4 = parseIPv4(s, i, end)
      if (v4 < 0) return false
      groups[n++] = v4 >>> 16
      groups[n++] = v4 & 0xffff
      i = end
      break
    }
    let v = 0
    let len = 0
    while (i < end) {
      const h = hexValue(s.charCodeAt(i))
      if (h < 0) break
      v = v * 16 + h
      len++
      i++
      if (len > 4) return false
    }
    if (len === 0) return false
    if (n === 8) return false
    groups[n++] = v
    if (i === end) break
    if (s.charCodeAt(i) !== 58) return false
    i++
    if (i < end && s.charCodeAt(i) === 58) {
      if (gap >= 0) return false
      gap = n
      i++
    } else if (i === end) {
      return false // trailing single ':'
    }
  }
  if (gap < 0) {
    if (n !== 8) return false
  } else {
    if (n > 7) return false
    const zeros = 8 - n
    for (let k = n - 1; k >= gap; k--) groups[k + zeros] = groups[k]
    for (let k = gap; k < gap + zeros; k++) groups[k] = 0
  }
  out[0] = (groups[0] * 65536 + groups[1]) >>> 0
  out[1] = (groups[2] * 65536 + groups[3]) >>> 0
  out[2] = (groups[4] * 65536 + groups[5]) >>> 0
  out[3] = (groups[6] * 65536 + groups[7]) >>> 0
  return true
}

// Scratch space: lookups are synchronous and a worker thread has one event loop.
const GROUPS = new Uint16Array(8)

// ---------------------------------------------------------------------------------------
// The table.

interface Span4 { start: number, end: number, value: number }
interface Span6 { start: Uint32Array, end: Uint32Array, value: number }

function compare6 (a: Uint32Array, ai: number, b: Uint32Array, bi: number): number {
  for (let k = 0; k < 4; k++) {
    const x = a[ai + k]
    const y = b[bi + k]
    if (x !== y) return x < y ? -1 : 1
  }
  return 0
}

function cidrEnd4 (start: number, bits: number): number {
  const size = 2 ** (32 - bits)
  if (start % size !== 0) throw new RangeError('host bits set')
  return start + size - 1
}

function cidrBounds6 (addr: Uint32Array, bits: number): { start: Uint32Array, end: Uint32Array } {
  const start = new Uint32Array(4)
  const end = new Uint32Array(4)
  for (let k = 0; k < 4; k++) {
    const keep = Math.max(0, Math.min(32, bits - 32 * k)) // network bits in this word
    const hostMask = keep === 32 ? 0 : (0xffffffff >>> keep)
    if ((addr[k] & hostMask) !== 0) throw new RangeError('host bits set')
    start[k] = addr[k]
    end[k] = (addr[k] | hostMask) >>> 0
  }
  return { start, end }
}

/**
 * A sorted, non-overlapping set of address spans, each carrying a value. Built once;
 * `lookup` is allocation-free.
 */
export class RangeTable<T> {
  readonly #values: T[]
  readonly #v4Start: Uint32Array
  readonly #v4End: Uint32Array
  readonly #v4Value: Uint32Array
  readonly #v6Start: Uint32Array // stride 4
  readonly #v6End: Uint32Array
  readonly #v6Value: Uint32Array
  readonly #addr = new Uint32Array(4)

  /** `ranges`: whitespace-separated CIDRs or inclusive `a-b` spans, per value. Throws on malformed text or overlap. */
  constructor (entries: ReadonlyArray<{ ranges: string, value: T }>) {
    this.#values = entries.map(e => e.value)
    const v4: Span4[] = []
    const v6: Span6[] = []
    const tmp = new Uint32Array(4)
    entries.forEach((e, value) => {
      for (const text of e.ranges.split(/\s+/)) {
        if (text === '') continue
        try {
          parseRange(text, value, v4, v6, tmp)
        } catch (err) {
          throw new RangeError(`bad address range "${text}": ${(err as Error).message}`)
        }
      }
    })
    v4.sort((a, b) => a.start - b.start)
    v6.sort((a, b) => compare6(a.start, 0, b.start, 0))
    for (let i = 1; i < v4.length; i++) {
      if (v4[i].start <= v4[i - 1].end) throw new RangeError(`overlapping IPv4 ranges at index ${i}`)
    }
    for (let i = 1; i < v6.length; i++) {
      if (compare6(v6[i].start, 0, v6[i - 1].end, 0) <= 0) throw new RangeError(`overlapping IPv6 ranges at index ${i}`)
    }
    this.#v4Start = Uint32Array.from(v4, s => s.start)
    this.#v4End = Uint32Array.from(v4, s => s.end)
    this.#v4Value = Uint32Array.from(v4, s => s.value)
    this.#v6Start = new Uint32Array(v6.length * 4)
    this.#v6End = new Uint32Array(v6.length * 4)
    this.#v6Value = Uint32Array.from(v6, s => s.value)
    v6.forEach((s, i) => { this.#v6Start.set(s.start, i * 4); this.#v6End.set(s.end, i * 4) })
  }

  get size (): number { return this.#v4Start.length + this.#v6Value.length }

  /** The value whose span holds `ip`, or undefined (also for text that is no address). */
  lookup (ip: string): T | undefined {
    if (ip.length === 0) return undefined
    if (ip.indexOf(':') < 0) {
      const v = parseIPv4(ip)
      return v < 0 ? undefined : this.lookup4(v)
    }
    const a = this.#addr
    if (!parseIPv6(ip, a)) return undefined
    if (a[0] === 0 && a[1] === 0 && a[2] === 0xffff) return this.lookup4(a[3]) // ::ffff:a.b.c.d
    return this.#lookup6(a)
  }

  /** Lookup by numeric IPv4. */
  lookup4 (v: number): T | undefined {
    const starts = this.#v4Start
    let lo = 0
    let hi = starts.length - 1
    let found = -1
    while (lo <= hi) { // last span whose start ≤ v
      const mid = (lo + hi) >>> 1
      if (starts[mid] <= v) { found = mid; lo = mid + 1 } else hi = mid - 1
    }
    if (found < 0 || this.#v4End[found] < v) return undefined
    return this.#values[this.#v4Value[found]]
  }

  #lookup6 (a: Uint32Array): T | undefined {
    const starts = this.#v6Start
    let lo = 0
    let hi = this.#v6Value.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (compare6(starts, mid * 4, a, 0) <= 0) { found = mid; lo = mid + 1 } else hi = mid - 1
    }
    if (found < 0 || compare6(this.#v6End, found * 4, a, 0) < 0) return undefined
    return this.#values[this.#v6Value[found]]
  }
}

function parseRange (text: string, value: number, v4: Span4[], v6: Span6[], tmp: Uint32Array): void {
  const slash = text.indexOf('/')
  const dash = text.indexOf('-')
  if (slash >= 0) {
    const bits = Number(text.slice(slash + 1))
    const addr = text.slice(0, slash)
    if (addr.includes(':')) {
      if (!Number.isInteger(bits) || bits < 0 || bits > 128) throw new RangeError('prefix length')
      if (!parseIPv6(addr, tmp)) throw new RangeError('not an IPv6 address')
      const { start, end } = cidrBounds6(tmp, bits)
      v6.push({ start, end, value })
    } else {
      if (!Number.isInteger(bits) || bits < 0 || bits > 32) throw new RangeError('prefix length')
      const start = parseIPv4(addr)
      if (start < 0) throw new RangeError('not an IPv4 address')
      v4.push({ start, end: cidrEnd4(start, bits), value })
    }
    return
  }
  if (dash < 0) throw new RangeError('expected a CIDR or a-b span')
  const a = text.slice(0, dash)
  const b = text.slice(dash + 1)
  if (a.includes(':')) {
    if (!parseIPv6(a, tmp)) throw new RangeError('not an IPv6 address')
    const start = tmp.slice()
    if (!parseIPv6(b, tmp)) throw new RangeError('not an IPv6 address')
    const end = tmp.slice()
    if (compare6(start, 0, end, 0) > 0) throw new RangeError('start after end')
    v6.push({ start, end, value })
  } else {
    const start = parseIPv4(a)
    const end = parseIPv4(b)
    if (start < 0 || end < 0) throw new RangeError('not an IPv4 address')
    if (start > end) throw new RangeError('start after end')
    v4.push({ start, end, value })
  }
}

/** Every network of signals.ts, built once. */
export const NETWORK_TABLE = new RangeTable<NetworkFamily>(NETWORKS.map(n => ({ ranges: n.ranges, value: n })))

/** The network family (scanner, vendor or relay) that holds `ip`, if any. */
export function lookupNetwork (ip: string): NetworkFamily | undefined {
  return NETWORK_TABLE.lookup(ip)
}

/*
 * Addresses many people share by design, where "one address clicked for many recipients" says
 * nothing about a machine: loopback and private networks (a proxy in front that is not listed
 * in --trusted-proxy makes every click come from it), link-local, carrier-grade NAT (RFC 6598:
 * a mobile carrier's subscribers behind one address), unique-local IPv6, and privacy relays.
 */
const SHARED_TABLE = new RangeTable<true>([{
  value: true,
  ranges: '0.0.0.0/8 10.0.0.0/8 100.64.0.0/10 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 192.168.0.0/16 ::/127 fc00::/7 fe80::/10'
}])

/** True for an address that stands for many clients (private, loopback, CGNAT, relay egress). */
export function isSharedAddress (ip: string): boolean {
  return SHARED_TABLE.lookup(ip) === true || NETWORK_TABLE.lookup(ip)?.role === 'relay'
}

/** The CIDRs and spans of every scanner network (decisive ranges), one entry each: what late evidence compares across versions. */
export function scannerRanges (): string[] {
  return NETWORKS.filter(n => n.role === 'scanner').flatMap(n => n.ranges.split(/\s+/).filter(r => r !== ''))
}
