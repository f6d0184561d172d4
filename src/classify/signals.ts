/**
 * Every weight, agent family, header rule and address range the classifier uses, each with
 * its reason code (stable snake_case: stored in ClickHouse and sent in webhooks, so never
 * rename one) and the public source it comes from. The rules that read this table live in
 * classify.ts; nothing here runs per request. Numbers are starting weights from
 * /shared/CLASSIFY.md, to be tuned on real traffic.
 *
 * Scoring in one paragraph: a decisive signal sets the probability on its own (the highest
 * decisive weight wins); additive signals add (or, toward genuine, subtract) points; the
 * probability is clamped to 0–100; `machine = probability ≥ THRESHOLD`. Negative points
 * never pull a decisive verdict down.
 */

import type { Classification } from '../records.js'
export type { Classification }

/** The class a signal votes for. 'dynamic': security_scanner when a scanner signal also fired, else generic_bot. */
export type SignalClass = Exclude<Classification, 'genuine'> | 'dynamic' | null

export interface Signal {
  /** Reason code: stable snake_case. */
  readonly code: string
  readonly kind: 'decisive' | 'additive'
  /** Decisive: the probability it sets. Additive: points added (negative = toward genuine). */
  readonly weight: number
  /** The class it votes for; null for genuine-ward or informational signals. */
  readonly classification: SignalClass
  /** `proxy_type` reported when this signal decides the class. */
  readonly proxyType?: string
  readonly meaning: string
  readonly source: string
}

/** `machine = probability ≥ THRESHOLD` (CLASSIFY.md: 60 is a reasonable start). */
export const THRESHOLD = 60

/** Tunables of the context and header signals. Times in milliseconds unless named otherwise. */
export const PARAMS = {
  /** Burst: this many distinct links of one message … */
  burstMinLinks: 3,
  /** … inside a window this long (CLASSIFY.md: "within ~2 s"). */
  burstWindowMs: 2_000,
  /** Every link of a message with at least this many links … */
  allLinksMinLinks: 3,
  /** … all fetched within this span. CLASSIFY.md names no span; a human who opens every link of a
   * three-link mail within a minute is rare, a scanner does it in seconds. */
  allLinksSpanMs: 60_000,
  /** Shadow pair: the same link again within this long from another address or OS. */
  pairWindowMs: 15_000,
  /** One address clicking for at least this many distinct messages (recipients) recently. */
  manyRecipients: 5,
  /** Mail-security vendor networks count only this long after send (seconds): browser isolation
   * puts real people behind these addresses later. */
  vendorEarlySeconds: 1_800,
  /** Time-since-send bands (seconds). Only the first is strong on its own: fast humans exist. */
  sentStrongS: 2,
  sentMediumS: 30,
  sentWeakS: 120,
  /** Fetch Metadata shipped on by default: Chrome 80, Firefox 90, Safari 16.4 (MDN, browser-compat-data). */
  fetchMetadataChrome: 80,
  fetchMetadataFirefox: 90,
  fetchMetadataSafari: '16.4',
  /** Sec-CH-UA on by default from Chrome 89 (MDN Sec-CH-UA). */
  clientHintsChrome: 89,
  /** Chrome release train used to estimate the current major from the click time (never the clock):
   * Chrome 100 reached stable on 2022-03-29 and Chrome 139 on 2025-08-05, 31.4 days per major on
   * average (chromiumdash release schedule). */
  chromeAnchorMajor: 100,
  chromeAnchorMs: Date.UTC(2022, 2, 29),
  chromeDaysPerMajor: 31.4,
  /** A Chrome this many majors behind the estimate counts as stale (Safe Links agents were Chrome 57–97). */
  chromeStaleMajors: 24
} as const

const CLASSIFY_MD = 'CLASSIFY.md'

function decisive (code: string, weight: number, classification: SignalClass, meaning: string, source: string, proxyType?: string): Signal {
  return Object.freeze({ code, kind: 'decisive', weight, classification, proxyType, meaning, source })
}

function additive (code: string, weight: number, classification: SignalClass, meaning: string, source: string, proxyType?: string): Signal {
  return Object.freeze({ code, kind: 'additive', weight, classification, proxyType, meaning, source })
}

// ---------------------------------------------------------------------------------------
// Agent families. Patterns are case-insensitive substrings of the User-Agent; `exact`
// patterns must equal the whole (trimmed) agent. ua.ts compiles all of them into one regex.

export interface AgentFamily {
  /** Family id; for previews, privacy fetchers and named scanners also the `proxy_type`. */
  readonly id: string
  /** `client_name` reported for this agent. */
  readonly label: string
  readonly role: 'link_preview' | 'scanner' | 'privacy'
  readonly patterns: readonly string[]
  readonly exact?: readonly string[]
  readonly signal: Signal
}

const PREVIEW_WEIGHT = 95
const PREVIEW_SOURCE = 'monperrus/crawler-user-agents; arcjet/well-known-bots; isbot fixtures'

function preview (id: string, label: string, patterns: string[], source = PREVIEW_SOURCE): AgentFamily {
  return Object.freeze({
    id,
    label,
    role: 'link_preview',
    patterns,
    signal: decisive(`link_preview_${id}`, PREVIEW_WEIGHT, 'link_preview', `${label} link-preview fetcher (agent)`, source, id)
  })
}

