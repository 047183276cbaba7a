#include "config.h"

/*
 * test_schedule.c — cron parsing, next run times across DST changes, and
 * the ISO 8601 times of `samspor schedule`.
 *
 * Expected times were checked independently with Python's zoneinfo.  Beyond
 * the hand-picked cases, test_against_oracle compares sp_schedule_next()
 * with a brute-force walk over every UTC minute around each DST change, so
 * the gap and fold rules are checked by a second, much simpler method.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "samspor-plugin.h"
#include "model/schedule.h"

/* ---- helpers ------------------------------------------------------------ */

static sp_schedule *parse_ok(const char *expr) {
  sp_schedule *s = NULL;
  char err[256] = "";
  int rc = sp_schedule_parse(expr, &s, err, sizeof err);
  if (rc != 0)
    print_error("parsing '%s' failed: %s\n", expr, err);
  assert_int_equal(rc, 0);
  assert_non_null(s);
  return s;
}

static time_t time_ok(const char *iso, const char *tz) {
  time_t t = 0;
  int rc = sp_time_parse(iso, tz, &t);
  if (rc != 0)
    print_error("cannot parse time '%s'\n", iso);
  assert_int_equal(rc, 0);
  return t;
}

/*
 * Check that the runs of expr in zone tz strictly after `from` (read in tz)
 * are, in order, want[0..n).
 */
static void check_runs(const char *expr, const char *tz, const char *from,
                       const char *const *want, size_t n) {
  sp_schedule *s = parse_ok(expr);
  time_t t = time_ok(from, tz);
  for (size_t i = 0; i < n; i++) {
    time_t next = 0;
    char buf[SP_TIME_BUFLEN];
    int rc = sp_schedule_next(s, tz, t, &next);
    if (rc != 0)
      print_error("'%s' in %s: run %zu after %s: rc %d\n", expr,
                  tz ? tz : "(default)", i + 1, from, rc);
    assert_int_equal(rc, 0);
    assert_true(next > t);
    assert_int_equal(sp_time_format(next, tz, buf, sizeof buf), 0);
    if (strcmp(buf, want[i]) != 0)
      print_error("'%s' in %s from %s: run %zu is %s, expected %s\n", expr,
                  tz ? tz : "(default)", from, i + 1, buf, want[i]);
    assert_string_equal(buf, want[i]);
    t = next;
  }
  sp_schedule_free(s);
}

#define RUNS(expr, tz, from, ...)                                              \
  check_runs(expr, tz, from, (const char *const[]){__VA_ARGS__},               \
             sizeof((const char *const[]){__VA_ARGS__}) / sizeof(char *))

/* ---- parsing ------------------------------------------------------------ */

