/**
 * The operator's kill switch: destinations (an exact URL, a URL prefix, a host and its
 * subdomains) or whole projects whose links must stop redirecting, even links already in
 * mailboxes. Blocks live in the control plane (ClickHouse), so every node applies them
 * within its refresh interval; the redirect path asks the matcher built from the snapshot.
 */
export const BLOCK_KINDS = ['url', 'prefix', 'host', 'project'] as const
export type BlockKind = typeof BLOCK_KINDS[number]

export interface Block {
  block_id: string
  kind: BlockKind
  /** url / prefix: normalised URL text; host: lower-case ASCII hostname; project: sid. */
  value: string
  reason: string
  created_at: number
}

const SID = /^[a-z0-9]{1,32}$/
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/

/**
 * The value a block of `kind` is stored and compared under, or an error message. URLs are
 * compared in their WHATWG serialisation (lower-case scheme and host, punycode, percent
 * forms), the form a browser navigates to, so that `HTTPS://Evil.example/x` and
 * `https://evil.example/x` are one destination.
 */
export function normalizeBlockValue (kind: BlockKind, value: string): { value: string } | { error: string } {
  const v = value.trim()
  switch (kind) {
    case 'url':
    case 'prefix': {
      let u: URL
      try { u = new URL(v) } catch { return { error: `${kind} must be an absolute http(s) URL` } }
      if (u.protocol !== 'http:' && u.protocol !== 'https:') return { error: `${kind} must be an absolute http(s) URL` }
      // A bare origin (`https://evil.example`) serialises with its `/`: the whole origin.
      return { value: u.href }
    }
    case 'host': {
      let host: string
      try { host = new URL(`http://${v}/`).hostname } catch { return { error: 'host must be a hostname' } }
      if (!HOSTNAME.test(host)) return { error: 'host must be a hostname' }
      return { value: host }
    }
    case 'project':
      return SID.test(v) ? { value: v } : { error: 'project must be a project sid' }
  }
}

/** The WHATWG form of a destination, or undefined if it does not parse (then only exact text can match). */
function normalizedHref (url: string): { href: string, host: string } | undefined {
  try {
    const u = new URL(url)
    return { href: u.href, host: u.hostname }
  } catch {
    return undefined
  }
}

/**
 * Answers "is this redirect blocked, and by what" from a set of blocks, built once per
 * snapshot change. Checks are by hash lookups (project, exact URL, host and each parent
 * domain) plus the prefixes of the destination's own host, so their cost does not grow
 * with the number of blocks.
 */
export class BlockMatcher {
  readonly size: number
  readonly #projects = new Map<string, Block>()
  readonly #urls = new Map<string, Block>()
  readonly #hosts = new Map<string, Block>()
  /** Prefix blocks by the host of the prefix. */
  readonly #prefixes = new Map<string, Block[]>()

  constructor (blocks: Iterable<Block>) {
    let n = 0
    for (const b of blocks) {
      n++
      switch (b.kind) {
        case 'project': this.#projects.set(b.value, b); break
        case 'url': this.#urls.set(b.value, b); break
        case 'host': this.#hosts.set(b.value, b); break
        case 'prefix': {
          const host = normalizedHref(b.value)?.host
          if (host === undefined) break
          const list = this.#prefixes.get(host)
          if (list === undefined) this.#prefixes.set(host, [b])
          else list.push(b)
          break
        }
      }
    }
    this.size = n
  }

  /** The block that stops a redirect of project `sid` to `url`, if any. */
  match (sid: string, url: string): Block | undefined {
    if (this.size === 0) return undefined
    const p = this.#projects.get(sid)
    if (p !== undefined) return p
    const n = normalizedHref(url)
    if (n === undefined) return this.#urls.get(url)
    const exact = this.#urls.get(n.href)
    if (exact !== undefined) return exact
    for (const b of this.#prefixes.get(n.host) ?? []) if (n.href.startsWith(b.value)) return b
    // The host and every parent domain: a host block covers its subdomains.
    let h = n.host
    for (;;) {
      const b = this.#hosts.get(h)
      if (b !== undefined) return b
      const dot = h.indexOf('.')
      if (dot === -1) return undefined
      h = h.slice(dot + 1)
    }
  }
}
