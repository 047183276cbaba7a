# shellcheck shell=bash
# tests/integration/lib.sh: what every integration test sources.
#
# Gives a test file:
#   - where the build is: BUILD_DIR, SAMSPOR, SAMSPOR_PLUGIN_DIR, SP_SRCDIR;
#   - a throwaway PostgreSQL: pg_start, pg_stop, pg_restart, psql_q, and the
#     PG* variables plus SP_CONNINFO pointing at it;
#   - a small test framework: test_* functions run by run_tests, each in its
#     own subshell with its own temp dir $T, assertions that stop the test at
#     the first failure and say why, and a closing "N passed, N failed,
#     N skipped".
#
# Everything a file starts (the cluster, its work dir, what at_exit names) is
# removed when the file exits, fails or is killed: by an EXIT/INT/TERM/HUP
# trap, and for the cluster also by a watchdog that outlives a kill -9.
#
# A test file looks like:
#
#   #!/usr/bin/env bash
#   set -euo pipefail
#   . "$(dirname "$0")/lib.sh"
#   pg_start                        # once for the file, or inside a test
#   test_select_one() { assert_eq "$(psql_q 'SELECT 1')" 1 "SELECT 1"; }
#   run_tests
#
# Environment it honours:
#   BUILD_DIR            the build tree (default: $PWD when it holds samspor,
#                        else <repo>/build, else <repo>)
#   SAMSPOR              the binary (default $BUILD_DIR/samspor)
#   SAMSPOR_PLUGIN_DIR   the plugins (default: where csv.so was built)
#   SP_PG_BINDIR         PostgreSQL server binaries (default: found)
#   SP_PG_PORT           port of the private socket (default 5432)
#   SP_PG_OSUSER         the OS user postgres runs as under root (postgres)
#   SP_ONLY              run only tests whose name matches this regex
#   SP_KEEP=1            keep the work dir (and print where) for debugging
#   SP_CMD_TIMEOUT       seconds an assert_exit command may take (120)
#   ATTACK_PY            the python that runs attack.py (/usr/bin/python3,
#                        with python3-scipy)

if [[ -n ${_SP_LIB_LOADED:-} ]]; then
	return 0
fi
_SP_LIB_LOADED=1

SP_TESTDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SP_SRCDIR=$(cd "$SP_TESTDIR/../.." && pwd)
export SP_SRCDIR SP_TESTDIR

# ---------------------------------------------------------------------------
# Where the build is
# ---------------------------------------------------------------------------

# The build tree: make check runs tests from the top build dir, so $PWD wins
# when it holds a samspor; then the out-of-tree build/; then an in-tree build.
if [[ -z ${BUILD_DIR:-} ]]; then
	if [[ -n ${abs_top_builddir:-} ]]; then
		BUILD_DIR=$abs_top_builddir
	elif [[ -x $PWD/samspor && $PWD != "$SP_TESTDIR" ]]; then
		BUILD_DIR=$PWD
	elif [[ -x $SP_SRCDIR/build/samspor ]]; then
		BUILD_DIR=$SP_SRCDIR/build
	else
		BUILD_DIR=$SP_SRCDIR
	fi
fi
BUILD_DIR=$(cd "$BUILD_DIR" && pwd)
SAMSPOR=${SAMSPOR:-$BUILD_DIR/samspor}
export BUILD_DIR SAMSPOR

# _sp_find_plugin_dir: prints the directory that holds the built plugins.
# libtool leaves each module in the .libs/ beside its .la; when the plugins
# are spread over several such dirs, they are linked into one dir under the
# work dir so that plugin_dir can name them all.
_sp_find_plugin_dir() {
	local prune=() csv dir so one
	if [[ $BUILD_DIR == "$SP_SRCDIR" ]]; then
		prune=(-path "$SP_SRCDIR/build*" -prune -o)
	fi
	csv=$(find "$BUILD_DIR" "${prune[@]}" -path '*/.libs/csv.so' -print 2>/dev/null | head -n 1)
	[[ -n $csv ]] || return 1
	dir=$(dirname "$csv")
	local -a all
	# Every plugin but the tests' deliberately broken ones.
	mapfile -t all < <(find "$BUILD_DIR" "${prune[@]}" -path '*/plugins/*' -path '*/.libs/*.so' \
		! -path '*/tests/*' -print 2>/dev/null)
	for so in "${all[@]}"; do
		if [[ $(dirname "$so") != "$dir" ]]; then
			# Spread over several dirs: gather them in one.
			local farm=$SP_WORK/plugins
			mkdir -p "$farm"
			for one in "${all[@]}"; do
				ln -sf "$one" "$farm/$(basename "$one")"
			done
			[[ -e $farm/csv.so ]] || ln -sf "$csv" "$farm/csv.so"
			dir=$farm
			break
		fi
	done
	printf '%s\n' "$dir"
}

