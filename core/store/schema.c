#include "config.h"

#include "store/schema.h"

#include "store/access.h"
#include "base/log.h"
#include "store/warehouse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- migrations ------------------------------------------------------- */

typedef struct migration {
  int version;
  const char *description;
  const char *sql;
} migration;

/* Append-only: a released migration is never edited, only followed. */
static const migration migrations[] = {
    {1, "bookkeeping: runs, state, rejects, forgotten, erasure log, keys",
     "CREATE TABLE samspor.sync_run ("
     "  run_id bigint PRIMARY KEY,"
     "  connector text NOT NULL,"
     "  stream text NOT NULL,"
     "  started_at timestamptz NOT NULL,"
     "  finished_at timestamptz,"
     "  status text NOT NULL CHECK (status IN ('succeeded','failed')),"
     "  full_sync boolean NOT NULL DEFAULT false,"
     "  rows_read bigint NOT NULL DEFAULT 0,"
     "  rows_loaded bigint NOT NULL DEFAULT 0,"
     "  rows_rejected bigint NOT NULL DEFAULT 0,"
     "  rows_deleted bigint NOT NULL DEFAULT 0,"
     "  rows_skipped bigint NOT NULL DEFAULT 0,"
     "  key_id text NOT NULL,"
     "  error text,"
     "  host text,"
     "  pid integer);"
     "CREATE SEQUENCE samspor.sync_run_id_seq OWNED BY samspor.sync_run.run_id;"
     "CREATE INDEX ON samspor.sync_run (connector, stream, started_at);"
     "COMMENT ON TABLE samspor.sync_run IS 'One row per connector stream per "
     "run: times, result, row counts and the pseudonymisation key id used';"
     "CREATE TABLE samspor.sync_state ("
     "  connector text NOT NULL,"
     "  stream text NOT NULL,"
     "  cursor_value text,"
     "  plugin_state text,"
     "  run_id bigint,"
     "  updated_at timestamptz NOT NULL DEFAULT now(),"
     "  PRIMARY KEY (connector, stream));"
     "COMMENT ON TABLE samspor.sync_state IS 'Per connector stream: the "
     "largest cursor value loaded and the source plugin''s own state (files "
     "already loaded)';"
     "CREATE TABLE samspor.rejects ("
     "  run_id bigint NOT NULL,"
     "  connector text NOT NULL,"
     "  stream text NOT NULL,"
     "  position text,"
     "  column_name text,"
     "  reason text NOT NULL,"
     "  message text);"
     "CREATE INDEX ON samspor.rejects (run_id);"
     "COMMENT ON TABLE samspor.rejects IS 'Rows that were not loaded: where "
     "they were in the source, which column, and why; never the values';"
     "CREATE TABLE samspor.forgotten ("
     "  kind text NOT NULL,"
     "  pseudonym uuid NOT NULL,"
     "  forgotten_at timestamptz NOT NULL DEFAULT now(),"
     "  PRIMARY KEY (kind, pseudonym));"
     "COMMENT ON TABLE samspor.forgotten IS 'Pseudonyms of people erased "
     "with samspor forget; future loads skip them';"
     "CREATE TABLE samspor.erasure_log ("
     "  erasure_id bigserial PRIMARY KEY,"
     "  erased_at timestamptz NOT NULL DEFAULT now(),"
     "  kind text NOT NULL,"
     "  people integer NOT NULL,"
     "  rows_deleted bigint NOT NULL,"
     "  tables jsonb NOT NULL DEFAULT '{}',"
     "  key_id text NOT NULL);"
     "COMMENT ON TABLE samspor.erasure_log IS 'Each samspor forget: when, "
     "how many people and rows; never who';"
     "CREATE TABLE samspor.key_history ("
     "  key_id text PRIMARY KEY,"
     "  first_used timestamptz NOT NULL DEFAULT now(),"
     "  note text);"
     "COMMENT ON TABLE samspor.key_history IS 'Pseudonymisation keys used, "
     "by key id; the newest is the current one';"
     "CREATE TABLE samspor.pseudonym_columns ("
     "  table_schema text NOT NULL,"
     "  table_name text NOT NULL,"
     "  column_name text NOT NULL,"
     "  kind text NOT NULL,"
     "  PRIMARY KEY (table_schema, table_name, column_name));"
     "COMMENT ON TABLE samspor.pseudonym_columns IS 'Which warehouse "
     "columns hold pseudonyms of which kind (used by samspor forget)';"},
    /* Roles are cluster-wide: created here only when missing and when this
     * user may (CREATEROLE or superuser); otherwise a NOTICE says what an
     * administrator must run, and the sync goes on.  The grants are not
     * here: access.c applies them with every load, for the roles that
     * exist then (see access.h). */
    {2, "access: schemas partner and samspor_access, roles, org_area",
     "CREATE SCHEMA IF NOT EXISTS partner;"
     "CREATE SCHEMA IF NOT EXISTS samspor_access;"
     /* Either schema may be left from an earlier warehouse, another
      * user's: then its comment is theirs. */
     "DO $d$ BEGIN\n"
     "COMMENT ON SCHEMA partner IS 'Aggregate views for the partners, small "
     "counts suppressed; readable by samspor_partner and samspor_analyst';"
     "COMMENT ON SCHEMA samspor_access IS 'Functions the row-level security "
     "policies of the warehouse call; nothing else';"
     "EXCEPTION WHEN insufficient_privilege THEN NULL;\n"
     "END $d$;"
     "REVOKE ALL ON SCHEMA samspor FROM PUBLIC;"
     "CREATE TABLE samspor.org_area ("
     "  org text NOT NULL,"
     "  area text NOT NULL,"
     "  PRIMARY KEY (org, area));"
     "COMMENT ON TABLE samspor.org_area IS 'The housing areas of each "
     "partner organisation: an analyst login of the organisation "
     "(org_<org>_analyst) sees only these areas'' rows of tables restricted "
     "by area (samspor grant)';"
     "DO $d$ BEGIN\n"
     "REVOKE ALL ON SCHEMA samspor_access FROM PUBLIC;"
     "CREATE OR REPLACE FUNCTION samspor_access.visible_areas(who name) "
     "RETURNS SETOF "
     "text LANGUAGE sql STABLE SECURITY DEFINER "
     "SET search_path = pg_catalog, pg_temp AS $f$"
     "  SELECT o.area FROM samspor.org_area o"
     "  WHERE pg_has_role(session_user, who, 'MEMBER')"
     "    AND EXISTS (SELECT 1 FROM pg_roles r"
     "      WHERE r.rolname = 'org_' || o.org || '_analyst'"
     "        AND pg_has_role(who, r.oid, 'MEMBER'))"
     "$f$;"
     "REVOKE ALL ON FUNCTION samspor_access.visible_areas(name) FROM PUBLIC;"
     "COMMENT ON FUNCTION samspor_access.visible_areas(name) IS 'The areas "
     "whose rows role who may see: those of the organisations whose analyst "
     "role it belongs to; only for the session''s own roles';"
     "CREATE OR REPLACE FUNCTION samspor_access.sees_all(who name) RETURNS "
     "boolean "
     "LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $f$"
     "  SELECT EXISTS (SELECT 1 FROM pg_roles r"
     "    WHERE r.rolname = 'samspor_analyst_all'"
     "      AND pg_has_role(who, r.oid, 'MEMBER'))"
     "$f$;"
     "REVOKE ALL ON FUNCTION samspor_access.sees_all(name) FROM PUBLIC;"
     "COMMENT ON FUNCTION samspor_access.sees_all(name) IS 'Whether role who "
     "belongs to samspor_analyst_all, which sees every area';"
     "EXCEPTION WHEN insufficient_privilege THEN\n"
     "  RAISE NOTICE 'samspor: schema samspor_access belongs to another user; "
     "its functions are kept';\n"
     "END $d$;"
     "DO $d$\n"
     "DECLARE\n"
     "  r text;\n"
     "  can boolean;\n"
     "BEGIN\n"
     "  SELECT rolsuper OR rolcreaterole INTO can FROM pg_roles\n"
     "    WHERE rolname = current_user;\n"
     "  FOREACH r IN ARRAY ARRAY['samspor_loader', 'samspor_analyst',\n"
     "      'samspor_analyst_all', 'samspor_partner'] LOOP\n"
     "    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN\n"
     "      IF can THEN\n"
     "        EXECUTE format('CREATE ROLE %I NOLOGIN', r);\n"
     "      ELSE\n"
     "        RAISE NOTICE 'samspor: role % is missing and % may not create "
     "roles; an administrator must run: CREATE ROLE % NOLOGIN;', r, "
     "current_user, r;\n"
     "      END IF;\n"
     "    END IF;\n"
     "  END LOOP;\n"
     "  IF can AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
     "'samspor_analyst_all') AND EXISTS (SELECT 1 FROM pg_roles WHERE "
     "rolname = 'samspor_analyst') THEN\n"
     "    BEGIN\n"
     "      GRANT samspor_analyst TO samspor_analyst_all;\n"
     "    EXCEPTION WHEN insufficient_privilege THEN\n"
     "      RAISE NOTICE 'samspor: an administrator must run: GRANT "
     "samspor_analyst TO samspor_analyst_all;';\n"
     "    END;\n"
     "  END IF;\n"
     "END\n"
     "$d$;"},
    /* Releases: what was published, per indicator and period (release.h).
     * Only samspor itself and the administrator read it: no grant to the
     * partner or analyst roles, and none to PUBLIC. */
    {3, "partner releases: every published version of every period",
     "CREATE TABLE samspor.partner_release ("
     "  indicator text NOT NULL,"
     "  period text NOT NULL,"
     "  release_no integer NOT NULL CHECK (release_no > 0),"
     "  released_at timestamptz NOT NULL DEFAULT now(),"
     "  final boolean NOT NULL,"
     "  layout text NOT NULL,"
     "  published_rows text NOT NULL,"
     "  PRIMARY KEY (indicator, period, release_no));"
     "REVOKE ALL ON TABLE samspor.partner_release FROM PUBLIC;"
     "COMMENT ON TABLE samspor.partner_release IS 'Every release of every "
     "period of the partner indicators, kept: a new release when a refresh "
     "publishes rows of a period that differ from its latest one. A period "
     "whose latest release is final is frozen: published verbatim from here, "
     "never recomputed. Administrator only';"
     "COMMENT ON COLUMN samspor.partner_release.indicator IS 'The table "
     "partner.<indicator>';"
     "COMMENT ON COLUMN samspor.partner_release.period IS 'A value of the "
     "indicator''s time dimension';"
     "COMMENT ON COLUMN samspor.partner_release.release_no IS '1, 2, ... per "
     "indicator and period';"
     "COMMENT ON COLUMN samspor.partner_release.final IS 'The period was "
     "closed (partner.freeze_after past its end) when this was published: "
     "it is frozen';"
     "COMMENT ON COLUMN samspor.partner_release.layout IS 'The columns of "
     "partner.<indicator> the rows were written with, name:type, in order';"
     "COMMENT ON COLUMN samspor.partner_release.published_rows IS 'The "
     "period''s rows exactly as written to partner.<indicator>: COPY text, "
     "one line per row; empty when the period was withdrawn';"},
    /* Generations of pseudonyms (rekey.c).  A warehouse that used the old
     * sync --new-key gets its history reconstructed from the times: each
     * key retired when the next was first used, each forgotten pseudonym
     * assigned to the key current when it was recorded. */
    {4, "key generations: key_history from/to/command, forgotten per key",
     "ALTER TABLE samspor.key_history ADD COLUMN retired_at timestamptz,"
     "  ADD COLUMN command text;"
     "UPDATE samspor.key_history k SET retired_at = (SELECT min(n.first_used) "
     "  FROM samspor.key_history n WHERE n.first_used > k.first_used),"
     "  command = CASE WHEN note = 'first key' THEN 'sync' "
     "    ELSE 'sync --new-key' END;"
     "COMMENT ON TABLE samspor.key_history IS 'One row per generation of "
     "pseudonyms: the key id, when it became current (first_used), when a "
     "rotation retired it (retired_at; NULL for the current one) and the "
     "command that made it current. Never the key';"
     "COMMENT ON COLUMN samspor.key_history.command IS 'sync (the first "
     "key), rekey (samspor rekey), or sync --new-key (the old way, which "
     "left two generations in the tables)';"
     "ALTER TABLE samspor.forgotten ADD COLUMN key_id text;"
     "UPDATE samspor.forgotten f SET key_id = coalesce((SELECT k.key_id "
     "  FROM samspor.key_history k WHERE k.first_used <= f.forgotten_at "
     "  ORDER BY k.first_used DESC LIMIT 1), (SELECT k.key_id FROM "
     "  samspor.key_history k ORDER BY k.first_used DESC LIMIT 1));"
     "COMMENT ON TABLE samspor.forgotten IS 'Pseudonyms of people erased "
     "with samspor forget, per key generation (key_id); loads skip them, and "
     "samspor rekey carries them to the new key for every person a source "
     "delivers during the rotation. Never an identifier';"},
    /* A source with if_missing = "skip" and no file: the run is recorded
     * as skipped, which is neither a success (catch-up still runs) nor a
     * failure. */
    {5, "sync_run: status skipped",
     "ALTER TABLE samspor.sync_run DROP CONSTRAINT sync_run_status_check;"
     "ALTER TABLE samspor.sync_run ADD CONSTRAINT sync_run_status_check "
     "CHECK (status IN ('succeeded','failed','skipped'));"},
};

