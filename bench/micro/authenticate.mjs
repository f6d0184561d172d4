// Micro benchmark of ControlPlane.authenticate(): does a token whose id exists answer in
// a different time from one whose id does not? (issue 10: a known id answered ~1.3 µs
// slower, which lets anyone enumerate token ids.) Not a "measured" comment: the guard of a
// fix (src/control/plane.ts authenticate compares against a dummy hash for unknown ids).
//
//   npx tsc -p . && node bench/micro/authenticate.mjs [DIST_DIR]
//
// DIST_DIR (default: this checkout's dist/, or BENCH_DIST) lets the same bench run against
// another build, e.g. an older checkout's dist/, for a before/after comparison. Three
// cases, each timed in batches, interleaved round by round so drift hits all alike:
//   known      the right token (id known, hash matches)
//   wrong      a known id with a wrong secret (what an attacker probing ids sends)
//   unknown    a well-formed token whose id does not exist
import { randomBytes, randomUUID } from 'node:crypto'
import { envInt } from '../lib/settings.mjs'
import { controlPlane, distDir, useDist } from './lib/project.mjs'
import { emit, fmtNs, loadNow, race, raceTable, spread } from './lib/race.mjs'

if (process.argv[2] !== undefined) useDist(process.argv[2])
const loadBefore = loadNow()
const { ControlPlane, hashToken, silentLogger } = await controlPlane()
const TOKENS = envInt('BENCH_TOKENS', 1000, 1, 1_000_000)

// The plane's snapshot is filled through its own write path; the ClickHouse client is a
// stand-in that accepts the insert (nothing here is about storage).
const plane = new ControlPlane({ insert: async () => {} }, silentLogger)
const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
const id = () => Array.from(randomBytes(8), b => alphabet[b % 36]).join('')
const secret = () => randomBytes(24).toString('base64url')
const known = []
const wrong = []
const unknown = []
const team = randomUUID()
const ids = new Set()
while (ids.size < TOKENS * 2) ids.add(id())
const [mine, others] = [[...ids].slice(0, TOKENS), [...ids].slice(TOKENS)]
for (const tokenId of mine) {
  const token = `ct_${tokenId}_${secret()}`
  await plane.write('api_tokens', { token_id: tokenId, team_id: team, name: 'bench', token_hash: hashToken(token), created_at: Date.now() })
  known.push(token)
  wrong.push(`ct_${tokenId}_${secret()}`)
}
for (const tokenId of others) unknown.push(`ct_${tokenId}_${secret()}`)
for (const t of known) if (plane.authenticate(t) === undefined) throw new Error('a known token did not authenticate')
for (const t of [...wrong, ...unknown]) if (plane.authenticate(t) !== undefined) throw new Error('a bad token authenticated')

let i = 0
const at = (list) => () => plane.authenticate(list[i++ % list.length]) === undefined ? 0 : 1
const result = await race([
  { name: 'unknown id', fn: at(unknown) },
  { name: 'known id, right secret', fn: at(known) },
  { name: 'known id, wrong secret', fn: at(wrong) }
], { rounds: envInt('BENCH_MICRO_ROUNDS', 101, 1, 10_001), batchMs: 2 })
const [u, k, w] = result.variants
// Paired by round (the batches of one round ran back to back), which cancels load drift.
const paired = (a) => spread(a.samples.map((x, r) => x - u.samples[r])).median
const knownMinusUnknown = paired(k)
const wrongMinusUnknown = paired(w)
emit({
  topic: 'authenticate',
  loadBefore,
  claims: [{ where: 'issue 10 (src/control/plane.ts:333 authenticate)', words: 'an unknown id does the same work against a dummy hash, so the answer time does not tell whether an id exists' }],
  sections: [{ title: `ControlPlane.authenticate, ${TOKENS} tokens, dist ${distDir()}`, table: raceTable(result, { per: 'call' }) }],
  verdicts: [{ where: 'src/control/plane.ts:333', holds: Math.abs(wrongMinusUnknown) < 250 ? true : Math.abs(wrongMinusUnknown) < 650 ? null : false, measured: `paired by round: known − unknown ${fmtNs(knownMinusUnknown)}, wrong secret − unknown ${fmtNs(wrongMinusUnknown)} (issue 10 saw ~1.3 µs before the fix; under 250 ns counts as closed, under 650 ns as mostly closed)` }],
  data: { dist: distDir(), tokens: TOKENS, race: result, knownMinusUnknownNs: knownMinusUnknown, wrongMinusUnknownNs: wrongMinusUnknown }
})