static void test_parse_errors(void **state) {
  static const struct {
    const char *expr, *msg;
  } cases[] = {
      {"", "empty schedule"},
      {" \t ", "empty schedule"},
      {"* * * *", "expected 5 fields, found 4"},
      {"* * * * * *", "expected 5 fields, found 6"},
      {"0 3 * * * echo hi", "expected 5 fields, found 7"},
      /* every field out of range, both ends */
      {"60 * * * *", "field 1 (minute): 60 is out of range 0-59"},
      {"* 24 * * *", "field 2 (hour): 24 is out of range 0-23"},
      {"* 25 * * *", "field 2 (hour): 25 is out of range 0-23"},
      {"* * 0 * *", "field 3 (day-of-month): 0 is out of range 1-31"},
      {"* * 32 * *", "field 3 (day-of-month): 32 is out of range 1-31"},
      {"* * * 0 *", "field 4 (month): 0 is out of range 1-12"},
      {"* * * 13 *", "field 4 (month): 13 is out of range 1-12"},
      {"* * * * 8", "field 5 (day-of-week): 8 is out of range 0-7"},
      {"1-60 * * * *", "field 1 (minute): 60 is out of range 0-59"},
      {"99999999999 * * * *",
       "field 1 (minute): '99999999999' is out of range 0-59"},
      /* steps */
      {"*/0 * * * *", "field 1 (minute): step 0 is out of range 1-59"},
      {"*/60 * * * *", "field 1 (minute): step 60 is out of range 1-59"},
      {"* */0 * * *", "field 2 (hour): step 0 is out of range 1-23"},
      {"* * */0 * *", "field 3 (day-of-month): step 0 is out of range 1-30"},
      {"* * * */12 *", "field 4 (month): step 12 is out of range 1-11"},
      {"* * * * */7", "field 5 (day-of-week): step 7 is out of range 1-6"},
      {"1-5/0 * * * *", "field 1 (minute): step 0 is out of range 1-59"},
      {"*/ * * * *",
       "field 1 (minute): expected a number after '/', found nothing"},
      {"*/x * * * *",
       "field 1 (minute): expected a number after '/', found 'x'"},
      {"*/99999999999 * * * *", "field 1 (minute): step is out of range 1-59"},
      {"1/5/2 * * * *", "field 1 (minute): unexpected '/2'"},
      /* reversed ranges */
      {"30-10 * * * *",
       "field 1 (minute): range 30-10 is reversed; write 30-59,0-10"},
      {"* 22-2 * * *",
       "field 2 (hour): range 22-2 is reversed; write 22-23,0-2"},
      {"* * 20-10 * *",
       "field 3 (day-of-month): range 20-10 is reversed; write 20-31,1-10"},
      {"* * * dec-jan *",
       "field 4 (month): range 12-1 is reversed; write 12-12,1-1"},
      {"* * * * fri-mon",
       "field 5 (day-of-week): range 5-1 is reversed; write 5-7,0-1"},
      /* garbage */
      {"x * * * *", "field 1 (minute): expected a number, found 'x'"},
      {"* h * * *", "field 2 (hour): expected a number, found 'h'"},
      {"* * 1st * *", "field 3 (day-of-month): unexpected 'st'"},
      {"* * * foo *",
       "field 4 (month): unknown month name 'foo' (use jan-dec)"},
      {"* * * january *",
       "field 4 (month): unknown month name 'january' (use jan-dec)"},
      {"* * * * funday",
       "field 5 (day-of-week): unknown day name 'funday' (use sun-sat)"},
      {"* * * * mon-",
       "field 5 (day-of-week): expected a number or name after '-', found "
       "nothing"},
      {"* * * * %", "field 5 (day-of-week): expected a number or name, "
                    "found '%'"},
      {"1,,2 * * * *", "field 1 (minute): empty element in list"},
      {"1, * * * *", "field 1 (minute): empty element in list"},
      {",1 * * * *", "field 1 (minute): expected a number, found nothing"},
      {"1-2-3 * * * *", "field 1 (minute): unexpected '-3'"},
      {"*-5 * * * *", "field 1 (minute): unexpected '-5'"},
      {"** * * * *", "field 1 (minute): unexpected '*'"},
      {"-1 * * * *", "field 1 (minute): expected a number, found '-1'"},
      {"mon * * * *", "field 1 (minute): expected a number, found 'mon'"},
      {"5 4 * * mon\x01", "field 5 (day-of-week): unexpected '\\x01'"},
      {"5 4 * * mon'", "field 5 (day-of-week): unexpected '\\x27'"},
      /* shorthands */
      {"@often", "unknown shorthand '@often' (valid: @hourly @daily "
                 "@midnight @nightly @weekly @monthly @yearly @annually)"},
      {"@", "unknown shorthand '@' (valid: @hourly @daily @midnight "
            "@nightly @weekly @monthly @yearly @annually)"},
      {"@daily 3", "unexpected '3' after '@daily'"},
      {"@reboot", "'@reboot' is not supported: samspor runs schedules by "
                  "the clock, not at start-up"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sp_schedule *s = (sp_schedule *)&s; /* must be reset to NULL */
    char err[256];
    int rc = sp_schedule_parse(cases[i].expr, &s, err, sizeof err);
    if (rc != SAMSPOR_EINVAL || strcmp(err, cases[i].msg) != 0)
      print_error("'%s': rc %d, message \"%s\"\n", cases[i].expr, rc, err);
    assert_int_equal(rc, SAMSPOR_EINVAL);
    assert_null(s);
    assert_string_equal(err, cases[i].msg);
  }
}

static void test_parse_err_buffer(void **state) {
  sp_schedule *s = NULL;
  char err[8];
  /* Truncated, still terminated. */
  assert_int_equal(sp_schedule_parse("* 25 * * *", &s, err, sizeof err),
                   SAMSPOR_EINVAL);
  assert_string_equal(err, "field 2");
  /* No buffer at all is fine. */
  assert_int_equal(sp_schedule_parse("* 25 * * *", &s, NULL, 0),
                   SAMSPOR_EINVAL);
  assert_int_equal(sp_schedule_parse(NULL, &s, err, sizeof err),
                   SAMSPOR_EINVAL);
  assert_int_equal(sp_schedule_parse("* * * * *", NULL, NULL, 0),
                   SAMSPOR_EINVAL);
  sp_schedule_free(NULL);
}

static void test_parse_text(void **state) {
  static const struct {
    const char *expr, *text;
  } cases[] = {
      {"  */15\t2  * *   *  ", "*/15 2 * * *"},
      {"0 0 1 JAN,Jul Mon-FRI", "0 0 1 JAN,Jul Mon-FRI"},
      {"@hourly", "@hourly (0 * * * *)"},
      {"@daily", "@daily (0 0 * * *)"},
      {"@midnight", "@midnight (0 0 * * *)"},
      {"@nightly", "@nightly (30 3 * * *)"},
      {" @NIGHTLY ", "@nightly (30 3 * * *)"},
      {"@weekly", "@weekly (0 0 * * 0)"},
      {"@monthly", "@monthly (0 0 1 * *)"},
      {"@yearly", "@yearly (0 0 1 1 *)"},
      {"@annually", "@annually (0 0 1 1 *)"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sp_schedule *s = parse_ok(cases[i].expr);
    assert_string_equal(sp_schedule_text(s), cases[i].text);
    sp_schedule_free(s);
  }
  assert_null(sp_schedule_text(NULL));
}

/* Whether expr matches local minute y-mo-d h:mi (calendar only). */
static int matches(const char *expr, int y, int mo, int d, int h, int mi) {
  sp_schedule *s = parse_ok(expr);
  struct tm tm = {0};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  int r = sp_schedule_match(s, &tm);
  sp_schedule_free(s);
  return r;
}

static void test_names_and_lists(void **state) {
  /* 2027-03-01 is a Monday, 2027-03-07 a Sunday. */
  assert_true(matches("0 0 * mar *", 2027, 3, 1, 0, 0));
  assert_false(matches("0 0 * mar *", 2027, 4, 1, 0, 0));
  assert_true(matches("0 0 * JAN-mar *", 2027, 2, 1, 0, 0));
  assert_true(matches("0 0 * jan-dec/3 *", 2027, 10, 1, 0, 0));
  assert_false(matches("0 0 * jan-dec/3 *", 2027, 11, 1, 0, 0));
  assert_true(matches("0 0 * * mon-fri", 2027, 3, 5, 0, 0));
  assert_false(matches("0 0 * * mon-fri", 2027, 3, 6, 0, 0));
  /* 0 and 7 are both Sunday, by number and in ranges. */
  assert_true(matches("0 0 * * 0", 2027, 3, 7, 0, 0));
  assert_true(matches("0 0 * * 7", 2027, 3, 7, 0, 0));
  assert_true(matches("0 0 * * SUN", 2027, 3, 7, 0, 0));
  assert_true(matches("0 0 * * 5-7", 2027, 3, 7, 0, 0));
  assert_true(matches("0 0 * * fri-sun", 2027, 3, 7, 0, 0));
  assert_true(matches("0 0 * * fri-sun", 2027, 3, 6, 0, 0));
  assert_false(matches("0 0 * * fri-sun", 2027, 3, 4, 0, 0));
  assert_true(matches("0 0 * * sat-0", 2027, 3, 7, 0, 0));
  assert_false(matches("0 0 * * sun", 2027, 3, 1, 0, 0));
  assert_false(matches("0 0 * * 1-5", 2027, 3, 7, 0, 0));
  /* "sun-sun" is just Sunday, not the whole week. */
  assert_false(matches("0 0 * * sun-sun", 2027, 3, 1, 0, 0));
  /* Lists mixing everything. */
  assert_true(matches("5,10-20/5,*/25 * * * *", 2027, 3, 1, 0, 15));
  assert_true(matches("5,10-20/5,*/25 * * * *", 2027, 3, 1, 0, 50));
  assert_false(matches("5,10-20/5,*/25 * * * *", 2027, 3, 1, 0, 11));
  /* "a/n" means "a-max/n". */
  assert_true(matches("5/20 * * * *", 2027, 3, 1, 0, 45));
  assert_false(matches("5/20 * * * *", 2027, 3, 1, 0, 0));
  /* Leading zeros. */
  assert_true(matches("05 07 * * *", 2027, 3, 1, 7, 5));
  /* Impossible calendar input never matches. */
  assert_false(matches("* * * * *", 2027, 2, 29, 0, 0));
}

static void test_dom_dow_rule(void **state) {
  /* Both restricted: either matches (Vixie).  2027-01-13 is a Wednesday,
   * 2027-01-15 a Friday. */
  assert_true(matches("0 0 13 * fri", 2027, 1, 13, 0, 0));
  assert_true(matches("0 0 13 * fri", 2027, 1, 15, 0, 0));
  assert_false(matches("0 0 13 * fri", 2027, 1, 14, 0, 0));
  /* One is '*': only the other counts. */
  assert_false(matches("0 0 13 * *", 2027, 1, 15, 0, 0));
  assert_false(matches("0 0 * * fri", 2027, 1, 13, 0, 0));
  /* A field starting with '*' counts as unrestricted (Vixie DOM_STAR):
   * "*\/2 ... mon" means odd days that are Mondays.  2027-03-01 is an odd
   * Monday, 2027-03-08 an even one, 2027-03-03 an odd Wednesday. */
  assert_true(matches("0 0 */2 * mon", 2027, 3, 1, 0, 0));
  assert_false(matches("0 0 */2 * mon", 2027, 3, 8, 0, 0));
  assert_false(matches("0 0 */2 * mon", 2027, 3, 3, 0, 0));
  /* "*\/2" in day-of-week is unrestricted too: the 1st only if it falls on
   * Sun/Tue/Thu/Sat.  2027-03-01 is a Monday, 2027-06-01 a Tuesday. */
  assert_false(matches("0 0 1 * */2", 2027, 3, 1, 0, 0));
  assert_true(matches("0 0 1 * */2", 2027, 6, 1, 0, 0));
  /* The same as runs. */
  RUNS("0 12 13 * fri", "Europe/Copenhagen", "2027-01-01T12:00",
       "2027-01-08T12:00:00+01:00", "2027-01-13T12:00:00+01:00",
       "2027-01-15T12:00:00+01:00", "2027-01-22T12:00:00+01:00");
}

/* ---- next run times ----------------------------------------------------- */

static void test_next_basic(void **state) {
  RUNS("* * * * *", "UTC", "2027-01-01T00:00:30Z", "2027-01-01T00:01:00+00:00",
       "2027-01-01T00:02:00+00:00");
  /* Strictly after: from a run time, the next one. */
  RUNS("0 3 * * *", "UTC", "2027-01-01T03:00:00Z", "2027-01-02T03:00:00+00:00");
  RUNS("0 3 * * *", "UTC", "2027-01-01T02:59:59Z", "2027-01-01T03:00:00+00:00");
  RUNS("0 */6 * * *", "UTC", "2027-03-28T00:30:00Z",
       "2027-03-28T06:00:00+00:00", "2027-03-28T12:00:00+00:00",
       "2027-03-28T18:00:00+00:00", "2027-03-29T00:00:00+00:00");
  RUNS("10-20/5 8-9 * * *", "UTC", "2027-01-01T00:00Z",
       "2027-01-01T08:10:00+00:00", "2027-01-01T08:15:00+00:00",
       "2027-01-01T08:20:00+00:00", "2027-01-01T09:10:00+00:00",
       "2027-01-01T09:15:00+00:00", "2027-01-01T09:20:00+00:00",
       "2027-01-02T08:10:00+00:00");
  RUNS("5/20 * * * *", "UTC", "2027-01-01T00:00Z", "2027-01-01T00:05:00+00:00",
       "2027-01-01T00:25:00+00:00", "2027-01-01T00:45:00+00:00",
       "2027-01-01T01:05:00+00:00");
  /* Year and month roll-over. */
  RUNS("0 0 1 jan *", "UTC", "2027-06-01T00:00Z", "2028-01-01T00:00:00+00:00",
       "2029-01-01T00:00:00+00:00");
  RUNS("59 23 31 dec *", "Europe/Copenhagen", "2027-12-31T23:59",
       "2028-12-31T23:59:00+01:00");
  /* Default zone. */
  RUNS("0 12 * * *", NULL, "2027-07-01", "2027-07-01T12:00:00+02:00");
}

static void test_next_shorthands(void **state) {
  const char *tz = "Europe/Copenhagen";
  RUNS("@hourly", tz, "2027-03-28T01:30", "2027-03-28T03:00:00+02:00",
       "2027-03-28T04:00:00+02:00");
  RUNS("@daily", tz, "2027-03-27T12:00", "2027-03-28T00:00:00+01:00",
       "2027-03-29T00:00:00+02:00");
  RUNS("@midnight", tz, "2027-10-30T12:00", "2027-10-31T00:00:00+02:00",
       "2027-11-01T00:00:00+01:00");
  /* 03:30 is neither skipped nor repeated in Copenhagen. */
  RUNS("@nightly", tz, "2027-03-27T12:00", "2027-03-28T03:30:00+02:00",
       "2027-03-29T03:30:00+02:00");
  RUNS("@nightly", tz, "2027-10-30T12:00", "2027-10-31T03:30:00+01:00",
       "2027-11-01T03:30:00+01:00");
  /* 2027-01-03 is a Sunday. */
  RUNS("@weekly", tz, "2027-01-01", "2027-01-03T00:00:00+01:00",
       "2027-01-10T00:00:00+01:00");
  RUNS("@monthly", tz, "2027-01-15", "2027-02-01T00:00:00+01:00",
       "2027-03-01T00:00:00+01:00", "2027-04-01T00:00:00+02:00");
  RUNS("@yearly", tz, "2027-01-01", "2028-01-01T00:00:00+01:00");
  RUNS("@annually", tz, "2027-01-01", "2028-01-01T00:00:00+01:00");
}

static void test_next_dst_spring(void **state) {
  const char *tz = "Europe/Copenhagen";
  /* The SPEC's example: skipped 02:30 runs at the end of the gap. */
  RUNS("30 2 * * *", tz, "2027-03-27T12:00", "2027-03-28T03:00:00+02:00",
       "2027-03-29T02:30:00+02:00");
  RUNS("30 2 * * *", tz, "2028-03-25T12:00", "2028-03-26T03:00:00+02:00",
       "2028-03-27T02:30:00+02:00");
  /* All minutes in the gap collapse into one run. */
  RUNS("*/15 2 * * *", tz, "2027-03-28T00:00", "2027-03-28T03:00:00+02:00",
       "2027-03-29T02:00:00+02:00", "2027-03-29T02:15:00+02:00");
  RUNS("*/15 2 * * *", tz, "2028-03-26T00:00", "2028-03-26T03:00:00+02:00",
       "2028-03-27T02:00:00+02:00");
  /* ... also with the minute at the gap's end itself. */
  RUNS("*/15 * * * *", tz, "2027-03-28T01:40", "2027-03-28T01:45:00+01:00",
       "2027-03-28T03:00:00+02:00", "2027-03-28T03:15:00+02:00");
  RUNS("0 2,3 * * *", tz, "2027-03-28T00:00", "2027-03-28T03:00:00+02:00",
       "2027-03-29T02:00:00+02:00", "2027-03-29T03:00:00+02:00");
  /* From inside the gap's collapsed run: nothing more that hour. */
  RUNS("*/15 2 * * *", tz, "2027-03-28T03:00:00+02:00",
       "2027-03-29T02:00:00+02:00");
  /* From a second before the gap. */
  RUNS("59 2 * * *", tz, "2027-03-28T01:59:59+01:00",
       "2027-03-28T03:00:00+02:00");
  /* A gap time on a day that has none runs normally. */
  RUNS("30 2 28 3 *", tz, "2027-03-28T03:00:00+02:00",
       "2028-03-28T02:30:00+02:00");
}

static void test_next_dst_autumn(void **state) {
  const char *tz = "Europe/Copenhagen";
  /* Repeated 02:30 runs once, at its first occurrence. */
  RUNS("30 2 * * *", tz, "2027-10-30T12:00", "2027-10-31T02:30:00+02:00",
       "2027-11-01T02:30:00+01:00");
  RUNS("30 2 * * *", tz, "2028-10-28T12:00", "2028-10-29T02:30:00+02:00",
       "2028-10-30T02:30:00+01:00");
  RUNS("*/30 * * * *", tz, "2027-10-31T01:15", "2027-10-31T01:30:00+02:00",
       "2027-10-31T02:00:00+02:00", "2027-10-31T02:30:00+02:00",
       "2027-10-31T03:00:00+01:00", "2027-10-31T03:30:00+01:00");
  RUNS("*/30 * * * *", tz, "2028-10-29T01:45", "2028-10-29T02:00:00+02:00",
       "2028-10-29T02:30:00+02:00", "2028-10-29T03:00:00+01:00");
  /* From inside the second occurrence: its times are not run again. */
  RUNS("*/30 * * * *", tz, "2027-10-31T02:10:00+01:00",
       "2027-10-31T03:00:00+01:00");
  RUNS("* * * * *", tz, "2027-10-31T02:58:00+01:00",
       "2027-10-31T03:00:00+01:00", "2027-10-31T03:01:00+01:00");
  RUNS("* * * * *", tz, "2027-10-31T02:58:00+02:00",
       "2027-10-31T02:59:00+02:00", "2027-10-31T03:00:00+01:00");
  RUNS("0 2 * * *", tz, "2027-10-31T02:45:00+02:00",
       "2027-11-01T02:00:00+01:00");
  /* Hourly across the change: 02:00 once, then 03:00 after two hours. */
  RUNS("0 * * * *", tz, "2027-10-31T00:30", "2027-10-31T01:00:00+02:00",
       "2027-10-31T02:00:00+02:00", "2027-10-31T03:00:00+01:00");
}

static void test_next_month_ends_and_leap_days(void **state) {
  const char *tz = "Europe/Copenhagen";
  RUNS("0 0 31 * *", tz, "2027-01-01", "2027-01-31T00:00:00+01:00",
       "2027-03-31T00:00:00+02:00", "2027-05-31T00:00:00+02:00",
       "2027-07-31T00:00:00+02:00", "2027-08-31T00:00:00+02:00",
       "2027-10-31T00:00:00+02:00", "2027-12-31T00:00:00+01:00");
  RUNS("0 0 30 * *", tz, "2027-01-31", "2027-03-30T00:00:00+02:00");
  RUNS("0 0 29 2 *", tz, "2027-01-01", "2028-02-29T00:00:00+01:00",
       "2032-02-29T00:00:00+01:00");
  RUNS("0 0 29 feb *", tz, "2028-02-28T23:59:59", "2028-02-29T00:00:00+01:00");
  /* 2100 is no leap year; the horizon still reaches 2104. */
  RUNS("0 0 29 2 *", "UTC", "2096-03-01", "2104-02-29T00:00:00+00:00");
  RUNS("0 12 28-29 2 *", "UTC", "2100-02-27", "2100-02-28T12:00:00+00:00",
       "2101-02-28T12:00:00+00:00");
}

static void test_next_never(void **state) {
  static const char *const never[] = {"0 0 30 2 *", "0 0 31 4,6,9,11 *",
                                      "0 0 31 feb *"};
  for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
    sp_schedule *s = parse_ok(never[i]);
    time_t next = 42;
    assert_int_equal(sp_schedule_next(s, "UTC", 0, &next), SAMSPOR_ENOENT);
    assert_int_equal(next, 42);
    sp_schedule_free(s);
  }
  /* Nothing before the end of year 9999 either. */
  sp_schedule *s = parse_ok("0 0 1 1 *");
  time_t next;
  assert_int_equal(
      sp_schedule_next(s, "UTC", time_ok("9999-06-01", "UTC"), &next),
      SAMSPOR_ENOENT);
  sp_schedule_free(s);
}

static void test_next_other_zones(void **state) {
  const char *ny = "America/New_York";
  /* Spring forward at 02:00 EST -> 03:00 EDT. */
  RUNS("30 2 * * *", ny, "2027-03-13T12:00", "2027-03-14T03:00:00-04:00",
       "2027-03-15T02:30:00-04:00");
  /* Fall back at 02:00 EDT -> 01:00 EST: 01:30 is repeated. */
  RUNS("30 1 * * *", ny, "2027-11-06T12:00", "2027-11-07T01:30:00-04:00",
       "2027-11-08T01:30:00-05:00");
  RUNS("0 * * * *", ny, "2027-11-07T00:30", "2027-11-07T01:00:00-04:00",
       "2027-11-07T02:00:00-05:00");
  /* Lord Howe moves by half an hour: gap 02:00-02:30 in October. */
  const char *lh = "Australia/Lord_Howe";
  RUNS("*/15 2 * * *", lh, "2027-10-03T00:00", "2027-10-03T02:30:00+11:00",
       "2027-10-03T02:45:00+11:00", "2027-10-04T02:00:00+11:00");
  /* ... and a fold 01:30-02:00 in April. */
  RUNS("*/20 1 * * *", lh, "2027-04-04T01:10", "2027-04-04T01:20:00+11:00",
       "2027-04-04T01:40:00+11:00", "2027-04-05T01:00:00+10:30");
  /* A half-hour zone without DST. */
  RUNS("0 9 * * *", "Asia/Kolkata", "2027-01-01T00:00Z",
       "2027-01-01T09:00:00+05:30");
}

static void test_next_errors(void **state) {
  sp_schedule *s = parse_ok("* * * * *");
  time_t next = 42;
  assert_int_equal(sp_schedule_next(s, "Mars/Olympus", 0, &next),
                   SAMSPOR_EINVAL);
  assert_int_equal(sp_schedule_next(s, "../../etc/passwd", 0, &next),
                   SAMSPOR_EINVAL);
  assert_int_equal(sp_schedule_next(NULL, "UTC", 0, &next), SAMSPOR_EINVAL);
  assert_int_equal(sp_schedule_next(s, "UTC", 0, NULL), SAMSPOR_EINVAL);
  /* Outside years 1-9999. */
  assert_int_equal(
      sp_schedule_next(s, "UTC", (time_t)INT64_C(300000000000), &next),
      SAMSPOR_EINVAL);
  assert_int_equal(next, 42);
  sp_schedule_free(s);
}

/*
 * Speed: a next-time computation must stay well under a millisecond.  The
 * bound here is loose (sanitizers, loaded CI machines); it catches a
 * minute-by-minute scan over years, not a slow machine.
 */
static void test_next_speed(void **state) {
  static const char *const exprs[] = {"0 0 29 2 *", "30 2 * * *",
                                      "*/5 * 13 * fri", "0 0 30 2 *"};
  time_t t0 = time_ok("2027-01-01", "UTC");
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  int calls = 0;
  for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
    sp_schedule *s = parse_ok(exprs[i]);
    time_t t = t0;
    for (int k = 0; k < 50; k++, calls++) {
      time_t next;
      if (sp_schedule_next(s, "Europe/Copenhagen", t, &next) != 0)
        break;
      t = next;
    }
    sp_schedule_free(s);
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ms = ((double)(b.tv_sec - a.tv_sec) * 1e3 +
               (double)(b.tv_nsec - a.tv_nsec) / 1e6) /
              calls;
  if (ms > 5.0)
    print_error("%.3f ms per next-time computation\n", ms);
  assert_true(ms < 5.0);
}

/* ---- cross-check against brute force ------------------------------------ */

#define MAX_RUNS 8192

/* Point this process's zone at tz, the way schedule.c does. */
static void use_zone(const char *tz) {
  char value[256];
  snprintf(value, sizeof value, ":%s/%s", SP_ZONEINFO_DIR, tz);
  setenv("TZ", value, 1);
  tzset();
}

/*
 * The runs of s in [from, to) by brute force: visit every UTC minute,
 * look at the local wall time it shows, and run when that wall time
 * matches and was not shown before (fold), or when the clock jumped over
 * (gap) a matching wall time.  Works for zones whose offsets are whole
 * minutes.  Returns the number of runs written to runs.
 */
static size_t oracle(const sp_schedule *s, const char *tz, time_t from,
                     time_t to, time_t *runs) {
  use_zone(tz);
  size_t n = 0;
  time_t max_seen = 0;
  int have_seen = 0;
  for (time_t t = from - from % 60; t < to; t += 60) {
    struct tm tm;
    localtime_r(&t, &tm);
    time_t wall = timegm(&tm);
    int run = 0;
    if (have_seen && wall <= max_seen)
      run = 0; /* a repeated wall time */
    else {
      run = sp_schedule_match(s, &tm);
      /* Wall times the clock jumped over. */
      for (time_t w = max_seen + 60; have_seen && w < wall && !run; w += 60) {
        struct tm wt;
        gmtime_r(&w, &wt);
        run = sp_schedule_match(s, &wt);
      }
      max_seen = wall;
      have_seen = 1;
    }
    if (run && t > from) {
      assert_true(n < MAX_RUNS);
      runs[n++] = t;
    }
  }
  unsetenv("TZ");
  tzset();
  return n;
}

/* Compare sp_schedule_next() with oracle() on [from, to) of zone tz. */
static void cross_check(const char *expr, const char *tz, const char *from_s,
                        const char *to_s) {
  static time_t runs[MAX_RUNS];
  sp_schedule *s = parse_ok(expr);
  time_t from = time_ok(from_s, tz), to = time_ok(to_s, tz);
  size_t n = oracle(s, tz, from, to, runs);
  /* The chain of next times from `from`. */
  time_t t = from;
  for (size_t i = 0;; i++) {
    time_t next;
    assert_int_equal(sp_schedule_next(s, tz, t, &next), 0);
    if (next >= to) {
      if (i != n)
        print_error("'%s' in %s: %zu runs, brute force finds %zu\n", expr, tz,
                    i, n);
      assert_int_equal(i, n);
      break;
    }
    if (i >= n || next != runs[i]) {
      char a[SP_TIME_BUFLEN], b[SP_TIME_BUFLEN] = "(none)";
      sp_time_format(next, tz, a, sizeof a);
      if (i < n)
        sp_time_format(runs[i], tz, b, sizeof b);
      print_error("'%s' in %s: run %zu is %s, brute force says %s\n", expr, tz,
                  i + 1, a, b);
      fail();
    }
    t = next;
  }
  /* And from odd starting points: 7 min 13 s apart, so every second of
   * the minute and every minute of the hour gets its turn. */
  for (time_t f = from; f < to; f += 433) {
    size_t i = 0;
    while (i < n && runs[i] <= f)
      i++;
    if (i == n)
      break;
    time_t next;
    assert_int_equal(sp_schedule_next(s, tz, f, &next), 0);
    if (next != runs[i]) {
      char a[SP_TIME_BUFLEN], b[SP_TIME_BUFLEN], c[SP_TIME_BUFLEN];
      sp_time_format(f, tz, a, sizeof a);
      sp_time_format(next, tz, b, sizeof b);
      sp_time_format(runs[i], tz, c, sizeof c);
      print_error("'%s' in %s after %s: %s, brute force says %s\n", expr, tz, a,
                  b, c);
      fail();
    }
  }
  sp_schedule_free(s);
}

static void test_against_oracle(void **state) {
  static const char *const exprs[] = {
      "* * * * *",       "*/15 * * * *",  "30 2 * * *",
      "0 2 * * *",       "*/7 1-3 * * *", "59 1 * * *",
      "0,30 2,3 * * *",  "45 2 * * *",    "0 3 * * *",
      "15 2 * * sun",    "0 0 * * *",     "*/20 0-4 * 3,4,10,11 *",
      "1 1 1 * 0",       "@nightly",      "@hourly",
      "29,31 1,2 * * *",
  };
  static const struct {
    const char *tz, *from, *to;
  } windows[] = {
      {"Europe/Copenhagen", "2027-03-27T12:00", "2027-03-29T12:00"},
      {"Europe/Copenhagen", "2027-10-30T12:00", "2027-11-01T12:00"},
      {"Europe/Copenhagen", "2028-03-25T12:00", "2028-03-27T12:00"},
      {"Europe/Copenhagen", "2028-10-28T12:00", "2028-10-30T12:00"},
      {"America/New_York", "2027-03-13T12:00", "2027-03-15T12:00"},
      {"America/New_York", "2027-11-06T12:00", "2027-11-08T12:00"},
      {"Australia/Lord_Howe", "2027-04-03T12:00", "2027-04-05T12:00"},
      {"Australia/Lord_Howe", "2027-10-02T12:00", "2027-10-04T12:00"},
      {"UTC", "2027-03-27T12:00", "2027-03-29T12:00"},
  };
  for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++)
    for (size_t e = 0; e < sizeof exprs / sizeof exprs[0]; e++)
      cross_check(exprs[e], windows[w].tz, windows[w].from, windows[w].to);
}

