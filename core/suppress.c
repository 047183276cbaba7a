/*
 * suppress.c — small-count suppression of a table of counts with totals
 * (see suppress.h).  Pure computation: no I/O, no allocation that
 * outlives a call except the index the caller owns.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "suppress.h"
#include "util.h"

/* ---- a string-keyed index of cells ------------------------------------- */

/* Open addressing over cell indices; a key is a cell's dimension values
 * with some of them replaced by the total marker. */

#define TOTAL_MARK "\x1f"

uint64_t sp_key_hash(const char *const *vals, size_t n, int skip) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a: short keys, no attacker */
  for (size_t i = 0; i < n; i++) {
    const char *v = ((int)i == skip || !vals[i]) ? TOTAL_MARK : vals[i];
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
      h = (h ^ *p) * 1099511628211ull;
    h = (h ^ 0x1e) * 1099511628211ull;
  }
  return h;
}

static int key_equal(const char *const *a, const char *const *b, size_t n,
                     int skip_b) {
  for (size_t i = 0; i < n; i++) {
    const char *y = (int)i == skip_b ? NULL : b[i];
    if ((a[i] == NULL) != (y == NULL))
      return 0;
    if (a[i] && strcmp(a[i], y) != 0)
      return 0;
  }
  return 1;
}

void sp_index_build(sp_cell_index *ix, const char *const *dims, size_t ndims,
                    size_t ncells) {
  ix->cap = 16;
  while (ix->cap < ncells * 2)
    ix->cap *= 2;
  ix->slots = sp_xcalloc(ix->cap, sizeof *ix->slots);
  for (size_t c = 0; c < ncells; c++) {
    size_t h = (size_t)sp_key_hash(dims + c * ndims, ndims, -1) & (ix->cap - 1);
    while (ix->slots[h])
      h = (h + 1) & (ix->cap - 1);
    ix->slots[h] = c + 1;
  }
}

/* The cell whose dimensions are those of `vals` with `skip` set to the
 * total, or -1. */
long sp_index_find(const sp_cell_index *ix, const char *const *dims,
                   size_t ndims, const char *const *vals, int skip) {
  size_t h = (size_t)sp_key_hash(vals, ndims, skip) & (ix->cap - 1);
  while (ix->slots[h]) {
    size_t c = ix->slots[h] - 1;
    if (key_equal(dims + c * ndims, vals, ndims, skip))
      return (long)c;
    h = (h + 1) & (ix->cap - 1);
  }
  return -1;
}

/* ---- suppression --------------------------------------------------------- */

/*
 * The groups: every total cell t and dimension d with t[d] = total is the
 * sum of the cells that equal t except for a value at d.  Stored as a list
 * of (group, member) pairs, the total first in each group.
 */
typedef struct groups {
  size_t *start; /* ngroups + 1 offsets into member */
  size_t *member;
  size_t ngroups;
} groups;

