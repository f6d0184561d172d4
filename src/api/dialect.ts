import { ClicktrailError } from '../errors.js'

/*
 * The Team API speaks two dialects over the same routes. `clicktrail` at /v1: the answers
 * clicktrail always gave (errors `{"error": {"code", "message"}}`, bare objects, 204 on
 * delete). `lettermint` at /lettermint/v1: Lettermint's own answers where they differ, so that
 * Lettermint's SDK works with only its baseUrl changed — it reads `error` as a string, parses
 * every answer as JSON (a 204 makes it throw) and expects `{data, message}` from the calls
 * that create or change a thing. Fields are otherwise the same in both: Lettermint's names
 * (`id`, `route_type`, `settings`…) are there beside clicktrail's in either.
 */

export type Dialect = 'clicktrail' | 'lettermint'

/** Where the Lettermint dialect is served: `<base>/v1/...`; the SDK's baseUrl is `http://host:port/lettermint/v1`. */
export const LETTERMINT_BASE = '/lettermint'

/**
 * An error answer. clicktrail: `{"error": {"code", "message", "details"?}}`. Lettermint:
 * `{"error": message, "code", "message", "details"?}` — the SDK puts `error` into its
 * ValidationError (422) or ClientError (400); the stable code is beside it.
 */
export function errorBody (dialect: Dialect, code: string, message: string, details?: unknown): Record<string, unknown> {
  const extra = details === undefined ? {} : { details }
  if (dialect === 'lettermint') return { error: message, code, message, ...extra }
  return { error: { code, message, ...extra } }
}

/** The answer to a delete: 204 for clicktrail's clients; Lettermint's `{message}` (the SDK parses every answer). */
export function deletedReply (dialect: Dialect, message: string): { status: number, body?: unknown } {
  return dialect === 'lettermint' ? { status: 200, body: { message } } : { status: 204 }
}

/** The area of Lettermint's API an endpoint belongs to, and why clicktrail does not serve it. */
export interface NotServedArea { area: string, reason: string, paths: RegExp[] }

/**
 * Endpoints of Lettermint's API (as its SDK 2.7.0 calls them) that clicktrail does not serve:
 * a call gets 404 CT_ERR_NOT_SERVED with the area and the reason, in either dialect. Endpoints
 * not listed here and not served are 404 CT_ERR_NOT_FOUND; a served path with another method
 * is 405 with Allow.
 */
export const NOT_SERVED: readonly NotServedArea[] = [
  { area: 'sending', reason: 'clicktrail tracks the clicks of mail sent elsewhere; it sends no mail', paths: [/^\/v1\/send(?:\/batch)?$/, /^\/v1\/blocked-file-types$/] },
  { area: 'domains', reason: 'sending domains and their DNS are Lettermint\'s; clicktrail\'s tracking domains are /v1/projects/{id}/domains', paths: [/^\/v1\/domains(?:\/[^/]+(?:\/projects|\/dns-records\/verify|\/dns-records\/[^/]+\/verify)?)?$/] },
  { area: 'messages', reason: 'clicktrail keeps no message contents or delivery states, only the clicks of the messages it rewrote', paths: [/^\/v1\/messages(?:\/[^/]+(?:\/(?:cancel|process|source|html|text|events))?)?$/] },
  { area: 'stats', reason: 'not served by this build', paths: [/^\/v1\/stats$/] },
  { area: 'suppressions', reason: 'clicktrail keeps no suppression lists: it sends no mail', paths: [/^\/v1\/suppressions(?:\/[^/]+)?$/] },
  { area: 'team', reason: 'teams, members, roles and usage are the platform\'s; clicktrail knows a team only by its API tokens', paths: [/^\/v1\/team(?:\/usage|\/roles|\/members(?:\/[^/]+(?:\/assignment)?)?)?$/] },
  { area: 'projects', reason: 'clicktrail projects have no sending token to rotate', paths: [/^\/v1\/projects\/[^/]+\/rotate-token$/] },
  { area: 'routes', reason: 'clicktrail receives no mail: inbound domains are Lettermint\'s', paths: [/^\/v1\/routes\/[^/]+\/verify-inbound-domain$/] }
]

/** 404 CT_ERR_NOT_SERVED for an endpoint of Lettermint's API that clicktrail leaves to Lettermint, else undefined. */
export function notServed (path: string): ClicktrailError | undefined {
  const a = NOT_SERVED.find(x => x.paths.some(re => re.test(path)))
  if (a === undefined) return undefined
  return new ClicktrailError('CT_ERR_NOT_SERVED', `clicktrail does not serve Lettermint's ${a.area} endpoints: ${a.reason}`, { details: { area: a.area } })
}
