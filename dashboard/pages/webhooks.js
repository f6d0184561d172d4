import { html } from '../lib/html.js'
import { Page, LoadError, Result, Badge, errorText } from '../lib/ui.js'
import { href } from '../lib/router.js'
import { createWebhook, idOf, webhookEvents, webhooks } from '../lib/api.js'

/**
 * A project's webhooks and the form that creates one. The signing secret is in the create
 * answer only: it is shown here once, kept in this component alone, and gone when the page is.
 */
export class WebhooksTab extends Page {
  state = { loading: true, error: undefined, items: [], events: ['message.clicked'], url: '', chosen: ['message.clicked'], machine: false, busy: false, result: undefined, created: undefined }

  async componentDidMount () {
    webhookEvents().then(events => { this.set({ events }) }, () => {})
    await this.load()
  }

  async load () {
    try {
      this.set({ loading: false, items: await webhooks(this.props.projectId) })
    } catch (error) {
      this.set({ loading: false, error })
    }
  }

  pick = e => {
    const { value, checked } = e.currentTarget
    const rest = this.state.chosen.filter(x => x !== value)
    this.setState({ chosen: checked ? [...rest, value] : rest })
  }

  create = async e => {
    e.preventDefault()
    const { url, chosen, machine } = this.state
    if (chosen.length === 0) {
      this.setState({ result: { kind: 'bad', text: 'Choose at least one event.' } })
      return
    }
    this.setState({ busy: true, result: { kind: 'busy', text: 'Creating the webhook…' } })
    try {
      const w = await createWebhook(this.props.projectId, { url: url.trim(), events: chosen, include_machine_events: machine })
      this.set({ busy: false, url: '', created: w, result: { kind: 'ok', text: 'Webhook created.' } })
      await this.load()
    } catch (err) {
      this.set({ busy: false, result: { kind: 'bad', text: `Not created: ${errorText(err)}` } })
    }
  }

  copy = async () => {
    try {
      await navigator.clipboard.writeText(this.state.created.secret)
      this.setState({ copied: 'Copied.' })
    } catch {
      this.setState({ copied: 'Could not copy: select the secret and copy it yourself.' })
    }
  }

  render () {
    const pid = this.props.projectId
    const { loading, error, items, events, url, chosen, machine, busy, result, created, copied } = this.state
    return html`<h2 id="section-title">Webhooks</h2>
      ${loading ? html`<p>Loading webhooks…</p>` : null}
      ${error ? html`<${LoadError} what="the webhooks" error=${error} />` : null}
      ${!loading && !error && items.length === 0 ? html`<p>No webhook yet.</p>` : null}
      ${items.length > 0
        ? html`<table class="stack">
          <thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">Machine events</th><th scope="col">State</th></tr></thead>
          <tbody>${items.map(w => html`<tr key=${idOf(w, 'webhook')}>
            <td data-label="URL"><a class="wrap" href=${href('projects', pid, 'webhooks', idOf(w, 'webhook'))}>${w.url}</a></td>
            <td data-label="Events">${(w.events ?? []).join(', ')}</td>
            <td data-label="Machine events">${w.include_machine_events ? 'Included' : 'Left out'}</td>
            <td data-label="State">${w.enabled === false ? html`<${Badge} tone="plain">Disabled<//>` : html`<${Badge} tone="ok">Enabled<//>`}</td>
          </tr>`)}</tbody>
        </table>`
        : null}
      ${created?.secret
        ? html`<div class="panel secret" role="region" aria-labelledby="secret-title">
            <h3 id="secret-title">Signing secret of the new webhook</h3>
            <p>It is shown only this once: store it now. Receivers check each delivery's signature with it.</p>
            <p><code class="wrap" id="webhook-secret">${created.secret}</code></p>
            <div class="actions">
              <button type="button" onClick=${this.copy}>Copy secret</button>
              <button type="button" onClick=${() => { this.setState({ created: undefined, copied: undefined }) }}>I have stored it</button>
              ${copied ? html`<span role="status">${copied}</span>` : null}
            </div>
          </div>`
        : null}
      <form class="panel stack" onSubmit=${this.create}>
        <h3>New webhook</h3>
        <div class="field">
          <label for="webhook-url">Endpoint URL</label>
          <input id="webhook-url" type="url" inputmode="url" required placeholder="https://example.com/hooks/clicktrail" value=${url} onInput=${e => { this.setState({ url: e.currentTarget.value }) }} />
        </div>
        <fieldset>
          <legend>Events</legend>
          ${events.map(ev => html`<div class="check" key=${ev}>
            <input type="checkbox" id=${`new-event-${ev}`} value=${ev} checked=${chosen.includes(ev)} onChange=${this.pick} />
            <label for=${`new-event-${ev}`}>${ev}</label>
          </div>`)}
        </fieldset>
        <div class="check">
          <input type="checkbox" id="new-machine" checked=${machine} onChange=${e => { this.setState({ machine: e.currentTarget.checked }) }} aria-describedby="new-machine-help" />
          <label for="new-machine">Include machine events</label>
        </div>
        <p id="new-machine-help" class="muted">Clicks by security scanners and link prefetchers are left out unless this is on.</p>
        <div class="actions"><button type="submit" class="primary" disabled=${busy}>Create webhook</button></div>
        <${Result} id="create-result" result=${result} />
      </form>`
  }
}
