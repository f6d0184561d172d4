// src/control/plane.ts (authenticate): "(hex then decoded: measured faster on Node 20 than
// digest() to a Buffer)". Races what authenticate does with a presented Team API token
// (hashToken's SHA-256 hex, decoded back to bytes for timingSafeEqual) against digest() to
// a Buffer directly, on tokens of the real shape `ct_<id>_<secret>`.
import { createHash, randomBytes } from 'node:crypto'
import { controlPlane } from './lib/project.mjs'
import { compare, emit, fmtNs, loadNow, race, raceTable } from './lib/race.mjs'

const loadBefore = loadNow()
const { hashToken } = await controlPlane()
const tokens = Array.from({ length: 64 }, () => `ct_${randomBytes(4).toString('hex')}_${randomBytes(24).toString('base64url')}`)
if (!Buffer.from(hashToken(tokens[0]), 'hex').equals(createHash('sha256').update(tokens[0]).digest())) throw new Error('the two forms differ')

let i = 0
const result = await race([
  { name: 'hashToken hex, then Buffer.from(hex) (plane.ts)', current: true, fn: () => Buffer.from(hashToken(tokens[i++ & 63]), 'hex').length },
  { name: 'createHash().update().digest() to a Buffer', fn: () => createHash('sha256').update(tokens[i++ & 63]).digest().length }
])
const [hex, buf] = result.variants.map(v => v.ns.median)
const c = compare(result.variants[0], result.variants[1])
emit({
  topic: 'token-hash',
  loadBefore,
  claims: [{ where: 'src/control/plane.ts:343', words: 'hex then decoded: measured faster on Node 20 than digest() to a Buffer' }],
  sections: [{ title: 'SHA-256 of one Team API token, as bytes to compare', table: raceTable(result, { per: 'token' }) }],
  verdicts: [{ where: 'src/control/plane.ts:343', holds: c === 'faster' ? true : c === 'slower' ? false : null, measured: `hex then decoded ${fmtNs(hex)}, digest() to a Buffer ${fmtNs(buf)} (${(buf / hex).toFixed(2)}×)${c === 'tie' ? ': the spreads overlap, no difference shows here' : ''}` }],
  data: { race: result }
})
