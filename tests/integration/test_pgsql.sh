#!/usr/bin/env bash
# shellcheck disable=SC2016 # $1 in the SQL is the query parameter, not the shell's
# The pgsql source plugin against a real PostgreSQL: a second database,
# partner_db, in the test cluster plays a partner's system (a jobcenter
# table of synthetic people, generated with generate_series) and is loaded
# with `samspor sync` into the warehouse with pseudonym columns.  Covers a
# full load, the cursor bound to $1, query_file, a `from` that is no
# result column, an unreachable source, query errors (syntax, redacted data
# errors, statement_timeout, a write refused by the read-only
# transaction), passwords, `check --connect`, and flat memory.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pg_start
psql_q "CREATE DATABASE partner_db" >/dev/null
# Timestamps come out in the session's time zone; fix it for the cursor
# values the tests expect.  The partner's DateStyle is not ISO: the plugin
# must ask for ISO itself.
psql_q "ALTER DATABASE partner_db SET timezone = 'UTC'; ALTER DATABASE partner_db SET DateStyle = 'SQL, DMY'" >/dev/null
PARTNER="host=$PGHOST port=$PGPORT user=postgres dbname=partner_db"

# psql_p SQL: psql_q in partner_db.
psql_p() { psql_q "$1" -d partner_db; }

# partner_table ROWS: (re)create jobcenter with ROWS synthetic rows; row g
# has changed_at 2025-01-01 + g minutes, every 4th benefit_type is NULL.
# The CPR numbers are valid in form (real dates) but made up.
partner_table() {
	psql_p "DROP TABLE IF EXISTS jobcenter;
		CREATE TABLE jobcenter (id bigint PRIMARY KEY, cpr text NOT NULL,
		  month date NOT NULL, benefit_type text, employed boolean NOT NULL,
		  danish_course boolean NOT NULL, changed_at timestamptz NOT NULL);
		INSERT INTO jobcenter SELECT g,
		  lpad((g % 28 + 1)::text, 2, '0') || lpad((g / 28 % 12 + 1)::text, 2, '0')
		    || lpad((g % 100)::text, 2, '0') || lpad((g % 10000)::text, 4, '0'),
		  date '2024-01-01' + (g % 24) * interval '1 month',
		  (ARRAY['kontanthjaelp', 'uddannelseshjaelp', 'dagpenge', NULL])[g % 4 + 1],
		  g % 3 = 0, g % 5 = 0,
		  timestamptz '2025-01-01 00:00:00+00' + g * interval '1 minute'
		FROM generate_series(1, $1) g" >/dev/null
}

# The stream's query: $1 is the stored cursor (NULL on the first run).
Q_CURSOR='SELECT cpr, month, benefit_type, employed, danish_course, changed_at FROM jobcenter WHERE $1::timestamptz IS NULL OR changed_at >= $1::timestamptz'
Q_ALL='SELECT cpr, month, benefit_type, employed, danish_course, changed_at FROM jobcenter'

# conf MODE QUERY_SETTING [CURSOR] [EXTRA_SOURCE] [CONNINFO]: $T/s.conf
# loading the jobcenter query into warehouse.jobcenter.  QUERY_SETTING is
# the stream's `query = "...";` or `query_file = "...";`.
conf() {
	local mode=$1 qset=$2 cursor=${3:-} extra=${4:-} conninfo=${5:-$PARTNER}
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	{
		cat <<-EOF
			warehouse: { conninfo = "$SP_CONNINFO"; };
			pseudonym: { key_file = "$T/key"; };
			connectors = ( { name = "jobcenter"; plugin = "pgsql";
			  source = { conninfo = "$conninfo"; $extra };
			  streams = ( { table = "jobcenter"; mode = "$mode";
			    description = "Benefits, employment and Danish courses per month";
		EOF
		printf '    %s\n' "$qset"
		[[ -n $cursor ]] && printf '    cursor = "%s";\n' "$cursor"
		cat <<-'EOF'
			    columns = (
			      { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
			      { name = "birth_year"; from = "cpr"; rule = "cpr_birth_year"; },
			      { name = "month"; from = "month"; type = "date"; },
			      { name = "benefit_type"; from = "benefit_type"; rule = "keep"; },
			      { name = "employed"; from = "employed"; type = "boolean"; },
			      { name = "danish_course"; from = "danish_course"; type = "boolean"; },
			      { name = "changed_at"; from = "changed_at"; type = "timestamp"; }
			    ); } ); } );
		EOF
	} >"$T/s.conf"
}

q() { printf 'query = "%s";' "$1"; }

sync() { assert_exit "$1" "$SAMSPOR" -c "$T/s.conf" sync "${@:2}"; }

count() { psql_q "SELECT count(*) FROM warehouse.jobcenter${1:+ WHERE $1}"; }

reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
}

