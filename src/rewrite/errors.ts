import { ClicktrailError } from '../errors.js'

/** Codes the rewriter can fail with (stable; callers branch on them). */
export const REWRITE_ERRORS = {
  CT_ERR_REWRITE_PARSE: 'the HTML could not be parsed for rewriting',
  CT_ERR_REWRITE_INTERNAL: 'the rewriter lost track of the document (a bug: the input is left unrewritten)',
  CT_ERR_MIME_PARSE: 'the message could not be parsed as MIME',
  // Bounds on the work one rewrite request may ask for (config: --rewrite-max-*).
  CT_ERR_REWRITE_TOO_MANY_RECIPIENTS: 'the request has more recipients than one rewrite may have',
  CT_ERR_REWRITE_TOO_MANY_LINKS: 'the document has more links than one rewrite may have',
  CT_ERR_REWRITE_TOO_MANY_TOKENS: 'links × recipients is more than one rewrite may mint and record',
  CT_ERR_REWRITE_OUTPUT_TOO_LARGE: 'the rewritten messages would be larger than one answer may be'
} as const

export type RewriteErrorCode = keyof typeof REWRITE_ERRORS

const STATUS: Record<RewriteErrorCode, number> = {
  CT_ERR_REWRITE_PARSE: 422,
  CT_ERR_REWRITE_INTERNAL: 500,
  CT_ERR_MIME_PARSE: 422,
  CT_ERR_REWRITE_TOO_MANY_RECIPIENTS: 422,
  CT_ERR_REWRITE_TOO_MANY_LINKS: 422,
  CT_ERR_REWRITE_TOO_MANY_TOKENS: 422,
  CT_ERR_REWRITE_OUTPUT_TOO_LARGE: 413
}

/** A document or message could not be rewritten. */
export class RewriteError extends ClicktrailError {
  constructor (code: RewriteErrorCode, detail?: string, options?: ErrorOptions) {
    super(code, detail === undefined ? REWRITE_ERRORS[code] : `${REWRITE_ERRORS[code]}: ${detail}`, STATUS[code], options)
    this.name = 'RewriteError'
  }
}
