import t from 'tap'
import { buildBlockList, forwardedClient } from '../../src/redirect/server.js'

// X-Forwarded-For as proxies write it: each appends the address it got the request from,
// so everything left of our own proxies' entries was written by the client.
t.test('the rightmost address that is not a trusted proxy is the client', async t => {
  const trusted = buildBlockList(['127.0.0.1', '10.0.0.0/8', 'fd00::/8'])!
  const cases: Array<[string, string, string, string]> = [
    ['one hop', '127.0.0.1', '203.0.113.9', '203.0.113.9'],
    ['the client prepends a forged hop; our proxy appends the real one', '127.0.0.1', '6.6.6.6, 203.0.113.9', '203.0.113.9'],
    ['two trusted proxies', '127.0.0.1', '6.6.6.6, 203.0.113.9, 10.0.0.2', '203.0.113.9'],
    ['a forged trusted address left of the client is not reached', '127.0.0.1', '10.9.9.9, 203.0.113.9, 10.0.0.2', '203.0.113.9'],
    ['every hop trusted: the leftmost', '127.0.0.1', '10.0.0.3, 10.0.0.2', '10.0.0.3'],
    ['junk stops the walk: the last trusted hop', '127.0.0.1', '203.0.113.9, junk, 10.0.0.2', '10.0.0.2'],
    ['junk right at the peer: the peer', '127.0.0.1', 'not-an-ip', '127.0.0.1'],
    ['"unknown" is junk', '127.0.0.1', '203.0.113.9, unknown', '127.0.0.1'],
    ['an empty item is junk', '127.0.0.1', '203.0.113.9, , 10.0.0.2', '10.0.0.2'],
    ['a trailing comma is junk', '127.0.0.1', '203.0.113.9,', '127.0.0.1'],
    ['a leading comma is left of the client', '127.0.0.1', ',203.0.113.9', '203.0.113.9'],
    ['an empty header: the peer', '127.0.0.1', '', '127.0.0.1'],
    ['no spaces', '127.0.0.1', '6.6.6.6,203.0.113.9,10.0.0.2', '203.0.113.9'],
    ['IPv4-mapped IPv6 is IPv4', '127.0.0.1', '::ffff:203.0.113.9', '203.0.113.9'],
    ['IPv6 hops', '127.0.0.1', '2001:db8::1, fd00::5', '2001:db8::1'],
    ['an address with a port is junk', '127.0.0.1', '203.0.113.9:5555', '127.0.0.1'],
    ['an untrusted peer is the client whatever the header says', '198.51.100.7', '203.0.113.9', '198.51.100.7'],
    ['a trusted IPv6 peer', 'fd00::1', '203.0.113.9', '203.0.113.9']
  ]
  for (const [name, peer, xff, client] of cases) t.equal(forwardedClient(trusted, peer, xff), client, name)
})

t.test('a long list costs one pass and never more than its length', async t => {
  const trusted = buildBlockList(['10.0.0.0/8'])!
  const xff = Array.from({ length: 2000 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`).join(', ')
  t.equal(forwardedClient(trusted, '10.0.0.1', `203.0.113.9, ${xff}`), '203.0.113.9')
  t.equal(forwardedClient(trusted, '10.0.0.1', xff), '10.0.0.0', 'all trusted: the leftmost')
})
