#!/usr/bin/env bash
# contrib/bench/bench_indicators.sh — the partner refresh against the bare
# aggregate query, one command.
#
#   contrib/bench/bench_indicators.sh [ROWS]        (default: 1000000)
#
# Fills a throwaway PostgreSQL with ROWS synthetic person-month rows
# (skewed over the areas, so that many cells are small), then, for three
# indicator shapes, times in one run:
#   (a) psql: the indicator's query, its cells sent to /dev/null (the
#       reference: what the database has to do anyway)
#   (b) samspor refresh: the same query, totals, primary and secondary
#       suppression (with the rank test), ratios, and the partner table
#       replaced in one transaction
# and prints cells, hidden values, seconds, the ratio (b)/(a) and samspor's
# peak RSS.  Shapes: the demo's size (4 areas x 22 months), 1,000 areas x 24
# months (one total), and 200 and 1,000 areas x 8 and 12 statuses x 24
# months with totals over area and status (the rank test's case; the
# second has blocks of about 1,000 equations).
#
# Uses the build in $BUILD_DIR (default build/, else the source tree).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../tests/integration/lib.sh"

ROWS=${1:-1000000}
pg_start
W=$SP_WORK/bench
mkdir -p "$W"
"$SAMSPOR" keygen "$W/key" 2>/dev/null

# Wall seconds, peak RSS (KiB) and exit status of a command.
measure() { python3 "$HERE/measure.py" "$@"; }

# shape NAME AREAS STATUSES: a table warehouse.NAME of ROWS rows
shape() {
	psql_q "SET client_min_messages = warning; CREATE SCHEMA IF NOT EXISTS warehouse; DROP TABLE IF EXISTS warehouse.$1;
	  SELECT setseed(0.42);
	  CREATE TABLE warehouse.$1 AS
	    SELECT i AS person,
	           'area' || lpad(floor($2 * power(random(), 3))::int::text, 4, '0') AS area,
	           to_char(date '2025-01-01' + (floor(random() * 24)::int || ' months')::interval, 'YYYY-MM') AS month,
	           CASE WHEN random() < 0.15 THEN 'neet' ELSE 's' || floor(random() * ($3 - 1))::int END AS status
	    FROM generate_series(1, $ROWS) i;
	  ANALYZE warehouse.$1" >/dev/null
}

write_conf() { # NAME DIMS TOTALS COUNTS QUERY [RATIOS]
	cat >"$W/$1.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$W/key"; };
		log: { level = "warn"; };
		connectors = ( { name = "unused"; plugin = "csv"; enabled = false;
		  source = { url = "$W/none.csv"; };
		  streams = ( { table = "unused"; columns = ( { name = "x"; from = "x"; rule = "keep"; } ); } ); } );
		partner: { indicators = ( { name = "$1"; dimensions = $2; time = "month"; totals = $3;
		  counts = $4; ${6:-}
		  query = "$5"; } ); };
	EOF
}

printf '%-12s %8s %8s %10s %10s %7s %9s\n' shape cells hidden "query s" "refresh s" ratio "peak RSS"
run() { # NAME QUERY
	local name=$1 query=$2 ta tb rb rc
	psql_q "CHECKPOINT" >/dev/null
	read -r ta _ rc < <(measure "$(_sp_pg_bindir)/psql" -X -q -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PGDATABASE" \
		-c "SET search_path = warehouse; COPY ($query) TO STDOUT")
	[[ $rc == 0 ]] || { echo "the query failed" >&2; exit 1; }
	read -r tb rb rc < <(measure "$SAMSPOR" -c "$W/$name.conf" refresh)
	[[ $rc == 0 ]] || { "$SAMSPOR" -c "$W/$name.conf" refresh; exit 1; }
	local cells hidden
	cells=$(psql_q "SELECT count(*) FROM partner.$name")
	hidden=$(psql_q "SELECT count(*) FROM partner.$name WHERE suppressed")
	printf '%-12s %8s %8s %10s %10s %6.2fx %6d MiB\n' "$name" "$cells" "$hidden" "$ta" "$tb" \
		"$(python3 -c "print($tb / $ta)")" $((rb / 1024))
}

Q1="SELECT area, month, count(*) AS people, count(*) FILTER (WHERE status = 'neet') AS neet FROM SHAPE GROUP BY 1, 2"
for spec in "small 4 8" "wide 1000 8"; do
	read -r name areas statuses <<<"$spec"
	shape "$name" "$areas" "$statuses"
	q=${Q1//SHAPE/$name}
	write_conf "$name" '["area", "month"]' '["area"]' '( { name = "people"; }, { name = "neet"; } )' "$q" \
		'ratios = ( { name = "share"; numerator = "neet"; denominator = "people"; } );'
	run "$name" "$q"
done
for spec in "twoway 200 8" "twowide 1000 12"; do
	read -r name areas statuses <<<"$spec"
	shape "$name" "$areas" "$statuses"
	q="SELECT area, status, month, count(*) AS people FROM $name GROUP BY 1, 2, 3"
	write_conf "$name" '["area", "status", "month"]' '["area", "status"]' '( { name = "people"; } )' "$q"
	run "$name" "$q"
done
