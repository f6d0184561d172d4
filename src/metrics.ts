import { Registry as ProcessRegistry, collectDefaultMetrics } from 'prom-client'
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js'
import type { Logger } from './log.js'
import { limited } from './log-limit.js'
import { guard } from './http/guard.js'

/*
 * Prometheus metrics, built from the list of components and importing none of them: every
 * component publishes its own (`metrics()`), read at scrape time, so the hot path only bumps
 * plain integer fields and never pays for a label lookup. Metrics of one name published by
 * several components (one series each, e.g. per batched writer) are merged.
 */

export type Labels = Readonly<Record<string, string>>

export interface Metric {
  readonly name: string
  readonly help: string
  readonly type: 'counter' | 'gauge' | 'histogram'
  /** Unlabelled counters and gauges. */
  readonly value?: number
  /** Labelled series. */
  readonly series?: ReadonlyArray<{ readonly labels: Labels, readonly value: number }>
  /** Histograms (cumulative since start). */
  readonly histogram?: Histogram
}

/** Anything that publishes metrics: every component of the engine. */
export interface MetricSource {
  metrics (): Metric[]
}

export const counter = (name: string, help: string, value: number): Metric => ({ name, help, type: 'counter', value })
export const gauge = (name: string, help: string, value: number): Metric => ({ name, help, type: 'gauge', value })
export const labelled = (name: string, help: string, type: 'counter' | 'gauge', series: Array<{ labels: Labels, value: number }>): Metric => ({ name, help, type, series })

/** A Prometheus histogram kept by its owner: `observe` is a few additions. */
export class Histogram {
  readonly counts: number[]
  sum = 0
  count = 0
  constructor (readonly buckets: readonly number[]) {
    this.counts = new Array<number>(buckets.length).fill(0)
  }

  observe (v: number): void {
    this.sum += v
    this.count++
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]) this.counts[i]++
  }
}

export const histogram = (name: string, help: string, h: Histogram): Metric => ({ name, help, type: 'histogram', histogram: h })

function labelText (labels: Labels): string {
  const keys = Object.keys(labels)
  if (keys.length === 0) return ''
  return `{${keys.map(k => `${k}="${labels[k].replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`).join(',')}}`
}

/** Prometheus text exposition (version 0.0.4) of `metrics`; same names merged into one family. */
export function renderMetrics (metrics: Iterable<Metric>): string {
  const families = new Map<string, Metric[]>()
  for (const m of metrics) {
    const list = families.get(m.name)
    if (list === undefined) families.set(m.name, [m])
    else list.push(m)
  }
  const out: string[] = []
  for (const [name, list] of families) {
    const first = list[0]
    out.push(`# HELP ${name} ${first.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${first.type}`)
    for (const m of list) {
      if (m.value !== undefined) out.push(`${name} ${m.value}`)
      for (const s of m.series ?? []) out.push(`${name}${labelText(s.labels)} ${s.value}`)
      const h = m.histogram
      if (h !== undefined) {
        for (let i = 0; i < h.buckets.length; i++) out.push(`${name}_bucket{le="${h.buckets[i]}"} ${h.counts[i]}`)
        out.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${h.sum}`, `${name}_count ${h.count}`)
      }
    }
  }
  return out.join('\n') + '\n'
}

/**
 * The engine's metrics: its components' and the process's (prom-client's default
 * collectors, prefixed `clicktrail_process_`).
 */
export class MetricsRegistry {
  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8'
  readonly #sources: () => Iterable<MetricSource>
  readonly #process = new ProcessRegistry()

  constructor (sources: () => Iterable<MetricSource>) {
    this.#sources = sources
    collectDefaultMetrics({ register: this.#process, prefix: 'clicktrail_process_' })
  }

  async metrics (): Promise<string> {
    const all: Metric[] = []
    for (const s of this.#sources()) for (const m of s.metrics()) all.push(m)
    return renderMetrics(all) + await this.#process.metrics()
  }
}

/** Registers `GET|HEAD /metrics` on an app (the admin listener). */
export function metricsRoute (app: TemplatedApp, registry: () => MetricsRegistry | undefined, log: Logger): void {
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
