import { createHash } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ClicktrailError } from '../errors.js'

/*
 * One schema, two layouts. The migrations of sql/ are written for one node (the embedded
 * engine or one server) and applied as they are. With a cluster name they are rendered for
 * ClickHouse's own replication and sharding:
 *
 * - data tables (observations, messages, clicks and their aggregates, webhook history,
 *   quarantine) become `<name>_local` with a Replicated* engine on every shard, and `<name>`
 *   becomes a Distributed table over them, so every query and insert of clicktrail names the
 *   same table in both layouts. The sharding key keeps a message's rows on one shard
 *   (observations, messages, links, clicks, per-message and per-link aggregates), a webhook's
 *   history on one shard, and spreads the rest.
 * - materialized views are created on the local tables of each shard: an insert through a
 *   Distributed table lands on a shard's local table, and that shard's view aggregates it into
 *   its own local aggregate; reads through the Distributed aggregate merge the shards.
 * - control-plane tables (teams, tokens, projects, routes, webhooks, claims, blocks, key
 *   fingerprints, promotion state, the migrations ledger) are small and read whole by every
 *   node: replicated on every node of the cluster (one replica path for all shards), never
 *   sharded.
 * - every DDL statement runs ON CLUSTER (ClickHouse's distributed DDL queue through Keeper);
 *   INSERT … SELECT of a data migration runs once, on the node that migrates.
 *
 * A statement this renderer does not know is refused (CT_ERR_MIGRATION) rather than applied
 * to one node only: a new migration gets its cluster form by fitting these rules, checked by
 * test/store/schema.test.ts with ClickHouse's own parser.
 */

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

/** Tables held whole by every node: replicated on all of them, not sharded. */
export const REPLICATED_EVERYWHERE = new Set([
  'schema_migrations', 'teams', 'api_tokens', 'projects', 'routes', 'webhooks', 'tracking_domains',
  'sid_claims', 'domain_claims', 'key_fingerprints', 'blocks', 'promotion_state',
  // Promotion partitions (060): node heartbeats and partition leases.
  'promotion_nodes', 'promotion_leases',
  // Late evidence (040): small, per node or global.
  'reclassification_batches', 'late_evidence_state'
])

/** Sharded tables and the Distributed table's sharding key. */
export const SHARDING_KEYS: Record<string, string> = {
  click_observations: 'cityHash64(message_id)',
  messages: 'cityHash64(message_id)',
  message_links: 'cityHash64(message_id)',
  clicks: 'cityHash64(message_id)',
  clicks_by_message: 'cityHash64(message_id)',
  clicks_by_link: 'cityHash64(message_id)',
  clicks_by_tag_day: 'rand()',
  // The analytics views (014, redone by 030): per-recipient rows on their message's shard.
  analytics_recipients: 'cityHash64(message_id)',
  analytics_recipient_links: 'cityHash64(message_id)',
  analytics_recipient_days: 'cityHash64(message_id)',
  analytics_first_clicks: 'cityHash64(message_id)',
  analytics_link_totals: 'cityHash64(message_id)',
  analytics_recipient_hours: 'cityHash64(message_id)',
  // Dropped by 030 (006's become plain views over clicks).
  analytics_daily: 'rand()',
  analytics_hourly: 'rand()',
  clicks_by_day: 'rand()',
  webhook_events: 'cityHash64(webhook_id)',
  webhook_deliveries: 'cityHash64(webhook_id)',
  quarantine: 'rand()'
}

/** Where replicas keep a table in Keeper: per shard for sharded tables, one path for tables on every node. */
export const SHARD_PATH = "'/clickhouse/tables/{shard}/{database}/{table}'"
export const EVERYWHERE_PATH = "'/clickhouse/tables/all/{database}/{table}'"
const REPLICA = "'{replica}'"

export interface RenderedMigration { migration: Migration, statements: string[] }

/** The statements of every migration of `dir`, for one node (`cluster` empty: as written) or for `cluster`. */
export function renderSchema (cluster = '', dir = SQL_DIR): RenderedMigration[] {
  if (cluster !== '' && !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(cluster)) throw new ClicktrailError('CT_ERR_CONFIG', `cluster name "${cluster}" must be an identifier [A-Za-z_][A-Za-z0-9_]*`)
  return readMigrations(dir).map(m => ({ migration: m, statements: renderStatements(m, cluster) }))
}

/** One migration's statements in the chosen layout. */
export function renderStatements (m: Migration, cluster: string): string[] {
  const plain = statements(m.sql)
  if (cluster === '') return plain
  const out: string[] = []
  for (const s of plain) {
    try {
      out.push(...clusterStatement(s, cluster))
    } catch (err) {
      throw new ClicktrailError('CT_ERR_MIGRATION', `${m.file}: ${(err as Error).message}`, { cause: err })
    }
  }
  return out
}

const CREATE_TABLE = /^CREATE TABLE IF NOT EXISTS ([a-z_][a-z0-9_]*)\s*\n([\s\S]*?)\nENGINE = ([A-Za-z]*MergeTree)(?:\(([^)]*)\))?([\s\S]*)$/
const CREATE_MV = /^CREATE MATERIALIZED VIEW IF NOT EXISTS ([a-z_][a-z0-9_]*) TO ([a-z_][a-z0-9_]*) AS\s([\s\S]*)$/
const ALTER = /^ALTER TABLE ([a-z_][a-z0-9_]*) ([\s\S]*)$/
const RENAME = /^RENAME TABLE ([a-z_][a-z0-9_]*) TO ([a-z_][a-z0-9_]*)$/
const DROP = /^DROP (TABLE|VIEW) IF EXISTS ([a-z_][a-z0-9_]*)$/
const CREATE_VIEW = /^CREATE VIEW IF NOT EXISTS ([a-z_][a-z0-9_]*) AS\s([\s\S]*)$/
/** ALTER commands that change columns: the Distributed table's columns must follow its local table's. */
const COLUMN_CHANGE = /^(ADD|DROP|MODIFY|RENAME|COMMENT) COLUMN\b/

