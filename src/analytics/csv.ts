import { stringify } from 'csv-stringify/sync'
import type { AnalyticsResponse } from './run.js'

/*
 * A breakdown as CSV (RFC 4180, csv-stringify): one header line, one line per group of
 * the page. Columns: the group_by dimensions, the metrics, then with compare
 * `previous.<metric>`, `change.<metric>.absolute`, `change.<metric>.relative`. Null is an
 * empty field; booleans are true/false. A breakdown holds at most 200 rows (limit), so the
 * page is written at once; pagination travels in headers (see the route).
 */
export function breakdownCsv (res: AnalyticsResponse): string {
  const dims = res.meta.group_by
  const metrics = res.meta.metrics
  const compare = res.meta.compare !== null
  const header = [...dims, ...metrics]
  if (compare) for (const m of metrics) header.push(`previous.${m}`, `change.${m}.absolute`, `change.${m}.relative`)
  const rows: unknown[][] = [header]
  for (const r of res.data.breakdown ?? []) {
    const line: unknown[] = [...dims.map(d => r.dimensions[d]), ...metrics.map(m => r.metrics[m])]
    if (compare) for (const m of metrics) line.push(r.previous?.metrics[m], r.change?.[m]?.absolute, r.change?.[m]?.relative)
    rows.push(line.map(v => v === null || v === undefined ? '' : typeof v === 'boolean' ? String(v) : v))
  }
  // A text field that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets
  // a leading ' (OWASP CSV injection); numbers are left alone.
  return stringify(rows, { record_delimiter: 'windows', escape_formulas: true })
}
