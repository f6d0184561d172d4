-- Rows the database refused, kept instead of retried forever (issue 10, rule 2): a refused
-- batch is split until each refused row is alone; that row lands here with ClickHouse's
-- error, and everything else of the batch is stored. `source` names the table (or replay
-- stage) it was meant for, `row` is its serialised form (JSON text, cut at 256 KiB), so an
-- operator can inspect, fix and re-insert it. Kept 90 days.
CREATE TABLE IF NOT EXISTS quarantine
(
    ts        DateTime64(3, 'UTC'),
    source    LowCardinality(String),
    sid       LowCardinality(String),
    node_id   LowCardinality(String),
    error     String,
    row       String CODEC(ZSTD(3)),
    truncated Bool
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (source, ts)
TTL toDateTime(ts) + INTERVAL 90 DAY
SETTINGS non_replicated_deduplication_window = 10000;
