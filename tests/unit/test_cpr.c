/*
 * Unit tests for core/model/cpr.c: CPR normalisation, the century table and the
 * calendar check, per SPEC "Pseudonyms".
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "model/cpr.h"

/* Parse a NUL-terminated string; the usual case in these tests. */
static int parse(const char *s, sp_cpr *out) {
  return sp_cpr_parse(s, strlen(s), out);
}

/* Assert that `s` is rejected with `code`, that the output is all zero, and
 * that neither the reason code nor its text quotes the value. */
static void expect_reject(const char *s, size_t len, int code) {
  sp_cpr c;
  static const sp_cpr zero;
  memset(&c, 'X', sizeof c);
  int rc = sp_cpr_parse(s, len, &c);
  if (rc != code)
    fail_msg("input of %zu bytes: expected %s, got %s", len,
             sp_cpr_reason(code), rc ? sp_cpr_reason(rc) : "ok");
  assert_memory_equal(&c, &zero, sizeof c);
  if (s && len >= 3) {
    assert_null(memmem(sp_cpr_reason(rc), strlen(sp_cpr_reason(rc)), s, len));
    assert_null(
        memmem(sp_cpr_reason_text(rc), strlen(sp_cpr_reason_text(rc)), s, len));
  }
}

static void expect_reject_str(const char *s, int code) {
  expect_reject(s, strlen(s), code);
}

static void test_spec_vector_identifier(void **state) {
  sp_cpr c;
  assert_int_equal(parse("010100-1234", &c), 0);
  assert_string_equal(c.digits, "0101001234");
  assert_int_equal(c.day, 1);
  assert_int_equal(c.month, 1);
  assert_int_equal(c.year, 1900);
  assert_int_equal(c.male, 0);
}

static void test_spaces_and_hyphens_removed(void **state) {
  const char *spellings[] = {
      "0101001234",     "010100-1234",         "010100 1234",
      " 0101001234 ",   "01-01-00-12-34",      "01 01 00 - 12 34",
      "--0101001234--", "0 1 0 1 0 0 1 2 3 4", "010100 - 1234   "};
  for (size_t i = 0; i < sizeof spellings / sizeof spellings[0]; i++) {
    sp_cpr c;
    if (parse(spellings[i], &c) != 0)
      fail_msg("spelling %zu rejected", i);
    assert_string_equal(c.digits, "0101001234");
  }
}

static void test_gender_from_last_digit(void **state) {
  for (int d = 0; d <= 9; d++) {
    char s[11];
    sp_cpr c;
    snprintf(s, sizeof s, "010100123%d", d);
    assert_int_equal(parse(s, &c), 0);
    assert_int_equal(c.male, d % 2);
  }
}

/*
 * The whole century table, every 7th digit against the boundary years.
 * Expected values are written out from the SPEC table, not computed, so a
 * mistake in the code's table cannot hide in the test's.
 *
 *   7th digit | YY 00-36 | YY 37-57 | YY 58-99
 *   0-3       | 19YY     | 19YY     | 19YY
 *   4, 9      | 20YY     | 19YY     | 19YY
 *   5-8       | 20YY     | 20YY     | 18YY
 */
