import { nameUuid } from '../ids.js'
import type { BotVerdict, ClickRow, Reclassification, ReclassifyReason } from '../records.js'

/** The `message.clicked` event, field by field as in SPEC §6. */
export interface ClickedEvent {
  id: string
  event: 'message.clicked'
  timestamp: string
  /** ClickRow's fields (one declaration) but `clicked_at`, the click time as a string. */
  data: Pick<ClickRow, 'message_id' | 'subject' | 'metadata' | 'tag' | 'recipient' | 'destination_url' | 'link_index' |
  'anchor_text' | 'first_click' | 'client_type' | 'client_name' | 'user_agent' | 'bot'> & {
    clicked_at: string
    /** `desktop`, `mobile` or `tablet` (SPEC §6); null when the agent names no device (stored as ''). */
    device_type: string | null
  }
}

/**
 * The event id: a UUID derived from the observation id, so the same click always yields
 * the same event id — across retries, restarts and replays — and receivers can
 * de-duplicate on it (Standard Webhooks `webhook-id`).
 */
export function eventIdFor (obsId: string): string {
  return nameUuid(`message.clicked:${obsId}`)
}

/** `2025-08-08T20:18:30+00:00`: the spec's clicked_at form (seconds, explicit offset). */
export function offsetTime (ms: number): string {
  return new Date(ms).toISOString().slice(0, 19) + '+00:00'
}

export function buildClickedEvent (c: ClickRow, createdAt: number): ClickedEvent {
  return {
    id: eventIdFor(c.obs_id),
    event: 'message.clicked',
    timestamp: new Date(createdAt).toISOString(),
    data: clickedData(c)
  }
}

/**
 * The `data` of a `message.clicked` event: also what the Team API's message events and click
 * exports carry for each click, so a click reads the same in a webhook and in the API.
 */
export function clickedData (c: ClickRow): ClickedEvent['data'] {
  return {
    message_id: c.message_id,
    subject: c.subject,
    metadata: c.metadata,
    tag: c.tag,
    recipient: c.recipient,
    clicked_at: offsetTime(c.ts),
    destination_url: c.destination_url,
    link_index: c.link_index,
    anchor_text: c.anchor_text,
    first_click: c.first_click,
    device_type: c.device_type === '' ? null : c.device_type,
    client_type: c.client_type,
    client_name: c.client_name,
    user_agent: c.user_agent,
    bot: {
      detected: c.bot.detected,
      probability: c.bot.probability,
      classification: c.bot.classification,
      proxy_type: c.bot.proxy_type,
      reason_codes: c.bot.reason_codes,
      machine: c.bot.machine,
      counts_for_metrics: c.bot.counts_for_metrics
    }
  }
}

/**
 * The `message.click_reclassified` event: a promoted click whose verdict changed on late
 * evidence (promote/late.ts). `data` is the click as message.clicked carries it, with its
 * new `bot` and `first_click`, plus the click's id (the observation id), the id of its
 * message.clicked event, the previous `bot` and `first_click`, the reason, and when the
 * evidence arrived and the verdict changed.
 */
export interface ReclassifiedEvent {
  id: string
  event: 'message.click_reclassified'
  timestamp: string
  data: ClickedEvent['data'] & {
    click_id: string
    click_event_id: string
    reason: ReclassifyReason
    previous_bot: BotVerdict
    previous_first_click: boolean
    evidence_at: string
    reclassified_at: string
  }
}

export function buildReclassifiedEvent (r: Reclassification): ReclassifiedEvent {
  const p = r.previous_bot
  return {
    id: r.event_id,
    event: 'message.click_reclassified',
    timestamp: new Date(r.reclassified_at).toISOString(),
    data: {
      click_id: r.click.obs_id,
      click_event_id: eventIdFor(r.click.obs_id),
      ...clickedData(r.click),
      reason: r.reason,
      previous_bot: {
        detected: p.detected,
        probability: p.probability,
        classification: p.classification,
        proxy_type: p.proxy_type,
        reason_codes: p.reason_codes,
        machine: p.machine,
        counts_for_metrics: p.counts_for_metrics
      },
      previous_first_click: r.previous_first_click,
      evidence_at: offsetTime(r.evidence_at),
      reclassified_at: offsetTime(r.reclassified_at)
    }
  }
}
