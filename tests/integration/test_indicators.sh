#!/usr/bin/env bash
# The partner indicators against a real PostgreSQL: a small generated
# warehouse with known answers, the partner table computed by samspor sync
# and samspor refresh — counts, totals, shares, change against the
# baseline; primary suppression (1..threshold, configurable, never below
# 3) and secondary suppression; an attacker who tries to recover hidden
# cells from the totals (and succeeds on primary suppression alone);
# configuration errors; a failing indicator leaving its table as it was;
# an indicator waiting for its table; what the partner role can read;
# releases and frozen periods (partner.freeze_after), and forget leaving
# the partner tables to the next refresh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pg_start

# The known data: people per area and month, and how many are NEET.
#   M1 (2025-01): A 20/10  B 12/3  C 30/8  D 9/0
#   M2 (2025-02): A 4/2    B 12/6  C 30/9  D 9/0
# The months are $M1 and $M2 when set.  Periods stay open (FREEZE, the
# partner.freeze_after of conf, is 100y) unless a test says otherwise;
# BASELINE is the indicator's baseline (default 2025-01).
gen_data() {
	mkdir -p "$T/in"
	python3 - "$T/in/obs.csv" "${M1:-2025-01}" "${M2:-2025-02}" <<-'PY'
		import sys
		m1, m2 = sys.argv[2], sys.argv[3]
		cells = {("A", m1): (20, 10), ("B", m1): (12, 3),
		         ("C", m1): (30, 8), ("D", m1): (9, 0),
		         ("A", m2): (4, 2), ("B", m2): (12, 6),
		         ("C", m2): (30, 9), ("D", m2): (9, 0)}
		n = 0
		with open(sys.argv[1], "w") as f:
		    f.write("pid;omraade;maaned;status\n")
		    for (area, month), (people, neet) in sorted(cells.items()):
		        for k in range(people):
		            n += 1
		            f.write("P%05d;%s;%s;%s\n" % (n, area, month, "neet" if k < neet else "skole"))
	PY
}

# conf [THRESHOLD] [EXTRA_INDICATOR]
conf() {
	local threshold=${1:-5} extra=${2:-}
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = ( { name = "obs"; plugin = "csv";
		  source = { url = "$T/in/obs.csv"; };
		  streams = ( { table = "obs"; restrict_by = "area";
		    columns = (
		      { name = "person"; from = "pid"; rule = "pseudonym"; kind = "pid"; },
		      { name = "area"; from = "omraade"; },
		      { name = "month"; from = "maaned"; },
		      { name = "status"; from = "status"; }
		    ); } ); } );
		partner: {
		  suppression_threshold = $threshold;
		  freeze_after = "${FREEZE:-100y}";
		  report_language = "en";
		  indicators = (
		    { name = "neet"; title = "NEET";
		      dimensions = ["area", "month"]; time = "month"; totals = ["area"];
		      baseline = "${BASELINE:-2025-01}";
		      counts = ( { name = "people"; }, { name = "neet"; } );
		      ratios = ( { name = "share"; numerator = "neet"; denominator = "people"; change = true; } );
		      query = "SELECT area, month, count(*) AS people, count(*) FILTER (WHERE status = 'neet') AS neet FROM obs GROUP BY 1, 2";
		    }$extra
		  );
		};
	EOF
}

# An indicator over a table no connector has loaded yet.
LATER=',
    { name = "later"; dimensions = ["month"]; time = "month";
      counts = ( { name = "n"; } );
      query = "SELECT month, count(*) AS n FROM not_loaded_yet GROUP BY 1"; }'

dump() { # dump TABLE: the partner table as sorted lines
	psql_q "SELECT * FROM partner.$1 ORDER BY 1, 2" -F '|'
}

setup() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS partner CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null 2>&1
	gen_data
	conf "$@"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
}

