import { randomUUID } from 'node:crypto'
import type { Registry } from 'prom-client'
import type { Config } from './config.js'
import type { Logger } from './log.js'
import { KeyRing } from './token/keys.js'
import { loadOrCreateSecrets } from './token/secret-file.js'
import { mintToken } from './token/codec.js'
import { RedirectServer } from './redirect/server.js'
import { StaticHostResolver, trackedUrl } from './redirect/hosts.js'
import { CountingSink, type ObservationSink } from './redirect/observation.js'
import { createMetrics, metricsRoute } from './metrics.js'

export interface Engine {
  config: Config
  keys: KeyRing
  server: RedirectServer
  metrics: Registry
  port: number
  /** Mints a tracked URL with this engine's keys. */
  track (sid: string, url: string, linkIndex?: number): string
  stop (): Promise<void>
}

export interface EngineOptions {
  /** Where observations go; defaults to a counter until storage is wired in. */
  sink?: ObservationSink
}

/** Builds and starts everything `clicktrail serve` runs. */
export async function startEngine (config: Config, log: Logger, options: EngineOptions = {}): Promise<Engine> {
  const { secrets, source } = loadOrCreateSecrets(config.secrets, config.dataDir)
  const keys = new KeyRing(secrets)
  log.info({ source, kids: keys.kids, signingKid: keys.signingKid }, 'master secrets loaded')
  const hosts = new StaticHostResolver(config.trackingBaseUrl, config.domains, config.tokenTtlDays * 86400)
  let registry: Registry | undefined
  const server = new RedirectServer({
    host: config.host,
    port: config.port,
    keys,
    hosts,
    sink: options.sink ?? new CountingSink(),
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
  registry = createMetrics(server)
  const port = await server.start()
  log.info({ host: config.host, port }, 'redirect server listening')
  return {
    config,
    keys,
    server,
    metrics: registry,
    port,
    track (sid, url, linkIndex = 0) {
      const token = mintToken(keys, { sid, messageId: randomUUID(), linkIndex, sentAt: Math.floor(Date.now() / 1000), url }, { maxUrlBytes: config.maxUrlBytes })
      return trackedUrl(config.trackingBaseUrl, sid, token)
    },
    async stop () {
      await server.stop()
      log.info({ observed: server.ring.pushed, dropped: server.ring.dropped }, 'stopped')
    }
  }
}
