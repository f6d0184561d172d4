import { randomUUID } from 'node:crypto'
import { hostname } from 'node:os'
import type { ClickHouseClient } from '@clickhouse/client'
import { ClicktrailError } from '../errors.js'
import type { Logger } from '../log.js'
import { keyFingerprint, type MasterSecret } from '../token/keys.js'

export const KEY_LEDGER_TABLE = 'key_fingerprints'

export interface RecordedKey {
  kid: number
  fingerprint: string
  firstSeen: string
}

export async function readKeyLedger (client: ClickHouseClient): Promise<RecordedKey[]> {
  const rows = await (await client.query({
    query: `SELECT kid, fingerprint, toString(min(first_seen)) AS first_seen FROM ${KEY_LEDGER_TABLE} GROUP BY kid, fingerprint ORDER BY kid, first_seen`,
    format: 'JSONEachRow'
  })).json<{ kid: number | string, fingerprint: string, first_seen: string }>()
  return rows.map(r => ({ kid: Number(r.kid), fingerprint: r.fingerprint, firstSeen: r.first_seen }))
}

/**
 * What the database holds that shows links may have been signed already: recorded key
 * fingerprints, projects (any version), observations. Empty for a new database. Each
 * check reads at most one row.
 */
export async function databaseState (client: ClickHouseClient, database: string): Promise<string[]> {
  const out: string[] = []
  for (const [table, what] of [[KEY_LEDGER_TABLE, 'recorded key fingerprints'], ['projects', 'projects'], ['click_observations', 'observations']] as const) {
    const rows = await (await client.query({ query: `SELECT 1 AS x FROM ${table} LIMIT 1`, format: 'JSONEachRow' })).json<unknown>()
    if (rows.length > 0) out.push(`${what} in ClickHouse database ${database}`)
  }
  return out
}

/**
 * Checks the configured master secrets against the fingerprints recorded in ClickHouse,
 * and records the new ones. Any node of the database sees the same rows, so a node given a
 * different secret under a key id already in use refuses to start (CT_ERR_KEY_MISMATCH)
 * instead of signing links the others cannot verify and 404ing theirs. Key ids recorded
 * but no longer configured are logged: links signed with them now answer 404.
 *
 * After recording it reads the ledger again: two nodes that raced to record different
 * secrets for a new key id both see both rows and both refuse.
 */
export async function checkKeyLedger (client: ClickHouseClient, secrets: readonly MasterSecret[], log: Logger): Promise<{ recorded: number[] }> {
  const mine = new Map(secrets.map(s => [s.kid, keyFingerprint(s.secret)]))
  const before = await readKeyLedger(client)
  assertMatches(before, mine)
  const known = new Set(before.map(r => r.kid))
  const missing = [...mine].filter(([kid]) => !known.has(kid))
  if (missing.length > 0) {
    const now = new Date().toISOString().replace('T', ' ').replace('Z', '')
    await client.insert({
      table: KEY_LEDGER_TABLE,
      values: missing.map(([kid, fingerprint]) => ({ kid, fingerprint, first_seen: now, recorded_by: hostname() })),
      format: 'JSONEachRow',
      // A unique token: with chdb a token set earlier on this session would still be in force.
      clickhouse_settings: { insert_deduplication_token: randomUUID() }
    })
    assertMatches(await readKeyLedger(client), mine)
  }
  const retired = [...new Set(before.map(r => r.kid))].filter(kid => !mine.has(kid))
  if (retired.length > 0) {
    log.warn({ kids: retired, configured: [...mine.keys()] }, 'key ids recorded in ClickHouse are no longer configured: links signed with them answer 404')
  }
  return { recorded: missing.map(([kid]) => kid) }
}

function assertMatches (ledger: readonly RecordedKey[], mine: ReadonlyMap<number, string>): void {
  for (const r of ledger) {
    const ours = mine.get(r.kid)
    if (ours === undefined || ours === r.fingerprint) continue
    throw new ClicktrailError('CT_ERR_KEY_MISMATCH', `key id ${r.kid}: the secret configured here (fingerprint ${ours.slice(0, 12)}…) is not the one recorded in ClickHouse since ${r.firstSeen} UTC (fingerprint ${r.fingerprint.slice(0, 12)}…); ` +
      `links already sent carry key id ${r.kid} and would all answer 404. Restore that secret, or give a new secret a new key id`)
  }
}
