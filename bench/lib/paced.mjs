// Open-loop, evenly paced HTTP/1.1 load at a fixed rate, for "p99 latency at half of
// peak load". The pacer wakes about every 0.1 ms (a short Atomics.wait nap, so it does not
// burn a whole core that the server needs on a 2-core machine), queues every request that
// has become due, and sends each on an idle keep-alive connection (one request in flight
// per connection); when none is idle the request waits in the backlog. Latency runs from
// the moment the request was queued, not from when it was written, so a stalled server
// cannot hide its stall behind a blocked client (no coordinated omission); the pacer's own
// lateness (≤ one nap plus scheduling) is not charged to the server.
//
// Why not autocannon's overallRate alone: autocannon gives each connection a quota per
// second and lets it send that quota back to back from the top of each second, then pause;
// at "half the peak rate" the server sees full-speed bursts for about half of every second
// and the measured latency is that of the bursts. redirect.mjs reports both.
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { LatencyHistogram } from './histogram.mjs'

const HEADER_END = Buffer.from('\r\n\r\n')
const napCell = new Int32Array(new SharedArrayBuffer(4))
const CL_UPPER = Buffer.from('\r\nContent-Length:')
const CL_LOWER = Buffer.from('\r\ncontent-length:')
const TE_UPPER = Buffer.from('\r\nTransfer-Encoding:')
const TE_LOWER = Buffer.from('\r\ntransfer-encoding:')

/** Index just after `name` (either spelling) within buf[from, to), or -1. */
function findHeader (buf, from, to, upper, lower) {
  let i = buf.indexOf(upper, from)
  if (i === -1 || i >= to) i = buf.indexOf(lower, from)
  if (i === -1 || i >= to) return -1
  return i + upper.length
}

/**
 * @param {{ port: number, path: string, headers: Record<string,string>, rate: number,
 *           seconds: number, connections: number, host?: string, napWhenBusy?: boolean, reconnect?: boolean,
 *           nextPath?: () => string, onLatency?: (us: number) => void }} o
 *   napWhenBusy, reconnect: see below; nextPath: each request's path (bench/pipeline.mjs: a new token every time) instead of
 *   the fixed `path`; onLatency: called with every response's latency (µs), for a caller
 *   that keeps its own per-second histogram
 */
