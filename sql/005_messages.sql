-- Every rewritten message, one row per recipient (each recipient has its own message id
-- and token set), and its links: what promotion joins a click with (recipient, subject,
-- tag, metadata, destination, anchor text) and what reports group by.
CREATE TABLE IF NOT EXISTS messages
(
    message_id     UUID,
    sid            LowCardinality(String),
    project_id     UUID,
    route_id       UUID,
    recipient      String,
    sender         String,
    subject        String,
    tag            LowCardinality(String),
    metadata       Map(String, String),
    sent_at        DateTime('UTC'),
    tracking       Bool,
    tracking_reason LowCardinality(String),
    link_count     UInt16,
    retention_days UInt16 DEFAULT 400,
    created_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(sent_at)
ORDER BY (sid, message_id)
TTL sent_at + toIntervalDay(retention_days)
SETTINGS non_replicated_deduplication_window = 10000;

CREATE TABLE IF NOT EXISTS message_links
(
    message_id     UUID,
    sid            LowCardinality(String),
    link_index     UInt16,
    url            String,
    anchor_text    String,
    tracked        Bool,
    skip_reason    LowCardinality(String),
    sent_at        DateTime('UTC'),
    retention_days UInt16 DEFAULT 400
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(sent_at)
ORDER BY (sid, message_id, link_index)
TTL sent_at + toIntervalDay(retention_days)
SETTINGS non_replicated_deduplication_window = 10000;
