import { DEFAULT_IP_ADDRESSES, type DomainClaim, type Project, type Route, type Webhook } from '../control/model.js'
import type { DnsRecord } from '../control/domains.js'
import { slugOf } from '../control/projects.js'

const iso = (ms: number): string => new Date(ms).toISOString()

/** What a project's view needs of the rest of the snapshot (Lettermint's derived fields). */
export interface ProjectFacts {
  /** The project's routes, oldest first. */
  routes: readonly Route[]
  domainsCount: number
}

/**
 * clicktrail's fields (`project_id`, `sid`, `tracking_host`, …) and, beside them, Lettermint's
 * ProjectData: `id`, and what a click-tracking engine can truthfully say of the rest —
 * `smtp_enabled` false (clicktrail sends no mail), no project sending token (`token_*` null),
 * `default_route_id` the oldest route, `last_28_days` null (clicktrail does not see deliveries).
 */
export function projectView (p: Project, trackingHost: string, facts?: ProjectFacts): Record<string, unknown> {
  const v: Record<string, unknown> = { id: p.project_id, project_id: p.project_id, sid: p.sid, name: p.name, token_ttl_days: p.token_ttl_days, retention_days: p.retention_days, ip_addresses: p.ip_addresses ?? DEFAULT_IP_ADDRESSES, tracking_host: `p${p.sid}.${trackingHost}` }
  if (facts !== undefined) {
    Object.assign(v, {
      smtp_enabled: false,
      redact_email_content: false,
      default_route_id: facts.routes[0]?.route_id ?? null,
      token_generated_at: null,
      token_last_used_at: null,
      token_last_used_ip: null,
      routes_count: facts.routes.length,
      domains_count: facts.domainsCount,
      last_28_days: null
    })
  }
  v.created_at = iso(p.created_at)
  v.updated_at = iso(p.updated_at)
  return v
}

/**
 * clicktrail's fields (`route_id`, `type`, `track_clicks`) and Lettermint's RouteData beside
 * them: `id`, `slug`, `route_type`, `is_default` (the project's oldest route),
 * `settings.track_clicks`, `webhooks_count` (webhooks scoped to this route), and
 * `suppressed_recipients_count` 0 (clicktrail keeps no suppressions).
 */
export function routeView (r: Route, facts?: { isDefault: boolean, webhooksCount: number }): Record<string, unknown> {
  return {
    id: r.route_id,
    route_id: r.route_id,
    project_id: r.project_id,
    slug: slugOf(r),
    name: r.name,
    route_type: r.type,
    type: r.type,
    is_default: facts?.isDefault ?? false,
    track_clicks: r.track_clicks,
    honeypot_link: r.honeypot_link === true,
    settings: { track_clicks: r.track_clicks, honeypot_link: r.honeypot_link === true },
    webhooks_count: facts?.webhooksCount ?? 0,
    suppressed_recipients_count: 0,
    created_at: iso(r.created_at),
    updated_at: iso(r.updated_at)
  }
}

/**
 * clicktrail's fields (`webhook_id`, `project_id`) and Lettermint's WebhookData beside them
 * (`id`, `route_id` — null for a webhook of the whole project —, `name`, `last_called_at`).
 * The secret is shown in the answer to the create call and to regenerate-secret; never again.
 */
export function webhookView (w: Webhook, withSecret = false, lastCalledAt?: number): Record<string, unknown> {
  const v: Record<string, unknown> = { id: w.webhook_id, webhook_id: w.webhook_id, project_id: w.project_id, route_id: w.route_id === '' ? null : w.route_id, name: w.name, url: w.url, events: w.events, include_machine_events: w.include_machine_events, enabled: w.enabled }
  if (withSecret) v.secret = w.secret
  v.last_called_at = lastCalledAt === undefined || lastCalledAt === 0 ? null : iso(lastCalledAt)
  v.created_at = iso(w.created_at)
  v.updated_at = iso(w.updated_at)
  return v
}

const isoOrNull = (ms: number): string | null => ms === 0 ? null : iso(ms)

/**
 * Lettermint's domain shape where it has one (`status`, `status_changed_at`, `dns_records`
 * with `type`, `hostname`, `fqdn`, `content`, `status`); `hostname` names the domain as before.
 * `dns_error` is there when the check just made could not get an answer from DNS.
 */
export function domainView (d: DomainClaim, records: DnsRecord[], dnsError?: string): Record<string, unknown> {
  return {
    hostname: d.hostname,
    project_id: d.project_id,
    status: d.status,
    status_changed_at: iso(d.status_changed_at),
    verified_by: d.verified_by === '' ? null : d.verified_by,
    created_at: iso(d.created_at),
    last_checked_at: isoOrNull(d.checked_at),
    verified_at: isoOrNull(d.verified_at),
    dns_records: records,
    ...(dnsError === undefined ? {} : { dns_error: dnsError })
  }
}
