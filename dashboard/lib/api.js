// The Team API client: only the public endpoints an SDK can call, with the team token as a
// bearer header. The token lives in sessionStorage (this tab, until it closes) and is never
// put in a URL, logged or sent anywhere but this origin.
//
// Readers are tolerant of two shapes of the same answer: today's ids (`project_id`,
// `route_id`, `webhook_id`) or Lettermint's `id`, and a list as a bare array or `{data: [...]}`.

const KEY = 'clicktrail.token'

export function storedToken () {
  try { return window.sessionStorage.getItem(KEY) ?? '' } catch { return '' }
}

export function storeToken (token) {
  try { window.sessionStorage.setItem(KEY, token) } catch { /* private mode without storage: this page only */ }
  memory = token
}

export function forgetToken () {
  try { window.sessionStorage.removeItem(KEY) } catch { /* nothing stored */ }
  memory = ''
}

let memory = storedToken()
let onUnauthorized = () => {}

/** Called when the API answers 401: the token was revoked or mistyped. */
export function whenUnauthorized (fn) { onUnauthorized = fn }

/** An API refusal or failure: `code` is the API's stable CT_ERR_* code when it sent one. */
export class ApiError extends Error {
  constructor (status, code, message, details) {
    super(message)
    this.status = status
    this.code = code
    this.details = details
  }
}

export function errorOf (status, body, retryAfter) {
  const e = body?.error
  const obj = e !== null && typeof e === 'object' ? e : undefined
  const code = obj?.code ?? body?.code ?? (typeof e === 'string' ? e : undefined) ?? `HTTP_${status}`
  let message = obj?.message ?? body?.message ?? `the server answered ${status}`
  if (retryAfter) message += ` (retry after ${retryAfter} s)`
  return new ApiError(status, String(code), String(message), obj?.details ?? body?.details)
}

/** One request; resolves to the parsed JSON body (undefined for 204), rejects with ApiError. */
export async function call (method, path, body, token = memory) {
  const headers = { accept: 'application/json' }
  if (token !== '') headers.authorization = `Bearer ${token}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  let res
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit', redirect: 'error', referrerPolicy: 'no-referrer' })
  } catch {
    throw new ApiError(0, 'NETWORK', 'the server could not be reached')
  }
  const text = await res.text()
  let data
  try { data = text === '' ? undefined : JSON.parse(text) } catch { data = undefined }
  if (!res.ok) {
    const err = errorOf(res.status, data, res.headers.get('retry-after'))
    if (res.status === 401 && token === memory) onUnauthorized(err)
    throw err
  }
  return data
}

/** A list answer: a bare array or `{data: [...]}`. */
export function listOf (body) {
  if (Array.isArray(body)) return body
  if (body !== null && typeof body === 'object' && Array.isArray(body.data)) return body.data
  return []
}

/** A single object, unwrapped from `{data: {...}}` when it comes in an envelope. */
export function oneOf (body) {
  if (body === null || typeof body !== 'object') return body
  const d = body.data
  if (d !== null && typeof d === 'object' && !Array.isArray(d) && body.id === undefined && Object.keys(body).every(k => k === 'data' || k === 'meta')) return d
  return body
}

/** An object's id: today's `<kind>_id` or Lettermint's `id`. */
export function idOf (obj, kind) {
  return obj?.[`${kind}_id`] ?? obj?.id
}

const enc = encodeURIComponent

export const projects = async token => listOf(await call('GET', '/v1/projects', undefined, token))
export const project = async id => oneOf(await call('GET', `/v1/projects/${enc(id)}`))
export const routes = async projectId => listOf(await call('GET', `/v1/projects/${enc(projectId)}/routes`))
export const route = async id => oneOf(await call('GET', `/v1/routes/${enc(id)}`))
export const setTrackClicks = async (id, on) => oneOf(await call('PATCH', `/v1/routes/${enc(id)}`, { track_clicks: on }))

export const webhooks = async projectId => listOf(await call('GET', `/v1/projects/${enc(projectId)}/webhooks`))
export const webhook = async id => oneOf(await call('GET', `/v1/webhooks/${enc(id)}`))
export const createWebhook = async (projectId, body) => oneOf(await call('POST', `/v1/projects/${enc(projectId)}/webhooks`, body))
export const updateWebhook = async (id, body) => oneOf(await call('PATCH', `/v1/webhooks/${enc(id)}`, body))
export const deliveries = async id => listOf(await call('GET', `/v1/webhooks/${enc(id)}/deliveries`))
export const redeliver = async (id, eventId) => oneOf(await call('POST', `/v1/webhooks/${enc(id)}/events/${enc(eventId)}/redeliver`))
export const sendTest = async id => oneOf(await call('POST', `/v1/webhooks/${enc(id)}/test`))

export const domains = async projectId => listOf(await call('GET', `/v1/projects/${enc(projectId)}/domains`))
export const addDomain = async (projectId, hostname) => oneOf(await call('POST', `/v1/projects/${enc(projectId)}/domains`, { hostname }))
export const verifyDomain = async (projectId, hostname) => oneOf(await call('POST', `/v1/projects/${enc(projectId)}/domains/${enc(hostname)}/verify`))

/** POST /v1/analytics: the answer as it comes (README "Analytics API"). */
export const analytics = async body => await call('POST', '/v1/analytics', body)

/** A page of a project's clicks, newest first: the first page, or the one a `*_cursor_url` names. */
export async function recentClicks (projectId, { includeMachine = false, perPage = 50, days = 30, url, now = Date.now() } = {}) {
  // The last `days` days up to a minute from now (instants: the API's default range is whole UTC days).
  const to = new Date(now + 60_000)
  const from = new Date(to.getTime() - days * 86_400_000)
  const path = url ?? `/v1/projects/${enc(projectId)}/clicks?order=newest&per_page=${perPage}&include_machine_events=${includeMachine}&from=${enc(from.toISOString())}&to=${enc(to.toISOString())}`
  // A cursor URL comes from this API; anything else is refused rather than fetched.
  if (!path.startsWith('/v1/projects/')) throw new ApiError(0, 'BAD_CURSOR', 'not a page of this API')
  return await call('GET', path)
}

/** Every click of one message (people and machines), oldest first: at most `maxPages` pages of 1,000. */
export async function messageClicks (messageId, maxPages = 10) {
  const out = []
  let path = `/v1/messages/${enc(messageId)}/events?include_machine_events=true&per_page=1000`
  for (let i = 0; i < maxPages && path; i++) {
    const page = await call('GET', path)
    out.push(...listOf(page))
    const next = page?.meta?.next_cursor_url
    path = typeof next === 'string' && next.startsWith('/v1/messages/') ? next : ''
  }
  return { clicks: out, more: path !== '' }
}

/** A message's links as rewritten: GET /v1/messages/{id}/links. */
export const messageLinks = async messageId => listOf(await call('GET', `/v1/messages/${enc(messageId)}/links`))

/** The webhook event names, from the public OpenAPI document; the one event of today if it has none. */
export async function webhookEvents () {
  try {
    const doc = await call('GET', '/v1/openapi.json')
    const names = doc?.components?.schemas?.WebhookCreate?.properties?.events?.items?.enum
    if (Array.isArray(names) && names.length > 0 && names.every(n => typeof n === 'string')) return names
  } catch { /* the fallback below */ }
  return ['message.clicked']
}
