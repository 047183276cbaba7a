#include "config.h"

/*
 * test_runrecord.c — the run records a sync child sends the daemon
 * (core/model/runrecord.h): what the encoder writes, the decoder reads back
 * field for field, a multi-line error stays one record, and what is not a
 * record is refused with a reason.
 */

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/runrecord.h"

static sp_runrec sample(void) {
  sp_runrec r;
  memset(&r, 0, sizeof r);
  snprintf(r.connector, sizeof r.connector, "unge");
  snprintf(r.stream, sizeof r.stream, "youth_status");
  r.run_id = 4242424242LL;
  r.status = SP_RUNREC_SUCCEEDED;
  r.read = 200;
  r.loaded = 198;
  r.rejected = 2;
  r.skipped = 3;
  r.deleted = 4;
  r.duplicates = 5;
  r.seconds = 1.25;
  return r;
}

static void assert_same(const sp_runrec *a, const sp_runrec *b) {
  assert_string_equal(a->connector, b->connector);
  assert_string_equal(a->stream, b->stream);
  assert_true(a->run_id == b->run_id);
  assert_int_equal(a->status, b->status);
  assert_int_equal(a->exit_code, b->exit_code);
  assert_true(a->read == b->read);
  assert_true(a->loaded == b->loaded);
  assert_true(a->rejected == b->rejected);
  assert_true(a->skipped == b->skipped);
  assert_true(a->deleted == b->deleted);
  assert_true(a->duplicates == b->duplicates);
  assert_true(a->seconds == b->seconds);
  assert_string_equal(a->error, b->error);
  assert_int_equal(a->type, b->type);
  assert_int_equal(a->nreasons, b->nreasons);
  for (size_t i = 0; i < a->nreasons; i++) {
    assert_string_equal(a->reasons[i].reason, b->reasons[i].reason);
    assert_true(a->reasons[i].rows == b->reasons[i].rows);
  }
}

static void roundtrip(const sp_runrec *in) {
  char *json = NULL;
  assert_int_equal(sp_runrec_encode(in, &json), 0);
  assert_non_null(json);
  /* One record, one line. */
  assert_null(strchr(json, '\n'));
  sp_runrec out;
  char err[256] = "";
  assert_int_equal(sp_runrec_decode(json, &out, err, sizeof err), 0);
  assert_string_equal(err, "");
  assert_same(in, &out);
  free(json);
}

static void test_roundtrip_success(void **state) {
  (void)state;
  sp_runrec r = sample();
  roundtrip(&r);
  char *json = NULL;
  assert_int_equal(sp_runrec_encode(&r, &json), 0);
  assert_non_null(strstr(json, "\"status\":\"succeeded\""));
  assert_non_null(strstr(json, "\"error\":null"));
  assert_non_null(strstr(json, "\"v\":1"));
  free(json);
}

static void test_roundtrip_multiline_error(void **state) {
  (void)state;
  sp_runrec r = sample();
  r.status = SP_RUNREC_FAILED;
  r.exit_code = 75;
  r.read = r.loaded = r.rejected = 0;
  snprintf(r.error, sizeof r.error,
           "COPY to the warehouse failed: ERROR:  boom\n"
           "DETAIL:  \"quoted\", tab\there; back\\slash\n"
           "CONTEXT:  COPY youth_status, line 3: ende: \xc3\xa6\xc3\xb8");
  roundtrip(&r);
  r.status = SP_RUNREC_SKIPPED;
  r.exit_code = 0;
  snprintf(r.error, sizeof r.error, "no file matches");
  roundtrip(&r);
}

static void test_write_is_one_line(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  sp_runrec r = sample();
  r.status = SP_RUNREC_FAILED;
  snprintf(r.error, sizeof r.error, "line one\nline two");
  assert_int_equal(sp_runrec_write(fds[1], &r), 0);
  assert_int_equal(sp_runrec_write(fds[1], &r), 0);
  close(fds[1]);
  char buf[4096];
  ssize_t n = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  assert_true(n > 0);
  buf[n] = '\0';
  char *nl = strchr(buf, '\n');
  assert_non_null(nl);
  *nl = '\0';
  sp_runrec out;
  assert_int_equal(sp_runrec_decode(buf, &out, NULL, 0), 0);
  assert_same(&r, &out);
  /* The second record follows on its own line, whole. */
  char *second = nl + 1;
  nl = strchr(second, '\n');
  assert_non_null(nl);
  assert_int_equal(nl[1], '\0');
  *nl = '\0';
  assert_int_equal(sp_runrec_decode(second, &out, NULL, 0), 0);
  assert_same(&r, &out);
}

