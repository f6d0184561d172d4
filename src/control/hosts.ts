import { HostMemo, schemeOf, type HostResolver, type ProjectRoute, type TrackingScheme } from '../redirect/hosts.js'
import { sidOfTrackingHost, trackingSuffix } from '../token/tracked-url.js'
import { BlockMatcher, type Block } from './blocks.js'
import type { ControlPlane } from './plane.js'

/** What host resolution reads of the control plane: the live plane, or a snapshot of it. */
export interface RouteSource {
  /** Changes whenever what the other two answer may have changed. */
  readonly generation: number
  projectBySid: (sid: string) => { sid: string, token_ttl_days: number, retention_days: number } | undefined
  /** The sid of the project that has verified `hostname`, if one has. */
  verifiedDomainSid: (hostname: string) => string | undefined
}

/**
 * What a redirect thread needs of the control-plane snapshot, as plain data: posted to the
 * threads whenever the snapshot changes (they cannot read the plane, which lives on the main
 * thread beside ClickHouse).
 */
export interface RouteSnapshot {
  generation: number
  projects: Array<{ sid: string, token_ttl_days: number, retention_days: number }>
  /** Verified custom domains: [hostname, sid]. */
  verified: Array<[string, string]>
  blocks: Block[]
}

/** The live control plane as a RouteSource. */
export function planeRoutes (plane: ControlPlane): RouteSource {
  return {
    get generation () { return plane.generation },
    projectBySid: sid => plane.projectBySid(sid),
    verifiedDomainSid: hostname => {
      const d = plane.domain(hostname)
      return d !== undefined && d.status === 'verified' ? plane.project(d.project_id)?.sid : undefined
    }
  }
}

/** A posted RouteSnapshot as a RouteSource, with the block matcher built from it. */
export class SnapshotRoutes implements RouteSource {
  readonly generation: number
  readonly blockMatcher: BlockMatcher
  readonly #projects: Map<string, RouteSnapshot['projects'][number]>
  readonly #verified: Map<string, string>

  constructor (s: RouteSnapshot) {
    this.generation = s.generation
    this.#projects = new Map(s.projects.map(p => [p.sid, p]))
    this.#verified = new Map(s.verified)
    this.blockMatcher = new BlockMatcher(s.blocks)
  }

  projectBySid (sid: string): RouteSnapshot['projects'][number] | undefined { return this.#projects.get(sid) }
  verifiedDomainSid (hostname: string): string | undefined { return this.#verified.get(hostname) }
}

/**
 * Host → project from the control-plane snapshot: the operator's `--domain` hosts first (a
 * tenant can never take one over, even by a claim stored before reserved names existed), then
 * `p{sid}.{tracking host}` of an existing project, then a custom domain that its owning
 * project has verified; anything else (a pending or failed domain too) is unknown (404).
 * Answers are memoised per Host header value (bounded, as Host is attacker-controlled)
 * and the memo is dropped whenever the snapshot changes. `routes` is a getter so a redirect
 * thread can swap in each new snapshot.
 */
export class ControlPlaneHostResolver implements HostResolver {
  readonly #suffix: string
  readonly #memo: HostMemo
  readonly #routes: () => RouteSource
  readonly #scheme: TrackingScheme
  #generation = -1

  constructor (routes: ControlPlane | (() => RouteSource), trackingBaseUrl: string, readonly staticDomains: Map<string, string> = new Map(), memoMax = 4096) {
    if (typeof routes === 'function') {
      this.#routes = routes
    } else {
      const live = planeRoutes(routes)
      this.#routes = () => live
    }
    this.#suffix = trackingSuffix(trackingBaseUrl)
    this.#scheme = schemeOf(trackingBaseUrl)
    this.#memo = new HostMemo(name => this.#lookup(name), memoMax)
  }

  resolve (host: string): ProjectRoute | undefined {
    const generation = this.#routes().generation
    if (this.#generation !== generation) {
      this.#memo.clear()
      this.#generation = generation
    }
    return this.#memo.resolve(host)
  }

  #lookup (name: string): ProjectRoute | null {
    const routes = this.#routes()
    let sid: string | undefined
    // Custom domains carry no configured scheme: a CNAME may or may not have TLS in front.
    let scheme: TrackingScheme = ''
    if (this.staticDomains.has(name)) {
      sid = this.staticDomains.get(name)
    } else if (name.endsWith(this.#suffix)) {
      sid = sidOfTrackingHost(name, this.#suffix)
      scheme = this.#scheme
    } else {
      sid = routes.verifiedDomainSid(name)
    }
    const project = sid === undefined ? undefined : routes.projectBySid(sid)
    if (project === undefined) return null
    return { sid: project.sid, tokenTtlSeconds: project.token_ttl_days * 86400, retentionDays: project.retention_days, scheme }
  }
}
