import type { DomainClaim, Project, Route, Webhook } from '../control/model.js'
import type { DnsRecord } from '../control/domains.js'

const iso = (ms: number): string => new Date(ms).toISOString()

export function projectView (p: Project, trackingHost: string): Record<string, unknown> {
  return { project_id: p.project_id, sid: p.sid, name: p.name, token_ttl_days: p.token_ttl_days, retention_days: p.retention_days, tracking_host: `p${p.sid}.${trackingHost}`, created_at: iso(p.created_at), updated_at: iso(p.updated_at) }
}

export function routeView (r: Route): Record<string, unknown> {
  return { route_id: r.route_id, project_id: r.project_id, name: r.name, type: r.type, track_clicks: r.track_clicks, created_at: iso(r.created_at), updated_at: iso(r.updated_at) }
}

/** The secret is shown once, in the answer to the create call; never again. */
export function webhookView (w: Webhook, withSecret = false): Record<string, unknown> {
  const v: Record<string, unknown> = { webhook_id: w.webhook_id, project_id: w.project_id, url: w.url, events: w.events, include_machine_events: w.include_machine_events, enabled: w.enabled, created_at: iso(w.created_at), updated_at: iso(w.updated_at) }
  if (withSecret) v.secret = w.secret
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