static void test_century_table(void **state) {
  static const struct {
    int yy;
    int year[10]; /* by 7th digit 0..9 */
  } rows[] = {
      {0, {1900, 1900, 1900, 1900, 2000, 2000, 2000, 2000, 2000, 2000}},
      {1, {1901, 1901, 1901, 1901, 2001, 2001, 2001, 2001, 2001, 2001}},
      {36, {1936, 1936, 1936, 1936, 2036, 2036, 2036, 2036, 2036, 2036}},
      {37, {1937, 1937, 1937, 1937, 1937, 2037, 2037, 2037, 2037, 1937}},
      {57, {1957, 1957, 1957, 1957, 1957, 2057, 2057, 2057, 2057, 1957}},
      {58, {1958, 1958, 1958, 1958, 1958, 1858, 1858, 1858, 1858, 1958}},
      {99, {1999, 1999, 1999, 1999, 1999, 1899, 1899, 1899, 1899, 1999}},
  };
  for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
    for (int d7 = 0; d7 <= 9; d7++) {
      char s[11];
      sp_cpr c;
      snprintf(s, sizeof s, "1506%02d%d123", rows[r].yy, d7);
      if (parse(s, &c) != 0)
        fail_msg("YY %02d, 7th digit %d rejected", rows[r].yy, d7);
      if (c.year != rows[r].year[d7])
        fail_msg("YY %02d, 7th digit %d: year %d, expected %d", rows[r].yy, d7,
                 c.year, rows[r].year[d7]);
      assert_int_equal(c.month, 6);
      assert_int_equal(c.day, 15);
    }
  }
}

static void test_leap_days(void **state) {
  sp_cpr c;
  /* 29 Feb 00: 1900 (not a leap year) for 7th digit 0-3, 2000 (a leap
   * year) for 4-9. */
  for (int d7 = 0; d7 <= 3; d7++) {
    char s[11];
    snprintf(s, sizeof s, "290200%d123", d7);
    expect_reject_str(s, SP_CPR_BAD_DATE);
  }
  for (int d7 = 4; d7 <= 9; d7++) {
    char s[11];
    snprintf(s, sizeof s, "290200%d123", d7);
    assert_int_equal(parse(s, &c), 0);
    assert_int_equal(c.year, 2000);
    assert_int_equal(c.month, 2);
    assert_int_equal(c.day, 29);
  }
  /* 28 Feb 1900 is fine; 29 Feb 1896 (7th digit 5) and 1996 are leap days;
   * 1897 is not a leap year. */
  assert_int_equal(parse("2802001234", &c), 0);
  assert_int_equal(parse("2902965234", &c), 0);
  assert_int_equal(c.year, 1896);
  assert_int_equal(parse("2902961234", &c), 0);
  assert_int_equal(c.year, 1996);
  expect_reject_str("2902975234", SP_CPR_BAD_DATE);
  expect_reject_str("3002004234", SP_CPR_BAD_DATE);
}

static void test_month_lengths(void **state) {
  sp_cpr c;
  assert_int_equal(parse("3004801234", &c), 0);
  expect_reject_str("3104801234", SP_CPR_BAD_DATE);
  expect_reject_str("3106801234", SP_CPR_BAD_DATE);
  expect_reject_str("3109801234", SP_CPR_BAD_DATE);
  expect_reject_str("3111801234", SP_CPR_BAD_DATE);
  assert_int_equal(parse("3112801234", &c), 0);
  assert_int_equal(parse("3101801234", &c), 0);
  expect_reject_str("3201801234", SP_CPR_BAD_DATE);
}

static void test_zero_and_out_of_range_fields(void **state) {
  expect_reject_str("0001801234", SP_CPR_BAD_DATE); /* day 00 */
  expect_reject_str("0100801234", SP_CPR_BAD_DATE); /* month 00 */
  expect_reject_str("0000001234", SP_CPR_BAD_DATE);
  expect_reject_str("0113801234", SP_CPR_BAD_DATE); /* month 13 */
  expect_reject_str("0199801234", SP_CPR_BAD_DATE);
  expect_reject_str("9901801234", SP_CPR_BAD_DATE);
}

/* Every DDMMYY with DD 00-32 and MM 00-13, under every 7th digit, against
 * an independent oracle: the C library's timegm() normalises an invalid
 * date into another one, so a date is real iff it survives unchanged. */