test_known_answers_and_suppression() {
	setup
	assert_contains "$ERR" "indicator neet refreshed: 10 rows" "refresh logged"
	# area|month|people|people_supp|neet|neet_supp|share|share_supp|change|change_supp|suppressed|reason
	local want
	want=$(
		cat <<-'EOF'
			A|2025-01|20|f|10|f|50.0|f|0.0|f|f||f
			A|2025-02||t||t||t||t|t|people, neet, share, share_change: skjult (diskretion)|f
			B|2025-01|12|f||t||t||t|t|neet, share, share_change: skjult (diskretion)|f
			B|2025-02|12|f||t||t||t|t|neet, share, share_change: skjult (diskretion)|f
			C|2025-01|30|f||t||t||t|t|neet, share, share_change: skjult (diskretion)|f
			C|2025-02|30|f|9|f|30.0|f||t|t|share_change: skjult (diskretion)|f
			D|2025-01|9|f|0|f|0.0|f|0.0|f|f||f
			D|2025-02||t|0|f||t||t|t|people, share, share_change: skjult (diskretion)|f
			I alt|2025-01|71|f|21|f|29.6|f|0.0|f|f||f
			I alt|2025-02|55|f|17|f|30.9|f|1.3|f|f||f
		EOF
	)
	assert_eq "$(dump neet)" "$want" "partner.neet"
	# samspor refresh gives the same table
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_eq "$(dump neet)" "$want" "refresh recomputes the same"
	assert_contains "$(psql_q "SELECT obj_description('partner.neet'::regclass)")" "Counts from 1 to 5 are suppressed" "table comment"
}

test_threshold_is_configurable_never_below_3() {
	setup 3
	assert_eq "$(psql_q "SELECT people, neet FROM partner.neet WHERE area = 'A' AND month = '2025-02'" -F '|')" "4|" "threshold 3 publishes 4, hides 2"
	assert_eq "$(psql_q "SELECT neet_suppressed FROM partner.neet WHERE area = 'B' AND month = '2025-01'")" "t" "3 is still hidden"
	conf 2
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
	assert_contains "$ERR" "option 'suppression_threshold' in 'partner': 2 is out of range 3 to 1000" "names the option and the minimum"
}

# The interval attacker (integer programming): every total and its cells,
# neet <= people, the published shares with their rounding, hidden counts
# >= 1.  On samspor's output it determines nothing and narrows nothing to
# fewer than 5 values; on the same table with primary suppression alone
# it determines cells.
test_suppressed_cells_cannot_be_recovered() {
	setup
	psql_q "COPY (SELECT * FROM partner.neet) TO STDOUT WITH CSV HEADER" >"$T/neet.csv"
	assert_exit 0 "$ATTACK_PY" "$ATTACK" "$T/neet.csv" --dims area,month --totals area \
		--counts people,neet --subset neet:people --ratio share:neet:people:100:1
	assert_contains "$OUT" "recovered 0 narrowed 0" "nothing recovered or narrowed"
	# The control: raw counts with totals, primary suppression only.
	psql_q "COPY (SELECT coalesce(area, 'I alt') AS area, month, count(*) AS people,
	          count(*) FILTER (WHERE status = 'neet') AS neet
	        FROM warehouse.obs GROUP BY GROUPING SETS ((area, month), (month))) TO STDOUT WITH CSV HEADER" >"$T/raw.csv"
	assert_exit 1 "$ATTACK_PY" "$ATTACK" "$T/raw.csv" --dims area,month --totals area \
		--counts people,neet --primary-only 5
	assert_contains "$OUT" "determined neet at B,2025-01 = 3" "primary alone gives cells away"
}

