// src/store/observations.ts: "A positional array stringifies about twice as fast as an
// object with the same fields". Races the project's toRow (a JSONCompactEachRow line:
// JSON.stringify of a positional array) against JSON.stringify of an object with the same
// 33 columns (a JSONEachRow line), on observations as the redirect server captures them.
import { observations } from './lib/project.mjs'
import { sampleObservation } from './lib/samples.mjs'
import { emit, fmtNs, loadNow, race, raceTable } from './lib/race.mjs'

const loadBefore = loadNow()
const { toRow, OBSERVATION_COLUMNS } = await observations()
const NODE = 'node-1'
const obs = Array.from({ length: 64 }, (_, i) => sampleObservation(i))

// The same values as toRow, keyed by column name (what JSONEachRow would need).
function toObjectRow (o, nodeId) {
  return JSON.stringify({
    ts: o.ts,
    obs_id: o.id,
    node_id: nodeId,
    sid: o.sid,
    message_id: o.messageId,
    link_index: o.linkIndex,
    sent_at: o.sentAt,
    url: o.url,
    kid: o.kid,
    retention_days: o.retentionDays,
    method: o.method,
    host: o.host,
    ip: o.ip,
    peer_ip: o.peerIp,
    user_agent: o.userAgent,
    accept: o.accept,
    accept_language: o.acceptLanguage,
    accept_encoding: o.acceptEncoding,
    sec_fetch_site: o.secFetchSite,
    sec_fetch_mode: o.secFetchMode,
    sec_fetch_dest: o.secFetchDest,
    sec_fetch_user: o.secFetchUser,
    sec_ch_ua: o.secChUa,
    sec_ch_ua_mobile: o.secChUaMobile,
    sec_ch_ua_platform: o.secChUaPlatform,
    sec_purpose: o.secPurpose,
    purpose: o.purpose,
    x_moz: o.xMoz,
    referer: o.referer,
    via: o.via,
    dnt: o.dnt,
    upgrade_insecure_requests: o.upgradeInsecureRequests,
    blocked: o.blocked === true
  })
}
const sample = JSON.parse(toObjectRow(obs[0], NODE))
if (Object.keys(sample).join() !== OBSERVATION_COLUMNS.join()) throw new Error('the object row does not have the columns of toRow')
if (JSON.stringify(Object.values(sample)) !== toRow(obs[0], NODE)) throw new Error('the object row does not hold the values of toRow')

let i = 0
const result = await race([
  { name: 'positional array (observations.ts toRow)', current: true, fn: () => toRow(obs[i++ & 63], NODE).length },
  { name: 'object with the same fields', fn: () => toObjectRow(obs[i++ & 63], NODE).length }
])
const [arr, objMs] = result.variants.map(v => v.ns.median)
const q = objMs / arr
emit({
  topic: 'observation-row',
  loadBefore,
  claims: [{ where: 'src/store/observations.ts:16', words: 'A positional array stringifies about twice as fast as an object with the same fields' }],
  sections: [{ title: `One row (${toRow(obs[0], NODE).length} bytes as an array, ${toObjectRow(obs[0], NODE).length} as an object)`, table: raceTable(result, { per: 'row' }) }],
  verdicts: [{ where: 'src/store/observations.ts:16', holds: q >= 1.6 ? true : q >= 1.2 ? null : false, measured: `array ${fmtNs(arr)}, object ${fmtNs(objMs)} per row: the object takes ${q.toFixed(2)}× as long (claim: about 2×)` }],
  data: { race: result }
})
