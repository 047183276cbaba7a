/*
 * report.c — `samspor report [--html] [-o FILE]`: the partners' report of
 * the indicators, read from the partner tables of the live warehouse.
 *
 * Per indicator (partner.indicators of the configuration): its title and
 * description, what each published figure means, and for the measure it
 * plots (`chart`) a line chart over the time dimension with one line per
 * value of the series dimension (the total row's series, "I alt", drawn
 * black and thicker), with a table of the same figures under it (and as a
 * CSV file in a data: link).  When the
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
 * Language (partner.report_language): the page's own text in Danish or
 * English, numbers with a decimal comma in Danish; measures and
 * dimensions by their labels.  A NULL count that is not suppressed is
 * "not known yet" (needs_next_period), and so is a ratio over one.
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

#include "base/exitcode.h"
#include "model/conf.h"
#include "partner/docout.h"
#include "model/partner.h"
#include "partner/release.h"
#include "partner/report.h"
#include "model/schedule.h"
#include "store/schema.h"

/* The table of every published figure is left out above this many rows. */
#define FULL_TABLE_MAX_ROWS 400

#define EN_DASH "\xe2\x80\x93"

/* ---- the partner tables, read ----------------------------------------- */

/* A published column pair of partner.<name>: value and its flag. */
typedef struct pubcol {
  const sp_measure *m;
  int change;  /* the measure's change against the baseline */
  char *name;  /* the value column; the flag is <name>_suppressed */
  int ival;    /* column of the value in the result; the flag follows */
  char *label; /* for people: the measure's label (change: so said) */
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
  int da; /* partner.report_language = "da" */
  char err[1024];
} rep;

/* The report's own text in its language: the English and the Danish of
 * the same words, with the same conversions in the same order (the
 * compiler checks the formats of both). */
#define L(en, da_) (x->da ? (da_) : (en))

static const char *dim_label(const rep *x, const sp_indicator *ind, int d) {
  return sp_partner_dim_label(x->p, ind->dims[d]);
}

static void itab_columns(const rep *x, itab *t) {
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
    t->cols[t->ncols].label = sp_xstrdup(SP_MEASURE_LABEL(m));
    t->cols[t->ncols++].name = sp_xstrdup(m->name);
    if (m->kind == SP_MEASURE_RATIO && m->change) {
      t->cols[t->ncols].m = m;
      t->cols[t->ncols].change = 1;
      t->cols[t->ncols].label =
          sp_xasprintf(L("%s, change since %s", "%s, ændring siden %s"),
                       SP_MEASURE_LABEL(m), ind->baseline ? ind->baseline : "");
      t->cols[t->ncols++].name = sp_xasprintf("%s_change", m->name);
    }
  }
  if (t->chart < 0 && t->ncols > 0)
    t->chart = 0;
}

static void itab_free(itab *t) {
  for (size_t i = 0; i < t->ncols; i++) {
    free(t->cols[i].name);
    free(t->cols[i].label);
  }
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
  itab_columns(x, t);
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
          L("Not computed yet: the table partner.%s does not exist yet. It "
            "is computed by the next samspor sync (or samspor refresh) once "
            "the data it is built from has been loaded.",
            "Ikke beregnet endnu: tabellen partner.%s findes ikke endnu. Den "
            "beregnes ved næste kørsel (samspor sync eller samspor refresh), "
            "når de data, den bygger på, er indlæst."),
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
        L("Not computed yet with the current configuration: partner.%s was "
          "computed from an earlier one (it has no column %s). It is shown "
          "after the next samspor sync or samspor refresh.",
          "Ikke beregnet endnu med den nuværende opsætning: partner.%s blev "
          "beregnet med en tidligere (den har ingen kolonne %s). Den vises "
          "efter næste samspor sync eller samspor refresh."),
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
      rc = sp_release_final_note(x->conn, x->p, ind, x->da, &t->final_note,
                                 x->err, sizeof x->err);
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
  CELL_UNDEF,  /* NULL, not suppressed: a ratio of a zero denominator */
  CELL_PENDING /* NULL, not suppressed: not known yet (needs_next_period) */
} cell_kind;

/* Whether measure mi of the indicator is a published count that is NULL
 * without being suppressed in the row: not known yet.  (A count is never
 * NULL otherwise.) */
static int count_unknown(const itab *t, int row, int mi) {
  for (size_t i = 0; mi >= 0 && i < t->ncols; i++) {
    const pubcol *pc = &t->cols[i];
    if (pc->change || pc->m != &t->ind->measures[mi] ||
        pc->m->kind != SP_MEASURE_COUNT)
      continue;
    return PQgetisnull(t->res, row, pc->ival) &&
           !(!PQgetisnull(t->res, row, pc->ival + 1) &&
             PQgetvalue(t->res, row, pc->ival + 1)[0] == 't');
  }
  return 0;
}

