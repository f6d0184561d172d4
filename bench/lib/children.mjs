// Child processes of a bench and the hygiene around them: every server and load generator
// is tracked and killed when the bench ends (normally, on an error, on Ctrl-C), temp dirs
// are removed, a watchdog bounds the whole run, and `ServerChild` runs one server under
// test in its own process (lib/server-child.mjs by default) so that its CPU time is its own.
import { fork } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'

export const SERVER_CHILD = fileURLToPath(new URL('./server-child.mjs', import.meta.url))

const live = new Set() // ChildProcess of every server and load generator still running
const cleanups = [] // run once at the end: temp dirs, sockets of the bench itself

/** Tracks a child so that killAll() ends it; `group`: it was spawned detached, kill its process group. */
export function track (cp, { group = false } = {}) {
  cp.benchGroup = group
  live.add(cp)
  cp.once('exit', () => { live.delete(cp) })
  return cp
}

/** Runs `fn` when the bench ends, however it ends (errors in it are ignored). */
export function atExit (fn) {
  cleanups.push(fn)
}

/** Kills every tracked child and runs the clean-ups; safe to call more than once. */
export function killAll () {
  for (const cp of live) {
    try {
      if (cp.benchGroup) process.kill(-cp.pid, 'SIGKILL')
      else cp.kill('SIGKILL')
    } catch {}
  }
  live.clear()
  while (cleanups.length > 0) { try { cleanups.pop()() } catch {} }
}

process.on('exit', killAll)
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { console.error(`\n${sig}: stopping every child`); killAll(); process.exit(130) })
}

/** A temp dir removed at the end of the run. */
export function tempDir (prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  atExit(() => { rmSync(dir, { recursive: true, force: true, maxRetries: 5 }) })
  return dir
}

/** Throws a bench failure: reported as `BENCH FAILED: …`, exit 1. */
export function fail (msg) {
  const err = new Error(msg)
  err.benchFailure = true
  throw err
}

/** Ends the process (exit 2, children killed) if the run takes longer than `seconds`. */
export function watchdog (seconds) {
  const t = setTimeout(() => { console.error(`bench: still running after ${Math.round(seconds)} s, giving up`); killAll(); process.exit(2) }, seconds * 1000)
  t.unref()
  return t
}

/** Runs a bench's main(): a failure is printed (`BENCH FAILED: …` for checks), children killed, exit 1. */
export function runMain (main) {
  main().catch((err) => {
    console.error(err?.benchFailure ? `\nBENCH FAILED: ${err.message}` : err)
    killAll()
    process.exit(1)
  })
}

/**
 * One server in its own process, spoken to over IPC. The child sends {type:'ready', port}
 * (or {type:'error'}); {type:'sample', id} gets {cpu, stats, rss}; any other request
 * {type, id, …} gets {type:'reply', id, ok, result | error}; {type:'stop'} ends it.
 */
export class ServerChild {
  /**
   * @param {string} name     for messages
   * @param {string} kind     argv[2] of the child (which server it runs)
   * @param {object} env      added to this process's environment
   * @param {{ script?: string, readyTimeoutMs?: number, sampleTimeoutMs?: number, execArgv?: string[], quiet?: boolean }} [o]
   *   script: the child program (default lib/server-child.mjs); quiet: drop its stdout and stderr
   */
  constructor (name, kind, env = {}, o = {}) {
    this.name = name
    this.kind = kind
    this.sampleTimeoutMs = o.sampleTimeoutMs ?? 60_000
    this.waiters = new Map()
    this.nextId = 1
    const readyMs = o.readyTimeoutMs ?? 120_000
    this.cp = track(fork(o.script ?? SERVER_CHILD, [kind], { env: { ...process.env, ...env }, execArgv: o.execArgv ?? process.execArgv, stdio: o.quiet ? ['ignore', 'ignore', 'ignore', 'ipc'] : ['ignore', 'inherit', 'inherit', 'ipc'] }))
    this.cp.on('error', (err) => { this.lastError = err })
    this.exited = new Promise(resolve => this.cp.once('exit', (code, signal) => {
      this.exitedWith = { code, signal }
      resolve({ code, signal })
    }))
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name}: not ready after ${readyMs / 1000} s`)), readyMs)
      this.cp.on('message', (m) => {
        if (m.type === 'ready') {
          clearTimeout(timer)
          this.port = m.port
          this.info = m
          resolve(m.port)
        } else if (m.type === 'error') {
          clearTimeout(timer)
          reject(new Error(`${name} failed to start: ${m.message}`))
        } else if (m.type === 'sample' || m.type === 'reply') {
          const w = this.waiters.get(m.id)
          if (w !== undefined) { this.waiters.delete(m.id); w(m) }
        }
      })
      this.exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`${name} exited (code ${code}, signal ${signal})`)) })
    })
    this.ready.catch(() => {})
  }

  get pid () { return this.cp.pid }

  request (msg, timeoutMs) {
    const id = this.nextId++
    if (this.exitedWith !== undefined || !this.cp.connected) {
      return Promise.reject(Object.assign(new Error(`${this.name}: the server process is gone (${JSON.stringify(this.exitedWith ?? 'IPC closed')})`), { benchFailure: true }))
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiters.delete(id); reject(new Error(`${this.name}: no answer to ${msg.type} within ${timeoutMs / 1000} s`)) }, timeoutMs)
      this.waiters.set(id, (m) => { clearTimeout(timer); resolve(m) })
      this.cp.send({ ...msg, id })
    })
  }

  /** CPU time (whole process; main thread when the child reports it) and counters, right now. */
  async sample () {
    const m = await this.request({ type: 'sample' }, this.sampleTimeoutMs)
    return { at: performance.now(), wall: Date.now(), cpuUs: m.cpu.user + m.cpu.system, mainCpuUs: m.stats.mainCpuUs, stats: m.stats, rss: m.rss }
  }

  /** An extra request of the child's kind (query, info, config, flush, …); fails the bench on an error. */
  async call (type, payload = {}, timeoutMs = 60_000) {
    const m = await this.request({ type, ...payload }, timeoutMs)
    if (!m.ok) fail(`${this.name}: ${type} failed: ${m.error}`)
    return m.result
  }

  /** Asks the child to stop; SIGKILL after `graceMs`. */
  async stop (graceMs = 20_000) {
    if (this.cp.exitCode !== null || this.cp.signalCode !== null) return this.exitedWith
    try { this.cp.send({ type: 'stop' }) } catch {}
    let killed = false
    const t = setTimeout(() => { killed = true; try { this.cp.kill('SIGKILL') } catch {} }, graceMs)
    const r = await this.exited
    clearTimeout(t)
    return { ...r, killedAfterGrace: killed }
  }
}
