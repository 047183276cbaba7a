#include "config.h"

#include "warehouse.h"

#include "log.h"
#include "pgconn.h"

#include <stdio.h>
#include <string.h>

int sp_conninfo_check(const char *conninfo, char *err, size_t errlen) {
  char *perr = NULL;
  PQconninfoOption *opts = PQconninfoParse(conninfo, &perr);
  if (!opts) {
    /* libpq's message quotes the string, which could hold a password. */
    snprintf(err, errlen,
             "conninfo is not a valid libpq connection string or URI");
    PQfreemem(perr);
    return SAMSPOR_ECONFIG;
  }
  int rc = 0;
  for (PQconninfoOption *o = opts; o->keyword; o++)
    if (strcmp(o->keyword, "password") == 0 && o->val && *o->val) {
      snprintf(err, errlen,
               "conninfo holds a password; remove it and write "
               "password_file or password_env in warehouse, or use a "
               "~/.pgpass or service file");
      rc = SAMSPOR_ECONFIG;
    }
  PQconninfoFree(opts);
  return rc;
}

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
  sp_pq_tls_info tls;
  sp_pq_tls(conninfo, &tls);
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
  int rc = sp_pq_connect(keys, vals, tmo, "warehouse.conninfo", &conn, why,
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