static cell_kind cell(const itab *t, int row, const pubcol *pc, double *v) {
  if (row < 0)
    return CELL_NONE;
  if (!PQgetisnull(t->res, row, pc->ival + 1) &&
      PQgetvalue(t->res, row, pc->ival + 1)[0] == 't')
    return CELL_HIDDEN;
  if (PQgetisnull(t->res, row, pc->ival)) {
    if (pc->m->kind == SP_MEASURE_COUNT ||
        count_unknown(t, row, pc->m->numerator) ||
        count_unknown(t, row, pc->m->denominator))
      return CELL_PENDING;
    return CELL_UNDEF;
  }
  if (v)
    *v = strtod(PQgetvalue(t->res, row, pc->ival), NULL);
  return CELL_VALUE;
}

static const char *row_reason(const rep *x, const itab *t, int row) {
  if (PQgetisnull(t->res, row, t->ireason) ||
      !*PQgetvalue(t->res, row, t->ireason))
    return L("suppressed", "skjult");
  /* "neet, neet_share: skjult (diskretion)": the column names are for
   * analysts (the table's own cells show what is hidden); readers get the
   * reason. */
  const char *r = PQgetvalue(t->res, row, t->ireason);
  const char *h = x->p->hidden_label ? strstr(r, ": ") : NULL;
  if (h && strncmp(h + 2, x->p->hidden_label, strlen(x->p->hidden_label)) == 0)
    return h + 2;
  return r;
}

static int decimals_of(const pubcol *pc) {
  if (pc->m->kind != SP_MEASURE_RATIO)
    return 0;
  return pc->m->decimals < 0 ? 0 : pc->m->decimals > 9 ? 9 : pc->m->decimals;
}

/* A number written in C's way ("-1234.5") in the report's language: in
 * Danish with a decimal comma and, when group, "." between thousands
 * ("-1.234,5"; not in CSV files, where it would read as a decimal
 * point). */
static void localise(const rep *x, char *buf, size_t len, int group) {
  if (!x->da)
    return;
  char out[96];
  size_t o = 0, i = 0, n = strlen(buf);
  if (buf[0] == '-' || buf[0] == '+')
    out[o++] = buf[i++];
  size_t digits = strspn(buf + i, "0123456789");
  for (size_t k = 0; k < digits && o + 2 < sizeof out; k++) {
    if (group && k && (digits - k) % 3 == 0 && digits >= 4)
      out[o++] = '.';
    out[o++] = buf[i + k];
  }
  for (i += digits; i < n && o + 1 < sizeof out; i++)
    out[o++] = buf[i] == '.' ? ',' : buf[i];
  out[o] = '\0';
  snprintf(buf, len, "%s", out);
}

/* A published value as the reader sees it: counts as integers, ratios
 * with the measure's decimals, changes with their sign; group: thousands
 * separated (not in CSV). */
static void fmt_number(const rep *x, const pubcol *pc, const char *text,
                       char *buf, size_t len, int group) {
  if (pc->m->kind == SP_MEASURE_COUNT) {
    snprintf(buf, len, "%s", text);
    localise(x, buf, len, group);
    return;
  }
  double v = strtod(text, NULL);
  snprintf(buf, len, pc->change ? "%+.*f" : "%.*f", decimals_of(pc), v);
  /* No "-0.0" or "+0.0". */
  if (strspn(buf + 1, "0.") == strlen(buf + 1) &&
      (buf[0] == '-' || buf[0] == '+'))
    memmove(buf, buf + 1, strlen(buf));
  localise(x, buf, len, group);
}

/* What a cell without a value says, in tables and CSV files. */
static const char *no_value_text(const rep *x, cell_kind k) {
  switch (k) {
  case CELL_HIDDEN:
    return EN_DASH;
  case CELL_UNDEF:
    return L("n/a", "ikke def.");
  case CELL_PENDING:
    return L("not known yet", "ikke opgjort endnu");
  default:
    return "";
  }
}

/* ---- CSV files, downloadable from the page itself ------------------------ */

static void csv_field(sp_buf *b, const rep *x, const char *v, int first) {
  char sep = x->da ? ';' : ',';
  if (!first)
    sp_buf_putc(b, sep);
  if (strchr(v, sep) || strpbrk(v, "\"\r\n")) {
    sp_buf_putc(b, '"');
    for (; *v; v++) {
      if (*v == '"')
        sp_buf_putc(b, '"');
      sp_buf_putc(b, *v);
    }
    sp_buf_putc(b, '"');
  } else {
    sp_buf_puts(b, v);
  }
}

/* A link that downloads csv as FILE: a data: URL, so that the page needs
 * no script and no request.  UTF-8 with a byte order mark, which
 * spreadsheet programs need to read æ, ø and å; in Danish separated by
 * ';' with decimal commas, as a Danish spreadsheet expects. */
