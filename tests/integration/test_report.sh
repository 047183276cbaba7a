#!/usr/bin/env bash
# samspor report against a real PostgreSQL: a small csv load with known
# answers, the partner tables computed by samspor sync, then the report.
# The HTML page is well-formed and self-contained (no external reference,
# no script), has one chart per expected combination, draws suppressed
# points as gaps (no line bridges them) marked with the reason, shows them
# as "–" with a footnote in the table; an indicator whose table does not
# exist is "not computed yet"; no CPR number or pseudonym appears; the
# Markdown summary; -o replaces atomically and a failure leaves the old
# file as it was; the report configured in partner.report is written by
# sync; usage errors exit 2.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pg_start

# The known data: people per area and month (young/neet), each person with
# a made-up CPR number of valid format, gender alternating k, m.
#   2025-01: Urbanplanen 20/10  Hørgården 12/3  Remisevænget 30/8
#   2025-02: Urbanplanen 15/6   Hørgården 12/7  Remisevænget 25/9
#   2025-03: Urbanplanen 18/7   Hørgården 10/8  Remisevænget 22/2
# With threshold 5, Hørgården 2025-01 and Remisevænget 2025-03 are hidden
# (primary) and one more cell in each of those months (secondary).
gen_data() {
	mkdir -p "$T/in"
	python3 - "$T/in/unge.csv" "$T/cprs.txt" <<-'PY'
		import sys
		cells = {("Urbanplanen", "2025-01"): (20, 10), ("Hørgården", "2025-01"): (12, 3),
		         ("Remisevænget", "2025-01"): (30, 8), ("Urbanplanen", "2025-02"): (15, 6),
		         ("Hørgården", "2025-02"): (12, 7), ("Remisevænget", "2025-02"): (25, 9),
		         ("Urbanplanen", "2025-03"): (18, 7), ("Hørgården", "2025-03"): (10, 8),
		         ("Remisevænget", "2025-03"): (22, 2)}
		n = 0
		with open(sys.argv[1], "w", encoding="utf-8") as f, open(sys.argv[2], "w") as ids:
		    f.write("cpr;omraade;maaned;status;koen\n")
		    for (area, month), (people, neet) in sorted(cells.items()):
		        for k in range(people):
		            n += 1
		            # DDMMYY + serial: born 2005 (7th digit 4), not a real person
		            cpr = "%02d%02d05%04d" % (1 + n % 28, 1 + n % 12, 4000 + n)
		            ids.write(cpr + "\n")
		            f.write("%s-%s;%s;%s;%s;%s\n" % (cpr[:6], cpr[6:], area, month,
		                    "neet" if k < neet else "skole", "km"[n % 2]))
	PY
}

# conf [EXTRA_PARTNER_SETTING]
conf() {
	local extra=${1:-}
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = ( { name = "unge"; plugin = "csv";
		  source = { url = "$T/in/unge.csv"; };
		  streams = ( { table = "youth"; mode = "full_refresh";
		    columns = (
		      { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; },
		      { name = "area"; from = "omraade"; rule = "keep"; },
		      { name = "month"; from = "maaned"; rule = "keep"; },
		      { name = "status"; from = "status"; rule = "keep"; },
		      { name = "gender"; from = "koen"; rule = "keep"; }
		    ); } ); } );
		partner: {
		  suppression_threshold = 5;
		  report_title = "Amagerplanen <test> & co";
		  report_language = "${REPORT_LANG:-en}";
		  $extra
		  indicators = (
		    { name = "neet"; title = "Unge uden uddannelse eller job";
		      description = "Young people 15-29 <neither> in education nor in work.";
		      dimensions = ["area", "month"]; time = "month"; series = "area";
		      totals = ["area"]; baseline = "2025-01"; chart = "neet_share";
		      counts = ( { name = "young"; description = "Young people"; },
		                 { name = "neet"; description = "Of them NEET"; } );
		      ratios = ( { name = "neet_share"; numerator = "neet"; denominator = "young";
		                   scale = 100.0; decimals = 1; change = true; } );
		      query = "SELECT area, month, count(*) AS young, count(*) FILTER (WHERE status = 'neet') AS neet FROM youth GROUP BY 1, 2";
		    },
		    { name = "neet_gender"; title = "NEET by gender";
		      dimensions = ["area", "month", "gender"]; time = "month"; series = "area";
		      totals = ["area"];
		      counts = ( { name = "young"; }, { name = "neet"; } );
		      ratios = ( { name = "share"; numerator = "neet"; denominator = "young";
		                   scale = 100.0; decimals = 1; } );
		      query = "SELECT area, month, gender, count(*) AS young, count(*) FILTER (WHERE status = 'neet') AS neet FROM youth GROUP BY 1, 2, 3";
		    },
		    { name = "housing"; title = "Boliger";
		      dimensions = ["area", "year"]; time = "year";
		      counts = ( { name = "tenancies"; } );
		      query = "SELECT area, year, count(*) AS tenancies FROM tenancies GROUP BY 1, 2";
		    }
		  );
		};
	EOF
}

