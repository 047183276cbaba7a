#include "config.h"

/*
 * test_pgsql.c — unit tests of the pgsql plugin's pure parts
 * (plugins/pgsql/pgsql_msg.c) and of plugins/common/pgconn.c: which server
 * texts may be repeated, the SQLSTATE of a refused connection, the TLS
 * default, error classification, the conninfo check, query positions and result
 * column lookup.  Everything that needs a server is in
 * tests/integration/test_pgsql.sh.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "samspor-plugin.h"
#include "pgconn.h"
#include "pgsql_msg.h"

/* The allow-list of SQLSTATE classes whose texts may be repeated. */
static void test_text_allowed(void **st) {
  (void)st;
  assert_true(spp_pq_text_allowed("42601"));
  assert_true(spp_pq_text_allowed("42P01"));
  assert_true(spp_pq_text_allowed("08006"));
  assert_true(spp_pq_text_allowed("28P01"));
  assert_true(spp_pq_text_allowed("3D000"));
  assert_true(spp_pq_text_allowed("53300"));
  assert_true(spp_pq_text_allowed("57014"));
  assert_true(spp_pq_text_allowed("25006"));
  assert_false(spp_pq_text_allowed("22P02"));
  assert_false(spp_pq_text_allowed("23505"));
  assert_false(spp_pq_text_allowed("P0001")); /* RAISE: anything at all */
  assert_false(spp_pq_text_allowed("XX000"));
  assert_false(spp_pq_text_allowed("HV000")); /* unknown to the list */
  assert_false(spp_pq_text_allowed(NULL));
  assert_false(spp_pq_text_allowed("42")); /* not a SQLSTATE */
}

/* A refused connection's message written with PQERRORS_SQLSTATE. */
static void test_connect_sqlstate(void **st) {
  char s[6];
  (void)st;
  assert_true(spp_pq_connect_sqlstate(
      "connection to server on socket \"/x/.s.PGSQL.5432\" failed: FATAL:  "
      "28P01\n",
      s));
  assert_string_equal(s, "28P01");
  /* Translated severity; two attempts (the last counts). */
  assert_true(spp_pq_connect_sqlstate("a failed: FATAL:  57P03\nb failed: "
                                      "SCHWERWIEGEND:  3D000\n",
                                      s));
  assert_string_equal(s, "3D000");
  assert_false(spp_pq_connect_sqlstate(
      "connection to server at \"127.0.0.1\", port 1 failed: Connection "
      "refused\n\tIs the server running on that host and accepting TCP/IP "
      "connections?\n",
      s));
  assert_false(spp_pq_connect_sqlstate("x:  28P01 and more\n", s));
  assert_false(spp_pq_connect_sqlstate(NULL, s));
}

/* sslmode=verify-full for non-loopback TCP hosts unless chosen. */
static void test_tls_default(void **st) {
  spp_pq_tls_info t;
  (void)st;
  unsetenv("PGHOST");
  unsetenv("PGHOSTADDR");
  unsetenv("PGSSLMODE");
  unsetenv("PGSERVICE");
  assert_int_equal(spp_pq_tls("host=db.example.invalid dbname=x", &t), 0);
  assert_true(t.remote);
  assert_true(t.defaulted);
  assert_string_equal(t.sslmode, "verify-full");
  assert_string_equal(t.first_remote, "db.example.invalid");
  assert_int_equal(
      spp_pq_tls("host=db.example.invalid sslmode=require dbname=x", &t), 0);
  assert_true(t.remote);
  assert_false(t.defaulted);
  assert_string_equal(t.sslmode, "require");
  assert_false(spp_pq_tls_verified(t.sslmode));
  assert_int_equal(spp_pq_tls("postgresql://10.1.2.3:5432/x", &t), 0);
  assert_true(t.defaulted);
  assert_int_equal(spp_pq_tls("hostaddr=192.0.2.1 host=db dbname=x", &t), 0);
  assert_true(t.defaulted);
  assert_int_equal(spp_pq_tls("host=/run/postgresql,db2.example.invalid", &t),
                   0);
  assert_true(t.remote);
  assert_string_equal(t.first_remote, "db2.example.invalid");
  /* Local: no default. */
  const char *local[] = {"host=/run/postgresql dbname=x",
                         "host=127.0.0.1 dbname=x",
                         "host=127.10.0.1 dbname=x",
                         "host=localhost dbname=x",
                         "host=LOCALHOST dbname=x",
                         "host=::1 dbname=x",
                         "hostaddr=127.0.0.1 host=db.example.invalid",
                         "dbname=x",
                         "",
                         "service=partner"};
  for (size_t i = 0; i < sizeof local / sizeof *local; i++) {
    assert_int_equal(spp_pq_tls(local[i], &t), 0);
    assert_false(t.defaulted);
  }
  /* A service file or the environment chooses: no default. */
  assert_int_equal(spp_pq_tls("service=p host=db.example.invalid", &t), 0);
  assert_false(t.defaulted);
  setenv("PGSSLMODE", "disable", 1);
  assert_int_equal(spp_pq_tls("host=db.example.invalid", &t), 0);
  assert_false(t.defaulted);
  assert_string_equal(t.sslmode, "disable");
  unsetenv("PGSSLMODE");
  setenv("PGHOST", "db.example.invalid", 1);
  assert_int_equal(spp_pq_tls("dbname=x", &t), 0);
  assert_true(t.defaulted);
  unsetenv("PGHOST");
  assert_int_equal(spp_pq_tls("host='", &t), SAMSPOR_ECONFIG);
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
      cmocka_unit_test(test_text_allowed),
      cmocka_unit_test(test_connect_sqlstate),
      cmocka_unit_test(test_tls_default),
      cmocka_unit_test(test_classify_sqlstate),
      cmocka_unit_test(test_conninfo_check),
      cmocka_unit_test(test_position),
      cmocka_unit_test(test_find_column),
  };
  return cmocka_run_group_tests_name("pgsql messages", tests, NULL, NULL) ? 1
                                                                          : 0;
}
