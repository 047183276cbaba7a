#!/usr/bin/env bash
# The rest plugin against a real HTTPS API (tests/integration/api_server.py)
# on 127.0.0.1 with a test CA made here, the real samspor binary and a
# throwaway PostgreSQL: each pagination style, bearer, basic and OAuth2
# (token reused, renewed once on 401), mutual TLS, TLS verification,
# retried 429 and 500, permanent failures and their exit codes, malformed
# JSON, rejects with positions, the stored cursor in the URL and in a POST
# body, and check --connect.  All data is synthetic (api_server.py).
# shellcheck disable=SC2016 # ${cursor} is samspor's placeholder, not ours
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$SP_TESTDIR/certs.sh"

API=$SP_TESTDIR/api_server.py
NREC=137 # records the API serves (api_server.py --records)

if [[ ! -e $SAMSPOR_PLUGIN_DIR/rest.so ]]; then
	echo "not ok - test_rest.sh: no rest.so in $SAMSPOR_PLUGIN_DIR"
	echo "0 passed, 1 failed"
	exit 1
fi

CERTS=$SP_WORK/certs
make_certs "$CERTS"
pg_start

# api_start NAME [ARGS...]: start api_server.py as NAME; sets NAME_PORT.
# It is stopped when this file exits (and stops itself if the file is
# killed: --parent).
api_start() {
	local name=$1 pid
	shift
	python3 "$API" serve --certs "$CERTS" --port-file "$SP_WORK/$name.port" \
		--records "$NREC" --parent $$ "$@" >"$SP_WORK/$name.log" 2>&1 &
	pid=$!
	at_exit "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	for _ in $(seq 1 100); do
		[[ -s $SP_WORK/$name.port ]] && break
		kill -0 "$pid" 2>/dev/null || { cat "$SP_WORK/$name.log" >&2; return 1; }
		sleep 0.1
	done
	[[ -s $SP_WORK/$name.port ]] || { echo "api_server $name did not start" >&2; return 1; }
	printf -v "${name}_PORT" '%s' "$(cat "$SP_WORK/$name.port")"
}

# Set by api_start; read through ${!name} in url and api_ctl.
export main_PORT='' mtls_PORT=''
api_start main
api_start mtls --require-client-cert

# api_ctl NAME METHOD PATH [JSON]: talk to a server's control endpoints.
api_ctl() {
	local port_var="${1}_PORT"
	python3 "$API" ctl --certs "$CERTS" --port "${!port_var}" "${@:2}"
}

# api_reset NAME [JSON]: forget requests and tokens, then apply JSON.
api_reset() {
	api_ctl "$1" POST /_control '{"reset": true}' >/dev/null
	[[ -z ${2:-} ]] || api_ctl "$1" POST /_control "$2" >/dev/null
}

# api_eval NAME EXPR: evaluate a Python expression over the request log:
# R = requests (not control), D = data requests (/v1/), TOK = tokens issued.
api_eval() {
	api_ctl "$1" GET /_log | python3 -c '
import json, sys
L = json.load(sys.stdin)
R = L["requests"]; D = [r for r in R if r["path"].startswith("/v1/")]
TOK = L["tokens_issued"]; RECS = L["records"]
print(eval(sys.argv[1]))' "$2"
}