int sp_schema_version_current(void) {
  return migrations[SP_ARRAY_LEN(migrations) - 1].version;
}

/* Arbitrary constant naming samspor's migration lock. */
#define MIGRATION_LOCK "7368303"

int sp_schema_migrate(PGconn *conn, char *err, size_t errlen) {
  /* Up to date (the usual case): no lock, no catalog change. */
  PGresult *cur = NULL;
  char cerr[256];
  if (!sp_pg_exec(conn,
                  "SELECT CASE WHEN to_regclass('samspor.schema_version') IS "
                  "NULL THEN 0 ELSE (SELECT coalesce(max(version), 0) FROM "
                  "samspor.schema_version) END",
                  PGRES_TUPLES_OK, &cur, cerr, sizeof cerr) &&
      atoi(PQgetvalue(cur, 0, 0)) == sp_schema_version_current()) {
    PQclear(cur);
    return 0;
  }
  PQclear(cur);
  int rc = sp_pg_exec(conn, "SELECT pg_advisory_lock(" MIGRATION_LOCK ")",
                      PGRES_TUPLES_OK, NULL, err, errlen);
  if (rc)
    return rc;
  rc = sp_pg_exec(conn,
                  "CREATE SCHEMA IF NOT EXISTS samspor;"
                  "CREATE TABLE IF NOT EXISTS samspor.schema_version ("
                  "  version integer PRIMARY KEY,"
                  "  description text NOT NULL,"
                  "  applied_at timestamptz NOT NULL DEFAULT now())",
                  PGRES_COMMAND_OK, NULL, err, errlen);
  PGresult *res = NULL;
  if (!rc)
    rc = sp_pg_exec(conn,
                    "SELECT coalesce(max(version), 0) FROM "
                    "samspor.schema_version",
                    PGRES_TUPLES_OK, &res, err, errlen);
  int have = res ? atoi(PQgetvalue(res, 0, 0)) : 0;
  PQclear(res);
  if (!rc && have > sp_schema_version_current()) {
    snprintf(err, errlen,
             "the warehouse's samspor schema is version %d, newer than this "
             "samspor knows (%d); upgrade samspor before syncing",
             have, sp_schema_version_current());
    rc = SAMSPOR_ECONFIG;
  }
  for (size_t i = 0; !rc && i < SP_ARRAY_LEN(migrations); i++) {
    const migration *m = &migrations[i];
    if (m->version <= have)
      continue;
    char v[16];
    snprintf(v, sizeof v, "%d", m->version);
    const char *params[] = {v, m->description};
    rc = sp_pg_exec(conn, "BEGIN", PGRES_COMMAND_OK, NULL, err, errlen);
    if (!rc)
      rc = sp_pg_exec(conn, m->sql, PGRES_COMMAND_OK, NULL, err, errlen);
    if (!rc)
      rc = sp_pg_execp(conn,
                       "INSERT INTO samspor.schema_version (version, "
                       "description) VALUES ($1, $2)",
                       2, params, PGRES_COMMAND_OK, NULL, err, errlen);
    if (!rc)
      rc = sp_pg_exec(conn, "COMMIT", PGRES_COMMAND_OK, NULL, err, errlen);
    if (rc) {
      char tmp[512];
      snprintf(tmp, sizeof tmp, "migration %d (%s) failed: %s", m->version,
               m->description, err);
      snprintf(err, errlen, "%s", tmp);
      PQclear(PQexec(conn, "ROLLBACK"));
    }
  }
  PQclear(PQexec(conn, "SELECT pg_advisory_unlock(" MIGRATION_LOCK ")"));
  return rc;
}

