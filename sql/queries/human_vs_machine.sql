-- Human versus machine per day, by classification (genuine, privacy_proxy, security_scanner, link_preview, generic_bot).
SELECT day, classification, sum(clicks) AS clicks
FROM clicks_by_day
WHERE sid = {sid:String} AND day >= today() - 30
GROUP BY day, classification
ORDER BY day, clicks DESC
