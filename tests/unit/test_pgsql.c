#include "config.h"

/*
 * test_pgsql.c — unit tests of the pgsql plugin's pure parts
 * (plugins/pgsql/pgsql_msg.c): redaction of server messages, error
 * classification, the conninfo check, query positions and result column
 * lookup.  Everything that needs a server is in
 * tests/integration/test_pgsql.sh.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "samspor-plugin.h"
#include "pgsql_msg.h"

static void redact(const char *msg, const char *state, char *out,
                   size_t outlen) {
  pgsql_redact(msg, strlen(msg), state, out, outlen);
}

static void test_redact_data_errors(void **st) {
  char out[256];
  (void)st;
  redact("invalid input syntax for type date: \"31-02-2026\"", "22007", out,
         sizeof out);
  assert_string_equal(out, "invalid input syntax for type date: \"...\"");
  redact("duplicate key value violates unique constraint \"p_key\"", "23505",
         out, sizeof out);
  assert_string_equal(out,
                      "duplicate key value violates unique constraint \"...\"");
  /* Two quoted parts, both dropped. */
  redact("value \"0101011234\" and \"Jens\" refused", "22023", out, sizeof out);
  assert_string_equal(out, "value \"...\" and \"...\" refused");
  /* An unterminated quote hides the rest. */
  redact("bad value \"0101011234 and more", "22P02", out, sizeof out);
  assert_string_equal(out, "bad value \"...");
}

static void test_redact_keeps_other_classes(void **st) {
  char out[256];
  (void)st;
  redact("column \"benefit\" does not exist", "42703", out, sizeof out);
  assert_string_equal(out, "column \"benefit\" does not exist");
  redact("syntax error at or near \"x\"", "42601", out, sizeof out);
  assert_string_equal(out, "syntax error at or near \"x\"");
  redact("relation \"t\" does not exist", NULL, out, sizeof out);
  assert_string_equal(out, "relation \"t\" does not exist");
}

static void test_redact_one_line(void **st) {
  char out[256];
  (void)st;
  redact("connection to server failed: No such file\n\tIs the server "
         "running?\n",
         NULL, out, sizeof out);
  assert_string_equal(out, "connection to server failed: No such file Is the "
                           "server running?");
  redact("  \n", NULL, out, sizeof out);
  assert_string_equal(out, "");
  /* Only `len` bytes are read. */
  pgsql_redact("abcdef", 3, NULL, out, sizeof out);
  assert_string_equal(out, "abc");
}

static void test_redact_truncates_safely(void **st) {
  char out[12];
  size_t n;
  (void)st;
  redact("a very long message that does not fit", NULL, out, sizeof out);
  n = strlen(out);
  assert_true(n < sizeof out);
  assert_memory_equal(out, "a very long message", n);
  /* A cut inside a redacted quote still shows no value. */
  redact("x \"0101011234\"", "22000", out, sizeof out);
  assert_null(strstr(out, "0101"));
  redact("anything", "22000", out, 1);
  assert_string_equal(out, "");
}

static void test_redacted_classes(void **st) {
  (void)st;
  assert_true(pgsql_sqlstate_redacted("22P02"));
  assert_true(pgsql_sqlstate_redacted("23505"));
  assert_false(pgsql_sqlstate_redacted("42601"));
  assert_false(pgsql_sqlstate_redacted("2"));
  assert_false(pgsql_sqlstate_redacted(NULL));
}

static void test_classify_sqlstate(void **st) {
  (void)st;
  assert_int_equal(pgsql_classify_sqlstate(NULL), SAMSPOR_ETEMP);
  assert_int_equal(pgsql_classify_sqlstate(""), SAMSPOR_ETEMP);
  assert_int_equal(pgsql_classify_sqlstate("08006"), SAMSPOR_ETEMP);
  assert_int_equal(pgsql_classify_sqlstate("57P01"), SAMSPOR_ETEMP);
  assert_int_equal(pgsql_classify_sqlstate("57P03"), SAMSPOR_ETEMP);
  assert_int_equal(pgsql_classify_sqlstate("53300"), SAMSPOR_ETEMP);
  assert_int_equal(pgsql_classify_sqlstate("40001"), SAMSPOR_ETEMP);
  assert_int_equal(pgsql_classify_sqlstate("28P01"), SAMSPOR_EAUTH);
  /* statement_timeout (57014) is not 57P: the same query would time out
   * again. */
  assert_int_equal(pgsql_classify_sqlstate("57014"), SAMSPOR_EFAIL);
  assert_int_equal(pgsql_classify_sqlstate("42601"), SAMSPOR_EFAIL);
  assert_int_equal(pgsql_classify_sqlstate("22P02"), SAMSPOR_EFAIL);
  assert_int_equal(pgsql_classify_sqlstate("42501"), SAMSPOR_EFAIL);
}

