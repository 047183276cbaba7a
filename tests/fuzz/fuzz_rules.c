/*
 * fuzz_rules.c — libFuzzer target for the column-rule engine (core/model/rules.c)
 * and lookup maps (core/model/maps.c): arbitrary bytes as field values through
 * every rule and type.
 *
 * The input is split at 0xFF bytes into field values; a value that is the
 * single byte 0xFE stands for an absent field.  Each value goes through a
 * one-column stream of every rule/type (so a reject in one column does not
 * hide the others), and all of them together through one wide stream.
 *
 * Besides memory and UB errors (ASan, UBSan), it checks that
 *   - an accepted row is one line: ncolumns-1 unescaped tabs, one final
 *     newline, no raw CR or LF, valid UTF-8, and each field unescapes to
 *     sp_rules_value (\N exactly when it is NULL);
 *   - a canonical value fed back in gives itself again (text, numbers,
 *     ISO dates and timestamps, booleans) and compares equal to itself;
 *   - integers fit their type, dates are real, pseudonyms agree with
 *     sp_pseudonym on the trimmed value;
 *   - a reject or skip leaves the output buffer byte for byte as it was,
 *     names a valid column, and gives a known reason code with its static
 *     sentence (so no value can be in either);
 *   - the memchr fast path of extract "^([^,]+)" agrees with regexec.
 *
 * Build and run (from the top of the source tree):
 *
 *   mkdir -p /tmp/fr && printf '#define PACKAGE_VERSION "0.1.0"\n' \
 *       > /tmp/fr/config.h
 *   clang -std=c11 -g -O1 -D_GNU_SOURCE \
 *       -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
 *       -I/tmp/fr -Icore core/{util,options,conf,plugin,host,log,schedule,\
 *   cpr,key,pseudonym,warehouse,maps,rules}.c tests/fuzz/fuzz_rules.c \
 *       $(pkg-config --cflags --libs libconfig libsodium libpq) -ldl -lm \
 *       -o /tmp/fr/fuzz_rules
 *   mkdir -p /tmp/fr/corpus && /tmp/fr/fuzz_rules -max_total_time=60 \
 *       /tmp/fr/corpus
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "model/conf.h"
#include "model/key.h"
#include "model/maps.h"
#include "model/pseudonym.h"
#include "model/rules.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "CHECK failed at line %d: %s\n", __LINE__, #cond);       \
      abort();                                                                 \
    }                                                                          \
  } while (0)

/* One column per entry: its options, and whether feeding its canonical
 * value back in must give the same value. */
static const struct {
  const char *opts;
  int idempotent;
} columns[] = {
    {"rule = \"pseudonym\"; kind = \"cpr\";", 0},
    {"rule = \"pseudonym\"; kind = \"tenancy\";", 0},
    {"rule = \"cpr_birth_year\";", 0},
    {"rule = \"cpr_birth_month\";", 0},
    {"rule = \"cpr_gender\";", 0},
    {"rule = \"age\";", 0},
    {"rule = \"age_band\"; bands = [0, 6, 10, 15, 18, 25, 30, 65];", 0},
    {"rule = \"age_band\"; bands = [15, 18, 25]; type = \"date\"; format = "
     "\"%d-%m-%Y\";",
     0},
    {"rule = \"age\"; type = \"timestamp\";", 0},
    {"type = \"text\";", 1},
    {"type = \"text\"; not_null = true;", 1},
    {"type = \"int\";", 1},
    {"type = \"int\"; decimal_comma = true;", 1},
    {"type = \"bigint\"; thousands_separator = \" \";", 1},
    {"type = \"numeric\";", 1},
    {"type = \"numeric\"; decimal_comma = true;", 0},
    {"type = \"numeric\"; thousands_separator = \"\\xC2\\xA0\";", 1},
    {"type = \"date\";", 1},
    {"type = \"date\"; format = \"%d-%m-%Y\";", 0},
    {"type = \"date\"; format = \"%d %b %y\";", 0},
    {"type = \"date\"; format = \"%d%m%Y%H%M%S\";", 0},
    {"type = \"date\"; format = \"%m/%Y\";", 0},
    {"type = \"timestamp\";", 1},
    {"type = \"timestamp\"; format = \"%d/%m/%Y %T %z\";", 0},
    {"type = \"boolean\";", 0},
    {"type = \"boolean\"; true_words = [\"J\", \"Æ\"]; false_words = "
     "[\"N\"];",
     0},
    {"rule = \"date_month\"; format = \"%d-%m-%Y\";", 0},
    {"rule = \"date_month\"; type = \"timestamp\";", 0},
    {"rule = \"date_year\";", 0},
    {"rule = \"lookup\"; map = \"fast\";", 0},
    {"rule = \"lookup\"; map = \"slow\";", 0},
    {"rule = \"lookup\"; map = \"plain\";", 0},
};
#define NCOLS (sizeof columns / sizeof columns[0])

