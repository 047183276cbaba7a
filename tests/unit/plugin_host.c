#include "config.h"

/*
 * plugin_host.c — the test host of the plugin unit tests; see
 * plugin_host.h.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_host.h"

/* ---- messages --------------------------------------------------------- */

static const char *const *markers;

void ph_set_markers(const char *const *m) {
  markers = m;
}

void ph_assert_no_values(const char *msg) {
  const char *const *m;
  for (m = markers; m && *m; m++)
    if (strstr(msg, *m))
      fail_msg("message contains a field value: %s", msg);
}

/* ---- settings --------------------------------------------------------- */

void ph_set(ph_settings *s, const char *name, const char *value) {
  assert_true(s->n < PH_MAX_SETTINGS);
  s->names[s->n] = name;
  s->values[s->n++] = value;
}

/* Index of name among the options set, or -1. */
static long find(const ph_settings *s, const char *name) {
  size_t i;
  for (i = 0; i < s->n; i++)
    if (!strcmp(s->names[i], name))
      return (long)i;
  return -1;
}

/* The value of name: set, or the table's default.  An option the table
 * lacks fails the test. */
static const char *setting(const samspor_settings *ss, const char *name) {
  const ph_settings *s = (const ph_settings *)ss;
  const samspor_option *o;
  long i = find(s, name);
  if (i >= 0)
    return s->values[i];
  assert_non_null(s->table);
  for (o = s->table; o->name; o++)
    if (!strcmp(o->name, name))
      return o->def;
  fail_msg("the code under test asked for option '%s', which its table "
           "lacks",
           name);
  return NULL;
}

static const char *h_get_string(const samspor_settings *s, const char *name) {
  return setting(s, name);
}

static long long h_get_int(const samspor_settings *s, const char *name) {
  const char *v = setting(s, name);
  return v ? strtoll(v, NULL, 10) : 0;
}

static double h_get_float(const samspor_settings *s, const char *name) {
  const char *v = setting(s, name);
  return v ? strtod(v, NULL) : 0;
}

static int h_get_bool(const samspor_settings *s, const char *name) {
  const char *v = setting(s, name);
  return v && !strcmp(v, "true");
}

/* "90s" "30m" "2h" "1d" as seconds, as the core reads durations; a bare
 * number is seconds. */
static double h_get_duration(const samspor_settings *s, const char *name) {
  const char *v = setting(s, name);
  char *end;
  double d;
  if (!v)
    return 0;
  d = strtod(v, &end);
  switch (*end) {
  case 'm':
    return d * 60;
  case 'h':
    return d * 3600;
  case 'd':
    return d * 86400;
  default:
    return d;
  }
}

static size_t h_get_list(const samspor_settings *ss, const char *name,
                         const char *const **items) {
  static const char *const none[] = {NULL};
  static const char *one[1];
  const ph_settings *s = (const ph_settings *)ss;
  long i;
  setting(ss, name); /* must be declared */
  if (s->list_name && !strcmp(s->list_name, name)) {
    *items = s->list;
    return s->nlist;
  }
  i = find(s, name);
  if (i < 0) {
    *items = none;
    return 0;
  }
  one[0] = s->values[i];
  *items = one;
  return 1;
}

static int h_is_set(const samspor_settings *s, const char *name) {
  setting(s, name); /* must be declared */
  return find((const ph_settings *)s, name) >= 0;
}

static const samspor_settings *h_get_group(const samspor_settings *s,
                                           const char *name) {
  (void)s;
  (void)name;
  return NULL;
}

