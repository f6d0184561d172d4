import { Resolver } from 'node:dns/promises'
import { randomBytes } from 'node:crypto'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'
import { hostnameOf } from '../token/tracked-url.js'
import type { DomainClaim, Project } from './model.js'
import type { ControlPlane } from './plane.js'
import { counter, gauge, type Metric } from '../metrics.js'

export interface DomainSettings {
  /** The tracking base URL: its host and every name under it are the operator's. */
  trackingBaseUrl: string
  /** The operator's `--domain` hosts (and every name under them). */
  operatorDomains: Iterable<string>
  /** `HOST:PORT` of the resolver to ask; empty = the system's. */
  dnsServer: string
  /** First re-check of a pending domain after this; then about as long as it has been pending (capped at an hour). */
  recheckMs: number
  /** A domain still pending this long after it was claimed fails (and gives the hostname up). */
  verifyWindowMs: number
  /** Per DNS query (node's resolver retries once within it). */
  dnsTimeoutMs?: number
  /** Pending domains checked per background tick at most. */
  maxChecksPerTick?: number
}

/** A DNS record the domain's owner publishes, and whether the last check found it. */
export interface DnsRecord {
  type: 'CNAME' | 'TXT'
  /** Relative to the domain (Lettermint's `hostname`): '@' for the domain itself. */
  hostname: string
  fqdn: string
  content: string
  /** 'active': found (by this check, or it is the record that verified the domain); else the domain's state. */
  status: 'active' | 'pending' | 'failed'
}

export interface CheckResult {
  cname: boolean
  txt: boolean
  /** A resolver failure (timeout, refused, SERVFAIL), not just an absent record. */
  error?: string
}

const TXT_PREFIX = '_clicktrail.'
const TXT_VALUE = 'clicktrail-verify='
const MAX_BACKOFF_MS = 3600_000
// Record absent: an answer, not a failure of the resolver.
const ABSENT = new Set(['ENOTFOUND', 'ENODATA', 'ENONAME', 'NOTFOUND', 'NODATA'])

/**
 * Custom tracking domains, as Lettermint does them: a claimed hostname is
 * `pending_verification` until DNS shows that its claimant controls it — a CNAME of the
 * hostname to the project's tracking host `p{sid}.{tracking host}`, or a TXT record
 * `_clicktrail.<hostname>` = `clicktrail-verify=<token>` — and only then routes clicks and
 * counts as already tracked. Pending domains are re-checked in the background with a
 * growing interval; one still pending after the verify window is `failed_verification`.
 * The operator's hostnames can never be claimed.
 */
export class DomainService {
  /** The verification and claim counters. */
  metrics (): Metric[] {
    const s = this.stats
    const c = this.plane.claimStats
    return [
      counter('clicktrail_domain_checks_total', 'DNS verification checks of tracking domains', s.checks),
      counter('clicktrail_domain_verified_total', 'tracking domains that became verified on this node', s.verified),
      counter('clicktrail_domain_failed_total', 'tracking domains that failed verification (still pending at the end of the window)', s.failed),
      counter('clicktrail_domain_dns_errors_total', 'verification checks the DNS resolver could not answer', s.dnsErrors),
      counter('clicktrail_domain_write_errors_total', 'verification results that could not be stored', s.writeErrors),
      counter('clicktrail_domain_reserved_refused_total', 'claims of an operator hostname refused', s.reservedRefused),
      counter('clicktrail_claims_won_total', 'claims of a sid or hostname that won on this node', c.won),
      counter('clicktrail_claims_lost_total', 'claims of a sid or hostname that lost the race and were withdrawn', c.lost),
      gauge('clicktrail_projects_hidden', 'project rows not holding their sid\'s winning claim (invisible)', c.hiddenProjects)
    ]
  }

  readonly #resolver: Resolver
  readonly #trackingHostname: string
  readonly #reserved: string[]
  readonly #limited
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  // hostname+project → a check under way: concurrent verify-now calls share one lookup.
  readonly #inFlight = new Map<string, Promise<CheckResult>>()
  readonly stats = { checks: 0, verified: 0, failed: 0, dnsErrors: 0, writeErrors: 0, reservedRefused: 0 }

  constructor (readonly plane: ControlPlane, readonly log: Logger, readonly settings: DomainSettings) {
    const timeout = settings.dnsTimeoutMs ?? 2000
    this.#resolver = new Resolver({ timeout: Math.max(1, Math.floor(timeout / 2)), tries: 2 })
    if (settings.dnsServer !== '') this.#resolver.setServers([settings.dnsServer])
    this.#trackingHostname = hostnameOf(new URL(settings.trackingBaseUrl).host)
    this.#reserved = [this.#trackingHostname, ...[...settings.operatorDomains].map(d => hostnameOf(d))]
    this.#limited = limited(log)
    plane.domainService = this
  }

