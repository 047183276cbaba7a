/*
 * Unit tests for core/model/rules.c and core/model/maps.c: every column rule
 * and type, NULL and required columns, COPY escaping, lookup maps and their
 * errors, ages at the run date and at another column, forgotten people, and the
 * privacy promise that no reject reason or message quotes a value.
 *
 * Streams are built from libconfig text the way conf.c's build_stream does
 * (the column options parsed with the real option tables, fields
 * deduplicated by `from`), without loading plugins.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "base/util.h"
#include "model/conf.h"
#include "model/cpr.h"
#include "model/key.h"
#include "model/maps.h"
#include "model/pseudonym.h"
#include "model/rules.h"
#include "model/ruletab.h"

/* ---- fixture ----------------------------------------------------------- */

#define MAX_FIELDS 16
#define MAX_INPUTS 256
#define MAX_FORGOTTEN 8

typedef struct fx {
  char dir[64]; /* temporary directory for map files */
  config_t cfg; /* the parsed text */
  int have_cfg;
  sp_errors errs;
  sp_config conf; /* only conf.root is filled */
  sp_stream st;
  sp_key *key;
  sp_rules *r;
  char err[512]; /* sp_rules_new's message */
  sp_field fields[MAX_FIELDS];
  sp_buf out;
  char *inputs[MAX_INPUTS]; /* copies of the values given, for privacy
                               checks */
  size_t input_lens[MAX_INPUTS];
  size_t ninputs;
  unsigned char forgotten[MAX_FORGOTTEN][16];
  size_t nforgotten;
  char forgotten_kind[32]; /* kind of the last is_forgotten call */
  sp_reject_info rej;
} fx;

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int is_forgotten(void *ud, const char *kind,
                        const unsigned char pseudonym[16]) {
  fx *f = ud;
  snprintf(f->forgotten_kind, sizeof f->forgotten_kind, "%s", kind);
  for (size_t i = 0; i < f->nforgotten; i++)
    if (memcmp(f->forgotten[i], pseudonym, 16) == 0)
      return 1;
  return 0;
}

