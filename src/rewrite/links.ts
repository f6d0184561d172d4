import { decodeHTMLAttribute } from 'entities'
import { checkDestination, DEFAULT_MAX_URL_BYTES } from '../token/url-policy.js'
import { ClicktrailError } from '../errors.js'
import { hostnameOf, sidOfTrackingHost, trackingSuffix } from '../token/tracked-url.js'

/**
 * Why a link was left alone. Stable snake_case strings: they are stored in
 * `message_links` and returned by the API, so renaming one is a breaking change.
 */
export const SKIP_REASONS = {
  opt_out: 'the link carries data-ct-no-track',
  empty: 'the href is empty',
  anchor: 'same-page anchor (#…)',
  mailto: 'mailto: opens the mail client',
  tel: 'tel: opens the dialer',
  sms: 'sms: opens messaging',
  javascript: 'javascript: runs client-side only',
  data_uri: 'data: URI is embedded content',
  unsubscribe: 'unsubscribe links must stay directly reachable',
  unsubscribe_text: 'the link says "unsubscribe" (its URL does not): it must stay directly reachable too',
  template_placeholder: 'the href still holds an unresolved template placeholder',
  not_http: 'only http and https links are tracked (other scheme, or no scheme at all)',
  invalid_url: 'the destination cannot be tracked safely (see code)',
  already_tracked: 'the link already points at a clicktrail tracking host',
  unreadable_tag: 'the start tag could not be read back from the source, so it is left exactly as written'
} as const

export type SkipReason = keyof typeof SKIP_REASONS

export type LinkDecision =
  | { tracked: true, url: string }
  | { tracked: false, url: string, reason: SkipReason, code?: string }

/** True for a hostname (lower case, no port) that serves clicktrail's `/c/{token}`. */
export type TrackingHostPredicate = (hostname: string) => boolean

export interface LinkRuleOptions {
  isTrackingHost?: TrackingHostPredicate
  /** Same ceiling the token codec enforces; a longer destination is skipped, not thrown. */
  maxUrlBytes?: number
}

/**
 * The predicate for `p{sid}.{tracking host}` (any well-formed sid, as the redirect
 * resolver accepts) and every custom tracking domain. Same rules as
 * StaticHostResolver, so that what the redirect server would answer is never wrapped twice.
 */
export function trackingHostPredicate (trackingBaseUrl: string, customDomains: Iterable<string> = []): TrackingHostPredicate {
  const suffix = trackingSuffix(trackingBaseUrl)
  const domains = new Set<string>()
  for (const d of customDomains) domains.add(hostnameOf(d.trim()))
  return (name: string): boolean => {
    if (domains.has(name)) return true
    return sidOfTrackingHost(name, suffix) !== undefined
  }
}

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):/
const UNSUBSCRIBE = /unsubscribe/i

