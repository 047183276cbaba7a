#!/usr/bin/env bash
# Change-aware loads (issue 17): keyed full_refresh and incremental_dedup
# streams keep a digest of each row and send only new and changed rows.
# Each case checks the table against what a load from empty gives (today's
# result): a changed value, a vanished key, a key that reappears, duplicate
# keys of which one is unchanged, a forgotten person, a key rotation, and
# kill -9 in the middle; and that an unchanged night (a re-export in another
# order) writes no row at all.  Data is generated synthetic.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

GEN=$SP_TESTDIR/gen_csv.py
pg_start

KEY='"person", "status_date", "status"'

conf() { # conf MODE [TABLE]; the key file is $KEYFILE (default $T/key)
	local mode=$1 table=${2:-youth_status} key=${KEYFILE:-$T/key}
	mkdir -p "$T/in"
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/$table.conf" <<-EOF
		${ROOT_EXTRA:-}
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$key"; };
		connectors = ( { name = "$table"; plugin = "csv";
		  source = { url = "$T/in/$table.csv"; encoding = "windows-1252"; };
		  streams = ( { table = "$table"; mode = "$mode"; key = [$KEY];
		    max_reject_ratio = 0.05;
		    columns = (
		      { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
		      { name = "birth_year"; from = "cpr"; rule = "cpr_birth_year"; },
		      { name = "gender"; from = "cpr"; rule = "cpr_gender"; },
		      { name = "status"; from = "status"; rule = "keep"; },
		      { name = "status_date"; from = "statusdato"; type = "date"; format = "%d-%m-%Y"; },
		      { name = "institution"; from = "institution"; rule = "keep"; },
		      { name = "benefit_dkk"; from = "ydelse_kr"; type = "numeric"; decimal_comma = true; }${EXTRA_COLS:-}
		    ); } ); } );
	EOF
}

reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
}

sync() { assert_exit "$1" "$SAMSPOR" -c "$T/${3:-youth_status}.conf" sync "${@:4}"; }

# The declared values of a table, as one digest.
values() { psql_q "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM (SELECT person, birth_year, gender, status, status_date, institution, benefit_dkk FROM warehouse.${1:-youth_status}) t"; }
# Where every row version is: changes when any row is written.
versions() { psql_q "SELECT md5(string_agg(ctid::text || xmin::text, ',' ORDER BY ctid)) FROM warehouse.${1:-youth_status}"; }

# What a load from empty of the current file gives, in table fresh.
fresh() { # fresh MODE
	cp "$T/in/youth_status.csv" "$T/in/fresh.csv"
	conf "$1" fresh
	psql_q "DROP TABLE IF EXISTS warehouse.fresh" >/dev/null
	sync 0 "" fresh
	values fresh
}

# edit PYTHON: run PYTHON on rows (a list of lists, header first) of the
# current file, then write it back.
edit() {
	python3 - "$T/in/youth_status.csv" "$1" <<-'EOF'
		import csv, io, random, sys
		p = sys.argv[1]
		rows = list(csv.reader(io.open(p, encoding="windows-1252", newline=""), delimiter=";"))
		exec(sys.argv[2])
		with io.open(p, "w", encoding="windows-1252", newline="") as f:
		    csv.writer(f, delimiter=";", lineterminator="\r\n").writerows(rows)
	EOF
}

gen() { python3 "$GEN" --rows "$1" --seed "$2" --out "$T/in/youth_status.csv"; }

shuffle='random.seed(5); body = rows[1:]; random.shuffle(body); rows[1:] = body'

test_unchanged_night_writes_no_row() {
	local mode
	for mode in full_refresh incremental_dedup; do
		reset_db
		conf "$mode"
		gen 400 1
		sync 0
		local v0 x0
		v0=$(values)
		x0=$(versions)
		edit "$shuffle" # a re-export: the same rows in another order
		sync 0
		assert_eq "$(versions)" "$x0" "$mode: no row written on an unchanged night"
		assert_eq "$(values)" "$v0" "$mode: values unchanged"
		assert_eq "$(psql_q "SELECT n_tup_ins || ' ' || n_tup_upd || ' ' || n_tup_del FROM pg_stat_user_tables WHERE relid = 'warehouse.youth_status'::regclass")" "400 0 0" "$mode: only the first load's inserts"
		if [[ $mode == full_refresh ]]; then
			assert_match "$OUT" "read 400, loaded 400, rejected 0, skipped 0" "$mode: summary as before"
		else
			assert_match "$OUT" "read 400, loaded 0, rejected 0, skipped 400" "$mode: summary as before"
		fi
	done
}

