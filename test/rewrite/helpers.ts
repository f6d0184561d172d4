import { randomBytes, randomUUID } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { KeyRing } from '../../src/token/keys.js'
import { mintToken, verifyToken, type VerifiedToken } from '../../src/token/codec.js'
import { trackedUrl } from '../../src/token/tracked-url.js'
import { trackingHostPredicate } from '../../src/rewrite/links.js'
import type { MintFn } from '../../src/rewrite/html.js'

/**
 * The real-world emails (never copied into the repository): CLICKTRAIL_CORPUS, else
 * ../shared/corpus/emails beside the checkout, else /work/shared/corpus/emails.
 */
export const CORPUS_DIR = process.env.CLICKTRAIL_CORPUS ?? [
  join(import.meta.dirname, '..', '..', '..', 'shared', 'corpus', 'emails'),
  '/work/shared/corpus/emails'
].find(d => existsSync(d)) ?? '/work/shared/corpus/emails'
export const BASE_URL = 'https://t.example.net'
export const SID = 'acme42'
export const SECRETS = [{ kid: 3, secret: randomBytes(32) }]
export const ring = new KeyRing(SECRETS)
export const isTrackingHost = trackingHostPredicate(BASE_URL, ['track.acme.com'])
export const SENT_AT = 1_760_000_000

/** The corpus, read at test time from the shared directory (never copied into the repo). */
export function corpus (): Array<{ name: string, html: string }> {
  return readdirSync(CORPUS_DIR).filter(f => f.endsWith('.html')).sort().map(name => ({ name, html: readFileSync(`${CORPUS_DIR}/${name}`, 'utf8') }))
}

/** A real minting function, as the worker builds it. */
export function realMint (messageId: string = randomUUID()): MintFn {
  return (linkIndex, url) => trackedUrl(BASE_URL, SID, mintToken(ring, { sid: SID, messageId, linkIndex, sentAt: SENT_AT, url }))
}

const TRACKED = /^https:\/\/pacme42\.t\.example\.net\/c\/([A-Za-z0-9_-]+)$/

/** Verifies a tracked URL the way the redirect server would; throws when it does not. */
export function decodeTracked (href: string): VerifiedToken {
  const m = TRACKED.exec(href)
  if (m === null) throw new Error(`not a tracked URL: ${href}`)
  const v = verifyToken(ring, m[1])
  if (typeof v === 'string') throw new Error(`token refused: ${v}`)
  return v
}

/** Every tracked URL in a document, in order. */
export function trackedUrlsIn (html: string): string[] {
  return html.match(/https:\/\/pacme42\.t\.example\.net\/c\/[A-Za-z0-9_-]+/g) ?? []
}
