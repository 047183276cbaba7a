#!/usr/bin/env bash
# contrib/demo.sh end to end: the reference deployment
# (config/amagerplanen.conf) on the demo's synthetic data, in a demo dir of
# its own with the build under test.  The five connectors load (and reject
# exactly the generator's bad rows); the partner tables hold every count the
# generator computed independently (gen_demo.py --expected), every count
# from 1 to 5 hidden and every hidden count either such a count or a
# secondary suppression; no CPR number, name or address of the generated
# people is in the warehouse (pg_dump), the logs, the report or the data
# dictionary; the partner login reads partner and nothing else; a second run
# gives identical tables; --stop stops PostgreSQL and the API and removes
# the directory.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$SP_TESTDIR/servers.sh"

DEMO_SH=$SP_SRCDIR/contrib/demo.sh
BIN=$(_sp_pg_bindir)
# A short path: the PostgreSQL socket lives in it (107-byte limit), and the
# postgres user must be able to reach it when the tests run as root.
DEMO=$(mktemp -d "${SP_PG_TMPDIR:-/tmp}/sp-demo.XXXXXX")
chmod 755 "$DEMO"
DEMO_PG_PORT=$(_sp_free_port)
export SAMSPOR_DEMO_DIR=$DEMO SAMSPOR_DEMO_PORT=$DEMO_PG_PORT SAMSPOR_DEMO_BUILD=$BUILD_DIR
export SAMSPOR_DEMO_QUIET=1 SAMSPOR_NO_APT=1
# The demo's data are fixed months; pin the day the demo believes it runs
# on well past the point where the reference's six-year retention would
# delete the oldest of them, so that every figure checked here holds on
# whatever day the suite runs.
export SAMSPOR_DEMO_TODAY=2035-06-30
# Whatever happens, the demo's servers stop and its dir goes.
at_exit "'$DEMO_SH' --stop >/dev/null 2>&1; rm -rf '$DEMO'"

# demo_run N: run the demo; its output in $SP_WORK/demoN.out, status in
# $SP_WORK/demoN.rc.
demo_run() {
	local rc=0
	timeout -k 10 240 bash "$DEMO_SH" >"$SP_WORK/demo$1.out" 2>&1 || rc=$?
	echo "$rc" >"$SP_WORK/demo$1.rc"
}

psql_w() { "$BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$DEMO/pg" -p "$DEMO_PG_PORT" -U postgres -d warehouse "$@"; }

# The partner tables, one line per table and row, in a stable order.
partner_digest() {
	local t
	for t in $(psql_w -c "SELECT tablename FROM pg_tables WHERE schemaname = 'partner' ORDER BY 1"); do
		psql_w -c "SELECT '$t', md5(string_agg(r::text, E'\\n' ORDER BY r::text)), count(*) FROM partner.$t r"
	done
}

# The stream tables without the run bookkeeping.
warehouse_digest() {
	local t cols
	for t in $(psql_w -c "SELECT tablename FROM pg_tables WHERE schemaname = 'warehouse' ORDER BY 1"); do
		cols=$(psql_w -c "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'warehouse' AND table_name = '$t' AND column_name NOT IN ('_run_id', '_loaded_at')")
		psql_w -c "SELECT '$t', md5(string_agg(r::text, E'\\n' ORDER BY r::text)), count(*) FROM (SELECT $cols FROM warehouse.$t) r"
	done
}

demo_run 1
if [[ $(cat "$SP_WORK/demo1.rc") == 0 ]]; then
	partner_digest >"$SP_WORK/partner1.txt"
	warehouse_digest >"$SP_WORK/warehouse1.txt"
fi

demo_ok() {
	[[ $(cat "$SP_WORK/demo1.rc") == 0 ]] ||
		fail "contrib/demo.sh exited $(cat "$SP_WORK/demo1.rc"): $(tail -n 5 "$SP_WORK/demo1.out" | tr '\n' ' ')"
}