static fx *fx_new(void) {
  fx *f = calloc(1, sizeof *f);
  assert_non_null(f);
  snprintf(f->dir, sizeof f->dir, "/tmp/test_rules.XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  sp_errors_init(&f->errs);
  sp_buf_init(&f->out);
  unsigned char b[32];
  for (int i = 0; i < 32; i++)
    b[i] = (unsigned char)i;
  assert_int_equal(sp_key_from_bytes(b, sizeof b, &f->key), 0);
  return f;
}

static void fx_free(fx *f) {
  sp_rules_free(f->r);
  sp_settings_free(f->st.s);
  free(f->st.columns);
  free(f->st.fields);
  sp_settings_free(f->conf.root);
  if (f->have_cfg)
    config_destroy(&f->cfg);
  sp_errors_free(&f->errs);
  sp_buf_free(&f->out);
  sp_key_free(f->key);
  for (size_t i = 0; i < f->ninputs; i++)
    free(f->inputs[i]);
  nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
  free(f);
}

static void write_file(fx *f, const char *name, const char *content) {
  char path[256];
  snprintf(path, sizeof path, "%s/%s", f->dir, name);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  fputs(content, fp);
  fclose(fp);
}

/*
 * Parse `maps` (the body of the root maps group) and `stream` (the body of
 * one stream group, without table), build the stream like conf.c, and
 * call sp_rules_new with run date 2024-06-15.  Returns its result; the
 * message is in f->err.
 */
static int build_env(fx *f, const char *maps, const char *stream,
                     int with_key) {
  char *text = sp_xasprintf("warehouse: { conninfo = \"dbname=x\"; };\n"
                            "pseudonym: { key_file = \"k\"; };\n"
                            "maps: { %s };\n"
                            "stream: { table = \"t\"; %s };\n"
                            "connectors = ();\n",
                            maps ? maps : "", stream);
  config_init(&f->cfg);
  f->have_cfg = 1;
  if (config_read_string(&f->cfg, text) != CONFIG_TRUE)
    fail_msg("libconfig: %s at line %d", config_error_text(&f->cfg),
             config_error_line(&f->cfg));
  free(text);

  config_setting_t *root = config_root_setting(&f->cfg);
  f->st.s = sp_settings_parse(config_setting_get_member(root, "stream"),
                              sp_stream_options, NULL, "stream 't'", f->dir,
                              &f->errs);
  config_setting_remove(root, "stream");
  f->conf.root = sp_settings_parse(root, sp_root_options, NULL,
                                   "the configuration", f->dir, &f->errs);
  for (size_t i = 0; i < f->errs.nerrors; i++)
    print_error("config: %s\n", f->errs.errors[i]);
  assert_int_equal(f->errs.nerrors, 0);

  /* As conf.c's build_stream: columns, and distinct `from` fields. */
  samspor_settings *const *cols;
  size_t n = sp_get_items(f->st.s, "columns", &cols);
  f->st.table = sp_get_string(f->st.s, "table");
  f->st.columns = calloc(n ? n : 1, sizeof(sp_column));
  f->st.fields = calloc(n ? n : 1, sizeof(char *));
  f->st.cursor_column = -1;
  for (size_t i = 0; i < n; i++) {
    sp_column *c = &f->st.columns[f->st.ncolumns++];
    c->s = cols[i];
    c->name = sp_get_string(cols[i], "name");
    c->from = sp_get_string(cols[i], "from");
    if (sp_rule_parse(sp_get_string(cols[i], "rule"), &c->rule) != 0)
      c->rule = SP_RULE_KEEP;
    size_t k;
    for (k = 0; k < f->st.nfields; k++)
      if (strcmp(f->st.fields[k], c->from) == 0)
        break;
    if (k == f->st.nfields)
      f->st.fields[f->st.nfields++] = c->from;
    c->field = k;
  }
  assert_true(f->st.nfields <= MAX_FIELDS);

  sp_rules_env env = {
      &f->conf, with_key ? f->key : NULL, 2024, 6, 15, is_forgotten, f, NULL,
      NULL};
  f->err[0] = '\0';
  return sp_rules_new(&f->st, &env, &f->r, f->err, sizeof f->err);
}

static void build(fx *f, const char *maps, const char *stream) {
  int rc = build_env(f, maps, stream, 1);
  if (rc != 0)
    fail_msg("sp_rules_new: %d: %s", rc, f->err);
  assert_non_null(f->r);
}

/* One column "c" of the given options, from field "v". */
static fx *one_col(const char *opts) {
  fx *f = fx_new();
  char *s =
      sp_xasprintf("columns = ( { name = \"c\"; from = \"v\"; %s } );", opts);
  build(f, NULL, s);
  free(s);
  return f;
}

static void clear_fields(fx *f) {
  memset(f->fields, 0, sizeof f->fields);
}

/* Set field `from` to the `len` bytes at v (v NULL: absent). */
static void set_n(fx *f, const char *from, const char *v, size_t len) {
  for (size_t i = 0; i < f->st.nfields; i++)
    if (strcmp(f->st.fields[i], from) == 0) {
      f->fields[i].ptr = v;
      f->fields[i].len = len;
      if (v && f->ninputs < MAX_INPUTS) {
        f->inputs[f->ninputs] = sp_xstrndup(v, len);
        f->input_lens[f->ninputs++] = len;
      }
      return;
    }
  fail_msg("no field '%s'", from);
}

static void set(fx *f, const char *from, const char *v) {
  set_n(f, from, v, v ? strlen(v) : 0);
}

/* The privacy promise: no reason or message contains a value given so
 * far (values of 3 bytes or more; shorter ones are common words). */
static void assert_no_value_in(fx *f, const char *text) {
  if (!text)
    return;
  for (size_t i = 0; i < f->ninputs; i++) {
    const char *v = f->inputs[i];
    size_t n = f->input_lens[i];
    /* trim, as the rules do, so " 1234 " is checked as "1234" */
    while (n && (*v == ' ' || *v == '\t')) {
      v++;
      n--;
    }
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
      n--;
    if (n >= 3 && memmem(text, strlen(text), v, n))
      fail_msg("reject text quotes an input value: %s", text);
  }
}

/*
 * Apply to the current fields.  Checks that a reject or skip leaves out as
 * it was and that reject texts hold no input.  Returns the result.
 */
static int apply(fx *f) {
  /* Something already in out, to see that it is kept. */
  sp_buf_reset(&f->out);
  sp_buf_puts(&f->out, "previous line\n");
  int rc = sp_rules_apply(f->r, f->fields, &f->out, &f->rej);
  if (rc == SP_ROW_OK)
    sp_buf_putc(&f->out, '\n'); /* the loader's line end, as sync.c adds */
  if (rc != SP_ROW_OK) {
    assert_string_equal(f->out.data, "previous line\n");
    assert_int_equal(f->out.len, strlen("previous line\n"));
  }
  if (rc == SP_ROW_REJECT) {
    assert_non_null(f->rej.reason);
    assert_non_null(f->rej.message);
    assert_true(f->rej.column >= 0 && (size_t)f->rej.column < f->st.ncolumns);
    assert_no_value_in(f, f->rej.reason);
    assert_no_value_in(f, f->rej.message);
  }
  return rc;
}

/* The line the last OK apply appended (without "previous line\n"). */
static const char *line(fx *f) {
  return f->out.data + strlen("previous line\n");
}

/* Apply and expect the row line `want` (with its "\n"). */
static void expect_line(fx *f, const char *want) {
  int rc = apply(f);
  if (rc != SP_ROW_OK)
    fail_msg("expected a row, got %s",
             rc == SP_ROW_SKIP ? "skip" : f->rej.reason);
  assert_string_equal(line(f), want);
}

/* One-column helpers: the output field for v, or the reject reason. */
static void ok1(fx *f, const char *v, const char *want) {
  clear_fields(f);
  set(f, "v", v);
  int rc = apply(f);
  if (rc != SP_ROW_OK)
    fail_msg("value of %zu bytes: expected %s, got reject %s",
             v ? strlen(v) : 0, want, f->rej.reason);
  char *w = sp_xasprintf("%s\n", want);
  assert_string_equal(line(f), w);
  free(w);
}

static void rej1_n(fx *f, const char *v, size_t len, const char *reason) {
  clear_fields(f);
  set_n(f, "v", v, len);
  int rc = apply(f);
  if (rc != SP_ROW_REJECT)
    fail_msg("value of %zu bytes: expected reject %s, got %s", len, reason,
             rc == SP_ROW_OK ? line(f) : "skip");
  assert_string_equal(f->rej.reason, reason);
  assert_int_equal(f->rej.column, 0);
}

static void rej1(fx *f, const char *v, const char *reason) {
  rej1_n(f, v, strlen(v), reason);
}

/* ---- keep: text -------------------------------------------------------- */

static void test_text(void **state) {
  (void)state;
  fx *f = one_col("type = \"text\";");
  ok1(f, "uddannelse", "uddannelse");
  ok1(f, "Søren Ærø Å", "Søren Ærø Å");         /* UTF-8 kept as is */
  ok1(f, "  spaces kept  ", "  spaces kept  "); /* text is not trimmed */
  ok1(f, "", "\\N");
  ok1(f, NULL, "\\N");
  ok1(f, "a\tb", "a\\tb");
  ok1(f, "line1\nline2", "line1\\nline2");
  ok1(f, "cr\rhere", "cr\\rhere");
  ok1(f, "back\\slash", "back\\\\slash");
  ok1(f, "\\.", "\\\\."); /* never COPY's end-of-data marker */
  rej1_n(f, "ab\0cd", 5, "nul_byte");
  rej1(f, "caf\xe9", "invalid_utf8");          /* windows-1252 é */
  rej1(f, "\xc0\xaf", "invalid_utf8");         /* overlong '/' */
  rej1(f, "\xed\xa0\x80", "invalid_utf8");     /* surrogate */
  rej1(f, "\xf4\x90\x80\x80", "invalid_utf8"); /* above U+10FFFF */
  /* The canonical value is the unescaped text. */
  ok1(f, "a\tb", "a\\tb");
  size_t len;
  assert_string_equal(sp_rules_value(f->r, 0, &len), "a\tb");
  assert_int_equal(len, 3);
  fx_free(f);
}

/* ---- keep: numbers ----------------------------------------------------- */

static void test_int(void **state) {
  (void)state;
  fx *f = one_col("type = \"int\";");
  ok1(f, "42", "42");
  ok1(f, " 42\t", "42");
  ok1(f, "+7", "7");
  ok1(f, "-0", "0");
  ok1(f, "007", "7");
  ok1(f, "   ", "\\N");
  ok1(f, "2147483647", "2147483647");
  ok1(f, "-2147483648", "-2147483648");
  rej1(f, "2147483648", "out_of_range");
  rej1(f, "-2147483649", "out_of_range");
  rej1(f, "99999999999999999999999", "out_of_range");
  rej1(f, "1.5", "not_an_integer");
  rej1(f, "abc", "not_a_number");
  rej1(f, "12a", "not_a_number");
  rej1(f, "1e5", "not_a_number");
  rej1(f, "-", "not_a_number");
  rej1(f, "4 2", "not_a_number");
  rej1(f, "1,000", "not_a_number"); /* no thousands separator configured */
  fx_free(f);

  f = one_col("type = \"bigint\";");
  ok1(f, "9223372036854775807", "9223372036854775807");
  ok1(f, "-9223372036854775808", "-9223372036854775808");
  rej1(f, "9223372036854775808", "out_of_range");
  rej1(f, "-9223372036854775809", "out_of_range");
  fx_free(f);

  /* decimal_comma: '.' groups thousands, ',' has no place in an int */
  f = one_col("type = \"int\"; decimal_comma = true;");
  ok1(f, "1.234", "1234");
  ok1(f, "-1.234.567", "-1234567");
  rej1(f, "1.23", "not_a_number");
  rej1(f, "1,0", "not_an_integer");
  fx_free(f);

  f = one_col("type = \"int\"; thousands_separator = \"'\";");
  ok1(f, "1'234", "1234");
  fx_free(f);

  /* '.' groups thousands only when the decimal separator is a comma. */
  f = fx_new();
  assert_int_equal(build_env(f, NULL,
                             "columns = ( { name = \"c\"; from = \"v\"; "
                             "type = \"int\"; thousands_separator = \".\"; "
                             "} );",
                             1),
                   SAMSPOR_ECONFIG);
  assert_non_null(strstr(f->err, "decimal_comma"));
  fx_free(f);
}

/* Apply in binary COPY format (one extra field) and expect these bytes
 * after the field count. */
static void expect_binary(fx *f, const char *v, const unsigned char *want,
                          size_t n) {
  clear_fields(f);
  set(f, "v", v);
  sp_buf_reset(&f->out);
  assert_int_equal(sp_rules_apply(f->r, f->fields, &f->out, NULL), SP_ROW_OK);
  assert_int_equal(f->out.len, 2 + n);
  assert_memory_equal(f->out.data, "\0\2", 2); /* 1 column + 1 extra */
  assert_memory_equal(f->out.data + 2, want, n);
}

/* Binary COPY rows: numeric_send's base-10000 groups aligned at the point,
 * with the display scale written; days since 2000-01-01; big-endian
 * integers; NULL as length -1; a timestamp column stays in text. */
static void test_binary_rows(void **state) {
  (void)state;
  fx *f = one_col("type = \"numeric\";");
  assert_int_equal(sp_rules_binary(f->r, 1), 0);
  /* 12345.670: 3 digits, weight 1, +, dscale 3: 1 2345 6700 */
  static const unsigned char n1[] = {0, 0, 0, 14, 0, 3, 0,  1,  0,
                                     0, 0, 3, 0,  1, 9, 41, 26, 44};
  expect_binary(f, "12345.670", n1, sizeof n1);
  /* -0.05: 1 digit, weight -1, -, dscale 2: 500 */
  static const unsigned char n2[] = {0,    0,    0, 10, 0, 1, 0xff,
                                     0xff, 0x40, 0, 0,  2, 1, 0xf4};
  expect_binary(f, "-0.05", n2, sizeof n2);
  /* 0: no digits */
  static const unsigned char n3[] = {0, 0, 0, 8, 0, 0, 0xff, 0xff, 0, 0, 0, 0};
  expect_binary(f, "0", n3, sizeof n3);
  /* 10000: 1 0000, weight 1 */
  static const unsigned char n4[] = {0, 0, 0, 12, 0, 2, 0, 1,
                                     0, 0, 0, 0,  0, 1, 0, 0};
  expect_binary(f, "10000", n4, sizeof n4);
  static const unsigned char null[] = {0xff, 0xff, 0xff, 0xff};
  expect_binary(f, "", null, sizeof null);
  fx_free(f);

  f = one_col("type = \"date\";");
  assert_int_equal(sp_rules_binary(f->r, 1), 0);
  static const unsigned char d1[] = {0, 0, 0, 4, 0, 0, 0, 0};
  expect_binary(f, "2000-01-01", d1, sizeof d1);
  static const unsigned char d2[] = {0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff};
  expect_binary(f, "1999-12-31", d2, sizeof d2);
  fx_free(f);

  f = one_col("type = \"int\";");
  assert_int_equal(sp_rules_binary(f->r, 1), 0);
  static const unsigned char i1[] = {0, 0, 0, 4, 0x80, 0, 0, 0};
  expect_binary(f, "-2147483648", i1, sizeof i1);
  fx_free(f);

  f = one_col("type = \"timestamp\";");
  assert_int_equal(sp_rules_binary(f->r, 1), -1);
  fx_free(f);
}

static void test_numeric(void **state) {
  (void)state;
  fx *f = one_col("type = \"numeric\"; decimal_comma = true;");
  ok1(f, "1.234,50", "1234.50");
  ok1(f, "1234,5", "1234.5");
  ok1(f, "12.345.678,9", "12345678.9");
  ok1(f, "-1.234,50", "-1234.50");
  ok1(f, "+3", "3");
  ok1(f, " 3,0 ", "3.0");
  ok1(f, ",5", "0.5");
  ok1(f, "-0,00", "0.00");
  ok1(f, "000,10", "0.10");
  ok1(f, "", "\\N");
  /* A dot-decimal value in a comma column is refused, not read as 15. */
  rej1(f, "1.5", "not_a_number");
  rej1(f, "1.23,4", "not_a_number");
  rej1(f, "1234.567,1", "not_a_number");
  rej1(f, ".123", "not_a_number");
  rej1(f, "1,2,3", "not_a_number");
  rej1(f, ",", "not_a_number");
  /* a dangling separator: a line cut inside its last field */
  rej1(f, "5,", "not_a_number");
  rej1(f, "4994,", "not_a_number");
  rej1(f, "-4994,", "not_a_number");
  rej1(f, "1.234,", "not_a_number");
  rej1(f, "1,5e3", "not_a_number");
  rej1(f, "kr. 100", "not_a_number");
  fx_free(f);

  f = one_col("type = \"numeric\";");
  ok1(f, "1234.5", "1234.5");
  ok1(f, "+1234.50", "1234.50");
  ok1(f, "-.5", "-0.5");
  rej1(f, "1,234.5", "not_a_number");
  rej1(f, "1.2.3", "not_a_number");
  rej1(f, ".", "not_a_number");
  rej1(f, "--1", "not_a_number");
  rej1(f, "5.", "not_a_number");
  fx_free(f);

  f = one_col("type = \"numeric\"; thousands_separator = \" \";");
  ok1(f, "1 234 567.25", "1234567.25");
  rej1(f, "1 23.5", "not_a_number");
  fx_free(f);

  f = one_col("type = \"numeric\"; thousands_separator = \",\";");
  ok1(f, "1,234.5", "1234.5");
  fx_free(f);

  /* A separator equal to the decimal separator cannot work. */
  f = fx_new();
  assert_int_equal(
      build_env(f, NULL,
                "columns = ( { name = \"c\"; from = \"v\"; type = "
                "\"numeric\"; decimal_comma = true; thousands_separator = "
                "\",\"; } );",
                1),
      SAMSPOR_ECONFIG);
  assert_non_null(strstr(f->err, "thousands_separator"));
  assert_null(f->r);
  fx_free(f);
}

/* ---- keep: dates and timestamps ---------------------------------------- */

static void test_date_iso(void **state) {
  (void)state;
  fx *f = one_col("type = \"date\";");
  ok1(f, "2024-02-29", "2024-02-29");
  ok1(f, " 2000-02-29 ", "2000-02-29");
  rej1(f, "2023-02-29", "invalid_date");
  rej1(f, "1900-02-29", "invalid_date");
  rej1(f, "2024-04-31", "invalid_date");
  rej1(f, "2024-13-01", "invalid_date");
  rej1(f, "2024-00-10", "invalid_date");
  rej1(f, "0000-01-01", "invalid_date");
  rej1(f, "2024-4-1", "not_a_date");
  rej1(f, "2024-01-01x", "not_a_date");
  rej1(f, "2024-01-01T00:00", "not_a_date");
  rej1(f, "01-02-2024", "not_a_date");
  fx_free(f);
}

static void test_date_formats(void **state) {
  (void)state;
  fx *f = one_col("type = \"date\"; format = \"%d-%m-%Y\";");
  ok1(f, "29-02-2024", "2024-02-29");
  ok1(f, "1-2-2024", "2024-02-01");
  rej1(f, "31-04-2024", "invalid_date");
  rej1(f, "29-02-2023", "invalid_date");
  rej1(f, "01/02/2024", "not_a_date");
  rej1(f, "01-02-24", "not_a_date");
  ok1(f, " 01-02-2024 ", "2024-02-01"); /* trimmed */
  fx_free(f);

  /* Adjacent numbers need their full width. */
  f = one_col("type = \"date\"; format = \"%d%m%Y\";");
  ok1(f, "01022024", "2024-02-01");
  rej1(f, "1022024", "not_a_date");
  fx_free(f);

  /* %y: POSIX pivot, 69-99 in the 1900s, 00-68 in the 2000s. */
  f = one_col("type = \"date\"; format = \"%d.%m.%y\";");
  ok1(f, "01.02.68", "2068-02-01");
  ok1(f, "01.02.69", "1969-02-01");
  ok1(f, "31.12.99", "1999-12-31");
  fx_free(f);

  /* Month names, English and Danish, any case; %B = %b. */
  f = one_col("type = \"date\"; format = \"%d %b %Y\";");
  ok1(f, "3 okt 2024", "2024-10-03");
  ok1(f, "3 Oct 2024", "2024-10-03");
  ok1(f, "03 MAJ 2024", "2024-05-03");
  ok1(f, "3 marts 2024", "2024-03-03");
  ok1(f, "3 March 2024", "2024-03-03");
  ok1(f, "1 december 2024", "2024-12-01");
  rej1(f, "3 okto 2024", "not_a_date");
  rej1(f, "3 foo 2024", "not_a_date");
  fx_free(f);

  /* Time fields in a date format are read and dropped; %% is a '%'. */
  f = one_col("type = \"date\"; format = \"%Y%%%m%%%d %H:%M:%S\";");
  ok1(f, "2024%06%15 23:59:59", "2024-06-15");
  rej1(f, "2024%06%15 24:00:00", "invalid_time");
  fx_free(f);

  /* A month without a day is the 1st. */
  f = one_col("type = \"date\"; format = \"%m/%Y\";");
  ok1(f, "03/2024", "2024-03-01");
  fx_free(f);

  f = one_col("type = \"date\"; format = \"%F\";");
  ok1(f, "2024-03-05", "2024-03-05");
  fx_free(f);

  /* Format errors are configuration errors naming the column. */
  static const char *bad[] = {"%d-%m-%Q", "%d-%m", "%Y-%m-%d %Y", "%Y-%m-%",
                              "%Y %m %b"};
  for (size_t i = 0; i < SP_ARRAY_LEN(bad); i++) {
    f = fx_new();
    char *s = sp_xasprintf("columns = ( { name = \"c\"; from = \"v\"; type "
                           "= \"date\"; format = \"%s\"; } );",
                           bad[i]);
    assert_int_equal(build_env(f, NULL, s, 1), SAMSPOR_ECONFIG);
    assert_non_null(strstr(f->err, "column 'c'"));
    free(s);
    fx_free(f);
  }
}

static void test_timestamp(void **state) {
  (void)state;
  fx *f = one_col("type = \"timestamp\";");
  ok1(f, "2024-03-01T10:20", "2024-03-01T10:20:00");
  ok1(f, "2024-03-01 10:20:30", "2024-03-01T10:20:30");
  ok1(f, "2024-03-01T10:20:30Z", "2024-03-01T10:20:30+00:00");
  ok1(f, "2024-03-01T10:20:30+0100", "2024-03-01T10:20:30+01:00");
  ok1(f, "2024-03-01T10:20:30+02", "2024-03-01T10:20:30+02:00");
  ok1(f, "2024-03-01T10:20:30-05:30", "2024-03-01T10:20:30-05:30");
  ok1(f, "2024-03-01T10:20:30.5+01:00", "2024-03-01T10:20:30.5+01:00");
  ok1(f, "2024-03-01T10:20:30.123456", "2024-03-01T10:20:30.123456");
  rej1(f, "2024-03-01T10:20:30.1234567", "not_a_timestamp");
  rej1(f, "2024-03-01T24:00", "invalid_time");
  rej1(f, "2024-03-01T10:60", "invalid_time");
  rej1(f, "2024-03-01T10:20:30+16:00", "invalid_time");
  rej1(f, "2024-02-30T10:20", "invalid_date");
  rej1(f, "2024-03-01", "not_a_timestamp");
  rej1(f, "2024-03-01T10", "not_a_timestamp");
  rej1(f, "2024-03-01T10:20 CET", "not_a_timestamp");
  fx_free(f);

  f = one_col("type = \"timestamp\"; format = \"%d.%m.%Y %H:%M\";");
  ok1(f, "01.03.2024 10:20", "2024-03-01T10:20:00");
  rej1(f, "01.03.2024", "not_a_timestamp");
  fx_free(f);

  f = one_col("type = \"timestamp\"; format = \"%d/%m/%Y %T %z\";");
  ok1(f, "01/03/2024 10:20:30 +01:00", "2024-03-01T10:20:30+01:00");
  ok1(f, "01/03/2024 10:20:30 Z", "2024-03-01T10:20:30+00:00");
  fx_free(f);
}

/* ---- keep: booleans ---------------------------------------------------- */

static void test_boolean(void **state) {
  (void)state;
  fx *f = one_col("type = \"boolean\";");
  static const char *yes[] = {"ja", "JA", "Ja",  "true", "TRUE",
                              "t",  "1",  "yes", " ja "};
  static const char *no[] = {"nej", "NEJ", "false", "f", "0", "no", "No"};
  for (size_t i = 0; i < SP_ARRAY_LEN(yes); i++)
    ok1(f, yes[i], "t");
  for (size_t i = 0; i < SP_ARRAY_LEN(no); i++)
    ok1(f, no[i], "f");
  ok1(f, "", "\\N");
  rej1(f, "maybe", "not_a_boolean");
  rej1(f, "2", "not_a_boolean");
  rej1(f, "jaja", "not_a_boolean");
  fx_free(f);

  f = one_col("type = \"boolean\"; true_words = [\"J\", \"Ø\"]; "
              "false_words = \"N\";");
  ok1(f, "j", "t");
  ok1(f, "ø", "t"); /* folded like map keys */
  ok1(f, "N", "f");
  rej1(f, "ja", "not_a_boolean");
  rej1(f, "1", "not_a_boolean");
  fx_free(f);

  f = fx_new();
  assert_int_equal(build_env(f, NULL,
                             "columns = ( { name = \"c\"; from = \"v\"; "
                             "type = \"boolean\"; true_words = [\"x\"]; "
                             "false_words = [\"X\"]; } );",
                             1),
                   SAMSPOR_ECONFIG);
  assert_non_null(strstr(f->err, "both a true and a false word"));
  fx_free(f);
}

/* ---- NULLs and required columns ---------------------------------------- */

static void test_nulls_and_required(void **state) {
  (void)state;
  fx *f = fx_new();
  build(f, NULL,
        "key = [\"k\"]; columns = ("
        "{ name = \"k\"; from = \"a\"; type = \"int\"; },"
        "{ name = \"n\"; from = \"b\"; type = \"text\"; not_null = true; },"
        "{ name = \"o\"; from = \"c\"; type = \"date\"; } );");
  clear_fields(f);
  set(f, "a", "1");
  set(f, "b", "x");
  expect_line(f, "1\tx\t\\N\n"); /* c absent: NULL */
  set(f, "c", "");
  expect_line(f, "1\tx\t\\N\n");

  set(f, "a", NULL);
  assert_int_equal(apply(f), SP_ROW_REJECT);
  assert_string_equal(f->rej.reason, "missing_value");
  assert_int_equal(f->rej.column, 0);
  set(f, "a", "  ");
  assert_int_equal(apply(f), SP_ROW_REJECT);
  assert_string_equal(f->rej.reason, "missing_value");

  set(f, "a", "2");
  set(f, "b", "");
  assert_int_equal(apply(f), SP_ROW_REJECT);
  assert_string_equal(f->rej.reason, "missing_value");
  assert_int_equal(f->rej.column, 1);
  /* Text is not trimmed: white space is a value. */
  set(f, "b", " ");
  expect_line(f, "2\t \t\\N\n");
  fx_free(f);
}

/* ---- pseudonyms and CPR rules ------------------------------------------ */

static const char *const cpr_stream =
    "columns = ("
    "{ name = \"person\"; from = \"cpr\"; rule = \"pseudonym\"; kind = "
    "\"cpr\"; },"
    "{ name = \"birth_year\"; from = \"cpr\"; rule = \"cpr_birth_year\"; },"
    "{ name = \"birth_month\"; from = \"cpr\"; rule = \"cpr_birth_month\"; },"
    "{ name = \"gender\"; from = \"cpr\"; rule = \"cpr_gender\"; } );";

static void test_pseudonym_spec_vector(void **state) {
  (void)state;
  fx *f = fx_new();
  build(f, NULL, cpr_stream);
  clear_fields(f);
  set(f, "cpr", "010100-1234");
  expect_line(f, "0711d47e-3a14-35b6-ef8b-dd30b026688d\t1900\t1900-01-01\t"
                 "female\n");
  /* Other spellings of the number give the same pseudonym. */
  set(f, "cpr", " 0101001234\t");
  expect_line(f, "0711d47e-3a14-35b6-ef8b-dd30b026688d\t1900\t1900-01-01\t"
                 "female\n");
  const unsigned char *raw = sp_rules_pseudonym(f->r, 0);
  assert_non_null(raw);
  char uuid[37];
  sp_uuid_format(raw, uuid);
  assert_string_equal(uuid, "0711d47e-3a14-35b6-ef8b-dd30b026688d");
  assert_null(sp_rules_pseudonym(f->r, 1));
  assert_string_equal(sp_rules_value(f->r, 0, NULL),
                      "0711d47e-3a14-35b6-ef8b-dd30b026688d");

  /* Century table and gender through the rules. */
  set(f, "cpr", "311299-4001"); /* 4, YY 99 -> 1999; odd: male */
  int rc = apply(f);
  assert_int_equal(rc, SP_ROW_OK);
  assert_non_null(strstr(line(f), "\t1999\t1999-12-01\tmale\n"));
  set(f, "cpr", "010136-4002"); /* 4, YY 36 -> 2036 */
  assert_int_equal(apply(f), SP_ROW_OK);
  assert_non_null(strstr(line(f), "\t2036\t2036-01-01\tfemale\n"));
  set(f, "cpr", "290200-5003"); /* 5, YY 00 -> 2000, a leap year */
  assert_int_equal(apply(f), SP_ROW_OK);
  assert_non_null(strstr(line(f), "\t2000\t2000-02-01\tmale\n"));
  set(f, "cpr", "010158-5000"); /* 5, YY 58 -> 1858 */
  assert_int_equal(apply(f), SP_ROW_OK);
  assert_non_null(strstr(line(f), "\t1858\t1858-01-01\tfemale\n"));
  fx_free(f);
}

static void test_pseudonym_rejects(void **state) {
  (void)state;
  fx *f = fx_new();
  build(f, NULL, cpr_stream);
  static const struct {
    const char *v, *reason;
    int code;
  } cases[] = {
      {"101001234", "cpr_nine_digits", SP_CPR_NINE_DIGITS}, /* Excel */
      {"010100-123", "cpr_nine_digits", SP_CPR_NINE_DIGITS},
      {"01010012345", "cpr_length", SP_CPR_LENGTH},
      {"0101001A34", "cpr_not_digits", SP_CPR_NOT_DIGITS},
      {"010100.1234", "cpr_not_digits", SP_CPR_NOT_DIGITS},
      {"320100-1234", "cpr_bad_date", SP_CPR_BAD_DATE},
      {"290200-1234", "cpr_bad_date", SP_CPR_BAD_DATE}, /* 1900: no leap */
      {"011300-1234", "cpr_bad_date", SP_CPR_BAD_DATE},
      {"--", "cpr_empty", SP_CPR_EMPTY},
  };
  for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
    clear_fields(f);
    set(f, "cpr", cases[i].v);
    assert_int_equal(apply(f), SP_ROW_REJECT);
    assert_string_equal(f->rej.reason, cases[i].reason);
    assert_int_equal(f->rej.column, 0); /* the pseudonym column first */
    assert_string_equal(f->rej.message, sp_cpr_reason_text(cases[i].code));
  }
  /* Empty: NULL in every column, not a reject. */
  clear_fields(f);
  set(f, "cpr", "");
  expect_line(f, "\\N\t\\N\t\\N\t\\N\n");
  fx_free(f);

  /* Without the pseudonym column the CPR rules reject by themselves. */
  f = one_col("rule = \"cpr_gender\";");
  rej1(f, "101001234", "cpr_nine_digits");
  ok1(f, "010100-1233", "male");
  fx_free(f);
  f = one_col("rule = \"cpr_birth_month\";");
  rej1(f, "300200-1234", "cpr_bad_date");
  ok1(f, "150585-1234", "1985-05-01");
  fx_free(f);
}

