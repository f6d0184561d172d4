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

export const schemas: Record<string, Schema> = {
  ProjectCreate: { type: 'object', additionalProperties: false, required: ['name'], properties: { name, sid, token_ttl_days: ttlDays, retention_days: retentionDays } },
  ProjectUpdate: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name, token_ttl_days: ttlDays, retention_days: retentionDays } },
  RouteCreate: { type: 'object', additionalProperties: false, required: ['name', 'type'], properties: { name, type: { type: 'string', enum: [...ROUTE_TYPES] }, track_clicks: { type: 'boolean', default: false } } },
  RouteUpdate: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name, track_clicks: { type: 'boolean' } } },
  WebhookCreate: { type: 'object', additionalProperties: false, required: ['url'], properties: { url: webhookUrl, events, include_machine_events: { type: 'boolean', default: false }, enabled: { type: 'boolean', default: true } } },
  WebhookUpdate: { type: 'object', additionalProperties: false, minProperties: 1, properties: { url: webhookUrl, events, include_machine_events: { type: 'boolean' }, enabled: { type: 'boolean' } } },
  DomainCreate: { type: 'object', additionalProperties: false, required: ['hostname'], properties: { hostname } },

  Project: { type: 'object', required: ['project_id', 'sid', 'name', 'token_ttl_days', 'retention_days', 'tracking_host', 'created_at', 'updated_at'], properties: { project_id: uuid, sid, name, token_ttl_days: ttlDays, retention_days: retentionDays, tracking_host: { type: 'string' }, created_at: time, updated_at: time } },
  Route: { type: 'object', required: ['route_id', 'project_id', 'name', 'type', 'track_clicks', 'created_at', 'updated_at'], properties: { route_id: uuid, project_id: uuid, name, type: { type: 'string', enum: [...ROUTE_TYPES] }, track_clicks: { type: 'boolean' }, created_at: time, updated_at: time } },
  Webhook: { type: 'object', required: ['webhook_id', 'project_id', 'url', 'events', 'include_machine_events', 'enabled', 'created_at', 'updated_at'], properties: { webhook_id: uuid, project_id: uuid, url: webhookUrl, events, include_machine_events: { type: 'boolean' }, enabled: { type: 'boolean' }, secret: { type: 'string', description: 'returned once, when the webhook is created' }, created_at: time, updated_at: time } },
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
  Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} } } } }
}

export const listOf = (item: string): Schema => ({ type: 'object', required: ['data'], properties: { data: { type: 'array', items: { $ref: `#/components/schemas/${item}` } } } })
