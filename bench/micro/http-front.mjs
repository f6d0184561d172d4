// src/http/front.ts (HttpFront): "Cost (measured, wrk 1 thread 50 keep-alive connections):
// a redirect takes ~40 µs of CPU instead of ~14 µs, about half the requests per second,
// because every byte crosses Node twice", and src/config.ts (redirect-front): "costs ~3x
// the CPU per redirect, measured".
// Races the real engine (bench/lib/server-child.mjs, kind 'clicktrail': CountingSink, no
// storage) with --redirect-front true (the default: current) and false, with a bare uWS
// fixed 302 for reference, each in its own process, under wrk (else autocannon) with 50
// connections and bench/redirect.mjs's request bytes on one hot token, over
// BENCH_MICRO_SECONDS × BENCH_MICRO_LOAD_ROUNDS, interleaved: server CPU µs per request
// and requests per second.
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { envInt } from '../lib/settings.mjs'
import { ServerChild, killAll, tempDir } from '../lib/children.mjs'
import { chooseTool, loadRunner, pathCycle } from '../lib/load.mjs'
import { REDIRECT_REQUEST } from '../lib/browser.mjs'
import { mdTable } from '../lib/report.mjs'
import { tokens } from './lib/project.mjs'
import { QUICK, emit, loadNow, spread } from './lib/race.mjs'

const loadBefore = loadNow()
const SECONDS = envInt('BENCH_MICRO_SECONDS', QUICK ? 1 : 3, 1, 600)
const LOAD_ROUNDS = envInt('BENCH_MICRO_LOAD_ROUNDS', QUICK ? 1 : 3, 1, 50)
const { KeyRing, parseSecrets, mintToken } = await tokens()
const secrets = `1:${randomBytes(32).toString('base64')}`
const token = mintToken(new KeyRing(parseSecrets(secrets)), { sid: REDIRECT_REQUEST.sid, messageId: randomUUID(), linkIndex: 0, sentAt: Math.floor(Date.now() / 1000), url: REDIRECT_REQUEST.destination })
const tmp = tempDir('ct-micro-front-')
const tool = chooseTool()
const runLoad = loadRunner({ tool, connections: 50, headers: REDIRECT_REQUEST.headers, wrkThreads: 1 })
const SERVERS = [
  { name: 'front', label: 'clicktrail, --redirect-front true (default)', kind: 'clicktrail', front: 'true', current: true },
  { name: 'direct', label: 'clicktrail, --redirect-front false (uWS on the port)', kind: 'clicktrail', front: 'false' },
  { name: 'bare', label: 'bare uWS fixed 302 (reference)', kind: 'uws-bare' }
]
const load = {}
try {
  const servers = SERVERS.map((d) => {
    const dataDir = join(tmp, d.name)
    mkdirSync(dataDir)
    const env = { BENCH_LOCATION: REDIRECT_REQUEST.destination, BENCH_SECRETS: secrets, BENCH_DATA_DIR: dataDir }
    if (d.front) env.BENCH_REDIRECT_FRONT = d.front
    return Object.assign(new ServerChild(d.name, d.kind, env, { readyTimeoutMs: 60_000 }), { def: d, cycle: pathCycle(tmp, d.name, [`/c/${token}`]) })
  })
  await Promise.all(servers.map(s => s.ready))
  for (const s of servers) { await runLoad(s.port, s.cycle, 1); load[s.name] = [] } // warm-up
  for (let r = 0; r < LOAD_ROUNDS; r++) {
    for (const s of r % 2 === 0 ? servers : [...servers].reverse()) {
      const a = await s.sample()
      const l = await runLoad(s.port, s.cycle, SECONDS)
      const b = await s.sample()
      const served = s.def.kind === 'clicktrail' ? b.stats.redirects - a.stats.redirects : b.stats.handled - a.stats.handled
      if (l.non2xx3xx > 0 || served < l.requests) throw new Error(`${s.name}: ${l.non2xx3xx} errors, ${served} served for ${l.requests} requests`)
      load[s.name].push({ cpuUsPerReq: (b.cpuUs - a.cpuUs) / served, rps: l.rps, serverCores: (b.cpuUs - a.cpuUs) / 1000 / (b.at - a.at), loadgenCores: l.loadgenCpuUtil })
    }
  }
  await Promise.all(servers.map(s => s.stop(5000)))
} finally {
  killAll()
}
const m = (k, f) => spread(load[k].map(x => x[f])).median
const front = m('front', 'cpuUsPerReq')
const direct = m('direct', 'cpuUsPerReq')
const q = front / direct
const rpsQ = m('front', 'rps') / m('direct', 'rps')
emit({
  topic: 'http-front',
  loadBefore,
  claims: [
    { where: 'src/http/front.ts:111', words: 'a redirect takes ~40 µs of CPU instead of ~14 µs, about half the requests per second' },
    { where: 'src/config.ts:93', words: 'costs ~3x the CPU per redirect, measured' }
  ],
  sections: [{ title: `${tool}, 50 connections, one hot token, ${LOAD_ROUNDS} × ${SECONDS} s per server`, table: mdTable(['server', 'CPU µs/request (median)', 'req/s (median)', 'server cores', 'load generator cores'], SERVERS.map(d => [d.label + (d.current ? ' **(current)**' : ''), m(d.name, 'cpuUsPerReq').toFixed(2), Math.round(m(d.name, 'rps')).toLocaleString('en-US'), m(d.name, 'serverCores').toFixed(2), m(d.name, 'loadgenCores').toFixed(2)])) }],
  verdicts: [
    { where: 'src/http/front.ts:111', holds: q >= 2.2 && rpsQ <= 0.65 ? true : q >= 1.5 ? null : false, measured: `${front.toFixed(1)} µs of CPU per redirect through the front, ${direct.toFixed(1)} without (claim ~40 vs ~14); ${(rpsQ * 100).toFixed(0)} % of the requests per second (claim about half)` },
    { where: 'src/config.ts:93', holds: q >= 2.4 && q <= 3.6 ? true : q >= 1.5 ? null : false, measured: `${q.toFixed(2)}× the CPU per redirect (claim ~3×)` }
  ],
  notes: ['A server that is not saturated pays more wake-ups per request; the load generator shares the 2 cores. Read the ratio, then the absolute numbers.'],
  data: { load, tool, seconds: SECONDS, rounds: LOAD_ROUNDS }
})
