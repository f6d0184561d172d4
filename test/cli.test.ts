import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { request } from './helpers/http.js'

// The CLI is tested as users run it: the built `dist/cli.js` (`make test` builds first).
const CLI = resolve(import.meta.dirname, '..', 'dist', 'cli.js')
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`make build\` (make test does) first`)

const env = { ...process.env, CLICKTRAIL_SECRETS: '', UWS_USE_FALLBACK: '' }
function run (args: string[], extraEnv: Record<string, string> = {}): { status: number | null, stdout: string, stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...env, ...extraEnv }, timeout: 30_000 })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

/** A port nothing listens on right now (the child binds it a moment later). */
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
  const noProject = run(['token', 'create', '--data-dir', dir, '--project', 'demo', '--url', 'https://example.com/'])
  t.equal(noProject.status, 1, 'no project yet')
  t.match(noProject.stderr, /CT_ERR_PROJECT_NOT_FOUND/)
  t.equal(run(['init', '--data-dir', dir, '--sid', 'demo']).status, 0)
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
  const elsewhere = run(['token', 'inspect', '--data-dir', other, url])
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
