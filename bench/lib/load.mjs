// Closed-loop load tools: wrk when it is installed (its own process, its CPU time read with
// `times`), else autocannon (in this process, latency recorded per response with µs
// resolution). Both send the same requests: one path after the other from a cycle of
// paths (a file for wrk's Lua script, lib/paths.lua, an array for autocannon), continued
// across runs. The paced open-loop client is lib/paced.mjs.
import { spawn, spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import { LatencyHistogram } from './histogram.mjs'
import { fail, track } from './children.mjs'
import { HOST } from './settings.mjs'

const require = createRequire(import.meta.url)
const LUA = fileURLToPath(new URL('./paths.lua', import.meta.url))
const STREAM_LUA = fileURLToPath(new URL('./stream.lua', import.meta.url))

export const hasWrk = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).status === 0

/** The load tool of this run: BENCH_TOOL, else wrk if installed, else autocannon. */
export function chooseTool () {
  const tool = process.env.BENCH_TOOL || (hasWrk ? 'wrk' : 'autocannon')
  if (tool !== 'wrk' && tool !== 'autocannon') throw new Error(`BENCH_TOOL must be autocannon or wrk, got "${tool}"`)
  if (tool === 'wrk' && !hasWrk) throw new Error('BENCH_TOOL=wrk but wrk is not on PATH (apt-get install -y wrk)')
  return tool
}

/** Versions of the load tools, for the result's settings. */
export function toolVersions (tool) {
  return {
    wrkVersion: tool === 'wrk' ? spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] : undefined,
    autocannonVersion: require('autocannon/package.json').version
  }
}

/** A cycle of request paths, written to `dir/<name>.paths` for wrk; `offset` moves on across runs. */
export function pathCycle (dir, name, paths) {
  const file = join(dir, `${name}.paths`)
  writeFileSync(file, paths.join('\n') + '\n')
  return { paths, file, offset: 0 }
}

/**
 * autocannon, in this process. Each request's path is the cycle's next, or nextPath()'s.
 * @param {{ port: number, cycle?: {paths: string[], offset: number}, nextPath?: () => string, seconds: number, connections: number, headers: Record<string,string>, overallRate?: number }} o
 */
export async function runAutocannon ({ port, cycle = { paths: [], offset: 0 }, nextPath, seconds, connections, headers, overallRate }) {
  const autocannon = require('autocannon')
  const hist = new LatencyHistogram()
  const { paths } = cycle
  const n = paths.length
  let i = cycle.offset
  const pathFor = nextPath ?? (() => paths[i % n])
  const lower = {}
  for (const [k, v] of Object.entries(headers)) lower[k.toLowerCase()] = v
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const instance = autocannon({
    url: `http://${HOST}:${port}`,
    connections,
    duration: seconds,
    timeout: 10,
    headers: lower,
    overallRate,
    requests: [{ method: 'GET', setupRequest: (req) => { req.path = pathFor(); i++; return req } }]
  })
  instance.on('response', (client, statusCode, bytes, responseTime) => { hist.record(responseTime * 1000) })
  const watchdog = setTimeout(() => { instance.stop() }, (seconds + 30) * 1000)
  const r = await instance
  clearTimeout(watchdog)
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  cycle.offset = i
  const statuses = {}
  for (const [code, { count }] of Object.entries(r.statusCodeStats)) statuses[code] = count
  const lat = hist.summary()
  return {
    requests: r.requests.total,
    seconds: r.duration,
    rps: r.requests.total / r.duration,
    p50Ms: lat.p50_us / 1000,
    p99Ms: lat.p99_us / 1000,
    maxMs: lat.max_us / 1000,
    latency: lat,
    autocannonLatencyMs: { p50: r.latency.p50, p99: r.latency.p99, note: 'autocannon histogram (whole ms, 2xx only unless errors included)' },
    statuses,
    non2xx3xx: r['1xx'] + r['4xx'] + r['5xx'],
    other3xx: Object.entries(statuses).filter(([c]) => c !== '302').reduce((a, [, v]) => a + v, 0),
    errors: r.errors,
    timeouts: r.timeouts,
    loadgenCpuUtil: (cpu.user + cpu.system) / 1000 / wallMs,
    loadgenInProcess: true
  }
}

