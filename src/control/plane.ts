import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import type { ClickHouseClient } from '@clickhouse/client'
import type { Logger } from '../log.js'
import { KEYS, TIME_COLUMNS, type ApiToken, type Project, type Route, type TableName, type Tables, type TrackingDomain, type Webhook, type Team } from './model.js'

const TABLES = Object.keys(KEYS) as TableName[]

type Maps = { [T in TableName]: Map<string, Tables[T]> }

function emptyMaps (): Maps {
  return { teams: new Map(), api_tokens: new Map(), projects: new Map(), routes: new Map(), webhooks: new Map(), tracking_domains: new Map() }
}

export function hashToken (token: string): string {
  return createHash('sha256').update(token).digest('hex')
}

/**
 * Every node's in-memory snapshot of the control plane, kept in ClickHouse.
 *
 * Writes (only through the Team API) insert the whole new row version and apply it to this
 * node's snapshot at once; every node polls a cheap fingerprint (max version and row count
 * of each table) every `refreshMs` and reloads when it changed, so a change made on any
 * node is visible everywhere within about that interval. The redirect path only reads the
 * snapshot's maps: it never waits for ClickHouse, and keeps working when ClickHouse is down.
 */
export class ControlPlane {
  #maps: Maps = emptyMaps()
  #bySid = new Map<string, Project>()
  // Per project, in creation order: promotion asks for every promoted click.
  #webhooksByProject = new Map<string, Webhook[]>()
  #fingerprint = ''
  #timer: NodeJS.Timeout | undefined
  #polling: Promise<void> | undefined
  #lastVersion = 0
  /** Bumped on every change of the snapshot; caches derived from it compare this. */
  generation = 0
  readonly #listeners: Array<() => void> = []
  refreshFailures = 0
  // Writes since start; a reload that overlapped a write read rows from before it and is discarded.
  #writes = 0

  constructor (readonly client: ClickHouseClient, readonly log: Logger, readonly refreshMs = 2000) {}