/**
 * Link-preview fetchers: chat and social apps unfurl a link when somebody pastes it. Order
 * matters only for documentation; the matcher prefers the longest pattern at a position, so
 * iMessage's agent (which also contains facebookexternalhit and Twitterbot) maps to iMessage.
 */
export const LINK_PREVIEW_AGENTS: readonly AgentFamily[] = Object.freeze([
  // iMessage fetches previews from the recipient's own device and address (CLASSIFY.md):
  // never build address reputation from it.
  preview('imessage', 'iMessage', ['facebookexternalhit/1.1 facebot twitterbot/1.0'], 'isbot fixtures; CLASSIFY.md'),
  preview('slack', 'Slack', ['slackbot-linkexpanding', 'slack-imgproxy', 'slackbot 1.0'], 'api.slack.com/robots; monperrus/crawler-user-agents'),
  preview('microsoft_preview', 'MicrosoftPreview', ['microsoftpreview/'], 'Bing crawler list (aka.ms/MicrosoftPreview): snapshots for Teams and other Microsoft products'),
  preview('skype', 'Skype', ['skypeuripreview']),
  preview('facebook', 'Facebook', ['facebookexternalhit', 'facebot']),
  preview('twitter', 'Twitter', ['twitterbot']),
  preview('whatsapp', 'WhatsApp', ['whatsapp/']),
  preview('discord', 'Discord', ['discordbot']),
  preview('telegram', 'Telegram', ['telegrambot']),
  preview('linkedin', 'LinkedIn', ['linkedinbot']),
  preview('google_messages', 'Google Messages', ['googlemessages'], CLASSIFY_MD),
  preview('snapchat', 'Snapchat', ['snap url preview']),
  preview('iframely', 'Iframely', ['iframely']),
  preview('viber', 'Viber', ['viber'], CLASSIFY_MD),
  preview('mattermost', 'Mattermost', ['mattermost-bot']),
  preview('bitly', 'Bitly', ['bitlybot'])
])

const SCANNER_AGENT_WEIGHT = 95

function scanner (id: string, label: string, patterns: string[], source: string, proxyType?: string): AgentFamily {
  return Object.freeze({
    id,
    label,
    role: 'scanner',
    patterns,
    signal: decisive(`scanner_agent_${id}`, SCANNER_AGENT_WEIGHT, 'security_scanner', `${label} scanner (agent)`, source, proxyType)
  })
}

/** Security scanners that name themselves (HeadlessChrome also in the Sec-CH-UA brands, see HEADER_SIGNALS). */
export const SCANNER_AGENTS: readonly AgentFamily[] = Object.freeze([
  scanner('barracuda', 'Barracuda Sentinel', ['barracuda sentinel'], 'matomo device-detector bots list; arcjet/well-known-bots', 'barracuda'),
  scanner('headless_chrome', 'HeadlessChrome', ['headlesschrome'], 'matomo device-detector bots list; Chromium headless mode'),
  scanner('virustotal', 'VirusTotal', ['s~virustotalcloud'], 'matomo device-detector bots list (AppEngine-Google; appid: s~virustotalcloud)', 'virustotal'),
  scanner('google_safety', 'Google-Safety', ['google-safety'], 'Google special-case crawlers list; Braze docs on email link scanners', 'google_safety')
])

function privacy (id: string, label: string, patterns: string[], exact: string[], source: string, meaning: string): AgentFamily {
  return Object.freeze({
    id,
    label,
    role: 'privacy',
    patterns,
    exact,
    signal: decisive(`privacy_${id}`, 90, 'privacy_proxy', meaning, source, id)
  })
}

/** Privacy fetchers: a mail provider's proxy fetches on the user's behalf; not a click. */
export const PRIVACY_AGENTS: readonly AgentFamily[] = Object.freeze([
  privacy('google_image_proxy', 'GoogleImageProxy', ['googleimageproxy'], [], 'Mailgun bot-detection docs; mssola/user_agent issue 71',
    'Gmail image proxy (via ggpht.com GoogleImageProxy) fetched the URL'),
  privacy('gmail_prefetch', 'Gmail prefetch', ['edge/12.246 mozilla/5.0', 'edge/12.246 gmail-content-sampling'], [], 'mautic PR 10245; mssola/user_agent issue 71 (Gmail-content-sampling)',
    'Gmail\'s fixed "… Edge/12.246 Mozilla/5.0" fetcher agent'),
  privacy('apple_mpp', 'Apple Mail Privacy Protection', [], ['mozilla/5.0'], 'Mailgun bot-detection docs (Apple MPP fetches with a bare "Mozilla/5.0")',
    'a bare "Mozilla/5.0" agent, as Apple Mail Privacy Protection sends'),
  privacy('yahoo_mail_proxy', 'YahooMailProxy', ['yahoomailproxy'], [], 'Yahoo help SLN28749 (Yahoo Mail proxy)',
    'Yahoo Mail\'s proxy fetched the URL')
])

// ---------------------------------------------------------------------------------------
// Email clients and in-app browsers: identification for device/client fields. They also
// keep isbot from misfiring (isbot 5.2.3 flags `Outlook-Android/2.0` and `YahooMobile/1.0 (mail; …)`).

