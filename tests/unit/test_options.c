/*
 * Unit tests of the option-table engine: types, defaults, ranges,
 * durations, secrets, unknown options, nested groups and lists.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/options.h"

static const samspor_option sub_opts[] = {
    {"name", SAMSPOR_OPT_STRING, NULL, SAMSPOR_OPT_REQUIRED, 0, 0, NULL, "n",
     NULL},
    {"weight", SAMSPOR_OPT_INT, "1", 0, 0, 10, NULL, "w", NULL},
    {NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL}};

static const samspor_option opts[] = {
    {"url", SAMSPOR_OPT_STRING, NULL, SAMSPOR_OPT_REQUIRED, 0, 0, NULL, "u",
     NULL},
    {"count", SAMSPOR_OPT_INT, "5", 0, 1, 100, NULL, "c", NULL},
    {"ratio", SAMSPOR_OPT_FLOAT, "0.5", 0, 0, 1, NULL, "r", NULL},
    {"on", SAMSPOR_OPT_BOOL, "false", 0, 0, 0, NULL, "o", NULL},
    {"timeout", SAMSPOR_OPT_DURATION, "1h", 0, 1, 86400, NULL, "t", NULL},
    {"mode", SAMSPOR_OPT_ENUM, "a", 0, 0, 0, "a|bb|c", "m", NULL},
    {"key", SAMSPOR_OPT_STRLIST, NULL, 0, 0, 0, NULL, "k", NULL},
    {"bands", SAMSPOR_OPT_INTLIST, "0,6,10", 0, 0, 0, NULL, "b", NULL},
    {"file", SAMSPOR_OPT_PATH, NULL, 0, 0, 0, NULL, "f", NULL},
    {"password", SAMSPOR_OPT_STRING, NULL, SAMSPOR_OPT_SECRET, 0, 0, NULL, "p",
     NULL},
    {"inner", SAMSPOR_OPT_GROUP, NULL, 0, 0, 0, NULL, "g", sub_opts + 1},
    {"items", SAMSPOR_OPT_GROUPLIST, NULL, 0, 0, 0, NULL, "i", sub_opts},
    {"named", SAMSPOR_OPT_MAP, NULL, 0, 0, 0, NULL, "m", sub_opts + 1},
    {NULL, 0, NULL, 0, 0, 0, NULL, NULL, NULL}};

typedef struct fixture {
  config_t cfg;
  sp_errors errs;
  samspor_settings *s;
} fixture;

static samspor_settings *parse(fixture *f, const char *text) {
  config_init(&f->cfg);
  sp_errors_init(&f->errs);
  assert_int_equal(config_read_string(&f->cfg, text), CONFIG_TRUE);
  f->s = sp_settings_parse(config_root_setting(&f->cfg), opts, NULL,
                           "connector 'x'", "/base", &f->errs);
  return f->s;
}

static void done(fixture *f) {
  sp_settings_free(f->s);
  sp_errors_free(&f->errs);
  config_destroy(&f->cfg);
}

static int has_error(const fixture *f, const char *needle) {
  for (size_t i = 0; i < f->errs.nerrors; i++)
    if (strstr(f->errs.errors[i], needle))
      return 1;
  return 0;
}

static void test_defaults(void **state) {
  (void)state;
  fixture f;
  samspor_settings *s = parse(&f, "url = \"x\";");
  assert_int_equal(f.errs.nerrors, 0);
  assert_string_equal(sp_get_string(s, "url"), "x");
  assert_int_equal(sp_get_int(s, "count"), 5);
  assert_true(sp_get_float(s, "ratio") == 0.5);
  assert_false(sp_get_bool(s, "on"));
  assert_true(sp_get_duration(s, "timeout") == 3600);
  assert_string_equal(sp_get_string(s, "mode"), "a");
  assert_int_equal(sp_get_list(s, "key", NULL), 0);
  const sp_value *b = sp_settings_value(s, "bands");
  assert_int_equal(b->nlist, 3);
  assert_int_equal(b->ilist[2], 10);
  assert_false(sp_is_set(s, "count"));
  assert_true(sp_is_set(s, "url"));
  /* A group that is not written still has its defaults. */
  assert_int_equal(sp_get_int(sp_get_group(s, "inner"), "weight"), 1);
  done(&f);
}

