import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { ClickHouseClient } from '@clickhouse/client'
import type { Logger } from '../log.js'
import { KEYS, NUMBER_COLUMNS, TIME_COLUMNS, keyOf, type ApiToken, type DomainClaim, type Project, type Route, type SidClaim, type TableName, type Tables, type Webhook, type Team } from './model.js'
import type { DomainService } from './domains.js'
import { BlockMatcher, type Block } from './blocks.js'
import type { RouteSnapshot } from './hosts.js'
import { counter, gauge, type Metric } from '../metrics.js'
import { controlFingerprint, insertControlRow, readClaimRows, readControlTable } from '../store/control.js'

const TABLES = Object.keys(KEYS) as TableName[]

type Maps = { [T in TableName]: Map<string, Tables[T]> }

function emptyMaps (): Maps {
  return { teams: new Map(), api_tokens: new Map(), projects: new Map(), routes: new Map(), webhooks: new Map(), sid_claims: new Map(), domain_claims: new Map(), blocks: new Map() }
}

/** Tables whose rows are claims of a unique key: the key column each is unique by. */
export type ClaimTable = 'sid_claims' | 'domain_claims'
const CLAIM_KEY: { [T in ClaimTable]: 'sid' | 'hostname' } = { sid_claims: 'sid', domain_claims: 'hostname' }

/** The claim rule: of two live claims of one key, the smaller (claim_seq, project_id) wins. */
export function claimBefore (a: { claim_seq: number, project_id: string }, b: { claim_seq: number, project_id: string }): boolean {
  return a.claim_seq < b.claim_seq || (a.claim_seq === b.claim_seq && a.project_id < b.project_id)
}

/** A failed_verification claim has given its hostname up: it no longer blocks another project's claim. */
export function domainClaimIsLive (d: DomainClaim): boolean {
  return d.status !== 'failed_verification'
}

/** The winner of a set of claims of one key, or undefined when none is live. */
export function claimWinner<C extends { claim_seq: number, project_id: string }> (claims: Iterable<C>, live: (c: C) => boolean = () => true): C | undefined {
  let best: C | undefined
  for (const c of claims) if (live(c) && (best === undefined || claimBefore(c, best))) best = c
  return best
}

export interface ClaimResult<C> {
  /** This claimant is the winner (as ClickHouse had it after the settle wait). */
  won: boolean
  /** The claim as stored, with the claim_seq ClickHouse stamped. */
  row: C
  /** The winning claim (this one when `won`). */
  winner: C | undefined
}

/** Bounds of the settle wait between a claim's insert and its re-read (see `claim`). */
const SETTLE_MIN_MS = 10
const SETTLE_MAX_MS = 1000

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
 *
 * Unique keys (a project's sid, a tracking hostname) are claims: rows keyed by (key,
 * project), stamped by ClickHouse's clock as they are inserted. On one node a claim's check
 * and writes run alone for that key (`exclusive`); across nodes the earliest
 * (claim_seq, project_id) wins (`claim`), and the snapshot applies the same rule: a project
 * that does not hold its sid's winning claim is invisible, and a hostname belongs to its
 * winning live claim.
 */
export class ControlPlane {
  /** The snapshot's refresh, as metrics (a node whose refresh fails serves an ageing snapshot). */
  metrics (): Metric[] {
    return [
      counter('clicktrail_config_refresh_failures_total', 'control-plane refreshes that failed (the last snapshot is served)', this.refreshFailures),
      counter('clicktrail_config_changes_total', 'control-plane snapshot changes applied on this node', this.generation),
      gauge('clicktrail_config_age_seconds', 'seconds since the snapshot was last confirmed against ClickHouse', this.lastConfirmed === 0 ? 0 : (Date.now() - this.lastConfirmed) / 1000)
    ]
  }

