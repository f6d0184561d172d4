import { connect, createServer, isIPv4, isIPv6, type Server, type Socket } from 'node:net'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TemplatedApp, us_listen_socket as ListenSocket } from 'uWebSockets.js'
import { ClicktrailError } from '../errors.js'
import { listenUnix } from './uws.js'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'

/**
 * Header fields uWS v20.30 parses at most: its request table has 50 slots, one for the
 * request line and one for the end mark (measured, bench/micro/uws-max-fields.mjs: 48 fields answer, 49 get no answer).
 */
export const UWS_MAX_FIELDS = 48
/**
 * Longest request head (request line and fields) the front accepts; past it 431. Tokens carry
 * their destination, and --max-url-bytes may be up to 64 KB, so a head may be ~90 KB.
 */
export const DEFAULT_MAX_HEAD_BYTES = 128 * 1024
/** A client connection with no traffic for this long is closed (uWS's own idle timeout is 10 s). */
export const DEFAULT_IDLE_TIMEOUT_MS = 15_000

export interface FrontOptions {
  host: string
  port: number
  /** Names the listener in errors and logs ("redirect server", "Team API"). */
  what: string
  log: Logger
  /**
   * Lower-case names of the fields the app behind reads. When a request has more fields
   * than uWS parses, fields not named here are dropped (after same-name fields are merged)
   * until it fits; the answer is then the one the app would give with all of them.
   */
  keepFields?: readonly string[]
  maxHeadBytes?: number
  idleTimeoutMs?: number
}

/** Counters for /metrics: what the front rewrote or refused. */
export class FrontStats {
  connections = 0
  /** HTTP/1.0 requests passed on as HTTP/1.1 with `Connection: close`. */
  http10 = 0
  /** Requests in absolute form (`GET http://host/path`), passed on in origin form. */
  absoluteForm = 0
  /** Requests with more fields than uWS parses, passed on after merging and dropping. */
  fieldsTrimmed = 0
  /** Fields dropped from such requests. */
  fieldsDropped = 0
  /** Requests the front answered itself: 400 or 431 (uWS would have held them unanswered). */
  refused = 0
}

/** A listener whose app is served through the front; `close()` stops both sides. */
export interface Fronted {
  /** uWS's own listen socket (on a private Unix socket), for `closeApp`. */
  socket: ListenSocket
  port: number
  front: HttpFront
}

// Built once (STYLE.md): byte patterns the head scanner looks for.
// RFC 9112 2.2: a recipient may take a bare LF for a line end; the head ends at the first
// empty line, "\n\r\n" (which "\r\n\r\n" holds) or "\n\n".
const LF_CRLF = Buffer.from('\n\r\n')
const LF_LF = Buffer.from('\n\n')
const HTTP11_CRLF = Buffer.from(' HTTP/1.1\r\n')
const NAME_HOST = Buffer.from('host')
const NAME_CONTENT_LENGTH = Buffer.from('content-length')
const NAME_TRANSFER_ENCODING = Buffer.from('transfer-encoding')
/** RFC 9110 5.6.2 tchar, as a byte table: 1 for the bytes a method or field name may hold. */
const TCHAR = new Uint8Array(256)
for (const ch of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TCHAR[ch.charCodeAt(0)] = 1
const PROXY_V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')
const REQUEST_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+) ([\x21-\xff]+) HTTP\/(\d)\.(\d)$/
const FIELD_VALUE = /^[\t\x20-\xff]*$/
const FIELD_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const ABSOLUTE_TARGET = /^https?:\/\//i
const CONTENT_LENGTH = /^\d{1,15}$/
/** Fields needed to frame and route any request: never dropped. */
const FRAMING_FIELDS = ['host', 'content-length', 'transfer-encoding', 'connection', 'expect', 'upgrade']

const MODE_INSPECT = 0
/** Bytes go through unexamined (after a chunked request body: uWS frames the rest itself). */
const MODE_PIPE = 1
/** Nothing more is read from the client (after an HTTP/1.0 request, or after the front answered). */
const MODE_DONE = 2
/** How long a closing connection keeps reading (and dropping) what the client still sends. */
const LINGER_MS = 5000
/** How long body bytes wait after uWS answered a request whose body is still arriving. */
const HOLD_MS = 250

