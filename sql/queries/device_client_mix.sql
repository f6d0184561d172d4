-- Device and client mix of human clicks over the last 30 days.
SELECT device_type, client_type, client_name, sum(clicks) AS clicks, uniqMerge(unique_clickers) AS clickers
FROM clicks_by_day
WHERE sid = {sid:String} AND day >= today() - 30 AND classification = 'genuine'
GROUP BY device_type, client_type, client_name
ORDER BY clicks DESC
