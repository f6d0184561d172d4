/**
 * Token buckets by key (one per webhook): `burst` requests at once, then `perMinute`.
 * Bounded: a key whose bucket is full again carries no state and is forgotten, and past
 * `maxKeys` the full buckets are dropped first (then the oldest); a dropped key starts
 * with a full bucket, which is what it would have had anyway.
 */
export class RateLimiter {
  readonly #perMs: number
  readonly #burst: number
  readonly #maxKeys: number
  readonly #now: () => number
  readonly #buckets = new Map<string, { tokens: number, at: number }>()

  constructor (perMinute: number, burst: number, maxKeys = 100_000, now: () => number = Date.now) {
    if (!(perMinute > 0) || !(burst >= 1)) throw new RangeError('rate limiter needs perMinute > 0 and burst ≥ 1')
    this.#perMs = perMinute / 60_000
    this.#burst = burst
    this.#maxKeys = maxKeys
    this.#now = now
  }

  /** Takes a token for `key`: 0 when allowed, else the ms until one is available. */
  take (key: string): number {
    const now = this.#now()
    let b = this.#buckets.get(key)
    if (b === undefined) {
      if (this.#buckets.size >= this.#maxKeys) this.#prune(now)
      b = { tokens: this.#burst, at: now }
      this.#buckets.set(key, b)
    }
    b.tokens = Math.min(this.#burst, b.tokens + (now - b.at) * this.#perMs)
    b.at = now
    if (b.tokens >= 1) {
      b.tokens -= 1
      return 0
    }
    return Math.ceil((1 - b.tokens) / this.#perMs)
  }

  /** Gives back a token taken for work that then did not happen. */
  refund (key: string): void {
    const b = this.#buckets.get(key)
    if (b !== undefined) b.tokens = Math.min(this.#burst, b.tokens + 1)
  }

  get size (): number { return this.#buckets.size }

  #prune (now: number): void {
    for (const [key, b] of this.#buckets) {
      if (b.tokens + (now - b.at) * this.#perMs >= this.#burst) this.#buckets.delete(key)
    }
    // all buckets busy: the oldest go (Map order is insertion order)
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size < this.#maxKeys) break
      this.#buckets.delete(key)
    }
  }
}