static void test_pseudonym_other_kind(void **state) {
  (void)state;
  fx *f = one_col("rule = \"pseudonym\"; kind = \"tenancy\";");
  sp_pseudonymiser *p = sp_pseudonymiser_new(f->key, "tenancy");
  char want[37];
  const char *reason;
  assert_int_equal(sp_pseudonym(p, "  A-17/3 ", 9, want, &reason), 0);
  ok1(f, "A-17/3", want);
  ok1(f, "\tA-17/3\r\n", want);
  ok1(f, "   ", "\\N");
  sp_pseudonymiser_free(p);
  fx_free(f);

  /* Without a key, a stream with a pseudonym column is refused. */
  f = fx_new();
  assert_int_equal(build_env(f, NULL,
                             "columns = ( { name = \"c\"; from = \"v\"; "
                             "rule = \"pseudonym\"; kind = \"cpr\"; } );",
                             0),
                   SAMSPOR_EINVAL);
  assert_non_null(strstr(f->err, "column 'c'"));
  fx_free(f);
  /* ... but one without is fine. */
  f = fx_new();
  assert_int_equal(build_env(f, NULL,
                             "columns = ( { name = \"c\"; from = \"v\"; "
                             "type = \"int\"; } );",
                             0),
                   0);
  fx_free(f);
}

