import { randomUUID } from 'node:crypto'
import type { ControlPlane } from '../control/plane.js'
import type { DomainClaim, Project, Route, Webhook } from '../control/model.js'
import { domainClaimIsLive } from '../control/plane.js'
import type { DomainService } from '../control/domains.js'
import { hostnameOf } from '../token/tracked-url.js'
import { inboundTracking, invalid, notFound, unavailable } from './errors.js'
import { ClicktrailError } from '../errors.js'
import { createProject, createRoute, newWebhookSecret } from '../control/projects.js'
import { domainView, projectView, routeView, webhookView } from './views.js'
import { listOf } from './schemas.js'
import { isForbiddenAddress } from '../webhooks/address.js'
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'

export interface Ctx {
  teamId: string
  params: Record<string, string>
  /** The query string, raw (`a=1&b=2`). */
  query: string
  /** The Accept header, raw ('' when absent): routes that answer CSV too. */
  accept?: string
  /** The body as received, for routes that take no JSON (`raw: true`). */
  rawBody?: Buffer
  body: any
  plane: ControlPlane
  /** host[:port] of the tracking base URL, for `tracking_host`. */
  trackingHost: string
  /** Operator flag: webhook URLs may point at private addresses. */
  allowPrivateWebhooks: boolean
}

export interface Reply {
  status: number
  body?: unknown
  /** Sent as is instead of JSON, with `contentType`. */
  raw?: Buffer
  contentType?: string
  headers?: Record<string, string>
}

export interface RouteDef {
  method: 'get' | 'post' | 'patch' | 'del'
  /** uWS pattern: `:name` parameters. */
  path: string
  operationId: string
  summary: string
  tag: string
  /** Name of the request body schema in schemas.ts. */
  request?: string
  /** Success status and its schema (a name, or an inline schema); other media types it may answer, with what they hold. */
  response: { status: number, schema?: string | Record<string, unknown>, alternatives?: Record<string, string> }
  /** Query-string parameters, for the OpenAPI document. */
  queryParams?: Array<{ name: string, description: string, enum?: string[] }>
  /** Error statuses this operation can answer, besides 401 and 5xx. */
  errors: number[]
  /** Body size limit for this route (bytes); default in the server. */
  maxBody?: number
  /** The body is not JSON: handed to the handler as `rawBody`. */
  raw?: { contentType: string, description: string }
  auth?: false
  handler: (ctx: Ctx) => Promise<Reply> | Reply
}

const now = (): number => Date.now()

function ownProject (ctx: Ctx, id = ctx.params.project_id): Project {
  const p = ctx.plane.project(id)
  if (p === undefined || p.team_id !== ctx.teamId) throw notFound('project')
  return p
}
function ownRoute (ctx: Ctx): Route {
  const r = ctx.plane.route(ctx.params.route_id)
  if (r === undefined || r.team_id !== ctx.teamId) throw notFound('route')
  return r
}
export function ownWebhook (ctx: Ctx): Webhook {
  const w = ctx.plane.webhook(ctx.params.webhook_id)
  if (w === undefined || w.team_id !== ctx.teamId) throw notFound('webhook')
  return w
}

function domainService (ctx: Ctx): DomainService {
  const svc = ctx.plane.domainService
  if (svc === undefined) throw unavailable('custom domains are not configured on this node')
  return svc
}
function ownDomain (ctx: Ctx, p: Project): DomainClaim {
  const d = ctx.plane.domainClaim(hostnameOf(ctx.params.hostname), p.project_id)
  if (d === undefined) throw notFound('domain')
  return d
}
const domainTaken = (hostname: string): ClicktrailError => new ClicktrailError('CT_ERR_DOMAIN_TAKEN', `${hostname} is already a tracking domain`)

/**
 * Claims `hostname` for `p` (pending verification). Call inside `exclusive` for the hostname.
 * Another project's live claim → 409 at once; else claim it (see `ControlPlane.claim`) and
 * withdraw a claim that lost a race with another node.
 */
