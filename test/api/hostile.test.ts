import t, { type Test } from 'tap'
import net from 'node:net'
import { pino } from 'pino'
import { startTestEngine, type TestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { silentLogger } from '../../src/log.js'
import { limited } from '../../src/log-limit.js'
import { ApiServer } from '../../src/api/server.js'
import type { RouteDef } from '../../src/api/routes.js'

// Malformed and hostile requests thrown at the real Team API port (real uWS, real
// embedded ClickHouse, real control plane). Each must get a 4xx with a stable code, and
// the process must go on serving: a crash here ends the test process itself. Issue 10,
// Rule 1: `GET /v1/projects/%ZZ` without a token used to end the whole process.

const UUID = '00000000-0000-4000-8000-000000000000'

interface Parsed { status: number, headers: Record<string, string>, body: string }

/**
 * Writes `bytes` on one raw connection and reads back `count` responses, parsed by
 * Content-Length (HEAD responses, listed by their index in `heads`, have no body). Resolves
 * early when the server closes the connection.
 */
function raw (port: number, bytes: string | Buffer, count: number, heads: number[] = [], timeoutMs = 5000): Promise<{ responses: Parsed[], closed: boolean, rest: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1')
    let buf = Buffer.alloc(0)
    const responses: Parsed[] = []
    let closed = false
    const finish = (): void => { clearTimeout(timer); sock.destroy(); resolve({ responses, closed, rest: buf.toString('latin1') }) }
    const timer = setTimeout(finish, timeoutMs)
    sock.on('error', err => { if (!closed) reject(err) })
    sock.on('close', () => { closed = true; finish() })
    sock.on('data', d => {
      buf = Buffer.concat([buf, d])
      for (;;) {
        const end = buf.indexOf('\r\n\r\n')
        if (end === -1) return
        const lines = buf.toString('latin1', 0, end).split('\r\n')
        const m = /^HTTP\/1\.1 (\d{3}) /.exec(lines[0])
        if (m === null) { reject(new Error(`not a status line: ${JSON.stringify(lines[0])}`)); sock.destroy(); return }
        const headers: Record<string, string> = {}
        for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim()
        const length = heads.includes(responses.length) ? 0 : Number(headers['content-length'] ?? 0)
        if (buf.length < end + 4 + length) return
        responses.push({ status: Number(m[1]), headers, body: buf.toString('utf8', end + 4, end + 4 + length) })
        buf = buf.subarray(end + 4 + length)
        if (responses.length === count) { finish(); return }
      }
    })
    sock.write(bytes)
  })
}

/** `requests` one after the other on one connection, each sent once the answer before it arrived. */
async function sequential (port: number, requests: string[], heads: number[] = []): Promise<{ responses: Parsed[], closed: boolean, rest: string }> {
  const sock = net.connect(port, '127.0.0.1')
  let buf = Buffer.alloc(0)
  let closed = false
  const responses: Parsed[] = []
  sock.on('data', d => { buf = Buffer.concat([buf, d]) })
  sock.on('close', () => { closed = true })
  sock.on('error', () => {})
  try {
    for (let i = 0; i < requests.length; i++) {
      sock.write(requests[i])
      const deadline = Date.now() + 5000
      for (;;) {
        const end = buf.indexOf('\r\n\r\n')
        if (end !== -1) {
          const lines = buf.toString('latin1', 0, end).split('\r\n')
          const headers: Record<string, string> = {}
          for (const l of lines.slice(1)) headers[l.slice(0, l.indexOf(':')).toLowerCase()] = l.slice(l.indexOf(':') + 1).trim()
          const length = heads.includes(i) ? 0 : Number(headers['content-length'] ?? 0)
          if (buf.length >= end + 4 + length) {
            responses.push({ status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(lines[0])?.[1]), headers, body: buf.toString('utf8', end + 4, end + 4 + length) })
            buf = buf.subarray(end + 4 + length)
            break
          }
        }
        if (closed || Date.now() > deadline) return { responses, closed, rest: buf.toString('latin1') }
        await new Promise(resolve => setTimeout(resolve, 5))
      }
    }
    await new Promise(resolve => setTimeout(resolve, 20))
    return { responses, closed, rest: buf.toString('latin1') }
  } finally {
    sock.destroy()
  }
}