static void csv_link(rep *x, const sp_buf *csv, const char *file) {
  sp_doc *d = x->d;
  if (!d->html)
    return;
  static const char hex[] = "0123456789ABCDEF";
  sp_doc_raw(d, "<p class=\"csv\"><a download=\"");
  sp_doc_text(d, file);
  sp_doc_raw(d, "\" href=\"data:text/csv;charset=utf-8,%%EF%%BB%%BF");
  for (size_t i = 0; i < csv->len; i++) {
    unsigned char c = (unsigned char)csv->data[i];
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
        (c >= '0' && c <= '9') || (c && strchr("-_.~", c)))
      sp_buf_putc(&d->b, (char)c);
    else
      sp_doc_raw(d, "%%%c%c", hex[c >> 4], hex[c & 15]);
  }
  sp_doc_raw(d, "\">");
  sp_doc_textf(
      d, L("Download the table as CSV (%s)", "Hent tabellen som CSV (%s)"),
      file);
  sp_doc_raw(d, "</a></p>\n");
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
  size_t nundef, npending;
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

/* The chart's scales, worked out once and shared by the parts that draw
 * it, so that every part puts a time and a value at the same place. */
typedef struct plot {
  size_t nt, ns;
  double y0, y1, step;
  int ydec;          /* decimals of the y ticks */
  double strip;      /* height of the marks of points without a value */
  const char *xname; /* the time dimension's label */
} plot;

static double ypos(const plot *g, double v) {
  return PLOT_TOP + PLOT_H - (v - g->y0) / (g->y1 - g->y0) * PLOT_H;
}

static double xpos(const plot *g, size_t i) {
  size_t nt = g->nt;
  return (nt > 1
              ? PLOT_LEFT + 12 + (PLOT_W - 24) * (double)(i) / (double)(nt - 1)
              : PLOT_LEFT + PLOT_W / 2);
}

/* The y axis: from 0 (or the lowest value) to a round number. */
static void y_scale(const chart *ch, plot *g) {
  const itab *t = ch->t;
  size_t nt = g->nt, ns = g->ns;
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
  g->step = step;
  g->y0 = floor(lo / step) * step;
  g->y1 = ceil(hi / step) * step;
  int ydec = 0;
  for (double s = step; s < 0.999999 && ydec < 9; s *= 10)
    ydec++;
  g->ydec = ydec;
}

/* Below the axis, a strip for the marks of the points without a value,
 * stacked when several series lack one at the same time. */
static int gap_stack(const chart *ch, const plot *g) {
  const itab *t = ch->t;
  size_t nt = g->nt, ns = g->ns;
  int stack = 0;
  for (size_t i = 0; i < nt; i++) {
    int j = 0;
    for (size_t s = 0; s < ns; s++) {
      cell_kind k = cell(t, ch->grid[i * ns + s], ch->pc, NULL);
      j += k == CELL_HIDDEN || k == CELL_UNDEF || k == CELL_PENDING;
    }
    stack = j > stack ? j : stack;
  }
  return stack;
}

/* The <svg> element sized to hold the plot, the strip and the legend,
 * with its title for screen readers. */
static void svg_open(rep *x, const chart *ch, const plot *g) {
  sp_doc *d = x->d;
  const sp_indicator *ind = ch->t->ind;
  size_t ns = g->ns;
  const char *xname = g->xname;
  double legend_w = 0;
  for (size_t s = 0; s < ns; s++)
    if (text_width(ch->series->v[s]) > legend_w)
      legend_w = text_width(ch->series->v[s]);
  legend_w += 48;
  double width = PLOT_LEFT + PLOT_W + 16 + legend_w;
  double strip = g->strip;
  double height = PLOT_TOP + PLOT_H + strip + 52;
  if (PLOT_TOP + 20.0 * (double)ns + 8 > height)
    height = PLOT_TOP + 20.0 * (double)ns + 8;

  sp_doc_raw(d,
             "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" width=\"%.0f\" "
             "height=\"%.0f\" role=\"img\" aria-labelledby=\"%s-t\">\n"
             "<title id=\"%s-t\">",
             width, height, width, height, ch->id, ch->id);
  if (ind->series_dim != ind->time_dim)
    sp_doc_textf(d, L("%s by %s and %s", "%s efter %s og %s"), ch->pc->label,
                 xname, dim_label(x, ind, ind->series_dim));
  else
    sp_doc_textf(d, L("%s by %s", "%s efter %s"), ch->pc->label, xname);
  sp_doc_raw(d, "</title>\n");
}

/* Grid, y ticks and labels, axes; x ticks at every time, labels as often
 * as they fit. */
