import type { ClickHouseClient } from '@clickhouse/client'
import type { ClickRow, Classification, Observation } from '../records.js'
import { observationsWhere, readObservationRow } from './observations.js'
import { insertRows } from './row-insert.js'
import { currentClicks } from './events.js'
import { insertIsolating, type Quarantine } from './quarantine.js'

/*
 * The SQL of late evidence (src/promote/late.ts): the current versions of promoted clicks,
 * their observations, the row versions a reclassification writes, its batches and state.
 *
 * Row versions (sql/040): a reclassified click has a cancel row (the old row's exact values,
 * sign = -1) and a new row (sign = +1, a later promoted_at). The current version of a click is
 * its sign = +1 row with the latest promoted_at: CURRENT below, which every filter on the
 * verdict (bot fields, first_click) must be applied after.
 */

/** A click row exactly as ClickHouse returns it (JSONEachRow of `SELECT *`): copied into cancel rows. */
export type RawClick = Record<string, unknown>

/** A current click version: the raw row and what late evidence reads of it. */
export interface StoredClick {
  raw: RawClick
  click: ClickRow
  /** promoted_at of this version, unix ms. */
  version: number
}

export interface MessageRef { sid: string, messageId: string }

/** A reclassification batch as persisted before its rows are written (see sql/040). */
export interface StoredBatch {
  token: string
  decidedAt: number
  reason: string
  clicks: number
  /** JSON: the clicks rows to insert. */
  rows: string
  /** JSON: the Reclassification records whose events to queue. */
  events: string
}

/** What late evidence needs of storage (src/promote/ knows only this port). */
export interface LateEvidenceStore {
  /** Current clicks from `ip` captured in [fromMs, toMs] whose reason codes lack `lacking`. */
  clicksFromAddress (ip: string, fromMs: number, toMs: number, lacking: string, limit: number): Promise<StoredClick[]>
  /** Current clicks of one message from one address and agent, but `exceptObsId`, lacking `lacking`. */
  clicksOfFetcher (ref: MessageRef, ip: string, userAgent: string, exceptObsId: string, lacking: string, limit: number): Promise<StoredClick[]>
  /** Current clicks captured since `fromMs` whose address is in one of `cidrs`. */
  clicksInRanges (cidrs: readonly string[], fromMs: number, limit: number): Promise<StoredClick[]>
  /** Addresses of current clicks since `fromMs` that carry `code` (a burst seen), with the latest such click time. */
  addressesWithCode (code: string, fromMs: number, limit: number): Promise<Array<{ ip: string, ts: number }>>
  /** Every current click of these messages. */
  clicksOfMessages (refs: readonly MessageRef[]): Promise<StoredClick[]>
  /** The observations with these ids, and every observation of their messages within `aroundMs` of them. */
  observationsAround (refs: ReadonlyArray<MessageRef & { fromMs: number, toMs: number }>): Promise<Observation[]>
  /** This node's honeypot observations captured since `fromMs`. */
  honeypotHitsSince (nodeId: string, fromMs: number, limit: number): Promise<Observation[]>
  /**
   * Inserts row versions (JSONEachRow objects, in pairs: cancel row, then new row) into clicks
   * under `token` (a replay is stored once). A pair ClickHouse refuses is quarantined whole (a
   * cancel row without its new row would erase the click): the obs_ids of refused pairs.
   */
  insertVersions (rows: readonly RawClick[], token: string): Promise<{ refused: string[] }>
  saveBatch (nodeId: string, batch: StoredBatch, done: boolean): Promise<void>
  unfinishedBatches (nodeId: string): Promise<StoredBatch[]>
  /** (event_id, webhook_id) pairs already recorded in webhook_events, as `event:webhook`. */
  queuedEvents (eventIds: readonly string[]): Promise<Set<string>>
  readState (key: string): Promise<string | undefined>
  saveState (key: string, value: string): Promise<void>
}

/** Current versions of the clicks matching `where` (filters on columns every version shares). */
const current = (where: string): string => currentClicks(where)

/** '2026-12-01 19:30:00.123' (a DateTime64(3, 'UTC') as JSON gives it) → unix ms. */
export function chMs (v: unknown): number {
  return Date.parse(String(v).replace(' ', 'T') + 'Z')
}

/** Unix ms → the DateTime64(3) text ClickHouse reads back (UTC). */
export function msText (ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').replace('Z', '')
}

