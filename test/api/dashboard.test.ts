import t from 'tap'
import net from 'node:net'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve } from 'node:path'
import { startTestEngine } from '../helpers/engine.js'
import { request } from '../helpers/http.js'
import { api } from '../helpers/api.js'
import { DASHBOARD_CSP, DASHBOARD_FILES, VENDOR_FILES, dashboardFiles } from '../../src/api/dashboard.js'

// The dashboard's static files on the real Team API listener (through its HTTP front):
// what is served, with which headers, and that nothing else is.

const ROOT = resolve(import.meta.dirname, '..', '..', 'dashboard')

function walk (dir: string): string[] {
  return readdirSync(dir).flatMap(f => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? walk(p) : [relative(ROOT, p)]
  })
}

/** One raw request line and head on a fresh connection: for bytes an HTTP client would refuse or normalise. */
function rawStatus (port: number, head: string): Promise<{ status: number, text: string }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1')
    let buf = ''
    const timer = setTimeout(() => { sock.destroy(); resolve({ status: 0, text: buf }) }, 5000)
    sock.on('error', reject)
    sock.on('data', d => {
      buf += d.toString('latin1')
      if (buf.includes('\r\n\r\n')) {
        clearTimeout(timer)
        sock.destroy()
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(buf)?.[1] ?? 0), text: buf })
      }
    })
    sock.write(head)
  })
}

