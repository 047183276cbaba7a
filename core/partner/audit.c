/*
 * audit.c — the attacker's linear and integer programs over a table's
 * hidden counts, solved with GLPK and checked exactly (see audit.h).
 *
 * Why GLPK and witnesses rather than an exact LP optimum: what the audit
 * must show is that the attacker cannot narrow a hidden count, i.e. that
 * integer tables consistent with everything published exist with that
 * count far enough apart.  Such tables are found by optimising the count
 * (the simplex method, warm-started from the previous solve, so each
 * further objective costs a few pivots) and proven by substituting them
 * into every relation in integer arithmetic.  Every point found this way
 * also bounds every other count of the block, so most counts are proven
 * by the points found for others and need no program of their own.
 */
#include "config.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <glpk.h>

#include "partner/audit.h"
#include "base/util.h"

/* ---- the model ---------------------------------------------------------- */

void sp_lp_init(sp_lp_model *m, size_t nvars, long long lb, long long ub) {
  memset(m, 0, sizeof *m);
  m->nvars = nvars;
  m->lb = sp_xmalloc((nvars ? nvars : 1) * sizeof *m->lb);
  m->ub = sp_xmalloc((nvars ? nvars : 1) * sizeof *m->ub);
  for (size_t j = 0; j < nvars; j++) {
    m->lb[j] = lb;
    m->ub[j] = ub;
  }
  m->rows_cap = 16;
  m->row_start = sp_xmalloc((m->rows_cap + 1) * sizeof *m->row_start);
  m->type = sp_xmalloc(m->rows_cap * sizeof *m->type);
  m->rhs = sp_xmalloc(m->rows_cap * sizeof *m->rhs);
  m->row_start[0] = 0;
  m->ent_cap = 64;
  m->col = sp_xmalloc(m->ent_cap * sizeof *m->col);
  m->coef = sp_xmalloc(m->ent_cap * sizeof *m->coef);
}

void sp_lp_free(sp_lp_model *m) {
  free(m->lb);
  free(m->ub);
  free(m->row_start);
  free(m->type);
  free(m->rhs);
  free(m->col);
  free(m->coef);
  memset(m, 0, sizeof *m);
}

void sp_lp_term(sp_lp_model *m, size_t var, long long coef) {
  size_t first = m->row_start[m->nrows];
  for (size_t e = first; e < m->nent; e++)
    if (m->col[e] == var) {
      m->coef[e] += coef;
      return;
    }
  sp_lp_term_new(m, var, coef);
}

void sp_lp_term_new(sp_lp_model *m, size_t var, long long coef) {
  if (m->nent == m->ent_cap) {
    m->ent_cap *= 2;
    m->col = sp_xrealloc(m->col, m->ent_cap * sizeof *m->col);
    m->coef = sp_xrealloc(m->coef, m->ent_cap * sizeof *m->coef);
  }
  m->col[m->nent] = var;
  m->coef[m->nent++] = coef;
}

void sp_lp_row(sp_lp_model *m, sp_row_type type, long long rhs) {
  size_t first = m->row_start[m->nrows], w = first;
  for (size_t e = first; e < m->nent; e++) /* terms that cancelled */
    if (m->coef[e] != 0) {
      m->col[w] = m->col[e];
      m->coef[w++] = m->coef[e];
    }
  m->nent = w;
  if (w == first)
    return;
  if (m->nrows == m->rows_cap) {
    m->rows_cap *= 2;
    m->row_start =
        sp_xrealloc(m->row_start, (m->rows_cap + 1) * sizeof *m->row_start);
    m->type = sp_xrealloc(m->type, m->rows_cap * sizeof *m->type);
    m->rhs = sp_xrealloc(m->rhs, m->rows_cap * sizeof *m->rhs);
  }
  m->type[m->nrows] = type;
  m->rhs[m->nrows] = rhs;
  m->row_start[++m->nrows] = m->nent;
}

int sp_lp_verify(const sp_lp_model *m, const long long *x) {
  for (size_t j = 0; j < m->nvars; j++)
    if (x[j] < m->lb[j] || x[j] > m->ub[j])
      return 0;
  for (size_t r = 0; r < m->nrows; r++) {
    /* 128 bits: coefficients of shares reach 10^8, values 10^9 */
    __int128 s = 0;
    for (size_t e = m->row_start[r]; e < m->row_start[r + 1]; e++)
      s += (__int128)m->coef[e] * x[m->col[e]];
    if ((m->type[r] == SP_ROW_EQ && s != m->rhs[r]) ||
        (m->type[r] == SP_ROW_LE && s > m->rhs[r]) ||
        (m->type[r] == SP_ROW_GE && s < m->rhs[r]))
      return 0;
  }
  return 1;
}

