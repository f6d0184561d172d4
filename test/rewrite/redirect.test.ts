import t from 'tap'
import { randomUUID } from 'node:crypto'
import { startRedirectTestEngine } from '../helpers/engine.js'
import { request } from '../helpers/http.js'
import { MemorySink } from '../../src/records.js'
import { mintToken } from '../../src/token/codec.js'
import { checkDestination } from '../../src/token/url-policy.js'
import { trackedUrl } from '../../src/token/tracked-url.js'
import { rewriteHtml } from '../../src/rewrite/html.js'
import { trackingHostPredicate } from '../../src/rewrite/links.js'
import { corpus } from './helpers.js'

const ADVERSARIAL = [
  '<a href="https://x.example/?a=1&amp;b=2&#38;c=3&#x26;d=4&eacute;">entities</a>',
  "<A HREF=' HTTPS://X.EXAMPLE/Upper?Q=1 '>upper, single quotes, spaces</A>",
  '<a href=https://x.example/unquoted?x=%20y>unquoted</a>',
  '<a href="https://bücher.example/straße?q=ü#frag">IDN and non-ASCII</a>',
  '<!--[if mso]><v:roundrect href="https://x.example/vml"></v:roundrect><![endif]--><a href="https://x.example/vml">vml</a>'
]

t.test('every rewritten link redirects through the real server to exactly the decoded original', async t => {
  const sink = new MemorySink()
  const e = await startRedirectTestEngine(t, {}, sink)
  const base = e.config.trackingBaseUrl
  const isTrackingHost = trackingHostPredicate(base, e.config.domains.keys())
  const docs = [...corpus().map(c => c.html), ...ADVERSARIAL]
  let checked = 0
  for (const html of docs) {
    const messageId = randomUUID()
    const sentAt = Math.floor(Date.now() / 1000)
    const r = await rewriteHtml(html, {
      isTrackingHost,
      mint: (linkIndex, url) => trackedUrl(base, 'acme', mintToken(e.keys, { sid: 'acme', messageId, linkIndex, sentAt, url }))
    })
    const hrefs = r.html.match(/http:\/\/pacme\.t\.localhost:8080\/c\/[A-Za-z0-9_-]+/g) ?? []
    const tracked = r.links.filter(l => l.tracked)
    t.equal(hrefs.length, tracked.length + r.mso.rewritten)
    // one distinct token per tracked link (a VML button repeats its link's), in link order
    const distinct = [...new Set(hrefs)]
    t.equal(distinct.length, tracked.length)
    for (const [i, link] of tracked.entries()) {
      const u = new URL(distinct[i])
      const reply = await request(e.port, { path: u.pathname, host: u.host, headers: { 'user-agent': 'Mozilla/5.0 test' } })
      t.equal(reply.status, 302, link.url)
      t.equal(reply.headers.location, checkDestination(link.url), `Location is what the browser would have opened for ${link.url}`)
      await e.server.handoff()
      const o = sink.observations.at(-1)
      t.match(o, { sid: 'acme', messageId, linkIndex: link.index, url: link.url }, 'the click is recorded with the author\'s exact URL and the link index')
      checked++
    }
  }
  t.equal(checked, 12 + ADVERSARIAL.length, 'every tracked link of the corpus and of the adversarial cases followed')
})
