import t from 'tap'
import { randomUUID } from 'node:crypto'
import { LateEvidence } from '../../src/promote/late.js'
import type { LateEvidenceStore } from '../../src/store/late-evidence.js'
import { MessageDirectory } from '../../src/messages/directory.js'
import { newObservation, type ClickRow } from '../../src/records.js'
import { renderMetrics } from '../../src/metrics.js'
import { silentLogger } from '../../src/log.js'

// The bounds of late evidence's memory: what it sheds is counted (/metrics). The storage port
// is a fake here (the bounds are about memory, and filling 100 000 addresses through the real
// engine would take minutes); test/promote/late.test.ts runs every trigger through the real one.

function fakeStore (): LateEvidenceStore & { queries: number } {
  const s = {
    queries: 0,
    clicksFromAddress: async () => { s.queries++; return [] },
    clicksOfFetcher: async () => { s.queries++; return [] },
    clicksInRanges: async () => [],
    addressesWithCode: async () => [],
    clicksOfMessages: async () => [],
    observationsAround: async () => [],
    honeypotHitsSince: async () => [],
    insertVersions: async () => ({ refused: [] }),
    saveBatch: async () => {},
    unfinishedBatches: async () => [],
    queuedEvents: async () => new Set<string>(),
    readState: async () => undefined,
    saveState: async () => {}
  }
  return s
}

function burstRow (ip: string): ClickRow {
  return {
    obs_id: randomUUID(),
    ts: Date.now(),
    sid: 'acme',
    message_id: randomUUID(),
    route_id: '',
    link_index: 0,
    sent_at: 0,
    recipient: '',
    subject: '',
    tag: '',
    metadata: {},
    destination_url: '',
    anchor_text: '',
    first_click: false,
    device_type: '',
    client_type: 'browser',
    client_name: '',
    user_agent: 'UA',
    ip,
    method: 'GET',
    retention_days: 400,
    bot: { detected: false, probability: 35, classification: 'genuine', proxy_type: null, reason_codes: ['address_many_recipients'], machine: false, counts_for_metrics: true }
  }
}

t.test('address and honeypot state and the queue are bounded; what they shed is counted', async t => {
  const store = fakeStore()
  const late = new LateEvidence({
    store,
    log: silentLogger,
    nodeId: 'n1',
    messages: new MessageDirectory(undefined as never),
    classify: async () => [],
    windowMs: 300,
    horizonMs: 60_000,
    gate: { exclusive: async fn => await fn(), forgetFirstClick: () => {} },
    maxAddresses: 3,
    maxHoneypots: 2,
    maxQueue: 1000
  })
  await late.start()
  t.teardown(async () => { await late.stop() })
  late.promoted(['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4', '198.51.100.5'].map(burstRow))
  t.equal(late.stats.shed.address, 2, 'two addresses forgotten past the bound of three')
  late.promoted([burstRow('198.51.100.5')])
  t.equal(late.stats.triggers.address_burst, 5, 'one burst of an address is acted on once')
  late.promoted([burstRow('10.1.2.3')])
  t.equal(late.stats.triggers.address_burst, 5, 'a shared (private) address is no burst')
  const hit = (ip: string): ReturnType<typeof newObservation> => Object.assign(newObservation(), { id: randomUUID(), ts: Date.now(), sid: 'acme', messageId: randomUUID(), ip, userAgent: 'UA', honeypot: true })
  late.observed([hit('198.51.100.7'), hit('198.51.100.8'), hit('198.51.100.9')])
  t.equal(late.stats.shed.honeypot, 1, 'the oldest honeypot hit forgotten past the bound of two')
  await late.idle()
  t.equal(store.queries, 8, 'every trigger kept was acted on')
  const text = renderMetrics(late.metrics())
  t.match(text, /clicktrail_late_evidence_shed_total\{kind="address"\} 2/)
  t.match(text, /clicktrail_late_evidence_shed_total\{kind="honeypot"\} 1/)
  t.match(text, /clicktrail_late_evidence_tracked 5/)
})

t.test('a full queue sheds evidence, counted', async t => {
  const late = new LateEvidence({
    store: fakeStore(),
    log: silentLogger,
    nodeId: 'n1',
    messages: new MessageDirectory(undefined as never),
    classify: async () => [],
    windowMs: 300,
    horizonMs: 60_000,
    // A gate that never opens: the queue only fills.
    gate: { exclusive: async () => await new Promise(() => {}), forgetFirstClick: () => {} },
    maxQueue: 2
  })
  late.promoted(['198.51.100.1', '198.51.100.2', '198.51.100.3', '198.51.100.4'].map(burstRow))
  t.equal(late.queued, 2)
  t.equal(late.stats.shed.trigger, 2)
  t.match(renderMetrics(late.metrics()), /clicktrail_late_evidence_shed_total\{kind="trigger"\} 2/)
})
