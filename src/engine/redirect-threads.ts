import { Worker } from 'node:worker_threads'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClicktrailError } from '../errors.js'
import type { Logger } from '../log.js'
import { counter, gauge, type Metric } from '../metrics.js'
import type { ObservationSink } from '../records.js'
import { FrontStats } from '../http/front.js'
import { freePort } from '../http/uws.js'
import { RedirectStats, redirectMetrics, type RingCounts } from '../redirect/server.js'
import type { ControlPlane } from '../control/plane.js'
import type { MasterSecret } from '../token/keys.js'
import { workerEntry } from '../pool/pool.js'
import { unpackObservations, type FromFront, type FromThread, type FrontWorkerData, type RedirectWorkerData, type ThreadServerOptions, type ToThread } from './redirect-wire.js'

/*
 * The redirect port served by worker threads, each with its own uWS app (engine/redirect-
 * worker.ts). Without the HTTP front they all listen on the public port (uWS binds with
 * SO_REUSEPORT; Linux spreads new connections over the threads, a keep-alive connection
 * stays on its thread); the engine probed the port first, so only its own threads share it.
 * With the front, the front runs on a thread of its own (engine/front-worker.ts), which alone
 * holds the public socket (Node 20 cannot share one listening socket between threads safely:
 * there is no dup, and a second close of the shared fd may close whatever took its number),
 * and hands each client connection to the next thread's app on a private Unix socket. Off the
 * main thread, so a ClickHouse insert there never holds a 302 back.
 *
 * The main thread keeps what must be single (ClickHouse, spool, promotion, webhooks, the
 * Team API and admin). Observations come back in packed, transferred batches and go into
 * `sink` as they would from a server on this thread; the control-plane snapshot is posted to
 * the threads whenever it changes; counters are summed from what the threads post.
 */

export interface RedirectThreadsOptions {
  threads: number
  server: ThreadServerOptions
  secrets: readonly MasterSecret[]
  trackingBaseUrl: string
  staticDomains: Map<string, string>
  /** Where hosts and blocks come from; none = the static resolver (redirect-only engine). */
  plane?: ControlPlane
  /** Token TTL of the static resolver (without a plane). */
  staticTtlSeconds?: number
  sink: ObservationSink
  log: Logger
  /** How often each thread posts its counters (default 100 ms). */
  statsIntervalMs?: number
}

interface Thread {
  index: number
  worker: Worker
  stats: RedirectStats
  ring: RingCounts
  lruSize: number
  negativeSize: number
  stopping: boolean
}

const STOP_TIMEOUT_MS = 10_000
const RESTART_DELAY_MS = 1000

export class RedirectThreads {
  /** The threads' counters, summed (refreshed as they post them). */
  readonly stats = new RedirectStats()
  readonly #o: RedirectThreadsOptions
  readonly #threads: Thread[] = []
  /** Counters of threads that died, so that sums never go back. */
  readonly #retired = { stats: new RedirectStats(), pushed: 0, dropped: 0 }
  readonly #replies = new Map<number, () => void>()
  #nextId = 0
  #front: Worker | undefined
  #frontStats: FrontStats | undefined
  #dir: string | undefined
  #port = 0
  #generation = -1
  #closed = false
  #timer: NodeJS.Timeout | undefined
  /** Threads that died and were started again. */
  crashes = 0
  /** Observation batches received from the threads. */
  batches = 0
  readonly startedAt = Date.now()

  constructor (options: RedirectThreadsOptions) {
    if (options.threads < 1) throw new RangeError('at least one redirect thread')
    this.#o = options
  }

