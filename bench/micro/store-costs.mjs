// What each ClickHouse statement of the click path costs per click, in CPU of every thread of
// the process (chdb runs statements on libuv's pool and ClickHouse's own threads) and of the
// main thread alone, on the embedded engine in a temp data dir, one statement at a time with
// nothing else running. Batches of BENCH_MICRO_ROWS (default 2 000: a promotion batch at a
// few thousand clicks per second): the observations insert (insertObservationRows), the
// clicks insert with its four materialized views (ClickHousePromotionStore.storeClicks), the
// first-click lookup for the batch's messages (firstClicked), the message lookup of new
// messages (MessageDirectory.lookup), and the webhook records (webhook_events with the
// event body, webhook_deliveries) as the dispatcher's batched writers insert them.
import { randomUUID } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { envInt } from '../lib/settings.mjs'
import { killAll } from '../lib/children.mjs'
import { threadCpuUs } from '../lib/proc.mjs'
import { mdTable } from '../lib/report.mjs'
import { clickPathStore, observations } from './lib/project.mjs'
import { openTempStore } from './lib/store.mjs'
import { sampleObservation } from './lib/samples.mjs'
import { QUICK, emit, loadNow } from './lib/race.mjs'

const loadBefore = loadNow()
const ROWS = envInt('BENCH_MICRO_ROWS', 2000, 10, 100_000)
const REPS = envInt('BENCH_MICRO_INSERTS', QUICK ? 3 : 8, 1, 1000)
const { toRow, insertObservationRows } = await observations()
const { ClickHousePromotionStore, Quarantine, MessageDirectory, BatchedWriter, silentLogger } = await clickPathStore()
const { store } = await openTempStore()
const client = store.writer
const quarantine = new Quarantine(client, silentLogger, { nodeId: 'node-1' })
const promotion = new ClickHousePromotionStore(client, quarantine)
const directory = new MessageDirectory(client)
const events = new BatchedWriter(client, 'webhook_events', silentLogger, { quarantine, maxRows: 1_000_000, flushMs: 3_600_000 })
const deliveries = new BatchedWriter(client, 'webhook_deliveries', silentLogger, { quarantine, maxRows: 1_000_000, flushMs: 3_600_000 })

function clickRow (o) {
  return {
    obs_id: o.id,
    ts: o.ts,
    sid: o.sid,
    message_id: o.messageId,
    link_index: o.linkIndex,
    sent_at: o.sentAt,
    recipient: '',
    subject: '',
    tag: '',
    metadata: {},
    destination_url: o.url,
    anchor_text: '',
    first_click: true,
    device_type: 'desktop',
    client_type: 'browser',
    client_name: 'Chrome',
    user_agent: o.userAgent,
    ip: o.ip,
    method: o.method,
    bot: { detected: false, probability: 0, classification: 'genuine', proxy_type: null, reason_codes: [], machine: false, counts_for_metrics: true },
    retention_days: o.retentionDays
  }
}
const body = (o) => JSON.stringify({ id: randomUUID(), event: 'message.clicked', timestamp: new Date().toISOString(), data: { ...clickRow(o), bot: undefined } })

/** CPU µs (all threads, main thread) and wall ms of `fn`, with the result's promise awaited. */
async function cost (fn) {
  const c0 = process.cpuUsage()
  const m0 = threadCpuUs()
  const t0 = performance.now()
  await fn()
  const c = process.cpuUsage(c0)
  return { allUs: c.user + c.system, mainUs: threadCpuUs() - m0, ms: performance.now() - t0 }
}

const stages = {
  'observations insert (JSONCompactEachRow text)': async (obs) => { await insertObservationRows(client, obs.map(o => toRow(o, 'node-1')), randomUUID()) },
  'clicks insert (JSONEachRow, 4 views)': async (obs) => { await promotion.storeClicks(obs.map(clickRow), randomUUID()) },
  'first-click lookup': async (obs) => { await promotion.firstClicked(obs.map(o => ({ sid: o.sid, messageId: o.messageId }))) },
  'message lookup (new messages)': async (obs) => { await directory.lookup(obs) },
  'webhook_events insert (BatchedWriter)': async (obs) => { await events.add(obs.map(o => ({ event_id: randomUUID(), webhook_id: randomUUID(), sid: o.sid, event: 'message.clicked', body: body(o), created_at: o.ts }))); await events.flush(true) },
  'webhook_deliveries insert (BatchedWriter)': async (obs) => { await deliveries.add(obs.map(o => ({ event_id: randomUUID(), webhook_id: randomUUID(), sid: o.sid, attempt: 1, ts: o.ts, status: 200, ok: true, latency_ms: 3, error: '', next_retry: null }))); await deliveries.flush(true) },
  'webhook_events insert (client.insert JSONEachRow, before)': async (obs) => { await client.insert({ table: 'webhook_events', values: obs.map(o => ({ event_id: randomUUID(), webhook_id: randomUUID(), sid: o.sid, event: 'message.clicked', body: body(o), created_at: o.ts })), format: 'JSONEachRow' }) },
  'webhook_deliveries insert (client.insert JSONEachRow, before)': async (obs) => { await client.insert({ table: 'webhook_deliveries', values: obs.map(o => ({ event_id: randomUUID(), webhook_id: randomUUID(), sid: o.sid, attempt: 1, ts: o.ts, status: 200, ok: true, latency_ms: 3, error: '', next_retry: null })), format: 'JSONEachRow' }) }
}
const names = Object.keys(stages)
const acc = Object.fromEntries(names.map(n => [n, []]))
for (let r = 0; r < REPS + 1; r++) {
  for (const n of names) {
    const obs = Array.from({ length: ROWS }, (_, i) => sampleObservation(i))
    const c = await cost(() => stages[n](obs))
    if (r > 0) acc[n].push(c) // the first round warms up
  }
}
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }
const rows = names.map(n => {
  const all = med(acc[n].map(c => c.allUs)) / ROWS
  const main = med(acc[n].map(c => c.mainUs)) / ROWS
  return { stage: n, allUsPerClick: all, mainUsPerClick: main, wallMs: med(acc[n].map(c => c.ms)) }
})
emit({
  topic: 'store-costs',
  loadBefore,
  claims: [],
  sections: [{
    title: `CPU per click of each ClickHouse statement of the click path (batches of ${ROWS}, median of ${REPS})`,
    table: mdTable(['statement', 'all threads µs/click', 'main thread µs/click', 'wall ms per batch'], rows.map(r => [r.stage, r.allUsPerClick.toFixed(1), r.mainUsPerClick.toFixed(1), r.wallMs.toFixed(0)]))
  }],
  verdicts: [],
  notes: ['Main-thread CPU is read from /proc at 10 ms ticks: over a batch it is coarse; "all threads" is process.cpuUsage.'],
  data: { rows, batch: ROWS, reps: REPS }
})
await events.close()
await deliveries.close()
await store.close()
killAll()
