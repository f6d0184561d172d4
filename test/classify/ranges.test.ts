import t from 'tap'
import { isSharedAddress, lookupNetwork, NETWORK_TABLE, parseIPv4, parseIPv6, RangeTable } from '../../src/classify/ranges.js'

const words = (s: string): number[] | null => {
  const out = new Uint32Array(4)
  return parseIPv6(s, out) ? [...out] : null
}

t.test('IPv4 parsing', async t => {
  t.equal(parseIPv4('0.0.0.0'), 0)
  t.equal(parseIPv4('255.255.255.255'), 0xffffffff)
  t.equal(parseIPv4('40.107.218.12'), ((40 * 256 + 107) * 256 + 218) * 256 + 12)
  for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '1..2.3', '1.2.3.', '01.2.3.4', 'a.b.c.d', '1.2.3.4 ', ' 1.2.3.4']) {
    t.equal(parseIPv4(bad), -1, `refuses ${JSON.stringify(bad)}`)
  }
})

t.test('IPv6 parsing', async t => {
  t.same(words('::'), [0, 0, 0, 0])
  t.same(words('::1'), [0, 0, 0, 1])
  t.same(words('2a01:111:f400::'), [0x2a010111, 0xf4000000, 0, 0])
  t.same(words('2A01:111:F403:0:0:0:0:1'), [0x2a010111, 0xf4030000, 0, 1], 'upper case, no compression')
  t.same(words('1::'), [0x00010000, 0, 0, 0])
  t.same(words('fe80::1%eth0'), [0xfe800000, 0, 0, 1], 'zone id ignored')
  t.same(words('[2001:db8::1]'), [0x20010db8, 0, 0, 1], 'brackets')
  t.same(words('::ffff:40.107.1.2'), [0, 0, 0xffff, ((40 * 256 + 107) * 256 + 1) * 256 + 2], 'embedded dotted quad')
  t.same(words('64:ff9b::192.0.2.33'), [0x0064ff9b, 0, 0, 0xc0000221])
  for (const bad of ['', ':', ':1', '1:', '1:::2', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'g::1', '::1.2.3', '1:2:3:4:5:6:7:1.2.3.4']) {
    t.equal(words(bad), null, `refuses ${JSON.stringify(bad)}`)
  }
})

t.test('prefix edges, IPv4 and IPv6', async t => {
  const table = new RangeTable([
    { ranges: '10.0.0.0/8 192.168.1.0-192.168.1.127', value: 'a' },
    { ranges: '11.0.0.0/32', value: 'b' },
    { ranges: '2001:db8::/32 2001:db9:1::-2001:db9:1::ff', value: 'c' },
    { ranges: '::/128', value: 'zero' }
  ])
  t.equal(table.size, 6)
  t.equal(table.lookup('9.255.255.255'), undefined, 'just below a /8')
  t.equal(table.lookup('10.0.0.0'), 'a', 'first address of a /8')
  t.equal(table.lookup('10.255.255.255'), 'a', 'last address of a /8')
  t.equal(table.lookup('11.0.0.0'), 'b', 'a /32 right after')
  t.equal(table.lookup('11.0.0.1'), undefined)
  t.equal(table.lookup('192.168.1.127'), 'a', 'end of an a-b span')
  t.equal(table.lookup('192.168.1.128'), undefined, 'one past it')
  t.equal(table.lookup('2001:db7:ffff:ffff:ffff:ffff:ffff:ffff'), undefined, 'just below a /32')
  t.equal(table.lookup('2001:db8::'), 'c')
  t.equal(table.lookup('2001:db8:ffff:ffff:ffff:ffff:ffff:ffff'), 'c', 'last of a /32')
  t.equal(table.lookup('2001:db9::'), undefined)
  t.equal(table.lookup('2001:db9:1::ff'), 'c')
  t.equal(table.lookup('2001:db9:1::100'), undefined)
  t.equal(table.lookup('::'), 'zero')
  t.equal(table.lookup('::ffff:10.2.3.4'), 'a', 'IPv4-mapped IPv6 is looked up as IPv4')
  t.equal(table.lookup('::ffff:a02:304'), 'a', 'mapped, hex form')
  t.equal(table.lookup('not an address'), undefined)
  t.equal(table.lookup(''), undefined)
  t.equal(table.lookup('10.0.0.1:443'), undefined, 'host:port is not an address')
})

