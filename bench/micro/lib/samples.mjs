// Realistic inputs of the micro benchmarks: observations as the redirect server captures
// them, user agents, email HTML from the corpus.
import { randomUUID } from 'node:crypto'
import { chromeHeaders, REDIRECT_REQUEST } from '../../lib/browser.mjs'
import { emailBuilder } from '../../lib/emails.mjs'

export { CORPUS } from '../../lib/emails.mjs'

/** An observation with every field the redirect server fills (a desktop Chrome's navigation headers). */
export function sampleObservation (i = 0) {
  const h = chromeHeaders(131, REDIRECT_REQUEST.host)
  return {
    ts: Date.now(),
    id: randomUUID(),
    sid: REDIRECT_REQUEST.sid,
    messageId: randomUUID(),
    linkIndex: i % 8,
    sentAt: Math.floor(Date.now() / 1000) - 3600,
    url: `${REDIRECT_REQUEST.destination}&c=${i}`,
    kid: 1,
    expired: false,
    retentionDays: 90,
    method: 'GET',
    host: REDIRECT_REQUEST.host,
    ip: `203.0.113.${i % 250}`,
    peerIp: `203.0.113.${i % 250}`,
    userAgent: h['User-Agent'],
    accept: h.Accept,
    acceptLanguage: h['Accept-Language'],
    acceptEncoding: h['Accept-Encoding'],
    secFetchSite: h['Sec-Fetch-Site'],
    secFetchMode: h['Sec-Fetch-Mode'],
    secFetchDest: h['Sec-Fetch-Dest'],
    secFetchUser: h['Sec-Fetch-User'],
    secChUa: h['sec-ch-ua'],
    secChUaMobile: h['sec-ch-ua-mobile'],
    secChUaPlatform: h['sec-ch-ua-platform'],
    secPurpose: '',
    purpose: '',
    xMoz: '',
    referer: h.Referer,
    via: '',
    dnt: '',
    upgradeInsecureRequests: h['Upgrade-Insecure-Requests'],
    blocked: false,
    scheme: 'https',
    xNativeHost: ''
  }
}

/** User agents a campaign's clicks come from, by kind. */
export const AGENTS = {
  'Android Chrome': 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.135 Mobile Safari/537.36',
  'Android Samsung': 'Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36',
  'iPhone Safari': 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1',
  'Windows Chrome': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'macOS Safari': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15'
}

/** An email of about `target` bytes (within 5 %) from the corpus, as bench/rewrite.mjs builds its emails. */
export function corpusEmail (target) {
  return emailBuilder()(target)
}
