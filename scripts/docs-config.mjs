// Rewrites the README's configuration table from src/config.ts (run after `npx tsc -p .`).
import { readFileSync, writeFileSync } from 'node:fs'
import { configTableMarkdown } from '../dist/config.js'
const path = new URL('../README.md', import.meta.url)
const text = readFileSync(path, 'utf8')
const next = text.replace(/(<!-- config:start[^\n]*-->\n)[\s\S]*?(\n<!-- config:end -->)/, `$1${configTableMarkdown()}$2`)
writeFileSync(path, next)
console.log(next === text ? 'README configuration table already up to date' : 'README configuration table rewritten')
