import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { ClicktrailError } from './errors.js'
import { DEFAULT_REWRITE_LIMITS } from './rewrite/limits.js'

/**
 * Every option of `clicktrail serve`: its default, its flag, its environment variable and a
 * one-line doc. Flags beat variables, variables beat defaults; `loadConfig` applies and
 * validates all of them in one place and names the option in any error.
 */
export interface Config {
  port: number
  host: string
  dataDir: string
  trackingBaseUrl: string
  /** Custom tracking hostnames → project sid. */
  domains: Map<string, string>
  /** `kid:base64,...`; empty = use (or create) `<data-dir>/secrets`. */
  secrets: string
  tokenTtlDays: number
  maxUrlBytes: number
  lruMax: number
  negativeCacheMax: number
  negativeCacheTtlMs: number
  ringSize: number
  handoffIntervalMs: number
  trustedProxies: string[]
  /** Serve the redirect port through the HTTP front (HTTP/1.0, over 48 fields). */
  redirectFront: boolean
  /** Redirect worker threads on the redirect port; 0 = the redirect server runs on the main thread. */
  redirectThreads: number
  logLevel: string
  clickhouseUrl: string
  clickhouseUser: string
  clickhousePassword: string
  clickhouseCluster: string
  clickhouseDatabase: string
  spoolMaxBytes: number
  batchMaxRows: number
  batchMaxMs: number
  insertTimeoutMs: number
  retryMinMs: number
  retryMaxMs: number
  adminHost: string
  adminPort: number
  apiHost: string
  apiPort: number
  configRefreshMs: number
  promotionWindowMs: number
  /** Promotion partitions shared by the nodes of one ClickHouse; 0 = each node promotes its own observations. */
  promotionPartitions: number
  promotionLeaseMs: number
  promotionNodeGraceMs: number
  /** How long after a click late evidence may still change its verdict; 0 = never. */
  lateEvidenceHorizonMs: number
  /** Recipients' addresses are kept whole this long after the click, then as the project's ip_addresses allows. */
  addressPrivacyAfterMs: number
  poolThreads: number
  poolMaxQueue: number
  webhookTimeoutMs: number
  webhookConcurrency: number
  webhookRetrySchedule: number[]
  webhookAllowPrivate: boolean
  outboxMaxBytes: number
  /** `IP[:PORT]` of the DNS server that verifies custom domains; '' = the system resolver. */
  dnsServer: string
  domainRecheckMs: number
  domainVerifyWindowMs: number
  rewriteMaxRecipients: number
  rewriteMaxLinks: number
  rewriteMaxTokens: number
  rewriteMaxOutputBytes: number
  webhookTestPerMinute: number
  webhookTestBurst: number
  webhookFailingRate: number
  /** '' = the token in <data-dir>/admin-token. */
  adminToken: string
}

type Kind = 'int' | 'string' | 'list' | 'url' | 'domain' | 'bool' | 'durations'

export interface OptionSpec {
  key: keyof Config
  flag: string
  /** `CLICKTRAIL_…`: every variable has the prefix. */
  env: string
  /** Earlier names of the variable, still read (after `env`). */
  aliases: readonly string[]
  kind: Kind
  default: string
  doc: string
  min?: number
  max?: number
  /** For an int: the value `auto` stands for (the default may be `auto`). */
  auto?: () => number
}