export async function pacedRun (o) {
  const host = o.host ?? '127.0.0.1'
  const nap = o.napMs ?? 0.1 // 0 = spin
  // napWhenBusy: nap too while requests wait but every connection has one in flight (nothing
  // can be sent before a response comes), rather than spin: against a server that falls
  // behind (bench/pipeline.mjs's steps past the sustained rate) a spinning client would take
  // the core the server needs on a 2-core machine.
  const napWhenBusy = o.napWhenBusy ?? false
  // reconnect: a connection the server closes while it has no request in flight (an idle
  // timeout: uWS closes keep-alive connections idle for 10 s, and with LIFO reuse most of
  // them idle through a long low-rate run) is replaced, as a browser would; closed with a
  // request in flight is a failure either way.
  const reconnect = o.reconnect ?? false
  let reconnects = 0
  const lines = [`GET ${o.path} HTTP/1.1`]
  for (const [k, v] of Object.entries(o.headers)) lines.push(`${k}: ${v}`)
  const request = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1')
  // With nextPath, each request is written as one latin1 string: "GET " + path + the rest.
  const tail = ' HTTP/1.1\r\n' + lines.slice(1).join('\r\n') + '\r\n\r\n'
  const nextPath = o.nextPath
  const onLatency = o.onLatency
  const hist = new LatencyHistogram()
  const statuses = {}
  const total = Math.floor(o.rate * o.seconds)
  const interval = 1000 / o.rate // ms
  const idle = []
  const conns = []
  let scheduled = 0
  let inFlight = 0
  let completed = 0
  let backlogMax = 0
  let failure
  // backlog of due times (ms), as a growable ring
  let backlog = new Float64Array(1024)
  let bHead = 0
  let bLen = 0
  let t0 = 0
  let done = false

  function pushBacklog (t) {
    if (bLen === backlog.length) {
      const next = new Float64Array(backlog.length * 2)
      for (let i = 0; i < bLen; i++) next[i] = backlog[(bHead + i) % backlog.length]
      backlog = next
      bHead = 0
    }
    backlog[(bHead + bLen) % backlog.length] = t
    bLen++
    if (bLen > backlogMax) backlogMax = bLen
  }

  function sendOn (c) {
    c.due = backlog[bHead]
    bHead = (bHead + 1) % backlog.length
    bLen--
    inFlight++
    c.busy = true
    if (nextPath === undefined) c.sock.write(request)
    else c.sock.write('GET ' + nextPath() + tail, 'latin1')
  }

  function onResponse (c, status) {
    const now = performance.now()
    const us = (now - c.due) * 1000
    hist.record(us)
    if (onLatency !== undefined) onLatency(us)
    statuses[status] = (statuses[status] ?? 0) + 1
    inFlight--
    completed++
    c.busy = false
    if (bLen > 0) sendOn(c)
    else idle.push(c)
  }

  // Responses are parsed in place from one reused read buffer per connection (net's
  // `onread`), without strings: the client makes next to no garbage, so its own GC pauses
  // do not show up as server latency.
  function parse (c, buf, len) {
    let pos = 0
    for (;;) {
      const end = buf.indexOf(HEADER_END, pos)
      if (end === -1 || end + 4 > len) break
      let bodyLen = 0
      const cl = findHeader(buf, pos, end, CL_UPPER, CL_LOWER)
      if (cl !== -1) {
        let i = cl
        while (buf[i] === 0x20 || buf[i] === 0x09) i++
        while (buf[i] >= 0x30 && buf[i] <= 0x39) bodyLen = bodyLen * 10 + buf[i++] - 0x30
      } else if (findHeader(buf, pos, end, TE_UPPER, TE_LOWER) !== -1) {
        failure ??= new Error('chunked responses are not supported')
        return len
      }
      const next = end + 4 + bodyLen
      if (next > len) break
      const status = (buf[pos + 9] - 0x30) * 100 + (buf[pos + 10] - 0x30) * 10 + (buf[pos + 11] - 0x30)
      pos = next
      onResponse(c, status)
    }
    return pos
  }

  function connect () {
    return new Promise((resolve, reject) => {
      const c = { sock: undefined, due: 0, closing: false, busy: false, keep: Buffer.alloc(0) }
      const readBuf = Buffer.allocUnsafe(65536)
      const sock = net.connect({
        host,
        port: o.port,
        onread: {
          buffer: readBuf,
          callback: (nread, buf) => {
            if (c.keep.length === 0) {
              const used = parse(c, buf, nread)
              if (used < nread) c.keep = Buffer.from(buf.subarray(used, nread))
            } else {
              // a response split across reads (rare): join and parse the copy
              const joined = Buffer.concat([c.keep, buf.subarray(0, nread)])
              const used = parse(c, joined, joined.length)
              c.keep = used < joined.length ? joined.subarray(used) : Buffer.alloc(0)
              if (c.keep.length > 1 << 20) failure ??= new Error('unparsable response stream')
            }
          }
        }
      })
      c.sock = sock
      sock.setNoDelay(true)
      sock.once('connect', () => { resolve(c) })
      sock.once('error', reject)
      sock.on('error', (err) => { failure ??= err })
      sock.on('close', () => {
        if (c.closing) return
        if (!reconnect || c.busy) { failure ??= new Error('server closed a connection'); return }
        // Idle: drop it and open a replacement (it joins the idle list once connected).
        c.closing = true
        const at = idle.indexOf(c)
        if (at !== -1) idle.splice(at, 1)
        conns.splice(conns.indexOf(c), 1)
        reconnects++
        connect().then(n => { if (done) { n.closing = true; n.sock.destroy() } else idle.push(n) }, (err) => { failure ??= err })
      })
      conns.push(c)
    })
  }

  for (let i = 0; i < o.connections; i++) idle.push(await connect())

  const cpu0 = process.cpuUsage()
  t0 = performance.now()
  const deadline = t0 + o.seconds * 1000 + 10_000
  await new Promise((resolve) => {
    function pump () {
      const now = performance.now()
      const due = Math.min(total, Math.floor((now - t0) / interval) + 1)
      while (scheduled < due) { pushBacklog(now); scheduled++ }
      while (bLen > 0 && idle.length > 0) sendOn(idle.pop())
      if (failure !== undefined || now > deadline || (scheduled >= total && inFlight === 0 && bLen === 0)) resolve()
      else {
        // Nap a moment (no CPU) unless work is waiting, then let the loop poll sockets.
        if (nap > 0 && (bLen === 0 || (napWhenBusy && idle.length === 0))) Atomics.wait(napCell, 0, 0, nap)
        setImmediate(pump)
      }
    }
    pump()
  })
  const wallMs = performance.now() - t0
  const cpu = process.cpuUsage(cpu0)
  done = true
  for (const c of conns) { c.closing = true; c.sock.destroy() }
  if (failure !== undefined) throw failure
  return {
    method: 'paced open-loop (bench/lib/paced.mjs)',
    targetRate: o.rate,
    achievedRate: completed / (wallMs / 1000),
    requested: total,
    completed,
    unfinished: total - completed,
    seconds: wallMs / 1000,
    connections: o.connections,
    backlogMax,
    reconnects,
    statuses,
    clientCpuUtil: (cpu.user + cpu.system) / 1000 / wallMs,
    latency: hist.summary()
  }
}
