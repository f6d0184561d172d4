import { randomBytes } from 'node:crypto'
import { mkdirSync, openSync, readFileSync, writeSync, closeSync } from 'node:fs'
import { join } from 'node:path'

/* The admin listener's token, on its own: the command line reads it without loading the listener. */

export const ADMIN_TOKEN_FILE = 'admin-token'

/** The admin token: `configured` (--admin-token, CLICKTRAIL_ADMIN_TOKEN) if set, else `<data-dir>/admin-token`, created 0600 on first use. */
export function loadOrCreateAdminToken (dataDir: string, configured = ''): string {
  if (configured !== '') return configured
  mkdirSync(dataDir, { recursive: true })
  const path = join(dataDir, ADMIN_TOKEN_FILE)
  try {
    const fd = openSync(path, 'wx', 0o600)
    try { writeSync(fd, randomBytes(24).toString('base64url') + '\n') } finally { closeSync(fd) }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  return readFileSync(path, 'utf8').trim()
}
