import { HostMemo, type HostResolver, type ProjectRoute } from '../redirect/hosts.js'
import { sidOfTrackingHost, trackingSuffix } from '../token/tracked-url.js'
import type { ControlPlane } from './plane.js'

/**
 * Host → project from the control-plane snapshot: the operator's `--domain` hosts first (a
 * tenant can never take one over, even by a claim stored before reserved names existed), then
 * `p{sid}.{tracking host}` of an existing project, then a custom domain that its owning
 * project has verified; anything else (a pending or failed domain too) is unknown (404).
 * Answers are memoised per Host header value (bounded, as Host is attacker-controlled)
 * and the memo is dropped whenever the snapshot changes.
 */
export class ControlPlaneHostResolver implements HostResolver {
  readonly #suffix: string
  readonly #memo: HostMemo
  #generation = -1

  constructor (readonly plane: ControlPlane, trackingBaseUrl: string, readonly staticDomains: Map<string, string> = new Map(), memoMax = 4096) {
    this.#suffix = trackingSuffix(trackingBaseUrl)
    this.#memo = new HostMemo(name => this.#lookup(name), memoMax)
  }

  resolve (host: string): ProjectRoute | undefined {
    if (this.#generation !== this.plane.generation) {
      this.#memo.clear()
      this.#generation = this.plane.generation
    }
    return this.#memo.resolve(host)
  }

  #lookup (name: string): ProjectRoute | null {
    let sid: string | undefined
    if (this.staticDomains.has(name)) {
      sid = this.staticDomains.get(name)
    } else if (name.endsWith(this.#suffix)) {
      sid = sidOfTrackingHost(name, this.#suffix)
    } else {
      const domain = this.plane.domain(name)
      if (domain !== undefined && domain.status === 'verified') sid = this.plane.project(domain.project_id)?.sid
    }
    const project = sid === undefined ? undefined : this.plane.projectBySid(sid)
    if (project === undefined) return null
    return { sid: project.sid, tokenTtlSeconds: project.token_ttl_days * 86400, retentionDays: project.retention_days }
  }
}
