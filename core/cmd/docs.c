/*
 * cmd/docs.c — samspor docs and samspor report: "NAME [--html] [-o FILE]",
 * a document written from the live warehouse (docout.h).
 */
#include "config.h"

#include <getopt.h>

#include "cmd/cmd.h"
#include "partner/docout.h"

typedef struct doc_opts {
  int html;
  const char *out;
} doc_opts;

static int doc_opt(int opt, const char *arg, void *data) {
  doc_opts *o = data;
  if (opt == 'H')
    o->html = 1;
  else if (opt == 'o')
    o->out = arg;
  else
    return -1;
  return 0;
}

static int doc_cmd(sp_global *g, int argc, char **argv, const char *name,
                   int (*write)(sp_config *, int, const char *)) {
  static const struct option lo[] = {{"html", no_argument, NULL, 'H'},
                                     {NULL, 0, NULL, 0}};
  doc_opts o = {0, NULL};
  const sp_command *cmd = sp_command_find(name);
  int first = sp_parse_opts(g, cmd, argc, argv, "o:", lo, doc_opt, &o);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (first != argc)
    return sp_usage_error(name, "unexpected argument '%s'", argv[first]);
  if (o.out && !*o.out)
    return sp_usage_error(name, "-o needs a file name");
  sp_config *c = sp_cmd_config(g);
  if (!c)
    return SP_EXIT_USAGE;
  return write(c, o.html, o.out);
}

int sp_cmd_docs(sp_global *g, int argc, char **argv) {
  return doc_cmd(g, argc, argv, "docs", sp_docs_write);
}

int sp_cmd_report(sp_global *g, int argc, char **argv) {
  return doc_cmd(g, argc, argv, "report", sp_report_write);
}
