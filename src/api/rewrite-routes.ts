import { randomUUID } from 'node:crypto'
import { setImmediate as nextTurn } from 'node:timers/promises'
import libmime from 'libmime'
import type { Route } from '../control/model.js'
import type { KeyRing } from '../token/keys.js'
import type { RewritePool, TrackingConfig } from '../pool/pool.js'
import type { LinkRecord } from '../rewrite/html.js'
import { ClicktrailError } from '../errors.js'
import { DEFAULT_REWRITE_LIMITS, type RewriteLimits } from '../rewrite/limits.js'
import { toWellFormed } from '../rewrite/unicode.js'
import type { BatchedWriter } from '../store/batched.js'
import type { MessageDirectory, MessageInfo } from '../messages/directory.js'
import type { ControlPlane } from '../control/plane.js'
import { MessageIds } from '../messages/ids.js'
import { invalid, messageIdTaken, notFound } from './errors.js'
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
  /** Bounds on one request (config --rewrite-max-*); unset ones take DEFAULT_REWRITE_LIMITS. */
  limits?: Partial<RewriteLimits>
  /** Who owns which message id; default: one reading `messages` through the messages writer's client. */
  messageIds?: MessageIds
}

const MAX_REWRITE_BODY = 10 * 1024 * 1024
/** message_links rows added to the writer between two turns of the event loop (redirects run in between). */
const RECORD_CHUNK = 5000

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

interface Recorded { messageIds: string[], recipients: string[], sender: string, subject: string, tag: string, metadata: Record<string, string>, sentAt: number, tracking: { enabled: boolean, reason: string }, links: LinkRecord[] }

/**
 * messages + message_links rows for the messages of one request, through the batched
 * writers, and each message remembered for promotion. Every recipient shares the same
 * link table (only the tokens differ), so the per-link values and the promotion link map
 * are built once; the per-recipient rows are handed over in chunks with a turn of the
 * event loop in between, so a large send never holds the thread that serves redirects.
 */
async function record (s: RewriteServices, ids: MessageIds, plane: ControlPlane, route: Route, m: Recorded): Promise<void> {
  const project = plane.project(route.project_id)
  if (project === undefined) return
  const enabled = m.tracking.enabled
  const linkCount = m.links.reduce((n, l) => l.tracked ? n + 1 : n, 0)
  const perLink = m.links.map(l => ({
    link_index: l.index,
    url: l.url,
    anchor_text: l.anchor_text,
    tracked: enabled && l.tracked,
    skip_reason: l.tracked ? (enabled ? '' : 'tracking_disabled') : (l.reason ?? '')
  }))
  const linkMap: MessageInfo['links'] = new Map(m.links.map(l => [l.index, { url: l.url, anchorText: l.anchor_text }]))
  const messages: Array<Record<string, unknown>> = []
  let rows: Array<Record<string, unknown>> = []
  for (let i = 0; i < m.messageIds.length; i++) {
    const id = m.messageIds[i]
    const recipient = m.recipients[i]
    messages.push({
      message_id: id,
      sid: project.sid,
      project_id: project.project_id,
      route_id: route.route_id,
      recipient,
      sender: m.sender,
      subject: m.subject,
      tag: m.tag,
      metadata: m.metadata,
      sent_at: m.sentAt,
      tracking: enabled,
      tracking_reason: m.tracking.reason,
      link_count: linkCount,
      retention_days: project.retention_days
    })
    for (const l of perLink) {
      rows.push({ message_id: id, sid: project.sid, link_index: l.link_index, url: l.url, anchor_text: l.anchor_text, tracked: l.tracked, skip_reason: l.skip_reason, sent_at: m.sentAt, retention_days: project.retention_days })
    }
    // Promotion may need it before the batched insert lands.
    s.directory.remember(project.sid, id, { routeId: route.route_id, recipient, subject: m.subject, tag: m.tag, metadata: m.metadata, linkCount, links: linkMap })
    ids.remember(id, project.sid)
    if (rows.length >= RECORD_CHUNK && i < m.messageIds.length - 1) {
      s.links.add(rows)
      rows = []
      await nextTurn()
    }
  }
  s.messages.add(messages)
  if (rows.length > 0) s.links.add(rows)
}