const code = (r: { body: string }): string | undefined => { try { return JSON.parse(r.body).error.code } catch { return undefined } }
const METHOD: Record<RouteDef['method'], string> = { get: 'GET', post: 'POST', put: 'PUT', patch: 'PATCH', del: 'DELETE' }

t.test('hostile input on the Team API', async t => {
  const e = await startTestEngine(t)
  const port = e.api.port
  const { token, project } = e.team!
  const healthy = async (what: string): Promise<void> => {
    const r = await api(port, 'GET', `/v1/projects/${project.project_id}`, token)
    t.equal(r.status, 200, `still serving after ${what}`)
  }

  await t.test('bad percent-encoding in every path parameter position: 400 CT_ERR_BAD_PATH, with or without a token', async t => {
    // The exact request first: it used to end the process.
    const first = await api(port, 'GET', '/v1/projects/%ZZ')
    t.equal(first.status, 400)
    t.equal(first.body.error.code, 'CT_ERR_BAD_PATH')
    let positions = 0
    for (const route of e.api.routes) {
      const names = [...route.path.matchAll(/:([a-z_]+)/g)].map(m => m[1])
      for (let k = 0; k < names.length; k++) {
        for (const bad of ['%ZZ', '%E2%82', '%ED%A0%80', '%C0%AF', '%']) {
          let i = 0
          const path = route.path.replace(/:[a-z_]+/g, () => (i++ === k ? bad : UUID))
          for (const tok of [undefined, token]) {
            const r = await api(port, METHOD[route.method], path, tok, route.method === 'get' || route.method === 'del' ? undefined : {})
            t.equal(r.status, 400, `${METHOD[route.method]} ${path} ${tok === undefined ? 'without' : 'with'} a token`)
            t.equal(r.body?.error?.code, 'CT_ERR_BAD_PATH')
          }
        }
        positions++
      }
    }
    t.ok(positions >= 10, `${positions} parameter positions`)
    // Decodable but odd: an ordinary not-found.
    t.equal((await api(port, 'GET', '/v1/projects/%00', token)).body.error.code, 'CT_ERR_NOT_FOUND')
    t.equal((await api(port, 'GET', `/v1/projects/${'%41'.repeat(2000)}`, token)).body.error.code, 'CT_ERR_NOT_FOUND')
    t.ok((e.api.stats.refused.CT_ERR_BAD_PATH ?? 0) > 0, 'counted')
    t.ok((limited(silentLogger).seen.get('api.refused.CT_ERR_BAD_PATH') ?? 0) > 0, 'logged, rate-limited by code')
    await healthy('bad paths')
  })

  await t.test('bad or missing auth: 401 CT_ERR_UNAUTHORIZED', async t => {
    const cases: Array<string | undefined> = [undefined, '', 'Bearer', 'Bearer ', 'Bearer a b', 'Basic dXNlcjpwYXNz', 'bearer', `Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, `Bearer ct_${'a'.repeat(8)}_${'b'.repeat(43)}`, `Bearer ${'x'.repeat(4000)}`, 'Bearer \u00e9\u00e9']
    for (const auth of cases) {
      const headers = auth === undefined ? '' : `Authorization: ${auth}\r\n`
      const r = await raw(port, Buffer.from(`GET /v1/projects HTTP/1.1\r\nHost: api\r\n${headers}\r\n`, 'latin1'), 1)
      t.equal(r.responses[0]?.status, 401, JSON.stringify(auth?.slice(0, 40)))
      t.equal(code(r.responses[0]), 'CT_ERR_UNAUTHORIZED')
    }
    await healthy('bad auth')
  })

  await t.test('bodies: non-JSON, not UTF-8, not an object, deep nesting, huge numbers', async t => {
    const post = async (body: string | Buffer, path = '/v1/projects'): Promise<{ status: number, code: string | undefined }> => {
      const r = await api(port, 'POST', path, token, body)
      return { status: r.status, code: r.body?.error?.code }
    }
    t.same(await post('{"name": '), { status: 400, code: 'CT_ERR_BAD_JSON' }, 'truncated JSON')
    t.same(await post('name=x'), { status: 400, code: 'CT_ERR_BAD_JSON' }, 'a form')
    t.same(await post(''), { status: 400, code: 'CT_ERR_BAD_JSON' }, 'empty')
    t.same(await post(Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])), { status: 400, code: 'CT_ERR_BAD_JSON' }, 'invalid UTF-8')
    t.same(await post(Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('{"name":"bom"}')])), { status: 400, code: 'CT_ERR_BAD_JSON' }, 'a byte-order mark is not JSON')
    for (const notObject of ['[]', '"x"', '42', 'null', 'true', '[{"name":"x"}]']) t.same(await post(notObject), { status: 400, code: 'CT_ERR_VALIDATION' }, notObject)
    t.same(await post('{"name":"x","token_ttl_days":1e400}'), { status: 400, code: 'CT_ERR_VALIDATION' }, '1e400 is Infinity, not an integer in range')
    t.same(await post('{"name":"x","token_ttl_days":123456789012345678901234567890}'), { status: 400, code: 'CT_ERR_VALIDATION' })
    t.same(await post('{"name":"x","token_ttl_days":-0.5}'), { status: 400, code: 'CT_ERR_VALIDATION' })
    t.same(await post('{"name":"x","name":"y","__proto__":{"admin":true}}'), { status: 400, code: 'CT_ERR_VALIDATION' }, 'an unknown field, however spelt')
    // 30,000 levels in 60 KB (under the 64 KB limit), and 1,000,000 levels on the 10 MB rewrite route.
    t.same(await post(`{"name":${'['.repeat(30_000)}${']'.repeat(30_000)}}`), { status: 400, code: 'CT_ERR_BAD_JSON' }, 'nested 30,000 deep')
    t.same(await post(`{"route_id":"${UUID}","from":"a","to":["b"],"html":"","metadata":{"a":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}}`, '/v1/rewrite'), { status: 400, code: 'CT_ERR_BAD_JSON' }, 'nested 1,000,000 deep')
    t.same(await post(`{"name":"x","sid":${'{"a":'.repeat(40)}1${'}'.repeat(40)}}`), { status: 400, code: 'CT_ERR_BAD_JSON' }, 'objects nested past the bound')
    await healthy('bad bodies')
  })

  await t.test('wrong content types: 415 CT_ERR_UNSUPPORTED_MEDIA_TYPE', async t => {
    const body = '{"name":"typed"}'
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'json', '', ';;;']) {
      const head = type === '' ? 'Content-Type: \r\n' : `Content-Type: ${type}\r\n`
      const r = await raw(port, `POST /v1/projects HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${token}\r\n${head}Content-Length: ${body.length}\r\n\r\n${body}`, 1)
      if (type === '') { t.equal(r.responses[0].status, 201, 'an empty Content-Type reads as none: JSON'); continue }
      t.equal(r.responses[0]?.status, 415, type)
      t.equal(code(r.responses[0]), 'CT_ERR_UNSUPPORTED_MEDIA_TYPE')
    }
    const ok = await raw(port, `POST /v1/projects HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${token}\r\nContent-Type: Application/JSON; charset=UTF-8\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 1)
    t.equal(ok.responses[0].status, 201, 'media types are case-insensitive, parameters allowed')
    const mime = await raw(port, `POST /v1/rewrite/mime?route_id=${e.team!.routes[0].route_id} HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`, 1)
    t.equal(mime.responses[0].status, 415, 'the MIME route takes message/rfc822')
    await healthy('wrong content types')
  })

  await t.test('unknown methods and paths: 405 with Allow, 404; methods uWS does not parse close the connection', async t => {
    for (const [method, path, allow] of [['PUT', '/v1/projects', 'GET, HEAD, POST'], ['DELETE', '/v1/projects', 'GET, HEAD, POST'], ['OPTIONS', `/v1/routes/${UUID}`, 'GET, HEAD, PUT, PATCH, DELETE'], ['TRACE', '/v1/rewrite', 'POST'], ['POST', '/v1/openapi.json', 'GET, HEAD']] as const) {
      const r = await raw(port, `${method} ${path} HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${token}\r\n\r\n`, 1)
      t.equal(r.responses[0]?.status, 405, `${method} ${path}`)
      t.equal(code(r.responses[0]), 'CT_ERR_METHOD_NOT_ALLOWED')
      t.equal(r.responses[0].headers.allow, allow)
    }
    // `/` is the dashboard (test/api/dashboard.test.ts).
    for (const path of ['/nothing-here', '/v1', '/v1/projects/', '/v2/projects', '/v1/projects/x/y/z', '/%ZZ', '/v1/../admin']) {
      const r = await raw(port, `GET ${path} HTTP/1.1\r\nHost: api\r\n\r\n`, 1)
      t.equal(r.responses[0]?.status, 404, path)
      t.equal(code(r.responses[0]), 'CT_ERR_NOT_FOUND')
    }
    // uWS's parser refuses a method it does not know (and lower-case ones) by closing the
    // connection at once, before any handler runs: no answer, but nothing held either.
    for (const line of ['FOO /v1/projects HTTP/1.1', 'get /v1/projects HTTP/1.1']) {
      const started = Date.now()
      const r = await raw(port, `${line}\r\nHost: api\r\n\r\n`, 1, [], 5000)
      t.ok(r.closed && r.responses.length === 0 && Date.now() - started < 2000, `${line}: closed at once`)
    }
    await healthy('unknown methods')
  })

  await t.test('HEAD on every GET path sends headers only: the next response on the connection parses', async t => {
    const paths = ['/v1/openapi.json', '/v1/projects', `/v1/projects/${project.project_id}`, `/v1/projects/${project.project_id}/routes`, `/v1/projects/${UUID}`, '/v1/nothing-here', '/v1/projects/%ZZ', `/v1/routes/${e.team!.routes[0].route_id}`]
    for (const route of e.api.routes) if (route.method === 'get') paths.push(route.path.replace(/:[a-z_]+/g, UUID))
    for (const path of paths) {
      for (const auth of [`Authorization: Bearer ${token}\r\n`, '']) {
        const req = (method: string): string => `${method} ${path} HTTP/1.1\r\nHost: api\r\n${auth}\r\n`
        const third = `GET /v1/projects/${project.project_id} HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${token}\r\n\r\n`
        const started = Date.now()
        let r = await raw(port, req('HEAD') + req('GET') + third, 3, [0])
        if (r.responses.length === 0 && r.closed) {
          // uWS v20.30 closes a connection at once when a request arrives pipelined behind an
          // answer still being worked out (a route that waits for ClickHouse): the client
          // retries unanswered pipelined requests (RFC 9112 9.3.2). Prompt, never a hang; the
          // same requests one after the other on one connection must then parse.
          t.ok(Date.now() - started < 2000, `HEAD ${path}: pipelined behind an asynchronous answer, the connection closes at once`)
          r = await sequential(port, [req('HEAD'), req('GET'), third], [0])
        }
        t.equal(r.responses.length, 3, `HEAD ${path} ${auth === '' ? 'without' : 'with'} a token, then two GETs on the same connection`)
        const [head, get, next] = r.responses
        t.equal(head.status, get.status, `HEAD ${path}: the status of the GET`)
        t.equal(head.headers['content-length'], String(Buffer.byteLength(get.body)), 'and its Content-Length')
        t.equal(next.status, 200)
        t.equal(JSON.parse(next.body).project_id, project.project_id, 'the third response is read where it starts')
        t.equal(r.rest, '', 'nothing left over')
      }
    }
  })

  await t.test('pipelining: good requests, then garbage, on one raw socket', async t => {
    const good = `GET /v1/projects/${project.project_id} HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${token}\r\n\r\n`
    const garbage = ['\x00\x01\x02\xff\r\n\r\n', 'GARBAGE\r\n\r\n', 'GET /v1/projects HTTP/9.9\r\n\r\n', 'GET /v1/projects HTTP/1.1\r\nNo-Colon-Here\r\n\r\n', 'GET /v1/projects HTTP/1.1\r\nContent-Length: -1\r\n\r\n', 'POST /v1/projects HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n', 'GET /v1/projects HTTP/1.1\r\n' + 'X-A: b\r\n'.repeat(200) + '\r\n', 'GET ' + '/a'.repeat(40_000) + ' HTTP/1.1\r\n\r\n']
    for (const g of garbage) {
      const label = JSON.stringify(g.slice(0, 30))
      // Garbage after answered requests: those stand; whatever follows is never a 5xx.
      const sock = net.connect(port, '127.0.0.1')
      let got = ''
      sock.on('data', d => { got += d.toString('latin1') })
      sock.on('error', () => {})
      sock.write(good + good)
      for (let i = 0; i < 100 && (got.match(/HTTP\/1\.1 200/g) ?? []).length < 2; i++) await new Promise(resolve => setTimeout(resolve, 20))
      t.equal((got.match(/HTTP\/1\.1 200/g) ?? []).length, 2, `${label}: the requests before it are answered`)
      sock.write(Buffer.from(g + good, 'latin1'))
      await new Promise(resolve => setTimeout(resolve, 300))
      sock.destroy()
      t.notMatch(got, /HTTP\/1\.1 5\d\d/, `${label}: never a 5xx`)
      // All in one segment: uWS parses the segment before answering; a request its parser
      // refuses (bad Content-Length, more than its header limit, an over-long request line)
      // drops the connection with nothing answered. Never a 5xx, never a crash.
      const r = await raw(port, Buffer.from(good + g + good, 'latin1'), 2, [], 1000)
      for (const resp of r.responses) t.ok(resp.status === 200 || (resp.status >= 400 && resp.status < 500), `${label}: ${resp.status}`)
    }
    await healthy('pipelined garbage')
  })

  await t.test('a body over the limit: 413 CT_ERR_BODY_TOO_LARGE; a connection closed mid-body', async t => {
    const big = JSON.stringify({ name: 'x'.repeat(70 * 1024) })
    const r = await api(port, 'POST', '/v1/projects', token, big)
    t.equal(r.status, 413)
    t.equal(r.body.error.code, 'CT_ERR_BODY_TOO_LARGE')
    const chunked = await raw(port, `POST /v1/projects HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${token}\r\nTransfer-Encoding: chunked\r\n\r\n` + `10000\r\n${'x'.repeat(0x10000)}\r\n`.repeat(2) + '0\r\n\r\n', 1)
    t.equal(chunked.responses[0]?.status, 413, 'chunked too')
    t.equal(code(chunked.responses[0]), 'CT_ERR_BODY_TOO_LARGE')
    // Announce 100 KB on the rewrite route, send a little, hang up; again with a body cut mid-UTF-8.
    for (const part of ['{"route_id":"', Buffer.from([0x7b, 0x22, 0xe2, 0x82])]) {
      await new Promise<void>(resolve => {
        const sock = net.connect(port, '127.0.0.1', () => {
          sock.write(`POST /v1/rewrite HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n`)
          sock.write(part)
          setTimeout(() => { sock.destroy(); resolve() }, 100)
        })
        sock.on('error', () => {})
      })
    }
    await healthy('a connection closed mid-body')
  })

  await t.test('a handler that throws, or a reply that cannot be written, answers 500 and the process goes on', async t => {
    await handlerFaults(t, e, token)
  })
})