static void test_every_date_against_timegm(void **state) {
  int accepted = 0;
  for (int d7 = 0; d7 <= 9; d7++) {
    for (int yy = 0; yy <= 99; yy++) {
      int year;
      if (d7 <= 3)
        year = 1900 + yy;
      else if (d7 == 4 || d7 == 9)
        year = (yy <= 36 ? 2000 : 1900) + yy;
      else
        year = (yy <= 57 ? 2000 : 1800) + yy;
      for (int mm = 0; mm <= 13; mm++) {
        for (int dd = 0; dd <= 32; dd++) {
          char s[11];
          sp_cpr c;
          struct tm tm = {0};
          snprintf(s, sizeof s, "%02d%02d%02d%d000", dd, mm, yy, d7);
          tm.tm_year = year - 1900;
          tm.tm_mon = mm - 1;
          tm.tm_mday = dd;
          tm.tm_hour = 12;
          timegm(&tm);
          int real = mm >= 1 && mm <= 12 && dd >= 1 &&
                     tm.tm_year == year - 1900 && tm.tm_mon == mm - 1 &&
                     tm.tm_mday == dd;
          int rc = parse(s, &c);
          if (real != (rc == 0))
            fail_msg("%02d-%02d-%04d (7th digit %d): parse %s, oracle %s", dd,
                     mm, year, d7, rc ? "rejects" : "accepts",
                     real ? "accepts" : "rejects");
          if (rc == 0) {
            assert_int_equal(c.year, year);
            accepted++;
          } else {
            assert_int_equal(rc, SP_CPR_BAD_DATE);
          }
        }
      }
    }
  }
  /* 1000 years' worth of days, give or take leap days. */
  assert_in_range(accepted, 365 * 1000, 366 * 1000);
}

static void test_nine_digits(void **state) {
  /* 0101001234 saved by Excel as a number. */
  expect_reject_str("101001234", SP_CPR_NINE_DIGITS);
  expect_reject_str("10100-1234", SP_CPR_NINE_DIGITS);
  expect_reject_str(" 10100 1234 ", SP_CPR_NINE_DIGITS);
  assert_string_equal(sp_cpr_reason(SP_CPR_NINE_DIGITS), "cpr_nine_digits");
}

static void test_wrong_length(void **state) {
  expect_reject_str("01010012345", SP_CPR_LENGTH); /* 11 */
  expect_reject_str("010100-12345", SP_CPR_LENGTH);
  expect_reject_str("01010012", SP_CPR_LENGTH); /* 8 */
  expect_reject_str("1", SP_CPR_LENGTH);
  expect_reject_str("010100123401010012340101001234", SP_CPR_LENGTH);

  /* A megabyte of digits: rejected, and nothing written past digits[]. */
  size_t n = 1 << 20;
  char *big = malloc(n);
  assert_non_null(big);
  memset(big, '1', n);
  expect_reject(big, n, SP_CPR_LENGTH);
  free(big);
}

static void test_not_digits(void **state) {
  expect_reject_str("0101O01234", SP_CPR_NOT_DIGITS); /* letter O */
  expect_reject_str("abcdefghij", SP_CPR_NOT_DIGITS);
  expect_reject_str("0101001234x", SP_CPR_NOT_DIGITS);
  expect_reject_str("x", SP_CPR_NOT_DIGITS);
  expect_reject_str("010100.1234", SP_CPR_NOT_DIGITS);
  expect_reject_str("010100/1234", SP_CPR_NOT_DIGITS);
  expect_reject_str("+0101001234", SP_CPR_NOT_DIGITS);
  /* Only spaces and '-' are removed (SPEC): not tabs, CR, LF, NBSP, or the
   * Unicode hyphens a word processor substitutes. */
  expect_reject_str("010100\t1234", SP_CPR_NOT_DIGITS);
  expect_reject_str("0101001234\r", SP_CPR_NOT_DIGITS);
  expect_reject_str("0101001234\n", SP_CPR_NOT_DIGITS);
  expect_reject_str("010100\xc2\xa0"
                    "1234",
                    SP_CPR_NOT_DIGITS);
  expect_reject_str("010100\xe2\x80\x90"
                    "1234",
                    SP_CPR_NOT_DIGITS);
  /* Fullwidth digits are not digits. */
  expect_reject_str("\xef\xbc\x90\xef\xbc\x91", SP_CPR_NOT_DIGITS);
  /* An embedded NUL, with an explicit length. */
  expect_reject("01010\0"
                "01234",
                11, SP_CPR_NOT_DIGITS);
  /* Decided before length: a clearer reason for a typo. */
  expect_reject_str("1x", SP_CPR_NOT_DIGITS);
}

