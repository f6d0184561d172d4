-- Raw observations (every verified redirect, humans and machines) per project and day.
SELECT toDate(ts) AS day, sid, count() AS observations, uniqExact(message_id) AS messages
FROM click_observations
WHERE ts >= now() - INTERVAL 30 DAY
GROUP BY day, sid
ORDER BY day, sid
