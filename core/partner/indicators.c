/*
 * indicators.c — the partner indicators: configuration model, the
 * suppression engine and the refresh of schema partner (see indicators.h).
 *
 * Why the suppression is done here and not in SQL views: a view over the
 * stream tables would have to be readable by samspor_partner, and then
 * secondary suppression (which looks at whole groups of cells and iterates
 * to a fixed point, with a rank test across several totals) would have to
 * be written in PL/pgSQL and rerun by every query.  Computing the cells once
 * per sync, in C, keeps the unsuppressed aggregates out of anything a
 * partner can read, makes the algorithm unit-testable, and makes partner
 * queries plain table reads.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <getopt.h>

#include "store/access.h"
#include "base/exitcode.h"
#include "model/conf.h"
#include "partner/indicators.h"
#include "base/log.h"
#include "partner/release.h"
#include "partner/report.h"
#include "store/schema.h"
#include "partner/suppress.h"
#include "store/warehouse.h"

/* ---- the cells of one indicator ------------------------------------------ */

typedef struct cells {
  size_t ndims, ncounts, nsums; /* per cell */
  size_t n, cap;
  const char **dimv; /* n * ndims; NULL = total; strings owned by `strings` */
  long long *cnt;    /* n * ncounts */
  double *sum;       /* n * nsums */
  sp_cell_index ix;  /* over the cells so far */
  PGresult *strings; /* the query result the dimension values point into */
} cells;

/* The cell with these dimension values (NULL = total), created zero. */
static size_t cells_get(cells *t, const char *const *vals, int *created) {
  long c = sp_index_find(&t->ix, t->dimv, t->ndims, vals, -1);
  *created = c < 0;
  if (c >= 0)
    return (size_t)c;
  if (t->n == t->cap) {
    t->cap = t->cap ? 2 * t->cap : 256;
    t->dimv = sp_xrealloc(t->dimv, t->cap * t->ndims * sizeof *t->dimv);
    t->cnt = sp_xrealloc(t->cnt, t->cap * (t->ncounts ? t->ncounts : 1) *
                                     sizeof *t->cnt);
    t->sum = sp_xrealloc(t->sum,
                         t->cap * (t->nsums ? t->nsums : 1) * sizeof *t->sum);
  }
  size_t n = t->n++;
  memcpy(t->dimv + n * t->ndims, vals, t->ndims * sizeof *vals);
  memset(t->cnt + n * t->ncounts, 0, t->ncounts * sizeof *t->cnt);
  memset(t->sum + n * t->nsums, 0, t->nsums * sizeof *t->sum);
  sp_index_add(&t->ix, t->dimv, t->ndims, n);
  return n;
}

static void cells_free(cells *t) {
  free(t->dimv);
  free(t->cnt);
  free(t->sum);
  free(t->ix.slots);
  PQclear(t->strings);
}

/* Indices of the counts and sums among an indicator's measures. */
static size_t measure_slots(const sp_indicator *ind, sp_measure_kind kind,
                            int *slot) {
  size_t n = 0;
  for (size_t i = 0; i < ind->nmeasures; i++)
    if (ind->measures[i].kind == kind)
      slot[i] = (int)n++;
  return n;
}

/* The indicator's query, selecting exactly the columns samspor reads, in
 * order and cast: a missing column is the server's clear error, and a
 * data-modifying statement cannot hide in a subquery. */
static void indicator_sql(const sp_indicator *ind, const char *total_label,
                          sp_buf *q, size_t *at) {
  if (!ind->coarsen && !ind->time_grain) {
    sp_buf_puts(q, "SELECT ");
    for (size_t d = 0; d < ind->ndims; d++)
      sp_buf_printf(q, "%s(q.%s)::text", d ? ", " : "", ind->dims[d]);
    for (size_t i = 0; i < ind->nmeasures; i++) {
      const sp_measure *m = &ind->measures[i];
      if (m->kind == SP_MEASURE_COUNT)
        sp_buf_printf(q, ", (q.%s)::bigint", m->name);
      else if (m->kind == SP_MEASURE_SUM)
        sp_buf_printf(q, ", (q.%s)::float8", m->name);
    }
    sp_buf_puts(q, " FROM (");
    if (at)
      *at = q->len;
    sp_buf_printf(q, "%.*s\n) AS q", (int)ind->query_len, ind->query);
    return;
  }
  /* Coarsened: the query's cells summed into the coarser ones, in SQL so
   * that the finer cells never reach samspor.  A month that is not
   * YYYY-MM maps to NULL, which load_cells reports. */
  sp_buf_puts(q, "SELECT ");
  for (size_t d = 0; d < ind->ndims; d++) {
    const char *sep = d ? ", " : "";
    if (ind->coarsen & (1u << d)) {
      sp_buf_printf(q, "%s'", sep);
      for (const char *c = total_label; *c; c++) /* a literal: quote ' */
        if (*c == '\'')
          sp_buf_puts(q, "''");
        else
          sp_buf_putc(q, *c);
      sp_buf_puts(q, "'::text");
    } else if ((int)d == ind->time_dim && ind->time_grain) {
      const char *v = ind->dims[d];
      sp_buf_printf(q,
                    "%sCASE WHEN q.%s::text ~ '^[0-9]{4}-(0[1-9]|1[0-2])$' "
                    "THEN substr(q.%s::text, 1, 4)",
                    sep, v, v);
      if (strcmp(ind->time_grain, "half") == 0)
        sp_buf_printf(
            q, " || '-H' || ((substr(q.%s::text, 6, 2)::int + 5) / 6)", v);
      else if (strcmp(ind->time_grain, "quarter") == 0)
        sp_buf_printf(
            q, " || '-Q' || ((substr(q.%s::text, 6, 2)::int + 2) / 3)", v);
      sp_buf_puts(q, " END");
    } else {
      sp_buf_printf(q, "%s(q.%s)::text", sep, ind->dims[d]);
    }
  }
  for (size_t i = 0; i < ind->nmeasures; i++) {
    const sp_measure *m = &ind->measures[i];
    if (m->kind == SP_MEASURE_COUNT)
      sp_buf_printf(q, ", sum(q.%s)::bigint", m->name);
    else if (m->kind == SP_MEASURE_SUM)
      sp_buf_printf(q, ", sum(q.%s)::float8", m->name);
  }
  sp_buf_puts(q, " FROM (");
  if (at)
    *at = q->len;
  sp_buf_printf(q, "%.*s\n) AS q GROUP BY ", (int)ind->query_len, ind->query);
  for (size_t d = 0; d < ind->ndims; d++)
    sp_buf_printf(q, "%s%zu", d ? ", " : "", d + 1);
}

