import { request as httpRequest, Agent as HttpAgent } from 'node:http'
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https'
import { isIP } from 'node:net'
import { randomUUID } from 'node:crypto'
import { BatchedWriter } from '../store/batched.js'
import type { Quarantine } from '../store/quarantine.js'
import type { ClickHouseClient } from '@clickhouse/client'
import type { Logger } from '../log.js'
import type { ControlPlane } from '../control/plane.js'
import type { Webhook } from '../control/model.js'
import type { Spool, BatchRef } from '../ingest/spool.js'
import type { ClickRow } from '../promote/types.js'
import { buildClickedEvent, offsetTime } from './payload.js'
import { signatureHeaders } from './sign.js'
import { ForbiddenAddressError, guardedLookup, isForbiddenAddress } from './address.js'

/** One delivery to one webhook; kept in the outbox until a 2xx (or until it is given up). */
export interface Job {
  eventId: string
  webhookId: string
  sid: string
  event: string
  body: string
  createdAt: number
}

interface Live {
  job: Job
  ref: BatchRef | undefined
  attempt: number
  nextAt: number
}

export interface DispatcherOptions {
  spool: Spool<string>
  plane: ControlPlane
  client: ClickHouseClient
  log: Logger
  /** Where delivery records and event bodies ClickHouse refuses go. */
  quarantine: Quarantine
  /** Deliver to loopback/private/link-local addresses too (tests, private deployments). */
  allowPrivate: boolean
  timeoutMs: number
  /** Attempts in flight per webhook at most, so one slow receiver cannot starve the others. */
  concurrency: number
  /** Waits before each retry (ms); its length is the number of retries. */
  schedule: number[]
  tickMs?: number
}

export class DispatcherStats {
  enqueued = 0
  attempts = 0
  delivered = 0
  failedAttempts = 0
  givenUp = 0
  disabled = 0
  shed = 0
  lastLatencyMs = 0
}

/** Default retry schedule: 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 2 h, 4 h, 8 h, 8 h — about 24 h in all. */
export const DEFAULT_SCHEDULE_MS = [5e3, 30e3, 120e3, 600e3, 1800e3, 3600e3, 7200e3, 14400e3, 28800e3, 28800e3]

/**
 * Durable webhook delivery. Each (event, webhook) pair becomes one job, appended to an
 * outbox on disk (the spool machinery) before anything is sent and released only after a
 * 2xx, a 410 (the webhook is then disabled) or the last retry. After a restart the outbox
 * replays what was pending. Attempts are signed (Standard Webhooks), time-limited,
 * retried on the schedule with ±20 % jitter, limited per webhook, and every attempt is
 * recorded in ClickHouse (`webhook_deliveries`).
 */
export class WebhookDispatcher {
  readonly stats = new DispatcherStats()
  readonly #o: DispatcherOptions
  readonly #jobs = new Map<string, Live>()
  readonly #inFlight = new Map<string, number>()
  // Attempts and event bodies go to ClickHouse through the same bounded, retrying batch
  // writer as message records.
  readonly #records: BatchedWriter
  readonly #events: BatchedWriter
  readonly #lookup
  readonly #httpAgent = new HttpAgent({ keepAlive: true })
  readonly #httpsAgent = new HttpsAgent({ keepAlive: true })
  #timer: NodeJS.Timeout | undefined
  readonly #running = new Set<Promise<void>>()
  #tickQueued = false

  constructor (options: DispatcherOptions) {
    this.#o = options
    this.#lookup = guardedLookup(options.allowPrivate)
    this.#records = new BatchedWriter(options.client, 'webhook_deliveries', options.log, { quarantine: options.quarantine, maxBuffered: 50_000 })
    this.#events = new BatchedWriter(options.client, 'webhook_events', options.log, { quarantine: options.quarantine, maxBuffered: 10_000 })
  }

