#include "config.h"

/*
 * test_rest.c — unit tests of the rest plugin's pure parts: dotted JSON
 * paths, value texts, pages (plugins/rest/rest_json.c); Link headers,
 * Retry-After, ${cursor} substitution and escaping, query parameters, URL
 * redaction (plugins/rest/rest_util.c); backoff (plugins/common/
 * http_util.c, which rest shares with the transport); URL resolution
 * (rest_http.c, through libcurl's URL parser, no network); and the
 * settings checks of the glue (plugins/rest/rest.c) through a test host.
 * The HTTP side runs against a real server in
 * tests/integration/test_rest.sh.
 *
 * All values are obviously fake; a CPR-shaped marker in documents must
 * never show up in a message.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "samspor-plugin.h"
#include "http_util.h"
#include "rest_http.h"
#include "rest_json.h"
#include "rest_util.h"
#include "plugin_host.h"

const samspor_plugin *samspor_plugin_descriptor(void);

#define MARKER "0101011234" /* a CPR-shaped value in test documents */

/* ---- JSON paths ---------------------------------------------------------
 */

static json_t *parse(const char *text) {
  json_error_t e;
  json_t *v = json_loads(text, JSON_ALLOW_NUL, &e);
  if (!v)
    fail_msg("test document does not parse: %s", e.text);
  return v;
}

/* The text of path p in doc, "<null>" for NULL, "<absent>" when missing. */
static char *lookup(const char *doc, const char *path) {
  static char out[256];
  rest_path p;
  rest_scratch s = {NULL, 0};
  char err[256];
  const char *t;
  size_t len;
  json_t *root = parse(doc), *v;
  int rc;

  assert_int_equal(rest_path_compile(path, &p, err, sizeof err), 0);
  v = rest_path_get(root, &p);
  if (!v) {
    strcpy(out, "<absent>");
  } else {
    rc = rest_value_text(v, &s, &t, &len);
    assert_true(rc >= 0);
    if (rc == 0)
      strcpy(out, "<null>");
    else
      snprintf(out, sizeof out, "%.*s", (int)len, t);
  }
  rest_scratch_free(&s);
  rest_path_free(&p);
  json_decref(root);
  return out;
}

static void test_path_lookup(void **state) {
  const char *doc =
      "{\"a\":{\"b\":{\"c\":\"deep\"}},\"arr\":[{\"x\":1},{\"x\":2}],"
      "\"0\":\"zero key\",\"obj\":{\"7\":\"seven\"},\"s\":\"str\","
      "\"@odata.nextLink\":\"odata\",\"back\\\\slash\":\"bs\",\"n\":null}";
  (void)state;
  assert_string_equal(lookup(doc, "a.b.c"), "deep");
  assert_string_equal(lookup(doc, "arr.1.x"), "2");
  assert_string_equal(lookup(doc, "arr.0.x"), "1");
  assert_string_equal(lookup(doc, "arr.2.x"), "<absent>");
  assert_string_equal(lookup(doc, "arr.01.x"), "<absent>"); /* not an index */
  assert_string_equal(lookup(doc, "arr.x"), "<absent>");
  assert_string_equal(lookup(doc, "0"), "zero key"); /* digits as a key */
  assert_string_equal(lookup(doc, "obj.7"), "seven");
  assert_string_equal(lookup(doc, "s.t"), "<absent>"); /* through a scalar */
  assert_string_equal(lookup(doc, "missing"), "<absent>");
  assert_string_equal(lookup(doc, "n"), "<null>");
  assert_string_equal(lookup(doc, "@odata\\.nextLink"), "odata");
  assert_string_equal(lookup(doc, "back\\\\slash"), "bs");
  assert_string_equal(lookup("[1,2]", ""), "[1,2]");
  assert_string_equal(lookup("[1,2]", "."), "[1,2]");
  assert_string_equal(lookup("[[\"a\"],[\"b\"]]", "1.0"), "b");
}

