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

/** The hash without its `#`, and its route path and query text (what follows `?`). */
function splitHash () {
  const hash = window.location.hash.replace(/^#/, '')
  const at = hash.indexOf('?')
  return { hash, path: at === -1 ? hash : hash.slice(0, at), search: at === -1 ? '' : hash.slice(at + 1) }
}

/**
 * The current route: `{ name, params, path, query }`, or name 'not-found'. `query` is what
 * follows `?` in the hash (a page's own state, such as the analytics filters, so that a link
 * or a reload shows the same view); `path` is the whole hash, the page's identity.
 */
export function currentRoute () {
  const { hash, path: route, search } = splitHash()
  const query = new URLSearchParams(search)
  const path = route === '' ? '/' : route
  for (const r of COMPILED) {
    const m = r.re.exec(path)
    if (m === null) continue
    const params = {}
    try {
      r.keys.forEach((k, i) => { params[k] = decodeURIComponent(m[i + 1]) })
    } catch {
      break
    }
    return { name: r.name, params, path: hash, query }
  }
  return { name: 'not-found', params: {}, path: hash, query }
}

/**
 * Writes a page's state into the hash's query without a history entry or a hashchange (so
 * the page is not mounted again); empty values are left out.
 */
export function replaceQuery (values) {
  const { path } = splitHash()
  const q = new URLSearchParams()
  for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== '') q.set(k, v)
  const text = q.toString()
  const next = '#' + path + (text === '' ? '' : '?' + text)
  if (next !== window.location.hash) window.history.replaceState(window.history.state, '', next)
}

/** A link target for `#/…` with each parameter encoded. */
export function href (...parts) {
  return '#/' + parts.map(p => encodeURIComponent(p)).join('/')
}