/* ---- forgotten people -------------------------------------------------- */

/* The column remembers its last pseudonym (an export lists a person's rows
 * together): a repeat, a different identifier of the same length, one
 * longer than the memo holds, and back again each give the pseudonym
 * computed afresh. */
static void test_pseudonym_memo(void **state) {
  (void)state;
  fx *f = one_col("rule = \"pseudonym\"; kind = \"tenancy\";");
  sp_pseudonymiser *p = sp_pseudonymiser_new(f->key, "tenancy");
  static const char *const ids[] = {"A-17/3",
                                    "A-17/3",
                                    "A-17/4",
                                    "A-17/3",
                                    "",
                                    "A-17/3",
                                    "L-0123456789-0123456789-0123456789-X",
                                    "L-0123456789-0123456789-0123456789-X",
                                    "L-0123456789-0123456789-0123456789-Y",
                                    "A-17/4"};
  for (size_t i = 0; i < SP_ARRAY_LEN(ids); i++) {
    char want[37];
    const char *reason;
    if (!*ids[i]) {
      ok1(f, ids[i], "\\N");
      continue;
    }
    assert_int_equal(sp_pseudonym(p, ids[i], strlen(ids[i]), want, &reason), 0);
    ok1(f, ids[i], want);
  }
  sp_pseudonymiser_free(p);
  fx_free(f);
}

