import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createClient } from '@clickhouse/client'
import { tempDir } from '../helpers/engine.js'
import { readMigrations, statements } from '../../src/store/migrate.js'
import { EVERYWHERE_PATH, REPLICATED_EVERYWHERE, renderSchema, SHARD_PATH, SHARDING_KEYS } from '../../src/store/schema.js'
import { formatQuery } from '../../src/store/analyst.js'

const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'cli.js')

t.test('one node: every migration renders exactly as written (the schema every install has today)', async t => {
  for (const r of renderSchema('')) t.same(r.statements, statements(r.migration.sql), r.migration.file)
})

t.test('a cluster: every statement of every migration is accepted by ClickHouse\'s own parser', async t => {
  const dir = tempDir(t)
  // The embedded engine parses ON CLUSTER, Replicated and Distributed DDL (it cannot run
  // them: that needs Keeper and the cluster's nodes; see README, Running a cluster).
  const { createChdbConnection } = await import('chdb/connection')
  const client = createClient({ connection: createChdbConnection({ path: join(dir, 'ch') }) as never })
  t.teardown(async () => { await client.close() })
  const garbage = await formatQuery(client, 'CREATE TABLE t ON CLUSTER (a UInt8) ENGINE = Distributed(').catch(() => 'refused')
  t.equal(garbage, 'refused', 'the parser does refuse a broken statement')
  let n = 0
  for (const r of renderSchema('c1')) {
    for (const s of r.statements) {
      const formatted = await formatQuery(client, s).catch((err: Error) => `refused: ${err.message.split('\n')[0]}`)
      t.notMatch(formatted, /^refused/, `${r.migration.file}: ${s.split('\n')[0]}`)
      n++
    }
  }
  t.ok(n > 40, `${n} statements parsed`)
})

t.test('a cluster: data tables sharded by message, views on the shards, the control plane on every node', async t => {
  const cluster = renderSchema('c1').flatMap(r => r.statements)
  const single = renderSchema('').flatMap(r => r.statements)
  const created = single.map(s => /^CREATE TABLE IF NOT EXISTS ([a-z_0-9]+)/.exec(s)?.[1]).filter((x): x is string => x !== undefined)
  t.ok(created.length >= 20, 'every table of the one-node schema is looked at')
  for (const name of created) {
    if (REPLICATED_EVERYWHERE.has(name)) {
      const s = cluster.find(x => x.startsWith(`CREATE TABLE IF NOT EXISTS ${name} ON CLUSTER c1\n`))
      t.ok(s?.includes('ENGINE = Replicated') === true && s.includes(EVERYWHERE_PATH), `${name}: replicated on every node`)
      continue
    }
    const key = SHARDING_KEYS[name]
    t.ok(key !== undefined, `${name} is sharded`)
    const local = cluster.find(x => x.startsWith(`CREATE TABLE IF NOT EXISTS ${name}_local ON CLUSTER c1\n`))
    t.ok(local?.includes(SHARD_PATH) === true && local.includes(", '{replica}'"), `${name}_local: replicated within its shard`)
    t.notMatch(local ?? '', /non_replicated_deduplication_window/, `${name}_local: the replicated deduplication window`)
    t.ok(cluster.includes(`CREATE TABLE IF NOT EXISTS ${name} ON CLUSTER c1 AS ${name}_local\nENGINE = Distributed(c1, currentDatabase(), ${name}_local, ${key})`), `${name}: Distributed over the shards by ${key}`)
  }
  for (const name of ['click_observations', 'messages', 'message_links', 'clicks']) t.equal(SHARDING_KEYS[name], 'cityHash64(message_id)', `${name}: a message's rows on one shard`)
  const views = cluster.filter(s => s.startsWith('CREATE MATERIALIZED VIEW'))
  t.ok(views.length >= 4)
  for (const v of views) {
    t.match(v, / ON CLUSTER c1 TO [a-z_]+_local AS\n/, 'a view writes its shard\'s local aggregate')
    for (const m of v.matchAll(/\bFROM\s+([a-z_0-9]+)/g)) t.match(m[1], /_local$/, `a view reads its shard's local table (${m[1]})`)
  }
  for (const s of cluster) {
    if (s.startsWith('INSERT INTO')) continue
    t.match(s, / ON CLUSTER c1\b/, `DDL runs on the whole cluster: ${s.split('\n')[0]}`)
  }
  // A column added to a sharded table is added to its Distributed table too; an index only to the local one.
  t.ok(cluster.includes('ALTER TABLE click_observations ON CLUSTER c1 ADD COLUMN IF NOT EXISTS obs_id UUID AFTER ts'))
  t.ok(cluster.some(s => s.startsWith('ALTER TABLE messages_local ON CLUSTER c1 ADD INDEX')))
  t.notOk(cluster.some(s => s.startsWith('ALTER TABLE messages ON CLUSTER c1 ADD INDEX')))
})

t.test('a migration with no cluster form is refused before anything runs, naming its file', async t => {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'sql'))
  writeFileSync(join(dir, 'sql', '000_schema_migrations.sql'), readMigrations()[0].sql)
  writeFileSync(join(dir, 'sql', '001_new_table.sql'), 'CREATE TABLE IF NOT EXISTS surprise\n(\n    a UInt8\n)\nENGINE = MergeTree\nORDER BY a;\n')
  t.same(renderSchema('', join(dir, 'sql'))[1].statements.length, 1, 'one node: as written')
  t.throws(() => renderSchema('c1', join(dir, 'sql')), { code: 'CT_ERR_MIGRATION', message: /001_new_table\.sql: table surprise is neither sharded/ })
  writeFileSync(join(dir, 'sql', '001_new_table.sql'), 'CREATE VIEW v AS SELECT 1;\n')
  t.throws(() => renderSchema('c1', join(dir, 'sql')), { code: 'CT_ERR_MIGRATION', message: /no cluster form for the statement "CREATE VIEW v AS SELECT 1"/ })
  t.throws(() => renderSchema('c-1'), { code: 'CT_ERR_CONFIG' }, 'a cluster name is an identifier')
})

t.test('clicktrail schema [--cluster NAME] prints those statements', async t => {
  for (const cluster of ['', 'c1']) {
    const r = spawnSync(process.execPath, [CLI, 'schema', ...(cluster === '' ? [] : ['--cluster', cluster])], { encoding: 'utf8' })
    t.equal(r.status, 0, r.stderr)
    const printed = r.stdout.split('\n').filter(l => !/^-- \d{3}_/.test(l)).join('\n').split(/;\n/).map(s => s.trim()).filter(s => s !== '')
    t.same(printed, renderSchema(cluster).flatMap(x => x.statements), `schema ${cluster === '' ? '(one node)' : `--cluster ${cluster}`}`)
  }
})
