/**
 * Every failure clicktrail reports, in one table: a stable `code` callers branch on (never the
 * message text), the HTTP status it is answered with where it reaches a client, and a default
 * message. One class carries them all; a leaf module (it imports nothing), so every room of
 * the house — token/ included — can throw one. docs/errors.md is generated from this table.
 */
export const ERRORS = {
  // Start-up, configuration, the command line.
  CT_ERR_CONFIG: { status: 500, message: 'an option is missing or invalid', where: 'start-up (exit 2): the message names the option' },
  CT_ERR_CONFIG_SECRETS: { status: 500, message: 'the master secrets are invalid', where: 'start-up: a secret, key id or secrets file is unusable' },
  CT_ERR_USAGE: { status: 400, message: 'the command line could not be understood', where: 'command line (exit 2)' },
  CT_ERR_UWS_NATIVE: { status: 500, message: 'the native uWebSockets.js binding did not load', where: 'start-up: the pure-JS fallback is refused' },
  CT_ERR_LISTEN: { status: 500, message: 'cannot listen on the port', where: 'start-up: the port is held by another process, or cannot be bound' },
  CT_ERR_DATA_DIR_LOCKED: { status: 500, message: 'another process holds the data directory', where: 'start-up: serve.lock, or the embedded ClickHouse\'s own lock' },
  CT_ERR_SECRETS_MISSING: { status: 500, message: 'no master secret where state exists', where: 'start-up, token create: restore <data-dir>/secrets or set CLICKTRAIL_SECRETS' },
  CT_ERR_KEY_MISMATCH: { status: 500, message: 'a secret differs from the fingerprint recorded for its key id', where: 'start-up' },
  CT_ERR_IO: { status: 500, message: 'a file-system operation failed', where: 'start-up' },
  CT_ERR_STORE: { status: 503, message: 'ClickHouse did not answer', where: 'start-up (server unreachable); the admin listener (503)' },
  CT_ERR_MIGRATION: { status: 500, message: 'a schema migration failed', where: 'start-up, clicktrail migrate (the file is named)' },
  CT_ERR_SPOOL_DIR: { status: 500, message: 'the spool directory is unusable', where: 'start-up' },
  CT_ERR_ADMIN: { status: 500, message: 'the admin listener refused the request', where: 'clicktrail block (an answer without a code)' },
  CT_ERR_ADMIN_UNREACHABLE: { status: 503, message: 'no clicktrail admin listener answers', where: 'clicktrail sql, block, token create' },
  CT_ERR_PROJECT_NOT_FOUND: { status: 404, message: 'no project has that sid', where: 'clicktrail token create' },
  CT_ERR_INTERNAL: { status: 500, message: 'internal error; it has been logged', where: 'anywhere: a bug, logged with its stack' },
  CT_ERR_NOT_READY: { status: 503, message: 'not ready yet', where: 'admin /metrics before the registry exists' },

  // Tokens and destinations.
  CT_ERR_URL_INVALID: { status: 422, message: 'destination is not an absolute URL', where: 'mint time (rewriting: the link is `invalid_url`)' },
  CT_ERR_URL_SCHEME: { status: 422, message: 'only http and https destinations can be tracked', where: 'mint time' },
  CT_ERR_URL_CONTROL_CHARS: { status: 422, message: 'destination contains control characters or whitespace', where: 'mint time' },
  CT_ERR_URL_USERINFO: { status: 422, message: 'destination carries user:password@ credentials', where: 'mint time' },
  CT_ERR_URL_TOO_LONG: { status: 422, message: 'destination is longer than the configured limit', where: 'mint time' },
  CT_ERR_URL_HOST: { status: 422, message: 'destination has no usable host', where: 'mint time' },
  CT_ERR_URL_BACKSLASH: { status: 422, message: 'destination has a backslash before its query (browsers read it as a slash, a classic way to disguise the host)', where: 'mint time' },
  CT_ERR_TOKEN_MALFORMED: { status: 404, message: 'token is not valid base64url or is truncated', where: 'verification (token inspect prints it; the server answers 404)' },
  CT_ERR_TOKEN_VERSION: { status: 404, message: 'token version is not supported', where: 'verification' },
  CT_ERR_TOKEN_KEY_UNKNOWN: { status: 404, message: 'token key id is not configured', where: 'verification' },
  CT_ERR_TOKEN_SIGNATURE: { status: 404, message: 'token signature does not verify', where: 'verification' },
  CT_ERR_TOKEN_PAYLOAD: { status: 404, message: 'token payload does not decode', where: 'verification' },
  CT_ERR_TOKEN_FIELDS: { status: 400, message: 'token fields are invalid', where: 'mint time (bad sid, message id, link index, sent time); verification' },

  // Every listener's HTTP front.
  CT_ERR_HTTP_BAD_REQUEST: { status: 400, message: 'the request is not well-formed HTTP/1.x', where: 'HTTP front (any port)' },
  CT_ERR_HTTP_VERSION: { status: 400, message: 'only HTTP/1.1 and HTTP/1.0 are spoken here', where: 'HTTP front' },
  CT_ERR_HTTP_HEAD_TOO_LARGE: { status: 431, message: 'the request head is too large', where: 'HTTP front' },
  CT_ERR_HTTP_TOO_MANY_FIELDS: { status: 431, message: 'the request has too many header fields', where: 'HTTP front' },

  // Team API (and the admin listener's routes).
  CT_ERR_BAD_PATH: { status: 400, message: 'a path parameter is not valid percent-encoded UTF-8', where: 'Team API (before auth)' },
  CT_ERR_BAD_JSON: { status: 400, message: 'the body is not valid JSON', where: 'Team API, admin /blocks' },
  CT_ERR_BAD_REQUEST: { status: 400, message: 'the request is invalid', where: 'admin listener (a bad parameter)' },
  CT_ERR_VALIDATION: { status: 400, message: 'a field is missing or invalid', where: 'Team API, admin /blocks (the field is named)' },
  CT_ERR_UNAUTHORIZED: { status: 401, message: 'missing or invalid bearer token', where: 'Team API, admin listener' },
  CT_ERR_NOT_FOUND: { status: 404, message: 'not found', where: 'Team API (another team\'s resource too), admin listener' },
  CT_ERR_NOT_SERVED: { status: 404, message: 'clicktrail does not serve this endpoint of Lettermint\'s API', where: 'Team API: sending mail, sending domains, suppressions, team, messages (the area is in details)' },
  CT_ERR_METHOD_NOT_ALLOWED: { status: 405, message: 'method not allowed on this path', where: 'Team API, admin listener (with Allow)' },
  CT_ERR_DOMAIN_TAKEN: { status: 409, message: 'the hostname is another project\'s tracking domain', where: 'Team API' },
  CT_ERR_SID_TAKEN: { status: 409, message: 'the sid is used by another project', where: 'Team API, clicktrail init' },
  CT_ERR_ROUTE_SLUG_TAKEN: { status: 409, message: 'the slug is used by another route of the project', where: 'Team API (create a route)' },
  CT_ERR_MESSAGE_ID_TAKEN: { status: 409, message: 'message_id is used by another project; leave it out to get a new one', where: 'POST /v1/rewrite' },
  CT_ERR_WEBHOOK_DISABLED: { status: 409, message: 'the webhook is disabled; enable it first', where: 'POST /v1/webhooks/{id}/test' },
  CT_ERR_BODY_TOO_LARGE: { status: 413, message: 'the request body is too large', where: 'Team API, admin listener' },
  CT_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'send the body with Content-Type: application/json', where: 'Team API' },
  CT_ERR_ROUTE_INBOUND_TRACKING: { status: 422, message: 'inbound routes cannot track clicks: they receive mail, they do not send it', where: 'Team API, rewriting' },
  CT_ERR_DOMAIN_RESERVED: { status: 422, message: 'the hostname is one of the operator\'s tracking hostnames', where: 'Team API' },
  CT_ERR_RATE_LIMITED: { status: 429, message: 'too many requests; retry after the Retry-After delay', where: 'POST /v1/webhooks/{id}/test' },
  CT_ERR_STORE_UNAVAILABLE: { status: 503, message: 'storage is unavailable; retry later', where: 'Team API (ClickHouse or the network failed)' },
  CT_ERR_OUTBOX_FULL: { status: 503, message: 'the webhook outbox cannot take the delivery now; retry later', where: 'webhook /test and /redeliver' },

  // Team API reads: message events, stats, click exports (query parameters, not bodies).
  CT_ERR_QUERY_PARAM: { status: 400, message: 'a query parameter is unknown, repeated or invalid', where: 'Team API GET endpoints with query parameters (details.param names it)' },
  CT_ERR_CURSOR: { status: 400, message: 'the cursor is not one this endpoint issued', where: 'Team API cursor pagination (events, click exports)' },
  CT_ERR_RANGE: { status: 422, message: 'the time range is empty, reversed or longer than allowed', where: 'GET /v1/stats, click exports (details: from, to, max_days)' },
  CT_ERR_EXPORT_BUSY: { status: 429, message: 'too many click exports are running; retry after the Retry-After delay', where: 'streamed click exports (per team and per node)' },
  // The analytics API (POST /v1/analytics, clicktrail report): each code names the field at fault in details.field.
  CT_ERR_ANALYTICS_METRIC: { status: 422, message: 'a metric is unknown, or none was named', where: 'POST /v1/analytics: metrics' },
  CT_ERR_ANALYTICS_DIMENSION: { status: 422, message: 'a dimension is unknown, or is a filter-only dimension in group_by', where: 'POST /v1/analytics: group_by, filters.N.dimension' },
  CT_ERR_ANALYTICS_GROUP_BY: { status: 422, message: 'group_by has more than 3 dimensions, names one twice, or does not go with include', where: 'POST /v1/analytics: group_by' },
  CT_ERR_ANALYTICS_FILTER: { status: 422, message: 'a filter has an unknown operator, a value of the wrong kind, or too many filters or values', where: 'POST /v1/analytics: filters' },
  CT_ERR_ANALYTICS_RANGE: { status: 422, message: 'from/to is not a date or RFC 3339 time, ends before it starts, or spans more than 90 days', where: 'POST /v1/analytics: from, to' },
  CT_ERR_ANALYTICS_TIMEZONE: { status: 422, message: 'the time zone is not an IANA name', where: 'POST /v1/analytics: timezone' },
  CT_ERR_ANALYTICS_INTERVAL: { status: 422, message: 'interval is hour or day', where: 'POST /v1/analytics: interval' },
  CT_ERR_ANALYTICS_INCLUDE: { status: 422, message: 'include names summary, time_series or breakdown', where: 'POST /v1/analytics: include' },
  CT_ERR_ANALYTICS_COMPARE: { status: 422, message: 'compare is previous_period', where: 'POST /v1/analytics: compare' },
  CT_ERR_ANALYTICS_SORT: { status: 422, message: 'sort names one of the requested metrics and asc or desc', where: 'POST /v1/analytics: sort' },
  CT_ERR_ANALYTICS_LIMIT: { status: 422, message: 'limit is from 1 to 200 (and, with time_series in a breakdown, rows × points at most 50,000)', where: 'POST /v1/analytics: limit' },
  CT_ERR_ANALYTICS_CURSOR: { status: 422, message: 'the cursor is not one given out for this query', where: 'POST /v1/analytics: cursor' },
  CT_ERR_ANALYTICS_FORMAT: { status: 422, message: 'CSV answers breakdowns: include breakdown with group_by, or ask for JSON', where: 'POST /v1/analytics: format, Accept' },

  // Analyst SQL (admin listener).
  CT_ERR_SQL_REFUSED: { status: 400, message: 'only one SELECT over clicktrail\'s analytics tables is allowed', where: 'admin POST /sql (names what was refused)' },
  CT_ERR_SQL_FAILED: { status: 400, message: 'ClickHouse could not run the query', where: 'admin POST /sql' },
  CT_ERR_SQL_LIMIT: { status: 400, message: 'the query hit a limit (time, rows, bytes or memory)', where: 'admin POST /sql' },
  CT_ERR_SQL_BUSY: { status: 503, message: 'too many analyst queries are waiting; retry shortly', where: 'admin POST /sql' },

  // The worker pool and rewriting.
  CT_ERR_POOL_BUSY: { status: 503, message: 'the rewrite pool queue is full; retry shortly', where: 'rewriting, classification' },
  CT_ERR_POOL_WORKER: { status: 503, message: 'a pool worker died while running the task; the pool has replaced it', where: 'rewriting, classification' },
  CT_ERR_POOL_CLOSED: { status: 503, message: 'the pool is closed', where: 'rewriting, classification (shutting down)' },
  CT_ERR_POOL_TASK: { status: 400, message: 'the task is not one this pool runs', where: 'worker pool' },
  CT_ERR_POOL_TASK_FAILED: { status: 500, message: 'the task failed in the worker with an unexpected error', where: 'worker pool (a bug, reported with its message)' },
  CT_ERR_REWRITE_PARSE: { status: 422, message: 'the HTML could not be parsed for rewriting', where: 'rewriting' },
  CT_ERR_REWRITE_INTERNAL: { status: 500, message: 'the rewriter lost track of the document (a bug: the input is left unrewritten)', where: 'rewriting' },
  CT_ERR_MIME_PARSE: { status: 422, message: 'the message could not be parsed as MIME', where: 'POST /v1/rewrite/mime' },
  CT_ERR_REWRITE_TOO_MANY_RECIPIENTS: { status: 422, message: 'the request has more recipients than one rewrite may have', where: 'POST /v1/rewrite (--rewrite-max-recipients)' },
  CT_ERR_REWRITE_TOO_MANY_LINKS: { status: 422, message: 'the document has more links than one rewrite may have', where: 'rewriting (--rewrite-max-links)' },
  CT_ERR_REWRITE_TOO_MANY_TOKENS: { status: 422, message: 'links × recipients is more than one rewrite may mint and record', where: 'POST /v1/rewrite (--rewrite-max-tokens)' },
  CT_ERR_REWRITE_OUTPUT_TOO_LARGE: { status: 413, message: 'the rewritten messages would be larger than one answer may be', where: 'POST /v1/rewrite (--rewrite-max-output-bytes)' },

  // Webhooks.
  CT_ERR_WEBHOOK_ADDRESS: { status: 400, message: 'the webhook host resolves to a loopback, private, link-local, metadata or otherwise non-public address', where: 'webhook delivery (recorded in its history)' }
} as const satisfies Record<string, { status: number, message: string, where: string }>

