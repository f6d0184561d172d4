import { randomUUID } from 'node:crypto'
import type { Store } from '../store/client.js'
import { deliveryStatus, type EnqueueResult, type WebhookDispatcher } from '../webhooks/dispatcher.js'
import type { Project, Route, Webhook } from '../control/model.js'
import { newWebhookSecret } from '../control/projects.js'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'
import { notFound } from './errors.js'
import { ClicktrailError } from '../errors.js'
import { checkWebhookUrl, ownProject, ownWebhook, type Ctx, type Reply, type RouteDef } from './routes.js'
import { listOf, pageOf } from './schemas.js'
import { webhookView } from './views.js'
import { deletedReply, errorBody } from './dialect.js'
import { listBody, pageQuery, paginate, type Cursor } from './pages.js'
import { deliveryOf, deliveryPage, eventBody, eventTypes, lastCalled, recentDeliveries, type DeliverySummary } from '../store/webhooks.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const iso = (ms: number): string => new Date(ms).toISOString()
const isoOrNull = (ms: number | null): string | null => ms === null || ms === 0 ? null : iso(ms)
const now = (): number => Date.now()

/** Lettermint's `{data, message}` of the calls that create or change a webhook. */
const enveloped = (status: number, data: unknown, message: string): Reply => ({ status, body: { data, message } })

function ownRouteOf (ctx: Ctx, id: string): Route {
  const r = ctx.plane.route(id)
  if (r === undefined || r.team_id !== ctx.teamId || ctx.plane.project(r.project_id) === undefined) throw notFound('route')
  return r
}

/**
 * Webhooks: of a whole project (`POST /v1/projects/{id}/webhooks`, clicktrail's) or of one
 * route (`POST /v1/webhooks` with `route_id`, Lettermint's), their delivery history,
 * redelivery and test events. They need the dispatcher and the store.
 */
