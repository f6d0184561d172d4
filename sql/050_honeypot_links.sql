-- Honeypot links (issue 16): a route may ask the rewriter to add one link a person can neither
-- see nor reach (src/rewrite/honeypot.ts). Routes made before this migration have it off.
ALTER TABLE routes ADD COLUMN IF NOT EXISTS honeypot_link Bool DEFAULT false AFTER track_clicks;
-- An observation of a honeypot link (its token carries the reserved link index 65535): kept
-- here, never promoted to a click; classification reads it as scanner evidence for its
-- message. The same statement is in late evidence's migration (it reads honeypot = true).
ALTER TABLE click_observations ADD COLUMN IF NOT EXISTS honeypot Bool DEFAULT false;
