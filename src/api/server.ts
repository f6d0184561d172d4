import { Ajv, type ValidateFunction } from 'ajv'
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket as ListenSocket } from 'uWebSockets.js'
import { closeApp, loadUws, readBody } from '../http/uws.js'
import { listenFronted, type HttpFront } from '../http/front.js'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'
import { guard } from '../http/guard.js'
import type { ControlPlane } from '../control/plane.js'
import { badPath, internal, invalid, methodNotAllowed, tooLarge, unauthorized, unavailable } from './errors.js'
import { ClicktrailError } from '../errors.js'
import { checkJsonType, checkRawType, parseJsonBody } from './body.js'
import { ROUTES, type Reply, type RouteDef } from './routes.js'
import { schemas } from './schemas.js'
import { buildOpenApi } from './openapi.js'
import { counter, labelled, type Metric } from '../metrics.js'
import { isStoreFailure } from '../store/client.js'

export const DEFAULT_MAX_BODY = 64 * 1024

const STATUS_TEXT: Record<number, string> = { 200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content', 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' }

const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE']

/** Raw bodies (`raw` routes) may be sent as their own type or as plain bytes. */
const RAW_FALLBACK_TYPES = ['application/octet-stream']

/** Node's codes for a peer that cannot be reached or went away (ClickHouse over HTTP). */

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

/** What the server knows of one route, computed once. */
interface CompiledRoute {
  def: RouteDef
  params: string[]
  /** Media types its body may carry (raw routes). */
  rawTypes?: string[]
}

/** One request's state: uWS forbids touching a response after it was aborted or ended. */
interface Exchange {
  /** The client went away (uWS onAborted): the response must not be touched again. */
  aborted: boolean
  /** An answer was started: a second one is never attempted. */
  answered: boolean
  /** HEAD: headers only, never a body (a body would desync a keep-alive connection). */
  head: boolean
  method: string
  path: string
}

export interface ApiStats {
  /** Requests answered 4xx, by code. */
  refused: Record<string, number>
  /** Requests answered 500 CT_ERR_INTERNAL (a bug, logged). */
  internalErrors: number
  /** Requests answered 503 because ClickHouse or the network failed. */
  storeUnavailable: number
}

/**
 * The Team API on its own port: JSON over HTTP, `Authorization: Bearer <team token>`.
 * Every request is authenticated before its body is read, every body is checked against
 * its JSON Schema (unknown fields refused), and every error is
 * `{"error": {"code", "message"}}` with a stable code.
 *
 * No input ends the process: every uWS callback is wrapped by `guard`, every path of the
 * asynchronous part ends in a catch that answers 500 and logs, a malformed path, header or
 * body is a 4xx with its own code, and refusals are logged rate-limited by code. HEAD is
 * answered with the headers a GET would get and no body.
 */
export class ApiServer {
  metrics (): Metric[] {
    const s = this.stats
    return [
      labelled('clicktrail_api_refused_total', 'Team API requests answered 4xx, by error code', 'counter', Object.entries(s.refused).map(([code, value]) => ({ labels: { code }, value }))),
      counter('clicktrail_api_internal_errors_total', 'Team API requests answered 500 CT_ERR_INTERNAL (a bug; logged)', s.internalErrors),
      counter('clicktrail_api_store_unavailable_total', 'Team API requests answered 503 because ClickHouse or the network failed', s.storeUnavailable)
    ]
  }

