import { performance } from 'node:perf_hooks'
import { counter, gauge, histogram, Histogram, type Metric } from './metrics.js'

/** How often the main thread's event loop is probed (ms). */
const PROBE_MS = 20
/** A task that holds the loop longer than this is a stall (the "no task over 50 ms"). */
export const STALL_MS = 50

/**
 * How long the main thread's event loop was held: a timer every PROBE_MS notes how late it
 * fired, which is how long the task before it ran (or the process waited for a core). The
 * main thread runs the Team API, admin, webhooks and the hand-off of the redirect threads'
 * observations, so a long task there delays them all. /metrics: a histogram of the delays,
 * their maximum since start and the number of stalls (delays over STALL_MS). 50 wake-ups a
 * second cost nothing measurable.
 */
export class LoopDelay {
  readonly #h = new Histogram([0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5])
  #timer: NodeJS.Timeout | undefined
  #last = 0
  #max = 0
  #stalls = 0
  /** Largest delay since the last `takeMax` (ms). */
  #window = 0

  metrics (): Metric[] {
    return [
      histogram('clicktrail_event_loop_delay_seconds', `how late the main thread's event loop ran a ${PROBE_MS} ms timer (the task before it held it that long)`, this.#h),
      gauge('clicktrail_event_loop_delay_max_seconds', 'longest delay of the main thread\'s event loop since start', this.#max / 1000),
      counter('clicktrail_event_loop_stalls_total', `main-thread event loop delays over ${STALL_MS} ms`, this.#stalls)
    ]
  }

  start (): void {
    if (this.#timer !== undefined) return
    this.#last = performance.now()
    this.#timer = setInterval(() => { this.#probe() }, PROBE_MS)
    this.#timer.unref()
  }

  stop (): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
  }

  /** Longest delay since start (ms). */
  get maxMs (): number { return this.#max }
  get stalls (): number { return this.#stalls }

  /** Longest delay since the last call (ms); for benchmarks that sample the engine. */
  takeMax (): number {
    const m = this.#window
    this.#window = 0
    return m
  }

  #probe (): void {
    const now = performance.now()
    const late = Math.max(0, now - this.#last - PROBE_MS)
    this.#last = now
    this.#h.observe(late / 1000)
    if (late > this.#max) this.#max = late
    if (late > this.#window) this.#window = late
    if (late > STALL_MS) this.#stalls++
  }
}
