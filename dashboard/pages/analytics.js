import { html } from '../lib/html.js'
import { Page, LoadError } from '../lib/ui.js'
import { analytics } from '../lib/api.js'
import { TimeChart } from '../lib/chart.js'
import { classification } from '../lib/format.js'
import { browserZone, changeText, chartData, daysIn, lastDays, seriesQuery, tableQuery, tables, zones } from '../lib/analytics.js'
import { replaceQuery } from '../lib/router.js'

/**
 * A project's analytics, all from POST /v1/analytics: the chart of people against machines
 * (unique recipients per day or hour), the summary against the previous period, and the
 * breakdown tables. Selecting a row adds a filter chip; removing a chip takes it away; every
 * change asks again. Answers to an older question are dropped (`asked`). The question (range,
 * zone, interval, campaign key, filters) is kept in the hash's query, so that a reload or a
 * shared link shows the same view; what the query holds is checked, anything else is ignored.
 */

const MAX_DAYS = 90
const LABELS = {
  destination_url: 'Link',
  tag: 'Tag',
  device_type: 'Device',
  client_name: 'Client',
  classification: 'Classification',
  reason_code: 'Reason code'
}

export function dimensionLabel (dimension) {
  if (dimension.startsWith('metadata.')) return `Metadata “${dimension.slice(9)}”`
  return LABELS[dimension] ?? dimension
}

export function valueText (dimension, value) {
  if (value === null || value === undefined || value === '') {
    if (dimension === 'tag') return '(no tag)'
    if (dimension.startsWith('metadata.')) return '(not set)'
    return dimension === 'reason_code' ? '(none)' : '(unknown)'
  }
  if (dimension === 'classification') return classification(value)
  return String(value)
}

const NUMBER = new Intl.NumberFormat()
const num = v => v === null || v === undefined ? '—' : NUMBER.format(v)
const pct = v => v === null || v === undefined ? '—' : `${(Math.round(v * 1000) / 10).toFixed(1)} %`

