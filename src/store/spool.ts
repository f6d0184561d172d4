import {
  accessSync, closeSync, constants, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync,
  openSync, readdirSync, truncateSync, unlinkSync, writeSync, writevSync
} from 'node:fs'
import { readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Packr, Unpackr } from 'msgpackr'
import { ClicktrailError } from '../errors.js'
import { counter, gauge, type Metric } from '../metrics.js'

/*
 * Durable, bounded, append-only spool for observation batches: a batch reaches disk here
 * before it is inserted into ClickHouse, is released once ClickHouse acknowledged the
 * insert, and whatever was not released is handed out once more by `recover()` after a
 * restart.
 *
 * On disk, in `dir`:
 *   <seq>-<rand>.seg  a segment: back-to-back frames, nothing else (no file header).
 *                     seq is 12 decimal digits (ordering), rand 16 hex digits from
 *                     crypto.randomBytes, fixed when the file is created.
 *   <seq>-<rand>.ack  its sidecar: one 8-byte record per acknowledged frame.
 *
 *   frame      = [payload length u32 LE][CRC-32C of payload u32 LE][payload]
 *   payload    = msgpackr encoding of the batch, a non-empty array of records
 *   ack record = [frame offset u32 LE][CRC-32C of those 4 bytes u32 LE]
 *
 * - Appends go to one active segment, opened O_APPEND and written with one writev per
 *   batch (header + payload, no Buffer concatenation). With fsync 'batch' each append is
 *   fdatasync'ed before it returns, and the directory is fsync'ed when a segment is
 *   created, so a returned BatchRef survives power loss. That fdatasync blocks the event
 *   loop for as long as the disk takes; 'none' leaves flushing to the kernel (the data
 *   then survives a crash of the process, not of the machine).
 * - Every open starts a new active segment (lazily, at the first append); older segments
 *   are never written again except to cut a bad tail, so their frames are immutable.
 * - A segment rolls over at segmentBytes. One that is not active and whose frames are
 *   all acknowledged is deleted (.seg first, then .ack: a crash in between leaves an
 *   orphan .ack, removed at the next open; the other order would replay the segment).
 * - Acks are not fsync'ed. A lost ack, like a crash between the ClickHouse insert and
 *   the ack, only means that batch is replayed after a restart; that is harmless because
 *   the caller inserts with insert_deduplication_token = BatchRef.id, which names the
 *   frame (`<seq>-<rand>-<offset>`) and so is the same across restarts. The random part
 *   keeps ids unique when the directory was wiped (seq restarts at 1) and across nodes
 *   that insert into the same table; ClickHouse would otherwise drop a new batch as a
 *   duplicate of an old one.
 * - open() reads every frame and checks its length and CRC. The first frame that fails
 *   (a torn write, a flipped bit, garbage or a zero-filled tail left by a crash) is where
 *   the file is cut: the length field is not protected by the CRC, so nothing after a bad
 *   frame can be trusted to be a frame boundary. Cuts are counted and reported through
 *   onCorrupt, never thrown. A torn ack record is cut likewise; an ack record with a bad
 *   CRC is ignored (its batch replays).
 * - The msgpackr encoding uses records (each key list is written once per batch: for a batch
 *   of objects, 71 % of the size and 5× faster to decode than plain maps, measured in
 *   bench/micro/spool-records.mjs; both spools store JSON texts today, where it changes
 *   nothing), with no shared structures: every payload carries its own definitions, so it
 *   decodes after a restart with no state kept outside the file.
 */

/** What `onCorrupt` is told about bad data found in a segment. */
export interface SpoolCorruption {
  /** The segment file. */
  file: string
  /** Offset of the first bad byte (the start of the frame that failed). */
  offset: number
  /** Bytes cut from the file at `offset`; 0 when a frame was dropped at replay instead. */
  bytes: number
  /** Records dropped at replay ('read', 'decode'); 0 for cuts, whose content is unknown. */
  records: number
  /**
   * torn: a frame runs past the end of the file (an interrupted write);
   * crc: the payload does not match its checksum;
   * format: the length or payload cannot be a frame (e.g. a zero-filled tail);
   * read / decode: at replay, a frame that passed open() could not be read or decoded.
   */
  reason: 'torn' | 'crc' | 'format' | 'read' | 'decode'
}

