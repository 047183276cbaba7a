/*
 * kway.c — see kway.h.  The rank test here works modulo a prime with
 * integer arithmetic, and builds its equations from the digits of each
 * cell rather than from the engine's groups, so that a mistake in
 * core/partner/suppress.c cannot hide in a shared one.
 */
#include "kway.h"

#include "partner/audit.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRIME 2147483647ull

static const char *const labels[] = {"0", "1", "2", "3", "4",
                                     "5", "6", "7", "8"};

static int is_total(const sp_kway *t, size_t c, size_t d) {
  return t->idx[c * t->k + d] == t->size[d];
}

void sp_kway_build(sp_kway *t, size_t k, const size_t *sizes,
                   long long (*cell)(const size_t *idx, void *arg), void *arg) {
  t->k = k;
  t->n = 1;
  for (size_t d = 0; d < k; d++) {
    t->size[d] = sizes[d];
    t->n *= sizes[d] + 1;
  }
  t->dims = calloc(t->n * k, sizeof *t->dims);
  t->v = calloc(t->n, sizeof *t->v);
  t->idx = calloc(t->n * k, sizeof *t->idx);
  for (size_t c = 0; c < t->n; c++) {
    size_t x = c;
    for (size_t d = 0; d < k; d++) {
      t->idx[c * k + d] = x % (sizes[d] + 1);
      x /= sizes[d] + 1;
      t->dims[c * k + d] = is_total(t, c, d) ? NULL : labels[t->idx[c * k + d]];
    }
  }
  for (size_t c = 0; c < t->n; c++) {
    int inner = 1;
    for (size_t d = 0; d < k; d++)
      inner &= !is_total(t, c, d);
    if (!inner)
      continue;
    long long val = cell(t->idx + c * k, arg);
    for (size_t c2 = 0; c2 < t->n; c2++) {
      int covers = 1;
      for (size_t d = 0; d < k; d++)
        covers &= is_total(t, c2, d) || t->idx[c2 * k + d] == t->idx[c * k + d];
      if (covers)
        t->v[c2] += val;
    }
  }
}

int sp_kway_member(const sp_kway *t, size_t s, size_t c, size_t d) {
  if (!is_total(t, c, d) || is_total(t, s, d))
    return 0;
  for (size_t e = 0; e < t->k; e++)
    if (e != d && t->idx[s * t->k + e] != t->idx[c * t->k + e])
      return 0;
  return 1;
}

int sp_kway_groups_hold(const sp_kway *t, const unsigned char *f) {
  for (size_t c = 0; c < t->n; c++)
    for (size_t d = 0; d < t->k; d++) {
      if (!is_total(t, c, d))
        continue;
      size_t ns = f[c] != 0;
      for (size_t s = 0; s < t->n; s++)
        ns += f[s] && sp_kway_member(t, s, c, d);
      if (ns == 1)
        return 0;
    }
  return 1;
}

void sp_kway_free(sp_kway *t) {
  free(t->dims);
  free(t->v);
  free(t->idx);
}

static uint64_t powmod(uint64_t b, uint64_t e) {
  uint64_t r = 1;
  for (b %= PRIME; e; e >>= 1, b = b * b % PRIME)
    if (e & 1)
      r = r * b % PRIME;
  return r;
}

