-- The route of each click (issue 13: the analytics `route` dimension): promotion copies it
-- from the message, as it does the tag and metadata. Clicks promoted before this migration,
-- and clicks of messages clicktrail did not rewrite, have the zero UUID (the API's null).
ALTER TABLE clicks ADD COLUMN IF NOT EXISTS route_id UUID AFTER message_id;
