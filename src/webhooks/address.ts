import { BlockList, isIP } from 'node:net'
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { ClicktrailError } from '../errors.js'

// Where a webhook must never be delivered unless the operator allows it.
//
// IPv4: "this network", private (RFC 1918), CGNAT, loopback, link-local (incl. the
// 169.254.169.254 cloud metadata service), IETF protocol assignments, documentation
// (TEST-NET-1/2/3), the deprecated 6to4 relay anycast, benchmarking, multicast, reserved
// and broadcast.
const BLOCKED_V4 = new BlockList()
for (const [net, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.88.99.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24],
  ['203.0.113.0', 24], ['224.0.0.0', 4], ['240.0.0.0', 4]
] as const) BLOCKED_V4.addSubnet(net, bits, 'ipv4')

/**
 * IPv6 prefixes, checked on the 16 bytes of the address. `v4` is the byte offset of an IPv4
 * address the prefix embeds (the address is then judged by that IPv4 address, so
 * `::ffff:7f00:1`, `64:ff9b::7f00:1` and `2002:7f00:1::` are loopback); without it the
 * whole prefix is refused. Whole-prefix refusals are ranges that are not globally
 * reachable (IANA special-purpose registry) or whose IPv4 part cannot be trusted:
 * - `::/96` IPv4-compatible (deprecated, RFC 4291; includes `::` and `::1`): no public use;
 * - `64:ff9b:1::/48` local-use NAT64 (RFC 8215): where the IPv4 part sits depends on the
 *   operator's prefix length, so it cannot be decoded;
 * - `2001::/23` IETF protocol assignments, which hold Teredo `2001::/32` (its client IPv4 is
 *   obfuscated and its server IPv4 is anybody's), benchmarking and ORCHID;
 * - `2001:db8::/32` and `3fff::/20` documentation, `100::/64` discard;
 * - `fc00::/7` unique local, `fec0::/10` site-local (deprecated), `fe80::/10` link-local,
 *   `ff00::/8` multicast.
 * Entries are tried in order; the first that matches decides.
 */
const V6_RULES: ReadonlyArray<{ prefix: number[], bits: number, v4?: number }> = [
  { prefix: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], bits: 96, v4: 12 }, // ::ffff:0:0/96 IPv4-mapped
  { prefix: [0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0], bits: 96, v4: 12 }, // ::ffff:0:0:0/96 IPv4-translated (RFC 2765)
  { prefix: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], bits: 96 }, // ::/96 IPv4-compatible, :: and ::1
  { prefix: [0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], bits: 96, v4: 12 }, // 64:ff9b::/96 NAT64 (RFC 6052)
  { prefix: [0, 0x64, 0xff, 0x9b, 0, 1], bits: 48 }, // 64:ff9b:1::/48 local-use NAT64
  { prefix: [0x20, 0x02], bits: 16, v4: 2 }, // 2002::/16 6to4
  { prefix: [0x20, 0x01, 0x00], bits: 23 }, // 2001::/23 IETF protocol assignments, incl. Teredo 2001::/32
  { prefix: [0x20, 0x01, 0x0d, 0xb8], bits: 32 }, // 2001:db8::/32 documentation
  { prefix: [0x3f, 0xff], bits: 20 }, // 3fff::/20 documentation (RFC 9637)
  { prefix: [0x01, 0x00, 0, 0, 0, 0, 0, 0], bits: 64 }, // 100::/64 discard
  { prefix: [0xfc], bits: 7 }, // fc00::/7 unique local (incl. fd00:ec2::254, the AWS metadata service)
  { prefix: [0xfe, 0xc0], bits: 10 }, // fec0::/10 site-local
  { prefix: [0xfe, 0x80], bits: 10 }, // fe80::/10 link-local
  { prefix: [0xff], bits: 8 } // ff00::/8 multicast
]

/**
 * True when a connection to `ip` could reach the operator's own network: any address in a
 * blocked range, any IPv6 form that embeds or maps to a blocked IPv4 address, an address
 * with a zone id, and anything that is not an IP address at all (fail closed).
 */
