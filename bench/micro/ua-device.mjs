// src/classify/ua.ts (deviceOf): "Device type without ua-parser's device regexes where the
// agent says it plainly: they are the costliest part of a parse (100–200 µs for an Android
// agent, measured on 1.0.41)." Times ua-parser-js's getDevice() per kind of agent against
// getOS() (which analyzeAgent needs anyway) and against the plain string test that
// deviceOf does instead (written out here; deviceOf is not exported).
import UAParser from 'ua-parser-js'
import { createRequire } from 'node:module'
import { AGENTS } from './lib/samples.mjs'
import { emit, fmtNs, loadNow, race } from './lib/race.mjs'
import { mdTable } from '../lib/report.mjs'

const loadBefore = loadNow()
const version = createRequire(import.meta.url)('ua-parser-js/package.json').version
const parser = new UAParser()
const rows = []
const data = {}
for (const [kind, ua] of Object.entries(AGENTS)) {
  const r = await race([
    { name: 'getDevice()', fn: () => { parser.setUA(ua); return parser.getDevice().type } },
    { name: 'getOS()', fn: () => { parser.setUA(ua); return parser.getOS().name } },
    { name: 'string test (deviceOf)', current: true, fn: () => ua.includes('Mobile') || !ua.includes('(Linux; Android') ? 1 : 2 }
  ], { batchMs: 10 })
  data[kind] = r
  const [device, os, plain] = r.variants.map(v => v.ns.median)
  rows.push([kind, fmtNs(device), `${fmtNs(r.variants[0].ns.p25)} – ${fmtNs(r.variants[0].ns.p75)}`, fmtNs(os), fmtNs(plain)])
}
const android = ['Android Chrome', 'Android Samsung'].map(k => data[k].variants[0].ns.median)
const worst = Object.entries(data).sort((a, b) => b[1].variants[0].ns.median - a[1].variants[0].ns.median)[0]
emit({
  topic: 'ua-device',
  loadBefore,
  claims: [{ where: 'src/classify/ua.ts:126', words: "ua-parser's device regexes … are the costliest part of a parse (100–200 µs for an Android agent, measured on 1.0.41)" }],
  sections: [{ title: `ua-parser-js ${version}, one call per agent`, table: mdTable(['agent', 'getDevice()', 'getDevice p25–p75', 'getOS()', 'string test (deviceOf)'], rows) }],
  verdicts: [{ where: 'src/classify/ua.ts:126', holds: android.every(x => x >= 50_000) ? true : android.some(x => x >= 20_000) ? null : false, measured: `getDevice() on Android agents: ${android.map(fmtNs).join(', ')} (claim 100–200 µs); the costliest agent here is ${worst[0]} at ${fmtNs(worst[1].variants[0].ns.median)}` }],
  data: { uaParserVersion: version, perAgent: data }
})