/* ---- GLPK --------------------------------------------------------------- */

static glp_prob *build(const sp_lp_model *m) {
  glp_term_out(GLP_OFF);
  glp_prob *lp = glp_create_prob();
  if (m->nrows)
    glp_add_rows(lp, (int)m->nrows);
  glp_add_cols(lp, (int)m->nvars);
  for (size_t j = 0; j < m->nvars; j++) {
    int c = (int)j + 1;
    glp_set_col_bnds(lp, c, m->lb[j] == m->ub[j] ? GLP_FX : GLP_DB,
                     (double)m->lb[j], (double)m->ub[j]);
    glp_set_col_kind(lp, c, GLP_IV);
  }
  for (size_t r = 0; r < m->nrows; r++) {
    double b = (double)m->rhs[r];
    int t = m->type[r] == SP_ROW_EQ   ? GLP_FX
            : m->type[r] == SP_ROW_LE ? GLP_UP
                                      : GLP_LO;
    glp_set_row_bnds(lp, (int)r + 1, t, b, b);
  }
  int *ia = sp_xmalloc((m->nent + 1) * sizeof *ia);
  int *ja = sp_xmalloc((m->nent + 1) * sizeof *ja);
  double *ar = sp_xmalloc((m->nent + 1) * sizeof *ar);
  for (size_t r = 0; r < m->nrows; r++)
    for (size_t e = m->row_start[r]; e < m->row_start[r + 1]; e++) {
      ia[e + 1] = (int)r + 1;
      ja[e + 1] = (int)m->col[e] + 1;
      ar[e + 1] = (double)m->coef[e];
    }
  glp_load_matrix(lp, (int)m->nent, ia, ja, ar);
  free(ia);
  free(ja);
  free(ar);
  return lp;
}

/* Milliseconds left before deadline for GLPK's tm_lim (INT_MAX: none). */
static int ms_left(double deadline) {
  if (deadline <= 0)
    return INT_MAX;
  double left = (deadline - sp_now_mono()) * 1000.0;
  if (left < 1)
    return 0;
  return left > INT_MAX ? INT_MAX : (int)left;
}

/* Round the solver's values into x and check them exactly. */
static int take_point(const sp_lp_model *m, glp_prob *lp, int mip, long long *x,
                      sp_lp_stats *st) {
  for (size_t j = 0; j < m->nvars; j++) {
    double v = mip ? glp_mip_col_val(lp, (int)j + 1)
                   : glp_get_col_prim(lp, (int)j + 1);
    x[j] = llround(v);
  }
  int ok = sp_lp_verify(m, x);
  if (st) {
    st->verified += ok;
    st->rejected += !ok;
  }
  return ok;
}

/*
 * Optimise x[j] in direction dir (GLP_MAX or GLP_MIN) and leave a verified
 * integer point in x.  force_ip: solve the integer program even when the
 * LP optimum is integral (for exact bounds).  Returns 1 with a point, 0
 * without.
 */
static int optimise(const sp_lp_model *m, glp_prob *lp, size_t j, int dir,
                    int force_ip, double deadline, long long *x,
                    sp_lp_stats *st) {
  /* The objective is one column at a time: clear the previous one (every
   * coefficient is 0 in a new problem). */
  int ncols = glp_get_num_cols(lp);
  for (int c = 1; c <= ncols; c++)
    if (c != (int)j + 1 && glp_get_obj_coef(lp, c) != 0.0)
      glp_set_obj_coef(lp, c, 0.0);
  glp_set_obj_coef(lp, (int)j + 1, 1.0);
  glp_set_obj_dir(lp, dir);
  glp_smcp sp;
  glp_init_smcp(&sp);
  sp.msg_lev = GLP_MSG_OFF;
  sp.presolve = GLP_OFF;
  sp.tm_lim = ms_left(deadline);
  if (sp.tm_lim == 0)
    return 0;
  int rc = glp_simplex(lp, &sp);
  if (rc == GLP_EBADB || rc == GLP_ESING || rc == GLP_ECOND) {
    glp_adv_basis(lp, 0); /* a basis gone bad: start afresh, once */
    rc = glp_simplex(lp, &sp);
  }
  if (st)
    st->lps++;
  if (rc != 0 || glp_get_status(lp) != GLP_OPT)
    return 0;
  if (!force_ip && take_point(m, lp, 0, x, st))
    return 1;
  /* The LP optimum is fractional (subset and share rows break the
   * integrality of plain totals): the integer program, from this basis. */
  glp_iocp ip;
  glp_init_iocp(&ip);
  ip.msg_lev = GLP_MSG_OFF;
  ip.presolve = GLP_OFF;
  ip.tm_lim = ms_left(deadline);
  if (ip.tm_lim == 0)
    return 0;
  rc = glp_intopt(lp, &ip);
  if (st)
    st->ips++;
  int ms = glp_mip_status(lp);
  if (rc != 0 || (ms != GLP_OPT && ms != GLP_FEAS))
    return 0;
  return take_point(m, lp, 1, x, st);
}