# conf SOURCE [RECORDS] [MODE] [STREAM_EXTRA]: $T/s.conf with one rest
# connector "tenancies" whose source group is SOURCE (libconfig text) and
# one stream into table tenancy.
conf() {
	local source=$1 records=${2:-} mode=${3:-full_refresh} extra=${4:-}
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = ( { name = "tenancies"; plugin = "rest";
		  source = { ca_file = "$CERTS/ca.pem"; retry_backoff = "0s";
		    $source };
		  streams = ( { table = "tenancy"; mode = "$mode"; records = "$records";
		    $extra
		    columns = (
		      { name = "tenancy_id"; from = "tenancy_id"; type = "bigint"; },
		      { name = "tenant"; from = "tenant.cpr"; rule = "pseudonym"; kind = "cpr"; },
		      { name = "birth_year"; from = "tenant.cpr"; rule = "cpr_birth_year"; },
		      { name = "area"; from = "unit.area"; type = "text"; rule = "keep"; },
		      { name = "move_in"; from = "move_in"; type = "date"; },
		      { name = "move_out"; from = "move_out"; type = "date"; },
		      { name = "arrears_dkk"; from = "arrears_dkk"; type = "numeric"; },
		      { name = "eviction"; from = "eviction"; type = "boolean"; },
		      { name = "modified"; from = "modified"; type = "date"; },
		      { name = "first_tag"; from = "tags.0"; type = "text"; rule = "keep"; },
		      { name = "tags"; from = "tags"; type = "text"; rule = "keep"; }
		    ); } ); } );
	EOF
}

# The URL of endpoint PATH on server NAME (default main).
url() { local v="${2:-main}_PORT"; printf 'https://127.0.0.1:%s%s' "${!v}" "$1"; }

BEARER='auth = "bearer"; token_env = "SP_TEST_TOKEN";'
export SP_TEST_TOKEN=static-bearer-token-1

sync() { assert_exit "$1" "$SAMSPOR" -c "$T/s.conf" sync "${@:2}"; }

reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
}

count() { psql_q 'SELECT count(*) FROM warehouse.tenancy'; }

table_digest() { psql_q "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM (SELECT tenancy_id, tenant, area, arrears_dkk, modified FROM warehouse.tenancy) t"; }

# Every record of the API is in the table, with its values.
assert_all_loaded() {
	assert_eq "$(count)" "$NREC" "${1:-all records loaded}"
	assert_eq "$(psql_q 'SELECT count(DISTINCT tenancy_id) FROM warehouse.tenancy')" "$NREC" "no record twice"
	# Values of record 1001 (i = 1): nested path, number, null, boolean,
	# array element and a whole array as compact JSON.
	assert_eq "$(psql_q "SELECT area || '|' || arrears_dkk || '|' || coalesce(move_out::text, 'NULL') || '|' || eviction || '|' || first_tag || '|' || tags FROM warehouse.tenancy WHERE tenancy_id = 1001")" \
		'Hørgården|1234.5|NULL|false|t1|["t1","x"]' "values of record 1001"
	assert_eq "$(psql_q "SELECT eviction FROM warehouse.tenancy WHERE tenancy_id = 1000")" t "boolean true"
	assert_eq "$(psql_q "SELECT arrears_dkk FROM warehouse.tenancy WHERE tenancy_id = 1003")" 99.95 "decimal kept exactly"
	assert_eq "$(psql_q "SELECT count(*) FROM warehouse.tenancy WHERE tenant IS NULL OR birth_year IS NULL")" 0 "pseudonyms and birth years"
}

# No CPR number, tenant name or address of the API's records in TEXT.
assert_private() {
	local text=$1
	printf '%s' "$text" >"$T/said.txt"
	api_ctl main GET /_log | python3 -c '
import json, sys, re
recs = json.load(sys.stdin)["records"]
said = open(sys.argv[1], encoding="utf-8").read()
hits = [k for r in recs for k in (r["tenant"]["cpr"], r["tenant"]["cpr"].replace("-", ""), r["tenant"]["name"], r["unit"]["address"]) if k in said]
if hits:
    print("personal data in the output:", len(hits)); sys.exit(1)' "$T/said.txt" || fail "personal data in samspor's output"
}

# ---- pagination --------------------------------------------------------

test_next_link_in_body_loads_all_records() {
	reset_db
	api_reset main
	conf "url = \"$(url '/v1/next/tenancies?limit=20&modified_since=${cursor}')\"; $BEARER
	      pagination = \"next_link\"; next_path = \"links.next\";" data.items
	sync 0
	assert_match "$OUT" "read $NREC, loaded $NREC, rejected 0" "summary"
	assert_all_loaded
	assert_eq "$(api_eval main 'len(D)')" 7 "7 pages of 20 requested (137 records)"
	assert_eq "$(api_eval main '[r["query"].get("after") for r in D][1:]')" "['20', '40', '60', '80', '100', '120']" "relative next links followed"
	assert_private "$OUT$ERR"
}

