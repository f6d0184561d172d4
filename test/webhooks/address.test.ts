import t from 'tap'
import { BlockList } from 'node:net'
import { randomBytes } from 'node:crypto'
import { embeddedIPv4, isForbiddenAddress, parseIPv6 } from '../../src/webhooks/address.js'
import { startTestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'

// Every form an attacker can write a forbidden address in. The guard's verdict is what
// keeps webhook deliveries off the operator's network, so each form is listed.
const FORBIDDEN: Array<[string, string]> = [
  // IPv4
  ['127.0.0.1', 'loopback'], ['127.255.255.254', 'loopback'], ['10.1.2.3', 'RFC 1918'], ['172.16.0.1', 'RFC 1918'], ['192.168.1.1', 'RFC 1918'],
  ['169.254.169.254', 'metadata'], ['100.64.0.1', 'CGNAT'], ['0.0.0.0', 'this network'], ['192.0.0.8', 'IETF'], ['192.0.2.1', 'TEST-NET-1'],
  ['198.51.100.7', 'TEST-NET-2'], ['203.0.113.9', 'TEST-NET-3'], ['198.18.0.1', 'benchmarking'], ['192.88.99.1', '6to4 relay'],
  ['224.0.0.1', 'multicast'], ['240.0.0.1', 'reserved'], ['255.255.255.255', 'broadcast'],
  // plain IPv6
  ['::', 'unspecified'], ['::1', 'loopback'], ['0:0:0:0:0:0:0:1', 'loopback, long form'], ['fe80::1', 'link-local'], ['fe80::1%eth0', 'zone id'],
  ['fc00::1', 'ULA'], ['fd12:3456::1', 'ULA'], ['fd00:ec2::254', 'AWS metadata'], ['ff02::1', 'multicast'],
  ['fec0::1', 'site-local'], ['feff:ffff::1', 'site-local, top'], ['2001:db8::1', 'documentation'], ['3fff::1', 'documentation (RFC 9637)'],
  ['3fff:fff:ffff::1', 'documentation (RFC 9637), top'], ['100::1', 'discard'], ['100::ffff:ffff:ffff:ffff', 'discard, top'],
  // IPv4-mapped ::ffff:0:0/96, dotted and hex
  ['::ffff:127.0.0.1', 'mapped loopback'], ['::ffff:7f00:1', 'mapped loopback, hex (what URL normalizes to)'], ['::ffff:a9fe:a9fe', 'mapped metadata'],
  ['::ffff:10.0.0.1', 'mapped private'], ['0:0:0:0:0:ffff:c0a8:101', 'mapped private, long form'], ['::FFFF:7F00:1', 'mapped, upper case'],
  // IPv4-compatible ::/96 (deprecated: the whole range)
  ['::7f00:1', 'compatible loopback'], ['::127.0.0.1', 'compatible loopback, dotted'], ['::a9fe:a9fe', 'compatible metadata'], ['::8.8.8.8', 'compatible, public v4 (deprecated form)'],
  // IPv4-translated ::ffff:0:0:0/96
  ['::ffff:0:7f00:1', 'translated loopback'], ['::ffff:0:127.0.0.1', 'translated loopback, dotted'], ['::ffff:0:a00:1', 'translated private'],
  // NAT64 64:ff9b::/96 and local-use 64:ff9b:1::/48
  ['64:ff9b::7f00:1', 'NAT64 loopback'], ['64:ff9b::127.0.0.1', 'NAT64 loopback, dotted'], ['64:ff9b::a9fe:a9fe', 'NAT64 metadata'], ['64:ff9b::10.0.0.1', 'NAT64 private'],
  ['64:ff9b:1::1', 'local-use NAT64'], ['64:ff9b:1:abcd::8.8.8.8', 'local-use NAT64, any v4'],
  // 6to4 2002::/16
  ['2002:7f00:1::', '6to4 loopback'], ['2002:7f00:0001::1', '6to4 loopback, leading zeros'], ['2002:a9fe:a9fe::1', '6to4 metadata'], ['2002:c0a8:101:1::1', '6to4 private'],
  // Teredo 2001::/32 and the rest of 2001::/23
  ['2001::1', 'Teredo'], ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'Teredo (RFC 4380 example)'], ['2001:2::1', 'benchmarking'], ['2001:1ff::1', 'IETF protocol assignments'],
  // not an address: fail closed
  ['', 'empty'], ['example.com', 'a name'], ['1.2.3', 'short v4'], ['::ffff:1.2.3', 'short mapped'], ['1::2::3', 'two ::'], ['12345::1', 'long group']
]