/* SET LOCAL search_path to the warehouse schema (in a transaction). */
static int set_search_path(PGconn *conn, const sp_config *cfg, char *err,
                           size_t errlen) {
  const char *schema = sp_config_schema(cfg);
  char *id = PQescapeIdentifier(conn, schema, strlen(schema));
  char *sql =
      sp_xasprintf("SET LOCAL search_path = %s, public", id ? id : "warehouse");
  PQfreemem(id);
  int rc = sp_pg_exec(conn, sql, PGRES_COMMAND_OK, NULL, err, errlen);
  free(sql);
  return rc;
}

/*
 * Confine what an indicator's query may do (README "Security"): it runs
 * in a savepoint made read only (a subtransaction cannot make itself read
 * write again), as samspor_analyst_all when this session may take that
 * role (it reads the warehouse schema and partner, every area, and writes
 * nothing), and as one statement of the extended protocol (which refuses
 * a second one).  query_end rolls the savepoint back, which restores the
 * role and the transaction's read-write mode for the writes that follow.
 * Returns 0 or a SAMSPOR_E* code with a message in err.
 */
static int query_begin(PGconn *conn, char *err, size_t errlen) {
  PGresult *res = NULL;
  int rc = sp_pg_exec(conn, "SAVEPOINT samspor_indicator_query",
                      PGRES_COMMAND_OK, NULL, err, errlen);
  if (!rc)
    rc = sp_pg_exec(conn, "SET LOCAL transaction_read_only = on",
                    PGRES_COMMAND_OK, NULL, err, errlen);
  if (!rc)
    rc = sp_pg_exec(conn,
                    "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
                    "'" SP_ROLE_ANALYST_ALL "' AND pg_has_role(session_user, "
                    "oid, 'MEMBER'))",
                    PGRES_TUPLES_OK, &res, err, errlen);
  if (rc)
    return rc;
  int may = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
  PQclear(res);
  if (may)
    return sp_pg_exec(conn, "SET LOCAL ROLE " SP_ROLE_ANALYST_ALL,
                      PGRES_COMMAND_OK, NULL, err, errlen);
  static int warned; /* once per process: a standing deployment fact */
  if (!warned) {
    warned = 1;
    sp_warn(NULL,
            "indicator queries run read only but with this user's "
            "read rights: it is not a member of " SP_ROLE_ANALYST_ALL
            " (an administrator should run: GRANT " SP_ROLE_ANALYST_ALL
            " TO %s)",
            PQuser(conn));
  }
  return 0;
}

static void query_end(PGconn *conn) {
  PQclear(PQexec(conn, "ROLLBACK TO SAVEPOINT samspor_indicator_query"));
  PQclear(PQexec(conn, "RELEASE SAVEPOINT samspor_indicator_query"));
}

/* The query, as exactly one statement (PQexecParams: the extended
 * protocol refuses several). */
static PGresult *query_exec(PGconn *conn, const char *sql) {
  return PQexecParams(conn, sql, 0, NULL, NULL, NULL, NULL, 0);
}

/* Where in the indicator's query file the server's error is, as
 * "FILE:LINE: " (or "FILE: " when the error has no position in it); ""
 * for a query written in the configuration.  The server's position counts
 * characters of the statement, which holds the query from byte at on. */
static void error_where(const sp_indicator *ind, const PGresult *res,
                        const char *sql, size_t at, char *buf, size_t len) {
  if (!ind->query_file) {
    buf[0] = '\0';
    return;
  }
  const char *pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
  long want = pos ? strtol(pos, NULL, 10) : 0, chars = 0;
  int line = 0;
  for (size_t i = 0; want > 0 && sql[i]; i++) {
    if (((unsigned char)sql[i] & 0xc0) == 0x80)
      continue; /* a UTF-8 continuation byte */
    if (++chars == want) {
      if (i >= at && i < at + ind->query_len) {
        line = 1;
        for (size_t k = at; k < i; k++)
          line += sql[k] == '\n';
      }
      break;
    }
  }
  if (line)
    snprintf(buf, len, "%s:%d: ", ind->query_file, line);
  else
    snprintf(buf, len, "%s: ", ind->query_file);
}

int sp_indicators_check(PGconn *conn, const sp_config *c, FILE *out) {
  const sp_partner *p = sp_config_partner(c);
  char err[1024];
  int worst = sp_pg_exec(conn, "BEGIN READ ONLY", PGRES_COMMAND_OK, NULL, err,
                         sizeof err);
  if (!worst)
    worst = set_search_path(conn, c, err, sizeof err);
  if (worst) {
    fprintf(out, "  %-20s FAILED: %s\n", "indicators", err);
    return worst;
  }
  for (size_t i = 0; i < p->nindicators; i++) {
    const sp_indicator *ind = &p->indicators[i];
    char label[80];
    snprintf(label, sizeof label, "partner.%s", ind->name);
    if (query_begin(conn, err, sizeof err) != 0) {
      fprintf(out, "  %-20s FAILED: %s\n", label, err);
      worst = worst ? worst : SAMSPOR_EFAIL;
      query_end(conn);
      continue;
    }
    sp_buf q;
    sp_buf_init(&q);
    sp_buf_puts(&q, "EXPLAIN ");
    size_t at = 0;
    indicator_sql(ind, p->total_label, &q, &at);
    PGresult *res = query_exec(conn, q.data);
    char where[1100] = "";
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
      error_where(ind, res, q.data, at, where, sizeof where);
    sp_buf_free(&q);
    if (PQresultStatus(res) == PGRES_TUPLES_OK) {
      fprintf(out, "  %-20s ok (query plans)\n", label);
    } else {
      const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
      sp_pg_error(conn, res, err, sizeof err);
      if (state && strcmp(state, "42P01") == 0) {
        fprintf(out, "  %-20s waits: %s%s\n", label, where, err);
      } else {
        fprintf(out, "  %-20s FAILED: %s%s\n", label, where, err);
        worst = worst ? worst : SAMSPOR_EFAIL;
      }
    }
    PQclear(res);
    query_end(conn);
  }
  PQclear(PQexec(conn, "ROLLBACK"));
  return worst;
}

