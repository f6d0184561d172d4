import type { Observation } from '../records.js'
import type { BotVerdict, ClientFields } from '../classify/index.js'

/** The spec's `bot` object (SPEC §5), as the classifier defines it. */
export type { BotVerdict }

/** device_type, client_type, client_name (SPEC §6), as the UA parser defines them. */
export type ClientInfo = ClientFields

/** One observation to classify, with the other observations of its message around it. */
export interface ClassifyItem {
  obs: Observation
  /** Observations of the same message within the promotion window (the item itself included). */
  context: Observation[]
  /** Links of the message, when the message is known. */
  linkCount?: number
}

export interface Classified { verdict: BotVerdict, client: ClientInfo }

/** Runs classification of a batch (in the worker pool in production). */
export type ClassifyBatch = (items: ClassifyItem[]) => Promise<Classified[]>

/** A promoted click: a row of the `clicks` table, and what webhooks are built from. */
export interface ClickRow {
  obs_id: string
  ts: number
  sid: string
  message_id: string
  link_index: number
  sent_at: number
  recipient: string
  subject: string
  tag: string
  metadata: Record<string, string>
  destination_url: string
  anchor_text: string
  first_click: boolean
  device_type: string
  client_type: string
  client_name: string
  user_agent: string
  ip: string
  method: string
  bot: BotVerdict
  retention_days: number
}
