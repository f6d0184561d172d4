import type { Logger } from './log.js'

type Level = 'warn' | 'error' | 'info'

interface Kind {
  level: Level
  msg: string
  /** Events since the line that was logged, not logged themselves. */
  suppressed: number
  /** The fields of the last suppressed event (a sample for the summary line). */
  last: Record<string, unknown> | undefined
  windowEnd: number
}

/** Kinds tracked at once at most; past it new kinds share one 'other' entry (kinds may carry ids). */
const MAX_KINDS = 1000
export const DEFAULT_LOG_INTERVAL_MS = 10_000

/**
 * Rate-limited logging for events that can come in floods (sheds, quarantines, refusals,
 * failing webhooks): the first event of a kind is logged at once; later ones within the
 * interval are only counted, and one summary line per kind says how many there were
 * (`count`) with the fields of the last one. The logs tell the story without flooding.
 */
export class LogLimiter {
  readonly #log: Logger
  readonly #intervalMs: number
  readonly #kinds = new Map<string, Kind>()
  #timer: NodeJS.Timeout | undefined
  /** Events seen, logged or not, by kind: for tests and diagnostics. */
  readonly seen = new Map<string, number>()

  constructor (log: Logger, intervalMs = DEFAULT_LOG_INTERVAL_MS) {
    this.#log = log
    this.#intervalMs = intervalMs
  }

  /** `n`: how many events this call stands for (a counter's growth since the last look). */
  warn (kind: string, fields: Record<string, unknown>, msg: string, n = 1): void { this.#event('warn', kind, fields, msg, n) }
  error (kind: string, fields: Record<string, unknown>, msg: string, n = 1): void { this.#event('error', kind, fields, msg, n) }
  info (kind: string, fields: Record<string, unknown>, msg: string, n = 1): void { this.#event('info', kind, fields, msg, n) }

  #event (level: Level, kind: string, fields: Record<string, unknown>, msg: string, n: number): void {
    const now = Date.now()
    let key = kind
    if (!this.#kinds.has(key) && this.#kinds.size >= MAX_KINDS) key = 'other'
    this.seen.set(key, (this.seen.get(key) ?? 0) + n)
    if (this.seen.size > MAX_KINDS * 2) this.seen.clear()
    const k = this.#kinds.get(key)
    if (k !== undefined && now < k.windowEnd) {
      k.suppressed += n
      k.last = fields
      return
    }
    if (k !== undefined && k.suppressed > 0) this.#summary(key, k)
    this.#kinds.set(key, { level, msg, suppressed: 0, last: undefined, windowEnd: now + this.#intervalMs })
    if (this.#log.isLevelEnabled(level)) this.#log[level]({ kind: key, ...fields, ...(n === 1 ? {} : { count: n }) }, msg)
    this.#arm()
  }

  #summary (key: string, k: Kind): void {
    if (this.#log.isLevelEnabled(k.level)) {
      this.#log[k.level]({ kind: key, ...k.last, count: k.suppressed, intervalMs: this.#intervalMs }, `${k.msg} (${k.suppressed} more in the last ${Math.round(this.#intervalMs / 1000)} s)`)
    }
    k.suppressed = 0
    k.last = undefined
  }

  #arm (): void {
    if (this.#timer !== undefined) return
    this.#timer = setInterval(() => { this.flush() }, this.#intervalMs)
    this.#timer.unref()
  }

  /** Writes the summary of every kind whose window has ended (the timer calls this); `all` ends every window now. */
  flush (all = false): void {
    const now = Date.now()
    for (const [key, k] of this.#kinds) {
      if (!all && now < k.windowEnd) continue
      if (k.suppressed > 0) this.#summary(key, k)
      this.#kinds.delete(key)
    }
    if (this.#kinds.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer)
      this.#timer = undefined
    }
  }
}

const limiters = new WeakMap<Logger, LogLimiter>()

/** The one LogLimiter of a logger: every component logging floods through `log` shares it. */
export function limited (log: Logger): LogLimiter {
  let l = limiters.get(log)
  if (l === undefined) {
    l = new LogLimiter(log)
    limiters.set(log, l)
  }
  return l
}
