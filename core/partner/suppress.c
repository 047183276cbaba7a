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

#include "partner/audit.h"
#include "partner/suppress.h"
#include "base/util.h"

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

/* ---- the relations an attacker knows ------------------------------------ */

/*
 * Every relation of the table over its (cell, value column) pairs, the
 * unknowns: var = cell * nvalues + column.  A group of each column gives
 * "total - sum of its cells = 0"; a subset column gives "sub - sup <= 0" in
 * every cell.  Built once per table; which unknowns are hidden changes, the
 * relations do not.
 */
typedef struct relations {
  size_t n;
  size_t *start;     /* n + 1 offsets */
  uint32_t *var;     /* the unknowns of each relation */
  signed char *coef; /* +1 or -1 */
  unsigned char *le; /* 1: "<= 0", 0: "= 0" */
  size_t *by_start;  /* nvars + 1: the relations each unknown is in */
  uint32_t *by;
} relations;

static void rel_build(relations *r, const groups *g, size_t ncells,
                      size_t nvalues, const int *subset_of) {
  size_t nsub = 0;
  for (size_t v = 0; subset_of && v < nvalues; v++)
    nsub += subset_of[v] >= 0 && (size_t)subset_of[v] < nvalues &&
            (size_t)subset_of[v] != v;
  r->n = g->ngroups * nvalues + nsub * ncells;
  size_t nent = g->start[g->ngroups] * nvalues + 2 * nsub * ncells;
  r->start = sp_xmalloc((r->n + 1) * sizeof *r->start);
  r->var = sp_xmalloc((nent ? nent : 1) * sizeof *r->var);
  r->coef = sp_xmalloc((nent ? nent : 1) * sizeof *r->coef);
  r->le = sp_xmalloc((r->n ? r->n : 1) * sizeof *r->le);
  size_t k = 0, e = 0;
  for (size_t v = 0; v < nvalues; v++)
    for (size_t q = 0; q < g->ngroups; q++) {
      r->start[k] = e;
      r->le[k++] = 0;
      for (size_t m = g->start[q]; m < g->start[q + 1]; m++) {
        r->var[e] = (uint32_t)(g->member[m] * nvalues + v);
        r->coef[e++] = m == g->start[q] ? 1 : -1;
      }
    }
  for (size_t v = 0; nsub && v < nvalues; v++) {
    int w = subset_of[v];
    if (w < 0 || (size_t)w >= nvalues || (size_t)w == v)
      continue;
    for (size_t c = 0; c < ncells; c++) {
      r->start[k] = e;
      r->le[k++] = 1;
      r->var[e] = (uint32_t)(c * nvalues + v);
      r->coef[e++] = 1;
      r->var[e] = (uint32_t)(c * nvalues + (size_t)w);
      r->coef[e++] = -1;
    }
  }
  r->start[k] = e;
  size_t nvars = ncells * nvalues;
  r->by_start = sp_xcalloc(nvars + 1, sizeof *r->by_start);
  for (size_t i = 0; i < e; i++)
    r->by_start[r->var[i] + 1]++;
  for (size_t i = 0; i < nvars; i++)
    r->by_start[i + 1] += r->by_start[i];
  r->by = sp_xmalloc((e ? e : 1) * sizeof *r->by);
  size_t *fill = sp_xcalloc(nvars + 1, sizeof *fill);
  for (size_t q = 0; q < r->n; q++)
    for (size_t i = r->start[q]; i < r->start[q + 1]; i++) {
      size_t x = r->var[i];
      r->by[r->by_start[x] + fill[x]++] = (uint32_t)q;
    }
  free(fill);
}

static void rel_free(relations *r) {
  free(r->start);
  free(r->var);
  free(r->coef);
  free(r->le);
  free(r->by_start);
  free(r->by);
}

/* ---- the audit loop ------------------------------------------------------ */

static size_t uf_find(size_t *parent, size_t x) {
  while (parent[x] != x) {
    parent[x] = parent[parent[x]];
    x = parent[x];
  }
  return x;
}

/* A set of 64-bit block fingerprints proven safe (open addressing). */
typedef struct proven {
  uint64_t *slot;
  size_t cap, n;
} proven;

static int proven_has(const proven *p, uint64_t h) {
  for (size_t i = (size_t)h & (p->cap - 1); p->slot[i];
       i = (i + 1) & (p->cap - 1))
    if (p->slot[i] == h)
      return 1;
  return 0;
}

