/*
 * report.c — `samspor report [--html] [-o FILE]`: the partners' report of
 * the indicators, read from the partner tables of the live warehouse.
 *
 * Per indicator (partner.indicators of the configuration): its title and
 * description, what each published figure means, and for the measure it
 * plots (`chart`) a line chart over the time dimension with one line per
 * value of the series dimension (the total row's series, "I alt", drawn
 * black and thicker), with a table of the same figures beside it.  When the
 * indicator has dimensions besides time and series, there is one chart per
 * value of those without totals, the dimensions with totals held at their
 * total.  Then, when not too long, a table of every published figure.
 *
 * A suppressed point is a gap in its line (the line is broken, never drawn
 * across it), marked by a hollow circle just below the time axis whose
 * tooltip says why; the table shows "–" with a footnote, and the note under
 * the chart counts the hidden points by reason (the row's
 * suppression_reason).  A ratio with nothing to divide by (NULL, not
 * suppressed) is a gap too, marked with a hollow square, shown as "n/a".
 *
 * What it reads: the configuration and schema partner only — tables that
 * hold nothing but the already suppressed aggregates — never a stream
 * table, never the key.  One read-only transaction.  A partner table that
 * does not exist yet (no refresh since the indicator was configured), or
 * that lacks a column the configuration now publishes, is shown as "not
 * computed yet", which is not an error.
 *
 * Output: --html writes one self-contained page: inline CSS and inline SVG,
 * no scripts, no external references, every text escaped.  Without --html,
 * the same content as Markdown (the tables, without the charts).  Per
 * indicator a sentence says which periods are final (the partner table's
 * `final` column; see release.h).  -o FILE
 * writes atomically.  Everything but the line saying when it was made is
 * deterministic: rows, times and series are sorted byte-wise, total last.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exitcode.h"
#include "conf.h"
#include "docout.h"
#include "indicators.h"
#include "release.h"
#include "report.h"
#include "schedule.h"
#include "schema.h"

/* The table of every published figure is left out above this many rows. */
#define FULL_TABLE_MAX_ROWS 400

#define EN_DASH "\xe2\x80\x93"

/* ---- the partner tables, read ----------------------------------------- */

/* A published column pair of partner.<name>: value and its flag. */
typedef struct pubcol {
  const sp_measure *m;
  int change; /* the measure's change against the baseline */
  char *name; /* the value column; the flag is <name>_suppressed */
  int ival;   /* column of the value in the result; the flag follows */
} pubcol;

typedef struct itab {
  const sp_indicator *ind;
  PGresult *res; /* the rows; NULL when not shown (why says so) */
  char *why;
  pubcol *cols;
  size_t ncols;
  int chart;        /* index into cols of the plotted measure; -1: none */
  int ireason;      /* column of suppression_reason */
  char *final_note; /* which periods are final (release.h), or NULL */
} itab;

typedef struct rep {
  const sp_config *c;
  const sp_partner *p;
  PGconn *conn;
  sp_doc *d;
  char err[1024];
} rep;

static void itab_columns(itab *t) {
  const sp_indicator *ind = t->ind;
  t->cols = sp_xcalloc(ind->nmeasures * 2 + 1, sizeof *t->cols);
  t->chart = -1;
  for (size_t i = 0; i < ind->nmeasures; i++) {
    const sp_measure *m = &ind->measures[i];
    if (m->kind == SP_MEASURE_SUM)
      continue; /* hidden sums are never published */
    if ((int)i == ind->chart)
      t->chart = (int)t->ncols;
    t->cols[t->ncols].m = m;
    t->cols[t->ncols++].name = sp_xstrdup(m->name);
    if (m->kind == SP_MEASURE_RATIO && m->change) {
      t->cols[t->ncols].m = m;
      t->cols[t->ncols].change = 1;
      t->cols[t->ncols++].name = sp_xasprintf("%s_change", m->name);
    }
  }
  if (t->chart < 0 && t->ncols > 0)
    t->chart = 0;
}

static void itab_free(itab *t) {
  for (size_t i = 0; i < t->ncols; i++)
    free(t->cols[i].name);
  free(t->cols);
  free(t->why);
  free(t->final_note);
  PQclear(t->res);
}

/* Append the quoted identifier s to sql. */
static void put_ident(PGconn *conn, sp_buf *sql, const char *s) {
  char *q = PQescapeIdentifier(conn, s, strlen(s));
  sp_buf_puts(sql, q ? q : "\"?\"");
  PQfreemem(q);
}

/* The first of the names not among the table's columns, or NULL. */
static const char *first_missing(const PGresult *attrs,
                                 const char *const *names, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int found = 0;
    for (int r = 0; r < PQntuples(attrs) && !found; r++)
      found = strcmp(PQgetvalue(attrs, r, 0), names[i]) == 0;
    if (!found)
      return names[i];
  }
  return NULL;
}

/* Read partner.<name> into t: its rows, or why it is not shown.  Returns
 * 0 or a SAMSPOR_E* code (x->err). */
