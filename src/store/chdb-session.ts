import type { Readable } from 'node:stream'
import { parseError } from '@clickhouse/client'
import type {
  ClickHouseSettings, Connection, ConnBaseQueryParams, ConnCommandResult, ConnExecParams, ConnExecResult,
  ConnInsertParams, ConnInsertResult, ConnPingParams, ConnPingResult, ConnQueryResult
} from '@clickhouse/client-common'

/** A statement run on every new session before it is used (USE, session settings). */
export interface SessionInit { query: string, clickhouse_settings?: ClickHouseSettings }

/** An insert whose rows are handed to chdb as bytes (see ResettingChdbConnection.rawInsert). */
export interface RawInsertParams {
  table: string
  columns?: readonly string[]
  format: 'JSONEachRow' | 'JSONCompactEachRow'
  values: Buffer
  /** Become the statement's SETTINGS clause (not session SETs). */
  settings?: Record<string, string | number>
}

interface ChdbExtension { rawInsert: (p: RawInsertParams) => Promise<unknown> }

/**
 * One chdb session that a failed statement cannot poison.
 *
 * Measured with chdb 3.4.0 (bench/micro/chdb-session.mjs): when a statement fails part-way (a multi-statement text whose
 * second statement throws, or a SELECT that throws after some blocks), the output it had
 * produced stays in the session and is returned as the prefix of the *next* answer on that
 * session — even to a query that was already queued behind it. A session is shared by
 * unrelated callers (the reader serves every team's delivery queries), so that is one
 * caller's rows inside another's answer.
 *
 * So calls run one at a time (the session runs them one at a time anyway: no throughput is
 * lost), and after any failed call the session is closed and a new one opened on the same
 * data path, with `init` (USE, session settings) run again, before the next call starts.
 * Opening a session costs about 3 ms (measured: 10 open+USE+SELECT+close in
 * 28 ms, 2.5–3.2 ms each beside an open session in bench/micro/chdb-session.mjs).
 */
export class ResettingChdbConnection implements Connection<Readable> {
  readonly #open: () => Connection<Readable>
  readonly #init: readonly SessionInit[]
  #inner: Connection<Readable> | undefined
  #tail: Promise<void> = Promise.resolve()
  #closed = false
  /** Sessions replaced after a failure: for tests and diagnostics. */
  resets = 0

  constructor (open: () => Connection<Readable>, init: readonly SessionInit[] = []) {
    this.#open = open
    this.#init = init
  }

  async #session (): Promise<Connection<Readable>> {
    if (this.#inner !== undefined) return this.#inner
    const c = this.#open()
    try {
      for (const s of this.#init) await c.command({ query: s.query, clickhouse_settings: s.clickhouse_settings })
    } catch (err) {
      await c.close()
      throw err
    }
    this.#inner = c
    return c
  }

  /** Runs `work` after every call queued before it has settled. */
  async #turn<T> (work: () => Promise<T>): Promise<T> {
    const before = this.#tail
    let release!: () => void
    this.#tail = new Promise(resolve => { release = resolve })
    await before
    try {
      return await work()
    } finally {
      release()
    }
  }

  async #serial<T> (call: (c: Connection<Readable>) => Promise<T>): Promise<T> {
    return await this.#turn(async () => {
      if (this.#closed) throw new Error('ChdbConnection is closed')
      const c = await this.#session()
      try {
        return await call(c)
      } catch (err) {
        // What the failed statement left in the session must not reach the next caller.
        this.#inner = undefined
        this.resets++
        await c.close().catch(() => {})
        throw err
      }
    })
  }

  async query (params: ConnBaseQueryParams): Promise<ConnQueryResult<Readable>> { return await this.#serial(async c => await c.query(params)) }
  async exec (params: ConnExecParams<Readable>): Promise<ConnExecResult<Readable>> { return await this.#serial(async c => await c.exec(params)) }
  async command (params: ConnBaseQueryParams): Promise<ConnCommandResult> { return await this.#serial(async c => await c.command(params)) }
  async insert (params: ConnInsertParams<Readable>): Promise<ConnInsertResult> { return await this.#serial(async c => await c.insert(params)) }

  /**
   * chdb's raw insert (chdb/connection's `.chdb.rawInsert`): the payload goes to the engine
   * as bytes, zero-copy, behind an `INSERT INTO t (…) SETTINGS … FORMAT f` prefix, where the
   * Connection contract's insert and exec concatenate it into one SQL string (a copy of the
   * whole batch on the main thread, and another when chdb converts the string); the settings
   * hold for this statement only. Its errors come back as ClickHouseErrors (code and type,
   * as the other calls' do), so that the quarantine tells refused rows from a failing store.
   */
  async rawInsert (params: RawInsertParams): Promise<void> {
    await this.#serial(async c => {
      const ext = (c as unknown as { chdb?: ChdbExtension }).chdb
      if (typeof ext?.rawInsert !== 'function') throw new Error('rawInsert needs a chdb connection')
      try {
        await ext.rawInsert(params)
      } catch (err) {
        const mapped = parseError(err instanceof Error ? err.message : String(err))
        if (mapped !== err) (mapped as Error & { cause?: unknown }).cause = err
        throw mapped
      }
    })
  }

  async ping (params: ConnPingParams): Promise<ConnPingResult> {
    try {
      return await this.#serial(async c => {
        const r = await c.ping(params)
        if (!r.success) throw r.error
        return r
      })
    } catch (err) {
      return { success: false, error: err instanceof Error ? err : new Error(String(err)) }
    }
  }

  async close (): Promise<void> {
    await this.#turn(async () => {
      this.#closed = true
      const c = this.#inner
      this.#inner = undefined
      await c?.close()
    })
  }
}
