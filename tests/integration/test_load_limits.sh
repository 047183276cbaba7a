#!/usr/bin/env bash
# Bad input a real night brings (issue 13): duplicates of the declared key
# within one load, handled by on_duplicate in every mode; and a source of
# mostly bad rows, whose rejects are stored only up to max_rejects_stored
# and whose reading stops once the reject ratio cannot be met.  Data is
# generated synthetic.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

GEN=$SP_TESTDIR/gen_csv.py
pg_start

# conf MODE [KEY] [EXTRA_STREAM_OPTS]: $T/s.conf loading $T/in/unge_*.csv
# into table youth_status.
conf() {
	local mode=$1 key=${2:-} extra=${3:-}
	mkdir -p "$T/in"
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	{
		cat <<-EOF
			warehouse: { conninfo = "$SP_CONNINFO"; };
			pseudonym: { key_file = "$T/key"; };
			connectors = ( { name = "unge"; plugin = "csv";
			  source = { url = "$T/in/unge_*.csv"; encoding = "windows-1252"; files = "all"; };
			  streams = ( { table = "youth_status"; mode = "$mode";
		EOF
		[[ -n $key ]] && echo "    key = [$key];"
		echo "    $extra"
		cat <<-'EOF'
			    columns = (
			      { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
			      { name = "status"; from = "status"; type = "text"; rule = "keep"; },
			      { name = "status_date"; from = "statusdato"; type = "date"; format = "%d-%m-%Y"; },
			      { name = "benefit_dkk"; from = "ydelse_kr"; type = "numeric"; decimal_comma = true; }
			    ); } ); } );
		EOF
	} >"$T/s.conf"
}

KEY='"person", "status_date", "status"'

gen() { # gen ROWS SEED [BADRATE] [FILE] [ARGS...]
	python3 "$GEN" --rows "$1" --seed "$2" --bad-rate "${3:-0}" --out "${4:-$T/in/unge_1.csv}" "${@:5}"
}

# dup FILE LINE [BENEFIT]: append a copy of data line LINE (1 = header) of
# FILE to FILE, its benefit changed to BENEFIT when given.
dup() {
	python3 - "$@" <<-'EOF'
		import io, sys
		p, n = sys.argv[1], int(sys.argv[2])
		lines = io.open(p, encoding="windows-1252", newline="").read().split("\r\n")
		if lines[-1] == "":
		    lines.pop()
		f = lines[n - 1].split(";")
		if len(sys.argv) > 3:
		    f[7] = sys.argv[3]
		lines.append(";".join(f))
		io.open(p, "w", encoding="windows-1252", newline="").write("\r\n".join(lines) + "\r\n")
	EOF
}

sync() { assert_exit "$1" "$SAMSPOR" -c "$T/s.conf" sync "${@:2}"; }

reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
	rm -rf "$T/in"
}

# A duplicate is one duplicate_key reject naming both rows' positions and
# no value, the first row loaded: the same in full_refresh, append and
# incremental_dedup (its first load and a later, staged one).
test_duplicate_key_rejected_in_every_mode() {
	local mode
	for mode in full_refresh append incremental_dedup; do
		reset_db
		conf "$mode" "$KEY" "max_reject_ratio = 0.01;"
		gen 300 11
		dup "$T/in/unge_1.csv" 6 "9999,00"
		sync 0
		assert_match "$OUT" "unge.youth_status: read 301, loaded 300, rejected 1, .*duplicate keys 1 \\(on_duplicate = reject\\)" "$mode: summary"
		assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status')" 300 "$mode: one row per key"
		assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE benefit_dkk = 9999")" 0 "$mode: the first row kept"
		assert_eq "$(psql_q "SELECT position || '|' || reason || '|' || message FROM samspor.rejects")" \
			"unge_1.csv:302|duplicate_key|same key (person, status_date, status) as the row at unge_1.csv:6, which was loaded" "$mode: reject names both positions"
		assert_eq "$(psql_q 'SELECT rows_rejected FROM samspor.sync_run')" 1 "$mode: counted in sync_run"
	done
	# A later incremental_dedup load goes through the staging table.
	gen 300 12 0 "$T/in/unge_1.csv"
	dup "$T/in/unge_1.csv" 11
	sync 0
	assert_match "$OUT" "rejected 1, .*duplicate keys 1" "staged load: summary"
	assert_eq "$(psql_q "SELECT position FROM samspor.rejects WHERE run_id = (SELECT max(run_id) FROM samspor.sync_run)")" "unge_1.csv:302" "staged load: position"
}

test_duplicate_key_counts_against_max_reject_ratio() {
	reset_db
	conf full_refresh "$KEY"
	gen 100 13
	dup "$T/in/unge_1.csv" 2
	sync 1
	assert_contains "$OUT" "1 of 101 rows rejected" "the default ratio 0 refuses it"
	assert_not_contains "$OUT$ERR" '"..."' "no hidden constraint name"
	assert_eq "$(psql_q "SELECT reason FROM samspor.rejects")" duplicate_key "recorded with the failed run"
}

