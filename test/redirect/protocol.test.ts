import t from 'tap'
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { startRedirectTestEngine, startTestEngine } from '../helpers/engine.js'
import { request } from '../helpers/http.js'
import { MemorySink } from '../../src/records.js'

// HTTP/1.0 and many-field requests, through the real engine. uWS v20.30 alone answers neither
// (it waits for more bytes until its ~10 s idle timeout, then closes): the HTTP front
// (src/http/front.ts) is what answers them, so every test here also checks it is prompt.

const DEST = 'https://example.com/landing?x=1'
/** Well under uWS's 10 s idle timeout: an answer this fast was not a timeout. */
const PROMPT_MS = 3000

interface RawReply { text: string, status: number, ms: number, closedByServer: boolean }

/** Sends `bytes` on a fresh connection and collects what comes back until the server closes (or `waitMs`). */
function raw (port: number, bytes: string, waitMs = 6000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now()
    const chunks: Buffer[] = []
    let closedByServer = false
    const s = connect(port, '127.0.0.1', () => { s.write(bytes, 'latin1') })
    const timer = setTimeout(() => { s.destroy() }, waitMs)
    s.on('data', c => chunks.push(c))
    s.on('end', () => { closedByServer = true })
    s.on('error', reject)
    s.on('close', () => {
      clearTimeout(timer)
      const text = Buffer.concat(chunks).toString('latin1')
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text)
      resolve({ text, status: m === null ? 0 : Number(m[1]), ms: Date.now() - t0, closedByServer })
    })
  })
}

function header (text: string, name: string): string | undefined {
  const m = new RegExp(`^${name}: *(.*)$`, 'im').exec(text.split('\r\n\r\n')[0])
  return m?.[1]
}

// .ci/run installs curl; elsewhere the curl checks say they were skipped (the raw-socket
// HTTP/1.0 checks below still run).
const CURL_MISSING: string | false = existsSync('/usr/bin/curl') ? false : 'curl is not installed (/usr/bin/curl): curl --http1.0 checks skipped'

function curl (args: string[]): Promise<{ code: number, out: string, ms: number }> {
  const t0 = Date.now()
  return new Promise(resolve => {
    execFile('/usr/bin/curl', ['-s', '-S', '--max-time', '8', ...args], (err, stdout) => {
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? 1), out: stdout, ms: Date.now() - t0 })
    })
  })
}

function manyFields (n: number): string {
  let s = ''
  for (let i = 0; i < n; i++) s += `X-Filler-${i}: value ${i}\r\n`
  return s
}

