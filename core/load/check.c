/*
 * check.c — `samspor check [--connect]`: validate the configuration, load
 * its plugins and the key, print a summary a person can read; with
 * --connect, reach the warehouse and every source, loading nothing.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "load/check.h"
#include "base/exitcode.h"
#include "model/conf.h"
#include "model/host.h"
#include "partner/indicators.h"
#include "model/key.h"
#include "model/maps.h"
#include "pgconn.h"
#include "store/warehouse.h"

/* ---- what sync would refuse ------------------------------------------- */

static void problem(sp_errors *errs, int offline, const char *file, int line,
                    const char *what, const char *path, int e) {
  if (offline)
    sp_warnings_add(errs, file, line, "%s %s: %s (not checked: --offline)",
                    what, path, strerror(e));
  else
    sp_errors_add(errs, file, line, "%s %s: %s", what, path, strerror(e));
}

/*
 * Every local file the configuration names (a map, a CA, a key, a query
 * file, ...) must be readable, as sync will read it.  The url of a file
 * source is data, not configuration (it may arrive later: if_missing),
 * the key file is checked on its own, and the report is written.
 */
static void check_paths(const samspor_settings *s, sp_errors *errs,
                        int offline) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nvals; i++) {
    const sp_value *v = &s->vals[i];
    if (!v->opt)
      continue;
    switch (v->opt->type) {
    case SAMSPOR_OPT_PATH:
      if (v->set && v->str && *v->str && sp_streq(v->opt->name, "report")) {
        /* Written, not read: its directory must be there. */
        char *dir = sp_xstrdup(v->str);
        char *slash = strrchr(dir, '/');
        if (slash)
          *(slash == dir ? slash + 1 : slash) = '\0';
        if (slash && access(dir, W_OK) != 0) {
          int e = errno;
          char *what = sp_xasprintf("directory of %s of %s:", v->opt->name,
                                    s->where ? s->where : "the configuration");
          problem(errs, offline, s->file, v->line, what, dir, e);
          free(what);
        }
        free(dir);
      } else if (v->set && v->str && *v->str && !strstr(v->str, "://") &&
                 !sp_streq(v->opt->name, "url") &&
                 !sp_streq(v->opt->name, "key_file") &&
                 access(v->str, R_OK) != 0) {
        int e = errno;
        char *what = sp_xasprintf("%s of %s:", v->opt->name,
                                  s->where ? s->where : "the configuration");
        problem(errs, offline, s->file, v->line, what, v->str, e);
        free(what);
      }
      break;
    case SAMSPOR_OPT_GROUP:
      check_paths(v->group, errs, offline);
      break;
    case SAMSPOR_OPT_GROUPLIST:
    case SAMSPOR_OPT_MAP:
      for (size_t k = 0; k < v->nitems; k++)
        check_paths(v->items[k], errs, offline);
      break;
    default:
      break;
    }
  }
}

/* The maps load as sync loads them (a bad extract regex, a malformed
 * line), each error at the map's line. */
static void check_maps(const sp_config *c, sp_errors *errs) {
  samspor_settings *const *items = NULL;
  size_t n = sp_get_items(c->root, "maps", &items);
  for (size_t i = 0; i < n; i++) {
    const char *f = sp_get_string(items[i], "file");
    if (!f || access(f, R_OK) != 0)
      continue; /* reported by check_paths */
    sp_map *m = NULL;
    char err[512];
    if (sp_map_load(items[i], &m, err, sizeof err) != 0)
      sp_errors_add(errs, items[i]->file, sp_get_line(items[i], "file"),
                    "map '%s': %s", items[i]->name, err);
    sp_map_free(m);
  }
}

/* The line of the option a plugin's message names first (of those set),
 * else of the source group. */
