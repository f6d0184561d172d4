import { randomUUID, timingSafeEqual, createHash } from 'node:crypto'
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket as ListenSocket } from 'uWebSockets.js'
import { closeApp, loadUws, readBody } from '../http/uws.js'
import { listenFronted, type HttpFront } from '../http/front.js'
import { ClicktrailError } from '../errors.js'
import type { ControlPlane } from '../control/plane.js'
import { BLOCK_KINDS, normalizeBlockValue, type Block, type BlockKind } from '../control/blocks.js'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'
import { guard } from '../http/guard.js'
import { counter, metricsRoute, type Metric, type MetricsRegistry } from '../metrics.js'
import type { Store } from '../store/client.js'
import { AnalystSql, MAX_SQL_BYTES } from './sql.js'
import { runAnalytics } from '../analytics/run.js'
import { ANALYTICS_LIMITS } from '../analytics/query.js'
import { projectExists } from '../store/control.js'
import { isStoreFailure } from '../store/client.js'

/** Codes the admin listener answers besides the SQL ones (src/admin/sql.ts SQL_ERROR_CODES). */
export const ADMIN_ERROR_CODES = ['CT_ERR_UNAUTHORIZED', 'CT_ERR_NOT_FOUND', 'CT_ERR_METHOD_NOT_ALLOWED', 'CT_ERR_BAD_REQUEST', 'CT_ERR_BAD_JSON', 'CT_ERR_VALIDATION', 'CT_ERR_BODY_TOO_LARGE', 'CT_ERR_PROJECT_NOT_FOUND', 'CT_ERR_STORE', 'CT_ERR_INTERNAL'] as const

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()
const JSON_TYPE = 'application/json'
const TEXT_TYPE = 'text/plain; charset=utf-8'
const SID = /^[a-z0-9]{1,32}$/
const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 413: 'Payload Too Large', 422: 'Unprocessable Entity', 500: 'Internal Server Error', 503: 'Service Unavailable' }

/** The admin listener's routes, for 405 (known path, other method) versus 404. */
const ROUTES: Array<{ path: RegExp, allow: string }> = [
  { path: /^\/sql$/, allow: 'POST' },
  { path: /^\/metrics$/, allow: 'GET, HEAD' },
  { path: /^\/projects\/[^/]*\/exists$/, allow: 'GET, HEAD' },
  { path: /^\/blocks$/, allow: 'GET, HEAD, POST' },
  { path: /^\/blocks\/[^/]*$/, allow: 'DELETE' },
  { path: /^\/analytics$/, allow: 'POST' }
]

