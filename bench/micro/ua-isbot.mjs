// src/classify/ua.ts (file comment) and src/classify/signals.ts:183: "isbot 5.2.3 calls
// `Outlook-Android/2.0` and `YahooMobile/1.0 (mail; …)` bots (measured)", which is why the
// email-client rules run before isbot. A check, not a race: what isbot answers for those
// agents, and what the project's analyzeAgent makes of them (it must say email client).
import { createRequire } from 'node:module'
import { isbot } from 'isbot'
import { userAgents } from './lib/project.mjs'
import { emit, fmtNs, loadNow, race } from './lib/race.mjs'
import { mdTable } from '../lib/report.mjs'

const loadBefore = loadNow()
const version = createRequire(import.meta.url)('isbot/package.json').version
const { analyzeAgent } = await userAgents()
const AGENTS = {
  'Outlook for Android': 'Outlook-Android/2.0',
  'Yahoo Mail for Android': 'YahooMobile/1.0 (mail; 6.27.2.1439484); (Linux; U; Android 10; SM-G973F Build/QP1A.190711.020);',
  'Outlook for iOS (control)': 'Outlook-iOS/709.2226530.prod.iphone (3.24.1)',
  'Googlebot (control)': 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'
}
const rows = []
const checks = {}
for (const [name, ua] of Object.entries(AGENTS)) {
  const a = analyzeAgent(ua)
  checks[name] = { ua, isbot: isbot(ua), clientType: a.clientType, clientName: a.clientName, isBot: a.isBot }
  rows.push([name, `\`${ua}\``, String(isbot(ua)), `${a.clientType} (${a.clientName})`])
}
const timing = await race([{ name: 'isbot', fn: () => isbot(AGENTS['Outlook for Android']) }], { batchMs: 5, rounds: 7 })
const flagged = checks['Outlook for Android'].isbot && checks['Yahoo Mail for Android'].isbot
const ours = checks['Outlook for Android'].clientType === 'email_client' && checks['Yahoo Mail for Android'].clientType === 'email_client'
emit({
  topic: 'ua-isbot',
  loadBefore,
  claims: [{ where: 'src/classify/ua.ts:8', words: 'isbot 5.2.3 calls `Outlook-Android/2.0` and `YahooMobile/1.0 (mail; …)` bots (measured)' }],
  sections: [{ title: `isbot ${version} against analyzeAgent`, table: mdTable(['agent', 'User-Agent', 'isbot()', 'analyzeAgent'], rows, 'llll') }],
  verdicts: [{ where: 'src/classify/ua.ts:8', holds: flagged, measured: `isbot ${version} flags Outlook-Android: ${checks['Outlook for Android'].isbot}, YahooMobile mail: ${checks['Yahoo Mail for Android'].isbot}; analyzeAgent reads both as email clients: ${ours} (isbot costs ${fmtNs(timing.variants[0].ns.median)} a call)` }],
  data: { isbotVersion: version, checks }
})
