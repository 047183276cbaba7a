/*
 * release.c — releases and frozen periods of the partner indicators (see
 * release.h).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "partner/release.h"
#include "store/schema.h"

/* ---- periods ------------------------------------------------------------ */

static int digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isdigit((unsigned char)s[i]))
      return 0;
  return 1;
}

static int num(const char *s, size_t n) {
  int v = 0;
  for (size_t i = 0; i < n; i++)
    v = v * 10 + (s[i] - '0');
  return v;
}

static int month_days(int y, int m) {
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m == 2 && leap ? 29 : days[m - 1];
}

int sp_period_end(const char *s, int *y, int *m, int *d) {
  size_t n = s ? strlen(s) : 0;
  if (n < 4 || !digits(s, 4))
    return -1;
  int year = num(s, 4);
  if (n == 4) { /* YYYY */
    *y = year, *m = 12, *d = 31;
    return 0;
  }
  if (n == 7 && s[4] == '-' && s[5] == 'Q' && s[6] >= '1' && s[6] <= '4') {
    *y = year, *m = 3 * (s[6] - '0');
    *d = month_days(year, *m);
    return 0;
  }
  if (n == 7 && s[4] == '-' && s[5] == 'H' && s[6] >= '1' && s[6] <= '2') {
    *y = year, *m = 6 * (s[6] - '0'); /* YYYY-Hn: coarsen_time = "half" */
    *d = month_days(year, *m);
    return 0;
  }
  if (n == 7 && s[4] == '/' && digits(s + 5, 2)) { /* YYYY/YY */
    if (num(s + 5, 2) != (year + 1) % 100)
      return -1;
    *y = year + 1, *m = 7, *d = 31;
    return 0;
  }
  if ((n == 7 || n == 10) && s[4] == '-' && digits(s + 5, 2)) {
    int month = num(s + 5, 2);
    if (month < 1 || month > 12)
      return -1;
    if (n == 7) { /* YYYY-MM */
      *y = year, *m = month, *d = month_days(year, month);
      return 0;
    }
    if (s[7] != '-' || !digits(s + 8, 2)) /* YYYY-MM-DD */
      return -1;
    int day = num(s + 8, 2);
    if (day < 1 || day > month_days(year, month))
      return -1;
    *y = year, *m = month, *d = day;
    return 0;
  }
  return -1;
}

int sp_period_closed(const char *period, double freeze_after, time_t now) {
  int y, m, d;
  if (sp_period_end(period, &y, &m, &d) != 0)
    return 0;
  struct tm tm = {0};
  tm.tm_year = y - 1900;
  tm.tm_mon = m - 1;
  tm.tm_mday = d + 1; /* the day after, normalised by timegm */
  time_t after = timegm(&tm);
  return (double)after + freeze_after <= (double)now;
}

/* ---- the stored releases ------------------------------------------------ */

struct sp_release_period {
  char *period;
  long number; /* of its latest release */
  int final;
  char *layout;
  char *rows;  /* the stored COPY text, verbatim */
  char *buf;   /* a copy of rows, split and unescaped in place */
  char **cols; /* the layout's column names */
  size_t ncols;
  int usable;          /* its layout has every dimension of the indicator */
  size_t first, nrows; /* its parsed rows in sp_releases.rows */
};

struct sp_release_row {
  const sp_release_period *p;
  char **fields; /* p->ncols, NULL = SQL NULL */
};

struct sp_release_written {
  const char *period;
  size_t off, len;
  int final;
};

static int period_cmp(const void *a, const void *b) {
  return strcmp(((const sp_release_period *)a)->period,
                ((const sp_release_period *)b)->period);
}

static const sp_release_period *find_period(const sp_releases *r,
                                            const char *period) {
  sp_release_period key = {0};
  key.period = (char *)period;
  return period ? bsearch(&key, r->periods, r->nperiods, sizeof key, period_cmp)
                : NULL;
}

static int col_index(const sp_release_period *p, const char *name) {
  for (size_t i = 0; i < p->ncols; i++)
    if (strcmp(p->cols[i], name) == 0)
      return (int)i;
  return -1;
}

