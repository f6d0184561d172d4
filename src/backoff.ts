/**
 * Exponential back-off with jitter for every retry loop: the first failure waits `minMs`,
 * each further one doubles the wait up to `maxMs`; the wait actually used is drawn from
 * [wait/2, wait] ("equal jitter"), so many nodes retrying a recovering server do not move
 * in lock-step. `ready()` says whether the next attempt may start.
 */
export class Backoff {
  readonly minMs: number
  readonly maxMs: number
  #nextMs: number
  #until = 0
  /** Failures since the last success. */
  failures = 0

  constructor (minMs: number, maxMs: number) {
    this.minMs = minMs
    this.maxMs = Math.max(minMs, maxMs)
    this.#nextMs = minMs
  }

  /** Records a failure; returns the wait (ms) before the next attempt. */
  fail (now = Date.now()): number {
    this.failures++
    const wait = Math.min(this.maxMs, this.#nextMs)
    const jittered = wait / 2 + Math.random() * wait / 2
    this.#until = now + jittered
    this.#nextMs = Math.min(this.maxMs, this.#nextMs * 2)
    return jittered
  }

  /** Records a success: the next failure waits minMs again. */
  reset (): void {
    this.failures = 0
    this.#nextMs = this.minMs
    this.#until = 0
  }

  ready (now = Date.now()): boolean { return now >= this.#until }

  /** When the next attempt may start (unix ms; 0 when now). */
  get until (): number { return this.#until }
}