test_demo_loads_the_five_connectors() {
	demo_ok
	local out
	out=$(cat "$SP_WORK/demo1.out")
	# Each stream loaded, rejecting exactly the generator's bad rows.
	local want="aktiviteter.activity_participation:6
boligselskaber.rent_arrears:3
boligselskaber.tenancies:6
jobcenter.jobcenter_status:5
skoler.school_tests:6
ungedatabasen.youth_status:8"
	assert_eq "$(psql_w -c "SELECT connector || '.' || stream || ':' || rows_rejected FROM samspor.sync_run WHERE status = 'succeeded' ORDER BY 1")" \
		"$want" "five connectors, six streams, each once, the bad rows rejected"
	assert_eq "$(psql_w -c "SELECT count(*) FROM samspor.sync_run WHERE status <> 'succeeded'")" 0 "no failed run"
	local t n
	for t in youth_status school_tests tenancies rent_arrears jobcenter_status activity_participation; do
		n=$(psql_w -c "SELECT count(*) FROM warehouse.$t")
		((n > 100)) || fail "warehouse.$t holds only $n rows"
	done
	# Rejects say where and why, never what.
	assert_eq "$(psql_w -c "SELECT count(DISTINCT reason) >= 6 FROM samspor.rejects")" t "several kinds of bad rows"
	# One person links across sources: pupils take part in activities,
	# young people are in the jobcenter's data.
	assert_eq "$(psql_w -c "SELECT count(*) > 0 FROM warehouse.activity_participation a JOIN warehouse.school_tests s ON s.pupil = a.person")" t "pupils link to activities"
	assert_eq "$(psql_w -c "SELECT count(*) > 0 FROM warehouse.youth_status y JOIN warehouse.jobcenter_status j USING (person)")" t "youth link to the jobcenter"
	# Ages come from each row's own date, not the run date.
	assert_eq "$(psql_w -c "SELECT count(*) FROM warehouse.youth_status WHERE age IS NULL OR age NOT BETWEEN 15 AND 29")" 0 "ages at the status date"
	assert_file "$DEMO/dictionary.html" "data dictionary"
}

# The retention widened to keep the oldest row (2023-01-01) on the pinned
# day: 12 years and a half, so 13y.
test_demo_data_never_age_out() {
	demo_ok
	assert_eq "$(cat "$DEMO/oldest-date")" 2023-01-01 "the oldest retained date of the synthetic data"
	assert_eq "$(grep -c 'retention = "13y";' "$DEMO/samspor.conf")" 4 "every retention widened"
	assert_contains "$(cat "$SP_WORK/demo1.out")" "retention widened from 6y to 13y" "the demo says so"
}

