/**
 * JSON Schemas of every Team API body and response, used both to validate requests (ajv)
 * and to build the OpenAPI document, so the two cannot disagree.
 */
import { DOMAIN_STATUSES, IP_ADDRESS_MODES, ROUTE_TYPES, WEBHOOK_EVENTS } from '../control/model.js'
import { ANALYTICS_LIMITS, DIMENSIONS, INCLUDES, METRICS, OPERATORS } from '../analytics/query.js'

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
const ipAddresses = { type: 'string', enum: [...IP_ADDRESS_MODES], description: 'what is kept of recipients\' IP addresses once the late-evidence horizon (--address-privacy-after-ms, default 24 h) has passed: full, truncated (IPv4 /24, IPv6 /48; the default) or none (README, Privacy)' }
const honeypotLink = { type: 'boolean', default: false, description: 'add one honeypot link to each tracked message: invisible and unreachable for people, fetched by link scanners, whose fetch marks the fetcher a scanner for that message (README, Honeypot links)' }

const CLASSIFICATIONS = ['genuine', 'privacy_proxy', 'security_scanner', 'link_preview', 'generic_bot']
// The click fields of the message.clicked webhook (SPEC §6), as message events carry them.
const clickProperties = {
  event_id: { ...uuid, description: 'the id of this click\'s message.clicked webhook event (webhook-id)' },
  subject: { type: 'string' },
  recipient: { type: 'string' },
  clicked_at: { type: 'string', description: 'when the click happened, 2025-08-08T20:18:30+00:00 (as in the webhook)' },
  destination_url: { type: 'string' },
  link_index: { type: 'integer' },
  anchor_text: { type: 'string' },
  first_click: { type: 'boolean' },
  device_type: { type: 'string' },
  client_type: { type: 'string' },
  client_name: { type: 'string' },
  user_agent: { type: 'string' },
  bot: {
    type: 'object',
    required: ['detected', 'probability', 'classification', 'proxy_type', 'reason_codes', 'machine', 'counts_for_metrics'],
    properties: {
      detected: { type: 'boolean' },
      probability: { type: 'integer', minimum: 0, maximum: 100 },
      classification: { type: 'string', enum: CLASSIFICATIONS },
      proxy_type: { type: ['string', 'null'] },
      reason_codes: { type: 'array', items: { type: 'string' } },
      machine: { type: 'boolean' },
      counts_for_metrics: { type: 'boolean' }
    }
  }
}
const CLICK_FIELDS = Object.keys(clickProperties)
const nullableString = { type: ['string', 'null'] }
const cursorMeta = {
  type: 'object',
  required: ['path', 'per_page', 'next_cursor', 'next_cursor_url', 'prev_cursor', 'prev_cursor_url'],
  properties: { path: { type: 'string' }, per_page: { type: 'integer' }, next_cursor: nullableString, next_cursor_url: nullableString, prev_cursor: nullableString, prev_cursor_url: nullableString }
}
const zero = { type: 'integer', description: 'always 0: clicktrail does not send or receive mail' }
const unknown = { type: 'null', description: 'always null: clicktrail does not track opens' }
const routeTypeStats = {
  type: 'object',
  required: ['sent', 'hard_bounced', 'spam_complaints', 'clicked', 'machine_clicked', 'clicked_events', 'machine_clicked_events'],
  description: 'Lettermint\'s StatsTypeData, with clicks: messages of this route type (from the message\'s route_id); clicks of messages not rewritten here, or of deleted routes, are in the totals only',
  properties: { sent: zero, hard_bounced: zero, spam_complaints: zero, clicked: { type: 'integer' }, machine_clicked: { type: 'integer' }, clicked_events: { type: 'integer' }, machine_clicked_events: { type: 'integer' } }
}

const messageEvent: Schema = {
  type: 'object',
  description: 'Lettermint\'s MessageEventData for a click, then the click fields of the message.clicked webhook',
  required: ['message_id', 'event', 'tag', 'tags', 'metadata', 'timestamp', ...CLICK_FIELDS],
  properties: {
    message_id: uuid,
    event: { type: 'string', enum: ['clicked'] },
    tag: { type: ['string', 'null'] },
    tags: { type: 'array', items: { type: 'object', required: ['name', 'value'], properties: { name: { type: 'string' }, value: { type: 'string' } } }, description: 'always empty: clicktrail keeps the legacy tag only' },
    metadata: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
    timestamp: { ...time, description: 'when the click happened (milliseconds)' },
    ...clickProperties
  }
}
const statsCounts: Schema = {
  type: 'object',
  required: ['sent', 'delivered', 'hard_bounced', 'spam_complaints', 'opened', 'clicked', 'inbound', 'transactional', 'broadcast', 'effective_opened', 'machine_opened', 'machine_clicked', 'clicked_events', 'machine_clicked_events'],
  properties: {
    sent: zero,
    delivered: zero,
    hard_bounced: zero,
    spam_complaints: zero,
    opened: unknown,
    clicked: { type: 'integer', description: 'messages with at least one click by a person (with include_machine: by anyone)' },
    inbound: { type: 'object', required: ['received'], properties: { received: zero } },
    transactional: routeTypeStats,
    broadcast: routeTypeStats,
    observed_opened: unknown,
    human_opened: unknown,
    privacy_opened: unknown,
    effective_opened: unknown,
    machine_opened: unknown,
    machine_clicked: { type: 'integer', description: 'messages with at least one machine click' },
    clicked_events: { type: 'integer', description: 'clicks counted in clicked (every click, not unique)' },
    machine_clicked_events: { type: 'integer', description: 'machine clicks' }
  }
}