/* ---- stream tables ---------------------------------------------------- */

/* format_type() spelling of a column's SQL type, for comparison. */
static const char *pg_type_name(const char *sql_type) {
  if (strcmp(sql_type, "timestamptz") == 0)
    return "timestamp with time zone";
  return sql_type;
}

/* The comment of a column: its description, else what samspor did. */
static char *column_comment(const sp_column *col) {
  const char *desc = sp_get_string(col->s, "description");
  const char *rule = sp_rule_def_of(col->rule)->name;
  sp_buf b;
  sp_buf_init(&b);
  if (desc)
    sp_buf_printf(&b, "%s. ", desc);
  if (col->rule == SP_RULE_PSEUDONYM)
    sp_buf_printf(&b, "Pseudonym (kind %s) of source field %s.",
                  sp_get_string(col->s, "kind"), col->from);
  else if (col->rule == SP_RULE_LOOKUP)
    sp_buf_printf(&b,
                  "Source field %s mapped through map %s; the source "
                  "value is not kept.",
                  col->from, sp_get_string(col->s, "map"));
  else if (col->rule == SP_RULE_KEEP)
    sp_buf_printf(&b, "Source field %s.", col->from);
  else
    sp_buf_printf(&b,
                  "Rule %s of source field %s; the source value is not "
                  "kept.",
                  rule, col->from);
  return b.data;
}

