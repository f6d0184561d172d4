import { stringify } from 'csv-stringify/sync'
import { ClicktrailError } from '../errors.js'
import type { AnalyticsResponse } from './run.js'

/*
 * `clicktrail report`: the common questions as readable tables, asked through the same
 * analytics code as POST /v1/analytics (the admin listener's POST /analytics runs it).
 * Here only the translation: a `--by` choice → an analytics request, and its answer → rows.
 */

/** What `--by` may name, and the dimension (or the daily series) each asks for. */
export const REPORT_BY: Record<string, string> = {
  link: 'destination_url',
  tag: 'tag',
  day: '',
  classification: 'classification',
  device: 'device_type',
  client: 'client_name',
  route: 'route'
}

/** The columns of every report: unique recipients and every observation, humans apart from machines. */
export const REPORT_METRICS = ['clicks', 'human_clicks', 'machine_clicks', 'clicks_events', 'human_click_rate'] as const

export interface ReportArgs { by?: string, from?: string, to?: string, timezone?: string, limit?: number }

/** The analytics request for a report. `--by campaign:KEY` groups by the metadata key KEY. */
export function reportRequest (a: ReportArgs): Record<string, unknown> {
  const req: Record<string, unknown> = { metrics: [...REPORT_METRICS] }
  if (a.from !== undefined) req.from = a.from
  if (a.to !== undefined) req.to = a.to
  if (a.timezone !== undefined) req.timezone = a.timezone
  const by = a.by
  if (by === undefined) {
    req.include = ['summary']
  } else if (by === 'day') {
    req.include = ['summary', 'time_series']
    req.interval = 'day'
  } else {
    const campaign = /^campaign:(.+)$/.exec(by)
    const dim = campaign !== null ? `metadata.${campaign[1]}` : REPORT_BY[by]
    if (dim === undefined || dim === '') throw new ClicktrailError('CT_ERR_USAGE', `--by takes ${Object.keys(REPORT_BY).join(', ')} or campaign:KEY, got "${by}"`)
    req.include = ['breakdown']
    req.group_by = [dim]
    req.sort = { metric: 'clicks', direction: 'desc' }
    req.limit = a.limit ?? 50
  }
  return req
}

export interface ReportTable { columns: string[], rows: Array<Array<string | number | boolean | null>> }

/** The rows a report shows: the breakdown, else the daily points, else the summary; a total row under a series. */
export function reportTable (res: AnalyticsResponse): ReportTable {
  const metrics = res.meta.metrics
  const values = (m: Record<string, number | null | undefined>): Array<number | null> => metrics.map(k => m[k] ?? null)
  if (res.data.breakdown !== undefined) {
    const dims = res.meta.group_by
    return { columns: [...dims, ...metrics], rows: res.data.breakdown.map(r => [...dims.map(d => r.dimensions[d] ?? null), ...values(r.metrics)]) }
  }
  if (res.data.time_series !== undefined) {
    const rows: ReportTable['rows'] = res.data.time_series.map(p => [p.from.slice(0, 10), ...values(p.metrics)])
    if (res.data.summary !== undefined) rows.push(['total', ...values(res.data.summary.metrics)])
    return { columns: ['day', ...metrics], rows }
  }
  return { columns: ['from', 'to', ...metrics], rows: [[res.meta.from, res.meta.to, ...values(res.data.summary?.metrics ?? {})]] }
}

function cell (v: string | number | boolean | null): string {
  if (v === null) return '—'
  if (typeof v === 'number' && !Number.isInteger(v)) return v.toFixed(4)
  return String(v)
}

/** A plain text table: columns padded, numbers right-aligned, a rule under the header. */
export function formatTable (t: ReportTable): string {
  const text = [t.columns, ...t.rows.map(r => r.map(cell))]
  const numeric = t.columns.map((_, i) => t.rows.length > 0 && t.rows.every(r => r[i] === null || typeof r[i] === 'number'))
  const widths = t.columns.map((_, i) => Math.min(80, Math.max(...text.map(r => r[i].length))))
  const line = (r: string[]): string => r.map((c, i) => {
    const s = c.length > widths[i] ? `${c.slice(0, widths[i] - 1)}…` : c
    return numeric[i] ? s.padStart(widths[i]) : s.padEnd(widths[i])
  }).join('  ').trimEnd()
  return [line(text[0]), widths.map(w => '-'.repeat(w)).join('  '), ...text.slice(1).map(line)].join('\n') + '\n'
}

/** The same rows as CSV (RFC 4180; a text cell a spreadsheet would run as a formula is escaped). */
export function formatCsv (t: ReportTable): string {
  return stringify([t.columns, ...t.rows.map(r => r.map(v => v === null ? '' : typeof v === 'boolean' ? String(v) : v))], { record_delimiter: 'windows', escape_formulas: true })
}
