/* report.c — placeholder until the report renderer lands. */
#include "config.h"

#include "report.h"
#include "util.h"

int sp_report_write_file(PGconn *conn, const struct sp_config *c,
                         const char *path, char *err, size_t errlen) {
  (void)conn;
  (void)c;
  sp_set_err(err, errlen, "%s: the report is not implemented yet", path);
  return 0;
}
