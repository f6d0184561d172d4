import { html } from '../lib/html.js'
import { Page, LoadError, Badge } from '../lib/ui.js'
import { href } from '../lib/router.js'
import { idOf, routes } from '../lib/api.js'
import { routeType } from '../lib/format.js'

/** A project's routes with their type and Track Clicks state: GET /v1/projects/{id}/routes. */
export class RoutesTab extends Page {
  state = { loading: true, error: undefined, items: [] }

  async componentDidMount () {
    try {
      this.set({ loading: false, items: await routes(this.props.projectId) })
    } catch (error) {
      this.set({ loading: false, error })
    }
  }

  render () {
    const { loading, error, items } = this.state
    const pid = this.props.projectId
    return html`<h2 id="section-title">Routes</h2>
      <p class="muted">Select a transactional or broadcast route to change its Track Clicks setting.</p>
      ${loading ? html`<p>Loading routes…</p>` : null}
      ${error ? html`<${LoadError} what="the routes" error=${error} />` : null}
      ${!loading && !error && items.length === 0 ? html`<p>This project has no route yet.</p>` : null}
      ${items.length > 0
        ? html`<table class="stack">
          <thead><tr><th scope="col">Route</th><th scope="col">Type</th><th scope="col">Track Clicks</th></tr></thead>
          <tbody>${items.map(r => html`<tr key=${idOf(r, 'route')} data-route=${idOf(r, 'route')}>
            <td data-label="Route"><a href=${href('projects', pid, 'routes', idOf(r, 'route'))}>${r.name}</a></td>
            <td data-label="Type">${routeType(r.type)}</td>
            <td data-label="Track Clicks">${r.type === 'inbound'
              ? html`<${Badge} tone="plain">Not available (inbound)<//>`
              : r.track_clicks ? html`<${Badge} tone="ok">On<//>` : html`<${Badge} tone="plain">Off<//>`}</td>
          </tr>`)}</tbody>
        </table>`
        : null}`
  }
}
