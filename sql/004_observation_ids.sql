-- Every observation gets an id when ingest takes it (UUID v4), so a promoted click can
-- name the observation it came from and promotion can be replayed idempotently; and the
-- id of the node that captured it, as each node promotes its own observations.
ALTER TABLE click_observations ADD COLUMN IF NOT EXISTS obs_id UUID AFTER ts;
ALTER TABLE click_observations ADD COLUMN IF NOT EXISTS node_id LowCardinality(String) AFTER obs_id;
