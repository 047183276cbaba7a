#include "config.h"

/*
 * test_daemon.c — the pure parts of the daemon (jobs.h): retry backoff
 * and decisions, outcomes, the
 * complain pattern, catch-up and next-run decisions, the Prometheus text
 * and its atomic file, and the status table.
 * The daemon itself (processes, signals, sockets) is tested end to end in
 * tests/integration/test_daemon.sh.
 */

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "daemon/admin.h"
#include "base/exitcode.h"
#include "daemon/jobs.h"
#include "daemon/metrics.h"
#include "samspor-plugin.h"
#include "model/schedule.h"

#define TZ_CPH "Europe/Copenhagen"

static time_t at(const char *iso) {
  time_t t = 0;
  assert_int_equal(sp_time_parse(iso, TZ_CPH, &t), 0);
  return t;
}

static sp_schedule *sched(const char *expr) {
  sp_schedule *s = NULL;
  assert_int_equal(sp_schedule_parse(expr, &s, NULL, 0), 0);
  return s;
}

static void assert_time(time_t t, const char *want) {
  char buf[SP_TIME_BUFLEN];
  assert_int_equal(sp_time_format(t, TZ_CPH, buf, sizeof buf), 0);
  assert_string_equal(buf, want);
}

/* ---- backoff and complaining ------------------------------------------ */

static void test_backoff_doubles_and_caps(void **state) {
  /* u = 0.5: half of min(cap, base * 2^(retry-1)). */
  assert_true(samspor_backoff_delay(300, 3600, 1, 0.5) == 150);
  assert_true(samspor_backoff_delay(300, 3600, 2, 0.5) == 300);
  assert_true(samspor_backoff_delay(300, 3600, 3, 0.5) == 600);
  assert_true(samspor_backoff_delay(300, 3600, 4, 0.5) == 1200);
  assert_true(samspor_backoff_delay(300, 3600, 5, 0.5) ==
              1800); /* 4800 capped */
  assert_true(samspor_backoff_delay(300, 3600, 1000000, 0.5) == 1800);
  /* Full jitter: anywhere from 0 up to (not including) the ceiling. */
  assert_true(samspor_backoff_delay(300, 3600, 3, 0) == 0);
  assert_true(samspor_backoff_delay(300, 3600, 3, 0.9999) < 1200);
  assert_true(samspor_backoff_delay(300, 3600, 3, 0.9999) > 1199);
  /* Out-of-range inputs are clamped, not trusted. */
  assert_true(samspor_backoff_delay(300, 3600, 0, 0.5) == 150);
  assert_true(samspor_backoff_delay(300, 3600, 1, -1) == 0);
  assert_true(samspor_backoff_delay(300, 3600, 1, 7) < 300);
  /* A base above the cap is capped too. */
  assert_true(samspor_backoff_delay(7200, 3600, 1, 0.5) == 1800);
  for (unsigned a = 1; a < 80; a++)
    for (int k = 0; k < 10; k++) {
      double d = samspor_backoff_delay(1, 86400, a, k / 10.0);
      assert_true(d >= 0 && d < 86400);
    }
}

/* The retry decision: temporary failures only, up to `attempts` in a row,
 * each with the backoff of its number; then the count starts afresh. */
static void test_retry_decide(void **state) {
  unsigned attempt = 0;
  double delay = -1;
  for (unsigned k = 1; k <= 3; k++) {
    assert_int_equal(sp_retry_decide(1, &attempt, 3, 300, 3600, 0.5, &delay),
                     1);
    assert_int_equal(attempt, k);
    assert_true(delay == samspor_backoff_delay(300, 3600, k, 0.5));
  }
  assert_true(delay == 600);
  delay = -1;
  assert_int_equal(sp_retry_decide(1, &attempt, 3, 300, 3600, 0.5, &delay), 0);
  assert_int_equal(attempt, 0);
  assert_true(delay == -1);
  /* Not temporary: never retried, and the count resets. */
  attempt = 2;
  assert_int_equal(sp_retry_decide(0, &attempt, 3, 300, 3600, 0.5, &delay), 0);
  assert_int_equal(attempt, 0);
  /* attempts = 0: never retried. */
  assert_int_equal(sp_retry_decide(1, &attempt, 0, 300, 3600, 0.5, &delay), 0);
  /* The first retry waits up to base, not twice base. */
  assert_int_equal(sp_retry_decide(1, &attempt, 5, 300, 3600, 0.9999, &delay),
                   1);
  assert_true(delay < 300 && delay > 299);
}

