#!/usr/bin/env bash
# samspor rekey against a real PostgreSQL: the key rotated with every table
# rebuilt in one transaction (one generation of pseudonyms at a time), a
# forgotten person kept out across keys (also when a source delivers her
# again), forget after the rotation, the frozen partner periods unchanged,
# streams whose source may not redeliver its history refused unless
# confirmed, kill -9 half-way leaving the old generation, and forget
# refusing when rows of an older generation remain.  Data is generated
# synthetic: person ids P00001.. (kind pid), not CPR numbers.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pg_start

M1=$(python3 -c 'import datetime as d; t = d.date.today() - d.timedelta(days=400); print(t.strftime("%Y-%m"))')
M2=$(date +%Y-%m)

# gen_data PEOPLE EVENTS_PER_PERSON: obs.csv (each person in M1 and M2, in
# one of four areas) and ev.csv (events per person on distinct days).
gen_data() {
	mkdir -p "$T/in"
	python3 - "$T/in" "$1" "$2" "$M1" "$M2" <<-'PY'
		import sys
		d, people, per, m1, m2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
		with open(d + "/obs.csv", "w") as f:
		    f.write("pid;omraade;maaned;status\n")
		    for n in range(1, people + 1):
		        for m in (m1, m2):
		            f.write("P%05d;%s;%s;%s\n" % (n, "ABCD"[n % 4], m, "neet" if n % 3 == 0 else "skole"))
		with open(d + "/ev.csv", "w") as f:
		    f.write("pid;dag\n")
		    for n in range(1, people + 1):
		        for k in range(per):
		            f.write("P%05d;%d\n" % (n, k))
	PY
}

# conf KEYFILE [EV_MODE]: $T/s.conf, key KEYFILE; obs full_refresh, events
# incremental_dedup (or EV_MODE); neet with the M1 period frozen.
conf() {
	local key=$1 evmode=${2:-incremental_dedup}
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$key"; };
		connectors = (
		  { name = "obs"; plugin = "csv"; source = { url = "$T/in/obs.csv"; };
		    streams = ( { table = "obs"; columns = (
		      { name = "person"; from = "pid"; rule = "pseudonym"; kind = "pid"; },
		      { name = "area"; from = "omraade"; rule = "keep"; },
		      { name = "month"; from = "maaned"; rule = "keep"; },
		      { name = "status"; from = "status"; rule = "keep"; } ); } ); },
		  { name = "ev"; plugin = "csv"; source = { url = "$T/in/ev.csv"; };
		    streams = ( { table = "events"; mode = "$evmode"; key = ["person", "day"];
		      columns = (
		      { name = "person"; from = "pid"; rule = "pseudonym"; kind = "pid"; },
		      { name = "day"; from = "dag"; type = "int"; } ); } ); } );
		partner: {
		  freeze_after = "45d";
		  indicators = (
		    { name = "neet"; dimensions = ["area", "month"]; time = "month"; totals = ["area"];
		      counts = ( { name = "people"; }, { name = "neet"; } );
		      query = "SELECT area, month, count(DISTINCT person) AS people, count(DISTINCT person) FILTER (WHERE status = 'neet') AS neet FROM obs GROUP BY 1, 2"; }
		  );
		};
	EOF
	if [[ $evmode == append ]]; then
		sed -i 's/key = \["person", "day"\];//' "$T/s.conf"
	fi
}

setup() { # setup PEOPLE EVENTS_PER_PERSON [EV_MODE]
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS partner CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null 2>&1
	rm -f "$T/k1" "$T/k2" "$T/k3"
	"$SAMSPOR" keygen "$T/k1" 2>/dev/null
	"$SAMSPOR" keygen "$T/k2" 2>/dev/null
	gen_data "$1" "$2"
	conf "$T/k1" "${3:-}"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
}

pn() { # pn ID: the pseudonym of ID under the configured key
	echo "$1" | "$SAMSPOR" -c "$T/s.conf" pseudonym --kind pid
}

rows_of() { # rows_of PSEUDONYM: rows in every stream table
	psql_q "SELECT (SELECT count(*) FROM warehouse.obs WHERE person = '$1') + (SELECT count(*) FROM warehouse.events WHERE person = '$1')"
}

people() { # distinct pseudonyms in obs, in events, in both together
	psql_q "SELECT (SELECT count(DISTINCT person) FROM warehouse.obs) || ' ' || (SELECT count(DISTINCT person) FROM warehouse.events) || ' ' || (SELECT count(DISTINCT person) FROM (SELECT person FROM warehouse.obs UNION SELECT person FROM warehouse.events) u)"
}

frozen() { # the published rows of the frozen month
	psql_q "SELECT * FROM partner.neet WHERE month = '$M1' ORDER BY 1, 2" -F '|'
}

