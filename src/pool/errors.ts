import { ClicktrailError } from '../errors.js'

/** Codes of the worker pool itself (stable; an API answers them with their status). */
export const POOL_ERRORS = {
  CT_ERR_POOL_BUSY: 'the rewrite pool queue is full; retry shortly',
  CT_ERR_POOL_WORKER: 'a pool worker died while running the task; the pool has replaced it',
  CT_ERR_POOL_CLOSED: 'the pool is closed',
  CT_ERR_POOL_TASK: 'the task is not one this pool runs',
  CT_ERR_POOL_TASK_FAILED: 'the task failed in the worker with an unexpected error'
} as const

export type PoolErrorCode = keyof typeof POOL_ERRORS

const STATUS: Record<PoolErrorCode, number> = {
  CT_ERR_POOL_BUSY: 503,
  CT_ERR_POOL_WORKER: 503,
  CT_ERR_POOL_CLOSED: 503,
  CT_ERR_POOL_TASK: 400,
  CT_ERR_POOL_TASK_FAILED: 500
}

/** The pool could not run a task (503s are worth retrying). */
export class PoolError extends ClicktrailError {
  constructor (code: PoolErrorCode, detail?: string, options?: ErrorOptions) {
    super(code, detail === undefined ? POOL_ERRORS[code] : `${POOL_ERRORS[code]}: ${detail}`, STATUS[code], options)
    this.name = 'PoolError'
  }
}

/**
 * A task that ran and failed in a worker, re-created on this side with the code and
 * status it had there (CT_ERR_REWRITE_PARSE, CT_ERR_MIME_PARSE, CT_ERR_TOKEN_FIELDS, …):
 * error classes do not survive the thread boundary, their codes do.
 */
export class WorkerTaskError extends ClicktrailError {
  constructor (code: string, message: string, status: number) {
    super(code, message, status)
    this.name = 'WorkerTaskError'
  }
}
