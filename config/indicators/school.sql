-- partner.school: pupils in grades 0-9 per housing area, school year,
-- grade and subject with a national test result; how many scored below
-- the national average; and the sum of their absence (only the numerator
-- of the mean absence, never published).
SELECT area,
       school_year,
       grade::text AS grade,
       subject,
       count(DISTINCT pupil) AS pupils,
       count(DISTINCT pupil) FILTER (WHERE result < 0) AS below_average,
       coalesce(sum(absence_pct), 0) AS absence_sum
FROM school_tests
WHERE grade BETWEEN 0 AND 9
GROUP BY 1, 2, 3, 4
