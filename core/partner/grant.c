/*
 * grant.c — `samspor grant ORG --role partner|analyst`: a login for a
 * partner organisation.
 *
 * The login role is org_<slug>_<role>, where slug is ORG lowercased with
 * spaces and dashes made _ (it must then match ^[a-z][a-z0-9_]{0,40}$).
 * It is a member of samspor_partner (schema partner only) or
 * samspor_analyst (the pseudonymised stream tables); an analyst's
 * organisation gets its housing areas in samspor.org_area (the set is
 * replaced), which row-level security on tables with restrict_by reads, or
 * with --all-areas membership of samspor_analyst_all instead.  The
 * password comes from a file of mode 0600, is hashed on this side
 * (SCRAM) and never printed or sent in clear.  Needs CREATEROLE.
 * Idempotent: a second run updates the same role.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "store/access.h"
#include "base/exitcode.h"
#include "partner/grant.h"
#include "base/log.h"
#include "store/schema.h"
#include "store/warehouse.h"

/* ORG as a role-name part, or NULL when it cannot be one. */
static char *org_slug(const char *org) {
  size_t n = strlen(org);
  char *s = sp_xcalloc(n + 1, 1);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)org[i];
    s[i] = (c == ' ' || c == '-') ? '_' : (char)tolower(c);
  }
  int ok = n >= 1 && n <= 41 && s[0] >= 'a' && s[0] <= 'z';
  for (size_t i = 0; ok && i < n; i++)
    ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
         s[i] == '_';
  if (!ok) {
    free(s);
    return NULL;
  }
  return s;
}

/* The password in file path (first line), or NULL with a message. */
static char *read_password(const char *path, char *err, size_t errlen) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, errlen, "password file %s: %s", path, strerror(errno));
    return NULL;
  }
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) ||
      (st.st_mode & 077) != 0) {
    snprintf(err, errlen,
             "password file %s must be a regular file of mode 0600 (chmod "
             "600 %s)",
             path, path);
    fclose(f);
    return NULL;
  }
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, f);
  fclose(f);
  if (n < 0) {
    free(line);
    snprintf(err, errlen, "password file %s is empty", path);
    return NULL;
  }
  while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
    line[--n] = '\0';
  if (n == 0) {
    sp_wipe(line, cap);
    free(line);
    snprintf(err, errlen, "password file %s is empty", path);
    return NULL;
  }
  return line;
}

static int exec1(PGconn *conn, const char *sql, const char *p1, char *err,
                 size_t errlen) {
  const char *p[] = {p1};
  return sp_pg_execp(conn, sql, p1 ? 1 : 0, p, PGRES_COMMAND_OK, NULL, err,
                     errlen);
}

