#include "config.h"

/*
 * test_csv.c — unit tests of the csv plugin: the streaming parser
 * (plugins/csv/csv_parse.c) and the ABI glue (plugins/csv/csv.c), on data
 * generated here into a temporary directory.  All values are obviously
 * fake ("Person 17", "Testvej 3"); the test host fails any message that
 * contains one, which is how the privacy rule is tested.
 *
 * The glue needs a samspor_settings.  The core's option engine will
 * provide the real one; until then this file defines the opaque struct as
 * a name/value list with the table's defaults behind it.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "samspor-plugin.h"
#include "csv_parse.h"
#include "plugin_host.h"

const samspor_plugin *samspor_plugin_descriptor(void);

/* Values in the test data carry these; no message may. */
static const char *const private_markers[] = {"Person", "Testvej", "0101",
                                              NULL};

/* ---- a growable string -------------------------------------------------
 */

typedef struct strbuf {
  char *s;
  size_t len, cap;
} strbuf;

static void sb_add(strbuf *b, const char *p, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->s = realloc(b->s, b->cap);
    assert_non_null(b->s);
  }
  if (n)
    memcpy(b->s + b->len, p, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static void sb_printf(strbuf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  assert_true(n >= 0 && (size_t)n < sizeof tmp);
  sb_add(b, tmp, (size_t)n);
}

/* ---- parser harness ----------------------------------------------------
 */

#define STOP_CODE 7

typedef struct collect {
  strbuf out;
  int stop_every; /* return STOP_CODE after every n-th record (0: never) */
  int count;
} collect;

/* Record function writing one line per record:
 *   L<line> [f1][f2]...          or   L<line> !reason (message) */
static int collect_rec(void *u, const csv_record *r) {
  collect *c = u;
  size_t i, len;

  sb_printf(&c->out, "L%llu", (unsigned long long)r->line);
  if (r->status == CSV_REC_OK) {
    assert_string_equal(r->message, "");
    assert_true(r->nfields >= 1);
    for (i = 0; i < r->nfields; i++) {
      const char *f = csv_record_field(r, i, &len);
      sb_add(&c->out, " [", 2);
      sb_add(&c->out, f, len);
      sb_add(&c->out, "]", 1);
      /* the parser promises UTF-8 */
      assert_true(csv_utf8_valid(f, len));
    }
  } else {
    assert_int_equal(r->nfields, 0);
    ph_assert_no_values(r->message);
    sb_printf(&c->out, " !%s (%s)", csv_status_reason(r->status), r->message);
  }
  sb_add(&c->out, "\n", 1);
  if (c->stop_every && ++c->count % c->stop_every == 0)
    return STOP_CODE;
  return 0;
}

/* Parse `in` fed in chunks of `chunk` bytes (0: all at once), resuming
 * after every stop.  Returns the collected text; caller frees. */
static char *parse_chunked(const csv_config *cfg, const char *in, size_t len,
                           size_t chunk, int stop_every) {
  collect c = {.stop_every = stop_every};
  csv_parser *p;
  size_t off = 0, used;
  int rc;

  assert_int_equal(csv_parser_new(&p, cfg, collect_rec, &c), 0);
  sb_add(&c.out, "", 0);
  while (off < len) {
    size_t n = chunk && chunk < len - off ? chunk : len - off;
    rc = csv_parser_feed(p, in + off, n, &used);
    assert_true(used <= n);
    if (rc == 0)
      assert_int_equal(used, n);
    else
      assert_int_equal(rc, STOP_CODE);
    off += used;
    if (rc == STOP_CODE && used == n && off == len) {
      /* the input is consumed, but held-back bytes may remain: an empty
       * feed drains them */
      while ((rc = csv_parser_feed(p, "", 0, &used)) == STOP_CODE)
        ;
      assert_int_equal(rc, 0);
    }
  }
  while ((rc = csv_parser_finish(p)) == STOP_CODE)
    ;
  assert_int_equal(rc, 0);
  assert_int_equal(csv_parser_finish(p), 0); /* idempotent */
  csv_parser_free(p);
  return c.out.s;
}

/* Parse `in` whole, byte by byte, in a few odd chunk sizes and with a stop
 * after every record; each must give `want`. */
static void check_parse_n(const csv_config *cfg, const char *in, size_t len,
                          const char *want) {
  static const size_t chunks[] = {0, 1, 2, 3, 5, 7, 64};
  size_t i;
  char *got;

  for (i = 0; i < sizeof chunks / sizeof *chunks; i++) {
    got = parse_chunked(cfg, in, len, chunks[i], 0);
    if (strcmp(got, want))
      fail_msg("chunk %zu:\n--- got\n%s--- want\n%s", chunks[i], got, want);
    free(got);
    got = parse_chunked(cfg, in, len, chunks[i], 1);
    if (strcmp(got, want))
      fail_msg("chunk %zu, stopping:\n--- got\n%s--- want\n%s", chunks[i], got,
               want);
    free(got);
  }
}

static void check_parse(const csv_config *cfg, const char *in,
                        const char *want) {
  check_parse_n(cfg, in, strlen(in), want);
}

static csv_config cfg_with(int delim, csv_encoding enc) {
  csv_config c;
  csv_config_init(&c);
  c.delimiter = delim;
  c.encoding = enc;
  return c;
}

/* ---- parser tests ------------------------------------------------------
 */

static void test_parse_quoted(void **state) {
  csv_config c = cfg_with(';', CSV_UTF8);
  (void)state;
  check_parse(&c,
              "navn;adresse;note\n"
              "\"Person 1\";\"Testvej 3; 2. th\";\"he said \"\"hi\"\"\"\n"
              "\"Person 2\";\"Testvej\n4\";\"a\r\nb\"\n"
              "\"\";x;\"\"\"\"\n",
              "L1 [navn] [adresse] [note]\n"
              "L2 [Person 1] [Testvej 3; 2. th] [he said \"hi\"]\n"
              "L3 [Person 2] [Testvej\n4] [a\r\nb]\n"
              "L6 [] [x] [\"]\n");
}

static void test_parse_line_endings(void **state) {
  csv_config c = cfg_with(';', CSV_UTF8);
  (void)state;
  check_parse(&c, "a;b\r\n1;2\r\n3;4\r\n",
              "L1 [a] [b]\nL2 [1] [2]\nL3 [3] [4]\n");
  check_parse(&c, "a;b\n1;2\n3;4", "L1 [a] [b]\nL2 [1] [2]\nL3 [3] [4]\n");
  /* lone CR ends a record and a line, as in old Mac files */
  check_parse(&c, "a;b\r1;2\r3;4\r", "L1 [a] [b]\nL2 [1] [2]\nL3 [3] [4]\n");
  /* mixed, with a CR LF split over quoted and unquoted ends */
  check_parse(&c, "a;\"b\"\r\n1;2\n\"3\";4\r",
              "L1 [a] [b]\nL2 [1] [2]\nL3 [3] [4]\n");
  /* CR LF inside quotes counts one line, lone CR one, LF one */
  check_parse(&c, "\"x\r\ny\ry\nz\";1\nnext;2\n",
              "L1 [x\r\ny\ry\nz] [1]\nL5 [next] [2]\n");
}

static void test_parse_split_points(void **state) {
  csv_config c = cfg_with(';', CSV_UTF8);
  collect col = {0};
  csv_parser *p;
  size_t used;
  /* boundaries: inside a quoted field, between CR and LF, inside the
   * two bytes of 'æ' (C3 A6) and inside a doubled quote */
  static const char *parts[] = {"h1;h2\r\n\"Testvej ", "3;\"\"x\"\r", "\n\xc3",
                                "\xa6;\"a\"", "\"b\"\r\n"};
  size_t i;

  (void)state;
  assert_int_equal(csv_parser_new(&p, &c, collect_rec, &col), 0);
  for (i = 0; i < sizeof parts / sizeof *parts; i++) {
    assert_int_equal(csv_parser_feed(p, parts[i], strlen(parts[i]), &used), 0);
    assert_int_equal(used, strlen(parts[i]));
  }
  assert_int_equal(csv_parser_finish(p), 0);
  assert_string_equal(col.out.s, "L1 [h1] [h2]\n"
                                 "L2 [Testvej 3;\"x]\n"
                                 "L3 [\xc3\xa6] [a\"b]\n");
  csv_parser_free(p);
  free(col.out.s);
}

static void test_parse_delimiters(void **state) {
  csv_config c = cfg_with(',', CSV_UTF8);
  (void)state;
  check_parse(&c, "a,b;c\n1,2\n", "L1 [a] [b;c]\nL2 [1] [2]\n");
  c.delimiter = '\t';
  check_parse(&c, "a\tb,c\n1\t2\n", "L1 [a] [b,c]\nL2 [1] [2]\n");
  c.delimiter = CSV_DELIM_AUTO;
  check_parse(&c, "a;b;c\n1;2;3\n", "L1 [a] [b] [c]\nL2 [1] [2] [3]\n");
  check_parse(&c, "a,b,c\n1,2,3\n", "L1 [a] [b] [c]\nL2 [1] [2] [3]\n");
  check_parse(&c, "a\tb\tc\n1\t2\t3\n", "L1 [a] [b] [c]\nL2 [1] [2] [3]\n");
  /* candidates inside quotes do not count: two ',' outside beat three ';'
   * inside */
  check_parse(&c, "\"x;y;z;w\",b,c\n1,2,3\n",
              "L1 [x;y;z;w] [b] [c]\nL2 [1] [2] [3]\n");
  /* a tie, and no candidate at all, mean ';' */
  check_parse(&c, "a;b,c\n", "L1 [a] [b,c]\n");
  check_parse(&c, "navn\nPerson 1\n", "L1 [navn]\nL2 [Person 1]\n");
  /* detection looks past leading blank lines and handles a header that
   * has no terminator */
  check_parse(&c, "\n\r\n\ra,b", "L4 [a] [b]\n");
  check_parse(&c, "", "");
  /* Detection's rough quote toggle reads this header as running to line
   * 3, the parser sees two records in it: records ending inside the
   * held-back bytes, also with a stop after each. */
  check_parse(&c, "a\"b\nc;d\n\"\n",
              "L1 [a\"b]\nL2 [c] [d]\n"
              "L3 !unterminated_quote (quoted field 1 is not closed before "
              "the end of the file)\n");
}

static void test_parse_bom(void **state) {
  csv_config c = cfg_with(';', CSV_UTF8);
  (void)state;
  check_parse(&c,
              "\xef\xbb\xbf"
              "a;b\n1;2\n",
              "L1 [a] [b]\nL2 [1] [2]\n");
  c.delimiter = CSV_DELIM_AUTO;
  check_parse(&c,
              "\xef\xbb\xbf"
              "a,b\n1,2\n",
              "L1 [a] [b]\nL2 [1] [2]\n");
  /* only the start counts; a BOM later is text (U+FEFF is valid UTF-8) */
  c.delimiter = ';';
  check_parse(&c,
              "a;b\n\xef\xbb\xbf"
              "1;2\n",
              "L1 [a] [b]\nL2 [\xef\xbb\xbf"
              "1] [2]\n");
  /* half a BOM is data (here invalid UTF-8) */
  check_parse(&c,
              "\xef\xbb"
              "a;b\nc;d\n",
              "L1 !encoding (invalid UTF-8 byte sequence in field 1)\n"
              "L2 [c] [d]\n");
  check_parse(&c, "\xef",
              "L1 !encoding (invalid UTF-8 byte sequence in "
              "field 1)\n");
  /* windows-1252 has no BOM: the bytes are the text "ï»¿" */
  c = cfg_with(';', CSV_WINDOWS_1252);
  check_parse(&c,
              "\xef\xbb\xbf"
              "a\n",
              "L1 [\xc3\xaf\xc2\xbb\xc2\xbf"
              "a]\n");
}

static void test_parse_blank_lines(void **state) {
  csv_config c = cfg_with(';', CSV_UTF8);
  (void)state;
  check_parse(&c, "a;b\n1;2\n\n\r\n\n", "L1 [a] [b]\nL2 [1] [2]\n");
  check_parse(&c, "\n\na;b\n\n1;2\r\n\r\n3;4\n",
              "L3 [a] [b]\nL5 [1] [2]\nL7 [3] [4]\n");
  /* a lone delimiter, and a pair of quotes, are records, not blank */
  check_parse(&c, "a;b\n;\n\"\"\n", "L1 [a] [b]\nL2 [] []\nL3 []\n");
}

static void test_parse_malformed(void **state) {
  csv_config c = cfg_with(';', CSV_UTF8);
  (void)state;
  check_parse(&c,
              "a;b;c\n"
              "1;\"Testvej 3\"x;3\n"
              "4;5;6\n"
              "\"Person 1\" ;2;3\n"
              "7;8;9\n",
              "L1 [a] [b] [c]\n"
              "L2 !quote (unexpected character after the closing quote of "
              "field 2)\n"
              "L3 [4] [5] [6]\n"
              "L4 !quote (unexpected character after the closing quote of "
              "field 1)\n"
              "L5 [7] [8] [9]\n");
  /* a quote inside an unquoted field is a character */
  check_parse(&c, "a;b\n5\" skærm;x\"y\n",
              "L1 [a] [b]\nL2 [5\" skærm] [x\"y]\n");
  /* unterminated at the end: the rest of the input is one reject */
  check_parse(&c, "a;b\n1;2\n3;\"Testvej 3\n4;5\n",
              "L1 [a] [b]\nL2 [1] [2]\n"
              "L3 !unterminated_quote (quoted field 2 is not closed before "
              "the end of the file)\n");
  check_parse(&c, "\"",
              "L1 !unterminated_quote (quoted field 1 is not "
              "closed before the end of the file)\n");
  /* a closing quote right at the end is fine */
  check_parse(&c, "a;\"b\"", "L1 [a] [b]\n");
  check_parse(&c, "a;", "L1 [a] []\n");
}

static void test_parse_no_quote(void **state) {
  csv_config c = cfg_with(';', CSV_UTF8);
  (void)state;
  c.quote = CSV_NO_QUOTE;
  check_parse(&c, "\"a;b\"\n", "L1 [\"a] [b\"]\n");
  c.quote = '\'';
  check_parse(&c, "'a;b';\"c\"\n", "L1 [a;b] [\"c\"]\n");
}

static void test_parse_utf8_invalid(void **state) {
  csv_config c = cfg_with(';', CSV_UTF8);
  (void)state;
  check_parse(&c,
              "navn;by\n"
              "Person 1;K\xc3\xb8"
              "benhavn\n"
              "Person 2;K\xf8"
              "benhavn\n"                   /* latin-1 byte */
              "Person 3;\xc0\xaf\n"         /* overlong */
              "Person 4;\xed\xa0\x80\n"     /* surrogate */
              "Person 5;\xf4\x90\x80\x80\n" /* above U+10FFFF */
              "\xc3;\xa6\n"                 /* split by a delimiter */
              "Person 6;\xe2\x82\xac \xf0\x9f\x98\x80\n",
              "L1 [navn] [by]\n"
              "L2 [Person 1] [K\xc3\xb8"
              "benhavn]\n"
              "L3 !encoding (invalid UTF-8 byte sequence in field 2)\n"
              "L4 !encoding (invalid UTF-8 byte sequence in field 2)\n"
              "L5 !encoding (invalid UTF-8 byte sequence in field 2)\n"
              "L6 !encoding (invalid UTF-8 byte sequence in field 2)\n"
              "L7 !encoding (invalid UTF-8 byte sequence in field 1)\n"
              "L8 [Person 6] [\xe2\x82\xac \xf0\x9f\x98\x80]\n");
  {
    static const char nul[] = "a;b\nx\0y;z\nc;d\n";
    check_parse_n(&c, nul, sizeof nul - 1,
                  "L1 [a] [b]\nL2 !encoding (NUL byte in field 1)\n"
                  "L3 [c] [d]\n");
  }
}

static void test_utf8_valid(void **state) {
  static const struct {
    const char *s;
    int ok;
  } cases[] = {
      {"", 1},
      {"plain ascii text longer than eight", 1},
      {"\xc2\x80", 1},
      {"\xdf\xbf", 1},
      {"\xe0\xa0\x80", 1},
      {"\xef\xbf\xbf", 1},
      {"\xf0\x90\x80\x80", 1},
      {"\xf4\x8f\xbf\xbf", 1},
      {"\x80", 0},
      {"\xc1\xbf", 0},
      {"\xe0\x9f\xbf", 0},
      {"\xed\xbf\xbf", 0},
      {"\xf0\x8f\xbf\xbf", 0},
      {"\xf5\x80\x80\x80", 0},
      {"\xff", 0},
      {"abcdefgh\xc3", 0},
      {"abcdefghijklmnop\xe2\x82", 0},
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof cases / sizeof *cases; i++)
    if (csv_utf8_valid(cases[i].s, strlen(cases[i].s)) != cases[i].ok)
      fail_msg("case %zu", i);
  assert_false(csv_utf8_valid("ab\0cd", 5));
}

static void test_parse_windows_1252(void **state) {
  csv_config c = cfg_with(';', CSV_WINDOWS_1252);
  (void)state;
  check_parse(
      &c,
      "navn;by;bel\xf8"
      "b\r\n"
      "Person 1;\xe6\xf8\xe5 \xc6\xd8\xc5;\x80 5\r\n"
      "Person 2;caf\xe9;x\r\n"
      "Person 3;\x81;y\r\n" /* undefined in windows-1252 */
      "Person 4;\x9d;\x8d\r\n"
      "Person 5;ok;\x93quoted\x94\r\n",
      "L1 [navn] [by] [bel\xc3\xb8"
      "b]\n"
      "L2 [Person 1] [\xc3\xa6\xc3\xb8\xc3\xa5 \xc3\x86\xc3\x98\xc3\x85]"
      " [\xe2\x82\xac 5]\n"
      "L3 [Person 2] [caf\xc3\xa9] [x]\n"
      "L4 !encoding (byte not defined in windows-1252 in field 2)\n"
      "L5 !encoding (byte not defined in windows-1252 in field 2)\n"
      "L6 [Person 5] [ok] [\xe2\x80\x9cquoted\xe2\x80\x9d]\n");
  {
    static const char nul[] = "a;\0\n";
    check_parse_n(&c, nul, sizeof nul - 1,
                  "L1 !encoding (NUL byte in field 2)\n");
  }
}

/* Every byte of each single-byte encoding comes out as glibc's iconv
 * converts it, or is rejected where iconv refuses it: the parser's own
 * conversion table must not differ from iconv in a single byte. */
static void check_every_byte(csv_encoding enc, const char *name, const char *why) {
  csv_config c = cfg_with(';', enc);
  iconv_t cd = iconv_open("UTF-8", name);
  static char in[1100], want[8000];
  size_t il = 0, wl = 0;
  unsigned b, line = 0;

  assert_true(cd != (iconv_t)-1);
  for (b = 1; b < 256; b++) {
    char src[3] = {'a', (char)b, 'z'}, conv[16];
    char *ip = src, *op = conv;
    size_t inleft = 3, outleft = sizeof conv;

    if (b == '\n' || b == '\r' || b == ';' || b == '"')
      continue;
    memcpy(in + il, src, 3);
    il += 3;
    in[il++] = '\n';
    line++;
    if (iconv(cd, &ip, &inleft, &op, &outleft) == (size_t)-1) {
      iconv(cd, NULL, NULL, NULL, NULL);
      wl += (size_t)snprintf(want + wl, sizeof want - wl,
                             "L%u !encoding (%s in field 1)\n", line, why);
    } else {
      wl += (size_t)snprintf(want + wl, sizeof want - wl, "L%u [%.*s]\n", line,
                             (int)(sizeof conv - outleft), conv);
    }
  }
  iconv_close(cd);
  check_parse_n(&c, in, il, want);
}

static void test_parse_every_byte(void **state) {
  (void)state;
  check_every_byte(CSV_WINDOWS_1252, "WINDOWS-1252",
                   "byte not defined in windows-1252");
  check_every_byte(CSV_ISO_8859_1, "ISO-8859-1",
                   "byte not convertible from ISO 8859-1");
}

static void test_parse_iso_8859_1(void **state) {
  csv_config c = cfg_with(CSV_DELIM_AUTO, CSV_ISO_8859_1);
  (void)state;
  check_parse(&c,
              "navn,by\n"
              "Person 1,\xe6\xf8\xe5 \xc6\xd8\xc5 \xe9\n"
              "Person 2,\x80\x81\n",
              "L1 [navn] [by]\n"
              "L2 [Person 1] [\xc3\xa6\xc3\xb8\xc3\xa5 \xc3\x86\xc3\x98\xc3\x85"
              " \xc3\xa9]\n"
              "L3 [Person 2] [\xc2\x80\xc2\x81]\n");
}

static void test_parse_too_long(void **state) {
  csv_config c = cfg_with(';', CSV_UTF8);
  size_t big = 10u << 20, i;
  char *in = malloc(big + 64), *got;
  size_t n = 0, before;
  collect col = {0};
  csv_parser *p;
  size_t used;

  (void)state;
  c.max_record = 1024;
  /* exactly at the limit is fine, one byte more is not */
  memset(in, 'x', 1024);
  in[1024] = '\n';
  memset(in + 1025, 'y', 1025);
  in[2050] = '\n';
  memcpy(in + 2051, "a;b\n", 4);
  got = parse_chunked(&c, in, 2055, 100, 0);
  assert_int_equal(strncmp(got, "L1 [xxx", 7), 0);
  assert_non_null(strstr(got, "]\nL2 !record_too_long (record is longer "
                              "than the maximum of 1024 bytes)\nL3 [a] [b]\n"));
  free(got);

  /* 10 MiB in one record, in quotes and of delimiters: memory stays put */
  assert_int_equal(csv_parser_new(&p, &c, collect_rec, &col), 0);
  assert_int_equal(csv_parser_feed(p, "h\n\"", 3, &used), 0);
  before = csv_parser_memory(p);
  memset(in, 'z', big);
  for (i = 0; i < big; i += 4096)
    assert_int_equal(csv_parser_feed(p, in, 4096, &used), 0);
  assert_int_equal(csv_parser_feed(p, "\";", 2, &used), 0);
  memset(in, ';', big);
  for (i = 0; i < big; i += 4096)
    assert_int_equal(csv_parser_feed(p, in, 4096, &used), 0);
  assert_int_equal(csv_parser_feed(p, "\nok\n", 4, &used), 0);
  assert_int_equal(csv_parser_finish(p), 0);
  assert_true(csv_parser_memory(p) < before + 20 * 1024);
  assert_string_equal(col.out.s, "L1 [h]\n"
                                 "L2 !record_too_long (record is longer than "
                                 "the maximum of 1024 bytes)\n"
                                 "L3 [ok]\n");
  csv_parser_free(p);
  free(col.out.s);

  /* with detection the held-back header is bounded too */
  c.delimiter = CSV_DELIM_AUTO;
  memset(in, 'h', 5000);
  n = 5000;
  memcpy(in + n, "\na\n", 3);
  got = parse_chunked(&c, in, n + 3, 333, 0);
  assert_string_equal(got, "L1 !record_too_long (record is longer than the "
                           "maximum of 1024 bytes)\nL2 [a]\n");
  free(got);
  free(in);
}

static void test_parse_skip_lines(void **state) {
  csv_config c = cfg_with(';', CSV_UTF8);
  (void)state;
  c.skip_lines = 2;
  /* skipped lines are not parsed: an odd quote there does no harm */
  check_parse(&c, "Export \"Testvej\r\nlist, 2024\r\na;b\r\n1;2\r\n",
              "L3 [a] [b]\nL4 [1] [2]\n");
  c.delimiter = CSV_DELIM_AUTO;
  check_parse(&c,
              "\xef\xbb\xbf"
              "title\rmore\ra,b\r1,2",
              "L3 [a] [b]\nL4 [1] [2]\n");
  c.skip_lines = 5;
  check_parse(&c, "x\ny\n", "");
}

static void test_parse_config(void **state) {
  csv_config c;
  csv_parser *p;
  (void)state;
  csv_config_init(&c);
  c.quote = ';';
  assert_int_equal(csv_parser_new(&p, &c, collect_rec, NULL), CSV_EINVAL);
  c.quote = '"';
  c.max_record = 0;
  assert_int_equal(csv_parser_new(&p, &c, collect_rec, NULL), CSV_EINVAL);
  c.max_record = 1;
  c.delimiter = '\n';
  assert_int_equal(csv_parser_new(&p, &c, collect_rec, NULL), CSV_EINVAL);
  c.delimiter = CSV_DELIM_AUTO;
  c.quote = ',';
  assert_int_equal(csv_parser_new(&p, &c, collect_rec, NULL), CSV_EINVAL);
  c.quote = '"';
  assert_int_equal(csv_parser_new(&p, &c, collect_rec, NULL), 0);
  assert_int_equal(csv_parser_delimiter(p), CSV_DELIM_AUTO);
  csv_parser_free(p);
}

/* Random-ish input: parsing whole and in pieces must agree.  Tokens rather
 * than bytes, so that there are long records, whole UTF-8 characters and
 * doubled quotes as well as broken ones. */
static void test_parse_chunk_equivalence(void **state) {
  static const char *const tokens[] = {
      "a",
      "Person 1",
      ";",
      ",",
      "\t",
      "\"",
      "\"\"",
      "\r\n",
      "\n",
      "\r",
      " ",
      "\xc3\xa6",
      "\xe2\x82\xac",
      "\x80",
      "\xef\xbb\xbf",
      "Testvej 3, 2. th",
      "abcdefghijklmnopqrstuvwxyz",
  };
  char in[2000];
  uint32_t x = 12345;
  int round, enc;
  size_t n;

  (void)state;
  for (round = 0; round < 60; round++) {
    for (n = 0;;) {
      const char *t;
      x = x * 1103515245u + 12345u;
      t = tokens[(x >> 16) % (sizeof tokens / sizeof *tokens)];
      if (n + strlen(t) > sizeof in)
        break;
      memcpy(in + n, t, strlen(t));
      n += strlen(t);
    }
    for (enc = 0; enc < 3; enc++) {
      csv_config c = cfg_with(round % 2 ? CSV_DELIM_AUTO : ';', enc);
      char *whole;
      c.max_record = 40 + (size_t)round * 4;
      c.skip_lines = (uint64_t)(round % 3);
      whole = parse_chunked(&c, in, n, 0, 0);
      check_parse_n(&c, in, n, whole);
      free(whole);
    }
  }
}

/* ---- glue harness ------------------------------------------------------
 */

/* One run of the plugin through the shared test host (plugin_host.h). */
typedef ph_run run;

static void run_init(run *r) {
  ph_run_init(r, samspor_plugin_descriptor());
}

/* Point url at ph_tmpdir/name. */
static void run_url(run *r, const char *name) {
  snprintf(r->url, sizeof r->url, "%s/%s", ph_tmpdir, name);
  ph_run_set(r, "url", r->url);
}

static const char *const three_fields[] = {"cpr", "navn", "adresse"};

/* ---- glue tests --------------------------------------------------------
 */

static void test_plugin_descriptor(void **state) {
  const samspor_plugin *pl = samspor_plugin_descriptor();
  const samspor_option *o;
  (void)state;
  assert_int_equal(pl->struct_size, sizeof(samspor_plugin));
  assert_int_equal(pl->abi_version, SAMSPOR_ABI_VERSION);
  assert_string_equal(pl->name, "csv");
  assert_non_null(pl->open);
  assert_non_null(pl->read);
  assert_non_null(pl->close);
  assert_non_null(pl->check);
  for (o = pl->source_options; o->name; o++) {
    assert_non_null(o->help);
    assert_true(strlen(o->help) > 20);
    if (o->type == SAMSPOR_OPT_ENUM)
      assert_non_null(strstr(o->choices, o->def));
  }
  assert_null(pl->stream_options[0].name);
}

static void test_plugin_basic(void **state) {
  /* header with padding and odd case; CRLF; BOM; quotes; empty fields */
  static const char *const fields[] = {" cpr ", "NAVN", "3", "note"};
  run r;
  (void)state;
  ph_write_text("unge_1.csv",
                "\xef\xbb\xbf"
                " cpr ;navn;Adresse;note\r\n"
                "0101001234;Person 1;\"Testvej 3; 2. th\";\r\n"
                "0101001235;\"Person \"\"2\"\"\";Testvej 4;\"\"\r\n"
                "\r\n"
                "0101001236;Person 3;\"Testvej\n5\";x\r\n");
  run_init(&r);
  run_url(&r, "unge_1.csv");
  ph_run_plugin(&r, fields, 4);
  assert_int_equal(r.open_rc, 0);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data,
                      "unge_1.csv:2 |0101001234 |Person 1 |Testvej 3; 2. th "
                      "<null>\n"
                      "unge_1.csv:3 |0101001235 |Person \"2\" |Testvej 4 "
                      "<null>\n"
                      "unge_1.csv:5 |0101001236 |Person 3 |Testvej\n5 |x\n");
  assert_non_null(r.sink.state);
  assert_int_equal(
      strncmp(r.sink.state, "[{\"name\":\"unge_1.csv\",\"size\":", 29), 0);
  ph_run_free(&r);
}

