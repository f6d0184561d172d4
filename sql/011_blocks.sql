-- The operator's kill switch (issue 10, abuse control): destinations (exact URL, URL prefix,
-- host with its subdomains) or whole projects whose links stop redirecting, even links
-- already in mailboxes. A control-plane table like the others (every node's snapshot
-- reloads it within --config-refresh-ms). Observations of blocked links are kept, marked.
CREATE TABLE IF NOT EXISTS blocks
(
    block_id   UUID,
    kind       LowCardinality(String),
    value      String,
    reason     String,
    created_at DateTime64(3, 'UTC'),
    version    UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY block_id;

ALTER TABLE click_observations ADD COLUMN IF NOT EXISTS blocked Bool DEFAULT false AFTER expired;