/* Split the layout "a:text,b:bigint" into its names. */
static void parse_layout(sp_release_period *p) {
  size_t n = 1;
  for (const char *s = p->layout; *s; s++)
    n += *s == ',';
  p->cols = sp_xcalloc(n, sizeof *p->cols);
  const char *s = p->layout;
  while (*s) {
    size_t len = strcspn(s, ",");
    size_t name = strcspn(s, ":,");
    p->cols[p->ncols++] = sp_xstrndup(s, name < len ? name : len);
    s += len + (s[len] == ',');
  }
}

/* Unescape one COPY text field in place; returns NULL for \N. */
static char *unescape(char *f) {
  if (strcmp(f, "\\N") == 0)
    return NULL;
  char *o = f;
  for (char *s = f; *s; s++) {
    if (*s != '\\' || !s[1]) {
      *o++ = *s;
      continue;
    }
    s++;
    switch (*s) {
    case 't':
      *o++ = '\t';
      break;
    case 'n':
      *o++ = '\n';
      break;
    case 'r':
      *o++ = '\r';
      break;
    default:
      *o++ = *s;
    }
  }
  *o = '\0';
  return f;
}

/* Parse the rows of every usable period into r->rows and r->dimv. */
static void parse_rows(sp_releases *r) {
  const sp_indicator *ind = r->ind;
  size_t cap = 0;
  for (size_t i = 0; i < r->nperiods; i++)
    for (const char *s = r->periods[i].rows; *s; s++)
      cap += *s == '\n';
  r->rows = sp_xcalloc(cap ? cap : 1, sizeof *r->rows);
  r->dimv = sp_xcalloc((cap ? cap : 1) * ind->ndims, sizeof *r->dimv);
  for (size_t i = 0; i < r->nperiods; i++) {
    sp_release_period *p = &r->periods[i];
    int dcol[SP_MAX_DIMS];
    p->usable = 1;
    for (size_t d = 0; d < ind->ndims; d++)
      if ((dcol[d] = col_index(p, ind->dims[d])) < 0)
        p->usable = 0;
    p->first = r->nrows;
    if (!p->usable)
      continue;
    p->buf = sp_xstrdup(p->rows);
    char *line = p->buf;
    while (*line) {
      char *nl = strchr(line, '\n');
      if (nl)
        *nl = '\0';
      sp_release_row *row = &r->rows[r->nrows];
      row->p = p;
      row->fields = sp_xcalloc(p->ncols ? p->ncols : 1, sizeof *row->fields);
      char *f = line;
      for (size_t c = 0; c < p->ncols && f; c++) {
        char *tab = strchr(f, '\t');
        if (tab)
          *tab = '\0';
        row->fields[c] = unescape(f);
        f = tab ? tab + 1 : NULL;
      }
      for (size_t d = 0; d < ind->ndims; d++) {
        const char *v = row->fields[dcol[d]];
        if (v && (ind->totals & (1u << d)) && strcmp(v, r->total_label) == 0)
          v = NULL; /* a total row */
        r->dimv[r->nrows * ind->ndims + d] = v;
      }
      r->nrows++;
      p->nrows++;
      if (!nl)
        break;
      line = nl + 1;
    }
  }
  free(r->ix.slots); /* the empty one of sp_release_load */
  sp_index_build(&r->ix, r->dimv, ind->ndims, r->nrows);
}

