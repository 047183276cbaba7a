#!/usr/bin/env bash
# samspor sync against a real PostgreSQL: the three modes, cursors and
# their boundary rows, rejects and max_reject_ratio, schema management,
# retention, forgotten people, the key check, advisory locking, and the
# faults — kill -9, a PostgreSQL restart and a dropped connection in the
# middle of a load — after each of which the warehouse is exactly as it was
# and the next sync completes.  Data is generated synthetic.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

GEN=$SP_TESTDIR/gen_csv.py
pg_start

# conf MODE [KEY] [CURSOR] [EXTRA_STREAM_OPTS]: $T/s.conf loading
# $T/in/unge_*.csv into table youth_status.
conf() {
	local mode=$1 key=${2:-} cursor=${3:-} extra=${4:-}
	mkdir -p "$T/in"
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	{
		cat <<-EOF
			warehouse: { conninfo = "$SP_CONNINFO"; };
			pseudonym: { key_file = "$T/key"; };
			connectors = ( { name = "unge"; plugin = "csv";
			  source = { url = "$T/in/unge_*.csv"; encoding = "windows-1252"; };
			  streams = ( { table = "youth_status"; mode = "$mode";
		EOF
		[[ -n $key ]] && echo "    key = [$key];"
		[[ -n $cursor ]] && echo "    cursor = \"$cursor\";"
		echo "    $extra"
		cat <<-'EOF'
			    description = "Status of young people";
			    columns = (
			      { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
			      { name = "birth_year"; from = "cpr"; rule = "cpr_birth_year"; },
			      { name = "gender"; from = "cpr"; rule = "cpr_gender"; },
			      { name = "status"; from = "status"; type = "text"; },
			      { name = "status_date"; from = "statusdato"; type = "date"; format = "%d-%m-%Y"; },
			      { name = "benefit_dkk"; from = "ydelse_kr"; type = "numeric"; decimal_comma = true; }
			    ); } ); } );
		EOF
	} >"$T/s.conf"
}

gen() { # gen ROWS SEED [BADRATE] [FILE]
	python3 "$GEN" --rows "$1" --seed "$2" --bad-rate "${3:-0}" --out "${4:-$T/in/unge_1.csv}" "${@:5}"
}

sync() { assert_exit "$1" "$SAMSPOR" -c "$T/s.conf" sync "${@:2}"; }

table_digest() { psql_q "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM (SELECT person, birth_year, gender, status, status_date, benefit_dkk, _run_id FROM warehouse.youth_status) t"; }

reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
}

test_full_refresh_loads_typed_pseudonymised_rows() {
	reset_db
	conf full_refresh
	gen 200 1
	sync 0
	assert_match "$OUT" "unge.youth_status: read 200, loaded 200, rejected 0" "summary"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status')" 200 "rows loaded"
	assert_eq "$(psql_q "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'warehouse.youth_status'::regclass AND attname = 'person'")" uuid "person is uuid"
	assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE gender NOT IN ('male','female')")" 0 "gender derived"
	assert_match "$(psql_q "SELECT obj_description('warehouse.youth_status'::regclass)")" "Status of young people" "table comment"
	assert_match "$(psql_q "SELECT col_description('warehouse.youth_status'::regclass, 1)")" "Pseudonym \\(kind cpr\\)" "column comment"
	assert_eq "$(psql_q "SELECT status FROM samspor.sync_run")" succeeded "sync_run row"
	# A second file replaces the table, and a view on it keeps working.
	psql_q "CREATE VIEW public.v AS SELECT count(*) AS n FROM warehouse.youth_status" >/dev/null
	gen 50 2
	sync 0
	assert_eq "$(psql_q 'SELECT n FROM public.v')" 50 "replaced; dependent view works"
}

