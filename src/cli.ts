#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { OPTIONS, loadConfig, type Config, type FlagValues } from './config.js'
import { ClicktrailError, isErrorCode } from './errors.js'
import { createLogger } from './log.js'
import { KeyRing } from './token/keys.js'
import { loadOrGenerateSecrets, loadSecrets } from './token/secret-file.js'
import { verifyToken, inspectUnverified } from './token/codec.js'
import { mintTrackedUrl } from './token/tracked-url.js'
import { loadOrCreateAdminToken } from './admin/token.js'
import { lockDataDir, type DataDirLock } from './store/data-dir-lock.js'
import { oneLineFailure } from './startup-error.js'

type Options = NonNullable<ParseArgsConfig['options']>

const CONFIG_FLAGS: Options = Object.fromEntries(OPTIONS.map(o => [o.flag, o.kind === 'bool'
  ? { type: 'boolean' as const }
  : { type: 'string' as const, multiple: o.flag === 'domain' || o.flag === 'trusted-proxy' }]))
const pick = (flags: readonly string[]): Options => Object.fromEntries(flags.map(f => [f, CONFIG_FLAGS[f]]))
const helpFor = (flags: readonly string[]): string => flags.map(f => {
  const o = OPTIONS.find(x => x.flag === f)!
  return `  --${f.padEnd(24)} ${o.doc} [${o.env}]`
}).join('\n')
const HELP: Options = { help: { type: 'boolean', short: 'h' } }
// The options `token` commands share with `serve`: they must find the same secrets.
const KEY_FLAGS = ['data-dir', 'secrets', 'tracking-base-url', 'max-url-bytes'] as const
// token create checks that the project exists: through a running server, or in the store.
const PROJECT_CHECK_FLAGS = ['admin-host', 'admin-port', 'clickhouse-url', 'clickhouse-user', 'clickhouse-password', 'clickhouse-database'] as const
const TOKEN_CONFIG_FLAGS: Options = pick(KEY_FLAGS)

const USAGE = `usage: clicktrail <command> [options]

commands:
  serve                 run the redirect server
  token create          mint a tracked URL
  token inspect TOKEN   decode a token or tracked URL and say whether it verifies
  init                  create a team, its API token, a project and two tracked routes
  migrate               apply the ClickHouse schema migrations in sql/ and exit
  schema [--cluster C]  print the DDL the migrations apply (for one node, or ON CLUSTER C)
  sql "SELECT …"        run one analytics query through the running server's admin listener
  report [--by …]       clicks per link, tag, day, classification, device or campaign, as a table
  block add|list|remove the operator's kill switch: stop links to a URL, prefix, host or project

Run \`clicktrail <command> --help\` for a command's options.`

function serveHelp (): string {
  const lines = OPTIONS.map(o => `  --${o.flag.padEnd(24)} ${o.doc} [${o.env}${o.default === '' ? '' : `, default ${o.default}`}]`)
  return `usage: clicktrail serve [options]\n\nRuns the redirect server; SIGTERM or SIGINT stops it gracefully.\n\n${lines.join('\n')}`
}

const KEY_HELP = helpFor(KEY_FLAGS)

const TOKEN_CREATE_HELP = `usage: clicktrail token create --project SID --url URL [--message-id UUID] [--link-index N] [--sent-at ISO8601]

Prints a tracked URL signed with the same secrets \`serve\` uses (same data dir or CLICKTRAIL_SECRETS).
The project must exist (asked of a running server's admin listener, else of the store).

  --project SID              project short id, [a-z0-9]{1,32}
  --url URL                  destination (http or https)
  --message-id UUID          default: a random UUID
  --link-index N             default: 0
  --sent-at ISO8601          default: now
${KEY_HELP}`

const TOKEN_INSPECT_HELP = `usage: clicktrail token inspect URL_OR_TOKEN

Prints the token's fields as JSON and whether it verifies with the configured secrets.

${KEY_HELP}`