async function claimDomain (plane: ControlPlane, svc: DomainService, p: Project, hostname: string, failed?: DomainClaim): Promise<DomainClaim> {
  const owner = plane.domain(hostname)
  if (owner !== undefined && owner.project_id !== p.project_id) throw domainTaken(hostname)
  const t = now()
  const claim = await plane.claim('domain_claims', {
    hostname,
    project_id: p.project_id,
    team_id: p.team_id,
    status: 'pending_verification',
    verification_token: failed?.verification_token ?? svc.newToken(),
    verified_by: '',
    created_at: t,
    checked_at: 0,
    verified_at: 0,
    status_changed_at: t
  }, domainClaimIsLive)
  if (!claim.won) {
    // Withdraw: a new claim disappears, a failed one that tried again is failed again.
    if (failed !== undefined) await plane.write('domain_claims', { ...failed, claim_seq: claim.row.claim_seq })
    else await plane.write('domain_claims', claim.row, true)
    throw domainTaken(hostname)
  }
  return claim.row
}
/** verifyDomain stores a check that changed nothing at most this often per domain. */
const VERIFY_WRITE_INTERVAL_MS = 10_000

export const ROUTES: RouteDef[] = [
  {
    method: 'post',
    path: '/v1/projects',
    operationId: 'createProject',
    summary: 'Create a project',
    tag: 'projects',
    request: 'ProjectCreate',
    response: { status: 201, schema: 'Project' },
    errors: [400, 409, 413],
    async handler (ctx) {
      return { status: 201, body: projectView(await createProject(ctx.plane, ctx.teamId, ctx.body), ctx.trackingHost) }
    }
  },
  {
    method: 'get',
    path: '/v1/projects',
    operationId: 'listProjects',
    summary: 'List the team\'s projects',
    tag: 'projects',
    response: { status: 200, schema: listOf('Project') },
    errors: [],
    handler: ctx => ({ status: 200, body: { data: ctx.plane.projects(ctx.teamId).map(p => projectView(p, ctx.trackingHost)) } })
  },
  {
    method: 'get',
    path: '/v1/projects/:project_id',
    operationId: 'getProject',
    summary: 'Get a project',
    tag: 'projects',
    response: { status: 200, schema: 'Project' },
    errors: [404],
    handler: ctx => ({ status: 200, body: projectView(ownProject(ctx), ctx.trackingHost) })
  },
  {
    method: 'patch',
    path: '/v1/projects/:project_id',
    operationId: 'updateProject',
    summary: 'Update a project\'s name, token TTL or retention',
    tag: 'projects',
    request: 'ProjectUpdate',
    response: { status: 200, schema: 'Project' },
    errors: [400, 404, 413],
    async handler (ctx) {
      const p: Project = { ...ownProject(ctx), ...ctx.body, updated_at: now() }
      await ctx.plane.write('projects', p)
      return { status: 200, body: projectView(p, ctx.trackingHost) }
    }
  },
  {
    method: 'post',
    path: '/v1/projects/:project_id/routes',
    operationId: 'createRoute',
    summary: 'Create a route (inbound routes cannot track clicks)',
    tag: 'routes',
    request: 'RouteCreate',
    response: { status: 201, schema: 'Route' },
    errors: [400, 404, 413, 422],
    async handler (ctx) {
      return { status: 201, body: routeView(await createRoute(ctx.plane, ownProject(ctx), ctx.body)) }
    }
  },
  {
    method: 'get',
    path: '/v1/projects/:project_id/routes',
    operationId: 'listRoutes',
    summary: 'List a project\'s routes',
    tag: 'routes',
    response: { status: 200, schema: listOf('Route') },
    errors: [404],
    handler: ctx => ({ status: 200, body: { data: ctx.plane.routes(ownProject(ctx).project_id).map(routeView) } })
  },
  {
    method: 'get',
    path: '/v1/routes/:route_id',
    operationId: 'getRoute',
    summary: 'Get a route',
    tag: 'routes',
    response: { status: 200, schema: 'Route' },
    errors: [404],
    handler: ctx => ({ status: 200, body: routeView(ownRoute(ctx)) })
  },
  {
    method: 'patch',
    path: '/v1/routes/:route_id',
    operationId: 'updateRoute',
    summary: 'Update a route, e.g. {"track_clicks": true}',
    tag: 'routes',
    request: 'RouteUpdate',
    response: { status: 200, schema: 'Route' },
    errors: [400, 404, 413, 422],
    async handler (ctx) {
      const current = ownRoute(ctx)
      if (current.type === 'inbound' && ctx.body.track_clicks === true) throw inboundTracking()
      const r: Route = { ...current, ...ctx.body, updated_at: now() }
      await ctx.plane.write('routes', r)
      return { status: 200, body: routeView(r) }
    }
  },
  {
    method: 'del',
    path: '/v1/routes/:route_id',
    operationId: 'deleteRoute',
    summary: 'Delete a route',
    tag: 'routes',
    response: { status: 204 },
    errors: [404],
    async handler (ctx) {
      await ctx.plane.write('routes', { ...ownRoute(ctx), updated_at: now() }, true)
      return { status: 204 }
    }
  },
  {
    method: 'post',
    path: '/v1/projects/:project_id/webhooks',
    operationId: 'createWebhook',
    summary: 'Create a webhook; the answer carries its signing secret, shown only this once',
    tag: 'webhooks',
    request: 'WebhookCreate',
    response: { status: 201, schema: 'Webhook' },
    errors: [400, 404, 413],
    async handler (ctx) {
      const p = ownProject(ctx)
      const t = now()
      const w: Webhook = {
        webhook_id: randomUUID(),
        project_id: p.project_id,
        team_id: p.team_id,
        url: await checkWebhookUrl(ctx.body.url, ctx.allowPrivateWebhooks),
        secret: newWebhookSecret(),
        events: ctx.body.events ?? ['message.clicked'],
        include_machine_events: ctx.body.include_machine_events ?? false,
        enabled: ctx.body.enabled ?? true,
        created_at: t,
        updated_at: t
      }
      await ctx.plane.write('webhooks', w)
      return { status: 201, body: webhookView(w, true) }
    }
  },
  {
    method: 'get',
    path: '/v1/projects/:project_id/webhooks',
    operationId: 'listWebhooks',
    summary: 'List a project\'s webhooks',
    tag: 'webhooks',
    response: { status: 200, schema: listOf('Webhook') },
    errors: [404],
    handler: ctx => ({ status: 200, body: { data: ctx.plane.webhooks(ownProject(ctx).project_id).map(w => webhookView(w)) } })
  },
  {
    method: 'get',
    path: '/v1/webhooks/:webhook_id',
    operationId: 'getWebhook',
    summary: 'Get a webhook (without its secret)',
    tag: 'webhooks',
    response: { status: 200, schema: 'Webhook' },
    errors: [404],
    handler: ctx => ({ status: 200, body: webhookView(ownWebhook(ctx)) })
  },
  {
    method: 'patch',
    path: '/v1/webhooks/:webhook_id',
    operationId: 'updateWebhook',
    summary: 'Update a webhook',
    tag: 'webhooks',
    request: 'WebhookUpdate',
    response: { status: 200, schema: 'Webhook' },
    errors: [400, 404, 413],
    async handler (ctx) {
      const w: Webhook = { ...ownWebhook(ctx), ...ctx.body, updated_at: now() }
      if (ctx.body.url !== undefined) w.url = await checkWebhookUrl(ctx.body.url, ctx.allowPrivateWebhooks)
      await ctx.plane.write('webhooks', w)
      return { status: 200, body: webhookView(w) }
    }
  },
  {
    method: 'del',
    path: '/v1/webhooks/:webhook_id',
    operationId: 'deleteWebhook',
    summary: 'Delete a webhook',
    tag: 'webhooks',
    response: { status: 204 },
    errors: [404],
    async handler (ctx) {
      await ctx.plane.write('webhooks', { ...ownWebhook(ctx), updated_at: now() }, true)
      return { status: 204 }
    }
  },
  {
    method: 'post',
    path: '/v1/projects/:project_id/domains',
    operationId: 'addDomain',
    summary: 'Claim a custom tracking domain; it routes clicks once DNS shows it is yours (see verifyDomain)',
    tag: 'domains',
    request: 'DomainCreate',
    response: { status: 201, schema: 'Domain' },
    errors: [400, 404, 409, 413, 422],
    async handler (ctx) {
      const p = ownProject(ctx)
      const svc = domainService(ctx)
      const hostname = hostnameOf(ctx.body.hostname)
      if (svc.reserved(hostname)) {
        svc.noteReserved()
        throw new ClicktrailError('CT_ERR_DOMAIN_RESERVED', `${hostname} is one of the operator's tracking hostnames`)
      }
      return await ctx.plane.exclusive(`domain:${hostname}`, async () => {
        const own = ctx.plane.domainClaim(hostname, p.project_id)
        if (own !== undefined && domainClaimIsLive(own)) throw domainTaken(hostname)
        const d = await claimDomain(ctx.plane, svc, p, hostname, own)
        return { status: 201, body: domainView(d, svc.records(d, p)) }
      })
    }
  },
  {
    method: 'get',
    path: '/v1/projects/:project_id/domains',
    operationId: 'listDomains',
    summary: 'List a project\'s tracking domains and their verification state',
    tag: 'domains',
    response: { status: 200, schema: listOf('Domain') },
    errors: [404],
    handler: ctx => {
      const p = ownProject(ctx)
      const svc = domainService(ctx)
      return { status: 200, body: { data: ctx.plane.domains(p.project_id).map(d => domainView(d, svc.records(d, p))) } }
    }
  },
  {
    method: 'get',
    path: '/v1/projects/:project_id/domains/:hostname',
    operationId: 'getDomain',
    summary: 'Get a tracking domain: its state and the DNS records to publish',
    tag: 'domains',
    response: { status: 200, schema: 'Domain' },
    errors: [404],
    handler: ctx => {
      const p = ownProject(ctx)
      const d = ownDomain(ctx, p)
      return { status: 200, body: domainView(d, domainService(ctx).records(d, p)) }
    }
  },
  {
    method: 'post',
    path: '/v1/projects/:project_id/domains/:hostname/verify',
    operationId: 'verifyDomain',
    summary: 'Check the domain\'s DNS records now; answers its state and the records to publish',
    tag: 'domains',
    response: { status: 200, schema: 'Domain' },
    errors: [404, 409],
    async handler (ctx) {
      const p = ownProject(ctx)
      const svc = domainService(ctx)
      const hostname = ownDomain(ctx, p).hostname
      return await ctx.plane.exclusive(`domain:${hostname}`, async () => {
        let d = ctx.plane.domainClaim(hostname, p.project_id)
        if (d === undefined) throw notFound('domain')
        // A failed claim gave the hostname up: checking it again is claiming it again.
        if (!domainClaimIsLive(d)) d = await claimDomain(ctx.plane, svc, p, hostname, d)
        else if (ctx.plane.domain(hostname) !== d) throw domainTaken(hostname)
        const r = await svc.check(d, p)
        const next = svc.next(d, r)
        // Repeated calls cost a lookup each (one at a time per hostname), but a row is
        // written only when the state changes, or to move last_checked_at on now and then.
        if (next.status !== d.status || next.checked_at - d.checked_at >= VERIFY_WRITE_INTERVAL_MS) {
          if (!await svc.save(d, next)) throw unavailable('the verification result could not be stored; try again')
        }
        return { status: 200, body: domainView(next, svc.records(next, p, r), r.error) }
      })
    }
  },
  {
    method: 'del',
    path: '/v1/projects/:project_id/domains/:hostname',
    operationId: 'removeDomain',
    summary: 'Remove a tracking domain',
    tag: 'domains',
    response: { status: 204 },
    errors: [404],
    async handler (ctx) {
      const p = ownProject(ctx)
      const hostname = ownDomain(ctx, p).hostname
      await ctx.plane.exclusive(`domain:${hostname}`, async () => {
        const d = ctx.plane.domainClaim(hostname, p.project_id)
        if (d === undefined) throw notFound('domain')
        await ctx.plane.write('domain_claims', d, true)
      })
      return { status: 204 }
    }
  }
]

/**
 * http(s), no credentials, and — unless the operator allows it — no host that resolves to a
 * loopback, private, link-local or metadata address. Delivery checks again at every attempt
 * (DNS can change); this check gives the API user a clear error up front.
 */
async function checkWebhookUrl (text: string, allowPrivate: boolean): Promise<string> {
  let u: URL
  try { u = new URL(text) } catch { throw invalid('url must be an absolute http(s) URL', { field: 'url' }) }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username !== '' || u.password !== '') throw invalid('url must be http(s) without credentials', { field: 'url' })
  if (!allowPrivate) {
    const host = u.hostname.replace(/^\[|\]$/g, '')
    let addresses: string[]
    try {
      addresses = isIP(host) !== 0 ? [host] : (await lookup(host, { all: true })).map(a => a.address)
    } catch {
      throw invalid(`url host ${host} does not resolve`, { field: 'url' })
    }
    const bad = addresses.find(isForbiddenAddress)
    if (bad !== undefined) throw invalid(`url host ${host} resolves to ${bad}, a loopback, private, link-local or metadata address`, { field: 'url' })
  }
  return u.href
}