/* What a child's end means. */
static void test_outcome_of(void **state) {
  /* exited, stopped, timed_out, signal, status */
  assert_int_equal(sp_outcome_of(1, 0, 0, 0, 0), SP_OUT_OK);
  assert_int_equal(sp_outcome_of(1, 0, 0, 0, 1), SP_OUT_FAIL);
  assert_int_equal(sp_outcome_of(1, 0, 0, 0, 3), SP_OUT_FAIL);
  assert_int_equal(sp_outcome_of(1, 0, 0, 0, 2), SP_OUT_CONFIG);
  assert_int_equal(sp_outcome_of(1, 0, 0, 0, 75), SP_OUT_TEMP);
  assert_int_equal(sp_outcome_of(1, 0, 0, 9, 0), SP_OUT_SIGNAL);
  /* Our timeout beats the signal that carried it out. */
  assert_int_equal(sp_outcome_of(1, 0, 1, 15, 0), SP_OUT_TIMEOUT);
  assert_int_equal(sp_outcome_of(1, 0, 1, 0, 0), SP_OUT_TIMEOUT);
  /* The daemon stopping: a run it ended is stopped, not failed ... */
  assert_int_equal(sp_outcome_of(1, 1, 0, 15, 0), SP_OUT_STOPPED);
  assert_int_equal(sp_outcome_of(1, 1, 0, 0, 75), SP_OUT_STOPPED);
  assert_int_equal(sp_outcome_of(1, 1, 1, 9, 0), SP_OUT_STOPPED);
  /* ... but one that finished anyway succeeded. */
  assert_int_equal(sp_outcome_of(1, 1, 0, 0, 0), SP_OUT_OK);
  /* Given up on before its exit was seen. */
  assert_int_equal(sp_outcome_of(0, 0, 0, 0, 0), SP_OUT_STOPPED);
}

static void test_complain_growing_gaps(void **state) {
  static const unsigned long long yes[] = {1, 2, 4, 8, 16, 1024, 1ull << 63};
  static const unsigned long long no[] = {0, 3, 5, 6, 7, 9, 15, 1000};
  for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
    assert_true(sp_complain_due(yes[i]));
  for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
    assert_false(sp_complain_due(no[i]));
  /* 100 failures in a row: reported 7 times (1, 2, 4, ..., 64). */
  int n = 0;
  for (unsigned long long f = 1; f <= 100; f++)
    n += sp_complain_due(f);
  assert_int_equal(n, 7);
}

/* ---- catch-up and next runs ------------------------------------------- */

static void test_catchup(void **state) {
  sp_schedule *s = sched("30 2 * * *");
  time_t now = at("2027-03-10T10:00:00+01:00");
  time_t missed = 0;
  /* Succeeded after today's 02:30: nothing missed. */
  assert_int_equal(
      sp_catchup_due(s, TZ_CPH, now, at("2027-03-10T02:45:00+01:00"), &missed),
      0);
  /* Succeeded exactly at the scheduled time: not older, nothing missed. */
  assert_int_equal(
      sp_catchup_due(s, TZ_CPH, now, at("2027-03-10T02:30:00+01:00"), &missed),
      0);
  /* Last success yesterday: today's 02:30 was missed. */
  assert_int_equal(
      sp_catchup_due(s, TZ_CPH, now, at("2027-03-09T02:45:00+01:00"), &missed),
      1);
  assert_time(missed, "2027-03-10T02:30:00+01:00");
  /* Days behind: the first missed time is reported (for the queue order),
   * and the connector runs once. */
  assert_int_equal(
      sp_catchup_due(s, TZ_CPH, now, at("2027-03-01T12:00:00+01:00"), &missed),
      1);
  assert_time(missed, "2027-03-02T02:30:00+01:00");
  /* Never succeeded: behind. */
  assert_int_equal(sp_catchup_due(s, TZ_CPH, now, 0, &missed), 1);
  /* A last success in the future (clocks differ): nothing to catch up. */
  assert_int_equal(
      sp_catchup_due(s, TZ_CPH, now, at("2027-03-11T00:00:00+01:00"), &missed),
      0);
  /* The spring-forward gap: 02:30 on 2027-03-28 runs at 03:00+02:00. */
  assert_int_equal(sp_catchup_due(s, TZ_CPH, at("2027-03-28T03:10:00+02:00"),
                                  at("2027-03-27T02:40:00+01:00"), &missed),
                   1);
  assert_time(missed, "2027-03-28T03:00:00+02:00");
  assert_int_equal(sp_catchup_due(s, TZ_CPH, at("2027-03-28T01:59:00+01:00"),
                                  at("2027-03-27T02:40:00+01:00"), &missed),
                   0);
  sp_schedule_free(s);

  /* @yearly never run: the window reaches back over a year. */
  s = sched("@yearly");
  assert_int_equal(sp_catchup_due(s, TZ_CPH, now, 0, &missed), 1);
  assert_time(missed, "2027-01-01T00:00:00+01:00");
  /* ... and succeeded since the new year: nothing missed. */
  assert_int_equal(
      sp_catchup_due(s, TZ_CPH, now, at("2027-01-01T00:05:00+01:00"), &missed),
      0);
  sp_schedule_free(s);

  /* @monthly, last success two months ago. */
  s = sched("@monthly");
  assert_int_equal(
      sp_catchup_due(s, TZ_CPH, now, at("2027-01-15T00:00:00+01:00"), &missed),
      1);
  assert_time(missed, "2027-02-01T00:00:00+01:00");
  sp_schedule_free(s);

  /* Leap day only: the last one is more than the window ago. */
  s = sched("0 0 29 2 *");
  assert_int_equal(
      sp_catchup_due(s, TZ_CPH, at("2027-06-01T00:00:00+02:00"), 0, &missed),
      0);
  assert_int_equal(
      sp_catchup_due(s, TZ_CPH, at("2028-03-01T00:00:00+01:00"), 0, &missed),
      1);
  assert_time(missed, "2028-02-29T00:00:00+01:00");
  /* A zone that does not exist is an error, not "nothing missed". */
  assert_true(sp_catchup_due(s, "Nowhere/Atlantis", now, 0, &missed) < 0);
  sp_schedule_free(s);
}

