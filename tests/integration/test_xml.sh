#!/usr/bin/env bash
# samspor sync with the xml plugin against a real PostgreSQL: a generated
# Elevliste (synthetic pupils: cpr, grade, subjects with results relative
# to the national average, absence) in a namespaced document, loaded into a
# table with pseudonym columns; a malformed, a truncated and a
# "billion laughs" document each fail the sync (exit 1) and leave the
# table exactly as it was; an oversized record is a reject with its
# position; check --connect reaches the source.  SOAP over HTTPS runs when
# the harness has an HTTPS server (tests/integration/servers.sh).
# Local files only otherwise.  All data is generated synthetic.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if [[ ! -e $SAMSPOR_PLUGIN_DIR/xml.so ]]; then
	echo "xml.so is not in $SAMSPOR_PLUGIN_DIR" >&2
fi
pg_start

NS=urn:samspor:test:elevliste

# gen_elevliste FILE N SEED [EXTRA]: N synthetic pupils.  EXTRA: "bad"
# breaks one end tag near the end, "truncate" cuts the document in the
# middle (after a record), "big" makes pupil 3 carry 2 MB of notes.
gen_elevliste() {
	python3 - "$@" <<-'EOF'
		import random, sys
		path, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
		extra = sys.argv[4] if len(sys.argv) > 4 else ""
		rnd = random.Random(seed)
		out = ['<?xml version="1.0" encoding="UTF-8"?>\n',
		       '<Elevliste xmlns="urn:samspor:test:elevliste" skoleaar="2025/26">\n']
		for i in range(1, n + 1):
		    klasse = rnd.randint(0, 9)
		    year = 2025 - 6 - klasse          # born 2010-2019
		    d, m = rnd.randint(1, 28), rnd.randint(1, 12)
		    seventh = rnd.choice("4") if year >= 2000 else "0"
		    cpr = "%02d%02d%02d-%s%03d" % (d, m, year % 100, seventh, rnd.randint(0, 999))
		    rec = ['  <Elev id="%d">\n' % i,
		           '    <CPR>%s</CPR>\n' % cpr,
		           '    <Klassetrin>%d</Klassetrin>\n' % klasse,
		           '    <Skoleaar>2025/26</Skoleaar>\n']
		    for fag in ("Dansk", "Matematik", "Læsning"):
		        if rnd.random() < 0.9:
		            rec.append('    <Fag navn="%s"><Resultat>%+.2f</Resultat></Fag>\n'
		                       % (fag, rnd.gauss(0, 0.8)))
		    rec.append('    <Fravaer enhed="procent">%.1f</Fravaer>\n' % (rnd.random() * 15))
		    if extra == "big" and i == 3:
		        rec.append('    <Note><![CDATA[%s]]></Note>\n' % ("x" * (2 * 1024 * 1024)))
		    rec.append('  </Elev>\n')
		    out.append("".join(rec))
		out.append('</Elevliste>\n')
		doc = "".join(out)
		if extra == "bad":
		    k = doc.rfind("</Fravaer>")
		    doc = doc[:k] + "</Fravear>" + doc[k + 10:]
		if extra == "truncate":
		    doc = doc[: doc.find("</Elev>\n", len(doc) // 2) + 8]
		with open(path, "w", encoding="utf-8") as f:
		    f.write(doc)
	EOF
}

# conf [MODE]: $T/s.conf loading $T/in/elevliste.xml into table elever.
conf() {
	local mode=${1:-full_refresh}
	mkdir -p "$T/in"
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = ( { name = "skole"; plugin = "xml";
		  source = { url = "$T/in/elevliste.xml"; namespaces = [ "e=$NS" ]; };
		  streams = ( { table = "elever"; mode = "$mode"; record = "/e:Elevliste/e:Elev";
		    description = "Pupils' results relative to the national average";
		    columns = (
		      { name = "person"; from = "e:CPR"; rule = "pseudonym"; kind = "cpr"; },
		      { name = "birth_year"; from = "e:CPR"; rule = "cpr_birth_year"; },
		      { name = "elev_nr"; from = "@id"; type = "int"; },
		      { name = "klassetrin"; from = "e:Klassetrin"; type = "int"; },
		      { name = "skoleaar"; from = "e:Skoleaar"; rule = "keep"; type = "text"; },
		      { name = "dansk"; from = "e:Fag[@navn='Dansk']/e:Resultat"; type = "numeric"; },
		      { name = "matematik"; from = "e:Fag[@navn='Matematik']/e:Resultat"; type = "numeric"; },
		      { name = "laesning"; from = "e:Fag[@navn='Læsning']/e:Resultat"; type = "numeric"; },
		      { name = "fravaer_pct"; from = "e:Fravaer[@enhed='procent']"; type = "numeric"; }
		    ); } ); } );
	EOF
}

sync() { assert_exit "$1" "$SAMSPOR" -c "$T/s.conf" sync "${@:2}"; }

table_digest() { psql_q "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM (SELECT person, birth_year, elev_nr, klassetrin, skoleaar, dansk, matematik, laesning, fravaer_pct, _run_id FROM warehouse.elever) t"; }

reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
}

test_plugin_is_listed() {
	assert_exit 0 "$SAMSPOR" -c /dev/null plugins xml
	assert_contains "$OUT" "namespaces" "namespaces documented"
	assert_contains "$OUT" "soap_request_file" "soap_request_file documented"
	assert_contains "$OUT" "record" "record documented"
}

test_elevliste_loads_pseudonymised_rows() {
	reset_db
	conf
	gen_elevliste "$T/in/elevliste.xml" 500 1
	sync 0
	assert_match "$OUT" "skole.elever: read 500, loaded 500, rejected 0" "summary"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.elever')" 500 "rows loaded"
	assert_eq "$(psql_q 'SELECT count(DISTINCT elev_nr) FROM warehouse.elever')" 500 "one row per pupil"
	assert_eq "$(psql_q "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'warehouse.elever'::regclass AND attname = 'person'")" uuid "person is a uuid"
	assert_eq "$(psql_q "SELECT count(*) FROM warehouse.elever WHERE birth_year NOT BETWEEN 2010 AND 2019 OR klassetrin NOT BETWEEN 0 AND 9")" 0 "birth year and grade derived"
	assert_eq "$(psql_q "SELECT count(*) FROM warehouse.elever WHERE skoleaar <> '2025/26'")" 0 "text value"
	# the subjects a pupil lacks are NULL, the others numbers near 0
	local nd
	nd=$(psql_q 'SELECT count(dansk) FROM warehouse.elever')
	((nd > 400 && nd < 500)) || fail "dansk present for $nd of 500 pupils"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.elever WHERE abs(dansk) > 5 OR abs(laesning) > 5')" 0 "results relative to the national average"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.elever WHERE fravaer_pct IS NULL OR fravaer_pct > 15')" 0 "absence"
	# the pseudonym is the one samspor pseudonym gives for the CPR number
	local cpr pn
	cpr=$(python3 -c 'import re,sys; print(re.search(r"<CPR>([^<]*)</CPR>", open(sys.argv[1]).read()).group(1))' "$T/in/elevliste.xml")
	pn=$(echo "$cpr" | "$SAMSPOR" -c "$T/s.conf" pseudonym --kind cpr)
	assert_eq "$(psql_q "SELECT elev_nr FROM warehouse.elever WHERE person = '$pn'")" 1 "pseudonym of pupil 1"
	# no CPR number anywhere in the warehouse
	assert_eq "$(psql_q "SELECT count(*) FROM warehouse.elever t WHERE t::text LIKE '%${cpr}%'")" 0 "no CPR in the table"
	assert_match "$(psql_q "SELECT plugin_state FROM samspor.sync_state")" '"name":"elevliste.xml"' "files read are the plugin state"
}