export interface SpoolOptions {
  /** Directory of the spool, created if missing. One Spool per directory at a time. */
  dir: string
  /** Bound on the bytes of all segment files; an append that would pass it is shed. */
  maxBytes: number
  /**
   * A segment rolls over once it would pass this size. Default: 8 MiB, or a quarter of
   * maxBytes if smaller, since acked bytes come back only a whole segment at a time.
   */
  segmentBytes?: number
  /** 'batch' (default): fdatasync every append before returning. 'none': let the kernel flush. */
  fsync?: 'batch' | 'none'
  /** Told about every cut or dropped frame; the caller logs it. Called synchronously. */
  onCorrupt?: (info: SpoolCorruption) => void
}

/** One appended batch: the frame at `offset` in `segment`. A plain object, fine to keep across restarts. */
export interface BatchRef {
  readonly segment: string
  readonly offset: number
  /** Records in the batch. */
  readonly count: number
  /** `<segment>-<offset>`: the same for the same frame after a restart; use it as insert_deduplication_token. */
  readonly id: string
}

/** One segment file, as `segmentInfo()` describes it. */
export interface SegmentInfo {
  readonly name: string
  readonly bytes: number
  readonly pendingBatches: number
  readonly active: boolean
}

export interface SpoolBatch<T> {
  readonly ref: BatchRef
  readonly records: T[]
}

/** Counters; read them, don't write them. */
export class SpoolStats {
  /** Bytes of all segment files (ack sidecars, 8 bytes per acked batch, are not counted). */
  bytes = 0
  segments = 0
  /** Appended or recovered, and not acknowledged yet. */
  pendingBatches = 0
  pendingRecords = 0
  appendedBatches = 0
  appendedRecords = 0
  ackedBatches = 0
  ackedRecords = 0
  /** Found unacknowledged by open(). */
  recoveredBatches = 0
  recoveredRecords = 0
  /** Refused by append for any reason: the byte bound, a disk error, an encode error, not open. */
  shedBatches = 0
  shedRecords = 0
  /** Failed writes, fsyncs, truncations, file creations and deletions. */
  writeErrors = 0
  /** Batches whose records could not be encoded (also counted as shed). */
  encodeErrors = 0
  /** Cut points found by open(): one per bad frame, everything after it is in truncatedBytes. */
  truncatedFrames = 0
  truncatedBytes = 0
  /** Records of frames that passed open() but could not be read or decoded at replay. */
  lostRecords = 0
}

const FRAME_HEADER_BYTES = 8
const ACK_BYTES = 8
const MAX_U32 = 0xffffffff
const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024
const MIN_SEGMENT_BYTES = 4096
const SEGMENT_RE = /^(\d{12})-[0-9a-f]{16}\.seg$/
const ACK_RE = /^(\d{12})-[0-9a-f]{16}\.ack$/
const FILE_MODE = 0o600 // observations hold client IPs and user agents
const SEGMENT_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_EXCL
const ACK_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT

// Scratch buffers for the synchronous writes; safe to share because nothing awaits between
// filling and writing them.
const frameHeader = Buffer.allocUnsafe(FRAME_HEADER_BYTES)
const ackRecord = Buffer.allocUnsafe(ACK_BYTES)

// maxSharedStructures 0: record definitions travel inside each payload (see the top).
const packr = new Packr({ maxSharedStructures: 0 })
const unpackr = new Unpackr({ maxSharedStructures: 0 })

