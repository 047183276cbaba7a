#!/usr/bin/env bash
# Warehouse access: the roles migration 2 creates, samspor grant, and
# row-level security by organisation.  The superuser syncs and grants; then
# each login role is used in turn (psql -U ROLE: the cluster trusts local
# connections, which is enough to test privileges) to prove what it can and
# cannot read.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

pg_start

# conf: $T/s.conf loading $T/in/rows.csv into warehouse.homes, restricted
# by area.
conf() {
	mkdir -p "$T/in"
	[[ -f $T/key ]] || "$SAMSPOR" keygen "$T/key" 2>/dev/null
	cat >"$T/s.conf" <<-EOF
		warehouse: { conninfo = "$SP_CONNINFO"; };
		pseudonym: { key_file = "$T/key"; };
		connectors = ( { name = "homes"; plugin = "csv";
		  source = { url = "$T/in/rows.csv"; delimiter = ";"; };
		  streams = ( { table = "homes"; restrict_by = "area";
		    columns = (
		      { name = "tenancy"; from = "id"; rule = "pseudonym"; kind = "tenancy"; },
		      { name = "area"; from = "area"; rule = "keep"; },
		      { name = "arrears"; from = "arrears"; type = "int"; }
		    ); } ); } );
	EOF
	{
		echo "id;area;arrears"
		for i in 1 2 3 4 5 6; do
			echo "t$i;area$(((i - 1) % 3 + 1));$i"
		done
	} >"$T/in/rows.csv"
}

# as ROLE SQL: run SQL logged in as ROLE; prints the output, fails on error.
as() { psql_q "$2" -U "$1" 2>&1; }

reset_db() {
	psql_q "DROP SCHEMA IF EXISTS warehouse CASCADE; DROP SCHEMA IF EXISTS partner CASCADE;
		DROP SCHEMA IF EXISTS samspor_access CASCADE; DROP SCHEMA IF EXISTS samspor CASCADE" >/dev/null
}

setup() {
	reset_db
	conf
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_match "$OUT" "read 6, loaded 6" "loaded"
	printf 'S3cret-A\n' >"$T/pw"
	chmod 600 "$T/pw"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" grant "Boligselskab-A" --role analyst --areas area1 --password-file "$T/pw"
	assert_contains "$OUT" "org_boligselskab_a_analyst" "role named"
	assert_not_contains "$OUT$ERR" "S3cret-A" "password never printed"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" grant kommunen --role analyst --all-areas
	assert_contains "$OUT" "\\password org_kommunen_analyst" "how to set a password"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" grant skolen --role partner
	psql_q "CREATE VIEW partner.dummy AS SELECT area, count(*) AS n FROM warehouse.homes GROUP BY area" >/dev/null
}

test_migration_creates_roles_and_schemas() {
	setup
	assert_eq "$(psql_q "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'samspor\_%'")" \
		"samspor_analyst,samspor_analyst_all,samspor_loader,samspor_partner" "group roles"
	assert_eq "$(psql_q "SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles WHERE rolname LIKE 'samspor\_%' AND rolcanlogin")" "" "group roles are NOLOGIN"
	assert_eq "$(psql_q "SELECT count(*) FROM pg_namespace WHERE nspname IN ('partner', 'samspor_access')")" 2 "schemas"
	assert_eq "$(psql_q "SELECT max(version) FROM samspor.schema_version")" 5 "version 5 (key generations, sync_run status skipped)"
	assert_eq "$(psql_q "SELECT relrowsecurity FROM pg_class WHERE oid = 'warehouse.homes'::regclass")" t "RLS enabled"
	assert_eq "$(psql_q "SELECT string_agg(org || ':' || area, ',') FROM samspor.org_area")" "boligselskab_a:area1" "org_area"
	# The roles exist now: a fresh migration keeps them and works.
	reset_db
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_eq "$(psql_q "SELECT max(version) FROM samspor.schema_version")" 5 "migrated with existing roles"
}

