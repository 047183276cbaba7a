-- partner.activities: participants per activity, housing area and month,
-- and how many of them belong to each target group that month: young NEET
-- (Ungedatabasen), women 18-64 not in work on a benefit (Jobcenter), and
-- children below the national average in a national test of the school
-- year the month falls in or the one before (Skoler).
SELECT p.activity,
       p.area,
       to_char(p.activity_month, 'YYYY-MM') AS month,
       count(DISTINCT p.person) AS participants,
       count(DISTINCT p.person) FILTER (
         WHERE EXISTS (
           SELECT 1 FROM youth_status y
           WHERE y.person = p.person
             AND y.status_month = p.activity_month
             AND y.age BETWEEN 15 AND 29
             AND y.status NOT IN ('uddannelse', 'beskæftigelse'))
       ) AS young_neet,
       count(DISTINCT p.person) FILTER (
         WHERE EXISTS (
           SELECT 1 FROM jobcenter_status j
           WHERE j.person = p.person
             AND j.month = p.activity_month
             AND j.gender = 'female'
             AND j.age BETWEEN 18 AND 64
             AND NOT j.employed
             AND j.benefit IS NOT NULL)
       ) AS women_target,
       -- the school year (August to July) of the month, e.g. 2025/26, and
       -- the one before
       count(DISTINCT p.person) FILTER (
         WHERE EXISTS (
           SELECT 1 FROM school_tests s
           WHERE s.pupil = p.person
             AND s.school_year IN (
               to_char(p.activity_month - interval '7 months', 'YYYY') || '/' ||
                 to_char(p.activity_month + interval '5 months', 'YY'),
               to_char(p.activity_month - interval '19 months', 'YYYY') || '/' ||
                 to_char(p.activity_month - interval '7 months', 'YY'))
             AND s.result < 0)
       ) AS children_behind
FROM activity_participation p
GROUP BY 1, 2, 3
