import { createHash } from 'node:crypto'
import type { Logger } from '../log.js'
import { limited } from '../log-limit.js'
import { Backoff } from '../backoff.js'
import type { BotVerdict, ClickRow, Observation, Reclassification, ReclassificationSink, ReclassifyReason } from '../records.js'
import type { LateEvidenceStore, RawClick, StoredBatch, StoredClick } from '../store/late-evidence.js'
import { msText } from '../store/late-evidence.js'
import { verdictColumns } from '../store/promotion.js'
import { errorText } from '../store/quarantine.js'
import { messageKey, type MessageDirectory } from '../messages/directory.js'
import { isLinkPreviewAgent, isSharedAddress, lookupNetwork, PARAMS, scannerRanges, SIGNALS } from '../classify/index.js'
import { counter, gauge, labelled, type Metric } from '../metrics.js'
import type { ClassifyBatch, ClassifyItem } from './types.js'
import { toClassifyTask } from './classify-task.js'
import { nameUuid } from '../ids.js'

/** What late evidence needs of promotion: no batch in flight while it moves first_click, and the first-click memory. */
export interface FirstClickGate {
  /** Runs `fn` with no promotion batch in flight. */
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>
  /** The message has no counting click any more: the next one promoted is its first. */
  forgetFirstClick: (sid: string, messageId: string) => void
}

export interface LateEvidenceOptions {
  store: LateEvidenceStore
  log: Logger
  nodeId: string
  messages: MessageDirectory
  classify: ClassifyBatch
  /** The promotion window: a re-judged click's message context is its observations within two windows of it. */
  windowMs: number
  /** How long after a click its verdict may still change (ms). */
  horizonMs: number
  gate: FirstClickGate
  /** Where reclassifications go once stored (webhooks). */
  sink?: ReclassificationSink
  /** The scanner ranges of this version (default: the classifier's, classify/ranges.ts). */
  scannerRanges?: readonly string[]
  retryMinMs?: number
  retryMaxMs?: number
  /** Bounds of the evidence state (see README, Late evidence). */
  maxAddresses?: number
  maxHoneypots?: number
  maxQueue?: number
  /** Clicks one trigger re-judges at most. */
  maxClicks?: number
}

/** A decided batch on its way: each step done once, whatever fails after it. */
interface Unapplied {
  batch: StoredBatch
  rows: RawClick[]
  events: Reclassification[]
  /** `event:webhook` pairs queued before a restart. */
  skip?: ReadonlySet<string>
  stored?: boolean
  queued?: boolean
  /** Called once the events are queued, with how many (refused clicks are not among them). */
  done: (queued: number) => void
}

type Trigger =
  | { kind: 'address_burst', ip: string, at: number }
  | { kind: 'honeypot', sid: string, messageId: string, ip: string, userAgent: string, obsId: string, at: number }
  | { kind: 'scanner_range', cidrs: string[], ranges: string[], at: number }

interface HoneypotHit { ip: string, userAgent: string, obsId: string, ts: number }

/** The reason code a reclassification for each reason must carry in its new verdict. */
const ADDRESS_CODE = SIGNALS.manyRecipients.code
const HONEYPOT_CODE = SIGNALS.honeypotFetcher.code
/** Promotion already judged the fetcher by its honeypot hit within the window (classify/signals.ts). */
const HONEYPOT_IN_WINDOW_CODE = SIGNALS.honeypotHit.code
const RANGES_KEY = 'scanner_ranges'
/** Per node: every burst promoted before this time (unix ms) was acted on. */
const BURSTS_KEY = 'bursts_done:'
/** How often that mark is saved at most. */
const MARK_EVERY_MS = 10_000
/** Slack before the mark for the catch-up: a burst click is promoted a window (and ingest's delay) after it was captured. */
const MARK_SLACK_MS = 60_000

