#!/usr/bin/env bash
# samspor run, end to end: the real binary as a daemon against a real
# PostgreSQL, csv connectors on generated files.  Catch-up at start,
# triggered and scheduled runs, a sync killed with SIGKILL mid-load (logged,
# retried, the warehouse intact), a sync that hangs stopped by its timeout,
# SIGHUP with a broken and with a valid configuration, SIGTERM during a run,
# status as a table and as JSON, the metrics file, the admin socket.
#
# Hangs are real and deterministic: a psql session holds a lock the sync
# needs, so the sync waits inside its load transaction (after its COPY,
# before its commit) until the lock goes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

GEN=$SP_TESTDIR/gen_csv.py
pg_start

# ---- helpers --------------------------------------------------------------

reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
}

# connector NAME [SCHEDULE] [EXTRA] [MODE]: a connector block loading the
# newest $T/in/NAME_*.csv into table NAME (MODE full_refresh by default;
# append keeps the table readable while a load is open).
connector() {
	local name=$1 schedule=${2:-0 0 1 1 *} extra=${3:-} mode=${4:-full_refresh}
	mkdir -p "$T/in"
	cat <<-EOF
		{ name = "$name"; plugin = "csv"; schedule = "$schedule"; $extra
		  source = { url = "$T/in/${name}_*.csv"; encoding = "windows-1252"; };
		  streams = ( { table = "$name"; mode = "$mode";
		    columns = (
		      { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
		      { name = "status"; from = "status"; rule = "keep"; },
		      { name = "status_date"; from = "statusdato"; type = "date"; format = "%d-%m-%Y"; }
		    ); } ); }
	EOF
}

# conf [DAEMON-OPTS] CONNECTOR-BLOCK...: write $T/d.conf.
conf() {
	local dopts=$1
	shift
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	mkdir -p "$T/metrics"
	{
		cat <<-EOF
			warehouse: { conninfo = "$SP_CONNINFO"; };
			pseudonym: { key_file = "$T/key"; };
			daemon: { admin_socket = "$T/admin.sock"; metrics_file = "$T/metrics/samspor.prom";
			  grace = "5s"; $dopts };
			connectors = (
		EOF
		local first=1 c
		for c in "$@"; do
			((first)) || echo ","
			first=0
			printf '%s\n' "$c"
		done
		echo ");"
	} >"$T/d.conf"
}

gen() { # gen NAME ROWS SEED [FILE-NUMBER]
	python3 "$GEN" --rows "$2" --seed "$3" --out "$T/in/$1_${4:-1}.csv" >/dev/null
}

digest() { # digest TABLE
	psql_q "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM warehouse.$1 t"
}

# wait_blocked: until a sync waits for the lock on its INSERT into
# samspor.sync_run, i.e. its rows are written but not committed.
wait_blocked() {
	local i
	for i in $(seq 1 300); do
		[[ $(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'samspor%' AND wait_event_type = 'Lock' AND query LIKE 'INSERT INTO samspor.sync_run%'") -ge 1 ]] && return 0
		sleep 0.1
	done
	fail "no sync blocked on the lock: $(tail -n 3 "$T/daemon.log")"
}

# synced NAME: one plain `samspor sync`, so that the daemon finds a recent
# success and does not catch up at start.
synced() {
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" sync "$1"
}

# ---- tests ----------------------------------------------------------------

# A connector never run before is behind its schedule: it runs once at
# start.  Restarted after that, the daemon finds it up to date.  A disabled
# connector is listed and never run.
test_catchup_at_start_and_status() {
	reset_db
	conf "" "$(connector unge '30 2 * * *')" "$(connector skole '30 2 * * *' 'enabled = false;')"
	gen unge 50 1
	gen skole 10 2
	start_daemon
	wait_log 'connector=unge .*catch-up: no successful run on record; first run now'
	# A connector never run names no scheduled time (there is none it
	# missed: a year back was the search window, not a run).
	assert_not_contains "$(grep 'catch-up' "$T/daemon.log")" "scheduled run at" "first run: no made-up missed time"
	wait_log 'connector=unge .*run succeeded'
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.unge')" 50 "caught up"
	assert_not_contains "$(cat "$T/daemon.log")" "connector=skole msg=\"run started" "disabled connector not run"
	# The table for people.
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" status
	assert_match "$OUT" "unge +idle +[0-9-]+ [0-9:+]+ +[0-9.]+s +succeeded +50 +0 +[0-9-]+ 02:30:00\+0[12]:00" "unge row"
	assert_match "$OUT" "skole +disabled" "skole row"
	assert_contains "$OUT" "running 0 of at most 2, queued 0" "daemon line"
	local kid
	kid=$(psql_q "SELECT key_id FROM samspor.key_history ORDER BY first_used DESC LIMIT 1")
	[[ -n $kid ]] || fail "no key generation in samspor.key_history"
	assert_contains "$OUT" "pseudonym key id $kid (the generation every sync loads under)" "the key generation"
	# The JSON for scripts.
	assert_eq "$(status_field unge 'c["state"], c["last_run"]["result"], c["last_run"]["rows_loaded"], c["last_run"]["exit_status"], c["last_run"]["source"]')" \
		"('idle', 'succeeded', 50, 0, 'daemon')" "status --json"
	assert_match "$(status_field unge 'c["next_run"]')" "T02:30:00\+0[12]:00$" "next run"
	assert_eq "$(status_field skole 'c["state"], c["next_run"], c["last_run"]')" "('disabled', None, None)" "disabled"
	stop_daemon
	# Restarted: the last success is newer than 02:30, so no catch-up; the
	# last run comes from samspor.sync_run.
	start_daemon
	assert_eq "$(status_field unge 'c["last_run"]["result"], c["last_run"]["rows_loaded"], c["last_run"]["source"], c["state"]')" \
		"('succeeded', 50, 'warehouse', 'idle')" "history from the warehouse"
	stop_daemon
	assert_not_contains "$(cat "$T/daemon.log")" "catch-up" "no second catch-up"
}

# Every nightly run ends with the partner tables recomputed and the
# configured report rewritten, by the run's own process.
test_run_refreshes_partner_tables_and_report() {
	reset_db
	psql_q "DROP SCHEMA IF EXISTS partner CASCADE" >/dev/null
	conf "" "$(connector unge '30 2 * * *')"
	cat >>"$T/d.conf" <<-EOF
		partner: { report = "$T/report.html"; indicators = (
		  { name = "statuses"; dimensions = ["status", "year"]; time = "year"; totals = ["status"];
		    counts = ( { name = "people"; } );
		    query = "SELECT status, extract(year FROM status_date)::int::text AS year, count(*) AS people FROM unge GROUP BY 1, 2"; } ); };
	EOF
	gen unge 200 5
	start_daemon
	wait_log 'connector=unge .*run succeeded'
	stop_daemon
	assert_eq "$(psql_q "SELECT sum(people) FROM partner.statuses WHERE status = 'I alt'")" \
		"$(psql_q "SELECT count(*) FROM warehouse.unge")" "partner table computed by the run"
	assert_file "$T/report.html"
	assert_contains "$(cat "$T/report.html")" "<svg" "report written"
}

# trigger runs a connector now; an unknown name is an error (exit 2) that
# lists the connectors; with max_parallel = 1 a second one waits its turn,
# and a connector triggered while it runs runs again afterwards, never
# twice at once.
test_trigger_queue_and_unknown_connector() {
	reset_db
	conf "max_parallel = 1;" "$(connector aa)" "$(connector bb)"
	gen aa 20 3
	gen bb 30 4
	synced aa
	synced bb
	start_daemon
	assert_exit 2 "$SAMSPOR" -c "$T/d.conf" trigger nosuch
	assert_contains "$ERR" "no connector named 'nosuch'; connectors: aa, bb" "unknown connector"
	assert_exit 2 "$SAMSPOR" -c "$T/d.conf" trigger
	hold_lock "LOCK TABLE samspor.sync_run IN EXCLUSIVE MODE"
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger aa
	assert_eq "$OUT" "aa: started" "trigger aa"
	wait_blocked
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger bb
	assert_eq "$OUT" "bb: queued: it runs when a slot is free" "bb waits for the slot"
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger aa
	assert_eq "$OUT" "aa: running now; it runs again when this run ends" "aa again"
	assert_eq "$(status_field aa 'c["state"]')/$(status_field bb 'c["state"]')" "running/queued" "states"
	assert_eq "$(pgrep -fc -- "-c $T/d.conf sync " || true)" 1 "one sync at a time"
	release_lock
	wait_log 'connector=bb .*run succeeded'
	wait_log 'connector=aa .*run succeeded' 30 2
	assert_eq "$(grep -c 'connector=aa .*run started' "$T/daemon.log")" 2 "aa ran twice, one after the other"
	stop_daemon
}

# The sync is killed with SIGKILL while its rows are written but not
# committed: the daemon logs it at error level and retries (a signal death
# is temporary); the warehouse is unchanged until a retry commits.  Mode
# append, so that the table stays readable while loads are open.
test_sigkill_mid_run_retried_warehouse_intact() {
	reset_db
	conf "" "$(connector unge '0 0 1 1 *' 'retry = { attempts = 5; backoff = "1s"; max_backoff = "2s"; };' append)"
	gen unge 100 5
	synced unge
	local before child
	before=$(digest unge)
	gen unge 3000 6 2
	start_daemon
	hold_lock "LOCK TABLE samspor.sync_run IN EXCLUSIVE MODE"
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger unge
	wait_blocked
	child=$(pgrep -f -- "-c $T/d.conf sync unge$")
	kill -KILL "$child"
	# Its backend waits on for the lock and holds the connector's advisory
	# lock; end it, as TCP keepalive would.
	psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'samspor%' AND wait_event_type = 'Lock'" >/dev/null
	wait_log 'level=error connector=unge .*run was killed by signal 9 \(SIGKILL\) after [0-9.]+s; retry 1 of 5 in'
	assert_eq "$(digest unge)" "$before" "warehouse unchanged after SIGKILL"
	# The retry loads, and waits for the lock like the first run.
	wait_log 'connector=unge .*run started \(pid [0-9]+, retry [0-9] of 5\)'
	wait_blocked
	assert_eq "$(digest unge)" "$before" "unchanged while the retry is open"
	release_lock
	wait_log 'connector=unge .*recovered: run succeeded after [0-9]+ failed run'
	wait_log 'connector=unge .*run succeeded in'
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.unge')" 3100 "the retry loaded"
	assert_match "$(cat "$T/metrics/samspor.prom")" 'samspor_failures_total\{connector="unge"\} [1-5]' "failure counted"
	assert_eq "$(status_field unge 'c["consecutive_failures"], c["state"], c["last_run"]["result"]')" "(0, 'idle', 'succeeded')" "recovered"
	stop_daemon
}

# A sync that hangs is stopped at its timeout (SIGTERM; SIGKILL after the
# grace), logged, and with retry.attempts = 0 not retried.
test_hanging_sync_stopped_by_timeout() {
	reset_db
	conf "" "$(connector unge '0 0 1 1 *' 'timeout = "2s"; retry = { attempts = 0; };')"
	gen unge 50 7
	synced unge
	local before
	before=$(digest unge)
	gen unge 500 8
	start_daemon
	hold_lock "LOCK TABLE samspor.sync_run IN EXCLUSIVE MODE"
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger unge
	wait_blocked
	wait_log 'level=error connector=unge .*run exceeded its timeout \(2s\); sending SIGTERM, SIGKILL in 5s' 10
	wait_log 'level=error connector=unge .*run timed out \(timeout 2s\) and was stopped after [0-9.]+s; not retried' 10
	assert_eq "$(pgrep -fc -- "-c $T/d.conf sync unge$" || true)" 0 "the sync is gone"
	assert_eq "$(status_field unge 'c["state"], c["last_run"]["result"], c["last_run"]["signal"]')" \
		"('idle', 'timed out', 15)" "status"
	release_lock
	assert_eq "$(digest unge)" "$before" "nothing committed"
	stop_daemon
}

# A source that hangs (a partner's query that never answers) is stopped by
# the connector's timeout; nothing is committed.
test_hanging_source_stopped_by_timeout() {
	reset_db
	conf "" "{ name = \"slow\"; plugin = \"pgsql\"; schedule = \"0 0 1 1 *\";
	  timeout = \"2s\"; retry = { attempts = 0; };
	  source = { conninfo = \"$SP_CONNINFO\"; };
	  streams = ( { table = \"slow\";
	    query = \"SELECT '0101011234'::text AS cpr, pg_sleep(30)::text AS slept /* samspor-test-hang */\";
	    columns = ( { name = \"person\"; from = \"cpr\"; rule = \"pseudonym\"; kind = \"cpr\"; },
	                { name = \"slept\"; from = \"slept\"; rule = \"keep\"; } ); } ); }"
	start_daemon # never run before: the catch-up starts it
	wait_log 'level=error connector=slow .*run exceeded its timeout \(2s\)' 20
	wait_log 'level=error connector=slow .*run timed out' 10
	assert_eq "$(pgrep -fc -- "-c $T/d.conf sync slow$" || true)" 0 "the sync is gone"
	assert_eq "$(status_field slow 'c["last_run"]["result"]')" "timed out" "status says timed out"
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.sync_run WHERE connector = 'slow' AND status = 'succeeded'")" 0 "nothing committed"
	psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%samspor-test-hang%' AND pid <> pg_backend_pid()" >/dev/null
	stop_daemon
}

# SIGHUP: an invalid file is refused with every error logged and the old
# configuration kept; a valid one is applied (a new connector appears);
# options that need a restart are named in a warning.  `samspor reload`
# says the same to the person who asked.
test_sighup_broken_then_valid() {
	reset_db
	conf "" "$(connector aa)"
	gen aa 10 9
	synced aa
	start_daemon
	cp "$T/d.conf" "$T/good.conf"
	conf "" "$(connector aa '0 0 1 1 *' 'delimter = ";";')" "$(connector bb '61 * * * *')"
	kill -HUP "$DPID"
	wait_log 'level=error msg=.*configuration not reloaded: 2 errors in'
	assert_contains "$(cat "$T/daemon.log")" "d.conf:" "errors name the file"
	assert_match "$(cat "$T/daemon.log")" "level=error msg=\"[^\"]*d.conf:[0-9]+: unknown option 'delimter' in connector 'aa'" "unknown option logged"
	assert_match "$(cat "$T/daemon.log")" "level=error msg=\"[^\"]*schedule '61 \* \* \* \*' of connector 'bb'" "bad schedule logged"
	assert_eq "$(status_field aa 'c["state"]')" idle "old configuration kept"
	assert_exit 2 "$SAMSPOR" -c "$T/d.conf" reload
	assert_contains "$ERR" "unknown option 'delimter'" "reload shows the errors"
	assert_contains "$ERR" "configuration not reloaded" "reload says so"
	# Valid: bb appears; a changed restart-only option is named.
	conf "max_parallel = 3;" "$(connector aa)" "$(connector bb '15 4 * * *' 'jitter = "30m";')"
	sed 's|admin_socket = "[^"]*"|admin_socket = "/nonexistent/admin.sock"|' "$T/d.conf" >"$T/other.conf"
	cp "$T/other.conf" "$T/d.conf"
	kill -HUP "$DPID"
	wait_log 'level=info msg="configuration reloaded: 2 connectors \(2 enabled\)"'
	wait_log "level=warn msg=\"daemon.admin_socket changed from '$T/admin.sock' to '/nonexistent/admin.sock': that takes a restart"
	# The client reads the socket path from the file: point it back.
	conf "max_parallel = 3;" "$(connector aa)" "$(connector bb '15 4 * * *' 'jitter = "30m";')"
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" reload
	assert_contains "$OUT" "configuration reloaded: 2 connectors" "reload answers"
	assert_eq "$(status_field bb 'c["state"], c["schedule"]')" "('idle', '15 4 * * *')" "new connector applied"
	# Its schedule is computed, plus a jitter of up to 30 minutes.
	assert_match "$(status_field bb 'c["next_run"]')" "T04:(1[5-9]|[23][0-9]|4[0-4]):[0-5][0-9]\+0[12]:00$" "its schedule computed"
	"$SAMSPOR" -c "$T/d.conf" status --json | python3 -c 'import json,sys; assert json.load(sys.stdin)["daemon"]["max_parallel"] == 3' ||
		fail "max_parallel not applied"
	stop_daemon
}

# SIGTERM while a sync runs: the sync gets SIGTERM, the daemon exits 0
# well within the grace, its socket removed, nothing half-loaded.
test_sigterm_during_run_is_graceful() {
	reset_db
	conf "" "$(connector unge)"
	gen unge 20 10
	synced unge
	local before rc=0 t0 t1
	before=$(digest unge)
	gen unge 400 11
	start_daemon
	hold_lock "LOCK TABLE samspor.sync_run IN EXCLUSIVE MODE"
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger unge
	wait_blocked
	t0=$(date +%s%N)
	kill -TERM "$DPID"
	wait "$DPID" || rc=$?
	t1=$(date +%s%N)
	assert_eq "$rc" 0 "exit status"
	(((t1 - t0) / 1000000 < 5000)) || fail "took $(((t1 - t0) / 1000000)) ms, grace is 5s"
	assert_match "$(cat "$T/daemon.log")" "SIGTERM: stopping; 1 running sync gets SIGTERM, SIGKILL after 5s" "announced"
	assert_match "$(cat "$T/daemon.log")" "connector=unge .*run stopped after [0-9.]+s because the daemon is stopping" "child stopped"
	assert_contains "$(cat "$T/daemon.log")" 'msg=stopped' "stopped"
	assert_eq "$(pgrep -fc -- "-c $T/d.conf sync unge$" || true)" 0 "no sync left"
	assert_no_file "$T/admin.sock" "socket removed"
	release_lock
	assert_eq "$(digest unge)" "$before" "nothing committed"
	# No daemon: the client commands say so and exit 75 (temporary).
	assert_exit 75 "$SAMSPOR" -c "$T/d.conf" status
	assert_contains "$ERR" "no samspor daemon is listening on $T/admin.sock" "no daemon"
	assert_exit 75 "$SAMSPOR" -c "$T/d.conf" trigger unge
}

# A real cron run: "* * * * *" fires at the next minute boundary.
test_scheduled_run_every_minute() {
	reset_db
	conf "" "$(connector unge '* * * * *')"
	gen unge 30 12
	# A success in this minute, so that the start has nothing to catch up.
	while (($(date +%S | sed 's/^0//') >= 50)); do sleep 1; done
	synced unge
	start_daemon
	local next
	next=$(status_field unge 'c["next_run"]')
	assert_match "$next" ":00\+0[12]:00$" "next run on a minute boundary"
	wait_log 'connector=unge .*run started \(pid [0-9]+, schedule\)' 70
	wait_log 'connector=unge .*run succeeded'
	assert_not_contains "$(cat "$T/daemon.log")" "catch-up" "no catch-up"
	assert_ne "$(status_field unge 'c["next_run"]')" "$next" "next run moved on"
	stop_daemon
}

# The metrics file: node_exporter text, replaced atomically (a new inode
# each time, no temporary left), updated after each run.
test_metrics_file() {
	reset_db
	conf "" "$(connector unge)" "$(connector skole)"
	gen unge 40 13
	gen skole 5 14
	synced unge
	synced skole
	start_daemon
	local m=$T/metrics/samspor.prom ino1 ino2
	assert_file "$m" "written at start"
	ino1=$(stat -c %i "$m")
	# Held open, the first file's inode cannot be freed and handed to a
	# later file (the daemon now rewrites it at a run's start and end too).
	exec 7<"$m"
	assert_eq "$(stat -c %a "$m")" 644 "readable by the collector"
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger unge
	wait_log 'connector=unge .*run succeeded'
	ino2=$(stat -c %i "$m")
	exec 7<&-
	assert_ne "$ino2" "$ino1" "replaced by rename"
	assert_eq "$(ls -A "$T/metrics")" "samspor.prom" "no temporary file left"
	local text
	text=$(cat "$m")
	assert_contains "$text" "# TYPE samspor_last_success_timestamp_seconds gauge" "TYPE"
	assert_contains "$text" "# HELP samspor_rows_loaded " "HELP"
	assert_contains "$text" 'samspor_rows_loaded{connector="unge"} 40' "rows loaded"
	assert_contains "$text" 'samspor_rows_rejected{connector="unge"} 0' "rows rejected"
	assert_contains "$text" 'samspor_failures_total{connector="unge"} 0' "failures"
	assert_contains "$text" 'samspor_running{connector="unge"} 0' "not running"
	assert_contains "$text" 'samspor_running{connector="skole"} 0' "every connector"
	assert_match "$text" 'samspor_last_run_duration_seconds\{connector="unge"\} [0-9]+\.[0-9]{3}' "duration"
	local ts
	ts=$(grep '^samspor_last_success_timestamp_seconds{connector="unge"}' "$m" | cut -d' ' -f2)
	((ts > $(date +%s) - 60)) || fail "last success $ts is not recent"
	# Every sample line parses as the text format: name{labels} value
	# (per stream: stream=, result=, reason= after the connector).
	grep -v '^#' "$m" | grep -vE '^samspor_[a-z_]+\{connector="[a-z_0-9]+"(,[a-z]+="[a-z_0-9]+")*\} [0-9.]+$' &&
		fail "a malformed sample line"
	stop_daemon
}

# The admin socket: mode 0660; a stale socket file is replaced; a second
# daemon on a live socket refuses to start (75); a file that is not a socket
# is left alone (2).
test_admin_socket() {
	reset_db
	conf "" "$(connector unge)"
	gen unge 5 15
	synced unge
	# A socket file nobody listens on, as a crashed daemon leaves it.
	python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])' "$T/admin.sock"
	start_daemon
	assert_contains "$(cat "$T/daemon.log")" "removed the stale admin socket $T/admin.sock" "stale socket"
	assert_eq "$(stat -c %a "$T/admin.sock")" 660 "socket mode"
	assert_exit 75 "$SAMSPOR" -c "$T/d.conf" run
	assert_contains "$ERR" "another samspor daemon is listening on $T/admin.sock" "second daemon refused"
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" status
	stop_daemon
	assert_no_file "$T/admin.sock" "removed at exit"
	echo "not a socket" >"$T/admin.sock"
	assert_exit 2 "$SAMSPOR" -c "$T/d.conf" run
	assert_contains "$ERR" "exists and is not a socket" "refused"
	assert_eq "$(cat "$T/admin.sock")" "not a socket" "left alone"
	# A socket in a directory that is not there (RuntimeDirectory missing).
	sed -i "s|admin_socket = \"[^\"]*\"|admin_socket = \"$T/nodir/admin.sock\"|" "$T/d.conf"
	assert_exit 2 "$SAMSPOR" -c "$T/d.conf" run
	assert_contains "$ERR" "directory $T/nodir does not exist" "missing directory named"
	# An invalid configuration: not started, errors named.
	echo "connectors = ( { name = 1; } );" >"$T/bad.conf"
	assert_exit 2 "$SAMSPOR" -c "$T/bad.conf" run
	assert_contains "$ERR" "bad.conf:1:" "error with file and line"
}

# The admin socket has 32 slots.  Forgotten idle connections are closed
# after a few seconds, so status still answers; a connection over the limit
# is answered "busy" at once (not left in the backlog); a daemon kept busy
# for the whole retry time is reported as busy, not as "not running".
test_admin_socket_idle_and_busy() {
	reset_db
	conf "" "$(connector unge)"
	gen unge 5 16
	synced unge
	start_daemon
	# 40 idle connections, held for 30 s.
	hold_admin 40 30
	local holder=$HOLDER
	# A connection over the limit gets an answer, not silence.
	local ans
	ans=$(python3 - "$T/admin.sock" <<-'EOF'
		import socket, sys
		s = socket.socket(socket.AF_UNIX)
		s.settimeout(5)
		s.connect(sys.argv[1])
		try:
		    s.sendall(b'{"cmd":"status"}\n')
		except OSError:
		    pass  # answered and closed before we asked: read the answer
		print(s.makefile().readline().strip())
	EOF
	)
	assert_contains "$ans" '"code":"busy"' "over the limit: answered busy"
	local t0=$SECONDS
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" status
	assert_contains "$OUT" "unge" "status answered"
	(( SECONDS - t0 <= 9 )) || fail "status took $((SECONDS - t0)) s behind idle connections"
	kill "$holder" 2>/dev/null || true
	wait "$holder" 2>/dev/null || true
	# 32 clients that keep asking (not idle): status retries, then says the
	# daemon is busy, which is not "no daemon listening".
	hold_admin 32 25 chatty
	holder=$HOLDER
	assert_exit 75 "$SAMSPOR" -c "$T/d.conf" status
	assert_contains "$ERR" "is running but busy" "busy named"
	assert_not_contains "$ERR" "no samspor daemon is listening" "busy is not down"
	kill "$holder" 2>/dev/null || true
	wait "$holder" 2>/dev/null || true
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" status
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger unge
	stop_daemon
	assert_exit 75 "$SAMSPOR" -c "$T/d.conf" status
	assert_contains "$ERR" "no samspor daemon is listening" "down named"
}

# A reload while a sync runs leaves the sync alone: a connector removed
# from the configuration finishes its run, then leaves the status.
test_reload_during_run_leaves_it_alone() {
	reset_db
	conf "" "$(connector aa)" "$(connector bb)"
	gen aa 20 16
	gen bb 10 17
	synced aa
	synced bb
	start_daemon
	hold_lock "LOCK TABLE samspor.sync_run IN EXCLUSIVE MODE"
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger aa
	wait_blocked
	conf "" "$(connector bb)"
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" reload
	assert_contains "$OUT" "configuration reloaded: 1 connector (1 enabled)" "applied"
	wait_log 'connector=aa msg="removed from the configuration; its run goes on to its end"'
	assert_eq "$(status_field aa 'c["state"], c["removed"]')" "('running', True)" "still running"
	assert_exit 2 "$SAMSPOR" -c "$T/d.conf" trigger aa
	assert_contains "$ERR" "no connector named 'aa'; connectors: bb" "not triggerable"
	release_lock
	wait_log 'connector=aa .*run succeeded'
	assert_eq "$("$SAMSPOR" -c "$T/d.conf" status --json | python3 -c 'import json,sys; print([c["name"] for c in json.load(sys.stdin)["connectors"]])')" \
		"['bb']" "gone once its run ended"
	stop_daemon
}

# The daemon learns how a run went from the child's run records, not from
# its human summary: an error of two lines (a source path with a newline
# in it, which the error quotes) reaches status and the run line whole.
test_multiline_error_reaches_status() {
	reset_db
	conf "" "$(connector unge)"
	sed -i 's|url = "[^"]*"|url = "'"$T"'/in/first\\nsecond/unge_*.csv"|' "$T/d.conf"
	grep -q 'first\\nsecond' "$T/d.conf" || fail "no newline in the url: $(grep url "$T/d.conf")"
	start_daemon
	wait_log 'level=error connector=unge .*run failed \(exit status 1\)'
	local e
	e=$(status_field unge 'c["last_run"]["error"]')
	assert_contains "$e" "first" "the first line"
	assert_contains "$e" "second/unge_" "the second line"
	assert_match "$(grep 'run failed' "$T/daemon.log")" 'first\\nsecond/unge_' "the run line has both"
	stop_daemon
}

# The warehouse is down at start: the catch-up is skipped with a warning,
# the daemon runs on.  Runs then fail with 75 (temporary) and, with
# retry.attempts = 0, are not retried; repeated failures are logged at
# error level at the 1st, 2nd and 4th, not the 3rd.
test_unreachable_warehouse_and_growing_gaps() {
	conf "" "$(connector unge '30 2 * * *' 'retry = { attempts = 0; };')"
	sed -i "s|conninfo = \"[^\"]*\"|conninfo = \"host=$T/nowhere dbname=x connect_timeout=2\"|" "$T/d.conf"
	gen unge 5 18
	start_daemon
	wait_log 'level=warn msg="catch-up skipped: cannot connect to the warehouse'
	local i
	for i in 1 2 3 4; do
		assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger unge
		wait_log 'connector=unge msg="run started' 10 "$i"
		for _ in $(seq 1 50); do
			[[ $(status_field unge 'c["state"]') == idle ]] && break
			sleep 0.1
		done
	done
	assert_eq "$(status_field unge 'c["consecutive_failures"], c["last_run"]["result"], c["last_run"]["exit_status"]')" \
		"(4, 'temporary failure', 75)" "four temporary failures"
	assert_eq "$(grep -c 'level=error connector=unge msg="run failed temporarily (exit status 75)' "$T/daemon.log")" 3 "reported at the 1st, 2nd and 4th"
	assert_contains "$(cat "$T/daemon.log")" "not retried; next run" "retry.attempts = 0"
	assert_contains "$(cat "$T/daemon.log")" "(4 failed runs in a row)" "the 4th says how many"
	stop_daemon
}

# systemd's notify protocol, when samspor is built with libsystemd: READY=1
# once listening, WATCHDOG=1 every half watchdog interval, RELOADING=1 and
# READY=1 around a reload, STOPPING=1 on SIGTERM, STATUS= lines between.
test_systemd_notify() {
	# Not `ldd | grep -q`: grep leaves at the first match, ldd may then die
	# of SIGPIPE, and pipefail turns a build with libsystemd into a skip.
	if [[ $(ldd "$SAMSPOR" 2>/dev/null) != *libsystemd* ]]; then
		t_skip "built without libsystemd"
	fi
	reset_db
	conf "" "$(connector unge)"
	gen unge 5 19
	synced unge
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as f:
    while True:
        f.write(s.recv(4096).decode().replace("\n", "|") + "\n")
' "$T/notify.sock" "$T/notify.log" &
	local srv=$!
	at_exit "kill $srv 2>/dev/null || true"
	for _ in $(seq 1 50); do [[ -S $T/notify.sock ]] && break; sleep 0.1; done
	NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000 start_daemon
	sleep 1
	kill -HUP "$DPID"
	wait_log 'configuration reloaded'
	stop_daemon
	sleep 0.2
	local log
	log=$(cat "$T/notify.log")
	assert_match "$(grep -m1 -v '^WATCHDOG' "$T/notify.log")" "^READY=1\|MAINPID=$DPID$" "READY=1 first"
	(($(grep -c '^WATCHDOG=1$' "$T/notify.log") >= 3)) || fail "too few WATCHDOG=1: $log"
	assert_match "$log" "RELOADING=1\|MONOTONIC_USEC=[0-9]+"$'\n'"READY=1" "reload brackets"
	assert_match "$log" "STATUS=0 running, 0 queued; next: unge at [0-9]{4}-01-01T00:00:00\+01:00" "status line"
	assert_match "$log" "STOPPING=1" "stopping"
}

# Issue 13, item 10: the daemon and its sync children are not dumpable
# (no core file, no ptrace, no /proc/PID/mem or environ for other processes
# of the same user).  The kernel shows it in /proc: a non-dumpable
# process's /proc/PID files belong to root, not to its user (proc(5)), and
# that user cannot read them.  So samspor runs as a user other than root
# (the cluster's OS user when the tests run as root), with a sync that
# waits in its source query.
test_daemon_and_syncs_are_not_dumpable() {
	reset_db
	local user w pid child
	user=$(id -un)
	[[ $(id -u) == 0 ]] && user=${SP_PG_RUNAS:-postgres}
	[[ $user == root ]] && { t_skip "no user other than root to run samspor as"; return 0; }
	as_user() { if [[ $(id -u) == 0 ]]; then runuser -u "$user" -- "$@"; else "$@"; fi; }
	w=$(mktemp -d /tmp/sp-dump.XXXXXX)
	at_exit "rm -rf '$w'"
	chown "$user" "$w"
	as_user "$SAMSPOR" keygen "$w/key" 2>/dev/null
	as_user tee "$w/d.conf" >/dev/null <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$w/key"; };
		daemon: { admin_socket = "$w/admin.sock"; metrics_file = "$w/samspor.prom"; grace = "1s"; };
		connectors = ( { name = "dumpy"; plugin = "pgsql"; schedule = "0 0 1 1 *";
		  retry = { attempts = 0; }; source = { conninfo = "$SP_CONNINFO"; };
		  streams = ( { table = "dumpy";
		    query = "SELECT '0101011234'::text AS cpr, pg_sleep(60)::text AS slept /* samspor-test-dump */";
		    columns = ( { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
		                { name = "slept"; from = "slept"; rule = "keep"; } ); } ); } );
	EOF
	as_user "$SAMSPOR" -c "$w/d.conf" run >/dev/null 2>"$T/daemon.log" &
	local runner=$!
	at_exit "kill -TERM $runner 2>/dev/null; wait $runner 2>/dev/null || true"
	for _ in $(seq 1 100); do
		child=$(pgrep -u "$user" -f -- "-c $w/d.conf sync dumpy$" || true)
		[[ -n $child ]] && break
		sleep 0.1
	done
	pid=$(pgrep -u "$user" -f -- "-c $w/d.conf run$" || true)
	[[ -n $pid ]] && at_exit "kill -TERM $pid 2>/dev/null || true"
	[[ -n $pid && -n $child ]] || fail "daemon ($pid) or sync ($child) not running: $(tail -n 3 "$T/daemon.log")"
	local p
	for p in "$pid" "$child"; do
		assert_eq "$(stat -c %U "/proc/$p/environ")" root "pid $p: /proc files belong to root"
		assert_exit 1 as_user cat "/proc/$p/environ"
		assert_contains "$ERR" "Permission denied" "pid $p: its own user cannot read its environment"
	done
	# A process of the same user that did not ask is dumpable (the check
	# sees the difference).
	as_user sleep 5.0417 &
	local sp=$!
	sleep 0.3
	p=$(pgrep -u "$user" -f -- "^sleep 5.0417$")
	assert_eq "$(stat -c %U "/proc/$p/environ")" "$user" "an ordinary process: its user's"
	kill "$p" 2>/dev/null || true
	wait "$sp" 2>/dev/null || true
	kill -TERM "$pid"
	wait "$runner" 2>/dev/null || true
}

run_tests