test_org_analyst_sees_only_its_areas() {
	setup
	local q="SELECT string_agg(DISTINCT area, ',') || ':' || count(*) FROM warehouse.homes"
	assert_eq "$(as org_boligselskab_a_analyst "$q")" "area1:2" "org A analyst: area1 only"
	assert_eq "$(as org_kommunen_analyst "$q")" "area1,area2,area3:6" "all-areas analyst sees all"
	# Re-running grant replaces the areas and stays idempotent.
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" grant "Boligselskab-A" --role analyst --areas "area1, area2"
	assert_contains "$OUT" "updated login role org_boligselskab_a_analyst" "updated"
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" grant "Boligselskab-A" --role analyst --areas "area1, area2"
	assert_eq "$(as org_boligselskab_a_analyst 'SELECT count(*) FROM warehouse.homes')" 4 "area1 and area2"
	assert_eq "$(psql_q "SELECT count(*) FROM pg_roles WHERE rolname = 'org_boligselskab_a_analyst'")" 1 "one role"
	# A later load keeps the policy.
	assert_exit 0 "$SAMSPOR" -c "$T/s.conf" sync
	assert_eq "$(as org_boligselskab_a_analyst 'SELECT count(*) FROM warehouse.homes')" 4 "after a reload"
	# Analysts read partner views but never the bookkeeping.
	assert_eq "$(as org_boligselskab_a_analyst 'SELECT count(*) FROM partner.dummy')" 3 "partner views"
	local t
	for t in samspor.sync_run samspor.org_area samspor.forgotten; do
		assert_exit 1 psql_q "SELECT count(*) FROM $t" -U org_boligselskab_a_analyst
		assert_contains "$ERR" "permission denied" "analyst on $t"
	done
	assert_exit 1 psql_q "INSERT INTO warehouse.homes VALUES (gen_random_uuid(), 'x', 1, 1)" -U org_kommunen_analyst
	assert_contains "$ERR" "permission denied" "analysts do not write"
}

test_partner_reads_partner_schema_only() {
	setup
	assert_eq "$(as org_skolen_partner 'SELECT sum(n) FROM partner.dummy')" 6 "partner reads schema partner"
	local t
	for t in warehouse.homes samspor.sync_run samspor.org_area samspor.rejects; do
		assert_exit 1 psql_q "SELECT count(*) FROM $t" -U org_skolen_partner
		assert_contains "$ERR" "permission denied" "partner on $t"
	done
	assert_exit 1 psql_q "SELECT samspor_access.visible_areas(current_user)" -U org_skolen_partner
	assert_contains "$ERR" "permission denied" "partner and the RLS helper"
}

test_password_login() {
	# Every statement logged, so that "password not in the server log"
	# looks at the statements grant sent (a password in clear would be
	# there), not at an empty log.
	psql_q "ALTER SYSTEM SET log_statement = 'all'" >/dev/null
	psql_q "SELECT pg_reload_conf()" >/dev/null
	local from
	from=$(($(wc -c <"$SP_PG_DIR/postgres.log") + 1))
	setup
	local hba=$SP_PG_DIR/data/pg_hba.conf
	{ echo "local warehouse org_boligselskab_a_analyst scram-sha-256"; cat "$hba"; } >"$hba.new"
	cat "$hba.new" >"$hba"
	psql_q "SELECT pg_reload_conf()" >/dev/null
	assert_eq "$(PGPASSWORD=S3cret-A as org_boligselskab_a_analyst 'SELECT count(*) FROM warehouse.homes')" 2 "password login"
	assert_exit 2 env PGPASSWORD=wrong "$SP_PG_BINDIR/psql" -X -U org_boligselskab_a_analyst -c 'SELECT 1'
	assert_contains "$ERR" "password authentication failed" "wrong password"
	local logged
	logged=$(tail -c +"$from" "$SP_PG_DIR/postgres.log")
	grep -qE 'statement: .*ROLE .*org_boligselskab_a_analyst.*PASSWORD' <<<"$logged" ||
		fail "grant's password statement is not in the server log: nothing to check"
	assert_eq "$(grep -c 'S3cret-A' <<<"$logged" || true)" 0 "password not in the server log"
	psql_q "ALTER SYSTEM RESET log_statement" >/dev/null
	psql_q "SELECT pg_reload_conf()" >/dev/null
}

