import t from 'tap'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

// The dashboard's readers of Team API answers (dashboard/lib/api.js, a browser module that
// also loads in Node): today's shapes and the Lettermint-compatible ones (issue 14 with the
// SDK work) give the same lists, ids and errors.

const client = await import(pathToFileURL(resolve(import.meta.dirname, '..', '..', 'dashboard', 'lib', 'api.js')).href)

t.test('lists: a bare array or a {data: [...]} envelope', async t => {
  const items = [{ route_id: 'a' }, { id: 'b' }]
  t.same(client.listOf(items), items)
  t.same(client.listOf({ data: items }), items)
  t.same(client.listOf({ data: items, meta: { next: null } }), items)
  t.same(client.listOf(undefined), [])
  t.same(client.listOf({ error: { code: 'x' } }), [])
})

t.test('ids: today\'s <kind>_id or Lettermint\'s id', async t => {
  t.equal(client.idOf({ route_id: 'r1' }, 'route'), 'r1')
  t.equal(client.idOf({ id: 'r2' }, 'route'), 'r2')
  t.equal(client.idOf({ id: 'new', route_id: 'old' }, 'route'), 'old', 'both: the same id either way; today\'s field first')
  t.equal(client.idOf(undefined, 'route'), undefined)
})

t.test('single objects: bare, or in a {data: {...}} envelope', async t => {
  const route = { route_id: 'r1', name: 'Transactional', track_clicks: true }
  t.same(client.oneOf(route), route)
  t.same(client.oneOf({ data: route }), route)
  t.same(client.oneOf({ data: route, meta: {} }), route)
  const withData = { id: 'w1', data: { nested: true } }
  t.same(client.oneOf(withData), withData, 'an object that has a data field of its own is not unwrapped')
})

t.test('errors: the stable code and message, whatever the envelope', async t => {
  const today = client.errorOf(422, { error: { code: 'CT_ERR_ROUTE_INBOUND_TRACKING', message: 'inbound routes cannot track clicks', details: { field: 'track_clicks' } } })
  t.match(today, { status: 422, code: 'CT_ERR_ROUTE_INBOUND_TRACKING', message: 'inbound routes cannot track clicks', details: { field: 'track_clicks' } })
  t.match(client.errorOf(404, { error: 'CT_ERR_NOT_FOUND', message: 'route not found' }), { code: 'CT_ERR_NOT_FOUND', message: 'route not found' })
  t.match(client.errorOf(400, { code: 'CT_ERR_VALIDATION', message: 'bad' }), { code: 'CT_ERR_VALIDATION', message: 'bad' })
  t.match(client.errorOf(502, undefined), { code: 'HTTP_502', message: 'the server answered 502' }, 'no body: the status')
  t.match(client.errorOf(429, { error: { code: 'CT_ERR_RATE_LIMITED', message: 'too many test events' } }, '12'), { message: 'too many test events (retry after 12 s)' })
})
