import type { ClickHouseClient } from '@clickhouse/client'
import type { Store } from '../store/client.js'
import { ClicktrailError } from '../errors.js'
import { databaseTables, explainAst, formatQuery, runAnalystQuery } from '../store/analyst.js'

export const SQL_ERROR_CODES = ['CT_ERR_SQL_REFUSED', 'CT_ERR_SQL_FAILED', 'CT_ERR_SQL_LIMIT', 'CT_ERR_SQL_BUSY'] as const

export const FORMATS = new Set(['PrettyCompact', 'PrettyCompactMonoBlock', 'Pretty', 'TabSeparatedWithNames', 'TabSeparated', 'CSVWithNames', 'CSV', 'JSONEachRow', 'JSON', 'JSONCompact', 'Vertical', 'Markdown'])
export const MAX_SQL_BYTES = 64 * 1024
export const MAX_PARAMS = 32
export const MAX_PARAM_BYTES = 4096
/** Analyst queries waiting for the analyst session at most (one runs at a time); more get 503. */
export const MAX_WAITING = 4

/**
 * What analyst SQL may read: clicktrail's analytics tables. Not the control plane (teams,
 * api_tokens, projects, routes, webhooks with their secrets, domain_claims, sid_claims, key_fingerprints), not the
 * webhook outbox records, not promotion state, not system.* or information_schema.
 */
export const ANALYTICS_TABLES: ReadonlySet<string> = new Set([
  'click_observations', 'clicks', 'clicks_by_message', 'clicks_by_link', 'clicks_by_tag_day', 'clicks_by_day', 'messages', 'message_links',
  // The analytics API's rollups (sql/030-032): what it answers from, readable the same way.
  'analytics_recipients', 'analytics_recipient_links', 'analytics_recipient_days', 'analytics_first_clicks', 'analytics_link_totals', 'analytics_recipient_hours'
])

/**
 * Functions analyst SQL may not call (lower case). They read files (file, catboostEvaluate,
 * naiveBayesClassifier*), reach the network (ai*), read tables or dictionaries by a name in
 * a string (joinGet, dict*), tell about the host, its disks or its configuration, write to
 * the server log, or hold a thread (sleep). Everything else is computation on the rows the
 * query may read.
 */
const DENIED_FUNCTIONS: ReadonlySet<string> = new Set([
  'file', 'catboostevaluate', 'naivebayesclassifier', 'naivebayesclassifierwithprob', 'naivebayesclassifierwithallprobs',
  'aiclassify', 'aiembed', 'aiextract', 'aigenerate', 'aitranslate',
  'joinget', 'joingetornull', 'hascolumnintable', 'getmaxtablenamelengthfordatabase',
  'getserversetting', 'getmergetreesetting', 'getmacro', 'globalvariable', 'getclienthttpheader', 'showcertificate',
  'serveruuid', 'getoskernelversion', 'filesystemavailable', 'filesystemcapacity', 'filesystemunreserved',
  'hostname', 'fqdn', 'fullhostname', 'tcpport', 'getserverport', 'buildid', 'zookeepersessionuptime',
  'sleep', 'sleepeachrow', 'generateserialid',
  'addresstoline', 'addresstolinewithinlines', 'addresstosymbol', 'demangle', 'tid', 'logtrace',
  'mergetreepartinfo', 'ismergetreepartcoveredby'
])
const DENIED_PREFIXES = ['dict', 'region', '__'] as const

/** The functions whose second argument, when it is a bare name, is a table: `x IN webhooks`. */
const IN_FUNCTIONS: ReadonlySet<string> = new Set(['in', 'notin', 'globalin', 'globalnotin', 'nullin', 'notnullin', 'globalnullin', 'globalnotnullin'])

/**
 * The AST node types (ClickHouse's EXPLAIN AST names) a plain SELECT is made of. Anything
 * else is refused, which is how SETTINGS (`Set`), APPLY (a transformer whose function the
 * AST dump does not show) and every non-SELECT statement are kept out.
 */
