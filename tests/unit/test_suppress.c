/*
 * Unit tests for the suppression engine (core/partner/suppress.c) and the
 * attacker's programs (core/partner/audit.c): primary suppression of counts
 * 1..threshold; secondary suppression until no hidden cell can be narrowed
 * below the protection width by integer programming over the totals, the
 * zero bound, subset relations and earlier releases; the fail-safe; and
 * the exact intervals of the published disclosure cases
 * (tests/data/disclosure-cases.json).
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>

#include "partner/audit.h"
#include "kway.h"
#include "partner/suppress.h"

/* A one-dimensional table: cells a, b, c, ... and their total (NULL). */
static size_t one_dim(const long long *vals, size_t n, int threshold,
                      unsigned char *flags) {
  static const char *names[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
  const char *dims[9];
  long long v[9];
  long long total = 0;
  for (size_t i = 0; i < n; i++) {
    dims[i] = names[i];
    v[i] = vals[i];
    total += vals[i];
  }
  dims[n] = NULL;
  v[n] = total;
  return sp_suppress(dims, 1, n + 1, v, 1, threshold, flags);
}

static void test_primary_is_one_to_threshold(void **state) {
  (void)state;
  const char *dims[] = {"a", "b", "c", "d", "e"};
  long long v[] = {0, 1, 5, 6, 100};
  unsigned char f[5];
  assert_int_equal(sp_suppress(dims, 1, 5, v, 1, 5, f), 0);
  assert_int_equal(f[0], 0); /* zero is published */
  assert_int_equal(f[1], SP_SUPP_PRIMARY);
  assert_int_equal(f[2], SP_SUPP_PRIMARY);
  assert_int_equal(f[3], 0);
  assert_int_equal(f[4], 0);
  /* threshold 3: 5 is published */
  sp_suppress(dims, 1, 5, v, 1, 3, f);
  assert_int_equal(f[2], 0);
}

static void test_single_hidden_cell_gets_a_partner(void **state) {
  (void)state;
  long long v[] = {20, 3, 9, 0, 40};
  unsigned char f[6];
  assert_int_equal(one_dim(v, 5, 5, f), 1);
  assert_int_equal(f[1], SP_SUPP_PRIMARY);
  /* the smallest non-zero published cell, never the zero, not the total */
  assert_int_equal(f[2], SP_SUPP_SECONDARY);
  assert_int_equal(f[3], 0);
  assert_int_equal(f[0] | f[4] | f[5], 0);
}

static void test_two_small_hidden_cells_narrow_each_other(void **state) {
  (void)state;
  /* 3 and 2 hidden alone: their sum 5 and the bound 1 leave each in
   * [1, 4], narrower than 5 — the smallest other cell goes too. */
  long long v[] = {20, 3, 2, 40};
  unsigned char f[5];
  assert_int_equal(one_dim(v, 4, 5, f), 1);
  assert_int_equal(f[1], SP_SUPP_PRIMARY);
  assert_int_equal(f[2], SP_SUPP_PRIMARY);
  assert_int_equal(f[0], SP_SUPP_SECONDARY);
  assert_int_equal(f[4], 0); /* total 65 published */
}

static void test_small_total_hides_a_cell(void **state) {
  (void)state;
  /* total 4 is primary; its cells 4 and 0: 4 is primary as well */
  long long v[] = {4, 0};
  unsigned char f[3];
  one_dim(v, 2, 5, f);
  assert_int_equal(f[0], SP_SUPP_PRIMARY);
  assert_int_equal(f[2], SP_SUPP_PRIMARY);
  /* only zeros besides the hidden cell: the total goes */
  long long w[] = {3, 0, 0};
  unsigned char g[4];
  one_dim(w, 3, 5, g);
  assert_int_equal(g[3], SP_SUPP_PRIMARY);
  assert_int_equal(g[1] | g[2], 0);
}

/* The inner cells of a two-way table, row-major with `cols` columns. */
typedef struct grid {
  const long long *cells;
  size_t cols;
} grid;

static long long grid_cell(const size_t *idx, void *arg) {
  const grid *g = arg;
  return g->cells[idx[0] * g->cols + idx[1]];
}

static long long grid_cell1(const size_t *idx, void *arg) {
  const grid *g = arg;
  return g->cells[idx[0]];
}

static size_t inner_secondary(const sp_kway *t, const unsigned char *f) {
  size_t n = 0;
  for (size_t c = 0; c < t->n; c++)
    n +=
        t->dims[c * t->k] && t->dims[c * t->k + 1] && f[c] == SP_SUPP_SECONDARY;
  return n;
}

static void test_two_way_bridge_is_caught(void **state) {
  (void)state;
  /* Two 2x2 blocks of small counts joined by one small cell (0,2): every
   * row and column has 0 or >= 2 hidden cells, yet rows 0+1 minus
   * columns 0+1 give cell (0,2) exactly.  The rank test must hide more. */
  long long cells[] = {1,  1,  1, 50, /* */ 1,  1,  60, 70, /* */
                       80, 90, 1, 1,  /* */ 95, 85, 1,  1};
  grid g = {cells, 4};
  sp_kway t;
  sp_kway_build(&t, 2, (const size_t[]){4, 4}, grid_cell, &g);
  unsigned char *f = calloc(t.n, 1);
  size_t sec = sp_suppress(t.dims, 2, t.n, t.v, 1, 5, f);
  assert_true(sec >= 1);
  assert_true(sp_kway_groups_hold(&t, f));
  assert_true(inner_secondary(&t, f) >= 1);
  assert_int_equal(sp_kway_determined(&t, f), -1);
  free(f);
  sp_kway_free(&t);
}

static long long random_cell(const size_t *idx, void *arg) {
  (void)idx;
  (void)arg;
  int x = rand() % 10;
  return x < 3 ? 0 : x < 6 ? 1 + rand() % 5 : 6 + rand() % 40;
}

static void test_random_tables_keep_the_group_rule(void **state) {
  (void)state;
  srand(7);
  for (int round = 0; round < 300; round++) {
    size_t sizes[2] = {2 + (size_t)rand() % 5, 2 + (size_t)rand() % 5};
    sp_kway t;
    sp_kway_build(&t, 2, sizes, random_cell, NULL);
    unsigned char *f = calloc(t.n, 1);
    sp_suppress(t.dims, 2, t.n, t.v, 1, 5, f);
    assert_true(sp_kway_groups_hold(&t, f));
    for (size_t k = 0; k < t.n; k++)
      if (t.v[k] >= 1 && t.v[k] <= 5)
        assert_true(f[k] == SP_SUPP_PRIMARY || f[k] == SP_SUPP_WITHHELD);
    free(f);
    sp_kway_free(&t);
  }
}

static void test_random_multiway_tables_give_nothing_away(void **state) {
  (void)state;
  srand(11);
  for (int round = 0; round < 60; round++) {
    size_t k = round % 3 == 0 ? 3 : round % 3 == 1 ? 2 : 1;
    size_t side = k == 3 ? 2 + (size_t)rand() % 2 : 2 + (size_t)rand() % 5;
    sp_kway t;
    sp_kway_build(&t, k, (const size_t[]){side, side, side}, random_cell, NULL);
    unsigned char *f = calloc(t.n, 1);
    sp_suppress(t.dims, k, t.n, t.v, 1, 5, f);
    for (size_t c = 0; c < t.n; c++)
      if (t.v[c] >= 1 && t.v[c] <= 5)
        assert_int_not_equal(f[c], 0);
    assert_true(sp_kway_groups_hold(&t, f));
    assert_int_equal(sp_kway_determined(&t, f), -1);
    /* Not only determined: no hidden cell narrower than the width, the
     * published zeros' lower bound of 1 included. */
    long long where = -1;
    long long w = sp_kway_narrowest(&t, f, 1, &where);
    if (w < 5) {
      fprintf(stderr, "narrowest %lld at cell %lld\n", w, where);
      sp_kway_print(&t, f, stderr);
    }
    assert_true(w >= 5);
    sp_kway_free(&t);
    free(f);
  }
}

/* The published-zero leak: total 9, cells 7, 0 and two small ones.  With
 * zeros published the two hidden cells are >= 1 each and so exactly 1 —
 * the audit must hide more. */
static void test_published_zero_bound(void **state) {
  (void)state;
  long long vals[] = {7, 0, 1, 1};
  unsigned char f[5];
  one_dim(vals, 4, 5, f);
  assert_int_equal(f[2], SP_SUPP_PRIMARY);
  assert_int_equal(f[3], SP_SUPP_PRIMARY);
  assert_int_equal(f[1], 0); /* a published zero is never hidden */
  assert_true(f[0] || f[4]);
  sp_kway t;
  grid g = {vals, 4};
  sp_kway_build(&t, 1, (const size_t[]){4}, grid_cell1, &g);
  unsigned char *tf = calloc(t.n, 1);
  sp_suppress(t.dims, 1, t.n, t.v, 1, 5, tf);
  assert_true(sp_kway_narrowest(&t, tf, 1, NULL) >= 5);
  free(tf);
  sp_kway_free(&t);
}

/* Subsets: neet <= young in every cell.  Two areas and a total; young is
 * large and published, neet small and hidden; the audit must count the
 * subset bound in. */
static void test_subset_relation_is_audited(void **state) {
  (void)state;
  const char *dims[] = {"a", "b", "c", NULL};
  /* per cell: young, neet */
  long long v[] = {7, 4, 40, 3, 50, 30, 97, 37};
  int subset_of[] = {-1, 0}; /* neet within young */
  unsigned char f[8];
  sp_supp_opts o = {.threshold = 5, .subset_of = subset_of, .time_dim = -1};
  sp_supp_stats st;
  sp_suppress_audit(dims, 1, 4, v, 2, &o, f, &st);
  /* neet in a (4) and b (3) are primary.  Their group alone would leave
   * them [1, 6]: neet_a <= young_a = 7 does not narrow that below 5.  But
   * with young_a = 7 published, young_b = 40 published, the neet pair
   * must still be at least 5 wide: check by the exact interval. */
  assert_int_equal(f[1], SP_SUPP_PRIMARY);
  assert_int_equal(f[3], SP_SUPP_PRIMARY);
  sp_lp_model m;
  size_t col[8], nu = 0;
  for (size_t x = 0; x < 8; x++)
    col[x] = f[x] ? nu++ : 99;
  sp_lp_init(&m, nu, 1, 1000);
  for (size_t v2 = 0; v2 < 2; v2++) { /* total = a + b + c */
    long long rhs = 0;
    for (size_t c = 0; c < 4; c++) {
      long long coef = c == 3 ? 1 : -1;
      size_t x = c * 2 + v2;
      if (f[x])
        sp_lp_term(&m, col[x], coef);
      else
        rhs -= coef * v[x];
    }
    sp_lp_row(&m, SP_ROW_EQ, rhs);
  }
  for (size_t c = 0; c < 4; c++) { /* neet - young <= 0 */
    long long rhs = 0;
    size_t a = c * 2 + 1, b = c * 2;
    if (f[a])
      sp_lp_term(&m, col[a], 1);
    else
      rhs -= v[a];
    if (f[b])
      sp_lp_term(&m, col[b], -1);
    else
      rhs += v[b];
    sp_lp_row(&m, SP_ROW_LE, rhs);
  }
  for (size_t x = 0; x < 8; x++)
    if (f[x]) {
      long long lo, hi;
      assert_int_equal(sp_lp_interval(&m, col[x], &lo, &hi), 0);
      assert_true(hi - lo >= 5);
      assert_true(lo <= v[x] && v[x] <= hi);
    }
  sp_lp_free(&m);
}

/* A value the attacker knows from an earlier release is no protection: the
 * audit treats it as published and hides another. */
static void test_known_values_do_not_protect(void **state) {
  (void)state;
  const char *dims[] = {"a", "b", "c", "d", NULL};
  long long v[] = {3, 30, 40, 50, 123};
  unsigned char f1[5], f2[5];
  sp_supp_opts o = {.threshold = 5, .time_dim = -1};
  sp_suppress_audit(dims, 1, 5, v, 1, &o, f1, NULL);
  assert_int_equal(f1[0], SP_SUPP_PRIMARY);
  assert_int_equal(f1[1], SP_SUPP_SECONDARY); /* the smallest, 30 */
  long long known[] = {-1, 30, -1, -1, -1};
  o.known = known;
  sp_suppress_audit(dims, 1, 5, v, 1, &o, f2, NULL);
  assert_int_not_equal(f2[2] | f2[3] | f2[4], 0);
}

/* No time to audit: every period is withheld, never published unaudited. */
static void test_fail_safe_withholds_the_period(void **state) {
  (void)state;
  const char *dims[] = {"a", "2025", "b", "2025", NULL, "2025",
                        "a", "2026", "b", "2026", NULL, "2026"};
  long long v[] = {3, 40, 43, 2, 50, 52};
  unsigned char f[6];
  sp_supp_opts o = {.threshold = 5, .time_dim = 1, .budget = 1e-9};
  sp_supp_stats st;
  sp_suppress_audit(dims, 2, 6, v, 1, &o, f, &st);
  for (size_t x = 0; x < 6; x++)
    assert_int_equal(f[x], SP_SUPP_WITHHELD);
  assert_int_equal(st.withheld_periods, 2);
  assert_true(st.timed_out);
}

/* protect_zeros: zeros hidden like small counts, and the audit's lower
 * bound is 0. */
static void test_protect_zeros(void **state) {
  (void)state;
  const char *dims[] = {"a", "b", "c", "d", NULL};
  long long v[] = {0, 30, 40, 50, 120};
  unsigned char f[5];
  sp_supp_opts o = {.threshold = 5, .protect_zeros = 1, .time_dim = -1};
  sp_suppress_audit(dims, 1, 5, v, 1, &o, f, NULL);
  assert_int_equal(f[0], SP_SUPP_PRIMARY);
  assert_int_equal(f[1], SP_SUPP_SECONDARY);
}

/* ---- the attacker's exact intervals on the published cases ------------- */

#include <jansson.h>

static long long pow10i(int d) {
  long long p = 1;
  while (d-- > 0)
    p *= 10;
  return p;
}

static void test_disclosure_cases(void **state) {
  (void)state;
  json_error_t je;
  json_t *doc = json_load_file(SP_TEST_DATA "/disclosure-cases.json", 0, &je);
  assert_non_null(doc);
  json_t *cases = json_object_get(doc, "cases");
  size_t ci;
  json_t *cs;
  size_t checked = 0;
  json_array_foreach(cases, ci, cs) {
    json_t *cells = json_object_get(cs, "cells");
    size_t n = json_array_size(cells), i;
    json_t *cell;
    const char **id = calloc(n, sizeof *id);
    long long *val = calloc(n, sizeof *val);
    size_t *col = calloc(n, sizeof *col);
    size_t nu = 0;
    json_array_foreach(cells, i, cell) {
      id[i] = json_string_value(json_object_get(cell, "id"));
      val[i] = json_integer_value(json_object_get(cell, "value"));
      col[i] =
          json_is_true(json_object_get(cell, "published")) ? SIZE_MAX : nu++;
    }
#define FIND(name)                                                             \
  ({                                                                           \
    size_t k_ = 0;                                                             \
    while (k_ < n && strcmp(id[k_], (name)) != 0)                              \
      k_++;                                                                    \
    assert_true(k_ < n);                                                       \
    k_;                                                                        \
  })
    long long lb = json_is_true(json_object_get(cs, "zeros_published")) ? 1 : 0;
    sp_lp_model m;
    sp_lp_init(&m, nu, lb, 1000000);
    json_t *rel;
    json_array_foreach(json_object_get(cs, "relations"), i, rel) {
      long long rhs = 0;
      size_t w = FIND(json_string_value(json_object_get(rel, "whole")));
      if (col[w] != SIZE_MAX)
        sp_lp_term(&m, col[w], 1);
      else
        rhs -= val[w];
      size_t j;
      json_t *part;
      json_array_foreach(json_object_get(rel, "parts"), j, part) {
        size_t pk = FIND(json_string_value(part));
        if (col[pk] != SIZE_MAX)
          sp_lp_term(&m, col[pk], -1);
        else
          rhs += val[pk];
      }
      sp_lp_row(&m, SP_ROW_EQ, rhs);
    }
    json_t *sub;
    json_array_foreach(json_object_get(cs, "subsets"), i, sub) {
      size_t a = FIND(json_string_value(json_array_get(sub, 0)));
      size_t b = FIND(json_string_value(json_array_get(sub, 1)));
      long long rhs = 0;
      if (col[a] != SIZE_MAX)
        sp_lp_term(&m, col[a], 1);
      else
        rhs -= val[a];
      if (col[b] != SIZE_MAX)
        sp_lp_term(&m, col[b], -1);
      else
        rhs += val[b];
      sp_lp_row(&m, SP_ROW_LE, rhs);
    }
    json_t *sh;
    json_array_foreach(json_object_get(cs, "shares"), i, sh) {
      /* round(scale * num / den, d) = value: in integers, with q = 10^d,
       * 2q*scale*num - (2q*value -+ 1)*den >=< 0 */
      size_t a = FIND(json_string_value(json_object_get(sh, "num")));
      size_t b = FIND(json_string_value(json_object_get(sh, "den")));
      int d = (int)json_integer_value(json_object_get(sh, "decimals"));
      long long q = pow10i(d);
      long long scale =
          (long long)json_number_value(json_object_get(sh, "scale"));
      long long vq =
          llround(json_number_value(json_object_get(sh, "value")) * (double)q);
      for (int side = -1; side <= 1; side += 2) {
        long long rhs = 0, ca = 2 * q * scale, cb = -(2 * vq + side);
        if (col[a] != SIZE_MAX)
          sp_lp_term(&m, col[a], ca);
        else
          rhs -= ca * val[a];
        if (col[b] != SIZE_MAX)
          sp_lp_term(&m, col[b], cb);
        else
          rhs -= cb * val[b];
        sp_lp_row(&m, side < 0 ? SP_ROW_GE : SP_ROW_LE, rhs);
      }
    }
    const char *name = json_string_value(json_object_get(cs, "name"));
    const char *key;
    json_t *want;
    json_object_foreach(json_object_get(cs, "expected"), key, want) {
      size_t k = FIND(key);
      assert_true(col[k] != SIZE_MAX);
      long long lo = -1, hi = -1;
      assert_int_equal(sp_lp_interval(&m, col[k], &lo, &hi), 0);
      if (lo != json_integer_value(json_array_get(want, 0)) ||
          hi != json_integer_value(json_array_get(want, 1)))
        fail_msg("case %s, cell %s: [%lld, %lld], expected [%lld, %lld]", name,
                 key, lo, hi, json_integer_value(json_array_get(want, 0)),
                 json_integer_value(json_array_get(want, 1)));
      checked++;
    }
#undef FIND
    sp_lp_free(&m);
    free(col);
    free(val);
    free(id);
  }
  assert_true(checked >= 10);
  json_decref(doc);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_primary_is_one_to_threshold),
      cmocka_unit_test(test_single_hidden_cell_gets_a_partner),
      cmocka_unit_test(test_two_small_hidden_cells_narrow_each_other),
      cmocka_unit_test(test_small_total_hides_a_cell),
      cmocka_unit_test(test_two_way_bridge_is_caught),
      cmocka_unit_test(test_random_tables_keep_the_group_rule),
      cmocka_unit_test(test_random_multiway_tables_give_nothing_away),
      cmocka_unit_test(test_published_zero_bound),
      cmocka_unit_test(test_subset_relation_is_audited),
      cmocka_unit_test(test_known_values_do_not_protect),
      cmocka_unit_test(test_fail_safe_withholds_the_period),
      cmocka_unit_test(test_protect_zeros),
      cmocka_unit_test(test_disclosure_cases),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