# Peak RSS (KiB) of a command, via the kernel's rusage; prints "RSS RC".
peak_rss() {
	python3 - "$@" <<-'EOF'
		import resource, subprocess, sys
		rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
		print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)
	EOF
}

test_plugin_documents_its_options() {
	assert_exit 0 "$SAMSPOR" -c /dev/null plugins pgsql
	local o
	for o in conninfo password_file connect_timeout statement_timeout fetch_size query query_file; do
		assert_contains "$OUT" "$o" "option $o documented"
	done
	assert_contains "$OUT" '$1::timestamptz IS NULL' "the help shows how to use \$1"
}

test_full_load_typed_and_pseudonymised() {
	reset_db
	partner_table 2000
	conf full_refresh "$(q "$Q_ALL")"
	sync 0
	assert_match "$OUT" "jobcenter.jobcenter: read 2000, loaded 2000, rejected 0" "summary"
	assert_eq "$(count)" 2000 "rows loaded"
	assert_eq "$(count 'benefit_type IS NULL')" 500 "NULL stays NULL"
	assert_eq "$(count 'employed')" "$(psql_p 'SELECT count(*) FROM jobcenter WHERE employed')" "booleans"
	assert_eq "$(psql_q "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'warehouse.jobcenter'::regclass AND attname IN ('person', 'changed_at', 'month') ORDER BY attname")" \
		$'timestamp with time zone\ndate\nuuid' "column types"
	# The person of row 1 (CPR 0201010001) under its pseudonym, and no CPR.
	local pn
	pn=$(echo 0201010001 | "$SAMSPOR" -c "$T/s.conf" pseudonym --kind cpr)
	assert_eq "$(psql_q "SELECT month || ' ' || employed || ' ' || changed_at FROM warehouse.jobcenter WHERE person = '$pn'")" \
		"$(psql_p "SET DateStyle = ISO; SELECT month || ' ' || employed || ' ' || changed_at FROM jobcenter WHERE id = 1")" "row 1 under its pseudonym, dates read although the partner's DateStyle is SQL, DMY"
	assert_eq "$(psql_q "SELECT count(*) FROM warehouse.jobcenter t WHERE t::text LIKE '%0201010001%'")" 0 "no CPR number in the warehouse"
	# The source connection, named samspor for the partner's DBA, is gone.
	local n
	for _ in $(seq 1 50); do
		n=$(psql_q "SELECT count(*) FROM pg_stat_activity WHERE datname = 'partner_db' AND application_name = 'samspor'")
		[[ $n == 0 ]] && break
		sleep 0.1
	done
	assert_eq "$n" 0 "the source connection is closed"
}