static void groups_build(groups *g, const char *const *dims, size_t ndims,
                         size_t ncells) {
  sp_cell_index ix;
  sp_index_build(&ix, dims, ndims, ncells);
  /* parent[d * ncells + c]: the total of c along d, or -1 */
  long *parent = sp_xmalloc(ndims * ncells * sizeof *parent);
  size_t *gid = sp_xmalloc(ndims * ncells * sizeof *gid);
  size_t ng = 0, nmem = 0;
  for (size_t d = 0; d < ndims; d++)
    for (size_t c = 0; c < ncells; c++) {
      const char *const *v = dims + c * ndims;
      parent[d * ncells + c] =
          v[d] ? sp_index_find(&ix, dims, ndims, v, (int)d) : -1;
      gid[d * ncells + c] = SIZE_MAX;
    }
  /* number the groups that have members */
  for (size_t d = 0; d < ndims; d++)
    for (size_t c = 0; c < ncells; c++) {
      long t = parent[d * ncells + c];
      if (t < 0)
        continue;
      nmem++;
      if (gid[d * ncells + (size_t)t] == SIZE_MAX) {
        gid[d * ncells + (size_t)t] = ng++;
        nmem++;
      }
    }
  g->ngroups = ng;
  g->start = sp_xcalloc(ng + 1, sizeof *g->start);
  g->member = sp_xmalloc((nmem ? nmem : 1) * sizeof *g->member);
  size_t *fill = sp_xcalloc(ng + 1, sizeof *fill);
  for (size_t d = 0; d < ndims; d++)
    for (size_t c = 0; c < ncells; c++) {
      long t = parent[d * ncells + c];
      if (t >= 0)
        g->start[gid[d * ncells + (size_t)t] + 1]++;
    }
  for (size_t i = 0; i < ng; i++)
    g->start[i + 1] += g->start[i] + 1; /* + the total itself */
  for (size_t d = 0; d < ndims; d++)
    for (size_t c = 0; c < ncells; c++)
      if (gid[d * ncells + c] != SIZE_MAX) {
        size_t k = gid[d * ncells + c];
        g->member[g->start[k] + fill[k]++] = c;
      }
  for (size_t d = 0; d < ndims; d++)
    for (size_t c = 0; c < ncells; c++) {
      long t = parent[d * ncells + c];
      if (t >= 0) {
        size_t k = gid[d * ncells + (size_t)t];
        g->member[g->start[k] + fill[k]++] = c;
      }
    }
  free(fill);
  free(gid);
  free(parent);
  free(ix.slots);
}

static void groups_free(groups *g) {
  free(g->start);
  free(g->member);
}

/* Suppress one more member of group k: the smallest non-zero published
 * cell, preferring the cells to the total.  Returns 1 if one was found. */
static int suppress_one_more(const groups *g, size_t k, const long long *values,
                             size_t nvalues, size_t v, unsigned char *flags) {
  long best = -1;
  for (int pass = 0; pass < 2 && best < 0; pass++)
    for (size_t m = g->start[k] + (pass == 0); m < g->start[k + 1]; m++) {
      size_t c = g->member[m];
      long long x = values[c * nvalues + v];
      if (flags[c * nvalues + v] || x <= 0)
        continue;
      if (best < 0 || x < values[(size_t)best * nvalues + v])
        best = (long)c;
      if (pass == 1)
        break; /* only the total */
    }
  if (best < 0)
    return 0;
  flags[(size_t)best * nvalues + v] = SP_SUPP_SECONDARY;
  return 1;
}

/*
 * The suppressed cells (of one value column) that the published totals
 * determine exactly, found by linear algebra: with the published values
 * moved to the right-hand side, every group is one equation in its
 * suppressed cells; a cell is determined iff its unit vector lies in the
 * equations' row space, i.e. iff the reduced row echelon form has a row
 * with that cell as its only non-zero.  Returns one such cell, or -1.
 * The "0 or at least 2 per group" rule alone misses this when a cell is
 * in several totals (two-way tables and more).
 */
