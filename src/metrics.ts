import { Registry, Gauge, Histogram, collectDefaultMetrics } from 'prom-client'
import type { RedirectServer } from './redirect/server.js'
import type { IngestPipeline } from './ingest/pipeline.js'
import type { Spool } from './store/spool.js'
import type { Promoter } from './promote/promoter.js'
import type { WebhookDispatcher } from './webhooks/dispatcher.js'
import type { Quarantine } from './store/quarantine.js'
import type { BatchedWriter } from './store/batched.js'
import type { ApiServer } from './api/server.js'
import type { MessageIds } from './messages/ids.js'
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js'
import type { Logger } from './log.js'
import { limited } from './log-limit.js'
import { guard } from './http/guard.js'

/**
 * Prometheus metrics. The hot path only bumps plain integer fields; these gauges read them
 * at scrape time (prom-client `collect`), so a redirect never pays for a label lookup.
 * Counters are exported as gauges carrying monotonically growing totals, named `_total`.
 */
export function createMetrics (server: RedirectServer, pipeline?: IngestPipeline, spool?: Spool<string>, promoter?: Promoter, dispatcher?: WebhookDispatcher, quarantine?: Quarantine, writers: BatchedWriter[] = [], api?: ApiServer, messageIds?: MessageIds): Registry {
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
  counter('clicktrail_blocked_total', 'clicks on links the operator blocked (answered with the warning page, kept, never promoted)', () => s.blocked)
  counter('clicktrail_observed_total', 'observations captured into the ring', () => server.ring.pushed)
  counter('clicktrail_ring_dropped_total', 'observations shed because the ring was full', () => server.ring.dropped)
  // The HTTP front exists once the server listens (and not at all with --redirect-front=false).
  counter('clicktrail_front_http10_total', 'HTTP/1.0 requests on the redirect port, answered through the HTTP front', () => server.front?.stats.http10 ?? 0)
  counter('clicktrail_front_fields_trimmed_total', 'redirect requests with more header fields than uWS parses, passed on with unread fields dropped', () => server.front?.stats.fieldsTrimmed ?? 0)
  counter('clicktrail_front_fields_dropped_total', 'header fields dropped from such requests', () => server.front?.stats.fieldsDropped ?? 0)
  counter('clicktrail_front_refused_total', 'redirect-port requests the HTTP front answered itself (400, 431, 505)', () => server.front?.stats.refused ?? 0)
  if (pipeline !== undefined && spool !== undefined) {
    const p = pipeline.stats
    const sp = spool.stats
    counter('clicktrail_ingest_received_total', 'observations handed to ingest', () => p.received)
    counter('clicktrail_ingest_expired_dropped_total', 'observations of expired tokens, redirected but not recorded', () => p.expiredDropped)
    counter('clicktrail_ingest_spooled_total', 'observations written to the disk spool', () => p.spooled)
    counter('clicktrail_ingest_shed_total', 'observations shed because the spool was full or failed', () => p.shed)
    counter('clicktrail_ingest_inserted_total', 'observations acknowledged by ClickHouse', () => p.inserted)
    counter('clicktrail_ingest_insert_batches_total', 'ClickHouse inserts that succeeded', () => p.insertedBatches)
    counter('clicktrail_ingest_retried_total', 'ClickHouse inserts that failed and will be retried', () => p.retried)
    counter('clicktrail_ingest_replayed_total', 'observations replayed from the spool at start-up', () => p.replayed)
    counter('clicktrail_ingest_replay_undecodable_total', 'replayed spool rows that did not decode (sent on, refused, quarantined)', () => p.replayUndecodable)
    counter('clicktrail_ingest_quarantined_total', 'observations ClickHouse refused, moved to the quarantine', () => p.quarantined)
    counter('clicktrail_ingest_intent_failures_total', 'ingest intent-file writes that failed (disk full, bad path); inserts waited', () => p.intentFailures)
    counter('clicktrail_spool_truncated_frames_total', 'damaged spool frames cut at start-up', () => sp.truncatedFrames)
    counter('clicktrail_spool_write_errors_total', 'failed spool writes', () => sp.writeErrors)
    new Gauge({ name: 'clicktrail_spool_bytes', help: 'bytes in the disk spool', registers: [registry], collect () { this.set(sp.bytes) } })
    new Gauge({ name: 'clicktrail_ingest_queued_rows', help: 'observations spooled and not yet acknowledged by ClickHouse', registers: [registry], collect () { this.set(pipeline.queuedRows) } })
    // Observed at scrape time from what the pipeline recorded since the last scrape.
    new Histogram({
      name: 'clicktrail_ingest_insert_seconds',
      help: 'ClickHouse insert latency',
      registers: [registry],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      collect () { for (const ms of pipeline.takeLatencies()) this.observe(ms / 1000) }
    })
    new Histogram({
      name: 'clicktrail_ingest_batch_rows',
      help: 'rows per ClickHouse insert',
      registers: [registry],
      buckets: [1, 10, 100, 1000, 5000, 10000, 20000, 50000, 100000],
      collect () { for (const rows of pipeline.takeBatchSizes()) this.observe(rows) }
    })
  }
  if (promoter !== undefined) {
    const ps = promoter.stats
    counter('clicktrail_promoted_total', 'observations promoted to clicks', () => ps.promoted)
    counter('clicktrail_promoted_human_total', 'promoted clicks that count for metrics', () => ps.human)
    counter('clicktrail_promoted_machine_total', 'promoted clicks classified as machine, preview or scanner', () => ps.machine)
    counter('clicktrail_promotion_failures_total', 'promotion batches that failed and will be retried', () => ps.failures)
    counter('clicktrail_promotion_quarantined_total', 'click rows ClickHouse refused, moved to the quarantine (no webhook sent)', () => ps.quarantined)
    new Gauge({ name: 'clicktrail_promotion_pending', help: 'observations waiting for their promotion window', registers: [registry], collect () { this.set(promoter.pending) } })
    new Gauge({ name: 'clicktrail_promotion_lag_seconds', help: 'age of the oldest observation in the last promoted batch', registers: [registry], collect () { this.set(ps.lastLagMs / 1000) } })
  }
  if (dispatcher !== undefined) {
    const ds = dispatcher.stats
    counter('clicktrail_webhook_enqueued_total', 'webhook deliveries queued', () => ds.enqueued)
    counter('clicktrail_webhook_attempts_total', 'webhook delivery attempts', () => ds.attempts)
    counter('clicktrail_webhook_delivered_total', 'webhook deliveries answered 2xx', () => ds.delivered)
    counter('clicktrail_webhook_failed_attempts_total', 'webhook attempts that failed and will be retried', () => ds.failedAttempts)
    counter('clicktrail_webhook_given_up_total', 'webhook deliveries abandoned after the last retry', () => ds.givenUp)
    counter('clicktrail_webhook_disabled_total', 'webhooks disabled after a 410', () => ds.disabled)
    counter('clicktrail_webhook_shed_total', 'webhook deliveries lost to the outbox bound (refused or dropped, every reason)', () => ds.shed)
    counter('clicktrail_webhook_shed_share_total', 'new webhook deliveries refused: the outbox was full and their webhook held the largest share of it', () => ds.shedShare)
    counter('clicktrail_webhook_evicted_total', 'pending webhook deliveries dropped (oldest first) from the webhook holding the most of a full outbox, to make room for another', () => ds.evicted)
    counter('clicktrail_webhook_shed_outbox_total', 'webhook deliveries refused because the outbox could not store them (disk full or failing)', () => ds.shedOutbox)
    counter('clicktrail_webhook_cancelled_total', 'pending webhook deliveries dropped because their webhook was deleted or disabled', () => ds.cancelled)
    counter('clicktrail_webhook_relocated_total', 'pending webhook deliveries rewritten to free outbox segments (compaction)', () => ds.relocated)
    counter('clicktrail_webhook_test_rate_limited_total', 'test events refused by the per-webhook rate limit (429)', () => ds.testRateLimited)
    new Gauge({ name: 'clicktrail_webhook_pending', help: 'webhook deliveries waiting in the outbox', registers: [registry], collect () { this.set(dispatcher.pending) } })
    new Gauge({ name: 'clicktrail_webhook_outbox_live_bytes', help: 'outbox bytes held by pending deliveries (fair-share accounting; at most half of --outbox-max-bytes)', registers: [registry], collect () { this.set(dispatcher.liveBytes) } })
    new Gauge({ name: 'clicktrail_webhook_failing_webhooks', help: 'webhooks whose last 10 attempts failed, paced to --webhook-failing-rate', registers: [registry], collect () { let n = 0; for (const h of dispatcher.hooks()) if (h.failing) n++; this.set(n) } })
    new Gauge({ name: 'clicktrail_webhook_outbox_bytes', help: 'bytes of the outbox files, live and acked frames', registers: [registry], collect () { this.set(dispatcher.outboxBytes) } })
    // One series per webhook with pending deliveries or losses: webhooks are bounded in
    // number and the dispatcher forgets deleted ones, so these labels are bounded too.
    new Gauge({
      name: 'clicktrail_webhook_pending_by_webhook',
      help: 'webhook deliveries waiting in the outbox, by webhook',
      labelNames: ['webhook_id'],
      registers: [registry],
      collect () {
        this.reset()
        for (const h of dispatcher.hooks()) if (h.pending > 0) this.set({ webhook_id: h.webhookId }, h.pending)
      }
    })
    new Gauge({
      name: 'clicktrail_webhook_shed_by_webhook_total',
      help: 'webhook deliveries lost to the outbox bound, by webhook and reason (share: refused over its share; evicted: dropped for another webhook; outbox: disk full or failing)',
      labelNames: ['webhook_id', 'reason'],
      registers: [registry],
      collect () {
        this.reset()
        for (const h of dispatcher.hooks()) {
          if (h.shedShare > 0) this.set({ webhook_id: h.webhookId, reason: 'share' }, h.shedShare)
          if (h.evicted > 0) this.set({ webhook_id: h.webhookId, reason: 'evicted' }, h.evicted)
          if (h.shedOutbox > 0) this.set({ webhook_id: h.webhookId, reason: 'outbox' }, h.shedOutbox)
        }
      }
    })
  }
  if (quarantine !== undefined) {
    const q = quarantine.stats
    new Gauge({
      name: 'clicktrail_quarantined_total',
      help: 'rows the database refused, moved to the quarantine table, by the table they were meant for',
      labelNames: ['source'],
      registers: [registry],
      collect () { for (const [source, n] of q.bySource) this.set({ source }, n) }
    })
    counter('clicktrail_quarantine_shed_total', 'refused rows that could not be quarantined either (buffer full, or refused by the quarantine table)', () => q.shed)
    counter('clicktrail_quarantine_failures_total', 'failed inserts into the quarantine table (retried with back-off)', () => q.failures)
    new Gauge({ name: 'clicktrail_quarantine_buffered', help: 'quarantined rows waiting to be written', registers: [registry], collect () { this.set(quarantine.buffered) } })
  }
  if (writers.length > 0) {
    const byTable = (name: string, help: string, read: (w: BatchedWriter) => number): void => {
      new Gauge({ name, help, labelNames: ['table'], registers: [registry], collect () { for (const w of writers) this.set({ table: w.table }, read(w)) } })
    }
    byTable('clicktrail_writer_inserted_total', 'rows stored by the batched writers', w => w.inserted)
    byTable('clicktrail_writer_shed_total', 'rows shed because a batched writer was full', w => w.shed)
    byTable('clicktrail_writer_failures_total', 'failed batched inserts (retried with back-off)', w => w.failures)
    byTable('clicktrail_writer_quarantined_total', 'rows a batched writer had refused and quarantined', w => w.quarantined)
    byTable('clicktrail_writer_buffered', 'rows waiting in a batched writer', w => w.buffered)
  }
  if (api !== undefined) {
    new Gauge({
      name: 'clicktrail_api_refused_total',
      help: 'Team API requests answered 4xx, by error code',
      labelNames: ['code'],
      registers: [registry],
      collect () { for (const [code, n] of Object.entries(api.stats.refused)) this.set({ code }, n) }
    })
    counter('clicktrail_api_internal_errors_total', 'Team API requests answered 500 CT_ERR_INTERNAL (a bug; logged)', () => api.stats.internalErrors)
    counter('clicktrail_api_store_unavailable_total', 'Team API requests answered 503 because ClickHouse or the network failed', () => api.stats.storeUnavailable)
  }
  if (messageIds !== undefined) {
    counter('clicktrail_message_id_lookups_total', 'message-id ownership lookups in ClickHouse (ids not in the cache)', () => messageIds.lookups)
    counter('clicktrail_message_id_refused_total', 'rewrites refused because another project owns the message id (409)', () => messageIds.refused)
  }
  new Gauge({ name: 'clicktrail_ring_size', help: 'observations waiting in the ring', registers: [registry], collect () { this.set(server.ring.size) } })
  new Gauge({ name: 'clicktrail_token_cache_size', help: 'entries in the verified-token LRU', registers: [registry], collect () { this.set(server.lruSize) } })
  return registry
}