static void test_path_compile_errors(void **state) {
  static const char *const bad[] = {"a..b", ".a", "a.", "..", "a\\", "a\\b"};
  rest_path p;
  char err[256];
  size_t i;
  (void)state;
  for (i = 0; i < sizeof bad / sizeof *bad; i++) {
    err[0] = '\0';
    assert_int_equal(rest_path_compile(bad[i], &p, err, sizeof err),
                     SAMSPOR_EINVAL);
    assert_true(err[0] != '\0');
    assert_null(p.seg);
    rest_path_free(&p); /* harmless after a failure */
  }
  assert_int_equal(rest_path_compile("a.b", &p, err, sizeof err), 0);
  assert_int_equal(p.n, 2);
  rest_path_free(&p);
  rest_path_free(&p); /* idempotent */
}

static void test_value_texts(void **state) {
  const char *doc =
      "{\"i\":-42,\"big\":9007199254740993,\"r\":1234.5,\"tenth\":0.1,"
      "\"e\":1e21,\"small\":1.5e-7,\"t\":true,\"f\":false,\"z\":0.0,"
      "\"o\":{\"k\": [1, \"two\", null]},\"a\":[],\"u\":\"\\u00e6\\u00f8\","
      "\"empty\":\"\",\"third\":0.3333333333333333}";
  (void)state;
  assert_string_equal(lookup(doc, "i"), "-42");
  assert_string_equal(lookup(doc, "big"), "9007199254740993");
  assert_string_equal(lookup(doc, "r"), "1234.5");
  assert_string_equal(lookup(doc, "tenth"), "0.1");
  assert_string_equal(lookup(doc, "e"), "1e+21");
  assert_string_equal(lookup(doc, "small"), "1.5e-07");
  assert_string_equal(lookup(doc, "z"), "0");
  assert_string_equal(lookup(doc, "third"), "0.3333333333333333");
  assert_string_equal(lookup(doc, "t"), "true");
  assert_string_equal(lookup(doc, "f"), "false");
  assert_string_equal(lookup(doc, "o"), "{\"k\":[1,\"two\",null]}");
  assert_string_equal(lookup(doc, "a"), "[]");
  assert_string_equal(lookup(doc, "u"), "\xc3\xa6\xc3\xb8");
  assert_string_equal(lookup(doc, "empty"), "");
}

static void test_value_text_nul_and_growth(void **state) {
  json_t *root = parse("{\"s\":\"a\\u0000b\"}");
  rest_scratch s = {NULL, 0};
  const char *t;
  size_t len, i;
  json_t *arr;
  (void)state;

  assert_int_equal(rest_value_text(json_object_get(root, "s"), &s, &t, &len),
                   1);
  assert_int_equal(len, 3);
  assert_memory_equal(t, "a\0b", 3);
  json_decref(root);
  /* A long array grows the scratch. */
  arr = json_array();
  for (i = 0; i < 2000; i++)
    json_array_append_new(arr, json_integer((json_int_t)i));
  assert_int_equal(rest_value_text(arr, &s, &t, &len), 1);
  assert_true(len > 5000);
  assert_int_equal(t[0], '[');
  assert_int_equal(t[len - 1], ']');
  assert_int_equal(rest_value_text(NULL, &s, &t, &len), 0);
  json_decref(arr);
  rest_scratch_free(&s);
  assert_string_equal(rest_json_type_name(NULL), "nothing");
}

/* ---- pages ----------------------------------------------------------------
 */

