/**
 * When each pending delivery runs, without looking at the ones that are not due.
 *
 * - Waiting items sit in one binary min-heap keyed by due time (ms). One timer is armed
 *   for the earliest; when it fires, every item now due moves to its lane's ready queue
 *   (O(log n) each) and the timer is armed again for the next one. Nothing runs between
 *   due times: with 100 000 items waiting for a retry an hour away, the scheduler costs
 *   nothing (the old dispatcher walked every job every 50 ms).
 * - A lane is one webhook. It runs at most `concurrency` items at once; its due items wait
 *   in its own FIFO ready queue, so a lane at its limit costs nothing either: it is looked
 *   at again only when one of its runs finishes (`finished`), which starts its next
 *   ready item. Other lanes never wait behind it.
 * - Items are removed (evicted, cancelled) in O(log n) from the heap and in O(1) from a
 *   ready queue (an intrusive doubly-linked list), so nothing removed stays referenced.
 */

export type ItemState = 'idle' | 'waiting' | 'ready' | 'running'

/** What the scheduler keeps on each item; the owner's object carries these fields itself. */
export interface Schedulable {
  /** The lane (webhook) the item belongs to. */
  readonly lane: string
  /** When it may run next, ms since the epoch (an integer). */
  due: number
  state: ItemState
  /** Position in the heap while waiting; -1 otherwise. Owned by the scheduler. */
  heapIndex: number
  /** Neighbours in its lane's ready queue while ready. Owned by the scheduler. */
  prev?: Schedulable
  next?: Schedulable
}

interface Lane<T> {
  readonly name: string
  /** The ready queue, oldest first. */
  first: T | undefined
  last: T | undefined
  size: number
  running: number
  /** Inside #pump: a `finished` called from `run` must not start a second loop over the same queue. */
  pumping: boolean
  /** Paced lanes: no start before this time (ms), and the timer that pumps the lane then. */
  nextStart: number
  paceTimer: NodeJS.Timeout | undefined
}

export class SchedulerStats {
  /** Items handed to `run`. */
  started = 0
  /** Items examined by the scheduler (heap pops and ready-queue entries): its work, for tests. */
  visited = 0
  /** Timer firings. */
  wakeups = 0
}

export interface SchedulerOptions<T> {
  /** Items of one lane running at once at most. */
  concurrency: number
  /** Starts an item; the owner calls `finished(item)` when its run ends, however it ends. */
  run: (item: T) => void
  /**
   * Least ms between two starts of a lane, asked before each start (0 = no pacing). A
   * paced lane starts one item per gap at most; its other ready items wait in its queue,
   * which costs nothing.
   */
  gap?: (lane: string) => number
  now?: () => number
}

// setTimeout's delay is a signed 32-bit number of ms; longer waits re-arm on wake-up.
const MAX_DELAY_MS = 2 ** 31 - 1

export class Scheduler<T extends Schedulable> {
  readonly stats = new SchedulerStats()
  readonly #heap: T[] = []
  readonly #lanes = new Map<string, Lane<T>>()
  readonly #o: SchedulerOptions<T>
  readonly #now: () => number
  #timer: NodeJS.Timeout | undefined
  /** Due time the timer is armed for (Infinity: not armed). */
  #armedFor = Infinity
  /** Lanes with new ready items, started on the next turn of the event loop. */
  readonly #toPump = new Set<Lane<T>>()
  #pumpQueued = false
  #stopped = false

  constructor (options: SchedulerOptions<T>) {
    if (!Number.isInteger(options.concurrency) || options.concurrency < 1) throw new RangeError('scheduler concurrency must be an integer ≥ 1')
    this.#o = options
    this.#now = options.now ?? Date.now
  }

