#include "config.h"

#include "base/options.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- errors ----------------------------------------------------------- */

void sp_errors_init(sp_errors *e) {
  memset(e, 0, sizeof *e);
}

void sp_errors_free(sp_errors *e) {
  for (size_t i = 0; i < e->nerrors; i++)
    free(e->errors[i]);
  for (size_t i = 0; i < e->nwarnings; i++)
    free(e->warnings[i]);
  free(e->errors);
  free(e->warnings);
  sp_errors_init(e);
}

static char *located(const char *file, int line, const char *fmt, va_list ap)
    SP_PRINTF(3, 0);
static char *located(const char *file, int line, const char *fmt, va_list ap) {
  sp_buf b;
  sp_buf_init(&b);
  if (file) {
    const char *base = strrchr(file, '/');
    sp_buf_puts(&b, base ? base + 1 : file);
    if (line > 0)
      sp_buf_printf(&b, ":%d", line);
    sp_buf_puts(&b, ": ");
  } else if (line > 0) {
    sp_buf_printf(&b, "line %d: ", line);
  }
  sp_buf_vprintf(&b, fmt, ap);
  return b.data;
}

void sp_errors_add(sp_errors *e, const char *file, int line, const char *fmt,
                   ...) {
  va_list ap;
  va_start(ap, fmt);
  e->errors = sp_xrealloc(e->errors, (e->nerrors + 1) * sizeof(char *));
  e->errors[e->nerrors++] = located(file, line, fmt, ap);
  va_end(ap);
}

void sp_warnings_add(sp_errors *e, const char *file, int line, const char *fmt,
                     ...) {
  va_list ap;
  va_start(ap, fmt);
  e->warnings = sp_xrealloc(e->warnings, (e->nwarnings + 1) * sizeof(char *));
  e->warnings[e->nwarnings++] = located(file, line, fmt, ap);
  va_end(ap);
}

void sp_errors_print(const sp_errors *e, FILE *f) {
  for (size_t i = 0; i < e->nerrors; i++)
    fprintf(f, "error: %s\n", e->errors[i]);
  for (size_t i = 0; i < e->nwarnings; i++)
    fprintf(f, "warning: %s\n", e->warnings[i]);
}

/* ---- durations -------------------------------------------------------- */

int sp_duration_parse(const char *s, double *seconds) {
  double total = 0;
  const char *p = s;
  if (!s || !*s)
    return -1;
  while (*p) {
    if (!isdigit((unsigned char)*p))
      return -1;
    errno = 0;
    char *end;
    unsigned long long n = strtoull(p, &end, 10);
    if (errno || end == p)
      return -1;
    double unit;
    switch (*end) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    case 'y':
      unit = 365 * 86400.0;
      break;
    default:
      return -1;
    }
    total += (double)n * unit;
    p = end + 1;
  }
  *seconds = total;
  return 0;
}

void sp_duration_format(double seconds, char *buf, size_t len) {
  static const struct {
    char unit;
    long long secs;
  } units[] = {
      {'y', 365LL * 86400}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1}};
  long long s = llround(seconds);
  size_t off = 0;
  buf[0] = '\0';
  if (s == 0) {
    snprintf(buf, len, "0s");
    return;
  }
  for (size_t i = 0; i < SP_ARRAY_LEN(units) && off < len; i++) {
    if (s >= units[i].secs) {
      int n = snprintf(buf + off, len - off, "%lld%c", s / units[i].secs,
                       units[i].unit);
      if (n < 0)
        return;
      off += (size_t)n;
      s %= units[i].secs;
    }
  }
}

const char *sp_opt_type_name(samspor_opt_type t) {
  switch (t) {
  case SAMSPOR_OPT_STRING:
    return "string";
  case SAMSPOR_OPT_INT:
    return "integer";
  case SAMSPOR_OPT_FLOAT:
    return "number";
  case SAMSPOR_OPT_BOOL:
    return "boolean";
  case SAMSPOR_OPT_DURATION:
    return "duration";
  case SAMSPOR_OPT_ENUM:
    return "choice";
  case SAMSPOR_OPT_STRLIST:
    return "list of strings";
  case SAMSPOR_OPT_INTLIST:
    return "list of integers";
  case SAMSPOR_OPT_PATH:
    return "file path";
  case SAMSPOR_OPT_GROUP:
    return "group";
  case SAMSPOR_OPT_GROUPLIST:
    return "list of groups";
  case SAMSPOR_OPT_MAP:
    return "group of named groups";
  case SAMSPOR_OPT_ANY:
    return "group";
  }
  return "?";
}

/* ---- parsing ---------------------------------------------------------- */

typedef struct parse_ctx {
  const char *file;    /* current file for messages */
  const char *where;   /* "connector 'x'" */
  const char *basedir; /* for relative paths */
  sp_errors *errs;
} parse_ctx;

static int setting_line(const config_setting_t *cs) {
  return cs ? (int)config_setting_source_line(cs) : 0;
}

static const char *setting_file(const config_setting_t *cs,
                                const char *fallback) {
  const char *f = cs ? config_setting_source_file(cs) : NULL;
  return f ? f : fallback;
}

static size_t table_len(const samspor_option *t) {
  size_t n = 0;
  while (t && t[n].name)
    n++;
  return n;
}

static int enum_has(const char *choices, const char *v) {
  size_t vl = strlen(v);
  const char *p = choices;
  while (p && *p) {
    const char *bar = strchr(p, '|');
    size_t l = bar ? (size_t)(bar - p) : strlen(p);
    if (l == vl && strncmp(p, v, l) == 0)
      return 1;
    p = bar ? bar + 1 : NULL;
  }
  return 0;
}

static int has_range(const samspor_option *o) {
  return o->min < o->max;
}

