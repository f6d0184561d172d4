import { randomBytes, timingSafeEqual, createHash } from 'node:crypto'
import { mkdirSync, openSync, readFileSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import type { HttpResponse, TemplatedApp, us_listen_socket } from 'uWebSockets.js'
import { closeApp, loadUws, readBody } from '../redirect/uws.js'
import { listenFronted, type HttpFront } from '../http/front.js'
import { silentLogger, type Logger } from '../log.js'
import { ClicktrailError } from '../errors.js'
import type { Store } from '../store/client.js'
import { MAX_SQL_BYTES, runReadOnlySql } from './sql.js'

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

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

/**
 * The admin listener (loopback by default, its own port): `POST /sql` runs one read-only
 * query against the configured ClickHouse — the embedded engine included, which no
 * other process can open while the server holds it. Bearer-token authenticated.
 */
export class AdminServer {
  readonly #app: TemplatedApp
  readonly #tokenDigest: Buffer
  #listen: us_listen_socket | undefined
  #front: HttpFront | undefined
  port = 0

  constructor (readonly store: Store, token: string) {
    this.#tokenDigest = digest(token)
    this.#app = loadUws().App()
    this.#app.post('/sql', (res, req) => {
      const auth = req.getHeader('authorization')
      const format = req.getQuery('format') ?? ''
      let aborted = false
      res.onAborted(() => { aborted = true })
      const reply = (status: string, body: string, type = 'text/plain; charset=utf-8'): void => {
        if (aborted) return
        res.cork(() => { res.writeStatus(status).writeHeader('Content-Type', type).writeHeader('Cache-Control', 'no-store').end(body) })
      }
      if (!this.#authorized(auth)) {
        reply('401 Unauthorized', errorJson('CT_ERR_UNAUTHORIZED', 'missing or bad admin token'), 'application/json')
        return
      }
      readBody(res, MAX_SQL_BYTES, body => {
        runReadOnlySql(this.store, body.toString('utf8'), format === '' ? undefined : format).then(
          text => { reply('200 OK', text) },
          (err: unknown) => {
            const e = err instanceof ClicktrailError ? err : new ClicktrailError('CT_ERR_INTERNAL', String(err))
            reply(`${e.status} Error`, errorJson(e.code, e.message), 'application/json')
          })
      }, () => { reply('413 Payload Too Large', errorJson('CT_ERR_SQL_REFUSED', `query is longer than ${MAX_SQL_BYTES} bytes`), 'application/json') })
    })
    this.#app.any('/*', res => { res.writeStatus('404 Not Found').end(errorJson('CT_ERR_NOT_FOUND', 'no such admin route')) })
  }

  #authorized (header: string): boolean {
    const m = /^Bearer\s+(\S+)$/.exec(header)
    return m !== null && timingSafeEqual(digest(m[1]), this.#tokenDigest)
  }

  async start (host: string, port: number, log: Logger = silentLogger): Promise<number> {
    // Through the HTTP front: uWS alone never answers HTTP/1.0 or more than 48 header fields.
    const bound = await listenFronted(this.#app, { host, port, what: 'admin listener', log, keepFields: ['authorization', 'content-type'] })
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

function errorJson (code: string, message: string): string {
  return JSON.stringify({ error: { code, message } })
}

export type { HttpResponse }
