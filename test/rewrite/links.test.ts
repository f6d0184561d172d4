import t from 'tap'
import { classifyHref, decodeHref, hasTemplatePlaceholder, trackingHostPredicate, SKIP_REASONS } from '../../src/rewrite/links.js'

const isTrackingHost = trackingHostPredicate('https://t.example.net:8443', ['Track.Acme.com', 'links.shop.example.'])
const opts = { isTrackingHost, maxUrlBytes: 200 }

t.test('skip reasons of SPEC §3 and the issue, matched case-insensitively around whitespace', async t => {
  const cases: Array<[string, string]> = [
    ['mailto:support@example.com', 'mailto'],
    ['MAILTO:support@example.com', 'mailto'],
    [' \n\tmailto:x@y.z', 'mailto'],
    ['tel:+1234567890', 'tel'],
    ['TEL:+1234567890', 'tel'],
    ['sms:+1234567890', 'sms'],
    ['javascript:void(0)', 'javascript'],
    ['  JavaScript:alert(1)', 'javascript'],
    ['#section-name', 'anchor'],
    ['#', 'anchor'],
    ['  #top ', 'anchor'],
    ['data:image/png;base64,AAAA', 'data_uri'],
    ['DATA:text/html,hi', 'data_uri'],
    ['https://example.com/unsubscribe?u=1', 'unsubscribe'],
    ['https://example.com/UnSubscribe', 'unsubscribe'],
    ['https://example.com/?action=UNSUBSCRIBE', 'unsubscribe'],
    ['https://example.com/&#117;nsubscribe', 'unsubscribe'], // decoded once before matching
    ['', 'empty'],
    ['   ', 'empty'],
    ['ftp://files.example.com/a', 'not_http'],
    ['facebook.com', 'not_http'],
    ['/relative/path', 'not_http'],
    ['//example.com/protocol-relative', 'not_http'],
    ['https://user:pw@example.com/', 'invalid_url'],
    ['https://exa mple.com/', 'invalid_url'],
    ['https://example.com/\u0007bell', 'invalid_url'],
    ['https://example.com/' + 'a'.repeat(300), 'invalid_url'],
    ['https:///nohost', 'invalid_url'],
    ['https://pacme42.t.example.net/c/AQEAAAAA', 'already_tracked'],
    ['HTTPS://PACME42.T.EXAMPLE.NET:8443/c/x', 'already_tracked'],
    ['https://track.acme.com/c/abc', 'already_tracked'],
    ['https://links.shop.example/c/abc', 'already_tracked'],
    ['https://TRACK.ACME.COM./c/abc', 'already_tracked']
  ]
  for (const [raw, reason] of cases) {
    const d = classifyHref(raw, false, opts)
    t.equal(d.tracked, false, `${JSON.stringify(raw)} is skipped`)
    if (!d.tracked) t.equal(d.reason, reason, `${JSON.stringify(raw)} → ${reason}`)
  }
  const invalid = classifyHref('https://user@example.com/', false, opts)
  t.match(invalid, { tracked: false, reason: 'invalid_url', code: 'CT_ERR_URL_USERINFO' })
  t.match(classifyHref('https://example.com/' + 'a'.repeat(300), false, opts), { code: 'CT_ERR_URL_TOO_LONG' })
  t.match(classifyHref('https://example.com/\u0001', false, opts), { code: 'CT_ERR_URL_CONTROL_CHARS' })
  for (const d of cases) {
    const r = classifyHref(d[0], false, opts)
    if (!r.tracked) t.ok(r.reason in SKIP_REASONS, 'every reason is documented')
  }
})