static void test_forgotten(void **state) {
  (void)state;
  fx *f = fx_new();
  build(f, NULL,
        "columns = ("
        "{ name = \"d\"; from = \"date\"; type = \"date\"; },"
        "{ name = \"person\"; from = \"cpr\"; rule = \"pseudonym\"; kind = "
        "\"cpr\"; } );");
  clear_fields(f);
  set(f, "cpr", "010100-1234");
  set(f, "date", "2024-01-02");
  expect_line(f, "2024-01-02\t0711d47e-3a14-35b6-ef8b-dd30b026688d\n");
  assert_string_equal(f->forgotten_kind, "cpr");
  memcpy(f->forgotten[f->nforgotten++], sp_rules_pseudonym(f->r, 1), 16);

  assert_int_equal(apply(f), SP_ROW_SKIP);
  /* A forgotten person leaves no rejects row either. */
  set(f, "date", "2024-02-30");
  assert_int_equal(apply(f), SP_ROW_SKIP);
  /* Another person goes through; a bad date of theirs is rejected. */
  set(f, "cpr", "020202-1234");
  assert_int_equal(apply(f), SP_ROW_REJECT);
  assert_string_equal(f->rej.reason, "invalid_date");
  assert_int_equal(f->rej.column, 0);
  set(f, "date", "2024-02-29");
  assert_int_equal(apply(f), SP_ROW_OK);
  /* The last accepted row stays readable after a skip or a reject. */
  set(f, "cpr", "010100-1234");
  assert_int_equal(apply(f), SP_ROW_SKIP);
  set(f, "cpr", "0");
  assert_int_equal(apply(f), SP_ROW_REJECT);
  assert_string_equal(sp_rules_value(f->r, 0, NULL), "2024-02-29");
  fx_free(f);
}

/* ---- ages -------------------------------------------------------------- */

static void test_age_run_date(void **state) {
  (void)state;
  /* Run date 2024-06-15. */
  fx *f = fx_new();
  build(f, NULL,
        "columns = ("
        "{ name = \"age\"; from = \"cpr\"; rule = \"age\"; },"
        "{ name = \"band\"; from = \"cpr\"; rule = \"age_band\"; bands = "
        "[0, 6, 10, 15, 18, 25, 30, 65]; } );");
  static const struct {
    const char *cpr, *want;
  } cases[] = {
      {"150600-4321", "24\t18-24\n"}, /* birthday today */
      {"160600-4321", "23\t18-24\n"}, /* tomorrow */
      {"150618-4321", "6\t6-9\n"},
      {"140618-4321", "6\t6-9\n"},
      {"160618-4321", "5\t0-5\n"},
      {"150624-4321", "0\t0-5\n"}, /* born today */
      {"150609-4321", "15\t15-17\n"},
      {"150695-1234", "29\t25-29\n"},
      {"150659-1234", "65\t65+\n"},
      {"010101-1234", "123\t65+\n"},
  };
  for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
    clear_fields(f);
    set(f, "cpr", cases[i].cpr);
    expect_line(f, cases[i].want);
  }
  clear_fields(f);
  set(f, "cpr", "150630-4321"); /* 7th digit 4, YY 30: born 2030 */
  assert_int_equal(apply(f), SP_ROW_REJECT);
  assert_string_equal(f->rej.reason, "age_negative");
  set(f, "cpr", "150600-123");
  assert_int_equal(apply(f), SP_ROW_REJECT);
  assert_string_equal(f->rej.reason, "cpr_nine_digits");
  fx_free(f);

  /* Below the first band. */
  f = one_col("rule = \"age_band\"; bands = [15, 18, 25, 30];");
  ok1(f, "150609-4321", "15-17");
  ok1(f, "150694-1234", "30+");
  rej1(f, "150614-4321", "age_out_of_range");
  fx_free(f);

  /* One-year bands are labelled by the year alone. */
  f = one_col("rule = \"age_band\"; bands = [0, 1, 2];");
  ok1(f, "150624-4321", "0");
  ok1(f, "150623-4321", "1");
  ok1(f, "150622-4321", "2+");
  fx_free(f);

  /* Born 29 February: a year older on 1 March in other years. */
  f = one_col("rule = \"age\"; type = \"date\"; format = \"%d-%m-%Y\";");
  ok1(f, "29-02-2000", "24");
  ok1(f, "15-06-2024", "0");
  rej1(f, "16-06-2024", "age_negative");
  rej1(f, "31-06-2000", "invalid_date");
  rej1(f, "010100-1234", "not_a_date");
  fx_free(f);
}

