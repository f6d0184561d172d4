import type { Store } from '../store/client.js'
import type { WebhookDispatcher } from '../webhooks/dispatcher.js'
import { ApiError, notFound } from './errors.js'
import { ownWebhook, type RouteDef } from './routes.js'
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
        const queued = dispatcher.enqueue({ eventId, webhookId: w.webhook_id, sid: rows[0].sid, event: rows[0].event, body: rows[0].body, createdAt: Number(rows[0].created) })
        return { status: 202, body: { event_id: eventId, queued } }
      }
    },
    {
      method: 'post', path: '/v1/webhooks/:webhook_id/test', operationId: 'sendTestEvent', summary: 'Send a test message.clicked event to this webhook', tag: 'webhooks',
      response: { status: 202, schema: 'Queued' }, errors: [404, 409],
      handler (ctx) {
        const w = ownWebhook(ctx)
        if (!w.enabled) throw new ApiError('CT_ERR_WEBHOOK_DISABLED', 'the webhook is disabled; enable it first', 409)
        return { status: 202, body: { event_id: dispatcher.enqueueTest(w), queued: true } }
      }
    }
  ]
}

/** ClickHouse's %f prints microseconds: keep milliseconds, as everywhere else in the API. */
function fixMicros (s: string): string {
  return s.replace(/\.(\d{3})\d{3}Z$/, '.$1Z')
}
