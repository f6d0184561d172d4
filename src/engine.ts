import { randomUUID } from 'node:crypto'
import { join } from 'node:path'
import type { Registry } from 'prom-client'
import type { Config } from './config.js'
import type { Logger } from './log.js'
import { KeyRing } from './token/keys.js'
import { loadOrGenerateSecrets, readSecrets } from './token/secret-file.js'
import { RedirectServer, type BlockCheck } from './redirect/server.js'
import { StaticHostResolver } from './redirect/hosts.js'
import { mintTrackedUrl } from './token/tracked-url.js'
import type { ObservationSink } from './records.js'
import { createMetrics } from './metrics.js'
import { openStore, type Store } from './store/client.js'
import { migrate } from './store/migrate.js'
import { insertObservationRows, toRow, fromRow } from './store/observations.js'
import { loadOrCreateNodeId } from './store/node-id.js'
import { Spool } from './store/spool.js'
import { IngestPipeline, type RowWriter } from './ingest/pipeline.js'
import { AdminServer, loadOrCreateAdminToken } from './admin/server.js'
import { loadUws, probePort } from './http/uws.js'
import { lockDataDir, type DataDirLock } from './store/data-dir-lock.js'
import { checkKeyLedger, databaseState } from './store/key-ledger.js'
import { ControlPlane } from './control/plane.js'
import { ControlPlaneHostResolver } from './control/hosts.js'
import { DomainService, registerDomainMetrics } from './control/domains.js'
import { ApiServer } from './api/server.js'
import type { HostResolver } from './redirect/hosts.js'
import { readFileSync } from 'node:fs'
import { Promoter } from './promote/promoter.js'
import { MessageDirectory } from './messages/directory.js'
import type { ClassifyBatch } from './promote/types.js'
import { WebhookDispatcher } from './webhooks/dispatcher.js'
import { webhookDeliveryRoutes } from './api/webhook-routes.js'
import { rewriteRoutes } from './api/rewrite-routes.js'
import { createRewritePool, type RewritePool } from './pool/pool.js'
import { BatchedWriter } from './store/batched.js'
import { toClassifyTask } from './promote/classify-task.js'
import { Quarantine } from './store/quarantine.js'
import { MessageIds } from './messages/ids.js'

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
  quarantine?: Quarantine
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

/**
 * Builds and starts everything `clicktrail serve` runs. The data directory is locked
 * first (CT_ERR_DATA_DIR_LOCKED) and released by `stop`, or at once if start-up fails.
 */
export async function startEngine (config: Config, log: Logger, options: EngineOptions = {}): Promise<Engine> {
  const lock = lockDataDir(config.dataDir)
  try {
    return await startLocked(config, log, options, lock)
  } catch (err) {
    lock.release()
    throw err
  }
}