static void test_plugin_rejects(void **state) {
  run r;
  (void)state;
  ph_write_text("rej.csv", "cpr;navn;adresse\n"
                           "0101001234;Person 1;Testvej 1\n"
                           "0101001235;Person 2\n"
                           "0101001236;Person 3;Testvej 3;extra\n"
                           "0101001237;Person \xff;Testvej 4\n"
                           "0101001238;\"Person\"5;Testvej 5\n"
                           "0101001239;Person 6;Testvej 6\n"
                           "0101001240;\"Person 7;Testvej 7\n");
  run_init(&r);
  run_url(&r, "rej.csv");
  ph_run_plugin(&r, three_fields, 3);
  assert_int_equal(r.open_rc, 0);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(
      r.sink.out.data,
      "rej.csv:2 |0101001234 |Person 1 |Testvej 1\n"
      "rej.csv:3 REJECT field_count: record has 2 fields, header has 3\n"
      "rej.csv:4 REJECT field_count: record has 4 fields, header has 3\n"
      "rej.csv:5 REJECT encoding: invalid UTF-8 byte sequence in field 2\n"
      "rej.csv:6 REJECT quote: unexpected character after the closing quote "
      "of field 2\n"
      "rej.csv:7 |0101001239 |Person 6 |Testvej 6\n"
      "rej.csv:8 REJECT unterminated_quote: quoted field 2 is not closed "
      "before the end of the file\n");
  ph_run_free(&r);
}