test_next_link_to_another_host_is_refused() {
	reset_db
	api_reset main
	conf "url = \"$(url '/v1/next/tenancies?limit=50&next_host=localhost')\"; $BEARER
	      pagination = \"next_link\"; next_path = \"links.next\";" data.items
	sync 1
	assert_contains "$OUT$ERR" "rest: page 1: the next page (https://localhost:${main_PORT}/v1/next/tenancies?after=...&limit=...&modified_since=...) is on another host than url; not sending credentials or configured headers there" "refused"
	assert_eq "$(api_eval main 'len(D)')" 1 "not followed"
}

test_link_header_loads_all_records() {
	reset_db
	api_reset main
	conf "url = \"$(url '/v1/link/tenancies?per_page=30')\"; $BEARER
	      pagination = \"link_header\";" ""
	sync 0
	assert_all_loaded
	assert_eq "$(api_eval main '[r["query"].get("page") for r in D]')" "[None, '2', '3', '4', '5']" "Link rel=next followed (relative, quoted params, rel not first)"
}

test_page_numbers_load_all_records() {
	reset_db
	api_reset main
	conf "url = \"$(url /v1/page/tenancies)\"; $BEARER
	      pagination = \"page\"; page_size = 25;" items
	sync 0
	assert_all_loaded
	assert_eq "$(api_eval main '[(r["query"]["page"], r["query"]["limit"]) for r in D]')" \
		"[('1', '25'), ('2', '25'), ('3', '25'), ('4', '25'), ('5', '25'), ('6', '25')]" "pages 1-6, stops at the short page"
	# A page size that divides the records: the empty page ends it; a page
	# parameter already in the url is replaced.
	api_reset main
	sed -i 's/page_size = 25;/page_size = 137;/' "$T/s.conf"
	sed -i 's|/v1/page/tenancies|/v1/page/tenancies?page=9\&x=1|' "$T/s.conf"
	sync 0
	assert_eq "$(api_eval main '[r["raw_query"] for r in D]')" "['x=1&limit=137&page=1', 'x=1&limit=137&page=2']" "existing parameter replaced, empty page stops"
	# An API that ignores the page parameter never ends: max_pages stops it.
	api_reset main
	sed -i 's/page_size = 137;/page_size = 137; page_param = "p"; max_pages = 5;/; s/?page=9&x=1/?x=1/' "$T/s.conf"
	local before
	before=$(table_digest)
	sync 1
	assert_contains "$OUT$ERR" "the API still has a next page after max_pages (5) pages; nothing is loaded" "cap reached"
	assert_eq "$(api_eval main 'len(D)')" 5 "5 pages requested"
	assert_eq "$(table_digest)" "$before" "table unchanged"
}

test_offset_loads_all_records() {
	reset_db
	api_reset main
	conf "url = \"$(url /v1/offset/tenancies)\"; $BEARER
	      pagination = \"offset\"; page_size = 50;" results
	sync 0
	assert_all_loaded
	assert_eq "$(api_eval main '[r["query"]["offset"] for r in D]')" "['0', '50', '100']" "offsets"
}

test_cursor_tokens_load_all_records() {
	reset_db
	api_reset main
	conf "url = \"$(url /v1/cursor/tenancies)\"; $BEARER
	      pagination = \"cursor\"; cursor_path = \"meta.next_cursor\"; page_size = 40;" data
	sync 0
	assert_all_loaded
	assert_eq "$(api_eval main 'len(D)')" 4 "4 pages"
	assert_eq "$(api_eval main '[r["query"].get("cursor") is None for r in D]')" "[True, False, False, False]" "token sent from page 2 on"
}

# ---- authentication ------------------------------------------------------

