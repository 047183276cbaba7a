/*
 * cmd_discover.c — `samspor discover CONNECTOR` and `samspor discover
 * --plugin NAME URL [--option KEY=VALUE...]`: the command line of
 * discover.c.  A bare source's settings are written as a libconfig group
 * and parsed with the plugin's own option table, so they are checked
 * exactly as in a configuration.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "model/conf.h"
#include "load/discover.h"
#include "base/log.h"
#include "base/options.h"

typedef struct discover_opts {
  const char *plugin;
  char **options; /* KEY=VALUE, borrowed from argv */
  size_t noptions;
  long long sample;
} discover_opts;

static int discover_opt(int opt, const char *arg, void *data) {
  discover_opts *o = data;
  char *end;
  switch (opt) {
  case 'p':
    o->plugin = arg;
    return 0;
  case 'o':
    if (!strchr(arg, '=') || arg[0] == '=')
      return sp_usage_error("discover", "--option wants KEY=VALUE, not '%s'",
                            arg),
             -1;
    o->options = sp_xrealloc(o->options, (o->noptions + 1) * sizeof(char *));
    o->options[o->noptions++] = (char *)arg;
    return 0;
  case 'n':
    errno = 0;
    o->sample = strtoll(arg, &end, 10);
    if (errno || *end || o->sample < 1 || o->sample > 1000000)
      return sp_usage_error("discover", "-n wants 1..1000000, not '%s'", arg),
             -1;
    return 0;
  }
  return -1;
}

static const samspor_option *find_opt(const samspor_option *t, const char *name,
                                      size_t len) {
  for (; t && t->name; t++)
    if (strlen(t->name) == len && strncmp(t->name, name, len) == 0)
      return t;
  return NULL;
}

/* VALUE as libconfig text for an option of type `type`. */
static void put_value(sp_buf *b, samspor_opt_type type, const char *v) {
  if (type == SAMSPOR_OPT_INT || type == SAMSPOR_OPT_FLOAT ||
      type == SAMSPOR_OPT_BOOL) {
    sp_buf_puts(b, v);
    return;
  }
  if (type == SAMSPOR_OPT_STRLIST)
    sp_buf_putc(b, '[');
  sp_buf_putc(b, '"');
  for (const char *p = v; *p; p++) {
    if (*p == '"' || *p == '\\')
      sp_buf_putc(b, '\\');
    sp_buf_putc(b, *p);
  }
  sp_buf_putc(b, '"');
  if (type == SAMSPOR_OPT_STRLIST)
    sp_buf_putc(b, ']');
}

