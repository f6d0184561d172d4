import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { silentLogger } from '../../src/log.js'
import { observationFromHeaders, type ClickRow, type Observation } from '../../src/records.js'
import { runClassifyTask } from '../../src/classify/index.js'
import { Promoter } from '../../src/promote/promoter.js'
import { PartitionedPromotion, currentHolder, partitionOf, planPartitions, type PartitionPromoter } from '../../src/promote/partitions.js'
import type { MessageDirectory } from '../../src/messages/directory.js'
import type { LeaseRow, LeaseStore, NodeBeat } from '../../src/store/leases.js'
import type { MessageRef, PromotionStore } from '../../src/store/promotion.js'
import { SAFARI_IPHONE } from '../helpers/http.js'
import { tempDir } from '../helpers/engine.js'

// Promotion by partitions across nodes, with a fake clock and a store double: no ClickHouse
// server or Keeper can run here, and several nodes need one (the SQL of the same port runs
// for real on the embedded engine in partitions-chdb.test.ts). The promoters are the real
// Promoter (real classification), only storage is the double below.

const W = 2_000 // promotion window
const LEASE = 3_000 // renewed every second
const P = 8

class Clock {
  now = Math.floor(Date.now() / 1000) * 1000
  advance (ms: number): void { this.now += ms }
}

/** One ClickHouse, as promotion sees it: what the real tables do, in memory. */
class Cluster implements LeaseStore {
  readonly beats = new Map<string, NodeBeat>()
  readonly leaseRows: LeaseRow[] = []
  readonly tokens = new Set<string>()
  readonly observations: Array<{ o: Observation, ingestedAt: number, nodeId: string }> = []
  readonly clicks: Array<ClickRow & { storedBy: string }> = []
  readonly watermarks = new Map<string, number>()
  /** A node whose next watermark write fails as if the process died in between (after the clicks insert). */
  dieBeforeWatermark = new Set<string>()
  /** The nodes that died so. */
  readonly died = new Set<string>()
  constructor (readonly clock: Clock) {}

  async beat (b: NodeBeat): Promise<void> { this.beats.set(b.nodeId, { ...b }) }
  async nodes (): Promise<NodeBeat[]> { return [...this.beats.values()].map(b => ({ ...b })) }
  async currentLeases (): Promise<LeaseRow[]> {
    const max = new Map<number, number>()
    for (const r of this.leaseRows) max.set(r.partition, Math.max(max.get(r.partition) ?? 0, r.epoch))
    return this.leaseRows.filter(r => r.epoch === max.get(r.partition)).map(r => ({ ...r }))
  }

