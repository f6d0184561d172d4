-- Per recipient and link (no verdict): top links and link breakdowns by project, route,
-- tag, metadata.<key>, link_index, destination_url, and unique_links_clicked (issue 13).
-- One row per recipient and link after FINAL, so a recipient is unique in a group of links
-- by a count of rows, not a uniqExact over analytics_recipient_links' rows per verdict
-- (233,358 rows of 1M clicks there, 50,000 here). Signed counts only, as in 030 (issue 16):
-- ev_<class> is the recipient's signed observations of the class on the link (its
-- verdicts summed: each verdict's sum is >= 0, so the class's sum is > 0 exactly when one
-- of its verdicts' is), and day_events the same per UTC day and verdict, keyed
-- day * 32 + verdict code, the code being 4 * class (0 genuine, 1 privacy_proxy,
-- 2 generic_bot, 3 security_scanner, 4 link_preview) + 2 * counts_for_metrics + machine:
-- one key per click (a key per class it is in cost the clicks insert 25 % more), read
-- only for the rows that straddle a range bound.
CREATE TABLE IF NOT EXISTS analytics_link_totals
(
    sid                LowCardinality(String),
    message_id         UUID,
    link_index         UInt16,
    destination_url    SimpleAggregateFunction(any, String),
    tag                SimpleAggregateFunction(any, String),
    route_id           SimpleAggregateFunction(any, UUID),
    metadata           SimpleAggregateFunction(any, Map(String, String)),
    retention_days     SimpleAggregateFunction(max, UInt16),
    first_day          SimpleAggregateFunction(min, Date),
    last_day           SimpleAggregateFunction(max, Date),
    ev_all             SimpleAggregateFunction(sum, Int64),
    ev_human           SimpleAggregateFunction(sum, Int64),
    ev_machine         SimpleAggregateFunction(sum, Int64),
    ev_privacy         SimpleAggregateFunction(sum, Int64),
    ev_bot             SimpleAggregateFunction(sum, Int64),
    ev_scanner         SimpleAggregateFunction(sum, Int64),
    ev_preview         SimpleAggregateFunction(sum, Int64),
    day_events         SimpleAggregateFunction(sumMap, Tuple(Array(UInt32), Array(Int64)))
)
ENGINE = AggregatingMergeTree
ORDER BY (sid, message_id, link_index)
TTL last_day + toIntervalDay(retention_days);

INSERT INTO analytics_link_totals
SELECT sid, message_id, link_index, any(destination_url) AS destination_url, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata, max(retention_days) AS retention_days,
       min(toDate(ts)) AS first_day, max(toDate(ts)) AS last_day,
       sum(toInt64(sign)) AS ev_all,
       sumIf(toInt64(sign), counts_for_metrics) AS ev_human,
       sumIf(toInt64(sign), machine) AS ev_machine,
       sumIf(toInt64(sign), classification = 'privacy_proxy') AS ev_privacy,
       sumIf(toInt64(sign), classification = 'generic_bot') AS ev_bot,
       sumIf(toInt64(sign), classification = 'security_scanner') AS ev_scanner,
       sumIf(toInt64(sign), classification = 'link_preview') AS ev_preview,
       sumMap([toUInt32(toUInt16(toDate(ts)) * 32 + multiIf(classification = 'privacy_proxy', 4, classification = 'generic_bot', 8, classification = 'security_scanner', 12, classification = 'link_preview', 16, 0)
                 + if(counts_for_metrics, 2, 0) + if(machine, 1, 0))], [toInt64(sign)]) AS day_events
FROM clicks
GROUP BY sid, message_id, link_index;

CREATE MATERIALIZED VIEW IF NOT EXISTS analytics_link_totals_mv TO analytics_link_totals AS
SELECT sid, message_id, link_index, any(destination_url) AS destination_url, any(CAST(tag AS String)) AS tag, any(route_id) AS route_id, any(metadata) AS metadata, max(retention_days) AS retention_days,
       min(toDate(ts)) AS first_day, max(toDate(ts)) AS last_day,
       sum(toInt64(sign)) AS ev_all,
       sumIf(toInt64(sign), counts_for_metrics) AS ev_human,
       sumIf(toInt64(sign), machine) AS ev_machine,
       sumIf(toInt64(sign), classification = 'privacy_proxy') AS ev_privacy,
       sumIf(toInt64(sign), classification = 'generic_bot') AS ev_bot,
       sumIf(toInt64(sign), classification = 'security_scanner') AS ev_scanner,
       sumIf(toInt64(sign), classification = 'link_preview') AS ev_preview,
       sumMap([toUInt32(toUInt16(toDate(ts)) * 32 + multiIf(classification = 'privacy_proxy', 4, classification = 'generic_bot', 8, classification = 'security_scanner', 12, classification = 'link_preview', 16, 0)
                 + if(counts_for_metrics, 2, 0) + if(machine, 1, 0))], [toInt64(sign)]) AS day_events
FROM clicks
GROUP BY sid, message_id, link_index;