#define FIELDS                                                                 \
  "\"connector\":\"unge\",\"stream\":\"t\",\"run_id\":1,\"status\":"           \
  "\"succeeded\",\"exit\":0,\"read\":1,\"loaded\":1,\"rejected\":0,"           \
  "\"skipped\":0,\"deleted\":0,\"duplicates\":0,\"seconds\":0.5,"

/* Rejects per reason travel with the stream's record, in order. */
static void test_roundtrip_reasons(void **state) {
  (void)state;
  sp_runrec r = sample();
  sp_runrec_add_reason(r.reasons, &r.nreasons, "cpr", 1);
  sp_runrec_add_reason(r.reasons, &r.nreasons, "date", 1);
  sp_runrec_add_reason(r.reasons, &r.nreasons, "cpr", 2);
  assert_int_equal(r.nreasons, 2);
  assert_true(r.reasons[0].rows == 3);
  roundtrip(&r);
  char *json = NULL;
  assert_int_equal(sp_runrec_encode(&r, &json), 0);
  assert_non_null(strstr(json, "\"rejects\":{\"cpr\":3,\"date\":1}"));
  free(json);
  /* Past the bound, the rest is counted as "other", nothing lost. */
  sp_runrec m = sample();
  char name[16];
  for (int i = 0; i < SP_RUNREC_MAX_REASONS + 5; i++) {
    snprintf(name, sizeof name, "r%d", i);
    sp_runrec_add_reason(m.reasons, &m.nreasons, name, 1);
  }
  assert_int_equal(m.nreasons, SP_RUNREC_MAX_REASONS);
  long long total = 0;
  for (size_t i = 0; i < m.nreasons; i++)
    total += m.reasons[i].rows;
  assert_true(total == SP_RUNREC_MAX_REASONS + 5);
  assert_string_equal(m.reasons[SP_RUNREC_MAX_REASONS - 1].reason, "other");
  roundtrip(&m);
}

/* A progress record: its own type, the counts so far, nothing else. */
static void test_roundtrip_progress(void **state) {
  (void)state;
  sp_runrec p;
  memset(&p, 0, sizeof p);
  p.type = SP_RUNREC_PROGRESS;
  snprintf(p.connector, sizeof p.connector, "unge");
  snprintf(p.stream, sizeof p.stream, "youth_status");
  p.run_id = 42;
  p.read = 100000;
  p.loaded = 99990;
  p.rejected = 10;
  p.seconds = 12.5;
  roundtrip(&p);
  char *json = NULL;
  assert_int_equal(sp_runrec_encode(&p, &json), 0);
  assert_string_equal(json,
                      "{\"v\":1,\"type\":\"progress\",\"connector\":\"unge\","
                      "\"stream\":\"youth_status\",\"run_id\":42,\"read\":"
                      "100000,\"loaded\":99990,\"rejected\":10,\"seconds\":"
                      "12.5}");
  free(json);
  /* A final record may say its type too. */
  sp_runrec r;
  assert_int_equal(sp_runrec_decode("{\"v\":1,\"type\":\"stream\"," FIELDS
                                    "\"error\":null}",
                                    &r, NULL, 0),
                   0);
  assert_int_equal(r.type, SP_RUNREC_STREAM);
}

static void refused(const char *json, const char *why) {
  sp_runrec r;
  memset(&r, 0x55, sizeof r);
  char err[256] = "";
  assert_int_equal(sp_runrec_decode(json, &r, err, sizeof err), -1);
  if (!strstr(err, why))
    fail_msg("'%s': error '%s' does not say '%s'", json, err, why);
  /* Nothing half-filled is left behind. */
  assert_string_equal(r.connector, "");
  assert_true(r.loaded == 0);
}

