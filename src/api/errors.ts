import { ClicktrailError } from '../errors.js'

/*
 * The Team API's refusals, as shorthand: each is a ClicktrailError whose code (and so its
 * status) comes from the one table in src/errors.ts; the message says what exactly.
 */
export const badJson = (message: string): ClicktrailError => new ClicktrailError('CT_ERR_BAD_JSON', message)
export const invalid = (message: string, details?: unknown): ClicktrailError => new ClicktrailError('CT_ERR_VALIDATION', message, { details })
export const unauthorized = (): ClicktrailError => new ClicktrailError('CT_ERR_UNAUTHORIZED')
// Another team's resource is "not found": never reveal that it exists.
export const notFound = (what: string): ClicktrailError => new ClicktrailError('CT_ERR_NOT_FOUND', `${what} not found`)
export const tooLarge = (limit: number): ClicktrailError => new ClicktrailError('CT_ERR_BODY_TOO_LARGE', `request body is larger than ${limit} bytes`)
export const unsupportedMediaType = (accepted: readonly string[] = ['application/json']): ClicktrailError => new ClicktrailError('CT_ERR_UNSUPPORTED_MEDIA_TYPE', `send the body with Content-Type: ${accepted.join(' or ')}`)
export const badPath = (name: string): ClicktrailError => new ClicktrailError('CT_ERR_BAD_PATH', `path parameter ${name} is not valid percent-encoded UTF-8`)
export const methodNotAllowed = (allowed: string): ClicktrailError => new ClicktrailError('CT_ERR_METHOD_NOT_ALLOWED', `this endpoint answers ${allowed}`)
export const internal = (): ClicktrailError => new ClicktrailError('CT_ERR_INTERNAL')
export const messageIdTaken = (): ClicktrailError => new ClicktrailError('CT_ERR_MESSAGE_ID_TAKEN')
export const inboundTracking = (): ClicktrailError => new ClicktrailError('CT_ERR_ROUTE_INBOUND_TRACKING')
export const unavailable = (message?: string): ClicktrailError => new ClicktrailError('CT_ERR_STORE_UNAVAILABLE', message)
