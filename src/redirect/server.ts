import { BlockList, isIP, isIPv4 } from 'node:net'
import { LRUCache } from 'lru-cache'
import { verifyToken, type VerifiedToken } from '../token/codec.js'
import type { KeyRing } from '../token/keys.js'
import { ListenError } from '../errors.js'
import { loadUws } from './uws.js'
import { ObservationRing } from './ring.js'
import type { HostResolver } from './hosts.js'
import type { Observation, ObservationSink } from './observation.js'
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js'
import type { Logger } from '../log.js'

export interface RedirectServerOptions {
  host: string
  port: number
  keys: KeyRing
  hosts: HostResolver
  sink: ObservationSink
  log: Logger
  maxUrlBytes: number
  lruMax: number
  negativeCacheMax: number
  negativeCacheTtlMs: number
  ringSize: number
  handoffIntervalMs: number
  trustedProxies: string[]
  /** Extra routes (metrics, admin) registered before the catch-all 404. */
  extraRoutes?: (app: TemplatedApp) => void
}

/** Plain counters: incremented on the hot path, read by /metrics and /healthz. */
export class RedirectStats {
  requests = 0
  redirects = 0
  expired = 0
  notFound = 0
  unknownHost = 0
  wrongProject = 0
  lruHits = 0
  lruMisses = 0
  negativeHits = 0
  handoffs = 0
}

// Built once at module load (STYLE.md: no per-request strings or buffers).
const NOT_FOUND_BODY = Buffer.from('<!doctype html><html><head><meta charset="utf-8"><title>Link not found</title></head>' +
  '<body><h1>Link not found</h1><p>This link is not valid. Please check the address in your email.</p></body></html>')
const STATUS_302 = '302 Found'
const STATUS_404 = '404 Not Found'
const HTML_TYPE = 'text/html; charset=utf-8'
const JSON_TYPE = 'application/json'

/**
 * The redirect server: `GET|HEAD /c/{token}` on a tracking host → 302 to the token's
 * destination, after capturing an observation into a bounded ring that a timer hands to
 * the sink in batches. Nothing on this path waits for I/O.
 */
export class RedirectServer {
  readonly stats = new RedirectStats()
  readonly ring: ObservationRing
  readonly #o: RedirectServerOptions
  readonly #app: TemplatedApp
  readonly #lru: LRUCache<string, VerifiedToken>
  readonly #negative: LRUCache<string, true>
  readonly #trusted: BlockList | undefined
  #listen: us_listen_socket | undefined
  #timer: NodeJS.Timeout | undefined
  #port = 0
  #closed = false
  readonly startedAt = Date.now()