static void svg_axes(rep *x, const chart *ch, const plot *g) {
  sp_doc *d = x->d;
  size_t nt = g->nt;
  double y0 = g->y0, y1 = g->y1, step = g->step, strip = g->strip;
  sp_doc_raw(d, "<g class=\"axis\">\n");
  for (double v = y0; v <= y1 + step / 2; v += step) {
    double y = ypos(g, v);
    char tick[64];
    snprintf(tick, sizeof tick, "%.*f", g->ydec,
             fabs(v) < step / 1e6 ? 0.0 : v);
    localise(x, tick, sizeof tick, 1);
    sp_doc_raw(d,
               "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
               "stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%.1f\" "
               "text-anchor=\"end\">%s</text>\n",
               PLOT_LEFT, y, PLOT_LEFT + PLOT_W, y, PLOT_LEFT - 6, y + 4, tick);
  }
  sp_doc_raw(d,
             "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
             "stroke=\"#444\"/>\n<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
             "y2=\"%.1f\" stroke=\"#444\"/>\n",
             PLOT_LEFT, PLOT_TOP, PLOT_LEFT, PLOT_TOP + PLOT_H, PLOT_LEFT,
             PLOT_TOP + PLOT_H, PLOT_LEFT + PLOT_W, PLOT_TOP + PLOT_H);
  sp_doc_raw(d, "<text x=\"%.1f\" y=\"%.1f\">", PLOT_LEFT - 56, PLOT_TOP - 12);
  sp_doc_text(d, ch->pc->label);
  sp_doc_raw(d, "</text>\n");

  double widest = 0;
  for (size_t i = 0; i < nt; i++)
    if (text_width(ch->times->v[i]) > widest)
      widest = text_width(ch->times->v[i]);
  double spacing = nt > 1 ? (PLOT_W - 24) / (double)(nt - 1) : PLOT_W;
  size_t every = (size_t)ceil((widest + 10) / spacing);
  if (every < 1)
    every = 1;
  for (size_t i = 0; i < nt; i++) {
    double px = xpos(g, i);
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
  sp_doc_text(d, g->xname);
  sp_doc_raw(d, "</text>\n</g>\n");
}

/* The lines, broken at every point without a published value; a marker
 * on every published point. */
static void svg_lines(rep *x, const chart *ch, const plot *g) {
  sp_doc *d = x->d;
  const itab *t = ch->t;
  size_t nt = g->nt, ns = g->ns;
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
                    xpos(g, i), ypos(g, v));
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
      fmt_number(x, ch->pc, PQgetvalue(t->res, row, ch->pc->ival), num,
                 sizeof num, 1);
      sp_doc_raw(d, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\">",
                 xpos(g, i), ypos(g, v), w + 1.5, colour);
      sp_doc_raw(d, "<title>");
      sp_doc_textf(d, "%s, %s: %s", ch->series->v[s], ch->times->v[i], num);
      sp_doc_raw(d, "</title></circle>\n");
    }
    sp_doc_raw(d, "</g>\n");
  }
  sp_buf_free(&path);
}

/* Hidden and undefined points: hollow marks in the strip below the
 * axis, each with the reason as its tooltip. */
static void svg_gaps(rep *x, const chart *ch, const plot *g) {
  sp_doc *d = x->d;
  const itab *t = ch->t;
  size_t nt = g->nt, ns = g->ns;
  sp_doc_raw(d, "<g class=\"gaps\">\n");
  for (size_t i = 0; i < nt; i++) {
    int j = 0;
    for (size_t s = 0; s < ns; s++) {
      int row = ch->grid[i * ns + s];
      cell_kind k = cell(t, row, ch->pc, NULL);
      if (k != CELL_HIDDEN && k != CELL_UNDEF && k != CELL_PENDING)
        continue;
      const char *colour, *dash;
      double w, y = PLOT_TOP + PLOT_H + 6 + 10.0 * j++;
      series_style(x, ch, s, &colour, &dash, &w);
      if (k == CELL_HIDDEN)
        sp_doc_raw(d,
                   "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#fff\" "
                   "stroke=\"%s\" stroke-width=\"1.5\"><title>",
                   xpos(g, i), y, colour);
      else
        sp_doc_raw(d,
                   "<rect x=\"%.1f\" y=\"%.1f\" width=\"7\" height=\"7\" "
                   "fill=\"#fff\" stroke=\"%s\" stroke-width=\"1.5\"><title>",
                   xpos(g, i) - 3.5, y - 3.5, colour);
      if (k == CELL_HIDDEN)
        sp_doc_textf(d, L("%s, %s: hidden (%s)", "%s, %s: skjult (%s)"),
                     ch->series->v[s], ch->times->v[i], row_reason(x, t, row));
      else if (k == CELL_PENDING)
        sp_doc_textf(d,
                     L("%s, %s: not known yet (it needs the following "
                       "period's data)",
                       "%s, %s: ikke opgjort endnu (det kræver data for "
                       "perioden efter)"),
                     ch->series->v[s], ch->times->v[i]);
      else
        sp_doc_textf(d,
                     L("%s, %s: not defined (nothing to divide by)",
                       "%s, %s: ikke defineret (intet at dividere med)"),
                     ch->series->v[s], ch->times->v[i]);
      sp_doc_raw(d, k == CELL_HIDDEN ? "</title></circle>\n"
                                     : "</title></rect>\n");
    }
  }
  sp_doc_raw(d, "</g>\n");
}