function stored (raw: RawClick): StoredClick {
  const click: ClickRow = {
    obs_id: raw.obs_id as string,
    ts: chMs(raw.ts),
    sid: raw.sid as string,
    message_id: raw.message_id as string,
    route_id: raw.route_id as string,
    link_index: Number(raw.link_index),
    sent_at: Math.floor(chMs(raw.sent_at) / 1000),
    recipient: raw.recipient as string,
    subject: raw.subject as string,
    tag: raw.tag as string,
    metadata: raw.metadata as Record<string, string>,
    destination_url: raw.destination_url as string,
    anchor_text: raw.anchor_text as string,
    first_click: raw.first_click === true,
    device_type: raw.device_type as string,
    client_type: raw.client_type as string,
    client_name: raw.client_name as string,
    user_agent: raw.user_agent as string,
    ip: raw.ip as string,
    method: raw.method as string,
    bot: {
      detected: raw.bot_detected === true,
      probability: Number(raw.bot_probability),
      classification: raw.classification as Classification,
      proxy_type: (raw.proxy_type ?? null) as string | null,
      reason_codes: raw.reason_codes as string[],
      machine: raw.machine === true,
      counts_for_metrics: raw.counts_for_metrics === true
    },
    retention_days: Number(raw.retention_days)
  }
  return { raw, click, version: chMs(raw.promoted_at) }
}

export class ClickHouseLateEvidenceStore implements LateEvidenceStore {
  constructor (readonly client: ClickHouseClient, readonly quarantine: Quarantine) {}

