#!/usr/bin/env bash
# Files that change while they are read (issue 14, items 2-4): a source
# truncated under the reader loads nothing and exits 75, so that neither
# rows are lost nor, in append mode, loaded twice by the next run; a file
# caught mid-write (no final line break, or younger than min_age) and an
# export just truncated to zero bytes are temporary (75), not loaded and
# not permanent failures.  Data is generated synthetic.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

GEN=$SP_TESTDIR/gen_csv.py
pg_start

# conf MODE [EXTRA_SOURCE_OPTS]: $T/s.conf loading $T/in/unge_*.csv into
# warehouse.youth_status.
conf() {
	local mode=$1 extra=${2:-}
	mkdir -p "$T/in"
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = ( { name = "unge"; plugin = "csv";
		  source = { url = "$T/in/unge_*.csv"; encoding = "windows-1252"; files = "all"; $extra };
		  streams = ( { table = "youth_status"; mode = "$mode";
		    columns = (
		      { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
		      { name = "status"; from = "status"; type = "text"; rule = "keep"; },
		      { name = "status_date"; from = "statusdato"; type = "date"; format = "%d-%m-%Y"; },
		      { name = "benefit_dkk"; from = "ydelse_kr"; type = "numeric"; decimal_comma = true; }
		    ); } ); } );
	EOF
}

sync() { assert_exit "$1" "$SAMSPOR" -c "$T/s.conf" sync "${@:2}"; }

reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
	rm -rf "$T/in"
}

# Rows in the table (0 when it does not exist).
rows() {
	if [[ $(psql_q "SELECT to_regclass('warehouse.youth_status') IS NOT NULL") == t ]]; then
		psql_q "SELECT count(*) FROM warehouse.youth_status"
	else
		echo 0
	fi
}

# The count and the benefit sum of the data rows of a file, as
# "COUNT SUM" (the sum in øre, exact), and the same of the table.
file_sums() {
	python3 - "$1" <<-'EOF'
		import csv, sys
		from decimal import Decimal
		n, s = 0, Decimal(0)
		with open(sys.argv[1], encoding="windows-1252", newline="") as f:
		    r = csv.reader(f, delimiter=";")
		    next(r)
		    for row in r:
		        v = row[7]
		        n += 1
		        if v:
		            s += Decimal(v.replace(".", "").replace(",", "."))
		print(n, int((s * 100).to_integral_value()))
	EOF
}
table_sums() {
	psql_q "SELECT count(*) || ' ' || coalesce(sum(round(benefit_dkk * 100)), 0)::bigint FROM warehouse.youth_status"
}

