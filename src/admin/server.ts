import { randomBytes, timingSafeEqual, createHash } from 'node:crypto'
import { mkdirSync, openSync, readFileSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js'
import { Gauge, type Registry } from 'prom-client'
import { closeApp, loadUws, readBody } from '../redirect/uws.js'
import { listenFronted, type HttpFront } from '../http/front.js'
import { ClicktrailError } from '../errors.js'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'
import { guard } from '../http/guard.js'
import { metricsRoute } from '../metrics.js'
import type { Store } from '../store/client.js'
import { AnalystSql, MAX_SQL_BYTES } from './sql.js'

export const ADMIN_TOKEN_FILE = 'admin-token'

/** The admin token: ADMIN_TOKEN if set, else `<data-dir>/admin-token`, created 0600 on first use. */
export function loadOrCreateAdminToken (dataDir: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.ADMIN_TOKEN !== undefined && env.ADMIN_TOKEN !== '') return env.ADMIN_TOKEN
  mkdirSync(dataDir, { recursive: true })
  const path = join(dataDir, ADMIN_TOKEN_FILE)
  try {
    const fd = openSync(path, 'wx', 0o600)
    try { writeSync(fd, randomBytes(24).toString('base64url') + '\n') } finally { closeSync(fd) }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  return readFileSync(path, 'utf8').trim()
}

/** Codes the admin listener answers besides the SQL ones (src/admin/sql.ts SQL_ERROR_CODES). */
export const ADMIN_ERROR_CODES = ['CT_ERR_UNAUTHORIZED', 'CT_ERR_NOT_FOUND', 'CT_ERR_METHOD_NOT_ALLOWED', 'CT_ERR_BAD_REQUEST', 'CT_ERR_INTERNAL'] as const

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()
const JSON_TYPE = 'application/json'
const TEXT_TYPE = 'text/plain; charset=utf-8'
const SID = /^[a-z0-9]{1,32}$/
const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 413: 'Payload Too Large', 500: 'Internal Server Error', 503: 'Service Unavailable' }

/** The admin listener's routes, for 405 (known path, other method) versus 404. */
const ROUTES: Array<{ path: RegExp, allow: string }> = [
  { path: /^\/sql$/, allow: 'POST' },
  { path: /^\/metrics$/, allow: 'GET, HEAD' },
  { path: /^\/projects\/[^/]*\/exists$/, allow: 'GET, HEAD' }
]

export interface AdminOptions {
  log: Logger
  /** The Prometheus registry `GET /metrics` serves (undefined until the engine made it: 503). */
  metrics?: () => Registry | undefined
}

/**
 * The admin listener (loopback by default, its own port):
 * - `POST /sql` runs one analyst query (src/admin/sql.ts) — bearer token;
 * - `GET /projects/{sid}/exists` answers `{"sid","exists"}` for `clicktrail token create` — bearer token;
 * - `GET /metrics` Prometheus text — no token: counts only, no secret, and the listener is
 *   not on the public port; a scraper then needs no copy of the master key.
 * HEAD gets the same status and headers with no body; another method on a known path 405,
 * an unknown path 404, each with a JSON `{"error":{"code","message"}}`.
 */
export class AdminServer {
  readonly #app: TemplatedApp
  readonly #tokenDigest: Buffer
  readonly #log: Logger
  readonly sql: AnalystSql
  readonly stats = { unauthorized: 0 }
  #listen: us_listen_socket | undefined
  #front: HttpFront | undefined
  port = 0