/* A small LCG, so the "random" expressions are the same on every run. */
static int rnd(uint32_t *x, int n) {
  *x = *x * 1103515245u + 12345u;
  return (int)((*x >> 16) % (uint32_t)n);
}

/* Random expressions (fixed seed) against the oracle across DST changes. */
static void test_random_against_oracle(void **state) {
  static const struct {
    const char *tz, *from, *to;
  } windows[] = {
      {"Europe/Copenhagen", "2027-03-26", "2027-03-30"},
      {"Europe/Copenhagen", "2027-10-29", "2027-11-02"},
      {"America/New_York", "2027-11-05", "2027-11-09"},
      {"Australia/Lord_Howe", "2027-10-01", "2027-10-05"},
  };
  uint32_t x = 12345;
  for (int k = 0; k < 80; k++) {
    char expr[128];
    int m1 = rnd(&x, 60);
    int m2 = m1 + rnd(&x, 60 - m1);
    int ms = 1 + rnd(&x, 30);
    int h1 = rnd(&x, 24);
    int h2 = h1 + rnd(&x, 24 - h1);
    int hs = 1 + rnd(&x, 5);
    const char *dom = rnd(&x, 3) ? "*" : "1-3,25-31";
    const char *dow = rnd(&x, 3) ? "*" : "0,6";
    snprintf(expr, sizeof expr, "%d-%d/%d %d-%d/%d %s * %s", m1, m2, ms, h1, h2,
             hs, dom, dow);
    int w = rnd(&x, (int)(sizeof windows / sizeof windows[0]));
    cross_check(expr, windows[w].tz, windows[w].from, windows[w].to);
  }
}