// Written with each variable's name as it was first given; OPTIONS below puts every one under
// the CLICKTRAIL_ prefix and keeps the old name as an alias.
const SPECS: ReadonlyArray<Omit<OptionSpec, 'aliases'>> = [
  { key: 'port', flag: 'port', env: 'PORT', kind: 'int', default: '8080', min: 0, max: 65535, doc: 'redirect server port (0 = any free port)' },
  { key: 'host', flag: 'host', env: 'HOST', kind: 'string', default: '127.0.0.1', doc: 'address the redirect server binds' },
  { key: 'dataDir', flag: 'data-dir', env: 'DATA_DIR', kind: 'string', default: './data', doc: 'generated secrets, the spool and the embedded ClickHouse live here' },
  { key: 'trackingBaseUrl', flag: 'tracking-base-url', env: 'TRACKING_BASE_URL', kind: 'url', default: 'http://t.localhost:8080', doc: 'tracked URLs are {scheme}://p{sid}.{host[:port]}/c/{token}' },
  { key: 'domains', flag: 'domain', env: 'CLICKTRAIL_DOMAINS', kind: 'domain', default: '', doc: 'custom tracking domain HOST=SID (flag repeatable; variable comma-separated)' },
  { key: 'secrets', flag: 'secrets', env: 'CLICKTRAIL_SECRETS', kind: 'string', default: '', doc: 'master secrets kid:base64,... (highest kid signs, all verify); empty = generated into the data dir' },
  { key: 'tokenTtlDays', flag: 'token-ttl-days', env: 'TOKEN_TTL_DAYS', kind: 'int', default: '30', min: 1, max: 3650, doc: 'days after sending during which a click is recorded (later clicks still redirect)' },
  { key: 'maxUrlBytes', flag: 'max-url-bytes', env: 'MAX_URL_BYTES', kind: 'int', default: '4096', min: 64, max: 65536, doc: 'longest destination URL a token may carry' },
  { key: 'lruMax', flag: 'lru-max', env: 'LRU_MAX', kind: 'int', default: '100000', min: 1, max: 100_000_000, doc: 'verified tokens kept decoded in memory' },
  { key: 'negativeCacheMax', flag: 'negative-cache-max', env: 'NEGATIVE_CACHE_MAX', kind: 'int', default: '10000', min: 1, max: 10_000_000, doc: 'rejected tokens remembered so repeats cost a lookup' },
  { key: 'negativeCacheTtlMs', flag: 'negative-cache-ttl-ms', env: 'NEGATIVE_CACHE_TTL_MS', kind: 'int', default: '60000', min: 1, max: 86_400_000, doc: 'how long a rejected token is remembered' },
  { key: 'ringSize', flag: 'ring-size', env: 'RING_SIZE', kind: 'int', default: '65536', min: 2, max: 16_777_216, doc: 'observations buffered between redirect and ingest, per redirect thread (rounded up to a power of two)' },
  { key: 'handoffIntervalMs', flag: 'handoff-interval-ms', env: 'HANDOFF_INTERVAL_MS', kind: 'int', default: '10', min: 1, max: 10_000, doc: 'how often buffered observations are handed to ingest' },
  { key: 'redirectThreads', flag: 'redirect-threads', env: 'REDIRECT_THREADS', kind: 'int', default: 'auto', min: 0, max: 64, auto: () => availableParallelism(), doc: 'worker threads serving the redirect port, each with its own uWS app on the same port (Linux spreads new connections over them); auto = one per core; 0 = serve redirects on the main thread, beside the pipeline' },
  { key: 'redirectFront', flag: 'redirect-front', env: 'REDIRECT_FRONT', kind: 'bool', default: 'true', doc: 'serve the redirect port through the HTTP front, so HTTP/1.0 clients and requests with over 48 header fields get their answer (costs ~3x the CPU per redirect, measured by bench/micro/http-front.mjs); false = uWS on the port itself, only behind a proxy that answers HTTP/1.0 clients and speaks HTTP/1.1 to us' },
  { key: 'trustedProxies', flag: 'trusted-proxy', env: 'TRUSTED_PROXIES', kind: 'list', default: '', doc: 'addresses or CIDRs of your proxies: the rightmost X-Forwarded-For address that is not one of them is the client (flag repeatable)' },
  { key: 'clickhouseUrl', flag: 'clickhouse-url', env: 'CLICKHOUSE_URL', kind: 'string', default: '', doc: 'ClickHouse server or cluster URL; empty = the embedded engine (chdb) in <data-dir>/clickhouse' },
  { key: 'clickhouseUser', flag: 'clickhouse-user', env: 'CLICKHOUSE_USER', kind: 'string', default: 'default', doc: 'ClickHouse user (server only)' },
  { key: 'clickhousePassword', flag: 'clickhouse-password', env: 'CLICKHOUSE_PASSWORD', kind: 'string', default: '', doc: 'ClickHouse password (server only; prefer the variable)' },
  { key: 'clickhouseCluster', flag: 'clickhouse-cluster', env: 'CLICKHOUSE_CLUSTER', kind: 'string', default: '', doc: 'ClickHouse cluster name (server only): the schema is applied ON CLUSTER with Replicated and Distributed tables, and inserts wait until the shards have them (see README, Running a cluster); empty = one server' },
  { key: 'clickhouseDatabase', flag: 'clickhouse-database', env: 'CLICKHOUSE_DATABASE', kind: 'string', default: 'clicktrail', doc: 'database holding the schema, created if missing' },
  { key: 'spoolMaxBytes', flag: 'spool-max-bytes', env: 'SPOOL_MAX_BYTES', kind: 'int', default: String(256 * 1024 * 1024), min: 1024 * 1024, max: 1024 ** 4, doc: 'disk (and memory) bound on observations not yet in ClickHouse; past it new ones are shed and counted' },
  { key: 'batchMaxRows', flag: 'batch-max-rows', env: 'BATCH_MAX_ROWS', kind: 'int', default: '20000', min: 1, max: 10_000_000, doc: 'rows per ClickHouse insert at most' },
  { key: 'batchMaxMs', flag: 'batch-max-ms', env: 'BATCH_MAX_MS', kind: 'int', default: '1000', min: 1, max: 600_000, doc: 'longest an observation waits before its insert starts' },
  { key: 'insertTimeoutMs', flag: 'insert-timeout-ms', env: 'INSERT_TIMEOUT_MS', kind: 'int', default: '30000', min: 100, max: 3_600_000, doc: 'ClickHouse request timeout (server only)' },
  { key: 'retryMinMs', flag: 'retry-min-ms', env: 'RETRY_MIN_MS', kind: 'int', default: '200', min: 1, max: 3_600_000, doc: 'first back-off after a failed insert (doubles, with jitter)' },
  { key: 'retryMaxMs', flag: 'retry-max-ms', env: 'RETRY_MAX_MS', kind: 'int', default: '30000', min: 1, max: 3_600_000, doc: 'longest back-off between insert attempts' },
  { key: 'adminHost', flag: 'admin-host', env: 'ADMIN_HOST', kind: 'string', default: '127.0.0.1', doc: 'address of the admin listener (ad-hoc SQL)' },
  { key: 'adminPort', flag: 'admin-port', env: 'ADMIN_PORT', kind: 'int', default: '8082', min: 0, max: 65535, doc: 'admin listener port (0 = any free port)' },
  { key: 'apiHost', flag: 'api-host', env: 'API_HOST', kind: 'string', default: '127.0.0.1', doc: 'address the Team API binds' },
  { key: 'apiPort', flag: 'api-port', env: 'API_PORT', kind: 'int', default: '8081', min: 0, max: 65535, doc: 'Team API port (0 = any free port)' },
  { key: 'configRefreshMs', flag: 'config-refresh-ms', env: 'CONFIG_REFRESH_MS', kind: 'int', default: '2000', min: 50, max: 600_000, doc: 'how often each node checks ClickHouse for control-plane changes made on other nodes' },
  { key: 'addressPrivacyAfterMs', flag: 'address-privacy-after-ms', env: 'ADDRESS_PRIVACY_AFTER_MS', kind: 'int', default: '86400000', min: 60_000, max: 31 * 86_400_000, doc: 'recipients\' IP addresses are kept whole this long after the click (classification and late evidence need them), then only as the project\'s ip_addresses setting allows (full, truncated, none); never less than --late-evidence-horizon-ms, which needs whole addresses' },
  { key: 'promotionWindowMs', flag: 'promotion-window-ms', env: 'PROMOTION_WINDOW_MS', kind: 'int', default: '15000', min: 0, max: 600_000, doc: 'how long a click waits for the rest of its message before its verdict is final (bursts, shadow pairs)' },
  { key: 'promotionPartitions', flag: 'promotion-partitions', env: 'PROMOTION_PARTITIONS', kind: 'int', default: 'auto', min: 0, max: 4096, auto: () => -1, doc: 'partitions of the message-id space promoted by the nodes sharing one ClickHouse, each by the one live node holding its lease, from every node\'s observations (see README, Running a cluster); the same on every node; 0 = each node promotes only the observations it captured (one node); auto = 64 with --clickhouse-cluster, else 0' },
  { key: 'promotionLeaseMs', flag: 'promotion-lease-ms', env: 'PROMOTION_LEASE_MS', kind: 'int', default: '15000', min: 300, max: 600_000, doc: 'with promotion partitions: how long a node\'s heartbeat keeps it and its partition leases live (renewed every third of it); a crashed node\'s partitions move after about 4/3 of it; clocks of the nodes must agree within a third of it' },
  { key: 'promotionNodeGraceMs', flag: 'promotion-node-grace-ms', env: 'PROMOTION_NODE_GRACE_MS', kind: 'int', default: '60000', min: 0, max: 86_400_000, doc: 'with promotion partitions: how long promotion still waits for the observations of a node that stopped beating with some on their way (a node back within it loses none to lateness)' },
  { key: 'lateEvidenceHorizonMs', flag: 'late-evidence-horizon-ms', env: 'LATE_EVIDENCE_HORIZON_MS', kind: 'int', default: String(24 * 3600_000), min: 0, max: 30 * 86_400_000, doc: 'how long after a click late evidence (its address bursting across many recipients, a honeypot hit by the same fetcher, a newly listed scanner range) may still reclassify it: a new version of its clicks row and a message.click_reclassified webhook; 0 = verdicts are final after the promotion window' },
  { key: 'poolThreads', flag: 'pool-threads', env: 'POOL_THREADS', kind: 'int', default: '2', min: 1, max: 256, doc: 'worker threads for rewriting and classification' },
  { key: 'poolMaxQueue', flag: 'pool-max-queue', env: 'POOL_MAX_QUEUE', kind: 'int', default: '256', min: 1, max: 1_000_000, doc: 'tasks waiting for a worker at most; past it rewriting answers 503' },
  { key: 'webhookTimeoutMs', flag: 'webhook-timeout-ms', env: 'WEBHOOK_TIMEOUT_MS', kind: 'int', default: '10000', min: 100, max: 300_000, doc: 'per-attempt webhook timeout' },
  { key: 'webhookConcurrency', flag: 'webhook-concurrency', env: 'WEBHOOK_CONCURRENCY', kind: 'int', default: '4', min: 1, max: 1000, doc: 'attempts in flight per webhook at most' },
  { key: 'webhookRetrySchedule', flag: 'webhook-retry-schedule', env: 'WEBHOOK_RETRY_SCHEDULE', kind: 'durations', default: '5s,30s,2m,10m,30m,1h,2h,4h,8h,8h', doc: 'waits before each webhook retry (±20 % jitter); the default spans about a day' },
  { key: 'webhookAllowPrivate', flag: 'webhook-allow-private', env: 'WEBHOOK_ALLOW_PRIVATE', kind: 'bool', default: 'false', doc: 'allow webhook URLs that resolve to loopback, private, link-local or metadata addresses' },
  { key: 'outboxMaxBytes', flag: 'outbox-max-bytes', env: 'OUTBOX_MAX_BYTES', kind: 'int', default: String(256 * 1024 * 1024), min: 1024 * 1024, max: 1024 ** 4, doc: 'disk bound on pending webhook deliveries; past it new events are shed and counted' },
  { key: 'logLevel', flag: 'log-level', env: 'LOG_LEVEL', kind: 'string', default: 'info', doc: 'pino log level: fatal, error, warn, info, debug, trace, silent' },
  { key: 'dnsServer', flag: 'dns-server', env: 'DNS_SERVER', kind: 'string', default: '', doc: 'DNS server IP[:PORT] (IPv6: [IP]:PORT) that verifies custom tracking domains; empty = the system resolver' },
  { key: 'domainRecheckMs', flag: 'domain-recheck-ms', env: 'DOMAIN_RECHECK_MS', kind: 'int', default: '60000', min: 10, max: 86_400_000, doc: 'first background re-check of a pending custom domain; later ones wait about as long as it has been pending, at most an hour' },
  { key: 'domainVerifyWindowMs', flag: 'domain-verify-window-ms', env: 'DOMAIN_VERIFY_WINDOW_MS', kind: 'int', default: String(72 * 3600_000), min: 1000, max: 90 * 86_400_000, doc: 'a custom domain not verified this long after it was added fails and gives the hostname up' },
  // Bounds on one rewrite request (src/rewrite/limits.ts); past one it is refused before the work.
  { key: 'rewriteMaxRecipients', flag: 'rewrite-max-recipients', env: 'REWRITE_MAX_RECIPIENTS', kind: 'int', default: String(DEFAULT_REWRITE_LIMITS.maxRecipients), min: 1, max: 100_000, doc: 'recipients per POST /v1/rewrite at most; past it 422 CT_ERR_REWRITE_TOO_MANY_RECIPIENTS' },
  // 65 535: link indexes are 16-bit in the token and link_count is UInt16 in messages.
  { key: 'rewriteMaxLinks', flag: 'rewrite-max-links', env: 'REWRITE_MAX_LINKS', kind: 'int', default: String(DEFAULT_REWRITE_LIMITS.maxLinks), min: 1, max: 65_535, doc: 'links per rewritten document (MIME: over all its HTML parts) at most; past it 422 CT_ERR_REWRITE_TOO_MANY_LINKS' },
  { key: 'rewriteMaxTokens', flag: 'rewrite-max-tokens', env: 'REWRITE_MAX_TOKENS', kind: 'int', default: String(DEFAULT_REWRITE_LIMITS.maxTokens), min: 1, max: 10_000_000, doc: 'links × recipients per POST /v1/rewrite at most (each a token and a message_links row); past it 422 CT_ERR_REWRITE_TOO_MANY_TOKENS' },
  { key: 'rewriteMaxOutputBytes', flag: 'rewrite-max-output-bytes', env: 'REWRITE_MAX_OUTPUT_BYTES', kind: 'int', default: String(DEFAULT_REWRITE_LIMITS.maxOutputBytes), min: 1024 * 1024, max: 1024 * 1024 * 1024, doc: 'bytes of a POST /v1/rewrite answer at most (every recipient\'s html); past it 413 CT_ERR_REWRITE_OUTPUT_TOO_LARGE' },
  { key: 'webhookTestPerMinute', flag: 'webhook-test-per-minute', env: 'WEBHOOK_TEST_PER_MINUTE', kind: 'int', default: '10', min: 1, max: 60_000, doc: 'test events (POST /v1/webhooks/{id}/test) one webhook may ask for per minute; past it 429 CT_ERR_RATE_LIMITED with Retry-After' },
  { key: 'webhookTestBurst', flag: 'webhook-test-burst', env: 'WEBHOOK_TEST_BURST', kind: 'int', default: '5', min: 1, max: 10_000, doc: 'test events one webhook may ask for at once before --webhook-test-per-minute applies' },
  { key: 'webhookFailingRate', flag: 'webhook-failing-rate', env: 'WEBHOOK_FAILING_RATE', kind: 'int', default: '10', min: 1, max: 1000, doc: 'attempts per second at most for a webhook whose last 10 attempts failed, until one succeeds (its due deliveries wait)' },
  { key: 'adminToken', flag: 'admin-token', env: 'ADMIN_TOKEN', kind: 'string', default: '', doc: 'bearer token of the admin listener (analyst SQL, blocks); empty = <data-dir>/admin-token, created 0600 (prefer the variable)' }
]