  async claim (partition: number, epoch: number, owner: string): Promise<void> { this.#lease(partition, epoch, owner, 'claim', `lease-${partition}-${epoch}`) }
  async release (partition: number, epoch: number, owner: string): Promise<void> { this.#lease(partition, epoch, owner, 'release', `lease-${partition}-${epoch}-release`) }
  #lease (partition: number, epoch: number, owner: string, kind: 'claim' | 'release', token: string): void {
    // insert_deduplication_token: a second insert with the token is dropped.
    if (this.tokens.has(token)) return
    this.tokens.add(token)
    this.leaseRows.push({ partition, epoch, owner, kind, writtenAt: this.clock.now })
  }

  async partitionObservations (count: number, partitions: number[], fromMs: number, ingestedFromMs: number): Promise<{ observations: Observation[], ingested: number[], maxIngestedAt: number }> {
    const set = new Set(partitions)
    const hits = this.observations.filter(x => set.has(partitionOf(x.o.messageId, count)) && x.o.ts > fromMs && x.ingestedAt >= ingestedFromMs)
    return { observations: hits.map(x => ({ ...x.o })), ingested: hits.map(x => x.ingestedAt), maxIngestedAt: Math.max(0, ...hits.map(x => x.ingestedAt)) }
  }

  async promoted (refs: Array<{ messageId: string, obsId: string }>): Promise<Set<string>> {
    const ids = new Set(refs.map(r => r.obsId))
    return new Set(this.clicks.filter(c => ids.has(c.obs_id)).map(c => c.obs_id))
  }

  async nodeWatermarks (): Promise<number> { return 0 }

  /** The PromotionStore a node's engine would build over this ClickHouse. */
  base (nodeId: string): PromotionStore {
    return {
      readWatermark: async key => this.watermarks.get(key) ?? 0,
      saveWatermark: async (key, ms) => {
        if (this.dieBeforeWatermark.delete(nodeId)) this.died.add(nodeId)
        if (this.died.has(nodeId)) throw new Error(`${nodeId} died before its watermark insert`)
        this.watermarks.set(key, ms)
      },
      observationsSince: async () => { throw new Error('partitioned promotion reads by partition') },
      firstClicked: async (refs: MessageRef[]) => refs.filter(r => this.clicks.some(c => c.sid === r.sid && c.message_id === r.messageId && c.bot.counts_for_metrics)),
      storeClicks: async (rows, token) => {
        if (this.tokens.has(token)) return { refused: [] }
        this.tokens.add(token)
        for (const r of rows) this.clicks.push({ ...r, storedBy: nodeId })
        return { refused: [] }
      }
    }
  }

  /** A redirect on `nodeId` at the current time; ingest stores it at once. */
  capture (nodeId: string, messageId: string, linkIndex: number, headers: Record<string, string> = SAFARI_IPHONE, ip = '203.0.113.7'): Observation {
    const o = observationFromHeaders(headers)
    Object.assign(o, { ts: this.clock.now, id: randomUUID(), sid: 'acme', messageId, linkIndex, sentAt: Math.floor(this.clock.now / 1000) - 3600, url: `https://example.com/${linkIndex}`, method: 'GET', ip, retentionDays: 400, scheme: 'https' })
    this.observations.push({ o, ingestedAt: this.clock.now, nodeId })
    return o
  }
}

const directory = { lookup: async () => new Map() } as unknown as MessageDirectory

function node (cluster: Cluster, id: string, dir: string, extra: { graceMs?: number, addresses?: Map<string, Map<string, number>> } = {}): PartitionedPromotion {
  return new PartitionedPromotion({
    addresses: extra.addresses,
    nodeId: id,
    partitions: P,
    leases: cluster,
    store: cluster.base(id),
    log: silentLogger,
    makePromoter: p => new Promoter({
      store: p.store,
      log: silentLogger,
      nodeId: p.key,
      messages: directory,
      classify: async task => runClassifyTask(task),
      windowMs: W,
      intentPath: p.intentPath,
      tickMs: 1_000_000_000, // the test drives promotion
      retryMinMs: 1,
      retryMaxMs: 1,
      addresses: extra.addresses
    }) as PartitionPromoter,
    dir: join(dir, id),
    windowMs: W,
    leaseMs: LEASE,
    nodeGraceMs: extra.graceMs ?? 0,
    clock: () => cluster.clock.now,
    autoStart: false
  })
}

/** Runs the nodes for `ms` of fake time in steps: each step every node cycles and promotes. */
async function run (cluster: Cluster, nodes: PartitionedPromotion[], ms: number, step = 500): Promise<void> {
  for (let left = ms; left > 0; left -= step) {
    cluster.clock.advance(step)
    for (const n of nodes) {
      await n.cycle()
      await n.promoteDue(cluster.clock.now)
    }
  }
}

function owners (nodes: PartitionedPromotion[]): Map<number, string[]> {
  const out = new Map<number, string[]>()
  for (const n of nodes) for (const p of n.held) out.set(p, [...(out.get(p) ?? []), n.o.nodeId])
  return out
}

function checkExactlyOnce (t: Test, cluster: Cluster, what: string): void {
  const ids = cluster.clicks.map(c => c.obs_id)
  t.equal(new Set(ids).size, ids.length, `${what}: no click promoted twice`)
  const want = new Set(cluster.observations.map(x => x.o.id))
  const missing = [...want].filter(id => !ids.includes(id))
  t.same(missing, [], `${what}: every observation promoted (${want.size})`)
}

t.test('the partition of a message id: crc32 of its text, spread over the partitions', async t => {
  t.equal(partitionOf('123456789', 4096), 0xcbf43926 % 4096, 'the CRC-32 check value')
  const counts = new Array<number>(P).fill(0)
  for (let i = 0; i < 8000; i++) counts[partitionOf(randomUUID(), P)]++
  for (const c of counts) t.ok(c > 800 && c < 1200, `about 1000 per partition (${c})`)
})

t.test('the plan: a fair share for every live node, the same on every node, few moves on a join', async t => {
  const two = planPartitions(64, ['b', 'a'])
  t.same(planPartitions(64, ['a', 'b']), two, 'the order the nodes are seen in does not matter')
  t.equal(two.filter(x => x === 'a').length, 32)
  const three = planPartitions(64, ['a', 'b', 'c'])
  for (const id of ['a', 'b', 'c']) t.ok([21, 22].includes(three.filter(x => x === id).length), `${id}: ⌊64/3⌋ or ⌈64/3⌉`)
  const moved = three.filter((x, p) => x !== two[p]).length
  t.ok(moved <= 32, `a third node moves ${moved} of 64 partitions (a full reshuffle would move ~43)`)
  t.same(planPartitions(5, ['a']), ['a', 'a', 'a', 'a', 'a'])
  t.same(planPartitions(5, []), [])
})

t.test('the holder of an epoch: the first claim; a release frees it', async t => {
  t.equal(currentHolder([]), undefined)
  const rows: LeaseRow[] = [{ partition: 1, epoch: 3, owner: 'b', kind: 'claim', writtenAt: 10 }, { partition: 1, epoch: 3, owner: 'a', kind: 'claim', writtenAt: 11 }]
  t.same(currentHolder(rows), { epoch: 3, owner: 'b', released: false }, 'if deduplication ever let two claims in, the earlier wins')
  t.same(currentHolder([...rows, { partition: 1, epoch: 3, owner: 'a', kind: 'release', writtenAt: 12 }]), { epoch: 3, owner: 'b', released: false }, 'only the holder releases')
  t.same(currentHolder([...rows, { partition: 1, epoch: 3, owner: 'b', kind: 'release', writtenAt: 12 }]), { epoch: 3, owner: 'b', released: true })
})

t.test('join, graceful leave, crash: every partition has one holder, a leave hands over at once, a crash after the lease', async t => {
  const dir = tempDir(t)
  const cluster = new Cluster(new Clock())
  const a = node(cluster, 'na', dir)
  await a.start()
  await run(cluster, [a], 1000)
  t.same(a.held, [0, 1, 2, 3, 4, 5, 6, 7], 'alone: every partition')

  const b = node(cluster, 'nb', dir)
  await b.start()
  await run(cluster, [a, b], 2000)
  t.equal(a.held.length, 4, 'a joined node takes its fair share…')
  t.equal(b.held.length, 4)
  for (const [p, who] of owners([a, b])) t.equal(who.length, 1, `partition ${p}: one holder`)
  t.equal(owners([a, b]).size, P, '…and every partition is held')

  // Graceful leave: b releases; a takes them at its next cycle, without waiting for the lease.
  await b.stop()
  cluster.clock.advance(100)
  await a.cycle()
  t.equal(a.held.length, P, 'a released partition is taken at once')

  // b comes back, then crashes (no release): its partitions wait for its lease to expire.
  const b2 = node(cluster, 'nb', dir)
  await b2.start()
  await run(cluster, [a, b2], 2000)
  t.equal(b2.held.length, 4)
  const ofB = b2.held
  b2.abandon()
  await run(cluster, [a], LEASE, 250)
  t.ok(ofB.every(p => !a.held.includes(p)), 'not before the crashed node\'s lease has expired (and a renew interval for clock skew)')
  await run(cluster, [a], LEASE / 3 + 500, 250)
  t.same(a.held, [0, 1, 2, 3, 4, 5, 6, 7], 'after it: taken over')
  t.ok(a.pstats.takenOver >= 8)
  await a.stop()
})

t.test('a burst split across two nodes is judged as one message by its partition\'s holder', async t => {
  const dir = tempDir(t)
  const cluster = new Cluster(new Clock())
  const a = node(cluster, 'na', dir)
  const b = node(cluster, 'nb', dir)
  await a.start()
  await b.start()
  await run(cluster, [a, b], 2000)
  const message = randomUUID()
  // A scanner fetches three links of one message within a second; the balancer sends two
  // requests to one node and one to the other.
  const scanner = { ...SAFARI_IPHONE, 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36' }
  a.inserted([cluster.capture('na', message, 0, scanner, '198.51.100.1')])
  cluster.clock.advance(300)
  b.inserted([cluster.capture('nb', message, 1, scanner, '198.51.100.2')])
  cluster.clock.advance(300)
  a.inserted([cluster.capture('na', message, 2, scanner, '198.51.100.3')])
  await run(cluster, [a, b], W + 2000)
  const rows = cluster.clicks.filter(c => c.message_id === message)
  t.equal(rows.length, 3, 'all three promoted, once each')
  const holder = [a, b].find(n => n.held.includes(partitionOf(message, P)))!.o.nodeId
  t.ok(rows.every(r => r.storedBy === holder), `by the partition's holder (${holder}), from both nodes' observations`)
  for (const r of rows) t.ok(r.bot.reason_codes.includes('burst_links') && !r.bot.counts_for_metrics, `link ${r.link_index}: burst_links (${r.bot.reason_codes.join(',')})`)
  t.equal(rows.filter(r => r.first_click).length, 0, 'no first click from a scanner')

  // Per node, as before: node b alone would have seen one link, no burst.
  const human = randomUUID()
  a.inserted([cluster.capture('na', human, 0)])
  cluster.clock.advance(5000)
  b.inserted([cluster.capture('nb', human, 1)])
  await run(cluster, [a, b], W + 2000)
  const hs = cluster.clicks.filter(c => c.message_id === human)
  t.equal(hs.length, 2)
  t.equal(hs.filter(r => r.first_click).length, 1, 'one first_click for a message clicked on two nodes')
  await a.stop()
  await b.stop()
})

t.test('hand-over mid-batch: the clicks were stored, the watermark not; the next owner stores none twice', async t => {
  const dir = tempDir(t)
  const cluster = new Cluster(new Clock())
  const a = node(cluster, 'na', dir)
  await a.start()
  await run(cluster, [a], 1000)
  const b = node(cluster, 'nb', dir)
  await b.start()
  await run(cluster, [a, b], 2000)
  // Traffic for messages of a's partitions, on both nodes.
  const ofA = new Set(a.held)
  const msgs: string[] = []
  while (msgs.length < 5) { const m = randomUUID(); if (ofA.has(partitionOf(m, P))) msgs.push(m) }
  for (const [i, m] of msgs.entries()) cluster.capture(i % 2 === 0 ? 'na' : 'nb', m, 0)
  await run(cluster, [a, b], 500)
  const before = cluster.clicks.length
  cluster.dieBeforeWatermark.add('na')
  cluster.clock.advance(W + 1000)
  await a.cycle()
  await t.rejects(a.promoteDue(cluster.clock.now), /died before its watermark insert/, 'a dies between its clicks insert and its watermark insert…')
  t.ok(cluster.clicks.length > before, '…with its clicks stored')
  a.abandon()
  await run(cluster, [b], LEASE * 2, 250)
  t.same(b.held, [0, 1, 2, 3, 4, 5, 6, 7], 'b took a\'s partitions over')
  t.ok(b.pstats.duplicatesSkipped >= 1, `b re-promoted from the old watermark and skipped ${b.pstats.duplicatesSkipped} stored clicks`)
  checkExactlyOnce(t, cluster, 'after the hand-over')

  // a comes back with its interrupted batch in its intent file: stored again through the
  // fence, nothing twice, and its old watermark does not move the partition's back.
  cluster.died.delete('na')
  const a2 = node(cluster, 'na', dir)
  await a2.start()
  await run(cluster, [a2, b], 3000)
  t.equal(a2.held.length, 4)
  checkExactlyOnce(t, cluster, 'after the restart')
  await a2.stop()
  await b.stop()
})

t.test('a stale owner is fenced: paused past its lease, it writes nothing once another holds the partition', async t => {
  const dir = tempDir(t)
  const cluster = new Cluster(new Clock())
  const a = node(cluster, 'na', dir)
  const b = node(cluster, 'nb', dir)
  await a.start()
  await b.start()
  await run(cluster, [a, b], 2000)
  const pa = a.held[0]
  let m = randomUUID()
  while (partitionOf(m, P) !== pa) m = randomUUID()
  a.inserted([cluster.capture('nb', m, 0)])
  await run(cluster, [a, b], W - 500) // seen by every beat's low watermark, not yet due
  // a stalls (a long GC pause, a frozen VM): no beats; b takes its partitions after the lease.
  await run(cluster, [b], LEASE * 2, 250)
  t.ok(b.held.includes(pa), 'b holds the stalled node\'s partition')
  // a wakes up and goes on with its batch before its next lease cycle.
  await a.promoteDue(cluster.clock.now)
  t.ok(a.pstats.fenced >= 1, 'a\'s write was refused (its lease ran out by its own clock)')
  t.equal(cluster.clicks.filter(c => c.storedBy === 'na' && c.message_id === m).length, 0, 'nothing of it was stored by a')
  // a's next cycle sees the new epoch and stops the partition's promoter.
  await a.cycle()
  t.notOk(a.held.includes(pa), 'a let the partition go')
  await run(cluster, [a, b], W + 2000)
  t.equal(cluster.clicks.filter(c => c.message_id === m).length, 1, 'promoted once, by b')
  checkExactlyOnce(t, cluster, 'fenced')

  // Fenced by epoch too: a's clock says its lease is good, but the table says another epoch.
  const pb = b.held[0]
  let m2 = randomUUID()
  while (partitionOf(m2, P) !== pb) m2 = randomUUID()
  await cluster.claim(pb, (currentHolder((await cluster.currentLeases()).filter(r => r.partition === pb))?.epoch ?? 0) + 1, 'nc')
  await cluster.beat({ nodeId: 'nc', expiresAt: cluster.clock.now + LEASE, lowWatermark: cluster.clock.now, leaving: false })
  await b.cycle()
  t.notOk(b.held.includes(pb), 'b stops promoting a partition claimed at a higher epoch')
  await a.stop()
  await b.stop()
})

t.test('randomized joins, leaves, crashes and restarts under traffic: no lost and no double-promoted click', async t => {
  const dir = tempDir(t)
  let seed = 17
  const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31 }
  for (let round = 0; round < 3; round++) {
    const cluster = new Cluster(new Clock())
    const ids = ['n1', 'n2', 'n3', 'n4']
    const up = new Map<string, PartitionedPromotion>()
    const start = async (id: string): Promise<void> => { const n = node(cluster, id, join(dir, String(round))); await n.start(); up.set(id, n) }
    await start('n1')
    const messages = Array.from({ length: 40 }, () => randomUUID())
    for (let step = 0; step < 120; step++) {
      const r = rnd()
      const down = ids.filter(id => !up.has(id))
      if (r < 0.05 && down.length > 0) await start(down[Math.floor(rnd() * down.length)])
      else if (r < 0.08 && up.size > 1) { const id = [...up.keys()][Math.floor(rnd() * up.size)]; await up.get(id)!.stop(); up.delete(id) } else if (r < 0.11 && up.size > 1) {
        const id = [...up.keys()][Math.floor(rnd() * up.size)]
        if (rnd() < 0.5) cluster.dieBeforeWatermark.add(id) // dies between its clicks and its watermark
        else { up.get(id)!.abandon(); up.delete(id) }
      }
      // Every node may have died before its watermark: a supervisor restarts one, so traffic has a node to land on.
      if (up.size === 0) await start(ids[Math.floor(rnd() * ids.length)])
      // Traffic: a few clicks on random nodes that are up.
      const live = [...up.keys()]
      for (let k = 0; k < 3; k++) {
        const at = live[Math.floor(rnd() * live.length)]
        const o = cluster.capture(at, messages[Math.floor(rnd() * messages.length)], Math.floor(rnd() * 4))
        up.get(at)!.inserted([o])
      }
      // A node that failed its watermark write is taken as dead from there.
      for (const [id, n] of up) {
        await n.cycle()
        await n.promoteDue(cluster.clock.now).catch(() => {})
        if (cluster.died.has(id)) { n.abandon(); up.delete(id); cluster.died.delete(id) }
      }
      cluster.clock.advance(250)
    }
    // Everyone back, traffic over: everything is promoted once.
    for (const id of ids) if (!up.has(id)) await start(id)
    cluster.dieBeforeWatermark.clear()
    await run(cluster, [...up.values()], LEASE * 3 + W * 2, 250)
    const held = owners([...up.values()])
    if (held.size !== P) t.comment(JSON.stringify({ held: [...held], leases: await cluster.currentLeases(), beats: [...cluster.beats.values()], now: cluster.clock.now }))
    t.equal(held.size, P, `round ${round}: every partition held`)
    t.ok([...held.values()].every(w => w.length === 1), `round ${round}: each by one node`)
    checkExactlyOnce(t, cluster, `round ${round} (${cluster.observations.length} observations)`)
    for (const n of up.values()) await n.stop()
  }
})

t.test('one address map for a node\'s partitions: an address\'s reach spans them, a partition handed over leaves it', async t => {
  const dir = tempDir(t)
  const cluster = new Cluster(new Clock())
  const addresses = new Map<string, Map<string, number>>()
  const a = node(cluster, 'na', dir, { addresses })
  await a.start()
  await run(cluster, [a], 1000)
  // One address clicks one message in every partition.
  const byPartition = new Map<number, string>()
  while (byPartition.size < P) { const m = randomUUID(); byPartition.set(partitionOf(m, P), m) }
  a.inserted([...byPartition.values()].map(m => cluster.capture('na', m, 0, SAFARI_IPHONE, '198.51.100.77')))
  t.equal(addresses.get('198.51.100.77')?.size, P, 'the reach of the address: every partition\'s message')
  const b = node(cluster, 'nb', dir)
  await b.start()
  await run(cluster, [a, b], 2000)
  t.equal(a.held.length, 4)
  t.equal(addresses.get('198.51.100.77')?.size, 4, 'the messages of the partitions a handed over left its map')
  await a.stop()
  await b.stop()
})

t.test('--promotion-partitions: auto is 64 on a ClickHouse cluster, 0 (each node its own) otherwise', async t => {
  const { loadConfig } = await import('../../src/config.js')
  t.equal(loadConfig({}, {}).promotionPartitions, 0, 'one node: promotion as before')
  t.equal(loadConfig({ 'clickhouse-url': 'http://10.0.0.21:8123', 'clickhouse-cluster': 'c1' }, {}).promotionPartitions, 64)
  t.equal(loadConfig({ 'clickhouse-url': 'http://10.0.0.21:8123', 'promotion-partitions': '16' }, {}).promotionPartitions, 16, 'several nodes on one server')
  t.equal(loadConfig({ 'clickhouse-url': 'http://10.0.0.21:8123', 'clickhouse-cluster': 'c1', 'promotion-partitions': '0' }, {}).promotionPartitions, 0, 'turned off by hand')
  t.throws(() => loadConfig({ 'promotion-partitions': '5000' }, {}), /between 0 and 4096/)
})
