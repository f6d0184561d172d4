-- The analytics rollups, redone (issue 13) so that they stay exact when a click is
-- re-classified later (issue 16): promotion then inserts, for the click, a cancel row (the
-- old row's exact values with sign = -1) and a new row (sign = +1). Every rollup here keeps
-- signed counts that a cancel row subtracts, and nothing that cannot be subtracted (no
-- uniq/quantile states, no min/max of a verdict): unique counts and medians are computed at
-- query time over per-recipient (and per-first-click) rows whose summed sign is > 0
-- (src/store/analytics-views.ts; README, Analytics API: which shape reads which table).
-- The views of 014 (uniqExact and quantile states, minIf of first clicks) cannot subtract:
-- they go, and so do the four of 006, which become plain views over `clicks` (same names
-- and columns, computed from the surviving rows).
ALTER TABLE clicks ADD COLUMN IF NOT EXISTS sign Int8 DEFAULT 1;

DROP VIEW IF EXISTS analytics_daily_mv;
DROP VIEW IF EXISTS analytics_hourly_mv;
DROP VIEW IF EXISTS analytics_recipients_mv;
DROP VIEW IF EXISTS analytics_recipient_links_mv;
DROP TABLE IF EXISTS analytics_daily;
DROP TABLE IF EXISTS analytics_hourly;
DROP TABLE IF EXISTS analytics_recipients;
DROP TABLE IF EXISTS analytics_recipient_links;
DROP VIEW IF EXISTS clicks_by_message_mv;
DROP VIEW IF EXISTS clicks_by_link_mv;
DROP VIEW IF EXISTS clicks_by_tag_day_mv;
DROP VIEW IF EXISTS clicks_by_day_mv;
DROP TABLE IF EXISTS clicks_by_message;
DROP TABLE IF EXISTS clicks_by_link;
DROP TABLE IF EXISTS clicks_by_tag_day;
DROP TABLE IF EXISTS clicks_by_day;

-- Per recipient and verdict (classification, counts_for_metrics, machine): its message's
-- tag, route and metadata, its first and last UTC day with a click (bounds: a cancel leaves
-- them wide, never narrow), its signed observations in all and per UTC day. Summaries and
-- breakdowns by project, route, tag, metadata.<key>, classification over whole UTC days.
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
    events             SimpleAggregateFunction(sum, Int64),
    day_events         SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(Int64)))
)
ENGINE = AggregatingMergeTree
ORDER BY (sid, message_id, classification, counts_for_metrics, machine)
TTL last_day + toIntervalDay(retention_days);

INSERT INTO analytics_recipients
SELECT sid, message_id, classification, counts_for_metrics, machine, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       max(retention_days) AS retention_days, min(toDate(ts)) AS first_day, max(toDate(ts)) AS last_day, sum(toInt64(sign)) AS events,
       sumMap([toUInt16(toDate(ts))], [toInt64(sign)]) AS day_events
FROM clicks
GROUP BY sid, message_id, classification, counts_for_metrics, machine;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_recipients_mv TO analytics_recipients AS
SELECT sid, message_id, classification, counts_for_metrics, machine, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       max(retention_days) AS retention_days, min(toDate(ts)) AS first_day, max(toDate(ts)) AS last_day, sum(toInt64(sign)) AS events,
       sumMap([toUInt16(toDate(ts))], [toInt64(sign)]) AS day_events
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
    events             SimpleAggregateFunction(sum, Int64),
    day_events         SimpleAggregateFunction(sumMap, Tuple(Array(UInt16), Array(Int64)))
)
ENGINE = AggregatingMergeTree
ORDER BY (sid, message_id, link_index, classification, counts_for_metrics, machine)
TTL last_day + toIntervalDay(retention_days);

INSERT INTO analytics_recipient_links
SELECT sid, message_id, link_index, classification, counts_for_metrics, machine, any(destination_url) AS destination_url, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       max(retention_days) AS retention_days, min(toDate(ts)) AS first_day, max(toDate(ts)) AS last_day, sum(toInt64(sign)) AS events,
       sumMap([toUInt16(toDate(ts))], [toInt64(sign)]) AS day_events
