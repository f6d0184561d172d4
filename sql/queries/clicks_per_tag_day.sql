-- Human clicks and unique human clickers (recipients) per tag and day, last 30 days.
SELECT day, tag, sum(human_clicks) AS human_clicks, uniqMerge(unique_clickers) AS unique_clickers,
       uniqMerge(unique_messages) AS messages_clicked
FROM clicks_by_tag_day
WHERE sid = {sid:String} AND day >= today() - 30
GROUP BY day, tag
ORDER BY day, tag