static void test_next_run_and_jitter(void **state) {
  sp_schedule *s = sched("30 2 * * *");
  time_t t = 0;
  double due = 0;
  assert_int_equal(
      sp_next_run(s, TZ_CPH, at("2027-03-27T12:00:00+01:00"), 0, 0.7, &t, &due),
      0);
  assert_time(t, "2027-03-28T03:00:00+02:00");
  assert_true(due == (double)t);
  assert_int_equal(sp_next_run(s, TZ_CPH, at("2027-03-27T12:00:00+01:00"), 600,
                               0.5, &t, &due),
                   0);
  assert_true(due == (double)t + 300);
  /* Autumn: 02:30 happens twice on 2027-10-31; it runs at the first. */
  assert_int_equal(
      sp_next_run(s, TZ_CPH, at("2027-10-30T12:00:00+02:00"), 0, 0, &t, &due),
      0);
  assert_time(t, "2027-10-31T02:30:00+02:00");
  assert_int_equal(sp_next_run(s, TZ_CPH, t, 0, 0, &t, &due), 0);
  assert_time(t, "2027-11-01T02:30:00+01:00");
  sp_schedule_free(s);
  s = sched("0 0 30 2 *");
  assert_int_equal(sp_next_run(s, TZ_CPH, at("2027-01-01"), 0, 0, &t, &due),
                   SAMSPOR_ENOENT);
  sp_schedule_free(s);
}

/* ---- metrics ---------------------------------------------------------- */

static const sp_metrics_conn two[] = {
    {"unge", 1800000000, 1, 12.5, 200, 3, 1, 0, NULL, 0},
    {"skole", 0, 0, 0, 0, 0, 0, 1, NULL, 0},
};

static const char two_text[] =
    "# HELP samspor_last_success_timestamp_seconds Unix time the "
    "connector's last successful run ended (0: none known).\n"
    "# TYPE samspor_last_success_timestamp_seconds gauge\n"
    "samspor_last_success_timestamp_seconds{connector=\"unge\"} 1800000000\n"
    "samspor_last_success_timestamp_seconds{connector=\"skole\"} 0\n"
    "# HELP samspor_last_run_duration_seconds How long the connector's last "
    "run took.\n"
    "# TYPE samspor_last_run_duration_seconds gauge\n"
    "samspor_last_run_duration_seconds{connector=\"unge\"} 12.500\n"
    "# HELP samspor_rows_loaded Rows the connector's last run loaded, all "
    "streams.\n"
    "# TYPE samspor_rows_loaded gauge\n"
    "samspor_rows_loaded{connector=\"unge\"} 200\n"
    "# HELP samspor_rows_rejected Rows the connector's last run rejected, "
    "all streams.\n"
    "# TYPE samspor_rows_rejected gauge\n"
    "samspor_rows_rejected{connector=\"unge\"} 3\n"
    "# HELP samspor_failures_total Failed runs of the connector since the "
    "daemon started.\n"
    "# TYPE samspor_failures_total counter\n"
    "samspor_failures_total{connector=\"unge\"} 1\n"
    "samspor_failures_total{connector=\"skole\"} 0\n"
    "# HELP samspor_running 1 while a run of the connector is going on, "
    "else 0.\n"
    "# TYPE samspor_running gauge\n"
    "samspor_running{connector=\"unge\"} 0\n"
    "samspor_running{connector=\"skole\"} 1\n";

