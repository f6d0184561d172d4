import t from 'tap'
import { randomUUID } from 'node:crypto'
import { startTestEngine } from '../helpers/engine.js'
import { CHROME_NAVIGATION as CHROME, request } from '../helpers/http.js'
import { mintToken } from '../../src/token/codec.js'
import { until } from '../helpers/wait.js'

// Promotion copies the message's route onto its clicks (the analytics `route` dimension,
// sql/013): read from `messages` for a message not in the directory's cache, and the zero
// UUID for a message clicktrail never rewrote.

t.test('a promoted click carries the route of its message', async t => {
  const e = await startTestEngine(t, { 'trusted-proxy': ['127.0.0.1'], 'promotion-window-ms': '300', 'batch-max-ms': '50' })
  const route = e.team!.routes[1].route_id
  const known = randomUUID()
  const unknown = randomUUID()
  const sentAt = Math.floor(Date.now() / 1000) - 3600
  await e.store.writer.insert({ table: 'messages', format: 'JSONEachRow', values: [{ message_id: known, sid: 'acme', project_id: e.team!.project.project_id, route_id: route, recipient: 'r@example.com', sender: 's@example.com', subject: 'Hi', tag: 't', metadata: {}, sent_at: sentAt, tracking: true, tracking_reason: 'route_setting', link_count: 1 }] })
  for (const id of [known, unknown]) {
    const token = mintToken(e.keys, { sid: 'acme', messageId: id, linkIndex: 0, sentAt, url: 'https://example.com/' })
    t.equal((await request(e.port, { path: `/c/${token}`, host: 'pacme.t.localhost:8080', headers: { ...CHROME, 'x-forwarded-for': '198.51.100.9' } })).status, 302)
  }
  const read = async (): Promise<Array<{ id: string, route: string, recipient: string }>> => await (await e.store.reader.query({ query: 'SELECT toString(message_id) AS id, toString(route_id) AS route, recipient FROM clicks', format: 'JSONEachRow' })).json()
  await until('both clicks promoted', async () => (await read()).length >= 2)
  const rows = new Map((await read()).map(r => [r.id, r]))
  t.equal(rows.get(known)?.route, route, 'the route of the message, from `messages`')
  t.equal(rows.get(known)?.recipient, 'r@example.com')
  t.equal(rows.get(unknown)?.route, '00000000-0000-0000-0000-000000000000', 'no message: the zero UUID (null in the API)')
})
