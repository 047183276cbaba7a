#include "config.h"

#include "store/access.h"

#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "store/warehouse.h"
#include "base/util.h"

/* Statements in a PL/pgSQL block that skip, with a NOTICE, what the
 * current user may not grant (a schema someone else owns). */
static void tolerant(sp_buf *b, const char *stmts, const char *what) {
  sp_buf_printf(b,
                "  BEGIN\n%s"
                "  EXCEPTION WHEN insufficient_privilege THEN\n"
                "    RAISE NOTICE 'samspor: %% may not grant %s; the "
                "schema''s owner should', current_user;\n"
                "  END;\n",
                stmts, what);
}

/* Read-only catalog lookups: a GRANT rewrites its catalog row even when
 * it changes nothing, and two at once fail with "tuple concurrently
 * updated", so nothing is granted that is there already. */
int sp_access_missing(PGconn *conn, const char *schema, const char *qt,
                      const char *restrict_col) {
  const char *p[] = {schema, qt, restrict_col};
  PGresult *res = NULL;
  char err[256];
  /* In the caller's transaction a failed check must not abort it. */
  int in_tx = PQtransactionStatus(conn) == PQTRANS_INTRANS;
  if (in_tx)
    PQclear(PQexec(conn, "SAVEPOINT samspor_access_check"));
  int rc = sp_pg_execp(
      conn,
      "WITH r AS (SELECT "
      "EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" SP_ROLE_LOADER "') l, "
      "EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" SP_ROLE_ANALYST
      "') a, "
      "EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" SP_ROLE_PARTNER
      "') p, "
      "EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '" SP_ROLE_ANALYST_ALL
      "') aa, "
      "to_regnamespace(quote_ident($1::text)) AS ws, "
      "to_regnamespace('partner') AS ps, "
      "to_regclass($2::text) AS t, "
      "pg_has_role(current_user, (SELECT datdba FROM pg_database WHERE "
      "datname = current_database()), 'MEMBER') AS owner, "
      "(SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS su) "
      "SELECT "
      " ws IS NULL OR ($2::text IS NOT NULL AND t IS NULL)"
      /* the loader */
      " OR (l AND (NOT has_schema_privilege('" SP_ROLE_LOADER
      "', 'samspor', 'USAGE')"
      "  OR NOT has_schema_privilege('" SP_ROLE_LOADER "', ws, 'USAGE, CREATE')"
      "  OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = "
      "'samspor'::regnamespace AND c.relkind IN ('r', 'p', 'v') AND NOT "
      "has_table_privilege('" SP_ROLE_LOADER
      "', c.oid, 'SELECT, INSERT, UPDATE, DELETE'))"
      "  OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = "
      "'samspor'::regnamespace AND CASE WHEN c.relkind = 'S' THEN NOT "
      "has_sequence_privilege('" SP_ROLE_LOADER
      "', c.oid, 'USAGE, SELECT, UPDATE') END)"
      "  OR (t IS NOT NULL AND NOT has_table_privilege('" SP_ROLE_LOADER
      "', t, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE'))))"
      /* analysts */
      " OR (a AND (NOT has_schema_privilege('" SP_ROLE_ANALYST "', ws, 'USAGE')"
      "  OR NOT has_schema_privilege('" SP_ROLE_ANALYST "', '" SP_ACCESS_SCHEMA
      "', 'USAGE')"
      "  OR NOT has_function_privilege('" SP_ROLE_ANALYST
      "', '" SP_ACCESS_SCHEMA ".visible_areas(name)', 'EXECUTE')"
      "  OR NOT has_function_privilege('" SP_ROLE_ANALYST
      "', '" SP_ACCESS_SCHEMA ".sees_all(name)', 'EXECUTE')"
      "  OR (t IS NOT NULL AND NOT has_table_privilege('" SP_ROLE_ANALYST
      "', t, 'SELECT'))))"
      /* schema partner, and its default privileges */
      " OR (p AND a AND ps IS NOT NULL AND (NOT "
      "has_schema_privilege('" SP_ROLE_PARTNER
      "', ps, 'USAGE') OR NOT has_schema_privilege('" SP_ROLE_ANALYST
      "', ps, 'USAGE')"
      "  OR EXISTS (SELECT 1 FROM pg_class c WHERE c.relnamespace = ps AND "
      "c.relkind IN ('r', 'p', 'v', 'm') AND (NOT "
      "has_table_privilege('" SP_ROLE_PARTNER
      "', c.oid, 'SELECT') OR NOT has_table_privilege('" SP_ROLE_ANALYST
      "', c.oid, 'SELECT')))"
      "  OR (SELECT count(DISTINCT x.grantee) FROM pg_default_acl d, "
      "aclexplode(d.defaclacl) x WHERE d.defaclnamespace = ps AND "
      "d.defaclobjtype = 'r' AND d.defaclrole = (SELECT oid FROM pg_roles "
      "WHERE rolname = current_user) AND x.privilege_type = 'SELECT' AND "
      "x.grantee IN (SELECT oid FROM pg_roles WHERE rolname IN "
      "('" SP_ROLE_PARTNER "', '" SP_ROLE_ANALYST "'))) < 2))"
      " OR (l AND aa AND NOT pg_has_role('" SP_ROLE_LOADER
      "', '" SP_ROLE_ANALYST_ALL "', 'MEMBER'))"
      /* CONNECT on the database */
      " OR (owner AND (has_database_privilege('public', current_database(), "
      "'CONNECT') OR EXISTS (SELECT 1 FROM unnest(ARRAY['" SP_ROLE_LOADER
      "', '" SP_ROLE_ANALYST "', '" SP_ROLE_PARTNER "']) r WHERE EXISTS "
      "(SELECT 1 FROM pg_roles WHERE rolname = r) AND NOT EXISTS (SELECT 1 "
      "FROM pg_database d, aclexplode(d.datacl) x WHERE d.datname = "
      "current_database() AND x.grantee = (SELECT oid FROM pg_roles WHERE "
      "rolname = r) AND x.privilege_type = "
      "'CONNECT'))))"
      " OR (su AND has_table_privilege('public', "
      "'pg_catalog.pg_stat_user_tables', 'SELECT'))"
      /* the stream table: partners nothing, RLS as configured */
      " OR (t IS NOT NULL AND p AND EXISTS (SELECT 1 FROM pg_class c, "
      "aclexplode(c.relacl) x WHERE c.oid = t AND x.grantee = (SELECT oid "
      "FROM pg_roles WHERE rolname = '" SP_ROLE_PARTNER "')))"
      " OR (t IS NOT NULL AND (SELECT relrowsecurity FROM pg_class WHERE oid = "
      "t) IS DISTINCT FROM ($3::text IS NOT NULL) AND ($3::text IS NOT NULL OR "
      "EXISTS "
      "(SELECT 1 FROM pg_policy WHERE polrelid = t AND polname = "
      "'samspor_org')))"
      " OR (t IS NOT NULL AND $3::text IS NULL AND EXISTS (SELECT 1 FROM "
      "pg_policy "
      "WHERE polrelid = t AND polname = 'samspor_org'))"
      " OR (t IS NOT NULL AND $3::text IS NOT NULL AND a AND NOT EXISTS "
      "(SELECT 1 "
      "FROM pg_policy WHERE polrelid = t AND polname = 'samspor_org' AND "
      "pg_get_expr(polqual, polrelid) LIKE '%' || quote_ident($3::text) || ' "
      "IN %'))"
      " FROM r",
      3, p, PGRES_TUPLES_OK, &res, err, sizeof err);
  if (rc)
    sp_warn(NULL, "checking the warehouse's grants: %s", err);
  if (in_tx)
    PQclear(PQexec(conn, rc ? "ROLLBACK TO SAVEPOINT samspor_access_check"
                            : "RELEASE SAVEPOINT samspor_access_check"));
  int missing = rc != 0 || strcmp(PQgetvalue(res, 0, 0), "f") != 0;
  PQclear(res);
  return missing;
}

