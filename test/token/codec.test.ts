import t from 'tap'
import { randomBytes, randomInt, randomUUID } from 'node:crypto'
import { KeyRing, parseSecrets } from '../../src/token/keys.js'
import { mintToken, verifyToken, maxTokenLength, TAG_BYTES, type TokenFields } from '../../src/token/codec.js'
import { checkDestination } from '../../src/token/url-policy.js'
import { ClicktrailError } from '../../src/errors.js'

const ring1 = new KeyRing([{ kid: 1, secret: randomBytes(32) }])

function fields (over: Partial<TokenFields> = {}): TokenFields {
  return { sid: 'acme42', messageId: randomUUID(), linkIndex: randomInt(0, 500), sentAt: 1_760_000_000 + randomInt(0, 1e7), url: 'https://example.com/p?q=1', ...over }
}

// Random pieces for property tests: unicode from several planes, reserved and
// percent-encoded characters, and printable ASCII.
const ALPHABETS = [
  'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~',
  "!$&'()*+,;=:@/?%",
  'éüßçñøåæ€£¥',
  'данныеテスト中文한국어',
  '😀🎉👍🏽🚀',
  '%20%2F%3A%E2%9C%93'
]
function randomText (max: number): string {
  const n = randomInt(0, max)
  let s = ''
  for (let i = 0; i < n; i++) {
    const a = ALPHABETS[randomInt(0, ALPHABETS.length)]
    const chars = [...a]
    s += chars[randomInt(0, chars.length)]
  }
  return s
}
function randomUrl (): string {
  const scheme = randomInt(0, 2) === 0 ? 'https' : 'HTTP'
  const host = ['example.com', 'sub.example.co.uk', 'xn--bcher-kva.example', 'bücher.example', '127.0.0.1:8443', '[::1]:8080'][randomInt(0, 6)]
  const path = '/' + randomText(40).replace(/[?#]/g, '')
  const query = randomInt(0, 3) === 0 ? '' : '?' + Array.from({ length: randomInt(1, 30) }, (_, i) => `k${i}=${encodeURIComponent(randomText(20))}&raw${i}=${randomText(10).replace(/[#&]/g, '')}`).join('&')
  const fragment = randomInt(0, 3) === 0 ? '#' + randomText(20) : ''
  return `${scheme}://${host}${path}${query}${fragment}`
}

t.test('round trip is exact for random URLs with unicode, long queries and fragments', async t => {
  let checked = 0
  for (let i = 0; i < 2000; i++) {
    const url = randomUrl()
    if (Buffer.byteLength(url) > 4096) continue
    const f = fields({ url })
    const token = mintToken(ring1, f)
    const v = verifyToken(ring1, token)
    if (typeof v === 'string') { t.fail(`${v} for ${url}`); continue }
    if (v.url !== url || v.messageId !== f.messageId || v.linkIndex !== f.linkIndex || v.sentAt !== f.sentAt || v.sid !== f.sid) {
      t.fail(`mismatch for ${url}`)
    }
    checked++
  }
  t.ok(checked > 1500, `${checked} random URLs round-tripped exactly`)
})

t.test('the Location of a verified token is the URL the browser would have navigated to', async t => {
  const ascii = 'https://example.com/a/../b?x=1&y=%20#frag'
  const v = verifyToken(ring1, mintToken(ring1, fields({ url: ascii })))
  t.not(typeof v, 'string')
  if (typeof v !== 'string') t.equal(v.location, ascii, 'printable ASCII is passed on untouched')
  const unicode = 'https://bücher.example/straße?q=ü#ö'
  const u = verifyToken(ring1, mintToken(ring1, fields({ url: unicode })))
  if (typeof u === 'string') { t.fail(u); return }
  t.equal(u.url, unicode, 'the token keeps what the author wrote')
  t.equal(u.location, new URL(unicode).href, 'the Location is the WHATWG serialisation')
  t.match(u.location, /^[\x21-\x7e]+$/, 'no raw non-ASCII byte reaches the header')
})

t.test('every single-bit change of a token is rejected', async t => {
  const token = mintToken(ring1, fields({ url: 'https://example.com/x?y=z' }))
  const bytes = Buffer.from(token, 'base64url')
  let rejected = 0
  for (let i = 0; i < bytes.length; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const copy = Buffer.from(bytes)
      copy[i] ^= 1 << bit
      if (typeof verifyToken(ring1, copy.toString('base64url')) === 'string') rejected++
    }
  }
  t.equal(rejected, bytes.length * 8, `all ${bytes.length * 8} bit flips rejected`)
})

t.test('every single-character change of the text form is rejected', async t => {
  const token = mintToken(ring1, fields())
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  let tried = 0
  let accepted = 0
  for (let i = 0; i < token.length; i++) {
    for (const c of alphabet) {
      if (c === token[i]) continue
      tried++
      if (typeof verifyToken(ring1, token.slice(0, i) + c + token.slice(i + 1)) !== 'string') accepted++
    }
  }
  t.equal(accepted, 0, `none of ${tried} one-character variants verifies`)
})

t.test('wrong key id, wrong key, truncation and extension are rejected', async t => {
  const token = mintToken(ring1, fields())
  const bytes = Buffer.from(token, 'base64url')
  const kidChanged = Buffer.from(bytes)
  kidChanged[1] = 7
  t.equal(verifyToken(ring1, kidChanged.toString('base64url')), 'CT_ERR_TOKEN_KEY_UNKNOWN')
  const other = new KeyRing([{ kid: 1, secret: randomBytes(32) }])
  t.equal(verifyToken(other, token), 'CT_ERR_TOKEN_SIGNATURE', 'same kid, other secret')
  for (const cut of [1, 2, TAG_BYTES, bytes.length - 3]) {
    t.type(verifyToken(ring1, bytes.subarray(0, bytes.length - cut).toString('base64url')), 'string', `cut ${cut} bytes`)
  }
  t.type(verifyToken(ring1, Buffer.concat([bytes, Buffer.from([0])]).toString('base64url')), 'string', 'one byte appended')
  const v2 = Buffer.from(bytes)
  v2[0] = 2
  t.equal(verifyToken(ring1, v2.toString('base64url')), 'CT_ERR_TOKEN_VERSION')
})

t.test('a token of one project cannot be replayed as another project (key is per sid)', async t => {
  const token = mintToken(ring1, fields({ sid: 'alpha' }))
  const bytes = Buffer.from(token, 'base64url')
  // 'alpha' → 'bravo' in place: same length, so only the key (derived from the sid) differs.
  const at = bytes.indexOf(Buffer.from('alpha'))
  Buffer.from('bravo').copy(bytes, at)
  t.equal(verifyToken(ring1, bytes.toString('base64url')), 'CT_ERR_TOKEN_SIGNATURE')
})

t.test('rotation: the newest secret signs, every configured secret verifies', async t => {
  const s1 = { kid: 1, secret: randomBytes(32) }
  const s2 = { kid: 2, secret: randomBytes(32) }
  const old = new KeyRing([s1])
  const rotated = new KeyRing([s2, s1])
  t.equal(rotated.signingKid, 2)
  const oldToken = mintToken(old, fields())
  const newToken = mintToken(rotated, fields())
  t.equal(Buffer.from(newToken, 'base64url')[1], 2, 'new tokens carry kid 2')
  t.not(typeof verifyToken(rotated, oldToken), 'string', 'mail sent before the rotation still verifies')
  t.not(typeof verifyToken(rotated, newToken), 'string')
  t.equal(verifyToken(old, newToken), 'CT_ERR_TOKEN_KEY_UNKNOWN', 'a node without the new secret refuses new tokens')
  const retired = new KeyRing([s2])
  t.equal(verifyToken(retired, oldToken), 'CT_ERR_TOKEN_KEY_UNKNOWN', 'removing a secret retires its tokens')
})

t.test('bad token input is refused with a code, never a throw', async t => {
  const good = mintToken(ring1, fields())
  const cases: Record<string, string> = {
    empty: '',
    '64 KB': 'A'.repeat(65536),
    'non-base64': good.slice(0, 20) + '!*' + good.slice(22),
    truncated: good.slice(0, 30),
    padded: good + '==',
    'percent-encoded': encodeURIComponent(good.slice(0, 10) + '/' + good.slice(10)),
    'with a %2F': good.slice(0, 10) + '%2F' + good.slice(10),
    'standard base64 alphabet': Buffer.from(good, 'base64url').toString('base64'),
    'trailing newline': good + '\n',
    'non-canonical last char': good.slice(0, -1) + String.fromCharCode(good.charCodeAt(good.length - 1) ^ 1),
    unicode: good.slice(0, 10) + 'é' + good.slice(11)
  }
  for (const [name, token] of Object.entries(cases)) {
    if (token === good) continue
    let out: unknown
    t.doesNotThrow(() => { out = verifyToken(ring1, token) }, name)
    t.type(out, 'string', `${name} is refused`)
  }
  t.not(typeof verifyToken(ring1, good), 'string', 'the untouched token verifies')
})

t.test('minting refuses what must never become a redirect', async t => {
  const refused: Array<[string, string]> = [
    ['javascript:alert(1)', 'CT_ERR_URL_SCHEME'],
    ['data:text/html,<script>', 'CT_ERR_URL_SCHEME'],
    ['ftp://example.com/x', 'CT_ERR_URL_SCHEME'],
    ['//example.com/x', 'CT_ERR_URL_SCHEME'],
    ['/relative', 'CT_ERR_URL_SCHEME'],
    ['https:/example.com', 'CT_ERR_URL_SCHEME'],
    ['https://example.com/\r\nSet-Cookie: a=b', 'CT_ERR_URL_CONTROL_CHARS'],
    ['https://example.com/\nx', 'CT_ERR_URL_CONTROL_CHARS'],
    ['https://example.com/a b', 'CT_ERR_URL_CONTROL_CHARS'],
    [' https://example.com/', 'CT_ERR_URL_CONTROL_CHARS'],
    ['https://example.com/\t', 'CT_ERR_URL_CONTROL_CHARS'],
    ['https://example.com/\u0000', 'CT_ERR_URL_CONTROL_CHARS'],
    ['https://example.com/\u2028', 'CT_ERR_URL_CONTROL_CHARS'],
    ['https://example.com/\u00a0', 'CT_ERR_URL_CONTROL_CHARS'],
    ['https://user:pass@example.com/', 'CT_ERR_URL_USERINFO'],
    ['https://good.com@evil.com/', 'CT_ERR_URL_USERINFO'],
    ['https://evil.com\\@good.com/', 'CT_ERR_URL_BACKSLASH'],
    ['https://good.com\\.evil.com/', 'CT_ERR_URL_BACKSLASH'],
    ['https://evil.com%40good.com@x/', 'CT_ERR_URL_USERINFO'],
    ['https:///path', 'CT_ERR_URL_HOST'],
    ['https://exa mple.com', 'CT_ERR_URL_CONTROL_CHARS'],
    ['https://[::1/', 'CT_ERR_URL_INVALID'],
    [`https://example.com/${'a'.repeat(5000)}`, 'CT_ERR_URL_TOO_LONG'],
    // A lone UTF-16 surrogate has no UTF-8 form: the token would carry U+FFFD instead.
    ['https://example.com/\ud800', 'CT_ERR_URL_INVALID'],
    ['https://example.com/?q=\udc00x', 'CT_ERR_URL_INVALID'],
    ['https://ex\udbffample.com/', 'CT_ERR_URL_INVALID']
  ]
  // Names escape everything outside printable ASCII: a raw U+2028 would break the TAP stream.
  const show = (u: string): string => JSON.stringify(u).slice(0, 60).replace(/[^\x20-\x7e]/g, c => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
  for (const [url, code] of refused) {
    try {
      mintToken(ring1, fields({ url }))
      t.fail(`minted ${show(url)}`)
    } catch (err) {
      t.ok(err instanceof ClicktrailError, show(url))
      t.equal((err as ClicktrailError).code, code, `${show(url)} → ${code}`)
    }
  }
  t.throws(() => checkDestination('https://example.com/' + 'a'.repeat(100), 64), { code: 'CT_ERR_URL_TOO_LONG' }, 'the limit is configurable')
  t.doesNotThrow(() => checkDestination('https://example.com/' + 'a'.repeat(100), 200))
  t.equal(checkDestination('https://example.com/\ud83d\ude00'), 'https://example.com/%F0%9F%98%80', 'a surrogate pair is one character: accepted')
  t.throws(() => checkDestination('https://example.com/a\ud800'), { code: 'CT_ERR_URL_INVALID', message: /well-formed/ })
})

t.test('minting validates the other fields', async t => {
  t.throws(() => mintToken(ring1, fields({ sid: 'Bad-Sid' })), { code: 'CT_ERR_TOKEN_FIELDS' })
  t.throws(() => mintToken(ring1, fields({ messageId: 'not-a-uuid' })), { code: 'CT_ERR_TOKEN_FIELDS' })
  t.throws(() => mintToken(ring1, fields({ linkIndex: -1 })), { code: 'CT_ERR_TOKEN_FIELDS' })
  t.throws(() => mintToken(ring1, fields({ sentAt: 1.5 })), { code: 'CT_ERR_TOKEN_FIELDS' })
})

t.test('token overhead stays small', async t => {
  const url = 'https://example.com/product/123'
  const token = mintToken(ring1, fields({ url, sid: 'abc123', linkIndex: 3 }))
  const overhead = token.length - url.length
  t.ok(overhead <= 90, `token is ${token.length} chars for a ${url.length}-char URL (overhead ${overhead})`)
  t.ok(token.length <= maxTokenLength(), 'within the server-side length cap')
})

t.test('secrets parse and validate', async t => {
  const s = parseSecrets(`1:${randomBytes(32).toString('base64')}, 9:${randomBytes(40).toString('base64url')}`)
  t.same(s.map(x => x.kid), [1, 9])
  t.equal(new KeyRing(s).signingKid, 9, 'the highest key id signs')
  t.throws(() => parseSecrets('nonsense'), { code: 'CT_ERR_CONFIG_SECRETS' })
  t.throws(() => parseSecrets('300:' + randomBytes(32).toString('base64')), { code: 'CT_ERR_CONFIG_SECRETS' })
  t.throws(() => new KeyRing(parseSecrets('1:' + randomBytes(8).toString('base64'))), { code: 'CT_ERR_CONFIG_SECRETS' }, 'short secret')
  t.throws(() => new KeyRing([]), { code: 'CT_ERR_CONFIG_SECRETS' })
  t.throws(() => new KeyRing([{ kid: 1, secret: randomBytes(32) }, { kid: 1, secret: randomBytes(32) }]), { code: 'CT_ERR_CONFIG_SECRETS' })
})
