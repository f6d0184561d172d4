// The server of bench/export.mjs, in its own process (so that its RSS is its own): the real
// engine (embedded ClickHouse in BENCH_DATA_DIR, Team API on a free loopback port) with one
// bootstrapped team. Started by lib/children.mjs ServerChild with this script; it sends
// {type:'ready', port: <Team API port>, token, projectId, sid} and answers, as
// {type:'reply', id, ok, result}:
//   {type:'seed', rows, days}  INSERT … SELECT FROM numbers(rows) straight into `clicks`
//                              (the rows of exportSeedSql), then OPTIMIZE … FINAL
//   {type:'mem', noGc?}        VmRSS and VmHWM (peak RSS) of this process, bytes, after a GC
//                              (none with noGc: the samples taken while an export runs)
//   {type:'resetPeak'}         resets VmHWM to the current RSS (/proc/self/clear_refs 5)
//   {type:'whole', rows}       the non-streamed baseline: the first `rows` clicks read with
//                              the export's own queries, then held whole as one CSV body
//                              (what a Reply.raw of them would hold); returns its bytes
//   {type:'stats'}             the Team API's counters (streams ended / aborted / failed)
// Run with --expose-gc (bench/export.mjs does) so that `mem` measures after a collection.
import { readFileSync, writeFileSync } from 'node:fs'
import { engineModules, DIST } from './project.mjs'
import { HOST } from './settings.mjs'
import { exportSeedSql } from './export-seed.mjs'

const send = (m) => { if (process.connected) process.send(m) }
const handlers = {}

function memory (collect = true) {
  if (collect) globalThis.gc?.()
  const status = readFileSync('/proc/self/status', 'latin1')
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024
  const m = process.memoryUsage()
  return { rss: kb('VmRSS'), peak: kb('VmHWM'), heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers }
}

async function main () {
  const { loadConfig, startEngine, createLogger, bootstrap } = await engineModules()
  const { clickPages } = await import(new URL('store/events.js', DIST))
  const { stringify } = await import('csv-stringify/sync')
  const flags = { host: HOST, port: '0', 'api-host': HOST, 'api-port': '0', 'admin-host': HOST, 'admin-port': '0', 'data-dir': process.env.BENCH_DATA_DIR, secrets: process.env.BENCH_SECRETS, 'log-level': 'silent', 'redirect-threads': '1' }
  const engine = await startEngine(loadConfig(flags, {}), createLogger(process.env.BENCH_LOG_LEVEL || 'warn'))
  const boot = await bootstrap(engine.plane, { sid: 'bench', team: 'bench export', project: 'bench export' })
  handlers.seed = async (m) => {
    await engine.store.writer.command({ query: exportSeedSql('bench', m.rows, m.days, m.now) })
    // One part per partition, as a long-lived table would mostly be: the queries read merged data.
    await engine.store.writer.command({ query: 'OPTIMIZE TABLE clicks FINAL' })
    return true
  }
  handlers.mem = async (m) => memory(m.noGc !== true)
  handlers.resetPeak = async () => { writeFileSync('/proc/self/clear_refs', '5'); return memory() }
  handlers.stats = async () => engine.api.stats
  handlers.whole = async (m) => {
    const rows = []
    const f = { sids: ['bench'], fromMs: m.fromMs, toMs: m.toMs, includeMachine: true }
    for await (const page of clickPages(engine.store.reader, engine.store.readerSettings, f, 10_000)) {
      for (const c of page) { if (rows.length < m.rows) rows.push(c) }
      if (rows.length >= m.rows) break
    }
    const body = Buffer.from(stringify(rows.map(c => [c.obs_id, c.ts, c.message_id, c.recipient, c.subject, c.tag, JSON.stringify(c.metadata), c.link_index, c.destination_url, c.anchor_text, c.first_click, c.device_type, c.client_type, c.client_name, c.user_agent, c.ip, c.method, c.sent_at, c.bot.detected, c.bot.probability, c.bot.classification, c.bot.proxy_type ?? '', c.bot.reason_codes.join(' '), c.bot.machine, c.bot.counts_for_metrics])))
    const peak = memory()
    return { rows: rows.length, bytes: body.byteLength, peak }
  }
  process.on('message', (m) => {
    if (m?.type === 'stop') {
      engine.stop().finally(() => process.exit(0))
    } else if (typeof m?.type === 'string' && Object.hasOwn(handlers, m.type)) {
      handlers[m.type](m).then(
        result => send({ type: 'reply', id: m.id, ok: true, result }),
        err => send({ type: 'reply', id: m.id, ok: false, error: String(err?.stack ?? err) }))
    }
  })
  send({ type: 'ready', port: engine.api.port, pid: process.pid, token: boot.token, projectId: boot.project.project_id, sid: boot.project.sid })
}

process.on('disconnect', () => { process.exit(0) })
main().catch((err) => {
  send({ type: 'error', message: String(err?.stack ?? err) })
  console.error(err)
  process.exit(1)
})
