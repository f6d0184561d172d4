import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { cpSync, mkdirSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { createClient, type ClickHouseClient } from '@clickhouse/client'
import { startTestEngine, tempDir, type TestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { request, SAFARI_IPHONE as BROWSER } from '../helpers/http.js'
import { Receiver } from '../helpers/receiver.js'
import { bootstrap, type Bootstrapped } from '../../src/control/projects.js'
import { ControlPlane } from '../../src/control/plane.js'
import { createProject } from '../../src/control/projects.js'
import { migrate, SQL_DIR } from '../../src/store/migrate.js'
import { silentLogger } from '../../src/log.js'
import { mintToken } from '../../src/token/codec.js'
import { TestDnsServer } from '../control/dns-server.js'

// Unique sids and hostnames, custom-domain verification and operator-reserved hostnames
// (issue 10, Rule 3), through the real engine: Team API, worker pool (rewriting), redirect
// server, promotion and webhooks on the real embedded ClickHouse, and a real DNS server on
// loopback that the engine asks through --dns-server. One engine for the file (chdb: one
// store per process); a second ControlPlane on the same store plays a second node.

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function until (what: () => Promise<boolean> | boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await what()) return true
    await sleep(25)
  }
  return false
}

function token (e: TestEngine, sid: string, url = 'https://example.com/x'): string {
  return mintToken(e.keys, { sid, messageId: randomUUID(), linkIndex: 0, sentAt: Math.floor(Date.now() / 1000), url })
}

