import { createHmac, hkdfSync } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { ClicktrailError } from '../errors.js'

/** A master secret and the one-byte id that tokens signed with it carry. */
export interface MasterSecret {
  kid: number
  secret: Buffer
}

export const MIN_SECRET_BYTES = 32
const HKDF_SALT = Buffer.from('clicktrail/token/v1')

/**
 * Per-project token keys, derived with HKDF-SHA256 (RFC 5869) from a master secret and the
 * project sid, so that no key table has to be stored or shared between nodes. Several
 * master secrets may be configured: the one with the highest key id signs, every one
 * verifies, so a new secret can be rolled out without breaking mail already sent.
 */
export class KeyRing {
  readonly signingKid: number
  readonly #secrets: Array<Buffer | undefined> = new Array(256)
  // Bounded: one entry per (key id, project) pair seen; deriving again costs 15–33 µs
  // (measured, bench/micro/key-derive.mjs).
  readonly #derived: LRUCache<string, Buffer>

  constructor (secrets: readonly MasterSecret[], maxDerivedKeys = 10_000) {
    if (secrets.length === 0) throw new ClicktrailError('CT_ERR_CONFIG_SECRETS', 'at least one master secret is required')
    let newest = -1
    for (const { kid, secret } of secrets) {
      if (!Number.isInteger(kid) || kid < 0 || kid > 255) throw new ClicktrailError('CT_ERR_CONFIG_SECRETS', `key id ${kid} is not an integer from 0 to 255`)
      if (secret.length < MIN_SECRET_BYTES) throw new ClicktrailError('CT_ERR_CONFIG_SECRETS', `secret ${kid} has ${secret.length} bytes, at least ${MIN_SECRET_BYTES} are required`)
      if (this.#secrets[kid] !== undefined) throw new ClicktrailError('CT_ERR_CONFIG_SECRETS', `key id ${kid} is configured twice`)
      this.#secrets[kid] = secret
      if (kid > newest) newest = kid
    }
    this.signingKid = newest
    this.#derived = new LRUCache({ max: maxDerivedKeys })
  }

  /** The key for `sid` under master secret `kid`, or undefined when `kid` is not configured. */
  key (kid: number, sid: string): Buffer | undefined {
    const master = this.#secrets[kid]
    if (master === undefined) return undefined
    const cacheKey = `${kid}:${sid}`
    let key = this.#derived.get(cacheKey)
    if (key === undefined) {
      key = Buffer.from(hkdfSync('sha256', master, HKDF_SALT, `project:${sid}`, 32))
      this.#derived.set(cacheKey, key)
    }
    return key
  }

  get kids (): number[] {
    const out: number[] = []
    for (let i = 0; i < 256; i++) if (this.#secrets[i] !== undefined) out.push(i)
    return out
  }
}

const FINGERPRINT_LABEL = 'clicktrail/key-fingerprint/v1'

/**
 * A one-way fingerprint of a master secret, for telling two secrets apart without
 * revealing either: HMAC-SHA256 keyed by the secret over a fixed label, truncated to 128
 * bits (hex). It is a PRF output, so it says nothing about the secret, and it is not a key
 * anything is signed with (token keys come from HKDF with another label).
 */
export function keyFingerprint (secret: Buffer | Uint8Array): string {
  return createHmac('sha256', secret).update(FINGERPRINT_LABEL).digest('hex').slice(0, 32)
}

/** Parses `kid:base64,kid:base64` (CLICKTRAIL_SECRETS). */
export function parseSecrets (text: string): MasterSecret[] {
  const out: MasterSecret[] = []
  for (const part of text.split(',')) {
    const item = part.trim()
    if (item === '') continue
    const colon = item.indexOf(':')
    if (colon <= 0) throw new ClicktrailError('CT_ERR_CONFIG_SECRETS', `secret "${item.slice(0, 8)}…" is not of the form kid:base64`)
    const kidText = item.slice(0, colon)
    if (!/^\d{1,3}$/.test(kidText) || Number(kidText) > 255) throw new ClicktrailError('CT_ERR_CONFIG_SECRETS', `key id "${kidText}" is not an integer from 0 to 255`)
    const b64 = item.slice(colon + 1)
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64)) throw new ClicktrailError('CT_ERR_CONFIG_SECRETS', `secret ${kidText} is not base64`)
    out.push({ kid: Number(kidText), secret: Buffer.from(b64, 'base64') })
  }
  if (out.length === 0) throw new ClicktrailError('CT_ERR_CONFIG_SECRETS', 'no secret found in the secrets list')
  return out
}

export function formatSecrets (secrets: readonly MasterSecret[]): string {
  return secrets.map(s => `${s.kid}:${s.secret.toString('base64')}`).join(',')
}
