import t from 'tap'
import {
  chromeMajorAt, classify, classifyBatch, classifyGroup, isSecureOrigin, REASON_CODES, reasonCodesMarkdown, THRESHOLD,
  type ClassifyInput
} from '../../src/classify/classify.js'
import { ALL_SIGNALS } from '../../src/classify/signals.js'

const SENT = 1_780_000_000 // 2026-05-28
const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36'
const CHROME_MAC = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36'
const FB_IOS = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/530.0.0.40.107;FBDV/iPhone15,2;FBSV/18.6]'

/** A Chrome navigation with every header a real click carries, `delay` seconds after send. */
function nav (delay: number, over: Partial<ClassifyInput> = {}): ClassifyInput {
  return Object.freeze({
    ts: (SENT + delay) * 1000,
    sentAt: SENT,
    method: 'GET',
    ip: '203.0.113.5',
    messageId: 'm1',
    linkIndex: 0,
    userAgent: CHROME,
    accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8',
    acceptLanguage: 'en-US,en;q=0.9',
    secFetchSite: 'cross-site',
    secFetchMode: 'navigate',
    secFetchDest: 'document',
    secFetchUser: '?1',
    secChUa: '"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"',
    secPurpose: '',
    purpose: '',
    xMoz: '',
    ...over
  })
}

/** The same request stripped of browser navigation headers. */
const bare = { secFetchSite: '', secFetchMode: '', secFetchDest: '', secFetchUser: '' }

t.test('a genuine click is the spec example, exactly', async t => {
  t.same(classify(nav(600)), {
    detected: false, probability: 0, classification: 'genuine', proxy_type: null, reason_codes: [], machine: false, counts_for_metrics: true
  })
})

t.test('decisive signals set the probability; negative points never pull them down', async t => {
  const v = classify(nav(600, { ip: '40.107.218.12' }))
  t.equal(v.classification, 'security_scanner')
  t.equal(v.proxy_type, 'microsoft_eop')
  t.equal(v.probability, 90, 'Sec-Fetch-User does not lower a decisive verdict')
  t.same(v.reason_codes, ['scanner_network_microsoft_eop'])
  t.ok(v.machine && !v.counts_for_metrics && v.detected)
})

t.test('additive points add up; the strongest class wins; reasons strongest first', async t => {
  const v = classify(nav(12, { ...bare, secChUa: '' }))
  t.same(v.reason_codes, ['fetch_metadata_missing', 'sent_lt_30s', 'client_hints_missing'])
  t.equal(v.probability, 35 + 25 + 15)
  t.equal(v.classification, 'generic_bot')
  const human = classify(nav(12))
  t.equal(human.probability, 5, 'a fast human: +25 for timing, −20 for Sec-Fetch-User')
  t.notOk(human.machine)
})

t.test('time since send: only < 2 s is strong on its own', async t => {
  t.equal(classify(nav(1.5, { secFetchUser: '' })).classification, 'security_scanner')
  t.ok(classify(nav(1.5)).machine, 'even with Sec-Fetch-User: 80 − 20 = 60')
  t.notOk(classify(nav(2.5, { secFetchUser: '' })).machine)
  t.same(classify(nav(90, { secFetchUser: '' })).reason_codes, ['sent_lt_120s'])
  t.same(classify(nav(-3)).reason_codes, ['sent_lt_2s'], 'clock skew (click before send) counts as 0 s')
  t.same(classify(nav(600, { sentAt: 0, ts: (SENT + 1) * 1000 })).reason_codes, [], 'unknown send time: no timing signal')
})

t.test('HEAD and missing agents: scanner with scanner evidence, else generic bot', async t => {
  t.equal(classify(nav(600, { method: 'HEAD' })).classification, 'generic_bot')
  t.equal(classify(nav(600, { method: 'HEAD', ip: '104.47.1.1' })).classification, 'security_scanner')
  t.equal(classify(nav(0.5, { method: 'HEAD' })).classification, 'security_scanner')
  t.equal(classify(nav(90, { method: 'HEAD' })).classification, 'generic_bot', 'weak timing is no scanner evidence')
  t.equal(classify(nav(600, { method: 'OPTIONS' })).reason_codes[0], 'method_head')
  const empty = { userAgent: '', secChUa: '', ...bare }
  t.equal(classify(nav(600, empty)).classification, 'generic_bot')
  t.same(classify(nav(600, empty)).reason_codes, ['agent_missing'], 'no browser-header heuristics for a missing agent')
  t.equal(classify(nav(1, empty)).classification, 'security_scanner')
  t.equal(classify(nav(600, { ...empty, ip: '2a01:111:f403::9' })).proxy_type, 'microsoft_eop')
})

