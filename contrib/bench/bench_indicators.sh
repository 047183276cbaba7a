#!/usr/bin/env bash
# contrib/bench/bench_indicators.sh — the partner refresh, with its
# disclosure audit, against the bare aggregate query, one command.
#
#   contrib/bench/bench_indicators.sh [ROWS [RUNS [SHAPES]]]
#
#   ROWS    synthetic person-month rows per shape (default: 1000000)
#   RUNS    times each shape is measured (default: 2), one line per run
#   SHAPES  a regex on the shape names to run (default: all)
#
# Fills a throwaway PostgreSQL with ROWS synthetic person-month rows
# (skewed over the areas, so that many cells are small), then, for four
# indicator shapes, times in one run:
#   (a) psql: the indicator's query, its cells sent to /dev/null (the
#       reference: what the database has to do anyway)
#   (b) samspor refresh: the same query, totals, primary and secondary
#       suppression with the disclosure audit (core/partner/audit.c), ratios, and
#       the partner table replaced in one transaction
# and prints cells, hidden values, periods withheld by the fail-safe,
# seconds, the ratio (b)/(a), samspor's peak RSS, the audit's own seconds
# and the information loss: the share of the cells' count values hidden
# and the share of their sum those hold (both from the refresh's info log
# line; totals are not counted as cells there).  Shapes: the demo's size
# (4 areas x 24 months) and 1,000 areas x 24 months, both with a total over
# area and the count neet declared a subset of people; 200 and 1,000 areas
# x 8 and 12 statuses x 24 months with totals over area and status (blocks
# of thousands of hidden cells; the last has partner.audit_budget = 8m).
#
# Uses the build in $BUILD_DIR (default build/, else the source tree).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../tests/integration/lib.sh"

ROWS=${1:-1000000}
RUNS=${2:-2}
SHAPES=${3:-.}
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
	  ANALYZE warehouse.$1;
	  DO \$\$ BEGIN
	    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'samspor_analyst') THEN
	      CREATE ROLE samspor_analyst NOLOGIN; END IF; END \$\$;
	  GRANT SELECT ON warehouse.$1 TO samspor_analyst" >/dev/null # indicator queries read as analysts
}

write_conf() { # NAME DIMS TOTALS COUNTS QUERY [RATIOS [PARTNER-OPTIONS]]
	cat >"$W/$1.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$W/key"; };
		log: { level = "info"; };
		connectors = ( { name = "unused"; plugin = "csv"; enabled = false;
		  source = { url = "$W/none.csv"; };
		  streams = ( { table = "unused"; columns = ( { name = "x"; from = "x"; rule = "keep"; } ); } ); } );
		partner: { ${7:-} indicators = ( { name = "$1"; dimensions = $2; time = "month"; totals = $3;
		  counts = $4; ${6:-}
		  query = "$5"; } ); };
	EOF
}

printf '%-8s %7s %7s %8s %7s %9s %7s %8s %8s %7s %7s\n' shape cells hidden withheld "query s" \
	"refresh s" ratio "peak RSS" "audit s" "cells %" "sum %"
run() { # NAME QUERY COUNT...
	local name=$1 query=$2 ta tb rb rc i
	shift 2
	for ((i = 0; i < RUNS; i++)); do
		psql_q "CHECKPOINT" >/dev/null
		read -r ta _ rc < <(measure "$(_sp_pg_bindir)/psql" -X -q -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PGDATABASE" \
			-c "SET search_path = warehouse; COPY ($query) TO STDOUT")
		[[ $rc == 0 ]] || { echo "the query failed" >&2; exit 1; }
		read -r tb rb rc < <(measure --stderr "$W/$name.log" "$SAMSPOR" -c "$W/$name.conf" refresh)
		[[ $rc == 0 ]] || { cat "$W/$name.log" >&2; exit 1; }
		local cells hidden c sql=""
		for c in "$@"; do
			sql+="${sql:+ + }count(*) FILTER (WHERE $c IS NULL)"
		done
		cells=$(psql_q "SELECT count(*) FROM partner.$name")
		hidden=$(psql_q "SELECT $sql FROM partner.$name")
		# withheld, audit seconds, hidden share of the counts and of the sum
		local stats
		stats=$(python3 - "$W/$name.log" "$name" <<-'PY'
			import re, sys
			pat = re.compile(r'indicator (\S+) refreshed: .*?hidden ([0-9.]+)% of the '
			                 r"cells' counts, holding ([0-9.]+)% of their sum; .*?"
			                 r'(\d+) period\(s\) withheld; audit ([0-9.]+) s')
			for line in open(sys.argv[1], errors="replace"):
			    m = pat.search(line)
			    if m and m.group(1) == sys.argv[2]:
			        print(m.group(4), m.group(5), m.group(2), m.group(3))
			        break
			else:
			    print("? ? ? ?")
		PY
		)
		local wp as cs ss
		read -r wp as cs ss <<<"$stats"
		printf '%-8s %7s %7s %8s %7s %9s %6.2fx %4d MiB %8s %6s%% %6s%%\n' "$name" "$cells" "$hidden" "$wp" "$ta" "$tb" \
			"$(python3 -c "print($tb / $ta)")" $((rb / 1024)) "$as" "$cs" "$ss"
	done
}

Q1="SELECT area, month, count(*) AS people, count(*) FILTER (WHERE status = 'neet') AS neet FROM SHAPE GROUP BY 1, 2"
for spec in "small 4 8" "wide 1000 8"; do
	read -r name areas statuses <<<"$spec"
	[[ $name =~ $SHAPES ]] || continue
	shape "$name" "$areas" "$statuses"
	q=${Q1//SHAPE/$name}
	write_conf "$name" '["area", "month"]' '["area"]' \
		'( { name = "people"; }, { name = "neet"; subset_of = "people"; } )' "$q" \
		'ratios = ( { name = "share"; numerator = "neet"; denominator = "people"; } );'
	run "$name" "$q" people neet
done
for spec in "twoway 200 8" "twowide 1000 12"; do
	read -r name areas statuses <<<"$spec"
	[[ $name =~ $SHAPES ]] || continue
	shape "$name" "$areas" "$statuses"
	q="SELECT area, status, month, count(*) AS people FROM $name GROUP BY 1, 2, 3"
	budget=
	[[ $name == twowide ]] && budget='audit_budget = "8m";'
	write_conf "$name" '["area", "status", "month"]' '["area", "status"]' '( { name = "people"; } )' "$q" \
		'' "$budget"
	run "$name" "$q" people
done
