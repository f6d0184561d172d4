import type { ControlPlane } from '../control/plane.js'
import type { DomainClaim, Project, Route, RouteType, Webhook } from '../control/model.js'
import { domainClaimIsLive } from '../control/plane.js'
import type { DomainService } from '../control/domains.js'
import { hostnameOf } from '../token/tracked-url.js'
import { inboundTracking, invalid, notFound, unavailable } from './errors.js'
import { ClicktrailError } from '../errors.js'
import { createProject, createRoute } from '../control/projects.js'
import { domainView, projectView, routeView, type ProjectFacts } from './views.js'
import { listOf, pageOf } from './schemas.js'
import { deletedReply, type Dialect } from './dialect.js'
import { listBody, pageQuery, paginate } from './pages.js'
import { isForbiddenAddress } from '../webhooks/address.js'
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'

export interface Ctx {
  teamId: string
  params: Record<string, string>
  /** The query string, raw (`a=1&b=2`). */
  query: string
  /** The request's Accept header ('' when absent): for endpoints that answer JSON or CSV. */
  accept: string
  /** The body as received, for routes that take no JSON (`raw: true`). */
  rawBody?: Buffer
  body: any
  plane: ControlPlane
  /** host[:port] of the tracking base URL, for `tracking_host`. */
  trackingHost: string
  /** Operator flag: webhook URLs may point at private addresses. */
  allowPrivateWebhooks: boolean
  /** clicktrail's answers (/v1) or Lettermint's (/lettermint/v1): see dialect.ts. */
  dialect: Dialect
  /** The path as requested (without the query): lists name it in their pagination. */
  path: string
}

export interface Reply {
  status: number
  body?: unknown
  /** Sent as is instead of JSON, with `contentType`. */
  raw?: Buffer
  /**
   * A body streamed in chunks (Transfer-Encoding: chunked), with `contentType`, for answers too
   * large to hold: the server asks for each chunk only once the socket took the last one, and
   * asks for the first before it sends the status (so an error there is still a proper error
   * answer). The iterator is always finished: run to the end, or closed (`return()`) when the
   * client goes away or for HEAD.
   */
  stream?: AsyncIterable<string | Uint8Array>
  contentType?: string
  headers?: Record<string, string>
}

/** A query parameter an endpoint takes: documented in OpenAPI, and the only names it accepts. */
export interface QueryParamDef {
  name: string
  description: string
  schema: Record<string, unknown>
}