  async #clicks (sql: string, params: Record<string, unknown>): Promise<StoredClick[]> {
    const rows = await (await this.client.query({ query: sql, query_params: params, format: 'JSONEachRow' })).json<RawClick>()
    return rows.map(stored)
  }

  async clicksFromAddress (ip: string, fromMs: number, toMs: number, lacking: string, limit: number): Promise<StoredClick[]> {
    return await this.#clicks(`SELECT * FROM (${current("ip = {ip:String} AND ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts <= fromUnixTimestamp64Milli({to:Int64}, 'UTC')")})
      WHERE NOT has(reason_codes, {code:String}) ORDER BY ts LIMIT {limit:UInt32}`, { ip, from: fromMs, to: toMs, code: lacking, limit })
  }

  async clicksOfFetcher (ref: MessageRef, ip: string, userAgent: string, exceptObsId: string, lacking: string, limit: number): Promise<StoredClick[]> {
    return await this.#clicks(`SELECT * FROM (${current('sid = {sid:String} AND message_id = {mid:UUID} AND ip = {ip:String} AND user_agent = {ua:String} AND obs_id != {except:UUID}')})
      WHERE NOT has(reason_codes, {code:String}) ORDER BY ts LIMIT {limit:UInt32}`,
    { sid: ref.sid, mid: ref.messageId, ip, ua: userAgent, except: exceptObsId, code: lacking, limit })
  }

  async clicksInRanges (cidrs: readonly string[], fromMs: number, limit: number): Promise<StoredClick[]> {
    if (cidrs.length === 0) return []
    // isIPAddressInRange refuses text that is no address: only well-formed ones are tested.
    const inRange = "(isIPv4String(ip) OR isIPv6String(ip)) AND arrayExists(c -> isIPAddressInRange(ip, c) AND (position(c, ':') > 0) = (position(ip, ':') > 0), {cidrs:Array(String)})"
    return await this.#clicks(`${current(`ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ${inRange}`)} LIMIT {limit:UInt32}`, { cidrs, from: fromMs, limit })
  }

  async addressesWithCode (code: string, fromMs: number, limit: number): Promise<Array<{ ip: string, ts: number }>> {
    const rows = await (await this.client.query({
      query: `SELECT ip, toUnixTimestamp64Milli(max(ts)) AS t FROM (${current("ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')")})
        WHERE has(reason_codes, {code:String}) GROUP BY ip ORDER BY t DESC LIMIT {limit:UInt32}`,
      query_params: { code, from: fromMs, limit },
      format: 'JSONEachRow'
    })).json<{ ip: string, t: string }>()
    return rows.map(r => ({ ip: r.ip, ts: Number(r.t) }))
  }

  async clicksOfMessages (refs: readonly MessageRef[]): Promise<StoredClick[]> {
    if (refs.length === 0) return []
    const sids = [...new Set(refs.map(r => r.sid))]
    const ids = [...new Set(refs.map(r => r.messageId))]
    const wanted = new Set(refs.map(r => `${r.sid}/${r.messageId}`))
    const rows = await this.#clicks(current('sid IN {sids:Array(String)} AND message_id IN {ids:Array(UUID)}'), { sids, ids })
    return rows.filter(r => wanted.has(`${r.click.sid}/${r.click.message_id}`))
  }

  async observationsAround (refs: ReadonlyArray<MessageRef & { fromMs: number, toMs: number }>): Promise<Observation[]> {
    if (refs.length === 0) return []
    const sids = [...new Set(refs.map(r => r.sid))]
    const ids = [...new Set(refs.map(r => r.messageId))]
    let from = Infinity
    let to = -Infinity
    for (const r of refs) {
      if (r.fromMs < from) from = r.fromMs
      if (r.toMs > to) to = r.toMs
    }
    // The table is ordered by (sid, message_id, ts); each message's own span is cut below.
    const rs = await this.client.query({
      query: `${observationsWhere(`sid IN {sids:Array(String)} AND message_id IN {ids:Array(UUID)}
        AND ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND ts <= fromUnixTimestamp64Milli({to:Int64}, 'UTC')`)} ORDER BY ts`,
      query_params: { sids, ids, from, to },
      format: 'JSONCompactEachRow'
    })
    const spans = new Map<string, { fromMs: number, toMs: number }>()
    for (const r of refs) {
      const k = `${r.sid}/${r.messageId}`
      const s = spans.get(k)
      if (s === undefined) spans.set(k, { fromMs: r.fromMs, toMs: r.toMs })
      else { s.fromMs = Math.min(s.fromMs, r.fromMs); s.toMs = Math.max(s.toMs, r.toMs) }
    }
    return (await rs.json<unknown[]>()).map(readObservationRow).filter(o => {
      const s = spans.get(`${o.sid}/${o.messageId}`)
      return s !== undefined && o.ts >= s.fromMs && o.ts <= s.toMs
    })
  }

  async honeypotHitsSince (nodeId: string, fromMs: number, limit: number): Promise<Observation[]> {
    const rs = await this.client.query({
      query: `${observationsWhere("node_id = {node:String} AND honeypot AND ts >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')")} ORDER BY ts LIMIT {limit:UInt32}`,
      query_params: { node: nodeId, from: fromMs, limit },
      format: 'JSONCompactEachRow'
    })
    return (await rs.json<unknown[]>()).map(readObservationRow)
  }

  async insertVersions (rows: readonly RawClick[], token: string): Promise<{ refused: string[] }> {
    const pairs: Array<readonly RawClick[]> = []
    for (let i = 0; i < rows.length; i += 2) pairs.push(rows.slice(i, i + 2))
    const refused: string[] = []
    await insertIsolating(pairs, token, async (part, t) => {
      await insertRows(this.client, { table: 'clicks', format: 'JSONEachRow', rows: part.flat().map(r => JSON.stringify(r)), settings: { insert_deduplication_token: t } })
    }, (pair, _i, err) => {
      refused.push(String(pair[0].obs_id))
      for (const r of pair) this.quarantine.add('clicks', r, err, String(r.sid ?? ''))
    })
    return { refused }
  }

  async saveBatch (nodeId: string, b: StoredBatch, done: boolean): Promise<void> {
    await insertRows(this.client, {
      table: 'reclassification_batches',
      format: 'JSONEachRow',
      rows: [JSON.stringify({ node_id: nodeId, token: b.token, decided_at: b.decidedAt, reason: b.reason, clicks: b.clicks, rows: b.rows, events: b.events, done, version: done ? 2 : 1 })],
      settings: { insert_deduplication_token: `${b.token}-${done ? 'done' : 'decided'}` }
    })
  }

  async unfinishedBatches (nodeId: string): Promise<StoredBatch[]> {
    const rows = await (await this.client.query({
      query: `SELECT token, toUnixTimestamp64Milli(decided_at) AS decided_at, reason, clicks, rows, events FROM reclassification_batches FINAL
        WHERE node_id = {node:String} AND NOT done ORDER BY decided_at`,
      query_params: { node: nodeId },
      format: 'JSONEachRow'
    })).json<{ token: string, decided_at: string, reason: string, clicks: number, rows: string, events: string }>()
    return rows.map(r => ({ token: r.token, decidedAt: Number(r.decided_at), reason: r.reason, clicks: Number(r.clicks), rows: r.rows, events: r.events }))
  }

  async queuedEvents (eventIds: readonly string[]): Promise<Set<string>> {
    if (eventIds.length === 0) return new Set()
    const rows = await (await this.client.query({
      query: 'SELECT DISTINCT toString(event_id) AS e, toString(webhook_id) AS w FROM webhook_events WHERE event_id IN {ids:Array(UUID)}',
      query_params: { ids: eventIds },
      format: 'JSONEachRow'
    })).json<{ e: string, w: string }>()
    return new Set(rows.map(r => `${r.e}:${r.w}`))
  }

  async readState (key: string): Promise<string | undefined> {
    const rows = await (await this.client.query({
      query: 'SELECT value FROM late_evidence_state FINAL WHERE key = {key:String}',
      query_params: { key },
      format: 'JSONEachRow'
    })).json<{ value: string }>()
    return rows[0]?.value
  }

  async saveState (key: string, value: string): Promise<void> {
    await insertRows(this.client, {
      table: 'late_evidence_state',
      format: 'JSONEachRow',
      rows: [JSON.stringify({ key, value, version: Date.now() * 1000 })],
      settings: { insert_deduplication_token: `late-state-${key}-${Date.now()}` }
    })
  }
}
