import type { Store } from '../store/client.js'
import type { EnqueueResult, WebhookDispatcher } from '../webhooks/dispatcher.js'
import { notFound } from './errors.js'
import { ClicktrailError } from '../errors.js'
import { ownWebhook, type Reply, type RouteDef } from './routes.js'
import { listOf } from './schemas.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Delivery history, redelivery and test events: they need the dispatcher and the store. */
export function webhookDeliveryRoutes (dispatcher: WebhookDispatcher, store: Store): RouteDef[] {
  return [
    {
      method: 'get', path: '/v1/webhooks/:webhook_id/deliveries', operationId: 'listDeliveries', summary: 'The latest delivery attempts of a webhook (newest first, 100 at most)', tag: 'webhooks',
      response: { status: 200, schema: listOf('Delivery') }, errors: [404],
      async handler (ctx) {
        const w = ownWebhook(ctx)
        await dispatcher.flush().catch(() => {})
        const rows = await (await store.reader.query({
          query: `SELECT toString(event_id) AS event_id, attempt, formatDateTime(ts, '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC') AS ts, status, ok, latency_ms, error,
                  if(isNull(next_retry), NULL, formatDateTime(assumeNotNull(next_retry), '%Y-%m-%dT%H:%i:%S.%fZ', 'UTC')) AS next_retry
                  FROM webhook_deliveries WHERE webhook_id = {w:UUID} ORDER BY ts DESC LIMIT 100`,
          query_params: { w: w.webhook_id },
          format: 'JSONEachRow',
          clickhouse_settings: store.readerSettings
        })).json<Record<string, unknown>>()
        return { status: 200, body: { data: rows.map(r => ({ ...r, attempt: Number(r.attempt), status: Number(r.status), latency_ms: Number(r.latency_ms), ts: fixMicros(r.ts as string), next_retry: r.next_retry === null ? null : fixMicros(r.next_retry as string) })) } }
      }
    },
    {
      method: 'post', path: '/v1/webhooks/:webhook_id/events/:event_id/redeliver', operationId: 'redeliverEvent', summary: 'Send an event to this webhook again (same id, new attempts)', tag: 'webhooks',
      response: { status: 202, schema: 'Queued' }, errors: [404],
      async handler (ctx) {
        const w = ownWebhook(ctx)
        const eventId = ctx.params.event_id
        if (!UUID.test(eventId)) throw notFound('event')
        await dispatcher.flush().catch(() => {})
        const rows = await (await store.reader.query({
          query: 'SELECT sid, event, body, toUnixTimestamp64Milli(created_at) AS created FROM webhook_events WHERE webhook_id = {w:UUID} AND event_id = {e:UUID} LIMIT 1',
          query_params: { w: w.webhook_id, e: eventId },
          format: 'JSONEachRow',
          clickhouse_settings: store.readerSettings
        })).json<{ sid: string, event: string, body: string, created: string }>()
        if (rows.length === 0) throw notFound('event')
        const result = dispatcher.enqueue({ eventId, webhookId: w.webhook_id, sid: rows[0].sid, event: rows[0].event, body: rows[0].body, createdAt: Number(rows[0].created) })
        return queuedReply(eventId, result)
      }
    },
    {
      method: 'post', path: '/v1/webhooks/:webhook_id/test', operationId: 'sendTestEvent', summary: 'Send a test message.clicked event to this webhook', tag: 'webhooks',
      response: { status: 202, schema: 'Queued' }, errors: [404, 409, 429],
      handler (ctx) {
        const w = ownWebhook(ctx)
        if (!w.enabled) throw new ClicktrailError('CT_ERR_WEBHOOK_DISABLED')
        const test = dispatcher.enqueueTest(w)
        if (test.result === 'rate_limited') {
          return errorReply(429, 'CT_ERR_RATE_LIMITED', 'too many test events for this webhook; retry after the time in Retry-After', Math.ceil(test.retryAfterMs / 1000))
        }
        return queuedReply(test.eventId, test.result)
      }
    }
  ]
}

/**
 * 202 `queued: true` only when the job is durably in the outbox (or this event is already
 * pending for this webhook, which will deliver it). Otherwise 503 CT_ERR_OUTBOX_FULL with
 * Retry-After and `details.reason`: `webhook_share` (the outbox is full and this webhook
 * holds the largest part of it: its receiver must catch up first) or `outbox` (the outbox
 * could not store it: disk full or failing).
 */
function queuedReply (eventId: string, result: EnqueueResult): Reply {
  if (result === 'queued' || result === 'pending') return { status: 202, body: { event_id: eventId, queued: true } }
  const share = result === 'shed_share'
  return errorReply(503, 'CT_ERR_OUTBOX_FULL', share
    ? 'not queued: the webhook outbox is full and this webhook holds the largest share of it; deliveries to it must succeed first'
    : 'not queued: the webhook outbox could not store the event (disk full or failing)', 60, { reason: share ? 'webhook_share' : 'outbox', event_id: eventId })
}

/** An API error with a Retry-After header (the server's error path cannot add headers). */
function errorReply (status: number, code: string, message: string, retryAfterS: number, details?: Record<string, unknown>): Reply {
  const body = { error: { code, message, ...(details === undefined ? {} : { details }) } }
  return { status, raw: Buffer.from(JSON.stringify(body)), contentType: 'application/json', headers: { 'Retry-After': String(Math.max(1, retryAfterS)) } }
}

/** ClickHouse's %f prints microseconds: keep milliseconds, as everywhere else in the API. */
function fixMicros (s: string): string {
  return s.replace(/\.(\d{3})\d{3}Z$/, '.$1Z')
}