t.test('the allow-list is the dashboard folder, and every module it imports is on it', async t => {
  t.same([...walk(ROOT)].sort(), [...DASHBOARD_FILES].sort(), 'every file of dashboard/ is served, and only those')
  const served = new Set(dashboardFiles().map(f => f.path))
  for (const name of DASHBOARD_FILES.filter(n => n.endsWith('.js'))) {
    const text = readFileSync(join(ROOT, name), 'utf8')
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g)) {
      const spec = m[1] ?? m[2]
      const url = new URL(spec, `http://x/${name}`).pathname
      t.ok(served.has(url), `${name} imports ${spec} (${url}), which is served`)
    }
    // (An example URL shown as a placeholder is text; the browser test records every request.)
    t.notMatch(text, /(?:fetch\(|import\(|from\s|src=|href=|url\()\s*['"`]?(?:https?:)?\/\/[^/]/, `${name} loads nothing from another origin`)
  }
  for (const name of ['index.html', 'style.css']) t.notMatch(readFileSync(join(ROOT, name), 'utf8'), /https?:\/\/|@import|url\(/, `${name} loads nothing from elsewhere`)
  t.notMatch(readFileSync(join(ROOT, 'index.html'), 'utf8'), /<script(?![^>]*\bsrc=)|\son[a-z]+=|style=/i, 'no inline script, handler or style in index.html')
  // The vendored modules import nothing (a bare specifier would not load without an import map).
  for (const v of VENDOR_FILES.filter(x => x.name.endsWith('js'))) {
    const body = dashboardFiles().find(f => f.path === `/vendor/${v.name}`)?.body.toString('utf8') ?? ''
    t.notMatch(body, /\bimport\s*[\w{*][^;]*?from\s*["']|\bimport\s*\(/, `${v.name} imports nothing`)
  }
})

t.test('served at / of the Team API: content, types, CSP, nosniff, ETag revalidation, HEAD', async t => {
  const e = await startTestEngine(t)
  const port = e.api.port
  const require = createRequire(import.meta.url)
  const expected: Array<[string, Buffer, RegExp]> = [
    ['/', readFileSync(join(ROOT, 'index.html')), /^text\/html; charset=utf-8$/],
    ['/app.js', readFileSync(join(ROOT, 'app.js')), /^text\/javascript; charset=utf-8$/],
    ['/pages/route-settings.js', readFileSync(join(ROOT, 'pages', 'route-settings.js')), /^text\/javascript/],
    ['/style.css', readFileSync(join(ROOT, 'style.css')), /^text\/css; charset=utf-8$/],
    ['/favicon.svg', readFileSync(join(ROOT, 'favicon.svg')), /^image\/svg\+xml$/],
    ['/vendor/preact.mjs', readFileSync(join(dirname(require.resolve('preact')), 'preact.mjs')), /^text\/javascript/],
    ['/vendor/htm.mjs', readFileSync(join(dirname(require.resolve('htm')), 'htm.mjs')), /^text\/javascript/],
    ['/vendor/uPlot.esm.js', readFileSync(join(dirname(require.resolve('uplot')), 'uPlot.esm.js')), /^text\/javascript/],
    ['/vendor/uPlot.min.css', readFileSync(join(dirname(require.resolve('uplot')), 'uPlot.min.css')), /^text\/css/]
  ]
  for (const [path, body, type] of expected) {
    const r = await request(port, { path })
    t.equal(r.status, 200, path)
    t.equal(r.body, body.toString('utf8'), `${path}: the file as it is on disk`)
    t.match(r.headers['content-type'], type, `${path}: its media type`)
    t.equal(r.headers['content-security-policy'], DASHBOARD_CSP, `${path}: the CSP`)
    t.equal(r.headers['x-content-type-options'], 'nosniff')
    t.equal(r.headers['cache-control'], 'no-cache', `${path}: revalidated on use`)
    t.equal(r.headers['referrer-policy'], 'no-referrer')
    t.equal(r.headers['x-frame-options'], 'DENY')
    const etag = r.headers.etag as string
    t.match(etag, /^"[A-Za-z0-9_-]{22}"$/, `${path}: a strong ETag`)
    for (const inm of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const again = await request(port, { path, headers: { 'if-none-match': inm } })
      t.equal(again.status, 304, `${path}: If-None-Match ${inm} → 304`)
      t.equal(again.body, '', '304 has no body')
      t.equal(again.headers.etag, etag)
    }
    t.equal((await request(port, { path, headers: { 'if-none-match': '"stale"' } })).status, 200, `${path}: a stale tag gets the file`)
    const head = await request(port, { path, method: 'HEAD' })
    t.equal(head.status, 200, `HEAD ${path}`)
    t.equal(head.body, '')
    t.equal(head.headers['content-length'], String(body.byteLength), `HEAD ${path}: the length of the file`)
  }
  t.match(DASHBOARD_CSP, /default-src 'self'/)
  t.notMatch(DASHBOARD_CSP, /unsafe-inline|unsafe-eval|\*|https?:/, 'no inline, no eval, no other origin')

  await t.test('a HEAD answer leaves the connection usable', async t => {
    const r = await rawStatus(port, 'HEAD /app.js HTTP/1.1\r\nHost: api\r\n\r\nGET /v1/nothing HTTP/1.1\r\nHost: api\r\n\r\n')
    t.equal(r.status, 200)
  })

  await t.test('nothing outside the allow-list: traversal, encodings, NUL, other names', async t => {
    const paths = [
      '/index.html', '/dashboard/index.html', '/app.js/', '/APP.JS', '/app.js.map', '/vendor/preact.mjs.map', '/vendor/',
      '/vendor/../app.js', '/lib/../app.js', '/../package.json', '/vendor/../../package.json', '/%2e%2e/package.json',
      '/%2E%2E%2Fpackage.json', '/lib%2fapi.js', '/lib%2Fapi.js', '/lib/api.js%00', '/lib/api.js%00.png', '/%00',
      '/package.json', '/src/api/dashboard.ts', '/node_modules/preact/dist/preact.mjs', '/vendor/preact', '/.git/config',
      '/pages/', '/lib', '//app.js', '/./app.js', '/app.js;x', '/%61pp.js'
    ]
    for (const path of paths) {
      const r = await request(port, { path })
      t.equal(r.status, 404, path)
      t.equal(JSON.parse(r.body).error.code, 'CT_ERR_NOT_FOUND', `${path}: the API's 404`)
      t.notOk(r.headers.etag, `${path}: no file`)
    }
    // A raw NUL, a backslash and a space cannot be sent by an HTTP client: raw bytes.
    for (const path of ['/app.js\0', '/lib\\api.js', '/\0/../app.js']) {
      const r = await rawStatus(port, `GET ${path} HTTP/1.1\r\nHost: api\r\n\r\n`)
      t.ok(r.status === 400 || r.status === 404, `${JSON.stringify(path)} → ${r.status}`)
      t.notMatch(r.text, /ETag/i, 'no file')
    }
    t.equal((await request(port, { path: '/app.js?v=1' })).status, 200, 'a query string does not change the file')
  })

  await t.test('the API is still the API: /v1 answers JSON, and needs a token', async t => {
    t.equal((await api(port, 'GET', '/v1/projects')).status, 401)
    t.equal((await api(port, 'GET', '/v1/projects', e.team!.token)).status, 200)
    const post = await api(port, 'POST', '/', e.team!.token, {})
    t.equal(post.status, 404, 'POST / is no endpoint')
    t.equal(post.body.error.code, 'CT_ERR_NOT_FOUND')
  })
})
