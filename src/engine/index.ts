import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../config.js'
import type { Logger } from '../log.js'
import { MetricsRegistry, type Metric, type MetricSource } from '../metrics.js'
import type { ClickRow, ObservationSink } from '../records.js'
import { KeyRing, type MasterSecret } from '../token/keys.js'
import { loadOrGenerateSecrets, readSecrets, type LoadedSecrets } from '../token/secret-file.js'
import { mintTrackedUrl } from '../token/tracked-url.js'
import { loadUws, probePort } from '../http/uws.js'
import { RedirectServer, type BlockCheck } from '../redirect/server.js'
import { StaticHostResolver, type HostResolver } from '../redirect/hosts.js'
import { openStore, type Store } from '../store/client.js'
import { migrate } from '../store/migrate.js'
import { insertObservationRows, toRow, fromRow } from '../store/observations.js'
import { loadOrCreateNodeId } from '../store/node-id.js'
import { Spool } from '../store/spool.js'
import { lockDataDir, type DataDirLock } from '../store/data-dir-lock.js'
import { checkKeyLedger, databaseState } from '../store/key-ledger.js'
import { Quarantine } from '../store/quarantine.js'
import { BatchedWriter } from '../store/batched.js'
import { ClickHousePromotionStore } from '../store/promotion.js'
import { AddressPrivacy } from '../store/privacy.js'
import { IngestPipeline, type RowWriter } from '../ingest/pipeline.js'
import { Promoter } from '../promote/promoter.js'
import { PartitionedPromotion } from '../promote/partitions.js'
import { ClickHouseLeaseStore } from '../store/leases.js'
import { LateEvidence } from '../promote/late.js'
import { ClickHouseLateEvidenceStore, type LateEvidenceStore } from '../store/late-evidence.js'
import type { ClassifyBatch } from '../promote/types.js'
import { MessageDirectory } from '../messages/directory.js'
import { MessageIds } from '../messages/ids.js'
import { ControlPlane } from '../control/plane.js'
import { ControlPlaneHostResolver } from '../control/hosts.js'
import { DomainService } from '../control/domains.js'
import { WebhookDispatcher, type OutboxRecord } from '../webhooks/dispatcher.js'
import { LoopDelay } from '../loop-delay.js'
import { createRewritePool, type RewritePool } from '../pool/pool.js'
import { AdminServer } from '../admin/server.js'
import { loadOrCreateAdminToken } from '../admin/token.js'
import { ApiServer } from '../api/server.js'
import { RedirectThreads } from './redirect-threads.js'
import { webhookDeliveryRoutes } from '../api/webhook-routes.js'
import { eventRoutes } from '../api/event-routes.js'
import { analyticsRoutes } from '../api/analytics-routes.js'
import { rewriteRoutes } from '../api/rewrite-routes.js'

/*
 * The composition root, and nothing else: it builds storage, then the stages from the end of
 * the pipeline (webhooks ← promotion ← ingest), then the listeners, each linked to the next
 * through the typed sinks of records.ts:
 *
 *   RedirectServer ──ObservationSink──► IngestPipeline ──InsertedSink──► Promoter ──ClickSink──► WebhookDispatcher
 *
 * Every part is one entry of one start list; stopping runs the list backwards. /metrics is
 * built from the same list: every part publishes its own.
 */

const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version

/** One part of the engine: started in list order, stopped in reverse, publishing its own metrics. */
export interface Component {
  readonly name: string
  start?: () => Promise<unknown> | unknown
  stop?: () => Promise<void> | void
  metrics?: () => Metric[]
}

/**
 * The redirect port: one RedirectServer on the main thread (--redirect-threads 0), or
 * redirect threads (engine/redirect-threads.ts). Both count the same, and `handoff` moves
 * what is buffered to the sink (for threads, once their batches have arrived).
 */
export type RedirectService = RedirectServer | RedirectThreads

/** What every engine has: the redirect front and a way to stop. */
export interface RedirectEngine {
  readonly config: Config
  readonly keys: KeyRing
  readonly server: RedirectService
  readonly metrics: MetricsRegistry
  /** The bound redirect port. */
  readonly port: number
  readonly components: readonly Component[]
  /** Mints a tracked URL with this engine's keys. */
  track: (sid: string, url: string, linkIndex?: number) => string
  stop: () => Promise<void>
}