static void test_values(void **state) {
  (void)state;
  fixture f;
  samspor_settings *s = parse(
      &f, "url = \"x\"; count = 7; ratio = 1; on = true; timeout = \"1h30m\";"
          "mode = \"bb\"; key = [\"a\", \"b\"]; bands = [1, 2];"
          "file = \"rel/f.csv\"; inner = { weight = 3; };"
          "items = ( { name = \"one\"; }, { name = \"two\"; weight = 2; } );"
          "named = { first = { weight = 4; }; };");
  assert_int_equal(f.errs.nerrors, 0);
  assert_int_equal(sp_get_int(s, "count"), 7);
  assert_true(sp_get_float(s, "ratio") == 1.0);
  assert_true(sp_get_bool(s, "on"));
  assert_true(sp_get_duration(s, "timeout") == 5400);
  const char *const *key;
  assert_int_equal(sp_get_list(s, "key", &key), 2);
  assert_string_equal(key[1], "b");
  assert_string_equal(sp_get_string(s, "file"), "/base/rel/f.csv");
  assert_int_equal(sp_get_int(sp_get_group(s, "inner"), "weight"), 3);
  samspor_settings *const *items;
  assert_int_equal(sp_get_items(s, "items", &items), 2);
  assert_string_equal(sp_get_string(items[1], "name"), "two");
  assert_int_equal(sp_get_int(items[1], "weight"), 2);
  assert_int_equal(sp_get_int(items[0], "weight"), 1);
  assert_int_equal(sp_get_items(s, "named", &items), 1);
  assert_string_equal(items[0]->name, "first");
  done(&f);
}

static void test_errors_all_reported(void **state) {
  (void)state;
  fixture f;
  parse(&f, "count = \"7\";\n"                  /* wrong type */
            "ratio = 2.0;\n"                    /* out of range */
            "on = 1;\n"                         /* wrong type */
            "timeout = \"soon\";\n"             /* bad duration */
            "mode = \"d\";\n"                   /* not a choice */
            "delimter = \";\";\n"               /* unknown */
            "items = ( { weight = 11; } );\n"); /* nested: missing + range */
  assert_true(
      has_error(&f, "missing required option 'url' (string) in connector 'x'"));
  assert_true(has_error(&f, "line 1: option 'count' in connector 'x': expected "
                            "integer"));
  assert_true(has_error(&f, "line 2: option 'ratio' in connector 'x': 2 is out "
                            "of range 0 to 1"));
  assert_true(has_error(&f, "line 3: option 'on'"));
  assert_true(has_error(&f, "line 4: option 'timeout' in connector 'x': 'soon' "
                            "is not a duration"));
  assert_true(has_error(&f,
                        "line 5: option 'mode' in connector 'x': 'd' is not "
                        "one of a|bb|c"));
  assert_true(has_error(&f, "line 6: unknown option 'delimter' in connector "
                            "'x'; valid options: url, count"));
  assert_true(has_error(&f, "password_file, password_env"));
  assert_true(has_error(&f,
                        "missing required option 'name' (string) in item #1 of "
                        "connector 'x'"));
  assert_true(has_error(&f, "option 'weight' in item #1 of connector 'x': "
                            "11 is out of range 0 to 10"));
  assert_int_equal(f.errs.nerrors, 9);
  done(&f);
}