static void test_plugin_too_long(void **state) {
  size_t n = 5000;
  char *data = malloc(n + 100);
  run r;
  (void)state;
  strcpy(data, "cpr;navn\n");
  memset(data + 9, 'x', n);
  strcpy(data + 9 + n, ";y\n1;2\n");
  ph_write_file("long.csv", data, strlen(data), 0);
  free(data);
  run_init(&r);
  run_url(&r, "long.csv");
  ph_run_set(&r, "max_record_size", "1024");
  ph_run_plugin(&r, three_fields, 2);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data,
                      "long.csv:2 REJECT record_too_long: record is longer "
                      "than the maximum of 1024 bytes\n"
                      "long.csv:3 |1 |2\n");
  ph_run_free(&r);
}

static void test_plugin_missing_field(void **state) {
  static const char *const fields[] = {"cpr", "status"};
  static const char *const beyond[] = {"cpr", "9"};
  run r;
  (void)state;
  ph_write_text("miss.csv", "cpr;navn\n0101001234;Person 1\n");
  run_init(&r);
  run_url(&r, "miss.csv");
  ph_run_plugin(&r, fields, 2);
  assert_int_equal(r.open_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "'status'"));
  assert_non_null(strstr(r.ctx.error, "miss.csv"));
  ph_run_free(&r);

  run_init(&r);
  run_url(&r, "miss.csv");
  ph_run_plugin(&r, beyond, 2);
  assert_int_equal(r.open_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "field 9"));
  ph_run_free(&r);

  /* a file with no header at all must not have its first line quoted */
  ph_write_text("nohead.csv", "0101001234;Person 1;Testvej 1\n");
  run_init(&r);
  run_url(&r, "nohead.csv");
  ph_run_plugin(&r, three_fields, 3);
  assert_int_equal(r.open_rc, SAMSPOR_EINVAL);
  ph_run_free(&r);

  /* a name twice is ambiguous */
  ph_write_text("dup.csv", "cpr;navn;CPR\n");
  run_init(&r);
  run_url(&r, "dup.csv");
  ph_run_plugin(&r, three_fields, 1);
  assert_int_equal(r.open_rc, 0); /* exact match wins over case */
  ph_run_free(&r);
  ph_write_text("dup2.csv", "cpr;navn;cpr\n");
  run_init(&r);
  run_url(&r, "dup2.csv");
  ph_run_plugin(&r, three_fields, 1);
  assert_int_equal(r.open_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "columns 1 and 3"));
  ph_run_free(&r);
}

