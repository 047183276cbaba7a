#!/usr/bin/env bash
# Fault: several connectors loading into one warehouse at the same time,
# left to their natural timing (a large one and small ones started while
# it loads), on a fresh warehouse: under the daemon with max_parallel = 3,
# and as three separate `samspor sync` processes.  Every run succeeds and
# every table holds its source once: nothing lost, nothing duplicated.
set -euo pipefail
. "$(dirname "$0")/faults.sh"
pg_start

three() {
	fconf "max_parallel = 3;" "$(fconnector big append 'retry = { attempts = 0; };')" \
		"$(fconnector s1 append 'retry = { attempts = 0; };')" \
		"$(fconnector s2 append 'retry = { attempts = 0; };')"
	gen_source "$T/in/big_1.csv" "$SP_FAULT_ROWS" 31
	gen_source "$T/in/s1_1.csv" 20000 32
	gen_source "$T/in/s2_1.csv" 20000 33
}

test_three_under_the_daemon() {
	reset_db
	three
	start_daemon # never run: the three catch up at once
	wait_log 'msg="run (succeeded|failed)' 180 3
	assert_eq "$(grep -cE 'msg="run succeeded' "$T/daemon.log")" 3 "three runs succeeded ($(grep -E 'msg="run failed' "$T/daemon.log" | head -n 1))"
	assert_loaded big "$T/in/big_1.csv"
	assert_loaded s1 "$T/in/s1_1.csv"
	assert_loaded s2 "$T/in/s2_1.csv"
	# a second round into the tables now set up, triggered together
	gen_source "$T/in/big_2.csv" "$SP_FAULT_ROWS" 34
	gen_source "$T/in/s1_2.csv" 20000 35
	gen_source "$T/in/s2_2.csv" 20000 36
	local c
	for c in big s1 s2; do assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger "$c"; done
	wait_log 'msg="run (succeeded|failed)' 180 6
	assert_eq "$(grep -cE 'msg="run succeeded' "$T/daemon.log")" 6 "six runs succeeded ($(grep -E 'msg="run failed' "$T/daemon.log" | head -n 1))"
	assert_loaded big "$T/in/big_1.csv" "$T/in/big_2.csv"
	assert_loaded s1 "$T/in/s1_1.csv" "$T/in/s1_2.csv"
	assert_loaded s2 "$T/in/s2_1.csv" "$T/in/s2_2.csv"
	stop_daemon
}

test_three_separate_processes() {
	reset_db
	three
	local pids=() c i rc
	"$SAMSPOR" -c "$T/d.conf" sync big >"$T/out.big" 2>&1 &
	pids+=($!)
	wait_read "$T/in/big_1.csv" 5 "${pids[0]}" # the large load is in its COPY
	for c in s1 s2; do
		"$SAMSPOR" -c "$T/d.conf" sync "$c" >"$T/out.$c" 2>&1 &
		pids+=($!)
	done
	i=0
	for c in big s1 s2; do
		rc=0
		wait "${pids[i]}" || rc=$?
		i=$((i + 1))
		assert_eq "$rc" 0 "sync $c exit status ($(tail -n 1 "$T/out.$c"))"
	done
	assert_loaded big "$T/in/big_1.csv"
	assert_loaded s1 "$T/in/s1_1.csv"
	assert_loaded s2 "$T/in/s2_1.csv"
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.sync_run WHERE status <> 'succeeded'")" 0 "no failed run recorded"
}

run_tests