/*
 * Run the indicator's query and build the cells, totals included.
 * Returns 0, 1 when a table it reads does not exist yet, or a SAMSPOR_E*
 * code with a message in err.
 */
static int load_cells(PGconn *conn, const sp_partner *p,
                      const sp_indicator *ind, const int *slot, cells *t,
                      char *err, size_t errlen) {
  sp_buf q;
  sp_buf_init(&q);
  indicator_sql(ind, p->total_label, &q, NULL);
  int rc = query_begin(conn, err, errlen);
  PGresult *res = rc ? NULL : query_exec(conn, q.data);
  sp_buf_free(&q);
  if (rc) {
    query_end(conn);
    return rc;
  }
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    int missing = state && strcmp(state, "42P01") == 0;
    char msg[512];
    sp_pg_error(conn, res, msg, sizeof msg);
    sp_set_err(err, errlen, "indicator '%s': its query%s%s failed: %s",
               ind->name, ind->query_file ? " " : "",
               ind->query_file ? ind->query_file : "", msg);
    rc = missing ? 1 : sp_pg_classify(conn, res);
    PQclear(res);
    query_end(conn);
    return rc;
  }
  query_end(conn);
  t->strings = res;
  int nrows = PQntuples(res);
  const char *vals[SP_MAX_DIMS];
  for (int r = 0; r < nrows; r++) {
    size_t f = 0;
    for (size_t d = 0; d < ind->ndims; d++, f++) {
      if (PQgetisnull(res, r, (int)f)) {
        sp_set_err(err, errlen,
                   "indicator '%s': the query returned a row whose dimension "
                   "'%s' is NULL (filter or coalesce it in the query)%s",
                   ind->name, ind->dims[d],
                   (int)d == ind->time_dim && ind->time_grain
                       ? ", or not a YYYY-MM month that coarsen_time can "
                         "group"
                       : "");
        return SAMSPOR_EFAIL;
      }
      vals[d] = PQgetvalue(res, r, (int)f);
      if ((ind->totals & (1u << d)) && strcmp(vals[d], p->total_label) == 0) {
        sp_set_err(err, errlen,
                   "indicator '%s': dimension '%s' has a value equal to "
                   "partner.total_label; choose another total_label",
                   ind->name, ind->dims[d]);
        return SAMSPOR_EFAIL;
      }
    }
    /* The cell and every total it belongs to: all subsets of the totalled
     * dimensions. */
    for (unsigned mask = 0; mask <= ind->totals; mask++) {
      if (mask & ~ind->totals)
        continue;
      const char *key[SP_MAX_DIMS];
      for (size_t d = 0; d < ind->ndims; d++)
        key[d] = (mask & (1u << d)) ? NULL : vals[d];
      int created;
      size_t c = cells_get(t, key, &created);
      if (mask == 0 && !created) {
        sp_set_err(err, errlen,
                   "indicator '%s': the query returned two rows for one cell "
                   "(group by every dimension)",
                   ind->name);
        return SAMSPOR_EFAIL;
      }
      f = ind->ndims;
      for (size_t i = 0; i < ind->nmeasures; i++) {
        const sp_measure *m = &ind->measures[i];
        if (m->kind == SP_MEASURE_RATIO)
          continue;
        const char *v =
            PQgetisnull(res, r, (int)f) ? "0" : PQgetvalue(res, r, (int)f);
        f++;
        if (m->kind == SP_MEASURE_COUNT) {
          long long x = strtoll(v, NULL, 10);
          if (x < 0) {
            sp_set_err(err, errlen,
                       "indicator '%s': count '%s' is negative in a row",
                       ind->name, m->name);
            return SAMSPOR_EFAIL;
          }
          t->cnt[c * t->ncounts + (size_t)slot[i]] += x;
        } else {
          t->sum[c * t->nsums + (size_t)slot[i]] += strtod(v, NULL);
        }
      }
    }
  }
  return 0;
}

/* ---- writing partner.<name> ---------------------------------------------- */

/* qsort_r order of cell numbers: by dimension values, totals last. */
static int cell_cmp(const void *a, const void *b, void *arg) {
  const cells *t = arg;
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  for (size_t d = 0; d < t->ndims; d++) {
    const char *u = t->dimv[x * t->ndims + d];
    const char *v = t->dimv[y * t->ndims + d];
    if (!u != !v)
      return u ? -1 : 1; /* totals after the cells */
    int c = u ? strcmp(u, v) : 0;
    if (c)
      return c;
  }
  return 0;
}

static void copy_text(sp_buf *b, const char *s) {
  for (; *s; s++)
    switch (*s) {
    case '\\':
      sp_buf_puts(b, "\\\\");
      break;
    case '\t':
      sp_buf_puts(b, "\\t");
      break;
    case '\n':
      sp_buf_puts(b, "\\n");
      break;
    case '\r':
      sp_buf_puts(b, "\\r");
      break;
    default:
      sp_buf_putc(b, *s);
    }
}

/* One column of the partner table: "name type" for CREATE TABLE, or
 * "name:type" as the catalog check compares them. */
static void column(sp_buf *b, int catalog, const char *name, const char *suffix,
                   const char *type) {
  sp_buf_printf(b, "%s%s%s%s%s", b->len ? "," : "", name, suffix,
                catalog ? ":" : " ", type);
}

/* The partner table's columns, appended to b (which must be empty or end
 * where a column may follow). */
