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
    const res = await fetch(`http://127.0.0.1:${e.admin!.port}/sql?${query.toString()}`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: text })
    const body = await res.text()
    t.equal(res.status, 200, `${f} runs: ${body.slice(0, 300)}`)
    t.ok(body.split('\n').filter(Boolean).every(line => typeof JSON.parse(line) === 'object'), `${f} answers JSON rows`)
  }
})
