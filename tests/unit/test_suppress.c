/*
 * Unit tests for the suppression engine of core/indicators.c
 * (sp_suppress): primary suppression of counts 1..threshold, secondary
 * suppression so that every total keeps 0 or at least 2 hidden cells, and
 * the linear-algebra step that catches cells a two-way table would still
 * give away.
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

#include "kway.h"
#include "suppress.h"

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

static void test_two_hidden_cells_need_nothing_more(void **state) {
  (void)state;
  long long v[] = {20, 3, 2, 40};
  unsigned char f[5];
  assert_int_equal(one_dim(v, 4, 5, f), 0);
  assert_int_equal(f[1], SP_SUPP_PRIMARY);
  assert_int_equal(f[2], SP_SUPP_PRIMARY);
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
        assert_int_equal(f[k], SP_SUPP_PRIMARY);
    free(f);
    sp_kway_free(&t);
  }
}

static void test_random_multiway_tables_give_nothing_away(void **state) {
  (void)state;
  srand(11);
  for (int round = 0; round < 120; round++) {
    size_t k = round % 3 == 0 ? 3 : 2;
    size_t side = k == 3 ? 2 + (size_t)rand() % 3 : 2 + (size_t)rand() % 6;
    sp_kway t;
    sp_kway_build(&t, k, (const size_t[]){side, side, side}, random_cell, NULL);
    unsigned char *f = calloc(t.n, 1);
    size_t untested = 99;
    sp_suppress_ex(t.dims, k, t.n, t.v, 1, 5, f, &untested);
    assert_int_equal(untested, 0);
    for (size_t c = 0; c < t.n; c++)
      if (t.v[c] >= 1 && t.v[c] <= 5)
        assert_int_equal(f[c], SP_SUPP_PRIMARY);
    assert_true(sp_kway_groups_hold(&t, f));
    long given = sp_kway_determined(&t, f);
    if (given >= 0)
      sp_kway_print(&t, f, stderr);
    assert_int_equal(given, -1);
    sp_kway_free(&t);
    free(f);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_primary_is_one_to_threshold),
      cmocka_unit_test(test_single_hidden_cell_gets_a_partner),
      cmocka_unit_test(test_two_hidden_cells_need_nothing_more),
      cmocka_unit_test(test_small_total_hides_a_cell),
      cmocka_unit_test(test_two_way_bridge_is_caught),
      cmocka_unit_test(test_random_tables_keep_the_group_rule),
      cmocka_unit_test(test_random_multiway_tables_give_nothing_away),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