static void table_columns(const sp_indicator *ind, sp_buf *b, int catalog) {
  sp_buf tmp;
  sp_buf_init(&tmp);
  for (size_t d = 0; d < ind->ndims; d++)
    column(&tmp, catalog, ind->dims[d], "", "text");
  for (size_t i = 0; i < ind->nmeasures; i++) {
    const sp_measure *m = &ind->measures[i];
    if (m->kind == SP_MEASURE_SUM)
      continue;
    column(&tmp, catalog, m->name, "",
           m->kind == SP_MEASURE_COUNT ? "bigint" : "numeric");
    column(&tmp, catalog, m->name, "_suppressed", "boolean");
    if (m->change) {
      column(&tmp, catalog, m->name, "_change", "numeric");
      column(&tmp, catalog, m->name, "_change_suppressed", "boolean");
    }
  }
  column(&tmp, catalog, "suppressed", "", "boolean");
  column(&tmp, catalog, "suppression_reason", "", "text");
  column(&tmp, catalog, "final", "", "boolean");
  sp_buf_append(b, tmp.data, tmp.len);
  sp_buf_free(&tmp);
}

static int comment(PGconn *conn, const char *what, const char *text, char *err,
                   size_t errlen) {
  char *lit = PQescapeLiteral(conn, text, strlen(text));
  char *sql = sp_xasprintf("COMMENT ON %s IS %s", what, lit ? lit : "NULL");
  PQfreemem(lit);
  int rc = sp_pg_exec(conn, sql, PGRES_COMMAND_OK, NULL, err, errlen);
  free(sql);
  return rc;
}

static int comment_all(PGconn *conn, const sp_partner *p,
                       const sp_indicator *ind, char *err, size_t errlen) {
  char what[160], text[1024];
  snprintf(what, sizeof what, "TABLE partner.%s", ind->name);
  snprintf(text, sizeof text,
           "%s%s%s Counts from %d to %d are suppressed (NULL, flag "
           "*_suppressed), and further cells chosen by a disclosure audit so "
           "that no hidden count can be worked out or narrowed below %lld "
           "from everything published. Refreshed by samspor after every "
           "sync.",
           ind->title, ind->description ? ". " : ".",
           ind->description ? ind->description : "", p->protect_zeros ? 0 : 1,
           p->threshold, p->width);
  int rc = comment(conn, what, text, err, errlen);
  for (size_t d = 0; !rc && d < ind->ndims; d++) {
    snprintf(what, sizeof what, "COLUMN partner.%s.%s", ind->name,
             ind->dims[d]);
    snprintf(text, sizeof text, "Dimension%s%s",
             (int)d == ind->time_dim ? " (time)" : "",
             (ind->totals & (1u << d)) ? "; total rows hold the total label"
                                       : "");
    if (ind->totals & (1u << d)) {
      size_t l = strlen(text);
      snprintf(text + l, sizeof text - l, " '%s'", p->total_label);
    }
    rc = comment(conn, what, text, err, errlen);
  }
  for (size_t i = 0; !rc && i < ind->nmeasures; i++) {
    const sp_measure *m = &ind->measures[i];
    if (m->kind == SP_MEASURE_SUM)
      continue;
    snprintf(what, sizeof what, "COLUMN partner.%s.%s", ind->name, m->name);
    if (m->kind == SP_MEASURE_COUNT)
      snprintf(text, sizeof text, "%s%sNULL when suppressed.",
               m->description ? m->description : "Count",
               m->description ? " " : ". ");
    else
      snprintf(text, sizeof text,
               "%s%s%s / %s x %g, rounded to %d decimals; NULL when either "
               "is suppressed or the denominator is 0.",
               m->description ? m->description : "Ratio",
               m->description ? " = " : ": ", ind->measures[m->numerator].name,
               ind->measures[m->denominator].name, m->scale, m->decimals);
    rc = comment(conn, what, text, err, errlen);
    if (!rc && m->change) {
      snprintf(what, sizeof what, "COLUMN partner.%s.%s_change", ind->name,
               m->name);
      snprintf(text, sizeof text,
               "%s minus its value in the baseline period %s (same other "
               "dimensions); NULL when either is suppressed or missing.",
               m->name, ind->baseline);
      rc = comment(conn, what, text, err, errlen);
    }
  }
  if (!rc) {
    char fa[32];
    sp_duration_format(p->freeze_after, fa, sizeof fa);
    snprintf(what, sizeof what, "COLUMN partner.%s.final", ind->name);
    snprintf(text, sizeof text,
             "True: the row's period is final, closed %s after it ended; its "
             "figures were published as they are and are never recomputed. "
             "False: later data may still change them.",
             fa);
    rc = comment(conn, what, text, err, errlen);
  }
  return rc;
}

/* Create partner.<name>, or empty it when its columns are already the
 * configured ones (so grants and dependent views of analysts survive). */
static int prepare_table(PGconn *conn, const sp_indicator *ind, char *err,
                         size_t errlen) {
  sp_buf want, sql;
  sp_buf_init(&want);
  sp_buf_init(&sql);
  table_columns(ind, &want, 1);
  char *rel = sp_xasprintf("partner.%s", ind->name);
  const char *params[1] = {rel};
  PGresult *res = NULL;
  int rc = sp_pg_execp(
      conn,
      "SELECT string_agg(attname || ':' || format_type(atttypid, NULL), ',' "
      "ORDER BY attnum) FROM pg_attribute WHERE attrelid = to_regclass($1) "
      "AND attnum > 0 AND NOT attisdropped",
      1, params, PGRES_TUPLES_OK, &res, err, errlen);
  if (!rc) {
    int exists = !PQgetisnull(res, 0, 0);
    int same = exists && strcmp(PQgetvalue(res, 0, 0), want.data) == 0;
    if (same)
      sp_buf_printf(&sql, "TRUNCATE %s", rel);
    else {
      if (exists)
        sp_buf_printf(&sql, "DROP TABLE %s; ", rel);
      sp_buf_printf(&sql, "CREATE TABLE %s (", rel);
      table_columns(ind, &sql, 0);
      sp_buf_puts(&sql, ", PRIMARY KEY (");
      for (size_t d = 0; d < ind->ndims; d++)
        sp_buf_printf(&sql, "%s%s", d ? ", " : "", ind->dims[d]);
      sp_buf_puts(&sql, "))");
    }
    rc = sp_pg_exec(conn, sql.data, PGRES_COMMAND_OK, NULL, err, errlen);
  }
  PQclear(res);
  free(rel);
  sp_buf_free(&want);
  sp_buf_free(&sql);
  return rc;
}

/* Name a hidden measure in the row's reason. */
static void add_hidden(sp_buf *r, const char *name, const char *suffix) {
  sp_buf_printf(r, "%s%s%s", r->len ? ", " : "", name, suffix);
}

