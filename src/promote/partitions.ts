import { crc32 } from 'node:zlib'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'
import { Backoff } from '../backoff.js'
import type { ClickRow, InsertedSink, Observation } from '../records.js'
import type { MessageRef, PromotionStore } from '../store/promotion.js'
import type { LeaseRow, LeaseStore, NodeBeat } from '../store/leases.js'
import { errorText } from '../store/quarantine.js'
import { counter, gauge, type Metric } from '../metrics.js'
import { PromoterStats } from './promoter.js'

/*
 * Promotion by partitions (issue 17): several redirect nodes share one ClickHouse (a server
 * or a cluster), and a message's clicks land on any of them. Each message must be promoted
 * by one node, with all of its observations in view (bursts, shadow pairs, first_click).
 *
 * - The message-id space is cut into P partitions: crc32 of the message id's text, mod P
 *   (ClickHouse: CRC32(toString(message_id)) % P, store/observations.ts PARTITION_SQL).
 * - Each node beats (promotion_nodes) every lease/3: live until now + lease, with its
 *   ingest low watermark. The live nodes (sorted ids) share the partitions fairly: ⌊P/n⌋ or
 *   ⌈P/n⌉ each, each partition to its highest-scoring node (rendezvous hashing) that has room,
 *   so every node computes the same plan and a join or leave moves few partitions.
 * - A partition is held by the claimant of its highest epoch (promotion_leases) while that
 *   node's beat lives and the epoch is not released. A node claims a partition of its share
 *   when it is free (never claimed, released, or its holder's beat expired one renew interval
 *   ago) with epoch + 1; the claim's deduplication token makes the first claim of an epoch
 *   the only one. A holder whose partition is no longer in its share releases it (stops its
 *   promoter, then writes the release), so the next owner takes it at once.
 * - Each held partition runs its own Promoter (promote/promoter.ts, unchanged) over a fenced
 *   PartitionStore: its watermark in promotion_state under the key `partition/<p>/<P>`, its
 *   observations read from every node's rows, clicks already in `clicks` (obs_id) left out of
 *   the insert (a hand-over after the clicks were stored but before the watermark moved).
 *   Fencing: the store refuses to write (LeaseLost) once the holder's own beat is older than
 *   lease − renew interval, or once the manager saw another epoch; others take the partition
 *   only a renew interval after the beat expired, so clocks may disagree by up to that much.
 * - New observations of held partitions are polled from ClickHouse by ingest time (all
 *   nodes'), and this node's own are handed over in-process as they are stored. A partition's
 *   cut-off waits for the lowest low watermark of the live nodes, and of a node that stopped
 *   beating for --promotion-node-grace-ms (its spool may still hold observations).
 */

/** The promotion partition of a message id (its canonical lower-case text). */
export function partitionOf (messageId: string, count: number): number {
  return crc32(messageId) % count
}

/** The watermark key of a partition in promotion_state (P in it: another P starts afresh). */
export function partitionKey (partition: number, count: number): string {
  return `partition/${partition}/${count}`
}

/**
 * The fair plan: the owner (node id) of each partition given the live nodes. The same on
 * every node that sees the same live set.
 */
export function planPartitions (count: number, nodes: Iterable<string>): string[] {
  const ids = [...new Set(nodes)].sort()
  if (ids.length === 0) return []
  const base = Math.floor(count / ids.length)
  const room = new Map(ids.map((id, i) => [id, base + (i < count % ids.length ? 1 : 0)]))
  const out: string[] = []
  for (let p = 0; p < count; p++) {
    let best = ''
    let bestScore = -1
    for (const id of ids) {
      if ((room.get(id) ?? 0) === 0) continue
      const score = crc32(`${id}#${p}`)
      if (score > bestScore || (score === bestScore && id < best)) {
        best = id
        bestScore = score
      }
    }
    room.set(best, (room.get(best) ?? 0) - 1)
    out.push(best)
  }
  return out
}

