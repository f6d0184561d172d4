import t from 'tap'
import { randomUUID } from 'node:crypto'
import { createClient } from '@clickhouse/client'
import { startTestEngine } from '../helpers/engine.js'
import { BatchedWriter } from '../../src/store/batched.js'
import { Quarantine, insertIsolating, isDataError } from '../../src/store/quarantine.js'
import { silentLogger } from '../../src/log.js'
import { until } from '../helpers/wait.js'

// One refused row never blocks its writer (issue 10, rule 2): the real batched writer and
// the real embedded ClickHouse. The API now refuses ill-formed text, so the refused row is
// handed to the writer directly, as a row from any other source could be; the refusal
// itself is ClickHouse's.

function message (sid: string, subject: string): Record<string, unknown> {
  return {
    message_id: randomUUID(),
    sid,
    project_id: randomUUID(),
    route_id: randomUUID(),
    recipient: 'r@example.com',
    sender: 's@example.com',
    subject,
    tag: '',
    metadata: {},
    sent_at: Math.floor(Date.now() / 1000),
    tracking: true,
    tracking_reason: 'route_setting',
    link_count: 1,
    retention_days: 400
  }
}

t.test('a refused row is isolated and quarantined; every other row goes in, in this batch and the next', async t => {
  const e = await startTestEngine(t)
  const w = new BatchedWriter(e.store.writer, 'messages', silentLogger, { quarantine: e.quarantine, flushMs: 50 })
  t.teardown(async () => { await w.close() })
  const rows = Array.from({ length: 100 }, (_, i) => message(i % 2 === 0 ? 'acme' : 'bravo', `good ${i}`))
  rows.splice(37, 0, message('acme', 'hi \ud800'))
  w.add(rows)
  await until('the batch', () => w.buffered === 0)
  w.add([message('bravo', 'later')])
  await until('the next batch', () => w.buffered === 0)
  const [n] = await (await e.store.reader.query({ query: "SELECT count() AS n FROM messages WHERE subject LIKE 'good %' OR subject = 'later'", format: 'JSONEachRow' })).json<{ n: string }>()
  t.equal(Number(n.n), 101, 'the 100 good rows of the batch and the one after it are stored')
  t.equal(w.quarantined, 1)
  t.equal(w.inserted, 101)
  await e.quarantine.flush()
  const q = await (await e.store.reader.query({ query: "SELECT sid, error, row FROM quarantine WHERE source = 'messages'", format: 'JSONEachRow' })).json<{ sid: string, error: string, row: string }>()
  t.equal(q.length, 1, 'one row in the quarantine')
  t.equal(q[0].sid, 'acme', 'with its tenant')
  t.match(q[0].error, /surrogate/i, 'and ClickHouse\'s reason')
  t.match(q[0].row, /"subject":"hi \\ud800"/, 'and the row as it was (serialised)')
  t.match(await e.metrics.metrics(), /clicktrail_quarantined_total\{source="messages"\} 1/)
})

t.test('while ClickHouse is unreachable the writer backs off instead of retrying every tick', async t => {
  // A real client against a closed loopback port: a real ECONNREFUSED, not a data error.
  const dead = createClient({ url: 'http://127.0.0.1:9', request_timeout: 1000, log: { level: 127 as never } })
  t.teardown(async () => { await dead.close() })
  const q = new Quarantine(dead, silentLogger)
  const w = new BatchedWriter(dead, 'messages', silentLogger, { quarantine: q, flushMs: 20, retryMinMs: 100, retryMaxMs: 10_000 })
  w.add([message('acme', 'x')])
  await new Promise(resolve => setTimeout(resolve, 2500))
  // Without back-off: one attempt per 20 ms tick, ~125. With it: 100, 200, 400, 800 ms … at most ~6.
  t.ok(w.failures >= 2 && w.failures <= 7, `${w.failures} attempts in 2.5 s`)
  t.equal(w.buffered, 1, 'the row is kept, not quarantined: the server, not the row, is the problem')
  t.equal(q.stats.rows, 0)
  await w.close().catch(() => {})
  await q.close().catch(() => {})
})

t.test('isolation: bisection finds every refused row, tokens are derived, transport errors are thrown', async t => {
  const refusedAt = new Set([3, 4, 11])
  const calls: string[] = []
  const dataError = Object.assign(new Error('Cannot parse input'), { code: '27', type: 'CANNOT_PARSE_INPUT_ASSERTION_FAILED' })
  const rows = Array.from({ length: 16 }, (_, i) => i)
  const seen: number[] = []
  const r = await insertIsolating(rows, 'tok', async (part, token) => {
    calls.push(token)
    if (part.some(x => refusedAt.has(x))) throw dataError
  }, (row, i) => { seen.push(row); t.equal(rows[i], row) })
  t.same(r.refused, [3, 4, 11])
  t.same(seen, [3, 4, 11])
  t.equal(calls[0], 'tok')
  t.ok(calls.every(c => /^tok(-[ab])*$/.test(c)), 'sub-batches carry tokens derived from the batch token')
  t.equal(new Set(calls).size, calls.length, 'no token is used twice')
  t.ok(r.inserts < 16 * 2, `${r.inserts} inserts for 3 bad rows in 16`)
  await t.rejects(insertIsolating(rows, 'tok', async () => { throw new Error('ECONNREFUSED') }, () => {}), /ECONNREFUSED/, 'a transport error is thrown, not isolated')
  t.notOk(isDataError(Object.assign(new Error('x'), { code: '241', type: 'MEMORY_LIMIT_EXCEEDED' })), 'memory limits are the server\'s state')
  t.notOk(isDataError(Object.assign(new Error('x'), { code: '60', type: 'UNKNOWN_TABLE' })), 'a missing table is the schema\'s')
  t.ok(isDataError(dataError))
})