/* ---- ISO 8601 ----------------------------------------------------------- */

static void check_format(time_t t, const char *tz, const char *want) {
  char buf[SP_TIME_BUFLEN];
  assert_int_equal(sp_time_format(t, tz, buf, sizeof buf), 0);
  assert_string_equal(buf, want);
}

static void test_time_format(void **state) {
  check_format(0, "UTC", "1970-01-01T00:00:00+00:00");
  check_format(0, "Europe/Copenhagen", "1970-01-01T01:00:00+01:00");
  check_format(0, NULL, "1970-01-01T01:00:00+01:00");
  check_format(1806195600, "Europe/Copenhagen", /* 2027-03-28T01:00Z */
               "2027-03-28T03:00:00+02:00");
  check_format(1806195599, "Europe/Copenhagen", "2027-03-28T01:59:59+01:00");
  check_format(1806195600, "America/New_York", "2027-03-27T21:00:00-04:00");
  check_format(1806195600, "Asia/Kolkata", "2027-03-28T06:30:00+05:30");
  check_format(1806195600, "Pacific/Chatham", "2027-03-28T14:45:00+13:45");
  /* Local mean time before 1894 has seconds in its offset. */
  check_format(-3000000000, "Europe/Copenhagen",
               "1874-12-07T19:30:20+00:50:20");
  check_format(253402300799, "UTC", "9999-12-31T23:59:59+00:00");

  char buf[SP_TIME_BUFLEN];
  char small[25]; /* one short of "2027-03-28T03:00:00+02:00" */
  assert_int_equal(sp_time_format(1806195600, "UTC", small, sizeof small),
                   SAMSPOR_EINVAL);
  assert_string_equal(small, "");
  assert_int_equal(sp_time_format(0, "Nowhere", buf, sizeof buf),
                   SAMSPOR_EINVAL);
  assert_int_equal(sp_time_format(0, "UTC", NULL, 0), SAMSPOR_EINVAL);
  assert_int_equal(
      sp_time_format((time_t)INT64_C(253402300800), "UTC", buf, sizeof buf),
      SAMSPOR_EINVAL);
}

