// Hash routes: the part after # never reaches the server, so every page is the one index.html,
// and no secret ever goes into a URL (the token stays in sessionStorage).

/** [pattern, page name]: `:name` segments are parameters (percent-decoded). */
const ROUTES = [
  ['/', 'projects'],
  ['/projects/:project', 'routes'],
  ['/projects/:project/routes/:route', 'route-settings'],
  ['/projects/:project/webhooks', 'webhooks'],
  ['/projects/:project/webhooks/:webhook', 'webhook'],
  ['/projects/:project/domains', 'domains'],
  ['/projects/:project/analytics', 'analytics'],
  ['/projects/:project/clicks', 'clicks'],
  ['/projects/:project/messages/:message', 'message']
]

const COMPILED = ROUTES.map(([pattern, name]) => {
  const keys = []
  const source = pattern.split('/').map(part => {
    if (!part.startsWith(':')) return part
    keys.push(part.slice(1))
    return '([^/]+)'
  }).join('/')
  return { re: new RegExp(`^${source}$`), keys, name }
})

/** The current route: `{ name, params }`, or name 'not-found'. */
export function currentRoute () {
  let path = window.location.hash.replace(/^#/, '')
  if (path === '') path = '/'
  for (const r of COMPILED) {
    const m = r.re.exec(path)
    if (m === null) continue
    const params = {}
    try {
      r.keys.forEach((k, i) => { params[k] = decodeURIComponent(m[i + 1]) })
    } catch {
      break
    }
    return { name: r.name, params, path }
  }
  return { name: 'not-found', params: {}, path }
}

/** A link target for `#/…` with each parameter encoded. */
export function href (...parts) {
  return '#/' + parts.map(p => encodeURIComponent(p)).join('/')
}
