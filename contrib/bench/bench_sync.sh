#!/usr/bin/env bash
# contrib/bench/bench_sync.sh — samspor sync against psql \copy, one command.
#
#   contrib/bench/bench_sync.sh [ROWS...]        (default: 1000000 5000000)
#
# Generates an Ungedatabase-style export (semicolon CSV in Windows-1252,
# header cpr;navn;adresse;postnr;status;statusdato;institution;ydelse_kr,
# synthetic CPR numbers, names and addresses, status and institution as
# realistic Danish phrases, dd-mm-yyyy dates, decimal commas; see
# variants.py), starts a throwaway PostgreSQL, and times:
#   (a)  psql \copy of the raw file into an all-text table (the reference)
#   (b)  samspor sync, full_refresh, into a typed, pseudonymised table
#   (b2) (b) with the key (person, status_date, status), into an empty table
#   (r)  psql \copy of (b2)'s typed rows into an empty table with the same
#        primary key: the server's own floor for a keyed load
#   (c)  samspor sync, incremental_dedup, into an empty table with that key
#   (d)  (c) again with the same rows in another order (a re-export;
#        checked: the table is unchanged)
#   (e)  (c) again with 1% of the rows changed, 0.5% new and 0.5% vanished,
#        shuffled (checked: the table holds the new rows)
#   (e2) (b2) again with the file of (e) (checked: the vanished rows are gone)
# Before each run, VACUUM (ANALYZE) and CHECKPOINT, so that what the run
# before left for autovacuum does not run beside it on the other core.
# Each size runs the sequence three times (interleaved) and prints the
# median seconds, rows/s, the ratio to (a) ((r) and (b2) also to each
# other) and samspor's peak RSS (largest of the three).
#
# BENCH_REPS=N changes the three repetitions (one run at 5M rows: BENCH_REPS=1).
# Uses the build in $BUILD_DIR (default build/, else the source tree).
# Wall-clock figures vary with the machine; the ratios are the point.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../tests/integration/lib.sh"

