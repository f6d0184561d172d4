import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js'
import { guard } from '../http/guard.js'
import type { Logger } from '../log.js'

/*
 * The dashboard (issue 14): static files served at `/` of the Team API listener, beside the
 * API under /v1. No build step: the project's own files in dashboard/ and the browser builds
 * of two packages, read from node_modules. Only the files named here are served, each on its
 * own exact uWS route: there is no path to join, so `..`, `%2e%2e`, an encoded slash or a NUL
 * in a path matches no route and gets the API's 404.
 */

/** The project's own files, under dashboard/ at the project's root; `index.html` is served at `/`. */
export const DASHBOARD_FILES: readonly string[] = [
  'index.html',
  'style.css',
  'favicon.svg',
  'app.js',
  'lib/api.js',
  'lib/html.js',
  'lib/router.js',
  'lib/format.js',
  'lib/ui.js',
  'lib/analytics.js',
  'lib/chart.js',
  'pages/signin.js',
  'pages/projects.js',
  'pages/project.js',
  'pages/routes.js',
  'pages/route-settings.js',
  'pages/webhooks.js',
  'pages/webhook.js',
  'pages/domains.js',
  'pages/analytics.js',
  'pages/clicks.js',
  'pages/message.js'
]

/**
 * Browser builds from node_modules, at /vendor/{name}. `file` is beside the package's
 * resolved entry (how Node resolves it from here; htm exports no package.json to resolve).
 * Both are dependency-free ES modules: preact's core (no bare imports, unlike preact/hooks)
 * and htm; uPlot's ES module and stylesheet are served for the analytics pages.
 */
export const VENDOR_FILES: ReadonlyArray<{ name: string, pkg: string, file: string }> = [
  { name: 'preact.mjs', pkg: 'preact', file: 'preact.mjs' },
  { name: 'htm.mjs', pkg: 'htm', file: 'htm.mjs' },
  { name: 'uPlot.esm.js', pkg: 'uplot', file: 'uPlot.esm.js' },
  { name: 'uPlot.min.css', pkg: 'uplot', file: 'uPlot.min.css' }
]

/**
 * Everything comes from this origin; no inline script or style (style-src has no
 * 'unsafe-inline': styles set from script through the CSSOM are allowed, markup attributes
 * are not); no string reaches an HTML sink (Trusted Types with no policy); no form posts
 * anywhere (the sign-in form is handled in script, so a token can never end up in a URL).
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  "trusted-types 'none'"
].join('; ')

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  mjs: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml'
}

/** One served file, read once. */
export interface StaticFile {
  /** The URL path it answers, exactly. */
  path: string
  type: string
  body: Buffer
  /** A strong validator: the content's hash. */
  etag: string
}

const ROOT = fileURLToPath(new URL('../../dashboard/', import.meta.url))

function typeOf (name: string): string {
  const type = TYPES[name.slice(name.lastIndexOf('.') + 1)]
  if (type === undefined) throw new Error(`dashboard: no media type for ${name}`)
  return type
}

function staticFile (path: string, file: string, name: string): StaticFile {
  let body: Buffer
  try {
    body = readFileSync(file)
  } catch (err) {
    throw new Error(`dashboard: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)}); is the install complete?`)
  }
  return { path, type: typeOf(name), body, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` }
}

let loaded: StaticFile[] | undefined

/** The served files, read on first use and kept (about 200 KB); a missing one fails start-up. */
export function dashboardFiles (): StaticFile[] {
  if (loaded !== undefined) return loaded
  const require = createRequire(import.meta.url)
  const files = DASHBOARD_FILES.map(name => staticFile(name === 'index.html' ? '/' : `/${name}`, join(ROOT, name), name))
  for (const v of VENDOR_FILES) files.push(staticFile(`/vendor/${v.name}`, join(dirname(require.resolve(v.pkg)), v.file), v.name))
  loaded = files
  return files
}

// Built once: the headers every dashboard answer carries.
const COMMON_HEADERS: Array<[string, string]> = [
  // Revalidated on every use (a 304 when unchanged): file names carry no version, so a
  // new release is picked up at once.
  ['Cache-Control', 'no-cache'],
  ['Content-Security-Policy', DASHBOARD_CSP],
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-Frame-Options', 'DENY'],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-origin']
]

/** RFC 9110 13.1.2: If-None-Match is `*` or a list of entity tags, compared weakly. */
function notModified (ifNoneMatch: string, etag: string): boolean {
  if (ifNoneMatch === '') return false
  if (ifNoneMatch.trim() === '*') return true
  for (const tag of ifNoneMatch.split(',')) {
    const t = tag.trim()
    if ((t.startsWith('W/') ? t.slice(2) : t) === etag) return true
  }
  return false
}

function serve (res: HttpResponse, req: HttpRequest, f: StaticFile, head: boolean): void {
  // Bounded: a field can be no longer than the HTTP front lets a request head be.
  const ifNoneMatch = req.getHeader('if-none-match')
  res.cork(() => {
    const fresh = notModified(ifNoneMatch, f.etag)
    res.writeStatus(fresh ? '304 Not Modified' : '200 OK')
    for (const [k, v] of COMMON_HEADERS) res.writeHeader(k, v)
    res.writeHeader('ETag', f.etag)
    if (fresh) {
      res.endWithoutBody()
      return
    }
    res.writeHeader('Content-Type', f.type)
    // As the API does for HEAD: the length by hand, then no body (api/server.ts #send).
    if (head) res.writeHeader('Content-Length', String(f.body.byteLength)).endWithoutBody()
    else res.end(f.body)
  })
}

/** Adds the dashboard's GET and HEAD routes to the Team API app (before its catch-all 404). */
export function mountDashboard (app: TemplatedApp, log: Logger): void {
  for (const f of dashboardFiles()) {
    app.get(f.path, guard(log, 'dashboard', (res, req) => { serve(res, req, f, false) }))
    app.head(f.path, guard(log, 'dashboard', (res, req) => { serve(res, req, f, true) }))
  }
}
