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
  return rows.map(r => ({
    event_id: r.event_id as string,
    attempt: Number(r.attempt),
    ts: millis(r.ts as string),
    status: Number(r.status),
    ok: r.ok as boolean,
    latency_ms: Number(r.latency_ms),
    error: r.error as string,
    next_retry: r.next_retry === null ? null : millis(r.next_retry as string)
  }))
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

/** ClickHouse's %f prints microseconds: keep milliseconds, as everywhere else in the API. */
function millis (s: string): string {
  return s.replace(/\.(\d{3})\d{3}Z$/, '.$1Z')
}
