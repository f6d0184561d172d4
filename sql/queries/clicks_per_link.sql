-- Which links of one message were clicked, by people and by machines.
SELECT link_index, any(destination_url) AS destination_url, sum(clicks) AS clicks,
       sum(human_clicks) AS human_clicks, sum(machine_clicks) AS machine_clicks
FROM clicks_by_link
WHERE sid = {sid:String} AND message_id = {message_id:UUID}
GROUP BY link_index
ORDER BY link_index
