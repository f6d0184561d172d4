-- Per UTC hour and recipient: signed observations of each click class, as
-- analytics_recipient_days (sql/030) is per UTC day (issue 13, the hour points that read raw
-- `clicks`): hour points in any zone whose offsets are whole hours, and local-day points in
-- such a zone (a local day is a run of UTC hours), over ranges of whole UTC hours, by
-- project, route, tag, metadata.<key>. A recipient is unique in an hour and class when its
-- count there is > 0 (its verdicts summed: each verdict's sum is >= 0), in a local day when
-- one of its hours' is.
CREATE TABLE IF NOT EXISTS analytics_recipient_hours
(
    sid                LowCardinality(String),
    hour               DateTime('UTC'),
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
PARTITION BY toYYYYMM(hour)
ORDER BY (sid, hour, message_id)
TTL hour + toIntervalDay(retention_days);

INSERT INTO analytics_recipient_hours
SELECT sid, toStartOfHour(toDateTime(ts, 'UTC')) AS hour, message_id, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata, max(retention_days) AS retention_days,
       sum(toInt64(sign)) AS ev_all,
       sumIf(toInt64(sign), counts_for_metrics) AS ev_human,
       sumIf(toInt64(sign), machine) AS ev_machine,
       sumIf(toInt64(sign), classification = 'privacy_proxy') AS ev_privacy,
       sumIf(toInt64(sign), classification = 'generic_bot') AS ev_bot,
       sumIf(toInt64(sign), classification = 'security_scanner') AS ev_scanner,
       sumIf(toInt64(sign), classification = 'link_preview') AS ev_preview
FROM clicks
GROUP BY sid, hour, message_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_recipient_hours_mv TO analytics_recipient_hours AS
SELECT sid, toStartOfHour(toDateTime(ts, 'UTC')) AS hour, message_id, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata, max(retention_days) AS retention_days,
       sum(toInt64(sign)) AS ev_all,
       sumIf(toInt64(sign), counts_for_metrics) AS ev_human,
       sumIf(toInt64(sign), machine) AS ev_machine,
       sumIf(toInt64(sign), classification = 'privacy_proxy') AS ev_privacy,
       sumIf(toInt64(sign), classification = 'generic_bot') AS ev_bot,
       sumIf(toInt64(sign), classification = 'security_scanner') AS ev_scanner,
       sumIf(toInt64(sign), classification = 'link_preview') AS ev_preview
FROM clicks
GROUP BY sid, hour, message_id;