static void test_plugin_header_false(void **state) {
  static const char *const pos[] = {"3", " 1"};
  static const char *const names[] = {"cpr"};
  static const char *const far[] = {"4"};
  run r;
  (void)state;
  ph_write_text("pos.csv", "0101001234,Person 1,Testvej 1\n"
                           "0101001235,Person 2\n"
                           "0101001236,Person 3,Testvej 3\n");
  run_init(&r);
  run_url(&r, "pos.csv");
  ph_run_set(&r, "header", "false");
  ph_run_set(&r, "delimiter", ",");
  ph_run_plugin(&r, pos, 2);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data,
                      "pos.csv:1 |Testvej 1 |0101001234\n"
                      "pos.csv:2 REJECT field_count: record has 2 fields, "
                      "the first record has 3\n"
                      "pos.csv:3 |Testvej 3 |0101001236\n");
  ph_run_free(&r);

  run_init(&r);
  run_url(&r, "pos.csv");
  ph_run_set(&r, "header", "false");
  ph_run_plugin(&r, names, 1);
  assert_int_equal(r.open_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "1-based position"));
  ph_run_free(&r);

  run_init(&r);
  run_url(&r, "pos.csv");
  ph_run_set(&r, "header", "false");
  ph_run_set(&r, "delimiter", ",");
  ph_run_plugin(&r, far, 1);
  assert_int_equal(r.open_rc, 0);
  assert_int_equal(r.read_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "field 4 is requested"));
  ph_run_free(&r);
}

