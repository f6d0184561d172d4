import { ClicktrailError } from '../errors.js'
import type { QueryParamDef } from './routes.js'

/*
 * Query parameters of the Team API's read endpoints, parsed strictly (as bodies are): an
 * unknown name, a name given twice or a value that does not parse is 400 CT_ERR_QUERY_PARAM
 * naming the parameter; a time range that is reversed, empty or too long is 422 CT_ERR_RANGE.
 */

const DAY_MS = 86_400_000
/** Names echoed in messages only when they look like names (the rest is the client's noise). */
const NAME = /^[A-Za-z0-9_.[\]-]{1,64}$/
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/
// RFC 3339 date-time: seconds and fraction optional, offset required.
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/i
const CURSOR = /^[A-Za-z0-9_-]{1,200}$/
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export function badParam (param: string, message: string): ClicktrailError {
  return new ClicktrailError('CT_ERR_QUERY_PARAM', message, { details: { param: NAME.test(param) ? param : undefined } })
}

function decode (text: string, what: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '))
  } catch {
    // `%ZZ`, a truncated sequence, an encoded lone surrogate.
    throw badParam(what, `query parameter ${NAME.test(what) ? `"${what}" ` : ''}is not valid percent-encoded UTF-8`)
  }
}

/** The query string as name → value; names outside `defs` and repeated names are refused. */
export function parseQuery (raw: string, defs: readonly QueryParamDef[]): Map<string, string> {
  const out = new Map<string, string>()
  if (raw === '') return out
  for (const part of raw.split('&')) {
    if (part === '') continue
    const eq = part.indexOf('=')
    const name = decode(eq === -1 ? part : part.slice(0, eq), '')
    if (!defs.some(d => d.name === name)) {
      throw badParam(name, `unknown query parameter${NAME.test(name) ? ` "${name}"` : ''}; this endpoint takes ${defs.map(d => d.name).join(', ')}`)
    }
    if (out.has(name)) throw badParam(name, `query parameter "${name}" is given more than once`)
    out.set(name, eq === -1 ? '' : decode(part.slice(eq + 1), name))
  }
  return out
}

export function flag (q: Map<string, string>, name: string, fallback: boolean): boolean {
  const v = q.get(name)
  if (v === undefined) return fallback
  if (v === 'true' || v === '1') return true
  if (v === 'false' || v === '0') return false
  throw badParam(name, `query parameter "${name}" must be true or false`)
}

export function integer (q: Map<string, string>, name: string, min: number, max: number, fallback: number): number {
  const v = q.get(name)
  if (v === undefined) return fallback
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) throw badParam(name, `query parameter "${name}" must be an integer from ${min} to ${max}`)
  return Number(v)
}

export function oneOf<T extends string> (q: Map<string, string>, name: string, values: readonly T[]): T | undefined {
  const v = q.get(name)
  if (v === undefined) return undefined
  if (!(values as readonly string[]).includes(v)) throw badParam(name, `query parameter "${name}" must be one of ${values.join(', ')}`)
  return v as T
}

/** A time range as run: unix ms [fromMs, toMs), and as echoed (dates inclusive, or instants). */
export interface TimeRange {
  fromMs: number
  toMs: number
  from: string
  to: string
}

export interface RangeRules {
  /** Only calendar dates (`YYYY-MM-DD`, UTC); otherwise RFC 3339 instants too. */
  datesOnly: boolean
  maxDays: number
  /** Without `from`, the range is this many days up to `to`. */
  defaultDays: number
  /** Aliases accepted for from and to (the legacy stats endpoint's start and end). */
  aliases?: { from: string, to: string }
  now?: number
}

/** `YYYY-MM-DD` → its UTC midnight, or undefined when it is not a real calendar date. */
function dateMs (text: string): number | undefined {
  const m = DATE.exec(text)
  if (m === null) return undefined
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]))
  return new Date(ms).toISOString().slice(0, 10) === text ? ms : undefined
}

const isoDate = (ms: number): string => new Date(ms).toISOString().slice(0, 10)

/**
 * `from` and `to`: calendar dates, both inclusive (`to=2026-03-31` runs to the end of that UTC
 * day), or — unless `datesOnly` — RFC 3339 instants, `to` exclusive. Default `to`: the end of
 * today (UTC); default `from`: `defaultDays` days before `to`.
 */
