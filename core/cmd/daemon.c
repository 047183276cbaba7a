/*
 * cmd/daemon.c — samspor run: the daemon, in the foreground.
 */
#include "config.h"

#include "cmd/cmd.h"
#include "daemon/daemon.h"

int sp_cmd_run(sp_global *g, int argc, char **argv) {
  const sp_command *cmd = sp_command_find("run");
  int first = sp_parse_opts(g, cmd, argc, argv, "", NULL, NULL, NULL);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (first != argc)
    return sp_usage_error("run", "unexpected argument '%s'", argv[first]);
  return sp_daemon_run(sp_cmd_config_path(g), g->verbosity);
}
