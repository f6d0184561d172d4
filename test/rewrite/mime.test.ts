import t from 'tap'
import { randomBytes } from 'node:crypto'
import iconv from 'iconv-lite'
import * as libqp from 'libqp'
import * as libbase64 from 'libbase64'
import { rewriteMime, editHeader, type HtmlPartRewriter } from '../../src/rewrite/mime.js'
import { rewriteHtml, type LinkRecord } from '../../src/rewrite/html.js'
import { corpus, decodeTracked, isTrackingHost, realMint, trackedUrlsIn } from './helpers.js'

const LATIN1_HTML = '<html><body><p>Café crème à la carte — no, that dash is not latin1</p><a href="https://shop.example/caf%C3%A9?a=1&amp;b=2">Voilà</a> <a href="mailto:x@y.z">mail</a></body></html>'
  .replace('—', '-')
const CP1252_HTML = '<p>“Smart quotes” € and ™ in windows-1252</p><a href=\'https://shop.example/w?x=1&y=2\'>Go “now”</a>\n<a href="https://shop.example/unsubscribe">unsub</a>\n'
const PDF = randomBytes(3000)

function qpBody (text: string, charset: string): string {
  return libqp.wrap(libqp.encode(iconv.encode(text, charset)), 76)
}
function b64Body (bytes: Buffer, lineLength = 76): string {
  return libbase64.wrap(libbase64.encode(bytes), lineLength)
}

/** multipart/mixed > (multipart/alternative > text/plain, text/html QP latin1) + text/html base64 cp1252 + PDF. */
function message (eol = '\r\n', override?: string): string {
  return [
    'Received: from relay.example (relay.example [192.0.2.1])',
    '\tby mx.example with ESMTP id 123; Mon, 1 Sep 2025 10:00:00 +0000',
    'From: "Sender" <sender@yourdomain.com>',
    'To: recipient@example.com',
    ...(override === undefined ? [] : [`X-LM-Override-Track-Clicks: ${override}`]),
    'Subject: =?utf-8?q?Caf=C3=A9?=',
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed;',
    ' boundary="==outer=="',
    '',
    'This is a multi-part message in MIME format.',
    '--==outer==',
    'Content-Type: multipart/alternative; boundary="inner"',
    '',
    '--inner',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    'Plain part: https://shop.example/plain <a href="https://shop.example/not-html">',
    '',
    '--inner',
    'Content-Type: text/html; charset="ISO-8859-1"',
    'Content-Transfer-Encoding: quoted-printable',
    '',
    qpBody(LATIN1_HTML, 'iso-8859-1'),
    '--inner--',
    '',
    '--==outer==',
    'Content-Type: text/html; charset=windows-1252',
    'Content-Transfer-Encoding: base64',
    '',
    b64Body(iconv.encode(CP1252_HTML, 'windows-1252')),
    '--==outer==',
    'Content-Type: application/pdf; name="invoice.pdf"',
    'Content-Disposition: attachment; filename="invoice.pdf"',
    'Content-Transfer-Encoding: base64',
    '',
    b64Body(PDF, 60),
    '--==outer==--',
    'epilogue',
    ''
  ].join('\r\n').replace(/\r\n/g, eol)
}

/** The real rewriter, link indices continuing across parts; collects the link tables. */
function realRewriter (tables: LinkRecord[][], messageId?: string): HtmlPartRewriter {
  let next = 0
  const mint = realMint(messageId)
  return async (html) => {
    const r = await rewriteHtml(html, { isTrackingHost, mint, firstIndex: next })
    next += r.links.length
    tables.push(r.links)
    return r.html
  }
}

/** Puts the original hrefs back where tracked URLs are: what the input looked like. */
function restorer (tables: LinkRecord[][], raws: string[][]): HtmlPartRewriter {
  return (html, part) => {
    let out = html
    const urls = trackedUrlsIn(html)
    let u = 0
    tables[part.index].forEach((l, i) => { if (l.tracked) out = out.replace(urls[u++], raws[part.index][i]) })
    return out
  }
}

