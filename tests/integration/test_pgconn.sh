#!/usr/bin/env bash
# Connecting to the warehouse (issue 13, items 2 and 8): exit classes taken
# from the SQLSTATE and PQping(), never from the server's words — a wrong
# dbname, an unknown role and a wrong password exit 1 naming
# warehouse.conninfo, a server that is down exits 75 — and the TLS rule:
# loopback TCP and sockets connect as before, a non-loopback host gets
# sslmode=verify-full unless conninfo chooses, and `check` says which and
# warns about anything weaker.  Nothing here connects anywhere but the
# test cluster's socket and 127.0.0.1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# A port of our own: the cluster also listens on 127.0.0.1 here.
SP_PG_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SP_PG_PORT
pg_start
psql_q "ALTER SYSTEM SET listen_addresses = '127.0.0.1'" >/dev/null
pg_restart

# conf CONNINFO [WAREHOUSE_EXTRA] [SOURCE_CONNINFO]: $T/s.conf with one csv
# connector, or a pgsql one reading SOURCE_CONNINFO when given.
conf() {
	local ci=$1 extra=${2:-} sci=${3:-}
	mkdir -p "$T/in"
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	printf 'nr;status\n1;ledig\n2;i job\n' >"$T/in/a.csv"
	{
		printf 'warehouse: { conninfo = "%s"; %s };\n' "$ci" "$extra"
		printf 'pseudonym: { key_file = "%s"; };\n' "$T/key"
		if [[ -n $sci ]]; then
			printf 'connectors = ( { name = "jc"; plugin = "pgsql"; source = { conninfo = "%s"; };\n' "$sci"
			printf '  streams = ( { table = "a"; query = "SELECT 1 AS nr"; description = "x";\n'
			printf '    columns = ( { name = "nr"; from = "nr"; type = "int"; } ); } ); } );\n'
		else
			printf 'connectors = ( { name = "a"; plugin = "csv"; source = { url = "%s"; delimiter = ";"; };\n' "$T/in/a.csv"
			printf '  streams = ( { table = "a"; description = "x";\n'
			printf '    columns = ( { name = "nr"; from = "nr"; type = "int"; },\n'
			printf '      { name = "status"; from = "status"; rule = "keep"; } ); } ); } );\n'
		fi
	} >"$T/s.conf"
}

sync() { assert_exit "$1" "$SAMSPOR" -c "$T/s.conf" sync "${@:2}"; }
# Each test makes its own key: start from an empty warehouse.
reset_db() { psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null 2>&1; }
check() { assert_exit "$1" "$SAMSPOR" -c "$T/s.conf" check "${@:2}"; }

test_unknown_database_is_a_failure_naming_the_setting() {
	conf "host=$PGHOST port=$PGPORT user=postgres dbname=no_such_db"
	sync 1
	assert_contains "$ERR$OUT" "cannot connect to the warehouse: the database does not exist (SQLSTATE 3D000); fix dbname in warehouse.conninfo" "exit 1, names the setting"
	check 1 --connect
	assert_contains "$OUT" "the database does not exist (SQLSTATE 3D000)" "check --connect says the same"
}

test_unknown_role_is_a_failure_naming_the_setting() {
	conf "host=$PGHOST port=$PGPORT user=no_such_role dbname=warehouse"
	sync 1
	assert_contains "$ERR$OUT" "cannot connect to the warehouse: the server refused the login: no such role, or its pg_hba.conf does not admit this user from here (SQLSTATE 28000); fix the user in warehouse.conninfo" "exit 1, names the setting"
}