static void svg_legend(rep *x, const chart *ch, const plot *g) {
  sp_doc *d = x->d;
  size_t ns = g->ns;
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
  sp_doc_raw(d, "</g>\n");
}

static void svg_chart(rep *x, chart *ch) {
  plot g = {.nt = ch->times->n, .ns = ch->series->n};
  g.xname = dim_label(x, ch->t->ind, ch->t->ind->time_dim);
  y_scale(ch, &g);
  g.strip = 10.0 * gap_stack(ch, &g);
  svg_open(x, ch, &g);
  svg_axes(x, ch, &g);
  svg_lines(x, ch, &g);
  svg_gaps(x, ch, &g);
  svg_legend(x, ch, &g);
  sp_doc_raw(x->d, "</svg>\n");
}

/* The table under the chart: time down, series across; and the same as
 * a CSV file. */
static void chart_table(rep *x, const chart *ch) {
  sp_doc *d = x->d;
  const itab *t = ch->t;
  size_t nt = ch->times->n, ns = ch->series->n;
  const char **heads = sp_xcalloc(ns + 1, sizeof *heads);
  const char **cells = sp_xcalloc(ns + 1, sizeof *cells);
  char **owned = sp_xcalloc(ns, sizeof *owned);
  sp_buf csv;
  sp_buf_init(&csv);
  heads[0] = dim_label(x, t->ind, t->ind->time_dim);
  for (size_t s = 0; s < ns; s++)
    heads[s + 1] = ch->series->v[s];
  for (size_t s = 0; s <= ns; s++)
    csv_field(&csv, x, heads[s], s == 0);
  sp_buf_puts(&csv, "\r\n");
  if (d->html)
    sp_doc_raw(d, "<div class=\"data\">\n");
  sp_doc_table_begin(d, heads, ns + 1);
  for (size_t i = 0; i < nt; i++) {
    cells[0] = ch->times->v[i];
    csv_field(&csv, x, cells[0], 1);
    for (size_t s = 0; s < ns; s++) {
      int row = ch->grid[i * ns + s];
      sp_buf b;
      sp_buf_init(&b);
      cell_kind k = cell(t, row, ch->pc, NULL);
      char num[64] = "";
      if (k == CELL_VALUE) {
        fmt_number(x, ch->pc, PQgetvalue(t->res, row, ch->pc->ival), num,
                   sizeof num, 1);
        sp_buf_puts(&b, num);
        fmt_number(x, ch->pc, PQgetvalue(t->res, row, ch->pc->ival), num,
                   sizeof num, 0);
        csv_field(&csv, x, num, 0);
      } else {
        sp_buf_puts(&b, no_value_text(x, k));
        csv_field(&csv, x, no_value_text(x, k), 0);
      }
      if (k == CELL_HIDDEN)
        put_sup(&b,
                (size_t)strset_find(&ch->reasons, row_reason(x, t, row)) + 1);
      free(owned[s]);
      owned[s] = b.data;
      cells[s + 1] = b.data ? b.data : "";
    }
    sp_buf_puts(&csv, "\r\n");
    sp_doc_table_row(d, cells, ns + 1);
  }
  sp_doc_table_end(d);
  if (d->html)
    sp_doc_raw(d, "</div>\n");
  char file[96];
  snprintf(file, sizeof file, "%s-%s.csv", t->ind->name, ch->id);
  csv_link(x, &csv, file);
  sp_buf_free(&csv);
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
    if (x->da)
      sp_doc_textf(d, "%s %zu punkt%s skjult: %s.", m.data, ch->hidden[r],
                   ch->hidden[r] == 1 ? "" : "er", ch->reasons.v[r]);
    else
      sp_doc_textf(d, "%s %zu point%s hidden: %s.", m.data, ch->hidden[r],
                   ch->hidden[r] == 1 ? "" : "s", ch->reasons.v[r]);
    sp_doc_raw(d, d->html ? "</p>\n" : "\n\n");
    sp_buf_free(&m);
  }
  if (ch->nundef)
    sp_doc_para(d,
                L("n/a: %zu point%s not defined (nothing to divide by).",
                  "ikke def.: %zu punkt%s uden værdi (intet at dividere "
                  "med)."),
                ch->nundef, ch->nundef == 1 ? "" : L("s", "er"));
  if (ch->npending)
    sp_doc_para(d,
                L("not known yet: %zu point%s of the latest period, which "
                  "can only be counted once the following period's data "
                  "is in.",
                  "ikke opgjort endnu: %zu punkt%s i den seneste periode, "
                  "som først kan opgøres, når data for perioden efter er "
                  "kommet."),
                ch->npending, ch->npending == 1 ? "" : L("s", "er"));
}