OAUTH="auth = \"oauth2\"; client_id = \"samspor-client\"; client_secret_env = \"SP_TEST_CLIENT_SECRET\"; scope = \"tenancies:read\";"
export SP_TEST_CLIENT_SECRET=client-secret-1

oauth_conf() {
	conf "url = \"$(url /v1/page/tenancies)\"; token_url = \"$(url /oauth/token)\"; $OAUTH
	      pagination = \"page\"; page_size = 20;" items
}

test_oauth2_token_reused_across_pages() {
	reset_db
	api_reset main
	oauth_conf
	sync 0
	assert_all_loaded
	assert_eq "$(api_eval main TOK)" 1 "one token for all 7 pages"
	assert_eq "$(api_eval main 'len(set(r["token"] for r in D))')" 1 "the same token on every page"
	assert_eq "$(api_eval main '[r["form"] for r in R if r["path"] == "/oauth/token"]')" \
		"[{'grant_type': 'client_credentials', 'scope': 'tenancies:read'}]" "client credentials grant with scope; secret not in the body"
	assert_not_contains "$OUT$ERR" "client-secret-1" "secret never printed"
	assert_not_contains "$OUT$ERR" "tok-" "token never printed"
}

test_oauth2_token_renewed_once_on_401() {
	reset_db
	# Each token is good for 3 requests, then the API answers 401.
	api_reset main '{"token_max_uses": 3}'
	oauth_conf
	sync 0
	assert_all_loaded
	assert_eq "$(api_eval main TOK)" 3 "a new token after each 401 (7 pages, 3 per token)"
	assert_eq "$(api_eval main 'sum(1 for r in D if r["status"] == 401)')" 2 "one 401 per token"
	assert_eq "$(api_eval main 'len(D)')" 9 "each refused page retried once"
}

test_oauth2_refused_token_is_an_auth_failure() {
	reset_db
	api_reset main '{"reject_tokens": true}'
	oauth_conf
	sync 1
	assert_contains "$OUT$ERR" "HTTP 401 Unauthorized: the API refused the credentials (auth = oauth2, also with a new token)" "says why"
	assert_eq "$(api_eval main TOK)" 2 "renewed once, not again"
	assert_eq "$(api_eval main 'len(D)')" 2 "the page tried twice"
	# A wrong client secret: the token endpoint refuses it.
	api_reset main
	SP_TEST_CLIENT_SECRET=wrong assert_exit 1 "$SAMSPOR" -c "$T/s.conf" sync
	assert_contains "$OUT$ERR" "token endpoint https://127.0.0.1:${main_PORT}/oauth/token refused the client credentials: HTTP 401 Unauthorized (invalid_client)" "token endpoint refusal"
	assert_eq "$(api_eval main 'len(D)')" 0 "no API request without a token"
}

test_bearer_token() {
	reset_db
	api_reset main
	conf "url = \"$(url /v1/offset/tenancies)\"; $BEARER pagination = \"offset\"; page_size = 100;" results
	sync 0
	assert_all_loaded
	assert_eq "$(api_eval main 'set(r["token"] for r in D)')" "{'static-bearer-token-1'}" "token from token_env"
	SP_TEST_TOKEN=wrong-token assert_exit 1 "$SAMSPOR" -c "$T/s.conf" sync
	assert_contains "$OUT$ERR" "/v1/offset/tenancies?limit=...&offset=...: HTTP 401 Unauthorized: the API refused the credentials (auth = bearer)" "401 named"
	assert_not_contains "$OUT$ERR" "wrong-token" "token never printed"
	# The token may come from a file too (mode 0600).
	printf 'static-bearer-token-1\n' >"$T/token"
	chmod 600 "$T/token"
	sed -i "s|token_env = \"SP_TEST_TOKEN\"|token_file = \"$T/token\"|" "$T/s.conf"
	sync 0
}

