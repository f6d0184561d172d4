import { randomBytes } from 'node:crypto'
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { ClicktrailError } from '../errors.js'
import { formatSecrets, parseSecrets, type MasterSecret } from './keys.js'

export const SECRET_FILE = 'secrets'

/**
 * What in a data directory shows that a server has run there: once any of these exist,
 * links signed with the directory's secret may be in mailboxes, and a new secret would
 * silently turn every one of them into a 404.
 */
export const DATA_DIR_STATE = ['node-id', 'spool', 'outbox', 'ingest-intent.json', 'promotion-intent.json'] as const

export interface LoadedSecrets {
  secrets: MasterSecret[]
  /** `CLICKTRAIL_SECRETS` or the file's path. */
  source: string
  /** True when this call created the secrets file. */
  generated: boolean
}

/**
 * Master secrets from `configured` (CLICKTRAIL_SECRETS) when given, else from
 * `<dataDir>/secrets`; undefined when neither exists. Never creates anything.
 */
export function readSecrets (configured: string, dataDir: string): LoadedSecrets | undefined {
  if (configured.trim() !== '') return { secrets: parseSecrets(configured), source: 'CLICKTRAIL_SECRETS', generated: false }
  const path = join(dataDir, SECRET_FILE)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new ClicktrailError('CT_ERR_CONFIG_SECRETS', `cannot read ${path}: ${(err as Error).message}`)
  }
  const mode = statSync(path).mode & 0o777
  if ((mode & 0o077) !== 0) throw new ClicktrailError('CT_ERR_CONFIG_SECRETS', `${path} is readable by others (mode ${mode.toString(8)}); chmod 600 it`)
  return { secrets: parseSecrets(text), source: path, generated: false }
}

/** The secrets `serve` would use, for commands that only sign or verify: never generates one. */
export function loadSecrets (configured: string, dataDir: string): LoadedSecrets {
  const loaded = readSecrets(configured, dataDir)
  if (loaded === undefined) throw new ClicktrailError('CT_ERR_SECRETS_MISSING', missingMessage(dataDir, 'this command never generates one'))
  return loaded
}

/** The entries of DATA_DIR_STATE present in `dataDir`. */
export function dataDirState (dataDir: string): string[] {
  return DATA_DIR_STATE.filter(name => existsSync(join(dataDir, name)))
}

/**
 * The configured secrets, or a new one generated into `<dataDir>/secrets` — but only where
 * nothing was ever served: `databaseState` lists what the database already holds (recorded
 * key fingerprints, projects, clicks; empty when there is no database). Where the data
 * directory or the database holds state, a missing secret was lost (deleted, or a new node
 * not given the cluster's secrets), and CT_ERR_SECRETS_MISSING says so instead.
 */
export function loadOrGenerateSecrets (configured: string, dataDir: string, databaseState: readonly string[]): LoadedSecrets {
  const loaded = readSecrets(configured, dataDir)
  if (loaded !== undefined) return loaded
  const state = [...dataDirState(dataDir).map(n => join(dataDir, n)), ...databaseState]
  if (state.length > 0) {
    throw new ClicktrailError('CT_ERR_SECRETS_MISSING', missingMessage(dataDir, `not generating a new one, because ${state.join(', ')} already exist${state.length === 1 ? 's' : ''} and links signed with the lost secret would all answer 404`))
  }
  return generateSecretFile(dataDir)
}

function missingMessage (dataDir: string, why: string): string {
  return `no master secret: ${join(dataDir, SECRET_FILE)} is missing and CLICKTRAIL_SECRETS is empty; ${why}. ` +
    'Restore the secrets file from a backup (or give the secrets through CLICKTRAIL_SECRETS)'
}

/**
 * Creates `<dataDir>/secrets` with one random 32-byte secret (key id 1), mode 0600. With
 * O_EXCL, so two processes starting at once cannot each write their own: the loser reads
 * the winner's.
 */
function generateSecretFile (dataDir: string): LoadedSecrets {
  const path = join(dataDir, SECRET_FILE)
  mkdirSync(dataDir, { recursive: true })
  let generated = false
  try {
    const fd = openSync(path, 'wx', 0o600)
    try {
      writeSync(fd, formatSecrets([{ kid: 1, secret: randomBytes(32) }]) + '\n')
    } finally {
      closeSync(fd)
    }
    chmodSync(path, 0o600)
    generated = true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new ClicktrailError('CT_ERR_CONFIG_SECRETS', `cannot create ${path}: ${(err as Error).message}`)
  }
  const loaded = readSecrets('', dataDir)
  if (loaded === undefined) throw new ClicktrailError('CT_ERR_CONFIG_SECRETS', `${path} vanished while it was being created`)
  return { ...loaded, generated }
}
