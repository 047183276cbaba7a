/*
 * commands.c — the table of commands, their option parsing and usage, and
 * the dispatch of a command line (sp_main; main() is core/cmd/main.c).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <sodium.h>

#include "cmd/cmd.h"
#include "model/conf.h"
#include "base/log.h"

#define CONF_HELP                                                              \
  "  -c FILE     configuration (default: $SAMSPOR_CONFIG, else\n"              \
  "              /etc/samspor/samspor.conf)\n"                                 \
  "  -v, -q      more or less logging (repeatable)\n"                          \
  "  -h, --help  this text\n"

const sp_command sp_commands[] = {
    {"check", sp_cmd_check, "check [--connect] [--offline]",
     "validate the configuration and load every plugin it names",
     "Parses and validates the configuration and loads every plugin it "
     "names,\nthen prints a summary: connectors, plugin, schedule and next "
     "run, target\ntables. All errors are reported, each with its file and "
     "line.\n\n"
     "  --connect   also reach the warehouse and every source and verify\n"
     "              credentials, loading nothing\n"
     "  --offline   a configuration meant for another machine: files it\n"
     "              names that are missing here are warnings, not "
     "errors\n" CONF_HELP
     "\nExit status: 0 valid; 2 invalid; 75 (with --connect) a source or the\n"
     "warehouse could not be reached.\n"},
    {"discover", sp_cmd_discover,
     "discover CONNECTOR | --plugin NAME URL [--option KEY=VALUE...] [-n N]",
     "list a source's fields, guess their types, print columns",
     "Reads the first N records (default 100) of a configured connector's\n"
     "streams, or of a bare source (--plugin, its URL and options), and\n"
     "prints the fields found (a CSV header, a query's columns, the child\n"
     "elements of XML records, the keys of JSON records), a guess of each\n"
     "field's type and format (integer, decimal comma, date dd-mm-yyyy,\n"
     "CPR-like) and a ready columns = ( ... ); with privacy-safe defaults:\n"
     "CPR-like fields pseudonymised, fields named like names or addresses\n"
     "left out.\n"
     "Values are never printed.\n\n"
     "  --plugin NAME       a bare source read by plugin NAME\n"
     "  --option KEY=VALUE  a source (or stream) option of the plugin, as in\n"
     "                      the configuration (repeatable)\n"
     "  -n N                records to look at (default 100)\n" CONF_HELP
     "\nExit status: 0 printed; 1 the source could not be read; 2 usage or\n"
     "configuration error, or a plugin that cannot list its fields; 75 the\n"
     "source was unreachable.\n"},
    {"sync", sp_cmd_sync, "sync [NAME...] [--full] [--dry-run]",
     "run connectors once, now, and exit",
     "Runs the named connectors (default: all) once and exits, printing a\n"
     "summary per stream: rows read, loaded, rejected (per reason), deleted,\n"
     "seconds.\n\n"
     "  --full      ignore stored cursors and load everything again\n"
     "  --dry-run   read, validate, pseudonymise and load into the real\n"
     "              tables in a transaction that is rolled back: prints what\n"
     "              would be read, loaded, rejected and skipped, and keeps\n"
     "              nothing (no run, cursor, loaded file or reject)\n"
     "\nThe key must be the warehouse's current generation; to change it, use\n"
     "samspor rekey.\n" CONF_HELP
     "\nExit status: 0 success; 1 a sync failed or the reject ratio was\n"
     "exceeded; 2 configuration error; 75 a source or the warehouse was\n"
     "unreachable or the connector is locked by another samspor.\n"},
    {"rejects", sp_cmd_rejects, "rejects [RUN]",
     "why rows were rejected: counts per reason and column",
     "Reads samspor.rejects and prints, for run RUN (default: the latest run\n"
     "of each stream), the rows rejected per reason and column with the\n"
     "first positions in the source (file:line, page and item). Never a\n"
     "value: the table holds none. When max_rejects_stored kept some out,\n"
     "the line says how many were stored of the run's total.\n\n" CONF_HELP
     "\nExit status: 0 printed; 1 no such run (or no sync yet); 2\n"
     "configuration error; 75 the warehouse could not be reached.\n"},
    {"run", sp_cmd_run, "run", "the daemon, in the foreground",
     "Runs the scheduler in the foreground (systemd starts it): each due\n"
     "connector syncs in a child process; SIGHUP reloads the configuration,\n"
     "SIGTERM stops gracefully.\n\n" CONF_HELP},
    {"status", sp_cmd_status, "status [--json]",
     "show the running daemon's state",
     "Asks the running daemon over its admin socket for each connector's\n"
     "state, last run and next run.\n\n"
     "  --json      machine-readable output\n\n"
     "Exit status: 0 done; 1 the daemon answered with an error; 75 no\n"
     "daemon listening, or one that stayed busy (every admin connection\n"
     "taken) for 10 s: the message says which.\n" CONF_HELP},
    {"trigger", sp_cmd_trigger, "trigger NAME",
     "ask the daemon to run a connector now",
     "Asks the running daemon to run connector NAME now.\n\n" CONF_HELP},
    {"reload", sp_cmd_reload, "reload",
     "ask the daemon to reload its configuration",
     "Asks the running daemon to re-read its configuration; an invalid one\n"
     "is refused and the old one kept.\n\n" CONF_HELP},
    {"keygen", sp_cmd_keygen, "keygen FILE", "write a new pseudonymisation key",
     "Writes 32 random bytes to FILE with mode 0600. Refuses to overwrite an\n"
     "existing file: a new key breaks linkage with everything loaded so far.\n"
     "Keep a copy of the key offline; without it, pseudonyms cannot be\n"
     "reproduced.\n\n" CONF_HELP},
    {"pseudonym", sp_cmd_pseudonym, "pseudonym --kind KIND",
     "print the pseudonyms of identifiers read on stdin",
     "Reads identifiers on stdin, one a line, and prints one pseudonym a line\n"
     "(or 'invalid' for an identifier that does not validate), with the key\n"
     "of the configuration. For subject-access requests and for a partner\n"
     "linking its own data.\n\n"
     "  --kind KIND the identifier kind: cpr, or another name (tenancy, "
     "...)\n" CONF_HELP},
    {"rekey", sp_cmd_rekey, "rekey --new-key FILE [--drop-unreloadable]",
     "rotate the pseudonymisation key: every table rebuilt at once",
     "Rebuilds every stream table under the key in FILE, in one transaction:\n"
     "each table is emptied and reloaded from its source (as sync --full),\n"
     "so no table ever holds two generations of pseudonyms and readers see\n"
     "the old tables or the new ones, never a mix. The configured key must\n"
     "be the warehouse's current generation: each identifier is\n"
     "pseudonymised under both keys, and a person forgotten under the old\n"
     "key is dropped and recorded as forgotten under the new one. Frozen\n"
     "periods of the partner tables keep their published figures. Killed\n"
     "half-way, nothing changes; run it again. Afterwards, point\n"
     "pseudonym.key_file at FILE and destroy the old key.\n\n"
     "  --new-key FILE       the new key (samspor keygen FILE)\n"
     "  --drop-unreloadable  rotate even when a stream's source may not\n"
     "                       deliver its history again (mode append or a\n"
     "                       cursor): rows it does not deliver are dropped.\n"
     "                       Without it such streams are listed and nothing\n"
     "                       changes\n" CONF_HELP
     "\nExit status: 0 rotated (or already rotated); 1 a load failed, nothing\n"
     "changed; 2 usage or configuration error, the wrong current key, or\n"
     "unreloadable streams; 75 the warehouse or a source was unreachable or a\n"
     "connector is locked.\n"},
    {"forget", sp_cmd_forget, "forget --kind KIND",
     "erase people from the warehouse and keep them out",
     "Reads identifiers on stdin; in one transaction deletes every row of\n"
     "every warehouse table whose pseudonym column of that kind matches, and\n"
     "records the pseudonyms so future loads skip them.\n\n"
     "  --kind KIND the identifier kind\n" CONF_HELP},
    {"grant", sp_cmd_grant,
     "grant ORG --role partner|analyst [--areas A,B,...] [--all-areas] "
     "[--password-file FILE]",
     "create or update a partner organisation's login",
     "Creates (or updates) the login role of organisation ORG in the\n"
     "warehouse: org_<org>_partner, a member of samspor_partner, which reads\n"
     "only the aggregate views of schema partner; or org_<org>_analyst, a\n"
     "member of samspor_analyst, which reads the pseudonymised tables. <org>\n"
     "is ORG in lowercase with spaces and dashes made _ (letters a-z, digits\n"
     "and _, starting with a letter, at most 41). Tables whose stream sets\n"
     "restrict_by show an analyst only the rows of its organisation's areas.\n"
     "Running it again updates the role and replaces the areas.\n\n"
     "  --role partner|analyst  what the login may read (required)\n"
     "  --areas A,B,...         analyst: the organisation's housing areas\n"
     "                          (replaces those recorded before)\n"
     "  --all-areas             analyst: every area (samspor_analyst_all)\n"
     "  --password-file FILE    set the password from the first line of FILE\n"
     "                          (mode 0600; hashed before it is sent; never\n"
     "                          printed). Without it, set one in psql with\n"
     "                          \\password ROLE\n" CONF_HELP
     "\nNeeds a warehouse user with CREATEROLE (or a superuser): point -c at "
     "a\n"
     "configuration whose conninfo names an administrator.\n"
     "Exit status: 0 done; 1 failed; 2 usage error, a bad name or password\n"
     "file, or no CREATEROLE; 75 the warehouse was unreachable.\n"},
    {"schedule", sp_cmd_schedule,
     "schedule EXPR [--tz ZONE] [--from TIME] [-n N]",
     "print the next run times of a schedule",
     "Prints the next N run times of EXPR (five-field cron or @hourly,\n"
     "@daily, @nightly, @weekly), one ISO 8601 time with offset a line.\n\n"
     "  --tz ZONE    IANA time zone (default: daemon.timezone of the\n"
     "               configuration if readable, else Europe/Copenhagen)\n"
     "  --from TIME  print times strictly after TIME (default: now)\n"
     "  -n N         how many (default 5)\n"
     "  -h, --help   this text\n"},
    {"plugins", sp_cmd_plugins, "plugins [NAME]",
     "list the plugins found, with every option they take",
     "Lists the plugins in the plugin directory with their source and stream\n"
     "options; with NAME, only that plugin. Plugins that were refused (wrong\n"
     "ABI) are listed with the reason.\n\n" CONF_HELP},
    {"docs", sp_cmd_docs, "docs [--html] [-o FILE]",
     "write the warehouse's data dictionary",
     "Writes the data dictionary of the warehouse from the live warehouse\n"
     "and the configuration: every table and column with its meaning, source\n"
     "connector, refresh schedule, the pseudonymisation or generalisation\n"
     "applied, retention, last load and row count; how pseudonyms, erasure,\n"
     "rejects, small-count suppression and the roles work. Only catalog\n"
     "metadata, configuration and counts: never a value of a row.\n\n"
     "  --html      one self-contained HTML page instead of Markdown\n"
     "  -o FILE     write to FILE (atomically) instead of stdout\n" CONF_HELP
     "\nExit status: 0 written; 2 configuration error; 75 the warehouse could\n"
     "not be reached (nothing is written).\n"},
    {"report", sp_cmd_report, "report [--html] [-o FILE]",
     "write the partners' report of the indicators",
     "Writes the partners' report from the tables of schema partner: per\n"
     "indicator a chart over time with a line per area and a table beside\n"
     "it; suppressed values are gaps, with the reason.  Only suppressed\n"
     "aggregates are read, never a row of a stream table.\n\n"
     "  --html      one self-contained HTML page with SVG charts; without\n"
     "              it, Markdown with the tables only\n"
     "  -o FILE     write to FILE (atomically) instead of stdout\n" CONF_HELP
     "\nExit status: 0 written; 1 the tables could not be read or the file\n"
     "not written; 2 configuration error; 75 the warehouse could not be\n"
     "reached (nothing is written).\n"},
    {"refresh", sp_cmd_refresh, "refresh",
     "recompute the partner indicator tables (and the report)",
     "Recomputes every indicator of partner.indicators from the warehouse\n"
     "into its table partner.<name>, with small counts suppressed, and\n"
     "rewrites partner.report when it is set.  samspor sync does this after\n"
     "every sync; this command is for a changed configuration or by hand.\n"
     "An indicator whose query reads a table that does not exist yet is\n"
     "skipped with a warning.\n\n" CONF_HELP
     "\nExit status: 0 done; 1 an indicator failed; 2 configuration error;\n"
     "75 the warehouse could not be reached.\n"},
    {"version", sp_cmd_version, "version",
     "print versions of samspor, its plugin ABI and its libraries",
     "Prints the samspor version, the plugin ABI version and the versions of\n"
     "the libraries it runs with.\n"},
    {"man", sp_cmd_man, "man", "write the man page (roff) to stdout",
     "Writes samspor(1) in roff, generated from the option tables and the\n"
     "plugins found, to stdout.\n\n" CONF_HELP},
    {"completion", sp_cmd_completion, "completion bash",
     "write the shell completion script to stdout",
     "Writes a bash completion script for samspor, generated from the\n"
     "command table and each command's options, to stdout. make install\n"
     "puts it in $(datadir)/bash-completion/completions/samspor; by hand:\n"
     "\n"
     "  source <(samspor completion bash)\n\n"
     "  -h, --help  this text\n"},
    {"help", sp_cmd_help, "help [COMMAND]", "explain a command",
     "Prints the help of COMMAND, as 'samspor COMMAND --help' does; without\n"
     "COMMAND, the list of commands.\n"},
    {NULL, NULL, NULL, NULL, NULL}};

const sp_command *sp_command_find(const char *name) {
  for (const sp_command *c = sp_commands; c->name; c++)
    if (strcmp(c->name, name) == 0)
      return c;
  return NULL;
}

const char *sp_cmd_config_path(const sp_global *g) {
  return g->config_path ? g->config_path : sp_config_default_path();
}

void sp_print_wrapped(FILE *f, const char *lead, const char *text, int indent) {
  int col = fprintf(f, "%s", lead);
  int start = col;
  for (const char *p = text; *p;) {
    size_t n = strcspn(p, " ");
    if (col > start && col + 1 + (int)n > 80) {
      col = fprintf(f, "\n%*s", indent, "") - 1;
      start = col;
    } else if (col > start) {
      col += fprintf(f, " ");
    }
    col += fprintf(f, "%.*s", (int)n, p);
    p += n;
    while (*p == ' ')
      p++;
  }
  fputc('\n', f);
}

void sp_command_usage(const sp_command *c) {
  sp_print_wrapped(stdout, "usage: samspor [-c FILE] ", c->synopsis, 4);
  printf("\n%s: %s.\n\n%s", c->name, c->summary, c->help);
}

int sp_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "samspor: %s%s", cmd ? cmd : "", cmd ? ": " : "");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nsee 'samspor %s%s--help'\n", cmd ? cmd : "",
          cmd ? " " : "");
  return SP_EXIT_USAGE;
}

int sp_parse_opts(sp_global *g, const sp_command *cmd, int argc, char **argv,
                  const char *spec, const struct option *longopts,
                  int (*on_opt)(int opt, const char *arg, void *data),
                  void *data) {
  static const struct option common[] = {
      {"help", no_argument, NULL, 'h'},
      {"config", required_argument, NULL, 'c'}};
  struct option all[32];
  size_t n = 0;
  for (size_t i = 0; i < SP_ARRAY_LEN(common); i++)
    all[n++] = common[i];
  for (const struct option *o = longopts; o && o->name && n < 31; o++)
    all[n++] = *o;
  memset(&all[n], 0, sizeof all[n]);
  char shorts[64];
  /* Leading '-': operands come back in order as option 1, wherever they
   * stand (samspor sync a --full b, samspor grant ORG --role analyst),
   * whatever POSIXLY_CORRECT says; ':' to report missing arguments
   * ourselves. */
  snprintf(shorts, sizeof shorts, "-:hc:vq%s", spec ? spec : "");
  char **ops = sp_xcalloc((size_t)argc + 1, sizeof *ops);
  int nops = 0;
  optind = 1;
  opterr = 0;
  for (;;) {
    int opt = getopt_long(argc, argv, shorts, all, NULL);
    if (opt == -1)
      break;
    switch (opt) {
    case 1:
      ops[nops++] = optarg;
      break;
    case 'h':
      sp_command_usage(cmd);
      free(ops);
      return -2;
    case 'c':
      g->config_path = optarg;
      break;
    case 'v':
      g->verbosity++;
      break;
    case 'q':
      g->verbosity--;
      break;
    case ':':
      sp_usage_error(cmd->name, "option %s needs an argument",
                     argv[optind - 1]);
      free(ops);
      return -1;
    case '?':
      if (optopt)
        sp_usage_error(cmd->name, "unknown option -%c", optopt);
      else
        sp_usage_error(cmd->name, "unknown option %s", argv[optind - 1]);
      free(ops);
      return -1;
    default:
      if (!on_opt || on_opt(opt, optarg, data) != 0) {
        free(ops);
        return -1;
      }
    }
  }
  /* After "--" the rest are operands too. */
  while (optind < argc)
    ops[nops++] = argv[optind++];
  /* The operands, in order, become argv's tail: the callers read them at
   * argv[first .. argc-1].  Only the pointer array is rearranged. */
  int first = argc - nops;
  for (int i = 0; i < nops; i++)
    argv[first + i] = ops[i];
  free(ops);
  return first;
}

