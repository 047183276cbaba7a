/*
 * cmd/partner.c — samspor refresh: the partner indicator tables.
 */
#include "config.h"

#include "cmd/cmd.h"
#include "model/conf.h"
#include "partner/indicators.h"

int sp_cmd_refresh(sp_global *g, int argc, char **argv) {
  const sp_command *cmd = sp_command_find("refresh");
  int first = sp_parse_opts(g, cmd, argc, argv, "", NULL, NULL, NULL);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (first < argc)
    return sp_usage_error("refresh", "unexpected argument '%s'", argv[first]);
  sp_config *c = sp_cmd_config(g);
  if (!c)
    return SP_EXIT_USAGE;
  return sp_refresh(c);
}