setup() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS partner CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null 2>&1
	gen_data
	conf "$@"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_eq "$(psql_q "SELECT to_regclass('partner.neet') IS NOT NULL")" "t" "sync computed partner.neet"
}

# check_html FILE NSVG: well-formed, self-contained, NSVG charts, no line
# across a gap; prints nothing, or why not (a checker that crashed says so:
# its silence must not read as a pass).
check_html() {
	local need=html,head,style,body,h1,h2 out rc=0
	(($2 > 0)) && need=$need,table
	out=$(python3 "$SP_TESTDIR/html_check.py" "$1" --need "$need" --svg "$2" --no-bridged-gaps 2>&1) || rc=$?
	if ((rc != 0)); then
		printf 'html_check.py exited %s: %s\n' "$rc" "${out:-no output}"
	else
		printf '%s' "$out"
	fi
}

# The checker itself: a page with an external script, an unclosed tag and a
# byte that is not UTF-8 is refused, each for its own reason.
test_html_checker_refuses_a_bad_page() {
	printf '<html><head><style></style></head><body><h1>x</h1><h2>y</h2><script src="http://127.0.0.1/x.js"></script><div></body></html>' >"$T/bad1.html"
	assert_match "$(check_html "$T/bad1.html" 0)" "external reference src=" "external script"
	assert_match "$(check_html "$T/bad1.html" 0)" "unbalanced|unclosed" "unclosed tag"
	printf '<html><head><style></style></head><body><h1>\xff</h1><h2>y</h2></body></html>' >"$T/bad2.html"
	assert_match "$(check_html "$T/bad2.html" 0)" "not UTF-8" "invalid byte"
	printf '<html><head><style></style></head><body><h1>x</h1><h2>y</h2></body></html>' >"$T/good.html"
	assert_eq "$(check_html "$T/good.html" 0)" "" "a good page passes"
}

# section FILE NAME: the part of the HTML page about indicator NAME.
section() {
	python3 - "$1" "$2" <<-'PY'
		import sys, re
		t = open(sys.argv[1], encoding="utf-8").read()
		m = re.search(r'<h2 id="ind-%s">.*?(?=<h2 |</body>)' % re.escape(sys.argv[2]), t, re.S)
		print(m.group(0) if m else "")
	PY
}