// Template languages whose merge tags survive into a send when a variable was not filled.
// Tracking such a href would pin the unresolved text into the token, so the recipient
// would land on garbage even after the platform resolved the tag.
const PLACEHOLDERS: readonly RegExp[] = [
  /\{\{[\s\S]*?\}\}/, // Handlebars, Mustache, Liquid, Jinja, HubSpot, Braze: {{url}}, {{{url}}}
  /\{%[\s\S]*?%\}/, // Liquid / Jinja tags: {% if %}
  /\$\{[^}]*\}/, // ${url}: JS template literals, Freemarker, Velocity
  /<%[\s\S]*?%>/, // ERB / EJS / SendGrid: <%asm_group_unsubscribe_raw_url%>
  /\*\|[^|]*\|\*/, // Mailchimp: *|ARCHIVE|*, *|UNSUB|*
  /%%[^%\s]+%%/, // Ghost %%{unsubscribe_url}%%, Salesforce %%view_email_url%%, AMPscript %%=RedirectTo(…)=%%
  // %URL%, %recipient.link%, %UNSUBSCRIBELINK%: a `%` that does not start a percent-escape
  // (two hex digits), a name, and a closing `%`. `%20`, `%2F` and friends never open one.
  /%(?![0-9A-Fa-f]{2})[A-Za-z_][\w.:-]*%/,
  /\[\[[^\]]+\]\]/ // Constant Contact, Mailjet: [[trackingURL]]
]
// [Unsubscribe_Preferences], [Sender_Name], [FACEBOOK:PROFILEURL] — a bracketed name at
// the start of the URL or of a path segment / query value. PHP array keys (`a[b]=1`)
// follow a name character, so they never match; IPv6 literals are excluded below.
const BRACKET_TAG = /(?:^|[/=?&#:])\[([A-Za-z_][\w .:-]*)\]/g
const IPV6_LITERAL = /^(?:[0-9A-Fa-f]*:[0-9A-Fa-f:.]*|v[0-9A-Fa-f]+\..+)$/

/** True when `url` still holds a template placeholder (see PLACEHOLDERS). */
export function hasTemplatePlaceholder (url: string): boolean {
  for (const re of PLACEHOLDERS) if (re.test(url)) return true
  if (url.includes('[')) {
    BRACKET_TAG.lastIndex = 0
    let m: RegExpExecArray | null
    while ((m = BRACKET_TAG.exec(url)) !== null) {
      if (!IPV6_LITERAL.test(m[1])) return true
    }
  }
  return false
}

/**
 * The destination a browser would read from an href attribute's raw text: decoded once,
 * then trimmed of HTML's ASCII whitespace (TAB, LF, FF, CR, SPACE), as a browser does
 * before parsing it (HTML §2.4.1 "valid URL potentially surrounded by spaces").
 */
export function decodeHref (raw: string): string {
  // Only a value holding `&` can carry a character reference; skipping the decoder for
  // the common case keeps the rewriter's per-link cost down.
  const decoded = raw.includes('&') ? decodeHTMLAttribute(raw) : raw
  let start = 0
  let end = decoded.length
  while (start < end && isAsciiWhitespace(decoded.charCodeAt(start))) start++
  while (end > start && isAsciiWhitespace(decoded.charCodeAt(end - 1))) end--
  return start === 0 && end === decoded.length ? decoded : decoded.slice(start, end)
}

function isAsciiWhitespace (c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0c || c === 0x0d
}

/**
 * Decides whether a link is tracked. `rawHref` is the attribute text as written in the
 * document (entities not yet decoded); `optOut` is whether the element carries
 * `data-ct-no-track`; `anchorText` is the link's visible text when known. Never throws.
 *
 * Order matters only for which reason is reported: the spec's table (SPEC.md §3) first,
 * then placeholders, then scheme and validity, so that `mailto:{{email}}` reads `mailto`
 * and `{{unsubscribe_url}}` reads `unsubscribe`.
 */
export function classifyHref (rawHref: string, optOut: boolean, options: LinkRuleOptions = {}, anchorText?: string): LinkDecision {
  const url = decodeHref(rawHref)
  if (optOut) return { tracked: false, url, reason: 'opt_out' }
  if (url.length === 0) return { tracked: false, url, reason: 'empty' }
  if (url.charCodeAt(0) === 0x23) return { tracked: false, url, reason: 'anchor' }
  const m = SCHEME.exec(url)
  const scheme = m === null ? '' : m[1].toLowerCase()
  switch (scheme) {
    case 'mailto': return { tracked: false, url, reason: 'mailto' }
    case 'tel': return { tracked: false, url, reason: 'tel' }
    case 'sms': return { tracked: false, url, reason: 'sms' }
    case 'javascript': return { tracked: false, url, reason: 'javascript' }
    case 'data': return { tracked: false, url, reason: 'data_uri' }
  }
  if (UNSUBSCRIBE.test(url)) return { tracked: false, url, reason: 'unsubscribe' }
  // Templates often point the unsubscribe link at a plain landing URL and say what it is
  // only in its text; it must stay reachable when the tracking host is not (CAN-SPAM,
  // RFC 8058 spirit), and a scanner's pre-fetch through us must not look like a click.
  if (anchorText !== undefined && UNSUBSCRIBE.test(anchorText)) return { tracked: false, url, reason: 'unsubscribe_text' }
  const maxBytes = options.maxUrlBytes ?? DEFAULT_MAX_URL_BYTES
  // (an over-long href skips the pattern scan; checkDestination then says CT_ERR_URL_TOO_LONG)
  if (url.length <= maxBytes && hasTemplatePlaceholder(url)) return { tracked: false, url, reason: 'template_placeholder' }
  if (scheme !== 'http' && scheme !== 'https') return { tracked: false, url, reason: 'not_http' }
  let location: string
  try {
    location = checkDestination(url, maxBytes)
  } catch (err) {
    if (err instanceof ClicktrailError) return { tracked: false, url, reason: 'invalid_url', code: err.code }
    throw err
  }
  if (options.isTrackingHost !== undefined && options.isTrackingHost(hostOf(location))) {
    return { tracked: false, url, reason: 'already_tracked' }
  }
  return { tracked: true, url }
}

/**
 * Hostname of a Location checkDestination accepted: printable ASCII, `http(s)://`, no
 * userinfo. Read from the string (a second WHATWG parse per link was a measurable share
 * of the rewriter's time); only a host that is percent-encoded needs the parser.
 */
function hostOf (location: string): string {
  const start = location.indexOf('//') + 2
  let end = start
  while (end < location.length) {
    const c = location.charCodeAt(end)
    if (c === 0x2f || c === 0x3f || c === 0x23 || c === 0x5c) break
    end++
  }
  const authority = location.slice(start, end)
  if (!authority.includes('%')) return hostnameOf(authority)
  try {
    return hostnameOf(new URL(location).host)
  } catch {
    return ''
  }
}