// CRC-32C (Castagnoli), slicing-by-8. zlib.crc32 (Node ≥ 20.15) is CRC-32/IEEE, another
// polynomial. Measured (bench/micro/spool-crc.mjs): 0.4–0.8 ms for a 366 KB batch, against
// 1.0–1.1 ms for the one-table loop.
const CRC_TABLE = new Int32Array(8 * 256)
for (let n = 0; n < 256; n++) {
  let c = n
  for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
  CRC_TABLE[n] = c
}
for (let n = 0; n < 256; n++) {
  let c = CRC_TABLE[n]
  for (let k = 1; k < 8; k++) {
    c = CRC_TABLE[c & 0xff] ^ (c >>> 8)
    CRC_TABLE[k * 256 + n] = c
  }
}

/** CRC-32C of buf[start, end), as an unsigned 32-bit number. */
export function crc32c (buf: Uint8Array, start = 0, end = buf.length): number {
  const t = CRC_TABLE
  let crc = -1
  let i = start
  const end8 = end - ((end - start) & 7)
  while (i < end8) {
    const a = crc ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24))
    crc = t[1792 + (a & 0xff)] ^ t[1536 + ((a >>> 8) & 0xff)] ^ t[1280 + ((a >>> 16) & 0xff)] ^
      t[1024 + (a >>> 24)] ^ t[768 + buf[i + 4]] ^ t[512 + buf[i + 5]] ^ t[256 + buf[i + 6]] ^ t[buf[i + 7]]
    i += 8
  }
  while (i < end) crc = t[(crc ^ buf[i++]) & 0xff] ^ (crc >>> 8)
  return ~crc >>> 0
}

/**
 * Records in a payload, read from its msgpack array header (fixarray, array 16, array 32)
 * so open() can count pending records without decoding; -1 if it is not a non-empty array.
 */
function arrayLength (buf: Buffer, at: number, length: number): number {
  const b = buf[at]
  let n = -1
  if ((b & 0xf0) === 0x90) n = b & 0x0f
  else if (b === 0xdc && length >= 3) n = buf.readUInt16BE(at + 1)
  else if (b === 0xdd && length >= 5) n = buf.readUInt32BE(at + 1)
  // every record takes at least a byte
  return n > 0 && n < length ? n : -1
}

function closeQuietly (fd: number): void {
  if (fd < 0) return
  try { closeSync(fd) } catch {}
}

function isMissing (err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT'
}

function dirError (dir: string, what: string, err: unknown): ClicktrailError {
  const reason = err instanceof Error ? err.message : String(err)
  return new ClicktrailError('CT_ERR_SPOOL_DIR', `spool directory ${dir} is unusable: ${what}: ${reason}`, { cause: err })
}

class Segment {
  readonly name: string
  readonly seq: number
  readonly path: string
  readonly ackPath: string
  size = 0
  /** Open only while this is the active segment. */
  fd = -1
  /** Opened at the first ack. */
  ackFd = -1
  /** Unacknowledged frames, offset → record count, in file order. */
  readonly pending = new Map<number, number>()

  constructor (dir: string, name: string, seq: number) {
    this.name = name
    this.seq = seq
    this.path = join(dir, `${name}.seg`)
    this.ackPath = join(dir, `${name}.ack`)
  }
}

function makeRef (seg: Segment, offset: number, count: number): BatchRef {
  return { segment: seg.name, offset, count, id: `${seg.name}-${offset}` }
}

export class Spool<T = unknown> {
  /**
   * Its state as metrics, under `prefix` (`clicktrail_spool` for ingest's spool,
   * `clicktrail_outbox` for the webhook outbox).
   */
  metrics (prefix = 'clicktrail_spool'): Metric[] {
    const s = this.stats
    return [
      gauge(`${prefix}_bytes`, 'bytes of the segment files', s.bytes),
      gauge(`${prefix}_pending_records`, 'records appended and not acknowledged yet', s.pendingRecords),
      counter(`${prefix}_truncated_frames_total`, 'damaged frames cut at start-up', s.truncatedFrames),
      counter(`${prefix}_write_errors_total`, 'failed writes, fsyncs, truncations, creations and deletions', s.writeErrors),
      counter(`${prefix}_shed_records_total`, 'records refused by append (the byte bound, a disk or encode error)', s.shedRecords),
      counter(`${prefix}_lost_records_total`, 'records of frames that passed open() but could not be read or decoded at replay', s.lostRecords)
    ]
  }