static void test_page_parse(void **state) {
  const char *doc = "{\"data\":{\"items\":[{\"id\":1},{\"id\":2},3]},"
                    "\"links\":{\"next\":\"/p?page=2\"},\"meta\":{\"c\":17,"
                    "\"e\":\"\",\"o\":{}}}";
  rest_path rec, next, c;
  rest_page pg;
  rest_scratch s = {NULL, 0};
  char err[512];
  const char *t;
  size_t len;
  (void)state;

  assert_int_equal(rest_path_compile("data.items", &rec, err, sizeof err), 0);
  assert_int_equal(
      rest_page_parse(doc, strlen(doc), &rec, &pg, err, sizeof err), 0);
  assert_int_equal(pg.n, 3);
  assert_true(json_is_object(json_array_get(pg.records, 0)));
  assert_true(json_is_integer(json_array_get(pg.records, 2)));

  assert_int_equal(rest_path_compile("links.next", &next, err, sizeof err), 0);
  assert_int_equal(rest_page_token(&pg, &next, &s, &t, &len, err, sizeof err),
                   1);
  assert_string_equal(t, "/p?page=2");
  rest_path_free(&next);
  assert_int_equal(rest_path_compile("meta.c", &c, err, sizeof err), 0);
  assert_int_equal(rest_page_token(&pg, &c, &s, &t, &len, err, sizeof err), 1);
  assert_memory_equal(t, "17", 2); /* a number token is its text */
  rest_path_free(&c);
  assert_int_equal(rest_path_compile("meta.e", &c, err, sizeof err), 0);
  assert_int_equal(rest_page_token(&pg, &c, &s, &t, &len, err, sizeof err), 0);
  rest_path_free(&c);
  assert_int_equal(rest_path_compile("meta.none", &c, err, sizeof err), 0);
  assert_int_equal(rest_page_token(&pg, &c, &s, &t, &len, err, sizeof err), 0);
  rest_path_free(&c);
  assert_int_equal(rest_path_compile("meta.o", &c, err, sizeof err), 0);
  assert_int_equal(rest_page_token(&pg, &c, &s, &t, &len, err, sizeof err),
                   SAMSPOR_EDATA);
  assert_non_null(strstr(err, "'meta.o' is a JSON object, not a string"));
  rest_path_free(&c);
  rest_page_free(&pg);
  rest_page_free(&pg);
  rest_path_free(&rec);
  rest_scratch_free(&s);
}

static void test_page_errors_name_no_values(void **state) {
  const char *trunc = "{\"items\":[{\"cpr\":\"" MARKER "\"},{\"cpr\":\"01";
  const char *bad = "{\"items\":[{\"cpr\":" MARKER "x}]}";
  const char *obj = "{\"items\":{\"cpr\":\"" MARKER "\"}}";
  rest_path rec, root = {NULL, 0};
  rest_page pg;
  char err[512];
  (void)state;

  assert_int_equal(rest_path_compile("items", &rec, err, sizeof err), 0);
  assert_int_equal(
      rest_page_parse(trunc, strlen(trunc), &rec, &pg, err, sizeof err),
      SAMSPOR_EDATA);
  assert_non_null(strstr(err, "malformed JSON at line 1"));
  assert_non_null(strstr(err, "premature end of input"));
  assert_null(strstr(err, "0101"));
  assert_null(pg.root);
  assert_int_equal(
      rest_page_parse(bad, strlen(bad), &rec, &pg, err, sizeof err),
      SAMSPOR_EDATA);
  assert_null(strstr(err, "0101"));
  assert_int_equal(
      rest_page_parse(obj, strlen(obj), &rec, &pg, err, sizeof err),
      SAMSPOR_EDATA);
  assert_string_equal(err, "the records path 'items' leads to a JSON object, "
                           "not to an array of records");
  assert_int_equal(rest_page_parse("", 0, &rec, &pg, err, sizeof err),
                   SAMSPOR_EDATA);
  assert_string_equal(err, "malformed JSON: the response is empty");
  assert_int_equal(rest_page_parse("[1] x", 5, &rec, &pg, err, sizeof err),
                   SAMSPOR_EDATA);
  assert_non_null(strstr(err, "text after the end"));
  assert_int_equal(
      rest_page_parse("{\"a\":[]}", 8, &root, &pg, err, sizeof err),
      SAMSPOR_EDATA);
  assert_non_null(strstr(err, "'.' leads to a JSON object"));
  /* null where the records are: an empty page (Go writes nil lists so) */
  assert_int_equal(
      rest_page_parse("{\"items\":null}", 14, &rec, &pg, err, sizeof err), 0);
  assert_int_equal(pg.n, 0);
  assert_null(pg.records);
  rest_page_free(&pg);
  assert_int_equal(
      rest_page_parse("{\"other\":[]}", 12, &rec, &pg, err, sizeof err),
      SAMSPOR_EDATA);
  assert_non_null(strstr(err, "'items' leads to nothing"));
  assert_int_equal(rest_page_parse("[]", 2, &root, &pg, err, sizeof err), 0);
  assert_int_equal(pg.n, 0);
  rest_page_free(&pg);
  assert_int_equal(rest_json_check("{\"x\":1}", 7, err, sizeof err), 0);
  assert_int_equal(rest_json_check("{\"x\":", 5, err, sizeof err),
                   SAMSPOR_EDATA);
  rest_path_free(&rec);
}

