-- Promoted clicks: one row per observation after its final verdict (human or machine),
-- enriched with the message (recipient, subject, tag, metadata) and the link (destination,
-- anchor text). Machine clicks stay queryable here; default metrics use counts_for_metrics.
-- Expired-token observations are never promoted.
CREATE TABLE IF NOT EXISTS clicks
(
    obs_id             UUID,
    ts                 DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    sid                LowCardinality(String),
    message_id         UUID,
    link_index         UInt16,
    sent_at            DateTime('UTC'),
    recipient          String,
    subject            String,
    tag                LowCardinality(String),
    metadata           Map(String, String),
    destination_url    String CODEC(ZSTD(1)),
    anchor_text        String,
    first_click        Bool,
    device_type        LowCardinality(String),
    client_type        LowCardinality(String),
    client_name        LowCardinality(String),
    user_agent         String CODEC(ZSTD(1)),
    ip                 String,
    method             LowCardinality(String),
    bot_detected       Bool,
    bot_probability    UInt8,
    classification     LowCardinality(String),
    proxy_type         LowCardinality(Nullable(String)),
    reason_codes       Array(LowCardinality(String)),
    machine            Bool,
    counts_for_metrics Bool,
    retention_days     UInt16 DEFAULT 400,
    promoted_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (sid, message_id, ts)
TTL toDateTime(ts) + toIntervalDay(retention_days)
SETTINGS non_replicated_deduplication_window = 10000;

-- Per message: totals, humans, machines, unique human clickers, first human click.
CREATE TABLE IF NOT EXISTS clicks_by_message
(
    sid             LowCardinality(String),
    message_id      UUID,
    tag             LowCardinality(String),
    clicks          SimpleAggregateFunction(sum, UInt64),
    human_clicks    SimpleAggregateFunction(sum, UInt64),
    machine_clicks  SimpleAggregateFunction(sum, UInt64),
    first_human_click SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_click      SimpleAggregateFunction(max, DateTime64(3, 'UTC'))
)
ENGINE = AggregatingMergeTree
ORDER BY (sid, message_id, tag);

CREATE MATERIALIZED VIEW IF NOT EXISTS clicks_by_message_mv TO clicks_by_message AS
SELECT sid, message_id, tag,
       count() AS clicks,
       countIf(counts_for_metrics) AS human_clicks,
       countIf(machine) AS machine_clicks,
       minIf(ts, counts_for_metrics) AS first_human_click,
       max(ts) AS last_click
FROM clicks GROUP BY sid, message_id, tag;

-- Per link of a message.
CREATE TABLE IF NOT EXISTS clicks_by_link
(
    sid             LowCardinality(String),
    message_id      UUID,
    link_index      UInt16,
    destination_url SimpleAggregateFunction(any, String),
    clicks          SimpleAggregateFunction(sum, UInt64),
    human_clicks    SimpleAggregateFunction(sum, UInt64),
    machine_clicks  SimpleAggregateFunction(sum, UInt64)
)
ENGINE = AggregatingMergeTree
ORDER BY (sid, message_id, link_index);

CREATE MATERIALIZED VIEW IF NOT EXISTS clicks_by_link_mv TO clicks_by_link AS
SELECT sid, message_id, link_index, any(destination_url) AS destination_url,
       count() AS clicks, countIf(counts_for_metrics) AS human_clicks, countIf(machine) AS machine_clicks
FROM clicks GROUP BY sid, message_id, link_index;

-- Per tag and day: clicks and unique human clickers (recipients), as aggregate states.
CREATE TABLE IF NOT EXISTS clicks_by_tag_day
(
    sid             LowCardinality(String),
    tag             LowCardinality(String),
    day             Date,
    clicks          SimpleAggregateFunction(sum, UInt64),
    human_clicks    SimpleAggregateFunction(sum, UInt64),
    unique_clickers AggregateFunction(uniq, String),
    unique_messages AggregateFunction(uniq, UUID)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (sid, tag, day);

CREATE MATERIALIZED VIEW IF NOT EXISTS clicks_by_tag_day_mv TO clicks_by_tag_day AS
SELECT sid, tag, toDate(ts) AS day,
       count() AS clicks, countIf(counts_for_metrics) AS human_clicks,
       uniqStateIf(recipient, counts_for_metrics) AS unique_clickers,
       uniqStateIf(message_id, counts_for_metrics) AS unique_messages
FROM clicks GROUP BY sid, tag, day;

-- Per day: human versus machine by classification, and the device and client mix.
CREATE TABLE IF NOT EXISTS clicks_by_day
(
    sid             LowCardinality(String),
    day             Date,
    classification  LowCardinality(String),
    device_type     LowCardinality(String),
    client_type     LowCardinality(String),
    client_name     LowCardinality(String),
    clicks          SimpleAggregateFunction(sum, UInt64),
    unique_clickers AggregateFunction(uniq, String)
)
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(day)
ORDER BY (sid, day, classification, device_type, client_type, client_name);

CREATE MATERIALIZED VIEW IF NOT EXISTS clicks_by_day_mv TO clicks_by_day AS
SELECT sid, toDate(ts) AS day, classification, device_type, client_type, client_name,
       count() AS clicks, uniqState(recipient) AS unique_clickers
FROM clicks GROUP BY sid, day, classification, device_type, client_type, client_name;

-- Where promotion stands: every observation of this node up to `promoted_until` has been
-- promoted (see src/promote/promoter.ts).
CREATE TABLE IF NOT EXISTS promotion_state
(
    node_id        String,
    promoted_until DateTime64(3, 'UTC'),
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY node_id;
