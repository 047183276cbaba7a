/*
 * cmd/admin.c — samspor status, trigger and reload: the daemon's admin
 * socket, asked from the command line (the client half is admin.c's).
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>

#include <jansson.h>

#include "daemon/admin.h"
#include "cmd/cmd.h"

static int json_opt(int opt, const char *arg, void *data) {
  if (opt != 'J')
    return -1;
  *(int *)data = 1;
  return 0;
}

int sp_cmd_status(sp_global *g, int argc, char **argv) {
  static const struct option lo[] = {{"json", no_argument, NULL, 'J'},
                                     {NULL, 0, NULL, 0}};
  int as_json = 0;
  const sp_command *cmd = sp_command_find("status");
  int first = sp_parse_opts(g, cmd, argc, argv, "", lo, json_opt, &as_json);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (first != argc)
    return sp_usage_error("status", "unexpected argument '%s'", argv[first]);
  json_t *resp = NULL;
  int st = sp_admin_ask(sp_cmd_config_path(g), "status",
                        json_pack("{s:s}", "cmd", "status"), &resp);
  if (st != SP_EXIT_OK)
    return st;
  if (!json_is_true(json_object_get(resp, "ok"))) {
    st = sp_admin_answer_error("status", resp);
  } else if (as_json) {
    json_dumpf(resp, stdout,
               JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    fputc('\n', stdout);
  } else {
    sp_status_print(stdout, resp);
  }
  json_decref(resp);
  if (fflush(stdout) != 0)
    st = SP_EXIT_FAIL;
  return st;
}

int sp_cmd_trigger(sp_global *g, int argc, char **argv) {
  const sp_command *cmd = sp_command_find("trigger");
  int first = sp_parse_opts(g, cmd, argc, argv, "", NULL, NULL, NULL);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (argc - first != 1)
    return sp_usage_error("trigger", "expected one connector NAME");
  json_t *resp = NULL;
  int st = sp_admin_ask(
      sp_cmd_config_path(g), "trigger",
      json_pack("{s:s, s:s}", "cmd", "trigger", "connector", argv[first]),
      &resp);
  if (st != SP_EXIT_OK)
    return st;
  if (!json_is_true(json_object_get(resp, "ok"))) {
    st = sp_admin_answer_error("trigger", resp);
  } else {
    const char *msg = json_string_value(json_object_get(resp, "message"));
    printf("%s\n", msg ? msg : "triggered");
  }
  json_decref(resp);
  return st;
}

int sp_cmd_reload(sp_global *g, int argc, char **argv) {
  const sp_command *cmd = sp_command_find("reload");
  int first = sp_parse_opts(g, cmd, argc, argv, "", NULL, NULL, NULL);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (first != argc)
    return sp_usage_error("reload", "unexpected argument '%s'", argv[first]);
  json_t *resp = NULL;
  int st = sp_admin_ask(sp_cmd_config_path(g), "reload",
                        json_pack("{s:s}", "cmd", "reload"), &resp);
  if (st != SP_EXIT_OK)
    return st;
  size_t i;
  const json_t *v;
  json_array_foreach(json_object_get(resp, "errors"), i, v)
      fprintf(stderr, "error: %s\n", json_string_value(v));
  json_array_foreach(json_object_get(resp, "warnings"), i, v)
      fprintf(stderr, "warning: %s\n", json_string_value(v));
  if (!json_is_true(json_object_get(resp, "ok"))) {
    st = sp_admin_answer_error("reload", resp);
  } else {
    const char *msg = json_string_value(json_object_get(resp, "message"));
    printf("%s\n", msg ? msg : "reloaded");
  }
  json_decref(resp);
  return st;
}