static void check_parse(const char *s, const char *tz, const char *want) {
  char buf[SP_TIME_BUFLEN];
  time_t t = time_ok(s, tz);
  assert_int_equal(sp_time_format(t, tz, buf, sizeof buf), 0);
  if (strcmp(buf, want) != 0)
    print_error("'%s' in %s reads as %s, expected %s\n", s, tz, buf, want);
  assert_string_equal(buf, want);
}

static void test_time_parse(void **state) {
  const char *cph = "Europe/Copenhagen";
  check_parse("2027-03-28T01:00:00+01:00", cph, "2027-03-28T01:00:00+01:00");
  check_parse("2027-03-28T00:00:00Z", cph, "2027-03-28T01:00:00+01:00");
  check_parse("2027-03-28t00:00:00z", cph, "2027-03-28T01:00:00+01:00");
  check_parse("2027-03-28T01:00:00+0100", cph, "2027-03-28T01:00:00+01:00");
  check_parse("2027-03-28T01:00:00+01", cph, "2027-03-28T01:00:00+01:00");
  check_parse("2027-03-27T20:00-05:00", cph, "2027-03-28T03:00:00+02:00");
  check_parse("2027-03-28T06:30+05:30", cph, "2027-03-28T03:00:00+02:00");
  check_parse("2027-03-28T01:00", cph, "2027-03-28T01:00:00+01:00");
  check_parse("2027-03-28 01:00:00", cph, "2027-03-28T01:00:00+01:00");
  check_parse("2027-03-28", cph, "2027-03-28T00:00:00+01:00");
  check_parse("2027-07-01", NULL, "2027-07-01T00:00:00+02:00");
  check_parse("2027-07-01", "America/New_York", "2027-07-01T00:00:00-04:00");
  check_parse("2028-02-29", "UTC", "2028-02-29T00:00:00+00:00");
  /* A skipped local time means the end of the gap, a repeated one its
   * first occurrence. */
  check_parse("2027-03-28T02:30", cph, "2027-03-28T03:00:00+02:00");
  check_parse("2027-10-31T02:30", cph, "2027-10-31T02:30:00+02:00");
  /* sp_time_format's output always reads back. */
  check_parse("1874-12-07T19:30:20+00:50:20", cph,
              "1874-12-07T19:30:20+00:50:20");

  static const char *const bad[] = {
      "",
      "now",
      "2027",
      "2027-03",
      "2027-3-28",
      "27-03-28",
      "2027-02-29",
      "2027-13-01",
      "2027-00-10",
      "2027-04-31",
      "0000-01-01",
      "2027-03-28T",
      "2027-03-28T1:00",
      "2027-03-28T24:00",
      "2027-03-28T23:60",
      "2027-03-28T23:59:60",
      "2027-03-28T01:00:00+1",
      "2027-03-28T01:00:00+01:0",
      "2027-03-28T01:00:00+24:00",
      "2027-03-28T01:00:00+01:60",
      "2027-03-28T01:00:00 +01:00",
      "2027-03-28T01:00:00Z ",
      "2027-03-28T01:00:00.5Z",
      " 2027-03-28",
      "2027-03-28x",
      "2027-03-28T01:00:00ZZ",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    time_t t = 42;
    int rc = sp_time_parse(bad[i], cph, &t);
    if (rc != SAMSPOR_EINVAL)
      print_error("'%s' was accepted\n", bad[i]);
    assert_int_equal(rc, SAMSPOR_EINVAL);
    assert_int_equal(t, 42);
  }
  time_t t;
  assert_int_equal(sp_time_parse("2027-03-28", "Nowhere/Atall", &t),
                   SAMSPOR_EINVAL);
  assert_int_equal(sp_time_parse("2027-03-28Z", "Nowhere/Atall", &t),
                   SAMSPOR_EINVAL);
  assert_int_equal(sp_time_parse(NULL, cph, &t), SAMSPOR_EINVAL);
  assert_int_equal(sp_time_parse("2027-03-28", cph, NULL), SAMSPOR_EINVAL);
}

