/*
 * docs.c — `samspor docs [--html] [-o FILE]`: the warehouse's data
 * dictionary, written from the live warehouse and the configuration.
 *
 * It is the document partners get when the plan ends, so it says in words
 * what every table and column holds, where it comes from, when it is
 * refreshed, what was done to it on the way in (pseudonymised, generalised,
 * kept), how long it is kept, and the rules around it: pseudonyms, erasure,
 * rejects, suppression, roles.
 *
 * What it reads: the configuration, the catalog (columns, types, NOT NULL,
 * comments), and counts and times from the samspor bookkeeping (sync_run,
 * key_history, erasure_log, rejects).  Never a row of a stream table, never
 * the key (it does not even load it): no personal data can reach the
 * document.  Everything happens in one read-only transaction, so the
 * warehouse is not changed (not even migrated) and the counts agree with
 * each other.
 *
 * Output: Markdown by default; --html writes one self-contained page
 * (inline CSS, no scripts, no external references, every text escaped).
 * -o FILE writes atomically (a temporary file in the same directory, then
 * rename), else stdout.  Nothing is written unless the whole document could
 * be made.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/exitcode.h"
#include "model/conf.h"
#include "partner/docout.h"
#include "partner/release.h"
#include "model/schedule.h"
#include "store/schema.h"
#include "store/warehouse.h"

#define ROLE_LOADER "samspor_loader"
#define ROLE_ANALYST "samspor_analyst"
#define ROLE_PARTNER "samspor_partner"

/* ---- querying --------------------------------------------------------- */

typedef struct ctx {
  const sp_config *c;
  PGconn *conn;
  sp_doc *d;
  const char *tz;
  int rc;
  char err[1024];
  int have_samspor; /* the bookkeeping schema exists */
  char *key_id;     /* current key id, or NULL */
} ctx;

/* Run a query returning rows; NULL (and x->rc set) on error. */
static PGresult *q(ctx *x, const char *sql, int n, const char *const *params) {
  PGresult *res = NULL;
  if (x->rc)
    return NULL;
  x->rc = sp_pg_execp(x->conn, sql, n, params, PGRES_TUPLES_OK, &res, x->err,
                      sizeof x->err);
  return x->rc ? NULL : res;
}

/* The single value of a one-row query, copied; NULL for SQL NULL or an
 * error. */
