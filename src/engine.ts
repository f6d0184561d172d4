import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import type { Registry } from 'prom-client'
import type { Config } from './config.js'
import type { Logger } from './log.js'
import { KeyRing } from './token/keys.js'
import { loadOrCreateSecrets } from './token/secret-file.js'
import { mintToken } from './token/codec.js'
import { RedirectServer } from './redirect/server.js'
import { StaticHostResolver, trackedUrl } from './redirect/hosts.js'
import type { ObservationSink } from './redirect/observation.js'
import { createMetrics, metricsRoute } from './metrics.js'
import { openStore, type Store } from './store/client.js'
import { migrate } from './store/migrate.js'
import { insertObservationRows, toRow, fromRow } from './store/observations.js'
import { loadOrCreateNodeId } from './store/node-id.js'
import { Spool } from './ingest/spool.js'
import { IngestPipeline, type RowWriter } from './ingest/pipeline.js'
import { AdminServer, loadOrCreateAdminToken } from './admin/server.js'
import { loadUws } from './redirect/uws.js'
import { ControlPlane } from './control/plane.js'
import { ControlPlaneHostResolver } from './control/hosts.js'
import { ApiServer } from './api/server.js'
import type { HostResolver } from './redirect/hosts.js'
import { readFileSync } from 'node:fs'
import { Promoter } from './promote/promoter.js'
import { MessageDirectory } from './promote/messages.js'
import type { ClassifyBatch } from './promote/types.js'
import { WebhookDispatcher } from './webhooks/dispatcher.js'
import { webhookDeliveryRoutes } from './api/webhook-routes.js'
import { rewriteRoutes } from './api/rewrite-routes.js'
import { createRewritePool, type RewritePool } from './pool/pool.js'
import { BatchedWriter } from './store/batched.js'
import { toClassifyTask } from './promote/classify-task.js'

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version

export interface Engine {
  config: Config
  keys: KeyRing
  server: RedirectServer
  metrics: Registry
  port: number
  store?: Store
  pipeline?: IngestPipeline
  spool?: Spool<string>
  admin?: AdminServer
  plane?: ControlPlane
  api?: ApiServer
  promoter?: Promoter
  dispatcher?: WebhookDispatcher
  messages?: MessageDirectory
  pool?: RewritePool
  /** Mints a tracked URL with this engine's keys. */
  track (sid: string, url: string, linkIndex?: number): string
  stop (): Promise<void>
}

export interface EngineOptions {
  /** Observations go here instead of ClickHouse (no storage is opened): tests of the redirect path. */
  sink?: ObservationSink
  /** Wraps the ClickHouse row writer: lets tests inject faults they cannot cause for real. */
  wrapWriter?: (writer: RowWriter) => RowWriter
  /** How promotion classifies (default: in-process). */
  classify?: ClassifyBatch
}

