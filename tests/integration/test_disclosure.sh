#!/usr/bin/env bash
# The disclosure audit of the partner tables, attacked: generated tables
# with random small cells (one-, two- and three-way, with a subset column)
# refreshed by the real binary against a real PostgreSQL, then attacked by
# tests/integration/attack.py — integer programming with an independent
# solver (HiGHS) over the totals, the zero bound, the subset relation and
# the published shares.  Nothing may be determined or narrowed below the
# protection width.  Also: protect_zeros, the fail-safe that withholds a
# period when the audit's budget runs out, one neutral reason, a broken
# subset declaration, coarsening, and the information-loss log line.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pg_start

# conf NAME PARTNER_EXTRA INDICATORS: a configuration with a connector
# that never runs (the tables are made in SQL) and these indicators.
conf() {
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/$1.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		log: { level = "info"; };
		connectors = ( { name = "unused"; plugin = "csv"; enabled = false;
		  source = { url = "$T/none.csv"; };
		  streams = ( { table = "unused"; columns = ( { name = "x"; from = "x"; rule = "keep"; } ); } ); } );
		partner: { freeze_after = "100y"; $2
		  indicators = ( $3 ); };
	EOF
}

# readable NAME: warehouse.NAME readable by indicator queries, which run
# as samspor_analyst_all: a table samspor did not load must be granted.
readable() {
	psql_q "SET client_min_messages = warning; DO \$\$ BEGIN
	  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'samspor_analyst') THEN
	    CREATE ROLE samspor_analyst NOLOGIN; END IF; END \$\$;
	  GRANT SELECT ON warehouse.$1 TO samspor_analyst" >/dev/null
}

# random_table NAME SEED AREAS STATUSES MONTHS: warehouse.NAME, one row
# per person, skewed so that most cells are small (many 0s, 1s and 2s).
random_table() {
	psql_q "SET client_min_messages = warning; CREATE SCHEMA IF NOT EXISTS warehouse;
	  DROP TABLE IF EXISTS warehouse.$1; SELECT setseed($2);
	  CREATE TABLE warehouse.$1 AS
	    SELECT i AS person,
	           'a' || floor($3 * power(random(), 2))::int AS area,
	           's' || floor($4 * power(random(), 2))::int AS status,
	           '2025-0' || (1 + floor($5 * random())::int) AS month,
	           random() < 0.3 AS neet
	    FROM generate_series(1, 40 + floor(random() * 160)::int) i" >/dev/null
	readable "$1"
}

# attack NAME DIMS TOTALS [ARGS...]: the attacker on partner.NAME.
attack() {
	local name=$1 dims=$2 totals=$3
	shift 3
	psql_q "COPY (SELECT * FROM partner.$name) TO STDOUT WITH CSV HEADER" >"$T/$name.csv"
	assert_exit 0 "$ATTACK_PY" "$ATTACK" "$T/$name.csv" --dims "$dims" --totals "$totals" \
		--counts people,neet --subset neet:people --width 5 "$@"
	assert_contains "$OUT" "recovered 0 narrowed 0" "partner.$name: nothing determined or narrowed"
}

# Every count from 1 to 5 of the raw table is hidden in partner.NAME.
small_counts_hidden() {
	local name=$1 by=$2 n
	n=$(psql_q "WITH raw AS (SELECT $by, count(*) AS people, count(*) FILTER (WHERE neet) AS neet
	                         FROM warehouse.$name GROUP BY $by)
	            SELECT count(*) FROM raw JOIN partner.$name p USING ($by)
	            WHERE (raw.people BETWEEN 1 AND 5 AND p.people IS NOT NULL)
	               OR (raw.neet BETWEEN 1 AND 5 AND p.neet IS NOT NULL)")
	assert_eq "$n" 0 "partner.$name: every count 1..5 of a cell hidden"
}

indicator() { # NAME DIMS TOTALS [EXTRA]
	local g
	g=$(tr -d '[]" ' <<<"$2")
	cat <<-EOF
		{ name = "$1"; dimensions = $2; time = "month"; totals = $3; ${4:-}
		  counts = ( { name = "people"; }, { name = "neet"; subset_of = "people"; } );
		  ratios = ( { name = "share"; numerator = "neet"; denominator = "people"; } );
		  query = "SELECT $g, count(*) AS people, count(*) FILTER (WHERE neet) AS neet FROM $1 GROUP BY $g"; }
	EOF
}

