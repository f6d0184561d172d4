-- Time from send to the first human click, per message (median and p90 over a tag).
SELECT tag, count() AS messages_clicked,
       quantile(0.5)(dateDiff('second', sent_at, ts)) AS median_seconds_to_first_click,
       quantile(0.9)(dateDiff('second', sent_at, ts)) AS p90_seconds_to_first_click
-- The current version of each click (a reclassified click has newer rows, sql/040).
FROM (SELECT * FROM clicks WHERE sid = {sid:String} AND sign = 1 ORDER BY promoted_at DESC LIMIT 1 BY obs_id)
WHERE first_click
GROUP BY tag
ORDER BY messages_clicked DESC
