/**
 * Errors raised by the token module. The module imports nothing else of ours
 * (see DESIGN.md), so its error classes live here and `src/errors.ts` re-exports
 * them into the one table of stable codes.
 */
export class TokenError extends Error {
  readonly code: string
  readonly status: number
  constructor (code: string, message: string, status = 400) {
    super(message)
    this.name = 'TokenError'
    this.code = code
    this.status = status
  }
}

/** Codes a destination URL can be refused with at mint time. */
export const URL_ERRORS = {
  CT_ERR_URL_INVALID: 'destination is not an absolute URL',
  CT_ERR_URL_SCHEME: 'only http and https destinations can be tracked',
  CT_ERR_URL_CONTROL_CHARS: 'destination contains control characters or whitespace',
  CT_ERR_URL_USERINFO: 'destination carries user:password@ credentials',
  CT_ERR_URL_TOO_LONG: 'destination is longer than the configured limit',
  CT_ERR_URL_HOST: 'destination has no usable host',
  CT_ERR_URL_BACKSLASH: 'destination has a backslash before its query (browsers read it as a slash, a classic way to disguise the host)'
} as const

export type UrlErrorCode = keyof typeof URL_ERRORS

export class UrlRefusedError extends TokenError {
  constructor (code: UrlErrorCode, detail?: string) {
    super(code, detail === undefined ? URL_ERRORS[code] : `${URL_ERRORS[code]}: ${detail}`, 422)
    this.name = 'UrlRefusedError'
  }
}

/** Codes a token can be refused with when it is read. */
export const TOKEN_ERRORS = {
  CT_ERR_TOKEN_MALFORMED: 'token is not valid base64url or is truncated',
  CT_ERR_TOKEN_VERSION: 'token version is not supported',
  CT_ERR_TOKEN_KEY_UNKNOWN: 'token key id is not configured',
  CT_ERR_TOKEN_SIGNATURE: 'token signature does not verify',
  CT_ERR_TOKEN_PAYLOAD: 'token payload does not decode',
  CT_ERR_TOKEN_FIELDS: 'token fields are invalid'
} as const

export type TokenErrorCode = keyof typeof TOKEN_ERRORS

export class TokenRejectedError extends TokenError {
  constructor (code: TokenErrorCode) {
    super(code, TOKEN_ERRORS[code], 404)
    this.name = 'TokenRejectedError'
  }
}

export class KeyConfigError extends TokenError {
  constructor (message: string) {
    super('CT_ERR_CONFIG_SECRETS', message, 500)
    this.name = 'KeyConfigError'
  }
}
