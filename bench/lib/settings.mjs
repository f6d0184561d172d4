// Settings of every bench: the environment knobs (BENCH_*), read once, checked, with the
// error message naming the variable; and the paths the benches share.
import { fileURLToPath } from 'node:url'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const RESULTS = fileURLToPath(new URL('../results/', import.meta.url))
export const HOST = '127.0.0.1' // every socket of every bench is on loopback

/** A whole number from min to max; `dflt` when unset or empty. */
export function envInt (name, dflt, min, max) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return dflt
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new Error(`${name} must be a whole number from ${min} to ${max}, got "${raw}"`)
  return Number(raw)
}

/** A switch: `0`, `false`, `no` or `off` is false, any other value true; `dflt` when unset or empty. */
export function envBool (name, dflt) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return dflt
  return !/^(0|false|no|off)$/i.test(raw.trim())
}

/** A comma list (items trimmed, empty ones dropped); `dflt` when unset or empty. */
export function envList (name, dflt) {
  const raw = process.env[name]
  if (raw === undefined || raw.trim() === '') return dflt
  return raw.split(',').map(s => s.trim()).filter(s => s !== '')
}

/** One of `choices`; `dflt` when unset or empty. */
export function envChoice (name, dflt, choices) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return dflt
  if (!choices.includes(raw)) throw new Error(`${name} must be ${choices.join(' or ')}, got "${raw}"`)
  return raw
}

/** A raw value matching `re`, passed through to the engine as it is; undefined when unset or empty. */
export function envOpt (name, re, what) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return undefined
  if (!re.test(raw)) throw new Error(`${name} must be ${what}, got "${raw}"`)
  return raw
}