# Two totals (area and group): the attacker uses both at once (and that
# the hidden 1s are >= 1), and must still fail.
test_two_way_totals_resist_linear_algebra() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS partner CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null 2>&1
	mkdir -p "$T/in"
	python3 - "$T/in/obs.csv" <<-'PY'
		import sys
		# rows a..d (area), columns w..z (status); two 2x2 blocks of 1s
		# and one bridging 1 at (a, y)
		grid = [[1, 1, 1, 50], [1, 1, 60, 70], [80, 90, 1, 1], [95, 85, 1, 1]]
		n = 0
		with open(sys.argv[1], "w") as f:
		    f.write("pid;omraade;maaned;status\n")
		    for i, row in enumerate(grid):
		        for j, k in enumerate(row):
		            for _ in range(k):
		                n += 1
		                f.write("P%05d;%s;2025-01;%s\n" % (n, "abcd"[i], "wxyz"[j]))
	PY
	conf 5 ',
	    { name = "grid"; dimensions = ["area", "status", "month"]; time = "month";
	      totals = ["area", "status"];
	      counts = ( { name = "people"; } );
	      query = "SELECT area, status, month, count(*) AS people FROM obs GROUP BY 1, 2, 3"; }'
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	psql_q "COPY (SELECT * FROM partner.grid) TO STDOUT WITH CSV HEADER" >"$T/grid.csv"
	assert_exit 0 "$ATTACK_PY" "$ATTACK" "$T/grid.csv" --dims area,status,month --totals area,status --counts people
	assert_contains "$OUT" "recovered 0 narrowed 0" "nothing recovered or narrowed from two-way totals"
	# More hidden than the small counts: the audit hid further cells (with
	# one neutral reason for all of them).
	local hidden small
	hidden=$(psql_q "SELECT count(*) FROM partner.grid WHERE people_suppressed")
	small=$(psql_q "SELECT count(*) FROM (SELECT count(*) AS n FROM warehouse.obs GROUP BY CUBE (area, status)) c WHERE n BETWEEN 1 AND 5")
	[[ $hidden -gt $small ]] || fail "expected secondary suppressions: $hidden hidden, $small small counts"
	assert_eq "$(psql_q "SELECT DISTINCT suppression_reason FROM partner.grid WHERE suppressed")" "people: skjult (diskretion)" "one neutral reason"
	psql_q "COPY (SELECT coalesce(area, 'I alt') AS area, coalesce(status, 'I alt') AS status, '2025-01' AS month, count(*) AS people
	        FROM warehouse.obs GROUP BY CUBE (area, status)) TO STDOUT WITH CSV HEADER" >"$T/raw.csv"
	assert_exit 1 "$ATTACK_PY" "$ATTACK" "$T/raw.csv" --dims area,status,month --totals area,status --counts people --primary-only 5
	assert_contains "$OUT" "determined people at a,y,2025-01 = 1" "primary alone falls to the two-way totals"
}

test_configuration_errors_all_reported() {
	gen_data
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/bad.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = ( { name = "obs"; plugin = "csv"; source = { url = "$T/in/obs.csv"; };
		  streams = ( { table = "obs"; columns = ( { name = "area"; from = "omraade"; } ); } ); } );
		partner: { report = "/nonexistent-dir/report.html"; indicators = (
		  { name = "x"; dimensions = ["area", "month"]; time = "day"; totals = ["month", "nope"];
		    counts = ( { name = "n"; }, { name = "n"; } );
		    ratios = ( { name = "r"; numerator = "zz"; denominator = "n"; change = true; } );
		    chart = "qq"; query = "SELECT 1"; },
		  { name = "x"; dimensions = ["a"]; time = "a"; counts = ( { name = "n"; } ); query = "SELECT 1"; }
		); };
	EOF
	assert_exit 2 "$SAMSPOR" -c "$T/bad.conf" check
	assert_contains "$ERR" "time 'day' is not one of its dimensions" "time"
	assert_contains "$ERR" "totals 'nope'" "totals"
	assert_contains "$ERR" "'n' is used twice" "duplicate measure"
	assert_contains "$ERR" "numerator 'zz'" "numerator"
	assert_contains "$ERR" "change = true needs the indicator's baseline" "baseline"
	assert_contains "$ERR" "chart 'qq'" "chart"
	assert_contains "$ERR" "two indicators are named 'x'" "duplicate indicator"
	assert_contains "$ERR" "warning: bad.conf:5: partner.report: cannot write in /nonexistent-dir" "report directory"
}

