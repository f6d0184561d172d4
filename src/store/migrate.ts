import type { ClickHouseClient } from '@clickhouse/client'
import { ClicktrailError } from '../errors.js'
import { readMigrations, renderStatements, SQL_DIR } from './schema.js'

export { readMigrations, statements, SQL_DIR, type Migration } from './schema.js'

/**
 * Applies every migration not yet recorded in `schema_migrations`, in order, and records
 * it. Version 0 (the ledger itself) is idempotent DDL and always runs first. A recorded
 * migration whose file changed since is reported, never re-applied. With `cluster`, the
 * statements are rendered for it (src/store/schema.ts) and the ledger is replicated on every
 * node: a migration is applied once, by whichever node migrates first, and seen by all.
 */
export async function migrate (client: ClickHouseClient, dir = SQL_DIR, cluster = ''): Promise<{ applied: string[], skipped: string[], changed: string[] }> {
  const all = readMigrations(dir)
  const ledger = all.find(m => m.version === 0)
  if (ledger === undefined) throw new ClicktrailError('CT_ERR_MIGRATION', `${dir} has no 000_*.sql ledger migration`)
  // Rendered before anything runs: a migration with no cluster form stops here, not half-way.
  const rendered = new Map(all.map(m => [m.version, renderStatements(m, cluster)]))
  for (const s of rendered.get(0) ?? []) await client.command({ query: s })
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
    for (const s of rendered.get(m.version) ?? []) {
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
