#!/usr/bin/env bash
# Configured headers and credentials never follow a redirect to another
# host (issue 13, item 7): a 302 from 127.0.0.1 to localhost (the same
# test server, under another name) is refused by the csv/xml transport and
# by the rest plugin, so the X-Api-Key of headers_file reaches only the
# configured host; a redirect on the same host is followed as before.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$SP_TESTDIR/certs.sh"
. "$SP_TESTDIR/servers.sh"

pg_start
SRV=$SP_WORK/srv
mkdir -p "$SRV"
https_start "$SRV"
printf 'nr\n1\n2\n' >"$SRV/a.csv"
printf 'nr\n1\n2\n3\n' >"$SRV/b.csv"
printf '{"data": [{"nr": 1}, {"nr": 2}]}\n' >"$SRV/a.json"
printf '{"data": [{"nr": 1}, {"nr": 2}, {"nr": 3}]}\n' >"$SRV/b.json"

# conf PLUGIN URL: $T/s.conf reading URL with the key header from
# headers_file (and, for rest, a basic password).
conf() {
	local plugin=$1 url=$2 stream='' extra=''
	[[ -f $SP_WORK/key ]] || "$SAMSPOR" keygen "$SP_WORK/key" 2>/dev/null
	printf 'X-Api-Key: N0gle-%s\n' "$RANDOM" >"$T/hdr"
	chmod 600 "$T/hdr"
	[[ $plugin == rest ]] && stream='records = "data";' && extra='auth = "basic"; username = "u"; password_env = "SP_TEST_PW";'
	[[ $plugin == csv ]] && extra='delimiter = ",";'
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$SP_WORK/key"; };
		connectors = ( { name = "r"; plugin = "$plugin";
		  source = { url = "$url"; ca_file = "$HTTPS_CA"; headers_file = "$T/hdr"; $extra };
		  streams = ( { table = "t"; description = "x"; mode = "full_refresh"; $stream
		    columns = ( { name = "nr"; from = "nr"; type = "int"; } ); } ); } );
	EOF
}

# requests_to PATH: the logged requests of PATH, one JSON object a line.
requests_to() { grep "\"path\": \"$1\"" "$HTTPS_LOG" || true; }

redirect() { printf '%s 302 - %s\n' "$1" "$2" >"$SRV/.faults"; }

test_csv_redirect_to_another_host_is_refused() {
	: >"$HTTPS_LOG"
	redirect /a.csv "https://localhost:$HTTPS_PORT/b.csv"
	conf csv "https://127.0.0.1:$HTTPS_PORT/a.csv"
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" sync
	assert_contains "$ERR$OUT" "https://127.0.0.1:$HTTPS_PORT/a.csv: redirects to another host; not following it, so that the configured headers and credentials reach no host but the configured one" "refused, and why"
	assert_eq "$(requests_to /b.csv)" "" "localhost was never asked"
	assert_contains "$(requests_to /a.csv)" "N0gle" "the configured host got the header"
	rm -f "$SRV/.faults"
}

test_csv_redirect_on_the_same_host_is_followed() {
	: >"$HTTPS_LOG"
	redirect /a.csv "/b.csv"
	conf csv "https://127.0.0.1:$HTTPS_PORT/a.csv"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_match "$OUT" "loaded 3" "b.csv loaded through the redirect"
	rm -f "$SRV/.faults"
}

test_rest_redirect_to_another_host_is_refused() {
	: >"$HTTPS_LOG"
	redirect /a.json "https://localhost:$HTTPS_PORT/b.json"
	conf rest "https://127.0.0.1:$HTTPS_PORT/a.json"
	SP_TEST_PW=Hemm3lig assert_exit 1 "$SAMSPOR" -c "$T/s.conf" sync
	assert_contains "$ERR$OUT" "rest: https://127.0.0.1:$HTTPS_PORT/a.json redirects to another host; not following it" "refused, and why"
	assert_eq "$(requests_to /b.json)" "" "localhost was never asked: no X-Api-Key, no password there"
	redirect /a.json "https://127.0.0.1:$HTTPS_PORT/b.json"
	SP_TEST_PW=Hemm3lig assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_match "$OUT" "loaded 3" "same host: followed"
	rm -f "$SRV/.faults"
}

run_tests