static void test_plugin_delimiters(void **state) {
  static const char *const delims[][2] = {
      {",", "a,b\n1,2\n"},      {"\t", "a\tb\n1\t2\n"}, {"tab", "a\tb\n1\t2\n"},
      {"auto", "a\tb\n1\t2\n"}, {"auto", "a,b\n1,2\n"}, {";", "a;b\n1;2\n"},
  };
  static const char *const fields[] = {"b", "a"};
  size_t i;
  (void)state;
  for (i = 0; i < sizeof delims / sizeof *delims; i++) {
    run r;
    ph_write_text("d.csv", delims[i][1]);
    run_init(&r);
    run_url(&r, "d.csv");
    ph_run_set(&r, "delimiter", delims[i][0]);
    ph_run_plugin(&r, fields, 2);
    assert_int_equal(r.read_rc, 0);
    assert_string_equal(r.sink.out.data, "d.csv:2 |2 |1\n");
    ph_run_free(&r);
  }
}

static void test_plugin_skip_lines(void **state) {
  static const char *const fields[] = {"b"};
  run r;
  (void)state;
  ph_write_text("skip.csv", "Export from Testvej\r\n\r\na,b\r\n1,2\r\n");
  run_init(&r);
  run_url(&r, "skip.csv");
  ph_run_set(&r, "skip_lines", "2");
  ph_run_set(&r, "delimiter", "auto");
  ph_run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "skip.csv:4 |2\n");
  ph_run_free(&r);
}

static void test_plugin_encodings(void **state) {
  static const char *const fields[] = {"by", "bel\xc3\xb8"
                                             "b"};
  run r;
  (void)state;
  ph_write_text("w.csv", "navn;by;bel\xf8"
                         "b\r\n"
                         "Person 1;\xc6r\xf8;\x80 5\r\n"
                         "Person 2;\x8f;1\r\n"
                         "Person 3;caf\xe9;2\r\n");
  run_init(&r);
  run_url(&r, "w.csv");
  ph_run_set(&r, "encoding", "windows-1252");
  ph_run_plugin(&r, fields, 2);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data,
                      "w.csv:2 |\xc3\x86r\xc3\xb8 |\xe2\x82\xac 5\n"
                      "w.csv:3 REJECT encoding: byte not defined in "
                      "windows-1252 in field 2\n"
                      "w.csv:4 |caf\xc3\xa9 |2\n");
  ph_run_free(&r);

  run_init(&r);
  run_url(&r, "w.csv");
  ph_run_set(&r, "encoding", "iso-8859-1");
  ph_run_plugin(&r, fields, 2);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data,
                      "w.csv:2 |\xc3\x86r\xc3\xb8 |\xc2\x80 5\n"
                      "w.csv:3 |\xc2\x8f |1\n"
                      "w.csv:4 |caf\xc3\xa9 |2\n");
  ph_run_free(&r);
}

static void test_plugin_gzip(void **state) {
  static const char text[] = "cpr;navn\n0101001234;Person 1\n"
                             "0101001235;Person 2\n";
  char big[40000];
  char path[300];
  gzFile gz;
  struct stat st;
  size_t i, n = 0;
  run r;
  (void)state;

  snprintf(path, sizeof path, "%s/g.csv.gz", ph_tmpdir);
  gz = gzopen(path, "wb");
  assert_non_null(gz);
  assert_int_equal(gzwrite(gz, text, sizeof text - 1), (int)sizeof text - 1);
  assert_int_equal(gzclose(gz), Z_OK);
  run_init(&r);
  run_url(&r, "g.csv.gz");
  ph_run_plugin(&r, three_fields, 2);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "g.csv.gz:2 |0101001234 |Person 1\n"
                                       "g.csv.gz:3 |0101001235 |Person 2\n");
  assert_int_equal(stat(path, &st), 0);
  assert_non_null(strstr(r.sink.state, "\"name\":\"g.csv.gz\""));
  ph_run_free(&r);

  /* gzip without the suffix is found by its magic bytes */
  assert_int_equal(rename(path, strcat(strcpy(big, ph_tmpdir), "/gz.csv")), 0);
  run_init(&r);
  run_url(&r, "gz.csv");
  ph_run_plugin(&r, three_fields, 1);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "gz.csv:2 |0101001234\n"
                                       "gz.csv:3 |0101001235\n");
  ph_run_free(&r);

  /* truncated: an error, not a silent short read */
  n = (size_t)snprintf(big, sizeof big, "cpr;navn\n");
  for (i = 0; n < sizeof big - 40; i++)
    n += (size_t)snprintf(big + n, sizeof big - n, "%zu;Person %zu\n", i, i);
  gz = gzopen(path, "wb");
  assert_non_null(gz);
  assert_int_equal(gzwrite(gz, big, (unsigned)n), (int)n);
  assert_int_equal(gzclose(gz), Z_OK);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(truncate(path, st.st_size / 2), 0);
  run_init(&r);
  run_url(&r, "g.csv.gz");
  ph_run_plugin(&r, three_fields, 1);
  assert_int_equal(r.open_rc, 0);
  assert_int_equal(r.read_rc, SAMSPOR_EDATA);
  assert_non_null(strstr(r.ctx.error, "g.csv.gz"));
  ph_run_free(&r);
}

static void test_plugin_glob(void **state) {
  static const char *const fields[] = {"navn", "cpr"};
  run r;
  (void)state;
  assert_int_equal(mkdir(strcat(strcpy((char[300]){0}, ph_tmpdir), "/g"), 0700),
                   0);
  /* the newest by mtime is not the last by name; columns move around */
  ph_write_file("g/unge_1.csv", "cpr;navn\n1;Person 1\n", 20, 1700000100);
  ph_write_file("g/unge_2.csv", "navn;x;cpr\nPerson 2;-;2\n", 24, 1700000300);
  ph_write_file("g/unge_3.csv", "cpr;navn\n3;Person 3\n", 20, 1700000200);
  assert_int_equal(
      mkdir(strcat(strcpy((char[300]){0}, ph_tmpdir), "/g/unge_dir.csv"), 0700),
      0);

  run_init(&r);
  run_url(&r, "g/unge_*.csv");
  ph_run_plugin(&r, fields, 2);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "unge_2.csv:2 |Person 2 |2\n");
  assert_string_equal(r.sink.state, "[{\"name\":\"unge_2.csv\",\"size\":24,"
                                    "\"mtime\":1700000300}]");
  ph_run_free(&r);

  run_init(&r);
  run_url(&r, "g/unge_*.csv");
  ph_run_set(&r, "files", "all");
  ph_run_plugin(&r, fields, 2);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "unge_1.csv:2 |Person 1 |1\n"
                                       "unge_2.csv:2 |Person 2 |2\n"
                                       "unge_3.csv:2 |Person 3 |3\n");
  assert_string_equal(r.sink.state,
                      "[{\"name\":\"unge_1.csv\",\"size\":20,\"mtime\":"
                      "1700000100},{\"name\":\"unge_2.csv\",\"size\":24,"
                      "\"mtime\":1700000300},{\"name\":\"unge_3.csv\","
                      "\"size\":20,\"mtime\":1700000200}]");
  ph_run_free(&r);

  /* every file must have the header */
  ph_write_file("g/unge_4.csv", "cpr;status\n4;x\n", 15, 1700000000);
  run_init(&r);
  run_url(&r, "g/unge_*.csv");
  ph_run_set(&r, "files", "all");
  ph_run_plugin(&r, fields, 2);
  assert_int_equal(r.open_rc, 0);
  assert_int_equal(r.read_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "unge_4.csv"));
  assert_non_null(strstr(r.ctx.error, "'navn'"));
  ph_run_free(&r);

  run_init(&r);
  run_url(&r, "g/nothing_*.csv");
  ph_run_plugin(&r, fields, 2);
  assert_int_equal(r.open_rc, SAMSPOR_ENOENT);
  assert_non_null(strstr(r.ctx.error, "nothing_*.csv"));
  ph_run_free(&r);
}