test_cursor_binds_dollar_one_and_reads_only_newer_rows() {
	reset_db
	partner_table 1000
	conf append "$(q "$Q_CURSOR")" changed_at
	sync 0
	assert_match "$OUT" "read 1000, loaded 1000," "first run: \$1 is NULL, every row"
	assert_eq "$(psql_q 'SELECT cursor_value FROM samspor.sync_state')" "2025-01-01T16:40:00+00:00" "cursor stored"
	# Unchanged source: the query returns only the boundary row, which the
	# core already has.
	sync 0
	assert_match "$OUT" "read 1, loaded 0, rejected 0, skipped 1" "second run reads only rows >= the cursor"
	# Three newer rows and one older row (changed before the cursor: not
	# asked for, so never read).
	psql_p "INSERT INTO jobcenter VALUES
		(2001, '1503901234', '2026-01-01', 'dagpenge', true, false, '2025-06-01 10:00+00'),
		(2002, '1604911234', '2026-01-01', NULL, false, true, '2025-06-01 11:00+00'),
		(2003, '1705921234', '2026-01-01', 'kontanthjaelp', false, false, '2025-06-02 09:30:15.25+00'),
		(2004, '1806931234', '2026-01-01', 'dagpenge', true, true, '2024-06-01 00:00+00')" >/dev/null
	sync 0
	assert_match "$OUT" "read 4, loaded 3, rejected 0, skipped 1" "only the newer rows arrive"
	assert_eq "$(count)" 1003 "1000 + 3"
	assert_eq "$(count "changed_at < '2025-01-01'")" 0 "the older row was not loaded"
	assert_eq "$(psql_q 'SELECT cursor_value FROM samspor.sync_state')" "2025-06-02T09:30:15.25+00:00" "cursor moved"
	# --full: no cursor, $1 is NULL, every row is read again.
	sync 0 --full
	assert_match "$OUT" "read 1004, loaded 1004," "--full reads everything"
}

test_query_file_with_bom_and_error_position() {
	reset_db
	partner_table 100
	printf '\xef\xbb\xbf-- the jobcenter extract\nSELECT cpr, month, benefit_type, employed,\n       danish_course, changed_at\n  FROM jobcenter\n WHERE $1::timestamptz IS NULL OR changed_at >= $1::timestamptz;\n' >"$T/q.sql"
	conf append "query_file = \"q.sql\";" changed_at
	sync 0
	assert_match "$OUT" "read 100, loaded 100," "query_file read (relative to the configuration)"
	printf 'SELECT cpr, month, benefit_type, employed,\n       danish_course, changed_at\n  FROM jobcenter\n WHER changed_at > now()\n' >"$T/q.sql"
	sync 1
	assert_contains "$OUT" "syntax error at or near \"changed_at\" at line 4, column 7 of query_file $T/q.sql (SQLSTATE 42601)" "position in the file"
	conf append "query_file = \"missing.sql\";"
	sync 2
	assert_contains "$OUT" "query_file $T/missing.sql: No such file or directory" "missing file named"
	conf append "query_file = \"q.sql\"; $(q "$Q_ALL")"
	sync 2
	assert_contains "$OUT" "give either query or query_file" "not both"
	conf append ""
	sync 2
	assert_contains "$OUT" "the stream needs query or query_file" "one of them"
}

test_from_naming_no_result_column_lists_the_columns() {
	reset_db
	partner_table 10
	conf full_refresh "$(q "$Q_ALL")"
	sync 0
	sed -i 's/from = "benefit_type"/from = "benefit"/' "$T/s.conf"
	sync 2
	assert_contains "$OUT" "pgsql: 'benefit' is not a result column of the query; its result columns are: cpr, month, benefit_type, employed, danish_course, changed_at" \
		"the missing column and the result columns"
	assert_eq "$(count)" 10 "the table is untouched"
	# Two result columns of one name cannot be told apart.
	conf full_refresh "$(q 'SELECT cpr, month, benefit_type, employed, danish_course, changed_at, changed_at FROM jobcenter')"
	sync 2
	assert_contains "$OUT" "result columns 6 and 7 of the query are both named 'changed_at'" "ambiguous name"
	# Only $1 exists.
	conf full_refresh "$(q 'SELECT cpr, month, benefit_type, employed, danish_course, changed_at FROM jobcenter WHERE id > $1::int AND id < $2::int')"
	sync 2
	assert_contains "$OUT" 'uses $2; only $1 (the stored cursor) can be bound' "\$2 refused"
}