static void test_classify_connect(void **st) {
  (void)st;
  assert_int_equal(pgsql_classify_connect("anything", 1), SAMSPOR_EAUTH);
  assert_int_equal(
      pgsql_classify_connect("connection to server on socket \"/x\" failed: "
                             "FATAL:  password authentication failed for "
                             "user \"sp\"",
                             0),
      SAMSPOR_EAUTH);
  assert_int_equal(pgsql_classify_connect("FATAL:  no pg_hba.conf entry for "
                                          "host \"[local]\"",
                                          0),
                   SAMSPOR_EAUTH);
  assert_int_equal(
      pgsql_classify_connect("FATAL:  role \"nobody\" does not exist", 0),
      SAMSPOR_EAUTH);
  assert_int_equal(
      pgsql_classify_connect("FATAL:  database \"nodb\" does not exist", 0),
      SAMSPOR_EFAIL);
  assert_int_equal(
      pgsql_classify_connect("SSL error: certificate verify failed", 0),
      SAMSPOR_EFAIL);
  assert_int_equal(pgsql_classify_connect("could not connect: Connection "
                                          "refused",
                                          0),
                   SAMSPOR_ETEMP);
  assert_int_equal(
      pgsql_classify_connect("FATAL:  the database system is starting up", 0),
      SAMSPOR_ETEMP);
  assert_int_equal(
      pgsql_classify_connect("FATAL:  sorry, too many clients already", 0),
      SAMSPOR_ETEMP);
  assert_int_equal(pgsql_classify_connect("timeout expired", 0), SAMSPOR_ETEMP);
  assert_int_equal(pgsql_classify_connect(NULL, 0), SAMSPOR_ETEMP);
}

static void test_conninfo_check(void **st) {
  char err[256];
  (void)st;
  assert_int_equal(pgsql_conninfo_check("host=/tmp dbname=x", err, sizeof err),
                   0);
  assert_int_equal(pgsql_conninfo_check("service=partner", err, sizeof err), 0);
  assert_int_equal(
      pgsql_conninfo_check("postgresql://u@db.invalid/x", err, sizeof err), 0);
  assert_int_equal(
      pgsql_conninfo_check("host=/tmp password=S3cret-Pw", err, sizeof err),
      SAMSPOR_ECONFIG);
  assert_non_null(strstr(err, "password_file"));
  assert_null(strstr(err, "S3cret"));
  assert_int_equal(pgsql_conninfo_check("postgresql://u:S3cret-Pw@db.invalid/x",
                                        err, sizeof err),
                   SAMSPOR_ECONFIG);
  assert_null(strstr(err, "S3cret"));
  /* Unparsable: the message must not quote the string. */
  assert_int_equal(
      pgsql_conninfo_check("host=/tmp 'S3cret-Pw", err, sizeof err),
      SAMSPOR_ECONFIG);
  assert_null(strstr(err, "S3cret"));
  assert_int_equal(pgsql_conninfo_check("nokeyword S3cret", err, sizeof err),
                   SAMSPOR_ECONFIG);
  assert_null(strstr(err, "S3cret"));
}

static void test_position(void **st) {
  long line, col;
  (void)st;
  pgsql_position("SELECT x FROM t", 8, &line, &col);
  assert_int_equal(line, 1);
  assert_int_equal(col, 8);
  /* Character 22 is the W of WHER. */
  pgsql_position("SELECT a,\n  b\nFROM t WHER", 22, &line, &col);
  assert_int_equal(line, 3);
  assert_int_equal(col, 8);
  /* Positions count characters: "æø" are two characters, four bytes. */
  pgsql_position("SELECT 'æø' x", 13, &line, &col);
  assert_int_equal(line, 1);
  assert_int_equal(col, 13);
  pgsql_position("ab", 99, &line, &col);
  assert_int_equal(line, 1);
  assert_int_equal(col, 3);
  pgsql_position("", 1, &line, &col);
  assert_int_equal(line, 1);
  assert_int_equal(col, 1);
}

static void test_find_column(void **st) {
  const char *names[] = {"cpr", "month", "Benefit", "id", "ID", "id"};
  size_t col = 99, other = 99;
  (void)st;
  assert_int_equal(pgsql_find_column(names, 6, "month", &col, &other),
                   PGSQL_COL_FOUND);
  assert_int_equal(col, 1);
  /* Case is ignored only when no name matches exactly. */
  assert_int_equal(pgsql_find_column(names, 6, "benefit", &col, &other),
                   PGSQL_COL_FOUND);
  assert_int_equal(col, 2);
  assert_int_equal(pgsql_find_column(names, 6, "ID", &col, &other),
                   PGSQL_COL_FOUND);
  assert_int_equal(col, 4);
  assert_int_equal(pgsql_find_column(names, 6, "id", &col, &other),
                   PGSQL_COL_AMBIGUOUS);
  assert_int_equal(col, 3);
  assert_int_equal(other, 5);
  assert_int_equal(pgsql_find_column(names, 6, "Id", &col, &other),
                   PGSQL_COL_AMBIGUOUS);
  assert_int_equal(pgsql_find_column(names, 6, "changed_at", &col, &other),
                   PGSQL_COL_MISSING);
  assert_int_equal(pgsql_find_column(names, 0, "cpr", &col, &other),
                   PGSQL_COL_MISSING);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_redact_data_errors),
      cmocka_unit_test(test_redact_keeps_other_classes),
      cmocka_unit_test(test_redact_one_line),
      cmocka_unit_test(test_redact_truncates_safely),
      cmocka_unit_test(test_redacted_classes),
      cmocka_unit_test(test_classify_sqlstate),
      cmocka_unit_test(test_classify_connect),
      cmocka_unit_test(test_conninfo_check),
      cmocka_unit_test(test_position),
      cmocka_unit_test(test_find_column),
  };
  return cmocka_run_group_tests_name("pgsql messages", tests, NULL, NULL) ? 1
                                                                          : 0;
}
