import t from 'tap'
import { createHash } from 'node:crypto'
import { startRedirectTestEngine } from '../helpers/engine.js'
import { request } from '../helpers/http.js'
import { MemorySink } from '../../src/records.js'
import { BLOCKED_BODY, NOT_FOUND_BODY, PAGE_CSP } from '../../src/redirect/pages.js'

// The recipient-facing pages of the redirect port (issue 14): readable on a phone, with their
// language, a stylesheet the CSP names by hash and nothing else. The browser test
// (test/dashboard/browser.test.ts) renders them at 390 px.

for (const [name, body] of [['404', NOT_FOUND_BODY], ['blocked', BLOCKED_BODY]] as const) {
  t.test(`the ${name} page`, async t => {
    const html = body.toString('utf8')
    t.match(html, /^<!doctype html><html lang="en">/, 'declares its language')
    t.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/, 'a viewport for phones')
    t.match(html, /<meta charset="utf-8">/)
    t.notMatch(html, /<script|\son[a-z]+=|style=|<link|<img|<form|https?:/i, 'no script, handler, inline style attribute, request or form')
    const styles = [...html.matchAll(/<style>([^<]*)<\/style>/g)].map(m => m[1])
    t.equal(styles.length, 1, 'one stylesheet')
    const hash = createHash('sha256').update(styles[0]).digest('base64')
    t.ok(PAGE_CSP.includes(`style-src 'sha256-${hash}'`), 'the CSP allows exactly that stylesheet')
  })
}

t.test('the CSP lets the pages load nothing', async t => {
  t.match(PAGE_CSP, /^default-src 'none'; /)
  t.match(PAGE_CSP, /frame-ancestors 'none'/)
  t.match(PAGE_CSP, /form-action 'none'/)
  t.notMatch(PAGE_CSP, /unsafe|script-src|https?:/)
})

t.test('the redirect port sends the 404 page with its CSP, echoing nothing', async t => {
  const e = await startRedirectTestEngine(t, {}, new MemorySink())
  const marker = 'ECHO<b>x</b>'
  for (const path of ['/c/garbage', `/c/${encodeURIComponent(marker)}`, `/${encodeURIComponent(marker)}`]) {
    const r = await request(e.port, { path, host: 'pacme.t.localhost:8080' })
    t.equal(r.status, 404, path)
    t.equal(r.body, NOT_FOUND_BODY.toString('utf8'), `${path}: the fixed page`)
    t.equal(r.headers['content-security-policy'], PAGE_CSP)
    t.equal(r.headers['x-content-type-options'], 'nosniff')
  }
})