/* The grants to samspor's roles on the schemas and to each other, each
 * tolerant of a role that cannot be granted. */
static void access_roles_sql(sp_buf *b, const char *qs) {
  sp_buf s;
  sp_buf_init(&s);
  /* The loader writes: bookkeeping and the warehouse schema. */
  sp_buf_reset(&s);
  sp_buf_printf(&s,
                "    GRANT USAGE ON SCHEMA samspor TO " SP_ROLE_LOADER ";\n"
                "    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN "
                "SCHEMA samspor TO " SP_ROLE_LOADER ";\n"
                "    GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "
                "samspor TO " SP_ROLE_LOADER ";\n"
                "    GRANT USAGE, CREATE ON SCHEMA %s TO " SP_ROLE_LOADER ";\n",
                qs);
  sp_buf_puts(b, "  IF has_loader THEN\n");
  tolerant(b, s.data, "the loader its privileges");
  sp_buf_puts(b, "  END IF;\n");
  /* Analysts: the warehouse schema and the RLS helper functions. */
  sp_buf_reset(&s);
  sp_buf_printf(&s,
                "    GRANT USAGE ON SCHEMA %s TO " SP_ROLE_ANALYST ";\n"
                "    GRANT USAGE ON SCHEMA " SP_ACCESS_SCHEMA
                " TO " SP_ROLE_ANALYST ";\n"
                "    GRANT EXECUTE ON FUNCTION " SP_ACCESS_SCHEMA
                ".visible_areas(name), " SP_ACCESS_SCHEMA
                ".sees_all(name) TO " SP_ROLE_ANALYST ";\n",
                qs);
  sp_buf_puts(b, "  IF has_analyst THEN\n");
  tolerant(b, s.data, "analysts usage of the warehouse schema");
  sp_buf_puts(b, "  END IF;\n");
  /* Schema partner: partners and analysts read all of it, including views
   * created later by this user. */
  sp_buf_puts(b, "  IF has_partner AND has_analyst THEN\n");
  tolerant(
      b,
      "    GRANT USAGE ON SCHEMA partner TO " SP_ROLE_PARTNER
      ", " SP_ROLE_ANALYST ";\n"
      "    GRANT SELECT ON ALL TABLES IN SCHEMA partner TO " SP_ROLE_PARTNER
      ", " SP_ROLE_ANALYST ";\n"
      "    ALTER DEFAULT PRIVILEGES IN SCHEMA partner GRANT SELECT ON "
      "TABLES TO " SP_ROLE_PARTNER ", " SP_ROLE_ANALYST ";\n",
      "on schema partner");
  sp_buf_puts(b, "  END IF;\n");
  /* Indicator queries run as samspor_analyst_all (indicators.c): the
   * loader may take that role, which reads and never writes. */
  sp_buf_puts(b, "  IF has_loader AND has_analyst_all THEN\n");
  tolerant(b, "    GRANT " SP_ROLE_ANALYST_ALL " TO " SP_ROLE_LOADER ";\n",
           SP_ROLE_ANALYST_ALL " to the loader");
  sp_buf_puts(b, "  END IF;\n");
  sp_buf_free(&s);
}