  readonly #app: TemplatedApp
  readonly #o: ApiServerOptions
  readonly #validators = new Map<string, ValidateFunction>()
  readonly routes: RouteDef[]
  readonly openapi: Record<string, unknown>
  readonly #openapiJson: string
  /** host[:port] of the tracking base URL, parsed once. */
  readonly #trackingHost: string
  /** Path patterns as regexes, with the methods each answers: for 405 and its Allow header. */
  readonly #patterns: Array<{ source: string, re: RegExp, methods: string[] }> = []
  readonly #refused = new Map<string, number>()
  #internalErrors = 0
  #storeUnavailable = 0
  #listen: ListenSocket | undefined
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
    const log = options.log
    this.#app = loadUws().App()
    const openapi = (head: boolean) => guard(log, 'api', res => {
      const x: Exchange = { aborted: false, answered: false, head, method: head ? 'HEAD' : 'GET', path: '/v1/openapi.json' }
      this.#send(res, x, 200, 'application/json', this.#openapiJson)
    })
    this.#app.get('/v1/openapi.json', openapi(false))
    this.#app.head('/v1/openapi.json', openapi(true))
    this.#allow('/v1/openapi.json', 'GET')
    for (const def of this.routes) {
      const route: CompiledRoute = {
        def,
        params: [...def.path.matchAll(/:([a-z_]+)/g)].map(m => m[1]),
        rawTypes: def.raw === undefined ? undefined : [def.raw.contentType.toLowerCase(), ...RAW_FALLBACK_TYPES]
      }
      this.#app[def.method](def.path, guard(log, 'api', (res, req) => { this.#handle(route, res, req, false) }))
      // HEAD runs the GET (its handlers only read) and sends its headers alone.
      if (def.method === 'get') this.#app.head(def.path, guard(log, 'api', (res, req) => { this.#handle(route, res, req, true) }))
      this.#allow(def.path, def.method === 'del' ? 'DELETE' : def.method.toUpperCase())
    }
    this.#app.any('/*', guard(log, 'api', (res, req) => { this.#unrouted(res, req) }))
  }

  get stats (): ApiStats {
    return { refused: Object.fromEntries(this.#refused), internalErrors: this.#internalErrors, storeUnavailable: this.#storeUnavailable }
  }

  #allow (path: string, method: string): void {
    const source = `^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[a-z_]+/g, '[^/]+')}$`
    let p = this.#patterns.find(x => x.source === source)
    if (p === undefined) {
      p = { source, re: new RegExp(source), methods: [] }
      this.#patterns.push(p)
    }
    p.methods.push(method)
    if (method === 'GET') p.methods.push('HEAD')
    p.methods.sort((a, b) => METHOD_ORDER.indexOf(a) - METHOD_ORDER.indexOf(b))
  }

  /** No route took the request: 405 with Allow when the path exists for other methods, else 404. */
  #unrouted (res: HttpResponse, req: HttpRequest): void {
    const method = req.getMethod().toUpperCase()
    const path = req.getUrl()
    // The path is the client's: only a bounded piece of it goes into the logs.
    const x: Exchange = { aborted: false, answered: false, head: method === 'HEAD', method: method.slice(0, 16), path: path.slice(0, 200) }
    const p = this.#patterns.find(q => q.re.test(path))
    if (p === undefined) {
      this.#fail(res, x, new ClicktrailError('CT_ERR_NOT_FOUND', 'no such endpoint'))
      return
    }
    const allowed = p.methods.join(', ')
    this.#fail(res, x, methodNotAllowed(allowed), { Allow: allowed })
  }

  #handle (route: CompiledRoute, res: HttpResponse, req: HttpRequest, head: boolean): void {
    const def = route.def
    const x: Exchange = { aborted: false, answered: false, head, method: head ? 'HEAD' : req.getMethod().toUpperCase(), path: def.path }
    res.onAborted(() => { x.aborted = true })
    // Everything needed from `req` is read now: it is only valid during this callback.
    const raw: string[] = []
    for (let i = 0; i < route.params.length; i++) raw.push(req.getParameter(i) ?? '')
    const auth = req.getHeader('authorization')
    const contentType = req.getHeader('content-type')
    const accept = req.getHeader('accept')
    const query = req.getQuery() ?? ''
    let params: Record<string, string>
    try {
      params = decodeParams(route.params, raw)
    } catch (err) {
      // Malformed before anything else: the same 400 whoever sends it.
      this.#fail(res, x, err)
      return
    }
    const m = /^Bearer\s+(\S+)\s*$/.exec(auth)
    const token = m === null ? undefined : this.#o.plane.authenticate(m[1])
    if (token === undefined) {
      // Drain nothing: answering now closes the exchange; uWS discards the unread body.
      this.#fail(res, x, unauthorized())
      return
    }
    try {
      if (def.request !== undefined) checkJsonType(contentType)
      else if (route.rawTypes !== undefined) checkRawType(contentType, route.rawTypes)
    } catch (err) {
      this.#fail(res, x, err)
      return
    }
    const limit = def.maxBody ?? DEFAULT_MAX_BODY
    readBody(res, limit, rawBody => {
      // Called from uWS's onData: nothing may throw out of here.
      let body: unknown
      try {
        body = def.request === undefined ? undefined : this.#parseBody(def.request, rawBody)
      } catch (err) {
        this.#fail(res, x, err)
        return
      }
      Promise.resolve()
        .then(async () => await def.handler({ teamId: token.team_id, params, query, accept, rawBody: def.raw === undefined ? undefined : rawBody, body, plane: this.#o.plane, trackingHost: this.#trackingHost, allowPrivateWebhooks: this.#o.allowPrivateWebhooks === true }))
        .then(reply => { this.#reply(res, x, reply) }, err => { this.#fail(res, x, err) })
        // Whatever the reply or the error path threw (a value JSON.stringify cannot write,
        // a uWS call on a response that went away): answered if still possible, logged,
        // never an unhandled rejection (which ends a Node 20 process).
        .catch(err => { this.#internal(res, x, err) })
    }, () => { this.#fail(res, x, tooLarge(limit)) })
  }

  #parseBody (schema: string, raw: Buffer): unknown {
    const body = parseJsonBody(raw)
    const validate = this.#validators.get(schema) as ValidateFunction
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

  #reply (res: HttpResponse, x: Exchange, reply: Reply): void {
    if (reply.raw !== undefined) {
      this.#send(res, x, reply.status, reply.contentType ?? 'application/octet-stream', reply.raw, reply.headers)
      return
    }
    // May throw (a RangeError past V8's string limit): the caller's catch answers 500.
    const text = reply.body === undefined ? undefined : JSON.stringify(reply.body)
    this.#send(res, x, reply.status, 'application/json', text, reply.headers)
  }

  /** Answers an error: ours as they are, ClickHouse's and the network's 503, anything else 500. */
  #fail (res: HttpResponse, x: Exchange, err: unknown, headers?: Record<string, string>): void {
    const e = this.#classify(err, x)
    const body = JSON.stringify({ error: { code: e.code, message: e.message, ...(e.details === undefined ? {} : { details: e.details }) } })
    this.#send(res, x, e.status, 'application/json', body, headers)
  }

  #classify (err: unknown, x: Exchange): ClicktrailError {
    const log = limited(this.#o.log)
    if (err instanceof ClicktrailError) {
      const api = err
      if (api.status < 500) {
        this.#refused.set(api.code, (this.#refused.get(api.code) ?? 0) + 1)
        log.warn(`api.refused.${api.code}`, { code: api.code, status: api.status, method: x.method, route: x.path }, 'Team API request refused')
      } else {
        log.error(`api.failed.${api.code}`, { code: api.code, status: api.status, method: x.method, route: x.path, err }, 'Team API request failed')
      }
      return api
    }
    if (isStoreFailure(err)) {
      this.#storeUnavailable++
      log.error('api.store_unavailable', { method: x.method, route: x.path, err }, 'Team API request failed: ClickHouse unavailable; answered 503')
      return unavailable()
    }
    this.#internalErrors++
    log.error('api.internal', { method: x.method, route: x.path, err }, 'Team API request failed with an unexpected error; answered 500')
    return internal()
  }

  /** Last resort, when answering itself threw: 500 if nothing was sent yet, and logged. */
  #internal (res: HttpResponse, x: Exchange, err: unknown): void {
    this.#internalErrors++
    limited(this.#o.log).error('api.reply_failed', { method: x.method, route: x.path, err }, 'Team API could not send its answer; answered 500 if it still could')
    if (x.answered || x.aborted) return
    try {
      this.#send(res, x, 500, 'application/json', JSON.stringify({ error: { code: internal().code, message: internal().message } }))
    } catch { /* the response is gone */ }
  }

  /**
   * Writes one answer, once. A body past a few socket buffers is streamed with
   * tryEnd/onWritable from the caller's buffer (uWS would otherwise copy all that it cannot
   * send at once); HEAD gets the headers and the Content-Length alone.
   */
  #send (res: HttpResponse, x: Exchange, status: number, contentType: string, body: string | Uint8Array | undefined, headers?: Record<string, string>): void {
    if (x.aborted || x.answered) return
    x.answered = true
    res.cork(() => {
      res.writeStatus(`${status} ${STATUS_TEXT[status] ?? ''}`).writeHeader('Cache-Control', 'no-store')
      if (headers !== undefined) for (const [k, v] of Object.entries(headers)) res.writeHeader(k, v)
      if (status === 204) {
        res.endWithoutBody()
        return
      }
      if (body === undefined) body = '' // Content-Length: 0; without it a keep-alive client reads until close
      res.writeHeader('Content-Type', contentType)
      if (x.head) {
        // Written by hand: endWithoutBody(reportedContentLength) aborts the process in the uWS
        // build that loads here (v20.30, measured: SIGABRT on the first HEAD, corked or not;
        // bench/micro/uws-head-length.mjs).
        res.writeHeader('Content-Length', String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength)).endWithoutBody()
        return
      }
      if (typeof body === 'string' || body.byteLength <= STREAM_FROM) {
        res.end(body)
        return
      }
      stream(res, x, body)
    })
  }

  async start (host: string, port: number): Promise<number> {
    // Through the HTTP front: uWS alone never answers HTTP/1.0 or more than 48 header fields.
    const bound = await listenFronted(this.#app, { host, port, what: 'Team API', log: this.#o.log, keepFields: ['authorization', 'content-type', 'accept'] })
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

/** Bodies larger than this are streamed (about what a loopback socket takes at once). */
const STREAM_FROM = 256 * 1024

function stream (res: HttpResponse, x: Exchange, body: Uint8Array): void {
  const total = body.byteLength
  const start = res.getWriteOffset()
  const [ok, done] = res.tryEnd(body, total)
  if (ok || done) return
  // Backpressure: the rest goes when the socket drains, from where the kernel stopped.
  res.onWritable(offset => {
    if (x.aborted) return true
    const [sent, finished] = res.tryEnd(body.subarray(offset - start), total)
    return sent || finished
  })
}

/** Path parameters as uWS hands them over are still percent-encoded. */
function decodeParams (names: string[], raw: string[]): Record<string, string> {
  const out: Record<string, string> = {}
  for (let i = 0; i < names.length; i++) {
    const v = raw[i]
    if (!v.includes('%')) {
      out[names[i]] = v
      continue
    }
    try {
      out[names[i]] = decodeURIComponent(v)
    } catch {
      // `%ZZ`, a truncated `%E2%82`, an encoded lone surrogate (`%ED%A0%80`): URIError.
      throw badPath(names[i])
    }
  }
  return out
}
