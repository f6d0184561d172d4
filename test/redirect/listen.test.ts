import t from 'tap'
import { createServer } from 'node:net'
import { closeApp, listenOn, loadUws, probePort } from '../../src/http/uws.js'
import { request } from '../helpers/http.js'

// The real uWS listeners on loopback: the fault (a port another process holds) is caused
// for real, by a node:net server and by a second uWS app (which sets SO_REUSEPORT, the
// way a second `clicktrail serve` would).

/** A port nothing listens on right now (uWS binds port 0 without SO_REUSEPORT, so the tests use fixed ports). */
async function freePort (): Promise<number> {
  const s = createServer()
  await new Promise<void>(resolve => { s.listen(0, '127.0.0.1', resolve) })
  const port = (s.address() as { port: number }).port
  await new Promise<void>(resolve => { s.close(() => { resolve() }) })
  return port
}

function app (body: string): ReturnType<ReturnType<typeof loadUws>['App']> {
  const a = loadUws().App()
  a.any('/*', res => { res.end(body) })
  return a
}

t.test('a port held by another socket is refused with CT_ERR_LISTEN, whatever holds it', async t => {
  const holder = createServer()
  await new Promise<void>(resolve => { holder.listen(0, '127.0.0.1', resolve) })
  t.teardown(() => { holder.close() })
  const port = (holder.address() as { port: number }).port
  const a = app('a')
  await t.rejects(listenOn(a, '127.0.0.1', port, 'redirect server'), { code: 'CT_ERR_LISTEN', message: /redirect server cannot listen on 127\.0\.0\.1:\d+: another process is listening/ })
  closeApp(a, undefined)

  // A uWS listener binds with SO_REUSEPORT: without the probe a second one shares the port.
  const first = app('first')
  const bound = await listenOn(first, '127.0.0.1', await freePort(), 'first')
  t.teardown(() => { closeApp(first, bound.socket) })
  const second = app('second')
  await t.rejects(listenOn(second, '127.0.0.1', bound.port, 'Team API'), { code: 'CT_ERR_LISTEN' }, 'a second uWS app on a uWS port is refused')
  t.equal((await request(bound.port, { path: '/' })).body, 'first', 'and the first keeps answering')
  // The wildcard address overlaps every address: refused too.
  await t.rejects(probePort('0.0.0.0', bound.port, 'admin listener'), { code: 'CT_ERR_LISTEN' })
  closeApp(second, undefined)
})

t.test('probe: false lets this process share a port it probed (several redirect threads)', async t => {
  const first = app('x')
  const bound = await listenOn(first, '127.0.0.1', await freePort(), 'first')
  t.teardown(() => { closeApp(first, bound.socket) })
  const again = app('x')
  const shared = await listenOn(again, '127.0.0.1', bound.port, 'second thread', { probe: false })
  t.teardown(() => { closeApp(again, shared.socket) })
  t.equal(shared.port, bound.port, 'both listen on one port')
  t.equal((await request(bound.port, { path: '/' })).body, 'x')
})

t.test('a free port passes the probe and is bound; port 0 is not probed', async t => {
  const port = await freePort()
  const a = app('free')
  const bound = await listenOn(a, '127.0.0.1', port, 'redirect server')
  t.teardown(() => { closeApp(a, bound.socket) })
  t.equal(bound.port, port)
  t.equal((await request(port, { path: '/' })).body, 'free')
  await t.resolves(probePort('127.0.0.1', 0, 'any'))
})
