import t from 'tap'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { startTestEngine, type TestEngine } from '../helpers/engine.js'
import { api } from '../helpers/api.js'
import { request } from '../helpers/http.js'
import { Receiver } from '../helpers/receiver.js'
import { until } from '../helpers/wait.js'
import { HONEYPOT_LINK_INDEX, mintToken } from '../../src/token/codec.js'
import { observationFromHeaders, type BotVerdict, type ClickRow } from '../../src/records.js'
import { insertObservationRows, toRow } from '../../src/store/observations.js'
import { CLICK_COLUMNS, clickLine } from '../../src/store/promotion.js'
import { insertRows } from '../../src/store/row-insert.js'
import { currentClicks } from '../../src/store/events.js'
import { scannerRanges } from '../../src/classify/index.js'
import { evaluate, formatReport, type CorpusRequest, type Scored } from '../classify/corpus.js'

// The labeled late-evidence corpus (test/fixtures/classify/late-corpus.json), end to end: each
// case's requests through the real server (X-Forwarded-For from a trusted proxy), ingest, the
// embedded ClickHouse, promotion and the worker pool's classifier; then its late evidence (an
// address burst or a honeypot fetch, over HTTP too; newly listed scanner ranges at a restart);
// then the current version of each click (src/store/events.ts currentClicks), scored with the
// corpus's scoring (test/classify/corpus.ts), and the latency from evidence sent to
// message.click_reclassified received at a real receiver.
//
// One data directory, two starts: the scanner-range trigger compares this release's range list
// with the stored one at start-up, so those cases are stored as the previous release judged
// them (seeded rows: no engine of this release can make that verdict) and the engine restarts.

interface LateRequest extends Omit<CorpusRequest, 'expect'> {
  /** Late evidence must change this click's verdict (machine or class); false: it must not. */
  flips: boolean
  expect: CorpusRequest['expect'] & { first_click?: boolean }
  /** scanner_range cases: what the previous release stored. */
  stored?: { bot: BotVerdict, first_click: boolean }
}

type After = 'promotion' | 'horizon'
type Evidence =
  | { kind: 'address_burst', ip: string, recipients: number, delay: number, headers_of: string, after: After }
  | { kind: 'honeypot', fetcher: string, after: After }
  | { kind: 'scanner_range', ranges: string[], after: After }

interface LateCase { id: string, note: string, requests: LateRequest[], evidence: Evidence }

const FIXTURE = new URL('../fixtures/classify/late-corpus.json', import.meta.url)
const corpus = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { description: string, cases: LateCase[] }

/** Short enough that a case can wait it out, long enough for the other cases' evidence. */
const HORIZON_MS = 20_000
const FLAGS = {
  'trusted-proxy': ['127.0.0.1'],
  'promotion-window-ms': '300',
  'batch-max-ms': '50',
  'late-evidence-horizon-ms': String(HORIZON_MS),
  // A tracking host that is no secure origin of its own: each request's scheme is the proxy's X-Forwarded-Proto.
  'tracking-base-url': 'http://t.example.com',
  'webhook-retry-schedule': '200ms,200ms,300ms,500ms,1s,1s,1s,1s,1s,1s'
}
const HOST = 'pacme.t.example.com'
const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

interface Current { obs_id: string, destination_url: string, first_click: boolean, classification: BotVerdict['classification'], machine: boolean, detected: boolean, probability: number, proxy_type: string | null, reason_codes: string[], counts_for_metrics: boolean }

const URL_PREFIX = 'https://example.com/r/'

/** The current version of every click of these messages, by the corpus request id its URL names. */
async function currentVerdicts (e: TestEngine, messageIds: string[]): Promise<Map<string, Current>> {
  const rows = await (await e.store.reader.query({
    query: currentClicks('message_id IN {ids:Array(UUID)}', 'toString(obs_id) AS obs_id, destination_url, first_click, classification, machine, bot_detected AS detected, bot_probability AS probability, proxy_type, reason_codes, counts_for_metrics'),
    query_params: { ids: messageIds },
    format: 'JSONEachRow'
  })).json<Current>()
  return new Map(rows.filter(r => r.destination_url.startsWith(URL_PREFIX)).map(r => [r.destination_url.slice(URL_PREFIX.length), { ...r, probability: Number(r.probability) }]))
}

