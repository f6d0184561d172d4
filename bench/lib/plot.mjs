// Plots of a bench run as SVG, drawn by Vega-Lite (compiled to Vega, rendered in Node with
// the headless `none` renderer: no canvas, no browser). A plot is panels stacked on one
// time axis, each with its lines, and the run's phases shaded behind them.
import { writeFileSync } from 'node:fs'
import * as vega from 'vega'
import { compile } from 'vega-lite'

/**
 * @typedef {{ title: string, unit: string, lines: {key: string, label: string}[], log?: boolean }} Panel
 * @param {string} file             where the SVG goes
 * @param {{ title: string, subtitle?: string, rows: object[], panels: Panel[],
 *           phases: {from: number, to: number, label: string}[], width?: number }} o
 *   rows: one object per sample, `t` (seconds) and a value per line key (null: no value)
 */
export async function writeTimePlot (file, o) {
  const width = o.width ?? 900
  const tMax = Math.max(1, ...o.rows.map(r => r.t))
  const x = { field: 't', type: 'quantitative', title: 'seconds since the first phase', scale: { domain: [0, tMax], nice: false } }
  const panel = (p, i) => {
    const values = []
    for (const r of o.rows) {
      for (const l of p.lines) {
        const v = r[l.key]
        // A missing value stays in as null, so the line breaks there instead of bridging the gap.
        const ok = typeof v === 'number' && Number.isFinite(v) && !(p.log && v <= 0)
        values.push({ t: r.t, series: l.label, value: ok ? v : null })
      }
    }
    const phases = o.phases.map((ph, j) => ({ ...ph, shade: j % 2 }))
    return {
      title: { text: p.title, anchor: 'start', fontSize: 12 },
      width,
      height: 150,
      layer: [
        {
          data: { values: phases },
          mark: { type: 'rect', opacity: 0.07 },
          encoding: { x: { ...x, field: 'from' }, x2: { field: 'to' }, color: { value: '#000' }, opacity: { condition: { test: 'datum.shade === 0', value: 0.09 }, value: 0.03 } }
        },
        ...(i === 0
          ? [{
              data: { values: phases },
              mark: { type: 'text', align: 'left', baseline: 'top', dx: 3, dy: 3, fontSize: 9, color: '#555' },
              encoding: { x: { ...x, field: 'from' }, y: { value: 0 }, text: { field: 'label' } }
            }]
          : []),
        {
          data: { values },
          mark: { type: 'line', strokeWidth: 1.5, interpolate: 'linear', invalid: 'break-paths-show-domains' },
          encoding: {
            x,
            y: { field: 'value', type: 'quantitative', title: p.unit, scale: p.log ? { type: 'log' } : { zero: true } },
            color: { field: 'series', type: 'nominal', title: null, sort: p.lines.map(l => l.label), scale: { domain: p.lines.map(l => l.label) }, legend: { orient: 'right' } }
          }
        }
      ],
      resolve: { scale: { color: 'independent' } }
    }
  }
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: o.title, subtitle: o.subtitle, anchor: 'start' },
    vconcat: o.panels.map(panel),
    resolve: { scale: { color: 'independent' } },
    config: { font: 'sans-serif', view: { stroke: '#ccc' }, legend: { labelLimit: 260 } }
  }
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  const svg = await view.toSVG()
  view.finalize()
  writeFileSync(file, svg)
  return { spec, bytes: svg.length }
}
