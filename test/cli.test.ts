import t from 'tap'
import type { Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { request } from './helpers/http.js'
import { randomBytes } from 'node:crypto'

/** The data-dir lock is a symbolic link (its target names the holder): look at the link itself. */
function isLocked (dir: string): boolean {
  try { lstatSync(join(dir, 'serve.lock')); return true } catch { return false }
}

// The CLI is tested as users run it: the built `dist/cli.js` (`make test` builds first).
const CLI = resolve(import.meta.dirname, '..', 'dist', 'cli.js')
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`make build\` (make test does) first`)

const env = { ...process.env, CLICKTRAIL_SECRETS: '', UWS_USE_FALLBACK: '' }
function run (args: string[], extraEnv: Record<string, string> = {}): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...env, ...extraEnv }, timeout: 30_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** A port nothing listens on right now (the child binds it a moment later). uWS binds port 0 without SO_REUSEPORT, a fixed port with it. */
async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as { port: number }).port
  await new Promise(resolve => s.close(resolve))
  return port
}

t.test('bad flags and commands: one line on stderr, exit 2', async t => {
  for (const args of [['serve', '--bogus'], ['token', 'create', '--nope', 'x'], ['frobnicate'], ['token', 'zap'], ['serve', '--port', 'eighty'], ['serve', '--domain', 'not a host=x'], ['token', 'create', '--project', 'x']]) {
    const r = run(args)
    t.equal(r.status, 2, `${args.join(' ')} exits 2`)
    t.equal(r.stderr.trim().split('\n').length, 1, `${args.join(' ')}: one line (${r.stderr.trim()})`)
    t.match(r.stderr, /^clicktrail: /)
  }
})

t.test('--help on every command', async t => {
  for (const args of [['--help'], ['serve', '--help'], ['token', 'create', '--help'], ['token', 'inspect', '--help']]) {
    const r = run(args)
    t.equal(r.status, 0, args.join(' '))
    t.match(r.stdout, /usage: clicktrail/)
  }
  t.match(run(['serve', '--help']).stdout, /--tracking-base-url/)
})

t.test('token create then inspect, with the secret generated into the data dir (0600)', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'clicktrail-cli-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const noSecret = run(['token', 'create', '--data-dir', dir, '--project', 'demo', '--url', 'https://example.com/'])
  t.equal(noSecret.status, 1, 'no secret yet: token create never makes one')
  t.match(noSecret.stderr, /^clicktrail: CT_ERR_SECRETS_MISSING: /)
  t.notOk(existsSync(join(dir, 'secrets')))
  t.equal(run(['init', '--data-dir', dir, '--sid', 'demo']).status, 0)
  const noProject = run(['token', 'create', '--data-dir', dir, '--project', 'nosuch', '--url', 'https://example.com/'])
  t.equal(noProject.status, 1, 'no such project')
  t.match(noProject.stderr, /CT_ERR_PROJECT_NOT_FOUND/)
  const created = run(['token', 'create', '--data-dir', dir, '--project', 'demo', '--url', 'https://example.com/a?b=1&c=2', '--message-id', 'f47ac10b-58cc-4372-a567-0e02b2c3d479', '--link-index', '7', '--sent-at', '2026-01-02T03:04:05Z'])
  t.equal(created.status, 0, created.stderr)
  const url = created.stdout.trim()
  t.match(url, /^http:\/\/pdemo\.t\.localhost:8080\/c\/[A-Za-z0-9_-]+$/)
  t.equal(statSync(join(dir, 'secrets')).mode & 0o777, 0o600, 'generated secret file is 0600')
  const inspected = run(['token', 'inspect', '--data-dir', dir, url])
  t.equal(inspected.status, 0)
  t.match(JSON.parse(inspected.stdout), { verifies: true, sid: 'demo', messageId: 'f47ac10b-58cc-4372-a567-0e02b2c3d479', linkIndex: 7, sentAtIso: '2026-01-02T03:04:05.000Z', url: 'https://example.com/a?b=1&c=2' })
  const other = mkdtempSync(join(tmpdir(), 'clicktrail-cli-'))
  t.teardown(() => { rmSync(other, { recursive: true, force: true }) })
  const nothing = run(['token', 'inspect', '--data-dir', other, url])
  t.equal(nothing.status, 1)
  t.match(nothing.stderr, /^clicktrail: CT_ERR_SECRETS_MISSING: /, 'no secret there, and none is made to verify with')
  t.notOk(existsSync(join(other, 'secrets')))
  const elsewhere = run(['token', 'inspect', '--data-dir', other, '--secrets', `1:${randomBytes(32).toString('base64')}`, url])
  t.equal(elsewhere.status, 1, 'another secret does not verify it')
  t.match(JSON.parse(elsewhere.stdout), { verifies: false, reason: 'CT_ERR_TOKEN_SIGNATURE', unverified: { kid: 1 } })
  const refused = run(['token', 'create', '--data-dir', dir, '--project', 'demo', '--url', 'javascript:alert(1)'])
  t.equal(refused.status, 1)
  t.match(refused.stderr, /CT_ERR_URL_SCHEME/)
})

