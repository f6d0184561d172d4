import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startTestEngine } from '../helpers/engine.js'

// The admin listener of the real engine (embedded ClickHouse): analyst SQL, read-only.
t.test('admin SQL: authenticated, read-only, one statement, bounded', async t => {
  const e = await startTestEngine(t)
  const token = readFileSync(join(e.dataDir, 'admin-token'), 'utf8').trim()
  const post = async (body: string, auth = `Bearer ${token}`, format = 'TabSeparated'): Promise<{ status: number, text: string }> => {
    const res = await fetch(`http://127.0.0.1:${e.admin!.port}/sql?format=${format}`, { method: 'POST', headers: { authorization: auth }, body })
    return { status: res.status, text: await res.text() }
  }
  const ok = await post('SELECT count() FROM projects FINAL WHERE sid = \'acme\'')
  t.same(ok, { status: 200, text: '1\n' })
  t.equal((await post('SELECT 1', 'Bearer wrong')).status, 401)
  t.equal((await post('SELECT 1', '')).status, 401)
  const write = await post('DROP TABLE click_observations')
  t.equal(write.status, 400)
  t.match(JSON.parse(write.text), { error: { code: 'CT_ERR_SQL_FAILED' } })
  const two = await post('SELECT 1; DROP TABLE clicks')
  t.match(JSON.parse(two.text), { error: { code: 'CT_ERR_SQL_REFUSED' } }, 'one statement at a time')
  t.equal((await post("SELECT ';' AS semicolon;")).status, 200, 'a ; inside a string and a trailing ; are fine')
  const big = await post(`SELECT '${'x'.repeat(70 * 1024)}'`)
  t.equal(big.status, 413)
  t.match(JSON.parse(big.text), { error: { code: 'CT_ERR_SQL_REFUSED' } })
  t.equal((await post('SELECT 1', `Bearer ${token}`, 'Nonsense')).status, 400, 'unknown format')
  t.equal((await post('SELECT count() FROM click_observations')).status, 200, 'tables are still there')
})
