#!/usr/bin/env bash
# contrib/test.sh: build samspor from a clean tree and run every test.
#
#   contrib/test.sh
#
# On a fresh Debian 12, as root: installs every build and test dependency
# with apt-get, then
#   1. builds out of tree in build/ with -Werror and runs `make check`
#      (cmocka unit tests, then the integration suite on a throwaway
#      PostgreSQL);
#   2. starts the fault tier (tests/faults/run.sh) on the build of step 1,
#      in the background while steps 3 and 4 run, and counts it after them;
#   3. builds again in build-asan/ with ASan+UBSan and runs the unit tests;
#   4. builds each libFuzzer target of tests/fuzz/ and runs it briefly;
#   5. runs contrib/demo.sh as a user would;
# and ends with the count per tier (unit cases, the same under ASan,
# integration, faults, fuzz, demo) and one line, "N passed, N failed, N skipped",
# counting every unit test case, integration test and fuzz target, and every
# build step that failed.  A skipped test is not a pass: any skip not in
# SKIP_ALLOWED below fails the run.  Exits non-zero when anything failed.
#
# Environment:
#   SAMSPOR_NO_APT=1         do not run apt-get (as when not root)
#   SAMSPOR_FUZZ_SECONDS     run time of each fuzz target (default 20)
#   SAMSPOR_SKIP_ASAN=1      skip the sanitizer build
#   SAMSPOR_SKIP_FUZZ=1      skip the fuzz smoke
#   SAMSPOR_UNIT_TARGET      make target running only the unit tests
#                            (default check-unit)
#   SAMSPOR_CHECK_TIMEOUT    seconds make check may take (default 1200)
#   SAMSPOR_FAULTS_TIMEOUT   seconds the fault tier may take (default 900)
#   JOBS                     parallel make jobs (default 2)
#   SAMSPOR_ARTEFACTS        where tests keep files for people to look at
#                            (the report's screenshots; default
#                            build/artefacts)
# Logs of each step are kept in build-logs/.
set -euo pipefail
exec </dev/null

# --------------------------------------------------------------------------
# What to install, and the fuzz targets: edit these tables.
# --------------------------------------------------------------------------

# Debian 12 packages: build, unit tests, integration tests, fuzzing.
APT_PACKAGES=(
	# build
	build-essential autoconf automake libtool pkg-config git
	libuv1-dev libconfig-dev libpq-dev libcurl4-openssl-dev libxml2-dev
	libsodium-dev libjansson-dev zlib1g-dev libsystemd-dev libglpk-dev
	# unit tests
	libcmocka-dev
	# the Debian package (tests/integration/test_package.sh builds it)
	dpkg-dev debhelper
	# fuzzing and sanitizers: clang's fuzzer runtime comes only as a
	# recommendation of clang-14, so name it; llvm gives llvm-symbolizer
	clang libclang-rt-14-dev llvm
	# integration tests: PostgreSQL 15 server (/usr/lib/postgresql/15/bin),
	# SFTP and HTTPS on loopback, the CSV generator
	postgresql postgresql-contrib openssh-server openssh-client
	openssl curl ca-certificates python3 tzdata procps
	# the attacker of tests/integration/attack.py (scipy.optimize.milp)
	python3-scipy
	# the partners' report in a real browser (tests/integration/
	# browser_check.py: layout at 1280 and 1920 px, screenshots), with a
	# font to measure text in
	chromium fonts-dejavu-core
)

# The libFuzzer targets and their sources are in Makefile.am (make fuzz, in
# build-fuzz/ configured with --enable-fuzz): every tests/fuzz/fuzz_*.c must
# be one of them.
FUZZ_SANITIZE="-g -O1 -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

# Skips this machine may have, "FILE: TEST" as tests/integration/run.sh
# lists them ("# skipped: FILE: TEST: REASON").  Empty: on the Debian 12 CI
# machine, as root, with the packages above, every test can run, so a skip
# means something is missing and fails the run.
SKIP_ALLOWED=()

