import t from 'tap'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, sep } from 'node:path'
import { ClicktrailError, ERRORS, isErrorCode, type ErrorCode } from '../src/errors.js'

// One table of every code (src/errors.ts): each has a status and a default message, every
// code the source names is in it, and the one class carries the table's status.

function sources (dir: string): string[] {
  return readdirSync(dir).flatMap(f => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : []
  })
}

t.test('every code: CT_ERR_ prefixed, an HTTP status, a default message, a place', async t => {
  const codes = Object.keys(ERRORS) as ErrorCode[]
  t.ok(codes.length >= 65, `${codes.length} codes`)
  for (const c of codes) {
    t.match(c, /^CT_ERR_[A-Z0-9_]+$/)
    const e = ERRORS[c]
    t.ok(e.status >= 400 && e.status < 600, `${c} has an HTTP status`)
    t.ok(e.message.length > 5 && e.where.length > 3, `${c} says what and where`)
    const err = new ClicktrailError(c)
    t.equal(err.status, e.status)
    t.equal(err.message, e.message, 'the default message')
  }
  t.equal(ClicktrailError.detailed('CT_ERR_URL_SCHEME', 'ftp').message, `${ERRORS.CT_ERR_URL_SCHEME.message}: ftp`)
  t.equal(new ClicktrailError('CT_ERR_URL_SCHEME').status, 422)
})

t.test('every code the source names is in the table (no code lives anywhere else)', async t => {
  const root = join(import.meta.dirname, '..', 'src')
  const named = new Set<string>()
  for (const file of sources(root)) {
    for (const m of readFileSync(file, 'utf8').matchAll(/['"`](CT_ERR_[A-Z0-9_]*[A-Z0-9])['"`]/g)) named.add(m[1])
  }
  t.ok(named.size >= 60, `${named.size} codes named in src/`)
  for (const c of named) t.ok(isErrorCode(c), `${c} is in src/errors.ts`)
  t.notOk(isErrorCode('CT_ERR_NOPE'))
  // And the other way round: a code in the table that nothing raises is a documented lie.
  const used = new Set<string>()
  for (const file of sources(root)) {
    if (file.endsWith(`${sep}errors.ts`) && !file.includes(`${sep}api${sep}`)) continue
    for (const m of readFileSync(file, 'utf8').matchAll(/CT_ERR_[A-Z0-9_]*[A-Z0-9]/g)) used.add(m[0])
  }
  for (const c of Object.keys(ERRORS)) t.ok(used.has(c), `${c} is raised somewhere in src/`)
})

t.test('the Team API read codes: query parameters, cursors, ranges, exports', async t => {
  t.equal(new ClicktrailError('CT_ERR_QUERY_PARAM').status, 400, 'a malformed query parameter is the client\'s mistake')
  t.equal(new ClicktrailError('CT_ERR_CURSOR').status, 400)
  t.equal(new ClicktrailError('CT_ERR_RANGE').status, 422, 'a range too long is well-formed but refused (as Lettermint answers 422)')
  t.equal(new ClicktrailError('CT_ERR_EXPORT_BUSY').status, 429)
  const busy = new ClicktrailError('CT_ERR_EXPORT_BUSY', undefined, { headers: { 'Retry-After': '10' } })
  t.same(busy.headers, { 'Retry-After': '10' }, 'an error carries the headers of its answer')
  t.equal(new ClicktrailError('CT_ERR_RANGE').headers, undefined)
})