/*
 * One row of COPY text for cell c.  Every hidden value gets the same
 * neutral reason (partner.hidden_label): the audit assumes the partner
 * cannot tell a small count from one hidden to protect it, so the table
 * must not tell either.  Only a period withheld whole says so.
 */
static void write_row(sp_buf *out, const sp_partner *p, const sp_indicator *ind,
                      const cells *t, const int *slot,
                      const unsigned char *flags, const double *ratio,
                      const unsigned char *rsupp, size_t c, long base,
                      size_t nratios, const char *latest, size_t *nsupp) {
  sp_buf reason;
  sp_buf_init(&reason);
  int any = 0, withheld = 0;
  /* The latest period: a count that needs the next period is not known
   * there (the query finds 0), nor is a ratio built on it.  Publishing
   * NULL there shows less than the audit cleared, which is safe. */
  int unknown_here = latest && ind->time_dim >= 0 &&
                     strcmp(t->dimv[c * t->ndims + ind->time_dim], latest) == 0;
  for (size_t d = 0; d < ind->ndims; d++) {
    const char *v = t->dimv[c * t->ndims + d];
    if (d)
      sp_buf_putc(out, '\t');
    copy_text(out, v ? v : p->total_label);
  }
  for (size_t i = 0; i < ind->nmeasures; i++) {
    const sp_measure *m = &ind->measures[i];
    if (m->kind == SP_MEASURE_SUM)
      continue;
    if (m->kind == SP_MEASURE_COUNT) {
      unsigned char f = flags[c * t->ncounts + (size_t)slot[i]];
      if (f)
        sp_buf_puts(out, "\t\\N\tt");
      else if (unknown_here && m->needs_next)
        sp_buf_puts(out, "\t\\N\tf");
      else
        sp_buf_printf(out, "\t%lld\tf",
                      t->cnt[c * t->ncounts + (size_t)slot[i]]);
      if (f)
        add_hidden(&reason, m->name, "");
      withheld |= f == SP_SUPP_WITHHELD;
      any |= f != 0;
      continue;
    }
    size_t k = (size_t)slot[i];
    double x = ratio[c * nratios + k];
    unsigned char s = rsupp[c * nratios + k];
    if (unknown_here && (ind->measures[m->numerator].needs_next ||
                         ind->measures[m->denominator].needs_next))
      x = NAN;
    if (s || isnan(x))
      sp_buf_printf(out, "\t\\N\t%c", s ? 't' : 'f');
    else
      sp_buf_printf(out, "\t%.*f\tf", m->decimals, x);
    if (s)
      add_hidden(&reason, m->name, "");
    any |= s;
    if (m->change) {
      double y = base >= 0 ? ratio[(size_t)base * nratios + k] : NAN;
      unsigned char bs = base >= 0 ? rsupp[(size_t)base * nratios + k] : 0;
      if (s || bs)
        sp_buf_puts(out, "\t\\N\tt");
      else if (isnan(x) || isnan(y))
        sp_buf_puts(out, "\t\\N\tf");
      else
        sp_buf_printf(out, "\t%.*f\tf", m->decimals, x - y);
      if (s || bs)
        add_hidden(&reason, m->name, "_change");
      any |= s || bs;
    }
  }
  if (reason.len)
    sp_buf_printf(&reason, ": %s%s", p->hidden_label,
                  withheld ? "; the whole period is withheld" : "");
  sp_buf_printf(out, "\t%c\t", any ? 't' : 'f');
  if (reason.len)
    copy_text(out, reason.data);
  else
    sp_buf_puts(out, "\\N");
  sp_buf_putc(out, '\n');
  *nsupp += any;
  sp_buf_free(&reason);
}

/* Every declared subset holds in every cell (totals are sums, so they
 * follow): the audit relies on it, and a query that breaks it is wrong. */
static int check_subsets(const sp_indicator *ind, const cells *t,
                         const int *slot, char *err, size_t errlen) {
  for (size_t i = 0; i < ind->nmeasures; i++) {
    const sp_measure *m = &ind->measures[i];
    if (m->kind != SP_MEASURE_COUNT || m->subset_of < 0)
      continue;
    size_t a = (size_t)slot[i], b = (size_t)slot[m->subset_of];
    for (size_t c = 0; c < t->n; c++)
      if (t->cnt[c * t->ncounts + a] > t->cnt[c * t->ncounts + b]) {
        sp_set_err(err, errlen,
                   "indicator '%s': count '%s' is declared subset_of '%s' "
                   "but exceeds it in a cell (fix the query or the "
                   "declaration)",
                   ind->name, m->name, ind->measures[m->subset_of].name);
        return SAMSPOR_EFAIL;
      }
  }
  return 0;
}

/* How much a table hides: of the cells' (not the totals') count values,
 * the share hidden, and the share of their sum the hidden ones hold. */
typedef struct info_loss {
  double cell_share, count_share; /* percent */
} info_loss;

static info_loss measure_loss(const cells *t, size_t n,
                              const unsigned char *flags) {
  size_t nval = 0, nhid = 0;
  long double sum = 0, hid = 0;
  for (size_t c = 0; c < n; c++) {
    int inner = 1;
    for (size_t d = 0; d < t->ndims; d++)
      inner &= t->dimv[c * t->ndims + d] != NULL;
    if (!inner)
      continue;
    for (size_t v = 0; v < t->ncounts; v++) {
      long long x = t->cnt[c * t->ncounts + v];
      int h = flags[c * t->ncounts + v] != 0;
      nval++;
      nhid += h;
      sum += x;
      hid += h ? x : 0;
    }
  }
  info_loss il = {nval ? 100.0 * (double)nhid / (double)nval : 0,
                  sum > 0 ? (double)(100.0L * hid / sum) : 0};
  return il;
}

/* ---- releases and frozen periods (release.h) ----------------------------- */

/* Read the indicator's releases and drop the cells of its frozen periods
 * (they are published from their release, and take no part in the
 * suppression); *prev receives the counts the latest releases published
 * for the remaining cells (sp_release_prev). */
