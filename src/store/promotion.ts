import type { ClickHouseClient } from '@clickhouse/client'
import type { BotVerdict, ClickRow, Observation } from '../records.js'
import { observationsSince } from './observations.js'
import { insertIsolating, type Quarantine } from './quarantine.js'
import { insertRows } from './row-insert.js'

/** A message as (project, message id). */
export interface MessageRef { sid: string, messageId: string }

/**
 * What promotion needs of storage (src/promote/ knows only this port): its watermark, the
 * observations after it, which messages already had a counting click, and the clicks insert.
 */
export interface PromotionStore {
  /** Unix ms up to which every observation of `nodeId` is promoted; 0 when nothing was. */
  readWatermark (nodeId: string): Promise<number>
  saveWatermark (nodeId: string, ms: number, token: string): Promise<void>
  /** This node's observations captured after `fromMs`. */
  observationsSince (nodeId: string, fromMs: number): Promise<Observation[]>
  /** Of `refs`, those with a click that counts for metrics (first_click across restarts). */
  firstClicked (refs: MessageRef[]): Promise<MessageRef[]>
  /**
   * Stores the clicks under `token`; rows ClickHouse refuses are quarantined: their indexes
   * come back. `duplicates`: rows already in `clicks` (stored by a previous owner of their
   * promotion partition, promote/partitions.ts), not stored again and not sent again.
   */
  storeClicks (rows: ClickRow[], token: string): Promise<{ refused: number[], duplicates?: number[] }>
}

/** The PromotionStore of ClickHouse (embedded or a server). */
export class ClickHousePromotionStore implements PromotionStore {
  constructor (readonly client: ClickHouseClient, readonly quarantine: Quarantine) {}

  async readWatermark (nodeId: string): Promise<number> {
    const rows = await (await this.client.query({
      query: 'SELECT toUnixTimestamp64Milli(promoted_until) AS w FROM promotion_state FINAL WHERE node_id = {node:String}',
      query_params: { node: nodeId },
      format: 'JSONEachRow'
    })).json<{ w: string }>()
    return rows.length > 0 ? Number(rows[0].w) : 0
  }

  async saveWatermark (nodeId: string, ms: number, token: string): Promise<void> {
    await this.client.insert({
      table: 'promotion_state',
      values: [{ node_id: nodeId, promoted_until: ms, version: Date.now() * 1000 }],
      format: 'JSONEachRow',
      clickhouse_settings: { insert_deduplication_token: token }
    })
  }

  async observationsSince (nodeId: string, fromMs: number): Promise<Observation[]> {
    return await observationsSince(this.client, nodeId, fromMs)
  }

  async firstClicked (refs: MessageRef[]): Promise<MessageRef[]> {
    if (refs.length === 0) return []
    // (sid, message_id) is the table's key; the pairs are matched exactly below.
    const sids = [...new Set(refs.map(r => r.sid))]
    const ids = [...new Set(refs.map(r => r.messageId))]
    const rows = await (await this.client.query({
      // The current version of each click (sql/040: a reclassified click's sign = +1 row with the
      // latest promoted_at): a click reclassified as machine no longer holds its message's first click.
      query: `SELECT DISTINCT sid, toString(message_id) AS id FROM (
          SELECT obs_id, sid, message_id, counts_for_metrics FROM clicks WHERE sid IN {sids:Array(String)} AND message_id IN {ids:Array(UUID)} AND sign = 1
          ORDER BY promoted_at DESC LIMIT 1 BY obs_id
        ) WHERE counts_for_metrics`,
      query_params: { sids, ids },
      format: 'JSONEachRow'
    })).json<{ sid: string, id: string }>()
    const wanted = new Set(refs.map(r => `${r.sid}/${r.messageId}`))
    return rows.filter(r => wanted.has(`${r.sid}/${r.id}`)).map(r => ({ sid: r.sid, messageId: r.id }))
  }

  async storeClicks (rows: ClickRow[], token: string): Promise<{ refused: number[] }> {
    // A row ClickHouse refuses (text it cannot take, say) is quarantined; the rest is stored.
    const { refused } = await insertIsolating(rows, token, async (part, t) => {
      await insertRows(this.client, { table: 'clicks', columns: CLICK_COLUMNS, format: 'JSONCompactEachRow', rows: part.map(clickLine), settings: { insert_deduplication_token: t } })
    }, (row, _i, err) => { this.quarantine.add('clicks', clickColumns(row), err, row.sid) })
    return { refused }
  }
}

/** The columns of a clickLine, in its order. */
export const CLICK_COLUMNS: readonly string[] = [
  'obs_id', 'ts', 'sid', 'message_id', 'route_id', 'link_index', 'sent_at', 'recipient', 'subject', 'tag', 'metadata',
  'destination_url', 'anchor_text', 'first_click', 'device_type', 'client_type', 'client_name', 'user_agent', 'ip',
  'method', 'retention_days', 'bot_detected', 'bot_probability', 'classification', 'proxy_type', 'reason_codes',
  'machine', 'counts_for_metrics'
]

/**
 * A click as one JSONCompactEachRow line (CLICK_COLUMNS): positional, not an object per row
 * with the bot verdict spread out first and the client's JSONEachRow encoder (with the raw
 * insert of store/row-insert.ts, bench/micro/row-insert.mjs). A value that is undefined
 * becomes null, which ClickHouse reads as the column's default (input_format_null_as_default),
 * as an absent key was in JSONEachRow.
 */
export function clickLine (r: ClickRow): string {
  const b = r.bot
  return JSON.stringify([
    r.obs_id, r.ts, r.sid, r.message_id, r.route_id, r.link_index, r.sent_at, r.recipient, r.subject, r.tag, r.metadata,
    r.destination_url, r.anchor_text, r.first_click, r.device_type, r.client_type, r.client_name, r.user_agent, r.ip,
    r.method, r.retention_days, b.detected, b.probability, b.classification, b.proxy_type, b.reason_codes,
    b.machine, b.counts_for_metrics
  ])
}

/** A ClickRow as the clicks table's columns (the bot object spread out). */
function clickColumns (r: ClickRow): Record<string, unknown> {
  const { bot, ...rest } = r
  return { ...rest, ...verdictColumns(bot) }
}

/** A bot verdict as the clicks table's columns. */
export function verdictColumns (b: BotVerdict): Record<string, unknown> {
  return {
    bot_detected: b.detected,
    bot_probability: b.probability,
    classification: b.classification,
    proxy_type: b.proxy_type,
    reason_codes: b.reason_codes,
    machine: b.machine,
    counts_for_metrics: b.counts_for_metrics
  }
}