FROM clicks
GROUP BY sid, message_id, link_index, classification, counts_for_metrics, machine;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_recipient_links_mv TO analytics_recipient_links AS
SELECT sid, message_id, link_index, classification, counts_for_metrics, machine, any(destination_url) AS destination_url, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       max(retention_days) AS retention_days, min(toDate(ts)) AS first_day, max(toDate(ts)) AS last_day, sum(toInt64(sign)) AS events,
       sumMap([toUInt16(toDate(ts))], [toInt64(sign)]) AS day_events
FROM clicks
GROUP BY sid, message_id, link_index, classification, counts_for_metrics, machine;

-- Per UTC day and recipient: signed observations of each click class (a class is a column,
-- so one row answers every class): daily series by project, route, tag, metadata.<key>.
-- A recipient is unique on a day in a class when its count there is > 0.
CREATE TABLE IF NOT EXISTS analytics_recipient_days
(
    sid                LowCardinality(String),
    day                Date,
    message_id         UUID,
    tag                SimpleAggregateFunction(any, String),
    route_id           SimpleAggregateFunction(any, UUID),
    metadata           SimpleAggregateFunction(any, Map(String, String)),
    retention_days     SimpleAggregateFunction(max, UInt16),
    ev_all             SimpleAggregateFunction(sum, Int64),
    ev_human           SimpleAggregateFunction(sum, Int64),
    ev_machine         SimpleAggregateFunction(sum, Int64),
    ev_privacy         SimpleAggregateFunction(sum, Int64),
    ev_bot             SimpleAggregateFunction(sum, Int64),
    ev_scanner         SimpleAggregateFunction(sum, Int64),
    ev_preview         SimpleAggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (sid, day, message_id)
TTL day + toIntervalDay(retention_days);

INSERT INTO analytics_recipient_days
SELECT sid, toDate(ts) AS day, message_id, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata, max(retention_days) AS retention_days,
       sum(toInt64(sign)) AS ev_all,
       sumIf(toInt64(sign), counts_for_metrics) AS ev_human,
       sumIf(toInt64(sign), machine) AS ev_machine,
       sumIf(toInt64(sign), classification = 'privacy_proxy') AS ev_privacy,
       sumIf(toInt64(sign), classification = 'generic_bot') AS ev_bot,
       sumIf(toInt64(sign), classification = 'security_scanner') AS ev_scanner,
       sumIf(toInt64(sign), classification = 'link_preview') AS ev_preview
FROM clicks
GROUP BY sid, day, message_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_recipient_days_mv TO analytics_recipient_days AS
SELECT sid, toDate(ts) AS day, message_id, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata, max(retention_days) AS retention_days,
       sum(toInt64(sign)) AS ev_all,
       sumIf(toInt64(sign), counts_for_metrics) AS ev_human,
       sumIf(toInt64(sign), machine) AS ev_machine,
       sumIf(toInt64(sign), classification = 'privacy_proxy') AS ev_privacy,
       sumIf(toInt64(sign), classification = 'generic_bot') AS ev_bot,
       sumIf(toInt64(sign), classification = 'security_scanner') AS ev_scanner,
       sumIf(toInt64(sign), classification = 'link_preview') AS ev_preview
FROM clicks
GROUP BY sid, day, message_id;

-- The first clicks (first_click rows only, at most one surviving per message): the click
-- and its delay from sending, a signed count (a first click moved to another click is a
-- cancel row here and a new row for the other click). median_time_to_first_click reads the
-- rows whose count is > 0, bucketed by their own ts (any zone).
CREATE TABLE IF NOT EXISTS analytics_first_clicks
(
    sid                LowCardinality(String),
    message_id         UUID,
    obs_id             UUID,
    ts                 DateTime64(3, 'UTC'),
    classification     LowCardinality(String),
    counts_for_metrics Bool,
    machine            Bool,
    link_index         SimpleAggregateFunction(any, UInt16),
    destination_url    SimpleAggregateFunction(any, String),
    tag                SimpleAggregateFunction(any, String),
    route_id           SimpleAggregateFunction(any, UUID),
    metadata           SimpleAggregateFunction(any, Map(String, String)),
    delay              SimpleAggregateFunction(any, Float64),
    retention_days     SimpleAggregateFunction(max, UInt16),
    n                  SimpleAggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree
ORDER BY (sid, message_id, obs_id, ts, classification, counts_for_metrics, machine)
TTL toDateTime(ts) + toIntervalDay(retention_days);

INSERT INTO analytics_first_clicks
SELECT sid, message_id, obs_id, ts, classification, counts_for_metrics, machine, any(link_index) AS link_index, any(destination_url) AS destination_url,
       any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       any((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000) AS delay, max(retention_days) AS retention_days, sum(toInt64(sign)) AS n
FROM clicks
WHERE first_click
GROUP BY sid, message_id, obs_id, ts, classification, counts_for_metrics, machine;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_first_clicks_mv TO analytics_first_clicks AS
SELECT sid, message_id, obs_id, ts, classification, counts_for_metrics, machine, any(link_index) AS link_index, any(destination_url) AS destination_url,
       any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata,
       any((toUnixTimestamp64Milli(ts) - toInt64(toUnixTimestamp(sent_at)) * 1000) / 1000) AS delay, max(retention_days) AS retention_days, sum(toInt64(sign)) AS n
FROM clicks
WHERE first_click
GROUP BY sid, message_id, obs_id, ts, classification, counts_for_metrics, machine;

-- The analyst tables of 006 as plain views over the surviving clicks (same names and
-- columns; sql/queries/ read them): each observation's rows summed by sign first (a cancel
-- row and the row it cancels share every column), so a re-classified click counts once,
-- under its latest verdict. Filters on the grouping columns reach `clicks` (predicate push-down).
CREATE VIEW IF NOT EXISTS clicks_by_message AS
SELECT sid, message_id, tag,
       toUInt64(sum(n)) AS clicks,
       toUInt64(sumIf(n, counts_for_metrics)) AS human_clicks,
       toUInt64(sumIf(n, machine)) AS machine_clicks,
       minIf(ts, counts_for_metrics AND n > 0) AS first_human_click,
       maxIf(ts, n > 0) AS last_click
FROM (SELECT sid, message_id, tag, obs_id, ts, counts_for_metrics, machine, sum(sign) AS n
      FROM clicks GROUP BY sid, message_id, tag, obs_id, ts, counts_for_metrics, machine)
GROUP BY sid, message_id, tag;

CREATE VIEW IF NOT EXISTS clicks_by_link AS
SELECT sid, message_id, link_index, any(destination_url) AS destination_url,
       toUInt64(sum(n)) AS clicks,
       toUInt64(sumIf(n, counts_for_metrics)) AS human_clicks,
       toUInt64(sumIf(n, machine)) AS machine_clicks
FROM (SELECT sid, message_id, link_index, destination_url, counts_for_metrics, machine, sum(sign) AS n
      FROM clicks GROUP BY sid, message_id, link_index, destination_url, counts_for_metrics, machine)
GROUP BY sid, message_id, link_index;

CREATE VIEW IF NOT EXISTS clicks_by_tag_day AS
SELECT sid, tag, day,
       toUInt64(sum(n)) AS clicks,
       toUInt64(sum(h)) AS human_clicks,
       uniqStateIf(recipient, h > 0) AS unique_clickers,
       uniqStateIf(message_id, h > 0) AS unique_messages
FROM (SELECT sid, tag, toDate(ts) AS day, message_id, recipient, sum(sign) AS n, sumIf(sign, counts_for_metrics) AS h
      FROM clicks GROUP BY sid, tag, day, message_id, recipient)
GROUP BY sid, tag, day;

CREATE VIEW IF NOT EXISTS clicks_by_day AS
SELECT sid, day, classification, device_type, client_type, client_name,
       toUInt64(sum(n)) AS clicks,
       uniqStateIf(recipient, n > 0) AS unique_clickers
FROM (SELECT sid, toDate(ts) AS day, classification, device_type, client_type, client_name, message_id, recipient, sum(sign) AS n
      FROM clicks GROUP BY sid, day, classification, device_type, client_type, client_name, message_id, recipient)
GROUP BY sid, day, classification, device_type, client_type, client_name;
