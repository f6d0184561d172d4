/**
 * A start tag read straight from the source text, following the tokenizer states of the
 * HTML standard (§13.2.5.32–40: before/after attribute name, attribute value quoted and
 * unquoted, self-closing start tag). It reports offsets, never a re-serialisation, so
 * the rewriter can replace one attribute value and leave every other byte of the tag —
 * quoting, spacing, case, attribute order — exactly as written.
 */
export interface SourceAttribute {
  /** Offset of the attribute name's first character. */
  start: number
  nameEnd: number
  /** Offsets of the raw value, quotes excluded; both -1 for an attribute without a value. */
  valueStart: number
  valueEnd: number
  /** 0x22 `"`, 0x27 `'`, or 0 for an unquoted (or missing) value. */
  quote: number
  /** Offset just past the attribute (past its closing quote when quoted). */
  end: number
  /** Offset just past what precedes the attribute (tag name or previous attribute). */
  prevEnd: number
}

export interface SourceStartTag {
  /** Offset just past the tag name. */
  nameEnd: number
  /** Offset just past the closing `>`. */
  end: number
  attributes: SourceAttribute[]
}

function isWhitespace (c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0c || c === 0x0d
}

/**
 * Reads the start tag whose `<` is at `at`, not looking at or past `limit`. Returns
 * undefined when the tag does not end before `limit` (the tokenizer would drop it).
 */
export function readStartTag (src: string, at: number, limit = src.length): SourceStartTag | undefined {
  let i = at + 1
  while (i < limit) { // tag name state
    const c = src.charCodeAt(i)
    if (isWhitespace(c) || c === 0x2f || c === 0x3e) break
    i++
  }
  const tagNameEnd = i
  const attributes: SourceAttribute[] = []
  let prevEnd = i
  while (i < limit) {
    const c = src.charCodeAt(i)
    // before attribute name / after attribute value / self-closing start tag: a `/`
    // not followed by `>` is dropped and reading goes on in "before attribute name".
    if (isWhitespace(c) || c === 0x2f) { i++; continue }
    if (c === 0x3e) return { nameEnd: tagNameEnd, end: i + 1, attributes }
    const start = i
    i++ // the first character belongs to the name even when it is `=` (a parse error)
    while (i < limit) { // attribute name state
      const d = src.charCodeAt(i)
      if (isWhitespace(d) || d === 0x2f || d === 0x3e || d === 0x3d) break
      i++
    }
    const nameEnd = i
    let j = i
    while (j < limit && isWhitespace(src.charCodeAt(j))) j++ // after attribute name state
    if (j >= limit) return undefined
    if (src.charCodeAt(j) !== 0x3d) {
      attributes.push({ start, nameEnd, valueStart: -1, valueEnd: -1, quote: 0, end: nameEnd, prevEnd })
      prevEnd = nameEnd
      i = j
      continue
    }
    j++
    while (j < limit && isWhitespace(src.charCodeAt(j))) j++ // before attribute value state
    if (j >= limit) return undefined
    const q = src.charCodeAt(j)
    if (q === 0x22 || q === 0x27) {
      const close = src.indexOf(q === 0x22 ? '"' : "'", j + 1)
      if (close === -1 || close >= limit) return undefined
      attributes.push({ start, nameEnd, valueStart: j + 1, valueEnd: close, quote: q, end: close + 1, prevEnd })
      i = close + 1
    } else if (q === 0x3e) { // missing value: the tag ends here, the attribute is empty
      attributes.push({ start, nameEnd, valueStart: j, valueEnd: j, quote: 0, end: j, prevEnd })
      return { nameEnd: tagNameEnd, end: j + 1, attributes }
    } else {
      let k = j
      while (k < limit) { // attribute value (unquoted) state
        const d = src.charCodeAt(k)
        if (isWhitespace(d) || d === 0x3e) break
        k++
      }
      attributes.push({ start, nameEnd, valueStart: j, valueEnd: k, quote: 0, end: k, prevEnd })
      i = k
    }
    prevEnd = i
  }
  return undefined
}

/** ASCII case-insensitive compare of `src[start, end)` with a lower-case name. */
export function spanIs (src: string, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false
  for (let k = 0; k < lower.length; k++) {
    let c = src.charCodeAt(start + k)
    if (c >= 0x41 && c <= 0x5a) c += 0x20
    if (c !== lower.charCodeAt(k)) return false
  }
  return true
}

/** Whether the attribute is called `lower` (ASCII case-insensitive). */
export function nameIs (src: string, attr: SourceAttribute, lower: string): boolean {
  return spanIs(src, attr.start, attr.nameEnd, lower)
}

/** First attribute called `lower` (the tokenizer drops later duplicates, §13.2.5.33). */
export function findAttribute (src: string, tag: SourceStartTag, lower: string): SourceAttribute | undefined {
  for (const a of tag.attributes) if (nameIs(src, a, lower)) return a
  return undefined
}

/**
 * `value` written for the quoting the attribute already has. Quoted values escape what
 * could end or confuse them; an unquoted value that holds a character an unquoted value
 * cannot (§13.2.5.38) is written double-quoted instead.
 */
export function attributeValueText (value: string, quote: number): string {
  const escaped = escapeAttribute(value)
  if (quote !== 0) return escaped
  return escaped.length === 0 || UNQUOTED_UNSAFE.test(escaped) ? `"${escaped}"` : escaped
}

const UNQUOTED_UNSAFE = /[\t\n\f\r "'=<>`]/
const NEEDS_ESCAPE = /[&"'<>]/
const ESCAPES = /[&"'<>]/g
const ESCAPE_MAP: Record<string, string> = { '&': '&amp;', '"': '&quot;', "'": '&#39;', '<': '&lt;', '>': '&gt;' }

/** `&` `"` `'` `<` `>` as character references: safe in any quoting, and inside a comment. */
export function escapeAttribute (value: string): string {
  return NEEDS_ESCAPE.test(value) ? value.replace(ESCAPES, c => ESCAPE_MAP[c]) : value
}