# A role with a password and a scram-sha-256 line in pg_hba.conf (the
# cluster's other lines are trust, as lib.sh's initdb -A trust makes them).
test_wrong_password_is_a_failure_naming_the_setting() {
	psql_q "DROP ROLE IF EXISTS sp_wpw; CREATE ROLE sp_wpw LOGIN PASSWORD 'Rigtig-Kode7'; GRANT ALL ON DATABASE warehouse TO sp_wpw; GRANT ALL ON SCHEMA public TO sp_wpw" >/dev/null
	local hba=$SP_PG_DIR/data/pg_hba.conf
	if ! grep -q sp_wpw "$hba"; then
		{ echo "local warehouse sp_wpw scram-sha-256"; cat "$hba"; } >"$hba.new"
		cat "$hba.new" >"$hba"
		psql_q "SELECT pg_reload_conf()" >/dev/null
	fi
	printf 'Forkert-Kode\n' >"$T/pw"
	chmod 600 "$T/pw"
	conf "host=$PGHOST port=$PGPORT user=sp_wpw dbname=warehouse" "password_file = \"$T/pw\";"
	sync 1
	assert_contains "$ERR$OUT" "cannot connect to the warehouse: the server refused the password (SQLSTATE 28P01); fix the user in warehouse.conninfo or the password in its password_file or password_env" "exit 1, names the setting"
	assert_not_contains "$ERR$OUT" "Forkert-Kode" "the password is not repeated"
	check 1 --connect
	assert_contains "$OUT" "the server refused the password (SQLSTATE 28P01)" "check --connect says the same"
	printf 'Rigtig-Kode7\n' >"$T/pw"
	check 0 --connect
}

test_server_down_is_temporary() {
	reset_db
	conf "host=$PGHOST port=$PGPORT user=postgres dbname=warehouse"
	pg_down
	local rc=0
	"$SAMSPOR" -c "$T/s.conf" sync >"$T/out" 2>"$T/err" || rc=$?
	pg_up
	assert_eq "$rc" 75 "exit 75 while the server is down"
	assert_contains "$(cat "$T/err" "$T/out")" "cannot connect to the warehouse: connection to server on socket" "libpq says what it tried"
	sync 0
}

# 127.0.0.1 over TCP, without any certificate: loopback keeps libpq's
# default, so what worked before still works.
test_loopback_tcp_needs_no_certificate() {
	reset_db
	conf "host=127.0.0.1 port=$PGPORT user=postgres dbname=warehouse"
	check 0
	assert_contains "$OUT" "warehouse: schema warehouse; TLS local (socket or loopback), sslmode libpq's default" "check says local"
	assert_not_contains "$ERR" "sslmode" "no warning"
	sync 0
	assert_match "$OUT$ERR" "loaded 2" "loaded over 127.0.0.1"
	conf "hostaddr=127.0.0.1 host=localhost port=$PGPORT user=postgres dbname=warehouse"
	sync 0
}

# A non-loopback host: samspor asks for verify-full unless conninfo says
# otherwise; `check` shows the effective sslmode (no connection is made)
# and warns, with file:line, about anything weaker.
test_non_loopback_host_defaults_to_verify_full() {
	conf "host=db.example.invalid port=5432 user=samspor dbname=warehouse"
	check 0
	assert_contains "$OUT" "warehouse: schema warehouse; TLS sslmode verify-full (samspor's default for the non-local host db.example.invalid)" "verify-full by default"
	assert_not_contains "$ERR" "warning" "no warning"
	conf "host=db.example.invalid sslmode=require user=samspor dbname=warehouse"
	check 0
	assert_contains "$OUT" "TLS sslmode require" "the conninfo's choice is kept"
	assert_contains "$ERR" "warning: s.conf:1: warehouse.conninfo reaches the non-local host db.example.invalid with sslmode require: the server's certificate and name are not verified" "weaker: warned with file:line"
	conf "postgresql://samspor@10.20.30.40/warehouse"
	check 0
	assert_contains "$OUT" "sslmode verify-full (samspor's default for the non-local host 10.20.30.40)" "URI form"
	# The pgsql source gets the same rule.
	conf "$SP_CONNINFO" "" "host=jobcenter.example.invalid dbname=jc user=samspor"
	check 0
	assert_contains "$OUT" "source TLS: sslmode verify-full (samspor's default for the non-local host jobcenter.example.invalid)" "source: verify-full by default"
	conf "$SP_CONNINFO" "" "host=jobcenter.example.invalid dbname=jc sslmode=prefer"
	check 0
	assert_match "$ERR" "warning: s.conf:3: the source's conninfo reaches the non-local host jobcenter.example.invalid with sslmode prefer" "source: weaker warned"
	conf "$SP_CONNINFO" "" "host=127.0.0.1 port=$PGPORT dbname=warehouse user=postgres"
	check 0
	assert_contains "$OUT" "source TLS: local (socket or loopback)" "source on loopback"
	reset_db
	sync 0
}

run_tests
