// Pieces every page uses: a component base that ignores answers arriving after it is gone,
// breadcrumbs, and the one way results and API errors are shown.
import { html, Component } from './html.js'

export class Page extends Component {
  componentWillUnmount () { this.gone = true }
  /** setState, unless the page was left while a request was out. */
  set (state) { if (!this.gone) this.setState(state) }
}

/** The API's refusal as a reader sees it: its message and its stable code. */
export function errorText (err) {
  if (err?.code === 'NETWORK') return 'The server could not be reached. Check your connection and try again.'
  const code = err?.code ? ` (${err.code})` : ''
  return `${err?.message ?? String(err)}${code}`
}

/** An error while loading a page's data. */
export function LoadError ({ what, error }) {
  return html`<p class="note bad" role="alert">Could not load ${what}: ${errorText(error)}</p>`
}

/**
 * A result line. The live region is always in the document so that a screen reader
 * announces each new result; errors are announced assertively.
 */
export function Result ({ id, result }) {
  const kind = result?.kind ?? ''
  return html`<p id=${id} class=${`result ${kind}`} role=${kind === 'bad' ? 'alert' : 'status'} aria-live=${kind === 'bad' ? 'assertive' : 'polite'}>${result?.text ?? ''}</p>`
}

/** `items`: [text, href] pairs; the last one is the current page (no link). */
export function Breadcrumbs ({ items }) {
  return html`<nav class="crumbs" aria-label="Breadcrumb"><ol>${items.map(([text, href], i) => i === items.length - 1
    ? html`<li><span aria-current="page">${text}</span></li>`
    : html`<li><a href=${href}>${text}</a></li>`)}</ol></nav>`
}

export function Badge ({ tone, children }) {
  return html`<span class=${`badge ${tone}`}>${children}</span>`
}
