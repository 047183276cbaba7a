-- partner.women: women aged 18-64 per housing area and month who are not
-- in work and receive a public benefit (Jobcenter); of them, how many took
-- part in one of the plan's activities that month, and how many are in
-- work or education the month after.
--
-- into_work_or_education looks at the following month, which is not in
-- the data yet for the latest month: there it counts 0.  The indicator
-- declares it with needs_next_period = true, so samspor publishes it (and
-- into_work_share) as NULL, "not known yet", in the latest month.
WITH w AS (
  SELECT person, area, month
  FROM jobcenter_status
  WHERE gender = 'female'
    AND age BETWEEN 18 AND 64
    AND NOT employed
    AND benefit IS NOT NULL
)
SELECT w.area,
       to_char(w.month, 'YYYY-MM') AS month,
       count(DISTINCT w.person) AS women,
       count(DISTINCT w.person) FILTER (
         WHERE EXISTS (
           SELECT 1 FROM activity_participation a
           WHERE a.person = w.person AND a.activity_month = w.month)
       ) AS in_activities,
       count(DISTINCT w.person) FILTER (
         WHERE EXISTS (
           SELECT 1 FROM jobcenter_status n
           WHERE n.person = w.person
             AND n.month = (w.month + interval '1 month')::date
             AND (n.employed OR n.in_education))
       ) AS into_work_or_education
FROM w
GROUP BY 1, 2
