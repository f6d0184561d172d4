import t from 'tap'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { startTestEngine, tempDir, type TestEngine } from '../helpers/engine.js'
import { request } from '../helpers/http.js'
import { Spool } from '../../src/store/spool.js'
import { toRow } from '../../src/store/observations.js'
import { newObservation, type Observation } from '../../src/records.js'
import { until } from '../helpers/wait.js'

// Start-up and ingest never stop on a bad record (issue 10, rule 2): spool frames whose CRC
// is valid but whose content is not (a non-JSON row, a row of the wrong shape, a record that
// is not a row, a row ClickHouse refuses), and intent files of the wrong shape or that are
// directories. The frames are written with the real Spool into the data dir of a stopped
// engine, as a crash or a bad disk could leave them; the real engine then starts on it.

const FAST = { 'batch-max-ms': '50', 'retry-min-ms': '20', 'retry-max-ms': '100' }
const HOST = 'pacme.t.localhost:8080'

async function count (e: TestEngine, query: string): Promise<number> {
  const [r] = await (await e.store.reader.query({ query, format: 'JSONEachRow' })).json<{ n: string }>()
  return Number(r.n)
}

function observation (i: number): Observation {
  const now = Date.now()
  return Object.assign(newObservation(), {
    ts: now,
    id: randomUUID(),
    sid: 'acme',
    messageId: randomUUID(),
    linkIndex: 0,
    sentAt: Math.floor(now / 1000) - 600,
    url: `https://example.com/replay/${i}`,
    kid: 1,
    retentionDays: 400,
    method: 'GET',
    host: HOST,
    ip: '192.0.2.1',
    peerIp: '192.0.2.1',
    userAgent: 'replay-test'
  })
}

t.test('bad spool content and bad intent files: start-up succeeds, good rows go in, bad ones are quarantined', async t => {
  const dir = tempDir(t)
  const first = await startTestEngine(t, FAST, {}, dir)
  await first.stop()
  const nodeId = readFileSync(join(dir, 'node-id'), 'utf8').trim()
  const good = (i: number): string => toRow(observation(i), nodeId)
  const spool = new Spool<unknown>({ dir: join(dir, 'spool'), maxBytes: 64 * 1024 * 1024, fsync: 'none' })
  await spool.open()
  spool.append(Array.from({ length: 500 }, (_, i) => good(i)))
  spool.append(['this is not json', good(500), '{}']) // not JSON; a good row; JSON of the wrong shape
  // A lone surrogate's escape: the JSON parses, ClickHouse refuses the row.
  spool.append([good(501).replace('https://example.com/replay/501', 'https://example.com/\\ud800'), good(502)])
  spool.append([42, good(503)]) // a record that is not a row text at all
  spool.append(Array.from({ length: 996 }, (_, i) => good(1000 + i)))
  spool.close()
  // The ingest intent path is a directory; the promotion intent is JSON of the wrong shape.
  mkdirSync(join(dir, 'ingest-intent.json'))
  writeFileSync(join(dir, 'promotion-intent.json'), JSON.stringify({ token: 't', watermark: 1, rows: [1, 2] }))

  const e = await startTestEngine(t, FAST, {}, dir)
  t.pass('the engine started')
  const goodRows = 500 + 1 + 1 + 1 + 996
  await until('the good rows', async () => await count(e, "SELECT count() AS n FROM click_observations WHERE url LIKE 'https://example.com/replay/%'") >= goodRows)
  t.equal(await count(e, "SELECT count() AS n FROM click_observations WHERE url LIKE 'https://example.com/replay/%'"), goodRows, `all ${goodRows} good rows inserted, once`)
  await until('the quarantine', async () => await count(e, "SELECT count() AS n FROM quarantine WHERE source = 'click_observations'") >= 4)
  const q = await (await e.store.reader.query({ query: "SELECT row, error FROM quarantine WHERE source = 'click_observations' ORDER BY row", format: 'JSONEachRow' })).json<{ row: string, error: string }>()
  t.equal(q.length, 4, 'exactly the four bad rows are quarantined')
  t.ok(q.some(r => r.row === 'this is not json'), 'the non-JSON row, as it was')
  t.ok(q.some(r => r.row === '{}'), 'the row of the wrong shape')
  t.ok(q.some(r => r.row === '42'), 'the record that was not a row')
  t.ok(q.some(r => r.row.includes('\\ud800') && /escape/i.test(r.error)), 'the row ClickHouse refused, with its error')
  t.equal(e.pipeline.stats.replayUndecodable, 3, 'three rows did not decode at replay')
  const metrics = await e.metrics.metrics()
  t.match(metrics, /clicktrail_quarantined_total\{source="click_observations"\} 4/, 'visible in /metrics')
  const aside = readdirSync(dir).filter(f => /^(ingest|promotion)-intent\.json\.bad-\d+$/.test(f))
  t.equal(aside.length, 2, 'both unusable intent files were moved aside for the operator')

  // And ingest goes on: new clicks are stored.
  const urls = Array.from({ length: 20 }, (_, i) => e.track('acme', `https://example.com/after/${i}`, i))
  const replies = await Promise.all(urls.map(u => request(e.port, { path: new URL(u).pathname, host: HOST })))
  t.ok(replies.every(r => r.status === 302))
  await until('new clicks', async () => await count(e, "SELECT count() AS n FROM click_observations WHERE url LIKE 'https://example.com/after/%'") >= 20)
  t.equal(e.pipeline.queuedRows, 0, 'nothing is stuck in the queue')
})