static int option_line(const samspor_settings *src, const samspor_option *t,
                       const char *msg) {
  int best = src->line;
  const char *first = NULL;
  for (; t && t->name; t++) {
    size_t n = strlen(t->name);
    for (const char *p = strstr(msg, t->name); p; p = strstr(p + n, t->name)) {
      int lb = p == msg || !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
      int rb = !(isalnum((unsigned char)p[n]) || p[n] == '_');
      if (lb && rb && (!first || p < first) && sp_is_set(src, t->name)) {
        best = sp_get_line(src, t->name);
        first = p;
      }
    }
  }
  return best;
}

/* Each plugin checks its source settings as its open() will. */
static void check_plugins(const sp_config *c, sp_errors *errs) {
  for (size_t i = 0; i < c->nconnectors; i++) {
    const sp_connector *cc = &c->connectors[i];
    const samspor_plugin *d = cc->plugin ? cc->plugin->desc : NULL;
    if (!d || !d->validate || !cc->source)
      continue;
    samspor_ctx ctx;
    sp_ctx_init(&ctx, cc->name, NULL, 0);
    samspor_check_args a = {.struct_size = sizeof a,
                            .host = sp_host(),
                            .ctx = &ctx,
                            .source = cc->source};
    int rc = d->validate(&a);
    if (rc) {
      const char *m = sp_ctx_error(&ctx, samspor_strerror(rc));
      sp_errors_add(errs, cc->source->file,
                    option_line(cc->source, d->source_options, m),
                    "%s (source of connector '%s')", m, cc->name);
    }
    sp_ctx_free(&ctx);
  }
}

static const char *mode_name(sp_mode m) {
  return m == SP_MODE_APPEND              ? "append"
         : m == SP_MODE_INCREMENTAL_DEDUP ? "incremental_dedup"
                                          : "full_refresh";
}

/*
 * What TLS a PostgreSQL connection string gets, as one phrase for the
 * summary ("sslmode verify-full (samspor's default for the non-local host
 * db.example.invalid)"), and a warning (file:line of the conninfo) when a
 * non-local host is reached with less than verify-full: anything weaker
 * can be downgraded or talks to whoever answers.  `what` names the
 * setting.
 */
static void tls_summary(const char *conninfo, const samspor_settings *s,
                        const char *what, sp_errors *errs, char *out,
                        size_t outlen) {
  spp_pq_tls_info t;
  if (!conninfo || spp_pq_tls(conninfo, &t) != 0) {
    snprintf(out, outlen, "?");
    return;
  }
  if (!t.remote) {
    snprintf(out, outlen, "local (socket or loopback), sslmode %s",
             *t.sslmode ? t.sslmode : "libpq's default");
    return;
  }
  snprintf(out, outlen, "sslmode %s%s%s%s",
           *t.sslmode ? t.sslmode : "from the service file",
           t.defaulted ? " (samspor's default for the non-local host " : "",
           t.defaulted ? t.first_remote : "", t.defaulted ? ")" : "");
  if (!spp_pq_tls_verified(t.sslmode))
    sp_warnings_add(errs, s->file, sp_get_line(s, "conninfo"),
                    "%s reaches the non-local host %s with sslmode %s: the "
                    "server's certificate and name are not verified; use "
                    "sslmode=verify-full (samspor's default when conninfo "
                    "names no sslmode) with sslrootcert",
                    what, t.first_remote,
                    *t.sslmode ? t.sslmode : "from the service file");
}

static void print_column(const sp_column *col) {
  const sp_rule_def *rd = sp_rule_def_of(col->rule);
  printf("        %-20s %-12s ", col->name, col->sql_type);
  if (rd->needs & SP_RULE_NEEDS_KIND)
    printf("%s of %s (kind %s)", rd->name, col->from,
           sp_get_string(col->s, "kind"));
  else if (rd->needs & SP_RULE_NEEDS_MAP)
    printf("%s looked up in map %s", col->from, sp_get_string(col->s, "map"));
  else if (col->rule == SP_RULE_KEEP && sp_streq(col->sql_type, "text"))
    printf("from %s (free text: can hold names; kept %s)", col->from,
           sp_is_set(col->s, "rule") ? "as rule = \"keep\" says"
                                     : "WITHOUT rule = \"keep\"");
  else if (col->rule == SP_RULE_KEEP)
    printf("from %s", col->from);
  else
    printf("%s of %s", rd->name, col->from);
  printf("\n");
}

