// src/http/front.ts (UWS_MAX_FIELDS): "Header fields uWS v20.30 parses at most: its request
// table has 50 slots, one for the request line and one for the end mark (measured: 48
// fields answer, 49 get no answer)." A check on a real uWS app (loaded the project's way)
// on loopback: raw HTTP/1.1 requests with 46 to 50 header fields (Host included), each on
// its own connection, and what comes back within a second.
import net from 'node:net'
import { HOST } from '../lib/settings.mjs'
import { mdTable } from '../lib/report.mjs'
import { frontLimits, uws as loadUws } from './lib/project.mjs'
import { emit, loadNow } from './lib/race.mjs'
import { uwsBuild } from '../lib/machine.mjs'

const loadBefore = loadNow()
const uws = await loadUws()
const { UWS_MAX_FIELDS } = await frontLimits()
const app = uws.App()
app.get('/*', (res) => { res.writeStatus('200 OK').end('ok') })
const socket = await new Promise(resolve => app.listen(HOST, 0, resolve))
if (!socket) throw new Error('cannot listen')
const port = uws.us_socket_local_port(socket)

function send (fields) {
  return new Promise((resolve) => {
    const lines = ['GET /x HTTP/1.1', 'Host: micro.localhost']
    for (let i = 1; i < fields; i++) lines.push(`X-Field-${i}: ${i}`)
    const c = net.connect({ host: HOST, port })
    let data = ''
    const done = (what) => { clearTimeout(timer); c.destroy(); resolve(what) }
    const timer = setTimeout(() => done(data ? `partial: ${data.slice(0, 20)}` : 'no answer within 1 s'), 1000)
    c.on('data', d => { data += d; if (data.includes('\r\n\r\n')) done(`answered ${data.slice(9, 12)}`) })
    c.on('close', () => done(data ? `answered ${data.slice(9, 12)}` : 'closed, no answer'))
    c.on('error', () => done('connection error'))
    c.write(lines.join('\r\n') + '\r\n\r\n')
  })
}
const results = {}
for (const n of [46, 47, 48, 49, 50]) results[n] = await send(n)
uws.us_listen_socket_close(socket)
const answered = Object.entries(results).filter(([, r]) => r.startsWith('answered')).map(([n]) => Number(n))
const most = Math.max(...answered)
emit({
  topic: 'uws-max-fields',
  loadBefore,
  claims: [{ where: 'src/http/front.ts:12', words: 'Header fields uWS v20.30 parses at most … (measured: 48 fields answer, 49 get no answer)' }],
  sections: [{ title: `${uwsBuild().package} (${uwsBuild().binary}); UWS_MAX_FIELDS = ${UWS_MAX_FIELDS}`, table: mdTable(['header fields (Host included)', 'what came back'], Object.entries(results).map(([n, r]) => [n, r]), 'rl') }],
  verdicts: [{ where: 'src/http/front.ts:12', holds: most === UWS_MAX_FIELDS && !answered.includes(UWS_MAX_FIELDS + 1), measured: `the most fields answered: ${most}; ${UWS_MAX_FIELDS + 1} fields: ${results[UWS_MAX_FIELDS + 1]}` }],
  data: { results, UWS_MAX_FIELDS }
})
process.exit(0)