/**
 * An HTTP/1.x front for a uWS app, on the listener's public address.
 *
 * uWS v20.30 (the build that loads on this platform, DESIGN.md) gives no answer at all to
 * an HTTP/1.0 request (it only parses " HTTP/1.1" request lines; upstream dropped 1.0 in
 * uWebSockets v20.28, issue #1547) nor to a request with more than 48 fields: it waits for
 * more bytes until its 10 s idle timeout and closes. Its JS API exposes nothing before a
 * request is parsed and cannot adopt a socket, so the only way to answer those requests is
 * to see the bytes first. The front does, and lets uWS answer every request:
 * - a request uWS parses (HTTP/1.1, origin form, ≤ 48 fields, one Host) goes on verbatim;
 * - HTTP/1.0 goes on as HTTP/1.1 with `Connection: close` (uWS then closes after its
 *   answer, which is how 1.0 ends a response), a missing Host as an empty one;
 * - absolute form (`GET http://host/p`, from proxies) goes on in origin form with that Host;
 * - past 48 fields, same-name fields are merged (RFC 9110 5.3) and fields the app never
 *   reads are dropped until it fits;
 * - what no HTTP/1.x server could answer otherwise gets a prompt 400/431 with a code.
 * The app listens on a private Unix socket; each connection to it starts with a PROXY v2
 * header, so `getProxiedRemoteAddress()` is the client's address.
 * Cost (measured, bench/micro/http-front.mjs, wrk 1 thread 50 keep-alive connections): a
 * redirect takes 2.6–3.2× the CPU (55–73 µs against 17–27 µs here), about half the requests
 * per second, because every byte crosses Node
 * twice. That is why the redirect port can turn it off (--redirect-front=false) behind a
 * proxy that answers the old clients itself and speaks HTTP/1.1 to us.
 */
export class HttpFront {
  readonly stats = new FrontStats()
  readonly #o: Required<Omit<FrontOptions, 'keepFields'>>
  readonly #keep: Set<string>
  readonly #server: Server
  readonly #clients = new Set<Socket>()
  readonly #dir: string
  readonly path: string
  port = 0
  #upstreams: readonly string[] = []
  #next = 0

  constructor (options: FrontOptions) {
    this.#o = {
      host: options.host,
      port: options.port,
      what: options.what,
      log: options.log,
      maxHeadBytes: options.maxHeadBytes ?? DEFAULT_MAX_HEAD_BYTES,
      idleTimeoutMs: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS
    }
    this.#keep = new Set([...FRAMING_FIELDS, ...(options.keepFields ?? [])])
    this.#dir = mkdtempSync(join(tmpdir(), 'clicktrail-uws-'))
    this.path = join(this.#dir, 'http.sock')
    // allowHalfOpen: a client that sends its request and half-closes still gets the answer.
    this.#server = createServer({ allowHalfOpen: true, noDelay: true }, socket => { this.#accept(socket) })
  }

