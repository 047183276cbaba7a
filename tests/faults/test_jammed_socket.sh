#!/usr/bin/env bash
# Fault: the daemon's control socket jammed by 40 idle connections (more
# than the 32 it serves at once).  `status` still answers; `trigger` is
# taken, and the run it starts loads a large file with nothing lost and
# nothing duplicated.  Then 32 clients that keep asking: `status` says
# busy, distinctly from "no daemon listening", and a trigger once they are
# gone loads the next file, again counted.
set -euo pipefail
. "$(dirname "$0")/faults.sh"
pg_start

test_jammed_socket_status_and_trigger() {
	reset_db
	fconf "" "$(fconnector unge append 'retry = { attempts = 0; };')"
	gen_source "$T/in/unge_1.csv" 1000 51
	fsync_ok 0
	start_daemon
	gen_source "$T/in/unge_2.csv" "$SP_FAULT_ROWS" 52
	hold_admin 40 60
	local t0=$SECONDS
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" status
	assert_contains "$OUT" "unge" "status answered behind 40 idle connections"
	((SECONDS - t0 <= 9)) || fail "status took $((SECONDS - t0)) s behind idle connections"
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger unge
	wait_log 'connector=unge .*run (succeeded|failed)' 120
	assert_loaded unge "$T/in/unge_1.csv" "$T/in/unge_2.csv"
	kill "$HOLDER" 2>/dev/null || true
	wait "$HOLDER" 2>/dev/null || true

	hold_admin 32 20 chatty
	assert_exit 75 "$SAMSPOR" -c "$T/d.conf" status
	assert_contains "$ERR" "busy" "busy named"
	assert_not_contains "$ERR" "no samspor daemon is listening" "busy is not down"
	kill "$HOLDER" 2>/dev/null || true
	wait "$HOLDER" 2>/dev/null || true
	gen_source "$T/in/unge_3.csv" 50000 53
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger unge
	wait_log 'connector=unge .*run (succeeded|failed)' 120 2
	assert_loaded unge "$T/in/unge_1.csv" "$T/in/unge_2.csv" "$T/in/unge_3.csv"
	stop_daemon
}

run_tests