const toVerdict = (c: Current | undefined): BotVerdict => c === undefined
  ? { detected: false, probability: 0, classification: 'genuine', proxy_type: null, reason_codes: ['missing'], machine: false, counts_for_metrics: true }
  : { detected: c.detected, probability: c.probability, classification: c.classification, proxy_type: c.proxy_type, reason_codes: c.reason_codes, machine: c.machine, counts_for_metrics: c.counts_for_metrics }

function percentile (xs: number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]
}

interface Reclassified { id: string, data: { click_id: string, reason: string, message_id: string } }

t.test('the late-evidence corpus, end to end: final verdicts scored, every expected flip made, no negative flipped, reclassification latency', async t => {
  const cases = corpus.cases
  const requests = cases.flatMap(c => c.requests)
  const byId = new Map(requests.map(r => [r.id, r]))
  t.equal(byId.size, requests.length, 'request ids are unique')
  const listed = new Set(scannerRanges())
  for (const c of cases) {
    if (c.evidence.kind === 'scanner_range') for (const r of c.evidence.ranges) t.ok(listed.has(r), `${c.id}: ${r} is listed in this release`)
    if (c.evidence.kind === 'scanner_range') t.ok(c.requests.every(r => r.stored !== undefined), `${c.id}: stored verdicts given`)
    for (const r of c.requests) t.ok(Object.keys(r.headers).every(h => h === h.toLowerCase()), `${r.id}: header names are lower case`)
  }

  const e1 = await startTestEngine(t, FLAGS)
  const dir = e1.dataDir
  const rx = new Receiver()
  await rx.up()
  t.teardown(() => rx.down())
  const hook = await api(e1.api.port, 'POST', `/v1/projects/${e1.team!.project.project_id}/webhooks`, e1.team!.token, { url: rx.url, events: ['message.click_reclassified'], include_machine_events: true })
  t.equal(hook.status, 201, 'a webhook for message.click_reclassified')
  const reclassified = (): Array<Reclassified & { at: number }> => rx.received
    .map(r => ({ ...(JSON.parse(r.body) as Reclassified & { event: string }), at: r.at }))
    .filter(x => (x as { event?: string }).event === 'message.click_reclassified')

  const messageIds = new Map<string, string>()
  const idOf = (key: string): string => {
    let id = messageIds.get(key)
    if (id === undefined) { id = randomUUID(); messageIds.set(key, id) }
    return id
  }
  const sentAtOf = new Map<string, number>()
  const capturedAt = new Map<string, number>()

  // 1. The live cases' requests, every message at once, each keeping its requests' relative timing.
  const live = cases.filter(c => c.evidence.kind !== 'scanner_range')
  const liveRequests = live.flatMap(c => c.requests)
  const firstDelay = new Map<string, number>()
  for (const r of liveRequests) firstDelay.set(r.message, Math.min(firstDelay.get(r.message) ?? Infinity, r.delay))
  // Token sentAt has 1 s resolution: start just after a whole second (delays come out up to ~0.1 s long).
  await sleep(1050 - (Date.now() % 1000))
  const t0 = Date.now()
  for (const [m, first] of firstDelay) sentAtOf.set(m, Math.floor((t0 - first * 1000) / 1000))
  const statuses = await Promise.all(liveRequests.map(async r => {
    const token = mintToken(e1.keys, { sid: 'acme', messageId: idOf(r.message), linkIndex: r.link, sentAt: sentAtOf.get(r.message)!, url: URL_PREFIX + r.id })
    await sleep(t0 - Date.now() + (r.delay - firstDelay.get(r.message)!) * 1000)
    capturedAt.set(r.id, Date.now())
    return (await request(e1.port, { method: r.method, path: `/c/${token}`, host: HOST, headers: { ...r.headers, 'x-forwarded-for': r.ip, 'x-forwarded-proto': r.scheme ?? 'https' } })).status
  }))
  t.ok(statuses.every(s => s === 302), 'every request redirected')
  await until('the live requests promoted', () => e1.promoter.stats.promoted >= liveRequests.length, 30_000)
  const liveIds = [...new Set(liveRequests.map(r => idOf(r.message)))]
  await until('their clicks readable', async () => (await currentVerdicts(e1, liveIds)).size >= liveRequests.length, 30_000)
  const before = new Map<string, BotVerdict & { first_click: boolean }>()
  /** Click id (observation id) → corpus request id. */
  const requestOf = new Map<string, string>()
  for (const [id, c] of await currentVerdicts(e1, liveIds)) {
    before.set(id, { ...toVerdict(c), first_click: c.first_click })
    requestOf.set(c.obs_id, id)
  }
  const ofCorpus = (): Array<Reclassified & { at: number }> => reclassified().filter(x => requestOf.has(x.data.click_id))

  // 2. The late evidence, once the requests are out of the promotion context (two windows).
  await sleep(1200)
  const evidenceSent = new Map<string, number>()
  const burstMessages: string[] = []
  const sendEvidence = async (c: LateCase): Promise<void> => {
    const ev = c.evidence
    if (ev.kind === 'address_burst') {
      const headers = byId.get(ev.headers_of)!.headers
      const sentAt = Math.floor(Date.now() / 1000 - ev.delay)
      // A burst: every recipient's message fetched at once.
      const got = await Promise.all(Array.from({ length: ev.recipients }, async (_, i) => {
        const m = randomUUID()
        burstMessages.push(m)
        const token = mintToken(e1.keys, { sid: 'acme', messageId: m, linkIndex: 0, sentAt, url: `https://example.com/burst/${c.id}/${i}` })
        return (await request(e1.port, { path: `/c/${token}`, host: HOST, headers: { ...headers, 'x-forwarded-for': ev.ip, 'x-forwarded-proto': 'https' } })).status
      }))
      t.ok(got.every(s => s === 302), `${c.id}: the burst redirected`)
    } else if (ev.kind === 'honeypot') {
      const f = byId.get(ev.fetcher)!
      const token = mintToken(e1.keys, { sid: 'acme', messageId: idOf(f.message), linkIndex: HONEYPOT_LINK_INDEX, sentAt: sentAtOf.get(f.message)!, url: 'https://example.com/honeypot' }, { honeypot: true })
      const got = await request(e1.port, { path: `/c/${token}`, host: HOST, headers: { ...f.headers, 'x-forwarded-for': f.ip, 'x-forwarded-proto': f.scheme ?? 'https' } })
      t.equal(got.status, 302, `${c.id}: the honeypot link answers like a link`)
    }
    evidenceSent.set(c.id, Date.now())
  }
  await Promise.all(live.filter(c => c.evidence.after === 'promotion').map(sendEvidence))
  const liveFlips = live.flatMap(c => c.requests).filter(r => r.flips).length
  await until(`${liveFlips} reclassifications delivered`, () => ofCorpus().length >= liveFlips, 30_000)
  await e1.late.idle()

  // 3. Evidence after the horizon: wait it out for those cases' clicks, then send it.
  for (const c of live.filter(c => c.evidence.after === 'horizon')) {
    const last = Math.max(...c.requests.map(r => capturedAt.get(r.id)!))
    await sleep(last + HORIZON_MS + 1000 - Date.now())
    const triggers = e1.late.stats.triggers.address_burst + e1.late.stats.triggers.honeypot
    await sendEvidence(c)
    await until(`${c.id}: the evidence seen`, () => e1.late.stats.triggers.address_burst + e1.late.stats.triggers.honeypot > triggers, 20_000)
  }
  await e1.late.idle()
  await sleep(500)
  for (const [id, c] of await currentVerdicts(e1, liveIds)) {
    if (!before.has(id)) continue
    // Verdicts of the live cases before the restart (the restart's own catch-up runs later).
    const r = byId.get(id)!
    if (!r.flips) t.equal(c.machine === before.get(id)!.machine && c.classification === before.get(id)!.classification, true, `${id}: unchanged before the restart`)
  }

  // 4. Scanner ranges: the clicks as the previous release stored them (observation + click row),
  // and that release's range list (without the newly listed ranges), then a restart.
  const ranged = cases.filter(c => c.evidence.kind === 'scanner_range')
  const newRanges = new Set(ranged.flatMap(c => c.evidence.kind === 'scanner_range' ? c.evidence.ranges : []))
  const seedAt = Date.now()
  for (const c of ranged) {
    const first = Math.min(...c.requests.map(r => r.delay))
    const last = Math.max(...c.requests.map(r => r.delay))
    // Inside the horizon: the last request a second ago. Outside: a minute before the horizon.
    const base = c.evidence.after === 'horizon' ? seedAt - HORIZON_MS - 60_000 : seedAt - 1000 - (last - first) * 1000
    for (const r of c.requests) {
      const ts = Math.round(base + (r.delay - first) * 1000)
      const sentAt = Math.floor(base / 1000 - first)
      const o = Object.assign(observationFromHeaders(r.headers), { ts, id: randomUUID(), sid: 'acme', messageId: idOf(r.message), linkIndex: r.link, sentAt, url: URL_PREFIX + r.id, kid: 1, retentionDays: 400, method: r.method, host: HOST, ip: r.ip, peerIp: '127.0.0.1', scheme: r.scheme ?? 'https' })
      await insertObservationRows(e1.store.writer, [toRow(o, 'previous-release')], randomUUID())
      const row: ClickRow = {
        obs_id: o.id,
        ts,
        sid: 'acme',
        message_id: o.messageId,
        route_id: '00000000-0000-0000-0000-000000000000',
        link_index: r.link,
        sent_at: sentAt,
        recipient: '',
        subject: '',
        tag: '',
        metadata: {},
        destination_url: o.url,
        anchor_text: '',
        first_click: r.stored!.first_click,
        device_type: /Mobile|Android|iPhone/.test(o.userAgent) ? 'mobile' : 'desktop',
        client_type: 'browser',
        client_name: 'Chrome',
        user_agent: o.userAgent,
        ip: r.ip,
        method: r.method,
        bot: r.stored!.bot,
        retention_days: 400
      }
      await insertRows(e1.store.writer, { table: 'clicks', columns: CLICK_COLUMNS, format: 'JSONCompactEachRow', rows: [clickLine(row)], settings: { insert_deduplication_token: randomUUID() } })
      before.set(r.id, { ...r.stored!.bot, first_click: r.stored!.first_click })
      requestOf.set(o.id, r.id)
    }
  }
  const previous = scannerRanges().filter(r => !newRanges.has(r)).sort()
  await insertRows(e1.store.writer, { table: 'late_evidence_state', format: 'JSONEachRow', rows: [JSON.stringify({ key: 'scanner_ranges', value: JSON.stringify(previous), version: (Date.now() + 1000) * 1000 })], settings: { insert_deduplication_token: randomUUID() } })
  await e1.stop()
  const restartedAt = Date.now()
  const e2 = await startTestEngine(t, FLAGS, {}, dir)
  for (const c of ranged) evidenceSent.set(c.id, restartedAt)
  const rangeFlips = ranged.flatMap(c => c.requests).filter(r => r.flips).length
  await until(`${rangeFlips} scanner-range reclassifications delivered`, () => ofCorpus().filter(x => x.data.reason === 'scanner_range').length >= rangeFlips, 30_000)
  await e2.late.idle()
  await sleep(500)

  // 5. The final verdicts, scored.
  const after = await currentVerdicts(e2, [...messageIds.values()])
  t.equal(requests.filter(r => after.has(r.id)).length, requests.length, 'every request has its click')
  const scored: Scored[] = requests.map(r => ({ id: r.id, expect: { class: r.expect.class, machine: r.expect.machine, proxy_type: r.expect.proxy_type }, verdict: toVerdict(after.get(r.id)) }))
  const report = evaluate(scored)
  const atPromotion = evaluate(requests.map(r => ({ id: r.id, expect: { class: r.expect.class, machine: r.expect.machine }, verdict: before.get(r.id) ?? toVerdict(undefined) })))
  t.comment(`late-evidence corpus, ${cases.length} cases — verdicts at promotion (scored against the final labels):\n${formatReport(atPromotion)}`)
  t.comment(`after late evidence (current version of each click):\n${formatReport(report)}`)
  t.equal(report.precision, 1, `machine precision ${report.precision.toFixed(3)}`)
  t.equal(report.recall, 1, `machine recall ${report.recall.toFixed(3)}`)
  t.equal(report.classAccuracy, 1, `class accuracy ${report.classAccuracy.toFixed(3)}`)

  // Each expected flip made, no negative flipped; first_click where it must be; one event per flip.
  const events = reclassified()
  const eventsByClick = new Map<string, Array<Reclassified & { at: number }>>()
  for (const ev of events) eventsByClick.set(ev.data.click_id, [...(eventsByClick.get(ev.data.click_id) ?? []), ev])
  const latency: Record<string, number[]> = {}
  for (const c of cases) {
    for (const r of c.requests) {
      const was = before.get(r.id)!
      const now = after.get(r.id)
      const changed = now !== undefined && (now.machine !== was.machine || now.classification !== was.classification)
      t.equal(changed, r.flips, `${c.id} / ${r.id}: ${r.flips ? 'flipped' : 'kept its verdict'} (${was.classification} → ${now?.classification ?? 'missing'})`)
      if (r.expect.proxy_type !== undefined) t.equal(now?.proxy_type, r.expect.proxy_type, `${r.id}: proxy_type`)
      if (r.expect.first_click !== undefined) t.equal(now?.first_click, r.expect.first_click, `${r.id}: first_click ${String(r.expect.first_click)}`)
      t.equal(now?.counts_for_metrics, !r.expect.machine, `${r.id}: counts_for_metrics`)
      const evs = eventsByClick.get(now?.obs_id ?? '') ?? []
      t.equal(evs.length, r.flips ? 1 : 0, `${r.id}: ${r.flips ? 'one' : 'no'} message.click_reclassified`)
      if (r.flips && evs.length > 0) {
        t.equal(evs[0].data.reason, c.evidence.kind, `${r.id}: reason ${c.evidence.kind}`)
        ;(latency[c.evidence.kind] ??= []).push(evs[0].at - evidenceSent.get(c.id)!)
      }
    }
  }
  const others = events.filter(x => !requestOf.has(x.data.click_id))
  t.equal(events.length - others.length, requests.filter(r => r.flips).length, 'one reclassification per expected flip')
  t.comment(`reclassifications of the evidence's own clicks (burst clicks promoted before the address reached 5 recipients): ${others.length}`)

  const burstRows = await (await e2.store.reader.query({ query: currentClicks('message_id IN {ids:Array(UUID)}', 'machine'), query_params: { ids: burstMessages }, format: 'JSONEachRow' })).json<{ machine: boolean }>()
  t.comment(`the address bursts themselves (evidence, not labeled): ${burstRows.filter(r => r.machine).length} of ${burstRows.length} burst clicks judged machine at promotion`)
  const line = (kind: string, xs: number[]): string => `${kind}: n=${xs.length} p50 ${percentile(xs, 0.5)} ms, max ${Math.max(...xs)} ms`
  const all = Object.values(latency).flat()
  t.comment([
    `reclassification latency, evidence sent → message.click_reclassified received (promotion window ${FLAGS['promotion-window-ms']} ms, batch ${FLAGS['batch-max-ms']} ms):`,
    ...Object.entries(latency).map(([k, xs]) => line(k, xs)),
    line('all', all),
    '(scanner_range: from the restart call, ClickHouse start-up included)'
  ].join('\n'))
})
