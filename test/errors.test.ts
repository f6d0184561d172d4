import t from 'tap'
import * as errors from '../src/errors.js'
import { POOL_ERRORS, PoolError } from '../src/pool/errors.js'
import { REWRITE_ERRORS, RewriteError } from '../src/rewrite/errors.js'
import { API_ERROR_CODES } from '../src/api/errors.js'

t.test('stable error codes: unique, CT_ERR_ prefixed, with a status', async t => {
  const samples: Array<{ code: string, status: number }> = [
    new errors.ConfigError('x'), new errors.UsageError('x'), new errors.NativeBindingError('x'), new errors.ListenError('x'),
    new errors.KeyConfigError('x'),
    ...Object.keys(errors.URL_ERRORS).map(c => new errors.UrlRefusedError(c as keyof typeof errors.URL_ERRORS)),
    ...Object.keys(errors.TOKEN_ERRORS).map(c => new errors.TokenRejectedError(c as keyof typeof errors.TOKEN_ERRORS)),
    ...Object.keys(POOL_ERRORS).map(c => new PoolError(c as keyof typeof POOL_ERRORS)),
    ...Object.keys(REWRITE_ERRORS).map(c => new RewriteError(c as keyof typeof REWRITE_ERRORS))
  ]
  const codes = samples.map(e => e.code)
  t.equal(new Set(codes).size, codes.length, 'no two classes share a code')
  for (const e of samples) {
    t.match(e.code, /^CT_ERR_[A-Z0-9_]+$/)
    t.ok(e.status >= 400 && e.status < 600, `${e.code} has an HTTP status`)
  }
  t.equal(new errors.UrlRefusedError('CT_ERR_URL_SCHEME').status, 422)
})

t.test('the Team API code list has no duplicates and no clash with other tables', async t => {
  t.equal(new Set(API_ERROR_CODES).size, API_ERROR_CODES.length)
  for (const c of API_ERROR_CODES) t.match(c, /^CT_ERR_[A-Z_]+$/)
  t.notOk(API_ERROR_CODES.some(c => c in POOL_ERRORS || c in REWRITE_ERRORS || c in errors.URL_ERRORS || c in errors.TOKEN_ERRORS))
})
