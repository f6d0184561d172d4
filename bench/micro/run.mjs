#!/usr/bin/env node
// Runs the micro benchmarks, one process each, one after the other:
//   npm run bench:micro                      all of them (a few minutes)
//   npm run bench:micro -- spool-crc ua-*    those named (file names without .mjs; * globs)
//   BENCH_MICRO_QUICK=1 npm run bench:micro  fewer rounds and shorter loads (a smoke run)
// Each bench's markdown goes to stdout as it runs; its MICRO_JSON line is collected into
// bench/results/micro-latest.json (and a timestamped copy), with a summary table last. A
// run of some benches replaces their entries in micro-latest.json and keeps the others.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { RESULTS, envInt } from '../lib/settings.mjs'
import { track, killAll } from '../lib/children.mjs'
import { machineFacts, loadText } from '../lib/machine.mjs'
import { mdTable, writeResults, log } from '../lib/report.mjs'
import { requireDist } from '../lib/project.mjs'

const DIR = fileURLToPath(new URL('./', import.meta.url))
const TIMEOUT_S = envInt('BENCH_MICRO_TIMEOUT', 300, 10, 3600) // per bench
const all = readdirSync(DIR).filter(f => f.endsWith('.mjs') && f !== 'run.mjs').map(f => f.slice(0, -4)).sort()
const globs = process.argv.slice(2)
const match = (name) => globs.length === 0 || globs.some(g => new RegExp(`^${g.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`).test(name))
const chosen = all.filter(match)
if (chosen.length === 0) { console.error(`no micro benchmark matches ${globs.join(' ')}; there are: ${all.join(', ')}`); process.exit(2) }

function runOne (name) {
  return new Promise((resolve) => {
    const t0 = Date.now()
    const cp = track(spawn(process.execPath, [`${DIR}${name}.mjs`], { stdio: ['ignore', 'pipe', 'inherit'] }))
    let out = ''
    let json
    cp.stdout.on('data', (d) => {
      out += d
      let nl
      while ((nl = out.indexOf('\n')) !== -1) {
        const line = out.slice(0, nl)
        out = out.slice(nl + 1)
        if (line.startsWith('MICRO_JSON ')) json = JSON.parse(line.slice('MICRO_JSON '.length))
        else console.log(line)
      }
    })
    const timer = setTimeout(() => { log(`${name}: still running after ${TIMEOUT_S} s, killed`); cp.kill('SIGKILL') }, TIMEOUT_S * 1000)
    cp.once('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ name, at: new Date(t0).toISOString(), ok: code === 0 && json !== undefined, code, signal, seconds: (Date.now() - t0) / 1000, result: json })
    })
  })
}

async function main () {
  requireDist()
  const started = new Date()
  log(`micro benchmarks: ${chosen.join(', ')}; load ${loadText()}`)
  const runs = []
  for (const name of chosen) {
    console.log('')
    runs.push(await runOne(name))
  }
  const rows = []
  for (const r of runs) {
    if (!r.ok) { rows.push([r.name, '—', `**FAILED** (exit ${r.code}${r.signal ? `, ${r.signal}` : ''})`, '']); continue }
    for (const v of r.result.verdicts) rows.push([r.name, v.where, v.holds === true ? 'holds' : v.holds === false ? '**does not hold**' : 'partly / see', v.measured])
  }
  console.log(`\n## Micro benchmarks — summary (${started.toISOString()}, load ${loadText()} at the end)\n`)
  console.log(mdTable(['bench', 'claim', 'here', 'measured'], rows, 'llll'))
  // A partial run keeps the other benches' last results.
  const latest = join(RESULTS, 'micro-latest.json')
  let kept = []
  if (chosen.length < all.length && existsSync(latest)) {
    try { kept = JSON.parse(readFileSync(latest, 'utf8')).runs.filter(r => !chosen.includes(r.name) && all.includes(r.name)) } catch {}
  }
  const merged = [...kept, ...runs].sort((a, b) => a.name.localeCompare(b.name))
  const written = writeResults('micro', { benchmark: 'micro', startedAt: started.toISOString(), finishedAt: new Date().toISOString(), ran: chosen, machine: machineFacts(), runs: merged }, { started })
  console.log(`\nwrote ${written.file} and ${written.latest}`)
  killAll()
  process.exit(runs.every(r => r.ok) ? 0 : 1)
}

main().catch((err) => { console.error(err); killAll(); process.exit(1) })