t.test('serve prints a working example URL, and SIGTERM stops it with exit 0', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'clicktrail-cli-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const init = run(['init', '--data-dir', dir, '--sid', 'demo'])
  t.equal(init.status, 0, init.stderr)
  t.match(init.stdout, /API token\s+ct_[a-z0-9]{8}_\S+/, 'init prints the API token')
  t.match(init.stdout, /curl -s -X PATCH http:\/\/127\.0\.0\.1:8081\/v1\/routes\/[0-9a-f-]{36}/, 'and a ready-to-paste curl')
  t.match(run(['init', '--if-empty', '--data-dir', dir]).stdout, /already has a team/, '--if-empty leaves an initialised data dir alone')
  const adminPort = String(await freePort())
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--api-port', '0', '--admin-port', adminPort, '--data-dir', dir, '--log-level', 'silent'], { env })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => { resolve(code) }))
  t.teardown(() => { child.kill('SIGKILL') })
  const deadline = Date.now() + 60_000
  while (!/try it:/.test(out) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
  const port = Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1])
  const example = /example tracked URL: (\S+)/.exec(out)?.[1] ?? ''
  t.ok(port > 0, 'prints where it listens')
  const u = new URL(example)
  const r = await request(port, { path: u.pathname, host: u.host })
  t.equal(r.status, 302, 'the example URL redirects')
  t.equal(r.headers.location, 'https://example.com/?utm_source=clicktrail')
  t.equal(u.host, 'pdemo.t.localhost:8080', 'on the initialised project\'s host')
  // The server holds the embedded store: these go through its admin listener.
  const admin = ['--data-dir', dir, '--admin-port', adminPort]
  const minted = run(['token', 'create', ...admin, '--project', 'demo', '--url', 'https://example.com/x'])
  t.equal(minted.status, 0, `token create asks the running server whether the project exists (${minted.stderr})`)
  t.match(minted.stdout, /^http:\/\/pdemo\.t\.localhost:8080\/c\//)
  const missing = run(['token', 'create', ...admin, '--project', 'nosuch', '--url', 'https://example.com/x'])
  t.equal(missing.status, 1)
  t.match(missing.stderr, /CT_ERR_PROJECT_NOT_FOUND/)
  const counted = run(['sql', ...admin, '--format', 'TabSeparated', '--param', 'sid=demo', 'SELECT count() FROM click_observations WHERE sid = {sid:String}'])
  t.same([counted.status, counted.stderr], [0, ''], 'sql with a --param')
  t.match(counted.stdout, /^\d+\n$/)
  const refused = run(['sql', ...admin, 'SELECT url, secret FROM webhooks FINAL'])
  t.equal(refused.status, 1)
  t.match(refused.stderr, /^clicktrail: CT_ERR_SQL_REFUSED: table webhooks/)
  t.equal(run(['sql', ...admin, '--param', 'novalue', 'SELECT 1']).status, 2, '--param without = is a usage error')
  // Every ready-made query runs as shipped, from its file, with its placeholders filled.
  const queries = join(import.meta.dirname, '..', 'sql', 'queries')
  const files = readdirSync(queries).filter(f => f.endsWith('.sql'))
  t.ok(files.length >= 8, 'the ready-made queries are there')
  const params = ['--param', 'sid=demo', '--param', 'key=campaign', '--param', 'message_id=f47ac10b-58cc-4372-a567-0e02b2c3d479']
  for (const f of files) {
    const r = run(['sql', ...admin, '--format', 'TabSeparatedWithNames', '--file', join(queries, f), ...params])
    t.same([r.status, r.stderr], [0, ''], `sql --file sql/queries/${f}`)
    t.match(r.stdout, /^\S.*\n/, `${f} answers its column names`)
  }
  // The same text inline: its leading `--` comment is the query's, not an option.
  const inline = run(['sql', ...admin, '--param', 'sid=demo', readFileSync(join(queries, 'human_vs_machine.sql'), 'utf8')])
  t.same([inline.status, inline.stderr], [0, ''], 'an inline query that starts with a -- comment')
  t.equal(run(['sql', ...admin, '--file', join(queries, 'nosuch.sql')]).status, 2, 'an unreadable --file is a usage error')
  t.equal(run(['sql', ...admin, '--file', join(queries, files[0]), 'SELECT 1']).status, 2, '--file and an inline query together are a usage error')
  child.kill('SIGTERM')
  t.equal(await exited, 0, 'graceful exit 0')
})