  constructor (readonly store: Store, token: string, options: AdminOptions) {
    this.#tokenDigest = digest(token)
    this.#log = options.log
    this.sql = new AnalystSql(store)
    const app = this.#app = loadUws().App()
    const route = (handler: (res: HttpResponse, req: HttpRequest) => void): ((res: HttpResponse, req: HttpRequest) => void) => guard(this.#log, 'admin', handler)
    app.post('/sql', route((res, req) => { this.#sql(res, req) }))
    app.get('/projects/:sid/exists', route((res, req) => { this.#exists(res, req) }))
    app.head('/projects/:sid/exists', route((res, req) => { this.#exists(res, req) }))
    metricsRoute(app, options.metrics ?? (() => undefined), this.#log)
    app.any('/*', route((res, req) => {
      const head = req.getMethod() === 'head'
      const url = req.getUrl()
      const known = ROUTES.find(r => r.path.test(url))
      if (known !== undefined) send(res, head, '405 Method Not Allowed', errorJson('CT_ERR_METHOD_NOT_ALLOWED', `${req.getCaseSensitiveMethod()} is not allowed on ${url}; use ${known.allow}`), JSON_TYPE, ['Allow', known.allow])
      else send(res, head, '404 Not Found', errorJson('CT_ERR_NOT_FOUND', 'no such admin route (POST /sql, GET /projects/{sid}/exists, GET /metrics)'), JSON_TYPE)
    }))
  }

  /** Adds the admin listener's counters to the engine's registry. */
  registerMetrics (registry: Registry): void {
    const s = this.sql.stats
    const counter = (name: string, help: string, read: () => number): void => {
      // eslint-disable-next-line no-new
      new Gauge({ name, help, registers: [registry], collect () { this.set(read()) } })
    }
    counter('clicktrail_admin_sql_queries_total', 'analyst SQL queries received (admin listener)', () => s.queries)
    counter('clicktrail_admin_sql_refused_total', 'analyst SQL queries refused before running (CT_ERR_SQL_REFUSED)', () => s.refused)
    counter('clicktrail_admin_sql_failed_total', 'analyst SQL queries that ClickHouse failed (CT_ERR_SQL_FAILED)', () => s.failed)
    counter('clicktrail_admin_sql_limited_total', 'analyst SQL queries stopped by a limit (CT_ERR_SQL_LIMIT)', () => s.limited)
    counter('clicktrail_admin_sql_busy_total', 'analyst SQL queries shed because too many were waiting (CT_ERR_SQL_BUSY)', () => s.busy)
    counter('clicktrail_admin_unauthorized_total', 'admin requests with a missing or wrong token', () => this.stats.unauthorized)
  }

  #authorized (res: HttpResponse, req: HttpRequest, head: boolean): boolean {
    const m = /^Bearer\s+(\S+)$/.exec(req.getHeader('authorization'))
    if (m !== null && timingSafeEqual(digest(m[1]), this.#tokenDigest)) return true
    this.stats.unauthorized++
    limited(this.#log).warn('admin.unauthorized', { url: req.getUrl() }, 'admin request with a missing or wrong token')
    send(res, head, '401 Unauthorized', errorJson('CT_ERR_UNAUTHORIZED', 'missing or bad admin token (Authorization: Bearer <data-dir>/admin-token)'), JSON_TYPE, ['WWW-Authenticate', 'Bearer'])
    return false
  }

  #sql (res: HttpResponse, req: HttpRequest): void {
    if (!this.#authorized(res, req, false)) return
    const query = new URLSearchParams(req.getQuery() ?? '')
    let format: string | undefined
    const params: Record<string, string> = {}
    for (const [k, v] of query) {
      if (k === 'format') format = v
      else if (k.startsWith('param_')) params[k.slice(6)] = v
      else {
        send(res, false, '400 Bad Request', errorJson('CT_ERR_BAD_REQUEST', `unknown query parameter "${k.slice(0, 64)}" (format, param_<name>)`), JSON_TYPE)
        return
      }
    }
    let aborted = false
    res.onAborted(() => { aborted = true })
    readBody(res, MAX_SQL_BYTES, body => {
      this.sql.run({ sql: body.toString('utf8'), format, params }).then(
        text => { if (!aborted) send(res, false, '200 OK', text, TEXT_TYPE) },
        (err: unknown) => {
          const e = err instanceof ClicktrailError ? err : new ClicktrailError('CT_ERR_INTERNAL', 'internal error; it has been logged', 500)
          if (e.code === 'CT_ERR_INTERNAL') limited(this.#log).error('admin.sql_error', { err }, 'analyst SQL failed inside clicktrail')
          else limited(this.#log).warn(`admin.${e.code === 'CT_ERR_SQL_REFUSED' ? 'sql_refused' : 'sql_failed'}`, { code: e.code, reason: e.message.slice(0, 300) }, 'analyst SQL not answered')
          if (!aborted) send(res, false, `${e.status} ${STATUS_TEXT[e.status] ?? 'Error'}`, errorJson(e.code, e.message), JSON_TYPE)
        })
    }, () => {
      // Close the connection: the rest of the body would otherwise be read as a request.
      if (!aborted) send(res, false, '413 Payload Too Large', errorJson('CT_ERR_SQL_REFUSED', `query is longer than ${MAX_SQL_BYTES} bytes`), JSON_TYPE, undefined, true)
    })
  }

  #exists (res: HttpResponse, req: HttpRequest): void {
    const head = req.getMethod() === 'head'
    if (!this.#authorized(res, req, head)) return
    const sid = req.getParameter(0) ?? ''
    if (!SID.test(sid)) {
      send(res, head, '400 Bad Request', errorJson('CT_ERR_BAD_REQUEST', 'a project sid is [a-z0-9]{1,32}'), JSON_TYPE)
      return
    }
    let aborted = false
    res.onAborted(() => { aborted = true })
    // The store, not the control plane's snapshot: a project created a moment ago counts.
    this.store.reader.query({
      query: 'SELECT count() AS n FROM projects FINAL WHERE sid = {sid:String} AND is_deleted = 0',
      query_params: { sid },
      format: 'JSONEachRow',
      clickhouse_settings: this.store.readerSettings
    }).then(async rs => await rs.json<{ n: string | number }>()).then(rows => {
      if (!aborted) send(res, head, '200 OK', JSON.stringify({ sid, exists: Number(rows[0]?.n ?? 0) > 0 }), JSON_TYPE)
    }, (err: unknown) => {
      limited(this.#log).error('admin.exists_error', { err }, 'project lookup failed')
      if (!aborted) send(res, head, '503 Service Unavailable', errorJson('CT_ERR_STORE', 'the store did not answer'), JSON_TYPE)
    })
  }

  async start (host: string, port: number): Promise<number> {
    // Through the HTTP front: uWS alone never answers HTTP/1.0 or more than 48 header fields.
    const bound = await listenFronted(this.#app, { host, port, what: 'admin listener', log: this.#log, keepFields: ['authorization', 'content-type'] })
    this.#front = bound.front
    this.#listen = bound.socket
    this.port = bound.port
    return this.port
  }

  stop (): void {
    closeApp(this.#app, this.#listen)
    this.#front?.close()
    this.#listen = undefined
  }
}

/** One answer; HEAD gets the status and headers and no body. */
function send (res: HttpResponse, head: boolean, status: string, body: string, type: string, header?: [string, string], close = false): void {
  res.cork(() => {
    res.writeStatus(status).writeHeader('Content-Type', type).writeHeader('Cache-Control', 'no-store')
    if (header !== undefined) res.writeHeader(header[0], header[1])
    // endWithoutBody(length) aborts the process in this uWS build (see src/redirect/server.ts notFound).
    if (head) res.endWithoutBody()
    else res.end(body, close)
  })
}

function errorJson (code: string, message: string): string {
  return JSON.stringify({ error: { code, message } })
}

export type { HttpResponse }