  get pending (): number { return this.#jobs.size }

  async start (): Promise<void> {
    for await (const batch of this.#o.spool.recover()) {
      for (const text of batch.records) {
        const job = JSON.parse(text) as Job
        this.#jobs.set(key(job), { job, ref: batch.ref, attempt: 0, nextAt: 0 })
      }
    }
    if (this.#jobs.size > 0) this.#o.log.info({ jobs: this.#jobs.size }, 'webhooks: resuming pending deliveries')
    this.#timer = setInterval(() => { this.#tick() }, this.#o.tickMs ?? 50)
    this.#timer.unref()
  }

  /** Promoted clicks → jobs for every enabled webhook that wants them. */
  enqueueClicks (clicks: ClickRow[]): void {
    const now = Date.now()
    for (const c of clicks) {
      const project = this.#o.plane.projectBySid(c.sid)
      if (project === undefined) continue
      let body: string | undefined
      let eventId = ''
      for (const w of this.#o.plane.webhooks(project.project_id)) {
        if (!wants(w, c)) continue
        if (body === undefined) {
          const event = buildClickedEvent(c, now)
          body = JSON.stringify(event)
          eventId = event.id
        }
        this.enqueue({ eventId, webhookId: w.webhook_id, sid: c.sid, event: 'message.clicked', body, createdAt: now })
      }
    }
  }

  /** Queues one job (durably first); false when the outbox is full (counted) or it is queued already. */
  enqueue (job: Job): boolean {
    const k = key(job)
    if (this.#jobs.has(k)) return false
    const ref = this.#o.spool.append([JSON.stringify(job)])
    if (ref === undefined) {
      this.stats.shed++
      this.#o.log.warn({ eventId: job.eventId, webhookId: job.webhookId }, 'webhook outbox full: event shed')
      return false
    }
    this.#jobs.set(k, { job, ref, attempt: 0, nextAt: 0 })
    this.#events.add([{ event_id: job.eventId, webhook_id: job.webhookId, sid: job.sid, event: job.event, body: job.body, created_at: job.createdAt }])
    this.stats.enqueued++
    this.#soon()
    return true
  }

  /** A test event (SPEC §6 shape with placeholder data) for one webhook. */
  enqueueTest (w: Webhook): string {
    const now = Date.now()
    const event = {
      id: randomUUID(),
      event: 'message.clicked',
      timestamp: new Date(now).toISOString(),
      data: {
        message_id: '00000000-0000-4000-8000-000000000000', subject: 'clicktrail test event', metadata: { test: 'true' }, tag: 'test', recipient: 'test@example.com',
        clicked_at: offsetTime(now), destination_url: 'https://example.com/', link_index: 0, anchor_text: 'Test', first_click: true,
        device_type: 'desktop', client_type: 'browser', client_name: 'Chrome', user_agent: 'clicktrail-test',
        bot: { detected: false, probability: 0, classification: 'genuine', proxy_type: null, reason_codes: [], machine: false, counts_for_metrics: true }
      }
    }
    const sid = this.#o.plane.project(w.project_id)?.sid ?? ''
    this.enqueue({ eventId: event.id, webhookId: w.webhook_id, sid, event: 'message.clicked', body: JSON.stringify(event), createdAt: now })
    return event.id
  }

  /** One tick on the next turn of the event loop, however many ask for it in this one. */
  #soon (): void {
    if (this.#tickQueued) return
    this.#tickQueued = true
    setImmediate(() => {
      this.#tickQueued = false
      this.#tick()
    })
  }

  #tick (): void {
    const now = Date.now()
    for (const live of this.#jobs.values()) {
      if (live.nextAt > now) continue
      const busy = this.#inFlight.get(live.job.webhookId) ?? 0
      if (busy >= this.#o.concurrency) continue
      this.#inFlight.set(live.job.webhookId, busy + 1)
      live.nextAt = Infinity // in flight
      const p = this.#attempt(live).finally(() => {
        this.#inFlight.set(live.job.webhookId, (this.#inFlight.get(live.job.webhookId) ?? 1) - 1)
        this.#running.delete(p)
        // A finished attempt frees a slot: start the next due job now, not at the next timer
        // tick (measured: the timer alone capped one endpoint at concurrency / tick = 80/s).
        if (this.#timer !== undefined) this.#soon()
      })
      this.#running.add(p)
    }
  }

  async #attempt (live: Live): Promise<void> {
    const { job } = live
    const w = this.#o.plane.webhook(job.webhookId)
    if (w === undefined || !w.enabled) {
      this.#finish(live, 'webhook deleted or disabled')
      return
    }
    live.attempt++
    this.stats.attempts++
    const started = performance.now()
    let status = 0
    let error = ''
    try {
      status = await this.#post(w, job)
    } catch (err) {
      error = (err as Error).message
    }
    const latency = Math.round(performance.now() - started)
    this.stats.lastLatencyMs = latency
    const ok = status >= 200 && status < 300
    let nextRetry: number | null = null
    if (ok) {
      this.stats.delivered++
      this.#finish(live)
    } else if (status === 410) {
      // 410 Gone: the receiver says this endpoint is no more.
      this.stats.disabled++
      this.#finish(live, 'receiver answered 410: webhook disabled')
      this.#o.plane.write('webhooks', { ...w, enabled: false, updated_at: Date.now() }).catch((err: Error) => { this.#o.log.warn({ err: err.message }, 'could not disable webhook') })
      this.#o.log.warn({ webhookId: w.webhook_id, url: w.url }, 'webhook disabled after 410 Gone')
    } else {
      this.stats.failedAttempts++
      if (error === '') error = `HTTP ${status}`
      if (live.attempt > this.#o.schedule.length) {
        this.stats.givenUp++
        this.#finish(live, 'retries exhausted')
      } else {
        const wait = this.#o.schedule[live.attempt - 1] * (0.8 + Math.random() * 0.4)
        live.nextAt = Date.now() + wait
        nextRetry = live.nextAt
      }
    }
    this.#records.add([{ event_id: job.eventId, webhook_id: job.webhookId, sid: job.sid, attempt: live.attempt, ts: Date.now(), status, ok, latency_ms: latency, error, next_retry: nextRetry }])
  }

  #finish (live: Live, why?: string): void {
    this.#jobs.delete(key(live.job))
    if (live.ref !== undefined) this.#o.spool.ack(live.ref)
    if (why !== undefined && live.attempt === 0) {
      this.#records.add([{ event_id: live.job.eventId, webhook_id: live.job.webhookId, sid: live.job.sid, attempt: 0, ts: Date.now(), status: 0, ok: false, latency_ms: 0, error: why, next_retry: null }])
    }
  }

