-- The analytics API's views (issue 13; README, Analytics API: which query uses which).
-- Each keeps, per group of what it is keyed by, the observations (events), the exact set
-- of recipients that clicked ((sid, message_id): each recipient has a message id of its own;
-- folded into one UInt128 as src/store/analytics.ts RECIPIENT does),
-- the exact set of (recipient, link) pairs clicked by humans, and the seconds from sending to
-- each first click, as uniqExact / quantileExactInclusive states: the API's unique counts
-- and medians are exact, and the same from a view as from raw `clicks`.
-- classification, counts_for_metrics and machine are in every key: each click class
-- (human, machine, privacy proxy, scanner, preview, bot) is a set of those rows.
-- Rows expire with the clicks (retention_days is the project's, so it splits no group), to
-- the day (or hour) where `clicks` expires to the millisecond. Clicks already promoted are
-- copied in before each view starts taking new ones (start-up: nothing else writes then).

-- UTC days: summaries, daily series and breakdowns by project, route, tag, classification.
CREATE TABLE IF NOT EXISTS analytics_daily
(
    sid                LowCardinality(String),
    day                Date,
    tag                LowCardinality(String),
    route_id           UUID,
    classification     LowCardinality(String),
    counts_for_metrics Bool,
    machine            Bool,
    retention_days     UInt16,
    events             SimpleAggregateFunction(sum, UInt64),
    first_clicks       SimpleAggregateFunction(sum, UInt64),
    recipients         AggregateFunction(uniqExact, UInt128),
    links              AggregateFunction(uniqExact, UInt128),
    first_delays       AggregateFunction(quantileExactInclusive(0.5), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (sid, day, tag, route_id, classification, counts_for_metrics, machine, retention_days)
TTL day + toIntervalDay(retention_days);

INSERT INTO analytics_daily
SELECT sid, toDate(ts) AS day, tag, route_id, classification, counts_for_metrics, machine, retention_days,
       count() AS events,
       countIf(first_click) AS first_clicks,
       uniqExactState(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid)))) AS recipients,
       uniqExactStateIf(bitXor(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), bitShiftLeft(toUInt128(link_index), 112)), counts_for_metrics) AS links,
       quantileExactInclusiveStateIf(0.5)((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000, first_click) AS first_delays
FROM clicks
GROUP BY sid, day, tag, route_id, classification, counts_for_metrics, machine, retention_days;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_daily_mv TO analytics_daily AS
SELECT sid, toDate(ts) AS day, tag, route_id, classification, counts_for_metrics, machine, retention_days,
       count() AS events,
       countIf(first_click) AS first_clicks,
       uniqExactState(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid)))) AS recipients,
       uniqExactStateIf(bitXor(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), bitShiftLeft(toUInt128(link_index), 112)), counts_for_metrics) AS links,
       quantileExactInclusiveStateIf(0.5)((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000, first_click) AS first_delays
FROM clicks
GROUP BY sid, day, tag, route_id, classification, counts_for_metrics, machine, retention_days;

-- UTC hours: hourly series, hour-aligned ranges, and days of zones whose offset is whole hours.
CREATE TABLE IF NOT EXISTS analytics_hourly
(
    sid                LowCardinality(String),
    hour               DateTime('UTC'),
    tag                LowCardinality(String),
    route_id           UUID,
    classification     LowCardinality(String),
    counts_for_metrics Bool,
    machine            Bool,
    retention_days     UInt16,
    events             SimpleAggregateFunction(sum, UInt64),
    first_clicks       SimpleAggregateFunction(sum, UInt64),
    recipients         AggregateFunction(uniqExact, UInt128),
    links              AggregateFunction(uniqExact, UInt128),
    first_delays       AggregateFunction(quantileExactInclusive(0.5), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (sid, hour, tag, route_id, classification, counts_for_metrics, machine, retention_days)
TTL hour + toIntervalDay(retention_days);

INSERT INTO analytics_hourly
SELECT sid, toStartOfHour(toDateTime(ts, 'UTC')) AS hour, tag, route_id, classification, counts_for_metrics, machine, retention_days,
       count() AS events,
       countIf(first_click) AS first_clicks,
       uniqExactState(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid)))) AS recipients,
       uniqExactStateIf(bitXor(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), bitShiftLeft(toUInt128(link_index), 112)), counts_for_metrics) AS links,
       quantileExactInclusiveStateIf(0.5)((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000, first_click) AS first_delays
FROM clicks
GROUP BY sid, hour, tag, route_id, classification, counts_for_metrics, machine, retention_days;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_hourly_mv TO analytics_hourly AS
SELECT sid, toStartOfHour(toDateTime(ts, 'UTC')) AS hour, tag, route_id, classification, counts_for_metrics, machine, retention_days,
       count() AS events,
       countIf(first_click) AS first_clicks,
       uniqExactState(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid)))) AS recipients,
       uniqExactStateIf(bitXor(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), bitShiftLeft(toUInt128(link_index), 112)), counts_for_metrics) AS links,
       quantileExactInclusiveStateIf(0.5)((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000, first_click) AS first_delays
FROM clicks
GROUP BY sid, hour, tag, route_id, classification, counts_for_metrics, machine, retention_days;

-- UTC days by link: top links (link_index, destination_url).
CREATE TABLE IF NOT EXISTS analytics_links_daily
(
    sid                LowCardinality(String),
    day                Date,
    tag                LowCardinality(String),
    route_id           UUID,
    link_index         UInt16,
    destination_url    String,
    classification     LowCardinality(String),
    counts_for_metrics Bool,
    machine            Bool,
    retention_days     UInt16,
    events             SimpleAggregateFunction(sum, UInt64),
    first_clicks       SimpleAggregateFunction(sum, UInt64),
    recipients         AggregateFunction(uniqExact, UInt128),
    links              AggregateFunction(uniqExact, UInt128),
    first_delays       AggregateFunction(quantileExactInclusive(0.5), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (sid, day, tag, route_id, link_index, destination_url, classification, counts_for_metrics, machine, retention_days)
TTL day + toIntervalDay(retention_days);

INSERT INTO analytics_links_daily
SELECT sid, toDate(ts) AS day, tag, route_id, link_index, destination_url, classification, counts_for_metrics, machine, retention_days,
       count() AS events,
       countIf(first_click) AS first_clicks,
       uniqExactState(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid)))) AS recipients,
       uniqExactStateIf(bitXor(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), bitShiftLeft(toUInt128(link_index), 112)), counts_for_metrics) AS links,
       quantileExactInclusiveStateIf(0.5)((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000, first_click) AS first_delays
FROM clicks
GROUP BY sid, day, tag, route_id, link_index, destination_url, classification, counts_for_metrics, machine, retention_days;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_links_daily_mv TO analytics_links_daily AS
SELECT sid, toDate(ts) AS day, tag, route_id, link_index, destination_url, classification, counts_for_metrics, machine, retention_days,
       count() AS events,
       countIf(first_click) AS first_clicks,
       uniqExactState(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid)))) AS recipients,
       uniqExactStateIf(bitXor(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), bitShiftLeft(toUInt128(link_index), 112)), counts_for_metrics) AS links,
       quantileExactInclusiveStateIf(0.5)((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000, first_click) AS first_delays
FROM clicks
GROUP BY sid, day, tag, route_id, link_index, destination_url, classification, counts_for_metrics, machine, retention_days;

-- UTC days by metadata key and value (one row per key a click's message has): breakdowns by
-- metadata.<key>. Messages without the key are the API's null group: the daily total less the
-- groups (each recipient's message has one metadata, so the groups partition the recipients).
CREATE TABLE IF NOT EXISTS analytics_metadata_daily
(
    sid                LowCardinality(String),
    day                Date,
    tag                LowCardinality(String),
    route_id           UUID,
    meta_key           LowCardinality(String),
    meta_value         String,
    classification     LowCardinality(String),
    counts_for_metrics Bool,
    machine            Bool,
    retention_days     UInt16,
    events             SimpleAggregateFunction(sum, UInt64),
    first_clicks       SimpleAggregateFunction(sum, UInt64),
    recipients         AggregateFunction(uniqExact, UInt128),
    links              AggregateFunction(uniqExact, UInt128),
    first_delays       AggregateFunction(quantileExactInclusive(0.5), Float64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (sid, day, tag, route_id, meta_key, meta_value, classification, counts_for_metrics, machine, retention_days)
TTL day + toIntervalDay(retention_days);

INSERT INTO analytics_metadata_daily
SELECT sid, toDate(ts) AS day, tag, route_id, meta_key, meta_value, classification, counts_for_metrics, machine, retention_days,
       count() AS events,
       countIf(first_click) AS first_clicks,
       uniqExactState(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid)))) AS recipients,
       uniqExactStateIf(bitXor(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), bitShiftLeft(toUInt128(link_index), 112)), counts_for_metrics) AS links,
       quantileExactInclusiveStateIf(0.5)((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000, first_click) AS first_delays
FROM clicks
ARRAY JOIN mapKeys(metadata) AS meta_key, mapValues(metadata) AS meta_value
GROUP BY sid, day, tag, route_id, meta_key, meta_value, classification, counts_for_metrics, machine, retention_days;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_metadata_daily_mv TO analytics_metadata_daily AS
SELECT sid, toDate(ts) AS day, tag, route_id, meta_key, meta_value, classification, counts_for_metrics, machine, retention_days,
       count() AS events,
       countIf(first_click) AS first_clicks,
       uniqExactState(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid)))) AS recipients,
       uniqExactStateIf(bitXor(bitXor(reinterpretAsUInt128(message_id), toUInt128(cityHash64(sid))), bitShiftLeft(toUInt128(link_index), 112)), counts_for_metrics) AS links,
       quantileExactInclusiveStateIf(0.5)((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000, first_click) AS first_delays
FROM clicks
ARRAY JOIN mapKeys(metadata) AS meta_key, mapValues(metadata) AS meta_value
GROUP BY sid, day, tag, route_id, meta_key, meta_value, classification, counts_for_metrics, machine, retention_days;