export class LateEvidenceStats {
  triggers = { address_burst: 0, honeypot: 0, scanner_range: 0 }
  reclassified = { address_burst: 0, honeypot: 0, scanner_range: 0 }
  rejudged = 0
  firstClickMoved = 0
  failures = 0
  /** Reclassified clicks whose new row versions ClickHouse refused (quarantined; the click keeps its verdict, no event). */
  refused = 0
  /** Evidence state and work dropped at a bound. */
  shed = { address: 0, honeypot: 0, trigger: 0, clicks: 0 }
  /** Batches finished after a restart. */
  recovered = 0
  /** Evidence arrival → reclassification queued, of the last batch (ms). */
  lastLatencyMs = 0
}

/**
 * Late evidence: verdicts that change after the promotion window (see README, Late evidence
 * and reclassification).
 *
 * A promoted click's verdict is final after the window, but for `horizonMs` after the click
 * three kinds of evidence re-judge it: its address later bursts across many recipients'
 * messages (a promoted click carrying address_many_recipients), its message's honeypot link
 * is fetched by the same address and agent, or a newly listed scanner range holds its address
 * (the range list of this version against the one stored, at start-up). A re-judged click is
 * classified again from its stored observation and its message's observations, with the
 * evidence added; when its verdict flips (machine, or the class) because of that evidence, its
 * `clicks` row gets a new version (cancel row + new row), first_click moves to the message's
 * first click that still counts, and message.click_reclassified goes to subscribed webhooks.
 *
 * Exactly once: a batch of reclassifications is decided whole (rows and events) and stored in
 * reclassification_batches before its rows are written; once its rows are stored and its
 * events queued it is marked done. A node that restarts finishes the batches it left undone:
 * the same rows under the same token (ClickHouse keeps them once), the events not recorded as
 * queued (the outbox keeps the rest). Evidence that arrived but was not acted on is found again
 * at start-up: honeypot hits and bursts of the horizon are read back from ClickHouse (a click
 * re-judged already carries the evidence's reason code and is not selected again).
 */
export class LateEvidence {
  readonly stats = new LateEvidenceStats()
  readonly #o: LateEvidenceOptions
  readonly #queue: Trigger[] = []
  /** Address → when its last burst was acted on (insertion order = age). */
  readonly #bursts = new Map<string, number>()
  /** Message key → honeypot hits of the horizon. */
  readonly #honeypots = new Map<string, HoneypotHit[]>()
  #honeypotCount = 0
  readonly #backoff: Backoff
  #running: Promise<void> | undefined
  #timer: NodeJS.Timeout | undefined
  #stopped = false
  #lastPrune = 0
  #lastMark = 0
  /** A decided batch not applied yet (its store failed): applied before anything else. */
  #unapplied: Unapplied | undefined

  constructor (options: LateEvidenceOptions) {
    this.#o = options
    this.#backoff = new Backoff(options.retryMinMs ?? 200, options.retryMaxMs ?? 30_000)
  }

