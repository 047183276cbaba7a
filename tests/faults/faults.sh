# shellcheck shell=bash
# tests/faults/faults.sh: what every fault test sources: tests/integration/
# lib.sh (the cluster, the framework, the counting helpers assert_loaded,
# copy_progress, read_pos and the daemon helpers) and the configuration the
# fault tests share.
#
# A fault test causes its fault on a real throwaway cluster, with the real
# binary, and then counts: warehouse.TABLE against the generated source
# files, rows lost = 0 and rows duplicated = 0 by key, and the checksum of
# the values equal (assert_loaded).
. "$(dirname "${BASH_SOURCE[0]}")/../integration/lib.sh"

# Rows of the large generated export a fault hits mid-load: large enough
# that the COPY lasts seconds on a busy 2-core machine.
SP_FAULT_ROWS=${SP_FAULT_ROWS:-200000}

# fconnector NAME MODE [CONNECTOR-EXTRA] [STREAM-EXTRA] [SOURCE-EXTRA]: a csv
# connector loading $T/in/NAME_*.csv into warehouse.NAME (append: every file
# once, in name order; otherwise the newest).
fconnector() {
	local name=$1 mode=$2 files=
	[[ $mode == append ]] && files='files = "all";'
	mkdir -p "$T/in"
	cat <<-EOF
		{ name = "$name"; plugin = "csv"; schedule = "0 0 1 1 *"; ${3:-}
		  source = { url = "$T/in/${name}_*.csv"; encoding = "windows-1252"; $files ${5:-} };
	EOF
	counted_streams "$name" "$mode" "${4:-}"
	echo "}"
}

# fconf DAEMON-OPTS CONNECTOR-BLOCK...: write $T/d.conf.
fconf() {
	local dopts=$1 first=1 c
	shift
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	{
		cat <<-EOF
			warehouse: { conninfo = "$SP_CONNINFO"; };
			pseudonym: { key_file = "$T/key"; };
			daemon: { admin_socket = "$T/admin.sock"; grace = "5s"; $dopts };
			connectors = (
		EOF
		for c in "$@"; do
			((first)) || echo ","
			first=0
			printf '%s\n' "$c"
		done
		echo ");"
	} >"$T/d.conf"
}

# fsync_ok EXPECTED [ARGS...]: samspor sync ARGS must exit EXPECTED.
fsync_ok() { assert_exit "$1" "$SAMSPOR" -c "$T/d.conf" sync "${@:2}"; }

reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
}

# wait_read FILE PERCENT PID [SECONDS]: until the sync PID (or its child)
# has read PERCENT% of FILE, the rows before streamed into its COPY (the
# file offset, not the COPY's row count, which starts again at every COPY
# statement); fails when PID ends before.
wait_read() {
	local f=$1 pct=$2 pid=$3 secs=${4:-120} want i pos=
	want=$(($(stat -c %s "$f") * pct / 100))
	for ((i = 0; i < secs * 20; i++)); do
		pos=$(read_pos "$pid" "$f")
		[[ -n $pos ]] && ((pos >= want)) && return 0
		kill -0 "$pid" 2>/dev/null || fail "the sync ended before it had read $pct% of ${f##*/} (at ${pos:-nothing})"
		sleep 0.05
	done
	fail "the sync did not read $pct% of ${f##*/} in ${secs}s (at ${pos:-nothing})"
}
