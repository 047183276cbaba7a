#!/usr/bin/env bash
# Fault: PostgreSQL restarted (pg_ctl restart -m fast, and -m immediate: a
# crash restart) while a sync of a large export is in its COPY.  The sync
# exits 75 (temporary) or 0, never anything else; after it the table holds
# what it held before or the whole new file, and after the next successful
# sync exactly the source: nothing lost, nothing duplicated, for
# full_refresh, for append, and for append with a cursor.
set -euo pipefail
. "$(dirname "$0")/faults.sh"
pg_start

# restart_mid_copy HOW FILE: start `samspor sync`, restart the cluster
# (pg_ctl -m HOW) once it has read (and sent to its COPY) a quarter of
# FILE; RC is the sync's exit status, which must be 0 or 75.
restart_mid_copy() {
	local pid
	"$SAMSPOR" -c "$T/d.conf" sync >"$T/fault.out" 2>"$T/fault.err" &
	pid=$!
	wait_read "$2" 25 "$pid"
	echo "# restarting with $(copy_progress) rows in the COPY"
	pg_restart "$1"
	RC=0
	wait "$pid" || RC=$?
	local why
	why=$(grep -m 1 'level=error' "$T/fault.err" || tail -n 1 "$T/fault.err")
	echo "# sync during the restart (-m $1) exited $RC: $why"
	[[ $RC == 0 || $RC == 75 ]] || fail "a sync cut by a restart (-m $1) exited $RC, not 0 or 75: $why"
}

# full_refresh: the table is the old file until the new one is whole.
full_refresh_restart() {
	reset_db
	fconf "" "$(fconnector unge full_refresh)"
	gen_source "$T/in/unge_1.csv" 2000 11
	fsync_ok 0
	assert_loaded unge "$T/in/unge_1.csv"
	gen_source "$T/in/unge_2.csv" "$SP_FAULT_ROWS" 12
	restart_mid_copy "$1" "$T/in/unge_2.csv"
	if [[ $RC == 75 ]]; then
		assert_loaded unge "$T/in/unge_1.csv"
	else
		assert_loaded unge "$T/in/unge_2.csv"
	fi
	fsync_ok 0
	assert_loaded unge "$T/in/unge_2.csv"
}

# append: the new file is added once, whatever the restart cut.
append_restart() {
	reset_db
	fconf "" "$(fconnector unge append)"
	gen_source "$T/in/unge_1.csv" 2000 13
	fsync_ok 0
	gen_source "$T/in/unge_2.csv" "$SP_FAULT_ROWS" 14
	restart_mid_copy "$1" "$T/in/unge_2.csv"
	if [[ $RC == 75 ]]; then
		assert_loaded unge "$T/in/unge_1.csv"
	fi
	fsync_ok 0
	assert_loaded unge "$T/in/unge_1.csv" "$T/in/unge_2.csv"
	fsync_ok 0
	assert_loaded unge "$T/in/unge_1.csv" "$T/in/unge_2.csv"
}

# append with a cursor: the cursor is stored with the rows or not at all,
# so the next sync neither skips rows nor adds them twice.
cursor_restart() {
	reset_db
	fconf "" "$(fconnector unge append "" 'cursor = "status_date";')"
	gen_source "$T/in/unge_1.csv" "$SP_FAULT_ROWS" 15
	restart_mid_copy "$1" "$T/in/unge_1.csv"
	if [[ $RC == 75 ]]; then
		assert_loaded unge
	fi
	fsync_ok 0
	assert_loaded unge "$T/in/unge_1.csv"
	fsync_ok 0
	assert_loaded unge "$T/in/unge_1.csv"
}

test_full_refresh_restart_fast() { full_refresh_restart fast; }
test_full_refresh_restart_immediate() { full_refresh_restart immediate; }
test_append_restart_fast() { append_restart fast; }
test_append_restart_immediate() { append_restart immediate; }
test_cursor_restart_fast() { cursor_restart fast; }
test_cursor_restart_immediate() { cursor_restart immediate; }

run_tests