test_malformed_document_fails_and_loads_nothing() {
	reset_db
	conf
	gen_elevliste "$T/in/elevliste.xml" 200 2
	sync 0
	local before
	before=$(table_digest)
	gen_elevliste "$T/in/elevliste.xml" 300 3 bad
	sync 1
	assert_contains "$OUT$ERR" "elevliste.xml: line " "the error names the file and line"
	assert_contains "$OUT$ERR" "not well-formed XML" "the error says why"
	assert_eq "$(table_digest)" "$before" "table unchanged"
	assert_eq "$(psql_q "SELECT status FROM samspor.sync_run ORDER BY run_id DESC LIMIT 1")" failed "failure recorded"
	# a truncated document: fresh, it is still being written (75) ...
	gen_elevliste "$T/in/elevliste.xml" 300 4 truncate
	sync 75
	assert_contains "$OUT$ERR" "still being written" "taken as mid-write"
	assert_eq "$(table_digest)" "$before" "table unchanged after a document cut mid-write"
	# ... older than the settle time (5 minutes by default), broken
	touch -d '-6 minutes' "$T/in/elevliste.xml"
	sync 1
	assert_contains "$OUT$ERR" "truncated" "truncation named"
	assert_eq "$(table_digest)" "$before" "table unchanged after a truncated document"
}

