/*
 * suppress.h — the suppression engine of the partner indicators, and the
 * index of cells it shares with core/indicators.c.
 *
 * A table is ncells rows of ndims dimension values, NULL meaning "the total
 * of that dimension": a total cell equals the sum of the cells that have
 * the same values except a non-NULL one at that dimension.
 */
#ifndef SAMSPOR_SUPPRESS_H
#define SAMSPOR_SUPPRESS_H

#include <stddef.h>
#include <stdint.h>

#define SP_SUPP_PRIMARY 1
#define SP_SUPP_SECONDARY 2

/*
 * Suppress nvalues count columns of a table (values[cell * nvalues + v]):
 * counts 1..threshold are primary; then, per column, further cells until
 * every total keeps 0 or at least 2 hidden cells and no hidden cell is
 * determined by the published totals (tested by linear algebra).  A
 * secondary cell is the smallest non-zero published one of its group; a 0
 * only when the linear-algebra step finds nothing else to hide.
 * flags[cell * nvalues + v] receives SP_SUPP_PRIMARY, SP_SUPP_SECONDARY or
 * 0.  Returns the number of secondary suppressions.
 */
size_t sp_suppress(const char *const *dims, size_t ndims, size_t ncells,
                   const long long *values, size_t nvalues, int threshold,
                   unsigned char *flags);

/*
 * The same; *untested (may be NULL) receives the number of value columns
 * for which no proof could be completed that no hidden cell follows from
 * several totals together: a block of equations too large for the exact
 * test (more than SP_RANK_TEST_MAX entries in its dense matrix), or a
 * determined cell whose groups have nothing left to hide.  Only the group
 * rule then protects them.
 */
#define SP_RANK_TEST_MAX 4000000u
size_t sp_suppress_ex(const char *const *dims, size_t ndims, size_t ncells,
                      const long long *values, size_t nvalues, int threshold,
                      unsigned char *flags, size_t *untested);

/* Open-addressing index of cells by their dimension values. */
typedef struct sp_cell_index {
  size_t *slots; /* cell index + 1; 0 = empty */
  size_t cap;    /* a power of two */
} sp_cell_index;

/* Index the first ncells cells of dims (ix->slots is malloc'd). */
void sp_index_build(sp_cell_index *ix, const char *const *dims, size_t ndims,
                    size_t ncells);
/* Index cell number `cell` too (cells 0..cell-1 are indexed already);
 * grows the index when it is half full. */
void sp_index_add(sp_cell_index *ix, const char *const *dims, size_t ndims,
                  size_t cell);
/* The cell whose values are vals with vals[skip] replaced by the total
 * (skip -1: none), or -1. */
long sp_index_find(const sp_cell_index *ix, const char *const *dims,
                   size_t ndims, const char *const *vals, int skip);

#endif
