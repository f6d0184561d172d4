import { mintToken, SID_PATTERN, type MintOptions, type TokenFields } from './codec.js'
import type { KeyRing } from './keys.js'

/*
 * Tracking-host naming: a project's tracked links are `{scheme}://p{sid}.{tracking host}/c/{token}`.
 * Shared by the redirect path (which host is whose), the rewriter (which links are tracked
 * already), the control plane and the command line; it needs nothing but the token module.
 */

/** `.{tracking host}`: the suffix every `p{sid}.{tracking host}` ends with (port dropped). */
export function trackingSuffix (trackingBaseUrl: string): string {
  return '.' + hostnameOf(new URL(trackingBaseUrl).host)
}

/** The sid of a lower-cased hostname `p{sid}{suffix}`, or undefined when it is not one. */
export function sidOfTrackingHost (name: string, suffix: string): string | undefined {
  if (name.length <= suffix.length + 1 || name.charCodeAt(0) !== 0x70 || !name.endsWith(suffix)) return undefined // 'p'
  const sid = name.slice(1, name.length - suffix.length)
  return SID_PATTERN.test(sid) ? sid : undefined
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

/** The tracked URL of a token: `{scheme}://p{sid}.{host[:port]}/c/{token}`. */
export function trackedUrl (trackingBaseUrl: string, sid: string, token: string): string {
  const base = new URL(trackingBaseUrl)
  return `${base.protocol}//p${sid}.${base.host}/c/${token}`
}

/** Mints a token and returns its tracked URL: the one way every caller makes a tracked link. */
export function mintTrackedUrl (ring: KeyRing, trackingBaseUrl: string, fields: TokenFields, options?: MintOptions): string {
  return trackedUrl(trackingBaseUrl, fields.sid, mintToken(ring, fields, options))
}
