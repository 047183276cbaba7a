#!/usr/bin/env bash
# The csv plugin over the transports, against real servers on 127.0.0.1
# (servers.sh) and a real PostgreSQL, with the real binary: https with a
# test CA (verification always on, mutual TLS), sftp with a key and a
# known_hosts file (unknown or changed host keys refused, wrong keys
# refused, password login), globs (newest/all) over sftp, append mode
# skipping files already loaded, retries of injected 500/429/503, a
# failure after data was read (not retried), 404, `check --connect`, and
# the source files left exactly as they were.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$SP_TESTDIR/certs.sh"
. "$SP_TESTDIR/servers.sh"

pg_start
# What the servers serve; each test works in a dir of its own below it.
SRV=$SP_WORK/srv
mkdir -p "$SRV"
https_start "$SRV"
sftp_start "$SRV"

# conf SOURCE [MODE]: $T/s.conf with connector "src" (plugin csv, the
# source group's body SOURCE) loading table warehouse.t.
conf() {
	local src=$1 mode=${2:-full_refresh}
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = ( { name = "src"; plugin = "csv";
		  source = { $src };
		  streams = ( { table = "t"; mode = "$mode"; description = "Test rows";
		    columns = ( { name = "id"; from = "id"; type = "int"; },
		                { name = "status"; from = "status"; type = "text"; } ); } ); } );
	EOF
}

# mkcsv FILE FIRST N: a CSV with ids FIRST..FIRST+N-1.
mkcsv() {
	local f=$1 first=$2 n=$3
	mkdir -p "$(dirname "$f")"
	{
		printf 'id;status\r\n'
		seq "$first" $((first + n - 1)) | sed 's/$/;ledig\r/'
	} >"$f"
}

# srvdir: prints (and makes) this test's directory on the servers.
srvdir() {
	local d=$SRV/$SP_TEST
	mkdir -p "$d"
	chmod 755 "$d"
	printf '%s\n' "$d"
}

https_src() { # https_src REL [EXTRA]: source body for https://.../REL
	printf 'url = "https://127.0.0.1:%s/%s/%s"; ca_file = "%s"; retry_backoff = "1s"; %s' \
		"$HTTPS_PORT" "$SP_TEST" "$1" "$HTTPS_CA" "${2:-}"
}
sftp_src() { # sftp_src REL [EXTRA]: source body for sftp://.../REL with the key
	printf 'url = "sftp://127.0.0.1:%s%s/%s/%s"; username = "%s"; private_key_file = "%s"; known_hosts_file = "%s"; %s' \
		"$SFTP_PORT" "$SRV" "$SP_TEST" "$1" "$SFTP_USER" "$SFTP_KEY" "$SFTP_KNOWN_HOSTS" "${2:-}"
}

sync() { assert_exit "$1" "$SAMSPOR" -c "$T/s.conf" sync "${@:2}"; }
reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
}
rows() { psql_q "SELECT count(*) FROM warehouse.t"; }
ids() { psql_q "SELECT string_agg(id::text, ',' ORDER BY id) FROM warehouse.t"; }
# tree_sum DIR: names, sizes, modes, mtimes and contents of the files
tree_sum() { (cd "$1" && find . -type f ! -name .faults -printf '%p %s %m %T@\n' | sort && find . -type f ! -name .faults -print0 | sort -z | xargs -0 md5sum); }

# ---- https ---------------------------------------------------------------

test_https_loads_with_ca_file() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/a.csv" 1 3
	conf "$(https_src a.csv)"
	sync 0
	assert_match "$OUT" "src.t: read 3, loaded 3, rejected 0" "loaded over https"
	assert_eq "$(ids)" "1,2,3" "the rows"
	assert_eq "$(https_requests HEAD "/$SP_TEST/a.csv")" 1 "one HEAD (size and mtime)"
	assert_eq "$(https_requests GET "/$SP_TEST/a.csv")" 1 "one GET"
}