async function startLocked (config: Config, log: Logger, options: EngineOptions, lock: DataDirLock): Promise<Engine> {
  loadUws() // refuse to start before touching storage if the native binding is missing
  // Another process on one of our ports: refuse before replaying anything (listenOn checks
  // again when it binds).
  await probePort(config.host, config.port, 'redirect server')
  if (options.sink === undefined) {
    await probePort(config.apiHost, config.apiPort, 'Team API')
    await probePort(config.adminHost, config.adminPort, 'admin listener')
  }
  // A malformed CLICKTRAIL_SECRETS or secrets file fails here, before storage is opened.
  let loaded = readSecrets(config.secrets, config.dataDir)
  let store: Store | undefined
  if (options.sink === undefined) {
    store = await openStore(config)
    try {
      const m = await migrate(store.writer)
      log.info({ clickhouse: store.kind, database: store.database, applied: m.applied, changed: m.changed }, 'schema up to date')
      if (m.changed.length > 0) log.warn({ files: m.changed }, 'applied migrations changed on disk since; they are not re-applied')
      // No secret configured: generate one only where nothing was ever served.
      loaded ??= loadOrGenerateSecrets(config.secrets, config.dataDir, await databaseState(store.writer, store.database))
      const ledger = await checkKeyLedger(store.writer, loaded.secrets, log)
      if (ledger.recorded.length > 0) log.info({ kids: ledger.recorded }, 'key fingerprints recorded in ClickHouse')
    } catch (err) {
      await store.close()
      throw err
    }
  }
  loaded ??= loadOrGenerateSecrets(config.secrets, config.dataDir, [])
  const { secrets, source, generated } = loaded
  const keys = new KeyRing(secrets)
  log.info({ source, generated, kids: keys.kids, signingKid: keys.signingKid }, 'master secrets loaded')
  let hosts: HostResolver = new StaticHostResolver(config.trackingBaseUrl, config.domains, config.tokenTtlDays * 86400)
  let plane: ControlPlane | undefined
  let domains: DomainService | undefined
  let api: ApiServer | undefined

  let spool: Spool<string> | undefined
  let pipeline: IngestPipeline | undefined
  let admin: AdminServer | undefined
  let registry: Registry | undefined
  let outbox: Spool<string> | undefined
  let dispatcher: WebhookDispatcher | undefined
  let promoter: Promoter | undefined
  let messages: MessageDirectory | undefined
  let pool: RewritePool | undefined
  let quarantine: Quarantine | undefined
  let messageIds: MessageIds | undefined
  let recordWriters: BatchedWriter[] = []
  let sink = options.sink
  if (sink === undefined) {
    if (store === undefined) throw new Error('unreachable: the store is opened whenever no sink is given')
    plane = new ControlPlane(store.writer, log, config.configRefreshMs)
    await plane.start()
    domains = new DomainService(plane, log, {
      trackingBaseUrl: config.trackingBaseUrl,
      operatorDomains: config.domains.keys(),
      dnsServer: config.dnsServer,
      recheckMs: config.domainRecheckMs,
      verifyWindowMs: config.domainVerifyWindowMs
    })
    domains.start()
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
    quarantine = new Quarantine(store.writer, log, { nodeId })
    let writer: RowWriter = { insert: async (rows, token) => { await insertObservationRows(s.writer, rows, token) } }
    if (options.wrapWriter !== undefined) writer = options.wrapWriter(writer)
    pipeline = new IngestPipeline({
      spool,
      writer,
      log,
      toRow: o => toRow(o, nodeId),
      fromRow,
      quarantine,
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
      quarantine,
      allowPrivate: config.webhookAllowPrivate,
      timeoutMs: config.webhookTimeoutMs,
      concurrency: config.webhookConcurrency,
      schedule: config.webhookRetrySchedule,
      testPerMinute: config.webhookTestPerMinute,
      testBurst: config.webhookTestBurst,
      failingRate: config.webhookFailingRate
    })
    messages = new MessageDirectory(store.writer)
    messageIds = new MessageIds(store.writer)
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
      quarantine,
      retryMinMs: config.retryMinMs,
      retryMaxMs: config.retryMaxMs,
      onPromoted: rows => { d.enqueueClicks(rows) }
    })
    // Order matters: pending deliveries first, then promotion (an interrupted batch may
    // queue webhooks), then ingest (its replay feeds promotion).
    await dispatcher.start()
    await promoter.start()
    await pipeline.start()
    sink = pipeline
    recordWriters = [new BatchedWriter(store.writer, 'messages', log, { quarantine }), new BatchedWriter(store.writer, 'message_links', log, { quarantine })]
    // /metrics is served here, not on the public redirect port.
    admin = new AdminServer(store, loadOrCreateAdminToken(config.dataDir), { log, metrics: () => registry, plane })
    const adminPort = await admin.start(config.adminHost, config.adminPort)
    log.info({ host: config.adminHost, port: adminPort }, 'admin listener (POST /sql, GET /metrics) ready')
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
          directory: messages,
          messageIds,
          limits: { maxRecipients: config.rewriteMaxRecipients, maxLinks: config.rewriteMaxLinks, maxTokens: config.rewriteMaxTokens, maxOutputBytes: config.rewriteMaxOutputBytes }
        })
      ]
    })
    const apiPort = await api.start(config.apiHost, config.apiPort)
    log.info({ host: config.apiHost, port: apiPort }, 'Team API listening')
  }

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
    front: config.redirectFront,
    blocks: plane === undefined ? undefined : blockCheck(plane)
  })
  registry = createMetrics(server, pipeline, spool, promoter, dispatcher, quarantine, recordWriters, api, messageIds)
  admin?.registerMetrics(registry)
  const port = await server.start()
  log.info({ host: config.host, port }, 'redirect server listening')
  if (domains !== undefined) registerDomainMetrics(registry, domains)
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
    quarantine,
    track (sid, url, linkIndex = 0) {
      return mintTrackedUrl(keys, config.trackingBaseUrl, { sid, messageId: randomUUID(), linkIndex, sentAt: Math.floor(Date.now() / 1000), url }, { maxUrlBytes: config.maxUrlBytes })
    },
    async stop () {
      if (stopped) return
      stopped = true
      admin?.stop()
      api?.stop()
      await domains?.stop()
      await plane?.stop()
      // Stops listening, hands the ring to the sink and closes it: the pipeline flushes
      // what ClickHouse takes in time and leaves the rest in the spool.
      await server.stop()
      await promoter?.stop()
      await dispatcher?.stop()
      for (const w of recordWriters) await w.close()
      await quarantine?.close()
      await pool?.close()
      await store?.close()
      lock.release()
      log.info({ observed: server.ring.pushed, dropped: server.ring.dropped, inserted: pipeline?.stats.inserted, leftInSpool: pipeline?.queuedRows }, 'stopped')
    }
  }
}

/** The operator's blocks as the redirect path asks for them (re-asked per token when the snapshot changes). */
function blockCheck (plane: ControlPlane): BlockCheck {
  return {
    get generation () { return plane.generation },
    blocked: (sid, url) => plane.blockMatcher.match(sid, url)?.block_id
  }
}
