import { ClicktrailError } from '../errors.js'

/** Errors of the Team API: `{"error": {"code", "message"}}` with the status below. */
export class ApiError extends ClicktrailError {
  readonly details: unknown
  constructor (code: string, message: string, status: number, details?: unknown) {
    super(code, message, status)
    this.name = 'ApiError'
    this.details = details
  }
}

export const badJson = (message: string): ApiError => new ApiError('CT_ERR_BAD_JSON', message, 400)
export const invalid = (message: string, details?: unknown): ApiError => new ApiError('CT_ERR_VALIDATION', message, 400, details)
export const unauthorized = (): ApiError => new ApiError('CT_ERR_UNAUTHORIZED', 'missing or invalid bearer token', 401)
// Another team's resource is "not found": never reveal that it exists.
export const notFound = (what: string): ApiError => new ApiError('CT_ERR_NOT_FOUND', `${what} not found`, 404)
export const conflict = (code: string, message: string): ApiError => new ApiError(code, message, 409)
export const tooLarge = (limit: number): ApiError => new ApiError('CT_ERR_BODY_TOO_LARGE', `request body is larger than ${limit} bytes`, 413)
export const unsupportedMediaType = (accepted: readonly string[] = ['application/json']): ApiError => new ApiError('CT_ERR_UNSUPPORTED_MEDIA_TYPE', `send the body with Content-Type: ${accepted.join(' or ')}`, 415)
export const badPath = (name: string): ApiError => new ApiError('CT_ERR_BAD_PATH', `path parameter ${name} is not valid percent-encoded UTF-8`, 400)
export const methodNotAllowed = (allowed: string): ApiError => new ApiError('CT_ERR_METHOD_NOT_ALLOWED', `this endpoint answers ${allowed}`, 405)
export const internal = (): ApiError => new ApiError('CT_ERR_INTERNAL', 'internal error; it has been logged', 500)
export const messageIdTaken = (): ApiError => new ApiError('CT_ERR_MESSAGE_ID_TAKEN', 'message_id is used by another project; leave it out to get a new one', 409)
export const inboundTracking = (): ApiError => new ApiError('CT_ERR_ROUTE_INBOUND_TRACKING', 'inbound routes cannot track clicks: they receive mail, they do not send it', 422)
export const unavailable = (message: string): ApiError => new ApiError('CT_ERR_STORE_UNAVAILABLE', message, 503)

/** Every API error code, for the docs and the errors test. */
export const API_ERROR_CODES = [
  'CT_ERR_BAD_JSON', 'CT_ERR_VALIDATION', 'CT_ERR_UNAUTHORIZED', 'CT_ERR_NOT_FOUND', 'CT_ERR_METHOD_NOT_ALLOWED',
  'CT_ERR_DOMAIN_TAKEN', 'CT_ERR_SID_TAKEN', 'CT_ERR_BODY_TOO_LARGE', 'CT_ERR_UNSUPPORTED_MEDIA_TYPE',
  'CT_ERR_ROUTE_INBOUND_TRACKING', 'CT_ERR_STORE_UNAVAILABLE', 'CT_ERR_WEBHOOK_DISABLED', 'CT_ERR_INTERNAL',
  'CT_ERR_BAD_PATH', 'CT_ERR_MESSAGE_ID_TAKEN', 'CT_ERR_DOMAIN_RESERVED', 'CT_ERR_RATE_LIMITED', 'CT_ERR_OUTBOX_FULL'
] as const
