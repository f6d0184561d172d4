import { randomUUID } from 'node:crypto'
import { BlockList, isIP, isIPv4 } from 'node:net'
import { LRUCache } from 'lru-cache'
import { HONEYPOT_LINK_INDEX, verifyToken, type VerifiedToken } from '../token/codec.js'
import type { KeyRing } from '../token/keys.js'
import { closeApp, listenOn, listenUnix, loadUws } from '../http/uws.js'
import { listenFronted, type FrontStats, type HttpFront } from '../http/front.js'
import { ObservationRing } from './ring.js'
import { BLOCKED_BODY, NOT_FOUND_BODY, PAGE_CSP } from './pages.js'
import type { HostResolver, TrackingScheme } from './hosts.js'
import { newObservation, OBSERVATION_FIELDS, type Observation, type ObservationSink } from '../records.js'
import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket as ListenSocket } from 'uWebSockets.js'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'
import { guard } from '../http/guard.js'
import { counter, gauge, type Metric } from '../metrics.js'

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
  /**
   * Serve through the HTTP front (src/http/front.ts), so that HTTP/1.0 requests and requests
   * with more than 48 header fields get their answer; off = uWS on the port itself.
   */
  front?: boolean
  /**
   * Listen on this Unix socket only, with no front of its own: a redirect thread whose
   * connections come through the main thread's HTTP front (PROXY headers carry the clients).
   */
  unixPath?: string
  /** Probe host:port first (default true); false for a redirect thread sharing a port the engine probed. */
  probe?: boolean
  /** Extra routes (metrics, admin) registered before the catch-all 404. */
  extraRoutes?: (app: TemplatedApp) => void
  /** What /healthz says beyond this server's own ring (a redirect thread: the sum over all threads). */
  health?: () => Record<string, unknown>
  /** The operator's kill switch; none = nothing is ever blocked. */
  blocks?: BlockCheck
}

/**
 * What the redirect path asks of the operator's blocks. Answers are kept with each cached
 * token and asked again only when `generation` changes, so a hot token costs one compare.
 */
export interface BlockCheck {
  readonly generation: number
  /** The id of the block that stops a redirect of project `sid` to `url`, or undefined. */
  blocked (sid: string, url: string): string | undefined
}

/** A verified token as the LRU keeps it, with the block decision of a snapshot generation. */
interface CachedToken extends VerifiedToken {
  blockGen?: number
  blockedBy?: string
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
  /** Authentic tokens answered with the warning page because the operator blocked them. */
  blocked = 0
  /** 404 answers for paths other than /c/{token} and /healthz. */
  otherPath = 0
  handoffs = 0
}

// Built once at module load (STYLE.md: no per-request strings or buffers).
const STATUS_302 = '302 Found'
const STATUS_403 = '403 Forbidden'
const STATUS_404 = '404 Not Found'
const HTML_TYPE = 'text/html; charset=utf-8'
const JSON_TYPE = 'application/json'

/** What the ring shows of itself in /metrics (a thread's ring, or the sum of the threads'). */
export interface RingCounts { readonly pushed: number, readonly dropped: number, readonly size: number }