int sp_release_load(PGconn *conn, const sp_partner *p, const sp_indicator *ind,
                    const char *layout, sp_releases *r, char *err,
                    size_t errlen) {
  memset(r, 0, sizeof *r);
  r->ind = ind;
  r->total_label = p->total_label ? p->total_label : "";
  r->freeze_after = p->freeze_after;
  r->now = time(NULL);
  r->layout = sp_xstrdup(layout);
  sp_index_build(&r->ix, NULL, ind->ndims, 0);
  const char *params[] = {ind->name};
  PGresult *res = NULL;
  int rc = sp_pg_execp(
      conn,
      "SELECT DISTINCT ON (period) period, release_no, final, layout, "
      "published_rows FROM samspor.partner_release WHERE indicator = $1 "
      "ORDER BY period, release_no DESC",
      1, params, PGRES_TUPLES_OK, &res, err, errlen);
  if (rc)
    return rc;
  int n = PQntuples(res);
  r->periods = sp_xcalloc(n ? (size_t)n : 1, sizeof *r->periods);
  for (int i = 0; i < n; i++) {
    sp_release_period *q = &r->periods[r->nperiods++];
    q->period = sp_xstrdup(PQgetvalue(res, i, 0));
    q->number = atol(PQgetvalue(res, i, 1));
    q->final = strcmp(PQgetvalue(res, i, 2), "t") == 0;
    q->layout = sp_xstrdup(PQgetvalue(res, i, 3));
    q->rows = sp_xstrdup(PQgetvalue(res, i, 4));
    parse_layout(q);
    r->nfrozen += q->final;
  }
  PQclear(res);
  qsort(r->periods, r->nperiods, sizeof *r->periods, period_cmp);
  for (size_t i = 0; i < r->nperiods; i++) {
    const sp_release_period *q = &r->periods[i];
    if (q->final && strcmp(q->layout, layout) != 0) {
      sp_set_err(err, errlen,
                 "indicator '%s': its columns changed since period %s (and "
                 "maybe others) was made final, and final figures are never "
                 "recomputed; restore the indicator's previous counts and "
                 "ratios, or publish it anew from the warehouse as it is "
                 "now by deleting its releases as the administrator: DELETE "
                 "FROM samspor.partner_release WHERE indicator = '%s'; (see "
                 "README, \"Releases and frozen periods\")",
                 ind->name, q->period, ind->name);
      return SAMSPOR_ECONFIG;
    }
  }
  parse_rows(r);
  return 0;
}

int sp_release_frozen(const sp_releases *r, const char *period) {
  const sp_release_period *p = find_period(r, period);
  return p && p->final;
}

int sp_release_closed(const sp_releases *r, const char *period) {
  return sp_period_closed(period, r->freeze_after, r->now);
}

long long *sp_release_prev(const sp_releases *r, const char *const *dimv,
                           size_t n, size_t ncounts) {
  const sp_indicator *ind = r->ind;
  size_t nv = n * ncounts;
  long long *prev = sp_xmalloc((nv ? nv : 1) * sizeof *prev);
  for (size_t i = 0; i < n * ncounts; i++)
    prev[i] = -1;
  for (size_t c = 0; c < n; c++) {
    long row =
        sp_index_find(&r->ix, r->dimv, ind->ndims, dimv + c * ind->ndims, -1);
    if (row < 0)
      continue;
    size_t k = 0;
    for (size_t i = 0; i < ind->nmeasures && k < ncounts; i++) {
      if (ind->measures[i].kind != SP_MEASURE_COUNT)
        continue;
      const char *v;
      if (sp_release_field(r, (size_t)row, ind->measures[i].name, &v) && v)
        prev[c * ncounts + k] = strtoll(v, NULL, 10);
      k++;
    }
  }
  return prev;
}

size_t sp_release_period_rows(const sp_releases *r, const char *period,
                              size_t *first) {
  const sp_release_period *p = find_period(r, period);
  *first = p ? p->first : 0;
  return p && p->usable ? p->nrows : 0;
}

const char *const *sp_release_row_dims(const sp_releases *r, size_t i) {
  return r->dimv + i * r->ind->ndims;
}

int sp_release_field(const sp_releases *r, size_t i, const char *column,
                     const char **value) {
  const sp_release_row *row = &r->rows[i];
  int c = col_index(row->p, column);
  if (c < 0)
    return 0;
  *value = row->fields[c];
  return 1;
}

