import type { ClickHouseClient } from '@clickhouse/client'

/*
 * A seeded data set for the analytics tests, written straight into `messages` and `clicks`
 * with the store's writer (not through the redirect and promotion), so that every time is
 * controlled: range boundaries at local midnight, clicks on both sides of it. And an
 * independent evaluator of every metric and dimension over those rows in plain JS: it
 * shares no code with src/analytics or src/store (it is what the API must agree with).
 */

export interface Msg {
  message_id: string
  sid: string
  project_id: string
  route_id: string
  recipient: string
  tag: string
  metadata: Record<string, string>
  sent_at: number
  tracking: boolean
}

export interface Click {
  obs_id: string
  ts: number
  sid: string
  message_id: string
  route_id: string
  link_index: number
  sent_at: number
  recipient: string
  tag: string
  metadata: Record<string, string>
  destination_url: string
  first_click: boolean
  device_type: string
  client_type: string
  client_name: string
  classification: string
  proxy_type: string | null
  reason_codes: string[]
  machine: boolean
  counts_for_metrics: boolean
}

function rng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0')
const uuid = (prefix: number, n: number): string => `${hex(prefix, 8)}-0000-4000-8000-${hex(n, 12)}`

export const T0 = Date.UTC(2025, 5, 1) // 2025-06-01T00:00Z
const HOUR = 3_600_000
const DAY = 24 * HOUR

/** Machines of each class, with the reason codes and proxy type the classifier would give. */
const VERDICTS = [
  { classification: 'genuine', machine: false, proxy_type: null, reason_codes: [] as string[] },
  { classification: 'genuine', machine: false, proxy_type: null, reason_codes: [] },
  { classification: 'genuine', machine: false, proxy_type: null, reason_codes: [] },
  { classification: 'privacy_proxy', machine: true, proxy_type: 'apple_mpp', reason_codes: ['privacy_proxy_agent'] },
  { classification: 'security_scanner', machine: true, proxy_type: null, reason_codes: ['scanner_network', 'head_request'] },
  { classification: 'link_preview', machine: true, proxy_type: null, reason_codes: ['preview_agent'] },
  { classification: 'generic_bot', machine: true, proxy_type: null, reason_codes: ['isbot', 'no_accept_language'] }
]
const DEVICES = [['desktop', 'browser', 'Chrome'], ['mobile', 'browser', 'Safari'], ['desktop', 'email_client', 'Outlook'], ['tablet', 'app', '']]

export interface Projects { sid: string, project_id: string, routes: string[] }

/**
 * Messages over June 2025 for each project, several recipients (one shared by two
 * messages), links 0..3, tags (one empty), metadata with and without `campaign`; clicks
 * with repeats, machines of every class, and a pair on each side of midnight in
 * Europe/Amsterdam (22:00Z) and in UTC on June 9 / 10.
 */