/* ---- witnesses along cycles, before any program ---------------------- */

/*
 * Most hidden counts sit in one or two equations with coefficients +-1 (a
 * cell of a one- or two-way table and its totals).  Moving such a count by
 * d unbalances its equations, and moving other unknowns along a path of
 * equations rebalances them: in a two-way table that is the classic
 * rectangle of hidden cells.  A breadth-first search over (equation, sign
 * of the imbalance) finds such a path; the point it gives is then checked
 * exactly like any other (sp_lp_verify), so a path that breaks an
 * inequality or a bound is simply not used, and the linear program is the
 * fallback.  It turns most audits into a few graph searches.
 */
typedef struct paths {
  int *neq;        /* per unknown: equations it is in (3 = too many) */
  size_t (*er)[2]; /* per unknown: those equations */
  signed char (*ec)[2];
  size_t *prev;   /* per state (row * 2 + sign): the state before */
  size_t *via;    /* the unknown moved to reach it */
  unsigned *mark; /* per state: visited in search number `search` */
  unsigned search;
  size_t *queue;
  size_t nstates;
} paths;

static void paths_init(paths *p, const sp_lp_model *m) {
  size_t n = m->nvars ? m->nvars : 1;
  p->neq = sp_xcalloc(n, sizeof *p->neq);
  p->er = sp_xmalloc(n * sizeof *p->er);
  p->ec = sp_xmalloc(n * sizeof *p->ec);
  for (size_t r = 0; r < m->nrows; r++)
    for (size_t e = m->row_start[r]; e < m->row_start[r + 1]; e++) {
      size_t v = m->col[e];
      if (m->type[r] != SP_ROW_EQ)
        continue;
      if (p->neq[v] >= 2 || (m->coef[e] != 1 && m->coef[e] != -1)) {
        p->neq[v] = 3;
        continue;
      }
      p->er[v][p->neq[v]] = r;
      p->ec[v][p->neq[v]++] = (signed char)m->coef[e];
    }
  p->nstates = 2 * (m->nrows ? m->nrows : 1);
  p->prev = sp_xmalloc(p->nstates * sizeof *p->prev);
  p->via = sp_xmalloc(p->nstates * sizeof *p->via);
  p->mark = sp_xcalloc(p->nstates, sizeof *p->mark);
  p->queue = sp_xmalloc(p->nstates * sizeof *p->queue);
  p->search = 0;
}

static void paths_free(paths *p) {
  free(p->neq);
  free(p->er);
  free(p->ec);
  free(p->prev);
  free(p->via);
  free(p->mark);
  free(p->queue);
}

#define NO_STATE SIZE_MAX
#define STATE(row, sign) ((row)*2 + ((sign) > 0))
#define SIGN(state) (((state)&1) ? 1 : -1)

/*
 * From the imbalance sign s0 (the equation's left side is s0 * d too high)
 * at equation r0, find unknowns to move by +-d, none of them `skip`, until
 * either state `goal` is reached (NO_STATE: until an unknown in only one
 * equation absorbs the rest).  Applies the moves to x; returns 1 if found.
 */
