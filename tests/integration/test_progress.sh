#!/usr/bin/env bash
# What operations see of a run: log levels journald understands (the
# "<N>" priority prefix on the journal's stream, JSON numbers as numbers),
# and progress during a long load: a progress line in the log, the
# metrics file written when a run starts and as it goes (running 1, rows
# growing, then 0 and the last result per stream with rejects per
# reason), `samspor status` with the running stream's progress.
#
# The long load is real and deterministic: the csv connector reads a named
# pipe that the test fills slowly.  SAMSPOR_PROGRESS_INTERVAL=1 shortens
# the 30 s progress interval (it exists for tests).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

GEN=$SP_TESTDIR/gen_csv.py
pg_start

connector() { # connector NAME FILE-GLOB
	cat <<-EOF
		{ name = "$1"; plugin = "csv"; schedule = "0 0 1 1 *"; enabled = false;
		  source = { url = "$2"; encoding = "windows-1252"; };
		  streams = ( { table = "$1"; mode = "full_refresh"; max_reject_ratio = 0.5;
		    columns = (
		      { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
		      { name = "status"; from = "status"; rule = "keep"; },
		      { name = "status_date"; from = "statusdato"; type = "date"; format = "%d-%m-%Y"; }
		    ); } ); }
	EOF
}

conf() { # conf LOG-FORMAT: a fresh warehouse, a configuration
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	mkdir -p "$T/in" "$T/metrics"
	cat >"$T/d.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		log: { format = "$1"; };
		daemon: { admin_socket = "$T/admin.sock"; metrics_file = "$T/metrics/samspor.prom"; grace = "5s"; };
		connectors = (
		$(connector good "$T/in/good_*.csv"),
		$(connector gone "$T/in/gone_*.csv"),
		$(connector slow "$T/in/slow_*.csv")
		);
	EOF
}

# dev:ino of a file, as systemd writes JOURNAL_STREAM.
devino() { stat -L -c '%d:%i' "$1"; }

# Every line of FILE starts with the priority of its level; prints the
# levels seen.
check_prefixes() {
	python3 - "$1" <<-'EOF'
		import re, sys
		prio = {"error": 3, "warn": 4, "info": 6, "debug": 7}
		seen = set()
		for n, line in enumerate(open(sys.argv[1]), 1):
		    m = re.match(r"<(\d)>ts=\S+ level=(\w+) ", line)
		    if not m:
		        sys.exit(f"line {n} has no priority prefix: {line!r}")
		    if int(m.group(1)) != prio[m.group(2)]:
		        sys.exit(f"line {n}: <{m.group(1)}> for level {m.group(2)}")
		    seen.add(m.group(2))
		print(" ".join(sorted(seen)))
	EOF
}

test_journal_stream_priorities() {
	conf logfmt
	python3 "$GEN" --rows 50 --seed 1 --bad-rate 0.1 --out "$T/in/good_1.csv" >/dev/null
	local log=$T/journal.log levels
	: >"$log"
	# stderr is the file: JOURNAL_STREAM names it, as systemd would.
	JOURNAL_STREAM=$(devino "$log") "$SAMSPOR" -v -c "$T/d.conf" sync good >/dev/null 2>>"$log"
	JOURNAL_STREAM=$(devino "$log") "$SAMSPOR" -v -c "$T/d.conf" sync gone >/dev/null 2>>"$log" || true
	levels=$(check_prefixes "$log") || fail "$levels"
	assert_match "$levels" 'debug' "debug lines seen"
	assert_match "$levels" 'error' "error lines seen"
	assert_match "$levels" 'info' "info lines seen"
	# Inherited by a process whose stderr went elsewhere: no prefixes.
	local other=$T/other.log
	: >"$other"
	JOURNAL_STREAM=$(devino "$log") "$SAMSPOR" -c "$T/d.conf" sync good >/dev/null 2>"$other"
	assert_match "$(head -n 1 "$other")" '^ts=' "no prefix when stderr is not the journal's stream"
	# No JOURNAL_STREAM: no prefixes either.
	"$SAMSPOR" -c "$T/d.conf" sync good >/dev/null 2>"$other"
	assert_match "$(head -n 1 "$other")" '^ts=' "no prefix without JOURNAL_STREAM"
}

test_json_numbers() {
	conf json
	python3 "$GEN" --rows 50 --seed 2 --bad-rate 0.1 --out "$T/in/good_1.csv" >/dev/null
	"$SAMSPOR" -c "$T/d.conf" sync good >/dev/null 2>"$T/json.log" || fail "sync: $(cat "$T/json.log")"
	local out
	out=$(python3 - "$T/json.log" <<-'EOF'
		import json, sys
		done = 0
		for n, line in enumerate(open(sys.argv[1]), 1):
		    o = json.loads(line)
		    if "run" in o and type(o["run"]) is not int:
		        sys.exit(f"line {n}: run is {type(o['run']).__name__}: {line}")
		    if o["msg"].startswith("sync done"):
		        for k in ("read", "loaded", "rejected"):
		            if type(o.get(k)) is not int:
		                sys.exit(f"line {n}: {k} is not a number: {line}")
		        if o["read"] != 50 or o["loaded"] + o["rejected"] != 50:
		            sys.exit(f"line {n}: counts do not add up: {line}")
		        done += 1
		print(done)
	EOF
	) || fail "$out"
	assert_eq "$out" 1 "one sync done line with numbers"
}

# metric NAME-AND-LABELS: its value in the metrics file, or "" when absent.
metric() {
	local m=$T/metrics/samspor.prom
	[[ -f $m ]] || return 0
	awk -v k="$1" 'index($0, k " ") == 1 { print $2 }' "$m"
}

test_progress_under_daemon() {
	conf logfmt
	# The table first, then a trigger that makes the warehouse take its
	# rows slowly (5 ms every 10th row): 20000 rows keep the load going
	# for seconds, and the rows read grow as the warehouse drains the COPY.
	python3 "$GEN" --rows 10 --seed 3 --out "$T/in/slow_1.csv" >/dev/null
	"$SAMSPOR" -c "$T/d.conf" sync slow >/dev/null 2>&1
	psql_q "CREATE SEQUENCE warehouse.slowly;
		CREATE FUNCTION warehouse.slowly() RETURNS trigger LANGUAGE plpgsql AS
		\$\$BEGIN IF nextval('warehouse.slowly') % 10 = 0 THEN PERFORM pg_sleep(0.005); END IF;
		RETURN NEW; END\$\$;
		CREATE TRIGGER slowly BEFORE INSERT ON warehouse.slow
		FOR EACH ROW EXECUTE FUNCTION warehouse.slowly()" >/dev/null
	python3 "$GEN" --rows 20000 --seed 3 --bad-rate 0.02 --out "$T/in/slow_1.csv" >/dev/null
	: >"$T/daemon.log"
	SAMSPOR_PROGRESS_INTERVAL=1 "$SAMSPOR" -c "$T/d.conf" run >"$T/daemon.out" 2>>"$T/daemon.log" &
	local dpid=$!
	at_exit "kill -TERM $dpid 2>/dev/null; wait $dpid 2>/dev/null || true"
	local i v
	for i in $(seq 1 100); do
		"$SAMSPOR" -c "$T/d.conf" status >/dev/null 2>&1 && break
		sleep 0.1
	done
	assert_eq "$(metric 'samspor_running{connector="slow"}')" 0 "not running before the trigger"
	"$SAMSPOR" -c "$T/d.conf" trigger slow >/dev/null
	for i in $(seq 1 50); do
		[[ $(metric 'samspor_running{connector="slow"}') == 1 ]] && break
		sleep 0.1
	done
	assert_eq "$(metric 'samspor_running{connector="slow"}')" 1 "running 1 as soon as the run starts"
	local key='samspor_stream_rows_read{connector="slow",stream="slow"}'
	local first="" last="" st=""
	for i in $(seq 1 300); do
		v=$(metric "$key")
		if [[ -n $v ]]; then
			[[ -z $first ]] && first=$v && st=$("$SAMSPOR" -c "$T/d.conf" status)
			last=$v
			((last > first)) && break
		fi
		sleep 0.1
	done
	[[ -n $first ]] || fail "no rows read in the metrics file during the run: $(grep slow "$T/metrics/samspor.prom"); log: $(tail -n 8 "$T/daemon.log")"
	((last > first)) || fail "rows read did not grow during the run ($first, $last): $(grep -E "progress|sync done" "$T/daemon.log" | tail -n 5)"
	assert_eq "$(metric 'samspor_running{connector="slow"}')" 1 "still running while rows grow"
	assert_match "$st" 'slow: read [0-9]+, loaded [0-9]+ so far' "status shows the running stream's progress"
	assert_match "$(status_json_progress)" '^[0-9]+ [0-9]+$' "status --json has the progress"
	for i in $(seq 1 300); do
		[[ $(metric 'samspor_running{connector="slow"}') == 0 ]] && break
		sleep 0.1
	done
	assert_eq "$(metric 'samspor_running{connector="slow"}')" 0 "running 0 after the run"
	assert_eq "$(metric "$key")" "" "no progress sample once the run ended"
	assert_eq "$(metric 'samspor_stream_last_result{connector="slow",stream="slow",result="succeeded"}')" 1 \
		"the stream's last result"
	local rej byreason
	rej=$(metric 'samspor_stream_last_rows_rejected{connector="slow",stream="slow"}')
	((rej > 0)) || fail "no rejects counted: $(cat "$T/metrics/samspor.prom")"
	byreason=$(awk '/^samspor_stream_last_rejected_by_reason\{connector="slow"/ { s += $2 } END { print s + 0 }' "$T/metrics/samspor.prom")
	assert_eq "$byreason" "$rej" "rejects per reason add up to the stream's rejects"
	# The child's progress line: rows and rows/s.
	assert_match "$(grep 'progress: read' "$T/daemon.log" | head -n 1)" \
		'connector=slow stream=slow run=[0-9]+ read=[0-9]+ loaded=[0-9]+ rejected=[0-9]+ msg="progress: read [0-9]+, .* [0-9]+ rows/s"' \
		"a progress line with rows and rows/s"
	kill -TERM "$dpid"
	wait "$dpid" || fail "daemon exit status after SIGTERM"
}

status_json_progress() {
	"$SAMSPOR" -c "$T/d.conf" status --json |
		python3 -c 'import json,sys; d=json.load(sys.stdin); c=[c for c in d["connectors"] if c["name"]=="slow"][0]; s=[s for s in c["streams"] if s["running"]]; print(s[0]["read"], s[0]["rows_per_second"]) if s else print("none")'
}

run_tests
