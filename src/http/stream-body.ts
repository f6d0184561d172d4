import type { HttpResponse } from 'uWebSockets.js'

/** What a streamed response needs to know of its exchange: uWS forbids touching an aborted response. */
export interface StreamExchange {
  /** Set by the response's onAborted handler. */
  aborted: boolean
  /** Called by the onAborted handler: wakes a write waiting for the socket. */
  onAbort?: () => void
}

/**
 * The most handed to uWS per write: its 16 KiB cork buffer less room for the chunk framing.
 * A corked write larger than the cork buffer that meets backpressure corrupts the chunked
 * body (the client reads "Expected LF after chunk data"); slices that fit arrive intact
 * (measured, bench/micro/uws-chunked-write.mjs: 64 KiB and 16 KiB slices break through the
 * HTTP front, this size does not). Small slices also bound uWS's own buffer: it keeps what the
 * socket does not take of a write and appends later writes to it, and Linux reports a stream
 * socket writable only once a good part of its send buffer is free (far more than a slice),
 * so that buffer stays at about one slice whatever the size of the chunks the producer yields.
 */
export const STREAM_SLICE_BYTES = 16 * 1024 - 64

/**
 * Writes `first`, then every chunk `rest` yields, as a chunked body on `res` (its status and
 * headers already written), each write corked and sliced, waiting for uWS's writable event
 * whenever a write reports backpressure: the producer is asked for its next chunk only when the
 * socket has taken the previous one, so memory stays at one chunk however large the body.
 * Resolves 'aborted' as soon as the client has gone (the caller then closes `rest`), 'ended'
 * once the body is complete; rejects with what `rest` threw (the caller cuts the connection:
 * with the headers sent, an unfinished chunked body is the only way left to say it failed).
 */
export async function streamBody (res: HttpResponse, x: StreamExchange, first: string | Uint8Array, rest: AsyncIterator<string | Uint8Array>): Promise<'ended' | 'aborted'> {
  const socket = new Writable(res, x)
  let chunk: string | Uint8Array = first
  for (;;) {
    if (!await socket.write(chunk)) return 'aborted'
    const next = await rest.next()
    if (x.aborted) return 'aborted'
    if (next.done === true) break
    chunk = next.value
  }
  res.cork(() => { res.end() })
  return 'ended'
}

/**
 * Sliced, corked writes that wait out backpressure. uWS keeps the first onWritable handler a
 * response was given (a later onWritable does not replace it in v20.30, the build that loads
 * here; measured, bench/micro/uws-chunked-write.mjs), so one handler is registered, on the
 * first backpressure, and it wakes whichever write is waiting.
 */
class Writable {
  readonly #res: HttpResponse
  readonly #x: StreamExchange
  #wake: ((writable: boolean) => void) | undefined
  #registered = false

  constructor (res: HttpResponse, x: StreamExchange) {
    this.#res = res
    this.#x = x
  }

  /** Resolves false as soon as the client has gone. */
  async write (chunk: string | Uint8Array): Promise<boolean> {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    for (let off = 0; off < bytes.byteLength; off += STREAM_SLICE_BYTES) {
      if (this.#x.aborted) return false
      const slice = bytes.subarray(off, off + STREAM_SLICE_BYTES)
      let ok = true
      this.#res.cork(() => { ok = this.#res.write(slice) })
      if (!ok && !await this.#writable()) return false
    }
    return !this.#x.aborted
  }

  /** Resolves true on uWS's next writable event, false if the client goes away first. */
  async #writable (): Promise<boolean> {
    if (this.#x.aborted) return false
    if (!this.#registered) {
      this.#registered = true
      this.#res.onWritable(() => {
        const wake = this.#wake
        this.#wake = undefined
        wake?.(true)
        // Nothing is written from here: the waiting write, on its own turn, sends uWS's
        // buffer first. True: "no write failed" (none was tried).
        return true
      })
    }
    return await new Promise<boolean>(resolve => {
      this.#wake = resolve
      this.#x.onAbort = () => {
        this.#wake = undefined
        resolve(false)
      }
    })
  }
}