/* Edit distance of a and b with adjacent transpositions counted as one
 * edit (optimal string alignment), for "did you mean": "sycn" is one
 * edit from "sync". */
static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b), w = lb + 1;
  size_t *d = sp_xcalloc((la + 1) * w, sizeof *d);
  for (size_t i = 0; i <= la; i++)
    d[i * w] = i;
  for (size_t j = 0; j <= lb; j++)
    d[j] = j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      size_t best = d[(i - 1) * w + j - 1] + (a[i - 1] != b[j - 1]);
      if (d[(i - 1) * w + j] + 1 < best)
        best = d[(i - 1) * w + j] + 1;
      if (d[i * w + j - 1] + 1 < best)
        best = d[i * w + j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[(i - 2) * w + j - 2] + 1 < best)
        best = d[(i - 2) * w + j - 2] + 1;
      d[i * w + j] = best;
    }
  size_t r = d[la * w + lb];
  free(d);
  return r;
}

const sp_command *sp_command_suggest(const char *name) {
  const sp_command *best = NULL;
  size_t bestd = (size_t)-1;
  for (const sp_command *c = sp_commands; c->name; c++) {
    size_t d = edit_distance(name, c->name);
    if (d < bestd) {
      bestd = d;
      best = c;
    }
  }
  /* A typo, not another word: at most 2 edits, and fewer than half the
   * letters of the shorter one. */
  size_t shortest = strlen(name);
  if (best && strlen(best->name) < shortest)
    shortest = strlen(best->name);
  return best && bestd <= 2 && bestd * 2 < shortest ? best : NULL;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: samspor [-c FILE] [-v|-q] COMMAND [ARGS]\n\n"
          "samspor pulls the partners' data every night, pseudonymises it on "
          "the way in,\nand loads it into one shared PostgreSQL warehouse.\n\n"
          "Commands:\n");
  /* One line when it fits 80 columns, else the summary on a line below. */
  for (const sp_command *c = sp_commands; c->name; c++) {
    if (strlen(c->synopsis) <= 26 && 29 + strlen(c->summary) <= 80) {
      fprintf(f, "  %-26s %s\n", c->synopsis, c->summary);
    } else {
      sp_print_wrapped(f, "  ", c->synopsis, 4);
      fprintf(f, "      %s\n", c->summary);
    }
  }
  fprintf(f, "\nGlobal options (before or after the command):\n" CONF_HELP
             "\n'samspor help COMMAND' or 'samspor COMMAND --help' explains a "
             "command.\n"
             "Exit status: 0 success, 1 failed, 2 usage or configuration "
             "error,\n75 temporary failure (worth retrying later).\n");
}