/**
 * Registers `GET /metrics` and `HEAD /metrics` (same headers, no body) on the app: the
 * admin listener's, not the public redirect port's, so nobody on the internet reads them.
 */
export function metricsRoute (app: TemplatedApp, registry: () => Registry | undefined, log: Logger): void {
  const handler = (res: HttpResponse, req: HttpRequest): void => {
    const head = req.getMethod() === 'head'
    let aborted = false
    res.onAborted(() => { aborted = true })
    const answer = (status: string, type: string, body: string): void => {
      if (aborted) return
      res.cork(() => {
        res.writeStatus(status).writeHeader('Content-Type', type).writeHeader('Cache-Control', 'no-store')
        if (head) res.endWithoutBody() // not (length): that aborts the process in this uWS build
        else res.end(body)
      })
    }
    const reg = registry()
    if (reg === undefined) {
      answer('503 Service Unavailable', 'application/json', JSON.stringify({ error: { code: 'CT_ERR_NOT_READY', message: 'metrics are not set up yet' } }))
      return
    }
    reg.metrics().then(text => { answer('200 OK', reg.contentType, text) }, (err: Error) => {
      limited(log).error('metrics.collect_error', { err }, 'collecting metrics failed')
      answer('500 Internal Server Error', 'application/json', JSON.stringify({ error: { code: 'CT_ERR_INTERNAL', message: 'collecting metrics failed; it has been logged' } }))
    })
  }
  app.get('/metrics', guard(log, 'metrics', handler))
  app.head('/metrics', guard(log, 'metrics', handler))
}
