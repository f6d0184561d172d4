import { request as httpRequest } from 'node:http'

export interface ApiReply { status: number, body: any, raw: string, headers: Record<string, string | string[] | undefined> }

/** A real HTTP request to the Team API on 127.0.0.1:port. `body` objects are sent as JSON, strings as they are. */
export function api (port: number, method: string, path: string, token?: string, body?: unknown): Promise<ApiReply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body)
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    if (payload !== undefined) headers['content-length'] = String(Buffer.byteLength(payload))
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8')
        let parsed: unknown
        try { parsed = raw === '' ? undefined : JSON.parse(raw) } catch { parsed = undefined }
        resolve({ status: res.statusCode ?? 0, body: parsed, raw, headers: res.headers })
      })
    })
    req.on('error', reject)
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}