t.test('unique keys and custom domains', async t => {
  const dns = new TestDnsServer()
  const dnsServer = await dns.start()
  t.teardown(async () => { await dns.stop() })
  const e = await startTestEngine(t, {
    'dns-server': dnsServer,
    domain: 'track.a.example=acme',
    'domain-recheck-ms': '50',
    'domain-verify-window-ms': '1500',
    'promotion-window-ms': '300',
    'batch-max-ms': '50'
  })
  const port = e.api.port
  const A = e.team!
  const B = await bootstrap(e.plane, { team: 'Team B', sid: 'bee' })
  const svc = e.plane.domainService!
  const rewrite = async (who: Bootstrapped, html: string, routeId = who.routes[0].route_id): Promise<any> => {
    // Sent an hour ago: a click seconds after sending is a scanner's, not a person's.
    const sentAt = new Date(Date.now() - 3600_000).toISOString()
    const r = await api(port, 'POST', '/v1/rewrite', who.token, { route_id: routeId, from: 'news@sender.example', to: ['alice@example.com'], subject: 'Race', html, sent_at: sentAt })
    if (r.status !== 200) throw new Error(r.raw)
    return r.body
  }
  const linkTo = async (who: Bootstrapped, url: string): Promise<{ tracked: boolean, reason?: string }> => (await rewrite(who, `<p><a href="${url}">go</a></p>`)).links[0]

  await t.test('the operator\'s hostnames cannot be claimed by a tenant', async t => {
    for (const hostname of ['track.a.example', 'Sub.Track.A.Example', 't.localhost', 'pbee.t.localhost', 'x.pacme.t.localhost']) {
      const r = await api(port, 'POST', `/v1/projects/${B.project.project_id}/domains`, B.token, { hostname })
      t.equal(r.status, 422, `${hostname} → 422`)
      t.equal(r.body.error.code, 'CT_ERR_DOMAIN_RESERVED')
    }
    t.equal(e.plane.domains(B.project.project_id).length, 0, 'nothing was stored')
    t.equal(svc.stats.reservedRefused, 5, 'counted')
    t.equal((await request(e.port, { path: `/c/${token(e, 'acme')}`, host: 'track.a.example' })).status, 302, 'A\'s tokens still redirect from the operator\'s --domain')
    t.equal((await request(e.port, { path: `/c/${token(e, 'bee')}`, host: 'track.a.example' })).status, 404, 'B\'s do not')
    const metrics = await request(e.admin.port, { path: '/metrics' })
    t.match(metrics.body, /clicktrail_domain_reserved_refused_total 5/)
  })

  await t.test('a pending domain neither routes nor makes links already tracked; once verified it does both, for its own project only', async t => {
    const added = await api(port, 'POST', `/v1/projects/${B.project.project_id}/domains`, B.token, { hostname: 'www.bigshop.example' })
    t.equal(added.status, 201)
    t.equal(added.body.status, 'pending_verification')
    t.equal(added.body.last_checked_at, null)
    t.equal((await request(e.port, { path: `/c/${token(e, 'bee')}`, host: 'www.bigshop.example' })).status, 404, 'pending: B\'s tokens do not redirect from it')
    t.same(await linkTo(A, 'https://www.bigshop.example/sale'), { index: 0, url: 'https://www.bigshop.example/sale', anchor_text: 'go', tracked: true }, 'A\'s links to the site are tracked')
    t.equal((await linkTo(B, 'https://www.bigshop.example/sale')).tracked, true, 'so are B\'s: not verified yet')

    const early = await api(port, 'POST', `/v1/projects/${B.project.project_id}/domains/www.bigshop.example/verify`, B.token)
    t.equal(early.status, 200)
    t.equal(early.body.status, 'pending_verification', 'no record yet: still pending')
    t.same(early.body.dns_records.map((r: { status: string }) => r.status), ['pending', 'pending'])
    t.notOk('dns_error' in early.body, 'an absent record is an answer, not a resolver failure')

    const txt = added.body.dns_records.find((r: { type: string }) => r.type === 'TXT')
    t.equal(txt.fqdn, '_clicktrail.www.bigshop.example')
    dns.set(txt.fqdn, { TXT: ['v=spf1 -all', txt.content] })
    const v = await api(port, 'POST', `/v1/projects/${B.project.project_id}/domains/www.bigshop.example/verify`, B.token)
    t.equal(v.status, 200)
    t.match(v.body, { status: 'verified', verified_by: 'txt', verified_at: /^\d{4}-/, last_checked_at: /^\d{4}-/ })
    t.same(v.body.dns_records.map((r: { type: string, status: string }) => `${r.type}:${r.status}`), ['CNAME:pending', 'TXT:active'])
    t.ok(dns.queries.includes('TXT _clicktrail.www.bigshop.example'), 'asked our DNS server')

    t.equal((await request(e.port, { path: `/c/${token(e, 'bee')}`, host: 'www.bigshop.example' })).status, 302, 'verified: B\'s tokens redirect from it')
    t.equal((await request(e.port, { path: `/c/${token(e, 'acme')}`, host: 'www.bigshop.example' })).status, 404, 'A\'s do not')
    t.match(await linkTo(B, 'https://www.bigshop.example/sale'), { tracked: false, reason: 'already_tracked' }, 'for B it is its own tracking host now')
    t.match(await linkTo(A, 'https://www.bigshop.example/sale'), { tracked: true }, 'another team\'s verified domain does not make A\'s links untracked')
    const dup = await api(port, 'POST', `/v1/projects/${A.project.project_id}/domains`, A.token, { hostname: 'www.bigshop.example' })
    t.equal(dup.status, 409)
    t.equal(dup.body.error.code, 'CT_ERR_DOMAIN_TAKEN')
    t.equal((await api(port, 'POST', `/v1/projects/${B.project.project_id}/domains`, B.token, { hostname: 'www.bigshop.example' })).status, 409, 'twice by the same project: 409 too')
  })

  await t.test('background re-checks verify a pending domain; resolver failures are answered and counted; past the window it fails and frees the hostname', async t => {
    const cnamed = await api(port, 'POST', `/v1/projects/${A.project.project_id}/domains`, A.token, { hostname: 'links.acme-shop.example' })
    t.equal(cnamed.status, 201)
    t.equal(cnamed.body.dns_records[0].content, 'pacme.t.localhost', 'the CNAME target is the project\'s tracking host, without the port')
    dns.set('links.acme-shop.example', { CNAME: 'pacme.t.localhost.' })
    const got = async (host: string, who = A): Promise<any> => (await api(port, 'GET', `/v1/projects/${who.project.project_id}/domains/${host}`, who.token)).body
    t.ok(await until(async () => (await got('links.acme-shop.example')).status === 'verified'), 'verified without a verify call')
    t.equal((await got('links.acme-shop.example')).verified_by, 'cname')
    t.equal((await request(e.port, { path: `/c/${token(e, 'acme')}`, host: 'links.acme-shop.example' })).status, 302)

    const errorsBefore = svc.stats.dnsErrors
    dns.mode = 'servfail'
    const slow = await api(port, 'POST', `/v1/projects/${A.project.project_id}/domains`, A.token, { hostname: 'slow.acme-shop.example' })
    t.equal(slow.status, 201)
    const failing = await api(port, 'POST', `/v1/projects/${A.project.project_id}/domains/slow.acme-shop.example/verify`, A.token)
    t.equal(failing.status, 200)
    t.equal(failing.body.status, 'pending_verification')
    t.equal(failing.body.dns_error, 'ESERVFAIL', 'the resolver failure is reported')
    t.ok(svc.stats.dnsErrors > errorsBefore, 'and counted')
    dns.mode = 'answer'

    const checksBefore = svc.stats.checks
    t.ok(await until(async () => (await got('slow.acme-shop.example')).status === 'failed_verification', 6000), 'still pending after the window: failed')
    t.ok(svc.stats.checks - checksBefore < 20, `re-checks back off (${svc.stats.checks - checksBefore} in ~1.5 s at a 50 ms base)`)
    const freed = await api(port, 'POST', `/v1/projects/${B.project.project_id}/domains`, B.token, { hostname: 'slow.acme-shop.example' })
    t.equal(freed.status, 201, 'a failed claim gives the hostname up')
    const retry = await api(port, 'POST', `/v1/projects/${A.project.project_id}/domains/slow.acme-shop.example/verify`, A.token)
    t.equal(retry.status, 409, 'A checking its failed claim again is claiming again: B holds it now')
    t.equal((await got('slow.acme-shop.example')).status, 'failed_verification', 'A\'s claim is still there, failed')
    t.equal(e.plane.domain('slow.acme-shop.example')?.project_id, B.project.project_id)
  })

  await t.test('ten concurrent creates of one sid from two teams: one 201, nine 409, and the click reaches only the winner\'s webhook', async t => {
    const rx = { [A.team.team_id]: new Receiver(), [B.team.team_id]: new Receiver() }
    for (const r of Object.values(rx)) await r.up()
    t.teardown(async () => { for (const r of Object.values(rx)) await r.down() })
    const teams = Array.from({ length: 10 }, (_, i) => i % 2 === 0 ? A : B)
    const answers = await Promise.all(teams.map(async who => ({ who, r: await api(port, 'POST', '/v1/projects', who.token, { name: 'race', sid: 'racesid1' }) })))
    const won = answers.filter(a => a.r.status === 201)
    t.equal(won.length, 1, 'exactly one 201')
    t.equal(answers.filter(a => a.r.status === 409 && a.r.body.error.code === 'CT_ERR_SID_TAKEN').length, 9, 'nine 409 CT_ERR_SID_TAKEN')
    t.equal(e.plane.projects().filter(p => p.sid === 'racesid1').length, 1, 'one project holds the sid')
    // Every team wires whatever it got: in the bug every create got a project, and the click
    // went to whichever was written last.
    const winner = won[0].who
    const loser = winner === A ? B : A
    const project = won[0].r.body
    const route = await api(port, 'POST', `/v1/projects/${project.project_id}/routes`, winner.token, { name: 'tx', type: 'transactional', track_clicks: true })
    t.equal((await api(port, 'POST', `/v1/projects/${project.project_id}/webhooks`, winner.token, { url: rx[winner.team.team_id].url })).status, 201)
    t.equal((await api(port, 'POST', `/v1/projects/${loser.project.project_id}/webhooks`, loser.token, { url: rx[loser.team.team_id].url })).status, 201)
    t.same((await api(port, 'GET', '/v1/projects', loser.token)).body.data.map((p: { sid: string }) => p.sid).filter((s: string) => s === 'racesid1'), [], 'the loser has no racesid1 project')

    const sent = await rewrite(winner, '<p><a href="https://example.com/race-prize">prize</a></p>', route.body.route_id)
    const href = /href="http:\/\/pracesid1\.t\.localhost:8080(\/c\/[A-Za-z0-9_-]+)"/.exec(sent.messages[0].html)
    t.ok(href, 'a tracked URL on pracesid1')
    const click = await request(e.port, { path: href![1], host: 'pracesid1.t.localhost', headers: BROWSER })
    t.equal(click.status, 302)
    t.equal(click.headers.location, 'https://example.com/race-prize')
    const [got] = await rx[winner.team.team_id].waitFor(1)
    t.ok(got, 'the winner\'s webhook got the click')
    t.match(JSON.parse(got.body), { event: 'message.clicked', data: { recipient: 'alice@example.com', subject: 'Race', destination_url: 'https://example.com/race-prize' } })
    await sleep(500)
    t.equal(rx[loser.team.team_id].received.length, 0, 'the other team\'s webhook got nothing')
  })

  await t.test('ten concurrent claims of one hostname from two teams: one winner', async t => {
    const who = Array.from({ length: 10 }, (_, i) => i % 2 === 0 ? A : B)
    const answers = await Promise.all(who.map(async w => ({ w, r: await api(port, 'POST', `/v1/projects/${w.project.project_id}/domains`, w.token, { hostname: 'race.shop.example' }) })))
    const won = answers.filter(a => a.r.status === 201)
    t.equal(won.length, 1, 'exactly one 201')
    t.equal(answers.filter(a => a.r.status === 409 && a.r.body.error.code === 'CT_ERR_DOMAIN_TAKEN').length, 9, 'nine 409 CT_ERR_DOMAIN_TAKEN')
    t.equal(e.plane.domain('race.shop.example')?.project_id, won[0].w.project.project_id, 'the snapshot agrees')
    const loser = won[0].w === A ? B : A
    t.equal((await api(port, 'GET', `/v1/projects/${loser.project.project_id}/domains/race.shop.example`, loser.token)).status, 404, 'the loser kept no claim')
  })

  await t.test('a second node on the same store: races between nodes end with one winner, the same on both', async t => {
    const { createChdbConnection } = await import('chdb/connection')
    const client = createClient({ connection: createChdbConnection({ path: `${e.dataDir}/clickhouse` }) as never })
    await client.command({ query: 'USE clicktrail' })
    const other = new ControlPlane(client, silentLogger, 100)
    await other.start()
    t.teardown(async () => { await other.stop(); await client.close() })
    for (let round = 0; round < 5; round++) {
      const sid = `xnode${round}`
      const results = await Promise.allSettled([
        createProject(e.plane, A.team.team_id, { name: 'n1', sid }),
        createProject(other, B.team.team_id, { name: 'n2', sid })
      ])
      const ok = results.filter(r => r.status === 'fulfilled')
      t.equal(ok.length, 1, `${sid}: one node's create succeeded`)
      const refused = results.find(r => r.status === 'rejected')
      t.equal((refused?.reason as { code?: string })?.code, 'CT_ERR_SID_TAKEN', `${sid}: the other was refused`)
      // Each node's snapshot picks the rows up within its refresh interval (100 ms here).
      const winnerId = (ok[0] as PromiseFulfilledResult<{ project_id: string }>).value.project_id
      t.ok(await until(() => e.plane.projectBySid(sid)?.project_id === winnerId), `${sid}: node 1 routes to the winner`)
      t.ok(await until(() => other.projectBySid(sid)?.project_id === winnerId), `${sid}: node 2 too`)
      t.equal(e.plane.projects().filter(p => p.sid === sid).length, 1, `${sid}: one project with it on node 1`)
    }
    // Two claims of one hostname, one per node, both left standing (no withdrawal): the rule
    // alone must pick the same winner everywhere.
    for (let round = 0; round < 3; round++) {
      const hostname = `xnode${round}.shop.example`
      const row = (p: Bootstrapped['project']) => ({ hostname, project_id: p.project_id, team_id: p.team_id, status: 'pending_verification' as const, verification_token: 'x', verified_by: '', created_at: Date.now(), checked_at: 0, verified_at: 0, status_changed_at: Date.now() })
      const [one, two] = await Promise.all([
        e.plane.exclusive(`domain:${hostname}`, async () => await e.plane.claim('domain_claims', row(A.project))),
        other.exclusive(`domain:${hostname}`, async () => await other.claim('domain_claims', row(B.project)))
      ])
      t.equal(Number(one.won) + Number(two.won), 1, `${hostname}: exactly one claimant believes it won`)
      const expected = one.won ? A.project.project_id : B.project.project_id
      t.ok(await until(() => e.plane.domain(hostname)?.project_id === expected), `${hostname}: node 1 agrees with the winner`)
      t.ok(await until(() => other.domain(hostname)?.project_id === expected), `${hostname}: node 2 too`)
      await sleep(300)
      t.equal(e.plane.domain(hostname)?.project_id, expected, `${hostname}: and stays so on node 1`)
      t.equal(other.domain(hostname)?.project_id, expected, `${hostname}: and on node 2`)
      t.not(one.row.claim_seq, 0, 'claim_seq stamped by ClickHouse')
    }
  })

  await t.test('migration 009: old tracking domains become verified claims; duplicate sids resolve to the earliest project', async t => {
    await migration009(t, e)
  })
})