/** Builds and starts everything `clicktrail serve` runs. */
export async function startEngine (config: Config, log: Logger, options: EngineOptions = {}): Promise<Engine> {
  loadUws() // refuse to start before touching storage if the native binding is missing
  const { secrets, source } = loadOrCreateSecrets(config.secrets, config.dataDir)
  const keys = new KeyRing(secrets)
  log.info({ source, kids: keys.kids, signingKid: keys.signingKid }, 'master secrets loaded')
  let hosts: HostResolver = new StaticHostResolver(config.trackingBaseUrl, config.domains, config.tokenTtlDays * 86400)
  let plane: ControlPlane | undefined
  let api: ApiServer | undefined

  let store: Store | undefined
  let spool: Spool<string> | undefined
  let pipeline: IngestPipeline | undefined
  let admin: AdminServer | undefined
  let outbox: Spool<string> | undefined
  let dispatcher: WebhookDispatcher | undefined
  let promoter: Promoter | undefined
  let messages: MessageDirectory | undefined
  let pool: RewritePool | undefined
  let recordWriters: BatchedWriter[] = []
  let sink = options.sink
  if (sink === undefined) {
    store = await openStore(config)
    const m = await migrate(store.writer)
    log.info({ clickhouse: store.kind, database: store.database, applied: m.applied, changed: m.changed }, 'schema up to date')
    if (m.changed.length > 0) log.warn({ files: m.changed }, 'applied migrations changed on disk since; they are not re-applied')
    plane = new ControlPlane(store.writer, log, config.configRefreshMs)
    await plane.start()
    hosts = new ControlPlaneHostResolver(plane, config.trackingBaseUrl, config.domains)
    spool = new Spool<string>({
      dir: join(config.dataDir, 'spool'),
      maxBytes: config.spoolMaxBytes,
      // The page cache survives a crash of the process; an fdatasync per hand-off would
      // put the disk on the redirect thread's path (see README, Durability).
      fsync: 'none',
      onCorrupt: info => { log.warn(info, 'spool: cut a damaged tail') }
    })
    await spool.open()
    const s = store
    const nodeId = loadOrCreateNodeId(config.dataDir)
    let writer: RowWriter = { insert: async (text, token) => { await insertObservationRows(s.writer, text, token) } }
    if (options.wrapWriter !== undefined) writer = options.wrapWriter(writer)
    pipeline = new IngestPipeline({
      spool,
      writer,
      log,
      toRow: o => toRow(o, nodeId),
      fromRow,
      intentPath: join(config.dataDir, 'ingest-intent.json'),
      batchMaxRows: config.batchMaxRows,
      batchMaxMs: config.batchMaxMs,
      retryMinMs: config.retryMinMs,
      retryMaxMs: config.retryMaxMs,
      onInserted: obs => { promoter?.add(obs) }
    })
    outbox = new Spool<string>({ dir: join(config.dataDir, 'outbox'), maxBytes: config.outboxMaxBytes, fsync: 'none', onCorrupt: info => { log.warn(info, 'outbox: cut a damaged tail') } })
    await outbox.open()
    dispatcher = new WebhookDispatcher({
      spool: outbox,
      plane,
      client: store.writer,
      log,
      allowPrivate: config.webhookAllowPrivate,
      timeoutMs: config.webhookTimeoutMs,
      concurrency: config.webhookConcurrency,
      schedule: config.webhookRetrySchedule,
      testPerMinute: config.webhookTestPerMinute,
      testBurst: config.webhookTestBurst,
      failingRate: config.webhookFailingRate
    })
    messages = new MessageDirectory(store.writer)
    pool = createRewritePool({ threads: config.poolThreads, maxQueue: config.poolMaxQueue })
    const workers = pool
    const d = dispatcher
    const p = pipeline
    promoter = new Promoter({
      client: store.writer,
      log,
      nodeId,
      messages,
      classify: options.classify ?? (async items => await workers.classify(toClassifyTask(items))),
      windowMs: config.promotionWindowMs,
      oldestPending: () => p.oldestQueuedTs(),
      intentPath: join(config.dataDir, 'promotion-intent.json'),
      onPromoted: rows => { d.enqueueClicks(rows) }
    })
    // Order matters: pending deliveries first, then promotion (an interrupted batch may
    // queue webhooks), then ingest (its replay feeds promotion).
    await dispatcher.start()
    await promoter.start()
    await pipeline.start()
    sink = pipeline
    recordWriters = [new BatchedWriter(store.writer, 'messages', log), new BatchedWriter(store.writer, 'message_links', log)]
    admin = new AdminServer(store, loadOrCreateAdminToken(config.dataDir))
    const adminPort = await admin.start(config.adminHost, config.adminPort)
    log.info({ host: config.adminHost, port: adminPort }, 'admin listener (POST /sql) ready')
    api = new ApiServer({
      plane,
      log,
      trackingBaseUrl: config.trackingBaseUrl,
      version: VERSION,
      allowPrivateWebhooks: config.webhookAllowPrivate,
      extraRoutes: [
        ...webhookDeliveryRoutes(dispatcher, store),
        ...rewriteRoutes({
          pool,
          secrets: secrets.map(x => ({ kid: x.kid, secret: new Uint8Array(x.secret) })),
          keys,
          trackingBaseUrl: config.trackingBaseUrl,
          maxUrlBytes: config.maxUrlBytes,
          staticDomains: [...config.domains.keys()],
          messages: recordWriters[0],
          links: recordWriters[1],
          directory: messages
        })
      ]
    })
    const apiPort = await api.start(config.apiHost, config.apiPort)
    log.info({ host: config.apiHost, port: apiPort }, 'Team API listening')
  }

  let registry: Registry | undefined
  const server = new RedirectServer({
    host: config.host,
    port: config.port,
    keys,
    hosts,
    sink,
    log,
    maxUrlBytes: config.maxUrlBytes,
    lruMax: config.lruMax,
    negativeCacheMax: config.negativeCacheMax,
    negativeCacheTtlMs: config.negativeCacheTtlMs,
    ringSize: config.ringSize,
    handoffIntervalMs: config.handoffIntervalMs,
    trustedProxies: config.trustedProxies,
    extraRoutes: app => { metricsRoute(app, () => registry) }
  })
  registry = createMetrics(server, pipeline, spool, promoter, dispatcher)
  const port = await server.start()
  log.info({ host: config.host, port }, 'redirect server listening')
  let stopped = false
  return {
    config,
    keys,
    server,
    metrics: registry,
    port,
    store,
    pipeline,
    spool,
    admin,
    plane,
    api,
    promoter,
    dispatcher,
    messages,
    pool,
    track (sid, url, linkIndex = 0) {
      const token = mintToken(keys, { sid, messageId: randomUUID(), linkIndex, sentAt: Math.floor(Date.now() / 1000), url }, { maxUrlBytes: config.maxUrlBytes })
      return trackedUrl(config.trackingBaseUrl, sid, token)
    },
    async stop () {
      if (stopped) return
      stopped = true
      admin?.stop()
      api?.stop()
      await plane?.stop()
      // Stops listening, hands the ring to the sink and closes it: the pipeline flushes
      // what ClickHouse takes in time and leaves the rest in the spool.
      await server.stop()
      await promoter?.stop()
      await dispatcher?.stop()
      for (const w of recordWriters) await w.close()
      await pool?.close()
      await store?.close()
      log.info({ observed: server.ring.pushed, dropped: server.ring.dropped, inserted: pipeline?.stats.inserted, leftInSpool: pipeline?.queuedRows }, 'stopped')
    }
  }
}
