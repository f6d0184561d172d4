-- Human clicks and unique clickers per campaign metadata value (e.g. X-Campaign-ID).
SELECT metadata[{key:String}] AS campaign, count() AS human_clicks, uniqExact(recipient) AS unique_clickers,
       min(ts) AS first_click_at
FROM clicks
WHERE sid = {sid:String} AND counts_for_metrics AND mapContains(metadata, {key:String})
GROUP BY campaign
ORDER BY human_clicks DESC