export interface ClientRule {
  readonly name: string
  readonly type: 'email_client' | 'app'
  readonly patterns: readonly string[]
  readonly source: string
  /**
   * The client is a browser engine of its own (a Chromium web view) whose requests carry the
   * browser's headers: the browser-header heuristics apply to it as to a browser.
   */
  readonly webView?: boolean
  /** The new Outlook (OneOutlook): its own fetches are weak Safe Links evidence (SIGNALS.newOutlook). */
  readonly newOutlook?: boolean
}

export const EMAIL_CLIENT_AGENTS: readonly ClientRule[] = Object.freeze([
  { name: 'Outlook', type: 'email_client', patterns: ['microsoft outlook', 'ms-office', 'msoffice', 'microsoft office/', 'outlook-ios/', 'outlook-android/', 'macoutlook/'], source: 'matomo device-detector pim.yml; Exchange client strings' },
  // The new Outlook for Windows is WebView2 (Edge): `… Edg/117.0.2045.47 OneOutlook/1.2023.927.100`.
  // Its Safe Links check is a GET with this agent and `x-native-host: OneOutlook/…`.
  { name: 'Outlook', type: 'email_client', patterns: ['oneoutlook/'], source: 'next-auth issue 1840 (comment of 2023-10-04: the agent and x-native-host of the new Outlook\'s Safe Links GET)', webView: true, newOutlook: true },
  { name: 'Gmail', type: 'email_client', patterns: ['gmailapp/', 'android-gmail'], source: 'matomo device-detector pim.yml (Android-Gmail); GmailApp iOS web view token (unverified)' },
  { name: 'Thunderbird', type: 'email_client', patterns: ['thunderbird/', 'icedove/'], source: 'matomo device-detector pim.yml' },
  { name: 'Yahoo Mail', type: 'email_client', patterns: ['yahoomobile/1.0 (mail', 'yahoo%20mail', 'jp.co.yahoo.ymail'], source: 'matomo device-detector pim.yml; ua-parser-js fixtures' },
  { name: 'Airmail', type: 'email_client', patterns: ['airmail '], source: 'matomo device-detector pim.yml' },
  { name: 'eM Client', type: 'email_client', patterns: ['em client/', 'emclient/'], source: 'matomo device-detector pim.yml' },
  { name: 'BlueMail', type: 'email_client', patterns: ['bluemail/'], source: 'matomo device-detector pim.yml' },
  { name: 'Mailspring', type: 'email_client', patterns: ['mailspring/'], source: 'matomo device-detector pim.yml' }
] satisfies ClientRule[])

/** In-app browsers: real people, but their web views may lack Fetch Metadata (CLASSIFY.md pitfalls). */
export const IN_APP_AGENTS: readonly ClientRule[] = Object.freeze([
  { name: 'Facebook', type: 'app', patterns: ['fban/', 'fbav/', 'fb_iab/'], source: 'ua-parser-js 1.x; Meta in-app browser agents' },
  { name: 'Instagram', type: 'app', patterns: ['instagram '], source: 'ua-parser-js 1.x' },
  { name: 'Google App', type: 'app', patterns: [' gsa/'], source: 'ua-parser-js 1.x (GSA = Google Search App)' },
  { name: 'LinkedIn', type: 'app', patterns: ['linkedinapp'], source: 'ua-parser-js 1.x' },
  { name: 'Twitter', type: 'app', patterns: ['twitter for iphone', 'twitterandroid'], source: 'ua-parser-js 1.x' },
  { name: 'Snapchat', type: 'app', patterns: ['snapchat/'], source: 'ua-parser-js 1.x' },
  { name: 'TikTok', type: 'app', patterns: ['musical_ly', 'bytelocale/'], source: 'ua-parser-js 1.x' },
  { name: 'LINE', type: 'app', patterns: [' line/'], source: 'ua-parser-js 1.x' },
  { name: 'Pinterest', type: 'app', patterns: ['[pinterest/'], source: 'ua-parser-js 1.x' }
] satisfies ClientRule[])

// ---------------------------------------------------------------------------------------
// Request-level decisive signals.