/** The holder of a partition from the rows of its highest epoch: the first claim; released or not. */
export function currentHolder (rows: LeaseRow[]): { epoch: number, owner: string, released: boolean } | undefined {
  let claim: LeaseRow | undefined
  for (const r of rows) {
    if (r.kind !== 'claim') continue
    if (claim === undefined || r.writtenAt < claim.writtenAt || (r.writtenAt === claim.writtenAt && r.owner < claim.owner)) claim = r
  }
  const first = claim ?? rows[0]
  if (first === undefined) return undefined
  if (claim === undefined) return { epoch: first.epoch, owner: first.owner, released: true }
  return { epoch: claim.epoch, owner: claim.owner, released: rows.some(r => r.kind === 'release' && r.owner === claim.owner) }
}

/** A partition's lease is gone while its store tries to write: the batch is left to the new owner. */
export class LeaseLost extends Error {
  constructor (readonly partition: number) {
    super(`promotion partition ${partition}: the lease is lost`)
    this.name = 'LeaseLost'
  }
}

/** What the manager needs of a promoter (promote/promoter.ts's Promoter). */
export interface PartitionPromoter extends InsertedSink {
  readonly stats: PromoterStats
  readonly pending: number
  readonly watermark: number
  start (): Promise<void>
  stop (): Promise<void>
  promoteDue (now?: number): Promise<number>
  metrics (): Metric[]
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>
  forgetFirstClick: (sid: string, messageId: string) => void
}

/** A held partition, as its fenced store sees it. */
export interface Lease {
  readonly partition: number
  readonly epoch: number
  /** Writes are refused from then on (this node's clock). */
  validUntil: number
  revoked: boolean
}

export class PartitionStats {
  duplicatesSkipped = 0
  fenced = 0
  claims = 0
  releases = 0
  takenOver = 0
  late = 0
  cycleFailures = 0
}

/**
 * A partition's PromotionStore: its own watermark, every node's observations of it, and
 * writes fenced by the lease.
 */
export class PartitionStore implements PromotionStore {
  constructor (readonly base: PromotionStore, readonly leases: LeaseStore, readonly count: number, readonly lease: Lease,
    readonly clock: () => number, readonly stats: PartitionStats) {}

  #fence (): void {
    if (this.lease.revoked || this.clock() >= this.lease.validUntil) {
      this.stats.fenced++
      throw new LeaseLost(this.lease.partition)
    }
  }

  /** The partition's watermark as last read or written: a batch a crashed owner left behind never moves it back. */
  #floor = 0

  async readWatermark (key: string): Promise<number> {
    this.#floor = await this.base.readWatermark(key)
    return this.#floor
  }

  async saveWatermark (key: string, ms: number, token: string): Promise<void> {
    this.#fence()
    if (ms <= this.#floor) return
    await this.base.saveWatermark(key, ms, token)
    this.#floor = ms
  }

  async observationsSince (_key: string, fromMs: number): Promise<Observation[]> {
    return (await this.leases.partitionObservations(this.count, [this.lease.partition], fromMs, 0)).observations
  }

  async firstClicked (refs: MessageRef[]): Promise<MessageRef[]> { return await this.base.firstClicked(refs) }

  async storeClicks (rows: ClickRow[], token: string): Promise<{ refused: number[], duplicates?: number[] }> {
    this.#fence()
    // A previous owner may have stored some of these and lost its lease before moving the
    // watermark: they are in `clicks` already, and are not stored (nor sent) twice.
    const done = await this.leases.promoted(rows.map(r => ({ messageId: r.message_id, obsId: r.obs_id })))
    const duplicates: number[] = []
    const fresh: number[] = []
    for (let i = 0; i < rows.length; i++) (done.has(rows[i].obs_id) ? duplicates : fresh).push(i)
    this.stats.duplicatesSkipped += duplicates.length
    if (fresh.length === 0) return { refused: [], duplicates }
    this.#fence()
    const { refused } = await this.base.storeClicks(duplicates.length === 0 ? rows : fresh.map(i => rows[i]), token)
    return { refused: duplicates.length === 0 ? refused : refused.map(i => fresh[i]), duplicates }
  }
}