t.test('nested multipart: HTML parts rewritten in their charset and encoding, everything else byte-identical', async t => {
  const input = Buffer.from(message('\r\n', 'false'), 'latin1')
  const tables: LinkRecord[][] = []
  const r = await rewriteMime(input, realRewriter(tables))
  t.equal(r.override, false)
  t.equal(r.overrideHeader, 'false')
  t.equal(r.htmlParts, 2)
  t.same(r.skippedParts, [])
  t.same(tables.map(tb => tb.map(l => [l.index, l.tracked, l.reason])), [
    [[0, true, undefined], [1, false, 'mailto']],
    [[2, true, undefined], [3, false, 'unsubscribe']]
  ], 'link indices continue across the two HTML parts')
  t.equal(tables[0][0].url, 'https://shop.example/caf%C3%A9?a=1&b=2')
  t.equal(tables[0][0].anchor_text, 'Voilà', 'latin1 decoded')
  t.equal(tables[1][0].anchor_text, 'Go “now”', 'windows-1252 decoded')

  const out = r.raw.toString('latin1')
  const expected = message('\r\n').replace(/\r\n/g, '\n')
  t.notOk(/x-lm-override-track-clicks/i.test(out), 'override header consumed')
  // Every line outside the two HTML bodies is as it was.
  const lines = (s: string): string[] => s.replace(/\r\n/g, '\n').split('\n')
  const outside = (ls: string[]): string[] => {
    const keep: string[] = []
    let skipping = false
    for (const l of ls) {
      if (l === '' && keep.at(-1)?.startsWith('Content-Transfer-Encoding: ') === true && keep.at(-2)?.startsWith('Content-Type: text/html') === true) { skipping = true; keep.push(l); continue }
      if (skipping && l.startsWith('--')) skipping = false
      if (!skipping) keep.push(l)
    }
    return keep
  }
  t.same(outside(lines(out)), outside(lines(expected)), 'headers, framing, text part and attachment unchanged')
  t.ok(r.raw.includes(Buffer.from(b64Body(PDF, 60))), 'attachment body byte-identical (60-column base64 kept)')
  t.ok(out.includes('Plain part: https://shop.example/plain <a href="https://shop.example/not-html">'), 'plain text untouched')

  // Decode the rewritten parts again: tokens carry the exact URLs, text is intact.
  const seen: string[] = []
  await rewriteMime(r.raw, (html) => { seen.push(html); return html })
  t.equal(seen.length, 2)
  const urls0 = trackedUrlsIn(seen[0])
  t.equal(decodeTracked(urls0[0]).url, 'https://shop.example/caf%C3%A9?a=1&b=2')
  t.ok(seen[0].startsWith('<html><body><p>Café crème à la carte'))
  t.equal(decodeTracked(trackedUrlsIn(seen[1])[0]).url, 'https://shop.example/w?x=1&y=2')
  t.equal(decodeTracked(trackedUrlsIn(seen[1])[0]).linkIndex, 2)
  t.ok(seen[1].includes('“Smart quotes” € and ™'))
  t.ok(out.includes('Content-Transfer-Encoding: quoted-printable\r\n\r\n<html><body><p>Caf=E9'), 'still quoted-printable latin1')

  // Putting the original hrefs back gives the original message, byte for byte (the
  // fixtures are encoded the way the rewriter encodes: libqp/libbase64 at 76 columns).
  const raws = [
    ['https://shop.example/caf%C3%A9?a=1&amp;b=2', 'mailto:x@y.z'],
    ['https://shop.example/w?x=1&y=2', 'https://shop.example/unsubscribe']
  ]
  const back = await rewriteMime(r.raw, restorer(tables, raws))
  t.equal(back.raw.toString('latin1'), message('\r\n'), 'round trip is exact')
})

t.test('LF-only messages stay LF-only; soft breaks follow', async t => {
  const input = Buffer.from(message('\n', 'true'), 'latin1')
  const tables: LinkRecord[][] = []
  const r = await rewriteMime(input, realRewriter(tables))
  t.equal(r.override, true)
  t.notOk(r.raw.includes('\r'), 'no CR introduced')
  const raws = [
    ['https://shop.example/caf%C3%A9?a=1&amp;b=2', 'mailto:x@y.z'],
    ['https://shop.example/w?x=1&y=2', 'https://shop.example/unsubscribe']
  ]
  const back = await rewriteMime(r.raw, restorer(tables, raws))
  t.equal(back.raw.toString('latin1'), message('\n'))
})