static void add_comment(sp_buf *sql, PGconn *conn, const char *what,
                        const char *text) {
  char *lit = PQescapeLiteral(conn, text, strlen(text));
  sp_buf_printf(sql, "COMMENT ON %s IS %s;", what, lit ? lit : "NULL");
  PQfreemem(lit);
}

static int same_text(const char *have, const char *want) {
  return have && strcmp(have, want) == 0;
}

static int is_key(const sp_stream *st, const char *name) {
  const char *const *key;
  size_t n = sp_get_list(st->s, "key", &key);
  for (size_t i = 0; i < n; i++)
    if (strcmp(key[i], name) == 0)
      return 1;
  return 0;
}

int sp_schema_digested(const sp_stream *st) {
  const char *const *key;
  return (st->mode == SP_MODE_INCREMENTAL_DEDUP ||
          st->mode == SP_MODE_FULL_REFRESH) &&
         sp_get_list(st->s, "key", &key) > 0;
}

/* The statements that create the stream's table, into sql. */
static void create_table_sql(PGconn *conn, const sp_stream *st, const char *qt,
                             const char *qs, sp_buf *sql) {
  sp_buf_printf(sql, "CREATE SCHEMA IF NOT EXISTS %s;", qs);
  sp_buf_printf(sql, "CREATE TABLE %s (", qt);
  for (size_t i = 0; i < st->ncolumns; i++) {
    const sp_column *col = &st->columns[i];
    char *qc = PQescapeIdentifier(conn, col->name, strlen(col->name));
    sp_buf_printf(sql, "%s %s%s, ", qc, col->sql_type,
                  sp_get_bool(col->s, "not_null") || is_key(st, col->name)
                      ? " NOT NULL"
                      : "");
    PQfreemem(qc);
  }
  sp_buf_puts(sql, "_run_id bigint NOT NULL, _loaded_at timestamptz NOT "
                   "NULL DEFAULT now()");
  if (sp_schema_digested(st))
    sp_buf_puts(sql, ", _digest uuid");
  const char *const *key;
  size_t nkey = sp_get_list(st->s, "key", &key);
  for (size_t i = 0; i < nkey; i++) {
    char *qc = PQescapeIdentifier(conn, key[i], strlen(key[i]));
    sp_buf_printf(sql, "%s%s", i ? ", " : ", PRIMARY KEY (", qc);
    PQfreemem(qc);
  }
  sp_buf_puts(sql, nkey ? "));" : ");");
}

