-- Privacy (issue 16): what a project keeps of recipients' IP addresses once the late-evidence
-- horizon has passed: 'full', 'truncated' (IPv4 /24, IPv6 /48) or 'none' (src/store/privacy.ts).
-- Every project made before this migration keeps 'truncated', the default: classification and
-- late evidence see whole addresses within the horizon either way.
ALTER TABLE projects ADD COLUMN IF NOT EXISTS ip_addresses LowCardinality(String) DEFAULT 'truncated' AFTER retention_days;
