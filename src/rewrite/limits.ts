/**
 * Bounds on the work one rewrite request may ask for. A request past one is refused before
 * the work it would cost, each with its own code (rewrite/errors.ts), rather than run until
 * something gives: 1,000 recipients × 600 KB of HTML built an answer past V8's string limit
 * (a RangeError that ended the process) and 20,000 links × 50 recipients held a worker for
 * 17 s and the main thread for seconds. Defaults fit real sends with room to spare (a
 * newsletter has tens to a few hundred links; Gmail clips a message past 102 KB); the
 * operator can move them (config.ts: --rewrite-max-*).
 */
export interface RewriteLimits {
  /** Recipients (`to` entries) per request: CT_ERR_REWRITE_TOO_MANY_RECIPIENTS (422). */
  maxRecipients: number
  /** `<a href>` links per document (MIME: over all its HTML parts): CT_ERR_REWRITE_TOO_MANY_LINKS (422). */
  maxLinks: number
  /** links × recipients per request, each one a token to mint and a message_links row: CT_ERR_REWRITE_TOO_MANY_TOKENS (422). */
  maxTokens: number
  /** Bytes of the JSON answer (every recipient's rewritten html): CT_ERR_REWRITE_OUTPUT_TOO_LARGE (413). */
  maxOutputBytes: number
}

export const DEFAULT_REWRITE_LIMITS: Readonly<RewriteLimits> = Object.freeze({
  maxRecipients: 1000,
  maxLinks: 5000,
  maxTokens: 100_000,
  maxOutputBytes: 64 * 1024 * 1024
})
