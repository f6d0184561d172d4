import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { stringify } from 'csv-stringify/sync'
import type { Store } from '../store/client.js'
import { clickPage, clickStats, EXPORT_COLUMNS, exportPages, messageKnown, messageLinks, type ClickFilter, type ExportRow, type StatsCell } from '../store/events.js'
import type { ClickRow } from '../records.js'
import { DEFAULT_IP_ADDRESSES, keptAddress, type IpAddressMode } from '../store/privacy.js'
import { clickedData, eventIdFor } from '../webhooks/payload.js'
import { ClicktrailError } from '../errors.js'
import { notFound } from './errors.js'
import { ownProject, type Ctx, type QueryParamDef, type Reply, type RouteDef } from './routes.js'
import { badParam, decodeCursor, encodeCursor, flag, integer, oneOf, parseQuery, prefersCsv, timeRange, type Cursor, type TimeRange } from './query.js'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** Longest range of the stats and the exports (as POST /v1/analytics). */
export const MAX_RANGE_DAYS = 90
/** The default range: the last 30 days, today (UTC) included. */
const DEFAULT_RANGE_DAYS = 30
const DEFAULT_PER_PAGE = 100
/** Links listed for one message: the rewriter's largest --rewrite-max-links (config.ts). */
const MAX_MESSAGE_LINKS = 65_535
const MAX_PER_PAGE = 1000
/** Rows per ClickHouse query of a CSV export (the reader answers at most 100 000). */
export const EXPORT_PAGE_ROWS = 10_000
/** Rows per CSV chunk: the event loop gets a turn between chunks (csv-stringify takes ~10–30 µs a row). */
const CSV_CHUNK_ROWS = 500
/**
 * Streamed exports running at once, on this node and per team. Each holds about one page
 * (~10,000 rows) in memory and takes the shared reader session for one query per page;
 * past these a request is answered 429 CT_ERR_EXPORT_BUSY with Retry-After.
 */
export const MAX_EXPORTS = 4
export const MAX_EXPORTS_PER_TEAM = 2
const EXPORT_RETRY_AFTER_S = 10
/**
 * The longest an export may run: past it the stream is cut (counted failed), so a client that
 * reads a trickle cannot hold a slot for good. A million rows take a minute or a few; a
 * larger export is split by time range.
 */
export const EXPORT_MAX_MS = 30 * 60_000

const bool = { type: 'string', enum: ['true', 'false', '1', '0'] }
const day = (what: string): QueryParamDef['schema'] => ({ type: 'string', description: what })
const RANGE_TEXT = `dates (YYYY-MM-DD, UTC, both inclusive) or RFC 3339 times (to exclusive); default the last ${DEFAULT_RANGE_DAYS} days; at most ${MAX_RANGE_DAYS} days`
const PAGE_QUERY: QueryParamDef[] = [
  { name: 'per_page', description: `rows per page, 1–${MAX_PER_PAGE} (default ${DEFAULT_PER_PAGE})`, schema: { type: 'integer', minimum: 1, maximum: MAX_PER_PAGE } },
  { name: 'cursor', description: 'meta.next_cursor or meta.prev_cursor of an earlier page', schema: { type: 'string' } }
]
const EVENTS_QUERY: QueryParamDef[] = [
  { name: 'include_machine_events', description: 'also machine, link-preview and scanner clicks (default false)', schema: bool },
  ...PAGE_QUERY
]
const STATS_QUERY: QueryParamDef[] = [
  { name: 'from', description: `first day, YYYY-MM-DD (UTC); default ${DEFAULT_RANGE_DAYS - 1} days before to; at most ${MAX_RANGE_DAYS} days in all`, schema: day('date') },
  { name: 'to', description: 'last day, YYYY-MM-DD (UTC), inclusive; default today', schema: day('date') },
  { name: 'start', description: 'the same as from', schema: day('date') },
  { name: 'end', description: 'the same as to', schema: day('date') },
  { name: 'project_id', description: 'one of the team\'s projects (default: all of them)', schema: { type: 'string', format: 'uuid' } },
  { name: 'include_machine', description: '`clicked` counts machine clicks too (default false: people only); machine_clicked is always given', schema: bool }
]
const EXPORT_QUERY: QueryParamDef[] = [
  { name: 'from', description: `start: ${RANGE_TEXT}`, schema: day('date or date-time') },
  { name: 'to', description: 'end: see from', schema: day('date or date-time') },
  { name: 'include_machine_events', description: 'also machine, link-preview and scanner clicks (default false)', schema: bool },
  { name: 'format', description: 'json (default; pages with a cursor) or csv (the whole range, streamed); without it, Accept: text/csv asks for CSV', schema: { type: 'string', enum: ['json', 'csv'] } },
  { name: 'order', description: 'JSON pages: `oldest` first (default) or `newest` first (next_cursor then goes to older clicks); a CSV export is always oldest first', schema: { type: 'string', enum: ['oldest', 'newest'] } },
  ...PAGE_QUERY
]

