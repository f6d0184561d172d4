// The click rows bench/export.mjs seeds straight into `clicks` (one INSERT … SELECT FROM
// numbers(), no ingest), and what the export must say of row n: every field is a function of
// n, so the client checks any row it parses. Three clicks share each timestamp (the export's
// order falls back to obs_id), four clicks make a message, every tenth is a scanner.
const DAY = 86_400_000
const UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1'

/** The time layout of `rows` clicks over the `days` days before `now`. */
export function seedClock (rows, days, now) {
  const start = Math.floor(now / 1000) * 1000 - days * DAY
  const step = Math.max(1, Math.floor((days * DAY - 3_600_000) / Math.ceil(rows / 3)))
  return { start, step, end: start + Math.ceil(rows / 3) * step }
}

const hex12 = (n) => n.toString(16).padStart(12, '0')

export function exportSeedSql (sid, rows, days, now) {
  const { start, step } = seedClock(rows, days, now)
  return `INSERT INTO clicks (obs_id, ts, sid, message_id, link_index, sent_at, recipient, subject, tag, metadata, destination_url, anchor_text, first_click,
      device_type, client_type, client_name, user_agent, ip, method, bot_detected, bot_probability, classification, proxy_type, reason_codes, machine, counts_for_metrics)
    SELECT toUUID(concat('00000000-0000-4000-8000-', leftPad(lower(hex(number)), 12, '0'))),
      fromUnixTimestamp64Milli(toInt64(${start} + intDiv(number, 3) * ${step}), 'UTC'), '${sid}',
      toUUID(concat('00000000-0000-4000-9000-', leftPad(lower(hex(intDiv(number, 4))), 12, '0'))), number % 4,
      toDateTime(${Math.floor(start / 1000) - 3600}, 'UTC'), concat('user', toString(intDiv(number, 4) % 50000), '@example.com'),
      'Your weekly recommendations', 'weekly', map('X-Campaign-ID', concat('c', toString(number % 7))),
      concat('https://shop.example.com/product/', toString(number), '?utm_source=mail'), 'View Product', number % 4 = 0,
      if(number % 3 = 0, 'desktop', 'mobile'), 'browser', if(number % 3 = 0, 'Chrome', 'Safari'), '${UA}',
      concat('203.0.113.', toString(number % 250)), 'GET', number % 10 = 9, if(number % 10 = 9, 97, 0),
      if(number % 10 = 9, 'security_scanner', 'genuine'), NULL, if(number % 10 = 9, ['scanner_agent', 'no_fetch_metadata'], []),
      number % 10 = 9, number % 10 != 9
    FROM numbers(${rows})`
}

/** n of a parsed row (its destination URL holds it). */
export function seedNumber (row) {
  return Number(/product\/(\d+)\?/.exec(row.destination_url)?.[1] ?? NaN)
}

/** What the CSV export must hold for row n (event_id aside: a hash of the obs_id). */
export function seededRow (n, rows, days, now) {
  const { start, step } = seedClock(rows, days, now)
  const machine = n % 10 === 9
  return {
    obs_id: `00000000-0000-4000-8000-${hex12(n)}`,
    timestamp: new Date(start + Math.floor(n / 3) * step).toISOString(),
    message_id: `00000000-0000-4000-9000-${hex12(Math.floor(n / 4))}`,
    recipient: `user${Math.floor(n / 4) % 50000}@example.com`,
    subject: 'Your weekly recommendations',
    tag: 'weekly',
    metadata: JSON.stringify({ 'X-Campaign-ID': `c${n % 7}` }),
    link_index: String(n % 4),
    destination_url: `https://shop.example.com/product/${n}?utm_source=mail`,
    anchor_text: 'View Product',
    first_click: String(n % 4 === 0),
    device_type: n % 3 === 0 ? 'desktop' : 'mobile',
    client_type: 'browser',
    client_name: n % 3 === 0 ? 'Chrome' : 'Safari',
    user_agent: UA,
    ip: `203.0.113.${n % 250}`,
    method: 'GET',
    sent_at: new Date((Math.floor(start / 1000) - 3600) * 1000).toISOString(),
    bot_detected: String(machine),
    bot_probability: machine ? '97' : '0',
    classification: machine ? 'security_scanner' : 'genuine',
    proxy_type: '',
    reason_codes: machine ? 'scanner_agent no_fetch_metadata' : '',
    machine: String(machine),
    counts_for_metrics: String(!machine)
  }
}