test_on_duplicate_first_and_last() {
	local mode
	for mode in full_refresh incremental_dedup; do
		reset_db
		conf "$mode" "$KEY" 'on_duplicate = "last";'
		gen 50 14
		dup "$T/in/unge_1.csv" 3 "7777,00"
		sync 0
		assert_match "$OUT" "read 51, loaded 50, rejected 0, skipped 1, .*duplicate keys 1 \\(on_duplicate = last\\)" "$mode last: summary"
		assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE benefit_dkk = 7777")" 1 "$mode last: the last row kept"
		assert_eq "$(psql_q 'SELECT count(*) FROM samspor.rejects')" 0 "$mode last: no reject"
		reset_db
		conf "$mode" "$KEY" 'on_duplicate = "first";'
		gen 50 14
		dup "$T/in/unge_1.csv" 3 "7777,00"
		sync 0
		assert_match "$OUT" "loaded 50, rejected 0, skipped 1" "$mode first: summary"
		assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE benefit_dkk = 7777")" 0 "$mode first: the first row kept"
	done
}

# A row whose key an earlier append loaded fails with a sentence naming the
# table and constraint, never a quoted "...".
test_append_key_already_loaded_is_a_clear_error() {
	reset_db
	conf append "$KEY"
	gen 20 15
	sync 0
	head -n 3 "$T/in/unge_1.csv" >"$T/in/unge_2.csv"
	sync 1
	assert_contains "$OUT" "a row has the same key as a row already in table warehouse.youth_status (unique constraint youth_status_pkey)" "clear message"
	assert_not_contains "$OUT$ERR" '"..."' "no hidden constraint name"
}

# The issue's measure: a 300,000-row export with one repeated row.
test_large_export_with_one_repeated_row() {
	reset_db
	conf full_refresh "$KEY" "max_reject_ratio = 0.001;"
	gen 300000 16
	dup "$T/in/unge_1.csv" 150000
	sync 0
	assert_match "$OUT" "read 300001, loaded 300000, rejected 1," "1 rejected"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status')" 300000 "loaded"
}

# Mostly bad rows: at most max_rejects_stored stored, the true count in
# sync_run, and reading stops once the ratio cannot be met.
test_rejects_stored_are_bounded() {
	reset_db
	conf full_refresh "" "max_reject_ratio = 1; max_rejects_stored = 50;"
	gen 5000 17 0.9 "$T/in/unge_1.csv" --stats "$T/stats.json"
	local bad
	bad=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(v for k, v in d.items() if k.startswith("bad")))' "$T/stats.json" 2>/dev/null || true)
	sync 0
	assert_eq "$(psql_q 'SELECT count(*) FROM samspor.rejects')" 50 "50 stored"
	local n
	n=$(psql_q 'SELECT rows_rejected FROM samspor.sync_run')
	((n > 4000)) || fail "rows_rejected $n is not the true count"
	assert_match "$OUT" "read 5000, loaded $((5000 - n)), rejected $n," "summary has the true count"
	[[ -z $bad || $bad == "$n" ]] || fail "rows_rejected $n, generator says $bad"
}

test_reading_stops_when_the_ratio_cannot_be_met() {
	reset_db
	conf full_refresh "" "max_reject_ratio = 0.5; max_rejects_stored = 100;"
	gen 20000 18 0.9
	sync 1
	assert_contains "$OUT" "more than max_rejects_stored (100): reading stopped at unge_1.csv:" "stopped early, said why"
	assert_eq "$(psql_q 'SELECT count(*) FROM samspor.rejects')" 100 "100 stored"
	assert_eq "$(psql_q 'SELECT rows_rejected FROM samspor.sync_run')" 101 "counted up to the stop"
	local read
	read=$(psql_q 'SELECT rows_read FROM samspor.sync_run')
	((read < 200)) || fail "read $read rows, expected to stop early"
	assert_eq "$(psql_q "SELECT status FROM samspor.sync_run")" failed "run failed"
	# Set-up (the table, its grants) runs before the load and outside it, so
	# that connectors loading at once do not collide on the catalog: the
	# empty table stays, no row of the failed load does.
	assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status")" 0 "nothing loaded"
}

# Any single ASCII character is a delimiter ("|" was refused at sync and
# passed check before).
test_pipe_delimiter_loads() {
	reset_db
	conf full_refresh "$KEY"
	sed -i 's/encoding = "windows-1252";/encoding = "windows-1252"; delimiter = "|";/' "$T/s.conf"
	gen 40 19
	sed -i 's/;/|/g' "$T/in/unge_1.csv"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" check
	sync 0
	assert_match "$OUT" "read 40, loaded 40, rejected 0" "loaded with |"
}

run_tests
