-- Control plane: teams, API tokens, projects, routes, webhooks, tracking domains.
--
-- ReplacingMergeTree(version, is_deleted): every change is an insert of the whole row
-- with a higher version; reads use FINAL, which keeps the newest version of each key
-- and drops keys whose newest version is deleted. These tables are tiny (thousands of
-- rows), written only through the Team API and read whole into every node's memory, so
-- FINAL costs nothing, and the same engine works on a single server and, as
-- ReplicatedReplacingMergeTree, on a cluster. A KV engine (EmbeddedRocksDB) would give
-- point updates but does not replicate; a plain MergeTree would need mutations.

CREATE TABLE IF NOT EXISTS teams
(
    team_id    UUID,
    name       String,
    created_at DateTime64(3, 'UTC'),
    version    UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY team_id;

-- Team API tokens: only a SHA-256 of the token is kept; token_id is its public prefix.
CREATE TABLE IF NOT EXISTS api_tokens
(
    token_id   String,
    team_id    UUID,
    name       String,
    token_hash String,
    created_at DateTime64(3, 'UTC'),
    version    UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY token_id;

CREATE TABLE IF NOT EXISTS projects
(
    project_id     UUID,
    team_id        UUID,
    sid            String,
    name           String,
    token_ttl_days UInt16,
    retention_days UInt16,
    created_at     DateTime64(3, 'UTC'),
    updated_at     DateTime64(3, 'UTC'),
    version        UInt64,
    is_deleted     UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY project_id;

CREATE TABLE IF NOT EXISTS routes
(
    route_id     UUID,
    project_id   UUID,
    team_id      UUID,
    name         String,
    type         LowCardinality(String),
    track_clicks Bool,
    created_at   DateTime64(3, 'UTC'),
    updated_at   DateTime64(3, 'UTC'),
    version      UInt64,
    is_deleted   UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY route_id;

CREATE TABLE IF NOT EXISTS webhooks
(
    webhook_id             UUID,
    project_id             UUID,
    team_id                UUID,
    url                    String,
    secret                 String,
    events                 Array(String),
    include_machine_events Bool,
    enabled                Bool,
    created_at             DateTime64(3, 'UTC'),
    updated_at             DateTime64(3, 'UTC'),
    version                UInt64,
    is_deleted             UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY webhook_id;

CREATE TABLE IF NOT EXISTS tracking_domains
(
    hostname   String,
    project_id UUID,
    team_id    UUID,
    created_at DateTime64(3, 'UTC'),
    version    UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY hostname;
