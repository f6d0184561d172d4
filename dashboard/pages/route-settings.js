import { html } from '../lib/html.js'
import { Page, LoadError, Breadcrumbs, Result, errorText } from '../lib/ui.js'
import { href } from '../lib/router.js'
import { project, route, setTrackClicks } from '../lib/api.js'
import { routeType } from '../lib/format.js'

/**
 * Route settings, the seed's flow: the Track Clicks switch and Save, sent as
 * PATCH /v1/routes/{id} {"track_clicks": bool}. Inbound routes show the switch disabled with
 * the reason (the API refuses it: CT_ERR_ROUTE_INBOUND_TRACKING).
 */
export class RouteSettings extends Page {
  state = { loading: true, error: undefined, project: undefined, route: undefined, on: false, busy: false, result: undefined }

  async componentDidMount () {
    const { project: pid, route: rid } = this.props.params
    project(pid).then(p => { this.set({ project: p }) }, () => {})
    try {
      const r = await route(rid)
      this.set({ loading: false, route: r, on: r.track_clicks === true })
    } catch (error) {
      this.set({ loading: false, error })
    }
  }

  toggle = e => { this.setState({ on: e.currentTarget.checked, result: undefined }) }

  save = async e => {
    e.preventDefault()
    const on = this.state.on
    this.setState({ busy: true, result: { kind: 'busy', text: 'Saving…' } })
    try {
      const r = await setTrackClicks(this.props.params.route, on)
      const now = r?.track_clicks ?? on
      this.set({ busy: false, route: { ...this.state.route, ...r }, on: now, result: { kind: 'ok', text: `Saved. Track Clicks is ${now ? 'on' : 'off'} for this route.` } })
    } catch (err) {
      this.set({ busy: false, result: { kind: 'bad', text: `Not saved: ${errorText(err)}` } })
    }
  }

  render () {
    const pid = this.props.params.project
    const { loading, error, project: p, route: r, on, busy, result } = this.state
    const inbound = r?.type === 'inbound'
    const changed = r !== undefined && on !== (r.track_clicks === true)
    return html`<${Breadcrumbs} items=${[['Projects', '#/'], [p?.name ?? 'Project', href('projects', pid)], [r?.name ?? 'Route']]} />
      <h1 tabindex="-1">Route settings</h1>
      ${loading ? html`<p>Loading the route…</p>` : null}
      ${error ? html`<${LoadError} what="the route" error=${error} />` : null}
      ${r
        ? html`<dl class="facts">
            <div><dt>Route</dt><dd>${r.name}</dd></div>
            <div><dt>Type</dt><dd>${routeType(r.type)}</dd></div>
          </dl>
          <form class="panel stack" onSubmit=${this.save}>
            <h2>Click tracking</h2>
            <div class="switch-row">
              <input id="track-clicks" type="checkbox" role="switch" checked=${on} disabled=${inbound || busy} onChange=${this.toggle} aria-describedby="track-clicks-help" />
              <label for="track-clicks">Track Clicks</label>
              <span class="switch-state" aria-hidden="true">${on ? 'On' : 'Off'}</span>
            </div>
            <p id="track-clicks-help" class="muted">${inbound
              ? 'Not available: this is an inbound route. Inbound routes receive email instead of sending it, so there are no links of yours to track.'
              : 'When on, links in emails sent through this route are rewritten to tracked links, and each click is recorded.'}</p>
            <div class="actions">
              <button type="submit" class="primary" disabled=${inbound || busy}>Save</button>
              ${changed ? html`<span class="muted">Unsaved change</span>` : null}
            </div>
            <${Result} id="save-result" result=${result} />
          </form>`
        : null}`
  }
}