static void render_chart(rep *x, chart *ch) {
  sp_doc *d = x->d;
  size_t nt = ch->times->n, ns = ch->series->n;
  /* Count the hidden points by reason, in order of first appearance. */
  for (size_t i = 0; i < nt; i++)
    for (size_t s = 0; s < ns; s++)
      if (cell(ch->t, ch->grid[i * ns + s], ch->pc, NULL) == CELL_HIDDEN)
        strset_add(&ch->reasons, row_reason(x, ch->t, ch->grid[i * ns + s]));
  ch->hidden = sp_xcalloc(ch->reasons.n + 1, sizeof *ch->hidden);
  for (size_t i = 0; i < nt * ns; i++) {
    cell_kind k = cell(ch->t, ch->grid[i], ch->pc, NULL);
    if (k == CELL_HIDDEN)
      ch->hidden[strset_find(&ch->reasons,
                             row_reason(x, ch->t, ch->grid[i]))]++;
    ch->nundef += k == CELL_UNDEF;
    ch->npending += k == CELL_PENDING;
  }
  /* The table under the chart, not beside it: beside, it was cut off on
   * a laptop's screen. */
  if (d->html) {
    sp_doc_raw(d, "<figure>\n");
    svg_chart(x, ch);
    sp_doc_raw(d, "</figure>\n");
  }
  chart_notes(x, ch);
  chart_table(x, ch);
  free(ch->hidden);
  free(ch->reasons.v);
}

/* ---- an indicator ----------------------------------------------------- */

