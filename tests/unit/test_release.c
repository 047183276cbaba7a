/*
 * Unit tests for the periods of core/partner/release.c: the last day of a period
 * from its text, and when a period is closed by partner.freeze_after.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "partner/release.h"

static void end_is(const char *period, int y, int m, int d) {
  int yy = 0, mm = 0, dd = 0;
  assert_int_equal(sp_period_end(period, &yy, &mm, &dd), 0);
  assert_int_equal(yy, y);
  assert_int_equal(mm, m);
  assert_int_equal(dd, d);
}

static void test_period_end_formats(void **state) {
  (void)state;
  end_is("2025", 2025, 12, 31);
  end_is("2025-01", 2025, 1, 31);
  end_is("2024-02", 2024, 2, 29); /* leap year */
  end_is("2025-02", 2025, 2, 28);
  end_is("1900-02", 1900, 2, 28);
  end_is("2000-02", 2000, 2, 29);
  end_is("2025-04", 2025, 4, 30);
  end_is("2025-Q1", 2025, 3, 31);
  end_is("2025-Q2", 2025, 6, 30);
  end_is("2025-Q4", 2025, 12, 31);
  end_is("2025/26", 2026, 7, 31);
  end_is("2099/00", 2100, 7, 31);
  end_is("2025-09-17", 2025, 9, 17);
}

static void test_other_formats_never_close(void **state) {
  (void)state;
  int y, m, d;
  static const char *const bad[] = {
      "",        "25",         "2025-13",    "2025-00",  "2025-Q5",
      "2025/27", "2025/2026",  "2025-W03",   "2025H1",   "2025-02-30",
      "2025-1",  "2025-01-01x", "januar 2025", "I alt", "2025-01-1"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_int_equal(sp_period_end(bad[i], &y, &m, &d), -1);
    assert_int_equal(sp_period_closed(bad[i], 0, (time_t)4102444800), 0);
  }
}

static void test_closed_after_freeze_after(void **state) {
  (void)state;
  /* 2025-01 ends on the 31st; the day after begins at 1738368000 (UTC). */
  const time_t feb1 = 1738368000;
  const double day = 86400;
  assert_int_equal(sp_period_closed("2025-01", 0, feb1 - 1), 0);
  assert_int_equal(sp_period_closed("2025-01", 0, feb1), 1);
  assert_int_equal(sp_period_closed("2025-01", 45 * day, feb1), 0);
  assert_int_equal(
      sp_period_closed("2025-01", 45 * day, feb1 + 45 * 86400 - 1), 0);
  assert_int_equal(sp_period_closed("2025-01", 45 * day, feb1 + 45 * 86400),
                   1);
  assert_int_equal(sp_period_closed("2025-01-31", 0, feb1), 1);
  assert_int_equal(sp_period_closed("2025-01-31", 1, feb1), 0);
  assert_int_equal(sp_period_closed("2024/25", 0, feb1), 0);
  assert_int_equal(sp_period_closed("2024", 0, feb1), 1);
  assert_int_equal(sp_period_closed("2025-Q1", 0, feb1), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_period_end_formats),
      cmocka_unit_test(test_other_formats_never_close),
      cmocka_unit_test(test_closed_after_freeze_after),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
