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

# wait_copy ROWS PID [SECONDS]: until a samspor COPY has sent ROWS rows;
# fails when PID (the sync) ends before.
wait_copy() {
	local want=$1 pid=$2 secs=${3:-120} i n=0
	for ((i = 0; i < secs * 20; i++)); do
		n=$(copy_progress)
		((n >= want)) && return 0
		kill -0 "$pid" 2>/dev/null || fail "the sync ended before its COPY reached $want rows (at $n)"
		sleep 0.05
	done
	fail "the COPY did not reach $want rows in ${secs}s (at $n)"
}