export const SIGNALS = Object.freeze({
  privacyChromePrefetch: decisive('privacy_chrome_private_prefetch', 90, 'privacy_proxy',
    'Sec-Purpose: prefetch;anonymous-client-ip — Chrome private prefetch through Google\'s proxy',
    'Chromium private prefetch proxy explainer; MDN Sec-Purpose', 'chrome_private_prefetch'),
  prefetchHeader: decisive('prefetch_header', 85, 'generic_bot',
    'a prefetch, not a navigation: Sec-Purpose: prefetch, Purpose: prefetch or X-moz: prefetch',
    'MDN Sec-Purpose; MDN Link prefetching FAQ (X-moz)'),
  headlessBrand: decisive('scanner_headless_client_hints', 95, 'security_scanner',
    'HeadlessChrome among the Sec-CH-UA brands (agent string spoofed)', 'Chromium headless mode; matomo device-detector'),
  method: decisive('method_head', 80, 'dynamic',
    'HEAD (or OPTIONS) request: a link checker, not a browser navigation', 'FusionAuth issue 2443; supabase/auth issue 1214'),
  isbot: decisive('isbot_match', 85, 'generic_bot',
    'the agent declares itself a bot (isbot 5.2.3), and no family above matched', 'isbot'),
  agentMissing: decisive('agent_missing', 75, 'dynamic',
    'no User-Agent header', 'laravel-passwordless issue 79 (Safe Links with a blank agent)'),
  // The message's honeypot link (route setting honeypot_link) is invisible and unreachable for
  // people: whoever fetched it is a scanner, and so are that fetcher's other clicks of the message.
  honeypotHit: decisive('honeypot_hit', 95, 'security_scanner',
    'this address and agent fetched the message\'s honeypot link, which no person can see or reach (route setting honeypot_link)',
    'clicktrail\'s honeypot link (README, Honeypot links); hidden trap links as in Project Honey Pot'),

  // Additive, from time and context.
  sentStrong: additive('sent_lt_2s', 80, 'security_scanner',
    'fetched less than 2 s after send: no human opens mail that fast', 'Mautic (2 s rule); mautic PR 14816'),
  sentMedium: additive('sent_lt_30s', 25, 'security_scanner',
    'fetched 2–30 s after send', 'ESP rule sets (30 s)'),
  sentWeak: additive('sent_lt_120s', 10, 'security_scanner',
    'fetched 30–120 s after send', CLASSIFY_MD),
  burst: additive('burst_links', 70, 'security_scanner',
    '≥ 3 distinct links of one message fetched within ~2 s: humans click one link', 'HubSpot community; ESP rule write-ups'),
  burstAll: additive('burst_all_links', 70, 'security_scanner',
    'every link of a message with ≥ 3 links fetched within a minute', 'HubSpot community; ESP rule write-ups'),
  shadowPair: additive('shadow_pair', 70, 'security_scanner',
    'the same link fetched within 15 s by another address or OS with browser navigation headers, this one without',
    'resend-node issue 901 (a +12 s pair from another address, Windows vs Mac)'),
  manyRecipients: additive('address_many_recipients', 35, 'security_scanner',
    'this address clicked for ≥ 5 recipients recently', 'SendGrid knowledge base on non-human engagement'),
  // Never decisive alone (35 < THRESHOLD): the new Outlook is also a real client. It tips the
  // verdict with one more signal: no browser navigation headers, a fetch soon after send.
  newOutlook: additive('new_outlook_fetch', 35, 'security_scanner',
    'the new Outlook (OneOutlook) fetched the link itself — its agent token or its x-native-host header; its Safe Links check does (weak alone)',
    'next-auth issue 1840 (OneOutlook agent and x-native-host on the Safe Links GET); Referalah issue 250', 'new_outlook'),

  // Late evidence (promote/late.ts): never fired by classify(), added when a promoted click is
  // re-judged after its message's honeypot link was fetched by the same address and agent.
  honeypotFetcher: decisive('honeypot_fetcher', 95, 'security_scanner',
    'late evidence: the same address and agent fetched this message\'s honeypot link, which no person can see or reach (re-judged after promotion)',
    'clicktrail honeypot links (issue 16)'),

  // Additive, from headers of an agent that claims to be a browser.
  fetchMetadataMissing: additive('fetch_metadata_missing', 35, 'generic_bot',
    'a browser new enough to send Fetch Metadata (Chrome ≥ 80, Firefox ≥ 90, Safari ≥ 16.4) without Sec-Fetch-Mode: navigate / Sec-Fetch-Dest: document',
    'MDN Sec-Fetch-*; browser-compat-data'),
  fetchMetadataMissingInApp: additive('fetch_metadata_missing_in_app', 10, 'generic_bot',
    'as fetch_metadata_missing, for an in-app browser (web views may omit Fetch Metadata: low weight)', CLASSIFY_MD),
  secFetchUser: additive('sec_fetch_user_present', -20, null,
    'Sec-Fetch-User: ?1 — the navigation followed a user activation (toward genuine; Safari never sends it)', 'MDN Sec-Fetch-User'),
  acceptLanguageMissing: additive('accept_language_missing', 15, 'generic_bot',
    'a browser agent without Accept-Language (weak, unverified)', CLASSIFY_MD),
  clientHintsMissing: additive('client_hints_missing', 15, 'generic_bot',
    'Chrome/Edge/Opera ≥ 89 over HTTPS without Sec-CH-UA (weak, unverified)', 'MDN Sec-CH-UA; CLASSIFY.md'),
  chromeStale: additive('chrome_stale', 15, 'generic_bot',
    'a Chrome major ≥ 24 releases behind the one current at click time (weak; Safe Links agents were Chrome 57–97)',
    'gophish issues 973, 2446'),
  acceptNotHtml: additive('accept_not_html', 10, 'generic_bot',
    'a browser agent whose Accept does not ask for text/html, as every browser navigation does (weak)', 'MDN "List of default Accept values"')
} as const)

/** Sec-CH-UA brand marking a headless browser. */
export const HEADLESS_BRAND = 'headlesschrome'
/** Sec-Purpose token of Chrome's private (proxied, IP-anonymous) prefetch. */
export const ANONYMOUS_CLIENT_IP = 'anonymous-client-ip'
export const PREFETCH = 'prefetch'

// ---------------------------------------------------------------------------------------
// Address ranges. `ranges` is whitespace-separated CIDRs (`a.b.c.d/n`, `x::/n`) or inclusive
// spans (`a-b`); ranges.ts builds one sorted table at module load and refuses overlaps.

