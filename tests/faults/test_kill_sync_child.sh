#!/usr/bin/env bash
# Fault: the sync child of the daemon killed with SIGKILL at several points
# of its load: at 5%, 40% and 75% of its file read and streamed into its
# COPY (later ones race with the end of a fast load), and after its COPY
# while it waits to commit.  The daemon logs it and retries; after the
# retry the table holds every file once: nothing lost, nothing duplicated.
set -euo pipefail
. "$(dirname "$0")/faults.sh"
pg_start

# The sync child running under the daemon, as the daemon starts it.
child_pid() { pgrep -f -- "-c $T/d.conf sync unge$" || true; }

# kill_child: SIGKILL the sync child and wait until it is gone.
kill_child() {
	local pid
	pid=$(child_pid)
	[[ -n $pid ]] || fail "no sync child to kill"
	kill -KILL "$pid"
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
}

test_sigkill_at_several_offsets() {
	reset_db
	fconf "" "$(fconnector unge append 'retry = { attempts = 5; backoff = "1s"; max_backoff = "2s"; };')"
	gen_source "$T/in/unge_1.csv" 1000 21
	fsync_ok 0 # a recent success: no catch-up run at start
	# A load slowed down in the server (a pause every ~50 rows: about 4 s
	# for 200,000), so that each kill point is reached while the child
	# still loads, however fast or busy the machine is.
	psql_q "CREATE FUNCTION warehouse.slow() RETURNS trigger LANGUAGE plpgsql AS \$\$ BEGIN IF random() < 0.02 THEN PERFORM pg_sleep(0.001); END IF; RETURN NEW; END \$\$; CREATE TRIGGER slow BEFORE INSERT ON warehouse.unge FOR EACH ROW EXECUTE FUNCTION warehouse.slow()" >/dev/null
	start_daemon
	local files=("$T/in/unge_1.csv") k=1 pct pid
	for pct in 5 40 75; do
		k=$((k + 1))
		gen_source "$T/in/unge_$k.csv" "$SP_FAULT_ROWS" $((21 + k))
		assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger unge
		for ((i = 0; i < 1200; i++)); do
			pid=$(child_pid)
			[[ -n $pid ]] && break
			sleep 0.05
		done
		wait_read "$T/in/unge_$k.csv" "$pct" "$pid"
		echo "# killing at $pct% of the file read, $(copy_progress) rows in the COPY"
		kill_child
		wait_log 'connector=unge .*run was killed by signal 9 \(SIGKILL\).*; retry 1 of 5' 30 $((k - 1))
		wait_log 'connector=unge .*run succeeded in' 120 $((k - 1))
		files+=("$T/in/unge_$k.csv")
		assert_loaded unge "${files[@]}"
	done

	# After the COPY, while the load waits to commit.
	k=$((k + 1))
	gen_source "$T/in/unge_$k.csv" 20000 $((21 + k))
	hold_lock
	assert_exit 0 "$SAMSPOR" -c "$T/d.conf" trigger unge
	for ((i = 0; i < 600; i++)); do
		[[ $(psql_q "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'samspor%' AND wait_event_type = 'Lock'") -ge 1 ]] && break
		sleep 0.1
	done
	kill_child
	# its backend waits on for the lock; end it, as TCP keepalive would
	psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'samspor%' AND wait_event_type = 'Lock'" >/dev/null
	wait_log 'connector=unge .*run was killed by signal 9 \(SIGKILL\)' 30 4
	release_lock
	wait_log 'connector=unge .*run succeeded in' 120 4
	files+=("$T/in/unge_$k.csv")
	assert_loaded unge "${files[@]}"
	assert_eq "$(status_field unge 'c["consecutive_failures"], c["state"], c["last_run"]["result"]')" "(0, 'idle', 'succeeded')" "recovered"
	stop_daemon
}

run_tests
