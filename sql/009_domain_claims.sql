-- Claims of unique keys (issue 10): a project's sid, a custom tracking hostname.
--
-- ClickHouse has no transactions or unique constraints, so uniqueness is a rule that every
-- node applies to the same rows: a claim is a row keyed by (key, project_id), so two claims
-- of one key never overwrite each other (tracking_domains was keyed by hostname alone: the
-- last writer won). claim_seq is stamped by ClickHouse when the claim is inserted (unix µs of
-- the server's clock, not of the claiming node's), and of the live claims of a key the
-- smallest (claim_seq, project_id) wins. A claimant inserts, waits about as long as its
-- insert took, re-reads every claim of the key, and withdraws (deletes its claim, answers
-- 409) when it is not the winner; every node's snapshot applies the same rule, so the
-- redirect path agrees with the API. See README, "Unique keys".

CREATE TABLE IF NOT EXISTS sid_claims
(
    sid        String,
    project_id UUID,
    claim_seq  UInt64 DEFAULT toUnixTimestamp64Micro(now64(6)),
    created_at DateTime64(3, 'UTC'),
    version    UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (sid, project_id);

-- status: pending_verification | verified | failed_verification (Lettermint's names). Only a
-- verified hostname routes clicks and counts as already tracked. Times of 1970 mean never.
CREATE TABLE IF NOT EXISTS domain_claims
(
    hostname           String,
    project_id         UUID,
    team_id            UUID,
    status             LowCardinality(String),
    verification_token String,
    verified_by        LowCardinality(String),
    claim_seq          UInt64 DEFAULT toUnixTimestamp64Micro(now64(6)),
    created_at         DateTime64(3, 'UTC'),
    checked_at         DateTime64(3, 'UTC'),
    verified_at        DateTime64(3, 'UTC'),
    status_changed_at  DateTime64(3, 'UTC'),
    version            UInt64,
    is_deleted         UInt8 DEFAULT 0
)
ENGINE = ReplacingMergeTree(version, is_deleted)
ORDER BY (hostname, project_id);

-- Every existing project claims its sid, in creation order (duplicates that a race made
-- before this migration resolve to the earliest project; the others stop routing).
INSERT INTO sid_claims (sid, project_id, claim_seq, created_at, version)
SELECT sid, project_id, toUInt64(toUnixTimestamp64Milli(created_at)) * 1000, created_at, version
FROM projects FINAL
WHERE is_deleted = 0;

-- Existing tracking domains were accepted before verification existed: they stay in force,
-- as verified ('migrated'), with a token so their owner can still publish the TXT record.
INSERT INTO domain_claims (hostname, project_id, team_id, status, verification_token, verified_by, claim_seq, created_at, checked_at, verified_at, status_changed_at, version)
SELECT hostname, project_id, team_id, 'verified', lower(hex(randomString(16))), 'migrated', toUInt64(toUnixTimestamp64Milli(created_at)) * 1000, created_at, created_at, created_at, created_at, version
FROM tracking_domains FINAL
WHERE is_deleted = 0;

-- Kept (renamed, no longer read) so that a rollback can restore it by hand.
RENAME TABLE tracking_domains TO tracking_domains_before_009;