static char *resolve_path(const parse_ctx *pc, const char *p) {
  if (p[0] == '/' || !pc->basedir || !*pc->basedir)
    return sp_xstrdup(p);
  /* URLs are not paths */
  if (strstr(p, "://"))
    return sp_xstrdup(p);
  return sp_xasprintf("%s/%s", pc->basedir, p);
}

/* Check a parsed number against the option's range. */
static void check_range(parse_ctx *pc, const samspor_option *o, double v,
                        int line, const char *shown) {
  if (!has_range(o))
    return;
  if (v < o->min || v > o->max) {
    if (o->type == SAMSPOR_OPT_DURATION) {
      char lo[32], hi[32];
      sp_duration_format(o->min, lo, sizeof lo);
      sp_duration_format(o->max, hi, sizeof hi);
      sp_errors_add(pc->errs, pc->file, line,
                    "option '%s' in %s: %s is out of range %s to %s", o->name,
                    pc->where, shown, lo, hi);
    } else {
      sp_errors_add(pc->errs, pc->file, line,
                    "option '%s' in %s: %s is out of range %g to %g", o->name,
                    pc->where, shown, o->min, o->max);
    }
  }
}

static void type_error(parse_ctx *pc, const samspor_option *o, int line,
                       const char *extra) {
  sp_errors_add(pc->errs, pc->file, line, "option '%s' in %s: expected %s%s%s",
                o->name, pc->where, sp_opt_type_name(o->type), extra ? " " : "",
                extra ? extra : "");
}

static void parse_group_into(samspor_settings *s, const config_setting_t *cs,
                             parse_ctx *pc);

static samspor_settings *new_settings(const samspor_option *t1,
                                      const samspor_option *t2,
                                      const char *where, const char *file,
                                      int line) {
  samspor_settings *s = sp_xcalloc(1, sizeof *s);
  s->tables[0] = t1;
  s->tables[1] = t2;
  s->nvals = table_len(t1) + table_len(t2);
  s->vals = sp_xcalloc(s->nvals ? s->nvals : 1, sizeof(sp_value));
  size_t k = 0;
  for (int t = 0; t < 2; t++)
    for (size_t i = 0; s->tables[t] && s->tables[t][i].name; i++)
      s->vals[k++].opt = &s->tables[t][i];
  s->where = sp_xstrdup(where);
  s->file = file;
  s->line = line;
  return s;
}

/* Singular label for members of a list option: "streams" -> "stream". */
static char *member_label(const samspor_option *o, const config_setting_t *m,
                          size_t index) {
  const char *ident = NULL;
  const config_setting_t *n;
  if (m && config_setting_is_group(m)) {
    if ((n = config_setting_get_member(m, "name")) &&
        config_setting_type(n) == CONFIG_TYPE_STRING)
      ident = config_setting_get_string(n);
    else if ((n = config_setting_get_member(m, "table")) &&
             config_setting_type(n) == CONFIG_TYPE_STRING)
      ident = config_setting_get_string(n);
  }
  size_t l = strlen(o->name);
  char *singular =
      sp_xstrndup(o->name, l > 1 && o->name[l - 1] == 's' ? l - 1 : l);
  char *label = ident ? sp_xasprintf("%s '%s'", singular, ident)
                      : sp_xasprintf("%s #%zu", singular, index + 1);
  free(singular);
  return label;
}

static samspor_settings *parse_sub(const config_setting_t *cs,
                                   const samspor_option *o, const char *label,
                                   parse_ctx *pc) {
  /* Members of the top level read "connector 'x'", not "connector 'x' of
   * the configuration". */
  char *where = strcmp(pc->where, SP_ROOT_WHERE) == 0
                    ? sp_xstrdup(label)
                    : sp_xasprintf("%s of %s", label, pc->where);
  samspor_settings *sub = new_settings(
      o->sub, NULL, where, setting_file(cs, pc->file), setting_line(cs));
  parse_ctx child = *pc;
  child.where = where;
  child.file = sub->file;
  parse_group_into(sub, cs, &child);
  free(where);
  return sub;
}

static void read_secret(parse_ctx *pc, sp_value *v, const char *how,
                        const char *src, int line) {
  const samspor_option *o = v->opt;
  if (strcmp(how, "env") == 0) {
    v->secret_from = sp_xasprintf("env %s", src);
    const char *val = getenv(src);
    if (!val || !*val)
      v->secret_problem = sp_xasprintf(
          "%s_env: environment variable %s is not set", o->name, src);
    else
      v->str = sp_xstrdup(val);
    return;
  }
  char *path = resolve_path(pc, src);
  v->secret_from = sp_xasprintf("file %s", path);
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    v->secret_problem =
        sp_xasprintf("%s_file %s: %s", o->name, path, strerror(errno));
    free(path);
    return;
  }
  if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
    sp_errors_add(pc->errs, pc->file, line,
                  "%s_file %s in %s is not a regular file", o->name, path,
                  pc->where);
  } else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
    sp_errors_add(pc->errs, pc->file, line,
                  "%s_file %s in %s is readable by group or others "
                  "(mode %04o); run: chmod 600 %s",
                  o->name, path, pc->where, (unsigned)(st.st_mode & 07777),
                  path);
  } else {
    sp_buf b;
    char chunk[512];
    ssize_t n;
    sp_buf_init(&b);
    while ((n = read(fd, chunk, sizeof chunk)) > 0 && b.len < 65536)
      sp_buf_append(&b, chunk, (size_t)n);
    sp_wipe(chunk, sizeof chunk);
    /* A trailing newline is an editor's, not the secret's. */
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
      b.data[--b.len] = '\0';
    if (b.len == 0)
      v->secret_problem = sp_xasprintf("%s_file %s is empty", o->name, path);
    else
      v->str = sp_xstrdup(b.data);
    if (b.data)
      sp_wipe(b.data, b.cap);
    sp_buf_free(&b);
  }
  close(fd);
  free(path);
}