/** The redirect port's metrics, from one server's counters or the sum of the threads'. */
export function redirectMetrics (s: RedirectStats, ring: RingCounts, lruSize: number, f: FrontStats | undefined): Metric[] {
  return [
    counter('clicktrail_requests_total', 'HTTP requests on the redirect port', s.requests),
    counter('clicktrail_redirects_total', '302 answers (expired tokens included)', s.redirects),
    counter('clicktrail_redirects_expired_total', '302 answers for tokens past their TTL', s.expired),
    counter('clicktrail_not_found_total', '404 answers for tokens that did not verify', s.notFound),
    counter('clicktrail_unknown_host_total', '404 answers for a Host that is not a tracking host', s.unknownHost),
    counter('clicktrail_wrong_project_total', '404 answers for a valid token on another project\'s host', s.wrongProject),
    counter('clicktrail_token_cache_hits_total', 'verified-token LRU hits', s.lruHits),
    counter('clicktrail_token_cache_misses_total', 'verified-token LRU misses', s.lruMisses),
    counter('clicktrail_negative_cache_hits_total', 'rejected-token cache hits', s.negativeHits),
    counter('clicktrail_blocked_total', 'clicks on links the operator blocked (answered with the warning page, kept, never promoted)', s.blocked),
    counter('clicktrail_observed_total', 'observations captured into the ring', ring.pushed),
    counter('clicktrail_ring_dropped_total', 'observations shed because the ring was full', ring.dropped),
    gauge('clicktrail_ring_size', 'observations waiting in the ring', ring.size),
    gauge('clicktrail_token_cache_size', 'entries in the verified-token LRU', lruSize),
    // The HTTP front exists once the server listens (and not at all with --redirect-front=false).
    counter('clicktrail_front_http10_total', 'HTTP/1.0 requests on the redirect port, answered through the HTTP front', f?.http10 ?? 0),
    counter('clicktrail_front_fields_trimmed_total', 'redirect requests with more header fields than uWS parses, passed on with unread fields dropped', f?.fieldsTrimmed ?? 0),
    counter('clicktrail_front_fields_dropped_total', 'header fields dropped from such requests', f?.fieldsDropped ?? 0),
    counter('clicktrail_front_refused_total', 'redirect-port requests the HTTP front answered itself (400, 431)', f?.refused ?? 0)
  ]
}

/**
 * The redirect server: `GET|HEAD /c/{token}` on a tracking host → 302 to the token's
 * destination, after capturing an observation into a bounded ring that a timer hands to
 * the sink in batches. Nothing on this path waits for I/O.
 */
export class RedirectServer {
  /** The redirect port's counters (and its HTTP front's, when it has one). */
  metrics (): Metric[] {
    return redirectMetrics(this.stats, this.ring, this.lruSize, this.front?.stats)
  }

