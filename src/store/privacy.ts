import type { ClickHouseClient } from '@clickhouse/client'
import { isIP } from 'node:net'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'
import { counter, gauge, type Metric } from '../metrics.js'

/*
 * Recipients' addresses are personal data. A project says what is kept of them
 * (`ip_addresses`): `full`, `truncated` (IPv4 to its /24, IPv6 to its /48) or `none`. The
 * classifier and late evidence need the whole address (same address across messages, the
 * honeypot fetcher's address, scanner ranges), so every address is kept whole for the
 * late-evidence horizon (--address-privacy-after-ms, default 24 h) after the click; after
 * it, a periodic pass rewrites `clicks.ip` and `click_observations.ip` / `peer_ip` of the
 * projects that keep less to what their setting allows. Default `truncated`: classification
 * works as before, and after a day no stored address names one machine.
 */

export const IP_ADDRESS_MODES = ['full', 'truncated', 'none'] as const
export type IpAddressMode = typeof IP_ADDRESS_MODES[number]
/** What a project keeps when it has not chosen (and every project made before the setting). */
export const DEFAULT_IP_ADDRESSES: IpAddressMode = 'truncated'

/**
 * An address as `truncated` keeps it, in ClickHouse SQL (`col` is a column name): a.b.c.0, the
 * /48 of IPv6 (`2001:db8:abcd::`), the IPv4 /24 of an IPv4-mapped one, '' for anything else. Only functions that never throw: a
 * mutation that throws on one row is retried by ClickHouse for ever and holds up the
 * table's later mutations (multiIf evaluates every branch on every row).
 */
export function truncatedSql (col: string): string {
  return `multiIf(isIPv4String(${col}), IPv4NumToString(bitAnd(IPv4StringToNumOrDefault(${col}), toUInt32(4294967040))), isIPv6String(${col}), cutIPv6(IPv6StringToNumOrDefault(${col}), 10, 1), '')`
}

/** What `mode` keeps of column `col`, in SQL. */
export function keptSql (col: string, mode: IpAddressMode): string {
  if (mode === 'full') return col
  if (mode === 'none') return "''"
  return truncatedSql(col)
}

/**
 * What `mode` keeps of one address, as the pass writes it (the same text ClickHouse's
 * functions give): for what the Team API shows before the pass has run. Idempotent.
 */
export function keptAddress (ip: string, mode: IpAddressMode): string {
  if (mode === 'full') return ip
  if (mode === 'none') return ''
  const kind = isIP(ip)
  if (kind === 4) return ip.slice(0, ip.lastIndexOf('.')) + '.0'
  if (kind !== 6) return ''
  const g = ipv6Groups(ip)
  if (g === undefined) return ''
  // IPv4-mapped (`::ffff:a.b.c.d`): its IPv4 /24, as ClickHouse's cutIPv6 writes it.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) return `::ffff:${g[6] >> 8}.${g[6] & 255}.${g[7] >> 8}.0`
  return formatIpv6([g[0], g[1], g[2], 0, 0, 0, 0, 0])
}

/** The eight 16-bit groups of an IPv6 address isIP accepted (a dotted IPv4 tail included). */
function ipv6Groups (ip: string): number[] | undefined {
  let s = ip
  const zone = s.indexOf('%')
  if (zone !== -1) s = s.slice(0, zone)
  const lastColon = s.lastIndexOf(':')
  if (s.indexOf('.', lastColon) !== -1) { // `::ffff:1.2.3.4`: the tail as two groups
    const b = s.slice(lastColon + 1).split('.').map(Number)
    s = `${s.slice(0, lastColon + 1)}${((b[0] << 8) | b[1]).toString(16)}:${((b[2] << 8) | b[3]).toString(16)}`
  }
  const parse = (part: string): number[] => part === '' ? [] : part.split(':').map(h => parseInt(h, 16))
  const gap = s.indexOf('::')
  if (gap === -1) {
    const all = parse(s)
    return all.length === 8 ? all : undefined
  }
  const left = parse(s.slice(0, gap))
  const right = parse(s.slice(gap + 2))
  const zeros = 8 - left.length - right.length
  return zeros < 1 ? undefined : [...left, ...new Array<number>(zeros).fill(0), ...right]
}

/** RFC 5952 text: lower-case hex, no leading zeros, the longest run of two or more zero groups as `::`. */
function formatIpv6 (g: number[]): string {
  let best = -1
  let bestLen = 1
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && g[j] === 0) j++
    if (j - i > bestLen) { best = i; bestLen = j - i }
    i = j
  }
  const hex = g.map(x => x.toString(16))
  if (best === -1) return hex.join(':')
  return hex.slice(0, best).join(':') + '::' + hex.slice(best + bestLen).join(':')
}

/** The address columns of each table holding recipients' addresses. */
const TABLES: ReadonlyArray<{ table: string, columns: readonly string[] }> = [
  { table: 'clicks', columns: ['ip'] },
  { table: 'click_observations', columns: ['ip', 'peer_ip'] }
]