/* A string, path, enum, integer, float or boolean. */
static void parse_scalar(sp_value *v, const config_setting_t *cs, int ct,
                         int line, parse_ctx *pc) {
  const samspor_option *o = v->opt;
  switch (o->type) {
  case SAMSPOR_OPT_STRING:
  case SAMSPOR_OPT_PATH:
    if (ct == CONFIG_TYPE_STRING) {
      const char *str = config_setting_get_string(cs);
      v->str =
          o->type == SAMSPOR_OPT_PATH ? resolve_path(pc, str) : sp_xstrdup(str);
    } else if ((o->flags & SP_OPT_INTOK) &&
               (ct == CONFIG_TYPE_INT || ct == CONFIG_TYPE_INT64)) {
      long long n = config_setting_get_int64(cs);
      v->str = sp_xasprintf("%lld", n);
      v->i = n;
    } else {
      type_error(pc, o, line,
                 (o->flags & SP_OPT_INTOK) ? "or integer (in quotes: \"...\")"
                                           : "(in quotes: \"...\")");
    }
    break;
  case SAMSPOR_OPT_ENUM:
    if (ct != CONFIG_TYPE_STRING) {
      type_error(pc, o, line, NULL);
      break;
    }
    v->str = sp_xstrdup(config_setting_get_string(cs));
    if (!enum_has(o->choices, v->str))
      sp_errors_add(pc->errs, pc->file, line,
                    "option '%s' in %s: '%s' is not one of %s", o->name,
                    pc->where, v->str, o->choices);
    break;
  case SAMSPOR_OPT_INT:
    if (ct != CONFIG_TYPE_INT && ct != CONFIG_TYPE_INT64) {
      type_error(pc, o, line, NULL);
      break;
    }
    v->i = config_setting_get_int64(cs);
    {
      char shown[32];
      snprintf(shown, sizeof shown, "%lld", v->i);
      check_range(pc, o, (double)v->i, line, shown);
    }
    break;
  case SAMSPOR_OPT_FLOAT:
    if (ct == CONFIG_TYPE_FLOAT)
      v->f = config_setting_get_float(cs);
    else if (ct == CONFIG_TYPE_INT || ct == CONFIG_TYPE_INT64)
      v->f = (double)config_setting_get_int64(cs);
    else {
      type_error(pc, o, line, NULL);
      break;
    }
    {
      char shown[32];
      snprintf(shown, sizeof shown, "%g", v->f);
      check_range(pc, o, v->f, line, shown);
    }
    break;
  case SAMSPOR_OPT_BOOL:
    if (ct != CONFIG_TYPE_BOOL) {
      type_error(pc, o, line, "(true or false, without quotes)");
      break;
    }
    v->i = config_setting_get_bool(cs);
    break;
  default:
    break;
  }
}

/* A duration: seconds as an integer, or a number and a unit. */
static void parse_duration(sp_value *v, const config_setting_t *cs, int ct,
                           int line, parse_ctx *pc) {
  const samspor_option *o = v->opt;
  if (ct == CONFIG_TYPE_INT || ct == CONFIG_TYPE_INT64) {
    v->f = (double)config_setting_get_int64(cs);
    v->str = sp_xasprintf("%llds", (long long)v->f);
  } else if (ct == CONFIG_TYPE_STRING) {
    v->str = sp_xstrdup(config_setting_get_string(cs));
    if (sp_duration_parse(v->str, &v->f) != 0) {
      sp_errors_add(pc->errs, pc->file, line,
                    "option '%s' in %s: '%s' is not a duration; write a "
                    "number and a unit, e.g. \"90s\", \"30m\", \"2h\", "
                    "\"1d\", \"6y\"",
                    o->name, pc->where, v->str);
      return;
    }
  } else {
    type_error(pc, o, line, "(e.g. \"30m\")");
    return;
  }
  check_range(pc, o, v->f, line, v->str);
}

/* A list of strings (one string is a list of one) or of integers. */
static void parse_list(sp_value *v, const config_setting_t *cs, int ct,
                       int line, parse_ctx *pc) {
  const samspor_option *o = v->opt;
  switch (o->type) {
  case SAMSPOR_OPT_STRLIST:
    if (ct == CONFIG_TYPE_STRING) {
      v->list = sp_xcalloc(2, sizeof(char *));
      v->list[0] = sp_xstrdup(config_setting_get_string(cs));
      v->nlist = 1;
    } else if (ct == CONFIG_TYPE_ARRAY || ct == CONFIG_TYPE_LIST) {
      int n = config_setting_length(cs);
      v->list = sp_xcalloc((size_t)n + 1, sizeof(char *));
      for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(cs, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
          type_error(pc, o, line, "(e.g. [\"a\", \"b\"])");
          break;
        }
        v->list[v->nlist++] = sp_xstrdup(config_setting_get_string(e));
      }
    } else {
      type_error(pc, o, line, "(e.g. [\"a\", \"b\"])");
    }
    break;
  case SAMSPOR_OPT_INTLIST:
    if (ct == CONFIG_TYPE_ARRAY || ct == CONFIG_TYPE_LIST) {
      int n = config_setting_length(cs);
      v->ilist = sp_xcalloc((size_t)n + 1, sizeof(long long));
      for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(cs, (unsigned)i);
        int et = config_setting_type(e);
        if (et != CONFIG_TYPE_INT && et != CONFIG_TYPE_INT64) {
          type_error(pc, o, line, "(e.g. [0, 6, 10])");
          break;
        }
        v->ilist[v->nlist++] = config_setting_get_int64(e);
      }
    } else {
      type_error(pc, o, line, "(e.g. [0, 6, 10])");
    }
    break;
  default:
    break;
  }
}

