-- Classification evidence the redirect path captures since issue 16:
-- scheme: the scheme the recipient used to reach the tracking host ('https', 'http', or ''
--   when not known). Browsers send Fetch Metadata (Sec-Fetch-*) and client hints only to
--   secure origins, so their absence counts against a browser only where it would have sent
--   them. From the listener (plain HTTP: 'http'), else X-Forwarded-Proto of a trusted proxy,
--   else the tracking host's configured scheme.
-- x_native_host: the `x-native-host` request header; the new Outlook (OneOutlook) sends it on
--   its own fetches, its Safe Links check among them.
-- Rows stored before this migration read '' for both.
ALTER TABLE click_observations ADD COLUMN IF NOT EXISTS scheme LowCardinality(String) DEFAULT '' AFTER blocked;
ALTER TABLE click_observations ADD COLUMN IF NOT EXISTS x_native_host LowCardinality(String) DEFAULT '' AFTER scheme;
