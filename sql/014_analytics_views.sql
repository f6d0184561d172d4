-- The analytics API's views (issue 13; README, Analytics API: which query answers from which;
-- src/store/analytics-views.ts chooses). All are exact: unique counts are uniqExact over the
-- recipient ((sid, message_id) folded into one UInt128 as src/store/analytics.ts RECIPIENT
-- does: each recipient has a message id of its own), medians quantileExactInclusive, so a
-- view gives the number the raw `clicks` give. A click class (human = counts_for_metrics,
-- machine, privacy proxy, security scanner, link preview, generic bot) is a column of the
-- series views and a key of the per-recipient ones.
-- Rows expire with the clicks (retention_days is the project's), to the day or hour where
-- `clicks` expires to the millisecond. Clicks already promoted are copied in before each view
-- starts taking new ones (migrations run at start-up: nothing else writes then).

-- UTC days: daily series (summary-shaped, and per breakdown row) by project, route, tag.
CREATE TABLE IF NOT EXISTS analytics_daily
(
    sid                LowCardinality(String),
    day                Date,
    tag                LowCardinality(String),
    route_id           UUID,
    retention_days     UInt16,
    events_all         SimpleAggregateFunction(sum, UInt64),
    events_human       SimpleAggregateFunction(sum, UInt64),
    events_machine     SimpleAggregateFunction(sum, UInt64),
    events_privacy     SimpleAggregateFunction(sum, UInt64),
    events_bot         SimpleAggregateFunction(sum, UInt64),
    events_scanner     SimpleAggregateFunction(sum, UInt64),
    events_preview     SimpleAggregateFunction(sum, UInt64),
    recipients_all     AggregateFunction(uniqExact, UInt128),
    recipients_human   AggregateFunction(uniqExact, UInt128),
    recipients_machine AggregateFunction(uniqExact, UInt128),
    recipients_privacy AggregateFunction(uniqExact, UInt128),
    recipients_bot     AggregateFunction(uniqExact, UInt128),
    recipients_scanner AggregateFunction(uniqExact, UInt128),
    recipients_preview AggregateFunction(uniqExact, UInt128),
    links              AggregateFunction(uniqExact, UInt128),
    first_clicks       SimpleAggregateFunction(sum, UInt64),
    first_delays       AggregateFunction(quantileExactInclusive(0.5), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (sid, day, tag, route_id, retention_days)
TTL day + toIntervalDay(retention_days);

INSERT INTO analytics_daily
SELECT sid, toDate(ts) AS day, tag, route_id, retention_days,
       count() AS events_all,
       countIf(counts_for_metrics) AS events_human,
       countIf(machine) AS events_machine,
       countIf(classification = 'privacy_proxy') AS events_privacy,
       countIf(classification = 'generic_bot') AS events_bot,
       countIf(classification = 'security_scanner') AS events_scanner,
       countIf(classification = 'link_preview') AS events_preview,
       uniqExactState(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid)))) AS recipients_all,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), counts_for_metrics) AS recipients_human,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), machine) AS recipients_machine,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'privacy_proxy') AS recipients_privacy,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'generic_bot') AS recipients_bot,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'security_scanner') AS recipients_scanner,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'link_preview') AS recipients_preview,
       uniqExactStateIf(bitXor(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), bitShiftLeft(toUInt128(link_index), 112)), counts_for_metrics) AS links,
       countIf(first_click) AS first_clicks,
       quantileExactInclusiveStateIf(0.5)((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000, first_click) AS first_delays
FROM clicks
GROUP BY sid, day, tag, route_id, retention_days;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_daily_mv TO analytics_daily AS
SELECT sid, toDate(ts) AS day, tag, route_id, retention_days,
       count() AS events_all,
       countIf(counts_for_metrics) AS events_human,
       countIf(machine) AS events_machine,
       countIf(classification = 'privacy_proxy') AS events_privacy,
       countIf(classification = 'generic_bot') AS events_bot,
       countIf(classification = 'security_scanner') AS events_scanner,
       countIf(classification = 'link_preview') AS events_preview,
       uniqExactState(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid)))) AS recipients_all,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), counts_for_metrics) AS recipients_human,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), machine) AS recipients_machine,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'privacy_proxy') AS recipients_privacy,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'generic_bot') AS recipients_bot,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'security_scanner') AS recipients_scanner,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'link_preview') AS recipients_preview,
       uniqExactStateIf(bitXor(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), bitShiftLeft(toUInt128(link_index), 112)), counts_for_metrics) AS links,
       countIf(first_click) AS first_clicks,
       quantileExactInclusiveStateIf(0.5)((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000, first_click) AS first_delays
FROM clicks
GROUP BY sid, day, tag, route_id, retention_days;

-- UTC hours: hourly series, hour-aligned ranges, and days of zones whose offset is whole hours.
CREATE TABLE IF NOT EXISTS analytics_hourly
(
    sid                LowCardinality(String),
    hour               DateTime('UTC'),
    tag                LowCardinality(String),
    route_id           UUID,
    retention_days     UInt16,
    events_all         SimpleAggregateFunction(sum, UInt64),
    events_human       SimpleAggregateFunction(sum, UInt64),
    events_machine     SimpleAggregateFunction(sum, UInt64),
    events_privacy     SimpleAggregateFunction(sum, UInt64),
    events_bot         SimpleAggregateFunction(sum, UInt64),
    events_scanner     SimpleAggregateFunction(sum, UInt64),
    events_preview     SimpleAggregateFunction(sum, UInt64),
    recipients_all     AggregateFunction(uniqExact, UInt128),
    recipients_human   AggregateFunction(uniqExact, UInt128),
    recipients_machine AggregateFunction(uniqExact, UInt128),
    recipients_privacy AggregateFunction(uniqExact, UInt128),
    recipients_bot     AggregateFunction(uniqExact, UInt128),
    recipients_scanner AggregateFunction(uniqExact, UInt128),
    recipients_preview AggregateFunction(uniqExact, UInt128),
    links              AggregateFunction(uniqExact, UInt128),
    first_clicks       SimpleAggregateFunction(sum, UInt64),
    first_delays       AggregateFunction(quantileExactInclusive(0.5), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (sid, hour, tag, route_id, retention_days)
TTL hour + toIntervalDay(retention_days);

INSERT INTO analytics_hourly
SELECT sid, toStartOfHour(toDateTime(ts, 'UTC')) AS hour, tag, route_id, retention_days,
       count() AS events_all,
       countIf(counts_for_metrics) AS events_human,
       countIf(machine) AS events_machine,
       countIf(classification = 'privacy_proxy') AS events_privacy,
       countIf(classification = 'generic_bot') AS events_bot,
       countIf(classification = 'security_scanner') AS events_scanner,
       countIf(classification = 'link_preview') AS events_preview,
       uniqExactState(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid)))) AS recipients_all,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), counts_for_metrics) AS recipients_human,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), machine) AS recipients_machine,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'privacy_proxy') AS recipients_privacy,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'generic_bot') AS recipients_bot,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'security_scanner') AS recipients_scanner,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'link_preview') AS recipients_preview,
       uniqExactStateIf(bitXor(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), bitShiftLeft(toUInt128(link_index), 112)), counts_for_metrics) AS links,
       countIf(first_click) AS first_clicks,
       quantileExactInclusiveStateIf(0.5)((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000, first_click) AS first_delays
FROM clicks
GROUP BY sid, hour, tag, route_id, retention_days;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_hourly_mv TO analytics_hourly AS
SELECT sid, toStartOfHour(toDateTime(ts, 'UTC')) AS hour, tag, route_id, retention_days,
       count() AS events_all,
       countIf(counts_for_metrics) AS events_human,
       countIf(machine) AS events_machine,
       countIf(classification = 'privacy_proxy') AS events_privacy,
       countIf(classification = 'generic_bot') AS events_bot,
       countIf(classification = 'security_scanner') AS events_scanner,
       countIf(classification = 'link_preview') AS events_preview,
       uniqExactState(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid)))) AS recipients_all,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), counts_for_metrics) AS recipients_human,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), machine) AS recipients_machine,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'privacy_proxy') AS recipients_privacy,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'generic_bot') AS recipients_bot,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'security_scanner') AS recipients_scanner,
       uniqExactStateIf(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), classification = 'link_preview') AS recipients_preview,
       uniqExactStateIf(bitXor(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), bitShiftLeft(toUInt128(link_index), 112)), counts_for_metrics) AS links,
       countIf(first_click) AS first_clicks,
       quantileExactInclusiveStateIf(0.5)((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000, first_click) AS first_delays
FROM clicks
GROUP BY sid, hour, tag, route_id, retention_days;

-- Per recipient and verdict: its message's tag, route and metadata, its first and last UTC day
-- with a click, its observations in all and per UTC day, its first click. Ranges of whole UTC
-- days without points read one row per recipient and verdict, however many clicks: summaries
-- and breakdowns by project, route, tag, metadata.<key>, classification. A row whose days all
-- fall inside (or outside) the range counts whole (or not at all) without its per-day list.
CREATE TABLE IF NOT EXISTS analytics_recipients
(
    sid                LowCardinality(String),
    message_id         UUID,
    classification     LowCardinality(String),
    counts_for_metrics Bool,
    machine            Bool,
    tag                SimpleAggregateFunction(any, String),
    route_id           SimpleAggregateFunction(any, UUID),
    metadata           SimpleAggregateFunction(any, Map(String, String)),
    retention_days     SimpleAggregateFunction(max, UInt16),
    first_day          SimpleAggregateFunction(min, Date),
    last_day           SimpleAggregateFunction(max, Date),
    events             SimpleAggregateFunction(sum, UInt64),
    day_events         SimpleAggregateFunction(sumMap, Tuple(Array(UInt32), Array(UInt64))),
    first_ts           SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    first_delay        SimpleAggregateFunction(min, Nullable(Float64))
)
ENGINE = AggregatingMergeTree
ORDER BY (sid, message_id, classification, counts_for_metrics, machine)
TTL last_day + toIntervalDay(retention_days);

INSERT INTO analytics_recipients
SELECT sid, message_id, classification, counts_for_metrics, machine, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       max(retention_days) AS retention_days, min(toDate(ts)) AS first_day, max(toDate(ts)) AS last_day, count() AS events,
       sumMap([toUInt32(toDate(ts))], [toUInt64(1)]) AS day_events,
       minIf(toNullable(ts), first_click) AS first_ts,
       minIf(toNullable((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000), first_click) AS first_delay
FROM clicks
GROUP BY sid, message_id, classification, counts_for_metrics, machine;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_recipients_mv TO analytics_recipients AS
SELECT sid, message_id, classification, counts_for_metrics, machine, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       max(retention_days) AS retention_days, min(toDate(ts)) AS first_day, max(toDate(ts)) AS last_day, count() AS events,
       sumMap([toUInt32(toDate(ts))], [toUInt64(1)]) AS day_events,
       minIf(toNullable(ts), first_click) AS first_ts,
       minIf(toNullable((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000), first_click) AS first_delay
FROM clicks
GROUP BY sid, message_id, classification, counts_for_metrics, machine;

-- The same per recipient, link and verdict: top links (link_index, destination_url), unique_links_clicked.
CREATE TABLE IF NOT EXISTS analytics_recipient_links
(
    sid                LowCardinality(String),
    message_id         UUID,
    link_index         UInt16,
    classification     LowCardinality(String),
    counts_for_metrics Bool,
    machine            Bool,
    destination_url    SimpleAggregateFunction(any, String),
    tag                SimpleAggregateFunction(any, String),
    route_id           SimpleAggregateFunction(any, UUID),
    metadata           SimpleAggregateFunction(any, Map(String, String)),
    retention_days     SimpleAggregateFunction(max, UInt16),
    first_day          SimpleAggregateFunction(min, Date),
    last_day           SimpleAggregateFunction(max, Date),
    events             SimpleAggregateFunction(sum, UInt64),
    day_events         SimpleAggregateFunction(sumMap, Tuple(Array(UInt32), Array(UInt64))),
    first_ts           SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    first_delay        SimpleAggregateFunction(min, Nullable(Float64))
)
ENGINE = AggregatingMergeTree
ORDER BY (sid, message_id, link_index, classification, counts_for_metrics, machine)
TTL last_day + toIntervalDay(retention_days);

INSERT INTO analytics_recipient_links
SELECT sid, message_id, link_index, classification, counts_for_metrics, machine, any(destination_url) AS destination_url, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       max(retention_days) AS retention_days, min(toDate(ts)) AS first_day, max(toDate(ts)) AS last_day, count() AS events,
       sumMap([toUInt32(toDate(ts))], [toUInt64(1)]) AS day_events,
       minIf(toNullable(ts), first_click) AS first_ts,
       minIf(toNullable((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000), first_click) AS first_delay
FROM clicks
GROUP BY sid, message_id, link_index, classification, counts_for_metrics, machine;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_recipient_links_mv TO analytics_recipient_links AS
SELECT sid, message_id, link_index, classification, counts_for_metrics, machine, any(destination_url) AS destination_url, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       max(retention_days) AS retention_days, min(toDate(ts)) AS first_day, max(toDate(ts)) AS last_day, count() AS events,
       sumMap([toUInt32(toDate(ts))], [toUInt64(1)]) AS day_events,
       minIf(toNullable(ts), first_click) AS first_ts,
       minIf(toNullable((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000), first_click) AS first_delay
FROM clicks
GROUP BY sid, message_id, link_index, classification, counts_for_metrics, machine;
