import { randomBytes } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'

/**
 * This node's id, kept in `<data-dir>/node-id` (created once). Observations carry it, and
 * each node promotes the observations it captured, so several nodes can share one
 * ClickHouse without promoting anything twice.
 */
export function loadOrCreateNodeId (dataDir: string): string {
  mkdirSync(dataDir, { recursive: true })
  const path = join(dataDir, 'node-id')
  try {
    const fd = openSync(path, 'wx', 0o644)
    try { writeSync(fd, `n${randomBytes(6).toString('hex')}\n`) } finally { closeSync(fd) }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
  }
  return readFileSync(path, 'utf8').trim()
}
