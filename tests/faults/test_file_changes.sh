#!/usr/bin/env bash
# Fault: the source file changes while it is read, in append mode.  Cut
# at a row boundary, or replaced by another file (renamed over it), while
# samspor reads it: that sync loads nothing and exits 75, the next loads
# the file as it now is, and the one after adds nothing: counted over the
# syncs, nothing lost, nothing duplicated.
set -euo pipefail
. "$(dirname "$0")/faults.sh"
pg_start

# start_and_wait_read: start a sync in the background (SYNCPID) and wait
# until it has read 1 MiB of $T/in/unge_1.csv (its offset in READPOS).
start_and_wait_read() {
	local f=$T/in/unge_1.csv i pos=
	"$SAMSPOR" -c "$T/d.conf" sync >"$T/fault.out" 2>"$T/fault.err" &
	SYNCPID=$!
	for ((i = 0; i < 12000; i++)); do
		pos=$(read_pos "$SYNCPID" "$f")
		[[ -n $pos ]] && ((pos > 1048576)) && break
		sleep 0.01
	done
	[[ -n $pos ]] || fail "the reader never opened the file"
	READPOS=$pos
}

test_truncated_while_read() {
	reset_db
	fconf "" "$(fconnector unge append)"
	local f=$T/in/unge_1.csv cut rc=0
	gen_source "$f" "$SP_FAULT_ROWS" 41
	cut=$(python3 -c '
import os, sys
f = open(sys.argv[1], "rb"); f.seek(os.path.getsize(sys.argv[1]) * 9 // 10)
f.readline(); print(f.tell())' "$f")
	start_and_wait_read
	truncate -s "$cut" "$f"
	((READPOS < cut)) || fail "the reader was at $READPOS, past the cut at $cut"
	wait "$SYNCPID" || rc=$?
	assert_eq "$rc" 75 "a file cut while read: exit status ($(tail -n 1 "$T/fault.err"))"
	assert_loaded unge
	fsync_ok 0
	assert_loaded unge "$f"
	fsync_ok 0
	assert_loaded unge "$f"
}

test_replaced_while_read() {
	reset_db
	fconf "" "$(fconnector unge append)"
	local f=$T/in/unge_1.csv rc=0
	gen_source "$f" "$SP_FAULT_ROWS" 42
	gen_source "$T/new.csv" 50000 43
	start_and_wait_read
	mv "$T/new.csv" "$f"
	wait "$SYNCPID" || rc=$?
	assert_eq "$rc" 75 "a file replaced while read: exit status ($(tail -n 1 "$T/fault.err"))"
	assert_loaded unge
	fsync_ok 0
	assert_loaded unge "$f"
	fsync_ok 0
	assert_loaded unge "$f"
}

run_tests
