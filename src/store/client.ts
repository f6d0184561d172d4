import { ClickHouseError, createClient, type ClickHouseClient } from '@clickhouse/client'
import { join } from 'node:path'
import { mkdirSync } from 'node:fs'
import type { Config } from '../config.js'
import { ClicktrailError } from '../errors.js'
import { ResettingChdbConnection, type SessionInit } from './chdb-session.js'
import { registerRawInsert } from './row-insert.js'

/**
 * The ClickHouse clients of one process. Every query and insert goes through
 * `@clickhouse/client`; what differs is the connection: the embedded engine (chdb,
 * in-process, one data path per process) or a server / cluster over HTTP.
 *
 * Three clients, because with chdb `clickhouse_settings` become `SET`s on the client's
 * session and stay in force for later calls: `writer` always passes its own
 * insert_deduplication_token; `reader` is read-only for good and serves clicktrail's own
 * reads (the Team API's delivery history); `analyst` is the admin listener's ad-hoc SQL
 * and nothing else, so what an operator's query does to its session (a failure, a
 * setting) never reaches a tenant's answer. With chdb each is its own session, replaced
 * after any failed call (see ResettingChdbConnection).
 */
export interface Store {
  kind: 'embedded' | 'remote'
  database: string
  writer: ClickHouseClient
  reader: ClickHouseClient
  /** Settings to send with every reader query (remote sessions do not keep them). */
  readerSettings: Record<string, string | number>
  /** Ad-hoc analyst SQL only (src/admin/sql.ts): readonly=1 and bounded, see ANALYST_LIMITS. */
  analyst: ClickHouseClient
  /** Settings to send with every analyst query (remote: each request is its own session). */
  analystSettings: Record<string, string | number>
  close (): Promise<void>
}

// clicktrail's own reads are read-only and bounded: they run on the same engine as ingest.
// readonly=2: no writes or DDL, but per-query limits may still be set; it comes last
// because chdb applies settings in order and a read-only session refuses later SETs.
// No JIT: ClickHouse compiles an aggregate or expression the third time it sees it, in that
// query, a one-time 100-300 ms stall of the analytics queries with no steady-state gain here
// (a tie within the noise of this 2-core machine; the stall is the p95 of bench/micro/analytics-queries.mjs).
const READER_SETTINGS = { max_execution_time: 30, max_result_rows: '100000', result_overflow_mode: 'throw', compile_aggregate_expressions: 0, compile_expressions: 0, readonly: '2' } as const
const COMMON_SETTINGS = { output_format_json_quote_64bit_integers: 1 } as const
/** Inserts through Distributed tables wait for the shards (see README, Running a cluster). */
export const CLUSTER_INSERT_SETTINGS = { distributed_foreground_insert: 1 } as const

/**
 * The bounds of one analyst query (the admin listener's SQL). It runs on the engine that
 * ingests clicks, so it may not take the process's memory (one unbounded query took it to
 * 13.8 GB) or a core for long. A query past a bound fails (result_overflow_mode=throw)
 * rather than answering a silently truncated result.
 */
export const ANALYST_LIMITS = {
  max_execution_time: 30,
  max_result_rows: 100_000,
  max_result_bytes: 64 * 1024 * 1024,
  max_memory_usage: 1024 * 1024 * 1024,
  result_overflow_mode: 'throw'
} as const
// Embedded: readonly=1 comes last and locks the session: no SET or SETTINGS clause can lift
// the limits afterwards, and the file, url and remote table functions are refused
// (measured, bench/micro/chdb-readonly.mjs), whatever the SQL checker lets through. INTO OUTFILE, USE and the file()
// function do work under readonly=1: those only the checker keeps out.
const ANALYST_SESSION: Record<string, string | number> = { ...COMMON_SETTINGS, ...stringify(ANALYST_LIMITS), readonly: 1 }
// Remote: the settings travel with each request. readonly=2 (not 1) because the same
// request sets the limits; the checker refuses SETTINGS clauses and SET statements.
const ANALYST_REMOTE: Record<string, string | number> = { ...stringify(ANALYST_LIMITS), readonly: '2' }

function stringify (o: Record<string, string | number>): Record<string, string> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)]))
}