async function migration009 (t: Test, e: TestEngine): Promise<void> {
  // A database of its own on the engine's store (chdb: one store per process), migrated up
  // to 008, filled the old way (a duplicated sid, as the race left it), then migrated to 009.
  const dir = tempDir(t)
  const before = join(dir, 'sql-before-009')
  mkdirSync(before)
  for (const f of readdirSync(SQL_DIR)) if (/^00[0-8]_.*\.sql$/.test(f)) cpSync(join(SQL_DIR, f), join(before, f))
  const { createChdbConnection } = await import('chdb/connection')
  const client: ClickHouseClient = createClient({ connection: createChdbConnection({ path: `${e.dataDir}/clickhouse` }) as never })
  t.teardown(async () => { await client.close() })
  await client.command({ query: 'CREATE DATABASE IF NOT EXISTS mig009' })
  await client.command({ query: 'USE mig009' })
  await migrate(client, before)
  const team = randomUUID()
  const early = randomUUID()
  const late = randomUUID()
  const insert = async (table: string, values: object[]): Promise<void> => { await client.insert({ table, values, format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: randomUUID() } }) }
  await insert('projects', [
    { project_id: late, team_id: team, sid: 'dup', name: 'late', token_ttl_days: 30, retention_days: 400, created_at: 2000, updated_at: 2000, version: 2 },
    { project_id: early, team_id: team, sid: 'dup', name: 'early', token_ttl_days: 30, retention_days: 400, created_at: 1000, updated_at: 1000, version: 1 }
  ])
  await insert('tracking_domains', [{ hostname: 'old.example', project_id: early, team_id: team, created_at: 1000, version: 1 }])
  const m = await migrate(client)
  t.ok(m.applied.includes('009_domain_claims.sql'))
  const plane = new ControlPlane(client, silentLogger)
  await plane.reload()
  t.equal(plane.projectBySid('dup')?.project_id, early, 'the earlier project keeps the sid')
  t.equal(plane.project(late), undefined, 'the later one is invisible')
  t.match(plane.domain('old.example'), { project_id: early, status: 'verified', verified_by: 'migrated', verification_token: /^[0-9a-f]{32}$/ })
  t.same(plane.verifiedDomains(early), ['old.example'])
  const tables = await (await client.query({ query: "SELECT name FROM system.tables WHERE database = 'mig009' AND name LIKE 'tracking_domains%'", format: 'JSONEachRow' })).json<{ name: string }>()
  t.same(tables.map(r => r.name), ['tracking_domains_before_009'], 'the old table is kept, renamed')
}
