#!/usr/bin/env bash
# contrib/bench/bench_sync.sh — samspor sync against psql \copy, one command.
#
#   contrib/bench/bench_sync.sh [ROWS...]        (default: 1000000 5000000)
#
# Generates an Ungedatabase-style export (semicolon CSV in Windows-1252,
# header cpr;navn;adresse;postnr;status;statusdato;institution;ydelse_kr,
# synthetic CPR numbers, names and addresses, dd-mm-yyyy dates, decimal
# commas), starts a throwaway PostgreSQL, and times in one run:
#   (a) psql \copy of the raw file into an all-text table (the reference)
#   (b) samspor sync, full_refresh, into a typed, pseudonymised table
#   (c) samspor sync, incremental_dedup, into an empty table keyed on
#       (person, status_date, status)
#   (d) (c) again with the same file (nothing changes; checked)
# and prints rows/s, each ratio to (a), and samspor's peak RSS.
#
# Uses the build in $BUILD_DIR (default build/, else the source tree).
# Wall-clock figures vary with the machine; the ratios are the point.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../../tests/integration/lib.sh"

ROWS=("$@")
[[ ${#ROWS[@]} -gt 0 ]] || ROWS=(1000000 5000000)

pg_start
W=$SP_WORK/bench
mkdir -p "$W/in"
"$SAMSPOR" keygen "$W/key" 2>/dev/null

# Wall seconds, peak RSS (KiB) and exit status of a command.
measure() { python3 "$HERE/measure.py" "$@"; }

write_conf() { # MODE TABLE KEY
	cat >"$W/$2.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$W/key"; };
		log: { level = "warn"; };
		connectors = ( { name = "$2"; plugin = "csv";
		  source = { url = "$W/in/unge.csv"; encoding = "windows-1252"; delimiter = ";"; };
		  streams = ( { table = "$2"; mode = "$1"; $3
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
	EOF
}

write_conf full_refresh bench_full ""
write_conf incremental_dedup bench_dedup 'key = ["person", "status_date", "status"];'

printf '%-10s %-34s %10s %12s %8s %10s\n' rows run seconds rows/s ratio "peak RSS"
for n in "${ROWS[@]}"; do
	python3 "$SP_TESTDIR/gen_csv.py" --rows "$n" --seed 42 --encoding windows-1252 --out "$W/in/unge.csv"
	psql_q "DROP TABLE IF EXISTS raw; CREATE TABLE raw (cpr text, navn text, adresse text, postnr text, status text, statusdato text, institution text, ydelse_kr text)" >/dev/null
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE" >/dev/null 2>&1 || true
	psql_q "CHECKPOINT" >/dev/null

	read -r ta _ rca < <(measure "$(_sp_pg_bindir)/psql" -X -q -h "$PGHOST" -p "$PGPORT" -U "$PGUSER" -d "$PGDATABASE" \
		-c "\\copy raw FROM '$W/in/unge.csv' WITH (FORMAT csv, HEADER true, DELIMITER ';', ENCODING 'WIN1252')")
	[[ $rca == 0 ]] || { echo "psql \\copy failed" >&2; exit 1; }
	psql_q "CHECKPOINT" >/dev/null
	read -r tb rb rcb < <(measure "$SAMSPOR" -c "$W/bench_full.conf" sync)
	psql_q "CHECKPOINT" >/dev/null
	read -r tc rc_ rcc < <(measure "$SAMSPOR" -c "$W/bench_dedup.conf" sync)
	before=$(psql_q "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM warehouse.bench_dedup t")
	psql_q "CHECKPOINT" >/dev/null
	read -r td rd rcd < <(measure "$SAMSPOR" -c "$W/bench_dedup.conf" sync)
	after=$(psql_q "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM warehouse.bench_dedup t")
	[[ $rcb == 0 && $rcc == 0 && $rcd == 0 ]] || { echo "a samspor sync failed ($rcb $rcc $rcd)" >&2; exit 1; }
	same=changed
	[[ $before == "$after" ]] && same="unchanged"
	row() { awk -v n="$n" -v t="$2" -v ta="$ta" -v r="$3" -v name="$1" \
		'BEGIN { printf "%-10d %-34s %10.2f %12.0f %7.2fx %10s\n", n, name, t, n / t, t / ta, r }'; }
	row "(a) psql \\copy, all text" "$ta" "-"
	row "(b) sync full_refresh" "$tb" "$((rb / 1024)) MiB"
	row "(c) sync incremental_dedup, empty" "$tc" "$((rc_ / 1024)) MiB"
	row "(d) (c) again, rows $same" "$td" "$((rd / 1024)) MiB"
done
