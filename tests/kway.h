/*
 * kway.h — k-way tables with totals over every dimension, and an exact
 * test, written apart from core/suppress.c, of whether a hidden cell can
 * be worked out from the published ones.  Shared by the unit test and the
 * fuzz target of the suppression engine.
 */
#ifndef SAMSPOR_TESTS_KWAY_H
#define SAMSPOR_TESTS_KWAY_H

#include <stddef.h>
#include <stdio.h>

typedef struct sp_kway {
  size_t k, size, n; /* k dimensions of `size` values, n cells in all */
  const char **dims; /* n * k labels; NULL = the total (sp_suppress's form) */
  long long *v;      /* n values; every total is the sum below it */
  size_t *idx;       /* n * k digits; digit `size` means the total */
} sp_kway;

/* Build a table (k 1..3, size 1..9) whose inner cells come from cell(). */
void sp_kway_build(sp_kway *t, size_t k, size_t size,
                   long long (*cell)(void *arg), void *arg);
void sp_kway_free(sp_kway *t);

/*
 * A hidden cell (flags[c] != 0) that the equations "total = sum of its
 * cells" over the published values determine, or -1 when there is none:
 * exact elimination modulo the prime 2^31 - 1.
 */
long sp_kway_determined(const sp_kway *t, const unsigned char *flags);

/* The table, hidden cells starred, for a failure message. */
void sp_kway_print(const sp_kway *t, const unsigned char *flags, FILE *f);

#endif