test_incremental_dedup_upserts_and_leaves_unchanged_rows() {
	reset_db
	conf incremental_dedup '"person", "status_date", "status"'
	gen 300 3
	sync 0
	local n1 d1
	n1=$(psql_q 'SELECT count(*) FROM warehouse.youth_status')
	d1=$(table_digest)
	sync 0
	assert_match "$OUT" "loaded 0," "nothing changes the second time"
	assert_eq "$(table_digest)" "$d1" "every row left as it was (run ids too)"
	# A changed row is updated in place, not duplicated.
	python3 - "$T/in/unge_1.csv" <<-'EOF'
		import csv, io, sys
		p = sys.argv[1]
		rows = list(csv.reader(io.open(p, encoding="windows-1252", newline=""), delimiter=";"))
		rows[1][7] = "1,00" if rows[1][7] != "1,00" else "2,00"
		with io.open(p, "w", encoding="windows-1252", newline="") as f:
		    csv.writer(f, delimiter=";", lineterminator="\r\n").writerows(rows)
	EOF
	sync 0
	assert_match "$OUT" "loaded 1," "one row changed"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status')" "$n1" "no duplicate"
}

test_cursor_moves_forward_and_keeps_boundary_rows() {
	reset_db
	conf append "" status_date
	printf 'cpr;status;statusdato;ydelse_kr\r\n0101011234;ledig;01-01-2026;1\r\n0202021234;ledig;02-01-2026;2\r\n' |
		iconv -f utf-8 -t windows-1252 >"$T/in/unge_1.csv"
	sync 0
	assert_eq "$(psql_q "SELECT cursor_value FROM samspor.sync_state")" 2026-01-02 "cursor stored"
	# Same rows again, plus a late row at the boundary date and a new one.
	printf 'cpr;status;statusdato;ydelse_kr\r\n0101011234;ledig;01-01-2026;1\r\n0202021234;ledig;02-01-2026;2\r\n0303031234;ledig;02-01-2026;3\r\n0404041234;ledig;03-01-2026;4\r\n' |
		iconv -f utf-8 -t windows-1252 >"$T/in/unge_1.csv"
	sync 0
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status')" 4 "boundary row kept, none doubled"
	assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE status_date = '2026-01-02'")" 2 "both boundary rows once"
	assert_eq "$(psql_q "SELECT cursor_value FROM samspor.sync_state")" 2026-01-03 "cursor moved"
	sync 0 --full
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status')" 8 "--full ignores the cursor (append adds all again)"
}

test_rejects_within_ratio_load_and_are_recorded() {
	reset_db
	conf full_refresh "" "" "max_reject_ratio = 0.2;"
	gen 500 4 0.02
	sync 0
	local rej
	rej=$(psql_q 'SELECT count(*) FROM samspor.rejects')
	[[ $rej -gt 0 ]] || fail "no rejects recorded"
	assert_eq "$(psql_q 'SELECT rows_rejected FROM samspor.sync_run')" "$rej" "counted"
	assert_match "$(psql_q "SELECT position FROM samspor.rejects LIMIT 1")" "unge_1.csv:[0-9]+" "position"
}

test_reject_ratio_exceeded_rolls_back() {
	reset_db
	conf full_refresh
	gen 100 5
	sync 0
	local before
	before=$(table_digest)
	gen 100 6 0.1
	sync 1
	assert_contains "$OUT" "more than max_reject_ratio" "reason given"
	assert_eq "$(table_digest)" "$before" "table unchanged"
	assert_eq "$(psql_q "SELECT status FROM samspor.sync_run ORDER BY run_id DESC LIMIT 1")" failed "failure recorded"
	[[ $(psql_q "SELECT count(*) FROM samspor.rejects r JOIN samspor.sync_run s USING (run_id) WHERE s.status = 'failed'") -gt 0 ]] ||
		fail "the failed run's rejects are not recorded"
}

test_schema_new_column_added_type_change_refused() {
	reset_db
	conf full_refresh
	gen 20 7
	sync 0
	sed -i 's|{ name = "benefit_dkk"|{ name = "institution"; from = "institution"; type = "text"; },\n      { name = "benefit_dkk"|' "$T/s.conf"
	sync 0
	local filled
	filled=$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE institution IS NOT NULL")
	[[ $filled -gt 0 ]] || fail "the new column institution was added but never filled"
	sed -i 's|from = "cpr"; rule = "cpr_birth_year"; }|from = "cpr"; rule = "cpr_gender"; }|' "$T/s.conf"
	sync 2
	assert_contains "$OUT" "column birth_year of table warehouse.youth_status is integer in the warehouse" "type change refused"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status')" 20 "data untouched"
}

