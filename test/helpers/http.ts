import { request as httpRequest } from 'node:http'

export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

export interface RequestOptions {
  method?: string
  host?: string
  headers?: Record<string, string>
  /** Sent raw, as given: for paths fetch would normalise. */
  path: string
}

/** A real HTTP/1.1 request to 127.0.0.1:port, never following redirects. */
export function request (port: number, options: RequestOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...options.headers }
    if (options.host !== undefined) headers.host = options.host
    const req = httpRequest({ host: '127.0.0.1', port, path: options.path, method: options.method ?? 'GET', headers, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}
