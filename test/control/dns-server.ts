import { createSocket, type Socket } from 'node:dgram'
import * as packet from 'dns-packet'

/**
 * A real authoritative DNS server on 127.0.0.1 (UDP), for tests of domain verification:
 * the engine asks it through --dns-server, as it would ask a real resolver. Names answer
 * what `set` gave them; a name with records of another type answers NOERROR with no
 * answer (ENODATA); an unknown name answers NXDOMAIN (ENOTFOUND); `mode` can make every
 * query SERVFAIL or go unanswered (a dead resolver).
 */
export class TestDnsServer {
  readonly #socket: Socket = createSocket('udp4')
  readonly #zone = new Map<string, { CNAME?: string, TXT?: string[] }>()
  mode: 'answer' | 'servfail' | 'drop' = 'answer'
  /** Questions received, as `TYPE name`. */
  readonly queries: string[] = []
  port = 0

  async start (): Promise<string> {
    this.#socket.on('message', (msg, rinfo) => { this.#answer(msg, rinfo.port, rinfo.address) })
    await new Promise<void>(resolve => this.#socket.bind(0, '127.0.0.1', resolve))
    this.port = this.#socket.address().port
    return `127.0.0.1:${this.port}`
  }

  set (name: string, records: { CNAME?: string, TXT?: string[] }): void { this.#zone.set(name.toLowerCase(), records) }
  delete (name: string): void { this.#zone.delete(name.toLowerCase()) }

  async stop (): Promise<void> { await new Promise<void>(resolve => this.#socket.close(() => { resolve() })) }

  #answer (msg: Buffer, port: number, address: string): void {
    let q: packet.Packet
    try { q = packet.decode(msg) } catch { return }
    const question = q.questions?.[0]
    if (question === undefined) return
    this.queries.push(`${question.type} ${question.name}`)
    if (this.mode === 'drop') return
    const name = question.name.toLowerCase()
    const entry = this.#zone.get(name)
    const answers: packet.Answer[] = []
    let rcode = 'NOERROR'
    if (this.mode === 'servfail') rcode = 'SERVFAIL'
    else if (entry === undefined) rcode = 'NXDOMAIN'
    else if (question.type === 'CNAME' && entry.CNAME !== undefined) answers.push({ type: 'CNAME', name: question.name, ttl: 1, class: 'IN', data: entry.CNAME })
    else if (question.type === 'TXT' && entry.TXT !== undefined) for (const t of entry.TXT) answers.push({ type: 'TXT', name: question.name, ttl: 1, class: 'IN', data: t })
    const reply = packet.encode({
      id: q.id,
      type: 'response',
      // QR | AA | RD (echoed) | RA, and the response code in the low four bits.
      flags: packet.AUTHORITATIVE_ANSWER | packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | RCODES[rcode],
      questions: q.questions,
      answers
    })
    this.#socket.send(reply, port, address)
  }
}

const RCODES: Record<string, number> = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 }
