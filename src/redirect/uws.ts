import { createRequire } from 'node:module'
import { ListenError, NativeBindingError } from '../errors.js'
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
    throw new NativeBindingError('UWS_USE_FALLBACK is set: clicktrail only runs on the native uWebSockets.js binding; unset it')
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
    throw new NativeBindingError(
      `the native uWebSockets.js binding did not load for ${process.platform}-${process.arch} (Node ABI ${process.versions.modules})` +
      (why === '' ? '' : `: ${why}`) + '; reinstall with `npm ci` on a supported platform')
  }
  loaded = uws as unknown as UwsModule
  return loaded
}

/** Binds `app` on host:port; resolves with its socket and the bound port (port 0 = any free one). */
export async function listenOn (app: Uws.TemplatedApp, host: string, port: number, what: string): Promise<{ socket: Uws.us_listen_socket, port: number }> {
  const uws = loadUws()
  const socket = await new Promise<Uws.us_listen_socket | false>(resolve => { app.listen(host, port, resolve) })
  if (socket === false) throw new ListenError(`${what} cannot listen on ${host}:${port} (in use or not permitted)`)
  return { socket, port: uws.us_socket_local_port(socket as never) }
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
export function readBody (res: Uws.HttpResponse, limit: number, onBody: (body: Buffer) => void, onTooLarge: () => void): void {
  const chunks: Buffer[] = []
  let size = 0
  let done = false
  res.onData((chunk, isLast) => {
    if (done) return
    size += chunk.byteLength
    if (size > limit) {
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
