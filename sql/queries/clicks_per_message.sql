-- Clicks, human clicks, machine clicks and the first human click of each message of a project.
SELECT message_id, tag, sum(clicks) AS clicks, sum(human_clicks) AS human_clicks,
       sum(machine_clicks) AS machine_clicks, min(first_human_click) AS first_human_click
FROM clicks_by_message
WHERE sid = {sid:String}
GROUP BY message_id, tag
ORDER BY human_clicks DESC
LIMIT 100