export function makeData (projects: Projects[], seed: number, count = 36): { messages: Msg[], clicks: Click[] } {
  const r = rng(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]
  const messages: Msg[] = []
  const clicks: Click[] = []
  let obs = 0
  projects.forEach((p, pi) => {
    for (let i = 0; i < count; i++) {
      const meta: Record<string, string> = i % 4 === 3 ? {} : { campaign: i % 4 === 0 ? 'spring' : 'summer', ...(i % 3 === 0 ? { segment: 'vip' } : {}) }
      const m: Msg = {
        message_id: uuid(0x10000000 + pi, i),
        sid: p.sid,
        project_id: p.project_id,
        route_id: p.routes[i % p.routes.length],
        recipient: i === 5 ? 'shared@example.com' : i === 6 ? 'shared@example.com' : `user${i}@example.com`,
        tag: ['welcome', 'promo', ''][i % 3],
        metadata: meta,
        // Sent over 20 days from June 1, at whole seconds.
        sent_at: T0 + Math.floor(r() * 20 * DAY / 1000) * 1000,
        tracking: i % 9 !== 8
      }
      messages.push(m)
      const n = Math.floor(r() * 6) // 0..5 clicks, some none
      let firstDone = false
      const times: number[] = []
      for (let k = 0; k < n; k++) times.push(m.sent_at + Math.floor(r() * 6 * DAY))
      times.sort((a, b) => a - b)
      for (const ts of times) {
        const v = pick(VERDICTS)
        const [device, clientType, clientName] = pick(DEVICES)
        const human = !v.machine
        const first = human && !firstDone
        if (first) firstDone = true
        const link = Math.floor(r() * 4)
        clicks.push({
          obs_id: uuid(0x50000000, obs++),
          ts,
          sid: m.sid,
          message_id: m.message_id,
          route_id: m.route_id,
          link_index: link,
          sent_at: m.sent_at,
          recipient: m.recipient,
          tag: m.tag,
          metadata: m.metadata,
          destination_url: `https://shop.example.com/p/${link}`,
          first_click: first,
          device_type: device,
          client_type: clientType,
          client_name: clientName,
          classification: v.classification,
          proxy_type: v.proxy_type,
          reason_codes: v.reason_codes,
          machine: v.machine,
          counts_for_metrics: human
        })
      }
    }
  })
  // Midnight in Amsterdam on June 9/10 (CEST, UTC+2) is 22:00Z; midnight UTC is 2 hours later.
  const m0 = messages[0]
  const edge = (ts: number, first: boolean): Click => ({
    obs_id: uuid(0x50000000, obs++),
    ts,
    sid: m0.sid,
    message_id: m0.message_id,
    route_id: m0.route_id,
    link_index: 1,
    sent_at: m0.sent_at,
    recipient: m0.recipient,
    tag: m0.tag,
    metadata: m0.metadata,
    destination_url: 'https://shop.example.com/p/1',
    first_click: first,
    device_type: 'mobile',
    client_type: 'browser',
    client_name: 'Safari',
    classification: 'genuine',
    proxy_type: null,
    reason_codes: [],
    machine: false,
    counts_for_metrics: true
  })
  m0.sent_at = Math.min(m0.sent_at, T0 + 8 * DAY)
  for (const c of clicks) if (c.message_id === m0.message_id) c.sent_at = m0.sent_at
  clicks.push(edge(T0 + 8 * DAY + 22 * HOUR - 1, false), edge(T0 + 8 * DAY + 22 * HOUR, false), edge(T0 + 9 * DAY - 1, false), edge(T0 + 9 * DAY, false))
  return { messages, clicks }
}

const dt = (ms: number, frac: boolean): string => new Date(ms).toISOString().replace('T', ' ').replace('Z', '').slice(0, frac ? 23 : 19)

// June 2025 is past the default 400 days of retention (TTL drops such rows as they are written).
const RETENTION = 3650

export async function insertData (writer: ClickHouseClient, data: { messages: Msg[], clicks: Click[] }): Promise<void> {
  await writer.insert({
    table: 'messages',
    format: 'JSONEachRow',
    values: data.messages.map(m => ({ message_id: m.message_id, sid: m.sid, project_id: m.project_id, route_id: m.route_id, recipient: m.recipient, sender: 's@example.com', subject: 'Hi', tag: m.tag, metadata: m.metadata, sent_at: dt(m.sent_at, false), tracking: m.tracking, tracking_reason: 'route_setting', link_count: 4, retention_days: RETENTION })),
    clickhouse_settings: { insert_deduplication_token: `analytics-messages-${data.messages[0]?.message_id ?? ''}-${data.messages.length}` }
  })
  await insertClicks(writer, data.clicks, 1, `analytics-clicks-${data.clicks[0]?.obs_id ?? ''}-${data.clicks.length}`)
}