/**
 * wrk in its own process group (killed as a group on error); `times` gives its CPU time.
 * `stream` ({file, wrap}) uses lib/stream.lua instead of a cycle: each request's path is the
 * file's next line, read as wrk goes (a file of millions of tokens is never held in
 * memory); at the end of the file it starts over when `wrap`, else it stops sending new
 * paths and repeats the last one — `extra.lines` and `extra.wraps` say how far it got.
 * @param {{ port: number, cycle?: {file: string, offset: number}, stream?: {file: string, wrap: boolean}, seconds: number, connections: number, headers: Record<string,string>, threads?: number }} o
 */
export async function runWrk ({ port, cycle, stream, seconds, connections, headers, threads = 1 }) {
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '10s', '-s', stream ? STREAM_LUA : LUA]
  for (const [k, v] of Object.entries(headers)) args.push('-H', `${k}: ${v}`)
  if (stream) args.push(`http://${HOST}:${port}`, '--', stream.file, stream.wrap ? 'wrap' : 'stop')
  else args.push(`http://${HOST}:${port}`, '--', cycle.file, String(cycle.offset), String(threads))
  const cp = track(spawn('bash', ['-c', 'wrk "$@"; rc=$?; echo TIMES; times; exit $rc', 'bash', ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] }), { group: true })
  let out = ''
  let err = ''
  cp.stdout.on('data', d => { out += d })
  cp.stderr.on('data', d => { err += d })
  const watchdog = setTimeout(() => { try { process.kill(-cp.pid, 'SIGKILL') } catch {} }, (seconds + 30) * 1000)
  const t0 = performance.now()
  const code = await new Promise(resolve => cp.once('close', resolve))
  const wallMs = performance.now() - t0
  clearTimeout(watchdog)
  const line = out.split('\n').find(l => l.startsWith('WRKJSON '))
  if (code !== 0 || line === undefined) fail(`wrk failed (exit ${code}):\n${out}\n${err}`)
  const w = JSON.parse(line.slice('WRKJSON '.length))
  // `times` prints the shell's own user/sys, then its children's: the second line is wrk.
  const timesLines = out.slice(out.indexOf('TIMES')).split('\n').filter(l => /\d+m[\d.]+s/.test(l))
  let loadgenCpuUtil = NaN
  if (timesLines.length >= 2) {
    const secs = timesLines[1].trim().split(/\s+/).map(t => { const m = /(\d+)m([\d.]+)s/.exec(t); return Number(m[1]) * 60 + Number(m[2]) })
    loadgenCpuUtil = (secs[0] + secs[1]) * 1000 / wallMs
  }
  if (cycle) cycle.offset += w.requests + connections
  const secondsRun = w.duration_us / 1e6
  return {
    requests: w.requests,
    seconds: secondsRun,
    rps: w.requests / secondsRun,
    p50Ms: w.p50_us / 1000,
    p99Ms: w.p99_us / 1000,
    maxMs: w.max_us / 1000,
    latency: { mean_us: w.mean_us, p50_us: w.p50_us, p90_us: w.p90_us, p99_us: w.p99_us, p999_us: w.p999_us, max_us: w.max_us },
    // wrk only counts statuses > 399 ("non-2xx/3xx"); which 3xx it was is checked on the server side.
    statuses: { '<400': w.requests - w.status, '>=400': w.status },
    non2xx3xx: w.status,
    other3xx: 0,
    errors: w.connect + w.read + w.write,
    socketErrors: { connect: w.connect, read: w.read, write: w.write },
    timeouts: w.timeout,
    loadgenCpuUtil,
    loadgenInProcess: false,
    extra: stream ? { lines: w.lines, wraps: w.wraps } : undefined
  }
}

/** The runner of `tool` with the run's fixed settings bound: (port, cycle, seconds) → result. */
export function loadRunner ({ tool, connections, headers, wrkThreads = 1 }) {
  return (port, cycle, seconds) => tool === 'wrk'
    ? runWrk({ port, cycle, seconds, connections, headers, threads: wrkThreads })
    : runAutocannon({ port, cycle, seconds, connections, headers })
}
