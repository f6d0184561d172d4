import t from 'tap'
import { randomUUID } from 'node:crypto'
import { decodeHTMLAttribute } from 'entities'
import { rewriteHtml, scanHtml, renderHtml, type MintFn } from '../../src/rewrite/html.js'
import { ClicktrailError } from '../../src/errors.js'
import { corpus, decodeTracked, isTrackingHost, realMint, trackedUrlsIn } from './helpers.js'

/** [a_href elements (SOURCES.md), of which trackable]. */
const EXPECTED: Record<string, [number, number]> = {
  'antwort-single-column.html': [3, 1],
  'email-boilerplate-seanpowell.html': [1, 1],
  'ghost-newsletter-template.html': [11, 1],
  'leemunroe-email.html': [3, 2],
  'mailchimp-csis-press-release.html': [7, 2],
  'mailchimp-simple-basic.html': [7, 1],
  'mailgun-alert.html': [2, 1], // the second says "Unsubscribe" on a plain URL
  'postmark-welcome.html': [5, 1],
  'sendgrid-dynamic-different-languages.html': [7, 0],
  'sendgrid-dynamic-news-feed.html': [8, 0],
  'sendgrid-paste-digest.html': [3, 2] // the third says "unsubscribe" on a plain URL
}

// An independent (naive) reading of each <a href> raw value, comments removed: good
// enough for the corpus, and shares no code with the rewriter.
const NAIVE_HREF = /<a\s[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi
function naiveHrefs (html: string): string[] {
  return [...html.replace(/<!--[\s\S]*?-->/g, '').matchAll(NAIVE_HREF)].map(m => m[1] ?? m[2] ?? m[3])
}

t.test('corpus: trackable links rewritten, tokens decode to the decoded original, nothing else changes', async t => {
  const files = corpus()
  t.equal(files.length, Object.keys(EXPECTED).length, 'every corpus file has an expectation')
  for (const { name, html } of files) {
    const messageId = randomUUID()
    const r = await rewriteHtml(html, { isTrackingHost, mint: realMint(messageId) })
    const raws = naiveHrefs(html)
    const [total, trackable] = EXPECTED[name]
    t.equal(raws.length, total, `${name}: the naive reading sees ${total} links`)
    t.equal(r.links.length, total, `${name}: ${total} links in the table`)
    t.equal(r.links.filter(l => l.tracked).length, trackable, `${name}: ${trackable} tracked`)
    const urls = trackedUrlsIn(r.html)
    t.equal(urls.length, trackable, `${name}: ${trackable} tracked URLs in the output`)
    let restored = r.html
    let u = 0
    for (const link of r.links) {
      t.equal(link.index, r.links.indexOf(link))
      t.equal(link.url, decodeHTMLAttribute(raws[link.index]).trim(), `${name}#${link.index}: url is the decoded attribute`)
      if (!link.tracked) {
        t.ok(link.reason, `${name}#${link.index}: skipped with a reason`)
        continue
      }
      const href = urls[u++]
      const v = decodeTracked(href)
      t.equal(v.url, link.url, `${name}#${link.index}: token carries exactly the decoded URL`)
      t.equal(v.linkIndex, link.index)
      t.equal(v.messageId, messageId)
      restored = restored.replace(href, raws[link.index])
    }
    t.equal(restored, html, `${name}: byte-identical once the rewritten href values are put back`)
  }
})

t.test('corpus: anchor texts, image alt fallback and reasons', async t => {
  const byName = new Map(corpus().map(f => [f.name, f.html]))
  const get = async (name: string): Promise<Awaited<ReturnType<typeof rewriteHtml>>> =>
    await rewriteHtml(byName.get(name) as string, { isTrackingHost, mint: realMint() })
  const paste = await get('sendgrid-paste-digest.html')
  t.match(paste.links, [
    { index: 0, url: 'https://sendgrid.com', anchor_text: 'Logo', tracked: true },
    { index: 1, anchor_text: 'Read More Awesomeness', tracked: true },
    { index: 2, anchor_text: 'unsubscribe', tracked: false, reason: 'unsubscribe_text' }
  ])
  const postmark = await get('postmark-welcome.html')
  t.match(postmark.links.map(l => [l.anchor_text, l.reason]), [
    ['[Product Name]', undefined], ['Do this Next', 'template_placeholder'], ['email our customer success team', 'mailto'],
    ['live chat', 'template_placeholder'], ['help documentation', 'template_placeholder']
  ])
  const langs = await get('sendgrid-dynamic-different-languages.html')
  t.same(langs.links.map(l => l.reason), ['not_http', 'not_http', 'not_http', 'not_http', 'not_http', 'unsubscribe', 'unsubscribe'])
  t.equal(langs.links[0].anchor_text, 'Facebook', 'image-only social link reads as its alt')
  t.equal(langs.links[5].url, '<%asm_global_unsubscribe_raw_url%>')
  const ghost = await get('ghost-newsletter-template.html')
  t.match(ghost.links[10], { url: 'https://ghost.org/', anchor_text: 'Powered by Ghost', tracked: true })
  t.match(ghost.links[7], { reason: 'mailto' })
  const csis = await get('mailchimp-csis-press-release.html')
  t.match(csis.links[5], { url: 'http://www.CSIS.org', tracked: true })
  t.match(csis.links[6], { reason: 'unsubscribe_text', anchor_text: 'Update preferences/unsubscribe' })
  const lee = await get('leemunroe-email.html')
  t.match(lee.links[2], { url: '#', reason: 'anchor', anchor_text: 'Unsubscribe' })
})

/** Rewrites with a recognisable fake tracked URL, to check the exact output bytes. */
async function fake (html: string, url = (i: number): string => `https://pabc.t.example.net/c/T${i}`): Promise<Awaited<ReturnType<typeof rewriteHtml>>> {
  return await rewriteHtml(html, { isTrackingHost, mint: (i) => url(i) })
}

t.test('attribute quoting, case, spacing and order are kept; only the value changes', async t => {
  const cases: Array<[string, string]> = [
    ['<a href="https://x.com/a">x</a>', '<a href="https://pabc.t.example.net/c/T0">x</a>'],
    ["<a href='https://x.com/a'>x</a>", "<a href='https://pabc.t.example.net/c/T0'>x</a>"],
    ['<a href=https://x.com/a>x</a>', '<a href=https://pabc.t.example.net/c/T0>x</a>'],
    ['<A HREF="HTTP://X.COM/A">x</A>', '<A HREF="https://pabc.t.example.net/c/T0">x</A>'],
    ['<a\n  class=btn   href = "https://x.com/a"\ttarget ="_blank"  mc:disable-tracking >x</a>',
      '<a\n  class=btn   href = "https://pabc.t.example.net/c/T0"\ttarget ="_blank"  mc:disable-tracking >x</a>'],
    ['<a href="https://x.com/a"title="t">x</a>', '<a href="https://pabc.t.example.net/c/T0"title="t">x</a>'],
    ['<a/href="https://x.com/a">x</a>', '<a/href="https://pabc.t.example.net/c/T0">x</a>'],
    ['<a href=https://x.com/a/>x</a>', '<a href=https://pabc.t.example.net/c/T0>x</a>'],
    ['<a href="  https://x.com/a  ">x</a>', '<a href="https://pabc.t.example.net/c/T0">x</a>'],
    ['<a href="https://x.com/1" href="https://x.com/2">x</a>', '<a href="https://pabc.t.example.net/c/T0" href="https://x.com/2">x</a>']
  ]
  for (const [input, output] of cases) {
    const r = await fake(input)
    t.equal(r.html, output, input)
  }
  const r = await fake('<a href=https://x.com/a/>x</a>')
  t.equal(r.links[0].url, 'https://x.com/a/', 'in an unquoted value a slash belongs to the URL')
})

t.test('entities: decoded once for the token, new value escaped for its quotes', async t => {
  const html = '<a href="https://x.com/?a=1&amp;b=2&#38;c=3&#x26;d=&lt;4&gt;&eacute;&copy=5">x</a>'
  const r = await rewriteHtml(html, { isTrackingHost, mint: realMint() })
  t.equal(r.links[0].url, 'https://x.com/?a=1&b=2&c=3&d=<4>é&copy=5')
  const href = trackedUrlsIn(r.html)[0]
  t.equal(decodeTracked(href).url, 'https://x.com/?a=1&b=2&c=3&d=<4>é&copy=5')
  t.equal(r.html, `<a href="${href}">x</a>`)
  // A mint result that needs escaping is written escaped, in every quoting.
  const odd = (): string => 'https://t.example/c?a=1&b="2"\'3\'<>'
  t.equal((await fake('<a href="https://x.com">x</a>', odd)).html, '<a href="https://t.example/c?a=1&amp;b=&quot;2&quot;&#39;3&#39;&lt;&gt;">x</a>')
  t.equal((await fake("<a href='https://x.com'>x</a>", odd)).html, "<a href='https://t.example/c?a=1&amp;b=&quot;2&quot;&#39;3&#39;&lt;&gt;'>x</a>")
  t.equal((await fake('<a href=https://x.com>x</a>', () => 'https://t.example/c?a=1&b=2')).html, '<a href="https://t.example/c?a=1&amp;b=2">x</a>', 'unquoted value that needs quoting gets double quotes')
})

t.test('anchor text: nested tags, entities, whitespace, comments, image alt, cut to a bound', async t => {
  const r = await fake([
    '<a href="https://x.com/1">\n  <span style="x">Hello</span>\n\t<b>big<i> wide</i></b>&nbsp;&amp; <!-- hidden --> world </a>',
    '<a href="https://x.com/2"><img src="a.png" alt=""><img src="b.png" alt="Buy &amp; save"></a>',
    '<a href="https://x.com/3"><img src="c.png"></a>',
    '<a href="https://x.com/4">text <style>.a{}</style><script>var x = "</a>"</script>after</a>',
    '<a href="https://x.com/5">one<a href="https://x.com/6">two</a>',
    `<a href="https://x.com/7">${'long words '.repeat(500)}</a>`
  ].join(''))
  t.same(r.links.map(l => l.anchor_text.slice(0, 40)), [
    'Hello big wide & world', 'Buy & save', '', 'text after', 'one', 'two', 'long words long words long words long wo'
  ])
  t.equal(r.links[6].anchor_text.length, 1024)
})

t.test('data-ct-no-track: link left alone, attribute removed, nothing else touched', async t => {
  const cases: Array<[string, string]> = [
    ['<a data-ct-no-track href="https://x.com/a">x</a>', '<a href="https://x.com/a">x</a>'],
    ['<a href="https://x.com/a" data-ct-no-track>x</a>', '<a href="https://x.com/a">x</a>'],
    ['<a href="https://x.com/a" DATA-CT-NO-TRACK="true" class=c>x</a>', '<a href="https://x.com/a" class=c>x</a>'],
    ['<a href=https://x.com/a data-ct-no-track=1>x</a>', '<a href=https://x.com/a>x</a>'],
    ['<a href="https://x.com/a"data-ct-no-track>x</a>', '<a href="https://x.com/a">x</a>'],
    ['<a href="mailto:a@b.c" data-ct-no-track>x</a>', '<a href="mailto:a@b.c">x</a>']
  ]
  for (const [input, output] of cases) {
    const r = await fake(input)
    t.equal(r.html, output, input)
    t.equal(r.links[0].tracked, false)
    t.equal(r.links[0].reason, 'opt_out')
  }
})

t.test('links lol-html does not see as <a href> are neither counted nor touched', async t => {
  const html = [
    '<!doctype html><html><head><title><a href="https://x.com/t"></title>',
    '<style>a[href="https://x.com/s"]{}</style><script>document.write(\'<a href="https://x.com/j">\')</script></head>',
    '<body><!-- <a href="https://x.com/c">commented</a> --><textarea><a href="https://x.com/ta"></textarea>',
    '<link href="https://x.com/l" rel=stylesheet><area href="https://x.com/area"><a name=top>no href</a>',
    '<a href="https://x.com/real">real</a></body></html>'
  ].join('')
  const r = await fake(html)
  t.equal(r.links.length, 1)
  t.equal(r.links[0].url, 'https://x.com/real')
  t.equal(r.html, html.replace('https://x.com/real', 'https://pabc.t.example.net/c/T0'))
})

t.test('already tracked links (own host or custom domain) are not wrapped again', async t => {
  const html = '<a href="https://pacme42.t.example.net/c/AQ">a</a><a href="https://track.acme.com/c/AQ">b</a><a href="https://pxyz.t.example.net/c/AQ">c</a>'
  const r = await fake(html)
  t.same(r.links.map(l => l.reason), ['already_tracked', 'already_tracked', 'already_tracked'])
  t.equal(r.html, html)
})

t.test('non-ASCII text around links keeps its place (UTF-16 and UTF-8 offsets differ)', async t => {
  const html = '<p>Grüße — 日本語 😀 <a href="https://x.com/ü?q=ß">Über 😀</a> ∑ <a href=\'https://x.com/2\'>zwei</a> Ω</p>'
  const r = await rewriteHtml(html, { isTrackingHost, mint: realMint() })
  const urls = trackedUrlsIn(r.html)
  t.equal(urls.length, 2)
  t.equal(decodeTracked(urls[0]).url, 'https://x.com/ü?q=ß')
  t.equal(r.links[0].anchor_text, 'Über 😀')
  t.equal(r.html.replace(urls[0], 'https://x.com/ü?q=ß').replace(urls[1], 'https://x.com/2'), html)
  const bytes = await rewriteHtml(Buffer.from(html), { isTrackingHost, mint: realMint() })
  t.equal(bytes.links.length, 2, 'UTF-8 bytes in, same result')
})

t.test('broken markup is rewritten as well as the parser reads it and never throws', async t => {
  const docs = [
    '<a href="https://x.com/1">unclosed <b>bold <a href="https://x.com/2">',
    '<table><tr><td><a href="https://x.com/1">cell</td></tr></table></a></a></a>',
    '<div <a href="https://x.com/1">x</a>',
    '<a href="https://x.com/1"',
    '<a href="https://x.com/1>never closed quote',
    '<<a href="https://x.com/1">>x</a>>',
    '<a href="https://x.com/1"><a href="https://x.com/2"></a></a>',
    '</a><a href=""></a><a href></a><a href=>x</a>',
    '\u0000<a href="https://x.com/\u0000">nul</a>',
    '<svg><a href="https://x.com/svg"><text>svg link</text></a></svg><math><a href="https://x.com/m">m</a></math>',
    '<select><option><a href="https://x.com/o">o</a></select><noscript><a href="https://x.com/n">n</a></noscript>',
    '<![CDATA[<a href="https://x.com/cd">]]><a href="https://x.com/after">after</a>',
    '<!-- unterminated <a href="https://x.com/u">',
    '<plaintext><a href="https://x.com/p">',
    '\ud800 lone surrogate <a href="https://x.com/1">x</a> \udfff',
    '<a href="https://x.com/\ue000ct\ue001">marker collision \ue000ct\ue001</a>'
  ]
  for (const html of docs) {
    const r = await rewriteHtml(html, { isTrackingHost, mint: realMint() })
    let restored = r.html
    for (const l of r.links) {
      if (!l.tracked) continue
      const href = trackedUrlsIn(restored)[0]
      t.equal(decodeTracked(href).url, l.url)
      restored = restored.replace(href, l.url)
    }
    t.equal(restored, html, `${JSON.stringify(html)}: only hrefs changed (${r.links.length} links)`)
  }
})

t.test('VML buttons in Outlook conditional comments share the token of the <a> they duplicate', async t => {
  const button = [
    '<div><!--[if mso]>\n  <v:roundrect xmlns:v="urn:schemas-microsoft-com:vml" href="https://x.com/buy?a=1&amp;b=2" style="height:40px" arcsize="10%" fillcolor="#556270">',
    '<w:anchorlock/><center>Buy</center></v:roundrect>\n<![endif]-->',
    '<a href="https://x.com/buy?a=1&amp;b=2" style="mso-hide:all">Buy</a></div>'
  ].join('')
  const r = await rewriteHtml(button, { isTrackingHost, mint: realMint() })
  const urls = trackedUrlsIn(r.html)
  t.equal(urls.length, 2, 'both the VML and the <a> are rewritten')
  t.equal(urls[0], urls[1], 'with the same tracked URL')
  t.equal(decodeTracked(urls[0]).linkIndex, 0)
  t.equal(r.links.length, 1, 'the VML button is not a link of its own')
  t.same(r.mso, { rewritten: 1, untouched: 0 })
  t.equal(r.html.split(urls[0]).join('https://x.com/buy?a=1&amp;b=2'), button)

  // buttons.cm layout: VML opens before the <a> and closes in a second comment after it
  const wrapped = '<!--[if mso]><v:roundrect href=\'https://x.com/w\'><w:anchorlock/><center><![endif]--><a href="https://x.com/w">W</a><!--[if mso]></center></v:roundrect><![endif]-->'
  const w = await fake(wrapped)
  t.equal(w.html, wrapped.replaceAll('https://x.com/w', 'https://pabc.t.example.net/c/T0'))

  // An Outlook-only <a> in the comment, the real one in the downlevel-revealed branch
  const revealed = '<!--[if mso]><a href="https://x.com/o">O</a><![endif]--><!--[if !mso]><!--><a href="https://x.com/o">O</a><!--<![endif]-->'
  t.equal((await fake(revealed)).html, revealed.replaceAll('https://x.com/o', 'https://pabc.t.example.net/c/T0'))

  // The <a> comes first, then the VML
  const after = '<a href="https://x.com/p">P</a><!--[if mso]><v:rect href="https://x.com/p"></v:rect><![endif]-->'
  t.equal((await fake(after)).html, after.replaceAll('https://x.com/p', 'https://pabc.t.example.net/c/T0'))

  // Different URL, skipped neighbour, ordinary comment, unterminated: left exactly as written
  const untouched = [
    '<!--[if mso]><v:roundrect href="https://x.com/other"></v:roundrect><![endif]--><a href="https://x.com/a">A</a>',
    '<!--[if mso]><v:roundrect href="https://x.com/unsubscribe"></v:roundrect><![endif]--><a href="https://x.com/unsubscribe">U</a>',
    '<!-- <v:roundrect href="https://x.com/b"> --><a href="https://x.com/b">B</a>',
    '<a href="https://x.com/c" data-ct-no-track>C</a><!--[if mso]><v:rect href="https://x.com/c"></v:rect><![endif]-->'
  ]
  for (const html of untouched) {
    const u = await fake(html)
    t.equal(u.mso.rewritten, 0, `VML href left alone: ${html}`)
    const comment = /<!--[\s\S]*?-->/.exec(html)?.[0] as string
    t.ok(u.html.includes(comment), 'comment byte-identical')
  }
  const none = await fake('<style>/*<!--[if mso]><v:x href="https://x.com/s"><![endif]-->*/</style><a href="https://x.com/s">S</a>')
  t.equal(none.mso.rewritten, 0, 'no comment inside raw text is taken for one')
})

t.test('mint failures mark the link invalid_url and leave it as written', async t => {
  const mint: MintFn = (i, url) => {
    if (url.includes('bad')) throw new ClicktrailError('CT_ERR_URL_TOO_LONG')
    return `https://pabc.t.example.net/c/T${i}`
  }
  const r = await rewriteHtml('<a href="https://x.com/bad">b</a><a href="https://x.com/ok">o</a>', { mint })
  t.equal(r.html, '<a href="https://x.com/bad">b</a><a href="https://pabc.t.example.net/c/T1">o</a>')
  t.match(r.links, [{ tracked: false, reason: 'invalid_url', code: 'CT_ERR_URL_TOO_LONG' }, { tracked: true }])
  await t.rejects(rewriteHtml('<a href="https://x.com/">x</a>', { mint: () => { throw new Error('boom') } }), /boom/, 'other errors surface')
})

t.test('one scan, many recipients; firstIndex offsets the link indices', async t => {
  const doc = await scanHtml('<a href="https://x.com/1">1</a> <a href="mailto:a@b.c">m</a> <a href="https://x.com/2">2</a>', { firstIndex: 10 })
  t.same(doc.links.map(l => l.index), [10, 11, 12])
  const a = randomUUID()
  const b = randomUUID()
  const ra = renderHtml(doc, realMint(a))
  const rb = renderHtml(doc, realMint(b))
  t.not(ra.html, rb.html)
  t.same(trackedUrlsIn(ra.html).map(u => [decodeTracked(u).messageId, decodeTracked(u).linkIndex]), [[a, 10], [a, 12]])
  t.same(trackedUrlsIn(rb.html).map(u => [decodeTracked(u).messageId, decodeTracked(u).linkIndex]), [[b, 10], [b, 12]])
})

t.test('documents without links skip the parser; a multi-MB document is rewritten whole', async t => {
  const plain = '<p>no links here, <abbr>only</abbr> <area href="https://x.com/"></p>'
  t.same(await fake(plain), { html: plain, links: [], mso: { rewritten: 0, untouched: 0 }, honeypot: false })
  const pad = 'Ünïcödé text &amp; more text to pad the row out, as product grids in newsletters do. '.repeat(6)
  const block = `<tr><td style="padding:8px">${pad}</td><td><a href="https://x.com/p?id=ID&amp;s=1" style="color:#333">Product ID</a></td></tr>\n`
  let html = '<!doctype html><table>'
  let n = 0
  while (html.length < 3_000_000) html += block.replaceAll('ID', String(n++))
  html += '</table>'
  const r = await fake(html)
  t.equal(r.links.length, n)
  t.ok(r.links.every(l => l.tracked), 'every link tracked')
  t.equal(r.links[n - 1].url, `https://x.com/p?id=${n - 1}&s=1`)
  t.equal(r.links[n - 1].anchor_text, `Product ${n - 1}`)
  const restored = r.html.replace(/https:\/\/pabc\.t\.example\.net\/c\/T(\d+)/g, (_, i: string) => `https://x.com/p?id=${i}&amp;s=1`)
  t.ok(restored === html, 'byte-identical outside href values')
})

t.test('lone surrogates: recorded text is well-formed, a destination holding one is invalid_url and left as written', async t => {
  // Such text only reaches the rewriter from a UTF-16 MIME part (JSON bodies are checked first).
  const html = '<a href="https://example.com/bad\ud800">b\udc00ad</a><a href="https://example.com/ok"><img alt="\ud800alt"></a><a href="https://example.com/ref">x&#xD800;y&#56320;</a><a href="mailto:a\ud800@b">m</a>'
  const out = await rewriteHtml(html, { mint: realMint(), isTrackingHost })
  t.same(out.links.map(l => [l.url, l.anchor_text, l.tracked, l.reason, l.code]), [
    ['https://example.com/bad\ufffd', 'b\ufffdad', false, 'invalid_url', 'CT_ERR_URL_INVALID'],
    ['https://example.com/ok', '\ufffdalt', true, undefined, undefined],
    ['https://example.com/ref', 'x\ufffdy\ufffd', true, undefined, undefined],
    ['mailto:a\ufffd@b', 'm', false, 'mailto', undefined]
  ])
  for (const l of out.links) t.ok((l.url + l.anchor_text as unknown as { isWellFormed: () => boolean }).isWellFormed(), `link ${l.index}: well-formed`)
  t.ok(out.html.startsWith('<a href="https://example.com/bad\ud800">b\udc00ad</a>'), 'the document itself is not altered outside tracked hrefs')
  t.equal(trackedUrlsIn(out.html).length, 2)
})
