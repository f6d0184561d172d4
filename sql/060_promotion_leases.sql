-- Promotion by partitions of the message-id space (issue 17, many redirect nodes): with
-- --promotion-partitions N (or a cluster), message ids fall into N partitions
-- (CRC32(toString(message_id)) % N, the same number src/promote/partitions.ts computes) and
-- each partition is promoted by the one live node that holds its lease, from every node's
-- observations. Both tables are small and replicated on every node.
--
-- promotion_nodes: one heartbeat row per node, replaced by each beat. A node is live until
-- expires_at; low_watermark says every observation it captured before it is in ClickHouse
-- (promotion of every partition waits for the lowest one of the live nodes).
CREATE TABLE IF NOT EXISTS promotion_nodes
(
    node_id       String,
    expires_at    DateTime64(3, 'UTC'),
    low_watermark DateTime64(3, 'UTC'),
    leaving       Bool,
    version       UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY node_id
TTL toDateTime(expires_at) + INTERVAL 7 DAY;

-- promotion_leases: the claims of each partition, one row per claim or release, never
-- updated. A claim of (partition, epoch) is inserted with the deduplication token
-- lease-<partition>-<epoch>: ClickHouse keeps the first and drops any later one (in a
-- cluster through Keeper), which makes the claim a compare-and-set. The owner of a
-- partition is the claimant of its highest epoch while that node's heartbeat lives and no
-- release row of that epoch exists.
CREATE TABLE IF NOT EXISTS promotion_leases
(
    partition  UInt16,
    epoch      UInt64,
    owner      String,
    kind       LowCardinality(String),
    written_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (partition, epoch)
SETTINGS non_replicated_deduplication_window = 100000;

-- The partition owner reads new observations by the time ClickHouse took them.
ALTER TABLE click_observations ADD INDEX IF NOT EXISTS ingested_at_minmax ingested_at TYPE minmax GRANULARITY 1;
