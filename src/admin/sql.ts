import type { Store } from '../store/client.js'
import { ClicktrailError } from '../errors.js'

export class SqlRefusedError extends ClicktrailError {
  constructor (message: string) {
    super('CT_ERR_SQL_REFUSED', message, 400)
    this.name = 'SqlRefusedError'
  }
}

export class SqlFailedError extends ClicktrailError {
  constructor (message: string) {
    super('CT_ERR_SQL_FAILED', message, 400)
    this.name = 'SqlFailedError'
  }
}

const FORMATS = new Set(['PrettyCompact', 'PrettyCompactMonoBlock', 'Pretty', 'TabSeparatedWithNames', 'TabSeparated', 'CSVWithNames', 'CSV', 'JSONEachRow', 'JSON', 'JSONCompact', 'Vertical', 'Markdown'])
export const MAX_SQL_BYTES = 64 * 1024

/**
 * Index of the first `;` that is not inside a string, quoted identifier or comment, or -1.
 * chdb runs every statement of a multi-statement text (and mixes their outputs), so an
 * analyst query must be exactly one statement; read-only mode stops writes either way.
 */
export function statementEnd (sql: string): number {
  let quote = ''
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]
    if (quote !== '') {
      if (c === '\\') i++
      else if (c === quote) quote = ''
      continue
    }
    if (c === "'" || c === '"' || c === '`') quote = c
    else if (c === '-' && sql[i + 1] === '-') { const nl = sql.indexOf('\n', i); if (nl === -1) return -1; i = nl } else if (c === '/' && sql[i + 1] === '*') { const end = sql.indexOf('*/', i + 2); if (end === -1) return -1; i = end + 1 } else if (c === ';') return i
  }
  return -1
}

/** Runs one read-only analyst query on the store's read-only client; returns the formatted text. */
export async function runReadOnlySql (store: Store, sqlText: string, format = 'PrettyCompact'): Promise<string> {
  if (!FORMATS.has(format)) throw new SqlRefusedError(`format must be one of ${[...FORMATS].join(', ')}`)
  if (Buffer.byteLength(sqlText) > MAX_SQL_BYTES) throw new SqlRefusedError(`query is longer than ${MAX_SQL_BYTES} bytes`)
  let sql = sqlText.trim()
  const end = statementEnd(sql)
  if (end !== -1) {
    if (sql.slice(end + 1).trim() !== '') throw new SqlRefusedError('one statement at a time')
    sql = sql.slice(0, end).trim()
  }
  if (sql === '') throw new SqlRefusedError('empty query')
  if (/\bFORMAT\s+\w+\s*$/i.test(sql)) throw new SqlRefusedError('leave out FORMAT: ask for a format with --format')
  try {
    const rs = await store.reader.query({ query: sql, format: format as never, clickhouse_settings: store.readerSettings })
    return await rs.text()
  } catch (err) {
    const e = err as { message?: string, type?: string }
    throw new SqlFailedError(`${e.type ?? 'ERROR'}: ${String(e.message ?? err).split('\n')[0]}`)
  }
}