export interface NetworkFamily {
  readonly id: string
  readonly label: string
  /** scanner: decisive; vendor: additive, only early after send; relay: informational (stays genuine). */
  readonly role: 'scanner' | 'vendor' | 'relay'
  readonly signal: Signal
  readonly ranges: string
}

// Vendor and relay spans below were extracted from @ip-location-db/asn 2.3.2026061719
// (RouteViews + DB-IP + NRO data, CC BY 4.0 — attribution required wherever these lists are
// published): the rows of asn-ipv4-num.csv / asn-ipv6-num.csv whose AS number is listed,
// adjacent spans merged, IPv6 spans written as the equivalent CIDRs. The package is not a
// dependency: it is 65 MB unpacked, its author has deprecated its npm updates, and only these
// few networks are needed. Refresh them by the same extraction from a newer copy.
const ASN_SOURCE = '@ip-location-db/asn (RouteViews, DB-IP, NRO; CC BY 4.0)'

export const NETWORKS: readonly NetworkFamily[] = Object.freeze([
  {
    id: 'microsoft_eop',
    label: 'Microsoft Exchange Online Protection',
    role: 'scanner',
    signal: decisive('scanner_network_microsoft_eop', 90, 'security_scanner',
      'client address in Microsoft Exchange Online Protection ranges (Safe Links detonation)',
      'Microsoft 365 URLs and IP address ranges (Exchange Online, ID 10); Microsoft 365 IP Address and URL web service (endpoint set 1, *.protection.outlook.com: 52.238.78.88/32); gophish issue 973; laravel-passwordless issue 79',
      'microsoft_eop'),
    // Exchange Online Protection only. The Exchange Online ranges (Outlook on the web) carry
    // real people and are deliberately absent (warmbly tracking/scanner-networks.txt).
    ranges: '40.92.0.0/15 40.107.0.0/16 52.100.0.0/14 52.238.78.88/32 104.47.0.0/17 2a01:111:f400::/48 2a01:111:f403::/48'
  },
  {
    // Safe Links fetches seen from Microsoft addresses outside the published ranges, with old
    // Chrome agents (72, 64, 97, 101). Not a published mail-security range, so additive and only
    // near delivery, like the vendor networks. (40.107.235.0/24, also seen, is inside
    // 40.107.0.0/16 above.)
    id: 'microsoft_safe_links_unlisted',
    label: 'Microsoft Safe Links (unlisted addresses)',
    role: 'vendor',
    signal: additive('vendor_network_microsoft_safe_links', 45, 'security_scanner',
      'a Microsoft address Safe Links fetches were seen from outside the published ranges (40.94.16.0/24, 40.94.89.0/24, 20.72.100.79), within 30 min of send',
      'opencollective issue 3656 (40.94.16.*, 40.107.235.*); gophish issue 2646 (40.94.89.19–23); laravel-passwordless issue 79 (20.72.100.79)',
      'microsoft_eop'),
    ranges: '20.72.100.79/32 40.94.16.0/24 40.94.89.0/24'
  },
  {
    // The filtering tier itself, one narrow block per region: no recipient reads mail from it.
    id: 'barracuda_egd',
    label: 'Barracuda Email Gateway Defense',
    role: 'scanner',
    signal: decisive('scanner_network_barracuda', 90, 'security_scanner',
      'client address in Barracuda Email Gateway Defense ranges (its link protection fetches from there)',
      'Barracuda Campus, Barracuda Email Security Service IP ranges (by region); warmbly tracking/scanner-networks.txt',
      'barracuda'),
    ranges: `
      3.24.133.128/25 13.200.136.128/25 15.222.16.128/25 18.133.136.96/27 18.133.136.128/26
      18.184.203.224/27 18.185.115.192/26 35.157.190.224/27 35.176.92.96/27 209.222.82.0/24`
  },
  {
    id: 'proofpoint',
    label: 'Proofpoint',
    role: 'vendor',
    signal: additive('vendor_network_proofpoint', 35, 'security_scanner',
      'Proofpoint network (AS22843, AS26211, AS52129) within 30 min of send', `one public scanner catalogue; ${ASN_SOURCE}`, 'proofpoint'),
    ranges: `
      66.159.224.0-66.159.225.255 66.159.227.0-66.159.229.255 66.159.232.0-66.159.241.255
      66.159.243.0-66.159.255.255 67.231.144.0-67.231.159.255 91.207.212.0-91.207.213.255
      91.209.104.0-91.209.104.255 143.55.144.0-143.55.150.255 148.163.132.0-148.163.159.255
      185.132.180.0-185.132.183.255 185.169.148.0-185.169.151.255 185.183.28.0-185.183.31.255
      205.220.160.0-205.220.187.255 205.220.190.0-205.220.191.255 208.56.0.0-208.56.0.255
      208.56.4.0-208.56.6.255 208.56.8.0-208.56.17.255 208.83.137.0-208.83.137.255
      208.83.139.0-208.83.139.255 208.84.64.0-208.84.67.255 208.86.200.0-208.86.203.255
      2001:470:3fe::/47 2620:0:2900::/48 2620:0:2902::/48 2620:100:9000::/47 2620:100:9004::/47
      2620:100:900c::/47 2a0a:2b00::/43`
  },
  {
    id: 'mimecast',
    label: 'Mimecast',
    role: 'vendor',
    signal: additive('vendor_network_mimecast', 35, 'security_scanner',
      'Mimecast network (AS30031, AS39588, AS42427, AS60492) within 30 min of send', `one public scanner catalogue; ${ASN_SOURCE}`, 'mimecast'),
    ranges: `
      41.74.203.0-41.74.203.255 51.163.158.0-51.163.159.255 62.140.7.0-62.140.7.255
      62.140.10.0-62.140.10.255 63.128.21.0-63.128.21.255 91.220.42.0-91.220.42.255
      147.28.34.0-147.28.35.255 170.10.128.0-170.10.133.255 170.10.140.0-170.10.142.255
      170.10.150.0-170.10.153.255 170.10.156.0-170.10.157.255 185.58.84.0-185.58.87.255
      193.7.204.0-193.7.207.255 194.104.108.0-194.104.111.255 195.130.217.0-195.130.217.255
      205.139.110.0-205.139.111.255 207.82.80.0-207.82.80.255 207.211.30.0-207.211.30.255
      213.167.75.0-213.167.75.255 213.167.81.0-213.167.81.255 216.35.243.0-216.35.244.255
      216.145.218.0-216.145.219.255 216.145.222.0-216.145.222.255 216.205.24.0-216.205.24.255
      2620:134:6000::/47 2620:134:600b::/48 2a02:5be0::/46 2a02:5be0:4::/47 2a02:5be0:9::/48`
  },
  {
    id: 'cisco',
    label: 'Cisco Secure Email (IronPort)',
    role: 'vendor',
    signal: additive('vendor_network_cisco', 35, 'security_scanner',
      'Cisco IronPort network (AS16417) within 30 min of send', `one public scanner catalogue; ${ASN_SOURCE}`, 'cisco'),
    ranges: `
      23.90.96.0-23.90.101.255 23.90.103.0-23.90.103.255 23.90.112.0-23.90.113.255
      23.90.121.0-23.90.121.255 23.90.124.0-23.90.127.255 63.251.108.0-63.251.108.255
      68.232.128.0-68.232.131.255 68.232.134.0-68.232.137.255 68.232.140.0-68.232.149.255
      68.232.153.0-68.232.155.255 68.232.157.0-68.232.158.255 72.5.10.0-72.5.11.255
      74.201.90.0-74.201.91.255 74.201.116.0-74.201.116.255 139.138.24.0-139.138.27.255
      139.138.32.0-139.138.35.255 139.138.38.0-139.138.41.255 139.138.46.0-139.138.47.255
      139.138.56.0-139.138.59.255 184.94.240.0-184.94.241.255 184.94.247.0-184.94.254.255
      194.165.195.0-194.165.196.255 194.165.211.0-194.165.212.255 204.15.80.0-204.15.83.255
      207.54.73.0-207.54.74.255 207.54.79.0-207.54.82.255 207.54.84.0-207.54.87.255
      207.54.92.0-207.54.95.255 208.90.56.0-208.90.58.255 208.90.60.0-208.90.63.255
      216.71.128.0-216.71.135.255 216.71.137.0-216.71.138.255 216.71.140.0-216.71.155.255
      2620:101:2001::/48 2620:101:2002::/47 2620:101:2005::/48 2620:101:2006::/47
      2620:101:200b::/48 2620:101:200c::/48 2620:101:2010::/48`
  },
  {
    // Partial on purpose: Akamai's AS36183 carries iCloud Private Relay egress (Apple's
    // egress list, as mirrored by MISP warninglists `icloud-private-relay`, holds these
    // 172.224–172.226 prefixes). The Cloudflare and Fastly shares of the relay sit in address
    // space those companies use for other traffic too, so they are left out rather than
    // approximated; the full list is ~400 KB of fragments and changes often.
    id: 'icloud_private_relay',
    label: 'iCloud Private Relay',
    role: 'relay',
    signal: additive('icloud_private_relay', 0, null,
      'client address is iCloud Private Relay egress (Akamai AS36183 share): a person behind a privacy relay; stays genuine',
      `MISP warninglists icloud-private-relay; ${ASN_SOURCE}`, 'icloud_private_relay'),
    ranges: `
      172.224.7.0-172.224.13.255 172.224.16.0-172.224.19.255 172.224.24.0-172.224.24.255
      172.224.26.0-172.224.35.255 172.224.37.0-172.224.39.255 172.224.41.0-172.224.42.255
      172.224.44.0-172.224.44.255 172.224.46.0-172.224.46.255 172.224.49.0-172.224.51.255
      172.224.53.0-172.224.56.255 172.224.59.0-172.224.61.255 172.224.63.0-172.224.63.255
      172.224.65.0-172.224.66.255 172.224.71.0-172.224.71.255 172.224.73.0-172.224.75.255
      172.224.81.0-172.224.89.255 172.224.91.0-172.224.91.255 172.224.93.0-172.224.98.255
      172.224.101.0-172.224.106.255 172.224.108.0-172.224.108.255 172.224.110.0-172.224.111.255
      172.224.115.0-172.224.115.255 172.224.118.0-172.224.126.255 172.224.128.0-172.224.130.255
      172.224.132.0-172.224.137.255 172.224.141.0-172.224.141.255 172.224.145.0-172.224.145.255
      172.224.147.0-172.224.155.255 172.224.158.0-172.224.166.255 172.224.168.0-172.224.168.255
      172.224.170.0-172.224.177.255 172.224.179.0-172.224.183.255 172.224.185.0-172.224.191.255
      172.224.193.0-172.224.210.255 172.224.226.0-172.224.231.255 172.224.234.0-172.224.234.255
      172.224.236.0-172.224.238.255 172.224.240.0-172.224.243.255 172.224.246.0-172.224.247.255
      172.224.249.0-172.224.250.255 172.224.252.0-172.224.252.255 172.224.254.0-172.224.254.255
      172.225.0.0-172.225.0.255 172.225.2.0-172.225.2.255 172.225.4.0-172.225.4.255
      172.225.6.0-172.225.7.255 172.225.10.0-172.225.10.255 172.225.14.0-172.225.14.255
      172.225.18.0-172.225.22.255 172.225.24.0-172.225.38.255 172.225.40.0-172.225.44.255
      172.225.46.0-172.225.46.255 172.225.48.0-172.225.48.255 172.225.51.0-172.225.52.255
      172.225.54.0-172.225.60.255 172.225.62.0-172.225.80.255 172.225.82.0-172.225.84.255
      172.225.86.0-172.225.89.255 172.225.94.0-172.225.94.255 172.225.96.0-172.225.100.255
      172.225.103.0-172.225.106.255 172.225.108.0-172.225.108.255 172.225.111.0-172.225.114.255
      172.225.116.0-172.225.116.255 172.225.118.0-172.225.124.255 172.225.126.0-172.225.127.255
      172.225.129.0-172.225.132.255 172.225.134.0-172.225.137.255 172.225.140.0-172.225.140.255
      172.225.142.0-172.225.142.255 172.225.144.0-172.225.145.255 172.225.154.0-172.225.156.255
      172.225.158.0-172.225.169.255 172.225.171.0-172.225.171.255 172.225.173.0-172.225.173.255
      172.225.176.0-172.225.181.255 172.225.184.0-172.225.204.255 172.225.206.0-172.226.0.255
      172.226.2.0-172.226.7.255 172.226.14.0-172.226.16.255 172.226.26.0-172.226.26.255
      172.226.29.0-172.226.29.255 172.226.34.0-172.226.34.255 172.226.36.0-172.226.36.255
      172.226.42.0-172.226.50.255 172.226.52.0-172.226.52.255 172.226.56.0-172.226.56.255
      172.226.58.0-172.226.58.255 172.226.62.0-172.226.62.255 172.226.64.0-172.226.64.255
      172.226.70.0-172.226.70.255 172.226.77.0-172.226.82.255 172.226.87.0-172.226.87.255
      172.226.89.0-172.226.90.255 172.226.92.0-172.226.94.255 172.226.96.0-172.226.96.255
      172.226.98.0-172.226.98.255 172.226.104.0-172.226.104.255 172.226.106.0-172.226.106.255
      172.226.108.0-172.226.108.255 172.226.110.0-172.226.110.255 172.226.112.0-172.226.112.255
      172.226.116.0-172.226.116.255 172.226.118.0-172.226.118.255 172.226.120.0-172.226.120.255
      172.226.122.0-172.226.122.255 172.226.124.0-172.226.124.255 172.226.126.0-172.226.126.255
      172.226.128.0-172.226.128.255 172.226.131.0-172.226.132.255 172.226.134.0-172.226.134.255
      172.226.136.0-172.226.138.255 172.226.140.0-172.226.140.255 172.226.142.0-172.226.146.255
      172.226.148.0-172.226.148.255 172.226.150.0-172.226.153.255 172.226.156.0-172.226.156.255
      172.226.160.0-172.226.160.255 172.226.162.0-172.226.162.255 172.226.164.0-172.226.164.255
      172.226.166.0-172.226.172.255 172.226.174.0-172.226.180.255 172.226.182.0-172.226.184.255
      172.226.186.0-172.226.186.255 172.226.188.0-172.226.206.255 172.226.208.0-172.226.208.255
      172.226.212.0-172.226.212.255 172.226.214.0-172.226.214.255 172.226.216.0-172.226.216.255
      172.226.218.0-172.226.218.255 172.226.220.0-172.226.220.255 172.226.226.0-172.226.226.255
      2a02:26f7:3::/48 2a02:26f7:5::/48 2a02:26f7:7::/48 2a02:26f7:165::/48 2a02:26f7:166::/47
      2a02:26f7:168::/47 2a02:26f7:b018::/47 2a02:26f7:b020::/46 2a02:26f7:b0da::/47
      2a02:26f7:b0dc::/46 2a02:26f7:b482::/47 2a02:26f7:c3c0::/48 2a02:26f7:cbc6::/47
      2a02:26f7:ccc2::/47 2a02:26f7:f344::/47`
  }
] satisfies NetworkFamily[])