/* ---- Link headers ----------------------------------------------------------
 */

/* The next target of a Link value, or "<none>". */
static char *link(const char *v) {
  static char out[512];
  char *t = NULL;
  int rc = rest_link_next(v, strlen(v), &t);
  assert_true(rc >= 0);
  if (rc == 0) {
    assert_null(t);
    strcpy(out, "<none>");
  } else {
    snprintf(out, sizeof out, "%s", t);
    free(t);
  }
  return out;
}

static void test_link_header(void **state) {
  (void)state;
  assert_string_equal(link("<https://a/p?page=2>; rel=\"next\""),
                      "https://a/p?page=2");
  assert_string_equal(link("<https://a/p?page=2>; rel=next"),
                      "https://a/p?page=2");
  /* GitHub's form: several links, next not first */
  assert_string_equal(link("<https://api.github.com/x?page=1>; rel=\"prev\", "
                           "<https://api.github.com/x?page=3>; rel=\"next\", "
                           "<https://api.github.com/x?page=5>; rel=\"last\""),
                      "https://api.github.com/x?page=3");
  /* relation types are case-insensitive and may be listed */
  assert_string_equal(link("</b>; REL=\"Prev NEXT\""), "/b");
  assert_string_equal(link("</b>; Rel=\"next\tlast\""), "/b");
  /* quoted params with commas, semicolons and escapes before rel */
  assert_string_equal(
      link("</a>; title=\"a, b; rel=next\", </b>; title=\"x\\\"y, z\"; "
           "rel=\"next\""),
      "/b");
  /* commas and semicolons inside the target */
  assert_string_equal(link("<https://a/p?x=1,2;y=3>; rel=\"next\""),
                      "https://a/p?x=1,2;y=3");
  /* relative targets come back as written */
  assert_string_equal(link("<?page=2>; rel=next"), "?page=2");
  /* words that merely contain next do not count */
  assert_string_equal(link("</a>; rel=\"nextpage\", </b>; rel=\"nex\""),
                      "<none>");
  assert_string_equal(link("</a>; rel=\"prefetch\"; title=\"next\""), "<none>");
  /* only the first rel of a link counts */
  assert_string_equal(link("</a>; rel=\"prev\"; rel=\"next\""), "<none>");
  /* an anchor makes it another resource's link */
  assert_string_equal(link("</a>; anchor=\"#x\"; rel=next, </b>; rel=next"),
                      "/b");
  /* malformed links are skipped up to the next comma */
  assert_string_equal(link("garbage; rel=next, </b>; rel=next"), "/b");
  assert_string_equal(link("</a> junk; rel=next, </b>; rel=\"next\""), "/b");
  assert_string_equal(link("</a>; =x; rel=next, </b>; rel=\"next\""), "/b");
  assert_string_equal(link("</a>; rel=\"next, </b>; rel=next"), "<none>");
  assert_string_equal(link("<https://a/unclosed; rel=next"), "<none>");
  /* whitespace, empty params, empty values */
  assert_string_equal(link("  ,, <  /sp  > ;;  rel = \"next\" , "), "/sp");
  assert_string_equal(link("</a>; rel"), "<none>");
  assert_string_equal(link("</a>; rel=\"\""), "<none>");
  assert_string_equal(link(""), "<none>");
  assert_string_equal(link("<>; rel=next"), "");
}