static void test_plugin_url_errors(void **state) {
  static const struct {
    const char *url;
    int rc;
    const char *says;
  } cases[] = {
      {"http://example.invalid/x.csv", SAMSPOR_EINVAL, "https://"},
      {"sftp://example.invalid/x.csv", SAMSPOR_EINVAL, "known_hosts_file"},
      {"gopher://example.invalid/x.csv", SAMSPOR_EINVAL, "scheme"},
      {"file://otherhost/x.csv", SAMSPOR_EINVAL, "absolute path"},
      {"/nonexistent-dir-samspor/x.csv", SAMSPOR_ENOENT, "x.csv"},
      {"/nonexistent-dir-*/x.csv", SAMSPOR_EINVAL, "last path segment"},
      {"/nonexistent-dir-samspor/x_*.csv", SAMSPOR_ENOENT, "No such file"},
      {"", SAMSPOR_EINVAL, "url"},
  };
  size_t i;
  (void)state;
  for (i = 0; i < sizeof cases / sizeof *cases; i++) {
    run r;
    run_init(&r);
    ph_run_set(&r, "url", cases[i].url);
    ph_run_plugin(&r, three_fields, 1);
    if (r.open_rc != cases[i].rc || !strstr(r.ctx.error, cases[i].says))
      fail_msg("%s: rc %d, error '%s'", cases[i].url, r.open_rc, r.ctx.error);
    ph_run_free(&r);
  }
}

static void test_plugin_bad_options(void **state) {
  static const char *const bad[][2] = {
      {"delimiter", "\xc3\xa9"},
      {"delimiter", ";;"},
      {"quote", ";"},
      {"delimiter", "\""},
      {"quote", "ab"},
      {"encoding", "utf-16"},
      {"files", "oldest"},
      {"max_record_size", "10"},
      {"skip_lines", "-1"},
  };
  size_t i;
  (void)state;
  ph_write_text("opt.csv", "a\n");
  for (i = 0; i < sizeof bad / sizeof *bad; i++) {
    run r;
    run_init(&r);
    run_url(&r, "opt.csv");
    ph_run_set(&r, bad[i][0], bad[i][1]);
    ph_run_plugin(&r, three_fields, 0);
    if (r.open_rc != SAMSPOR_EINVAL || !strstr(r.ctx.error, bad[i][0]))
      fail_msg("%s = %s: rc %d, error '%s'", bad[i][0], bad[i][1], r.open_rc,
               r.ctx.error);
    ph_run_free(&r);
  }
}

static void test_plugin_file_url(void **state) {
  static const char *const fields[] = {"a"};
  char url[400];
  run r;
  (void)state;
  ph_write_text("with space.csv", "a\n1\n");
  snprintf(url, sizeof url, "file://%s/with%%20space.csv", ph_tmpdir);
  run_init(&r);
  ph_run_set(&r, "url", url);
  ph_run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "with space.csv:2 |1\n");
  ph_run_free(&r);
}

static void test_plugin_empty_file(void **state) {
  static const char *const fields[] = {"1"};
  run r;
  (void)state;
  ph_write_text("empty.csv", "\r\n\n");
  run_init(&r);
  run_url(&r, "empty.csv");
  ph_run_plugin(&r, three_fields, 1);
  assert_int_equal(r.open_rc, SAMSPOR_EDATA);
  assert_non_null(strstr(r.ctx.error, "no header"));
  ph_run_free(&r);

  /* without a header an empty file is just no records */
  run_init(&r);
  run_url(&r, "empty.csv");
  ph_run_set(&r, "header", "false");
  ph_run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "");
  ph_run_free(&r);

  /* a header-only file without a newline: still being written ... */
  ph_write_text("head.csv", "cpr;navn");
  run_init(&r);
  run_url(&r, "head.csv");
  ph_run_plugin(&r, three_fields, 2);
  assert_int_equal(r.open_rc, SAMSPOR_ETEMP);
  assert_non_null(strstr(r.ctx.error, "no line break"));
  ph_run_free(&r);

  /* ... unless the source says its files may end so: no records */
  run_init(&r);
  run_url(&r, "head.csv");
  ph_run_set(&r, "final_newline", "optional");
  ph_run_plugin(&r, three_fields, 2);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "");
  ph_run_free(&r);

  /* zero bytes, just written: an export starting over (temporary) */
  ph_write_text("zero.csv", "");
  run_init(&r);
  run_url(&r, "zero.csv");
  ph_run_plugin(&r, three_fields, 1);
  assert_int_equal(r.open_rc, SAMSPOR_ETEMP);
  assert_non_null(strstr(r.ctx.error, "empty"));
  ph_run_free(&r);

  /* zero bytes for longer than the settle time (5 minutes by default,
   * else min_age): a broken export */
  ph_write_file("zero.csv", "", 0, time(NULL) - 301);
  run_init(&r);
  run_url(&r, "zero.csv");
  ph_run_plugin(&r, three_fields, 1);
  assert_int_equal(r.open_rc, SAMSPOR_EDATA);
  assert_non_null(strstr(r.ctx.error, "no header"));
  ph_run_free(&r);

  ph_write_file("zero.csv", "", 0, time(NULL) - 400);
  run_init(&r);
  run_url(&r, "zero.csv");
  ph_run_set(&r, "min_age", "10m");
  ph_run_plugin(&r, three_fields, 1);
  assert_int_equal(r.open_rc, SAMSPOR_ETEMP);
  assert_non_null(strstr(r.ctx.error, "min_age"));
  ph_run_free(&r);
}

/* A file caught mid-write: its last line cut inside its last field. */
static void test_plugin_cut_last_line(void **state) {
  run r;
  (void)state;
  ph_write_text("cut.csv", "cpr;navn;adresse\n1;a;b\n2;a;4994,");
  run_init(&r);
  run_url(&r, "cut.csv");
  ph_run_plugin(&r, three_fields, 3);
  assert_int_equal(r.read_rc, SAMSPOR_ETEMP);
  assert_non_null(strstr(r.ctx.error, "no line break"));
  assert_null(strstr(r.ctx.error, "4994"));
  ph_run_free(&r);

  /* the same through gzip: the check is on the inflated text */
  {
    char path[512];
    gzFile gz;
    snprintf(path, sizeof path, "%s/cut.csv.gz", ph_tmpdir);
    gz = gzopen(path, "wb");
    assert_non_null(gz);
    assert_true(gzputs(gz, "cpr;navn;adresse\n1;a;b\n2;a;4994,") > 0);
    assert_int_equal(gzclose(gz), Z_OK);
  }
  run_init(&r);
  run_url(&r, "cut.csv.gz");
  ph_run_plugin(&r, three_fields, 3);
  assert_int_equal(r.read_rc, SAMSPOR_ETEMP);
  ph_run_free(&r);

  /* min_age: a file modified 1 s ago is not read yet */
  ph_write_text("fresh.csv", "cpr;navn;adresse\n1;a;b\n");
  run_init(&r);
  run_url(&r, "fresh.csv");
  ph_run_set(&r, "min_age", "2m");
  ph_run_plugin(&r, three_fields, 3);
  assert_int_equal(r.open_rc, SAMSPOR_ETEMP);
  assert_non_null(strstr(r.ctx.error, "min_age"));
  ph_run_free(&r);

  ph_write_file("fresh.csv", "cpr;navn;adresse\n1;a;b\n",
                strlen("cpr;navn;adresse\n1;a;b\n"), time(NULL) - 121);
  run_init(&r);
  run_url(&r, "fresh.csv");
  ph_run_set(&r, "min_age", "2m");
  ph_run_plugin(&r, three_fields, 3);
  assert_int_equal(r.read_rc, 0);
  ph_run_free(&r);
}