static void test_tz_valid(void **state) {
  assert_true(sp_tz_valid("Europe/Copenhagen"));
  assert_true(sp_tz_valid("UTC"));
  assert_true(sp_tz_valid("America/New_York"));
  assert_true(sp_tz_valid("America/Argentina/Buenos_Aires"));
  assert_true(sp_tz_valid("Etc/GMT+5"));
  assert_false(sp_tz_valid(NULL));
  assert_false(sp_tz_valid(""));
  assert_false(sp_tz_valid("Europe")); /* a directory */
  assert_false(sp_tz_valid("Europe/"));
  assert_false(sp_tz_valid("Mars/Olympus"));
  assert_false(sp_tz_valid("europe/copenhagen"));  /* names are exact */
  assert_false(sp_tz_valid("Europe/Copenhagen ")); /* no trailing space */
  assert_false(sp_tz_valid("Europe/../UTC"));
  assert_false(sp_tz_valid("../../../etc/passwd"));
  assert_false(sp_tz_valid("/etc/localtime"));
  assert_false(sp_tz_valid("/usr/share/zoneinfo/UTC"));
  assert_false(sp_tz_valid("zone.tab")); /* not a zone file */
  assert_false(sp_tz_valid("tzdata.zi"));
  assert_false(sp_tz_valid("right/UTC")); /* counts leap seconds */
  assert_false(sp_tz_valid("Europe//Copenhagen"));
  assert_false(sp_tz_valid("CET\n"));
}

