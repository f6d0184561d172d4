import t from 'tap'
import { randomUUID } from 'node:crypto'
import { createClient } from '@clickhouse/client'
import { startTestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { request } from '../helpers/http.js'
import { bootstrap } from '../../src/control/projects.js'
import { ControlPlane } from '../../src/control/plane.js'
import { silentLogger } from '../../src/log.js'
import { mintToken } from '../../src/token/codec.js'
import { openApiPath } from '../../src/api/openapi.js'
import { TestDnsServer } from '../control/dns-server.js'

// The real Team API on a free port, the real embedded ClickHouse underneath. One engine for
// the whole file (chdb: one data path per process).

t.test('Team API end to end', async t => {
  const dns = new TestDnsServer()
  const dnsServer = await dns.start()
  t.teardown(async () => { await dns.stop() })
  const e = await startTestEngine(t, { 'dns-server': dnsServer }, {}, undefined, 'acme')
  const port = e.api.port
  const A = e.team!
  const B = await bootstrap(e.plane, { team: 'Other team', sid: 'other' })
  const tokA = A.token
  const tokB = B.token
  const pA = A.project.project_id

  await t.test('projects: create, list, get, update', async t => {
    const created = await api(port, 'POST', '/v1/projects', tokA, { name: 'Newsletters', token_ttl_days: 10 })
    t.equal(created.status, 201)
    t.match(created.body, { name: 'Newsletters', token_ttl_days: 10, retention_days: 400, sid: /^[a-z0-9]{8}$/ })
    t.equal(created.body.tracking_host, `p${created.body.sid}.t.localhost:8080`)
    const list = await api(port, 'GET', '/v1/projects', tokA)
    t.equal(list.status, 200)
    t.same(list.body.data.map((p: { name: string }) => p.name).sort(), ['My project', 'Newsletters'])
    const got = await api(port, 'GET', `/v1/projects/${created.body.project_id}`, tokA)
    t.same(got.body, created.body)
    const upd = await api(port, 'PATCH', `/v1/projects/${created.body.project_id}`, tokA, { name: 'News', retention_days: 90 })
    t.equal(upd.status, 200)
    t.match(upd.body, { name: 'News', retention_days: 90, token_ttl_days: 10 })
    t.equal((await api(port, 'POST', '/v1/projects', tokA, { name: 'dup', sid: 'acme' })).body.error.code, 'CT_ERR_SID_TAKEN')
    t.equal((await api(port, 'POST', '/v1/projects', tokA, { name: 'dup', sid: 'acme' })).status, 409)
  })

  await t.test('routes: create, list, get, PATCH track_clicks, delete; inbound refused', async t => {
    const r = await api(port, 'POST', `/v1/projects/${pA}/routes`, tokA, { name: 'Receipts', type: 'transactional' })
    t.equal(r.status, 201)
    t.match(r.body, { type: 'transactional', track_clicks: false, project_id: pA })
    const patched = await api(port, 'PATCH', `/v1/routes/${r.body.route_id}`, tokA, { track_clicks: true })
    t.equal(patched.status, 200)
    t.equal(patched.body.track_clicks, true)
    t.equal((await api(port, 'GET', `/v1/routes/${r.body.route_id}`, tokA)).body.track_clicks, true)
    const list = await api(port, 'GET', `/v1/projects/${pA}/routes`, tokA)
    t.equal(list.body.data.length, 3, 'the two from init and this one')
    const inbound = await api(port, 'POST', `/v1/projects/${pA}/routes`, tokA, { name: 'Replies', type: 'inbound' })
    t.equal(inbound.status, 201)
    const refused = await api(port, 'PATCH', `/v1/routes/${inbound.body.route_id}`, tokA, { track_clicks: true })
    t.equal(refused.status, 422)
    t.equal(refused.body.error.code, 'CT_ERR_ROUTE_INBOUND_TRACKING')
    t.equal((await api(port, 'GET', `/v1/routes/${inbound.body.route_id}`, tokA)).body.track_clicks, false, 'unchanged')
    const refusedCreate = await api(port, 'POST', `/v1/projects/${pA}/routes`, tokA, { name: 'x', type: 'inbound', track_clicks: true })
    t.equal(refusedCreate.status, 422)
    t.equal(refusedCreate.body.error.code, 'CT_ERR_ROUTE_INBOUND_TRACKING')
    t.equal((await api(port, 'PATCH', `/v1/routes/${inbound.body.route_id}`, tokA, { track_clicks: false })).status, 200, 'turning it off is fine')
    const del = await api(port, 'DELETE', `/v1/routes/${r.body.route_id}`, tokA)
    t.equal(del.status, 204)
    t.equal((await api(port, 'GET', `/v1/routes/${r.body.route_id}`, tokA)).status, 404)
  })

  await t.test('webhooks: secret returned once; list, get, update, delete', async t => {
    const w = await api(port, 'POST', `/v1/projects/${pA}/webhooks`, tokA, { url: 'https://hooks.example.com/clicks' })
    t.equal(w.status, 201)
    t.match(w.body, { url: 'https://hooks.example.com/clicks', events: ['message.clicked'], include_machine_events: false, enabled: true, secret: /^whsec_[A-Za-z0-9+/=]{40,}$/ })
    const got = await api(port, 'GET', `/v1/webhooks/${w.body.webhook_id}`, tokA)
    t.equal(got.status, 200)
    t.notOk('secret' in got.body, 'the secret is not shown again')
    const list = await api(port, 'GET', `/v1/projects/${pA}/webhooks`, tokA)
    t.equal(list.body.data.length, 1)
    t.notOk('secret' in list.body.data[0])
    const upd = await api(port, 'PATCH', `/v1/webhooks/${w.body.webhook_id}`, tokA, { include_machine_events: true, enabled: false })
    t.match(upd.body, { include_machine_events: true, enabled: false, url: 'https://hooks.example.com/clicks' })
    t.equal(e.plane.webhook(w.body.webhook_id)?.secret, w.body.secret, 'the secret is kept for signing')
    t.equal((await api(port, 'POST', `/v1/projects/${pA}/webhooks`, tokA, { url: 'ftp://x.example.com/' })).status, 400)
    t.equal((await api(port, 'POST', `/v1/projects/${pA}/webhooks`, tokA, { url: 'https://h.example.com/', events: ['message.opened'] })).status, 400)
    t.equal((await api(port, 'DELETE', `/v1/webhooks/${w.body.webhook_id}`, tokA)).status, 204)
    t.equal((await api(port, 'GET', `/v1/webhooks/${w.body.webhook_id}`, tokA)).status, 404)
  })

  await t.test('tracking domains: add (pending), verify, list, remove; a used hostname → 409; the redirect follows without a restart', async t => {
    const token = mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: 0, sentAt: Math.floor(Date.now() / 1000), url: 'https://example.com/custom' })
    t.equal((await request(e.port, { path: `/c/${token}`, host: 'Track.Acme-Mail.com' })).status, 404, 'not a tracking host yet')
    const d = await api(port, 'POST', `/v1/projects/${pA}/domains`, tokA, { hostname: 'Track.Acme-Mail.com' })
    t.equal(d.status, 201)
    t.equal(d.body.hostname, 'track.acme-mail.com', 'stored lower-case')
    t.equal(d.body.status, 'pending_verification')
    t.match(d.body.dns_records, [{ type: 'CNAME', fqdn: 'track.acme-mail.com', content: 'pacme.t.localhost', status: 'pending' }, { type: 'TXT', fqdn: '_clicktrail.track.acme-mail.com', content: /^clicktrail-verify=[0-9a-f]{32}$/, status: 'pending' }])
    t.equal((await request(e.port, { path: `/c/${token}`, host: 'track.acme-mail.com' })).status, 404, 'pending: does not route yet')
    dns.set('track.acme-mail.com', { CNAME: 'pacme.t.localhost' })
    const v = await api(port, 'POST', `/v1/projects/${pA}/domains/track.acme-mail.com/verify`, tokA)
    t.equal(v.status, 200)
    t.equal(v.body.status, 'verified')
    t.equal(v.body.verified_by, 'cname')
    const r = await request(e.port, { path: `/c/${token}`, host: 'track.acme-mail.com' })
    t.equal(r.status, 302, 'verified custom domain → project → 302, no restart')
    t.equal(r.headers.location, 'https://example.com/custom')
    const taken = await api(port, 'POST', `/v1/projects/${B.project.project_id}/domains`, tokB, { hostname: 'track.acme-mail.com' })
    t.equal(taken.status, 409)
    t.equal(taken.body.error.code, 'CT_ERR_DOMAIN_TAKEN')
    t.equal((await api(port, 'POST', `/v1/projects/${pA}/domains`, tokA, { hostname: 'not a host' })).status, 400)
    const inside = await api(port, 'POST', `/v1/projects/${pA}/domains`, tokA, { hostname: 'pacme.t.localhost' })
    t.equal(inside.status, 422, 'inside the tracking base domain: the operator\'s')
    t.equal(inside.body.error.code, 'CT_ERR_DOMAIN_RESERVED')
    t.same((await api(port, 'GET', `/v1/projects/${pA}/domains`, tokA)).body.data.map((x: { hostname: string, status: string }) => [x.hostname, x.status]), [['track.acme-mail.com', 'verified']])
    t.equal((await api(port, 'GET', `/v1/projects/${pA}/domains/track.acme-mail.com`, tokA)).body.status, 'verified')
    // a token of project B on A's custom domain is refused
    const tokenB = mintToken(e.keys, { sid: 'other', messageId: randomUUID(), linkIndex: 0, sentAt: Math.floor(Date.now() / 1000), url: 'https://example.com/b' })
    t.equal((await request(e.port, { path: `/c/${tokenB}`, host: 'track.acme-mail.com' })).status, 404)
    t.equal((await api(port, 'DELETE', `/v1/projects/${pA}/domains/track.acme-mail.com`, tokA)).status, 204)
    t.equal((await request(e.port, { path: `/c/${token}`, host: 'track.acme-mail.com' })).status, 404, 'removed → 404 again')
    t.equal((await api(port, 'GET', `/v1/projects/${pA}/domains/track.acme-mail.com`, tokA)).status, 404)
  })

  await t.test('project settings reach the redirect path without a restart', async t => {
    const old = mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: 0, sentAt: Math.floor(Date.now() / 1000) - 5 * 86400, url: 'https://example.com/ttl' })
    await e.server.handoff() // threads: their counters are fresh once they answered
    const before = e.server.stats.expired
    await request(e.port, { path: `/c/${old}`, host: 'pacme.t.localhost' })
    await e.server.handoff()
    t.equal(e.server.stats.expired, before, '5 days old, TTL 30: not expired')
    t.equal((await api(port, 'PATCH', `/v1/projects/${pA}`, tokA, { token_ttl_days: 2 })).status, 200)
    const r = await request(e.port, { path: `/c/${old}`, host: 'pacme.t.localhost' })
    t.equal(r.status, 302, 'still redirects')
    await e.server.handoff()
    t.equal(e.server.stats.expired, before + 1, 'TTL 2 days: now expired')
    t.equal((await request(e.port, { path: `/c/${old}`, host: 'punknown.t.localhost' })).status, 404, 'unknown project → 404')
  })

  await t.test('errors: 400 malformed / unknown / invalid, 401, 404 for another team, 413', async t => {
    const bad = await api(port, 'POST', '/v1/projects', tokA, '{"name": ')
    t.equal(bad.status, 400)
    t.equal(bad.body.error.code, 'CT_ERR_BAD_JSON')
    const unknown = await api(port, 'POST', '/v1/projects', tokA, { name: 'x', colour: 'red' })
    t.equal(unknown.status, 400)
    t.equal(unknown.body.error.code, 'CT_ERR_VALIDATION')
    t.match(unknown.body.error.message, /colour/)
    const missing = await api(port, 'POST', `/v1/projects/${pA}/routes`, tokA, { type: 'broadcast' })
    t.equal(missing.status, 400)
    t.match(missing.body.error.message, /name/, 'the missing field is named')
    const wrongType = await api(port, 'PATCH', `/v1/routes/${A.routes[0].route_id}`, tokA, { track_clicks: 'yes' })
    t.equal(wrongType.status, 400)
    t.match(wrongType.body.error.message, /track_clicks/)
    t.equal((await api(port, 'PATCH', `/v1/routes/${A.routes[0].route_id}`, tokA, {})).status, 400, 'empty patch')
    t.equal((await api(port, 'PATCH', `/v1/routes/${A.routes[0].route_id}`, tokA, [1, 2])).status, 400, 'not an object')
    for (const [what, token] of [['missing', undefined], ['garbage', 'nonsense'], ['well-formed but unknown', 'ct_abcdefgh_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'], ['tampered', tokA.slice(0, -1) + (tokA.endsWith('A') ? 'B' : 'A')]] as const) {
      const r = await api(port, 'GET', '/v1/projects', token)
      t.equal(r.status, 401, `${what} token → 401`)
      t.equal(r.body.error.code, 'CT_ERR_UNAUTHORIZED')
    }
    const big = await api(port, 'POST', '/v1/projects', tokA, { name: 'x'.repeat(70 * 1024) })
    t.equal(big.status, 413)
    t.equal(big.body.error.code, 'CT_ERR_BODY_TOO_LARGE')
    // Another team's resources are "not found", exactly like resources that do not exist.
    const theirs = [
      ['GET', `/v1/projects/${pA}`], ['PATCH', `/v1/projects/${pA}`, { name: 'mine now' }],
      ['GET', `/v1/projects/${pA}/routes`], ['POST', `/v1/projects/${pA}/routes`, { name: 'x', type: 'broadcast' }],
      ['GET', `/v1/routes/${A.routes[0].route_id}`], ['PATCH', `/v1/routes/${A.routes[0].route_id}`, { track_clicks: false }], ['DELETE', `/v1/routes/${A.routes[0].route_id}`],
      ['GET', `/v1/projects/${pA}/webhooks`], ['POST', `/v1/projects/${pA}/webhooks`, { url: 'https://x.example.com/' }],
      ['GET', `/v1/projects/${pA}/domains`], ['POST', `/v1/projects/${pA}/domains`, { hostname: 'b.example.com' }],
      ['GET', `/v1/projects/${pA}/domains/b.example.com`], ['POST', `/v1/projects/${pA}/domains/b.example.com/verify`], ['DELETE', `/v1/projects/${pA}/domains/b.example.com`]
    ] as const
    const missingOnes = (await api(port, 'GET', `/v1/projects/${randomUUID()}`, tokB)).body
    for (const [method, path, body] of theirs) {
      const r = await api(port, method, path, tokB, body)
      t.equal(r.status, 404, `team B: ${method} ${path} → 404`)
      t.same(r.body.error.code, missingOnes.error.code)
    }
    t.same((await api(port, 'GET', '/v1/projects', tokB)).body.data.map((p: { sid: string }) => p.sid), ['other'], 'lists only its own')
    t.equal(e.plane.route(A.routes[0].route_id)?.track_clicks, true, 'nothing of team A changed')
    t.equal((await api(port, 'GET', '/v1/nothing-here', tokA)).status, 404)
  })

  await t.test('a change made on one node reaches another node within its refresh interval', async t => {
    // A second node: its own client and snapshot on the same ClickHouse data.
    const { createChdbConnection } = await import('chdb/connection')
    const client = createClient({ connection: createChdbConnection({ path: `${e.dataDir}/clickhouse` }) as never })
    await client.command({ query: 'USE clicktrail' })
    const other = new ControlPlane(client, silentLogger, 100)
    await other.start()
    t.teardown(async () => { await other.stop(); await client.close() })
    const r = await api(port, 'POST', `/v1/projects/${pA}/routes`, tokA, { name: 'Late', type: 'broadcast' })
    const deadline = Date.now() + 5000
    while (other.route(r.body.route_id) === undefined && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    t.ok(other.route(r.body.route_id), 'the other node sees the new route')
    await api(port, 'PATCH', `/v1/routes/${r.body.route_id}`, tokA, { track_clicks: true })
    while (other.route(r.body.route_id)?.track_clicks !== true && Date.now() < deadline + 5000) await new Promise(resolve => setTimeout(resolve, 20))
    t.equal(other.route(r.body.route_id)?.track_clicks, true, 'and the update')
  })

  await t.test('the OpenAPI document matches the real routes', async t => {
    const doc = await api(port, 'GET', '/v1/openapi.json')
    t.equal(doc.status, 200)
    t.equal(doc.body.openapi, '3.1.0')
    const documented = new Set<string>()
    for (const [path, ops] of Object.entries(doc.body.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>)) {
      for (const [method, op] of Object.entries(ops)) {
        documented.add(`${method} ${path}`)
        const concrete = path.replace(/\{[a-z_]+\}/g, () => randomUUID())
        const r = await api(port, method.toUpperCase(), concrete, tokA, ['post', 'patch'].includes(method) ? {} : undefined)
        t.not(r.body?.error?.message, 'no such endpoint', `${method.toUpperCase()} ${path} is served`)
        t.ok(String(r.status) in op.responses, `${method.toUpperCase()} ${path}: ${r.status} is documented`)
      }
    }
    const served = e.api.routes.map(r => `${r.method === 'del' ? 'delete' : r.method} ${openApiPath(r.path)}`)
    t.same([...documented].sort(), served.sort(), 'every served route is documented and vice versa')
    for (const name of ['ProjectCreate', 'RouteUpdate', 'WebhookCreate', 'DomainCreate', 'Error']) t.ok(doc.body.components.schemas[name], `schema ${name}`)
  })
})