  /** Binds the app on the private socket and the front on host:port. */
  async listen (app: TemplatedApp): Promise<ListenSocket> {
    const socket = await listenUnix(app, this.path, this.#o.what)
    await this.listenFor([this.path])
    return socket
  }

  /**
   * Binds the front on host:port for apps already listening on `paths` (Unix sockets: the
   * redirect threads' apps); each client connection goes to the next one in turn.
   */
  async listenFor (paths: readonly string[]): Promise<void> {
    if (paths.length === 0) throw new ClicktrailError('CT_ERR_LISTEN', `${this.#o.what}: no app to front`)
    this.#upstreams = paths
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(new ClicktrailError('CT_ERR_LISTEN', `${this.#o.what} cannot listen on ${this.#o.host}:${this.#o.port} (${err.code ?? err.message})`))
      }
      this.#server.once('error', onError)
      this.#server.listen(this.#o.port, this.#o.host, () => {
        this.#server.off('error', onError)
        resolve()
      })
    })
    const address = this.#server.address()
    this.port = typeof address === 'object' && address !== null ? address.port : this.#o.port
  }

  /** The app socket the next client connection goes to. */
  nextUpstream (): string {
    const paths = this.#upstreams
    const p = paths[this.#next]
    this.#next = (this.#next + 1) % paths.length
    return p
  }

  /** Stops accepting, drops open connections and removes the private socket. */
  close (): void {
    this.#server.close()
    for (const c of this.#clients) c.destroy()
    this.#clients.clear()
    rmSync(this.#dir, { recursive: true, force: true })
  }

  #accept (client: Socket): void {
    this.stats.connections++
    this.#clients.add(client)
    // eslint-disable-next-line no-new -- the connection lives through the socket's listeners
    new FrontConnection(this, client, this.#o, this.#keep)
    client.once('close', () => { this.#clients.delete(client) })
  }

  refused (code: string, status: number): void {
    this.stats.refused++
    limited(this.#o.log).warn('front.refused', { listener: this.#o.what, code, status }, 'request answered by the HTTP front: uWS cannot parse it')
  }

  trimmed (dropped: number, fields: number): void {
    this.stats.fieldsTrimmed++
    this.stats.fieldsDropped += dropped
    if (dropped > 0) limited(this.#o.log).warn('front.fields_dropped', { listener: this.#o.what, fields, dropped }, 'request had more header fields than uWS parses; unread fields dropped')
  }
}

class FrontConnection {
  readonly #front: HttpFront
  readonly #client: Socket
  readonly #o: Required<Omit<FrontOptions, 'keepFields'>>
  readonly #keep: Set<string>
  #up: Socket | undefined
  /** Part of a request head that arrived without its end. */
  #carry: Buffer | undefined
  /** Body bytes of the current request still to pass on. */
  #bodyLeft = 0
  /** After this request's body the client has nothing more to send (HTTP/1.0). */
  #lastRequest = false
  #mode = MODE_INSPECT

  constructor (front: HttpFront, client: Socket, o: Required<Omit<FrontOptions, 'keepFields'>>, keep: Set<string>) {
    this.#front = front
    this.#client = client
    this.#o = o
    this.#keep = keep
    client.setNoDelay(true)
    client.setTimeout(o.idleTimeoutMs)
    client.on('data', chunk => {
      try {
        this.#onData(chunk)
      } catch (err) {
        // A bug here must cost one connection, never the process.
        limited(o.log).error('front.error', { listener: o.what, err }, 'HTTP front failed on a request; connection closed')
        this.#destroy()
      }
    })
    client.on('timeout', () => { this.#destroy() })
    client.on('error', () => { this.#destroy() })
    client.on('close', () => { this.#up?.destroy() })
    client.on('drain', () => { this.#up?.resume() })
    // The client is done sending. After an HTTP/1.0 request uWS closes once it has answered;
    // otherwise pass the half-close on, as a direct client's would reach uWS.
    client.on('end', () => {
      if (this.#mode === MODE_DONE) return
      if (this.#up === undefined) client.end()
      else this.#up.end()
    })
  }

  #destroy (): void {
    this.#client.destroy()
    this.#up?.destroy()
  }

  /** Ends the client's side once, then drops what it still sends for a while (LINGER_MS). */
  #linger (): void {
    if (this.#holdTimer !== undefined) clearTimeout(this.#holdTimer)
    this.#holdTimer = undefined
    this.#held = undefined
    if (this.#mode === MODE_DONE && this.#lingering) return
    this.#mode = MODE_DONE
    this.#lingering = true
    if (this.#client.destroyed) return
    this.#client.end()
    this.#client.resume() // it may be paused by back-pressure from the side that is gone
    setTimeout(() => { this.#client.destroy() }, LINGER_MS).unref()
  }

  #lingering = false
  /** Body bytes held back while uWS, having answered early, is expected to close. */
  #held: Buffer[] | undefined
  #holdTimer: NodeJS.Timeout | undefined

  #holdBody (): void {
    this.#held = []
    this.#holdTimer = setTimeout(() => {
      const held = this.#held ?? []
      this.#held = undefined
      this.#holdTimer = undefined
      for (const b of held) this.#forward(b)
      if (this.#mode !== MODE_DONE) this.#client.resume()
    }, HOLD_MS)
    this.#holdTimer.unref()
  }

  #onData (chunk: Buffer): void {
    if (this.#mode === MODE_PIPE) {
      this.#forward(chunk)
      return
    }
    if (this.#mode === MODE_DONE) return
    let data = chunk
    if (this.#carry !== undefined) {
      data = Buffer.concat([this.#carry, chunk])
      this.#carry = undefined
    }
    let pos = 0
    while (pos < data.length && this.#mode === MODE_INSPECT) {
      if (this.#bodyLeft > 0) {
        const n = Math.min(this.#bodyLeft, data.length - pos)
        this.#forward(pos === 0 && n === data.length ? data : data.subarray(pos, pos + n))
        this.#bodyLeft -= n
        pos += n
        if (this.#bodyLeft === 0 && this.#lastRequest) this.#mode = MODE_DONE
        continue
      }
      // RFC 9112 2.2: ignore empty lines before a request line (some clients send a CRLF after a body).
      if (data[pos] === 0x0d && data[pos + 1] === 0x0a) {
        pos += 2
        continue
      }
      if (data[pos] === 0x0a) {
        pos++
        continue
      }
      const headEnd = headEndOf(data, pos)
      if (headEnd === -1) {
        if (data.length - pos > this.#o.maxHeadBytes) {
          this.#answer(431, 'CT_ERR_HTTP_HEAD_TOO_LARGE', `the request head is longer than ${this.#o.maxHeadBytes} bytes`)
          return
        }
        if (data.length - pos > 0) this.#carry = data.subarray(pos)
        return
      }
      if (headEnd - pos > this.#o.maxHeadBytes) {
        this.#answer(431, 'CT_ERR_HTTP_HEAD_TOO_LARGE', `the request head is longer than ${this.#o.maxHeadBytes} bytes`)
        return
      }
      pos = this.#request(data, pos, headEnd)
    }
  }

  /** One complete request head at data[start, headEnd): passes it on (or answers it); returns where its body starts. */
  #request (data: Buffer, start: number, headEnd: number): number {
    // Fast path: a head uWS parses itself goes on untouched. One pass over its bytes checks
    // what uWS checks (a byte it refuses makes it wait, unanswered) and finds the framing
    // fields, with no string made: method SP "/"target SP "HTTP/1.1" CRLF, then name:value CRLF.
    let p = start
    while (TCHAR[data[p]] === 1) p++
    if (p === start || data[p] !== 0x20 || data[p + 1] !== 0x2f) return this.#rewrite(data, start, headEnd)
    p++
    while (data[p] > 0x20) p++
    if (p + 11 > headEnd || data.compare(HTTP11_CRLF, 0, 11, p, p + 11) !== 0) return this.#rewrite(data, start, headEnd)
    p += 11
    let fields = 0
    let hosts = 0
    let contentLength = -1
    let chunked = false
    const last = headEnd - 2
    while (p < last) {
      const nameStart = p
      while (TCHAR[data[p]] === 1) p++
      const nameLen = p - nameStart
      if (nameLen === 0 || data[p] !== 0x3a) return this.#rewrite(data, start, headEnd)
      p++
      const valueStart = p
      for (let b = data[p]; b >= 0x20 || b === 0x09; b = data[++p]);
      if (data[p] !== 0x0d || data[p + 1] !== 0x0a) return this.#rewrite(data, start, headEnd)
      fields++
      const c = data[nameStart] | 0x20
      if (nameLen === 4 && c === 0x68 && sameName(data, nameStart, NAME_HOST)) {
        hosts++
      } else if (nameLen === 14 && c === 0x63 && sameName(data, nameStart, NAME_CONTENT_LENGTH)) {
        const n = digits(data, valueStart, p)
        if (n < 0 || contentLength !== -1) return this.#rewrite(data, start, headEnd)
        contentLength = n
      } else if (nameLen === 17 && c === 0x74 && sameName(data, nameStart, NAME_TRANSFER_ENCODING)) {
        chunked = true
      }
      p += 2
    }
    if (p !== headEnd - 2 || data[p] !== 0x0d || data[p + 1] !== 0x0a) return this.#rewrite(data, start, headEnd)
    if (fields > UWS_MAX_FIELDS || hosts !== 1 || (chunked && contentLength !== -1)) return this.#rewrite(data, start, headEnd)
    this.#forward(data.subarray(start, headEnd))
    if (chunked) this.#toPipe(data, headEnd)
    else if (contentLength > 0) this.#bodyLeft = contentLength
    return headEnd
  }

  /** The slow path: a request uWS would not answer, rewritten into one it does (or answered here). */
  #rewrite (data: Buffer, start: number, headEnd: number): number {
    // Lines end at LF, a CR before it dropped; the head's last two "lines" are empty.
    const lines = data.toString('latin1', start, headEnd).split('\n')
    for (let i = 0; i < lines.length; i++) if (lines[i].endsWith('\r')) lines[i] = lines[i].slice(0, -1)
    const m = REQUEST_LINE.exec(lines[0])
    if (m === null) return this.#answer(400, 'CT_ERR_HTTP_BAD_REQUEST', 'the request line is not METHOD SP target SP HTTP/x.y')
    const [, method, rawTarget, major, minor] = m
    // 400, not 505: every listener answers a request it cannot take with a 4xx (issue 10), as
    // uWebSockets itself has done since 2026-08.
    if (major !== '1' || (minor !== '0' && minor !== '1')) return this.#answer(400, 'CT_ERR_HTTP_VERSION', `HTTP/${major}.${minor} is not supported; use HTTP/1.1 or HTTP/1.0`)
    const http10 = minor === '0'
    let target = rawTarget
    let targetHost: string | undefined
    if (target.charCodeAt(0) !== 0x2f) {
      // RFC 9112 3.2.2: in absolute form the target's authority is the Host.
      if (!ABSOLUTE_TARGET.test(target)) return this.#answer(400, 'CT_ERR_HTTP_BAD_REQUEST', 'the request target must be a path or an http(s) URL')
      let url: URL
      try { url = new URL(target) } catch { return this.#answer(400, 'CT_ERR_HTTP_BAD_REQUEST', 'the request target is not a valid URL') }
      targetHost = url.host
      target = `${url.pathname}${url.search}`
      this.#front.stats.absoluteForm++
    }
    const names: string[] = []
    const values: string[] = []
    let hosts = 0
    let contentLength = 0
    let chunked = false
    for (let i = 1; i < lines.length - 2; i++) {
      const line = lines[i]
      const colon = line.indexOf(':')
      const name = colon > 0 ? line.slice(0, colon).toLowerCase() : ''
      if (!FIELD_NAME.test(name)) return this.#answer(400, 'CT_ERR_HTTP_BAD_REQUEST', 'a header field line is not name:value')
      const value = line.slice(colon + 1).trim()
      if (!FIELD_VALUE.test(value)) return this.#answer(400, 'CT_ERR_HTTP_BAD_REQUEST', 'a header field value holds a control character')
      if (name === 'host') hosts++
      else if (name === 'content-length') {
        if (!CONTENT_LENGTH.test(value) || (contentLength !== 0 && Number(value) !== contentLength)) return this.#answer(400, 'CT_ERR_HTTP_BAD_REQUEST', 'Content-Length is not one number')
        contentLength = Number(value)
      } else if (name === 'transfer-encoding') chunked = true
      // HTTP/1.0 ends the exchange with the answer: its persistence fields go, ours is added below.
      if (http10 && (name === 'connection' || name === 'keep-alive' || name === 'proxy-connection')) continue
      if (targetHost !== undefined && name === 'host') continue
      names.push(name)
      values.push(value)
    }
    // RFC 9112 3.2: an HTTP/1.1 request without exactly one Host is answered 400.
    if (hosts > 1 || (hosts === 0 && !http10 && targetHost === undefined)) return this.#answer(400, 'CT_ERR_HTTP_BAD_REQUEST', 'the request must carry exactly one Host field')
    // RFC 9112 6.1: HTTP/1.0 with Transfer-Encoding has faulty framing.
    if (chunked && contentLength !== 0) return this.#answer(400, 'CT_ERR_HTTP_BAD_REQUEST', 'a request cannot carry both Transfer-Encoding and Content-Length')
    if (http10 && chunked) return this.#answer(400, 'CT_ERR_HTTP_BAD_REQUEST', 'HTTP/1.0 requests cannot use Transfer-Encoding')
    if (targetHost !== undefined) { names.push('host'); values.push(targetHost) } else if (hosts === 0) { names.push('host'); values.push('') }
    if (http10) { names.push('connection'); values.push('close'); this.#front.stats.http10++ }
    if (names.length > UWS_MAX_FIELDS) {
      const before = names.length
      mergeSameName(names, values)
      let dropped = 0
      for (let i = names.length - 1; i >= 0 && names.length > UWS_MAX_FIELDS; i--) {
        if (this.#keep.has(names[i])) continue
        names.splice(i, 1)
        values.splice(i, 1)
        dropped++
      }
      if (names.length > UWS_MAX_FIELDS) return this.#answer(431, 'CT_ERR_HTTP_TOO_MANY_FIELDS', `the request has more than ${UWS_MAX_FIELDS} header fields this server reads`)
      this.#front.trimmed(dropped, before)
    }
    let head = `${method} ${target} HTTP/1.1\r\n`
    for (let i = 0; i < names.length; i++) head += `${names[i]}: ${values[i]}\r\n`
    this.#forward(Buffer.from(`${head}\r\n`, 'latin1'))
    if (chunked) {
      this.#toPipe(data, headEnd)
      return data.length
    }
    this.#bodyLeft = contentLength
    if (http10) {
      this.#lastRequest = true
      if (contentLength === 0) this.#mode = MODE_DONE
    }
    return headEnd
  }

  /** Passes everything from `from` on, unexamined, for the rest of the connection. */
  #toPipe (data: Buffer, from: number): void {
    this.#mode = MODE_PIPE
    if (from < data.length) this.#forward(data.subarray(from))
  }

  #forward (bytes: Buffer): void {
    if (this.#held !== undefined) {
      this.#held.push(bytes)
      this.#client.pause()
      return
    }
    let up = this.#up
    if (up === undefined) {
      up = this.#connectUp()
      // The PROXY header and the first head go in one write: uWS expects them in one read.
      bytes = Buffer.concat([proxyHeader(this.#client), bytes])
    }
    if (!up.write(bytes)) this.#client.pause()
  }

  #connectUp (): Socket {
    const up = connect({ path: this.#front.nextUpstream(), allowHalfOpen: true })
    this.#up = up
    const client = this.#client
    up.setNoDelay(true)
    up.on('data', chunk => {
      // uWS answering while a request body is still coming in has refused it (413, 401):
      // it closes next, and a write of the rest would reset the socket before that answer
      // is read. Hold the body back; if uWS does not close soon (a pipelined answer), go on.
      if (this.#bodyLeft > 0 && this.#held === undefined) this.#holdBody()
      if (!client.write(chunk)) up.pause()
    })
    up.on('drain', () => { client.resume() })
    // uWS closed (after a `Connection: close` answer, on its idle timeout, or on an error):
    // the client gets everything written so far, then the end. Whatever it still sends (the
    // rest of a body uWS refused with 413) is read and dropped: closing on unread bytes makes
    // the kernel reset the connection, and the client would lose the answer (a lingering close).
    up.on('end', () => { this.#linger() })
    up.on('close', () => { this.#linger() })
    // uWS resets its side when it closes on unread bytes: same as a close for the client.
    up.on('error', () => { this.#linger() })
    return up
  }

  /** Answers the client here and ends the connection; returns "everything consumed". */
  #answer (status: number, code: string, message: string): number {
    this.#front.refused(code, status)
    this.#mode = MODE_DONE
    this.#carry = undefined
    const body = JSON.stringify({ error: { code, message } })
    const text = `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
    const up = this.#up
    if (up === undefined) {
      this.#client.end(text)
    } else {
      // Answers to earlier requests on this connection come first: let uWS finish, then ours.
      up.removeAllListeners('end')
      up.removeAllListeners('close')
      up.on('close', () => { if (!this.#client.destroyed) this.#client.end(text) })
      up.end()
    }
    return Number.MAX_SAFE_INTEGER
  }
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 431: 'Request Header Fields Too Large' }

/** Where the request head starting at `from` ends (after its empty line), or -1 if it has not ended yet. */
function headEndOf (data: Buffer, from: number): number {
  const a = data.indexOf(LF_CRLF, from)
  const b = data.indexOf(LF_LF, from)
  if (a === -1) return b === -1 ? -1 : b + 2
  return b === -1 || a < b ? a + 3 : b + 2
}

/** Is the field name at `p` (as long as `name`) `name`, ignoring case? */
function sameName (data: Buffer, p: number, name: Buffer): boolean {
  for (let i = 1; i < name.length; i++) {
    if ((data[p + i] | 0x20) !== name[i]) return false
  }
  return true
}

/** A Content-Length value (OWS, 1-15 digits, OWS) in data[from, to), or -1. */
function digits (data: Buffer, from: number, to: number): number {
  while (from < to && (data[from] === 0x20 || data[from] === 0x09)) from++
  while (to > from && (data[to - 1] === 0x20 || data[to - 1] === 0x09)) to--
  if (to === from || to - from > 15) return -1
  let n = 0
  for (let i = from; i < to; i++) {
    const d = data[i] - 0x30
    if (d < 0 || d > 9) return -1
    n = n * 10 + d
  }
  return n
}

/** RFC 9110 5.3: same-name fields are one field whose values are joined by commas (Cookie by "; "). */
function mergeSameName (names: string[], values: string[]): void {
  const first = new Map<string, number>()
  for (let i = 0; i < names.length;) {
    const at = first.get(names[i])
    if (at === undefined) {
      first.set(names[i], i)
      i++
      continue
    }
    values[at] += (names[i] === 'cookie' ? '; ' : ', ') + values[i]
    names.splice(i, 1)
    values.splice(i, 1)
  }
}

/** A PROXY protocol v2 header carrying the client's address (LOCAL when it is unknown). */
function proxyHeader (client: Socket): Buffer {
  let src = client.remoteAddress ?? ''
  let dst = client.localAddress ?? ''
  if (src.startsWith('::ffff:') && isIPv4(src.slice(7))) src = src.slice(7)
  if (dst.startsWith('::ffff:') && isIPv4(dst.slice(7))) dst = dst.slice(7)
  const v4 = isIPv4(src) && isIPv4(dst)
  const v6 = !v4 && isIPv6(src) && isIPv6(dst)
  const len = v4 ? 12 : v6 ? 36 : 0
  const h = Buffer.alloc(16 + len)
  PROXY_V2_SIGNATURE.copy(h, 0)
  h[12] = len === 0 ? 0x20 : 0x21 // version 2; LOCAL or PROXY
  h[13] = v4 ? 0x11 : v6 ? 0x21 : 0x00 // TCP over IPv4 / IPv6 / unspecified
  h.writeUInt16BE(len, 14)
  if (v4) {
    writeIPv4(h, 16, src)
    writeIPv4(h, 20, dst)
    h.writeUInt16BE(client.remotePort ?? 0, 24)
    h.writeUInt16BE(client.localPort ?? 0, 26)
  } else if (v6) {
    writeIPv6(h, 16, src)
    writeIPv6(h, 32, dst)
    h.writeUInt16BE(client.remotePort ?? 0, 48)
    h.writeUInt16BE(client.localPort ?? 0, 50)
  }
  return h
}

function writeIPv4 (h: Buffer, at: number, ip: string): void {
  const parts = ip.split('.')
  for (let i = 0; i < 4; i++) h[at + i] = Number(parts[i])
}

/** Writes a textual IPv6 address (compressed, with an embedded IPv4 or a zone) as 16 bytes. */
function writeIPv6 (h: Buffer, at: number, ip: string): void {
  const zone = ip.indexOf('%')
  if (zone !== -1) ip = ip.slice(0, zone)
  const groups: number[] = []
  const halves = ip.split('::')
  const parse = (s: string): number[] => {
    if (s === '') return []
    const out: number[] = []
    for (const g of s.split(':')) {
      if (g.includes('.')) {
        const b = g.split('.').map(Number)
        out.push((b[0] << 8) | b[1], (b[2] << 8) | b[3])
      } else {
        out.push(parseInt(g, 16))
      }
    }
    return out
  }
  const head = parse(halves[0])
  const tail = halves.length > 1 ? parse(halves[1]) : []
  groups.push(...head)
  for (let i = head.length + tail.length; i < 8; i++) groups.push(0)
  groups.push(...tail)
  for (let i = 0; i < 8; i++) h.writeUInt16BE(groups[i] ?? 0, at + i * 2)
}

/** Serves `app` through an {@link HttpFront} on host:port. */
export async function listenFronted (app: TemplatedApp, options: FrontOptions): Promise<Fronted> {
  const front = new HttpFront(options)
  try {
    const socket = await front.listen(app)
    return { socket, port: front.port, front }
  } catch (err) {
    front.close()
    throw err
  }
}