test_changed_value_in_each_column_is_loaded() {
	local mode col
	for mode in full_refresh incremental_dedup; do
		reset_db
		conf "$mode"
		gen 300 2
		sync 0
		# A changed amount, a changed institution, a changed status (a key
		# column: a new key, and in a full export the old one vanishes), a
		# changed date (likewise) and a changed CPR (person, birth year and
		# gender at once).
		edit 'rows[3][7] = "123,45"; rows[5][6] = "Ændret institution"; rows[7][4] = "ledig" if rows[7][4] != "ledig" else "andet"; rows[9][5] = "01-01-2029"; rows[11][0] = "2812104321"'
		sync 0
		local want
		want=$(fresh "$mode")
		if [[ $mode == full_refresh ]]; then
			assert_eq "$(values)" "$want" "$mode: the table is what a load from empty gives"
		else
			assert_match "$OUT" "loaded 5," "$mode: five rows loaded"
			assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status")" 303 "$mode: the old keys kept"
			assert_eq "$(psql_q "SELECT count(*) FROM (SELECT person, birth_year, gender, status, status_date, institution, benefit_dkk FROM warehouse.fresh EXCEPT SELECT person, birth_year, gender, status, status_date, institution, benefit_dkk FROM warehouse.youth_status) x")" 0 "$mode: every row of the file is in the table as it is"
		fi
		assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE benefit_dkk = 123.45")" 1 "$mode: the changed amount"
		assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE institution = 'Ændret institution'")" 1 "$mode: the changed text"
	done
}

test_vanished_and_reappearing_keys() {
	local mode
	for mode in full_refresh incremental_dedup; do
		reset_db
		conf "$mode"
		gen 200 3
		sync 0
		local v0
		v0=$(values)
		cp "$T/in/youth_status.csv" "$T/all.csv"
		edit 'del rows[10:20]' # ten rows vanish
		sync 0
		if [[ $mode == full_refresh ]]; then
			assert_eq "$(values)" "$(fresh "$mode")" "$mode: vanished rows deleted"
			assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status")" 190 "$mode: 190 left"
		else
			assert_eq "$(values)" "$v0" "$mode: vanished rows kept"
		fi
		cp "$T/all.csv" "$T/in/youth_status.csv" # and come back
		edit "$shuffle"
		sync 0
		assert_eq "$(values)" "$v0" "$mode: reappearing rows are back"
	done
}

# Two rows of one key in a load, the first unchanged since the last night:
# on_duplicate chooses between them in the file's order, as in a load from
# empty, and the reject names both positions.
test_duplicate_key_with_an_unchanged_row() {
	local mode
	for mode in full_refresh incremental_dedup; do
		reset_db
		conf "$mode"
		gen 100 4
		sync 0
		local v0
		v0=$(values)
		edit 'r = list(rows[2]); r[7] = "999,00"; rows.append(r)' # row 2's key again, changed
		sync 0
		assert_match "$OUT" "duplicate keys 1 \\(on_duplicate = reject\\)" "$mode: the duplicate found"
		assert_eq "$(values)" "$v0" "$mode: the first row kept"
		assert_eq "$(psql_q "SELECT position || ' ' || reason || ' ' || message FROM samspor.rejects WHERE reason = 'duplicate_key'")" \
			"youth_status.csv:102 duplicate_key same key (person, status_date, status) as the row at youth_status.csv:3, which was loaded" "$mode: the reject names both rows"
		# The same row twice, both unchanged.
		edit 'rows[-1] = list(rows[2])'
		sync 0
		assert_match "$OUT" "duplicate keys 1 " "$mode: an exact duplicate found"
		assert_eq "$(values)" "$v0" "$mode: table as before"
		sed -i 's/mode = "'"$mode"'";/mode = "'"$mode"'"; on_duplicate = "last";/' "$T/youth_status.conf"
		edit 'rows[-1][7] = "999,00"'
		sync 0
		assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE benefit_dkk = 999")" 1 "$mode: last: the later row wins"
	done
}

