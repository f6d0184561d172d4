// src/token/keys.ts (KeyRing): "Bounded: one entry per (key id, project) pair seen;
// deriving again costs ~5 µs." Races KeyRing.key() on a cached project key (the current
// path of every verify) against the same call when the key must be derived again (a ring
// whose cache holds one key, asked for two projects in turn: every call is an HKDF).
import { hkdfSync, randomBytes } from 'node:crypto'
import { tokens } from './lib/project.mjs'
import { emit, fmtNs, loadNow, race, raceTable } from './lib/race.mjs'

const loadBefore = loadNow()
const { KeyRing } = await tokens()
const secrets = [{ kid: 1, secret: randomBytes(32) }]
const cached = new KeyRing(secrets)
const evicting = new KeyRing(secrets, 1)
cached.key(1, 'bench')
const SALT = Buffer.from('clicktrail/token/v1')
let i = 0
const result = await race([
  { name: 'KeyRing.key, cached (the verify path)', current: true, fn: () => cached.key(1, 'bench')[0] },
  { name: 'KeyRing.key, derived again (HKDF-SHA256)', fn: () => evicting.key(1, (i++ & 1) === 0 ? 'bench' : 'other')[0] },
  { name: 'hkdfSync alone (what a derivation calls)', fn: () => hkdfSync('sha256', secrets[0].secret, SALT, 'project:bench', 32).byteLength }
])
const [hit, derive, raw] = result.variants.map(v => v.ns.median)
emit({
  topic: 'key-derive',
  loadBefore,
  claims: [{ where: 'src/token/keys.ts:23', words: 'deriving again costs ~5 µs' }],
  sections: [{ title: 'One project key', table: raceTable(result) }],
  verdicts: [{ where: 'src/token/keys.ts:23', holds: derive >= 2500 && derive <= 10_000, measured: `a derivation costs ${fmtNs(derive)}, hkdfSync alone ${fmtNs(raw)} (cached: ${fmtNs(hit)}); claim ~5 µs` }],
  data: { race: result }
})