export interface PartitionedOptions {
  nodeId: string
  /** P: the same on every node. */
  partitions: number
  leases: LeaseStore
  /** The ClickHouse PromotionStore (watermarks, first clicks, the clicks insert). */
  store: PromotionStore
  log: Logger
  /** Builds the promoter of a partition over its store (nodeId: its watermark key). */
  makePromoter: (p: { partition: number, key: string, store: PromotionStore, intentPath: string }) => PartitionPromoter
  /** Where partition promoters keep their intent files. */
  dir: string
  windowMs: number
  /** How long a beat keeps a node (and its leases) live. */
  leaseMs: number
  /** How long a node that stopped beating still holds promotion back at its last low watermark. */
  nodeGraceMs: number
  /** How often to poll new observations of held partitions (default lease/15, at least 50 ms). */
  pollMs?: number
  clock?: () => number
  /** The address map the promoters share (Promoter `addresses`): pruned of a partition's messages when it goes. */
  addresses?: Map<string, Map<string, number>>
  /** 0: no timer (tests call cycle() and promoteDue()). */
  autoStart?: boolean
  retryMinMs?: number
  retryMaxMs?: number
}

/**
 * How far back new observations are read again: an insert takes ingest time when it starts
 * and is seen when it ends, so a slow insert can show rows older than the last poll.
 */
const POLL_OVERLAP_MS = 30_000
/** A partition's first watermark goes at most this far back (observations the nodes had not promoted when partitions were switched on). */
const INIT_LOOKBACK_MS = 3_600_000
/** Ids of polled observations remembered, to tell a late one from one read again. */
const SEEN_MAX = 200_000

interface Held { lease: Lease, promoter: PartitionPromoter, started: Promise<void> | undefined }

/**
 * This node's part of promotion by partitions: beats, claims and releases leases, runs a
 * Promoter per held partition, feeds them every node's observations. See the comment at
 * the top of this file.
 */
export class PartitionedPromotion implements InsertedSink {
  readonly o: PartitionedOptions
  readonly pstats = new PartitionStats()
  readonly #clock: () => number
  readonly #held = new Map<number, Held>()
  /** Counters of promoters that were stopped (hand-overs), so the sums never go back. */
  readonly #retired = new PromoterStats()
  readonly #retiredCounters = new Map<string, Metric>()
  readonly #renewMs: number
  readonly #backoff: Backoff
  #localPending: number | undefined
  /** The lowest low watermark seen with the last beats (what promoters may cut at). */
  #clusterLow: number | undefined
  #cursor = 0
  #seen = new Set<string>()
  #lastPoll = 0
  #lastBeat = 0
  #timer: NodeJS.Timeout | undefined
  #running: Promise<void> | undefined
  #stopping = false
  #liveNodes = 0
  /** Partitions stopped since the address map was last pruned. */
  readonly #gone = new Set<number>()

  constructor (options: PartitionedOptions) {
    this.o = options
    this.#clock = options.clock ?? Date.now
    this.#renewMs = Math.max(1, Math.floor(options.leaseMs / 3))
    this.#backoff = new Backoff(options.retryMinMs ?? 200, options.retryMaxMs ?? 30_000)
    mkdirSync(options.dir, { recursive: true })
  }

