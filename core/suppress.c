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

static uint64_t key_hash(const char *const *vals, size_t n, int skip) {
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

static void index_put(sp_cell_index *ix, const char *const *dims, size_t ndims,
                      size_t c) {
  size_t h = (size_t)key_hash(dims + c * ndims, ndims, -1) & (ix->cap - 1);
  while (ix->slots[h])
    h = (h + 1) & (ix->cap - 1);
  ix->slots[h] = c + 1;
}

void sp_index_build(sp_cell_index *ix, const char *const *dims, size_t ndims,
                    size_t ncells) {
  ix->cap = 16;
  while (ix->cap < ncells * 2)
    ix->cap *= 2;
  ix->slots = sp_xcalloc(ix->cap, sizeof *ix->slots);
  for (size_t c = 0; c < ncells; c++)
    index_put(ix, dims, ndims, c);
}

void sp_index_add(sp_cell_index *ix, const char *const *dims, size_t ndims,
                  size_t cell) {
  if ((cell + 1) * 2 > ix->cap) { /* keep the load under one half */
    free(ix->slots);
    sp_index_build(ix, dims, ndims, cell + 1);
  } else {
    index_put(ix, dims, ndims, cell);
  }
}

long sp_index_find(const sp_cell_index *ix, const char *const *dims,
                   size_t ndims, const char *const *vals, int skip) {
  size_t h = (size_t)key_hash(vals, ndims, skip) & (ix->cap - 1);
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
 * cell, preferring the cells to the total.  With allow_zero, a published 0
 * may be taken when nothing else is left (only the rank test needs that:
 * a hidden 0 is still an unknown to whoever reads the table, but a 0 an
 * attacker can guess from elsewhere protects less, so it is the last
 * resort).  Returns 1 if one was found. */
static int suppress_one_more(const groups *g, size_t k, const long long *values,
                             size_t nvalues, size_t v, unsigned char *flags,
                             int allow_zero) {
  long best = -1;
  long long floor = allow_zero ? 0 : 1;
  for (int pass = 0; pass < 2 && best < 0; pass++)
    for (size_t m = g->start[k] + (pass == 0); m < g->start[k + 1]; m++) {
      size_t c = g->member[m];
      long long x = values[c * nvalues + v];
      if (flags[c * nvalues + v] || x < floor)
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

/* Hide one more cell of a group that holds cell c, so that c (determined
 * by the totals together) is not any more: the groups with the fewest
 * hidden cells first, a non-zero cell if any group has one.  Returns 1 if
 * a cell was hidden. */
static int protect_cell(const groups *g, size_t c, const long long *values,
                        size_t nvalues, size_t v, unsigned char *flags) {
  size_t *cand = sp_xmalloc((g->ngroups ? g->ngroups : 1) * sizeof *cand);
  size_t *hidden = sp_xmalloc((g->ngroups ? g->ngroups : 1) * sizeof *hidden);
  size_t n = 0;
  for (size_t k = 0; k < g->ngroups; k++) {
    int has = 0;
    size_t ns = 0;
    for (size_t m = g->start[k]; m < g->start[k + 1]; m++) {
      has |= g->member[m] == c;
      ns += flags[g->member[m] * nvalues + v] != 0;
    }
    if (has && ns < g->start[k + 1] - g->start[k]) {
      /* insertion by ns: these lists are a cell's few groups */
      size_t i = n++;
      while (i > 0 && hidden[i - 1] > ns) {
        cand[i] = cand[i - 1];
        hidden[i] = hidden[i - 1];
        i--;
      }
      cand[i] = k;
      hidden[i] = ns;
    }
  }
  int done = 0;
  for (int allow_zero = 0; allow_zero < 2 && !done; allow_zero++)
    for (size_t i = 0; i < n && !done; i++)
      done =
          suppress_one_more(g, cand[i], values, nvalues, v, flags, allow_zero);
  free(hidden);
  free(cand);
  return done;
}

/* Union-find over the hidden cells, to split the equations into
 * independent blocks. */
static size_t uf_find(size_t *parent, size_t x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

/*
 * Is one of the n hidden cells of a block determined by its neq equations?
 * Equation r is eq_col[eq_start[r]..eq_start[r+1]): a column c >= 0 is the
 * total (+1), -c-1 a cell it sums (-1) — the signs matter: a cell is the
 * total of one group and a member of another.  Gauss-Jordan on a dense
 * matrix with partial pivoting (small integer entries, small blocks); a
 * cell is determined iff the reduced row echelon form has a row with that
 * cell as its only non-zero.  Returns its column, or -1.
 */
static long block_determined(size_t n, size_t neq, const size_t *eq_start,
                             const long long *eq_col) {
  double *a = sp_xcalloc(neq * n, sizeof *a);
  for (size_t r = 0; r < neq; r++)
    for (size_t k = eq_start[r]; k < eq_start[r + 1]; k++)
      if (eq_col[k] >= 0)
        a[r * n + (size_t)eq_col[k]] = 1.0; /* the total */
      else
        a[r * n + (size_t)(-eq_col[k] - 1)] = -1.0; /* a cell it sums */
  size_t *pivcol = sp_xmalloc((neq ? neq : 1) * sizeof *pivcol);
  size_t rank = 0;
  for (size_t j = 0; j < n && rank < neq; j++) {
    size_t p = rank;
    for (size_t i = rank + 1; i < neq; i++)
      if (fabs(a[i * n + j]) > fabs(a[p * n + j]))
        p = i;
    if (fabs(a[p * n + j]) < 1e-9)
      continue;
    if (p != rank)
      for (size_t x = 0; x < n; x++) {
        double t = a[p * n + x];
        a[p * n + x] = a[rank * n + x];
        a[rank * n + x] = t;
      }
    double piv = a[rank * n + j];
    for (size_t x = 0; x < n; x++)
      a[rank * n + x] /= piv;
    for (size_t i = 0; i < neq; i++) {
      double f = a[i * n + j];
      if (i == rank || fabs(f) < 1e-12)
        continue;
      for (size_t x = 0; x < n; x++)
        a[i * n + x] -= f * a[rank * n + x];
    }
    pivcol[rank++] = j;
  }
  long found = -1;
  for (size_t i = 0; i < rank && found < 0; i++) {
    size_t nz = 0;
    for (size_t x = 0; x < n; x++)
      nz += fabs(a[i * n + x]) > 1e-9;
    if (nz == 1)
      found = (long)pivcol[i];
  }
  free(pivcol);
  free(a);
  return found;
}

/*
 * The suppressed cells (of one value column) that the published totals
 * determine exactly, found by linear algebra: with the published values
 * moved to the right-hand side, every group is one equation in its
 * suppressed cells, and a cell is determined iff its unit vector lies in
 * the equations' row space.  The "0 or at least 2 per group" rule alone
 * misses this when a cell is in several totals (two-way tables and more).
 *
 * The equations fall apart into independent blocks (hidden cells linked
 * through shared groups: one school year and subject of a table totalled
 * over area and grade, say), solved one at a time, so the cost follows the
 * largest block rather than the table.  Returns one determined cell, or
 * -1.
 */
static long determined_cell(const groups *g, size_t ncells, size_t nvalues,
                            size_t v, const unsigned char *flags,
                            int *skipped) {
  size_t *col = sp_xmalloc((ncells ? ncells : 1) * sizeof *col);
  size_t nu = 0;
  for (size_t c = 0; c < ncells; c++)
    col[c] = flags[c * nvalues + v] ? nu++ : SIZE_MAX;
  size_t *hidden = sp_xmalloc((nu ? nu : 1) * sizeof *hidden);
  size_t *parent = sp_xmalloc((nu ? nu : 1) * sizeof *parent);
  for (size_t c = 0; c < ncells; c++)
    if (col[c] != SIZE_MAX)
      hidden[col[c]] = c;
  for (size_t i = 0; i < nu; i++)
    parent[i] = i;
  for (size_t k = 0; k < g->ngroups; k++) {
    size_t first = SIZE_MAX;
    for (size_t m = g->start[k]; m < g->start[k + 1]; m++) {
      size_t u = col[g->member[m]];
      if (u == SIZE_MAX)
        continue;
      if (first == SIZE_MAX)
        first = u;
      else
        parent[uf_find(parent, u)] = uf_find(parent, first);
    }
  }
  /* Number the blocks; each hidden cell gets its block and its column in
   * it, each equation (a group with a hidden member) its block. */
  size_t *block = sp_xmalloc((nu ? nu : 1) * sizeof *block);
  size_t *local = sp_xmalloc((nu ? nu : 1) * sizeof *local);
  size_t *bid = sp_xmalloc((nu ? nu : 1) * sizeof *bid);
  size_t *bsize = sp_xcalloc(nu + 1, sizeof *bsize);
  size_t nblocks = 0;
  for (size_t i = 0; i < nu; i++)
    bid[i] = SIZE_MAX;
  for (size_t i = 0; i < nu; i++) {
    size_t r = uf_find(parent, i);
    if (bid[r] == SIZE_MAX)
      bid[r] = nblocks++;
    block[i] = bid[r];
    local[i] = bsize[block[i]]++;
  }
  /* Equations sorted by block (counting sort over the groups). */
  size_t *gblock = sp_xmalloc((g->ngroups ? g->ngroups : 1) * sizeof *gblock);
  size_t *estart = sp_xcalloc(nblocks + 1, sizeof *estart);
  for (size_t k = 0; k < g->ngroups; k++) {
    gblock[k] = SIZE_MAX;
    for (size_t m = g->start[k]; m < g->start[k + 1]; m++)
      if (col[g->member[m]] != SIZE_MAX) {
        gblock[k] = block[col[g->member[m]]];
        estart[gblock[k] + 1]++;
        break;
      }
  }
  for (size_t b = 0; b < nblocks; b++)
    estart[b + 1] += estart[b];
  size_t *eqs =
      sp_xmalloc((estart[nblocks] ? estart[nblocks] : 1) * sizeof *eqs);
  size_t *fill = sp_xcalloc(nblocks + 1, sizeof *fill);
  for (size_t k = 0; k < g->ngroups; k++)
    if (gblock[k] != SIZE_MAX)
      eqs[estart[gblock[k]] + fill[gblock[k]]++] = k;
  /* Per block: its equations in local columns, then the test. */
  size_t *eq_start = sp_xmalloc((g->ngroups + 1) * sizeof *eq_start);
  size_t eq_cap = 64;
  long long *eq_col = sp_xmalloc(eq_cap * sizeof *eq_col);
  long found = -1;
  for (size_t b = 0; b < nblocks && found < 0; b++) {
    size_t neq = estart[b + 1] - estart[b], n = bsize[b], ne = 0;
    if (neq * n > SP_RANK_TEST_MAX) {
      *skipped = 1; /* a block this large: the group rule alone applies */
      continue;
    }
    eq_start[0] = 0;
    for (size_t e = 0; e < neq; e++) {
      size_t k = eqs[estart[b] + e];
      for (size_t m = g->start[k]; m < g->start[k + 1]; m++) {
        size_t u = col[g->member[m]];
        if (u == SIZE_MAX)
          continue;
        if (ne == eq_cap) {
          eq_cap *= 2;
          eq_col = sp_xrealloc(eq_col, eq_cap * sizeof *eq_col);
        }
        /* total = sum of cells: +1 for the total, -1 for each cell */
        eq_col[ne++] =
            m == g->start[k] ? (long long)local[u] : -(long long)local[u] - 1;
      }
      eq_start[e + 1] = ne;
    }
    long j = block_determined(n, neq, eq_start, eq_col);
    if (j >= 0)
      for (size_t i = 0; i < nu && found < 0; i++)
        if (block[i] == b && local[i] == (size_t)j)
          found = (long)hidden[i];
  }
  free(eq_col);
  free(eq_start);
  free(fill);
  free(eqs);
  free(estart);
  free(gblock);
  free(bsize);
  free(bid);
  free(local);
  free(block);
  free(parent);
  free(hidden);
  free(col);
  return found;
}

size_t sp_suppress(const char *const *dims, size_t ndims, size_t ncells,
                   const long long *values, size_t nvalues, int threshold,
                   unsigned char *flags) {
  return sp_suppress_ex(dims, ndims, ncells, values, nvalues, threshold, flags,
                        NULL);
}

size_t sp_suppress_ex(const char *const *dims, size_t ndims, size_t ncells,
                      const long long *values, size_t nvalues, int threshold,
                      unsigned char *flags, size_t *untested) {
  size_t secondary = 0;
  for (size_t i = 0; i < ncells * nvalues; i++)
    flags[i] = values[i] >= 1 && values[i] <= threshold ? SP_SUPP_PRIMARY : 0;
  groups g;
  groups_build(&g, dims, ndims, ncells);
  if (untested)
    *untested = 0;
  for (size_t v = 0; v < nvalues; v++) {
    int skipped = 0;
    for (;;) {
      int changed = 1;
      while (changed) {
        changed = 0;
        for (size_t k = 0; k < g.ngroups; k++) {
          size_t ns = 0;
          for (size_t m = g.start[k]; m < g.start[k + 1]; m++)
            ns += flags[g.member[m] * nvalues + v] != 0;
          /* a 0 only when the one hidden cell is a 0 the rank step hid
           * and nothing else is left */
          if (ns == 1 &&
              (suppress_one_more(&g, k, values, nvalues, v, flags, 0) ||
               suppress_one_more(&g, k, values, nvalues, v, flags, 1))) {
            secondary++;
            changed = 1;
          }
        }
      }
      long c = determined_cell(&g, ncells, nvalues, v, flags, &skipped);
      if (c < 0)
        break;
      if (!protect_cell(&g, (size_t)c, values, nvalues, v, flags)) {
        skipped = 1; /* every cell of its groups is hidden already */
        break;
      }
      secondary++;
    }
    if (skipped && untested)
      (*untested)++;
  }
  groups_free(&g);
  return secondary;
}