# ---------------------------------------------------------------------------
# Cleanup at exit: one trap per shell, a stack of commands per owner
# ---------------------------------------------------------------------------

_SP_TRAP_OWNER=
_SP_CLEANUPS=()

# at_exit CMD: run the shell command CMD when this shell (the test file, or
# the test's subshell when called inside a test) exits, fails or is killed.
# Commands run last-registered first.
at_exit() {
	_sp_install_traps
	_SP_CLEANUPS+=("$1")
}

_sp_install_traps() {
	if [[ $_SP_TRAP_OWNER != "$BASHPID" ]]; then
		# A subshell inherits the variables but not the traps: start afresh
		# so that it never tears down what its parent owns.
		_SP_TRAP_OWNER=$BASHPID
		_SP_CLEANUPS=()
		trap '_sp_exit_trap' EXIT
		trap 'exit 129' HUP
		trap 'exit 130' INT
		trap 'exit 143' TERM
	fi
}

_sp_exit_trap() {
	local rc=$? i
	trap - EXIT HUP INT TERM
	set +e
	if [[ -n ${_SP_CUR_TEST_PID:-} ]]; then
		kill -TERM "$_SP_CUR_TEST_PID" 2>/dev/null
		wait "$_SP_CUR_TEST_PID" 2>/dev/null
	fi
	for ((i = ${#_SP_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${_SP_CLEANUPS[i]}" || true
	done
	return "$rc"
}

# The file's work dir: per-test dirs live below it.
SP_WORK=$(mktemp -d "${TMPDIR:-/tmp}/samspor-test.XXXXXX")
_SP_WORK_OWNER=$BASHPID
export SP_WORK
_sp_rm_work() {
	if [[ ${SP_KEEP:-} == 1 ]]; then
		echo "# kept work dir: $SP_WORK" >&2
	else
		rm -rf "$SP_WORK"
	fi
}
at_exit _sp_rm_work

if [[ -z ${SAMSPOR_PLUGIN_DIR:-} ]]; then
	SAMSPOR_PLUGIN_DIR=$(_sp_find_plugin_dir) || SAMSPOR_PLUGIN_DIR=$BUILD_DIR/.libs
fi
export SAMSPOR_PLUGIN_DIR

# The attacker of attack.py needs scipy (python3-scipy): Debian's python,
# not whatever python3 comes first on PATH (a pyenv or venv one may lack
# it). Run it as: assert_exit 0 "$ATTACK_PY" "$ATTACK" TABLE.csv ...
ATTACK_PY=${ATTACK_PY:-/usr/bin/python3}
ATTACK=$SP_TESTDIR/attack.py
export ATTACK_PY ATTACK

# ---------------------------------------------------------------------------
# A throwaway PostgreSQL cluster
# ---------------------------------------------------------------------------

# _sp_pg_bindir: prints the dir of initdb/pg_ctl/postgres/psql.
_sp_pg_bindir() {
	local d
	if [[ -n ${SP_PG_BINDIR:-} ]]; then
		printf '%s\n' "$SP_PG_BINDIR"
		return 0
	fi
	if command -v pg_config >/dev/null 2>&1; then
		d=$(pg_config --bindir 2>/dev/null || true)
		if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
			printf '%s\n' "$d"
			return 0
		fi
	fi
	# Debian keeps the server binaries off PATH; take the newest version.
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [[ -n $d && -x $d/initdb ]]; then
		printf '%s\n' "$d"
		return 0
	fi
	d=$(command -v initdb 2>/dev/null || true)
	if [[ -n $d ]]; then
		dirname "$d"
		return 0
	fi
	echo "lib.sh: no PostgreSQL server binaries (initdb) found; install postgresql or set SP_PG_BINDIR" >&2
	return 1
}

# _sp_as_pg CMD...: run CMD as the OS user that owns the cluster.
_sp_as_pg() {
	if [[ -n ${SP_PG_RUNAS:-} ]]; then
		runuser -u "$SP_PG_RUNAS" -- "$@"
	else
		"$@"
	fi
}

# _sp_proc_start PID: prints the start time of a process (field 22 of its
# /proc stat), so a watchdog can tell its owner from a later process that
# reused the PID.
_sp_proc_start() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	# shellcheck disable=SC2086 # split into fields on purpose
	set -- $stat
	printf '%s\n' "${20}"
}

# pg_start: initdb and start a private cluster; create database warehouse.
# Sets and exports PGHOST (the socket dir), PGPORT, PGUSER=postgres,
# PGDATABASE=warehouse, SP_CONNINFO, SP_PG_DIR (the cluster's temp dir; data
# in $SP_PG_DIR/data, server log in $SP_PG_DIR/postgres.log), SP_PG_BINDIR.
# The cluster is stopped and its dir removed when the calling shell exits.
pg_start() {
	local bindir dir base port=${SP_PG_PORT:-5432} rc=0
	if [[ -n ${SP_PG_DIR:-} && -d ${SP_PG_DIR:-} && ${_SP_PG_OWNER:-} == "$BASHPID" ]]; then
		echo "pg_start: a cluster is already running in $SP_PG_DIR" >&2
		return 1
	fi
	bindir=$(_sp_pg_bindir) || return 1
	# A short base keeps the socket path under the 107-byte limit.
	base=${SP_PG_TMPDIR:-/tmp}
	dir=$(mktemp -d "$base/sp-pg.XXXXXX") || return 1

	SP_PG_RUNAS=
	if [[ $(id -u) == 0 ]]; then
		# initdb and postgres refuse to run as root.
		SP_PG_RUNAS=${SP_PG_OSUSER:-postgres}
		if ! id "$SP_PG_RUNAS" >/dev/null 2>&1; then
			SP_PG_RUNAS=nobody
		fi
		chown "$SP_PG_RUNAS" "$dir"
	fi
	# Others may traverse to the socket (a test may run samspor as another
	# user) but not list or write the dir.
	chmod 711 "$dir"

	_sp_install_traps
	SP_PG_DIR=$dir
	SP_PG_BINDIR=$bindir
	_SP_PG_OWNER=$BASHPID
	export SP_PG_DIR SP_PG_BINDIR SP_PG_RUNAS
	at_exit _sp_pg_cleanup
	_sp_pg_watchdog

	if ! _sp_as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 \
		--locale=C --no-sync >"$dir/initdb.log" 2>&1; then
		echo "pg_start: initdb failed:" >&2
		sed 's/^/  /' "$dir/initdb.log" >&2
		return 1
	fi
	cat >>"$dir/data/postgresql.conf" <<-EOF
		# added by tests/integration/lib.sh
		listen_addresses = ''
		unix_socket_directories = '$dir'
		port = $port
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		max_connections = 40
		shared_buffers = 32MB
		max_wal_size = 1GB
		log_line_prefix = '%m [%p] %q%u@%d '
		log_min_messages = warning
	EOF
	_sp_as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start \
		>"$dir/pg_ctl.log" 2>&1 || rc=$?
	if ((rc != 0)); then
		echo "pg_start: pg_ctl start failed ($rc):" >&2
		tail -n 20 "$dir/pg_ctl.log" "$dir/postgres.log" 2>/dev/null | sed 's/^/  /' >&2
		return 1
	fi

	unset PGSERVICE PGSERVICEFILE PGHOSTADDR PGPASSWORD PGPASSFILE PGSSLMODE PGOPTIONS PGCONNECT_TIMEOUT
	export PGHOST=$dir PGPORT=$port PGUSER=postgres PGDATABASE=postgres
	if ! "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE warehouse' >/dev/null; then
		echo "pg_start: CREATE DATABASE warehouse failed" >&2
		return 1
	fi
	export PGDATABASE=warehouse
	export SP_CONNINFO="host=$dir port=$port user=postgres dbname=warehouse"
}

# _sp_pg_watchdog: a process in its own session that stops the cluster and
# removes its dir once the shell that started it is gone without doing so
# (kill -9, or a timeout that killed the whole process group); it removes
# the file's work dir too when that shell made it.
_sp_pg_watchdog() {
	local owner=$BASHPID start work=
	start=$(_sp_proc_start "$owner" || echo 0)
	if [[ ${_SP_WORK_OWNER:-} == "$owner" && ${SP_KEEP:-} != 1 ]]; then
		work=$SP_WORK
	fi
	# setsid execs in place (a background job is no group leader), so $! is
	# the watchdog itself.
	# shellcheck disable=SC2016 # the script gets its values as arguments
	setsid bash -c '
		owner=$1 start=$2 dir=$3 bindir=$4 runas=$5 work=$6
		alive() {
			local s
			s=$(cat /proc/$owner/stat 2>/dev/null) || return 1
			s=${s##*) }
			set -- $s
			[[ $1 != Z && ${20} == "$start" ]]
		}
		trap "" HUP INT
		while alive; do sleep 1; done
		[[ -n $work ]] && rm -rf "$work"
		[[ -d $dir ]] || exit 0
		as_pg() { if [[ -n $runas ]]; then runuser -u "$runas" -- "$@"; else "$@"; fi; }
		if [[ -f $dir/data/postmaster.pid ]]; then
			as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop || {
				pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null)
				[[ -n $pid ]] && kill -KILL "$pid"
			}
		fi
		rm -rf "$dir"
	' sp-pg-watchdog "$owner" "$start" "$SP_PG_DIR" "$SP_PG_BINDIR" "$SP_PG_RUNAS" "$work" \
		</dev/null >/dev/null 2>&1 &
	_SP_PG_WATCHDOG=$!
}

_sp_pg_cleanup() {
	[[ ${_SP_PG_OWNER:-} == "$BASHPID" ]] || return 0
	pg_stop
}

# pg_stop: stop the cluster and remove its dir; unsets what pg_start set.
pg_stop() {
	local dir=${SP_PG_DIR:-} pid
	[[ -n $dir ]] || return 0
	if [[ -n ${_SP_PG_WATCHDOG:-} ]]; then
		kill "$_SP_PG_WATCHDOG" 2>/dev/null || true
		_SP_PG_WATCHDOG=
	fi
	if [[ -f $dir/data/postmaster.pid ]]; then
		pid=$(head -n 1 "$dir/data/postmaster.pid" 2>/dev/null || true)
		if ! _sp_as_pg "$SP_PG_BINDIR/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1; then
			_sp_as_pg "$SP_PG_BINDIR/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 ||
				{ [[ -n $pid ]] && kill -KILL "$pid" 2>/dev/null; } || true
		fi
	fi
	rm -rf "$dir"
	unset SP_PG_DIR PGHOST PGPORT PGUSER PGDATABASE SP_CONNINFO
	_SP_PG_OWNER=
}

# pg_restart [MODE]: restart the cluster (MODE fast by default; immediate
# for a crash restart). The server keeps its socket, port and data.
pg_restart() {
	local mode=${1:-fast}
	[[ -n ${SP_PG_DIR:-} ]] || { echo "pg_restart: no cluster" >&2; return 1; }
	# -l again: without it the new postmaster would write to our stdout.
	_sp_as_pg "$SP_PG_BINDIR/pg_ctl" -D "$SP_PG_DIR/data" -l "$SP_PG_DIR/postgres.log" \
		-m "$mode" -w -t 60 restart >"$SP_PG_DIR/pg_ctl.log" 2>&1 || {
		echo "pg_restart: failed:" >&2
		tail -n 20 "$SP_PG_DIR/pg_ctl.log" "$SP_PG_DIR/postgres.log" | sed 's/^/  /' >&2
		return 1
	}
}

# pg_down / pg_up: stop the server keeping its data, and start it again (for
# "warehouse unreachable" tests).
pg_down() {
	_sp_as_pg "$SP_PG_BINDIR/pg_ctl" -D "$SP_PG_DIR/data" -m "${1:-fast}" -w -t 60 stop >/dev/null
}
pg_up() {
	_sp_as_pg "$SP_PG_BINDIR/pg_ctl" -D "$SP_PG_DIR/data" -l "$SP_PG_DIR/postgres.log" -w -t 60 start >/dev/null
}

# pg_postmaster_pid: prints the running postmaster's PID.
pg_postmaster_pid() {
	head -n 1 "$SP_PG_DIR/data/postmaster.pid"
}

# psql_q SQL [PSQL-ARGS...]: run SQL in the cluster (database $PGDATABASE);
# prints unaligned, tuples-only output ('|' between columns); fails on any
# SQL error.
psql_q() {
	local sql=$1
	shift
	"${SP_PG_BINDIR:-$(_sp_pg_bindir)}/psql" -X -q -A -t -v ON_ERROR_STOP=1 "$@" -c "$sql"
}

# ---------------------------------------------------------------------------
# Loads counted against their source (test_concurrency, tests/faults/)
# ---------------------------------------------------------------------------

SP_GEN=$SP_TESTDIR/gen_csv.py

# gen_source FILE ROWS SEED: a synthetic export of ROWS rows (gen_csv.py,
# every (cpr, statusdato) distinct).
gen_source() {
	mkdir -p "$(dirname "$1")"
	python3 "$SP_GEN" --rows "$2" --seed "$3" --out "$1" >/dev/null
}

# counted_streams TABLE MODE [STREAM-EXTRA]: the streams of a csv connector
# loading a gen_csv.py export into warehouse.TABLE with the columns that
# source_sum and table_sum compare: person (pseudonym of cpr), status,
# status_date (a date), benefit (the text as written).
counted_streams() {
	cat <<-EOF
		streams = ( { table = "$1"; mode = "$2"; ${3:-}
		  columns = (
		    { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
		    { name = "status"; from = "status"; rule = "keep"; },
		    { name = "status_date"; from = "statusdato"; type = "date"; format = "%d-%m-%Y"; },
		    { name = "benefit"; from = "ydelse_kr"; rule = "keep"; }
		  ); } );
	EOF
}

# source_sum FILE...: "ROWS DISTINCT-KEYS MD5" of the data rows of the
# files together: the md5 is of the lines "status|status_date|benefit"
# (the date as yyyy-mm-dd), sorted bytewise; the key is (cpr, statusdato),
# the cpr's digits only.
source_sum() {
	python3 - "$@" <<-'EOF'
		import csv, hashlib, sys
		lines, keys = [], set()
		for name in sys.argv[1:]:
		    with open(name, encoding="windows-1252", newline="") as f:
		        r = csv.reader(f, delimiter=";")
		        next(r)
		        for row in r:
		            d, m, y = row[5].split("-")
		            lines.append(("%s|%s-%s-%s|%s" % (row[4], y, m, d, row[7])).encode())
		            # the same person written with and without the dash
		            keys.add(("".join(c for c in row[0] if c.isdigit()), row[5]))
		lines.sort()
		print(len(lines), len(keys), hashlib.md5(b"\n".join(lines)).hexdigest())
	EOF
}

# table_sum TABLE: the same of warehouse.TABLE, the key being (person,
# status_date); "0 0 <md5 of nothing>" when the table does not exist.
table_sum() {
	if [[ $(psql_q "SELECT to_regclass('warehouse.$1') IS NOT NULL") != t ]]; then
		echo "0 0 d41d8cd98f00b204e9800998ecf8427e"
		return 0
	fi
	psql_q "SELECT count(*) || ' ' || count(DISTINCT (person, status_date)) || ' ' || md5(coalesce(string_agg(l, E'\\n' ORDER BY l COLLATE \"C\"), '')) FROM (SELECT person, status_date, coalesce(status, '') || '|' || coalesce(status_date::text, '') || '|' || coalesce(benefit, '') AS l FROM warehouse.$1) t"
}

# assert_loaded TABLE FILE...: warehouse.TABLE holds exactly the rows of the
# FILEs, each once: rows lost = 0 and rows duplicated = 0 by key (and no
# extra keys, rows the FILEs do not have), and the checksum of the values
# equal.  No FILE: the table is empty (or absent).  Prints "# TABLE: N rows
# of M, lost L, duplicated D, extra E" either way.
assert_loaded() {
	local table=$1 src tbl n nk sum c ck tsum lost dup extra=0
	shift
	if (($# > 0)); then
		src=$(source_sum "$@")
	else
		src="0 0 d41d8cd98f00b204e9800998ecf8427e"
	fi
	tbl=$(table_sum "$table")
	read -r n nk sum <<<"$src"
	read -r c ck tsum <<<"$tbl"
	lost=$((nk - ck))
	if ((lost < 0)); then
		extra=$((-lost)) lost=0
	fi
	dup=$(((c - ck) - (n - nk)))
	echo "# $table: $c rows of $n, lost $lost, duplicated $dup, extra $extra"
	assert_eq "lost $lost, duplicated $dup, extra $extra" "lost 0, duplicated 0, extra 0" "warehouse.$table against its source ($n rows)"
	assert_eq "$c $tsum" "$n $sum" "warehouse.$table: count and checksum of the values against its source"
}

# ---------------------------------------------------------------------------
# The daemon (its configuration in $T/d.conf)
# ---------------------------------------------------------------------------

# start_daemon: samspor run in the background, its stderr in $T/daemon.log,
# its PID in DPID; returns once the admin socket answers.
start_daemon() {
	: >"$T/daemon.log"
	"$SAMSPOR" -c "$T/d.conf" run >"$T/daemon.out" 2>>"$T/daemon.log" &
	DPID=$!
	at_exit "kill -TERM $DPID 2>/dev/null; wait $DPID 2>/dev/null || true"
	local i
	for i in $(seq 1 100); do
		if "$SAMSPOR" -c "$T/d.conf" status >/dev/null 2>&1; then
			return 0
		fi
		kill -0 "$DPID" 2>/dev/null || fail "the daemon exited at start: $(tail -n 5 "$T/daemon.log")"
		sleep 0.1
	done
	fail "the daemon did not answer on its admin socket"
}

# stop_daemon: SIGTERM, and the daemon must exit 0.
stop_daemon() {
	local rc=0
	kill -TERM "$DPID"
	wait "$DPID" || rc=$?
	assert_eq "$rc" 0 "daemon exit status after SIGTERM"
}

# wait_log REGEX [SECONDS] [COUNT]: wait until the daemon's log has COUNT
# (default 1) lines matching REGEX.
wait_log() {
	local re=$1 secs=${2:-30} count=${3:-1} i n
	for ((i = 0; i < secs * 10; i++)); do
		n=$(grep -cE -- "$re" "$T/daemon.log" || true)
		((n >= count)) && return 0
		sleep 0.1
	done
	fail "no log line /$re/ (x$count) within ${secs}s; log ends: $(tail -n 4 "$T/daemon.log")"
}

# status_field CONNECTOR PYTHON-EXPR: evaluate EXPR on the connector's
# object (c) of `samspor status --json`.
status_field() {
	"$SAMSPOR" -c "$T/d.conf" status --json |
		python3 -c 'import json,sys; d=json.load(sys.stdin); c=[c for c in d["connectors"] if c["name"]==sys.argv[1]][0]; print(eval(sys.argv[2]))' "$1" "$2"
}

# hold_lock [SQL-LOCK]: a session holding `LOCK TABLE ...` (by default
# samspor.sync_run, so that every load waits before its commit) until
# release_lock.
hold_lock() {
	"${SP_PG_BINDIR}/psql" -X -q -c "BEGIN; ${1:-LOCK TABLE samspor.sync_run IN EXCLUSIVE MODE}; SELECT pg_sleep(600) /* samspor-test-lock */;" >/dev/null 2>&1 &
	LOCKPID=$!
	at_exit "kill $LOCKPID 2>/dev/null || true"
	local i
	for i in $(seq 1 100); do
		[[ $(psql_q "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%samspor-test-lock%' AND pid <> pg_backend_pid() AND wait_event = 'PgSleep'") == 1 ]] && return 0
		sleep 0.1
	done
	fail "the lock holder did not start"
}

# release_lock: end the lock holder.
release_lock() {
	psql_q "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%samspor-test-lock%' AND pid <> pg_backend_pid()" >/dev/null
	wait "$LOCKPID" 2>/dev/null || true
}

# hold_admin N SECONDS [CHATTY]: N connections to the daemon's admin socket
# ($T/admin.sock), held for SECONDS in the background ($HOLDER); CHATTY ones
# send a request every second.  Returns once every connection is made (and,
# when CHATTY, answered once: each holds a slot).
hold_admin() {
	rm -f "$T/hold.ready"
	python3 - "$T/admin.sock" "$1" "$2" "${3:-}" "$T/hold.ready" <<-'EOF' &
		import socket, sys, time
		held = []
		for _ in range(int(sys.argv[2])):
		    s = socket.socket(socket.AF_UNIX)
		    s.connect(sys.argv[1])
		    held.append(s)
		if sys.argv[4]:
		    # every slot taken (each asked once and answered) before the
		    # test asks
		    for s in held:
		        s.sendall(b'{"cmd":"nothing"}\n')
		    for s in held:
		        s.recv(65536)
		open(sys.argv[5], "w").close()
		end = time.time() + float(sys.argv[3])
		while time.time() < end:
		    if sys.argv[4]:
		        for s in held:
		            s.sendall(b'{"cmd":"nothing"}\n')
		        for s in held:
		            s.recv(65536)
		    time.sleep(1)
	EOF
	HOLDER=$!
	at_exit "kill $HOLDER 2>/dev/null || true"
	local i
	for i in $(seq 1 200); do
		[[ -e $T/hold.ready ]] && return 0
		sleep 0.1
	done
	fail "the $1 clients did not connect"
}

# read_pos PID PATH: the offset of the open file description of PATH in
# PID or one of its children (a sync may run the plugin in a child), or
# nothing while none has it open.
read_pos() {
	local fd p
	for fd in $(for p in $1 $(pgrep -P "$1" || true); do echo "/proc/$p/fd/"*; done 2>/dev/null); do
		if [[ $(readlink "$fd" 2>/dev/null) == "$2" ]]; then
			local p=${fd%/fd/*} n=${fd##*/}
			awk '/^pos:/ {print $2}' "$p/fdinfo/$n" 2>/dev/null && return
		fi
	done
}

# copy_progress: rows a samspor COPY has sent so far (0 when none runs).
copy_progress() {
	psql_q "SELECT coalesce(max(p.tuples_processed), 0) FROM pg_stat_progress_copy p JOIN pg_stat_activity a USING (pid) WHERE a.application_name LIKE 'samspor%'"
}

# ---------------------------------------------------------------------------
# The test framework
# ---------------------------------------------------------------------------

_SP_PASS=0
_SP_FAIL=0
_SP_SKIP=0
_SP_IN_TEST=
SP_TEST=

# _sp_show VALUE: VALUE on one line, shortened, for a failure message.
_sp_show() {
	local v=${1//$'\n'/\\n}
	v=${v//$'\t'/\\t}
	if ((${#v} > 300)); then
		v="${v:0:300}...(${#1} chars)"
	fi
	printf "'%s'" "$v"
}

# fail REASON: end the current test as failed, for REASON. Only the first
# reason is kept: a test fails for one reason.
fail() {
	if [[ -n ${_SP_REASON_FILE:-} ]]; then
		[[ -s $_SP_REASON_FILE ]] || printf '%s\n' "$*" >"$_SP_REASON_FILE"
		exit 1
	fi
	# Outside run_tests: a plain failure of the file.
	t_fail "${SP_TEST:-${0##*/}}" "$*"
}

# t_start NAME: begin test NAME (outside run_tests: for hand-rolled tests,
# closed by t_ok or t_fail). Inside a test, only renames it.
t_start() {
	SP_TEST=$1
	if [[ -z $_SP_IN_TEST ]]; then
		T=$SP_WORK/$1
		mkdir -p "$T"
		export T
	fi
}

# t_ok NAME: outside a test, count NAME as passed and print "ok - NAME";
# inside a test, end it now as passed.
t_ok() {
	if [[ -n $_SP_IN_TEST ]]; then
		exit 0
	fi
	_SP_PASS=$((_SP_PASS + 1))
	printf 'ok - %s\n' "$1"
}

# t_fail NAME REASON: outside a test, count NAME as failed and print
# "not ok - NAME: REASON"; inside a test, end it as failed for REASON.
t_fail() {
	if [[ -n $_SP_IN_TEST ]]; then
		shift
		fail "$*"
	fi
	_SP_FAIL=$((_SP_FAIL + 1))
	printf 'not ok - %s: %s\n' "$1" "${*:2}"
}

# t_skip REASON: inside a test, end it as skipped, shown "ok - NAME # SKIP
# REASON" (TAP's form) but counted apart from the passes: a skip proves
# nothing, and contrib/test.sh fails on one it does not allow.  Outside a
# test, count the current test (t_start) as skipped.
t_skip() {
	if [[ -n ${_SP_REASON_FILE:-} ]]; then
		printf 'SKIP %s\n' "$*" >"$_SP_REASON_FILE"
		exit 0
	fi
	_SP_SKIP=$((_SP_SKIP + 1))
	printf 'ok - %s # SKIP %s\n' "${SP_TEST:-${0##*/}}" "$*"
}

# assert_eq ACTUAL EXPECTED MSG
assert_eq() {
	[[ $1 == "$2" ]] || fail "${3:-values differ}: expected $(_sp_show "$2"), got $(_sp_show "$1")"
}

# assert_ne ACTUAL UNEXPECTED MSG
assert_ne() {
	[[ $1 != "$2" ]] || fail "${3:-values equal}: got $(_sp_show "$1") twice"
}

# assert_contains HAYSTACK NEEDLE MSG
assert_contains() {
	[[ $1 == *"$2"* ]] || fail "${3:-missing text}: $(_sp_show "$2") not in $(_sp_show "$1")"
}

# assert_not_contains HAYSTACK NEEDLE MSG
assert_not_contains() {
	# an empty needle is in every text: such a check could never fail
	[[ -n $2 ]] || fail "${3:-unexpected text}: the text looked for is empty, so the check cannot fail"
	[[ $1 != *"$2"* ]] || fail "${3:-unexpected text}: $(_sp_show "$2") found in $(_sp_show "$1")"
}

# assert_match STRING REGEX MSG (bash extended regex)
assert_match() {
	[[ $1 =~ $2 ]] || fail "${3:-no match}: $(_sp_show "$1") does not match /$2/"
}

# assert_file FILE MSG / assert_no_file FILE MSG
assert_file() {
	[[ -e $1 ]] || fail "${2:-missing file}: $1 does not exist"
}
assert_no_file() {
	[[ ! -e $1 ]] || fail "${2:-unexpected file}: $1 exists"
}

# assert_exit EXPECTED CMD...: run CMD (stdin as given to assert_exit),
# capture stdout in $OUT and stderr in $ERR (also in $T/out and $T/err) and
# its exit status in $RC; fail unless RC is EXPECTED. A command that is not
# a shell function is given SP_CMD_TIMEOUT seconds (status 124 after that).
assert_exit() {
	local expected=$1 dir=${T:-$SP_WORK}
	shift
	RC=0
	if [[ $(type -t "$1") == function ]]; then
		"$@" >"$dir/out" 2>"$dir/err" || RC=$?
	else
		# --foreground: the command stays in the test's process group, so a
		# signal that stops the test file stops it too.
		timeout --foreground -k 5 "${SP_CMD_TIMEOUT:-120}" "$@" >"$dir/out" 2>"$dir/err" || RC=$?
	fi
	# shellcheck disable=SC2034 # for the test that called us
	OUT=$(cat "$dir/out") ERR=$(cat "$dir/err")
	if [[ $RC != "$expected" ]]; then
		local what=${*:1:4}
		((RC == 124)) && what="$what (timed out after ${SP_CMD_TIMEOUT:-120}s)"
		fail "'$what' exited $RC, expected $expected; stderr: $(_sp_show "$(head -n 5 "$dir/err")")"
	fi
}

# _sp_err_trap STATUS COMMAND LINE: the reason of a test that died on a
# failing command outside an assertion.
_sp_err_trap() {
	if [[ -n ${_SP_REASON_FILE:-} && ! -s $_SP_REASON_FILE ]]; then
		printf 'command failed with status %s at %s:%s: %s\n' \
			"$1" "${BASH_SOURCE[1]##*/}" "$3" "$2" >"$_SP_REASON_FILE"
	fi
}

# _sp_list_tests: names of the test_* functions, in the order the file
# defines them (then any defined elsewhere, by name).
_sp_list_tests() {
	local -A seen=()
	local name
	while read -r name; do
		if [[ -z ${seen[$name]:-} ]] && declare -F "$name" >/dev/null; then
			seen[$name]=1
			printf '%s\n' "$name"
		fi
	done < <(grep -oE '^[[:space:]]*(function[[:space:]]+)?test_[A-Za-z0-9_]+[[:space:]]*(\(\))?' "$0" 2>/dev/null |
		sed -E 's/^[[:space:]]*(function[[:space:]]+)?//; s/[[:space:]]*(\(\))?$//')
	while read -r _ _ name; do
		if [[ $name == test_* && -z ${seen[$name]:-} ]]; then
			printf '%s\n' "$name"
		fi
	done < <(declare -F)
}

# _sp_run_one NAME: run test NAME in a subshell with its own temp dir $T;
# its output goes to $T/log, shown (the end of it) only when it fails.
_sp_run_one() {
	local name=$1 rc=0 reason
	T=$SP_WORK/$name
	mkdir -p "$T"
	_SP_REASON_FILE=$T/.reason
	: >"$_SP_REASON_FILE"
	(
		_SP_IN_TEST=1
		SP_TEST=$name
		export T SP_TEST
		# The selection is this file's: test files a test runs see all.
		export -n SP_ONLY 2>/dev/null || true
		trap - EXIT HUP INT TERM
		_SP_TRAP_OWNER=
		set -eE -o pipefail
		trap '_sp_err_trap $? "$BASH_COMMAND" "$LINENO"' ERR
		cd "$T"
		"$name"
	) </dev/null >"$T/log" 2>&1 &
	_SP_CUR_TEST_PID=$!
	wait "$_SP_CUR_TEST_PID" || rc=$?
	_SP_CUR_TEST_PID=
	reason=$(cat "$_SP_REASON_FILE" 2>/dev/null || true)
	_SP_REASON_FILE=
	if ((rc == 0)); then
		if [[ $reason == SKIP* ]]; then
			_SP_SKIP=$((_SP_SKIP + 1))
			printf 'ok - %s # SKIP%s\n' "$name" "${reason#SKIP}"
		else
			t_ok "$name"
		fi
		return 0
	fi
	if [[ -z $reason ]]; then
		reason="exited with status $rc"
		local last
		last=$(grep -v '^[[:space:]]*$' "$T/log" | tail -n 1 || true)
		[[ -n $last ]] && reason="$reason: $last"
	fi
	t_fail "$name" "$reason"
	if [[ -s $T/log ]]; then
		echo "#   last lines of its output ($T/log):"
		tail -n 15 "$T/log" | sed 's/^/#     /'
	fi
}

# run_tests [NAME...]: run the named tests, or every test_* function of the
# file in order (filtered by SP_ONLY), each in its own subshell; print
# "ok - name" / "not ok - name: reason" and then "N passed, N failed,
# N skipped".
# Returns 1 when a test failed, so `run_tests` can end the file.
run_tests() {
	local -a names
	local name
	if (($# > 0)); then
		names=("$@")
	else
		mapfile -t names < <(_sp_list_tests)
	fi
	_sp_install_traps
	for name in "${names[@]}"; do
		if [[ -n ${SP_ONLY:-} && ! $name =~ $SP_ONLY ]]; then
			continue
		fi
		if ! declare -F "$name" >/dev/null; then
			t_fail "$name" "no such test function"
			continue
		fi
		_sp_run_one "$name"
	done
	t_summary
}

# t_summary: print "N passed, N failed, N skipped" for the file; returns 1
# on failure.
t_summary() {
	printf '%d passed, %d failed, %d skipped\n' "$_SP_PASS" "$_SP_FAIL" "$_SP_SKIP"
	((_SP_FAIL == 0))
}