test_partner_tables_hold_the_expected_counts() {
	demo_ok
	local t
	for t in neet school women housing activities; do
		psql_w -c "SELECT coalesce(json_agg(r), '[]') FROM partner.$t r" >"$T/$t.json" ||
			fail "no table partner.$t"
	done
	python3 - "$DEMO/expected.json" "$T" <<-'EOF'
		import json, sys
		from decimal import Decimal, ROUND_HALF_UP
		expected = json.load(open(sys.argv[1], encoding="utf-8"))
		TOTAL, THRESHOLD = "I alt", 5
		errors, stats = [], {}
		for name, cells in expected.items():
		    rows = json.load(open("%s/%s.json" % (sys.argv[2], name), encoding="utf-8"))
		    if not rows:
		        errors.append("%s: empty" % name); continue
		    dims = [k for k, v in cells[0].items() if isinstance(v, str) and isinstance(rows[0].get(k), str)]
		    counts = [k for k, v in cells[0].items() if isinstance(v, int) and k in rows[0]]
		    if not dims or not counts:
		        errors.append("%s: columns %s / %s" % (name, dims, counts)); continue
		    index = {tuple(c[d] for d in dims): c for c in cells}
		    seen = set()
		    primary = secondary = published = 0
		    for r in rows:
		        key = tuple(r[d] for d in dims)
		        if TOTAL not in key:
		            if key not in index:
		                errors.append("%s: row %s not expected" % (name, key)); continue
		            seen.add(key)
		        for c in counts:
		            want = sum(cell[c] for k, cell in index.items()
		                       if all(key[i] == TOTAL or key[i] == k[i] for i in range(len(dims))))
		            hidden = r[c + "_suppressed"]
		            if hidden:
		                if r[c] is not None:
		                    errors.append("%s %s %s: suppressed but shown" % (name, key, c))
		                if 1 <= want <= THRESHOLD:
		                    primary += 1
		                else:
		                    secondary += 1
		            elif c == "into_work_or_education" and key[dims.index("month")] == max(k[dims.index("month")] for k in index):
		                # needs_next_period: the month after the latest is
		                # not in the data, so not known yet (NULL), never 0
		                if r[c] is not None or r.get("into_work_share") is not None:
		                    errors.append("%s %s %s: %s in the latest month, expected NULL (not known yet)" % (name, key, c, r[c]))
		            else:
		                published += 1
		                if 1 <= want <= THRESHOLD:
		                    errors.append("%s %s %s: %d published" % (name, key, c, want))
		                elif r[c] != want:
		                    errors.append("%s %s %s: %s, expected %d" % (name, key, c, r[c], want))
		        if any(r[c + "_suppressed"] for c in counts) != r["suppressed"]:
		            errors.append("%s %s: suppressed flag" % (name, key))
		        # Ratios built on hidden sums: the mean absence from the raw sum.
		        if name == "school" and TOTAL not in key and r.get("absence_mean") is not None:
		            cell = index[key]
		            mean = (Decimal(cell["absence_sum"]) / cell["pupils"]).quantize(Decimal("0.1"), ROUND_HALF_UP)
		            if abs(Decimal(str(r["absence_mean"])) - mean) > Decimal("0.1"):
		                errors.append("%s %s absence_mean %s, expected %s" % (name, key, r["absence_mean"], mean))
		        if name == "neet" and r.get("neet_share") is not None:
		            share = Decimal(r["neet"] * 100) / r["young"]
		            if abs(Decimal(str(r["neet_share"])) - share) > Decimal("0.051"):
		                errors.append("neet %s share %s, expected %s" % (key, r["neet_share"], share))
		    for key in set(index) - seen:
		        errors.append("%s: cell %s missing" % (name, key))
		    if published == 0 or primary == 0:
		        errors.append("%s: %d published, %d suppressed: the data should show both" % (name, published, primary))
		    stats[name] = (published, primary, secondary)
		for e in errors[:10]:
		    print(e)
		print("published/primary/secondary:", stats)
		sys.exit(1 if errors else 0)
	EOF
}

# The reference deployment's report, as the partners get it: in Danish with
# the configured labels, the latest month's share into work "ikke opgjort
# endnu" (not 0,0), the scale written once, the SQL hint only for analysts;
# and in a real browser at 1280 and 1920 px no table cut off or scrolling,
# no month wrapped, every chart visible.  Screenshots: $SAMSPOR_ARTEFACTS
# (or the build directory's artefacts/)/demo-report.
test_report_reads_in_danish_and_fits_the_screen() {
	demo_ok
	local html women
	html=$(cat "$DEMO/report.html")
	assert_contains "$html" '<html lang="da">' "Danish page"
	assert_contains "$html" ">Måned</text>" "axis label"
	assert_contains "$html" "<th>Boligområde</th>" "table header label"
	assert_not_contains "$html" "absence_sum" "no hidden sum's column name"
	assert_contains "$html" "(Samlet fravær / Elever, 1 decimal)" "a mean's definition, no scale 1"
	women=$(python3 - "$DEMO/report.html" <<-'PY'
		import re, sys
		t = open(sys.argv[1], encoding="utf-8").read()
		m = re.search(r'<h2 id="ind-women">.*?(?=<h2 )', t, re.S)
		print(m.group(0) if m else "")
	PY
	)
	local last
	last=$(psql_w -c "SELECT max(month) FROM partner.women")
	assert_eq "$(psql_w -c "SELECT count(*) FROM partner.women WHERE month = '$last' AND (into_work_share IS NOT NULL OR into_work_or_education IS NOT NULL)")" "0" "the latest month's share into work is NULL"
	assert_contains "$women" "ikke opgjort endnu" "said so in the report"
	python3 - "$DEMO/report.html" <<-'PY' || fail "SELECT * FROM partner before the analysts' section"
		import sys
		t = open(sys.argv[1], encoding="utf-8").read()
		assert "SELECT * FROM partner" not in t[:t.index("<h2>For analytikere</h2>")]
	PY
	command -v chromium >/dev/null 2>&1 || t_skip "no chromium (apt-get install chromium)"
	local shots=${SAMSPOR_ARTEFACTS:-$BUILD_DIR/artefacts}/demo-report out rc=0
	cp "$DEMO/report.html" "$SP_WORK/amagerplanen-report.html"
	out=$(python3 "$SP_TESTDIR/browser_check.py" "$SP_WORK/amagerplanen-report.html" --width 1280 --width 1920 --shots "$shots" 2>&1) || rc=$?
	assert_eq "$rc:$out" "0:" "the page at 1280 and 1920 px"
	assert_file "$shots/amagerplanen-report-1280.png" "screenshot kept"
}