/* The caller's TZ is put back exactly, set or unset. */
static void test_tz_restored(void **state) {
  sp_schedule *s = parse_ok("* * * * *");
  time_t next;
  char buf[SP_TIME_BUFLEN];
  setenv("TZ", "America/New_York", 1);
  tzset();
  assert_int_equal(sp_schedule_next(s, "Asia/Tokyo", 0, &next), 0);
  assert_string_equal(getenv("TZ"), "America/New_York");
  struct tm tm;
  time_t zero = 0;
  localtime_r(&zero, &tm);
  assert_int_equal(tm.tm_gmtoff, -5 * 3600);

  unsetenv("TZ");
  tzset();
  assert_int_equal(sp_time_format(0, "Asia/Tokyo", buf, sizeof buf), 0);
  assert_null(getenv("TZ"));
  assert_int_equal(sp_time_parse("2027-01-01", "Asia/Tokyo", &next), 0);
  assert_null(getenv("TZ"));
  sp_schedule_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_parse_err_buffer),
      cmocka_unit_test(test_parse_text),
      cmocka_unit_test(test_names_and_lists),
      cmocka_unit_test(test_dom_dow_rule),
      cmocka_unit_test(test_next_basic),
      cmocka_unit_test(test_next_shorthands),
      cmocka_unit_test(test_next_dst_spring),
      cmocka_unit_test(test_next_dst_autumn),
      cmocka_unit_test(test_next_month_ends_and_leap_days),
      cmocka_unit_test(test_next_never),
      cmocka_unit_test(test_next_other_zones),
      cmocka_unit_test(test_next_errors),
      cmocka_unit_test(test_next_speed),
      cmocka_unit_test(test_against_oracle),
      cmocka_unit_test(test_random_against_oracle),
      cmocka_unit_test(test_time_format),
      cmocka_unit_test(test_time_parse),
      cmocka_unit_test(test_tz_valid),
      cmocka_unit_test(test_tz_restored),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