# A value the core refuses becomes a reject that names the row, not the
# value.
test_rejects_name_the_row() {
	reset_db
	partner_table 20
	conf full_refresh "$(q "SELECT CASE WHEN id = 5 THEN '3213001234' ELSE cpr END AS cpr, month, benefit_type, employed, danish_course, changed_at FROM jobcenter ORDER BY id")" \
		"" "" "$PARTNER"
	sed -i 's/mode = "full_refresh";/mode = "full_refresh"; max_reject_ratio = 0.1;/' "$T/s.conf"
	sync 0
	assert_match "$OUT" "read 20, loaded 19, rejected 1" "one row rejected"
	assert_eq "$(psql_q "SELECT position || ' ' || column_name FROM samspor.rejects")" "row 5 person" "position and column"
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.rejects r WHERE r::text LIKE '%3213001234%'")" 0 "no value anywhere in the rejects"
	assert_not_contains "$OUT$ERR" "3213001234" "nor in the output"
}

test_unreachable_source_is_temporary() {
	reset_db
	conf full_refresh "$(q "$Q_ALL")" "" "" "host=$T/nowhere port=$PGPORT dbname=partner_db"
	sync 75
	assert_contains "$OUT" "pgsql: cannot connect to the source: connection to server on socket \"$T/nowhere/.s.PGSQL.$PGPORT\" failed" "says why"
	assert_eq "$(psql_q "SELECT status FROM samspor.sync_run")" failed "run recorded as failed"
}

test_query_errors_fail_with_the_message() {
	reset_db
	partner_table 10
	conf full_refresh "$(q 'SELEC cpr FROM jobcenter')"
	sync 1
	assert_contains "$OUT" "pgsql: cannot prepare the query: syntax error at or near \"SELEC\" at line 1, column 1 of the query (SQLSTATE 42601)" "syntax error"
	conf full_refresh "$(q 'SELECT cpr, month, benefit_type, employed, danish_course, changed_at FROM jobcentre')"
	sync 1
	assert_contains "$OUT" "relation \"jobcentre\" does not exist" "unknown table"
	conf full_refresh "$(q 'SELECT cpr, month, benefit_type, employed, danish_course, changed_at FROM jobcenter WHERE $1 IS NULL')"
	sync 1
	assert_contains "$OUT" 'give $1 a type with a cast' "untyped \$1 explained"
}

# A data error raised while the query runs quotes the value; it must not be
# repeated in the output or in sync_run.error.
test_data_error_in_query_is_redacted() {
	reset_db
	partner_table 10
	conf full_refresh "$(q "SELECT cpr, month, benefit_type, employed, danish_course, changed_at FROM jobcenter WHERE (cpr || CASE WHEN id = 7 THEN 'x' ELSE '' END)::bigint > 0")"
	sync 1
	assert_contains "$OUT" 'a value that is not valid input for its type (the server'"'"'s message is withheld: it may quote data) (SQLSTATE 22P02)' "samspor's words and the SQLSTATE"
	local cpr7
	cpr7=$(psql_p "SELECT cpr FROM jobcenter WHERE id = 7")
	assert_not_contains "$OUT$ERR" "$cpr7" "the value is not repeated"
	assert_not_contains "$(psql_q 'SELECT error FROM samspor.sync_run ORDER BY run_id DESC LIMIT 1')" "$cpr7" "nor stored"
}

test_query_runs_read_only_and_statement_timeout_stops_it() {
	reset_db
	partner_table 10
	conf full_refresh "$(q "WITH d AS (DELETE FROM jobcenter RETURNING *) SELECT cpr, month, benefit_type, employed, danish_course, changed_at FROM d")"
	sync 1
	assert_match "$OUT" "cannot execute [A-Z]+ in a read-only transaction \\(SQLSTATE 25006\\)" "writes refused"
	assert_eq "$(psql_p 'SELECT count(*) FROM jobcenter')" 10 "nothing deleted"
	conf full_refresh "$(q "SELECT cpr, month, benefit_type, employed, danish_course, changed_at FROM jobcenter WHERE pg_sleep(0.5) IS NOT NULL")" "" 'statement_timeout = "1s";'
	sync 1
	assert_contains "$OUT" "canceling statement due to statement timeout (SQLSTATE 57014)" "statement_timeout applies"
}