static void print_connector(const sp_config *c, const sp_connector *conn,
                            sp_errors *errs) {
  const char *tz = sp_config_timezone(c);
  printf("  %s (plugin %s %s)%s\n", conn->name, conn->plugin->desc->name,
         conn->plugin->desc->version,
         sp_get_bool(conn->s, "enabled") ? "" : " [disabled]");
  const char *sched = sp_get_string(conn->s, "schedule");
  char next[SP_TIME_BUFLEN] = "never";
  time_t t;
  if (conn->schedule &&
      sp_schedule_next(conn->schedule, tz, time(NULL), &t) == 0)
    sp_time_format(t, tz, next, sizeof next);
  printf("    schedule: %s (%s); next run %s\n", sched,
         conn->schedule ? sp_schedule_text(conn->schedule) : "?", next);
  char timeout[32], backoff[32];
  const samspor_settings *retry = sp_get_group(conn->s, "retry");
  sp_duration_format(sp_get_duration(conn->s, "timeout"), timeout,
                     sizeof timeout);
  sp_duration_format(sp_get_duration(retry, "backoff"), backoff,
                     sizeof backoff);
  printf("    timeout %s; retry %lld times, backoff from %s\n", timeout,
         sp_get_int(retry, "attempts"), backoff);
  /* A source option named conninfo is a libpq connection string (the
   * pgsql plugin's): it gets the same TLS rule as the warehouse. */
  const sp_value *ci = sp_settings_value(conn->source, "conninfo");
  if (ci && ci->set && ci->str) {
    char tls[256];
    tls_summary(ci->str, conn->source, "the source's conninfo", errs, tls,
                sizeof tls);
    printf("    source TLS: %s\n", tls);
  }
  for (size_t s = 0; s < conn->nstreams; s++) {
    const sp_stream *st = &conn->streams[s];
    printf("    stream -> %s.%s (%s", sp_config_schema(c), st->table,
           mode_name(st->mode));
    const char *const *key;
    size_t nkey = sp_get_list(st->s, "key", &key);
    for (size_t k = 0; k < nkey; k++)
      printf("%s%s", k ? ", " : "; key ", key[k]);
    if (st->cursor_column >= 0)
      printf("; cursor %s", st->columns[st->cursor_column].name);
    if (sp_is_set(st->s, "retention"))
      printf("; retention %s on %s", sp_settings_value(st->s, "retention")->str,
             sp_get_string(st->s, "retention_column"));
    printf("; max reject ratio %g)\n", sp_get_float(st->s, "max_reject_ratio"));
    for (size_t i = 0; i < st->ncolumns; i++)
      print_column(&st->columns[i]);
  }
}

/* The warehouse's current key generation against the configured key: a
 * differing key makes every sync refuse, so it is an error here too. */
static int check_generation(PGconn *conn, const char *key_id) {
  PGresult *res = PQexec(
      conn, "SELECT key_id, to_char(first_used, 'YYYY-MM-DD HH24:MI'), "
            "(SELECT count(*) FROM samspor.key_history) FROM "
            "samspor.key_history ORDER BY first_used DESC, key_id LIMIT 1");
  int rc = 0;
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) == 0) {
    printf("  %-20s none yet (nothing loaded)\n", "key generation");
  } else if (strcmp(PQgetvalue(res, 0, 0), key_id) == 0) {
    printf("  %-20s key id %s, current since %s (generation %s); the "
           "configured key matches\n",
           "key generation", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
           PQgetvalue(res, 0, 2));
  } else {
    printf("  %-20s FAILED: the warehouse is at key id %s (since %s), the "
           "configured key is %s: sync would refuse; use the key of "
           "generation %s, or finish a rotation (samspor rekey)\n",
           "key generation", PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
           *key_id ? key_id : "unusable", PQgetvalue(res, 0, 0));
    rc = SAMSPOR_ECONFIG;
  }
  PQclear(res);
  return rc;
}