static void proven_add(proven *p, uint64_t h) {
  if (2 * (p->n + 1) > p->cap) {
    proven q = {sp_xcalloc(p->cap * 2, sizeof *q.slot), p->cap * 2, 0};
    for (size_t i = 0; i < p->cap; i++)
      if (p->slot[i])
        proven_add(&q, p->slot[i]);
    free(p->slot);
    *p = q;
  }
  size_t i = (size_t)h & (p->cap - 1);
  while (p->slot[i])
    i = (i + 1) & (p->cap - 1);
  p->slot[i] = h;
  p->n++;
}

/* Number the periods: cells with the same value at time_dim (one period
 * for every cell when there is no time dimension or it has totals). */
static size_t number_periods(const char *const *dims, size_t ndims,
                             size_t ncells, int time_dim, size_t *period) {
  for (size_t c = 0; c < ncells; c++)
    period[c] = 0;
  if (time_dim < 0 || (size_t)time_dim >= ndims)
    return 1;
  for (size_t c = 0; c < ncells; c++)
    if (!dims[c * ndims + (size_t)time_dim])
      return 1;
  sp_cell_index ix;
  const char **one = sp_xmalloc((ncells ? ncells : 1) * sizeof *one);
  size_t *first = sp_xmalloc((ncells ? ncells : 1) * sizeof *first);
  size_t np = 0;
  sp_index_build(&ix, NULL, 1, 0);
  for (size_t c = 0; c < ncells; c++) {
    const char *val = dims[c * ndims + (size_t)time_dim];
    long f = sp_index_find(&ix, one, 1, &val, -1);
    if (f >= 0) {
      period[c] = first[f];
    } else {
      one[np] = val;
      first[np] = np;
      period[c] = np;
      sp_index_add(&ix, one, 1, np++);
    }
  }
  free(ix.slots);
  free(first);
  free(one);
  return np ? np : 1;
}

/* Blocks of more unknowns than this whose relations are all equations (a
 * network: plain totals) are audited with witnesses along equations, and
 * with programs only where nothing is left to hide: a cold linear program
 * over a large block costs milliseconds, and the greedy loop audits a
 * block once per value it hides, while along equations the witnesses are
 * complete enough.  Other blocks get programs where a path shows nothing,
 * which hides less where subsets or three-way totals make paths miss.
 * Publishing a value again is not tried for such a block when it is this
 * large (it would mean re-auditing the whole block with programs). */
#define PATHS_ONLY_ABOVE 200
#define REPUBLISH_TRIALS 1000

typedef struct engine {
  size_t nvars, nvalues;
  const long long *values;
  unsigned char *flags;
  unsigned char *fixed; /* known to the attacker from an earlier release:
                          no protection when hidden */
  const relations *rel;
  const size_t *period;    /* per cell */
  unsigned char *withheld; /* per period */
  unsigned *inblk;         /* per unknown: the mark of the block it is in */
  /* Per unknown: the least and greatest value it takes in the verified
   * integer points found for its block so far, in this or an earlier
   * round (see audit_block). */
  long long *lo, *hi;
  long long lb, width, big;
  int paths_only; /* audits find witnesses along equations only (fast, and
                     a count they cannot show wide gets a neighbour hidden);
                     programs decide where nothing is left to hide */
  double deadline;
  sp_supp_stats *st;
} engine;

static int is_unknown(const engine *e, size_t x) {
  return e->flags[x] && !e->fixed[x];
}

/* Withhold a whole period: every value of every cell in it. */
static void withhold(engine *e, size_t p) {
  if (e->withheld[p])
    return;
  e->withheld[p] = 1;
  e->st->withheld_periods++;
  for (size_t x = 0; x < e->nvars; x++)
    if (e->period[x / e->nvalues] == p)
      e->flags[x] = SP_SUPP_WITHHELD;
}

/*
 * Hide one more value next to the narrow unknown x: the smallest published
 * value (non-zero unless zeros are hidden anyway) of a relation x is in,
 * preferring relations with fewer hidden values.  stamp marks relations
 * that gained a hidden value this round.  Returns 2 if one was hidden, 1
 * if a relation of x changed this round already (audit again first), 0 if
 * nothing is left to hide.
 */
