// Every module of the project that a micro benchmark uses, in one place: the benches import
// project code only from here, so when files move in src/ the paths are fixed here alone.
// The modules come from dist/ (built by `npx tsc -p .`); BENCH_DIST (or useDist) points
// at another build, e.g. an older checkout's dist/, for a before/after comparison.
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

let dist = process.env.BENCH_DIST
  ? pathToFileURL(resolve(process.env.BENCH_DIST) + '/')
  : new URL('../../../dist/', import.meta.url)

/** Loads the project from `dir` instead (before the first load). */
export function useDist (dir) {
  dist = pathToFileURL(resolve(dir) + '/')
}

/** The dist/ directory in use. */
export function distDir () {
  return dist.pathname
}

async function load (path) {
  try {
    return await import(new URL(path, dist))
  } catch (err) {
    if (err?.code === 'ERR_MODULE_NOT_FOUND') {
      throw new Error(`${path} is not in ${dist.pathname}: build first (npx tsc -p .), or fix its path in bench/micro/lib/project.mjs (${err.message})`)
    }
    throw err
  }
}

// ---- redirect path
/** READ_FIELDS (the header names the redirect server reads) and normalizeIp. */
export async function redirectServer () {
  const m = await load('redirect/server.js')
  return { READ_FIELDS: m.READ_FIELDS, normalizeIp: m.normalizeIp }
}
/** uWebSockets.js, loaded and checked the project's way (native binding or an error). */
export async function uws () {
  return (await load('http/uws.js')).loadUws()
}
/** UWS_MAX_FIELDS: the header fields uWS v20.30 parses at most. */
export async function frontLimits () {
  return { UWS_MAX_FIELDS: (await load('http/front.js')).UWS_MAX_FIELDS }
}

/** The HTTP front (listenFronted) and the streamed-body slice size of http/stream-body.ts. */
export async function httpStreaming () {
  const [front, body, log] = await Promise.all([load('http/front.js'), load('http/stream-body.js'), load('log.js')])
  return { listenFronted: front.listenFronted, STREAM_SLICE_BYTES: body.STREAM_SLICE_BYTES, streamBody: body.streamBody, silentLogger: log.silentLogger }
}

// ---- tokens
export async function tokens () {
  const [keys, codec, hosts] = await Promise.all([load('token/keys.js'), load('token/codec.js'), load('token/tracked-url.js')])
  return { KeyRing: keys.KeyRing, parseSecrets: keys.parseSecrets, mintToken: codec.mintToken, verifyToken: codec.verifyToken, trackedUrl: hosts.trackedUrl }
}

// ---- control plane
export async function controlPlane () {
  const [plane, log] = await Promise.all([load('control/plane.js'), load('log.js')])
  return { ControlPlane: plane.ControlPlane, hashToken: plane.hashToken, silentLogger: log.silentLogger }
}

// ---- classification
export async function classifyTask () {
  const [m, b, r] = await Promise.all([load('promote/classify-task.js'), load('classify/batch.js'), load('records.js')])
  return { toClassifyTask: m.toClassifyTask, runClassifyTask: b.runClassifyTask, packClassifyTask: b.packClassifyTask, unpackClassifyTask: b.unpackClassifyTask, observationFromHeaders: r.observationFromHeaders }
}
export async function userAgents () {
  const m = await load('classify/ua.js')
  return { analyzeAgent: m.analyzeAgent }
}

// ---- ingest and storage
export async function spool () {
  const m = await load('store/spool.js')
  return { crc32c: m.crc32c, Spool: m.Spool }
}
export async function observations () {
  const m = await load('store/observations.js')
  return { toRow: m.toRow, fromRow: m.fromRow, OBSERVATION_COLUMNS: m.OBSERVATION_COLUMNS, insertObservationRows: m.insertObservationRows }
}
export async function intentFile () {
  return { writeIntentFile: (await load('store/intent-file.js')).writeIntentFile }
}
/** The store (embedded ClickHouse through chdb) as the engine opens it, and its config loader. */
export async function store () {
  const [client, config, session, migrate] = await Promise.all([load('store/client.js'), load('config.js'), load('store/chdb-session.js'), load('store/migrate.js')])
  return { openStore: client.openStore, ANALYST_LIMITS: client.ANALYST_LIMITS, loadConfig: config.loadConfig, migrate: migrate.migrate, ResettingChdbConnection: session.ResettingChdbConnection }
}

// ---- rewriting
export async function rewrite () {
  const [html, links] = await Promise.all([load('rewrite/html.js'), load('rewrite/links.js')])
  return { rewriteHtml: html.rewriteHtml, scanHtml: html.scanHtml, trackingHostPredicate: links.trackingHostPredicate }
}

/** The click path's storage statements (bench/micro/store-costs.mjs). */
export async function clickPathStore () {
  const [promotion, quarantine, directory, batched, log] = await Promise.all([load('store/promotion.js'), load('store/quarantine.js'), load('messages/directory.js'), load('store/batched.js'), load('log.js')])
  return { ClickHousePromotionStore: promotion.ClickHousePromotionStore, Quarantine: quarantine.Quarantine, MessageDirectory: directory.MessageDirectory, BatchedWriter: batched.BatchedWriter, silentLogger: log.silentLogger }
}
/** Rows as text on their way to ClickHouse (bench/micro/row-insert.mjs). */
export async function rowInsert () {
  const [rows, promotion] = await Promise.all([load('store/row-insert.js'), load('store/promotion.js')])
  return { rowsBuffer: rows.rowsBuffer, insertRows: rows.insertRows, clickLine: promotion.clickLine, CLICK_COLUMNS: promotion.CLICK_COLUMNS }
}

// ---- analytics
/** runAnalytics (POST /v1/analytics without HTTP). */
export async function analytics () {
  const m = await load('analytics/run.js')
  return { runAnalytics: m.runAnalytics }
}

// ---- webhooks
/** eventIdFor: a click's stable webhook event id (src/webhooks/payload.ts). */
export async function webhookPayload () {
  const m = await load('webhooks/payload.js')
  return { eventIdFor: m.eventIdFor }
}

/** The whole engine (startEngine), its config and bootstrap: for benches of one stage inside the real engine. */
export async function wholeEngine () {
  const [config, engine, log, projects] = await Promise.all([load('config.js'), load('engine/index.js'), load('log.js'), load('control/projects.js')])
  return { loadConfig: config.loadConfig, startEngine: engine.startEngine, silentLogger: log.silentLogger, bootstrap: projects.bootstrap }
}
