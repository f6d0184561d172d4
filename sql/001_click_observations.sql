-- Every request on /c/{token} whose token verified, as captured on the redirect path.
-- One row per observation. Expired-token observations are redirected but not stored
-- (SPEC §2); ingest counts them (clicktrail_ingest_expired_dropped_total).
--
-- ORDER BY (sid, message_id, ts): analysts ask "what happened to this project's / this
-- message's links, over time", and classification reads all observations of a message.
-- LowCardinality for columns with few distinct values (methods, hosts, sids, fetch
-- metadata); Bool/UInt for flags. Deduplication window: a batch retried with the same
-- insert_deduplication_token is stored once (non-replicated MergeTree keeps no window
-- unless asked to).
CREATE TABLE IF NOT EXISTS click_observations
(
    ts                        DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),
    sid                       LowCardinality(String),
    message_id                UUID,
    link_index                UInt16,
    sent_at                   DateTime('UTC'),
    url                       String CODEC(ZSTD(1)),
    kid                       UInt8,
    expired                   Bool,
    method                    LowCardinality(String),
    host                      LowCardinality(String),
    ip                        String,
    peer_ip                   String,
    user_agent                String CODEC(ZSTD(1)),
    accept                    LowCardinality(String),
    accept_language           LowCardinality(String),
    accept_encoding           LowCardinality(String),
    sec_fetch_site            LowCardinality(String),
    sec_fetch_mode            LowCardinality(String),
    sec_fetch_dest            LowCardinality(String),
    sec_fetch_user            LowCardinality(String),
    sec_ch_ua                 LowCardinality(String),
    sec_ch_ua_mobile          LowCardinality(String),
    sec_ch_ua_platform        LowCardinality(String),
    sec_purpose               LowCardinality(String),
    purpose                   LowCardinality(String),
    x_moz                     LowCardinality(String),
    referer                   String CODEC(ZSTD(1)),
    via                       String,
    dnt                       LowCardinality(String),
    upgrade_insecure_requests LowCardinality(String),
    ingested_at               DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (sid, message_id, ts)
TTL toDateTime(ts) + INTERVAL 400 DAY
SETTINGS non_replicated_deduplication_window = 10000;
