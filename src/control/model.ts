/** The control plane's records, as stored (snake_case, like the Team API's JSON). Times are unix ms. */

export const ROUTE_TYPES = ['transactional', 'broadcast', 'inbound'] as const
export type RouteType = typeof ROUTE_TYPES[number]
export const WEBHOOK_EVENTS = ['message.clicked'] as const

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
  created_at: number
  updated_at: number
}
export interface Route {
  route_id: string
  project_id: string
  team_id: string
  name: string
  type: RouteType
  track_clicks: boolean
  created_at: number
  updated_at: number
}
export interface Webhook {
  webhook_id: string
  project_id: string
  team_id: string
  url: string
  secret: string
  events: string[]
  include_machine_events: boolean
  enabled: boolean
  created_at: number
  updated_at: number
}
export interface TrackingDomain { hostname: string, project_id: string, team_id: string, created_at: number }

export interface Tables {
  teams: Team
  api_tokens: ApiToken
  projects: Project
  routes: Route
  webhooks: Webhook
  tracking_domains: TrackingDomain
}
export type TableName = keyof Tables

/** Primary key column of each table. */
export const KEYS: { [T in TableName]: keyof Tables[T] & string } = {
  teams: 'team_id',
  api_tokens: 'token_id',
  projects: 'project_id',
  routes: 'route_id',
  webhooks: 'webhook_id',
  tracking_domains: 'hostname'
}

/** Columns holding times (unix ms in memory, DateTime64(3) in ClickHouse). */
export const TIME_COLUMNS = new Set(['created_at', 'updated_at'])