t.test('tracked links: http(s), any case, whitespace around, entities decoded exactly once', async t => {
  const cases: Array<[string, string]> = [
    ['https://example.com/', 'https://example.com/'],
    ['HTTP://EXAMPLE.COM/Path', 'HTTP://EXAMPLE.COM/Path'],
    ['  https://example.com/a\n\t', 'https://example.com/a'],
    ['&#32;https://example.com/a&#x20;', 'https://example.com/a'],
    ['https://x.com/?a=1&amp;b=2', 'https://x.com/?a=1&b=2'],
    ['https://x.com/?a=1&#38;b=2&#x26;c=3', 'https://x.com/?a=1&b=2&c=3'],
    ['https://x.com/?a=1&amp;amp;b=2', 'https://x.com/?a=1&amp;b=2'], // once, never twice
    ['https://x.com/?q=caf&eacute;', 'https://x.com/?q=café'],
    ['https://x.com/?copy=1&copy=2', 'https://x.com/?copy=1&copy=2'], // legacy named ref followed by = stays text in attributes
    ['https://x.com/?a=1&b=2', 'https://x.com/?a=1&b=2'],
    ['https://x.com/p?x=%20y%2F', 'https://x.com/p?x=%20y%2F'],
    ['https://[::1]:8080/a', 'https://[::1]:8080/a'],
    ['https://[2001:db8::1]/a', 'https://[2001:db8::1]/a'],
    ['https://[fe80::1]/a', 'https://[fe80::1]/a'],
    ['https://shop.example/?ids[]=1&filter[status]=open', 'https://shop.example/?ids[]=1&filter[status]=open'],
    ['https://pacme42.t.example.org/c/x', 'https://pacme42.t.example.org/c/x'], // another base domain
    ['https://t.example.net/c/x', 'https://t.example.net/c/x'], // the bare base host is not a project host
    ['https://bücher.example/ü', 'https://bücher.example/ü'],
    ['https://x.com/50%-off', 'https://x.com/50%-off']
  ]
  for (const [raw, url] of cases) {
    t.same(classifyHref(raw, false, opts), { tracked: true, url }, JSON.stringify(raw))
  }
})

t.test('opt-out wins over everything', async t => {
  t.match(classifyHref('https://example.com/', true, opts), { tracked: false, reason: 'opt_out', url: 'https://example.com/' })
  t.match(classifyHref('mailto:a@b.c', true, opts), { reason: 'opt_out' })
})

t.test('unsubscribe said only by the anchor text', async t => {
  t.match(classifyHref('https://example.com/', false, opts, 'Unsubscribe'), { tracked: false, reason: 'unsubscribe_text' })
  t.match(classifyHref('https://example.com/', false, opts, 'click to UNSUBSCRIBE now'), { reason: 'unsubscribe_text' })
  t.match(classifyHref('https://example.com/', false, opts, 'Subscribe'), { tracked: true })
  t.match(classifyHref('#', false, opts, 'Unsubscribe'), { reason: 'anchor' })
})

t.test('template placeholders, without flagging percent-encoding, IPv6 or PHP arrays', async t => {
  const placeholders = [
    '{{action_url}}', '{{{raw_url}}}', '{{ site.url }}/x', 'https://x.com/{{id}}', '{% url %}',
    // eslint-disable-next-line no-template-curly-in-string -- a literal template placeholder
    '${link}', '<%asm_group_unsubscribe_raw_url%>', '<%= link %>', '*|ARCHIVE|*',
    'https://www.csis.org/subscribe/manage/*|LIST:UID|*/*|UNIQUEID|*', '%%{manage_account_url}%%',
    '%%view_email_url%%', '%%=RedirectTo(@url)=%%', '%URL%', 'https://x.com/?r=%recipient.id%',
    '%UNSUBSCRIBELINK%', '[Unsubscribe_Preferences]', '[Sender_Name]', 'https://x.com/[ID]',
    'https://x.com/?u=[user id]', '[[trackingURL]]', 'https://[DOMAIN]/x', '[FACEBOOK:PROFILEURL]'
  ]
  for (const p of placeholders) t.ok(hasTemplatePlaceholder(p), `placeholder: ${p}`)
  const real = [
    'https://x.com/a%20b%2Fc', 'https://x.com/?q=%E2%9C%93%20ok%20', 'https://x.com/%41BC%', 'https://x.com/100%',
    'https://[::1]/', 'https://[2001:db8::1]:8080/', 'https://[fe80::1%25eth0]/', 'https://x.com/?a[]=1&b[key]=2',
    'https://x.com/?json={"a":1}', 'https://x.com/#/route[1]'
  ]
  for (const r of real) t.notOk(hasTemplatePlaceholder(r), `not a placeholder: ${r}`)
  t.match(classifyHref('{{action_url}}', false, opts), { reason: 'template_placeholder' })
  t.match(classifyHref('mailto:{{email}}', false, opts), { reason: 'mailto' })
  t.match(classifyHref('%%{unsubscribe_url}%%', false, opts), { reason: 'unsubscribe' })
  t.match(classifyHref('https://x.com/?u=*|UNIQID|*', false, opts), { reason: 'template_placeholder' })
})

t.test('decodeHref: attribute decoding once, ASCII whitespace trimmed, other spaces kept', async t => {
  t.equal(decodeHref(' \t\r\n\fa&amp;b '), 'a&b')
  t.equal(decodeHref('\u00a0a\u00a0'), '\u00a0a\u00a0')
  t.equal(decodeHref('&lt;&gt;&quot;&apos;'), '<>"\'')
  t.equal(decodeHref('&#0;'), '\ufffd')
})