test_https_gzip_file() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$T/g.csv" 1 5000
	gzip -c "$T/g.csv" >"$d/g.csv.gz"
	conf "$(https_src g.csv.gz)"
	sync 0
	assert_match "$OUT" "read 5000, loaded 5000, rejected 0" "inflated while streaming"
}

test_https_without_ca_file_fails_verification() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/a.csv" 1 3
	conf "url = \"https://127.0.0.1:$HTTPS_PORT/$SP_TEST/a.csv\";"
	sync 1
	assert_contains "$OUT$ERR" "https://127.0.0.1:$HTTPS_PORT/$SP_TEST/a.csv: TLS verification of the server failed" "says what failed"
	assert_contains "$OUT$ERR" "set ca_file" "says what to do"
	assert_eq "$(https_requests "/$SP_TEST/a.csv")" 0 "no request got through"
}

test_https_other_ca_refused() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/a.csv" 1 3
	conf "url = \"https://127.0.0.1:$HTTPS_PORT/$SP_TEST/a.csv\"; ca_file = \"$HTTPS_CERTS/other-ca.pem\";"
	sync 1
	assert_contains "$OUT$ERR" "TLS verification of the server failed" "refused"
	assert_eq "$(https_requests "/$SP_TEST/a.csv")" 0 "no request got through"
}

test_https_client_certificate() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/a.csv" 1 4
	https_start "$SRV" --client-cert # for this test only: stopped at its end
	conf "$(https_src a.csv)"
	sync 1
	assert_contains "$OUT$ERR" "the server refused the TLS client certificate (none is configured: set client_cert_file)" "without a certificate"
	conf "$(https_src a.csv "client_cert_file = \"$HTTPS_CERTS/client.pem\"; client_key_file = \"$HTTPS_CERTS/client.key\";")"
	sync 0
	assert_match "$OUT" "read 4, loaded 4" "with the certificate"
	# A certificate the server's CA did not sign is refused too.
	(cd "$T" && openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=stranger \
		-keyout stranger.key -out stranger.pem >/dev/null 2>&1)
	conf "$(https_src a.csv "client_cert_file = \"$T/stranger.pem\"; client_key_file = \"$T/stranger.key\";")"
	sync 1
	assert_contains "$OUT$ERR" "the server refused the TLS client certificate:" "a stranger's certificate"
}

# ---- faults and retries --------------------------------------------------

test_500_twice_then_success_is_retried() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/a.csv" 1 3
	echo "/$SP_TEST/a.csv 500 2" >>"$SRV/.faults"
	conf "$(https_src a.csv)"
	sync 0
	assert_match "$OUT" "read 3, loaded 3" "loaded after the retries"
	assert_contains "$ERR" "HTTP status 500 (Internal Server Error); retrying in" "retries logged"
	assert_eq "$(grep -c "\"path\": \"/$SP_TEST/a.csv\", \"status\": 500" "$HTTPS_LOG")" 2 "two 500 answers"
}

test_429_retry_after_is_honoured() {
	reset_db
	local d start
	d=$(srvdir)
	mkcsv "$d/a.csv" 1 3
	echo "/$SP_TEST/a.csv 429 1 1" >>"$SRV/.faults"
	conf "$(https_src a.csv)"
	start=$(date +%s%N)
	sync 0
	assert_match "$OUT" "read 3, loaded 3" "loaded after the wait"
	assert_contains "$ERR" "HTTP status 429 (Too Many Requests); retrying in 1.0s" "waited as asked"
	(($(date +%s%N) - start >= 1000000000)) || fail "did not wait the 1s of Retry-After"
}

test_long_retry_after_gives_up_at_once() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/a.csv" 1 3
	echo "/$SP_TEST/a.csv 429 - 3600" >>"$SRV/.faults"
	conf "$(https_src a.csv 'retry_max_backoff = "5s";')"
	sync 75
	assert_contains "$OUT$ERR" "asks to wait 3600s, longer than retry_max_backoff" "says why"
	assert_eq "$(https_requests "/$SP_TEST/a.csv")" 1 "no retry"
}