test_rotation_keeps_erasures_and_one_generation() {
	setup 60 3
	assert_eq "$(people)" "60 60 60" "60 people before"
	local a_old b_old
	a_old=$(pn P00007)
	b_old=$(pn P00008)
	assert_exit 0 bash -c "echo P00007 | '$SAMSPOR' -c '$T/s.conf' forget --kind pid"
	assert_eq "$(rows_of "$a_old")" 0 "A erased"
	local before
	before=$(frozen)
	assert_match "$before" "I alt\\|$M1\\|60\\|" "the frozen month was published with A in it"
	# The rotation.
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" rekey --new-key "$T/k2"
	assert_contains "$OUT" "1 forgotten person carried to the new key" "A carried"
	assert_contains "$OUT" "point pseudonym.key_file at $T/k2" "says what to do next"
	local id1 id2
	id1=$(psql_q "SELECT key_id FROM samspor.key_history WHERE command = 'sync'")
	id2=$(psql_q "SELECT key_id FROM samspor.key_history WHERE command = 'rekey' AND retired_at IS NULL")
	assert_ne "$id2" "" "the new generation recorded by rekey"
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.key_history WHERE key_id = '$id1' AND retired_at IS NOT NULL")" 1 "the old generation retired"
	# One generation: every row loaded under the new key, one pseudonym per person.
	assert_eq "$(psql_q "SELECT count(*) FROM (SELECT _run_id AS run_id FROM warehouse.obs UNION ALL SELECT _run_id FROM warehouse.events) t LEFT JOIN samspor.sync_run r USING (run_id) WHERE r.key_id IS DISTINCT FROM '$id2'")" 0 "no row of the old generation"
	assert_eq "$(people)" "59 59 59" "distinct pseudonyms = the 59 people left"
	assert_eq "$(frozen)" "$before" "the frozen month unchanged"
	# The old key is refused by sync; --new-key is gone.
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" sync
	assert_contains "$ERR" "samspor rekey --new-key FILE" "sync with the old key points to rekey"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_contains "$OUT" "the warehouse is at key id $id2" "check shows the generation and the mismatch"
	conf "$T/k2"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" check --connect
	assert_match "$OUT" "key generation +key id $id2, current since .* \\(generation 2\\); the configured key matches" "check shows the generation"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" docs
	assert_contains "$OUT" "never handed to a partner" "docs: the custody rule"
	assert_contains "$OUT" "samspor rekey --new-key FILE" "docs: the rotation procedure"
	assert_match "$OUT" "\\| $id2 \\| .* \\| \\(current\\) \\| rekey \\|" "docs: key history with from/to/command"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" sync --new-key
	assert_contains "$ERR" "--new-key is gone" "sync --new-key refused"
	# A is absent under both keys, and stays out when her source delivers her again.
	local a_new b_new
	a_new=$(pn P00007)
	b_new=$(pn P00008)
	assert_ne "$a_new" "$a_old" "a new pseudonym"
	assert_eq "$(psql_q "SELECT key_id FROM samspor.forgotten WHERE pseudonym = '$a_new'")" "$id2" "A forgotten under the new generation"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_eq "$(rows_of "$a_new")" 0 "A not loaded again under the new key"
	assert_eq "$(rows_of "$a_old")" 0 "nor under the old"
	# Forget B after the rotation.
	assert_exit 0 bash -c "echo P00008 | '$SAMSPOR' -c '$T/s.conf' forget --kind pid"
	assert_contains "$OUT" "5 rows deleted for 1 person" "B's rows under the new key deleted"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_eq "$(rows_of "$b_new")$(rows_of "$b_old")" "00" "B absent and kept out"
	assert_eq "$(people)" "58 58 58" "58 people"
	assert_eq "$(frozen)" "$before" "the frozen month still unchanged"
	# A second rotation: A and B carried again; the first key is not needed.
	"$SAMSPOR" keygen "$T/k3" 2>/dev/null
	rm -f "$T/k1"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" rekey --new-key "$T/k3"
	assert_contains "$OUT" "2 forgotten people carried" "both carried"
	conf "$T/k3"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_eq "$(rows_of "$(pn P00007)")$(rows_of "$(pn P00008)")" "00" "A and B still absent after two rotations"
	assert_eq "$(people)" "58 58 58" "58 people, one generation"
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.key_history WHERE retired_at IS NULL")" 1 "one current generation"
}

test_rekey_refuses_wrong_key_and_reports_uncarried() {
	setup 20 1
	"$SAMSPOR" keygen "$T/k3" 2>/dev/null
	conf "$T/k3"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" rekey --new-key "$T/k2"
	assert_contains "$ERR" "is not the warehouse's current generation" "rekey needs the current key"
	conf "$T/k1"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" rekey --new-key "$T/k1"
	assert_contains "$ERR" "holds the key in use" "same key refused"
	# A person forgotten and no longer in any source cannot be carried: said so.
	assert_exit 0 bash -c "echo P00003 | '$SAMSPOR' -c '$T/s.conf' forget --kind pid"
	sed -i '/^P00003;/d' "$T/in/obs.csv" "$T/in/ev.csv"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" rekey --new-key "$T/k2"
	assert_contains "$OUT" "1 person forgotten under key id" "uncarried counted"
	assert_contains "$OUT" "run samspor forget again" "and what to do"
	# Already rotated: running it again only says so.
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" rekey --new-key "$T/k2"
	assert_contains "$OUT" "already at generation" "idempotent"
}

