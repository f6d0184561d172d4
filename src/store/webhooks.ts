import type { ClickHouseClient } from '@clickhouse/client'

/* The SQL of webhook_deliveries and webhook_events (the Team API's history and redelivery). */

export interface DeliveryRow { event_id: string, attempt: number, ts: string, status: number, ok: boolean, latency_ms: number, error: string, next_retry: string | null }
export interface EventRow { sid: string, event: string, body: string, createdAt: number }

/** The latest `limit` delivery attempts of a webhook, newest first; times ISO 8601 in milliseconds. */
export async function recentDeliveries (client: ClickHouseClient, webhookId: string, settings: Record<string, string | number>, limit = 100): Promise<DeliveryRow[]> {
  const rows = await (await client.query({
    query: `SELECT toString(event_id) AS event_id, attempt, formatDateTime(ts, '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC') AS ts, status, ok, latency_ms, error,
            if(isNull(next_retry), NULL, formatDateTime(assumeNotNull(next_retry), '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC')) AS next_retry
            FROM webhook_deliveries WHERE webhook_id = {w:UUID} ORDER BY ts DESC LIMIT {limit:UInt32}`,
    query_params: { w: webhookId, limit },
    format: 'JSONEachRow',
    clickhouse_settings: settings
  })).json<Record<string, unknown>>()
  return rows.map(deliveryRow)
}

function deliveryRow (r: Record<string, unknown>): DeliveryRow {
  return {
    event_id: r.event_id as string,
    attempt: Number(r.attempt),
    ts: millis(r.ts as string),
    status: Number(r.status),
    ok: r.ok as boolean,
    latency_ms: Number(r.latency_ms),
    error: r.error as string,
    next_retry: r.next_retry === null ? null : millis(r.next_retry as string)
  }
}

/** The body a webhook was sent for an event, for redelivery. */
export async function eventBody (client: ClickHouseClient, webhookId: string, eventId: string, settings: Record<string, string | number>): Promise<EventRow | undefined> {
  const rows = await (await client.query({
    query: 'SELECT sid, event, body, toUnixTimestamp64Milli(created_at) AS created FROM webhook_events WHERE webhook_id = {w:UUID} AND event_id = {e:UUID} LIMIT 1',
    query_params: { w: webhookId, e: eventId },
    format: 'JSONEachRow',
    clickhouse_settings: settings
  })).json<{ sid: string, event: string, body: string, created: string }>()
  return rows.length === 0 ? undefined : { sid: rows[0].sid, event: rows[0].event, body: rows[0].body, createdAt: Number(rows[0].created) }
}

/** The event type of each of these events of a webhook (from webhook_events; an id without a record is absent). */
export async function eventTypes (client: ClickHouseClient, webhookId: string, eventIds: readonly string[], settings: Record<string, string | number>): Promise<Map<string, string>> {
  if (eventIds.length === 0) return new Map()
  const rows = await (await client.query({
    query: 'SELECT toString(event_id) AS id, any(event) AS event FROM webhook_events WHERE webhook_id = {w:UUID} AND event_id IN {ids:Array(UUID)} GROUP BY event_id',
    query_params: { w: webhookId, ids: eventIds },
    format: 'JSONEachRow',
    clickhouse_settings: settings
  })).json<{ id: string, event: string }>()
  return new Map(rows.map(r => [r.id, r.event]))
}

/** ClickHouse's %f prints microseconds: keep milliseconds, as everywhere else in the API. */
function millis (s: string): string {
  return s.replace(/\.(\d{3})\d{3}Z$/, '.$1Z')
}

/** When each of `webhookIds` was last called (unix ms of its latest attempt); absent: never. */
export async function lastCalled (client: ClickHouseClient, webhookIds: string[], settings: Record<string, string | number>): Promise<Map<string, number>> {
  if (webhookIds.length === 0) return new Map()
  const rows = await (await client.query({
    query: 'SELECT toString(webhook_id) AS w, toUnixTimestamp64Milli(max(ts)) AS t FROM webhook_deliveries WHERE webhook_id IN {ids:Array(UUID)} AND attempt > 0 GROUP BY webhook_id',
    query_params: { ids: webhookIds },
    format: 'JSONEachRow',
    clickhouse_settings: settings
  })).json<{ w: string, t: string }>()
  return new Map(rows.map(r => [r.w, Number(r.t)]))
}

