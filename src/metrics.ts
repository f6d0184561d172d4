import { Registry, Gauge, collectDefaultMetrics } from 'prom-client'
import type { RedirectServer } from './redirect/server.js'
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js'

/**
 * Prometheus metrics. The hot path only bumps plain integer fields; these gauges read them
 * at scrape time (prom-client `collect`), so a redirect never pays for a label lookup.
 * Counters are exported as gauges carrying monotonically growing totals, named `_total`.
 */
export function createMetrics (server: RedirectServer): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'clicktrail_process_' })
  const counter = (name: string, help: string, read: () => number): void => {
    // eslint-disable-next-line no-new
    new Gauge({ name, help, registers: [registry], collect () { this.set(read()) } })
  }
  const s = server.stats
  counter('clicktrail_requests_total', 'HTTP requests on the redirect port', () => s.requests)
  counter('clicktrail_redirects_total', '302 answers (expired tokens included)', () => s.redirects)
  counter('clicktrail_redirects_expired_total', '302 answers for tokens past their TTL', () => s.expired)
  counter('clicktrail_not_found_total', '404 answers for tokens that did not verify', () => s.notFound)
  counter('clicktrail_unknown_host_total', '404 answers for a Host that is not a tracking host', () => s.unknownHost)
  counter('clicktrail_wrong_project_total', '404 answers for a valid token on another project\'s host', () => s.wrongProject)
  counter('clicktrail_token_cache_hits_total', 'verified-token LRU hits', () => s.lruHits)
  counter('clicktrail_token_cache_misses_total', 'verified-token LRU misses', () => s.lruMisses)
  counter('clicktrail_negative_cache_hits_total', 'rejected-token cache hits', () => s.negativeHits)
  counter('clicktrail_observed_total', 'observations captured into the ring', () => server.ring.pushed)
  counter('clicktrail_ring_dropped_total', 'observations shed because the ring was full', () => server.ring.dropped)
  new Gauge({ name: 'clicktrail_ring_size', help: 'observations waiting in the ring', registers: [registry], collect () { this.set(server.ring.size) } })
  new Gauge({ name: 'clicktrail_token_cache_size', help: 'entries in the verified-token LRU', registers: [registry], collect () { this.set(server.lruSize) } })
  return registry
}

/** Registers `GET /metrics` on the app. */
export function metricsRoute (app: TemplatedApp, registry: () => Registry | undefined): void {
  app.get('/metrics', (res: HttpResponse) => {
    let aborted = false
    res.onAborted(() => { aborted = true })
    const reg = registry()
    if (reg === undefined) {
      res.writeStatus('503 Service Unavailable').end()
      return
    }
    reg.metrics().then(text => {
      if (aborted) return
      res.cork(() => { res.writeStatus('200 OK').writeHeader('Content-Type', reg.contentType).end(text) })
    }, (err: Error) => {
      if (aborted) return
      res.cork(() => { res.writeStatus('500 Internal Server Error').end(err.message) })
    })
  })
}