static void test_age_reference_column(void **state) {
  (void)state;
  fx *f = fx_new();
  /* The age is declared before its reference: computing order must not
   * depend on the declared order. */
  build(f, NULL,
        "columns = ("
        "{ name = \"age\"; from = \"cpr\"; rule = \"age\"; reference = "
        "\"status_date\"; },"
        "{ name = \"band\"; from = \"cpr\"; rule = \"age_band\"; bands = "
        "[0, 15, 30]; reference = \"status_date\"; },"
        "{ name = \"status_date\"; from = \"d\"; type = \"date\"; format = "
        "\"%d-%m-%Y\"; } );");
  clear_fields(f);
  set(f, "cpr", "150600-4321");
  set(f, "d", "14-06-2015");
  expect_line(f, "14\t0-14\t2015-06-14\n");
  set(f, "d", "15-06-2015");
  expect_line(f, "15\t15-29\t2015-06-15\n");
  /* No reference date in the row: no age. */
  set(f, "d", "");
  expect_line(f, "\\N\t\\N\t\\N\n");
  /* A reference before the birth. */
  set(f, "d", "01-01-1999");
  assert_int_equal(apply(f), SP_ROW_REJECT);
  assert_string_equal(f->rej.reason, "age_negative");
  assert_int_equal(f->rej.column, 0);
  /* A bad reference date is the reference column's reject. */
  set(f, "d", "31-02-2015");
  assert_int_equal(apply(f), SP_ROW_REJECT);
  assert_string_equal(f->rej.reason, "invalid_date");
  assert_int_equal(f->rej.column, 2);
  fx_free(f);

  /* A reference to a column that is not a date. */
  f = fx_new();
  assert_int_equal(build_env(f, NULL,
                             "columns = ("
                             "{ name = \"age\"; from = \"cpr\"; rule = "
                             "\"age\"; reference = \"x\"; },"
                             "{ name = \"x\"; from = \"v\"; type = \"int\"; "
                             "} );",
                             1),
                   SAMSPOR_ECONFIG);
  assert_non_null(strstr(f->err, "reference 'x'"));
  fx_free(f);
}

/* ---- date truncation --------------------------------------------------- */

static void test_date_month_year(void **state) {
  (void)state;
  fx *f = fx_new();
  build(f, NULL,
        "columns = ("
        "{ name = \"m\"; from = \"d\"; rule = \"date_month\"; format = "
        "\"%d-%m-%Y\"; },"
        "{ name = \"y\"; from = \"d\"; rule = \"date_year\"; format = "
        "\"%d-%m-%Y\"; },"
        "{ name = \"tm\"; from = \"t\"; rule = \"date_month\"; type = "
        "\"timestamp\"; } );");
  clear_fields(f);
  set(f, "d", "17-05-2023");
  set(f, "t", "2023-12-31T23:30:00+01:00");
  expect_line(f, "2023-05-01\t2023\t2023-12-01\n");
  set(f, "d", "29-02-2023");
  assert_int_equal(apply(f), SP_ROW_REJECT);
  assert_string_equal(f->rej.reason, "invalid_date");
  fx_free(f);

  f = one_col("rule = \"date_year\";");
  ok1(f, "0987-01-01", "987"); /* an integer, not text */
  ok1(f, "2024-01-01", "2024");
  fx_free(f);
}

/* ---- lookups ----------------------------------------------------------- */

static const char *const areas_csv =
    "\xEF\xBB\xBF# address (street and number);housing area\n"
    "Eksempelvej 1;Urbanplanen\n"
    "\n"
    "   # an indented comment\n"
    "Eksempelvej 3;Urbanplanen\r\n"
    "Prøvegade 10;Hørgården\n"
    "ÆBLEVEJ  2 ; Æblehaven \n"
    "Élysée Allé 4;Tab\there\n"
    "eksempelvej 1;Urbanplanen\n" /* the same key and value again */
    "Tom vej 1;\n";

static void test_lookup(void **state) {
  (void)state;
  fx *f = fx_new();
  write_file(f, "areas.csv", areas_csv);
  build(f, "areas = { file = \"areas.csv\"; extract = \"^([^,]+)\"; };",
        "columns = ( { name = \"c\"; from = \"v\"; rule = \"lookup\"; map = "
        "\"areas\"; } );");
  ok1(f, "Eksempelvej 1", "Urbanplanen");
  ok1(f, "Eksempelvej 3, 2. th, 2300 København S", "Urbanplanen");
  ok1(f, "PRØVEGADE 10, st.", "Hørgården");     /* ÆØÅ fold */
  ok1(f, "prøvegade   10 ,1. tv", "Hørgården"); /* white space */
  ok1(f, "  Prøvegade\t10", "Hørgården");
  ok1(f,
      "Prøvegade\xc2\xa0"
      "10",
      "Hørgården");                      /* no-break space */
  ok1(f, "æblevej 2", "Æblehaven");      /* value trimmed */
  ok1(f, "éLYSÉE ALLÉ 4", "Tab\\there"); /* É fold; escaped */
  ok1(f, "Tom vej 1", "\\N");            /* empty value */
  ok1(f, "", "\\N");
  rej1(f, "Prøvegade 11", "unmapped");
  rej1(f, ", Prøvegade 10", "unmapped"); /* extract does not match */
  rej1(f, "Prøvegade 1", "unmapped");
  rej1_n(f, "Prøvegade 10\0x", 14, "nul_byte");
  fx_free(f);
}

static void test_lookup_default_and_regex(void **state) {
  (void)state;
  fx *f = fx_new();
  write_file(f, "post.txt", "2300|Amager\n2770|Kastrup\n");
  /* A general regex (not the fast form): the postcode. */
  build(f,
        "post = { file = \"post.txt\"; delimiter = \"|\"; extract = "
        "\"([0-9]{4}) [^0-9]*$\"; default = \"udenfor\"; };",
        "columns = ( { name = \"c\"; from = \"v\"; rule = \"lookup\"; map = "
        "\"post\"; },"
        "{ name = \"d\"; from = \"v\"; rule = \"lookup\"; map = \"post\"; "
        "} );");
  clear_fields(f);
  set(f, "v", "Prøvegade 10, 2300 København S");
  expect_line(f, "Amager\tAmager\n");
  set(f, "v", "Lufthavnsvej 1, 2770 Kastrup");
  expect_line(f, "Kastrup\tKastrup\n");
  set(f, "v", "Somewhere 1, 9999 Elsewhere");
  expect_line(f, "udenfor\tudenfor\n");
  set(f, "v", "no postcode");
  expect_line(f, "udenfor\tudenfor\n");
  fx_free(f);
}

static void test_map_normalise(void **state) {
  (void)state;
  static const struct {
    const char *in, *want;
  } cases[] = {
      {"ÆØÅ", "æøå"},
      {"æøå", "æøå"},
      {"ÉÈÊËÜÖÄÑÇ", "éèêëüöäñç"},
      {"À\xc3\x9e", "à\xc3\xbe"}, /* U+00C0 and U+00DE, the ends */
      {"\xc3\x97", "\xc3\x97"},   /* U+00D7 × unchanged */
      {"\xc3\x9f", "\xc3\x9f"},   /* U+00DF ß has no capital here */
      {"  A \t\n B  ", "a b"},
      {"\xc2\xa0x\xc2\xa0\xc2\xa0y\xc2\xa0", "x y"},
      {"\xc3", "\xc3"}, /* truncated sequence copied */
      {"ABC xyz 123", "abc xyz 123"},
      {"", ""},
      {" \t ", ""},
  };
  for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
    char buf[64];
    size_t n = sp_map_normalise(cases[i].in, strlen(cases[i].in), buf);
    buf[n] = '\0';
    assert_string_equal(buf, cases[i].want);
  }
}

/* The memchr form of "^([^X]+)" / "^([^X]*)" gives regexec's answers. */
static void test_extract_fast_path(void **state) {
  (void)state;
  fx *f = fx_new();
  write_file(f, "m.csv", "a;b\n");
  char path[256];
  snprintf(path, sizeof path, "%s/m.csv", f->dir);
  static const char *res[] = {"^([^,]+)", "^([^,]*)", "^([^;]+)", "^([^,]+),"};
  static const char *ins[] = {"",     ",",    "a,b",    "abc",   ",,x",
                              "æø,x", "\n,x", "a\nb,c", "x;y,z", "no comma"};
  for (size_t i = 0; i < SP_ARRAY_LEN(res); i++) {
    sp_map_spec spec = {"m", path, res[i], NULL, ";"};
    sp_map *m;
    char err[256];
    assert_int_equal(sp_map_open(&spec, &m, err, sizeof err), 0);
    for (size_t k = 0; k < SP_ARRAY_LEN(ins); k++) {
      size_t o1 = 99, l1 = 99, o2 = 99, l2 = 99;
      int a = sp_map_extract(m, ins[k], strlen(ins[k]), &o1, &l1);
      int b = sp_map_extract_regex(m, ins[k], &o2, &l2);
      assert_int_equal(a, b);
      if (a) {
        assert_int_equal(o1, o2);
        assert_int_equal(l1, l2);
      }
    }
    sp_map_free(m);
  }
  fx_free(f);
}

