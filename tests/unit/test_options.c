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

#include <glob.h>
#include <regex.h>

#include "base/options.h"
#include "model/conf.h"
#include "model/plugin.h"
#include "partner/indicators.h"

/* What fill() writes for opts below. */
typedef struct typed {
  const char *url;
  long long count;
  double ratio;
  int on;
  double timeout;
  int mode;
  samspor_strlist key;
  samspor_intlist bands;
  const char *file;
  const samspor_settings *inner;
  samspor_grouplist items, named;
} typed;

static const samspor_option sub_opts[] = {
    {.name = "name",
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "n"},
    {.name = "weight",
     .type = SAMSPOR_OPT_INT,
     .def = "1",
     .max = 10,
     .help = "w"},
    {.name = NULL},
};

static const samspor_option opts[] = {
    {.name = "url",
     SAMSPOR_AT(typed, url),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "u"},
    {.name = "count",
     SAMSPOR_AT(typed, count),
     .type = SAMSPOR_OPT_INT,
     .def = "5",
     .min = 1,
     .max = 100,
     .help = "c"},
    {.name = "ratio",
     SAMSPOR_AT(typed, ratio),
     .type = SAMSPOR_OPT_FLOAT,
     .def = "0.5",
     .max = 1,
     .help = "r"},
    {.name = "on",
     SAMSPOR_AT(typed, on),
     .type = SAMSPOR_OPT_BOOL,
     .def = "false",
     .help = "o"},
    {.name = "timeout",
     SAMSPOR_AT(typed, timeout),
     .type = SAMSPOR_OPT_DURATION,
     .def = "1h",
     .min = 1,
     .max = 86400,
     .help = "t"},
    {.name = "mode",
     SAMSPOR_AT(typed, mode),
     .type = SAMSPOR_OPT_ENUM,
     .def = "a",
     .choices = "a|bb|c",
     .help = "m"},
    {.name = "key",
     SAMSPOR_AT(typed, key),
     .type = SAMSPOR_OPT_STRLIST,
     .help = "k"},
    {.name = "bands",
     SAMSPOR_AT(typed, bands),
     .type = SAMSPOR_OPT_INTLIST,
     .def = "0,6,10",
     .help = "b"},
    {.name = "file",
     SAMSPOR_AT(typed, file),
     .type = SAMSPOR_OPT_PATH,
     .help = "f"},
    {.name = "password",
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_SECRET,
     .help = "p"},
    {.name = "inner",
     SAMSPOR_AT(typed, inner),
     .type = SAMSPOR_OPT_GROUP,
     .help = "g",
     .sub = sub_opts + 1},
    {.name = "items",
     SAMSPOR_AT(typed, items),
     .type = SAMSPOR_OPT_GROUPLIST,
     .help = "i",
     .sub = sub_opts},
    {.name = "named",
     SAMSPOR_AT(typed, named),
     .type = SAMSPOR_OPT_MAP,
     .help = "m",
     .sub = sub_opts + 1},
    {.name = NULL},
};

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

/* fill() gives the same values as the getters, typed. */
static void test_fill(void **state) {
  (void)state;
  fixture f;
  typed t;
  samspor_settings *s =
      parse(&f, "url = \"x\"; count = 7; on = true; timeout = \"1h30m\";"
                "mode = \"c\"; key = [\"a\", \"b\"]; file = \"rel/f.csv\";"
                "inner = { weight = 3; };"
                "items = ( { name = \"one\"; }, { name = \"two\"; } );");
  assert_int_equal(f.errs.nerrors, 0);
  memset(&t, 0x5a, sizeof t);
  assert_int_equal(sp_options_fill(s, opts, &t), 0);
  assert_string_equal(t.url, "x");
  assert_int_equal(t.count, 7);
  assert_true(t.ratio == 0.5); /* default */
  assert_int_equal(t.on, 1);
  assert_true(t.timeout == 5400);
  assert_int_equal(t.mode, 2); /* "c" in "a|bb|c" */
  assert_int_equal(t.key.n, 2);
  assert_string_equal(t.key.items[1], "b");
  assert_int_equal(t.bands.n, 3);
  assert_int_equal(t.bands.items[1], 6);
  assert_string_equal(t.file, "/base/rel/f.csv");
  assert_int_equal(sp_get_int(t.inner, "weight"), 3);
  assert_int_equal(t.items.n, 2);
  assert_string_equal(sp_get_string(t.items.items[1], "name"), "two");
  assert_int_equal(t.named.n, 0);
  /* A table the settings were not parsed with is refused. */
  assert_int_equal(sp_options_fill(s, sub_opts, &t), SAMSPOR_EINVAL);
  done(&f);

  /* Unset without a default: NULL and -1. */
  static const samspor_option nodef[] = {
      {.name = "s", .type = SAMSPOR_OPT_STRING, SAMSPOR_AT(typed, url)},
      {.name = "e",
       .type = SAMSPOR_OPT_ENUM,
       .choices = "x|y",
       SAMSPOR_AT(typed, mode)},
      {.name = NULL},
  };
  sp_errors errs;
  sp_errors_init(&errs);
  samspor_settings *d = sp_settings_parse(NULL, nodef, NULL, "x", "/", &errs);
  memset(&t, 0x5a, sizeof t);
  assert_int_equal(sp_options_fill(d, nodef, &t), 0);
  assert_null(t.url);
  assert_int_equal(t.mode, -1);
  sp_settings_free(d);

  /* A member of the wrong size: refused, nothing written. */
  static const samspor_option wrong[] = {
      {.name = "e",
       .type = SAMSPOR_OPT_ENUM,
       .choices = "x|y",
       SAMSPOR_AT(typed, url)},
      {.name = NULL},
  };
  d = sp_settings_parse(NULL, wrong, NULL, "x", "/", &errs);
  memset(&t, 0x5a, sizeof t);
  assert_int_equal(sp_options_fill(d, wrong, &t), SAMSPOR_EINVAL);
  assert_true(t.url == (const char *)(uintptr_t)0x5a5a5a5a5a5a5a5aULL);
  sp_settings_free(d);
  sp_errors_free(&errs);
}

