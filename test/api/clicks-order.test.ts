import t from 'tap'
import { randomUUID } from 'node:crypto'
import { startTestEngine } from '../helpers/engine.js'
import { api, type ApiReply } from '../helpers/api.js'
import { insertRows } from '../../src/store/row-insert.js'
import { CLICK_COLUMNS, clickLine } from '../../src/store/promotion.js'
import { eventIdFor } from '../../src/webhooks/payload.js'
import type { ClickRow } from '../../src/records.js'
import { bootstrap } from '../../src/control/projects.js'

// The two endpoints the dashboard's recent clicks and message view needed (issue 14), through
// the real Team API and embedded ClickHouse: GET /v1/projects/{id}/clicks?order=newest (the
// latest clicks first, next_cursor walking back to older ones, prev_cursor forward again;
// clicks seeded straight into `clicks`) and GET /v1/messages/{id}/links (a message's links as
// the rewriter recorded them, from a real POST /v1/rewrite).

const DAY = 86_400_000

function click (sid: string, ts: number, i: number): ClickRow {
  const machine = i % 5 === 4
  return {
    obs_id: randomUUID(),
    ts,
    sid,
    message_id: randomUUID(),
    route_id: '00000000-0000-0000-0000-000000000000',
    link_index: 0,
    sent_at: Math.floor(ts / 1000) - 600,
    recipient: `r${i}@example.com`,
    subject: 'Hi',
    tag: '',
    metadata: {},
    destination_url: `https://example.com/p/${i}`,
    anchor_text: '',
    first_click: !machine,
    device_type: 'desktop',
    client_type: 'browser',
    client_name: 'Chrome',
    user_agent: 'ua',
    ip: '203.0.113.7',
    method: 'GET',
    bot: machine
      ? { detected: true, probability: 97, classification: 'security_scanner', proxy_type: null, reason_codes: ['scanner_agent'], machine: true, counts_for_metrics: false }
      : { detected: false, probability: 0, classification: 'genuine', proxy_type: null, reason_codes: [], machine: false, counts_for_metrics: true },
    retention_days: 400
  }
}

t.test('clicks newest first, with cursors both ways', async t => {
  const e = await startTestEngine(t)
  const a = e.team!
  const port = e.api.port
  const start = Date.now() - 3 * DAY
  // Distinct times: between clicks of the same millisecond the order is ClickHouse's UUID order,
  // which is not the ids' text order.
  const rows = Array.from({ length: 23 }, (_, i) => click(a.project.sid, start + i * 60_000, i))
  await insertRows(e.store.writer, { table: 'clicks', columns: CLICK_COLUMNS, format: 'JSONCompactEachRow', rows: rows.map(clickLine), settings: { insert_deduplication_token: randomUUID() } })
  const byNewest = (xs: ClickRow[]): string[] => [...xs].sort((x, y) => y.ts - x.ts).map(c => eventIdFor(c.obs_id))
  const humans = rows.filter(c => !c.bot.machine)
  const path = `/v1/projects/${a.project.project_id}/clicks`
  const ids = (r: ApiReply): string[] => r.body.data.map((x: { event_id: string }) => x.event_id)

  const p1 = await api(port, 'GET', `${path}?order=newest&per_page=5`, a.token)
  t.equal(p1.status, 200)
  t.same(ids(p1), byNewest(humans).slice(0, 5), 'the newest five people\'s clicks, newest first')
  t.equal(p1.body.meta.prev_cursor, null, 'nothing newer than the first page')
  t.type(p1.body.meta.next_cursor, 'string')

  const seen: string[] = []
  let url: string | null = `${path}?order=newest&per_page=5`
  const pages: ApiReply[] = []
  while (url !== null) {
    const p: ApiReply = await api(port, 'GET', url, a.token)
    t.equal(p.status, 200)
    pages.push(p)
    seen.push(...ids(p))
    url = p.body.meta.next_cursor_url
  }
  t.same(seen, byNewest(humans), 'next pages walk back to the oldest, each click once')
  t.equal(pages.length, Math.ceil(humans.length / 5))
  const back = await api(port, 'GET', pages[2].body.meta.prev_cursor_url, a.token)
  t.same(ids(back), ids(pages[1]), 'prev_cursor goes forward to the newer page')

  const all = await api(port, 'GET', `${path}?order=newest&include_machine_events=true&per_page=100`, a.token)
  t.same(ids(all), byNewest(rows), 'with machines')
  t.equal(all.body.meta.next_cursor, null, 'one page holds them all')
  const oldest = await api(port, 'GET', `${path}?order=oldest&include_machine_events=true&per_page=100`, a.token)
  t.same(ids(oldest), [...byNewest(rows)].reverse(), 'order=oldest is the default order')

  const csv = await api(port, 'GET', `${path}?order=newest&format=csv`, a.token)
  t.equal(csv.status, 400, 'a CSV export has one order')
  t.equal(csv.body?.error?.code, 'CT_ERR_QUERY_PARAM')
  const bad = await api(port, 'GET', `${path}?order=latest`, a.token)
  t.equal(bad.status, 400)
  t.equal(bad.body?.error?.details?.param, 'order')
})

