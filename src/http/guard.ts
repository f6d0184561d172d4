import type { HttpRequest, HttpResponse } from 'uWebSockets.js'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'

type Handler = (res: HttpResponse, req: HttpRequest) => void

const INTERNAL_BODY = JSON.stringify({ error: { code: 'CT_ERR_INTERNAL', message: 'internal error; it has been logged' } })

/**
 * Wraps a uWS route handler so that nothing it throws can end the process: uWS calls
 * handlers from C++, where an exception becomes an uncaught one. The error is logged
 * (rate-limited) and, if the response was not sent yet, answered 500 CT_ERR_INTERNAL.
 * Errors of work that continues asynchronously are the handler's own to catch.
 */
export function guard (log: Logger, listener: string, handler: Handler): Handler {
  return (res, req) => {
    try {
      handler(res, req)
    } catch (err) {
      limited(log).error(`${listener}.handler_error`, { listener, err }, 'request handler failed; answered 500')
      answerInternalError(res)
    }
  }
}

/** 500 CT_ERR_INTERNAL, unless the response is gone (sent or aborted: uWS then throws). */
export function answerInternalError (res: HttpResponse): void {
  try {
    res.cork(() => {
      res.writeStatus('500 Internal Server Error').writeHeader('Content-Type', 'application/json').writeHeader('Cache-Control', 'no-store').end(INTERNAL_BODY)
    })
  } catch { /* already answered or aborted */ }
}