/* The table checks find what the compiler cannot. */
static void test_check_tables(void **state) {
  (void)state;
  static const samspor_option bad[] = {
      {.name = "a", .type = SAMSPOR_OPT_ENUM, .def = "z", .choices = "x|y"},
      {.name = "a", .type = SAMSPOR_OPT_INT},
      {.name = "s", .type = SAMSPOR_OPT_ANY, SAMSPOR_AT(typed, url)},
      /* An ENUM fills an int, not a string pointer. */
      {.name = "e",
       .type = SAMSPOR_OPT_ENUM,
       .choices = "x|y",
       SAMSPOR_AT(typed, url)},
      {.name = NULL},
  };
  sp_buf b;
  sp_buf_init(&b);
  assert_int_equal(sp_options_check(bad, "", &b), -1);
  assert_non_null(strstr(b.data, "a: default 'z' is not one of x|y"));
  assert_non_null(strstr(b.data, "a: declared twice"));
  assert_non_null(strstr(b.data, "s: an ANY option cannot be filled"));
  assert_non_null(
      strstr(b.data, "e: its member has 8 bytes, a choice fills 4"));
  sp_buf_reset(&b);
  assert_int_equal(sp_options_check(opts, "", &b), 0);
  /* The core's own tables. */
  assert_int_equal(sp_options_check(sp_root_options, "", &b), 0);
  assert_int_equal(sp_options_check(sp_stream_options, "streams[].", &b), 0);
  assert_int_equal(sp_options_check(sp_partner_options, "partner.", &b), 0);
  if (b.len)
    fail_msg("%s", b.data);
  sp_buf_free(&b);
}

/* The same checks on the tables of the plugins this build made. */
static void test_check_plugin_tables(void **state) {
  (void)state;
  sp_plugin_set set;
  sp_buf b;
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/plugins/.libs", BUILDDIR);
  sp_buf_init(&b);
  assert_int_equal(sp_plugin_set_load(dir, &set), 0);
  assert_true(set.n >= 4); /* csv, pgsql, rest, xml */
  for (size_t i = 0; i < set.n; i++) {
    const samspor_plugin *d = set.plugins[i].desc;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "%s: ", d->name);
    (void)sp_options_check(d->source_options, prefix, &b);
    (void)sp_options_check(d->stream_options, prefix, &b);
  }
  sp_plugin_set_free(&set);
  if (b.len)
    fail_msg("%s", b.data);
  sp_buf_free(&b);
}

/* Whether name is declared in table or any table under it. */
static int declared_anywhere(const samspor_option *table, const char *name,
                             int depth) {
  if (!table || depth > 8)
    return 0;
  for (size_t i = 0; table[i].name; i++)
    if (!strcmp(table[i].name, name) ||
        declared_anywhere(table[i].sub, name, depth + 1))
      return 1;
  return 0;
}

/*
 * Every option the core still looks up by name (sp_get_*, sp_is_set,
 * sp_settings_value with a string literal) is declared in a core table:
 * a misspelt name fails here, not with an abort() at run time.
 */
static void test_lookup_names_declared(void **state) {
  (void)state;
  regex_t re;
  size_t nlookups = 0;
  sp_buf bad;
  sp_buf_init(&bad);
  assert_int_equal(
      regcomp(&re,
              "sp_(get_[a-z]+|is_set|settings_value)\\([^;\"()]*(\\([^()]*"
              "\\)[^;\"()]*)?\"([a-z0-9_]+)\"",
              REG_EXTENDED),
      0);
  /* Every source file of the core, in whichever layer folder. */
  char pattern[4096];
  snprintf(pattern, sizeof pattern, "%s/core/*/*.c", SRCDIR);
  glob_t files;
  assert_int_equal(glob(pattern, 0, NULL, &files), 0);
  for (size_t k = 0; k < files.gl_pathc; k++) {
    const char *path = files.gl_pathv[k];
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    sp_buf text;
    sp_buf_init(&text);
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
      sp_buf_append(&text, chunk, n);
    fclose(fp);
    sp_buf_putc(&text, '\0');
    regmatch_t mm[4];
    const char *p = text.data;
    while (regexec(&re, p, 4, mm, 0) == 0) {
      char name[128];
      size_t len = (size_t)(mm[3].rm_eo - mm[3].rm_so);
      snprintf(name, sizeof name, "%.*s", (int)len, p + mm[3].rm_so);
      nlookups++;
      if (!declared_anywhere(sp_root_options, name, 0))
        sp_buf_printf(&bad, "%s: option \"%s\" is not declared\n", path, name);
      p += mm[0].rm_so + 1; /* nested lookups too */
    }
    sp_buf_free(&text);
  }
  globfree(&files);
  regfree(&re);
  /* The scan found the lookups (a broken pattern would pass vacuously). */
  assert_true(nlookups > 20);
  if (bad.len)
    fail_msg("%s", bad.data);
  sp_buf_free(&bad);
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
      cmocka_unit_test(test_fill),
      cmocka_unit_test(test_check_tables),
      cmocka_unit_test(test_check_plugin_tables),
      cmocka_unit_test(test_lookup_names_declared),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