test_basic_auth() {
	reset_db
	api_reset main
	export SP_TEST_PW=basic-pw-1
	conf "url = \"$(url /v1/offset/tenancies)\"; auth = \"basic\"; username = \"tenant-api\"; password_env = \"SP_TEST_PW\";
	      pagination = \"offset\"; page_size = 100;" results
	sync 0
	assert_all_loaded
	assert_eq "$(api_eval main 'set(r["auth"] for r in D)')" "{'basic'}" "basic auth sent"
	SP_TEST_PW=wrong assert_exit 1 "$SAMSPOR" -c "$T/s.conf" sync
	assert_contains "$OUT$ERR" "HTTP 401 Unauthorized: the API refused the credentials (auth = basic)" "refused"
	# A secret written inline is refused by the configuration.
	sed -i 's|password_env = "SP_TEST_PW"|password = "x"|' "$T/s.conf"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
}

# ---- TLS -----------------------------------------------------------------

test_mutual_tls_required_and_refused() {
	reset_db
	api_reset mtls
	conf "url = \"$(url /v1/offset/tenancies mtls)\"; $BEARER pagination = \"offset\"; page_size = 100;
	      client_cert_file = \"$CERTS/client.pem\"; client_key_file = \"$CERTS/client.key\";" results
	sync 0
	assert_all_loaded "loaded with the client certificate"
	# Without one the server refuses the handshake: a failure, not retried.
	sed -i 's|client_cert_file = "[^"]*"; client_key_file = "[^"]*";||' "$T/s.conf"
	sync 1
	assert_contains "$OUT$ERR" "the server refused the TLS handshake" "says why"
	assert_contains "$OUT$ERR" "client certificate" "names the client certificate"
	assert_not_contains "$ERR" "retry" "not retried"
	# A certificate the server's CA did not sign is refused too.
	sed -i "s|ca_file = \"$CERTS/ca.pem\";|ca_file = \"$CERTS/ca.pem\"; client_cert_file = \"$CERTS/other-ca.pem\"; client_key_file = \"$CERTS/other-ca.key\";|" "$T/s.conf"
	sync 1
}

test_tls_verification_is_on() {
	reset_db
	api_reset main
	conf "url = \"$(url /v1/offset/tenancies)\"; $BEARER pagination = \"offset\";" results
	sed -i "s|ca_file = \"$CERTS/ca.pem\"|ca_file = \"$CERTS/other-ca.pem\"|" "$T/s.conf"
	sync 1
	assert_contains "$OUT$ERR" "TLS verification of the server failed" "wrong CA refused"
	# The system's CAs do not know the test CA either.
	sed -i "s|ca_file = \"$CERTS/other-ca.pem\";||" "$T/s.conf"
	sync 1
	assert_contains "$OUT$ERR" "TLS verification of the server failed" "system CAs refuse it"
	assert_eq "$(api_eval main 'len(D)')" 0 "no request reached the API"
	# A ca_file that holds no certificate is a configuration error.
	printf 'not a certificate\n' >"$T/bad.pem"
	sed -i "s|url = \"https://|ca_file = \"$T/bad.pem\"; url = \"https://|" "$T/s.conf"
	sync 2
	assert_contains "$OUT$ERR" "cannot use ca_file" "bad ca_file"
	# Plain http is refused by the configuration.
	sed -i 's|url = "https://|url = "http://|' "$T/s.conf"
	sync 2
	assert_contains "$OUT$ERR" "url must be an https:// URL" "http refused"
}

# ---- temporary and permanent failures --------------------------------------

test_injected_429_and_500_are_retried() {
	reset_db
	api_reset main '{"inject": [{"status": 429, "times": 1, "retry_after": "1", "path": "/v1/page/"}, {"status": 500, "times": 2, "path": "/v1/page/"}, {"status": 503, "times": 1, "path": "/oauth/token"}]}'
	oauth_conf
	sync 0
	assert_all_loaded "loaded after the retries"
	assert_eq "$(api_eval main '[r["status"] for r in D][:4]')" "[429, 500, 500, 200]" "429, 500, 500, then the page"
	assert_eq "$(api_eval main '[r["status"] for r in R if r["path"] == "/oauth/token"]')" "[503, 200]" "the token endpoint is retried too"
	assert_eq "$(api_eval main 'D[1]["time"] - D[0]["time"] >= 0.9')" True "Retry-After: 1 honoured"
	assert_contains "$ERR" "HTTP 429 Too Many Requests; retry 1 of 3 in 1.0 s" "retries logged"
}

