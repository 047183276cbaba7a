#!/usr/bin/env bash
# samspor docs against a real PostgreSQL: the data dictionary in Markdown
# and HTML after a sync of generated data — every table, column, rule,
# schedule, retention, key id and last load; a well-formed, self-contained
# HTML page; -o; a column dropped from the configuration flagged; no
# identifier of the generated people anywhere in it; an unreachable
# warehouse (75); and a warehouse nothing has been loaded into yet.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

GEN=$SP_TESTDIR/gen_csv.py
pg_start

# conf [EXTRA_COLUMN]: $T/s.conf with one csv connector loading
# $T/in/unge_*.csv into youth_status, with every kind of rule.
conf() {
	local extra=${1:-}
	mkdir -p "$T/in"
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		daemon: { timezone = "Europe/Copenhagen"; };
		maps: { areas = { file = "$T/areas.csv"; delimiter = ","; extract = "^([^,]+)"; default = "outside the plan"; }; };
		connectors = ( { name = "unge"; plugin = "csv";
		  description = "Ungedatabasen, exported nightly by the municipality";
		  schedule = "30 2 * * mon-fri";
		  source = { url = "$T/in/unge_*.csv"; encoding = "windows-1252"; };
		  streams = ( { table = "youth_status"; mode = "append";
		    description = "Education and employment status of residents aged 15-29";
		    cursor = "status_date";
		    max_reject_ratio = 0.5;
		    retention = "6y"; retention_column = "status_date";
		    columns = (
		      { name = "person"; from = "cpr"; rule = "pseudonym"; kind = "cpr"; description = "The young person"; },
		      { name = "birth_year"; from = "cpr"; rule = "cpr_birth_year"; },
		      { name = "age_group"; from = "cpr"; rule = "age_band"; bands = [15, 18, 25, 30]; },
		      { name = "area"; from = "adresse"; rule = "lookup"; map = "areas"; },
		      $extra
		      { name = "status"; from = "status"; type = "text"; description = "Education or employment status"; },
		      { name = "status_date"; from = "statusdato"; type = "date"; format = "%d-%m-%Y"; }
		    ); } ); } );
	EOF
}

gen() { # gen ROWS SEED [BADRATE]
	python3 "$GEN" --rows "$1" --seed "$2" --bad-rate "${3:-0}" --out "$T/in/unge_1.csv" \
		--areas-map "$T/areas.csv" --print-identifiers "$T/ids.txt"
}

reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
}

# loaded: a config with an extra kept column, and one sync of 300 rows.
loaded() {
	reset_db
	conf '{ name = "benefit_dkk"; from = "ydelse_kr"; type = "numeric"; decimal_comma = true; },'
	gen 300 11 0.02
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
}

test_markdown_documents_tables_columns_and_rules() {
	loaded
	local key_id
	key_id=$(psql_q "SELECT key_id FROM samspor.key_history")
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" docs
	local md=$OUT
	assert_contains "$md" "# Data dictionary" "title"
	assert_contains "$md" "### warehouse.youth_status" "table heading"
	assert_contains "$md" "Education and employment status of residents aged 15-29" "table description"
	assert_contains "$md" "connector unge, plugin csv — Ungedatabasen, exported nightly" "source connector"
	for col in person birth_year age_group area benefit_dkk status status_date _run_id _loaded_at; do
		assert_match "$md" "\\| $col \\| " "column $col listed"
	done
	assert_contains "$md" "| person | uuid | no |" "type and not-null from the catalog"
	assert_contains "$md" "The young person. Pseudonym (kind cpr)" "column comment from the catalog"
	assert_contains "$md" "Pseudonymised: the identifier in source field cpr" "pseudonym rule"
	assert_contains "$md" "keyed HMAC" "pseudonym says keyed HMAC"
	assert_contains "$md" "key id $key_id" "key id with the column"
	assert_contains "$md" "Current key id: $key_id." "current key id"
	assert_contains "$md" "year of birth (cpr_birth_year)" "birth year rule"
	assert_contains "$md" "bands 15-17, 18-24, 25-29, 30+" "age bands"
	assert_contains "$md" "looked up through map areas" "lookup rule"
	assert_contains "$md" "a value not in the map becomes 'outside the plan'" "lookup default"
	assert_contains "$md" "the source value is not kept" "generalised: not kept"
	assert_contains "$md" "Kept: the value of source field ydelse_kr, as a decimal number (numeric)" "kept rule"
	assert_contains "$md" "at 02:30, on Monday to Friday (cron 30 2" "schedule in words and cron"
	assert_contains "$md" "time zone Europe/Copenhagen" "time zone"
	assert_contains "$md" "append: each load adds" "load mode"
	assert_contains "$md" "**Cursor:** status_date" "cursor"
	assert_contains "$md" "6 years: rows whose status_date is older than that are deleted" "retention"
	local rows when
	rows=$(psql_q "SELECT count(*) FROM warehouse.youth_status")
	assert_contains "$md" "**Rows now:** $rows" "row count"
	when=$(psql_q "SELECT to_char(finished_at AT TIME ZONE 'Europe/Copenhagen', 'YYYY-MM-DD\"T\"HH24:MI') FROM samspor.sync_run WHERE status = 'succeeded'")
	assert_contains "$md" "**Last successful load:** $when" "last load time"
	assert_contains "$md" "every count from 1 up to the suppression threshold (here 5; default 5, never below 3)" "suppression rule"
	assert_contains "$md" "Secondary suppression hides further cells" "secondary suppression"
	assert_contains "$md" "samspor forget" "erasure"
	assert_contains "$md" "Erasures so far: 0" "erasure count"
	assert_contains "$md" "never a value" "rejects keep no values"
	for role in samspor_loader samspor_analyst samspor_partner; do
		assert_contains "$md" "| $role |" "role $role"
	done
	assert_contains "$md" "| samspor.sync_run |" "bookkeeping tables"
}

