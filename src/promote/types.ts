import type { BotVerdict, ClientFields, Observation } from '../records.js'

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
