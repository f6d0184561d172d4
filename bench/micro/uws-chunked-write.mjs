// src/http/stream-body.ts: streamed (chunked) answers through uWS v20.30 and the HTTP front.
// Two findings the code is written around, checked here on a real uWS app behind the real
// front (src/http/front.ts) with a client that reads slowly (so writes meet backpressure):
// 1. a second res.onWritable(handler) does not replace the first: the first keeps firing;
// 2. a corked res.write() of more than uWS's 16 KiB cork buffer, under backpressure, corrupts
//    the chunked framing the client reads ("Expected LF after chunk data"); slices that fit
//    the cork buffer (STREAM_SLICE_BYTES) arrive intact.
// And the project's own streamBody over the same path, as the current variant.
import http from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { HOST } from '../lib/settings.mjs'
import { mdTable } from '../lib/report.mjs'
import { uwsBuild } from '../lib/machine.mjs'
import { uws as loadUws, httpStreaming } from './lib/project.mjs'
import { emit, loadNow, QUICK } from './lib/race.mjs'

const loadBefore = loadNow()
const uws = await loadUws()
const { listenFronted, STREAM_SLICE_BYTES, streamBody, silentLogger } = await httpStreaming()
const CHUNK = 520_000
const CHUNKS = QUICK ? 10 : 40
const BODY = Buffer.alloc(CHUNK)
for (let i = 0; i < BODY.length; i++) BODY[i] = 97 + (i % 26)

/** One app behind the front; `handler(res)` writes the body. */
async function serve (handler) {
  const app = uws.App()
  app.get('/x', (res) => {
    const x = { aborted: false }
    res.onAborted(() => { x.aborted = true; x.onAbort?.() })
    handler(res, x).catch(() => {})
  })
  const bound = await listenFronted(app, { host: HOST, port: 0, what: 'micro', log: silentLogger })
  return { port: bound.port, close: () => { uws.us_listen_socket_close(bound.socket); bound.front.close() } }
}

/** A slow reader: pauses 1 ms after every piece; checks every byte against the pattern. */
function fetchChecked (port) {
  return new Promise((resolve) => {
    let n = 0
    let firstBad = -1
    const done = (how) => resolve({ how, bytes: n, intact: firstBad === -1 && n === CHUNK * CHUNKS })
    http.get({ host: HOST, port, path: '/x', agent: false }, res => {
      res.on('data', d => {
        if (firstBad === -1) for (let i = 0; i < d.length; i++) if (d[i] !== 97 + ((n + i) % CHUNK % 26)) { firstBad = n + i; break }
        n += d.length
        res.pause()
        setTimeout(() => res.resume(), 1)
      })
      res.on('end', () => done('complete'))
      res.on('error', err => done(err.message))
    }).on('error', err => done(err.message))
    setTimeout(() => done('timed out after 30 s'), 30_000).unref()
  })
}

/** Writes CHUNKS chunks in corked slices of `slice` bytes, waiting out backpressure with ONE onWritable handler. */
const sliced = (slice) => async (res, x) => {
  let wake
  let registered = false
  res.cork(() => res.writeStatus('200 OK'))
  for (let c = 0; c < CHUNKS; c++) {
    for (let off = 0; off < CHUNK; off += slice) {
      if (x.aborted) return
      const s = BODY.subarray(off, off + slice)
      let ok
      res.cork(() => { ok = res.write(s) })
      if (!ok) {
        if (!registered) { registered = true; res.onWritable(() => { const w = wake; wake = undefined; w?.(); return true }) }
        await new Promise(resolve => { wake = resolve })
      }
    }
    await sleep(0)
  }
  res.cork(() => res.end())
}

// 1. Which onWritable handler fires after a second registration?
const calls = { first: 0, second: 0 }
{
  const s = await serve(async (res, x) => {
    res.cork(() => res.writeStatus('200 OK'))
    let registrations = 0
    let wake
    for (let c = 0; c < CHUNKS && !x.aborted; c++) {
      for (let off = 0; off < CHUNK && !x.aborted; off += 4096) {
        let ok
        res.cork(() => { ok = res.write(BODY.subarray(off, off + 4096)) })
        if (ok) continue
        if (registrations < 2) {
          const which = registrations === 0 ? 'first' : 'second'
          registrations++
          res.onWritable(() => { calls[which]++; const w = wake; wake = undefined; w?.(); return true })
        }
        // Waits for whichever handler fires; gives up after 1 s (the first handler's waiter is gone).
        const woke = await Promise.race([new Promise(resolve => { wake = () => resolve(true) }), sleep(1000).then(() => false)])
        if (!woke) { res.cork(() => res.end()); return }
      }
    }
    res.cork(() => res.end())
  })
  await fetchChecked(s.port)
  s.close()
}

// 2. Corked slices of several sizes, and the project's streamBody.
const rows = []
const variants = [['64 KiB corked', sliced(65536)], ['16 KiB corked (16384 + chunk framing > cork buffer)', sliced(16384)], [`${STREAM_SLICE_BYTES} B corked (STREAM_SLICE_BYTES)`, sliced(STREAM_SLICE_BYTES)],
  ['streamBody (current)', async (res, x) => {
    res.cork(() => res.writeStatus('200 OK'))
    let i = 1
    const rest = { next: async () => { await sleep(0); return i++ < CHUNKS ? { done: false, value: BODY } : { done: true, value: undefined } } }
    await streamBody(res, x, BODY, rest)
  }]]
const results = {}
for (const [label, handler] of variants) {
  const s = await serve(handler)
  const r = await fetchChecked(s.port)
  s.close()
  results[label] = r
  rows.push([label, r.how, String(r.bytes), r.intact ? 'yes' : 'NO'])
}
const big = results['64 KiB corked']
const fits = results[`${STREAM_SLICE_BYTES} B corked (STREAM_SLICE_BYTES)`]
const current = results['streamBody (current)']
emit({
  topic: 'uws-chunked-write',
  loadBefore,
  claims: [
    { where: 'src/http/stream-body.ts (Writable)', words: 'uWS keeps the first onWritable handler a response was given (a later onWritable does not replace it)' },
    { where: 'src/http/stream-body.ts (STREAM_SLICE_BYTES)', words: 'a corked write larger than uWS\'s 16 KiB cork buffer that meets backpressure corrupts the chunked framing; slices that fit arrive intact' }
  ],
  sections: [
    { title: `${uwsBuild().package}: onWritable registered twice`, table: mdTable(['handler', 'calls'], [['first', String(calls.first)], ['second', String(calls.second)]], 'lr') },
    { title: `${CHUNKS} × ${CHUNK} bytes through the HTTP front to a slow reader`, table: mdTable(['writes', 'the client got', 'bytes', 'intact'], rows, 'llrl') }
  ],
  verdicts: [
    { where: 'src/http/stream-body.ts (Writable)', holds: calls.first > 0 && calls.second === 0, measured: `after the second registration: first handler ${calls.first} calls, second ${calls.second}` },
    { where: 'src/http/stream-body.ts (STREAM_SLICE_BYTES)', holds: !big.intact && fits.intact && current.intact, measured: `64 KiB: ${big.how}; ${STREAM_SLICE_BYTES} B: ${fits.how}, intact ${fits.intact}; streamBody: ${current.how}, intact ${current.intact}` }
  ],
  data: { calls, results }
})
process.exit(0)
