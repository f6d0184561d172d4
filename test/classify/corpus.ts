/**
 * The labeled corpus (test/fixtures/classify/corpus.json) and the scoring the unit test and
 * the end-to-end test share: precision and recall for `machine`, and a confusion matrix by
 * class. Not a test file itself (tap runs *.test.ts only).
 */
import { readFileSync } from 'node:fs'
import { isSecureOrigin, type BotVerdict, type Classification, type ClassifyInput } from '../../src/classify/classify.js'
import { observationFromHeaders } from '../../src/records.js'

export interface CorpusRequest {
  id: string
  note: string
  method: 'GET' | 'HEAD'
  /** The client address; replay it as X-Forwarded-For from a trusted proxy. */
  ip: string
  /** Seconds from send (token sentAt) to the request. */
  delay: number
  /** Key shared by the requests of one email. */
  message: string
  link: number
  /** Lower-case header names, as an HTTP client sends them. */
  headers: Record<string, string>
  /** The scheme of the tracking host the request reached; absent = https. Replayed as X-Forwarded-Proto. */
  scheme?: 'http' | 'https'
  expect: { class: Classification, machine: boolean, proxy_type?: string }
}

export interface Corpus {
  description: string
  messages: Record<string, { links: number }>
  requests: CorpusRequest[]
}

export const CORPUS_PATH = new URL('../fixtures/classify/corpus.json', import.meta.url)

export function loadCorpus (): Corpus {
  return JSON.parse(readFileSync(CORPUS_PATH, 'utf8')) as Corpus
}

/**
 * The classifier input the redirect server would capture for a corpus request sent at
 * `sentAt` (unix seconds) + delay; header fields are '' when absent, as uWS reports them.
 */
export function toInput (r: CorpusRequest, sentAt: number): ClassifyInput {
  return {
    ...observationFromHeaders(r.headers),
    ts: Math.round((sentAt + r.delay) * 1000),
    sentAt,
    method: r.method,
    ip: r.ip,
    messageId: r.message,
    linkIndex: r.link,
    // As promotion computes it: a plain-http host that is not localhost is no secure origin.
    secure: isSecureOrigin(r.scheme ?? 'https', 'pacme.t.example.com')
  }
}

const CLASSES: Classification[] = ['genuine', 'privacy_proxy', 'security_scanner', 'link_preview', 'generic_bot']

export interface Scored { id: string, expect: CorpusRequest['expect'], verdict: BotVerdict }

export interface Report {
  total: number
  /** Counts for `machine`: true/false positives and negatives. */
  tp: number
  fp: number
  fn: number
  tn: number
  precision: number
  recall: number
  /** Share of requests whose class matched. */
  classAccuracy: number
  /** expected class → predicted class → count. */
  confusion: Record<Classification, Record<Classification, number>>
  /** Requests whose machine flag or class differs from the label. */
  misses: Array<{ id: string, expected: string, got: string, probability: number, reasons: string[] }>
}

/** Scores verdicts against labels. */
export function evaluate (rows: readonly Scored[]): Report {
  const confusion = Object.fromEntries(CLASSES.map(c => [c, Object.fromEntries(CLASSES.map(p => [p, 0]))])) as Report['confusion']
  let tp = 0
  let fp = 0
  let fn = 0
  let tn = 0
  let classHits = 0
  const misses: Report['misses'] = []
  for (const { id, expect, verdict } of rows) {
    if (expect.machine && verdict.machine) tp++
    else if (!expect.machine && verdict.machine) fp++
    else if (expect.machine && !verdict.machine) fn++
    else tn++
    confusion[expect.class][verdict.classification]++
    if (expect.class === verdict.classification) classHits++
    if (expect.machine !== verdict.machine || expect.class !== verdict.classification) {
      misses.push({
        id,
        expected: `${expect.class}${expect.machine ? ' (machine)' : ''}`,
        got: `${verdict.classification}${verdict.machine ? ' (machine)' : ''}`,
        probability: verdict.probability,
        reasons: verdict.reason_codes
      })
    }
  }
  return {
    total: rows.length,
    tp,
    fp,
    fn,
    tn,
    precision: tp + fp === 0 ? 1 : tp / (tp + fp),
    recall: tp + fn === 0 ? 1 : tp / (tp + fn),
    classAccuracy: rows.length === 0 ? 1 : classHits / rows.length,
    confusion,
    misses
  }
}

/** The report as Markdown (for t.comment and the README). */
export function formatReport (r: Report): string {
  const pct = (x: number): string => (x * 100).toFixed(1) + ' %'
  const lines = [
    `${r.total} requests — machine precision ${pct(r.precision)} (${r.tp}/${r.tp + r.fp}), recall ${pct(r.recall)} (${r.tp}/${r.tp + r.fn}); class accuracy ${pct(r.classAccuracy)}`,
    '',
    `| expected ＼ predicted | ${CLASSES.join(' | ')} |`,
    `|---|${CLASSES.map(() => '---:').join('|')}|`
  ]
  for (const e of CLASSES) lines.push(`| ${e} | ${CLASSES.map(p => String(r.confusion[e][p])).join(' | ')} |`)
  if (r.misses.length > 0) {
    lines.push('', 'Misclassified:')
    for (const m of r.misses) lines.push(`- ${m.id}: expected ${m.expected}, got ${m.got} at ${m.probability} [${m.reasons.join(', ')}]`)
  }
  return lines.join('\n')
}