  /** The operator's hostnames (tracking base, `--domain`) and every name under them. */
  reserved (hostname: string): boolean {
    for (const r of this.#reserved) if (hostname === r || hostname.endsWith(`.${r}`)) return true
    return false
  }

  noteReserved (): void { this.stats.reservedRefused++ }

  newToken (): string { return randomBytes(16).toString('hex') }

  /** `p{sid}.{tracking host without port}`: what the CNAME must point at. */
  cnameTarget (project: Project): string { return `p${project.sid}.${this.#trackingHostname}` }

  /** The records to publish, each marked with what the last check (or `live`) found. */
  records (d: DomainClaim, project: Project, live?: CheckResult): DnsRecord[] {
    const base: DnsRecord['status'] = d.status === 'failed_verification' ? 'failed' : 'pending'
    const cnameOk = live?.cname ?? d.verified_by === 'cname'
    const txtOk = live?.txt ?? d.verified_by === 'txt'
    return [
      { type: 'CNAME', hostname: '@', fqdn: d.hostname, content: this.cnameTarget(project), status: cnameOk ? 'active' : base },
      { type: 'TXT', hostname: TXT_PREFIX.slice(0, -1), fqdn: `${TXT_PREFIX}${d.hostname}`, content: `${TXT_VALUE}${d.verification_token}`, status: txtOk ? 'active' : base }
    ]
  }

  /** Asks DNS now whether either record is in place. Never throws. */
  async check (d: DomainClaim, project: Project): Promise<CheckResult> {
    const key = `${d.hostname} ${d.project_id}`
    let p = this.#inFlight.get(key)
    if (p === undefined) {
      p = this.#lookup(d, project).finally(() => { this.#inFlight.delete(key) })
      this.#inFlight.set(key, p)
    }
    return await p
  }

  async #lookup (d: DomainClaim, project: Project): Promise<CheckResult> {
    this.stats.checks++
    const target = this.cnameTarget(project)
    const [cname, txt] = await Promise.all<{ ok: boolean, error?: string }>([
      this.#resolver.resolveCname(d.hostname).then(
        names => ({ ok: names.some(n => hostnameOf(n) === target) }),
        (err: NodeJS.ErrnoException) => ({ ok: false, error: ABSENT.has(err.code ?? '') ? undefined : (err.code ?? err.message) })),
      this.#resolver.resolveTxt(`${TXT_PREFIX}${d.hostname}`).then(
        records => ({ ok: d.verification_token !== '' && records.some(chunks => chunks.join('').trim() === `${TXT_VALUE}${d.verification_token}`) }),
        (err: NodeJS.ErrnoException) => ({ ok: false, error: ABSENT.has(err.code ?? '') ? undefined : (err.code ?? err.message) }))
    ])
    const error = cname.ok || txt.ok ? undefined : (cname.error ?? txt.error)
    if (error !== undefined) {
      this.stats.dnsErrors++
      this.#limited.warn('domains.dns', { hostname: d.hostname, error }, 'domain verification: the DNS resolver failed; will check again later')
    }
    return { cname: cname.ok, txt: txt.ok, ...(error === undefined ? {} : { error }) }
  }

  /**
   * The claim after a check at `now`: verified when a record was found; a pending claim past
   * the verify window fails. A verified domain stays verified (a DNS hiccup must not stop
   * its clicks); a failed one changes only through a new claim.
   */
  next (d: DomainClaim, r: CheckResult, now = Date.now()): DomainClaim {
    const out: DomainClaim = { ...d, checked_at: now }
    if (d.status === 'pending_verification') {
      if (r.cname || r.txt) {
        Object.assign(out, { status: 'verified', verified_by: r.cname ? 'cname' : 'txt', verified_at: now, status_changed_at: now })
      } else if (now - d.created_at >= this.settings.verifyWindowMs) {
        Object.assign(out, { status: 'failed_verification', status_changed_at: now })
      }
    }
    return out
  }

  /** When a pending claim is due for its next background check. */
  dueAt (d: DomainClaim): number {
    if (d.checked_at === 0) return d.created_at + this.settings.recheckMs
    const pendingFor = d.checked_at - d.created_at
    return d.checked_at + Math.min(MAX_BACKOFF_MS, Math.max(this.settings.recheckMs, pendingFor))
  }

  start (): void {
    const tickMs = Math.min(this.settings.recheckMs, 60_000)
    this.#timer = setInterval(() => {
      if (this.#running !== undefined) return
      this.#running = this.recheck().then(() => undefined, (err: Error) => {
        this.#limited.warn('domains.recheck', { err: err.message }, 'domain re-check pass failed')
      }).finally(() => { this.#running = undefined })
    }, tickMs)
    this.#timer.unref()
  }

  async stop (): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    await this.#running
  }

  /**
   * One background pass: the pending claims that own their hostname and are due, oldest due
   * first, at most `maxChecksPerTick` of them, one at a time (DNS answers are awaited, never
   * piled up). Each check moves the claim's next due time on, so a name whose records never
   * appear is asked about less and less often.
   */
  async recheck (now = Date.now()): Promise<number> {
    const due: DomainClaim[] = []
    for (const d of this.plane.domains()) {
      if (d.status !== 'pending_verification' || this.plane.domain(d.hostname) !== d) continue
      if (this.dueAt(d) <= now) due.push(d)
    }
    due.sort((a, b) => this.dueAt(a) - this.dueAt(b))
    let done = 0
    for (const d of due.slice(0, this.settings.maxChecksPerTick ?? 50)) {
      const project = this.plane.project(d.project_id)
      if (project === undefined) continue
      await this.plane.exclusive(`domain:${d.hostname}`, async () => {
        const current = this.plane.domainClaim(d.hostname, d.project_id)
        if (current === undefined || current.status !== 'pending_verification') return
        const r = await this.check(current, project)
        await this.save(current, this.next(current, r))
        done++
      })
    }
    return done
  }

  /** Writes a claim's new state; a failed write is logged and retried at the next check. */
  async save (before: DomainClaim, after: DomainClaim): Promise<boolean> {
    try {
      await this.plane.write('domain_claims', after)
    } catch (err) {
      this.stats.writeErrors++
      this.#limited.warn('domains.write', { hostname: after.hostname, err: (err as Error).message }, 'domain verification: could not store the result; will check again')
      return false
    }
    if (before.status !== after.status) {
      if (after.status === 'verified') this.stats.verified++
      if (after.status === 'failed_verification') this.stats.failed++
      this.log.info({ hostname: after.hostname, project_id: after.project_id, status: after.status, verified_by: after.verified_by }, 'tracking domain state changed')
    }
    return true
  }
}
