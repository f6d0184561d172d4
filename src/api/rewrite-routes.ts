import { randomUUID } from 'node:crypto'
import libmime from 'libmime'
import type { Route } from '../control/model.js'
import type { KeyRing } from '../token/keys.js'
import type { RewritePool, TrackingConfig } from '../pool/pool.js'
import type { LinkRecord } from '../rewrite/html.js'
import type { BatchedWriter } from '../store/batched.js'
import type { MessageDirectory } from '../promote/messages.js'
import type { ControlPlane } from '../control/plane.js'
import { invalid, notFound } from './errors.js'
import type { Ctx, RouteDef } from './routes.js'

export interface RewriteServices {
  pool: RewritePool
  /** Master secrets, handed to workers so they mint with the same keys. */
  secrets: Array<{ kid: number, secret: Uint8Array }>
  keys: KeyRing
  trackingBaseUrl: string
  maxUrlBytes: number
  staticDomains: string[]
  messages: BatchedWriter
  links: BatchedWriter
  directory: MessageDirectory
}

const MAX_REWRITE_BODY = 10 * 1024 * 1024

type TrackingReason = 'route_setting' | 'per_email_override' | 'inbound_route'

/** effective = per-email override if given, else the route's track_clicks; inbound routes never. */
export function decideTracking (route: Route, override: boolean | undefined): { enabled: boolean, reason: TrackingReason } {
  if (route.type === 'inbound') return { enabled: false, reason: 'inbound_route' }
  if (override !== undefined) return { enabled: override, reason: 'per_email_override' }
  return { enabled: route.track_clicks, reason: 'route_setting' }
}

function ownRoute (ctx: Ctx, id: string | undefined): Route {
  const r = id === undefined ? undefined : ctx.plane.route(id)
  if (r === undefined || r.team_id !== ctx.teamId) throw notFound('route')
  return r
}

function trackingConfig (s: RewriteServices, plane: ControlPlane, route: Route): TrackingConfig {
  const project = plane.project(route.project_id)
  if (project === undefined) throw notFound('project')
  return {
    secrets: s.secrets,
    sid: project.sid,
    trackingBaseUrl: s.trackingBaseUrl,
    // Already tracked: the operator's hosts (the tracking base and its subdomains, which the
    // predicate adds itself, and --domain) and this project's own verified domains. Another
    // team's domain, or one not yet verified, is an ordinary site whose links are tracked.
    customDomains: [...s.staticDomains, ...plane.verifiedDomains(project.project_id)],
    maxUrlBytes: s.maxUrlBytes
  }
}

interface Recorded { messageId: string, recipient: string, sender: string, subject: string, tag: string, metadata: Record<string, string>, sentAt: number, tracking: { enabled: boolean, reason: string }, links: LinkRecord[] }

/** messages + message_links rows for one rewritten message, through the batched writers. */
function record (s: RewriteServices, plane: ControlPlane, route: Route, m: Recorded): void {
  const project = plane.project(route.project_id)
  if (project === undefined) return
  s.messages.add([{
    message_id: m.messageId, sid: project.sid, project_id: project.project_id, route_id: route.route_id, recipient: m.recipient, sender: m.sender,
    subject: m.subject, tag: m.tag, metadata: m.metadata, sent_at: m.sentAt, tracking: m.tracking.enabled, tracking_reason: m.tracking.reason,
    link_count: m.links.filter(l => l.tracked).length, retention_days: project.retention_days
  }])
  s.links.add(m.links.map(l => ({
    message_id: m.messageId, sid: project.sid, link_index: l.index, url: l.url, anchor_text: l.anchor_text, tracked: m.tracking.enabled && l.tracked,
    skip_reason: l.tracked ? (m.tracking.enabled ? '' : 'tracking_disabled') : (l.reason ?? ''), sent_at: m.sentAt, retention_days: project.retention_days
  })))
  // Promotion may need it before the batched insert lands.
  s.directory.remember(project.sid, m.messageId, {
    recipient: m.recipient, subject: m.subject, tag: m.tag, metadata: m.metadata, linkCount: m.links.filter(l => l.tracked).length,
    links: new Map(m.links.map(l => [l.index, { url: l.url, anchorText: l.anchor_text }]))
  })
}

function linkView (l: LinkRecord, enabled: boolean): Record<string, unknown> {
  if (l.tracked && !enabled) return { index: l.index, url: l.url, anchor_text: l.anchor_text, tracked: false, reason: 'tracking_disabled' }
  return { index: l.index, url: l.url, anchor_text: l.anchor_text, tracked: l.tracked, ...(l.reason === undefined ? {} : { reason: l.reason }), ...(l.code === undefined ? {} : { code: l.code }) }
}

