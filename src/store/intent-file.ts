import { lstatSync, readFileSync, renameSync } from 'node:fs'
import { open, rename, rm } from 'node:fs/promises'
import type { Logger } from '../log.js'

/**
 * A small JSON file that says what is about to be sent to ClickHouse (the insert's token
 * and contents), written durably (fsync, then an atomic rename) before the insert and
 * removed after it. After a crash, the same insert is repeated with the same token and
 * ClickHouse drops it if it had it already. Writes go through libuv's pool, off the event
 * loop (measured, bench/micro/intent-fsync.mjs: write + fsync + rename held the loop 0.6–5 ms
 * on an idle virtual disk, ~9 ms with ClickHouse writing; through the pool at most 0.2–1.9 ms).
 */
export async function writeIntentFile (path: string, value: unknown): Promise<void> {
  const tmp = `${path}.tmp`
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.writeFile(JSON.stringify(value))
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
}

/**
 * The intent left by an interrupted run, if any (read once, at start-up). Start-up never
 * fails on it: an intent that is not a regular file, does not parse or is not of the
 * expected shape is moved aside to `<path>.bad-<time>` (kept for the operator, logged) and
 * treated as absent — its batch is then replayed like any other.
 */
export function readIntentFile<T> (path: string, valid: (v: T) => boolean, log?: Logger): T | undefined {
  let why: string
  try {
    const st = lstatSync(path)
    if (st.isFile()) {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as T
      if (valid(parsed)) return parsed
      why = 'not of the expected shape'
    } else {
      why = 'not a regular file'
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined // nothing was in flight
    why = (err as Error).message
  }
  const aside = `${path}.bad-${Date.now()}`
  try {
    renameSync(path, aside)
    log?.warn({ path, movedTo: aside, why }, 'intent file unusable: moved aside, its batch will be replayed')
  } catch (err) {
    log?.error({ path, why, err: (err as Error).message }, 'intent file unusable and cannot be moved aside; ignored')
  }
  return undefined
}

export async function removeIntentFile (path: string): Promise<void> {
  await rm(path, { force: true })
}
