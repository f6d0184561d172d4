import { html } from '../lib/html.js'
import { Page, LoadError } from '../lib/ui.js'
import { href } from '../lib/router.js'
import { idOf, projects } from '../lib/api.js'

/** The team's projects: GET /v1/projects. */
export class Projects extends Page {
  state = { loading: true, error: undefined, items: [] }

  async componentDidMount () {
    try {
      this.set({ loading: false, items: await projects() })
    } catch (error) {
      this.set({ loading: false, error })
    }
  }

  render () {
    const { loading, error, items } = this.state
    return html`<h1 tabindex="-1">Projects</h1>
      ${loading ? html`<p>Loading projects…</p>` : null}
      ${error ? html`<${LoadError} what="the projects" error=${error} />` : null}
      ${!loading && !error && items.length === 0 ? html`<p>This team has no project yet. Create one with <code>POST /v1/projects</code>.</p>` : null}
      <ul class="cards">
        ${items.map(p => html`<li key=${idOf(p, 'project')}>
          <a class="card-title" href=${href('projects', idOf(p, 'project'))}>${p.name}</a>
          <dl class="facts">
            <div><dt>Tracking host</dt><dd><code>${p.tracking_host}</code></dd></div>
            <div><dt>Short id</dt><dd><code>${p.sid}</code></dd></div>
          </dl>
        </li>`)}
      </ul>`
  }
}
