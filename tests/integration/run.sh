#!/usr/bin/env bash
# tests/integration/run.sh: run the integration suite.
#
#   tests/integration/run.sh [FILE...]
#
# Runs every tests/integration/test_*.sh (or the FILEs given), each as its
# own bash process with no stdin and a time limit, adds up the closing
# "N passed, N failed[, N skipped]" line of each, lists every skipped test
# ("# skipped: FILE: TEST: REASON") and ends with the totals, "N passed,
# N failed, N skipped". Exits 1 when anything failed (a skip is not a
# failure here; contrib/test.sh decides which skips a machine may have). A file that exits non-zero without a
# failed test, or prints no closing line (it crashed, was killed or timed
# out), counts as one failed test.
#
# Environment: BUILD_DIR, SAMSPOR, SAMSPOR_PLUGIN_DIR (see lib.sh); SP_SUITE
# the name in the summary line (default integration; tests/faults/run.sh
# sets faults);
# SP_FILE_TIMEOUT seconds per file (default 300); SAMSPOR_SKIP_INTEGRATION=1
# skips the suite (exit 77, automake's SKIP).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)

if [[ ${SAMSPOR_SKIP_INTEGRATION:-} == 1 ]]; then
	echo "integration tests skipped (SAMSPOR_SKIP_INTEGRATION=1)"
	exit 77
fi

if (($# > 0)); then
	files=("$@")
else
	shopt -s nullglob
	files=("$here"/test_*.sh)
	shopt -u nullglob
fi

timeout_s=${SP_FILE_TIMEOUT:-300}
logdir=$(mktemp -d "${TMPDIR:-/tmp}/samspor-run.XXXXXX")

# Each file runs under timeout(1), in a process group of its own, in the
# background: a signal to run.sh is handled at once and passed on, so the
# file's own traps remove its clusters before run.sh ends.
child=
on_exit() {
	if [[ -n $child ]]; then
		kill -TERM "$child" 2>/dev/null || true
		wait "$child" 2>/dev/null || true
	fi
	rm -rf "$logdir"
}
trap on_exit EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM

passed=0
failed=0
skipped=0
broken=()
skips=()
summary_re='^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$'
skip_re='^ok - ([^ ]+) # SKIP ?(.*)$'

for f in "${files[@]}"; do
	name=${f##*/}
	log=$logdir/$name.log
	echo "# ---- $name"
	start=$SECONDS
	rc=0
	: >"$log"
	timeout -k 15 "$timeout_s" bash "$f" </dev/null >"$log" 2>&1 &
	child=$!
	tail -n +1 -f --pid="$child" "$log" &
	tailpid=$!
	wait "$child" || rc=$?
	child=
	wait "$tailpid" || true
	p='' n='' s=0
	while IFS= read -r line; do
		if [[ $line =~ $summary_re ]]; then
			p=${BASH_REMATCH[1]}
			n=${BASH_REMATCH[2]}
			s=${BASH_REMATCH[4]:-0}
		elif [[ $line =~ $skip_re ]]; then
			skips+=("$name: ${BASH_REMATCH[1]}: ${BASH_REMATCH[2]}")
		fi
	done <"$log"
	if [[ -z $p ]]; then
		why="exited $rc without a summary"
		((rc == 124)) && why="timed out after ${timeout_s}s"
		echo "not ok - $name: $why"
		p=0 n=1
		broken+=("$name ($why)")
	elif ((rc != 0 && n == 0)); then
		echo "not ok - $name: exited $rc although no test failed"
		n=1
		broken+=("$name (exit $rc)")
	elif ((n > 0)); then
		broken+=("$name ($n failed)")
	fi
	echo "# $name: $p passed, $n failed, $s skipped in $((SECONDS - start))s"
	passed=$((passed + p))
	failed=$((failed + n))
	skipped=$((skipped + s))
done

echo "== ${SP_SUITE:-integration} summary: ${#files[@]} files"
for b in "${broken[@]+"${broken[@]}"}"; do
	echo "#   failed: $b"
done
for b in "${skips[@]+"${skips[@]}"}"; do
	echo "# skipped: $b"
done
echo "$passed passed, $failed failed, $skipped skipped"
((failed == 0))
