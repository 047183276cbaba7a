#!/usr/bin/env bash
# samspor discover through the real binary and the real csv, pgsql, xml
# and rest plugins: the fields of a source file, query, XML document or
# REST API (tests/integration/api_server.py over HTTPS on 127.0.0.1), the
# guessed types, a columns skeleton that
# samspor check accepts, privacy-safe defaults, and never a value: the
# output is scanned for every value of the generated file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$SP_TESTDIR/certs.sh"

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

# An XML file's record children: nested ones as paths, one in a namespace
# without a configured prefix by local-name(), one only some records have.
test_xml_record_children() {
	mkdir -p "$T/in"
	python3 - "$T/in/elever.xml" "$T/values.txt" <<-'PY'
		import random, sys
		rnd = random.Random(11)
		vals, recs = set(), []
		for i in range(60):
		    d, m, y = rnd.randint(1, 28), rnd.randint(1, 12), rnd.randint(0, 99)
		    cpr = "%02d%02d%02d%04d" % (d, m, y, rnd.randint(0, 9999))
		    navn = "Elev%d Testesen" % i
		    vej = "Prøvevej %d" % (100 + i)
		    dato = "%02d-%02d-2025" % (rnd.randint(1, 28), rnd.randint(1, 12))
		    fravaer = "%d,%d" % (rnd.randint(10, 99), rnd.randint(1, 9))
		    vals |= {cpr, navn, vej, dato, fravaer}
		    extra = "<Klasse>%dA</Klasse>" % (i % 9 + 1) if i % 2 else ""
		    recs.append('<Elev><CPR>%s</CPR><Navn>%s</Navn><Adresse><Vej>%s</Vej>'
		                '<Postnr>2300</Postnr></Adresse><Dato>%s</Dato><Fravaer>%s</Fravaer>'
		                '<k:Skole>S%d</k:Skole>%s</Elev>' % (cpr, navn, vej, dato, fravaer, i % 4, extra))
		with open(sys.argv[1], "w", encoding="utf-8") as f:
		    f.write('<?xml version="1.0" encoding="UTF-8"?>\n<Elevliste xmlns:k="urn:example:skole">\n')
		    f.write("\n".join(recs) + "\n</Elevliste>\n")
		open(sys.argv[2], "w").write("\n".join(sorted(vals)) + "\n")
	PY
	assert_exit 0 "$SAMSPOR" discover --plugin xml "$T/in/elever.xml" --option record=/Elevliste/Elev
	local out=$OUT
	assert_no_value "$out$ERR" "xml"
	assert_contains "$out" "8 fields
# types guessed from 60 records" "fields and sample"
	assert_match "$out" "#   CPR +CPR-like \\(60 of 60 values\\)" "CPR flagged"
	assert_contains "$out" '{ name = "cpr"; from = "CPR"; rule = "pseudonym"; kind = "cpr"; }' "CPR pseudonymised"
	assert_contains "$out" '# left out, a name or an address: { name = "navn"; from = "Navn"; }' "name left out"
	assert_contains "$out" '# left out, a name or an address: { name = "adresse_vej"; from = "Adresse/Vej"; }' "nested element as a path"
	assert_contains "$out" '{ name = "dato"; from = "Dato"; type = "date"; format = "%d-%m-%Y"; }' "date dd-mm-yyyy"
	assert_contains "$out" '{ name = "fravaer"; from = "Fravaer"; type = "numeric"; decimal_comma = true; }' "decimal comma"
	assert_contains "$out" '{ name = "skole"; from = "*[local-name()='"'"'Skole'"'"']"; type = "text"; }' "namespace without a prefix"
	assert_contains "$ERR" 'namespace urn:example:skole, which namespaces gives no prefix' "prefix suggested"
	assert_contains "$out" '{ name = "klasse"; from = "Klasse"; type = "text"; }' "a child of some records"
	# The skeleton is a valid columns list as it stands.
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/xml.conf" <<-EOF
		warehouse: { conninfo = "host=/nonexistent dbname=w"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = ( { name = "elever"; plugin = "xml"; source = { url = "$T/in/elever.xml"; };
		  streams = ( { table = "elev"; mode = "full_refresh"; record = "/Elevliste/Elev";
		    $(sed -n '/^columns = (/,/^);/p' <<<"$out")
		  } ); } );
	EOF
	assert_exit 0 "$SAMSPOR" -c "$T/xml.conf" check
	assert_exit 0 "$SAMSPOR" discover --plugin xml "$T/in/elever.xml" --option record=/Elevliste/Elev --option namespaces=k=urn:example:skole
	assert_contains "$OUT" '{ name = "k_skole"; from = "k:Skole"; type = "text"; }' "configured prefix"
	assert_no_value "$OUT$ERR" "xml with namespaces"
	assert_exit 2 "$SAMSPOR" discover --plugin xml "$T/in/elever.xml" --option record=/Elevliste/Nope
	assert_contains "$ERR" "xml: elever.xml: no element matches the record path '/Elevliste/Nope'" "no record"
}

# The keys of a REST API's first records (api_server.py: nested objects,
# arrays, nulls, CPR numbers with a dash), over HTTPS on 127.0.0.1.
test_rest_record_keys() {
	local certs=$SP_WORK/certs pid
	make_certs "$certs"
	python3 "$SP_TESTDIR/api_server.py" serve --certs "$certs" --port-file "$T/api.port" \
		--records 60 --seed 3 --parent $$ >"$T/api.log" 2>&1 &
	pid=$!
	at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	for _ in $(seq 1 100); do
		[[ -s $T/api.port ]] && break
		sleep 0.1
	done
	[[ -s $T/api.port ]] || fail "api_server did not start: $(cat "$T/api.log")"
	local port
	port=$(cat "$T/api.port")
	# A configured connector: the token comes from the environment, as
	# secrets do.
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	rest_conf() { # rest_conf COLUMNS
		cat >"$T/rest.conf" <<-EOF
			warehouse: { conninfo = "host=/nonexistent dbname=w"; };
			pseudonym: { key_file = "$T/key"; };
			connectors = ( { name = "boliger"; plugin = "rest";
			  source = { url = "https://127.0.0.1:$port/v1/page/tenancies"; ca_file = "$certs/ca.pem";
			    auth = "bearer"; token_env = "SP_TEST_TOKEN"; pagination = "page";
			    page_param = "page"; limit_param = "limit"; page_size = 25; };
			  streams = ( { table = "tenancy"; mode = "full_refresh"; records = "items";
			    $1
			  } ); } );
		EOF
	}
	rest_conf 'columns = ( { name = "id"; from = "tenancy_id"; type = "bigint"; } );'
	SP_TEST_TOKEN=static-bearer-token-1 assert_exit 0 "$SAMSPOR" -c "$T/rest.conf" discover boliger
	local out=$OUT
	python3 "$SP_TESTDIR/api_server.py" ctl --certs "$certs" --port "$port" GET /_log | python3 -c '
import json, sys
for r in json.load(sys.stdin)["records"]:
    for v in (r["tenant"]["cpr"], r["tenant"]["cpr"].replace("-", ""), r["tenant"]["name"], r["unit"]["address"], r["move_in"]):
        print(v)' >"$T/values.txt"
	assert_no_value "$out$ERR" "rest"
	assert_contains "$out" "11 fields
# types guessed from 60 records" "every key, over pages"
	assert_match "$out" "#   tenant\\.cpr +CPR-like \\(60 of 60 values\\)" "CPR flagged"
	assert_contains "$out" '{ name = "tenant_cpr"; from = "tenant.cpr"; rule = "pseudonym"; kind = "cpr"; }' "nested key as a dotted path"
	assert_contains "$out" '# left out, a name or an address: { name = "tenant_name"; from = "tenant.name"; }' "name left out"
	assert_contains "$out" '# left out, a name or an address: { name = "unit_address"; from = "unit.address"; }' "address left out"
	assert_contains "$out" '{ name = "tenancy_id"; from = "tenancy_id"; type = "bigint"; }' "integer"
	assert_contains "$out" '{ name = "move_in"; from = "move_in"; type = "date"; }' "ISO date"
	assert_contains "$out" '{ name = "arrears_dkk"; from = "arrears_dkk"; type = "numeric"; }' "decimal point"
	assert_contains "$out" '{ name = "eviction"; from = "eviction"; type = "boolean"; }' "boolean"
	assert_contains "$out" '{ name = "tags"; from = "tags"; type = "text"; }' "an array as one field"
	# The skeleton is a valid columns list as it stands.
	rest_conf "$(sed -n '/^columns = (/,/^);/p' <<<"$out")"
	SP_TEST_TOKEN=static-bearer-token-1 assert_exit 0 "$SAMSPOR" -c "$T/rest.conf" check
	# A bare URL, to an API that needs no credentials.
	python3 "$SP_TESTDIR/api_server.py" ctl --certs "$certs" --port "$port" POST /_control '{"auth_required": false}' >/dev/null
	assert_exit 0 "$SAMSPOR" discover -n 10 --plugin rest "https://127.0.0.1:$port/v1/page/tenancies" \
		--option ca_file="$certs/ca.pem" --option records=items
	assert_contains "$OUT" "11 fields
# types guessed from 10 records" "bare URL, -n"
	assert_no_value "$OUT$ERR" "rest -n"
	assert_exit 1 "$SAMSPOR" discover --plugin rest "https://127.0.0.1:$port/v1/page/tenancies" \
		--option ca_file="$certs/ca.pem" --option records=page
	assert_contains "$ERR" "rest: page 1 (" "records path not an array"
	assert_no_value "$ERR" "rest error"
}

test_usage() {
	gen
	assert_exit 2 "$SAMSPOR" discover --plugin csv "$T/in/unge_1.csv" --option nosuch=1
	assert_contains "$ERR" "plugin csv has no option 'nosuch'" "unknown option"
	assert_exit 2 "$SAMSPOR" discover --plugin csv "$T/in/unge_1.csv" --option novalue
	assert_contains "$ERR" "--option wants KEY=VALUE" "KEY=VALUE"
	assert_exit 2 "$SAMSPOR" discover --plugin nosuch "$T/in/unge_1.csv"
	assert_contains "$ERR" "no plugin 'nosuch'" "unknown plugin"
	assert_exit 2 "$SAMSPOR" discover
	assert_exit 0 "$SAMSPOR" help discover
	assert_contains "$OUT" "Values are never printed" "help"
}

run_tests
