// The webhook receiver of bench/pipeline.mjs, in its own process (lib/children.mjs
// ServerChild with this script), so that its CPU time is not the engine's nor the load
// client's, and the paced client's event loop never waits behind a webhook. A bare
// uWebSockets.js app on 127.0.0.1: every POST is answered 200 at once, then counted.
//
// Every click of a run has its own message id, `<run prefix>-<12 hex digits: the click's
// index>` (bench/pipeline.mjs mints them so), and the receiver keeps one counter per index:
// after the drain, a click with 0 events was lost, one with more than 1 was delivered twice.
// Every BENCH_VERIFY_EVERY-th event's signature is checked with standardwebhooks (all of
// them with 1); a failure is counted.
//
// Environment: BENCH_RUN_PREFIX (the first 24 characters of every message id),
// BENCH_RECEIVER_CAPACITY (how many click indexes), BENCH_VERIFY_EVERY (default 50).
// IPC (as lib/server-child.mjs): {type:'ready', port}; 'sample' → {cpu, stats, rss};
// 'secret' {secret} sets the webhook secret; 'ranges' {ranges: [[from, to), …]} → per range
// {delivered, missing, duplicates}; 'stop'.
import { createRequire } from 'node:module'
import { Webhook } from 'standardwebhooks'

const require = createRequire(import.meta.url)
const uws = require('uWebSockets.js')
const HOST = '127.0.0.1'
const PREFIX = process.env.BENCH_RUN_PREFIX ?? ''
const CAPACITY = Number(process.env.BENCH_RECEIVER_CAPACITY ?? 1 << 24)
const VERIFY_EVERY = Math.max(1, Number(process.env.BENCH_VERIFY_EVERY ?? 50))
if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-$/.test(PREFIX)) throw new Error('BENCH_RUN_PREFIX must be the first 24 characters of a UUID')

const counts = new Uint8Array(CAPACITY) // events per click index (saturates at 255)
const stats = { posts: 0, events: 0, unique: 0, duplicates: 0, unmatched: 0, badPayload: 0, verified: 0, badSignature: 0, notCounting: 0, aborted: 0, maxIndex: -1 }
const errors = []
let verifier
const note = (what) => { if (errors.length < 20) errors.push(what) }

function onEvent (body, id, timestamp, signature) {
  stats.posts++
  if (verifier !== undefined && stats.posts % VERIFY_EVERY === 0) {
    try {
      verifier.verify(body, { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': signature })
      stats.verified++
    } catch (err) {
      stats.badSignature++
      note(`signature of ${id} did not verify: ${err.message}`)
    }
  }
  let ev
  try { ev = JSON.parse(body) } catch { stats.badPayload++; note(`unparsable body of ${id}`); return }
  const m = ev?.data?.message_id
  if (ev?.event !== 'message.clicked' || typeof m !== 'string' || m.length !== 36 || !m.startsWith(PREFIX)) { stats.unmatched++; note(`event ${id} not of this run: ${body.slice(0, 200)}`); return }
  const i = Number.parseInt(m.slice(24), 16)
  if (!(i >= 0 && i < CAPACITY)) { stats.unmatched++; note(`event ${id}: index ${i} out of range`); return }
  stats.events++
  if (ev.data.bot?.counts_for_metrics !== true) stats.notCounting++
  if (counts[i] === 0) stats.unique++
  else { stats.duplicates++; note(`second event ${id} for click ${i}`) }
  if (counts[i] < 255) counts[i]++
  if (i > stats.maxIndex) stats.maxIndex = i
}

const app = uws.App()
app.post('/hook', (res, req) => {
  const id = req.getHeader('webhook-id')
  const timestamp = req.getHeader('webhook-timestamp')
  const signature = req.getHeader('webhook-signature')
  let aborted = false
  const chunks = []
  res.onAborted(() => { aborted = true; stats.aborted++ })
  res.onData((ab, isLast) => {
    chunks.push(Buffer.from(ab.slice(0))) // uWS reuses the ArrayBuffer after the callback
    if (!isLast) return
    if (aborted) return
    res.cork(() => { res.writeStatus('200 OK').writeHeader('content-type', 'text/plain').end('ok') })
    onEvent(Buffer.concat(chunks).toString('utf8'), id, timestamp, signature)
  })
})
app.any('/*', (res) => { res.writeStatus('404 Not Found').end() })

function ranges (list) {
  return list.map(([from, to]) => {
    let delivered = 0
    let missing = 0
    let duplicates = 0
    const firstMissing = []
    for (let i = from; i < to && i < CAPACITY; i++) {
      const c = counts[i]
      if (c === 0) { missing++; if (firstMissing.length < 5) firstMissing.push(i) } else { delivered++; duplicates += c - 1 }
    }
    return { from, to, delivered, missing, duplicates, firstMissing }
  })
}

function send (msg) { if (process.connected) process.send(msg) }

app.listen(HOST, 0, (socket) => {
  if (!socket) { send({ type: 'error', message: 'receiver: cannot listen' }); process.exit(1) }
  process.on('message', (m) => {
    if (m?.type === 'sample') send({ type: 'sample', id: m.id, cpu: process.cpuUsage(), stats: { ...stats }, rss: process.memoryUsage.rss() })
    else if (m?.type === 'secret') { verifier = new Webhook(m.secret); send({ type: 'reply', id: m.id, ok: true, result: true }) } else if (m?.type === 'ranges') send({ type: 'reply', id: m.id, ok: true, result: { ranges: ranges(m.ranges), errors } })
    else if (m?.type === 'stop') { uws.us_listen_socket_close(socket); process.exit(0) }
  })
  send({ type: 'ready', port: uws.us_socket_local_port(socket), pid: process.pid })
})
process.on('disconnect', () => { process.exit(0) })
