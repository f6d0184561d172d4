/**
 * JSON Schemas of every Team API body and response, used both to validate requests (ajv)
 * and to build the OpenAPI document, so the two cannot disagree.
 */
import { DOMAIN_STATUSES, ROUTE_TYPES, WEBHOOK_EVENTS } from '../control/model.js'

type Schema = Record<string, unknown>

const name = { type: 'string', minLength: 1, maxLength: 200 }
const ttlDays = { type: 'integer', minimum: 1, maximum: 3650, description: 'days after sending during which clicks are recorded (later clicks still redirect)' }
const retentionDays = { type: 'integer', minimum: 1, maximum: 3650, description: 'days click data is kept' }
const sid = { type: 'string', pattern: '^[a-z0-9]{1,32}$', description: 'short id used in p{sid}.{tracking domain}' }
const hostname = { type: 'string', minLength: 1, maxLength: 253, pattern: '^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+\\.?$', description: 'a DNS hostname (at least two labels)' }
const webhookUrl = { type: 'string', minLength: 8, maxLength: 2048, pattern: '^https?://', description: 'http(s) URL receiving the events' }
const events = { type: 'array', items: { type: 'string', enum: [...WEBHOOK_EVENTS] }, minItems: 1, uniqueItems: true }
const uuid = { type: 'string', format: 'uuid' }
const time = { type: 'string', format: 'date-time' }
const timeOrNull = { type: ['string', 'null'], format: 'date-time' }
const routeType = { type: 'string', enum: [...ROUTE_TYPES] }
const slug = { type: 'string', minLength: 1, maxLength: 64, pattern: '^[a-z0-9]+(?:-[a-z0-9]+)*$', description: 'the route\'s name within its project; default: from the name (`-2`, `-3`… when taken)' }
const webhookName = { type: 'string', minLength: 1, maxLength: 200 }
const nullableBoolean = { type: ['boolean', 'null'] }

