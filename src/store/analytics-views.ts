import { RAW_CLICKS, type AggSpec, type ClickSource } from './analytics.js'

/** Every query can be answered from `clicks`. */
export const RAW_SOURCE: ClickSource = RAW_CLICKS

/** The cheapest source that answers `spec` exactly. */
export function chooseSource (_spec: AggSpec): ClickSource {
  return RAW_CLICKS
}