t.test('redirect port', async t => {
  const sink = new MemorySink()
  const e = await startRedirectTestEngine(t, {}, sink)
  const tracked = new URL(e.track('acme', DEST))
  const host = tracked.host
  const path = tracked.pathname

  t.test('curl --http1.0 gets the 302 with the Location, promptly', { skip: CURL_MISSING }, async t => {
    const r = await curl(['--http1.0', '-i', '-H', `Host: ${host}`, `http://127.0.0.1:${e.port}${path}`])
    t.equal(r.code, 0, 'curl exits 0')
    t.match(r.out, /^HTTP\/1\.1 302 /, 'a 302')
    t.equal(header(r.out, 'Location'), DEST, 'to the destination')
    t.ok(r.ms < PROMPT_MS, `answered in ${r.ms} ms`)
  })

  t.test('curl --http1.0 with --resolve (the real Host and URL) and HEAD', { skip: CURL_MISSING }, async t => {
    const hostname = tracked.hostname
    const url = `http://${hostname}:${e.port}${path}`
    const get = await curl(['--http1.0', '-i', '--resolve', `${hostname}:${e.port}:127.0.0.1`, '-H', `Host: ${host}`, url])
    t.match(get.out, /^HTTP\/1\.1 302 /)
    t.equal(header(get.out, 'Location'), DEST)
    const head = await curl(['--http1.0', '-I', '--resolve', `${hostname}:${e.port}:127.0.0.1`, '-H', `Host: ${host}`, url])
    t.equal(head.code, 0)
    t.match(head.out, /^HTTP\/1\.1 302 /, 'HEAD 302')
    t.equal(header(head.out, 'Location'), DEST)
    t.ok(head.ms < PROMPT_MS, `HEAD answered in ${head.ms} ms`)
  })

  t.test('a raw HTTP/1.0 GET gets its 302 and the connection is closed after it', async t => {
    await e.server.handoff()
    const before = sink.observations.length
    const r = await raw(e.port, `GET ${path} HTTP/1.0\r\nHost: ${host}\r\nUser-Agent: Lynx/2.9.0\r\n\r\n`)
    t.equal(r.status, 302)
    t.equal(header(r.text, 'Location'), DEST)
    t.ok(r.closedByServer, 'the server ends the exchange (HTTP/1.0 without keep-alive)')
    t.ok(r.ms < PROMPT_MS, `answered and closed in ${r.ms} ms`)
    await e.server.handoff()
    const o = sink.observations[before]
    t.match(o, { method: 'GET', userAgent: 'Lynx/2.9.0', ip: '127.0.0.1', host }, 'observed, with the client address from the PROXY header')
    t.ok((e.server.front?.stats.http10 ?? 0) >= 1, 'counted')
  })

  t.test('HTTP/1.0 without Host is answered (404: no tracking host), not held', async t => {
    const r = await raw(e.port, `GET ${path} HTTP/1.0\r\n\r\n`)
    t.equal(r.status, 404)
    t.ok(r.ms < PROMPT_MS)
  })

  t.test('bare LF line ends (RFC 9112 2.2 allows them) get the 302', async t => {
    const r = await raw(e.port, `GET ${path} HTTP/1.0\nHost: ${host}\n\n`)
    t.equal(r.status, 302)
    t.equal(header(r.text, 'Location'), DEST)
    const mixed = await raw(e.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\nConnection: close\r\n\n`)
    t.equal(mixed.status, 302)
  })

  t.test('HTTP/1.0 in absolute form (from an old proxy) gets its 302', async t => {
    const r = await raw(e.port, `GET http://${host}${path} HTTP/1.0\r\nVia: 1.0 oldproxy\r\n\r\n`)
    t.equal(r.status, 302)
    t.equal(header(r.text, 'Location'), DEST)
  })

  for (const n of [48, 60, 100]) {
    t.test(`${n} header fields (HTTP/1.1) get the 302`, async t => {
      await e.server.handoff()
      const before = sink.observations.length
      const r = await raw(e.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: many/1\r\n${manyFields(n - 3)}Connection: close\r\n\r\n`)
      t.equal(r.status, 302)
      t.equal(header(r.text, 'Location'), DEST)
      t.ok(r.ms < PROMPT_MS, `answered in ${r.ms} ms`)
      await e.server.handoff()
      t.equal(sink.observations[before]?.userAgent, 'many/1', 'the fields the server reads are kept')
    })
  }

  t.test('100 fields with HTTP/1.0 get the 302 too', async t => {
    const r = await raw(e.port, `GET ${path} HTTP/1.0\r\nHost: ${host}\r\n${manyFields(99)}\r\n`)
    t.equal(r.status, 302)
    t.equal(header(r.text, 'Location'), DEST)
  })

  t.test('60 fields the server reads (same names merged) still get the 302', async t => {
    let fields = ''
    for (let i = 0; i < 60; i++) fields += `Via: 1.1 hop${i}\r\n`
    const r = await raw(e.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${fields}Connection: close\r\n\r\n`)
    t.equal(r.status, 302)
  })

  t.test('keep-alive: a normal request, a 60-field one and a normal one on one connection', async t => {
    const one = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`
    const many = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n${manyFields(59)}\r\n`
    const r = await raw(e.port, one + many + one.replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n'))
    t.equal(r.text.match(/HTTP\/1\.1 302 /g)?.length, 3, 'three 302s, in order')
    t.ok(r.closedByServer)
  })

  t.test('what no server could answer as a redirect gets a prompt 4xx with a code', async t => {
    const version = await raw(e.port, `GET ${path} HTTP/2.0\r\nHost: ${host}\r\n\r\n`)
    t.equal(version.status, 400, 'an HTTP version we do not speak: 400, never a 5xx')
    t.match(version.text, /CT_ERR_HTTP_VERSION/)
    const noHost = await raw(e.port, `GET ${path} HTTP/1.1\r\n\r\n`)
    t.equal(noHost.status, 400, 'HTTP/1.1 without Host: 400 (RFC 9112 3.2)')
    t.match(noHost.text, /CT_ERR_HTTP_BAD_REQUEST/)
    const twoHosts = await raw(e.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nHost: evil.example\r\n\r\n`)
    t.equal(twoHosts.status, 400)
    const ctrl = await raw(e.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nX-A: a\u0001b\r\n\r\n`)
    t.equal(ctrl.status, 400, 'a control character in a value')
    const simple = await raw(e.port, `GET ${path}\r\n\r\n`)
    t.equal(simple.status, 400, 'an HTTP/0.9-style request line')
    const huge = await raw(e.port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nX: ${'a'.repeat(140_000)}\r\n\r\n`)
    t.equal(huge.status, 431)
    t.match(huge.text, /CT_ERR_HTTP_HEAD_TOO_LARGE/)
    for (const r of [version, noHost, twoHosts, ctrl, simple, huge]) t.ok(r.ms < PROMPT_MS && r.closedByServer, `prompt (${r.ms} ms) and closed`)
    t.ok((e.server.front?.stats.refused ?? 0) >= 5, 'counted')
  })

  t.test('a head split across packets and a POST body are framed right', async t => {
    const chunks = await new Promise<string>((resolve, reject) => {
      const s = connect(e.port, '127.0.0.1', () => {
        s.write(`GET ${path} HTTP/1.0\r\nHo`)
        setTimeout(() => { s.write(`st: ${host}\r\n\r\n`) }, 50)
      })
      let got = ''
      s.on('data', c => { got += c.toString('latin1') })
      s.on('error', reject)
      s.on('close', () => { resolve(got) })
    })
    t.match(chunks, /^HTTP\/1\.1 302 /)
    const post = await raw(e.port, `POST /nowhere HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 21\r\n\r\nGET /x HTTP/1.1\r\n\r\n\r\nGET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`)
    const statuses = [...post.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map(m => m[1])
    t.same(statuses, ['404', '302'], 'the body is not taken for a request')
  })

  t.test('HTTP/1.1 clients are unaffected: node http and curl keep-alive', async t => {
    const r = await request(e.port, { path, host })
    t.equal(r.status, 302)
    t.equal(r.headers.location, DEST)
    const c = await curl(['-i', '-H', `Host: ${host}`, `http://127.0.0.1:${e.port}${path}`, `http://127.0.0.1:${e.port}${path}`])
    t.equal(c.out.match(/HTTP\/1\.1 302 /g)?.length, 2)
  })
})

t.test('with --redirect-front=false uWS serves the port itself (and strands HTTP/1.0: why the front is on)', async t => {
  const e = await startRedirectTestEngine(t, { 'redirect-front': 'false' }, new MemorySink())
  const tracked = new URL(e.track('acme', DEST))
  t.equal(e.server.front, undefined)
  const ok = await request(e.port, { path: tracked.pathname, host: tracked.host })
  t.equal(ok.status, 302)
  const r = await raw(e.port, `GET ${tracked.pathname} HTTP/1.0\r\nHost: ${tracked.host}\r\n\r\n`, 1500)
  t.equal(r.text, '', 'uWS v20.30 sends nothing to HTTP/1.0 (upstream issue #1547)')
  t.notOk(r.closedByServer, 'and holds the connection')
})

t.test('Team API and admin ports: HTTP/1.0 GET, HEAD and POST get an answer', async t => {
  const e = await startTestEngine(t, {}, {}, undefined, 'acme')
  const port = e.api.port
  const token = e.team!.token
  const get = await curl(['--http1.0', '-i', '-H', `Authorization: Bearer ${token}`, `http://127.0.0.1:${port}/v1/projects`])
  t.equal(get.code, 0)
  t.match(get.out, /^HTTP\/1\.1 200 /)
  t.match(get.out, /"project_id"/)
  t.ok(get.ms < PROMPT_MS, `answered in ${get.ms} ms`)
  const unauth = await raw(port, 'GET /v1/projects HTTP/1.0\r\n\r\n')
  t.equal(unauth.status, 401)
  t.ok(unauth.closedByServer && unauth.ms < PROMPT_MS)
  const head = await curl(['--http1.0', '-I', `http://127.0.0.1:${port}/v1/openapi.json`])
  t.equal(head.code, 0, 'HEAD with HTTP/1.0 ends')
  t.match(head.out, /^HTTP\/1\.1 \d{3} /)
  t.ok(head.ms < PROMPT_MS, `HEAD answered in ${head.ms} ms`)
  const many = await raw(port, `GET /v1/projects HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n${manyFields(80)}Connection: close\r\n\r\n`)
  t.equal(many.status, 200, '82 fields: answered, the token kept')

  const admin = e.admin.port
  const sql = await raw(admin, 'POST /sql HTTP/1.0\r\nContent-Length: 8\r\n\r\nSELECT 1')
  t.equal(sql.status, 401, 'admin listener: HTTP/1.0 POST with a body is answered (no token: 401)')
  t.ok(sql.closedByServer && sql.ms < PROMPT_MS)
  const other = await curl(['--http1.0', '-i', `http://127.0.0.1:${admin}/nothing`])
  t.match(other.out, /^HTTP\/1\.1 404 /, 'admin listener: HTTP/1.0 GET answered')
})