test_password_file_and_refused_credentials() {
	reset_db
	partner_table 10
	psql_p "DROP ROLE IF EXISTS sp_partner; CREATE ROLE sp_partner LOGIN PASSWORD 'Partn3r-Pw'; GRANT SELECT ON jobcenter TO sp_partner" >/dev/null
	local hba=$SP_PG_DIR/data/pg_hba.conf
	if ! grep -q sp_partner "$hba"; then
		{ echo "local partner_db sp_partner scram-sha-256"; cat "$hba"; } >"$hba.new"
		cat "$hba.new" >"$hba"
		psql_q "SELECT pg_reload_conf()" >/dev/null
	fi
	printf 'Partn3r-Pw\n' >"$T/pw"
	chmod 600 "$T/pw"
	local ci="host=$PGHOST port=$PGPORT user=sp_partner dbname=partner_db"
	conf full_refresh "$(q "$Q_ALL")" "" "password_file = \"$T/pw\";" "$ci"
	sync 0
	assert_match "$OUT" "loaded 10," "loaded with the password from password_file"
	assert_not_contains "$OUT$ERR" "Partn3r-Pw" "password never printed"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "jobcenter +ok" "check --connect ok"
	printf 'wrong\n' >"$T/pw"
	sync 1
	assert_contains "$OUT" "the server refused the password (SQLSTATE 28P01); fix the user in the source's conninfo or the password in its password_file or password_env" "refused credentials fail, not temporary"
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "jobcenter +FAILED: pgsql: cannot connect to the source: the server refused the password" "check --connect reports it"
	# No password configured where one is needed.
	conf full_refresh "$(q "$Q_ALL")" "" "" "$ci"
	sync 1
	assert_contains "$OUT" "the server asks for a password and none is configured" "missing password"
	# A password inside conninfo is refused when the configuration is
	# loaded, before anything connects.
	conf full_refresh "$(q "$Q_ALL")" "" "" "$ci password=Partn3r-Pw"
	sync 2
	assert_contains "$ERR" "s.conf:4: conninfo of source of connector 'jobcenter' holds a password" "password in conninfo refused"
	assert_not_contains "$OUT$ERR" "Partn3r-Pw" "and not repeated"
}

test_check_connect_reaches_the_source() {
	# a fresh warehouse: check --connect refuses a key other than the
	# warehouse's generation, and earlier tests loaded under their own keys
	reset_db
	conf full_refresh "$(q "$Q_ALL")"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "jobcenter +ok" "reachable source"
	conf full_refresh "$(q "$Q_ALL")" "" "" "host=$T/nowhere port=$PGPORT dbname=partner_db"
	assert_exit 75 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "jobcenter +FAILED: pgsql: cannot connect to the source" "unreachable source reported"
	conf full_refresh "$(q "$Q_ALL")" "" "" "$PARTNER user=nobody_here"
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_contains "$OUT" "the server refused the login: no such role, or its pg_hba.conf does not admit this user from here (SQLSTATE 28000); fix the user in the source's conninfo" "unknown role reported"
}

# Exit classes come from the SQLSTATE and PQping(), never from the
# server's words: a wrong dbname or an unknown role is a mistake to fix
# (exit 1: the daemon does not retry it), a server that does not answer is
# temporary (75).
test_connect_failures_are_classified_by_sqlstate() {
	reset_db
	partner_table 3
	conf full_refresh "$(q "$Q_ALL")" "" "" "host=$PGHOST port=$PGPORT user=postgres dbname=no_such_db"
	sync 1
	assert_contains "$OUT" "pgsql: cannot connect to the source: the database does not exist (SQLSTATE 3D000); fix dbname in the source's conninfo" "unknown database: exit 1, names the setting"
	conf full_refresh "$(q "$Q_ALL")" "" "" "host=$PGHOST port=$PGPORT user=no_such_role dbname=partner_db"
	sync 1
	assert_contains "$OUT" "(SQLSTATE 28000); fix the user in the source's conninfo" "unknown role: exit 1"
	# A server that is down: no answer, temporary.
	conf full_refresh "$(q "$Q_ALL")" "" "" "host=$PGHOST port=1 user=postgres dbname=partner_db"
	sync 75
	assert_contains "$OUT" "pgsql: cannot connect to the source: connection to server on socket" "no answer: exit 75"
}