test_persistent_503_is_temporary() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/a.csv" 1 3
	echo "/$SP_TEST/a.csv 503" >>"$SRV/.faults"
	conf "$(https_src a.csv 'retry_attempts = 2; retry_max_backoff = "1s";')"
	sync 75
	assert_contains "$OUT$ERR" "https://127.0.0.1:$HTTPS_PORT/$SP_TEST/a.csv: HTTP status 503 (Service Unavailable) (still failing after 2 retries)" "says what failed"
	assert_eq "$(https_requests "/$SP_TEST/a.csv")" 3 "tried 1 + 2 times"
	assert_eq "$(psql_q "SELECT status FROM samspor.sync_run ORDER BY run_id DESC LIMIT 1")" failed "run recorded as failed"
}

test_404_fails_naming_url_and_status() {
	reset_db
	srvdir >/dev/null
	conf "$(https_src missing.csv)"
	sync 1
	assert_contains "$OUT$ERR" "https://127.0.0.1:$HTTPS_PORT/$SP_TEST/missing.csv: HTTP status 404 (Not Found)" "URL and status"
	assert_eq "$(https_requests "/$SP_TEST/missing.csv")" 1 "not retried"
}

test_failure_after_data_is_not_retried() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/big.csv" 1 400000 # ~5 MB: half of it arrives before the cut
	echo "/$SP_TEST/big.csv truncate 1" >>"$SRV/.faults"
	conf "$(https_src big.csv)"
	sync 75
	assert_contains "$OUT$ERR" "bytes had been read; not retried within this run" "says why"
	assert_eq "$(https_requests GET "/$SP_TEST/big.csv")" 1 "no second GET"
	assert_eq "$(psql_q "SELECT status || ':' || rows_loaded FROM samspor.sync_run")" "failed:0" "nothing of the cut transfer loaded"
	# The next run reads the whole file.
	sync 0
	assert_match "$OUT" "read 400000, loaded 400000" "the next run completes"
}

# A cut before any byte was used is retried, and the retry starts from the
# first byte: nothing of the cut attempt is handed on twice.  (Should the
# client have used some bytes before it saw the cut, it must stop instead.)
test_cut_before_data_was_used_restarts_cleanly() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/a.csv" 1 500
	echo "/$SP_TEST/a.csv cut 1" >>"$SRV/.faults"
	conf "$(https_src a.csv)"
	assert_exit_in() { "$SAMSPOR" -c "$T/s.conf" sync >"$T/out" 2>"$T/err" || RC=$?; }
	RC=0
	assert_exit_in
	if ((RC == 0)); then
		assert_match "$(cat "$T/out")" "read 500, loaded 500, rejected 0" "each row once"
		assert_contains "$(cat "$T/err")" "retrying in" "retried"
	else
		assert_eq "$RC" 75 "exit status"
		assert_contains "$(cat "$T/err")" "not retried within this run" "stopped"
	fi
	assert_eq "$(https_requests GET "/$SP_TEST/a.csv")" $((RC == 0 ? 2 : 1)) "GETs"
}

# ---- sftp ----------------------------------------------------------------

test_sftp_key_and_known_hosts() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/u.csv" 1 3
	conf "$(sftp_src u.csv)"
	sync 0
	assert_match "$OUT" "src.t: read 3, loaded 3, rejected 0" "loaded over sftp"
}

test_sftp_big_gzip_file_streams() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$T/big.csv" 1 300000
	gzip -c "$T/big.csv" >"$d/big.csv.gz"
	conf "$(sftp_src 'big.csv.gz')"
	sync 0
	assert_match "$OUT" "read 300000, loaded 300000, rejected 0" "all rows"
	assert_eq "$(psql_q 'SELECT sum(id) FROM warehouse.t')" $((300000 * 300001 / 2)) "every id once"
}