export function rewriteRoutes (s: RewriteServices): RouteDef[] {
  return [
    {
      method: 'post', path: '/v1/rewrite', operationId: 'rewrite', summary: 'Rewrite the links of an email for each recipient (API sends)', tag: 'rewriting',
      request: 'RewriteRequest', response: { status: 200, schema: 'RewriteResult' }, errors: [400, 404, 413, 422], maxBody: MAX_REWRITE_BODY,
      async handler (ctx) {
        const b = ctx.body as { route_id: string, from: string, to: string[], subject?: string, html: string, text?: string, tag?: string, metadata?: Record<string, string>, settings?: { track_clicks?: boolean }, message_id?: string, sent_at?: string }
        const route = ownRoute(ctx, b.route_id)
        if (b.message_id !== undefined && b.to.length !== 1) throw invalid('message_id can only be given with a single recipient', { field: 'message_id' })
        const sentMs = b.sent_at === undefined ? Date.now() : Date.parse(b.sent_at)
        if (Number.isNaN(sentMs)) throw invalid('field "sent_at" must be an ISO 8601 time', { field: 'sent_at' })
        const sentAt = Math.floor(sentMs / 1000)
        const tracking = decideTracking(route, b.settings?.track_clicks)
        const ids = b.to.map(() => b.message_id ?? randomUUID())
        // One task: the worker parses the document once and mints each recipient's tokens.
        const results = await s.pool.rewrite({ tracking: trackingConfig(s, ctx.plane, route), jobs: ids.map(messageId => ({ html: b.html, messageId, sentAt })) })
        const links = results[0]?.links ?? []
        const messages = b.to.map((recipient, i) => {
          record(s, ctx.plane, route, { messageId: ids[i], recipient, sender: b.from, subject: b.subject ?? '', tag: b.tag ?? '', metadata: b.metadata ?? {}, sentAt, tracking, links })
          return { recipient, message_id: ids[i], html: tracking.enabled ? results[i].html : b.html, ...(b.text === undefined ? {} : { text: b.text }) }
        })
        return { status: 200, body: { route_id: route.route_id, tracking, messages, links: links.map(l => linkView(l, tracking.enabled)) } }
      }
    },
    {
      method: 'post', path: '/v1/rewrite/mime', operationId: 'rewriteMime', summary: 'Rewrite a raw RFC 5322 message (SMTP sends): ?route_id=…; honours and removes X-LM-Override-Track-Clicks', tag: 'rewriting',
      raw: { contentType: 'message/rfc822', description: 'the raw message, as an SMTP relay hands it over' },
      response: { status: 200 }, errors: [400, 404, 413, 422], maxBody: MAX_REWRITE_BODY,
      async handler (ctx) {
        const routeId = new URLSearchParams(ctx.query).get('route_id') ?? undefined
        if (routeId === undefined) throw invalid('query parameter route_id is required', { field: 'route_id' })
        const route = ownRoute(ctx, routeId)
        const raw = ctx.rawBody as Buffer
        if (raw.length === 0) throw invalid('the request body must be a raw RFC 5322 message')
        const messageId = randomUUID()
        const sentAt = Math.floor(Date.now() / 1000)
        const out = await s.pool.rewriteMime({
          tracking: trackingConfig(s, ctx.plane, route),
          raw: new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength),
          messageId,
          sentAt,
          trackClicks: route.track_clicks && route.type !== 'inbound',
          overridable: route.type !== 'inbound'
        })
        const reason: TrackingReason = route.type === 'inbound' ? 'inbound_route' : out.override !== undefined ? 'per_email_override' : 'route_setting'
        const h = headerFields(raw)
        record(s, ctx.plane, route, { messageId, recipient: h.to, sender: h.from, subject: h.subject, tag: '', metadata: {}, sentAt, tracking: { enabled: out.tracked, reason }, links: out.links })
        return {
          status: 200,
          raw: out.raw,
          contentType: 'message/rfc822',
          headers: { 'X-Clicktrail-Message-Id': messageId, 'X-Clicktrail-Tracking': out.tracked ? `on; ${reason}` : `off; ${reason}`, 'X-Clicktrail-Links': String(out.links.length) }
        }
      }
    }
  ]
}

/** To, From and Subject of a raw message's header block, encoded words decoded. */
function headerFields (raw: Buffer): { to: string, from: string, subject: string } {
  let end = raw.indexOf('\r\n\r\n')
  if (end === -1) end = raw.indexOf('\n\n')
  const head = raw.subarray(0, end === -1 ? Math.min(raw.length, 65536) : end).toString('latin1').replace(/\r?\n[ \t]+/g, ' ')
  const get = (name: string): string => {
    const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'im').exec(head)
    if (m === null) return ''
    try { return libmime.decodeWords(m[1]).trim() } catch { return m[1].trim() }
  }
  return { to: get('To'), from: get('From'), subject: get('Subject') }
}
