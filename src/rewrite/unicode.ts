/**
 * Well-formed Unicode (no lone UTF-16 surrogate), the rule for every string clicktrail
 * stores. ClickHouse refuses a row holding a lone surrogate (its JSON input cannot encode
 * one as UTF-8), so text is made well-formed before it is accepted: text the API caller
 * wrote is refused (see api/body.ts), text clicktrail decodes itself (MIME headers and
 * parts, HTML anchor text and character references) gets U+FFFD in place of each lone
 * surrogate, the same replacement every UTF-8 encoder makes.
 *
 * `String.prototype.isWellFormed` / `toWellFormed` are Node 20 (V8 11.x, ES2024); the
 * project's TypeScript lib is ES2023, hence the cast.
 */
interface WellFormed { isWellFormed: () => boolean, toWellFormed: () => string }

export function isWellFormed (s: string): boolean {
  return (s as unknown as WellFormed).isWellFormed()
}

/** `s` with every lone surrogate replaced by U+FFFD (the very string when there is none). */
export function toWellFormed (s: string): string {
  const w = s as unknown as WellFormed
  return w.isWellFormed() ? s : w.toWellFormed()
}
