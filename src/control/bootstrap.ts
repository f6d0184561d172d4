import { randomBytes, randomUUID } from 'node:crypto'
import type { ControlPlane } from './plane.js'
import { hashToken } from './plane.js'
import type { Project, Route, Team } from './model.js'
import { createProject, createRoute } from '../api/routes.js'

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