/* Build a one-lookup stream over a map file; returns sp_rules_new's rc. */
static int map_case(fx *f, const char *content, const char *mapopts) {
  write_file(f, "m.csv", content);
  char *maps =
      sp_xasprintf("m = { file = \"m.csv\"; %s };", mapopts ? mapopts : "");
  int rc = build_env(f, maps,
                     "columns = ( { name = \"c\"; from = \"v\"; rule = "
                     "\"lookup\"; map = \"m\"; } );",
                     1);
  free(maps);
  return rc;
}

static void test_map_errors(void **state) {
  (void)state;
  static const struct {
    const char *content, *opts;
    int rc;
    const char *needle;
  } cases[] = {
      {"Hemmelig Adresse 1;A\nHemmelig Adresse 2 B\n", NULL, SAMSPOR_ECONFIG,
       "line 2 has no delimiter"},
      {"ok;A\n;B\n", NULL, SAMSPOR_ECONFIG, "line 2 has an empty key"},
      {"ok;A\nHemmelig\xe9vej;B\n", NULL, SAMSPOR_ECONFIG,
       "line 2 is not valid UTF-8"},
      {"Hemmelig vej 1;A\nhemmelig  VEJ 1;B\n", NULL, SAMSPOR_ECONFIG,
       "lines 1 and 2 give one key"},
      {"a;b\n", "extract = \"^[a-z]+\";", SAMSPOR_ECONFIG, "needs a group"},
      {"a;b\n", "extract = \"^([a-z\";", SAMSPOR_ECONFIG, "not a valid POSIX"},
      {"a;b\n", "delimiter = \"\";", SAMSPOR_ECONFIG, "delimiter is empty"},
  };
  for (size_t i = 0; i < SP_ARRAY_LEN(cases); i++) {
    fx *f = fx_new();
    int rc = map_case(f, cases[i].content, cases[i].opts);
    if (rc != cases[i].rc)
      fail_msg("case %zu: rc %d (%s)", i, rc, f->err);
    assert_null(f->r);
    if (!strstr(f->err, cases[i].needle))
      fail_msg("case %zu: message '%s' lacks '%s'", i, f->err, cases[i].needle);
    /* The file and the map are named, the content never. */
    assert_non_null(strstr(f->err, "map 'm'"));
    assert_null(strstr(f->err, "Hemmelig"));
    assert_null(strstr(f->err, "emmelig"));
    fx_free(f);
  }

  /* A missing file; and a map not in maps. */
  fx *f = fx_new();
  assert_int_equal(build_env(f, "m = { file = \"nope.csv\"; };",
                             "columns = ( { name = \"c\"; from = \"v\"; "
                             "rule = \"lookup\"; map = \"m\"; } );",
                             1),
                   SAMSPOR_ENOENT);
  assert_non_null(strstr(f->err, "nope.csv"));
  fx_free(f);
  f = fx_new();
  write_file(f, "m.csv", "a;b\n");
  assert_int_equal(build_env(f, "m = { file = \"m.csv\"; };",
                             "columns = ( { name = \"c\"; from = \"v\"; "
                             "rule = \"lookup\"; map = \"other\"; } );",
                             1),
                   SAMSPOR_ECONFIG);
  assert_non_null(strstr(f->err, "map 'other' is not defined"));
  fx_free(f);
}

static void test_map_large(void **state) {
  (void)state;
  /* 100,000 lines: loading and lookups stay correct past many rehashes. */
  fx *f = fx_new();
  char path[256];
  snprintf(path, sizeof path, "%s/big.csv", f->dir);
  FILE *fp = fopen(path, "w");
  assert_non_null(fp);
  for (int i = 0; i < 100000; i++)
    fprintf(fp, "Vej %d;område %d\n", i, i % 97);
  fclose(fp);
  build(f, "big = { file = \"big.csv\"; };",
        "columns = ( { name = \"c\"; from = \"v\"; rule = \"lookup\"; map = "
        "\"big\"; } );");
  for (int i = 0; i < 100000; i += 997) {
    char in[32], want[32];
    snprintf(in, sizeof in, "VEJ %d", i);
    snprintf(want, sizeof want, "område %d", i % 97);
    ok1(f, in, want);
  }
  rej1(f, "Vej 100000", "unmapped");
  fx_free(f);
}

/* ---- the whole line ---------------------------------------------------- */

static void test_example_stream(void **state) {
  (void)state;
  fx *f = fx_new();
  write_file(f, "areas.csv", areas_csv);
  build(f, "areas = { file = \"areas.csv\"; extract = \"^([^,]+)\"; };",
        "mode = \"incremental_dedup\"; key = [\"person\", \"status_date\"];"
        "cursor = \"status_date\"; columns = ("
        "{ name = \"person\"; from = \"cpr\"; rule = \"pseudonym\"; kind = "
        "\"cpr\"; },"
        "{ name = \"birth_year\"; from = \"cpr\"; rule = \"cpr_birth_year\"; "
        "},"
        "{ name = \"gender\"; from = \"cpr\"; rule = \"cpr_gender\"; },"
        "{ name = \"area\"; from = \"adresse\"; rule = \"lookup\"; map = "
        "\"areas\"; },"
        "{ name = \"status\"; from = \"status\"; type = \"text\"; },"
        "{ name = \"status_date\"; from = \"statusdato\"; type = \"date\"; "
        "format = \"%d-%m-%Y\"; },"
        "{ name = \"benefit_dkk\"; from = \"ydelse_kr\"; type = \"numeric\"; "
        "decimal_comma = true; } );");
  assert_int_equal(f->st.nfields, 5);
  clear_fields(f);
  set(f, "cpr", "010100-1234");
  set(f, "adresse", "Prøvegade 10, 1. th, 2300 København S");
  set(f, "status", "uddannelse");
  set(f, "statusdato", "01-03-2024");
  set(f, "ydelse_kr", "1.234,50");
  expect_line(f, "0711d47e-3a14-35b6-ef8b-dd30b026688d\t1900\tfemale\t"
                 "Hørgården\tuddannelse\t2024-03-01\t1234.50\n");
  size_t len;
  assert_string_equal(sp_rules_value(f->r, 5, &len), "2024-03-01");
  assert_int_equal(len, 10);
  assert_null(sp_rules_value(f->r, 7, NULL));

  /* Appending: two rows follow each other (the loader ends each line). */
  sp_buf_reset(&f->out);
  assert_int_equal(sp_rules_apply(f->r, f->fields, &f->out, NULL), SP_ROW_OK);
  sp_buf_putc(&f->out, '\n');
  set(f, "status", NULL);
  assert_int_equal(sp_rules_apply(f->r, f->fields, &f->out, NULL), SP_ROW_OK);
  sp_buf_putc(&f->out, '\n');
  assert_string_equal(
      f->out.data,
      "0711d47e-3a14-35b6-ef8b-dd30b026688d\t1900\tfemale\tHørgården\t"
      "uddannelse\t2024-03-01\t1234.50\n"
      "0711d47e-3a14-35b6-ef8b-dd30b026688d\t1900\tfemale\tHørgården\t"
      "\\N\t2024-03-01\t1234.50\n");

  /* Key column status_date missing. */
  set(f, "statusdato", NULL);
  assert_int_equal(apply(f), SP_ROW_REJECT);
  assert_string_equal(f->rej.reason, "missing_value");
  assert_int_equal(f->rej.column, 5);
  /* An unmapped address. */
  set(f, "statusdato", "01-03-2024");
  set(f, "adresse", "Ukendt Vej 99, 2300 København S");
  assert_int_equal(apply(f), SP_ROW_REJECT);
  assert_string_equal(f->rej.reason, "unmapped");
  assert_int_equal(f->rej.column, 3);
  fx_free(f);
}

/* ---- comparing --------------------------------------------------------- */