export function timeRange (q: Map<string, string>, rules: RangeRules): TimeRange {
  const pick = (name: string, alias: string | undefined): [string, string | undefined] => {
    const a = q.get(name)
    const b = alias === undefined ? undefined : q.get(alias)
    if (a !== undefined && b !== undefined) throw badParam(alias as string, `give "${name}" or "${alias as string}", not both`)
    return b !== undefined && alias !== undefined ? [alias, b] : [name, a]
  }
  const parse = (name: string, text: string, end: boolean): { ms: number, date: boolean } => {
    const d = dateMs(text)
    if (d !== undefined) return { ms: end ? d + DAY_MS : d, date: true }
    if (!rules.datesOnly && INSTANT.test(text)) {
      const ms = Date.parse(text)
      if (Number.isFinite(ms)) return { ms, date: false }
    }
    throw badParam(name, `query parameter "${name}" must be a date (YYYY-MM-DD)${rules.datesOnly ? '' : ' or an RFC 3339 time (2026-03-01T00:00:00Z)'}`)
  }
  const [fromName, fromText] = pick('from', rules.aliases?.from)
  const [toName, toText] = pick('to', rules.aliases?.to)
  const today = Math.floor((rules.now ?? Date.now()) / DAY_MS) * DAY_MS
  const to = toText === undefined ? { ms: today + DAY_MS, date: true } : parse(toName, toText, true)
  const from = fromText === undefined ? { ms: to.ms - rules.defaultDays * DAY_MS, date: to.date } : parse(fromName, fromText, false)
  const echo = (p: { ms: number, date: boolean }, end: boolean): string => p.date ? isoDate(end ? p.ms - DAY_MS : p.ms) : new Date(p.ms).toISOString()
  const range = { fromMs: from.ms, toMs: to.ms, from: echo(from, false), to: echo(to, true) }
  if (range.toMs <= range.fromMs) {
    throw new ClicktrailError('CT_ERR_RANGE', `the range from ${range.from} to ${range.to} is empty or reversed`, { details: { param: fromName, from: range.from, to: range.to, max_days: rules.maxDays } })
  }
  if (range.toMs - range.fromMs > rules.maxDays * DAY_MS) {
    throw new ClicktrailError('CT_ERR_RANGE', `the range from ${range.from} to ${range.to} is longer than ${rules.maxDays} days`, { details: { param: toName, from: range.from, to: range.to, max_days: rules.maxDays } })
  }
  return range
}

/** A position in (ts, obs_id) order and the way to go from it. */
export interface Cursor { ts: number, obsId: string, direction: 'next' | 'prev' }

/** Opaque to clients: base64url of a small JSON object (as Laravel's cursors are). */
export function encodeCursor (c: Cursor): string {
  return Buffer.from(JSON.stringify({ t: c.ts, o: c.obsId, d: c.direction === 'next' ? 'n' : 'p' })).toString('base64url')
}

export function decodeCursor (text: string | undefined): Cursor | undefined {
  if (text === undefined) return undefined
  const refuse = (): ClicktrailError => new ClicktrailError('CT_ERR_CURSOR', undefined, { details: { param: 'cursor' } })
  if (!CURSOR.test(text)) throw refuse()
  let v: unknown
  try {
    v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'))
  } catch {
    throw refuse()
  }
  const o = v as { t?: unknown, o?: unknown, d?: unknown } | null
  if (o === null || typeof o !== 'object' || Object.keys(o).length !== 3) throw refuse()
  if (typeof o.t !== 'number' || !Number.isSafeInteger(o.t) || o.t < 0) throw refuse()
  if (typeof o.o !== 'string' || !UUID.test(o.o) || (o.d !== 'n' && o.d !== 'p')) throw refuse()
  return { ts: o.t, obsId: o.o, direction: o.d === 'n' ? 'next' : 'prev' }
}

/** Whether an Accept header prefers text/csv to JSON (q-values honoured; a tie is JSON's). */
export function prefersCsv (accept: string): boolean {
  let csv = 0
  let json = 0
  for (const item of accept.split(',')) {
    const [type, ...params] = item.split(';').map(s => s.trim().toLowerCase())
    const qp = params.find(p => p.startsWith('q='))
    const qv = qp === undefined ? 1 : Number(qp.slice(2))
    const weight = Number.isFinite(qv) ? qv : 0
    if (type === 'text/csv') csv = Math.max(csv, weight)
    else if (type === 'application/json') json = Math.max(json, weight)
  }
  return csv > json
}
