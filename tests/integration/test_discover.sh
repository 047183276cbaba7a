#!/usr/bin/env bash
# samspor discover through the real binary and the real csv and pgsql
# plugins: the fields of a source file or query, the guessed types, a columns skeleton that
# samspor check accepts, privacy-safe defaults, and never a value: the
# output is scanned for every value of the generated file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

GEN=$SP_TESTDIR/gen_csv.py

gen() {
	mkdir -p "$T/in"
	python3 "$GEN" --rows 200 --seed 5 --out "$T/in/unge_1.csv" "$@"
	# Every value of the file (4 characters or more: shorter ones, such as
	# a postcode digit, occur in any text), one a line, for grep -F -f.
	python3 - "$T/in/unge_1.csv" >"$T/values.txt" <<-'PY'
		import csv, sys
		with open(sys.argv[1], encoding="windows-1252", newline="") as f:
		    rows = list(csv.reader(f, delimiter=";"))
		header = set(rows[0])
		vals = {v for r in rows[1:] for v in r if len(v) >= 4 and v not in header}
		print("\n".join(sorted(vals)))
	PY
	[[ -s $T/values.txt ]] || fail "no values to scan for"
}

assert_no_value() {
	local hits
	hits=$(grep -F -o -f "$T/values.txt" <<<"$1" | head -3 || true)
	assert_eq "$hits" "" "$2: no value of the file printed"
}

conf() { # conf COLUMNS...
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "host=/nonexistent dbname=w"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = ( { name = "unge"; plugin = "csv";
		  source = { url = "$T/in/unge_*.csv"; encoding = "windows-1252"; };
		  streams = ( { table = "youth_status"; mode = "full_refresh";
		    $1
		  } ); } );
	EOF
}

test_bare_csv_source() {
	gen
	assert_exit 0 "$SAMSPOR" discover --plugin csv "$T/in/unge_1.csv" --option encoding=windows-1252 --option delimiter=";"
	local out=$OUT
	assert_no_value "$out$ERR" "discover"
	assert_contains "$out" "8 fields
# types guessed from 100 records" "fields and sample"
	assert_match "$out" "#   cpr +CPR-like \\(100 of 100 values\\)" "CPR flagged"
	assert_contains "$out" '{ name = "cpr"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; }' "CPR pseudonymised"
	assert_contains "$out" '# left out, a name or an address: { name = "navn"; from = "navn"; }' "name left out"
	assert_contains "$out" '# left out, a name or an address: { name = "adresse"; from = "adresse"; }' "address left out"
	assert_contains "$out" '{ name = "statusdato"; from = "statusdato"; type = "date"; format = "%d-%m-%Y"; }' "date dd-mm-yyyy"
	assert_contains "$out" '{ name = "ydelse_kr"; from = "ydelse_kr"; type = "numeric"; decimal_comma = true; }' "decimal comma"
	assert_contains "$out" '{ name = "postnr"; from = "postnr"; type = "bigint"; }' "integer"
	# The skeleton is a valid columns list as it stands.
	conf "$(sed -n '/^columns = (/,/^);/p' <<<"$out")"
	cp "$T/s.conf" "$T/skeleton.conf"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" check
	assert_exit 0 "$SAMSPOR" discover -n 10 --plugin csv "$T/in/unge_1.csv" --option encoding=windows-1252
	assert_contains "$OUT" "from 10 records" "-n"
}

test_configured_connector() {
	gen
	conf 'columns = ( { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; } );'
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" discover unge
	assert_contains "$OUT" "# unge, stream youth_status: 8 fields" "the connector's stream"
	assert_contains "$OUT" "statusdato" "every field, not only the configured ones"
	assert_no_value "$OUT$ERR" "discover CONNECTOR"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" discover nosuch
	assert_contains "$ERR" "no connector named 'nosuch'" "unknown connector"
}

test_without_header() {
	gen
	tail -n +2 "$T/in/unge_1.csv" >"$T/in/noheader.csv"
	assert_exit 0 "$SAMSPOR" discover --plugin csv "$T/in/noheader.csv" --option encoding=windows-1252 --option header=false
	assert_contains "$OUT" '{ name = "f_1"; from = "1"; rule = "pseudonym"; kind = "cpr"; }' "positions"
	assert_no_value "$OUT$ERR" "no header"
}

# A query's result columns, through the pgsql plugin against a real
# PostgreSQL; CPR numbers and names are generated, valid in form only.
test_pgsql_query_columns() {
	pg_start
	psql_q "CREATE DATABASE partner_db" >/dev/null
	psql_q "CREATE TABLE jc (id bigint, cpr text, fornavn text, maaned date, beloeb numeric);
		INSERT INTO jc SELECT g,
		  lpad((g % 28 + 1)::text, 2, '0') || lpad((g % 12 + 1)::text, 2, '0') || '85' || lpad((1000 + g)::text, 4, '0'),
		  'Fornavn' || g, date '2024-01-01' + g, g * 1.25
		FROM generate_series(1, 50) g" -d partner_db >/dev/null
	psql_q "SELECT cpr, fornavn FROM jc" -d partner_db | tr '|' '\n' >"$T/values.txt"
	local conninfo="host=$PGHOST port=$PGPORT user=postgres dbname=partner_db"
	assert_exit 0 "$SAMSPOR" discover --plugin pgsql "$conninfo" --option "query=SELECT id, cpr, fornavn, maaned, beloeb FROM jc"
	local out=$OUT
	assert_contains "$out" "5 fields" "the query's columns"
	assert_contains "$out" '{ name = "cpr"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; }' "CPR column"
	assert_contains "$out" '# left out, a name or an address: { name = "fornavn"; from = "fornavn"; }' "name left out"
	assert_contains "$out" '{ name = "maaned"; from = "maaned"; type = "date"; }' "ISO date"
	assert_contains "$out" '{ name = "id"; from = "id"; type = "bigint"; }' "integer"
	assert_no_value "$out$ERR" "pgsql"
}

test_usage() {
	gen
	assert_exit 2 "$SAMSPOR" discover --plugin csv "$T/in/unge_1.csv" --option nosuch=1
	assert_contains "$ERR" "plugin csv has no option 'nosuch'" "unknown option"
	assert_exit 2 "$SAMSPOR" discover --plugin csv "$T/in/unge_1.csv" --option novalue
	assert_contains "$ERR" "--option wants KEY=VALUE" "KEY=VALUE"
	assert_exit 2 "$SAMSPOR" discover --plugin nosuch "$T/in/unge_1.csv"
	assert_contains "$ERR" "no plugin 'nosuch'" "unknown plugin"
	assert_exit 2 "$SAMSPOR" discover --plugin xml "$T/in/unge_1.csv" --option record=//r
	assert_contains "$ERR" "plugin xml cannot list the fields of its source" "a plugin without discover"
	assert_exit 2 "$SAMSPOR" discover
	assert_exit 0 "$SAMSPOR" help discover
	assert_contains "$OUT" "Values are never printed" "help"
}

run_tests
