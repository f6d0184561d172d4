import t, { type Test } from 'tap'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { startTestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { request } from '../helpers/http.js'
import { Receiver } from '../helpers/receiver.js'
import { until } from '../helpers/wait.js'

// The dashboard (issue 14) in a real browser: Debian's Chromium driven by playwright-core
// (which downloads no browser), against the real engine: Team API, webhooks, redirect port and
// embedded ClickHouse. One browser for the file; one page walks through the flows in order.
// Screenshots go to test-artifacts/screenshots/ (git-ignored).

const CHROMIUM = '/usr/bin/chromium'
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
  const rx = new Receiver()
  await rx.up()
  t.teardown(async () => { await rx.down() })

  // As root (this machine and CI) Chromium's own sandbox cannot start: --no-sandbox.
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, chromiumSandbox: false, args: QUIET })
  t.teardown(async () => { await browser.close() })
  const context: BrowserContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' })
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
  const shot = async (name: string): Promise<void> => {
    const path = join(SHOTS, `${name}-${width}.png`)
    await page.screenshot({ path, fullPage: true })
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

  const pages: Array<[string, string, string]> = [
    ['projects', '#/', 'Projects'],
    ['routes', `#/projects/${pid}`, 'My project'],
    ['route-settings', `#/projects/${pid}/routes/${tx.route_id}`, 'Route settings'],
    ['webhook', `#/projects/${pid}/webhooks/${webhookId}`, 'Webhook'],
    ['domains', `#/projects/${pid}/domains`, 'My project']
  ]

  await t.test('in the dark scheme too, text keeps its contrast', async t => {
    await page.emulateMedia({ colorScheme: 'dark' })
    for (const [name, hash, title] of pages) {
      await page.goto(`${origin}/${hash}`)
      await heading(title)
      await page.waitForLoadState('networkidle')
      await checkContrast(t, `${name} (dark)`)
    }
    await shot('domains-dark')
    await page.emulateMedia({ colorScheme: 'light' })
  })

  await t.test('at 390 and 360 px: no page scrolls sideways', async t => {
    for (const w of [390, 360]) {
      width = w
      await page.setViewportSize({ width: w, height: 844 })
      for (const [name, hash, title] of pages) {
        await page.goto(`${origin}/${hash}`)
        await heading(title)
        await page.waitForLoadState('networkidle')
        const scroll = await page.evaluate('document.documentElement.scrollWidth') as number
        t.ok(scroll <= w, `${name} at ${w} px: ${scroll} px wide`)
        if (w === 390) await shot(name)
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
