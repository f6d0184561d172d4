/*
 * The records that travel between the stages, and the links between them. A leaf: it
 * imports nothing, so every stage can name them without naming another stage.
 *
 *   redirect ──ObservationSink──► ingest ──InsertedSink──► promotion ──ClickSink──► webhooks
 */

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
  /** UUID v4 from birth (the redirect names it): names the observation in ClickHouse, promotion and webhooks. */
  id: string
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
  blocked: boolean
  /** The project's click data retention, in days, when the click happened. */
  retentionDays: number
  method: 'GET' | 'HEAD'
  host: string
  /** The client: the rightmost untrusted X-Forwarded-For address when the peer is a trusted proxy, else the peer. */
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
  /**
   * The scheme the recipient used to reach the tracking host: 'https' or 'http', or '' when
   * it is not known (a custom domain behind a trusted proxy that sent no X-Forwarded-Proto).
   * Browsers send Fetch Metadata and client hints only to secure origins, so classification
   * weighs their absence only where a browser would have sent them (redirect/server.ts has
   * the rule).
   */
  scheme: string
  /** New Outlook's `x-native-host` header (`OneOutlook/…`): its own fetches carry it. */
  xNativeHost: string
  /**
   * A fetch of the message's honeypot link (its token carries HONEYPOT_LINK_INDEX;
   * rewrite/honeypot.ts): no person can reach it, so whoever fetched it is a scanner for the
   * message. Stored, never promoted to a click; classification evidence for its siblings.
   */
  honeypot: boolean
}

export type ObservationKey = keyof Observation

/** One field of an observation: its key, its ClickHouse column, and the request header it is read from. */
export interface ObservationField {
  readonly key: ObservationKey
  readonly column: string
  readonly type: 'string' | 'number' | 'boolean'
  /** Lower-case request header captured into this field (it starts as ''). */
  readonly header?: string
}

/**
 * The one field table of an observation, in click_observations column order. The row codec
 * (store/observations.ts), the column list of every query of the table, and the redirect
 * server's header capture (redirect/server.ts) are all derived from it, so a field is added
 * here once. (node_id is not an observation field: the store adds the node's id to each row.)
 */
export const OBSERVATION_FIELDS: readonly ObservationField[] = [
  { key: 'ts', column: 'ts', type: 'number' },
  { key: 'id', column: 'obs_id', type: 'string' },
  { key: 'sid', column: 'sid', type: 'string' },
  { key: 'messageId', column: 'message_id', type: 'string' },
  { key: 'linkIndex', column: 'link_index', type: 'number' },
  { key: 'sentAt', column: 'sent_at', type: 'number' },
  { key: 'url', column: 'url', type: 'string' },
  { key: 'kid', column: 'kid', type: 'number' },
  { key: 'retentionDays', column: 'retention_days', type: 'number' },
  { key: 'method', column: 'method', type: 'string' },
  { key: 'host', column: 'host', type: 'string' },
  { key: 'ip', column: 'ip', type: 'string' },
  { key: 'peerIp', column: 'peer_ip', type: 'string' },
  { key: 'userAgent', column: 'user_agent', type: 'string', header: 'user-agent' },
  { key: 'accept', column: 'accept', type: 'string', header: 'accept' },
  { key: 'acceptLanguage', column: 'accept_language', type: 'string', header: 'accept-language' },
  { key: 'acceptEncoding', column: 'accept_encoding', type: 'string', header: 'accept-encoding' },
  { key: 'secFetchSite', column: 'sec_fetch_site', type: 'string', header: 'sec-fetch-site' },
  { key: 'secFetchMode', column: 'sec_fetch_mode', type: 'string', header: 'sec-fetch-mode' },
  { key: 'secFetchDest', column: 'sec_fetch_dest', type: 'string', header: 'sec-fetch-dest' },
  { key: 'secFetchUser', column: 'sec_fetch_user', type: 'string', header: 'sec-fetch-user' },
  { key: 'secChUa', column: 'sec_ch_ua', type: 'string', header: 'sec-ch-ua' },
  { key: 'secChUaMobile', column: 'sec_ch_ua_mobile', type: 'string', header: 'sec-ch-ua-mobile' },
  { key: 'secChUaPlatform', column: 'sec_ch_ua_platform', type: 'string', header: 'sec-ch-ua-platform' },
  { key: 'secPurpose', column: 'sec_purpose', type: 'string', header: 'sec-purpose' },
  { key: 'purpose', column: 'purpose', type: 'string', header: 'purpose' },
  { key: 'xMoz', column: 'x_moz', type: 'string', header: 'x-moz' },
  { key: 'referer', column: 'referer', type: 'string', header: 'referer' },
  { key: 'via', column: 'via', type: 'string', header: 'via' },
  { key: 'dnt', column: 'dnt', type: 'string', header: 'dnt' },
  { key: 'upgradeInsecureRequests', column: 'upgrade_insecure_requests', type: 'string', header: 'upgrade-insecure-requests' },
  { key: 'blocked', column: 'blocked', type: 'boolean' },
  // Fields added after `blocked` follow it; a row spooled by an older version lacks them
  // (store/observations.ts reads such rows with the initial values).
  { key: 'scheme', column: 'scheme', type: 'string' },
  { key: 'xNativeHost', column: 'x_native_host', type: 'string', header: 'x-native-host' },
  { key: 'honeypot', column: 'honeypot', type: 'boolean' }
]