/* Index of v in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *v) {
  const char *p = choices;
  size_t vl = v ? strlen(v) : 0;
  for (int i = 0; v && p && *p; i++) {
    const char *bar = strchr(p, '|');
    size_t l = bar ? (size_t)(bar - p) : strlen(p);
    if (l == vl && !strncmp(p, v, l))
      return i;
    p = bar ? bar + 1 : NULL;
  }
  return -1;
}

/* fill() over the same getters, so a plugin sees what the core gives. */
static int h_fill(const samspor_settings *ss, const samspor_option *table,
                  void *out) {
  const ph_settings *s = (const ph_settings *)ss;
  const samspor_option *o;
  if (table != s->table)
    return SAMSPOR_EINVAL;
  for (o = table; o->name; o++) {
    char *at = (char *)out + o->offset;
    if (!o->fill)
      continue;
    if (o->size != (o->type == SAMSPOR_OPT_ENUM || o->type == SAMSPOR_OPT_BOOL
                        ? sizeof(int)
                    : o->type == SAMSPOR_OPT_STRLIST ? sizeof(samspor_strlist)
                                                     : sizeof(double)))
      fail_msg("option '%s': member of the wrong size", o->name);
    switch (o->type) {
    case SAMSPOR_OPT_STRING:
    case SAMSPOR_OPT_PATH:
      *(const char **)(void *)at = h_get_string(ss, o->name);
      break;
    case SAMSPOR_OPT_ENUM:
      *(int *)(void *)at = choice_index(o->choices, setting(ss, o->name));
      break;
    case SAMSPOR_OPT_INT:
      *(long long *)(void *)at = h_get_int(ss, o->name);
      break;
    case SAMSPOR_OPT_BOOL:
      *(int *)(void *)at = h_get_bool(ss, o->name);
      break;
    case SAMSPOR_OPT_FLOAT:
      *(double *)(void *)at = h_get_float(ss, o->name);
      break;
    case SAMSPOR_OPT_DURATION:
      *(double *)(void *)at = h_get_duration(ss, o->name);
      break;
    case SAMSPOR_OPT_STRLIST: {
      samspor_strlist *l = (samspor_strlist *)(void *)at;
      l->n = h_get_list(ss, o->name, &l->items);
      break;
    }
    default:
      fail_msg("the test host cannot fill option '%s'", o->name);
    }
  }
  return 0;
}

/* ---- the context ------------------------------------------------------ */