t.test('the override header: values, case, folding; only the top-level one; always removed', async t => {
  const single = (headers: string[]): Buffer => Buffer.from([
    'From: a@example.com', ...headers, 'Content-Type: text/html; charset=utf-8', '', '<a href="https://x.example/">x</a>', ''
  ].join('\r\n'))
  const cases: Array<[string[], boolean | undefined, string | undefined]> = [
    [['X-LM-Override-Track-Clicks: true'], true, 'true'],
    [['x-lm-override-track-clicks:FALSE'], false, 'FALSE'],
    [['X-Lm-Override-Track-Clicks:   True  '], true, 'True'],
    [['X-LM-Override-Track-Clicks:', ' false'], false, 'false'],
    [['X-LM-Override-Track-Clicks: maybe'], undefined, 'maybe'],
    [[], undefined, undefined]
  ]
  for (const [headers, override, raw] of cases) {
    let seen: boolean | undefined | null = null
    const r = await rewriteMime(single(headers), (html, part) => { seen = part.override; return html })
    t.equal(r.override, override, headers.join('|'))
    t.equal(seen, override, 'the part rewriter sees the override')
    t.equal(r.overrideHeader, raw)
    t.equal(r.raw.toString(), single([]).toString(), 'header (and its folded line) removed, the rest identical')
  }
  const nested = Buffer.from([
    'Content-Type: multipart/alternative; boundary=b', '', '--b',
    'X-LM-Override-Track-Clicks: false', 'Content-Type: text/html', '', '<a href="https://x.example/">x</a>', '--b--', ''
  ].join('\r\n'))
  const n = await rewriteMime(nested, html => html)
  t.equal(n.override, undefined, 'a part header is not the message header')
  t.equal(n.raw.toString(), nested.toString())
})

t.test('single-part HTML messages, 7bit and 8bit bodies; overlong lines move to quoted-printable', async t => {
  const html = '<p>Grüße</p>\r\n<a href="https://x.example/a">a</a>\r\n'
  const eightBit = Buffer.from(`From: a@example.com\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n${html}`)
  const tables: LinkRecord[][] = []
  const r = await rewriteMime(eightBit, realRewriter(tables))
  const url = trackedUrlsIn(r.raw.toString())[0]
  t.equal(r.raw.toString(), eightBit.toString().replace('https://x.example/a', url), '8bit: only the href changed')

  const long = '<p>' + 'x'.repeat(900) + '<a href="https://x.example/b">b</a></p>\r\n'
  const sevenBit = Buffer.from(`Content-Type: text/html\r\nContent-Transfer-Encoding: 7bit\r\n\r\n${long}`)
  const s = await rewriteMime(sevenBit, realRewriter([]))
  const text = s.raw.toString()
  t.match(text, /^Content-Type: text\/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n/, 'switched to QP')
  t.ok(text.split('\r\n').every(l => l.length <= 76), 'every line within 76 columns')
  const seen: string[] = []
  await rewriteMime(s.raw, h => { seen.push(h); return h })
  t.equal(decodeTracked(trackedUrlsIn(seen[0])[0]).url, 'https://x.example/b')
  t.ok(seen[0].startsWith('<p>' + 'x'.repeat(900)))

  const noCte = Buffer.from(`Content-Type: text/html\r\n\r\n<p>${'y'.repeat(950)}</p><a href="https://x.example/c">c</a>`)
  const c = await rewriteMime(noCte, realRewriter([]))
  t.match(c.raw.toString(), /^Content-Type: text\/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n/, 'CTE header added when there was none')
})