test_billion_laughs_refused() {
	reset_db
	conf append
	gen_elevliste "$T/in/elevliste.xml" 20 5
	sync 0
	local before
	before=$(table_digest)
	{
		printf '<?xml version="1.0"?>\n<!DOCTYPE Elevliste [\n <!ENTITY lol "lol">\n'
		printf ' <!ENTITY lol1 "%s">\n' "$(printf '&lol;%.0s' {1..10})"
		for i in 2 3 4 5 6 7 8 9; do
			printf ' <!ENTITY lol%d "%s">\n' "$i" "$(for _ in {1..10}; do printf '&lol%d;' $((i - 1)); done)"
		done
		printf ']>\n<Elevliste xmlns="%s"><Elev id="1"><CPR>&lol9;</CPR></Elev></Elevliste>\n' "$NS"
	} >"$T/in/elevliste.xml"
	local t0=$SECONDS
	sync 1
	((SECONDS - t0 < 30)) || fail "took $((SECONDS - t0)) s"
	assert_contains "$OUT$ERR" "DTDs and entity declarations are not accepted" "clear message"
	assert_eq "$(table_digest)" "$before" "table unchanged"
	# an external entity: the same refusal, and /etc/passwd nowhere
	printf '<?xml version="1.0"?>\n<!DOCTYPE Elevliste [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n<Elevliste xmlns="%s"><Elev id="1"><CPR>&e;</CPR></Elev></Elevliste>\n' "$NS" >"$T/in/elevliste.xml"
	sync 1
	assert_contains "$OUT$ERR" "DTDs and entity declarations are not accepted" "external entity refused"
	assert_not_contains "$OUT$ERR" "root:" "no file content"
	assert_eq "$(table_digest)" "$before" "table unchanged"
}

test_oversized_record_is_a_reject() {
	reset_db
	conf
	sed -i 's/streams = ( { table = "elever";/streams = ( { table = "elever"; max_reject_ratio = 0.5;/' "$T/s.conf"
	gen_elevliste "$T/in/elevliste.xml" 10 6 big
	sync 0
	assert_match "$OUT" "read 10, loaded 9, rejected 1" "one reject"
	assert_eq "$(psql_q "SELECT reason FROM samspor.rejects")" record_too_long "reason"
	assert_match "$(psql_q "SELECT position FROM samspor.rejects")" '^elevliste\.xml: record 3 \(line [0-9]+\)$' "position"
}

test_record_path_that_does_not_fit_fails() {
	reset_db
	conf
	gen_elevliste "$T/in/elevliste.xml" 10 7
	sync 0
	local before
	before=$(table_digest)
	# A record path the document's root refutes is a configuration error
	# (exit 2), not an empty load that would empty a full_refresh table.
	sed -i 's|record = "/e:Elevliste/e:Elev"|record = "/Elevliste/Elev"|' "$T/s.conf"
	sync 2
	assert_contains "$OUT$ERR" "does not match the document" "the path named"
	assert_contains "$OUT$ERR" "in namespace '$NS'" "the message says the namespace"
	assert_eq "$(table_digest)" "$before" "table unchanged"
}

test_append_loads_each_file_once() {
	reset_db
	conf append
	sed -i "s|url = \"$T/in/elevliste.xml\";|url = \"$T/in/elever_*.xml\"; files = \"all\";|" "$T/s.conf"
	gen_elevliste "$T/in/elever_1.xml" 30 9
	sync 0
	assert_match "$OUT" "loaded 30," "first file"
	gen_elevliste "$T/in/elever_2.xml" 20 10
	sync 0
	assert_match "$OUT" "read 20, loaded 20," "only the new file"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.elever')" 50 "each file once"
	sync 0
	assert_match "$OUT" "read 0, loaded 0," "nothing new"
}

test_check_connect_reaches_source() {
	reset_db
	conf
	gen_elevliste "$T/in/elevliste.xml" 5 8
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" check --connect
	rm "$T/in/elevliste.xml"
	RC=0
	"$SAMSPOR" -c "$T/s.conf" check --connect >"$T/out" 2>&1 || RC=$?
	((RC != 0)) || fail "check --connect passed without the source file"
}