test_html_report_charts_gaps_and_reasons() {
	setup
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" report --html -o "$T/r.html"
	assert_eq "$OUT" "" "nothing on stdout with -o"
	# neet: one chart; neet_gender: one per gender (k, m); housing: none.
	assert_eq "$(check_html "$T/r.html" 3)" "" "well-formed, self-contained, 3 charts, no bridged gap"
	local html neet
	html=$(cat "$T/r.html")
	assert_contains "$html" "<title>Amagerplanen &lt;test&gt; &amp; co</title>" "title escaped"
	assert_contains "$html" "Young people 15-29 &lt;neither&gt; in education" "description escaped"
	assert_contains "$html" "Counts from 1 to 5 are hidden" "suppression rule in words"
	assert_contains "$html" "secondary suppression" "secondary suppression in words"
	assert_match "$html" "[0-9]+ counts \([0-9]+%\) are hidden to protect" "how much is hidden, per table"
	assert_match "$html" "Made at [0-9]{4}-[0-9]{2}-[0-9]{2}T" "when it was made"
	neet=$(section "$T/r.html" neet)
	assert_contains "$neet" "<h2 id=\"ind-neet\">Unge uden uddannelse eller job</h2>" "indicator title"
	# The total line is drawn and named in the legend.
	assert_contains "$neet" "stroke=\"#000000\" stroke-width=\"3\"" "total line distinguished"
	assert_contains "$neet" ">I alt</text>" "total in the legend"
	assert_contains "$neet" "<th>I alt</th>" "total column in the table"
	# Known published values, with the measure's decimals.
	assert_contains "$neet" "<tr><td>2025-02</td><td>58.3</td><td>36.0</td><td>40.0</td><td>42.3</td></tr>" \
		"2025-02 row: Hørgården 7/12, Remisevænget 9/25, Urbanplanen 6/15, total 22/52"
	# Every hidden share: a hollow marker whose tooltip gives the row's
	# reason, an en dash with a footnote in the table, the reason in a note.
	local nhidden reasons
	nhidden=$(psql_q "SELECT count(*) FROM partner.neet WHERE neet_share_suppressed")
	assert_ne "$nhidden" "0" "the data has hidden shares"
	assert_eq "$(grep -o '<circle[^>]*fill="#fff"' <<<"$neet" | wc -l)" "$nhidden" "one hollow marker per hidden point"
	assert_contains "$neet" "<td>2025-01</td><td>–¹</td>" "Hørgården 2025-01 hidden in the table"
	assert_match "$neet" "<title>Hørgården, 2025-01: hidden \\([^<]+\\)</title>" "tooltip with the reason"
	mapfile -t reasons < <(psql_q "SELECT DISTINCT suppression_reason FROM partner.neet WHERE neet_share_suppressed ORDER BY 1")
	assert_ne "${#reasons[@]}" "0" "reasons recorded"
	python3 - "$T/r.html" "${reasons[@]}" <<-'PY' || fail "a suppression reason is not stated in the report"
		import sys, html, re
		t = html.unescape(open(sys.argv[1], encoding="utf-8").read())
		for r in sys.argv[2:]:
		    r = r.split(": ", 1)[1]  # the reason, without the column names
		    if not re.search(r"\d+ points? hidden: " + re.escape(r), t):
		        print("missing note for reason", r); sys.exit(1)
	PY
	# Charts per gender, with the area total held.
	local g
	g=$(section "$T/r.html" neet_gender)
	assert_contains "$g" "<h3>gender: k</h3>" "chart for gender k"
	assert_contains "$g" "<h3>gender: m</h3>" "chart for gender m"
	# An indicator whose table does not exist: said so, not an error.
	assert_contains "$(section "$T/r.html" housing)" "Not computed yet" "housing not computed"
	assert_eq "$(psql_q "SELECT to_regclass('partner.housing') IS NULL")" "t" "partner.housing really missing"
}

# The report in the partners' language (issue 16, item 8): Danish text and
# lang attribute, the configured labels on axes, legends, table headers and
# in the dictionary, decimal commas, the scale written once ("× 100", never
# "pupils1"), a count that needs the following month shown as "ikke opgjort
# endnu" in the latest month (NULL in the table, not 0), the SQL hint only
# in the analysts' section, and every table as a CSV file in a data: link.
danish_conf() {
	REPORT_LANG=da conf 'dimension_labels = ["area: Boligområde", "month: Måned", "gender: Køn"];'
	python3 - "$T/s.conf" <<-'PY'
		import sys
		p = sys.argv[1]
		s = open(p, encoding="utf-8").read()
		s = s.replace('{ name = "neet"; description = "Of them NEET"; }',
		              '{ name = "neet"; description = "Of them NEET"; needs_next_period = true; label = "Uden job eller uddannelse"; }', 1)
		s = s.replace('scale = 100.0; decimals = 1; change = true; }',
		              'scale = 100.0; decimals = 1; change = true; label = "Andel uden job eller uddannelse"; }', 1)
		s = s.replace('ratios = ( { name = "share"; numerator = "neet"; denominator = "young";\n',
		              'ratios = ( { name = "mean"; numerator = "neet"; denominator = "young"; scale = 1.0; decimals = 2; },\n'
		              '{ name = "share"; numerator = "neet"; denominator = "young";\n', 1)
		s = s.replace('dimensions = ["area", "month", "gender"]; time = "month"; series = "area";',
		              'dimensions = ["area", "month", "gender"]; time = "month"; series = "area"; chart = "share";', 1)
		open(p, "w", encoding="utf-8").write(s)
	PY
	assert_contains "$(cat "$T/s.conf")" 'needs_next_period = true' "conf edited"
	assert_contains "$(cat "$T/s.conf")" 'name = "mean"' "conf edited"
	assert_contains "$(cat "$T/s.conf")" 'chart = "share"' "conf edited"
}

