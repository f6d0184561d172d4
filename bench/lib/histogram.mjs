// Latency histogram with 1 µs buckets up to 100 ms (exact values kept above that).
// autocannon's own histogram stores whole milliseconds, too coarse for a server that
// answers in tens of microseconds, so the bench records response times itself.
const BUCKETS = 100_000

export class LatencyHistogram {
  constructor () {
    this.counts = new Uint32Array(BUCKETS)
    this.over = []
    this.n = 0
    this.sum = 0
    this.max = 0
  }

  /** Records one latency in microseconds. */
  record (us) {
    if (!(us >= 0)) us = 0
    this.n++
    this.sum += us
    if (us > this.max) this.max = us
    const b = Math.floor(us)
    if (b < BUCKETS) this.counts[b]++
    else this.over.push(us)
  }

  /** Value (µs) at percentile p (0–100): the upper edge of the bucket that holds it. */
  percentile (p) {
    if (this.n === 0) return NaN
    const rank = Math.max(1, Math.ceil(this.n * p / 100))
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]
      if (seen >= rank) return i + 1
    }
    const rest = this.over.slice().sort((a, b) => a - b)
    return rest[Math.min(rest.length - 1, rank - seen - 1)]
  }

  summary () {
    return {
      count: this.n,
      mean_us: this.n === 0 ? NaN : this.sum / this.n,
      p50_us: this.percentile(50),
      p90_us: this.percentile(90),
      p99_us: this.percentile(99),
      p999_us: this.percentile(99.9),
      max_us: this.max
    }
  }
}
