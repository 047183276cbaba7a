#!/usr/bin/env bash
# contrib/demo.sh — the Amagerplanen's warehouse on synthetic data, in one
# command.
#
#   contrib/demo.sh          build samspor, start a throwaway PostgreSQL,
#                            generate synthetic data for the five sources of
#                            config/amagerplanen.conf, serve the housing API
#                            on 127.0.0.1, run the nightly sync of all five
#                            connectors, print the partner indicators, write
#                            the report and the data dictionary, create a
#                            partner login and say how to use it
#   contrib/demo.sh --stop   stop that PostgreSQL and the API, remove
#                            everything
#
# On a fresh Debian 12 as root it installs what it needs with apt-get.
# Everything lives in $SAMSPOR_DEMO_DIR (default /tmp/samspor-demo); the
# database listens only on a Unix socket there, the API only on 127.0.0.1.
# Running it again gives the same result: the data is generated from a fixed
# seed and the pseudonymisation key is kept.
#
# The configuration is config/amagerplanen.conf itself, copied with only
# its site-specific lines replaced (the warehouse's and the jobcenter's
# conninfo, the API's host and CA, and the Ungedatabase's SFTP server: the
# demo reads that export from a local directory instead).
#
# Environment: SAMSPOR_DEMO_DIR, SAMSPOR_DEMO_PORT (PostgreSQL's port
# number, of its socket; default 5433), SAMSPOR_DEMO_API_PORT (default: a
# free port), SAMSPOR_DEMO_BUILD (an existing build tree to use instead of
# building one in build-demo; SAMSPOR_PLUGIN_DIR is then honoured; a source
# tree configured in place, as by the README's ./configure && make, is
# used as it is, after a make),
# SAMSPOR_DEMO_QUIET=1 (shorter output: for the test), SAMSPOR_NO_APT=1
# (never run apt-get).
set -Eeuo pipefail
exec </dev/null
# Never a silent failure: a command that stops the demo is named, with its
# line, on stderr (the steps that can fail for a known reason say more).
trap 'rc=$?; echo "demo: stopped: \"$BASH_COMMAND\" exited $rc (contrib/demo.sh line $LINENO)" >&2' ERR

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${SAMSPOR_DEMO_DIR:-/tmp/samspor-demo}
PGPORT_DEMO=${SAMSPOR_DEMO_PORT:-5433}
API_PORT=${SAMSPOR_DEMO_API_PORT:-0}
QUIET=${SAMSPOR_DEMO_QUIET:-}
SEED=2026
RUNAS=
[[ $(id -u) == 0 ]] && RUNAS=postgres

say() { printf '\n== %s\n' "$*"; }
as_pg() { if [[ -n $RUNAS ]]; then runuser -u "$RUNAS" -- "$@"; else "$@"; fi; }
pg_bindir() {
	local d
	for d in "$(pg_config --bindir 2>/dev/null || true)" $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
		[[ -x $d/initdb && -x $d/pg_ctl ]] && { echo "$d"; return; }
	done
	echo "demo: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
	exit 1
}

# api_stop: stop the API server this demo started (its pid file names it;
# the command line is checked so that a reused pid is left alone).
api_stop() {
	local pid
	[[ -f $DIR/api/server.pid ]] || return 0
	pid=$(cat "$DIR/api/server.pid")
	if [[ -n $pid ]] && grep -qa rest_server.py "/proc/$pid/cmdline" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$DIR/api/server.pid" "$DIR/api/port"
}

stop() {
	api_stop
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
	libsodium-dev libjansson-dev zlib1g-dev libsystemd-dev libglpk-dev
	postgresql python3 openssl tzdata)
missing=()
for p in "${PACKAGES[@]}"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})) && [[ ${SAMSPOR_NO_APT:-} == 1 ]]; then
	echo "demo: missing packages (SAMSPOR_NO_APT=1: not installing): ${missing[*]}" >&2