/** One click as a message event: Lettermint's MessageEventData, then the webhook's click fields. */
export function messageEvent (c: ClickRow): Record<string, unknown> {
  const { message_id: messageId, tag, metadata, ...click } = clickedData(c)
  return { message_id: messageId, event: 'clicked', tag: tag === '' ? null : tag, tags: [], metadata, timestamp: new Date(c.ts).toISOString(), event_id: eventIdFor(c.obs_id), ...click }
}

/**
 * One click as an export row: its message event, and what only the export carries. The
 * address as the project's ip_addresses keeps it: stored whole only within the late-evidence
 * horizon (store/privacy.ts), it never leaves the engine whole unless the project keeps it so.
 */
function exportRow (c: ClickRow, mode: IpAddressMode): Record<string, unknown> {
  return { ...messageEvent(c), sent_at: new Date(c.sent_at * 1000).toISOString(), ip: keptAddress(c.ip, mode), method: c.method }
}
const IP_CELL = EXPORT_COLUMNS.findIndex(c => c[0] === 'ip')

/** The CSV columns: the fields of the JSON export row, the bot object spread out. */
export const CSV_COLUMNS = EXPORT_COLUMNS.map(c => c[0])

/** An export row's cells as CSV fields: the event id from the obs_id, the metadata as JSON. */
function csvCells (r: ExportRow, mode: IpAddressMode): unknown[] {
  const cells = r.cells
  cells[IP_CELL] = keptAddress(cells[IP_CELL] as string, mode)
  cells[0] = eventIdFor(r.obs_id)
  cells[6] = JSON.stringify(cells[6])
  return cells
}

// RFC 4180: CRLF records; text that a spreadsheet would run as a formula (= + - @, tab, CR
// first: a user agent is the clicker's to choose) gets a leading ' (OWASP CSV injection).
// Every cell is text already (EXPORT_COLUMNS): no cast.
const CSV_OPTIONS = { record_delimiter: 'windows', escape_formulas: true } as const
const CSV_HEADER = stringify([CSV_COLUMNS], CSV_OPTIONS)

/** Streamed exports running, on this node and per team. */
class ExportSlots {
  running = 0
  readonly #byTeam = new Map<string, number>()

  take (teamId: string): boolean {
    const mine = this.#byTeam.get(teamId) ?? 0
    if (this.running >= MAX_EXPORTS || mine >= MAX_EXPORTS_PER_TEAM) return false
    this.running++
    this.#byTeam.set(teamId, mine + 1)
    return true
  }

