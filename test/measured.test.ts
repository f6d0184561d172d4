import t from 'tap'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'

// Every comment in src/ that says a choice was measured names the micro benchmark that
// measures it (bench/micro/<name>.mjs, issue 11), and that file exists: a claim nobody can
// re-run is an opinion.

const ROOT = resolve(import.meta.dirname, '..')

function files (dir: string): string[] {
  return readdirSync(dir).flatMap(f => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : []
  })
}

t.test('each "measured" in src/ cites an existing bench/micro file within its comment', async t => {
  let claims = 0
  for (const file of files(join(ROOT, 'src'))) {
    const lines = readFileSync(file, 'utf8').split('\n')
    lines.forEach((line, i) => {
      if (!/measured/i.test(line)) return
      claims++
      // The comment around the word: up to three lines before and after.
      const around = lines.slice(Math.max(0, i - 3), i + 4).join('\n')
      const cited = [...around.matchAll(/bench\/micro\/([a-z0-9-]+)\.mjs/g)].map(m => m[1])
      const where = `${relative(ROOT, file)}:${i + 1}`
      t.ok(cited.length > 0, `${where} names its bench/micro file`)
      for (const name of cited) t.ok(existsSync(join(ROOT, 'bench', 'micro', `${name}.mjs`)), `${where}: bench/micro/${name}.mjs exists`)
    })
  }
  t.ok(claims >= 15, `${claims} measured claims found`)
})
