import { linkSync, mkdirSync, readFileSync, readlinkSync, renameSync, symlinkSync, unlinkSync } from 'node:fs'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import { ClicktrailError } from '../errors.js'

export const LOCK_FILE = 'serve.lock'

interface Holder {
  pid: number
  /** Process start time in clock ticks since boot (Linux /proc/<pid>/stat field 22); '' elsewhere. */
  start: string
  host: string
  command: string
}

export interface DataDirLock {
  readonly path: string
  /** Removes the lock file if it is still ours; safe to call twice. */
  release (): void
}

// Locks this process holds: a second engine of the same process on the same directory
// is refused like another process would be (the recorded pid is ours and alive).
const held = new Set<string>()

/**
 * Takes `<dataDir>/serve.lock` for this process, or throws CT_ERR_DATA_DIR_LOCKED.
 *
 * The spool, the outbox, the intent files and node-id belong to one process at a time:
 * two writers would interleave frames and each replay the other's. The embedded ClickHouse
 * locks its own directory, but with `--clickhouse-url` nothing else would stop a second
 * server, so the lock is taken before anything else touches the directory.
 *
 * The lock is a symbolic link whose target is the holder (`pid:start:command:host`):
 * creating it is atomic and fails if it exists, no reader ever sees it half written, and a
 * short link target is kept in the inode itself, so the lock can be taken on a full disk
 * (a restart must not wait for space, issue 10). A lock left
 * by a process that died (kill -9, power loss) is stale and taken over: its pid is gone,
 * or is now another process (the recorded start time differs: after a reboot or in a
 * container pids come round again). A lock recorded on another host is never taken over,
 * since liveness cannot be checked from here (a data dir on a network file system).
 */
export function lockDataDir (dataDir: string, command = 'serve'): DataDirLock {
  mkdirSync(dataDir, { recursive: true })
  const path = resolve(join(dataDir, LOCK_FILE))
  const me: Holder = { pid: process.pid, start: startTimeOf(process.pid), host: hostname(), command }
  for (let attempt = 0; ; attempt++) {
    try {
      symlinkSync(formatHolder(me), path)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new ClicktrailError('CT_ERR_DATA_DIR_LOCKED', `cannot create ${path}: ${(err as Error).message}`)
    }
    const holder = readHolder(path)
    if (holder !== undefined && isAlive(holder, path)) {
      throw new ClicktrailError('CT_ERR_DATA_DIR_LOCKED', `${dataDir} is in use by ${holder.command === '' ? 'clicktrail' : `clicktrail ${holder.command}`} (pid ${holder.pid}${holder.host === me.host ? '' : ` on ${holder.host}`}); ` +
        `one process per data directory: stop it, or use another --data-dir (remove ${path} only if that process is gone)`)
    }
    // Stale (or unreadable: a lock is always written whole, so a torn one is from a crash).
    if (attempt >= 3) throw new ClicktrailError('CT_ERR_DATA_DIR_LOCKED', `${path} keeps coming back; another process is taking the data directory at the same time`)
    breakStale(path, holder)
  }
  held.add(path)
  const onExit = (): void => { release() }
  process.on('exit', onExit)
  let released = false
  function release (): void {
    if (released) return
    released = true
    held.delete(path)
    process.off('exit', onExit)
    const holder = readHolder(path)
    if (holder?.pid === me.pid && holder.start === me.start && holder.host === me.host) {
      try { unlinkSync(path) } catch { /* already gone */ }
    }
  }
  return { path, release }
}

/** Whether `dataDir` is locked by a live process other than a stale holder (for commands that only check). */
export function dataDirHolder (dataDir: string): string | undefined {
  const path = resolve(join(dataDir, LOCK_FILE))
  const holder = readHolder(path)
  if (holder === undefined || !isAlive(holder, path)) return undefined
  return `clicktrail ${holder.command} (pid ${holder.pid})`
}

/**
 * Removes a stale lock without removing a fresh one: two processes may judge the same lock
 * stale at once, and the slower one must not then delete the lock the faster one just took.
 * So the lock is renamed aside (atomic) and only deleted if it is still the one judged
 * stale; otherwise it is linked back and the caller looks again.
 */
function breakStale (path: string, stale: Holder | undefined): void {
  const aside = `${path}.${process.pid}.stale`
  try {
    renameSync(path, aside)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw new ClicktrailError('CT_ERR_DATA_DIR_LOCKED', `cannot remove the stale ${path}: ${(err as Error).message}`)
  }
  const moved = readHolder(aside)
  const same = stale === undefined ? moved === undefined : (moved !== undefined && moved.pid === stale.pid && moved.start === stale.start && moved.host === stale.host)
  if (!same) {
    try { linkSync(aside, path) } catch { /* a third process holds it now; the next look finds it */ }
  }
  try { unlinkSync(aside) } catch { /* already gone */ }
}

function formatHolder (h: Holder): string {
  return `${h.pid}:${h.start}:${h.command}:${h.host}`
}

function readHolder (path: string): Holder | undefined {
  let link: string | undefined
  try { link = readlinkSync(path) } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
  }
  if (link !== undefined) {
    const m = /^(\d+):(\d*):([^:]*):(.*)$/.exec(link)
    if (m === null || Number(m[1]) <= 0) return undefined
    return { pid: Number(m[1]), start: m[2], command: m[3], host: m[4] }
  }
  // A lock file of the earlier format (JSON in a regular file).
  let text: string
  try { text = readFileSync(path, 'utf8') } catch { return undefined }
  try {
    const h = JSON.parse(text) as Partial<Holder>
    if (typeof h.pid !== 'number' || !Number.isInteger(h.pid) || h.pid <= 0) return undefined
    return { pid: h.pid, start: typeof h.start === 'string' ? h.start : '', host: typeof h.host === 'string' ? h.host : '', command: typeof h.command === 'string' ? h.command : '' }
  } catch {
    return undefined
  }
}

function isAlive (h: Holder, path: string): boolean {
  if (h.host !== hostname()) return true
  if (h.pid === process.pid) return held.has(path) // ours only if this process took it
  try {
    process.kill(h.pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false
    // EPERM: a process of another user has that pid; fall through to the start time check.
  }
  const now = startTimeOf(h.pid)
  return h.start === '' || now === '' || now === h.start
}

/** The start time of `pid` in clock ticks since boot, from /proc (Linux); '' when unknown. */
function startTimeOf (pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // Field 2 (comm) is in parentheses and may contain spaces: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return fields[19] ?? ''
  } catch {
    return ''
  }
}
