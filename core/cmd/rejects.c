/*
 * cmd_rejects.c — `samspor rejects [RUN]`: the command line of rejects.c.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cmd/cmd.h"
#include "model/conf.h"
#include "base/log.h"
#include "load/rejects.h"
#include "store/warehouse.h"

int sp_cmd_rejects(sp_global *g, int argc, char **argv) {
  const sp_command *cmd = sp_command_find("rejects");
  int first = sp_parse_opts(g, cmd, argc, argv, "", NULL, NULL, NULL);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (argc - first > 1)
    return sp_usage_error("rejects", "unexpected argument '%s'",
                          argv[first + 1]);
  long long run = 0;
  if (first < argc) {
    char *end;
    errno = 0;
    run = strtoll(argv[first], &end, 10);
    if (errno || *end || end == argv[first] || run <= 0)
      return sp_usage_error("rejects", "RUN must be a run id, not '%s'",
                            argv[first]);
  }
  sp_config *c = sp_cmd_config(g);
  if (!c)
    return SP_EXIT_USAGE;
  PGconn *conn = NULL;
  char err[1024];
  int rc = sp_warehouse_connect(c, &conn, err, sizeof err);
  if (!rc)
    rc = sp_rejects_print(conn, run, stdout, err, sizeof err);
  if (rc)
    fprintf(stderr, "samspor: rejects: %s\n", err);
  if (conn)
    PQfinish(conn);
  sp_config_free(c);
  return rc == SAMSPOR_ENOENT ? SP_EXIT_FAIL : sp_exit_status(rc);
}
