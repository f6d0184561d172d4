import { Ajv, type ValidateFunction } from 'ajv'
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js'
import { closeApp, loadUws, readBody } from '../redirect/uws.js'
import { listenFronted, type HttpFront } from '../http/front.js'
import type { Logger } from '../log.js'
import type { ControlPlane } from '../control/plane.js'
import { ApiError, badJson, invalid, tooLarge, unauthorized, unavailable } from './errors.js'
import { ROUTES, type RouteDef } from './routes.js'
import { schemas } from './schemas.js'
import { buildOpenApi } from './openapi.js'

export const DEFAULT_MAX_BODY = 64 * 1024

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity', 500: 'Internal Server Error', 503: 'Service Unavailable' }

export interface ApiServerOptions {
  plane: ControlPlane
  log: Logger
  trackingBaseUrl: string
  version: string
  /** Routes added by later capabilities (rewriting); they share auth, limits and errors. */
  extraRoutes?: RouteDef[]
  /** Accept webhook URLs that resolve to loopback/private/link-local addresses. */
  allowPrivateWebhooks?: boolean
}

/**
 * The Team API on its own port: JSON over HTTP, `Authorization: Bearer <team token>`.
 * Every request is authenticated before its body is read, every body is checked against
 * its JSON Schema (unknown fields refused), and every error is
 * `{"error": {"code", "message"}}` with a stable code.
 */
export class ApiServer {
  readonly #app: TemplatedApp
  readonly #o: ApiServerOptions
  readonly #validators = new Map<string, ValidateFunction>()
  readonly routes: RouteDef[]
  readonly openapi: Record<string, unknown>
  readonly #openapiJson: string
  /** host[:port] of the tracking base URL, parsed once. */
  readonly #trackingHost: string
  #listen: us_listen_socket | undefined
  #front: HttpFront | undefined
  port = 0