export function rewriteRoutes (s: RewriteServices): RouteDef[] {
  const limits: RewriteLimits = { ...DEFAULT_REWRITE_LIMITS, ...s.limits }
  const ids = s.messageIds ?? new MessageIds(s.messages.client)
  return [
    {
      method: 'post',
      path: '/v1/rewrite',
      operationId: 'rewrite',
      summary: 'Rewrite the links of an email for each recipient (API sends)',
      tag: 'rewriting',
      request: 'RewriteRequest',
      response: { status: 200, schema: 'RewriteResult' },
      errors: [400, 404, 409, 413, 422],
      maxBody: MAX_REWRITE_BODY,
      async handler (ctx) {
        const b = ctx.body as { route_id: string, from: string, to: string[], subject?: string, html: string, text?: string, tag?: string, metadata?: Record<string, string>, settings?: { track_clicks?: boolean }, message_id?: string, sent_at?: string }
        const route = ownRoute(ctx, b.route_id)
        const project = ctx.plane.project(route.project_id)
        if (project === undefined) throw notFound('project')
        const n = b.to.length
        if (n > limits.maxRecipients) throw ClicktrailError.detailed('CT_ERR_REWRITE_TOO_MANY_RECIPIENTS', `${n} recipients, at most ${limits.maxRecipients}; send fewer per request`)
        if (b.message_id !== undefined && n !== 1) throw invalid('message_id can only be given with a single recipient', { field: 'message_id' })
        // Every recipient gets at least the html and text as given (UTF-16 length ≤ UTF-8
        // bytes): past the limit already, the request is refused before any work.
        const floor = n * (b.html.length + (b.text?.length ?? 0))
        if (floor > limits.maxOutputBytes) throw ClicktrailError.detailed('CT_ERR_REWRITE_OUTPUT_TOO_LARGE', `${n} recipients × the html${b.text === undefined ? '' : ' and text'} is at least ${floor} bytes, more than the limit of ${limits.maxOutputBytes}; send fewer recipients per request`)
        const sentMs = b.sent_at === undefined ? Date.now() : Date.parse(b.sent_at)
        if (Number.isNaN(sentMs)) throw invalid('field "sent_at" must be an ISO 8601 time', { field: 'sent_at' })
        const sentAt = Math.floor(sentMs / 1000)
        const tracking = decideTracking(route, b.settings?.track_clicks)
        const messageIds = b.message_id !== undefined ? [b.message_id] : b.to.map(() => randomUUID())
        // A message id is one project's: a retried send may reuse its own, never another's.
        if (b.message_id !== undefined && !(await ids.claim(b.message_id, project.sid))) throw messageIdTaken()
        let out
        try {
          // One task: the worker parses the document once, checks the bounds, mints each
          // recipient's tokens and writes the whole JSON answer; this thread only sends it.
          out = await s.pool.rewriteSend({
            tracking: trackingConfig(s, ctx.plane, route),
            html: b.html,
            text: b.text,
            recipients: b.to,
            messageIds,
            sentAt,
            track: tracking.enabled,
            honeypot: route.honeypot_link === true,
            answer: { route_id: route.route_id, tracking },
            limits
          })
        } catch (err) {
          if (b.message_id !== undefined) ids.release(b.message_id, project.sid)
          throw err
        }
        await record(s, ids, ctx.plane, route, { messageIds, recipients: b.to, sender: b.from, subject: b.subject ?? '', tag: b.tag ?? '', metadata: b.metadata ?? {}, sentAt, tracking, links: out.links })
        return { status: 200, raw: Buffer.from(out.body.buffer, out.body.byteOffset, out.body.byteLength), contentType: 'application/json' }
      }
    },
    {
      method: 'post',
      path: '/v1/rewrite/mime',
      operationId: 'rewriteMime',
      summary: 'Rewrite a raw RFC 5322 message (SMTP sends): ?route_id=…; honours and removes X-LM-Override-Track-Clicks',
      tag: 'rewriting',
      raw: { contentType: 'message/rfc822', description: 'the raw message, as an SMTP relay hands it over' },
      response: { status: 200 },
      errors: [400, 404, 413, 415, 422],
      maxBody: MAX_REWRITE_BODY,
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
          overridable: route.type !== 'inbound',
          maxLinks: limits.maxLinks,
          honeypot: route.honeypot_link === true
        })
        const reason: TrackingReason = route.type === 'inbound' ? 'inbound_route' : out.override !== undefined ? 'per_email_override' : 'route_setting'
        const h = headerFields(raw)
        await record(s, ids, ctx.plane, route, { messageIds: [messageId], recipients: [h.to], sender: h.from, subject: h.subject, tag: '', metadata: {}, sentAt, tracking: { enabled: out.tracked, reason }, links: out.links })
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
    // An encoded word can decode to a lone surrogate (=?UTF-16BE?B?2ABBAA==?=): stored
    // with U+FFFD in its place, as all decoded text (rewrite/unicode.ts).
    try { return toWellFormed(libmime.decodeWords(m[1]).trim()) } catch { return m[1].trim() }
  }
  return { to: get('To'), from: get('From'), subject: get('Subject') }
}