export interface AdminOptions {
  log: Logger
  /** The Prometheus registry `GET /metrics` serves (undefined until the engine made it: 503). */
  metrics?: () => MetricsRegistry | undefined
  /** The control plane, for the kill switch (`/blocks`); without it those routes answer 404. */
  plane?: ControlPlane
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
  #listen: ListenSocket | undefined
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
    const plane = options.plane
    if (plane !== undefined) {
      app.get('/blocks', route((res, req) => { this.#listBlocks(plane, res, req) }))
      app.head('/blocks', route((res, req) => { this.#listBlocks(plane, res, req) }))
      app.post('/blocks', route((res, req) => { this.#addBlock(plane, res, req) }))
      app.del('/blocks/:id', route((res, req) => { this.#removeBlock(plane, res, req) }))
      app.post('/analytics', route((res, req) => { this.#analytics(plane, res, req) }))
    }
    metricsRoute(app, options.metrics ?? (() => undefined), this.#log)
    app.any('/*', route((res, req) => {
      const head = req.getMethod() === 'head'
      const url = req.getUrl()
      const known = ROUTES.find(r => r.path.test(url))
      if (known !== undefined) send(res, head, '405 Method Not Allowed', errorJson('CT_ERR_METHOD_NOT_ALLOWED', `${req.getCaseSensitiveMethod()} is not allowed on ${url}; use ${known.allow}`), JSON_TYPE, ['Allow', known.allow])
      else send(res, head, '404 Not Found', errorJson('CT_ERR_NOT_FOUND', 'no such admin route (POST /sql, POST /analytics, GET /projects/{sid}/exists, GET /metrics, GET|POST /blocks, DELETE /blocks/{id})'), JSON_TYPE)
    }))
  }

  metrics (): Metric[] {
    const s = this.sql.stats
    return [
      counter('clicktrail_admin_sql_queries_total', 'analyst SQL queries received (admin listener)', s.queries),
      counter('clicktrail_admin_sql_refused_total', 'analyst SQL queries refused before running (CT_ERR_SQL_REFUSED)', s.refused),
      counter('clicktrail_admin_sql_failed_total', 'analyst SQL queries that ClickHouse failed (CT_ERR_SQL_FAILED)', s.failed),
      counter('clicktrail_admin_sql_limited_total', 'analyst SQL queries stopped by a limit (CT_ERR_SQL_LIMIT)', s.limited),
      counter('clicktrail_admin_sql_busy_total', 'analyst SQL queries shed because too many were waiting (CT_ERR_SQL_BUSY)', s.busy),
      counter('clicktrail_admin_unauthorized_total', 'admin requests with a missing or wrong token', this.stats.unauthorized)
    ]
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
          const e = err instanceof ClicktrailError ? err : new ClicktrailError('CT_ERR_INTERNAL')
          if (e.code === 'CT_ERR_INTERNAL') limited(this.#log).error('admin.sql_error', { err }, 'analyst SQL failed inside clicktrail')
          else limited(this.#log).warn(`admin.${e.code === 'CT_ERR_SQL_REFUSED' ? 'sql_refused' : 'sql_failed'}`, { code: e.code, reason: e.message.slice(0, 300) }, 'analyst SQL not answered')
          if (!aborted) send(res, false, `${e.status} ${STATUS_TEXT[e.status] ?? 'Error'}`, errorJson(e.code, e.message), JSON_TYPE)
        })
    }, () => {
      // Close the connection: the rest of the body would otherwise be read as a request.
      if (!aborted) send(res, false, '413 Payload Too Large', errorJson('CT_ERR_SQL_REFUSED', `query is longer than ${MAX_SQL_BYTES} bytes`), JSON_TYPE, undefined, true)
    })
  }

  #listBlocks (plane: ControlPlane, res: HttpResponse, req: HttpRequest): void {
    const head = req.getMethod() === 'head'
    if (!this.#authorized(res, req, head)) return
    send(res, head, '200 OK', JSON.stringify({ data: plane.blocks().map(blockView) }), JSON_TYPE)
  }

  /**
   * The kill switch: `{"kind": "url"|"prefix"|"host"|"project", "value", "reason"}`. Written to
   * the control plane, so every node applies it within its refresh interval.
   */
  #addBlock (plane: ControlPlane, res: HttpResponse, req: HttpRequest): void {
    if (!this.#authorized(res, req, false)) return
    let aborted = false
    res.onAborted(() => { aborted = true })
    const fail = (status: string, code: string, message: string): void => { if (!aborted) send(res, false, status, errorJson(code, message), JSON_TYPE) }
    readBody(res, 8192, raw => {
      let body: { kind?: unknown, value?: unknown, reason?: unknown }
      try {
        body = JSON.parse(raw.toString('utf8')) as typeof body
      } catch {
        fail('400 Bad Request', 'CT_ERR_BAD_JSON', 'the body must be JSON: {"kind", "value", "reason"}')
        return
      }
      if (typeof body !== 'object' || body === null || !BLOCK_KINDS.includes(body.kind as BlockKind) || typeof body.value !== 'string' || (body.reason !== undefined && typeof body.reason !== 'string')) {
        fail('400 Bad Request', 'CT_ERR_VALIDATION', `kind must be one of ${BLOCK_KINDS.join(', ')}; value a string; reason an optional string`)
        return
      }
      const reason = (body.reason ?? '') as string
      if (!body.value.isWellFormed() || !reason.isWellFormed() || reason.length > 1000) {
        fail('400 Bad Request', 'CT_ERR_VALIDATION', 'value and reason must be well-formed text; reason at most 1000 characters')
        return
      }
      const kind = body.kind as BlockKind
      const n = normalizeBlockValue(kind, body.value)
      if ('error' in n) {
        fail('400 Bad Request', 'CT_ERR_VALIDATION', n.error)
        return
      }
      if (kind === 'project' && plane.projectBySid(n.value) === undefined) {
        fail('404 Not Found', 'CT_ERR_NOT_FOUND', `no project with sid ${n.value}`)
        return
      }
      const block: Block = { block_id: randomUUID(), kind, value: n.value, reason, created_at: Date.now() }
      plane.write('blocks', block).then(() => {
        limited(this.#log).warn('admin.block_added', { kind, value: n.value, reason }, 'operator block added: matching links answer the warning page on every node')
        if (!aborted) send(res, false, '201 Created', JSON.stringify(blockView(block)), JSON_TYPE)
      }, (err: unknown) => {
        limited(this.#log).error('admin.block_error', { err }, 'could not store a block')
        fail('503 Service Unavailable', 'CT_ERR_STORE', 'the store did not take the block; retry')
      })
    }, () => { fail('413 Payload Too Large', 'CT_ERR_BODY_TOO_LARGE', 'a block is a small JSON object') })
  }

  #removeBlock (plane: ControlPlane, res: HttpResponse, req: HttpRequest): void {
    if (!this.#authorized(res, req, false)) return
    const id = req.getParameter(0) ?? ''
    const block = plane.block(id)
    if (block === undefined) {
      send(res, false, '404 Not Found', errorJson('CT_ERR_NOT_FOUND', 'no such block'), JSON_TYPE)
      return
    }
    let aborted = false
    res.onAborted(() => { aborted = true })
    plane.write('blocks', block, true).then(() => {
      limited(this.#log).warn('admin.block_removed', { kind: block.kind, value: block.value }, 'operator block removed')
      if (!aborted) send(res, false, '200 OK', JSON.stringify({ deleted: block.block_id }), JSON_TYPE)
    }, (err: unknown) => {
      limited(this.#log).error('admin.block_error', { err }, 'could not remove a block')
      if (!aborted) send(res, false, '503 Service Unavailable', errorJson('CT_ERR_STORE', 'the store did not answer; retry'), JSON_TYPE)
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
    projectExists(this.store.reader, sid, this.store.readerSettings).then(exists => {
      if (!aborted) send(res, head, '200 OK', JSON.stringify({ sid, exists }), JSON_TYPE)
    }, (err: unknown) => {
      limited(this.#log).error('admin.exists_error', { err }, 'project lookup failed')
      if (aborted) return
      // ClickHouse or the network failed: 503; anything else is a bug: 500 (logged above).
      if (isStoreFailure(err)) send(res, head, '503 Service Unavailable', errorJson('CT_ERR_STORE', 'the store did not answer'), JSON_TYPE)
      else send(res, head, '500 Internal Server Error', errorJson('CT_ERR_INTERNAL', 'internal error; it has been logged'), JSON_TYPE)
    })
  }

  /**
   * `POST /analytics[?sid=SID]`: an analytics request (the body of POST /v1/analytics) over one
   * project, or every project — what `clicktrail report` asks; the same code as the Team API's.
   */
  #analytics (plane: ControlPlane, res: HttpResponse, req: HttpRequest): void {
    if (!this.#authorized(res, req, false)) return
    const query = new URLSearchParams(req.getQuery() ?? '')
    const sid = query.get('sid')
    const unknown = [...query.keys()].find(k => k !== 'sid')
    if (unknown !== undefined || (sid !== null && !SID.test(sid))) {
      send(res, false, '400 Bad Request', errorJson('CT_ERR_BAD_REQUEST', 'POST /analytics takes ?sid=<project sid> at most'), JSON_TYPE)
      return
    }
    const projects = plane.projects().filter(p => sid === null || p.sid === sid)
    if (sid !== null && projects.length === 0) {
      send(res, false, '404 Not Found', errorJson('CT_ERR_PROJECT_NOT_FOUND', `no project with sid ${sid}`), JSON_TYPE)
      return
    }
    let aborted = false
    res.onAborted(() => { aborted = true })
    readBody(res, ANALYTICS_LIMITS.maxBodyBytes, raw => {
      let body: unknown
      try { body = JSON.parse(raw.toString('utf8')) } catch {
        if (!aborted) send(res, false, '400 Bad Request', errorJson('CT_ERR_BAD_JSON', 'the body is not JSON'), JSON_TYPE)
        return
      }
      runAnalytics(this.store, { projects: projects.map(p => ({ project_id: p.project_id, sid: p.sid })) }, body, Date.now()).then(answer => {
        if (!aborted) send(res, false, '200 OK', JSON.stringify(answer), JSON_TYPE)
      }, (err: unknown) => {
        if (aborted) return
        if (err instanceof ClicktrailError) { send(res, false, `${err.status} ${STATUS_TEXT[err.status] ?? 'Error'}`, errorJson(err.code, err.message), JSON_TYPE); return }
        limited(this.#log).error('admin.analytics_error', { err }, 'analytics request failed')
        if (isStoreFailure(err)) send(res, false, '503 Service Unavailable', errorJson('CT_ERR_STORE', 'the store did not answer'), JSON_TYPE)
        else send(res, false, '500 Internal Server Error', errorJson('CT_ERR_INTERNAL', 'internal error; it has been logged'), JSON_TYPE)
      })
    }, () => {
      if (!aborted) send(res, false, '413 Payload Too Large', errorJson('CT_ERR_BODY_TOO_LARGE', `the request is longer than ${ANALYTICS_LIMITS.maxBodyBytes} bytes`), JSON_TYPE, undefined, true)
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

function blockView (b: Block): Record<string, unknown> {
  return { block_id: b.block_id, kind: b.kind, value: b.value, reason: b.reason, created_at: new Date(b.created_at).toISOString() }
}
