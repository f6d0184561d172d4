// Periodic sampling during a measured window, and event-loop delay monitors.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'

/**
 * Calls `tick()` every `ms` (on a fixed schedule from now, so late ticks do not drift)
 * until the returned stop() is called; stop() resolves once the last tick is done.
 */
export function every (ms, tick) {
  const abort = new AbortController()
  const done = (async () => {
    let next = performance.now() + ms
    while (!abort.signal.aborted) {
      try {
        await sleep(Math.max(0, next - performance.now()), undefined, { signal: abort.signal })
      } catch {
        break // stopped
      }
      if (await tick() === false) break
      next += ms
    }
  })()
  return async () => { abort.abort(); await done.catch(() => {}) }
}

/**
 * perf_hooks.monitorEventLoopDelay with the timer's own interval taken out: read() gives
 * the delay beyond `resolutionMs` since the last read (max, p99, mean, count) and resets.
 */
export function loopDelay (resolutionMs = 10) {
  const h = monitorEventLoopDelay({ resolution: resolutionMs })
  h.enable()
  const beyond = (ns) => Math.max(0, ns / 1e6 - resolutionMs)
  return {
    resolutionMs,
    read () {
      const out = h.count > 0
        ? { eldMaxMs: beyond(h.max), eldP99Ms: beyond(h.percentile(99)), eldMeanMs: beyond(h.mean), eldCount: h.count }
        : { eldMaxMs: 0, eldP99Ms: 0, eldMeanMs: 0, eldCount: 0 }
      h.reset()
      return out
    },
    disable () { h.disable() }
  }
}
