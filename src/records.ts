/**
 * One captured request on `/c/{token}` whose token verified. Everything classification
 * needs later is read here, at the top of the handler, because uWS request objects are
 * only valid until the handler returns.
 *
 * Header fields hold '' when the header was absent (uWS reports absent headers so);
 * classification treats '' as missing.
 */
export interface Observation {
  /** When the request arrived, unix milliseconds. */
  ts: number
  /** Set by ingest (UUID v4): names the observation in ClickHouse and in promotion. */
  id?: string
  sid: string
  messageId: string
  linkIndex: number
  /** Unix seconds. */
  sentAt: number
  url: string
  kid: number
  /** Sent time + the project's token TTL had passed: redirected, but not to be recorded. */
  expired: boolean
  /** The operator blocked the destination or the project: answered with a warning page, not redirected; kept, marked, never promoted. */
  blocked?: boolean
  /** The project's click data retention, in days, when the click happened. */
  retentionDays: number
  method: 'GET' | 'HEAD'
  host: string
  /** The client: the first X-Forwarded-For hop when the peer is a trusted proxy, else the peer. */
  ip: string
  /** The TCP peer address. */
  peerIp: string
  userAgent: string
  accept: string
  acceptLanguage: string
  acceptEncoding: string
  secFetchSite: string
  secFetchMode: string
  secFetchDest: string
  secFetchUser: string
  secChUa: string
  secChUaMobile: string
  secChUaPlatform: string
  secPurpose: string
  purpose: string
  xMoz: string
  referer: string
  via: string
  dnt: string
  upgradeInsecureRequests: string
}

/** Where the redirect server hands observations, in batches, off the request path. */
export interface ObservationSink {
  /** Takes ownership of `batch`. Must not throw; must not block for long. */
  write (batch: Observation[]): void
  /** Flushes what it can; called once on shutdown after the last write. */
  close (): Promise<void>
}

/** A sink that keeps everything in memory: for tests and for `serve` without storage. */
export class MemorySink implements ObservationSink {
  readonly observations: Observation[] = []
  batches = 0
  closed = false
  write (batch: Observation[]): void {
    this.batches++
    for (const o of batch) this.observations.push(o)
  }

  async close (): Promise<void> { this.closed = true }
}

/** Counts and forgets: what `serve` uses until storage is configured. */
export class CountingSink implements ObservationSink {
  count = 0
  write (batch: Observation[]): void { this.count += batch.length }
  async close (): Promise<void> {}
}
