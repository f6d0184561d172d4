import { parentPort, workerData } from 'node:worker_threads'
import { pino } from 'pino'
import { KeyRing } from '../token/keys.js'
import { RedirectServer, RedirectStats, type BlockCheck } from '../redirect/server.js'
import { ControlPlaneHostResolver, SnapshotRoutes, type RouteSnapshot } from '../control/hosts.js'
import { StaticHostResolver, type HostResolver } from '../redirect/hosts.js'
import type { Observation, ObservationSink } from '../records.js'
import { packObservations, type FromThread, type RedirectWorkerData, type ToThread } from './redirect-wire.js'

/*
 * A redirect thread (engine/redirect-threads.ts starts them): one RedirectServer with its own
 * uWS app, token LRU and ring, on the shared port (or on a Unix socket behind the main
 * thread's HTTP front). It knows the control plane only through the snapshots the main thread
 * posts, and hands its observations to the main thread in packed, transferred batches.
 */

const data = workerData as RedirectWorkerData
const port = parentPort
if (port === null) throw new Error('redirect-worker.ts runs as a worker thread')

const log = pino({ level: data.logLevel, base: { thread: data.index } })
const EMPTY: RouteSnapshot = { generation: -1, projects: [], verified: [], blocks: [] }
let routes = new SnapshotRoutes(data.snapshot ?? EMPTY)
const keys = new KeyRing(data.secrets.map(s => ({ kid: s.kid, secret: Buffer.from(s.secret) })))
const hosts: HostResolver = data.snapshot === null
  ? new StaticHostResolver(data.trackingBaseUrl, new Map(data.staticDomains), data.staticTtlSeconds)
  : new ControlPlaneHostResolver(() => routes, data.trackingBaseUrl, new Map(data.staticDomains))
const blocks: BlockCheck | undefined = data.snapshot === null
  ? undefined
  : { get generation () { return routes.generation }, blocked: (sid, url) => routes.blockMatcher.match(sid, url)?.block_id }

const send = (m: FromThread, transfer?: ArrayBuffer[]): void => { port.postMessage(m, transfer) }

const sink: ObservationSink = {
  write (batch: Observation[]): void {
    const payload = packObservations(batch)
    send({ type: 'batch', payload, count: batch.length }, [payload.buffer as ArrayBuffer])
  },
  async close (): Promise<void> {}
}

let health: Record<string, unknown> = {}
const server = new RedirectServer({ ...data.server, keys, hosts, sink, log, blocks, health: () => health })

function stats (): FromThread & { type: 'stats' } {
  const s: Partial<RedirectStats> = {}
  Object.assign(s, server.stats)
  return { type: 'stats', stats: s as RedirectStats, ring: { pushed: server.ring.pushed, dropped: server.ring.dropped, size: server.ring.size }, lruSize: server.lruSize, negativeSize: server.negativeSize }
}

const timer = setInterval(() => { send(stats()) }, data.statsIntervalMs)
timer.unref()

port.on('message', (m: ToThread) => {
  switch (m.type) {
    case 'routes':
      if (m.snapshot.generation !== routes.generation) routes = new SnapshotRoutes(m.snapshot)
      break
    case 'health':
      health = m.health
      break
    case 'handoff':
      server.handoff()
      send({ ...stats(), reply: m.id })
      break
    case 'stop':
      clearInterval(timer)
      // The listen socket must be closed before the thread exits: exiting with one open
      // aborts the process in this uWS build. stop() closes it, then hands off the ring.
      server.stop().then(() => {
        send({ ...stats(), reply: m.id, final: true })
        port.close()
      }, (err: unknown) => {
        log.error({ err }, 'redirect thread failed to stop')
        send({ ...stats(), reply: m.id, final: true })
        port.close()
      })
      break
  }
})

server.start().then(bound => { send({ type: 'ready', port: bound }) }, (err: unknown) => {
  send({ type: 'failed', code: (err as { code?: string }).code ?? 'CT_ERR_LISTEN', message: err instanceof Error ? err.message : String(err) })
  port.close()
})
