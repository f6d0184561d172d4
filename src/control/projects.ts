import { randomBytes, randomUUID } from 'node:crypto'
import type { ControlPlane } from './plane.js'
import { hashToken } from './plane.js'
import { DEFAULT_IP_ADDRESSES, DEFAULT_RETENTION_DAYS, DEFAULT_TOKEN_TTL_DAYS, type IpAddressMode, type Project, type Route, type RouteType, type Team } from './model.js'
import { ClicktrailError } from '../errors.js'

const ID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'

/** Issues a team API token `ct_<8-char id>_<43-char secret>`; only its SHA-256 is stored. */
export async function createApiToken (plane: ControlPlane, teamId: string, name: string): Promise<string> {
  let id = ''
  for (const b of randomBytes(8)) id += ID_ALPHABET[b % 36]
  const token = `ct_${id}_${randomBytes(32).toString('base64url')}`
  await plane.write('api_tokens', { token_id: id, team_id: teamId, name, token_hash: hashToken(token), created_at: Date.now() })
  return token
}

export interface Bootstrapped {
  team: Team
  token: string
  project: Project
  routes: Route[]
}

/** `clicktrail init`: a team, its API token, a project, and a transactional and a broadcast route with tracking on. */
export async function bootstrap (plane: ControlPlane, options: { team?: string, project?: string, sid?: string } = {}): Promise<Bootstrapped> {
  const team: Team = { team_id: randomUUID(), name: options.team ?? 'My team', created_at: Date.now() }
  await plane.write('teams', team)
  const token = await createApiToken(plane, team.team_id, 'created by clicktrail init')
  const project = await createProject(plane, team.team_id, { name: options.project ?? 'My project', sid: options.sid })
  const routes = [
    await createRoute(plane, project, { name: 'Transactional', type: 'transactional', track_clicks: true }),
    await createRoute(plane, project, { name: 'Broadcast', type: 'broadcast', track_clicks: true })
  ]
  return { team, token, project, routes }
}

const SID_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'
/** A fresh 8-character sid not used by any project. */
export function newSid (plane: ControlPlane): string {
  for (;;) {
    const bytes = randomBytes(8)
    let sid = ''
    for (const b of bytes) sid += SID_ALPHABET[b % 36]
    if (plane.projectBySid(sid) === undefined) return sid
  }
}

/** `whsec_` + 32 random bytes, base64: the Standard Webhooks secret format. */
export function newWebhookSecret (): string {
  return `whsec_${randomBytes(32).toString('base64')}`
}

const sidTaken = (sid: string): ClicktrailError => new ClicktrailError('CT_ERR_SID_TAKEN', `sid "${sid}" is used by another project`)

/**
 * Creates a project for `teamId`; shared by the API and `clicktrail init`. The sid is unique:
 * on this node the check and the writes run alone for that sid (`exclusive`); across nodes the
 * project row is written first (invisible until it holds its sid's claim), then the sid is
 * claimed, and a lost claim withdraws both rows and answers 409.
 */
export async function createProject (plane: ControlPlane, teamId: string, body: { name: string, sid?: string, token_ttl_days?: number, retention_days?: number, ip_addresses?: IpAddressMode }): Promise<Project> {
  const sid = body.sid ?? newSid(plane)
  return await plane.exclusive(`sid:${sid}`, async () => {
    if (plane.projectBySid(sid) !== undefined) throw sidTaken(sid)
    const t = Date.now()
    const p: Project = {
      project_id: randomUUID(),
      team_id: teamId,
      sid,
      name: body.name,
      token_ttl_days: body.token_ttl_days ?? DEFAULT_TOKEN_TTL_DAYS,
      retention_days: body.retention_days ?? DEFAULT_RETENTION_DAYS,
      ip_addresses: body.ip_addresses ?? DEFAULT_IP_ADDRESSES,
      created_at: t,
      updated_at: t
    }
    await plane.write('projects', p)
    const claim = await plane.claim('sid_claims', { sid, project_id: p.project_id, created_at: t })
    if (!claim.won) {
      await plane.write('sid_claims', claim.row, true)
      await plane.write('projects', p, true)
      throw sidTaken(sid)
    }
    return p
  })
}

/** Lettermint's slug rule: lower-case letters and digits in words joined by `-`. */
export const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/
const SLUG_MAX = 64

/** A slug from a route's name: `Password resets` → `password-resets` (`route` when nothing is left). */
export function slugify (name: string): string {
  const s = name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, SLUG_MAX).replace(/^-+|-+$/g, '')
  return s === '' ? 'route' : s
}

/** The slug a route is known by: its own, or (routes made before slugs) one from its name. */
export function slugOf (r: Route): string {
  return r.slug === '' ? slugify(r.name) : r.slug
}

/**
 * Creates a route of `project`. Its slug is unique within the project: a slug asked for and
 * taken is 409 CT_ERR_ROUTE_SLUG_TAKEN; one made from the name gets `-2`, `-3`… On this node
 * the check and the write run alone per project (`exclusive`); two nodes creating the same
 * slug in the same instant can both succeed (slugs are not claims: nothing routes by them).
 */
export async function createRoute (plane: ControlPlane, project: Project, body: { name: string, type: RouteType, track_clicks?: boolean, honeypot_link?: boolean, slug?: string }): Promise<Route> {
  if (body.type === 'inbound' && body.track_clicks === true) throw new ClicktrailError('CT_ERR_ROUTE_INBOUND_TRACKING')
  return await plane.exclusive(`route-slug:${project.project_id}`, async () => {
    const taken = new Set(plane.routes(project.project_id).map(slugOf))
    let slug: string
    if (body.slug !== undefined) {
      if (taken.has(body.slug)) throw new ClicktrailError('CT_ERR_ROUTE_SLUG_TAKEN', `slug "${body.slug}" is used by another route of this project`)
      slug = body.slug
    } else {
      const base = slugify(body.name)
      slug = base
      for (let i = 2; taken.has(slug); i++) slug = `${base.slice(0, SLUG_MAX - String(i).length - 1)}-${i}`
    }
    const t = Date.now()
    const r: Route = { route_id: randomUUID(), project_id: project.project_id, team_id: project.team_id, name: body.name, slug, type: body.type, track_clicks: body.track_clicks ?? false, honeypot_link: body.honeypot_link ?? false, created_at: t, updated_at: t }
    await plane.write('routes', r)
    return r
  })
}