test_key_change_refused() {
	reset_db
	conf full_refresh '"person", "status_date", "status"'
	sed -i 's/mode = "full_refresh"/mode = "incremental_dedup"/' "$T/s.conf"
	gen 20 8
	sync 0
	mv "$T/key" "$T/key.old"
	"$SAMSPOR" keygen "$T/key" 2>/dev/null
	sync 2
	assert_contains "$ERR" "would not link" "new key refused"
	assert_contains "$ERR" "samspor rekey --new-key FILE" "points to the rotation"
	sync 2 --new-key
	assert_contains "$ERR" "--new-key is gone" "sync --new-key no longer mixes generations"
	assert_eq "$(psql_q 'SELECT count(*) FROM samspor.key_history')" 1 "no key change recorded"
	mv "$T/key.old" "$T/key"
	# Removing a key column is refused.
	sed -i 's/"person", "status_date", "status"/"person", "status_date"/' "$T/s.conf"
	sync 2
	assert_contains "$OUT" "primary key" "key change refused"
}

test_retention_deletes_old_rows() {
	reset_db
	conf append "" "" 'retention = "1y"; retention_column = "status_date";'
	printf 'cpr;status;statusdato;ydelse_kr\r\n0101011234;ledig;01-01-2001;1\r\n0202021234;ledig;%s;2\r\n' "$(date +%d-%m-%Y)" |
		iconv -f utf-8 -t windows-1252 >"$T/in/unge_1.csv"
	sync 0
	assert_match "$OUT" "deleted 1 " "old row deleted"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status')" 1 "recent row kept"
}

# Each unit of retention read as that unit: a row a day inside the window
# is kept and a row a day outside it deleted ("6y" as six days, or "3w" as
# three days, would delete the row inside; "10d" as ten years would keep the
# row outside).
test_retention_each_unit_at_its_window_edge() {
	local spec iv inside outside
	for spec in "2y:2 years" "3w:3 weeks" "10d:10 days"; do
		iv=${spec#*:}
		reset_db
		conf append "" "" "retention = \"${spec%%:*}\"; retention_column = \"status_date\";"
		# Today as the connector sees it: samspor's session runs in
		# daemon.timezone (default Europe/Copenhagen), not in the test's
		# own zone, which differs an hour or more around midnight.
		inside=$(psql_q "SET TimeZone = 'Europe/Copenhagen'; SELECT to_char(current_date - interval '$iv' + interval '1 day', 'DD-MM-YYYY')")
		outside=$(psql_q "SET TimeZone = 'Europe/Copenhagen'; SELECT to_char(current_date - interval '$iv' - interval '1 day', 'DD-MM-YYYY')")
		[[ -n $inside && -n $outside ]] || fail "no dates for $iv"
		printf 'cpr;status;statusdato;ydelse_kr\r\n0101011234;ledig;%s;1\r\n0202021234;ledig;%s;2\r\n' "$inside" "$outside" |
			iconv -f utf-8 -t windows-1252 >"$T/in/unge_1.csv"
		rm -f "$T/in"/unge_[2-9].csv
		sync 0
		assert_match "$OUT" "deleted 1 " "retention ${spec%%:*}: one row deleted"
		assert_eq "$(psql_q "SELECT to_char(status_date, 'DD-MM-YYYY') FROM warehouse.youth_status")" "$inside" \
			"retention ${spec%%:*}: the row a day inside kept, the one a day outside deleted"
	done
}

test_forgotten_person_skipped() {
	reset_db
	conf append
	printf 'cpr;status;statusdato;ydelse_kr\r\n0101011234;ledig;01-01-2026;1\r\n0202021234;ledig;02-01-2026;2\r\n' |
		iconv -f utf-8 -t windows-1252 >"$T/in/unge_1.csv"
	sync 0
	local pn
	pn=$(echo 0101011234 | "$SAMSPOR" -c "$T/s.conf" pseudonym --kind cpr)
	psql_q "INSERT INTO samspor.forgotten (kind, pseudonym) VALUES ('cpr', '$pn')" >/dev/null
	psql_q "TRUNCATE warehouse.youth_status" >/dev/null
	sync 0 --full # append mode skips a file already loaded
	assert_match "$OUT" "loaded 1, rejected 0, skipped 1" "forgotten skipped"
	assert_eq "$(psql_q "SELECT count(*) FROM warehouse.youth_status WHERE person = '$pn'")" 0 "not loaded"
}

# Privacy: after loading generated data with names, addresses and valid and
# invalid CPR numbers, no identifier is in any table, reject or log line.
test_privacy_scan() {
	reset_db
	conf full_refresh "" "" "max_reject_ratio = 0.5;"
	gen 2000 9 0.03 "$T/in/unge_1.csv" --print-identifiers "$T/ids.txt"
	sync 0
	local logs="$OUT$ERR"
	"$SP_PG_BINDIR/pg_dump" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d warehouse --data-only -n warehouse -n samspor >"$T/dump.sql" 2>/dev/null ||
		"$(_sp_pg_bindir)/pg_dump" -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d warehouse --data-only -n warehouse -n samspor >"$T/dump.sql"
	printf '%s' "$logs" >"$T/logs.txt"
	python3 - "$T/ids.txt" "$T/dump.sql" "$T/logs.txt" <<-'EOF'
		import sys, re
		ids = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1], encoding="utf-8") if "\t" in l]
		hay = open(sys.argv[2], encoding="utf-8").read() + open(sys.argv[3], encoding="utf-8").read()
		needles = set()
		for kind, v in ids:
		    v = v.strip()
		    if not v: continue
		    needles.add(v)
		    if kind == "cpr":
		        d = re.sub(r"[^0-9]", "", v)
		        if len(d) >= 6: needles.add(d)
		    if kind == "address":
		        needles.add(v.split(",")[0])
		found = [n for n in needles if len(n) >= 6 and n in hay]
		if found:
		    print("identifiers found:", len(found)); sys.exit(1)
		print("scanned", len(needles), "identifiers")
	EOF
}