test_long_retry_after_gives_up_at_once() {
	reset_db
	api_reset main '{"inject": [{"status": 429, "times": 1, "retry_after": "3600"}]}'
	conf "url = \"$(url /v1/page/tenancies)\"; $BEARER pagination = \"page\"; retry_max_backoff = \"5s\";" items
	sync 75
	assert_contains "$OUT$ERR" "HTTP 429 Too Many Requests, and the server asks to wait 3600 s, longer than retry_max_backoff (5 s)" "says why"
	assert_eq "$(api_eval main 'len(D)')" 1 "no retry"
}

test_persistent_500_is_temporary() {
	reset_db
	api_reset main
	conf "url = \"$(url /v1/page/tenancies)\"; $BEARER pagination = \"page\"; page_size = 100;" items
	sync 0
	local before
	before=$(table_digest)
	api_reset main '{"inject": [{"status": 500, "times": 1000, "path": "/v1/page/"}]}'
	sed -i 's/retry_backoff = "0s";/retry_backoff = "0s"; retry_attempts = 2;/' "$T/s.conf"
	sync 75
	assert_contains "$OUT$ERR" "HTTP 500 Internal Server Error, still failing after 3 attempts" "says why"
	assert_eq "$(api_eval main 'len(D)')" 3 "tried 3 times"
	assert_eq "$(table_digest)" "$before" "table unchanged"
	# An API that is not there at all is temporary too.
	sed -i "s|127.0.0.1:${main_PORT}|127.0.0.1:1|" "$T/s.conf"
	sync 75
	assert_contains "$OUT$ERR" "still failing after 3 attempts" "connect failure retried"
}

test_404_fails_naming_url_and_status() {
	reset_db
	api_reset main
	conf "url = \"$(url '/v1/nowhere?area=Urbanplanen-7&since=${cursor}')\"; $BEARER" items
	sync 1
	assert_contains "$OUT$ERR" "rest: https://127.0.0.1:${main_PORT}/v1/nowhere?area=...&since=...: HTTP 404 Not Found (not retried)" "URL and status named"
	assert_not_contains "$OUT$ERR" "Urbanplanen-7" "query values not shown"
	assert_eq "$(api_eval main 'len(D)')" 1 "not retried"
}

test_malformed_json_fails_and_loads_nothing() {
	reset_db
	api_reset main
	conf "url = \"$(url /v1/offset/tenancies)\"; $BEARER pagination = \"offset\"; page_size = 100;" results
	sync 0
	local before
	before=$(table_digest)
	conf "url = \"$(url /v1/malformed)\"; $BEARER pagination = \"next_link\"; next_path = \"next\";" items
	sync 1
	assert_match "$OUT$ERR" "rest: page 2 \(https://127.0.0.1:${main_PORT}/v1/malformed\?page=\.\.\., HTTP 200, [0-9]+ bytes\): malformed JSON at line 1, column [0-9]+ \(byte [0-9]+ of [0-9]+\): premature end of input" "clear error"
	assert_eq "$(table_digest)" "$before" "table unchanged"
	assert_eq "$(psql_q "SELECT status FROM samspor.sync_run ORDER BY run_id DESC LIMIT 1")" failed "failure recorded"
	assert_private "$OUT$ERR$(psql_q 'SELECT error FROM samspor.sync_run')"
	# The records path must lead to an array.
	conf "url = \"$(url /v1/offset/tenancies)\"; $BEARER" data.items
	sync 1
	assert_contains "$OUT$ERR" "the records path 'data.items' leads to nothing, not to an array of records" "wrong records path"
}

