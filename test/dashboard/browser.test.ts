import t, { type Test } from 'tap'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { startTestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { request } from '../helpers/http.js'
import { Receiver } from '../helpers/receiver.js'
import { until } from '../helpers/wait.js'
import { T0, insertData, makeData } from '../analytics/fixture.js'

// The dashboard (issue 14) in a real browser: Debian's Chromium driven by playwright-core
// (which downloads no browser), against the real engine: Team API, webhooks, redirect port and
// embedded ClickHouse. One browser for the file; one page walks through the flows in order.
// Screenshots go to test-artifacts/screenshots/ (git-ignored).

const CHROMIUM = '/usr/bin/chromium'
const DAY = 86_400_000
/** The browser's zone: not UTC, so that the page's local days are the zone's, not the server's. */
const ZONE = 'Europe/Amsterdam'
const SHOTS = resolve(import.meta.dirname, '..', '..', 'test-artifacts', 'screenshots')

/**
 * Nothing but the pages' own requests: no component updates, safe-browsing, sync, metrics
 * or translation; and every hostname but the loopback ones fails to resolve, so that even
 * a request this list forgot cannot leave the machine.
 */
const QUIET = [
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-domain-reliability',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--disable-breakpad',
  '--disable-client-side-phishing-detection',
  '--metrics-recording-only',
  '--no-first-run',
  '--no-default-browser-check',
  '--no-pings',
  '--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,CertificateTransparencyComponentUpdater,AutofillServerCommunication',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost, EXCLUDE *.localhost'
]

/** In the page: form controls without an accessible name (label, aria-label, or text). */
const UNLABELLED = `[...document.querySelectorAll('input, button, select, textarea, a')].filter(el => {
  const named = (el.labels && el.labels.length > 0) || (el.getAttribute('aria-label') || '').trim() !== '' || el.textContent.trim() !== '' || (el.querySelector('img[alt]:not([alt=""])') !== null)
  return !named
}).map(el => el.outerHTML.slice(0, 120))`

/**
 * In the page: text whose contrast with its background is below WCAG 2 AA (4.5:1, or 3:1 for
 * large text). Disabled controls are exempt (WCAG 1.4.3); backgrounds are the nearest opaque one.
 */
const LOW_CONTRAST = `(() => {
  const parse = c => { const m = /rgba?\\(([^)]+)\\)/.exec(c); if (!m) return null; const p = m[1].split(/[\\s,/]+/).filter(Boolean).map(Number); return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 } }
  const lum = ({ r, g, b }) => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4 }; return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b) }
  const bgOf = el => { for (let e = el; e; e = e.parentElement) { const c = parse(getComputedStyle(e).backgroundColor); if (c && c.a > 0.5) return c } return parse(getComputedStyle(document.documentElement).backgroundColor) ?? { r: 255, g: 255, b: 255, a: 1 } }
  const out = []
  for (const el of document.querySelectorAll('body *')) {
    const text = [...el.childNodes].filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim()
    if (text === '' || el.closest(':disabled') || el.closest('.visually-hidden') || el.getClientRects().length === 0) continue
    const s = getComputedStyle(el)
    const fg = parse(s.color)
    if (fg === null) continue
    const bg = bgOf(el)
    const a = lum(fg); const b = lum(bg)
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)
    const size = parseFloat(s.fontSize)
    const need = size >= 24 || (Number(s.fontWeight) >= 700 && size >= 18.66) ? 3 : 4.5
    if (ratio < need) out.push(el.tagName + ' "' + text.slice(0, 40) + '": ' + ratio.toFixed(2) + ' < ' + need)
  }
  return out
})()`

/** In the page: the innermost elements reaching past the viewport's right edge (what makes a page scroll sideways). */
const WIDER = '(w => [...document.querySelectorAll(\'body *\')].filter(el => el.getBoundingClientRect().right > w + 0.5 && ![...el.children].some(c => c.getBoundingClientRect().right > w + 0.5)).map(el => el.tagName + \'.\' + el.className + \' \' + Math.round(el.getBoundingClientRect().right)).slice(0, 8))'

interface Recorded { url: string, auth?: string }

t.test('the dashboard in a real browser', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install -y chromium): browser tests skipped` }, async t => {
  const { chromium } = await import('playwright-core')
  mkdirSync(SHOTS, { recursive: true })
  const e = await startTestEngine(t)
  const port = e.api.port
  const origin = `http://127.0.0.1:${port}`
  const { token, project, routes } = e.team!
  const pid = project.project_id
  const [tx, broadcast] = routes
  const inbound = (await api(port, 'POST', `/v1/projects/${pid}/routes`, token, { name: 'Replies', type: 'inbound' })).body
  // Clicks for the analytics and recent-clicks pages, written into `messages` and `clicks` by the
  // store's writer as test/api/analytics.test.ts does (people, privacy proxies, scanners,
  // previews, bots; repeats; tags and campaigns), moved from June 2025 to the last four weeks so
  // that the pages' default range (the last 30 days) holds them all.
  const seeded = makeData([{ sid: project.sid, project_id: pid, routes: routes.map(r => r.route_id) }], 14)
  const shift = Math.floor(Date.now() / DAY) * DAY - 28 * DAY - T0
  for (const m of seeded.messages) m.sent_at += shift
  for (const c of seeded.clicks) { c.ts += shift; c.sent_at += shift }
  await insertData(e.store.writer, seeded)
  const rx = new Receiver()
  await rx.up()
  t.teardown(async () => { await rx.down() })

  // As root (this machine and CI) Chromium's own sandbox cannot start: --no-sandbox.
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, chromiumSandbox: false, args: QUIET })
  t.teardown(async () => { await browser.close() })
  const context: BrowserContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light', timezoneId: ZONE })
  const page: Page = await context.newPage()
  page.setDefaultTimeout(20_000)
  const requests: Recorded[] = []
  const problems: string[] = []
  context.on('request', r => { requests.push({ url: r.url(), auth: r.headers().authorization }) })
  // The API refusals the flows cause on purpose (a wrong token, a route deleted meanwhile):
  // Chromium logs each failed fetch as a console error, which is expected for these alone.
  const refused: string[] = []
  const expectedRefusals = new Set<string>()
  page.on('response', r => { if (r.status() >= 400) refused.push(`${r.status()} ${r.request().method()} ${r.url()}`) })
  page.on('console', m => {
    if (m.type() !== 'error' && m.type() !== 'warning') return
    if (m.text().startsWith('Failed to load resource') && [...expectedRefusals].some(x => x.endsWith(` ${m.location().url}`))) return
    problems.push(`console ${m.type()}: ${m.text()} (${m.location().url})`)
  })
  page.on('pageerror', err => { problems.push(`page error: ${err.message}`) })
  page.on('requestfailed', r => { problems.push(`request failed: ${r.url()} ${r.failure()?.errorText ?? ''}`) })

  let width = 1280
  const shots: string[] = []
  /** A full-page screenshot; with `top`, only that many pixels from the top (a long list). */
  const shot = async (name: string, top?: number): Promise<void> => {
    const path = join(SHOTS, `${name}-${width}.png`)
    await page.screenshot({ path, fullPage: true, clip: top === undefined ? undefined : { x: 0, y: 0, width, height: top } })
    shots.push(path)
  }
  const heading = async (name: string | RegExp): Promise<void> => { await page.getByRole('heading', { level: 1, name }).waitFor() }
  const checkLabels = async (t: Test, where: string): Promise<void> => { t.same(await page.evaluate(UNLABELLED), [], `${where}: every control has a name`) }
  const checkContrast = async (t: Test, where: string): Promise<void> => { t.same(await page.evaluate(LOW_CONTRAST), [], `${where}: text contrast at least WCAG AA`) }
  const rewrite = async (routeId: string): Promise<any> => (await api(port, 'POST', '/v1/rewrite', token, { route_id: routeId, from: 'news@acme.example', to: ['r@example.com'], subject: 'Spring', html: '<p><a href="https://shop.example/spring">Spring sale</a></p>' })).body

  await t.test('sign in with a team token: kept in sessionStorage, sent as a bearer header, never in a URL', async t => {
    await page.goto(`${origin}/`)
    await heading('Sign in')
    await checkLabels(t, 'sign-in')
    await checkContrast(t, 'sign-in')
    await shot('signin')
    expectedRefusals.add(`401 GET ${origin}/v1/projects`)
    await page.getByLabel('Team API token').fill('ct_not_a_real_token')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByText('This token was not accepted').waitFor()
    t.equal(await page.evaluate('sessionStorage.getItem("clicktrail.token")'), null, 'a refused token is not kept')
    await page.getByLabel('Team API token').fill(token)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await heading('Projects')
    t.equal(await page.evaluate('sessionStorage.getItem("clicktrail.token")'), token, 'kept in sessionStorage')
    t.equal(await page.evaluate('localStorage.length'), 0, 'nothing in localStorage')
    t.same(await context.cookies(), [], 'no cookie')
    t.notOk(page.url().includes(token), 'not in the page URL')
    t.ok(requests.some(r => r.url === `${origin}/v1/projects` && r.auth === `Bearer ${token}`), 'sent as a bearer header')
    await page.getByRole('link', { name: 'My project' }).waitFor()
    await checkContrast(t, 'projects')
    await shot('projects')
  })

  await t.test('projects → routes: each route with its type and Track Clicks state', async t => {
    await page.getByRole('link', { name: 'My project' }).click()
    await heading('My project')
    const row = (id: string): ReturnType<Page['locator']> => page.locator(`tr[data-route="${id}"]`)
    await row(tx.route_id).waitFor()
    t.match(await row(tx.route_id).innerText(), /Transactional[\s\S]*Transactional[\s\S]*On/)
    t.match(await row(broadcast.route_id).innerText(), /Broadcast[\s\S]*Broadcast[\s\S]*On/)
    t.match(await row(inbound.route_id).innerText(), /Replies[\s\S]*Inbound[\s\S]*Not available \(inbound\)/)
    await checkLabels(t, 'routes')
    await checkContrast(t, 'routes')
    await shot('routes')
  })

  await t.test('route settings: Track Clicks off and Save → the API has it off, and a rewrite leaves links untracked', async t => {
    t.same((await rewrite(tx.route_id)).tracking, { enabled: true, reason: 'route_setting' }, 'tracked before')
    await page.getByRole('link', { name: 'Transactional' }).click()
    await heading('Route settings')
    const sw = page.getByRole('switch', { name: 'Track Clicks' })
    t.ok(await sw.isChecked(), 'on, as the API has it')
    await sw.uncheck()
    await page.getByText('Unsaved change').waitFor()
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByText('Saved. Track Clicks is off for this route.').waitFor()
    t.equal((await api(port, 'GET', `/v1/routes/${tx.route_id}`, token)).body.track_clicks, false, 'the API shows it off')
    const off = await rewrite(tx.route_id)
    t.same(off.tracking, { enabled: false, reason: 'route_setting' })
    t.match(off.links, [{ tracked: false, reason: 'tracking_disabled' }])
    t.equal(off.messages[0].html, '<p><a href="https://shop.example/spring">Spring sale</a></p>', 'the link is left as it was')
    await checkLabels(t, 'route settings')
    await checkContrast(t, 'route settings')
    await shot('route-settings')
  })

  await t.test('and on again with the keyboard alone', async t => {
    const sw = page.getByRole('switch', { name: 'Track Clicks' })
    await sw.focus()
    await page.keyboard.press('Space')
    t.ok(await sw.isChecked(), 'Space turns the switch on')
    await page.keyboard.press('Tab')
    t.equal(await page.evaluate('document.activeElement.textContent'), 'Save', 'Tab reaches Save')
    await page.keyboard.press('Enter')
    await page.getByText('Saved. Track Clicks is on for this route.').waitFor()
    t.equal((await api(port, 'GET', `/v1/routes/${tx.route_id}`, token)).body.track_clicks, true, 'the API shows it on')
    const on = await rewrite(tx.route_id)
    t.same(on.tracking, { enabled: true, reason: 'route_setting' })
    t.match(on.messages[0].html, /href="http:\/\/pacme\.t\.localhost:8080\/c\/[A-Za-z0-9_-]+"/, 'tracked again')
  })

  await t.test('an inbound route shows the switch disabled, with the reason', async t => {
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'My project' }).click()
    await page.getByRole('link', { name: 'Replies' }).click()
    await heading('Route settings')
    const sw = page.getByRole('switch', { name: 'Track Clicks' })
    await sw.waitFor()
    t.ok(await sw.isDisabled(), 'the switch is disabled')
    t.notOk(await sw.isChecked())
    const described = await sw.getAttribute('aria-describedby')
    t.match(await page.locator(`#${described ?? 'none'}`).innerText(), /Not available: this is an inbound route/, 'the reason is its description')
    t.ok(await page.getByRole('button', { name: 'Save' }).isDisabled(), 'nothing to save')
    await shot('route-inbound')
  })

  await t.test('saving shows the API\'s error', async t => {
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'My project' }).click()
    await page.getByRole('link', { name: 'Broadcast' }).click()
    await heading('Route settings')
    await page.getByRole('switch', { name: 'Track Clicks' }).waitFor()
    t.equal((await api(port, 'DELETE', `/v1/routes/${broadcast.route_id}`, token)).status, 204, 'the route is deleted meanwhile')
    expectedRefusals.add(`404 PATCH ${origin}/v1/routes/${broadcast.route_id}`)
    await page.getByRole('switch', { name: 'Track Clicks' }).uncheck()
    await page.getByRole('button', { name: 'Save' }).click()
    const alert = page.getByRole('alert')
    await alert.getByText('Not saved: route not found (CT_ERR_NOT_FOUND)').waitFor()
    t.pass('the API\'s message and code are shown')
  })

  let webhookId = ''
  await t.test('webhooks: create (the secret shown once), edit, send test → its delivery with status, redeliver', async t => {
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'My project' }).click()
    await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Webhooks' }).click()
    await page.getByText('No webhook yet.').waitFor()
    await page.getByLabel('Endpoint URL').fill(rx.url)
    t.ok(await page.getByLabel('message.clicked').isChecked(), 'message.clicked is chosen by default')
    await page.getByRole('button', { name: 'Create webhook' }).click()
    const secret = await page.locator('#webhook-secret').innerText()
    t.match(secret, /^whsec_[A-Za-z0-9+/=]{40,}$/, 'the signing secret is shown')
    const listed = (await api(port, 'GET', `/v1/projects/${pid}/webhooks`, token)).body.data
    t.equal(listed.length, 1)
    t.equal(listed[0].url, rx.url)
    t.equal(listed[0].include_machine_events, false)
    webhookId = listed[0].webhook_id
    await page.getByRole('link', { name: rx.url }).waitFor()
    await checkLabels(t, 'webhooks')
    await checkContrast(t, 'webhooks')
    await shot('webhooks')
    await page.getByRole('button', { name: 'I have stored it' }).click()
    t.equal(await page.locator('#webhook-secret').count(), 0, 'the secret is gone once dismissed')

    await page.getByRole('link', { name: rx.url }).click()
    await heading('Webhook')
    const machine = page.getByLabel('Include machine events')
    t.notOk(await machine.isChecked())
    await machine.check()
    await page.getByRole('button', { name: 'Save' }).click()
    await page.getByText('Saved.', { exact: true }).waitFor()
    t.equal((await api(port, 'GET', `/v1/webhooks/${webhookId}`, token)).body.include_machine_events, true, 'the API has include_machine_events on')
    t.same((await api(port, 'GET', `/v1/webhooks/${webhookId}`, token)).body.events, ['message.clicked'])
    t.notOk(await page.content().then(html => html.includes(secret)), 'the secret is not shown again')

    await page.getByRole('button', { name: 'Send test' }).click()
    const delivered = page.locator('table.deliveries tbody tr').filter({ hasText: 'HTTP 200 · delivered' })
    await delivered.first().waitFor()
    const got = await rx.waitFor(1)
    t.equal(got.length, 1, 'the receiver got the test event')
    const eventId = JSON.parse(got[0].body).id as string
    t.equal(await delivered.first().getAttribute('data-event'), eventId, 'the delivery shown is the test event')
    await checkLabels(t, 'webhook')
    await checkContrast(t, 'webhook')
    await shot('webhook')

    await page.getByRole('button', { name: `Redeliver event ${eventId}` }).first().click()
    await page.getByText(`Event ${eventId} queued again`).waitFor()
    await rx.waitFor(2)
    t.equal(rx.received.length, 2, 'redelivered')
    t.equal(JSON.parse(rx.received[1].body).id, eventId, 'the same event id')
    await until('the redelivery in the table', async () => await page.locator(`table.deliveries tbody tr[data-event="${eventId}"]`).count() === 2, 20_000)
    t.pass('both attempts are listed')
  })

  await t.test('custom tracking domains with their verification state', async t => {
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'My project' }).click()
    await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Tracking domains' }).click()
    await page.getByText('No custom tracking domain yet.').waitFor()
    await page.getByLabel('Hostname').fill('links.acme.example')
    await page.getByRole('button', { name: 'Add domain' }).click()
    const card = page.locator('li[data-domain="links.acme.example"]')
    await card.waitFor()
    t.match(await card.innerText(), /Pending verification/)
    t.match(await card.innerText(), /CNAME[\s\S]*links\.acme\.example[\s\S]*pacme\.t\.localhost/, 'the CNAME to publish')
    t.match(await card.innerText(), /TXT/, 'or the TXT record')
    // The test engine's DNS server is a closed port: the check ends without a verification.
    await page.getByRole('button', { name: 'Check now: links.acme.example' }).click()
    await page.getByText(/^links\.acme\.example: (Pending verification|Verification failed)\./).waitFor()
    await checkLabels(t, 'domains')
    await checkContrast(t, 'domains')
    await shot('domains')
  })

  // ---- analytics and recent clicks (POST /v1/analytics, GET /v1/projects/{id}/clicks) ----

  const analytics = async (body: unknown): Promise<any> => {
    const r = await api(port, 'POST', '/v1/analytics', token, body)
    if (r.status !== 200) throw new Error(`analytics ${r.status} ${r.raw}`)
    return r.body
  }
  /** The page's query as the test builds it from the controls' values: an independent copy. */
  const controls = async (): Promise<{ from: string, to: string, timezone: string, interval: string }> => ({
    from: await page.getByLabel('From', { exact: true }).inputValue(),
    to: await page.getByLabel('To', { exact: true }).inputValue(),
    timezone: await page.getByLabel('Time zone', { exact: true }).inputValue(),
    interval: await page.getByLabel('Interval', { exact: true }).inputValue()
  })
  const seriesQuery = (c: { from: string, to: string, timezone: string, interval: string }, filters: unknown[] = []): unknown => ({
    metrics: ['human_clicks', 'machine_clicks', 'clicks_events', 'human_click_rate'],
    from: c.from,
    to: c.to,
    timezone: c.timezone,
    interval: c.interval,
    include: ['summary', 'time_series'],
    compare: 'previous_period',
    filters: [{ dimension: 'project', operator: 'eq', values: [pid] }, ...filters]
  })
  /** What the chart holds: its data attribute (what uPlot was given) and its table's rows. */
  const drawn = async (): Promise<{ points: number[][], rows: Array<[string, number, number]> }> => ({
    points: JSON.parse(await page.locator('#chart-table').getAttribute('data-points') ?? '[]'),
    rows: await page.locator('#chart-table tbody tr').evaluateAll(trs => trs.map(tr => [tr.getAttribute('data-from') ?? '', Number(tr.children[1].textContent), Number(tr.children[2].textContent)] as [string, number, number]))
  })
  /** Waits until the chart shows the API's answer to `query`, and says whether it matched. */
  const chartShows = async (t: Test, query: unknown, what: string): Promise<any> => {
    const answer = await analytics(query)
    const pts = answer.data.time_series as Array<{ from: string, metrics: Record<string, number> }>
    const want = {
      points: [pts.map(p => Date.parse(p.from) / 1000), pts.map(p => p.metrics.human_clicks), pts.map(p => p.metrics.machine_clicks)],
      rows: pts.map(p => [p.from, p.metrics.human_clicks, p.metrics.machine_clicks])
    }
    let got: unknown
    try {
      await until(what, async () => { got = await drawn(); return JSON.stringify(got) === JSON.stringify(want) }, 15_000, 100)
    } catch { /* t.same below says how they differ */ }
    t.same(got, want, `${what}: the chart's data and its table are the API's answer`)
    return answer
  }
  const tableRows = async (id: string): Promise<string[][]> => await page.locator(`section[data-table="${id}"] tbody tr`).evaluateAll(trs => trs.map(tr => [...tr.children].map(td => (td.textContent ?? '').trim())))
  let analyticsRequests: any[] = []
  page.on('request', r => { if (r.url() === `${origin}/v1/analytics`) analyticsRequests.push(JSON.parse(r.postData() ?? '{}')) })
  // Analytics requests not answered yet: a page left with one in flight would abort it.
  let inFlight = 0
  page.on('request', r => { if (r.url() === `${origin}/v1/analytics`) inFlight++ })
  const settled = (r: { url: () => string }): void => { if (r.url() === `${origin}/v1/analytics`) inFlight-- }
  page.on('requestfinished', settled)
  page.on('requestfailed', settled)
  const quiet = async (): Promise<void> => { await until('no analytics request in flight', () => inFlight === 0, 15_000, 20) }

  await t.test('analytics: seeded clicks in the chart (the API\'s numbers), the summary and the tables', async t => {
    await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Analytics' }).click()
    await page.locator('#chart-table tbody tr').first().waitFor({ state: 'attached' })
    const c = await controls()
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: ZONE }).format(new Date())
    t.same(c, { from: new Date(Date.parse(`${today}T00:00:00Z`) - 29 * DAY).toISOString().slice(0, 10), to: today, timezone: ZONE, interval: 'day' }, 'the last 30 days in the browser\'s zone, by day')
    const answer = await chartShows(t, seriesQuery(c), 'by day')
    const pts = answer.data.time_series
    t.equal(pts.length, 30, '30 points')
    t.ok(pts.some((p: any) => p.metrics.human_clicks > 0) && pts.some((p: any) => p.metrics.machine_clicks > 0), 'people and machines both drawn')
    t.equal(answer.data.summary.metrics.human_clicks, new Set(seeded.clicks.filter(x => x.counts_for_metrics).map(x => x.message_id)).size, 'every seeded recipient clicking is counted')
    const canvas = page.locator('.chart canvas')
    t.ok((await canvas.count()) > 0 && ((await canvas.first().boundingBox())?.width ?? 0) > 600, 'uPlot drew its canvas across the panel')
    t.equal(await page.locator('.chart').getAttribute('aria-hidden'), 'true', 'the canvas is hidden from assistive technology; the table carries the numbers')
    t.equal(await page.getByRole('table', { name: /Clicks per day, unique recipients/ }).count(), 1, 'the chart\'s table is in the accessibility tree, named by its caption')

    const s = answer.data.summary
    t.equal(await page.locator('.stat[data-metric="human_clicks"] .stat-value').innerText(), s.metrics.human_clicks.toLocaleString('en-US'))
    t.equal(await page.locator('.stat[data-metric="machine_clicks"] .stat-value').innerText(), s.metrics.machine_clicks.toLocaleString('en-US'))
    t.match(await page.locator('.stat[data-metric="human_clicks"] .stat-prev').innerText(), `previous period: ${String(s.previous.metrics.human_clicks)}`, 'the previous period beside it')

    const base = { from: c.from, to: c.to, timezone: c.timezone, filters: [{ dimension: 'project', operator: 'eq', values: [pid] }] }
    const table = (groupBy: string[]): unknown => ({ ...base, metrics: ['clicks', 'human_clicks', 'machine_clicks'], group_by: groupBy, include: ['breakdown'], sort: { metric: 'clicks', direction: 'desc' }, limit: 10 })
    for (const [id, groupBy] of [['links', ['destination_url']], ['tags', ['tag']], ['campaigns', ['metadata.campaign']], ['devices', ['device_type']], ['clients', ['client_name']], ['classes', ['classification', 'reason_code']]] as Array<[string, string[]]>) {
      const rows = (await analytics(table(groupBy))).data.breakdown as Array<{ dimensions: Record<string, unknown>, metrics: Record<string, number> }>
      t.ok(rows.length > 0, `${id}: rows`)
      const shown = await tableRows(id)
      t.same(shown.map(r => r.slice(-3).map(Number)), rows.map(r => [r.metrics.human_clicks, r.metrics.machine_clicks, r.metrics.clicks]), `${id}: the numbers of the API's breakdown, in its order`)
      if (id === 'links') t.same(shown.map(r => r[0]), rows.map(r => r.dimensions.destination_url), 'links: the destinations')
      if (id === 'classes') {
        const pairs = await page.locator('section[data-table="classes"] tbody tr').evaluateAll(trs => trs.map(tr => [tr.querySelector('button')?.textContent ?? '', tr.querySelector('.sub')?.textContent ?? '']))
        t.same(pairs, rows.map(r => [({ genuine: 'Person', privacy_proxy: 'Privacy proxy', security_scanner: 'Security scanner', link_preview: 'Link preview', generic_bot: 'Bot' } as Record<string, string>)[String(r.dimensions.classification)], r.dimensions.reason_code ?? 'no reason code']), 'classes: each classification with its reason code')
        t.ok(pairs.some(r => r[0] === 'Security scanner' && r[1] === 'scanner_network'), 'classes: a scanner\'s reason code')
      }
    }
    await checkLabels(t, 'analytics')
    await checkContrast(t, 'analytics')
    await shot('analytics')
  })

  await t.test('analytics: a row becomes a filter chip (keyboard), the chip changes every query, removing it restores them', async t => {
    const c = await controls()
    analyticsRequests = []
    const welcome = page.locator('section[data-table="tags"]').getByRole('button', { name: 'Filter by Tag welcome' })
    await welcome.focus()
    await page.keyboard.press('Enter')
    const chip = page.getByRole('button', { name: 'Remove filter Tag: welcome' })
    await chip.waitFor()
    const tagFilter = { dimension: 'tag', operator: 'eq', values: ['welcome'] }
    await chartShows(t, seriesQuery(c, [tagFilter]), 'tag welcome')
    t.equal(analyticsRequests.length, 7, 'the chart and the six tables asked again')
    t.ok(analyticsRequests.every(b => JSON.stringify(b.filters.slice(1)) === JSON.stringify([tagFilter])), 'each with the chip\'s filter')
    const tags = await tableRows('tags')
    t.same(tags.map(r => r[0]), ['welcome'], 'the tags table has the one tag left')

    // A second chip from the classification table, by mouse on the row.
    await page.locator('section[data-table="classes"] tbody tr').filter({ hasText: 'Security scanner' }).first().locator('td').last().click()
    await page.getByRole('button', { name: /^Remove filter Classification: Security scanner/ }).waitFor()
    await page.getByRole('button', { name: /^Remove filter Reason code: / }).waitFor()
    await checkLabels(t, 'analytics with chips')
    await page.locator('div[aria-busy="false"]').waitFor()
    await shot('analytics-chips')

    await chip.focus()
    await page.keyboard.press('Enter')
    await page.getByRole('button', { name: 'Remove filter Tag: welcome' }).waitFor({ state: 'detached' })
    t.equal(await page.evaluate('document.activeElement.id'), 'chips-title', 'focus stays in the filter bar')
    for (const name of await page.locator('button.chip').evaluateAll(bs => bs.map(b => b.getAttribute('aria-label') ?? ''))) {
      await page.getByRole('button', { name }).click()
      await page.getByRole('button', { name }).waitFor({ state: 'detached' })
    }
    await page.getByText('None. Select a row in a table below to filter by it.').waitFor()
    await chartShows(t, seriesQuery(c), 'no filter again')
  })

  await t.test('analytics: the question is kept in the URL: a reload or a copied link shows the same chips, range, zone and interval; junk in it is ignored', async t => {
    const entries = await page.evaluate('history.length')
    await page.getByLabel('Interval', { exact: true }).selectOption('hour')
    await page.getByLabel('Time zone', { exact: true }).selectOption('UTC')
    await page.locator('section[data-table="tags"]').getByRole('button', { name: 'Filter by Tag welcome' }).click()
    await page.getByRole('button', { name: 'Remove filter Tag: welcome' }).waitFor()
    const before = await controls()
    const hash = await page.evaluate('location.hash') as string
    const q = new URLSearchParams(hash.slice(hash.indexOf('?') + 1))
    t.equal(hash.slice(0, hash.indexOf('?')), `#/projects/${pid}/analytics`, 'the page\'s path, then its question')
    t.same(JSON.parse(q.get('filters') ?? 'null'), [['tag', 'welcome']], 'the chip in the URL')
    t.same({ from: q.get('from'), to: q.get('to'), tz: q.get('tz'), interval: q.get('interval') }, { from: before.from, to: before.to, tz: 'UTC', interval: 'hour' })
    t.equal(await page.evaluate('history.length'), entries, 'no history entry per change')
    // Nothing in flight when the page goes (an aborted request would be a failed request).
    await quiet()
    analyticsRequests = []
    await page.reload()
    await page.getByRole('button', { name: 'Remove filter Tag: welcome' }).waitFor()
    t.same(await controls(), before, 'the same range, zone and interval after a reload')
    await chartShows(t, seriesQuery(before, [{ dimension: 'tag', operator: 'eq', values: ['welcome'] }]), 'the reloaded chart')
    t.ok(analyticsRequests.length >= 7 && analyticsRequests.every(b => b.filters.some((f: any) => f.dimension === 'tag')), 'every query asked again with the chip')

    // A link with junk in its question: each bad part is ignored, the page asks its defaults.
    await quiet()
    await page.goto(`${origin}/#/projects/${pid}/analytics?from=2026-13-99&to=x&tz=Mars%2FBase&interval=week&filters=%5Bnot%20json`)
    await page.locator('section[data-table="classes"] tbody tr').first().waitFor()
    await page.getByText('None. Select a row in a table below to filter by it.').waitFor()
    const fallback = await controls()
    t.equal(fallback.interval, 'day', 'an unknown interval: by day')
    t.equal(fallback.timezone, ZONE, 'an unknown zone: the browser\'s')
    t.equal(await page.getByRole('alert').count(), 0, 'and no error for it')
    const fixed = await page.evaluate('location.hash') as string
    t.notMatch(fixed, /Mars|week|not/, 'the URL says what the page asked')
  })

  await t.test('analytics: interval, date range and time zone controls change the query', async t => {
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: ZONE }).format(new Date())
    const from = new Date(Date.parse(`${today}T00:00:00Z`) - 20 * DAY).toISOString().slice(0, 10)
    const to = new Date(Date.parse(`${today}T00:00:00Z`) - 19 * DAY).toISOString().slice(0, 10)
    await page.getByLabel('Interval', { exact: true }).selectOption('hour')
    await page.getByLabel('From', { exact: true }).fill(from)
    await page.getByLabel('To', { exact: true }).fill(to)
    const c = await controls()
    t.same(c, { from, to, timezone: ZONE, interval: 'hour' })
    const hours = await chartShows(t, seriesQuery(c), 'two days by the hour')
    t.equal(hours.data.time_series.length, 48, '48 hours')
    t.equal(hours.meta.timezone, ZONE)
    await page.getByLabel('Time zone', { exact: true }).selectOption('UTC')
    const utc = await chartShows(t, seriesQuery({ ...c, timezone: 'UTC' }), 'the same days in UTC')
    t.equal(utc.data.time_series[0].from, `${from}T00:00:00.000Z`, 'UTC midnight')
    t.not(hours.data.time_series[0].from, utc.data.time_series[0].from, 'Amsterdam\'s midnight is another instant')
    await page.getByLabel('From', { exact: true }).fill(new Date(Date.parse(`${to}T00:00:00Z`) - 100 * DAY).toISOString().slice(0, 10))
    await page.getByRole('alert').getByText('Choose at most 90 days').waitFor()
    t.pass('over 90 days is refused on the page')
    // Back to the default range, by day, in the browser's zone.
    await page.getByLabel('Time zone', { exact: true }).selectOption(ZONE)
    await page.getByLabel('Interval', { exact: true }).selectOption('day')
    await page.getByLabel('To', { exact: true }).fill(today)
    await page.getByLabel('From', { exact: true }).fill(new Date(Date.parse(`${today}T00:00:00Z`) - 29 * DAY).toISOString().slice(0, 10))
    await chartShows(t, seriesQuery(await controls()), 'back to 30 days')
  })

  let messageId = ''
  await t.test('recent clicks: newest first, the API\'s rows; the switch adds machine events; older pages', async t => {
    await page.getByRole('navigation', { name: 'Project sections' }).getByRole('link', { name: 'Recent clicks' }).click()
    await page.locator('table.clicks tbody tr').first().waitFor()
    const ids = async (): Promise<string[]> => await page.locator('table.clicks tbody tr').evaluateAll(trs => trs.map(tr => tr.getAttribute('data-event') ?? ''))
    const people = (await api(port, 'GET', `/v1/projects/${pid}/clicks?order=newest&per_page=50`, token)).body
    t.same(await ids(), people.data.map((x: any) => x.event_id), 'people\'s clicks, newest first, as the API lists them')
    const times = people.data.map((x: any) => Date.parse(x.timestamp))
    t.same(times, [...times].sort((a: number, b: number) => b - a), 'newest first')
    const firstRow = page.locator('table.clicks tbody tr').first()
    const top = people.data[0]
    const text = await firstRow.innerText()
    t.match(text, top.recipient)
    t.match(text, top.destination_url)
    t.match(text, /Person/)
    t.match(text, `${String(top.bot.probability)} %`)
    t.match(text, top.first_click ? /Yes/ : /No/)
    await checkLabels(t, 'recent clicks')
    await checkContrast(t, 'recent clicks')

    const sw = page.getByRole('switch', { name: 'Include machine events' })
    t.notOk(await sw.isChecked())
    await sw.focus()
    await page.keyboard.press('Space')
    const all = (await api(port, 'GET', `/v1/projects/${pid}/clicks?order=newest&per_page=50&include_machine_events=true`, token)).body
    await until('machine events listed', async () => JSON.stringify(await ids()) === JSON.stringify(all.data.map((x: any) => x.event_id)), 15_000, 100)
    t.pass('with machine events: the API\'s first page')
    const scanner = page.locator('table.clicks tbody tr').filter({ hasText: 'Security scanner' }).first()
    t.match(await scanner.innerText(), /scanner_network[\s\S]*head_request/, 'a scanner with its reason codes')
    t.match(await scanner.innerText(), /90 %/, 'and its probability')
    t.ok(all.meta.next_cursor !== null, `more than one page (${seeded.clicks.length} clicks)`)
    await page.getByRole('button', { name: 'Show older clicks' }).click()
    const second = (await api(port, 'GET', all.meta.next_cursor_url, token)).body
    await until('the older page appended', async () => (await ids()).length === all.data.length + second.data.length, 15_000, 100)
    t.same(await ids(), [...all.data, ...second.data].map((x: any) => x.event_id), 'the next page below the first')
    await shot('clicks', 1400)
    messageId = top.message_id

    // The range control: the last 7 days; the page's rows are the API's answer to the page's own request.
    const asked = page.waitForRequest(r => r.url().includes(`/v1/projects/${pid}/clicks?`))
    await page.getByLabel('Range', { exact: true }).selectOption('7')
    const url = new URL((await asked).url())
    const span = Date.parse(url.searchParams.get('to') ?? '') - Date.parse(url.searchParams.get('from') ?? '')
    t.equal(span, 7 * DAY, 'the request asks for seven days')
    t.ok(Math.abs(Date.parse(url.searchParams.get('to') ?? '') - Date.now()) < 5 * 60_000, 'up to now')
    const week = (await api(port, 'GET', url.pathname + url.search, token)).body
    await until('the week listed', async () => JSON.stringify(await ids()) === JSON.stringify(week.data.map((x: any) => x.event_id)), 15_000, 100)
    t.ok(week.data.length > 0 && week.data.length < all.data.length + second.data.length, `a part of the clicks (${week.data.length})`)
    t.ok(week.data.every((x: any) => Date.parse(x.timestamp) >= Date.parse(url.searchParams.get('from') ?? '')), 'none older than the range')
    await page.getByLabel('Range', { exact: true }).selectOption('30')
    await until('back to 30 days', async () => (await ids())[0] === all.data[0].event_id, 15_000, 100)
  })

  await t.test('a click opens its message: its links with their clicks', async t => {
    // The fixture writes messages and clicks only: the message's links as a rewrite records them,
    // four (indexes 0–3, the fixture's), one of them untracked.
    const sentAt = seeded.messages.find(m => m.message_id === messageId)?.sent_at ?? Date.now()
    await e.store.writer.insert({
      table: 'message_links',
      format: 'JSONEachRow',
      values: [0, 1, 2, 3, 4].map(i => ({ message_id: messageId, sid: project.sid, link_index: i, url: i === 4 ? 'mailto:help@acme.example' : `https://shop.example.com/p/${i}`, anchor_text: i === 4 ? 'Write to us' : `Product ${i}`, tracked: i !== 4, skip_reason: i === 4 ? 'scheme' : '', sent_at: new Date(sentAt).toISOString().slice(0, 19).replace('T', ' '), retention_days: 3650 })),
      clickhouse_settings: { insert_deduplication_token: `links-${messageId}` }
    })
    const row = page.locator(`table.clicks tbody tr[data-message="${messageId}"]`).first()
    await row.getByRole('link').click()
    await heading('Message')
    const events = (await api(port, 'GET', `/v1/messages/${messageId}/events?include_machine_events=true&per_page=1000`, token)).body.data as any[]
    const byLink = new Map<number, any[]>()
    for (const ev of events) byLink.set(ev.link_index, [...(byLink.get(ev.link_index) ?? []), ev])
    await page.locator('li[data-link]').first().waitFor()
    t.same(await page.locator('li[data-link]').evaluateAll(ls => ls.map(l => Number(l.getAttribute('data-link')))), [0, 1, 2, 3, 4], 'every link of the message, clicked or not')
    const links = (await api(port, 'GET', `/v1/messages/${messageId}/links`, token)).body.data as any[]
    t.equal(links.length, 5, 'as GET /v1/messages/{id}/links lists them')
    for (const l of links) t.match(await page.locator(`li[data-link="${String(l.link_index)}"]`).innerText(), l.anchor_text, `link ${String(l.link_index)}: its text`)
    t.match(await page.locator('li[data-link="4"]').innerText(), /Not tracked \(scheme\)/, 'the untracked link says so')
    for (const i of [0, 1, 2, 3].filter(i => !byLink.has(i))) t.match(await page.locator(`li[data-link="${i}"]`).innerText(), /No click yet/, `link ${i}: not clicked`)
    for (const [index, list] of byLink) {
      const card = page.locator(`li[data-link="${index}"]`)
      t.match(await card.innerText(), list[0].destination_url)
      t.match(await card.innerText(), `${list.filter(x => x.bot.counts_for_metrics).length} by people`)
      t.match(await card.innerText(), `${list.filter(x => !x.bot.counts_for_metrics).length} by machines`)
      t.same(await card.locator('tbody tr').evaluateAll(trs => trs.map(tr => tr.getAttribute('data-event'))), list.map(x => x.event_id), `link ${index}: its clicks, oldest first`)
    }
    t.match(await page.locator('dl.facts').innerText(), events[0].recipient)
    await checkLabels(t, 'message')
    await checkContrast(t, 'message')
    await shot('message')
    await page.getByRole('navigation', { name: 'Breadcrumb' }).getByRole('link', { name: 'Recent clicks' }).click()
    await page.locator('table.clicks tbody tr').first().waitFor()
  })

  /** [name, hash, h1, what shows that its data is in (the page fetches after the hash changes)]. */
  const pages: Array<[string, string, string, string?]> = [
    ['projects', '#/', 'Projects'],
    ['routes', `#/projects/${pid}`, 'My project'],
    ['route-settings', `#/projects/${pid}/routes/${tx.route_id}`, 'Route settings'],
    ['webhook', `#/projects/${pid}/webhooks/${webhookId}`, 'Webhook'],
    ['domains', `#/projects/${pid}/domains`, 'My project'],
    ['analytics', `#/projects/${pid}/analytics`, 'My project', 'section[data-table="classes"] tbody tr'],
    ['clicks', `#/projects/${pid}/clicks`, 'My project', 'table.clicks tbody tr'],
    ['message', `#/projects/${pid}/messages/${messageId}`, 'Message', 'li[data-link]']
  ]

  await t.test('in the dark scheme too, text keeps its contrast', async t => {
    await page.emulateMedia({ colorScheme: 'dark' })
    for (const [name, hash, title, ready] of pages) {
      await page.goto(`${origin}/${hash}`)
      await heading(title)
      if (ready !== undefined) await page.locator(ready).first().waitFor()
      await page.waitForLoadState('networkidle')
      await checkContrast(t, `${name} (dark)`)
      if (name === 'analytics') await shot('analytics-dark')
    }
    await shot('domains-dark')
    await page.emulateMedia({ colorScheme: 'light' })
  })

  await t.test('at 390 and 360 px: no page scrolls sideways', async t => {
    for (const w of [390, 360]) {
      width = w
      await page.setViewportSize({ width: w, height: 844 })
      for (const [name, hash, title, ready] of pages) {
        await page.goto(`${origin}/${hash}`)
        await heading(title)
        if (ready !== undefined) await page.locator(ready).first().waitFor()
        await page.waitForLoadState('networkidle')
        const scroll = await page.evaluate('document.documentElement.scrollWidth') as number
        t.ok(scroll <= w, `${name} at ${w} px: ${scroll} px wide`, { wider: scroll > w ? await page.evaluate(`${WIDER}(${w})`) : [] })
        if (w === 390) await shot(name, name === 'clicks' ? 1800 : undefined)
      }
    }
    width = 1280
    await page.setViewportSize({ width: 1280, height: 900 })
  })

  await t.test('sign out forgets the token', async t => {
    await page.getByRole('button', { name: 'Sign out' }).click()
    await heading('Sign in')
    t.equal(await page.evaluate('sessionStorage.getItem("clicktrail.token")'), null)
  })

  await t.test('no console error, and no request left the dashboard\'s origin', async t => {
    t.same(problems, [], 'no console error or warning, no failed request')
    t.same(refused.sort(), [...expectedRefusals].sort(), 'no answer but the two refusals caused on purpose was an error')
    const elsewhere = requests.filter(r => new URL(r.url).origin !== origin)
    t.same(elsewhere.map(r => r.url), [], 'every request went to the Team API listener')
    t.notOk(requests.some(r => r.url.includes(token)), 'the token is in no URL')
    const paths = new Set(requests.map(r => new URL(r.url).pathname))
    t.same([...paths].filter(p => /^\/v\d/.test(p) && !p.startsWith('/v1/')), [], 'the pages call the public /v1 API only')
    t.ok(paths.has('/vendor/preact.mjs') && paths.has('/vendor/htm.mjs'), 'preact and htm came from this server')
  })

  await t.test('recipient pages on a 390 px phone: laid out for the phone, their CSP holds, nothing echoed', async t => {
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 })
    t.teardown(async () => { await phone.close() })
    const p = await phone.newPage()
    const seen: string[] = []
    const errors: string[] = []
    phone.on('request', r => { seen.push(r.url()) })
    const documents = new Set<string>()
    // The documents' own 404 and 403 are logged as failed loads: expected for them alone.
    p.on('console', m => { if ((m.type() === 'error' || m.type() === 'warning') && !(m.text().startsWith('Failed to load resource') && documents.has(m.location().url))) errors.push(m.text()) })
    const redirect = `http://pacme.t.localhost:${e.port}`
    const marker = 'ECHO-marker-4711'
    documents.add(`${redirect}/c/${marker}`)
    const res = await p.goto(`${redirect}/c/${marker}`)
    t.equal(res?.status(), 404)
    // Without a viewport meta tag a phone lays the page out 980 px wide and shrinks it (~40 %).
    t.equal(await p.evaluate('window.innerWidth'), 390, 'laid out at the phone\'s width')
    t.equal(await p.evaluate('document.documentElement.lang'), 'en')
    t.ok(parseFloat(await p.evaluate('getComputedStyle(document.querySelector("h1")).fontSize') as string) >= 20, 'a heading that reads on a phone')
    t.notOk((await p.content()).includes(marker), 'nothing of the request is echoed')
    t.same(await p.evaluate(LOW_CONTRAST), [], 'contrast')
    await p.screenshot({ path: join(SHOTS, 'link-not-found-390.png'), fullPage: true })
    shots.push(join(SHOTS, 'link-not-found-390.png'))

    const adminToken = readFileSync(join(e.dataDir, 'admin-token'), 'utf8').trim()
    t.equal((await api(e.admin.port, 'POST', '/blocks', adminToken, { kind: 'host', value: 'evil.example', reason: 'test' })).status, 201)
    const phish = new URL(e.track('acme', 'https://login.evil.example/account'))
    await until('the block applies', async () => (await request(e.port, { path: phish.pathname, host: phish.host })).status === 403, 10_000)
    documents.add(`${redirect}${phish.pathname}`)
    const blocked = await p.goto(`${redirect}${phish.pathname}`)
    t.equal(blocked?.status(), 403)
    t.match(await p.locator('h1').innerText(), /This link has been disabled/)
    t.equal(await p.evaluate('window.innerWidth'), 390)
    t.notOk((await p.content()).includes('evil'), 'the destination is not shown')
    await p.screenshot({ path: join(SHOTS, 'link-blocked-390.png'), fullPage: true })
    shots.push(join(SHOTS, 'link-blocked-390.png'))
    t.same(errors, [], 'no console error: the inline style is the one the CSP allows')
    t.same(seen.filter(u => new URL(u).origin !== redirect), [], 'the pages load nothing else')
    t.equal(seen.length, 2, 'one request per page, nothing else')
  })

  t.comment(`screenshots: ${shots.map(s => s.slice(SHOTS.length + 1)).join(', ')} in ${SHOTS}`)
})
