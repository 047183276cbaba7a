/*
 * tools.c — the small commands: version, plugins, man, keygen, schedule,
 * pseudonym.
 */
#include "config.h"

#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <libxml/xmlversion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>
#include <zlib.h>

#include "cmd/cmd.h"
#include "model/conf.h"
#include "model/host.h"
#include "model/key.h"
#include "base/log.h"
#include "model/pseudonym.h"
#include "model/schedule.h"

/* ---- version ---------------------------------------------------------- */

int sp_cmd_version(sp_global *g, int argc, char **argv) {
  const sp_command *cmd = sp_command_find("version");
  int first = sp_parse_opts(g, cmd, argc, argv, "", NULL, NULL, NULL);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (first != argc)
    return sp_usage_error("version", "unexpected argument '%s'", argv[first]);
  int pqv = PQlibVersion();
  printf("samspor %s\n", PACKAGE_VERSION);
  printf("plugin ABI %d\n", SAMSPOR_ABI_VERSION);
  printf("libuv %s\n", uv_version_string());
  printf("libconfig %d.%d.%d\n", LIBCONFIG_VER_MAJOR, LIBCONFIG_VER_MINOR,
         LIBCONFIG_VER_REVISION);
  printf("libpq %d.%d\n", pqv / 10000, pqv % 10000);
  printf("libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
  printf("libxml2 %s\n", LIBXML_DOTTED_VERSION);
  printf("libsodium %s\n", sodium_version_string());
  printf("jansson %s\n", jansson_version_str());
  printf("zlib %s\n", zlibVersion());
  return SP_EXIT_OK;
}

/* ---- plugins ---------------------------------------------------------- */

/* The plugin directory of the configuration when it can be read, else the
 * default; `samspor plugins` must work before a configuration exists. */
static char *configured_plugin_dir(const sp_global *g) {
  const char *path = g->config_path ? g->config_path : sp_config_default_path();
  config_t cfg;
  char *dir = NULL;
  const char *v;
  config_init(&cfg);
  if (config_read_file(&cfg, path) == CONFIG_TRUE &&
      config_lookup_string(&cfg, "plugin_dir", &v) == CONFIG_TRUE)
    dir = sp_xstrdup(v);
  config_destroy(&cfg);
  return dir;
}

static void describe_plugin(const samspor_plugin *d, const char *path) {
  printf("%s %s — %s\n  file: %s\n", d->name, d->version,
         d->description ? d->description : "", path);
  printf("\n  source options (in the connector's source = { ... }):\n");
  if (d->source_options && d->source_options[0].name)
    sp_options_describe(stdout, d->source_options, "", 4);
  else
    printf("    (none)\n");
  printf("\n  stream options (besides the core's table, mode, key, "
         "columns, ...):\n");
  if (d->stream_options && d->stream_options[0].name)
    sp_options_describe(stdout, d->stream_options, "", 4);
  else
    printf("    (none)\n");
  printf("\n");
}

int sp_cmd_plugins(sp_global *g, int argc, char **argv) {
  const sp_command *cmd = sp_command_find("plugins");
  int first = sp_parse_opts(g, cmd, argc, argv, "", NULL, NULL, NULL);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (argc - first > 1)
    return sp_usage_error("plugins", "at most one plugin name");
  const char *want = first < argc ? argv[first] : NULL;
  char *cdir = configured_plugin_dir(g);
  const char *dir = sp_plugin_dir(cdir);
  sp_plugin_set set;
  int rc = sp_plugin_set_load(dir, &set);
  if (rc != 0) {
    fprintf(stderr, "samspor: plugin directory %s: %s\n", dir,
            samspor_strerror(rc));
    sp_plugin_set_free(&set);
    free(cdir);
    return SP_EXIT_USAGE;
  }
  int found = 0;
  if (!want)
    printf("plugins in %s:\n\n", dir);
  for (size_t i = 0; i < set.n; i++) {
    const samspor_plugin *d = set.plugins[i].desc;
    if (want && strcmp(want, d->name) != 0)
      continue;
    found = 1;
    describe_plugin(d, set.plugins[i].path);
  }
  for (size_t i = 0; i < set.nrefused; i++)
    fprintf(stderr, "refused: %s\n", set.refused[i]);
  int status = SP_EXIT_OK;
  if (want && !found) {
    fprintf(stderr, "samspor: plugins: no plugin named '%s' in %s\n", want,
            dir);
    status = SP_EXIT_USAGE;
  } else if (!want && set.n == 0) {
    printf("(no plugins)\n");
  }
  sp_plugin_set_free(&set);
  free(cdir);
  return status;
}

/* ---- man -------------------------------------------------------------- */

/* Everyday uses, as command and sentence pairs. */
static void man_examples(FILE *f) {
  static const char *const ex[][2] = {
      {"samspor keygen /etc/samspor/key",
       "Write the pseudonymisation key once, as the samspor user."},
      {"samspor discover \\-\\-plugin csv /srv/in/unge.csv \\-\\-option "
       "delimiter=\\(dq;\\(dq",
       "See the fields of a source file, a guess of their types and a "
       "columns skeleton, before writing the connector."},
      {"samspor check \\-\\-connect",
       "Validate the configuration and reach every source and the "
       "warehouse, loading nothing."},
      {"samspor sync \\-\\-dry\\-run unge",
       "Read, validate and load connector unge inside a transaction that is "
       "rolled back, and print what would be loaded and rejected."},
      {"samspor sync unge", "Load connector unge now."},
      {"samspor rejects",
       "Count the rejected rows of each stream's latest run by reason and "
       "column, without values."},
      {"samspor status", "Ask the running daemon for each connector's state."},
      {"samspor pseudonym \\-\\-kind cpr < ids.txt",
       "Print the pseudonyms of the identifiers in ids.txt."},
      {"source <(samspor completion bash)",
       "Complete commands and options in this shell."},
  };
  fprintf(f, ".SH EXAMPLES\n");
  for (size_t i = 0; i < SP_ARRAY_LEN(ex); i++)
    fprintf(f, ".TP\n.B %s\n%s\n", ex[i][0], ex[i][1]);
}

int sp_cmd_man(sp_global *g, int argc, char **argv) {
  const sp_command *cmd = sp_command_find("man");
  int first = sp_parse_opts(g, cmd, argc, argv, "", NULL, NULL, NULL);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  FILE *f = stdout;
  fprintf(f, ".TH SAMSPOR 1 \"\" \"samspor %s\" \"User Commands\"\n",
          PACKAGE_VERSION);
  /* No hyphenation and a ragged right margin: option names, paths and
   * values must be typed as printed, and a hyphen added at a line break
   * would change them. */
  fprintf(f, ".nh\n.ad l\n");
  fprintf(f, ".SH NAME\nsamspor \\- pseudonymising nightly loader for a "
             "shared PostgreSQL warehouse\n");
  fprintf(f, ".SH SYNOPSIS\n");
  for (const sp_command *c = sp_commands; c->name; c++) {
    fprintf(f, ".B samspor\n[\\-c FILE] ");
    sp_roff_escape(f, c->synopsis);
    fprintf(f, "\n.br\n");
  }
  fprintf(f, ".SH DESCRIPTION\nsamspor pulls data every night from the systems "
             "of a boligsocial helhedsplan's partners through source plugins, "
             "pseudonymises it on the way in and loads it into one shared "
             "PostgreSQL warehouse.\n");
  fprintf(f, ".SH COMMANDS\n");
  for (const sp_command *c = sp_commands; c->name; c++) {
    fprintf(f, ".TP\n.B ");
    sp_roff_escape(f, c->synopsis);
    fputc('\n', f);
    sp_roff_escape(f, c->summary);
    fprintf(f, ".\n");
  }
  fprintf(f, ".SH EXIT STATUS\n0 success; 1 failed (a sync failed, the "
             "reject ratio was exceeded, a data error); 2 usage or "
             "configuration error; 75 temporary failure (a source or the "
             "warehouse unreachable, the connector's lock held elsewhere).\n");
  fprintf(f, ".SH CONFIGURATION\nlibconfig syntax. Unknown options are "
             "errors. Secrets are never written inline: write NAME_file (a "
             "file readable only by samspor) or NAME_env (an environment "
             "variable).\n");
  fprintf(f, ".SS Core options\n");
  sp_options_roff(f, sp_root_options, "");
  char *cdir = configured_plugin_dir(g);
  sp_plugin_set set;
  if (sp_plugin_set_load(sp_plugin_dir(cdir), &set) == 0) {
    for (size_t i = 0; i < set.n; i++) {
      const samspor_plugin *d = set.plugins[i].desc;
      fprintf(f, ".SS Plugin %s\n", d->name);
      sp_roff_escape(f, d->description ? d->description : "");
      fputc('\n', f);
      sp_options_roff(f, d->source_options, "source.");
      sp_options_roff(f, d->stream_options, "streams[].");
    }
  }
  sp_plugin_set_free(&set);
  free(cdir);
  fprintf(f, ".SH ENVIRONMENT\n.TP\n.B SAMSPOR_CONFIG\nconfiguration file "
             "when \\-c is not given\n.TP\n.B SAMSPOR_PLUGIN_DIR\nplugin "
             "directory, overriding plugin_dir\n.TP\n.B JOURNAL_STREAM\n"
             "set by systemd; when it names stderr, log events go to the "
             "journal with their priority and fields (CONNECTOR, STREAM, RUN, "
             "ROWS_READ, ROWS_LOADED, ROWS_REJECTED)\n.TP\n"
             ".B SAMSPOR_PROGRESS_INTERVAL\nseconds between a long load's "
             "progress lines (default 30); for tests\n");
  fprintf(f, ".SH FILES\n/etc/samspor/samspor.conf\n");
  man_examples(f);
  return SP_EXIT_OK;
}

/* ---- keygen ----------------------------------------------------------- */

int sp_cmd_keygen(sp_global *g, int argc, char **argv) {
  const sp_command *cmd = sp_command_find("keygen");
  int first = sp_parse_opts(g, cmd, argc, argv, "", NULL, NULL, NULL);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (argc - first != 1)
    return sp_usage_error("keygen", "expected one FILE");
  char err[512];
  int rc = sp_key_generate(argv[first], err, sizeof err);
  if (rc != 0) {
    fprintf(stderr, "samspor: keygen: %s\n", err);
    return rc == SAMSPOR_EINVAL ? SP_EXIT_USAGE : SP_EXIT_FAIL;
  }
  sp_key *k = NULL;
  if (sp_key_load(argv[first], &k, err, sizeof err) == 0) {
    fprintf(stderr, "wrote %s (key id %s); keep a copy offline\n", argv[first],
            sp_key_id(k));
    sp_key_free(k);
  }
  return SP_EXIT_OK;
}

/* ---- schedule --------------------------------------------------------- */

typedef struct schedule_opts {
  const char *tz;
  const char *from;
  long n;
} schedule_opts;

static int schedule_opt(int opt, const char *arg, void *data) {
  schedule_opts *o = data;
  char *end;
  switch (opt) {
  case 'z':
    o->tz = arg;
    return 0;
  case 'f':
    o->from = arg;
    return 0;
  case 'n':
    o->n = strtol(arg, &end, 10);
    if (*end || o->n < 1 || o->n > 100000)
      return sp_usage_error("schedule", "-n takes a number from 1 to 100000"),
             -1;
    return 0;
  }
  return -1;
}

int sp_cmd_schedule(sp_global *g, int argc, char **argv) {
  static const struct option longopts[] = {
      {"tz", required_argument, NULL, 'z'},
      {"from", required_argument, NULL, 'f'},
      {NULL, 0, NULL, 0}};
  schedule_opts o = {NULL, NULL, 5};
  const sp_command *cmd = sp_command_find("schedule");
  int first =
      sp_parse_opts(g, cmd, argc, argv, "n:", longopts, schedule_opt, &o);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (argc - first > 1)
    return sp_usage_error("schedule",
                          "expected one EXPR (quote it: \"30 2 * * *\")");
  if (first < argc) {
    const char *expr = argv[first];
    const char *tz = o.tz ? o.tz : SP_DEFAULT_TZ;
    if (!sp_tz_valid(tz))
      return sp_usage_error("schedule", "unknown time zone '%s'", tz);
    sp_schedule *s = NULL;
    char err[256];
    if (sp_schedule_parse(expr, &s, err, sizeof err) != 0) {
      fprintf(stderr, "samspor: schedule: '%s': %s\n", expr, err);
      return SP_EXIT_USAGE;
    }
    time_t t = time(NULL);
    if (o.from && sp_time_parse(o.from, tz, &t) != 0) {
      sp_schedule_free(s);
      return sp_usage_error("schedule",
                            "--from '%s' is not an ISO 8601 time "
                            "(2027-03-28T01:00:00+01:00)",
                            o.from);
    }
    int status = SP_EXIT_OK;
    for (long i = 0; i < o.n; i++) {
      time_t next;
      int rc = sp_schedule_next(s, tz, t, &next);
      if (rc != 0) {
        fprintf(stderr, "samspor: schedule: '%s' never runs%s\n", expr,
                i ? " again" : "");
        status = i ? SP_EXIT_OK : SP_EXIT_USAGE;
        break;
      }
      char buf[SP_TIME_BUFLEN];
      sp_time_format(next, tz, buf, sizeof buf);
      printf("%s\n", buf);
      t = next;
    }
    sp_schedule_free(s);
    return status;
  }
  return sp_usage_error("schedule", "expected EXPR");
}

/* ---- pseudonym -------------------------------------------------------- */

static int kind_opt(int opt, const char *arg, void *data) {
  if (opt != 'k')
    return -1;
  *(const char **)data = arg;
  return 0;
}

sp_config *sp_cmd_config(const sp_global *g) {
  const char *path = g->config_path ? g->config_path : sp_config_default_path();
  sp_errors errs;
  sp_config *c = NULL;
  sp_errors_init(&errs);
  int rc = sp_config_load(path, &c, &errs);
  sp_errors_print(&errs, stderr);
  sp_errors_free(&errs);
  if (rc)
    return NULL;
  const samspor_settings *lg = sp_get_group(c->root, "log");
  sp_log_setup(sp_log_level_parse(sp_get_string(lg, "level")) + g->verbosity,
               sp_streq(sp_get_string(lg, "format"), "json"));
  return c;
}

/* Load the configuration's key for pseudonym/forget.  Returns an exit
 * status (0 ok) and sets *key. */
static int load_config_key(sp_global *g, const char *cmdname, sp_key **key) {
  const char *path = g->config_path ? g->config_path : sp_config_default_path();
  sp_errors errs;
  sp_config *c = NULL;
  sp_errors_init(&errs);
  int rc = sp_config_load(path, &c, &errs);
  if (rc != 0) {
    sp_errors_print(&errs, stderr);
    sp_errors_free(&errs);
    return SP_EXIT_USAGE;
  }
  sp_errors_free(&errs);
  const char *kf =
      sp_get_string(sp_get_group(c->root, "pseudonym"), "key_file");
  char err[512];
  rc = sp_key_load(kf, key, err, sizeof err);
  sp_config_free(c);
  if (rc != 0) {
    fprintf(stderr, "samspor: %s: %s\n", cmdname, err);
    return SP_EXIT_USAGE;
  }
  return SP_EXIT_OK;
}

int sp_cmd_pseudonym(sp_global *g, int argc, char **argv) {
  static const struct option longopts[] = {
      {"kind", required_argument, NULL, 'k'}, {NULL, 0, NULL, 0}};
  const char *kind = NULL;
  const sp_command *cmd = sp_command_find("pseudonym");
  int first =
      sp_parse_opts(g, cmd, argc, argv, "", longopts, kind_opt, (void *)&kind);
  if (first < 0)
    return first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  if (!kind || !*kind)
    return sp_usage_error("pseudonym", "--kind KIND is required");
  if (first != argc)
    return sp_usage_error("pseudonym", "identifiers are read on stdin, not "
                                       "from the command line");
  sp_key *key = NULL;
  int st = load_config_key(g, "pseudonym", &key);
  if (st != 0)
    return st;
  sp_pseudonymiser *p = sp_pseudonymiser_new(key, kind);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) >= 0) {
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
      n--;
    char out[37];
    const char *reason;
    if (sp_pseudonym(p, line, (size_t)n, out, &reason) == 0)
      printf("%s\n", out);
    else
      printf("invalid\n");
  }
  if (line) {
    sp_wipe(line, cap);
    free(line);
  }
  sp_pseudonymiser_free(p);
  sp_key_free(key);
  return fflush(stdout) == 0 ? SP_EXIT_OK : SP_EXIT_FAIL;
}