static void measure_list(rep *x, const itab *t) {
  const sp_indicator *ind = t->ind;
  for (size_t i = 0; i < t->ncols; i++) {
    const pubcol *pc = &t->cols[i];
    const char *desc = pc->m->description ? pc->m->description : "";
    if (pc->change) {
      sp_doc_item(x->d, pc->label,
                  L("the change in %s since %s, in the same units (a share "
                    "in percentage points)",
                    "ændringen i %s siden %s, i samme enhed (for en andel i "
                    "procentpoint)"),
                  SP_MEASURE_LABEL(pc->m), ind->baseline ? ind->baseline : "");
    } else if (pc->m->kind == SP_MEASURE_RATIO) {
      /* "(below_average / pupils x 100, 1 decimal)"; a scale of 1 is not
       * written at all. */
      char scale[64] = "";
      if (pc->m->scale != 1) {
        snprintf(scale, sizeof scale, " %s %g", x->da ? "\xc3\x97" : "x",
                 pc->m->scale);
        localise(x, scale + strlen(x->da ? " \xc3\x97 " : " x "),
                 sizeof scale - strlen(x->da ? " \xc3\x97 " : " x "), 1);
      }
      int dec = decimals_of(pc);
      sp_doc_item(
          x->d, pc->label,
          L("%s%s(%s / %s%s, %d decimal%s)", "%s%s(%s / %s%s, %d decimal%s)"),
          desc, *desc ? " " : "",
          SP_MEASURE_LABEL(&ind->measures[pc->m->numerator]),
          SP_MEASURE_LABEL(&ind->measures[pc->m->denominator]), scale, dec,
          dec == 1 ? "" : L("s", "er"));
    } else {
      sp_doc_item(x->d, pc->label, L("%s%s(a count)", "%s%s(et antal)"), desc,
                  *desc ? " " : "");
    }
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
      sp_buf_printf(&hb, "%s%s", hb.len ? ", " : "", dim_label(x, ind, (int)i));
  held = hb.data;
  if (times.n == 0) {
    sp_doc_para(x->d,
                L("partner.%s has no rows to chart yet.",
                  "partner.%s har endnu ingen tal at vise."),
                ind->name);
  } else if (held) {
    sp_doc_para(x->d,
                L("The charts show the totals (%s) over %s.",
                  "Figurerne viser totalen (%s) over %s."),
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
        sp_buf_printf(&h, "%s%s: %.*s", h.len ? ", " : "",
                      dim_label(x, ind, (int)i), (int)len, p);
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

/* Every published figure: as a table when not too long, and always as a
 * CSV file. */
static void full_table(rep *x, const itab *t) {
  sp_doc *d = x->d;
  const sp_indicator *ind = t->ind;
  int nrows = PQntuples(t->res);
  int shown = nrows <= FULL_TABLE_MAX_ROWS;
  size_t n = ind->ndims + t->ncols + 1;
  const char **heads = sp_xcalloc(n, sizeof *heads);
  const char **cells = sp_xcalloc(n, sizeof *cells);
  char **owned = sp_xcalloc(t->ncols, sizeof *owned);
  sp_buf csv;
  sp_buf_init(&csv);
  for (size_t i = 0; i < ind->ndims; i++)
    heads[i] = dim_label(x, ind, (int)i);
  for (size_t i = 0; i < t->ncols; i++)
    heads[ind->ndims + i] = t->cols[i].label;
  heads[n - 1] = L("why hidden", "hvorfor skjult");
  for (size_t i = 0; i < n; i++)
    csv_field(&csv, x, heads[i], i == 0);
  sp_buf_puts(&csv, "\r\n");
  if (!shown) {
    sp_doc_para(d,
                L("All %d published figures of this indicator are too many "
                  "to list here; they are in the CSV file below.",
                  "Indikatorens %d rækker er for mange til at vise her; "
                  "alle tallene er i CSV-filen herunder."),
                nrows);
  } else {
    if (d->html)
      sp_doc_raw(d, "<details>\n<summary>");
    sp_doc_textf(d,
                 L("All published figures (%d rows)",
                   "Alle offentliggjorte tal (%d rækker)"),
                 nrows);
    sp_doc_raw(d, d->html ? "</summary>\n<div class=\"data full\">\n" : "\n\n");
    sp_doc_table_begin(d, heads, n);
  }
  for (int r = 0; r < nrows; r++) {
    int any = 0;
    for (size_t i = 0; i < ind->ndims; i++) {
      cells[i] = PQgetvalue(t->res, r, (int)i);
      csv_field(&csv, x, cells[i], i == 0);
    }
    for (size_t i = 0; i < t->ncols; i++) {
      char num[64] = "";
      cell_kind k = cell(t, r, &t->cols[i], NULL);
      if (k == CELL_VALUE) {
        fmt_number(x, &t->cols[i], PQgetvalue(t->res, r, t->cols[i].ival), num,
                   sizeof num, 0);
        csv_field(&csv, x, num, 0);
        fmt_number(x, &t->cols[i], PQgetvalue(t->res, r, t->cols[i].ival), num,
                   sizeof num, 1);
      } else {
        snprintf(num, sizeof num, "%s", no_value_text(x, k));
        csv_field(&csv, x, num, 0);
      }
      any |= k == CELL_HIDDEN;
      free(owned[i]);
      owned[i] = sp_xstrdup(num);
      cells[ind->ndims + i] = owned[i];
    }
    cells[n - 1] = any ? row_reason(x, t, r) : "";
    csv_field(&csv, x, cells[n - 1], 0);
    sp_buf_puts(&csv, "\r\n");
    if (shown)
      sp_doc_table_row(d, cells, n);
  }
  if (shown) {
    sp_doc_table_end(d);
    if (d->html)
      sp_doc_raw(d, "</div>\n");
  }
  char file[96];
  snprintf(file, sizeof file, "%s-%s.csv", ind->name, L("all", "alle"));
  csv_link(x, &csv, file);
  if (shown && d->html)
    sp_doc_raw(d, "</details>\n");
  sp_buf_free(&csv);
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
                L("%zu of the table's %zu counts (%.0f%%) are hidden to "
                  "protect the people behind them.",
                  "%zu af tabellens %zu antal (%.0f %%) er skjult for at "
                  "beskytte personerne bag dem."),
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
                L("The chart shows %s over %s, %s%s%s%s%s.",
                  "Figuren viser %s over %s, %s%s%s%s%s."),
                t->cols[t->chart].label, dim_label(x, ind, ind->time_dim),
                lines ? L("one line per ", "én linje pr. ")
                      : L("as one line", "som én linje"),
                lines ? dim_label(x, ind, ind->series_dim) : "",
                black ? L(" (the black line: ", " (den sorte linje: ") : "",
                black ? x->p->total_label : "", black ? ")" : "");
  if (t->final_note)
    sp_doc_para(d, "%s", t->final_note);
  measure_list(x, t);
  hidden_share(x, t);
  if (t->chart < 0)
    sp_doc_para(d, L("It publishes no count or ratio to chart.",
                     "Den har intet antal og ingen andel at vise i en "
                     "figur."));
  else
    charts(x, t);
  full_table(x, t);
}

/* ---- the page --------------------------------------------------------- */

static const char report_css[] =
    ".made{color:#555}\n"
    "figure{margin:1em 0 0}\n"
    "svg.chart{max-width:100%;height:auto;font-size:12px}\n"
    "svg.chart text{fill:#222}\n"
    /* A table fits the page or scrolls inside its box; a value (a month,
     * a number) never wraps, a header and the reason may. */
    ".data{max-width:100%;overflow-x:auto}\n"
    ".data table{width:auto;margin:.5em 0}\n"
    ".data td{white-space:nowrap}\n"
    ".data th{hyphens:auto;overflow-wrap:anywhere}\n"
    ".full td:last-child{white-space:normal;min-width:12em}\n"
    ".data td+td{text-align:right;font-variant-numeric:tabular-nums}\n"
    ".full td:last-child{text-align:left}\n"
    ".csv{margin:.2em 0 1.5em}\n"
    ".note{font-size:.9em;color:#444;margin:.2em 0}\n"
    ".missing{background:#fff4d6;border-left:4px solid #E69F00;"
    "padding:.5em 1em}\n"
    "details{margin:1em 0}summary{cursor:pointer;color:#0072B2}\n";

static void suppression_words(rep *x) {
  int th = x->p->threshold;
  if (x->da) {
    sp_doc_heading(x->d, 2, "Om tallene");
    sp_doc_para(
        x->d,
        "Alle tal er antal personer, eller andele og ændringer beregnet ud "
        "fra sådanne antal; ingen person kan ses. Antal fra 1 til %d er "
        "skjult (vist som " EN_DASH "), fordi en gruppe på færre end %d kan "
        "pege på en person; et antal på 0 vises. Andele og ændringer, der "
        "bygger på et skjult antal, er også skjult. Hvor det er nødvendigt, "
        "er flere tal skjult (sekundær diskretionering), så intet skjult "
        "antal kan regnes ud eller indkredses ud fra alt det viste: totaler, "
        "naboceller, nuller, andele og tidligere udgaver af tabellerne. "
        "Alle skjulte tal har den samme begrundelse.",
        th, th + 1);
    sp_doc_para(x->d,
                "Rækker med %s er totaler over alle værdier af den "
                "dimension. I figurerne er et skjult punkt et hul i linjen, "
                "som aldrig bygges bro over, markeret med en hul cirkel "
                "lige under tidsaksen (hold musen over den for at se "
                "hvorfor); tabellen under figuren viser det som " EN_DASH
                " med en fodnote. \"ikke def.\" er en andel uden noget at "
                "dividere med; \"ikke opgjort endnu\" er et tal for den "
                "seneste periode, der først kan opgøres, når data for "
                "perioden efter er kommet. Hver tabel kan hentes som "
                "CSV-fil (semikolon og decimalkomma, som et dansk "
                "regneark forventer).",
                x->p->total_label);
    return;
  }
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
              "axis (hover over it for the reason); the table under the "
              "chart shows it as " EN_DASH
              " with a footnote that says why. n/a marks a share with "
              "nothing to divide by; \"not known yet\" a figure of the "
              "latest period that can only be counted once the following "
              "period's data is in. Each table can be downloaded as a CSV "
              "file.",
              x->p->total_label);
}

/* Where the figures are for those who work with them in SQL: at the end,
 * not as the reader's first instruction. */
static void analyst_words(rep *x) {
  const sp_partner *p = x->p;
  if (p->nindicators == 0)
    return;
  sp_doc_heading(x->d, 2, "%s", L("For analysts", "For analytikere"));
  sp_buf names;
  sp_buf_init(&names);
  for (size_t i = 0; i < p->nindicators; i++)
    sp_buf_printf(&names, "%spartner.%s", i ? ", " : "", p->indicators[i].name);
  sp_doc_para(x->d,
              L("The figures are the tables of schema partner in the "
                "warehouse, one per indicator: %s. A partner login reads "
                "them with SQL (for example SELECT * FROM partner.%s); the "
                "data dictionary (samspor docs) describes every column.",
                "Tallene er tabellerne i skemaet partner i "
                "datavarehuset, én pr. indikator: %s. Et partnerlogin kan "
                "læse dem med SQL (for eksempel SELECT * FROM partner.%s); "
                "dataordbogen (samspor docs) beskriver hver kolonne."),
              names.data, p->indicators[0].name);
  sp_buf_free(&names);
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
    d->lang = x->da ? "da" : "en";
    sp_doc_begin(d, title, report_css);
    sp_doc_heading(d, 1, "%s", title);
    sp_doc_raw(d, d->html ? "<p class=\"made\">" : "");
    sp_doc_textf(d,
                 L("Made at %s by samspor %s from the partner tables of the "
                   "warehouse (database %s).",
                   "Lavet %s af samspor %s ud fra partnertabellerne i "
                   "datavarehuset (database %s)."),
                 now, PACKAGE_VERSION, PQdb(x->conn));
    sp_doc_raw(d, d->html ? "</p>\n" : "\n\n");
    if (p->nindicators == 0)
      sp_doc_para(d, L("No indicators are configured (partner.indicators "
                       "in the configuration).",
                       "Der er ikke opsat nogen indikatorer "
                       "(partner.indicators i opsætningen)."));
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
    analyst_words(x);
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
  x.da = x.p->report_da;
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