  constructor (options: ApiServerOptions) {
    this.#o = options
    this.#trackingHost = new URL(options.trackingBaseUrl).host
    this.routes = [...ROUTES, ...(options.extraRoutes ?? [])]
    const ajv = new Ajv({ allErrors: false, useDefaults: false, strict: false })
    ajv.addFormat('uuid', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i)
    ajv.addFormat('date-time', true)
    for (const [name, schema] of Object.entries(schemas)) this.#validators.set(name, ajv.compile(schema))
    this.openapi = buildOpenApi(this.routes, options.version)
    this.#openapiJson = JSON.stringify(this.openapi)
    this.#app = loadUws().App()
    this.#app.get('/v1/openapi.json', res => {
      res.writeStatus('200 OK').writeHeader('Content-Type', 'application/json').end(this.#openapiJson)
    })
    for (const route of this.routes) {
      this.#app[route.method](route.path, (res, req) => { this.#handle(route, res, req) })
    }
    this.#app.any('/*', res => { send(res, { aborted: false }, 404, errorBody(new ApiError('CT_ERR_NOT_FOUND', 'no such endpoint', 404))) })
  }

  #handle (route: RouteDef, res: HttpResponse, req: HttpRequest): void {
    const state = { aborted: false }
    res.onAborted(() => { state.aborted = true })
    const params: Record<string, string> = {}
    let i = 0
    for (const m of route.path.matchAll(/:([a-z_]+)/g)) params[m[1]] = decodeURIComponent(req.getParameter(i++) ?? '')
    const auth = req.getHeader('authorization')
    const query = req.getQuery() ?? ''
    const fail = (err: unknown): void => {
      const e = err instanceof ApiError ? err : toApiError(err, this.#o.log)
      send(res, state, e.status, errorBody(e))
    }
    const m = /^Bearer\s+(\S+)\s*$/.exec(auth)
    const token = m === null ? undefined : this.#o.plane.authenticate(m[1])
    if (token === undefined) {
      // Drain nothing: answering now closes the exchange; uWS discards the unread body.
      fail(unauthorized())
      return
    }
    const limit = route.maxBody ?? DEFAULT_MAX_BODY
    readBody(res, limit, raw => {
      let body: unknown
      try {
        body = route.raw === undefined ? parseBody(route, raw, this.#validators) : undefined
      } catch (err) {
        fail(err)
        return
      }
      Promise.resolve()
        .then(() => route.handler({ teamId: token.team_id, params, query, rawBody: route.raw === undefined ? undefined : raw, body, plane: this.#o.plane, trackingHost: this.#trackingHost, allowPrivateWebhooks: this.#o.allowPrivateWebhooks === true }))
        .then(reply => {
          if (reply.raw !== undefined) sendRaw(res, state, reply)
          else send(res, state, reply.status, reply.body === undefined ? '' : JSON.stringify(reply.body))
        }, fail)
    }, () => { fail(tooLarge(limit)) })
  }

  async start (host: string, port: number): Promise<number> {
    // Through the HTTP front: uWS alone never answers HTTP/1.0 or more than 48 header fields.
    const bound = await listenFronted(this.#app, { host, port, what: 'Team API', log: this.#o.log, keepFields: ['authorization', 'content-type'] })
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

function parseBody (route: RouteDef, raw: Buffer, validators: Map<string, ValidateFunction>): unknown {
  if (route.request === undefined) return undefined
  let body: unknown
  try {
    body = JSON.parse(raw.toString('utf8'))
  } catch (err) {
    throw badJson(`request body is not valid JSON: ${(err as Error).message}`)
  }
  const validate = validators.get(route.request) as ValidateFunction
  if (!validate(body)) {
    const e = validate.errors?.[0]
    const field = e?.instancePath === '' ? undefined : e?.instancePath.slice(1).replace(/\//g, '.')
    if (e?.keyword === 'additionalProperties') {
      const extra = (e.params as { additionalProperty: string }).additionalProperty
      throw invalid(`unknown field "${extra}"`, { field: extra })
    }
    if (e?.keyword === 'required') {
      const missing = (e.params as { missingProperty: string }).missingProperty
      throw invalid(`missing field "${missing}"`, { field: missing })
    }
    if (e?.keyword === 'type' && field === undefined) throw invalid('request body must be a JSON object')
    throw invalid(field === undefined ? `request body ${e?.message ?? 'is invalid'}` : `field "${field}" ${e?.message ?? 'is invalid'}`, { field })
  }
  return body
}

function toApiError (err: unknown, log: Logger): ApiError {
  const e = err as { code?: string, status?: number, message?: string }
  if (typeof e?.code === 'string' && e.code.startsWith('CT_ERR_') && typeof e.status === 'number') return new ApiError(e.code, e.message ?? e.code, e.status)
  // Anything else came from ClickHouse or the network: storage is unavailable.
  log.error({ err }, 'Team API request failed')
  return unavailable('storage is unavailable; retry later')
}

function errorBody (e: ApiError): string {
  return JSON.stringify({ error: { code: e.code, message: e.message, ...(e.details === undefined ? {} : { details: e.details }) } })
}

function sendRaw (res: HttpResponse, state: { aborted: boolean }, reply: { status: number, raw?: Buffer, contentType?: string, headers?: Record<string, string> }): void {
  if (state.aborted) return
  state.aborted = true
  res.cork(() => {
    res.writeStatus(`${reply.status} ${STATUS_TEXT[reply.status] ?? ''}`).writeHeader('Cache-Control', 'no-store').writeHeader('Content-Type', reply.contentType ?? 'application/octet-stream')
    for (const [k, v] of Object.entries(reply.headers ?? {})) res.writeHeader(k, v)
    res.end(reply.raw as Buffer)
  })
}

function send (res: HttpResponse, state: { aborted: boolean }, status: number, body: string): void {
  if (state.aborted) return
  state.aborted = true
  res.cork(() => {
    res.writeStatus(`${status} ${STATUS_TEXT[status] ?? ''}`).writeHeader('Cache-Control', 'no-store')
    if (status === 204) res.endWithoutBody()
    else res.writeHeader('Content-Type', 'application/json').end(body)
  })
}