/* Evolve: compare what is there (res, the columns of the table) with what
 * is declared; the columns to add go into sql.  A change samspor does
 * not make is an error. */
static int evolve_table_sql(PGconn *conn, const sp_stream *st,
                            const char *schema, const char *qt,
                            const PGresult *res, sp_buf *sql, char *err,
                            size_t errlen) {
  int rc = 0;
  for (size_t i = 0; i < st->ncolumns && !rc; i++) {
    const sp_column *col = &st->columns[i];
    int found = 0;
    for (int r = 0; r < PQntuples(res); r++) {
      if (strcmp(PQgetvalue(res, r, 0), col->name) != 0)
        continue;
      found = 1;
      const char *have = PQgetvalue(res, r, 1);
      if (strcmp(have, pg_type_name(col->sql_type)) != 0) {
        snprintf(err, errlen,
                 "column %s of table %s.%s is %s in the warehouse, but the "
                 "configuration (line %d) makes it %s; samspor never "
                 "converts or drops data: change the configuration back, "
                 "or alter or rename the column yourself",
                 col->name, schema, st->table, have, col->line,
                 pg_type_name(col->sql_type));
        rc = SAMSPOR_ECONFIG;
      }
    }
    if (!found) {
      char *qc = PQescapeIdentifier(conn, col->name, strlen(col->name));
      sp_buf_printf(sql, "ALTER TABLE %s ADD COLUMN %s %s;", qt, qc,
                    col->sql_type);
      PQfreemem(qc);
    }
  }
  int has_digest = 0;
  for (int r = 0; r < PQntuples(res); r++)
    has_digest |= strcmp(PQgetvalue(res, r, 0), "_digest") == 0;
  if (!has_digest && sp_schema_digested(st))
    sp_buf_printf(sql, "ALTER TABLE %s ADD COLUMN _digest uuid;", qt);
  /* The key must be the same set of columns. */
  for (int r = 0; r < PQntuples(res) && !rc; r++) {
    const char *name = PQgetvalue(res, r, 0);
    int in_pk = strcmp(PQgetvalue(res, r, 2), "t") == 0;
    if (in_pk != is_key(st, name)) {
      snprintf(err, errlen,
               "table %s.%s has %s %s its primary key, but the "
               "configuration's key %s; samspor does not change a key: "
               "restore the key in the configuration, or load into a new "
               "table",
               schema, st->table, name, in_pk ? "in" : "outside",
               in_pk ? "leaves it out" : "names it");
      rc = SAMSPOR_ECONFIG;
    }
  }
  const char *const *key;
  size_t nkey = sp_get_list(st->s, "key", &key);
  for (size_t k = 0; k < nkey && !rc; k++) {
    int present = 0;
    for (int r = 0; r < PQntuples(res); r++)
      present |= strcmp(PQgetvalue(res, r, 0), key[k]) == 0;
    if (!present) {
      snprintf(err, errlen,
               "key column %s is new to table %s.%s; samspor does not "
               "change a key: load into a new table",
               key[k], schema, st->table);
      rc = SAMSPOR_ECONFIG;
    }
  }
  return rc;
}