test_check_connect_plans_every_query() {
	setup 5 "$LATER"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_contains "$OUT" "indicators (2, counts 1-5 suppressed): partner.neet partner.later" "listed"
	assert_match "$OUT" "partner.neet +ok" "neet plans"
	assert_match "$OUT" "partner.later +waits: .*not_loaded_yet" "later waits for its table"
	sed -i 's/AS neet FROM obs/AS neetx FROM obs/' "$T/s.conf"
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "partner.neet +FAILED: .*q.neet" "a missing column fails"
	assert_eq "$(psql_q "SELECT count(*) FROM partner.neet")" "10" "check changed nothing"
}

# query_file: the query in a .sql file beside the configuration (a
# relative path from the configuration's directory), used like query;
# check --connect plans it as the analyst role and names the file and the
# line of an error; a missing, empty or two-statement file, or query and
# query_file both, is a configuration error with file:line.
test_query_file_beside_the_configuration() {
	setup
	local before
	before=$(dump neet)
	mkdir -p "$T/sql"
	printf -- '-- the NEET query, for review\nSELECT area, month,\n       count(*) AS people,\n       count(*) FILTER (WHERE status = '"'"'neet'"'"') AS neet\nFROM obs\nGROUP BY 1, 2\n' >"$T/sql/neet.sql"
	sed -i 's|query = "SELECT area, month, count(\*) AS people[^"]*";|query_file = "sql/neet.sql";|' "$T/s.conf"
	assert_contains "$(cat "$T/s.conf")" 'query_file = "sql/neet.sql";' "the configuration names the file"
	# Relative to the configuration's directory, not the working directory.
	(cd / && "$SAMSPOR" -c "$T/s.conf" check --connect >"$T/out" 2>&1) || fail "check --connect with query_file: $(cat "$T/out")"
	assert_match "$(cat "$T/out")" "partner.neet +ok \(query plans\)" "the file's query plans"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_eq "$(dump neet)" "$before" "the same table as from the inline query"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" docs
	assert_contains "$OUT" "from this query over the warehouse ($T/sql/neet.sql): -- the NEET query" "the dictionary names the file"
	# An error in the file: the file and its line, as the analyst role.
	sed -i 's/FROM obs$/FROM obs WHERE no_such_column > 0/' "$T/sql/neet.sql"
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "partner.neet +FAILED: $T/sql/neet.sql:5: .*no_such_column" "file:line of the error"
	sed -i 's/ WHERE no_such_column > 0//' "$T/sql/neet.sql"
	psql_q "CREATE TABLE warehouse.secret_notes (x int)" >/dev/null
	sed -i 's/^FROM obs$/FROM obs, secret_notes/' "$T/sql/neet.sql"
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "partner.neet +FAILED: $T/sql/neet.sql: .*permission denied.*secret_notes" "planned as the read-only analyst role"
	# Configuration errors, with the configuration's file:line.
	printf 'SELECT 1; SELECT 2\n' >"$T/sql/neet.sql"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
	assert_match "$ERR" "s.conf:[0-9]+: .*query_file $T/sql/neet.sql: it holds more than one statement" "two statements"
	: >"$T/sql/neet.sql"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
	assert_match "$ERR" "s.conf:[0-9]+: .*query_file $T/sql/neet.sql: it is empty" "empty file"
	rm "$T/sql/neet.sql"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
	assert_match "$ERR" "s.conf:[0-9]+: .*query_file $T/sql/neet.sql: cannot read it: No such file" "missing file"
	sed -i 's|query_file = "sql/neet.sql";|query_file = "sql/neet.sql"; query = "SELECT 1";|' "$T/s.conf"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
	assert_contains "$ERR" "give query or query_file, not both" "both"
	sed -i 's|query_file = "sql/neet.sql"; query = "SELECT 1";||' "$T/s.conf"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
	assert_contains "$ERR" "query or query_file is required" "neither"
}

