import t from 'tap'
import { crc32 } from 'node:zlib'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { startTestEngine, tempDir } from '../helpers/engine.js'
import { request } from '../helpers/http.js'
import { until } from '../helpers/wait.js'
import { mintToken } from '../../src/token/codec.js'
import { silentLogger } from '../../src/log.js'
import { observationFromHeaders } from '../../src/records.js'
import { runClassifyTask } from '../../src/classify/index.js'
import { Promoter } from '../../src/promote/promoter.js'
import { PartitionedPromotion, partitionOf } from '../../src/promote/partitions.js'
import { ClickHouseLeaseStore } from '../../src/store/leases.js'
import { ClickHousePromotionStore } from '../../src/store/promotion.js'
import { insertObservationRows, toRow } from '../../src/store/observations.js'

// Two promotion "nodes" on one real ClickHouse: the engine (real redirect server, ingest, and
// its PartitionedPromotion) and a second PartitionedPromotion in the same process over the
// same embedded ClickHouse through the real store code, as a second redirect node on a shared
// server would run it. (Two processes cannot share the embedded engine, and no ClickHouse
// server runs here; test/promote/partitions.test.ts covers the schedules with a double.)

const HOST = 'pacme.t.localhost:8080'
const P = 8
const WINDOW = 1500
const LEASE = 3000
const SCANNER = { 'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.93 Safari/537.36' }