const measureProperties = {
  metrics: { type: 'object', additionalProperties: { type: ['number', 'null'] }, description: 'the requested metrics; a rate or median with nothing to measure is null' },
  rate_bases: { type: 'object', additionalProperties: { type: 'object', properties: { numerator: { type: ['number', 'null'] }, denominator: { type: ['number', 'null'] } } }, description: 'human_click_rate = human_clicks / tracked_messages' },
  previous: { type: 'object', description: 'with compare: the previous period', properties: { from: time, to: time, metrics: { type: 'object' }, rate_bases: { type: 'object' } } },
  change: { type: 'object', additionalProperties: { type: 'object', properties: { absolute: { type: ['number', 'null'] }, relative: { type: ['number', 'null'], description: '(now - previous) / previous; null when previous is 0' } } } }
}
const analyticsPoint = {
  type: 'object',
  required: ['from', 'to', 'partial', 'metrics', 'rate_bases'],
  properties: { from: time, to: { ...time, description: 'exclusive' }, partial: { type: 'boolean', description: 'cut by the range, or not over yet' }, ...measureProperties }
}

export const schemas: Record<string, Schema> = {
  MessageEvent: messageEvent,
  ProjectCreate: { type: 'object', additionalProperties: false, required: ['name'], properties: { name, sid, token_ttl_days: ttlDays, retention_days: retentionDays, ip_addresses: ipAddresses } },
  ProjectUpdate: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name, token_ttl_days: ttlDays, retention_days: retentionDays, ip_addresses: ipAddresses } },
  RouteCreate: { type: 'object', additionalProperties: false, required: ['name'], description: 'type (clicktrail) or route_type (Lettermint): one is required', properties: { name, type: routeType, route_type: routeType, slug: { ...slug, type: ['string', 'null'] }, track_clicks: { type: 'boolean', default: false }, honeypot_link: honeypotLink } },
  RouteUpdate: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name, track_clicks: { type: 'boolean' }, honeypot_link: { type: 'boolean' } } },
  RouteSettingsUpdate: {
    type: 'object',
    additionalProperties: false,
    description: 'Lettermint\'s UpdateRouteData, of which clicktrail keeps the name, settings.track_clicks and clicktrail\'s settings.honeypot_link (null: unchanged); other settings are refused',
    properties: { name: { ...name, type: ['string', 'null'] }, settings: { type: ['object', 'null'], additionalProperties: false, properties: { track_clicks: nullableBoolean, honeypot_link: nullableBoolean } } }
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
      ip_addresses: ipAddresses,
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
      honeypot_link: { type: 'boolean', description: 'one honeypot link per tracked message (README, Honeypot links)' },
      settings: { type: 'object', required: ['track_clicks'], properties: { track_clicks: { type: 'boolean' }, honeypot_link: { type: 'boolean' } } },
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
  // POST /v1/analytics. Names (metrics, dimensions, operators…) are checked by src/analytics/query.ts, not here, so that an
  // unknown one is 422 with a CT_ERR_ANALYTICS_* code naming the field rather than a generic 400; this schema gives the shape.
  AnalyticsRequest: {
    type: 'object',
    additionalProperties: false,
    required: ['metrics'],
    properties: {
      metrics: { type: 'array', items: { type: 'string' }, description: `one or more of ${METRICS.join(', ')}` },
      from: { type: 'string', description: 'a date YYYY-MM-DD (local midnight in timezone) or an RFC 3339 time; default: 30 local days ending with today' },
      to: { type: 'string', description: `a date (inclusive: up to the next local midnight) or an RFC 3339 time (exclusive); default: the end of today; at most ${ANALYTICS_LIMITS.maxRangeDays} days after from` },
      timezone: { type: 'string', description: 'IANA time zone of dates and day points; default UTC' },
      interval: { type: 'string', description: 'hour or day (default) points in time_series' },
      include: { type: 'array', items: { type: 'string' }, description: `of ${INCLUDES.join(', ')}; default summary (and breakdown with group_by)` },
      group_by: { type: 'array', items: { type: 'string' }, description: `at most ${ANALYTICS_LIMITS.maxGroupBy} of ${DIMENSIONS.filter(d => d !== 'metadata' && d !== 'is_human' && d !== 'is_machine').join(', ')}, metadata.<key>` },
      filters: {
        type: 'array',
        description: `at most ${ANALYTICS_LIMITS.maxFilters}, all must hold; dimensions as group_by, plus is_human and is_machine`,
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['dimension'],
          properties: {
            dimension: { type: 'string' },
            operator: { type: 'string', description: `${OPERATORS.join(', ')} (default eq)` },
            values: { type: 'array', items: { type: ['string', 'number', 'boolean'] }, description: `eq: one value; in, not_in: 1 to ${ANALYTICS_LIMITS.maxFilterValues}; is_null, is_not_null: none` }
          }
        }
      },
      compare: { type: ['string', 'null'], description: 'previous_period: the same span just before, as previous and change on every summary, point and row' },
      sort: { type: 'object', additionalProperties: false, properties: { metric: { type: 'string', description: 'one of the requested metrics; default the first' }, direction: { type: 'string', description: 'asc or desc (default)' } } },
      limit: { type: 'integer', description: `breakdown rows per page, 1 to ${ANALYTICS_LIMITS.maxLimit}; default ${ANALYTICS_LIMITS.defaultLimit}` },
      cursor: { type: ['string', 'null'], description: 'pagination.next_cursor of the previous page, with the same query' }
    }
  },
  AnalyticsResponse: {
    type: 'object',
    required: ['data', 'meta', 'pagination'],
    properties: {
      data: {
        type: 'object',
        properties: {
          summary: { type: 'object', required: ['metrics', 'rate_bases'], properties: measureProperties },
          time_series: { type: 'array', items: analyticsPoint },
          breakdown: {
            type: 'array',
            items: {
              type: 'object',
              required: ['dimensions', 'metrics', 'rate_bases'],
              properties: { dimensions: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] }, description: 'the group: one value per group_by dimension (null: none)' }, ...measureProperties, time_series: { type: 'array', items: analyticsPoint, description: 'with time_series in include: this group\'s points' } }
            }
          }
        }
      },
      meta: {
        type: 'object',
        required: ['metrics', 'group_by', 'timezone', 'interval', 'from', 'to', 'alignment', 'calendar', 'compare', 'generated_at', 'last_ingested_at', 'range_open', 'sources'],
        properties: {
          metrics: { type: 'array', items: { type: 'string' } },
          group_by: { type: 'array', items: { type: 'string' } },
          timezone: { type: 'string' },
          interval: { type: 'string', enum: ['hour', 'day'] },
          from: time,
          to: { ...time, description: 'exclusive' },
          alignment: { type: 'string', enum: ['local_day', 'local_hour'], description: 'points start at local midnights or hours of timezone; the first and last may be partial' },
          calendar: { type: 'boolean', description: 'the range is whole local days' },
          compare: { type: ['object', 'null'], properties: { from: time, to: time } },
          generated_at: time,
          last_ingested_at: { type: ['string', 'null'], format: 'date-time', description: 'promotion watermark: clicks observed up to here are counted' },
          range_open: { type: 'boolean', description: 'to is in the future: the last points are still growing' },
          sources: { type: 'array', items: { type: 'string' }, description: 'clicks, or the materialized views that answered' }
        }
      },
      pagination: { type: 'object', required: ['total_groups', 'returned_groups', 'next_cursor'], properties: { total_groups: { type: 'integer' }, returned_groups: { type: 'integer' }, next_cursor: { type: ['string', 'null'] } } }
    }
  },
  MessageEvents: { type: 'object', required: ['data', 'links', 'meta'], properties: { data: { type: 'array', items: messageEvent }, links: { type: 'array', items: { type: 'string' } }, meta: cursorMeta } },
  ClickExport: {
    type: 'object',
    required: ['data', 'links', 'meta'],
    properties: {
      data: {
        type: 'array',
        items: {
          allOf: [messageEvent, {
            type: 'object',
            required: ['sent_at', 'ip', 'method'],
            properties: { sent_at: { ...time, description: 'when the message was sent (the token\'s time)' }, ip: { type: 'string', description: 'the clicker\'s address' }, method: { type: 'string', enum: ['GET', 'HEAD'] } }
          }]
        }
      },
      links: { type: 'array', items: { type: 'string' } },
      meta: cursorMeta
    }
  },
  Stats: {
    type: 'object',
    description: 'Lettermint\'s StatsData. clicked / machine_clicked: messages with at least one human / machine click (unique per message, so per recipient); *_events: every click. What clicktrail cannot know is 0 (numbers) or null (nullable fields).',
    required: ['from', 'to', 'totals', 'daily'],
    properties: {
      from: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
      to: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' },
      totals: statsCounts,
      daily: { type: 'array', items: { allOf: [{ type: 'object', required: ['date'], properties: { date: { type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$' } } }, statsCounts] } }
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