test_danish_report_labels_numbers_and_csv() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS partner CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null 2>&1
	gen_data
	danish_conf
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" report --html -o "$T/r.html"
	# 3 charts; CSV files: neet 1 chart + all, neet_gender 2 + all.
	local out
	out=$(python3 "$SP_TESTDIR/html_check.py" "$T/r.html" --need html,head,style,body,h1,h2,table --svg 3 --csv 5 --no-bridged-gaps 2>&1) || true
	assert_eq "$out" "" "well-formed, self-contained, 3 charts, 5 CSV links"
	local html neet
	html=$(cat "$T/r.html")
	assert_contains "$html" '<html lang="da">' "lang attribute"
	assert_contains "$html" "<h2>Om tallene</h2>" "Danish text"
	assert_match "$html" "Lavet [0-9]{4}-[0-9]{2}-[0-9]{2}T" "Danish made-at line"
	assert_not_contains "$html" "Made at" "no English sentence"
	assert_not_contains "$html" "The chart shows" "no English sentence"
	neet=$(section "$T/r.html" neet)
	# Labels: axes, table header, the measure list; decimal commas.
	assert_contains "$neet" ">Måned</text>" "x axis labelled"
	assert_contains "$neet" ">Andel uden job eller uddannelse</text>" "y axis labelled"
	assert_contains "$neet" "<th>Måned</th>" "table header labelled"
	assert_contains "$neet" "<tr><td>2025-02</td><td>58,3</td><td>36,0</td><td>40,0</td><td>42,3</td></tr>" "decimal commas"
	assert_contains "$neet" "Figuren viser Andel uden job eller uddannelse over Måned, én linje pr. Boligområde" "chart sentence with labels"
	assert_contains "$neet" "(Uden job eller uddannelse / young × 100, 1 decimal)" "the scale written once"
	assert_not_contains "$neet" "neet_share" "no column name for readers"
	# The latest month: not known yet, in the table and as NULL, not 0.
	assert_eq "$(psql_q "SELECT count(*) FROM partner.neet WHERE month = '2025-03' AND neet IS NULL AND NOT neet_suppressed AND neet_share IS NULL AND NOT neet_share_suppressed")" \
		"$(psql_q "SELECT count(*) FROM partner.neet WHERE month = '2025-03' AND NOT neet_suppressed")" "2025-03: NULL where not suppressed"
	assert_eq "$(psql_q "SELECT count(*) FROM partner.neet WHERE month = '2025-03' AND coalesce(neet, 1) = 0")" "0" "never 0 in 2025-03"
	assert_eq "$(psql_q "SELECT neet FROM partner.neet WHERE month = '2025-02' AND area = 'I alt'")" "22" "earlier months as before"
	assert_match "$neet" "<tr><td>2025-03</td>(<td>[^<]*</td>)*<td>ikke opgjort endnu</td></tr>" "not known yet in the table"
	assert_contains "$neet" "ikke opgjort endnu: " "explained under the chart"
	# A mean (scale 1): no "young1".
	local g
	g=$(section "$T/r.html" neet_gender)
	assert_contains "$g" "(neet / young, 2 decimaler)" "scale 1 not printed"
	assert_contains "$g" "<h3>Køn: k</h3>" "dimension label in the heading"
	# The SQL hint only in the analysts' section, after every indicator.
	python3 - "$T/r.html" <<-'PY' || fail "SELECT * FROM partner outside the analysts' section"
		import sys
		t = open(sys.argv[1], encoding="utf-8").read()
		i = t.index("<h2>For analytikere</h2>")
		assert "SELECT * FROM partner" not in t[:i], "before"
		assert "SELECT * FROM partner" in t[i:], "missing"
		assert t.rindex('<h2 id="ind-') < i, "not at the end"
	PY
	# A CSV file: the table as shown, ';' and decimal commas, UTF-8 BOM.
	python3 - "$T/r.html" <<-'PY' || fail "CSV file of the neet chart"
		import sys, re, urllib.parse
		t = open(sys.argv[1], encoding="utf-8").read()
		m = re.search(r'<a download="neet-c1-1.csv" href="data:text/csv;charset=utf-8,([^"]*)"', t)
		text = urllib.parse.unquote(m.group(1))
		assert text.startswith("\ufeffMåned;Hørgården;Remisevænget;Urbanplanen;I alt\r\n"), text[:80]
		assert "\r\n2025-02;58,3;36,0;40,0;42,3\r\n" in text, text
	PY
	# The dictionary names the labels.
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" docs
	assert_contains "$OUT" 'month ("Måned") (time)' "dimension label in the dictionary"
	assert_contains "$OUT" '"Andel uden job eller uddannelse": ' "measure label in the dictionary"
	# A misspelt dimension label is an error, with the line.
	sed -i 's/"gender: Køn"/"gendr: Køn"/' "$T/s.conf"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
	assert_match "$ERR" "s.conf:[0-9]+: partner.dimension_labels: 'gendr: Køn' is not" "misspelt dimension"
}

