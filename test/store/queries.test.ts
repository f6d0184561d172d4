import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { startTestEngine } from '../helpers/engine.js'
import { SQL_DIR } from '../../src/store/migrate.js'

// Every ready-made analyst query in sql/queries runs against the real schema.
t.test('sql/queries run against the migrated schema', async t => {
  const e = await startTestEngine(t)
  const dir = join(SQL_DIR, 'queries')
  const files = readdirSync(dir).filter(f => f.endsWith('.sql'))
  t.ok(files.length >= 7)
  for (const f of files) {
    const text = readFileSync(join(dir, f), 'utf8')
    t.match(text, /^-- \S/, `${f} says what it answers on its first line`)
    const params = { sid: 'acme', message_id: randomUUID(), key: 'X-Campaign-ID' }
    const used = Object.fromEntries(Object.entries(params).filter(([k]) => text.includes(`{${k}:`)))
    const rows = await (await e.store!.reader.query({ query: text, query_params: used, format: 'JSONEachRow' })).json()
    t.ok(Array.isArray(rows), `${f} runs`)
  }
})