/* A group, a list of groups, a map of named groups, or raw settings. */
static void parse_nested(sp_value *v, const config_setting_t *cs, int ct,
                         int line, parse_ctx *pc) {
  const samspor_option *o = v->opt;
  switch (o->type) {
  case SAMSPOR_OPT_GROUP:
    if (ct != CONFIG_TYPE_GROUP) {
      type_error(pc, o, line, "({ ... })");
      break;
    }
    sp_settings_free(v->group);
    {
      char *label = sp_xasprintf("'%s'", o->name);
      v->group = parse_sub(cs, o, label, pc);
      free(label);
    }
    break;
  case SAMSPOR_OPT_GROUPLIST:
    if (ct != CONFIG_TYPE_LIST) {
      type_error(pc, o, line, "(( { ... }, { ... } ))");
      break;
    }
    {
      int n = config_setting_length(cs);
      v->items = sp_xcalloc((size_t)n + 1, sizeof(samspor_settings *));
      for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(cs, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
          sp_errors_add(pc->errs, pc->file, setting_line(e),
                        "option '%s' in %s: item %d is not a group { ... }",
                        o->name, pc->where, i + 1);
          continue;
        }
        char *label = member_label(o, e, (size_t)i);
        v->items[v->nitems++] = parse_sub(e, o, label, pc);
        free(label);
      }
    }
    break;
  case SAMSPOR_OPT_MAP:
    if (ct != CONFIG_TYPE_GROUP) {
      type_error(pc, o, line, "({ name = { ... }; })");
      break;
    }
    {
      int n = config_setting_length(cs);
      v->items = sp_xcalloc((size_t)n + 1, sizeof(samspor_settings *));
      for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(cs, (unsigned)i);
        const char *name = config_setting_name(e);
        if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
          sp_errors_add(pc->errs, pc->file, setting_line(e),
                        "'%s' in %s: expected a group { ... }", name,
                        pc->where);
          continue;
        }
        char *label = sp_xasprintf("'%s'", name);
        samspor_settings *sub = parse_sub(e, o, label, pc);
        sub->name = sp_xstrdup(name);
        v->items[v->nitems++] = sub;
        free(label);
      }
    }
    break;
  case SAMSPOR_OPT_ANY:
    if (ct != CONFIG_TYPE_GROUP) {
      type_error(pc, o, line, "({ ... })");
      break;
    }
    v->raw = cs;
    break;
  default:
    break;
  }
}

/* Parse one config setting `cs` as the value of option v->opt. */
static void parse_value(sp_value *v, const config_setting_t *cs,
                        parse_ctx *pc) {
  const samspor_option *o = v->opt;
  int line = setting_line(cs);
  int ct = config_setting_type(cs);
  v->set = 1;
  v->line = line;

  if (o->flags & SP_OPT_DEFER) {
    v->raw = cs;
    return;
  }
  switch (o->type) {
  case SAMSPOR_OPT_STRING:
  case SAMSPOR_OPT_PATH:
  case SAMSPOR_OPT_ENUM:
  case SAMSPOR_OPT_INT:
  case SAMSPOR_OPT_FLOAT:
  case SAMSPOR_OPT_BOOL:
    parse_scalar(v, cs, ct, line, pc);
    break;
  case SAMSPOR_OPT_DURATION:
    parse_duration(v, cs, ct, line, pc);
    break;
  case SAMSPOR_OPT_STRLIST:
  case SAMSPOR_OPT_INTLIST:
    parse_list(v, cs, ct, line, pc);
    break;
  case SAMSPOR_OPT_GROUP:
  case SAMSPOR_OPT_GROUPLIST:
  case SAMSPOR_OPT_MAP:
  case SAMSPOR_OPT_ANY:
    parse_nested(v, cs, ct, line, pc);
    break;
  }
}

/* Set v from its declared default (already validated by the tests). */
static void apply_default(sp_value *v, parse_ctx *pc, samspor_settings *s) {
  const samspor_option *o = v->opt;
  const char *d = o->def;
  if (o->type == SAMSPOR_OPT_GROUP && !(o->flags & SP_OPT_DEFER)) {
    char *where = strcmp(pc->where, SP_ROOT_WHERE) == 0
                      ? sp_xasprintf("'%s'", o->name)
                      : sp_xasprintf("'%s' of %s", o->name, pc->where);
    v->group = new_settings(o->sub, NULL, where, s->file, s->line);
    parse_ctx child = *pc;
    child.where = where;
    parse_group_into(v->group, NULL, &child);
    free(where);
    return;
  }
  if (!d)
    return;
  switch (o->type) {
  case SAMSPOR_OPT_STRING:
  case SAMSPOR_OPT_ENUM:
    v->str = sp_xstrdup(d);
    break;
  case SAMSPOR_OPT_PATH:
    v->str = resolve_path(pc, d);
    break;
  case SAMSPOR_OPT_INT:
  case SAMSPOR_OPT_BOOL:
    v->i = strcmp(d, "true") == 0 ? 1 : strtoll(d, NULL, 10);
    break;
  case SAMSPOR_OPT_FLOAT:
    v->f = strtod(d, NULL);
    break;
  case SAMSPOR_OPT_DURATION:
    v->str = sp_xstrdup(d);
    if (sp_duration_parse(d, &v->f) != 0)
      v->f = 0;
    break;
  case SAMSPOR_OPT_STRLIST:
    v->list = sp_xcalloc(2, sizeof(char *));
    v->list[0] = sp_xstrdup(d);
    v->nlist = 1;
    break;
  case SAMSPOR_OPT_INTLIST: {
    /* "0,6,10" */
    size_t n = 1;
    for (const char *p = d; *p; p++)
      n += *p == ',';
    v->ilist = sp_xcalloc(n + 1, sizeof(long long));
    const char *p = d;
    while (*p) {
      char *end;
      v->ilist[v->nlist++] = strtoll(p, &end, 10);
      p = *end == ',' ? end + 1 : end + strlen(end);
    }
    break;
  }
  default:
    break;
  }
}

