import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'
import { existsSync } from 'node:fs'
import { Piscina } from 'piscina'
import { ClicktrailError, isErrorCode } from '../errors.js'
import type { JobResult, MimeOutput, MimeTask, PoolTask, RewriteOutput, RewriteSendOutput, RewriteSendTask, RewriteTask, TaskFailure, WorkerData } from './tasks.js'
import { packClassifyTask, unpackClassified, type ClassifyTask, type Classified } from '../classify/batch.js'
import { counter, gauge, type Metric } from '../metrics.js'

export type { RewriteJob, RewriteOutput, RewriteSendOutput, RewriteSendTask, MimeOutput, TrackingConfig } from './tasks.js'

export interface RewritePoolOptions {
  /** Worker threads (default: 2, or 1 on a single core). */
  threads?: number
  /** Tasks that may wait for a thread; one more is refused with CT_ERR_POOL_BUSY (default 64 per thread). */
  maxQueue?: number
  /** A thread idle this long exits, down to `threads` (ms, default 30 s). */
  idleTimeout?: number
  /** Accept the test-only `test-crash` task kind. Tests only. */
  allowTestTasks?: boolean
  /** The worker entry (default: pool/worker beside this module, see workerEntry). */
  filename?: string
  /** Node flags for the worker threads (default: this process's, as worker_threads does). */
  execArgv?: string[]
}

export interface PoolStats {
  /** Tasks waiting for a thread right now. */
  queued: number
  /** Tasks finished (successfully or not) since start. */
  completed: number
  /** Tasks refused because the queue was full (shed work, counted). */
  busy: number
  /** Tasks lost to a worker that died (each one replaced by piscina). */
  workerCrashes: number
}

export interface RewritePool {
  /** Rewrites documents (one per message); rejects with the first job's error, if any. */
  rewrite: (task: Omit<RewriteTask, 'kind'>) => Promise<RewriteOutput[]>
  /** Like rewrite, but each job's outcome separately. */
  rewriteSettled: (task: Omit<RewriteTask, 'kind'>) => Promise<Array<JobResult<RewriteOutput>>>
  /** One send: one document for many recipients, answered with the JSON answer body built in the worker. */
  rewriteSend: (task: Omit<RewriteSendTask, 'kind'>) => Promise<RewriteSendOutput>
  /** Rewrites a raw RFC 5322 message. */
  rewriteMime: (task: Omit<MimeTask, 'kind'>) => Promise<MimeOutput & { raw: Buffer }>
  /** Classifies a batch (promotion). */
  classify: (task: ClassifyTask) => Promise<Classified[]>
  /** Runs any task kind; pool failures are PoolErrors. */
  run: (task: PoolTask) => Promise<unknown>
  readonly stats: PoolStats
  metrics: () => Metric[]
  readonly threads: number
  close: () => Promise<void>
}

/** A worker thread's entry file and the Node flags to start it with (undefined: this process's). */
export interface WorkerEntry { filename: string, execArgv: string[] | undefined }

/**
 * A worker thread's entry `<folder>/<name>` next to the module at `selfUrl`. Running from
 * TypeScript sources (tests), the built worker, when there is one, starts in milliseconds
 * where the .ts entry takes seconds per thread to compile; `make test` builds dist/ first,
 * so the two are the same code. A built entry started from sources also drops the loader
 * flags (`--import`, `--loader`, `--require`) the thread would inherit: it needs none, and
 * tap's hooks cost a redirect thread about 10 s of start-up under a loaded suite (0.2 s without).
 */
export function workerEntry (selfUrl: string, folder: string, name: string): WorkerEntry {
  if (!selfUrl.endsWith('.ts')) return { filename: fileURLToPath(new URL(`../${folder}/${name}.js`, selfUrl)), execArgv: undefined }
  const built = fileURLToPath(new URL(`../../dist/${folder}/${name}.js`, selfUrl))
  if (!existsSync(built)) return { filename: fileURLToPath(new URL(`../${folder}/${name}.ts`, selfUrl)), execArgv: undefined }
  return { filename: built, execArgv: withoutLoaders(process.execArgv) }
}

const LOADER_FLAGS = new Set(['--import', '--loader', '--experimental-loader', '--require', '-r'])

function withoutLoaders (argv: string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i].split('=', 1)[0]
    if (!LOADER_FLAGS.has(flag)) out.push(argv[i])
    else if (!argv[i].includes('=')) i++ // its value is the next argument
  }
  return out
}