export interface RouteDef {
  method: 'get' | 'post' | 'put' | 'patch' | 'del'
  /** uWS pattern: `:name` parameters. */
  path: string
  operationId: string
  summary: string
  tag: string
  /** Name of the request body schema in schemas.ts. */
  request?: string
  /** Success status and its schema (a name, or an inline schema); `also`: other media types it may answer. */
  response: { status: number, schema?: string | Record<string, unknown>, also?: Record<string, { description: string, schema: Record<string, unknown> }> }
  /** The query parameters it takes (OpenAPI); the handler refuses others. */
  query?: QueryParamDef[]
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

export function ownProject (ctx: Ctx, id = ctx.params.project_id): Project {
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

export function projectFacts (plane: ControlPlane, p: Project): ProjectFacts {
  return { routes: plane.routes(p.project_id), domainsCount: plane.domains(p.project_id).length }
}

/** A route's derived fields: the project's oldest route is its default; webhooks scoped to it. */
export function routeFacts (plane: ControlPlane, r: Route): { isDefault: boolean, webhooksCount: number } {
  return { isDefault: plane.routes(r.project_id)[0]?.route_id === r.route_id, webhooksCount: plane.webhooks(r.project_id).filter(w => w.route_id === r.route_id).length }
}

/** PATCH and PUT of a route: tracking can never be turned on for an inbound route (422). */
async function updateRoute (ctx: Ctx, change: { name?: string, track_clicks?: boolean, honeypot_link?: boolean }): Promise<Route> {
  const current = ownRoute(ctx)
  if (current.type === 'inbound' && change.track_clicks === true) throw inboundTracking()
  const r: Route = { ...current, ...change, updated_at: now() }
  await ctx.plane.write('routes', r)
  return r
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
    method: 'get',
    path: '/v1/ping',
    operationId: 'ping',
    summary: 'Check the token and that the API answers (text `pong`)',
    tag: 'projects',
    response: { status: 200, schema: { type: 'string', description: 'text/plain: pong' } },
    errors: [],
    handler: () => ({ status: 200, raw: Buffer.from('pong'), contentType: 'text/plain; charset=utf-8' })
  },
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
      const p = await createProject(ctx.plane, ctx.teamId, ctx.body)
      return { status: 201, body: projectView(p, ctx.trackingHost, projectFacts(ctx.plane, p)) }
    }
  },
  {
    method: 'get',
    path: '/v1/projects',
    operationId: 'listProjects',
    summary: 'List the team\'s projects (cursor pages: page[size], page[cursor])',
    tag: 'projects',
    response: { status: 200, schema: pageOf('Project') },
    errors: [400],
    handler: ctx => {
      const q = pageQuery(ctx.query, ctx.dialect)
      const { data, next } = paginate(ctx.plane.projects(ctx.teamId), p => [p.created_at, p.project_id], q)
      return { status: 200, body: listBody(ctx.path, q, data.map(p => projectView(p, ctx.trackingHost, projectFacts(ctx.plane, p))), next) }
    }
  },
  {
    method: 'get',
    path: '/v1/projects/:project_id',
    operationId: 'getProject',
    summary: 'Get a project',
    tag: 'projects',
    response: { status: 200, schema: 'Project' },
    errors: [404],
    handler: ctx => {
      const p = ownProject(ctx)
      return { status: 200, body: projectView(p, ctx.trackingHost, projectFacts(ctx.plane, p)) }
    }
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
      return { status: 200, body: projectView(p, ctx.trackingHost, projectFacts(ctx.plane, p)) }
    }
  },
  {
    method: 'post',
    path: '/v1/projects/:project_id/routes',
    operationId: 'createRoute',
    summary: 'Create a route: {name, type or route_type, slug?, track_clicks?, honeypot_link?} (inbound routes cannot track clicks). /v1 answers the route; /lettermint/v1 answers {data, message}',
    tag: 'routes',
    request: 'RouteCreate',
    response: { status: 201, schema: 'Route' },
    errors: [400, 404, 409, 413, 422],
    async handler (ctx) {
      const { route_type: routeType, type, ...rest } = ctx.body as { route_type?: RouteType, type?: RouteType, name: string, slug?: string | null, track_clicks?: boolean, honeypot_link?: boolean }
      if (type !== undefined && routeType !== undefined && type !== routeType) throw invalid('type and route_type differ; give one of them', { field: 'route_type' })
      const t = type ?? routeType
      if (t === undefined) throw invalid(ctx.dialect === 'lettermint' ? 'missing field "route_type"' : 'missing field "type"', { field: ctx.dialect === 'lettermint' ? 'route_type' : 'type' })
      const r = await createRoute(ctx.plane, ownProject(ctx), { ...rest, slug: rest.slug ?? undefined, type: t })
      const view = routeView(r, routeFacts(ctx.plane, r))
      return { status: 201, body: ctx.dialect === 'lettermint' ? { data: view, message: 'Route created successfully.' } : view }
    }
  },
  {
    method: 'get',
    path: '/v1/projects/:project_id/routes',
    operationId: 'listRoutes',
    summary: 'List a project\'s routes (cursor pages: page[size], page[cursor])',
    tag: 'routes',
    response: { status: 200, schema: pageOf('Route') },
    errors: [400, 404],
    handler: ctx => {
      const p = ownProject(ctx)
      const q = pageQuery(ctx.query, ctx.dialect)
      const { data, next } = paginate(ctx.plane.routes(p.project_id), r => [r.created_at, r.route_id], q)
      return { status: 200, body: listBody(ctx.path, q, data.map(r => routeView(r, routeFacts(ctx.plane, r))), next) }
    }
  },
  {
    method: 'get',
    path: '/v1/routes/:route_id',
    operationId: 'getRoute',
    summary: 'Get a route',
    tag: 'routes',
    response: { status: 200, schema: 'Route' },
    errors: [404],
    handler: ctx => {
      const r = ownRoute(ctx)
      return { status: 200, body: routeView(r, routeFacts(ctx.plane, r)) }
    }
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
      const r = await updateRoute(ctx, ctx.body)
      return { status: 200, body: routeView(r, routeFacts(ctx.plane, r)) }
    }
  },
  {
    method: 'put',
    path: '/v1/routes/:route_id',
    operationId: 'replaceRouteSettings',
    summary: 'Update a route as Lettermint does: {"name"?, "settings": {"track_clicks": true, "honeypot_link"?: true}}; answers {data, message}',
    tag: 'routes',
    request: 'RouteSettingsUpdate',
    response: { status: 200, schema: { type: 'object', required: ['data', 'message'], properties: { data: { $ref: '#/components/schemas/Route' }, message: { type: 'string' } } } },
    errors: [400, 404, 413, 422],
    async handler (ctx) {
      const b = ctx.body as { name?: string | null, settings?: { track_clicks?: boolean | null, honeypot_link?: boolean | null } | null }
      const change: { name?: string, track_clicks?: boolean, honeypot_link?: boolean } = {}
      if (typeof b.name === 'string') change.name = b.name
      if (typeof b.settings?.track_clicks === 'boolean') change.track_clicks = b.settings.track_clicks
      if (typeof b.settings?.honeypot_link === 'boolean') change.honeypot_link = b.settings.honeypot_link
      const r = await updateRoute(ctx, change)
      return { status: 200, body: { data: routeView(r, routeFacts(ctx.plane, r)), message: 'Route updated successfully.' } }
    }
  },
  {
    method: 'del',
    path: '/v1/routes/:route_id',
    operationId: 'deleteRoute',
    summary: 'Delete a route and the webhooks scoped to it (/v1: 204; /lettermint/v1: 200 {message})',
    tag: 'routes',
    response: { status: 204 },
    errors: [404],
    async handler (ctx) {
      const r = ownRoute(ctx)
      for (const w of ctx.plane.webhooks(r.project_id).filter(x => x.route_id === r.route_id)) await ctx.plane.write('webhooks', { ...w, updated_at: now() }, true)
      await ctx.plane.write('routes', { ...r, updated_at: now() }, true)
      return deletedReply(ctx.dialect, 'Route deleted successfully.')
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
export async function checkWebhookUrl (text: string, allowPrivate: boolean): Promise<string> {
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
