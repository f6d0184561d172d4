-- Late evidence and reclassification (issue 16, src/promote/late.ts).
--
-- Row versions of `clicks`: a reclassified click gets a cancel row (the old row's exact
-- values, sign = -1) and a new row (the new verdict, sign = +1, a later promoted_at). Sums
-- weighted by sign give the current counts; row readers take, per obs_id, the sign = +1 row
-- with the latest promoted_at. Rows stored before this migration read sign = 1.
ALTER TABLE clicks ADD COLUMN IF NOT EXISTS sign Int8 DEFAULT 1;
-- An observation of a message's honeypot link (a link no person can see or reach): the
-- fetching address and agent are a scanner for that message.
ALTER TABLE click_observations ADD COLUMN IF NOT EXISTS honeypot Bool DEFAULT false AFTER x_native_host;

-- Reclassification batches, decided before their rows are written (exactly once across a
-- restart): `rows` the clicks rows to insert (JSON array, cancel and new rows), `events` the
-- webhook events to queue (JSON array). A batch is written with done = false, then again with
-- done = true once its rows are stored and its events queued; a node that restarts finishes
-- its batches that are not done (the clicks insert under the same token, events it has not
-- queued yet).
CREATE TABLE IF NOT EXISTS reclassification_batches
(
    node_id     String,
    token       String,
    decided_at  DateTime64(3, 'UTC'),
    reason      LowCardinality(String),
    clicks      UInt32,
    rows        String CODEC(ZSTD(1)),
    events      String CODEC(ZSTD(1)),
    done        Bool,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (node_id, token)
TTL toDateTime(decided_at) + INTERVAL 30 DAY;

-- What late-evidence work has seen, by key: `scanner_ranges` holds the scanner address ranges
-- the clicks inside the horizon were last judged against (newly listed ones are re-judged at
-- start-up).
CREATE TABLE IF NOT EXISTS late_evidence_state
(
    key         String,
    value       String,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY key;