const SELECT_NODES: ReadonlySet<string> = new Set([
  'SelectWithUnionQuery', 'SelectIntersectExceptQuery', 'SelectQuery', 'ExpressionList', 'Identifier', 'Literal', 'Function',
  'Asterisk', 'QualifiedAsterisk', 'ColumnsRegexpMatcher', 'ColumnsListMatcher', 'QualifiedColumnsRegexpMatcher',
  'QualifiedColumnsListMatcher', 'ColumnsTransformerList', 'ColumnsExceptTransformer', 'ColumnsReplaceTransformer',
  'ColumnsReplaceTransformer::Replacement', 'TablesInSelectQuery', 'TablesInSelectQueryElement', 'TableExpression',
  'TableIdentifier', 'TableJoin', 'ArrayJoin', 'Subquery', 'WithElement', 'OrderByElement', 'WindowListElement',
  'WindowDefinition', 'InterpolateElement', 'SampleRatio'
])
const NODE_NAMES: Record<string, string> = { Set: 'SETTINGS', ColumnsApplyTransformer: 'APPLY' }

export interface SqlRequest {
  sql: string
  format?: string
  /** Values for `{name:Type}` placeholders (`?param_name=value` on the admin listener). */
  params?: Record<string, string>
}

export interface SqlStats {
  queries: number
  refused: number
  failed: number
  limited: number
  busy: number
}

interface AstNode { type: string, text: string, children: AstNode[] }

/**
 * Ad-hoc analyst SQL, decided by ClickHouse's own parser:
 *
 * 1. `formatQuery()` parses the text as exactly one statement (a second one, hidden behind a
 *    `#` comment or not, is a parse error) and prints it back without comments. That printed
 *    text is what is checked and what runs.
 * 2. `EXPLAIN AST` of it gives the tree; it must be a SELECT made only of SELECT_NODES, read
 *    only ANALYTICS_TABLES (or names that are no table of the database: CTEs), call no table
 *    function and no DENIED_FUNCTIONS, and carry no SETTINGS, FORMAT or INTO OUTFILE.
 * 3. It runs on the store's analyst session (readonly=1 with ANALYST_LIMITS, its own chdb
 *    session, replaced after any failure): a setting cannot lift the limits even if the
 *    checker missed it, and a failed query's partial output reaches no one.
 */
export class AnalystSql {
  readonly stats: SqlStats = { queries: 0, refused: 0, failed: 0, limited: 0, busy: 0 }
  #waiting = 0

  constructor (readonly store: Store) {}

  async run (req: SqlRequest): Promise<string> {
    this.stats.queries++
    if (this.#waiting >= MAX_WAITING + 1) {
      this.stats.busy++
      throw new ClicktrailError('CT_ERR_SQL_BUSY', `${this.#waiting} analyst queries are running or waiting; try again when they are done`)
    }
    this.#waiting++
    try {
      return await this.#run(req)
    } catch (err) {
      const code = err instanceof ClicktrailError ? err.code : undefined
      if (code === 'CT_ERR_SQL_REFUSED') this.stats.refused++
      else if (code === 'CT_ERR_SQL_LIMIT') this.stats.limited++
      else this.stats.failed++
      throw err
    } finally {
      this.#waiting--
    }
  }

  async #run (req: SqlRequest): Promise<string> {
    const format = req.format ?? 'PrettyCompact'
    if (!FORMATS.has(format)) throw new ClicktrailError('CT_ERR_SQL_REFUSED', `format must be one of ${[...FORMATS].join(', ')}`)
    if (Buffer.byteLength(req.sql) > MAX_SQL_BYTES) throw new ClicktrailError('CT_ERR_BODY_TOO_LARGE', `query is longer than ${MAX_SQL_BYTES} bytes`)
    const params = checkParams(req.params ?? {})
    const analyst = this.store.analyst
    const text = await formatOne(analyst, req.sql)
    scanFormatted(text)
    const ast = parseAst(await explainTree(analyst, text, params))
    checkSelect(ast, this.store.database, await this.#databaseTables())
    try {
      return await runAnalystQuery(analyst, text, format, params, this.store.analystSettings)
    } catch (err) {
      throw engineError(err)
    }
  }

  /** The tables, views and dictionaries of clicktrail's database, asked on clicktrail's own reader. */
  async #databaseTables (): Promise<Set<string>> {
    return new Set(await databaseTables(this.store.reader, this.store.database, this.store.readerSettings))
  }
}

function checkParams (params: Record<string, string>): Record<string, string> {
  const entries = Object.entries(params)
  if (entries.length > MAX_PARAMS) throw new ClicktrailError('CT_ERR_SQL_REFUSED', `at most ${MAX_PARAMS} query parameters`)
  for (const [name, value] of entries) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name)) throw new ClicktrailError('CT_ERR_SQL_REFUSED', `query parameter name "${name.slice(0, 64)}" is not [A-Za-z_][A-Za-z0-9_]*`)
    if (Buffer.byteLength(value) > MAX_PARAM_BYTES) throw new ClicktrailError('CT_ERR_SQL_REFUSED', `query parameter ${name} is longer than ${MAX_PARAM_BYTES} bytes`)
    // eslint-disable-next-line no-control-regex -- refusing control characters is the point
    if (/[\u0000-\u001f\u007f]/.test(value)) throw new ClicktrailError('CT_ERR_SQL_REFUSED', `query parameter ${name} contains a control character`)
  }
  return params
}

