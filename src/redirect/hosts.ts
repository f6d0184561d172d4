import { hostnameOf, sidOfTrackingHost, trackingSuffix } from '../token/tracked-url.js'

/** What the redirect path needs to know about the project a Host belongs to. */
export interface ProjectRoute {
  sid: string
  /** Clicks later than sent time + this are still redirected but flagged expired. */
  tokenTtlSeconds: number
  /** Days the project keeps click data (stored with each observation, read by the TTL). */
  retentionDays: number
  /**
   * The scheme this host's tracked links use, as configured: the tracking base URL's for
   * `p{sid}.{tracking host}`; '' for custom domains, whose links may be either (a CNAME
   * with or without TLS in front). The redirect path reports it when a trusted proxy did
   * not say (X-Forwarded-Proto).
   */
  scheme: TrackingScheme
}

export type TrackingScheme = 'https' | 'http' | ''

/** The scheme of a tracking base URL ('https:' → 'https'); anything else is http. */
export function schemeOf (trackingBaseUrl: string): TrackingScheme {
  return new URL(trackingBaseUrl).protocol === 'https:' ? 'https' : 'http'
}

/** Retention when no project settings are known (matches the control plane's default). */
export const STATIC_RETENTION_DAYS = 400

/** Maps a request's Host header to its project; undefined = not a tracking host of ours. */
export interface HostResolver {
  resolve (host: string): ProjectRoute | undefined
}

/**
 * Host header value → route, memoised: the redirect path asks for the same few hosts again
 * and again. Bounded (cleared when full) because Host is attacker-controlled; `clear()` when
 * what the lookup reads has changed.
 */
export class HostMemo {
  readonly #memo = new Map<string, ProjectRoute | null>()
  constructor (readonly lookup: (hostname: string) => ProjectRoute | null, readonly max = 4096) {}

  resolve (host: string): ProjectRoute | undefined {
    let route = this.#memo.get(host)
    if (route === undefined) {
      route = this.lookup(hostnameOf(host))
      if (this.#memo.size >= this.max) this.#memo.clear()
      this.#memo.set(host, route)
    }
    return route ?? undefined
  }

  clear (): void { this.#memo.clear() }
}

/**
 * Resolves `p{sid}.{tracking host}` and custom domains given on the command line, without
 * a project table: any well-formed sid is accepted here, and the token's own sid must
 * then match it (so a token of A on B's host is refused). The port is ignored, as the
 * public port (behind a load balancer) need not be the one we listen on.
 */
export class StaticHostResolver implements HostResolver {
  readonly #suffix: string
  readonly #domains: Map<string, string>
  readonly #ttl: number
  readonly #memo: HostMemo
  readonly #scheme: TrackingScheme

  constructor (trackingBaseUrl: string, domains: Map<string, string>, tokenTtlSeconds: number, memoMax = 4096) {
    this.#suffix = trackingSuffix(trackingBaseUrl)
    this.#scheme = schemeOf(trackingBaseUrl)
    this.#domains = domains
    this.#ttl = tokenTtlSeconds
    this.#memo = new HostMemo(name => this.#lookup(name), memoMax)
  }

  resolve (host: string): ProjectRoute | undefined { return this.#memo.resolve(host) }

  #lookup (name: string): ProjectRoute | null {
    const custom = this.#domains.get(name)
    if (custom !== undefined) return { sid: custom, tokenTtlSeconds: this.#ttl, retentionDays: STATIC_RETENTION_DAYS, scheme: '' }
    const sid = sidOfTrackingHost(name, this.#suffix)
    if (sid !== undefined) return { sid, tokenTtlSeconds: this.#ttl, retentionDays: STATIC_RETENTION_DAYS, scheme: this.#scheme }
    return null
  }
}
