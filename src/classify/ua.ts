/**
 * User agent → device, client and the facts the classifier needs (agent family, engine and
 * version, whether this browser sends Fetch Metadata and client hints by default).
 *
 * ua-parser-js 1.x (MIT; 2.x is AGPL-3.0) does the device/OS/browser work. Our own rules
 * run first, in this order: link-preview, scanner and privacy-fetcher families (signals.ts),
 * then email clients and in-app browsers, and only then isbot — isbot 5.2.3 calls
 * `Outlook-Android/2.0` and `YahooMobile/1.0 (mail; …)` bots (measured, bench/micro/ua-isbot.mjs).
 *
 * Results are memoized in a small bounded map: a campaign's clicks come from a few hundred
 * distinct agents, and a ua-parser parse costs tens of microseconds.
 */
import UAParser from 'ua-parser-js'
import type { ClientFields, ClientType, DeviceType } from '../records.js'
export type { ClientFields, ClientType, DeviceType }
import { isbot } from 'isbot'
import {
  EMAIL_CLIENT_AGENTS, IN_APP_AGENTS, LINK_PREVIEW_AGENTS, PARAMS, PRIVACY_AGENTS, SCANNER_AGENTS,
  type AgentFamily, type ClientRule
} from './signals.js'

export type Engine = 'blink' | 'gecko' | 'webkit' | 'other'

export interface AgentInfo {
  /** '' when the agent names no device a person holds (see deviceOf). */
  readonly deviceType: DeviceType | ''
  readonly clientType: ClientType
  /** `Chrome`, `Safari`, `Outlook`, `Facebook`, `Slack`, … or `Unknown`. */
  readonly clientName: string
  /** `Windows`, `macOS`, `iOS`, `Android`, `Linux`, … or ''. */
  readonly osName: string
  /** A link-preview, scanner or privacy-fetcher family matched by agent. */
  readonly family: AgentFamily | undefined
  /** isbot matched and none of our own rules identified the agent. */
  readonly isBot: boolean
  readonly engine: Engine
  /** Chromium major for Blink agents, else 0. */
  readonly chromeMajor: number
  /** A browser or in-app web view: the browser-header heuristics apply to it. */
  readonly browserLike: boolean
  readonly inApp: boolean
  /** This browser sends Fetch Metadata on navigations by default. */
  readonly fetchMetadata: boolean
  /** This browser sends Sec-CH-UA by default (Chrome, Edge, Opera ≥ 89, not on iOS). */
  readonly clientHints: boolean
  /** The new Outlook (OneOutlook) agent: its own fetch, not a browser's navigation. */
  readonly newOutlook: boolean
}

// ---------------------------------------------------------------------------------------
// Matchers, compiled once. One alternation per list, longest pattern first so that at a
// given position the most specific pattern wins (iMessage's agent also contains
// "facebookexternalhit"); the match is mapped back to its entry through a Map.

