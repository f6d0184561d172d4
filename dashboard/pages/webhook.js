import { html } from '../lib/html.js'
import { Page, LoadError, Breadcrumbs, Result, Badge, errorText } from '../lib/ui.js'
import { href } from '../lib/router.js'
import { deliveries, project, redeliver, sendTest, updateWebhook, webhook, webhookEvents } from '../lib/api.js'
import { dateTime } from '../lib/format.js'

/** After "Send test", the deliveries are read again this often, this many times at most. */
const POLL_MS = 1000
const POLL_TIMES = 20

const attemptsOf = (log, eventId) => log.filter(d => d.event_id === eventId).length

/** One webhook: its events and machine-event setting, "send test", and its deliveries with redelivery. */
export class WebhookPage extends Page {
  state = { loading: true, error: undefined, project: undefined, hook: undefined, events: ['message.clicked'], chosen: [], machine: false, enabled: true, busy: false, result: undefined, log: [], logError: undefined, logLoading: true, action: undefined }

  async componentDidMount () {
    const { project: pid, webhook: wid } = this.props.params
    project(pid).then(p => { this.set({ project: p }) }, () => {})
    webhookEvents().then(events => { this.set({ events }) }, () => {})
    try {
      const w = await webhook(wid)
      this.set({ loading: false, hook: w, chosen: [...(w.events ?? [])], machine: w.include_machine_events === true, enabled: w.enabled !== false })
    } catch (error) {
      this.set({ loading: false, error })
      return
    }
    await this.loadLog()
  }

  componentWillUnmount () {
    super.componentWillUnmount()
    clearTimeout(this.timer)
  }

  async loadLog () {
    try {
      const log = await deliveries(this.props.params.webhook)
      this.set({ log, logError: undefined, logLoading: false })
      return log
    } catch (logError) {
      this.set({ logError, logLoading: false })
      return []
    }
  }

  /** Reads the deliveries until `eventId` has more attempts than `before`, POLL_TIMES at most. */
  watch (eventId, before, left = POLL_TIMES) {
    clearTimeout(this.timer)
    this.timer = setTimeout(async () => {
      const log = await this.loadLog()
      if (!this.gone && left > 1 && attemptsOf(log, eventId) <= before) this.watch(eventId, before, left - 1)
    }, POLL_MS)
  }

  pick = e => {
    const { value, checked } = e.currentTarget
    const rest = this.state.chosen.filter(x => x !== value)
    this.setState({ chosen: checked ? [...rest, value] : rest })
  }

  save = async e => {
    e.preventDefault()
    const { chosen, machine, enabled } = this.state
    if (chosen.length === 0) {
      this.setState({ result: { kind: 'bad', text: 'Choose at least one event.' } })
      return
    }
    this.setState({ busy: true, result: { kind: 'busy', text: 'Saving…' } })
    try {
      const w = await updateWebhook(this.props.params.webhook, { events: chosen, include_machine_events: machine, enabled })
      this.set({ busy: false, hook: { ...this.state.hook, ...w }, result: { kind: 'ok', text: 'Saved.' } })
    } catch (err) {
      this.set({ busy: false, result: { kind: 'bad', text: `Not saved: ${errorText(err)}` } })
    }
  }

  test = async () => {
    this.setState({ action: { kind: 'busy', text: 'Sending a test event…' } })
    try {
      const q = await sendTest(this.props.params.webhook)
      this.set({ action: { kind: 'ok', text: `Test event ${q.event_id} queued; its delivery appears below.` } })
      this.watch(q.event_id, attemptsOf(this.state.log, q.event_id))
    } catch (err) {
      this.set({ action: { kind: 'bad', text: `Test not sent: ${errorText(err)}` } })
    }
  }

  again = async eventId => {
    this.setState({ action: { kind: 'busy', text: `Redelivering event ${eventId}…` } })
    try {
      const before = attemptsOf(this.state.log, eventId)
      await redeliver(this.props.params.webhook, eventId)
      this.set({ action: { kind: 'ok', text: `Event ${eventId} queued again; its new attempts appear below.` } })
      this.watch(eventId, before)
    } catch (err) {
      this.set({ action: { kind: 'bad', text: `Not redelivered: ${errorText(err)}` } })
    }
  }