// ---------------------------------------------------------------------------------------
// Field facts that shape the rules without being a signal of their own (no reason code):
// what a rule above deliberately does or does not do, and where that comes from.

export interface FieldNote {
  readonly fact: string
  readonly use: string
  readonly source: string
}

export const FIELD_NOTES: readonly FieldNote[] = Object.freeze([
  {
    fact: 'Browsers send Fetch Metadata (Sec-Fetch-*) and client hints (Sec-CH-UA*) only to potentially trustworthy origins: https, and http on localhost, *.localhost, 127.0.0.0/8 and [::1]',
    use: 'fetch_metadata_missing, client_hints_missing and shadow_pair count only when the recipient reached the tracking host over a secure origin (the observation\'s scheme; unknown counts as not secure)',
    source: 'W3C Fetch Metadata and Secure Contexts §3.1; web-platform-tests fetch/metadata ("Not sent to non-trustworthy … destination"); Chromium services/network/sec_header_helpers.cc; mdn/content PR 44444'
  },
  {
    fact: 'Safe Links at the time of click makes no proxy request: Outlook checks the URL with a client-side API call and opens it in the browser, so the click comes from the recipient\'s own address. Hits from Microsoft addresses are delivery-time detonation',
    use: 'nothing flags a click for coming soon after a Microsoft scan, or for a Microsoft client; only the fetches from Microsoft\'s ranges are scanners',
    source: 'MicrosoftDocs/microsoft-365-docs PR 12815 (safe-links-about: "checked by a client-side API call to Safe Links at the time of click"); CLASSIFY.md field facts'
  },
  {
    fact: 'Outlook for iOS and Android use the same Safe Links API at click time (documented October 2025)',
    use: 'mobile Outlook clicks come from the phone and stay genuine; their delivery-time scans come from the Exchange Online Protection ranges like every other Safe Links scan',
    source: 'MicrosoftDocs/defender-docs PR 363 (2025-10-09)'
  },
  {
    fact: 'Apple Mail fetches a link for its hover (macOS) or long-press (iOS) preview with Safari\'s own agent and headers, from the recipient\'s address',
    use: 'no header separates it from the click: it is counted genuine (a known miss, labeled so in the corpus); only the person\'s real click minutes later tells, and that is not evidence enough to demote the first',
    source: 'gophish issues 499 and 1009'
  },
  {
    fact: 'The new Outlook (OneOutlook) is a real client and also fetches links itself on its Safe Links check',
    use: 'new_outlook_fetch adds 35, never decisive alone; the check pairs with the browser\'s navigation on the same link as a shadow pair even from the same address',
    source: 'next-auth issue 1840; Referalah issue 250'
  }
])

