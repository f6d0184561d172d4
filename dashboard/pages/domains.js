import { html } from '../lib/html.js'
import { Page, LoadError, Result, Badge, errorText } from '../lib/ui.js'
import { addDomain, domains, verifyDomain } from '../lib/api.js'
import { dateTime, domainStatus, tone } from '../lib/format.js'

/**
 * A project's custom tracking domains with their verification state and the DNS records to
 * publish (either one proves control); "Check now" asks the API to look at DNS at once.
 */
export class DomainsTab extends Page {
  state = { loading: true, error: undefined, items: [], hostname: '', busy: false, result: undefined, checking: undefined }

  async componentDidMount () { await this.load() }

  async load () {
    try {
      this.set({ loading: false, error: undefined, items: await domains(this.props.projectId) })
    } catch (error) {
      this.set({ loading: false, error })
    }
  }

  add = async e => {
    e.preventDefault()
    const hostname = this.state.hostname.trim()
    this.setState({ busy: true, result: { kind: 'busy', text: `Adding ${hostname}…` } })
    try {
      const d = await addDomain(this.props.projectId, hostname)
      this.set({ busy: false, hostname: '', result: { kind: 'ok', text: `${d.hostname ?? hostname} added: publish one of its DNS records, then check it.` } })
      await this.load()
    } catch (err) {
      this.set({ busy: false, result: { kind: 'bad', text: `Not added: ${errorText(err)}` } })
    }
  }

  check = async hostname => {
    this.setState({ checking: hostname, result: { kind: 'busy', text: `Checking ${hostname}…` } })
    try {
      const d = await verifyDomain(this.props.projectId, hostname)
      const note = d.dns_error ? ` DNS did not answer (${d.dns_error}); try again later.` : ''
      this.set({ checking: undefined, items: this.state.items.map(x => x.hostname === hostname ? d : x), result: { kind: d.status === 'verified' ? 'ok' : 'busy', text: `${hostname}: ${domainStatus(d.status)}.${note}` } })
    } catch (err) {
      this.set({ checking: undefined, result: { kind: 'bad', text: `Not checked: ${errorText(err)}` } })
    }
  }

  render () {
    const { loading, error, items, hostname, busy, result, checking } = this.state
    return html`<h2 id="section-title">Tracking domains</h2>
      <p class="muted">Tracked links use your own hostname once DNS shows that it is yours.</p>
      ${loading ? html`<p>Loading tracking domains…</p>` : null}
      ${error ? html`<${LoadError} what="the tracking domains" error=${error} />` : null}
      ${!loading && !error && items.length === 0 ? html`<p>No custom tracking domain yet.</p>` : null}
      <ul class="cards">
        ${items.map(d => html`<li key=${d.hostname} data-domain=${d.hostname}>
          <div class="card-head">
            <strong class="wrap">${d.hostname}</strong>
            <${Badge} tone=${tone(d.status)}>${domainStatus(d.status)}<//>
          </div>
          <dl class="facts">
            <div><dt>Verified by</dt><dd>${d.verified_by ?? '—'}</dd></div>
            <div><dt>Last checked</dt><dd>${dateTime(d.last_checked_at)}</dd></div>
            <div><dt>Verified at</dt><dd>${dateTime(d.verified_at)}</dd></div>
          </dl>
          ${(d.dns_records ?? []).length > 0
            ? html`<table class="stack records">
              <caption>DNS records (publish either one)</caption>
              <thead><tr><th scope="col">Type</th><th scope="col">Name</th><th scope="col">Content</th><th scope="col">State</th></tr></thead>
              <tbody>${d.dns_records.map(r => html`<tr key=${r.type}>
                <td data-label="Type">${r.type}</td>
                <td data-label="Name"><code class="wrap">${r.fqdn ?? r.hostname}</code></td>
                <td data-label="Content"><code class="wrap">${r.content}</code></td>
                <td data-label="State"><${Badge} tone=${tone(r.status)}>${r.status}<//></td>
              </tr>`)}</tbody>
            </table>`
            : null}
          <div class="actions"><button type="button" onClick=${() => { this.check(d.hostname) }} disabled=${checking !== undefined} aria-label=${`Check now: ${d.hostname}`}>Check now</button></div>
        </li>`)}
      </ul>
      <${Result} id="domain-result" result=${result} />
      <form class="panel stack" onSubmit=${this.add}>
        <h3>Add a tracking domain</h3>
        <div class="field">
          <label for="domain-hostname">Hostname</label>
          <input id="domain-hostname" type="text" inputmode="url" autocapitalize="off" spellcheck="false" required placeholder="links.example.com" value=${hostname} onInput=${e => { this.setState({ hostname: e.currentTarget.value }) }} />
        </div>
        <div class="actions"><button type="submit" class="primary" disabled=${busy}>Add domain</button></div>
      </form>`
  }
}