static int find_path(const sp_lp_model *m, paths *p, long long *x, size_t skip,
                     size_t r0, int s0, size_t goal, long long d) {
  unsigned mk = ++p->search;
  size_t head = 0, tail = 0, start = STATE(r0, s0);
  p->mark[start] = mk;
  p->prev[start] = NO_STATE;
  p->queue[tail++] = start;
  while (head < tail) {
    size_t st = p->queue[head++];
    size_t w = st / 2;
    int s = SIGN(st);
    for (size_t e = m->row_start[w]; e < m->row_start[w + 1]; e++) {
      size_t v = m->col[e];
      int a = (int)m->coef[e];
      if (v == skip || p->neq[v] < 1 || p->neq[v] > 2)
        continue;
      long long t = -(long long)s * a * d; /* rebalances w */
      if (x[v] + t < m->lb[v] || x[v] + t > m->ub[v])
        continue;
      size_t next = NO_STATE;
      if (p->neq[v] == 2) {
        int k = p->er[v][0] == w ? 1 : 0;
        size_t z = p->er[v][k];
        int sz = -s * a * p->ec[v][k];
        next = STATE(z, sz);
        if (next != goal) {
          if (p->mark[next] != mk) {
            p->mark[next] = mk;
            p->prev[next] = st;
            p->via[next] = v;
            p->queue[tail++] = next;
          }
          continue;
        }
      } else if (goal != NO_STATE) {
        continue; /* absorbs w, but the goal still needs balancing */
      }
      /* found: apply this move and the ones that led here */
      x[v] += t;
      for (size_t q = st; p->prev[q] != NO_STATE; q = p->prev[q]) {
        size_t u = p->via[q];
        size_t from = p->prev[q] / 2;
        int sf = SIGN(p->prev[q]);
        int au = p->er[u][0] == from ? p->ec[u][0] : p->ec[u][1];
        x[u] += -(long long)sf * au * d;
      }
      return 1;
    }
  }
  return 0;
}

/* Move x[v] by sigma * d (already applied by the caller) and rebalance
 * its equations along paths, none through `skip`.  1 if it could. */
static int rebalance(const sp_lp_model *m, paths *p, long long *x, size_t v,
                     size_t skip, int sigma, long long d) {
  if (p->neq[v] == 1)
    return find_path(m, p, x, skip, p->er[v][0], p->ec[v][0] * sigma, NO_STATE,
                     d);
  if (p->neq[v] == 2) {
    long long *save = sp_xmalloc(m->nvars * sizeof *save);
    memcpy(save, x, m->nvars * sizeof *save);
    size_t goal = STATE(p->er[v][1], -p->ec[v][1] * sigma);
    int ok =
        find_path(m, p, x, skip, p->er[v][0], p->ec[v][0] * sigma, goal, d);
    if (!ok) { /* each equation to an unknown that absorbs it */
      memcpy(x, save, m->nvars * sizeof *save);
      ok = find_path(m, p, x, skip, p->er[v][0], p->ec[v][0] * sigma, NO_STATE,
                     d) &&
           find_path(m, p, x, skip, p->er[v][1], p->ec[v][1] * sigma, NO_STATE,
                     d);
    }
    free(save);
    return ok;
  }
  return p->neq[v] == 0;
}

/* The first inequality x breaks, with by how much (> 0), or SIZE_MAX. */
static size_t broken_row(const sp_lp_model *m, const long long *x,
                         long long *by) {
  for (size_t r = 0; r < m->nrows; r++) {
    if (m->type[r] == SP_ROW_EQ)
      continue;
    long long sum = 0;
    for (size_t e = m->row_start[r]; e < m->row_start[r + 1]; e++)
      sum += m->coef[e] * x[m->col[e]];
    if (m->type[r] == SP_ROW_LE && sum > m->rhs[r]) {
      *by = sum - m->rhs[r];
      return r;
    }
    if (m->type[r] == SP_ROW_GE && sum < m->rhs[r]) {
      *by = m->rhs[r] - sum;
      return r;
    }
  }
  return SIZE_MAX;
}

/*
 * A verified point with x[j] moved by sigma * d from the truth, found
 * along equations; 1 with the point in x.  An inequality the moves break
 * (a subset now above its superset) is repaired by moving another of its
 * unknowns and rebalancing that one's equations, a few times at most.
 */
static int path_witness(const sp_lp_model *m, paths *p, const long long *truth,
                        size_t j, int sigma, long long d, long long *x,
                        sp_lp_stats *st) {
  if (p->neq[j] > 2 || d <= 0)
    return 0;
  memcpy(x, truth, m->nvars * sizeof *x);
  x[j] += sigma * d;
  if (x[j] < m->lb[j] || x[j] > m->ub[j])
    return 0;
  int ok = rebalance(m, p, x, j, j, sigma, d);
  for (int repair = 0; ok && repair < 4; repair++) {
    long long by;
    size_t r = broken_row(m, x, &by);
    if (r == SIZE_MAX)
      break;
    ok = 0;
    /* lower an LE row's sum (raise a GE row's) by moving one unknown */
    int want = m->type[r] == SP_ROW_LE ? -1 : 1;
    for (size_t e = m->row_start[r]; e < m->row_start[r + 1] && !ok; e++) {
      size_t v = m->col[e];
      long long c = m->coef[e];
      if (v == j || (c != 1 && c != -1) || p->neq[v] > 2)
        continue;
      int sg = (int)(want * c); /* the direction of v that helps */
      if (x[v] + sg * by < m->lb[v] || x[v] + sg * by > m->ub[v])
        continue;
      long long *save = sp_xmalloc(m->nvars * sizeof *save);
      memcpy(save, x, m->nvars * sizeof *save);
      x[v] += sg * by;
      ok = rebalance(m, p, x, v, j, sg, by);
      if (!ok)
        memcpy(x, save, m->nvars * sizeof *save);
      free(save);
    }
  }
  if (!ok)
    return 0;
  ok = sp_lp_verify(m, x);
  if (st) {
    st->paths += ok;
    st->rejected += !ok;
  }
  return ok;
}

