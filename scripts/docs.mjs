// Writes docs/configuration.md, docs/errors.md, docs/reason-codes.md and docs/metrics.md from
// the code's own tables (run after `npx tsc -p .`; `npm run docs`). test/docs.test.ts checks
// that the committed files are what this generates.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { generatedDocs } from '../dist/docs.js'

const dir = new URL('../docs/', import.meta.url)
mkdirSync(dir, { recursive: true })
for (const [name, text] of Object.entries(await generatedDocs())) {
  const path = new URL(name, dir)
  let old = ''
  try { old = readFileSync(path, 'utf8') } catch {}
  writeFileSync(path, text)
  console.log(`docs/${name} ${old === text ? 'up to date' : 'rewritten'}`)
}