/* The comments of the table and its columns that differ from what res
 * (the table's columns, with their comments; none unless exists) has,
 * into sql. */
static void comments_sql(PGconn *conn, const sp_connector *cc,
                         const sp_stream *st, const char *qt,
                         const PGresult *res, int exists, sp_buf *sql) {
  const char *desc = sp_get_string(st->s, "description");
  char *tcomment = sp_xasprintf("%s%sLoaded by samspor connector %s.",
                                desc ? desc : "", desc ? ". " : "", cc->name);
  char *twhat = sp_xasprintf("TABLE %s", qt);
  if (!exists || !same_text(PQgetvalue(res, 0, 4), tcomment))
    add_comment(sql, conn, twhat, tcomment);
  free(twhat);
  free(tcomment);
  size_t ncomment = st->ncolumns + (sp_schema_digested(st) ? 3 : 2);
  for (size_t i = 0; i < ncomment; i++) {
    const sp_column *col = i < st->ncolumns ? &st->columns[i] : NULL;
    const char *name = col                     ? col->name
                       : i == st->ncolumns     ? "_run_id"
                       : i == st->ncolumns + 1 ? "_loaded_at"
                                               : "_digest";
    char *text =
        col ? column_comment(col)
            : sp_xstrdup(i == st->ncolumns ? "The samspor.sync_run that loaded "
                                             "the row."
                         : i == st->ncolumns + 1
                             ? "When the row was loaded."
                             : "Bookkeeping: a keyed digest of the source "
                               "values the row was made from, with which "
                               "samspor finds unchanged rows without "
                               "sending them.");
    const char *have = NULL;
    for (int r = 0; exists && r < PQntuples(res); r++)
      if (strcmp(PQgetvalue(res, r, 0), name) == 0 && !PQgetisnull(res, r, 3))
        have = PQgetvalue(res, r, 3);
    if (!have || strcmp(have, text) != 0) {
      char *qc = PQescapeIdentifier(conn, name, strlen(name));
      char *what = sp_xasprintf("COLUMN %s.%s", qt, qc);
      add_comment(sql, conn, what, text);
      free(what);
      PQfreemem(qc);
    }
    free(text);
  }
}