static void test_plugin_stop(void **state) {
  run r;
  (void)state;
  ph_write_text("stop.csv", "cpr\n1\n2\n3\n4\n");
  run_init(&r);
  run_url(&r, "stop.csv");
  r.sink.stop_after = 2;
  ph_run_plugin(&r, three_fields, 1);
  assert_int_equal(r.read_rc, -42);
  assert_string_equal(r.sink.out.data, "stop.csv:2 |1\nstop.csv:3 |2\n");
  assert_null(r.sink.state);
  ph_run_free(&r);
}

/* A file bigger than the read buffer, header after a pause inside the
 * first chunk, detection and CRLF across reads: all records arrive. */
static void test_plugin_big_file(void **state) {
  static const char *const fields[] = {"id", "note"};
  size_t cap = 3u << 20, n = 0, i;
  char *data = malloc(cap);
  run r;
  (void)state;
  n += (size_t)snprintf(data, cap, "id,navn,note\r\n");
  for (i = 1; n < cap - 200; i++)
    n += (size_t)snprintf(data + n, cap - n,
                          "%zu,Person %zu,\"a, \"\"b\"\"\r\nc\"\r\n", i, i);
  ph_write_file("big.csv", data, n, 0);
  free(data);
  run_init(&r);
  run_url(&r, "big.csv");
  ph_run_set(&r, "delimiter", "auto");
  ph_run_plugin(&r, fields, 2);
  assert_int_equal(r.read_rc, 0);
  {
    static const char first[] = "big.csv:2 |1 |a, \"b\"\r\nc\n";
    assert_int_equal(strncmp(r.sink.out.data, first, sizeof first - 1), 0);
  }
  {
    char last[100];
    snprintf(last, sizeof last, "big.csv:%zu |%zu |a, \"b\"\r\nc\n",
             2 * (i - 1), i - 1);
    assert_string_equal(r.sink.out.data + r.sink.out.len - strlen(last), last);
  }
  ph_run_free(&r);
}

static void test_plugin_corrupt_gzip(void **state) {
  char big[60000], path[300];
  size_t n = 0, i;
  gzFile gz;
  FILE *f;
  long len;
  run r;
  (void)state;

  n = (size_t)snprintf(big, sizeof big, "cpr;navn\n");
  for (i = 0; n < sizeof big - 40; i++)
    n += (size_t)snprintf(big + n, sizeof big - n, "%zu;Person %zu\n",
                          i * 7919 % 100003, i);
  snprintf(path, sizeof path, "%s/bad.csv.gz", ph_tmpdir);
  gz = gzopen(path, "wb");
  assert_non_null(gz);
  assert_int_equal(gzwrite(gz, big, (unsigned)n), (int)n);
  assert_int_equal(gzclose(gz), Z_OK);
  /* overwrite the middle of the deflate data */
  f = fopen(path, "r+b");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  len = ftell(f);
  assert_int_equal(fseek(f, len / 2, SEEK_SET), 0);
  for (i = 0; i < 64; i++)
    fputc(0xff, f);
  assert_int_equal(fclose(f), 0);

  run_init(&r);
  run_url(&r, "bad.csv.gz");
  ph_run_plugin(&r, three_fields, 1);
  /* open() reads the first chunk for the header, which may already hit
   * the damage */
  assert_int_equal(r.open_rc ? r.open_rc : r.read_rc, SAMSPOR_EDATA);
  assert_non_null(strstr(r.ctx.error, "bad.csv.gz"));
  assert_non_null(strstr(r.ctx.error, "gzip"));
  assert_null(r.sink.state);
  ph_run_free(&r);
}

static void test_plugin_bad_header(void **state) {
  run r;
  (void)state;
  ph_write_text("badhead.csv", "cpr;n\xe6vn\n1;Person 1\n");
  run_init(&r);
  run_url(&r, "badhead.csv");
  ph_run_plugin(&r, three_fields, 1);
  assert_int_equal(r.open_rc, SAMSPOR_EDATA);
  assert_non_null(strstr(r.ctx.error, "badhead.csv:1"));
  assert_non_null(strstr(r.ctx.error, "header"));
  assert_non_null(strstr(r.ctx.error, "(encoding)"));
  ph_run_free(&r);
}

static void test_plugin_odd_names(void **state) {
  static const char *const fields[] = {"a"};
  char url[300];
  run r;
  (void)state;
  /* a quote, a backslash and a byte that is not UTF-8 in the name: the
   * state must still be valid JSON */
  ph_write_text("we\"ird\\x\xff.csv", "a\n1\n");
  run_init(&r);
  run_url(&r, "we\"ird\\x\xff.csv");
  ph_run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, 0);
  {
    static const char want[] =
        "[{\"name\":\"we\\\"ird\\\\x\\u00ff.csv\",\"size\":4,";
    assert_int_equal(strncmp(r.sink.state, want, sizeof want - 1), 0);
  }
  ph_run_free(&r);

  /* a directory is not a file */
  run_init(&r);
  ph_run_set(&r, "url", ph_tmpdir);
  ph_run_plugin(&r, fields, 1);
  assert_int_equal(r.open_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "not a regular file"));
  ph_run_free(&r);

  /* a broken %-escape */
  snprintf(url, sizeof url, "file://%s/x%%zz.csv", ph_tmpdir);
  run_init(&r);
  ph_run_set(&r, "url", url);
  ph_run_plugin(&r, fields, 1);
  assert_int_equal(r.open_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "escape"));
  ph_run_free(&r);
}

static void test_plugin_check(void **state) {
  const samspor_plugin *pl = samspor_plugin_descriptor();
  samspor_check_args a = {.struct_size = sizeof a, .host = &ph_host};
  run r;
  (void)state;
  ph_write_text("chk.csv", "a\n");
  run_init(&r);
  run_url(&r, "chk.csv");
  a.ctx = PH_CTX(&r.ctx);
  a.source = PH_SETTINGS(&r.source);
  assert_int_equal(pl->check(&a), 0);
  ph_run_free(&r);

  run_init(&r);
  run_url(&r, "chk_missing_*.csv");
  a.ctx = PH_CTX(&r.ctx);
  a.source = PH_SETTINGS(&r.source);
  assert_int_equal(pl->check(&a), SAMSPOR_ENOENT);
  ph_run_free(&r);

  run_init(&r);
  ph_run_set(&r, "url", "sftp://example.invalid/x.csv");
  a.ctx = PH_CTX(&r.ctx);
  a.source = PH_SETTINGS(&r.source);
  assert_int_equal(pl->check(&a), SAMSPOR_EINVAL);
  ph_run_free(&r);
}

/* The core's stream options the plugin may read (the stream's mode). */
static const samspor_option stream_core_options[] = {
    {.name = "mode",
     .type = SAMSPOR_OPT_ENUM,
     .def = "full_refresh",
     .choices = "full_refresh|append|incremental_dedup",
     .help = "the stream's load mode"},
    {.name = NULL}};

/* A run over ph_tmpdir/pattern (files = all) in `mode` with stored `state`. */
static void run_mode(run *r, const char *pattern, const char *mode,
                     const char *state) {
  static const char *const fields[] = {"a"};
  run_init(r);
  r->stream.table = stream_core_options;
  r->stream.names[0] = "mode";
  r->stream.values[0] = mode;
  r->stream.n = 1;
  run_url(r, pattern);
  ph_run_set(r, "files", "all");
  r->state = state;
  ph_run_plugin(r, fields, 1);
}

/* Append mode: a file loaded before (same name, size, mtime) is skipped;
 * new and changed files are read; the state keeps them all. */