static sp_value *find_value(const samspor_settings *s, const char *name) {
  for (size_t i = 0; i < s->nvals; i++)
    if (strcmp(s->vals[i].opt->name, name) == 0)
      return &s->vals[i];
  return NULL;
}

static void list_valid(const samspor_settings *s, sp_buf *b) {
  for (size_t i = 0; i < s->nvals; i++) {
    const samspor_option *o = s->vals[i].opt;
    if (i)
      sp_buf_puts(b, ", ");
    if (o->flags & SAMSPOR_OPT_SECRET)
      sp_buf_printf(b, "%s_file, %s_env", o->name, o->name);
    else
      sp_buf_puts(b, o->name);
  }
}

static void parse_group_into(samspor_settings *s, const config_setting_t *cs,
                             parse_ctx *pc) {
  int n = cs ? config_setting_length(cs) : 0;
  for (int i = 0; i < n; i++) {
    const config_setting_t *m = config_setting_get_elem(cs, (unsigned)i);
    const char *name = config_setting_name(m);
    int line = setting_line(m);
    if (!name)
      continue;
    sp_value *v = find_value(s, name);
    if (v && (v->opt->flags & SAMSPOR_OPT_SECRET)) {
      sp_errors_add(pc->errs, pc->file, line,
                    "secret '%s' written inline in %s; put it in a file "
                    "readable only by samspor and write %s_file = \"...\", "
                    "or name an environment variable with %s_env",
                    name, pc->where, name, name);
      v->set = 1;
      continue;
    }
    if (!v) {
      /* password_file / password_env for a secret named password */
      const char *us = strrchr(name, '_');
      if (us && (strcmp(us, "_file") == 0 || strcmp(us, "_env") == 0)) {
        char *base = sp_xstrndup(name, (size_t)(us - name));
        sp_value *sv = find_value(s, base);
        free(base);
        if (sv && (sv->opt->flags & SAMSPOR_OPT_SECRET)) {
          if (config_setting_type(m) != CONFIG_TYPE_STRING) {
            sp_errors_add(pc->errs, pc->file, line,
                          "option '%s' in %s: expected string", name,
                          pc->where);
          } else if (sv->set) {
            sp_errors_add(pc->errs, pc->file, line,
                          "secret '%s' in %s is given twice; use either "
                          "%s_file or %s_env",
                          sv->opt->name, pc->where, sv->opt->name,
                          sv->opt->name);
          } else {
            sv->set = 1;
            sv->line = line;
            read_secret(pc, sv, us + 1, config_setting_get_string(m), line);
          }
          continue;
        }
      }
      sp_buf valid;
      sp_buf_init(&valid);
      list_valid(s, &valid);
      sp_errors_add(pc->errs, pc->file, line,
                    "unknown option '%s' in %s; valid options: %s", name,
                    pc->where, valid.data ? valid.data : "(none)");
      sp_buf_free(&valid);
      continue;
    }
    parse_value(v, m, pc);
  }
  for (size_t i = 0; i < s->nvals; i++) {
    sp_value *v = &s->vals[i];
    if (v->set)
      continue;
    if (v->opt->flags & SAMSPOR_OPT_REQUIRED) {
      if (v->opt->flags & SAMSPOR_OPT_SECRET)
        sp_errors_add(pc->errs, pc->file, s->line,
                      "missing required secret '%s' in %s: write %s_file or "
                      "%s_env",
                      v->opt->name, pc->where, v->opt->name, v->opt->name);
      else
        sp_errors_add(pc->errs, pc->file, s->line,
                      "missing required option '%s' (%s) in %s", v->opt->name,
                      sp_opt_type_name(v->opt->type), pc->where);
      continue;
    }
    apply_default(v, pc, s);
  }
}

samspor_settings *sp_settings_parse(const config_setting_t *group,
                                    const samspor_option *table,
                                    const samspor_option *extra,
                                    const char *where, const char *basedir,
                                    sp_errors *errs) {
  parse_ctx pc = {.file = setting_file(group, NULL),
                  .where = where,
                  .basedir = basedir,
                  .errs = errs};
  samspor_settings *s =
      new_settings(table, extra, where, pc.file, setting_line(group));
  parse_group_into(s, group, &pc);
  return s;
}

static void free_value(sp_value *v) {
  if (v->str) {
    if (v->opt->flags & SAMSPOR_OPT_SECRET)
      sp_wipe(v->str, strlen(v->str));
    free(v->str);
  }
  for (size_t i = 0; v->list && i < v->nlist; i++)
    free(v->list[i]);
  free(v->list);
  free(v->ilist);
  sp_settings_free(v->group);
  for (size_t i = 0; i < v->nitems; i++)
    sp_settings_free(v->items[i]);
  free(v->items);
  free(v->secret_from);
  free(v->secret_problem);
}

void sp_settings_free(samspor_settings *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nvals; i++)
    free_value(&s->vals[i]);
  free(s->vals);
  free(s->name);
  free(s->where);
  free(s);
}

/* ---- getters ---------------------------------------------------------- */

/* Asking for an undeclared option is a programming error in the core or
 * a plugin; failing loudly here is what finds it in the tests. */
