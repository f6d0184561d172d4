import { parentPort, workerData } from 'node:worker_threads'
import { pino } from 'pino'
import { HttpFront, FrontStats } from '../http/front.js'
import { READ_FIELDS } from '../redirect/server.js'
import type { FromFront, FrontWorkerData, ToThread } from './redirect-wire.js'

/*
 * The redirect port's HTTP front on a thread of its own (engine/redirect-threads.ts starts
 * it): it alone holds the public listening socket and hands each client connection to the
 * next redirect thread's app on its private Unix socket. Off the main thread, so a long
 * task there (a ClickHouse insert) never holds a 302 back.
 */

const data = workerData as FrontWorkerData
const port = parentPort
if (port === null) throw new Error('front-worker.ts runs as a worker thread')

const log = pino({ level: data.logLevel, base: { thread: 'front' } })
const front = new HttpFront({ host: data.host, port: data.port, what: 'redirect server', log, keepFields: READ_FIELDS })
const send = (m: FromFront): void => { port.postMessage(m) }
const stats = (reply?: number, final?: boolean): FromFront => ({ type: 'front-stats', stats: Object.assign(new FrontStats(), front.stats), reply, final })

const timer = setInterval(() => { send(stats()) }, data.statsIntervalMs)
timer.unref()

port.on('message', (m: ToThread) => {
  if (m.type === 'handoff') send(stats(m.id))
  if (m.type === 'stop') {
    clearInterval(timer)
    front.close()
    send(stats(m.id, true))
    port.close()
  }
})

front.listenFor(data.paths).then(() => { send({ type: 'ready', port: front.port }) }, (err: unknown) => {
  send({ type: 'failed', code: (err as { code?: string }).code ?? 'CT_ERR_LISTEN', message: err instanceof Error ? err.message : String(err) })
  front.close()
  port.close()
})
