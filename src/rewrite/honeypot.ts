import { escapeAttribute } from './start-tag.js'

/**
 * The honeypot link a route may ask for (route setting `honeypot_link`): one `<a>` that a
 * person can neither see nor reach, which link scanners fetch with everything else. Its
 * token carries the reserved link index HONEYPOT_LINK_INDEX (token/codec.ts), inside the
 * signed payload, and the first tracked link's destination, so its fetch is answered like any
 * link's (302 there) and is recorded as an observation with `honeypot = true`; promotion
 * never makes it a click, and classification marks the fetcher (address and agent) as a
 * security scanner for that message (`honeypot_hit`).
 *
 * Why it neither shows nor reaches anyone, in each client:
 * - It has no content: an empty inline box has no width, and a line holding only it is a
 *   zero-height line box (CSS 2.1 §9.4.2), so even a client that drops every style renders
 *   nothing where it stands.
 * - `display:none` takes it out of the layout, the focus order and the accessibility tree
 *   (no screen reader announces it, no links list shows it) in every browser-engine client
 *   (Apple Mail, iOS Mail, Gmail, Yahoo, Outlook.com, the new Outlook, Thunderbird);
 *   `mso-hide:all` does the same in Outlook's Word engine, which ignores `display:none`.
 *   These are the inline styles of the hidden preheader that mailing tools put right after
 *   `<body>` in most marketing mail, so they are known to survive the clients' sanitisers.
 * - `tabindex="-1"` and `aria-hidden="true"` hold where a sanitiser strips the style:
 *   keyboard focus skips it and assistive technology ignores it; it has no text to read.
 * - It stands right after the `<body>` start tag (else right before the first link), no
 *   whitespace added: the first link in document order, where scanners that fetch only the
 *   first links of a message still find it.
 */
export function honeypotMarkup (trackedUrl: string): string {
  return `<a href="${escapeAttribute(trackedUrl)}" tabindex="-1" aria-hidden="true" style="display:none;mso-hide:all;font-size:0;line-height:0;max-height:0;max-width:0;overflow:hidden;opacity:0"></a>`
}