  get queued (): number { return this.#queue.length }
  get enabled (): boolean { return this.#o.horizonMs > 0 }

  metrics (): Metric[] {
    const s = this.stats
    const by = <K extends string>(o: Record<K, number>, label: string): Array<{ labels: Record<string, string>, value: number }> =>
      (Object.keys(o) as K[]).map(k => ({ labels: { [label]: k }, value: o[k] }))
    return [
      labelled('clicktrail_late_evidence_triggers_total', 'late evidence that re-judged promoted clicks, by reason', 'counter', by(s.triggers, 'reason')),
      labelled('clicktrail_reclassified_total', 'promoted clicks whose verdict changed on late evidence (message.click_reclassified), by reason', 'counter', by(s.reclassified, 'reason')),
      counter('clicktrail_late_evidence_rejudged_total', 'promoted clicks classified again on late evidence (flipped or not)', s.rejudged),
      counter('clicktrail_late_evidence_first_click_moved_total', 'click rows whose first_click changed because another click of the message was reclassified', s.firstClickMoved),
      counter('clicktrail_late_evidence_refused_total', 'reclassified clicks whose row versions ClickHouse refused: quarantined, verdict kept, no event', s.refused),
      counter('clicktrail_late_evidence_failures_total', 'late-evidence batches that failed and will be retried', s.failures),
      labelled('clicktrail_late_evidence_shed_total', 'late evidence dropped at a bound (address, honeypot: evidence state; trigger: queue; clicks: clicks past the per-trigger bound)', 'counter', by(s.shed, 'kind')),
      gauge('clicktrail_late_evidence_queued', 'late evidence waiting to be acted on', this.#queue.length),
      gauge('clicktrail_late_evidence_tracked', 'addresses and honeypot hits held as late-evidence state', this.#bursts.size + this.#honeypotCount),
      gauge('clicktrail_late_evidence_latency_seconds', 'evidence arrival to reclassification queued, of the last batch', s.lastLatencyMs / 1000)
    ]
  }

  /** Finishes batches a restart left undone, then looks for evidence of the horizon not acted on. */
  async start (): Promise<void> {
    if (!this.enabled) return
    const s = this.#o.store
    for (const b of await s.unfinishedBatches(this.#o.nodeId)) {
      const events = JSON.parse(b.events) as Reclassification[]
      const skip = await s.queuedEvents(events.map(e => e.event_id))
      await this.#apply({ batch: b, rows: JSON.parse(b.rows) as RawClick[], events, skip, done: () => {} })
      this.stats.recovered++
      this.#o.log.info({ token: b.token, clicks: b.clicks }, 'late evidence: finished a reclassification batch interrupted by a restart')
    }
    const now = Date.now()
    const from = now - this.#o.horizonMs
    // Scanner ranges: those of this version against those the horizon was last judged with.
    const current = [...new Set(this.#o.scannerRanges ?? scannerRanges())].sort()
    const text = await s.readState(RANGES_KEY)
    if (text === undefined) await s.saveState(RANGES_KEY, JSON.stringify(current))
    else {
      const before = new Set(JSON.parse(text) as string[])
      const added = current.filter(r => !before.has(r) && r.includes('/'))
      if (added.length > 0) this.#push({ kind: 'scanner_range', cidrs: added, ranges: current, at: now })
      else if (before.size !== current.length) await s.saveState(RANGES_KEY, JSON.stringify(current))
    }
    const maxHoneypots = this.#o.maxHoneypots ?? 100_000
    for (const o of await s.honeypotHitsSince(this.#o.nodeId, from, maxHoneypots)) this.#honeypot(o)
    // Bursts: only those after the mark of bursts already acted on (a restart does not redo the horizon).
    const mark = Number(await s.readState(BURSTS_KEY + this.#o.nodeId) ?? 0)
    const burstsFrom = Math.max(from, mark - 2 * this.#o.windowMs - MARK_SLACK_MS)
    for (const a of await s.addressesWithCode(ADDRESS_CODE, burstsFrom, this.#o.maxAddresses ?? 100_000)) this.#burst(a.ip, a.ts)
    this.#timer = setInterval(() => { this.#kick() }, 1000)
    this.#timer.unref()
    this.#kick()
  }

  async stop (): Promise<void> {
    this.#stopped = true
    if (this.#timer !== undefined) clearInterval(this.#timer)
    await this.#running
  }

  /** Observations ClickHouse stored (ingest): honeypot hits are evidence. */
  observed (observations: Observation[]): void {
    if (!this.enabled) return
    for (const o of observations) if (o.honeypot && o.id !== '' && !o.expired && !o.blocked) this.#honeypot(o)
  }

  /** Clicks promotion stored: a burst of an address, or a click of a fetcher whose honeypot hit came first. */
  promoted (rows: ClickRow[]): void {
    if (!this.enabled) return
    for (const r of rows) {
      if (r.bot.reason_codes.includes(ADDRESS_CODE)) this.#burst(r.ip, Date.now())
      const hits = this.#honeypots.get(messageKey(r.sid, r.message_id))
      if (hits === undefined || r.bot.reason_codes.includes(HONEYPOT_CODE) || r.bot.reason_codes.includes(HONEYPOT_IN_WINDOW_CODE)) continue
      for (const h of hits) {
        if (h.obsId !== r.obs_id && h.ip === r.ip && h.userAgent === r.user_agent) {
          this.#push({ kind: 'honeypot', sid: r.sid, messageId: r.message_id, ip: h.ip, userAgent: h.userAgent, obsId: h.obsId, at: h.ts })
          break
        }
      }
    }
    this.#kick()
  }

  /** Waits until the queue is empty (tests, benchmarks). */
  async idle (): Promise<void> {
    while (this.#queue.length > 0 || this.#running !== undefined) {
      this.#kick()
      await (this.#running ?? new Promise(resolve => setTimeout(resolve, 20)))
    }
  }

  #burst (ip: string, at: number): void {
    if (isSharedAddress(ip)) return
    const last = this.#bursts.get(ip)
    // One burst is many promoted rows: acted on once per two promotion windows.
    if (last !== undefined && at - last < 2 * this.#o.windowMs) return
    this.#bursts.delete(ip)
    if (this.#bursts.size >= (this.#o.maxAddresses ?? 100_000)) {
      this.#bursts.delete(this.#bursts.keys().next().value as string)
      this.stats.shed.address++
      limited(this.#o.log).warn('late_evidence.shed_address', { tracked: this.#bursts.size }, 'late evidence: address state full, the oldest address forgotten')
    }
    this.#bursts.set(ip, at)
    this.#push({ kind: 'address_burst', ip, at })
  }

  #honeypot (o: Observation): void {
    const k = messageKey(o.sid, o.messageId)
    let hits = this.#honeypots.get(k)
    if (hits?.some(h => h.obsId === o.id) === true) return
    if (this.#honeypotCount >= (this.#o.maxHoneypots ?? 100_000)) {
      const [oldest, list] = this.#honeypots.entries().next().value as [string, HoneypotHit[]]
      this.#honeypots.delete(oldest)
      this.#honeypotCount -= list.length
      this.stats.shed.honeypot += list.length
      limited(this.#o.log).warn('late_evidence.shed_honeypot', { tracked: this.#honeypotCount }, 'late evidence: honeypot state full, the oldest message\'s hits forgotten')
    }
    if (hits === undefined) {
      hits = []
      this.#honeypots.set(k, hits)
    }
    hits.push({ ip: o.ip, userAgent: o.userAgent, obsId: o.id, ts: o.ts })
    this.#honeypotCount++
    this.#push({ kind: 'honeypot', sid: o.sid, messageId: o.messageId, ip: o.ip, userAgent: o.userAgent, obsId: o.id, at: o.ts })
  }

  #push (t: Trigger): void {
    if (this.#queue.length >= (this.#o.maxQueue ?? 10_000)) {
      this.stats.shed.trigger++
      limited(this.#o.log).warn('late_evidence.shed_trigger', { queued: this.#queue.length, reason: t.kind }, 'late evidence: queue full, evidence dropped (found again at the next start)')
      return
    }
    this.stats.triggers[t.kind]++
    this.#queue.push(t)
    this.#kick()
  }

  #kick (): void {
    if (this.#running !== undefined || this.#stopped) return
    this.#prune()
    if ((this.#queue.length === 0 && this.#unapplied === undefined) || !this.#backoff.ready()) return
    this.#running = this.#drain().finally(() => { this.#running = undefined })
  }

  async #drain (): Promise<void> {
    while ((this.#queue.length > 0 || this.#unapplied !== undefined) && !this.#stopped) {
      const t = this.#queue[0]
      try {
        await this.#o.gate.exclusive(async () => {
          // A batch is decided once: a failed store is retried with the same rows and events.
          if (this.#unapplied !== undefined) await this.#applyUnapplied()
          else await this.#handle(t)
        })
        if (this.#unapplied === undefined && this.#queue[0] === t) this.#queue.shift()
        await this.#saveMark()
        if (this.#backoff.failures > 0) this.#o.log.info({ afterFailures: this.#backoff.failures }, 'late evidence recovered')
        this.#backoff.reset()
      } catch (err) {
        this.stats.failures++
        const wait = this.#backoff.fail()
        limited(this.#o.log).warn('late_evidence.failed', { err: errorText(err), retryInMs: Math.round(wait), reason: t.kind }, 'late evidence: re-judging failed; will retry')
        return
      }
    }
  }

  /** Saves (at most every MARK_EVERY_MS) the time before which every burst seen was acted on. */
  async #saveMark (): Promise<void> {
    const now = Date.now()
    if (now - this.#lastMark < MARK_EVERY_MS) return
    let mark = now
    for (const q of this.#queue) if (q.kind === 'address_burst' && q.at < mark) mark = q.at
    this.#lastMark = now
    await this.#o.store.saveState(BURSTS_KEY + this.#o.nodeId, String(mark))
  }

  /** Forgets evidence older than the horizon (at most once a second). */
  #prune (): void {
    const now = Date.now()
    if (now - this.#lastPrune < 1000) return
    this.#lastPrune = now
    const oldest = now - this.#o.horizonMs
    for (const [ip, at] of this.#bursts) {
      if (at >= oldest) break // insertion order is time order
      this.#bursts.delete(ip)
    }
    for (const [k, hits] of this.#honeypots) {
      const kept = hits.filter(h => h.ts >= oldest)
      this.#honeypotCount -= hits.length - kept.length
      if (kept.length === 0) this.#honeypots.delete(k)
      else if (kept.length < hits.length) this.#honeypots.set(k, kept)
    }
  }

  async #handle (t: Trigger): Promise<void> {
    const s = this.#o.store
    const now = Date.now()
    const from = now - this.#o.horizonMs
    const limit = this.#o.maxClicks ?? 10_000
    let candidates: StoredClick[]
    if (t.kind === 'address_burst') candidates = await s.clicksFromAddress(t.ip, from, now, ADDRESS_CODE, limit)
    else if (t.kind === 'honeypot') candidates = (await s.clicksOfFetcher({ sid: t.sid, messageId: t.messageId }, t.ip, t.userAgent, t.obsId, HONEYPOT_CODE, limit)).filter(c => c.click.ts >= from)
    else candidates = await s.clicksInRanges(t.cidrs, from, limit)
    // A link preview comes from the recipient's own address (iMessage): not the address's burst.
    if (t.kind === 'address_burst') candidates = candidates.filter(c => !isLinkPreviewAgent(c.click.user_agent))
    if (candidates.length >= limit) {
      this.stats.shed.clicks++
      limited(this.#o.log).warn('late_evidence.shed_clicks', { reason: t.kind, limit }, 'late evidence: more clicks than one trigger re-judges; the rest keep their verdict')
    }
    if (candidates.length > 0) {
      const verdicts = await this.#rejudge(candidates, t)
      const flipped: Array<{ c: StoredClick, bot: BotVerdict }> = []
      for (const c of candidates) {
        const bot = verdicts.get(c.click.obs_id)
        if (bot !== undefined && flips(c.click.bot, bot, evidenceCode(t, c.click.ip))) flipped.push({ c, bot })
      }
      if (flipped.length > 0) await this.#reclassify(t, flipped, now)
    }
    if (t.kind === 'scanner_range') await s.saveState(RANGES_KEY, JSON.stringify(t.ranges))
  }

  /** New verdicts of the candidates: classified again from their observations, with the evidence. */
  async #rejudge (candidates: StoredClick[], t: Trigger): Promise<Map<string, BotVerdict>> {
    const span = 2 * this.#o.windowMs
    const obs = await this.#o.store.observationsAround(candidates.map(c => ({ sid: c.click.sid, messageId: c.click.message_id, fromMs: c.click.ts - span, toMs: c.click.ts + span })))
    const byId = new Map<string, Observation>()
    const byMessage = new Map<string, Observation[]>()
    for (const o of obs) {
      byId.set(o.id, o)
      const k = messageKey(o.sid, o.messageId)
      const list = byMessage.get(k)
      if (list === undefined) byMessage.set(k, [o])
      else list.push(o)
    }
    const judged = candidates.filter(c => byId.has(c.click.obs_id))
    if (judged.length === 0) return new Map()
    const messages = await this.#o.messages.lookup(judged.map(c => ({ sid: c.click.sid, messageId: c.click.message_id })))
    // The address's reach: the burst for its own trigger; otherwise what the click was judged with.
    const reach = new Map<string, number>()
    for (const c of judged) if (c.click.bot.reason_codes.includes(ADDRESS_CODE)) reach.set(c.click.ip, PARAMS.manyRecipients)
    if (t.kind === 'address_burst') reach.set(t.ip, PARAMS.manyRecipients)
    const items: ClassifyItem[] = judged.map(c => {
      const o = byId.get(c.click.obs_id) as Observation
      const k = messageKey(o.sid, o.messageId)
      return { obs: o, context: byMessage.get(k) ?? [o], linkCount: messages.get(k)?.linkCount }
    })
    const classified = await this.#o.classify(toClassifyTask(items, ip => reach.get(ip) ?? 0))
    this.stats.rejudged += judged.length
    const out = new Map<string, BotVerdict>()
    for (let i = 0; i < judged.length; i++) {
      let bot = classified[i].verdict
      if (t.kind === 'honeypot') bot = withHoneypot(bot)
      out.set(judged[i].click.obs_id, bot)
    }
    return out
  }

  /** Decides the batch (new versions, first_click, events), stores it, then applies it. */
  async #reclassify (t: Trigger, flipped: Array<{ c: StoredClick, bot: BotVerdict }>, now: number): Promise<void> {
    const s = this.#o.store
    const newBot = new Map(flipped.map(f => [f.c.click.obs_id, f.bot]))
    const refs = new Map<string, { sid: string, messageId: string }>()
    for (const f of flipped) refs.set(messageKey(f.c.click.sid, f.c.click.message_id), { sid: f.c.click.sid, messageId: f.c.click.message_id })
    const all = await s.clicksOfMessages([...refs.values()])
    for (const f of flipped) if (!all.some(a => a.click.obs_id === f.c.click.obs_id)) all.push(f.c)
    const byMessage = new Map<string, StoredClick[]>()
    for (const a of all) {
      const k = messageKey(a.click.sid, a.click.message_id)
      const list = byMessage.get(k)
      if (list === undefined) byMessage.set(k, [a])
      else list.push(a)
    }
    const rows: RawClick[] = []
    const events: Reclassification[] = []
    const lost: Array<{ sid: string, messageId: string }> = []
    for (const [k, list] of byMessage) {
      list.sort((a, b) => a.click.ts - b.click.ts || (a.click.obs_id < b.click.obs_id ? -1 : 1))
      const counts = (a: StoredClick): boolean => (newBot.get(a.click.obs_id) ?? a.click.bot).counts_for_metrics
      // first_click stays where it is while that click still counts; else the earliest counting click takes it.
      const holder = list.find(a => a.click.first_click && counts(a)) ?? list.find(counts)
      if (holder === undefined) {
        const ref = refs.get(k)
        if (ref !== undefined) lost.push(ref)
      }
      for (const a of list) {
        const bot = newBot.get(a.click.obs_id)
        const first = a === holder
        if (bot === undefined && first === a.click.first_click) continue
        const version = Math.max(now, a.version + 1)
        rows.push({ ...a.raw, sign: -1 })
        rows.push({ ...a.raw, ...verdictColumns(bot ?? a.click.bot), first_click: first, promoted_at: msText(version), sign: 1 })
        if (bot === undefined) {
          this.stats.firstClickMoved++
          continue
        }
        events.push({
          event_id: reclassifiedEventId(a.click.obs_id, version),
          click: { ...a.click, first_click: first, bot },
          previous_bot: a.click.bot,
          previous_first_click: a.click.first_click,
          reason: t.kind,
          evidence_at: t.at,
          reclassified_at: now
        })
      }
    }
    const token = 'ct-reclass-' + createHash('sha256').update(all.map(a => `${a.click.obs_id}@${a.version}`).sort().join(',')).digest('hex').slice(0, 32)
    const batch: StoredBatch = { token, decidedAt: now, reason: t.kind, clicks: events.length, rows: JSON.stringify(rows), events: JSON.stringify(events) }
    await s.saveBatch(this.#o.nodeId, batch, false)
    // Decided: from here the same batch is stored however many attempts it takes (or by the next start).
    this.#unapplied = {
      batch,
      rows,
      events,
      done: queued => {
        for (const ref of lost) this.#o.gate.forgetFirstClick(ref.sid, ref.messageId)
        this.stats.reclassified[t.kind] += queued
        this.stats.lastLatencyMs = Date.now() - t.at
        this.#o.log.info({ reason: t.kind, clicks: queued, rows: rows.length }, 'late evidence: clicks reclassified')
      }
    }
    await this.#applyUnapplied()
  }

  async #applyUnapplied (): Promise<void> {
    const u = this.#unapplied
    if (u === undefined) return
    await this.#apply(u)
    this.#unapplied = undefined
  }

  /** Stores the rows (a replay under the same token is kept once), queues the events once, marks the batch done. */
  async #apply (u: Unapplied): Promise<void> {
    if (u.stored !== true) {
      const { refused } = await this.#o.store.insertVersions(u.rows, u.batch.token)
      if (refused.length > 0) {
        // Quarantined by the store: those clicks keep their stored verdict, so no event says otherwise.
        const gone = new Set(refused)
        u.events = u.events.filter(e => !gone.has(e.click.obs_id))
        this.stats.refused += refused.length
        limited(this.#o.log).warn('late.refused', { token: u.batch.token, refused: refused.length }, 'late evidence: ClickHouse refused row versions of a reclassification; quarantined, those clicks keep their verdict')
      }
      u.stored = true
    }
    if (u.queued !== true) {
      this.#o.sink?.reclassified(u.events, u.skip)
      u.queued = true
      u.done(u.events.length)
    }
    await this.#o.store.saveBatch(this.#o.nodeId, u.batch, true)
  }
}

/** The code the new verdict must carry for the flip to be this evidence's doing. */
function evidenceCode (t: Trigger, ip: string): string | undefined {
  if (t.kind === 'address_burst') return ADDRESS_CODE
  if (t.kind === 'honeypot') return HONEYPOT_CODE
  const network = lookupNetwork(ip)
  return network?.role === 'scanner' ? network.signal.code : undefined
}

/** A flip: the verdict changed sides (machine) or class, and the evidence is among its reasons. */
function flips (old: BotVerdict, bot: BotVerdict, code: string | undefined): boolean {
  if (code === undefined || !bot.reason_codes.includes(code)) return false
  return old.machine !== bot.machine || old.classification !== bot.classification
}

/** The verdict with the honeypot's decisive signal: the same fetcher as a honeypot hit is a scanner. */
function withHoneypot (v: BotVerdict): BotVerdict {
  const weight = SIGNALS.honeypotFetcher.weight
  return {
    detected: true,
    probability: Math.max(v.probability, weight),
    classification: 'security_scanner',
    proxy_type: v.proxy_type,
    reason_codes: [HONEYPOT_CODE, ...v.reason_codes.filter(c => c !== HONEYPOT_CODE)],
    machine: true,
    counts_for_metrics: false
  }
}

/** The event id of a reclassification: a UUID (version 5 layout) from the click and its new version, stable across replays. */
export function reclassifiedEventId (obsId: string, versionMs: number): string {
  return nameUuid(`message.click_reclassified:${obsId}:${versionMs}`)
}

export type { ReclassifyReason }