# The SOAP service: an HTTPS server that wants a client certificate (as
# Serviceplatformen does) and answers a POST with the file at its path.
test_soap_over_https() {
	if [[ ! -f $SP_TESTDIR/servers.sh ]] || ! grep -q '^https_start()' "$SP_TESTDIR/servers.sh"; then
		t_skip "no HTTPS test server yet (tests/integration/servers.sh https_start)"
	fi
	# shellcheck source=/dev/null
	. "$SP_TESTDIR/certs.sh"
	# shellcheck source=/dev/null
	. "$SP_TESTDIR/servers.sh"
	reset_db
	mkdir -p "$T/www"
	python3 - "$T/www/svc.xml" <<-'EOF'
		import sys
		body = ['<?xml version="1.0" encoding="UTF-8"?>\n<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">\n',
		        '<soap:Body><m:HentElevResponse xmlns:m="urn:samspor:test:svc">\n']
		for i in range(1, 31):
		    body.append('<m:Elev><m:CPR>%02d0115-4%03d</m:CPR><m:Klassetrin>%d</m:Klassetrin>'
		                '<m:Dato>2026-01-%02d</m:Dato></m:Elev>\n' % (i % 28 + 1, i, i % 10, i % 28 + 1))
		body.append('</m:HentElevResponse></soap:Body></soap:Envelope>\n')
		open(sys.argv[1], "w").write("".join(body))
	EOF
	# shellcheck disable=SC2016 # ${cursor} is samspor's, not the shell's
	printf '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><HentElev><fra>${cursor}</fra></HentElev></soap:Body></soap:Envelope>\n' >"$T/request.xml"
	https_start "$T/www" --client-cert
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = ( { name = "svc"; plugin = "xml";
		  source = { url = "https://localhost:$HTTPS_PORT/svc.xml"; ca_file = "$HTTPS_CA";
		    client_cert_file = "$HTTPS_CERTS/client.pem"; client_key_file = "$HTTPS_CERTS/client.key";
		    headers = [ "Content-Type: text/xml; charset=utf-8", "SOAPAction: \"urn:HentElev\"" ];
		    soap_request_file = "$T/request.xml";
		    namespaces = [ "s=http://schemas.xmlsoap.org/soap/envelope/", "m=urn:samspor:test:svc" ]; };
		  streams = ( { table = "svc_elever"; mode = "append"; cursor = "dato";
		    record = "/s:Envelope/s:Body/m:HentElevResponse/m:Elev";
		    columns = (
		      { name = "person"; from = "m:CPR"; rule = "pseudonym"; kind = "cpr"; },
		      { name = "klassetrin"; from = "m:Klassetrin"; type = "int"; },
		      { name = "dato"; from = "m:Dato"; type = "date"; format = "%Y-%m-%d"; }
		    ); } ); } );
	EOF
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" check --connect
	sync 0
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.svc_elever')" 30 "SOAP records loaded"
	assert_contains "$(cat "$HTTPS_LOG.body")" "<fra></fra>" "no cursor the first time"
	assert_contains "$(grep '"POST"' "$HTTPS_LOG" | tail -n 1)" 'urn:HentElev' "SOAPAction sent"
	# the next request asks from the stored cursor
	sync 0
	assert_contains "$(cat "$HTTPS_LOG.body")" "<fra>2026-01-28</fra>" "cursor substituted"
	local before
	before=$(psql_q 'SELECT count(*) FROM warehouse.svc_elever')
	# a Fault fails the stream with its faultcode, and loads nothing; its
	# faultstring (here a synthetic CPR number and name) is never shown
	printf '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>Ugyldigt cpr 0101991234 for Testperson Syntetisk</faultstring></soap:Fault></soap:Body></soap:Envelope>\n' >"$T/www/svc.xml"
	sync 1
	assert_contains "$OUT$ERR" "SOAP Fault soap:Client (its fault string is withheld: it may quote data)" "faultcode shown"
	assert_not_contains "$OUT$ERR" "Testperson" "no name from the faultstring"
	assert_not_contains "$OUT$ERR" "0101991234" "no number from the faultstring"
	assert_not_contains "$(psql_q 'SELECT string_agg(coalesce(error, $$$$), $$ $$) FROM samspor.sync_run')" "Testperson" "nor in sync_run.error"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.svc_elever')" "$before" "table unchanged"
	# without the client certificate the service refuses us
	sed -i '/client_cert_file/d' "$T/s.conf"
	RC=0
	"$SAMSPOR" -c "$T/s.conf" sync >"$T/out" 2>&1 || RC=$?
	((RC != 0)) || fail "sync without a client certificate succeeded"
}

run_tests