ROWS=("$@")
[[ ${#ROWS[@]} -gt 0 ]] || ROWS=(1000000 5000000)
REPS=${BENCH_REPS:-3}

pg_start
W=$SP_WORK/bench
mkdir -p "$W/in"
"$SAMSPOR" keygen "$W/key" 2>/dev/null

# Wall seconds, peak RSS (KiB) and exit status of a command.
measure() { python3 "$HERE/measure.py" "$@"; }
PSQL=("$(_sp_pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PGDATABASE")

write_conf() { # CONF MODE TABLE FILE KEY
	cat >"$W/$1.conf" <<-EOF2
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$W/key"; };
		log: { level = "warn"; };
		connectors = ( { name = "$3"; plugin = "csv";
		  source = { url = "$W/in/$4"; encoding = "windows-1252"; delimiter = ";"; };
		  streams = ( { table = "$3"; mode = "$2"; $5
		    max_reject_ratio = 0.01;
		    columns = (
		      { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
		      { name = "birth_year"; from = "cpr"; rule = "cpr_birth_year"; },
		      { name = "gender"; from = "cpr"; rule = "cpr_gender"; },
		      { name = "status"; from = "status"; type = "text"; },
		      { name = "status_date"; from = "statusdato"; type = "date"; format = "%d-%m-%Y"; },
		      { name = "institution"; from = "institution"; type = "text"; },
		      { name = "benefit_dkk"; from = "ydelse_kr"; type = "numeric"; decimal_comma = true; }
		    ); } ); } );
	EOF2
}

KEY='key = ["person", "status_date", "status"];'
write_conf b full_refresh bench_full danish.csv ""
write_conf b2 full_refresh bench_keyed danish.csv "$KEY"
write_conf e2 full_refresh bench_keyed changed.csv "$KEY"
write_conf c incremental_dedup bench_dedup danish.csv "$KEY"
write_conf d incremental_dedup bench_dedup reexport.csv "$KEY"
write_conf e incremental_dedup bench_dedup changed.csv "$KEY"

# md5 of the rows' md5s: string_agg of 5M whole rows would pass 1 GB.
table_md5() { psql_q "SELECT md5(string_agg(md5(t::text), ',' ORDER BY md5(t::text))) FROM (SELECT person, birth_year, gender, status, status_date, institution, benefit_dkk FROM warehouse.$1) t"; }
count() { psql_q "SELECT count(*) FROM warehouse.$1"; }
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
maxof() { printf '%s\n' "$@" | sort -n | tail -1; }

declare -A T R
run() { # NAME CMD...: appends seconds to T[NAME], keeps the largest RSS
	local name=$1 t rss rc
	shift
	# The night before has settled: what the last run left for autovacuum
	# (a million inserted rows are a vacuum and an analyze) is done now, not
	# on the other core during this run.
	psql_q "VACUUM (ANALYZE)" >/dev/null
	psql_q "CHECKPOINT" >/dev/null
	read -r t rss rc < <(measure --stderr "$W/$name.err" "$@")
	[[ $rc == 0 ]] || { echo "($name) failed ($rc):" >&2; cat "$W/$name.err" >&2; exit 1; }
	T[$name]="${T[$name]:-} $t"
	R[$name]=$(maxof "${R[$name]:-0}" "$rss")
}
sync() { run "$1" nice -n 0 "$SAMSPOR" -c "$W/$1.conf" sync; }

printf '%-10s %-44s %9s %11s %8s %9s\n' rows run seconds rows/s ratio "peak RSS"
for n in "${ROWS[@]}"; do
	python3 "$SP_TESTDIR/gen_csv.py" --rows "$n" --seed 42 --encoding windows-1252 --out "$W/in/unge.csv"
	python3 "$HERE/variants.py" "$W/in/unge.csv" "$W/in"
	rm -f "$W/in/unge.csv"
	nchanged=$((n - n / 200 + n / 200)) # e: n - vanished + new
	psql_q "DROP TABLE IF EXISTS raw, r_keyed; CREATE TABLE raw (cpr text, navn text, adresse text, postnr text, status text, statusdato text, institution text, ydelse_kr text)" >/dev/null
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DELETE FROM samspor.sync_state" >/dev/null 2>&1 || true
	T=() R=()
	for ((rep = 1; rep <= REPS; rep++)); do
		psql_q "TRUNCATE raw" >/dev/null
		run a "${PSQL[@]}" -c "\\copy raw FROM '$W/in/danish.csv' WITH (FORMAT csv, HEADER true, DELIMITER ';', ENCODING 'WIN1252')"
		sync b
		psql_q "TRUNCATE warehouse.bench_keyed" >/dev/null 2>&1 || true
		sync b2
		if [[ $rep == 1 ]]; then
			cols=$(psql_q "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'warehouse' AND table_name = 'bench_keyed' AND column_name <> '_loaded_at'")
			"${PSQL[@]}" -c "\\copy (SELECT $cols FROM warehouse.bench_keyed) TO '$W/typed.copy'"
			psql_q "CREATE TABLE r_keyed (LIKE warehouse.bench_keyed INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)" >/dev/null
		fi
		psql_q "TRUNCATE r_keyed" >/dev/null
		run r "${PSQL[@]}" -c "\\copy r_keyed ($cols) FROM '$W/typed.copy'"
		psql_q "TRUNCATE warehouse.bench_dedup" >/dev/null 2>&1 || true
		sync c
		before=$(table_md5 bench_dedup)
		sync d
		[[ $(table_md5 bench_dedup) == "$before" ]] || { echo "(d) changed the table" >&2; exit 1; }
		sync e
		[[ $(count bench_dedup) == $((n + n / 200)) && $(table_md5 bench_dedup) != "$before" ]] ||
			{ echo "(e) did not load the changes: $(count bench_dedup) rows" >&2; cat "$W/e.err" >&2; exit 1; }
		sync e2
		[[ $(count bench_keyed) == "$nchanged" ]] || { echo "(e2): $(count bench_keyed) rows, not $nchanged" >&2; exit 1; }
	done
	# shellcheck disable=SC2086
	ta=$(median ${T[a]})
	row() {
		# shellcheck disable=SC2086
		local t
		t=$(median ${T[$1]})
		awk -v n="$n" -v t="$t" -v ta="$ta" -v r="$3" -v name="$2" -v x="${4:-}" \
			'BEGIN { printf "%-10d %-44s %9.2f %11.0f %7.2fx %9s%s\n", n, name, t, n / t, t / ta, r, x }'
	}
	mib() { echo "$((${R[$1]} / 1024)) MiB"; }
	tr_=$(median ${T[r]})
	tb2=$(median ${T[b2]})
	row a "(a) psql \\copy, raw, all text" "-"
	row b "(b) sync full_refresh, typed, pseudonymised" "$(mib b)"
	row b2 "(b2) (b) keyed (person, status_date, status)" "$(mib b2)" "$(awk -v a="$tb2" -v b="$tr_" 'BEGIN { printf "   %.2fx (r)", a / b }')"
	row r "(r) psql \\copy of (b2)'s typed rows, keyed" "-"
	row c "(c) sync incremental_dedup, empty table" "$(mib c)"
	row d "(d) (c) again, re-export (rows unchanged)" "$(mib d)"
	row e "(e) (c) again, 1%/0.5%/0.5% changed/new/gone" "$(mib e)"
	row e2 "(e2) (b2) again with the file of (e)" "$(mib e2)"
	rm -f "$W"/in/*.csv "$W/typed.copy"
done