export const OPTIONS: readonly OptionSpec[] = SPECS.map(o => o.env.startsWith('CLICKTRAIL_')
  ? { ...o, aliases: [] }
  : { ...o, env: `CLICKTRAIL_${o.env}`, aliases: [o.env] })

const LOG_LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/
const SID = /^[a-z0-9]{1,32}$/

/** Raw values as they came from flags (string or repeated strings). */
export type FlagValues = Partial<Record<string, string | string[] | boolean | undefined>>

function fromEnv (env: NodeJS.ProcessEnv, spec: OptionSpec): string | undefined {
  if (env[spec.env] !== undefined) return env[spec.env]
  for (const a of spec.aliases) if (env[a] !== undefined) return env[a]
  return undefined
}

/** Builds the Config from flags, then environment, then defaults; throws ConfigError. */
export function loadConfig (flags: FlagValues = {}, env: NodeJS.ProcessEnv = process.env): Config {
  const out: Record<string, unknown> = {}
  for (const spec of OPTIONS) {
    const fromFlag = flags[spec.flag]
    let texts: string[]
    if (typeof fromFlag === 'boolean') {
      texts = [String(fromFlag)]
    } else if (fromFlag !== undefined) {
      texts = Array.isArray(fromFlag) ? fromFlag : [fromFlag]
    } else if (fromEnv(env, spec) !== undefined) {
      texts = [fromEnv(env, spec) as string]
    } else {
      texts = [spec.default]
    }
    out[spec.key] = parseOption(spec, texts)
  }
  const config = out as unknown as Config
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(config.clickhouseDatabase)) throw new ClicktrailError('CT_ERR_CONFIG', '--clickhouse-database (CLICKTRAIL_CLICKHOUSE_DATABASE) must be an identifier [A-Za-z_][A-Za-z0-9_]*')
  if (config.clickhouseCluster !== '' && !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(config.clickhouseCluster)) throw new ClicktrailError('CT_ERR_CONFIG', '--clickhouse-cluster (CLICKTRAIL_CLICKHOUSE_CLUSTER) must be an identifier [A-Za-z_][A-Za-z0-9_]*')
  if (config.clickhouseCluster !== '' && config.clickhouseUrl === '') throw new ClicktrailError('CT_ERR_CONFIG', '--clickhouse-cluster needs --clickhouse-url: the embedded engine is one node')
  if (config.clickhouseUrl !== '' && !/^https?:\/\/[^/]/.test(config.clickhouseUrl)) throw new ClicktrailError('CT_ERR_CONFIG', '--clickhouse-url (CLICKTRAIL_CLICKHOUSE_URL) must be an http(s) URL')
  if (config.retryMinMs > config.retryMaxMs) throw new ClicktrailError('CT_ERR_CONFIG', '--retry-min-ms must not exceed --retry-max-ms')
  if (config.dnsServer !== '' && !isDnsServer(config.dnsServer)) throw new ClicktrailError('CT_ERR_CONFIG', `--dns-server (DNS_SERVER) must be IP, IP:PORT or [IPv6]:PORT, got "${config.dnsServer}"`)
  config.ringSize = 2 ** Math.ceil(Math.log2(config.ringSize))
  // auto: partitions when the ClickHouse is a cluster (many nodes), else one node's own promotion.
  if (config.promotionPartitions === -1) config.promotionPartitions = config.clickhouseCluster !== '' ? 64 : 0
  return config
}

