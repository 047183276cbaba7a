#include "config.h"

/*
 * fuzz_suppress.c — libFuzzer target for core/partner/suppress.c.
 *
 * Input layout: byte 0 gives the number of dimensions (1 to 3), byte 1
 * the values per dimension (2 to 7, at most 4 for three dimensions), byte
 * 2 the threshold (3 to 10); every further byte is an inner cell, mapped so
 * that zeros, small counts and large counts all come up.  The table has
 * totals over every dimension (tests/kway.c), so they are exact sums.
 *
 * Beyond "no crash, no sanitizer report", it checks what the partner
 * tables rely on: the counts 1..threshold are hidden (primary, or their
 * whole table withheld); a published 0 is never hidden; every total with
 * its cells has 0 or at least 2 hidden values; by an exact elimination
 * written apart from the engine, no hidden cell follows from the published
 * ones; and, by integer programming over a model built apart from the
 * engine's (tests/kway.c), no hidden cell can be narrowed to an interval
 * narrower than the threshold, given that a hidden cell is at least 1.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kway.h"
#include "partner/suppress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what, const sp_kway *t,
                  const unsigned char *f) {
  if (!ok) {
    fprintf(stderr, "fuzz_suppress: %s\n", what);
    sp_kway_print(t, f, stderr);
    abort();
  }
}

typedef struct input {
  const uint8_t *p;
  size_t n;
} input;

static long long next_cell(const size_t *idx, void *arg) {
  (void)idx;
  input *in = arg;
  uint8_t b = 0;
  if (in->n) {
    b = *in->p++;
    in->n--;
  }
  return b % 3 == 0 ? 0 : b % 3 == 1 ? 1 + (b / 3) % 10 : b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3)
    return 0;
  size_t k = 1 + data[0] % 3;
  size_t values = 2 + data[1] % (k == 3 ? 3 : 6);
  int threshold = 3 + data[2] % 8;
  input in = {data + 3, size - 3};
  sp_kway t;
  sp_kway_build(&t, k, (const size_t[]){values, values, values}, next_cell,
                &in);
  unsigned char *f = calloc(t.n, 1);
  sp_suppress(t.dims, k, t.n, t.v, 1, threshold, f);
  int withheld = f[0] == SP_SUPP_WITHHELD;
  for (size_t c = 0; c < t.n; c++) {
    check(withheld == (f[c] == SP_SUPP_WITHHELD),
          "withheld is all or nothing here", &t, f);
    check(withheld ||
              (f[c] == SP_SUPP_PRIMARY) == (t.v[c] >= 1 && t.v[c] <= threshold),
          "primary is exactly 1..threshold", &t, f);
    check(withheld || f[c] == 0 || t.v[c] > 0, "a published 0 hidden", &t, f);
  }
  if (!withheld) {
    check(sp_kway_groups_hold(&t, f), "a total with exactly one hidden value",
          &t, f);
    check(sp_kway_determined(&t, f) < 0,
          "a hidden cell follows from the totals", &t, f);
    check(sp_kway_narrowest(&t, f, 1, NULL) >= threshold,
          "a hidden cell narrowed below the threshold", &t, f);
  }
  sp_kway_free(&t);
  free(f);
  return 0;
}