/* One stream and its rules, built from libconfig text. */
typedef struct built {
  config_t cfg;
  sp_errors errs;
  sp_config conf; /* only root */
  sp_stream st;
  sp_rules *r;
} built;

/*
 * The fuzzing state.  libFuzzer passes no context pointer, so what
 * LLVMFuzzerInitialize builds lives at file scope: the one exception to
 * the house rule, in a test harness only.
 */
typedef struct fuzz_state {
  char dir[64];
  sp_key *key;
  sp_pseudonymiser *cpr, *tenancy;
  built single[NCOLS]; /* one column each */
  built wide;          /* all columns, plus an age at a reference column */
  built fmt[2];        /* a date and a timestamp column whose format is
                          swapped for fuzzed text (rules rebuilt per input) */
  sp_map *fast;        /* extract "^([^,]+)": the memchr path */
  sp_buf out;
} fuzz_state;

static fuzz_state fs;

/* Forget every person whose pseudonym starts with a zero byte. */
static int forgotten(void *ud, const char *kind,
                     const unsigned char pseudonym[16]) {
  (void)ud;
  (void)kind;
  return pseudonym[0] == 0;
}

static void build(built *b, const char *columns_text, const char *extra) {
  char *text = sp_xasprintf(
      "warehouse: { conninfo = \"dbname=x\"; };\n"
      "pseudonym: { key_file = \"k\"; };\n"
      "maps: {\n"
      "  fast = { file = \"m.csv\"; extract = \"^([^,]+)\"; };\n"
      "  slow = { file = \"m.csv\"; extract = \"([0-9]{4}) \"; default = "
      "\"x\\ty\"; };\n"
      "  plain = { file = \"m.csv\"; default = \"\"; };\n"
      "};\n"
      "stream: { table = \"t\"; %s columns = ( %s ); };\n"
      "connectors = ();\n",
      extra, columns_text);
  config_init(&b->cfg);
  if (config_read_string(&b->cfg, text) != CONFIG_TRUE) {
    fprintf(stderr, "libconfig: %s line %d\n", config_error_text(&b->cfg),
            config_error_line(&b->cfg));
    abort();
  }
  free(text);
  sp_errors_init(&b->errs);
  config_setting_t *root = config_root_setting(&b->cfg);
  b->st.s =
      sp_settings_parse(config_setting_get_member(root, "stream"),
                        sp_stream_options, NULL, "stream", fs.dir, &b->errs);
  config_setting_remove(root, "stream");
  b->conf.root = sp_settings_parse(root, sp_root_options, NULL, "config",
                                   fs.dir, &b->errs);
  if (b->errs.nerrors) {
    sp_errors_print(&b->errs, stderr);
    abort();
  }
  samspor_settings *const *cols;
  size_t n = sp_get_items(b->st.s, "columns", &cols);
  b->st.columns = sp_xcalloc(n, sizeof(sp_column));
  b->st.fields = sp_xcalloc(n, sizeof(char *));
  b->st.cursor_column = -1;
  for (size_t i = 0; i < n; i++) {
    sp_column *c = &b->st.columns[b->st.ncolumns++];
    c->s = cols[i];
    c->name = sp_get_string(cols[i], "name");
    c->from = sp_get_string(cols[i], "from");
    if (sp_rule_parse(sp_get_string(cols[i], "rule"), &c->rule) != 0)
      c->rule = SP_RULE_KEEP;
    size_t k;
    for (k = 0; k < b->st.nfields; k++)
      if (strcmp(b->st.fields[k], c->from) == 0)
        break;
    if (k == b->st.nfields)
      b->st.fields[b->st.nfields++] = c->from;
    c->field = k;
  }
  sp_rules_env env = {&b->conf,  fs.key, 2024, 6,   15,
                      forgotten, NULL,   NULL, NULL};
  char err[512];
  if (sp_rules_new(&b->st, &env, &b->r, err, sizeof err) != 0) {
    fprintf(stderr, "sp_rules_new: %s\n", err);
    abort();
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (sodium_init() < 0)
    abort();
  unsigned char k[SP_KEY_BYTES];
  for (int i = 0; i < SP_KEY_BYTES; i++)
    k[i] = (unsigned char)i;
  CHECK(sp_key_from_bytes(k, sizeof k, &fs.key) == 0);
  fs.cpr = sp_pseudonymiser_new(fs.key, "cpr");
  fs.tenancy = sp_pseudonymiser_new(fs.key, "tenancy");
  CHECK(fs.cpr && fs.tenancy);

  snprintf(fs.dir, sizeof fs.dir, "/tmp/fuzz_rules.XXXXXX");
  CHECK(mkdtemp(fs.dir));
  char path[128];
  snprintf(path, sizeof path, "%s/m.csv", fs.dir);
  FILE *f = fopen(path, "w");
  CHECK(f);
  fputs("# test map\nEksempelvej 1;Urbanplanen\nPrøvegade 10;Hørgården\n"
        "ÆBLEVEJ 2;Æble\\haven\n2300;Amager\tSyd\n1;en\n a ; \n",
        f);
  fclose(f);

  sp_buf wide_cols;
  sp_buf_init(&wide_cols);
  for (size_t i = 0; i < NCOLS; i++) {
    char *one =
        sp_xasprintf("{ name = \"c\"; from = \"v\"; %s }", columns[i].opts);
    build(&fs.single[i], one, "");
    free(one);
    /* The wide stream: column i reads field i % 5, so fields are shared
     * between rules (and the CPR cache is exercised). */
    sp_buf_printf(&wide_cols, "{ name = \"c%zu\"; from = \"f%zu\"; %s },", i,
                  i % 5, columns[i].opts);
  }
  sp_buf_puts(&wide_cols,
              "{ name = \"d\"; from = \"f2\"; type = \"date\"; format = "
              "\"%d-%m-%Y\"; },"
              "{ name = \"ra\"; from = \"f0\"; rule = \"age_band\"; bands = "
              "[0, 18]; reference = \"d\"; }");
  build(&fs.wide, wide_cols.data, "key = [\"c11\"];");
  build(&fs.fmt[0],
        "{ name = \"c\"; from = \"v\"; type = \"date\"; format = \"%Y-%m\"; }",
        "");
  build(&fs.fmt[1],
        "{ name = \"c\"; from = \"v\"; type = \"timestamp\"; format = "
        "\"%Y-%m\"; }",
        "");
  sp_buf_free(&wide_cols);

  sp_map_spec spec = {"fast", path, "^([^,]+)", NULL, ";"};
  char err[256];
  CHECK(sp_map_open(&spec, &fs.fast, err, sizeof err) == 0);
  sp_buf_init(&fs.out);
  /* Files are read; the directory may go now. */
  unlink(path);
  rmdir(fs.dir);
  return 0;
}

/* ---- checks ------------------------------------------------------------ */

/* Every reason code the rules can give.  A reject's reason must be one of
 * them and its message the static sentence for it: static text cannot
 * hold a value, whatever the value is (a substring search would flag an
 * input that happens to read "number"). */
static const char *const known_reasons[] = {
    "missing_value",  "nul_byte",         "invalid_utf8",  "not_a_number",
    "not_an_integer", "out_of_range",     "not_a_date",    "not_a_timestamp",
    "invalid_date",   "invalid_time",     "not_a_boolean", "unmapped",
    "age_negative",   "age_out_of_range", "cpr_empty",     "cpr_nine_digits",
    "cpr_length",     "cpr_not_digits",   "cpr_bad_date"};

static void check_reject_texts(const sp_reject_info *rej) {
  size_t i;
  for (i = 0; i < sizeof known_reasons / sizeof known_reasons[0]; i++)
    if (rej->reason == known_reasons[i] ||
        strcmp(rej->reason, known_reasons[i]) == 0)
      break;
  CHECK(i < sizeof known_reasons / sizeof known_reasons[0]);
  CHECK(rej->message == sp_rules_reason_text(rej->reason));
}

/* Unescape one COPY field [p, e) into buf; returns the length. */
static size_t unescape(const char *p, const char *e, char *buf) {
  size_t o = 0;
  while (p < e) {
    if (*p == '\\') {
      CHECK(p + 1 < e);
      char c = p[1];
      buf[o++] = c == 't' ? '\t' : c == 'n' ? '\n' : c == 'r' ? '\r' : c;
      CHECK(c == 't' || c == 'n' || c == 'r' || c == '\\');
      p += 2;
    } else {
      buf[o++] = *p++;
    }
  }
  return o;
}

static int real_date(const char *s) {
  if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
    return 0;
  int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
  static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return y >= 1 && m >= 1 && m <= 12 && d >= 1 &&
         d <= dim[m - 1] + (m == 2 && leap);
}

/* Apply fields to b's rules and check the result, which is returned. */
static int run(built *b, const sp_field *fields) {
  sp_buf *out = &fs.out;
  sp_buf_reset(out);
  sp_buf_puts(out, "before\n");
  size_t before = out->len;
  sp_reject_info rej;
  int rc = sp_rules_apply(b->r, fields, out, &rej);
  if (rc == SP_ROW_OK)
    sp_buf_putc(out, '\n'); /* the loader's line end, as sync.c adds */
  if (rc != SP_ROW_OK) {
    CHECK(out->len == before && strcmp(out->data, "before\n") == 0);
    if (rc == SP_ROW_REJECT) {
      CHECK(rej.reason && rej.message);
      CHECK(rej.column >= 0 && (size_t)rej.column < b->st.ncolumns);
      check_reject_texts(&rej);
    } else {
      CHECK(rc == SP_ROW_SKIP);
    }
    return rc;
  }
  CHECK(rc == SP_ROW_OK);
  const char *line = out->data + before;
  size_t len = out->len - before;
  CHECK(len >= 1 && line[len - 1] == '\n');
  CHECK(memchr(line, '\n', len - 1) == NULL);
  CHECK(memchr(line, '\r', len) == NULL);
  CHECK(memchr(line, '\0', len) == NULL);
  /* Split at tabs: COPY escaping turned every value tab into "\t". */
  const char *p = line, *end = line + len - 1;
  char *buf = sp_xmalloc(len + 1);
  for (size_t c = 0; c < b->st.ncolumns; c++) {
    const char *tab = memchr(p, '\t', (size_t)(end - p));
    const char *fe = tab ? tab : end;
    CHECK((c + 1 < b->st.ncolumns) == (tab != NULL));
    size_t vlen;
    const char *v = sp_rules_value(b->r, c, &vlen);
    if (fe - p == 2 && p[0] == '\\' && p[1] == 'N') {
      CHECK(v == NULL);
    } else {
      CHECK(v != NULL);
      size_t n = unescape(p, fe, buf);
      CHECK(n == vlen && memcmp(buf, v, n) == 0 && v[vlen] == '\0');
      CHECK(sp_rules_compare(b->r, c, v, v) == 0);
    }
    p = fe + 1;
  }
  free(buf);
  return rc;
}

/* -?(0|[1-9][0-9]*), and for numeric an optional .[0-9]+; no "-0". */
static int canonical_number(const char *s, int frac) {
  const char *p = s;
  int nonzero = 0;
  if (*p == '-')
    p++;
  if (*p == '0' && p[1] >= '0' && p[1] <= '9')
    return 0;
  if (*p < '0' || *p > '9')
    return 0;
  while (*p >= '0' && *p <= '9')
    nonzero |= *p++ != '0';
  if (frac && *p == '.') {
    p++;
    if (*p < '0' || *p > '9')
      return 0;
    while (*p >= '0' && *p <= '9')
      nonzero |= *p++ != '0';
  }
  return *p == '\0' && !(s[0] == '-' && !nonzero);
}

/* Properties of a one-column stream's value for input x. */
static void check_single(size_t i, const char *x, size_t n) {
  built *b = &fs.single[i];
  sp_field f = {x, n};
  int rc = run(b, &f);
  if (rc != SP_ROW_OK)
    return;
  size_t vlen;
  const char *v = sp_rules_value(b->r, 0, &vlen);
  if (!v)
    return;
  const char *opts = columns[i].opts;
  char *copy = sp_xstrndup(v, vlen);

  if (strstr(opts, "\"int\"")) {
    long long ll = strtoll(copy, NULL, 10);
    CHECK(ll >= INT32_MIN && ll <= INT32_MAX);
  }
  if (strstr(opts, "int\"") || strstr(opts, "numeric") ||
      strstr(opts, "birth_year") || strstr(opts, "rule = \"age\"") ||
      strstr(opts, "date_year"))
    CHECK(canonical_number(copy, strstr(opts, "numeric") != NULL));
  if (strstr(opts, "type = \"date\"") && !strstr(opts, "rule"))
    CHECK(real_date(copy));
  if (strstr(opts, "cpr_birth_month") || strstr(opts, "date_month")) {
    CHECK(real_date(copy) && strcmp(copy + 8, "01") == 0);
  }
  if (strstr(opts, "kind")) {
    /* The same pseudonym as `samspor pseudonym` gives the trimmed value. */
    const char *t = x;
    size_t tn = n;
    while (tn && (*t == ' ' || *t == '\t' || *t == '\r' || *t == '\n')) {
      t++;
      tn--;
    }
    while (tn && (t[tn - 1] == ' ' || t[tn - 1] == '\t' || t[tn - 1] == '\r' ||
                  t[tn - 1] == '\n'))
      tn--;
    char want[37];
    const char *reason;
    CHECK(sp_pseudonym(strstr(opts, "cpr") ? fs.cpr : fs.tenancy, t, tn, want,
                       &reason) == 0);
    CHECK(strcmp(want, copy) == 0);
    CHECK(sp_rules_pseudonym(b->r, 0) != NULL);
  }
  if (columns[i].idempotent) {
    sp_field again = {copy, vlen};
    CHECK(run(b, &again) == SP_ROW_OK);
    size_t l2;
    const char *v2 = sp_rules_value(b->r, 0, &l2);
    CHECK(v2 && l2 == vlen && memcmp(v2, copy, vlen) == 0);
  }
  free(copy);
}

/* The fast extract agrees with regexec on the value up to its first NUL. */
static void check_extract(const char *x, size_t n) {
  char *z = sp_xstrndup(x, n);
  size_t zl = strlen(z), o1 = 0, l1 = 0, o2 = 0, l2 = 0;
  int a = sp_map_extract(fs.fast, z, zl, &o1, &l1);
  int b = sp_map_extract_regex(fs.fast, z, &o2, &l2);
  CHECK(a == b);
  if (a)
    CHECK(o1 == o2 && l1 == l2);
  free(z);
}

/*
 * Formats come from the configuration, not from partners, but a format
 * compiler that reads past a trailing '%' is still a bug: compile the
 * first value as the format of a date and a timestamp column and parse
 * the second with it.  The harness writes the format straight into the
 * column's parsed settings, which the option engine otherwise never lets
 * anyone change.
 */
static void check_format(const char *fmt, size_t flen, const char *x,
                         size_t n) {
  char *z = sp_xstrndup(fmt, flen); /* up to its first NUL, as libconfig */
  for (int k = 0; k < 2; k++) {
    built *b = &fs.fmt[k];
    sp_value *v = (sp_value *)sp_settings_value(b->st.columns[0].s, "format");
    char *saved = v->str;
    v->str = z;
    sp_rules *r = NULL;
    char err[512];
    sp_rules_env env = {&b->conf, NULL, 2024, 6, 15, NULL, NULL, NULL, NULL};
    int rc = sp_rules_new(&b->st, &env, &r, err, sizeof err);
    v->str = saved;
    if (rc != 0) {
      CHECK(rc == SAMSPOR_ECONFIG && r == NULL && strstr(err, "column 'c'"));
      continue;
    }
    sp_rules *keep = b->r;
    b->r = r;
    sp_field f = {x, n};
    run(b, &f);
    b->r = keep;
    sp_rules_free(r);
  }
  free(z);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* A private copy of exactly `size` bytes, so ASan catches any read past
   * a value's length. */
  char *copy = malloc(size ? size : 1);
  CHECK(copy);
  if (size)
    memcpy(copy, data, size);

  enum { MAXF = 5 };
  const char *vals[MAXF] = {0};
  size_t lens[MAXF] = {0};
  size_t nf = 0, start = 0;
  for (size_t i = 0; i <= size && nf < MAXF; i++) {
    if (i == size || (unsigned char)copy[i] == 0xFF) {
      vals[nf] = copy + start;
      lens[nf] = i - start;
      if (lens[nf] == 1 && (unsigned char)vals[nf][0] == 0xFE)
        vals[nf] = NULL;
      nf++;
      start = i + 1;
    }
  }

  /* Every rule on every value. */
  for (size_t f = 0; f < nf; f++) {
    for (size_t i = 0; i < NCOLS; i++)
      check_single(i, vals[f], vals[f] ? lens[f] : 0);
    if (vals[f])
      check_extract(vals[f], lens[f]);
  }

  if (nf >= 2 && vals[0] && vals[1])
    check_format(vals[0], lens[0], vals[1], lens[1]);

  /* The wide stream over all fields (missing ones absent). */
  sp_field fields[MAXF];
  for (size_t f = 0; f < MAXF; f++) {
    fields[f].ptr = f < nf ? vals[f] : NULL;
    fields[f].len = f < nf && vals[f] ? lens[f] : 0;
  }
  CHECK(fs.wide.st.nfields == MAXF);
  run(&fs.wide, fields);

  free(copy);
  return 0;
}
