import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { loadConfig, type FlagValues } from '../../src/config.js'
import { startEngine, type Engine, type EngineOptions } from '../../src/engine.js'
import { silentLogger } from '../../src/log.js'
import type { Test } from 'tap'

export const SECRET_1 = `1:${randomBytes(32).toString('base64')}`
export const SECRET_2 = `2:${randomBytes(32).toString('base64')}`

export interface TestEngine extends Engine {
  dataDir: string
}

/** The real engine on a free loopback port with a temp data dir; stopped and removed by `t.teardown`. */
export async function startTestEngine (t: Test, flags: FlagValues = {}, options: EngineOptions = {}): Promise<TestEngine> {
  const dataDir = mkdtempSync(join(tmpdir(), 'clicktrail-test-'))
  const config = loadConfig({ port: '0', host: '127.0.0.1', 'data-dir': dataDir, secrets: SECRET_1, 'tracking-base-url': 'http://t.localhost:8080', ...flags }, {})
  const engine = await startEngine(config, silentLogger, options)
  t.teardown(async () => {
    await engine.stop()
    rmSync(dataDir, { recursive: true, force: true })
  })
  return Object.assign(engine, { dataDir })
}
