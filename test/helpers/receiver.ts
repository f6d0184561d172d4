import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Received { headers: IncomingHttpHeaders, body: string, at: number }

/**
 * A real webhook receiver on 127.0.0.1 that records what it got. `status` decides the
 * answer; `down()` closes the port and `up()` listens on the same port again.
 */
export class Receiver {
  readonly received: Received[] = []
  status = 200
  port = 0
  #server: Server | undefined

  async up (): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        this.received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() })
        res.writeHead(this.status, { 'content-type': 'text/plain' })
        res.end('ok')
      })
    })
    await new Promise<void>((resolve, reject) => {
      this.#server!.once('error', reject)
      this.#server!.listen(this.port, '127.0.0.1', () => { resolve() })
    })
    this.port = (this.#server.address() as AddressInfo).port
  }

  async down (): Promise<void> {
    const s = this.#server
    this.#server = undefined
    if (s === undefined) return
    s.closeAllConnections()
    await new Promise(resolve => s.close(resolve))
  }

  get url (): string { return `http://127.0.0.1:${this.port}/hook` }

  async waitFor (n: number, ms = 20_000): Promise<Received[]> {
    const deadline = Date.now() + ms
    while (this.received.length < n && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
    return this.received
  }
}