static long determined_cell(const groups *g, size_t ncells, size_t nvalues,
                            size_t v, const unsigned char *flags) {
  size_t *col = sp_xmalloc(ncells * sizeof *col);
  size_t nu = 0;
  for (size_t c = 0; c < ncells; c++)
    col[c] = flags[c * nvalues + v] ? nu++ : SIZE_MAX;
  size_t neq = 0;
  for (size_t k = 0; k < g->ngroups; k++)
    for (size_t m = g->start[k]; m < g->start[k + 1]; m++)
      if (col[g->member[m]] != SIZE_MAX) {
        neq++;
        break;
      }
  long found = -1;
  if (nu == 0 || neq == 0 || nu * neq > 4000000u) {
    /* Too large to test exactly (millions of suppressed cells in one
     * table): the group rule alone applies. */
    free(col);
    return -1;
  }
  double *a = sp_xcalloc(neq * nu, sizeof *a);
  size_t r = 0;
  for (size_t k = 0; k < g->ngroups; k++) {
    int any = 0;
    for (size_t m = g->start[k]; m < g->start[k + 1]; m++)
      if (col[g->member[m]] != SIZE_MAX) {
        a[r * nu + col[g->member[m]]] = 1.0;
        any = 1;
      }
    r += any;
  }
  /* Gauss-Jordan with partial pivoting; the entries are small integers. */
  size_t *pivcol = sp_xmalloc(neq * sizeof *pivcol);
  size_t rank = 0;
  for (size_t j = 0; j < nu && rank < neq; j++) {
    size_t p = rank;
    for (size_t i = rank + 1; i < neq; i++)
      if (fabs(a[i * nu + j]) > fabs(a[p * nu + j]))
        p = i;
    if (fabs(a[p * nu + j]) < 1e-9)
      continue;
    if (p != rank)
      for (size_t x = 0; x < nu; x++) {
        double t = a[p * nu + x];
        a[p * nu + x] = a[rank * nu + x];
        a[rank * nu + x] = t;
      }
    double piv = a[rank * nu + j];
    for (size_t x = 0; x < nu; x++)
      a[rank * nu + x] /= piv;
    for (size_t i = 0; i < neq; i++) {
      double f = a[i * nu + j];
      if (i == rank || fabs(f) < 1e-12)
        continue;
      for (size_t x = 0; x < nu; x++)
        a[i * nu + x] -= f * a[rank * nu + x];
    }
    pivcol[rank++] = j;
  }
  for (size_t i = 0; i < rank && found < 0; i++) {
    size_t nz = 0;
    for (size_t x = 0; x < nu; x++)
      nz += fabs(a[i * nu + x]) > 1e-9;
    if (nz == 1)
      for (size_t c = 0; c < ncells; c++)
        if (col[c] == pivcol[i])
          found = (long)c;
  }
  free(pivcol);
  free(a);
  free(col);
  return found;
}

size_t sp_suppress(const char *const *dims, size_t ndims, size_t ncells,
                   const long long *values, size_t nvalues, int threshold,
                   unsigned char *flags) {
  size_t secondary = 0;
  for (size_t i = 0; i < ncells * nvalues; i++)
    flags[i] = values[i] >= 1 && values[i] <= threshold ? SP_SUPP_PRIMARY : 0;
  groups g;
  groups_build(&g, dims, ndims, ncells);
  for (size_t v = 0; v < nvalues; v++) {
    for (;;) {
      int changed = 1;
      while (changed) {
        changed = 0;
        for (size_t k = 0; k < g.ngroups; k++) {
          size_t ns = 0;
          for (size_t m = g.start[k]; m < g.start[k + 1]; m++)
            ns += flags[g.member[m] * nvalues + v] != 0;
          if (ns == 1 && suppress_one_more(&g, k, values, nvalues, v, flags)) {
            secondary++;
            changed = 1;
          }
        }
      }
      long c = determined_cell(&g, ncells, nvalues, v, flags);
      if (c < 0)
        break;
      /* Protect it through one of its groups: the one with the fewest
       * suppressed cells gains another. */
      long best = -1;
      size_t best_ns = SIZE_MAX;
      for (size_t k = 0; k < g.ngroups; k++) {
        int has = 0;
        size_t ns = 0;
        for (size_t m = g.start[k]; m < g.start[k + 1]; m++) {
          has |= g.member[m] == (size_t)c;
          ns += flags[g.member[m] * nvalues + v] != 0;
        }
        if (has && ns < g.start[k + 1] - g.start[k] && ns < best_ns) {
          best = (long)k;
          best_ns = ns;
        }
      }
      if (best < 0 ||
          !suppress_one_more(&g, (size_t)best, values, nvalues, v, flags))
        break; /* every cell of its groups is hidden already */
      secondary++;
    }
  }
  groups_free(&g);
  return secondary;
}