# Issue 13, item 13: what a login sees beyond its schema.  Only samspor's
# roles connect to the warehouse database; table statistics (n_tup_del
# counts erasures, n_live_tup every area's rows) are the monitoring role's
# only; and the pg_hba.conf lines the README gives keep partner and analyst
# logins out of the cluster's other databases.
test_logins_see_nothing_beyond_the_warehouse() {
	setup
	psql_q "CREATE ROLE stranger LOGIN; CREATE ROLE monitor LOGIN IN ROLE pg_monitor" >/dev/null
	assert_exit 2 psql_q "SELECT 1" -U stranger
	assert_contains "$ERR" "permission denied for database" "a login of no samspor role cannot connect"
	assert_eq "$(as org_skolen_partner 'SELECT 1')" 1 "a partner connects"
	assert_eq "$(as org_kommunen_analyst 'SELECT 1')" 1 "an analyst connects"
	local who
	for who in org_skolen_partner org_kommunen_analyst; do
		assert_exit 1 psql_q "SELECT n_tup_del FROM pg_stat_user_tables" -U "$who"
		assert_contains "$ERR" "permission denied for view pg_stat_user_tables" "$who: pg_stat_user_tables"
		assert_exit 1 psql_q "SELECT pg_stat_get_tuples_deleted(oid) FROM pg_class WHERE relname = 'homes'" -U "$who"
		assert_contains "$ERR" "permission denied for function" "$who: the function under it"
		assert_exit 1 psql_q "SELECT n_live_tup FROM pg_stat_all_tables" -U "$who"
	done
	psql_q "GRANT CONNECT ON DATABASE warehouse TO monitor" >/dev/null
	assert_eq "$(psql_q "SELECT count(*) > 0 FROM pg_stat_user_tables WHERE relname = 'homes'" -U monitor)" t "pg_monitor keeps them"
	# The README's pg_hba.conf lines, and another database of the cluster.
	psql_q "CREATE DATABASE other" >/dev/null
	local hba=$SP_PG_DIR/data/pg_hba.conf
	cp "$hba" "$T/hba.saved"
	{
		echo "local warehouse +samspor_partner,+samspor_analyst trust"
		echo "local all +samspor_partner,+samspor_analyst reject"
		cat "$hba"
	} >"$hba.new"
	cat "$hba.new" >"$hba"
	psql_q "SELECT pg_reload_conf()" >/dev/null
	assert_exit 2 psql_q "SELECT 1" -U org_skolen_partner -d other
	assert_contains "$ERR" "rejects connection" "a partner cannot connect to another database"
	assert_exit 2 psql_q "SELECT 1" -U org_kommunen_analyst -d postgres
	assert_eq "$(as org_skolen_partner 'SELECT 1')" 1 "the warehouse still"
	assert_eq "$(psql_q "SELECT 1" -d other)" 1 "others still connect to other"
	cat "$T/hba.saved" >"$hba"
	psql_q "SELECT pg_reload_conf()" >/dev/null
}

test_grant_refuses_bad_input() {
	conf
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" grant "9lives" --role analyst --all-areas
	assert_contains "$ERR" "organisation name" "bad name"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" grant "a'; DROP TABLE x; --" --role partner
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" grant orga --role boss
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" grant orga --role analyst
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" grant orga --role partner --areas a1
	printf 'pw\n' >"$T/open"
	chmod 644 "$T/open"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" grant orga --role partner --password-file "$T/open"
	assert_contains "$ERR" "0600" "password file mode"
	# Without CREATEROLE: a clear error.
	# (an administrator grants it CONNECT: no other login connects)
	psql_q "DROP ROLE IF EXISTS sp_plain; CREATE ROLE sp_plain LOGIN; GRANT CONNECT ON DATABASE warehouse TO sp_plain" >/dev/null
	sed -i "s|user=postgres|user=sp_plain|" "$T/s.conf"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" grant orga --role partner
	assert_contains "$ERR" "may not create roles" "no CREATEROLE"
	assert_eq "$(psql_q "SELECT count(*) FROM pg_roles WHERE rolname = 'org_orga_partner'")" 0 "nothing created"
}

test_config_validates_restrict_by() {
	conf
	sed -i 's|restrict_by = "area"|restrict_by = "nosuch"|' "$T/s.conf"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
	assert_contains "$ERR" "restrict_by column 'nosuch'" "unknown column"
	sed -i 's|restrict_by = "nosuch"|restrict_by = "arrears"|' "$T/s.conf"
	assert_exit 2 "$SAMSPOR" -c "$T/s.conf" check
	assert_contains "$ERR" "must be a text column" "text only"
}

run_tests
