// Every module of the project (dist/, built by `npx tsc -p .`) that the macro benches and
// lib/server-child.mjs use, in one place: when files move in src/, fix the paths here.
// (The micro benchmarks have their own list: bench/micro/lib/project.mjs.)
import { existsSync } from 'node:fs'

export const DIST = new URL('../../dist/', import.meta.url)

const load = (path) => import(new URL(path, DIST))

/** Fails with a clear message when dist/ has not been built. */
export function requireDist () {
  if (!existsSync(new URL('engine/index.js', DIST))) throw new Error('dist/ is missing: build first (npx tsc -p .)')
}

/** The engine and what a bench server needs to start it. */
export async function engineModules () {
  const [config, engine, log, observation, bootstrap] = await Promise.all([
    load('config.js'), load('engine/index.js'), load('log.js'), load('records.js'), load('control/projects.js')
  ])
  return {
    loadConfig: config.loadConfig,
    configOptions: config.OPTIONS,
    startEngine: engine.startEngine,
    startRedirectEngine: engine.startRedirectEngine,
    createLogger: log.createLogger,
    silentLogger: log.silentLogger,
    CountingSink: observation.CountingSink,
    bootstrap: bootstrap.bootstrap
  }
}

/** Token keys and codec. */
export async function tokenModules () {
  const [keys, codec] = await Promise.all([load('token/keys.js'), load('token/codec.js')])
  return { KeyRing: keys.KeyRing, parseSecrets: keys.parseSecrets, mintToken: codec.mintToken, verifyToken: codec.verifyToken }
}

/** The classifier's Chrome release-train estimate (bench/e2e.mjs sends a current Chrome). */
export async function chromeMajorAt () {
  return (await load('classify/classify.js')).chromeMajorAt
}

/** Link rewriting and the worker pool (bench/rewrite.mjs). */
export async function rewriteModules () {
  const [html, links, pool, keys, codec, hosts] = await Promise.all([
    load('rewrite/html.js'), load('rewrite/links.js'), load('pool/pool.js'), load('token/keys.js'), load('token/codec.js'), load('token/tracked-url.js')
  ])
  return {
    rewriteHtml: html.rewriteHtml,
    trackingHostPredicate: links.trackingHostPredicate,
    createRewritePool: pool.createRewritePool,
    KeyRing: keys.KeyRing,
    mintToken: codec.mintToken,
    trackedUrl: hosts.trackedUrl
  }
}

/** Classification tasks and the pool (bench/classify.mjs). */
export async function classifyModules () {
  const [task, batch, pool, records] = await Promise.all([load('promote/classify-task.js'), load('classify/batch.js'), load('pool/pool.js'), load('records.js')])
  return { runClassifyTask: batch.runClassifyTask, toClassifyTask: task.toClassifyTask, createRewritePool: pool.createRewritePool, observationFromHeaders: records.observationFromHeaders }
}