static const sp_value *must_find(const samspor_settings *s, const char *name) {
  const sp_value *v = s ? find_value(s, name) : NULL;
  if (!v) {
    fprintf(stderr,
            "samspor: internal error: option '%s' is not declared in the "
            "table of %s\n",
            name, s ? s->where : "(null settings)");
    abort();
  }
  return v;
}

const sp_value *sp_settings_value(const samspor_settings *s, const char *name) {
  return s ? find_value(s, name) : NULL;
}

const char *sp_get_string(const samspor_settings *s, const char *name) {
  return must_find(s, name)->str;
}

long long sp_get_int(const samspor_settings *s, const char *name) {
  return must_find(s, name)->i;
}

double sp_get_float(const samspor_settings *s, const char *name) {
  return must_find(s, name)->f;
}

int sp_get_bool(const samspor_settings *s, const char *name) {
  return must_find(s, name)->i != 0;
}

double sp_get_duration(const samspor_settings *s, const char *name) {
  return must_find(s, name)->f;
}

size_t sp_get_list(const samspor_settings *s, const char *name,
                   const char *const **items) {
  const sp_value *v = must_find(s, name);
  if (items)
    *items = (const char *const *)v->list;
  return v->nlist;
}

int sp_is_set(const samspor_settings *s, const char *name) {
  return must_find(s, name)->set;
}

const samspor_settings *sp_get_group(const samspor_settings *s,
                                     const char *name) {
  return must_find(s, name)->group;
}

size_t sp_get_items(const samspor_settings *s, const char *name,
                    samspor_settings *const **items) {
  const sp_value *v = must_find(s, name);
  if (items)
    *items = v->items;
  return v->nitems;
}

int sp_get_line(const samspor_settings *s, const char *name) {
  const sp_value *v = must_find(s, name);
  return v->line ? v->line : s->line;
}

/* ---- filling a typed struct ------------------------------------------- */

/* Index of v in "a|b|c", or -1. */
static int enum_index(const char *choices, const char *v) {
  size_t vl = v ? strlen(v) : 0;
  const char *p = choices;
  for (int i = 0; v && p && *p; i++) {
    const char *bar = strchr(p, '|');
    size_t l = bar ? (size_t)(bar - p) : strlen(p);
    if (l == vl && strncmp(p, v, l) == 0)
      return i;
    p = bar ? bar + 1 : NULL;
  }
  return -1;
}

static void fill_one(const sp_value *v, char *at) {
  switch (v->opt->type) {
  case SAMSPOR_OPT_STRING:
  case SAMSPOR_OPT_PATH: {
    const char *p = v->str;
    memcpy(at, &p, sizeof p);
    break;
  }
  case SAMSPOR_OPT_ENUM: {
    int i = enum_index(v->opt->choices, v->str);
    memcpy(at, &i, sizeof i);
    break;
  }
  case SAMSPOR_OPT_INT:
    memcpy(at, &v->i, sizeof v->i);
    break;
  case SAMSPOR_OPT_BOOL: {
    int b = v->i != 0;
    memcpy(at, &b, sizeof b);
    break;
  }
  case SAMSPOR_OPT_FLOAT:
  case SAMSPOR_OPT_DURATION:
    memcpy(at, &v->f, sizeof v->f);
    break;
  case SAMSPOR_OPT_STRLIST: {
    samspor_strlist l = {(const char *const *)v->list, v->nlist};
    memcpy(at, &l, sizeof l);
    break;
  }
  case SAMSPOR_OPT_INTLIST: {
    samspor_intlist l = {v->ilist, v->nlist};
    memcpy(at, &l, sizeof l);
    break;
  }
  case SAMSPOR_OPT_GROUP: {
    const samspor_settings *g = v->group;
    memcpy(at, &g, sizeof g);
    break;
  }
  case SAMSPOR_OPT_GROUPLIST:
  case SAMSPOR_OPT_MAP: {
    samspor_grouplist l = {v->items, v->nitems};
    memcpy(at, &l, sizeof l);
    break;
  }
  case SAMSPOR_OPT_ANY:
    break; /* refused by sp_options_check */
  }
}

/* The size of what fill_one writes for type t (0: cannot be filled). */
static size_t fill_size(samspor_opt_type t) {
  switch (t) {
  case SAMSPOR_OPT_STRING:
  case SAMSPOR_OPT_PATH:
    return sizeof(const char *);
  case SAMSPOR_OPT_ENUM:
  case SAMSPOR_OPT_BOOL:
    return sizeof(int);
  case SAMSPOR_OPT_INT:
    return sizeof(long long);
  case SAMSPOR_OPT_FLOAT:
  case SAMSPOR_OPT_DURATION:
    return sizeof(double);
  case SAMSPOR_OPT_STRLIST:
    return sizeof(samspor_strlist);
  case SAMSPOR_OPT_INTLIST:
    return sizeof(samspor_intlist);
  case SAMSPOR_OPT_GROUP:
    return sizeof(const samspor_settings *);
  case SAMSPOR_OPT_GROUPLIST:
  case SAMSPOR_OPT_MAP:
    return sizeof(samspor_grouplist);
  case SAMSPOR_OPT_ANY:
    break;
  }
  return 0;
}

/* Whether option o (with an offset) may be filled into its member. */
static int fits(const samspor_option *o) {
  size_t want = fill_size(o->type);
  return want && o->size == want;
}

int sp_options_fill(const samspor_settings *s, const samspor_option *table,
                    void *out) {
  if (!s || !table || (table != s->tables[0] && table != s->tables[1]))
    return SAMSPOR_EINVAL;
  for (size_t i = 0; table[i].name; i++)
    if (table[i].fill && !fits(&table[i]))
      return SAMSPOR_EINVAL;
  /* new_settings() lays the values out table by table, in table order. */
  size_t base = table == s->tables[0] ? 0 : table_len(s->tables[0]);
  for (size_t i = 0; table[i].name; i++)
    if (table[i].fill)
      fill_one(&s->vals[base + i], (char *)out + table[i].offset);
  return 0;
}

