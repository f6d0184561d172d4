// The one place the browser builds are imported: preact's core and htm, both dependency-free
// ES modules served from node_modules by the Team API (src/api/dashboard.ts). No hooks:
// preact/hooks imports the bare specifier "preact", which a browser resolves only through an
// import map, and an import map is an inline script the Content-Security-Policy forbids.
import { h, render, Component, Fragment } from '/vendor/preact.mjs'
import htm from '/vendor/htm.mjs'

export const html = htm.bind(h)
export { render, Component, Fragment }