# The property test: several random tables of each shape; the attacker
# finds nothing in any of them.
test_random_tables_resist_the_interval_attack() {
	local seed inds="" sep=""
	for seed in 1 2 3 4; do
		random_table "one$seed" "0.$seed" 8 1 2
		random_table "two$seed" "0.1$seed" 5 4 2
		random_table "three$seed" "0.2$seed" 4 3 2
		inds+="$sep$(indicator "one$seed" '["area", "month"]' '["area"]')"
		inds+=", $(indicator "two$seed" '["area", "status", "month"]' '["area", "status"]')"
		inds+=", $(indicator "three$seed" '["area", "status", "month"]' '["area"]')"
		sep=", "
	done
	conf rand "" "$inds"
	assert_exit 0 "$SAMSPOR" -c "$T/rand.conf" refresh
	for seed in 1 2 3 4; do
		attack "one$seed" area,month area --ratio share:neet:people:100:1
		attack "two$seed" area,status,month area,status --ratio share:neet:people:100:1
		attack "three$seed" area,status,month area --ratio share:neet:people:100:1
		small_counts_hidden "one$seed" "area, month"
		small_counts_hidden "two$seed" "area, status, month"
	done
	# the attack is not vacuous: the tables hide something
	[[ $(psql_q "SELECT count(*) FROM partner.two1 WHERE suppressed") -gt 0 ]] ||
		fail "partner.two1 hides nothing: the attack proved nothing"
}

# The leak the issue measured: total 9, one cell 7, one cell 0 and two
# 1s.  With zeros published the two hidden 1s are pinned; the audit must
# hide more.  With protect_zeros the 0 is hidden and the attacker's lower
# bound is 0.
test_published_zero_bound() {
	psql_q "SET client_min_messages = warning; CREATE SCHEMA IF NOT EXISTS warehouse; DROP TABLE IF EXISTS warehouse.ev;
	  CREATE TABLE warehouse.ev AS
	    SELECT area, '2026' AS month, n AS people, 0 AS neet
	    FROM (VALUES ('u', 7), ('g', 0), ('h', 1), ('r', 1)) v(area, n)" >/dev/null
	readable ev
	local ind='{ name = "ev"; dimensions = ["area", "month"]; time = "month"; totals = ["area"];
	  counts = ( { name = "people"; }, { name = "neet"; subset_of = "people"; } );
	  query = "SELECT area, month, people, neet FROM ev"; }'
	conf zero "" "$ind"
	assert_exit 0 "$SAMSPOR" -c "$T/zero.conf" refresh
	assert_eq "$(psql_q "SELECT people FROM partner.ev WHERE area = 'g'")" 0 "the zero is published"
	assert_eq "$(psql_q "SELECT count(*) FROM partner.ev WHERE people IS NULL")" 3 "7 hidden besides the two 1s"
	attack ev area,month area
	conf zero "protect_zeros = true;" "$ind"
	assert_exit 0 "$SAMSPOR" -c "$T/zero.conf" refresh
	assert_eq "$(psql_q "SELECT people_suppressed FROM partner.ev WHERE area = 'g'")" t "the zero is hidden"
	attack ev area,month area --zeros-hidden
}

# No time for the audit: the whole period is withheld, with a reason that
# says so, and a warning; never published unaudited.
test_fail_safe_withholds_whole_periods() {
	random_table fs 0.5 5 4 2
	conf fs 'audit_budget = "0s";' "$(indicator fs '["area", "status", "month"]' '["area", "status"]')"
	assert_exit 0 "$SAMSPOR" -c "$T/fs.conf" refresh
	assert_contains "$ERR" "withheld whole: the disclosure audit ran out of partner.audit_budget" "warned"
	assert_eq "$(psql_q "SELECT count(*) FROM partner.fs WHERE people IS NOT NULL OR neet IS NOT NULL OR share IS NOT NULL")" 0 "nothing published"
	assert_contains "$(psql_q "SELECT DISTINCT suppression_reason FROM partner.fs")" "the whole period is withheld" "the reason says so"
}

# One neutral reason: the table does not tell a small count from a
# secondary one.
test_one_neutral_reason() {
	random_table nr 0.7 6 1 2
	conf nr 'hidden_label = "skjult";' "$(indicator nr '["area", "month"]' '["area"]')"
	assert_exit 0 "$SAMSPOR" -c "$T/nr.conf" refresh
	local r
	r=$(psql_q "SELECT DISTINCT regexp_replace(suppression_reason, '^.*: ', '') FROM partner.nr WHERE suppressed")
	assert_eq "$r" "skjult" "every hidden value has the same reason"
}

# A query that breaks its declared subset fails the refresh and keeps the
# old table.
test_broken_subset_is_an_error() {
	random_table bs 0.9 4 1 2
	conf bs "" '{ name = "bs"; dimensions = ["area", "month"]; time = "month"; totals = ["area"];
	  counts = ( { name = "people"; subset_of = "neet"; }, { name = "neet"; } );
	  query = "SELECT area, month, count(*) AS people, count(*) FILTER (WHERE neet) AS neet FROM bs GROUP BY 1, 2"; }'
	assert_exit 1 "$SAMSPOR" -c "$T/bs.conf" refresh
	assert_contains "$ERR" "count 'people' is declared subset_of 'neet' but exceeds it" "names the counts"
	conf bs "" '{ name = "bs"; dimensions = ["area", "month"]; time = "month";
	  counts = ( { name = "people"; subset_of = "nothing"; } );
	  query = "SELECT area, month, count(*) AS people FROM bs GROUP BY 1, 2"; }'
	assert_exit 2 "$SAMSPOR" -c "$T/bs.conf" check
	assert_contains "$ERR" "subset_of 'nothing' is not another of the indicator's counts" "check names it"
}