test_no_identifier_anywhere() {
	demo_ok
	"$BIN/pg_dump" -h "$DEMO/pg" -p "$DEMO_PG_PORT" -U postgres warehouse >"$T/warehouse.sql"
	local -a files=("$T/warehouse.sql" "$SP_WORK/demo1.out" "$DEMO/dictionary.html" "$DEMO/pg/postgres.log" "$DEMO/api/server.log")
	[[ -f $DEMO/report.html ]] && files+=("$DEMO/report.html")
	assert_contains "$(cat "$T/warehouse.sql")" "youth_status" "the dump holds the warehouse"
	python3 - "$DEMO/identifiers.txt" "${files[@]}" <<-'EOF'
		import html, re, sys
		needles = set()
		per_kind = {"cpr": 0, "name": 0, "address": 0}
		for line in open(sys.argv[1], encoding="utf-8"):
		    kind, _, v = line.rstrip("\n").partition("\t")
		    if kind in per_kind:
		        # a short needle would match by accident; an empty one, anything
		        if len(v) < 8:
		            print("an identifier too short to scan for:", kind, len(v)); sys.exit(1)
		        needles.add(v)
		        per_kind[kind] += 1
		if min(per_kind.values()) < 500:
		    print("too few identifiers of a kind:", per_kind); sys.exit(1)
		# Fast: CPR numbers by pattern; names and addresses only when their
		# first two words occur (then by substring).
		word = re.compile(r"[^\W_]+")
		hits = {}
		for f in sys.argv[2:]:
		    text = open(f, encoding="utf-8", errors="replace").read()
		    text += "\n" + html.unescape(text)
		    found = set(re.findall(r"\d{6}-?\d{4}", text)) & needles
		    words = word.findall(text)
		    pairs = {a + " " + b for a, b in zip(words, words[1:])}
		    for n in needles:
		        w = word.findall(n)
		        if len(w) >= 2 and w[0] + " " + w[1] in pairs and n in text:
		            found.add(n)
		    if found:
		        hits[f] = len(found)
		if hits:
		    print("identifiers found:", hits); sys.exit(1)
	EOF
	# The warehouse never holds a name or an address column.
	assert_eq "$(psql_w -c "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'warehouse' AND column_name ~ '(navn|name|adresse|address|cpr)'")" 0 "no name, address or cpr column"
}