# Truncating a 2M-row file at a row boundary while it is read.  The timing
# is made deterministic by watching the reader: once its file offset
# (/proc/PID/fdinfo) is past 4 MiB, the file is cut at the first row
# boundary after 90% of its size, far ahead of the reader.  Before the fix
# this loaded the rows up to the cut and exited 0 (rows lost), and the
# next append run loaded the shortened file again (rows duplicated).
test_truncated_while_read_loads_nothing() {
	reset_db
	conf append
	python3 "$GEN" --rows 2000000 --seed 21 --out "$T/in/unge_1.csv"
	local f=$T/in/unge_1.csv size cut pos="" i pid rc=0
	size=$(stat -c %s "$f")
	cut=$(python3 -c '
import sys
f = open(sys.argv[1], "rb"); f.seek(int(sys.argv[2]) * 9 // 10)
f.readline(); print(f.tell())' "$f" "$size")
	"$SAMSPOR" -c "$T/s.conf" sync >"$T/out" 2>"$T/err" &
	pid=$!
	for ((i = 0; i < 12000; i++)); do
		pos=$(read_pos "$pid" "$f")
		[[ -n $pos ]] && ((pos > 4194304)) && break
		sleep 0.01
	done
	[[ -n $pos ]] || fail "the reader never opened the file"
	truncate -s "$cut" "$f"
	((pos < cut)) || fail "the reader was at $pos, past the cut at $cut, before it could be made"
	wait "$pid" || rc=$?
	assert_eq "$rc" 75 "a file truncated while read exits 75 (here: $(grep -o 'read [0-9]*, loaded [0-9]*' "$T/out" "$T/err" | head -n 1), $(file_sums "$f" | cut -d' ' -f1) rows in the file)"
	assert_contains "$(cat "$T/err")" "size changed while it was read" "the reason"
	assert_eq "$(rows)" 0 "nothing of it loaded"

	# the file, now stable, loads whole: lost 0, duplicated 0
	local want
	want=$(file_sums "$f")
	sync 0
	assert_eq "$(table_sums)" "$want" "count and checksum equal the file's"
	sync 0
	assert_eq "$(table_sums)" "$want" "loaded once in append mode"
}

# A file replaced (renamed over) while read: the same.
test_replaced_while_read_loads_nothing() {
	reset_db
	conf append
	python3 "$GEN" --rows 600000 --seed 22 --out "$T/in/unge_1.csv"
	python3 "$GEN" --rows 1000 --seed 23 --out "$T/new.csv"
	local f=$T/in/unge_1.csv pos="" i pid rc=0
	"$SAMSPOR" -c "$T/s.conf" sync >"$T/out" 2>"$T/err" &
	pid=$!
	for ((i = 0; i < 12000; i++)); do
		pos=$(read_pos "$pid" "$f")
		[[ -n $pos ]] && ((pos > 1048576)) && break
		sleep 0.01
	done
	[[ -n $pos ]] || fail "the reader never opened the file"
	mv "$T/new.csv" "$f"
	wait "$pid" || rc=$?
	assert_eq "$rc" 75 "a file replaced while read exits 75"
	assert_contains "$(cat "$T/err")" "replaced" "the reason"
	assert_eq "$(rows)" 0 "nothing of it loaded"
	sync 0
	assert_eq "$(table_sums)" "$(file_sums "$f")" "the new file, once"
}

# A last line cut inside its last field ("4994," of "4994,50") is not
# loaded as 4994: the run is temporary, and once the line is complete it
# loads once, with its full value.
test_cut_last_line_is_temporary() {
	reset_db
	conf append
	python3 "$GEN" --rows 20 --seed 24 --out "$T/in/unge_1.csv"
	local f=$T/in/unge_1.csv whole
	whole=$(file_sums "$f")
	printf '181102-4818;Testperson;Testvej 1;2300;ledig;01-02-2024;Testinst;4994,' >>"$f"
	sync 75
	assert_contains "$ERR" "no line break" "the reason"
	assert_not_contains "$ERR" "4994" "no value in the message"
	assert_eq "$(rows)" 0 "nothing loaded"
	printf '50\r\n' >>"$f"
	sync 0
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status WHERE benefit_dkk = 4994.50')" 1 "the finished row, once"
	assert_eq "$(psql_q 'SELECT count(*) FROM warehouse.youth_status WHERE benefit_dkk = 4994')" 0 "never the cut value"
	assert_eq "$(rows)" 21 "every row once"
	# final_newline = "optional": a source whose files end without one
	reset_db
	conf append 'final_newline = "optional";'
	python3 "$GEN" --rows 5 --seed 25 --newline lf --out "$T/in/unge_1.csv"
	truncate -s -1 "$T/in/unge_1.csv"
	sync 0
	assert_eq "$(rows)" 5 "the last line is a record"
}

# min_age: a file modified more recently is not read yet (75); once old
# enough it loads.
test_min_age() {
	reset_db
	conf append 'min_age = "2m";'
	python3 "$GEN" --rows 10 --seed 26 --out "$T/in/unge_1.csv"
	sync 75
	assert_contains "$ERR" "min_age" "the reason"
	assert_eq "$(rows)" 0 "nothing loaded"
	touch -d '-3 minutes' "$T/in/unge_1.csv"
	sync 0
	assert_eq "$(rows)" 10 "loaded once settled"
}

# An export truncated to zero bytes (a re-export starting) is temporary
# while younger than the settle time (5 minutes without min_age), then
# an error (exit 1) as before.
test_empty_file_is_temporary_while_fresh() {
	reset_db
	conf full_refresh
	: >"$T/in/unge_1.csv"
	sync 75
	assert_contains "$ERR" "empty" "the reason"
	touch -d '-6 minutes' "$T/in/unge_1.csv"
	sync 1
	assert_contains "$ERR" "no header" "an old empty file is an error"
	conf full_refresh 'min_age = "10m";'
	sync 75
}

run_tests