  async start (): Promise<void> {
    await this.reload()
    this.#timer = setInterval(() => {
      if (this.#polling !== undefined) return
      this.#polling = this.#poll().finally(() => { this.#polling = undefined })
    }, this.refreshMs)
    this.#timer.unref()
  }

  /** Stops polling and waits for a poll under way, so the client can be closed safely. */
  async stop (): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    await this.#polling
  }

  onChange (fn: () => void): void { this.#listeners.push(fn) }

  async #poll (): Promise<void> {
    try {
      const fp = await this.#readFingerprint()
      if (fp !== this.#fingerprint) await this.reload()
    } catch (err) {
      this.refreshFailures++
      if (this.refreshFailures === 1 || this.refreshFailures % 30 === 0) this.log.warn({ err: (err as Error).message }, 'control plane refresh failed; serving the last snapshot')
    }
  }

  async #readFingerprint (): Promise<string> {
    const query = TABLES.map(t => `SELECT '${t}' AS t, toString(max(version)) AS v, toString(count()) AS c FROM ${t}`).join(' UNION ALL ')
    const rows = await (await this.client.query({ query, format: 'JSONEachRow' })).json<{ t: string, v: string, c: string }>()
    return rows.sort((a, b) => a.t.localeCompare(b.t)).map(r => `${r.t}:${r.v}:${r.c}`).join(',')
  }

  /** Reads every table (FINAL, live rows only) into a new snapshot. */
  async reload (): Promise<void> {
    const writesBefore = this.#writes
    const fp = await this.#readFingerprint()
    const maps = emptyMaps()
    for (const table of TABLES) {
      const rows = await (await this.client.query({ query: `SELECT * EXCEPT (is_deleted) FROM ${table} FINAL WHERE is_deleted = 0`, format: 'JSONEachRow' })).json<Record<string, unknown>>()
      const map = maps[table] as Map<string, unknown>
      for (const raw of rows) {
        const row = fromDb(raw)
        map.set(row[KEYS[table]] as string, row)
        const v = Number(raw.version)
        if (v > this.#lastVersion) this.#lastVersion = v
      }
    }
    if (this.#writes !== writesBefore) {
      this.#fingerprint = '' // read again at the next poll
      return
    }
    this.#maps = maps
    this.#fingerprint = fp
    this.#reindex()
  }

  #reindex (): void {
    this.#bySid = new Map([...this.#maps.projects.values()].map(p => [p.sid, p]))
    this.#webhooksByProject = new Map()
    for (const w of [...this.#maps.webhooks.values()].sort(byCreated)) {
      const list = this.#webhooksByProject.get(w.project_id)
      if (list === undefined) this.#webhooksByProject.set(w.project_id, [w])
      else list.push(w)
    }
    this.generation++
    for (const fn of this.#listeners) fn()
  }

  /** A version above every version seen: unix µs, kept monotonic within this process. */
  #nextVersion (): number {
    const v = Math.max(Date.now() * 1000, this.#lastVersion + 1)
    this.#lastVersion = v
    return v
  }

  /** Inserts a new version of `row` (or its deletion) and applies it to this snapshot. */
  async write<T extends TableName> (table: T, row: Tables[T], deleted = false): Promise<void> {
    const version = this.#nextVersion()
    this.#writes++
    await this.client.insert({
      table,
      values: [{ ...row, version, is_deleted: deleted ? 1 : 0 }],
      format: 'JSONEachRow',
      // Each write its own token: with chdb a token set by an earlier insert on this
      // session would otherwise still be in force (and drop this row as a duplicate).
      clickhouse_settings: { insert_deduplication_token: randomUUID() }
    })
    const map = this.#maps[table] as Map<string, Tables[T]>
    const key = row[KEYS[table] as keyof Tables[T]] as unknown as string
    if (deleted) map.delete(key)
    else map.set(key, row)
    this.#writes++
    this.#reindex()
  }

  // Reads (all synchronous, from the snapshot).
  team (id: string): Team | undefined { return this.#maps.teams.get(id) }
  project (id: string): Project | undefined { return this.#maps.projects.get(id) }
  projectBySid (sid: string): Project | undefined { return this.#bySid.get(sid) }
  route (id: string): Route | undefined { return this.#maps.routes.get(id) }
  webhook (id: string): Webhook | undefined { return this.#maps.webhooks.get(id) }
  domain (hostname: string): TrackingDomain | undefined { return this.#maps.tracking_domains.get(hostname) }
  projects (teamId?: string): Project[] { return [...this.#maps.projects.values()].filter(p => teamId === undefined || p.team_id === teamId).sort(byCreated) }
  routes (projectId: string): Route[] { return [...this.#maps.routes.values()].filter(r => r.project_id === projectId).sort(byCreated) }
  webhooks (projectId: string): readonly Webhook[] { return this.#webhooksByProject.get(projectId) ?? [] }
  domains (projectId?: string): TrackingDomain[] { return [...this.#maps.tracking_domains.values()].filter(d => projectId === undefined || d.project_id === projectId).sort(byCreated) }
  get teamCount (): number { return this.#maps.teams.size }

  /**
   * The team a bearer token belongs to. Tokens look like `ct_<id>_<secret>`; the id finds
   * the record, and the SHA-256 of the whole token is compared in constant time. An unknown
   * id does the same work against a dummy hash, so the answer time does not tell whether
   * an id exists (a well-formed token costs one hash and one compare either way).
   */
  authenticate (token: string): ApiToken | undefined {
    const m = /^ct_([a-z0-9]{8})_[A-Za-z0-9_-]{20,}$/.exec(token)
    if (m === null) return undefined
    const rec = this.#maps.api_tokens.get(m[1])
    // (hex then decoded: measured faster on Node 20 than digest() to a Buffer)
    const given = Buffer.from(hashToken(token), 'hex')
    const stored = Buffer.from(rec === undefined ? DUMMY_TOKEN_HASH : rec.token_hash, 'hex')
    const equal = given.length === stored.length && timingSafeEqual(given, stored)
    return equal && rec !== undefined ? rec : undefined
  }
}

// Compared against when a token's id is unknown: the hash of nothing anyone holds.
const DUMMY_TOKEN_HASH = createHash('sha256').update(randomBytes(32)).digest('hex')

function byCreated (a: { created_at: number }, b: { created_at: number }): number {
  return a.created_at - b.created_at
}

/** A row as read (DateTime64 text, quoted UInt64) → the in-memory shape (unix ms). */
function fromDb (raw: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(raw)) {
    if (k === 'version') continue
    if (TIME_COLUMNS.has(k)) out[k] = Date.parse(`${String(v).replace(' ', 'T')}Z`)
    else out[k] = v
  }
  return out
}
