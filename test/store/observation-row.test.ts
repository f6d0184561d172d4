import t from 'tap'
import { randomUUID } from 'node:crypto'
import { fromRow, OBSERVATION_COLUMNS, toRow } from '../../src/store/observations.js'
import { newObservation } from '../../src/records.js'

// The spool keeps observations as prepared rows (toRow) across upgrades: a row written by a
// version before the late fields (blocked; scheme, x_native_host and honeypot, issue 16) must replay.

function sample (): ReturnType<typeof newObservation> {
  return Object.assign(newObservation(), {
    ts: 1_780_000_000_000,
    id: randomUUID(),
    sid: 'acme',
    messageId: randomUUID(),
    linkIndex: 2,
    sentAt: 1_779_999_000,
    url: 'https://example.com/',
    kid: 1,
    retentionDays: 400,
    method: 'GET' as const,
    host: 'pacme.t.example.com',
    ip: '203.0.113.9',
    peerIp: '127.0.0.1',
    userAgent: 'UA',
    blocked: true,
    scheme: 'http',
    xNativeHost: 'OneOutlook/1.2026.508.400',
    honeypot: true
  })
}

t.test('a row round-trips with the scheme, x-native-host and honeypot', async t => {
  const o = sample()
  const back = fromRow(toRow(o, 'node-1'))
  t.same({ ...back }, { ...o })
  t.equal(OBSERVATION_COLUMNS.at(-3), 'scheme')
  t.equal(OBSERVATION_COLUMNS.at(-2), 'x_native_host')
  t.equal(OBSERVATION_COLUMNS.at(-1), 'honeypot')
})

t.test('rows of older versions replay with the fields they lack at their initial values', async t => {
  const o = sample()
  const full = JSON.parse(toRow(o, 'node-1')) as unknown[]
  const beforeHoneypot = fromRow(JSON.stringify(full.slice(0, -1)))
  t.equal(beforeHoneypot.xNativeHost, 'OneOutlook/1.2026.508.400', 'x-native-host was there')
  t.equal(beforeHoneypot.honeypot, false, 'a row from before the honeypot column: not a honeypot')
  const beforeScheme = fromRow(JSON.stringify(full.slice(0, -3)))
  t.equal(beforeScheme.blocked, true, 'blocked was there')
  t.same([beforeScheme.scheme, beforeScheme.xNativeHost], ['', ''], 'scheme and x-native-host unknown')
  t.equal(beforeScheme.userAgent, 'UA')
  const beforeBlocked = fromRow(JSON.stringify(full.slice(0, -4)))
  t.same([beforeBlocked.blocked, beforeBlocked.scheme, beforeBlocked.xNativeHost, beforeBlocked.honeypot], [false, '', '', false])
  t.throws(() => fromRow(JSON.stringify(full.slice(0, -5))), TypeError, 'shorter than any version wrote')
  t.throws(() => fromRow(JSON.stringify([...full, 'extra'])), TypeError, 'longer than this version writes')
})
