#include "config.h"

/*
 * fuzz_suppress.c — libFuzzer target for core/suppress.c.
 *
 * Input layout: byte 0 and 1 give a table of R x C cells (2..7 each),
 * byte 2 the threshold (3..10), byte 3 whether the table is one-way (only
 * row totals) or two-way (row, column and grand totals); every further
 * byte is a cell, mapped so that zeros, small counts and large counts all
 * come up.  The totals are computed here, so they are exact sums.
 *
 * Beyond "no crash, no sanitizer report", it checks what the partner
 * tables rely on: exactly the counts 1..threshold are primary; a
 * secondary cell of a one-way table is never 0; and every total with its
 * cells has 0 or at least 2 hidden values.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suppress.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "fuzz_suppress: %s\n", what);
    abort();
  }
}

static const char *const labels[] = {"0", "1", "2", "3", "4", "5", "6"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4)
    return 0;
  size_t r = 2 + data[0] % 6, c = 2 + data[1] % 6;
  int threshold = 3 + data[2] % 8;
  int twoway = data[3] & 1;
  data += 4;
  size -= 4;
  /* cells, then row totals, then column totals and the grand total */
  size_t n = r * c + r + (twoway ? c + 1 : 0);
  const char *dims[2 * (7 * 7 + 7 + 7 + 1)];
  long long v[7 * 7 + 7 + 7 + 1];
  unsigned char f[7 * 7 + 7 + 7 + 1];
  memset(v, 0, sizeof v);
  for (size_t i = 0; i < r; i++)
    for (size_t j = 0; j < c; j++) {
      size_t k = i * c + j;
      uint8_t b = k < size ? data[k] : 0;
      long long x = b % 3 == 0 ? 0 : b % 3 == 1 ? 1 + (b / 3) % 10 : b;
      dims[2 * k] = labels[i];
      dims[2 * k + 1] = labels[j];
      v[k] = x;
      v[r * c + i] += x;
      if (twoway) {
        v[r * c + r + j] += x;
        v[n - 1] += x;
      }
    }
  for (size_t i = 0; i < r; i++) {
    dims[2 * (r * c + i)] = labels[i];
    dims[2 * (r * c + i) + 1] = NULL;
  }
  if (twoway) {
    for (size_t j = 0; j < c; j++) {
      dims[2 * (r * c + r + j)] = NULL;
      dims[2 * (r * c + r + j) + 1] = labels[j];
    }
    dims[2 * (n - 1)] = dims[2 * (n - 1) + 1] = NULL;
  }
  sp_suppress(dims, 2, n, v, 1, threshold, f);
  for (size_t k = 0; k < n; k++) {
    check((f[k] == SP_SUPP_PRIMARY) == (v[k] >= 1 && v[k] <= threshold),
          "primary is exactly 1..threshold");
    /* One-way totals never need a hidden 0; two-way ones may, as the
     * rank test's last resort. */
    check(twoway || f[k] != SP_SUPP_SECONDARY || v[k] > 0,
          "a secondary cell is 0 in a one-way table");
  }
  /* rows: cells of row i + its total */
  for (size_t i = 0; i < r; i++) {
    size_t ns = f[r * c + i] != 0;
    for (size_t j = 0; j < c; j++)
      ns += f[i * c + j] != 0;
    check(ns == 0 || ns >= 2, "a row total has one hidden value");
  }
  if (twoway) {
    for (size_t j = 0; j < c; j++) {
      size_t ns = f[r * c + r + j] != 0;
      for (size_t i = 0; i < r; i++)
        ns += f[i * c + j] != 0;
      check(ns == 0 || ns >= 2, "a column total has one hidden value");
    }
    size_t ns = f[n - 1] != 0;
    for (size_t i = 0; i < r; i++)
      ns += f[r * c + i] != 0;
    check(ns == 0 || ns >= 2, "the grand total over rows has one hidden");
    ns = f[n - 1] != 0;
    for (size_t j = 0; j < c; j++)
      ns += f[r * c + r + j] != 0;
    check(ns == 0 || ns >= 2, "the grand total over columns has one hidden");
  }
  return 0;
}