/** A piscina pool that runs link rewriting (and, later, classification) off the main thread. */
export function createRewritePool (options: RewritePoolOptions = {}): RewritePool {
  const threads = Math.max(1, options.threads ?? Math.min(2, availableParallelism()))
  const maxQueue = options.maxQueue ?? threads * 64
  const workerData: WorkerData = { allowTestTasks: options.allowTestTasks === true }
  const piscina = new Piscina({
    ...(options.filename === undefined ? workerEntry(import.meta.url, 'pool', 'worker') : { filename: options.filename, execArgv: undefined }),
    ...(options.execArgv === undefined ? {} : { execArgv: options.execArgv }),
    minThreads: threads,
    maxThreads: threads,
    maxQueue,
    idleTimeout: options.idleTimeout ?? 30_000,
    workerData
  })
  const stats: PoolStats = { queued: 0, completed: 0, busy: 0, workerCrashes: 0 }
  let closed = false
  // piscina emits 'error' when a worker fails with no task on it; unheard, that event
  // would take the whole process down. The worker is replaced either way.
  piscina.on('error', () => { stats.workerCrashes++ })

  async function run (task: PoolTask, transferList?: ArrayBuffer[]): Promise<unknown> {
    if (closed) throw ClicktrailError.detailed('CT_ERR_POOL_CLOSED')
    // Checked here rather than read from piscina's rejection, whose only distinguishing
    // mark is its message text. Same bound: tasks waiting while every thread is busy.
    if (piscina.queueSize >= maxQueue) {
      stats.busy++
      throw ClicktrailError.detailed('CT_ERR_POOL_BUSY', `${piscina.queueSize} tasks waiting`)
    }
    try {
      return await piscina.run(task, transferList === undefined ? undefined : { transferList })
    } catch (err) {
      if (closed) throw ClicktrailError.detailed('CT_ERR_POOL_CLOSED', undefined, { cause: err })
      // The worker function never throws (failures come back as data), so a rejection
      // means the thread itself died: exit, uncaught error, out of memory.
      stats.workerCrashes++
      throw ClicktrailError.detailed('CT_ERR_POOL_WORKER', err instanceof Error ? err.message : String(err), { cause: err })
    } finally {
      stats.completed++
    }
  }

  /** Runs a task whose payload buffer is transferred to the worker instead of copied. */
  async function runMoved (task: { kind: 'classify', payload: Uint8Array }): Promise<unknown> {
    const buf = task.payload
    // Transfer needs an ArrayBuffer of its own: msgpackr packs into a reused buffer, which a
    // transfer would detach. One copy (a memcpy) is still far cheaper than a structured clone.
    const own = new Uint8Array(buf)
    return await run({ kind: 'classify', payload: own }, [own.buffer as ArrayBuffer])
  }

  async function rewriteSettled (task: Omit<RewriteTask, 'kind'>): Promise<Array<JobResult<RewriteOutput>>> {
    const out = await run({ kind: 'rewrite', tracking: task.tracking, jobs: task.jobs })
    return checkArray<JobResult<RewriteOutput>>(out)
  }

  return {
    rewriteSettled,
    async rewrite (task) {
      const results = await rewriteSettled(task)
      return results.map(unwrap)
    },
    async rewriteSend (task) {
      // Success comes back with the body's buffer transferred, a failure as data.
      return unwrap(await run({ ...task, kind: 'rewrite-send' }) as JobResult<RewriteSendOutput>)
    },
    async rewriteMime (task) {
      const r = unwrap(await run({ ...task, kind: 'rewrite-mime' }) as JobResult<MimeOutput>)
      return { ...r, raw: Buffer.from(r.raw.buffer, r.raw.byteOffset, r.raw.byteLength) }
    },
    async classify (task) {
      const packed = packClassifyTask(task)
      const out = await runMoved(packed)
      // Success comes back as the transferred verdict buffer, a failure as data.
      if (out instanceof Uint8Array) return unpackClassified(out)
      return unwrap(out as JobResult<never>)
    },
    run,
    get stats () { return { ...stats, queued: piscina.queueSize } },
    metrics (): Metric[] {
      return [
        gauge('clicktrail_pool_queued', 'tasks waiting for a worker thread', piscina.queueSize),
        counter('clicktrail_pool_completed_total', 'worker tasks finished, successfully or not', stats.completed),
        counter('clicktrail_pool_busy_total', 'tasks refused because the queue was full (CT_ERR_POOL_BUSY)', stats.busy),
        counter('clicktrail_pool_worker_crashes_total', 'tasks lost to a worker that died (replaced by piscina)', stats.workerCrashes)
      ]
    },
    threads,
    async close () {
      if (closed) return
      closed = true
      await piscina.close()
    }
  }
}

function checkArray<T> (out: unknown): T[] {
  if (Array.isArray(out)) return out as T[]
  // A whole-task failure (unknown kind) comes back as one result.
  unwrap(out as JobResult<never>)
  throw ClicktrailError.detailed('CT_ERR_POOL_TASK_FAILED', 'worker returned no result list')
}

function unwrap<T> (r: JobResult<T>): T {
  if (r.ok) return r.value
  throw toError(r.error)
}

/**
 * A task that ran and failed in a worker, re-created on this side: error classes do not
 * survive the thread boundary, their codes do (and the code brings its status).
 */
function toError (f: TaskFailure): Error {
  return isErrorCode(f.code) ? new ClicktrailError(f.code, f.message) : ClicktrailError.detailed('CT_ERR_POOL_TASK_FAILED', `${f.code}: ${f.message}`)
}