test_partner_login_reads_partner_only() {
	demo_ok
	local out
	out=$(cat "$SP_WORK/demo1.out")
	assert_contains "$out" "-U org_amagerplanen_partner warehouse" "says how to connect as the partner"
	local pw
	pw=$(cat "$DEMO/partner.password")
	assert_exit 0 env PGPASSWORD="$pw" "$BIN/psql" -X -A -t -h "$DEMO/pg" -p "$DEMO_PG_PORT" -U org_amagerplanen_partner -d warehouse \
		-c "SELECT count(*) > 0 FROM partner.neet WHERE area = 'I alt'"
	assert_eq "$OUT" t "the partner reads partner.neet"
	assert_exit 1 env PGPASSWORD="$pw" "$BIN/psql" -X -A -t -h "$DEMO/pg" -p "$DEMO_PG_PORT" -U org_amagerplanen_partner -d warehouse \
		-c "SELECT count(*) FROM warehouse.youth_status"
	assert_contains "$ERR" "permission denied" "the partner cannot read people"
	assert_exit 2 env PGPASSWORD=wrong "$BIN/psql" -X -h "$DEMO/pg" -p "$DEMO_PG_PORT" -U org_amagerplanen_partner -d warehouse -c "SELECT 1"
	assert_contains "$ERR" "password authentication failed" "the password is checked"
}

# The reference configuration's SFTP lines work as written: only the host
# and directory replaced, the export is fetched with the user, key and
# known_hosts it names (the demo itself reads the file locally).
test_ungedatabasen_over_sftp() {
	demo_ok
	command -v sshd >/dev/null 2>&1 || [[ -x /usr/sbin/sshd ]] || t_skip "no sshd (openssh-server)"
	sftp_start "$DEMO/incoming/ungedatabasen"
	cp "$SFTP_KEY" "$DEMO/ungedatabasen_ed25519"
	chmod 600 "$DEMO/ungedatabasen_ed25519"
	cp "$SFTP_KNOWN_HOSTS" "$DEMO/known_hosts"
	local before
	before=$(psql_w -c "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (SELECT person, age, area, status, status_date, benefit_dkk FROM warehouse.youth_status) t")
	sed -e "s|sftp://sftp.ungedatabasen.example.invalid/udtraek/|sftp://127.0.0.1:$SFTP_PORT$DEMO/incoming/ungedatabasen/|" \
		-e "s|username = \"amagerplanen\";|username = \"$SFTP_USER\";|" \
		-e "/^warehouse:/,/^};/s|conninfo = \"[^\"]*\"|conninfo = \"host=$DEMO/pg port=$DEMO_PG_PORT user=postgres dbname=warehouse\"|" \
		-e 's|report = "/var/lib/samspor/report.html";|report = "sftp-report.html";|' \
		"$SP_SRCDIR/config/amagerplanen.conf" >"$DEMO/sftp.conf"
	assert_contains "$(cat "$DEMO/sftp.conf")" "sftp://127.0.0.1:$SFTP_PORT/" "SFTP URL set"
	assert_exit 0 "$SAMSPOR" -c "$DEMO/sftp.conf" -q sync ungedatabasen --full
	assert_contains "$OUT" "ungedatabasen.youth_status: read 18505" "read over SFTP"
	assert_contains "$(cat "$SFTP_LOG")" "Accepted publickey for $SFTP_USER" "logged in with the key"
	assert_eq "$(psql_w -c "SELECT md5(string_agg(t::text, ',' ORDER BY t::text)) FROM (SELECT person, age, area, status, status_date, benefit_dkk FROM warehouse.youth_status) t")" \
		"$before" "the same rows as from the local file"
	rm -f "$DEMO/sftp.conf" "$DEMO/ungedatabasen_ed25519" "$DEMO/known_hosts"
}

