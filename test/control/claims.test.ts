import t from 'tap'
import { claimBefore, claimWinner, ControlPlane } from '../../src/control/plane.js'
import { DomainService } from '../../src/control/domains.js'
import type { DomainClaim } from '../../src/control/model.js'
import { loadConfig } from '../../src/config.js'
import { silentLogger } from '../../src/log.js'

// The pure parts of the claim rule and of verification scheduling; the engine tests
// (test/api/domains.test.ts) run them against the real store, DNS server and API.

t.test('the claim rule is a total order: every node picks the same winner from the same rows, in any order', async t => {
  const claims = [
    { project_id: 'b', claim_seq: 5 }, { project_id: 'a', claim_seq: 7 }, { project_id: 'c', claim_seq: 5 }, { project_id: 'a2', claim_seq: 9 }
  ]
  const orders = [claims, [...claims].reverse(), [claims[2], claims[0], claims[3], claims[1]]]
  for (const o of orders) t.equal(claimWinner(o)?.project_id, 'b', 'smallest claim_seq, then smallest project_id')
  t.ok(claimBefore({ project_id: 'b', claim_seq: 5 }, { project_id: 'c', claim_seq: 5 }))
  t.notOk(claimBefore({ project_id: 'b', claim_seq: 5 }, { project_id: 'b', claim_seq: 5 }), 'irreflexive')
  t.equal(claimWinner(claims, c => c.project_id !== 'b')?.project_id, 'c', 'claims that are not live are skipped')
  t.equal(claimWinner([]), undefined)
})

t.test('exclusive: one call at a time per key, others run alongside; a throw does not jam the key', async t => {
  const plane = new ControlPlane(null as never, silentLogger)
  const log: string[] = []
  const step = (key: string, name: string, ms: number) => plane.exclusive(key, async () => {
    log.push(`${name}+`)
    await new Promise(resolve => setTimeout(resolve, ms))
    log.push(`${name}-`)
    if (name === 'a2') throw new Error('boom')
    return name
  })
  const results = await Promise.allSettled([step('k', 'a1', 30), step('k', 'a2', 10), step('k', 'a3', 5), step('other', 'b', 5)])
  t.same(results.map(r => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled'])
  const a = log.filter(x => x.startsWith('a'))
  t.same(a, ['a1+', 'a1-', 'a2+', 'a2-', 'a3+', 'a3-'], 'same key: strictly one after another, in arrival order')
  t.ok(log.indexOf('b-') < log.indexOf('a1-'), 'another key did not wait')
})

t.test('verification state: verified on a record, failed after the window, re-checks back off to an hour', async t => {
  const plane = new ControlPlane(null as never, silentLogger)
  const svc = new DomainService(plane, silentLogger, { trackingBaseUrl: 'https://t.example.com:8443', operatorDomains: ['track.a.example'], dnsServer: '127.0.0.1:9', recheckMs: 1000, verifyWindowMs: 10_000 })
  t.equal(plane.domainService, svc)
  for (const h of ['t.example.com', 'pabc.t.example.com', 'track.a.example', 'x.track.a.example']) t.ok(svc.reserved(h), `${h} is the operator's`)
  for (const h of ['example.com', 'xt.example.com', 'track.a.example.org', 'atrack.a.example']) t.notOk(svc.reserved(h), `${h} is not`)
  const d: DomainClaim = { hostname: 'links.shop.example', project_id: 'p', team_id: 't', status: 'pending_verification', verification_token: 'tok', verified_by: '', claim_seq: 1, created_at: 0, checked_at: 0, verified_at: 0, status_changed_at: 0 }
  t.equal(svc.cnameTarget({ sid: 'abc' } as never), 'pabc.t.example.com', 'no port in the CNAME target')
  t.match(svc.next(d, { cname: false, txt: true }, 500), { status: 'verified', verified_by: 'txt', verified_at: 500, checked_at: 500 })
  t.match(svc.next(d, { cname: true, txt: true }, 500), { verified_by: 'cname' })
  t.match(svc.next(d, { cname: false, txt: false }, 9_999), { status: 'pending_verification', checked_at: 9_999 })
  t.match(svc.next(d, { cname: false, txt: false }, 10_000), { status: 'failed_verification', status_changed_at: 10_000 })
  const verified = { ...d, status: 'verified' as const }
  t.equal(svc.next(verified, { cname: false, txt: false, error: 'ETIMEOUT' }, 99_999_999).status, 'verified', 'a verified domain is not demoted by a check')
  const failed = { ...d, status: 'failed_verification' as const }
  t.equal(svc.next(failed, { cname: true, txt: false }, 5).status, 'failed_verification', 'a failed claim changes only by claiming again')
  t.equal(svc.dueAt(d), 1000, 'first check: one interval after the claim')
  t.equal(svc.dueAt({ ...d, checked_at: 1000 }), 2000)
  t.equal(svc.dueAt({ ...d, checked_at: 8000 }), 16_000, 'then about as long as it has been pending')
  t.equal(svc.dueAt({ ...d, checked_at: 100 * 3600_000 }), 101 * 3600_000, 'at most an hour apart')
  t.same(svc.records(d, { sid: 'abc' } as never).map(r => [r.type, r.fqdn, r.content, r.status]), [
    ['CNAME', 'links.shop.example', 'pabc.t.example.com', 'pending'],
    ['TXT', '_clicktrail.links.shop.example', 'clicktrail-verify=tok', 'pending']
  ])
})

t.test('--dns-server: IP, IP:PORT or [IPv6]:PORT; default the system resolver', async t => {
  t.equal(loadConfig({}, {}).dnsServer, '')
  t.equal(loadConfig({ 'dns-server': '127.0.0.1:5353' }, {}).dnsServer, '127.0.0.1:5353')
  t.equal(loadConfig({}, { DNS_SERVER: '[::1]:53' }).dnsServer, '[::1]:53')
  t.equal(loadConfig({ 'dns-server': '10.0.0.1' }, {}).dnsServer, '10.0.0.1')
  for (const bad of ['dns.example.com', '127.0.0.1:0', '127.0.0.1:99999', '[::1]', '1.2.3:53']) {
    t.throws(() => loadConfig({ 'dns-server': bad }, {}), { code: 'CT_ERR_CONFIG' }, bad)
  }
  t.equal(loadConfig({}, {}).domainRecheckMs, 60_000)
  t.equal(loadConfig({}, {}).domainVerifyWindowMs, 72 * 3600_000)
})