elif ((${#missing[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "demo: missing packages (run as root, or install): ${missing[*]}" >&2
		exit 1
	fi
	say "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- build ----------------------------------------------------------------------
# build_step WHAT CMD...: run CMD with its output in a log; when it fails,
# say WHAT failed, show the end of the log and stop.
build_step() {
	local what=$1 log rc=0
	shift
	log=$(mktemp "${TMPDIR:-/tmp}/samspor-demo-build.XXXXXX")
	"$@" >"$log" 2>&1 || rc=$?
	if ((rc != 0)); then
		echo "demo: $what failed (exit $rc); the last lines of its output (all of it in $log):" >&2
		tail -n 25 "$log" >&2
		exit 1
	fi
	rm -f "$log"
}
if [[ -n ${SAMSPOR_DEMO_BUILD:-} ]]; then
	BUILD=$(cd "$SAMSPOR_DEMO_BUILD" && pwd)
	[[ -x $BUILD/samspor ]] || { echo "demo: no samspor in $BUILD" >&2; exit 1; }
	export SAMSPOR_PLUGIN_DIR=${SAMSPOR_PLUGIN_DIR:-$BUILD/plugins/.libs}
elif [[ -f $ROOT/config.status ]]; then
	# The README's ./configure && make, run in the source tree: configure
	# refuses a second, out-of-tree build of a tree configured in place, so
	# the demo uses that build (brought up to date) instead of build-demo/.
	BUILD=$ROOT
	if [[ ! -f $ROOT/Makefile ]]; then
		echo "demo: $ROOT is configured in place (it has config.status) but has no Makefile." >&2
		echo "  Either finish that build:            cd $ROOT && ./configure && make" >&2
		echo "  or remove it, and the demo builds in build-demo/: cd $ROOT && rm -f config.status" >&2
		exit 1
	fi
	say "using the build in the source tree $ROOT (configured there); running make"
	build_step "make in $ROOT" make -C "$ROOT" -j2
	[[ -x $BUILD/samspor ]] || { echo "demo: make in $ROOT built no samspor" >&2; exit 1; }
	export SAMSPOR_PLUGIN_DIR=$BUILD/plugins/.libs
else
	BUILD=$ROOT/build-demo
	if [[ ! -x $BUILD/samspor || -n $(find "$ROOT/core" "$ROOT/plugins" -newer "$BUILD/samspor" -name '*.[ch]' 2>/dev/null | head -1) ]]; then
		say "building samspor in $BUILD"
		[[ -x $ROOT/configure ]] || build_step "./autogen.sh in $ROOT" sh -c 'cd "$1" && ./autogen.sh' sh "$ROOT"
		mkdir -p "$BUILD"
		if [[ ! -f $BUILD/Makefile ]]; then
			build_step "configure in $BUILD" sh -c 'cd "$1" && "$2/configure" --disable-tests' sh "$BUILD" "$ROOT"
		fi
		build_step "make in $BUILD" make -C "$BUILD" -j2
	fi
	export SAMSPOR_PLUGIN_DIR=$BUILD/plugins/.libs
fi
SAMSPOR=$BUILD/samspor
CONF=$DIR/samspor.conf
sp() { "$SAMSPOR" -c "$CONF" "$@"; }

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
		fsync = off
		synchronous_commit = off
	EOF
	# Partner logins use their password, as they would on a real server;
	# samspor itself (user postgres here) is trusted on the socket.
	as_pg sh -c "{ echo 'local all postgres trust'; echo 'local all all scram-sha-256'; } >'$DIR/pg/data/pg_hba.conf'"
fi
if ! as_pg "$BIN/pg_ctl" -D "$DIR/pg/data" status >/dev/null 2>&1; then
	as_pg "$BIN/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/postgres.log" -w start >/dev/null
fi
PSQL=("$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR/pg" -p "$PGPORT_DEMO" -U postgres)
for db in warehouse jobcenter; do
	"${PSQL[@]}" -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
		"${PSQL[@]}" -d postgres -c "CREATE DATABASE $db" >/dev/null
done

# ---- synthetic data -------------------------------------------------------------
say "generating synthetic data for the five sources (fictitious people, seed $SEED)"
python3 "$ROOT/contrib/demo/gen_demo.py" --seed "$SEED" --areas "$ROOT/config/amagerplanen-areas.csv" \
	--out "$DIR" --expected "$DIR/expected.json" --identifiers "$DIR/identifiers.txt"
chmod 600 "$DIR/identifiers.txt" "$DIR/expected.json"
# The jobcenter's own database, which the pgsql connector reads.
"${PSQL[@]}" -d jobcenter -f "$DIR/jobcenter.sql" >/dev/null

# ---- the housing associations' API ------------------------------------------
# HTTPS with a CA made here (the integration tests' certs.sh), OAuth2 client
# credentials whose secret is in a 0600 file, next-link pagination.
say "starting the housing associations' API on 127.0.0.1 (HTTPS, OAuth2)"
api_stop
mkdir -p "$DIR/api"
# shellcheck source=../tests/integration/certs.sh
. "$ROOT/tests/integration/certs.sh"
if [[ ! -f $DIR/api/certs/ca.pem || -n $(find "$DIR/api/certs/ca.pem" -mmin +1380 2>/dev/null) ]]; then
	rm -rf "$DIR/api/certs"
	make_certs "$DIR/api/certs" # valid two days: renewed after 23 hours
fi
cp "$DIR/api/certs/ca.pem" "$DIR/boligselskaber-ca.pem"
if [[ ! -s $DIR/boligselskaber.secret ]]; then
	(umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$DIR/boligselskaber.secret")
fi
setsid python3 "$ROOT/contrib/demo/rest_server.py" --data "$DIR/rest/export.json" \
	--certs "$DIR/api/certs" --secret-file "$DIR/boligselskaber.secret" \
	--port "$API_PORT" --port-file "$DIR/api/port" >"$DIR/api/server.log" 2>&1 </dev/null &
echo $! >"$DIR/api/server.pid"
for _ in $(seq 1 100); do
	[[ -s $DIR/api/port ]] && break
	kill -0 "$(cat "$DIR/api/server.pid")" 2>/dev/null || break
	sleep 0.1
done
[[ -s $DIR/api/port ]] || { echo "demo: the API did not start:" >&2; cat "$DIR/api/server.log" >&2; exit 1; }
API_PORT=$(cat "$DIR/api/port")

# ---- configuration: config/amagerplanen.conf with this machine's lines -------
cp "$ROOT/config/amagerplanen-areas.csv" "$DIR/"
# The indicator queries (partner.indicators: query_file), beside it as in
# /etc/samspor/.
rm -rf "$DIR/indicators"
cp -r "$ROOT/config/indicators" "$DIR/"
[[ -f $DIR/pseudonym.key ]] || "$SAMSPOR" keygen "$DIR/pseudonym.key"
mkdir -p "$DIR/incoming/ungedatabasen"
sed -e "s|conninfo = \"host=/run/postgresql dbname=warehouse user=samspor_loader\";|conninfo = \"host=$DIR/pg port=$PGPORT_DEMO user=postgres dbname=warehouse\";|" \
	-e "s|url = \"sftp://sftp.ungedatabasen.example.invalid/udtraek/unge_\*.csv\";|url = \"incoming/ungedatabasen/unge_*.csv\";|" \
	-e '/username = "amagerplanen";/d' \
	-e '/private_key_file = "ungedatabasen_ed25519";/d' \
	-e '/known_hosts_file = "known_hosts";/d' \
	-e "s|https://api.boligselskaber.example.invalid/|https://127.0.0.1:$API_PORT/|" \
	-e 's|# ca_file = "boligselskaber-ca.pem";|ca_file = "boligselskaber-ca.pem";|' \
	-e "s|conninfo = \"host=jobcenter-db.example.invalid dbname=jobcenter user=amagerplanen sslmode=verify-full\";|conninfo = \"host=$DIR/pg port=$PGPORT_DEMO user=postgres dbname=jobcenter\";|" \
	-e '/password_file = "jobcenter.password";/d' \
	-e 's|report = "/var/lib/samspor/report.html";|report = "report.html";|' \
	"$ROOT/config/amagerplanen.conf" >"$CONF.new"
# Every replacement must have happened: a changed reference configuration
# fails here rather than silently running something else.
for want in "host=$DIR/pg port=$PGPORT_DEMO user=postgres dbname=warehouse" \
	'url = "incoming/ungedatabasen/unge_*.csv"' "https://127.0.0.1:$API_PORT/v1/export" \
	"https://127.0.0.1:$API_PORT/oauth/token" 'ca_file = "boligselskaber-ca.pem"' \
	"host=$DIR/pg port=$PGPORT_DEMO user=postgres dbname=jobcenter" 'report = "report.html"'; do
	grep -qF "$want" "$CONF.new" || { echo "demo: config/amagerplanen.conf changed: could not set $want" >&2; exit 1; }
done
if grep -n 'example\.invalid\|ungedatabasen_ed25519\|jobcenter\.password' "$CONF.new" >&2; then
	echo "demo: config/amagerplanen.conf changed: the lines above were not replaced" >&2
	exit 1
fi
# The synthetic data are fixed months (gen_demo.py); the reference's six-year
# retention would start deleting the oldest of them one day, and the demo
# would then show less than gen_demo.py expects.  Widen the demo's retention
# so that its oldest row stays inside it, whatever day the demo runs
# (SAMSPOR_DEMO_TODAY sets that day, for the test).
oldest=$(cat "$DIR/oldest-date")
today=${SAMSPOR_DEMO_TODAY:-$(date -u +%F)}
keep_years=$((($(date -u -d "$today" +%s) - $(date -u -d "$oldest" +%s)) / 31556952 + 1))
if ((keep_years > 6)); then
	sed -i "s|retention = \"6y\";|retention = \"${keep_years}y\";|" "$CONF.new"
	grep -qF "retention = \"${keep_years}y\";" "$CONF.new" || { echo "demo: could not widen the retention in config/amagerplanen.conf" >&2; exit 1; }
	echo "demo: the synthetic data begin $oldest; retention widened from 6y to ${keep_years}y so that none of it is deleted"
fi
mv "$CONF.new" "$CONF"

say "samspor check"
if [[ -n $QUIET ]]; then sp check >/dev/null; else sp check; fi

# ---- the nightly sync -------------------------------------------------------------
say "samspor sync: the nightly run of all five connectors (then the partner indicators)"
sp -q sync
if ! "$SAMSPOR" refresh --help >/dev/null 2>&1; then
	echo "(this samspor has no partner indicators yet: samspor refresh is missing)"
fi

say "rejected rows: where and why, never the values"
"${PSQL[@]}" -d warehouse -c "
	SELECT r.connector || '.' || r.stream AS stream, j.position, j.column_name, j.reason
	FROM samspor.rejects j JOIN samspor.sync_run r USING (run_id)
	WHERE j.run_id IN (SELECT max(run_id) FROM samspor.sync_run GROUP BY connector, stream)
	ORDER BY 1, 2" 2>/dev/null ||
	"${PSQL[@]}" -d warehouse -c "SELECT position, column_name, reason FROM samspor.rejects ORDER BY run_id DESC, position LIMIT 40"

# ---- the partner indicators ------------------------------------------------------
# show TABLE FILTER: print partner.TABLE (rows matching FILTER), every
# suppressed value as "–".
show() {
	local table=$1 filter=$2 cols
	cols=$("${PSQL[@]}" -d warehouse -tAc "
		SELECT string_agg(CASE
		    WHEN EXISTS (SELECT 1 FROM information_schema.columns s WHERE s.table_schema = c.table_schema
		                 AND s.table_name = c.table_name AND s.column_name = c.column_name || '_suppressed')
		    THEN format('CASE WHEN %I THEN %L ELSE coalesce(%I::text, '''') END AS %I',
		                c.column_name || '_suppressed', '–', c.column_name, c.column_name)
		    ELSE format('%I', c.column_name) END, ', ' ORDER BY c.ordinal_position)
		FROM information_schema.columns c
		WHERE c.table_schema = 'partner' AND c.table_name = '$table'
		  AND c.column_name NOT LIKE '%\_suppressed' AND c.column_name NOT IN ('suppressed', 'suppression_reason')")
	[[ -n $cols ]] || { echo "demo: no table partner.$table" >&2; exit 1; }
	"${PSQL[@]}" -d warehouse -P footer=off -c "SELECT $cols FROM partner.$table WHERE $filter"
}
latest() { # latest TABLE COLUMN N: a filter for the N latest values of COLUMN
	printf "%s IN (SELECT DISTINCT %s FROM partner.%s ORDER BY 1 DESC LIMIT %s)" "$2" "$2" "$1" "$3"
}
TABLES=$("${PSQL[@]}" -d warehouse -tAc "SELECT string_agg(tablename, ' ' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'partner'")
# The tables this demo promises (README, "The reference deployment and the
# demo"): one missing is a broken demo, not a shorter one.
for t in activities housing neet school women; do
	[[ " $TABLES " == *" $t "* ]] || {
		echo "demo: the partner table partner.$t is missing (partner tables: ${TABLES:-none})" >&2
		exit 1
	}
done
if [[ -n $TABLES ]]; then
	say "the partner indicators (schema partner; – = suppressed)"
	cat <<-'EOF'
		Legend: – is a suppressed value: a count from 1 to 5 people (primary
		suppression), or a further cell hidden so that no suppressed count can
		be worked out from a total ("I alt") and the other cells (secondary
		suppression); a share or change built on a suppressed count is hidden
		too.  The tables hold every month; below are the latest values only.
	EOF
	if [[ -n $QUIET ]]; then
		"${PSQL[@]}" -d warehouse -c "SELECT '$TABLES' AS partner_tables"
	else
		say "NEET: young people 15-29 per area and month (latest 3 months)"
		show neet "$(latest neet month 3)"
		say "School: pupils in the latest school year, all grades (I alt), per area and subject"
		show school "$(latest school school_year 1) AND grade = 'I alt'"
		say "Women 18-64 not in work, on a benefit (latest 3 months)"
		show women "$(latest women month 3)"
		say "Housing per area and year"
		show housing "true"
		say "Activities (latest month)"
		show activities "$(latest activities month 1)"
	fi
fi

# ---- report, data dictionary --------------------------------------------------------
say "the report and the data dictionary"
# The sync has written report.html already (partner.report); written here
# again the way a partner would ask for it.
sp report --html -o "$DIR/report.html"
echo "report:          $DIR/report.html"
sp docs --html -o "$DIR/dictionary.html"
echo "data dictionary: $DIR/dictionary.html"

# ---- a partner login -------------------------------------------------------------------
say "a login for a partner organisation"
if [[ ! -s $DIR/partner.password ]]; then
	(umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DIR/partner.password")
fi
sp grant amagerplanen --role partner --password-file "$DIR/partner.password"
PARTNER=org_amagerplanen_partner

if [[ -n $TABLES ]]; then
	say "what the partner sees: the indicators, never a person"
	PGPASSWORD=$(cat "$DIR/partner.password") "$BIN/psql" -X -h "$DIR/pg" -p "$PGPORT_DEMO" -U "$PARTNER" -d warehouse \
		-c "SELECT area, month, young, neet, neet_share, neet_share_change, suppressed FROM partner.neet WHERE month = (SELECT max(month) FROM partner.neet) ORDER BY area" 2>&1 || true
	echo "and a table of people is refused:"
	PGPASSWORD=$(cat "$DIR/partner.password") "$BIN/psql" -X -h "$DIR/pg" -p "$PGPORT_DEMO" -U "$PARTNER" -d warehouse \
		-c "SELECT count(*) FROM warehouse.youth_status" 2>&1 | sed 's/^/  /' || true
fi

cat <<-EOF

	== connect as the partner (password in $DIR/partner.password)
	  PGPASSWORD=\$(cat $DIR/partner.password) $BIN/psql -h $DIR/pg -p $PGPORT_DEMO -U $PARTNER warehouse
	  then e.g.:  \\dt partner.*     SELECT * FROM partner.neet WHERE area = 'I alt';
	== as the administrator
	  $BIN/psql -h $DIR/pg -p $PGPORT_DEMO -U postgres warehouse
	  SAMSPOR_PLUGIN_DIR=$SAMSPOR_PLUGIN_DIR $SAMSPOR -c $CONF sync
	== open in a browser
	  $DIR/report.html  $DIR/dictionary.html
	== stop and remove everything
	  contrib/demo.sh --stop
EOF