static char *q1(ctx *x, const char *sql, int n, const char *const *params) {
  PGresult *res = q(x, sql, n, params);
  char *v = NULL;
  if (res && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
    v = sp_xstrdup(PQgetvalue(res, 0, 0));
  PQclear(res);
  return v;
}

/* Seconds since the epoch as text -> ISO 8601 in the configured zone. */
static void fmt_epoch(const ctx *x, const char *epoch, char *buf, size_t len) {
  time_t t = (time_t)strtoll(epoch, NULL, 10);
  if (sp_time_format(t, x->tz, buf, len) != 0)
    snprintf(buf, len, "%s", epoch);
}

/* ---- describing configuration in words -------------------------------- */

static const char *const day_names[] = {"Sunday",    "Monday",   "Tuesday",
                                        "Wednesday", "Thursday", "Friday",
                                        "Saturday",  "Sunday"};
static const char *const month_names[] = {
    "",     "January", "February",  "March",   "April",    "May",     "June",
    "July", "August",  "September", "October", "November", "December"};

static int all_digits(const char *s) {
  if (!*s)
    return 0;
  for (; *s; s++)
    if (*s < '0' || *s > '9')
      return 0;
  return 1;
}

/* A number or a three-letter name (names: NULL for numbers only). */
static int field_value(const char *s, const char *const *names, int lo, int hi,
                       int *out) {
  if (all_digits(s)) {
    *out = atoi(s);
    return *out >= lo && *out <= hi ? 0 : -1;
  }
  if (!names || strlen(s) != 3)
    return -1;
  for (int i = lo; i <= hi; i++)
    if (strncasecmp(names[i], s, 3) == 0) {
      *out = i;
      return 0;
    }
  return -1;
}

/* A list of values and ranges ("1-5", "mon,wed", "1,15") in words, or -1
 * for steps and anything else this does not explain. */
static int field_words(const char *field, const char *const *names, int lo,
                       int hi, sp_buf *out) {
  char *copy = sp_xstrdup(field), *save = NULL;
  int n = 0, rc = 0;
  for (char *part = strtok_r(copy, ",", &save); part && !rc;
       part = strtok_r(NULL, ",", &save), n++) {
    char *dash = strchr(part, '-');
    int a, b;
    if (strchr(part, '/') || strchr(part, '*')) {
      rc = -1;
      break;
    }
    if (dash) {
      *dash = '\0';
      if (field_value(part, names, lo, hi, &a) ||
          field_value(dash + 1, names, lo, hi, &b)) {
        rc = -1;
        break;
      }
      if (names)
        sp_buf_printf(out, "%s%s to %s", n ? ", " : "", names[a], names[b]);
      else
        sp_buf_printf(out, "%s%d to %d", n ? ", " : "", a, b);
    } else {
      if (field_value(part, names, lo, hi, &a)) {
        rc = -1;
        break;
      }
      if (names)
        sp_buf_printf(out, "%s%s", n ? ", " : "", names[a]);
      else
        sp_buf_printf(out, "%s%d", n ? ", " : "", a);
    }
  }
  free(copy);
  return rc;
}

/* "every day at 03:30", "every hour at minute 15", "at 02:00 on Monday to
 * Friday"; NULL when the expression is beyond these words (the cron
 * expression is always printed beside it). */
static char *schedule_words(const char *text) {
  const char *e = text;
  const char *paren = strchr(text, '(');
  char f[5][64];
  if (paren)
    e = paren + 1;
  if (sscanf(e, "%63s %63s %63s %63s %63[^) ]", f[0], f[1], f[2], f[3], f[4]) !=
      5)
    return NULL;
  sp_buf b;
  sp_buf_init(&b);
  int ok = 1;
  const char *min = f[0], *hour = f[1], *dom = f[2], *mon = f[3], *dow = f[4];
  if (all_digits(min) && all_digits(hour)) {
    sp_buf_printf(&b, "at %02d:%02d", atoi(hour), atoi(min));
  } else if (all_digits(min) && strcmp(hour, "*") == 0) {
    sp_buf_printf(&b, "every hour at minute %d", atoi(min));
  } else if (all_digits(min) && !strchr(hour, '*') && !strchr(hour, '/')) {
    sp_buf_printf(&b, "at minute %d of hour ", atoi(min));
    ok = field_words(hour, NULL, 0, 23, &b) == 0;
  } else {
    ok = 0;
  }
  int dom_any = strcmp(dom, "*") == 0, dow_any = strcmp(dow, "*") == 0;
  if (ok && dom_any && dow_any) {
    if (strcmp(hour, "*") != 0)
      sp_buf_puts(&b, ", every day");
  } else if (ok && dom_any) {
    sp_buf_puts(&b, ", on ");
    ok = field_words(dow, day_names, 0, 7, &b) == 0;
  } else if (ok && dow_any) {
    sp_buf_puts(&b, ", on day ");
    ok = field_words(dom, NULL, 1, 31, &b) == 0;
    sp_buf_puts(&b, " of the month");
  } else if (ok) {
    sp_buf_puts(&b, ", on day ");
    ok = field_words(dom, NULL, 1, 31, &b) == 0;
    sp_buf_puts(&b, " of the month and on ");
    ok = ok && field_words(dow, day_names, 0, 7, &b) == 0;
  }
  if (ok && strcmp(mon, "*") != 0) {
    sp_buf_puts(&b, ", in ");
    ok = field_words(mon, month_names, 1, 12, &b) == 0;
  }
  if (!ok || !b.data) {
    sp_buf_free(&b);
    return NULL;
  }
  return b.data;
}

/* "6y" -> "6 years", "1y6m"... durations as the configuration wrote them. */
static void duration_words(const char *s, sp_buf *out) {
  static const struct {
    char unit;
    const char *one, *many;
  } units[] = {{'y', "year", "years"},     {'w', "week", "weeks"},
               {'d', "day", "days"},       {'h', "hour", "hours"},
               {'m', "minute", "minutes"}, {'s', "second", "seconds"}};
  const char *p = s;
  int n = 0;
  while (*p) {
    char *end;
    double v = strtod(p, &end);
    if (end == p)
      break;
    while (*end == ' ')
      end++;
    size_t i;
    for (i = 0; i < SP_ARRAY_LEN(units); i++)
      if (*end == units[i].unit)
        break;
    if (i == SP_ARRAY_LEN(units))
      break;
    sp_buf_printf(out, "%s%g %s", n++ ? " " : "", v,
                  v == 1 ? units[i].one : units[i].many);
    p = end + 1;
    while (*p == ' ')
      p++;
  }
  if (*p || n == 0) { /* not understood: as written */
    out->len = 0;
    if (out->data)
      out->data[0] = '\0';
    sp_buf_puts(out, s);
  }
}

static const char *mode_words(sp_mode m) {
  switch (m) {
  case SP_MODE_APPEND:
    return "append: each load adds the new rows; rows loaded before stay";
  case SP_MODE_INCREMENTAL_DEDUP:
    return "incremental_dedup: each load inserts new rows and updates changed "
           "ones, matched on the key";
  default:
    return "full_refresh: each load replaces the whole table at once (readers "
           "see the old or the new table, never a mix)";
  }
}

static const char *type_words(const char *type) {
  static const struct {
    const char *t, *w;
  } types[] = {{"text", "text"},
               {"int", "a whole number"},
               {"bigint", "a whole number"},
               {"numeric", "a decimal number"},
               {"date", "a date"},
               {"timestamp", "a point in time"},
               {"boolean", "true or false"}};
  for (size_t i = 0; i < SP_ARRAY_LEN(types); i++)
    if (sp_streq(type, types[i].t))
      return types[i].w;
  return type;
}

static const samspor_settings *find_map(const sp_config *c, const char *name) {
  samspor_settings *const *maps;
  size_t n = sp_get_items(c->root, "maps", &maps);
  for (size_t i = 0; i < n; i++)
    if (sp_streq(maps[i]->name, name))
      return maps[i];
  return NULL;
}

/* What the input of an age rule is and at which date the age is taken. */
static void age_source(const sp_column *col, sp_buf *b) {
  int is_date = sp_is_set(col->s, "type") &&
                (sp_streq(sp_get_string(col->s, "type"), "date") ||
                 sp_streq(sp_get_string(col->s, "type"), "timestamp"));
  const char *ref = sp_get_string(col->s, "reference");
  sp_buf_printf(b, "computed from the %s in source field %s",
                is_date ? "date of birth" : "CPR number", col->from);
  if (!ref || sp_streq(ref, "run_date"))
    sp_buf_puts(b, ", at the date of the load");
  else
    sp_buf_printf(b, ", at the date in column %s", ref);
}

/* A rule's sentence (ruletab.h) with `what` in place of its "%s". */
static void put_words(sp_buf *b, const char *words, const char *what) {
  const char *at = strstr(words, "%s");
  if (!at) {
    sp_buf_puts(b, words);
    return;
  }
  sp_buf_append(b, words, (size_t)(at - words));
  sp_buf_puts(b, what);
  sp_buf_puts(b, at + 2);
}

/* The rule applied to a configured column, in words: the rule's sentence
 * from the rule table, completed with what the column's options say. */
static char *rule_words(const ctx *x, const sp_column *col) {
  sp_buf b;
  sp_buf_init(&b);
  const sp_rule_def *rd = sp_rule_def_of(col->rule);
  const char *gone = "; the source value is not kept";
  if (rd->needs & SP_RULE_AGE_AT) {
    sp_buf src;
    sp_buf_init(&src);
    age_source(col, &src);
    put_words(&b, rd->words, src.data ? src.data : "");
    sp_buf_free(&src);
  } else {
    put_words(&b, rd->words, col->from);
  }
  if (rd->needs & SP_RULE_NEEDS_KIND) {
    const char *kind = sp_get_string(col->s, "kind");
    sp_buf_printf(&b,
                  "%s is replaced by its pseudonym of kind %s, a keyed HMAC "
                  "(HMAC-SHA256 with the warehouse's secret key, key id "
                  "%s)%s",
                  sp_streq(kind, "cpr") ? " (a CPR number, validated and "
                                          "normalised first)"
                                        : "",
                  kind ? kind : "?", x->key_id ? x->key_id : "not recorded yet",
                  gone);
  }
  if (rd->needs & SP_RULE_NEEDS_BANDS) {
    const sp_value *v = sp_settings_value(col->s, "bands");
    if (v && v->nlist) {
      sp_buf_puts(&b, "; bands ");
      for (size_t i = 0; i < v->nlist; i++) {
        long long lo = v->ilist[i];
        if (i + 1 < v->nlist && v->ilist[i + 1] - 1 == lo)
          sp_buf_printf(&b, "%s%lld", i ? ", " : "", lo);
        else if (i + 1 < v->nlist)
          sp_buf_printf(&b, "%s%lld-%lld", i ? ", " : "", lo,
                        v->ilist[i + 1] - 1);
        else
          sp_buf_printf(&b, "%s%lld+", i ? ", " : "", lo);
      }
      sp_buf_printf(&b, " (a person younger than %lld is rejected)",
                    v->ilist[0]);
    }
  }
  if (rd->needs & SP_RULE_AGE_AT)
    sp_buf_puts(&b, gone);
  if (rd->needs & SP_RULE_NEEDS_MAP) {
    const char *map = sp_get_string(col->s, "map");
    const samspor_settings *m = map ? find_map(x->c, map) : NULL;
    sp_buf_printf(&b, " %s", map ? map : "?");
    if (m && sp_get_string(m, "extract"))
      sp_buf_puts(&b, " (on the part of the value the map's extract "
                      "pattern picks out)");
    if (m && sp_get_string(m, "default"))
      sp_buf_printf(&b, "; a value not in the map becomes '%s'",
                    sp_get_string(m, "default"));
    else
      sp_buf_puts(&b, "; a row whose value is not in the map is rejected");
    sp_buf_puts(&b, gone);
  }
  if (col->rule == SP_RULE_KEEP) {
    const char *type = sp_get_string(col->s, "type");
    sp_buf_printf(&b, ", as %s (%s)", type_words(type), type ? type : "text");
  }
  return b.data;
}

/* ---- the sections ----------------------------------------------------- */

static const sp_column *config_column(const sp_stream *st, const char *name) {
  for (size_t i = 0; i < st->ncolumns; i++)
    if (sp_streq(st->columns[i].name, name))
      return &st->columns[i];
  return NULL;
}

static char *last_load(ctx *x, const sp_connector *cc, const sp_stream *st,
                       char **rows_loaded) {
  const char *p[] = {cc->name, st->table};
  *rows_loaded = NULL;
  if (!x->have_samspor)
    return NULL;
  PGresult *res = q(x,
                    "SELECT extract(epoch FROM coalesce(finished_at, "
                    "started_at))::bigint, rows_loaded FROM samspor.sync_run "
                    "WHERE connector = $1 AND stream = $2 AND status = "
                    "'succeeded' ORDER BY finished_at DESC NULLS LAST, run_id "
                    "DESC LIMIT 1",
                    2, p);
  char *v = NULL;
  if (res && PQntuples(res) > 0) {
    char when[SP_TIME_BUFLEN];
    fmt_epoch(x, PQgetvalue(res, 0, 0), when, sizeof when);
    v = sp_xstrdup(when);
    *rows_loaded = sp_xstrdup(PQgetvalue(res, 0, 1));
  }
  PQclear(res);
  return v;
}

/* Whether the latest run of a stream failed after its last success. */
static char *last_failure(ctx *x, const sp_connector *cc, const sp_stream *st) {
  const char *p[] = {cc->name, st->table};
  if (!x->have_samspor)
    return NULL;
  PGresult *res = q(x,
                    "SELECT status, extract(epoch FROM coalesce(finished_at, "
                    "started_at))::bigint FROM samspor.sync_run WHERE "
                    "connector = $1 AND stream = $2 ORDER BY run_id DESC "
                    "LIMIT 1",
                    2, p);
  char *v = NULL;
  if (res && PQntuples(res) > 0 &&
      strcmp(PQgetvalue(res, 0, 0), "failed") == 0) {
    char when[SP_TIME_BUFLEN];
    fmt_epoch(x, PQgetvalue(res, 0, 1), when, sizeof when);
    v = sp_xstrdup(when);
  }
  PQclear(res);
  return v;
}

static char *table_exists(ctx *x, const char *schema, const char *table) {
  const char *p[] = {schema, table};
  return q1(x,
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = "
            "c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 AND "
            "c.relkind IN ('r', 'p')",
            2, p);
}

static char *row_count(ctx *x, const char *schema, const char *table) {
  char *qt = sp_schema_qualified(x->conn, schema, table);
  char *sql = sp_xasprintf("SELECT count(*) FROM %s", qt);
  char *v = q1(x, sql, 0, NULL);
  free(sql);
  free(qt);
  return v;
}

static void connector_schedule(ctx *x, const sp_connector *cc) {
  sp_doc *d = x->d;
  const char *sched = sp_get_string(cc->s, "schedule");
  const char *text = cc->schedule ? sp_schedule_text(cc->schedule) : sched;
  char *words = cc->schedule ? schedule_words(text) : NULL;
  char next[SP_TIME_BUFLEN] = "";
  time_t t;
  if (cc->schedule &&
      sp_schedule_next(cc->schedule, x->tz, time(NULL), &t) == 0)
    sp_time_format(t, x->tz, next, sizeof next);
  if (!sp_get_bool(cc->s, "enabled"))
    sp_doc_item(d, "Refresh",
                "never: the connector is disabled (its schedule would "
                "be cron %s, time zone %s)",
                text, x->tz);
  else
    sp_doc_item(d, "Refresh", "%s%s(cron %s, time zone %s)%s%s",
                words ? words : "", words ? " " : "", text, x->tz,
                next[0] ? "; next run " : "", next);
  free(words);
}

/* The stream's settings from the configuration, as the reader of the
 * dictionary needs them to trust the table. */
static void stream_settings(ctx *x, const sp_connector *cc,
                            const sp_stream *st) {
  sp_doc *d = x->d;
  const char *desc = sp_get_string(st->s, "description");
  sp_doc_item(d, "Description", "%s",
              desc ? desc : "(none given in the configuration)");
  const char *cdesc = sp_get_string(cc->s, "description");
  sp_doc_item(d, "Source", "connector %s, plugin %s%s%s", cc->name,
              cc->plugin ? cc->plugin->desc->name
                         : sp_get_string(cc->s, "plugin"),
              cdesc ? " — " : "", cdesc ? cdesc : "");
  connector_schedule(x, cc);
  sp_doc_item(d, "Load mode", "%s", mode_words(st->mode));
  const char *const *key;
  size_t nkey = sp_get_list(st->s, "key", &key);
  sp_buf kb;
  sp_buf_init(&kb);
  for (size_t k = 0; k < nkey; k++)
    sp_buf_printf(&kb, "%s%s", k ? ", " : "", key[k]);
  sp_doc_item(d, "Key", "%s", nkey ? kb.data : "none");
  sp_buf_free(&kb);
  if (st->cursor_column >= 0)
    sp_doc_item(d, "Cursor",
                "%s (each run asks the source only for rows from the largest "
                "value loaded on)",
                st->columns[st->cursor_column].name);
  else
    sp_doc_item(d, "Cursor", "none");
  if (sp_is_set(st->s, "retention")) {
    sp_buf w;
    sp_buf_init(&w);
    duration_words(sp_settings_value(st->s, "retention")->str, &w);
    sp_doc_item(
        d, "Retention",
        "%s: rows whose %s is older than that are deleted at every load",
        w.data, sp_get_string(st->s, "retention_column"));
    sp_buf_free(&w);
  } else {
    sp_doc_item(
        d, "Retention",
        "none configured: rows stay until a load replaces them or a person "
        "is erased");
  }
  sp_doc_item(d, "Rejects allowed",
              "at most %g%% of a load's rows, else the load is "
              "rolled back",
              sp_get_float(st->s, "max_reject_ratio") * 100);
}

/* The table's state in the warehouse: its last loads, its rows, and in
 * *cols its columns (NULL when it does not exist yet, oid NULL).
 * Returns -1 when a query failed (x->rc says why). */
static int stream_state(ctx *x, const sp_connector *cc, const sp_stream *st,
                        const char *schema, const char *oid, PGresult **cols) {
  sp_doc *d = x->d;
  if (oid) {
    char *loaded = NULL;
    char *when = last_load(x, cc, st, &loaded);
    char *failed = last_failure(x, cc, st);
    char *count = row_count(x, schema, st->table);
    if (x->rc) {
      free(when);
      free(loaded);
      free(failed);
      free(count);
      return -1;
    }
    if (when)
      sp_doc_item(d, "Last successful load", "%s (%s rows loaded by that run)",
                  when, loaded);
    else
      sp_doc_item(d, "Last successful load", "none recorded");
    if (failed)
      sp_doc_item(d, "Latest run",
                  "failed at %s; the table is as the last "
                  "successful load left it",
                  failed);
    sp_doc_item(d, "Rows now", "%s", count ? count : "?");
    free(when);
    free(loaded);
    free(failed);
    free(count);
    const char *p[] = {oid};
    *cols = q(x,
              "SELECT a.attname, format_type(a.atttypid, a.atttypmod), "
              "a.attnotnull, col_description(a.attrelid, a.attnum) FROM "
              "pg_attribute a WHERE a.attrelid = $1::oid AND a.attnum > 0 AND "
              "NOT a.attisdropped ORDER BY a.attnum",
              1, p);
    if (!*cols)
      return -1;
  } else {
    sp_doc_item(d, "Status",
                "not loaded yet: the table has not been loaded yet and "
                "is created by the connector's first sync");
  }
  return 0;
}

/* The rule column for warehouse column name: the configured rule, or
 * why samspor has a column the configuration does not name. */
static char *column_rule(ctx *x, const sp_stream *st, const char *name) {
  const sp_column *col = config_column(st, name);
  char *rule = NULL;
  if (col)
    rule = rule_words(x, col);
  else if (sp_streq(name, "_run_id"))
    rule = sp_xstrdup("Bookkeeping: the samspor.sync_run that loaded the "
                      "row");
  else if (sp_streq(name, "_loaded_at"))
    rule = sp_xstrdup("Bookkeeping: when the row was loaded");
  else if (sp_streq(name, "_digest"))
    rule = sp_xstrdup("Bookkeeping: a keyed digest of the source values "
                      "the row was made from (keyed full_refresh and "
                      "incremental_dedup tables), so that unchanged rows "
                      "are not sent again");
  else
    rule = sp_xstrdup("No longer loaded: the column is not in the "
                      "configuration any more; rows loaded from now on "
                      "leave it empty");
  return rule;
}

/* Every column, the warehouse's (cols, may be NULL) and then the
 * configured ones it does not have yet. */
static void column_table(ctx *x, const sp_stream *st, PGresult *cols,
                         const char *oid) {
  sp_doc *d = x->d;
  const char *const *key;
  size_t nkey = sp_get_list(st->s, "key", &key);
  static const char *const heads[] = {"Column", "Type", "Not null",
                                      "Meaning (comment in the warehouse)",
                                      "Rule applied"};
  sp_doc_table_begin(d, heads, SP_ARRAY_LEN(heads));
  int n = cols ? PQntuples(cols) : 0;
  for (int r = 0; r < n; r++) {
    const char *name = PQgetvalue(cols, r, 0);
    char *rule = column_rule(x, st, name);
    const char *cells[] = {
        name, PQgetvalue(cols, r, 1),
        strcmp(PQgetvalue(cols, r, 2), "t") == 0 ? "yes" : "no",
        PQgetisnull(cols, r, 3) ? "" : PQgetvalue(cols, r, 3), rule};
    sp_doc_table_row(d, cells, SP_ARRAY_LEN(cells));
    free(rule);
  }
  /* Configured columns the warehouse does not have (yet). */
  for (size_t i = 0; i < st->ncolumns; i++) {
    const sp_column *col = &st->columns[i];
    int found = 0;
    for (int r = 0; r < n && !found; r++)
      found = strcmp(PQgetvalue(cols, r, 0), col->name) == 0;
    if (found)
      continue;
    char *rule = rule_words(x, col);
    const char *desc2 = sp_get_string(col->s, "description");
    char *meaning =
        sp_xasprintf("%s%s(%s)", desc2 ? desc2 : "", desc2 ? " " : "",
                     oid ? "not in the warehouse yet: added by the next load"
                         : "not loaded yet");
    int nn = sp_get_bool(col->s, "not_null");
    for (size_t k = 0; k < nkey; k++)
      nn |= sp_streq(key[k], col->name);
    const char *cells[] = {col->name, col->sql_type, nn ? "yes" : "no", meaning,
                           rule};
    sp_doc_table_row(d, cells, SP_ARRAY_LEN(cells));
    free(meaning);
    free(rule);
  }
  sp_doc_table_end(d);
}

static void document_stream(ctx *x, const sp_connector *cc,
                            const sp_stream *st) {
  sp_doc *d = x->d;
  const char *schema = sp_config_schema(x->c);
  char *oid = table_exists(x, schema, st->table);
  if (x->rc)
    return;
  sp_doc_heading(d, 3, "%s.%s", schema, st->table);
  stream_settings(x, cc, st);
  PGresult *cols = NULL;
  if (stream_state(x, cc, st, schema, oid, &cols) != 0) {
    free(oid);
    return;
  }
  column_table(x, st, cols, oid);
  PQclear(cols);
  free(oid);
}

/* Overview: one line per stream table. */
static void overview(ctx *x) {
  sp_doc *d = x->d;
  const char *schema = sp_config_schema(x->c);
  sp_doc_heading(d, 2, "Tables");
  static const char *const heads[] = {"Table", "Connector", "Refresh (cron)",
                                      "Last successful load", "Rows"};
  sp_doc_table_begin(d, heads, SP_ARRAY_LEN(heads));
  for (size_t i = 0; i < x->c->nconnectors && !x->rc; i++) {
    const sp_connector *cc = &x->c->connectors[i];
    for (size_t s = 0; s < cc->nstreams && !x->rc; s++) {
      const sp_stream *st = &cc->streams[s];
      char *oid = table_exists(x, schema, st->table);
      char *loaded = NULL, *when = NULL, *count = NULL;
      if (oid) {
        when = last_load(x, cc, st, &loaded);
        count = row_count(x, schema, st->table);
      }
      char *name = sp_xasprintf("%s.%s", schema, st->table);
      const char *sched = !sp_get_bool(cc->s, "enabled") ? "disabled"
                          : cc->schedule ? sp_schedule_text(cc->schedule)
                                         : sp_get_string(cc->s, "schedule");
      const char *cells[] = {name, cc->name, sched,
                             oid ? (when ? when : "none recorded")
                                 : "not loaded yet",
                             count ? count : "-"};
      if (!x->rc)
        sp_doc_table_row(d, cells, SP_ARRAY_LEN(cells));
      free(name);
      free(oid);
      free(loaded);
      free(when);
      free(count);
    }
  }
  sp_doc_table_end(d);
}

/* Tables in the stream schema that no configured stream loads. */
static void orphan_tables(ctx *x) {
  sp_doc *d = x->d;
  const char *schema = sp_config_schema(x->c);
  const char *p[] = {schema};
  PGresult *res = q(x,
                    "SELECT c.relname, obj_description(c.oid, 'pg_class') "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = "
                    "c.relnamespace WHERE n.nspname = $1 AND c.relkind IN "
                    "('r', 'p') ORDER BY 1",
                    1, p);
  if (!res)
    return;
  int shown = 0;
  for (int r = 0; r < PQntuples(res); r++) {
    const char *t = PQgetvalue(res, r, 0);
    int configured = 0;
    for (size_t i = 0; i < x->c->nconnectors && !configured; i++)
      for (size_t s = 0; s < x->c->connectors[i].nstreams; s++)
        configured |= sp_streq(x->c->connectors[i].streams[s].table, t);
    if (configured)
      continue;
    if (!shown) {
      sp_doc_heading(d, 2, "Tables no longer loaded");
      sp_doc_para(
          d,
          "These tables are in schema %s but no configured stream loads "
          "them any more. They keep what was loaded before; retention "
          "no longer applies to them.",
          schema);
      static const char *const heads[] = {"Table", "Comment in the warehouse"};
      sp_doc_table_begin(d, heads, SP_ARRAY_LEN(heads));
      shown = 1;
    }
    char *name = sp_xasprintf("%s.%s", schema, t);
    const char *cells[] = {name,
                           PQgetisnull(res, r, 1) ? "" : PQgetvalue(res, r, 1)};
    sp_doc_table_row(d, cells, 2);
    free(name);
  }
  if (shown)
    sp_doc_table_end(d);
  PQclear(res);
}

static void pseudonyms_section(ctx *x) {
  sp_doc *d = x->d;
  sp_doc_heading(d, 2, "How pseudonyms work");
  sp_doc_para(
      d, "No table holds a CPR number, a name or an address. A column with "
         "the rule pseudonym holds, instead of the identifier, a pseudonym: "
         "a value computed from the identifier with a secret key, from "
         "which the identifier cannot be worked back.");
  sp_doc_para(
      d, "The derivation is fixed: the identifier is first normalised (for "
         "kind cpr, spaces and dashes are removed and the result must be "
         "ten digits starting with a real date; for any other kind, "
         "surrounding spaces are trimmed). Then HMAC-SHA256 is computed "
         "with the 32-byte secret key over the kind, a zero byte and the "
         "normalised identifier; its first 16 bytes, written as a "
         "PostgreSQL uuid, are the pseudonym.");
  sp_doc_para(
      d, "The same person therefore gets the same pseudonym in every table "
         "and every load, as long as the kind and the key are the same: "
         "tables join on pseudonyms of the same kind. Pseudonyms of "
         "different kinds (cpr, tenancy, ...) never match each other.");
  sp_doc_para(d,
              "The key is identified by its key id, the first 8 hex digits of "
              "SHA-256 of the key; the key id tells which key was used, not "
              "the key. The key stays with the data controller on the "
              "samspor host and is never handed to a partner: with it, anyone "
              "can reverse a CPR pseudonym by trying every well-formed CPR "
              "number (about 3.7x10^8, a few core-minutes). The data "
              "controller answers a subject-access request with samspor "
              "pseudonym --kind KIND on that host.");
  sp_doc_para(d,
              "One generation of pseudonyms at a time: the key is changed only "
              "with samspor rekey --new-key FILE, which rebuilds every table "
              "under the new key in one transaction (readers see the old "
              "tables or the new ones, never a mix) and carries every erasure "
              "to the new key. The procedure: 1. samspor keygen a new key on "
              "the samspor host; 2. stop the daemon; 3. samspor rekey "
              "--new-key FILE with the configuration still naming the current "
              "key (streams whose source may not redeliver its history are "
              "refused unless --drop-unreloadable confirms their loss); 4. "
              "point pseudonym.key_file at the new key and start the daemon; "
              "5. feed samspor forget the identifiers of any forgotten people "
              "rekey reports it could not carry; 6. destroy the old key. "
              "Frozen periods of the partner tables keep their published "
              "figures.");
  if (!x->have_samspor) {
    sp_doc_para(d, "No key has been recorded yet: nothing has been loaded.");
    return;
  }
  PGresult *res = q(x,
                    "SELECT key_id, extract(epoch FROM first_used)::bigint, "
                    "extract(epoch FROM retired_at)::bigint, "
                    "coalesce(command, '') FROM samspor.key_history ORDER BY "
                    "first_used DESC, key_id",
                    0, NULL);
  if (!res)
    return;
  if (PQntuples(res) == 0) {
    sp_doc_para(d, "No key has been recorded yet.");
  } else {
    sp_doc_para(d, "Current key id: %s.", PQgetvalue(res, 0, 0));
    static const char *const heads[] = {"Key id", "From", "To", "By"};
    sp_doc_table_begin(d, heads, 4);
    for (int r = 0; r < PQntuples(res); r++) {
      char from[SP_TIME_BUFLEN], to[SP_TIME_BUFLEN];
      fmt_epoch(x, PQgetvalue(res, r, 1), from, sizeof from);
      if (PQgetisnull(res, r, 2))
        snprintf(to, sizeof to, "(current)");
      else
        fmt_epoch(x, PQgetvalue(res, r, 2), to, sizeof to);
      const char *cells[] = {PQgetvalue(res, r, 0), from, to,
                             PQgetvalue(res, r, 3)};
      sp_doc_table_row(d, cells, 4);
    }
    sp_doc_table_end(d);
  }
  PQclear(res);
}

static void erasure_section(ctx *x) {
  sp_doc *d = x->d;
  sp_doc_heading(d, 2, "Erasure");
  sp_doc_para(d,
              "A person is erased with samspor forget --kind KIND, which reads "
              "the identifiers on its standard input. In one transaction it "
              "deletes every row of every table whose pseudonym column of that "
              "kind matches, and records the pseudonym in samspor.forgotten, "
              "which every later load consults: the person is not loaded "
              "again. samspor.erasure_log records each erasure with how many "
              "people and rows, never who.");
  if (!x->have_samspor)
    return;
  PGresult *res = q(x,
                    "SELECT count(*), coalesce(sum(people), 0), "
                    "coalesce(sum(rows_deleted), 0) FROM samspor.erasure_log",
                    0, NULL);
  if (!res)
    return;
  sp_doc_para(d, "Erasures so far: %s, of %s people in all, removing %s rows.",
              PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
              PQgetvalue(res, 0, 2));
  PQclear(res);
}

static void rejects_section(ctx *x) {
  sp_doc *d = x->d;
  sp_doc_heading(d, 2, "Rejects");
  sp_doc_para(d,
              "A source row that cannot be loaded (an identifier that does not "
              "validate, a date that does not parse, a value not in a map, a "
              "missing required value) is not loaded. samspor.rejects keeps "
              "where it was in the source (file and line, or record number), "
              "which column and a reason code; never a value. If more rows "
              "are rejected than the stream's allowed share, the whole load is "
              "rolled back.");
  if (!x->have_samspor)
    return;
  PGresult *res = q(x,
                    "SELECT reason, count(*) FROM samspor.rejects GROUP BY "
                    "reason ORDER BY 2 DESC, 1",
                    0, NULL);
  if (!res)
    return;
  if (PQntuples(res) == 0) {
    sp_doc_para(d, "No rejects are recorded.");
  } else {
    static const char *const heads[] = {"Reason", "Rejected rows recorded"};
    sp_doc_table_begin(d, heads, 2);
    for (int r = 0; r < PQntuples(res); r++) {
      const char *cells[] = {PQgetvalue(res, r, 0), PQgetvalue(res, r, 1)};
      sp_doc_table_row(d, cells, 2);
    }
    sp_doc_table_end(d);
  }
  PQclear(res);
}

/* One indicator of the configuration: what its table holds and how. */
static void indicator_doc(ctx *x, const sp_indicator *ind, int exists) {
  sp_doc *d = x->d;
  const sp_partner *p = sp_config_partner(x->c);
  sp_doc_heading(d, 3, "partner.%s", ind->name);
  sp_doc_para(d, "%s%s%s", ind->title, ind->description ? ". " : "",
              ind->description ? ind->description : "");
  sp_buf dims;
  sp_buf_init(&dims);
  for (size_t i = 0; i < ind->ndims; i++) {
    const char *lab = sp_partner_dim_label(p, ind->dims[i]);
    sp_buf_printf(&dims, "%s%s", i ? ", " : "", ind->dims[i]);
    if (lab != ind->dims[i]) /* the name the report gives it */
      sp_buf_printf(&dims, " (\"%s\")", lab);
    sp_buf_printf(&dims, "%s%s", (int)i == ind->time_dim ? " (time)" : "",
                  (ind->totals & (1u << i)) ? " (with total rows)" : "");
  }
  sp_doc_item(d, "One row per", "%s. Total rows carry '%s'.", dims.data,
              p->total_label);
  sp_buf_free(&dims);
  if (ind->baseline)
    sp_doc_item(d, "Baseline", "%s", ind->baseline);
  sp_doc_item(d, "Refreshed", "%s",
              exists
                  ? "after every sync (samspor refresh recomputes it by hand)"
                  : "not computed yet: run samspor sync or samspor refresh");
  char *note = NULL;
  if (exists && !x->rc)
    x->rc =
        sp_release_final_note(x->conn, p, ind, 0, &note, x->err, sizeof x->err);
  if (note)
    sp_doc_item(d, "Final periods", "%s", note);
  free(note);
  sp_doc_list_end(d);
  static const char *const heads[] = {"Column", "Meaning"};
  sp_doc_table_begin(d, heads, 2);
  for (size_t i = 0; i < ind->nmeasures; i++) {
    const sp_measure *m = &ind->measures[i];
    char *text;
    if (m->kind == SP_MEASURE_SUM)
      continue;
    if (m->kind == SP_MEASURE_COUNT)
      text = sp_xasprintf("%s. Suppressed (empty, %s_suppressed true) when "
                          "%d to %d or to protect another hidden cell.%s%s%s",
                          m->description ? m->description : "A count", m->name,
                          p->protect_zeros ? 0 : 1, p->threshold,
                          m->subset_of >= 0 ? " A subset of " : "",
                          m->subset_of >= 0 ? ind->measures[m->subset_of].name
                                            : "",
                          m->subset_of >= 0 ? " in every row." : "");
    else
      text = sp_xasprintf(
          "%s: %s / %s x %g, %d decimals; empty when either count is "
          "suppressed.%s",
          m->description ? m->description : "Ratio",
          ind->measures[m->numerator].name, ind->measures[m->denominator].name,
          m->scale, m->decimals,
          m->change ? " With _change: the difference to the baseline." : "");
    if (m->label) { /* the name the report gives it */
      char *t = sp_xasprintf("\"%s\": %s", m->label, text);
      free(text);
      text = t;
    }
    const char *cells[] = {m->name, text};
    sp_doc_table_row(d, cells, 2);
    free(text);
  }
  const char *last[] = {"suppressed, suppression_reason",
                        "Whether anything in the row is hidden, and why."};
  sp_doc_table_row(d, last, 2);
  const char *final[] = {"final",
                         "Whether the row's period is final: closed, "
                         "published one last time and never recomputed."};
  sp_doc_table_row(d, final, 2);
  sp_doc_table_end(d);
  sp_doc_para(
      d, "Computed by samspor from this query over the warehouse%s%s%s: %s",
      ind->query_file ? " (" : "", ind->query_file ? ind->query_file : "",
      ind->query_file ? ")" : "", ind->query);
}

static void suppression_section(ctx *x) {
  sp_doc *d = x->d;
  const sp_partner *p = sp_config_partner(x->c);
  sp_doc_heading(d, 2,
                 "Partner indicators and the suppression of small counts");
  sp_doc_para(
      d,
      "Partners see figures only through the tables of schema partner, "
      "never single rows. In those tables every count from %d up to the "
      "suppression threshold (here %d; default 5, never below 3) is shown "
      "as empty with a suppressed flag, and any share or change built on "
      "such a count is shown as empty and flagged likewise. %s "
      "Secondary suppression hides further cells where needed, chosen by "
      "a disclosure audit. The tables are recomputed after every sync; the "
      "unsuppressed figures are never stored.",
      p->protect_zeros ? 0 : 1, p->threshold,
      p->protect_zeros ? "A count of 0 is hidden like a small count."
                       : "A count of 0 is shown as 0.");
  sp_doc_para(
      d,
      "What is promised, and against whom. The attacker is a partner who "
      "knows every figure in every partner table, in this release and all "
      "earlier ones; the structure (which cells add up to which totals, and "
      "which counts are subsets of others); that counts are whole numbers "
      "of at least 0, and at least 1 when hidden if zeros are shown; the "
      "threshold; every published share with its rounding; and one real "
      "person and a few of her attributes. From all of that together, no "
      "hidden count can be determined or narrowed to an interval narrower "
      "than %lld. samspor proves this for every hidden count before it "
      "publishes: by linear and integer programming over all those "
      "relations (GLPK), where a count is safe only when two whole-number "
      "tables consistent with everything published, each checked exactly, "
      "put it at least %lld apart. When that cannot be shown within the "
      "audit budget, the whole period is withheld rather than published on "
      "a weaker rule. Every hidden value gives the same reason ('%s'), so a "
      "small count cannot be told from one hidden to protect it.",
      p->width, p->width, p->hidden_label);
  sp_doc_para(
      d, "%s",
      "What is not claimed: figures of different indicators are protected "
      "each in its own table, so two indicators that count the same people "
      "at different levels can be combined by an analyst (define indicators "
      "that count different things, or the same thing at the same level).");
  char fa[32];
  sp_duration_format(p->freeze_after, fa, sizeof fa);
  sp_doc_para(
      d,
      "Closed periods are frozen once published: a period (a year, school "
      "year, quarter, month or day of an indicator's time dimension) is "
      "closed %s after it ends (partner.freeze_after). It is then computed "
      "one last time, published with final = true, and never recomputed: "
      "later loads, corrections and erasures change only the periods still "
      "open, and the final figures stay as they were published. Periods of "
      "other formats never become final. Every published version of every "
      "period is kept in samspor.partner_release, which only the "
      "administrator can read.",
      fa);
  PGresult *res = q(x,
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON "
                    "n.oid = c.relnamespace WHERE n.nspname = 'partner' AND "
                    "c.relkind IN ('r', 'v', 'm') ORDER BY 1",
                    0, NULL);
  if (!res)
    return;
  if (p->nindicators == 0)
    sp_doc_para(d,
                "No indicators are configured (partner.indicators); the rule "
                "above applies to them when they are.");
  for (size_t i = 0; i < p->nindicators; i++) {
    int exists = 0;
    for (int r = 0; r < PQntuples(res); r++)
      exists |= strcmp(PQgetvalue(res, r, 0), p->indicators[i].name) == 0;
    indicator_doc(x, &p->indicators[i], exists);
  }
  PQclear(res);
}

static void roles_section(ctx *x) {
  sp_doc *d = x->d;
  sp_doc_heading(d, 2, "Roles");
  PGresult *res =
      q(x,
        "SELECT rolname FROM pg_roles WHERE rolname IN ('" ROLE_LOADER
        "', '" ROLE_ANALYST "', '" ROLE_PARTNER "')",
        0, NULL);
  if (!res)
    return;
  static const struct {
    const char *role, *what;
  } roles[] = {
      {ROLE_LOADER, "samspor itself: creates the tables and writes the loads; "
                    "nobody else should log in with it"},
      {ROLE_ANALYST, "analysts: read the pseudonymised rows of the stream "
                     "tables (where a table is restricted by organisation, "
                     "only their own organisation's rows)"},
      {ROLE_PARTNER, "partners: read only the aggregate views of schema "
                     "partner, with small counts suppressed; no single row"},
  };
  static const char *const heads[] = {"Role", "Who and what",
                                      "In this warehouse"};
  sp_doc_table_begin(d, heads, 3);
  for (size_t i = 0; i < SP_ARRAY_LEN(roles); i++) {
    int exists = 0;
    for (int r = 0; r < PQntuples(res); r++)
      exists |= strcmp(PQgetvalue(res, r, 0), roles[i].role) == 0;
    const char *cells[] = {roles[i].role, roles[i].what,
                           exists ? "exists" : "not created yet"};
    sp_doc_table_row(d, cells, 3);
  }
  sp_doc_table_end(d);
  PQclear(res);
}

static void bookkeeping_section(ctx *x) {
  sp_doc *d = x->d;
  sp_doc_heading(d, 2, "Bookkeeping (schema samspor)");
  if (!x->have_samspor) {
    sp_doc_para(d,
                "The samspor schema does not exist yet: it is created by the "
                "first sync.");
    return;
  }
  PGresult *res = q(x,
                    "SELECT c.relname, obj_description(c.oid, 'pg_class') "
                    "FROM pg_class c JOIN pg_namespace n ON n.oid = "
                    "c.relnamespace WHERE n.nspname = 'samspor' AND "
                    "c.relkind IN ('r', 'p', 'v') ORDER BY 1",
                    0, NULL);
  if (!res)
    return;
  static const char *const heads[] = {"Table", "What it holds"};
  sp_doc_table_begin(d, heads, 2);
  for (int r = 0; r < PQntuples(res); r++) {
    char *name = sp_xasprintf("samspor.%s", PQgetvalue(res, r, 0));
    const char *cells[] = {name,
                           PQgetisnull(res, r, 1) ? "" : PQgetvalue(res, r, 1)};
    sp_doc_table_row(d, cells, 2);
    free(name);
  }
  sp_doc_table_end(d);
  PQclear(res);
}

static void document(ctx *x, const char *config_path) {
  sp_doc *d = x->d;
  sp_doc_begin(d, "Data dictionary", NULL);
  char now[SP_TIME_BUFLEN] = "";
  sp_time_format(time(NULL), x->tz, now, sizeof now);
  sp_doc_heading(d, 1, "Data dictionary of the warehouse");
  sp_doc_para(
      d,
      "Written by samspor %s at %s from the live warehouse (database %s) "
      "and the configuration %s. It describes every table the "
      "partners' data is loaded into, what each column means, where it "
      "comes from, when it is refreshed, what was done to it on the "
      "way in, and how long it is kept. It holds no personal data: "
      "only the catalog, the configuration and counts.",
      PACKAGE_VERSION, now, PQdb(x->conn), config_path);
  char *ns =
      q1(x, "SELECT to_regclass('samspor.sync_run') IS NOT NULL", 0, NULL);
  x->have_samspor = ns && strcmp(ns, "t") == 0;
  free(ns);
  if (x->have_samspor)
    x->key_id = q1(x,
                   "SELECT key_id FROM samspor.key_history ORDER BY "
                   "first_used DESC, key_id LIMIT 1",
                   0, NULL);
  if (x->rc)
    return;
  if (!x->have_samspor)
    sp_doc_para(
        d, "Nothing has been loaded into this warehouse yet: the configured "
           "streams below have not been loaded yet, and their tables are "
           "created by the first sync.");
  overview(x);
  sp_doc_heading(d, 2, "Table by table");
  sp_doc_para(d,
              "Every stream table has the configured columns plus _run_id and "
              "_loaded_at (and _digest where the stream has a key and mode "
              "full_refresh or incremental_dedup). Times are given in time "
              "zone %s.",
              x->tz);
  for (size_t i = 0; i < x->c->nconnectors && !x->rc; i++)
    for (size_t s = 0; s < x->c->connectors[i].nstreams && !x->rc; s++)
      document_stream(x, &x->c->connectors[i], &x->c->connectors[i].streams[s]);
  if (!x->rc)
    orphan_tables(x);
  if (!x->rc)
    pseudonyms_section(x);
  if (!x->rc)
    erasure_section(x);
  if (!x->rc)
    rejects_section(x);
  if (!x->rc)
    suppression_section(x);
  if (!x->rc)
    roles_section(x);
  if (!x->rc)
    bookkeeping_section(x);
  sp_doc_end(d);
}

/* ---- the document, written ------------------------------------------- */

int sp_docs_write(sp_config *c, int html, const char *out) {
  sp_doc_cmd k = {
      .name = "docs", .what = "the data dictionary", .html = html, .out = out};
  int status = sp_doc_cmd_start(&k, c);
  if (status >= 0)
    return status;
  ctx x;
  memset(&x, 0, sizeof x);
  x.c = k.c;
  x.conn = k.conn;
  x.d = &k.d;
  x.tz = sp_config_timezone(k.c);
  if (!x.tz)
    x.tz = SP_DEFAULT_TZ;
  document(&x, k.c->path);
  status = sp_doc_cmd_finish(&k, x.rc, x.err);
  free(x.key_id);
  return status;
}