/* ---- Retry-After -----------------------------------------------------------
 */

static void test_retry_after(void **state) {
  double s = -1;
  time_t now = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
  (void)state;
  assert_int_equal(rest_retry_after("120", now, &s), 0);
  assert_true(s == 120);
  assert_int_equal(rest_retry_after("  5 \r\n", now, &s), 0);
  assert_true(s == 5);
  assert_int_equal(rest_retry_after("0", now, &s), 0);
  assert_true(s == 0);
  assert_int_equal(rest_retry_after("99999999999999999999", now, &s), 0);
  assert_true(s == 1e9);
  assert_int_equal(rest_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now, &s),
                   0);
  assert_true(s == 30);
  assert_int_equal(rest_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now, &s),
                   0);
  assert_true(s == 10);
  assert_int_equal(rest_retry_after("Sun Nov  6 08:49:57 1994", now, &s), 0);
  assert_true(s == 20);
  /* a date in the past means now */
  assert_int_equal(rest_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now, &s),
                   0);
  assert_true(s == 0);
  /* not a delay */
  assert_int_equal(rest_retry_after("1.5", now, &s), -1);
  assert_int_equal(rest_retry_after("-1", now, &s), -1);
  assert_int_equal(rest_retry_after("", now, &s), -1);
  assert_int_equal(rest_retry_after("soon", now, &s), -1);
  assert_int_equal(rest_retry_after(NULL, now, &s), -1);
  assert_int_equal(rest_retry_after("Sun, 06 Foo 1994 08:49:37 GMT", now, &s),
                   -1);
  assert_int_equal(rest_retry_after("Sun, 32 Nov 1994 08:49:37 GMT", now, &s),
                   -1);
  assert_int_equal(
      rest_retry_after("Sun, 06 Nov 1994 08:49:37 GMT trailing", now, &s), -1);
}

/* ---- ${cursor} ------------------------------------------------------------
 */

static char *subst(const char *tmpl, const char *cursor, rest_escape esc) {
  static char out[512];
  char *r = NULL;
  assert_int_equal(rest_subst_cursor(tmpl, cursor, esc, &r), 0);
  snprintf(out, sizeof out, "%s", r);
  free(r);
  return out;
}

static void test_cursor_substitution(void **state) {
  char err[256];
  (void)state;
  assert_string_equal(
      subst("https://a/x?since=${cursor}", "2026-01-03", REST_ESC_URL),
      "https://a/x?since=2026-01-03");
  assert_string_equal(subst("https://a/x?since=${cursor}",
                            "2026-01-03 10:00:00+01", REST_ESC_URL),
                      "https://a/x?since=2026-01-03%2010%3A00%3A00%2B01");
  assert_string_equal(
      subst("?a=${cursor}&b=${cursor}", "x&y=z/é", REST_ESC_URL),
      "?a=x%26y%3Dz%2F%C3%A9&b=x%26y%3Dz%2F%C3%A9");
  assert_string_equal(subst("?since=${cursor}", NULL, REST_ESC_URL), "?since=");
  assert_string_equal(subst("no placeholder", "x", REST_ESC_URL),
                      "no placeholder");
  assert_string_equal(
      subst("{\"since\": \"${cursor}\"}", "a\"b\\c\n\x01/é", REST_ESC_JSON),
      "{\"since\": \"a\\\"b\\\\c\\u000a\\u0001/é\"}");
  assert_string_equal(subst("{\"since\": \"${cursor}\"}", NULL, REST_ESC_JSON),
                      "{\"since\": \"\"}");
  assert_string_equal(subst("${cursor}${cursor}", "~-._", REST_ESC_URL),
                      "~-._~-._");

  assert_int_equal(
      rest_template_check("a ${cursor} b ${cursor}", err, sizeof err), 0);
  assert_int_equal(rest_template_check("plain $ {x} $x", err, sizeof err), 0);
  assert_int_equal(rest_template_check("?since=${cusor}", err, sizeof err),
                   SAMSPOR_EINVAL);
  assert_string_equal(err, "unknown placeholder at byte 8: only ${cursor} is "
                           "substituted");
  assert_int_equal(rest_template_check("${cursor", err, sizeof err),
                   SAMSPOR_EINVAL);
}

