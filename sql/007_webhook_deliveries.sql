-- Webhook events (the exact body sent, for redelivery on request) and every delivery
-- attempt with its outcome.
CREATE TABLE IF NOT EXISTS webhook_events
(
    event_id    UUID,
    webhook_id  UUID,
    sid         LowCardinality(String),
    event       LowCardinality(String),
    body        String CODEC(ZSTD(1)),
    created_at  DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (webhook_id, event_id)
TTL toDateTime(created_at) + INTERVAL 30 DAY;

CREATE TABLE IF NOT EXISTS webhook_deliveries
(
    event_id    UUID,
    webhook_id  UUID,
    sid         LowCardinality(String),
    attempt     UInt16,
    ts          DateTime64(3, 'UTC'),
    status      UInt16,
    ok          Bool,
    latency_ms  UInt32,
    error       String,
    next_retry  Nullable(DateTime64(3, 'UTC'))
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (webhook_id, ts, event_id)
TTL toDateTime(ts) + INTERVAL 30 DAY;
