import t from 'tap'
import { createHmac, randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { dataDirState, loadOrGenerateSecrets, loadSecrets, readSecrets, SECRET_FILE } from '../../src/token/secret-file.js'
import { keyFingerprint, parseSecrets } from '../../src/token/keys.js'
import { tempDir } from '../helpers/engine.js'

t.test('a fresh data dir and an empty database: a secret is generated once (0600), then read', async t => {
  const dir = tempDir(t)
  const first = loadOrGenerateSecrets('', dir, [])
  t.equal(first.generated, true)
  t.equal(first.secrets.length, 1)
  t.equal(first.secrets[0].kid, 1)
  t.equal(first.secrets[0].secret.length, 32)
  t.equal(statSync(join(dir, SECRET_FILE)).mode & 0o777, 0o600)
  const again = loadOrGenerateSecrets('', dir, [])
  t.equal(again.generated, false)
  t.same(again.secrets, first.secrets, 'the same secret, not a new one')
})

t.test('never generated where the data dir holds state', async t => {
  for (const entry of ['node-id', 'spool', 'outbox', 'ingest-intent.json', 'promotion-intent.json']) {
    const dir = tempDir(t)
    if (entry === 'spool' || entry === 'outbox') mkdirSync(join(dir, entry))
    else writeFileSync(join(dir, entry), 'x')
    t.same(dataDirState(dir), [entry])
    t.throws(() => loadOrGenerateSecrets('', dir, []), { code: 'CT_ERR_SECRETS_MISSING', message: new RegExp(`${entry.replace('.', '\\.')} already exists`) }, entry)
    t.notOk(existsSync(join(dir, SECRET_FILE)), `${entry}: nothing written`)
  }
})

t.test('never generated where the database holds state', async t => {
  const dir = tempDir(t)
  t.throws(() => loadOrGenerateSecrets('', dir, ['projects in ClickHouse database clicktrail']), { code: 'CT_ERR_SECRETS_MISSING', message: /projects in ClickHouse database clicktrail already exists/ })
  t.notOk(existsSync(join(dir, SECRET_FILE)))
})

t.test('configured secrets (CLICKTRAIL_SECRETS) win, and need no file', async t => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'node-id'), 'n1')
  const configured = `3:${randomBytes(32).toString('base64')}`
  const r = loadOrGenerateSecrets(configured, dir, ['projects'])
  t.same(r.secrets, parseSecrets(configured))
  t.equal(r.source, 'CLICKTRAIL_SECRETS')
  t.notOk(existsSync(join(dir, SECRET_FILE)))
})

t.test('the signing and verifying commands read secrets and never make one', async t => {
  const dir = tempDir(t)
  t.equal(readSecrets('', dir), undefined)
  t.throws(() => loadSecrets('', dir), { code: 'CT_ERR_SECRETS_MISSING', message: /never generates one/ })
  t.notOk(existsSync(join(dir, SECRET_FILE)))
  writeFileSync(join(dir, SECRET_FILE), `1:${randomBytes(32).toString('base64')}\n`, { mode: 0o644 })
  t.throws(() => loadSecrets('', dir), { code: 'CT_ERR_CONFIG_SECRETS', message: /readable by others/ })
})

t.test('key fingerprints: stable, 128 bits, distinct per secret, and nothing of the secret', async t => {
  const a = randomBytes(32)
  const b = randomBytes(32)
  t.match(keyFingerprint(a), /^[0-9a-f]{32}$/)
  t.equal(keyFingerprint(a), keyFingerprint(Buffer.from(a)))
  t.equal(keyFingerprint(new Uint8Array(a)), keyFingerprint(a), 'the same from the worker pool\'s Uint8Array form')
  t.not(keyFingerprint(a), keyFingerprint(b))
  for (const form of [a.toString('hex'), a.toString('base64'), a.toString('base64url')]) {
    t.notOk(form.includes(keyFingerprint(a).slice(0, 8)) || keyFingerprint(a).includes(form.slice(0, 8)), 'shares no run with the secret')
  }
  // Pinned: every node of a database compares these, across versions.
  t.equal(keyFingerprint(a), createHmac('sha256', a).update('clicktrail/key-fingerprint/v1').digest('hex').slice(0, 32), 'HMAC-SHA256(secret, label), 128 bits')
})
