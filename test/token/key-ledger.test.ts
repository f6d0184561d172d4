import t from 'tap'
import { randomBytes } from 'node:crypto'
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import { startTestEngine, tempDir, SECRET_1, SECRET_2 } from '../helpers/engine.js'
import { loadConfig } from '../../src/config.js'
import { startEngine } from '../../src/engine/index.js'
import { keyFingerprint, parseSecrets } from '../../src/token/keys.js'
import { readKeyLedger } from '../../src/store/key-ledger.js'
import { request } from '../helpers/http.js'

// The real engine on the real embedded ClickHouse, restarted on one data dir with other
// secrets: what a node given the wrong secret, or none, does at start-up.

function configFor (dir: string, secrets: string): ReturnType<typeof loadConfig> {
  return loadConfig({ port: '0', 'admin-port': '0', 'api-port': '0', 'data-dir': dir, secrets }, {})
}

function capture (): { log: Logger, lines: () => Array<Record<string, unknown>> } {
  const out: string[] = []
  const stream = new Writable({ write (chunk: Buffer, _enc, done) { out.push(chunk.toString()); done() } })
  return { log: pino({ level: 'info' }, stream), lines: () => out.join('').split('\n').filter(l => l !== '').map(l => JSON.parse(l) as Record<string, unknown>) }
}

t.test('each key id is recorded once with its fingerprint; another secret under a recorded id refuses to start', async t => {
  const dir = tempDir(t)
  const first = await startTestEngine(t, {}, {}, dir)
  const ledger = await readKeyLedger(first.store.writer)
  t.same(ledger.map(r => [r.kid, r.fingerprint]), [[1, keyFingerprint(parseSecrets(SECRET_1)[0].secret)]], 'kid 1 recorded')
  t.match(ledger[0].firstSeen, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/)
  const raw = await (await first.store.writer.query({ query: 'SELECT * FROM key_fingerprints', format: 'JSONEachRow' })).text()
  t.notOk(raw.includes(parseSecrets(SECRET_1)[0].secret.toString('base64')) || raw.includes(parseSecrets(SECRET_1)[0].secret.toString('hex')), 'the secret itself is not stored')
  const tracked = first.track('acme', 'https://example.com/kept')
  await first.stop()

  // The same key id with a new secret (the file replaced, or a node given another one).
  const forged = `1:${randomBytes(32).toString('base64')}`
  await t.rejects(startEngine(configFor(dir, forged), capture().log), { code: 'CT_ERR_KEY_MISMATCH', message: /key id 1: the secret configured here .* is not the one recorded in ClickHouse since/ })
  await t.rejects(startEngine(configFor(dir, `${forged},${SECRET_2}`), capture().log), { code: 'CT_ERR_KEY_MISMATCH' }, 'also next to a new key id')

  // Rotation: a new key id next to the old one is recorded, and the old links still work.
  const { log, lines } = capture()
  const rotated = await startEngine(configFor(dir, `${SECRET_1},${SECRET_2}`), log)
  t.teardown(async () => { await rotated.stop() })
  t.same((await readKeyLedger(rotated.store.writer)).map(r => r.kid), [1, 2])
  t.match(lines().find(l => l.msg === 'key fingerprints recorded in ClickHouse'), { kids: [2] })
  const u = new URL(tracked)
  t.equal((await request(rotated.port, { path: u.pathname, host: u.host })).status, 302, 'a link signed before the restart still redirects')
  await rotated.stop()

  // Retiring key id 1: allowed, but said, since its links now 404.
  const retiring = capture()
  const retired = await startEngine(configFor(dir, SECRET_2), retiring.log)
  t.teardown(async () => { await retired.stop() })
  t.match(retiring.lines().find(l => l.level === 40), { kids: [1], msg: /no longer configured: links signed with them answer 404/ })
  await retired.stop()
})

t.test('no secret configured where the data dir or the database holds state: refused, never generated', async t => {
  const dir = tempDir(t)
  // A server ran here with a generated secret.
  const e = await startEngine(configFor(dir, ''), capture().log)
  t.teardown(async () => { await e.stop() })
  await e.stop()
  rmSync(join(dir, 'secrets'))
  await t.rejects(startEngine(configFor(dir, ''), capture().log), { code: 'CT_ERR_SECRETS_MISSING', message: /node-id.*already exist/ })
  // A new node's empty data dir on the same database: the database's state is enough. With
  // the embedded engine the database lives in the data dir, so keep only that.
  for (const entry of ['node-id', 'spool', 'outbox']) rmSync(join(dir, entry), { recursive: true, force: true })
  await t.rejects(startEngine(configFor(dir, ''), capture().log), { code: 'CT_ERR_SECRETS_MISSING', message: /because recorded key fingerprints in ClickHouse database clicktrail already exists/ })
  t.notOk(existsSync(join(dir, 'secrets')), 'no secret was generated')
})