  readonly stats = new RedirectStats()
  readonly ring: ObservationRing
  readonly #o: RedirectServerOptions
  readonly #app: TemplatedApp
  readonly #lru: LRUCache<string, CachedToken>
  readonly #negative: LRUCache<string, true>
  readonly #trusted: BlockList | undefined
  #listen: ListenSocket | undefined
  #front: HttpFront | undefined
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
    const onClick = guard(options.log, 'redirect', (res: HttpResponse, req: HttpRequest): void => { this.#onClick(res, req) })
    this.#app.get('/c/:token', onClick)
    this.#app.head('/c/:token', onClick)
    this.#app.get('/healthz', guard(options.log, 'redirect', (res) => { this.#onHealth(res) }))
    options.extraRoutes?.(this.#app)
    this.#app.any('/*', guard(options.log, 'redirect', (res, req) => { this.stats.requests++; this.stats.otherPath++; notFound(res, req.getMethod() === 'head') }))
  }

  get port (): number { return this.#port }
  /** The HTTP front's counters, when it is on. */
  get front (): HttpFront | undefined { return this.#front }
  get lruSize (): number { return this.#lru.size }
  get negativeSize (): number { return this.#negative.size }

  /** Binds and starts the hand-off timer; resolves with the bound port. */
  async start (): Promise<number> {
    let bound: { socket: ListenSocket, port: number }
    if (this.#o.unixPath !== undefined) {
      bound = { socket: await listenUnix(this.#app, this.#o.unixPath, 'redirect thread'), port: this.#o.port }
    } else if (this.#o.front === false) {
      bound = await listenOn(this.#app, this.#o.host, this.#o.port, 'redirect server', { probe: this.#o.probe })
    } else {
      const fronted = await listenFronted(this.#app, { host: this.#o.host, port: this.#o.port, what: 'redirect server', log: this.#o.log, keepFields: READ_FIELDS })
      this.#front = fronted.front
      bound = fronted
    }
    this.#listen = bound.socket
    this.#port = bound.port
    this.#timer = setInterval(() => { this.handoff() }, this.#o.handoffIntervalMs)
    this.#timer.unref()
    return this.#port
  }

  /** Moves every buffered observation to the sink (the timer calls this; so does stop). */
  handoff (): void {
    this.#logFloods()
    if (this.ring.size === 0) return
    this.stats.handoffs++
    this.#o.sink.write(this.ring.drain())
  }

  /** Stops listening, closes open connections, hands off what is buffered, closes the sink. */
  async stop (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    closeApp(this.#app, this.#listen)
    this.#front?.close()
    this.handoff()
    await this.#o.sink.close()
  }

  // What the hot path only counts is logged from here, off it: the growth of each refusal and
  // shed counter since the last hand-off, rate-limited to a line per kind and interval.
  readonly #logged = { notFound: 0, unknownHost: 0, wrongProject: 0, otherPath: 0, dropped: 0, blocked: 0 }
  #logFloods (): void {
    const s = this.stats
    const l = this.#logged
    if (s.notFound === l.notFound && s.unknownHost === l.unknownHost && s.wrongProject === l.wrongProject && s.otherPath === l.otherPath && this.ring.dropped === l.dropped && s.blocked === l.blocked) return
    const log = limited(this.#o.log)
    if (s.notFound > l.notFound) log.warn('redirect.bad_token', {}, 'tokens that do not verify: answered 404', s.notFound - l.notFound)
    if (s.unknownHost > l.unknownHost) log.warn('redirect.unknown_host', {}, 'requests for a host that is not a tracking host: answered 404', s.unknownHost - l.unknownHost)
    if (s.wrongProject > l.wrongProject) log.warn('redirect.wrong_project', {}, 'valid tokens on another project\'s host: answered 404', s.wrongProject - l.wrongProject)
    if (s.otherPath > l.otherPath) log.info('redirect.other_path', {}, 'requests for other paths: answered 404', s.otherPath - l.otherPath)
    if (this.ring.dropped > l.dropped) log.error('redirect.ring_dropped', { capacity: this.ring.capacity }, 'observation ring full: observations shed (their redirects succeeded)', this.ring.dropped - l.dropped)
    if (s.blocked > l.blocked) log.warn('redirect.blocked', {}, 'clicks on blocked links: answered with the warning page', s.blocked - l.blocked)
    l.blocked = s.blocked
    l.notFound = s.notFound
    l.unknownHost = s.unknownHost
    l.wrongProject = s.wrongProject
    l.otherPath = s.otherPath
    l.dropped = this.ring.dropped
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
    const blocks = this.#o.blocks
    if (blocks !== undefined && t.blockGen !== blocks.generation) {
      t.blockedBy = blocks.blocked(t.sid, t.url)
      t.blockGen = blocks.generation
    }
    const now = Date.now()
    const expired = now > (t.sentAt + project.tokenTtlSeconds) * 1000
    const peer = addressOf(res)
    const o = newObservation()
    o.ts = now
    o.id = randomUUID()
    o.sid = t.sid
    o.messageId = t.messageId
    o.linkIndex = t.linkIndex
    o.sentAt = t.sentAt
    o.url = t.url
    o.kid = t.kid
    o.expired = expired
    o.retentionDays = project.retentionDays
    o.method = head ? 'HEAD' : 'GET'
    o.host = hostHeader
    o.ip = peer
    o.peerIp = peer
    if (t.blockedBy !== undefined) o.blocked = true
    // The honeypot link (rewrite/honeypot.ts) is answered like any link: a 302 to the
    // destination its token carries (the message's first tracked link), so a scanner cannot
    // tell it from the others by its answer; only the observation says what it was.
    if (t.linkIndex === HONEYPOT_LINK_INDEX) o.honeypot = true
    // One pass over the request's headers instead of a getHeader call per name: each
    // getHeader converts its name to UTF-8 and scans the headers again. Measured
    // (bench/micro/redirect-headers.mjs): for a 6-field request forEach 0.8–1.5 µs against
    // 1.9–3.6 µs for the getHeader calls; for a current Chrome's 17 fields forEach is the
    // slower, 2.6–4.8 µs against 2.2–4.2 µs (every field crosses into JS as two strings).
    capture.o = o
    capture.xff = ''
    capture.xfp = ''
    req.forEach(captureHeader)
    // The listener is plain HTTP: a request straight from the client came over http. Only a
    // trusted proxy is believed about the client's address and scheme; one that terminated
    // TLS says so in X-Forwarded-Proto, else the host's configured scheme stands. (Without
    // forwarded headers the peer is taken as the client, as for the address.)
    const trusted = this.#trusted
    if (trusted !== undefined && (capture.xff !== '' || capture.xfp !== '') && isTrusted(trusted, peer)) {
      if (capture.xff !== '') o.ip = clientBehind(trusted, peer, capture.xff)
      o.scheme = forwardedScheme(capture.xfp, project.scheme)
    } else {
      o.scheme = 'http'
    }
    this.ring.push(o)
    if (o.blocked === true) {
      stats.blocked++
      blockedPage(res, head)
      return
    }
    if (expired) stats.expired++
    stats.redirects++
    res.writeStatus(STATUS_302).writeHeader('Location', t.location).writeHeader('Cache-Control', 'no-store').end()
  }

  #onHealth (res: HttpResponse): void {
    this.stats.requests++
    const body = JSON.stringify({
      status: 'ok',
      uptime_s: Math.round((Date.now() - this.startedAt) / 1000),
      uws_native: true,
      ring: { size: this.ring.size, capacity: this.ring.capacity, dropped: this.ring.dropped },
      ...this.#o.health?.()
    })
    res.writeStatus('200 OK').writeHeader('Content-Type', JSON_TYPE).writeHeader('Cache-Control', 'no-store').end(body)
  }
}

/** The request fields this server reads (captureHeader's, Host, X-Forwarded-For): kept when the front must drop some. */
export const READ_FIELDS: readonly string[] = ['host', ...OBSERVATION_FIELDS.flatMap(f => f.header === undefined ? [] : [f.header]), 'x-forwarded-for', 'x-forwarded-proto', 'authorization']

// What captureHeader fills: module-level, so that reading the headers allocates no closure
// per request.
const capture: { o: Observation, xff: string, xfp: string } = { o: newObservation(), xff: '', xfp: '' }

/**
 * One request header into the observation being captured: a switch over the header names of
 * the field table (records.ts), generated once, so the names are not written twice and the
 * stores stay named (as fast as the hand-written switch). Several X-Forwarded-For headers are
 * one list, in order (RFC 7230 §3.2.2): a proxy may add its own header instead of appending.
 * Of several X-Forwarded-Proto headers the last is kept: forwardedScheme reads the rightmost
 * value anyway.
 */

// eslint-disable-next-line no-new-func -- generated once at load from the field table (records.ts), never from input
const captureHeader = new Function('capture', `return function captureHeader (key, value) {
  const o = capture.o
  switch (key) {
${OBSERVATION_FIELDS.filter(f => f.header !== undefined).map(f => `    case ${JSON.stringify(f.header)}: o.${f.key} = value; break`).join('\n')}
    case 'x-forwarded-for': capture.xff = capture.xff === '' ? value : capture.xff + ',' + value; break
    case 'x-forwarded-proto': capture.xfp = value; break
  }
}`)(capture) as (key: string, value: string) => void

function blockedPage (res: HttpResponse, head: boolean): void {
  res.writeStatus(STATUS_403).writeHeader('Content-Type', HTML_TYPE).writeHeader('Cache-Control', 'no-store')
    .writeHeader('X-Content-Type-Options', 'nosniff').writeHeader('Referrer-Policy', 'no-referrer').writeHeader('Content-Security-Policy', PAGE_CSP)
  if (head) res.endWithoutBody()
  else res.end(BLOCKED_BODY)
}

function notFound (res: HttpResponse, head: boolean): void {
  res.writeStatus(STATUS_404).writeHeader('Content-Type', HTML_TYPE).writeHeader('Cache-Control', 'no-store')
    .writeHeader('X-Content-Type-Options', 'nosniff').writeHeader('Content-Security-Policy', PAGE_CSP)
  // uWS 20.30 writes a body even for HEAD, and endWithoutBody(length) aborts the process
  // in this build; endWithoutBody() with no length is the one safe way to answer HEAD.
  if (head) res.endWithoutBody()
  else res.end(NOT_FOUND_BODY)
}

/** The peer address as text; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes plain IPv4. */
function addressOf (res: HttpResponse): string {
  // The binary form is cheaper than the text one (no Buffer, no decode): IPv4, the common
  // case, arrives as 4 bytes or as an IPv4-mapped IPv6 address and is formatted here.
  let b = new Uint8Array(res.getRemoteAddress())
  // Through the HTTP front the peer is its Unix socket (no address) and the client's address
  // came in the PROXY header. A TCP peer always has an address, so a PROXY header sent
  // straight to uWS by a client is never believed.
  let proxied = false
  if (b.length === 0) {
    b = new Uint8Array(res.getProxiedRemoteAddress())
    proxied = true
  }
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`
  if (b.length === 16 && b[10] === 0xff && b[11] === 0xff && b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0 && b[4] === 0 && b[5] === 0 && b[6] === 0 && b[7] === 0 && b[8] === 0 && b[9] === 0) {
    return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`
  }
  return normalizeIp(Buffer.from(proxied ? res.getProxiedRemoteAddressAsText() : res.getRemoteAddressAsText()).toString('latin1'))
}

export function normalizeIp (ip: string): string {
  if (ip.length > 7 && ip.charCodeAt(0) === 0x3a && ip.startsWith('::ffff:') && isIPv4(ip.slice(7))) return ip.slice(7)
  return ip
}

/**
 * The client behind trusted proxies. Each proxy appends the address it received the request
 * from, so only the right end of X-Forwarded-For is written by our proxies; whatever the
 * client sent comes first and may be anything. So the list is walked from the right,
 * starting at the TCP peer: while the address is a trusted proxy, the hop to its left is
 * believed; the first address that is not a trusted proxy is the client. An entry that is
 * not an IP address (junk, `unknown`, an empty item) stops the walk: the last trusted hop is
 * then the best we know (the peer, when it is the first). A peer that is not trusted is
 * the client itself, whatever the header says. When every hop is trusted, the leftmost is.
 */
export function forwardedClient (trusted: BlockList, peer: string, xff: string): string {
  return isTrusted(trusted, peer) ? clientBehind(trusted, peer, xff) : peer
}

/** forwardedClient for a peer already known to be trusted. */
function clientBehind (trusted: BlockList, peer: string, xff: string): string {
  let last = peer
  let end = xff.length
  while (end >= 0) {
    const comma = xff.lastIndexOf(',', end - 1)
    const hop = normalizeIp(xff.slice(comma + 1, end).trim())
    if (isIP(hop) === 0) return last
    if (!isTrusted(trusted, hop)) return hop
    last = hop
    if (comma === -1) break
    end = comma
  }
  return last
}

/**
 * The scheme a trusted proxy reports in X-Forwarded-Proto: its rightmost value, the one our
 * nearest proxy wrote (proxies overwrite the header, or append to it; anything left of our
 * proxy's value may have come from the client). `https` or `http` in any case, with spaces
 * around; anything else (empty, junk, `wss`) leaves the host's configured scheme. Reads the
 * header in place: no substring per request.
 */
export function forwardedScheme (xfp: string, configured: TrackingScheme): TrackingScheme {
  let end = xfp.length
  while (end > 0 && isBlank(xfp.charCodeAt(end - 1))) end--
  let start = end
  while (start > 0 && xfp.charCodeAt(start - 1) !== 0x2c) start-- // ','
  while (start < end && isBlank(xfp.charCodeAt(start))) start++
  const n = end - start
  if ((n === 4 || n === 5) && lowerAt(xfp, start) === 0x68 && lowerAt(xfp, start + 1) === 0x74 && // 'h', 't'
      lowerAt(xfp, start + 2) === 0x74 && lowerAt(xfp, start + 3) === 0x70) { // 't', 'p'
    if (n === 4) return 'http'
    if (lowerAt(xfp, start + 4) === 0x73) return 'https' // 's'
  }
  return configured
}

function isBlank (c: number): boolean { return c === 0x20 || c === 0x09 }
function lowerAt (s: string, i: number): number { return s.charCodeAt(i) | 0x20 }

function isTrusted (trusted: BlockList, ip: string): boolean {
  return trusted.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6')
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
