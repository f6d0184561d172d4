// Reports: numbers formatted for people, markdown tables, and the result files
// (bench/results/<name>-latest.json, tracked, plus a timestamped copy that .gitignore keeps out).
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RESULTS } from './settings.mjs'

/** A number with thousands separators and `digits` decimals; n/a (or ∞) otherwise. */
export const f = (x, digits = 0) => Number.isFinite(x) ? x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }) : (x === Infinity ? '∞' : 'n/a')
export const mb = (bytes) => f(bytes / 1048576, 1)
/** Progress goes to stderr; the report (markdown) to stdout. */
export const log = (...a) => { console.error(...a) }

/**
 * A markdown table. `align` has one letter per column, l or r (default: the first column
 * left, the others right).
 */
export function mdTable (headers, rows, align) {
  const a = align ?? 'l' + 'r'.repeat(headers.length - 1)
  const rule = headers.map((_, i) => a[i] === 'r' ? '---:' : '---')
  return [`| ${headers.join(' | ')} |`, `|${rule.join('|')}|`, ...rows.map(r => `| ${r.join(' | ')} |`)].join('\n')
}

/** A file-name stamp of a time: 2026-12-01T11-45-54-123Z. */
export const stamp = (date) => date.toISOString().replace(/[:.]/g, '-')

/**
 * Writes `json` to bench/results/<name>-latest.json and to <name>[-<tag>]-<stamp>.json;
 * returns both paths relative to the repository.
 */
export function writeResults (name, json, { started = new Date(), tag } = {}) {
  mkdirSync(RESULTS, { recursive: true })
  const text = JSON.stringify(json, null, 2) + '\n'
  const file = `${name}${tag ? `-${tag}` : ''}-${stamp(started)}.json`
  writeFileSync(join(RESULTS, file), text)
  writeFileSync(join(RESULTS, `${name}-latest.json`), text)
  return { file: `bench/results/${file}`, latest: `bench/results/${name}-latest.json` }
}

/** Prints the markdown report and where the results went. */
export function printReport (markdown, written) {
  console.log(markdown)
  console.log(`\nwrote ${written.file} and ${written.latest}`)
}
