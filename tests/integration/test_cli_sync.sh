#!/usr/bin/env bash
# The commands around a sync that IT staff use while writing a connector,
# against a real PostgreSQL: samspor sync --dry-run (the real load, rolled
# back), samspor rejects (counts per reason and column, never a value) and
# the per-reason counts of the sync summary.  Data is
# generated synthetic.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

GEN=$SP_TESTDIR/gen_csv.py
pg_start

conf() { # conf [MODE]
	local mode=${1:-full_refresh}
	mkdir -p "$T/in"
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = ( { name = "unge"; plugin = "csv";
		  source = { url = "$T/in/unge_*.csv"; encoding = "windows-1252"; };
		  streams = ( { table = "youth_status"; mode = "$mode";
		    max_reject_ratio = 0.5;
		    columns = (
		      { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
		      { name = "status"; from = "status"; type = "text"; },
		      { name = "status_date"; from = "statusdato"; type = "date"; format = "%d-%m-%Y"; },
		      { name = "benefit_dkk"; from = "ydelse_kr"; type = "numeric"; decimal_comma = true; }
		    ); } ); } );
	EOF
}

gen() { # gen ROWS SEED BADRATE [FILE]
	python3 "$GEN" --rows "$1" --seed "$2" --bad-rate "$3" --out "${4:-$T/in/unge_1.csv}" \
		--print-identifiers "$T/ids.new"
	cat "$T/ids.new" >>"$T/ids.txt"
}

reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
}

# No identifier of the generated file appears in $1.
assert_no_identifier() {
	local hits
	hits=$(grep -F -o -f "$T/ids.txt" <<<"$1" | head -3 || true)
	assert_eq "$hits" "" "$2: no identifier printed"
}

test_rejects_counts_per_reason_and_column() {
	reset_db
	conf
	gen 400 7 0.1
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync unge
	local summary=$OUT log=$ERR
	local run
	run=$(psql_q "SELECT max(run_id) FROM samspor.sync_run")
	# The summary counts per reason, and they add up to the stored rows.
	local r n
	while IFS='|' read -r r n; do
		assert_contains "$summary" "$r $n" "summary counts reason $r"
	done < <(psql_q "SELECT reason, count(*) FROM samspor.rejects GROUP BY 1")
	assert_contains "$summary" "rejected by reason:" "summary has the reasons"
	# The plugin no longer says "0 rejected" while the run rejected rows.
	local plugin_line
	plugin_line=$(grep "csv: read" <<<"$log" || true)
	assert_contains "$plugin_line" "malformed" "plugin counts what it could not parse"
	assert_not_contains "$plugin_line" "rejected" "plugin line does not count rejects"

	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" rejects
	local latest=$OUT
	assert_contains "$latest" "unge.youth_status run $run" "latest run of the stream"
	while IFS='|' read -r r c n; do
		assert_match "$latest" "  $r +$c +$n  " "row for $r/$c"
	done < <(psql_q "SELECT reason, coalesce(column_name, '-'), count(*) FROM samspor.rejects GROUP BY 1, 2")
	assert_match "$latest" "unge_1.csv:[0-9]+" "first positions"
	assert_no_identifier "$latest" "rejects"
	assert_no_identifier "$summary$log" "sync"

	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" rejects "$run"
	assert_eq "$OUT" "$latest" "by run id"
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" rejects 999999
	assert_contains "$ERR" "no run 999999" "unknown run"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" rejects last
	assert_contains "$ERR" "RUN must be a run id" "bad run"
}

# Everything the warehouse keeps of a run, as one line.
kept() {
	local rows=absent
	[[ $(psql_q "SELECT to_regclass('warehouse.youth_status') IS NOT NULL") == t ]] &&
		rows=$(psql_q "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM warehouse.youth_status t")
	psql_q "SELECT (SELECT count(*) FROM samspor.sync_run) || ' runs, ' ||
	  (SELECT count(*) FROM samspor.sync_state) || ' states, ' ||
	  (SELECT count(*) FROM samspor.rejects) || ' rejects, ' ||
	  coalesce((SELECT string_agg(coalesce(cursor_value, '') || '/' || coalesce(plugin_state, ''), ';') FROM samspor.sync_state), '')"
	echo "table $rows"
}

test_dry_run_keeps_nothing_and_the_real_sync_loads_the_same() {
	reset_db
	conf append
	gen 300 11 0.05
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync --dry-run unge
	local dry=$OUT
	assert_match "$dry" "unge.youth_status: dry run: would read 300, load [0-9]+, reject [0-9]+, skip 0, delete 0 \(.* rolled back\); rejected by reason: " "dry-run summary"
	assert_no_identifier "$dry$ERR" "dry run"
	local before
	before=$(kept)
	assert_eq "$before" "0 runs, 0 states, 0 rejects, 
table absent" "nothing kept, not even the new table"
	local load reject
	load=$(sed -nE 's/.*would read 300, load ([0-9]+), reject ([0-9]+),.*/\1/p' <<<"$dry")
	reject=$(sed -nE 's/.*would read 300, load ([0-9]+), reject ([0-9]+),.*/\2/p' <<<"$dry")
	[[ $reject -gt 0 ]] || fail "no rejects in the dry run"

	# The real sync loads exactly what the dry run said.
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync unge
	assert_match "$OUT" "read 300, loaded $load, rejected $reject," "the real sync loads the same"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status')" "$load" "rows"

	# With a table, a run and a loaded file: a dry run of a new file leaves
	# all of them as they were (the file is not recorded as loaded).
	gen 120 12 0 "$T/in/unge_2.csv"
	before=$(kept)
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync --dry-run
	assert_contains "$OUT" "dry run: would read 120, load 120, reject 0, skip 0" "only the new file"
	assert_eq "$(kept)" "$before" "table, sync_run, sync_state and rejects unchanged"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_contains "$OUT" "read 120, loaded 120, rejected 0" "the real sync loads the new file"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status')" "$((load + 120))" "rows after"
}

test_rejects_before_any_sync() {
	reset_db
	conf
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" rejects
	assert_contains "$ERR" "no sync has run" "empty warehouse"
}

run_tests
