// Tokens minted here with the same master secret the engine children get.
import { randomBytes } from 'node:crypto'
import { tokenModules } from './project.mjs'

/** A fresh master secret list in the engine's --secrets form (`kid:base64`). */
export function newSecrets () {
  return `1:${randomBytes(32).toString('base64')}`
}

/** mint(fields) and verify(token) with the key ring of `secrets`. */
export async function tokenKit (secrets) {
  const { KeyRing, parseSecrets, mintToken, verifyToken } = await tokenModules()
  const ring = new KeyRing(parseSecrets(secrets))
  return { ring, mint: (fields) => mintToken(ring, fields), verify: (token) => verifyToken(ring, token) }
}

/**
 * A well-formed token with one bit of its HMAC tag flipped: canonical base64url, right key
 * id and sid, so it costs the full verify before it is refused (CT_ERR_TOKEN_SIGNATURE).
 */
export function corruptToken (t) {
  const b = Buffer.from(t, 'base64url')
  b[b.length - 1] ^= 0x01
  return b.toString('base64url')
}