test_html_is_well_formed_and_self_contained() {
	loaded
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" docs --html -o "$T/dict.html"
	assert_eq "$OUT" "" "nothing on stdout with -o"
	assert_file "$T/dict.html"
	assert_exit 0 python3 "$SP_TESTDIR/html_check.py" "$T/dict.html" --need html,head,style,body,table,h1,h3
	assert_eq "$OUT$ERR" "" "well-formed and self-contained"
	local html
	html=$(cat "$T/dict.html")
	assert_contains "$html" "<h3>warehouse.youth_status</h3>" "table heading"
	assert_contains "$html" "<td>area</td>" "column"
	assert_contains "$html" "cron 30 2 * * mon-fri" "cron unescaped in HTML"
	assert_contains "$html" "&#39;outside the plan&#39;" "text escaped"
	# -o replaces atomically and leaves no temporary file behind.
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" docs -o "$T/dict.html"
	assert_contains "$(head -c 100 "$T/dict.html")" "# Data dictionary" "rewritten as Markdown"
	assert_eq "$(find "$T" -maxdepth 1 -name 'dict.html.*' | wc -l)" 0 "no temporary file left"
}

test_removed_column_is_flagged() {
	loaded
	conf # the same configuration without benefit_dkk
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" docs
	assert_match "$OUT" "\\| benefit_dkk \\| numeric \\| no \\| [^|]* \\| No longer loaded" "dropped column flagged"
	# A table no stream loads any more is listed as such.
	psql_q "CREATE TABLE warehouse.old_thing (x int); COMMENT ON TABLE warehouse.old_thing IS 'From an earlier plan'" >/dev/null
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" docs
	assert_contains "$OUT" "## Tables no longer loaded" "orphan section"
	assert_contains "$OUT" "| warehouse.old_thing | From an earlier plan |" "orphan table"
}

test_no_identifier_in_the_dictionary() {
	loaded
	echo 0101011234 | "$SAMSPOR" -c "$T/s.conf" forget --kind cpr >/dev/null
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" docs
	printf '%s' "$OUT" >"$T/dict.md"
	assert_contains "$OUT" "Erasures so far: 1" "erasure counted"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" docs --html
	printf '%s' "$OUT" >"$T/dict.html"
	python3 - "$T/ids.txt" "$T/dict.md" "$T/dict.html" <<-'EOF'
		import sys, re, html
		ids = [l.rstrip("\n").split("\t", 1) for l in open(sys.argv[1], encoding="utf-8") if "\t" in l]
		hay = open(sys.argv[2], encoding="utf-8").read()
		hay += html.unescape(open(sys.argv[3], encoding="utf-8").read())
		needles = set()
		for kind, v in ids:
		    v = v.strip()
		    # an empty or short needle matches anything: refuse, do not skip
		    if len(v) < 6:
		        print("an identifier too short to scan for:", kind, len(v)); sys.exit(1)
		    needles.add(v)
		    if kind == "cpr":
		        d = re.sub(r"[^0-9]", "", v)
		        if len(d) >= 6: needles.add(d)
		    if kind == "address":
		        needles.add(v.split(",")[0])
		found = [n for n in needles if len(n) >= 6 and n in hay]
		if not any(k == "cpr" for k, _ in ids) or not any(k == "name" for k, _ in ids):
		    print("no CPR number or no name among the identifiers scanned"); sys.exit(1)
		if found:
		    print("identifiers found:", len(found)); sys.exit(1)
		if len(needles) < 100:
		    print("too few identifiers scanned:", len(needles)); sys.exit(1)
	EOF
	# Nor a pseudonym: the dictionary holds no row values at all.
	local pn
	pn=$(psql_q "SELECT person FROM warehouse.youth_status LIMIT 1")
	assert_not_contains "$(cat "$T/dict.md" "$T/dict.html")" "$pn" "no pseudonym"
}

test_unreachable_warehouse_is_temporary_failure() {
	conf
	sed -i 's|conninfo = "[^"]*"|conninfo = "host=127.0.0.1 port=1 dbname=warehouse connect_timeout=2"|' "$T/s.conf"
	assert_exit 75 "$SAMSPOR" -c "$T/s.conf" docs -o "$T/dict.md"
	assert_contains "$ERR" "cannot connect to the warehouse" "says why"
	assert_contains "$ERR" "nothing was written" "says nothing was written"
	assert_no_file "$T/dict.md"
}

test_before_any_load_documents_configured_streams() {
	reset_db
	conf
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" docs
	assert_contains "$OUT" "Nothing has been loaded into this warehouse yet" "says nothing loaded"
	assert_contains "$OUT" "### warehouse.youth_status" "configured table documented"
	assert_contains "$OUT" "not loaded yet" "table not loaded yet"
	assert_match "$OUT" "\\| person \\| uuid \\| no \\| The young person \\(not loaded yet\\) \\| Pseudonymised" "configured column documented"
	assert_contains "$OUT" "| status_date | date |" "kept column documented"
	# Read-only: docs created nothing.
	assert_eq "$(psql_q "SELECT count(*) FROM pg_namespace WHERE nspname IN ('samspor', 'warehouse')")" 0 "nothing created"
}

run_tests
