// A bare uWS app in a process of its own, for the micro benchmarks that need a real server:
// node uws-child.mjs <kind>. It speaks lib/children.mjs's IPC protocol (ready, sample,
// stop). Kinds:
//   fixed-302             GET /c/:token answers a fixed 302 (the bare handler)
//   headers-getheader     the same, after reading the redirect server's 18 header fields
//                         with one req.getHeader() call each
//   headers-foreach       the same, after reading them in one req.forEach pass (what
//                         src/redirect/server.ts does; its captureHeader is written out here)
//   head-length           HEAD answered with res.endWithoutBody(5) (a reported length)
//   head-length-corked    the same inside res.cork() (as src/api/server.ts writes answers)
//   head-manual           HEAD answered with a Content-Length header and endWithoutBody()
//                         (what src/api/server.ts does)
//   head-plain            HEAD answered with endWithoutBody() (what src/redirect/server.ts does)
import { redirectServer, uws as loadUws } from './project.mjs'

const kind = process.argv[2]
const HOST = '127.0.0.1'
const LOCATION = 'https://shop.example.com/spring-sale/shoes'
const uws = await loadUws()
const { READ_FIELDS } = await redirectServer()
// The names captureHeader switches on: every field the server reads but Host, X-Forwarded-For and Authorization.
const CAPTURED = READ_FIELDS.filter(n => n !== 'host' && n !== 'x-forwarded-for' && n !== 'authorization')

let handled = 0
const o = { userAgent: '', accept: '', acceptLanguage: '', acceptEncoding: '', secFetchSite: '', secFetchMode: '', secFetchDest: '', secFetchUser: '', secChUa: '', secChUaMobile: '', secChUaPlatform: '', secPurpose: '', purpose: '', xMoz: '', referer: '', via: '', dnt: '', upgradeInsecureRequests: '' }
const KEYS = Object.keys(o)
const capturing = o
let forwardedFor = ''
/** Copy of src/redirect/server.ts captureHeader (keep in step). */
function captureHeader (key, value) {
  const c = capturing
  switch (key) {
    case 'user-agent': c.userAgent = value; break
    case 'accept': c.accept = value; break
    case 'accept-language': c.acceptLanguage = value; break
    case 'accept-encoding': c.acceptEncoding = value; break
    case 'sec-fetch-site': c.secFetchSite = value; break
    case 'sec-fetch-mode': c.secFetchMode = value; break
    case 'sec-fetch-dest': c.secFetchDest = value; break
    case 'sec-fetch-user': c.secFetchUser = value; break
    case 'sec-ch-ua': c.secChUa = value; break
    case 'sec-ch-ua-mobile': c.secChUaMobile = value; break
    case 'sec-ch-ua-platform': c.secChUaPlatform = value; break
    case 'sec-purpose': c.secPurpose = value; break
    case 'purpose': c.purpose = value; break
    case 'x-moz': c.xMoz = value; break
    case 'referer': c.referer = value; break
    case 'via': c.via = value; break
    case 'dnt': c.dnt = value; break
    case 'upgrade-insecure-requests': c.upgradeInsecureRequests = value; break
    case 'x-forwarded-for': forwardedFor = forwardedFor === '' ? value : `${forwardedFor},${value}`; break
  }
}
const redirect = (res) => { res.writeStatus('302 Found').writeHeader('Location', LOCATION).writeHeader('Cache-Control', 'no-store').end() }

const app = uws.App()
if (kind === 'fixed-302') {
  app.get('/c/:token', (res) => { handled++; redirect(res) })
} else if (kind === 'headers-getheader') {
  app.get('/c/:token', (res, req) => {
    handled++
    for (let i = 0; i < CAPTURED.length; i++) o[KEYS[i]] = req.getHeader(CAPTURED[i])
    forwardedFor = req.getHeader('x-forwarded-for')
    redirect(res)
  })
} else if (kind === 'headers-foreach') {
  app.get('/c/:token', (res, req) => {
    handled++
    forwardedFor = ''
    req.forEach(captureHeader)
    redirect(res)
  })
} else if (kind.startsWith('head-')) {
  app.head('/*', (res) => {
    handled++
    res.writeStatus('200 OK').writeHeader('Content-Type', 'text/plain')
    if (kind === 'head-length') res.endWithoutBody(5)
    else if (kind === 'head-length-corked') res.cork(() => { res.endWithoutBody(5) })
    else if (kind === 'head-manual') res.writeHeader('Content-Length', '5').endWithoutBody()
    else res.endWithoutBody()
  })
} else {
  throw new Error(`unknown kind ${kind}`)
}
if (CAPTURED.length !== KEYS.length) throw new Error(`READ_FIELDS gives ${CAPTURED.length} captured names, the copy of captureHeader has ${KEYS.length}`)
app.any('/*', (res) => { res.writeStatus('404 Not Found').end() })
const socket = await new Promise(resolve => app.listen(HOST, 0, resolve))
if (!socket) throw new Error('cannot listen')
process.on('message', (m) => {
  if (m?.type === 'sample') process.send({ type: 'sample', id: m.id, cpu: process.cpuUsage(), stats: { handled, requests: handled }, rss: process.memoryUsage.rss() })
  else if (m?.type === 'stop') { uws.us_listen_socket_close(socket); process.exit(0) }
})
process.on('disconnect', () => process.exit(0))
process.send({ type: 'ready', port: uws.us_socket_local_port(socket), pid: process.pid })