test_forgotten_person_stays_out() {
	local mode
	for mode in full_refresh incremental_dedup; do
		reset_db
		conf "$mode"
		gen 100 5
		sync 0
		local cpr
		cpr=$(sed -n 2p "$T/in/youth_status.csv" | cut -d';' -f1)
		assert_exit 0 bash -c "echo '$cpr' | '$SAMSPOR' -c '$T/youth_status.conf' forget --kind cpr"
		local v1 x1 pn
		v1=$(values)
		x1=$(versions)
		pn=$(echo "$cpr" | "$SAMSPOR" -c "$T/youth_status.conf" pseudonym --kind cpr)
		sync 0
		assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE person = '$pn'")" 0 "$mode: the forgotten person not loaded again"
		assert_eq "$(values)" "$v1" "$mode: the others as they were"
		assert_eq "$(versions)" "$x1" "$mode: and not rewritten"
	done
}

test_rekey_then_unchanged_night() {
	local mode
	for mode in full_refresh incremental_dedup; do
		reset_db
		rm -f "$T/key" "$T/key2"
		KEYFILE=
		conf "$mode"
		"$SAMSPOR" keygen "$T/key2" 2>/dev/null
		gen 150 6
		sync 0
		assert_exit 0 "$SAMSPOR" -c "$T/youth_status.conf" rekey --new-key "$T/key2"
		KEYFILE=$T/key2
		conf "$mode"
		local v1 x1
		v1=$(values)
		x1=$(versions)
		assert_eq "$v1" "$(fresh "$mode")" "$mode: the rotated table is what a load under the new key gives"
		edit "$shuffle"
		sync 0
		assert_eq "$(versions)" "$x1" "$mode: the digests follow the rotation: nothing rewritten"
		edit 'rows[4][7] = "4,00"'
		sync 0
		assert_eq "$(values)" "$(fresh "$mode")" "$mode: a change after the rotation is loaded"
	done
	KEYFILE=
}

# A row is compared by the source values it is made from, under a
# fingerprint of what the rules make of them: a map whose entries change
# must reach rows whose source did not.
test_changed_map_reaches_unchanged_rows() {
	local mode n
	python3 "$GEN" --rows 1 --out /dev/null --areas-map "$T/areas.csv"
	ROOT_EXTRA="maps: { areas = { file = \"$T/areas.csv\"; delimiter = \",\"; extract = \"^([^,]+)\"; default = \"ukendt\"; }; };"
	EXTRA_COLS=', { name = "area"; from = "adresse"; rule = "lookup"; map = "areas"; }'
	for mode in full_refresh incremental_dedup; do
		reset_db
		python3 "$GEN" --rows 1 --out /dev/null --areas-map "$T/areas.csv"
		conf "$mode"
		gen 300 9
		sync 0
		n=$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE area = 'Urbanplanen'")
		[[ $n -gt 0 ]] || fail "$mode: no row in Urbanplanen to start with"
		sed -i 's/,Urbanplanen$/,Urbanplanen Nord/' "$T/areas.csv"
		sync 0
		assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE area = 'Urbanplanen Nord'")" "$n" "$mode: the renamed area on every row of it"
		assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE area = 'Urbanplanen'")" 0 "$mode: the old name gone"
		assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status")" 300 "$mode: no row added or lost"
	done
	ROOT_EXTRA= EXTRA_COLS=
}

# Rows without a digest (loaded before digests were kept): the table's
# digests arrive with NULLs among them; those rows are sent, get their
# digest, keep their values, and the next unchanged night writes nothing.
test_rows_without_a_digest_get_one() {
	local mode v0 x0
	for mode in full_refresh incremental_dedup; do
		reset_db
		conf "$mode"
		gen 300 12
		sync 0
		v0=$(values)
		psql_q "UPDATE warehouse.youth_status SET _digest = NULL WHERE ctid IN (SELECT ctid FROM warehouse.youth_status LIMIT 100)" >/dev/null
		assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE _digest IS NULL")" 100 "$mode: rows without a digest"
		sync 0
		assert_eq "$(values)" "$v0" "$mode: the same values"
		assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE _digest IS NULL")" 0 "$mode: every row has its digest"
		x0=$(versions)
		sync 0
		assert_eq "$(versions)" "$x0" "$mode: then an unchanged night writes nothing"
	done
}