const SID = /^[a-z0-9]{1,32}$/

/**
 * The mutations that bring rows captured before `beforeMs` (and, when given, at or after
 * `fromMs`) of the given projects to their setting. Values are inlined (ClickHouse takes no
 * query parameters in a mutation): sids are checked against the sid pattern, times are
 * integers. Only rows still holding more than allowed match, so a pass is idempotent and a
 * repeated one rewrites nothing.
 */
export function privacyMutations (sids: Record<'truncated' | 'none', string[]>, beforeMs: number, fromMs: number | undefined, cluster = ''): string[] {
  const out: string[] = []
  for (const mode of ['truncated', 'none'] as const) {
    const list = sids[mode].filter(s => SID.test(s))
    if (list.length === 0) continue
    for (const { table, columns } of TABLES) {
      const target = cluster === '' ? table : `${table}_local ON CLUSTER '${cluster.replace(/'/g, '')}'`
      const set = columns.map(c => `${c} = ${keptSql(c, mode)}`).join(', ')
      const more = columns.map(c => `${c} != ${keptSql(c, mode)}`).join(' OR ')
      const since = fromMs === undefined ? '' : ` AND ts >= fromUnixTimestamp64Milli(toInt64(${Math.floor(fromMs)}))`
      out.push(`ALTER TABLE ${target} UPDATE ${set} WHERE sid IN (${list.map(s => `'${s}'`).join(', ')}) AND ts < fromUnixTimestamp64Milli(toInt64(${Math.floor(beforeMs)}))${since} AND (${more})`)
    }
  }
  return out
}

export interface AddressPrivacyOptions {
  client: ClickHouseClient
  log: Logger
  /** Every project's sid and setting (the control plane's snapshot). */
  projects: () => Iterable<{ sid: string, ip_addresses?: string }>
  /** Addresses are kept whole this long after the click (the late-evidence horizon). */
  afterMs: number
  /** How often a pass runs. */
  intervalMs: number
  cluster?: string
}

/**
 * The periodic pass. Each pass covers the clicks that passed the horizon since the one
 * before (and one more horizon back, for click versions written late, e.g. by late
 * reclassification); the first pass after start covers everything. A failed pass is logged,
 * counted and tried again at the next interval, over the same range.
 */
export class AddressPrivacy {
  passes = 0
  failures = 0
  mutations = 0
  lastBeforeMs = 0
  #done: number | undefined
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  readonly #o: AddressPrivacyOptions

  constructor (options: AddressPrivacyOptions) {
    this.#o = options
  }

  metrics (): Metric[] {
    return [
      counter('clicktrail_address_privacy_passes_total', 'passes that brought stored recipient addresses past the horizon to their project\'s ip_addresses setting', this.passes),
      counter('clicktrail_address_privacy_failures_total', 'such passes that failed (retried at the next interval)', this.failures),
      counter('clicktrail_address_privacy_mutations_total', 'ClickHouse mutations those passes ran', this.mutations),
      gauge('clicktrail_address_privacy_horizon_seconds', 'clicks before this unix time hold only what their project\'s setting allows', Math.floor(this.lastBeforeMs / 1000))
    ]
  }

  start (): void {
    this.#timer = setInterval(() => {
      if (this.#running !== undefined) return
      this.#running = this.runOnce().then(() => {}, () => {}).finally(() => { this.#running = undefined })
    }, this.#o.intervalMs)
    this.#timer.unref()
  }

  async stop (): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    await this.#running
  }

  /** One pass now: what passed the horizon by `now`. Throws when ClickHouse refuses (after counting it). */
  async runOnce (now = Date.now()): Promise<number> {
    const before = now - this.#o.afterMs
    const sids: Record<'truncated' | 'none', string[]> = { truncated: [], none: [] }
    for (const p of this.#o.projects()) {
      const mode = (IP_ADDRESS_MODES as readonly string[]).includes(p.ip_addresses ?? '') ? p.ip_addresses as IpAddressMode : DEFAULT_IP_ADDRESSES
      if (mode !== 'full') sids[mode].push(p.sid)
    }
    const from = this.#done === undefined ? undefined : this.#done - this.#o.afterMs
    const statements = privacyMutations(sids, before, from, this.#o.cluster)
    try {
      for (const query of statements) {
        // Waits until this replica (or every replica: 2) has applied it, so that a pass that
        // returns has done what it says.
        await this.#o.client.command({ query, clickhouse_settings: { mutations_sync: '2' } })
        this.mutations++
      }
    } catch (err) {
      this.failures++
      limited(this.#o.log).warn('privacy.failed', { err: err instanceof Error ? err.message : String(err) }, 'address privacy pass failed; retried at the next interval')
      throw err
    }
    this.passes++
    this.#done = before
    this.lastBeforeMs = before
    return statements.length
  }
}