t.test('the table refuses overlaps and malformed ranges', async t => {
  t.throws(() => new RangeTable([{ ranges: '10.0.0.0/8', value: 1 }, { ranges: '10.1.0.0/16', value: 2 }]), /overlapping IPv4/)
  t.throws(() => new RangeTable([{ ranges: '2001:db8::/32 2001:db8:1::/48', value: 1 }]), /overlapping IPv6/)
  t.throws(() => new RangeTable([{ ranges: '10.0.0.1/8', value: 1 }]), /host bits/)
  t.throws(() => new RangeTable([{ ranges: '2001:db8::1/32', value: 1 }]), /host bits/)
  t.throws(() => new RangeTable([{ ranges: '10.0.0.0/33', value: 1 }]), /prefix length/)
  t.throws(() => new RangeTable([{ ranges: '10.0.0.9-10.0.0.1', value: 1 }]), /start after end/)
  t.throws(() => new RangeTable([{ ranges: 'example.com', value: 1 }]), /bad address range/)
})

t.test('signals.ts networks: Microsoft EOP, vendors, relay', async t => {
  t.ok(NETWORK_TABLE.size > 100, `${NETWORK_TABLE.size} spans loaded`)
  const id = (ip: string): string | undefined => lookupNetwork(ip)?.id
  // EOP: 40.92.0.0/15, 40.107.0.0/16, 52.100.0.0/14, 104.47.0.0/17, 2a01:111:f400::/48, 2a01:111:f403::/48
  t.equal(id('40.91.255.255'), undefined)
  t.equal(id('40.92.0.0'), 'microsoft_eop')
  t.equal(id('40.93.255.255'), 'microsoft_eop')
  t.equal(id('40.94.0.0'), undefined)
  t.equal(id('40.107.218.12'), 'microsoft_eop', 'the Safe Links address of gophish issue 973')
  t.equal(id('52.103.255.255'), 'microsoft_eop')
  t.equal(id('52.104.0.0'), undefined)
  t.equal(id('104.47.127.255'), 'microsoft_eop')
  t.equal(id('104.47.128.0'), undefined, 'a /17 ends at .127.255')
  t.equal(id('2a01:111:f400:7e8b::15'), 'microsoft_eop')
  t.equal(id('2a01:111:f401::1'), undefined)
  t.equal(id('2a01:111:f403:ffff:ffff:ffff:ffff:ffff'), 'microsoft_eop')
  t.equal(id('::ffff:40.107.1.1'), 'microsoft_eop')
  t.equal(id('148.163.150.1'), 'proofpoint')
  t.equal(id('2620:100:9005::1'), 'proofpoint')
  t.equal(id('205.139.110.7'), 'mimecast')
  t.equal(id('2a02:5be0:5::1'), 'mimecast')
  t.equal(id('2a02:5be0:6::1'), undefined)
  t.equal(id('216.71.150.9'), 'cisco')
  t.equal(id('2620:101:2003:ffff::1'), 'cisco')
  t.equal(id('172.224.226.5'), 'icloud_private_relay')
  t.equal(id('2a02:26f7:b0df::1'), 'icloud_private_relay')
  t.equal(id('203.0.113.7'), undefined, 'documentation range: nobody')
  t.equal(id('2001:db8::7'), undefined)
})

t.test('shared addresses: private, loopback, CGNAT, link-local, ULA and relay egress; public ones are not', async t => {
  for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.9', '172.31.255.255', '192.168.1.1', '100.64.0.1', '100.127.255.254', '169.254.169.254', '::1', '::ffff:10.0.0.1', 'fd12:3456::1', 'fe80::1', '172.224.7.1']) {
    t.ok(isSharedAddress(ip), ip)
  }
  for (const ip of ['8.8.8.8', '100.128.0.1', '172.32.0.1', '198.51.100.77', '2001:db8::1', '40.92.0.1', '', 'nonsense']) {
    t.notOk(isSharedAddress(ip), ip)
  }
})
