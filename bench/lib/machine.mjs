// Facts about the machine a run happened on, written into every result: cores, CPU model,
// memory, load average, Node and the uWebSockets.js build that loads.
import { createRequire } from 'node:module'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'

const require = createRequire(import.meta.url)

/** The uWebSockets.js package and the native binary this Node loads from it. */
export function uwsBuild () {
  try {
    const pkg = require('uWebSockets.js/package.json')
    return { package: `${pkg.name}@${pkg.version}`, binary: `uws_${process.platform}_${process.arch}_${process.versions.modules}.node` }
  } catch (err) {
    return { error: String(err?.message ?? err) }
  }
}

/** The machine facts of a result (`loadavgAtEnd` is read now: call it when the run is over). */
export function machineFacts () {
  return {
    cpus: cpus().length,
    availableParallelism: availableParallelism(),
    cpuModel: cpus()[0]?.model,
    memGB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    uws: uwsBuild(),
    loadavgAtEnd: loadavg()
  }
}

/** "1.02 2.88 3.70": the 1, 5 and 15 minute load averages. */
export function loadText () {
  return loadavg().map(x => x.toFixed(2)).join(' ')
}

/** One line for a log: cores and load, so a reader knows how busy the machine was. */
export function machineLine () {
  return `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}, load ${loadText()}`
}