void sp_release_add_row(sp_releases *r, const char *period, size_t off,
                        size_t len, int final) {
  if (r->nwritten == r->capwritten) {
    r->capwritten = r->capwritten ? 2 * r->capwritten : 256;
    r->written = sp_xrealloc(r->written, r->capwritten * sizeof *r->written);
  }
  struct sp_release_written *w = &r->written[r->nwritten++];
  w->period = period;
  w->off = off;
  w->len = len;
  w->final = final;
}

size_t sp_release_append_frozen(const sp_releases *r, sp_buf *out) {
  size_t n = 0;
  for (size_t i = 0; i < r->nperiods; i++) {
    const sp_release_period *p = &r->periods[i];
    if (!p->final)
      continue;
    sp_buf_puts(out, p->rows);
    for (const char *s = p->rows; *s; s++)
      n += *s == '\n';
  }
  return n;
}

/* Order of the written rows: by period, then as written. */
static int written_cmp(const void *a, const void *b) {
  const struct sp_release_written *x = a, *y = b;
  int c = strcmp(x->period, y->period);
  if (c)
    return c;
  return x->off < y->off ? -1 : x->off > y->off;
}

static int insert(PGconn *conn, const sp_releases *r, const char *period,
                  long number, int final, const char *rows, char *err,
                  size_t errlen) {
  char no[32];
  snprintf(no, sizeof no, "%ld", number);
  const char *params[] = {r->ind->name,      period,    no,
                          final ? "t" : "f", r->layout, rows};
  return sp_pg_execp(conn,
                     "INSERT INTO samspor.partner_release (indicator, period, "
                     "release_no, final, layout, published_rows) VALUES ($1, "
                     "$2, $3, $4, $5, $6)",
                     6, params, PGRES_COMMAND_OK, NULL, err, errlen);
}

int sp_release_store(PGconn *conn, sp_releases *r, const char *out, char *err,
                     size_t errlen) {
  int rc = 0;
  r->stored = 0;
  qsort(r->written, r->nwritten, sizeof *r->written, written_cmp);
  sp_buf rows;
  sp_buf_init(&rows);
  /* The periods computed now. */
  for (size_t i = 0; i < r->nwritten && !rc;) {
    const char *period = r->written[i].period;
    int final = 0;
    sp_buf_reset(&rows);
    sp_buf_puts(&rows, ""); /* rows.data is a string even when empty */
    for (; i < r->nwritten && strcmp(r->written[i].period, period) == 0; i++) {
      sp_buf_append(&rows, out + r->written[i].off, r->written[i].len);
      final |= r->written[i].final;
    }
    const sp_release_period *p = find_period(r, period);
    if (p && p->final)
      continue; /* cannot happen: frozen periods are not computed */
    if (p && p->final == final && strcmp(p->layout, r->layout) == 0 &&
        strcmp(p->rows, rows.data) == 0)
      continue;
    rc = insert(conn, r, period, p ? p->number + 1 : 1, final, rows.data, err,
                errlen);
    r->stored += !rc;
  }
  /* Open periods published before that have no rows now. */
  for (size_t i = 0; i < r->nperiods && !rc; i++) {
    const sp_release_period *p = &r->periods[i];
    if (p->final || !*p->rows)
      continue;
    int found = 0;
    for (size_t j = 0; j < r->nwritten && !found; j++)
      found = strcmp(p->period, r->written[j].period) == 0;
    if (found)
      continue;
    rc = insert(conn, r, p->period, p->number + 1, 0, "", err, errlen);
    r->stored += !rc;
  }
  sp_buf_free(&rows);
  return rc;
}

void sp_release_free(sp_releases *r) {
  for (size_t i = 0; i < r->nperiods; i++) {
    sp_release_period *p = &r->periods[i];
    free(p->period);
    free(p->layout);
    free(p->rows);
    free(p->buf);
    for (size_t c = 0; c < p->ncols; c++)
      free(p->cols[c]);
    free(p->cols);
  }
  for (size_t i = 0; i < r->nrows; i++)
    free(r->rows[i].fields);
  free(r->periods);
  free(r->rows);
  free(r->dimv);
  free(r->ix.slots);
  free(r->written);
  free(r->layout);
  memset(r, 0, sizeof *r);
}