/* Discover a bare source: plugin, url and options from the command line. */
static int discover_bare(sp_global *g, const discover_opts *o,
                         const char *url) {
  (void)g;
  sp_plugin_set set;
  sp_plugin_set_load(sp_plugin_dir(NULL), &set);
  const sp_plugin *p = sp_plugin_set_find(&set, o->plugin);
  if (!p) {
    fprintf(stderr, "samspor: discover: no plugin '%s' in %s\n", o->plugin,
            set.dir);
    sp_plugin_set_free(&set);
    return SP_EXIT_USAGE;
  }
  const samspor_plugin *d = p->desc;
  if (!d->discover) {
    fprintf(stderr,
            "samspor: discover: plugin %s cannot list the fields of its "
            "source (it has no discover function)\n",
            d->name);
    sp_plugin_set_free(&set);
    return SP_EXIT_USAGE;
  }
  /* URL is the source's url, or for a plugin without one (pgsql) its
   * first required option (conninfo). */
  const samspor_option *where = find_opt(d->source_options, "url", 3);
  for (const samspor_option *t = d->source_options; !where && t && t->name; t++)
    if (t->flags & SAMSPOR_OPT_REQUIRED)
      where = t;
  sp_buf src, stm;
  sp_buf_init(&src);
  sp_buf_init(&stm);
  sp_buf_printf(&src, "source = { %s = ", where ? where->name : "url");
  put_value(&src, SAMSPOR_OPT_STRING, url);
  sp_buf_puts(&src, ";");
  sp_buf_puts(&stm, "stream = { table = \"discovered\"; columns = ( { name = "
                    "\"x\"; from = \"x\"; } );");
  int status = SP_EXIT_OK;
  for (size_t i = 0; i < o->noptions; i++) {
    const char *kv = o->options[i], *eq = strchr(kv, '=');
    size_t kl = (size_t)(eq - kv);
    const samspor_option *so = find_opt(d->source_options, kv, kl);
    const samspor_option *to = so ? NULL : find_opt(d->stream_options, kv, kl);
    if (!so && !to) {
      status = sp_usage_error("discover",
                              "plugin %s has no option '%.*s' (samspor "
                              "plugins %s lists them)",
                              d->name, (int)kl, kv, d->name);
      goto done;
    }
    sp_buf *b = so ? &src : &stm;
    sp_buf_printf(b, " %.*s = ", (int)kl, kv);
    put_value(b, (so ? so : to)->type, eq + 1);
    sp_buf_puts(b, ";");
  }
  sp_buf_printf(&src, " };\n%s };\n", stm.data);
  config_t cfg;
  config_init(&cfg);
  sp_errors errs;
  sp_errors_init(&errs);
  samspor_settings *source = NULL, *stream = NULL;
  if (config_read_string(&cfg, src.data) != CONFIG_TRUE) {
    status = sp_usage_error("discover", "cannot read the options: %s",
                            config_error_text(&cfg));
  } else {
    source = sp_settings_parse(config_lookup(&cfg, "source"), d->source_options,
                               NULL, "the source", ".", &errs);
    stream = sp_settings_parse(config_lookup(&cfg, "stream"), sp_stream_options,
                               d->stream_options, "the stream", ".", &errs);
    if (errs.nerrors) {
      sp_errors_print(&errs, stderr);
      status = SP_EXIT_USAGE;
    }
  }
  if (status == SP_EXIT_OK) {
    sp_discover_args a = {.plugin = d,
                          .source = source,
                          .stream = stream,
                          .connector = url,
                          .sample = o->sample};
    char err[1024];
    int rc = sp_discover(&a, stdout, err, sizeof err);
    if (rc) {
      fprintf(stderr, "samspor: discover: %s\n", err);
      status = sp_exit_status(rc);
    }
  }
  sp_settings_free(source);
  sp_settings_free(stream);
  sp_errors_free(&errs);
  config_destroy(&cfg);
done:
  sp_buf_free(&src);
  sp_buf_free(&stm);
  sp_plugin_set_free(&set);
  return status;
}

/* Discover every stream of a configured connector. */
static int discover_connector(sp_global *g, const discover_opts *o,
                              const char *name) {
  sp_config *c = sp_cmd_config(g);
  if (!c)
    return SP_EXIT_USAGE;
  const sp_connector *cc = sp_config_connector(c, name);
  if (!cc) {
    fprintf(stderr, "samspor: discover: no connector named '%s' in %s\n", name,
            c->path);
    sp_config_free(c);
    return SP_EXIT_USAGE;
  }
  int status = SP_EXIT_OK;
  for (size_t i = 0; i < cc->nstreams && status == SP_EXIT_OK; i++) {
    sp_discover_args a = {.plugin = cc->plugin->desc,
                          .source = cc->source,
                          .stream = cc->streams[i].s,
                          .connector = cc->name,
                          .stream_name = cc->streams[i].table,
                          .sample = o->sample};
    char err[1024];
    int rc = sp_discover(&a, stdout, err, sizeof err);
    if (rc) {
      fprintf(stderr, "samspor: discover: %s\n", err);
      status = sp_exit_status(rc);
    }
  }
  sp_config_free(c);
  return status;
}

int sp_cmd_discover(sp_global *g, int argc, char **argv) {
  static const struct option lo[] = {{"plugin", required_argument, NULL, 'p'},
                                     {"option", required_argument, NULL, 'o'},
                                     {NULL, 0, NULL, 0}};
  discover_opts o = {.sample = 100};
  const sp_command *cmd = sp_command_find("discover");
  int first = sp_parse_opts(g, cmd, argc, argv, "n:", lo, discover_opt, &o);
  int status;
  if (first < 0)
    status = first == -2 ? SP_EXIT_OK : SP_EXIT_USAGE;
  else if (argc - first != 1)
    status = sp_usage_error("discover", "%s",
                            o.plugin ? "name one source URL"
                                     : "name one connector (or --plugin NAME "
                                       "URL for a bare source)");
  else if (o.plugin)
    status = discover_bare(g, &o, argv[first]);
  else if (o.noptions)
    status = sp_usage_error("discover", "--option needs --plugin");
  else
    status = discover_connector(g, &o, argv[first]);
  free(o.options);
  return status;
}
