/*
 * Calendar arithmetic in an IANA time zone, from Intl alone (no tz database of our own):
 * local midnights and hours as UTC instants, so the zero-filled points of a series start
 * exactly where ClickHouse's toStartOfDay(ts, tz) / toStartOfHour(ts, tz) put their buckets.
 */

const HOUR = 3_600_000
const DAY = 86_400_000

/**
 * A zone both sides know: ClickHouse (`zones`, its system.time_zones, which buckets the
 * rows) and Intl (which cuts the zero-filled points). Names are exact: Intl would take
 * `europe/amsterdam`, ClickHouse would not.
 */
export function isTimezone (tz: string, zones: ReadonlySet<string>): boolean {
  if (!zones.has(tz)) return false
  try {
    formatter(tz)
    return true
  } catch {
    return false
  }
}

// One formatter per zone: bounded by ClickHouse's zone list (only names on it get here).
const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter (tz: string): Intl.DateTimeFormat {
  let f = formatters.get(tz)
  if (f === undefined) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })
    formatters.set(tz, f)
  }
  return f
}

export interface LocalParts { year: number, month: number, day: number, hour: number, minute: number, second: number }

/** The wall-clock time of instant `t` (ms) in `tz`. */
export function localParts (tz: string, t: number): LocalParts {
  const p: Record<string, number> = {}
  for (const part of formatter(tz).formatToParts(t)) if (part.type !== 'literal') p[part.type] = Number(part.value)
  return { year: p.year, month: p.month, day: p.day, hour: p.hour, minute: p.minute, second: p.second }
}

/** How far `tz` is ahead of UTC at instant `t`, in ms. */
export function offsetMs (tz: string, t: number): number {
  const s = t - mod(t, 1000)
  const p = localParts(tz, s)
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - s
}

/** The instant of local wall-clock time y-m-d h:00 in `tz` (month 1-based; overflow rolls over, as Date.UTC). */
export function localToUtc (tz: string, year: number, month: number, day: number, hour = 0): number {
  const guess = Date.UTC(year, month - 1, day, hour)
  const off = offsetMs(tz, guess - offsetMs(tz, guess))
  return guess - off
}

/** The start of the local day or hour that holds `t`. */
export function floorLocal (tz: string, unit: 'day' | 'hour', t: number): number {
  if (unit === 'hour') {
    // By the offset at t: in the repeated hour of a DST fall-back each copy is its own hour.
    const off = offsetMs(tz, t)
    const local = t + off
    return local - mod(local, HOUR) - off
  }
  const p = localParts(tz, t)
  return localToUtc(tz, p.year, p.month, p.day)
}

/** The start of the local day or hour after the one that starts at `start`. */
export function nextLocal (tz: string, unit: 'day' | 'hour', start: number): number {
  if (unit === 'hour') return floorLocal(tz, 'hour', start + HOUR)
  const p = localParts(tz, start + DAY / 2)
  return localToUtc(tz, p.year, p.month, p.day + 1)
}

/** Local midnight of a calendar date `YYYY-MM-DD` plus `days`. */
export function dateStart (tz: string, date: string, days = 0): number {
  const [y, m, d] = date.split('-').map(Number)
  return localToUtc(tz, y, m, d + days)
}

/** The local calendar date (YYYY-MM-DD) of instant `t`. */
export function localDate (tz: string, t: number): string {
  const p = localParts(tz, t)
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`
}

/** Whether every hour boundary in `tz` is a UTC hour boundary over [from, to) (whole-hour offsets). */
export function wholeHourOffsets (tz: string, from: number, to: number): boolean {
  if (mod(offsetMs(tz, from), HOUR) !== 0 || mod(offsetMs(tz, to), HOUR) !== 0) return false
  // A zone whose offset changes inside the range by a non-hour step (Lord Howe's 30-minute
  // DST) is caught at the sampled days; the sample is daily, enough for offset rules.
  for (let t = from; t < to; t += DAY) if (mod(offsetMs(tz, t), HOUR) !== 0) return false
  return true
}

const pad = (n: number): string => String(n).padStart(2, '0')
const mod = (a: number, b: number): number => ((a % b) + b) % b