/* ---- for people ---------------------------------------------------------- */

int sp_release_final_note(PGconn *conn, const sp_partner *p,
                          const sp_indicator *ind, int da, char **note,
                          char *err, size_t errlen) {
  *note = NULL;
  if (ind->time_dim < 0)
    return 0;
  char *qname = sp_schema_qualified(conn, "partner", ind->name);
  const char *params[] = {qname};
  PGresult *res = NULL;
  int rc = sp_pg_execp(conn,
                       "SELECT 1 FROM pg_attribute WHERE attrelid = "
                       "to_regclass($1) AND attname = 'final' AND NOT "
                       "attisdropped",
                       1, params, PGRES_TUPLES_OK, &res, err, errlen);
  int have = !rc && PQntuples(res) > 0;
  PQclear(res);
  res = NULL;
  if (!have) {
    free(qname);
    return rc;
  }
  const char *t = ind->dims[ind->time_dim];
  char *qt = PQescapeIdentifier(conn, t, strlen(t));
  /* Per period whether it is final; then the last final period, how many
   * open periods come before it (byte order, like the report), and the
   * final periods listed. */
  char *sql = sp_xasprintf(
      "WITH p AS (SELECT %s COLLATE \"C\" AS t, bool_and(final) AS f FROM %s "
      "GROUP BY 1), m AS (SELECT max(t) AS last FROM p WHERE f) "
      "SELECT m.last, (SELECT count(*) FROM p WHERE NOT f AND t < m.last), "
      "(SELECT string_agg(t, ', ' ORDER BY t) FROM p WHERE f), "
      "(SELECT count(*) FROM p WHERE NOT f) FROM m",
      qt ? qt : "\"?\"", qname);
  PQfreemem(qt);
  rc = sp_pg_exec(conn, sql, PGRES_TUPLES_OK, &res, err, errlen);
  free(sql);
  free(qname);
  if (rc)
    return rc;
  char after[64];
  char fa[32];
  sp_duration_format(p->freeze_after, fa, sizeof fa);
  snprintf(after, sizeof after,
           da ? "%s efter dens slutning" : "%s after it ends", fa);
  if (da && PQgetisnull(res, 0, 0)) {
    *note = sp_xasprintf(
        "Ingen periode er endelig endnu: alle tal kan stadig ændre sig med "
        "senere data. En periode bliver endelig (frosset, aldrig beregnet "
        "igen) %s.",
        after);
  } else if (da && atol(PQgetvalue(res, 0, 1)) == 0) {
    int later = atol(PQgetvalue(res, 0, 3)) > 0;
    *note = sp_xasprintf(
        "Endelig til og med %s%s En periode bliver endelig "
        "(frosset, aldrig beregnet igen) %s.",
        PQgetvalue(res, 0, 0),
        later ? "; senere perioder kan stadig ændre sig." : ".", after);
  } else if (da) {
    *note = sp_xasprintf("Endelige (frosset, aldrig beregnet igen): %s; de "
                         "andre perioder kan stadig ændre sig. En periode "
                         "bliver endelig %s.",
                         PQgetvalue(res, 0, 2), after);
  } else if (PQgetisnull(res, 0, 0)) {
    *note = sp_xasprintf(
        "No period is final yet: every figure may still change with later "
        "data. A period becomes final (frozen, never recomputed) %s.",
        after);
  } else if (atol(PQgetvalue(res, 0, 1)) == 0) {
    int later = atol(PQgetvalue(res, 0, 3)) > 0;
    *note =
        sp_xasprintf("Final up to and including %s%s A period becomes "
                     "final (frozen, never recomputed) %s.",
                     PQgetvalue(res, 0, 0),
                     later ? "; later periods may still change." : ".", after);
  } else {
    *note = sp_xasprintf("Final (frozen, never recomputed): %s; the other "
                         "periods may still change. A period becomes final "
                         "%s.",
                         PQgetvalue(res, 0, 2), after);
  }
  PQclear(res);
  return 0;
}