test_unreloadable_stream_refused_unless_confirmed() {
	setup 20 2 append
	local digest
	digest=$(psql_q "SELECT md5(string_agg(person::text || day, ',' ORDER BY person, day)) FROM warehouse.events")
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" rekey --new-key "$T/k2"
	assert_contains "$ERR" "ev.events (table warehouse.events, mode append): 40 rows now" "names the stream and its rows"
	assert_contains "$ERR" "nothing was changed" "nothing changed"
	assert_eq "$(psql_q "SELECT md5(string_agg(person::text || day, ',' ORDER BY person, day)) FROM warehouse.events")" "$digest" "events untouched"
	assert_eq "$(psql_q "SELECT count(*) FROM samspor.key_history")" 1 "no new generation"
	# The source has lost half its history; confirmed, the rest is dropped.
	sed -i '/;1$/d' "$T/in/ev.csv"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" rekey --new-key "$T/k2" --drop-unreloadable
	assert_contains "$OUT" "rows these sources do not deliver again are dropped" "says what is dropped"
	assert_eq "$(psql_q "SELECT count(*) FROM warehouse.events")" 20 "only what the source delivered"
	conf "$T/k2" append
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_eq "$(people)" "20 20 20" "one generation"
}

events_digest() {
	psql_q "SELECT count(*) || ':' || md5(string_agg(person::text || day || _run_id, ',' ORDER BY person, day)) FROM warehouse.events"
}

test_kill9_mid_rotation_keeps_old_generation() {
	setup 50000 6
	local before_ev before_obs hist
	before_ev=$(events_digest)
	before_obs=$(psql_q "SELECT md5(string_agg(person::text || month, ',' ORDER BY person, month)) FROM warehouse.obs")
	hist=$(psql_q "SELECT key_id || coalesce(retired_at::text, '-') FROM samspor.key_history")
	"$SAMSPOR" -c "$T/s.conf" rekey --new-key "$T/k2" >"$T/bg.out" 2>&1 &
	local bg=$! i got=
	# Half-way: obs (the first connector) rebuilt, events being loaded —
	# the rotation holds the events table's lock and its COPY runs.
	for i in $(seq 1 400); do
		got=$(psql_q "SELECT 1 FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid WHERE a.application_name LIKE 'samspor%' AND a.query LIKE 'COPY %events%FROM STDIN%' AND l.relation = 'warehouse.events'::regclass AND l.mode = 'AccessExclusiveLock' AND l.granted LIMIT 1")
		[[ -n $got ]] && break
		sleep 0.02
	done
	[[ -n $got ]] || fail "the rotation never reached the second table"
	kill -9 "$bg"
	wait "$bg" 2>/dev/null || true
	for i in $(seq 1 100); do
		[[ -z $(psql_q "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'samspor%' LIMIT 1") ]] && break
		sleep 0.05
	done
	assert_eq "$(events_digest)" "$before_ev" "events as before the kill"
	assert_eq "$(psql_q "SELECT md5(string_agg(person::text || month, ',' ORDER BY person, month)) FROM warehouse.obs")" "$before_obs" "obs (already rebuilt) back to the old generation"
	assert_eq "$(psql_q "SELECT key_id || coalesce(retired_at::text, '-') FROM samspor.key_history")" "$hist" "key history unchanged"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_eq "$(psql_q "SELECT count(*) FROM warehouse.events")" 300000 "the old key still loads"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" rekey --new-key "$T/k2"
	conf "$T/k2"
	assert_eq "$(people)" "50000 50000 50000" "the next attempt completes: one generation"
}

test_forget_refuses_when_an_older_generation_remains() {
	setup 10 1
	# A warehouse rotated with the old sync --new-key: some rows carry
	# a run of another key.
	psql_q "INSERT INTO samspor.sync_run (run_id, connector, stream, started_at, status, key_id) VALUES (999999, 'ev', 'events', now(), 'succeeded', 'deadbeef'); UPDATE warehouse.events SET _run_id = 999999 WHERE day = 0 AND person IN (SELECT person FROM warehouse.events LIMIT 3)" >/dev/null
	assert_exit 1 bash -c "echo P00001 | '$SAMSPOR' -c '$T/s.conf' forget --kind pid"
	assert_contains "$ERR" "warehouse.events: 3 rows under key id deadbeef" "names the table, rows and generation"
	assert_contains "$ERR" "nothing was erased" "nothing erased"
	assert_eq "$(rows_of "$(pn P00001)")" 3 "P00001's rows all there"
}

run_tests