function escapeRegExp (s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

interface Matcher<T> { re: RegExp, byPattern: Map<string, T> }

function compile<T> (entries: ReadonlyArray<{ patterns: readonly string[], entry: T }>): Matcher<T> {
  const byPattern = new Map<string, T>()
  for (const { patterns, entry } of entries) {
    for (const p of patterns) {
      const key = p.toLowerCase()
      if (byPattern.has(key)) throw new Error(`agent pattern "${p}" listed twice`)
      byPattern.set(key, entry)
    }
  }
  const alternation = [...byPattern.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp).join('|')
  return { re: new RegExp(alternation, 'i'), byPattern }
}

const FAMILIES: AgentFamily[] = [...LINK_PREVIEW_AGENTS, ...SCANNER_AGENTS, ...PRIVACY_AGENTS]
const FAMILY_MATCHER = compile(FAMILIES.map(f => ({ patterns: f.patterns, entry: f })))
const FAMILY_EXACT = new Map<string, AgentFamily>()
for (const f of FAMILIES) for (const e of f.exact ?? []) FAMILY_EXACT.set(e.toLowerCase(), f)
const CLIENT_MATCHER = compile([...EMAIL_CLIENT_AGENTS, ...IN_APP_AGENTS].map(r => ({ patterns: r.patterns, entry: r })))

const CHROME_MAJOR = /(?:Chrome|Chromium|HeadlessChrome)\/(\d+)/
const FIREFOX_MAJOR = /Firefox\/(\d+)/
const SAFARI_VERSION = /Version\/\d+(?:\.\d+)?/
const PRODUCT = /^[A-Za-z][\w.-]{0,31}/

/** A link-preview fetcher (by agent alone: the cheap check, no ua-parser). Promotion does not count these toward an address's recipients (iMessage previews come from the recipient's own address). */
export function isLinkPreviewAgent (ua: string): boolean {
  return matchFamily(ua)?.role === 'link_preview'
}

/** The family whose pattern the agent contains, or whose exact agent it is. */
export function matchFamily (ua: string): AgentFamily | undefined {
  const exact = FAMILY_EXACT.get(ua.trim().toLowerCase())
  if (exact !== undefined) return exact
  const m = FAMILY_MATCHER.re.exec(ua)
  return m === null ? undefined : FAMILY_MATCHER.byPattern.get(m[0].toLowerCase())
}

function matchClient (ua: string): ClientRule | undefined {
  const m = CLIENT_MATCHER.re.exec(ua)
  return m === null ? undefined : CLIENT_MATCHER.byPattern.get(m[0].toLowerCase())
}

// ---------------------------------------------------------------------------------------

const parser = new UAParser()

const OS_NAMES: Record<string, string> = Object.assign(Object.create(null), {
  'Mac OS': 'macOS', 'Chromium OS': 'ChromeOS'
})

const BROWSER_NAMES: Record<string, string> = Object.assign(Object.create(null), {
  'Mobile Safari': 'Safari',
  'Mobile Firefox': 'Firefox',
  'Mobile Chrome': 'Chrome',
  'Chrome Headless': 'HeadlessChrome',
  'Samsung Browser': 'Samsung Internet',
  GSA: 'Google App'
})

/** "16.4.1" → 1604: major × 100 + minor, comparable as an integer. */
function versionCode (v: string | undefined): number {
  if (v === undefined) return 0
  const major = parseInt(v, 10)
  if (!(major >= 0)) return 0
  const dot = v.indexOf('.')
  const minor = dot < 0 ? 0 : parseInt(v.slice(dot + 1), 10)
  return major * 100 + (minor >= 0 ? Math.min(minor, 99) : 0)
}

const SAFARI_FETCH_METADATA = versionCode(PARAMS.fetchMetadataSafari)

// Device type without ua-parser's device regexes where the agent says it plainly: they are
// the costliest part of a parse (measured on 1.0.41, bench/micro/ua-device.mjs: 6–34 µs, most
// for desktop agents, which walk every device regex; the string tests here take 50–160 ns).
const DESKTOP_OS = new Set(['Windows', 'macOS', 'Linux', 'Ubuntu', 'ChromeOS', 'Fedora', 'Debian',
  'FreeBSD', 'OpenBSD', 'NetBSD', 'Solaris', 'Mint', 'Arch', 'Gentoo', 'SUSE', 'Red Hat', 'CentOS', 'Manjaro'])

/**
 * The device the agent names: desktop for a desktop operating system, mobile or tablet from
 * the Android, iOS and device tokens, and '' — not known — for anything else (a console, a TV,
 * an agent without a platform token). Never a guess: SPEC §6 has three device types, and an
 * agent that names none of them gets none. Bots, previews, scanners, privacy fetchers and
 * empty agents never reach here (they report '' too: what fetched has no device of a person).
 */
function deviceOf (ua: string, osName: string): DeviceType | '' {
  if (DESKTOP_OS.has(osName)) return 'desktop'
  if (osName === 'Android') {
    // Android phones carry "Mobile", tablets drop it (Chrome developer docs on UA strings);
    // agents without the Linux; Android preamble are app clients, phones in practice.
    return ua.includes('Mobile') || !ua.includes('(Linux; Android') ? 'mobile' : 'tablet'
  }
  if (osName === 'iOS') return ua.includes('iPad') ? 'tablet' : 'mobile'
  const t = parser.getDevice().type
  if (t === 'tablet') return 'tablet'
  if (t === 'mobile' || t === 'wearable') return 'mobile'
  return ''
}

const EMPTY: AgentInfo = Object.freeze({
  deviceType: '',
  clientType: 'unknown',
  clientName: 'Unknown',
  osName: '',
  family: undefined,
  isBot: false,
  engine: 'other',
  chromeMajor: 0,
  browserLike: false,
  inApp: false,
  fetchMetadata: false,
  clientHints: false,
  newOutlook: false
})

/** Parses without the memo; see `parseAgent`. */
export function analyzeAgent (ua: string): AgentInfo {
  if (ua.trim().length === 0) return EMPTY
  // ua-parser's getters run separately, and only those needed: a full getResult() costs
  // 21–42 µs, the getters used here about half of it (measured on ua-parser-js 1.0.41,
  // bench/micro/ua-getters.mjs).
  parser.setUA(ua)
  const os = parser.getOS()
  const osName = os.name === undefined ? '' : (OS_NAMES[os.name] ?? os.name)
  const family = matchFamily(ua)
  if (family !== undefined) {
    return Object.freeze({ ...EMPTY, clientType: family.role === 'privacy' ? 'proxy' : 'bot', clientName: family.label, osName, family })
  }
  const rule = matchClient(ua)
  if (rule === undefined && isbot(ua)) {
    // Self-declared bots: name them by their product token; ua-parser's browser list would
    // be walked to the end without a match (its worst case).
    return Object.freeze({ ...EMPTY, clientType: 'bot', clientName: PRODUCT.exec(ua)?.[0] ?? 'Bot', osName, isBot: true })
  }
  const deviceType = deviceOf(ua, osName)

  const engineName = parser.getEngine().name
  const engine: Engine = engineName === 'Blink' ? 'blink' : engineName === 'Gecko' ? 'gecko' : engineName === 'WebKit' ? 'webkit' : 'other'
  let chromeMajor = 0
  if (engine === 'blink') {
    const m = CHROME_MAJOR.exec(ua)
    if (m !== null) chromeMajor = parseInt(m[1], 10)
  }

  let clientType: ClientType
  let clientName: string
  let inApp = false
  const browserName = rule === undefined ? parser.getBrowser().name : undefined
  if (rule !== undefined) {
    clientType = rule.type
    clientName = rule.name
    inApp = rule.type === 'app'
  } else if (browserName === 'Chrome WebView') {
    clientType = 'app'
    clientName = 'Android WebView'
    inApp = true
  } else if (browserName === 'WebKit' && osName === 'iOS') {
    // An app's own WKWebView: no Safari/Version token.
    clientType = 'app'
    clientName = 'iOS WebView'
    inApp = true
  } else if (browserName === 'WebKit' && osName === 'macOS') {
    // Apple Mail on macOS uses WebKit without the Version/… Safari/… tokens.
    clientType = 'email_client'
    clientName = 'Apple Mail'
  } else if (browserName !== undefined) {
    clientType = 'browser'
    clientName = BROWSER_NAMES[browserName] ?? browserName
  } else {
    clientType = 'unknown'
    clientName = 'Unknown'
  }

  const browserLike = clientType === 'browser' || clientType === 'app' || rule?.webView === true
  let fetchMetadata = false
  let clientHints = false
  if (browserLike) {
    if (osName === 'iOS') {
      // Every iOS browser is WebKit: Fetch Metadata from iOS 16.4 (Safari 16.4 release notes).
      // Safari from iOS 26 freezes the OS token at 18_6 but that is above the bar anyway.
      fetchMetadata = versionCode(os.version) >= SAFARI_FETCH_METADATA
    } else if (engine === 'blink') {
      fetchMetadata = chromeMajor >= PARAMS.fetchMetadataChrome
      clientHints = !inApp && chromeMajor >= PARAMS.clientHintsChrome &&
        (clientName === 'Chrome' || clientName === 'Edge' || clientName === 'Opera')
    } else if (engine === 'gecko') {
      const m = FIREFOX_MAJOR.exec(ua)
      fetchMetadata = m !== null && parseInt(m[1], 10) >= PARAMS.fetchMetadataFirefox
    } else if (engine === 'webkit' && clientName === 'Safari') {
      const m = SAFARI_VERSION.exec(ua)
      fetchMetadata = m !== null && versionCode(m[0].slice(8)) >= SAFARI_FETCH_METADATA
    }
  }

  return Object.freeze({
    deviceType,
    clientType,
    clientName,
    osName,
    family: undefined,
    isBot: false,
    engine,
    chromeMajor,
    browserLike,
    inApp,
    fetchMetadata,
    clientHints,
    newOutlook: rule?.newOutlook === true
  })
}

// ---------------------------------------------------------------------------------------
// Memo: insertion-ordered Map, oldest evicted first. Agents longer than MEMO_MAX_UA are
// parsed every time (they are rare, and could otherwise pin memory).

const MEMO_MAX = 4096
const MEMO_MAX_UA = 512
const memo = new Map<string, AgentInfo>()

/** Memoized `analyzeAgent`. */
export function parseAgent (ua: string): AgentInfo {
  let info = memo.get(ua)
  if (info !== undefined) return info
  info = analyzeAgent(ua)
  if (ua.length <= MEMO_MAX_UA) {
    if (memo.size >= MEMO_MAX) memo.delete(memo.keys().next().value as string)
    memo.set(ua, info)
  }
  return info
}

/** How many agents the memo holds (for tests and diagnostics). */
export function memoSize (): number { return memo.size }

/** The spec's webhook fields for an agent. */

export function clientFields (ua: string): ClientFields {
  const a = parseAgent(ua)
  return { device_type: a.deviceType, client_type: a.clientType, client_name: a.clientName }
}
