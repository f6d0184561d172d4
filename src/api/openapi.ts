import { schemas } from './schemas.js'
import type { RouteDef } from './routes.js'

const ERROR_TEXT: Record<number, string> = {
  400: 'malformed path, JSON, unknown or invalid fields, ill-formed text, an unknown, repeated or invalid query parameter, a foreign cursor (CT_ERR_BAD_PATH, CT_ERR_BAD_JSON, CT_ERR_VALIDATION, CT_ERR_QUERY_PARAM, CT_ERR_CURSOR)',
  401: 'missing or invalid bearer token (CT_ERR_UNAUTHORIZED)',
  404: 'not found, or another team\'s (CT_ERR_NOT_FOUND); an endpoint of Lettermint\'s API that clicktrail does not serve (CT_ERR_NOT_SERVED)',
  405: 'method not allowed on this path (CT_ERR_METHOD_NOT_ALLOWED; see Allow)',
  409: 'conflict (CT_ERR_DOMAIN_TAKEN, CT_ERR_SID_TAKEN, CT_ERR_ROUTE_SLUG_TAKEN, CT_ERR_WEBHOOK_DISABLED, CT_ERR_MESSAGE_ID_TAKEN)',
  413: 'body or answer over the limit (CT_ERR_BODY_TOO_LARGE, CT_ERR_REWRITE_OUTPUT_TOO_LARGE)',
  415: 'not JSON (CT_ERR_UNSUPPORTED_MEDIA_TYPE)',
  422: 'inbound routes cannot track clicks (CT_ERR_ROUTE_INBOUND_TRACKING); the hostname is the operator\'s (CT_ERR_DOMAIN_RESERVED); too many recipients, links or tokens (CT_ERR_REWRITE_TOO_MANY_*); the document could not be parsed; the time range is reversed, empty or too long (CT_ERR_RANGE); an analytics request names an unknown metric or dimension, a range over 90 days, more than 3 group_by… (CT_ERR_ANALYTICS_*, details.field names the field)',
  429: 'rate limited, or too many exports running (CT_ERR_RATE_LIMITED, CT_ERR_EXPORT_BUSY; see Retry-After)',
  500: 'internal error, logged (CT_ERR_INTERNAL)',
  503: 'storage, worker pool or webhook outbox unavailable (CT_ERR_STORE_UNAVAILABLE, CT_ERR_POOL_BUSY, CT_ERR_OUTBOX_FULL; see Retry-After)'
}

/** `/v1/routes/:route_id` → `/v1/routes/{route_id}`. */
export function openApiPath (pattern: string): string {
  return pattern.replace(/:([a-z_]+)/g, '{$1}')
}

const METHOD: Record<RouteDef['method'], string> = { get: 'get', post: 'post', put: 'put', patch: 'patch', del: 'delete' }

/** The OpenAPI 3.1 document of the Team API, built from the same route table and schemas the server uses. */
export function buildOpenApi (routes: RouteDef[], version: string): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const r of routes) {
    const path = openApiPath(r.path)
    const params: Array<Record<string, unknown>> = [...r.path.matchAll(/:([a-z_]+)/g)].map(m => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }))
    for (const q of r.query ?? []) params.push({ name: q.name, in: 'query', required: false, description: q.description, schema: q.schema })
    const responses: Record<string, unknown> = {}
    const ok = r.raw !== undefined
      ? { description: 'the rewritten message', content: { [r.raw.contentType]: { schema: { type: 'string', format: 'binary' } } } }
      : r.response.schema === undefined
        ? { description: 'done' }
        : { description: 'success', content: { 'application/json': { schema: typeof r.response.schema === 'string' ? { $ref: `#/components/schemas/${r.response.schema}` } : r.response.schema } } }
    if (r.response.also !== undefined) {
      const content = (ok as { content?: Record<string, unknown> }).content ?? {}
      for (const [type, alt] of Object.entries(r.response.also)) content[type] = { schema: { ...alt.schema, description: alt.description } }
      Object.assign(ok, { content })
    }
    responses[String(r.response.status)] = ok
    for (const status of [...r.errors, ...(r.auth === false ? [] : [401]), 503]) {
      responses[String(status)] = { description: ERROR_TEXT[status] ?? 'error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
    }
    paths[path] ??= {}
    paths[path][METHOD[r.method]] = {
      operationId: r.operationId,
      summary: r.summary,
      tags: [r.tag],
      ...(params.length > 0 ? { parameters: params } : {}),
      ...(r.request !== undefined ? { requestBody: { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${r.request}` } } } } } : {}),
      ...(r.raw !== undefined ? { requestBody: { required: true, description: r.raw.description, content: { [r.raw.contentType]: { schema: { type: 'string', format: 'binary' } } } } } : {}),
      ...(r.auth === false ? { security: [] } : {}),
      responses
    }
  }
  return {
    openapi: '3.1.0',
    info: { title: 'clicktrail Team API', version, description: 'Projects, routes, webhooks and tracking domains of a team. JSON over HTTP; errors are {"error": {"code", "message"}} with stable codes. Every path is also served under /lettermint/v1 (for Lettermint\'s own SDK, baseUrl http://host:port/lettermint/v1) with Lettermint\'s answers where they differ: errors {"error": message, "code", "message"}, deletes 200 {"message"}, createRoute {"data", "message"}, and a webhook\'s deliveries one per event (WebhookDelivery).' },
    servers: [{ url: '/' }],
    security: [{ bearer: [] }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'a team API token, ct_<id>_<secret>' } }, schemas },
    paths
  }
}