long sp_kway_determined(const sp_kway *t, const unsigned char *f) {
  size_t *col = malloc(t->n * sizeof *col), nu = 0;
  for (size_t c = 0; c < t->n; c++)
    col[c] = f[c] ? nu++ : SIZE_MAX;
  size_t cap = t->n * t->k + 1, neq = 0;
  uint64_t *a = calloc(cap * (nu ? nu : 1), sizeof *a);
  /* One equation per total cell c and dimension d at which c is a total:
   * c minus the cells that differ from it only by a value at d. */
  for (size_t c = 0; c < t->n; c++)
    for (size_t d = 0; d < t->k; d++) {
      if (!is_total(t, c, d))
        continue;
      uint64_t *row = a + neq * nu;
      int any = 0;
      if (f[c]) {
        row[col[c]] = 1;
        any = 1;
      }
      for (size_t s = 0; s < t->n; s++)
        if (f[s] && sp_kway_member(t, s, c, d)) {
          row[col[s]] = (row[col[s]] + PRIME - 1) % PRIME;
          any = 1;
        }
      neq += any;
    }
  size_t rank = 0;
  size_t *pivot = calloc(neq + 1, sizeof *pivot);
  for (size_t j = 0; j < nu && rank < neq; j++) {
    size_t p = rank;
    while (p < neq && a[p * nu + j] == 0)
      p++;
    if (p == neq)
      continue;
    for (size_t x = 0; x < nu; x++) {
      uint64_t tmp = a[p * nu + x];
      a[p * nu + x] = a[rank * nu + x];
      a[rank * nu + x] = tmp;
    }
    uint64_t inv = powmod(a[rank * nu + j], PRIME - 2);
    for (size_t x = 0; x < nu; x++)
      a[rank * nu + x] = a[rank * nu + x] * inv % PRIME;
    for (size_t i = 0; i < neq; i++) {
      uint64_t m = a[i * nu + j];
      if (i == rank || m == 0)
        continue;
      for (size_t x = 0; x < nu; x++)
        a[i * nu + x] =
            (a[i * nu + x] + PRIME - m * a[rank * nu + x] % PRIME) % PRIME;
    }
    pivot[rank++] = j;
  }
  long found = -1;
  for (size_t i = 0; i < rank && found < 0; i++) {
    size_t nz = 0;
    for (size_t x = 0; x < nu; x++)
      nz += a[i * nu + x] != 0;
    if (nz == 1) /* the row is e_u: cell u is given away */
      for (size_t c = 0; c < t->n; c++)
        if (col[c] == pivot[i])
          found = (long)c;
  }
  free(pivot);
  free(a);
  free(col);
  return found;
}

void sp_kway_print(const sp_kway *t, const unsigned char *f, FILE *out) {
  for (size_t c = 0; c < t->n; c++) {
    fprintf(out, "%s[", f[c] ? "*" : " ");
    for (size_t d = 0; d < t->k; d++)
      fprintf(out, "%c",
              is_total(t, c, d) ? 'T' : (char)('0' + t->idx[c * t->k + d]));
    fprintf(out, "]=%lld%s", t->v[c], (c + 1) % (t->size[0] + 1) ? " " : "\n");
  }
}

long long sp_kway_narrowest(const sp_kway *t, const unsigned char *f,
                            long long lb, long long *where) {
  /* The attacker's model, built here from the digits (not from the
   * engine's relations): one unknown per hidden cell, one row per total
   * and dimension with a hidden member. */
  size_t *col = malloc((t->n ? t->n : 1) * sizeof *col);
  size_t nu = 0;
  long long big = 0;
  for (size_t c = 0; c < t->n; c++) {
    col[c] = f[c] ? nu++ : SIZE_MAX;
    big += t->v[c];
  }
  sp_lp_model m;
  sp_lp_init(&m, nu, lb, 4 * big + 64);
  for (size_t c = 0; c < t->n; c++)
    for (size_t d = 0; d < t->k; d++) {
      if (!is_total(t, c, d))
        continue;
      long long rhs = 0;
      if (f[c])
        sp_lp_term(&m, col[c], 1);
      else
        rhs -= t->v[c];
      for (size_t s = 0; s < t->n; s++)
        if (sp_kway_member(t, s, c, d)) {
          if (f[s])
            sp_lp_term(&m, col[s], -1);
          else
            rhs += t->v[s];
        }
      sp_lp_row(&m, SP_ROW_EQ, rhs);
    }
  long long narrowest = LLONG_MAX;
  for (size_t c = 0; c < t->n && narrowest >= 0; c++) {
    if (!f[c])
      continue;
    long long lo, hi;
    if (sp_lp_interval(&m, col[c], &lo, &hi) != 0) {
      narrowest = -1;
    } else if (hi - lo < narrowest) {
      narrowest = hi - lo;
      if (where)
        *where = (long long)c;
    }
  }
  sp_lp_free(&m);
  free(col);
  return narrowest;
}
