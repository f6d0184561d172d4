import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { loadConfig, type FlagValues } from '../../src/config.js'
import { startEngine, type Engine, type EngineOptions } from '../../src/engine.js'
import { silentLogger } from '../../src/log.js'
import { bootstrap, type Bootstrapped } from '../../src/control/projects.js'

// Domain verification never asks a real resolver in tests: by default it asks a closed
// loopback port (refused at once); tests of verification run their own DNS server.
const CLOSED_DNS = '127.0.0.1:9'

export const SECRET_1 = `1:${randomBytes(32).toString('base64')}`
export const SECRET_2 = `2:${randomBytes(32).toString('base64')}`

export interface TestEngine extends Engine {
  dataDir: string
  /** The team, token, project and routes made for `sid` (storage engines only, first start). */
  team?: Bootstrapped
}

export function tempDir (t: Test, prefix = 'clicktrail-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  return dir
}

/**
 * The real engine on free loopback ports (redirect and admin) with a temp data dir, stopped
 * by `t.teardown`. Without `options.sink` it opens the real embedded ClickHouse (chdb) in
 * `<dataDir>/clickhouse`; pass `dataDir` to restart on the data of an earlier engine.
 */
export async function startTestEngine (t: Test, flags: FlagValues = {}, options: EngineOptions = {}, dataDir?: string, sid = 'acme'): Promise<TestEngine> {
  const dir = dataDir ?? tempDir(t)
  const config = loadConfig({ port: '0', host: '127.0.0.1', 'admin-port': '0', 'api-port': '0', 'config-refresh-ms': '100', 'webhook-allow-private': 'true', 'data-dir': dir, secrets: SECRET_1, 'tracking-base-url': 'http://t.localhost:8080', 'dns-server': CLOSED_DNS, ...flags }, {})
  const engine = await startEngine(config, silentLogger, options)
  t.teardown(async () => { await engine.stop() })
  let team: Bootstrapped | undefined
  if (engine.plane !== undefined && engine.plane.projectBySid(sid) === undefined) team = await bootstrap(engine.plane, { sid })
  return Object.assign(engine, { dataDir: dir, team })
}
