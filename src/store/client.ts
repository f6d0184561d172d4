import { createClient, type ClickHouseClient } from '@clickhouse/client'
import { join } from 'node:path'
import { mkdirSync } from 'node:fs'
import type { Config } from '../config.js'
import { ClicktrailError } from '../errors.js'

/**
 * The ClickHouse clients of one process. Every query and insert goes through
 * `@clickhouse/client`; what differs is the connection: the embedded engine (chdb,
 * in-process, one data path per process) or a server / cluster over HTTP.
 *
 * Two clients, because with chdb `clickhouse_settings` become `SET`s on the client's
 * session and stay in force for later calls: `writer` always passes its own
 * insert_deduplication_token, and `reader` is read-only for good (ad-hoc analyst SQL).
 */
export interface Store {
  kind: 'embedded' | 'remote'
  database: string
  writer: ClickHouseClient
  reader: ClickHouseClient
  /** Settings to send with every analyst query (remote sessions do not keep them). */
  readerSettings: Record<string, string | number>
  close (): Promise<void>
}

export class StoreError extends ClicktrailError {
  constructor (message: string, options?: ErrorOptions) {
    super('CT_ERR_STORE', message, 503, options)
    this.name = 'StoreError'
  }
}

// Analyst queries are read-only and bounded: they run on the same engine as ingest.
// readonly=2: no writes or DDL, but per-query limits may still be set; it comes last
// because chdb applies settings in order and a read-only session refuses later SETs.
const READER_SETTINGS = { max_execution_time: 30, max_result_rows: '100000', result_overflow_mode: 'throw', readonly: '2' } as const
const COMMON_SETTINGS = { output_format_json_quote_64bit_integers: 1 } as const

export async function openStore (config: Config): Promise<Store> {
  const database = config.clickhouseDatabase
  if (config.clickhouseUrl === '') {
    const path = join(config.dataDir, 'clickhouse')
    mkdirSync(path, { recursive: true })
    // Loaded lazily and only here, on the main thread: chdb crashes the process when a
    // worker thread that loaded it exits (DESIGN.md), and remote set-ups never need it.
    const { createChdbConnection } = await import('chdb/connection')
    const connect = (): ClickHouseClient => createClient({
      connection: createChdbConnection({ path }) as never,
      clickhouse_settings: COMMON_SETTINGS
    })
    const writer = connect()
    await writer.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` })
    await writer.command({ query: `USE ${database}` })
    const reader = connect()
    await reader.command({ query: `USE ${database}` })
    await reader.command({ query: 'SELECT 1', clickhouse_settings: READER_SETTINGS })
    return {
      kind: 'embedded',
      database,
      writer,
      reader,
      readerSettings: {},
      async close () {
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
    throw new StoreError(`cannot reach ClickHouse at ${config.clickhouseUrl}: ${(err as Error).message}`, { cause: err })
  }
  await bootstrap.close()
  const writer = createClient({ ...base, database })
  const reader = createClient({ ...base, database })
  return {
    kind: 'remote',
    database,
    writer,
    reader,
    readerSettings: { ...READER_SETTINGS },
    async close () {
      await reader.close()
      await writer.close()
    }
  }
}