/* ---- query parameters, redaction, resolution ---------------------------
 */

static char *setp(const char *url, const char *name, const char *value) {
  static char out[512];
  char *r = NULL;
  assert_int_equal(rest_url_set_param(url, name, value, &r), 0);
  snprintf(out, sizeof out, "%s", r);
  free(r);
  return out;
}

static void test_url_set_param(void **state) {
  (void)state;
  assert_string_equal(setp("https://a/x", "page", "2"), "https://a/x?page=2");
  assert_string_equal(setp("https://a/x?", "page", "2"), "https://a/x?page=2");
  assert_string_equal(setp("https://a/x?q=1&page=1&r=2", "page", "3"),
                      "https://a/x?q=1&r=2&page=3");
  assert_string_equal(setp("https://a/x?page&page=1&pages=4", "page", "3"),
                      "https://a/x?pages=4&page=3");
  assert_string_equal(setp("https://a/x?q=1#frag", "c", "a b/+="),
                      "https://a/x?q=1&c=a%20b%2F%2B%3D");
  assert_string_equal(setp("https://a/x?page%5Bn%5D=1", "page[n]", "2"),
                      "https://a/x?page%5Bn%5D=2");
  assert_string_equal(setp("https://a/x?a=1&&b=2", "c", ""),
                      "https://a/x?a=1&b=2&c=");
}

static char *redact(const char *url, size_t size) {
  static char out[512];
  assert_true(size <= sizeof out);
  memset(out, 'Z', sizeof out);
  rest_url_redact(url, out, size);
  assert_true(strlen(out) < size);
  return out;
}

static void test_url_redact(void **state) {
  (void)state;
  assert_string_equal(redact("https://user:pw@api.x:8443/v1/t?key=SECRET&"
                             "since=2026&flag#frag",
                             512),
                      "https://api.x:8443/v1/t?key=...&since=...&flag");
  assert_string_equal(redact("https://a/p@q/x", 512), "https://a/p@q/x");
  assert_string_equal(redact("https://a/x?cpr=" MARKER, 512),
                      "https://a/x?cpr=...");
  assert_string_equal(redact("https://a/\x01\xff x", 512), "https://a/??\?x");
  assert_string_equal(redact("https://example.invalid/a/very/long/path", 24),
                      "https://example.inva...");
  assert_string_equal(redact("https://a/", 4), "");
  assert_string_equal(redact("relative/path?x=1", 512), "relative/path?x=...");
}

static char *resolve(const char *base, const char *ref) {
  static char out[512];
  char *r = NULL;
  int rc = rest_url_resolve(base, ref, &r);
  if (rc) {
    assert_int_equal(rc, SAMSPOR_EDATA);
    strcpy(out, "<invalid>");
  } else {
    snprintf(out, sizeof out, "%s", r);
    free(r);
  }
  return out;
}

static void test_url_resolve(void **state) {
  (void)state;
  assert_string_equal(resolve("https://a:1/v1/t?page=1", "?page=2"),
                      "https://a:1/v1/t?page=2");
  assert_string_equal(resolve("https://a:1/v1/t?page=1", "/v2/x?c=1"),
                      "https://a:1/v2/x?c=1");
  assert_string_equal(resolve("https://a:1/v1/t?page=1", "u?c=1"),
                      "https://a:1/v1/u?c=1");
  assert_string_equal(resolve("https://a:1/v1/t", "https://b/x"),
                      "https://b/x");
  assert_string_equal(resolve("https://a:1/v1/t", "https://"), "<invalid>");
  assert_int_equal(rest_url_same_origin("https://a:1/x", "https://A:1/y?z"), 1);
  assert_int_equal(rest_url_same_origin("https://a/x", "https://a:443/y"), 1);
  assert_int_equal(rest_url_same_origin("https://a:1/x", "https://a:2/x"), 0);
  assert_int_equal(rest_url_same_origin("https://a/x", "https://b/x"), 0);
  assert_int_equal(rest_url_same_origin("https://a/x", "http://a/x"), 0);
  assert_int_equal(rest_url_same_origin("https://a/x", "::"), SAMSPOR_EDATA);
}

