import t from 'tap'
import { request as httpRequest } from 'node:http'
import { startTestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { CHROME_NAVIGATION as CHROME, request } from '../helpers/http.js'
import { Receiver } from '../helpers/receiver.js'
import { until } from '../helpers/wait.js'
import { HONEYPOT_LINK_INDEX } from '../../src/token/codec.js'

// A route with honeypot_link, end to end: the Team API, the worker pool's rewriter, the redirect
// server, ingest, promotion with the pool's classifier, webhooks and the embedded ClickHouse.

const HTML = '<!DOCTYPE html><html><head><title>News</title></head><body><p><a href="https://shop.example.com/a">A</a></p><p><a href="https://shop.example.com/b">B</a></p><p><a href="https://shop.example.com/c">C</a></p></body></html>'
const HREF = /href="(http:\/\/pacme\.t\.localhost:8080\/c\/[A-Za-z0-9_-]+)"/g

interface ClickRead { link_index: number, ip: string, classification: string, reason_codes: string[], machine: boolean }

t.test('a scanner that fetches the honeypot: its clicks of the message are security_scanner (honeypot_hit); a person stays genuine', async t => {
  const e = await startTestEngine(t, { 'trusted-proxy': ['127.0.0.1'], 'promotion-window-ms': '1500', 'batch-max-ms': '50' })
  const { token, project } = e.team!
  const hooks = new Receiver()
  await hooks.up()
  t.teardown(async () => { await hooks.down() })

  const created = await api(e.api.port, 'POST', `/v1/projects/${project.project_id}/routes`, token, { name: 'Newsletter', type: 'broadcast', track_clicks: true, honeypot_link: true })
  t.equal(created.status, 201)
  t.equal(created.body.honeypot_link, true, 'the Team API shows the setting')
  t.same(created.body.settings, { track_clicks: true, honeypot_link: true }, 'and Lettermint\'s settings object')
  const routeId = created.body.route_id as string
  const plain = await api(e.api.port, 'POST', `/v1/projects/${project.project_id}/routes`, token, { name: 'Plain', type: 'broadcast', track_clicks: true })
  t.equal(plain.body.honeypot_link, false, 'default off')
  const hook = await api(e.api.port, 'POST', `/v1/projects/${project.project_id}/webhooks`, token, { url: `http://127.0.0.1:${hooks.port}/hook`, events: ['message.clicked'], include_machine_events: true })
  t.equal(hook.status, 201)
  await until('the route reaches the plane', () => e.plane.route(routeId) !== undefined)

  // Sent an hour ago: time since send says nothing about either fetcher.
  const sentAt = new Date(Date.now() - 3600_000).toISOString()
  const rw = await api(e.api.port, 'POST', '/v1/rewrite', token, { route_id: routeId, from: 'news@acme.example', to: ['r@example.com'], subject: 'News', html: HTML, sent_at: sentAt })
  t.equal(rw.status, 200)
  t.equal(rw.body.links.length, 3, 'the link table: the message\'s three links, no honeypot')
  const html = rw.body.messages[0].html as string
  const messageId = rw.body.messages[0].message_id as string
  const hrefs = [...html.matchAll(HREF)].map(m => m[1])
  t.equal(hrefs.length, 4, 'one more URL in the message: the honeypot')
  t.match(html, /<body><a href="[^"]+" tabindex="-1" aria-hidden="true" style="display:none;mso-hide:all;/, 'right after <body>')
  const [honeypot, a, b] = hrefs

  const off = await api(e.api.port, 'POST', '/v1/rewrite', token, { route_id: plain.body.route_id, from: 'news@acme.example', to: ['r@example.com'], subject: 'News', html: HTML, sent_at: sentAt })
  const offHrefs = [...(off.body.messages[0].html as string).matchAll(HREF)].map(m => m[1])
  t.equal(offHrefs.length, 3, 'the option off: no honeypot')

  const get = async (href: string, ip: string): Promise<{ status: number, location: unknown }> => {
    const u = new URL(href)
    const r = await request(e.port, { path: u.pathname, host: u.host, headers: { ...CHROME, 'x-forwarded-for': ip } })
    return { status: r.status, location: r.headers.location }
  }
  // The scanner: a Chrome with every navigation header (it would pass for a person), one
  // address; it opens the honeypot and one real link, seconds apart (no burst).
  const hp = await get(honeypot, '203.0.113.50')
  t.same(hp, { status: 302, location: 'https://shop.example.com/a' }, 'the honeypot answers like a link: 302 to the message\'s first link')
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal((await get(b, '203.0.113.50')).status, 302)
  // The person, from another address, the same browser.
  t.equal((await get(a, '198.51.100.7')).status, 302)
  // The same scanner on the message without a honeypot: nothing tells it from a person.
  t.equal((await get(offHrefs[1], '203.0.113.50')).status, 302)

  const read = async (): Promise<ClickRead[]> => await (await e.store.reader.query({
    query: 'SELECT link_index, ip, classification, reason_codes, machine FROM clicks WHERE message_id = {m:UUID} ORDER BY ts',
    query_params: { m: messageId },
    format: 'JSONEachRow'
  })).json()
  await until('both clicks promoted', async () => (await read()).length >= 2)
  await until('the control click promoted', async () => (await (await e.store.reader.query({ query: 'SELECT count() AS n FROM clicks', format: 'JSONEachRow' })).json<{ n: string }>())[0].n === '3')
  await new Promise(resolve => setTimeout(resolve, 500))
  const rows = await read()
  t.equal(rows.length, 2, 'two clicks: the honeypot fetch is none')
  const scanner = rows.find(r => r.ip === '203.0.113.50')
  const person = rows.find(r => r.ip === '198.51.100.7')
  t.match(scanner, { link_index: 1, classification: 'security_scanner', machine: true }, 'the scanner\'s real click')
  t.equal(scanner?.reason_codes[0], 'honeypot_hit', 'named by honeypot_hit')
  t.match(person, { link_index: 0, classification: 'genuine', machine: false }, 'the person\'s click stays genuine')
  t.notOk(person?.reason_codes.includes('honeypot_hit'))
  const [control] = await (await e.store.reader.query({ query: 'SELECT classification FROM clicks WHERE message_id = {m:UUID}', query_params: { m: off.body.messages[0].message_id }, format: 'JSONEachRow' })).json<{ classification: string }>()
  t.equal(control?.classification, 'genuine', 'without the honeypot the same fetch passes for a person: the honeypot is what caught it')

  const obs = await (await e.store.reader.query({
    query: 'SELECT link_index, honeypot, ip FROM click_observations WHERE message_id = {m:UUID} ORDER BY ts',
    query_params: { m: messageId },
    format: 'JSONEachRow'
  })).json<{ link_index: number, honeypot: boolean, ip: string }>()
  t.same(obs.map(o => [o.link_index, o.honeypot]), [[HONEYPOT_LINK_INDEX, true], [1, false], [0, false]], 'the honeypot fetch is kept as an observation with honeypot = true')
  t.ok(e.promoter.stats.honeypot >= 1, 'counted (clicktrail_promotion_honeypot_total)')

  await until('the webhooks delivered', () => hooks.received.length >= 3)
  await new Promise(resolve => setTimeout(resolve, 300))
  const events = hooks.received.map(r => JSON.parse(r.body) as { data: { message_id: string, link_index: number, bot: { classification: string } } })
  t.equal(events.filter(ev => ev.data.message_id === messageId).length, 2, 'a webhook per click, none for the honeypot')
  t.notOk(events.some(ev => ev.data.link_index === HONEYPOT_LINK_INDEX))
})

