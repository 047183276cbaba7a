#!/usr/bin/env bash
# Tests of the test harness itself: the throwaway PostgreSQL of lib.sh (it
# works, restarts, and is always removed), the framework's reporting,
# run.sh's counting, and gen_csv.py's output.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pg_start

# procs_in DIR: PIDs of processes whose command line names DIR or whose
# working directory is in it (postgres backends chdir to the data dir).
procs_in() {
	local dir=$1 p cwd
	for p in /proc/[0-9]*; do
		cwd=$(readlink "$p/cwd" 2>/dev/null || true)
		if [[ $cwd == "$dir" || $cwd == "$dir"/* ]] ||
			tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "$dir"; then
			echo "${p#/proc/}"
		fi
	done
}

# running PID: PID is a live process (a zombie waiting for init to reap it
# has ended).
running() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	s=${s##*) }
	[[ ${s:0:1} != Z ]]
}

# child_script FILE MODE: a script that starts its own cluster, writes
# "DIR POSTMASTER_PID WORK_DIR" to $INFO, and then ends as MODE says.
child_script() {
	cat >"$1" <<-'EOF'
		set -euo pipefail
		. "$SP_TESTDIR/lib.sh"
		pg_start
		psql_q 'SELECT 1' >/dev/null
		printf '%s %s %s\n' "$SP_PG_DIR" "$(pg_postmaster_pid)" "$SP_WORK" >"$INFO.tmp"
		mv "$INFO.tmp" "$INFO"
		case $MODE in
		fail) false ;;
		wait) sleep 600 ;;
		esac
	EOF
}

# wait_for FILE: wait up to 60 s for FILE to exist.
wait_for() {
	local i
	for ((i = 0; i < 600; i++)); do
		[[ -e $1 ]] && return 0
		sleep 0.1
	done
	fail "timed out waiting for $1"
}

# assert_cluster_gone DIR PID [TENTHS]: the cluster's dir is removed and
# nothing of it runs, within TENTHS tenths of a second (default 5: the exit
# trap stops it before the script ends; the watchdog case needs longer).
assert_cluster_gone() {
	local dir=$1 pid=$2 tenths=${3:-5} i
	for ((i = 0; i < tenths; i++)); do
		if [[ ! -e $dir ]] && ! running "$pid" && [[ -z $(procs_in "$dir") ]]; then
			return 0
		fi
		sleep 0.1
	done
	assert_no_file "$dir" "cluster dir left behind"
	running "$pid" && fail "postmaster $pid still running"
	fail "processes of $dir still running: $(procs_in "$dir" | tr '\n' ' ')"
}

test_pg_answers() {
	assert_eq "$(psql_q 'SELECT 1')" 1 "SELECT 1"
	assert_eq "$(psql_q 'SELECT current_database()')" warehouse "database"
	assert_eq "$(psql_q 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user')" t "PGUSER is a superuser"
	local v
	v=$(psql_q 'SHOW server_version_num')
	((v >= 150000)) || fail "server version $v, expected PostgreSQL 15 or newer"
}

test_pg_conninfo_alone() {
	# SP_CONNINFO works without the PG* variables (as samspor gets it).
	local out
	out=$(env -u PGHOST -u PGPORT -u PGUSER -u PGDATABASE \
		"$SP_PG_BINDIR/psql" -X -A -t -d "$SP_CONNINFO" -c 'SELECT current_database()')
	assert_eq "$out" warehouse "psql with SP_CONNINFO"
}

test_pg_socket_only() {
	assert_eq "$(psql_q 'SHOW listen_addresses')" "" "listen_addresses"
	assert_eq "$PGHOST" "$SP_PG_DIR" "PGHOST is the private socket dir"
	[[ -S $PGHOST/.s.PGSQL.$PGPORT ]] || fail "no socket $PGHOST/.s.PGSQL.$PGPORT"
	assert_eq "$(psql_q 'SHOW fsync')" off "fsync"
}

test_pg_unprivileged() {
	local pid owner
	pid=$(pg_postmaster_pid)
	owner=$(stat -c %U "/proc/$pid")
	if [[ $(id -u) == 0 ]]; then
		assert_ne "$owner" root "postmaster owner when run as root"
	else
		assert_eq "$owner" "$(id -un)" "postmaster owner"
	fi
}

test_pg_restart() {
	local before after
	psql_q 'CREATE TABLE restart_probe (x int); INSERT INTO restart_probe VALUES (42)'
	before=$(pg_postmaster_pid)
	pg_restart
	after=$(pg_postmaster_pid)
	assert_ne "$after" "$before" "postmaster PID after pg_restart"
	assert_eq "$(psql_q 'SELECT x FROM restart_probe')" 42 "data after pg_restart"
	pg_restart immediate
	assert_eq "$(psql_q 'SELECT x FROM restart_probe')" 42 "data after crash restart"
}

test_pg_down_up() {
	pg_down
	assert_exit 2 psql_q 'SELECT 1'
	pg_up
	assert_eq "$(psql_q 'SELECT 1')" 1 "SELECT 1 after pg_up"
}

test_cleanup_when_script_fails() {
	child_script "$T/child.sh" fail
	INFO=$T/info MODE=fail assert_exit 1 bash "$T/child.sh"
	local dir pid work
	read -r dir pid work <"$T/info"
	assert_cluster_gone "$dir" "$pid"
	assert_no_file "$work" "work dir left behind"
}

test_cleanup_when_script_terminated() {
	# As a CI timeout would: TERM to the script's whole process group.
	child_script "$T/child.sh" wait
	INFO=$T/info MODE=wait setsid bash "$T/child.sh" >"$T/child.log" 2>&1 &
	local child=$! dir pid work rc=0
	# In a session of its own, it would outlive this test if stopped early.
	at_exit "kill -KILL -- -$child 2>/dev/null"
	wait_for "$T/info"
	read -r dir pid work <"$T/info"
	kill -TERM -- "-$child"
	wait "$child" || rc=$?
	assert_eq "$rc" 143 "child exit status after SIGTERM"
	assert_cluster_gone "$dir" "$pid"
	assert_no_file "$work" "work dir left behind"
}

test_cleanup_when_script_killed() {
	# kill -9 runs no trap: the watchdog must notice and clean up.
	child_script "$T/child.sh" wait
	INFO=$T/info MODE=wait setsid bash "$T/child.sh" >"$T/child.log" 2>&1 &
	local child=$! dir pid work
	at_exit "kill -KILL -- -$child 2>/dev/null"
	wait_for "$T/info"
	read -r dir pid work <"$T/info"
	kill -KILL -- "-$child"
	wait "$child" || true
	assert_cluster_gone "$dir" "$pid" 300
	assert_no_file "$work" "work dir left behind"
}

test_cluster_started_in_a_test_is_removed_with_it() {
	cat >"$T/t.sh" <<-'EOF'
		set -euo pipefail
		. "$SP_TESTDIR/lib.sh"
		test_own_cluster() {
			pg_start
			echo "$SP_PG_DIR $(pg_postmaster_pid)" >"$INFO"
			assert_eq "$(psql_q 'SELECT 2')" 3 "deliberate"
		}
		test_after() { [[ ! -e $(cut -d' ' -f1 "$INFO") ]] || fail "cluster outlived its test"; }
		run_tests
	EOF
	INFO=$T/info assert_exit 1 bash "$T/t.sh"
	assert_contains "$OUT" "ok - test_after" "the next test saw the cluster gone"
	local dir pid work
	read -r dir pid work <"$T/info"
	assert_cluster_gone "$dir" "$pid"
	assert_no_file "$work" "work dir left behind"
}

test_framework_reports() {
	cat >"$T/t.sh" <<-'EOF'
		set -euo pipefail
		. "$SP_TESTDIR/lib.sh"
		test_passes() { assert_eq 1 1 "one"; }
		test_wrong_value() { assert_eq "$(echo 1)" 2 "the answer"; assert_eq 1 3 "second reason"; }
		test_failing_command() { false; echo "not reached"; }
		test_exit_capture() {
			assert_exit 3 sh -c 'echo out; echo err >&2; exit 3'
			assert_eq "$OUT|$ERR|$RC" "out|err|3" "captured"
			assert_exit 0 sh -c 'exit 4'
		}
		test_contains() { assert_contains "abc" "x" "needle"; }
		test_skipped() { t_skip "not today"; }
		test_empty_needle() { assert_not_contains "abc" "" "scan"; }
		test_last() { assert_not_contains "abc" "x" "needle"; }
		run_tests
	EOF
	assert_exit 1 bash "$T/t.sh"
	assert_contains "$OUT" "ok - test_passes" "passing test"
	assert_contains "$OUT" "not ok - test_wrong_value: the answer: expected '2', got '1'" "first reason only"
	assert_not_contains "$OUT" "second reason" "a test fails for one reason"
	assert_contains "$OUT" "not ok - test_failing_command: command failed with status 1 at t.sh:" "failing command"
	assert_not_contains "$OUT" "not reached" "stops at the failing command"
	assert_contains "$OUT" "not ok - test_exit_capture: 'sh -c exit 4' exited 4, expected 0" "assert_exit"
	assert_contains "$OUT" "not ok - test_contains: needle: 'x' not in 'abc'" "assert_contains"
	assert_contains "$OUT" "ok - test_skipped # SKIP not today" "skip"
	assert_contains "$OUT" "not ok - test_empty_needle: scan: the text looked for is empty, so the check cannot fail" "an empty needle fails"
	assert_contains "$OUT" "ok - test_last" "later tests still run"
	assert_eq "$(tail -n 1 <<<"$OUT")" "2 passed, 5 failed, 1 skipped" "closing line (a skip is no pass)"
	# In file order, not alphabetical.
	assert_eq "$(grep -oE '^(not )?ok - test_[a-z_]+' <<<"$OUT" | sed -E 's/^(not )?ok - //' | tr '\n' ' ')" \
		"test_passes test_wrong_value test_failing_command test_exit_capture test_contains test_skipped test_empty_needle test_last " \
		"test order"
}

test_run_sh_counts() {
	mkdir -p "$T/suite"
	cat >"$T/suite/test_good.sh" <<-'EOF'
		. "$SP_TESTDIR/lib.sh"
		test_a() { :; }
		test_b() { :; }
		test_c() { fail "c broke"; }
		test_d() { t_skip "no widget here"; }
		run_tests
	EOF
	cat >"$T/suite/test_crash.sh" <<-'EOF'
		echo "about to crash"
		exit 2
	EOF
	cat >"$T/suite/test_hang.sh" <<-'EOF'
		sleep 60
	EOF
	SP_FILE_TIMEOUT=2 assert_exit 1 "$SP_TESTDIR/run.sh" "$T"/suite/test_*.sh
	assert_contains "$OUT" "not ok - test_c: c broke" "file output shown"
	assert_contains "$OUT" "not ok - test_crash.sh: exited 2 without a summary" "crash counted"
	assert_contains "$OUT" "not ok - test_hang.sh: timed out after 2s" "timeout counted"
	assert_contains "$OUT" "# skipped: test_good.sh: test_d: no widget here" "skip listed"
	assert_eq "$(tail -n 1 <<<"$OUT")" "2 passed, 3 failed, 1 skipped" "run.sh totals"
	SAMSPOR_SKIP_INTEGRATION=1 assert_exit 77 "$SP_TESTDIR/run.sh"
}

gen() { python3 "$SP_TESTDIR/gen_csv.py" "$@"; }

test_gen_csv_format() {
	gen --rows 500 --seed 7 --out "$T/a.csv" --stats "$T/a.json"
	assert_eq "$(head -n 1 "$T/a.csv")" $'cpr;navn;adresse;postnr;status;statusdato;institution;ydelse_kr\r' "header (CRLF)"
	assert_eq "$(wc -l <"$T/a.csv")" 501 "header + 500 rows"
	# Windows-1252: decodes as cp1252, and the Danish letters are not UTF-8.
	iconv -f WINDOWS-1252 -t UTF-8 "$T/a.csv" >"$T/a.utf8"
	grep -q 'æ\|ø\|å' "$T/a.utf8" || fail "no Danish letters in the decoded output"
	iconv -f UTF-8 -t UTF-8 "$T/a.csv" >/dev/null 2>&1 && fail "output is valid UTF-8, expected Windows-1252"
	assert_eq "$(cut -d';' -f4 "$T/a.utf8" | sort -u | tr -d '\r' | tr '\n' ' ')" "2300 postnr " "postnr"
	assert_match "$(sed -n 2p "$T/a.utf8")" '^[0-9]{6}-?[0-9]{4};[^;]+;[^;]+ [0-9]+, [^;]+;2300;(uddannelse|beskæftigelse|ledig|andet);[0-3][0-9]-[01][0-9]-20[0-9]{2};' "row shape"
	gen --rows 500 --seed 7 --out "$T/b.csv"
	cmp -s "$T/a.csv" "$T/b.csv" || fail "same seed gave different output"
	gen --rows 500 --seed 8 --out "$T/c.csv"
	cmp -s "$T/a.csv" "$T/c.csv" && fail "different seeds gave the same output"
	true
}

test_gen_csv_cpr_valid_and_bad_rows() {
	gen --rows 3000 --seed 11 --bad-rate 0.05 --encoding utf-8 --newline lf \
		--out "$T/d.csv" --stats "$T/d.json" --print-identifiers "$T/ids.tsv"
	# Check every row against SPEC.md's CPR rules, independently of gen_csv.
	python3 - "$T/d.csv" "$T/d.json" >"$T/check" <<-'EOF'
		import csv, datetime, json, sys
		stats = json.load(open(sys.argv[2]))
		bad_cpr = bad_fields = 0
		keys = set()
		with open(sys.argv[1], encoding="utf-8", newline="") as f:
		    r = csv.reader(f, delimiter=";")
		    next(r)
		    for row in r:
		        if len(row) != 8:
		            bad_fields += 1
		            continue
		        c = row[0].replace("-", "")
		        try:
		            if len(c) != 10 or not c.isdigit():
		                raise ValueError
		            yy, d7 = int(c[4:6]), int(c[6])
		            if d7 <= 3: cent = 1900
		            elif d7 in (4, 9): cent = 2000 if yy <= 36 else 1900
		            else: cent = 2000 if yy <= 57 else 1800
		            born = datetime.date(cent + yy, int(c[2:4]), int(c[0:2]))
		        except ValueError:
		            bad_cpr += 1
		            continue
		        age = (datetime.date(2026, 6, 30) - born).days / 365.25
		        if not 15 <= age < 30:
		            print("age out of range", c); sys.exit(1)
		        if (c, row[5]) in keys:
		            print("duplicate key", c, row[5]); sys.exit(1)
		        keys.add((c, row[5]))
		print(bad_cpr, bad_fields, stats["bad_cpr"], stats["bad_field_count"])
	EOF
	local got_cpr got_fields want_cpr want_fields
	read -r got_cpr got_fields want_cpr want_fields <"$T/check"
	assert_eq "$got_cpr" "$want_cpr" "invalid CPR rows found vs --stats"
	assert_eq "$got_fields" "$want_fields" "wrong field count rows found vs --stats"
	((got_cpr > 50 && got_fields > 0)) || fail "too few bad rows: $got_cpr bad CPR, $got_fields bad field count"
	# Every CPR of the file is in the identifiers file.
	cut -d';' -f1 "$T/d.csv" | tail -n +2 | sort -u >"$T/cprs"
	grep '^cpr' "$T/ids.tsv" | cut -f2 | sort -u >"$T/id-cprs"
	assert_eq "$(comm -23 "$T/cprs" "$T/id-cprs" | head -n 3)" "" "CPRs missing from --print-identifiers"
	grep -q '^name	' "$T/ids.tsv" || fail "no names in --print-identifiers"
	grep -q '^address	' "$T/ids.tsv" || fail "no addresses in --print-identifiers"
}

run_tests