t.test('refuses to start on the pure-JS uWS fallback', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'clicktrail-cli-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const r = run(['serve', '--port', '0', '--api-port', '0', '--admin-port', '0', '--data-dir', dir], { UWS_USE_FALLBACK: '1' })
  t.equal(r.status, 1)
  t.match(r.stderr, /CT_ERR_UWS_NATIVE/)
})

// Issue 10, rule 4: ports, the data directory and the secrets, through real processes.

interface Served { port: number, apiPort: number, adminPort: number, example: string, exited: Promise<number | null>, stop: () => Promise<number | null> }

/**
 * `serve` in the background; resolves once it answers (its ports read from its output).
 * `fixedPorts`: on free ports chosen here, as an operator's fixed ports would be (uWS binds
 * those with SO_REUSEPORT, which is what let a second server share them).
 */
async function serveIn (t: Test, dir: string, fixedPorts = false): Promise<Served> {
  const ports = fixedPorts ? [await freePort(), await freePort(), await freePort()] : [0, 0, 0]
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(ports[0]), '--api-port', String(ports[1]), '--admin-port', String(ports[2]), '--data-dir', dir, '--log-level', 'info'], { env })
  let out = ''
  let err = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr.on('data', (c: Buffer) => { err += c.toString() })
  const exited = new Promise<number | null>(resolve => child.on('exit', code => { resolve(code) }))
  t.teardown(() => { child.kill('SIGKILL') })
  const deadline = Date.now() + 60_000
  while (!(/try it:|no project yet/.test(out) && /"msg":"admin listener/.test(err))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve did not start: ${err}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return {
    port: Number(/listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]),
    apiPort: Number(/Team API on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1]),
    adminPort: Number(/"port":(\d+),"msg":"admin listener/.exec(err)?.[1]),
    example: /example tracked URL: (\S+)/.exec(out)?.[1] ?? '',
    exited,
    stop: async () => { child.kill('SIGTERM'); return await exited }
  }
}