  #maps: Maps = emptyMaps()
  // Derived from #maps at every change: only projects holding their sid's winning claim.
  #projects = new Map<string, Project>()
  #bySid = new Map<string, Project>()
  // hostname → the winning live claim (of a visible project), whatever its verification state.
  #domainOwner = new Map<string, DomainClaim>()
  #domainsByProject = new Map<string, DomainClaim[]>()
  // Per-key chains of this node's claim critical sections (see `exclusive`).
  readonly #locks = new Map<string, Promise<unknown>>()
  /** Custom domains: verification, reserved names (set by the engine; absent in bare tests). */
  domainService: DomainService | undefined
  /** Claim outcomes on this node, for /metrics. */
  readonly claimStats = { won: 0, lost: 0, hiddenProjects: 0 }
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
  /** When the snapshot was last found current (unix ms; 0 before the first poll). */
  lastConfirmed = 0
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
      this.lastConfirmed = Date.now()
    } catch (err) {
      this.refreshFailures++
      if (this.refreshFailures === 1 || this.refreshFailures % 30 === 0) this.log.warn({ err: (err as Error).message }, 'control plane refresh failed; serving the last snapshot')
    }
  }

  async #readFingerprint (): Promise<string> {
    return await controlFingerprint(this.client, TABLES)
  }

  /** Reads every table (FINAL, live rows only) into a new snapshot. */
  async reload (): Promise<void> {
    const writesBefore = this.#writes
    const fp = await this.#readFingerprint()
    const maps = emptyMaps()
    for (const table of TABLES) {
      const rows = await readControlTable(this.client, table)
      const map = maps[table] as Map<string, unknown>
      for (const raw of rows) {
        const row = fromDb(raw)
        map.set(keyOf(table, row as never), row)
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
    // A project is visible only while it holds the winning claim of its sid: a project whose
    // claim lost (or that has none yet, its claim in flight) is invisible everywhere.
    const sidWinner = new Map<string, SidClaim>()
    for (const c of this.#maps.sid_claims.values()) {
      const best = sidWinner.get(c.sid)
      if (best === undefined || claimBefore(c, best)) sidWinner.set(c.sid, c)
    }
    this.#projects = new Map()
    this.#bySid = new Map()
    let hidden = 0
    for (const p of this.#maps.projects.values()) {
      const w = sidWinner.get(p.sid)
      if (w === undefined || w.project_id !== p.project_id) { hidden++; continue }
      this.#projects.set(p.project_id, p)
      this.#bySid.set(p.sid, p)
    }
    this.claimStats.hiddenProjects = hidden
    this.#domainOwner = new Map()
    this.#domainsByProject = new Map()
    for (const d of [...this.#maps.domain_claims.values()].sort(byCreated)) {
      if (!this.#projects.has(d.project_id)) continue
      const list = this.#domainsByProject.get(d.project_id)
      if (list === undefined) this.#domainsByProject.set(d.project_id, [d])
      else list.push(d)
      if (!domainClaimIsLive(d)) continue
      const best = this.#domainOwner.get(d.hostname)
      if (best === undefined || claimBefore(d, best)) this.#domainOwner.set(d.hostname, d)
    }
    this.#webhooksByProject = new Map()
    for (const w of [...this.#maps.webhooks.values()].sort(byCreated)) {
      const list = this.#webhooksByProject.get(w.project_id)
      if (list === undefined) this.#webhooksByProject.set(w.project_id, [w])
      else list.push(w)
    }
    this.#blockMatcher = new BlockMatcher(this.#maps.blocks.values())
    this.generation++
    for (const fn of this.#listeners) fn()
  }

  #blockMatcher = new BlockMatcher([])
  /** What the redirect threads need of this snapshot, as plain data (control/hosts.ts). */
  routeSnapshot (): RouteSnapshot {
    const verified: Array<[string, string]> = []
    for (const [hostname, d] of this.#domainOwner) {
      const sid = d.status === 'verified' ? this.#projects.get(d.project_id)?.sid : undefined
      if (sid !== undefined) verified.push([hostname, sid])
    }
    return {
      generation: this.generation,
      projects: [...this.#bySid.values()].map(p => ({ sid: p.sid, token_ttl_days: p.token_ttl_days, retention_days: p.retention_days })),
      verified,
      blocks: [...this.#maps.blocks.values()]
    }
  }

  /** The operator's blocks, as a matcher for the redirect path (rebuilt when the snapshot changes). */
  get blockMatcher (): BlockMatcher { return this.#blockMatcher }
  blocks (): Block[] { return [...this.#maps.blocks.values()].sort(byCreated) }
  block (id: string): Block | undefined { return this.#maps.blocks.get(id) }

  /** A version above every version seen: unix µs, kept monotonic within this process. */
  #nextVersion (): number {
    const v = Math.max(Date.now() * 1000, this.#lastVersion + 1)
    this.#lastVersion = v
    return v
  }

  /** Inserts a new version of `row` (or its deletion) and applies it to this snapshot. */
  async write<T extends TableName> (table: T, row: Tables[T], deleted = false): Promise<void> {
    this.#writes++
    try {
      await this.#insert(table, row, deleted)
    } finally {
      this.#writes++
    }
    this.#apply(table, row, deleted)
  }

  async #insert (table: TableName, row: object, deleted: boolean): Promise<void> {
    await insertControlRow(this.client, table, row, this.#nextVersion(), deleted)
  }

  #apply<T extends TableName> (table: T, row: Tables[T], deleted: boolean): void {
    const map = this.#maps[table] as Map<string, Tables[T]>
    const key = keyOf(table, row)
    if (deleted) map.delete(key)
    else map.set(key, row)
    this.#reindex()
  }

  /**
   * Runs `fn` alone among the calls with the same `key` on this node: a unique key's check
   * and write are atomic with respect to this node's other requests. Across nodes `claim`'s
   * rule decides. The map holds only keys with a call running or waiting.
   */
  async exclusive<R> (key: string, fn: () => Promise<R>): Promise<R> {
    const before = this.#locks.get(key) ?? Promise.resolve()
    const run = before.then(fn, fn)
    const tail = run.then(() => undefined, () => undefined)
    this.#locks.set(key, tail)
    try {
      return await run
    } finally {
      if (this.#locks.get(key) === tail) this.#locks.delete(key)
    }
  }

  /**
   * Claims a unique key across nodes. Inserts the first version of `row` without claim_seq, so
   * ClickHouse stamps it with its own clock as it takes the insert; waits about as long as the
   * insert took (a rival insert stamped earlier but still in flight becomes visible meanwhile);
   * re-reads every claim of the key and applies the rule (`claimBefore`, over the claims that
   * `live` accepts). The caller withdraws a lost claim (`write(table, row, true)`) and answers
   * 409. Call it inside `exclusive` for the same key.
   */
  async claim<T extends ClaimTable> (table: T, row: Omit<Tables[T], 'claim_seq'>, live: (c: Tables[T]) => boolean = () => true): Promise<ClaimResult<Tables[T]>> {
    const col = CLAIM_KEY[table]
    const key = (row as Record<string, unknown>)[col] as string
    const { claim_seq: _, ...fresh } = row as Record<string, unknown>
    this.#writes++
    let rows: Array<Tables[T]>
    try {
      const started = Date.now()
      await this.#insert(table, fresh, false)
      const took = Date.now() - started
      await new Promise(resolve => setTimeout(resolve, Math.min(SETTLE_MAX_MS, Math.max(SETTLE_MIN_MS, took))))
      rows = await this.readClaims(table, key)
    } finally {
      this.#writes++
    }
    const mine = rows.find(r => r.project_id === row.project_id)
    if (mine === undefined) throw new Error(`${table}: the claim of ${key} just inserted was not read back`)
    for (const r of rows) this.#apply(table, r, false)
    const winner = claimWinner(rows, live)
    const won = winner !== undefined && winner.project_id === mine.project_id
    if (won) this.claimStats.won++
    else this.claimStats.lost++
    return { won, row: mine, winner }
  }

  /** Every live claim of `key` in ClickHouse (FINAL: the newest version of each claimant's row). */
  async readClaims<T extends ClaimTable> (table: T, key: string): Promise<Array<Tables[T]>> {
    const rows = await readClaimRows(this.client, table, CLAIM_KEY[table], key)
    return rows.map(r => fromDb(r) as unknown as Tables[T])
  }

  // Reads (all synchronous, from the snapshot).
  team (id: string): Team | undefined { return this.#maps.teams.get(id) }
  project (id: string): Project | undefined { return this.#projects.get(id) }
  projectBySid (sid: string): Project | undefined { return this.#bySid.get(sid) }
  route (id: string): Route | undefined { return this.#maps.routes.get(id) }
  webhook (id: string): Webhook | undefined { return this.#maps.webhooks.get(id) }
  /** The project owning `hostname` (the winning live claim), verified or not: check `status`. */
  domain (hostname: string): DomainClaim | undefined { return this.#domainOwner.get(hostname) }
  /** `projectId`'s own claim of `hostname`, whether it wins or not. */
  domainClaim (hostname: string, projectId: string): DomainClaim | undefined {
    const d = this.#maps.domain_claims.get(`${hostname} ${projectId}`)
    return d !== undefined && this.#projects.has(projectId) ? d : undefined
  }

  /** Hostnames that `projectId` owns and has verified: the only custom domains that route its clicks. */
  verifiedDomains (projectId: string): string[] {
    const out: string[] = []
    for (const d of this.#domainsByProject.get(projectId) ?? []) {
      if (d.status === 'verified' && this.#domainOwner.get(d.hostname) === d) out.push(d.hostname)
    }
    return out
  }

  projects (teamId?: string): Project[] { return [...this.#projects.values()].filter(p => teamId === undefined || p.team_id === teamId).sort(byCreated) }
  routes (projectId: string): Route[] { return [...this.#maps.routes.values()].filter(r => r.project_id === projectId).sort(byCreated) }
  webhooks (projectId: string): readonly Webhook[] { return this.#webhooksByProject.get(projectId) ?? [] }
  /** A project's domain claims, in creation order; without a project, every visible claim. */
  domains (projectId?: string): readonly DomainClaim[] {
    if (projectId !== undefined) return this.#domainsByProject.get(projectId) ?? []
    return [...this.#domainsByProject.values()].flat().sort(byCreated)
  }

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
    // Hex then decoded, as the hashes are stored: as fast as digest() to a Buffer (measured,
    // bench/micro/token-hash.mjs: the spreads overlap).
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
    else if (NUMBER_COLUMNS.has(k)) out[k] = Number(v)
    else out[k] = v
  }
  return out
}
