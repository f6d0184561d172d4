// src/redirect/server.ts (addressOf): "The binary form is cheaper than the text one (no
// Buffer, no decode): IPv4, the common case, arrives as 4 bytes or as an IPv4-mapped IPv6
// address and is formatted here." Races, in the handler of a real uWS request from a
// loopback IPv4 client (lib/uws-inline.mjs), the binary form formatted by hand (current; a
// copy of addressOf's IPv4 path, which is not exported) against the text form
// (getRemoteAddressAsText, decoded, then the project's normalizeIp).
import { REDIRECT_REQUEST } from '../lib/browser.mjs'
import { redirectServer } from './lib/project.mjs'
import { raceInHandler } from './lib/uws-inline.mjs'
import { QUICK, compare, emit, fmtNs, loadNow, raceTable } from './lib/race.mjs'

const loadBefore = loadNow()
const { normalizeIp } = await redirectServer()
/** Copy of the binary path of src/redirect/server.ts addressOf (keep in step). */
function binary (res) {
  const b = new Uint8Array(res.getRemoteAddress())
  if (b.length === 4) return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`
  if (b.length === 16 && b[10] === 0xff && b[11] === 0xff && b[0] === 0 && b[1] === 0 && b[2] === 0 && b[3] === 0 && b[4] === 0 && b[5] === 0 && b[6] === 0 && b[7] === 0 && b[8] === 0 && b[9] === 0) {
    return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`
  }
  return normalizeIp(Buffer.from(res.getRemoteAddressAsText()).toString('latin1'))
}
const text = (res) => normalizeIp(Buffer.from(res.getRemoteAddressAsText()).toString('latin1'))
let seen
const result = await raceInHandler({
  headers: REDIRECT_REQUEST.headers,
  requests: QUICK ? 200 : 600,
  variants: [
    { name: 'getRemoteAddress(), bytes formatted (server.ts addressOf)', current: true, fn: (res) => { seen = binary(res); return seen.length } },
    { name: 'getRemoteAddressAsText(), decoded, normalizeIp', fn: (res) => text(res).length }
  ]
})
const [bin, txt] = result.variants.map(v => v.ns.median)
const c = compare(result.variants[0], result.variants[1])
emit({
  topic: 'peer-address',
  loadBefore,
  claims: [{ where: 'src/redirect/server.ts:356', words: 'The binary form is cheaper than the text one (no Buffer, no decode)' }],
  sections: [{ title: `The peer address of a loopback IPv4 client (${seen}), in the handler`, table: raceTable(result, { per: 'address' }) }],
  verdicts: [{ where: 'src/redirect/server.ts:356', holds: c === 'faster' ? true : c === 'tie' ? null : false, measured: `binary ${fmtNs(bin)}, text ${fmtNs(txt)} per address (${(txt / bin).toFixed(2)}×)` }],
  notes: ['The current variant is a copy of the unexported addressOf of src/redirect/server.ts (its IPv4 path); if that function changes, change the copy.'],
  data: { race: result, address: seen }
})
process.exit(0)