t.test('init --json: one JSON object a script can read, and the token, project and routes in it are the served ones', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'clicktrail-cli-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const init = run(['init', '--json', '--data-dir', dir, '--sid', 'jsoned', '--team', 'Scripts', '--project', 'Receipts'])
  t.equal(init.status, 0, init.stderr)
  const b = JSON.parse(init.stdout) as { created: boolean, team: { id: string, name: string }, api_token: string, api_url: string, lettermint_base_url: string, project: { id: string, sid: string, name: string, tracking_host: string }, routes: Array<{ id: string, name: string, slug: string, route_type: string, track_clicks: boolean }> }
  t.match(b, { created: true, team: { id: /^[0-9a-f-]{36}$/, name: 'Scripts' }, api_token: /^ct_[a-z0-9]{8}_\S+$/, api_url: 'http://127.0.0.1:8081/v1', lettermint_base_url: 'http://127.0.0.1:8081/lettermint/v1', project: { id: /^[0-9a-f-]{36}$/, sid: 'jsoned', name: 'Receipts', tracking_host: 'pjsoned.t.localhost:8080' } })
  t.same(b.routes.map(r => [r.name, r.slug, r.route_type, r.track_clicks]), [['Transactional', 'transactional', 'transactional', true], ['Broadcast', 'broadcast', 'broadcast', true]])
  t.same(JSON.parse(run(['init', '--json', '--if-empty', '--data-dir', dir]).stdout), { created: false }, '--if-empty --json: still JSON')
  const served = await serveIn(t, dir)
  const r = await fetch(`http://127.0.0.1:${served.apiPort}/v1/projects/${b.project.id}/routes`, { headers: { authorization: `Bearer ${b.api_token}` } })
  t.equal(r.status, 200, 'the printed token is a working Team API token')
  const routes = await r.json() as { data: Array<{ id: string }> }
  t.same(routes.data.map(x => x.id), b.routes.map(x => x.id), 'of that project, with those routes')
  t.equal(await served.stop(), 0)
})

/** Exit 1 and exactly one line on stderr, `clicktrail: CODE: …`, with no stack trace. */
function failsInOneLine (t: Test, r: { status: number | null, stderr: string }, code: string, what: string): void {
  t.equal(r.status, 1, `${what}: exit 1`)
  const lines = r.stderr.trim().split('\n')
  t.equal(lines.length, 1, `${what}: one line (${r.stderr.trim().slice(0, 600)})`)
  t.match(lines[0], new RegExp(`^clicktrail: ${code}: `), `${what}: ${code}`)
  t.notMatch(r.stderr, /^\s+at /m, `${what}: no stack trace`)
}

async function redirects (url: string, port: number): Promise<number> {
  const u = new URL(url)
  return (await request(port, { path: u.pathname, host: u.host })).status
}

t.test('a port or a data dir already in use: the second serve exits 1 with one line, the first keeps all the traffic', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'clicktrail-cli-'))
  const other = mkdtempSync(join(tmpdir(), 'clicktrail-cli-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }); rmSync(other, { recursive: true, force: true }) })
  // `make run` on an empty dir: init --if-empty makes the secret, serve uses it.
  const init = run(['init', '--if-empty', '--data-dir', dir, '--sid', 'ports'])
  t.equal(init.status, 0, init.stderr)
  t.ok(existsSync(join(dir, 'secrets')), 'a fresh empty data dir gets a generated secret')
  const first = await serveIn(t, dir, true)
  t.equal(await redirects(first.example, first.port), 302)
  t.ok(isLocked(dir), 'the data dir is locked while serving')

  const free = ['--port', '0', '--api-port', '0', '--admin-port', '0']
  for (const [flag, port, name] of [['--port', first.port, 'redirect server'], ['--api-port', first.apiPort, 'Team API'], ['--admin-port', first.adminPort, 'admin listener']] as const) {
    const args = [...free]
    args[args.indexOf(flag) + 1] = String(port)
    // Clicks keep arriving at the first server while the second starts: a second server
    // that shared the port (another data dir, no such project) would answer some with 404.
    const second = spawn(process.execPath, [CLI, 'serve', '--data-dir', other, ...args, '--log-level', 'warn'], { env })
    let stderr = ''
    second.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    const exited = new Promise<number | null>(resolve => second.on('exit', code => { resolve(code) }))
    t.teardown(() => { second.kill('SIGKILL') })
    const statuses: number[] = []
    const deadline = Date.now() + 20_000
    while (second.exitCode === null && second.signalCode === null && Date.now() < deadline) {
      statuses.push(...await Promise.all(Array.from({ length: 10 }, async () => await redirects(first.example, first.port))))
    }
    second.kill('SIGKILL')
    const status = await exited
    statuses.push(...await Promise.all(Array.from({ length: 20 }, async () => await redirects(first.example, first.port))))
    failsInOneLine(t, { status, stderr }, 'CT_ERR_LISTEN', `${name} port taken`)
    t.match(stderr, new RegExp(`${name} cannot listen on 127\\.0\\.0\\.1:${port}: another process is listening on it`))
    t.equal(statuses.filter(x => x !== 302).length, 0, `${name}: all ${statuses.length} clicks meanwhile answered 302 by the first server`)
  }
  t.notOk(existsSync(join(other, 'secrets')), 'the refused server made nothing in its data dir')
  t.notOk(isLocked(other), 'and left no lock')

  failsInOneLine(t, run(['serve', '--data-dir', dir, ...free, '--log-level', 'warn']), 'CT_ERR_DATA_DIR_LOCKED', 'second serve on the same data dir')
  failsInOneLine(t, run(['init', '--data-dir', dir]), 'CT_ERR_DATA_DIR_LOCKED', 'init while serving')
  failsInOneLine(t, run(['migrate', '--data-dir', dir]), 'CT_ERR_DATA_DIR_LOCKED', 'migrate while serving')
  t.equal(await first.stop(), 0, 'the first exits 0 on SIGTERM')
  t.notOk(isLocked(dir), 'and releases the data dir')
})