SANITIZE_FLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all"
UNIT_TARGET=${SAMSPOR_UNIT_TARGET:-check-unit}
JOBS=${JOBS:-2}
FUZZ_SECONDS=${SAMSPOR_FUZZ_SECONDS:-20}
MAKE_CHECK_TIMEOUT=${SAMSPOR_CHECK_TIMEOUT:-1200}
FAULTS_TIMEOUT=${SAMSPOR_FAULTS_TIMEOUT:-900}
UNIT_CHECK_TIMEOUT=300

# --------------------------------------------------------------------------

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
LOGS=$ROOT/build-logs
T0=$SECONDS

PASSED=0
FAILED=0
SKIPPED=0
FAILURES=()
# The count per tier, in the order the tiers ran.
TIERS=()
declare -A TIER_P=() TIER_F=() TIER_S=()
TIER=
# tier NAME: what is counted from now on belongs to tier NAME.
tier() {
	TIER=$1
	if [[ -z ${TIER_P[$1]+x} ]]; then
		TIERS+=("$1")
		TIER_P[$1]=0 TIER_F[$1]=0 TIER_S[$1]=0
	fi
}
# add P F S: count into the totals and the current tier.
add() {
	PASSED=$((PASSED + $1)) FAILED=$((FAILED + $2)) SKIPPED=$((SKIPPED + $3))
	if [[ -n $TIER ]]; then
		TIER_P[$TIER]=$((TIER_P[$TIER] + $1))
		TIER_F[$TIER]=$((TIER_F[$TIER] + $2))
		TIER_S[$TIER]=$((TIER_S[$TIER] + $3))
	fi
}

# The closing line is printed whatever happens, even when a step aborts the
# script or CI stops it.
finish() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if [[ -n $CHILD ]]; then
		# Stopped while a step ran: stop its process group too, and wait
		# for it to clean up (timeout -k bounds the wait).
		kill -TERM "$CHILD" 2>/dev/null
		wait "$CHILD" 2>/dev/null
	fi
	if [[ -n $TAILPID ]]; then
		wait "$TAILPID" 2>/dev/null
	fi
	if [[ -n ${FAULTS_PID:-} ]]; then
		# the fault tier running in the background: stopped with the rest
		kill -TERM "$FAULTS_PID" 2>/dev/null
		wait "$FAULTS_PID" 2>/dev/null
		FAILURES+=("the fault tier did not finish")
		FAILED=$((FAILED + 1))
	fi
	if ((rc != 0 && FAILED == 0)); then
		FAILED=1
		FAILURES+=("contrib/test.sh stopped with status $rc")
	fi
	echo
	echo "==== summary ($((SECONDS - T0))s)"
	local f
	for f in "${FAILURES[@]+"${FAILURES[@]}"}"; do
		echo "  failed: $f"
	done
	for f in "${TIERS[@]+"${TIERS[@]}"}"; do
		printf '  %-28s %5d passed, %d failed, %d skipped\n' "$f:" "${TIER_P[$f]}" "${TIER_F[$f]}" "${TIER_S[$f]}"
	done
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	((FAILED == 0)) && exit 0
	exit 1
}
trap finish EXIT
trap 'FAILURES+=("interrupted"); FAILED=$((FAILED + 1)); exit 130' INT
trap 'FAILURES+=("terminated"); FAILED=$((FAILED + 1)); exit 143' TERM

section() {
	echo
	echo "==== $* ($((SECONDS - T0))s)"
}

# fail_step WHAT: count a step that failed (a build, an install) as one
# failed test.
fail_step() {
	add 0 1 0
	FAILURES+=("$1")
	echo "FAILED: $1"
}

