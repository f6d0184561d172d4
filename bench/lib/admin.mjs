// The engine's admin listener as an operator reads it: `GET /metrics` (Prometheus text, no
// token) and `POST /sql` (analyst SQL with the admin token). bench/pipeline.mjs samples the
// counters from there, so what it reports is what a scraper of the product would see
// (summed over every thread of the engine), not a bench-only view over IPC.
import http from 'node:http'
import { HOST } from './settings.mjs'

// A new connection per request (a few a second): a kept-alive one that the listener closes
// as idle races the next request ("socket hang up"). One retry for a reset all the same.
function request (port, method, path, headers, body, timeoutMs) {
  return once(port, method, path, headers, body, timeoutMs).catch((err) => {
    if (err?.code !== 'ECONNRESET' && err?.code !== 'EPIPE') throw err
    return once(port, method, path, headers, body, timeoutMs)
  })
}

function once (port, method, path, headers, body, timeoutMs) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out after ${timeoutMs} ms`)))
    req.on('error', reject)
    req.end(body)
  })
}

/**
 * Parses Prometheus text exposition into name → value, the series of a labelled family
 * summed (histogram buckets are skipped; _sum and _count kept).
 */
export function parseMetrics (text) {
  const out = {}
  for (const line of text.split('\n')) {
    if (line === '' || line[0] === '#') continue
    const sp = line.lastIndexOf(' ')
    if (sp === -1) continue
    const brace = line.indexOf('{')
    const name = brace !== -1 && brace < sp ? line.slice(0, brace) : line.slice(0, sp)
    if (name.endsWith('_bucket')) continue
    const v = Number(line.slice(sp + 1))
    if (Number.isFinite(v)) out[name] = (out[name] ?? 0) + v
  }
  return out
}

/** One scrape of `GET /metrics`: the parsed counters and gauges, and how long the scrape took. */
export async function scrapeMetrics (port, timeoutMs = 5000) {
  const t0 = performance.now()
  const r = await request(port, 'GET', '/metrics', {}, undefined, timeoutMs)
  if (r.status !== 200) throw new Error(`GET /metrics answered ${r.status}: ${r.text.slice(0, 200)}`)
  return { values: parseMetrics(r.text), scrapeMs: performance.now() - t0 }
}

/** One analyst query (`POST /sql?format=JSONEachRow`): its rows. */
export async function adminSql (port, token, sql, timeoutMs = 60_000) {
  const r = await request(port, 'POST', '/sql?format=JSONEachRow', { authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, sql, timeoutMs)
  if (r.status !== 200) throw new Error(`POST /sql answered ${r.status}: ${r.text.slice(0, 300)}`)
  return r.text.split('\n').filter(l => l !== '').map(l => JSON.parse(l))
}
