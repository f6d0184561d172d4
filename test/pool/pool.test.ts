import t from 'tap'
import { randomUUID } from 'node:crypto'
import { createRewritePool, type TrackingConfig } from '../../src/pool/pool.js'
import { ClicktrailError, ERRORS } from '../../src/errors.js'
import { compileWorker } from './compiled.js'
import { rewriteHtml } from '../../src/rewrite/html.js'
import { BASE_URL, SECRETS, SENT_AT, SID, corpus, decodeTracked, isTrackingHost, realMint, trackedUrlsIn } from '../rewrite/helpers.js'

// Workers run the sources transpiled to JS (see compiled.ts): loading them through the
// TypeScript loader the threads inherit works too, but costs time per thread.
const worker = compileWorker()
const MAX_QUEUE = 4
const pool = createRewritePool({ threads: 2, maxQueue: MAX_QUEUE, allowTestTasks: true, filename: worker.filename, execArgv: [] })
t.teardown(async () => {
  await pool.close()
  worker.cleanup()
})

const tracking: TrackingConfig = {
  secrets: SECRETS.map(s => ({ kid: s.kid, secret: new Uint8Array(s.secret) })),
  sid: SID,
  trackingBaseUrl: BASE_URL,
  customDomains: ['track.acme.com']
}

t.test('documents in parallel through the pool equal the in-process rewrite', async t => {
  const docs = corpus()
  const jobs = docs.map(d => ({ html: d.html, messageId: randomUUID(), sentAt: SENT_AT }))
  // Two batches at once: one per thread.
  const half = Math.ceil(jobs.length / 2)
  const [a, b] = await Promise.all([
    pool.rewrite({ tracking, jobs: jobs.slice(0, half) }),
    pool.rewrite({ tracking, jobs: jobs.slice(half) })
  ])
  const results = [...a, ...b]
  t.equal(results.length, docs.length)
  for (let i = 0; i < docs.length; i++) {
    // Tokens are deterministic (HMAC over the same fields), so the outputs must be equal.
    const local = await rewriteHtml(docs[i].html, { isTrackingHost, mint: realMint(jobs[i].messageId) })
    t.equal(results[i].html, local.html, `${docs[i].name}: same bytes as in-process`)
    t.same(results[i].links, local.links)
  }
})

t.test('one document, many recipients: each gets its own tokens', async t => {
  const html = '<p><a href="https://shop.example/a?x=1&amp;y=2">A</a> <a href="mailto:a@b.c">m</a></p>'
  const ids = Array.from({ length: 20 }, () => randomUUID())
  const out = await pool.rewrite({ tracking, jobs: ids.map(messageId => ({ html, messageId, sentAt: SENT_AT })) })
  t.equal(new Set(out.map(o => o.html)).size, ids.length, 'every recipient a different document')
  out.forEach((o, i) => {
    const v = decodeTracked(trackedUrlsIn(o.html)[0])
    t.same([v.messageId, v.url, v.linkIndex, v.sid], [ids[i], 'https://shop.example/a?x=1&y=2', 0, SID])
  })
})