# sftp_pos PATH: the offset at which the SFTP server (an sshd process)
# reads PATH, or nothing while none has it open.
sftp_pos() {
	local fd p
	for p in $(pgrep sshd || true); do
		for fd in /proc/"$p"/fd/*; do
			if [[ $(readlink "$fd" 2>/dev/null) == "$1" ]]; then
				awk '/^pos:/ {print $2}' "/proc/$p/fdinfo/${fd##*/}" 2>/dev/null && return
			fi
		done
	done
}

# A file that grows on the SFTP server while it is transferred (issue 14,
# item 2), as an export still being written does.  curl reads the size it
# found at the start, so the transfer itself ends cleanly: only the stat
# after it shows the change.  The run loads nothing and exits 75; before,
# it loaded the first part (exit 0) and, in append mode, the next run
# loaded the grown file again, so those rows twice.  The rows are added
# once the server's read offset (/proc/PID/fdinfo) is past 1 MiB, far from
# the end.  (A file truncated while transferred curl itself reports as a
# transfer cut short: also exit 75.)
test_sftp_file_grown_while_read_loads_nothing() {
	reset_db
	local d f pos="" i pid rc=0
	d=$(srvdir)
	f=$d/big.csv
	mkcsv "$f" 1 1500000
	conf "$(sftp_src big.csv)" append
	"$SAMSPOR" -c "$T/s.conf" sync >"$T/out" 2>"$T/err" &
	pid=$!
	for ((i = 0; i < 12000; i++)); do
		pos=$(sftp_pos "$f")
		[[ -n $pos ]] && ((pos > 1048576)) && break
		sleep 0.01
	done
	[[ -n $pos ]] || fail "the SFTP server never opened the file"
	seq 1500001 1500100 | sed 's/$/;ledig\r/' >>"$f"
	wait "$pid" || rc=$?
	assert_eq "$rc" 75 "grown while transferred: exit 75 (here: $(grep -ho 'read [0-9]*, loaded [0-9]*' "$T/out" "$T/err" | head -n 1 || true))"
	assert_contains "$(cat "$T/err")" "changed while it was read" "the reason"
	if [[ $(psql_q "SELECT to_regclass('warehouse.t') IS NOT NULL") == t ]]; then
		assert_eq "$(rows)" 0 "nothing loaded"
	fi
	local n=1500100
	sync 0
	assert_eq "$(psql_q "SELECT count(*) || ' ' || sum(id) FROM warehouse.t")" "$n $((n * (n + 1) / 2))" "then every row once"
	sync 0
	assert_eq "$(rows)" "$n" "and not again (append)"
}

# A file renamed away on the SFTP server while it is transferred (the
# server goes on reading what it opened): the stat after the transfer
# finds nothing, and that is temporary (75) too, not a failure.
test_sftp_file_renamed_while_read_is_temporary() {
	reset_db
	local d f pos="" i pid rc=0
	d=$(srvdir)
	f=$d/big.csv
	mkcsv "$f" 1 1500000
	conf "$(sftp_src big.csv)" append
	"$SAMSPOR" -c "$T/s.conf" sync >"$T/out" 2>"$T/err" &
	pid=$!
	for ((i = 0; i < 12000; i++)); do
		pos=$(sftp_pos "$f")
		[[ -n $pos ]] && ((pos > 1048576)) && break
		sleep 0.01
	done
	[[ -n $pos ]] || fail "the SFTP server never opened the file"
	mv "$f" "$d/big.done"
	wait "$pid" || rc=$?
	assert_eq "$rc" 75 "renamed while transferred: exit 75"
	assert_contains "$(cat "$T/err")" "removed or renamed while it was read" "the reason"
}