/* Whether the register forget uses to find pseudonym columns holds every
 * pseudonym column of the stream, in *registered. */
static int pseudonyms_registered(PGconn *conn, const char *schema,
                                 const sp_stream *st, int *registered,
                                 char *err, size_t errlen) {
  int rc = 0;
  *registered = 1;
  for (size_t i = 0; i < st->ncolumns && !rc && *registered; i++) {
    const sp_column *col = &st->columns[i];
    if (col->rule != SP_RULE_PSEUDONYM)
      continue;
    const char *p[] = {schema, st->table, col->name,
                       sp_get_string(col->s, "kind")};
    PGresult *r2 = NULL;
    rc = sp_pg_execp(conn,
                     "SELECT 1 FROM samspor.pseudonym_columns WHERE "
                     "table_schema = $1 AND table_name = $2 AND column_name "
                     "= $3 AND kind = $4",
                     4, p, PGRES_TUPLES_OK, &r2, err, errlen);
    *registered = !rc && PQntuples(r2) == 1;
    PQclear(r2);
  }
  return rc;
}

static int register_pseudonyms(PGconn *conn, const char *schema,
                               const sp_stream *st, char *err, size_t errlen) {
  int rc = 0;
  for (size_t i = 0; i < st->ncolumns && !rc; i++) {
    const sp_column *col = &st->columns[i];
    if (col->rule != SP_RULE_PSEUDONYM)
      continue;
    const char *p[] = {schema, st->table, col->name,
                       sp_get_string(col->s, "kind")};
    rc = sp_pg_execp(conn,
                     "INSERT INTO samspor.pseudonym_columns VALUES "
                     "($1, $2, $3, $4) ON CONFLICT (table_schema, table_name, "
                     "column_name) DO UPDATE SET kind = EXCLUDED.kind",
                     4, p, PGRES_COMMAND_OK, NULL, err, errlen);
  }
  return rc;
}

/* Find what the stream's table lacks (table, columns, comments, grants,
 * the pseudonym register) with read-only queries; with dry set, only say
 * in *todo whether anything does, else make it (in the caller's
 * transaction). */
