// The one place uPlot is used: a time chart of people against machines. uPlot (1.6, MIT, no
// dependencies, ~50 KB) draws on a canvas and sets styles only through the CSSOM, so it runs
// under the dashboard's Content-Security-Policy and Trusted Types. Assistive technology does
// not see the canvas (aria-hidden): the page puts the same numbers in a table beside it.
import UPlot from '/vendor/uPlot.esm.js'
import { html, Component } from './html.js'

/** The colours of the two series from the stylesheet, so the dark scheme gets its own. */
function colours (el) {
  const s = window.getComputedStyle(el)
  const v = (name, fallback) => s.getPropertyValue(name).trim() || fallback
  return { human: v('--chart-human', '#0b5cad'), machine: v('--chart-machine', '#a34a00'), grid: v('--border', '#d5dae0'), text: v('--muted', '#535d68') }
}

/**
 * `data`: [x (unix seconds), people, machines]; `timezone`: the axis' zone; `hour`: whether
 * points are hours. Redrawn when the data changes; resized with its box.
 */
export class TimeChart extends Component {
  box = null

  componentDidMount () {
    this.draw()
    this.observer = new window.ResizeObserver(() => { this.resize() })
    this.observer.observe(this.box)
  }

  componentDidUpdate (prev) {
    if (prev.data !== this.props.data || prev.timezone !== this.props.timezone) this.draw()
  }

  componentWillUnmount () {
    this.observer?.disconnect()
    this.plot?.destroy()
  }

  size () {
    const w = Math.max(200, Math.floor(this.box.clientWidth))
    return { width: w, height: w < 500 ? 220 : 280 }
  }

  resize () {
    if (this.plot === undefined) return
    const { width, height } = this.size()
    if (width !== this.plot.width) this.plot.setSize({ width, height })
  }

  draw () {
    this.plot?.destroy()
    const c = colours(this.box)
    const tz = this.props.timezone
    const axis = { stroke: c.text, grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid, width: 1 } }
    const opts = {
      ...this.size(),
      tzDate: ts => UPlot.tzDate(new Date(ts * 1000), tz),
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (u, min, max) => [0, Math.max(4, Math.ceil(max * 1.1))] } },
      // The page draws its own key (line styles, not only colours) and the numbers are in its table.
      legend: { show: false },
      series: [
        { label: this.props.hour ? 'Hour' : 'Day' },
        { label: 'People', stroke: c.human, width: 2, fill: c.human + '22', points: { show: this.props.data[0].length <= 62 } },
        { label: 'Machines', stroke: c.machine, width: 2, dash: [6, 4], points: { show: this.props.data[0].length <= 62 } }
      ],
      axes: [{ ...axis }, { ...axis, size: 44, values: (u, vals) => vals.map(v => Number.isInteger(v) ? String(v) : '') }]
    }
    this.plot = new UPlot(opts, this.props.data, this.box)
  }

  render () {
    return html`<div class="chart" aria-hidden="true" ref=${el => { this.box = el }}></div>`
  }
}
