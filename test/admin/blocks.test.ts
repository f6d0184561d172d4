import t from 'tap'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { startTestEngine, SECRET_1, type TestEngine } from '../helpers/engine.js'
import { request } from '../helpers/http.js'
import { api } from '../helpers/api.js'
import { ControlPlane } from '../../src/control/plane.js'
import { silentLogger } from '../../src/log.js'
import { until } from '../helpers/wait.js'

// The operator's kill switch (issue 10, abuse control), through the real admin listener, the
// real redirect server, ingest, promotion and the embedded ClickHouse.

const CLI = resolve(import.meta.dirname, '..', '..', 'dist', 'cli.js')

async function follow (e: TestEngine, url: string, method = 'GET'): Promise<{ status: number, body: string, location?: string }> {
  const u = new URL(url)
  const r = await request(e.port, { method, path: u.pathname, host: u.host, headers: { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0', referer: 'https://mail.example/inbox?secret=1' } })
  return { status: r.status, body: r.body, location: r.headers.location as string | undefined }
}

t.test('blocking a destination or a project stops links already sent, on every node; clicks are kept and marked', async t => {
  const e = await startTestEngine(t, { 'promotion-window-ms': '300', 'batch-max-ms': '50' })
  const admin = e.admin.port
  const token = readFileSync(join(e.dataDir, 'admin-token'), 'utf8').trim()
  const phish = e.track('acme', 'https://login.evil.example/account?next=%2Fhome', 0)
  const fine = e.track('acme', 'https://shop.example/spring', 1)
  t.equal((await follow(e, phish)).status, 302, 'before: the link redirects')

  // A second node's snapshot, on the same ClickHouse, refreshing as often as the engine's.
  const other = new ControlPlane(e.store.writer, silentLogger, 100)
  await other.start()
  t.teardown(async () => { await other.stop() })

  t.equal((await api(admin, 'POST', '/blocks', undefined, { kind: 'host', value: 'evil.example' })).status, 401, 'the admin token is required')
  t.match((await api(admin, 'POST', '/blocks', token, { kind: 'domain', value: 'x' })).body, { error: { code: 'CT_ERR_VALIDATION' } })
  t.match((await api(admin, 'POST', '/blocks', token, { kind: 'url', value: 'javascript:alert(1)' })).body, { error: { code: 'CT_ERR_VALIDATION' } })
  t.match((await api(admin, 'POST', '/blocks', token, { kind: 'project', value: 'nosuch' })).body, { error: { code: 'CT_ERR_NOT_FOUND' } })
  t.match((await api(admin, 'POST', '/blocks', token, '{"kind":')).body, { error: { code: 'CT_ERR_BAD_JSON' } })

  const added = await api(admin, 'POST', '/blocks', token, { kind: 'host', value: 'Evil.Example', reason: 'phishing report 4711' })
  t.equal(added.status, 201)
  t.match(added.body, { kind: 'host', value: 'evil.example', reason: 'phishing report 4711' })
  const blocked = await follow(e, phish)
  t.equal(blocked.status, 403, 'a subdomain of a blocked host answers the warning page')
  t.equal(blocked.location, undefined, 'no redirect')
  t.match(blocked.body, /This link has been disabled/)
  for (const echo of ['evil', 'account', 'mail.example', 'secret', 'Firefox', new URL(phish).pathname.slice(3, 20)]) t.notOk(blocked.body.includes(echo), `nothing echoed (${echo})`)
  const head = await follow(e, phish, 'HEAD')
  t.equal(head.status, 403)
  t.equal(head.body, '', 'HEAD gets no body')
  t.equal((await follow(e, fine)).status, 302, 'other destinations still redirect')
  await until('the other node', () => other.blockMatcher.match('acme', 'https://login.evil.example/account') !== undefined, 5000)
  t.pass('the other node applies the block within its refresh interval')

  // The clicks on the blocked link are kept, marked, and never promoted or sent.
  await until('stored', async () => {
    const [r] = await (await e.store.reader.query({ query: 'SELECT countIf(blocked) AS b, countIf(NOT blocked) AS n FROM click_observations', format: 'JSONEachRow' })).json<{ b: string, n: string }>()
    return Number(r.b) === 2 && Number(r.n) === 2
  })
  await until('promoted', () => e.promoter.stats.promoted >= 2)
  const clicks = await (await e.store.reader.query({ query: 'SELECT destination_url FROM clicks ORDER BY ts', format: 'JSONEachRow' })).json<{ destination_url: string }>()
  t.same(clicks.map(c => c.destination_url), ['https://login.evil.example/account?next=%2Fhome', 'https://shop.example/spring'], 'only the clicks from before the block and the fine link are clicks')
  t.equal(e.promoter.stats.blocked, 2, 'the two blocked ones were not promoted')
  t.match(await e.metrics.metrics(), /clicktrail_blocked_total 2/)

  // A whole project; and removing blocks.
  const project = await api(admin, 'POST', '/blocks', token, { kind: 'project', value: 'acme', reason: 'account compromised' })
  t.equal(project.status, 201)
  t.equal((await follow(e, fine)).status, 403, 'every link of a blocked project')
  const list = await api(admin, 'GET', '/blocks', token)
  t.equal(list.body.data.length, 2)
  for (const b of list.body.data as Array<{ block_id: string }>) t.equal((await api(admin, 'DELETE', `/blocks/${b.block_id}`, token)).status, 200)
  t.equal((await api(admin, 'DELETE', `/blocks/${added.body.block_id as string}`, token)).status, 404, 'already gone')
  t.equal((await follow(e, phish)).status, 302, 'unblocked: it redirects again')
  t.equal((await follow(e, fine)).status, 302)

  // The command line, through the same admin listener (run asynchronously: this process serves it).
  const cli = async (...args: string[]): Promise<{ status: number, stdout: string, stderr: string }> => await new Promise(resolve => {
    execFile(process.execPath, [CLI, 'block', ...args, '--admin-port', String(admin), '--data-dir', e.dataDir], { encoding: 'utf8', env: { ...process.env, CLICKTRAIL_SECRETS: SECRET_1 } }, (err, stdout, stderr) => {
      resolve({ status: err === null ? 0 : Number((err as { code?: number }).code ?? 1), stdout, stderr })
    })
  })
  const add = await cli('add', '--prefix', 'https://shop.example/spring', '--reason', 'test')
  t.equal(add.status, 0, add.stderr)
  await until('the prefix block', async () => (await follow(e, fine)).status === 403, 5000)
  t.pass('a prefix block from the command line')
  const listed = JSON.parse((await cli('list')).stdout) as { data: Array<{ block_id: string, kind: string }> }
  t.equal(listed.data[0].kind, 'prefix')
  t.equal((await cli('remove', listed.data[0].block_id)).status, 0)
  const bad = await cli('add', '--url', 'x', '--host', 'y')
  t.equal(bad.status, 2, 'one kind at a time')
})
