-- Human clicks and unique clickers per campaign metadata value (e.g. X-Campaign-ID).
SELECT metadata[{key:String}] AS campaign, count() AS human_clicks, uniqExact(recipient) AS unique_clickers,
       min(ts) AS first_click_at
-- The current version of each click (a reclassified click has newer rows, sql/040).
FROM (SELECT * FROM clicks WHERE sid = {sid:String} AND sign = 1 ORDER BY promoted_at DESC LIMIT 1 BY obs_id)
WHERE counts_for_metrics AND mapContains(metadata, {key:String})
GROUP BY campaign
ORDER BY human_clicks DESC