  readonly dir: string
  readonly maxBytes: number
  readonly segmentBytes: number
  readonly fsync: 'batch' | 'none'
  readonly stats = new SpoolStats()
  readonly #onCorrupt: ((info: SpoolCorruption) => void) | undefined
  /** By seq, oldest first. */
  readonly #segments = new Map<string, Segment>()
  #active: Segment | undefined
  /** Segments found by open() with pending frames, handed out once by recover(). */
  #recovering: Segment[] = []
  #nextSeq = 1
  #dirFd = -1
  #state: 'new' | 'opening' | 'open' | 'closed' = 'new'

  constructor (options: SpoolOptions) {
    const { dir, maxBytes, fsync = 'batch', onCorrupt } = options
    if (typeof dir !== 'string' || dir === '') throw new RangeError('spool dir must be a non-empty path')
    if (!Number.isSafeInteger(maxBytes) || maxBytes < MIN_SEGMENT_BYTES) {
      throw new RangeError(`spool maxBytes must be an integer ≥ ${MIN_SEGMENT_BYTES}, got ${maxBytes}`)
    }
    const segmentBytes = options.segmentBytes ?? Math.min(DEFAULT_SEGMENT_BYTES, Math.max(MIN_SEGMENT_BYTES, Math.floor(maxBytes / 4)))
    // frame offsets are u32, and a frame only starts below segmentBytes
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < MIN_SEGMENT_BYTES || segmentBytes > MAX_U32) {
      throw new RangeError(`spool segmentBytes must be an integer in [${MIN_SEGMENT_BYTES}, ${MAX_U32}], got ${segmentBytes}`)
    }
    if (fsync !== 'batch' && fsync !== 'none') throw new RangeError(`spool fsync must be 'batch' or 'none', got ${String(fsync)}`)
    this.dir = dir
    this.maxBytes = maxBytes
    this.segmentBytes = segmentBytes
    this.fsync = fsync
    this.#onCorrupt = onCorrupt
  }

  /**
   * Scans the directory, cuts bad tails, deletes fully acknowledged segments and makes the
   * rest available to recover(). Throws a ClicktrailError CT_ERR_SPOOL_DIR if the
   * directory cannot be created, read or written; never for corrupt content.
   */
  async open (): Promise<void> {
    if (this.#state !== 'new') throw new Error('spool: open() may be called once')
    this.#state = 'opening'
    const dir = this.dir
    let names: string[]
    try {
      mkdirSync(dir, { recursive: true })
      accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK)
      this.#dirFd = openSync(dir, 'r')
      names = readdirSync(dir)
    } catch (err) {
      closeQuietly(this.#dirFd)
      this.#dirFd = -1
      this.#state = 'closed'
      throw dirError(dir, 'cannot open it', err)
    }
    const found: Segment[] = []
    const acks = new Set<string>()
    for (const name of names) {
      const m = SEGMENT_RE.exec(name)
      if (m !== null) found.push(new Segment(dir, name.slice(0, -4), Number(m[1])))
      else if (ACK_RE.test(name)) acks.add(name.slice(0, -4))
    }
    found.sort((a, b) => a.seq - b.seq || (a.name < b.name ? -1 : 1))
    try {
      for (const seg of found) {
        acks.delete(seg.name)
        await this.#load(seg)
        this.#segments.set(seg.name, seg)
        this.stats.bytes += seg.size
        this.stats.segments++
        if (seg.seq >= this.#nextSeq) this.#nextSeq = seg.seq + 1
        if (seg.pending.size > 0) this.#recovering.push(seg)
      }
      for (const name of acks) unlinkSync(join(dir, `${name}.ack`)) // orphans of an interrupted delete
    } catch (err) {
      this.#closeFds()
      this.#state = 'closed'
      throw err instanceof ClicktrailError ? err : dirError(dir, 'cannot clean it up', err)
    }
    if (this.#state !== 'opening') return // closed while reading
    this.#sweep()
    this.#state = 'open'
  }

  /** Reads one segment's acks and frames; cuts what is bad. */
  async #load (seg: Segment): Promise<void> {
    let acked: Set<number>
    let buf: Buffer
    try {
      acked = await this.#loadAcks(seg)
      buf = await readFile(seg.path)
    } catch (err) {
      throw dirError(this.dir, `cannot read ${seg.path}`, err)
    }
    const size = buf.length
    let pos = 0
    let bad: SpoolCorruption['reason'] | undefined
    while (pos < size) {
      if (size - pos < FRAME_HEADER_BYTES) { bad = 'torn'; break }
      const length = buf.readUInt32LE(pos)
      const start = pos + FRAME_HEADER_BYTES
      if (length === 0) { bad = 'format'; break }
      if (length > size - start) { bad = 'torn'; break }
      if (crc32c(buf, start, start + length) !== buf.readUInt32LE(pos + 4)) { bad = 'crc'; break }
      const count = arrayLength(buf, start, length)
      if (count < 0) { bad = 'format'; break }
      if (!acked.has(pos)) {
        seg.pending.set(pos, count)
        this.stats.pendingBatches++
        this.stats.pendingRecords += count
        this.stats.recoveredBatches++
        this.stats.recoveredRecords += count
      }
      pos = start + length
    }
    seg.size = pos
    if (bad === undefined) return
    try {
      truncateSync(seg.path, pos)
    } catch (err) {
      throw dirError(this.dir, `cannot cut the bad tail of ${seg.path}`, err)
    }
    this.stats.truncatedFrames++
    this.stats.truncatedBytes += size - pos
    this.#onCorrupt?.({ file: seg.path, offset: pos, bytes: size - pos, records: 0, reason: bad })
  }

  async #loadAcks (seg: Segment): Promise<Set<number>> {
    const acked = new Set<number>()
    let buf: Buffer
    try {
      buf = await readFile(seg.ackPath)
    } catch (err) {
      if (isMissing(err)) return acked
      throw err
    }
    const whole = buf.length - (buf.length % ACK_BYTES)
    // a torn record would misalign every ack appended after it
    if (whole !== buf.length) truncateSync(seg.ackPath, whole)
    for (let pos = 0; pos < whole; pos += ACK_BYTES) {
      if (crc32c(buf, pos, pos + 4) === buf.readUInt32LE(pos + 4)) acked.add(buf.readUInt32LE(pos))
    }
    return acked
  }

  /**
   * The batches open() found unacknowledged, oldest first, each read back from disk as it
   * is reached. Hands every batch out once per open: a second call yields only what the
   * first did not reach. Batches acknowledged meanwhile are skipped. A frame that cannot
   * be read or decoded is reported through onCorrupt, counted in lostRecords and released.
   */
  async * recover (): AsyncGenerator<SpoolBatch<T>, void, undefined> {
    while (this.#recovering.length > 0) {
      const seg = this.#recovering.shift() as Segment
      if (this.#state !== 'open') return
      if (seg.pending.size === 0) continue
      let buf: Buffer
      try {
        buf = await readFile(seg.path)
      } catch {
        for (const [offset, count] of seg.pending) this.#lose(seg, offset, count, 'read')
        continue
      }
      // Iterating the live map: acks made while a batch is yielded delete entries, which
      // Map iteration tolerates, and a segment's frames never grow after open().
      for (const [offset, count] of seg.pending) {
        if (this.#state !== 'open') return
        const start = offset + FRAME_HEADER_BYTES
        const length = start <= buf.length ? buf.readUInt32LE(offset) : -1
        if (length < 0 || start + length > buf.length || crc32c(buf, start, start + length) !== buf.readUInt32LE(offset + 4)) {
          this.#lose(seg, offset, count, 'read')
          continue
        }
        let records: T[]
        try {
          records = unpackr.unpack(buf.subarray(start, start + length)) as T[]
        } catch {
          this.#lose(seg, offset, count, 'decode')
          continue
        }
        yield { ref: makeRef(seg, offset, count), records }
      }
    }
  }

  /**
   * Writes the batch as one frame. Returns undefined — and never throws — when the batch
   * was not stored: empty, the spool is full or not open, a disk or encode error; stats
   * say which.
   */
  append (records: readonly T[]): BatchRef | undefined {
    const count = records.length
    if (count === 0) return undefined
    if (this.#state !== 'open' || !this.#fits(FRAME_HEADER_BYTES + 1)) return this.#shed(count)
    let payload: Buffer
    try {
      payload = packr.pack(records)
    } catch {
      this.stats.encodeErrors++
      return this.#shed(count)
    }
    // payload is a view of packr's reused buffer: write it before anything else packs
    const length = payload.length
    const frameBytes = FRAME_HEADER_BYTES + length
    if (length > MAX_U32 || !this.#fits(frameBytes)) return this.#shed(count)
    let seg = this.#active
    if (seg === undefined || (seg.size > 0 && seg.size + frameBytes > this.segmentBytes)) {
      seg = this.#roll()
      if (seg === undefined) return this.#shed(count)
    }
    const offset = seg.size
    frameHeader.writeUInt32LE(length, 0)
    frameHeader.writeUInt32LE(crc32c(payload, 0, length), 4)
    try {
      // a short write on a regular file only happens when the disk is full: treat as failed
      if (writevSync(seg.fd, [frameHeader, payload]) !== frameBytes) throw new Error('short write')
    } catch {
      this.stats.writeErrors++
      this.#cutActive(seg, offset)
      return this.#shed(count)
    }
    if (this.fsync === 'batch') {
      // The frame is written, only its durability is in doubt: keep it (it is inserted
      // soon anyway) and count the failure.
      try { fdatasyncSync(seg.fd) } catch { this.stats.writeErrors++ }
    }
    seg.size += frameBytes
    seg.pending.set(offset, count)
    const s = this.stats
    s.bytes += frameBytes
    s.appendedBatches++
    s.appendedRecords += count
    s.pendingBatches++
    s.pendingRecords += count
    return makeRef(seg, offset, count)
  }

  /**
   * Marks the batch inserted. Returns false if it is not pending (unknown, already
   * acknowledged, or the spool is not open). Never throws.
   */
  ack (ref: BatchRef): boolean {
    if (this.#state !== 'open') return false
    const seg = this.#segments.get(ref.segment)
    if (seg === undefined) return false
    const count = seg.pending.get(ref.offset)
    if (count === undefined) return false
    this.stats.ackedBatches++
    this.stats.ackedRecords += count
    this.#release(seg, ref.offset, count)
    return true
  }

  /**
   * The segment files, oldest first: bytes on disk, frames still pending, and whether it
   * is the segment appends go to. For owners that compact: acked bytes come back only a
   * whole segment at a time, so an owner whose few long-lived batches pin many segments
   * appends them again (a new frame) and acks the old ones, which frees those segments.
   */
  segmentInfo (): SegmentInfo[] {
    const out: SegmentInfo[] = []
    for (const seg of this.#segments.values()) out.push({ name: seg.name, bytes: seg.size, pendingBatches: seg.pending.size, active: seg === this.#active })
    return out
  }

  /** Closes every file; unacknowledged batches stay on disk for the next open(). */
  close (): void {
    if (this.#state === 'closed') return
    const active = this.#active
    // one flush at shutdown is cheap, even when appends are not synced one by one
    if (active !== undefined && this.fsync === 'none') {
      try { fdatasyncSync(active.fd) } catch { this.stats.writeErrors++ }
    }
    this.#closeFds()
    this.#active = undefined
    this.#recovering = []
    this.#state = 'closed'
  }

  #closeFds (): void {
    for (const seg of this.#segments.values()) {
      closeQuietly(seg.fd)
      closeQuietly(seg.ackFd)
      seg.fd = seg.ackFd = -1
    }
    closeQuietly(this.#dirFd)
    this.#dirFd = -1
  }

  #shed (count: number): undefined {
    this.stats.shedBatches++
    this.stats.shedRecords += count
    return undefined
  }

  #fits (frameBytes: number): boolean {
    if (this.stats.bytes + frameBytes <= this.maxBytes) return true
    // An active segment is never deleted, so one whose frames are all acked would hold
    // its bytes (possibly the whole budget) until it rolls: retire it now.
    const active = this.#active
    if (active === undefined || active.pending.size > 0 || active.size === 0) return false
    this.#retire()
    this.#sweep()
    return this.stats.bytes + frameBytes <= this.maxBytes
  }

  /** Retires the active segment and creates the next one; undefined on a disk error. */
  #roll (): Segment | undefined {
    this.#retire()
    this.#sweep()
    const seq = this.#nextSeq++
    const seg = new Segment(this.dir, `${String(seq).padStart(12, '0')}-${randomBytes(8).toString('hex')}`, seq)
    try {
      seg.fd = openSync(seg.path, SEGMENT_FLAGS, FILE_MODE)
    } catch {
      this.stats.writeErrors++
      return undefined
    }
    if (this.fsync === 'batch') {
      // the new directory entry must survive power loss with the frames written into it
      try { fsyncSync(this.#dirFd) } catch { this.stats.writeErrors++ }
    }
    this.#segments.set(seg.name, seg)
    this.stats.segments++
    this.#active = seg
    return seg
  }

  #retire (): void {
    const active = this.#active
    if (active === undefined) return
    this.#active = undefined
    closeQuietly(active.fd)
    active.fd = -1
  }

  /** Deletes every inactive segment with nothing pending (retries deletes that failed before). */
  #sweep (): void {
    for (const seg of this.#segments.values()) {
      if (seg !== this.#active && seg.pending.size === 0) this.#remove(seg)
    }
  }

  /** Undoes a failed append at `offset`; if even that fails, stops appending to `seg`. */
  #cutActive (seg: Segment, offset: number): void {
    try {
      ftruncateSync(seg.fd, offset)
      return
    } catch {
      this.stats.writeErrors++
    }
    // whatever was half-written stays at its tail until the next open() cuts it
    try {
      const size = fstatSync(seg.fd).size
      this.stats.bytes += size - seg.size
      seg.size = size
    } catch {}
    this.#retire()
  }

  #release (seg: Segment, offset: number, count: number): void {
    seg.pending.delete(offset)
    this.stats.pendingBatches--
    this.stats.pendingRecords -= count
    // the last ack of an inactive segment deletes it, no ack record needed
    if (seg.pending.size === 0 && seg !== this.#active && this.#remove(seg)) return
    try {
      if (seg.ackFd < 0) seg.ackFd = openSync(seg.ackPath, ACK_FLAGS, FILE_MODE)
      ackRecord.writeUInt32LE(offset, 0)
      ackRecord.writeUInt32LE(crc32c(ackRecord, 0, 4), 4)
      writeSync(seg.ackFd, ackRecord, 0, ACK_BYTES)
    } catch {
      // the batch replays after a restart, under the same dedup token
      this.stats.writeErrors++
    }
  }

  #lose (seg: Segment, offset: number, count: number, reason: 'read' | 'decode'): void {
    this.stats.lostRecords += count
    this.#onCorrupt?.({ file: seg.path, offset, bytes: 0, records: count, reason })
    if (seg.pending.has(offset)) this.#release(seg, offset, count)
  }

  /** Deletes the segment's files; false (and counted) if the segment file stays. */
  #remove (seg: Segment): boolean {
    closeQuietly(seg.ackFd)
    closeQuietly(seg.fd)
    seg.ackFd = seg.fd = -1
    try {
      unlinkSync(seg.path)
    } catch (err) {
      if (!isMissing(err)) {
        this.stats.writeErrors++
        return false
      }
    }
    try {
      unlinkSync(seg.ackPath)
    } catch (err) {
      // an orphan .ack is removed by the next open()
      if (!isMissing(err)) this.stats.writeErrors++
    }
    this.#segments.delete(seg.name)
    this.stats.bytes -= seg.size
    this.stats.segments--
    return true
  }
}
