/**
 * Every failure clicktrail reports, with a stable `code` callers branch on (never the
 * message text) and, where it reaches an HTTP client, a status.
 */
export { TokenError, UrlRefusedError, TokenRejectedError, KeyConfigError, URL_ERRORS, TOKEN_ERRORS } from './token/errors.js'

export class ClicktrailError extends Error {
  readonly code: string
  readonly status: number
  constructor (code: string, message: string, status = 500, options?: ErrorOptions) {
    super(message, options)
    this.name = 'ClicktrailError'
    this.code = code
    this.status = status
  }
}

/** A configuration option is missing or invalid; the message names the option. */
export class ConfigError extends ClicktrailError {
  constructor (message: string) {
    super('CT_ERR_CONFIG', message, 500)
    this.name = 'ConfigError'
  }
}

/** A command line could not be understood (exit status 2). */
export class UsageError extends ClicktrailError {
  constructor (message: string) {
    super('CT_ERR_USAGE', message, 400)
    this.name = 'UsageError'
  }
}

/** The native uWebSockets.js binding did not load; its JS fallback is far too slow to run. */
export class NativeBindingError extends ClicktrailError {
  constructor (message: string) {
    super('CT_ERR_UWS_NATIVE', message, 500)
    this.name = 'NativeBindingError'
  }
}

/** The server could not bind its port. */
export class ListenError extends ClicktrailError {
  constructor (message: string) {
    super('CT_ERR_LISTEN', message, 500)
    this.name = 'ListenError'
  }
}
