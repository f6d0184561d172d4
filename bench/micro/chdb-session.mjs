// src/store/chdb-session.ts (ResettingChdbConnection):
//   "Measured with chdb 3.4.0: when a statement fails part-way (a multi-statement text whose
//    second statement throws, or a SELECT that throws after some blocks), the output it had
//    produced stays in the session and is returned as the prefix of the *next* answer on
//    that session" and "Opening a session costs about 3 ms (measured: 10 open+USE+SELECT+
//    close in 28 ms)."
// Checks the first on a plain chdb session and on the project's ResettingChdbConnection
// (which must answer the next query clean), and races the cost of one session opened,
// USE, SELECT 1, closed: plain chdb against ResettingChdbConnection (current), with another
// session open on the data path (as in the engine) and with none.
import { createRequire } from 'node:module'
import { createClient } from '@clickhouse/client'
import { createChdbConnection } from 'chdb/connection'
import { tempDir } from '../lib/children.mjs'
import { mdTable } from '../lib/report.mjs'
import { store } from './lib/project.mjs'
import { emit, fmtNs, loadNow, race, raceTable } from './lib/race.mjs'

const loadBefore = loadNow()
const chdbVersion = createRequire(import.meta.url)('chdb/package.json').version
const { ResettingChdbConnection } = await store()
const path = tempDir('ct-micro-chdb-')
const plain = () => createClient({ connection: createChdbConnection({ path }) })
const resetting = () => createClient({ connection: new ResettingChdbConnection(() => createChdbConnection({ path }), [{ query: 'USE micro' }]) })
{ const c = plain(); await c.command({ query: 'CREATE DATABASE IF NOT EXISTS micro' }); await c.close() }

// 1. A failed statement's output, and the next answer on the same session.
const FAILS = {
  'multi-statement, the second throws': 'SELECT 1 AS a; SELECT throwIf(1) AS b',
  'SELECT that throws after some blocks': 'SELECT number FROM numbers(100) WHERE throwIf(number = 50) SETTINGS max_block_size = 1'
}
async function nextAnswer (client, bad) {
  let failed = false
  try { await (await client.query({ query: bad, format: 'TabSeparated' })).text() } catch { failed = true }
  const text = await (await client.query({ query: "SELECT 'next' AS x", format: 'TabSeparated' })).text()
  return { failed, text }
}
const checks = []
for (const [name, bad] of Object.entries(FAILS)) {
  const p = plain(); await p.command({ query: 'USE micro' })
  const r = resetting()
  const a = await nextAnswer(p, bad)
  const b = await nextAnswer(r, bad)
  await p.close(); await r.close()
  checks.push({ name, plain: a, resetting: b })
}
const poisoned = checks.filter(c => c.plain.text !== 'next\n').map(c => c.name)
const clean = checks.every(c => c.resetting.text === 'next\n')

// 2. Opening a session.
const once = async (make) => { const c = make(); if (make === plain) await c.command({ query: 'USE micro' }); await (await c.query({ query: 'SELECT 1', format: 'TabSeparated' })).text(); await c.close(); return 1 }
const alone = await race([
  { name: 'ResettingChdbConnection: open, USE (its init), SELECT 1, close', current: true, async: true, fn: () => once(resetting) },
  { name: 'plain chdb session: open, USE, SELECT 1, close', async: true, fn: () => once(plain) }
], { batchMs: 100, rounds: 7 })
// As in the engine, where the writer, reader and analyst sessions stay open on the path.
const holder = plain()
await (await holder.query({ query: 'SELECT 1', format: 'TabSeparated' })).text()
const result = await race([
  { name: 'ResettingChdbConnection: open, USE (its init), SELECT 1, close', current: true, async: true, fn: () => once(resetting) },
  { name: 'plain chdb session: open, USE, SELECT 1, close', async: true, fn: () => once(plain) }
], { batchMs: 100 })
await holder.close()
const [cur, raw] = result.variants.map(v => v.ns.median)
const [curAlone, rawAlone] = alone.variants.map(v => v.ns.median)
emit({
  topic: 'chdb-session',
  loadBefore,
  claims: [
    { where: 'src/store/chdb-session.ts:13', words: 'when a statement fails part-way (a multi-statement text whose second statement throws, or a SELECT that throws after some blocks), the output it had produced stays in the session and is returned as the prefix of the *next* answer on that session' },
    { where: 'src/store/chdb-session.ts:23', words: 'Opening a session costs about 3 ms (measured: 10 open+USE+SELECT+close in 28 ms)' }
  ],
  sections: [
    { title: `chdb ${chdbVersion}: the answer to \`SELECT 'next'\` right after a failed statement`, table: mdTable(['failed statement', 'plain session answers', 'ResettingChdbConnection answers'], checks.map(c => [c.name, `\`${JSON.stringify(c.plain.text)}\``, `\`${JSON.stringify(c.resetting.text)}\``]), 'lll') },
    { title: 'One session opened, used and closed, while another session stays open on the path (as in the engine)', table: raceTable(result, { per: 'session' }) },
    { title: 'The same with no other session open (7 rounds)', table: raceTable(alone, { per: 'session' }) }
  ],
  verdicts: [
    { where: 'src/store/chdb-session.ts:13', holds: poisoned.length === 2 ? true : poisoned.length === 1 ? null : false, measured: `the next answer carries the failed statement's output after: ${poisoned.length ? poisoned.join('; ') : 'neither'}; ResettingChdbConnection answers clean: ${clean}` },
    { where: 'src/store/chdb-session.ts:23', holds: raw <= 6e6 ? true : raw <= 12e6 ? null : false, measured: `open+USE+SELECT+close beside an open session ${fmtNs(raw)} plain, ${fmtNs(cur)} through ResettingChdbConnection; with no other session ${fmtNs(rawAlone)} / ${fmtNs(curAlone)} (claim ~2.8 ms: 10 in 28 ms)` }
  ],
  data: { chdbVersion, checks, race: result, raceAlone: alone }
})
