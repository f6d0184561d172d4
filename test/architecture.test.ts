import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'

// The dependency rules of DESIGN.md and issue 11, read from the imports themselves: a room
// that reaches where it must not fails here, before a reader has to notice.

const SRC = resolve(import.meta.dirname, '..', 'src')

function files (dir: string): string[] {
  return readdirSync(dir).flatMap(f => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : []
  })
}

/** `src/`-relative module → the `src/`-relative modules it imports (ours only). */
const graph = new Map<string, string[]>()
for (const file of files(SRC)) {
  const text = readFileSync(file, 'utf8')
  const deps: string[] = []
  // `import … from '…'`, `export … from '…'`, a bare `import '…'`, and `import('…')`.
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"](\.{1,2}\/[^'"]+)['"]|(?:^|\n)\s*import\s+['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)/g)) {
    const spec = m[1] ?? m[2] ?? m[3]
    deps.push(relative(SRC, resolve(dirname(file), spec)).replace(/\.js$/, '.ts'))
  }
  graph.set(relative(SRC, file), deps)
}

/** The room of a module: its top folder, or the file itself at the top. */
const room = (mod: string): string => mod.includes('/') ? mod.slice(0, mod.indexOf('/')) : mod

function importsOf (prefix: string): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (const [mod, deps] of graph) if (mod.startsWith(prefix)) for (const d of deps) out.push([mod, d])
  return out
}

t.test('the source was read', async t => {
  t.ok(graph.size > 60, `${graph.size} modules`)
  t.ok((graph.get('engine/index.ts') ?? []).length > 20, 'the composition root imports the stages')
})

t.test('records.ts and errors.ts are leaves; token/ imports nothing of ours but errors.ts', async t => {
  t.same(graph.get('records.ts'), [], 'records.ts')
  t.same(graph.get('errors.ts'), [], 'errors.ts')
  for (const [mod, d] of importsOf('token/')) t.ok(d.startsWith('token/') || d === 'errors.ts', `${mod} → ${d}`)
})

t.test('classify/ is pure: no I/O, nothing of storage, redirect, API, promotion', async t => {
  for (const [mod, d] of importsOf('classify/')) t.ok(d.startsWith('classify/') || d === 'records.ts' || d === 'errors.ts', `${mod} → ${d}`)
  for (const file of files(join(SRC, 'classify'))) {
    t.notMatch(readFileSync(file, 'utf8'), /from 'node:(fs|net|http|https|dns|child_process|worker_threads)/, `${relative(SRC, file)} does no I/O`)
  }
})

t.test('redirect/ imports nothing of storage, the API, classification, promotion or webhooks; only the engine and control/hosts import it', async t => {
  const forbidden = new Set(['store', 'api', 'classify', 'webhooks', 'promote', 'ingest', 'admin', 'rewrite', 'pool', 'messages', 'control', 'engine'])
  for (const [mod, d] of importsOf('redirect/')) t.notOk(forbidden.has(room(d)), `${mod} → ${d}`)
  for (const [mod, deps] of graph) {
    if (mod.startsWith('redirect/') || mod.startsWith('engine/') || mod === 'control/hosts.ts') continue
    for (const d of deps) t.notOk(d.startsWith('redirect/'), `${mod} → ${d}`)
  }
})

t.test('nothing imports the API, the command line or the composition root but the entry points', async t => {
  const entry = new Set(['cli.ts', 'docs.ts'])
  for (const [mod, deps] of graph) {
    for (const d of deps) {
      if (d === 'cli.ts') t.fail(`${mod} imports cli.ts`)
      if (d.startsWith('engine/') && !mod.startsWith('engine/') && !entry.has(mod)) t.fail(`${mod} imports the composition root (${d})`)
      if (d.startsWith('api/') && !mod.startsWith('api/') && !mod.startsWith('engine/')) t.fail(`${mod} imports the API (${d})`)
    }
  }
  t.pass('checked')
})

t.test('stages reach each other only through records.ts: ingest and promotion do not import their neighbours', async t => {
  for (const [mod, d] of importsOf('ingest/')) t.notOk(['promote', 'webhooks', 'redirect'].includes(room(d)), `${mod} → ${d}`)
  for (const [mod, d] of importsOf('promote/')) t.notOk(['ingest', 'webhooks', 'redirect'].includes(room(d)), `${mod} → ${d}`)
  for (const [mod, d] of importsOf('webhooks/')) t.notOk(['ingest', 'promote', 'redirect'].includes(room(d)), `${mod} → ${d}`)
})

t.test('every SQL statement is sent from store/', async t => {
  for (const file of files(SRC)) {
    const mod = relative(SRC, file)
    if (mod.startsWith('store/')) continue
    const text = readFileSync(file, 'utf8')
    t.notMatch(text, /\.(query|insert|exec|command)\(\{/, `${mod} sends no query itself`)
  }
})
