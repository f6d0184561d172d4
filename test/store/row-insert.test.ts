import t from 'tap'
import { randomUUID } from 'node:crypto'
import { Readable } from 'node:stream'
import type { ClickHouseClient } from '@clickhouse/client'
import { startTestEngine } from '../helpers/engine.js'
import { OBSERVATION_COLUMNS, insertObservationRows, toRow } from '../../src/store/observations.js'
import { ClickHousePromotionStore } from '../../src/store/promotion.js'
import { insertRows, rowsBuffer } from '../../src/store/row-insert.js'
import { isDataError } from '../../src/store/quarantine.js'
import { newObservation, type ClickRow, type Observation } from '../../src/records.js'

// Rows now reach the embedded ClickHouse as one Buffer through chdb's raw insert (and
// clicks as positional lines): every field must be stored exactly as the client's insert
// stored it before. Each test writes the same records both ways, the old way as it was
// (copied here), and compares what ClickHouse reads back, column by column. A remote
// ClickHouse server cannot be started here; its path (the client's exec) is unchanged.

const TRICKY = ['', 'plain', 'quote " and backslash \\ and tab \t', 'newline\nand\r\nreturn', 'ünïcødé ✓ 日本語 😀', 'emoji 👍🏽 and \u2028 separator', 'x'.repeat(5000)]

// Times of the last minute: the table's TTL (retention_days) must not drop any row while the test reads.
const NOW = Date.now() - 60_000

function observation (i: number): Observation {
  const o = newObservation()
  const s = (k: number): string => TRICKY[(i + k) % TRICKY.length]
  Object.assign(o, {
    ts: NOW + i * 7,
    id: randomUUID(),
    sid: 'acme',
    messageId: randomUUID(),
    linkIndex: i % 300,
    sentAt: Math.floor(NOW / 1000) - 3600 + i,
    url: `https://shop.example.com/p/${i}?q=${encodeURIComponent(s(1))}`,
    kid: 1 + (i % 3),
    retentionDays: 30 + i,
    method: i % 5 === 0 ? 'HEAD' : 'GET',
    host: 'pacme.t.example.com',
    ip: i % 2 === 0 ? `203.0.113.${i % 250}` : `2001:db8::${i.toString(16)}`,
    peerIp: '127.0.0.1',
    userAgent: s(2),
    accept: s(3),
    acceptLanguage: s(4),
    acceptEncoding: s(5),
    secFetchSite: s(6),
    secChUa: s(0),
    referer: s(1),
    blocked: i % 4 === 0,
    scheme: ['https', 'http', ''][i % 3],
    xNativeHost: s(5)
  })
  return o
}

async function readBack (client: ClickHouseClient, sql: string, params: Record<string, unknown>): Promise<Array<Record<string, unknown>>> {
  const r = await client.query({ query: sql, query_params: params, format: 'JSONEachRow' })
  return await r.json<Record<string, unknown>>()
}

t.test('observation rows are stored field for field as the joined-text insert stored them', async t => {
  const e = await startTestEngine(t)
  const client = e.store.writer
  const obs = Array.from({ length: 200 }, (_, i) => observation(i))
  // Before: the joined JSONCompactEachRow text through the client's exec (chdb concatenated it into the SQL).
  const old = await client.exec({
    query: `INSERT INTO click_observations (${OBSERVATION_COLUMNS.join(', ')}) FORMAT JSONCompactEachRow`,
    values: Readable.from([obs.map(o => toRow(o, 'node-old')).join('\n')]),
    clickhouse_settings: { insert_deduplication_token: randomUUID() }
  })
  for await (const chunk of old.stream) void chunk // eslint-disable-line no-void -- draining releases the connection
  await insertObservationRows(client, obs.map(o => toRow(o, 'node-new')), randomUUID())
  // ingested_at is ClickHouse's now64() at the insert
  const sql = 'SELECT * EXCEPT (node_id, ingested_at) FROM click_observations WHERE node_id = {n:String} ORDER BY obs_id'
  const before = await readBack(client, sql, { n: 'node-old' })
  const after = await readBack(client, sql, { n: 'node-new' })
  t.equal(before.length, obs.length, 'every row stored the old way')
  t.equal(after.length, obs.length, 'every row stored by one raw insert of the whole batch')
  t.same(after, before, 'every column of every row as before')
  const long = after.find(r => r.user_agent === 'x'.repeat(5000))
  t.ok(long !== undefined, 'a 5,000-character value arrives whole')
})

