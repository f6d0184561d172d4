import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve } from 'node:path'
import ts from 'typescript'

const ROOT = resolve(import.meta.dirname, '..', '..')
const IMPORT = /(?:(?:import|export)\s[^'"]*?from\s+|import\()'(\.{1,2}\/[^']+)\.js'/g

/**
 * The worker entry and everything it imports, transpiled (type-strip only) to plain ES
 * modules in a temp dir. A worker thread then starts in a fraction of a second, where
 * loading the sources through the inherited TypeScript loader takes longer: the pool tests
 * run the same code the build would emit, without needing `make build` first.
 */
export function compileWorker (): { filename: string, cleanup: () => void } {
  const out = mkdtempSync(join(tmpdir(), 'clicktrail-worker-'))
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n')
  symlinkSync(join(ROOT, 'node_modules'), join(out, 'node_modules'), 'dir')
  const pending = [join(ROOT, 'src', 'pool', 'worker.ts')]
  const done = new Set<string>()
  while (pending.length > 0) {
    const file = pending.pop() as string
    if (done.has(file)) continue
    done.add(file)
    const source = readFileSync(file, 'utf8')
    const js = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 }, fileName: file }).outputText
    const target = join(out, relative(join(ROOT, 'src'), file)).replace(/\.ts$/, '.js')
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, js)
    for (const m of source.matchAll(IMPORT)) pending.push(resolve(dirname(file), m[1] + '.ts'))
  }
  return { filename: join(out, 'pool', 'worker.js'), cleanup: () => { rmSync(out, { recursive: true, force: true }) } }
}
