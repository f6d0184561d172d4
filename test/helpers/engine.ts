import { cpSync, existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash, randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import type { Test } from 'tap'
import { loadConfig, type FlagValues } from '../../src/config.js'
import { startEngine, startRedirectEngine, type Engine, type EngineOptions, type RedirectEngine } from '../../src/engine/index.js'
import type { ObservationSink } from '../../src/records.js'
import { silentLogger } from '../../src/log.js'
import { bootstrap, type Bootstrapped } from '../../src/control/projects.js'
import { openStore } from '../../src/store/client.js'
import { migrate, readMigrations } from '../../src/store/migrate.js'

export const SECRET_1 = `1:${randomBytes(32).toString('base64')}`
export const SECRET_2 = `2:${randomBytes(32).toString('base64')}`

export interface TestEngine extends Engine {
  dataDir: string
  /** The team, token, project and routes made for `sid` (first start only). */
  team?: Bootstrapped
}

export interface TestRedirectEngine extends RedirectEngine {
  dataDir: string
}

export function tempDir (t: Test, prefix = 'clicktrail-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

function testConfig (dir: string, flags: FlagValues): ReturnType<typeof loadConfig> {
  // A DNS server nobody answers on (a closed loopback port): no test asks a real resolver.
  return loadConfig({ port: '0', host: '127.0.0.1', 'admin-port': '0', 'api-port': '0', 'config-refresh-ms': '100', 'webhook-allow-private': 'true', 'dns-server': '127.0.0.1:9', 'data-dir': dir, secrets: SECRET_1, 'tracking-base-url': 'http://t.localhost:8080', ...flags }, {})
}

let template: Promise<string> | undefined

/**
 * An embedded ClickHouse with every migration applied and nothing else, shared by the test
 * processes of one run: a new engine's data dir starts as a copy of it (~1.5 MB) instead of
 * running the ~105 statements again (1.0–1.4 s an engine on an idle machine, the largest
 * part of an engine's start). Keyed by the migrations' checksums, so a changed or new
 * migration (or another chdb) makes a new one; made under a temporary name and renamed into place, so
 * processes racing to make it never see half of one. Tests of the migrations themselves
 * (test/store/) open their own stores and do not use it; an engine given a `dataDir` starts
 * on that.
 */
async function migratedTemplate (): Promise<string> {
  template ??= (async () => {
    // A template left in /tmp by an older run is used only by the same migrations on the same chdb.
    const chdb = (createRequire(import.meta.url)('chdb/package.json') as { version: string }).version
    const key = createHash('sha256').update(`${chdb};${readMigrations().map(m => `${m.version}:${m.checksum}`).join(',')}`).digest('hex').slice(0, 16)
    const done = join(tmpdir(), `clicktrail-test-schema-${key}`)
    if (!existsSync(done)) {
      const dir = mkdtempSync(join(tmpdir(), 'clicktrail-test-schema-making-'))
      try {
        const store = await openStore(testConfig(dir, {}))
        try {
          await migrate(store.writer)
        } finally {
          await store.close()
        }
      } catch (err) {
        // A half-made template is not left behind for the next run to trip over.
        rmSync(dir, { recursive: true, force: true })
        throw err
      }
      try {
        renameSync(dir, done)
      } catch (err) {
        // Another process made it first: use theirs.
        rmSync(dir, { recursive: true, force: true })
        if (!existsSync(done)) throw err
      }
    }
    return join(done, 'clickhouse')
  })()
  return await template
}

/**
 * The real engine on free loopback ports (redirect, Team API, admin) with a temp data dir and
 * the real embedded ClickHouse (chdb) in `<dataDir>/clickhouse`, stopped by `t.teardown`;
 * pass `dataDir` to restart on the data of an earlier engine.
 */
export async function startTestEngine (t: Test, flags: FlagValues = {}, options: EngineOptions = {}, dataDir?: string, sid = 'acme'): Promise<TestEngine> {
  let dir = dataDir
  if (dir === undefined) {
    dir = tempDir(t)
    // Its tables' symlinks are relative (data/<db>/<table> -> ../../store/…): kept as they are.
    cpSync(await migratedTemplate(), join(dir, 'clickhouse'), { recursive: true, verbatimSymlinks: true })
  }
  // One redirect thread: the product's threaded path at the least cost per engine started
  // (test/redirect/threads.test.ts runs two; tests that read one server's caches ask for 0).
  const engine = await startEngine(testConfig(dir, { 'redirect-threads': '1', ...flags }), silentLogger, options)
  t.teardown(async () => { await engine.stop() })
  let team: Bootstrapped | undefined
  if (engine.plane.projectBySid(sid) === undefined) team = await bootstrap(engine.plane, { sid })
  return Object.assign(engine, { dataDir: dir, team })
}

/** The redirect front alone, handing observations to `sink` (no storage): tests of the redirect path. */
export async function startRedirectTestEngine (t: Test, flags: FlagValues, sink: ObservationSink): Promise<TestRedirectEngine> {
  const dir = tempDir(t)
  // The redirect server on this thread unless a test asks for threads: these tests read its
  // ring, caches and counters as they change (test/redirect/threads.test.ts covers threads).
  const engine = await startRedirectEngine(testConfig(dir, { 'redirect-threads': '0', ...flags }), silentLogger, sink)
  t.teardown(async () => { await engine.stop() })
  return Object.assign(engine, { dataDir: dir })
}