t.test('parts that cannot be decoded faithfully, attachments and embedded messages stay byte-identical', async t => {
  const msg = Buffer.concat([Buffer.from([
    'Content-Type: multipart/mixed; boundary=b', '',
    '--b', 'Content-Type: text/html; charset=x-unknown-charset', '', '<a href="https://x.example/1">1</a>',
    '--b', 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: 8bit', '', '<a href="https://x.example/2">'
  ].join('\r\n')), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from([
    '</a>',
    '--b', 'Content-Type: text/html; name=page.html', 'Content-Disposition: attachment; filename=page.html', '', '<a href="https://x.example/3">3</a>',
    '--b', 'Content-Type: message/rfc822', '', 'Content-Type: text/html', '', '<a href="https://x.example/4">4</a>',
    '--b', 'Content-Type: text/plain', '', '<a href="https://x.example/5">5</a>',
    '--b', 'Content-Type: text/html', 'Content-Transfer-Encoding: x-uuencode', '', 'begin 644 x.html',
    '--b--', ''
  ].join('\r\n'))])
  let calls = 0
  const r = await rewriteMime(msg, html => { calls++; return html + 'CHANGED' })
  t.equal(calls, 0, 'no part was handed over')
  t.equal(r.htmlParts, 3)
  t.same(r.skippedParts, [
    { index: 0, charset: 'x-unknown-charset', reason: 'unknown_charset' },
    { index: 1, charset: 'utf-8', reason: 'charset_roundtrip' },
    { index: 2, charset: 'utf-8', reason: 'unknown_encoding' }
  ])
  t.ok(r.raw.equals(msg), 'message byte-identical')
})

t.test('a rewriter that returns its input leaves the message byte-identical', async t => {
  const input = Buffer.from(message('\r\n'), 'latin1')
  const r = await rewriteMime(input, html => html)
  t.ok(r.raw.equals(input))
})

t.test('every corpus email as a base64 and a quoted-printable part', async t => {
  for (const { name, html } of corpus()) {
    for (const cte of ['base64', 'quoted-printable']) {
      const body = cte === 'base64' ? b64Body(Buffer.from(html)) : qpBody(html, 'utf-8')
      const input = Buffer.from(`MIME-Version: 1.0\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n${body}\r\n`)
      const tables: LinkRecord[][] = []
      const r = await rewriteMime(input, realRewriter(tables))
      const raws = [[...html.replace(/<!--[\s\S]*?-->/g, '').matchAll(/<a\s[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/gi)].map(m => m[1] ?? m[2] ?? m[3])]
      const back = await rewriteMime(r.raw, restorer(tables, raws))
      t.ok(back.raw.equals(input), `${name} (${cte}): exact round trip`)
    }
  }
})

t.test('malformed input never crashes; an oversized header block is a stable error', async t => {
  const broken = [
    'no headers at all <a href="https://x.example/">',
    'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<a href="https://x.example/">x</a>',
    'Content-Type: multipart/mixed\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\nx',
    'Content-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!',
    'Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=ZZ=\r\n<a href=3D"https://x.example/q">=',
    ''
  ]
  for (const b of broken) {
    const r = await rewriteMime(Buffer.from(b), realRewriter([]))
    t.type(r.raw, Buffer, JSON.stringify(b.slice(0, 40)))
  }
  const huge = Buffer.from(`X-Big: ${'a'.repeat(2000)}\r\nContent-Type: text/html\r\n\r\nx`)
  await t.rejects(rewriteMime(huge, h => h, { maxHeadSize: 1000 }), { code: 'CT_ERR_MIME_PARSE', status: 422 })
  await t.rejects(rewriteMime(Buffer.from('Content-Type: text/html\r\n\r\nx'), () => { throw new Error('caller') }), /caller/, 'the rewriter\'s own error surfaces as is')
})

t.test('editHeader keeps every other byte of the block', async t => {
  const block = Buffer.from('A: 1\r\nContent-Transfer-Encoding:\r\n  7bit\r\nb: 2\r\n\r\n')
  t.equal(editHeader(block, 'content-transfer-encoding', 'quoted-printable').toString(), 'A: 1\r\nContent-Transfer-Encoding: quoted-printable\r\nb: 2\r\n\r\n')
  t.equal(editHeader(block, 'Content-Transfer-Encoding', null).toString(), 'A: 1\r\nb: 2\r\n\r\n')
  t.equal(editHeader(Buffer.from('A: 1\n\n'), 'X', 'y').toString(), 'A: 1\nX: y\n\n')
})
