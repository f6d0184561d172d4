import type { ClickHouseClient } from '@clickhouse/client'
import type { Observation } from '../records.js'
import { partitionObservations } from './observations.js'

/** A node's heartbeat (promotion_nodes). Times are unix ms of the node's own clock. */
export interface NodeBeat {
  nodeId: string
  /** The node is live until then (the leases it holds with it). */
  expiresAt: number
  /** Every observation the node captured before it is in ClickHouse; 0 = nothing on its way (a node that left). */
  lowWatermark: number
  /** Stopped gracefully: its leases are released, it takes no share. */
  leaving: boolean
}

/** One claim or release of a partition (promotion_leases). */
export interface LeaseRow {
  partition: number
  epoch: number
  owner: string
  kind: 'claim' | 'release'
  /** When ClickHouse took it (its clock): orders two claims of one epoch if deduplication ever let both in. */
  writtenAt: number
}

/**
 * What promotion by partitions needs of storage (src/promote/partitions.ts knows only this
 * port; its tests give a double): heartbeats, the leases, every node's observations of a
 * set of partitions, and which observations are promoted already.
 */
export interface LeaseStore {
  beat (b: NodeBeat): Promise<void>
  /** The latest beat of every node seen within the table's TTL. */
  nodes (): Promise<NodeBeat[]>
  /** The rows of each partition's highest epoch. */
  currentLeases (): Promise<LeaseRow[]>
  /** Claims (partition, epoch): the first claim of an epoch is kept, any later one dropped. */
  claim (partition: number, epoch: number, owner: string): Promise<void>
  release (partition: number, epoch: number, owner: string): Promise<void>
  /** Every node's observations of `partitions` (of `count`) after `fromMs`, taken by ClickHouse at or after `ingestedFromMs`. */
  partitionObservations (count: number, partitions: number[], fromMs: number, ingestedFromMs: number): Promise<{ observations: Observation[], ingested: number[], maxIngestedAt: number }>
  /** Of these observations, the ids of those already in `clicks`. */
  promoted (refs: Array<{ messageId: string, obsId: string }>): Promise<Set<string>>
  /** The lowest watermark of the nodes that promoted their own observations (before partitions); 0 when none. */
  nodeWatermarks (): Promise<number>
}

/** The LeaseStore of ClickHouse (embedded or a server; in a cluster both tables are replicated on every node). */
export class ClickHouseLeaseStore implements LeaseStore {
  constructor (readonly client: ClickHouseClient) {}

  async beat (b: NodeBeat): Promise<void> {
    await this.client.insert({
      table: 'promotion_nodes',
      values: [{ node_id: b.nodeId, expires_at: b.expiresAt, low_watermark: b.lowWatermark, leaving: b.leaving, version: Date.now() }],
      format: 'JSONEachRow',
      // Every beat is new: no deduplication by content (two beats can carry the same values).
      clickhouse_settings: { insert_deduplicate: 0 }
    })
  }

  async nodes (): Promise<NodeBeat[]> {
    const rows = await (await this.client.query({
      query: `SELECT node_id, toUnixTimestamp64Milli(expires_at) AS e, toUnixTimestamp64Milli(low_watermark) AS w, leaving
        FROM promotion_nodes FINAL`,
      format: 'JSONEachRow'
    })).json<{ node_id: string, e: string, w: string, leaving: boolean }>()
    return rows.map(r => ({ nodeId: r.node_id, expiresAt: Number(r.e), lowWatermark: Number(r.w), leaving: r.leaving }))
  }

  async currentLeases (): Promise<LeaseRow[]> {
    const rows = await (await this.client.query({
      query: `SELECT partition, epoch, owner, kind, toUnixTimestamp64Milli(written_at) AS at FROM promotion_leases
        WHERE (partition, epoch) IN (SELECT partition, max(epoch) FROM promotion_leases GROUP BY partition)
        ORDER BY partition, written_at, owner`,
      format: 'JSONEachRow'
    })).json<{ partition: number, epoch: string, owner: string, kind: string, at: string }>()
    return rows.map(r => ({ partition: Number(r.partition), epoch: Number(r.epoch), owner: r.owner, kind: r.kind === 'release' ? 'release' : 'claim', writtenAt: Number(r.at) }))
  }

  async claim (partition: number, epoch: number, owner: string): Promise<void> {
    // The token makes this a compare-and-set: a second claim of the epoch, by any node, is
    // dropped as a duplicate of the first (non_replicated_deduplication_window on one server,
    // Keeper's block ids in a cluster).
    await this.#write(partition, epoch, owner, 'claim', `lease-${partition}-${epoch}`)
  }

  async release (partition: number, epoch: number, owner: string): Promise<void> {
    await this.#write(partition, epoch, owner, 'release', `lease-${partition}-${epoch}-release`)
  }

  async #write (partition: number, epoch: number, owner: string, kind: string, token: string): Promise<void> {
    await this.client.insert({
      table: 'promotion_leases',
      values: [{ partition, epoch, owner, kind }],
      format: 'JSONEachRow',
      clickhouse_settings: { insert_deduplication_token: token }
    })
  }

  async partitionObservations (count: number, partitions: number[], fromMs: number, ingestedFromMs: number): Promise<{ observations: Observation[], ingested: number[], maxIngestedAt: number }> {
    return await partitionObservations(this.client, count, partitions, fromMs, ingestedFromMs)
  }

  async nodeWatermarks (): Promise<number> {
    const rows = await (await this.client.query({
      query: "SELECT toUnixTimestamp64Milli(min(promoted_until)) AS w, count() AS n FROM promotion_state FINAL WHERE NOT startsWith(node_id, 'partition/')",
      format: 'JSONEachRow'
    })).json<{ w: string, n: string }>()
    return rows.length === 0 || Number(rows[0].n) === 0 ? 0 : Number(rows[0].w)
  }

  async promoted (refs: Array<{ messageId: string, obsId: string }>): Promise<Set<string>> {
    if (refs.length === 0) return new Set()
    // message_id narrows the read to the messages' granules (the table's key is (sid, message_id, ts)).
    const rows = await (await this.client.query({
      query: 'SELECT DISTINCT toString(obs_id) AS id FROM clicks WHERE message_id IN {ids:Array(UUID)} AND obs_id IN {obs:Array(UUID)}',
      query_params: { ids: [...new Set(refs.map(r => r.messageId))], obs: refs.map(r => r.obsId) },
      format: 'JSONEachRow'
    })).json<{ id: string }>()
    return new Set(rows.map(r => r.id))
  }
}