test_sftp_unknown_host_key_refused() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/u.csv" 1 3
	# A known_hosts without this server.
	grep -v "^\[127.0.0.1\]:$SFTP_PORT " "$SFTP_KNOWN_HOSTS" >"$T/kh_empty" || true
	echo "[127.0.0.1]:1 $(cut -d' ' -f2,3 <"$SFTP_KNOWN_HOSTS")" >>"$T/kh_empty"
	conf "$(sftp_src u.csv)"
	sed -i "s|$SFTP_KNOWN_HOSTS|$T/kh_empty|" "$T/s.conf"
	sync 1
	assert_contains "$OUT$ERR" "the server's host key is not in known_hosts_file $T/kh_empty; refused" "unknown key"
	# The server's name with another key: a changed (or false) server.
	ssh-keygen -q -t ed25519 -N '' -f "$T/other_host" >/dev/null
	echo "[127.0.0.1]:$SFTP_PORT $(cut -d' ' -f1,2 "$T/other_host.pub")" >"$T/kh_other"
	sed -i "s|$T/kh_empty|$T/kh_other|" "$T/s.conf"
	sync 1
	assert_contains "$OUT$ERR" "the server's host key does NOT match the one in known_hosts_file $T/kh_other" "changed key"
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.sync_run WHERE status = 'succeeded'")" 0 "nothing loaded"
}

test_sftp_wrong_key_refused() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/u.csv" 1 3
	ssh-keygen -q -t ed25519 -N '' -f "$T/wrong_key" >/dev/null
	conf "$(sftp_src u.csv)"
	sed -i "s|private_key_file = \"$SFTP_KEY\"|private_key_file = \"$T/wrong_key\"|" "$T/s.conf"
	sync 1
	assert_contains "$OUT$ERR" "login as $SFTP_USER refused" "says so"
}

test_sftp_password() {
	[[ -n $SFTP_PASSWORD ]] || t_skip "password login needs root (chpasswd)"
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/u.csv" 1 2
	printf '%s\n' "$SFTP_PASSWORD" >"$T/pw"
	chmod 600 "$T/pw"
	conf "url = \"sftp://127.0.0.1:$SFTP_PORT$d/u.csv\"; username = \"$SFTP_USER\"; password_file = \"$T/pw\"; known_hosts_file = \"$SFTP_KNOWN_HOSTS\";"
	sync 0
	assert_match "$OUT" "read 2, loaded 2" "password login"
	printf 'wrong-%s\n' "$SFTP_PASSWORD" >"$T/pw"
	sync 1
	assert_contains "$OUT$ERR" "login as $SFTP_USER refused" "wrong password refused"
	assert_not_contains "$OUT$ERR" "$SFTP_PASSWORD" "the password is never printed"
}

test_sftp_glob_newest_and_all() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/u_1.csv" 1 2
	mkcsv "$d/u_2.csv" 11 2
	mkcsv "$d/u_3.csv" 21 2
	mkcsv "$d/other.csv" 91 2
	mkdir "$d/u_dir.csv" # a directory that matches is no file
	touch -d '2026-01-05 10:00' "$d/u_dir.csv"
	touch -d '2026-01-01 10:00' "$d/u_1.csv"
	touch -d '2026-01-03 10:00' "$d/u_2.csv" # the newest, not the last name
	touch -d '2026-01-02 10:00' "$d/u_3.csv"
	conf "$(sftp_src 'u_*.csv')"
	sync 0
	assert_eq "$(ids)" "11,12" "newest only"
	conf "$(sftp_src 'u_*.csv' 'files = "all";')"
	sync 0
	assert_eq "$(ids)" "1,2,11,12,21,22" "all of them"
	assert_contains "$ERR" "reading sftp://127.0.0.1:$SFTP_PORT$d/u_1.csv" "read in name order"
	conf "$(sftp_src 'none_*.csv')"
	sync 1
	assert_contains "$OUT$ERR" "no file matches sftp://127.0.0.1:$SFTP_PORT$d/none_*.csv" "no match"
}

