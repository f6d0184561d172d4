import type { Store } from '../store/client.js'
import type { EnqueueResult, WebhookDispatcher } from '../webhooks/dispatcher.js'
import { notFound } from './errors.js'
import { ClicktrailError } from '../errors.js'
import { ownWebhook, type Reply, type RouteDef } from './routes.js'
import { listOf } from './schemas.js'
import { eventBody, recentDeliveries } from '../store/webhooks.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Delivery history, redelivery and test events: they need the dispatcher and the store. */
export function webhookDeliveryRoutes (dispatcher: WebhookDispatcher, store: Store): RouteDef[] {
  return [
    {
      method: 'get',
      path: '/v1/webhooks/:webhook_id/deliveries',
      operationId: 'listDeliveries',
      summary: 'The latest delivery attempts of a webhook (newest first, 100 at most)',
      tag: 'webhooks',
      response: { status: 200, schema: listOf('Delivery') },
      errors: [404],
      async handler (ctx) {
        const w = ownWebhook(ctx)
        await dispatcher.flush().catch(() => {})
        return { status: 200, body: { data: await recentDeliveries(store.reader, w.webhook_id, store.readerSettings) } }
      }
    },
    {
      method: 'post',
      path: '/v1/webhooks/:webhook_id/events/:event_id/redeliver',
      operationId: 'redeliverEvent',
      summary: 'Send an event to this webhook again (same id, new attempts)',
      tag: 'webhooks',
      response: { status: 202, schema: 'Queued' },
      errors: [404],
      async handler (ctx) {
        const w = ownWebhook(ctx)
        const eventId = ctx.params.event_id
        if (!UUID.test(eventId)) throw notFound('event')
        await dispatcher.flush().catch(() => {})
        const ev = await eventBody(store.reader, w.webhook_id, eventId, store.readerSettings)
        if (ev === undefined) throw notFound('event')
        const result = dispatcher.enqueue({ eventId, webhookId: w.webhook_id, sid: ev.sid, event: ev.event, body: ev.body, createdAt: ev.createdAt })
        return queuedReply(eventId, result)
      }
    },
    {
      method: 'post',
      path: '/v1/webhooks/:webhook_id/test',
      operationId: 'sendTestEvent',
      summary: 'Send a test message.clicked event to this webhook',
      tag: 'webhooks',
      response: { status: 202, schema: 'Queued' },
      errors: [404, 409, 429],
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