function parseOption (spec: OptionSpec, texts: string[]): unknown {
  const name = `--${spec.flag} (${spec.env})`
  switch (spec.kind) {
    case 'int': {
      const text = texts[texts.length - 1].trim()
      if (text === 'auto' && spec.auto !== undefined) return spec.auto()
      if (!/^\d+$/.test(text)) throw new ClicktrailError('CT_ERR_CONFIG', `${name} must be a whole number, got "${text}"`)
      const n = Number(text)
      if ((spec.min !== undefined && n < spec.min) || (spec.max !== undefined && n > spec.max)) {
        throw new ClicktrailError('CT_ERR_CONFIG', `${name} must be between ${spec.min} and ${spec.max}, got ${n}`)
      }
      return n
    }
    case 'string': {
      const text = texts[texts.length - 1]
      if (spec.key === 'logLevel' && !LOG_LEVELS.has(text)) throw new ClicktrailError('CT_ERR_CONFIG', `${name} must be one of ${[...LOG_LEVELS].join(', ')}`)
      return text
    }
    case 'url': {
      const text = texts[texts.length - 1]
      let url: URL
      try { url = new URL(text) } catch { throw new ClicktrailError('CT_ERR_CONFIG', `${name} must be an absolute URL, got "${text}"`) }
      if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search !== '' || url.username !== '') {
        throw new ClicktrailError('CT_ERR_CONFIG', `${name} must be http(s)://host[:port] with nothing after the host, got "${text}"`)
      }
      return `${url.protocol}//${url.host}`
    }
    case 'bool': {
      const text = texts[texts.length - 1].trim().toLowerCase()
      if (text === 'true' || text === '1' || text === '') return true
      if (text === 'false' || text === '0') return false
      throw new ClicktrailError('CT_ERR_CONFIG', `${name} must be true or false, got "${text}"`)
    }
    case 'durations': {
      const out: number[] = []
      for (const item of splitList(texts)) {
        const m = /^(\d+)(ms|s|m|h|d)$/.exec(item)
        if (m === null) throw new ClicktrailError('CT_ERR_CONFIG', `${name}: "${item}" is not a duration like 500ms, 30s, 10m, 2h`)
        out.push(Number(m[1]) * { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 'ms'])
      }
      if (out.length === 0) throw new ClicktrailError('CT_ERR_CONFIG', `${name} needs at least one duration`)
      return out
    }
    case 'list': {
      const items = splitList(texts)
      if (spec.key === 'trustedProxies') for (const item of items) checkAddressOrCidr(name, item)
      return items
    }
    case 'domain': {
      const map = new Map<string, string>()
      for (const item of splitList(texts)) {
        const eq = item.indexOf('=')
        const host = item.slice(0, eq).trim().toLowerCase()
        const sid = item.slice(eq + 1).trim()
        if (eq <= 0 || !HOSTNAME.test(host) || !SID.test(sid)) throw new ClicktrailError('CT_ERR_CONFIG', `${name} must be HOST=SID with a valid hostname and sid [a-z0-9]{1,32}, got "${item}"`)
        if (map.has(host)) throw new ClicktrailError('CT_ERR_CONFIG', `${name}: ${host} is given twice`)
        map.set(host, sid)
      }
      return map
    }
  }
}

