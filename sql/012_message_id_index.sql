-- A message id is owned by the first project that used it (issue 10, rule 3): a rewrite that
-- names a message id asks `messages` who has it, by message_id alone. The table's key starts
-- with sid, so a bloom filter on message_id lets that look-up skip the granules without it.
ALTER TABLE messages ADD INDEX IF NOT EXISTS message_id_bloom message_id TYPE bloom_filter(0.01) GRANULARITY 4;
ALTER TABLE messages MATERIALIZE INDEX message_id_bloom;