/* A sink for `check --connect`: opening a stream reads nothing, so any
 * record that arrives anyway is ignored. */
static int null_begin(samspor_sink *s, const char *pos) {
  (void)s;
  (void)pos;
  return 0;
}
static void null_field(samspor_sink *s, size_t i, const char *v, size_t n) {
  (void)s;
  (void)i;
  (void)v;
  (void)n;
}
static int null_end(samspor_sink *s) {
  (void)s;
  return 0;
}
static int null_reject(samspor_sink *s, const char *pos, const char *reason,
                       const char *msg) {
  (void)s;
  (void)pos;
  (void)reason;
  (void)msg;
  return 0;
}
static void null_state(samspor_sink *s, const char *state) {
  (void)s;
  (void)state;
}

/*
 * --connect for one connector: the plugin's check callback (reach the
 * source, verify credentials), then open and close each stream without
 * reading it, so that what only a stream knows is verified too (a CSV
 * header names every column's from; a pgsql query parses and returns
 * them).  Nothing is loaded.
 */
static int connect_source(const sp_connector *conn) {
  const samspor_plugin *d = conn->plugin->desc;
  samspor_ctx ctx;
  sp_ctx_init(&ctx, conn->name, NULL, 0);
  int rc = 0;
  if (d->check) {
    samspor_check_args a = {.struct_size = sizeof a,
                            .host = sp_host(),
                            .ctx = &ctx,
                            .source = conn->source};
    rc = d->check(&a);
  }
  samspor_sink sink = {null_begin, null_field, null_end, null_reject,
                       null_state};
  for (size_t i = 0; rc == 0 && i < conn->nstreams; i++) {
    const sp_stream *st = &conn->streams[i];
    samspor_open_args oa = {.struct_size = sizeof oa,
                            .host = sp_host(),
                            .ctx = &ctx,
                            .sink = &sink,
                            .source = conn->source,
                            .stream = st->s,
                            .fields = st->fields,
                            .nfields = st->nfields,
                            .cursor = NULL,
                            .cursor_field = -1,
                            .state = NULL,
                            .full = 1};
    ctx.log.stream = st->table;
    void *h = NULL;
    rc = d->open(&oa, &h);
    if (rc == 0)
      d->close(h);
  }
  if (rc == 0)
    printf("  %-20s ok\n", conn->name);
  else if (ctx.log.stream)
    printf("  %-20s FAILED (stream %s): %s\n", conn->name, ctx.log.stream,
           sp_ctx_error(&ctx, samspor_strerror(rc)));
  else
    printf("  %-20s FAILED: %s\n", conn->name,
           sp_ctx_error(&ctx, samspor_strerror(rc)));
  sp_ctx_free(&ctx);
  return rc;
}

