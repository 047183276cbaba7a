/*
 * cmd/rekey.c — samspor rekey --new-key FILE [--drop-unreloadable].
 */
#include "config.h"

#include <getopt.h>

#include "cmd/cmd.h"
#include "load/rekey.h"

static int rekey_opt(int opt, const char *arg, void *data) {
  sp_rekey_opts *o = data;
  if (opt == 'n')
    o->new_key = arg;
  else if (opt == 'D')
    o->drop_unreloadable = 1;
  else
    return -1;
  return 0;
}

int sp_cmd_rekey(sp_global *g, int argc, char **argv) {
  static const struct option lo[] = {
      {"new-key", required_argument, NULL, 'n'},
      {"drop-unreloadable", no_argument, NULL, 'D'},
      {NULL, 0, NULL, 0}};
  sp_rekey_opts ro = {NULL, 0};
  const sp_command *cmd = sp_command_find("rekey");
  int first = sp_parse_opts(g, cmd, argc, argv, "", lo, rekey_opt, &ro);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (!ro.new_key || !*ro.new_key)
    return sp_usage_error("rekey", "--new-key FILE is required (make the key "
                                   "with samspor keygen FILE)");
  if (first != argc)
    return sp_usage_error("rekey", "unexpected argument '%s'", argv[first]);
  sp_config *c = sp_cmd_config(g);
  if (!c)
    return SP_EXIT_USAGE;
  return sp_rekey(c, &ro);
}
