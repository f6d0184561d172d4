import { html } from '../lib/html.js'
import { Page, Result } from '../lib/ui.js'
import { projects, storeToken } from '../lib/api.js'

/**
 * Sign-in with a team API token: checked against GET /v1/projects before it is kept. The form
 * is handled here (its submission is prevented, and the CSP's form-action 'none' stops it
 * anyway): the token never goes into a URL.
 */
export class SignIn extends Page {
  state = { token: '', busy: false, result: undefined }

  onInput = e => { this.setState({ token: e.currentTarget.value }) }

  submit = async e => {
    e.preventDefault()
    const token = this.state.token.trim()
    if (token === '') {
      this.setState({ result: { kind: 'bad', text: 'Enter a team API token.' } })
      return
    }
    this.setState({ busy: true, result: { kind: 'busy', text: 'Checking the token…' } })
    try {
      await projects(token)
      storeToken(token)
      this.props.onSignedIn()
    } catch (err) {
      this.set({
        busy: false,
        result: { kind: 'bad', text: err.status === 401 ? 'This token was not accepted. Use a team API token, such as the one `clicktrail init` printed.' : `Could not sign in: ${err.message}` }
      })
    }
  }

  render () {
    const { token, busy, result } = this.state
    return html`<div class="narrow">
      <h1 tabindex="-1">Sign in</h1>
      <p>Sign in with a team API token. It is kept in this browser tab only, until the tab closes, and sent only to this server's Team API.</p>
      ${this.props.notice ? html`<p class="note" role="status">${this.props.notice}</p>` : null}
      <form class="stack" method="post" onSubmit=${this.submit} novalidate>
        <div class="field">
          <label for="token">Team API token</label>
          <input id="token" type="password" autocomplete="off" autocapitalize="off" spellcheck="false" required value=${token} onInput=${this.onInput} aria-describedby="signin-result" />
        </div>
        <div class="actions"><button type="submit" class="primary" disabled=${busy}>Sign in</button></div>
        <${Result} id="signin-result" result=${result} />
      </form>
    </div>`
  }
}