int sp_options_check(const samspor_option *table, const char *prefix,
                     sp_buf *problems) {
  int bad = 0;
  for (size_t i = 0; table && table[i].name; i++) {
    const samspor_option *o = &table[i];
    if (o->fill && o->type == SAMSPOR_OPT_ANY) {
      sp_buf_printf(problems, "%s%s: an ANY option cannot be filled\n", prefix,
                    o->name);
      bad = 1;
    } else if (o->fill && !fits(o)) {
      sp_buf_printf(
          problems, "%s%s: its member has %zu bytes, a %s fills %zu\n", prefix,
          o->name, o->size, sp_opt_type_name(o->type), fill_size(o->type));
      bad = 1;
    }
    if (o->type == SAMSPOR_OPT_ENUM && o->def &&
        enum_index(o->choices, o->def) < 0) {
      sp_buf_printf(problems, "%s%s: default '%s' is not one of %s\n", prefix,
                    o->name, o->def, o->choices ? o->choices : "(none)");
      bad = 1;
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(table[j].name, o->name) == 0) {
        sp_buf_printf(problems, "%s%s: declared twice\n", prefix, o->name);
        bad = 1;
      }
    if (o->sub) {
      sp_buf b;
      sp_buf_init(&b);
      sp_buf_printf(&b, "%s%s.", prefix, o->name);
      bad |= sp_options_check(o->sub, b.data, problems);
      sp_buf_free(&b);
    }
  }
  return bad ? -1 : 0;
}

int sp_options_declared(const samspor_option *table, const char *name) {
  for (size_t i = 0; table && table[i].name; i++)
    if (strcmp(table[i].name, name) == 0)
      return 1;
  return 0;
}

/* ---- describing ------------------------------------------------------- */

/* A default as it would be written in the configuration. */
static void put_config_value(sp_buf *b, const samspor_option *o,
                             const char *v) {
  int quoted = o->type == SAMSPOR_OPT_STRING || o->type == SAMSPOR_OPT_ENUM ||
               o->type == SAMSPOR_OPT_DURATION || o->type == SAMSPOR_OPT_PATH;
  if (!quoted) {
    sp_buf_puts(b, v);
    return;
  }
  sp_buf_putc(b, '"');
  for (const char *p = v; *p; p++) {
    if (*p == '"' || *p == '\\')
      sp_buf_putc(b, '\\');
    if (*p == '\t')
      sp_buf_puts(b, "\\t");
    else
      sp_buf_putc(b, *p);
  }
  sp_buf_putc(b, '"');
}

static void describe_default(sp_buf *b, const samspor_option *o) {
  if (o->flags & SAMSPOR_OPT_REQUIRED) {
    sp_buf_puts(b, "required");
  } else if (o->def) {
    sp_buf_puts(b, "default ");
    put_config_value(b, o, o->def);
  } else {
    sp_buf_puts(b, "optional");
  }
  if (o->type == SAMSPOR_OPT_ENUM && o->choices)
    sp_buf_printf(b, "; one of %s", o->choices);
  if (has_range(o)) {
    if (o->type == SAMSPOR_OPT_DURATION) {
      char lo[32], hi[32];
      sp_duration_format(o->min, lo, sizeof lo);
      sp_duration_format(o->max, hi, sizeof hi);
      sp_buf_printf(b, "; %s to %s", lo, hi);
    } else {
      /* %.15g: whole numbers print whole (1073741824, not 1.07e+09). */
      sp_buf_printf(b, "; %.15g to %.15g", o->min, o->max);
    }
  }
  if (o->flags & SAMSPOR_OPT_RESTART)
    sp_buf_puts(b, "; needs a restart to change");
}

static void wrap(FILE *f, const char *text, int indent, int width) {
  int col = indent;
  fprintf(f, "%*s", indent, "");
  const char *p = text;
  while (*p) {
    const char *sp = strchr(p, ' ');
    int wl = sp ? (int)(sp - p) : (int)strlen(p);
    if (col > indent && col + 1 + wl > width) {
      fprintf(f, "\n%*s", indent, "");
      col = indent;
    } else if (col > indent) {
      fputc(' ', f);
      col++;
    }
    fwrite(p, 1, (size_t)wl, f);
    col += wl;
    p += wl;
    while (*p == ' ')
      p++;
  }
  fputc('\n', f);
}

void sp_options_describe(FILE *f, const samspor_option *table,
                         const char *prefix, int indent) {
  for (const samspor_option *o = table; o && o->name; o++) {
    sp_buf head, meta;
    sp_buf_init(&head);
    sp_buf_init(&meta);
    if (o->flags & SAMSPOR_OPT_SECRET)
      sp_buf_printf(&head, "%s%s_file | %s%s_env", prefix, o->name, prefix,
                    o->name);
    else
      sp_buf_printf(&head, "%s%s", prefix, o->name);
    describe_default(&meta, o);
    fprintf(f, "%*s%s  (%s%s; %s)\n", indent, "", head.data,
            (o->flags & SAMSPOR_OPT_SECRET) ? "secret " : "",
            sp_opt_type_name(o->type), meta.data);
    if (o->help)
      wrap(f, o->help, indent + 4, 78);
    if (o->sub && !(o->type == SAMSPOR_OPT_ANY)) {
      char *p2 = sp_xasprintf("%s%s%s.", prefix, o->name,
                              o->type == SAMSPOR_OPT_GROUPLIST ? "[]" : "");
      if (o->type == SAMSPOR_OPT_MAP) {
        free(p2);
        p2 = sp_xasprintf("%s%s.NAME.", prefix, o->name);
      }
      sp_options_describe(f, o->sub, p2, indent + 2);
      free(p2);
    }
    sp_buf_free(&head);
    sp_buf_free(&meta);
  }
}