static void access_connect_sql(sp_buf *b) {
  /* Only samspor's roles connect to the warehouse database (the owner and
   * superusers always may).  Only its owner may change that. */
  sp_buf_puts(b,
              "  IF pg_has_role(current_user, (SELECT datdba FROM pg_database "
              "WHERE datname = current_database()), 'MEMBER') THEN\n"
              "    IF has_database_privilege('public', current_database(), "
              "'CONNECT') THEN\n"
              "      EXECUTE format('REVOKE CONNECT ON DATABASE %I "
              "FROM PUBLIC', current_database());\n"
              "    END IF;\n"
              "    FOREACH r IN ARRAY ARRAY['" SP_ROLE_LOADER
              "', '" SP_ROLE_ANALYST "', '" SP_ROLE_PARTNER "'] LOOP\n"
              /* only when missing: a GRANT rewrites the catalog row, and
               * two loads at once would collide on it */
              "      IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) AND "
              "NOT EXISTS (SELECT 1 FROM pg_database d, aclexplode(d.datacl) "
              "a WHERE d.datname = current_database() AND a.grantee = "
              "r::regrole AND a.privilege_type = 'CONNECT') THEN\n"
              "        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', "
              "current_database(), r);\n"
              "      END IF;\n"
              "    END LOOP;\n"
              "  ELSE\n"
              "    RAISE NOTICE 'samspor: % does not own database %; its owner "
              "should REVOKE CONNECT ON DATABASE % FROM PUBLIC and GRANT it "
              "to " SP_ROLE_LOADER ", " SP_ROLE_ANALYST ", " SP_ROLE_PARTNER
              "', current_user, current_database(), current_database();\n"
              "  END IF;\n");
}

