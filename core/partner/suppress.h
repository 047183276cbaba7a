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

#define SP_SUPP_PRIMARY                                                        \
  1 /* a count from 1 (0 with protect_zeros) to the threshold */
#define SP_SUPP_SECONDARY 2 /* hidden so that the audit passes */
#define SP_SUPP_WITHHELD 3  /* its whole period withheld (fail-safe) */

typedef struct sp_supp_opts {
  int threshold;          /* counts 1..threshold are hidden (primary) */
  int protect_zeros;      /* 0: zeros are published, so every hidden count is
                             at least 1 to the attacker; 1: zeros are hidden like
                             small counts */
  long long width;        /* protection width; <= 0: the threshold */
  const int *subset_of;   /* per value column: the column it is a subset of
                             in every cell, or -1 (NULL: none) */
  const long long *known; /* ncells * nvalues: a value the attacker knows
                             from an earlier release of the same period, or
                             -1 (NULL: none) */
  int time_dim;           /* the dimension whose values are periods, or -1 */
  double budget;          /* seconds for the whole table; <= 0: 300 */
} sp_supp_opts;

typedef struct sp_supp_stats {
  size_t primary, secondary; /* values hidden by each rule */
  size_t withheld_periods;   /* periods withheld by the fail-safe */
  size_t blocks, lps, ips;   /* audited blocks, programs solved */
  size_t paths;              /* witnesses found along equations */
  int timed_out;             /* the budget ran out */
} sp_supp_stats;

/*
 * Suppress the nvalues count columns of a table (values[cell * nvalues +
 * v]) so that an attacker who knows every published value, every relation
 * "total = sum of its cells", the subset relations between columns, that
 * counts are non-negative integers (at least 1 when hidden and zeros are
 * published) and the values in `known` cannot narrow any hidden count to
 * an interval narrower than the protection width.
 *
 * Primary: counts in [lo, threshold].  Then, per block of hidden values
 * linked by relations, an audit by linear and integer programming
 * (core/audit.c) finds every hidden value the attacker can narrow, and the
 * smallest published value of one of its relations is hidden too, until
 * every block passes.  When a block cannot pass (nothing left to hide) or
 * the budget runs out, its whole period is withheld: never a weaker rule.
 * flags[cell * nvalues + v] receives SP_SUPP_* or 0.
 */
void sp_suppress_audit(const char *const *dims, size_t ndims, size_t ncells,
                       const long long *values, size_t nvalues,
                       const sp_supp_opts *o, unsigned char *flags,
                       sp_supp_stats *st);

/* The same with zeros published, width = threshold, no subsets, no known
 * values, no periods.  Returns the number of secondary suppressions. */
size_t sp_suppress(const char *const *dims, size_t ndims, size_t ncells,
                   const long long *values, size_t nvalues, int threshold,
                   unsigned char *flags);

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