t.test('a message\'s links as rewritten: in order, tracked or not; another team\'s message is not found', async t => {
  const e = await startTestEngine(t)
  const a = e.team!
  const port = e.api.port
  const html = '<p><a href="https://shop.example/a">First</a> <a href="mailto:x@example.com">Mail</a> <a href="https://shop.example/b">Second</a></p>'
  const rw = await api(port, 'POST', '/v1/rewrite', a.token, { route_id: a.routes[0].route_id, from: 'news@acme.example', to: ['r@example.com'], subject: 'Hi', html })
  t.equal(rw.status, 200, rw.raw)
  const id = rw.body.messages[0].message_id as string
  let got: ApiReply | undefined
  // The rewrite's rows reach ClickHouse through a batched writer.
  for (let i = 0; i < 100; i++) {
    got = await api(port, 'GET', `/v1/messages/${id}/links`, a.token)
    if (got.status === 200 && got.body.data.length > 0) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(got?.status, 200)
  const links = got?.body.data as Array<{ link_index: number, url: string, anchor_text: string, tracked: boolean, skip_reason: string }>
  t.same(links.map(l => l.link_index), rw.body.links.map((l: { index?: number, link_index?: number }, i: number) => l.link_index ?? l.index ?? i), 'every link, in order')
  t.match(links.find(l => l.url === 'https://shop.example/a'), { anchor_text: 'First', tracked: true, skip_reason: '' })
  t.match(links.find(l => l.url === 'mailto:x@example.com'), { tracked: false })
  t.not(links.find(l => l.url === 'mailto:x@example.com')?.skip_reason, '', 'with the reason it was left alone')
  t.match(links.find(l => l.url === 'https://shop.example/b'), { anchor_text: 'Second', tracked: true })

  const other = await bootstrapOther(e)
  const theirs = await api(port, 'GET', `/v1/messages/${id}/links`, other)
  t.equal(theirs.status, 404, 'another team\'s message')
  t.equal(theirs.body?.error?.code, 'CT_ERR_NOT_FOUND')
  t.equal((await api(port, 'GET', '/v1/messages/00000000-0000-4000-8000-000000000000/links', a.token)).status, 404, 'an unknown id')
  t.equal((await api(port, 'GET', '/v1/messages/not-a-uuid/links', a.token)).status, 404, 'a malformed id')
  const extra = await api(port, 'GET', `/v1/messages/${id}/links?per_page=5`, a.token)
  t.equal(extra.status, 400, 'no query parameter')
  t.equal(extra.body?.error?.code, 'CT_ERR_QUERY_PARAM')
})

async function bootstrapOther (e: Awaited<ReturnType<typeof startTestEngine>>): Promise<string> {
  return (await bootstrap(e.plane, { team: 'Other team', sid: 'other' })).token
}
