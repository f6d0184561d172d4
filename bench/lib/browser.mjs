// What the clicks of the benches look like: a mail reader's browser following a link.

/** The redirect and ingest benches' request: sid, Host, destination and browser-like headers. */
export const REDIRECT_REQUEST = (() => {
  const sid = 'bench'
  const host = `p${sid}.t.localhost` // tracking base http://t.localhost:8080 (the default)
  return {
    sid,
    host,
    destination: 'https://shop.example.com/spring-sale/shoes?utm_source=newsletter&utm_medium=email&utm_campaign=spring',
    headers: {
      Host: host,
      'User-Agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
      Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
      'Accept-Language': 'en-US,en;q=0.9',
      'Accept-Encoding': 'gzip, deflate, br'
    }
  }
})()

/**
 * Browser navigation headers of a current desktop Chrome following a link from webmail:
 * the Chrome major is the one current at the click time by the classifier's own release
 * train estimate, so the stale-Chrome signal does not fire; Fetch Metadata with
 * Sec-Fetch-User, client hints, Accept-Language and an HTML Accept are all present.
 */
export function chromeHeaders (major, host) {
  return {
    Host: host,
    Connection: 'keep-alive',
    'sec-ch-ua': `"Chromium";v="${major}", "Google Chrome";v="${major}", "Not/A)Brand";v="24"`,
    'sec-ch-ua-mobile': '?0',
    'sec-ch-ua-platform': '"Windows"',
    'Upgrade-Insecure-Requests': '1',
    'User-Agent': `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${major}.0.0.0 Safari/537.36`,
    Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7',
    'Sec-Fetch-Site': 'cross-site',
    'Sec-Fetch-Mode': 'navigate',
    'Sec-Fetch-User': '?1',
    'Sec-Fetch-Dest': 'document',
    Referer: 'https://mail.example.net/',
    'Accept-Encoding': 'gzip, deflate, br, zstd',
    'Accept-Language': 'en-US,en;q=0.9,de;q=0.8',
    Priority: 'u=0, i'
  }
}
