-- Click data retention is a project setting: each observation carries its project's
-- retention in days at capture time, and the TTL reads it per row.
ALTER TABLE click_observations ADD COLUMN IF NOT EXISTS retention_days UInt16 DEFAULT 400 AFTER kid;
ALTER TABLE click_observations MODIFY TTL toDateTime(ts) + toIntervalDay(retention_days);
