import { createHash } from 'node:crypto'

/*
 * The pages a recipient sees on the redirect port (issue 14, "Recipient-facing pages"): the
 * 404 of a link that is not valid and the warning page of a blocked link. Fixed text, built
 * once at module load: nothing from the request (path, host, token, destination) is echoed.
 * Readable on a phone (viewport), in the reader's light or dark scheme, with the language
 * declared; calm and neutral, since the sender's brand is not known here.
 */

/** The one stylesheet of both pages; the CSP allows exactly it (by hash), nothing else. */
const STYLE = [
  ':root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--text:#1d2329;--muted:#4f5962;--line:#d5dae0;--mark:#5b6670}',
  '@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1a1f25;--text:#e7eaee;--muted:#b0b8c1;--line:#323a43;--mark:#a9b2bc}}',
  '*{box-sizing:border-box}',
  'html{-webkit-text-size-adjust:100%;text-size-adjust:100%}',
  'body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;padding:1.5rem;background:var(--bg);color:var(--text);',
  'font:1.0625rem/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans","Liberation Sans",sans-serif}',
  'main{max-width:32rem;width:100%;background:var(--card);border:1px solid var(--line);border-radius:12px;padding:1.75rem 1.5rem}',
  '.mark{width:2.5rem;height:2.5rem;border-radius:50%;border:2px solid var(--mark);color:var(--mark);display:flex;align-items:center;justify-content:center;font-weight:700;font-size:1.25rem;margin-bottom:1rem}',
  'h1{font-size:1.375rem;line-height:1.3;margin:0 0 .75rem}',
  'p{margin:.5rem 0 0}',
  '.muted{color:var(--muted)}'
].join('')

function page (title: string, mark: string, paragraphs: string[], quietAfterFirst: boolean): Buffer {
  return Buffer.from('<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<meta name="robots" content="noindex, nofollow"><meta name="referrer" content="no-referrer">' +
    `<title>${title}</title><style>${STYLE}</style></head>` +
    `<body><main><div class="mark" aria-hidden="true">${mark}</div><h1>${title}</h1>` +
    paragraphs.map((p, i) => `<p${i > 0 && quietAfterFirst ? ' class="muted"' : ''}>${p}</p>`).join('') +
    '</main></body></html>')
}

export const NOT_FOUND_BODY = page('Link not found', '?', [
  'This link is not valid. Please check the address in your email.',
  'If you copied the link, make sure that all of it was copied.'
], true)

export const BLOCKED_BODY = page('This link has been disabled', '!', [
  'The link in your email was turned off because it may lead to a harmful site.',
  // The advice is what keeps the reader safe: not in the quieter colour.
  'Do not enter passwords or personal details on a page you reached from it. If you expected this link to work, contact the sender another way.'
], false)

/**
 * No script, no request of any kind, no form, not framed; the inline stylesheet by its hash
 * (CSP Level 2 hash-source), so nothing injected could be styled or run.
 */
export const PAGE_CSP = `default-src 'none'; style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`
