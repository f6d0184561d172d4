import { html } from '../lib/html.js'
import { Page, LoadError, Badge } from '../lib/ui.js'
import { href } from '../lib/router.js'
import { listOf, recentClicks } from '../lib/api.js'
import { classification, dateTime, shortTime, verdictTone } from '../lib/format.js'

/** The ranges offered: days back from now, and how the page names them. */
const RANGES = [[1, 'the last 24 hours'], [7, 'the last 7 days'], [30, 'the last 30 days'], [90, 'the last 90 days']]

/**
 * A project's recent clicks, newest first: GET /v1/projects/{id}/clicks?order=newest over the
 * range chosen (default the last 30 days; at most the API's 90), 50 a page, "Show older"
 * following next_cursor. People only unless the switch includes machine events. A recipient
 * opens its message.
 */
export class ClicksTab extends Page {
  state = { loading: true, error: undefined, items: [], next: null, includeMachine: false, more: false, days: 30 }

  componentDidMount () { this.load() }

  async load (url) {
    const { includeMachine, days } = this.state
    this.asked = (this.asked ?? 0) + 1
    const n = this.asked
    this.set({ loading: true, error: undefined })
    try {
      const page = await recentClicks(this.props.projectId, { includeMachine, days, url })
      if (n !== this.asked) return
      const items = url === undefined ? listOf(page) : [...this.state.items, ...listOf(page)]
      this.set({ loading: false, items, next: page?.meta?.next_cursor_url ?? null })
    } catch (error) {
      if (n === this.asked) this.set({ loading: false, error })
    }
  }

  toggle = e => {
    this.setState({ includeMachine: e.currentTarget.checked, items: [], next: null }, () => { this.load() })
  }

  range = e => {
    const days = Number(e.currentTarget.value)
    if (!RANGES.some(([d]) => d === days)) return
    this.setState({ days, items: [], next: null }, () => { this.load() })
  }

  render () {
    const { loading, error, items, next, includeMachine, days } = this.state
    const pid = this.props.projectId
    const span = RANGES.find(([d]) => d === days)?.[1] ?? ''
    return html`<h2 id="section-title">Recent clicks</h2>
      <div class="toolbar">
        <div class="field"><label for="clicks-range">Range</label>
          <select id="clicks-range" value=${String(days)} onChange=${this.range}>
            ${RANGES.map(([d, label]) => html`<option key=${d} value=${String(d)}>${label[0].toUpperCase() + label.slice(1)}</option>`)}
          </select></div>
        <p class="muted">Newest first.</p>
        <div class="switch-row">
          <input id="include-machine" type="checkbox" role="switch" checked=${includeMachine} onChange=${this.toggle} />
          <label for="include-machine">Include machine events</label>
          <span class="switch-state" aria-hidden="true">${includeMachine ? 'On' : 'Off'}</span>
        </div>
      </div>
      <p class="result busy" role="status" aria-live="polite">${loading ? 'Loading clicks…' : `${items.length} click${items.length === 1 ? '' : 's'} shown${next ? '; older ones below' : ''}.`}</p>
      ${error ? html`<${LoadError} what="the clicks" error=${error} />` : null}
      ${!loading && !error && items.length === 0 ? html`<p>No ${includeMachine ? '' : 'human '}click in ${span}.</p>` : null}
      ${items.length > 0
        ? html`<div class="table-wide" role="region" aria-label="Recent clicks" tabindex="0"><table class="stack clicks">
          <caption class="visually-hidden">Recent clicks, newest first</caption>
          <thead><tr><th scope="col">Time</th><th scope="col">Recipient</th><th scope="col">Link</th><th scope="col">Verdict</th><th scope="col" class="n">Machine probability</th><th scope="col">Reason codes</th><th scope="col">First click</th></tr></thead>
          <tbody>${items.map(c => html`<tr key=${c.event_id} data-event=${c.event_id} data-message=${c.message_id}>
            <td data-label="Time" class="c-time"><time datetime=${c.timestamp} title=${dateTime(c.timestamp)}>${shortTime(c.timestamp)}</time></td>
            <td data-label="Recipient" class="c-recipient"><a href=${href('projects', pid, 'messages', c.message_id)} aria-label=${`${c.recipient}: open the message`}>${c.recipient}</a></td>
            <td data-label="Link" class="c-link"><span class="url">${c.destination_url}</span>${c.anchor_text ? html`<br /><span class="muted small">“${c.anchor_text}”</span>` : null}</td>
            <td data-label="Verdict"><${Badge} tone=${verdictTone(c.bot?.classification)}>${classification(c.bot?.classification)}<//></td>
            <td data-label="Machine probability" class="n">${c.bot?.probability ?? '—'} %</td>
            <td data-label="Reason codes">${(c.bot?.reason_codes ?? []).length === 0 ? html`<span class="muted">—</span>` : html`<ul class="codes">${c.bot.reason_codes.map(r => html`<li key=${r}><code>${r}</code></li>`)}</ul>`}</td>
            <td data-label="First click">${c.first_click ? 'Yes' : html`<span class="muted">No</span>`}</td>
          </tr>`)}</tbody>
        </table></div>`
        : null}
      ${next ? html`<div class="actions"><button type="button" onClick=${() => this.load(next)} disabled=${loading}>Show older clicks</button></div>` : null}`
  }
}