/** One event sent to one webhook, as its attempts left it (Lettermint's "delivery"). Times unix ms. */
export interface DeliverySummary {
  event_id: string
  /** The first record of it (its first attempt, or its drop). */
  first: number
  /** Its last record: attempt number, HTTP status (0: none), outcome, latency, error, answer, next retry. */
  attempt: number
  status: number
  ok: boolean
  latency_ms: number
  error: string
  response_body: string
  next_retry: number | null
  /** The last 2xx attempt, 0 when none. */
  delivered: number
}

// Aliases unlike the column names: ClickHouse would read `attempt` inside argMax(…, (ts, attempt)) as the alias.
const SUMMARY = `SELECT toString(event_id) AS id, toUnixTimestamp64Milli(min(ts)) AS first_ms,
  argMax(attempt, (ts, attempt)) AS last_attempt, argMax(status, (ts, attempt)) AS last_status, argMax(ok, (ts, attempt)) AS last_ok,
  argMax(latency_ms, (ts, attempt)) AS last_latency, argMax(error, (ts, attempt)) AS last_error, argMax(response_body, (ts, attempt)) AS last_answer,
  argMax(if(isNull(next_retry), -1, toUnixTimestamp64Milli(assumeNotNull(next_retry))), (ts, attempt)) AS last_next_retry,
  toUnixTimestamp64Milli(maxIf(ts, ok)) AS delivered_ms
  FROM webhook_deliveries`

function summary (r: Record<string, unknown>): DeliverySummary {
  const next = Number(r.last_next_retry)
  return { event_id: r.id as string, first: Number(r.first_ms), attempt: Number(r.last_attempt), status: Number(r.last_status), ok: r.last_ok as boolean, latency_ms: Number(r.last_latency), error: r.last_error as string, response_body: r.last_answer as string, next_retry: next < 0 ? null : next, delivered: Number(r.delivered_ms) }
}

/**
 * A webhook's deliveries, newest first (by first record), `limit` of them after the one with
 * (first, event_id) = `after` in that order. Every delivery of the webhook's 30-day history is
 * grouped for a page: its key orders by webhook_id first, so only that webhook's rows are read.
 */
export async function deliveryPage (client: ClickHouseClient, webhookId: string, settings: Record<string, string | number>, limit: number, after?: readonly [number, string]): Promise<DeliverySummary[]> {
  const rows = await (await client.query({
    query: `${SUMMARY} WHERE webhook_id = {w:UUID} GROUP BY event_id
            ${after === undefined ? '' : 'HAVING first_ms < {ms:Int64} OR (first_ms = {ms:Int64} AND id < {id:String})'}
            ORDER BY first_ms DESC, id DESC LIMIT {limit:UInt32}`,
    query_params: { w: webhookId, limit, ...(after === undefined ? {} : { ms: after[0], id: after[1] }) },
    format: 'JSONEachRow',
    clickhouse_settings: settings
  })).json<Record<string, unknown>>()
  return rows.map(summary)
}

/** One delivery: its summary and every attempt (oldest first), or undefined when it has no record. */
export async function deliveryOf (client: ClickHouseClient, webhookId: string, eventId: string, settings: Record<string, string | number>): Promise<{ summary: DeliverySummary, attempts: DeliveryRow[] } | undefined> {
  const rows = await (await client.query({
    query: `${SUMMARY} WHERE webhook_id = {w:UUID} AND event_id = {e:UUID} GROUP BY event_id`,
    query_params: { w: webhookId, e: eventId },
    format: 'JSONEachRow',
    clickhouse_settings: settings
  })).json<Record<string, unknown>>()
  if (rows.length === 0) return undefined
  // `event_id` here is the alias toString(event_id): compared as text.
  const attempts = await (await client.query({
    query: `SELECT toString(event_id) AS event_id, attempt, formatDateTime(ts, '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC') AS ts, status, ok, latency_ms, error,
            if(isNull(next_retry), NULL, formatDateTime(assumeNotNull(next_retry), '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC')) AS next_retry
            FROM webhook_deliveries WHERE webhook_id = {w:UUID} AND event_id = {e:String} ORDER BY ts, attempt LIMIT 1000`,
    query_params: { w: webhookId, e: eventId },
    format: 'JSONEachRow',
    clickhouse_settings: settings
  })).json<Record<string, unknown>>()
  return { summary: summary(rows[0]), attempts: attempts.map(deliveryRow) }
}