async function handlerFaults (t: Test, e: TestEngine, token: string): Promise<void> {
  const lines: string[] = []
  const log = pino({ level: 'warn' }, { write: (s: string) => { lines.push(s) } })
  // 8 MB that a slow reader takes in pieces: streamed with tryEnd/onWritable from where the socket stopped.
  const big = Buffer.alloc(8 * 1024 * 1024)
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i)
  const unhandled: unknown[] = []
  const onUnhandled = (err: unknown): void => { unhandled.push(err) }
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => { process.off('unhandledRejection', onUnhandled) })
  let aborted: () => void = () => {}
  const gotAborted = new Promise<void>(resolve => { aborted = resolve })
  // Test-only routes on a second real ApiServer over the same control plane: these faults
  // (a bug in a handler, a value JSON cannot write, a client gone before the answer) cannot
  // be caused through the product's own routes, which is the point of the fix.
  const route = (path: string, handler: RouteDef['handler']): RouteDef => ({ method: 'get', path, operationId: path, summary: path, tag: 'test', response: { status: 200 }, errors: [], handler })
  const server = new ApiServer({
    plane: e.plane,
    log,
    trackingBaseUrl: 'http://t.localhost:8080',
    version: 'test',
    extraRoutes: [
      route('/test/throws', () => { throw new TypeError('a bug') }),
      route('/test/rejects', async () => { await Promise.resolve(); throw new Error('storage is unavailable') }),
      route('/test/bigint', () => ({ status: 200, body: { n: 10n } })),
      route('/test/circular', () => { const o: Record<string, unknown> = {}; o.self = o; return { status: 200, body: o } }),
      route('/test/clickhouse', async () => { await e.store.reader.query({ query: 'SELECT * FROM no_such_table_here', format: 'JSONEachRow' }); return { status: 200 } }),
      route('/test/slow', async () => { await gotAborted; await new Promise(resolve => setTimeout(resolve, 50)); return { status: 200, body: { late: true } } }),
      route('/test/big', () => ({ status: 200, raw: big, contentType: 'application/octet-stream' })),
      route('/test/empty', () => ({ status: 200 }))
    ]
  })
  const port = await server.start('127.0.0.1', 0)
  t.teardown(() => { server.stop() })
  for (const [path, status, expected] of [['/test/throws', 500, 'CT_ERR_INTERNAL'], ['/test/rejects', 500, 'CT_ERR_INTERNAL'], ['/test/bigint', 500, 'CT_ERR_INTERNAL'], ['/test/circular', 500, 'CT_ERR_INTERNAL'], ['/test/clickhouse', 503, 'CT_ERR_STORE_UNAVAILABLE']] as const) {
    const r = await api(port, 'GET', path, token)
    t.equal(r.status, status, path)
    t.equal(r.body?.error?.code, expected, `${path}: ${expected}`)
  }
  t.equal(server.stats.internalErrors, 4)
  t.equal(server.stats.storeUnavailable, 1, 'only the real ClickHouse error is 503; an Error saying "storage is unavailable" is a bug, 500')
  // The client hangs up before the handler answers: the late answer must not touch the response.
  await new Promise<void>(resolve => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.write(`GET /test/slow HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${token}\r\n\r\n`)
      setTimeout(() => { sock.destroy(); setTimeout(() => { aborted(); resolve() }, 50) }, 50)
    })
  })
  await new Promise(resolve => setTimeout(resolve, 200))
  // A slow reader gets every byte in order; a reader that hangs up mid-body costs nothing.
  const slow = await new Promise<Buffer>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => { sock.write(`GET /test/big HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${token}\r\n\r\n`) })
    const chunks: Buffer[] = []
    let size = 0
    sock.on('data', d => {
      chunks.push(d)
      size += d.length
      sock.pause()
      setTimeout(() => sock.resume(), size < 1024 * 1024 ? 20 : 0)
      const all = Buffer.concat(chunks)
      const end = all.indexOf('\r\n\r\n')
      if (end !== -1 && all.length >= end + 4 + big.length) { sock.destroy(); resolve(all.subarray(end + 4)) }
    })
    sock.on('error', reject)
  })
  t.ok(slow.equals(big), 'streamed body complete and in order')
  await new Promise<void>(resolve => {
    const sock = net.connect(port, '127.0.0.1', () => { sock.write(`GET /test/big HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${token}\r\n\r\n`) })
    sock.once('data', () => { sock.destroy(); setTimeout(resolve, 100) })
  })
  const empty = await raw(port, `GET /test/empty HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${token}\r\n\r\nGET /test/empty HTTP/1.1\r\nHost: api\r\nAuthorization: Bearer ${token}\r\n\r\n`, 2)
  t.same(empty.responses.map(r => [r.status, r.headers['content-length']]), [[200, '0'], [200, '0']], 'a reply without a body says Content-Length: 0')
  const after = await api(port, 'GET', '/v1/projects', token)
  t.equal(after.status, 200, 'still serving')
  t.same(unhandled, [], 'no unhandled rejection')
  const logged = lines.map(l => JSON.parse(l) as { kind?: string, level: number })
  t.ok(logged.some(l => l.kind === 'api.internal' && l.level === 50), 'the bug is logged as an error')
  t.ok(logged.some(l => l.kind === 'api.store_unavailable'), 'the ClickHouse failure is logged')
  // Refusals: one line per code per interval, however many come.
  for (let i = 0; i < 20; i++) await api(port, 'GET', '/v1/projects')
  t.equal(lines.map(l => JSON.parse(l) as { kind?: string }).filter(l => l.kind === 'api.refused.CT_ERR_UNAUTHORIZED').length, 1, '20 refusals, one line')
  t.equal(limited(log).seen.get('api.refused.CT_ERR_UNAUTHORIZED'), 20, 'all of them counted')
}
