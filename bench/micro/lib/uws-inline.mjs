// Races variants of code that needs a live uWS request (req / res) inside the handler:
// a uWS app in this process on loopback, and a raw keep-alive client that sends the same
// request `requests` times; each request's handler runs every variant `reps` times in a
// row (the order flips from one request to the next) and records ns per call. What is
// timed is the variant alone, on a real request object, without the rest of the request.
import net from 'node:net'
import { HOST } from '../../lib/settings.mjs'
import { uws as loadUws } from './project.mjs'
import { spread } from './race.mjs'

/**
 * @param {{ variants: Array<{ name: string, current?: boolean, fn: (res, req) => unknown }>, headers: Record<string,string>, requests?: number, reps?: number }} o
 */
export async function raceInHandler ({ variants, headers, requests = 400, reps = 50 }) {
  const uws = await loadUws()
  const samples = variants.map(() => [])
  let n = 0
  let sink = 0
  const app = uws.App()
  app.get('/c/:token', (res, req) => {
    const order = (n++ & 1) === 0 ? variants.map((_, i) => i) : variants.map((_, i) => variants.length - 1 - i)
    for (const i of order) {
      const fn = variants[i].fn
      const t0 = process.hrtime.bigint()
      for (let r = 0; r < reps; r++) if (fn(res, req) !== undefined) sink++
      samples[i].push(Number(process.hrtime.bigint() - t0) / reps)
    }
    res.writeStatus('302 Found').writeHeader('Location', 'https://example.com/').end()
  })
  const socket = await new Promise(resolve => app.listen(HOST, 0, resolve))
  if (!socket) throw new Error('cannot listen')
  const port = uws.us_socket_local_port(socket)
  const lines = ['GET /c/token HTTP/1.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)]
  const request = Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1')
  await new Promise((resolve, reject) => {
    const c = net.connect({ host: HOST, port })
    let left = requests
    let buf = ''
    c.on('connect', () => c.write(request))
    c.on('data', (d) => {
      buf += d
      let at
      while ((at = buf.indexOf('\r\n\r\n')) !== -1) {
        buf = buf.slice(at + 4)
        if (--left === 0) { c.destroy(); resolve(); return }
        c.write(request)
      }
    })
    c.on('error', reject)
  })
  uws.us_listen_socket_close(socket)
  // The first tenth of the requests warms the JIT up.
  const skip = Math.floor(requests / 10)
  return { requests, reps, sink, variants: variants.map((v, i) => ({ name: v.name, current: v.current === true, batch: reps, ns: spread(samples[i].slice(skip)) })) }
}
