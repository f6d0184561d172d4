import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { startTestEngine, type TestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { request } from '../helpers/http.js'

// The admin listener of the real engine (embedded ClickHouse): analyst SQL decided by
// ClickHouse's parser, on its own bounded read-only session; /metrics; malformed requests.

interface Answer { status: number, text: string, code?: string, message?: string, headers: Headers }

function client (e: TestEngine): { token: string, sql: (body: string, query?: string, auth?: string) => Promise<Answer> } {
  const token = readFileSync(join(e.dataDir, 'admin-token'), 'utf8').trim()
  const sql = async (body: string, query = 'format=TabSeparated', auth = `Bearer ${token}`): Promise<Answer> => {
    const res = await fetch(`http://127.0.0.1:${e.admin.port}/sql?${query}`, { method: 'POST', headers: { authorization: auth }, body })
    const text = await res.text()
    let code: string | undefined
    let message: string | undefined
    try { ({ code, message } = (JSON.parse(text) as { error: { code: string, message: string } }).error) } catch { /* a result */ }
    return { status: res.status, text, code, message, headers: res.headers }
  }
  return { token, sql }
}

/** A raw keep-alive connection: `ask` writes bytes and returns all that comes back until the peer is quiet for 250 ms. */
async function rawConnection (port: number): Promise<{ ask: (bytes: string) => Promise<string>, close: () => void }> {
  const s = connect(port, '127.0.0.1')
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
  let out = ''
  s.on('data', (c: Buffer) => { out += c.toString('latin1') })
  s.on('error', () => {})
  const ask = async (bytes: string): Promise<string> => {
    out = ''
    s.write(bytes, 'latin1')
    let seen = -1
    while (seen !== out.length) {
      seen = out.length
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    return out
  }
  return { ask, close: () => { s.destroy() } }
}

t.test('admin listener', async t => {
  // secrets: '' → the master secret is generated into <data-dir>/secrets, the file the attack read.
  const e = await startTestEngine(t, { secrets: '' })
  const { token, sql } = client(e)
  const db = e.store.database
  const masterSecret = readFileSync(join(e.dataDir, 'secrets'), 'utf8').trim().split(':')[1]
  t.ok(masterSecret.length > 20, 'the data dir holds a master secret')
  const webhook = await api(e.api.port, 'POST', `/v1/projects/${e.team!.project.project_id}/webhooks`, e.team!.token, { url: 'http://127.0.0.1:9/hook' })
  t.equal(webhook.status, 201)
  const webhookSecret = webhook.body.secret as string
  t.match(webhookSecret, /^whsec_/)
  // The API token's secret part: all after ct_<id>_ (it may itself contain '_', so not a split:
  // a split once gave a two-letter fragment that a refusal message happened to contain).
  const apiSecret = e.team!.token.slice('ct_12345678_'.length)
  t.ok(apiSecret.length >= 20, 'the API token has a secret part')
  const secrets = [masterSecret, webhookSecret, token, apiSecret]
  const messageId = randomUUID()
  await e.store.writer.command({
    query: `INSERT INTO click_observations (ts, obs_id, sid, message_id, link_index, url) VALUES
      (now64(3), generateUUIDv4(), 'acme', '${messageId}', 0, 'https://example.com/a'),
      (now64(3), generateUUIDv4(), 'acme', '${messageId}', 1, 'https://example.com/b'),
      (now64(3), generateUUIDv4(), 'other', '${randomUUID()}', 0, 'https://example.com/c')`
  })
  await e.store.writer.command({ query: `INSERT INTO messages (message_id, sid, subject, recipient, sent_at) VALUES ('${messageId}', 'acme', 'Hello', 'r@example.com', now())` })

  await t.test('plain SELECTs over the analytics tables work: joins, CTEs, subqueries, ARRAY JOIN, parameters', async t => {
    const cases: Array<[string, string, string?]> = [
      ["SELECT count() FROM click_observations WHERE sid = 'acme'", '2\n'],
      ['SELECT count() FROM click_observations WHERE sid = {sid:String}', '2\n', 'param_sid=acme'],
      [`SELECT count() FROM ${db}.click_observations`, '3\n'],
      ["SELECT o.url, m.subject FROM click_observations AS o INNER JOIN messages AS m ON m.message_id = o.message_id WHERE o.sid = 'acme' ORDER BY o.url", 'https://example.com/a\tHello\nhttps://example.com/b\tHello\n'],
      ['WITH per AS (SELECT sid, count() AS n FROM click_observations GROUP BY sid) SELECT sid, n FROM per WHERE sid IN (SELECT sid FROM messages) ORDER BY sid', 'acme\t2\n'],
      ['WITH clicks_so_far AS (SELECT url FROM click_observations) SELECT count() FROM clicks_so_far', '3\n'],
      ['SELECT x FROM (SELECT [1, 2] AS arr) ARRAY JOIN arr AS x ORDER BY x', '1\n2\n'],
      ["SELECT 'a' UNION ALL SELECT 'b' ORDER BY 1", 'a\nb\n'],
      ["SELECT * FROM (SELECT url FROM click_observations WHERE sid = 'other' UNION ALL SELECT subject FROM messages) ORDER BY 1", 'Hello\nhttps://example.com/c\n'],
      ["SELECT ';' AS semicolon; ", ';\n'],
      ['SELECT 1 -- a comment; DROP TABLE clicks\n', '1\n'],
      ['SELECT 1 # ; USE system', '1\n'],
      ['SELECT count() FROM clicks', '0\n'],
      ['SELECT sum(clicks) FROM clicks_by_message', '0\n'],
      // The analytics API's views are analytics tables too.
      ['SELECT count() FROM analytics_recipient_days', '0\n'],
      ['SELECT count() FROM analytics_first_clicks', '0\n'],
      ['SELECT count() FROM analytics_recipients', '0\n'],
      ['SELECT count() FROM analytics_recipient_links', '0\n']
    ]
    for (const [query, want, qs] of cases) {
      const r = await sql(query, `format=TabSeparated${qs === undefined ? '' : `&${qs}`}`)
      t.same({ status: r.status, text: r.text }, { status: 200, text: want }, query)
    }
    const json = await sql("SELECT url FROM click_observations WHERE sid = 'other'", 'format=JSONEachRow')
    t.same(JSON.parse(json.text), { url: 'https://example.com/c' }, 'formats are asked for with ?format=')
    const again = await sql('SELECT currentDatabase()')
    t.equal(again.text, `${db}\n`, 'the `#` comment hid the USE: the session is still on the database')
  })

  await t.test('every way out is refused with CT_ERR_SQL_REFUSED, naming what was refused', async t => {
    const outfile = join(e.dataDir, 'written-by-sql.txt')
    const cases: Array<[string, RegExp, string?]> = [
      [`SELECT * FROM file('${join(e.dataDir, 'secrets')}', 'LineAsString')`, /table function file\(\)/],
      [`SELECT file('${join(e.dataDir, 'secrets')}')`, /function file\(\)/],
      [`SELECT * APPLY(file) FROM (SELECT '${join(e.dataDir, 'secrets')}' AS p)`, /APPLY/],
      ['SELECT url, secret FROM webhooks FINAL', /table webhooks/],
      [`SELECT url, secret FROM ${db}.webhooks FINAL`, /table \w+\.webhooks/],
      ['SELECT (SELECT secret FROM webhooks LIMIT 1)', /table webhooks/],
      ['SELECT 1 FROM click_observations WHERE url IN (SELECT secret FROM webhooks)', /table webhooks/],
      ["SELECT ('x', 'y') IN webhooks", /table webhooks \(after IN\)/],
      ['WITH webhooks AS (SELECT 1 AS secret) SELECT secret FROM webhooks', /table webhooks/],
      ['SELECT * FROM click_observations AS o JOIN webhooks AS w ON 1', /table webhooks/],
      ...['api_tokens', 'teams', 'projects', 'routes', 'domain_claims', 'sid_claims', 'key_fingerprints', 'quarantine', 'tracking_domains_before_009', 'webhook_events', 'webhook_deliveries', 'promotion_state', 'schema_migrations', 'analytics_recipients_mv']
        .map((tb): [string, RegExp] => [`SELECT * FROM ${tb}`, new RegExp(`table ${tb}`)]),
      ['SELECT * FROM system.tables', /table system\.tables/],
      ['SELECT name FROM system.functions', /table system\.functions/],
      ['SELECT * FROM information_schema.tables', /table information_schema\.tables/],
      ['SELECT * FROM INFORMATION_SCHEMA.TABLES', /table INFORMATION_SCHEMA\.TABLES/],
      ["SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')", /table function url\(\)/],
      ["SELECT * FROM s3('http://127.0.0.1:9/bucket/key', 'LineAsString')", /table function s3\(\)/],
      ["SELECT * FROM remote('127.0.0.1:9', system.one)", /table function remote\(\)/],
      ["SELECT * FROM executable('id', 'LineAsString', 'x String')", /table function executable\(\)/],
      ['SELECT * FROM numbers(10)', /table function numbers\(\)/],
      [`SELECT 1 INTO OUTFILE '${outfile}' TRUNCATE`, /INTO OUTFILE/],
      ['SELECT count() FROM clicks SETTINGS max_execution_time = 0, max_result_rows = 0', /SETTINGS/],
      ['SELECT 1 FORMAT JSON', /FORMAT/],
      ['USE system', /only SELECT/],
      ['SET max_result_rows = 0', /only SELECT/],
      ['SHOW TABLES', /only SELECT/],
      ['DESCRIBE TABLE webhooks', /only SELECT/],
      ['EXPLAIN QUERY TREE SELECT (SELECT secret FROM webhooks)', /only SELECT/],
      ['DROP TABLE click_observations', /only SELECT/],
      ["INSERT INTO clicks (sid) VALUES ('x')", /only SELECT/],
      ['OPTIMIZE TABLE clicks FINAL', /only SELECT/],
      ['SELECT 1; USE system', /one statement at a time/],
      ['SELECT 1 # hides nothing past the line\n; SELECT secret FROM webhooks', /one statement at a time/],
      ["SELECT 1; SELECT * FROM file('/etc/passwd')", /one statement at a time/],
      ["SELECT joinGet('webhooks', 'secret', 1)", /function joinGet\(\)/],
      ["SELECT dictGet('d', 'secret', 1)", /function dictGet\(\)/],
      ['SELECT sleep(3)', /function sleep\(\)/],
      ['SELECT hostName()', /function hostName\(\)/],
      ["SELECT aiGenerate('x')", /function aiGenerate\(\)/],
      ['SELECT * FROM {t:Identifier}', /Identifier parameters/, 'param_t=webhooks'],
      ['SELECT 1 AS `a\\n      TableIdentifier clicks`', /quoted identifier/],
      ['', /empty query/],
      ['-- just a comment', /empty query/]
    ]
    for (const [query, why, qs] of cases) {
      const r = await sql(query, `format=TabSeparated${qs === undefined ? '' : `&${qs}`}`)
      t.equal(r.status, 400, `${query}: 400`)
      t.equal(r.code, 'CT_ERR_SQL_REFUSED', `${query}: ${r.message ?? r.text}`)
      t.match(r.message, why, `${query}: says what (${r.message})`)
      for (const s of secrets) t.notOk(r.text.includes(s), `${query}: no secret in the answer`)
    }
    t.notOk(existsSync(outfile), 'INTO OUTFILE wrote nothing')
    const tables = await (await e.store.reader.query({ query: 'SELECT count() AS n FROM system.tables WHERE database = currentDatabase()', format: 'JSONEachRow' })).json<{ n: string }>()
    t.ok(Number(tables[0].n) > 10, 'and nothing was dropped')
    t.equal((await sql('SELECT count() FROM click_observations')).text, '3\n')
  })

  await t.test('the limits hold and cannot be lifted', async t => {
    const s = await sql("SELECT getSetting('max_execution_time'), getSetting('max_result_rows'), getSetting('max_result_bytes'), getSetting('max_memory_usage'), getSetting('result_overflow_mode'), getSetting('readonly')")
    t.equal(s.text, `30\t100000\t${64 * 1024 * 1024}\t${1024 * 1024 * 1024}\tthrow\t1\n`, 'the analyst session runs read-only with its limits')
    const rows = await sql('SELECT number FROM (SELECT arrayJoin(range(200000)) AS number)')
    t.same([rows.status, rows.code], [400, 'CT_ERR_SQL_LIMIT'])
    t.match(rows.message, /max rows: 100\.00 thousand/)
    const memory = await sql('SELECT length(groupArray(randomString(1000))) FROM (SELECT arrayJoin(range(3000000)) AS n)')
    t.same([memory.status, memory.code], [400, 'CT_ERR_SQL_LIMIT'])
    t.match(memory.message, /memory limit/i)
    const lifted = await sql('SELECT number FROM (SELECT arrayJoin(range(200000)) AS number) SETTINGS max_result_rows = 0, max_memory_usage = 0')
    t.equal(lifted.code, 'CT_ERR_SQL_REFUSED', 'a SETTINGS clause cannot lift them')
    t.equal((await sql("SELECT getSetting('max_result_rows')")).text, '100000\n', 'still in force afterwards')
  })

  await t.test('a failed analyst query leaks into no other answer', async t => {
    // 100 000 rows, so the sorted output comes in two blocks and the query fails in the
    // second, after the first was written: the partial output chdb kept in the session.
    await e.store.writer.command({ query: "INSERT INTO click_observations (ts, obs_id, sid, url) SELECT now64(3), generateUUIDv4(), 'leak', concat('leak-', leftPad(toString(number), 6, '0')) FROM numbers(100000)" })
    const deliveriesPath = `/v1/webhooks/${webhook.body.webhook_id as string}/deliveries`
    const before = await api(e.api.port, 'GET', deliveriesPath, e.team!.token)
    t.equal(before.status, 200)
    // Without the session reset, some of these answers carried the failed query's rows.
    for (let i = 0; i < 3; i++) {
      const failed = await sql("SELECT url, throwIf(url = 'leak-070000') FROM (SELECT url FROM click_observations WHERE sid = 'leak' ORDER BY url)")
      t.equal(failed.code, 'CT_ERR_SQL_FAILED', 'the query fails part-way')
      t.match(failed.message, /throwIf/)
      const next = await sql("SELECT 'next'")
      t.same({ status: next.status, text: next.text }, { status: 200, text: 'next\n' }, 'the next analyst answer is its own, whole')
      const after = await api(e.api.port, 'GET', deliveriesPath, e.team!.token)
      t.same({ status: after.status, raw: after.raw }, { status: before.status, raw: before.raw }, 'the Team API answers what it answered before')
    }
    const queued = await Promise.all([
      sql("SELECT url, throwIf(url = 'leak-070000') FROM (SELECT url FROM click_observations WHERE sid = 'leak' ORDER BY url)"),
      sql("SELECT 'queued behind it'")
    ])
    t.equal(queued[0].code, 'CT_ERR_SQL_FAILED')
    t.equal(queued[1].text, 'queued behind it\n', 'a query queued behind the failing one gets only its own rows')
  })

  await t.test('too many waiting analyst queries: 503 CT_ERR_SQL_BUSY, counted', async t => {
    const heavy = 'SELECT count() FROM (SELECT arrayJoin(range(8000)) AS a) AS x CROSS JOIN (SELECT arrayJoin(range(8000)) AS b) AS y'
    const answers = await Promise.all(Array.from({ length: 10 }, async () => await sql(heavy)))
    const busy = answers.filter(a => a.status === 503)
    t.ok(busy.length >= 1, `${busy.length} of 10 shed`)
    t.ok(busy.every(a => a.code === 'CT_ERR_SQL_BUSY'))
    t.ok(answers.filter(a => a.status === 200).every(a => a.text === '64000000\n'), 'the others answered')
    const m = await request(e.admin.port, { path: '/metrics' })
    t.match(m.body, new RegExp(`^clicktrail_admin_sql_busy_total ${busy.length}$`, 'm'))
  })

  await t.test('GET /projects/{sid}/exists for the CLI', async t => {
    const get = async (path: string, auth = `Bearer ${token}`): Promise<{ status: number, body: unknown }> => {
      const r = await request(e.admin.port, { path, headers: { authorization: auth } })
      return { status: r.status, body: JSON.parse(r.body) }
    }
    t.same(await get('/projects/acme/exists'), { status: 200, body: { sid: 'acme', exists: true } })
    t.same(await get('/projects/nosuch/exists'), { status: 200, body: { sid: 'nosuch', exists: false } })
    t.match(await get('/projects/%ZZ/exists'), { status: 400, body: { error: { code: 'CT_ERR_BAD_REQUEST' } } })
    t.match(await get('/projects/acme/exists', 'Bearer wrong'), { status: 401, body: { error: { code: 'CT_ERR_UNAUTHORIZED' } } })
    t.match(await sql("SELECT count() FROM projects FINAL WHERE sid = 'acme'"), { status: 400, code: 'CT_ERR_SQL_REFUSED' }, 'the SQL path cannot read projects')
  })

  await t.test('/metrics: on the admin listener (no token), 404 on the public redirect port', async t => {
    const m = await request(e.admin.port, { path: '/metrics' })
    t.equal(m.status, 200)
    t.match(m.headers['content-type'], /^text\/plain/)
    t.match(m.body, /^clicktrail_requests_total \d+$/m)
    t.match(m.body, /^clicktrail_admin_sql_refused_total [1-9]\d*$/m)
    for (const host of [undefined, 'pacme.t.localhost:8080', 'evil.example']) {
      const pub = await request(e.port, { path: '/metrics', host })
      t.equal(pub.status, 404, `redirect port, Host ${host ?? '(default)'}: 404`)
      t.notMatch(pub.body, /clicktrail_/)
    }
    t.equal((await request(e.port, { path: '/healthz' })).status, 200, '/healthz stays on the redirect port')
  })

  await t.test('HEAD gets the headers and no body, so keep-alive stays in step', async t => {
    const c = await rawConnection(e.admin.port)
    t.teardown(c.close)
    const heads: Array<[string, number]> = [['/metrics', 200], ['/nope', 404], ['/projects/acme/exists', 200], ['/projects/%ZZ/exists', 400], ['/sql', 405]]
    for (const [path, status] of heads) {
      const out = await c.ask(`HEAD ${path} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${token}\r\n\r\n`)
      t.match(out, new RegExp(`^HTTP/1\\.1 ${status} `), `HEAD ${path}: ${status}`)
      t.ok(out.endsWith('\r\n\r\n') && out.indexOf('\r\n\r\n') === out.length - 4, `HEAD ${path}: nothing after the headers (${JSON.stringify(out.slice(out.indexOf('\r\n\r\n') + 4, 60))})`)
    }
    const get = await c.ask('GET /nope HTTP/1.1\r\nHost: a\r\n\r\n')
    t.match(get, /^HTTP\/1\.1 404 [^]*\r\n\r\n\{"error":\{"code":"CT_ERR_NOT_FOUND"/, 'a GET on the same connection afterwards is answered in step')
  })

  await t.test('malformed requests get a 4xx with a stable code; the listener keeps answering', async t => {
    const get = async (method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number, code?: string, allow?: string }> => {
      const r = await request(e.admin.port, { method, path, headers })
      let code: string | undefined
      try { code = (JSON.parse(r.body) as { error: { code: string } }).error.code } catch { /* none */ }
      return { status: r.status, code, allow: r.headers.allow as string | undefined }
    }
    t.same(await get('GET', '/nope'), { status: 404, code: 'CT_ERR_NOT_FOUND', allow: undefined })
    t.same(await get('GET', '/sql'), { status: 405, code: 'CT_ERR_METHOD_NOT_ALLOWED', allow: 'POST' })
    t.same(await get('DELETE', '/metrics'), { status: 405, code: 'CT_ERR_METHOD_NOT_ALLOWED', allow: 'GET, HEAD' })
    t.same(await get('POST', '/projects/acme/exists'), { status: 405, code: 'CT_ERR_METHOD_NOT_ALLOWED', allow: 'GET, HEAD' })
    t.same(await get('GET', '/%ZZ/..%2f'), { status: 404, code: 'CT_ERR_NOT_FOUND', allow: undefined })
    for (const auth of ['Bearer wrong', '', 'Basic YWRtaW46YWRtaW4=', `Bearer ${token}x`, `bearer  ${token} extra`]) {
      const r = await sql('SELECT 1', 'format=TabSeparated', auth)
      t.same([r.status, r.code, r.headers.get('www-authenticate')], [401, 'CT_ERR_UNAUTHORIZED', 'Bearer'], `auth "${auth.slice(0, 12)}"`)
    }
    const big = await sql(`SELECT '${'x'.repeat(70 * 1024)}'`)
    t.same([big.status, big.code], [413, 'CT_ERR_SQL_REFUSED'], 'a body past 64 KiB')
    t.same(Object.values(await sql('SELECT 1', 'format=Nonsense')).slice(0, 1), [400], 'unknown format')
    t.equal((await sql('SELECT 1', 'format=Nonsense')).code, 'CT_ERR_SQL_REFUSED')
    t.equal((await sql('SELECT 1', 'bogus=1')).code, 'CT_ERR_BAD_REQUEST', 'unknown query-string key')
    t.equal((await sql('SELECT {a:String}', 'param_a-b=1')).code, 'CT_ERR_SQL_REFUSED', 'bad parameter name')
    t.equal((await sql('SELECT {a:String}', 'param_a=%00')).code, 'CT_ERR_SQL_REFUSED', 'control character in a parameter')
    t.equal((await sql('\u0000\u00ff\ud800 garbage')).code, 'CT_ERR_SQL_FAILED', 'binary junk is a syntax error')
    t.equal((await sql('SELECT {missing:String}')).code, 'CT_ERR_SQL_FAILED', 'a placeholder without a value')
    const conn = await rawConnection(e.admin.port)
    const junk = await conn.ask('GARBAGE\r\n\r\n\x00\x01\x02')
    conn.close()
    t.notMatch(junk, /^HTTP\/1\.1 [23]/, `a request line that is not HTTP gets no 2xx (${JSON.stringify(junk.slice(0, 40))})`)
    t.equal((await sql('SELECT 1')).text, '1\n', 'and the listener still answers')
  })

  await t.test('a handler that throws is answered 500 CT_ERR_INTERNAL, and the process lives on', async t => {
    // A fault that cannot be caused for real: the store's client throwing synchronously.
    const reader = e.store.reader
    const query = reader.query
    reader.query = () => { throw new Error('injected fault') }
    try {
      const r = await request(e.admin.port, { path: '/projects/acme/exists', headers: { authorization: `Bearer ${token}` } })
      t.equal(r.status, 500)
      t.match(JSON.parse(r.body), { error: { code: 'CT_ERR_INTERNAL' } })
      t.notMatch(r.body, /injected/, 'the error itself is logged, not answered')
      const s = await sql('SELECT 1')
      t.same([s.status, s.code], [500, 'CT_ERR_INTERNAL'], 'a failure inside the SQL path too')
    } finally {
      reader.query = query
    }
    t.equal((await sql('SELECT 1')).text, '1\n', 'and the listener still answers')
  })
})