static void access_stats_sql(sp_buf *b) {
  /* Table statistics are readable by every role by default: n_tup_del
   * counts erasures, n_live_tup other areas' rows.  They are catalog
   * objects of this database, which only a superuser may restrict; the
   * monitoring role keeps them. */
  sp_buf_puts(
      b,
      "  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) "
      "THEN\n"
      "    FOR r IN SELECT c.oid::regclass::text FROM pg_class c WHERE "
      "c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'v' AND "
      "c.relname ~ '^pg_stat(io)?_(xact_)?(all|user|sys)_(tables|indexes|"
      "sequences)$' AND has_table_privilege('public', c.oid, 'SELECT') LOOP\n"
      "      EXECUTE format('REVOKE SELECT ON %s FROM PUBLIC', r);\n"
      "      EXECUTE format('GRANT SELECT ON %s TO pg_monitor', r);\n"
      "    END LOOP;\n"
      "    FOR r IN SELECT p.oid::regprocedure::text FROM pg_proc p WHERE "
      "p.pronamespace = 'pg_catalog'::regnamespace AND p.proname ~ "
      "'^pg_stat_get_' AND p.proargtypes = '26'::oidvector AND "
      "has_function_privilege('public', p.oid, 'EXECUTE') LOOP\n"
      "      EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', r);\n"
      "      EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO pg_monitor', "
      "r);\n"
      "    END LOOP;\n"
      "  ELSIF has_table_privilege('public', "
      "'pg_catalog.pg_stat_user_tables', 'SELECT') THEN\n"
      "    RAISE NOTICE 'samspor: every role reads table statistics "
      "(pg_stat_user_tables: rows deleted per table); a superuser should "
      "revoke them from PUBLIC (README, Security)';\n"
      "  END IF;\n");
}

/* The grants and the row-level security policy of table qt (quoted),
 * restricted by column qc (quoted) or by none when NULL. */
static void access_table_sql(sp_buf *b, const char *qt, const char *qc) {
  sp_buf_printf(b,
                "  IF has_loader THEN\n"
                "    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON "
                "TABLE %s TO " SP_ROLE_LOADER ";\n"
                "  END IF;\n"
                "  IF has_analyst THEN\n"
                "    GRANT SELECT ON TABLE %s TO " SP_ROLE_ANALYST ";\n"
                "  END IF;\n"
                "  IF has_partner THEN\n"
                "    REVOKE ALL ON TABLE %s FROM " SP_ROLE_PARTNER ";\n"
                "  END IF;\n",
                qt, qt, qt);
  if (qc) {
    /* Without the analyst role there is no policy: RLS then shows
     * analysts nothing, which is the safe side.  sees_all in a scalar
     * subquery runs once per query, not once per row (30 times faster
     * on 300,000 rows; indicator queries read through this policy). */
    sp_buf_printf(
        b,
        "  ALTER TABLE %s ENABLE ROW LEVEL SECURITY;\n"
        "  IF has_analyst THEN\n"
        "    DROP POLICY IF EXISTS samspor_org ON %s;\n"
        "    CREATE POLICY samspor_org ON %s FOR SELECT TO " SP_ROLE_ANALYST
        " USING ((SELECT " SP_ACCESS_SCHEMA ".sees_all(current_user)) OR "
        "%s IN (SELECT " SP_ACCESS_SCHEMA ".visible_areas(current_user)));\n"
        "  END IF;\n",
        qt, qt, qt, qc);
  } else {
    /* restrict_by removed: drop our policy, and RLS too unless someone
     * else put policies on the table. */
    sp_buf_printf(b,
                  "  IF EXISTS (SELECT 1 FROM pg_policy WHERE polrelid = "
                  "'%s'::regclass AND polname = 'samspor_org') THEN\n"
                  "    DROP POLICY samspor_org ON %s;\n"
                  "    IF NOT EXISTS (SELECT 1 FROM pg_policy WHERE "
                  "polrelid = '%s'::regclass) THEN\n"
                  "      ALTER TABLE %s DISABLE ROW LEVEL SECURITY;\n"
                  "    END IF;\n"
                  "  END IF;\n",
                  qt, qt, qt, qt);
  }
}