  /** Partitions this node promotes now. */
  get held (): number[] { return [...this.#held.keys()].sort((a, b) => a - b) }
  get pending (): number { let n = 0; for (const h of this.#held.values()) n += h.promoter.pending; return n }

  /** The promoters' counters summed (those handed over included). */
  get stats (): PromoterStats {
    const s = Object.assign(new PromoterStats(), this.#retired)
    s.lastLagMs = 0
    for (const h of this.#held.values()) addStats(s, h.promoter.stats)
    return s
  }

  /**
   * Late evidence's gate (promote/late.ts): `fn` runs with no batch of any partition held here
   * in flight. A reclassification touches one message, whose partition this node holds when it
   * promoted its clicks; a partition taken over meanwhile starts from the clicks as stored.
   */
  async exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const promoters = [...this.#held.values()].map(h => h.promoter)
    const nest = async (i: number): Promise<T> => i === promoters.length ? await fn() : await promoters[i].exclusive(async () => await nest(i + 1))
    return await nest(0)
  }

  /** A reclassification left the message without a counting click (see Promoter.forgetFirstClick). */
  forgetFirstClick (sid: string, messageId: string): void {
    this.#held.get(partitionOf(messageId, this.o.partitions))?.promoter.forgetFirstClick(sid, messageId)
  }

  async start (): Promise<void> {
    await this.cycle()
    if (this.o.autoStart === false) return
    const tick = Math.max(50, Math.min(this.o.pollMs ?? Math.floor(this.o.leaseMs / 15), this.#renewMs))
    this.#timer = setInterval(() => {
      if (this.#running !== undefined || !this.#backoff.ready()) return
      this.#running = this.cycle().then(() => { this.#backoff.reset() }, (err: unknown) => {
        this.pstats.cycleFailures++
        const wait = this.#backoff.fail()
        limited(this.o.log).warn('promotion.partitions', { err: errorText(err), retryInMs: Math.round(wait) }, 'promotion partitions: a lease cycle failed; will retry')
      }).finally(() => { this.#running = undefined })
    }, tick)
    this.#timer.unref()
  }

  /** This node's own observations, as ingest stores them: straight to the partition's promoter if held here. */
  inserted (observations: Observation[]): void {
    const by = new Map<number, Observation[]>()
    for (const o of observations) {
      const p = partitionOf(o.messageId, this.o.partitions)
      if (!this.#held.has(p)) continue // its owner reads it from ClickHouse
      let list = by.get(p)
      if (list === undefined) by.set(p, list = [])
      list.push(o)
    }
    for (const [p, list] of by) this.#held.get(p)?.promoter.inserted(list)
  }

  /** This node's ingest low watermark: published with the next beat. */
  pendingSince (ts: number | undefined): void { this.#localPending = ts }

  /**
   * One round: beat when due, read the nodes and leases, release what left this node's
   * share, stop what was lost, claim what is free, start promoters for what is held, poll.
   */
  async cycle (): Promise<void> {
    const now = this.#clock()
    if (this.#stopping) return
    if (now - this.#lastBeat >= this.#renewMs || this.#lastBeat === 0) {
      const low = this.#localPending ?? now
      await this.o.leases.beat({ nodeId: this.o.nodeId, expiresAt: now + this.o.leaseMs, lowWatermark: low, leaving: false })
      this.#lastBeat = now
      // Writes stop one renew interval before the others may take over.
      for (const h of this.#held.values()) h.lease.validUntil = now + this.o.leaseMs - this.#renewMs
    }
    const nodes = await this.o.leases.nodes()
    const rows = await this.o.leases.currentLeases()
    const at = this.#clock()
    const beats = new Map(nodes.map(n => [n.nodeId, n]))
    const live = nodes.filter(n => !n.leaving && n.expiresAt > at).map(n => n.nodeId)
    if (!live.includes(this.o.nodeId)) live.push(this.o.nodeId)
    this.#liveNodes = live.length
    const plan = planPartitions(this.o.partitions, live)
    const byPartition = groupRows(rows)
    const claimed: number[] = []
    for (let p = 0; p < this.o.partitions; p++) {
      const cur = currentHolder(byPartition.get(p) ?? [])
      const mine = cur !== undefined && cur.owner === this.o.nodeId && !cur.released
      const held = this.#held.get(p)
      if (held !== undefined && (!mine || cur.epoch !== held.lease.epoch)) {
        // Another epoch, or released under us: fenced at once.
        await this.#drop(p, false)
        continue
      }
      if (mine && plan[p] !== this.o.nodeId) {
        // Out of this node's share: hand it over (also one held before a restart and not resumed).
        if (held !== undefined) await this.#drop(p, true)
        else await this.#release(p, cur.epoch)
        continue
      }
      if (mine && held === undefined) {
        // Ours from before a restart (our beat never lapsed): resume it.
        this.#take(p, cur.epoch, this.#lastBeat)
        continue
      }
      if (!mine && plan[p] === this.o.nodeId && this.#free(cur, beats, at)) {
        await this.o.leases.claim(p, (cur?.epoch ?? 0) + 1, this.o.nodeId)
        this.pstats.claims++
        claimed.push(p)
      }
    }
    this.#pruneAddresses()
    if (claimed.length > 0) {
      // Read back: the first claim of an epoch is the only one ClickHouse kept.
      const after = groupRows(await this.o.leases.currentLeases())
      for (const p of claimed) {
        const cur = currentHolder(after.get(p) ?? [])
        if (cur !== undefined && cur.owner === this.o.nodeId && !cur.released) {
          this.#take(p, cur.epoch, this.#lastBeat)
          this.pstats.takenOver++
        }
      }
    }
    // Promotion waits for every node's ingest (its observations may still be on their way).
    let low: number | undefined
    for (const n of nodes) {
      if (n.leaving && n.lowWatermark === 0) continue
      if (n.expiresAt + this.o.nodeGraceMs <= at) continue
      if (low === undefined || n.lowWatermark < low) low = n.lowWatermark
    }
    await Promise.all([...this.#held.values()].map(async h => { await h.started }))
    await this.#poll()
    // Only now (the beats were read before the poll): what they vouch for is in the poll.
    this.#clusterLow = low
    for (const h of this.#held.values()) h.promoter.pendingSince(low)
  }

  /** A stopped promoter's messages leave the shared address map (their reach is its next owner's). */
  #pruneAddresses (): void {
    const map = this.o.addresses
    if (this.#gone.size === 0 || map === undefined) {
      this.#gone.clear()
      return
    }
    for (const [ip, reached] of map) {
      for (const k of reached.keys()) {
        // A message key is `${sid}/${messageId}` (messages/directory.ts messageKey).
        if (this.#gone.has(partitionOf(k.slice(k.indexOf('/') + 1), this.o.partitions))) reached.delete(k)
      }
      if (reached.size === 0) map.delete(ip)
    }
    this.#gone.clear()
  }

  #free (cur: { epoch: number, owner: string, released: boolean } | undefined, beats: Map<string, NodeBeat>, at: number): boolean {
    if (cur === undefined || cur.released) return true
    const beat = beats.get(cur.owner)
    // Clocks may disagree by up to a renew interval: wait that long after the holder's beat expired.
    return beat === undefined || beat.expiresAt + this.#renewMs < at
  }

  #take (partition: number, epoch: number, beatAt: number): void {
    const lease: Lease = { partition, epoch, validUntil: beatAt + this.o.leaseMs - this.#renewMs, revoked: false }
    const key = partitionKey(partition, this.o.partitions)
    const store = new PartitionStore(this.o.store, this.o.leases, this.o.partitions, lease, this.#clock, this.pstats)
    const promoter = this.o.makePromoter({ partition, key, store, intentPath: join(this.o.dir, `intent-${partition}-of-${this.o.partitions}.json`) })
    const held: Held = { lease, promoter, started: undefined }
    if (this.#clusterLow !== undefined) promoter.pendingSince(this.#clusterLow)
    held.started = this.#initWatermark(key).then(async () => { await promoter.start() }).catch(async (err: unknown) => {
      // It did not come up (ClickHouse away): let go of it; the next cycle claims it again.
      limited(this.o.log).warn('promotion.partition-start', { partition, err: errorText(err) }, 'promotion partition did not start; released')
      if (this.#held.get(partition) === held) await this.#drop(partition, true)
    }).finally(() => { held.started = undefined })
    this.#held.set(partition, held)
  }

  /**
   * A partition nobody promoted yet gets a watermark before its first owner starts, so that a
   * successor resumes from it even if that owner dies before its first batch: where the nodes'
   * own promotion stood (switching to partitions; at most an hour back), else two windows ago.
   */
  async #initWatermark (key: string): Promise<void> {
    if (await this.o.store.readWatermark(key) > 0) return
    const now = this.#clock()
    const nodes = await this.o.leases.nodeWatermarks()
    const from = nodes > 0 ? Math.max(nodes, now - INIT_LOOKBACK_MS) : now - this.o.windowMs * 2
    await this.o.store.saveWatermark(key, from, `init-${key}`)
  }

  /** Stops a partition's promoter; `release`: let the next owner take it at once (else it was lost). */
  async #drop (partition: number, release: boolean): Promise<void> {
    const held = this.#held.get(partition)
    if (held === undefined) return
    this.#held.delete(partition)
    this.#gone.add(partition)
    if (!release) held.lease.revoked = true
    await held.started
    await held.promoter.stop()
    addStats(this.#retired, held.promoter.stats)
    this.#retired.lastLagMs = 0
    for (const m of held.promoter.metrics()) {
      if (m.type !== 'counter' || m.value === undefined) continue
      const cur = this.#retiredCounters.get(m.name)
      this.#retiredCounters.set(m.name, { ...m, value: (cur?.value ?? 0) + m.value })
    }
    // Released only once its promoter has stopped: nothing of it writes after this row.
    held.lease.revoked = true
    if (release) await this.#release(partition, held.lease.epoch)
  }

  async #release (partition: number, epoch: number): Promise<void> {
    await this.o.leases.release(partition, epoch, this.o.nodeId)
    this.pstats.releases++
  }

  /** New observations of the held partitions, every node's, by ingest time. */
  async #poll (): Promise<void> {
    const held = [...this.#held.entries()]
    if (held.length === 0) return
    let from = Infinity
    for (const [, h] of held) from = Math.min(from, h.promoter.watermark)
    // Context for the signals: two windows before the oldest watermark, as a promoter's restart reads.
    from -= this.o.windowMs * 2
    const since = this.#cursor - POLL_OVERLAP_MS
    const { observations, ingested, maxIngestedAt } = await this.o.leases.partitionObservations(this.o.partitions, held.map(([p]) => p), from, since)
    this.#lastPoll = this.#clock()
    const by = new Map<number, Observation[]>()
    for (let i = 0; i < observations.length; i++) {
      const o = observations[i]
      const p = partitionOf(o.messageId, this.o.partitions)
      const h = this.#held.get(p)
      if (h === undefined) continue
      if (ingested[i] > this.#cursor && !this.#seen.has(o.id) && o.ts <= h.promoter.watermark && o.blocked !== true) {
        // Stored after its partition was promoted past it (a node back after its grace): context only.
        this.pstats.late++
      }
      if (this.#seen.size >= SEEN_MAX) this.#seen = new Set()
      this.#seen.add(o.id)
      let list = by.get(p)
      if (list === undefined) by.set(p, list = [])
      list.push(o)
    }
    for (const [p, list] of by) this.#held.get(p)?.promoter.inserted(list)
    if (maxIngestedAt > this.#cursor) this.#cursor = maxIngestedAt
  }

  /** Promotes what is due in every held partition (tests; the promoters' own timers do it in service). */
  async promoteDue (now = this.#clock()): Promise<number> {
    let n = 0
    for (const h of [...this.#held.values()]) {
      try {
        n += await h.promoter.promoteDue(now)
      } catch (err) {
        if (!(err instanceof LeaseLost)) throw err
      }
    }
    return n
  }

  /** Graceful leave: stop every promoter, release every partition, beat as leaving. */
  async stop (): Promise<void> {
    this.#stopping = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    await this.#running
    for (const p of [...this.#held.keys()]) {
      try {
        await this.#drop(p, true)
      } catch (err) {
        // Not released: the next owner waits for this node's beat to expire.
        limited(this.o.log).warn('promotion.release', { partition: p, err: errorText(err) }, 'promotion partition not released; it is taken over once the lease expires')
      }
    }
    try {
      await this.o.leases.beat({ nodeId: this.o.nodeId, expiresAt: this.#clock(), lowWatermark: this.#localPending ?? 0, leaving: true })
    } catch (err) {
      limited(this.o.log).warn('promotion.leave', { err: errorText(err) }, 'promotion: the leaving beat failed; this node counts as live until its lease expires')
    }
  }

  /** The process stops without a word (tests of a crash): timers cleared, nothing released. */
  abandon (): void {
    this.#stopping = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
    for (const h of this.#held.values()) {
      h.lease.revoked = true
      h.promoter.stop().catch(() => {})
    }
    this.#held.clear()
  }

  /**
   * The promoters' metrics summed by name (whatever Promoter publishes; lag: the largest),
   * counters of promoters that were stopped included, and the partitions' own.
   */
  metrics (): Metric[] {
    const sums = new Map<string, Metric>()
    const add = (m: Metric): void => {
      if (m.value === undefined) return
      const cur = sums.get(m.name)
      if (cur === undefined) sums.set(m.name, { ...m })
      else sums.set(m.name, { ...cur, value: m.name.endsWith('_lag_seconds') ? Math.max(cur.value ?? 0, m.value) : (cur.value ?? 0) + m.value })
    }
    for (const m of this.#retiredCounters.values()) add(m)
    for (const h of this.#held.values()) for (const m of h.promoter.metrics()) add(m)
    const ps = this.pstats
    return [
      ...sums.values(),
      gauge('clicktrail_promotion_partitions_held', 'promotion partitions this node holds the lease of', this.#held.size),
      gauge('clicktrail_promotion_nodes_live', 'nodes sharing the promotion partitions (live beats, this one included)', this.#liveNodes),
      counter('clicktrail_promotion_claims_total', 'partition leases this node claimed', ps.claims),
      counter('clicktrail_promotion_takeovers_total', 'partition leases this node won and started promoting', ps.takenOver),
      counter('clicktrail_promotion_releases_total', 'partition leases this node released (share moved, or stopping)', ps.releases),
      counter('clicktrail_promotion_fenced_total', 'writes refused because the partition lease was lost (the next owner redoes the batch)', ps.fenced),
      counter('clicktrail_promotion_duplicates_skipped_total', 'clicks a previous owner had stored already, not stored again', ps.duplicatesSkipped),
      counter('clicktrail_promotion_late_total', 'observations stored after their partition was promoted past them: context only', ps.late),
      counter('clicktrail_promotion_lease_failures_total', 'lease cycles (beat, claims, poll) that failed and will be retried', ps.cycleFailures)
    ]
  }

  /** When the last poll ended (this node's clock; 0 before any). */
  get lastPoll (): number { return this.#lastPoll }
}

function groupRows (rows: LeaseRow[]): Map<number, LeaseRow[]> {
  const out = new Map<number, LeaseRow[]>()
  for (const r of rows) {
    let list = out.get(r.partition)
    if (list === undefined) out.set(r.partition, list = [])
    list.push(r)
  }
  return out
}

function addStats (into: PromoterStats, s: PromoterStats): void {
  into.received += s.received
  into.duplicates += s.duplicates
  into.promoted += s.promoted
  into.human += s.human
  into.machine += s.machine
  into.batches += s.batches
  into.failures += s.failures
  into.blocked += s.blocked
  into.quarantined += s.quarantined
}
