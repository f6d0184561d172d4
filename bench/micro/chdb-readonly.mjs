// src/store/client.ts (ANALYST_SESSION): "Embedded: readonly=1 comes last and locks the
// session: no SET or SETTINGS clause can lift the limits afterwards, and the file, url and
// remote table functions are refused (measured), whatever the SQL checker lets through.
// INTO OUTFILE, USE and the file() function do work under readonly=1: those only the
// checker keeps out."
// A check, not a race: each statement straight on the analyst session the engine opens
// (openStore, in a temp data dir; the admin listener's SQL checker is bypassed on purpose),
// and whether it was refused. Network table functions point at 127.0.0.1:1 only.
import { writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'
import { mdTable } from '../lib/report.mjs'
import { killAll } from '../lib/children.mjs'
import { openTempStore } from './lib/store.mjs'
import { emit, loadNow } from './lib/race.mjs'

const loadBefore = loadNow()
const { store, dataDir } = await openTempStore()
const secret = join(dataDir, 'secret.txt')
writeFileSync(secret, 'not for analysts\n')
const outfile = join(dataDir, 'out.tsv')
const CASES = [
  // [what, sql, refused as the comment says?]
  ['SET lifts a limit', 'SET max_result_rows = 0', true],
  ['a SETTINGS clause lifts a limit', 'SELECT count() FROM numbers(10) SETTINGS max_result_rows = 0', true],
  ['readonly lifted by SET', 'SET readonly = 0', true],
  ['a result past max_result_rows', 'SELECT number FROM numbers(200000)', true],
  ['the file table function', `SELECT * FROM file('${secret}', 'LineAsString')`, true],
  ['the url table function', "SELECT * FROM url('http://127.0.0.1:1/x', 'LineAsString')", true],
  ['the remote table function', "SELECT * FROM remote('127.0.0.1:1', system.one)", true],
  ['INTO OUTFILE', `SELECT 1 INTO OUTFILE '${outfile}'`, false],
  ['the file() function', `SELECT file('${secret}')`, false],
  ['USE', 'USE system', false]
]
const rows = []
const results = []
try {
  for (const [what, sql, shouldRefuse] of CASES) {
    let refused = false
    let detail = ''
    try {
      if (/^(SET|USE) /.test(sql)) {
        await store.analyst.command({ query: sql }) // no FORMAT clause on these
      } else {
        const r = await store.analyst.query({ query: sql, format: 'TabSeparated' })
        detail = (await r.text()).trim().slice(0, 60)
      }
    } catch (err) {
      refused = true
      detail = /Code: (\d+)/.exec(err.message)?.[0] ?? err.message.slice(0, 60)
    }
    if (what === 'INTO OUTFILE') detail += existsSync(outfile) ? ' (file written)' : ' (no file)'
    if (what === 'USE' && !refused) await store.analyst.command({ query: `USE ${store.database}` }).catch(() => {})
    results.push({ what, sql, refused, expected: shouldRefuse, detail })
    rows.push([what, `\`${sql.replace(dataDir, '<data-dir>')}\``, refused ? 'refused' : 'runs', shouldRefuse ? 'refused' : 'runs', refused === shouldRefuse ? 'as said' : '**differs**', detail.replace(dataDir, '<data-dir>')])
  }
} finally {
  await store.close()
  killAll()
}
const differs = results.filter(r => r.refused !== r.expected)
emit({
  topic: 'chdb-readonly',
  loadBefore,
  claims: [{ where: 'src/store/client.ts:63', words: 'readonly=1 comes last and locks the session: no SET or SETTINGS clause can lift the limits afterwards, and the file, url and remote table functions are refused (measured) … INTO OUTFILE, USE and the file() function do work under readonly=1' }],
  sections: [{ title: 'Statements on the embedded analyst session', table: mdTable(['what', 'statement', 'here', 'the comment says', '', 'answer'], rows, 'llllll') }],
  verdicts: [{ where: 'src/store/client.ts:63', holds: differs.length === 0, measured: differs.length === 0 ? `all ${results.length} statements behave as the comment says` : `differs for: ${differs.map(d => `${d.what} (${d.refused ? 'refused' : 'runs'})`).join(', ')}` }],
  data: { results }
})
