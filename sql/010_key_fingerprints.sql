-- One row per master secret (key id) ever used by a node of this database: a one-way
-- fingerprint of the secret (HMAC-SHA256 keyed by it over a fixed label, 128 bits), never
-- the secret. Every node checks its configured secrets against these rows at start-up and
-- refuses to start when a key id it has was recorded with another secret: tokens already
-- in mailboxes carry the key id, so a second secret under the same id would 404 them all.
-- A plain MergeTree that keeps every distinct (kid, fingerprint): two nodes racing to
-- record different secrets for one id leave both rows, and both are then refused.
-- Not an analytics table: the analyst SQL path does not list it.
CREATE TABLE IF NOT EXISTS key_fingerprints
(
    kid         UInt8,
    fingerprint String,
    first_seen  DateTime64(3, 'UTC'),
    recorded_by String
)
ENGINE = MergeTree
ORDER BY (kid, fingerprint);
