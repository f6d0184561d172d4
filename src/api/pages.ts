import { invalid } from './errors.js'
import type { Dialect } from './dialect.js'

/*
 * Cursor pagination of the Team API's lists, as Lettermint's: `page[size]` and
 * `page[cursor]` in the query; the answer is `{data, path, per_page, next_cursor,
 * next_page_url, prev_cursor, prev_page_url}` (the SDK's ProjectIndexResponse,
 * RouteIndexResponse, WebhookIndexResponse, WebhookDeliveriesResponse) and the same under
 * `meta` (its MessageIndexResponse / MessageEventsResponse shape). Cursors are opaque: the
 * (time, id) of the last item given, so a page never repeats or skips an item however the
 * list changes between calls. Only forward: prev_cursor is always null.
 */

/** Items per page at most, and by default in Lettermint's dialect (clicktrail's /v1 lists give every item unless asked). */
export const MAX_PAGE_SIZE = 100
export const DEFAULT_PAGE_SIZE = 30

/** Where a page starts: after the item with this (time ms, id). */
export type Cursor = readonly [number, string]

export interface PageQuery {
  /** undefined: every item (clicktrail's lists without page[size]). */
  size: number | undefined
  after: Cursor | undefined
  /** The filters the list takes (`filter[route_id]` → its value), as given. */
  filters: Map<string, string>
}

const CURSOR_TEXT = /^[A-Za-z0-9_-]{1,200}$/
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const badParam = (param: string, message: string): Error => invalid(message, { field: param, param })

export function encodeCursor (c: Cursor): string {
  return Buffer.from(JSON.stringify(c)).toString('base64url')
}

function decodeCursor (text: string): Cursor {
  const bad = (): Error => badParam('page[cursor]', 'page[cursor] is not a cursor this list gave')
  if (!CURSOR_TEXT.test(text)) throw bad()
  let v: unknown
  try { v = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) } catch { throw bad() }
  if (!Array.isArray(v) || v.length !== 2 || !Number.isSafeInteger(v[0]) || typeof v[1] !== 'string' || !ID.test(v[1])) throw bad()
  return [v[0] as number, v[1]]
}

/**
 * The query of a list: `page[size]` (1 to MAX_PAGE_SIZE), `page[cursor]` and the `filters` it
 * takes; any other name, or a name given twice, is 400 CT_ERR_VALIDATION naming it.
 */
export function pageQuery (query: string, dialect: Dialect, filters: readonly string[] = []): PageQuery {
  const q: PageQuery = { size: dialect === 'lettermint' ? DEFAULT_PAGE_SIZE : undefined, after: undefined, filters: new Map() }
  const seen = new Set<string>()
  for (const [name, value] of new URLSearchParams(query)) {
    const shown = name.slice(0, 64)
    if (seen.has(name)) throw badParam(shown, `query parameter "${shown}" is given more than once`)
    seen.add(name)
    if (name === 'page[size]') {
      if (!/^\d{1,3}$/.test(value) || Number(value) < 1 || Number(value) > MAX_PAGE_SIZE) throw badParam(name, `page[size] must be an integer from 1 to ${MAX_PAGE_SIZE}`)
      q.size = Number(value)
    } else if (name === 'page[cursor]') {
      q.after = decodeCursor(value)
    } else if (filters.includes(name)) {
      q.filters.set(name, value)
    } else {
      throw badParam(shown, `unknown query parameter "${shown}"; this list takes page[size], page[cursor]${filters.map(f => `, ${f}`).join('')}`)
    }
  }
  return q
}

const before = (a: Cursor, b: Cursor): boolean => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])

/** One page of `items` in (time, id) order, and the cursor of the next page (null on the last). */
export function paginate<T> (items: readonly T[], key: (item: T) => Cursor, q: PageQuery): { data: T[], next: Cursor | null } {
  const sorted = [...items].sort((a, b) => before(key(a), key(b)) ? -1 : before(key(b), key(a)) ? 1 : 0)
  const after = q.after
  const from = after === undefined ? 0 : sorted.findIndex(x => before(after, key(x)))
  const rest = from === -1 ? [] : sorted.slice(from)
  if (q.size === undefined || rest.length <= q.size) return { data: rest, next: null }
  const data = rest.slice(0, q.size)
  return { data, next: key(data[data.length - 1]) }
}

/** The answer of a list: its items and Lettermint's pagination fields, flat and under `meta`. */
export function listBody (path: string, q: PageQuery, data: unknown[], next: Cursor | null): Record<string, unknown> {
  const perPage = q.size ?? data.length
  const nextCursor = next === null ? null : encodeCursor(next)
  let nextUrl: string | null = null
  if (nextCursor !== null) {
    const params = new URLSearchParams([...q.filters, ['page[size]', String(perPage)], ['page[cursor]', nextCursor]])
    nextUrl = `${path}?${params.toString()}`
  }
  return {
    data,
    path,
    per_page: perPage,
    next_cursor: nextCursor,
    next_page_url: nextUrl,
    prev_cursor: null,
    prev_page_url: null,
    meta: { path, per_page: perPage, next_cursor: nextCursor, next_cursor_url: nextUrl, prev_cursor: null, prev_cursor_url: null }
  }
}