t.test('the setting through PATCH and Lettermint\'s PUT settings', async t => {
  const e = await startTestEngine(t)
  const { token, routes } = e.team!
  const id = routes[1].route_id
  const patched = await api(e.api.port, 'PATCH', `/v1/routes/${id}`, token, { honeypot_link: true })
  t.equal(patched.status, 200)
  t.equal(patched.body.honeypot_link, true)
  const put = await api(e.api.port, 'PUT', `/lettermint/v1/routes/${id}`, token, { settings: { honeypot_link: false } })
  t.equal(put.status, 200)
  t.equal(put.body.data.settings.honeypot_link, false)
  t.equal(put.body.data.settings.track_clicks, true, 'track_clicks unchanged')
  const bad = await api(e.api.port, 'PATCH', `/v1/routes/${id}`, token, { honeypot_link: 'yes' })
  t.equal(bad.status, 400)
})

t.test('MIME sends: one honeypot per message, in the first HTML part with a tracked link', async t => {
  const e = await startTestEngine(t)
  const { token, routes } = e.team!
  const id = routes[1].route_id
  t.equal((await api(e.api.port, 'PATCH', `/v1/routes/${id}`, token, { honeypot_link: true })).status, 200)
  await until('the setting reaches the plane', () => e.plane.route(id)?.honeypot_link === true)
  const part = (href: string): string[] => ['--b', 'Content-Type: text/html; charset=utf-8', '', `<html><body><p><a href="${href}">Go</a></p></body></html>`]
  const raw = Buffer.from([
    'From: a@acme.example', 'To: b@example.com', 'Subject: two parts', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="b"', '',
    ...part('mailto:x@example.com'), ...part('https://example.com/one'), ...part('https://example.com/two'), '--b--', ''
  ].join('\r\n'))
  const res = await new Promise<{ status: number, headers: Record<string, unknown>, body: string }>((resolve, reject) => {
    const r = httpRequest({ host: '127.0.0.1', port: e.api.port, method: 'POST', path: `/v1/rewrite/mime?route_id=${id}`, headers: { authorization: `Bearer ${token}`, 'content-type': 'message/rfc822', 'content-length': String(raw.length) }, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }) })
    })
    r.on('error', reject)
    r.end(raw)
  })
  t.equal(res.status, 200)
  t.equal(res.headers['x-clicktrail-links'], '3', 'the link table: three links, no honeypot')
  const hidden = [...res.body.matchAll(/<a href="[^"]+" tabindex="-1" aria-hidden="true"/g)]
  t.equal(hidden.length, 1, 'one honeypot in the message')
  const at = res.body.indexOf(hidden[0][0])
  t.ok(at > res.body.indexOf('mailto:x@example.com'), 'not in the first part, which has no tracked link')
  t.ok(at < res.body.indexOf('">Go</a></p></body></html>', res.body.indexOf('mailto:x@example.com') + 40), 'in the second part')
  t.notOk(res.body.includes('https://example.com/one'), 'the second part\'s link is tracked')
})