/** Rows of `clicks` with `sign` (-1: the cancel row of a re-classification, issue 16; every other column as the row it cancels). */
export async function insertClicks (writer: ClickHouseClient, clicks: readonly Click[], sign: 1 | -1, token: string): Promise<void> {
  await writer.insert({
    table: 'clicks',
    format: 'JSONEachRow',
    values: clicks.map(c => ({ ...c, ts: dt(c.ts, true), sent_at: dt(c.sent_at, false), subject: 'Hi', anchor_text: '', user_agent: 'ua', ip: '198.51.100.1', method: 'GET', bot_detected: c.machine, bot_probability: c.machine ? 90 : 5, retention_days: RETENTION, sign })),
    clickhouse_settings: { insert_deduplication_token: token }
  })
}

// ---- the independent evaluator -----------------------------------------------------------

export type Values = Record<string, number | null>
const CLASS: Record<string, (c: Click) => boolean> = {
  clicks: () => true,
  human_clicks: c => c.counts_for_metrics,
  machine_clicks: c => c.machine,
  privacy_clicks: c => c.classification === 'privacy_proxy',
  bot_clicks: c => c.classification === 'generic_bot',
  scanner_clicks: c => c.classification === 'security_scanner',
  preview_clicks: c => c.classification === 'link_preview'
}

export const ALL_METRICS = [...Object.keys(CLASS), ...Object.keys(CLASS).map(k => `${k}_events`), 'unique_links_clicked', 'tracked_messages', 'human_click_rate', 'median_time_to_first_click']

/** Every metric over the clicks and the messages of one group (messages: those sent in the range, any tracking). */
export function evaluate (metrics: readonly string[], clicks: readonly Click[], messages: readonly Msg[]): Values {
  const out: Values = {}
  const uniq = (xs: readonly Click[]): number => new Set(xs.map(c => `${c.sid}/${c.message_id}`)).size
  const tracked = new Set(messages.filter(m => m.tracking).map(m => `${m.sid}/${m.message_id}`)).size
  for (const m of metrics) {
    if (m in CLASS) out[m] = uniq(clicks.filter(CLASS[m]))
    else if (m.endsWith('_events')) out[m] = clicks.filter(CLASS[m.slice(0, -7)]).length
    else if (m === 'unique_links_clicked') out[m] = new Set(clicks.filter(c => c.counts_for_metrics).map(c => `${c.sid}/${c.message_id}/${c.link_index}`)).size
    else if (m === 'tracked_messages') out[m] = tracked
    else if (m === 'human_click_rate') out[m] = tracked === 0 ? null : uniq(clicks.filter(c => c.counts_for_metrics)) / tracked
    else if (m === 'median_time_to_first_click') {
      const xs = clicks.filter(c => c.first_click).map(c => (c.ts - c.sent_at) / 1000).sort((a, b) => a - b)
      out[m] = xs.length === 0 ? null : xs.length % 2 === 1 ? xs[(xs.length - 1) / 2] : (xs[xs.length / 2 - 1] + xs[xs.length / 2]) / 2
    }
  }
  return out
}

/** A dimension's values for a click (several for reason_code; null for none). */
export function clickDim (dim: string, c: Click, projectOf: (sid: string) => string): Array<string | number | boolean | null> {
  const s = (v: string): string | null => v === '' ? null : v
  if (dim.startsWith('metadata.')) return [s(c.metadata[dim.slice(9)] ?? '')]
  switch (dim) {
    case 'project': return [projectOf(c.sid)]
    case 'route': return [c.route_id]
    case 'message_id': return [c.message_id]
    case 'link_index': return [c.link_index]
    case 'destination_url': return [c.destination_url]
    case 'tag': return [s(c.tag)]
    case 'device_type': return [s(c.device_type)]
    case 'client_type': return [s(c.client_type)]
    case 'client_name': return [s(c.client_name)]
    case 'classification': return [c.classification]
    case 'proxy_type': return [c.proxy_type]
    case 'reason_code': return c.reason_codes.length === 0 ? [null] : c.reason_codes
    case 'first_click': return [c.first_click]
    case 'is_human': return [c.counts_for_metrics]
    case 'is_machine': return [c.machine]
  }
  throw new Error(`no dimension ${dim}`)
}