static void test_compare(void **state) {
  (void)state;
  fx *f = fx_new();
  build(f, NULL,
        "columns = ("
        "{ name = \"i\"; from = \"a\"; type = \"int\"; },"
        "{ name = \"n\"; from = \"b\"; type = \"numeric\"; },"
        "{ name = \"d\"; from = \"c\"; type = \"date\"; },"
        "{ name = \"t\"; from = \"d\"; type = \"timestamp\"; },"
        "{ name = \"x\"; from = \"e\"; type = \"text\"; } );");
  sp_rules *r = f->r;
  assert_true(sp_rules_compare(r, 0, "9", "10") < 0);
  assert_true(sp_rules_compare(r, 0, "-10", "-9") < 0);
  assert_true(sp_rules_compare(r, 0, "-1", "0") < 0);
  assert_int_equal(sp_rules_compare(r, 0, "42", "42"), 0);
  assert_true(sp_rules_compare(r, 0, "-9223372036854775808",
                               "9223372036854775807") < 0);
  assert_true(sp_rules_compare(r, 1, "-1.5", "-1.25") < 0);
  assert_int_equal(sp_rules_compare(r, 1, "1.10", "1.1"), 0);
  assert_true(sp_rules_compare(r, 1, "0.5", "1") < 0);
  assert_true(sp_rules_compare(r, 1, "99.99", "100") < 0);
  assert_true(sp_rules_compare(r, 1, "100.001", "100") > 0);
  assert_true(sp_rules_compare(r, 2, "2023-12-31", "2024-01-01") < 0);
  assert_true(sp_rules_compare(r, 2, "0999-01-01", "1000-01-01") < 0);
  assert_int_equal(sp_rules_compare(r, 3, "2024-01-01T10:00:00+01:00",
                                    "2024-01-01T09:00:00+00:00"),
                   0);
  assert_true(sp_rules_compare(r, 3, "2024-01-01T10:30:00+01:00",
                               "2024-01-01T09:45:00+00:00") < 0);
  assert_true(sp_rules_compare(r, 3, "2024-01-01T10:00:00.5",
                               "2024-01-01T10:00:00.25") > 0);
  assert_true(
      sp_rules_compare(r, 3, "2024-01-01T10:00:00", "2024-01-01T10:00:01") < 0);
  assert_true(sp_rules_compare(r, 4, "B", "a") < 0);
  assert_true(sp_rules_compare(r, 4, NULL, "a") < 0);
  assert_true(sp_rules_compare(r, 4, "a", NULL) > 0);
  assert_int_equal(sp_rules_compare(r, 4, NULL, NULL), 0);

  /* Canonical values from a row compare as their types. */
  clear_fields(f);
  set(f, "a", "0042");
  set(f, "b", "1234.50");
  set(f, "c", "2024-06-01");
  set(f, "d", "2024-06-01T12:00:00+02:00");
  expect_line(f, "42\t1234.50\t2024-06-01\t2024-06-01T12:00:00+02:00\t\\N\n");
  assert_int_equal(sp_rules_compare(r, 0, sp_rules_value(r, 0, NULL), "42"), 0);
  assert_int_equal(sp_rules_compare(r, 1, sp_rules_value(r, 1, NULL), "1234.5"),
                   0);
  assert_int_equal(sp_rules_compare(r, 3, sp_rules_value(r, 3, NULL),
                                    "2024-06-01T10:00:00Z"),
                   0);
  assert_null(sp_rules_value(r, 4, NULL));
  assert_null(sp_rules_value(r, 99, NULL));
  fx_free(f);
}

static void test_value_before_any_row(void **state) {
  (void)state;
  fx *f = one_col("type = \"int\";");
  assert_null(sp_rules_value(f->r, 0, NULL));
  assert_null(sp_rules_pseudonym(f->r, 0));
  rej1(f, "x", "not_a_number");
  assert_null(sp_rules_value(f->r, 0, NULL));
  ok1(f, "5", "5");
  rej1(f, "y", "not_a_number");
  assert_string_equal(sp_rules_value(f->r, 0, NULL), "5");
  /* rej may be NULL. */
  clear_fields(f);
  set(f, "v", "z");
  assert_int_equal(sp_rules_apply(f->r, f->fields, &f->out, NULL),
                   SP_ROW_REJECT);
  fx_free(f);
}

static void test_reason_texts(void **state) {
  (void)state;
  static const char *codes[] = {
      "missing_value",  "nul_byte",        "invalid_utf8",  "not_a_number",
      "not_an_integer", "out_of_range",    "not_a_date",    "not_a_timestamp",
      "invalid_date",   "invalid_time",    "not_a_boolean", "unmapped",
      "age_negative",   "age_out_of_range"};
  const char *generic = sp_rules_reason_text("no_such_code");
  for (size_t i = 0; i < SP_ARRAY_LEN(codes); i++) {
    const char *t = sp_rules_reason_text(codes[i]);
    assert_non_null(t);
    assert_true(t != generic);
    assert_true(t[strlen(t) - 1] == '.');
  }
  assert_string_equal(sp_rules_reason_text("cpr_nine_digits"),
                      sp_cpr_reason_text(SP_CPR_NINE_DIGITS));
  assert_non_null(sp_rules_reason_text(NULL));
}

/* The rule table and the `rule` option agree: one row per sp_rule, in
 * its order, named as the option's choices name them, each with its
 * column's SQL type. */
static void test_rule_table(void **state) {
  (void)state;
  char choices[] = SP_RULE_CHOICES;
  char *save = NULL;
  size_t n = 0;
  for (char *name = strtok_r(choices, "|", &save); name;
       name = strtok_r(NULL, "|", &save), n++) {
    assert_true(n < SP_RULE_COUNT);
    assert_int_equal(sp_rule_table[n].rule, (int)n);
    assert_string_equal(sp_rule_table[n].name, name);
    assert_non_null(sp_rule_table[n].words);
    assert_non_null(strstr(sp_rule_table[n].words, "%s"));
  }
  assert_int_equal(n, SP_RULE_COUNT);
  assert_string_equal(sp_rule_sql_type(SP_RULE_PSEUDONYM, "date"), "uuid");
  assert_string_equal(sp_rule_sql_type(SP_RULE_KEEP, "timestamp"),
                      "timestamptz");
  assert_string_equal(sp_rule_sql_type(SP_RULE_KEEP, NULL), "text");
}

/* The word-at-a-time paths of COPY escaping and UTF-8 checking against a
 * byte at a time: each special byte at each position of values long enough
 * to take the fast path, next to bytes just outside the special ranges. */
static void test_escape_and_utf8_words(void **state) {
  static const char special[] = {'\\', '\t', '\n', '\r', 0x0b,
                                 0x0e, 0x5b, 0x5d, 0x7f};
  sp_buf b;

  (void)state;
  sp_buf_init(&b);
  for (size_t n = 1; n <= 40; n++)
    for (size_t at = 0; at < n; at++)
      for (size_t k = 0; k < sizeof special; k++) {
        char in[40], want[81];
        size_t wl = 0;

        memset(in, 'x', n);
        in[at] = special[k];
        for (size_t i = 0; i < n; i++) {
          const char *e = in[i] == '\\'   ? "\\\\"
                          : in[i] == '\t' ? "\\t"
                          : in[i] == '\n' ? "\\n"
                          : in[i] == '\r' ? "\\r"
                                          : NULL;
          if (e) {
            memcpy(want + wl, e, 2);
            wl += 2;
          } else
            want[wl++] = in[i];
        }
        sp_buf_reset(&b);
        sp_buf_putc(&b, '>');
        sp_copy_escape(&b, in, n);
        assert_int_equal(b.len, wl + 1);
        assert_memory_equal(b.data + 1, want, wl);

        /* a stray continuation byte, a lead byte without its continuation,
         * and a whole 2-byte character at the same place */
        in[at] = (char)0x80;
        assert_false(sp_utf8_valid(in, n));
        in[at] = (char)0xc3;
        assert_false(sp_utf8_valid(in, n));
        if (at + 1 < n) {
          in[at + 1] = (char)0xa6;
          assert_true(sp_utf8_valid(in, n));
        }
      }
  sp_buf_free(&b);
}

int main(void) {
  if (sodium_init() < 0) {
    fprintf(stderr, "sodium_init failed\n");
    return 1;
  }
#define T(f) cmocka_unit_test(f)
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rule_table),
      T(test_text),
      T(test_int),
      T(test_numeric),
      T(test_binary_rows),
      T(test_date_iso),
      T(test_date_formats),
      T(test_timestamp),
      T(test_boolean),
      T(test_nulls_and_required),
      T(test_pseudonym_spec_vector),
      T(test_pseudonym_rejects),
      T(test_pseudonym_other_kind),
      T(test_pseudonym_memo),
      T(test_forgotten),
      T(test_age_run_date),
      T(test_age_reference_column),
      T(test_date_month_year),
      T(test_lookup),
      T(test_lookup_default_and_regex),
      T(test_map_normalise),
      T(test_extract_fast_path),
      T(test_map_errors),
      T(test_map_large),
      T(test_example_stream),
      T(test_compare),
      T(test_value_before_any_row),
      T(test_reason_texts),
      T(test_escape_and_utf8_words),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