static void test_malformed(void **state) {
  (void)state;
  refused("", "not JSON");
  refused("unge.t: read 1, loaded 1, rejected 0", "not JSON");
  refused("{\"v\":1,\"connector\":\"unge\"", "not JSON");
  refused("[1,2]", "run record");
  refused("{\"v\":2," FIELDS "\"error\":null}", "version 2");
  refused("{" FIELDS "\"error\":null}", "v");
  refused("{\"v\":1," FIELDS "\"error\":7}", "neither a string nor null");
  refused("{\"v\":1,\"connector\":\"unge\",\"stream\":\"t\"}", "run_id");
  refused("{\"v\":1," FIELDS "\"error\":null,\"v\":1}", "not JSON");
  refused("{\"v\":1," FIELDS "\"error\":null,\"status\":\"odd\"}", "not JSON");
  /* The status is one of three. */
  refused("{\"v\":1,\"connector\":\"unge\",\"stream\":\"t\",\"run_id\":1,"
          "\"status\":\"odd\",\"exit\":0,\"read\":1,\"loaded\":1,"
          "\"rejected\":0,\"skipped\":0,\"deleted\":0,\"duplicates\":0,"
          "\"seconds\":0.5,\"error\":null}",
          "unknown status");
  /* A number where text belongs, text where a number belongs. */
  refused("{\"v\":1,\"connector\":5,\"stream\":\"t\",\"run_id\":1,"
          "\"status\":\"failed\",\"exit\":0,\"read\":1,\"loaded\":1,"
          "\"rejected\":0,\"skipped\":0,\"deleted\":0,\"duplicates\":0,"
          "\"seconds\":0.5,\"error\":null}",
          "run record");
  refused("{\"v\":1,\"connector\":\"unge\",\"stream\":\"t\",\"run_id\":1,"
          "\"status\":\"failed\",\"exit\":0,\"read\":\"1\",\"loaded\":1,"
          "\"rejected\":0,\"skipped\":0,\"deleted\":0,\"duplicates\":0,"
          "\"seconds\":0.5,\"error\":null}",
          "run record");
  /* An empty name. */
  refused("{\"v\":1,\"connector\":\"\",\"stream\":\"t\",\"run_id\":1,"
          "\"status\":\"failed\",\"exit\":0,\"read\":1,\"loaded\":1,"
          "\"rejected\":0,\"skipped\":0,\"deleted\":0,\"duplicates\":0,"
          "\"seconds\":0.5,\"error\":null}",
          "connector is empty");
  refused("{\"v\":1,\"type\":\"odd\"," FIELDS "\"error\":null}",
          "unknown type");
  refused("{\"v\":1,\"type\":\"progress\",\"connector\":\"unge\","
          "\"stream\":\"t\",\"run_id\":1,\"read\":1}",
          "run record");
  refused("{\"v\":1," FIELDS "\"error\":null,\"rejects\":[1]}",
          "not an object");
  refused("{\"v\":1," FIELDS "\"error\":null,\"rejects\":{\"cpr\":\"2\"}}",
          "not a count");
  /* An unknown field from a newer child is fine. */
  sp_runrec r;
  assert_int_equal(sp_runrec_decode("{\"v\":1," FIELDS
                                    "\"error\":null,\"new\":true}",
                                    &r, NULL, 0),
                   0);
  assert_string_equal(r.connector, "unge");
  assert_true(r.seconds == 0.5);
}

static void test_channel(void **state) {
  (void)state;
  unsetenv(SP_RUNREC_ENV);
  assert_int_equal(sp_runrec_channel(), -1);
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  int fd = fcntl(fds[1], F_DUPFD, 10);
  assert_true(fd >= 10);
  char v[16];
  snprintf(v, sizeof v, "%d", fd);
  setenv(SP_RUNREC_ENV, v, 1);
  assert_int_equal(sp_runrec_channel(), fd);
  /* Used up: the child's own children do not see it. */
  assert_null(getenv(SP_RUNREC_ENV));
  assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
  /* Not a number, stdio, or a closed descriptor: no channel. */
  setenv(SP_RUNREC_ENV, "3x", 1);
  assert_int_equal(sp_runrec_channel(), -1);
  setenv(SP_RUNREC_ENV, "1", 1);
  assert_int_equal(sp_runrec_channel(), -1);
  close(fd);
  setenv(SP_RUNREC_ENV, v, 1);
  assert_int_equal(sp_runrec_channel(), -1);
  close(fds[0]);
  close(fds[1]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roundtrip_success),
      cmocka_unit_test(test_roundtrip_multiline_error),
      cmocka_unit_test(test_write_is_one_line),
      cmocka_unit_test(test_roundtrip_reasons),
      cmocka_unit_test(test_roundtrip_progress),
      cmocka_unit_test(test_malformed),
      cmocka_unit_test(test_channel),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