static void test_empty(void **state) {
  expect_reject_str("", SP_CPR_EMPTY);
  expect_reject_str(" ", SP_CPR_EMPTY);
  expect_reject_str("-", SP_CPR_EMPTY);
  expect_reject_str("  - -  ", SP_CPR_EMPTY);
  expect_reject(NULL, 0, SP_CPR_EMPTY);
  expect_reject(NULL, 5, SP_CPR_EMPTY);
  /* A length of 0 means empty even when the pointer has digits. */
  expect_reject("0101001234", 0, SP_CPR_EMPTY);
}

static void test_length_argument_is_respected(void **state) {
  sp_cpr c;
  /* Only the first 10 bytes count; the rest of the buffer is not read. */
  assert_int_equal(sp_cpr_parse("0101001234999", 10, &c), 0);
  assert_string_equal(c.digits, "0101001234");
  expect_reject("0101001234999", 9, SP_CPR_NINE_DIGITS);
}

static void test_reason_codes(void **state) {
  assert_string_equal(sp_cpr_reason(SP_CPR_EMPTY), "cpr_empty");
  assert_string_equal(sp_cpr_reason(SP_CPR_NINE_DIGITS), "cpr_nine_digits");
  assert_string_equal(sp_cpr_reason(SP_CPR_LENGTH), "cpr_length");
  assert_string_equal(sp_cpr_reason(SP_CPR_NOT_DIGITS), "cpr_not_digits");
  assert_string_equal(sp_cpr_reason(SP_CPR_BAD_DATE), "cpr_bad_date");
  assert_string_equal(sp_cpr_reason(0), "cpr_unknown");
  assert_string_equal(sp_cpr_reason(-99), "cpr_unknown");
  for (int code = -5; code <= -1; code++) {
    const char *t = sp_cpr_reason_text(code);
    assert_true(strlen(t) > 10);
    assert_string_not_equal(t, sp_cpr_reason_text(0));
  }
}

/* No reason code or text may quote the value.  Beyond the per-call checks
 * in expect_reject, make sure the texts contain no run of digits long
 * enough to be part of a CPR number at all. */
static void test_reasons_never_contain_values(void **state) {
  for (int code = -6; code <= 0; code++) {
    const char *texts[2] = {sp_cpr_reason(code), sp_cpr_reason_text(code)};
    for (int t = 0; t < 2; t++) {
      int run = 0;
      for (const char *p = texts[t]; *p; p++) {
        run = (*p >= '0' && *p <= '9') ? run + 1 : 0;
        assert_true(run <= 2);
      }
    }
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_spec_vector_identifier),
      cmocka_unit_test(test_spaces_and_hyphens_removed),
      cmocka_unit_test(test_gender_from_last_digit),
      cmocka_unit_test(test_century_table),
      cmocka_unit_test(test_leap_days),
      cmocka_unit_test(test_month_lengths),
      cmocka_unit_test(test_zero_and_out_of_range_fields),
      cmocka_unit_test(test_every_date_against_timegm),
      cmocka_unit_test(test_nine_digits),
      cmocka_unit_test(test_wrong_length),
      cmocka_unit_test(test_not_digits),
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_length_argument_is_respected),
      cmocka_unit_test(test_reason_codes),
      cmocka_unit_test(test_reasons_never_contain_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