function pointLabel (from, timezone, hour) {
  const opts = hour ? { timeZone: timezone, month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' } : { timeZone: timezone, year: 'numeric', month: 'short', day: 'numeric', weekday: 'short' }
  return new Intl.DateTimeFormat(undefined, opts).format(new Date(from))
}

const DATE = /^\d{4}-\d{2}-\d{2}$/

/** The question a hash query asks, each part only when it is well formed. */
export function fromQuery (query, zoneList) {
  const out = {}
  const get = k => query?.get(k) ?? null
  const from = get('from')
  const to = get('to')
  const day = v => v !== null && DATE.test(v) && !Number.isNaN(Date.parse(`${v}T00:00:00Z`))
  if (day(from) && day(to)) Object.assign(out, { from, to })
  if (zoneList.includes(get('tz'))) out.timezone = get('tz')
  if (get('interval') === 'day' || get('interval') === 'hour') out.interval = get('interval')
  if (get('campaign') !== null && get('campaign') !== '') out.campaignKey = get('campaign')
  try {
    const f = JSON.parse(get('filters') ?? '[]')
    if (Array.isArray(f)) {
      const chips = f.filter(c => Array.isArray(c) && c.length === 2 && typeof c[0] === 'string' && (typeof c[1] === 'string' || c[1] === null))
        .map(([dimension, value]) => ({ dimension, value }))
      if (chips.length > 0) out.chips = chips
    }
  } catch { /* not JSON: no filters */ }
  return out
}

export class AnalyticsTab extends Page {
  constructor (props) {
    super(props)
    const zone = browserZone()
    this.zoneList = zones(zone)
    const asked = fromQuery(props.query, this.zoneList)
    const timezone = asked.timezone ?? zone
    this.state = {
      ...lastDays(30, timezone),
      timezone,
      interval: 'day',
      campaignKey: 'campaign',
      chips: [],
      ...asked,
      loading: true,
      error: undefined,
      rangeError: '',
      series: undefined,
      data: undefined,
      rows: {},
      showNumbers: false
    }
    this.asked = 0
  }

  componentDidMount () { this.load() }

  query () {
    const { from, to, timezone, interval, chips } = this.state
    return { projectId: this.props.projectId, from, to, timezone, interval, chips }
  }

  async load () {
    const { from, to } = this.state
    const days = daysIn(from, to)
    if (!(days >= 1)) { this.set({ rangeError: 'Choose a start date on or before the end date.', loading: false }); return }
    if (days > MAX_DAYS) { this.set({ rangeError: `Choose at most ${MAX_DAYS} days (this range has ${days}).`, loading: false }); return }
    const n = ++this.asked
    const q = this.query()
    replaceQuery({ from: q.from, to: q.to, tz: q.timezone, interval: q.interval, campaign: this.state.campaignKey, filters: q.chips.length === 0 ? '' : JSON.stringify(q.chips.map(c => [c.dimension, c.value])) })
    const list = tables(this.state.campaignKey)
    this.set({ loading: true, error: undefined, rangeError: '' })
    try {
      const [series, ...answers] = await Promise.all([
        analytics(seriesQuery(q)),
        ...list.map(([, , groupBy]) => analytics(tableQuery(q, groupBy)))
      ])
      if (n !== this.asked) return
      const rows = {}
      list.forEach(([id], i) => { rows[id] = answers[i].data.breakdown ?? [] })
      const points = series.data.time_series ?? []
      this.set({ loading: false, series, data: chartData(points), rows, asked: q })
    } catch (error) {
      if (n === this.asked) this.set({ loading: false, error })
    }
  }

  change = e => {
    const { name, value } = e.currentTarget
    this.setState({ [name]: value }, () => { this.load() })
  }

  addChips (chips) {
    const have = this.state.chips
    const fresh = chips.filter(c => !have.some(h => h.dimension === c.dimension && h.value === c.value))
    if (fresh.length === 0) return
    // One value per dimension: a new value of a dimension replaces the old one.
    const kept = have.filter(h => !fresh.some(c => c.dimension === h.dimension))
    this.setState({ chips: [...kept, ...fresh] }, () => { this.load() })
  }

  removeChip (chip) {
    this.setState({ chips: this.state.chips.filter(c => c !== chip) }, () => {
      this.load()
      document.getElementById('chips-title')?.focus()
    })
  }

  renderControls () {
    const { from, to, timezone, interval, campaignKey, rangeError } = this.state
    return html`<form class="panel controls" onSubmit=${e => { e.preventDefault(); this.load() }} aria-label="Analytics query">
      <div class="field"><label for="a-interval">Interval</label>
        <select id="a-interval" name="interval" value=${interval} onChange=${this.change}>
          <option value="day">Day</option><option value="hour">Hour</option>
        </select></div>
      <div class="field"><label for="a-from">From</label>
        <input id="a-from" type="date" name="from" value=${from} max=${to} onChange=${this.change} required /></div>
      <div class="field"><label for="a-to">To</label>
        <input id="a-to" type="date" name="to" value=${to} min=${from} onChange=${this.change} required /></div>
      <div class="field"><label for="a-tz">Time zone</label>
        <select id="a-tz" name="timezone" value=${timezone} onChange=${this.change}>
          ${this.zoneList.map(z => html`<option key=${z} value=${z}>${z}</option>`)}
        </select></div>
      <div class="field"><label for="a-campaign">Campaign key</label>
        <input id="a-campaign" type="text" name="campaignKey" value=${campaignKey} onChange=${this.change} aria-describedby="a-campaign-help" spellcheck="false" autocomplete="off" />
        <span id="a-campaign-help" class="hint muted">The metadata key that names a campaign</span></div>
      ${rangeError ? html`<p class="note bad span-all" role="alert">${rangeError}</p>` : null}
    </form>`
  }

  renderChips () {
    const { chips } = this.state
    return html`<div class="chips" role="group" aria-labelledby="chips-title">
      <span id="chips-title" tabindex="-1" class="chips-title">Filters</span>
      ${chips.length === 0
        ? html`<span class="muted">None. Select a row in a table below to filter by it.</span>`
        : html`<ul>${chips.map(c => html`<li key=${c.dimension}>
            <button type="button" class="chip" data-dimension=${c.dimension} onClick=${() => this.removeChip(c)} aria-label=${`Remove filter ${dimensionLabel(c.dimension)}: ${valueText(c.dimension, c.value)}`}>
              <span>${dimensionLabel(c.dimension)}: <strong>${valueText(c.dimension, c.value)}</strong></span><span aria-hidden="true" class="x">×</span>
            </button></li>`)}</ul>`}
    </div>`
  }

  renderSummary () {
    const s = this.state.series?.data?.summary
    if (s === undefined) return null
    const prev = s.previous
    const card = (metric, label, fmt) => html`<li class="stat" data-metric=${metric}>
      <span class="stat-label">${label}</span>
      <span class="stat-value">${fmt(s.metrics[metric])}</span>
      <span class="stat-prev muted">${prev ? html`${changeText(s.change?.[metric])}${changeText(s.change?.[metric]) ? ' · ' : ''}previous period: ${fmt(prev.metrics[metric])}` : null}</span>
    </li>`
    return html`<section aria-labelledby="summary-title">
      <h3 id="summary-title">Summary${prev ? html` <span class="muted small">against ${prev.from ? pointLabel(prev.from, this.state.timezone, false) : ''} – ${prev.to ? pointLabel(Date.parse(prev.to) - 1, this.state.timezone, false) : ''}</span>` : null}</h3>
      <ul class="stats">
        ${card('human_clicks', 'People who clicked', num)}
        ${card('machine_clicks', 'Recipients with machine clicks', num)}
        ${card('clicks_events', 'All click events', num)}
        ${card('human_click_rate', 'Human click rate', pct)}
      </ul>
    </section>`
  }

  renderChart () {
    const { series, data, timezone } = this.state
    const points = series?.data?.time_series
    if (points === undefined || data === undefined) return null
    const hour = series.meta?.interval === 'hour'
    const unit = hour ? 'hour' : 'day'
    const humans = data[1].reduce((a, b) => a + b, 0)
    const machines = data[2].reduce((a, b) => a + b, 0)
    return html`<figure class="panel chart-panel" aria-labelledby="chart-title">
      <figcaption id="chart-title"><strong>People and machines clicking, per ${unit}</strong>
        <span class="muted"> · unique recipients, ${timezone}</span></figcaption>
      <p class="legend-note muted" aria-hidden="true"><span class="key human"></span> People (solid line) <span class="key machine"></span> Machines (dashed line)</p>
      <${TimeChart} data=${data} timezone=${timezone} hour=${hour} />
      ${humans === 0 && machines === 0 ? html`<p class="muted small">No clicks in this range.</p>` : null}
      <button type="button" class="small" aria-expanded=${this.state.showNumbers ? 'true' : 'false'} aria-controls="chart-table" onClick=${() => this.setState({ showNumbers: !this.state.showNumbers })}>${this.state.showNumbers ? 'Hide the numbers' : 'Show the numbers'}</button>
      <div class=${this.state.showNumbers ? 'table-scroll' : 'visually-hidden'}>
        <table id="chart-table" class="numbers" data-points=${JSON.stringify(data)}>
          <caption>Clicks per ${unit}, unique recipients (${timezone})</caption>
          <thead><tr><th scope="col">${hour ? 'Hour' : 'Day'}</th><th scope="col" class="n">People</th><th scope="col" class="n">Machines</th></tr></thead>
          <tbody>${points.map((p, i) => html`<tr key=${p.from} data-from=${p.from}>
            <th scope="row">${pointLabel(p.from, timezone, hour)}${p.partial ? ' (partial)' : ''}</th>
            <td class="n">${data[1][i]}</td><td class="n">${data[2][i]}</td>
          </tr>`)}</tbody>
        </table>
      </div>
    </figure>`
  }

  renderTable ([id, title, groupBy]) {
    const rows = this.state.rows[id]
    if (rows === undefined) return null
    const filterBy = row => groupBy.filter(d => !(d === 'reason_code' && row.dimensions[d] === null)).map(d => ({ dimension: d, value: row.dimensions[d] }))
    const total = rows.reduce((a, r) => a + (r.metrics.clicks ?? 0), 0)
    return html`<section class="panel breakdown" aria-labelledby=${`t-${id}`} data-table=${id}>
      <h3 id=${`t-${id}`}>${title}</h3>
      ${rows.length === 0
        ? html`<p class="muted">No clicks.</p>`
        : html`<table class="numbers">
          <thead><tr><th scope="col">${groupBy.map(dimensionLabel).join(' · ')}</th><th scope="col" class="n">People</th><th scope="col" class="n">Machines</th><th scope="col" class="n">All</th></tr></thead>
          <tbody>${rows.map((r, i) => {
            const chips = filterBy(r)
            const label = chips.map(c => `${dimensionLabel(c.dimension)} ${valueText(c.dimension, c.value)}`).join(', ')
            const [lead, ...rest] = groupBy
            // The first dimension is the row's button; a second one (a reason code) is written under it.
            return html`<tr key=${i} class="pick" onClick=${e => { if (e.target.closest('button') === null) this.addChips(chips) }}>
              <td class=${lead === 'destination_url' ? 'wrap' : ''}>
                <button type="button" class="linkish" onClick=${() => this.addChips(chips)} aria-label=${`Filter by ${label}`}>${valueText(lead, r.dimensions[lead])}</button>
                ${rest.map(d => html`<span class="sub" data-dimension=${d}>${r.dimensions[d] === null ? html`<span class="muted">no reason code</span>` : html`<code>${r.dimensions[d]}</code>`}</span>`)}
                ${total > 0 ? html`<span class="bar" aria-hidden="true"><span style=${{ width: `${Math.round(100 * (r.metrics.clicks ?? 0) / Math.max(1, rows[0].metrics.clicks ?? 1))}%` }}></span></span>` : null}</td>
              <td class="n">${num(r.metrics.human_clicks)}</td><td class="n">${num(r.metrics.machine_clicks)}</td><td class="n">${num(r.metrics.clicks)}</td>
            </tr>`
          })}</tbody>
        </table>`}
    </section>`
  }

  render () {
    const { loading, error, series } = this.state
    return html`<h2 id="section-title">Analytics</h2>
      ${this.renderControls()}
      ${this.renderChips()}
      <p class="result busy" role="status" aria-live="polite">${loading ? 'Loading…' : ''}</p>
      ${error ? html`<${LoadError} what="the analytics" error=${error} />` : null}
      ${series
        ? html`<div class=${loading ? 'stale' : ''} aria-busy=${loading ? 'true' : 'false'}>
            ${this.renderSummary()}
            ${this.renderChart()}
            <div class="grid">${tables(this.state.campaignKey).map(t => this.renderTable(t))}</div>
            <p class="muted small">People and machines are counted once per recipient (a recipient is one message sent to one address). ${series.meta?.last_ingested_at ? `Data up to ${new Date(series.meta.last_ingested_at).toLocaleString()}.` : ''}</p>
          </div>`
        : null}`
  }
}