test_failing_indicator_keeps_its_table() {
	setup
	local before
	before=$(dump neet)
	# A query that now returns a NULL dimension: the refresh fails, loudly,
	# and partner.neet is what it was.
	sed -i 's/SELECT area, month,/SELECT CASE WHEN area = '"'"'A'"'"' THEN NULL ELSE area END AS area, month,/' "$T/s.conf"
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_contains "$ERR" "indicator 'neet'" "names the indicator"
	assert_contains "$ERR" "dimension 'area' is NULL" "says why"
	assert_eq "$(dump neet)" "$before" "table unchanged"
	# A sync whose loads succeed but whose indicator fails exits 1.
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" sync
	assert_contains "$OUT" "obs.obs: read 126, loaded 126" "the load itself succeeded"
}

test_indicator_waits_for_its_table() {
	setup 5 "$LATER"
	assert_contains "$ERR" "indicator 'later'" "warned"
	assert_contains "$ERR" "not refreshed" "skipped"
	assert_eq "$(psql_q "SELECT to_regclass('partner.later') IS NULL")" "t" "no table"
	assert_eq "$(psql_q "SELECT count(*) FROM partner.neet")" "10" "the others are refreshed"
}

# Two runs ending together (the daemon runs connectors in parallel) refresh
# one after the other: both succeed and the table is whole.
test_concurrent_refreshes_serialise() {
	setup
	local want i
	want=$(dump neet)
	for i in 1 2 3; do
		"$SAMSPOR" -c "$T/s.conf" refresh >"$T/r1.out" 2>&1 &
		local p1=$!
		"$SAMSPOR" -c "$T/s.conf" refresh >"$T/r2.out" 2>&1 &
		local p2=$!
		wait "$p1" || fail "first refresh failed: $(cat "$T/r1.out")"
		wait "$p2" || fail "second refresh failed: $(cat "$T/r2.out")"
		assert_eq "$(dump neet)" "$want" "round $i: the same table"
	done
}

# The data dictionary documents each indicator with the configured
# threshold.
test_dictionary_documents_the_indicators() {
	setup 4
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" docs
	assert_contains "$OUT" "suppression threshold (here 4; default 5, never below 3)" "threshold"
	assert_contains "$OUT" "### partner.neet" "indicator heading"
	assert_contains "$OUT" "Suppressed (empty, neet_suppressed true) when 1 to 4" "count column"
	assert_contains "$OUT" "neet / people x 100, 1 decimals" "ratio column"
	assert_contains "$OUT" "Computed by samspor from this query over the warehouse: SELECT area, month" "the query"
}

# forget erases at once but leaves the partner tables to the next refresh,
# batched with the night's other changes, and says so.
test_forget_reaches_the_indicators_at_the_next_refresh() {
	setup
	local before
	before=$(dump neet)
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" forget --kind pid <<<P00001
	assert_contains "$OUT" "not recomputed now" "says the partner tables wait"
	assert_contains "$OUT" "next refresh" "says when they follow"
	assert_eq "$(psql_q "SELECT count(*) FROM warehouse.obs")" "125" "the person is erased at once"
	assert_eq "$(dump neet)" "$before" "partner.neet unchanged until the next refresh"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_eq "$(psql_q "SELECT people, neet FROM partner.neet WHERE area = 'A' AND month = '2025-01'" -F '|')" "19|9" "the erased person no longer counted"
}

