import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { randomUUID } from 'node:crypto'
import { Agent, request as httpRequest } from 'node:http'
import { KeyRing, parseSecrets } from '../../src/token/keys.js'
import { mintToken } from '../../src/token/codec.js'
import { tempDir, SECRET_1 } from '../helpers/engine.js'

// kill -9 of the real server (dist/cli.js) under load, then a restart on the same data
// directory: which acknowledged clicks (302s the client received) are not in ClickHouse?
const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'cli.js')
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`make build\` first`)
const HOST = 'pcrash.t.localhost:8080'
const HANDOFF_MS = 10

interface Server { child: ChildProcess, port: number, adminPort: number, exited: Promise<number | null> }

async function serve (dir: string): Promise<Server> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--admin-port', '0', '--api-port', '0', '--data-dir', dir, '--handoff-interval-ms', String(HANDOFF_MS), '--batch-max-ms', '300', '--log-level', 'info'], {
    env: { ...process.env, CLICKTRAIL_SECRETS: SECRET_1, UWS_USE_FALLBACK: '' }
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { err += c.toString() })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => { resolve(code) }))
  const deadline = Date.now() + 60_000
  // stdout says the server is up; the admin port is in the (asynchronously flushed) log.
  while (!/try it:|no project yet/.test(out) || !/"msg":"admin listener/.test(err)) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`server did not start: ${err}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1])
  const adminPort = Number(/"port":(\d+),"msg":"admin listener/.exec(err)?.[1])
  return { child, port, adminPort, exited }
}

async function sql (s: Server, dir: string, query: string): Promise<string> {
  const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim()
  const res = await fetch(`http://127.0.0.1:${s.adminPort}/sql?format=TabSeparated`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: query })
  const text = await res.text()
  if (!res.ok) throw new Error(text)
  return text
}

t.test('kill -9 under load loses only the observations of the last hand-off intervals', async t => {
  const dir = tempDir(t)
  const keys = new KeyRing(parseSecrets(SECRET_1))
  const init = spawnSync(process.execPath, [CLI, 'init', '--data-dir', dir, '--sid', 'crash'], { encoding: 'utf8' })
  t.equal(init.status, 0, init.stderr)
  const first = await serve(dir)
  t.teardown(() => { first.child.kill('SIGKILL') })
  const agent = new Agent({ keepAlive: true, maxSockets: 16 })
  const acknowledged = new Set<number>()
  let next = 0
  let stop = false
  const sentAt = Math.floor(Date.now() / 1000)
  const one = (): Promise<void> => new Promise(resolve => {
    const i = next++
    const token = mintToken(keys, { sid: 'crash', messageId: randomUUID(), linkIndex: 0, sentAt, url: `https://example.com/n/${i}` })
    const req = httpRequest({ host: '127.0.0.1', port: first.port, path: `/c/${token}`, headers: { host: HOST }, agent }, res => {
      if (res.statusCode === 302) acknowledged.add(i)
      res.resume()
      res.on('end', resolve)
      res.on('error', () => { resolve() })
    })
    req.on('error', () => { resolve() })
    req.end()
  })
  // eslint-disable-next-line no-unmodified-loop-condition -- `stop` is set by the timer below while the loops await
  const loops = Array.from({ length: 16 }, async () => { while (!stop) await one() })
  await new Promise(resolve => setTimeout(resolve, 2500))
  first.child.kill('SIGKILL')
  stop = true
  await Promise.all(loops)
  agent.destroy()
  await first.exited
  t.ok(acknowledged.size > 500, `${acknowledged.size} redirects acknowledged before the kill`)

  const second = await serve(dir)
  t.teardown(() => { second.child.kill('SIGKILL') })
  const deadline = Date.now() + 60_000
  let queued = -1
  while (Date.now() < deadline) {
    const m = await (await fetch(`http://127.0.0.1:${second.adminPort}/metrics`)).text()
    queued = Number(/^clicktrail_ingest_queued_rows (\d+)$/m.exec(m)?.[1])
    if (queued === 0) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(queued, 0, 'the replay drained')
  const stored = new Set((await sql(second, dir, "SELECT toUInt32(extract(url, '/n/(\\\\d+)$')) FROM click_observations")).trim().split('\n').filter(Boolean).map(Number))
  const dup = Number((await sql(second, dir, 'SELECT count() - uniqExact(url) FROM click_observations')).trim())
  const lost = [...acknowledged].filter(i => !stored.has(i)).length
  const elapsedMs = 2500
  const ratePerMs = acknowledged.size / elapsedMs
  const bound = Math.ceil(ratePerMs * HANDOFF_MS * 3) + 16 // three hand-off intervals of traffic, plus the in-flight requests
  t.comment(`kill -9 after ${acknowledged.size} acknowledged redirects: ${lost} lost, ${stored.size} stored, ${dup} duplicates (bound ${bound})`)
  t.equal(dup, 0, 'no observation stored twice')
  t.ok(lost <= bound, `lost ${lost} ≤ ${bound}`)
  second.child.kill('SIGTERM')
  t.equal(await second.exited, 0)
})