# What shapes no stored value — a description, the retention, the reject
# limits, row-level access — is not in the stream's fingerprint: changing
# it (as contrib/demo.sh widens the retention) rewrites no row, and every
# row keeps its digest.
test_settings_that_shape_no_value_rewrite_no_row() {
	local mode x0 d0
	for mode in full_refresh incremental_dedup; do
		reset_db
		conf "$mode"
		gen 200 11
		sync 0
		x0=$(versions)
		d0=$(psql_q "SELECT md5(string_agg(_digest::text, ',' ORDER BY _digest)) FROM warehouse.youth_status")
		sed -i -e 's/max_reject_ratio = 0.05;/max_reject_ratio = 0.2; max_rejects_stored = 50; description = "Statusser"; retention = "100y"; retention_column = "status_date"; restrict_by = "institution";/' \
			-e 's/{ name = "institution"; from = "institution"; rule = "keep"; }/{ name = "institution"; from = "institution"; rule = "keep"; description = "Institution"; }/' "$T/youth_status.conf"
		assert_contains "$(cat "$T/youth_status.conf")" 'description = "Institution"' "$mode: the column's description set"
		assert_contains "$(cat "$T/youth_status.conf")" 'restrict_by = "institution"' "$mode: the stream's options set"
		sync 0
		assert_eq "$(versions)" "$x0" "$mode: no row written"
		assert_eq "$(psql_q "SELECT md5(string_agg(_digest::text, ',' ORDER BY _digest)) FROM warehouse.youth_status")" "$d0" "$mode: every row keeps its digest"
		assert_eq "$(psql_q "SELECT obj_description('warehouse.youth_status'::regclass) LIKE 'Statusser%'")" t "$mode: the new description applied"
	done
}

# An age at the run date changes with the date while its source row does
# not.  Two time zones 25 hours apart always have different dates: a
# person turning 20 today in the first is 19 in the second.
test_age_at_run_date_follows_the_date() {
	local mode cpr pn
	cpr=$(python3 -c '
import datetime, zoneinfo
d = datetime.datetime.now(zoneinfo.ZoneInfo("Pacific/Kiritimati")).date()
try:
    b = d.replace(year=d.year - 20)
except ValueError:
    b = d.replace(year=d.year - 20, day=28)
print(b.strftime("%d%m%y") + "4321")')
	EXTRA_COLS=', { name = "age"; from = "cpr"; rule = "age"; }'
	for mode in full_refresh incremental_dedup; do
		reset_db
		ROOT_EXTRA='daemon: { timezone = "Pacific/Kiritimati"; };'
		conf "$mode"
		gen 50 10
		edit "r = list(rows[1]); r[0] = '$cpr'; rows.append(r)"
		sync 0
		pn=$(echo "$cpr" | "$SAMSPOR" -c "$T/youth_status.conf" pseudonym --kind cpr)
		assert_eq "$(psql_q "SELECT age FROM warehouse.youth_status WHERE person = '$pn'")" 20 "$mode: 20 on the day"
		ROOT_EXTRA='daemon: { timezone = "Pacific/Pago_Pago"; };'
		conf "$mode"
		sync 0
		assert_eq "$(psql_q "SELECT age FROM warehouse.youth_status WHERE person = '$pn'")" 19 "$mode: 19 a day or two before, from the same row"
	done
	ROOT_EXTRA= EXTRA_COLS=
}

test_kill9_mid_change_aware_load() {
	reset_db
	conf full_refresh
	gen 300 7
	sync 0
	local v0
	v0=$(values)
	gen 600000 8
	"$SAMSPOR" -c "$T/youth_status.conf" sync >"$T/bg.out" 2>&1 &
	local bg=$! i pid=
	for i in $(seq 1 200); do
		pid=$(psql_q "SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY samspor_stage%FROM STDIN%' LIMIT 1")
		[[ -n $pid ]] && break
		sleep 0.05
	done
	[[ -n $pid ]] || fail "the load never reached COPY"
	kill -9 "$bg"
	wait "$bg" 2>/dev/null || true
	sleep 0.5
	assert_eq "$(values)" "$v0" "the table as it was"
	sync 0
	assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status")" 600000 "the next sync completes"
}

run_tests
