/*
 * cmd/grant.c — samspor grant ORG --role partner|analyst [--areas A,B,...]
 * [--all-areas] [--password-file FILE].
 */
#include "config.h"

#include <getopt.h>
#include <string.h>

#include "cmd/cmd.h"
#include "partner/grant.h"

static int grant_opt(int opt, const char *arg, void *data) {
  sp_grant_args *a = data;
  switch (opt) {
  case 'r':
    a->role = arg;
    return 0;
  case 'a':
    a->areas = arg;
    return 0;
  case 'A':
    a->all_areas = 1;
    return 0;
  case 'p':
    a->password_file = arg;
    return 0;
  default:
    return -1;
  }
}

int sp_cmd_grant(sp_global *g, int argc, char **argv) {
  static const struct option lo[] = {
      {"role", required_argument, NULL, 'r'},
      {"areas", required_argument, NULL, 'a'},
      {"all-areas", no_argument, NULL, 'A'},
      {"password-file", required_argument, NULL, 'p'},
      {NULL, 0, NULL, 0}};
  sp_grant_args a = {NULL, NULL, 0, NULL};
  const sp_command *cmd = sp_command_find("grant");
  int first = sp_parse_opts(g, cmd, argc, argv, "", lo, grant_opt, &a);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (argc - first != 1)
    return sp_usage_error("grant", "expected one organisation name");
  if (!a.role ||
      (strcmp(a.role, "analyst") != 0 && strcmp(a.role, "partner") != 0))
    return sp_usage_error("grant", "--role partner or --role analyst is "
                                   "required");
  int analyst = strcmp(a.role, "analyst") == 0;
  if (!analyst && (a.areas || a.all_areas))
    return sp_usage_error("grant", "--areas and --all-areas apply to --role "
                                   "analyst only; partners see only the "
                                   "aggregates of schema partner");
  if (analyst && !a.areas == !a.all_areas)
    return sp_usage_error("grant", "--role analyst needs either --areas "
                                   "A,B,... or --all-areas");
  if (!sp_grant_org_valid(argv[first]))
    return sp_usage_error("grant",
                          "organisation name '%s': use letters a-z, digits, "
                          "_, - or spaces, starting with a letter (at most "
                          "41)",
                          argv[first]);
  return sp_grant(sp_cmd_config_path(g), argv[first], &a);
}
