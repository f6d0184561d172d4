import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { request as httpRequest } from 'node:http'
import { randomUUID } from 'node:crypto'
import { startTestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { request } from '../helpers/http.js'
import { bootstrap } from '../../src/control/projects.js'
import { CORPUS_DIR } from '../rewrite/helpers.js'

// POST /v1/rewrite and /v1/rewrite/mime through the real Team API, the real worker pool,
// the real redirect server and the real embedded ClickHouse.
const CORPUS = CORPUS_DIR
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
  const port = e.api.port
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
      rows = await (await e.store.reader.query({ query: `SELECT toString(message_id) AS id, recipient, subject, tag, metadata, link_count FROM messages WHERE message_id IN ('${ids.join("','")}') ORDER BY recipient`, format: 'JSONEachRow' })).json()
      if (rows.length === 2) break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    t.same(rows.map(x => [x.recipient, x.subject, x.tag, x.metadata, x.link_count]), [['rec1@example.com', 'Recorded', 'rec', { 'X-Campaign-ID': 'c1' }, 2], ['rec2@example.com', 'Recorded', 'rec', { 'X-Campaign-ID': 'c1' }, 2]])
    // The links have their own batched writer: they may land a moment after the messages.
    let links: unknown[] = []
    while (Date.now() < deadline + 10_000) {
      links = await (await e.store.reader.query({ query: `SELECT link_index, url, anchor_text, tracked FROM message_links WHERE message_id = '${ids[0]}' ORDER BY link_index`, format: 'JSONEachRow' })).json()
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
    const other = await bootstrap(e.plane, { sid: 'foreign' })
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

  /** Rows of `query` once there are `n` of them (the batched writers flush about every second). */
  const rowsOf = async (query: string, params: Record<string, unknown>, n: number): Promise<Array<Record<string, any>>> => {
    const deadline = Date.now() + 20_000
    let rows: Array<Record<string, any>> = []
    while (Date.now() < deadline) {
      rows = await (await e.store.reader.query({ query, query_params: params, format: 'JSONEachRow' })).json()
      if (rows.length >= n) break
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    return rows
  }
  const links = (n: number, pad = ''): string => Array.from({ length: n }, (_, i) => `<a href="https://s.example/p/${i}">${pad}L${i}</a>\n`).join('')
  const recipients = (n: number): string[] => Array.from({ length: n }, (_, i) => `r${i}@example.com`)

  await t.test('the work one request may ask for is bounded, each bound with its own code, checked before the work', async t => {
    const send = async (to: string[], html: string, text?: string): Promise<{ status: number, code?: string, ms: number }> => {
      const started = Date.now()
      const r = await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'a@acme.example', to, html, ...(text === undefined ? {} : { text }) })
      return { status: r.status, code: r.body?.error?.code, ms: Date.now() - started }
    }
    // The issue's two requests: 1,000 recipients × 600 KB (an answer past V8's string limit
    // ended the process) and 20,000 links × 50 recipients (918 KB; stalled redirects 1.5 s).
    const huge = await send(recipients(1000), `<p>${'x'.repeat(600 * 1024)}</p>${links(10)}`)
    t.match(huge, { status: 413, code: 'CT_ERR_REWRITE_OUTPUT_TOO_LARGE' }, '1,000 × 600 KB: refused before any work')
    const many = links(20_000)
    t.ok(many.length > 900_000 && many.length < 940_000, `${many.length} bytes of html`)
    t.match(await send(recipients(50), many), { status: 422, code: 'CT_ERR_REWRITE_TOO_MANY_LINKS' }, '20,000 links')
    t.match(await send(recipients(1000), links(101)), { status: 422, code: 'CT_ERR_REWRITE_TOO_MANY_TOKENS' }, '101 links × 1,000 recipients')
    t.match(await send(recipients(1001), links(1)), { status: 422, code: 'CT_ERR_REWRITE_TOO_MANY_RECIPIENTS' })
    // Under the floor (html × recipients) but over once the tokens are in: refused by the
    // worker after the first copy, not after all of them.
    t.match(await send(recipients(1000), `<p>${'x'.repeat(60_000)}</p>${links(90)}`), { status: 413, code: 'CT_ERR_REWRITE_OUTPUT_TOO_LARGE' }, '1,000 × 61 KB + tokens')
    t.match(await send(recipients(1000), links(1), 'y'.repeat(70_000)), { status: 413, code: 'CT_ERR_REWRITE_OUTPUT_TOO_LARGE' }, 'the text counts too')
    // The largest accepted: 100 links × 1,000 recipients = the 100,000-token bound.
    const big = await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'a@acme.example', to: recipients(1000), html: links(100) })
    t.equal(big.status, 200)
    t.equal(big.headers['content-type'], 'application/json')
    t.equal(big.body.messages.length, 1000)
    t.equal(big.body.links.length, 100)
    t.equal(new Set(big.body.messages.map((m: { message_id: string }) => m.message_id)).size, 1000)
    t.equal((big.body.messages[999].html.match(/\/c\//g) ?? []).length, 100, 'every link of the last copy tracked')
    const mime = Buffer.from(`From: a@acme.example\r\nTo: b@example.com\r\nSubject: many\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${links(5001)}`)
    const refusedMime = await postRaw(port, `/v1/rewrite/mime?route_id=${tx}`, token, mime)
    t.equal(refusedMime.status, 422)
    t.equal(JSON.parse(refusedMime.body.toString()).error.code, 'CT_ERR_REWRITE_TOO_MANY_LINKS', 'MIME: links over all parts')
    const ok = await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'a@acme.example', to: ['after@example.com'], html: links(3) })
    t.equal(ok.status, 200, 'and the next request is served')
  })

  await t.test('a lone surrogate in any JSON field is refused, naming the field; decoded text gets U+FFFD and its rows land', async t => {
    const base = { route_id: tx, from: 'a@acme.example', to: ['s@example.com'], subject: 'ok', html: '<a href="https://example.com/ok">ok</a>' }
    const cases: Array<[string, string]> = [
      ['subject', JSON.stringify({ ...base, subject: 'hi @' }).replace('hi @', 'hi \\ud800')],
      ['tag', JSON.stringify({ ...base, tag: '@' }).replace('"tag":"@"', '"tag":"\\udc00x"')],
      ['metadata.k', JSON.stringify({ ...base, metadata: { k: '@' } }).replace('"k":"@"', '"k":"v\\ud800"')],
      ['metadata.\ufffdk', JSON.stringify({ ...base, metadata: { '@k': 'v' } }).replace('"@k"', '"\\ud800k"')],
      ['from', JSON.stringify({ ...base, from: '@' }).replace('"from":"@"', '"from":"\\ud800@x.example"')],
      ['to.0', JSON.stringify({ ...base, to: ['@'] }).replace('"to":["@"]', '"to":["\\udfff@example.com"]')],
      ['html', JSON.stringify({ ...base, html: '<a href="https://example.com/@">x</a>' }).replace('/@', '/\\ud800')],
      ['html', JSON.stringify({ ...base, html: '<a href="https://example.com/">@</a>' }).replace('>@<', '>\\ud800<')],
      ['text', JSON.stringify({ ...base, text: '@' }).replace('"text":"@"', '"text":"\\ud800"')]
    ]
    for (const [field, body] of cases) {
      t.ok(body.includes('\\u'), `${field}: the body carries the escape`)
      const r = await api(port, 'POST', '/v1/rewrite', token, body)
      t.equal(r.status, 400, field)
      t.equal(r.body.error.code, 'CT_ERR_VALIDATION')
      t.equal(r.body.error.details.field, field, `the field is named: ${field}`)
    }
    // A pair is one character: accepted, stored as it is.
    const emoji = await api(port, 'POST', '/v1/rewrite', token, JSON.stringify({ ...base, subject: '@' }).replace('"subject":"@"', '"subject":"hi \\ud83d\\ude00"'))
    t.equal(emoji.status, 200)
    // Character references to a surrogate decode to U+FFFD (HTML's rule), in anchor text and alt.
    const refs = await api(port, 'POST', '/v1/rewrite', token, { ...base, html: '<a href="https://example.com/r1">a&#xD800;b</a><a href="https://example.com/r2"><img alt="&#55296;alt"></a><a href="https://example.com/r3&#xDC00;">c</a>' })
    t.equal(refs.status, 200)
    t.same(refs.body.links.map((l: { anchor_text: string }) => l.anchor_text), ['a\ufffdb', '\ufffdalt', 'c'])
    const id = refs.body.messages[0].message_id
    const emojiId = emoji.body.messages[0].message_id
    const msgs = await rowsOf('SELECT toString(message_id) AS id, subject FROM messages WHERE message_id IN ({ids:Array(UUID)}) ORDER BY subject', { ids: [id, emojiId] }, 2)
    t.same(msgs.map(m => m.subject).sort(), ['hi \u{1F600}', 'ok'].sort(), 'both messages recorded')
    const rows = await rowsOf('SELECT link_index, url, anchor_text, tracked FROM message_links WHERE message_id = {id:UUID} ORDER BY link_index', { id }, 3)
    t.same(rows, [
      { link_index: 0, url: 'https://example.com/r1', anchor_text: 'a\ufffdb', tracked: true },
      { link_index: 1, url: 'https://example.com/r2', anchor_text: '\ufffdalt', tracked: true },
      { link_index: 2, url: 'https://example.com/r3\ufffd', anchor_text: 'c', tracked: true }
    ], 'the rows are in ClickHouse, U+FFFD in place of each surrogate')
  })

  await t.test('MIME: a UTF-16 encoded-word Subject and a UTF-16 html part with lone surrogates are recorded with U+FFFD', async t => {
    // A UTF-16BE part: an href with a lone surrogate (refused at mint: invalid_url), anchor
    // text with one (U+FFFD in the record), and an ordinary link beside them.
    const html = '<html><body><a href="https://example.com/bad\ud800">bad</a> <a href="https://example.com/good">go \udc00 now</a></body></html>'
    const part = Buffer.from(html, 'utf16le').swap16().toString('base64').replace(/(.{76})/g, '$1\r\n')
    const raw = Buffer.from([
      'From: News <news@acme.example>',
      'To: =?UTF-16BE?B?2ABBAA==?= <u16@example.com>',
      'Subject: =?UTF-16BE?B?2ABBAA==?=',
      'MIME-Version: 1.0',
      'Content-Type: text/html; charset=utf-16be',
      'Content-Transfer-Encoding: base64',
      '',
      part,
      ''
    ].join('\r\n'))
    const r = await postRaw(port, `/v1/rewrite/mime?route_id=${tx}`, token, raw)
    t.equal(r.status, 200)
    t.equal(r.headers['x-clicktrail-links'], '2')
    const id = r.headers['x-clicktrail-message-id'] as string
    const out = r.body.toString('latin1')
    const body = Buffer.from(out.slice(out.indexOf('\r\n\r\n') + 4).replace(/\r\n/g, ''), 'base64').swap16().toString('utf16le')
    t.match(body, /href="https:\/\/example\.com\/bad\ud800"/, 'the refused href is left exactly as written')
    t.match(body, /href="http:\/\/p[a-z0-9]+\.t\.localhost:8080\/c\//, 'the other link is tracked')
    const msgs = await rowsOf('SELECT subject, recipient FROM messages WHERE message_id = {id:UUID}', { id }, 1)
    t.same(msgs, [{ subject: '\ufffd\u4100', recipient: '\ufffd\u4100 <u16@example.com>' }], 'the message row landed, U+FFFD for the lone surrogate')
    const rows = await rowsOf('SELECT link_index, url, anchor_text, tracked, skip_reason FROM message_links WHERE message_id = {id:UUID} ORDER BY link_index', { id }, 2)
    t.same(rows, [
      { link_index: 0, url: 'https://example.com/bad\ufffd', anchor_text: 'bad', tracked: false, skip_reason: 'invalid_url' },
      { link_index: 1, url: 'https://example.com/good', anchor_text: 'go \ufffd now', tracked: true, skip_reason: '' }
    ])
  })

  await t.test('a message id belongs to the project that used it first: another project gets 409, the same one may retry', async t => {
    const other = await bootstrap(e.plane, { sid: 'thief' })
    const otherRoute = other.routes[0].route_id
    const html = '<a href="https://example.com/mine">mine</a>'
    const id = randomUUID()
    const first = await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'a@acme.example', to: ['a@example.com'], html, message_id: id })
    t.equal(first.status, 200)
    const stolen = await api(port, 'POST', '/v1/rewrite', other.token, { route_id: otherRoute, from: 'b@thief.example', to: ['victim@example.com'], subject: 'B', html, message_id: id })
    t.equal(stolen.status, 409)
    t.equal(stolen.body.error.code, 'CT_ERR_MESSAGE_ID_TAKEN')
    t.equal((await api(port, 'POST', '/v1/rewrite', other.token, { route_id: otherRoute, from: 'b@thief.example', to: ['v@example.com'], html, message_id: id.toUpperCase() })).status, 409, 'in any case')
    const retry = await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'a@acme.example', to: ['a@example.com'], html, message_id: id })
    t.equal(retry.status, 200, 'a retried send of the same project')
    // An id recorded before this process started (or by another node): found in `messages`.
    const old = randomUUID()
    await e.store.writer.insert({ table: 'messages', values: [{ message_id: old, sid: project.sid, project_id: project.project_id, route_id: tx, recipient: 'x', sender: 'y', subject: 'earlier', tag: '', metadata: {}, sent_at: Math.floor(Date.now() / 1000), tracking: true, tracking_reason: 'route_setting', link_count: 1 }], format: 'JSONEachRow' })
    const late = await api(port, 'POST', '/v1/rewrite', other.token, { route_id: otherRoute, from: 'b@thief.example', to: ['v@example.com'], html, message_id: old })
    t.equal(late.status, 409, 'an id only ClickHouse knows')
    t.equal((await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'a@acme.example', to: ['a@example.com'], html, message_id: old })).status, 200, 'and its owner may still use it')
    // A race for a new id on one node: one project wins, every request of the other gets 409.
    const fresh = randomUUID()
    const race = await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      const mine = i % 2 === 0
      const r = await api(port, 'POST', '/v1/rewrite', mine ? token : other.token, { route_id: mine ? tx : otherRoute, from: 'r@race.example', to: ['r@example.com'], html, message_id: fresh })
      return { mine, status: r.status }
    }))
    const winners = new Set(race.filter(r => r.status === 200).map(r => r.mine))
    t.equal(winners.size, 1, 'only one project wins')
    t.ok(race.every(r => r.status === 200 || r.status === 409), 'the others get 409')
    t.equal(race.filter(r => r.status === 200).length, 5, 'all requests of the winner pass (retries of one send)')
    // A refused send does not keep the id: the project may use it once the request succeeds.
    const unused = randomUUID()
    t.equal((await api(port, 'POST', '/v1/rewrite', other.token, { route_id: otherRoute, from: 'b@thief.example', to: ['v@example.com'], html: links(5001), message_id: unused })).status, 422)
    t.equal((await api(port, 'POST', '/v1/rewrite', token, { route_id: tx, from: 'a@acme.example', to: ['a@example.com'], html, message_id: unused })).status, 200, 'released after the 422')
  })
})