static void test_backoff(void **state) {
  unsigned seed = 42, i, a;
  double d;
  (void)state;
  for (a = 0; a < 12; a++)
    for (i = 0; i < 200; i++) {
      double ceil = a >= 6 ? 30 : (double)(1u << a) * 0.5;
      d = samspor_backoff_delay(0.5, 30, (unsigned)(a) + 1,
                                spp_jitter01(&seed));
      assert_true(d >= 0 && d <= ceil);
    }
  assert_true(samspor_backoff_delay(0, 30, (unsigned)(3) + 1,
                                    spp_jitter01(&seed)) == 0);
  /* Full jitter: spread over the whole range, not bunched at the top. */
  {
    int low = 0, high = 0;
    for (i = 0; i < 1000; i++) {
      d = samspor_backoff_delay(1, 60, (unsigned)(10) + 1, spp_jitter01(&seed));
      low += d < 20;
      high += d > 40;
    }
    assert_true(low > 200 && high > 200);
  }
}

/* ---- the glue's settings checks ------------------------------------------
 */

/* One run of the plugin through the shared test host (plugin_host.h).
 * Every run here fails before the first record. */
typedef ph_run run;

static void run_init(run *r) {
  ph_run_init(r, samspor_plugin_descriptor());
  r->sink.no_records = 1;
}

static const char *const fields[] = {"tenant.cpr", "unit.area"};

/* open() refuses settings with SAMSPOR_EINVAL and a message. */
static void expect_refused(const char *const *pairs, const char *want) {
  run r;
  size_t i;
  run_init(&r);
  for (i = 0; pairs[i]; i += 2)
    ph_run_set(&r, pairs[i], pairs[i + 1]);
  ph_run_plugin(&r, fields, 2);
  if (r.open_rc != SAMSPOR_EINVAL || !strstr(r.ctx.error, want))
    fail_msg("expected EINVAL with \"%s\", got %d: %s", want, r.open_rc,
             r.ctx.error);
  ph_run_free(&r);
}

#define REFUSED(want, ...)                                                     \
  do {                                                                         \
    static const char *const p_[] = {__VA_ARGS__, NULL};                       \
    expect_refused(p_, want);                                                  \
  } while (0)

#define U "url", "https://127.0.0.1:1/x"

static void test_settings_refused(void **state) {
  (void)state;
  REFUSED("url must be an https:// URL", "url", "http://a/x");
  REFUSED("url: unknown placeholder", "url", "https://a/x?s=${since}");
  REFUSED("a request body needs method = \"POST\"", U, "body", "{}");
  REFUSED("body: unknown placeholder", U, "method", "POST", "body", "${x}");
  REFUSED("needs token_file or token_env", U, "auth", "bearer");
  REFUSED("auth = \"basic\" needs username", U, "auth", "basic");
  REFUSED("needs password_file or password_env", U, "auth", "basic", "username",
          "u");
  REFUSED("needs token_url", U, "auth", "oauth2");
  REFUSED("token_url must be an https:// URL", U, "auth", "oauth2", "token_url",
          "http://a/t", "client_id", "c", "client_secret", "s");
  REFUSED("token is used only with auth = \"bearer\"", U, "token", "t");
  REFUSED("client_id is used only with auth = \"oauth2\"", U, "auth", "bearer",
          "token", "t", "client_id", "c");
  REFUSED("pagination = \"next_link\" needs next_path", U, "pagination",
          "next_link");
  REFUSED("pagination = \"cursor\" needs cursor_path", U, "pagination",
          "cursor");
  REFUSED("next_path: path 'a..b' has an empty segment", U, "pagination",
          "next_link", "next_path", "a..b");
  REFUSED("headers item 1 is not \"Name: value\"", U, "headers", "NoColon");
  REFUSED("headers item 1 is not \"Name: value\"", U, "headers",
          "X-A: b\r\nX-Evil: c");
  REFUSED("client_key_file needs client_cert_file", U, "client_key_file",
          "/etc/hostname");
  REFUSED("ca_file /nonexistent/ca.pem", U, "ca_file", "/nonexistent/ca.pem");
  REFUSED("retry_backoff must not exceed retry_max_backoff", U, "retry_backoff",
          "10", "retry_max_backoff", "5");
}