static int releases_begin(PGconn *conn, const sp_partner *p,
                          const sp_indicator *ind, cells *t, sp_releases *rel,
                          long long **prev, char *err, size_t errlen) {
  sp_buf layout;
  sp_buf_init(&layout);
  table_columns(ind, &layout, 1);
  /* Coarsening changes what a row means, not its columns: part of the
   * layout too, so that final months are not mixed with new quarters. */
  for (size_t d = 0; d < ind->ndims; d++)
    if (ind->coarsen & (1u << d))
      sp_buf_printf(&layout, ";coarsen=%s", ind->dims[d]);
  if (ind->time_grain)
    sp_buf_printf(&layout, ";coarsen_time=%s", ind->time_grain);
  int rc = sp_release_load(conn, p, ind, layout.data, rel, err, errlen);
  sp_buf_free(&layout);
  if (rc)
    return rc;
  if (rel->nfrozen && ind->time_dim >= 0) {
    size_t k = 0;
    for (size_t c = 0; c < t->n; c++) {
      if (sp_release_frozen(rel, t->dimv[c * t->ndims + ind->time_dim]))
        continue;
      if (k != c) {
        memcpy(t->dimv + k * t->ndims, t->dimv + c * t->ndims,
               t->ndims * sizeof *t->dimv);
        memcpy(t->cnt + k * t->ncounts, t->cnt + c * t->ncounts,
               t->ncounts * sizeof *t->cnt);
        memcpy(t->sum + k * t->nsums, t->sum + c * t->nsums,
               t->nsums * sizeof *t->sum);
      }
      k++;
    }
    t->n = k;
    free(t->ix.slots);
    sp_index_build(&t->ix, t->dimv, t->ndims, t->n);
  }
  *prev = sp_release_prev(rel, t->dimv, t->n, t->ncounts);
  return 0;
}

/* A change is measured against the baseline's published (rounded) ratio,
 * so that it is the same whether the baseline period is computed now or
 * frozen.  When it is computed now, its ratios are replaced by their
 * published values (printing them again gives the same text).  When it is
 * frozen, its rows are added as cells after the computed ones (cells t->n
 * on; they are not written), with the ratio and its flag from the
 * release. */
static void baseline_published(const sp_indicator *ind, const sp_releases *rel,
                               cells *t, const int *slot, size_t nratios,
                               double **ratio, unsigned char **rsupp) {
  if (!ind->baseline || ind->time_dim < 0 || nratios == 0)
    return;
  if (!sp_release_frozen(rel, ind->baseline)) {
    for (size_t c = 0; c < t->n; c++) {
      const char *period = t->dimv[c * t->ndims + ind->time_dim];
      if (strcmp(period, ind->baseline) != 0)
        continue;
      for (size_t i = 0; i < ind->nmeasures; i++) {
        const sp_measure *m = &ind->measures[i];
        double *x = &(*ratio)[c * nratios + (size_t)slot[i]];
        if (m->kind != SP_MEASURE_RATIO || isnan(*x))
          continue;
        char buf[64];
        snprintf(buf, sizeof buf, "%.*f", m->decimals, *x);
        *x = strtod(buf, NULL);
      }
    }
    return;
  }
  size_t first;
  size_t n = sp_release_period_rows(rel, ind->baseline, &first);
  if (n == 0)
    return;
  *ratio = sp_xrealloc(*ratio, (t->n + n) * nratios * sizeof **ratio);
  *rsupp = sp_xrealloc(*rsupp, (t->n + n) * nratios);
  for (size_t r = first; r < first + n; r++) {
    int created;
    size_t c = cells_get(t, sp_release_row_dims(rel, r), &created);
    if (!created)
      continue;
    for (size_t i = 0; i < ind->nmeasures; i++) {
      const sp_measure *m = &ind->measures[i];
      if (m->kind != SP_MEASURE_RATIO)
        continue;
      const char *v = NULL, *f = NULL;
      char name[64];
      snprintf(name, sizeof name, "%s_suppressed", m->name);
      sp_release_field(rel, r, m->name, &v);
      sp_release_field(rel, r, name, &f);
      size_t k = c * nratios + (size_t)slot[i];
      (*ratio)[k] = v ? strtod(v, NULL) : NAN;
      (*rsupp)[k] = f && strcmp(f, "t") == 0;
    }
  }
}

/* The row write_row just wrote (from offset start) gets its `final`
 * column, and is noted for the release of its period.  A period the
 * audit withheld is not final: it is published, audited, for the first
 * time when it can be. */
static void end_row(sp_buf *out, size_t start, const sp_indicator *ind,
                    const cells *t, size_t c, const unsigned char *flags,
                    sp_releases *rel) {
  const char *period =
      ind->time_dim >= 0 ? t->dimv[c * t->ndims + ind->time_dim] : "";
  int withheld = t->ncounts && flags[c * t->ncounts] == SP_SUPP_WITHHELD;
  int final = ind->time_dim >= 0 && !withheld && sp_release_closed(rel, period);
  out->len--; /* the newline */
  sp_buf_puts(out, final ? "\tt\n" : "\tf\n");
  sp_release_add_row(rel, period, start, out->len - start, final);
}

/* The disclosure audit of the cells' counts: fills *flags (per count, as
 * sp_suppress_audit) and *subset_of, which the caller frees, and *st.
 * Returns the seconds it took, for the log line. */
static double audit_cells(const sp_partner *p, const sp_indicator *ind,
                          const cells *t, const int *slot,
                          const long long *prev, unsigned char **flags,
                          int **subset_of, sp_supp_stats *st) {
  sp_logctx ctx = {0};
  *flags = sp_xcalloc(t->n * (t->ncounts ? t->ncounts : 1), 1);
  *subset_of = sp_xcalloc(t->ncounts ? t->ncounts : 1, sizeof **subset_of);
  for (size_t i = 0; i < ind->nmeasures; i++)
    if (ind->measures[i].kind == SP_MEASURE_COUNT)
      (*subset_of)[slot[i]] = ind->measures[i].subset_of >= 0
                                  ? slot[ind->measures[i].subset_of]
                                  : -1;
  sp_supp_opts so = {.threshold = p->threshold,
                     .protect_zeros = p->protect_zeros,
                     .width = p->width,
                     .subset_of = *subset_of,
                     .known = prev,
                     .time_dim = ind->time_dim,
                     /* "0s": no time at all, so every period is withheld
                      * (the fail-safe, on demand) */
                     .budget = p->audit_budget > 0 ? p->audit_budget : 1e-9};
  double t0 = sp_now_mono();
  sp_suppress_audit(t->dimv, t->ndims, t->n, t->cnt, t->ncounts, &so, *flags,
                    st);
  double audit_s = sp_now_mono() - t0;
  if (st->withheld_periods)
    sp_warn(&ctx,
            "indicator %s: %zu period(s) withheld whole: the disclosure "
            "audit %s (coarser dimensions, fewer totals or a larger "
            "partner.audit_budget publish more)",
            ind->name, st->withheld_periods,
            st->timed_out ? "ran out of partner.audit_budget"
                          : "found no further cell to hide that would "
                            "protect a hidden count");
  return audit_s;
}