function click (i: number, sid: string): ClickRow {
  const s = (k: number): string => TRICKY[(i + k) % TRICKY.length]
  return {
    obs_id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    ts: NOW + i * 13,
    sid,
    message_id: `10000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    route_id: `20000000-0000-4000-8000-${String(i % 7).padStart(12, '0')}`,
    link_index: i % 40,
    sent_at: Math.floor(NOW / 1000) - 3600 + i,
    recipient: s(1),
    subject: s(2),
    tag: i % 3 === 0 ? '' : `tag-${i % 3}`,
    metadata: i % 2 === 0 ? {} : { campaign: s(3), 'key "quoted"': s(4) },
    destination_url: `https://shop.example.com/p/${i}`,
    anchor_text: s(5),
    first_click: i % 2 === 0,
    device_type: 'desktop',
    client_type: i % 2 === 0 ? 'browser' : 'email_client',
    client_name: s(6),
    user_agent: s(0),
    ip: `203.0.113.${i % 250}`,
    method: 'GET',
    bot: {
      detected: i % 3 === 0,
      probability: (i * 7) % 101,
      classification: i % 3 === 0 ? 'security_scanner' : 'genuine',
      proxy_type: i % 5 === 0 ? 'apple_mpp' : null,
      reason_codes: i % 3 === 0 ? ['ua_bot', 'sec_fetch_missing'] : [],
      machine: i % 3 === 0,
      counts_for_metrics: i % 3 !== 0
    },
    // A row without it takes the column's default (400), as an absent key did in JSONEachRow.
    retention_days: i % 7 === 0 ? undefined as unknown as number : 90
  }
}

/** The clicks insert as it was before clickLine (a copy): objects with the verdict spread out, the client's JSONEachRow. */
async function storeClicksBefore (client: ClickHouseClient, rows: ClickRow[], token: string): Promise<void> {
  const values = rows.map(r => {
    const { bot, ...rest } = r
    return { ...rest, bot_detected: bot.detected, bot_probability: bot.probability, classification: bot.classification, proxy_type: bot.proxy_type, reason_codes: bot.reason_codes, machine: bot.machine, counts_for_metrics: bot.counts_for_metrics }
  })
  await client.insert({ table: 'clicks', values, format: 'JSONEachRow', clickhouse_settings: { insert_deduplication_token: token } })
}

t.test('click rows are stored field for field as the JSONEachRow insert stored them, and their views alike', async t => {
  const e = await startTestEngine(t)
  const client = e.store.writer
  const store = new ClickHousePromotionStore(client, e.quarantine)
  await storeClicksBefore(client, Array.from({ length: 150 }, (_, i) => click(i, 'old1')), randomUUID())
  const r = await store.storeClicks(Array.from({ length: 150 }, (_, i) => click(i, 'new1')), randomUUID())
  t.same(r.refused, [], 'nothing refused')
  const sql = 'SELECT * EXCEPT (sid, promoted_at) FROM clicks WHERE sid = {s:String} ORDER BY obs_id'
  const before = await readBack(client, sql, { s: 'old1' })
  const after = await readBack(client, sql, { s: 'new1' })
  t.equal(after.length, 150, 'every click stored')
  t.same(after, before, 'every column of every click as before')
  t.ok(after.some(x => x.retention_days === 400), 'an undefined value took the column default')
  for (const view of ['clicks_by_message', 'clicks_by_link']) {
    const q = `SELECT * EXCEPT sid FROM ${view} WHERE sid = {s:String} ORDER BY ALL`
    t.same(await readBack(client, q, { s: 'new1' }), await readBack(client, q, { s: 'old1' }), `${view} fed alike`)
  }
  const byDay = `SELECT day, classification, device_type, client_type, client_name, sum(clicks) AS clicks, uniqMerge(unique_clickers) AS clickers
    FROM clicks_by_day WHERE sid = {s:String} GROUP BY ALL ORDER BY ALL`
  t.same(await readBack(client, byDay, { s: 'new1' }), await readBack(client, byDay, { s: 'old1' }), 'clicks_by_day fed alike')
})

t.test('the raw insert keeps the deduplication token and reports refused data as ClickHouse errors', async t => {
  const e = await startTestEngine(t)
  const client = e.store.writer
  const store = new ClickHousePromotionStore(client, e.quarantine)
  const rows = Array.from({ length: 20 }, (_, i) => click(i, 'dup1'))
  const token = randomUUID()
  await store.storeClicks(rows, token)
  await store.storeClicks(rows, token)
  const [n] = await readBack(client, "SELECT count() AS n FROM clicks WHERE sid = 'dup1'", {})
  t.equal(Number(n.n), 20, 'the same token twice is stored once')

  const err = await insertRows(client, { table: 'clicks', columns: ['obs_id'], format: 'JSONCompactEachRow', rows: ['["not a uuid"]'] }).then(() => undefined, (x: unknown) => x)
  t.ok(err !== undefined, 'a row ClickHouse cannot take fails the insert')
  t.ok(isDataError(err), 'as a data error (code and type), so the quarantine isolates the row')

  const bad = click(999, 'dup2')
  bad.message_id = 'not a uuid'
  const r = await store.storeClicks([click(1, 'dup2'), bad, click(2, 'dup2')], randomUUID())
  t.same(r.refused, [1], 'the bad click is refused alone')
  const [m] = await readBack(client, "SELECT count() AS n FROM clicks WHERE sid = 'dup2'", {})
  t.equal(Number(m.n), 2, 'the others are stored')
})

t.test('rowsBuffer is the lines, newline-terminated, in UTF-8', async t => {
  const rows = ['a', '', 'ü✓😀', '"q"']
  t.equal(rowsBuffer(rows).toString('utf8'), rows.join('\n') + '\n')
  t.equal(rowsBuffer([]).length, 0)
})
