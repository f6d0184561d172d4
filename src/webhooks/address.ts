import { BlockList, isIP } from 'node:net'
import { lookup as dnsLookup, type LookupAddress } from 'node:dns'

// Where a webhook must never be delivered unless the operator allows it: loopback,
// private (RFC 1918, ULA), link-local (incl. the 169.254.169.254 cloud metadata service),
// CGNAT, unspecified, multicast, and their IPv4-mapped IPv6 forms.
const BLOCKED = new BlockList()
for (const [net, bits] of [['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12], ['192.0.0.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['224.0.0.0', 4], ['240.0.0.0', 4]] as const) BLOCKED.addSubnet(net, bits, 'ipv4')
for (const [net, bits] of [['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['fd00:ec2::', 32]] as const) BLOCKED.addSubnet(net, bits, 'ipv6')

export function isForbiddenAddress (ip: string): boolean {
  let addr = ip
  if (addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4) addr = addr.slice(7)
  const family = isIP(addr)
  if (family === 0) return true
  return BLOCKED.check(addr, family === 4 ? 'ipv4' : 'ipv6')
}

export class ForbiddenAddressError extends Error {
  readonly code = 'CT_ERR_WEBHOOK_ADDRESS'
  constructor (host: string, address: string) {
    super(`${host} resolves to ${address}, a loopback, private, link-local or metadata address`)
  }
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
        if (bad !== undefined) { callback(Object.assign(new ForbiddenAddressError(hostname, bad.address), { errno: 0 }) as never, ''); return }
      }
      if (options.all === true) callback(null, list)
      else callback(null, list[0].address, list[0].family)
    })
  }
}
