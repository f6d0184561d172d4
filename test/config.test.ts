import t from 'tap'
import { loadConfig, OPTIONS, configTableMarkdown } from '../src/config.js'
import { ClicktrailError } from '../src/errors.js'

t.test('defaults, then environment, then flags', async t => {
  const d = loadConfig({}, {})
  t.match(d, { port: 8080, host: '127.0.0.1', dataDir: './data', trackingBaseUrl: 'http://t.localhost:8080', tokenTtlDays: 30 })
  t.equal(loadConfig({}, { PORT: '9000' }).port, 9000)
  t.equal(loadConfig({ port: '9100' }, { PORT: '9000' }).port, 9100)
  t.equal(loadConfig({ 'ring-size': '1000' }, {}).ringSize, 1024, 'ring size rounds up to a power of two')
  const c = loadConfig({ domain: ['Track.Example.com=acme', 'links.b.org=beta'] }, {})
  t.same([...c.domains], [['track.example.com', 'acme'], ['links.b.org', 'beta']])
  t.same(loadConfig({}, { CLICKTRAIL_DOMAINS: 'a.example.com=x, b.example.com=y' }).domains.size, 2)
  t.same(loadConfig({ 'trusted-proxy': ['10.0.0.0/8', '::1'] }, {}).trustedProxies, ['10.0.0.0/8', '::1'])
})

t.test('invalid values name the option', async t => {
  const bad: Array<[Record<string, string | string[]>, RegExp]> = [
    [{ port: '70000' }, /--port \(CLICKTRAIL_PORT\)/],
    [{ port: '-1' }, /--port/],
    [{ 'token-ttl-days': 'soon' }, /--token-ttl-days/],
    [{ 'tracking-base-url': 'ftp://x' }, /--tracking-base-url/],
    [{ 'tracking-base-url': 'http://t.example.com/path' }, /--tracking-base-url/],
    [{ domain: ['nohost'] }, /--domain/],
    [{ domain: ['a.example.com=BAD SID'] }, /--domain/],
    [{ domain: ['a.example.com=x', 'A.example.com=y'] }, /given twice/],
    [{ 'trusted-proxy': ['10.0.0.0/99'] }, /--trusted-proxy/],
    [{ 'trusted-proxy': ['proxy.local'] }, /--trusted-proxy/],
    [{ 'log-level': 'loud' }, /--log-level/],
    [{ 'clickhouse-cluster': 'c1' }, /--clickhouse-cluster needs --clickhouse-url/],
    [{ 'clickhouse-cluster': 'c-1', 'clickhouse-url': 'http://127.0.0.1:8123' }, /--clickhouse-cluster/]
  ]
  for (const [flags, re] of bad) {
    let caught: unknown
    try { loadConfig(flags, {}) } catch (err) { caught = err }
    t.ok(caught instanceof ClicktrailError, `${JSON.stringify(flags)} is refused`)
    t.equal((caught as ClicktrailError).code, 'CT_ERR_CONFIG')
    t.match((caught as ClicktrailError).message, re)
  }
})

t.test('every option has a flag, a variable and a doc, all distinct', async t => {
  t.equal(new Set(OPTIONS.map(o => o.flag)).size, OPTIONS.length)
  t.equal(new Set(OPTIONS.map(o => o.env)).size, OPTIONS.length)
  for (const o of OPTIONS) t.ok(o.doc.length > 10, o.flag)
  t.equal(configTableMarkdown().split('\n').length, OPTIONS.length + 2)
})

t.test('every variable has the CLICKTRAIL_ prefix; the earlier names still work as aliases', async t => {
  for (const o of OPTIONS) t.match(o.env, /^CLICKTRAIL_[A-Z0-9_]+$/, o.flag)
  t.equal(loadConfig({}, { CLICKTRAIL_PORT: '9001' }).port, 9001)
  t.equal(loadConfig({}, { PORT: '9002' }).port, 9002, 'the old name is an alias')
  t.equal(loadConfig({}, { CLICKTRAIL_PORT: '9003', PORT: '9004' }).port, 9003, 'the prefixed name wins')
  t.equal(loadConfig({ port: '9005' }, { CLICKTRAIL_PORT: '9003' }).port, 9005, 'a flag beats both')
  t.equal(loadConfig({}, { ADMIN_TOKEN: 'x'.repeat(20) }).adminToken, 'x'.repeat(20), 'ADMIN_TOKEN is an option now (CLICKTRAIL_ADMIN_TOKEN)')
  t.equal(loadConfig({}, { CLICKTRAIL_SECRETS: 'a' }).secrets, 'a', 'names that had the prefix keep it, with no alias')
})