# Coarsening: months to quarters and areas to the whole plan, summed in
# SQL; the information loss falls.
test_coarsening_publishes_more() {
	random_table co 0.3 12 1 6
	conf co "" "$(indicator co '["area", "month"]' '["area"]')"
	assert_exit 0 "$SAMSPOR" -c "$T/co.conf" refresh
	assert_match "$ERR" "indicator co refreshed: .* hidden [0-9.]+% of the cells' counts, holding [0-9.]+% of their sum" "information loss logged"
	local fine
	fine=$(psql_q "SELECT round(100.0 * count(*) FILTER (WHERE people IS NULL) / count(*)) FROM partner.co WHERE area <> 'I alt'")
	conf co "" "$(indicator co '["area", "month"]' '[]' 'coarsen = ["area"]; coarsen_time = "quarter";')"
	assert_exit 0 "$SAMSPOR" -c "$T/co.conf" refresh
	assert_eq "$(psql_q "SELECT string_agg(area || ' ' || month || ' ' || people, ', ' ORDER BY month) FROM partner.co")" \
		"$(psql_q "SELECT string_agg('I alt ' || q || ' ' || n, ', ' ORDER BY q) FROM (SELECT '2025-Q' || ((substr(month, 6, 2)::int + 2) / 3) AS q, count(*) AS n FROM warehouse.co GROUP BY 1) x")" \
		"quarters of the whole plan, summed"
	local coarse
	coarse=$(psql_q "SELECT round(100.0 * count(*) FILTER (WHERE people IS NULL) / count(*)) FROM partner.co")
	((coarse < fine)) || fail "coarsening hid $coarse% of the cells, the fine table $fine%"
	conf co "" "$(indicator co '["area", "month"]' '["area"]' 'coarsen = ["area"];')"
	assert_exit 2 "$SAMSPOR" -c "$T/co.conf" check
	assert_contains "$ERR" "'area' is coarsened into one value; it cannot have totals too" "coarsen and totals exclude each other"
}

# Releases of an open period: a value the last release showed, and that
# has not changed, is known to whoever kept that release; hiding it now
# protects nothing.  Night 1 shows a 10, 30, 40, 50; night 2 a is 3.  The
# smallest other cell (30) would be the classic secondary — and the
# attacker with night 1's table would then subtract.
test_values_of_the_last_release_are_known() {
	psql_q "SET client_min_messages = warning; CREATE SCHEMA IF NOT EXISTS warehouse; DROP TABLE IF EXISTS warehouse.rl;
	  CREATE TABLE warehouse.rl AS
	    SELECT area, '2026-11' AS month, n AS people, 0 AS neet
	    FROM (VALUES ('a', 10), ('b', 30), ('c', 40), ('d', 50)) v(area, n)" >/dev/null
	readable rl
	conf rl "" '{ name = "rl"; dimensions = ["area", "month"]; time = "month"; totals = ["area"];
	  counts = ( { name = "people"; }, { name = "neet"; subset_of = "people"; } );
	  query = "SELECT area, month, people, neet FROM rl"; }'
	assert_exit 0 "$SAMSPOR" -c "$T/rl.conf" refresh
	psql_q "COPY (SELECT * FROM partner.rl) TO STDOUT WITH CSV HEADER" >"$T/rl.night1.csv"
	assert_eq "$(psql_q "SELECT count(*) FROM partner.rl WHERE suppressed")" 0 "night 1 hides nothing"
	psql_q "UPDATE warehouse.rl SET people = 3 WHERE area = 'a'" >/dev/null
	assert_exit 0 "$SAMSPOR" -c "$T/rl.conf" refresh
	assert_eq "$(psql_q "SELECT people FROM partner.rl WHERE area = 'b'")" 30 "the unchanged 30 is not hidden: it would protect nothing"
	psql_q "COPY (SELECT coalesce(area, 'I alt') AS area, '2026-11' AS month, sum(people) AS people, 0 AS neet
	        FROM warehouse.rl GROUP BY ROLLUP (area)) TO STDOUT WITH CSV HEADER" >"$T/rl.truth.csv"
	attack rl area,month area --previous "$T/rl.night1.csv" --truth "$T/rl.truth.csv"
	assert_contains "$ERR" "hidden cells guessed unchanged" "the attacker used night 1"
}

run_tests