static int ensure_table(PGconn *conn, const sp_config *c,
                        const sp_connector *cc, const sp_stream *st, int dry,
                        int *todo, char *err, size_t errlen) {
  const char *schema = sp_config_schema(c);
  char *qt = sp_schema_qualified(conn, schema, st->table);
  char *qs = PQescapeIdentifier(conn, schema, strlen(schema));
  sp_buf sql;
  sp_buf_init(&sql);
  PGresult *res = NULL;
  int rc = 0;

  const char *params[] = {schema, st->table};
  rc = sp_pg_execp(conn,
                   "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
                   "  coalesce(a.attnum = ANY(i.indkey), false), "
                   "  col_description(t.oid, a.attnum), "
                   "  obj_description(t.oid, 'pg_class') "
                   "FROM pg_attribute a "
                   "JOIN pg_class t ON t.oid = a.attrelid "
                   "JOIN pg_namespace n ON n.oid = t.relnamespace "
                   "LEFT JOIN pg_index i ON i.indrelid = t.oid AND "
                   "  i.indisprimary "
                   "WHERE n.nspname = $1 AND t.relname = $2 AND a.attnum > 0 "
                   "  AND NOT a.attisdropped ORDER BY a.attnum",
                   2, params, PGRES_TUPLES_OK, &res, err, errlen);
  if (rc)
    goto out;
  int exists = PQntuples(res) > 0;
  if (!exists)
    create_table_sql(conn, st, qt, qs, &sql);
  else
    rc = evolve_table_sql(conn, st, schema, qt, res, &sql, err, errlen);
  if (rc)
    goto out;

  comments_sql(conn, cc, st, qt, res, exists, &sql);
  /* Grants and row-level security are checked with every load: roles may
   * have been created since, and restrict_by may have changed. */
  const char *restrict_col = sp_get_string(st->s, "restrict_by");
  int access = exists ? sp_access_missing(conn, schema, qt, restrict_col) : 1;
  int registered;
  rc = pseudonyms_registered(conn, schema, st, &registered, err, errlen);
  if (rc)
    goto out;
  if (dry) {
    *todo = sql.len > 0 || access || !registered;
    goto out;
  }
  if (sql.len > 0)
    rc = sp_pg_exec(conn, sql.data, PGRES_COMMAND_OK, NULL, err, errlen);
  if (!rc)
    rc = sp_access_apply(conn, schema, st->table, restrict_col, err, errlen);
  if (!rc && !registered)
    rc = register_pseudonyms(conn, schema, st, err, errlen);
out:
  PQclear(res);
  sp_buf_free(&sql);
  free(qt);
  PQfreemem(qs);
  return rc;
}

int sp_schema_ensure_table(PGconn *conn, const sp_config *c,
                           const sp_connector *cc, const sp_stream *st,
                           char *err, size_t errlen) {
  int rc = sp_pg_exec(conn, "SELECT pg_advisory_xact_lock(" SP_SETUP_LOCK ")",
                      PGRES_TUPLES_OK, NULL, err, errlen);
  return rc ? rc : ensure_table(conn, c, cc, st, 0, NULL, err, errlen);
}

int sp_schema_prepare(PGconn *conn, const sp_config *c, const sp_connector *cc,
                      const sp_stream *st, char *err, size_t errlen) {
  int todo = 0;
  int rc = ensure_table(conn, c, cc, st, 1, &todo, err, errlen);
  /* A concurrency error here is another samspor's set-up that got in
   * first (outside the lock: a role's grant by hand, `samspor grant`):
   * looking again finds its work done. */
  for (int attempt = 0; !rc && todo && attempt < 3; attempt++) {
    rc = sp_pg_exec(conn, "BEGIN", PGRES_COMMAND_OK, NULL, err, errlen);
    if (!rc)
      rc = sp_schema_ensure_table(conn, c, cc, st, err, errlen);
    if (!rc)
      rc = sp_pg_exec(conn, "COMMIT", PGRES_COMMAND_OK, NULL, err, errlen);
    if (!rc)
      break;
    if (PQstatus(conn) == CONNECTION_OK)
      PQclear(PQexec(conn, "ROLLBACK"));
    if (rc != SAMSPOR_ETEMP || PQstatus(conn) != CONNECTION_OK)
      break;
    sp_logctx lc = {cc->name, st->table, 0};
    sp_info(&lc,
            "set-up of table %s met a concurrent change (%s); looking "
            "again",
            st->table, err);
    rc = ensure_table(conn, c, cc, st, 1, &todo, err, errlen);
  }
  return rc;
}
