-- partner.housing: per housing area and calendar year (2023 to the latest
-- year in the data), residents (people in the households of tenancies
-- that ran at some time in the year), tenancies begun and ended,
-- tenancies with a rent-arrears case opened, and evictions.  Every area
-- gets every year, 0 where nothing happened.
WITH y AS (
  SELECT generate_series(
           2023,
           greatest(
             (SELECT max(extract(year FROM greatest(move_in, coalesce(move_out, move_in))))
              FROM tenancies),
             (SELECT max(extract(year FROM opened)) FROM rent_arrears))::int
         ) AS year
),
a AS (
  SELECT area FROM tenancies
  UNION
  SELECT area FROM rent_arrears
),
t AS (
  SELECT t.area,
         y.year,
         coalesce(sum(t.household_size) FILTER (
           WHERE t.move_in <= make_date(y.year, 12, 31)
             AND (t.move_out IS NULL OR t.move_out >= make_date(y.year, 1, 1))), 0)
           AS residents,
         count(*) FILTER (WHERE extract(year FROM t.move_in) = y.year) AS moves_in,
         count(*) FILTER (WHERE extract(year FROM t.move_out) = y.year) AS moves_out
  FROM tenancies t CROSS JOIN y
  GROUP BY 1, 2
),
r AS (
  SELECT r.area,
         y.year,
         count(DISTINCT r.tenancy) FILTER (WHERE extract(year FROM r.opened) = y.year)
           AS arrears,
         count(*) FILTER (WHERE extract(year FROM r.eviction_date) = y.year) AS evictions
  FROM rent_arrears r CROSS JOIN y
  GROUP BY 1, 2
)
SELECT a.area,
       y.year::text AS year,
       coalesce(t.residents, 0) AS residents,
       coalesce(t.moves_in, 0) AS moves_in,
       coalesce(t.moves_out, 0) AS moves_out,
       coalesce(r.arrears, 0) AS arrears,
       coalesce(r.evictions, 0) AS evictions
FROM a
CROSS JOIN y
LEFT JOIN t ON t.area = a.area AND t.year = y.year
LEFT JOIN r ON r.area = a.area AND r.year = y.year