# The page in a real browser at 1280 and 1920 px: no table scrolls
# sideways or reaches past the page, no cell wraps ("2025-/01"), every
# chart is visible.  The screenshots are kept in $SAMSPOR_ARTEFACTS (or
# the build directory's artefacts/).
test_report_in_a_browser() {
	command -v chromium >/dev/null 2>&1 || t_skip "no chromium (apt-get install chromium)"
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS partner CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null 2>&1
	gen_data
	danish_conf
	# Long names, as the plan's areas and labels are.
	sed -i 's/"area: Boligområde"/"area: Boligområde (afdeling i helhedsplanen)"/' "$T/s.conf"
	sed -i 's/Hørgården/Hørgården og Hørgården Syd/g; s/Remisevænget/Remisevænget Øst og Vest/g' "$T/in/unge.csv"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	local shots=${SAMSPOR_ARTEFACTS:-$BUILD_DIR/artefacts}/report out rc=0
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" report --html -o "$T/report-da.html"
	out=$(python3 "$SP_TESTDIR/browser_check.py" "$T/report-da.html" --width 1280 --width 1920 --shots "$shots" 2>&1) || rc=$?
	assert_eq "$rc:$out" "0:" "the page at 1280 and 1920 px"
	assert_file "$shots/report-da-1280.png" "screenshot at 1280 px kept"
	assert_file "$shots/report-da-1920.png" "screenshot at 1920 px kept"
}

test_markdown_summary() {
	setup
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" report
	assert_contains "$OUT" "# Amagerplanen \\<test\\> & co" "Markdown title"
	assert_contains "$OUT" "## Unge uden uddannelse eller job" "indicator heading"
	assert_contains "$OUT" "| month | Hørgården | Remisevænget | Urbanplanen | I alt |" "time x series table"
	assert_contains "$OUT" "| 2025-01 | –¹ |" "hidden cell with footnote"
	assert_contains "$OUT" "Not computed yet" "housing not computed"
	assert_not_contains "$OUT" "<svg" "no charts in Markdown"
}

