// Small loopback HTTP clients of the benches (node:http, no agent): a checked probe of a
// redirect, and JSON calls to the Team API.
import http from 'node:http'
import { HOST } from './settings.mjs'

/** One GET, answered with its status, Location and Cache-Control (the body is read and dropped). */
export function probe (port, path, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, path, headers, agent: false, timeout: 5000 }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode, location: res.headers.location, cacheControl: res.headers['cache-control'] }))
    })
    req.on('timeout', () => req.destroy(new Error('probe timed out')))
    req.on('error', reject)
    req.end()
  })
}

/** A JSON request with a bearer token; the answer's body parsed as JSON when it is JSON. */
export function apiRequest (port, method, path, token, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body))
    const headers = { authorization: `Bearer ${token}` }
    if (data !== undefined) { headers['content-type'] = 'application/json'; headers['content-length'] = String(data.length) }
    const req = http.request({ host: HOST, port, method, path, headers, agent: false, timeout: 10_000 }, (res) => {
      const chunks = []
      res.on('data', c => chunks.push(c))
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8')
        let json
        try { json = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode, body: json ?? text })
      })
    })
    req.on('timeout', () => req.destroy(new Error(`${method} ${path} timed out`)))
    req.on('error', reject)
    req.end(data)
  })
}