function parse (args: string[], options: Options, allowPositionals: boolean, command: string): { values: FlagValues, positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options: { ...options, ...HELP }, strict: true, allowPositionals })
    return { values: values as FlagValues, positionals }
  } catch (err) {
    const message = (err as Error).message.split('\n')[0].replace(/\. To specify a positional.*$/, '')
    throw new ClicktrailError('CT_ERR_USAGE', `${message} (see \`clicktrail ${command} --help\`)`)
  }
}

async function serve (args: string[]): Promise<void> {
  const { values } = parse(args, CONFIG_FLAGS, false, 'serve')
  if (values.help === true) { console.log(serveHelp()); return }
  const config = loadConfig(values)
  const log = createLogger(config.logLevel)
  // Loaded here, not at the top: every other command starts in a fraction of the time.
  const { startEngine } = await import('./engine/index.js')
  const engine = await startEngine(config, log)
  console.log(`clicktrail listening on http://${config.host}:${engine.port}`)
  if (engine.api !== undefined) console.log(`Team API on http://${config.apiHost}:${engine.api.port}/v1 (OpenAPI: /v1/openapi.json)`)
  const project = engine.plane?.projects()[0]
  if (project === undefined) {
    console.log('no project yet: run `clicktrail init` (make run does) to create one')
  } else {
    const example = engine.track(project.sid, 'https://example.com/?utm_source=clicktrail')
    const { host } = new URL(example)
    console.log(`example tracked URL: ${example}`)
    console.log(`try it:  curl -i -H 'Host: ${host}' http://${config.host}:${engine.port}${new URL(example).pathname}`)
  }
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    log.info({ signal }, 'shutting down')
    engine.stop().then(() => { log.flush(); process.exit(0) }, (err: Error) => {
      log.error({ err }, 'shutdown failed')
      log.flush()
      process.exit(1)
    })
  }
  process.on('SIGTERM', () => { stop('SIGTERM') })
  process.on('SIGINT', () => { stop('SIGINT') })
}

/**
 * The secrets `serve` uses. Token commands never generate one: a secret made here (the
 * file deleted while a server runs) would sign links no server can verify, and would be
 * the secret the next start picks up, turning every link already sent into a 404.
 */
function keyRingFor (config: Config): KeyRing {
  return new KeyRing(loadSecrets(config.secrets, config.dataDir).secrets)
}

/**
 * With the embedded engine a command that opens the store holds the data dir while it
 * runs: refused at once, in one line, when a server holds it (chdb would refuse too, but
 * only after printing its own native error).
 */
function lockEmbedded (config: Config, command: string): DataDirLock | undefined {
  return config.clickhouseUrl === '' ? lockDataDir(config.dataDir, command) : undefined
}

/** The running server's admin listener: `path` there with the admin token; CT_ERR_ADMIN_UNREACHABLE when none answers. */
async function adminRequest (config: Config, path: string, init: { method: string, body?: string } = { method: 'GET' }): Promise<Response> {
  const host = config.adminHost.includes(':') ? `[${config.adminHost}]` : config.adminHost
  try {
    return await fetch(`http://${host}:${config.adminPort}${path}`, {
      method: init.method, headers: { authorization: `Bearer ${loadOrCreateAdminToken(config.dataDir, config.adminToken)}`, 'content-type': 'text/plain' }, body: init.body
    })
  } catch (err) {
    throw new ClicktrailError('CT_ERR_ADMIN_UNREACHABLE', `no clicktrail admin listener at ${host}:${config.adminPort} (is \`clicktrail serve\` running?): ${(err as Error).message}`)
  }
}