test_layout_change_recreates_the_table() {
	setup
	sed -i 's/counts = ( { name = "people"; }, { name = "neet"; } );/counts = ( { name = "people"; }, { name = "neet"; }, { name = "school"; } );/;
	        s/AS neet FROM obs/AS neet, count(*) FILTER (WHERE status = '"'"'skole'"'"') AS school FROM obs/' "$T/s.conf"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_eq "$(psql_q "SELECT school FROM partner.neet WHERE area = 'A' AND month = '2025-01'")" "10" "new column filled"
}

test_partner_reads_indicators_not_rows() {
	setup
	echo 'pw-Partner-123' >"$T/pw" && chmod 600 "$T/pw"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" grant kommune --role partner --password-file "$T/pw"
	local login
	login=$(psql_q "SELECT rolname FROM pg_roles WHERE rolname LIKE 'org_kommune%' AND rolcanlogin")
	[[ -n $login ]] || fail "no partner login created"
	assert_eq "$(psql_q "SET ROLE $login; SELECT count(*) FROM partner.neet")" "10" "partner reads partner.neet"
	RC=0
	psql_q "SET ROLE $login; SELECT count(*) FROM warehouse.obs" >/dev/null 2>"$T/e" || RC=$?
	assert_eq "$RC" "1" "partner cannot read the rows"
	assert_contains "$(cat "$T/e")" "permission denied" "denied"
	# The releases are the administrator's: neither partners nor analysts.
	assert_eq "$(psql_q "SELECT count(*) > 0 FROM samspor.partner_release")" "t" "releases stored"
	local role
	for role in "$login" samspor_partner samspor_analyst; do
		RC=0
		psql_q "SET ROLE $role; SELECT count(*) FROM samspor.partner_release" >/dev/null 2>"$T/e" || RC=$?
		assert_eq "$RC" "1" "$role cannot read samspor.partner_release"
		assert_contains "$(cat "$T/e")" "permission denied" "$role denied"
	done
}

# set_query SQL: the neet indicator's query in $T/s.conf becomes SQL.
set_query() {
	python3 - "$T/s.conf" "$1" <<-'PY'
		import re, sys
		path, sql = sys.argv[1], sys.argv[2]
		text = open(path).read()
		text = re.sub(r'query = "[^\n]*";', lambda m: 'query = "%s";' % sql, text, count=1)
		open(path, "w").write(text)
	PY
}

NEET_SQL="SELECT area, month, count(*) AS people, count(*) FILTER (WHERE status = 'neet') AS neet FROM obs GROUP BY 1, 2"

