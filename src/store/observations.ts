import { Readable } from 'node:stream'
import type { ClickHouseClient } from '@clickhouse/client'
import type { Observation } from '../records.js'

/** Columns of click_observations we write, in the order `toRow` emits them. */
export const OBSERVATION_COLUMNS = [
  'ts', 'obs_id', 'node_id', 'sid', 'message_id', 'link_index', 'sent_at', 'url', 'kid', 'retention_days', 'method', 'host', 'ip', 'peer_ip',
  'user_agent', 'accept', 'accept_language', 'accept_encoding', 'sec_fetch_site', 'sec_fetch_mode',
  'sec_fetch_dest', 'sec_fetch_user', 'sec_ch_ua', 'sec_ch_ua_mobile', 'sec_ch_ua_platform',
  'sec_purpose', 'purpose', 'x_moz', 'referer', 'via', 'dnt', 'upgrade_insecure_requests', 'blocked'
] as const

const INSERT_SQL = `INSERT INTO click_observations (${OBSERVATION_COLUMNS.join(', ')}) FORMAT JSONCompactEachRow`

/**
 * One JSONCompactEachRow line. A positional array stringifies about twice as fast as an
 * object with the same fields, and the text is what the spool keeps, so an observation
 * is serialised once on its way to ClickHouse (integer milliseconds are read as
 * DateTime64(3) ticks).
 */
export function toRow (o: Observation, nodeId: string): string {
  return JSON.stringify([
    o.ts, o.id, nodeId, o.sid, o.messageId, o.linkIndex, o.sentAt, o.url, o.kid, o.retentionDays, o.method, o.host, o.ip, o.peerIp,
    o.userAgent, o.accept, o.acceptLanguage, o.acceptEncoding, o.secFetchSite, o.secFetchMode,
    o.secFetchDest, o.secFetchUser, o.secChUa, o.secChUaMobile, o.secChUaPlatform,
    o.secPurpose, o.purpose, o.xMoz, o.referer, o.via, o.dnt, o.upgradeInsecureRequests, o.blocked === true
  ])
}

/**
 * Inserts prepared rows (JSONCompactEachRow lines). `token` is the
 * insert_deduplication_token: the same token again is stored once (the table keeps a
 * non-replicated deduplication window), which makes retries and replays idempotent.
 */
export async function insertObservationRows (client: ClickHouseClient, rows: string[], token: string): Promise<void> {
  const r = await client.exec({
    query: INSERT_SQL,
    values: Readable.from([rows.join('\n')]),
    // One thread for parsing and writing: with the embedded engine on a small machine, an
    // insert that fans out over every core starves the redirect thread (measured: event-loop
    // stalls of 27–80 ms right after each insert started, at max_threads auto).
    clickhouse_settings: { insert_deduplication_token: token, async_insert: 0, max_threads: 1, max_insert_threads: '1', input_format_parallel_parsing: 0 }
  })
  // Drain the (empty) response so the connection is released.
  for await (const _ of r.stream) { /* nothing */ }
}

/** The inverse of toRow: an observation from its prepared row (spool replays). Throws on anything else. */
export function fromRow (row: string): Observation {
  const a = JSON.parse(row) as unknown[]
  // Rows spooled by a version before the `blocked` column have one value less.
  if (!Array.isArray(a) || (a.length !== OBSERVATION_COLUMNS.length && a.length !== OBSERVATION_COLUMNS.length - 1) || typeof a[0] !== 'number' || typeof a[1] !== 'string' || typeof a[3] !== 'string' || typeof a[4] !== 'string') {
    throw new TypeError('not an observation row')
  }
  let i = 0
  const next = (): any => a[i++] // eslint-disable-line @typescript-eslint/no-explicit-any
  const o = { ts: next(), id: next() } as Observation
  next() // node id
  o.sid = next(); o.messageId = next(); o.linkIndex = next(); o.sentAt = next(); o.url = next(); o.kid = next()
  o.retentionDays = next(); o.method = next(); o.host = next(); o.ip = next(); o.peerIp = next()
  o.userAgent = next(); o.accept = next(); o.acceptLanguage = next(); o.acceptEncoding = next()
  o.secFetchSite = next(); o.secFetchMode = next(); o.secFetchDest = next(); o.secFetchUser = next()
  o.secChUa = next(); o.secChUaMobile = next(); o.secChUaPlatform = next(); o.secPurpose = next()
  o.purpose = next(); o.xMoz = next(); o.referer = next(); o.via = next(); o.dnt = next(); o.upgradeInsecureRequests = next()
  o.blocked = next() === true
  o.expired = false
  return o
}
