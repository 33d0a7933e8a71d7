-- Emergency department arrivals and patients seen, per day on average, against the providers on
-- duty, by facility, day of the week (0 Sunday to 6 Saturday) and hour of the day: where arrivals
-- outrun the patients seen, the queue grows; arrivals per provider-hour above what a provider sees
-- in an hour (about 2) is an hour the schedule does not cover; an hour without a recorded
-- schedule has no provider-hours. With totals.
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
    SELECT e.facility_id,
           extract(dow FROM e.at) AS weekday,
           extract(hour FROM e.at) AS hour,
           sum(e.arrived) AS arrivals,
           sum(e.seen) AS seen
    FROM events e
    WHERE e.at >= (SELECT min(day) FROM calendar_days)
      AND e.at < (SELECT max(day) FROM calendar_days) + INTERVAL '1 day'
    GROUP BY e.facility_id, extract(dow FROM e.at), extract(hour FROM e.at)
),
schedule AS (  -- every facility, weekday and hour, with the providers on duty where recorded
    SELECT f.name AS facility, w.weekday, h.hour, p.providers,
           coalesce(c.arrivals, 0) AS arrivals, coalesce(c.seen, 0) AS seen,
           w.days AS weekday_days, (SELECT count(*) FROM calendar_days) AS all_days
    FROM facilities f
    CROSS JOIN weekdays w
    CROSS JOIN generate_series(0, 23) AS h(hour)
    LEFT JOIN ed_providers p ON p.facility_id = f.facility_id AND p.hour = h.hour
    LEFT JOIN counted c
           ON c.facility_id = f.facility_id AND c.weekday = w.weekday AND c.hour = h.hour
)
SELECT facility,
       weekday,
       hour,
       arrivals_per_day,
       seen_per_day,
       provider_hours_per_day,
       arrivals_per_day / provider_hours_per_day AS arrivals_per_provider_hour
FROM (
    SELECT facility,
           weekday,
           hour,
           sum(arrivals) / CASE WHEN GROUPING(weekday) = 0 THEN max(weekday_days)
                                ELSE max(all_days) END AS arrivals_per_day,
           sum(seen) / CASE WHEN GROUPING(weekday) = 0 THEN max(weekday_days)
                            ELSE max(all_days) END AS seen_per_day,
           sum(providers) * 1.0 / CASE WHEN GROUPING(weekday) = 0 THEN 1 ELSE 7 END
               AS provider_hours_per_day
    FROM schedule
    GROUP BY CUBE (facility, weekday, hour)
) cubed
ORDER BY facility NULLS LAST, weekday NULLS LAST, hour NULLS LAST
