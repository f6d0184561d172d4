import type { LinkRecord } from '../rewrite/html.js'
import type { PartSkipReason } from '../rewrite/mime.js'
import type { PackedClassifyTask } from '../classify/batch.js'

/**
 * The messages that cross the thread boundary: plain structured-clone data only (no
 * classes, no functions), so both sides agree on them by type alone. Each task kind is
 * dispatched by `kind` in worker.ts; classification tasks will join this union.
 */

/** What a worker needs to mint tokens on its own: it builds its own KeyRing from this. */
export interface TrackingConfig {
  /** Master secrets (kid + bytes); the highest kid signs, as in KeyRing. */
  secrets: Array<{ kid: number, secret: Uint8Array }>
  /** Project short id. */
  sid: string
  /** `{scheme}://{host[:port]}`: tracked URLs are `{scheme}://p{sid}.{host[:port]}/c/{token}`. */
  trackingBaseUrl: string
  /** Custom tracking domains: links already pointing at one (or at `p*.{host}`) are not wrapped again. */
  customDomains?: string[]
  /** Longest destination a token may carry (config `maxUrlBytes`). */
  maxUrlBytes?: number
}

/** One document for one message (recipient). */
export interface RewriteJob {
  html: string
  /** UUID of the message (one per recipient: each gets its own tokens). */
  messageId: string
  /** Unix seconds. */
  sentAt: number
  /** Index of the first link (default 0). */
  firstIndex?: number
  /** Add the honeypot link (route setting honeypot_link; rewrite/honeypot.ts). */
  honeypot?: boolean
}

/**
 * Several jobs per task: one thread hop for a batch. Jobs holding the same HTML as the
 * job before them (one send to many recipients) reuse its parse and only mint anew.
 */
export interface RewriteTask {
  kind: 'rewrite'
  tracking: TrackingConfig
  jobs: RewriteJob[]
}

export interface RewriteOutput {
  html: string
  links: LinkRecord[]
  mso: { rewritten: number, untouched: number }
  honeypot: boolean
}

/**
 * One send of `POST /v1/rewrite`: one document for many recipients, answered whole. The
 * worker reads the document once, checks the request's bounds before minting anything,
 * renders each recipient's copy and writes the JSON answer itself, so that the main thread
 * (which also serves redirects) only writes bytes: structured-cloning 50 copies of a 3 MB
 * document back, then JSON.stringify-ing them into one string, held it for seconds.
 */
export interface RewriteSendTask {
  kind: 'rewrite-send'
  tracking: TrackingConfig
  html: string
  /** Returned unchanged in every message when given. */
  text?: string
  recipients: string[]
  /** One per recipient, same order. */
  messageIds: string[]
  /** Unix seconds. */
  sentAt: number
  /** Tokens go into the html; false: every message gets the html as given (the link table is still read). */
  track: boolean
  /** Add the honeypot link to each message (route setting honeypot_link; rewrite/honeypot.ts). */
  honeypot?: boolean
  /** The answer's fields before `messages` (written first, as given). */
  answer: { route_id: string, tracking: { enabled: boolean, reason: string } }
  limits: { maxLinks: number, maxTokens: number, maxOutputBytes: number }
}

export interface RewriteSendOutput {
  /** The whole answer body, JSON in UTF-8, in a buffer transferred (not copied) from the worker. */
  body: Uint8Array
  /** The document's link table; the same for every recipient (only the tokens differ). */
  links: LinkRecord[]
}

/** A raw RFC 5322 message, as an SMTP relay hands it over. */
export interface MimeTask {
  kind: 'rewrite-mime'
  tracking: TrackingConfig
  raw: Uint8Array
  messageId: string
  sentAt: number
  /** The route's track_clicks. */
  trackClicks: boolean
  /** Whether X-LM-Override-Track-Clicks may decide (false for inbound routes: never tracked). */
  overridable: boolean
  /** Links over all HTML parts at most (CT_ERR_REWRITE_TOO_MANY_LINKS); default: no bound. */
  maxLinks?: number
  /** Add the honeypot link, once per message, in the first HTML part with a tracked link. */
  honeypot?: boolean
}

export interface MimeOutput {
  raw: Uint8Array
  /** X-LM-Override-Track-Clicks as read (the header is removed either way). */
  override: boolean | undefined
  overrideHeader?: string
  /** Whether links were tracked: override if given and allowed, else the route's setting. */
  tracked: boolean
  /** The link table over all HTML parts, indices continuing from part to part. */
  links: LinkRecord[]
  htmlParts: number
  skippedParts: Array<{ index: number, charset: string, reason: PartSkipReason }>
}

/** Test-only: makes the worker exit mid-task (accepted only by pools created with allowTestTasks). */
export interface CrashTask {
  kind: 'test-crash'
}

export type PoolTask = RewriteTask | RewriteSendTask | MimeTask | CrashTask | PackedClassifyTask

/** An error as data: Error subclasses lose their code crossing threads. */
export interface TaskFailure {
  /** A code of src/errors.ts (its status travels with the code, not with the message). */
  code: string
  message: string
}

export type JobResult<T> = { ok: true, value: T } | { ok: false, error: TaskFailure }

export interface PoolResults {
  rewrite: Array<JobResult<RewriteOutput>>
  'rewrite-send': JobResult<RewriteSendOutput>
  'rewrite-mime': JobResult<MimeOutput>
  'test-crash': never
  classify: JobResult<Uint8Array>
}

export interface WorkerData {
  allowTestTasks: boolean
}
