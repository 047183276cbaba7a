/*
 * cmd/check.c — samspor check [--connect] [--offline].
 */
#include "config.h"

#include <getopt.h>

#include "load/check.h"
#include "cmd/cmd.h"

static int check_opt(int opt, const char *arg, void *data) {
  (void)arg;
  if (opt == 'C')
    ((sp_check_opts *)data)->connect = 1;
  else if (opt == 'O')
    ((sp_check_opts *)data)->offline = 1;
  else
    return -1;
  return 0;
}

int sp_cmd_check(sp_global *g, int argc, char **argv) {
  static const struct option longopts[] = {{"connect", no_argument, NULL, 'C'},
                                           {"offline", no_argument, NULL, 'O'},
                                           {NULL, 0, NULL, 0}};
  sp_check_opts o = {0, 0};
  const sp_command *cmd = sp_command_find("check");
  int first = sp_parse_opts(g, cmd, argc, argv, "", longopts, check_opt, &o);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (first != argc)
    return sp_usage_error("check", "unexpected argument '%s'", argv[first]);
  return sp_check(sp_cmd_config_path(g), &o);
}