# A file that arrives late (if_missing): fail (exit 1, as before), retry
# (exit 75, for the daemon's backoff) or skip (exit 0, a sync_run row
# saying skipped), for a local glob and over sftp; the late file then
# loads.
test_if_missing_fail_retry_skip() {
	reset_db
	local d where
	d=$(srvdir)
	for where in local sftp; do
		local src
		if [[ $where == local ]]; then
			src="url = \"$d/late_*.csv\";"
		else
			src=$(sftp_src 'late_*.csv')
		fi
		conf "$src"
		sync 1
		assert_contains "$OUT" "no file matches" "$where: fail by default"
		conf "$src if_missing = \"retry\";"
		sync 75
		assert_contains "$OUT" "if_missing = retry" "$where: retry says why"
		conf "$src if_missing = \"skip\";"
		sync 0
		assert_match "$OUT" "src.t: skipped \\(run [0-9]+\\): csv: no file matches .*if_missing = skip" "$where: skip says so"
		assert_contains "$ERR" "sync skipped" "$where: logged"
		assert_eq "$(psql_q "SELECT status FROM samspor.sync_run ORDER BY run_id DESC LIMIT 1")" skipped "$where: recorded as skipped"
		assert_match "$(psql_q "SELECT error FROM samspor.sync_run ORDER BY run_id DESC LIMIT 1")" "if_missing = skip" "$where: with the reason"
		mkcsv "$d/late_1.csv" 1 3
		sync 0
		assert_eq "$(rows)" 3 "$where: the late file loads"
		rm -f "$d/late_1.csv"
	done
}

test_append_skips_files_already_loaded() {
	reset_db
	local d
	d=$(srvdir)
	mkcsv "$d/day_1.csv" 1 3
	mkcsv "$d/day_2.csv" 11 3
	conf "$(sftp_src 'day_*.csv' 'files = "all";')" append
	sync 0
	assert_match "$OUT" "read 6, loaded 6" "first run loads both"
	sync 0
	assert_match "$OUT" "read 0, loaded 0" "second run loads nothing"
	assert_contains "$ERR" "day_1.csv already loaded" "says which were skipped"
	assert_eq "$(rows)" 6 "no duplicates"
	mkcsv "$d/day_3.csv" 21 3
	sync 0
	assert_match "$OUT" "read 3, loaded 3" "only the new file"
	assert_eq "$(ids)" "1,2,3,11,12,13,21,22,23" "each row once"
	assert_match "$(psql_q "SELECT plugin_state FROM samspor.sync_state")" '"name":"day_1.csv".*"name":"day_2.csv".*"name":"day_3.csv"' "the state names all three"
	# A file that changes is loaded again; --full loads everything.
	mkcsv "$d/day_1.csv" 1 4
	sync 0
	assert_match "$OUT" "read 4, loaded 4" "changed file read again"
	sync 0 --full
	assert_match "$OUT" "read 10, loaded 10" "--full ignores the state"
}

# ---- check --connect -----------------------------------------------------

