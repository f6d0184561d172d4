import { randomBytes } from 'node:crypto'
import { chmodSync, mkdirSync, openSync, readFileSync, statSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { KeyConfigError } from './errors.js'
import { formatSecrets, parseSecrets, type MasterSecret } from './keys.js'

export const SECRET_FILE = 'secrets'

/**
 * Master secrets from `configured` (CLICKTRAIL_SECRETS) when given; otherwise from
 * `<dataDir>/secrets`, created on first use with one random 32-byte secret (key id 1),
 * mode 0600. Created with O_EXCL so two processes starting at once cannot each write
 * their own: the loser reads the winner's.
 */
export function loadOrCreateSecrets (configured: string, dataDir: string): { secrets: MasterSecret[], source: string } {
  if (configured.trim() !== '') return { secrets: parseSecrets(configured), source: 'CLICKTRAIL_SECRETS' }
  const path = join(dataDir, SECRET_FILE)
  mkdirSync(dataDir, { recursive: true })
  try {
    const fd = openSync(path, 'wx', 0o600)
    try {
      writeSync(fd, formatSecrets([{ kid: 1, secret: randomBytes(32) }]) + '\n')
    } finally {
      closeSync(fd)
    }
    chmodSync(path, 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new KeyConfigError(`cannot create ${path}: ${(err as Error).message}`)
  }
  const mode = statSync(path).mode & 0o777
  if ((mode & 0o077) !== 0) throw new KeyConfigError(`${path} is readable by others (mode ${mode.toString(8)}); chmod 600 it`)
  return { secrets: parseSecrets(readFileSync(path, 'utf8')), source: path }
}
