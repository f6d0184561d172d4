import type { Observation } from '../records.js'

/**
 * Fixed-capacity ring of observations between the redirect handler (one producer) and
 * the hand-off timer (one consumer), both on the event loop thread. The capacity is a
 * power of two so a slot is `index & mask`. When full, `push` refuses and counts: a
 * redirect never waits for ingest.
 */
export class ObservationRing {
  readonly capacity: number
  readonly #mask: number
  readonly #slots: Array<Observation | undefined>
  #head = 0 // next slot to read
  #tail = 0 // next slot to write
  dropped = 0
  pushed = 0

  constructor (capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 2 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`ring capacity must be a power of two ≥ 2, got ${capacity}`)
    }
    this.capacity = capacity
    this.#mask = capacity - 1
    this.#slots = new Array(capacity).fill(undefined)
  }

  get size (): number { return this.#tail - this.#head }

  push (o: Observation): boolean {
    if (this.#tail - this.#head === this.capacity) {
      this.dropped++
      return false
    }
    this.#slots[this.#tail & this.#mask] = o
    this.#tail++
    this.pushed++
    return true
  }

  /** Removes and returns up to `max` observations, oldest first. */
  drain (max = this.capacity): Observation[] {
    const n = Math.min(max, this.#tail - this.#head)
    const out = new Array<Observation>(n)
    for (let i = 0; i < n; i++) {
      const slot = this.#head & this.#mask
      out[i] = this.#slots[slot] as Observation
      this.#slots[slot] = undefined
      this.#head++
    }
    return out
  }
}