static void test_metrics_format(void **state) {
  sp_buf b;
  sp_buf_init(&b);
  sp_metrics_format(&b, two, 2);
  assert_string_equal(b.data, two_text);
  sp_buf_free(&b);

  /* No runs yet: the last-run metrics are left out, not written as 0. */
  sp_buf_init(&b);
  sp_metrics_format(&b, &two[1], 1);
  assert_null(strstr(b.data, "samspor_rows_loaded"));
  assert_non_null(strstr(b.data, "samspor_running{connector=\"skole\"} 1\n"));
  sp_buf_free(&b);

  /* Label values are escaped. */
  sp_metrics_conn odd = {"a\"b\\c\nd", 0, 0, 0, 0, 0, 0, 0, NULL, 0};
  sp_buf_init(&b);
  sp_metrics_format(&b, &odd, 1);
  assert_non_null(strstr(b.data, "{connector=\"a\\\"b\\\\c\\nd\"}"));
  sp_buf_free(&b);

  /* No connectors: headers only, still a valid file. */
  sp_buf_init(&b);
  sp_metrics_format(&b, NULL, 0);
  assert_non_null(strstr(b.data, "# TYPE samspor_running gauge\n"));
  sp_buf_free(&b);
}

/* Per stream: rows so far while it runs, the last run's result and
 * rejects per reason. */