# Issue 13, item 9: an indicator's query ran with the loader's rights, as
# many statements as it held.  Now `check` refuses a second statement or
# a query that closes samspor's subquery, with file:line; and a query that
# gets past that (one statement that writes) fails at refresh, read only,
# keeping nothing; it runs as samspor_analyst_all, which cannot read the
# bookkeeping.
test_indicator_query_is_one_read_only_statement() {
	setup
	local before line
	before=$(dump neet)
	set_query "$NEET_SQL; CREATE TABLE warehouse.pwned AS SELECT 1 AS n; GRANT ALL ON warehouse.pwned TO PUBLIC; SELECT 1"
	line=$(grep -n 'CREATE TABLE warehouse.pwned' "$T/s.conf" | cut -d: -f1)
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
	assert_contains "$ERR" "s.conf:$line: indicator 'neet': query: it holds more than one statement" "two statements refused at check"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" refresh
	# The reproduction of the audit: close samspor's subquery, then a
	# statement of one's own.
	set_query "SELECT 1 AS x) AS y; CREATE TABLE warehouse.pwned AS SELECT 1 AS n; SELECT * FROM ($NEET_SQL"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
	assert_contains "$ERR" "s.conf:$line: indicator 'neet': query: a ')' closes more than it opened" "escaping the subquery refused"
	# Quotes, comments and a final ';' are no statements.
	set_query "SELECT area, month /* ; ( */, count(*) AS people, count(*) FILTER (WHERE status = 'neet' OR status = ';)') AS neet FROM obs -- ;\\nGROUP BY 1, 2 ; "
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" check
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_eq "$(dump neet)" "$before" "a final ';' is fine"
	# Past check: one statement that writes (nextval: a sequence anyone
	# may use) is refused by the server.
	psql_q "CREATE SEQUENCE warehouse.pwned_seq; GRANT USAGE ON SEQUENCE warehouse.pwned_seq TO PUBLIC" >/dev/null
	set_query "SELECT area, month, count(*) AS people, count(*) FILTER (WHERE status = 'neet') AS neet FROM obs WHERE nextval('warehouse.pwned_seq') > 0 GROUP BY 1, 2"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" check
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_contains "$ERR" "cannot execute nextval() in a read-only transaction" "refused by the server"
	# ... also after switching the transaction back to read-write.
	set_query "SELECT area, month, count(*) AS people, count(*) FILTER (WHERE status = 'neet') AS neet FROM obs WHERE set_config('transaction_read_only', 'off', true) || nextval('warehouse.pwned_seq') <> '' GROUP BY 1, 2"
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_contains "$ERR" "cannot set transaction read-write mode" "cannot leave read only"
	assert_eq "$(psql_q "SELECT is_called FROM warehouse.pwned_seq")" "f" "the sequence never moved"
	# What a read-only transaction allows (a large object) is rolled back
	# with the query.
	set_query "SELECT area, month, count(*) AS people, count(*) FILTER (WHERE status = 'neet') AS neet FROM obs WHERE lo_from_bytea(0, 'pwned') > 0 GROUP BY 1, 2"
	"$SAMSPOR" -c "$T/s.conf" refresh >/dev/null 2>&1 || true
	assert_eq "$(psql_q "SELECT count(*) FROM pg_largeobject_metadata")" "0" "no large object kept"
	assert_eq "$(psql_q "SELECT to_regclass('warehouse.pwned') IS NULL")" "t" "no table created"
	# Not the loader's rights: the bookkeeping is not readable.
	set_query "SELECT area, month, count(*) AS people, count(*) FILTER (WHERE status = 'neet') AS neet FROM obs, (SELECT count(*) FROM samspor.sync_run) AS r GROUP BY 1, 2"
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_match "$ERR" "permission denied for (schema samspor|table sync_run)" "runs as a reader"
	assert_eq "$(dump neet)" "$before" "partner.neet unchanged"
}

# Two months relative to today's clock: M1 a year and more ago (closed with
# freeze_after 45d), M2 this month (its end is still ahead: open).
frozen_months() {
	M1=$(python3 -c 'import datetime as d; t = d.date.today() - d.timedelta(days=400); print(t.strftime("%Y-%m"))')
	M2=$(date +%Y-%m)
	BASELINE=$M1
	FREEZE=45d
	export M1 M2 BASELINE FREEZE
}

releases() { # releases PERIOD: release_no:final of each, in order
	psql_q "SELECT string_agg(release_no || ':' || CASE WHEN final THEN 't' ELSE 'f' END, ' ' ORDER BY release_no) FROM samspor.partner_release WHERE indicator = 'neet' AND period = '$1'"
}