/* Each cell's ratios from its counts and sums, hidden when a count they
 * divide is hidden. */
static void cell_ratios(const sp_indicator *ind, const cells *t,
                        const int *slot, size_t nratios,
                        const unsigned char *flags, double *ratio,
                        unsigned char *rsupp) {
  for (size_t c = 0; c < t->n; c++)
    for (size_t i = 0; i < ind->nmeasures; i++) {
      const sp_measure *m = &ind->measures[i];
      if (m->kind != SP_MEASURE_RATIO)
        continue;
      const sp_measure *num = &ind->measures[m->numerator];
      size_t dk = (size_t)slot[m->denominator];
      long long den = t->cnt[c * t->ncounts + dk];
      int ds = flags[c * t->ncounts + dk] != 0;
      int ns = num->kind == SP_MEASURE_COUNT &&
               flags[c * t->ncounts + (size_t)slot[m->numerator]];
      double x =
          num->kind == SP_MEASURE_COUNT
              ? (double)t->cnt[c * t->ncounts + (size_t)slot[m->numerator]]
              : t->sum[c * t->nsums + (size_t)slot[m->numerator]];
      size_t k = c * nratios + (size_t)slot[i];
      rsupp[k] = (unsigned char)(ds || ns);
      ratio[k] = den > 0 ? x / (double)den * m->scale : NAN;
    }
}

/* The latest period of the first nopen cells, for counts that need the
 * next one; NULL when no measure needs it. */
static const char *latest_period(const sp_indicator *ind, const cells *t,
                                 size_t nopen) {
  const char *latest = NULL;
  for (size_t i = 0; i < ind->nmeasures && ind->time_dim >= 0; i++)
    if (ind->measures[i].needs_next) {
      for (size_t c = 0; c < nopen; c++) {
        const char *v = t->dimv[c * t->ndims + ind->time_dim];
        if (v && (!latest || strcmp(v, latest) > 0))
          latest = v;
      }
      break;
    }
  return latest;
}

/* The first nopen cells as COPY rows into out, sorted so that the table
 * is the same for the same data.  Returns how many rows hide a value. */
static size_t write_rows(sp_buf *out, const sp_partner *p,
                         const sp_indicator *ind, cells *t, const int *slot,
                         const unsigned char *flags, const double *ratio,
                         const unsigned char *rsupp, size_t nratios,
                         size_t nopen, sp_releases *rel) {
  size_t *order = sp_xmalloc((nopen ? nopen : 1) * sizeof *order);
  for (size_t c = 0; c < nopen; c++)
    order[c] = c;
  qsort_r(order, nopen, sizeof *order, cell_cmp, t);
  const char *latest = latest_period(ind, t, nopen);
  size_t nsupp = 0;
  const char *key[SP_MAX_DIMS];
  for (size_t k = 0; k < nopen; k++) {
    size_t c = order[k];
    long base = -1;
    if (ind->baseline && ind->time_dim >= 0) {
      memcpy(key, t->dimv + c * t->ndims, t->ndims * sizeof *key);
      key[ind->time_dim] = ind->baseline;
      base = sp_index_find(&t->ix, t->dimv, t->ndims, key, -1);
    }
    size_t start = out->len;
    write_row(out, p, ind, t, slot, flags, ratio, rsupp, c, base, nratios,
              latest, &nsupp);
    end_row(out, start, ind, t, c, flags, rel);
  }
  free(order);
  return nsupp;
}

/* Replaces partner.<indicator> with the rows in out, with its comments,
 * releases and grants, inside the caller's transaction. */
static int store_rows(PGconn *conn, const sp_config *cfg, const sp_partner *p,
                      const sp_indicator *ind, const sp_buf *out,
                      sp_releases *rel, char *err, size_t errlen) {
  sp_buf sql;
  sp_buf_init(&sql);
  int rc = prepare_table(conn, ind, err, errlen);
  if (!rc) {
    FILE *f = fmemopen(out->data ? out->data : (char *)"", out->len, "r");
    sp_buf_reset(&sql);
    sp_buf_printf(&sql, "COPY partner.%s FROM STDIN", ind->name);
    rc = f ? sp_pg_copy_in(conn, sql.data, f, err, errlen) : SAMSPOR_EFAIL;
    if (f)
      fclose(f);
  }
  if (!rc)
    rc = comment_all(conn, p, ind, err, errlen);
  if (!rc)
    rc = sp_release_store(conn, rel, out->data ? out->data : "", err, errlen);
  if (!rc)
    rc = sp_access_apply(conn, sp_config_schema(cfg), NULL, NULL, err, errlen);
  sp_buf_free(&sql);
  return rc;
}

/* The log lines of a refresh that committed: what the audit hid and
 * what it cost, and the releases. */
static void log_refreshed(const sp_indicator *ind, const cells *t, size_t nopen,
                          size_t nfrozen, size_t nsupp,
                          const unsigned char *flags, const sp_supp_stats *st,
                          double audit_s, const sp_releases *rel) {
  sp_logctx ctx = {0};
  info_loss il = measure_loss(t, nopen, flags);
  sp_info(&ctx,
          "indicator %s refreshed: %zu rows, %zu with hidden values; "
          "hidden %.1f%% of the cells' counts, holding %.1f%% of their "
          "sum; %zu primary, %zu secondary, %zu period(s) withheld; audit "
          "%.2f s (%zu blocks, %zu witnesses along equations, %zu linear "
          "and %zu integer programs)",
          ind->name, nopen + nfrozen, nsupp, il.cell_share, il.count_share,
          st->primary, st->secondary, st->withheld_periods, audit_s, st->blocks,
          st->paths, st->lps, st->ips);
  if (rel->nfrozen || rel->stored)
    sp_info(&ctx,
            "indicator %s: %zu periods final (published as released), %zu "
            "new releases stored",
            ind->name, rel->nfrozen, rel->stored);
}

