import t from 'tap'
import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import { startTestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { Receiver } from '../helpers/receiver.js'
import { Spool } from '../../src/store/spool.js'
import { ENQUEUE_SLICE, type OutboxRecord } from '../../src/webhooks/dispatcher.js'
import type { ClickRow } from '../../src/records.js'

// The real engine (embedded ClickHouse, outbox on disk) and real receivers on loopback; the
// clicks are handed to the dispatcher as promotion hands them over (ClickSink), in one batch.
const FAST = { 'promotion-window-ms': '300', 'batch-max-ms': '50' }
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

function click (sid: string, i: number): ClickRow {
  return {
    obs_id: randomUUID(),
    ts: Date.now(),
    sid,
    message_id: randomUUID(),
    route_id: '00000000-0000-0000-0000-000000000000',
    link_index: 0,
    sent_at: Math.floor(Date.now() / 1000) - 600,
    recipient: 'user@example.com',
    subject: 'Your weekly "recommendations"',
    tag: 'news',
    metadata: { campaign: 'w48' },
    destination_url: `https://example.com/product/${i}`,
    anchor_text: 'View Product',
    first_click: true,
    device_type: 'mobile',
    client_type: 'browser',
    client_name: 'Safari',
    user_agent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
    ip: '203.0.113.7',
    method: 'GET',
    bot: { detected: false, probability: 0, classification: 'genuine', proxy_type: null, reason_codes: [], machine: false, counts_for_metrics: true },
    retention_days: 400
  }
}

async function until (what: () => boolean, ms = 30_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!what() && Date.now() < deadline) await sleep(25)
  return what()
}

const N = 2000
const FRAMES = Math.ceil(N / ENQUEUE_SLICE)

t.test('a promotion batch becomes one outbox frame per slice, the event loop turns between slices, every job is delivered once and the frames are released', async t => {
  const e = await startTestEngine(t, FAST)
  const rx = new Receiver()
  await rx.up()
  t.teardown(async () => { await rx.down() })
  const w = await api(e.api.port, 'POST', `/v1/projects/${e.team!.project.project_id}/webhooks`, e.team!.token, { url: rx.url })
  t.equal(w.status, 201)
  const rows = Array.from({ length: N }, (_, i) => click('acme', i))
  let turns = 0
  let spinning = true
  const spin = (): void => { turns++; if (spinning) setImmediate(spin) }
  setImmediate(spin)
  await e.dispatcher.clicks(rows)
  spinning = false
  t.ok(turns >= FRAMES - 1, `other work ran between the slices (${turns} turns of the event loop)`)
  t.equal(e.dispatcher.stats.enqueued, N, 'every click queued')
  t.ok(await until(() => e.dispatcher.pending === 0 && rx.received.length >= N, 180_000), `every event delivered (${rx.received.length})`)
  await sleep(300)
  const ids = new Set(rx.received.map(r => r.headers['webhook-id']))
  t.equal(ids.size, N, 'once each')
  t.equal(rx.received.length, N, 'no duplicates')
  const bodies = rx.received.map(r => JSON.parse(r.body) as { data: { subject: string } })
  t.ok(bodies.every(b => b.data.subject === 'Your weekly "recommendations"'), 'the bodies arrive as built')
  const dir = e.dataDir
  await e.stop()
  const outbox = new Spool<OutboxRecord>({ dir: join(dir, 'outbox'), maxBytes: 256 * 1024 * 1024, fsync: 'none' })
  await outbox.open()
  t.equal(outbox.stats.pendingBatches, 0, 'every frame released once its last job was delivered')
  outbox.close()
})

t.test('a frame shared by two webhooks\' jobs is released only with its last job; its pending jobs survive a restart exactly once', async t => {
  const e = await startTestEngine(t, { ...FAST, 'webhook-retry-schedule': '1h' })
  const dead = new Receiver()
  await dead.up()
  await dead.down()
  const live = new Receiver()
  await live.up()
  t.teardown(async () => { await live.down() })
  const project = e.team!.project.project_id
  const d = await api(e.api.port, 'POST', `/v1/projects/${project}/webhooks`, e.team!.token, { url: dead.url })
  const l = await api(e.api.port, 'POST', `/v1/projects/${project}/webhooks`, e.team!.token, { url: live.url })
  t.equal(d.status, 201)
  t.equal(l.status, 201)
  const rows = Array.from({ length: N }, (_, i) => click('acme', i))
  await e.dispatcher.clicks(rows)
  t.equal(e.dispatcher.stats.enqueued, 2 * N, 'a job per click and webhook')
  t.ok(await until(() => live.received.length >= N && e.dispatcher.pending === N, 180_000), `the live webhook got every event (${live.received.length})`)
  t.equal(e.dispatcher.pending, N, 'the dead webhook\'s jobs wait')
  // Handed over again (promotion stores a batch again after a crash): the dead webhook's
  // jobs are pending already and not queued twice; the live one's were delivered and are
  // queued again (receivers de-duplicate on the stable event id).
  await e.dispatcher.clicks(rows.slice(0, 300))
  t.equal(e.dispatcher.stats.enqueued, 2 * N + 300, 'only the delivered ones are queued again')
  t.ok(await until(() => live.received.length >= N + 300 && e.dispatcher.pending === N, 180_000), 'and delivered again')
  const dir = e.dataDir
  await e.stop()
  const outbox = new Spool<OutboxRecord>({ dir: join(dir, 'outbox'), maxBytes: 256 * 1024 * 1024, fsync: 'none' })
  await outbox.open()
  let jobFrames = 0
  let tombstoneFrames = 0
  let jobs = 0
  for await (const b of outbox.recover()) {
    const first = b.records[0] as { eventId?: string, done?: string }
    if (typeof first.eventId === 'string') { jobFrames++; jobs += b.records.length } else if (typeof first.done === 'string') tombstoneFrames++
  }
  t.equal(jobFrames, FRAMES, `the ${FRAMES} frames are kept: each still holds jobs of the dead webhook`)
  t.equal(jobs, 2 * N, 'with the live webhook\'s delivered jobs in them')
  t.ok(tombstoneFrames >= 1, `which tombstone frames name as done (${tombstoneFrames})`)
  outbox.close()

  const back = await startTestEngine(t, { ...FAST, 'webhook-retry-schedule': '1h' }, {}, dir)
  t.equal(back.dispatcher.pending, N, 'after the restart: the dead webhook\'s jobs, once each (the delivered ones are not replayed)')
  const views = [...back.dispatcher.hooks()]
  t.same(views.filter(h => h.pending > 0).map(h => h.webhookId), [d.body.webhook_id], 'all of them the dead webhook\'s')
  t.equal((await api(back.api.port, 'PATCH', `/v1/webhooks/${d.body.webhook_id as string}`, e.team!.token, { enabled: false })).status, 200)
  t.ok(await until(() => back.dispatcher.pending === 0, 60_000), 'disabling it drops them')
  await back.stop()
  const after = new Spool<OutboxRecord>({ dir: join(dir, 'outbox'), maxBytes: 256 * 1024 * 1024, fsync: 'none' })
  await after.open()
  t.equal(after.stats.pendingBatches, 0, 'and with their last jobs the frames are released')
  after.close()
})
