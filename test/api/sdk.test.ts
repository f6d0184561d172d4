import t from 'tap'
import { ClientError, HttpRequestError, Lettermint, ValidationError, Webhook, WebhookVerificationError, type ApiClient, type RouteData, type WebhookData } from 'lettermint'
import { Webhook as StandardWebhook } from 'standardwebhooks'
import { startTestEngine } from '../helpers/engine.js'
import { bootstrap } from '../../src/control/projects.js'
import { request, SAFARI_IPHONE as BROWSER } from '../helpers/http.js'
import { Receiver, type Received } from '../helpers/receiver.js'
import { until } from '../helpers/wait.js'

// Lettermint's own Node SDK (npm lettermint 2.7.0, unmodified) against the real engine: the
// real Team API on a loopback port, the real embedded ClickHouse, promotion, the outbox and a
// real receiver. Every call goes through the SDK's public API with only its baseUrl changed;
// what the SDK has no call for is clicktrail's own part: rewriting a message (Lettermint sends
// mail; clicktrail rewrites its links, POST /v1/rewrite) and the click itself (a browser).

const FAST = { 'promotion-window-ms': '300', 'batch-max-ms': '50', 'webhook-retry-schedule': '300ms,300ms,500ms,1s,1s,1s' }
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

interface Clicked { id: string, event: string, data: { message_id: string, destination_url: string } }

/** Both signatures of one received delivery: Lettermint's (its SDK) and Standard Webhooks'. */
function verifyBoth (secret: string, got: Received): Clicked {
  const lettermint = new Webhook(secret).verifyHeaders(got.headers, got.body) as Clicked
  const standard = new StandardWebhook(secret).verify(got.body, got.headers as Record<string, string>) as Clicked
  if (JSON.stringify(lettermint) !== JSON.stringify(standard)) throw new Error('the two verifications decoded different payloads')
  return lettermint
}

/** The SDK's error, for assertions (a call that succeeds is a failure). */
async function refusal (p: Promise<unknown>): Promise<HttpRequestError> {
  try {
    await p
  } catch (err) {
    if (err instanceof HttpRequestError) return err
    throw err
  }
  throw new Error('the call succeeded')
}

