import t from 'tap'
import { randomUUID } from 'node:crypto'
import { startTestEngine } from '../helpers/engine.js'
import { CHROME_NAVIGATION as CHROME, request } from '../helpers/http.js'
import { until } from '../helpers/wait.js'
import { mintToken } from '../../src/token/codec.js'

// address_many_recipients end to end (issue 11): the real server, ingest, embedded
// ClickHouse, promotion and the worker pool's classification, the one batch path.

t.test('seven recipients clicked from one address within 5 s: address_many_recipients fires', async t => {
  const e = await startTestEngine(t, { 'trusted-proxy': ['127.0.0.1'], 'promotion-window-ms': '2000', 'batch-max-ms': '50' })
  const sentAt = Math.floor(Date.now() / 1000) - 3600
  const click = async (ip: string, link = 0): Promise<number> => {
    const token = mintToken(e.keys, { sid: 'acme', messageId: randomUUID(), linkIndex: link, sentAt, url: `https://example.com/${ip}/${randomUUID()}` })
    return (await request(e.port, { path: `/c/${token}`, host: 'pacme.t.localhost:8080', headers: { ...CHROME, 'x-forwarded-for': ip } })).status
  }
  for (let i = 0; i < 7; i++) {
    t.equal(await click('198.51.100.77'), 302)
    await new Promise(resolve => setTimeout(resolve, 600))
  }
  t.equal(await click('203.0.113.9'), 302, 'and one recipient on an address of its own')
  // Seven recipients behind one carrier-grade NAT address: people sharing it, not a machine.
  for (let i = 0; i < 7; i++) t.equal(await click('100.64.12.34'), 302)
  await until('fifteen clicks', () => e.promoter.stats.promoted >= 15)
  const rows = await (await e.store.reader.query({ query: 'SELECT ip, reason_codes FROM clicks ORDER BY ts', format: 'JSONEachRow' })).json<{ ip: string, reason_codes: string[] }>()
  const shared = rows.filter(r => r.ip === '198.51.100.77')
  t.equal(shared.length, 7)
  const fired = shared.filter(r => r.reason_codes.includes('address_many_recipients')).length
  t.ok(fired >= 3, `address_many_recipients on ${fired} of the 7 clicks from one address (it fires once the address has reached 5 recipients)`)
  t.notOk(rows.find(r => r.ip === '203.0.113.9')?.reason_codes.includes('address_many_recipients'), 'not for a recipient on its own address')
  const nat = rows.filter(r => r.ip === '100.64.12.34')
  t.equal(nat.length, 7)
  t.notOk(nat.some(r => r.reason_codes.includes('address_many_recipients')), 'never for a shared (CGNAT) address')
})
