/** What the redirect path needs to know about the project a Host belongs to. */
export interface ProjectRoute {
  sid: string
  /** Clicks later than sent time + this are still redirected but flagged expired. */
  tokenTtlSeconds: number
  /** Days the project keeps click data (stored with each observation, read by the TTL). */
  retentionDays: number
}

/** Retention when no project settings are known (matches the control plane's default). */
export const STATIC_RETENTION_DAYS = 400

/** Maps a request's Host header to its project; undefined = not a tracking host of ours. */
export interface HostResolver {
  resolve (host: string): ProjectRoute | undefined
}

const SID = /^[a-z0-9]{1,32}$/

/** `.{tracking host}`: the suffix every `p{sid}.{tracking host}` ends with (port dropped). */
export function trackingSuffix (trackingBaseUrl: string): string {
  return '.' + hostnameOf(new URL(trackingBaseUrl).host)
}

/** The sid of a lower-cased hostname `p{sid}{suffix}`, or undefined when it is not one. */
export function sidOfTrackingHost (name: string, suffix: string): string | undefined {
  if (name.length <= suffix.length + 1 || name.charCodeAt(0) !== 0x70 || !name.endsWith(suffix)) return undefined // 'p'
  const sid = name.slice(1, name.length - suffix.length)
  return SID.test(sid) ? sid : undefined
}

/** Lower-cased hostname of a Host header value, without port (handles `[v6]:port`). */
export function hostnameOf (host: string): string {
  let h = host
  if (h.charCodeAt(0) === 0x5b) { // '['
    const end = h.indexOf(']')
    return end === -1 ? '' : h.slice(0, end + 1).toLowerCase()
  }
  const colon = h.lastIndexOf(':')
  if (colon !== -1) h = h.slice(0, colon)
  if (h.endsWith('.')) h = h.slice(0, -1) // absolute form `example.com.`
  return h.toLowerCase()
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
  // host header → route; bounded because Host is attacker-controlled.
  readonly #memo = new Map<string, ProjectRoute | null>()
  readonly #memoMax: number

  constructor (trackingBaseUrl: string, domains: Map<string, string>, tokenTtlSeconds: number, memoMax = 4096) {
    this.#suffix = trackingSuffix(trackingBaseUrl)
    this.#domains = domains
    this.#ttl = tokenTtlSeconds
    this.#memoMax = memoMax
  }

  resolve (host: string): ProjectRoute | undefined {
    let route = this.#memo.get(host)
    if (route === undefined) {
      route = this.#lookup(hostnameOf(host))
      if (this.#memo.size >= this.#memoMax) this.#memo.clear()
      this.#memo.set(host, route)
    }
    return route ?? undefined
  }

  #lookup (name: string): ProjectRoute | null {
    const custom = this.#domains.get(name)
    if (custom !== undefined) return { sid: custom, tokenTtlSeconds: this.#ttl, retentionDays: STATIC_RETENTION_DAYS }
    const sid = sidOfTrackingHost(name, this.#suffix)
    if (sid !== undefined) return { sid, tokenTtlSeconds: this.#ttl, retentionDays: STATIC_RETENTION_DAYS }
    return null
  }
}

/** The tracked URL of a token: `{scheme}://p{sid}.{host[:port]}/c/{token}`. */
export function trackedUrl (trackingBaseUrl: string, sid: string, token: string): string {
  const base = new URL(trackingBaseUrl)
  return `${base.protocol}//p${sid}.${base.host}/c/${token}`
}