export const schemas: Record<string, Schema> = {
  ProjectCreate: { type: 'object', additionalProperties: false, required: ['name'], properties: { name, sid, token_ttl_days: ttlDays, retention_days: retentionDays } },
  ProjectUpdate: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name, token_ttl_days: ttlDays, retention_days: retentionDays } },
  RouteCreate: { type: 'object', additionalProperties: false, required: ['name'], description: 'type (clicktrail) or route_type (Lettermint): one is required', properties: { name, type: routeType, route_type: routeType, slug: { ...slug, type: ['string', 'null'] }, track_clicks: { type: 'boolean', default: false } } },
  RouteUpdate: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name, track_clicks: { type: 'boolean' } } },
  RouteSettingsUpdate: {
    type: 'object',
    additionalProperties: false,
    description: 'Lettermint\'s UpdateRouteData, of which clicktrail keeps the name and settings.track_clicks (null: unchanged); other settings are refused',
    properties: { name: { ...name, type: ['string', 'null'] }, settings: { type: ['object', 'null'], additionalProperties: false, properties: { track_clicks: nullableBoolean } } }
  },
  WebhookCreate: { type: 'object', additionalProperties: false, required: ['url'], properties: { name: webhookName, url: webhookUrl, events, include_machine_events: { type: 'boolean', default: false }, enabled: { type: 'boolean', default: true } } },
  WebhookUpdate: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name: webhookName, url: webhookUrl, events, include_machine_events: { type: 'boolean' }, enabled: { type: 'boolean' } } },
  WebhookStore: {
    type: 'object',
    additionalProperties: false,
    required: ['route_id', 'name', 'url', 'events'],
    description: 'Lettermint\'s StoreWebhookData: a webhook of one route (only that route\'s clicks)',
    properties: { route_id: uuid, name: webhookName, url: webhookUrl, events, enabled: nullableBoolean, include_machine_events: nullableBoolean }
  },
  WebhookReplace: { type: 'object', additionalProperties: false, description: 'Lettermint\'s UpdateWebhookData', properties: { name: webhookName, url: webhookUrl, events, include_machine_events: { type: 'boolean' }, enabled: { type: 'boolean' } } },
  DomainCreate: { type: 'object', additionalProperties: false, required: ['hostname'], properties: { hostname } },

  Project: {
    type: 'object',
    required: ['id', 'project_id', 'sid', 'name', 'token_ttl_days', 'retention_days', 'tracking_host', 'created_at', 'updated_at'],
    description: 'clicktrail\'s fields and Lettermint\'s ProjectData beside them',
    properties: {
      id: uuid,
      project_id: uuid,
      sid,
      name,
      token_ttl_days: ttlDays,
      retention_days: retentionDays,
      tracking_host: { type: 'string' },
      smtp_enabled: { type: 'boolean', description: 'always false: clicktrail sends no mail' },
      redact_email_content: { type: 'boolean' },
      default_route_id: { type: ['string', 'null'], description: 'the project\'s oldest route' },
      token_generated_at: { type: 'null', description: 'clicktrail projects have no sending token' },
      token_last_used_at: { type: 'null' },
      token_last_used_ip: { type: 'null' },
      routes_count: { type: 'integer' },
      domains_count: { type: 'integer', description: 'tracking domains' },
      last_28_days: { type: 'null', description: 'clicktrail does not see deliveries' },
      created_at: time,
      updated_at: time
    }
  },
  Route: {
    type: 'object',
    required: ['id', 'route_id', 'project_id', 'slug', 'name', 'route_type', 'type', 'is_default', 'track_clicks', 'settings', 'created_at', 'updated_at'],
    description: 'clicktrail\'s fields (route_id, type, track_clicks) and Lettermint\'s RouteData beside them',
    properties: {
      id: uuid,
      route_id: uuid,
      project_id: uuid,
      slug,
      name,
      route_type: routeType,
      type: routeType,
      is_default: { type: 'boolean', description: 'the project\'s oldest route' },
      track_clicks: { type: 'boolean' },
      settings: { type: 'object', required: ['track_clicks'], properties: { track_clicks: { type: 'boolean' } } },
      webhooks_count: { type: 'integer', description: 'webhooks scoped to this route' },
      suppressed_recipients_count: { type: 'integer', description: 'always 0: clicktrail keeps no suppressions' },
      created_at: time,
      updated_at: time
    }
  },
  Webhook: {
    type: 'object',
    required: ['id', 'webhook_id', 'project_id', 'route_id', 'name', 'url', 'events', 'include_machine_events', 'enabled', 'last_called_at', 'created_at', 'updated_at'],
    description: 'clicktrail\'s fields and Lettermint\'s WebhookData beside them',
    properties: {
      id: uuid,
      webhook_id: uuid,
      project_id: uuid,
      route_id: { type: ['string', 'null'], description: 'the route whose clicks it gets; null: every route of the project' },
      name: { type: 'string' },
      url: webhookUrl,
      events,
      include_machine_events: { type: 'boolean' },
      enabled: { type: 'boolean' },
      secret: { type: 'string', description: 'returned only when the webhook is created and when its secret is regenerated' },
      last_called_at: { ...timeOrNull, description: 'the last delivery attempt (null: none, or the history could not be read)' },
      created_at: time,
      updated_at: time
    }
  },
  WebhookDelivery: {
    type: 'object',
    required: ['id', 'webhook_id', 'event_type', 'status', 'attempt_number', 'http_status_code', 'duration_ms', 'delivered_at', 'created_at'],
    description: 'Lettermint\'s WebhookDeliveryData: one event sent to one webhook, as its last attempt left it (id = the event id)',
    properties: {
      id: uuid,
      webhook_id: uuid,
      event_type: { type: 'string', enum: [...WEBHOOK_EVENTS] },
      status: { type: 'string', enum: ['pending', 'success', 'failed', 'client_error', 'server_error', 'timeout'], description: 'pending: not attempted yet; failed: no HTTP answer (refused, unreachable, address not allowed) or dropped' },
      attempt_number: { type: 'integer', description: 'the last attempt\'s number (X-Lettermint-Attempt); 0: not attempted yet' },
      http_status_code: { type: ['integer', 'null'] },
      duration_ms: { type: ['integer', 'null'] },
      response_body: { type: ['string', 'null'], description: 'the first 1024 bytes of the receiver\'s answer' },
      response_headers: { type: 'null' },
      error_message: { type: ['string', 'null'] },
      next_retry_at: { ...timeOrNull, description: 'when the next attempt is due; null: none' },
      delivered_at: timeOrNull,
      created_at: time,
      timestamp: time,
      payload: { type: 'object', description: 'the event as sent (detail only)' },
      attempts: { type: 'array', description: 'every attempt, oldest first (detail only)', items: { type: 'object' } }
    }
  },
  Domain: {
    type: 'object',
    required: ['hostname', 'project_id', 'status', 'status_changed_at', 'created_at', 'dns_records'],
    properties: {
      hostname,
      project_id: uuid,
      status: { type: 'string', enum: [...DOMAIN_STATUSES], description: 'only a verified domain routes clicks and counts as already tracked' },
      status_changed_at: time,
      verified_by: { type: ['string', 'null'], enum: ['cname', 'txt', 'migrated', null], description: 'the record that proved control; migrated = accepted before verification existed' },
      created_at: time,
      last_checked_at: { type: ['string', 'null'], format: 'date-time' },
      verified_at: { type: ['string', 'null'], format: 'date-time' },
      dns_records: {
        type: 'array',
        description: 'publish either one: a CNAME of the domain to the project\'s tracking host, or the TXT token',
        items: {
          type: 'object',
          required: ['type', 'hostname', 'fqdn', 'content', 'status'],
          properties: { type: { type: 'string', enum: ['CNAME', 'TXT'] }, hostname: { type: 'string' }, fqdn: { type: 'string' }, content: { type: 'string' }, status: { type: 'string', enum: ['active', 'pending', 'failed'] } }
        }
      },
      dns_error: { type: 'string', description: 'the DNS resolver failed during this check (e.g. ETIMEOUT); try again later' }
    }
  },
  Delivery: { type: 'object', required: ['event_id', 'attempt', 'ts', 'status', 'ok', 'latency_ms', 'error'], properties: { event_id: uuid, attempt: { type: 'integer' }, ts: time, status: { type: 'integer', description: 'HTTP status, 0 when no answer' }, ok: { type: 'boolean' }, latency_ms: { type: 'integer' }, error: { type: 'string' }, next_retry: { type: ['string', 'null'], format: 'date-time' } } },
  Queued: { type: 'object', required: ['event_id', 'queued'], properties: { event_id: uuid, queued: { type: 'boolean' } } },
  RewriteRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['route_id', 'from', 'to', 'html'],
    properties: {
      route_id: uuid,
      from: { type: 'string', minLength: 1, maxLength: 998 },
      // The count is bounded by --rewrite-max-recipients (422 CT_ERR_REWRITE_TOO_MANY_RECIPIENTS), not here: an operator can move it.
      to: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1, maxLength: 998 }, description: 'one message per recipient; at most --rewrite-max-recipients (default 1000)' },
      subject: { type: 'string', maxLength: 998 },
      html: { type: 'string', description: 'at most --rewrite-max-links links (default 5000); links × recipients at most --rewrite-max-tokens (default 100000); the answer at most --rewrite-max-output-bytes (default 64 MiB)' },
      text: { type: 'string' },
      tag: { type: 'string', maxLength: 200 },
      metadata: { type: 'object', maxProperties: 50, additionalProperties: { type: 'string', maxLength: 1000 } },
      settings: { type: 'object', additionalProperties: false, properties: { track_clicks: { type: 'boolean', description: 'per-email override of the route setting (inbound routes never track)' } } },
      message_id: { ...uuid, description: 'only with a single recipient; default: a new UUID per recipient' },
      sent_at: { ...time, description: 'default: now' }
    }
  },
  RewriteResult: {
    type: 'object',
    required: ['route_id', 'tracking', 'messages', 'links'],
    properties: {
      route_id: uuid,
      tracking: { type: 'object', required: ['enabled', 'reason'], properties: { enabled: { type: 'boolean' }, reason: { type: 'string', enum: ['route_setting', 'per_email_override', 'inbound_route'] } } },
      messages: { type: 'array', items: { type: 'object', required: ['recipient', 'message_id', 'html'], properties: { recipient: { type: 'string' }, message_id: uuid, html: { type: 'string' }, text: { type: 'string' } } } },
      links: { type: 'array', items: { type: 'object', required: ['index', 'url', 'anchor_text', 'tracked'], properties: { index: { type: 'integer' }, url: { type: 'string' }, anchor_text: { type: 'string' }, tracked: { type: 'boolean' }, reason: { type: 'string' }, code: { type: 'string', description: 'the CT_ERR_URL_* code behind reason invalid_url' } } } }
    }
  },
  Error: {
    type: 'object',
    required: ['error'],
    description: '/v1: {"error": {"code", "message", "details"?}}; /lettermint/v1: {"error": message, "code", "message", "details"?}',
    properties: {
      error: { oneOf: [{ type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} } }, { type: 'string' }] },
      code: { type: 'string', description: '/lettermint/v1' },
      message: { type: 'string', description: '/lettermint/v1' },
      details: {}
    }
  }
}

/** A list with Lettermint's cursor pagination (src/api/pages.ts). */
export const pageOf = (item: string): Schema => ({
  type: 'object',
  required: ['data', 'path', 'per_page', 'next_cursor', 'next_page_url', 'prev_cursor', 'prev_page_url', 'meta'],
  properties: {
    data: { type: 'array', items: { $ref: `#/components/schemas/${item}` } },
    path: { type: 'string' },
    per_page: { type: 'integer' },
    next_cursor: { type: ['string', 'null'] },
    next_page_url: { type: ['string', 'null'] },
    prev_cursor: { type: 'null' },
    prev_page_url: { type: 'null' },
    meta: { type: 'object', description: 'the same, as Lettermint\'s message lists have it', properties: { path: { type: 'string' }, per_page: { type: 'integer' }, next_cursor: { type: ['string', 'null'] }, next_cursor_url: { type: ['string', 'null'] }, prev_cursor: { type: 'null' }, prev_cursor_url: { type: 'null' } } }
  }
})

export const listOf = (item: string): Schema => ({ type: 'object', required: ['data'], properties: { data: { type: 'array', items: { $ref: `#/components/schemas/${item}` } } } })
