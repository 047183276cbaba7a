-- partner.neet: young residents aged 15-29 per housing area and month, and
-- how many of them are NEET (neither in education nor in work: status
-- ledig or andet in Ungedatabasen).  One row per cell; samspor adds the
-- totals over area and suppresses small counts.
SELECT area,
       to_char(status_month, 'YYYY-MM') AS month,
       count(DISTINCT person) AS young,
       count(DISTINCT person) FILTER (
         WHERE status NOT IN ('uddannelse', 'beskæftigelse')) AS neet
FROM youth_status
WHERE age BETWEEN 15 AND 29
GROUP BY 1, 2
