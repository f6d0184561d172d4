/** The control plane's records, as stored (snake_case, like the Team API's JSON). Times are unix ms. */
import type { Block } from './blocks.js'
import type { IpAddressMode } from '../store/privacy.js'
export { DEFAULT_IP_ADDRESSES, IP_ADDRESS_MODES, type IpAddressMode } from '../store/privacy.js'

export const ROUTE_TYPES = ['transactional', 'broadcast', 'inbound'] as const
export type RouteType = typeof ROUTE_TYPES[number]
export const WEBHOOK_EVENTS = ['message.clicked', 'message.click_reclassified'] as const

/** Defaults of a new project. */
export const DEFAULT_TOKEN_TTL_DAYS = 30
/** 400 days: a full year plus a month, so that year-over-year reports still have last year's month. */
export const DEFAULT_RETENTION_DAYS = 400

export interface Team { team_id: string, name: string, created_at: number }
export interface ApiToken { token_id: string, team_id: string, name: string, token_hash: string, created_at: number }
export interface Project {
  project_id: string
  team_id: string
  sid: string
  name: string
  token_ttl_days: number
  retention_days: number
  /** What is kept of recipients' addresses after the late-evidence horizon (store/privacy.ts). */
  ip_addresses: IpAddressMode
  created_at: number
  updated_at: number
}
export interface Route {
  route_id: string
  project_id: string
  team_id: string
  name: string
  /** Its name within the project (Lettermint's `slug`); '' for routes made before slugs (the API shows one from the name). */
  slug: string
  type: RouteType
  track_clicks: boolean
  /** Add one honeypot link to each tracked message (rewrite/honeypot.ts); false for routes made before the setting. */
  honeypot_link: boolean
  created_at: number
  updated_at: number
}
export interface Webhook {
  webhook_id: string
  project_id: string
  /** The route whose clicks it gets; '' = every route of the project. */
  route_id: string
  name: string
  team_id: string
  url: string
  secret: string
  events: string[]
  include_machine_events: boolean
  enabled: boolean
  created_at: number
  updated_at: number
}
/**
 * A project's claim of a unique key (its sid; a tracking hostname). Claims are rows keyed by
 * (key, claimant), so two claims never overwrite each other; `claim_seq` is stamped by
 * ClickHouse when the claim is first inserted (unix µs, `DEFAULT now64(6)`), and of the live
 * claims of one key the smallest (claim_seq, project_id) wins, on every node alike.
 */
export interface SidClaim { sid: string, project_id: string, claim_seq: number, created_at: number }

/** Lettermint's domain states (minus `partially_verified`: one of our two records suffices). */
export const DOMAIN_STATUSES = ['pending_verification', 'verified', 'failed_verification'] as const
export type DomainStatus = typeof DOMAIN_STATUSES[number]

/** A project's claim of a custom tracking hostname, and its DNS verification. Times: unix ms, 0 = never. */
export interface DomainClaim {
  hostname: string
  project_id: string
  team_id: string
  status: DomainStatus
  /** `clicktrail-verify=<token>` in TXT `_clicktrail.<hostname>` proves control of the name. */
  verification_token: string
  /** Which record proved it: 'cname', 'txt', or 'migrated' (accepted before verification existed). */
  verified_by: string
  claim_seq: number
  created_at: number
  checked_at: number
  verified_at: number
  status_changed_at: number
}

export interface Tables {
  teams: Team
  api_tokens: ApiToken
  projects: Project
  routes: Route
  webhooks: Webhook
  sid_claims: SidClaim
  domain_claims: DomainClaim
  blocks: Block
}
export type TableName = keyof Tables

/** Primary key columns of each table (the ORDER BY of its ReplacingMergeTree). */
export const KEYS: { [T in TableName]: Array<keyof Tables[T] & string> } = {
  teams: ['team_id'],
  api_tokens: ['token_id'],
  projects: ['project_id'],
  routes: ['route_id'],
  webhooks: ['webhook_id'],
  sid_claims: ['sid', 'project_id'],
  domain_claims: ['hostname', 'project_id'],
  blocks: ['block_id']
}

/** The snapshot map key of a row: its key columns joined by a space (no key column holds one). */
export function keyOf<T extends TableName> (table: T, row: Tables[T]): string {
  const cols = KEYS[table]
  if (cols.length === 1) return String(row[cols[0]])
  return cols.map(c => String(row[c])).join(' ')
}

/** Columns holding times (unix ms in memory, DateTime64(3) in ClickHouse). */
export const TIME_COLUMNS = new Set(['created_at', 'updated_at', 'checked_at', 'verified_at', 'status_changed_at'])
/** UInt64 columns (read back as quoted strings) that the snapshot keeps as numbers. */
export const NUMBER_COLUMNS = new Set(['claim_seq'])
