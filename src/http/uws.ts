import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { ClicktrailError } from '../errors.js'
import type * as Uws from 'uWebSockets.js'

export type UwsModule = typeof Uws

let loaded: UwsModule | undefined

/**
 * Loads uWebSockets.js and makes sure its native binding is the one in use.
 *
 * The package we install (see DESIGN.md: an npm alias of a build whose binaries load on
 * glibc 2.36) quietly falls back to a pure-JS server when its `.node` file does not load,
 * with a console warning and a tenth of the throughput. Serving on that would break every
 * promise the redirect path makes, so we refuse: only the native module exports SSLApp
 * and the native helpers below.
 */
export function loadUws (): UwsModule {
  if (loaded !== undefined) return loaded
  const fallbackFlag = process.env.UWS_USE_FALLBACK
  if (fallbackFlag !== undefined && /^(1|true)$/i.test(fallbackFlag)) {
    throw new ClicktrailError('CT_ERR_UWS_NATIVE', 'UWS_USE_FALLBACK is set: clicktrail only runs on the native uWebSockets.js binding; unset it')
  }
  const require = createRequire(import.meta.url)
  const originalWarn = console.warn
  const warnings: string[] = []
  // The package reports a failed native load through console.warn; capture it for our error.
  console.warn = (...args: unknown[]) => { warnings.push(args.map(String).join(' ')) }
  let uws: Record<string, unknown>
  try {
    uws = require('uWebSockets.js') as Record<string, unknown>
  } finally {
    console.warn = originalWarn
  }
  if (typeof uws.SSLApp !== 'function' || typeof uws.getParts !== 'function') {
    const why = warnings.join(' ').replace(/\s+/g, ' ').trim()
    throw new ClicktrailError('CT_ERR_UWS_NATIVE',
      `the native uWebSockets.js binding did not load for ${process.platform}-${process.arch} (Node ABI ${process.versions.modules})` +
      (why === '' ? '' : `: ${why}`) + '; reinstall with `npm ci` on a supported platform')
  }
  loaded = uws as unknown as UwsModule
  return loaded
}

export interface ListenOptions {
  /**
   * Check first that no other socket holds host:port (default true). uWS binds with
   * SO_REUSEPORT, so without this check a second server on a port already in use
   * silently shares it and the kernel splits connections between the two. Pass false
   * only for a socket of this process that is meant to share a port already probed
   * with `probePort` (several redirect threads on one port).
   */
  probe?: boolean
}

/**
 * A port free on `host` now, for sockets that must share one port: uWS binds port 0 with
 * SO_REUSEPORT, yet a second bind to the port the kernel picked is refused, so threads that
 * share a port are given a fixed one.
 */
export async function freePort (host: string): Promise<number> {
  const probe = createServer()
  return await new Promise<number>((resolve, reject) => {
    probe.once('error', reject)
    probe.listen({ host, port: 0, exclusive: true }, () => {
      const port = (probe.address() as { port: number }).port
      probe.close(() => { resolve(port) })
    })
  })
}

/** Binds `app` on a Unix socket (behind an HTTP front). */
export async function listenUnix (app: Uws.TemplatedApp, path: string, what: string): Promise<Uws.us_listen_socket> {
  const socket = await new Promise<Uws.us_listen_socket | false>(resolve => { app.listen_unix(resolve, path) })
  if (socket === false) throw new ClicktrailError('CT_ERR_LISTEN', `${what} cannot listen on its private socket ${path}`)
  return socket
}

/** Binds `app` on host:port; resolves with its socket and the bound port (port 0 = any free one). */
export async function listenOn (app: Uws.TemplatedApp, host: string, port: number, what: string, options: ListenOptions = {}): Promise<{ socket: Uws.us_listen_socket, port: number }> {
  const uws = loadUws()
  if (options.probe !== false) await probePort(host, port, what)
  const socket = await new Promise<Uws.us_listen_socket | false>(resolve => { app.listen(host, port, resolve) })
  if (socket === false) throw new ClicktrailError('CT_ERR_LISTEN', `${what} cannot listen on ${hostPort(host, port)} (in use or not permitted)`)
  return { socket, port: uws.us_socket_local_port(socket as never) }
}

/**
 * Throws CT_ERR_LISTEN when another socket holds host:port. The probe is a node:net bind
 * without SO_REUSEPORT (Node 20 never sets it; libuv sets only SO_REUSEADDR, which
 * does not let a bind share a port some socket listens on): Linux refuses it with
 * EADDRINUSE while any socket, reuse-port or not, listens on that port (on that address
 * or the wildcard), and the probe is closed again before uWS binds. Port 0 needs no
 * probe: the kernel picks a free one. What remains is a window of a millisecond between
 * the probe's close and uWS's bind, in which another process would have to take the port.
 */
export async function probePort (host: string, port: number, what: string): Promise<void> {
  if (port === 0) return
  const probe = createServer()
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject)
      probe.listen({ host, port, exclusive: true }, () => { resolve() })
    })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    const why = code === 'EADDRINUSE'
      ? 'another process is listening on it (stop it, or choose another port)'
      : `${code ?? 'error'}: ${(err as Error).message}`
    throw new ClicktrailError('CT_ERR_LISTEN', `${what} cannot listen on ${hostPort(host, port)}: ${why}`)
  } finally {
    await new Promise<void>(resolve => { probe.close(() => { resolve() }) })
  }
}

function hostPort (host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** Stops listening and closes the app's open connections, so the process can exit. */
export function closeApp (app: Uws.TemplatedApp, socket: Uws.us_listen_socket | undefined): void {
  if (socket !== undefined) loadUws().us_listen_socket_close(socket)
  ;(app as unknown as { close?: () => void }).close?.()
}

/**
 * Reads a request body of at most `limit` bytes: `onBody` gets it whole; past the limit
 * `onTooLarge` is called once and the rest is ignored. uWS hands chunks that are only valid
 * during the callback, so each is copied.
 */
/** Bytes past a body limit still read (and dropped) so that the 413 reaches the client. */
const DRAIN_CAP = 16 * 1024 * 1024

export function readBody (res: Uws.HttpResponse, limit: number, onBody: (body: Buffer) => void, onTooLarge: () => void): void {
  const chunks: Buffer[] = []
  let size = 0
  let done = false
  res.onData((chunk, isLast) => {
    if (done) return
    size += chunk.byteLength
    if (size > limit) {
      // Answer once the client has sent its body (up to a cap): answering mid-body makes uWS
      // close on unread bytes, the client's kernel then resets the connection, and the
      // client may never read the 413. Past the cap, answer at once (an abusive upload).
      chunks.length = 0
      if (!isLast && size <= limit + DRAIN_CAP) return
      done = true
      onTooLarge()
      return
    }
    chunks.push(Buffer.from(chunk.slice(0)))
    if (!isLast) return
    done = true
    onBody(Buffer.concat(chunks, size))
  })
}