# quiet LOG CMD...: run CMD with its output in LOG; show the end of LOG if it
# fails. Returns CMD's status.
quiet() {
	local log=$1 rc=0
	shift
	"$@" >"$log" 2>&1 || rc=$?
	if ((rc != 0)); then
		echo "---- $* failed ($rc); last lines of $log:"
		tail -n 40 "$log"
		echo "----"
	fi
	return "$rc"
}

# limited SECS LOG SHOW CMD...: run CMD for at most SECS seconds with its
# output in LOG, also shown live when SHOW is 1. CMD runs under timeout(1),
# which puts it in a process group of its own; it runs in the background so
# that a signal to this script is handled at once and passed on to that
# group (see finish), and nothing is left running.
CHILD=
TAILPID=
FAULTS_PID=
limited() {
	local secs=$1 log=$2 show=$3 rc=0
	shift 3
	: >"$log"
	timeout -k 30 "$secs" "$@" >"$log" 2>&1 &
	CHILD=$!
	if [[ $show == 1 ]]; then
		tail -n +1 -f --pid="$CHILD" "$log" &
		TAILPID=$!
	fi
	wait "$CHILD" || rc=$?
	CHILD=
	if [[ -n $TAILPID ]]; then
		wait "$TAILPID" || true
		TAILPID=
	fi
	((rc == 124)) && echo "---- timed out after ${secs}s: $*"
	if ((rc != 0)) && [[ $show != 1 ]]; then
		echo "---- $* exited $rc; last lines of ${log#"$ROOT"/}:"
		tail -n 60 "$log"
		echo "----"
	fi
	return "$rc"
}

# --------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------

