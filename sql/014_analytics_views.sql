-- The analytics API's views (issue 13; README, Analytics API: which query uses which).
-- The first two keep, per group of what they are keyed by, the observations (events), the exact set
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

-- UTC days: daily series (and their breakdowns) by project, route, tag, classification.
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

-- Per recipient (each recipient's message) and verdict: the UTC days it clicked (a bitmap),
-- its observations per day, its first click, and its message's tag, route and metadata.
-- Ranges of whole UTC days without points read one row per recipient and verdict, however
-- many clicks and days: summaries and breakdowns by project, route, tag, metadata.<key>,
-- classification. A recipient counts in a range when its bitmap has a day in it.
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
    last_day           SimpleAggregateFunction(max, Date),
    days               AggregateFunction(groupBitmap, UInt32),
    day_events         SimpleAggregateFunction(sumMap, Tuple(Array(UInt32), Array(UInt64))),
    first_ts           SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    first_delay        SimpleAggregateFunction(min, Nullable(Float64))
)
ENGINE = AggregatingMergeTree
ORDER BY (sid, message_id, classification, counts_for_metrics, machine)
TTL last_day + toIntervalDay(retention_days);

INSERT INTO analytics_recipients
SELECT sid, message_id, classification, counts_for_metrics, machine, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       max(retention_days) AS retention_days, max(toDate(ts)) AS last_day,
       groupBitmapState(toUInt32(toDate(ts))) AS days,
       sumMap([toUInt32(toDate(ts))], [toUInt64(1)]) AS day_events,
       minIf(toNullable(ts), first_click) AS first_ts,
       minIf(toNullable((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000), first_click) AS first_delay
FROM clicks
GROUP BY sid, message_id, classification, counts_for_metrics, machine;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_recipients_mv TO analytics_recipients AS
SELECT sid, message_id, classification, counts_for_metrics, machine, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       max(retention_days) AS retention_days, max(toDate(ts)) AS last_day,
       groupBitmapState(toUInt32(toDate(ts))) AS days,
       sumMap([toUInt32(toDate(ts))], [toUInt64(1)]) AS day_events,
       minIf(toNullable(ts), first_click) AS first_ts,
       minIf(toNullable((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000), first_click) AS first_delay
FROM clicks
GROUP BY sid, message_id, classification, counts_for_metrics, machine;

-- The same per recipient and link: top links (link_index, destination_url), unique_links_clicked.
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
    last_day           SimpleAggregateFunction(max, Date),
    days               AggregateFunction(groupBitmap, UInt32),
    day_events         SimpleAggregateFunction(sumMap, Tuple(Array(UInt32), Array(UInt64))),
    first_ts           SimpleAggregateFunction(min, Nullable(DateTime64(3, 'UTC'))),
    first_delay        SimpleAggregateFunction(min, Nullable(Float64))
)
ENGINE = AggregatingMergeTree
ORDER BY (sid, message_id, link_index, classification, counts_for_metrics, machine)
TTL last_day + toIntervalDay(retention_days);

INSERT INTO analytics_recipient_links
SELECT sid, message_id, link_index, classification, counts_for_metrics, machine, any(destination_url) AS destination_url, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       max(retention_days) AS retention_days, max(toDate(ts)) AS last_day,
       groupBitmapState(toUInt32(toDate(ts))) AS days,
       sumMap([toUInt32(toDate(ts))], [toUInt64(1)]) AS day_events,
       minIf(toNullable(ts), first_click) AS first_ts,
       minIf(toNullable((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000), first_click) AS first_delay
FROM clicks
GROUP BY sid, message_id, link_index, classification, counts_for_metrics, machine;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_recipient_links_mv TO analytics_recipient_links AS
SELECT sid, message_id, link_index, classification, counts_for_metrics, machine, any(destination_url) AS destination_url, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       max(retention_days) AS retention_days, max(toDate(ts)) AS last_day,
       groupBitmapState(toUInt32(toDate(ts))) AS days,
       sumMap([toUInt32(toDate(ts))], [toUInt64(1)]) AS day_events,
       minIf(toNullable(ts), first_click) AS first_ts,
       minIf(toNullable((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000), first_click) AS first_delay
FROM clicks
GROUP BY sid, message_id, link_index, classification, counts_for_metrics, machine;