# Wait until samspor's COPY is running, print the backend pid.
wait_for_copy() {
	local i pid
	for i in $(seq 1 200); do
		pid=$(psql_q "SELECT pid FROM pg_stat_activity WHERE query LIKE 'COPY %FROM STDIN%' AND application_name LIKE 'samspor%' LIMIT 1")
		if [[ -n $pid ]]; then
			echo "$pid"
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# The three faults, each in the middle of a load of a big file.
fault_setup() {
	reset_db
	conf full_refresh
	gen 100 10
	sync 0
	BEFORE=$(table_digest)
	gen 600000 11
}

test_kill9_mid_load_leaves_warehouse_intact() {
	fault_setup
	"$SAMSPOR" -c "$T/s.conf" sync >"$T/bg.out" 2>&1 &
	local bg=$!
	wait_for_copy >/dev/null || fail "the load never reached COPY"
	kill -9 "$bg"
	wait "$bg" 2>/dev/null || true
	sleep 0.5
	assert_eq "$(table_digest)" "$BEFORE" "warehouse unchanged after kill -9"
	sync 0
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status')" 600000 "next sync completes"
}

test_postgres_restart_mid_load() {
	fault_setup
	"$SAMSPOR" -c "$T/s.conf" sync >"$T/bg.out" 2>&1 &
	local bg=$! rc=0
	wait_for_copy >/dev/null || fail "the load never reached COPY"
	pg_restart
	wait "$bg" || rc=$?
	assert_eq "$rc" 75 "temporary failure (75)"
	assert_eq "$(table_digest)" "$BEFORE" "warehouse unchanged after restart"
	sync 0
	assert_match "$OUT" "loaded 600000" "next sync completes"
}

test_dropped_connection_mid_load() {
	fault_setup
	"$SAMSPOR" -c "$T/s.conf" sync >"$T/bg.out" 2>&1 &
	local bg=$! rc=0 pid
	pid=$(wait_for_copy) || fail "the load never reached COPY"
	psql_q "SELECT pg_terminate_backend($pid)" >/dev/null
	wait "$bg" || rc=$?
	assert_eq "$rc" 75 "temporary failure (75)"
	assert_eq "$(table_digest)" "$BEFORE" "warehouse unchanged"
	sync 0
	assert_match "$OUT" "loaded 600000" "next sync completes"
}

test_second_sync_of_a_connector_is_locked_out() {
	fault_setup
	"$SAMSPOR" -c "$T/s.conf" sync >"$T/bg.out" 2>&1 &
	local bg=$!
	wait_for_copy >/dev/null || fail "the load never reached COPY"
	sync 75
	assert_contains "$OUT$ERR" "is being synced by another samspor (samspor sync on" "holder named"
	wait "$bg" || fail "the first sync failed: $(cat "$T/bg.out")"
}

test_unreachable_warehouse_is_temporary() {
	conf full_refresh
	sed -i "s|conninfo = \"[^\"]*\"|conninfo = \"host=$T/nowhere dbname=x\"|" "$T/s.conf"
	sync 75
	assert_contains "$ERR" "cannot connect to the warehouse" "says why"
}

test_newer_schema_version_refused() {
	reset_db
	conf full_refresh
	gen 10 12
	sync 0
	psql_q "INSERT INTO samspor.schema_version VALUES (999, 'from the future')" >/dev/null
	sync 2
	assert_contains "$ERR" "newer than this samspor knows" "refused"
	psql_q "DELETE FROM samspor.schema_version WHERE version = 999" >/dev/null
}

test_forget_erases_and_keeps_out() {
	reset_db
	conf append
	printf 'cpr;status;statusdato;ydelse_kr\r\n0101011234;ledig;01-01-2026;1\r\n010101-1234;job;02-01-2026;1\r\n0202021234;ledig;02-01-2026;2\r\n' |
		iconv -f utf-8 -t windows-1252 >"$T/in/unge_1.csv"
	sync 0
	assert_exit 0 bash -c "echo '010101-1234' | '$SAMSPOR' -c '$T/s.conf' forget --kind cpr"
	assert_contains "$OUT" "warehouse.youth_status (person): 2 rows deleted" "rows deleted per table"
	assert_not_contains "$OUT$ERR" "0101011234" "identifier not echoed"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status')" 1 "erased"
	assert_eq "$(psql_q "SELECT people || ':' || rows_deleted FROM samspor.erasure_log")" "1:2" "erasure logged (counts only)"
	sync 0 --full # append mode skips a file already loaded
	assert_match "$OUT" "loaded 1, rejected 0, skipped 2" "kept out of the next load"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status')" 2 "only the other person"
	# An invalid identifier is reported by line, never by value; exit 1.
	assert_exit 1 bash -c "printf '12345\n' | '$SAMSPOR' -c '$T/s.conf' forget --kind cpr"
	assert_contains "$ERR" "line 1: not a valid identifier" "invalid line reported"
	assert_not_contains "$ERR" "12345" "value not echoed"
}

# A data error raised by the server quotes the value; samspor must not
# repeat it in its output, its log or sync_run.error.
test_server_data_error_is_redacted() {
	reset_db
	conf append
	printf 'cpr;status;statusdato;ydelse_kr\r\n0101011234;ledig;01-01-2026;1\r\n' |
		iconv -f utf-8 -t windows-1252 >"$T/in/unge_1.csv"
	sync 0
	psql_q "CREATE FUNCTION public.refuse() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('value \"%s\" not allowed', NEW.person); END \$\$;
		CREATE TRIGGER refuse BEFORE INSERT ON warehouse.youth_status FOR EACH ROW EXECUTE FUNCTION public.refuse()" >/dev/null
	local pn
	pn=$(echo 0101011234 | "$SAMSPOR" -c "$T/s.conf" pseudonym --kind cpr)
	sync 1 --full # append mode skips a file already loaded
	assert_contains "$OUT" "a data exception (the server's message is withheld: it may quote data) (SQLSTATE 22023)" "samspor's words and the SQLSTATE"
	assert_not_contains "$OUT$ERR" "not allowed" "not the trigger's text"
	assert_not_contains "$OUT$ERR" "$pn" "the quoted value is not repeated"
	assert_not_contains "$(psql_q 'SELECT error FROM samspor.sync_run ORDER BY run_id DESC LIMIT 1')" "$pn" "nor stored"
}

# warehouse.password_file against real SCRAM authentication, and a libpq
# service name in conninfo.
test_password_file_and_service_name() {
	reset_db
	conf full_refresh
	gen 10 13
	psql_q "DROP ROLE IF EXISTS sp_pw; CREATE ROLE sp_pw LOGIN PASSWORD 'Corr3ct-Horse'; GRANT ALL ON DATABASE warehouse TO sp_pw; GRANT ALL ON SCHEMA public TO sp_pw" >/dev/null
	local hba=$SP_PG_DIR/data/pg_hba.conf
	{ echo "local warehouse sp_pw scram-sha-256"; cat "$hba"; } >"$hba.new"
	cat "$hba.new" >"$hba"
	psql_q "SELECT pg_reload_conf()" >/dev/null
	printf 'Corr3ct-Horse\n' >"$T/pw"
	chmod 600 "$T/pw"
	sed -i "s|conninfo = \"[^\"]*\";|conninfo = \"host=$PGHOST port=$PGPORT user=sp_pw dbname=warehouse\"; password_file = \"$T/pw\";|" "$T/s.conf"
	sync 0
	assert_match "$OUT" "loaded 10" "loaded with the password from password_file"
	assert_not_contains "$OUT$ERR" "Corr3ct-Horse" "password never printed"
	printf 'wrong\n' >"$T/pw"
	sync 1
	assert_contains "$ERR" "the server refused the password (SQLSTATE 28P01); fix the user in warehouse.conninfo" "refused credentials are a failure, not temporary"
	# A service file names the server; conninfo names the service.
	printf '[samspor_test]\nhost=%s\nport=%s\nuser=postgres\ndbname=warehouse\n' "$PGHOST" "$PGPORT" >"$T/services"
	sed -i "s|conninfo = \"[^\"]*\"; password_file = \"[^\"]*\";|conninfo = \"service=samspor_test\";|" "$T/s.conf"
	PGSERVICEFILE=$T/services assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_match "$OUT" "loaded 10" "loaded through the service name"
}

# Rows go to the server in binary COPY format where every column has an
# exact binary form, and in text otherwise (a timestamp without an offset
# is read in the session's zone).  The same file, loaded both ways, gives
# the same values (not the same _digest: the stream differs by a column):
# edge values of every type, NULLs, negative numbers and
# zeros, long numerics, the calendar's ends, text COPY would escape.
test_binary_and_text_copy_give_the_same_rows() {
	reset_db
	mkdir -p "$T/in"
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	python3 - "$T/in/types.csv" <<-'PY'
		import io, random, sys
		random.seed(7)
		nums = ["0", "-0.00", "0.0001", "-0.5", "1", "10000", "9999.9999",
		        "12345.6789", "100000000", "-1234567890123456789012345678901234567890.123456789",
		        "0.00000001", "42.10", "-10000.0001", "7", "99999999", ""]
		ints = ["0", "-2147483648", "2147483647", "1", "-1", "", "10000", "65536"]
		bigs = ["-9223372036854775808", "9223372036854775807", "0", "", "4294967296", "-1"]
		dates = ["0001-01-01", "9999-12-31", "2000-01-01", "1999-12-31", "2000-02-29",
		         "1900-03-01", "2024-02-29", "1970-01-01", ""]
		texts = ["", "plain", "tab\there", "back\\slash", "æøå ÆØÅ", "ünïcødé €", "x" * 300, "'quote\""]
		bools = ["ja", "nej", "true", "f", ""]
		with io.open(sys.argv[1], "w", encoding="utf-8", newline="") as f:
		    f.write("id;cpr;t;i;b;n;d;bo;ts\n")
		    for k in range(400):
		        day, month = random.randint(1, 28), random.randint(1, 12)
		        cpr = "%02d%02d%02d%04d" % (day, month, random.randint(0, 99), random.randint(0, 3999))  # born 1900-1999
		        t = random.choice(texts).replace(";", ",")
		        f.write(";".join([str(k), cpr, '"%s"' % t.replace('"', '""'), random.choice(ints),
		                          random.choice(bigs), random.choice(nums), random.choice(dates),
		                          random.choice(bools), "2024-05-01T10:00:00"]) + "\n")
	PY
	local name ts
	for name in bin txt; do
		ts=""
		[[ $name == txt ]] && ts='{ name = "ts"; from = "ts"; type = "timestamp"; },'
		cat >"$T/$name.conf" <<-EOF
			warehouse: { conninfo = "$SP_CONNINFO"; };
			pseudonym: { key_file = "$T/key"; };
			connectors = ( { name = "c_$name"; plugin = "csv";
			  source = { url = "$T/in/types.csv"; };
			  streams = ( { table = "types_$name"; mode = "full_refresh"; key = ["id"];
			    columns = (
			      { name = "id"; from = "id"; type = "int"; },
			      { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
			      { name = "birth_year"; from = "cpr"; rule = "cpr_birth_year"; },
			      { name = "birth_month"; from = "cpr"; rule = "cpr_birth_month"; },
			      { name = "gender"; from = "cpr"; rule = "cpr_gender"; },
			      { name = "age"; from = "cpr"; rule = "age"; },
			      { name = "age_band"; from = "cpr"; rule = "age_band"; bands = [0, 18, 30, 65]; },
			      { name = "t"; from = "t"; rule = "keep"; type = "text"; },
			      { name = "i"; from = "i"; type = "int"; },
			      { name = "b"; from = "b"; type = "bigint"; },
			      { name = "n"; from = "n"; type = "numeric"; },
			      { name = "d"; from = "d"; type = "date"; },
			      { name = "d_month"; from = "d"; rule = "date_month"; },
			      { name = "d_year"; from = "d"; rule = "date_year"; },
			      $ts
			      { name = "bo"; from = "bo"; type = "boolean"; }
			    ); } ); } );
		EOF
	done
	psql_q "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
	psql_q "SELECT pg_reload_conf()" >/dev/null
	: >"$SP_PG_DIR/postgres.log"
	assert_exit 0 "$SAMSPOR" -c "$T/bin.conf" sync
	assert_match "$OUT" "loaded 400" "all rows loaded in binary"
	assert_exit 0 "$SAMSPOR" -c "$T/txt.conf" sync
	assert_match "$OUT" "loaded 400" "all rows loaded as text"
	psql_q "ALTER SYSTEM RESET log_statement" >/dev/null
	psql_q "SELECT pg_reload_conf()" >/dev/null
	local log
	log=$(cat "$SP_PG_DIR/postgres.log")
	assert_match "$log" 'COPY "?warehouse"?\."?types_bin"? .*FORMAT binary' "the table without a timestamp is loaded in binary"
	assert_match "$log" 'COPY "?warehouse"?\."?types_txt"? .*STDIN WITH \(FREEZE\)' "the table with a timestamp is loaded as text"
	local cols="id, person, birth_year, birth_month, gender, age, age_band, t, i, b, n, d, d_month, d_year, bo"
	local q="SELECT count(*) FROM (SELECT $cols FROM warehouse.types_bin EXCEPT ALL SELECT $cols FROM warehouse.types_txt) x"
	assert_eq "$(psql_q "$q")" "0" "every binary row is a text row"
	q="SELECT count(*) FROM (SELECT $cols FROM warehouse.types_txt EXCEPT ALL SELECT $cols FROM warehouse.types_bin) x"
	assert_eq "$(psql_q "$q")" "0" "every text row is a binary row"
	# numeric's display scale and the text form of every value, not only equality
	q="SELECT md5(string_agg(concat_ws('|', $cols), ',' ORDER BY id)) FROM warehouse.types_%s"
	assert_eq "$(psql_q "$(printf "$q" bin)")" "$(psql_q "$(printf "$q" txt)")" "the same text of every value"
	assert_eq "$(psql_q "SELECT count(DISTINCT n::text) > 10 AND count(*) FILTER (WHERE n IS NULL) > 0 AND min(d) = '0001-01-01' AND max(d) = '9999-12-31' AND min(b) < 0 FROM warehouse.types_bin")" "t" "the edge values are there"
}

run_tests
