// Display helpers. Dates are shown in the browser's own time zone with the offset named.

const DATE_TIME = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' })

/** An ISO string or unix milliseconds → readable text; '—' when absent. */
export function dateTime (value) {
  if (value === null || value === undefined || value === '') return '—'
  const d = new Date(typeof value === 'number' ? value : String(value))
  return Number.isNaN(d.getTime()) ? String(value) : DATE_TIME.format(d)
}

const SHORT = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' })

/** A recent time, without its year (the full one is `dateTime`). */
export function shortTime (value) {
  const d = new Date(typeof value === 'number' ? value : String(value))
  return Number.isNaN(d.getTime()) ? String(value ?? '—') : SHORT.format(d)
}

export function routeType (type) {
  return { transactional: 'Transactional', broadcast: 'Broadcast', inbound: 'Inbound' }[type] ?? String(type)
}

export function domainStatus (status) {
  return { verified: 'Verified', pending_verification: 'Pending verification', failed_verification: 'Verification failed' }[status] ?? String(status)
}

/** A badge's colour class for a state: ok, wait, bad or plain. */
export function tone (status) {
  if (status === 'verified' || status === 'active' || status === true) return 'ok'
  if (status === 'pending_verification' || status === 'pending') return 'wait'
  if (status === 'failed_verification' || status === 'failed' || status === false) return 'bad'
  return 'plain'
}

const CLASSES = { genuine: 'Person', privacy_proxy: 'Privacy proxy', security_scanner: 'Security scanner', link_preview: 'Link preview', generic_bot: 'Bot' }

/** A click's classification as a reader names it. */
export function classification (value) {
  return CLASSES[value] ?? String(value ?? '—')
}

/** A verdict's badge colour: people ok, privacy proxies (a person may be behind one) wait, machines plain. */
export function verdictTone (value) {
  return value === 'genuine' ? 'ok' : value === 'privacy_proxy' ? 'wait' : 'plain'
}
