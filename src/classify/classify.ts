/**
 * The classifier: observation + context → the spec's `bot` object (SPEC §5). Pure and
 * deterministic — no I/O, no clock (time comes in as `ts` and `sentAt`), no shared state
 * beyond the agent memo — so it runs in piscina workers in batches and replays the same.
 *
 * How a verdict is made (weights and sources: signals.ts, background: CLASSIFY.md):
 * 1. Decisive signals, from our own lists first: link-preview, scanner and privacy agent
 *    families, the HeadlessChrome client-hint brand, prefetch headers, mail-security address
 *    ranges, HEAD, a missing agent, and last isbot. The highest decisive weight sets the
 *    probability.
 * 2. Additive signals add points: time since send, burst across links of the message, a
 *    shadow pair on one link, one address clicking for many recipients, vendor networks early
 *    after send, and — for agents that claim to be browsers — missing browser headers.
 *    Sec-Fetch-User subtracts. Without a decisive signal the sum is the probability.
 * 3. machine = probability ≥ THRESHOLD; the class is that of the strongest signal that fired,
 *    else genuine.
 */
import type { BotVerdict, Observation } from '../records.js'
export type { BotVerdict }
import { lookupNetwork } from './ranges.js'
import {
  ANONYMOUS_CLIENT_IP, HEADLESS_BRAND, PARAMS, PREFETCH, SIGNALS, THRESHOLD,
  type Classification, type Signal
} from './signals.js'
import { parseAgent, type AgentInfo } from './ua.js'

export { FIELD_NOTES, REASON_CODES, reasonCodesMarkdown, THRESHOLD, type Classification } from './signals.js'

/** The Observation fields the classifier reads. Header fields hold '' when absent. */
export type ClassifyInput = Pick<Observation,
  'ts' | 'sentAt' | 'ip' | 'userAgent' | 'accept' | 'acceptLanguage' |
  'secFetchSite' | 'secFetchMode' | 'secFetchDest' | 'secFetchUser' | 'secChUa' |
  'secPurpose' | 'purpose' | 'xMoz' | 'messageId' | 'linkIndex'
> & {
  /** A fetch of the message's honeypot link (Observation.honeypot); absent = false. */
  honeypot?: boolean
  /** GET, HEAD (or OPTIONS, should the server ever route it). */
  method: string
  /**
   * Whether the recipient reached the tracking host over a secure origin (isSecureOrigin of
   * the observation's scheme and host): browsers send Fetch Metadata and client hints only
   * there, so their absence is weighed only then. Promotion always sets it; absent means true
   * (tracked links are https in SPEC §1), for callers that classify recorded requests.
   */
  secure?: boolean
  /** The `x-native-host` header ('' when absent); absent field = ''. */
  xNativeHost?: string
}

export interface ClassifyContext {
  /**
   * The other observations of the same message inside the promotion window, for the burst
   * and shadow-pair signals. May include the observation itself (harmless: a copy of
   * itself adds no distinct link and is no pair). Empty or absent for a provisional verdict.
   */
  readonly siblings?: readonly ClassifyInput[]
  /** How many tracked links the message has, when known (for "every link fetched"). */
  readonly linkCount?: number
  /**
   * How many distinct messages (recipients) this address clicked recently, as the promotion
   * layer counts them. It must not count link-preview hits: iMessage previews come from the
   * recipient's own address.
   */
  readonly addressRecipients?: number
}

/** The spec's `bot` object, exactly. */

// ---------------------------------------------------------------------------------------

const MS_PER_MAJOR = PARAMS.chromeDaysPerMajor * 86_400_000
/** Security-scanner evidence strong enough to turn HEAD or a missing agent into a scanner verdict. */
const SCANNER_EVIDENCE = 25

/** Chrome's stable major at time `ts` (ms), estimated from the release train, never the clock. */
export function chromeMajorAt (ts: number): number {
  return PARAMS.chromeAnchorMajor + Math.floor((ts - PARAMS.chromeAnchorMs) / MS_PER_MAJOR)
}

/**
 * Whether a browser treats the origin as potentially trustworthy (Secure Contexts §3.1), so
 * that it sends Fetch Metadata and client hints there: https, and http on localhost,
 * `*.localhost`, 127.0.0.0/8 and [::1]. `scheme` is the observation's ('https', 'http', or ''
 * when not known: not secure, as nothing says a browser would have sent the headers); `host`
 * its Host header. No allocation beyond a lower-cased copy of a Host with capitals.
 */