function clusterStatement (s: string, cluster: string): string[] {
  const on = `ON CLUSTER ${cluster}`
  let m: RegExpExecArray | null
  if ((m = CREATE_TABLE.exec(s)) !== null) {
    const [, name, columns, engine, args, rest] = m
    const key = SHARDING_KEYS[name]
    if (REPLICATED_EVERYWHERE.has(name)) {
      return [`CREATE TABLE IF NOT EXISTS ${name} ${on}\n${columns}\nENGINE = ${replicated(engine, EVERYWHERE_PATH, args)}${replicatedSettings(rest)}`]
    }
    if (key === undefined) throw new Error(`table ${name} is neither sharded (SHARDING_KEYS) nor replicated everywhere (REPLICATED_EVERYWHERE): say which in src/store/schema.ts`)
    return [
      `CREATE TABLE IF NOT EXISTS ${name}_local ${on}\n${columns}\nENGINE = ${replicated(engine, SHARD_PATH, args)}${replicatedSettings(rest)}`,
      `CREATE TABLE IF NOT EXISTS ${name} ${on} AS ${name}_local\nENGINE = Distributed(${cluster}, currentDatabase(), ${name}_local, ${key})`
    ]
  }
  if ((m = CREATE_MV.exec(s)) !== null) {
    const [, name, target, select] = m
    if (SHARDING_KEYS[target] === undefined) throw new Error(`materialized view ${name} writes to ${target}, which is not a sharded table`)
    return [`CREATE MATERIALIZED VIEW IF NOT EXISTS ${name} ${on} TO ${target}_local AS\n${localSources(select)}`]
  }
  if ((m = ALTER.exec(s)) !== null) {
    const [, name, command] = m
    if (REPLICATED_EVERYWHERE.has(name)) return [`ALTER TABLE ${name} ${on} ${command}`]
    if (SHARDING_KEYS[name] === undefined) throw new Error(`ALTER of ${name}, which is neither sharded nor replicated everywhere`)
    const out = [`ALTER TABLE ${name}_local ${on} ${command}`]
    if (COLUMN_CHANGE.test(command)) out.push(`ALTER TABLE ${name} ${on} ${command}`)
    return out
  }
  if ((m = RENAME.exec(s)) !== null) {
    const [, from, to] = m
    if (!REPLICATED_EVERYWHERE.has(from)) throw new Error(`RENAME of ${from}: only tables replicated everywhere can be renamed by a migration`)
    return [`RENAME TABLE ${from} TO ${to} ${on}`]
  }
  if ((m = DROP.exec(s)) !== null) {
    // A sharded table goes with its local tables; a view (materialized: on the shards) by its name.
    const [, kind, name] = m
    if (kind === 'TABLE' && SHARDING_KEYS[name] !== undefined) return [`DROP TABLE IF EXISTS ${name} ${on}`, `DROP TABLE IF EXISTS ${name}_local ${on}`]
    return [`DROP ${kind} IF EXISTS ${name} ${on}`]
  }
  // A plain view reads the Distributed tables: the whole cluster's rows.
  if ((m = CREATE_VIEW.exec(s)) !== null) return [`CREATE VIEW IF NOT EXISTS ${m[1]} ${on} AS\n${m[2]}`]
  // A data migration: once, on the node that migrates; the tables it writes replicate.
  if (/^INSERT INTO [a-z_][a-z0-9_]*\s/.test(s)) return [s]
  throw new Error(`no cluster form for the statement "${s.split('\n')[0]}"`)
}

/** `MergeTree` + its arguments → `ReplicatedMergeTree(path, replica, …arguments)`. */
function replicated (engine: string, path: string, args: string | undefined): string {
  const rest = args === undefined || args.trim() === '' ? '' : `, ${args.trim()}`
  return `Replicated${engine}(${path}, ${REPLICA}${rest})`
}

/** Replicated tables deduplicate with replicated_deduplication_window: the non-replicated setting does not apply. */
function replicatedSettings (rest: string): string {
  return rest.replace(/non_replicated_deduplication_window\b/g, 'replicated_deduplication_window')
}

/** A view's SELECT reads the shard's local tables: `FROM clicks` → `FROM clicks_local`. */
function localSources (select: string): string {
  return select.replace(/\b(FROM|JOIN)\s+([a-z_][a-z0-9_]*)\b/g, (whole, kw: string, table: string) =>
    SHARDING_KEYS[table] === undefined ? whole : `${kw} ${table}_local`)
}

/** The schema as text: every migration's statements, each ended with `;`, under a comment naming its file. */
export function schemaText (cluster = '', dir = SQL_DIR): string {
  const parts: string[] = []
  for (const r of renderSchema(cluster, dir)) {
    parts.push(`-- ${r.migration.file}${cluster === '' ? '' : ` (cluster ${cluster})`}`)
    for (const s of r.statements) parts.push(`${s};\n`)
  }
  return parts.join('\n')
}
