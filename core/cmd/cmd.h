/*
 * cmd.h — the command layer: the samspor commands, each parsing its argv
 * and calling an engine's plain API (typed arguments; no engine sees argv
 * or this header).  Each returns the process exit status of SPEC.md
 * (exitcode.h): 0 success, 1 failed, 2 usage or configuration error, 75
 * temporary failure.
 */
#ifndef SAMSPOR_CMD_H
#define SAMSPOR_CMD_H

#include "base/exitcode.h"

/* Options every command takes (-c, -v, -q). */
typedef struct sp_global {
  const char *config_path; /* -c, else $SAMSPOR_CONFIG, else /etc/... */
  int verbosity;           /* +1 per -v, -1 per -q */
} sp_global;

/* A command: argv[0] is the command name; options start at argv[1]. */
typedef int (*sp_command_fn)(sp_global *g, int argc, char **argv);

typedef struct sp_command {
  const char *name;     /* as typed */
  sp_command_fn fn;     /* NULL: not implemented yet */
  const char *synopsis; /* "check [--connect]" */
  const char *summary;  /* one line */
  const char *help;     /* the rest of `samspor NAME --help` */
} sp_command;

extern const sp_command sp_commands[];
const sp_command *sp_command_find(const char *name);
/* The command a misspelt `name` most likely meant, or NULL. */
const sp_command *sp_command_suggest(const char *name);

/* Print `lead` and `text` wrapped at spaces to 80 columns, continuation
 * lines indented by `indent`. */
#include <stdio.h>
void sp_print_wrapped(FILE *f, const char *lead, const char *text, int indent);
/* Print `samspor NAME --help` to stdout. */
void sp_command_usage(const sp_command *c);
/* "samspor: <cmd>: <msg>; see samspor <cmd> --help", returns 2 */
int sp_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Parse the per-command options.  `spec` is a getopt_long short-option
 * string for the command's own flags; -c FILE, -v, -q and -h/--help are
 * added.  Options and operands may come in any order; the operands, in
 * their order, are moved to the end of argv.  Returns the index of the
 * first operand, or -1 after printing a usage error (exit 2), or -2 when
 * help was printed (exit 0).
 */
struct option;
int sp_parse_opts(sp_global *g, const sp_command *cmd, int argc, char **argv,
                  const char *spec, const struct option *longopts,
                  int (*on_opt)(int opt, const char *arg, void *data),
                  void *data);

/*
 * The configuration of -c (or the default), with every error and warning
 * printed to stderr and logging set up from its log group and -v/-q.
 * NULL when it has errors (the command then exits 2).
 */
struct sp_config;
struct sp_config *sp_cmd_config(const sp_global *g);

/* The configuration file of -c, else $SAMSPOR_CONFIG, else the default. */
const char *sp_cmd_config_path(const sp_global *g);

/* The whole command line: global options, then the command (main()). */
int sp_main(int argc, char **argv);

/* Commands, in core/cmd/: one file per command or family. */
int sp_cmd_check(sp_global *g, int argc, char **argv);
int sp_cmd_plugins(sp_global *g, int argc, char **argv);
int sp_cmd_version(sp_global *g, int argc, char **argv);
int sp_cmd_keygen(sp_global *g, int argc, char **argv);
int sp_cmd_schedule(sp_global *g, int argc, char **argv);
int sp_cmd_man(sp_global *g, int argc, char **argv);
int sp_cmd_pseudonym(sp_global *g, int argc, char **argv);
int sp_cmd_sync(sp_global *g, int argc, char **argv);
int sp_cmd_run(sp_global *g, int argc, char **argv);
int sp_cmd_status(sp_global *g, int argc, char **argv);
int sp_cmd_trigger(sp_global *g, int argc, char **argv);
int sp_cmd_reload(sp_global *g, int argc, char **argv);
int sp_cmd_forget(sp_global *g, int argc, char **argv);
int sp_cmd_rekey(sp_global *g, int argc, char **argv);
int sp_cmd_grant(sp_global *g, int argc, char **argv);
int sp_cmd_docs(sp_global *g, int argc, char **argv);
int sp_cmd_report(sp_global *g, int argc, char **argv);
int sp_cmd_refresh(sp_global *g, int argc, char **argv);
int sp_cmd_completion(sp_global *g, int argc, char **argv);
int sp_cmd_discover(sp_global *g, int argc, char **argv);
int sp_cmd_rejects(sp_global *g, int argc, char **argv);
int sp_cmd_help(sp_global *g, int argc, char **argv);

#endif