# count_log LOG RESULT: add up the tests of one automake test log. RESULT is
# the :test-result: of its .trs (PASS, FAIL, ERROR, SKIP, XFAIL, XPASS).
# Reads, in this order: our harness's "N passed, N failed[, N skipped]"
# (the last one); cmocka's "[  PASSED  ] N test(s).", "[  FAILED  ] N
# test(s)" and "[  SKIPPED ] N test(s)" (summed over groups); TAP
# "ok"/"not ok" lines (those with "# SKIP" as skips); else the result counts
# as one test.  A log that says nothing failed, of a test that failed (a
# crash, a sanitizer report after the summary), adds one failure.  Every
# skip named in the log ("# skipped: FILE: TEST: REASON") and not in
# SKIP_ALLOWED fails, and so does any skip the log does not name.
count_log() {
	local log=$1 result=$2 p=0 f=0 sk=0 found=
	local re_plain='^([0-9]+) passed, ([0-9]+) failed(, ([0-9]+) skipped)?$'
	local re_cm_pass='^\[  PASSED  \] ([0-9]+) test'
	local re_cm_fail='^\[  FAILED  \] ([0-9]+) test'
	local re_cm_skip='^\[  SKIPPED \] ([0-9]+) test'
	local line
	if [[ $result == SKIP ]]; then
		# A whole automake test skipped (exit 77): one skip, allowed only
		# when SKIP_ALLOWED names its log.
		add 0 0 1
		local a
		for a in "${SKIP_ALLOWED[@]+"${SKIP_ALLOWED[@]}"}"; do
			[[ ${log#"$ROOT"/} == "$a" ]] && return 0
		done
		fail_step "${log#"$ROOT"/}: skipped, not allowed on this machine"
		return 0
	fi
	if grep -qE "$re_plain" "$log" 2>/dev/null; then
		line=$(grep -E "$re_plain" "$log" | tail -n 1)
		[[ $line =~ $re_plain ]]
		p=${BASH_REMATCH[1]} f=${BASH_REMATCH[2]} sk=${BASH_REMATCH[4]:-0} found=plain
	elif grep -qE "$re_cm_pass|$re_cm_fail" "$log" 2>/dev/null; then
		while IFS= read -r line; do
			if [[ $line =~ $re_cm_pass ]]; then
				p=$((p + BASH_REMATCH[1]))
			elif [[ $line =~ $re_cm_fail ]]; then
				f=$((f + BASH_REMATCH[1]))
			elif [[ $line =~ $re_cm_skip ]]; then
				sk=$((sk + BASH_REMATCH[1]))
			fi
		done <"$log"
		found=cmocka
	elif grep -qE '^(not )?ok( |$)' "$log" 2>/dev/null; then
		sk=$(grep -cE '^ok( .*)? # SKIP' "$log" || true)
		p=$(($(grep -cE '^ok( |$)' "$log" || true) - sk))
		f=$(grep -cE '^not ok( |$)' "$log" || true)
		found=tap
	fi
	if [[ -z $found ]]; then
		case $result in
		PASS | XFAIL) p=1 ;;
		*) f=1 ;;
		esac
	elif [[ $result != PASS && $result != XFAIL ]] && ((f == 0)); then
		f=1
	fi
	add "$p" "$f" "$sk"
	if ((f > 0)); then
		FAILURES+=("${log#"$ROOT"/}: $f failed")
	fi
	printf '  %-50s %5d passed, %d failed, %d skipped\n' "${log#"$ROOT"/}" "$p" "$f" "$sk"
	check_skips "$log" "$sk"
}

# check_skips LOG N: fail every skip LOG names that SKIP_ALLOWED does not
# allow, and the skips (of N) it does not name at all.
check_skips() {
	local log=$1 n=$2 named=0 line what a ok
	while IFS= read -r line; do
		named=$((named + 1))
		what=${line#\# skipped: }
		ok=
		for a in "${SKIP_ALLOWED[@]+"${SKIP_ALLOWED[@]}"}"; do
			[[ $what == "$a:"* ]] && ok=1
		done
		if [[ -n $ok ]]; then
			echo "  skipped (allowed here): $what"
		else
			fail_step "skipped, not allowed on this machine: $what"
		fi
	done < <(grep -E '^# skipped: ' "$log" 2>/dev/null || true)
	if ((n > named)); then
		fail_step "${log#"$ROOT"/}: $((n - named)) skipped test(s) not allowed on this machine"
	fi
}

# count_tree DIR: count every automake test result (.trs) under DIR, and show
# the log of each that did not pass. Returns 1 when there was none.
count_tree() {
	local dir=$1 trs log result any=
	while IFS= read -r trs; do
		any=1
		log=${trs%.trs}.log
		result=$(sed -n 's/^:test-result: //p' "$trs" | head -n 1)
		result=${result:-ERROR}
		if [[ $result != PASS && $result != SKIP && $result != XFAIL ]]; then
			echo "---- $result: ${log#"$ROOT"/} (last 60 lines)"
			tail -n 60 "$log" 2>/dev/null || true
			echo "----"
		fi
		case $log in
		build-asan/*) tier "unit cases under ASan" ;;
		*/integration/*) tier integration ;;
		*) tier "unit cases" ;;
		esac
		count_log "$log" "$result"
	done < <(find "$dir" -name '*.trs' ! -name 'test-suite.trs' | sort)
	[[ -n $any ]]
}

# count_output FILE: count from make's own output when no .trs was written
# (a target that runs the tests without automake's harness).
count_output() {
	count_log "$1" "${2:-PASS}"
}

# --------------------------------------------------------------------------
# 1. Dependencies
# --------------------------------------------------------------------------

section "dependencies"
mkdir -p "$LOGS"
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
	for pkg in "${APT_PACKAGES[@]}"; do
		if [[ $(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null) != "install ok installed" ]]; then
			missing+=("$pkg")
		fi
	done
fi
if ((${#missing[@]} == 0)); then
	echo "all ${#APT_PACKAGES[@]} packages installed"
elif [[ $(id -u) == 0 && ${SAMSPOR_NO_APT:-} != 1 ]]; then
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# A fresh machine may still be running its own apt jobs: wait for the lock.
	apt_opts=(-q -o DPkg::Lock::Timeout=600)
	if quiet "$LOGS/apt-update.log" apt-get "${apt_opts[@]}" update &&
		quiet "$LOGS/apt-install.log" apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}"; then
		echo "installed ${#missing[@]} packages"
	else
		fail_step "apt-get install (see build-logs/apt-*.log)"
	fi
else
	echo "WARNING: missing Debian packages: ${missing[*]}"
	echo "  install them with: apt-get install --no-install-recommends ${missing[*]}"
	echo "  (not installing: $([[ $(id -u) != 0 ]] && echo "not root" || echo "SAMSPOR_NO_APT=1"))"
fi

echo "tools: $(gcc -dumpfullversion 2>/dev/null || echo 'no gcc'); clang $(clang -dumpversion 2>/dev/null || echo 'none');" \
	"PostgreSQL $(ls /usr/lib/postgresql 2>/dev/null | tr '\n' ' ' || true)($(id -un))"

# --------------------------------------------------------------------------
# 2. Build in build/ and make check
# --------------------------------------------------------------------------

section "autogen"
built=
if [[ -f $ROOT/config.status ]]; then
	fail_step "the source tree is configured in place; run 'make distclean' in $ROOT first"
elif quiet "$LOGS/autogen.log" ./autogen.sh; then
	echo "ok"

	section "build (build/, -Werror)"
	rm -rf build build-asan build-fuzz
	mkdir build
	if (cd build && quiet "$LOGS/configure.log" ../configure --enable-werror) &&
		limited 1800 "$LOGS/make.log" 1 make -C build -j"$JOBS"; then
		built=1
	else
		fail_step "build in build/ (configure or make; see build-logs/)"
	fi

	if [[ -n $built ]]; then
		section "make check (unit and integration tests)"
		rc=0
		# The test programs build in parallel; the tests then run one at a
		# time (each integration file starts servers and clusters of its
		# own, and test_transport's SFTP account is the machine's).
		limited 1800 "$LOGS/make-check-build.log" 1 make -C build -j"$JOBS" check TESTS= || rc=$?
		((rc == 0)) &&
			limited "$MAKE_CHECK_TIMEOUT" "$LOGS/make-check.log" 1 make -C build -j1 check || rc=$?
		echo
		echo "counts:"
		before=$FAILED
		if ! count_tree build; then
			tier "unit and integration"
			count_output "$LOGS/make-check.log" "$( ((rc == 0)) && echo PASS || echo FAIL)"
		fi
		if [[ -z $(find build -name '*.trs' -path '*integration*' -print -quit) ]]; then
			# The suite ran outside automake's harness (check-local): its
			# closing line is in make's output, after its summary marker.
			if grep -q '^== integration summary' "$LOGS/make-check.log"; then
				sed -n '/^== integration summary/,$p' "$LOGS/make-check.log" >"$LOGS/integration.log"
				tier integration
				count_log "$LOGS/integration.log" "$( ((rc == 0)) && echo PASS || echo FAIL)"
			fi
		fi
		if ((rc != 0 && FAILED == before)); then
			fail_step "make check exited $rc"
		fi
	fi

	# ----------------------------------------------------------------------
	# The fault tier, in the background: its tests mostly wait (on
	# PostgreSQL, on the daemon), so it runs beside the sanitizer build and
	# the fuzz targets rather than after them; counted before the demo.
	# ----------------------------------------------------------------------

	if [[ -n $built ]]; then
		section "fault tier (tests/faults/, in the background; counted below)"
		: >"$LOGS/faults.log"
		BUILD_DIR=$ROOT/build SRC_DIR=$ROOT SAMSPOR=$ROOT/build/samspor \
			SAMSPOR_PLUGIN_DIR=$ROOT/build/plugins/.libs \
			SAMSPOR_TEST_PLUGIN_DIR=$ROOT/build/tests/plugins/.libs \
			timeout -k 30 "$FAULTS_TIMEOUT" tests/faults/run.sh >"$LOGS/faults.log" 2>&1 &
		FAULTS_PID=$!
		echo "started (build-logs/faults.log)"
	fi

	# ----------------------------------------------------------------------
	# 3. ASan + UBSan build, unit tests only
	# ----------------------------------------------------------------------

	if [[ ${SAMSPOR_SKIP_ASAN:-} != 1 ]]; then
		section "sanitizer build (build-asan/, ASan+UBSan) and unit tests"
		mkdir -p build-asan
		if (cd build-asan && quiet "$LOGS/configure-asan.log" ../configure \
			CFLAGS="$SANITIZE_FLAGS" LDFLAGS="$SANITIZE_FLAGS") &&
			ASAN_OPTIONS=detect_leaks=0 limited 1800 "$LOGS/make-asan.log" 0 make -C build-asan -j"$JOBS"; then
			export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
			export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
			rc=0
			if make -C build-asan -n "$UNIT_TARGET" >/dev/null 2>&1; then
				limited "$UNIT_CHECK_TIMEOUT" "$LOGS/check-unit-asan.log" 1 \
					make -C build-asan -j"$JOBS" "$UNIT_TARGET" || rc=$?
			else
				echo "(no '$UNIT_TARGET' target: make check with the integration suite skipped)"
				SAMSPOR_SKIP_INTEGRATION=1 limited "$UNIT_CHECK_TIMEOUT" "$LOGS/check-unit-asan.log" 1 \
					make -C build-asan -j"$JOBS" check || rc=$?
			fi
			echo
			echo "counts:"
			before=$FAILED
			if ! count_tree build-asan; then
				tier "unit cases under ASan"
				count_output "$LOGS/check-unit-asan.log" "$( ((rc == 0)) && echo PASS || echo FAIL)"
			fi
			if ((rc != 0 && FAILED == before)); then
				fail_step "unit tests under ASan+UBSan exited $rc"
			fi
		else
			fail_step "sanitizer build in build-asan/ (see build-logs/)"
		fi
	fi
else
	fail_step "autogen.sh (see build-logs/autogen.log)"
fi

# --------------------------------------------------------------------------
# 4. libFuzzer smoke
# --------------------------------------------------------------------------

# fuzz_one NAME: run build-fuzz/tests/fuzz/NAME for FUZZ_SECONDS; counts one
# test.
fuzz_one() {
	local name=$1 dir=build-fuzz/tests/fuzz rc=0
	mkdir -p "$dir/corpus-$name"
	if [[ ! -x $dir/$name ]]; then
		fail_step "fuzz target $name was not built: is it in FUZZ_TARGETS of Makefile.am?"
		return 0
	fi
	local -a args=(-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048
		-print_final_stats=1 -artifact_prefix="$dir/")
	[[ -f tests/fuzz/$name.dict ]] && args+=(-dict="tests/fuzz/$name.dict")
	local -a corpora=("$dir/corpus-$name")
	[[ -d tests/fuzz/corpus/$name ]] && corpora+=("tests/fuzz/corpus/$name")
	echo "-- $name: run ${FUZZ_SECONDS}s"
	limited $((FUZZ_SECONDS + 120)) "$LOGS/$name-run.log" 0 \
		"$dir/$name" "${args[@]}" "${corpora[@]}" || rc=$?
	if ((rc == 0)); then
		add 1 0 0
		echo "ok - $name: $(grep -oE 'stat::number_of_executed_units: [0-9]+' "$LOGS/$name-run.log" |
			grep -oE '[0-9]+$' || echo '?') runs"
	else
		fail_step "fuzz target $name (exit $rc; crash input in $dir/)"
	fi
}

if [[ ${SAMSPOR_SKIP_FUZZ:-} != 1 ]]; then
	section "libFuzzer smoke (${FUZZ_SECONDS}s per target)"
	tier fuzz
	export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
	for s in /usr/lib/llvm-*/bin/llvm-symbolizer; do
		[[ -x $s ]] && export ASAN_SYMBOLIZER_PATH=$s
	done
	mkdir -p build-fuzz
	if (cd build-fuzz && quiet "$LOGS/configure-fuzz.log" ../configure CC=clang --enable-fuzz \
		--disable-tests CFLAGS="$FUZZ_SANITIZE" LDFLAGS="-fsanitize=address,undefined") &&
		limited 1800 "$LOGS/make-fuzz.log" 1 make -C build-fuzz -j"$JOBS" fuzz; then
		for f in tests/fuzz/fuzz_*.c; do
			[[ -e $f ]] || continue
			fuzz_one "$(basename "$f" .c)"
		done
	else
		fail_step "the fuzz targets do not build (see build-logs/configure-fuzz.log, make-fuzz.log)"
	fi
fi

if [[ -n $FAULTS_PID ]]; then
	section "fault tier (tests/faults/): waiting for it"
	rc=0
	wait "$FAULTS_PID" || rc=$?
	FAULTS_PID=
	((rc == 124)) && echo "---- the fault tier timed out after ${FAULTS_TIMEOUT}s"
	grep -E '^(not ok|# test_.*: [0-9]+ passed|# skipped:|#   failed:)' "$LOGS/faults.log" || true
	if ((rc != 0)); then
		echo "---- tests/faults/run.sh exited $rc; last lines of build-logs/faults.log:"
		tail -n 60 "$LOGS/faults.log"
		echo "----"
	fi
	echo
	echo "counts:"
	tier faults
	before=$FAILED
	count_log "$LOGS/faults.log" "$( ((rc == 0)) && echo PASS || echo FAIL)"
	if ((rc != 0 && FAILED == before)); then
		fail_step "the fault tier exited $rc"
	fi
fi

# The README's first command, exactly as a new user runs it: it builds its
# own tree (build-demo/), so a build path the tests do not take is covered
# too.  tests/integration/test_demo.sh checks the demo's results in detail
# with the build under test; this checks that the command itself works.
if [[ ${SAMSPOR_SKIP_DEMO:-} != 1 && -n ${built:-} ]]; then
	section "demo: contrib/demo.sh and contrib/demo.sh --stop"
	tier demo
	demo_dir=$(mktemp -d /tmp/sp-ci-demo.XXXXXX)
	chmod 755 "$demo_dir"
	demo_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	rc=0
	SAMSPOR_DEMO_DIR=$demo_dir/d SAMSPOR_DEMO_PORT=$demo_port \
		limited 900 "$LOGS/demo.log" 0 contrib/demo.sh || rc=$?
	if ((rc == 0)) && grep -q 'the partner indicators' "$LOGS/demo.log" &&
		grep -q 'connect: psql' "$LOGS/demo.log" && [[ -s $demo_dir/d/report.html ]]; then
		SAMSPOR_DEMO_DIR=$demo_dir/d SAMSPOR_DEMO_PORT=$demo_port contrib/demo.sh --stop >>"$LOGS/demo.log" 2>&1 || rc=$?
		if ((rc == 0)) && [[ ! -e $demo_dir/d ]]; then
			add 1 0 0
			echo "ok - contrib/demo.sh ($(grep -c . "$LOGS/demo.log") lines of output), --stop removed it"
		else
			fail_step "contrib/demo.sh --stop (see build-logs/demo.log)"
		fi
	else
		tail -n 30 "$LOGS/demo.log"
		fail_step "contrib/demo.sh exited $rc or printed no indicators (see build-logs/demo.log)"
		SAMSPOR_DEMO_DIR=$demo_dir/d SAMSPOR_DEMO_PORT=$demo_port contrib/demo.sh --stop >/dev/null 2>&1 || true
	fi
	rm -rf "$demo_dir"
fi

# finish (the EXIT trap) prints the summary and the closing line.