/** The first field added to the table after it shipped: rows spooled before it end here. */
export const LATE_FIELDS_FROM = OBSERVATION_FIELDS.findIndex(f => f.key === 'blocked')

const INITIAL = { string: "''", number: '0', boolean: 'false' } as const

/**
 * A new observation with every field at its initial value (header fields ''; `expired`, the
 * one field that is never stored, false), made by a
 * function generated from the table: one object literal with the fields in table order, so
 * every observation has the same shape (one hidden class on the hot path) and no field list
 * is written by hand.
 */

// eslint-disable-next-line no-new-func -- generated once at load from the field table (records.ts), never from input
export const newObservation = new Function(`return () => ({ ${OBSERVATION_FIELDS.map(f => `${f.key}: ${INITIAL[f.type]}`).join(', ')}, expired: false })`)() as () => Observation

const HEADER_FIELDS = OBSERVATION_FIELDS.filter(f => f.header !== undefined) as ReadonlyArray<ObservationField & { header: string }>

/**
 * A new observation whose header fields come from `headers` (lower-case names, as the field
 * table's), the rest at their initial values: for observations made from recorded requests
 * (the labeled corpus in tests and benchmarks). The redirect server does the same on its hot
 * path with a switch generated from the same table.
 */
export function observationFromHeaders (headers: Readonly<Record<string, string | undefined>>): Observation {
  const o = newObservation() as unknown as Record<string, unknown>
  for (const f of HEADER_FIELDS) o[f.key] = headers[f.header] ?? ''
  return o as unknown as Observation
}

/** Where the redirect server hands observations, in batches, off the request path. */
export interface ObservationSink {
  /** Takes ownership of `batch`. Must not throw; must not block for long. */
  write (batch: Observation[]): void
  /** Flushes what it can; called once on shutdown after the last write. */
  close (): Promise<void>
}

/** Where ingest hands what ClickHouse has stored (promotion). */
export interface InsertedSink {
  /** Observations ClickHouse acknowledged, in any order, possibly seen before (replays). */
  inserted (observations: Observation[]): void
  /**
   * The earliest capture time (ms) of an observation still on its way into ClickHouse, or
   * undefined when none is: nothing earlier will be handed over later (ingest's low watermark).
   */
  pendingSince (ts: number | undefined): void
}

/** Where promotion hands the clicks it stored (webhooks). */
export interface ClickSink {
  clicks (rows: ClickRow[]): void
}

/** SPEC §5 classifications. */
export type Classification = 'genuine' | 'privacy_proxy' | 'security_scanner' | 'link_preview' | 'generic_bot'

/** The spec's `bot` object (SPEC §5), exactly. */
export interface BotVerdict {
  detected: boolean
  /** P(machine), integer 0–100. */
  probability: number
  classification: Classification
  proxy_type: string | null
  reason_codes: string[]
  machine: boolean
  counts_for_metrics: boolean
}

/**
 * SPEC §6's device types. `device_type` is '' (null in webhooks) when the agent names no
 * device a person holds: an empty agent, a self-declared bot, a link-preview, scanner or
 * privacy-fetcher agent, or a platform we do not recognise (classify/ua.ts).
 */
export type DeviceType = 'desktop' | 'mobile' | 'tablet'
/** `bot`: previews, scanners, self-declared bots; `proxy`: a provider fetching for the user. */
export type ClientType = 'browser' | 'email_client' | 'app' | 'bot' | 'proxy' | 'unknown'

/** device_type, client_type, client_name (SPEC §6). */
export interface ClientFields {
  /** '' when not known (see DeviceType). */
  device_type: DeviceType | ''
  client_type: ClientType
  client_name: string
}

/** A promoted click: a row of the `clicks` table, and what webhooks are built from. */
export interface ClickRow {
  obs_id: string
  ts: number
  sid: string
  message_id: string
  /** The message's route; the zero UUID when the message is unknown. */
  route_id: string
  link_index: number
  sent_at: number
  recipient: string
  subject: string
  tag: string
  metadata: Record<string, string>
  destination_url: string
  anchor_text: string
  first_click: boolean
  device_type: string
  client_type: string
  client_name: string
  user_agent: string
  ip: string
  method: string
  bot: BotVerdict
  retention_days: number
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
