import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { startTestEngine } from '../helpers/engine.js'
import { SQL_DIR } from '../../src/store/migrate.js'

// Every ready-made analyst query in sql/queries runs against the real schema, the way an
// operator runs it: POST /sql on the admin listener (the analyst checker and session),
// its {name:Type} placeholders filled with ?param_name=.
t.test('sql/queries run through the admin listener against the migrated schema', async t => {
  const e = await startTestEngine(t)
  const token = readFileSync(join(e.dataDir, 'admin-token'), 'utf8').trim()
  const dir = join(SQL_DIR, 'queries')
  const files = readdirSync(dir).filter(f => f.endsWith('.sql'))
  t.ok(files.length >= 7)
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8')
    t.match(text, /^-- \S/, `${f} says what it answers on its first line`)
    const params = { sid: 'acme', message_id: randomUUID(), key: 'X-Campaign-ID' }
    const query = new URLSearchParams({ format: 'JSONEachRow' })
    for (const [k, v] of Object.entries(params)) if (text.includes(`{${k}:`)) query.append(`param_${k}`, v)
    const res = await fetch(`http://127.0.0.1:${e.admin.port}/sql?${query.toString()}`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: text })
    const body = await res.text()
    t.equal(res.status, 200, `${f} runs: ${body.slice(0, 300)}`)
    t.ok(body.split('\n').filter(Boolean).every(line => typeof JSON.parse(line) === 'object'), `${f} answers JSON rows`)
  }
})

// chdb keeps the output of a statement that failed part-way in the session and hands it
// out as the start of the next answer there (measured with chdb 3.4.0). The reader serves
// every team's delivery history: one team's failure must not become another's rows.
t.test('a failed call on a store session leaks into no later answer on it', async t => {
  const e = await startTestEngine(t)
  for (const name of ['writer', 'reader', 'analyst'] as const) {
    const c = e.store[name]
    await t.rejects(c.query({ query: "SELECT 'LEAKED'; SELECT throwIf(1)", format: 'TabSeparated' }), `${name}: the second statement fails`)
    const [failing, queued] = await Promise.allSettled([
      c.query({ query: "SELECT 'LEAKED'; SELECT throwIf(1)", format: 'TabSeparated' }),
      c.query({ query: "SELECT 'queued'", format: 'TabSeparated' })
    ])
    t.equal(failing.status, 'rejected')
    t.equal(queued.status === 'fulfilled' ? await queued.value.text() : queued.reason, 'queued\n', `${name}: a call queued behind the failure gets its own answer`)
    t.equal(await (await c.query({ query: "SELECT 'next'", format: 'TabSeparated' })).text(), 'next\n', `${name}: and so does the next one`)
    t.equal(await (await c.query({ query: 'SELECT currentDatabase()', format: 'TabSeparated' })).text(), `${e.store.database}\n`, `${name}: the new session is on the database`)
  }
  const settings = await (await e.store.analyst.query({ query: "SELECT getSetting('readonly'), getSetting('max_result_rows')", format: 'TabSeparated' })).text()
  t.equal(settings, '1\t100000\n', 'the analyst session got its limits back')
})