t.test('two nodes on one ClickHouse: partitions shared, a burst across them judged whole, a crash handed over, nothing twice', async t => {
  const e = await startTestEngine(t, {
    'trusted-proxy': ['127.0.0.1'],
    'batch-max-ms': '50',
    'promotion-partitions': String(P),
    'promotion-window-ms': String(WINDOW),
    'promotion-lease-ms': String(LEASE),
    'promotion-node-grace-ms': '0'
  })
  const a = e.promoter
  if (!(a instanceof PartitionedPromotion)) throw new Error('the engine promotes by partitions')

  // The hash: ClickHouse's CRC32 of the UUID's text is the one partitionOf takes.
  const sample = await (await e.store.reader.query({
    query: 'SELECT toString(id) AS id, CRC32(toString(id)) AS c FROM (SELECT generateUUIDv4(number) AS id FROM numbers(2000))',
    format: 'JSONEachRow'
  })).json<{ id: string, c: number }>()
  t.equal(sample.length, 2000)
  t.ok(sample.every(r => Number(r.c) === crc32(r.id)), 'CRC32(toString(message_id)) in ClickHouse = crc32 of the id in JS, for 2000 ids')
  t.ok(sample.every(r => Number(r.c) % P === partitionOf(r.id, P)))

  // The claim is a compare-and-set: the second claim of an epoch is dropped by its token.
  const leases = new ClickHouseLeaseStore(e.store.writer)
  await leases.claim(4000, 1, 'x')
  await leases.claim(4000, 1, 'y')
  const rows = (await leases.currentLeases()).filter(r => r.partition === 4000)
  t.same(rows.map(r => r.owner), ['x'], 'one claim of (partition, epoch) kept: the first')

  const dir = tempDir(t)
  const b = new PartitionedPromotion({
    nodeId: 'n-second',
    partitions: P,
    leases,
    store: new ClickHousePromotionStore(e.store.writer, e.quarantine),
    log: silentLogger,
    makePromoter: p => new Promoter({ store: p.store, log: silentLogger, nodeId: p.key, messages: e.messages, classify: async task => runClassifyTask(task), windowMs: WINDOW, intentPath: p.intentPath }),
    dir: join(dir, 'b'),
    windowMs: WINDOW,
    leaseMs: LEASE,
    nodeGraceMs: 0
  })
  let bUp = true
  t.teardown(async () => { if (bUp) await b.stop() })
  await b.start()
  await until('the partitions shared 4 + 4', () => a.held.length === 4 && b.held.length === 4, 60_000).catch(err => {
    throw new Error(`${(err as Error).message}: ${JSON.stringify({ a: a.held, b: b.held, as: a.pstats, bs: b.pstats })}`)
  })
  t.same([...a.held, ...b.held].sort(), [0, 1, 2, 3, 4, 5, 6, 7], 'every partition held once')

  // A scanner's burst: two links through the engine's redirect port, one through the other node.
  let message = randomUUID()
  while (!b.held.includes(partitionOf(message, P))) message = randomUUID()
  const sentAt = Math.floor(Date.now() / 1000) - 600
  const tok = (m: string, i: number): string => mintToken(e.keys, { sid: 'acme', messageId: m, linkIndex: i, sentAt, url: `https://example.com/l/${i}` })
  t.equal((await request(e.port, { path: `/c/${tok(message, 0)}`, host: HOST, headers: { ...SCANNER, 'x-forwarded-for': '40.107.218.12' } })).status, 302)
  t.equal((await request(e.port, { path: `/c/${tok(message, 1)}`, host: HOST, headers: { ...SCANNER, 'x-forwarded-for': '40.107.218.13' } })).status, 302)
  const o = observationFromHeaders({ 'user-agent': SCANNER['user-agent'] })
  Object.assign(o, { ts: Date.now(), id: randomUUID(), sid: 'acme', messageId: message, linkIndex: 2, sentAt, url: 'https://example.com/l/2', method: 'GET', ip: '40.107.218.14', retentionDays: 400, scheme: 'https', host: HOST })
  await insertObservationRows(e.store.writer, [toRow(o, 'n-second')], randomUUID())
  b.inserted([o])
  const clicksOf = async (m: string): Promise<Array<{ obs_id: string, reason_codes: string[], counts_for_metrics: boolean }>> =>
    await (await e.store.reader.query({ query: 'SELECT toString(obs_id) AS obs_id, reason_codes, counts_for_metrics FROM clicks WHERE message_id = {m:UUID}', query_params: { m }, format: 'JSONEachRow' })).json()
  await until('the burst promoted', async () => (await clicksOf(message)).length === 3, 20_000)
  for (const c of await clicksOf(message)) t.ok(c.reason_codes.includes('burst_links') && !c.counts_for_metrics, `burst_links, from both nodes' observations (${c.reason_codes.join(',')})`)
  await until('the second node counted them', () => b.stats.promoted >= 3, 5000)
  t.equal(a.stats.promoted, 0, 'promoted by the holder of the message\'s partition, the second node, not by the node that took two of the clicks')

  // The second node dies without a word: the engine takes its partitions after the lease.
  const ofB = b.held
  b.abandon()
  bUp = false
  await until('the crashed node\'s partitions taken over', () => a.held.length === P, 20_000)
  let later = randomUUID()
  while (!ofB.includes(partitionOf(later, P))) later = randomUUID()
  const human = { 'user-agent': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1', 'sec-fetch-site': 'none', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', accept: 'text/html', 'x-forwarded-for': '203.0.113.9' }
  t.equal((await request(e.port, { path: `/c/${tok(later, 0)}`, host: HOST, headers: human })).status, 302)
  await until('a click of a handed-over partition promoted', async () => (await clicksOf(later)).length === 1, 20_000)

  // Exactly once over everything.
  const dup = await (await e.store.reader.query({ query: 'SELECT obs_id, count() AS n FROM clicks GROUP BY obs_id HAVING n > 1', format: 'JSONEachRow' })).json()
  t.same(dup, [], 'no observation promoted twice')
  const missing = await (await e.store.reader.query({ query: 'SELECT count() AS n FROM click_observations WHERE obs_id NOT IN (SELECT obs_id FROM clicks)', format: 'JSONEachRow' })).json<{ n: string }>()
  t.equal(Number(missing[0].n), 0, 'every observation promoted')
  const state = await (await e.store.reader.query({ query: "SELECT count() AS n FROM promotion_state FINAL WHERE startsWith(node_id, 'partition/')", format: 'JSONEachRow' })).json<{ n: string }>()
  t.equal(Number(state[0].n), P, 'a watermark per partition in promotion_state')
})