static void h_log(samspor_ctx *ctx, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void h_log(samspor_ctx *ctx, int level, const char *fmt, ...) {
  ph_ctx *c = (ph_ctx *)ctx;
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ph_assert_no_values(msg);
  if (c->keep_log)
    sp_buf_printf(&c->log, "%d %s\n", level, msg);
  if (level == SAMSPOR_LOG_WARN) {
    snprintf(c->warn, sizeof c->warn, "%s", msg);
    c->nwarn++;
  }
}

static void h_error(samspor_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void h_error(samspor_ctx *ctx, const char *fmt, ...) {
  ph_ctx *c = (ph_ctx *)ctx;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->error, sizeof c->error, fmt, ap);
  va_end(ap);
  c->nerrors++;
  ph_assert_no_values(c->error);
}

void ph_ctx_free(ph_ctx *ctx) {
  sp_buf_free(&ctx->log);
}

/* ---- the sink --------------------------------------------------------- */

int ph_record_begin(ph_sink *s, const char *position) {
  if (s->no_records)
    fail_msg("no record expected");
  assert_false(s->in_record);
  s->in_record = 1;
  s->next = 0;
  sp_buf_puts(&s->out, position);
  return 0;
}

void ph_field(ph_sink *s, size_t index, const char *value, size_t len) {
  assert_true(s->in_record);
  assert_int_equal(index, s->next);
  s->next++;
  if (value) {
    sp_buf_puts(&s->out, " |");
    sp_buf_append(&s->out, value, len);
  } else {
    sp_buf_puts(&s->out, " <null>");
  }
}

int ph_record_end(ph_sink *s) {
  assert_true(s->in_record);
  assert_int_equal(s->next, s->nfields);
  s->in_record = 0;
  sp_buf_putc(&s->out, '\n');
  if (s->stop_after && ++s->nrecords >= s->stop_after)
    return -42;
  return 0;
}

int ph_reject(ph_sink *s, const char *position, const char *reason,
              const char *message) {
  assert_false(s->in_record);
  ph_assert_no_values(message);
  sp_buf_printf(&s->out, "%s REJECT %s: %s\n", position, reason, message);
  return 0;
}

void ph_set_state(ph_sink *s, const char *state) {
  free(s->state);
  s->state = strdup(state);
}

void ph_sink_free(ph_sink *s) {
  sp_buf_free(&s->out);
  free(s->state);
  s->state = NULL;
}

static int h_record_begin(samspor_sink *sink, const char *position) {
  return ph_record_begin((ph_sink *)sink, position);
}

static void h_field(samspor_sink *sink, size_t index, const char *value,
                    size_t len) {
  ph_field((ph_sink *)sink, index, value, len);
}

static int h_record_end(samspor_sink *sink) {
  return ph_record_end((ph_sink *)sink);
}

static int h_reject(samspor_sink *sink, const char *position,
                    const char *reason, const char *message) {
  return ph_reject((ph_sink *)sink, position, reason, message);
}

static void h_set_state(samspor_sink *sink, const char *state) {
  ph_set_state((ph_sink *)sink, state);
}

const samspor_host ph_host = {
    .struct_size = sizeof(samspor_host),
    .abi_version = SAMSPOR_ABI_VERSION,
    .fill = h_fill,
    .get_string = h_get_string,
    .get_int = h_get_int,
    .get_float = h_get_float,
    .get_bool = h_get_bool,
    .get_duration = h_get_duration,
    .get_list = h_get_list,
    .is_set = h_is_set,
    .get_group = h_get_group,
    .log = h_log,
    .error = h_error,
    .record_begin = h_record_begin,
    .field = h_field,
    .record_end = h_record_end,
    .reject = h_reject,
    .set_state = h_set_state,
};

/* ---- runs ------------------------------------------------------------- */

void ph_open_read_close(const samspor_plugin *pl, const samspor_open_args *a,
                        const ph_ctx *ctx, int *open_rc, int *read_rc) {
  void *h = NULL;
  *read_rc = 1; /* "not called" */
  *open_rc = pl->open(a, &h);
  if (*open_rc == 0) {
    assert_non_null(h);
    *read_rc = pl->read(h);
    pl->close(h);
  } else {
    assert_null(h);
    assert_true(ctx->nerrors > 0);
  }
}

void ph_run_init(ph_run *r, const samspor_plugin *pl) {
  memset(r, 0, sizeof *r);
  r->plugin = pl;
  r->source.table = pl->source_options;
  r->stream.table = pl->stream_options;
}

void ph_run_set(ph_run *r, const char *name, const char *value) {
  ph_set(&r->source, name, value);
}

void ph_run_plugin(ph_run *r, const char *const *fields, size_t nfields) {
  samspor_open_args a = {
      .struct_size = sizeof a,
      .host = &ph_host,
      .ctx = PH_CTX(&r->ctx),
      .sink = PH_SINK(&r->sink),
      .source = PH_SETTINGS(&r->source),
      .stream = PH_SETTINGS(&r->stream),
      .fields = fields,
      .nfields = nfields,
      .cursor = r->cursor,
      .cursor_field = -1,
      .state = r->state,
      .full = r->full,
  };
  r->sink.nfields = nfields;
  sp_buf_puts(&r->sink.out, ""); /* out.data is a string even when empty */
  ph_open_read_close(r->plugin, &a, &r->ctx, &r->open_rc, &r->read_rc);
}

void ph_run_free(ph_run *r) {
  ph_sink_free(&r->sink);
  ph_ctx_free(&r->ctx);
}

/* ---- the temporary directory ------------------------------------------ */

char ph_tmpdir[64];

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

int ph_setup_dir(void **state) {
  (void)state;
  strcpy(ph_tmpdir, "/tmp/samspor-unit.XXXXXX");
  return mkdtemp(ph_tmpdir) ? 0 : -1;
}

int ph_teardown_dir(void **state) {
  (void)state;
  return nftw(ph_tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *ph_write_file(const char *name, const char *data, size_t len,
                          time_t mtime) {
  static char path[256];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", ph_tmpdir, name);
  f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  assert_int_equal(fclose(f), 0);
  if (mtime) {
    struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
  }
  return path;
}

const char *ph_write_text(const char *name, const char *text) {
  return ph_write_file(name, text, strlen(text), 0);
}
