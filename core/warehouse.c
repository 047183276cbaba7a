#include "config.h"

#include "warehouse.h"

#include "log.h"

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
  snprintf(timeout, sizeof timeout, "%.0f",
           sp_get_duration(w, "connect_timeout"));
  const char *keys[] = {"dbname", "password", "connect_timeout",
                        "application_name", NULL};
  const char *vals[] = {conninfo, pw && pw->str ? pw->str : NULL, timeout,
                        "samspor", NULL};
  /* expand_dbname=1: the conninfo (or URI) sits in dbname and the later
   * keywords override only what it leaves unset. */
  PGconn *conn = PQconnectdbParams(keys, vals, 1);
  if (!conn) {
    snprintf(err, errlen, "out of memory connecting to the warehouse");
    return SAMSPOR_ENOMEM;
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    const char *msg = PQerrorMessage(conn);
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
      l--;
    snprintf(err, errlen, "cannot connect to the warehouse: %.*s", (int)l, msg);
    /* Authentication failures are permanent; anything else (refused,
     * timeout, DNS, server starting up) is worth retrying. */
    int rc = (strstr(msg, "authentication failed") || strstr(msg, "password") ||
              strstr(msg, "no pg_hba.conf"))
                 ? SAMSPOR_EAUTH
                 : SAMSPOR_ETEMP;
    PQfinish(conn);
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