/** The text parsed as one statement and printed back by ClickHouse (comments gone). */
async function formatOne (client: ClickHouseClient, sql: string): Promise<string> {
  try {
    return await formatQuery(client, sql)
  } catch (err) {
    const message = String((err as Error).message ?? err)
    if (/Multi-statements are not allowed/i.test(message)) throw new ClicktrailError('CT_ERR_SQL_REFUSED', 'one statement at a time (a second statement after `;` was found)')
    if (/Empty query/i.test(message)) throw new ClicktrailError('CT_ERR_SQL_REFUSED', 'empty query')
    throw engineError(err)
  }
}

async function explainTree (client: ClickHouseClient, text: string, params: Record<string, string>): Promise<string> {
  try {
    return await explainAst(client, text, params)
  } catch (err) {
    // EXPLAIN applies the explained query's SETTINGS clause, which the read-only session refuses.
    const e = err as { type?: string, message?: string }
    if (e.type === 'READONLY') throw new ClicktrailError('CT_ERR_SQL_REFUSED', `SETTINGS is not allowed in analyst SQL (${String(e.message).split('\n')[0]})`)
    throw engineError(err)
  }
}

/**
 * Walks the printed query outside string literals. EXPLAIN AST prints identifiers raw, so
 * a quoted identifier holding a newline could forge lines of the tree: refuse quoted
 * identifiers with escapes or control characters, and `{name:Identifier}` placeholders
 * (their value would become a table name the tree shows, but unquoted).
 */
