import type { ClientFields, Observation } from '../records.js'
import type { Classified, ClassifyTask } from '../classify/batch.js'

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

export type { Classified }

/** Runs a classification task (in the worker pool in production; runClassifyTask in-process). */
export type ClassifyBatch = (task: ClassifyTask) => Promise<Classified[]>