export function messageDim (dim: string, m: Msg, projectOf: (sid: string) => string): string | null | undefined {
  const s = (v: string): string | null => v === '' ? null : v
  if (dim.startsWith('metadata.')) return s(m.metadata[dim.slice(9)] ?? '')
  switch (dim) {
    case 'project': return projectOf(m.sid)
    case 'route': return m.route_id
    case 'message_id': return m.message_id
    case 'tag': return s(m.tag)
  }
  return undefined // not an attribute of the message
}

export interface TestFilter { dimension: string, operator: string, values?: Array<string | number | boolean> }

function holds (f: TestFilter, vals: ReadonlyArray<string | number | boolean | null>): boolean {
  const vs = f.values ?? []
  switch (f.operator) {
    case 'eq': case 'in': return vals.some(v => v !== null && vs.includes(v))
    case 'not_in': return !vals.some(v => v !== null && vs.includes(v))
    case 'is_null': return vals.every(v => v === null)
    case 'is_not_null': return vals.some(v => v !== null)
  }
  throw new Error(f.operator)
}

export interface Query { metrics: string[], from: number, to: number, filters?: TestFilter[], group_by?: string[] }

/** The rows of a query's range and filters (messages: filtered by the message attributes only). */
export function select (q: Query, data: { messages: Msg[], clicks: Click[] }, projectOf: (sid: string) => string): { clicks: Click[], messages: Msg[] } {
  const filters = q.filters ?? []
  const clicks = data.clicks.filter(c => c.ts >= q.from && c.ts < q.to && filters.every(f => holds(f, clickDim(f.dimension, c, projectOf))))
  const messages = data.messages.filter(m => m.sent_at >= q.from && m.sent_at < q.to && filters.every(f => {
    const v = messageDim(f.dimension, m, projectOf)
    return v === undefined || holds(f, [v])
  }))
  return { clicks, messages }
}

/** Expected breakdown rows, by JSON of their dimensions. */
export function breakdown (q: Query, data: { messages: Msg[], clicks: Click[] }, projectOf: (sid: string) => string): Map<string, Values> {
  const dims = q.group_by ?? []
  const { clicks, messages } = select(q, data, projectOf)
  const groups = new Map<string, { keys: Array<string | number | boolean | null>, clicks: Click[] }>()
  for (const c of clicks) {
    let combos: Array<Array<string | number | boolean | null>> = [[]]
    for (const d of dims) combos = combos.flatMap(k => clickDim(d, c, projectOf).map(v => [...k, v]))
    for (const k of combos) {
      const id = JSON.stringify(k)
      let g = groups.get(id)
      if (g === undefined) groups.set(id, g = { keys: k, clicks: [] })
      g.clicks.push(c)
    }
  }
  const msgOnly = dims.every(d => messageDim(d, data.messages[0], projectOf) !== undefined)
  if (msgOnly) {
    for (const m of messages) {
      if (!m.tracking) continue
      const k = dims.map(d => messageDim(d, m, projectOf) as string | null)
      const id = JSON.stringify(k)
      if (!groups.has(id)) groups.set(id, { keys: k, clicks: [] })
    }
  }
  const out = new Map<string, Values>()
  for (const g of groups.values()) {
    const msgs = messages.filter(m => dims.every((d, i) => {
      const v = messageDim(d, m, projectOf)
      return v === undefined || v === g.keys[i]
    }))
    const dimsObj: Record<string, unknown> = {}
    dims.forEach((d, i) => { dimsObj[d] = g.keys[i] })
    out.set(JSON.stringify(dimsObj), evaluate(q.metrics, g.clicks, msgs))
  }
  return out
}

/** Floats compared to 9 decimals (ClickHouse interpolates the median its own way). */
export function rounded (v: Values): Values {
  const out: Values = {}
  for (const [k, x] of Object.entries(v)) out[k] = x === null ? null : Math.round(x * 1e9) / 1e9
  return out
}
