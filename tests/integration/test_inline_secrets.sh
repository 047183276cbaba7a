#!/usr/bin/env bash
# Secrets written inline are refused when the configuration is loaded
# (issue 13, item 6): `samspor check` exits 2 with file:line and names the
# *_file or *_env that takes the secret, never repeating it — a password in
# an https:// or sftp:// URL, a query parameter named like a secret, a
# header named like one, a password in a pgsql source's or the
# warehouse's conninfo.  headers_file carries secret headers instead, and
# they reach the server.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$SP_TESTDIR/certs.sh"
. "$SP_TESTDIR/servers.sh"

# conf PLUGIN SOURCE_SETTINGS [WAREHOUSE_CONNINFO]: $T/s.conf with one
# connector of PLUGIN whose source is SOURCE_SETTINGS (on line 4).
conf() {
	local plugin=$1 src=$2 wci=${3:-host=/nonexistent dbname=warehouse}
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	local stream=''
	case $plugin in
	pgsql) stream='query = "SELECT 1 AS nr";' ;;
	rest) stream='records = "data";' ;;
	xml) stream='record = "//r";' ;;
	esac
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$wci"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = ( { name = "p"; plugin = "$plugin";
		  source = { $src };
		  streams = ( { table = "t"; description = "x"; $stream
		    columns = ( { name = "nr"; from = "nr"; type = "int"; } ); } ); } );
	EOF
}

# refused PLUGIN SOURCE SECRET MESSAGE: check exits 2 with s.conf:4 and
# MESSAGE, without SECRET anywhere in its output.
refused() {
	conf "$1" "$2"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
	assert_contains "$ERR" "s.conf:4: $4" "refused with file:line: $2"
	assert_not_contains "$OUT$ERR" "$3" "the secret is not repeated: $2"
}

test_password_in_an_https_url() {
	refused csv 'url = "https://amager:Hemm3lig@files.example.invalid/unge.csv";' Hemm3lig \
		"url of source of connector 'p' holds a password in the URL (user:password@host); secrets are never written inline: give the user in username and the password in password_file or password_env"
	refused rest 'url = "https://amager:Hemm3lig@api.example.invalid/v1";' Hemm3lig \
		"url of source of connector 'p' holds a password in the URL"
}

test_password_in_an_sftp_url() {
	refused csv 'url = "sftp://amager:Hemm3lig@sftp.example.invalid/export/unge_*.csv";' Hemm3lig \
		"url of source of connector 'p' holds a password in the URL (user:password@host)"
	# A user name alone is no secret.
	conf csv 'url = "sftp://amager@sftp.example.invalid/export/unge_*.csv"; private_key_file = "/nonexistent";'
	"$SAMSPOR" -c "$T/s.conf" check >"$T/out" 2>"$T/err" || true
	assert_not_contains "$(cat "$T/err")" "holds a password" "user@host accepted"
}

test_secret_query_parameter() {
	local p
	for p in api_key token password secret access_token apiKey; do
		refused rest "url = \"https://api.example.invalid/v1/items?since=\${cursor}&$p=Hemm3lig\";" Hemm3lig \
			"url of source of connector 'p' holds a secret in the URL's query parameter '$p'; secrets are never written inline"
	done
	refused rest 'url = "https://api.example.invalid/v1"; auth = "oauth2"; client_id = "c"; client_secret_env = "X"; token_url = "https://auth.example.invalid/token?client_secret=Hemm3lig";' Hemm3lig \
		"token_url of source of connector 'p' holds a secret in the URL's query parameter 'client_secret'"
	# Ordinary parameters pass.
	conf rest 'url = "https://api.example.invalid/v1/items?modified_since=${cursor}&page_size=100";'
	"$SAMSPOR" -c "$T/s.conf" check >"$T/out" 2>"$T/err" || true
	assert_not_contains "$(cat "$T/err")" "query parameter" "modified_since and page_size accepted"
}

test_secret_headers() {
	local h
	for h in "X-Api-Key" "Authorization" "Cookie" "X-Auth-Token" "Client-Secret"; do
		refused rest "url = \"https://api.example.invalid/v1\"; headers = [\"Accept: application/json\", \"$h: Hemm3lig\"];" Hemm3lig \
			"headers of source of connector 'p': header '$h' carries a secret; secrets are never written inline: put the line in headers_file"
	done
	refused xml 'url = "https://svc.example.invalid/x.xml"; headers = ["X-Api-Key: Hemm3lig"];' Hemm3lig \
		"headers of source of connector 'p': header 'X-Api-Key' carries a secret"
	# A SOAPAction is no secret.
	conf xml 'url = "https://svc.example.invalid/x.xml"; headers = ["SOAPAction: urn:hent"];'
	"$SAMSPOR" -c "$T/s.conf" check >"$T/out" 2>"$T/err" || true
	assert_not_contains "$(cat "$T/err")" "carries a secret" "SOAPAction accepted"
}

test_password_in_a_conninfo() {
	refused pgsql 'conninfo = "host=/nonexistent dbname=jc user=sp password=Hemm3lig";' Hemm3lig \
		"conninfo of source of connector 'p' holds a password; secrets are never written inline: remove it and write password_file or password_env next to it"
	refused pgsql 'conninfo = "postgresql://sp:Hemm3lig@db.example.invalid/jc";' Hemm3lig \
		"conninfo of source of connector 'p' holds a password"
	conf csv "url = \"$T/a.csv\";" "host=/nonexistent dbname=warehouse password=Hemm3lig"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
	assert_contains "$ERR" "s.conf:1: conninfo holds a password; remove it and write password_file or password_env in warehouse" "warehouse conninfo refused"
	assert_not_contains "$OUT$ERR" Hemm3lig "not repeated"
}

# headers_file: its lines are sent, and it must be private.
test_headers_file_is_sent_and_must_be_private() {
	mkdir -p "$T/www"
	printf 'nr\n1\n2\n' >"$T/www/a.csv"
	https_start "$T/www"
	printf '# the partner'"'"'s key\nX-Api-Key: Hemm3lig-N0gle\n\n' >"$T/hdr"
	chmod 644 "$T/hdr"
	pg_start
	conf csv "url = \"https://127.0.0.1:$HTTPS_PORT/a.csv\"; ca_file = \"$HTTPS_CA\"; delimiter = \",\"; headers_file = \"$T/hdr\";" "$SP_CONNINFO"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" sync
	assert_contains "$ERR$OUT" "headers_file $T/hdr is readable or writable by group or others" "a readable headers_file is refused"
	chmod 600 "$T/hdr"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_contains "$(grep '"GET"' "$HTTPS_LOG" | tail -n 1)" "Hemm3lig-N0gle" "the header reached the server"
	assert_not_contains "$OUT$ERR" "Hemm3lig" "and no output"
	printf 'X-Api-Key Hemm3lig\n' >"$T/hdr"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" sync
	assert_contains "$ERR$OUT" "headers_file $T/hdr:1: not a \"Name: value\" line" "a malformed line named by number"
	assert_not_contains "$OUT$ERR" "Hemm3lig" "not by value"
}

run_tests