t.test('MIME through the pool: override header honoured and removed, per route rules', async t => {
  const raw = (override?: string): Buffer => Buffer.from([
    'From: a@example.com', ...(override === undefined ? [] : [`X-LM-Override-Track-Clicks: ${override}`]),
    'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '',
    '<a href=3D"https://shop.example/p">P</a>', ''
  ].join('\r\n'))
  const base = { tracking, messageId: randomUUID(), sentAt: SENT_AT }
  const off = await pool.rewriteMime({ ...base, raw: raw('false'), trackClicks: true, overridable: true })
  t.same([off.override, off.tracked, off.links.length], [false, false, 0])
  t.equal(off.raw.toString(), raw().toString(), 'not tracked: only the header went')
  const on = await pool.rewriteMime({ ...base, raw: raw('true'), trackClicks: false, overridable: true })
  t.same([on.override, on.tracked, on.links.length, on.htmlParts], [true, true, 1, 1])
  t.ok(Buffer.isBuffer(on.raw))
  t.notOk(on.raw.toString().includes('X-LM-Override'), 'header consumed')
  t.match(on.raw.toString(), /pacme42\.t\.example\.net\/c\//)
  const inbound = await pool.rewriteMime({ ...base, raw: raw('true'), trackClicks: false, overridable: false })
  t.same([inbound.override, inbound.tracked], [true, false], 'inbound routes never track, whatever the header says')
  const route = await pool.rewriteMime({ ...base, raw: raw(), trackClicks: true, overridable: true })
  t.same([route.override, route.tracked, route.links[0].url], [undefined, true, 'https://shop.example/p'])
})

t.test('bad input comes back as coded errors; malformed HTML never hurts a worker', async t => {
  const broken = ['<a href="https://x.example/1"', '<<<a href=>', '<svg><a href="https://x.example/"><math><a', '\u0000'.repeat(100), '<a href="' + 'x'.repeat(100_000)]
  const out = await pool.rewrite({ tracking, jobs: broken.map(html => ({ html, messageId: randomUUID(), sentAt: SENT_AT })) })
  t.equal(out.length, broken.length, 'every malformed document rewritten as well as it can be')
  await t.rejects(pool.rewrite({ tracking, jobs: [{ html: '<a href="https://x.example/">x</a>', messageId: 'not-a-uuid', sentAt: SENT_AT }] }), { code: 'CT_ERR_TOKEN_FIELDS' })
  await t.rejects(pool.rewrite({ tracking: { ...tracking, secrets: [] }, jobs: [{ html: '', messageId: randomUUID(), sentAt: 1 }] }), { code: 'CT_ERR_CONFIG_SECRETS' })
  const settled = await pool.rewriteSettled({ tracking, jobs: [{ html: 42 as unknown as string, messageId: randomUUID(), sentAt: 1 }, { html: '<a href="https://x.example/">x</a>', messageId: randomUUID(), sentAt: 1 }] })
  // A failure crosses the thread boundary as its code (its status comes with the code: src/errors.ts).
  t.match(settled, [{ ok: false, error: { code: 'CT_ERR_POOL_TASK' } }, { ok: true }], 'one bad job does not sink its batch')
  t.equal(ERRORS.CT_ERR_POOL_TASK.status, 400)
  await t.rejects(pool.run({ kind: 'nope' } as never).then(r => { throw Object.assign(new Error('x'), (r as { error: object }).error) }), { code: 'CT_ERR_POOL_TASK' })
})

t.test('a full queue refuses with CT_ERR_POOL_BUSY (503) and counts it', async t => {
  const html = corpus().map(d => d.html).join('').repeat(4)
  const before = pool.stats.busy
  const runs = Array.from({ length: 12 }, async () => await pool.rewrite({ tracking, jobs: [{ html, messageId: randomUUID(), sentAt: SENT_AT }] }))
  const settled = await Promise.allSettled(runs)
  const refused = settled.filter(s => s.status === 'rejected')
  const done = settled.filter(s => s.status === 'fulfilled')
  t.ok(refused.length >= 12 - 2 - MAX_QUEUE, `${refused.length} refused`)
  t.ok(done.length >= 1, `${done.length} done`)
  for (const r of refused) {
    const err = (r as PromiseRejectedResult).reason as ClicktrailError
    t.ok(err instanceof ClicktrailError)
    t.equal(err.code, 'CT_ERR_POOL_BUSY')
    t.equal(err.status, 503)
  }
  t.equal(pool.stats.busy - before, refused.length)
})

t.test('a worker that dies gives CT_ERR_POOL_WORKER (503); the pool recovers', async t => {
  const before = pool.stats.workerCrashes
  await t.rejects(pool.run({ kind: 'test-crash' }), { code: 'CT_ERR_POOL_WORKER', status: 503 })
  t.equal(pool.stats.workerCrashes, before + 1)
  const after = await Promise.all([0, 1, 2].map(async () => await pool.rewrite({ tracking, jobs: [{ html: '<a href="https://x.example/">x</a>', messageId: randomUUID(), sentAt: SENT_AT }] })))
  t.equal(after.length, 3, 'the next tasks succeed')
  t.ok(after.every(([r]) => r.links[0].tracked))
})

t.test('a closed pool refuses with CT_ERR_POOL_CLOSED', async t => {
  const small = createRewritePool({ threads: 1, filename: worker.filename, execArgv: [] })
  await small.close()
  await t.rejects(small.rewrite({ tracking, jobs: [] }), { code: 'CT_ERR_POOL_CLOSED', status: 503 })
})

t.test('a send: the worker checks the bounds, writes the JSON answer and hands it over as one transferred buffer', async t => {
  const links = (n: number): string => Array.from({ length: n }, (_, i) => `<a href="https://shop.example/p/${i}">P${i}</a>`).join('')
  const limits = { maxLinks: 50, maxTokens: 200, maxOutputBytes: 1024 * 1024 }
  const base = { tracking, sentAt: SENT_AT, track: true, answer: { route_id: randomUUID(), tracking: { enabled: true, reason: 'route_setting' } }, limits }
  const to = ['a@example.com', 'b"q@example.com', 'c@example.com']
  const ids = to.map(() => randomUUID())
  const out = await pool.rewriteSend({ ...base, html: links(3) + '<a href="mailto:x@y">m</a>', text: 'plain', recipients: to, messageIds: ids })
  t.equal(out.body.byteLength, out.body.buffer.byteLength, 'the body owns its buffer (transferable, not a slice of a pool)')
  const answer = JSON.parse(Buffer.from(out.body).toString('utf8'))
  t.same(Object.keys(answer), ['route_id', 'tracking', 'messages', 'links'])
  t.same(answer.messages.map((m: { recipient: string, message_id: string, text: string }) => [m.recipient, m.message_id, m.text]), to.map((r, i) => [r, ids[i], 'plain']))
  answer.messages.forEach((m: { html: string }, i: number) => {
    const urls = trackedUrlsIn(m.html)
    t.equal(urls.length, 3)
    t.same(urls.map(u => [decodeTracked(u).messageId, decodeTracked(u).linkIndex]), [[ids[i], 0], [ids[i], 1], [ids[i], 2]], `recipient ${i}: own tokens`)
  })
  t.same(answer.links.map((l: { reason?: string }) => l.reason), [undefined, undefined, undefined, 'mailto'])
  t.equal(out.links.length, 4, 'and the link table for the records')
  const off = await pool.rewriteSend({ ...base, track: false, answer: { ...base.answer, tracking: { enabled: false, reason: 'per_email_override' } }, html: links(2), recipients: ['a@x'], messageIds: [randomUUID()] })
  const offAnswer = JSON.parse(Buffer.from(off.body).toString())
  t.equal(offAnswer.messages[0].html, links(2), 'tracking off: the html as given')
  t.same(offAnswer.links.map((l: { reason: string }) => l.reason), ['tracking_disabled', 'tracking_disabled'])
  await t.rejects(pool.rewriteSend({ ...base, html: links(51), recipients: ['a@x'], messageIds: [randomUUID()] }), { code: 'CT_ERR_REWRITE_TOO_MANY_LINKS', status: 422 })
  await t.rejects(pool.rewriteSend({ ...base, html: links(41), recipients: to.concat(to).slice(0, 5), messageIds: Array.from({ length: 5 }, () => randomUUID()) }), { code: 'CT_ERR_REWRITE_TOO_MANY_TOKENS', status: 422 })
  const wide = `<p>${'x'.repeat(300_000)}</p>` + links(1)
  await t.rejects(pool.rewriteSend({ ...base, html: wide, recipients: to.concat(to), messageIds: Array.from({ length: 6 }, () => randomUUID()) }), { code: 'CT_ERR_REWRITE_OUTPUT_TOO_LARGE', status: 413 })
  await t.rejects(pool.rewriteSend({ ...base, html: links(1), recipients: ['a@x', 'b@x'], messageIds: [randomUUID()] }), { code: 'CT_ERR_REWRITE_INTERNAL' })
  const mime = Buffer.from(`From: a@x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${links(51)}\r\n`)
  await t.rejects(pool.rewriteMime({ tracking, raw: mime, messageId: randomUUID(), sentAt: SENT_AT, trackClicks: true, overridable: true, maxLinks: 50 }), { code: 'CT_ERR_REWRITE_TOO_MANY_LINKS' })
  const moved = await pool.rewriteMime({ tracking, raw: mime, messageId: randomUUID(), sentAt: SENT_AT, trackClicks: true, overridable: true })
  t.equal(moved.links.length, 51, 'no bound given: none applied')
})