  refresh = async () => {
    this.setState({ logLoading: true })
    await this.loadLog()
  }

  render () {
    const pid = this.props.params.project
    const { loading, error, project: p, hook: w, events, chosen, machine, enabled, busy, result, log, logError, logLoading, action } = this.state
    return html`<${Breadcrumbs} items=${[['Projects', '#/'], [p?.name ?? 'Project', href('projects', pid)], ['Webhooks', href('projects', pid, 'webhooks')], ['Webhook']]} />
      <h1 tabindex="-1">Webhook</h1>
      ${loading ? html`<p>Loading the webhook…</p>` : null}
      ${error ? html`<${LoadError} what="the webhook" error=${error} />` : null}
      ${w
        ? html`<p class="wrap"><code>${w.url}</code></p>
          <form class="panel stack" onSubmit=${this.save}>
            <h2>Settings</h2>
            <fieldset>
              <legend>Events</legend>
              ${events.map(ev => html`<div class="check" key=${ev}>
                <input type="checkbox" id=${`event-${ev}`} value=${ev} checked=${chosen.includes(ev)} onChange=${this.pick} />
                <label for=${`event-${ev}`}>${ev}</label>
              </div>`)}
            </fieldset>
            <div class="check">
              <input type="checkbox" id="machine" checked=${machine} onChange=${e => { this.setState({ machine: e.currentTarget.checked }) }} aria-describedby="machine-help" />
              <label for="machine">Include machine events</label>
            </div>
            <p id="machine-help" class="muted">Clicks by security scanners and link prefetchers are left out unless this is on.</p>
            <div class="check">
              <input type="checkbox" id="enabled" checked=${enabled} onChange=${e => { this.setState({ enabled: e.currentTarget.checked }) }} />
              <label for="enabled">Enabled</label>
            </div>
            <div class="actions"><button type="submit" class="primary" disabled=${busy}>Save</button></div>
            <${Result} id="webhook-result" result=${result} />
          </form>
          <section class="panel stack" aria-labelledby="deliveries-title">
            <h2 id="deliveries-title">Deliveries</h2>
            <div class="actions">
              <button type="button" onClick=${this.test} disabled=${w.enabled === false}>Send test</button>
              <button type="button" onClick=${this.refresh} disabled=${logLoading}>Refresh</button>
            </div>
            ${w.enabled === false ? html`<p class="muted">A disabled webhook gets no test events.</p>` : null}
            <${Result} id="delivery-action" result=${action} />
            ${logError ? html`<${LoadError} what="the deliveries" error=${logError} />` : null}
            ${!logLoading && !logError && log.length === 0 ? html`<p>No delivery yet.</p>` : null}
            ${log.length > 0
              ? html`<table class="stack deliveries">
                <thead><tr><th scope="col">Time</th><th scope="col">Event</th><th scope="col">Attempt</th><th scope="col">Status</th><th scope="col">Latency</th><th scope="col">Error</th><th scope="col">Next retry</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
                <tbody>${log.map(d => html`<tr key=${`${d.event_id}:${d.attempt}:${d.ts}`} data-event=${d.event_id}>
                  <td data-label="Time">${dateTime(d.ts)}</td>
                  <td data-label="Event"><code class="wrap">${d.event_id}</code></td>
                  <td data-label="Attempt">${d.attempt}</td>
                  <td data-label="Status"><${Badge} tone=${d.ok ? 'ok' : 'bad'}>${d.status === 0 ? 'No answer' : `HTTP ${d.status}`}${d.ok ? ' · delivered' : ' · failed'}<//></td>
                  <td data-label="Latency">${d.latency_ms} ms</td>
                  <td data-label="Error">${d.error || '—'}</td>
                  <td data-label="Next retry">${dateTime(d.next_retry)}</td>
                  <td data-label="Action"><button type="button" class="small" onClick=${() => { this.again(d.event_id) }} aria-label=${`Redeliver event ${d.event_id}`}>Redeliver</button></td>
                </tr>`)}</tbody>
              </table>`
              : null}
          </section>`
        : null}`
  }
}