  get port (): number { return this.#port }
  /** The HTTP front's counters (it runs on a thread of its own), when it is on. */
  get front (): { readonly stats: FrontStats } | undefined { return this.#frontStats === undefined ? undefined : { stats: this.#frontStats } }
  get threads (): number { return this.#threads.length }
  get lruSize (): number { return this.#threads.reduce((n, t) => n + t.lruSize, 0) }
  get negativeSize (): number { return this.#threads.reduce((n, t) => n + t.negativeSize, 0) }
  /** The threads' rings, summed. */
  get ring (): RingCounts {
    let pushed = this.#retired.pushed
    let dropped = this.#retired.dropped
    let size = 0
    for (const t of this.#threads) {
      pushed += t.ring.pushed
      dropped += t.ring.dropped
      size += t.ring.size
    }
    return { pushed, dropped, size }
  }

  /** Each running thread's last counters (index order). */
  threadStats (): RedirectStats[] { return this.#threads.map(t => t.stats) }

  metrics (): Metric[] {
    return [
      ...redirectMetrics(this.stats, this.ring, this.lruSize, this.#frontStats),
      gauge('clicktrail_redirect_threads', 'worker threads serving the redirect port', this.#threads.length),
      counter('clicktrail_redirect_thread_crashes_total', 'redirect threads that died and were started again (what their rings held is lost)', this.crashes)
    ]
  }

  /** Starts the threads (and the front); resolves with the bound port. */
  async start (): Promise<number> {
    const o = this.#o
    const fronted = o.server.front !== false
    if (fronted) this.#dir = mkdtempSync(join(tmpdir(), 'clicktrail-redirect-'))
    try {
      if (fronted) {
        // The threads and the front start together (each loads its modules: a few hundred ms);
        // the front connects to a thread's socket only when a client arrives, after start().
        const [port] = await Promise.all([
          this.#spawnFront(o.server.port),
          ...Array.from({ length: o.threads }, async (_, i) => { await this.#spawn(i, o.server.port) })
        ])
        this.#port = port
      } else {
        // One port for all (port 0 = a free one, chosen here: see freePort).
        this.#port = o.server.port === 0 ? await freePort(o.server.host) : o.server.port
        await Promise.all(Array.from({ length: o.threads }, async (_, i) => { await this.#spawn(i, this.#port) }))
      }
    } catch (err) {
      await this.stop()
      throw err
    }
    // Posted as soon as the snapshot changes: a write through the Team API is in force on
    // the threads before its answer reaches the client.
    o.plane?.onChange(() => { this.#pushRoutes() })
    this.#pushRoutes()
    this.#timer = setInterval(() => { this.#pushHealth() }, o.statsIntervalMs ?? 100)
    this.#timer.unref()
    return this.#port
  }

  /** Asks every thread to hand off its ring now; resolves once their batches have arrived. */
  async handoff (): Promise<void> {
    const front = this.#front
    await Promise.all([
      ...this.#threads.map(async t => { await this.#ask(t.worker, { type: 'handoff', id: ++this.#nextId }) }),
      ...(front === undefined ? [] : [this.#ask(front, { type: 'handoff', id: ++this.#nextId })])
    ])
  }

  /** Stops the front and the threads (each hands off its ring first), then closes the sink. */
  async stop (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    // The front first: no new connection reaches a thread that is stopping.
    if (this.#front !== undefined) await this.#stopWorker(this.#front, 'front')
    await Promise.all(this.#threads.map(async t => {
      t.stopping = true
      await this.#stopWorker(t.worker, t.index)
    }))
    if (this.#dir !== undefined) rmSync(this.#dir, { recursive: true, force: true })
    await this.#o.sink.close()
  }

  /** Asks a thread to stop (it closes its sockets, then hands off); terminates it if it does not. */
  async #stopWorker (worker: Worker, thread: number | string): Promise<void> {
    const exited = new Promise<void>(resolve => { worker.once('exit', () => { resolve() }) })
    const asked = this.#ask(worker, { type: 'stop', id: ++this.#nextId })
    const timeout = new Promise<'timeout'>(resolve => setTimeout(() => { resolve('timeout') }, STOP_TIMEOUT_MS).unref())
    if (await Promise.race([asked.then(() => 'ok' as const), timeout]) === 'timeout') {
      this.#o.log.error({ thread }, 'redirect thread did not stop in time: terminated')
      await worker.terminate()
    }
    if (await Promise.race([exited.then(() => 'ok' as const), new Promise<'timeout'>(resolve => setTimeout(() => { resolve('timeout') }, 2000).unref())]) === 'timeout') await worker.terminate()
  }

  /** The HTTP front on its own thread, handing connections to the threads' Unix sockets. */
  async #spawnFront (port: number): Promise<number> {
    const data: FrontWorkerData = { host: this.#o.server.host, port, paths: Array.from({ length: this.#o.threads }, (_, i) => this.#unixPath(i)), logLevel: this.#o.log.level, statsIntervalMs: this.#o.statsIntervalMs ?? 100 }
    const { filename, execArgv } = workerEntry(import.meta.url, 'engine', 'front-worker')
    const worker = new Worker(filename, { workerData: data, execArgv })
    const bound = await listening<FromFront>(worker, 'the redirect port\'s HTTP front', m => {
      if (m.type !== 'front-stats') return
      this.#frontStats = m.stats
      this.#reply(m.reply)
    })
    this.#front = worker
    this.#frontStats ??= new FrontStats()
    worker.on('error', err => { this.#o.log.error({ err, thread: 'front' }, 'redirect front thread failed') })
    worker.once('exit', code => {
      if (this.#closed) return
      this.crashes++
      this.#o.log.error({ thread: 'front', code }, 'the redirect port\'s HTTP front exited: starting it again')
      setTimeout(() => {
        if (this.#closed) return
        this.#spawnFront(this.#port).catch((err: unknown) => { this.#o.log.error({ err }, 'the HTTP front could not be started again') })
      }, RESTART_DELAY_MS).unref()
    })
    return bound
  }

  #reply (id: number | undefined): void {
    if (id === undefined) return
    const done = this.#replies.get(id)
    this.#replies.delete(id)
    done?.()
  }

  #unixPath (index: number): string { return join(this.#dir as string, `redirect-${index}.sock`) }

  async #spawn (index: number, port: number): Promise<number> {
    const o = this.#o
    const fronted = o.server.front !== false
    if (fronted) rmSync(this.#unixPath(index), { force: true })
    const data: RedirectWorkerData = {
      index,
      server: { ...o.server, port, probe: false, ...(fronted ? { unixPath: this.#unixPath(index) } : {}) },
      secrets: o.secrets.map(s => ({ kid: s.kid, secret: new Uint8Array(s.secret) })),
      trackingBaseUrl: o.trackingBaseUrl,
      staticDomains: [...o.staticDomains],
      snapshot: o.plane?.routeSnapshot() ?? null,
      staticTtlSeconds: o.staticTtlSeconds ?? 30 * 86400,
      logLevel: o.log.level,
      statsIntervalMs: o.statsIntervalMs ?? 100
    }
    const { filename, execArgv } = workerEntry(import.meta.url, 'engine', 'redirect-worker')
    const worker = new Worker(filename, { workerData: data, execArgv })
    const t: Thread = { index, worker, stats: new RedirectStats(), ring: { pushed: 0, dropped: 0, size: 0 }, lruSize: 0, negativeSize: 0, stopping: false }
    const bound = await listening<FromThread>(worker, `redirect thread ${index}`, m => { this.#onMessage(t, m) })
    this.#threads[index] = t
    worker.on('error', err => { o.log.error({ err, thread: index }, 'redirect thread failed') })
    worker.once('exit', code => { this.#onExit(t, code) })
    return bound
  }

  #onMessage (t: Thread, m: FromThread): void {
    if (m.type === 'batch') {
      this.batches++
      this.#o.sink.write(unpackObservations(m.payload))
    } else if (m.type === 'stats') {
      t.stats = m.stats
      t.ring = m.ring
      t.lruSize = m.lruSize
      t.negativeSize = m.negativeSize
      this.#sum()
      this.#reply(m.reply)
    }
  }

  #sum (): void {
    const sum = this.stats as unknown as Record<string, number>
    const retired = this.#retired.stats as unknown as Record<string, number>
    for (const k of Object.keys(sum)) {
      let n = retired[k]
      for (const t of this.#threads) if (t !== undefined) n += (t.stats as unknown as Record<string, number>)[k] ?? 0
      sum[k] = n
    }
  }

  async #ask (worker: Worker, m: ToThread & { id: number }): Promise<void> {
    await new Promise<void>(resolve => {
      this.#replies.set(m.id, resolve)
      try {
        worker.postMessage(m)
      } catch {
        this.#replies.delete(m.id)
        resolve()
      }
    })
  }

  #pushRoutes (): void {
    const plane = this.#o.plane
    if (plane === undefined || this.#closed || plane.generation === this.#generation) return
    this.#generation = plane.generation
    const snapshot = plane.routeSnapshot()
    for (const t of this.#threads) t.worker.postMessage({ type: 'routes', snapshot } satisfies ToThread)
  }

  #pushHealth (): void {
    const ring = this.ring
    const health = { ring: { size: ring.size, capacity: this.#o.server.ringSize * this.#threads.length, dropped: ring.dropped }, redirect_threads: this.#threads.length }
    for (const t of this.#threads) t.worker.postMessage({ type: 'health', health } satisfies ToThread)
  }

  /** A thread that died outside stop(): its counters are kept, and it is started again. */
  #onExit (t: Thread, code: number): void {
    if (t.stopping || this.#closed) return
    this.crashes++
    this.#o.log.error({ thread: t.index, code, lost: t.ring.size }, 'redirect thread exited: starting it again')
    const r = this.#retired
    for (const k of Object.keys(r.stats)) (r.stats as unknown as Record<string, number>)[k] += (t.stats as unknown as Record<string, number>)[k] ?? 0
    r.pushed += t.ring.pushed
    r.dropped += t.ring.dropped + t.ring.size
    t.stats = new RedirectStats()
    t.ring = { pushed: 0, dropped: 0, size: 0 }
    setTimeout(() => {
      if (this.#closed) return
      this.#spawn(t.index, this.#port).catch((err: unknown) => { this.#o.log.error({ err, thread: t.index }, 'redirect thread could not be started again') })
    }, RESTART_DELAY_MS).unref()
  }
}

/**
 * Resolves with the port a starting worker reports `ready` with; rejects if it reports
 * `failed` or dies first. Every other message, then and later, goes to `onMessage`.
 */
async function listening<M extends { type: string }> (worker: Worker, what: string, onMessage: (m: M) => void): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const early = (err: unknown): void => { reject(err instanceof Error ? err : new ClicktrailError('CT_ERR_LISTEN', `${what} exited while starting`)) }
    worker.once('error', early)
    worker.once('exit', early)
    worker.on('message', (m: M | { type: 'ready', port: number } | { type: 'failed', code: string, message: string }) => {
      if (m.type === 'ready') {
        worker.off('error', early)
        worker.off('exit', early)
        resolve((m as { port: number }).port)
      } else if (m.type === 'failed') {
        const f = m as { code: string, message: string }
        reject(new ClicktrailError(f.code as never, f.message))
      } else {
        onMessage(m as M)
      }
    })
  })
}
