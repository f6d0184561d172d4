import t from 'tap'
import { LoopDelay } from '../src/loop-delay.js'
import { renderMetrics } from '../src/metrics.js'

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

t.test('a task that holds the event loop is seen: its length as the max, one stall, in /metrics', async t => {
  const d = new LoopDelay()
  d.start()
  t.teardown(() => { d.stop() })
  await sleep(100)
  const before = d.stalls
  const until = performance.now() + 150
  while (performance.now() < until) { /* holds the loop, as a long task would */ }
  await sleep(60)
  t.ok(d.maxMs >= 120, `the longest delay is about the task's length (${d.maxMs.toFixed(1)} ms)`)
  t.ok(d.stalls - before >= 1, 'counted as a stall over 50 ms (a loaded machine may add its own)')
  t.ok(d.takeMax() >= 120, 'takeMax reads it')
  t.ok(d.takeMax() < 120, 'and starts a new window')
  const text = renderMetrics(d.metrics())
  t.match(text, /clicktrail_event_loop_delay_seconds_bucket\{le="0.1"\} \d+/)
  t.match(text, /clicktrail_event_loop_delay_max_seconds 0\.1[2-9]|clicktrail_event_loop_delay_max_seconds 0\.[2-9]|clicktrail_event_loop_delay_max_seconds [1-9]/)
  t.match(text, /clicktrail_event_loop_stalls_total [1-9]/)
})
