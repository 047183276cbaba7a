#!/usr/bin/env bash
# contrib/demo.sh — samspor on synthetic data, in one command.
#
#   contrib/demo.sh          build, start a throwaway PostgreSQL, generate a
#                            synthetic Ungedatabase export, run the sync,
#                            show what reached the warehouse
#   contrib/demo.sh --stop   stop that PostgreSQL and remove everything
#
# On a fresh Debian 12 as root it installs what it needs with apt-get.
# Everything lives in $SAMSPOR_DEMO_DIR (default /tmp/samspor-demo); the
# server listens only on a Unix socket there.  Running it again gives the
# same result: the data is generated from a fixed seed and the key is kept.
#
# Still to come (issue 7): the other four reference connectors and the
# partner indicator views with small-count suppression.
set -euo pipefail
exec </dev/null

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${SAMSPOR_DEMO_DIR:-/tmp/samspor-demo}
PGPORT_DEMO=${SAMSPOR_DEMO_PORT:-5433}
RUNAS=
[[ $(id -u) == 0 ]] && RUNAS=postgres

say() { printf '\n== %s\n' "$*"; }
as_pg() { if [[ -n $RUNAS ]]; then runuser -u "$RUNAS" -- "$@"; else "$@"; fi; }
pg_bindir() {
	local d
	for d in "$(pg_config --bindir 2>/dev/null || true)" /usr/lib/postgresql/*/bin; do
		[[ -x $d/initdb && -x $d/pg_ctl ]] && { echo "$d"; return; }
	done
	echo "demo: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
	exit 1
}

stop() {
	if [[ -f $DIR/pg/data/postmaster.pid ]]; then
		as_pg "$(pg_bindir)/pg_ctl" -D "$DIR/pg/data" -m fast -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$DIR"
	echo "demo stopped; $DIR removed"
}

if [[ ${1:-} == --stop ]]; then
	stop
	exit 0
elif [[ -n ${1:-} ]]; then
	echo "usage: contrib/demo.sh [--stop]" >&2
	exit 2
fi

# ---- dependencies ------------------------------------------------------------
PACKAGES=(build-essential autoconf automake libtool pkg-config
	libuv1-dev libconfig-dev libpq-dev libcurl4-openssl-dev libxml2-dev
	libsodium-dev libjansson-dev zlib1g-dev libsystemd-dev
	postgresql python3 tzdata)
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "demo: missing packages (run as root, or install): ${missing[*]}" >&2
		exit 1
	fi
	say "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- build ----------------------------------------------------------------------
BUILD=$ROOT/build-demo
if [[ ! -x $BUILD/samspor || -n $(find "$ROOT/core" "$ROOT/plugins" -newer "$BUILD/samspor" -name '*.[ch]' 2>/dev/null | head -1) ]]; then
	say "building samspor in $BUILD"
	[[ -x $ROOT/configure ]] || (cd "$ROOT" && ./autogen.sh >/dev/null 2>&1)
	mkdir -p "$BUILD"
	(cd "$BUILD" && { [[ -f Makefile ]] || "$ROOT/configure" --disable-tests >/dev/null 2>&1; } && make -j2 >/dev/null)
fi
SAMSPOR=$BUILD/samspor
export SAMSPOR_PLUGIN_DIR=$BUILD/plugins/.libs

# ---- a throwaway PostgreSQL ---------------------------------------------------
BIN=$(pg_bindir)
mkdir -p "$DIR"
chmod 755 "$DIR"
if [[ ! -f $DIR/pg/data/PG_VERSION ]]; then
	say "starting a throwaway PostgreSQL in $DIR/pg"
	mkdir -p "$DIR/pg"
	[[ -n $RUNAS ]] && chown "$RUNAS" "$DIR/pg"
	as_pg "$BIN/initdb" -D "$DIR/pg/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null
	cat >>"$DIR/pg/data/postgresql.conf" <<-EOF
		listen_addresses = ''
		unix_socket_directories = '$DIR/pg'
		port = $PGPORT_DEMO
	EOF
fi
if ! as_pg "$BIN/pg_ctl" -D "$DIR/pg/data" status >/dev/null 2>&1; then
	as_pg "$BIN/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/postgres.log" -w start >/dev/null
fi
PSQL=("$BIN/psql" -X -q -h "$DIR/pg" -p "$PGPORT_DEMO" -U postgres)
"${PSQL[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'warehouse'" | grep -q 1 ||
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE warehouse"

# ---- synthetic data and configuration ----------------------------------------
say "generating a synthetic Ungedatabase export (fictitious people)"
mkdir -p "$DIR/incoming"
python3 "$ROOT/tests/integration/gen_csv.py" --rows 3000 --seed 2026 --bad-rate 0.005 \
	--encoding windows-1252 --out "$DIR/incoming/unge_2026-11.csv" --areas-map "$DIR/areas.raw"
# address,area lines -> the key;value map samspor reads
sed 's/^\(.*\),\([^,]*\)$/\1;\2/' "$DIR/areas.raw" >"$DIR/areas.csv"
[[ -f $DIR/pseudonym.key ]] || "$SAMSPOR" keygen "$DIR/pseudonym.key"
cat >"$DIR/samspor.conf" <<-EOF
	warehouse: { conninfo = "host=$DIR/pg port=$PGPORT_DEMO user=postgres dbname=warehouse"; };
	pseudonym: { key_file = "pseudonym.key"; };
	log: { level = "warn"; };
	maps: { areas = { file = "areas.csv"; extract = "^([^,]+)"; default = "outside the plan"; }; };
	connectors = (
	  { name = "ungedatabasen"; plugin = "csv"; schedule = "30 2 * * *";
	    description = "Education and employment status from the national youth database";
	    source = { url = "incoming/unge_*.csv"; encoding = "windows-1252"; delimiter = ";"; };
	    streams = (
	      { table = "youth_status"; mode = "incremental_dedup";
	        description = "Education and employment status of residents aged 15-29";
	        key = ["person", "status_date", "status"]; cursor = "status_date";
	        max_reject_ratio = 0.02; retention = "6y"; retention_column = "status_date";
	        columns = (
	          { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
	          { name = "birth_year"; from = "cpr"; rule = "cpr_birth_year"; },
	          { name = "gender"; from = "cpr"; rule = "cpr_gender"; },
	          { name = "age_band"; from = "cpr"; rule = "age_band"; bands = [15, 18, 25, 30]; },
	          { name = "area"; from = "adresse"; rule = "lookup"; map = "areas"; },
	          { name = "status"; from = "status"; rule = "keep"; type = "text"; },
	          { name = "status_date"; from = "statusdato"; type = "date"; format = "%d-%m-%Y"; },
	          { name = "status_month"; from = "statusdato"; rule = "date_month"; format = "%d-%m-%Y"; },
	          { name = "benefit_dkk"; from = "ydelse_kr"; type = "numeric"; decimal_comma = true; }
	        ); }
	    ); }
	);
EOF

say "samspor check"
"$SAMSPOR" -c "$DIR/samspor.conf" check
say "samspor sync (the nightly run)"
"$SAMSPOR" -c "$DIR/samspor.conf" sync --full

say "young people per housing area and status, latest status per person (counts under 5 shown as '<5')"
"${PSQL[@]}" -d warehouse -c "
	WITH latest AS (
	  SELECT DISTINCT ON (person) person, area, status
	  FROM warehouse.youth_status ORDER BY person, status_date DESC)
	SELECT area,
	       CASE WHEN count(*) FILTER (WHERE status = 'ledig') BETWEEN 1 AND 4 THEN '<5'
	            ELSE (count(*) FILTER (WHERE status = 'ledig'))::text END AS unemployed,
	       CASE WHEN count(*) BETWEEN 1 AND 4 THEN '<5' ELSE count(*)::text END AS people
	FROM latest GROUP BY area ORDER BY area"
say "what a row looks like: no CPR number, name or address, only pseudonyms and generalisations"
"${PSQL[@]}" -d warehouse -c "SELECT person, birth_year, gender, age_band, area, status, status_date, benefit_dkk FROM warehouse.youth_status ORDER BY person LIMIT 5"
say "rejected rows: where and why, never the values"
"${PSQL[@]}" -d warehouse -c "SELECT position, column_name, reason FROM samspor.rejects WHERE run_id = (SELECT max(run_id) FROM samspor.sync_run) ORDER BY position LIMIT 10"

cat <<-EOF

	== connect yourself
	  $BIN/psql -h $DIR/pg -p $PGPORT_DEMO -U postgres warehouse
	  $SAMSPOR -c $DIR/samspor.conf check
	  $SAMSPOR -c $DIR/samspor.conf sync
	== stop and remove everything
	  contrib/demo.sh --stop
EOF
