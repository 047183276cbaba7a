#include "config.h"

#include "store/warehouse.h"

#include "base/log.h"
#include "pgconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Server notices ("schema already exists, skipping") are for debugging,
 * not for the person running a sync. */
static void notice_to_log(void *arg, const char *message) {
  (void)arg;
  size_t l = strlen(message);
  while (l && message[l - 1] == '\n')
    l--;
  sp_debug(NULL, "warehouse: %.*s", (int)l, message);
}

int sp_warehouse_connect(const sp_config *c, PGconn **out, char *err,
                         size_t errlen) {
  const samspor_settings *w = sp_get_group(c->root, "warehouse");
  const char *conninfo = sp_get_string(w, "conninfo");
  const sp_value *pw = sp_settings_value(w, "password");
  *out = NULL;
  if (sp_conninfo_check(conninfo, err, errlen) != 0)
    return SAMSPOR_ECONFIG;
  if (pw && pw->set && pw->secret_problem) {
    snprintf(err, errlen, "warehouse %s", pw->secret_problem);
    return SAMSPOR_ECONFIG;
  }
  char timeout[32];
  double tmo = sp_get_duration(w, "connect_timeout");
  snprintf(timeout, sizeof timeout, "%.0f", tmo);
  spp_pq_tls_info tls;
  spp_pq_tls(conninfo, &tls);
  if (tls.defaulted)
    sp_debug(NULL,
             "warehouse: sslmode=verify-full (samspor's default for the "
             "non-local host %s)",
             tls.first_remote);
  /* expand_dbname=1: the conninfo (or URI) sits in dbname and the later
   * keywords override only what it leaves unset; sslmode comes before it,
   * so that the conninfo's own sslmode wins.  libpq skips a NULL value. */
  const char *keys[] = {"sslmode",         "dbname",           "password",
                        "connect_timeout", "application_name", NULL};
  const char *vals[] = {tls.defaulted ? tls.sslmode : NULL,
                        conninfo,
                        pw && pw->str ? pw->str : NULL,
                        timeout,
                        "samspor",
                        NULL};
  PGconn *conn;
  char why[768];
  int rc = spp_pq_connect(keys, vals, tmo, "warehouse.conninfo", &conn, why,
                          sizeof why);
  if (rc != 0) {
    snprintf(err, errlen, "cannot connect to the warehouse: %s", why);
    return rc;
  }
  PQsetNoticeProcessor(conn, notice_to_log, NULL);
  *out = conn;
  return 0;
}

int sp_warehouse_ping(const sp_config *c, char *err, size_t errlen) {
  PGconn *conn;
  int rc = sp_warehouse_connect(c, &conn, err, errlen);
  if (rc == 0)
    PQfinish(conn);
  return rc;
}

/* ---- SQL helpers ------------------------------------------------------ */

int sp_pg_classify(PGconn *conn, const PGresult *res) {
  if (PQstatus(conn) != CONNECTION_OK)
    return SAMSPOR_ETEMP;
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (!state)
    return SAMSPOR_ETEMP; /* no SQLSTATE: the connection broke */
  /* 08: connection exception; 57P: admin shutdown, crash, cannot connect
   * now; 53: insufficient resources; 40: serialization/deadlock. */
  if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
      strncmp(state, "53", 2) == 0 || strncmp(state, "40", 2) == 0)
    return SAMSPOR_ETEMP;
  /* Two sessions changing one catalog row at once: the loser gets
   * "tuple concurrently updated" (XX000) or, creating the same object,
   * a unique violation on a catalog index.  Both pass when tried again. */
  const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  const char *nsp = PQresultErrorField(res, PG_DIAG_SCHEMA_NAME);
  if (strcmp(state, "XX000") == 0 && msg && strstr(msg, "concurrently updated"))
    return SAMSPOR_ETEMP;
  if (strcmp(state, "23505") == 0 && nsp && strcmp(nsp, "pg_catalog") == 0)
    return SAMSPOR_ETEMP;
  return SAMSPOR_EFAIL;
}

/* A unique violation, in samspor's words: the server's sentence quotes the
 * constraint (and its detail the key values), so name the table and the
 * constraint from the error fields, which hold no values. */
static int unique_violation(const PGresult *res, char *err, size_t errlen) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (!state || strcmp(state, "23505") != 0)
    return 0;
  const char *schema = PQresultErrorField(res, PG_DIAG_SCHEMA_NAME);
  const char *table = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
  const char *cons = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
  snprintf(err, errlen,
           "a row has the same key as a row already in table %s%s%s "
           "(unique constraint %s) (SQLSTATE 23505)",
           schema ? schema : "", schema ? "." : "", table ? table : "?",
           cons ? cons : "?");
  return 1;
}

void sp_pg_error(PGconn *conn, const PGresult *res, char *err, size_t errlen) {
  if (unique_violation(res, err, errlen))
    return;
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  /* Only texts of the classes that never quote a value are repeated
   * (pgconn.c, the same rule as the pgsql plugin's): a data error would
   * quote the value, a function's RAISE anything its author chose. */
  spp_pq_message(res, PQerrorMessage(conn), err, errlen);
  size_t o = strlen(err);
  if (state && o + 10 < errlen)
    snprintf(err + o, errlen - o, " (SQLSTATE %s)", state);
}

int sp_pg_execp(PGconn *conn, const char *sql, int nparams,
                const char *const *params, ExecStatusType expect,
                PGresult **out, char *err, size_t errlen) {
  PGresult *res =
      nparams ? PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0)
              : PQexec(conn, sql);
  if (out)
    *out = NULL;
  if (!res || PQresultStatus(res) != expect) {
    sp_pg_error(conn, res, err, errlen);
    int rc = sp_pg_classify(conn, res);
    PQclear(res);
    return rc;
  }
  if (out)
    *out = res;
  else
    PQclear(res);
  return 0;
}

int sp_pg_exec(PGconn *conn, const char *sql, ExecStatusType expect,
               PGresult **out, char *err, size_t errlen) {
  return sp_pg_execp(conn, sql, 0, NULL, expect, out, err, errlen);
}

int sp_pg_copy_in(PGconn *conn, const char *sql, FILE *data, char *err,
                  size_t errlen) {
  PGresult *res = PQexec(conn, sql);
  if (PQresultStatus(res) != PGRES_COPY_IN) {
    int rc = sp_pg_classify(conn, res);
    sp_pg_error(conn, res, err, errlen);
    PQclear(res);
    return rc;
  }
  PQclear(res);
  char buf[65536];
  size_t n;
  int rc = 0;
  while (!rc && (n = fread(buf, 1, sizeof buf, data)) > 0)
    if (PQputCopyData(conn, buf, (int)n) != 1) {
      rc = SAMSPOR_ETEMP;
      sp_set_err(err, errlen, "COPY failed: %s", PQerrorMessage(conn));
    }
  PQputCopyEnd(conn, rc ? "samspor: abandoned" : NULL);
  while ((res = PQgetResult(conn)) != NULL) {
    if (PQresultStatus(res) != PGRES_COMMAND_OK && !rc) {
      rc = sp_pg_classify(conn, res);
      sp_pg_error(conn, res, err, errlen);
    }
    PQclear(res);
  }
  return rc;
}

char *sp_schema_qualified(PGconn *conn, const char *schema, const char *table) {
  char *s = PQescapeIdentifier(conn, schema, strlen(schema));
  char *t = PQescapeIdentifier(conn, table, strlen(table));
  char *q = sp_xasprintf("%s.%s", s ? s : "\"?\"", t ? t : "\"?\"");
  PQfreemem(s);
  PQfreemem(t);
  return q;
}