  give (teamId: string): void {
    this.running--
    const mine = (this.#byTeam.get(teamId) ?? 1) - 1
    if (mine <= 0) this.#byTeam.delete(teamId)
    else this.#byTeam.set(teamId, mine)
  }
}

/**
 * The click export as CSV chunks. The slot is taken when the first chunk is asked for (so a
 * refusal is still a proper 429, and a stream never started never holds one) and given back
 * when the generator finishes, fails or is closed.
 */
async function * csvExport (store: Store, slots: ExportSlots, teamId: string, f: ClickFilter & { fromMs: number, toMs: number }, mode: IpAddressMode): AsyncGenerator<string> {
  if (!slots.take(teamId)) {
    throw new ClicktrailError('CT_ERR_EXPORT_BUSY', undefined, { headers: { 'Retry-After': String(EXPORT_RETRY_AFTER_S) }, details: { per_team: MAX_EXPORTS_PER_TEAM, per_node: MAX_EXPORTS } })
  }
  const deadline = Date.now() + EXPORT_MAX_MS
  try {
    let header = CSV_HEADER
    for await (const rows of exportPages(store.reader, store.readerSettings, f, EXPORT_PAGE_ROWS)) {
      if (Date.now() > deadline) throw new Error(`the export ran past ${EXPORT_MAX_MS / 60_000} minutes; cut`)
      for (let i = 0; i < rows.length; i += CSV_CHUNK_ROWS) {
        if (i > 0) await yieldToLoop()
        yield header + stringify(rows.slice(i, i + CSV_CHUNK_ROWS).map(r => csvCells(r, mode)), CSV_OPTIONS)
        header = ''
      }
    }
    if (header !== '') yield header
  } finally {
    slots.give(teamId)
  }
}

interface CursorMeta { path: string, per_page: number, next_cursor: string | null, next_cursor_url: string | null, prev_cursor: string | null, prev_cursor_url: string | null }

/**
 * A page of Lettermint's cursor shape from `rows` (perPage + 1 were asked for: the extra one
 * says whether there is more in the direction of travel). `rows` are in ascending (ts, obs_id)
 * order and a cursor names the store's direction (`next`: later, `prev`: earlier); with
 * `newest`, the page is shown newest first and the API's next page is the earlier one.
 */
function cursorPage (rows: ClickRow[], perPage: number, cursor: Cursor | undefined, newest: boolean, path: string, q: Map<string, string>, view: (c: ClickRow) => unknown): { data: unknown[], links: string[], meta: CursorMeta } {
  const direction = cursor?.direction ?? (newest ? 'prev' : 'next')
  const more = rows.length > perPage
  // Backwards, the extra row is the earliest: clickPage returns ascending order either way.
  const page = !more ? rows : direction === 'next' ? rows.slice(0, perPage) : rows.slice(rows.length - perPage)
  const first = page[0]
  const last = page[page.length - 1]
  // A page is at the start of its order when no cursor led to it: nothing lies before it.
  const later = last !== undefined && (direction === 'next' ? more : cursor !== undefined) ? encodeCursor({ ts: last.ts, obsId: last.obs_id, direction: 'next' }) : null
  const earlier = first !== undefined && (direction === 'prev' ? more : cursor !== undefined) ? encodeCursor({ ts: first.ts, obsId: first.obs_id, direction: 'prev' }) : null
  const next = newest ? earlier : later
  const prev = newest ? later : earlier
  const url = (c: string | null): string | null => {
    if (c === null) return null
    const p = new URLSearchParams([...q].filter(([k]) => k !== 'cursor'))
    p.set('cursor', c)
    return `${path}?${p.toString()}`
  }
  const data = page.map(view)
  if (newest) data.reverse()
  return { data, links: [], meta: { path, per_page: perPage, next_cursor: next, next_cursor_url: url(next), prev_cursor: prev, prev_cursor_url: url(prev) } }
}

/** Lettermint's StatsTypeData, with the clicks clicktrail knows. */
interface TypeStats { sent: 0, hard_bounced: 0, spam_complaints: 0, clicked: number, machine_clicked: number, clicked_events: number, machine_clicked_events: number }

function typeStats (cells: StatsCell[], includeMachine: boolean): TypeStats {
  let clicked = 0
  let machine = 0
  let clickedEvents = 0
  let machineEvents = 0
  for (const c of cells) {
    clicked += includeMachine ? c.anyMessages : c.humanMessages
    clickedEvents += includeMachine ? c.anyClicks : c.humanClicks
    machine += c.machineMessages
    machineEvents += c.machineClicks
  }
  return { sent: 0, hard_bounced: 0, spam_complaints: 0, clicked, machine_clicked: machine, clicked_events: clickedEvents, machine_clicked_events: machineEvents }
}

/**
 * Lettermint's StatsTotalsData / StatsDailyData for `cells` (one day, or the range). What
 * clicktrail cannot know (it neither sends nor opens mail) is 0 where the type is a number
 * and null where it may be null.
 */
function statsOf (cells: StatsCell[], includeMachine: boolean): Record<string, unknown> {
  const all = typeStats(cells, includeMachine)
  return {
    sent: 0,
    delivered: 0,
    hard_bounced: 0,
    spam_complaints: 0,
    opened: null,
    clicked: all.clicked,
    inbound: { received: 0 },
    transactional: typeStats(cells.filter(c => c.type === 'transactional'), includeMachine),
    broadcast: typeStats(cells.filter(c => c.type === 'broadcast'), includeMachine),
    observed_opened: null,
    human_opened: null,
    privacy_opened: null,
    effective_opened: null,
    machine_opened: null,
    machine_clicked: all.machine_clicked,
    clicked_events: all.clicked_events,
    machine_clicked_events: all.machine_clicked_events
  }
}

function statsBody (range: TimeRange, cells: { daily: StatsCell[], totals: StatsCell[] }, includeMachine: boolean): Record<string, unknown> {
  const byDay = new Map<string, StatsCell[]>()
  for (const c of cells.daily) {
    const list = byDay.get(c.day)
    if (list === undefined) byDay.set(c.day, [c])
    else list.push(c)
  }
  const daily: unknown[] = []
  for (let t = range.fromMs; t < range.toMs; t += 86_400_000) {
    const date = new Date(t).toISOString().slice(0, 10)
    daily.push({ date, ...statsOf(byDay.get(date) ?? [], includeMachine) })
  }
  return { from: range.from, to: range.to, totals: statsOf(cells.totals, includeMachine), daily }
}

function teamSids (ctx: Ctx): string[] {
  return ctx.plane.projects(ctx.teamId).map(p => p.sid)
}

/** Message events, legacy stats and click exports: they read promoted clicks from the store. */
export function eventRoutes (store: Store): RouteDef[] {
  const slots = new ExportSlots()
  const settings = store.readerSettings
  return [
    {
      method: 'get',
      path: '/v1/messages/:message_id/events',
      operationId: 'listMessageEvents',
      summary: 'A message\'s click events, oldest first, with cursor pages (Lettermint\'s MessageEventsResponse); people only unless include_machine_events=true',
      tag: 'events',
      query: EVENTS_QUERY,
      response: { status: 200, schema: 'MessageEvents' },
      errors: [400, 404],
      async handler (ctx) {
        const q = parseQuery(ctx.query, EVENTS_QUERY)
        const includeMachine = flag(q, 'include_machine_events', false)
        const perPage = integer(q, 'per_page', 1, MAX_PER_PAGE, DEFAULT_PER_PAGE)
        const cursor = decodeCursor(q.get('cursor'))
        const id = ctx.params.message_id.toLowerCase()
        if (!UUID.test(id)) throw notFound('message')
        const sids = teamSids(ctx)
        const rows = await clickPage(store.reader, settings, { sids, messageId: id, includeMachine }, cursor, cursor?.direction ?? 'next', perPage + 1)
        // Another team's message, or none: 404 either way, exactly as for any other resource.
        if (rows.length === 0 && !await messageKnown(store.reader, settings, sids, id)) throw notFound('message')
        return { status: 200, body: cursorPage(rows, perPage, cursor, false, `/v1/messages/${id}/events`, q, messageEvent) }
      }
    },
    {
      method: 'get',
      path: '/v1/messages/:message_id/links',
      operationId: 'listMessageLinks',
      summary: 'A message\'s links as rewritten, in order: the original URL, the link text, whether it was tracked (and why not); for the dashboard\'s message view, beside its click events',
      tag: 'events',
      query: [],
      response: {
        status: 200,
        schema: {
          type: 'object',
          required: ['data'],
          properties: {
            data: {
              type: 'array',
              items: {
                type: 'object',
                required: ['link_index', 'url', 'anchor_text', 'tracked', 'skip_reason'],
                properties: { link_index: { type: 'integer' }, url: { type: 'string' }, anchor_text: { type: 'string' }, tracked: { type: 'boolean' }, skip_reason: { type: 'string', description: 'why an untracked link was left as it was (empty when tracked)' } }
              }
            }
          }
        }
      },
      errors: [400, 404],
      async handler (ctx) {
        parseQuery(ctx.query, [])
        const id = ctx.params.message_id.toLowerCase()
        if (!UUID.test(id)) throw notFound('message')
        const sids = teamSids(ctx)
        const links = await messageLinks(store.reader, settings, sids, id, MAX_MESSAGE_LINKS)
        // Another team's message, or none: 404, as for its events.
        if (links.length === 0 && !await messageKnown(store.reader, settings, sids, id)) throw notFound('message')
        return { status: 200, body: { data: links } }
      }
    },
    {
      method: 'get',
      path: '/v1/stats',
      operationId: 'getStats',
      summary: 'Daily and total clicks, per route type, in the shape of Lettermint\'s stats (StatsData); fields clicktrail cannot know are 0 or null',
      tag: 'stats',
      query: STATS_QUERY,
      response: { status: 200, schema: 'Stats' },
      errors: [400, 404, 422],
      async handler (ctx) {
        const q = parseQuery(ctx.query, STATS_QUERY)
        const range = timeRange(q, { datesOnly: true, maxDays: MAX_RANGE_DAYS, defaultDays: DEFAULT_RANGE_DAYS, aliases: { from: 'start', to: 'end' } })
        const includeMachine = flag(q, 'include_machine', false)
        const pid = q.get('project_id')
        const projects = pid === undefined ? ctx.plane.projects(ctx.teamId) : [ownProject(ctx, pid)]
        const routes = projects.flatMap(p => ctx.plane.routes(p.project_id))
        const cells = await clickStats(store.reader, settings, {
          sids: projects.map(p => p.sid),
          fromMs: range.fromMs,
          toMs: range.toMs,
          transactional: routes.filter(r => r.type === 'transactional').map(r => r.route_id),
          broadcast: routes.filter(r => r.type === 'broadcast').map(r => r.route_id)
        })
        return { status: 200, body: statsBody(range, cells, includeMachine) }
      }
    },
    {
      method: 'get',
      path: '/v1/projects/:project_id/clicks',
      operationId: 'exportClicks',
      summary: 'Raw click events of a project, oldest first (order=newest: newest first): JSON pages with a cursor, or the whole range as streamed CSV (format=csv or Accept: text/csv)',
      tag: 'events',
      query: EXPORT_QUERY,
      response: {
        status: 200,
        schema: 'ClickExport',
        also: { 'text/csv': { description: `RFC 4180, a header row, then one row per click: ${CSV_COLUMNS.join(', ')}`, schema: { type: 'string' } } }
      },
      errors: [400, 404, 422, 429],
      async handler (ctx): Promise<Reply> {
        const p = ownProject(ctx)
        const q = parseQuery(ctx.query, EXPORT_QUERY)
        const range = timeRange(q, { datesOnly: false, maxDays: MAX_RANGE_DAYS, defaultDays: DEFAULT_RANGE_DAYS })
        const includeMachine = flag(q, 'include_machine_events', false)
        const format = oneOf(q, 'format', ['json', 'csv'] as const) ?? (prefersCsv(ctx.accept) ? 'csv' : 'json')
        const f = { sids: [p.sid], fromMs: range.fromMs, toMs: range.toMs, includeMachine }
        if (format === 'csv') {
          for (const name of ['per_page', 'cursor', 'order']) if (q.has(name)) throw badParam(name, `query parameter "${name}" is for JSON pages: a CSV export is the whole range`)
          return {
            status: 200,
            contentType: 'text/csv; charset=utf-8',
            headers: { 'Content-Disposition': `attachment; filename="clicks-${p.sid}.csv"` },
            stream: csvExport(store, slots, ctx.teamId, f, p.ip_addresses ?? DEFAULT_IP_ADDRESSES)
          }
        }
        const perPage = integer(q, 'per_page', 1, MAX_PER_PAGE, DEFAULT_PER_PAGE)
        const cursor = decodeCursor(q.get('cursor'))
        // Newest first (the dashboard's recent clicks): the latest rows, read backwards from the range's end.
        const newest = oneOf(q, 'order', ['oldest', 'newest'] as const) === 'newest'
        const rows = await clickPage(store.reader, settings, f, cursor, cursor?.direction ?? (newest ? 'prev' : 'next'), perPage + 1)
        return { status: 200, body: cursorPage(rows, perPage, cursor, newest, `/v1/projects/${p.project_id}/clicks`, q, c => exportRow(c, p.ip_addresses ?? DEFAULT_IP_ADDRESSES)) }
      }
    }
  ]
}