test_check_connect() {
	# a fresh warehouse: check --connect refuses a key other than the
	# warehouse's generation, and earlier tests loaded under their own keys
	reset_db
	local d port cols
	d=$(srvdir)
	mkcsv "$d/a.csv" 1 3
	port=$(_sp_free_port) # nothing listens there
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cols='columns = ( { name = "id"; from = "id"; type = "int"; } );'
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = (
		  { name = "web"; plugin = "csv"; source = { $(https_src a.csv) };
		    streams = ( { table = "t1"; $cols } ); },
		  { name = "drop"; plugin = "csv"; source = { $(sftp_src 'a*.csv') };
		    streams = ( { table = "t2"; $cols } ); }
		);
	EOF
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "web +ok" "https ok"
	assert_match "$OUT" "drop +ok" "sftp ok"
	cp "$T/s.conf" "$T/ok.conf"
	# An unreachable source: temporary (75), the others still checked.
	sed -i "s|);\$|  { name = \"down\"; plugin = \"csv\"; source = { url = \"https://127.0.0.1:$port/x.csv\"; }; streams = ( { table = \"t3\"; $cols } ); }\n);|" "$T/s.conf"
	sed -i 's|^    streams = ( { table = "t2"; \(.*\) } ); }$|    streams = ( { table = "t2"; \1 } ); },|' "$T/s.conf"
	assert_exit 75 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "web +ok" "https still ok"
	assert_match "$OUT" "down +FAILED: https://127.0.0.1:$port/x.csv: cannot connect" "the unreachable one"
	# Refused credentials: a failure (1).
	ssh-keygen -q -t ed25519 -N '' -f "$T/wrong_key" >/dev/null
	sed "s|private_key_file = \"$SFTP_KEY\"|private_key_file = \"$T/wrong_key\"|" "$T/ok.conf" >"$T/s.conf"
	assert_exit 1 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "drop +FAILED: .*login as $SFTP_USER refused" "bad key"
	assert_eq "$(psql_q "SELECT count(*) FROM information_schema.tables WHERE table_name IN ('t1', 't2', 't3')")" 0 "nothing loaded"
}

# ---- sources are only read -----------------------------------------------

test_sources_unchanged() {
	reset_db
	local d before
	d=$(srvdir)
	mkcsv "$d/s_1.csv" 1 50
	mkcsv "$T/s_2.csv" 100 50
	gzip -c "$T/s_2.csv" >"$d/s_2.csv.gz"
	before=$(tree_sum "$SRV")
	# --full: a file loaded in append mode is not read again, whatever
	# the transport (same name, size and mtime), and here it must be
	conf "$(sftp_src 's_*' 'files = "all";')" append
	sync 0
	conf "$(https_src s_2.csv.gz)" append
	sync 0 --full
	conf "url = \"$d/s_*\"; files = \"all\";" append
	sync 0 --full
	assert_eq "$(rows)" 250 "all read"
	assert_eq "$(tree_sum "$SRV")" "$before" "names, sizes, modes, mtimes and contents unchanged"
}

# ---- the servers themselves ---------------------------------------------

# A test file killed with -9 runs no trap: its servers must go anyway.
test_servers_stop_when_their_file_is_killed() {
	mkdir -p "$T/d"
	cat >"$T/file.sh" <<-EOF
		set -euo pipefail
		. "$SP_TESTDIR/lib.sh"
		. "$SP_TESTDIR/certs.sh"
		. "$SP_TESTDIR/servers.sh"
		HTTPS_CERTS=$HTTPS_CERTS
		https_start "$T/d"
		sftp_start "$T/d"
		sleep 600 &
		echo \$! >"$T/sleep.pid"
		echo "\$HTTPS_PID \$SFTP_PID" >"$T/pids"
		wait
	EOF
	# TMPDIR: its work dir, left behind by the kill, goes with ours
	TMPDIR=$T bash "$T/file.sh" >"$T/file.log" 2>&1 &
	local file=$! i pids
	for i in $(seq 1 100); do
		[[ -s $T/pids ]] && break
		sleep 0.1
	done
	pids=$(cat "$T/pids") || fail "the servers did not start: $(cat "$T/file.log")"
	for i in $pids; do kill -0 "$i" || fail "server $i not running"; done
	kill -9 "$file"
	wait "$file" 2>/dev/null || true
	kill "$(cat "$T/sleep.pid")" 2>/dev/null || true
	for i in $(seq 1 50); do
		if ! kill -0 "${pids% *}" 2>/dev/null && ! kill -0 "${pids#* }" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	for i in $pids; do
		if kill -0 "$i" 2>/dev/null; then
			kill -KILL "$i" 2>/dev/null || true
			fail "server $i still running 5s after its file was killed"
		fi
	done
}

run_tests
