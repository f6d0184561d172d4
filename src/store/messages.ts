import type { ClickHouseClient } from '@clickhouse/client'

/*
 * The SQL of the messages and message_links tables (src/messages/ owns what they mean).
 * A message is (sid, message id): the tables are ordered by it, and lookups match the pairs.
 */

export interface MessageRow { sid: string, id: string, route_id: string, recipient: string, subject: string, tag: string, metadata: Record<string, string>, link_count: number }
export interface LinkRow { sid: string, id: string, link_index: number, url: string, anchor_text: string }

/** Messages and their links for the given sids × ids (the caller keeps the pairs it asked for). */
export async function findMessages (client: ClickHouseClient, sids: string[], ids: string[]): Promise<{ messages: MessageRow[], links: LinkRow[] }> {
  const params = { sids, ids }
  const messages = await (await client.query({
    query: 'SELECT sid, toString(message_id) AS id, toString(route_id) AS route_id, recipient, subject, tag, metadata, link_count FROM messages WHERE sid IN {sids:Array(String)} AND message_id IN {ids:Array(UUID)}',
    query_params: params,
    format: 'JSONEachRow'
  })).json<MessageRow>()
  const links = await (await client.query({
    query: 'SELECT sid, toString(message_id) AS id, link_index, url, anchor_text FROM message_links WHERE sid IN {sids:Array(String)} AND message_id IN {ids:Array(UUID)}',
    query_params: params,
    format: 'JSONEachRow'
  })).json<LinkRow>()
  return { messages, links }
}

/** The sid of the project that recorded `messageId` first, or undefined. */
export async function messageOwner (client: ClickHouseClient, messageId: string, settings: Record<string, string | number> = {}): Promise<string | undefined> {
  const rows = await (await client.query({
    // The table is ordered by (sid, message_id); a bloom filter on message_id (sql/012) lets
    // this skip the granules without the id.
    query: 'SELECT sid FROM messages WHERE message_id = {id:UUID} ORDER BY created_at, sid LIMIT 1',
    query_params: { id: messageId },
    format: 'JSONEachRow',
    clickhouse_settings: settings
  })).json<{ sid: string }>()
  return rows[0]?.sid
}
