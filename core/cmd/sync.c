/*
 * cmd/sync.c — samspor sync [NAME...] [--full] [--dry-run].
 */
#include "config.h"

#include <getopt.h>

#include "cmd/cmd.h"
#include "load/sync.h"

static int sync_opt(int opt, const char *arg, void *data) {
  (void)arg;
  sp_sync_opts *o = data;
  if (opt == 'F')
    o->full = 1;
  else if (opt == 'D')
    o->dry_run = 1;
  else if (opt == 'K')
    o->rebuild = -1; /* refused below; never reaches the syncer */
  else
    return -1;
  return 0;
}

int sp_cmd_sync(sp_global *g, int argc, char **argv) {
  static const struct option lo[] = {{"full", no_argument, NULL, 'F'},
                                     {"dry-run", no_argument, NULL, 'D'},
                                     {"new-key", no_argument, NULL, 'K'},
                                     {NULL, 0, NULL, 0}};
  sp_sync_opts o = {0};
  const sp_command *cmd = sp_command_find("sync");
  int first = sp_parse_opts(g, cmd, argc, argv, "", lo, sync_opt, &o);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  /* It loaded the new key stream by stream, leaving two generations of
   * pseudonyms side by side and erasures behind under the old key. */
  if (o.rebuild)
    return sp_usage_error("sync",
                          "--new-key is gone: it mixed two generations of "
                          "pseudonyms in the tables; rotate the key with "
                          "samspor rekey --new-key FILE");
  sp_config *c = sp_cmd_config(g);
  if (!c)
    return SP_EXIT_USAGE;
  return sp_sync_run(c, &o, argv + first, argc - first);
}
