-- Emergency department arrivals and patients seen, per day on average, by facility, day of the
-- week (0 Sunday to 6 Saturday) and hour of the day: where arrivals outrun the patients seen, the
-- queue grows. With totals.
WITH weekdays AS (
    SELECT extract(dow FROM day) AS weekday, count(*) AS days
    FROM calendar_days
    GROUP BY extract(dow FROM day)
),
events AS (
    SELECT v.facility_id, v.arrival_at AS at, 1.0 AS arrived, 0.0 AS seen
    FROM ed_visits v
    UNION ALL
    SELECT v.facility_id, v.provider_at AS at, 0.0 AS arrived, 1.0 AS seen
    FROM ed_visits v
    WHERE v.provider_at IS NOT NULL
),
counted AS (
    SELECT f.name AS facility,
           extract(dow FROM e.at) AS weekday,
           extract(hour FROM e.at) AS hour,
           sum(e.arrived) AS arrivals,
           sum(e.seen) AS seen
    FROM events e
    JOIN facilities f ON f.facility_id = e.facility_id
    WHERE e.at >= (SELECT min(day) FROM calendar_days)
      AND e.at < (SELECT max(day) FROM calendar_days) + INTERVAL '1 day'
    GROUP BY f.name, extract(dow FROM e.at), extract(hour FROM e.at)
)
SELECT facility,
       weekday,
       hour,
       sum(arrivals) / CASE WHEN GROUPING(weekday) = 0 THEN max(weekday_days) ELSE max(all_days) END
           AS arrivals_per_day,
       sum(seen) / CASE WHEN GROUPING(weekday) = 0 THEN max(weekday_days) ELSE max(all_days) END
           AS seen_per_day
FROM (
    SELECT c.*, w.days AS weekday_days, (SELECT count(*) FROM calendar_days) AS all_days
    FROM counted c
    JOIN weekdays w ON w.weekday = c.weekday
) dated
GROUP BY CUBE (facility, weekday, hour)
ORDER BY facility NULLS LAST, weekday NULLS LAST, hour NULLS LAST
