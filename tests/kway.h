/*
 * kway.h — k-way tables with totals over every dimension, and an exact
 * test, written apart from core/partner/suppress.c, of whether a hidden cell can
 * be worked out from the published ones.  Shared by the unit test and the
 * fuzz target of the suppression engine.
 */
#ifndef SAMSPOR_TESTS_KWAY_H
#define SAMSPOR_TESTS_KWAY_H

#include <stddef.h>
#include <stdio.h>

#define SP_KWAY_MAX_DIMS 3

typedef struct sp_kway {
  size_t k;                      /* dimensions */
  size_t size[SP_KWAY_MAX_DIMS]; /* values per dimension */
  size_t n;                      /* cells in all, totals included */
  const char **dims; /* n * k labels; NULL = the total (sp_suppress's form) */
  long long *v;      /* n values; every total is the sum below it */
  size_t *idx;       /* n * k digits; digit size[d] means the total */
} sp_kway;

/* Build a table (k 1..3, sizes 1..9) whose inner cells come from
 * cell(digits, arg). */
void sp_kway_build(sp_kway *t, size_t k, const size_t *sizes,
                   long long (*cell)(const size_t *idx, void *arg), void *arg);
void sp_kway_free(sp_kway *t);

/*
 * A hidden cell (flags[c] != 0) that the equations "total = sum of its
 * cells" over the published values determine, or -1 when there is none:
 * exact elimination modulo the prime 2^31 - 1.
 */
long sp_kway_determined(const sp_kway *t, const unsigned char *flags);

/* Whether every total with the cells it sums has 0 or at least 2 hidden
 * values (the group rule). */
int sp_kway_groups_hold(const sp_kway *t, const unsigned char *flags);

/* Whether cell s is one of the cells total c sums along dimension d. */
int sp_kway_member(const sp_kway *t, size_t s, size_t c, size_t d);

/*
 * The attacker's narrowest interval over the hidden cells: max - min of the
 * integer values a hidden cell can take given every published cell, every
 * total and a lower bound lb for hidden cells (1 when zeros are published),
 * by integer programming over a model built here from the cells' digits.
 * LLONG_MAX when nothing is hidden, -1 when the solver failed; *where (may
 * be NULL) receives the narrowest cell.
 */
long long sp_kway_narrowest(const sp_kway *t, const unsigned char *f,
                            long long lb, long long *where);

/* The table, hidden cells starred, for a failure message. */
void sp_kway_print(const sp_kway *t, const unsigned char *flags, FILE *f);

#endif
