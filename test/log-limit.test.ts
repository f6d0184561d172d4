import t from 'tap'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { LogLimiter } from '../src/log-limit.js'

function capture (): { lines: Array<Record<string, unknown>>, log: pino.Logger } {
  const lines: Array<Record<string, unknown>> = []
  const sink = new Writable({ write (chunk, _enc, cb) { for (const l of String(chunk).split('\n')) if (l !== '') lines.push(JSON.parse(l)); cb() } })
  return { lines, log: pino({ level: 'info' }, sink) }
}

t.test('one line per kind and interval, then a summary with the count', async t => {
  const { lines, log } = capture()
  const l = new LogLimiter(log, 100)
  for (let i = 0; i < 1000; i++) l.warn('ingest.shed', { rows: i }, 'observations shed')
  l.warn('webhook.failed', { webhook: 'w1' }, 'webhook failing')
  l.warn('redirect.bad_token', {}, 'bad tokens', 250)
  await new Promise(resolve => setTimeout(resolve, 10))
  t.equal(lines.length, 3, 'the first event of each kind at once, nothing else')
  t.match(lines[0], { kind: 'ingest.shed', rows: 0, msg: 'observations shed' })
  t.match(lines[2], { kind: 'redirect.bad_token', count: 250 })
  await new Promise(resolve => setTimeout(resolve, 250))
  const summary = lines.find(x => x.kind === 'ingest.shed' && x.count !== undefined)
  t.match(summary, { count: 999, rows: 999 }, 'one summary: how many more, with the last one\'s fields')
  t.equal(lines.filter(x => x.kind === 'webhook.failed').length, 1, 'no summary when nothing was suppressed')
  t.equal(l.seen.get('ingest.shed'), 1000)
  l.warn('ingest.shed', { rows: 1 }, 'observations shed')
  t.equal(lines.filter(x => x.kind === 'ingest.shed').length, 3, 'a new window logs at once again')
  l.flush(true)
})
