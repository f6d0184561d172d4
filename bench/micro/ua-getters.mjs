// src/classify/ua.ts (analyzeAgent): "ua-parser's getters run separately, and only those
// needed: a full getResult() costs ~80 µs, the device and browser regexes most of it
// (measured on ua-parser-js 1.0.41)." Races, over a mix of agents, setUA + getResult()
// against setUA + the getters analyzeAgent calls (getOS, getEngine, getBrowser) and
// against the project's analyzeAgent itself (no memo: every call parses).
import UAParser from 'ua-parser-js'
import { createRequire } from 'node:module'
import { userAgents } from './lib/project.mjs'
import { AGENTS } from './lib/samples.mjs'
import { emit, fmtNs, loadNow, race, raceTable } from './lib/race.mjs'
import { mdTable } from '../lib/report.mjs'

const loadBefore = loadNow()
const version = createRequire(import.meta.url)('ua-parser-js/package.json').version
const { analyzeAgent } = await userAgents()
const parser = new UAParser()
const agents = Object.values(AGENTS)
let i = 0
const next = () => agents[i++ % agents.length]
const result = await race([
  { name: 'analyzeAgent (ua.ts, unmemoised)', current: true, fn: () => analyzeAgent(next()).chromeMajor },
  { name: 'setUA + getResult()', fn: () => { parser.setUA(next()); return parser.getResult().os.name } },
  { name: 'setUA + getOS + getEngine + getBrowser', fn: () => { parser.setUA(next()); return parser.getOS().name + parser.getEngine().name + parser.getBrowser().name } }
])
// The parts of getResult, one agent kind at a time.
const parts = []
for (const [kind, ua] of Object.entries(AGENTS)) {
  const r = await race(['getBrowser', 'getDevice', 'getOS', 'getEngine', 'getCPU'].map(g => ({ name: g, fn: () => { parser.setUA(ua); return parser[g]().name } })), { batchMs: 5, rounds: 7 })
  parts.push([kind, ...r.variants.map(v => fmtNs(v.ns.median))])
}
const [cur, full, some] = result.variants.map(v => v.ns.median)
emit({
  topic: 'ua-getters',
  loadBefore,
  claims: [{ where: 'src/classify/ua.ts:162', words: 'a full getResult() costs ~80 µs, the device and browser regexes most of it (measured on ua-parser-js 1.0.41)' }],
  sections: [
    { title: `ua-parser-js ${version}, agents cycled: ${Object.keys(AGENTS).join(', ')}`, table: raceTable(result, { per: 'agent' }) },
    { title: 'Each getter alone (median, 7 rounds)', table: mdTable(['agent', 'getBrowser', 'getDevice', 'getOS', 'getEngine', 'getCPU'], parts) }
  ],
  verdicts: [{ where: 'src/classify/ua.ts:162', holds: full >= 50_000 ? true : full >= 30_000 ? null : false, measured: `getResult() ${fmtNs(full)} per agent on this mix (claim ~80 µs); the getters analyzeAgent uses ${fmtNs(some)}; analyzeAgent ${fmtNs(cur)}` }],
  data: { uaParserVersion: version, race: result, parts }
})