test_records_not_objects_are_rejected_with_position() {
	reset_db
	api_reset main
	conf "url = \"$(url /v1/mixed)\"; $BEARER pagination = \"page\"; page_size = 5;" items full_refresh "max_reject_ratio = 0.1;"
	sync 0
	# Page 2 has 7 items: a string in place of a record, then an array
	# and a null inserted.
	assert_match "$OUT" "read 139, loaded 136, rejected 3" "summary"
	assert_eq "$(psql_q "SELECT string_agg(position || ' ' || reason, ', ' ORDER BY position) FROM samspor.rejects")" \
		"page 2 item 3 not_an_object, page 2 item 5 not_an_object, page 2 item 6 not_an_object" "positions and reasons"
	assert_eq "$(count)" 136 "the other records loaded"
	assert_private "$OUT$ERR$(psql_q 'SELECT string_agg(coalesce(message, $$$$), $$ $$) FROM samspor.rejects' 2>/dev/null || true)"
}

test_oversized_page_fails() {
	reset_db
	api_reset main
	conf "url = \"$(url '/v1/big?bytes=300000')\"; $BEARER max_page_size = 200000;" items
	sync 1
	assert_contains "$OUT$ERR" "the response is larger than max_page_size (200000 bytes)" "says why"
}

# Peak memory of samspor does not grow with the number of pages.
test_memory_flat_across_pages() {
	if [[ $(ldd "$SAMSPOR" 2>/dev/null || true) == *libasan* ]]; then
		t_skip "AddressSanitizer build: its quarantine keeps freed memory"
	fi
	reset_db
	api_reset main
	local few many
	maxrss() { # maxrss PAGES: peak RSS in kB of a sync of PAGES pages of 200 kB
		sed -i "s|/v1/pad?pages=[0-9]*|/v1/pad?pages=$1|" "$T/s.conf"
		python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
if r.returncode: sys.exit("sync failed: %d" % r.returncode)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$SAMSPOR" -c "$T/s.conf" sync
	}
	conf "url = \"$(url '/v1/pad?pages=10&pad=200000')\"; $BEARER pagination = \"next_link\"; next_path = \"next\";" items
	few=$(maxrss 10)
	many=$(maxrss 300)
	assert_eq "$(count)" 300 "300 pages loaded"
	((many - few < 8000)) || fail "peak memory grew from ${few} kB (10 pages) to ${many} kB (300 pages)"
}

# Issue 13, item 11: one page takes at most about 26 times its bytes
# (README, Security).  Pages of 6 MB whose share of empty arrays grows from
# none to all (a tree of empty arrays takes 45 times its bytes): each is
# loaded whole or refused before parsing, and the peak RSS of the sync
# exceeds that of a sync of a tiny page by at most 26 times the page.
test_page_memory_bounded_by_its_bytes() {
	if [[ $(ldd "$SAMSPOR" 2>/dev/null || true) == *libasan* ]]; then
		t_skip "AddressSanitizer build: its quarantine keeps freed memory"
	fi
	reset_db
	api_reset main
	local bytes=6000000 base share rss loaded=0 refused=0
	maxrss() { # maxrss BYTES SHARE: peak RSS in kB of a sync of one page
		sed -i "s|/v1/tiny?[^\"]*|/v1/tiny?bytes=$1\&share=$2|" "$T/s.conf"
		python3 -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, stderr=open(sys.argv[1], "w"))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)' "$T/err" "$SAMSPOR" -c "$T/s.conf" sync
	}
	conf "url = \"$(url '/v1/tiny?bytes=1')\"; $BEARER max_page_size = 8000000;" items
	read -r base _ < <(maxrss 20000 0)
	for share in 0 20 30 40 60 100; do
		local rc
		read -r rss rc < <(maxrss $bytes $share)
		if ((rc == 0)); then
			loaded=$((loaded + 1))
		else
			assert_contains "$(cat "$T/err")" "more than 24 times its size" "share $share%: refused before parsing"
			refused=$((refused + 1))
		fi
		echo "share $share%: exit $rc, peak RSS $rss kB (tiny page: $base kB)"
		((rss - base <= 26 * bytes / 1024)) ||
			fail "share $share%: peak RSS $rss kB, more than 26 times the page over $base kB"
	done
	((loaded >= 2 && refused >= 2)) || fail "expected pages both loaded and refused: $loaded loaded, $refused refused"
}

