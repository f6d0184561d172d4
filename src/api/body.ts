import { isUtf8 } from 'node:buffer'
import { badJson, invalid, unsupportedMediaType } from './errors.js'
import { isWellFormed, toWellFormed } from '../rewrite/unicode.js'

/** Deeper than this no Team API body goes (its schemas nest three levels); refused before the walk. */
export const MAX_JSON_DEPTH = 32

// `application/json`, `application/problem+json`…, parameters allowed; case-insensitive (RFC 9110 §8.3.1).
const JSON_TYPE = /^application\/(?:[a-z0-9.!#$&^_-]+\+)?json[ \t]*(?:;|$)/i
const MEDIA_TYPE = /^([a-z0-9.!#$&^_+-]+\/[a-z0-9.!#$&^_+-]+)[ \t]*(?:;|$)/i

/**
 * A JSON body's Content-Type must say JSON; a body without one is read as JSON (curl -d
 * aside, clients that send none mean JSON here). Anything else is 415, rather than guessed.
 */
export function checkJsonType (contentType: string): void {
  if (contentType !== '' && !JSON_TYPE.test(contentType)) throw unsupportedMediaType()
}

/** A raw body's Content-Type must be one of `accepted` (or absent). */
export function checkRawType (contentType: string, accepted: readonly string[]): void {
  if (contentType === '') return
  const m = MEDIA_TYPE.exec(contentType)
  if (m === null || !accepted.includes(m[1].toLowerCase())) throw unsupportedMediaType(accepted)
}

/**
 * The body as JSON: UTF-8 (RFC 8259 §8.1: anything else is refused, not decoded with
 * U+FFFD in place of the bad bytes), parsed, at most MAX_JSON_DEPTH deep, and every
 * string in it, keys included, well-formed Unicode. A lone surrogate can only come from a
 * `\ud800` escape; ClickHouse would refuse the row that stores it (issue 10), so the
 * request is refused here with the field named.
 */
export function parseJsonBody (raw: Buffer): unknown {
  if (!isUtf8(raw)) throw badJson('request body is not valid UTF-8')
  let body: unknown
  try {
    body = JSON.parse(raw.toString('utf8'))
  } catch (err) {
    throw badJson(`request body is not valid JSON: ${(err as Error).message}`)
  }
  checkText(body)
  return body
}

interface Frame { value: unknown, parent: Frame | undefined, key: string, depth: number }

/** Walks the parsed value without recursion (a deep body cannot overflow the stack). */
function checkText (root: unknown): void {
  const stack: Frame[] = [{ value: root, parent: undefined, key: '', depth: 0 }]
  while (stack.length > 0) {
    const f = stack.pop() as Frame
    const v = f.value
    if (typeof v === 'string') {
      if (!isWellFormed(v)) throw notWellFormed(pathOf(f), 'value')
      continue
    }
    if (v === null || typeof v !== 'object') continue
    if (f.depth >= MAX_JSON_DEPTH) throw badJson(`request body is nested deeper than ${MAX_JSON_DEPTH} levels`)
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ value: v[i], parent: f, key: String(i), depth: f.depth + 1 })
      continue
    }
    for (const k of Object.keys(v)) {
      if (!isWellFormed(k)) throw notWellFormed(pathOf({ value: undefined, parent: f, key: k, depth: 0 }), 'key')
      stack.push({ value: (v as Record<string, unknown>)[k], parent: f, key: k, depth: f.depth + 1 })
    }
  }
}

/** `metadata.campaign`, `to.3`: the field as the other validation errors name it. */
function pathOf (f: Frame): string {
  const parts: string[] = []
  for (let x: Frame | undefined = f; x !== undefined && x.parent !== undefined; x = x.parent) parts.push(toWellFormed(x.key))
  return parts.reverse().join('.')
}

function notWellFormed (field: string, what: 'value' | 'key'): Error {
  const where = field === '' ? 'the request body' : `${what === 'key' ? 'key' : 'field'} "${field}"`
  return invalid(`${where} is not well-formed Unicode (a lone UTF-16 surrogate, e.g. an unpaired \\ud800 escape)`, { field: field === '' ? undefined : field, reason: 'not_well_formed' })
}