export function isSecureOrigin (scheme: string, host: string): boolean {
  if (scheme === 'https') return true
  if (scheme !== 'http') return false
  let h = host
  if (h.charCodeAt(0) === 0x5b) return h.startsWith('[::1]') // '[' (IPv6 literal, optional port)
  const colon = h.lastIndexOf(':')
  if (colon !== -1) h = h.slice(0, colon)
  if (h.endsWith('.')) h = h.slice(0, -1)
  if (UPPER.test(h)) h = h.toLowerCase()
  return h === 'localhost' || h.endsWith('.localhost') || LOOPBACK_V4.test(h)
}
const LOOPBACK_V4 = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/
const UPPER = /[A-Z]/

function isNavigation (o: ClassifyInput): boolean {
  return o.secFetchMode === 'navigate' && o.secFetchDest === 'document'
}

// Header tokens are matched case-insensitively with regexes compiled once (no per-call
// lower-casing of long headers such as Accept).
function tokenMatcher (token: string): RegExp {
  return new RegExp(token.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'), 'i')
}
const PREFETCH_RE = tokenMatcher(PREFETCH)
const ANONYMOUS_RE = tokenMatcher(ANONYMOUS_CLIENT_IP)
const HEADLESS_RE = tokenMatcher(HEADLESS_BRAND)
const HTML_RE = tokenMatcher('text/html')
const ONE_OUTLOOK_RE = tokenMatcher('oneoutlook')

/** The new Outlook fetched: its agent token, or its x-native-host header. */
function isNewOutlook (o: ClassifyInput, agent: AgentInfo): boolean {
  return agent.newOutlook || (o.xNativeHost !== undefined && o.xNativeHost.length > 0 && ONE_OUTLOOK_RE.test(o.xNativeHost))
}

/** Seconds from send to this request, or NaN when the send time is unknown. Clock skew → 0. */
function secondsSinceSend (o: ClassifyInput): number {
  if (!(o.sentAt > 0)) return NaN
  const d = o.ts / 1000 - o.sentAt
  return d > 0 ? d : 0
}

/** ≥ burstMinLinks distinct links of the message inside one burstWindowMs window that holds `obs`. */
function inBurst (obs: ClassifyInput, siblings: readonly ClassifyInput[]): boolean {
  const w = PARAMS.burstWindowMs
  let near: ClassifyInput[] | undefined
  for (const s of siblings) {
    if (s.messageId !== obs.messageId || s.linkIndex === obs.linkIndex || !sameFetcher(s, obs)) continue
    if (s.ts >= obs.ts - w && s.ts <= obs.ts + w) (near ??= []).push(s)
  }
  if (near === undefined || near.length < PARAMS.burstMinLinks - 1) return false
  // Slide a window [start, start + w] over the starts that keep `obs` inside it.
  const starts = [obs.ts]
  for (const s of near) if (s.ts < obs.ts) starts.push(s.ts)
  const links = new Set<number>()
  for (const start of starts) {
    links.clear()
    links.add(obs.linkIndex)
    for (const s of near) if (s.ts >= start && s.ts <= start + w) links.add(s.linkIndex)
    if (links.size >= PARAMS.burstMinLinks) return true
  }
  return false
}

/** Every link of a message with ≥ allLinksMinLinks links fetched within allLinksSpanMs of `obs`. */
function allLinksFetched (obs: ClassifyInput, siblings: readonly ClassifyInput[], linkCount: number | undefined): boolean {
  if (linkCount === undefined || linkCount < PARAMS.allLinksMinLinks) return false
  const span = PARAMS.allLinksSpanMs
  const links = new Set<number>([obs.linkIndex])
  for (const s of siblings) {
    if (s.messageId !== obs.messageId || !sameFetcher(s, obs)) continue
    if (s.ts >= obs.ts - span && s.ts <= obs.ts + span) links.add(s.linkIndex)
  }
  return links.size >= linkCount
}

/**
 * A burst is one fetcher going through the links: siblings count only when they carry the
 * same user agent. Scanners spread a burst over several addresses of their range but keep
 * their agent; a person who clicks one link after a scanner fetched them all has another
 * agent, and must not be counted into the scanner's burst (seen end to end: without this,
 * the human click after a Safe Links burst was flagged burst_all_links).
 */
function sameFetcher (a: ClassifyInput, b: ClassifyInput): boolean {
  return a.userAgent === b.userAgent
}

/**
 * Shadow pair: the same link again within pairWindowMs from another address or OS, the
 * other request a browser navigation and this one not. Only judged when this agent would
 * send navigation headers (a modern browser over a secure origin) or is no browser at all;
 * in-app web views are left alone (they may omit Fetch Metadata). The new Outlook's own
 * fetch pairs with the browser it opens the link in even on the same address and OS: that
 * is how its Safe Links check looks.
 */
function isShadow (obs: ClassifyInput, agent: AgentInfo, siblings: readonly ClassifyInput[], secure: boolean, newOutlook: boolean): boolean {
  if (isNavigation(obs) || agent.inApp) return false
  if (agent.browserLike && (!agent.fetchMetadata || !secure)) return false
  for (const s of siblings) {
    if (s.messageId !== obs.messageId || s.linkIndex !== obs.linkIndex) continue
    if (Math.abs(s.ts - obs.ts) > PARAMS.pairWindowMs || !isNavigation(s)) continue
    const other = parseAgent(s.userAgent)
    if (other.family !== undefined || other.isBot) continue
    if (newOutlook && !isNewOutlook(s, other)) return true
    if (s.ip !== obs.ip || other.osName !== agent.osName) return true
  }
  return false
}

/**
 * The same fetcher (address and agent) fetched this message's honeypot link: the message's
 * siblings are one promotion window's observations, so its clicks in that window are judged
 * with it. Another address or agent (the person, clicking after a scanner) is not touched.
 */
function hitHoneypot (obs: ClassifyInput, siblings: readonly ClassifyInput[]): boolean {
  for (const s of siblings) {
    if (s.honeypot === true && s.messageId === obs.messageId && s.ip === obs.ip && s.userAgent === obs.userAgent) return true
  }
  return false
}

const EMPTY: readonly ClassifyInput[] = Object.freeze([])

/** Classifies one observation. */
export function classify (obs: ClassifyInput, context: ClassifyContext = {}): BotVerdict {
  // Evaluation order is also the tie-break order for the class: agent families, then request
  // signals, then context, then browser headers.
  const fired: Signal[] = []
  const agent = parseAgent(obs.userAgent)
  const since = secondsSinceSend(obs)
  const siblings = context.siblings ?? EMPTY

  // Decisive: our own evidence first — the honeypot link, which no person reaches — then our
  // own agent families.
  if (obs.honeypot === true || hitHoneypot(obs, siblings)) fire(fired, SIGNALS.honeypotHit)
  if (agent.family !== undefined) fired.push(agent.family.signal)
  if (obs.secChUa.length > 0 && HEADLESS_RE.test(obs.secChUa)) fire(fired, SIGNALS.headlessBrand)
  if (obs.secPurpose.length > 0 && PREFETCH_RE.test(obs.secPurpose)) {
    fire(fired, ANONYMOUS_RE.test(obs.secPurpose) ? SIGNALS.privacyChromePrefetch : SIGNALS.prefetchHeader)
  } else if ((obs.purpose.length > 0 && PREFETCH_RE.test(obs.purpose)) || (obs.xMoz.length > 0 && PREFETCH_RE.test(obs.xMoz))) {
    fire(fired, SIGNALS.prefetchHeader)
  }
  const network = lookupNetwork(obs.ip)
  let relay: Signal | undefined
  if (network !== undefined) {
    if (network.role === 'scanner') fire(fired, network.signal)
    else if (network.role === 'vendor') {
      if (since <= PARAMS.vendorEarlySeconds) fire(fired, network.signal) // NaN (unknown send time) → no
    } else relay = network.signal
  }
  const method = obs.method.toUpperCase()
  if (method === 'HEAD' || method === 'OPTIONS') fire(fired, SIGNALS.method)
  if (obs.userAgent.trim().length === 0) fire(fired, SIGNALS.agentMissing)
  if (agent.isBot) fire(fired, SIGNALS.isbot)

  // Additive: time and context.
  if (since < PARAMS.sentStrongS) fire(fired, SIGNALS.sentStrong)
  else if (since < PARAMS.sentMediumS) fire(fired, SIGNALS.sentMedium)
  else if (since < PARAMS.sentWeakS) fire(fired, SIGNALS.sentWeak)
  const secure = obs.secure ?? true
  const newOutlook = isNewOutlook(obs, agent)
  if (siblings.length > 0) {
    if (inBurst(obs, siblings)) fire(fired, SIGNALS.burst)
    else if (allLinksFetched(obs, siblings, context.linkCount)) fire(fired, SIGNALS.burstAll)
    if (isShadow(obs, agent, siblings, secure, newOutlook)) fire(fired, SIGNALS.shadowPair)
  }
  if ((context.addressRecipients ?? 0) >= PARAMS.manyRecipients) fire(fired, SIGNALS.manyRecipients)
  if (newOutlook) fire(fired, SIGNALS.newOutlook)

  // Additive: browser headers, for agents that claim to be browsers and are not already known.
  // Fetch Metadata and client hints only count where a browser sends them: a secure origin.
  if (agent.browserLike && agent.family === undefined) {
    if (secure && agent.fetchMetadata && !isNavigation(obs)) {
      fire(fired, agent.inApp ? SIGNALS.fetchMetadataMissingInApp : SIGNALS.fetchMetadataMissing)
    }
    if (obs.secFetchUser === '?1') fire(fired, SIGNALS.secFetchUser)
    if (obs.acceptLanguage.length === 0) fire(fired, SIGNALS.acceptLanguageMissing)
    if (secure && agent.clientHints && obs.secChUa.length === 0) fire(fired, SIGNALS.clientHintsMissing)
    if (agent.chromeMajor > 0 && agent.chromeMajor <= chromeMajorAt(obs.ts) - PARAMS.chromeStaleMajors) fire(fired, SIGNALS.chromeStale)
    if (!HTML_RE.test(obs.accept)) fire(fired, SIGNALS.acceptNotHtml)
  }

  return verdict(fired, relay)
}

function fire (fired: Signal[], signal: Signal): void {
  fired.push(signal)
}

function verdict (fired: readonly Signal[], relay: Signal | undefined): BotVerdict {
  let decisive = -1
  let positive = 0
  let negative = 0
  let scannerEvidence = false
  for (const f of fired) {
    if (f.kind === 'decisive') {
      if (f.weight > decisive) decisive = f.weight
    } else if (f.weight > 0) positive += f.weight
    else negative += f.weight
    if (f.classification === 'security_scanner' && f.weight >= SCANNER_EVIDENCE) scannerEvidence = true
  }
  const raw = decisive >= 0 ? decisive + positive : positive + negative
  const probability = raw < 0 ? 0 : raw > 100 ? 100 : Math.round(raw)
  const machine = probability >= THRESHOLD

  let classification: Classification = 'genuine'
  let proxyType: string | null = null
  if (machine) {
    // The strongest signal that votes for a class; the earlier one wins a tie.
    let strongest: Signal | undefined
    let strongestPoints = 0
    for (const f of fired) {
      if (f.classification !== null && f.weight > strongestPoints) { strongest = f; strongestPoints = f.weight }
    }
    if (strongest !== undefined) {
      const c = strongest.classification
      classification = c === 'dynamic' ? (scannerEvidence ? 'security_scanner' : 'generic_bot') : c as Classification
      proxyType = strongest.proxyType ?? null
      // A class-level signal (a burst, a shadow pair) names no fetcher: the strongest signal
      // of the same class that does, names it (the new Outlook's check paired with its click).
      if (proxyType === null) {
        let named = 0
        for (const f of fired) {
          if (f.proxyType !== undefined && f.classification === c && f.weight > named) { proxyType = f.proxyType; named = f.weight }
        }
      }
    } else {
      classification = 'generic_bot'
    }
  }
  if (proxyType === null && relay !== undefined) proxyType = relay.proxyType ?? null

  // Reasons: what pushed toward machine, strongest first (stable), then the relay note.
  const pushing = fired.filter(f => f.weight > 0)
  pushing.sort((a, b) => kindRank(b) - kindRank(a) || b.weight - a.weight)
  const reasonCodes = pushing.map(f => f.code)
  if (relay !== undefined) reasonCodes.push(relay.code)

  return {
    detected: machine,
    probability,
    classification,
    proxy_type: proxyType,
    reason_codes: reasonCodes,
    machine,
    counts_for_metrics: !machine
  }
}

function kindRank (s: Signal): number { return s.kind === 'decisive' ? 1 : 0 }

// ---------------------------------------------------------------------------------------

/** What the piscina worker receives: one observation and its context. */
export interface ClassifyItem {
  obs: ClassifyInput
  context?: ClassifyContext
}

/** Classifies a batch (the worker-thread entry point's unit of work). */
export function classifyBatch (items: readonly ClassifyItem[]): BotVerdict[] {
  const out = new Array<BotVerdict>(items.length)
  for (let i = 0; i < items.length; i++) out[i] = classify(items[i].obs, items[i].context)
  return out
}

export interface GroupOptions {
  /** Tracked-link count per message id, when known. */
  linkCount?: (messageId: string) => number | undefined
  /** Distinct recipients per address, when the caller tracks them. */
  addressRecipients?: (ip: string) => number | undefined
}

/**
 * Classifies observations of one or more messages as final verdicts: each observation's
 * context is every observation of its message in `observations` (the caller passes one
 * promotion window's worth). Verdicts come back in input order, for the observations at
 * `judge` (default: all; the others are context only). The one batch path: the worker
 * pool's task (batch.ts) runs this too.
 */
export function classifyGroup (observations: readonly ClassifyInput[], options: GroupOptions = {}, judge?: readonly number[]): BotVerdict[] {
  const byMessage = new Map<string, ClassifyInput[]>()
  for (const o of observations) {
    const list = byMessage.get(o.messageId)
    if (list === undefined) byMessage.set(o.messageId, [o])
    else list.push(o)
  }
  const one = (o: ClassifyInput): BotVerdict => classify(o, {
    siblings: byMessage.get(o.messageId),
    linkCount: options.linkCount?.(o.messageId),
    addressRecipients: options.addressRecipients?.(o.ip)
  })
  return judge === undefined ? observations.map(one) : judge.map(i => one(observations[i]))
}