static void test_plugin_append_skips_loaded(void **state) {
  char *s1, *s2;
  run r;
  (void)state;
  assert_int_equal(
      mkdir(strcat(strcpy((char[300]){0}, ph_tmpdir), "/ap"), 0700), 0);
  ph_write_file("ap/a_1.csv", "a\n1\n", 4, 1700000100);
  ph_write_file("ap/a_2.csv", "a\n2\n", 4, 1700000200);
  ph_write_file("ap/a_\xff.csv", "a\n9\n", 4, 1700000300);

  run_mode(&r, "ap/a_*.csv", "append", NULL);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "a_1.csv:2 |1\na_2.csv:2 |2\n"
                                       "a_\xff.csv:2 |9\n");
  s1 = strdup(r.sink.state);
  ph_run_free(&r);

  /* the same files again: nothing read, the state unchanged */
  run_mode(&r, "ap/a_*.csv", "append", s1);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "");
  assert_string_equal(r.sink.state, s1);
  ph_run_free(&r);

  /* a new file and a changed one are read; the state names all four */
  ph_write_file("ap/a_3.csv", "a\n3\n", 4, 1700000400);
  ph_write_file("ap/a_1.csv", "a\n1\n10\n", 7, 1700000100);
  run_mode(&r, "ap/a_*.csv", "append", s1);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "a_1.csv:2 |1\na_1.csv:3 |10\n"
                                       "a_3.csv:2 |3\n");
  assert_string_equal(
      r.sink.state,
      "[{\"name\":\"a_2.csv\",\"size\":4,\"mtime\":1700000200},"
      "{\"name\":\"a_\\u00ff.csv\",\"size\":4,\"mtime\":1700000300},"
      "{\"name\":\"a_1.csv\",\"size\":7,\"mtime\":1700000100},"
      "{\"name\":\"a_3.csv\",\"size\":4,\"mtime\":1700000400}]");
  s2 = strdup(r.sink.state);
  ph_run_free(&r);

  run_mode(&r, "ap/a_*.csv", "append", s2);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "");
  ph_run_free(&r);

  /* other modes read everything, and --full does too */
  run_mode(&r, "ap/a_*.csv", "full_refresh", s2);
  assert_int_equal(r.read_rc, 0);
  assert_int_equal(strlen(r.sink.out.data),
                   strlen("a_1.csv:2 |1\na_1.csv:3 "
                          "|10\na_2.csv:2 |2\na_3.csv:2 "
                          "|3\na_\xff.csv:2 |9\n"));
  ph_run_free(&r);
  r.full = 1;
  run_mode(&r, "ap/a_*.csv", "append", s2);
  ph_run_free(&r);

  /* a state csv did not write is refused rather than guessed at */
  run_mode(&r, "ap/a_*.csv", "append", "[{\"name\": 3}]");
  assert_int_equal(r.open_rc, SAMSPOR_EDATA);
  assert_non_null(strstr(r.ctx.error, "sync_state"));
  ph_run_free(&r);
  run_mode(&r, "ap/a_*.csv", "append", "[{\"name\":\"a_1.csv\"");
  assert_int_equal(r.open_rc, SAMSPOR_EDATA);
  ph_run_free(&r);
  /* (an empty list with more after it once came out as out of memory) */
  run_mode(&r, "ap/a_*.csv", "append", "[] x");
  assert_int_equal(r.open_rc, SAMSPOR_EDATA);
  assert_non_null(strstr(r.ctx.error, "sync_state"));
  ph_run_free(&r);
  /* whitespace and unknown keys are fine */
  run_mode(&r, "ap/a_*.csv", "append",
           " [ { \"size\" : 4 , \"x\":\"y\", \"mtime\": 1700000400, "
           "\"name\": \"a_3.csv\" } ] ");
  assert_int_equal(r.read_rc, 0);
  assert_null(strstr(r.sink.out.data, "a_3.csv"));
  ph_run_free(&r);
  free(s1);
  free(s2);
}

/* The append state keeps only the last 1000 files. */
static void test_plugin_append_state_bounded(void **state) {
  size_t cap = 1000 * 64 + 16, n = 0, i, count = 0;
  char *big = malloc(cap);
  const char *p;
  run r;
  (void)state;
  assert_int_equal(
      mkdir(strcat(strcpy((char[300]){0}, ph_tmpdir), "/bd"), 0700), 0);
  ph_write_file("bd/new.csv", "a\n1\n", 4, 1700000100);
  n += (size_t)snprintf(big + n, cap - n, "[");
  for (i = 0; i < 1000; i++)
    n += (size_t)snprintf(big + n, cap - n,
                          "%s{\"name\":\"old_%zu.csv\",\"size\":1,"
                          "\"mtime\":1}",
                          i ? "," : "", i);
  snprintf(big + n, cap - n, "]");
  run_mode(&r, "bd/*.csv", "append", big);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "new.csv:2 |1\n");
  for (p = r.sink.state; (p = strstr(p, "\"name\"")) != NULL; p++)
    count++;
  assert_int_equal(count, 1000);
  assert_null(strstr(r.sink.state, "\"old_0.csv\""));
  assert_non_null(strstr(r.sink.state, "[{\"name\":\"old_1.csv\""));
  assert_non_null(strstr(r.sink.state, "\"new.csv\""));
  ph_run_free(&r);
  free(big);
}

/* A file of two gzip members (cat a.gz b.gz) is read whole. */
static void test_plugin_gzip_members(void **state) {
  static const char *const fields[] = {"a"};
  char path[300];
  gzFile gz;
  FILE *f;
  run r;
  (void)state;
  snprintf(path, sizeof path, "%s/m.csv.gz", ph_tmpdir);
  gz = gzopen(path, "wb");
  assert_non_null(gz);
  assert_int_equal(gzputs(gz, "a\n1\n"), 4);
  assert_int_equal(gzclose(gz), Z_OK);
  f = fopen(path, "ab");
  assert_non_null(f);
  gz = gzdopen(fileno(f), "ab");
  assert_non_null(gz);
  assert_int_equal(gzputs(gz, "2\n"), 2);
  assert_int_equal(gzclose(gz), Z_OK);
  run_init(&r);
  run_url(&r, "m.csv.gz");
  ph_run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "m.csv.gz:2 |1\nm.csv.gz:3 |2\n");
  ph_run_free(&r);
}

int main(void) {
  const struct CMUnitTest parser_tests[] = {
      cmocka_unit_test(test_parse_quoted),
      cmocka_unit_test(test_parse_line_endings),
      cmocka_unit_test(test_parse_split_points),
      cmocka_unit_test(test_parse_delimiters),
      cmocka_unit_test(test_parse_bom),
      cmocka_unit_test(test_parse_blank_lines),
      cmocka_unit_test(test_parse_malformed),
      cmocka_unit_test(test_parse_no_quote),
      cmocka_unit_test(test_parse_utf8_invalid),
      cmocka_unit_test(test_utf8_valid),
      cmocka_unit_test(test_parse_windows_1252),
      cmocka_unit_test(test_parse_iso_8859_1),
      cmocka_unit_test(test_parse_every_byte),
      cmocka_unit_test(test_parse_too_long),
      cmocka_unit_test(test_parse_skip_lines),
      cmocka_unit_test(test_parse_config),
      cmocka_unit_test(test_parse_chunk_equivalence),
  };
  const struct CMUnitTest plugin_tests[] = {
      cmocka_unit_test(test_plugin_descriptor),
      cmocka_unit_test(test_plugin_basic),
      cmocka_unit_test(test_plugin_rejects),
      cmocka_unit_test(test_plugin_too_long),
      cmocka_unit_test(test_plugin_missing_field),
      cmocka_unit_test(test_plugin_header_false),
      cmocka_unit_test(test_plugin_delimiters),
      cmocka_unit_test(test_plugin_skip_lines),
      cmocka_unit_test(test_plugin_encodings),
      cmocka_unit_test(test_plugin_gzip),
      cmocka_unit_test(test_plugin_glob),
      cmocka_unit_test(test_plugin_url_errors),
      cmocka_unit_test(test_plugin_bad_options),
      cmocka_unit_test(test_plugin_file_url),
      cmocka_unit_test(test_plugin_empty_file),
      cmocka_unit_test(test_plugin_cut_last_line),
      cmocka_unit_test(test_plugin_stop),
      cmocka_unit_test(test_plugin_big_file),
      cmocka_unit_test(test_plugin_corrupt_gzip),
      cmocka_unit_test(test_plugin_bad_header),
      cmocka_unit_test(test_plugin_odd_names),
      cmocka_unit_test(test_plugin_check),
      cmocka_unit_test(test_plugin_append_skips_loaded),
      cmocka_unit_test(test_plugin_append_state_bounded),
      cmocka_unit_test(test_plugin_gzip_members),
  };
  int failed;
  ph_set_markers(private_markers);
  failed = cmocka_run_group_tests_name("csv parser", parser_tests, NULL, NULL);
  failed += cmocka_run_group_tests_name("csv plugin", plugin_tests,
                                        ph_setup_dir, ph_teardown_dir);
  return failed ? 1 : 0;
}