static void test_durations(void **state) {
  (void)state;
  double s;
  assert_int_equal(sp_duration_parse("90s", &s), 0);
  assert_true(s == 90);
  assert_int_equal(sp_duration_parse("30m", &s), 0);
  assert_true(s == 1800);
  assert_int_equal(sp_duration_parse("2h", &s), 0);
  assert_true(s == 7200);
  assert_int_equal(sp_duration_parse("1d", &s), 0);
  assert_true(s == 86400);
  assert_int_equal(sp_duration_parse("6y", &s), 0);
  assert_true(s == 6 * 365 * 86400.0);
  assert_int_equal(sp_duration_parse("1h30m", &s), 0);
  assert_true(s == 5400);
  assert_int_equal(sp_duration_parse("", &s), -1);
  assert_int_equal(sp_duration_parse("5", &s), -1);
  assert_int_equal(sp_duration_parse("h", &s), -1);
  assert_int_equal(sp_duration_parse("5x", &s), -1);
  assert_int_equal(sp_duration_parse("-5s", &s), -1);
  assert_int_equal(sp_duration_parse("5s ", &s), -1);
  char buf[32];
  sp_duration_format(5400, buf, sizeof buf);
  assert_string_equal(buf, "1h30m");
  sp_duration_format(0, buf, sizeof buf);
  assert_string_equal(buf, "0s");
}

static void test_secret_inline_refused(void **state) {
  (void)state;
  fixture f;
  parse(&f, "url = \"x\"; password = \"hunter2\";");
  assert_true(has_error(&f, "secret 'password' written inline"));
  for (size_t i = 0; i < f.errs.nerrors; i++)
    assert_null(strstr(f.errs.errors[i], "hunter2"));
  done(&f);
}

static void test_secret_env_and_file(void **state) {
  (void)state;
  fixture f;
  setenv("SP_TEST_SECRET", "s3cret-env", 1);
  samspor_settings *s =
      parse(&f, "url = \"x\"; password_env = \"SP_TEST_SECRET\";");
  assert_int_equal(f.errs.nerrors, 0);
  assert_string_equal(sp_get_string(s, "password"), "s3cret-env");
  done(&f);

  char dir[] = "/tmp/sp_opt_XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256], text[512];
  snprintf(path, sizeof path, "%s/pw", dir);
  FILE *fp = fopen(path, "w");
  fputs("s3cret-file\n", fp);
  fclose(fp);
  chmod(path, 0644);
  snprintf(text, sizeof text, "url = \"x\"; password_file = \"%s\";", path);
  parse(&f, text);
  assert_true(has_error(&f, "readable by group or others"));
  assert_true(has_error(&f, "chmod 600"));
  done(&f);

  chmod(path, 0600);
  s = parse(&f, text);
  assert_int_equal(f.errs.nerrors, 0);
  assert_string_equal(sp_get_string(s, "password"), "s3cret-file");
  done(&f);

  /* Both ways at once is ambiguous. */
  snprintf(text, sizeof text,
           "url = \"x\"; password_file = \"%s\"; password_env = \"X\";", path);
  parse(&f, text);
  assert_true(has_error(&f, "given twice"));
  done(&f);

  /* A missing file is reported when the secret is used, not at parse. */
  s = parse(&f, "url = \"x\"; password_file = \"/nonexistent/pw\";");
  assert_int_equal(f.errs.nerrors, 0);
  assert_null(sp_get_string(s, "password"));
  assert_non_null(sp_settings_value(s, "password")->secret_problem);
  done(&f);
  unlink(path);
  rmdir(dir);
}

static void test_describe(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  sp_options_describe(f, opts, "", 2);
  fclose(f);
  assert_non_null(strstr(buf, "url  (string; required)"));
  assert_non_null(strstr(buf, "count  (integer; default 5; 1 to 100)"));
  assert_non_null(strstr(buf, "password_file | password_env  (secret"));
  assert_non_null(strstr(buf, "items[].name"));
  assert_non_null(strstr(buf, "named.NAME.weight"));
  free(buf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_values),
      cmocka_unit_test(test_errors_all_reported),
      cmocka_unit_test(test_durations),
      cmocka_unit_test(test_secret_inline_refused),
      cmocka_unit_test(test_secret_env_and_file),
      cmocka_unit_test(test_describe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
