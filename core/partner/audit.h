/*
 * audit.h — the attacker's linear and integer programs: what a partner who
 * reasons can learn about the hidden counts of a published table.
 *
 * A model is a set of integer unknowns (the hidden counts) with bounds and
 * linear rows with integer coefficients (a total equals the sum of its
 * cells, a subset count is at most its superset, a published share lies in
 * its rounding interval, all with the published values moved to the
 * right-hand side).  The attacker's knowledge of one unknown is the
 * interval [min, max] of its value over all integer points of the model.
 *
 * The solver is GLPK.  No floating-point tolerance has the last word: every
 * point the solver returns is rounded to integers and checked against every
 * row and bound in exact integer arithmetic (sp_lp_verify) before it counts
 * as a witness, and a cell is proven safe only by two verified witnesses
 * (the true table is one) that lie at least the protection width apart.  A
 * solver error, a fractional point that integer programming cannot repair,
 * or the time running out can therefore only make a cell count as unsafe,
 * never as safe.
 */
#ifndef SAMSPOR_AUDIT_H
#define SAMSPOR_AUDIT_H

#include <stddef.h>

typedef enum sp_row_type {
  SP_ROW_EQ, /* sum = rhs */
  SP_ROW_LE, /* sum <= rhs */
  SP_ROW_GE  /* sum >= rhs */
} sp_row_type;

typedef struct sp_lp_model {
  size_t nvars;
  long long *lb, *ub; /* per unknown; both inclusive */
  size_t nrows, rows_cap;
  size_t *row_start; /* nrows + 1 offsets into col/coef */
  sp_row_type *type;
  long long *rhs;
  size_t nent, ent_cap;
  size_t *col;
  long long *coef;
} sp_lp_model;

/* An empty model of nvars unknowns, each in [lb, ub]. */
void sp_lp_init(sp_lp_model *m, size_t nvars, long long lb, long long ub);
void sp_lp_free(sp_lp_model *m);
/* Add coef * x[var] to the row being built (coefficients of one unknown
 * add up). */
void sp_lp_term(sp_lp_model *m, size_t var, long long coef);
/* The same for an unknown not yet in the row (no search: rows of a
 * thousand terms are built in linear time). */
void sp_lp_term_new(sp_lp_model *m, size_t var, long long coef);
/* Close the row being built: its terms `type` rhs.  A row without terms is
 * dropped. */
void sp_lp_row(sp_lp_model *m, sp_row_type type, long long rhs);

/* Whether the integer point x satisfies every bound and row (exact). */
int sp_lp_verify(const sp_lp_model *m, const long long *x);

typedef struct sp_lp_stats {
  size_t lps;      /* linear programs solved */
  size_t ips;      /* integer programs solved (the LP point was fractional) */
  size_t verified; /* solver points that passed the exact check */
  size_t rejected; /* solver points that failed it */
  size_t paths;    /* points found along equations, without a program */
} sp_lp_stats;

/*
 * The audit of one model.  truth is a point known to satisfy the model
 * (the real table).  For each unknown j, sets narrow[j] to 1 unless two
 * verified integer points of the model differ by at least `width` in x[j]
 * (then 0).  Stops at `deadline` (sp_now_mono() seconds; 0 = none).
 * Returns the number of narrow unknowns, or -1 when the deadline passed
 * before every unknown was decided (narrow[] then marks the undecided ones
 * too).
 */
long sp_lp_audit(const sp_lp_model *m, const long long *truth, long long width,
                 unsigned char *narrow, double deadline, sp_lp_stats *st);

/*
 * The same, starting from what earlier verified points showed: on entry
 * lo[j] and hi[j] are values of x[j] attained by integer points of this
 * model (at least the truth), on return widened by the points found here.
 * A caller may carry them over from the audit of a model whose integer
 * points, each extended with the true values of the unknowns this model
 * adds, are integer points of this one (core/suppress.c: the same block
 * after more cells were hidden).  first_only: stop at the first narrow
 * unknown (the only one marked; returns 1) — the caller will change the
 * block and audit it again anyway.
 */
long sp_lp_audit_from(const sp_lp_model *m, const long long *truth,
                      long long *lo, long long *hi, long long width,
                      int first_only, unsigned char *narrow, double deadline,
                      sp_lp_stats *st);

/*
 * The attacker's exact interval of x[j]: the minimum and maximum over the
 * integer points of the model, each attained by a verified point (an upper
 * end at the unknown's ub means "at least that").  Returns 0, or -1 when
 * the model has no integer point or the solver fails.  For tests and small
 * tables: it solves integer programs outright.
 */
int sp_lp_interval(const sp_lp_model *m, size_t j, long long *min,
                   long long *max);

#endif