t.test('the secrets file deleted while running: token create and a restart refuse; another secret under key id 1 refuses', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'clicktrail-cli-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  t.equal(run(['init', '--if-empty', '--data-dir', dir, '--sid', 'keys']).status, 0)
  const secretFile = join(dir, 'secrets')
  const original = readFileSync(secretFile, 'utf8')
  const first = await serveIn(t, dir)
  const minted = run(['token', 'create', '--data-dir', dir, '--admin-port', String(first.adminPort), '--project', 'keys', '--url', 'https://example.com/sent'])
  t.equal(minted.status, 0, minted.stderr)
  const link = minted.stdout.trim()
  t.equal(await redirects(link, first.port), 302, 'a link in a mailbox')

  rmSync(secretFile)
  failsInOneLine(t, run(['token', 'create', '--data-dir', dir, '--admin-port', String(first.adminPort), '--project', 'keys', '--url', 'https://example.com/new']), 'CT_ERR_SECRETS_MISSING', 'token create without the secrets file')
  t.notOk(existsSync(secretFile), 'token create made no new secret')
  t.equal(await redirects(link, first.port), 302, 'the running server still has its secret in memory')
  t.equal(await first.stop(), 0)

  const restart = run(['serve', '--data-dir', dir, '--port', '0', '--api-port', '0', '--admin-port', '0', '--log-level', 'warn'])
  failsInOneLine(t, restart, 'CT_ERR_SECRETS_MISSING', 'restart without the secrets file')
  t.match(restart.stderr, /node-id.*already exist/)
  t.notOk(existsSync(secretFile), 'the restart made no new secret')

  writeFileSync(secretFile, `1:${randomBytes(32).toString('base64')}\n`, { mode: 0o600 })
  const mismatch = run(['serve', '--data-dir', dir, '--port', '0', '--api-port', '0', '--admin-port', '0', '--log-level', 'warn'])
  failsInOneLine(t, mismatch, 'CT_ERR_KEY_MISMATCH', 'another secret under key id 1')
  t.match(mismatch.stderr, /key id 1: the secret configured here \(fingerprint [0-9a-f]{12}…\) is not the one recorded in ClickHouse/)
  const debug = run(['serve', '--data-dir', dir, '--port', '0', '--api-port', '0', '--admin-port', '0', '--log-level', 'debug'])
  t.equal(debug.status, 1)
  t.match(debug.stderr, /^clicktrail: CT_ERR_KEY_MISMATCH: /m)
  t.match(debug.stderr, /^\s+at /m, 'the stack at log level debug')

  writeFileSync(secretFile, original, { mode: 0o600 })
  const back = await serveIn(t, dir)
  t.equal(await redirects(link, back.port), 302, 'with the secret restored, the link sent earlier works')
  t.equal(await back.stop(), 0)
})
