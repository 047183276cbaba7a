/*
 * cmd/forget.c — samspor forget --kind KIND (identifiers on stdin).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include "cmd/cmd.h"
#include "load/forget.h"

static int forget_opt(int opt, const char *arg, void *data) {
  if (opt != 'k')
    return -1;
  *(const char **)data = arg;
  return 0;
}

int sp_cmd_forget(sp_global *g, int argc, char **argv) {
  static const struct option lo[] = {{"kind", required_argument, NULL, 'k'},
                                     {NULL, 0, NULL, 0}};
  const char *kind = NULL;
  const sp_command *cmd = sp_command_find("forget");
  int first =
      sp_parse_opts(g, cmd, argc, argv, "", lo, forget_opt, (void *)&kind);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (!kind || !*kind)
    return sp_usage_error("forget", "--kind KIND is required");
  if (first != argc)
    return sp_usage_error("forget", "identifiers are read on stdin, not "
                                    "from the command line");
  sp_config *c = sp_cmd_config(g);
  if (!c)
    return SP_EXIT_USAGE;
  return sp_forget(c, kind, stdin);
}