static int hide_next_to(engine *e, size_t x, unsigned *stamp, unsigned round) {
  const relations *r = e->rel;
  long best = -1;
  size_t best_hidden = 0;
  for (size_t i = r->by_start[x]; i < r->by_start[x + 1]; i++) {
    size_t q = r->by[i];
    if (stamp[q] == round)
      return 1; /* changed already this round: audit again first */
    size_t hidden = 0;
    for (size_t k = r->start[q]; k < r->start[q + 1]; k++)
      hidden += e->flags[r->var[k]] != 0;
    for (size_t k = r->start[q]; k < r->start[q + 1]; k++) {
      size_t y = r->var[k];
      long long vy = e->values[y];
      if (e->flags[y] || e->fixed[y] || vy < e->lb)
        continue; /* hidden already, known anyway, or a published 0 */
      if (best < 0 || vy < e->values[best] ||
          (vy == e->values[best] && hidden < best_hidden)) {
        best = (long)y;
        best_hidden = hidden;
      }
    }
  }
  if (best < 0)
    return 0;
  e->flags[best] = SP_SUPP_SECONDARY;
  e->st->secondary++;
  for (size_t i = r->by_start[best]; i < r->by_start[best + 1]; i++)
    stamp[r->by[i]] = round;
  return 2;
}

/*
 * Audit one block (its unknowns, ascending): build the attacker's model
 * from the relations its unknowns are in, with every published or known
 * value moved to the right-hand side.  Returns the number of narrow
 * unknowns (listed in narrow_out), or -1 on timeout.
 */
static long audit_block(engine *e, const size_t *mem, size_t n, size_t *local,
                        unsigned *inblk, unsigned *seen, unsigned seen_mark,
                        int skip_large, unsigned char *narrow) {
  const relations *r = e->rel;
  sp_lp_model m;
  sp_lp_init(&m, n, e->lb, e->big);
  long long *lo = sp_xmalloc((n ? n : 1) * sizeof *lo);
  long long *hi = sp_xmalloc((n ? n : 1) * sizeof *hi);
  /* local[] maps this block's unknowns, marked with seen_mark in inblk:
   * a value hidden earlier in this round for another block is still a
   * published constant here (the block is audited again next round). */
  for (size_t j = 0; j < n; j++) {
    local[mem[j]] = j;
    inblk[mem[j]] = seen_mark;
    lo[j] = e->lo[mem[j]];
    hi[j] = e->hi[mem[j]];
  }
  for (size_t j = 0; j < n; j++)
    for (size_t i = r->by_start[mem[j]]; i < r->by_start[mem[j] + 1]; i++) {
      size_t q = r->by[i];
      if (seen[q] == seen_mark)
        continue;
      seen[q] = seen_mark;
      long long rhs = 0;
      for (size_t k = r->start[q]; k < r->start[q + 1]; k++) {
        size_t y = r->var[k];
        if (inblk[y] == seen_mark) /* a relation holds each value once */
          sp_lp_term_new(&m, local[y], r->coef[k]);
        else
          rhs -= r->coef[k] * e->values[y];
      }
      sp_lp_row(&m, r->le[q] ? SP_ROW_LE : SP_ROW_EQ, rhs);
    }
  int has_le = 0; /* a subset relation: not a network, paths may miss */
  for (size_t q = 0; q < m.nrows; q++)
    has_le |= m.type[q] != SP_ROW_EQ;
  if (skip_large && n > PATHS_ONLY_ABOVE) {
    free(lo);
    free(hi);
    sp_lp_free(&m);
    return 1; /* not audited: the caller keeps the value hidden */
  }
  sp_lp_stats ls = {0};
  /* The relations are fixed and the hidden set only grows, so every
   * integer point of an earlier audit of (part of) this block, extended
   * with the true values of the unknowns hidden since, satisfies every row
   * of this model: the new unknowns were right-hand-side constants at
   * exactly those values there, and a row without earlier unknowns holds
   * at the truth.  The bounds are the same for every audit.  So the values
   * e->lo/e->hi, attained by such points, are attained by integer points
   * of this model too, and only the unknowns not yet shown wide need
   * programs. */
  long long *truth = sp_xmalloc((n ? n : 1) * sizeof *truth);
  for (size_t j = 0; j < n; j++)
    truth[j] = e->values[mem[j]];
  long res = sp_lp_audit_from(&m, truth, lo, hi, e->width,
                              e->paths_only && !has_le ? 2 : 1, narrow,
                              e->deadline, &ls);
  free(truth);
  for (size_t j = 0; j < n; j++) {
    e->lo[mem[j]] = lo[j];
    e->hi[mem[j]] = hi[j];
  }
  e->st->lps += ls.lps;
  e->st->ips += ls.ips;
  e->st->paths += ls.paths;
  e->st->blocks++;
  free(hi);
  free(lo);
  sp_lp_free(&m);
  return res;
}

