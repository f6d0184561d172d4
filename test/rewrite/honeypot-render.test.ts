import t from 'tap'
import { existsSync } from 'node:fs'
import { randomUUID } from 'node:crypto'
import type { Browser, Page } from 'playwright-core'
import { rewriteHtml } from '../../src/rewrite/html.js'
import { HONEYPOT_LINK_INDEX, mintToken } from '../../src/token/codec.js'
import { trackedUrl } from '../../src/token/tracked-url.js'
import { BASE_URL, corpus, isTrackingHost, realMint, ring, SENT_AT, SID } from './helpers.js'

// The honeypot link changes nothing a person sees or reaches: each corpus email is rendered in
// Debian's Chromium (playwright-core, which downloads no browser) with the option off and on,
// at 1280 and 390 px, and the full-page screenshots must be identical byte for byte (same
// pixels, same PNG encoder); the keyboard's tab order and the accessibility tree's links must
// be the same too. Remote images and fonts are refused (nothing leaves the machine), the same
// for both renders.

const CHROMIUM = '/usr/bin/chromium'
const QUIET = [
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-extensions',
  '--no-first-run', '--no-default-browser-check', '--no-pings', '--metrics-recording-only',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1'
]
const WIDTHS = [1280, 390]
/** In the page: the focused link's href and text, or null when focus is not on a link. */
const FOCUSED_LINK = '(() => { const a = document.activeElement; return a instanceof HTMLAnchorElement ? (a.getAttribute(\'href\') ?? \'\') + \' \' + a.textContent : null })()'
/** In the page: the honeypot's layout boxes, or null when it is not in the document. */
const HONEYPOT_BOXES = '(() => { const el = document.querySelector(\'a[aria-hidden="true"][tabindex="-1"]\'); return el === null ? null : el.getClientRects().length })()'

function honeypotMint (messageId: string) {
  return (url: string): string => trackedUrl(BASE_URL, SID, mintToken(ring, { sid: SID, messageId, linkIndex: HONEYPOT_LINK_INDEX, sentAt: SENT_AT, url }, { honeypot: true }))
}

/** What the keyboard reaches: Tab through the page, each focused link's href and text, until focus leaves the links. */
async function tabOrder (page: Page, max = 80): Promise<string[]> {
  const out: string[] = []
  await page.evaluate('document.activeElement?.blur()')
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab')
    const link = await page.evaluate(FOCUSED_LINK) as string | null
    if (link === null) break
    out.push(link)
  }
  return out
}

/** Links in the accessibility tree (what a screen reader's links list shows): role=link names. */
async function accessibleLinks (page: Page): Promise<number> {
  return await page.getByRole('link').count()
}

t.test('rendered with and without the honeypot: pixel-identical, same tab order, same links for assistive technology', { skip: existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install -y chromium): pixel comparison skipped` }, async t => {
  const { chromium } = await import('playwright-core')
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, chromiumSandbox: false, args: QUIET })
  t.teardown(async () => { await browser.close() })
  // Four emails of different builds: table layouts, a boilerplate, a one-column template, a preheader.
  const picked = ['antwort-single-column.html', 'email-boilerplate-seanpowell.html', 'leemunroe-email.html', 'mailchimp-csis-press-release.html', 'postmark-welcome.html']
  const emails = corpus().filter(e => picked.includes(e.name))
  t.ok(emails.length >= 4, `${emails.length} corpus emails`)
  for (const { name, html } of emails) {
    const id = randomUUID()
    const off = await rewriteHtml(html, { isTrackingHost, mint: realMint(id) })
    const on = await rewriteHtml(html, { isTrackingHost, mint: realMint(id), mintHoneypot: honeypotMint(id) })
    t.ok(on.honeypot, `${name}: has a honeypot`)
    t.not(on.html, off.html)
    for (const width of WIDTHS) {
      const context = await browser.newContext({ viewport: { width, height: 900 }, deviceScaleFactor: 1, colorScheme: 'light', javaScriptEnabled: true })
      // Same answer for both renders: every subresource refused, so nothing differs by timing.
      await context.route('**/*', async route => { await route.abort() })
      const page = await context.newPage()
      const shot = async (doc: string): Promise<{ png: Buffer, tabs: string[], links: number, honeypotBoxes: number | null }> => {
        await page.setContent(doc, { waitUntil: 'load' })
        const png = await page.screenshot({ fullPage: true, animations: 'disabled', caret: 'hide' })
        // The honeypot's layout boxes (null: not in the document).
        const honeypotBoxes = await page.evaluate(HONEYPOT_BOXES) as number | null
        return { png, tabs: await tabOrder(page), links: await accessibleLinks(page), honeypotBoxes }
      }
      const a = await shot(off.html)
      const b = await shot(on.html)
      t.ok(a.png.equals(b.png), `${name} at ${width} px: the screenshots are pixel-identical (${a.png.length} bytes)`)
      // A client whose sanitiser drops the style attribute: the empty link still draws nothing.
      const c = await shot(on.html.replace(/(<a href="[^"]+" tabindex="-1" aria-hidden="true") style="[^"]*"><\/a>/, '$1></a>'))
      t.ok(a.png.equals(c.png), `${name} at ${width} px: pixel-identical even with the honeypot's styles stripped`)
      t.same(b.tabs, a.tabs, `${name} at ${width} px: the same ${a.tabs.length} links in the tab order`)
      t.equal(b.links, a.links, `${name} at ${width} px: the same ${a.links} links in the accessibility tree`)
      // The honeypot is in the DOM (scanners read it there), with no box.
      t.equal(b.honeypotBoxes, 0, `${name} at ${width} px: the honeypot is in the document and has no box`)
      t.equal(a.honeypotBoxes, null)
      await context.close()
    }
  }
  // The test can fail: a visible link in the same place would change the pixels.
  const base = emails[0]
  const visible = base.html.replace(/<body([^>]*)>/i, '<body$1><a href="https://example.com/">x</a>')
  const context = await browser.newContext({ viewport: { width: 390, height: 900 }, deviceScaleFactor: 1 })
  await context.route('**/*', async route => { await route.abort() })
  const page = await context.newPage()
  await page.setContent(base.html, { waitUntil: 'load' })
  const before = await page.screenshot({ fullPage: true })
  await page.setContent(visible, { waitUntil: 'load' })
  const after = await page.screenshot({ fullPage: true })
  t.notOk(before.equals(after), 'a visible one-letter link there does change the screenshot')
  await context.close()
})