int sp_check(const char *path, const sp_check_opts *opts) {
  const sp_check_opts o = *opts;
  sp_errors errs;
  sp_config *c = NULL;
  sp_errors_init(&errs);
  int rc = sp_config_load(path, &c, &errs);
  char key_id[16] = "";
  if (rc == 0) {
    /* The key is checked here, not in sp_config_load, so that commands
     * that never pseudonymise (plugins, schedule) work without it. */
    const samspor_settings *ps = sp_get_group(c->root, "pseudonym");
    const char *kf = sp_get_string(ps, "key_file");
    char err[512];
    sp_key *k = NULL;
    int krc = sp_key_load(kf, &k, err, sizeof err);
    if (krc == SAMSPOR_ENOENT && o.offline)
      sp_warnings_add(&errs, ps->file, sp_get_line(ps, "key_file"),
                      "%s (create it with: samspor keygen %s; not an error "
                      "with --offline)",
                      err, kf);
    else if (krc == SAMSPOR_ENOENT)
      sp_errors_add(&errs, ps->file, sp_get_line(ps, "key_file"),
                    "%s (create it with: samspor keygen %s)", err, kf);
    else if (krc != 0)
      sp_errors_add(&errs, ps->file, sp_get_line(ps, "key_file"), "%s", err);
    printf("configuration %s\n", path);
    const samspor_settings *wh = sp_get_group(c->root, "warehouse");
    char tls[256];
    tls_summary(sp_get_string(wh, "conninfo"), wh, "warehouse.conninfo", &errs,
                tls, sizeof tls);
    printf("  warehouse: schema %s; TLS %s\n", sp_config_schema(c), tls);
    if (k)
      snprintf(key_id, sizeof key_id, "%s", sp_key_id(k));
    if (k)
      printf("  pseudonym key: %s (key id %s)\n", kf, sp_key_id(k));
    else
      printf("  pseudonym key: %s (not usable, see below)\n", kf);
    sp_key_free(k);
    check_paths(c->root, &errs, o.offline);
    for (size_t i = 0; i < c->nconnectors; i++) {
      check_paths(c->connectors[i].source, &errs, o.offline);
      for (size_t s = 0; s < c->connectors[i].nstreams; s++)
        check_paths(c->connectors[i].streams[s].s, &errs, o.offline);
    }
    check_maps(c, &errs);
    check_plugins(c, &errs);
    printf("  time zone: %s\n", sp_config_timezone(c));
    printf("  plugins (%s):", c->plugins.dir);
    for (size_t i = 0; i < c->plugins.n; i++)
      printf(" %s %s", c->plugins.plugins[i].desc->name,
             c->plugins.plugins[i].desc->version);
    printf("\nconnectors (%zu):\n", c->nconnectors);
    for (size_t i = 0; i < c->nconnectors; i++)
      print_connector(c, &c->connectors[i], &errs);
    const sp_partner *p = sp_config_partner(c);
    if (p->nindicators)
      printf("indicators (%zu, counts 1-%d suppressed):", p->nindicators,
             p->threshold);
    for (size_t i = 0; i < p->nindicators; i++)
      printf(" partner.%s", p->indicators[i].name);
    if (p->nindicators)
      printf("\n");
  }
  sp_errors_print(&errs, stderr);
  int status = errs.nerrors ? SP_EXIT_USAGE : SP_EXIT_OK;
  if (status == SP_EXIT_OK && o.connect) {
    printf("connecting:\n");
    char err[1024];
    int wrc = sp_warehouse_ping(c, err, sizeof err);
    if (wrc == 0)
      printf("  %-20s ok\n", "warehouse");
    else
      printf("  %-20s FAILED: %s\n", "warehouse", err);
    int worst = wrc;
    PGconn *conn = NULL;
    if (wrc == 0 && sp_warehouse_connect(c, &conn, err, sizeof err) == 0) {
      int grc = check_generation(conn, key_id);
      if (grc && !worst)
        worst = grc;
    }
    if (conn && sp_config_partner(c)->nindicators) {
      int irc = sp_indicators_check(conn, c, stdout);
      if (irc && !worst)
        worst = irc;
    }
    PQfinish(conn);
    for (size_t i = 0; i < c->nconnectors; i++) {
      int crc = connect_source(&c->connectors[i]);
      if (crc != 0 && (worst == 0 || crc == SAMSPOR_ETEMP))
        worst = crc;
    }
    status = sp_exit_status(worst);
  }
  if (errs.nerrors)
    fprintf(stderr, "%s: %zu error%s\n", path, errs.nerrors,
            errs.nerrors == 1 ? "" : "s");
  else if (status == SP_EXIT_OK)
    printf("configuration is valid\n");
  sp_errors_free(&errs);
  sp_config_free(c);
  return status;
}
