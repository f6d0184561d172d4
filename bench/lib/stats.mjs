// Numbers of a run: medians, percentiles, summaries, trends.

/** Median of the finite values (mean of the middle two for an even count); NaN when none. */
export function median (xs) {
  const v = xs.filter(x => Number.isFinite(x)).sort((a, b) => a - b)
  if (v.length === 0) return NaN
  const m = v.length >> 1
  return v.length % 2 === 1 ? v[m] : (v[m - 1] + v[m]) / 2
}

/** Nearest-rank percentile (p 0–100) of a sorted array; Infinity may stand for "never arrived". */
export function percentile (sorted, p) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(sorted.length * p / 100) - 1))]
}

/** The value at index floor(q × n) of a sorted array (q 0–1): bench/ingest.mjs's quantile. */
export function quantileFloor (sorted, q) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

export const round = (x, d = 0) => Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x
export const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b > 0) ? a / b : NaN

/** n, min, p50, p90, max, mean (one decimal) of a list of numbers (ingest's insert latencies, batch sizes). */
export function summarize (xs) {
  const v = xs.slice().sort((a, b) => a - b)
  return { n: v.length, min: round(v[0], 1), p50: round(quantileFloor(v, 0.5), 1), p90: round(quantileFloor(v, 0.9), 1), max: round(v[v.length - 1], 1), mean: round(v.reduce((a, b) => a + b, 0) / v.length, 1) }
}

/** n, min, p50, p90, p99, max (nearest rank) and the mean of the finite values, one decimal. */
export function distribution (values) {
  const v = values.slice().sort((a, b) => a - b)
  const finite = v.filter(Number.isFinite)
  return {
    n: v.length,
    min: round(v[0], 1),
    p50: round(percentile(v, 50), 1),
    p90: round(percentile(v, 90), 1),
    p99: round(percentile(v, 99), 1),
    max: round(v[v.length - 1], 1),
    mean: finite.length ? round(finite.reduce((a, b) => a + b, 0) / finite.length, 1) : NaN
  }
}

/** Least-squares slope of [x, y] points; NaN under three points. */
export function slope (pts) {
  if (pts.length < 3) return NaN
  const n = pts.length
  const mx = pts.reduce((a, [x]) => a + x, 0) / n
  const my = pts.reduce((a, [, y]) => a + y, 0) / n
  let sxy = 0
  let sxx = 0
  for (const [x, y] of pts) { sxy += (x - mx) * (y - my); sxx += (x - mx) ** 2 }
  return sxx > 0 ? sxy / sxx : NaN
}

/** Numeric fields of b minus those of a (counters between two samples). */
export function diffStats (a, b) {
  const out = {}
  for (const [k, v] of Object.entries(b)) if (typeof v === 'number' && typeof a[k] === 'number') out[k] = v - a[k]
  return out
}
