import t from 'tap'
import { randomUUID } from 'node:crypto'
import { rewriteHtml } from '../../src/rewrite/html.js'
import { honeypotMarkup } from '../../src/rewrite/honeypot.js'
import { HONEYPOT_LINK_INDEX, mintToken } from '../../src/token/codec.js'
import { trackedUrl } from '../../src/token/tracked-url.js'
import { BASE_URL, corpus, decodeTracked, isTrackingHost, realMint, ring, SENT_AT, SID, trackedUrlsIn } from './helpers.js'

// The route option honeypot_link: exactly one extra link, nothing else changed; off changes nothing.

function honeypotMint (messageId: string) {
  return (url: string): string => trackedUrl(BASE_URL, SID, mintToken(ring, { sid: SID, messageId, linkIndex: HONEYPOT_LINK_INDEX, sentAt: SENT_AT, url }, { honeypot: true }))
}

const HONEYPOT_A = /<a href="([^"]+)" tabindex="-1" aria-hidden="true" style="display:none;mso-hide:all;[^"]*"><\/a>/g

t.test('corpus: on adds exactly one link right after <body>, the rest byte for byte as with it off', async t => {
  for (const { name, html } of corpus()) {
    const messageId = randomUUID()
    const off = await rewriteHtml(html, { isTrackingHost, mint: realMint(messageId) })
    const offExplicit = await rewriteHtml(html, { isTrackingHost, mint: realMint(messageId), honeypot: false })
    const on = await rewriteHtml(html, { isTrackingHost, mint: realMint(messageId), mintHoneypot: honeypotMint(messageId) })
    t.equal(offExplicit.html, off.html, `${name}: off is the rewriter as before`)
    t.notOk(off.honeypot, `${name}: off adds none`)
    t.same(on.links, off.links, `${name}: the link table is unchanged (the honeypot is no link of the message)`)
    const tracked = off.links.filter(l => l.tracked)
    if (tracked.length === 0) {
      t.equal(on.html, off.html, `${name}: no tracked link, no honeypot`)
      t.notOk(on.honeypot)
      continue
    }
    t.ok(on.honeypot, `${name}: honeypot added`)
    const found = [...on.html.matchAll(HONEYPOT_A)]
    t.equal(found.length, 1, `${name}: exactly one honeypot`)
    const markup = found[0][0]
    t.equal(on.html.replace(markup, ''), off.html, `${name}: removing it gives the document with the option off, byte for byte`)
    t.equal(trackedUrlsIn(on.html).length, trackedUrlsIn(off.html).length + 1, `${name}: one more tracked URL`)
    // Right after the <body …> start tag.
    const at = on.html.indexOf(markup)
    t.match(on.html.slice(0, at), /<body[^>]*>$/i, `${name}: right after <body>`)
    // Its token verifies by itself and says it is the honeypot; it carries the first tracked destination.
    const v = decodeTracked(found[0][1])
    t.equal(v.linkIndex, HONEYPOT_LINK_INDEX)
    t.equal(v.messageId, messageId)
    t.equal(v.url, tracked[0].url, `${name}: it carries the first tracked link's destination`)
  }
})

t.test('accessibility: not focusable, hidden from assistive technology, no content, hidden in Outlook too', async t => {
  const m = honeypotMarkup('https://pacme42.t.example.net/c/AAAA')
  t.match(m, /^<a /)
  t.match(m, / tabindex="-1"/, 'not in the tab order')
  t.match(m, / aria-hidden="true"/, 'not in the accessibility tree')
  t.match(m, /style="display:none;mso-hide:all;/, 'no box: display:none, and mso-hide:all for Outlook\'s Word engine')
  t.match(m, /><\/a>$/, 'no content: no text, no image, nothing for a screen reader to read')
  t.notMatch(m, /title=|aria-label=|alt=/, 'no accessible name either')
})

t.test('placement without <body>: right before the first link; with a <body> in a comment, the real one', async t => {
  const id = randomUUID()
  const frag = '<p>Hello <a href="https://example.com/a">A</a> <a href="https://example.com/b">B</a></p>'
  const r = await rewriteHtml(frag, { isTrackingHost, mint: realMint(id), mintHoneypot: honeypotMint(id) })
  t.match(r.html, /^<p>Hello <a href="[^"]+" tabindex="-1" aria-hidden="true"[^>]*><\/a><a href=/, 'before the first link, inside the content')
  const doc = '<!DOCTYPE html><html><head><!-- <body> --><title>x</title></head><body class="b" style="margin:0"><div><a href="https://example.com/a">A</a></div></body></html>'
  const d = await rewriteHtml(doc, { isTrackingHost, mint: realMint(id), mintHoneypot: honeypotMint(id) })
  t.match(d.html, /^<!DOCTYPE html><html><head><!-- <body> --><title>x<\/title><\/head><body class="b" style="margin:0"><a href="[^"]+" tabindex="-1"/, 'after the real <body> start tag, the doctype untouched')
  // Tracked links that are all skipped: no honeypot.
  const none = await rewriteHtml('<body><a href="mailto:x@example.com">m</a><a href="#top">t</a></body>', { isTrackingHost, mint: realMint(id), mintHoneypot: honeypotMint(id) })
  t.notOk(none.honeypot)
  t.notMatch(none.html, /tabindex/)
})

t.test('the reserved index is the honeypot\'s alone', async t => {
  const fields = { sid: SID, messageId: randomUUID(), linkIndex: HONEYPOT_LINK_INDEX, sentAt: SENT_AT, url: 'https://example.com/' }
  t.throws(() => mintToken(ring, fields), { code: 'CT_ERR_TOKEN_FIELDS' }, 'a real link cannot be minted with it')
  t.type(mintToken(ring, fields, { honeypot: true }), 'string')
  t.type(mintToken(ring, { ...fields, linkIndex: HONEYPOT_LINK_INDEX - 1 }), 'string', 'every index below it is a real link\'s')
})