static int read_table(rep *x, itab *t) {
  const sp_indicator *ind = t->ind;
  itab_columns(t);
  char *qname = sp_schema_qualified(x->conn, "partner", ind->name);
  const char *params[] = {qname};
  PGresult *attrs = NULL;
  int rc =
      sp_pg_execp(x->conn,
                  "SELECT a.attname::text FROM pg_attribute a WHERE "
                  "a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT "
                  "a.attisdropped",
                  1, params, PGRES_TUPLES_OK, &attrs, x->err, sizeof x->err);
  if (rc || PQntuples(attrs) == 0) {
    if (!rc)
      t->why = sp_xasprintf(
          "Not computed yet: the table partner.%s does not exist yet. It is "
          "computed by the next samspor sync (or samspor refresh) once the "
          "data it is built from has been loaded.",
          ind->name);
    PQclear(attrs);
    free(qname);
    return rc;
  }

  /* The columns: dimensions, each published value and flag, then
   * suppressed and suppression_reason. */
  size_t nnames = ind->ndims + 2 * t->ncols + 1;
  char **names = sp_xcalloc(nnames, sizeof *names);
  size_t n = 0;
  for (size_t i = 0; i < ind->ndims; i++)
    names[n++] = sp_xstrdup(ind->dims[i]);
  for (size_t i = 0; i < t->ncols; i++) {
    t->cols[i].ival = (int)n;
    names[n++] = sp_xstrdup(t->cols[i].name);
    names[n++] = sp_xasprintf("%s_suppressed", t->cols[i].name);
  }
  t->ireason = (int)n;
  names[n++] = sp_xstrdup("suppression_reason");
  const char *missing =
      first_missing(attrs, (const char *const *)names, nnames);
  if (missing) {
    t->why = sp_xasprintf(
        "Not computed yet with the current configuration: partner.%s was "
        "computed from an earlier one (it has no column %s). It is shown "
        "after the next samspor sync or samspor refresh.",
        ind->name, missing);
  } else {
    sp_buf sql;
    sp_buf_init(&sql);
    sp_buf_puts(&sql, "SELECT ");
    for (size_t i = 0; i < nnames; i++) {
      if (i)
        sp_buf_puts(&sql, ", ");
      put_ident(x->conn, &sql, names[i]);
    }
    sp_buf_printf(&sql, " FROM %s ORDER BY ", qname);
    /* Byte order, totals last: the same on every server. */
    for (size_t i = 0; i < ind->ndims; i++) {
      sp_buf_puts(&sql, i ? ", (" : "(");
      put_ident(x->conn, &sql, ind->dims[i]);
      sp_buf_puts(&sql, " = $1), ");
      put_ident(x->conn, &sql, ind->dims[i]);
      sp_buf_puts(&sql, " COLLATE \"C\"");
    }
    const char *tparams[] = {x->p->total_label ? x->p->total_label : ""};
    rc = sp_pg_execp(x->conn, sql.data, 1, tparams, PGRES_TUPLES_OK, &t->res,
                     x->err, sizeof x->err);
    sp_buf_free(&sql);
    if (!rc)
      rc = sp_release_final_note(x->conn, x->p, ind, &t->final_note, x->err,
                                 sizeof x->err);
  }
  for (size_t i = 0; i < nnames; i++)
    free(names[i]);
  free(names);
  PQclear(attrs);
  free(qname);
  return rc;
}

/* ---- cells and numbers ------------------------------------------------ */

typedef enum cell_kind {
  CELL_NONE,   /* no such row */
  CELL_VALUE,  /* published */
  CELL_HIDDEN, /* suppressed */
  CELL_UNDEF   /* NULL, not suppressed: a ratio of a zero denominator */
} cell_kind;

static cell_kind cell(const itab *t, int row, const pubcol *pc, double *v) {
  if (row < 0)
    return CELL_NONE;
  if (!PQgetisnull(t->res, row, pc->ival + 1) &&
      PQgetvalue(t->res, row, pc->ival + 1)[0] == 't')
    return CELL_HIDDEN;
  if (PQgetisnull(t->res, row, pc->ival))
    return CELL_UNDEF;
  if (v)
    *v = strtod(PQgetvalue(t->res, row, pc->ival), NULL);
  return CELL_VALUE;
}

static const char *row_reason(const itab *t, int row) {
  if (PQgetisnull(t->res, row, t->ireason) ||
      !*PQgetvalue(t->res, row, t->ireason))
    return "suppressed";
  return PQgetvalue(t->res, row, t->ireason);
}

static int decimals_of(const pubcol *pc) {
  if (pc->m->kind != SP_MEASURE_RATIO)
    return 0;
  return pc->m->decimals < 0 ? 0 : pc->m->decimals > 9 ? 9 : pc->m->decimals;
}

/* A published value as the reader sees it: counts as integers, ratios
 * with the measure's decimals, changes with their sign. */
static void fmt_number(const pubcol *pc, const char *text, char *buf,
                       size_t len) {
  if (pc->m->kind == SP_MEASURE_COUNT) {
    snprintf(buf, len, "%s", text);
    return;
  }
  double v = strtod(text, NULL);
  snprintf(buf, len, pc->change ? "%+.*f" : "%.*f", decimals_of(pc), v);
  /* No "-0.0" or "+0.0". */
  if (strspn(buf + 1, "0.") == strlen(buf + 1) &&
      (buf[0] == '-' || buf[0] == '+'))
    memmove(buf, buf + 1, strlen(buf));
}

/* Superscript digits, for footnote markers. */
static void put_sup(sp_buf *b, size_t n) {
  static const char *const digits[] = {
      "\xe2\x81\xb0", "\xc2\xb9",     "\xc2\xb2",     "\xc2\xb3",
      "\xe2\x81\xb4", "\xe2\x81\xb5", "\xe2\x81\xb6", "\xe2\x81\xb7",
      "\xe2\x81\xb8", "\xe2\x81\xb9"};
  if (n >= 10)
    put_sup(b, n / 10);
  sp_buf_puts(b, digits[n % 10]);
}

/* ---- distinct values -------------------------------------------------- */

typedef struct strset {
  const char **v;
  size_t n, cap;
} strset;

static long strset_find(const strset *s, const char *x) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], x) == 0)
      return (long)i;
  return -1;
}

