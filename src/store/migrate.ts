import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { ClickHouseClient } from '@clickhouse/client'
import { ClicktrailError } from '../errors.js'

/** `sql/` at the repository root: the same depth from src/store and dist/store. */
export const SQL_DIR = resolve(import.meta.dirname, '..', '..', 'sql')

export interface Migration {
  version: number
  name: string
  file: string
  sql: string
  checksum: string
}

/** `NNN_name.sql` files of `dir`, in version order. */
export function readMigrations (dir = SQL_DIR): Migration[] {
  const out: Migration[] = []
  for (const file of readdirSync(dir).sort()) {
    const m = /^(\d{3,})_([a-z0-9_]+)\.sql$/.exec(file)
    if (m === null) continue
    const sql = readFileSync(join(dir, file), 'utf8')
    out.push({ version: Number(m[1]), name: m[2], file, sql, checksum: createHash('sha256').update(sql).digest('hex').slice(0, 16) })
  }
  for (let i = 1; i < out.length; i++) {
    if (out[i].version === out[i - 1].version) throw new ClicktrailError('CT_ERR_MIGRATION', `two migrations have version ${out[i].version}`)
  }
  return out
}

/**
 * Statements of a migration file: split at `;` ending a line. Our files keep one
 * statement per `;`-terminated block and no `;` at a line end inside strings.
 */
export function statements (sql: string): string[] {
  const withoutComments = sql.split('\n').filter(line => !/^\s*--/.test(line)).join('\n')
  return withoutComments.split(/;\s*$/m).map(s => s.trim()).filter(s => s !== '')
}

/**
 * Applies every migration not yet recorded in `schema_migrations`, in order, and records
 * it. Version 0 (the ledger itself) is idempotent DDL and always runs first. A recorded
 * migration whose file changed since is reported, never re-applied.
 */
export async function migrate (client: ClickHouseClient, dir = SQL_DIR): Promise<{ applied: string[], skipped: string[], changed: string[] }> {
  const all = readMigrations(dir)
  const ledger = all.find(m => m.version === 0)
  if (ledger === undefined) throw new ClicktrailError('CT_ERR_MIGRATION', `${dir} has no 000_*.sql ledger migration`)
  for (const s of statements(ledger.sql)) await client.command({ query: s })
  const rows = await (await client.query({ query: 'SELECT version, checksum FROM schema_migrations', format: 'JSONEachRow' })).json<{ version: number, checksum: string }>()
  const done = new Map(rows.map(r => [Number(r.version), r.checksum]))
  const applied: string[] = []
  const skipped: string[] = []
  const changed: string[] = []
  for (const m of all) {
    if (m.version === 0) continue
    const recorded = done.get(m.version)
    if (recorded !== undefined) {
      skipped.push(m.file)
      if (recorded !== m.checksum) changed.push(m.file)
      continue
    }
    for (const s of statements(m.sql)) {
      try {
        await client.command({ query: s })
      } catch (err) {
        throw new ClicktrailError('CT_ERR_MIGRATION', `${m.file} failed: ${(err as Error).message.split('\n')[0]}`, { cause: err })
      }
    }
    await client.insert({
      table: 'schema_migrations',
      values: [{ version: m.version, name: m.name, checksum: m.checksum }],
      format: 'JSONEachRow',
      // A unique token: with chdb a token set earlier on this session would otherwise
      // still be in force and could drop this row as a duplicate.
      clickhouse_settings: { insert_deduplication_token: `migration-${m.version}-${m.checksum}` }
    })
    applied.push(m.file)
  }
  return { applied, skipped, changed }
}