export type ErrorCode = keyof typeof ERRORS

export interface ClicktrailErrorOptions extends ErrorOptions {
  /** Extra data for the client (`error.details` in the Team API), e.g. the field at fault. */
  details?: unknown
  /** Response headers that go with the answer (e.g. Retry-After). */
  headers?: Record<string, string>
}

/** One failure: its code, the status of that code, a message (the code's default unless given). */
export class ClicktrailError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly details: unknown
  readonly headers: Record<string, string> | undefined

  constructor (code: ErrorCode, message?: string, options?: ClicktrailErrorOptions) {
    super(message ?? ERRORS[code].message, options)
    this.name = 'ClicktrailError'
    this.code = code
    this.status = ERRORS[code].status
    this.details = options?.details
    this.headers = options?.headers
  }

  /** The code's default message, then `: detail` (for refusals that name what was wrong). */
  static detailed (code: ErrorCode, detail?: string, options?: ClicktrailErrorOptions): ClicktrailError {
    return new ClicktrailError(code, detail === undefined ? undefined : `${ERRORS[code].message}: ${detail}`, options)
  }
}

/** Whether `code` is one of ours (errors that crossed a thread boundary arrive as data). */
export function isErrorCode (code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code)
}

/** Codes of the table starting with `prefix`, in table order (docs and tests). */
export function codesWith (prefix: string): ErrorCode[] {
  return (Object.keys(ERRORS) as ErrorCode[]).filter(c => c.startsWith(prefix))
}