// ---------------------------------------------------------------------------------------
// The reason-code table (README and API docs are generated from it).

export interface ReasonCodeDoc {
  readonly meaning: string
  readonly source: string
  readonly kind: 'decisive' | 'additive'
  readonly weight: number
  readonly classification: SignalClass
}

function allSignals (): Signal[] {
  const out: Signal[] = []
  for (const f of LINK_PREVIEW_AGENTS) out.push(f.signal)
  for (const f of SCANNER_AGENTS) out.push(f.signal)
  for (const f of PRIVACY_AGENTS) out.push(f.signal)
  for (const n of NETWORKS) out.push(n.signal)
  for (const s of Object.values(SIGNALS)) out.push(s)
  return out
}

/** Every signal, in table order. */
export const ALL_SIGNALS: readonly Signal[] = Object.freeze(allSignals())

/** code → one-line meaning, source, kind and weight. */
export const REASON_CODES: Readonly<Record<string, ReasonCodeDoc>> = (() => {
  const table: Record<string, ReasonCodeDoc> = Object.create(null)
  for (const s of ALL_SIGNALS) {
    if (s.code in table) throw new Error(`duplicate reason code ${s.code}`)
    if (!/^[a-z][a-z0-9_]*$/.test(s.code)) throw new Error(`reason code ${s.code} is not snake_case`)
    table[s.code] = Object.freeze({ meaning: s.meaning, source: s.source, kind: s.kind, weight: s.weight, classification: s.classification })
  }
  return Object.freeze(table)
})()