t.test('Lettermint\'s SDK drives the Team API with only baseUrl changed', async t => {
  const e = await startTestEngine(t, FAST)
  const { token, project } = e.team!
  const baseUrl = `http://127.0.0.1:${e.api.port}/lettermint/v1`
  const api: ApiClient = Lettermint.api(token, { baseUrl })
  const pid = project.project_id

  /** A message rewritten on `routeId` (clicktrail's own call; sent an hour ago: a click seconds after sending looks like a scanner) and a human click on its link. */
  async function clickThrough (routeId: string, label: string): Promise<{ messageId: string, url: string }> {
    const url = `https://example.com/${label}`
    const r = await fetch(`http://127.0.0.1:${e.api.port}/v1/rewrite`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ route_id: routeId, from: 'shop@acme.example', to: ['ann@example.com'], subject: label, html: `<p><a href="${url}">Open</a></p>`, sent_at: new Date(Date.now() - 3600_000).toISOString() })
    })
    if (r.status !== 200) throw new Error(`rewrite: ${r.status} ${await r.text()}`)
    const body = await r.json() as { messages: Array<{ message_id: string, html: string }> }
    const href = /href="(http:\/\/p[a-z0-9]+\.t\.localhost:8080\/c\/[A-Za-z0-9_-]+)"/.exec(body.messages[0].html)?.[1]
    if (href === undefined) throw new Error(`no tracked link in ${body.messages[0].html}`)
    const u = new URL(href)
    const click = await request(e.port, { path: u.pathname, host: u.host, headers: BROWSER })
    if (click.status !== 302 || click.headers.location !== url) throw new Error(`click: ${click.status} ${String(click.headers.location)}`)
    return { messageId: body.messages[0].message_id, url }
  }

  await t.test('ping and projects', async t => {
    t.equal(await api.ping(), 'pong')
    const list = await api.projects.list({ 'page[size]': '10' })
    t.same(list.data.map(p => p.id), [pid])
    t.match(list, { per_page: 10, next_cursor: null, prev_cursor: null, path: '/lettermint/v1/projects' })
    t.match(list.data[0], { id: pid, name: project.name, smtp_enabled: false, routes_count: 2, domains_count: 0 })
    const got = await api.projects.retrieve(pid)
    t.match(got, { id: pid, name: project.name, smtp_enabled: false, redact_email_content: false, default_route_id: e.team!.routes[0].route_id, token_generated_at: null })
    const bad = await refusal(Lettermint.api('ct_abcdefgh_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', { baseUrl }).projects.list())
    t.equal(bad.statusCode, 401)
    t.match(bad.responseBody, { error: 'missing or invalid bearer token', code: 'CT_ERR_UNAUTHORIZED' }, 'error is the message, code beside it')
  })

  let resets: RouteData
  await t.test('routes: list, create, retrieve, update settings.track_clicks; the inbound refusal is the SDK\'s ValidationError', async t => {
    const routes = await api.projects.routes(pid)
    t.same(routes.data.map(r => [r.slug, r.route_type, r.is_default]), [['transactional', 'transactional', true], ['broadcast', 'broadcast', false]])
    const created = await api.projects.createRoute(pid, { name: 'Password resets', route_type: 'transactional' })
    t.equal(created.message, 'Route created successfully.')
    resets = created.data
    t.match(resets, { project_id: pid, slug: 'password-resets', name: 'Password resets', route_type: 'transactional', is_default: false, settings: { track_clicks: false } })
    t.same(await api.routes.retrieve(resets.id), resets)
    const updated = await api.routes.update(resets.id, { settings: { track_clicks: true } })
    t.equal(updated.message, 'Route updated successfully.')
    t.equal(updated.data.settings?.track_clicks, true)
    t.equal((await api.routes.retrieve(resets.id)).settings?.track_clicks, true, 'stored')
    const named = await api.projects.createRoute(pid, { name: 'Password resets', route_type: 'broadcast', slug: null })
    t.equal(named.data.slug, 'password-resets-2', 'a slug from a taken name gets a number')
    const taken = await refusal(api.projects.createRoute(pid, { name: 'x', route_type: 'broadcast', slug: 'password-resets' }))
    t.equal(taken.statusCode, 409)
    t.match(taken.responseBody, { code: 'CT_ERR_ROUTE_SLUG_TAKEN' })

    const inbound = (await api.projects.createRoute(pid, { name: 'Replies', route_type: 'inbound' })).data
    const refused = await refusal(api.routes.update(inbound.id, { settings: { track_clicks: true } }))
    t.ok(refused instanceof ValidationError, 'turning tracking on for an inbound route: ValidationError')
    t.equal(refused.statusCode, 422)
    t.equal((refused as ValidationError).errorType, 'inbound routes cannot track clicks: they receive mail, they do not send it', 'errorType: the error the body names')
    t.match(refused.message, /^Validation error: inbound routes cannot track clicks/)
    t.match(refused.responseBody, { code: 'CT_ERR_ROUTE_INBOUND_TRACKING' }, 'the stable code beside it')
    t.equal((await api.routes.retrieve(inbound.id)).settings?.track_clicks, false, 'unchanged')
    const unknown = await refusal(api.routes.update(resets.id, { settings: { track_opens: true } }))
    t.ok(unknown instanceof ClientError, 'a setting clicktrail does not have: 400, the SDK\'s ClientError')
    t.match(unknown.responseBody, { code: 'CT_ERR_VALIDATION', details: { field: 'settings.track_opens' } })
    t.match(unknown.message, /^Client error: unknown field "settings.track_opens"/)
  })

  await t.test('lists page with page[size] and page[cursor]', async t => {
    for (let i = 0; i < 5; i++) await api.projects.createRoute(pid, { name: `Campaign ${i}`, route_type: 'broadcast' })
    const all = await api.projects.routes(pid)
    t.equal(all.data.length, 10)
    const seen: string[] = []
    let cursor: string | null = null
    let pages = 0
    do {
      const page: Awaited<ReturnType<typeof api.projects.routes>> & { meta?: { next_cursor: string | null, per_page: number } } = await api.projects.routes(pid, cursor === null ? { 'page[size]': '3' } : { 'page[size]': '3', 'page[cursor]': cursor })
      t.ok(page.data.length <= 3 && page.per_page === 3)
      t.equal(page.meta?.next_cursor, page.next_cursor, 'and under meta')
      if (page.next_cursor !== null) t.equal(page.next_page_url, `/lettermint/v1/projects/${pid}/routes?page%5Bsize%5D=3&page%5Bcursor%5D=${page.next_cursor}`)
      seen.push(...page.data.map(r => r.id))
      cursor = page.next_cursor
      pages++
    } while (cursor !== null && pages < 10)
    t.equal(pages, 4, '10 routes, 3 a page')
    t.same(seen, all.data.map(r => r.id), 'every route once, in order')
    const bad = await refusal(api.projects.routes(pid, { 'page[size]': '1000' }))
    t.ok(bad instanceof ClientError)
    t.match(bad.responseBody, { code: 'CT_ERR_VALIDATION', details: { param: 'page[size]' } })
    t.match((await refusal(api.projects.routes(pid, { 'page[cursor]': 'bm9wZQ' }))).responseBody, { code: 'CT_ERR_VALIDATION', details: { param: 'page[cursor]' } })
  })

  await t.test('route-scoped webhooks: a click of the route → one delivery both signatures verify; another route\'s click never reaches it; a retried delivery verifies too', async t => {
    const rx = new Receiver()
    const other = new Receiver()
    await rx.up()
    await other.up()
    t.teardown(async () => { await rx.down(); await other.down() })
    const tx = e.team!.routes[0]
    const created = await api.webhooks.create({ route_id: resets.id, name: 'Resets', url: rx.url, events: ['message.clicked'], include_machine_events: false })
    t.equal(created.message, 'Webhook created successfully. Please save the secret as it will not be shown again.')
    const hook: WebhookData = created.data
    t.match(hook, { route_id: resets.id, name: 'Resets', url: rx.url, events: ['message.clicked'], enabled: true, include_machine_events: false, last_called_at: null, secret: /^whsec_/ })
    const secret = hook.secret as string
    const txHook = (await api.webhooks.create({ route_id: tx.route_id, name: 'Transactional', url: other.url, events: ['message.clicked'] })).data

    const first = await clickThrough(resets.id, 'reset-1')
    const second = await clickThrough(tx.route_id, 'tx-1')
    await rx.waitFor(1)
    await other.waitFor(1)
    await sleep(800)
    t.equal(rx.received.length, 1, 'exactly one delivery to the resets webhook')
    const ev = verifyBoth(secret, rx.received[0])
    t.match(ev, { event: 'message.clicked', data: { message_id: first.messageId, destination_url: first.url } }, 'the resets click')
    t.match(rx.received[0].headers, { 'x-lettermint-event': 'message.clicked', 'x-lettermint-attempt': '1', 'webhook-id': ev.id })
    t.equal(rx.received[0].headers['x-lettermint-delivery'], /^t=(\d+),/.exec(String(rx.received[0].headers['x-lettermint-signature']))?.[1], 'X-Lettermint-Delivery is the signature\'s t')
    t.throws(() => new Webhook(secret).verifyHeaders(rx.received[0].headers, rx.received[0].body.replace('reset-1', 'reset-2')), WebhookVerificationError, 'a changed body does not verify')
    t.equal(other.received.length, 1, 'the other route\'s click went to its own webhook only')
    t.equal(verifyBoth(txHook.secret as string, other.received[0]).data.destination_url, second.url)

    // The same click through the SDK's own readers: the message's events and the stats.
    const events = await api.messages.events(first.messageId)
    t.equal(events.data.length, 1, 'messages.events: the message\'s one click')
    t.match(events.data[0], { message_id: first.messageId, event: 'clicked', timestamp: String, tags: [] })
    t.match(events.data[0] as unknown as Record<string, unknown>, { destination_url: first.url, event_id: ev.id }, 'with the click fields of the webhook, and its event id')
    t.match(events.meta, { per_page: Number, next_cursor: null })
    const day = new Date().toISOString().slice(0, 10)
    const stats = await api.stats.retrieve({ from: day, to: day })
    t.match(stats, { from: day, to: day, totals: { clicked: Number, machine_clicked: Number }, daily: [{ date: day }] })
    t.ok(stats.totals.clicked !== null && stats.totals.clicked >= 2, `stats.retrieve: today's clicked messages (${String(stats.totals.clicked)}) count both routes' clicks`)
    t.ok((stats.totals.transactional as unknown as { clicked: number } | null)?.clicked !== undefined, 'per route type')

    // The receiver fails the first attempt: the retry is the same event, signed again, and verifies.
    rx.status = 500
    const retried = await clickThrough(resets.id, 'reset-2')
    await rx.waitFor(2)
    rx.status = 200
    await rx.waitFor(3)
    const [failed, ok] = [rx.received[1], rx.received[2]]
    t.equal(failed.headers['x-lettermint-attempt'], '1')
    t.equal(ok.headers['x-lettermint-attempt'], '2', 'the retry says it is attempt 2')
    t.equal(ok.headers['webhook-id'], failed.headers['webhook-id'], 'same event id')
    const again = verifyBoth(secret, ok)
    t.equal(again.data.destination_url, retried.url)
    t.ok(verifyBoth(secret, failed), 'the failed attempt was signed as well')

    // Its delivery history, in Lettermint's shape.
    let deliveries = await api.webhooks.deliveries(hook.id)
    await until('the retried delivery is recorded as a success', async () => {
      deliveries = await api.webhooks.deliveries(hook.id)
      return deliveries.data.length === 2 && deliveries.data[0].status === 'success'
    }, 20_000, 100)
    t.match(deliveries.data, [
      { id: again.id, webhook_id: hook.id, event_type: 'message.clicked', status: 'success', attempt_number: 2, http_status_code: 200, duration_ms: Number, delivered_at: String },
      { id: ev.id, status: 'success', attempt_number: 1, http_status_code: 200 }
    ], 'newest first, one per event')
    const one = await api.webhooks.delivery(hook.id, again.id)
    t.match(one, { id: again.id, status: 'success', attempt_number: 2, http_status_code: 200, response_body: 'ok', error_message: null, payload: { id: again.id, event: 'message.clicked' } })
    t.match((one as unknown as { attempts: unknown[] }).attempts, [{ attempt: 1, status: 500, ok: false }, { attempt: 2, status: 200, ok: true }])
    const paged = await api.webhooks.deliveries(hook.id, { 'page[size]': '1' })
    t.same(paged.data.map(d => d.id), [again.id])
    t.same((await api.webhooks.deliveries(hook.id, { 'page[size]': '1', 'page[cursor]': paged.next_cursor as string })).data.map(d => d.id), [ev.id], 'the next page')

    // list (filtered by route), retrieve, update, test, regenerate the secret, delete.
    const listed = await api.webhooks.list({ 'filter[route_id]': resets.id })
    t.same(listed.data.map(w => w.id), [hook.id])
    t.equal((await api.webhooks.list()).data.length, 2)
    const got = await api.webhooks.retrieve(hook.id)
    t.notOk('secret' in got, 'the secret is not shown again')
    t.match(got, { id: hook.id, route_id: resets.id, last_called_at: String })
    t.equal((await api.routes.retrieve(resets.id)).webhooks_count, 1)
    const renamed = await api.webhooks.update(hook.id, { name: 'Password resets', include_machine_events: true })
    t.equal(renamed.message, 'Webhook updated successfully.')
    t.match(renamed.data, { name: 'Password resets', include_machine_events: true, url: rx.url })
    const tested = await api.webhooks.test(hook.id)
    t.equal(tested.message, 'Test webhook dispatched successfully. Check the deliveries endpoint for results.')
    await rx.waitFor(4)
    t.equal(verifyBoth(secret, rx.received[3]).id, tested.delivery_id, 'the test event, signed')
    await until('the test delivery is recorded', async () => (await api.webhooks.delivery(hook.id, tested.delivery_id)).status === 'success', 20_000, 100)
    const rotated = await api.webhooks.regenerateSecret(hook.id)
    t.equal(rotated.message, 'Webhook secret regenerated successfully. Please update your integration.')
    const newSecret = rotated.data.secret as string
    t.not(newSecret, secret)
    const retest = await api.webhooks.test(hook.id)
    await rx.waitFor(5)
    t.equal(verifyBoth(newSecret, rx.received[4]).id, retest.delivery_id, 'signed with the new secret')
    t.throws(() => new Webhook(secret).verifyHeaders(rx.received[4].headers, rx.received[4].body), WebhookVerificationError, 'not with the old one')
    t.same(await api.webhooks.delete(txHook.id), { message: 'Webhook deleted successfully.' })
    t.equal((await refusal(api.webhooks.retrieve(txHook.id))).statusCode, 404)
    // A route's deletion takes its webhooks with it.
    t.same(await api.routes.delete(resets.id), { message: 'Route deleted successfully.' })
    t.equal((await refusal(api.webhooks.retrieve(hook.id))).statusCode, 404)
  })

  await t.test('another team\'s token: team A\'s projects, routes, webhooks and deliveries are "not found", its lists hold only its own', async t => {
    const B = await bootstrap(e.plane, { team: 'Other team', sid: 'other' })
    const theirs = Lettermint.api(B.token, { baseUrl })
    const route = e.team!.routes[0].route_id
    const hook = (await api.webhooks.create({ route_id: route, name: 'A', url: 'http://127.0.0.1:9/hook', events: ['message.clicked'], enabled: false })).data
    const calls: Array<[string, () => Promise<unknown>]> = [
      ['projects.retrieve', async () => await theirs.projects.retrieve(pid)],
      ['projects.routes', async () => await theirs.projects.routes(pid)],
      ['projects.createRoute', async () => await theirs.projects.createRoute(pid, { name: 'x', route_type: 'broadcast' })],
      ['routes.retrieve', async () => await theirs.routes.retrieve(route)],
      ['routes.update', async () => await theirs.routes.update(route, { settings: { track_clicks: false } })],
      ['routes.delete', async () => await theirs.routes.delete(route)],
      ['webhooks.create', async () => await theirs.webhooks.create({ route_id: route, name: 'x', url: 'http://127.0.0.1:9/x', events: ['message.clicked'] })],
      ['webhooks.retrieve', async () => await theirs.webhooks.retrieve(hook.id)],
      ['webhooks.update', async () => await theirs.webhooks.update(hook.id, { url: 'http://127.0.0.1:9/mine' })],
      ['webhooks.test', async () => await theirs.webhooks.test(hook.id)],
      ['webhooks.regenerateSecret', async () => await theirs.webhooks.regenerateSecret(hook.id)],
      ['webhooks.deliveries', async () => await theirs.webhooks.deliveries(hook.id)],
      ['webhooks.delivery', async () => await theirs.webhooks.delivery(hook.id, hook.id)],
      ['webhooks.delete', async () => await theirs.webhooks.delete(hook.id)]
    ]
    for (const [name, call] of calls) {
      const err = await refusal(call())
      t.equal(err.statusCode, 404, name)
      t.match(err.responseBody, { code: 'CT_ERR_NOT_FOUND' })
    }
    t.same((await theirs.projects.list()).data.map(p => p.id), [B.project.project_id])
    t.same((await theirs.webhooks.list()).data, [], 'none of team A\'s webhooks')
    t.same((await theirs.webhooks.list({ 'filter[project_id]': pid })).data, [], 'not even when asked for by project')
    t.match(await api.webhooks.retrieve(hook.id), { url: 'http://127.0.0.1:9/hook', enabled: false }, 'nothing of team A changed')
    t.equal((await api.routes.retrieve(route)).settings?.track_clicks, true)
  })

  await t.test('endpoints clicktrail leaves to Lettermint: 404 CT_ERR_NOT_SERVED with the area, never a crash', async t => {
    const email = Lettermint.email(token, { baseUrl })
    const calls: Array<[string, () => Promise<unknown>, number, string]> = [
      ['email.send', async () => await email.from('a@acme.example').to('b@example.com').subject('x').text('x').send(), 404, 'sending'],
      ['email.sendBatch', async () => await email.sendBatch([{ from: 'a@acme.example', to: ['b@example.com'], subject: 'x', text: 'x' }]), 404, 'sending'],
      ['blockedFileTypes', async () => await api.blockedFileTypes(), 404, 'sending'],
      ['domains.list', async () => await api.domains.list(), 404, 'domains'],
      ['domains.verifyDnsRecords', async () => await api.domains.verifyDnsRecords('d1'), 404, 'domains'],
      ['messages.list', async () => await api.messages.list(), 404, 'messages'],
      ['messages.retrieve', async () => await api.messages.retrieve('00000000-0000-4000-8000-000000000000'), 404, 'messages'],
      ['suppressions.list', async () => await api.suppressions.list(), 404, 'suppressions'],
      ['suppressions.create', async () => await api.suppressions.create({ email: 'x@example.com', reason: 'manual', scope: 'team' }), 404, 'suppressions'],
      ['team.retrieve', async () => await api.team.retrieve(), 404, 'team'],
      ['team.members', async () => await api.team.members(), 404, 'team'],
      ['projects.rotateToken', async () => await api.projects.rotateToken(pid), 404, 'projects'],
      ['routes.verifyInboundDomain', async () => await api.routes.verifyInboundDomain(e.team!.routes[0].route_id), 404, 'routes']
    ]
    for (const [name, call, status, area] of calls) {
      const err = await refusal(call())
      t.equal(err.statusCode, status, name)
      t.match(err.responseBody, { code: 'CT_ERR_NOT_SERVED', details: { area } }, `${name}: ${area}`)
    }
    const put = await refusal(api.projects.update(pid, { name: 'x' }))
    t.equal(put.statusCode, 405, 'projects.update: a served path, another method (PATCH /v1/projects/{id} is clicktrail\'s)')
    t.match(put.responseBody, { code: 'CT_ERR_METHOD_NOT_ALLOWED' })
    t.equal(await api.ping(), 'pong', 'still serving')
  })
})
