-- What Lettermint's own SDK reads and sends (issue 15), beside clicktrail's columns:
-- a route's slug (its name within the project); a webhook's name and the route it is
-- scoped to ('' = the whole project, as every webhook before this migration); the first
-- bytes of a receiver's answer to each delivery attempt ('' before this migration).
ALTER TABLE routes ADD COLUMN IF NOT EXISTS slug String DEFAULT '' AFTER name;
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS route_id String DEFAULT '' AFTER project_id;
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS name String DEFAULT '' AFTER route_id;
ALTER TABLE webhook_deliveries ADD COLUMN IF NOT EXISTS response_body String DEFAULT '' CODEC(ZSTD(1)) AFTER error;