export function scanFormatted (text: string): void {
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (c === "'") {
      for (i++; i < text.length && text[i] !== "'"; i++) if (text[i] === '\\') i++
    } else if (c === '`' || c === '"') {
      const start = i
      for (i++; i < text.length && text[i] !== c; i++) {
        const code = text.charCodeAt(i)
        if (text[i] === '\\' || code < 0x20 || code === 0x7f) throw new ClicktrailError('CT_ERR_SQL_REFUSED', `quoted identifier ${text.slice(start, start + 40)}… has an escape or a control character`)
      }
    } else if (c === '{') {
      const m = /^\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*:\s*([^{}']*)\}/.exec(text.slice(i, i + 200))
      if (m !== null && /identifier/i.test(m[2])) throw new ClicktrailError('CT_ERR_SQL_REFUSED', `query parameter {${m[1]}:${m[2].trim()}}: Identifier parameters are not allowed`)
    }
  }
}

/** EXPLAIN AST's indented dump → a tree; refuses a dump whose shape is not consistent. */
export function parseAst (dump: string): AstNode {
  const lines = dump.split('\n')
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop()
  const stack: AstNode[] = []
  const declared = new Map<AstNode, number>()
  let root: AstNode | undefined
  for (const line of lines) {
    const indent = line.length - line.trimStart().length
    let rest = line.slice(indent)
    let count = 0
    const m = / \(children (\d+)\)$/.exec(rest)
    if (m !== null) { count = Number(m[1]); rest = rest.slice(0, m.index) }
    const sp = rest.indexOf(' ')
    const node: AstNode = { type: sp === -1 ? rest : rest.slice(0, sp), text: sp === -1 ? '' : rest.slice(sp + 1), children: [] }
    if (!/^[A-Za-z][A-Za-z:]*$/.test(node.type) || indent > stack.length || (indent === 0 && root !== undefined)) {
      throw new ClicktrailError('CT_ERR_SQL_REFUSED', 'the query\'s syntax tree could not be checked')
    }
    declared.set(node, count)
    stack.length = indent
    if (indent === 0) root = node
    else stack[indent - 1].children.push(node)
    stack.push(node)
  }
  if (root === undefined) throw new ClicktrailError('CT_ERR_SQL_REFUSED', 'the query\'s syntax tree could not be checked')
  for (const [node, n] of declared) if (node.children.length !== n) throw new ClicktrailError('CT_ERR_SQL_REFUSED', 'the query\'s syntax tree could not be checked')
  return root
}

/** Refuses anything but a plain SELECT over the analytics tables; see AnalystSql. */
export function checkSelect (root: AstNode, database: string, databaseTables: ReadonlySet<string>): void {
  if (root.type !== 'SelectWithUnionQuery') throw new ClicktrailError('CT_ERR_SQL_REFUSED', `only SELECT queries are allowed (this is ${root.type.replace(/Query$/, '')})`)
  const table = (name: string, where: string): void => {
    const parts = name.split('.')
    const ok = parts.every(p => /^[A-Za-z_][A-Za-z0-9_]*$/.test(p)) && (parts.length === 1
      ? ANALYTICS_TABLES.has(parts[0]) || !databaseTables.has(parts[0]) // not a table: a CTE, or the engine says unknown
      : parts.length === 2 && parts[0] === database && ANALYTICS_TABLES.has(parts[1]))
    if (!ok) throw new ClicktrailError('CT_ERR_SQL_REFUSED', `table ${name}${where}: analyst SQL reads only ${[...ANALYTICS_TABLES].join(', ')}`)
  }
  const walk = (n: AstNode): void => {
    if (!SELECT_NODES.has(n.type)) throw new ClicktrailError('CT_ERR_SQL_REFUSED', `${NODE_NAMES[n.type] ?? n.type} is not allowed in analyst SQL`)
    if (n.type === 'SelectWithUnionQuery') {
      if (n.children[0]?.type !== 'ExpressionList') throw new ClicktrailError('CT_ERR_SQL_REFUSED', 'the query\'s syntax tree could not be checked')
      const extra = n.children[1]
      if (extra !== undefined) {
        const what = extra.type === 'Literal' ? 'INTO OUTFILE' : extra.type === 'Identifier' ? 'FORMAT (ask for a format with ?format= or --format)' : (NODE_NAMES[extra.type] ?? extra.type)
        throw new ClicktrailError('CT_ERR_SQL_REFUSED', `${what} is not allowed in analyst SQL`)
      }
    } else if (n.type === 'TableExpression') {
      const [source, ...sample] = n.children
      if (source?.type === 'Function') throw new ClicktrailError('CT_ERR_SQL_REFUSED', `table function ${functionName(source)}() is not allowed in analyst SQL`)
      if (source?.type !== 'TableIdentifier' && source?.type !== 'Subquery') throw new ClicktrailError('CT_ERR_SQL_REFUSED', `${source?.type ?? 'an empty table expression'} is not allowed in FROM`)
      if (sample.some(s => s.type !== 'SampleRatio')) throw new ClicktrailError('CT_ERR_SQL_REFUSED', 'the query\'s syntax tree could not be checked')
    } else if (n.type === 'TableIdentifier') {
      table(withoutAlias(n.text), '')
    } else if (n.type === 'Function') {
      const name = functionName(n).toLowerCase()
      if (DENIED_FUNCTIONS.has(name) || DENIED_PREFIXES.some(p => name.startsWith(p))) throw new ClicktrailError('CT_ERR_SQL_REFUSED', `function ${functionName(n)}() is not allowed in analyst SQL`)
      const args = n.children[0]?.type === 'ExpressionList' ? n.children[0].children : []
      if (IN_FUNCTIONS.has(name) && args[1]?.type === 'Identifier') table(withoutAlias(args[1].text), ' (after IN)')
    }
    for (const c of n.children) walk(c)
  }
  walk(root)
}

function functionName (n: AstNode): string { return withoutAlias(n.text) }
function withoutAlias (text: string): string {
  const i = text.indexOf(' (alias ')
  return i === -1 ? text : text.slice(0, i)
}

const LIMIT_ERRORS = new Set(['TOO_MANY_ROWS_OR_BYTES', 'TIMEOUT_EXCEEDED', 'MEMORY_LIMIT_EXCEEDED', 'TOO_MANY_ROWS', 'TOO_MANY_BYTES'])

function engineError (err: unknown): ClicktrailError {
  const e = err as { message?: string, type?: string }
  const text = `${e.type ?? 'ERROR'}: ${String(e.message ?? err).split('\n')[0].slice(0, 2000)}`
  if (e.type !== undefined && LIMIT_ERRORS.has(e.type)) return new ClicktrailError('CT_ERR_SQL_LIMIT', text)
  // The session is readonly=1: whatever the checker let through, the engine refused.
  if (e.type === 'READONLY') return new ClicktrailError('CT_ERR_SQL_REFUSED', text)
  return new ClicktrailError('CT_ERR_SQL_FAILED', text)
}