void sp_roff_escape(FILE *f, const char *s) {
  for (const char *p = s; *p; p++) {
    if (*p == '\\') {
      fputs("\\e", f);
    } else if (*p == '-') {
      fputs("\\-", f);
    } else if (*p == '|') {
      /* a place to break a long list of choices */
      fputs("|\\:", f);
    } else if ((*p == '.' || *p == '\'') && (p == s || p[-1] == '\n')) {
      fputs("\\&", f);
      fputc(*p, f);
    } else {
      fputc(*p, f);
    }
  }
}

void sp_options_roff(FILE *f, const samspor_option *table, const char *prefix) {
  for (const samspor_option *o = table; o && o->name; o++) {
    sp_buf meta;
    sp_buf_init(&meta);
    describe_default(&meta, o);
    fputs(".TP\n.B ", f);
    if (o->flags & SAMSPOR_OPT_SECRET) {
      sp_roff_escape(f, prefix);
      sp_roff_escape(f, o->name);
      fputs("_file \\fRor\\fB ", f);
      sp_roff_escape(f, prefix);
      sp_roff_escape(f, o->name);
      fputs("_env", f);
    } else {
      sp_roff_escape(f, prefix);
      sp_roff_escape(f, o->name);
    }
    fputs("\n(", f);
    if (o->flags & SAMSPOR_OPT_SECRET)
      fputs("secret ", f);
    sp_roff_escape(f, sp_opt_type_name(o->type));
    fputs("; ", f);
    sp_roff_escape(f, meta.data);
    fputs(")\n", f);
    if (o->help) {
      fputs(".br\n", f);
      sp_roff_escape(f, o->help);
      fputc('\n', f);
    }
    sp_buf_free(&meta);
    if (o->sub && o->type != SAMSPOR_OPT_ANY) {
      char *p2 =
          o->type == SAMSPOR_OPT_MAP
              ? sp_xasprintf("%s%s.NAME.", prefix, o->name)
              : sp_xasprintf("%s%s%s.", prefix, o->name,
                             o->type == SAMSPOR_OPT_GROUPLIST ? "[]" : "");
      sp_options_roff(f, o->sub, p2);
      free(p2);
    }
  }
}

/* ---- the settings as bytes, for a fingerprint ------------------------ */

static void absorb_str(sp_absorb_fn absorb, void *ud, const char *s) {
  /* length first, so that ("ab","c") and ("a","bc") differ */
  unsigned long long n = s ? strlen(s) + 1 : 0;
  absorb(ud, &n, sizeof n);
  if (s)
    absorb(ud, s, (size_t)n - 1);
}

static void absorb_raw(sp_absorb_fn absorb, void *ud,
                       const config_setting_t *c) {
  if (!c) {
    absorb_str(absorb, ud, NULL);
    return;
  }
  int type = config_setting_type(c);
  absorb(ud, &type, sizeof type);
  absorb_str(absorb, ud, config_setting_name(c));
  switch (type) {
  case CONFIG_TYPE_INT:
  case CONFIG_TYPE_INT64: {
    long long v = config_setting_get_int64(c);
    absorb(ud, &v, sizeof v);
    break;
  }
  case CONFIG_TYPE_FLOAT: {
    double v = config_setting_get_float(c);
    absorb(ud, &v, sizeof v);
    break;
  }
  case CONFIG_TYPE_BOOL: {
    int v = config_setting_get_bool(c);
    absorb(ud, &v, sizeof v);
    break;
  }
  case CONFIG_TYPE_STRING:
    absorb_str(absorb, ud, config_setting_get_string(c));
    break;
  default: {
    int n = config_setting_length(c);
    absorb(ud, &n, sizeof n);
    for (int i = 0; i < n; i++)
      absorb_raw(absorb, ud, config_setting_get_elem(c, (unsigned)i));
  }
  }
}

void sp_settings_absorb(const samspor_settings *s, sp_absorb_fn absorb,
                        void *ud) {
  if (!s) {
    absorb_str(absorb, ud, NULL);
    return;
  }
  absorb_str(absorb, ud, s->name);
  absorb(ud, &s->nvals, sizeof s->nvals);
  for (size_t i = 0; i < s->nvals; i++) {
    const sp_value *v = &s->vals[i];
    absorb_str(absorb, ud, v->opt->name);
    /* A password or token shapes no value, nor does a description or the
     * retention: leave them out, so that changing one rewrites no row. */
    if (v->opt->flags & (SAMSPOR_OPT_SECRET | SP_OPT_INERT))
      continue;
    absorb(ud, &v->set, sizeof v->set);
    absorb_str(absorb, ud, v->str);
    absorb(ud, &v->i, sizeof v->i);
    absorb(ud, &v->f, sizeof v->f);
    absorb(ud, &v->nlist, sizeof v->nlist);
    for (size_t k = 0; k < v->nlist; k++) {
      if (v->list)
        absorb_str(absorb, ud, v->list[k]);
      if (v->ilist)
        absorb(ud, &v->ilist[k], sizeof v->ilist[k]);
    }
    if (v->group)
      sp_settings_absorb(v->group, absorb, ud);
    absorb(ud, &v->nitems, sizeof v->nitems);
    for (size_t k = 0; k < v->nitems; k++)
      sp_settings_absorb(v->items[k], absorb, ud);
    if (v->raw)
      absorb_raw(absorb, ud, v->raw);
  }
}