/** What node's Resolver.setServers takes: an address, with a port in `a.b.c.d:p` or `[v6]:p`. */
function isDnsServer (text: string): boolean {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:]+):(\d{1,5})$/.exec(text)
  if (m === null) return isIP(text) !== 0
  return isIP(m[1]) !== 0 && Number(m[2]) >= 1 && Number(m[2]) <= 65535
}

function splitList (texts: string[]): string[] {
  return texts.flatMap(t => t.split(',')).map(s => s.trim()).filter(s => s !== '')
}

function checkAddressOrCidr (name: string, item: string): void {
  const slash = item.indexOf('/')
  const addr = slash === -1 ? item : item.slice(0, slash)
  const family = isIP(addr)
  if (family === 0) throw new ClicktrailError('CT_ERR_CONFIG', `${name}: "${item}" is not an IP address or CIDR`)
  if (slash !== -1) {
    const bits = item.slice(slash + 1)
    const max = family === 4 ? 32 : 128
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) throw new ClicktrailError('CT_ERR_CONFIG', `${name}: "${item}" has a bad prefix length`)
  }
}

/** The README's configuration table, generated from OPTIONS so the two cannot drift. */
export function configTableMarkdown (): string {
  const rows = OPTIONS.map(o => `| \`--${o.flag}\` | \`${o.env}\`${o.aliases.map(a => ` (\`${a}\`)`).join('')} | ${o.default === '' ? '—' : `\`${o.default}\``} | ${o.doc} |`)
  return ['| flag | variable | default | what |', '|---|---|---|---|', ...rows].join('\n')
}