  /** Items waiting for their due time. */
  get waiting (): number { return this.#heap.length }

  /** Items of a lane running now. */
  running (lane: string): number { return this.#lanes.get(lane)?.running ?? 0 }

  /** Lanes with ready or running items (they are forgotten once empty). */
  get lanes (): number { return this.#lanes.size }

  /** Schedules an idle item to run at `due` (now or earlier: as soon as its lane has a free slot). */
  add (item: T, due: number): void {
    if (item.state !== 'idle') throw new Error(`scheduler: add() of an item that is ${item.state}`)
    item.due = due
    if (due <= this.#now()) {
      this.#ready(item)
      return
    }
    item.state = 'waiting'
    this.#push(item)
    if (due < this.#armedFor) this.#arm()
  }

  /** Takes a waiting or ready item out; false (nothing done) if it is running or idle. */
  remove (item: T): boolean {
    if (item.state === 'waiting') {
      this.#removeAt(item.heapIndex)
      item.state = 'idle'
      return true
    }
    if (item.state === 'ready') {
      const lane = this.#lanes.get(item.lane)
      if (lane !== undefined) this.#unlink(lane, item)
      item.state = 'idle'
      return true
    }
    return false
  }

  /** A run ended: the item is idle again (the owner may add it back) and its lane's slot is free. */
  finished (item: T): void {
    if (item.state !== 'running') return
    item.state = 'idle'
    const lane = this.#lanes.get(item.lane)
    if (lane === undefined) return
    lane.running--
    this.#pump(lane)
  }

  /** Stops the timers; nothing starts any more. */
  stop (): void {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#armedFor = Infinity
    for (const lane of this.#lanes.values()) {
      if (lane.paceTimer !== undefined) clearTimeout(lane.paceTimer)
      lane.paceTimer = undefined
    }
  }

  /** Ready items of a lane not started yet. */
  queued (lane: string): number {
    return this.#lanes.get(lane)?.size ?? 0
  }

  #ready (item: T): void {
    item.state = 'ready'
    let lane = this.#lanes.get(item.lane)
    if (lane === undefined) {
      lane = { name: item.lane, first: undefined, last: undefined, size: 0, running: 0, pumping: false, nextStart: 0, paceTimer: undefined }
      this.#lanes.set(item.lane, lane)
    }
    item.prev = lane.last
    item.next = undefined
    if (lane.last === undefined) lane.first = item
    else lane.last.next = item
    lane.last = item
    lane.size++
    if (lane.running < this.#o.concurrency) this.#pumpSoon(lane)
  }

  /** Starts the lanes' ready items on the next turn, however many became ready in this one. */
  #pumpSoon (lane: Lane<T>): void {
    this.#toPump.add(lane)
    if (this.#pumpQueued) return
    this.#pumpQueued = true
    setImmediate(() => {
      this.#pumpQueued = false
      const lanes = [...this.#toPump]
      this.#toPump.clear()
      for (const l of lanes) this.#pump(l)
    })
  }

  #pump (lane: Lane<T>): void {
    if (lane.pumping) return
    lane.pumping = true
    try {
      this.#drain(lane)
    } finally {
      lane.pumping = false
    }
    if (lane.running === 0 && lane.size === 0 && lane.paceTimer === undefined && this.#lanes.get(lane.name) === lane) this.#lanes.delete(lane.name)
  }

  #drain (lane: Lane<T>): void {
    const limit = this.#o.concurrency
    while (!this.#stopped && lane.running < limit && lane.first !== undefined) {
      const gap = this.#o.gap?.(lane.name) ?? 0
      if (gap > 0) {
        const now = this.#now()
        if (now < lane.nextStart) {
          this.#armLane(lane, lane.nextStart - now)
          break
        }
        lane.nextStart = now + gap
      }
      const item = lane.first
      this.#unlink(lane, item)
      this.stats.visited++
      item.state = 'running'
      lane.running++
      this.stats.started++
      this.#o.run(item)
    }
  }

  #unlink (lane: Lane<T>, item: T): void {
    const prev = item.prev as T | undefined
    const next = item.next as T | undefined
    if (prev === undefined) lane.first = next
    else prev.next = next
    if (next === undefined) lane.last = prev
    else next.prev = prev
    item.prev = item.next = undefined
    lane.size--
  }

  #armLane (lane: Lane<T>, ms: number): void {
    if (lane.paceTimer !== undefined) return
    lane.paceTimer = setTimeout(() => {
      lane.paceTimer = undefined
      this.#pump(lane)
    }, ms)
    lane.paceTimer.unref()
  }

  #arm (): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#armedFor = Infinity
    if (this.#stopped || this.#heap.length === 0) return
    const due = this.#heap[0].due
    this.#armedFor = due
    this.#timer = setTimeout(() => { this.#wake() }, Math.min(MAX_DELAY_MS, Math.max(0, due - this.#now())))
    this.#timer.unref()
  }

  #wake (): void {
    this.#timer = undefined
    this.#armedFor = Infinity
    this.stats.wakeups++
    const now = this.#now()
    while (this.#heap.length > 0 && this.#heap[0].due <= now) {
      const item = this.#heap[0]
      this.#removeAt(0)
      this.stats.visited++
      this.#ready(item)
    }
    this.#arm()
  }

  // ---- binary min-heap on `due`, positions kept in item.heapIndex ----

  #push (item: T): void {
    item.heapIndex = this.#heap.length
    this.#heap.push(item)
    this.#up(item.heapIndex)
  }

  #removeAt (i: number): void {
    const heap = this.#heap
    const item = heap[i]
    const last = heap.pop() as T
    item.heapIndex = -1
    if (i === heap.length) return
    heap[i] = last
    last.heapIndex = i
    this.#down(i)
    this.#up(last.heapIndex)
  }

  #up (i: number): void {
    const heap = this.#heap
    const item = heap[i]
    while (i > 0) {
      const p = (i - 1) >> 1
      if (heap[p].due <= item.due) break
      heap[i] = heap[p]
      heap[i].heapIndex = i
      i = p
    }
    heap[i] = item
    item.heapIndex = i
  }

  #down (i: number): void {
    const heap = this.#heap
    const n = heap.length
    const item = heap[i]
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) break
      const r = l + 1
      const c = r < n && heap[r].due < heap[l].due ? r : l
      if (heap[c].due >= item.due) break
      heap[i] = heap[c]
      heap[i].heapIndex = i
      i = c
    }
    heap[i] = item
    item.heapIndex = i
  }
}