/** The whole product, as `clicktrail serve` runs it. */
export interface Engine extends RedirectEngine {
  readonly store: Store
  readonly plane: ControlPlane
  readonly domains: DomainService
  readonly quarantine: Quarantine
  readonly spool: Spool<string>
  readonly pipeline: IngestPipeline
  /** Promotion: this node's own observations, or (--promotion-partitions) its share of the partitions. */
  readonly promoter: Promoter | PartitionedPromotion
  readonly late: LateEvidence
  readonly dispatcher: WebhookDispatcher
  /** The main thread's event-loop delay (/metrics clicktrail_event_loop_*). */
  readonly loopDelay: LoopDelay
  readonly messages: MessageDirectory
  readonly messageIds: MessageIds
  readonly pool: RewritePool
  readonly admin: AdminServer
  readonly api: ApiServer
  /** Brings stored recipients' addresses past the horizon to their project's setting. */
  readonly privacy: AddressPrivacy
}

export interface EngineOptions {
  /** Wraps the ClickHouse row writer: lets tests inject faults they cannot cause for real. */
  wrapWriter?: (writer: RowWriter) => RowWriter
  /** Wraps late evidence's store: tests inject storage faults they cannot cause for real (a crash between deciding and storing). */
  wrapLateStore?: (store: LateEvidenceStore) => LateEvidenceStore
  /** How promotion classifies (default: in the worker pool). */
  classify?: ClassifyBatch
}

/**
 * Builds and starts everything `clicktrail serve` runs. The data directory is locked first
 * (CT_ERR_DATA_DIR_LOCKED) and released by `stop`, or at once if start-up fails.
 */
export async function startEngine (config: Config, log: Logger, options: EngineOptions = {}): Promise<Engine> {
  return await locked(config, async lock => {
    loadUws() // refuse before touching storage if the native binding is missing
    // Another process on one of our ports: refuse before replaying anything.
    await probePort(config.host, config.port, 'redirect server')
    await probePort(config.apiHost, config.apiPort, 'Team API')
    await probePort(config.adminHost, config.adminPort, 'admin listener')
    // A malformed CLICKTRAIL_SECRETS or secrets file fails here, before storage is opened.
    const configured = readSecrets(config.secrets, config.dataDir)
    const store = await openStore(config)
    let secrets: LoadedSecrets
    try {
      const m = await migrate(store.writer, undefined, config.clickhouseCluster)
      log.info({ clickhouse: store.kind, database: store.database, applied: m.applied, changed: m.changed }, 'schema up to date')
      if (m.changed.length > 0) log.warn({ files: m.changed }, 'applied migrations changed on disk since; they are not re-applied')
      // No secret configured: generate one only where nothing was ever served.
      secrets = configured ?? loadOrGenerateSecrets(config.secrets, config.dataDir, await databaseState(store.writer, store.database))
      const ledger = await checkKeyLedger(store.writer, secrets.secrets, log)
      if (ledger.recorded.length > 0) log.info({ kids: ledger.recorded }, 'key fingerprints recorded in ClickHouse')
    } catch (err) {
      await store.close()
      throw err
    }
    return await assemble(config, log, options, lock, store, secrets)
  })
}

/**
 * The redirect front alone, handing its observations to `sink` (no storage is opened): for
 * tests of the redirect path and benchmarks of it.
 */
export async function startRedirectEngine (config: Config, log: Logger, sink: ObservationSink): Promise<RedirectEngine> {
  return await locked(config, async lock => {
    loadUws()
    await probePort(config.host, config.port, 'redirect server')
    const secrets = readSecrets(config.secrets, config.dataDir) ?? loadOrGenerateSecrets(config.secrets, config.dataDir, [])
    const keys = new KeyRing(secrets.secrets)
    const server = redirectService(config, log, keys, secrets.secrets, sink)
    const parts: Component[] = [{ name: 'redirect server', start: async () => await server.start(), stop: async () => { await server.stop() }, metrics: () => server.metrics() }]
    return { ...await run(parts, log, lock), config, keys, server, port: server.port, track: tracker(config, keys) }
  })
}

/** Runs `build` holding the data-dir lock; releases it if start-up fails. */
async function locked<T> (config: Config, build: (lock: DataDirLock) => Promise<T>): Promise<T> {
  const lock = lockDataDir(config.dataDir)
  try {
    return await build(lock)
  } catch (err) {
    lock.release()
    throw err
  }
}