test_no_identifier_in_the_report() {
	setup
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" report --html -o "$T/r.html"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" report -o "$T/r.md"
	python3 - "$T/cprs.txt" "$T/r.html" "$T/r.md" <<-'PY' || fail "a CPR number reached the report"
		import sys, html
		cprs = [l.strip() for l in open(sys.argv[1]) if l.strip()]
		hay = html.unescape(open(sys.argv[2], encoding="utf-8").read()) + open(sys.argv[3], encoding="utf-8").read()
		hay_digits = hay.replace("-", "")
		found = [c for c in cprs if c in hay_digits or c[:6] + "-" + c[6:] in hay]
		assert len(cprs) > 100, "too few CPR numbers scanned"
		if found:
		    print(len(found), "CPR numbers found"); sys.exit(1)
	PY
	local pn
	pn=$(psql_q "SELECT person FROM warehouse.youth LIMIT 1")
	assert_not_contains "$(cat "$T/r.html" "$T/r.md")" "$pn" "no pseudonym"
}

test_o_is_atomic_and_failure_keeps_the_old_file() {
	setup
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" report --html -o "$T/r.html"
	local ino1 ino2 before
	ino1=$(stat -c %i "$T/r.html")
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" report --html -o "$T/r.html"
	ino2=$(stat -c %i "$T/r.html")
	assert_ne "$ino2" "$ino1" "replaced by rename, not rewritten in place"
	assert_eq "$(find "$T" -maxdepth 1 -name 'r.html.*' | wc -l)" 0 "no temporary file left"
	before=$(sha256sum <"$T/r.html")
	# The warehouse unreachable: 75, the old report untouched.
	cp "$T/s.conf" "$T/ok.conf"
	sed -i 's|conninfo = "[^"]*"|conninfo = "host=127.0.0.1 port=1 dbname=warehouse connect_timeout=2"|' "$T/s.conf"
	assert_exit 75 "$SAMSPOR" -c "$T/s.conf" report --html -o "$T/r.html"
	assert_contains "$ERR" "nothing was written" "says nothing was written"
	assert_eq "$(sha256sum <"$T/r.html")" "$before" "old report unchanged after a failed connect"
	# A configuration error: 2, untouched.
	echo 'partner: { suppression_threshold = 2; };' >"$T/bad.conf"
	assert_exit 2 "$SAMSPOR" -c "$T/bad.conf" report --html -o "$T/r.html"
	assert_eq "$(sha256sum <"$T/r.html")" "$before" "old report unchanged after a configuration error"
	# A file that cannot be written: 1, with why, nothing left behind.
	assert_exit 1 "$SAMSPOR" -c "$T/ok.conf" report --html -o "$T/no/such/dir/r.html"
	assert_contains "$ERR" "cannot create a file beside" "says why"
	assert_no_file "$T/no"
	# Only the time it was made differs between two runs.
	assert_exit 0 "$SAMSPOR" -c "$T/ok.conf" report --html -o "$T/a.html"
	assert_exit 0 "$SAMSPOR" -c "$T/ok.conf" report --html -o "$T/b.html"
	assert_eq "$(diff <(grep -v 'class="made"' "$T/a.html") <(grep -v 'class="made"' "$T/b.html") && echo same)" "same" "deterministic"
}

test_nothing_computed_yet() {
	setup
	psql_q "DROP SCHEMA partner CASCADE" >/dev/null
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" report --html -o "$T/r.html"
	assert_eq "$(check_html "$T/r.html" 0)" "" "well-formed, no charts"
	assert_eq "$(grep -c 'Not computed yet' "$T/r.html")" 3 "every indicator not computed yet"
	# A table from an earlier configuration (a column missing): the same.
	psql_q "CREATE SCHEMA partner; CREATE TABLE partner.neet (area text, month text)" >/dev/null
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" report --html -o "$T/r.html"
	assert_contains "$(section "$T/r.html" neet)" "earlier one" "stale table"
}

test_configured_report_written_by_sync() {
	setup "report = \"$T/auto.html\";"
	assert_file "$T/auto.html" "sync wrote partner.report"
	assert_eq "$(check_html "$T/auto.html" 3)" "" "the configured report is the full page"
}

test_usage_errors() {
	conf
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" report extra
	assert_contains "$ERR" "unexpected argument" "operand refused"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" report --bogus
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" report -o
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" report -o ""
	assert_exit 0 "$SAMSPOR" report --help
	assert_contains "$OUT" "report [--html] [-o FILE]" "help"
}

run_tests
