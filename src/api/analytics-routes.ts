import type { Store } from '../store/client.js'
import { ClicktrailError } from '../errors.js'
import { ANALYTICS_LIMITS } from '../analytics/query.js'
import { plan as planRequest, runPlan, type Scope } from '../analytics/run.js'
import { breakdownCsv } from '../analytics/csv.js'
import type { Ctx, RouteDef } from './routes.js'

/** `?format=csv`, else an Accept that names text/csv: the breakdown as CSV. `format` wins over Accept. */
function wantsCsv (ctx: Ctx): boolean {
  const format = new URLSearchParams(ctx.query).get('format')
  if (format !== null) {
    if (format === 'csv' || format === 'json') return format === 'csv'
    throw new ClicktrailError('CT_ERR_ANALYTICS_FORMAT', 'format is csv or json', { details: { field: 'format', value: format.slice(0, 100) } })
  }
  return (ctx.accept ?? '').split(',').some(range => range.split(';')[0].trim().toLowerCase() === 'text/csv')
}

/** The team's own projects: analytics never reaches another team's sids. */
function scopeOf (ctx: Ctx): Scope {
  return { projects: ctx.plane.projects(ctx.teamId).map(p => ({ project_id: p.project_id, sid: p.sid })) }
}

/** POST /v1/analytics (README, Analytics API): the request and answer shape of Lettermint's Team API. */
export function analyticsRoutes (store: Store, clock: () => number = Date.now): RouteDef[] {
  return [
    {
      method: 'post',
      path: '/v1/analytics',
      operationId: 'queryAnalytics',
      summary: 'Clicks, unique clickers, human versus machine, rates and time to first click: a summary, a zero-filled time series and a breakdown by up to 3 dimensions (CSV with Accept: text/csv or ?format=csv)',
      tag: 'analytics',
      request: 'AnalyticsRequest',
      response: { status: 200, schema: 'AnalyticsResponse', also: { 'text/csv': { description: 'the breakdown page as CSV; X-Total-Groups, X-Returned-Groups and X-Next-Cursor carry the pagination', schema: { type: 'string' } } } },
      query: [{ name: 'format', description: 'csv: the breakdown as CSV (as Accept: text/csv); json: the default', schema: { type: 'string', enum: ['json', 'csv'] } }],
      errors: [400, 413, 415, 422],
      maxBody: ANALYTICS_LIMITS.maxBodyBytes,
      async handler (ctx) {
        const csv = wantsCsv(ctx)
        const now = clock()
        const plan = await planRequest(store, ctx.body, now)
        if (csv && !plan.include.has('breakdown')) throw new ClicktrailError('CT_ERR_ANALYTICS_FORMAT', undefined, { details: { field: 'format' } })
        const res = await runPlan(store, scopeOf(ctx), plan, now)
        if (!csv) return { status: 200, body: res }
        const headers: Record<string, string> = { 'X-Total-Groups': String(res.pagination.total_groups), 'X-Returned-Groups': String(res.pagination.returned_groups) }
        if (res.pagination.next_cursor !== null) headers['X-Next-Cursor'] = res.pagination.next_cursor
        return { status: 200, raw: Buffer.from(breakdownCsv(res), 'utf8'), contentType: 'text/csv; charset=utf-8', headers }
      }
    }
  ]
}