function describeEffect (d: ReasonCodeDoc): string {
  if (d.kind === 'decisive') return `sets ${d.weight}`
  return d.weight >= 0 ? `+${d.weight}` : `${d.weight}`
}

function describeClass (c: SignalClass): string {
  if (c === null) return '—'
  if (c === 'dynamic') return 'security_scanner with scanner signals, else generic_bot'
  return c
}

/** The reason-code table as GitHub Markdown, for the README. */
export function reasonCodesMarkdown (): string {
  const esc = (s: string): string => s.replace(/\|/g, '\\|')
  const lines = [
    `Threshold: machine when probability ≥ ${THRESHOLD}. A decisive signal sets the probability (the highest wins);`,
    'additive points are added on top, or summed when nothing decisive fired. `reason_codes` lists the signals',
    'that pushed toward machine, strongest first, then `icloud_private_relay` when it applies; a genuine-ward',
    'signal (negative effect) only lowers the probability and is not listed.',
    '',
    '| reason code | effect | class | meaning | source |',
    '|---|---|---|---|---|'
  ]
  for (const [code, d] of Object.entries(REASON_CODES)) {
    lines.push(`| \`${code}\` | ${describeEffect(d)} | ${describeClass(d.classification)} | ${esc(d.meaning)} | ${esc(d.source)} |`)
  }
  lines.push('', '## Field facts behind the rules', '', '| fact | what the classifier does with it | source |', '|---|---|---|')
  for (const n of FIELD_NOTES) lines.push(`| ${esc(n.fact)} | ${esc(n.use)} | ${esc(n.source)} |`)
  return lines.join('\n') + '\n'
}