  constructor (options: RedirectServerOptions) {
    this.#o = options
    this.ring = new ObservationRing(options.ringSize)
    this.#lru = new LRUCache({ max: options.lruMax })
    this.#negative = new LRUCache({ max: options.negativeCacheMax, ttl: options.negativeCacheTtlMs, ttlAutopurge: false })
    this.#trusted = buildBlockList(options.trustedProxies)
    const uws = loadUws()
    this.#app = uws.App()
    const onClick = (res: HttpResponse, req: HttpRequest): void => { this.#onClick(res, req) }
    this.#app.get('/c/:token', onClick)
    this.#app.head('/c/:token', onClick)
    this.#app.get('/healthz', (res) => { this.#onHealth(res) })
    options.extraRoutes?.(this.#app)
    this.#app.any('/*', (res, req) => { this.stats.requests++; notFound(res, req.getMethod() === 'head') })
  }

  get port (): number { return this.#port }
  get lruSize (): number { return this.#lru.size }
  get negativeSize (): number { return this.#negative.size }

  /** Binds and starts the hand-off timer; resolves with the bound port. */
  async start (): Promise<number> {
    const uws = loadUws()
    const socket = await new Promise<us_listen_socket | false>(resolve => {
      this.#app.listen(this.#o.host, this.#o.port, resolve)
    })
    if (socket === false) throw new ListenError(`cannot listen on ${this.#o.host}:${this.#o.port} (in use or not permitted)`)
    this.#listen = socket
    this.#port = uws.us_socket_local_port(socket as unknown as Parameters<typeof uws.us_socket_local_port>[0])
    this.#timer = setInterval(() => { this.handoff() }, this.#o.handoffIntervalMs)
    this.#timer.unref()
    return this.#port
  }

  /** Moves every buffered observation to the sink (the timer calls this; so does stop). */
  handoff (): void {
    if (this.ring.size === 0) return
    this.stats.handoffs++
    this.#o.sink.write(this.ring.drain())
  }

  /** Stops listening, closes open connections, hands off what is buffered, closes the sink. */
  async stop (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    const uws = loadUws()
    if (this.#listen !== undefined) uws.us_listen_socket_close(this.#listen)
    ;(this.#app as unknown as { close?: () => void }).close?.()
    this.handoff()
    await this.#o.sink.close()
  }

  #onClick (res: HttpResponse, req: HttpRequest): void {
    const stats = this.stats
    stats.requests++
    // Everything from `req` is read before anything else: it is invalid once we return.
    const token = req.getParameter(0) as string
    const hostHeader = req.getHeader('host')
    const head = req.getMethod() === 'head'
    const project = this.#o.hosts.resolve(hostHeader)
    if (project === undefined) {
      stats.unknownHost++
      notFound(res, head)
      return
    }
    let t = this.#lru.get(token)
    if (t === undefined) {
      stats.lruMisses++
      if (this.#negative.get(token) !== undefined) {
        stats.negativeHits++
        stats.notFound++
        notFound(res, head)
        return
      }
      const v = verifyToken(this.#o.keys, token, this.#o.maxUrlBytes)
      if (typeof v === 'string') {
        // Only short garbage is remembered: a long token already failed its cheap length check.
        if (token.length <= 2048) this.#negative.set(token, true)
        stats.notFound++
        notFound(res, head)
        return
      }
      t = v
      this.#lru.set(token, t)
    } else {
      stats.lruHits++
    }
    if (t.sid !== project.sid) {
      stats.wrongProject++
      notFound(res, head)
      return
    }
    const now = Date.now()
    const expired = now > (t.sentAt + project.tokenTtlSeconds) * 1000
    const peer = addressOf(res)
    const o: Observation = {
      ts: now,
      sid: t.sid,
      messageId: t.messageId,
      linkIndex: t.linkIndex,
      sentAt: t.sentAt,
      url: t.url,
      kid: t.kid,
      expired,
      retentionDays: project.retentionDays,
      method: head ? 'HEAD' : 'GET',
      host: hostHeader,
      ip: peer,
      peerIp: peer,
      userAgent: req.getHeader('user-agent'),
      accept: req.getHeader('accept'),
      acceptLanguage: req.getHeader('accept-language'),
      acceptEncoding: req.getHeader('accept-encoding'),
      secFetchSite: req.getHeader('sec-fetch-site'),
      secFetchMode: req.getHeader('sec-fetch-mode'),
      secFetchDest: req.getHeader('sec-fetch-dest'),
      secFetchUser: req.getHeader('sec-fetch-user'),
      secChUa: req.getHeader('sec-ch-ua'),
      secChUaMobile: req.getHeader('sec-ch-ua-mobile'),
      secChUaPlatform: req.getHeader('sec-ch-ua-platform'),
      secPurpose: req.getHeader('sec-purpose'),
      purpose: req.getHeader('purpose'),
      xMoz: req.getHeader('x-moz'),
      referer: req.getHeader('referer'),
      via: req.getHeader('via'),
      dnt: req.getHeader('dnt'),
      upgradeInsecureRequests: req.getHeader('upgrade-insecure-requests')
    }
    if (this.#trusted !== undefined) {
      const xff = req.getHeader('x-forwarded-for')
      if (xff !== '') o.ip = forwardedClient(this.#trusted, peer, xff)
    }
    if (expired) stats.expired++
    stats.redirects++
    this.ring.push(o)
    res.writeStatus(STATUS_302).writeHeader('Location', t.location).writeHeader('Cache-Control', 'no-store').end()
  }

  #onHealth (res: HttpResponse): void {
    this.stats.requests++
    const body = JSON.stringify({
      status: 'ok',
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      uws_native: true,
      ring: { size: this.ring.size, capacity: this.ring.capacity, dropped: this.ring.dropped }
    })
    res.writeStatus('200 OK').writeHeader('Content-Type', JSON_TYPE).writeHeader('Cache-Control', 'no-store').end(body)
  }
}

function notFound (res: HttpResponse, head: boolean): void {
  res.writeStatus(STATUS_404).writeHeader('Content-Type', HTML_TYPE).writeHeader('Cache-Control', 'no-store')
    .writeHeader('X-Content-Type-Options', 'nosniff')
  // uWS 20.30 writes a body even for HEAD, and endWithoutBody(length) aborts the process
  // in this build; endWithoutBody() with no length is the one safe way to answer HEAD.
  if (head) res.endWithoutBody()
  else res.end(NOT_FOUND_BODY)
}

/** The peer address as text; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes plain IPv4. */
function addressOf (res: HttpResponse): string {
  const text = Buffer.from(res.getRemoteAddressAsText()).toString('latin1')
  return normalizeIp(text)
}

export function normalizeIp (ip: string): string {
  if (ip.length > 7 && ip.charCodeAt(0) === 0x3a && ip.startsWith('::ffff:') && isIPv4(ip.slice(7))) return ip.slice(7)
  return ip
}

/**
 * The client behind a trusted proxy: the first X-Forwarded-For hop, when the TCP peer
 * is one of ours and the hop is an IP address; otherwise the peer itself.
 */
export function forwardedClient (trusted: BlockList, peer: string, xff: string): string {
  if (!trusted.check(peer, isIPv4(peer) ? 'ipv4' : 'ipv6')) return peer
  const comma = xff.indexOf(',')
  const first = normalizeIp((comma === -1 ? xff : xff.slice(0, comma)).trim())
  if (isIP(first) === 0) return peer
  return first
}

export function buildBlockList (entries: string[]): BlockList | undefined {
  if (entries.length === 0) return undefined
  const list = new BlockList()
  for (const e of entries) {
    const slash = e.indexOf('/')
    const addr = slash === -1 ? e : e.slice(0, slash)
    const type = isIPv4(addr) ? 'ipv4' : 'ipv6'
    if (slash === -1) list.addAddress(addr, type)
    else list.addSubnet(addr, Number(e.slice(slash + 1)), type)
  }
  return list
}