# The interval attacker of tests/integration/attack.py against each of the
# five partner tables: integer programming over every total, the subset
# relations between the counts of a row, the published shares with their
# rounding, hidden counts >= 1 (zeros are published).  No hidden cell is
# determined or narrowed to fewer than 5 possible values.
test_no_suppressed_cell_can_be_recovered() {
	demo_ok
	local spec name dims totals counts ratios subsets args r
	for spec in \
		"neet|area,month|area|young,neet|neet_share:neet:young:100:1|neet:young" \
		"school|area,school_year,grade,subject|area,grade|pupils,below_average|below_share:below_average:pupils:100:1|below_average:pupils" \
		"women|area,month|area|women,in_activities,into_work_or_education|activity_share:in_activities:women:100:1 into_work_share:into_work_or_education:women:100:1|in_activities:women into_work_or_education:women" \
		"housing|area,year|area|residents,moves_in,moves_out,arrears,evictions||" \
		"activities|activity,area,month|area|participants,young_neet,women_target,children_behind||young_neet:participants women_target:participants children_behind:participants"; do
		IFS='|' read -r name dims totals counts ratios subsets <<<"$spec"
		psql_w -c "COPY (SELECT * FROM partner.$name) TO STDOUT WITH CSV HEADER" >"$SP_WORK/$name.csv"
		args=()
		for r in $ratios; do args+=(--ratio "$r"); done
		for r in $subsets; do args+=(--subset "$r"); done
		assert_exit 0 "$ATTACK_PY" "$ATTACK" "$SP_WORK/$name.csv" --dims "$dims" \
			--totals "$totals" --counts "$counts" --width 5 "${args[@]}"
		assert_contains "$OUT" "recovered 0 narrowed 0" "partner.$name: nothing recovered or narrowed"
		[[ $(psql_w -c "SELECT count(*) FROM partner.$name WHERE suppressed") -gt 0 ]] ||
			fail "partner.$name has no suppressed cell: the attack proved nothing"
	done
}

test_second_run_gives_the_same_tables() {
	demo_ok
	demo_run 2
	assert_eq "$(cat "$SP_WORK/demo2.rc")" 0 "second run: $(tail -n 3 "$SP_WORK/demo2.out" | tr '\n' ' ')"
	assert_eq "$(partner_digest)" "$(cat "$SP_WORK/partner1.txt")" "identical partner tables"
	assert_eq "$(warehouse_digest)" "$(cat "$SP_WORK/warehouse1.txt")" "identical stream tables"
	assert_eq "$(psql_w -c "SELECT count(*) FROM samspor.sync_run WHERE status <> 'succeeded'")" 0 "no failed run"
}

