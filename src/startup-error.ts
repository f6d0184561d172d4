import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ClicktrailError } from './errors.js'

/**
 * How the command line reports a failure: one line `clicktrail: CT_ERR_…: message`, exit 1
 * (a bad command line or option: `clicktrail: message`, exit 2, as before). Errors that are
 * not ours get a code too: chdb's "another server instance" lock (CT_ERR_DATA_DIR_LOCKED),
 * other chdb errors (CT_ERR_STORE), file system errors (CT_ERR_IO), anything else
 * (CT_ERR_INTERNAL). Messages are folded onto one line.
 */
export function oneLineFailure (err: unknown): { line: string, exitCode: number } {
  if (err instanceof ClicktrailError && (err.code === 'CT_ERR_USAGE' || err.code === 'CT_ERR_CONFIG')) {
    return { line: `clicktrail: ${fold(err.message)}`, exitCode: 2 }
  }
  const { code, message } = classify(err)
  return { line: `clicktrail: ${code}: ${fold(message)}`, exitCode: 1 }
}

function classify (err: unknown): { code: string, message: string } {
  if (err instanceof ClicktrailError) return { code: err.code, message: err.message }
  const e = err as { code?: unknown, message?: unknown, syscall?: unknown } | null | undefined
  const message = typeof e?.message === 'string' ? e.message : String(err)
  const code = typeof e?.code === 'string' ? e.code : ''
  if (code === 'CHDB_CONNECTION') {
    // chdb reports "Cannot lock file <path>/status. Another server instance…" on the native
    // stderr only; its error says just "Failed to create connection". The status file names
    // the pid that holds the directory.
    const path = /for path '([^']+)'/.exec(message)?.[1]
    const holder = path === undefined ? undefined : statusHolder(path)
    if (holder !== undefined) {
      return { code: 'CT_ERR_DATA_DIR_LOCKED', message: `the embedded ClickHouse in ${path} is in use by pid ${holder} (a running \`clicktrail serve\`?); one process per data directory` }
    }
  }
  if (code.startsWith('CHDB_')) return { code: 'CT_ERR_STORE', message: `embedded ClickHouse: ${message}` }
  if (/^E[A-Z0-9]+$/.test(code) && typeof e?.syscall === 'string') return { code: 'CT_ERR_IO', message }
  return { code: 'CT_ERR_INTERNAL', message: `${err instanceof Error ? `${err.name}: ` : ''}${message} (run with --log-level debug for the stack)` }
}

/** The live pid, other than ours, that ClickHouse's `status` file in `path` names. */
function statusHolder (path: string): number | undefined {
  let text: string
  try { text = readFileSync(join(path, 'status'), 'utf8') } catch { return undefined }
  const pid = Number(/^PID:\s*(\d+)/m.exec(text)?.[1])
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined
  try {
    process.kill(pid, 0)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return undefined
  }
  return pid
}

function fold (text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim()
}