static void test_metrics_streams(void **state) {
  (void)state;
  static const sp_metrics_reason why[] = {{"cpr", 2}, {"date", 1}};
  static const sp_metrics_stream st[] = {
      {"youth_status", 1, 5000, 4990, 10, "succeeded", 198, 3, why, 2},
      {"school", 0, 0, 0, 0, "failed", 0, 0, NULL, 0},
  };
  sp_metrics_conn c = {"unge", 0, 0, 0, 0, 0, 0, 1, st, 2};
  sp_buf b;
  sp_buf_init(&b);
  sp_metrics_format(&b, &c, 1);
  const char *want[] = {
      "# TYPE samspor_stream_rows_read gauge\n",
      "samspor_stream_rows_read{connector=\"unge\",stream=\"youth_status\"} "
      "5000\n",
      "samspor_stream_rows_loaded{connector=\"unge\",stream=\"youth_status\"} "
      "4990\n",
      "samspor_stream_rows_rejected{connector=\"unge\",stream=\"youth_"
      "status\"} 10\n",
      "samspor_stream_last_result{connector=\"unge\",stream=\"youth_status\","
      "result=\"succeeded\"} 1\n",
      "samspor_stream_last_result{connector=\"unge\",stream=\"school\","
      "result=\"failed\"} 1\n",
      "samspor_stream_last_rows_loaded{connector=\"unge\",stream=\"youth_"
      "status\"} 198\n",
      "samspor_stream_last_rejected_by_reason{connector=\"unge\",stream="
      "\"youth_status\",reason=\"cpr\"} 2\n",
      "samspor_stream_last_rejected_by_reason{connector=\"unge\",stream="
      "\"youth_status\",reason=\"date\"} 1\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof *want; i++)
    if (!strstr(b.data, want[i]))
      fail_msg("metrics lack '%s' in:\n%s", want[i], b.data);
  /* A stream not running has no progress sample. */
  assert_null(strstr(b.data, "samspor_stream_rows_read{connector=\"unge\","
                             "stream=\"school\"}"));
  sp_buf_free(&b);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "r");
  assert_non_null(f);
  sp_buf b;
  sp_buf_init(&b);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    sp_buf_append(&b, buf, n);
  fclose(f);
  return b.data ? b.data : sp_xstrdup("");
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

static void test_metrics_write_atomic(void **state) {
  char dir[] = "/tmp/test_daemon.XXXXXX";
  assert_non_null(mkdtemp(dir));
  char *path = sp_xasprintf("%s/samspor.prom", dir);
  char err[512] = "";
  assert_int_equal(sp_metrics_write(path, two, 2, err, sizeof err), 0);
  char *text = slurp(path);
  assert_string_equal(text, two_text);
  free(text);
  struct stat st1, st2;
  assert_int_equal(stat(path, &st1), 0);
  assert_int_equal(st1.st_mode & 0777, 0644);
  /* Replaced by rename: a new inode, never the old one rewritten in place
   * (a reader holding the old file sees it whole). */
  assert_int_equal(sp_metrics_write(path, &two[1], 1, err, sizeof err), 0);
  assert_int_equal(stat(path, &st2), 0);
  assert_true(st1.st_ino != st2.st_ino);
  assert_int_equal(count_entries(dir), 1); /* no temporary left behind */

  /* A directory that does not exist: an error naming the file, and the
   * old file untouched. */
  char *bad = sp_xasprintf("%s/nodir/samspor.prom", dir);
  assert_int_equal(sp_metrics_write(bad, two, 2, err, sizeof err), SAMSPOR_EIO);
  assert_non_null(strstr(err, bad));
  assert_non_null(strstr(err, "No such file or directory"));
  free(bad);

  unlink(path);
  rmdir(dir);
  free(path);
}

/* ---- the status table ------------------------------------------------- */

static void test_status_print(void **state) {
  const char *resp =
      "{\"ok\":true,\"daemon\":{\"pid\":77,\"version\":\"0.1.0\","
      "\"started\":\"2027-03-28T01:00:00+01:00\",\"config\":\"/etc/s.conf\","
      "\"config_loaded\":\"2027-03-28T01:00:00+01:00\",\"timezone\":"
      "\"Europe/Copenhagen\",\"max_parallel\":2,\"running\":1,\"queued\":0,"
      "\"stopping\":false},\"connectors\":["
      "{\"name\":\"unge\",\"state\":\"running\",\"next_run\":"
      "\"2027-03-29T02:30:00+02:00\",\"running_since\":"
      "\"2027-03-28T03:00:00+02:00\",\"pid\":99,\"last_run\":{\"started\":"
      "\"2027-03-27T02:30:00+01:00\",\"duration_seconds\":12.5,\"result\":"
      "\"succeeded\",\"rows_loaded\":200,\"rows_rejected\":3},"
      "\"consecutive_failures\":0},"
      "{\"name\":\"skoledata\",\"state\":\"retrying\",\"next_run\":null,"
      "\"retry_at\":\"2027-03-28T03:10:00+02:00\",\"retry\":1,"
      "\"retry_attempts\":3,\"last_run\":{\"started\":"
      "\"2027-03-28T03:00:00+02:00\",\"duration_seconds\":90,\"result\":"
      "\"temporary failure\",\"rows_loaded\":null,\"error\":\"t: cannot "
      "connect\"},\"consecutive_failures\":2,\"last_success\":null},"
      "{\"name\":\"ny\",\"state\":\"idle\",\"last_run\":null}]}";
  json_error_t jerr;
  json_t *j = json_loads(resp, 0, &jerr);
  assert_non_null(j);
  char *out = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&out, &len);
  sp_status_print(f, j);
  fclose(f);
  json_decref(j);
  const char *want[] = {
      "samspor 0.1.0 daemon, pid 77, up since 2027-03-28 01:00:00+01:00\n",
      "running 1 of at most 2, queued 0; times in Europe/Copenhagen\n",
      "CONNECTOR  STATE      LAST RUN STARTED               TOOK  RESULT",
      "unge       running    2027-03-27 02:30:00+01:00     12.5s  succeeded"
      "                200          3  2027-03-29 02:30:00+02:00\n",
      "           running since 2027-03-28 03:00:00+02:00, pid 99\n",
      "skoledata  retrying   2027-03-28 03:00:00+02:00     1m30s  temporary "
      "failure          -          -  -\n",
      "           retry 1 of 3 at 2027-03-28 03:10:00+02:00\n",
      "           error: t: cannot connect\n",
      "           2 failed runs in a row; last success -\n",
      "ny         idle       -                                 -  -        "
      "                  -          -  -\n",
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    if (!strstr(out, want[i])) {
      print_error("missing:\n%s\nin:\n%s\n", want[i], out);
      fail();
    }
  free(out);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backoff_doubles_and_caps),
      cmocka_unit_test(test_retry_decide),
      cmocka_unit_test(test_outcome_of),
      cmocka_unit_test(test_complain_growing_gaps),
      cmocka_unit_test(test_catchup),
      cmocka_unit_test(test_next_run_and_jitter),
      cmocka_unit_test(test_metrics_format),
      cmocka_unit_test(test_metrics_streams),
      cmocka_unit_test(test_metrics_write_atomic),
      cmocka_unit_test(test_status_print),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