int sp_cmd_help(sp_global *g, int argc, char **argv) {
  const sp_command *cmd = sp_command_find("help");
  int first = sp_parse_opts(g, cmd, argc, argv, "", NULL, NULL, NULL);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (first == argc) {
    usage(stdout);
    return SP_EXIT_OK;
  }
  if (argc - first > 1)
    return sp_usage_error("help", "unexpected argument '%s'", argv[first + 1]);
  const sp_command *c = sp_command_find(argv[first]);
  if (!c) {
    const sp_command *near = sp_command_suggest(argv[first]);
    if (near)
      return sp_usage_error("help", "unknown command '%s'; did you mean '%s'?",
                            argv[first], near->name);
    return sp_usage_error("help", "unknown command '%s'", argv[first]);
  }
  sp_command_usage(c);
  return SP_EXIT_OK;
}

int sp_main(int argc, char **argv) {
  sp_global g = {NULL, 0};
  /* No core dump and no ptrace or /proc/PID/mem by other processes of the
   * same user: every samspor process may hold raw identifiers or the key.
   * First thing, and in main because exec resets it: the daemon's sync
   * children are this binary exec'd again, and come through here too. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    fprintf(stderr, "samspor: prctl(PR_SET_DUMPABLE): %s\n", strerror(errno));
    return SP_EXIT_FAIL;
  }
  if (sodium_init() < 0) {
    fprintf(stderr, "samspor: libsodium failed to initialise\n");
    return SP_EXIT_FAIL;
  }
  /* Global options before the command. */
  int i = 1;
  while (i < argc && argv[i][0] == '-') {
    const char *a = argv[i];
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return SP_EXIT_OK;
    } else if (strcmp(a, "--version") == 0) {
      return sp_cmd_version(&g, 1, argv + i);
    } else if (strcmp(a, "-c") == 0 && i + 1 < argc) {
      g.config_path = argv[++i];
    } else if (strncmp(a, "-c", 2) == 0 && a[2]) {
      g.config_path = a + 2;
    } else if (strcmp(a, "-v") == 0) {
      g.verbosity++;
    } else if (strcmp(a, "-q") == 0) {
      g.verbosity--;
    } else {
      return sp_usage_error(NULL, "unknown option %s", a);
    }
    i++;
  }
  if (i >= argc) {
    usage(stderr);
    return SP_EXIT_USAGE;
  }
  const sp_command *cmd = sp_command_find(argv[i]);
  if (!cmd) {
    const sp_command *near = sp_command_suggest(argv[i]);
    if (near) {
      fprintf(stderr,
              "samspor: unknown command '%s'; did you mean '%s'?\n"
              "see 'samspor --help'\n",
              argv[i], near->name);
      return SP_EXIT_USAGE;
    }
    fprintf(stderr, "samspor: unknown command '%s'\n\n", argv[i]);
    usage(stderr);
    return SP_EXIT_USAGE;
  }
  sp_log_setup(SP_LOG_INFO + g.verbosity, 0);
  return cmd->fn(&g, argc - i, argv + i);
}