# ---- the cursor ----------------------------------------------------------

test_cursor_substituted_into_url_on_next_sync() {
	reset_db
	api_reset main
	conf "url = \"$(url '/v1/offset/tenancies?modified_since=${cursor}')\"; $BEARER
	      pagination = \"offset\"; page_size = 100;" results incremental_dedup 'key = ["tenancy_id"]; cursor = "modified";'
	sync 0
	assert_all_loaded
	assert_eq "$(api_eval main 'set(r["query"]["modified_since"] for r in D)')" "{''}" "no cursor yet: empty"
	assert_eq "$(psql_q 'SELECT cursor_value FROM samspor.sync_state')" 2026-01-20 "cursor stored"
	api_reset main
	sync 0
	assert_eq "$(api_eval main 'set(r["raw_query"].split("&")[0] for r in D)')" "{'modified_since=2026-01-20'}" "stored cursor sent"
	assert_eq "$(count)" "$NREC" "nothing lost or doubled"
	api_reset main
	sync 0 --full
	assert_eq "$(api_eval main 'set(r["query"]["modified_since"] for r in D)')" "{''}" "--full: no cursor"
}

test_post_body_with_cursor() {
	reset_db
	api_reset main
	conf "url = \"$(url /v1/search)\"; $BEARER method = \"POST\";
	      body = \"{\\\"modified_since\\\": \\\"\${cursor}\\\", \\\"q\\\": \\\"*\\\"}\";" data.items append 'cursor = "modified";'
	sync 0
	assert_all_loaded
	assert_eq "$(api_eval main 'D[0]["body"]')" '{"modified_since": "", "q": "*"}' "empty cursor"
	api_reset main
	sync 0
	assert_eq "$(api_eval main 'D[0]["body"]')" '{"modified_since": "2026-01-20", "q": "*"}' "cursor in the body"
	assert_eq "$(api_eval main 'len(D)')" 1 "one request"
	# The same from body_file; a missing one is a configuration error.
	printf '{"modified_since": "${cursor}"}\n' >"$T/body.json"
	sed -i "s|body = \".*\";|body_file = \"$T/body.json\";|" "$T/s.conf"
	api_reset main
	sync 0
	assert_eq "$(api_eval main 'repr(D[0]["body"])')" "'{\"modified_since\": \"2026-01-20\"}\\n'" "cursor in the body from body_file"
	rm "$T/body.json"
	sync 2
	assert_contains "$OUT$ERR" "rest: body_file $T/body.json: No such file or directory" "missing body_file"
}

# ---- check --connect -------------------------------------------------------

test_check_connect() {
	# a fresh warehouse: check --connect refuses a key other than the
	# warehouse's generation, and earlier tests loaded under their own keys
	reset_db
	api_reset main
	oauth_conf
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "tenancies +ok" "ok"
	assert_eq "$(api_eval main TOK)" 1 "token obtained"
	assert_eq "$(api_eval main 'len(D)')" 1 "one page fetched"
	SP_TEST_CLIENT_SECRET=wrong assert_exit 1 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "tenancies +FAILED: rest: token endpoint .* refused the client credentials" "bad secret reported"
	conf "url = \"$(url /v1/nowhere)\"; $BEARER" items
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "tenancies +FAILED: .*HTTP 404" "404 reported"
	conf "url = \"https://127.0.0.1:1/v1/x\"; $BEARER retry_attempts = 0;" items
	assert_exit 75 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "tenancies +FAILED: .*127.0.0.1:1" "unreachable reported"
}

run_tests