export function webhookDeliveryRoutes (dispatcher: WebhookDispatcher, store: Store, log?: Logger): RouteDef[] {
  /** When each webhook was last called; the history unreadable → null for all (logged), not a failed answer. */
  async function lastCalledOf (hooks: readonly Webhook[]): Promise<Map<string, number>> {
    try {
      await dispatcher.flush().catch(() => {})
      return await lastCalled(store.reader, hooks.map(w => w.webhook_id), store.readerSettings)
    } catch (err) {
      if (log !== undefined) limited(log).warn('api.last_called_unavailable', { err: (err as Error).message }, 'webhook last_called_at could not be read from ClickHouse; answered null')
      return new Map()
    }
  }
  async function views (hooks: readonly Webhook[]): Promise<Array<Record<string, unknown>>> {
    const last = await lastCalledOf(hooks)
    return hooks.map(w => webhookView(w, false, last.get(w.webhook_id)))
  }
  async function view (w: Webhook, withSecret = false): Promise<Record<string, unknown>> {
    const last = await lastCalledOf([w])
    return webhookView(w, withSecret, last.get(w.webhook_id))
  }
  async function create (ctx: Ctx, p: Project, routeId: string): Promise<Webhook> {
    const b = ctx.body as { name?: string, url: string, events?: string[], include_machine_events?: boolean | null, enabled?: boolean | null }
    const t = now()
    const w: Webhook = {
      webhook_id: randomUUID(),
      project_id: p.project_id,
      route_id: routeId,
      name: b.name ?? '',
      team_id: p.team_id,
      url: await checkWebhookUrl(b.url, ctx.allowPrivateWebhooks),
      secret: newWebhookSecret(),
      events: b.events ?? ['message.clicked'],
      include_machine_events: b.include_machine_events ?? false,
      enabled: b.enabled ?? true,
      created_at: t,
      updated_at: t
    }
    await ctx.plane.write('webhooks', w)
    return w
  }
  async function update (ctx: Ctx): Promise<Webhook> {
    const w: Webhook = { ...ownWebhook(ctx), ...ctx.body, updated_at: now() }
    if (ctx.body.url !== undefined) w.url = await checkWebhookUrl(ctx.body.url, ctx.allowPrivateWebhooks)
    await ctx.plane.write('webhooks', w)
    return w
  }
  /** Lettermint's WebhookDeliveryListData (and the detail's fields) of one delivery. */
  function deliveryView (w: Webhook, d: DeliverySummary | undefined, eventId: string, createdAt: number, eventType = 'message.clicked'): Record<string, unknown> {
    const pending = dispatcher.pendingAttempts(eventId, w.webhook_id)
    const attempted = d !== undefined && (d.attempt > 0 || d.status !== 0)
    return {
      id: eventId,
      webhook_id: w.webhook_id,
      event_type: eventType,
      status: deliveryStatus(d, pending !== undefined),
      attempt_number: d?.attempt ?? pending ?? 0,
      http_status_code: d === undefined || d.status === 0 ? null : d.status,
      duration_ms: attempted ? d.latency_ms : null,
      response_body: d === undefined || d.response_body === '' ? null : d.response_body,
      response_headers: null,
      error_message: d === undefined || d.error === '' ? null : d.error,
      next_retry_at: isoOrNull(d?.next_retry ?? null),
      delivered_at: isoOrNull(d?.delivered ?? null),
      created_at: iso(createdAt),
      timestamp: iso(createdAt)
    }
  }

  return [
    {
      method: 'post',
      path: '/v1/projects/:project_id/webhooks',
      operationId: 'createWebhook',
      summary: 'Create a webhook of the whole project; the answer carries its signing secret, shown only this once',
      tag: 'webhooks',
      request: 'WebhookCreate',
      response: { status: 201, schema: 'Webhook' },
      errors: [400, 404, 413],
      async handler (ctx) {
        return { status: 201, body: webhookView(await create(ctx, ownProject(ctx), ''), true) }
      }
    },
    {
      method: 'get',
      path: '/v1/projects/:project_id/webhooks',
      operationId: 'listWebhooks',
      summary: 'List a project\'s webhooks, of the project and of its routes (cursor pages: page[size], page[cursor])',
      tag: 'webhooks',
      response: { status: 200, schema: pageOf('Webhook') },
      errors: [400, 404],
      async handler (ctx) {
        const p = ownProject(ctx)
        const q = pageQuery(ctx.query, ctx.dialect)
        const { data, next } = paginate(ctx.plane.webhooks(p.project_id), w => [w.created_at, w.webhook_id], q)
        return { status: 200, body: listBody(ctx.path, q, await views(data), next) }
      }
    },
    {
      method: 'post',
      path: '/v1/webhooks',
      operationId: 'createRouteWebhook',
      summary: 'Create a webhook of one route (Lettermint\'s): only that route\'s clicks; answers {data, message} with the secret, shown only this once',
      tag: 'webhooks',
      request: 'WebhookStore',
      response: { status: 201, schema: { type: 'object', required: ['data', 'message'], properties: { data: { $ref: '#/components/schemas/Webhook' }, message: { type: 'string' } } } },
      errors: [400, 404, 413],
      async handler (ctx) {
        const r = ownRouteOf(ctx, ctx.body.route_id)
        const p = ownProject(ctx, r.project_id)
        const w = await create(ctx, p, r.route_id)
        return enveloped(201, webhookView(w, true), 'Webhook created successfully. Please save the secret as it will not be shown again.')
      }
    },
    {
      method: 'get',
      path: '/v1/webhooks',
      operationId: 'listTeamWebhooks',
      summary: 'List the team\'s webhooks; filter[route_id], filter[project_id] (cursor pages: page[size], page[cursor])',
      tag: 'webhooks',
      response: { status: 200, schema: pageOf('Webhook') },
      errors: [400],
      async handler (ctx) {
        const q = pageQuery(ctx.query, ctx.dialect, ['filter[route_id]', 'filter[project_id]'])
        const route = q.filters.get('filter[route_id]')
        const project = q.filters.get('filter[project_id]')
        const hooks = ctx.plane.projects(ctx.teamId)
          .filter(p => project === undefined || p.project_id === project)
          .flatMap(p => ctx.plane.webhooks(p.project_id))
          .filter(w => route === undefined || w.route_id === route)
        const { data, next } = paginate(hooks, w => [w.created_at, w.webhook_id], q)
        return { status: 200, body: listBody(ctx.path, q, await views(data), next) }
      }
    },
    {
      method: 'get',
      path: '/v1/webhooks/:webhook_id',
      operationId: 'getWebhook',
      summary: 'Get a webhook (without its secret)',
      tag: 'webhooks',
      response: { status: 200, schema: 'Webhook' },
      errors: [404],
      async handler (ctx) {
        return { status: 200, body: await view(ownWebhook(ctx)) }
      }
    },
    {
      method: 'patch',
      path: '/v1/webhooks/:webhook_id',
      operationId: 'updateWebhook',
      summary: 'Update a webhook',
      tag: 'webhooks',
      request: 'WebhookUpdate',
      response: { status: 200, schema: 'Webhook' },
      errors: [400, 404, 413],
      async handler (ctx) {
        return { status: 200, body: await view(await update(ctx)) }
      }
    },
    {
      method: 'put',
      path: '/v1/webhooks/:webhook_id',
      operationId: 'replaceWebhook',
      summary: 'Update a webhook as Lettermint does; answers {data, message}',
      tag: 'webhooks',
      request: 'WebhookReplace',
      response: { status: 200, schema: { type: 'object', required: ['data', 'message'], properties: { data: { $ref: '#/components/schemas/Webhook' }, message: { type: 'string' } } } },
      errors: [400, 404, 413],
      async handler (ctx) {
        return enveloped(200, await view(await update(ctx)), 'Webhook updated successfully.')
      }
    },
    {
      method: 'del',
      path: '/v1/webhooks/:webhook_id',
      operationId: 'deleteWebhook',
      summary: 'Delete a webhook (/v1: 204; /lettermint/v1: 200 {message}); its pending deliveries are dropped',
      tag: 'webhooks',
      response: { status: 204 },
      errors: [404],
      async handler (ctx) {
        await ctx.plane.write('webhooks', { ...ownWebhook(ctx), updated_at: now() }, true)
        return deletedReply(ctx.dialect, 'Webhook deleted successfully.')
      }
    },
    {
      method: 'post',
      path: '/v1/webhooks/:webhook_id/regenerate-secret',
      operationId: 'regenerateWebhookSecret',
      summary: 'A new signing secret, shown only in this answer ({data, message}); the old one stops signing at once, pending deliveries included',
      tag: 'webhooks',
      response: { status: 200, schema: { type: 'object', required: ['data', 'message'], properties: { data: { $ref: '#/components/schemas/Webhook' }, message: { type: 'string' } } } },
      errors: [404],
      async handler (ctx) {
        const w: Webhook = { ...ownWebhook(ctx), secret: newWebhookSecret(), updated_at: now() }
        await ctx.plane.write('webhooks', w)
        return enveloped(200, await view(w, true), 'Webhook secret regenerated successfully. Please update your integration.')
      }
    },
    {
      method: 'get',
      path: '/v1/webhooks/:webhook_id/deliveries',
      operationId: 'listDeliveries',
      summary: '/v1: the latest delivery attempts of a webhook (newest first, 100 at most); /lettermint/v1: its deliveries (one per event, as its last attempt left it; cursor pages)',
      tag: 'webhooks',
      response: { status: 200, schema: listOf('Delivery') },
      errors: [400, 404],
      async handler (ctx) {
        const w = ownWebhook(ctx)
        await dispatcher.flush().catch(() => {})
        if (ctx.dialect === 'clicktrail') return { status: 200, body: { data: await recentDeliveries(store.reader, w.webhook_id, store.readerSettings) } }
        const q = pageQuery(ctx.query, ctx.dialect)
        const size = q.size ?? 0
        const rows = await deliveryPage(store.reader, w.webhook_id, store.readerSettings, size + 1, q.after)
        const page = rows.slice(0, size)
        const next: Cursor | null = rows.length > size ? [page[page.length - 1].first, page[page.length - 1].event_id] : null
        const types = await eventTypes(store.reader, w.webhook_id, page.map(d => d.event_id), store.readerSettings)
        return { status: 200, body: listBody(ctx.path, q, page.map(d => deliveryView(w, d, d.event_id, d.first, types.get(d.event_id))), next) }
      }
    },
    {
      method: 'get',
      path: '/v1/webhooks/:webhook_id/deliveries/:delivery_id',
      operationId: 'getDelivery',
      summary: 'One delivery (id = the event id, as the test call and the list give it): its state, the event as sent, every attempt',
      tag: 'webhooks',
      response: { status: 200, schema: 'WebhookDelivery' },
      errors: [404],
      async handler (ctx) {
        const w = ownWebhook(ctx)
        const id = ctx.params.delivery_id.toLowerCase()
        if (!UUID.test(id)) throw notFound('delivery')
        await dispatcher.flush().catch(() => {})
        const [found, ev] = await Promise.all([deliveryOf(store.reader, w.webhook_id, id, store.readerSettings), eventBody(store.reader, w.webhook_id, id, store.readerSettings)])
        if (found === undefined && ev === undefined && dispatcher.pendingAttempts(id, w.webhook_id) === undefined) throw notFound('delivery')
        let payload: unknown = null
        try { payload = ev === undefined ? null : JSON.parse(ev.body) } catch { /* stored as sent; not ours to fail on */ }
        return { status: 200, body: { ...deliveryView(w, found?.summary, id, ev?.createdAt ?? found?.summary.first ?? now(), ev?.event), payload, attempts: found?.attempts ?? [] } }
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
        return queuedReply(ctx, eventId, result)
      }
    },
    {
      method: 'post',
      path: '/v1/webhooks/:webhook_id/test',
      operationId: 'sendTestEvent',
      summary: 'Send a test message.clicked event to this webhook; delivery_id names its delivery',
      tag: 'webhooks',
      response: { status: 202, schema: 'Queued' },
      errors: [404, 409, 429],
      handler (ctx) {
        const w = ownWebhook(ctx)
        if (!w.enabled) throw new ClicktrailError('CT_ERR_WEBHOOK_DISABLED')
        const test = dispatcher.enqueueTest(w)
        if (test.result === 'rate_limited') {
          return errorReply(ctx, 429, 'CT_ERR_RATE_LIMITED', 'too many test events for this webhook; retry after the time in Retry-After', Math.ceil(test.retryAfterMs / 1000))
        }
        const r = queuedReply(ctx, test.eventId, test.result)
        if (r.status === 202) r.body = { ...(r.body as object), message: 'Test webhook dispatched successfully. Check the deliveries endpoint for results.', delivery_id: test.eventId }
        return r
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
function queuedReply (ctx: Ctx, eventId: string, result: EnqueueResult): Reply {
  if (result === 'queued' || result === 'pending') return { status: 202, body: { event_id: eventId, queued: true } }
  const share = result === 'shed_share'
  return errorReply(ctx, 503, 'CT_ERR_OUTBOX_FULL', share
    ? 'not queued: the webhook outbox is full and this webhook holds the largest share of it; deliveries to it must succeed first'
    : 'not queued: the webhook outbox could not store the event (disk full or failing)', 60, { reason: share ? 'webhook_share' : 'outbox', event_id: eventId })
}

/** An API error with a Retry-After header (the server's error path cannot add headers). */
function errorReply (ctx: Ctx, status: number, code: string, message: string, retryAfterS: number, details?: Record<string, unknown>): Reply {
  return { status, raw: Buffer.from(JSON.stringify(errorBody(ctx.dialect, code, message, details))), contentType: 'application/json', headers: { 'Retry-After': String(Math.max(1, retryAfterS)) } }
}