  #post (w: Webhook, job: Job): Promise<number> {
    return new Promise((resolve, reject) => {
      const url = new URL(w.url)
      const host = url.hostname.replace(/^\[|\]$/g, '')
      if (!this.#o.allowPrivate && isIP(host) !== 0 && isForbiddenAddress(host)) {
        reject(new ForbiddenAddressError(host, host))
        return
      }
      const headers = {
        ...signatureHeaders(w.secret, job.eventId, Math.floor(Date.now() / 1000), job.body),
        'content-type': 'application/json',
        'user-agent': 'clicktrail-webhooks/1',
        'content-length': String(Buffer.byteLength(job.body))
      }
      const https = url.protocol === 'https:'
      const req = (https ? httpsRequest : httpRequest)(url, {
        method: 'POST', headers, lookup: this.#lookup as never, agent: https ? this.#httpsAgent : this.#httpAgent, timeout: this.#o.timeoutMs
      }, res => {
        res.resume()
        res.on('end', () => { resolve(res.statusCode ?? 0) })
        res.on('error', reject)
      })
      req.on('timeout', () => { req.destroy(new Error(`no answer within ${this.#o.timeoutMs} ms`)) })
      req.on('error', reject)
      req.end(job.body)
    })
  }

  /** Records what is buffered; for tests and the redelivery API. */
  async flush (): Promise<void> {
    await Promise.all([this.#events.flush(), this.#records.flush()])
  }

  async stop (deadlineMs = 3000): Promise<void> {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    await Promise.race([Promise.allSettled([...this.#running]), new Promise(resolve => setTimeout(resolve, deadlineMs))])
    await Promise.all([this.#events.close(), this.#records.close()])
    this.#httpAgent.destroy()
    this.#httpsAgent.destroy()
    this.#o.spool.close()
  }
}

function key (job: Job): string {
  return `${job.eventId}:${job.webhookId}`
}

/** Who gets what: counting clicks go to every subscribed webhook; machine ones only where asked. */
export function wants (w: Webhook, c: ClickRow): boolean {
  if (!w.enabled || !w.events.includes('message.clicked')) return false
  return c.bot.counts_for_metrics || w.include_machine_events
}
