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

/**
 * Lettermint's signing, as its SDK's `Webhook.verifyHeaders` checks it: `X-Lettermint-Signature:
 * t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` keyed with the secret string
 * itself (its UTF-8 bytes, `whsec_` included), `X-Lettermint-Delivery` the same t (the SDK
 * refuses a signature whose t differs), the event type and the attempt number (1 first).
 */
export function lettermintHeaders (secret: string, timestampSeconds: number, body: string, event: string, attempt: number): Record<string, string> {
  const sig = createHmac('sha256', secret).update(`${timestampSeconds}.`).update(body).digest('hex')
  return {
    'x-lettermint-signature': `t=${timestampSeconds},v1=${sig}`,
    'x-lettermint-delivery': String(timestampSeconds),
    'x-lettermint-event': event,
    'x-lettermint-attempt': String(attempt)
  }
}

/** Every delivery attempt carries both: one secret, one timestamp, either scheme verifies it. */
export function deliveryHeaders (secret: string, id: string, timestampSeconds: number, body: string, event: string, attempt: number): Record<string, string> {
  return { ...signatureHeaders(secret, id, timestampSeconds, body), ...lettermintHeaders(secret, timestampSeconds, body, event, attempt) }
}