export function isForbiddenAddress (ip: string): boolean {
  const family = isIP(ip)
  if (family === 4) return BLOCKED_V4.check(ip, 'ipv4')
  if (family !== 6) return true
  const bytes = parseIPv6(ip)
  if (bytes === undefined) return true
  for (const rule of V6_RULES) {
    if (!matches(bytes, rule.prefix, rule.bits)) continue
    if (rule.v4 === undefined) return true
    const at = rule.v4
    return BLOCKED_V4.check(`${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`, 'ipv4')
  }
  return false
}

/** The IPv4 address an IPv6 address embeds by one of the rules above, if any (for messages and tests). */
export function embeddedIPv4 (ip: string): string | undefined {
  const bytes = isIP(ip) === 6 ? parseIPv6(ip) : undefined
  if (bytes === undefined) return undefined
  for (const rule of V6_RULES) {
    if (!matches(bytes, rule.prefix, rule.bits)) continue
    if (rule.v4 === undefined) return undefined
    return bytes.slice(rule.v4, rule.v4 + 4).join('.')
  }
  return undefined
}

function matches (bytes: Uint8Array, prefix: number[], bits: number): boolean {
  const whole = bits >> 3
  for (let i = 0; i < whole; i++) if (bytes[i] !== prefix[i]) return false
  const rest = bits & 7
  if (rest === 0) return true
  const mask = (0xff << (8 - rest)) & 0xff
  return (bytes[whole] & mask) === (prefix[whole] & mask)
}

/**
 * The 16 bytes of a textual IPv6 address that `isIP` already accepted (hex groups, one
 * `::`, an optional dotted-quad tail); undefined for a zone id (`%eth0`) or anything odd.
 */
export function parseIPv6 (text: string): Uint8Array | undefined {
  if (text.includes('%')) return undefined
  let s = text.toLowerCase()
  const lastColon = s.lastIndexOf(':')
  if (s.indexOf('.', lastColon) !== -1) {
    // a dotted-quad tail is two more hex groups
    const quad = s.slice(lastColon + 1)
    if (isIP(quad) !== 4) return undefined
    const [a, b, c, d] = quad.split('.').map(Number)
    s = `${s.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const halves = s.split('::')
  if (halves.length > 2) return undefined
  const groups = (part: string): number[] | undefined => {
    if (part === '') return []
    const out: number[] = []
    for (const g of part.split(':')) {
      if (!/^[0-9a-f]{1,4}$/.test(g)) return undefined
      out.push(parseInt(g, 16))
    }
    return out
  }
  const head = groups(halves[0])
  const back = halves.length === 2 ? groups(halves[1]) : []
  if (head === undefined || back === undefined) return undefined
  const given = head.length + back.length
  if (halves.length === 2 ? given > 7 : given !== 8) return undefined
  const all = [...head, ...new Array<number>(8 - given).fill(0), ...back]
  const out = new Uint8Array(16)
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >> 8
    out[2 * i + 1] = all[i] & 0xff
  }
  return out
}

/** The delivery is refused: the host resolves to an address no webhook may reach (CT_ERR_WEBHOOK_ADDRESS). */
export function forbiddenAddress (host: string, address: string): ClicktrailError {
  return new ClicktrailError('CT_ERR_WEBHOOK_ADDRESS', `${host} resolves to ${address}, a loopback, private, link-local, metadata or otherwise non-public address`)
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void

/**
 * A `lookup` for http.request that refuses forbidden addresses. The check runs on the
 * addresses the connection will actually use — at delivery time, every time — so a name
 * that resolved to a public address when the webhook was saved cannot be rebound to an
 * internal one later (DNS rebinding).
 */
export function guardedLookup (allowPrivate: boolean) {
  return (hostname: string, options: { all?: boolean, family?: number }, callback: LookupCallback): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err !== null) { callback(err, ''); return }
      const list = addresses
      if (!allowPrivate) {
        const bad = list.find(a => isForbiddenAddress(a.address))
        if (bad !== undefined) { callback(Object.assign(forbiddenAddress(hostname, bad.address), { errno: 0 }) as never, ''); return }
      }
      if (options.all === true) callback(null, list)
      else callback(null, list[0].address, list[0].family)
    })
  }
}
