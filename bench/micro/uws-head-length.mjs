// src/api/server.ts: "Written by hand: endWithoutBody(reportedContentLength) spins forever in
// the uWS build that loads here (v20.30, measured: the process hangs on the first HEAD)";
// src/redirect/server.ts (notFound) says of the same call that it "aborts the process in
// this build". A check: a uWS app in a child process answers one HEAD with
// endWithoutBody(5), with a Content-Length header and endWithoutBody() (api/server.ts), and
// with endWithoutBody() alone (redirect/server.ts), and with endWithoutBody(5) inside
// res.cork() (api/server.ts writes its answers corked); for each, what the client got within
// 2 s, the child's CPU use over the next second (from /proc: a spinning process burns a
// core) and whether it is still alive. Every child is killed afterwards.
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import { HOST } from '../lib/settings.mjs'
import { ServerChild, killAll } from '../lib/children.mjs'
import { processCpuUs } from '../lib/proc.mjs'
import { mdTable } from '../lib/report.mjs'
import { uwsBuild } from '../lib/machine.mjs'
import { emit, loadNow } from './lib/race.mjs'

const loadBefore = loadNow()
const SCRIPT = fileURLToPath(new URL('./lib/uws-child.mjs', import.meta.url))

function head (port) {
  return new Promise((resolve) => {
    const c = net.connect({ host: HOST, port })
    let data = ''
    const done = (what) => { clearTimeout(timer); c.destroy(); resolve(what) }
    const timer = setTimeout(() => done(data ? `partial: ${JSON.stringify(data.slice(0, 40))}` : 'no answer within 2 s'), 2000)
    c.on('data', d => { data += d; if (data.includes('\r\n\r\n')) done(`answered ${data.slice(9, 12)}${/content-length: *(\d+)/i.exec(data) ? `, Content-Length ${/content-length: *(\d+)/i.exec(data)[1]}` : ''}`) })
    c.on('close', () => done(data ? `answered ${data.slice(9, 12)}` : 'closed, no answer'))
    c.on('error', () => done('connection error'))
    c.write('HEAD /x HTTP/1.1\r\nHost: micro.localhost\r\n\r\n')
  })
}

const VARIANTS = {
  'head-length': 'res.endWithoutBody(5)',
  'head-length-corked': 'res.cork(() => res.endWithoutBody(5)) (as api/server.ts corks)',
  'head-manual': "writeHeader('Content-Length', '5').endWithoutBody() (api/server.ts)",
  'head-plain': 'endWithoutBody() (redirect/server.ts)'
}
const results = {}
try {
  for (const [kind, label] of Object.entries(VARIANTS)) {
    const s = new ServerChild(kind, kind, {}, { script: SCRIPT, readyTimeoutMs: 30_000, quiet: true })
    await s.ready
    const answer = await head(s.port)
    const cpu0 = processCpuUs(s.pid)
    await sleep(1000)
    const cpuCores = (processCpuUs(s.pid) - cpu0) / 1e6
    await sleep(50)
    const state = s.exitedWith === undefined ? 'alive' : `exited (code ${s.exitedWith.code}, signal ${s.exitedWith.signal})`
    results[kind] = { label, answer, cpuCores, state }
    s.cp.kill('SIGKILL')
    await s.exited
  }
} finally {
  killAll()
}
const len = results['head-length']
const corked = results['head-length-corked']
const spinning = r => r.cpuCores > 0.5 && !r.answer.startsWith('answered')
const spins = spinning(len) || spinning(corked)
const aborts = len.state.startsWith('exited')
emit({
  topic: 'uws-head-length',
  loadBefore,
  claims: [
    { where: 'src/api/server.ts:302', words: 'endWithoutBody(reportedContentLength) spins forever in the uWS build that loads here (v20.30, measured: the process hangs on the first HEAD)' },
    { where: 'src/redirect/server.ts:348', words: 'endWithoutBody(length) aborts the process in this build; endWithoutBody() with no length is the one safe way to answer HEAD' }
  ],
  sections: [{ title: `${uwsBuild().package}: one HEAD request`, table: mdTable(['answer written with', 'the client got', 'child CPU over the next second (cores)', 'child afterwards'], Object.values(results).map(r => [r.label, r.answer, Number.isFinite(r.cpuCores) ? r.cpuCores.toFixed(2) : 'gone', r.state]), 'llrl') }],
  verdicts: [
    { where: 'src/api/server.ts:302', holds: spins, measured: `endWithoutBody(5): ${len.answer}, ${Number.isFinite(len.cpuCores) ? len.cpuCores.toFixed(2) + ' cores' : 'no CPU (gone)'} in the next second, ${len.state}; inside cork: ${corked.answer}, ${corked.state}` },
    { where: 'src/redirect/server.ts:348', holds: aborts, measured: aborts ? `the process ${len.state}` : `the process did not abort: it ${spins ? 'spins' : 'stays'} (${len.state}); the two comments disagree, api/server.ts's "spins" is what happens here` },
    { where: 'the two safe forms', holds: results['head-manual'].answer.startsWith('answered') && results['head-plain'].answer.startsWith('answered'), measured: `Content-Length + endWithoutBody(): ${results['head-manual'].answer}; endWithoutBody(): ${results['head-plain'].answer}` }
  ],
  data: { results }
})
