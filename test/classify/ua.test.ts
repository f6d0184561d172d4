import t from 'tap'
import { analyzeAgent, clientFields, matchFamily, memoSize, parseAgent } from '../../src/classify/ua.js'

// Real agent strings (as published by the vendors or collected in public UA fixtures), with
// the fields the webhook reports.
const TABLE: Array<[string, string, 'desktop' | 'mobile' | 'tablet' | '', string, string]> = [
  ['Chrome, Windows', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36', 'desktop', 'browser', 'Chrome'],
  ['Chrome, macOS', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36', 'desktop', 'browser', 'Chrome'],
  ['Chrome, Linux', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36', 'desktop', 'browser', 'Chrome'],
  ['Chrome, Android phone', 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36', 'mobile', 'browser', 'Chrome'],
  ['Chrome, iPhone (CriOS)', 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/142.0.7444.77 Mobile/15E148 Safari/604.1', 'mobile', 'browser', 'Chrome'],
  ['Firefox, Windows', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0', 'desktop', 'browser', 'Firefox'],
  ['Firefox, Ubuntu', 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0', 'desktop', 'browser', 'Firefox'],
  ['Firefox, Android', 'Mozilla/5.0 (Android 15; Mobile; rv:145.0) Gecko/145.0 Firefox/145.0', 'mobile', 'browser', 'Firefox'],
  ['Firefox, iPhone (FxiOS)', 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/145.0 Mobile/15E148 Safari/605.1.15', 'mobile', 'browser', 'Firefox'],
  ['Safari, macOS', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Safari/605.1.15', 'desktop', 'browser', 'Safari'],
  ['Safari, iPhone', 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Mobile/15E148 Safari/604.1', 'mobile', 'browser', 'Safari'],
  ['Safari, iPad', 'Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.7 Mobile/15E148 Safari/604.1', 'tablet', 'browser', 'Safari'],
  ['Edge, Windows', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0', 'desktop', 'browser', 'Edge'],
  ['Edge, Android', 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36 EdgA/142.0.0.0', 'mobile', 'browser', 'Edge'],
  ['Opera, Windows', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 OPR/124.0.0.0', 'desktop', 'browser', 'Opera'],
  ['Samsung Internet, Galaxy S23', 'Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36', 'mobile', 'browser', 'Samsung Internet'],
  ['Chrome, Galaxy Tab S9', 'Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36', 'tablet', 'browser', 'Chrome'],
  ['Chrome, Lenovo tablet', 'Mozilla/5.0 (Linux; Android 12; Lenovo TB-J606F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36', 'tablet', 'browser', 'Chrome'],
  ['Outlook for Windows', 'Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)', 'desktop', 'email_client', 'Outlook'],
  ['the new Outlook for Windows (next-auth issue 1840)', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/117.0.0.0 Safari/537.36 Edg/117.0.2045.47 OneOutlook/1.2023.927.100', 'desktop', 'email_client', 'Outlook'],
  ['Outlook (Office protocol discovery)', 'Mozilla/4.0 (compatible; ms-office; MSOffice 16)', '', 'email_client', 'Outlook'],
  ['Outlook for Mac', 'MacOutlook/16.89.24091630 (Intel Mac OS X 10.15.7)', 'desktop', 'email_client', 'Outlook'],
  ['Outlook for iOS', 'Outlook-iOS/709.2226530.prod.iphone (4.2413.0)', 'mobile', 'email_client', 'Outlook'],
  ['Outlook for Android', 'Outlook-Android/2.0', 'mobile', 'email_client', 'Outlook'],
  ['Gmail for iOS web view', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 GmailApp/6.0', 'mobile', 'email_client', 'Gmail'],
  ['Apple Mail, macOS', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)', 'desktop', 'email_client', 'Apple Mail'],
  ['Thunderbird', 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0', 'desktop', 'email_client', 'Thunderbird'],
  ['Yahoo Mail for Android', 'YahooMobile/1.0 (mail; 3.0.5.1311380); (Linux; U; Android 4.0.3; htc_runnymede Build/ICE_CREAM_SANDWICH_MR1);', 'mobile', 'email_client', 'Yahoo Mail'],
  ['Facebook in-app, iOS', 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/530.0.0.40.107;FBBV/785421363;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/18.6;FBSS/3;FBID/phone;FBLC/en_US;FBOP/5;FBRV/786913000]', 'mobile', 'app', 'Facebook'],
  ['Facebook in-app, Android', 'Mozilla/5.0 (Linux; Android 14; SM-G991B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/142.0.7444.48 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/530.0.0.44.74;]', 'mobile', 'app', 'Facebook'],
  ['Instagram in-app, iOS', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 Instagram 300.0.0.18.110 (iPhone15,2; iOS 17_5; de_DE; de-DE; scale=3.00; 1179x2556)', 'mobile', 'app', 'Instagram'],
  ['LinkedIn in-app, iOS', 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [LinkedInApp]/9.32.2485', 'mobile', 'app', 'LinkedIn'],
  ['Google App (GSA), iOS', 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) GSA/390.0.799750372 Mobile/15E148 Safari/604.1', 'mobile', 'app', 'Google App'],
  ['Android WebView of an app', 'Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/142.0.7444.48 Mobile Safari/537.36', 'mobile', 'app', 'Android WebView'],
  ['iOS app web view', 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148', 'mobile', 'app', 'iOS WebView'],
  ['Slack unfurler', 'Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)', '', 'bot', 'Slack'],
  ['iMessage preview', 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0', '', 'bot', 'iMessage'],
  ['Gmail image proxy', 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)', '', 'proxy', 'GoogleImageProxy'],
  ['curl', 'curl/8.5.0', '', 'bot', 'curl'],
  ['python-requests', 'python-requests/2.31.0', '', 'bot', 'python-requests'],
  ['empty', '', '', 'unknown', 'Unknown']
]

t.test('device, client type and client name for real agents', async t => {
  t.ok(TABLE.length >= 25)
  for (const [label, ua, device, type, name] of TABLE) {
    t.same(clientFields(ua), { device_type: device, client_type: type, client_name: name }, label)
  }
})

t.test('families: most specific pattern wins, exact agents, case-insensitive', async t => {
  t.equal(matchFamily('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0')?.id, 'imessage')
  t.equal(matchFamily('facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)')?.id, 'facebook')
  t.equal(matchFamily('Mozilla/5.0')?.id, 'apple_mpp', 'a bare Mozilla/5.0')
  t.equal(matchFamily(' mozilla/5.0 ')?.id, 'apple_mpp')
  t.equal(matchFamily('Mozilla/5.0 (Windows NT 10.0)'), undefined, 'Mozilla/5.0 with more is not the bare agent')
  t.equal(matchFamily('BARRACUDA SENTINEL (EE)')?.id, 'barracuda')
  t.equal(matchFamily('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 Mozilla/5.0')?.id, 'gmail_prefetch')
  t.equal(matchFamily('Mozilla/5.0 (Windows; U; MSIE 9.0; Windows NT 9.0; en-US) AppEngine-Google; (+http://code.google.com/appengine; appid: s~virustotalcloud)')?.id, 'virustotal')
  t.equal(matchFamily('Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [LinkedInApp]/9.29.1234'), undefined, 'the LinkedIn app is a person, LinkedInBot is not')
})

t.test('isbot runs after our own lists', async t => {
  // isbot 5.2.3 flags these two email-client agents; our email-client rules claim them first.
  t.equal(parseAgent('Outlook-Android/2.0').isBot, false)
  t.equal(parseAgent('YahooMobile/1.0 (mail; 3.0.5.1311380); (Linux; U; Android 4.0.3; htc_runnymede Build/ICE_CREAM_SANDWICH_MR1);').isBot, false)
  t.equal(parseAgent('curl/8.5.0').isBot, true)
  t.equal(parseAgent('Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)').isBot, false, 'a family, not a generic bot')
})

t.test('Fetch Metadata and client hint expectations', async t => {
  const a = (ua: string): { fm: boolean, ch: boolean, chrome: number } => {
    const x = analyzeAgent(ua)
    return { fm: x.fetchMetadata, ch: x.clientHints, chrome: x.chromeMajor }
  }
  t.same(a('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36'), { fm: true, ch: true, chrome: 142 })
  t.same(a('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.136 Safari/537.36'), { fm: false, ch: false, chrome: 79 }, 'Chrome 79: before both')
  t.same(a('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/85.0.4183.83 Safari/537.36'), { fm: true, ch: false, chrome: 85 }, 'Chrome 85: Fetch Metadata, no hints yet')
  t.same(a('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0'), { fm: true, ch: false, chrome: 0 })
  t.same(a('Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:89.0) Gecko/20100101 Firefox/89.0'), { fm: false, ch: false, chrome: 0 })
  t.same(a('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.4 Safari/605.1.15'), { fm: true, ch: false, chrome: 0 })
  t.same(a('Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.3 Safari/605.1.15'), { fm: false, ch: false, chrome: 0 })
  t.same(a('Mozilla/5.0 (iPhone; CPU iPhone OS 15_8 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/15.6.6 Mobile/15E148 Safari/604.1'), { fm: false, ch: false, chrome: 0 }, 'iOS 15')
  t.same(a('Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/124.0.6367.88 Mobile/15E148 Safari/604.1'), { fm: true, ch: false, chrome: 0 }, 'Chrome on iOS is WebKit: no client hints')
  t.same(a('Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36'), { fm: true, ch: false, chrome: 130 }, 'Samsung Internet: hints unverified, not expected')
  t.equal(analyzeAgent('Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)').browserLike, false, 'an email client is not judged on browser headers')
  t.equal(analyzeAgent('Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 [FBAN/FBIOS;FBAV/530.0.0.40.107]').inApp, true)
})

t.test('device_type is what the agent names, never a guess', async t => {
  const device = (ua: string): string => clientFields(ua).device_type
  // Nothing fetched on a person's device, or the agent does not say which: '' (null in webhooks).
  t.equal(device(''), '', 'an empty agent')
  t.equal(device('   '), '', 'a blank agent')
  t.equal(device('curl/8.5.0'), '', 'a self-declared bot')
  t.equal(device('Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'), '', 'a crawler')
  t.equal(device('Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.7390.122 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)'), '', 'a crawler with a phone\'s tokens: not a person\'s phone')
  t.equal(device('WhatsApp/2.23.20.0 A'), '', 'a link-preview fetcher')
  t.equal(device('Barracuda Sentinel (EE)'), '', 'a scanner')
  t.equal(device('Mozilla/5.0'), '', 'a privacy fetcher')
  t.equal(device('Mozilla/5.0 (PlayStation; PlayStation 5/2.26) AppleWebKit/605.1.15 (KHTML, like Gecko)'), '', 'a console: none of the three')
  t.equal(device('Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/538.1 (KHTML, like Gecko) Version/6.0 TV Safari/538.1'), '', 'a TV: none of the three')
  // What a person's agent names.
  t.equal(device('Mozilla/5.0 (X11; FreeBSD amd64; rv:128.0) Gecko/20100101 Firefox/128.0'), 'desktop', 'a desktop BSD')
  t.equal(device('Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36'), 'desktop', 'ChromeOS')
  t.equal(device('Outlook-iOS/709.2189947.prod.iphone (3.24.1)'), 'mobile', 'Outlook for iPhone names its phone')
  t.equal(device('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.93 Safari/537.36'), 'desktop', 'a Safe Links fetch claims Windows: the agent says desktop, the verdict says machine')
})

t.test('the new Outlook is an email client judged on browser headers', async t => {
  const a = analyzeAgent('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/117.0.0.0 Safari/537.36 Edg/117.0.2045.47 OneOutlook/1.2023.927.100')
  t.equal(a.newOutlook, true)
  t.equal(a.browserLike, true, 'a WebView2: its requests carry Edge\'s headers')
  t.equal(a.fetchMetadata, true)
  t.equal(a.clientHints, false, 'not expected of the web view')
  t.equal(a.isBot, false)
  t.equal(analyzeAgent('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0').newOutlook, false, 'Edge itself')
})

t.test('the memo is bounded', async t => {
  for (let i = 0; i < 5000; i++) parseAgent(`TestAgent/${i}`)
  t.ok(memoSize() <= 4096, `memo holds ${memoSize()}`)
  const long = 'x'.repeat(600)
  const before = memoSize()
  parseAgent(long)
  t.ok(memoSize() <= before, 'very long agents are not memoized')
  t.equal(parseAgent('Outlook-Android/2.0'), parseAgent('Outlook-Android/2.0'), 'repeat agents hit the memo')
})