export async function openStore (config: Config): Promise<Store> {
  const database = config.clickhouseDatabase
  if (config.clickhouseUrl === '') {
    const path = join(config.dataDir, 'clickhouse')
    mkdirSync(path, { recursive: true })
    // Loaded lazily and only here, on the main thread: chdb crashes the process when a
    // worker thread that loaded it exits (DESIGN.md), and remote set-ups never need it.
    const { createChdbConnection } = await import('chdb/connection')
    const session = (init: SessionInit[], defaults: Record<string, string | number> | undefined): ClickHouseClient => {
      const connection = new ResettingChdbConnection(() => createChdbConnection({ path }) as never, init)
      const client = createClient({ connection: connection as never, clickhouse_settings: defaults })
      registerRawInsert(client, async p => { await connection.rawInsert(p) })
      return client
    }
    const use = { query: `USE ${database}` }
    const writer = session([{ query: `CREATE DATABASE IF NOT EXISTS ${database}` }, use], COMMON_SETTINGS)
    // Sessions open lazily: open the writer's now, so a data path held by another process
    // fails here, at start-up.
    await writer.command({ query: 'SELECT 1' })
    const reader = session([use, { query: 'SELECT 1', clickhouse_settings: READER_SETTINGS }], COMMON_SETTINGS)
    // No per-query defaults: after readonly=1 any SET, even of an unchanged value, fails.
    const analyst = session([use, { query: 'SELECT 1', clickhouse_settings: ANALYST_SESSION }], undefined)
    await reader.command({ query: 'SELECT 1' })
    await analyst.command({ query: 'SELECT 1' })
    return {
      kind: 'embedded',
      database,
      writer,
      reader,
      readerSettings: {},
      analyst,
      analystSettings: {},
      async close () {
        await analyst.close()
        await reader.close()
        await writer.close()
        // chdb binds one data path per process and releases it only once operations that
        // were running at close() have finished: wait for that, so the next open succeeds.
        const chdb = await import('chdb') as { drainPending?: () => Promise<void> }
        await chdb.drainPending?.()
      }
    }
  }
  const base = {
    url: config.clickhouseUrl,
    username: config.clickhouseUser,
    password: config.clickhousePassword,
    request_timeout: config.insertTimeoutMs,
    clickhouse_settings: COMMON_SETTINGS,
    // The client logs every failed request to the console; failures are counted and
    // logged by the ingest pipeline instead.
    log: { level: 127 as never }
  }
  const bootstrap = createClient(base)
  try {
    await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` })
  } catch (err) {
    await bootstrap.close()
    throw new ClicktrailError('CT_ERR_STORE', `cannot reach ClickHouse at ${config.clickhouseUrl}: ${(err as Error).message}`, { cause: err })
  }
  await bootstrap.close()
  // On a cluster the writer inserts into the Distributed tables: foreground inserts answer
  // only once every shard has its part, so an acknowledged batch is stored (the spool drops
  // what ClickHouse acknowledged), and a retried batch splits the same way, so each shard's
  // insert_deduplication_token drops the repeat.
  const writer = createClient({ ...base, database, clickhouse_settings: config.clickhouseCluster === '' ? COMMON_SETTINGS : { ...COMMON_SETTINGS, ...CLUSTER_INSERT_SETTINGS } })
  const reader = createClient({ ...base, database })
  const analyst = createClient({ ...base, database, request_timeout: (ANALYST_LIMITS.max_execution_time + 5) * 1000 })
  return {
    kind: 'remote',
    database,
    writer,
    reader,
    readerSettings: { ...READER_SETTINGS },
    analyst,
    analystSettings: { ...ANALYST_REMOTE },
    async close () {
      await analyst.close()
      await reader.close()
      await writer.close()
    }
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'ENOTFOUND', 'EAI_AGAIN', 'ERR_SOCKET_CLOSED', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT'])

/**
 * Errors that come from ClickHouse or from the network under it, told by type and code:
 * clickhouse-js's ClickHouseError (numeric `code` and upper-case `type`, also as chdb
 * re-creates it from its own copy of the class), chdb's own errors (`CHDB_*` codes) and
 * Node's socket errors. Anything else is a bug and answers 500.
 */
export function isStoreFailure (err: unknown): boolean {
  let e = err as { code?: unknown, type?: unknown, cause?: unknown } | undefined
  for (let depth = 0; depth < 5 && e !== null && typeof e === 'object'; depth++) {
    if (e instanceof ClickHouseError) return true
    const code = e.code
    if (typeof code === 'string') {
      if (/^\d+$/.test(code) && typeof e.type === 'string' && /^[A-Z0-9_]+$/.test(e.type)) return true
      if (code.startsWith('CHDB_') || NETWORK_CODES.has(code)) return true
    }
    e = e.cause as typeof e
  }
  return false
}
