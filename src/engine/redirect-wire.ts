import { Packr } from 'msgpackr'
import type { Observation } from '../records.js'
import type { RedirectServerOptions, RedirectStats, RingCounts } from '../redirect/server.js'
import type { RouteSnapshot } from '../control/hosts.js'
import type { FrontStats } from '../http/front.js'

/* What crosses between the main thread and a redirect thread (engine/redirect-threads.ts). */

/** The plain options a redirect thread builds its server from. */
export type ThreadServerOptions = Omit<RedirectServerOptions, 'keys' | 'hosts' | 'sink' | 'log' | 'blocks' | 'extraRoutes'>

export interface RedirectWorkerData {
  index: number
  server: ThreadServerOptions
  secrets: Array<{ kid: number, secret: Uint8Array }>
  trackingBaseUrl: string
  staticDomains: Array<[string, string]>
  /** null: no control plane; hosts resolve statically (the redirect-only engine). */
  snapshot: RouteSnapshot | null
  staticTtlSeconds: number
  logLevel: string
  statsIntervalMs: number
}

export interface FrontWorkerData {
  host: string
  port: number
  /** The redirect threads' Unix sockets. */
  paths: string[]
  logLevel: string
  statsIntervalMs: number
}

export type FromFront =
  | { type: 'ready', port: number }
  | { type: 'failed', code: string, message: string }
  | { type: 'front-stats', stats: FrontStats, reply?: number, final?: boolean }

export type ToThread =
  | { type: 'routes', snapshot: RouteSnapshot }
  | { type: 'handoff', id: number }
  | { type: 'stop', id: number }
  /** What /healthz answers on every thread: the threads' rings, summed. */
  | { type: 'health', health: Record<string, unknown> }

export type FromThread =
  | { type: 'ready', port: number }
  | { type: 'failed', code: string, message: string }
  | { type: 'batch', payload: Uint8Array, count: number }
  | { type: 'stats', stats: RedirectStats, ring: RingCounts, lruSize: number, negativeSize: number, reply?: number, final?: boolean }

// Observations cross as one msgpack buffer, transferred (STYLE.md): the main thread, the busy
// one, pays only the unpack. Measured (bench/micro/thread-transfer.mjs, a loaded machine):
// receiving 1,000 observations this way took about half a structured clone's deserialize and
// 0.8× a JSON.parse. Records mode: every observation has the same keys.
const packr = new Packr({ useRecords: true, maxSharedStructures: 0 })

/** A copy with its own ArrayBuffer, so it can be transferred (pack reuses its buffer). */
export function packObservations (batch: Observation[]): Uint8Array {
  return new Uint8Array(packr.pack(batch))
}

export function unpackObservations (payload: Uint8Array): Observation[] {
  return packr.unpack(payload) as Observation[]
}