/** Whether a project with this sid exists: asks a running server's admin listener, else opens the store. */
async function projectKnown (config: Config, sid: string): Promise<boolean> {
  if (!/^[a-z0-9]{1,32}$/.test(sid)) return false
  try {
    // A narrow endpoint, not analyst SQL: projects are control plane, which analyst SQL cannot read.
    const res = await adminRequest(config, `/projects/${sid}/exists`)
    if (res.ok) return (await res.json() as { exists: boolean }).exists
  } catch { /* no server running: look in the store ourselves */ }
  const [{ openStore }, { migrate }, { projectExists }] = await Promise.all([import('./store/client.js'), import('./store/migrate.js'), import('./store/control.js')])
  const store = await openStore(config)
  try {
    await migrate(store.writer, undefined, config.clickhouseCluster)
    return await projectExists(store.reader, sid)
  } finally {
    await store.close()
  }
}

async function tokenCreate (args: string[]): Promise<void> {
  const { values } = parse(args, {
    ...TOKEN_CONFIG_FLAGS,
    ...pick(PROJECT_CHECK_FLAGS),
    project: { type: 'string' },
    url: { type: 'string' },
    'message-id': { type: 'string' },
    'link-index': { type: 'string' },
    'sent-at': { type: 'string' }
  }, false, 'token create')
  if (values.help === true) { console.log(TOKEN_CREATE_HELP); return }
  const project = values.project
  const url = values.url
  if (typeof project !== 'string') throw new ClicktrailError('CT_ERR_USAGE', '--project is required (see `clicktrail token create --help`)')
  if (typeof url !== 'string') throw new ClicktrailError('CT_ERR_USAGE', '--url is required (see `clicktrail token create --help`)')
  const linkText = typeof values['link-index'] === 'string' ? values['link-index'] : '0'
  if (!/^\d+$/.test(linkText)) throw new ClicktrailError('CT_ERR_USAGE', `--link-index must be a whole number, got "${linkText}"`)
  let sentAt = Math.floor(Date.now() / 1000)
  if (typeof values['sent-at'] === 'string') {
    const ms = Date.parse(values['sent-at'])
    if (Number.isNaN(ms)) throw new ClicktrailError('CT_ERR_USAGE', `--sent-at must be an ISO 8601 time, got "${values['sent-at']}"`)
    sentAt = Math.floor(ms / 1000)
  }
  const config = loadConfig(values)
  // Secrets first: they are local, and without them nothing can be signed.
  const keys = keyRingFor(config)
  if (!await projectKnown(config, project)) throw new ClicktrailError('CT_ERR_PROJECT_NOT_FOUND', `no project with sid "${project}" (create one with \`clicktrail init\` or the Team API)`)
  const messageId = typeof values['message-id'] === 'string' ? values['message-id'] : randomUUID()
  console.log(mintTrackedUrl(keys, config.trackingBaseUrl, { sid: project, messageId, linkIndex: Number(linkText), sentAt, url }, { maxUrlBytes: config.maxUrlBytes }))
}

