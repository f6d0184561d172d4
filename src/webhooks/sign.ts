import { createHmac } from 'node:crypto'

/**
 * Standard Webhooks signing (standardwebhooks.com): the secret is `whsec_` + base64 key
 * bytes; the signature is base64(HMAC-SHA256(key, `${id}.${timestamp}.${body}`)), sent as
 * `webhook-signature: v1,<signature>` beside `webhook-id` and `webhook-timestamp` (unix
 * seconds), so receivers verify with any Standard Webhooks library and reject replays by
 * the timestamp.
 */
export function signatureHeaders (secret: string, id: string, timestampSeconds: number, body: string): Record<string, string> {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64')
  const sig = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64')
  return { 'webhook-id': id, 'webhook-timestamp': String(timestampSeconds), 'webhook-signature': `v1,${sig}` }
}