async function assemble (config: Config, log: Logger, options: EngineOptions, lock: DataDirLock, store: Store, loaded: LoadedSecrets): Promise<Engine> {
  const { secrets } = loaded
  const keys = new KeyRing(secrets)
  log.info({ source: loaded.source, generated: loaded.generated, kids: keys.kids, signingKid: keys.signingKid }, 'master secrets loaded')
  const nodeId = loadOrCreateNodeId(config.dataDir)

  // Storage and the control plane.
  const plane = new ControlPlane(store.writer, log, config.configRefreshMs)
  const domains = new DomainService(plane, log, {
    trackingBaseUrl: config.trackingBaseUrl,
    operatorDomains: config.domains.keys(),
    dnsServer: config.dnsServer,
    recheckMs: config.domainRecheckMs,
    verifyWindowMs: config.domainVerifyWindowMs
  })
  const quarantine = new Quarantine(store.writer, log, { nodeId })
  const spool = new Spool<string>({
    dir: join(config.dataDir, 'spool'),
    maxBytes: config.spoolMaxBytes,
    // The page cache survives a crash of the process; an fdatasync per hand-off would put
    // the disk on the redirect thread's path (see README, Durability).
    fsync: 'none',
    onCorrupt: info => { log.warn(info, 'spool: cut a damaged tail') }
  })
  const outbox = new Spool<OutboxRecord>({ dir: join(config.dataDir, 'outbox'), maxBytes: config.outboxMaxBytes, fsync: 'none', onCorrupt: info => { log.warn(info, 'outbox: cut a damaged tail') } })
  const pool = createRewritePool({ threads: config.poolThreads, maxQueue: config.poolMaxQueue })
  const messages = new MessageDirectory(store.writer)
  const messageIds = new MessageIds(store.writer)
  const writers = [new BatchedWriter(store.writer, 'messages', log, { quarantine }), new BatchedWriter(store.writer, 'message_links', log, { quarantine })]

  // The stages, from the end.
  const dispatcher = new WebhookDispatcher({
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
  const promotionStore = new ClickHousePromotionStore(store.writer, quarantine)
  const promoterOptions = {
    store: promotionStore,
    log,
    nodeId,
    messages,
    classify: options.classify ?? (async (task: Parameters<ClassifyBatch>[0]) => await pool.classify(task)),
    windowMs: config.promotionWindowMs,
    intentPath: join(config.dataDir, 'promotion-intent.json'),
    retryMinMs: config.retryMinMs,
    retryMaxMs: config.retryMaxMs,
    // Stored clicks go to webhooks, and to late evidence (a burst of an address, a fetcher
    // whose honeypot hit came before its click was promoted).
    clicks: { clicks: async (rows: ClickRow[]) => { await dispatcher.clicks(rows); late.promoted(rows) } }
  }
  // Several nodes on one ClickHouse: each promotes the partitions it holds the lease of, from
  // every node's observations (promote/partitions.ts); one node: its own, in-process.
  const addresses = new Map<string, Map<string, number>>()
  const promoter = config.promotionPartitions === 0
    ? new Promoter(promoterOptions)
    : new PartitionedPromotion({
      nodeId,
      partitions: config.promotionPartitions,
      leases: new ClickHouseLeaseStore(store.writer),
      store: promotionStore,
      log,
      // One address map for all of them (the address_many_recipients signal); first_click
      // memories that add up to one node's.
      makePromoter: p => new Promoter({ ...promoterOptions, store: p.store, nodeId: p.key, intentPath: p.intentPath, addresses, firstClickCacheMax: Math.ceil(200_000 / config.promotionPartitions) + 1000 }),
      addresses,
      dir: join(config.dataDir, 'promotion-partitions'),
      windowMs: config.promotionWindowMs,
      leaseMs: config.promotionLeaseMs,
      nodeGraceMs: config.promotionNodeGraceMs,
      retryMinMs: config.retryMinMs,
      retryMaxMs: config.retryMaxMs
    })
  const lateStore = new ClickHouseLateEvidenceStore(store.writer, quarantine)
  const late = new LateEvidence({
    store: options.wrapLateStore?.(lateStore) ?? lateStore,
    log,
    nodeId,
    messages,
    classify: options.classify ?? (async task => await pool.classify(task)),
    windowMs: config.promotionWindowMs,
    horizonMs: config.lateEvidenceHorizonMs,
    gate: promoter,
    sink: dispatcher,
    retryMinMs: config.retryMinMs,
    retryMaxMs: config.retryMaxMs
  })
  // Late evidence matches whole addresses: none is cut before its horizon has passed.
  const privacyAfterMs = Math.max(config.addressPrivacyAfterMs, config.lateEvidenceHorizonMs)
  const privacy = new AddressPrivacy({
    client: store.writer,
    log,
    projects: () => plane.projects(),
    afterMs: privacyAfterMs,
    // A few passes per horizon, at most hourly: an address is kept at most a pass longer.
    intervalMs: Math.max(10_000, Math.min(3_600_000, Math.floor(privacyAfterMs / 4))),
    cluster: config.clickhouseCluster
  })
  let writer: RowWriter = { insert: async (rows, token) => { await insertObservationRows(store.writer, rows, token) } }
  if (options.wrapWriter !== undefined) writer = options.wrapWriter(writer)
  const pipeline = new IngestPipeline({
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
    // Stored observations go to promotion, and to late evidence (honeypot hits).
    next: { inserted: obs => { promoter.inserted(obs); late.observed(obs) }, pendingSince: ts => { promoter.pendingSince(ts) } }
  })

  // The listeners.
  let registry: MetricsRegistry | undefined // eslint-disable-line prefer-const -- set once the components run; the admin listener reads it later
  // /metrics is served here, not on the public redirect port.
  const admin = new AdminServer(store, loadOrCreateAdminToken(config.dataDir, config.adminToken), { log, metrics: () => registry, plane })
  const api = new ApiServer({
    plane,
    log,
    trackingBaseUrl: config.trackingBaseUrl,
    version: VERSION,
    allowPrivateWebhooks: config.webhookAllowPrivate,
    extraRoutes: [
      ...webhookDeliveryRoutes(dispatcher, store, log),
      ...eventRoutes(store),
      ...analyticsRoutes(store),
      ...rewriteRoutes({
        pool,
        secrets: secrets.map(x => ({ kid: x.kid, secret: new Uint8Array(x.secret) })),
        keys,
        trackingBaseUrl: config.trackingBaseUrl,
        maxUrlBytes: config.maxUrlBytes,
        staticDomains: [...config.domains.keys()],
        messages: writers[0],
        links: writers[1],
        directory: messages,
        messageIds,
        limits: { maxRecipients: config.rewriteMaxRecipients, maxLinks: config.rewriteMaxLinks, maxTokens: config.rewriteMaxTokens, maxOutputBytes: config.rewriteMaxOutputBytes }
      })
    ]
  })
  const server = redirectService(config, log, keys, secrets, pipeline, plane)

  // One start list (stopped in reverse). Pending webhook deliveries before promotion (an
  // interrupted batch may queue webhooks), promotion before ingest (its replay feeds
  // promotion), listeners last; the redirect server, stopped first, hands its ring to ingest
  // and closes it (ingest inserts what ClickHouse takes in time, the rest stays spooled).
  const loopDelay = new LoopDelay()
  const parts: Component[] = [
    { name: 'event loop delay', start: () => { loopDelay.start() }, stop: () => { loopDelay.stop() }, metrics: () => loopDelay.metrics() },
    { name: 'store', stop: async () => { await store.close() } },
    { name: 'control plane', start: async () => { await plane.start() }, stop: async () => { await plane.stop() }, metrics: () => plane.metrics() },
    { name: 'domain verification', start: () => { domains.start() }, stop: async () => { await domains.stop() }, metrics: () => domains.metrics() },
    { name: 'quarantine', stop: async () => { await quarantine.close() }, metrics: () => quarantine.metrics() },
    { name: 'spool', start: async () => { await spool.open() }, metrics: () => spool.metrics('clicktrail_spool') },
    { name: 'outbox', start: async () => { await outbox.open() }, metrics: () => outbox.metrics('clicktrail_outbox') },
    { name: 'worker pool', stop: async () => { await pool.close() }, metrics: () => pool.metrics() },
    ...writers.map(w => ({ name: `${w.table} writer`, stop: async () => { await w.close() }, metrics: () => w.metrics() })),
    { name: 'message ids', metrics: () => messageIds.metrics() },
    { name: 'webhooks', start: async () => { await dispatcher.start() }, stop: async () => { await dispatcher.stop() }, metrics: () => dispatcher.metrics() },
    { name: 'promotion', start: async () => { await promoter.start() }, stop: async () => { await promoter.stop() }, metrics: () => promoter.metrics() },
    { name: 'late evidence', start: async () => { await late.start() }, stop: async () => { await late.stop() }, metrics: () => late.metrics() },
    { name: 'ingest', start: async () => { await pipeline.start() }, metrics: () => pipeline.metrics() },
    { name: 'address privacy', start: () => { privacy.start() }, stop: async () => { await privacy.stop() }, metrics: () => privacy.metrics() },
    {
      name: 'admin listener',
      start: async () => { log.info({ host: config.adminHost, port: await admin.start(config.adminHost, config.adminPort) }, 'admin listener (POST /sql, GET /metrics, /blocks) ready') },
      stop: () => { admin.stop() },
      metrics: () => admin.metrics()
    },
    {
      name: 'Team API',
      start: async () => { log.info({ host: config.apiHost, port: await api.start(config.apiHost, config.apiPort) }, 'Team API listening') },
      stop: () => { api.stop() },
      metrics: () => api.metrics()
    },
    { name: 'redirect server', start: async () => await server.start(), stop: async () => { await server.stop() }, metrics: () => server.metrics() }
  ]
  const running = await run(parts, log, lock, () => {
    log.info({ observed: server.ring.pushed, dropped: server.ring.dropped, inserted: pipeline.stats.inserted, leftInSpool: pipeline.queuedRows }, 'stopped')
  })
  registry = running.metrics
  log.info({ host: config.host, port: server.port }, 'redirect server listening')
  return {
    ...running,
    config,
    keys,
    server,
    port: server.port,
    track: tracker(config, keys),
    store,
    plane,
    domains,
    quarantine,
    spool,
    pipeline,
    promoter,
    late,
    dispatcher,
    loopDelay,
    messages,
    messageIds,
    pool,
    admin,
    api,
    privacy
  }
}

/**
 * Starts `parts` in order; if one fails, stops those already started (in reverse) and
 * rethrows. The result stops them all in reverse, once, and then releases the lock.
 */
async function run (parts: Component[], log: Logger, lock: DataDirLock, onStopped?: () => void): Promise<{ components: readonly Component[], metrics: MetricsRegistry, stop: () => Promise<void> }> {
  const started: Component[] = []
  const stopAll = async (): Promise<void> => {
    for (const p of [...started].reverse()) {
      try {
        await p.stop?.()
      } catch (err) {
        log.error({ err, component: p.name }, 'a component failed to stop')
      }
    }
  }
  try {
    for (const p of parts) {
      started.push(p)
      await p.start?.()
    }
  } catch (err) {
    await stopAll()
    throw err
  }
  const sources: MetricSource[] = parts.flatMap(p => p.metrics === undefined ? [] : [{ metrics: p.metrics }])
  let stopping: Promise<void> | undefined
  return {
    components: parts,
    metrics: new MetricsRegistry(() => sources),
    async stop () {
      stopping ??= stopAll().then(() => {
        lock.release()
        onStopped?.()
      })
      await stopping
    }
  }
}

/** The redirect port as configured: threads, or a server on this thread; without a plane, hosts resolve statically. */
function redirectService (config: Config, log: Logger, keys: KeyRing, secrets: readonly MasterSecret[], sink: ObservationSink, plane?: ControlPlane): RedirectService {
  const options = {
    host: config.host,
    port: config.port,
    maxUrlBytes: config.maxUrlBytes,
    lruMax: config.lruMax,
    negativeCacheMax: config.negativeCacheMax,
    negativeCacheTtlMs: config.negativeCacheTtlMs,
    ringSize: config.ringSize,
    handoffIntervalMs: config.handoffIntervalMs,
    trustedProxies: config.trustedProxies,
    front: config.redirectFront
  }
  if (config.redirectThreads > 0) {
    return new RedirectThreads({ threads: config.redirectThreads, server: options, secrets, trackingBaseUrl: config.trackingBaseUrl, staticDomains: config.domains, plane, staticTtlSeconds: config.tokenTtlDays * 86400, sink, log })
  }
  const hosts: HostResolver = plane === undefined
    ? new StaticHostResolver(config.trackingBaseUrl, config.domains, config.tokenTtlDays * 86400)
    : new ControlPlaneHostResolver(plane, config.trackingBaseUrl, config.domains)
  return new RedirectServer({ ...options, keys, hosts, sink, log, blocks: plane === undefined ? undefined : blockCheck(plane) })
}

function tracker (config: Config, keys: KeyRing): (sid: string, url: string, linkIndex?: number) => string {
  return (sid, url, linkIndex = 0) => mintTrackedUrl(keys, config.trackingBaseUrl, { sid, messageId: randomUUID(), linkIndex, sentAt: Math.floor(Date.now() / 1000), url }, { maxUrlBytes: config.maxUrlBytes })
}

/** The operator's blocks as the redirect path asks for them (re-asked per token when the snapshot changes). */
function blockCheck (plane: ControlPlane): BlockCheck {
  return {
    get generation () { return plane.generation },
    blocked: (sid, url) => plane.blockMatcher.match(sid, url)?.block_id
  }
}