/* Everything inside one transaction. */
static int do_grant(PGconn *conn, const char *slug, const char *login,
                    const sp_grant_args *a, const char *pwhash, int *created,
                    char *err, size_t errlen) {
  char *ql = PQescapeIdentifier(conn, login, strlen(login));
  PGresult *res = NULL;
  const char *lp[] = {login};
  int rc = sp_pg_execp(conn, "SELECT 1 FROM pg_roles WHERE rolname = $1", 1, lp,
                       PGRES_TUPLES_OK, &res, err, errlen);
  *created = res && PQntuples(res) == 0;
  PQclear(res);
  sp_buf sql;
  sp_buf_init(&sql);
  if (!rc) {
    /* The group roles, when migration 2 could not create them. */
    rc = sp_pg_exec(
        conn,
        "DO $g$ DECLARE r text; BEGIN FOREACH r IN ARRAY "
        "ARRAY['" SP_ROLE_LOADER "', '" SP_ROLE_ANALYST
        "', '" SP_ROLE_ANALYST_ALL "', '" SP_ROLE_PARTNER "'] LOOP "
        "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN "
        "EXECUTE format('CREATE ROLE %I NOLOGIN', r); END IF; END LOOP; END "
        "$g$",
        PGRES_COMMAND_OK, NULL, err, errlen);
  }
  if (!rc) {
    sp_buf_printf(&sql,
                  "%s ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                  "INHERIT",
                  *created ? "CREATE" : "ALTER", ql);
    if (pwhash) {
      char *lit = PQescapeLiteral(conn, pwhash, strlen(pwhash));
      sp_buf_printf(&sql, " PASSWORD %s", lit ? lit : "NULL");
      PQfreemem(lit);
    }
    rc = sp_pg_exec(conn, sql.data, PGRES_COMMAND_OK, NULL, err, errlen);
  }
  int analyst = strcmp(a->role, "analyst") == 0;
  if (!rc) {
    sp_buf_reset(&sql);
    sp_buf_printf(&sql, "GRANT %s TO %s",
                  analyst ? SP_ROLE_ANALYST : SP_ROLE_PARTNER, ql);
    rc = sp_pg_exec(conn, sql.data, PGRES_COMMAND_OK, NULL, err, errlen);
  }
  if (!rc && analyst) {
    sp_buf_reset(&sql);
    sp_buf_printf(&sql, "%s " SP_ROLE_ANALYST_ALL " %s %s",
                  a->all_areas ? "GRANT" : "REVOKE",
                  a->all_areas ? "TO" : "FROM", ql);
    rc = sp_pg_exec(conn, sql.data, PGRES_COMMAND_OK, NULL, err, errlen);
  }
  if (!rc && analyst)
    rc = exec1(conn, "DELETE FROM samspor.org_area WHERE org = $1", slug, err,
               errlen);
  if (!rc && analyst && a->areas) {
    const char *p[] = {slug, a->areas};
    rc = sp_pg_execp(conn,
                     "INSERT INTO samspor.org_area (org, area) SELECT DISTINCT "
                     "$1, btrim(x) FROM unnest(string_to_array($2, ',')) x "
                     "WHERE btrim(x) <> ''",
                     2, p, PGRES_COMMAND_OK, NULL, err, errlen);
  }
  sp_buf_free(&sql);
  PQfreemem(ql);
  return rc;
}

/* Grants and policies on the configured tables that exist, so a new role
 * works before the next sync.  A table this user may not alter is left to
 * the next sync, with a warning. */
static void apply_tables(PGconn *conn, const sp_config *c) {
  const char *schema = sp_config_schema(c);
  char err[1024];
  if (sp_access_apply(conn, schema, NULL, NULL, err, sizeof err) != 0)
    sp_warn(NULL, "grant: schema grants: %s; they follow at the next sync",
            err);
  for (size_t i = 0; i < c->nconnectors; i++)
    for (size_t s = 0; s < c->connectors[i].nstreams; s++) {
      const sp_stream *st = &c->connectors[i].streams[s];
      const char *p[] = {schema, st->table};
      PGresult *res = NULL;
      if (sp_pg_execp(conn,
                      "SELECT 1 FROM pg_class t JOIN pg_namespace n ON n.oid "
                      "= t.relnamespace WHERE n.nspname = $1 AND t.relname "
                      "= $2",
                      2, p, PGRES_TUPLES_OK, &res, err, sizeof err) != 0 ||
          PQntuples(res) == 0) {
        PQclear(res);
        continue;
      }
      PQclear(res);
      if (sp_access_apply(conn, schema, st->table,
                          sp_get_string(st->s, "restrict_by"), err,
                          sizeof err) != 0)
        sp_warn(NULL, "grant: table %s.%s: %s; it follows at the next sync",
                schema, st->table, err);
    }
}

int sp_grant_org_valid(const char *org) {
  char *slug = org_slug(org);
  free(slug);
  return slug != NULL;
}

