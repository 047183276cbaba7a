#!/usr/bin/env bash
# Connectors loading at the same time into one warehouse (issue 14, item 1),
# and a run that fails while PostgreSQL is down recorded once it is back
# (item 6).  Two, three and four connectors load at once, as separate
# `samspor sync` processes and under the daemon with max_parallel = 4, on
# a fresh warehouse (every table still to create) and on one set up
# already; every one must succeed, and every table must hold exactly its
# source's rows: counted, and checksummed against the generated CSV.
#
# The overlap is made certain, not left to timing: a psql session holds
# samspor.sync_run locked, so every load waits inside its transaction, after
# its COPY, until all the others have started too.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pg_start

reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
}

# connector NAME: a block loading $T/in/NAME.csv into table NAME (append).
connector() {
	cat <<-EOF
		{ name = "$1"; plugin = "csv"; schedule = "0 0 1 1 *"; retry = { attempts = 0; };
		  source = { url = "$T/in/$1.csv"; encoding = "windows-1252"; };
	EOF
	counted_streams "$1" append
	echo "}"
}

# conf NAME...: $T/c.conf with one connector per name.
conf() {
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	mkdir -p "$T/metrics"
	{
		cat <<-EOF
			warehouse: { conninfo = "$SP_CONNINFO"; };
			pseudonym: { key_file = "$T/key"; };
			daemon: { admin_socket = "$T/admin.sock"; metrics_file = "$T/metrics/samspor.prom";
			  grace = "5s"; max_parallel = 4; };
			connectors = (
		EOF
		local first=1 c
		for c in "$@"; do
			((first)) || echo ","
			first=0
			connector "$c"
		done
		echo ");"
	} >"$T/c.conf"
}

gen() { gen_source "$T/in/$1.csv" "$2" "$3"; } # gen NAME ROWS SEED

# check_tables NAME...: every table equals its source: nothing lost, nothing
# duplicated.
check_tables() {
	local n
	for n in "$@"; do
		assert_loaded "$n" "$T/in/$n.csv"
	done
}

# wait_waiting N: until N samspor backends wait for a lock (every load has
# started and none has committed), or 60 s have passed.
wait_waiting() {
	local i
	for i in $(seq 1 600); do
		[[ $(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'samspor sync%' AND wait_event_type = 'Lock'") -ge $1 ]] && return 0
		sleep 0.1
	done
	echo "# only $(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'samspor sync%' AND wait_event_type = 'Lock'") of $1 loads waiting" >&2
}

# prepare: a samspor schema to lock (the migrations alone: no stream table).
prepare() {
	reset_db
	conf a
	mkdir -p "$T/in"
	printf 'cpr;navn;adresse;postnr;status;statusdato;institution;ydelse_kr\n' >"$T/in/a.csv"
	"$SAMSPOR" -c "$T/c.conf" sync a >"$T/first.out" 2>&1 || fail "the first sync failed: $(tail -n 3 "$T/first.out")"
	psql_q "DROP SCHEMA warehouse CASCADE; TRUNCATE samspor.sync_run, samspor.sync_state" >/dev/null
}

# parallel_syncs N FRESH: N connectors as N separate processes at once.
parallel_syncs() {
	local n=$1 names=() i pids=() rc
	for ((i = 1; i <= n; i++)); do
		names+=("c$i")
		gen "c$i" $((i == 1 ? 60000 : 5000)) "$((40 + i))"
	done
	conf "${names[@]}"
	prepare
	conf "${names[@]}"
	local round
	for round in fresh again; do
		if [[ $round == again ]]; then
			# new files (the csv plugin skips a file it has loaded)
			for ((i = 1; i <= n; i++)); do
				psql_q "TRUNCATE warehouse.c$i" >/dev/null
				gen "c$i" $((i == 1 ? 60000 : 5000)) "$((80 + i))"
			done
		fi
		hold_lock
		for ((i = 1; i <= n; i++)); do
			"$SAMSPOR" -c "$T/c.conf" sync "c$i" >"$T/out.$i" 2>&1 &
			pids+=($!)
			sleep 0.3
		done
		wait_waiting "$n"
		release_lock
		for ((i = 1; i <= n; i++)); do
			rc=0
			wait "${pids[i - 1]}" || rc=$?
			assert_eq "$rc" 0 "$round: sync c$i of $n exit status ($(tail -n 1 "$T/out.$i"))"
		done
		pids=()
		check_tables "${names[@]}"
	done
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.sync_run WHERE status <> 'succeeded'")" 0 "no failed run recorded"
}

# The daemon with max_parallel = 4: four connectors triggered together.
test_daemon_four_at_once() {
	local names=(c1 c2 c3 c4) i
	for i in 1 2 3 4; do gen "c$i" $((i == 1 ? 60000 : 5000)) "$((60 + i))"; done
	conf "${names[@]}"
	prepare
	conf "${names[@]}"
	hold_lock
	"$SAMSPOR" -c "$T/c.conf" run >"$T/daemon.out" 2>"$T/daemon.log" &
	local dpid=$!
	at_exit "kill -TERM $dpid 2>/dev/null || true"
	for i in $(seq 1 100); do
		"$SAMSPOR" -c "$T/c.conf" status >/dev/null 2>&1 && break
		sleep 0.1
	done
	# a never-run connector catches up at start; trigger the rest
	for i in 1 2 3 4; do "$SAMSPOR" -c "$T/c.conf" trigger "c$i" >/dev/null 2>&1 || true; done
	wait_waiting 4
	release_lock
	for i in $(seq 1 600); do
		[[ $(grep -c 'msg="run \(succeeded\|failed\)' "$T/daemon.log" || true) -ge 4 ]] && break
		[[ $("$SAMSPOR" -c "$T/c.conf" status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sum(1 for c in d["connectors"] if (c.get("last_run") or {}).get("exit_status") is not None and c["state"] == "idle"))') == 4 ]] && break
		sleep 0.1
	done
	assert_eq "$("$SAMSPOR" -c "$T/c.conf" status --json | python3 -c 'import json,sys; d=json.load(sys.stdin); print(sorted((c["name"], (c.get("last_run") or {}).get("exit_status")) for c in d["connectors"]))')" \
		"[('c1', 0), ('c2', 0), ('c3', 0), ('c4', 0)]" "every connector's last run succeeded"
	check_tables "${names[@]}"
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.sync_run WHERE status <> 'succeeded'")" 0 "no failed run recorded"
	kill -TERM "$dpid"
	wait "$dpid" || true
}

# status_json EXPR: EXPR on connector c1's object (c) of status --json.
status_c1() {
	"$SAMSPOR" -c "$T/c.conf" status --json |
		python3 -c 'import json,sys; d=json.load(sys.stdin); c=[c for c in d["connectors"] if c["name"]=="c1"][0]; print(eval(sys.argv[1]))' "$1"
}

# wait_run N: until c1 has finished N runs under this daemon (idle).
wait_runs() {
	local i
	for i in $(seq 1 300); do
		[[ $(grep -cE 'connector=c1 .*msg="run (succeeded|failed)' "$T/daemon.log" || true) -ge $1 &&
			$(status_c1 'c["state"]') == idle ]] && return 0
		sleep 0.1
	done
	fail "c1 did not finish run $1: $(tail -n 3 "$T/daemon.log")"
}

# Item 6: a run that fails while PostgreSQL is down is in samspor.sync_run
# once it is back, so that the history says what status said.
test_run_failed_while_postgres_down_recorded_later() {
	gen c1 200 71
	conf c1
	prepare
	conf c1
	"$SAMSPOR" -c "$T/c.conf" run >"$T/daemon.out" 2>"$T/daemon.log" &
	local dpid=$!
	at_exit "kill -TERM $dpid 2>/dev/null || true"
	wait_runs 1 # the catch-up at start
	assert_eq "$(status_c1 'c["last_run"]["exit_status"]')" 0 "the catch-up run succeeded"
	pg_down
	"$SAMSPOR" -c "$T/c.conf" trigger c1 >/dev/null
	wait_runs 2
	pg_up
	assert_eq "$(status_c1 'c["last_run"]["exit_status"], c["failures_total"]')" "(75, 1)" "the run failed temporarily"
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.sync_run WHERE status = 'failed'")" 0 "nothing recorded while down"
	gen c1 300 72
	"$SAMSPOR" -c "$T/c.conf" trigger c1 >/dev/null
	wait_runs 3
	assert_eq "$(status_c1 'c["last_run"]["exit_status"], c["failures_total"]')" "(0, 1)" "the next run succeeded"
	assert_eq "$(psql_q "SELECT status, count(*) FROM samspor.sync_run WHERE connector = 'c1' GROUP BY 1 ORDER BY 1" | tr '\n' ' ')" \
		"failed|1 succeeded|2 " "sync_run: the failed run between the two successes"
	assert_match "$(psql_q "SELECT error FROM samspor.sync_run WHERE status = 'failed'")" "exit status 75" "its error"
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.sync_run f, samspor.sync_run s WHERE f.status = 'failed' AND s.status = 'succeeded' AND f.started_at < s.started_at")" 1 \
		"recorded at its own time, before the success"
	kill -TERM "$dpid"
	wait "$dpid" || true
	assert_contains "$(cat "$T/daemon.log")" "recorded 1 failed run in samspor.sync_run" "logged"
}

# A grant made by hand at the same moment as samspor's set-up: the set-up
# loses the catalog row ("tuple concurrently updated", XX000), which is a
# concurrency error, not a failure: looked at again, the grant is there.
test_concurrent_grant_by_hand_is_not_a_failure() {
	gen c1 100 91
	conf c1
	prepare
	conf c1
	assert_exit 0 "$SAMSPOR" -c "$T/c.conf" sync c1
	[[ $(psql_q "SELECT count(*) FROM pg_roles WHERE rolname = 'samspor_analyst'") == 1 ]] || fail "no role samspor_analyst in the test cluster"
	psql_q "REVOKE USAGE ON SCHEMA warehouse FROM samspor_analyst" >/dev/null
	"${SP_PG_BINDIR}/psql" -X -q -c "BEGIN; GRANT USAGE ON SCHEMA warehouse TO samspor_analyst; SELECT pg_sleep(3) /* samspor-test-grant */; COMMIT;" >/dev/null 2>&1 &
	local gpid=$! i
	for i in $(seq 1 100); do
		[[ $(psql_q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%samspor-test-grant%' AND pid <> pg_backend_pid() AND wait_event = 'PgSleep'") == 1 ]] && break
		sleep 0.1
	done
	gen c1 100 92
	assert_exit 0 "$SAMSPOR" -c "$T/c.conf" sync c1
	assert_contains "$ERR" "met a concurrent change" "the set-up met the grant"
	wait "$gpid" || true
	assert_eq "$(psql_q "SELECT has_schema_privilege('samspor_analyst', 'warehouse', 'USAGE')")" t "the grant is there"
}

# Two first syncs on a warehouse with no key generation yet: both record
# the same first generation; neither fails on the other's record (a
# duplicate key_history row, 23505, exit 1 before the fix).  Both wait on
# key_history, held by a session, so they read it at the same moment.
test_first_key_generation_recorded_once() {
	local i pids=() rc
	for i in 1 2; do gen "c$i" 2000 "$((90 + i))"; done
	conf c1 c2
	prepare
	conf c1 c2
	psql_q "DELETE FROM samspor.key_history" >/dev/null
	hold_lock "LOCK TABLE samspor.key_history IN ACCESS EXCLUSIVE MODE"
	for i in 1 2; do
		"$SAMSPOR" -c "$T/c.conf" sync "c$i" >"$T/out.$i" 2>&1 &
		pids+=($!)
	done
	wait_waiting 2
	release_lock
	for i in 1 2; do
		rc=0
		wait "${pids[i - 1]}" || rc=$?
		assert_eq "$rc" 0 "first sync c$i exit status ($(tail -n 1 "$T/out.$i"))"
	done
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.key_history")" 1 "one key generation"
	check_tables c1 c2
}

test_two_syncs_at_once() { parallel_syncs 2; }
test_three_syncs_at_once() { parallel_syncs 3; }
test_four_syncs_at_once() { parallel_syncs 4; }

run_tests
