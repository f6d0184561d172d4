import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { request as httpRequest } from 'node:http'
import { startTestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { request } from '../helpers/http.js'
import { bootstrap } from '../../src/control/bootstrap.js'

// POST /v1/rewrite and /v1/rewrite/mime through the real Team API, the real worker pool,
// the real redirect server and the real embedded ClickHouse.
const CORPUS = join(import.meta.dirname, '..', '..', '..', 'shared', 'corpus', 'emails')
const emails = readdirSync(CORPUS).filter(f => f.endsWith('.html')).sort()

function postRaw (port: number, path: string, token: string, body: Buffer): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path, headers: { authorization: `Bearer ${token}`, 'content-type': 'message/rfc822', 'content-length': String(body.length) }, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }) })
    })
    req.on('error', reject)
    req.end(body)
  })
}

t.test('rewriting through the Team API', async t => {
  const e = await startTestEngine(t)
  const port = e.api!.port
  const { token, routes, project } = e.team!
  const tx = routes[0].route_id

  await t.test('every corpus email: tracked links redirect to exactly the decoded original, per recipient', async t => {
    t.ok(emails.length >= 5, `${emails.length} corpus emails`)
    let followed = 0
    for (const file of emails) {
      const html = readFileSync(join(CORPUS, file), 'utf8')
      const r = await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'news@acme.example', to: ['a@example.com', 'b@example.com'], subject: file, html, tag: 'corpus', metadata: { file } })
      t.equal(r.status, 200, file)
      t.same(r.body.tracking, { enabled: true, reason: 'route_setting' })
      t.equal(r.body.messages.length, 2)
      const [a, b] = r.body.messages
      t.not(a.message_id, b.message_id, 'one message id per recipient')
      const tracked = r.body.links.filter((l: { tracked: boolean }) => l.tracked)
      if (tracked.length > 0) t.not(a.html, b.html, `${file}: each recipient has their own tokens`)
      const hrefs = [...a.html.matchAll(/href="(http:\/\/p[a-z0-9]+\.t\.localhost:8080\/c\/[A-Za-z0-9_-]+)"/g)].map(m => m[1])
      t.ok(hrefs.length >= tracked.length, `${file}: ${tracked.length} tracked links in the html`)
      // Follow each distinct tracked href once: the Location must be one of the tracked originals.
      const originals = new Set(tracked.map((l: { url: string }) => l.url))
      for (const href of [...new Set(hrefs)].slice(0, 25)) {
        const u = new URL(href)
        const res = await request(e.port, { path: u.pathname, host: u.host })
        t.equal(res.status, 302)
        const location = res.headers.location as string
        t.ok(originals.has(location) || [...originals].some(o => new URL(o as string).href === location), `${file}: ${location.slice(0, 60)} is an original`)
        followed++
      }
    }
    t.ok(followed >= 10, `${followed} tracked links followed`)
  })

  await t.test('the tracking decision: route, per-email override, inbound never', async t => {
    const html = '<p><a href="https://example.com/download?a=1&amp;b=2">Download</a> <a href="mailto:x@example.com">mail</a></p>'
    const off = await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'a@acme.example', to: ['r@example.com'], subject: 'Your download link', html, settings: { track_clicks: false } })
    t.same(off.body.tracking, { enabled: false, reason: 'per_email_override' })
    t.equal(off.body.messages[0].html, html, 'untouched')
    t.match(off.body.links, [{ index: 0, url: 'https://example.com/download?a=1&b=2', anchor_text: 'Download', tracked: false, reason: 'tracking_disabled' }, { index: 1, tracked: false, reason: 'mailto' }])
    const quiet = await api(port, 'POST', `/v1/projects/${project.project_id}/routes`, token, { name: 'quiet', type: 'broadcast' })
    const routeOff = await api(port, 'POST', '/v1/rewrite', token, { route_id: quiet.body.route_id, from: 'a@acme.example', to: ['r@example.com'], html })
    t.same(routeOff.body.tracking, { enabled: false, reason: 'route_setting' })
    const forced = await api(port, 'POST', '/v1/rewrite', token, { route_id: quiet.body.route_id, from: 'a@acme.example', to: ['r@example.com'], html, settings: { track_clicks: true } })
    t.same(forced.body.tracking, { enabled: true, reason: 'per_email_override' })
    t.match(forced.body.messages[0].html, /href="http:\/\/p[a-z0-9]+\.t\.localhost:8080\/c\//)
    t.match(forced.body.messages[0].html, /href="mailto:x@example.com"/)
    const inbound = await api(port, 'POST', `/v1/projects/${project.project_id}/routes`, token, { name: 'in', type: 'inbound' })
    const never = await api(port, 'POST', '/v1/rewrite', token, { route_id: inbound.body.route_id, from: 'a@acme.example', to: ['r@example.com'], html, settings: { track_clicks: true } })
    t.same(never.body.tracking, { enabled: false, reason: 'inbound_route' })
    t.equal(never.body.messages[0].html, html)
  })

  await t.test('rewritten messages are recorded in ClickHouse', async t => {
    const r = await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'a@acme.example', to: ['rec1@example.com', 'rec2@example.com'], subject: 'Recorded', html: '<a href="https://example.com/x">X</a><a href="https://example.com/y"><img alt="Why"></a>', tag: 'rec', metadata: { 'X-Campaign-ID': 'c1' } })
    const ids = r.body.messages.map((m: { message_id: string }) => m.message_id)
    const deadline = Date.now() + 10_000
    let rows: Array<Record<string, unknown>> = []
    while (Date.now() < deadline) {
      rows = await (await e.store!.reader.query({ query: `SELECT toString(message_id) AS id, recipient, subject, tag, metadata, link_count FROM messages WHERE message_id IN ('${ids.join("','")}') ORDER BY recipient`, format: 'JSONEachRow' })).json()
      if (rows.length === 2) break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    t.same(rows.map(x => [x.recipient, x.subject, x.tag, x.metadata, x.link_count]), [['rec1@example.com', 'Recorded', 'rec', { 'X-Campaign-ID': 'c1' }, 2], ['rec2@example.com', 'Recorded', 'rec', { 'X-Campaign-ID': 'c1' }, 2]])
    // The links have their own batched writer: they may land a moment after the messages.
    let links: unknown[] = []
    while (Date.now() < deadline + 10_000) {
      links = await (await e.store!.reader.query({ query: `SELECT link_index, url, anchor_text, tracked FROM message_links WHERE message_id = '${ids[0]}' ORDER BY link_index`, format: 'JSONEachRow' })).json()
      if (links.length === 2) break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    t.same(links, [{ link_index: 0, url: 'https://example.com/x', anchor_text: 'X', tracked: true }, { link_index: 1, url: 'https://example.com/y', anchor_text: 'Why', tracked: true }])
  })

  await t.test('bad input: 400 with the field named, 404 unknown or foreign route, 413', async t => {
    const missing = await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'a@x.example', to: ['r@example.com'] })
    t.equal(missing.status, 400)
    t.match(missing.body.error.message, /html/)
    const noTo = await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'a@x.example', to: [], html: '' })
    t.equal(noTo.status, 400)
    t.equal((await api(port, 'POST', '/v1/rewrite', token, { route_id: '00000000-0000-4000-8000-000000000000', from: 'a', to: ['b'], html: '' })).status, 404)
    const other = await bootstrap(e.plane!, { sid: 'foreign' })
    t.equal((await api(port, 'POST', '/v1/rewrite', other.token, { route_id: tx, from: 'a', to: ['b'], html: '' })).status, 404, 'another team\'s route is not found')
    const big = await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'a', to: ['b'], html: 'x'.repeat(11 * 1024 * 1024) })
    t.equal(big.status, 413)
    const broken = await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'a', to: ['b'], html: '<a href="https://example.com/ok">ok<div><<<a href=\'https://example.com/two\'>two</p></table>' })
    t.equal(broken.status, 200, 'broken markup is rewritten as well as lol-html can')
    t.equal(broken.body.links.filter((l: { tracked: boolean }) => l.tracked).length, 2)
  })

  await t.test('MIME: override header honoured and removed, other parts untouched', async t => {
    const html = '<html><body><a href="https://example.com/mime?x=1&amp;y=2">Go</a></body></html>'
    const pdf = Buffer.from('%PDF-1.4 fake attachment').toString('base64')
    const raw = (override?: string): Buffer => Buffer.from([
      'From: News <news@acme.example>',
      'To: Sam <sam@example.com>',
      'Subject: =?UTF-8?B?SGVsbG8g8J+Ykw==?=',
      'MIME-Version: 1.0',
      ...(override === undefined ? [] : [`X-LM-Override-Track-Clicks: ${override}`]),
      'Content-Type: multipart/mixed; boundary="outer"',
      '',
      '--outer',
      'Content-Type: multipart/alternative; boundary="inner"',
      '',
      '--inner',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'Go: https://example.com/mime?x=1&y=2',
      '--inner',
      'Content-Type: text/html; charset=utf-8',
      'Content-Transfer-Encoding: quoted-printable',
      '',
      html.replace(/=/g, '=3D'),
      '--inner--',
      '--outer',
      'Content-Type: application/pdf; name="a.pdf"',
      'Content-Transfer-Encoding: base64',
      '',
      pdf,
      '--outer--',
      ''
    ].join('\r\n'))
    const tracked = await postRaw(port, `/v1/rewrite/mime?route_id=${tx}`, token, raw())
    t.equal(tracked.status, 200)
    t.match(tracked.headers['x-clicktrail-tracking'], /^on; route_setting/)
    const text = tracked.body.toString('latin1')
    t.match(text, /p[a-z0-9]+\.t\.localhost:8080\/c\//, 'the html part is tracked')
    t.match(text, /Go: https:\/\/example\.com\/mime\?x=1&y=2/, 'the plain-text part is untouched')
    t.ok(text.includes(pdf), 'the attachment is untouched')
    t.ok(text.startsWith('From: News <news@acme.example>\r\nTo: Sam <sam@example.com>\r\n'), 'headers untouched')
    const off = await postRaw(port, `/v1/rewrite/mime?route_id=${tx}`, token, raw('false'))
    t.match(off.headers['x-clicktrail-tracking'], /^off; per_email_override/)
    t.notMatch(off.body.toString('latin1'), /X-LM-Override-Track-Clicks/i, 'the override header is consumed')
    t.equal(off.body.toString('latin1'), raw().toString('latin1'), 'not tracked: the message is the original minus the header')
    t.equal((await postRaw(port, '/v1/rewrite/mime', token, raw())).status, 400, 'route_id is required')
  })
})
