import { randomUUID } from 'node:crypto'
import type { ClickHouseClient } from '@clickhouse/client'

/*
 * The control plane's SQL (src/control/ knows only these functions): its tables are tiny
 * ReplacingMergeTree(version, is_deleted) tables, read whole with FINAL; every write inserts
 * the whole row with a higher version. Rows come and go as ClickHouse's JSON shapes; the
 * control plane turns them into its records.
 */

export type Row = Record<string, unknown>

/** `table:max(version):count()` of each table, sorted: changes whenever any row does. */
export async function controlFingerprint (client: ClickHouseClient, tables: readonly string[]): Promise<string> {
  // One query for all tables; the table names are bound as Identifier parameters.
  const params: Record<string, string> = {}
  const parts = tables.map((table, i) => {
    params[`t${i}`] = table
    return `SELECT {t${i}:String} AS t, toString(max(version)) AS v, toString(count()) AS c FROM {t${i}:Identifier}`
  })
  const rows = await (await client.query({ query: parts.join(' UNION ALL '), query_params: params, format: 'JSONEachRow' })).json<{ t: string, v: string, c: string }>()
  return rows.sort((a, b) => a.t.localeCompare(b.t)).map(r => `${r.t}:${r.v}:${r.c}`).join(',')
}

/** Every live row of a table (the newest version of each key, deletions dropped), `version` included. */
export async function readControlTable (client: ClickHouseClient, table: string): Promise<Row[]> {
  return await (await client.query({
    query: 'SELECT * EXCEPT (is_deleted) FROM {table:Identifier} FINAL WHERE is_deleted = 0',
    query_params: { table },
    format: 'JSONEachRow'
  })).json<Row>()
}

/** Every live claim of `key` in a claims table (`column` is its key column). */
export async function readClaimRows (client: ClickHouseClient, table: string, column: string, key: string): Promise<Row[]> {
  return await (await client.query({
    query: 'SELECT * EXCEPT (is_deleted) FROM {table:Identifier} FINAL WHERE is_deleted = 0 AND {column:Identifier} = {key:String}',
    query_params: { table, column, key },
    format: 'JSONEachRow'
  })).json<Row>()
}

/** Inserts one version of a row (or its deletion). */
export async function insertControlRow (client: ClickHouseClient, table: string, row: object, version: number, deleted: boolean): Promise<void> {
  await client.insert({
    table,
    values: [{ ...row, version, is_deleted: deleted ? 1 : 0 }],
    format: 'JSONEachRow',
    // Each write its own token: with chdb a token set by an earlier insert on this session
    // would otherwise still be in force (and drop this row as a duplicate).
    clickhouse_settings: { insert_deduplication_token: randomUUID() }
  })
}

/** Whether a live project has this sid, asked of ClickHouse itself (not a snapshot). */
export async function projectExists (client: ClickHouseClient, sid: string, settings: Record<string, string | number> = {}): Promise<boolean> {
  const rows = await (await client.query({
    query: 'SELECT count() AS n FROM projects FINAL WHERE sid = {sid:String} AND is_deleted = 0',
    query_params: { sid },
    format: 'JSONEachRow',
    clickhouse_settings: settings
  })).json<{ n: string | number }>()
  return Number(rows[0]?.n ?? 0) > 0
}