function tokenInspect (args: string[]): void {
  const { values, positionals } = parse(args, TOKEN_CONFIG_FLAGS, true, 'token inspect')
  if (values.help === true) { console.log(TOKEN_INSPECT_HELP); return }
  if (positionals.length !== 1) throw new ClicktrailError('CT_ERR_USAGE', 'token inspect takes exactly one URL or token (see `clicktrail token inspect --help`)')
  const config = loadConfig(values)
  const input = positionals[0]
  const slash = input.lastIndexOf('/c/')
  const token = slash === -1 ? input : input.slice(slash + 3).replace(/[?#].*$/, '')
  const v = verifyToken(keyRingFor(config), token, config.maxUrlBytes)
  if (typeof v === 'string') {
    console.log(JSON.stringify({ verifies: false, reason: v, unverified: inspectUnverified(token) ?? null }, null, 2))
    process.exitCode = 1
    return
  }
  const { location, ...fields } = v
  console.log(JSON.stringify({
    verifies: true,
    ...fields,
    sentAtIso: new Date(v.sentAt * 1000).toISOString(),
    location,
    tokenBytes: Buffer.from(token, 'base64url').length,
    tokenChars: token.length
  }, null, 2))
}

const MIGRATE_FLAGS = ['data-dir', 'clickhouse-url', 'clickhouse-user', 'clickhouse-password', 'clickhouse-database', 'log-level'] as const
const SQL_FLAGS = ['data-dir', 'admin-host', 'admin-port', 'admin-token'] as const

const INIT_FLAGS = ['data-dir', 'clickhouse-url', 'clickhouse-user', 'clickhouse-password', 'clickhouse-database', 'tracking-base-url', 'api-host', 'api-port'] as const

async function initCommand (args: string[]): Promise<void> {
  const { values } = parse(args, { ...pick(INIT_FLAGS), 'if-empty': { type: 'boolean' }, json: { type: 'boolean' }, team: { type: 'string' }, project: { type: 'string' }, sid: { type: 'string' } }, false, 'init')
  if (values.help === true) {
    console.log(`usage: clicktrail init [--if-empty] [--json] [--team NAME] [--project NAME] [--sid SID]\n\nCreates a team, a Team API token, a project and a transactional and a broadcast route with\nclick tracking on, and prints them. --if-empty does nothing when a team exists already.\n--json prints them as one JSON object, for scripts (with --if-empty and a team already\nthere: {"created": false}). With the embedded engine, run it while the server is stopped.\n\n${helpFor(INIT_FLAGS)}`)
    return
  }
  const config = loadConfig(values)
  const lock = lockEmbedded(config, 'init')
  const [{ openStore }, { migrate }, { ControlPlane }, { bootstrap }, { databaseState }] = await Promise.all([
    import('./store/client.js'), import('./store/migrate.js'), import('./control/plane.js'), import('./control/projects.js'), import('./store/key-ledger.js')])
  const store = await openStore(config).catch((err: unknown) => { lock?.release(); throw err })
  try {
    await migrate(store.writer, undefined, config.clickhouseCluster)
    const plane = new ControlPlane(store.writer, createLogger('silent'))
    await plane.reload()
    if (values['if-empty'] === true && plane.teamCount > 0) {
      console.log(values.json === true ? JSON.stringify({ created: false }) : `clicktrail: ${config.dataDir} already has a team; nothing to do`)
      return
    }
    // The first command run on a new data dir makes its secret (serve records its
    // fingerprint); where anything was served before, a missing secret is an error.
    loadOrGenerateSecrets(config.secrets, config.dataDir, await databaseState(store.writer, store.database))
    const sid = typeof values.sid === 'string' ? values.sid : undefined
    const b = await bootstrap(plane, { team: values.team as string | undefined, project: values.project as string | undefined, sid })
    const api = `http://${config.apiHost}:${config.apiPort}`
    const trackingHost = `p${b.project.sid}.${new URL(config.trackingBaseUrl).host}`
    if (values.json === true) {
      console.log(JSON.stringify({
        created: true,
        team: { id: b.team.team_id, name: b.team.name },
        api_token: b.token,
        api_url: `${api}/v1`,
        lettermint_base_url: `${api}/lettermint/v1`,
        project: { id: b.project.project_id, sid: b.project.sid, name: b.project.name, tracking_host: trackingHost },
        routes: b.routes.map(r => ({ id: r.route_id, name: r.name, slug: r.slug, route_type: r.type, track_clicks: r.track_clicks }))
      }, null, 2))
      return
    }
    const [tx, bc] = b.routes
    console.log(`team            ${b.team.name} (${b.team.team_id})
API token       ${b.token}
                (shown once; keep it: only its hash is stored)
project         ${b.project.name}, sid ${b.project.sid} (${b.project.project_id})
tracking host   ${trackingHost}
routes          transactional ${tx.route_id} (track_clicks on)
                broadcast     ${bc.route_id} (track_clicks on)

Turn tracking off and on for a route:
  curl -s -X PATCH ${api}/v1/routes/${tx.route_id} \\
    -H 'Authorization: Bearer ${b.token}' -H 'Content-Type: application/json' \\
    -d '{"track_clicks": true}'`)
  } finally {
    await store.close()
    lock?.release()
  }
}

async function migrateCommand (args: string[]): Promise<void> {
  const { values } = parse(args, pick(MIGRATE_FLAGS), false, 'migrate')
  if (values.help === true) {
    console.log(`usage: clicktrail migrate [options]\n\nApplies the numbered migrations of sql/ not yet recorded in schema_migrations.\nWith the embedded engine, run it while the server is stopped (one process per data dir).\n\n${helpFor(MIGRATE_FLAGS)}`)
    return
  }
  const config = loadConfig(values)
  const lock = lockEmbedded(config, 'migrate')
  const [{ openStore }, { migrate }] = await Promise.all([import('./store/client.js'), import('./store/migrate.js')])
  const store = await openStore(config).catch((err: unknown) => { lock?.release(); throw err })
  try {
    const r = await migrate(store.writer, undefined, config.clickhouseCluster)
    console.log(JSON.stringify({ clickhouse: store.kind, database: store.database, ...r }))
  } finally {
    await store.close()
    lock?.release()
  }
}

async function schemaCommand (args: string[]): Promise<void> {
  const { values } = parse(args, { cluster: { type: 'string' } }, false, 'schema')
  if (values.help === true) {
    console.log(`usage: clicktrail schema [--cluster NAME]

Prints every statement the migrations of sql/ apply, file by file, without connecting to anything:
as written for one node (the embedded engine or one server), or with --cluster NAME as
\`clicktrail migrate --clickhouse-cluster NAME\` applies them (ON CLUSTER, Replicated and
Distributed tables; see the README's "Running a cluster").`)
    return
  }
  const { schemaText } = await import('./store/schema.js')
  process.stdout.write(schemaText(typeof values.cluster === 'string' ? values.cluster : ''))
}

async function sqlCommand (args: string[]): Promise<void> {
  // A query text that starts with a `--` comment (every file of sql/queries does) is not an
  // option: anything with white space in it that starts with a dash goes after the `--`.
  const texts = args.filter(a => a.startsWith('-') && /\s/.test(a))
  const { values, positionals } = parse([...args.filter(a => !texts.includes(a)), '--', ...texts], { ...pick(SQL_FLAGS), format: { type: 'string' }, file: { type: 'string' }, param: { type: 'string', multiple: true } }, true, 'sql')
  if (values.help === true) {
    console.log(`usage: clicktrail sql [--format PrettyCompact|TabSeparatedWithNames|CSVWithNames|JSONEachRow|…] [--param NAME=VALUE]… ("SELECT …" | --file FILE.sql)

Runs one SELECT over clicktrail's analytics tables (click_observations, clicks, clicks_by_message,
clicks_by_link, clicks_by_tag_day, clicks_by_day, messages, message_links, analytics_*) through the running
server's admin listener, authenticated with <data-dir>/admin-token (or CLICKTRAIL_ADMIN_TOKEN). No table
functions, SETTINGS, FORMAT or INTO OUTFILE; bounded in time, rows, bytes and memory.
--file reads the query from a file: clicktrail sql --file sql/queries/human_vs_machine.sql --param sid=acme
--param sid=acme fills a {sid:String} placeholder (the ready-made queries in sql/queries use them).

${helpFor(SQL_FLAGS)}`)
    return
  }
  const file = typeof values.file === 'string' ? values.file : undefined
  if (positionals.length !== (file === undefined ? 1 : 0)) throw new ClicktrailError('CT_ERR_USAGE', 'sql takes exactly one query: quoted, or --file FILE (see `clicktrail sql --help`)')
  let text = positionals[0]
  if (file !== undefined) {
    try { text = readFileSync(file, 'utf8') } catch (err) { throw new ClicktrailError('CT_ERR_USAGE', `cannot read --file ${file}: ${(err as Error).message}`) }
  }
  const config = loadConfig(values)
  const format = typeof values.format === 'string' ? values.format : 'PrettyCompact'
  const query = new URLSearchParams({ format })
  for (const p of (values.param ?? []) as string[]) {
    const eq = p.indexOf('=')
    if (eq <= 0) throw new ClicktrailError('CT_ERR_USAGE', `--param takes NAME=VALUE, got "${p}"`)
    query.append(`param_${p.slice(0, eq)}`, p.slice(eq + 1))
  }
  const res = await adminRequest(config, `/sql?${query.toString()}`, { method: 'POST', body: text })
  process.stdout.write(await adminAnswer(res, 'CT_ERR_SQL_FAILED'))
}

async function reportCommand (args: string[]): Promise<void> {
  const { values } = parse(args, { ...pick(SQL_FLAGS), project: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, by: { type: 'string' }, timezone: { type: 'string' }, limit: { type: 'string' }, format: { type: 'string' } }, false, 'report')
  const { REPORT_BY, reportRequest, reportTable, formatTable, formatCsv } = await import('./analytics/report.js')
  if (values.help === true) {
    console.log(`usage: clicktrail report [--project SID] [--from DATE] [--to DATE] [--by ${Object.keys(REPORT_BY).join('|')}|campaign:KEY]
                         [--timezone IANA] [--limit N] [--format table|csv|json]

The common questions without SQL, through the running server's admin listener and the same
analytics code as POST /v1/analytics: unique clickers (clicks), humans and machines among them,
every observation (clicks_events) and the human click rate (human clicks / tracked messages).
Without --by, the totals; --by day, one row per day and a total. --from/--to are calendar dates
(inclusive) or RFC 3339 instants (to exclusive); the default is the last 30 days. Every project,
or --project SID. --format json prints the analytics answer itself.

${helpFor(SQL_FLAGS)}`)
    return
  }
  const format = typeof values.format === 'string' ? values.format : 'table'
  if (!['table', 'csv', 'json'].includes(format)) throw new ClicktrailError('CT_ERR_USAGE', `--format takes table, csv or json, got "${format}"`)
  const limit = typeof values.limit === 'string' ? Number(values.limit) : undefined
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new ClicktrailError('CT_ERR_USAGE', `--limit takes a positive integer, got "${String(values.limit)}"`)
  const str = (v: unknown): string | undefined => typeof v === 'string' ? v : undefined
  const request = reportRequest({ by: str(values.by), from: str(values.from), to: str(values.to), timezone: str(values.timezone), limit })
  const config = loadConfig(values)
  const sid = str(values.project)
  const res = await adminRequest(config, `/analytics${sid === undefined ? '' : `?sid=${encodeURIComponent(sid)}`}`, { method: 'POST', body: JSON.stringify(request) })
  const text = await adminAnswer(res, 'CT_ERR_ADMIN')
  if (format === 'json') { process.stdout.write(text.endsWith('\n') ? text : `${text}\n`); return }
  const table = reportTable(JSON.parse(text))
  process.stdout.write(format === 'csv' ? formatCsv(table) : formatTable(table))
}

/** The body of an admin listener's answer; its `{"error": {code, message}}` as a ClicktrailError when it is not 2xx. */
async function adminAnswer (res: Response, fallbackCode: 'CT_ERR_SQL_FAILED' | 'CT_ERR_ADMIN'): Promise<string> {
  const text = await res.text()
  if (res.ok) return text
  let code: string = fallbackCode
  let message = text
  try { ({ code, message } = (JSON.parse(text) as { error: { code: string, message: string } }).error) } catch { /* not JSON */ }
  throw new ClicktrailError(isErrorCode(code) ? code : 'CT_ERR_ADMIN', message)
}

const BLOCK_HELP = `usage: clicktrail block add (--url URL | --prefix URL | --host HOST | --project SID) [--reason TEXT]
       clicktrail block list
       clicktrail block remove BLOCK_ID

The operator's kill switch, through the running server's admin listener: links to a blocked
destination (an exact URL, a URL prefix, a host and its subdomains) or of a blocked project stop
redirecting — links already in mailboxes included — and answer a plain warning page (403) on
every node within --config-refresh-ms. Their clicks are kept, marked, and never promoted.

${helpFor(SQL_FLAGS)}`

async function blockCommand (sub: string | undefined, args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { ...pick(SQL_FLAGS), url: { type: 'string' }, prefix: { type: 'string' }, host: { type: 'string' }, project: { type: 'string' }, reason: { type: 'string' } }, true, 'block')
  if (values.help === true || sub === undefined || sub === '--help' || sub === '-h') { console.log(BLOCK_HELP); return }
  const config = loadConfig(values)
  let res: Response
  if (sub === 'add') {
    const given = (['url', 'prefix', 'host', 'project'] as const).filter(k => typeof values[k] === 'string')
    if (given.length !== 1 || positionals.length > 0) throw new ClicktrailError('CT_ERR_USAGE', 'block add takes exactly one of --url, --prefix, --host, --project (see `clicktrail block --help`)')
    const kind = given[0]
    res = await adminRequest(config, '/blocks', { method: 'POST', body: JSON.stringify({ kind, value: values[kind], reason: values.reason ?? '' }) })
  } else if (sub === 'list') {
    res = await adminRequest(config, '/blocks')
  } else if (sub === 'remove') {
    if (positionals.length !== 1) throw new ClicktrailError('CT_ERR_USAGE', 'block remove takes one block id (see `clicktrail block list`)')
    res = await adminRequest(config, `/blocks/${encodeURIComponent(positionals[0])}`, { method: 'DELETE' })
  } else {
    throw new ClicktrailError('CT_ERR_USAGE', `unknown block command "${sub}" (see \`clicktrail block --help\`)`)
  }
  console.log(JSON.stringify(JSON.parse(await adminAnswer(res, 'CT_ERR_ADMIN')), null, 2))
}

export async function main (argv: string[]): Promise<void> {
  const [command, sub, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') { console.log(USAGE); return }
  if (command === 'serve') return await serve(argv.slice(1))
  if (command === 'migrate') return await migrateCommand(argv.slice(1))
  if (command === 'schema') return await schemaCommand(argv.slice(1))
  if (command === 'init') return await initCommand(argv.slice(1))
  if (command === 'sql') return await sqlCommand(argv.slice(1))
  if (command === 'report') return await reportCommand(argv.slice(1))
  if (command === 'block') return await blockCommand(sub, rest)
  if (command === 'token') {
    if (sub === 'create') return await tokenCreate(rest)
    if (sub === 'inspect') return tokenInspect(rest)
    if (sub === undefined || sub === '--help' || sub === '-h') { console.log(`${TOKEN_CREATE_HELP}\n\n${TOKEN_INSPECT_HELP}`); return }
    throw new ClicktrailError('CT_ERR_USAGE', `unknown token command "${sub}" (see \`clicktrail --help\`)`)
  }
  throw new ClicktrailError('CT_ERR_USAGE', `unknown command "${command}" (see \`clicktrail --help\`)`)
}

main(process.argv.slice(2)).catch((err: unknown) => {
  // Every failure is one line `clicktrail: CT_ERR_…: message` (usage errors: exit 2, the
  // rest: exit 1); the stack only at log level debug or trace.
  const failure = oneLineFailure(err)
  console.error(failure.line)
  if (wantsStack(process.argv.slice(2)) && err instanceof Error && err.stack !== undefined) console.error(err.stack)
  process.exit(failure.exitCode)
})

function wantsStack (argv: string[]): boolean {
  let level = process.env.CLICKTRAIL_LOG_LEVEL ?? process.env.LOG_LEVEL ?? ''
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--log-level' && i + 1 < argv.length) level = argv[i + 1]
    else if (argv[i].startsWith('--log-level=')) level = argv[i].slice('--log-level='.length)
  }
  return level === 'debug' || level === 'trace'
}