# Releases: forget one person who is in the open month, refresh, and
# compare with the release before.  No final period changes (not a row);
# the open period may change, and the attacker — who keeps the earlier
# release and guesses every value it showed unchanged — still determines
# and narrows nothing.  Runs after the second-run test: it changes the
# warehouse.
test_forget_changes_only_open_periods() {
	demo_ok
	local spec name dims totals counts ratios subs args r s open person fa
	# The demo's data are fixed months (2025-01 .. 2026-10): a freeze_after
	# reaching back to mid-July 2026, whatever today is, makes the months
	# to 2026-06 final and the rest open.  The demo's own releases go first
	# (as the README says an administrator may), so the test does not age.
	fa=$((($(date -u +%s) - $(date -u -d 2026-07-15 +%s)) / 86400))
	((fa >= 1)) || fa=1
	sed "s/^partner: {/partner: { freeze_after = \"${fa}d\";/" "$DEMO/samspor.conf" >"$DEMO/rel.conf"
	assert_contains "$(cat "$DEMO/rel.conf")" "freeze_after = \"${fa}d\"" "the release test's configuration"
	psql_w -c "DELETE FROM samspor.partner_release" >/dev/null
	assert_exit 0 "$SAMSPOR" -c "$DEMO/rel.conf" -q refresh
	open=$(psql_w -c "SELECT max(month) FROM partner.neet WHERE NOT final")
	[[ -n $open ]] || fail "the demo has no open month"
	assert_eq "$(psql_w -c "SELECT count(*) > 0 FROM partner.neet WHERE final")" t "the demo has final months"
	grep $'^cpr\t' "$DEMO/identifiers.txt" | cut -f2 >"$T/cprs.txt"
	"$SAMSPOR" -c "$DEMO/samspor.conf" -q pseudonym --kind cpr <"$T/cprs.txt" >"$T/pseudonyms.txt"
	paste "$T/cprs.txt" "$T/pseudonyms.txt" >"$T/pairs.txt"
	psql_w -c "SELECT DISTINCT person FROM warehouse.youth_status WHERE to_char(status_month, 'YYYY-MM') = '$open'" >"$T/open.txt"
	person=$(awk -F'\t' 'NR == FNR { open[$1] = 1; next } ($2 in open) { print $1; exit }' "$T/open.txt" "$T/pairs.txt")
	[[ -n $person ]] || fail "no demo person with a status in $open"
	for name in neet school women housing activities; do
		psql_w -c "COPY (SELECT * FROM partner.$name) TO STDOUT WITH CSV HEADER" >"$T/$name.before.csv"
		psql_w -c "SELECT md5(string_agg(r::text, E'\\n' ORDER BY r::text)) FROM partner.$name r WHERE final" >"$T/$name.final.before"
	done
	local releases
	releases=$(psql_w -c "SELECT count(*) FROM samspor.partner_release")
	assert_exit 0 "$SAMSPOR" -c "$DEMO/rel.conf" -q forget --kind cpr <<<"$person"
	assert_eq "$(psql_w -c "SELECT count(*) FROM samspor.partner_release")" "$releases" "forget alone publishes nothing"
	assert_exit 0 "$SAMSPOR" -c "$DEMO/rel.conf" -q refresh
	[[ $(psql_w -c "SELECT count(*) FROM samspor.partner_release") -gt $releases ]] ||
		fail "the refresh stored no new release: the forgotten person changed nothing"
	for spec in \
		"neet|area,month|area|young,neet|neet_share:neet:young:100:1|neet:young" \
		"school|area,school_year,grade,subject|area,grade|pupils,below_average|below_share:below_average:pupils:100:1|below_average:pupils" \
		"women|area,month|area|women,in_activities,into_work_or_education|activity_share:in_activities:women:100:1 into_work_share:into_work_or_education:women:100:1|in_activities:women into_work_or_education:women" \
		"housing|area,year|area|residents,moves_in,moves_out,arrears,evictions||" \
		"activities|activity,area,month|area|participants,young_neet,women_target,children_behind||young_neet:participants women_target:participants children_behind:participants"; do
		IFS='|' read -r name dims totals counts ratios subs <<<"$spec"
		assert_eq "$(psql_w -c "SELECT md5(string_agg(r::text, E'\\n' ORDER BY r::text)) FROM partner.$name r WHERE final")" \
			"$(cat "$T/$name.final.before")" "partner.$name: final periods unchanged"
		psql_w -c "COPY (SELECT * FROM partner.$name) TO STDOUT WITH CSV HEADER" >"$T/$name.after.csv"
		args=()
		for r in $ratios; do args+=(--ratio "$r"); done
		for s in $subs; do args+=(--subset "$s"); done
		assert_exit 0 "$ATTACK_PY" "$ATTACK" "$T/$name.after.csv" --dims "$dims" --totals "$totals" \
			--counts "$counts" --width 5 --previous "$T/$name.before.csv" "${args[@]}"
		assert_contains "$OUT" "recovered 0 narrowed 0" "partner.$name after forget, against the release before"
	done
	assert_ne "$(cat "$T/neet.before.csv")" "$(psql_w -c "COPY (SELECT * FROM partner.neet) TO STDOUT WITH CSV HEADER")" \
		"the open month changed"
}

test_stop_removes_everything() {
	demo_ok
	local pg api
	pg=$(head -n 1 "$DEMO/pg/data/postmaster.pid")
	api=$(cat "$DEMO/api/server.pid")
	kill -0 "$pg" 2>/dev/null || fail "PostgreSQL not running before --stop"
	kill -0 "$api" 2>/dev/null || fail "the API server not running before --stop"
	assert_exit 0 bash "$DEMO_SH" --stop
	assert_no_file "$DEMO" "the demo dir is removed"
	local i
	for i in $(seq 1 50); do
		if ! kill -0 "$pg" 2>/dev/null && ! kill -0 "$api" 2>/dev/null; then break; fi
		sleep 0.1
	done
	kill -0 "$pg" 2>/dev/null && fail "PostgreSQL still running"
	kill -0 "$api" 2>/dev/null && fail "the API server still running"
	assert_exit 0 bash "$DEMO_SH" --stop
}

run_tests