int sp_grant(const char *path, const char *org, const sp_grant_args *ap) {
  const sp_grant_args a = *ap;
  int analyst = strcmp(a.role, "analyst") == 0;
  char *slug = org_slug(org);
  if (!slug)
    return SP_EXIT_USAGE; /* sp_grant_org_valid said so */
  char *login = sp_xasprintf("org_%s_%s", slug, a.role);

  char err[1024];
  char *pw = NULL;
  int rc = 0;
  if (a.password_file) {
    pw = read_password(a.password_file, err, sizeof err);
    if (!pw) {
      fprintf(stderr, "samspor: grant: %s\n", err);
      free(slug);
      free(login);
      return SP_EXIT_USAGE;
    }
  }

  sp_errors errs;
  sp_config *c = NULL;
  sp_errors_init(&errs);
  rc = sp_config_load(path, &c, &errs);
  sp_errors_print(&errs, stderr);
  sp_errors_free(&errs);
  PGconn *conn = NULL;
  char *pwhash = NULL;
  int created = 0, status = SP_EXIT_OK;
  if (rc) {
    status = SP_EXIT_USAGE;
    goto done;
  }
  rc = sp_warehouse_connect(c, &conn, err, sizeof err);
  PGresult *res = NULL;
  if (!rc)
    rc = sp_pg_exec(conn,
                    "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE "
                    "rolname = current_user",
                    PGRES_TUPLES_OK, &res, err, sizeof err);
  if (!rc && (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "t"))) {
    snprintf(err, sizeof err,
             "%s may not create roles; run samspor grant as a user with "
             "CREATEROLE (e.g. with -c a configuration whose conninfo names "
             "an administrator)",
             PQuser(conn));
    rc = SAMSPOR_ECONFIG;
  }
  PQclear(res);
  if (!rc)
    rc = sp_schema_migrate(conn, err, sizeof err);
  if (!rc && pw) {
    /* Hashed here: the clear password never reaches the server (or its
     * log, should a statement be logged). */
    pwhash = PQencryptPasswordConn(conn, pw, login, NULL);
    if (!pwhash) {
      snprintf(err, sizeof err, "cannot hash the password: %s",
               PQerrorMessage(conn));
      rc = SAMSPOR_EFAIL;
    }
  }
  if (!rc)
    rc = sp_pg_exec(conn, "BEGIN", PGRES_COMMAND_OK, NULL, err, sizeof err);
  if (!rc)
    rc = do_grant(conn, slug, login, &a, pwhash, &created, err, sizeof err);
  if (!rc)
    rc = sp_pg_exec(conn, "COMMIT", PGRES_COMMAND_OK, NULL, err, sizeof err);
  if (rc) {
    if (conn && PQstatus(conn) == CONNECTION_OK)
      PQclear(PQexec(conn, "ROLLBACK"));
    fprintf(stderr, "samspor: grant: %s; nothing was changed\n", err);
    status = sp_exit_status(rc);
    goto done;
  }
  apply_tables(conn, c);

  printf("%s login role %s (member of %s%s)\n", created ? "created" : "updated",
         login, analyst ? SP_ROLE_ANALYST : SP_ROLE_PARTNER,
         analyst && a.all_areas ? ", " SP_ROLE_ANALYST_ALL : "");
  if (analyst && a.all_areas)
    printf("areas: all (rows of every area)\n");
  else if (analyst)
    printf("areas of organisation %s: %s (rows of tables with restrict_by "
           "are limited to these)\n",
           slug, a.areas);
  else
    printf("reads schema partner only (aggregates, small counts "
           "suppressed)\n");
  if (pw)
    printf("password: set from %s\n", a.password_file);
  else
    printf("password: %s; set one with psql: \\password %s\n",
           created ? "none yet" : "unchanged", login);
  const char *host = PQhost(conn);
  printf("connect: psql \"host=%s port=%s dbname=%s user=%s\"\n",
         host && *host ? host : "localhost", PQport(conn), PQdb(conn), login);
done:
  if (pw) {
    sp_wipe(pw, strlen(pw));
    free(pw);
  }
  if (pwhash)
    PQfreemem(pwhash);
  if (conn)
    PQfinish(conn);
  sp_config_free(c);
  free(slug);
  free(login);
  return status;
}