int sp_access_apply(PGconn *conn, const char *schema, const char *table,
                    const char *restrict_col, char *err, size_t errlen) {
  {
    char *t = table ? sp_schema_qualified(conn, schema, table) : NULL;
    int missing = sp_access_missing(conn, schema, t, restrict_col);
    free(t);
    if (!missing)
      return 0;
  }
  /* Set-up by several samspors at once is serialised (held until the
   * caller's transaction ends). */
  int lrc = sp_pg_exec(conn, "SELECT pg_advisory_xact_lock(" SP_SETUP_LOCK ")",
                       PGRES_TUPLES_OK, NULL, err, errlen);
  if (lrc)
    return lrc;
  char *qs = PQescapeIdentifier(conn, schema, strlen(schema));
  char *qt = table ? sp_schema_qualified(conn, schema, table) : NULL;
  char *qc = restrict_col
                 ? PQescapeIdentifier(conn, restrict_col, strlen(restrict_col))
                 : NULL;
  sp_buf b;
  sp_buf_init(&b);
  /* Identifiers here are validated names (lowercase, digits, _), quoted:
   * nothing in them can end the dollar quote. */
  sp_buf_puts(&b,
              "DO $samspor$\n"
              "DECLARE\n"
              "  has_loader boolean := EXISTS (SELECT 1 FROM pg_roles WHERE "
              "rolname = '" SP_ROLE_LOADER "');\n"
              "  has_analyst boolean := EXISTS (SELECT 1 FROM pg_roles WHERE "
              "rolname = '" SP_ROLE_ANALYST "');\n"
              "  has_partner boolean := EXISTS (SELECT 1 FROM pg_roles WHERE "
              "rolname = '" SP_ROLE_PARTNER "');\n"
              "  has_analyst_all boolean := EXISTS (SELECT 1 FROM pg_roles "
              "WHERE rolname = '" SP_ROLE_ANALYST_ALL "');\n"
              "  r text;\n"
              "BEGIN\n");
  access_roles_sql(&b, qs);
  access_connect_sql(&b);
  access_stats_sql(&b);
  if (qt)
    access_table_sql(&b, qt, qc);
  sp_buf_puts(&b, "END\n$samspor$");
  int rc = sp_pg_exec(conn, b.data, PGRES_COMMAND_OK, NULL, err, errlen);
  sp_buf_free(&b);
  PQfreemem(qs);
  PQfreemem(qc);
  free(qt);
  return rc;
}

int sp_access_check_roles(PGconn *conn) {
  static int warned;
  char err[512];
  PGresult *res = NULL;
  if (sp_pg_exec(conn,
                 "SELECT r FROM unnest(ARRAY['" SP_ROLE_LOADER
                 "', '" SP_ROLE_ANALYST "', '" SP_ROLE_ANALYST_ALL
                 "', '" SP_ROLE_PARTNER "']) r WHERE NOT EXISTS (SELECT 1 "
                 "FROM pg_roles WHERE rolname = r) ORDER BY 1",
                 PGRES_TUPLES_OK, &res, err, sizeof err) != 0)
    return -1;
  int n = PQntuples(res);
  if (n && !warned) {
    warned = 1;
    sp_buf b;
    sp_buf_init(&b);
    for (int i = 0; i < n; i++)
      sp_buf_printf(&b, "CREATE ROLE %s NOLOGIN; ", PQgetvalue(res, i, 0));
    sp_warn(NULL,
            "warehouse roles missing and this user may not create roles; "
            "an administrator should run: %sthen GRANT %s TO %s; (the "
            "grants follow at the next sync)",
            b.data, SP_ROLE_ANALYST, SP_ROLE_ANALYST_ALL);
    sp_buf_free(&b);
  }
  PQclear(res);
  return n;
}
