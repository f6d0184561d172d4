// The clicktrail dashboard: plain ES modules, no build step. It talks only to the public Team
// API of the server that served it (same origin; see lib/api.js).
import { html, render, Component } from './lib/html.js'
import { currentRoute } from './lib/router.js'
import { forgetToken, storedToken, whenUnauthorized } from './lib/api.js'
import { SignIn } from './pages/signin.js'
import { Projects } from './pages/projects.js'
import { ProjectPage } from './pages/project.js'
import { RouteSettings } from './pages/route-settings.js'
import { WebhookPage } from './pages/webhook.js'
import { MessagePage } from './pages/message.js'

/**
 * Route name (lib/router.js) → page. The project's sections (routes, webhooks, domains) are
 * tabs of one page (pages/project.js, TABS), analytics and recent clicks among them.
 */
const PAGES = {
  projects: [Projects, () => 'Projects'],
  routes: [ProjectPage, () => 'Routes'],
  webhooks: [ProjectPage, () => 'Webhooks'],
  domains: [ProjectPage, () => 'Tracking domains'],
  analytics: [ProjectPage, () => 'Analytics'],
  clicks: [ProjectPage, () => 'Recent clicks'],
  message: [MessagePage, () => 'Message'],
  'route-settings': [RouteSettings, () => 'Route settings'],
  webhook: [WebhookPage, () => 'Webhook']
}

function NotFound () {
  return html`<h1 tabindex="-1">Page not found</h1><p>There is no such page. <a href="#/">Go to your projects</a>.</p>`
}

class App extends Component {
  state = { route: currentRoute(), signedIn: storedToken() !== '', notice: '' }

  componentDidMount () {
    window.addEventListener('hashchange', this.onHash)
    whenUnauthorized(() => {
      forgetToken()
      this.setState({ signedIn: false, notice: 'The server no longer accepts your token. Sign in again.' })
    })
    this.title()
  }

  onHash = () => {
    this.setState({ route: currentRoute() }, () => { this.title(); this.focusHeading() })
  }

  title () {
    const page = this.state.signedIn ? PAGES[this.state.route.name]?.[1]() ?? 'Page not found' : 'Sign in'
    document.title = `${page} · clicktrail`
  }

  /** After a page change, focus goes to its heading, as a new page load would put it at the top. */
  focusHeading () {
    window.requestAnimationFrame(() => { document.querySelector('main h1')?.focus() })
  }

  signedIn = () => {
    this.setState({ signedIn: true, notice: '', route: currentRoute() }, () => { this.title(); this.focusHeading() })
  }

  signOut = () => {
    forgetToken()
    this.setState({ signedIn: false, notice: 'Signed out.' }, () => { this.title(); this.focusHeading() })
  }

  skip = e => {
    e.preventDefault()
    document.getElementById('main')?.focus()
  }

  render () {
    const { route, signedIn, notice } = this.state
    const entry = PAGES[route.name]
    const Page = entry?.[0]
    return html`<a class="skip" href="#main" onClick=${this.skip}>Skip to content</a>
      <header class="top">
        <a class="brand" href="#/"><img src="/favicon.svg" alt="" width="24" height="24" /><span>clicktrail</span></a>
        ${signedIn
          ? html`<nav aria-label="Main"><a href="#/" aria-current=${route.name === 'projects' ? 'page' : undefined}>Projects</a></nav>
            <button type="button" class="quiet" onClick=${this.signOut}>Sign out</button>`
          : null}
      </header>
      <main id="main" tabindex="-1" class="page">
        ${!signedIn
          ? html`<${SignIn} notice=${notice} onSignedIn=${this.signedIn} />`
          : Page === undefined
            ? html`<${NotFound} />`
            : html`<${Page} key=${route.path} route=${route.name} params=${route.params} query=${route.query} />`}
      </main>`
  }
}

render(html`<${App} />`, document.getElementById('app'))
