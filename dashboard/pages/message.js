import { html } from '../lib/html.js'
import { Page, LoadError, Breadcrumbs, Badge } from '../lib/ui.js'
import { href } from '../lib/router.js'
import { messageClicks, messageLinks, project } from '../lib/api.js'
import { classification, dateTime, verdictTone } from '../lib/format.js'

/**
 * One message: its links as rewritten (GET /v1/messages/{id}/links), each with its clicks,
 * people and machines (GET /v1/messages/{id}/events?include_machine_events=true, oldest
 * first). A clicked link the links list lacks (rows past their retention) is shown too.
 */
export class MessagePage extends Page {
  state = { loading: true, error: undefined, project: undefined, clicks: [], links: [], more: false }

  async componentDidMount () {
    const { project: pid, message: mid } = this.props.params
    project(pid).then(p => { this.set({ project: p }) }, () => {})
    try {
      const [{ clicks, more }, links] = await Promise.all([messageClicks(mid), messageLinks(mid)])
      this.set({ loading: false, clicks, more, links })
    } catch (error) {
      this.set({ loading: false, error })
    }
  }

  render () {
    const { project: pid, message: mid } = this.props.params
    const { loading, error, project: p, clicks, more } = this.state
    const first = clicks[0]
    const links = new Map()
    for (const l of this.state.links) links.set(l.link_index, { index: l.link_index, url: l.url, anchor: l.anchor_text, tracked: l.tracked, skip: l.skip_reason, clicks: [], people: 0, machines: 0 })
    for (const c of clicks) {
      let l = links.get(c.link_index)
      if (l === undefined) {
        l = { index: c.link_index, url: c.destination_url, anchor: c.anchor_text, tracked: true, skip: '', clicks: [], people: 0, machines: 0 }
        links.set(c.link_index, l)
      }
      l.clicks.push(c)
      if (c.bot?.counts_for_metrics) l.people++
      else l.machines++
    }
    const sorted = [...links.values()].sort((a, b) => a.index - b.index)
    const meta = first?.metadata ?? {}
    return html`<${Breadcrumbs} items=${[['Projects', '#/'], [p?.name ?? 'Project', href('projects', pid)], ['Recent clicks', href('projects', pid, 'clicks')], ['Message']]} />
      <h1 tabindex="-1">Message</h1>
      ${loading ? html`<p>Loading the message's clicks…</p>` : null}
      ${error ? html`<${LoadError} what="the message" error=${error} />` : null}
      ${!loading && !error
        ? html`<dl class="facts">
            <div><dt>Message id</dt><dd><code>${mid}</code></dd></div>
            ${first
              ? html`<div><dt>Recipient</dt><dd>${first.recipient}</dd></div>
              <div><dt>Subject</dt><dd>${first.subject || '—'}</dd></div>
              <div><dt>Tag</dt><dd>${first.tag ?? '—'}</dd></div>
              ${Object.keys(meta).length > 0 ? html`<div><dt>Metadata</dt><dd>${Object.entries(meta).map(([k, v]) => html`<code key=${k} class="kv">${k}=${v}</code> `)}</dd></div>` : null}`
              : null}
          </dl>
          <h2>Links and their clicks</h2>
          ${sorted.length === 0 ? html`<p>No link and no click recorded for this message.</p>` : null}
          ${more ? html`<p class="note">Showing the first ${clicks.length} clicks.</p>` : null}
          <ul class="cards">${sorted.map(l => html`<li key=${l.index} data-link=${l.index}>
            <div class="card-head"><span class="card-title wrap">Link ${l.index + 1}: <span class="url">${l.url}</span></span>
              ${l.tracked || l.clicks.length > 0 ? html`<span><${Badge} tone="ok">${l.people} by people<//> <${Badge} tone="plain">${l.machines} by machines<//></span>` : null}</div>
            ${l.anchor ? html`<p class="muted">Link text “${l.anchor}”</p>` : null}
            ${!l.tracked ? html`<p class="muted">Not tracked${l.skip ? html` (<code>${l.skip}</code>)` : null}: left as it was.</p>` : null}
            ${l.clicks.length === 0
              ? (l.tracked ? html`<p class="muted">No click yet.</p>` : null)
              : html`<table class="stack">
              <caption class="visually-hidden">Clicks on link ${l.index + 1}</caption>
              <thead><tr><th scope="col">Time</th><th scope="col">Verdict</th><th scope="col" class="n">Machine probability</th><th scope="col">Reason codes</th><th scope="col">Device and client</th><th scope="col">First click</th></tr></thead>
              <tbody>${l.clicks.map(c => html`<tr key=${c.event_id} data-event=${c.event_id}>
                <td data-label="Time"><time datetime=${c.timestamp}>${dateTime(c.timestamp)}</time></td>
                <td data-label="Verdict"><${Badge} tone=${verdictTone(c.bot?.classification)}>${classification(c.bot?.classification)}<//></td>
                <td data-label="Machine probability" class="n">${c.bot?.probability ?? '—'} %</td>
                <td data-label="Reason codes">${(c.bot?.reason_codes ?? []).length === 0 ? html`<span class="muted">—</span>` : html`<ul class="codes">${c.bot.reason_codes.map(r => html`<li key=${r}><code>${r}</code></li>`)}</ul>`}</td>
                <td data-label="Device and client">${[c.device_type, c.client_name || c.client_type].filter(Boolean).join(' · ') || '—'}</td>
                <td data-label="First click">${c.first_click ? 'Yes' : html`<span class="muted">No</span>`}</td>
              </tr>`)}</tbody>
            </table>`}
          </li>`)}</ul>`
        : null}`
  }
}
