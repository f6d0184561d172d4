import t from 'tap'
import { readFileSync } from 'node:fs'
import { generatedDocs } from '../src/docs.js'

// The reference tables of docs/ are generated from the code (option table, error table, reason
// codes, a real engine's /metrics); a change to any of them without `npm run docs` fails here.
t.test('docs/ holds what the code generates', async t => {
  const docs = await generatedDocs()
  t.same(Object.keys(docs).sort(), ['configuration.md', 'errors.md', 'metrics.md', 'reason-codes.md'])
  for (const [name, text] of Object.entries(docs)) {
    const committed = readFileSync(new URL(`../docs/${name}`, import.meta.url), 'utf8')
    t.equal(committed, text, `docs/${name} is stale: run \`npm run docs\``)
  }
  t.match(docs['metrics.md'], /clicktrail_redirects_total/, 'the metrics table comes from a running engine')
  t.match(docs['errors.md'], /CT_ERR_TOKEN_INVALID|CT_ERR_/, 'the error table lists codes')
})

t.test('the README links every reference page', async t => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  for (const name of ['configuration.md', 'errors.md', 'metrics.md', 'reason-codes.md']) t.match(readme, `docs/${name}`, name)
})