const ALLOWED = [
  '8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '2001:4860:4860::8888', '2a00:1450:4001:80b::200e',
  '::ffff:8.8.8.8', '::ffff:808:808', '::ffff:0:8.8.8.8', '64:ff9b::8.8.8.8', '64:ff9b::808:808', '2002:808:808::1', '2001:200::1'
]

t.test('every forbidden form is refused, public addresses in the same forms are not', async t => {
  for (const [ip, what] of FORBIDDEN) t.equal(isForbiddenAddress(ip), true, `${ip} (${what}) refused`)
  for (const ip of ALLOWED) t.equal(isForbiddenAddress(ip), false, `${ip} allowed`)
})

t.test('the embedded IPv4 address is decoded from each embedding form', async t => {
  t.equal(embeddedIPv4('::ffff:7f00:1'), '127.0.0.1', 'mapped')
  t.equal(embeddedIPv4('::ffff:0:a00:1'), '10.0.0.1', 'translated')
  t.equal(embeddedIPv4('64:ff9b::a9fe:a9fe'), '169.254.169.254', 'NAT64')
  t.equal(embeddedIPv4('2002:7f00:1::'), '127.0.0.1', '6to4')
  t.equal(embeddedIPv4('2002:808:808:1:2:3:4:5'), '8.8.8.8', '6to4, public')
  t.equal(embeddedIPv4('2606:4700:4700::1111'), undefined, 'a plain global address embeds nothing')
  t.equal(embeddedIPv4('::7f00:1'), undefined, 'compatible: refused whole, not decoded')
})

t.test('parseIPv6 reads the same 16 bytes as node:net for random addresses in every spelling', async t => {
  const groups = (b: Uint8Array): string[] => Array.from({ length: 8 }, (_, i) => ((b[2 * i] << 8) | b[2 * i + 1]).toString(16))
  let checked = 0
  for (let n = 0; n < 2000; n++) {
    const bytes = randomBytes(16)
    // runs of zero groups, so that :: compression happens
    if (n % 3 === 0) bytes.fill(0, 2 * (n % 5), 2 * (n % 5) + 6)
    const full = groups(bytes).join(':')
    const compact = new URL(`http://[${full}]/`).hostname.slice(1, -1) // WHATWG's canonical form
    const dotted = `${groups(bytes).slice(0, 6).join(':')}:${bytes.subarray(12).join('.')}`
    for (const form of [full, compact, dotted]) {
      const mine = parseIPv6(form)
      if (mine === undefined) { t.fail(`${form} did not parse`); continue }
      const list = new BlockList()
      list.addAddress(full, 'ipv6')
      if (!list.check(groups(mine).join(':'), 'ipv6')) t.fail(`${form} parsed to ${groups(mine).join(':')}`)
      checked++
    }
  }
  t.equal(checked, 6000, 'every spelling parsed to the same address')
})

t.test('through the real API, with --webhook-allow-private off: every embedded form is refused at creation', async t => {
  const e = await startTestEngine(t, { 'webhook-allow-private': 'false' })
  const urls = [
    'http://[::ffff:7f00:1]:9/hook', 'http://[::ffff:127.0.0.1]/', 'http://[::7f00:1]/', 'http://[::a9fe:a9fe]/latest/meta-data', 'http://[::ffff:0:7f00:1]/',
    'http://[64:ff9b::7f00:1]/', 'http://[64:ff9b::a9fe:a9fe]/', 'http://[64:ff9b:1::a00:1]/', 'http://[2002:7f00:1::1]/', 'http://[2002:a9fe:a9fe::]/',
    'http://[2001::1]/', 'http://[fec0::1]/', 'http://[2001:db8::1]/', 'http://[3fff::1]/', 'http://[100::1]/', 'http://[fd00:ec2::254]/'
  ]
  for (const url of urls) {
    const r = await api(e.api.port, 'POST', `/v1/projects/${e.team!.project.project_id}/webhooks`, e.team!.token, { url })
    t.equal(r.status, 400, `${url} refused`)
    t.equal(r.body?.error?.code, 'CT_ERR_VALIDATION')
    t.match(r.body?.error?.message, /resolves to/)
  }
  // the guard is not a blanket IPv6 refusal: a global address literal is taken
  const ok = await api(e.api.port, 'POST', `/v1/projects/${e.team!.project.project_id}/webhooks`, e.team!.token, { url: 'http://[2606:4700:4700::1111]/hook', enabled: false })
  t.equal(ok.status, 201, 'a public IPv6 literal is accepted')
})
