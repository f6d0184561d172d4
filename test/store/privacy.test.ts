import t from 'tap'
import { randomUUID } from 'node:crypto'
import { startTestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { CHROME_NAVIGATION as CHROME, request } from '../helpers/http.js'
import { until } from '../helpers/wait.js'
import { mintToken } from '../../src/token/codec.js'
import { keptAddress, privacyMutations, truncatedSql } from '../../src/store/privacy.js'

// The project setting ip_addresses (full | truncated | none), end to end: clicks through the
// real redirect server from an IPv4 and an IPv6 address (behind a trusted proxy on loopback),
// promoted into the embedded ClickHouse; within the horizon every address is whole (what
// classification needs), after it each project keeps what its setting allows, in `clicks` and
// in `click_observations`, and the Team API's export shows the same.

const V4 = '198.51.100.77'
const V6 = '2001:db8:abcd:12::1'
const AFTER_MS = 3_600_000

interface Row { sid: string, ip: string, peer_ip?: string }

t.test('ip_addresses: full, truncated, none — whole within the horizon, then as the setting allows', async t => {
  const e = await startTestEngine(t, { 'trusted-proxy': ['127.0.0.1'], 'promotion-window-ms': '200', 'batch-max-ms': '50', 'address-privacy-after-ms': String(AFTER_MS), 'late-evidence-horizon-ms': String(AFTER_MS) })
  const { token } = e.team!
  const modes = { pfull: 'full', ptrunc: 'truncated', pnone: 'none' } as const
  for (const [sid, mode] of Object.entries(modes)) {
    const p = await api(e.api.port, 'POST', '/v1/projects', token, { name: sid, sid, ip_addresses: mode })
    t.equal(p.status, 201, sid)
    t.equal(p.body.ip_addresses, mode)
  }
  const dflt = await api(e.api.port, 'POST', '/v1/projects', token, { name: 'default', sid: 'pdefault' })
  t.equal(dflt.body.ip_addresses, 'truncated', 'the default: truncated (after the horizon)')
  const bad = await api(e.api.port, 'PATCH', `/v1/projects/${dflt.body.project_id as string}`, token, { ip_addresses: 'hashed' })
  t.equal(bad.status, 400, 'an unknown value is refused')
  const sids = [...Object.keys(modes), 'pdefault']
  await until('the projects reach the plane', () => sids.every(s => e.plane.projectBySid(s) !== undefined))

  const sentAt = Math.floor(Date.now() / 1000) - 3600
  for (const sid of sids) {
    for (const ip of [V4, V6]) {
      const tok = mintToken(e.keys, { sid, messageId: randomUUID(), linkIndex: 0, sentAt, url: 'https://example.com/' })
      await until(`${sid} redirects`, async () => (await request(e.port, { path: `/c/${tok}`, host: `p${sid}.t.localhost:8080`, headers: { ...CHROME, 'x-forwarded-for': ip } })).status === 302)
    }
  }
  const clicks = async (): Promise<Row[]> => await (await e.store.reader.query({ query: 'SELECT sid, ip FROM clicks ORDER BY sid, ip', format: 'JSONEachRow' })).json()
  const observations = async (): Promise<Row[]> => await (await e.store.reader.query({ query: 'SELECT DISTINCT sid, ip, peer_ip FROM click_observations ORDER BY sid, ip', format: 'JSONEachRow' })).json()
  await until('every click promoted', async () => (await clicks()).length >= sids.length * 2)
  const ipsOf = (rows: Row[], sid: string): string[] => [...new Set(rows.filter(r => r.sid === sid).map(r => r.ip))].sort()

  // Within the horizon: a pass changes nothing, every address is whole.
  await e.privacy.runOnce()
  for (const sid of sids) t.same(ipsOf(await clicks(), sid), [V4, V6].sort(), `${sid}: whole within the horizon`)

  // …but what leaves the engine through the Team API already holds only what the setting allows.
  const exported = async (sid: string, csv = false): Promise<{ ips: string[], raw: string }> => {
    const pid = e.plane.projectBySid(sid)!.project_id
    const r = await api(e.api.port, 'GET', `/v1/projects/${pid}/clicks?include_machine_events=true${csv ? '&format=csv' : ''}`, token)
    t.equal(r.status, 200)
    return { ips: csv ? [] : [...new Set((r.body.data as Array<{ ip: string }>).map(x => x.ip))].sort(), raw: r.raw }
  }
  t.same((await exported('ptrunc')).ips, ['198.51.100.0', '2001:db8:abcd::'].sort(), 'export within the horizon, truncated')
  t.same((await exported('pnone')).ips, [''], 'export within the horizon, none')
  t.same((await exported('pfull')).ips, [V4, V6].sort(), 'export, full')
  const csvTrunc = (await exported('ptrunc', true)).raw
  t.ok(csvTrunc.includes(',198.51.100.0,') && csvTrunc.includes(',2001:db8:abcd::,'), 'CSV export within the horizon, truncated')
  t.notOk(csvTrunc.includes(V4) || csvTrunc.includes(V6), 'no whole address in it')
  const csvNone = (await exported('pnone', true)).raw
  t.notOk(csvNone.includes('198.51.100') || csvNone.includes('2001:db8'), 'CSV export within the horizon, none: no address at all')
  t.ok((await exported('pfull', true)).raw.includes(`,${V4},`), 'CSV export, full')

  // Past the horizon.
  const ran = await e.privacy.runOnce(Date.now() + AFTER_MS + 60_000)
  t.ok(ran > 0, `${ran} mutations`)
  const c = await clicks()
  const o = await observations()
  t.same(ipsOf(c, 'pfull'), [V4, V6].sort(), 'full: kept as captured')
  t.same(ipsOf(c, 'ptrunc'), ['198.51.100.0', '2001:db8:abcd::'].sort(), 'truncated: the /24 and the /48')
  t.same(ipsOf(c, 'pdefault'), ['198.51.100.0', '2001:db8:abcd::'].sort(), 'the default truncates')
  t.same(ipsOf(c, 'pnone'), [''], 'none: nothing')
  t.same(ipsOf(o, 'pfull'), [V4, V6].sort(), 'observations, full')
  t.same(ipsOf(o, 'ptrunc'), ['198.51.100.0', '2001:db8:abcd::'].sort(), 'observations, truncated')
  t.same(ipsOf(o, 'pnone'), [''], 'observations, none')
  t.same([...new Set(o.filter(r => r.sid === 'ptrunc').map(r => r.peer_ip))], ['127.0.0.0'], 'the TCP peer as well')
  t.same([...new Set(o.filter(r => r.sid === 'pnone').map(r => r.peer_ip))], [''])
  t.same([...new Set(o.filter(r => r.sid === 'pfull').map(r => r.peer_ip))], ['127.0.0.1'])
  t.equal(c.length, sids.length * 2, 'no click lost or doubled by the rewrite')

  // What the Team API's export shows: read from `clicks`, so the same.
  for (const [sid, want] of [['ptrunc', ['198.51.100.0', '2001:db8:abcd::']], ['pnone', ['']], ['pfull', [V4, V6]]] as const) {
    const pid = e.plane.projectBySid(sid)!.project_id
    const exported = await api(e.api.port, 'GET', `/v1/projects/${pid}/clicks?include_machine_events=true`, token)
    t.equal(exported.status, 200)
    t.same([...new Set((exported.body.data as Array<{ ip: string }>).map(r => r.ip))].sort(), [...want].sort(), `${sid}: the export`)
  }

  // Idempotent: a second pass finds nothing more to change.
  const before = await clicks()
  await e.privacy.runOnce(Date.now() + AFTER_MS + 120_000)
  t.same(await clicks(), before, 'a second pass changes nothing')
  t.ok(e.privacy.passes >= 3)
})

t.test('keptAddress writes what the SQL of the pass writes', async t => {
  const e = await startTestEngine(t)
  const ips = ['198.51.100.77', '10.1.2.3', '2001:db8:abcd:12::1', '2001:db8::1', '::1', '2001:0:abcd:1:2:3:4:5', '1:2:3:4:5:6:7:8', 'fe80::1', '::ffff:1.2.3.4', '::ffff:c633:644d', 'junk', '', '198.51.100.0', '2001:db8:abcd::']
  const [row] = await (await e.store.reader.query({ query: `SELECT arrayMap(ip -> ${truncatedSql('ip')}, {ips:Array(String)}) AS out`, query_params: { ips }, format: 'JSONEachRow' })).json<{ out: string[] }>()
  t.same(ips.map(ip => keptAddress(ip, 'truncated')), row.out, 'the same text for every address')
  t.same(ips.map(ip => keptAddress(ip, 'none')), ips.map(() => ''))
  t.same(ips.map(ip => keptAddress(ip, 'full')), ips)
})

t.test('the mutations: only non-full projects, only rows past the horizon still holding more than allowed', async t => {
  const m = privacyMutations({ truncated: ['a1', "x'; DROP"], none: [] }, 1_800_000_000_000, 1_799_000_000_000)
  t.equal(m.length, 2, 'clicks and click_observations, for truncated only')
  t.match(m[0], /^ALTER TABLE clicks UPDATE ip = multiIf\(/)
  t.match(m[0], /WHERE sid IN \('a1'\) AND ts < fromUnixTimestamp64Milli\(toInt64\(1800000000000\)\) AND ts >= fromUnixTimestamp64Milli\(toInt64\(1799000000000\)\) AND \(ip != /)
  t.notMatch(m.join(' '), /DROP/, 'a sid that is not a sid is never inlined')
  t.match(m[1], /^ALTER TABLE click_observations UPDATE ip = .*, peer_ip = /)
  t.same(privacyMutations({ truncated: [], none: [] }, 1, undefined), [], 'nothing to do when every project keeps full addresses')
  t.match(privacyMutations({ truncated: [], none: ['b2'] }, 1, undefined, 'prod')[0], /^ALTER TABLE clicks_local ON CLUSTER 'prod' UPDATE ip = ''/)
})