static void test_bad_field_path_refused(void **state) {
  static const char *const bad[] = {"tenant..cpr"};
  static const char *const root[] = {"."};
  run r;
  (void)state;
  run_init(&r);
  ph_run_set(&r, "url", "https://127.0.0.1:1/x");
  ph_run_plugin(&r, bad, 1);
  assert_int_equal(r.open_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "column source (from) 'tenant..cpr'"));
  ph_run_free(&r);
  run_init(&r);
  ph_run_set(&r, "url", "https://127.0.0.1:1/x");
  ph_run_plugin(&r, root, 1);
  assert_int_equal(r.open_rc, SAMSPOR_EINVAL);
  ph_run_free(&r);
}

/* A real request to a closed port: temporary, after the retries. */
static void test_unreachable_is_temporary(void **state) {
  run r;
  (void)state;
  run_init(&r);
  ph_run_set(&r, "url", "https://127.0.0.1:1/x?token=SECRET");
  ph_run_set(&r, "retry_attempts", "1");
  ph_run_set(&r, "retry_backoff", "0");
  ph_run_set(&r, "connect_timeout", "5");
  ph_run_plugin(&r, fields, 2);
  assert_int_equal(r.open_rc, 0);
  assert_int_equal(r.read_rc, SAMSPOR_ETEMP);
  assert_non_null(strstr(r.ctx.error, "https://127.0.0.1:1/x?token=...: "));
  assert_non_null(strstr(r.ctx.error, "still failing after 2 attempts"));
  assert_null(strstr(r.ctx.error, "SECRET"));
  ph_run_free(&r);
}

/* The error convention: an unusable headers_file is SAMSPOR_EINVAL, not
 * a bare -1, which a caller passing the code on would read as
 * SAMSPOR_ENOMEM. */
static void test_headers_file_codes(void **state) {
  char **lines = NULL, err[256];
  size_t n = 0;
  (void)state;
  assert_int_equal(spp_headers_file_read("/nonexistent/samspor/headers", &lines,
                                         &n, err, sizeof err),
                   SAMSPOR_EINVAL);
  assert_null(lines);
  assert_non_null(strstr(err, "headers_file /nonexistent/samspor/headers"));
  assert_int_equal(
      spp_headers_file_read("/dev/null", &lines, &n, err, sizeof err),
      SAMSPOR_EINVAL); /* not a regular file */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_path_lookup),
      cmocka_unit_test(test_path_compile_errors),
      cmocka_unit_test(test_value_texts),
      cmocka_unit_test(test_value_text_nul_and_growth),
      cmocka_unit_test(test_page_parse),
      cmocka_unit_test(test_page_errors_name_no_values),
      cmocka_unit_test(test_link_header),
      cmocka_unit_test(test_retry_after),
      cmocka_unit_test(test_cursor_substitution),
      cmocka_unit_test(test_url_set_param),
      cmocka_unit_test(test_url_redact),
      cmocka_unit_test(test_url_resolve),
      cmocka_unit_test(test_backoff),
      cmocka_unit_test(test_settings_refused),
      cmocka_unit_test(test_bad_field_path_refused),
      cmocka_unit_test(test_unreachable_is_temporary),
      cmocka_unit_test(test_headers_file_codes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
