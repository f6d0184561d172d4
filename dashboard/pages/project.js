import { html } from '../lib/html.js'
import { Page, LoadError, Breadcrumbs } from '../lib/ui.js'
import { href } from '../lib/router.js'
import { project } from '../lib/api.js'
import { RoutesTab } from './routes.js'
import { WebhooksTab } from './webhooks.js'
import { DomainsTab } from './domains.js'
import { AnalyticsTab } from './analytics.js'
import { ClicksTab } from './clicks.js'

/** A project's sections, one hash route each: [route name, label, path segment, component]. */
export const TABS = [
  ['routes', 'Routes', undefined, RoutesTab],
  ['analytics', 'Analytics', 'analytics', AnalyticsTab],
  ['clicks', 'Recent clicks', 'clicks', ClicksTab],
  ['webhooks', 'Webhooks', 'webhooks', WebhooksTab],
  ['domains', 'Tracking domains', 'domains', DomainsTab]
]

/** One project: its name and tracking host, and the section the route names. */
export class ProjectPage extends Page {
  state = { loading: true, error: undefined, project: undefined }

  async componentDidMount () {
    try {
      this.set({ loading: false, project: await project(this.props.params.project) })
    } catch (error) {
      this.set({ loading: false, error })
    }
  }

  render () {
    const id = this.props.params.project
    const { error, project: p } = this.state
    const tab = TABS.find(t => t[0] === this.props.route) ?? TABS[0]
    const Tab = tab[3]
    const name = p?.name ?? 'Project'
    return html`<${Breadcrumbs} items=${[['Projects', '#/'], [name]]} />
      <h1 tabindex="-1">${name}</h1>
      ${p ? html`<p class="muted">Tracking host <code>${p.tracking_host}</code></p>` : null}
      ${error ? html`<${LoadError} what="the project" error=${error} />` : null}
      <nav class="tabs" aria-label="Project sections">
        ${TABS.map(([name, label, segment]) => html`<a key=${name} href=${segment === undefined ? href('projects', id) : href('projects', id, segment)} aria-current=${name === tab[0] ? 'page' : undefined}>${label}</a>`)}
      </nav>
      <section aria-labelledby="section-title"><${Tab} key=${tab[0]} projectId=${id} query=${this.props.query} /></section>`
  }
}
