// Micro benchmark of ControlPlane.authenticate(): does a token whose id exists answer in
// a different time from one whose id does not? (issue 10: a known id answered ~1.3 µs
// slower, which lets anyone enumerate token ids.)
//
//   npx tsc -p . && node bench/micro/authenticate.mjs [DIST_DIR]
//
// DIST_DIR (default: this checkout's dist/) lets the same bench run against another build,
// e.g. an older checkout's dist/, for a before/after comparison. Three cases, each timed in
// batches, interleaved round by round so drift hits all alike; medians of the per-call time:
//   known      the right token (id known, hash matches)
//   wrong      a known id with a wrong secret (what an attacker probing ids sends)
//   unknown    a well-formed token whose id does not exist
import { randomBytes, randomUUID } from 'node:crypto'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const dist = resolve(process.argv[2] ?? resolve(import.meta.dirname, '..', '..', 'dist'))
const { ControlPlane, hashToken } = await import(pathToFileURL(resolve(dist, 'control', 'plane.js')).href)
const { silentLogger } = await import(pathToFileURL(resolve(dist, 'log.js')).href)

const TOKENS = Number(process.env.BENCH_TOKENS ?? 1000)
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 401)
const BATCH = Number(process.env.BENCH_BATCH ?? 1000)

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

const cases = { known, wrong, unknown }
let sink = 0
function batch (tokens) {
  const start = process.hrtime.bigint()
  for (let i = 0; i < BATCH; i++) if (plane.authenticate(tokens[i % tokens.length]) !== undefined) sink++
  return Number(process.hrtime.bigint() - start) / BATCH
}
for (let i = 0; i < 5; i++) for (const tokens of Object.values(cases)) batch(tokens) // warm-up
const samples = { known: [], wrong: [], unknown: [] }
for (let r = 0; r < ROUNDS; r++) {
  const order = Object.keys(cases)
  if (r % 2 === 1) order.reverse()
  for (const name of order) samples[name].push(batch(cases[name]))
}
const median = xs => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] }
const out = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Math.round(median(v))]))
// Paired by round (the batches of one round ran back to back), which cancels load drift.
const paired = name => Math.round(median(samples[name].map((x, i) => x - samples.unknown[i])))
console.log(JSON.stringify({ dist, node: process.version, tokens: TOKENS, rounds: ROUNDS, batch: BATCH, medianNsPerCall: out, pairedMedianNs: { knownMinusUnknown: paired('known'), wrongMinusUnknown: paired('wrong') }, sink }))