static void strset_add(strset *s, const char *x) {
  if (strset_find(s, x) >= 0)
    return;
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 16;
    s->v = sp_xrealloc(s->v, s->cap * sizeof *s->v);
  }
  s->v[s->n++] = x;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sort byte-wise, the total last. */
static void strset_sort(strset *s, const char *total) {
  if (s->n > 1)
    qsort(s->v, s->n, sizeof *s->v, cmp_str);
  long t = total ? strset_find(s, total) : -1;
  if (t >= 0) {
    memmove(&s->v[t], &s->v[t + 1], (s->n - (size_t)t - 1) * sizeof *s->v);
    s->v[s->n - 1] = total;
  }
}

/* ---- one chart: the plotted measure over time, a line per series ------ */

typedef struct chart {
  const itab *t;
  const pubcol *pc;
  const strset *times, *series;
  int *grid; /* times->n * series->n row indices, -1: no row */
  strset reasons;
  size_t *hidden; /* per reason: how many points */
  size_t nundef;
  char id[32];
} chart;

static int dim_is_total(const rep *x, const sp_indicator *ind, int dim,
                        const char *v) {
  return (ind->totals & (1u << dim)) && sp_streq(v, x->p->total_label);
}

/* The dimensions besides time and series: those with totals are held at
 * their total; the others vary from chart to chart. */
static int is_free_dim(const sp_indicator *ind, size_t i, int sdim) {
  return (int)i != ind->time_dim && (int)i != sdim &&
         !(ind->totals & (1u << i));
}

/* Whether row r belongs to the charts: its time is not a total, and the
 * dimensions held at their total are. */
static int row_in_chart(const rep *x, const itab *t, int r, int sdim) {
  const sp_indicator *ind = t->ind;
  if (dim_is_total(x, ind, ind->time_dim, PQgetvalue(t->res, r, ind->time_dim)))
    return 0;
  for (size_t i = 0; i < ind->ndims; i++)
    if ((int)i != ind->time_dim && (int)i != sdim &&
        (ind->totals & (1u << i)) &&
        !sp_streq(PQgetvalue(t->res, r, (int)i), x->p->total_label))
      return 0;
  return 1;
}

static const char *const palette[] = {
    /* Okabe & Ito: told apart with every common colour-vision deficiency */
    "#0072B2", "#E69F00", "#009E73", "#CC79A7",
    "#56B4E9", "#D55E00", "#8C7A00"};
static const char *const dashes[] = {"", "6 3", "2 3"};

static void series_style(const rep *x, const chart *ch, size_t s,
                         const char **colour, const char **dash,
                         double *width) {
  const sp_indicator *ind = ch->t->ind;
  size_t k = 0;
  if (ind->series_dim != ind->time_dim &&
      (ind->totals & (1u << ind->series_dim)) &&
      sp_streq(ch->series->v[s], x->p->total_label)) {
    *colour = "#000000";
    *dash = "";
    *width = 3;
    return;
  }
  for (size_t i = 0; i < s; i++)
    k += !sp_streq(ch->series->v[i], x->p->total_label);
  *colour = palette[k % SP_ARRAY_LEN(palette)];
  *dash = dashes[(k / SP_ARRAY_LEN(palette)) % SP_ARRAY_LEN(dashes)];
  *width = 2;
}

/* Roughly how wide a label is drawn at 12px: UTF-8 code points x 7. */
static double text_width(const char *s) {
  size_t n = 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    n += (*p & 0xc0) != 0x80;
  return 7.0 * (double)n;
}

/* A step of 1, 2 or 5 times a power of ten near raw. */
static double nice_step(double raw) {
  double p = pow(10, floor(log10(raw)));
  double f = raw / p;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * p;
}

#define PLOT_LEFT 64.0
#define PLOT_TOP 28.0
#define PLOT_W 520.0
#define PLOT_H 240.0

