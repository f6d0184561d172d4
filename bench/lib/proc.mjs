// CPU time from /proc (Linux only; NaN elsewhere): of the whole machine, of a process and
// of one thread. Clock ticks are 10 ms (CLK_TCK 100 on every Linux this runs on).
import { readFileSync } from 'node:fs'

const CLK_TCK = 100

/** Busy and stolen CPU time of the whole machine so far, in µs (all cores; idle and iowait are the rest). */
export function machineCpuUs () {
  try {
    const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0]
    const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number)
    return { busy: (user + nice + system + irq + softirq + (steal ?? 0)) * 1e6 / CLK_TCK, steal: (steal ?? 0) * 1e6 / CLK_TCK }
  } catch {
    return { busy: NaN, steal: NaN }
  }
}

/** Busy CPU time of the whole machine so far, in µs. */
export function machineBusyUs () {
  return machineCpuUs().busy
}

/** utime + stime from a stat line of proc(5), in µs (fields 14 and 15). */
function statCpuUs (path) {
  try {
    const stat = readFileSync(path, 'latin1')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * 1e6 / CLK_TCK
  } catch {
    return NaN
  }
}

/** CPU time (user + system, every thread) of process `pid` so far, in µs. */
export function processCpuUs (pid) {
  return statCpuUs(`/proc/${pid}/stat`)
}

/** CPU time of one thread of this process (default: the main thread), in µs. */
export function threadCpuUs (tid = process.pid) {
  return statCpuUs(`/proc/self/task/${tid}/stat`)
}

/** Time a thread of this process spent runnable but waiting for a CPU, in µs (schedstat). */
export function threadRunqueueWaitUs (tid = process.pid) {
  try {
    return Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'latin1').split(' ')[1]) / 1000
  } catch {
    return NaN
  }
}

/** Resident memory (VmRSS) and thread count of process `pid`, from /proc/<pid>/status; NaN when unreadable. */
export function processMemory (pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1')
    const rss = /^VmRSS:\s+(\d+) kB/m.exec(status)
    const threads = /^Threads:\s+(\d+)/m.exec(status)
    return { rssBytes: rss ? Number(rss[1]) * 1024 : NaN, threads: threads ? Number(threads[1]) : NaN }
  } catch {
    return { rssBytes: NaN, threads: NaN }
  }
}
