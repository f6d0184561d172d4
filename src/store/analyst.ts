import type { ClickHouseClient } from '@clickhouse/client'

/*
 * The SQL the admin listener's analyst path sends (src/admin/sql.ts decides what may run):
 * ClickHouse's own parser, the schema's table list, and the analyst's query itself on its
 * own read-only session.
 */

/** The text parsed as exactly one statement and printed back by ClickHouse (comments gone). */
export async function formatQuery (client: ClickHouseClient, sql: string): Promise<string> {
  const rs = await client.query({ query: 'SELECT formatQuery({q:String}) AS f', query_params: { q: sql }, format: 'JSONEachRow' })
  const [row] = await rs.json<{ f: string }>()
  return row.f
}

/** ClickHouse's AST dump of a formatted statement (`text` comes from formatQuery). */
export async function explainAst (client: ClickHouseClient, text: string, params: Record<string, string>): Promise<string> {
  // exec: the text is sent as is (query() would append a FORMAT, which the parser would
  // attach to the explained query); default_format is the EXPLAIN's own output format.
  const r = await client.exec({ query: `EXPLAIN AST ${text}`, query_params: params, clickhouse_settings: { default_format: 'TabSeparatedRaw' } })
  const chunks: Buffer[] = []
  for await (const chunk of r.stream) chunks.push(Buffer.from(chunk as Buffer))
  return Buffer.concat(chunks).toString('utf8')
}

/** Names of the tables, views and dictionaries of `database`. */
export async function databaseTables (client: ClickHouseClient, database: string, settings: Record<string, string | number>): Promise<string[]> {
  const rs = await client.query({
    query: 'SELECT name FROM system.tables WHERE database = {db:String}',
    query_params: { db: database },
    format: 'JSONEachRow',
    clickhouse_settings: settings
  })
  return (await rs.json<{ name: string }>()).map(r => r.name)
}

/** Runs a checked analyst query, answered in `format`. */
export async function runAnalystQuery (client: ClickHouseClient, text: string, format: string, params: Record<string, string>, settings: Record<string, string | number>): Promise<string> {
  const rs = await client.query({ query: text, format: format as never, query_params: params, clickhouse_settings: settings })
  return await rs.text()
}