test_closed_period_is_frozen_and_open_one_changes() {
	frozen_months
	setup
	assert_eq "$(psql_q "SELECT string_agg(DISTINCT month || '=' || final, ' ' ORDER BY month || '=' || final) FROM partner.neet")" "$M1=true $M2=false" "the closed month is final"
	assert_eq "$(releases "$M1")" "1:t" "the closed month stored once, final"
	assert_eq "$(releases "$M2")" "1:f" "the open month stored, not final"
	assert_eq "$(psql_q "SELECT share_change FROM partner.neet WHERE area = 'I alt' AND month = '$M2'")" "1.3" "change against the baseline"
	local frozen open
	frozen=$(psql_q "SELECT * FROM partner.neet WHERE month = '$M1' ORDER BY 1" -F '|')
	open=$(psql_q "SELECT * FROM partner.neet WHERE month = '$M2' ORDER BY 1" -F '|')
	# The warehouse changes under both months: late corrections, erasures.
	psql_q "DELETE FROM warehouse.obs WHERE area = 'C'; DELETE FROM warehouse.obs WHERE area = 'A' AND status = 'neet'" >/dev/null
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_contains "$ERR" "indicator neet: 1 periods final (published as released), 1 new releases stored" "logged"
	assert_eq "$(psql_q "SELECT * FROM partner.neet WHERE month = '$M1' ORDER BY 1" -F '|')" "$frozen" "the final month is published verbatim"
	[[ $(psql_q "SELECT * FROM partner.neet WHERE month = '$M2' ORDER BY 1" -F '|') != "$open" ]] ||
		fail "the open month did not change"
	assert_eq "$(psql_q "SELECT count(*) FROM partner.neet WHERE month = '$M2' AND area = 'C'")" "0" "area C gone from the open month"
	# I alt in M2 is now 23 people, 6 NEET: 26.1, against the published
	# baseline 29.6: -3.5 (the baseline recomputed without C and A's NEET
	# would be 9.7, and the change 16.4).
	assert_eq "$(psql_q "SELECT people, neet, share, share_change FROM partner.neet WHERE area = 'I alt' AND month = '$M2'" -F '|')" "23|6|26.1|-3.5" "open month against the frozen baseline"
	assert_eq "$(releases "$M1")" "1:t" "no new release of the final month"
	assert_eq "$(releases "$M2")" "1:f 2:f" "a new release of the open month"
	# Rows put back into the warehouse do not change the final month either.
	psql_q "INSERT INTO warehouse.obs (person, area, month, status, _run_id) SELECT gen_random_uuid(), 'B', '$M1', 'neet', 0 FROM generate_series(1, 40)" >/dev/null
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_eq "$(psql_q "SELECT * FROM partner.neet WHERE month = '$M1' ORDER BY 1" -F '|')" "$frozen" "still verbatim after an insert"
	# The report and the dictionary say which months are final.
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" report
	assert_contains "$OUT" "Final up to and including $M1; later periods may still change." "report says what is final"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" docs
	assert_contains "$OUT" "Final up to and including $M1; later periods may still change." "dictionary says what is final"
}

test_identical_refreshes_store_no_release() {
	frozen_months
	setup
	local n
	n=$(psql_q "SELECT count(*) FROM samspor.partner_release")
	assert_eq "$n" "2" "one release per month"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.partner_release")" "$n" "nothing new stored"
	assert_contains "$ERR" "indicator neet: 1 periods final (published as released), 0 new releases stored" "nothing new logged"
}

test_layout_change_of_a_frozen_indicator_is_refused() {
	frozen_months
	setup
	local before
	before=$(dump neet)
	sed -i 's/counts = ( { name = "people"; }, { name = "neet"; } );/counts = ( { name = "people"; }, { name = "neet"; }, { name = "school"; } );/;
	        s/AS neet FROM obs/AS neet, count(*) FILTER (WHERE status = '"'"'skole'"'"') AS school FROM obs/' "$T/s.conf"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_contains "$ERR" "indicator 'neet': its columns changed since period $M1" "names the indicator and the period"
	assert_contains "$ERR" "DELETE FROM samspor.partner_release WHERE indicator = 'neet'" "says what to do"
	assert_eq "$(dump neet)" "$before" "table unchanged"
	psql_q "DELETE FROM samspor.partner_release WHERE indicator = 'neet'" >/dev/null
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" refresh
	assert_eq "$(psql_q "SELECT school, final FROM partner.neet WHERE area = 'A' AND month = '$M1'" -F '|')" "10|t" "republished, final again"
}

run_tests
