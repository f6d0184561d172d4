// src/webhooks/dispatcher.ts (ENQUEUE_SLICE): promoted clicks become outbox jobs one slice
// at a time, each slice's jobs written as ONE outbox frame holding the job objects, where
// every job was its own frame holding the job's JSON text (the body escaped inside it)
// before. Races the two writes of a slice of 256 jobs with a 1 KB message.clicked body into
// a real Spool (fsync 'none', as the outbox; a temp dir), every frame acked afterwards so
// segments are freed. Reported per job: the main thread's cost of writing the outbox.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomUUID } from 'node:crypto'
import { spool } from './lib/project.mjs'
import { emit, fmtNs, loadNow, race, raceTable } from './lib/race.mjs'

const loadBefore = loadNow()
const { Spool } = await spool()
const dir = mkdtempSync(join(tmpdir(), 'ct-micro-outbox-'))
process.on('exit', () => { rmSync(dir, { recursive: true, force: true }) })
const outbox = new Spool({ dir, maxBytes: 1024 ** 3, fsync: 'none' })
await outbox.open()
const SLICE = 256
const body = JSON.stringify({
  id: randomUUID(),
  event: 'message.clicked',
  timestamp: new Date().toISOString(),
  data: { message_id: randomUUID(), subject: 'Your weekly "deals" digest', metadata: { campaign: 'w48' }, tag: 'news', recipient: 'user@example.com', clicked_at: '2026-12-01T19:00:00+00:00', destination_url: 'https://shop.example.com/p/123?utm_source=newsletter&utm_medium=email&c=123', link_index: 3, anchor_text: 'See the deals', first_click: true, device_type: 'desktop', client_type: 'browser', client_name: 'Chrome', user_agent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', bot: { detected: false, probability: 0.02, classification: 'genuine', proxy_type: null, reason_codes: [], machine: false, counts_for_metrics: true } }
})
const webhookId = randomUUID()
const jobs = Array.from({ length: SLICE }, () => ({ eventId: randomUUID(), webhookId, sid: 'acme', event: 'message.clicked', body, createdAt: Date.now() }))

const result = await race([
  {
    name: `one frame per job, its JSON text (before): ${SLICE} appends`,
    fn: () => {
      for (const j of jobs) outbox.ack(outbox.append([JSON.stringify(j)]))
      return SLICE
    }
  },
  {
    name: `one frame per slice of ${SLICE}, job objects`,
    current: true,
    fn: () => {
      outbox.ack(outbox.append(jobs))
      return SLICE
    }
  }
], { batchMs: 50 })
outbox.close()
const [before, now] = result.variants.map(v => v.ns.median / SLICE)
emit({
  topic: 'outbox-enqueue',
  loadBefore,
  claims: [{ where: 'src/webhooks/dispatcher.ts (ENQUEUE_SLICE)', words: 'each slice\'s jobs written as one outbox frame' }],
  sections: [{ title: `Writing ${SLICE} webhook jobs (1 KB bodies) to the outbox`, table: raceTable(result, { per: `slice of ${SLICE}` }) }],
  verdicts: [{ where: 'src/webhooks/dispatcher.ts (ENQUEUE_SLICE)', holds: now < before, measured: `per job ${fmtNs(before)} as one frame each, ${fmtNs(now)} in one frame per slice (${(before / now).toFixed(1)}×)` }],
  data: { race: result, perJobNs: { before, now } }
})