long sp_lp_audit(const sp_lp_model *m, const long long *truth, long long width,
                 unsigned char *narrow, double deadline, sp_lp_stats *st) {
  size_t n = m->nvars;
  long long *lo = sp_xmalloc((n ? n : 1) * sizeof *lo);
  long long *hi = sp_xmalloc((n ? n : 1) * sizeof *hi);
  for (size_t j = 0; j < n; j++)
    lo[j] = hi[j] = truth[j];
  long res = sp_lp_audit_from(m, truth, lo, hi, width, 0, narrow, deadline, st);
  free(hi);
  free(lo);
  return res;
}

static void widen(size_t n, const long long *x, long long *lo, long long *hi) {
  for (size_t i = 0; i < n; i++) {
    if (x[i] < lo[i])
      lo[i] = x[i];
    if (x[i] > hi[i])
      hi[i] = x[i];
  }
}

long sp_lp_audit_from(const sp_lp_model *m, const long long *truth,
                      long long *lo, long long *hi, long long width,
                      int first_only, unsigned char *narrow, double deadline,
                      sp_lp_stats *st) {
  size_t n = m->nvars;
  long long *x = sp_xmalloc((n ? n : 1) * sizeof *x);
  glp_prob *lp = NULL;
  paths pw;
  paths_init(&pw, m);
  long nnarrow = 0;
  int timeout = 0;
  for (size_t j = 0; j < n; j++) {
    /* An unknown fixed by its bounds is a value the attacker has from
     * elsewhere: the caller treats it as published, not as protected. */
    if (m->lb[j] == m->ub[j]) {
      narrow[j] = 0;
      continue;
    }
    if (hi[j] - lo[j] < width && deadline > 0 && sp_now_mono() >= deadline)
      timeout = 1;
    /* up to lo + width, else down to hi - width, along equations */
    if (!timeout && hi[j] - lo[j] < width &&
        path_witness(m, &pw, truth, j, 1, lo[j] + width - truth[j], x, st))
      widen(n, x, lo, hi);
    if (!timeout && hi[j] - lo[j] < width &&
        path_witness(m, &pw, truth, j, -1, truth[j] - (hi[j] - width), x, st))
      widen(n, x, lo, hi);
    /* first_only == 2: no programs (the caller hides more where no path
     * shows a count wide, and audits with programs at the end) */
    for (int k = 0;
         k < 2 && first_only < 2 && !timeout && hi[j] - lo[j] < width; k++) {
      if (deadline > 0 && sp_now_mono() >= deadline) {
        timeout = 1;
        break;
      }
      if (!lp)
        lp = build(m);
      if (optimise(m, lp, j, k == 0 ? GLP_MAX : GLP_MIN, 0, deadline, x, st))
        widen(n, x, lo, hi);
    }
    narrow[j] = hi[j] - lo[j] < width;
    nnarrow += narrow[j];
    if (narrow[j] && first_only && !timeout) {
      for (size_t i = j + 1; i < n; i++)
        narrow[i] = 0;
      break;
    }
  }
  if (lp)
    glp_delete_prob(lp);
  paths_free(&pw);
  free(x);
  return timeout ? -1 : nnarrow;
}

int sp_lp_interval(const sp_lp_model *m, size_t j, long long *min,
                   long long *max) {
  glp_prob *lp = build(m);
  long long *x = sp_xmalloc((m->nvars ? m->nvars : 1) * sizeof *x);
  int ok = optimise(m, lp, j, GLP_MIN, 1, 0, x, NULL);
  if (ok)
    *min = x[j];
  ok = ok && optimise(m, lp, j, GLP_MAX, 1, 0, x, NULL);
  if (ok)
    *max = x[j];
  free(x);
  glp_delete_prob(lp);
  return ok ? 0 : -1;
}