# A function of the partner's that raises its own message with a person's
# CPR number and name (item 5 of issue 13): neither reaches stderr, stdout
# or samspor.sync_run.error; the SQLSTATE and samspor's words do.
test_raised_message_with_personal_data_is_withheld() {
	reset_db
	partner_table 5
	local cpr name
	cpr=$(python3 -c 'import random; r = random.Random(4711); print("%02d%02d%02d%04d" % (r.randint(1, 28), r.randint(1, 12), r.randint(0, 99), r.randint(0, 9999)))')
	name="Testperson$(python3 -c 'import random; print(random.Random(13).randint(10000, 99999))') Syntetisk"
	psql_p "CREATE OR REPLACE FUNCTION check_cpr(c text, n text) RETURNS text LANGUAGE plpgsql AS \$f\$
		BEGIN RAISE EXCEPTION 'ugyldigt cpr % for %', c, n; END \$f\$" >/dev/null
	conf full_refresh "$(q "SELECT check_cpr('$cpr', '$name') AS cpr, month, benefit_type, employed, danish_course, changed_at FROM jobcenter")"
	sync 1
	assert_contains "$OUT" "an error raised by a function (RAISE) (the server's message is withheld: it may quote data) (SQLSTATE P0001)" "samspor's words and the SQLSTATE"
	assert_not_contains "$OUT$ERR" "$cpr" "no CPR number on stdout or stderr"
	assert_not_contains "$OUT$ERR" "Testperson" "no name on stdout or stderr"
	assert_not_contains "$OUT$ERR" "ugyldigt" "not the function's text at all"
	local stored
	stored=$(psql_q "SELECT string_agg(coalesce(error, ''), ' ') FROM samspor.sync_run")
	assert_contains "$stored" "SQLSTATE P0001" "the error is stored"
	assert_not_contains "$stored" "$cpr" "no CPR number in sync_run.error"
	assert_not_contains "$stored" "Testperson" "no name in sync_run.error"
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.sync_run WHERE error LIKE '%ugyldigt%'")" 0 "nor the function's text"
}

# The result is streamed: samspor's peak RSS does not grow with the rows.
test_memory_flat_200k_vs_1m_rows() {
	reset_db
	local qg='SELECT lpad((g % 28 + 1)::text, 2, $$0$$) || lpad((g / 28 % 12 + 1)::text, 2, $$0$$) || lpad((g % 100)::text, 2, $$0$$) || lpad((g % 10000)::text, 4, $$0$$) AS cpr, (date $$2024-01-01$$ + (g % 24) * interval $$1 month$$)::date AS month, $$dagpenge$$ AS benefit_type, g % 3 = 0 AS employed, g % 5 = 0 AS danish_course, timestamptz $$2025-01-01 00:00:00+00$$ + g * interval $$1 second$$ AS changed_at FROM generate_series(1, ROWS) g'
	local small big rc
	conf full_refresh "$(q "${qg/ROWS/200000}")"
	read -r small rc < <(peak_rss "$SAMSPOR" -c "$T/s.conf" sync)
	assert_eq "$rc" 0 "200k rows synced"
	assert_eq "$(count)" 200000 "200k rows loaded"
	conf full_refresh "$(q "${qg/ROWS/1000000}")"
	read -r big rc < <(peak_rss "$SAMSPOR" -c "$T/s.conf" sync)
	assert_eq "$rc" 0 "1M rows synced"
	assert_eq "$(count)" 1000000 "1M rows loaded"
	echo "peak RSS: 200k rows ${small} KiB, 1M rows ${big} KiB"
	# The whole result of 1M rows would take well over 100 MiB in libpq.
	((big < small + 8192)) || fail "peak RSS grew from $small KiB (200k rows) to $big KiB (1M rows)"
}

run_tests