static void svg_chart(rep *x, chart *ch) {
  sp_doc *d = x->d;
  const itab *t = ch->t;
  const sp_indicator *ind = t->ind;
  size_t nt = ch->times->n, ns = ch->series->n;

  /* The y axis: from 0 (or the lowest value) to a round number. */
  double lo = 0, hi = 0;
  for (size_t i = 0; i < nt * ns; i++) {
    double v;
    if (cell(t, ch->grid[i], ch->pc, &v) == CELL_VALUE) {
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
  }
  if (hi - lo <= 0)
    hi = lo + 1;
  double step = nice_step((hi - lo) / 5);
  double y0 = floor(lo / step) * step, y1 = ceil(hi / step) * step;
  int ydec = 0;
  for (double s = step; s < 0.999999 && ydec < 9; s *= 10)
    ydec++;
#define YPOS(v) (PLOT_TOP + PLOT_H - ((v)-y0) / (y1 - y0) * PLOT_H)
#define XPOS(i)                                                                \
  (nt > 1 ? PLOT_LEFT + 12 + (PLOT_W - 24) * (double)(i) / (double)(nt - 1)    \
          : PLOT_LEFT + PLOT_W / 2)

  double legend_w = 0;
  for (size_t s = 0; s < ns; s++)
    if (text_width(ch->series->v[s]) > legend_w)
      legend_w = text_width(ch->series->v[s]);
  legend_w += 48;
  double width = PLOT_LEFT + PLOT_W + 16 + legend_w;
  /* Below the axis, a strip for the marks of the points without a value,
   * stacked when several series lack one at the same time. */
  int stack = 0;
  for (size_t i = 0; i < nt; i++) {
    int j = 0;
    for (size_t s = 0; s < ns; s++) {
      cell_kind k = cell(t, ch->grid[i * ns + s], ch->pc, NULL);
      j += k == CELL_HIDDEN || k == CELL_UNDEF;
    }
    stack = j > stack ? j : stack;
  }
  double strip = 10.0 * stack;
  double height = PLOT_TOP + PLOT_H + strip + 52;
  if (PLOT_TOP + 20.0 * (double)ns + 8 > height)
    height = PLOT_TOP + 20.0 * (double)ns + 8;

  sp_doc_raw(d,
             "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" "
             "height=\"%.0f\" role=\"img\" aria-labelledby=\"%s-t\">\n"
             "<title id=\"%s-t\">",
             width, height, width, height, ch->id, ch->id);
  sp_doc_textf(d, "%s by %s and %s", ch->pc->name, ind->dims[ind->time_dim],
               ind->series_dim != ind->time_dim ? ind->dims[ind->series_dim]
                                                : "nothing");
  sp_doc_raw(d, "</title>\n");

  /* Grid, y ticks and labels, axes. */
  sp_doc_raw(d, "<g class=\"axis\">\n");
  for (double v = y0; v <= y1 + step / 2; v += step) {
    double y = YPOS(v);
    sp_doc_raw(d,
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
               "stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%.1f\" "
               "text-anchor=\"end\">%.*f</text>\n",
               PLOT_LEFT, y, PLOT_LEFT + PLOT_W, y, PLOT_LEFT - 6, y + 4, ydec,
               fabs(v) < step / 1e6 ? 0.0 : v);
  }
  sp_doc_raw(d,
             "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
             "stroke=\"#444\"/>\n<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
             "y2=\"%.1f\" stroke=\"#444\"/>\n",
             PLOT_LEFT, PLOT_TOP, PLOT_LEFT, PLOT_TOP + PLOT_H, PLOT_LEFT,
             PLOT_TOP + PLOT_H, PLOT_LEFT + PLOT_W, PLOT_TOP + PLOT_H);
  sp_doc_raw(d, "<text x=\"%.1f\" y=\"%.1f\">", PLOT_LEFT - 56, PLOT_TOP - 12);
  sp_doc_text(d, ch->pc->name);
  sp_doc_raw(d, "</text>\n");

  /* x ticks at every time, labels as often as they fit. */
  double widest = 0;
  for (size_t i = 0; i < nt; i++)
    if (text_width(ch->times->v[i]) > widest)
      widest = text_width(ch->times->v[i]);
  double spacing = nt > 1 ? (PLOT_W - 24) / (double)(nt - 1) : PLOT_W;
  size_t every = (size_t)ceil((widest + 10) / spacing);
  if (every < 1)
    every = 1;
  for (size_t i = 0; i < nt; i++) {
    double px = XPOS(i);
    sp_doc_raw(d,
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
               "stroke=\"#444\"/>",
               px, PLOT_TOP + PLOT_H, px, PLOT_TOP + PLOT_H + 5);
    if (i % every == 0) {
      sp_doc_raw(d, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", px,
                 PLOT_TOP + PLOT_H + strip + 19);
      sp_doc_text(d, ch->times->v[i]);
      sp_doc_raw(d, "</text>");
    }
    sp_doc_raw(d, "\n");
  }
  sp_doc_raw(d, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
             PLOT_LEFT + PLOT_W / 2, PLOT_TOP + PLOT_H + strip + 40);
  sp_doc_text(d, ind->dims[ind->time_dim]);
  sp_doc_raw(d, "</text>\n</g>\n");

  /* The lines, broken at every point without a published value; a marker
   * on every published point. */
  sp_buf path;
  sp_buf_init(&path);
  for (size_t s = 0; s < ns; s++) {
    const char *colour, *dash;
    double w;
    series_style(x, ch, s, &colour, &dash, &w);
    sp_buf_reset(&path);
    int pen = 0, segs = 0;
    for (size_t i = 0; i < nt; i++) {
      double v;
      if (cell(t, ch->grid[i * ns + s], ch->pc, &v) != CELL_VALUE) {
        pen = 0;
        continue;
      }
      sp_buf_printf(&path, "%s%.1f %.1f", pen ? " L" : (path.len ? " M" : "M"),
                    XPOS(i), YPOS(v));
      segs += pen;
      pen = 1;
    }
    sp_doc_raw(d, "<g class=\"series\">\n");
    if (segs)
      sp_doc_raw(d,
                 "<path d=\"%s\" fill=\"none\" stroke=\"%s\" "
                 "stroke-width=\"%.0f\"%s%s%s stroke-linejoin=\"round\"/>\n",
                 path.data, colour, w, *dash ? " stroke-dasharray=\"" : "",
                 dash, *dash ? "\"" : "");
    for (size_t i = 0; i < nt; i++) {
      int row = ch->grid[i * ns + s];
      double v;
      if (cell(t, row, ch->pc, &v) != CELL_VALUE)
        continue;
      char num[64];
      fmt_number(ch->pc, PQgetvalue(t->res, row, ch->pc->ival), num,
                 sizeof num);
      sp_doc_raw(d, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\">",
                 XPOS(i), YPOS(v), w + 1.5, colour);
      sp_doc_raw(d, "<title>");
      sp_doc_textf(d, "%s, %s: %s", ch->series->v[s], ch->times->v[i], num);
      sp_doc_raw(d, "</title></circle>\n");
    }
    sp_doc_raw(d, "</g>\n");
  }
  sp_buf_free(&path);

  /* Hidden and undefined points: hollow marks in the strip below the
   * axis, each with the reason as its tooltip. */
  sp_doc_raw(d, "<g class=\"gaps\">\n");
  for (size_t i = 0; i < nt; i++) {
    int j = 0;
    for (size_t s = 0; s < ns; s++) {
      int row = ch->grid[i * ns + s];
      cell_kind k = cell(t, row, ch->pc, NULL);
      if (k != CELL_HIDDEN && k != CELL_UNDEF)
        continue;
      const char *colour, *dash;
      double w, y = PLOT_TOP + PLOT_H + 6 + 10.0 * j++;
      series_style(x, ch, s, &colour, &dash, &w);
      if (k == CELL_HIDDEN)
        sp_doc_raw(d,
                   "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#fff\" "
                   "stroke=\"%s\" stroke-width=\"1.5\"><title>",
                   XPOS(i), y, colour);
      else
        sp_doc_raw(d,
                   "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" "
                   "fill=\"#fff\" stroke=\"%s\" stroke-width=\"1.5\"><title>",
                   XPOS(i) - 3.5, y - 3.5, colour);
      if (k == CELL_HIDDEN)
        sp_doc_textf(d, "%s, %s: hidden (%s)", ch->series->v[s],
                     ch->times->v[i], row_reason(t, row));
      else
        sp_doc_textf(d, "%s, %s: not defined (nothing to divide by)",
                     ch->series->v[s], ch->times->v[i]);
      sp_doc_raw(d, k == CELL_HIDDEN ? "</title></circle>\n"
                                     : "</title></rect>\n");
    }
  }
  sp_doc_raw(d, "</g>\n");

  /* Legend. */
  double lx = PLOT_LEFT + PLOT_W + 16;
  sp_doc_raw(d, "<g class=\"legend\">\n");
  for (size_t s = 0; s < ns; s++) {
    const char *colour, *dash;
    double w, ly = PLOT_TOP + 20.0 * (double)s + 6;
    series_style(x, ch, s, &colour, &dash, &w);
    sp_doc_raw(d,
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
               "stroke=\"%s\" stroke-width=\"%.0f\"%s%s%s/>"
               "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\"/>"
               "<text x=\"%.1f\" y=\"%.1f\">",
               lx, ly, lx + 28, ly, colour, w,
               *dash ? " stroke-dasharray=\"" : "", dash, *dash ? "\"" : "",
               lx + 14, ly, w + 1.5, colour, lx + 36, ly + 4);
    sp_doc_text(d, ch->series->v[s]);
    sp_doc_raw(d, "</text>\n");
  }
  sp_doc_raw(d, "</g>\n</svg>\n");
#undef XPOS
#undef YPOS
}

/* The table beside the chart: time down, series across. */
static void chart_table(rep *x, const chart *ch) {
  sp_doc *d = x->d;
  const itab *t = ch->t;
  size_t nt = ch->times->n, ns = ch->series->n;
  const char **heads = sp_xcalloc(ns + 1, sizeof *heads);
  const char **cells = sp_xcalloc(ns + 1, sizeof *cells);
  char **owned = sp_xcalloc(ns, sizeof *owned);
  heads[0] = t->ind->dims[t->ind->time_dim];
  for (size_t s = 0; s < ns; s++)
    heads[s + 1] = ch->series->v[s];
  sp_doc_table_begin(d, heads, ns + 1);
  for (size_t i = 0; i < nt; i++) {
    cells[0] = ch->times->v[i];
    for (size_t s = 0; s < ns; s++) {
      int row = ch->grid[i * ns + s];
      sp_buf b;
      sp_buf_init(&b);
      switch (cell(t, row, ch->pc, NULL)) {
      case CELL_VALUE: {
        char num[64];
        fmt_number(ch->pc, PQgetvalue(t->res, row, ch->pc->ival), num,
                   sizeof num);
        sp_buf_puts(&b, num);
        break;
      }
      case CELL_HIDDEN:
        sp_buf_puts(&b, EN_DASH);
        put_sup(&b, (size_t)strset_find(&ch->reasons, row_reason(t, row)) + 1);
        break;
      case CELL_UNDEF:
        sp_buf_puts(&b, "n/a");
        break;
      case CELL_NONE:
        break;
      }
      free(owned[s]);
      owned[s] = b.data;
      cells[s + 1] = b.data ? b.data : "";
    }
    sp_doc_table_row(d, cells, ns + 1);
  }
  sp_doc_table_end(d);
  for (size_t s = 0; s < ns; s++)
    free(owned[s]);
  free(owned);
  free(cells);
  free(heads);
}

/* The note under a chart: hidden points counted by reason, with the
 * footnote markers of the table. */
static void chart_notes(rep *x, const chart *ch) {
  sp_doc *d = x->d;
  for (size_t r = 0; r < ch->reasons.n; r++) {
    sp_buf m;
    sp_buf_init(&m);
    put_sup(&m, r + 1);
    sp_doc_raw(d, d->html ? "<p class=\"note\">" : "");
    sp_doc_textf(d, "%s %zu point%s hidden: %s.", m.data, ch->hidden[r],
                 ch->hidden[r] == 1 ? "" : "s", ch->reasons.v[r]);
    sp_doc_raw(d, d->html ? "</p>\n" : "\n\n");
    sp_buf_free(&m);
  }
  if (ch->nundef)
    sp_doc_para(d, "n/a: %zu point%s not defined (nothing to divide by).",
                ch->nundef, ch->nundef == 1 ? "" : "s");
}

static void render_chart(rep *x, chart *ch) {
  sp_doc *d = x->d;
  size_t nt = ch->times->n, ns = ch->series->n;
  /* Count the hidden points by reason, in order of first appearance. */
  for (size_t i = 0; i < nt; i++)
    for (size_t s = 0; s < ns; s++)
      if (cell(ch->t, ch->grid[i * ns + s], ch->pc, NULL) == CELL_HIDDEN)
        strset_add(&ch->reasons, row_reason(ch->t, ch->grid[i * ns + s]));
  ch->hidden = sp_xcalloc(ch->reasons.n + 1, sizeof *ch->hidden);
  for (size_t i = 0; i < nt * ns; i++) {
    cell_kind k = cell(ch->t, ch->grid[i], ch->pc, NULL);
    if (k == CELL_HIDDEN)
      ch->hidden[strset_find(&ch->reasons, row_reason(ch->t, ch->grid[i]))]++;
    ch->nundef += k == CELL_UNDEF;
  }
  if (d->html) {
    sp_doc_raw(d, "<div class=\"pair\">\n<figure>\n");
    svg_chart(x, ch);
    sp_doc_raw(d, "</figure>\n<div class=\"data\">\n");
  }
  chart_table(x, ch);
  if (d->html)
    sp_doc_raw(d, "</div>\n</div>\n");
  chart_notes(x, ch);
  free(ch->hidden);
  free(ch->reasons.v);
}

/* ---- an indicator ----------------------------------------------------- */

static void measure_list(rep *x, const itab *t) {
  const sp_indicator *ind = t->ind;
  for (size_t i = 0; i < t->ncols; i++) {
    const pubcol *pc = &t->cols[i];
    const char *desc = pc->m->description ? pc->m->description : "";
    if (pc->change)
      sp_doc_item(x->d, pc->name,
                  "the change in %s since %s, in the same units (a share in "
                  "percentage points)",
                  pc->m->name, ind->baseline ? ind->baseline : "the baseline");
    else if (pc->m->kind == SP_MEASURE_RATIO)
      sp_doc_item(x->d, pc->name, "%s%s(%s / %s%s%g, %d decimal%s)", desc,
                  *desc ? " " : "", ind->measures[pc->m->numerator].name,
                  ind->measures[pc->m->denominator].name,
                  pc->m->scale != 1 ? " x " : "",
                  pc->m->scale != 1 ? pc->m->scale : 1.0, decimals_of(pc),
                  decimals_of(pc) == 1 ? "" : "s");
    else
      sp_doc_item(x->d, pc->name, "%s%s(a count)", desc, *desc ? " " : "");
  }
  sp_doc_list_end(x->d);
}

static void charts(rep *x, const itab *t) {
  const sp_indicator *ind = t->ind;
  int sdim = ind->series_dim >= 0 && ind->series_dim != ind->time_dim
                 ? ind->series_dim
                 : -1;
  int nrows = PQntuples(t->res);
  strset times = {0}, series = {0}, combos = {0};
  char **owned = sp_xcalloc((size_t)nrows + 1, sizeof *owned);
  for (int r = 0; r < nrows; r++) {
    if (!row_in_chart(x, t, r, sdim))
      continue;
    strset_add(&times, PQgetvalue(t->res, r, ind->time_dim));
    strset_add(&series, sdim >= 0 ? PQgetvalue(t->res, r, sdim)
                                  : t->cols[t->chart].name);
    sp_buf k;
    sp_buf_init(&k);
    for (size_t i = 0; i < ind->ndims; i++)
      if (is_free_dim(ind, i, sdim))
        sp_buf_printf(&k, "%s%s", k.len ? "\x1f" : "",
                      PQgetvalue(t->res, r, (int)i));
    owned[r] = k.data ? k.data : sp_xstrdup("");
    strset_add(&combos, owned[r]);
  }
  strset_sort(&times, NULL);
  strset_sort(&series, x->p->total_label);
  strset_sort(&combos, NULL);

  const char *held = NULL;
  sp_buf hb;
  sp_buf_init(&hb);
  for (size_t i = 0; i < ind->ndims; i++)
    if ((int)i != ind->time_dim && (int)i != sdim && (ind->totals & (1u << i)))
      sp_buf_printf(&hb, "%s%s", hb.len ? ", " : "", ind->dims[i]);
  held = hb.data;
  if (times.n == 0) {
    sp_doc_para(x->d, "partner.%s has no rows to chart yet.", ind->name);
  } else if (held) {
    sp_doc_para(x->d, "The charts show the totals (%s) over %s.",
                x->p->total_label, held);
  }
  for (size_t cb = 0; cb < combos.n && times.n; cb++) {
    chart ch;
    memset(&ch, 0, sizeof ch);
    ch.t = t;
    ch.pc = &t->cols[t->chart];
    ch.times = &times;
    ch.series = &series;
    snprintf(ch.id, sizeof ch.id, "c%zu-%zu",
             (size_t)(ind - x->p->indicators) + 1, cb + 1);
    ch.grid = sp_xmalloc(times.n * series.n * sizeof *ch.grid);
    for (size_t i = 0; i < times.n * series.n; i++)
      ch.grid[i] = -1;
    for (int r = 0; r < nrows; r++) {
      if (!owned[r] || strcmp(owned[r], combos.v[cb]) != 0)
        continue;
      long ti = strset_find(&times, PQgetvalue(t->res, r, ind->time_dim));
      long si = strset_find(&series, sdim >= 0 ? PQgetvalue(t->res, r, sdim)
                                               : t->cols[t->chart].name);
      ch.grid[(size_t)ti * series.n + (size_t)si] = r;
    }
    if (*combos.v[cb]) {
      /* "subject: dansk, gender: girls" */
      sp_buf h;
      sp_buf_init(&h);
      const char *p = combos.v[cb];
      for (size_t i = 0; i < ind->ndims; i++) {
        if (!is_free_dim(ind, i, sdim))
          continue;
        size_t len = strcspn(p, "\x1f");
        sp_buf_printf(&h, "%s%s: %.*s", h.len ? ", " : "", ind->dims[i],
                      (int)len, p);
        p += len + (p[len] ? 1 : 0);
      }
      sp_doc_heading(x->d, 3, "%s", h.data);
      sp_buf_free(&h);
    }
    render_chart(x, &ch);
    free(ch.grid);
  }
  sp_buf_free(&hb);
  for (int r = 0; r < nrows; r++)
    free(owned[r]);
  free(owned);
  free(times.v);
  free(series.v);
  free(combos.v);
}

/* Every published figure, when the table is not too long. */
static void full_table(rep *x, const itab *t) {
  sp_doc *d = x->d;
  const sp_indicator *ind = t->ind;
  int nrows = PQntuples(t->res);
  if (nrows > FULL_TABLE_MAX_ROWS) {
    sp_doc_para(d,
                "partner.%s has %d rows, too many to list here; partners "
                "read them in the warehouse (SELECT * FROM partner.%s).",
                ind->name, nrows, ind->name);
    return;
  }
  size_t n = ind->ndims + t->ncols + 1;
  const char **heads = sp_xcalloc(n, sizeof *heads);
  const char **cells = sp_xcalloc(n, sizeof *cells);
  char **owned = sp_xcalloc(t->ncols, sizeof *owned);
  for (size_t i = 0; i < ind->ndims; i++)
    heads[i] = ind->dims[i];
  for (size_t i = 0; i < t->ncols; i++)
    heads[ind->ndims + i] = t->cols[i].name;
  heads[n - 1] = "why hidden";
  if (d->html)
    sp_doc_raw(d, "<details>\n<summary>");
  sp_doc_textf(d, "All published figures of partner.%s (%d rows)", ind->name,
               nrows);
  sp_doc_raw(d, d->html ? "</summary>\n" : "\n\n");
  sp_doc_table_begin(d, heads, n);
  for (int r = 0; r < nrows; r++) {
    int any = 0;
    for (size_t i = 0; i < ind->ndims; i++)
      cells[i] = PQgetvalue(t->res, r, (int)i);
    for (size_t i = 0; i < t->ncols; i++) {
      char num[64] = "";
      switch (cell(t, r, &t->cols[i], NULL)) {
      case CELL_VALUE:
        fmt_number(&t->cols[i], PQgetvalue(t->res, r, t->cols[i].ival), num,
                   sizeof num);
        break;
      case CELL_HIDDEN:
        snprintf(num, sizeof num, "%s", EN_DASH);
        any = 1;
        break;
      default:
        snprintf(num, sizeof num, "n/a");
      }
      free(owned[i]);
      owned[i] = sp_xstrdup(num);
      cells[ind->ndims + i] = owned[i];
    }
    cells[n - 1] = any ? row_reason(t, r) : "";
    sp_doc_table_row(d, cells, n);
  }
  sp_doc_table_end(d);
  if (d->html)
    sp_doc_raw(d, "</details>\n");
  for (size_t i = 0; i < t->ncols; i++)
    free(owned[i]);
  free(owned);
  free(cells);
  free(heads);
}

/* How much of the table is hidden: counted from the table itself, so it
 * tells the reader nothing the table does not.  (The share of the people
 * the hidden cells hold would be a new fact about them, so only `refresh`
 * logs it, for the administrator.) */
static void hidden_share(rep *x, const itab *t) {
  size_t n = 0, hidden = 0;
  for (int r = 0; r < PQntuples(t->res); r++)
    for (size_t i = 0; i < t->ncols; i++) {
      if (t->cols[i].m->kind != SP_MEASURE_COUNT || t->cols[i].change)
        continue;
      n++;
      hidden += strcmp(PQgetvalue(t->res, r, t->cols[i].ival + 1), "t") == 0;
    }
  if (n)
    sp_doc_para(x->d,
                "%zu of the table's %zu counts (%.0f%%) are hidden to "
                "protect the people behind them.",
                hidden, n, 100.0 * (double)hidden / (double)n);
}

static void render_indicator(rep *x, itab *t) {
  sp_doc *d = x->d;
  const sp_indicator *ind = t->ind;
  const char *title = ind->title ? ind->title : ind->name;
  if (d->html) {
    sp_doc_raw(d, "<h2 id=\"ind-");
    sp_doc_text(d, ind->name);
    sp_doc_raw(d, "\">");
    sp_doc_text(d, title);
    sp_doc_raw(d, "</h2>\n");
  } else {
    sp_doc_heading(d, 2, "%s", title);
  }
  if (ind->description && *ind->description)
    sp_doc_para(d, "%s", ind->description);
  if (!t->res) {
    sp_doc_raw(d, d->html ? "<p class=\"missing\">" : "");
    sp_doc_text(d, t->why);
    sp_doc_raw(d, d->html ? "</p>\n" : "\n\n");
    return;
  }
  int lines = ind->series_dim != ind->time_dim;
  int black = lines && (ind->totals & (1u << ind->series_dim));
  if (t->chart >= 0)
    sp_doc_para(d,
                "The chart shows %s over %s, %s%s%s%s%s. Source: the table "
                "partner.%s.",
                t->cols[t->chart].name, ind->dims[ind->time_dim],
                lines ? "one line per " : "as one line",
                lines ? ind->dims[ind->series_dim] : "",
                black ? " (the black line: " : "",
                black ? x->p->total_label : "", black ? ")" : "", ind->name);
  if (t->final_note)
    sp_doc_para(d, "%s", t->final_note);
  measure_list(x, t);
  hidden_share(x, t);
  if (t->chart < 0)
    sp_doc_para(d, "It publishes no count or ratio to chart.");
  else
    charts(x, t);
  full_table(x, t);
}

/* ---- the page --------------------------------------------------------- */

static const char report_css[] =
    ".made{color:#555}\n"
    ".pair{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}\n"
    ".pair figure{margin:0;flex:0 1 auto;max-width:100%}\n"
    ".pair svg{max-width:100%;height:auto;font-size:12px}\n"
    ".pair svg text{fill:#222}\n"
    ".pair .data{flex:1 1 18em;overflow-x:auto}\n"
    ".pair table{width:auto;margin-top:0}\n"
    ".data td+td{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".note{font-size:.9em;color:#444;margin:.2em 0}\n"
    ".missing{background:#fff4d6;border-left:4px solid #E69F00;"
    "padding:.5em 1em}\n"
    "details{margin:1em 0}summary{cursor:pointer;color:#0072B2}\n";

static void suppression_words(rep *x) {
  int th = x->p->threshold;
  sp_doc_heading(x->d, 2, "About these figures");
  sp_doc_para(
      x->d,
      "All figures are counts of people, or shares and changes computed from "
      "such counts; no person can be seen. Counts from 1 to %d are hidden "
      "(shown as " EN_DASH "), because a group of fewer than %d could point "
      "to a person; a count of 0 is shown. Every share or change computed "
      "from a hidden count is hidden too. Further cells are hidden where "
      "needed (secondary suppression), so that no hidden count can be worked "
      "out, or narrowed down, from everything shown together: totals, "
      "neighbouring cells, zeros, shares and earlier versions of these "
      "tables. Every hidden figure gives the same reason.",
      th, th + 1);
  sp_doc_para(x->d,
              "Rows labelled %s are totals over all values of that "
              "dimension. In the charts a hidden point is a gap in its line, "
              "never bridged, marked by a hollow circle just below the time "
              "axis (hover over it for the reason); the table beside the "
              "chart shows it as " EN_DASH
              " with a footnote that says why. n/a marks a share with "
              "nothing to divide by.",
              x->p->total_label);
}

/* The whole report into x->d; returns 0 or a SAMSPOR_E* code (x->err). */
static int make_report(rep *x) {
  sp_doc *d = x->d;
  const sp_partner *p = x->p;
  const char *title = p->report_title ? p->report_title : "Indicators";
  itab *tabs = sp_xcalloc(p->nindicators + 1, sizeof *tabs);
  int rc = 0;
  for (size_t i = 0; i < p->nindicators && !rc; i++) {
    tabs[i].ind = &p->indicators[i];
    rc = read_table(x, &tabs[i]);
  }
  if (!rc) {
    const char *tz = sp_config_timezone(x->c);
    char now[SP_TIME_BUFLEN] = "";
    sp_time_format(time(NULL), tz ? tz : SP_DEFAULT_TZ, now, sizeof now);
    sp_doc_begin(d, title, report_css);
    sp_doc_heading(d, 1, "%s", title);
    sp_doc_raw(d, d->html ? "<p class=\"made\">" : "");
    sp_doc_textf(d,
                 "Made at %s by samspor %s from the partner tables of the "
                 "warehouse (database %s).",
                 now, PACKAGE_VERSION, PQdb(x->conn));
    sp_doc_raw(d, d->html ? "</p>\n" : "\n\n");
    if (p->nindicators == 0)
      sp_doc_para(d, "No indicators are configured (partner.indicators in "
                     "the configuration).");
    if (d->html && p->nindicators > 1) {
      sp_doc_raw(d, "<ul class=\"toc\">\n");
      for (size_t i = 0; i < p->nindicators; i++) {
        sp_doc_raw(d, "<li><a href=\"#ind-");
        sp_doc_text(d, p->indicators[i].name);
        sp_doc_raw(d, "\">");
        sp_doc_text(d, p->indicators[i].title ? p->indicators[i].title
                                              : p->indicators[i].name);
        sp_doc_raw(d, "</a></li>\n");
      }
      sp_doc_raw(d, "</ul>\n");
    }
    suppression_words(x);
    for (size_t i = 0; i < p->nindicators; i++)
      render_indicator(x, &tabs[i]);
    sp_doc_end(d);
  }
  for (size_t i = 0; i < p->nindicators; i++)
    itab_free(&tabs[i]);
  free(tabs);
  return rc;
}

/* Make the report over conn: in a read-only transaction of its own when
 * conn is idle, else in the caller's. */
static int report_doc(PGconn *conn, const sp_config *c, sp_doc *d, char *err,
                      size_t errlen) {
  rep x;
  memset(&x, 0, sizeof x);
  x.c = c;
  x.p = sp_config_partner(c);
  x.conn = conn;
  x.d = d;
  int own = PQtransactionStatus(conn) == PQTRANS_IDLE;
  int rc = 0;
  if (own)
    rc = sp_pg_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                    PGRES_COMMAND_OK, NULL, x.err, sizeof x.err);
  if (!rc)
    rc = make_report(&x);
  if (own && PQstatus(conn) == CONNECTION_OK)
    PQclear(PQexec(conn, "ROLLBACK"));
  if (rc)
    sp_set_err(err, errlen, "%s", x.err);
  return rc;
}

int sp_report_write_file(PGconn *conn, const sp_config *c, const char *path,
                         char *err, size_t errlen) {
  sp_doc d;
  sp_doc_init(&d, 1);
  int rc = report_doc(conn, c, &d, err, errlen);
  if (!rc && sp_write_file_atomic(path, d.b.data ? d.b.data : "", d.b.len, err,
                                  errlen) != 0)
    rc = SAMSPOR_EIO;
  sp_doc_free(&d);
  return rc;
}

int sp_report_write(sp_config *c, int html, const char *out) {
  sp_doc_cmd k = {
      .name = "report", .what = "the report", .html = html, .out = out};
  int status = sp_doc_cmd_start(&k, c);
  if (status >= 0)
    return status;
  char err[1024] = "";
  int rc = report_doc(k.conn, k.c, &k.d, err, sizeof err);
  return sp_doc_cmd_finish(&k, rc, err);
}