/* qsort_r order: the largest value first, ties in index order. */
static int by_value_desc(const void *a, const void *b, void *arg) {
  const long long *v = arg;
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  if (v[x] != v[y])
    return v[x] > v[y] ? -1 : 1;
  return x < y ? -1 : x > y;
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

static uint64_t block_print(const size_t *mem, size_t n) {
  uint64_t h = 1469598103934665603ull ^ n;
  for (size_t j = 0; j < n; j++) {
    uint64_t v = mem[j];
    for (int b = 0; b < 8; b++, v >>= 8)
      h = (h ^ (v & 0xff)) * 1099511628211ull;
  }
  return h ? h : 1; /* 0 marks an empty slot */
}

/* One round over every block.  Returns whether any value was hidden;
 * *timed_out when the deadline passed (the unproven blocks' periods are
 * withheld then). */
static int audit_round(engine *e, proven *pv, unsigned *stamp, unsigned round,
                       unsigned *seen, unsigned *seen_mark, int *timed_out) {
  const relations *r = e->rel;
  size_t nv = e->nvars;
  size_t *parent = sp_xmalloc((nv ? nv : 1) * sizeof *parent);
  for (size_t x = 0; x < nv; x++)
    parent[x] = x;
  for (size_t q = 0; q < r->n; q++) {
    size_t first = SIZE_MAX;
    for (size_t k = r->start[q]; k < r->start[q + 1]; k++) {
      size_t y = r->var[k];
      if (!is_unknown(e, y))
        continue;
      if (first == SIZE_MAX)
        first = y;
      else
        parent[uf_find(parent, y)] = uf_find(parent, first);
    }
  }
  /* Blocks as runs of unknowns, ascending within each (counting sort by
   * root). */
  size_t *cnt = sp_xcalloc(nv + 1, sizeof *cnt);
  for (size_t x = 0; x < nv; x++)
    if (is_unknown(e, x))
      cnt[uf_find(parent, x) + 1]++;
  for (size_t x = 0; x < nv; x++)
    cnt[x + 1] += cnt[x];
  size_t *mem = sp_xmalloc((cnt[nv] ? cnt[nv] : 1) * sizeof *mem);
  size_t *fill = sp_xcalloc(nv + 1, sizeof *fill);
  for (size_t x = 0; x < nv; x++)
    if (is_unknown(e, x)) {
      size_t root = uf_find(parent, x);
      mem[cnt[root] + fill[root]++] = x;
    }
  size_t *local = sp_xmalloc((nv ? nv : 1) * sizeof *local);
  unsigned *inblk = e->inblk;
  unsigned char *narrow = sp_xmalloc((cnt[nv] ? cnt[nv] : 1));
  int changed = 0;
  for (size_t root = 0; root < nv; root++) {
    size_t n = cnt[root + 1] - cnt[root];
    const size_t *bm = mem + cnt[root];
    if (n == 0 || e->withheld[e->period[bm[0] / e->nvalues]])
      continue;
    uint64_t h = block_print(bm, n);
    if (proven_has(pv, h))
      continue;
    long res = -1;
    if (!*timed_out) {
      ++*seen_mark;
      res = audit_block(e, bm, n, local, inblk, seen, *seen_mark, 0, narrow);
    }
    if (res < 0) {
      *timed_out = 1;
      withhold(e, e->period[bm[0] / e->nvalues]);
      changed = 1;
      continue;
    }
    if (res == 0) {
      proven_add(pv, h);
      continue;
    }
    /* One more hidden value per block and round, then audit again: hiding
     * next to every narrow count at once hides far more than needed (one
     * new value often protects several). */
    int any = 0;
    for (size_t j = 0; j < n && any < 2; j++)
      if (narrow[j]) {
        int hid = hide_next_to(e, bm[j], stamp, round);
        any = hid > any ? hid : any;
      }
    /* Nothing left to hide around the narrow count: a value next to
     * another of the block's unknowns may still open a longer cycle. */
    for (size_t j = 0; j < n && any < 2 && !any; j++)
      any = hide_next_to(e, bm[j], stamp, round);
    if (!any && e->paths_only) { /* the programs may show it wide */
      e->paths_only = 0;
      ++*seen_mark;
      res = audit_block(e, bm, n, local, inblk, seen, *seen_mark, 0, narrow);
      e->paths_only = 1;
      if (res == 0) {
        proven_add(pv, h);
        continue;
      }
      if (res < 0) {
        *timed_out = 1;
        withhold(e, e->period[bm[0] / e->nvalues]);
        changed = 1;
        continue;
      }
    }
    if (!any) /* nothing left to hide anywhere near: fail safe */
      withhold(e, e->period[bm[0] / e->nvalues]);
    changed = 1;
  }
  free(narrow);
  free(local);
  free(fill);
  free(mem);
  free(cnt);
  free(parent);
  return changed;
}

/* The unknowns connected to y through relations, not through x (the
 * value being published): ascending in mem, *n of them.  visit marks
 * what this trial has reached (with mark). */
static void component(const engine *e, size_t x, size_t y, unsigned *visit,
                      unsigned mark, size_t *mem, size_t *n, size_t *stack) {
  const relations *r = e->rel;
  size_t top = 0;
  *n = 0;
  visit[y] = mark;
  stack[top++] = y;
  while (top) {
    size_t u = stack[--top];
    mem[(*n)++] = u;
    if (*n > PATHS_ONLY_ABOVE)
      return; /* too large to try (audit_block skips it): stop here */
    for (size_t i = r->by_start[u]; i < r->by_start[u + 1]; i++)
      for (size_t k = r->start[r->by[i]]; k < r->start[r->by[i] + 1]; k++) {
        size_t w = r->var[k];
        if (w != x && visit[w] != mark && is_unknown(e, w)) {
          visit[w] = mark;
          stack[top++] = w;
        }
      }
  }
  qsort(mem, *n, sizeof *mem, cmp_size);
}

/*
 * Hide as little as the audit allows: the secondary suppressions are
 * chosen greedily, one per narrow count per round, so some end up
 * redundant.  Try publishing each again, the largest first (they hold the
 * most of the table's sum); keep it published when every block it leaves
 * behind still passes the audit.  Stops at the deadline, leaving the
 * rest hidden (safe either way).
 */
static void publish_redundant(engine *e, proven *pv, unsigned *seen,
                              unsigned *seen_mark) {
  const relations *r = e->rel;
  size_t nv = e->nvars, ns = 0;
  size_t *sec = sp_xmalloc((nv ? nv : 1) * sizeof *sec);
  for (size_t x = 0; x < nv; x++)
    if (e->flags[x] == SP_SUPP_SECONDARY)
      sec[ns++] = x;
  qsort_r(sec, ns, sizeof *sec, by_value_desc, (void *)e->values);
  unsigned *visit = sp_xcalloc(nv ? nv : 1, sizeof *visit);
  size_t *mem = sp_xmalloc((nv ? nv : 1) * sizeof *mem);
  size_t *stack = sp_xmalloc((nv ? nv : 1) * sizeof *stack);
  size_t *local = sp_xmalloc((nv ? nv : 1) * sizeof *local);
  unsigned char *narrow = sp_xmalloc(nv ? nv : 1);
  unsigned mark = 0;
  /* the largest values only: they hold the most of the table's sum, and
   * each trial costs a search of the blocks around it */
  if (ns > REPUBLISH_TRIALS)
    ns = REPUBLISH_TRIALS;
  for (size_t i = 0; i < ns && sp_now_mono() < e->deadline; i++) {
    size_t x = sec[i];
    if (e->withheld[e->period[x / e->nvalues]])
      continue;
    e->flags[x] = 0;
    mark++;
    int ok = 1;
    for (size_t a = r->by_start[x]; ok && a < r->by_start[x + 1]; a++)
      for (size_t k = r->start[r->by[a]]; ok && k < r->start[r->by[a] + 1];
           k++) {
        size_t y = r->var[k];
        if (y == x || visit[y] == mark || !is_unknown(e, y))
          continue;
        size_t n;
        component(e, x, y, visit, mark, mem, &n, stack);
        uint64_t h = block_print(mem, n);
        if (proven_has(pv, h))
          continue;
        /* x is a constant now: points found while it was an unknown may
         * move it, so they prove nothing here.  (Points found now stay
         * valid if x is hidden again: they are points with x at its true
         * value.) */
        for (size_t j = 0; j < n; j++)
          e->lo[mem[j]] = e->hi[mem[j]] = e->values[mem[j]];
        ++*seen_mark;
        long res = audit_block(e, mem, n, local, e->inblk, seen, *seen_mark, 1,
                               narrow);
        if (res == 0)
          proven_add(pv, h);
        else
          ok = 0;
      }
    if (ok)
      e->st->secondary--;
    else
      e->flags[x] = SP_SUPP_SECONDARY;
  }
  free(narrow);
  free(local);
  free(stack);
  free(mem);
  free(visit);
  free(sec);
}

void sp_suppress_audit(const char *const *dims, size_t ndims, size_t ncells,
                       const long long *values, size_t nvalues,
                       const sp_supp_opts *o, unsigned char *flags,
                       sp_supp_stats *st) {
  sp_supp_stats local_st;
  if (!st)
    st = &local_st;
  memset(st, 0, sizeof *st);
  size_t nv = ncells * nvalues;
  long long lo = o->protect_zeros ? 0 : 1;
  long long big = 0;
  for (size_t x = 0; x < nv; x++) {
    flags[x] =
        values[x] >= lo && values[x] <= o->threshold ? SP_SUPP_PRIMARY : 0;
    st->primary += flags[x] != 0;
    if (values[x] > big)
      big = values[x];
  }
  engine e = {0};
  e.nvars = nv;
  e.nvalues = nvalues;
  e.values = values;
  e.flags = flags;
  e.lb = lo;
  e.width = o->width > 0 ? o->width : o->threshold;
  /* An upper bound on every unknown only restricts the attacker's model,
   * so witnesses within it stay valid; it keeps the programs bounded. */
  e.big = 4 * big + 4 * e.width + 16;
  e.deadline = sp_now_mono() + (o->budget > 0 ? o->budget : 300.0);
  e.paths_only = 1;
  e.st = st;
  e.fixed = sp_xcalloc(nv ? nv : 1, 1);
  e.lo = sp_xmalloc((nv ? nv : 1) * sizeof *e.lo);
  e.hi = sp_xmalloc((nv ? nv : 1) * sizeof *e.hi);
  for (size_t x = 0; x < nv; x++)
    e.lo[x] = e.hi[x] = values[x];
  for (size_t x = 0; o->known && x < nv; x++)
    e.fixed[x] = o->known[x] >= 0 && o->known[x] == values[x];
  size_t *period = sp_xmalloc((ncells ? ncells : 1) * sizeof *period);
  size_t np = number_periods(dims, ndims, ncells, o->time_dim, period);
  e.period = period;
  e.withheld = sp_xcalloc(np, 1);
  groups g;
  groups_build(&g, dims, ndims, ncells);
  relations r;
  rel_build(&r, &g, ncells, nvalues, o->subset_of);
  e.rel = &r;
  proven pv = {sp_xcalloc(64, sizeof *pv.slot), 64, 0};
  unsigned *stamp = sp_xcalloc(r.n ? r.n : 1, sizeof *stamp);
  unsigned *seen = sp_xcalloc(r.n ? r.n : 1, sizeof *seen);
  e.inblk = sp_xcalloc(nv ? nv : 1, sizeof *e.inblk);
  unsigned seen_mark = 0, round = 0;
  int timed_out = 0;
  while (audit_round(&e, &pv, stamp, ++round, seen, &seen_mark, &timed_out))
    ;
  st->timed_out = timed_out;
  /* still paths only: a value is published again only where witnesses
   * along equations prove every block it leaves (cheap; where they cannot,
   * it stays hidden, which is safe) */
  if (!timed_out)
    publish_redundant(&e, &pv, seen, &seen_mark);

  free(e.inblk);
  free(seen);
  free(stamp);
  free(pv.slot);
  rel_free(&r);
  groups_free(&g);
  free(e.withheld);
  free(period);
  free(e.hi);
  free(e.lo);
  free(e.fixed);
}

size_t sp_suppress(const char *const *dims, size_t ndims, size_t ncells,
                   const long long *values, size_t nvalues, int threshold,
                   unsigned char *flags) {
  sp_supp_opts o = {.threshold = threshold, .time_dim = -1};
  sp_supp_stats st;
  sp_suppress_audit(dims, ndims, ncells, values, nvalues, &o, flags, &st);
  return st.secondary;
}