t.test('agent families come before isbot; isbot is the fallback', async t => {
  const slack = classify(nav(600, { userAgent: 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)', ...bare }))
  t.same([slack.classification, slack.proxy_type, slack.reason_codes], ['link_preview', 'slack', ['link_preview_slack']])
  const curl = classify(nav(600, { userAgent: 'curl/8.5.0', ...bare }))
  t.same([curl.classification, curl.reason_codes], ['generic_bot', ['isbot_match']])
  const outlook = classify(nav(600, { userAgent: 'Outlook-Android/2.0', ...bare, accept: '*/*', acceptLanguage: '', secChUa: '' }))
  t.notOk(outlook.machine, 'an email client isbot calls a bot is not one')
  const headless = classify(nav(600, { secChUa: '"Chromium";v="142", "HeadlessChrome";v="142"', secFetchUser: '' }))
  t.same([headless.classification, headless.reason_codes[0]], ['security_scanner', 'scanner_headless_client_hints'])
})

t.test('prefetch headers', async t => {
  t.same(classify(nav(600, { secPurpose: 'prefetch;anonymous-client-ip', secFetchUser: '' })).proxy_type, 'chrome_private_prefetch')
  t.equal(classify(nav(600, { secPurpose: 'prefetch;anonymous-client-ip' })).classification, 'privacy_proxy')
  t.equal(classify(nav(600, { secPurpose: 'Prefetch' })).classification, 'generic_bot')
  t.equal(classify(nav(600, { purpose: 'prefetch' })).classification, 'generic_bot')
  t.equal(classify(nav(600, { xMoz: 'prefetch' })).classification, 'generic_bot')
})

t.test('privacy relay stays genuine and names itself', async t => {
  const v = classify(nav(600, { ip: '172.224.226.37' }))
  t.same([v.classification, v.machine, v.proxy_type, v.reason_codes], ['genuine', false, 'icloud_private_relay', ['icloud_private_relay']])
  const mpp = classify(nav(3, { userAgent: 'Mozilla/5.0', ...bare, ip: '172.225.62.18' }))
  t.same([mpp.classification, mpp.proxy_type], ['privacy_proxy', 'apple_mpp'], 'the deciding signal\'s proxy type wins')
})

t.test('vendor networks count only early after send', async t => {
  const early = classify(nav(300, { ...bare, ip: '205.139.110.61' }))
  t.equal(early.classification, 'security_scanner')
  t.equal(early.reason_codes[0], 'vendor_network_mimecast')
  t.notOk(classify(nav(3600, { ...bare, ip: '205.139.110.61' })).reason_codes.includes('vendor_network_mimecast'))
  t.notOk(classify(nav(300, { ip: '205.139.110.61' })).machine, 'a person in browser isolation with full headers')
})

t.test('burst: ≥ 3 distinct links inside one 2 s window', async t => {
  const a = nav(60, { linkIndex: 0, secFetchUser: '' })
  const b = nav(61, { linkIndex: 1, secFetchUser: '' })
  const c = nav(61.9, { linkIndex: 2, secFetchUser: '' })
  const group = [a, b, c]
  for (const o of group) t.ok(classify(o, { siblings: group }).reason_codes.includes('burst_links'))
  const spread = [nav(60, { linkIndex: 0 }), nav(61.5, { linkIndex: 1 }), nav(63, { linkIndex: 2 })]
  for (const o of spread) t.notOk(classify(o, { siblings: spread }).reason_codes.includes('burst_links'), 'no 2 s window holds all three')
  const sameLink = [nav(60), nav(60.5), nav(61)]
  t.notOk(classify(sameLink[0], { siblings: sameLink }).reason_codes.includes('burst_links'), 'repeats of one link are no burst')
  const otherMessage = [a, { ...b, messageId: 'm2' }, c]
  t.notOk(classify(a, { siblings: otherMessage }).reason_codes.includes('burst_links'), 'only the same message counts')
  t.notOk(classify(a).reason_codes.includes('burst_links'), 'provisional verdict: no context')
  const tabs = [nav(640, { linkIndex: 0 }), nav(640.6, { linkIndex: 1 }), nav(641.3, { linkIndex: 2 })]
  t.notOk(classify(tabs[2], { siblings: tabs }).machine, 'three tabs opened by a person (Sec-Fetch-User): 70 − 20 = 50')
})

t.test('every link of a message with ≥ 3 links', async t => {
  const group = [nav(300, { linkIndex: 0, secFetchUser: '' }), nav(306.5, { linkIndex: 1, secFetchUser: '' }), nav(311, { linkIndex: 2, secFetchUser: '' })]
  t.same(classify(group[1], { siblings: group, linkCount: 3 }).reason_codes, ['burst_all_links'])
  t.same(classify(group[1], { siblings: group }).reason_codes, [], 'unknown link count: no signal')
  t.same(classify(group[1], { siblings: group, linkCount: 4 }).reason_codes, [], 'one link not fetched')
  const two = [nav(300, { linkIndex: 0 }), nav(301, { linkIndex: 1 })]
  t.same(classify(two[0], { siblings: two, linkCount: 2 }).reason_codes, [], 'a two-link message is too small')
})

t.test('shadow pair: the one without navigation headers is the machine', async t => {
  const human = nav(300, { userAgent: CHROME_MAC, ip: '2001:db8:4a1::23' })
  const scanner = nav(312, { ...bare, ip: '168.90.91.133' })
  const group = [human, scanner]
  const v = classify(scanner, { siblings: group })
  t.equal(v.reason_codes[0], 'shadow_pair')
  t.equal(v.classification, 'security_scanner')
  t.same(classify(human, { siblings: group }).reason_codes, [], 'the person is untouched')
  t.notOk(classify(nav(316, { ...bare, ip: '168.90.91.133' }), { siblings: [human] }).reason_codes.includes('shadow_pair'), 'more than 15 s apart')
  t.notOk(classify(nav(305, { ...bare, userAgent: CHROME_MAC, ip: '2001:db8:4a1::23' }), { siblings: [human] }).reason_codes.includes('shadow_pair'), 'same address and OS: the same person')
  t.ok(classify(nav(305, { ...bare, userAgent: CHROME, ip: '2001:db8:4a1::23' }), { siblings: [human] }).reason_codes.includes('shadow_pair'), 'same address, other OS')
  t.notOk(classify(nav(305, { ...bare, userAgent: FB_IOS, ip: '198.51.100.9' }), { siblings: [human] }).reason_codes.includes('shadow_pair'), 'in-app web views are not judged')
  t.notOk(classify(nav(305, { ...bare, linkIndex: 1, ip: '198.51.100.9' }), { siblings: [human] }).reason_codes.includes('shadow_pair'), 'another link')
})

t.test('one address clicking for many recipients', async t => {
  t.same(classify(nav(600), { addressRecipients: 5 }).reason_codes, ['address_many_recipients'])
  t.same(classify(nav(600), { addressRecipients: 4 }).reason_codes, [])
})

t.test('browser headers: lowered for in-app browsers, HTTPS only, stale Chrome by click time', async t => {
  t.same(classify(nav(600, { userAgent: FB_IOS, ...bare, secChUa: '' })).reason_codes, ['fetch_metadata_missing_in_app'])
  t.same(classify(nav(600, { ...bare, secure: false, secChUa: '' })).reason_codes, [], 'no Fetch Metadata or hints over plain HTTP')
  t.same(classify(nav(600, { acceptLanguage: '', accept: '*/*' })).reason_codes, ['accept_language_missing', 'accept_not_html'])
  t.equal(chromeMajorAt(Date.UTC(2025, 7, 5)), 139, 'Chrome 139 was current on 2025-08-05')
  t.equal(chromeMajorAt(Date.UTC(2022, 2, 29)), 100)
  const old = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'
  t.notOk(classify(nav(600, { userAgent: old, ts: Date.UTC(2024, 0, 1) })).reason_codes.includes('chrome_stale'), 'Chrome 120 in January 2024 is current')
  t.ok(classify(nav(600, { userAgent: old, ts: Date.UTC(2027, 0, 1) })).reason_codes.includes('chrome_stale'), 'and stale in 2027')
})

t.test('pure and deterministic; batches equal single calls', async t => {
  const group = [nav(60, { linkIndex: 0 }), nav(61, { linkIndex: 1 }), nav(61.5, { linkIndex: 2, ip: '40.107.1.1' })]
  const once = classifyGroup(group, { linkCount: () => 3 })
  t.same(classifyGroup(group, { linkCount: () => 3 }), once, 'same input, same output')
  t.same(classifyBatch(group.map(o => ({ obs: o, context: { siblings: group, linkCount: 3 } }))), once)
  t.ok(group.every(o => Object.isFrozen(o)), 'inputs were frozen and classification did not throw on them')
})

t.test('reason codes: documented, snake_case, unique, with a source', async t => {
  t.equal(THRESHOLD, 60)
  const codes = Object.keys(REASON_CODES)
  t.equal(codes.length, ALL_SIGNALS.length)
  for (const c of codes) {
    t.match(c, /^[a-z][a-z0-9_]*$/)
    t.ok(REASON_CODES[c].meaning.length > 0 && REASON_CODES[c].source.length > 0, `${c} has a meaning and a source`)
  }
  const md = reasonCodesMarkdown()
  for (const c of codes) t.ok(md.includes(`\`${c}\``), `${c} is in the Markdown table`)
  t.match(md, /^Threshold: machine when probability ≥ 60\./)
})

// Issue 16: what a browser sends depends on the origin's scheme.
t.test('isSecureOrigin: https, and http only on the origins browsers trust', async t => {
  t.equal(isSecureOrigin('https', 'pacme.t.example.com'), true)
  t.equal(isSecureOrigin('http', 'pacme.t.example.com'), false, 'a plain-http tracking host')
  t.equal(isSecureOrigin('', 'track.example.com'), false, 'unknown: nothing says a browser would have sent the headers')
  t.equal(isSecureOrigin('http', 'localhost:8080'), true)
  t.equal(isSecureOrigin('http', 'pacme.t.localhost:8080'), true, '*.localhost')
  t.equal(isSecureOrigin('http', 'PACME.T.LOCALHOST.'), true, 'case and a trailing dot')
  t.equal(isSecureOrigin('http', '127.0.0.1:8080'), true)
  t.equal(isSecureOrigin('http', '[::1]:8080'), true)
  t.equal(isSecureOrigin('http', '[2001:db8::1]:8080'), false)
  t.equal(isSecureOrigin('http', 'localhost.example.com'), false, 'not a localhost name')
  t.equal(isSecureOrigin('http', '127.0.0.1.example.com'), false)
})

t.test('a Chrome click on an http tracking host soon after send is genuine; the same headers over https are not', async t => {
  // What Chrome sends to an http origin: no Sec-Fetch-*, no client hints (see the corpus).
  const http = { ...bare, secChUa: '', secure: false }
  for (const delay of [20, 60]) {
    const v = classify(nav(delay, http))
    t.equal(v.machine, false, `+${delay} s over http: ${v.probability} [${v.reason_codes.join(', ')}]`)
    t.equal(v.classification, 'genuine')
    const overHttps = classify(nav(delay, { ...http, secure: true }))
    t.equal(overHttps.machine, true, `+${delay} s, the same headers over https: ${overHttps.probability}`)
  }
  t.same(classify(nav(20, http)).reason_codes, ['sent_lt_30s'], 'only the time since send counts')
  t.equal(classify(nav(0.5, http)).machine, true, 'under 2 s is still a machine')
  t.equal(classify(nav(600, { ...http, acceptLanguage: '', accept: '*/*' })).reason_codes.includes('accept_language_missing'), true,
    'headers browsers send to any origin still count')
})

t.test('shadow pairs need a secure origin: over http neither request navigates', async t => {
  const human = nav(300, { ip: '198.51.100.1', userAgent: CHROME_MAC })
  const other = nav(305, { ...bare, secChUa: '', ip: '203.0.113.77' })
  t.ok(classifyGroup([human, other])[1].reason_codes.includes('shadow_pair'), 'over https: a pair')
  t.notOk(classifyGroup([human, { ...other, secure: false }])[1].reason_codes.includes('shadow_pair'), 'over http: no pair')
})

t.test('the new Outlook: never decisive alone; its fetch without navigation headers is a machine', async t => {
  // The agent of next-auth issue 1840 (2023), with the WebView2 version current at SENT.
  const oneOutlook = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/146.0.0.0 Safari/537.36 Edg/146.0.3856.62 OneOutlook/1.2026.508.400'
  const navigation = classify(nav(600, { userAgent: oneOutlook, secChUa: '' }))
  t.equal(navigation.machine, false, `a navigation in the new Outlook: ${navigation.probability}`)
  t.same(navigation.reason_codes, ['new_outlook_fetch'])
  const check = classify(nav(600, { ...bare, userAgent: oneOutlook, secChUa: '', xNativeHost: 'OneOutlook/1.2023.927.100' }))
  t.equal(check.machine, true, `the Safe Links check: ${check.probability}`)
  t.equal(check.classification, 'security_scanner')
  t.equal(check.proxy_type, 'new_outlook')
  const headerOnly = classify(nav(600, { ...bare, xNativeHost: 'OneOutlook/1.2023.927.100' }))
  t.ok(headerOnly.reason_codes.includes('new_outlook_fetch'), 'the header alone names it')
  t.notOk(classify(nav(600, { xNativeHost: 'tauri' })).reason_codes.includes('new_outlook_fetch'), 'another app\'s x-native-host is nothing')
  // The check and the browser it opens the link in: same address, same OS, seconds apart.
  const pair = classifyGroup([nav(600, { ...bare, userAgent: oneOutlook, secChUa: '', xNativeHost: 'OneOutlook/1' }), nav(602)])
  t.ok(pair[0].reason_codes.includes('shadow_pair'), 'the check is the shadow of the navigation')
  t.equal(pair[1].machine, false, 'the browser click is the person')
})

t.test('newer network ranges', async t => {
  const barracuda = classify(nav(9000, { ip: '35.157.190.230' }))
  t.equal(barracuda.classification, 'security_scanner')
  t.equal(barracuda.proxy_type, 'barracuda')
  t.same(barracuda.reason_codes, ['scanner_network_barracuda'], 'Barracuda Email Gateway Defense, any time')
  t.equal(classify(nav(9000, { ip: '209.222.82.17' })).proxy_type, 'barracuda')
  t.equal(classify(nav(9000, { ip: '35.157.190.223' })).machine, false, 'the address just below the /27 is not Barracuda\'s')
  const eop = classify(nav(9000, { ip: '52.238.78.88' }))
  t.same([eop.classification, eop.proxy_type], ['security_scanner', 'microsoft_eop'], '52.238.78.88/32')
  t.equal(classify(nav(9000, { ip: '52.238.78.89' })).machine, false)
  // Safe Links from unlisted Microsoft addresses: weight only near delivery.
  const safeLinksAgent = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/72.0.3626.109 Safari/537.36'
  const early = classify(nav(9, { ...bare, secChUa: '', userAgent: safeLinksAgent, ip: '40.94.16.33' }))
  t.equal(early.machine, true, `40.94.16.x 9 s after send: ${early.probability}`)
  t.equal(early.proxy_type, 'microsoft_eop')
  t.ok(early.reason_codes.includes('vendor_network_microsoft_safe_links'))
  t.equal(classify(nav(7200, { ip: '40.94.16.33' })).machine, false, 'two hours later from the same range with full headers: a person')
  t.equal(classify(nav(9, { ip: '40.94.17.1' })).reason_codes.includes('vendor_network_microsoft_safe_links'), false, 'outside the /24')
})