static int refresh_one(PGconn *conn, const sp_config *cfg, const sp_partner *p,
                       const sp_indicator *ind, char *err, size_t errlen) {
  int *slot = sp_xcalloc(ind->nmeasures ? ind->nmeasures : 1, sizeof *slot);
  cells t = {0};
  t.ndims = ind->ndims;
  t.ncounts = measure_slots(ind, SP_MEASURE_COUNT, slot);
  t.nsums = measure_slots(ind, SP_MEASURE_SUM, slot);
  size_t nratios = measure_slots(ind, SP_MEASURE_RATIO, slot);
  sp_index_build(&t.ix, NULL, t.ndims, 0);
  unsigned char *flags = NULL, *rsupp = NULL;
  int *subset_of = NULL;
  double *ratio = NULL;
  sp_releases rel = {0};
  long long *prev = NULL; /* for the audit; see sp_release_prev */
  size_t nopen = 0, nfrozen = 0;
  sp_buf out;
  sp_buf_init(&out);

  /* One refresh at a time (two connectors' runs may end together); the
   * two-key form cannot collide with the connectors' one-key locks. */
  int rc = sp_pg_exec(conn, "BEGIN", PGRES_COMMAND_OK, NULL, err, errlen);
  if (!rc)
    rc =
        sp_pg_exec(conn, "SELECT pg_advisory_xact_lock(1936549235, 1885434484)",
                   PGRES_TUPLES_OK, NULL, err, errlen);
  if (!rc)
    rc = set_search_path(conn, cfg, err, errlen);
  /* The query runs as samspor_analyst_all: the grants it reads with
   * first (a table of the warehouse schema that samspor did not load is
   * readable only when granted to samspor_analyst). */
  if (!rc)
    rc = sp_access_apply(conn, sp_config_schema(cfg), NULL, NULL, err, errlen);
  if (!rc)
    rc = load_cells(conn, p, ind, slot, &t, err, errlen);
  if (!rc)
    rc = releases_begin(conn, p, ind, &t, &rel, &prev, err, errlen);
  if (rc)
    goto done;

  rc = check_subsets(ind, &t, slot, err, errlen);
  if (rc)
    goto done;
  sp_supp_stats st;
  double audit_s = audit_cells(p, ind, &t, slot, prev, &flags, &subset_of, &st);
  ratio = sp_xcalloc(t.n * (nratios ? nratios : 1), sizeof *ratio);
  rsupp = sp_xcalloc(t.n * (nratios ? nratios : 1), 1);
  cell_ratios(ind, &t, slot, nratios, flags, ratio, rsupp);
  nopen = t.n;
  baseline_published(ind, &rel, &t, slot, nratios, &ratio, &rsupp);

  size_t nsupp = write_rows(&out, p, ind, &t, slot, flags, ratio, rsupp,
                            nratios, nopen, &rel);
  nfrozen = sp_release_append_frozen(&rel, &out);

  rc = store_rows(conn, cfg, p, ind, &out, &rel, err, errlen);
  if (!rc)
    rc = sp_pg_exec(conn, "COMMIT", PGRES_COMMAND_OK, NULL, err, errlen);
  if (!rc)
    log_refreshed(ind, &t, nopen, nfrozen, nsupp, flags, &st, audit_s, &rel);
done:
  if (PQtransactionStatus(conn) != PQTRANS_IDLE)
    PQclear(PQexec(conn, "ROLLBACK"));
  free(ratio);
  free(rsupp);
  free(flags);
  free(subset_of);
  free(slot);
  free(prev);
  sp_release_free(&rel);
  cells_free(&t);
  sp_buf_free(&out);
  return rc;
}

int sp_indicators_refresh(PGconn *conn, const sp_config *c, char *err,
                          size_t errlen) {
  const sp_partner *p = sp_config_partner(c);
  sp_logctx ctx = {0};
  int worst = 0;
  for (size_t i = 0; i < p->nindicators; i++) {
    char e[1024];
    int rc = refresh_one(conn, c, p, &p->indicators[i], e, sizeof e);
    if (rc == 1) {
      sp_warn(&ctx, "%s; not refreshed (its connector has not loaded yet?)", e);
      continue;
    }
    if (rc) {
      sp_error(&ctx, "%s", e);
      if (!worst) {
        worst = rc;
        sp_set_err(err, errlen, "%s", e);
      }
    }
  }
  return worst;
}

int sp_partner_after_sync(PGconn *conn, const sp_config *c) {
  const sp_partner *p = sp_config_partner(c);
  if (p->nindicators == 0)
    return 0;
  char err[1024];
  int rc = sp_indicators_refresh(conn, c, err, sizeof err);
  if (p->report) {
    int rrc = sp_report_write_file(conn, c, p->report, err, sizeof err);
    if (rrc) {
      sp_logctx ctx = {0};
      sp_error(&ctx, "report %s: %s", p->report, err);
      rc = rc ? rc : rrc;
    }
  }
  return rc;
}

/* ---- samspor refresh ---------------------------------------------------- */

int sp_refresh(sp_config *c) {
  int rc;
  PGconn *conn = NULL;
  char err[1024];
  rc = sp_warehouse_connect(c, &conn, err, sizeof err);
  if (!rc)
    rc = sp_schema_migrate(conn, err, sizeof err);
  if (rc) {
    fprintf(stderr, "samspor: refresh: %s\n", err);
  } else if (sp_config_partner(c)->nindicators == 0) {
    printf("no indicators are configured (partner.indicators)\n");
  } else {
    rc = sp_partner_after_sync(conn, c);
    if (rc)
      fprintf(stderr, "samspor: refresh: failed (see the log above)\n");
  }
  PQfinish(conn);
  sp_config_free(c);
  return sp_exit_status(rc);
}
