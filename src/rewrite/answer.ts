import type { LinkRecord } from './html.js'
import { ClicktrailError } from '../errors.js'

/** A link as the API answer shows it: a link the route would track reads `tracking_disabled` when tracking is off. */
export function linkView (l: LinkRecord, enabled: boolean): Record<string, unknown> {
  if (l.tracked && !enabled) return { index: l.index, url: l.url, anchor_text: l.anchor_text, tracked: false, reason: 'tracking_disabled' }
  return { index: l.index, url: l.url, anchor_text: l.anchor_text, tracked: l.tracked, ...(l.reason === undefined ? {} : { reason: l.reason }), ...(l.code === undefined ? {} : { code: l.code }) }
}

/**
 * A JSON document assembled from already-serialised pieces, counted in UTF-8 bytes as it
 * grows and refused (CT_ERR_REWRITE_OUTPUT_TOO_LARGE) the moment it would pass `limit`:
 * nothing past the limit is ever built. `finish` writes the pieces once into a buffer of
 * its own (never Buffer's shared pool), so that the buffer can be transferred to another
 * thread without a copy.
 */
export class JsonPieces {
  readonly #pieces: Array<string | Uint8Array> = []
  #bytes = 0
  constructor (readonly limit: number) {}

  get bytes (): number { return this.#bytes }

  /** Appends serialised JSON text. */
  push (json: string): void {
    this.#add(Buffer.byteLength(json), json)
  }

  /** Appends serialised JSON already encoded as UTF-8 (a piece repeated for many recipients). */
  pushBytes (bytes: Uint8Array): void {
    this.#add(bytes.byteLength, bytes)
  }

  /** Refuses now when `more` bytes would pass the limit (a projection, before the work). */
  reserve (more: number): void {
    if (this.#bytes + more > this.limit) throw tooLarge(this.#bytes + more, this.limit)
  }

  #add (n: number, piece: string | Uint8Array): void {
    if (this.#bytes + n > this.limit) throw tooLarge(this.#bytes + n, this.limit)
    this.#bytes += n
    this.#pieces.push(piece)
  }

  finish (): Uint8Array {
    const out = Buffer.allocUnsafeSlow(this.#bytes) // its own ArrayBuffer, never the shared pool
    let at = 0
    for (const p of this.#pieces) {
      if (typeof p === 'string') at += out.write(p, at, 'utf8')
      else { out.set(p, at); at += p.byteLength }
    }
    this.#pieces.length = 0
    return at === out.byteLength ? out : out.subarray(0, at)
  }
}

function tooLarge (bytes: number, limit: number): ClicktrailError {
  return ClicktrailError.detailed('CT_ERR_REWRITE_OUTPUT_TOO_LARGE', `at least ${bytes} bytes, more than the limit of ${limit}; send fewer recipients per request`)
}
