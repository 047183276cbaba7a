#include "config.h"

/*
 * test_xml.c — unit tests of the xml plugin: the record engine
 * (plugins/xml/xml_records.c) on documents generated here, and the ABI
 * glue (plugins/xml/xml.c) through the core's real host table and option
 * engine, reading files from a temporary directory through the transport
 * (the real plugins/common/transport.c, or until it exists the local-files
 * stub tests/unit/xml_transport_stub.c).
 *
 * Values in the documents are obviously fake and carry markers ("Person",
 * "Testvej", "SECRET", "0101"); every message the plugin or the engine
 * gives is checked not to contain one, which is how the privacy rule is
 * tested.
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libxml/globals.h>
#include <libxml/parser.h>

#include "model/conf.h"
#include "model/host.h"
#include "base/options.h"
#include "samspor-plugin.h"
#include "base/util.h"
#include "xml_records.h"
#include "plugin_host.h"

const samspor_plugin *samspor_plugin_descriptor(void);

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* Values in the test data carry these; no message may. */
static const char *const private_markers[] = {"Person", "Testvej", "SECRET",
                                              "0101",   "root:",   NULL};

#define NELEM(a) (sizeof(a) / sizeof *(a))

/* ---- engine harness --------------------------------------------------- */

/* What the record function saw: one line per record. */
typedef struct seen {
  sp_buf out;
  xr_fields *fields;
  size_t nfields;
  long stop_after; /* return -42 after this many records (0: never) */
  long n;
} seen;

static int on_rec(void *ud, const xr_record *r) {
  seen *s = ud;
  char err[256];
  size_t i;

  sp_buf_printf(&s->out, "%llu@%lu:", r->number, r->line);
  if (r->too_long) {
    assert_null(r->node);
    sp_buf_puts(&s->out, "TOO_LONG");
  } else {
    assert_non_null(r->node);
    for (i = 0; i < s->nfields; i++) {
      const char *v;
      size_t len;
      assert_int_equal(
          xr_fields_eval(s->fields, r, i, &v, &len, err, sizeof err), 0);
      if (v) {
        assert_int_equal(strlen(v), len);
        sp_buf_printf(&s->out, "|%s", v);
      } else {
        sp_buf_puts(&s->out, "|<null>");
      }
    }
  }
  sp_buf_putc(&s->out, '\n');
  if (s->stop_after && ++s->n >= s->stop_after)
    return -42;
  return 0;
}

/* One parse: the settings, and what came out. */
typedef struct parse {
  const char *record;
  const char *const *ns;
  size_t nns;
  const char *const *fields;
  size_t nfields;
  size_t max_record;
  size_t chunk; /* bytes per feed; 0: all at once */
  long stop_after;
  /* results */
  int rc;
  char err[512];
  char *out; /* records, one a line (caller frees) */
  unsigned long long nrecords;
  size_t peak;
} parse;

/* Parse doc[0..len) as *p says; the engine's messages are checked for
 * values. */
static void run_parse(parse *p, const char *doc, size_t len) {
  xr_config cfg = {.record = p->record,
                   .namespaces = p->ns,
                   .nnamespaces = p->nns,
                   .max_record = p->max_record};
  xr_parser *xp;
  seen s;
  char err[512];
  size_t off = 0;
  int rc = 0;

  memset(&s, 0, sizeof s);
  sp_buf_init(&s.out);
  sp_buf_puts(&s.out, "");
  s.nfields = p->nfields;
  s.stop_after = p->stop_after;
  if (xr_fields_new(p->fields, p->nfields, p->ns, p->nns, &s.fields, err,
                    sizeof err) != 0)
    fail_msg("xr_fields_new: %s", err);
  if (xr_parser_new(&cfg, on_rec, &s, &xp, err, sizeof err) != 0)
    fail_msg("xr_parser_new: %s", err);
  while (off < len && rc == 0) {
    size_t n = p->chunk && p->chunk < len - off ? p->chunk : len - off;
    rc = xr_parser_feed(xp, doc + off, n);
    off += n;
  }
  if (rc) {
    /* stays failed until finish */
    assert_int_equal(xr_parser_feed(xp, "<x/>", 4), rc);
  }
  snprintf(p->err, sizeof p->err, "%s", xr_parser_error(xp));
  {
    int frc = xr_parser_finish(xp);
    if (rc == 0) {
      rc = frc;
      snprintf(p->err, sizeof p->err, "%s", xr_parser_error(xp));
    }
  }
  p->rc = rc;
  p->nrecords = xr_parser_records(xp);
  p->peak = xr_parser_peak(xp);
  p->out = s.out.data;
  ph_assert_no_values(p->err);
  xr_parser_free(xp);
  xr_fields_free(s.fields);
}

static void run_text(parse *p, const char *doc) {
  run_parse(p, doc, strlen(doc));
}

/* ---- engine: records and fields --------------------------------------- */

static const char nested_doc[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<Elevliste skoleaar=\"2025/26\">\n"
    "  <Elev id=\"1\">\n"
    "    <cpr>0101001234</cpr>\n"
    "    <navn>Person 1</navn>\n"
    "    <fag><navn>Dansk</navn><resultat>-0.4</resultat></fag>\n"
    "    <fag><navn>Matematik</navn><resultat>0.2</resultat></fag>\n"
    "  </Elev>\n"
    "  <Klasse><Elev id=\"x\"><cpr>skipped</cpr></Elev></Klasse>\n"
    "  <Elev id=\"2\"><cpr>0101001235</cpr><adresse><vej>Testvej "
    "3</vej></adresse></Elev>\n"
    "</Elevliste>\n";

static void test_nested_records(void **state) {
  static const char *const fields[] = {"cpr",
                                       "@id",
                                       "fag/navn",
                                       "fag[2]/resultat",
                                       "count(fag)",
                                       "adresse/vej",
                                       "fag[navn='Dansk']/resultat",
                                       "missing",
                                       "string(missing)"};
  parse p = {
      .record = "/Elevliste/Elev", .fields = fields, .nfields = NELEM(fields)};
  (void)state;
  run_text(&p, nested_doc);
  assert_int_equal(p.rc, 0);
  assert_string_equal(p.out,
                      "1@3:|0101001234|1|Dansk|0.2|2|<null>|-0.4|<null>|\n"
                      "2@10:|0101001235|2|<null>|<null>|0|Testvej "
                      "3|<null>|<null>|\n");
  assert_int_equal(p.nrecords, 2);
  free(p.out);

  /* "//" finds the record at any depth, never inside another record. */
  {
    static const char *const f2[] = {"cpr"};
    parse q = {.record = "//Elev", .fields = f2, .nfields = 1};
    run_text(&q, nested_doc);
    assert_int_equal(q.rc, 0);
    assert_string_equal(q.out, "1@3:|0101001234\n2@9:|skipped\n3@10:|"
                               "0101001235\n");
    free(q.out);
  }
  /* The root as the record; and a wildcard step. */
  {
    static const char *const f3[] = {"@skoleaar", "count(Elev)"};
    parse q = {.record = "/Elevliste", .fields = f3, .nfields = 2};
    run_text(&q, nested_doc);
    assert_int_equal(q.rc, 0);
    assert_string_equal(q.out, "1@2:|2025/26|2\n");
    free(q.out);
    q.record = "/*/*/Elev";
    q.fields = f3 + 1;
    q.nfields = 0;
    run_text(&q, nested_doc);
    assert_string_equal(q.out, "1@9:\n");
    free(q.out);
  }
}

static const char ns_doc[] =
    "<?xml version=\"1.0\"?>\n"
    "<a:Elevliste xmlns:a=\"urn:test:elev\" xmlns=\"urn:test:default\"\n"
    "    xmlns:x=\"urn:test:extra\">\n"
    "  <a:Elev x:id=\"7\" id=\"plain\">\n"
    "    <a:cpr>0101001234</a:cpr>\n"
    "    <navn>Person 7</navn>\n"
    "    <x:skole xmlns:x=\"urn:test:other\">Testskole</x:skole>\n"
    "    <b:note xmlns:b=\"urn:test:extra\">n</b:note>\n"
    "  </a:Elev>\n"
    "  <Elev><cpr>no</cpr></Elev>\n"
    "</a:Elevliste>\n";

static void test_namespaces_with_prefixes(void **state) {
  /* The configuration's prefixes need not be the document's. */
  static const char *const ns[] = {"e=urn:test:elev", "d=urn:test:default",
                                   "x=urn:test:extra", "o=urn:test:other"};
  static const char *const fields[] = {
      "e:cpr",   "d:navn", "@x:id", "@id",
      "o:skole", "x:note", "navn",  "*[local-name()='cpr']"};
  parse p = {.record = "/e:Elevliste/e:Elev",
             .ns = ns,
             .nns = NELEM(ns),
             .fields = fields,
             .nfields = NELEM(fields)};
  (void)state;
  run_text(&p, ns_doc);
  assert_int_equal(p.rc, 0);
  /* navn without a prefix is in no namespace: absent, as in XPath */
  assert_string_equal(p.out, "1@4:|0101001234|Person 7|7|plain|Testskole|n|"
                             "<null>|0101001234\n");
  free(p.out);

  /* The default namespace's elements need its prefix too. */
  p.record = "/e:Elevliste/d:Elev";
  p.fields = (const char *const[]){"d:cpr"};
  p.nfields = 1;
  run_text(&p, ns_doc);
  assert_int_equal(p.rc, 0);
  assert_string_equal(p.out, "1@10:|no\n");
  free(p.out);

  /* A prefix-wildcard step. */
  p.record = "/e:*/e:*";
  run_text(&p, ns_doc);
  assert_string_equal(p.out, "1@4:|<null>\n");
  free(p.out);
}

static void test_attributes_entities_cdata(void **state) {
  static const char doc[] =
      "<r><Elev id=\"a&amp;b&#38;c&lt;&gt;&quot;&apos;&#233;\" tom=\"\">"
      "<t>x &amp; y &lt;z&gt; &quot;q&quot; &apos;s&apos; &#233;&#xE6;&#x4E2D;"
      "</t>"
      "<c><![CDATA[<b>&amp; raw</b>]]></c>"
      "<m>a<![CDATA[b]]>c<i>d</i>e</m>"
      "<e/><w>  space  </w>"
      "</Elev></r>";
  static const char *const fields[] = {"@id", "@tom", "t", "c",
                                       "m",   "e",    "w", "@missing"};
  parse p = {.record = "/r/Elev", .fields = fields, .nfields = NELEM(fields)};
  (void)state;
  run_text(&p, doc);
  assert_int_equal(p.rc, 0);
  assert_string_equal(p.out,
                      "1@1:|a&b&c<>\"'\xc3\xa9||x & y <z> \"q\" 's' "
                      "\xc3\xa9\xc3\xa6\xe4\xb8\xad|<b>&amp; raw</b>|abcde||  "
                      "space  |<null>\n");
  free(p.out);
}

static void test_encodings(void **state) {
  /* windows-1252 and ISO 8859-1 declared: values arrive as UTF-8 */
  static const char doc[] = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"
                            "<r><Elev><n>\xe6\xf8\xe5</n></Elev></r>";
  static const char *const fields[] = {"n"};
  parse p = {.record = "/r/Elev", .fields = fields, .nfields = 1};
  (void)state;
  run_text(&p, doc);
  assert_int_equal(p.rc, 0);
  assert_string_equal(p.out, "1@1:|\xc3\xa6\xc3\xb8\xc3\xa5\n");
  free(p.out);
  /* UTF-8 with a BOM */
  p.chunk = 1;
  run_text(&p, "\xef\xbb\xbf<r><Elev><n>\xc3\xa6</n></Elev></r>");
  assert_int_equal(p.rc, 0);
  assert_string_equal(p.out, "1@1:|\xc3\xa6\n");
  free(p.out);
  /* invalid UTF-8: an error that does not quote the bytes */
  p.chunk = 0;
  run_text(&p, "<r><Elev><n>Person \xc3\x28</n></Elev></r>");
  assert_int_equal(p.rc, XR_EDATA);
  assert_non_null(strstr(p.err, "line 1"));
  assert_null(strstr(p.err, "0xC3"));
  free(p.out);
}

/*
 * libxml2 reports some encoding errors without the parser context, to the
 * thread's handlers, and by default prints them on stderr with bytes of the
 * document: none may get there, and the caller's handlers are put back.
 */
static void count_stray(void *ctx, xmlErrorPtr e) {
  (void)e;
  ++*(int *)ctx;
}

static void test_encoding_errors_stay_quiet(void **state) {
  static const char *const fields[] = {"cpr"};
  static const char *const docs[] = {
      "<?xml version=\"1.0\" encoding=\"EUC-JP\"?>\n<r><Elev><cpr>Person "
      "\xff\xfe\xfd</cpr></Elev></r>",
      "<?xml version=\"1.0\" encoding=\"ISO-2022-JP\"?>\n<r><Elev><cpr>"
      "\x1b$B\xff\xff</cpr></Elev></r>",
      "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\n<r/>",
  };
  char path[] = "/tmp/test_xml_stderr.XXXXXX";
  int fd = mkstemp(path), saved;
  size_t i, c;
  struct stat st;
  int stray_count = 0;
  (void)state;

  assert_true(fd >= 0);
  unlink(path);
  fflush(stderr);
  saved = dup(2);
  assert_true(saved >= 0);
  assert_int_equal(dup2(fd, 2), 2);
  xmlSetStructuredErrorFunc(&stray_count, count_stray);
  for (i = 0; i < NELEM(docs); i++)
    for (c = 0; c < 2; c++) {
      parse p = {.record = "/r/Elev",
                 .fields = fields,
                 .nfields = 1,
                 .chunk = c ? 1 : 0};
      run_text(&p, docs[i]);
      if (p.rc != XR_EDATA || !strstr(p.err, "line ") ||
          !strstr(p.err, "encoding"))
        fail_msg("doc %zu: rc %d, '%s'", i, p.rc, p.err);
      free(p.out);
    }
  /* our handler is the thread's again, and was never called */
  assert_true(xmlStructuredError == count_stray);
  xmlSetStructuredErrorFunc(NULL, NULL);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  assert_int_equal(fstat(fd, &st), 0);
  close(fd);
  assert_int_equal(stray_count, 0);
  assert_int_equal(st.st_size, 0);
}

/* ---- engine: the record path ------------------------------------------ */

static void test_record_path_mismatch(void **state) {
  static const char *const fields[] = {"cpr"};
  static const char *const ns[] = {"e=urn:test:elev"};
  parse p = {.record = "/Elevliste/Elev", .fields = fields, .nfields = 1};
  (void)state;

  /* A root that refutes an absolute path is an error: it would load
   * nothing and say nothing (and empty a full_refresh table). */
  run_text(&p, "<Skoleliste><Elev><cpr>1</cpr></Elev></Skoleliste>");
  assert_int_equal(p.rc, XR_EINVAL);
  assert_non_null(strstr(p.err, "'/Elevliste/Elev' does not match"));
  assert_non_null(strstr(p.err, "'Skoleliste'"));
  assert_string_equal(p.out, "");
  free(p.out);

  /* Same name in a namespace: the message says what to write. */
  run_text(&p, "<Elevliste xmlns=\"urn:test:elev\"><Elev/></Elevliste>");
  assert_int_equal(p.rc, XR_EINVAL);
  assert_non_null(strstr(p.err, "in namespace 'urn:test:elev'"));
  assert_non_null(strstr(p.err, "namespaces"));
  free(p.out);

  /* A prefix that maps to another namespace. */
  p.ns = ns;
  p.nns = 1;
  p.record = "/e:Elevliste/e:Elev";
  run_text(&p, "<Elevliste xmlns=\"urn:test:other\"><Elev/></Elevliste>");
  assert_int_equal(p.rc, XR_EINVAL);
  free(p.out);

  /* The root fits but no element does: an empty list, not an error. */
  p.record = "/Elevliste/Elev";
  run_text(&p, "<Elevliste><Andet><Elev/></Andet></Elevliste>");
  assert_int_equal(p.rc, 0);
  assert_int_equal(p.nrecords, 0);
  assert_string_equal(p.out, "");
  free(p.out);
  p.record = "//Elev";
  run_text(&p, "<Skoleliste><Andet/></Skoleliste>");
  assert_int_equal(p.rc, 0);
  assert_int_equal(p.nrecords, 0);
  free(p.out);
}

static void test_record_path_syntax(void **state) {
  static const char *const ns[] = {"e=urn:test:elev"};
  static const char *const bad[] = {"",     "Elevliste/Elev", "/",      "/a//b",
                                    "/a/",  "/a[1]/b",        "/a/@id", "/a/..",
                                    "/q:a", "/a/b c",         "/a/e:",  "///a",
                                    "/1a",  "/a/text()",      "/e:a/:b"};
  static const char *const good[] = {"/a", "//a", "/e:a/*/e:*", "//e:a/b",
                                     "/a-b/c.d/_e"};
  static const char *const badns[] = {
      "e", "=urn:x", "e=", "1e=urn:x", "xml=urn:x", "e=urn:x"};
  xr_config cfg = {.namespaces = ns, .nnamespaces = 1};
  xr_parser *p;
  char err[512];
  size_t i;
  (void)state;

  for (i = 0; i < NELEM(bad); i++) {
    cfg.record = bad[i];
    err[0] = '\0';
    if (xr_parser_new(&cfg, on_rec, NULL, &p, err, sizeof err) != XR_EINVAL)
      fail_msg("record path '%s' accepted", bad[i]);
    assert_null(p);
    assert_true(err[0] != '\0');
  }
  for (i = 0; i < NELEM(good); i++) {
    cfg.record = good[i];
    if (xr_parser_new(&cfg, on_rec, NULL, &p, err, sizeof err) != 0)
      fail_msg("record path '%s' refused: %s", good[i], err);
    xr_parser_free(p);
  }
  /* namespace map errors; the last is a duplicate of ns[0] */
  cfg.record = "/a";
  for (i = 0; i < NELEM(badns); i++) {
    const char *items[2] = {ns[0], badns[i]};
    cfg.namespaces = i == NELEM(badns) - 1 ? items : items + 1;
    cfg.nnamespaces = i == NELEM(badns) - 1 ? 2 : 1;
    if (xr_parser_new(&cfg, on_rec, NULL, &p, err, sizeof err) != XR_EINVAL)
      fail_msg("namespaces item '%s' accepted", badns[i]);
  }
  cfg.namespaces = NULL;
  cfg.nnamespaces = 0;
  cfg.max_record = 10;
  assert_int_equal(xr_parser_new(&cfg, on_rec, NULL, &p, err, sizeof err),
                   XR_EINVAL);
}

static void test_field_xpath_errors(void **state) {
  static const char *const ns[] = {"e=urn:test:elev"};
  static const struct {
    const char *expr, *why;
  } bad[] = {
      {"cpr[", "not a valid XPath"},
      {"q:cpr", "prefix"},
      {"nosuch(cpr)", "unknown XPath function 'nosuch'"},
      {"e:f(1)", "unknown XPath function 'e:f'"},
      {"$v", "variables"},
      {"", "not a valid XPath"},
      {"substring()", "arguments"},
  };
  static const char *const good[] = {"cpr",
                                     "@id",
                                     "e:cpr/@e:x",
                                     "concat(a, 'nosuch(', \"x(\")",
                                     "count(node())",
                                     "a and (b)",
                                     "substring-before(cpr, '-')",
                                     "child::cpr",
                                     "1.5 div (2)",
                                     "processing-instruction('x')",
                                     "normalize-space(.)",
                                     "sum(fag/resultat) div count(fag)"};
  xr_fields *f;
  char err[512];
  size_t i;
  (void)state;

  for (i = 0; i < NELEM(bad); i++) {
    err[0] = '\0';
    if (xr_fields_new(&bad[i].expr, 1, ns, 1, &f, err, sizeof err) != XR_EINVAL)
      fail_msg("field '%s' accepted", bad[i].expr);
    if (!strstr(err, bad[i].why))
      fail_msg("field '%s': message '%s' lacks '%s'", bad[i].expr, err,
               bad[i].why);
  }
  for (i = 0; i < NELEM(good); i++)
    if (xr_fields_new(&good[i], 1, ns, 1, &f, err, sizeof err) != 0)
      fail_msg("field '%s' refused: %s", good[i], err);
    else
      xr_fields_free(f);
}

/* ---- engine: chunk boundaries ----------------------------------------- */

/* A document with a bit of everything, many records. */
static char *mixed_doc(size_t *len) {
  sp_buf b;
  int i;
  sp_buf_init(&b);
  sp_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<!-- a comment -->\n<e:Elevliste xmlns:e=\"urn:test:elev\" "
                  "xmlns:x=\"urn:test:x\">\n");
  for (i = 0; i < 60; i++)
    sp_buf_printf(&b,
                  "  <e:Elev nr=\"%d\" x:k=\"a&amp;%d\">\r\n"
                  "    <e:cpr>0101%06d</e:cpr><?pi data?>\n"
                  "    <e:navn>Person &#%d; &lt;%d&gt;</e:navn>\n"
                  "    <e:note><![CDATA[c]]>%s<!-- c --></e:note>\n"
                  "    <x:fag><x:navn>F\xc3\xa6g %d</x:navn></x:fag>\n"
                  "  </e:Elev>\n  <e:Andet><e:Elev>no</e:Elev></e:Andet>\n",
                  i, i, i, 0xe6 + i, i, i % 3 ? "t\xe4\xb8\xadt" : "", i);
  sp_buf_puts(&b, "</e:Elevliste>\n");
  *len = b.len;
  return b.data;
}

static void test_chunk_boundaries(void **state) {
  static const char *const ns[] = {"e=urn:test:elev", "x=urn:test:x"};
  static const char *const fields[] = {"e:cpr",        "e:navn", "e:note",
                                       "x:fag/x:navn", "@nr",    "@x:k"};
  static const size_t chunks[] = {1, 2, 3, 7, 64, 4093};
  parse whole = {.record = "/e:Elevliste/e:Elev",
                 .ns = ns,
                 .nns = 2,
                 .fields = fields,
                 .nfields = NELEM(fields)};
  size_t len, i;
  char *doc = mixed_doc(&len);
  (void)state;

  run_parse(&whole, doc, len);
  assert_int_equal(whole.rc, 0);
  assert_int_equal(whole.nrecords, 60);
  assert_non_null(strstr(whole.out, "1@4:|0101000000|Person \xc3\xa6 <0>|c|"
                                    "F\xc3\xa6g 0|0|a&0\n"));
  for (i = 0; i < NELEM(chunks); i++) {
    parse p = whole;
    p.chunk = chunks[i];
    run_parse(&p, doc, len);
    assert_int_equal(p.rc, 0);
    if (strcmp(p.out, whole.out) != 0)
      fail_msg("%zu-byte chunks give other records", chunks[i]);
    free(p.out);
  }
  free(whole.out);
  free(doc);
}

/* ---- engine: malformed documents -------------------------------------- */

static void test_malformed_document(void **state) {
  static const char *const fields[] = {"cpr"};
  static const struct {
    const char *doc, *line, *why;
  } cases[] = {
      {"<r>\n<Elev><cpr>0101001234</cpr></Elev>\n<Elev><cpr>SECRET</cp>"
       "</Elev></r>",
       "line 3", "does not match its start tag"},
      {"<r>\n<Elev><cpr>Person & Testvej</cpr></Elev></r>", "line 2",
       "a name was expected"},
      {"<r>\n<Elev><cpr a=SECRET>1</cpr></Elev></r>", "line 2", "quoted"},
      {"<r>\n\n<Elev><cpr>1</cpr></Elev></r><r/>", "line 3",
       "after the end of the root"},
      {"<r><Elev><cpr>&nbsp;Person</cpr></Elev></r>", "line 1",
       "undeclared entity"},
      {"<r><Elev><p:cpr>1</p:cpr></Elev></r>", "line 1", "prefix"},
      {"<r><Elev a=\"1\" a=\"2\"/></r>", "line 1", "twice"},
      {"<r><Elev><cpr>\x01</cpr></Elev></r>", "line 1", "not allowed"},
      {"<r><Elev><!-- x -- y --></Elev></r>", "line 1", "comment"},
      {"<r><Elev>]]></Elev></r>", "line 1", "]]>"},
      {"<?xml version=\"1.0\" encoding=\"no-such\"?><r/>", "line 1",
       "encoding"},
      {"not xml at all", "line 1", ""},
  };
  size_t i, c;
  (void)state;

  for (i = 0; i < NELEM(cases); i++)
    for (c = 0; c < 2; c++) {
      parse p = {.record = "/r/Elev",
                 .fields = fields,
                 .nfields = 1,
                 .chunk = c ? 1 : 0};
      run_text(&p, cases[i].doc);
      if (p.rc != XR_EDATA)
        fail_msg("case %zu (chunk %zu): rc %d (%s), want XR_EDATA", i, c, p.rc,
                 p.err);
      if (!strstr(p.err, cases[i].line) || !strstr(p.err, cases[i].why))
        fail_msg("case %zu: message '%s' lacks '%s' or '%s'", i, p.err,
                 cases[i].line, cases[i].why);
      free(p.out);
    }
}

static void test_truncated_document(void **state) {
  static const char *const fields[] = {"cpr"};
  static const char doc[] = "<?xml version=\"1.0\"?>\n<r>\n"
                            "<Elev><cpr>0101001234</cpr></Elev>\n"
                            "<Elev><cpr>0101001235</cpr></Elev>\n</r>\n";
  size_t cut, end = strlen(doc) - 1; /* without the final newline */
  (void)state;

  /* Every cut before the root's end fails; none succeeds quietly. */
  for (cut = 0; cut < end - 3; cut++) {
    parse p = {.record = "/r/Elev", .fields = fields, .nfields = 1};
    run_parse(&p, doc, cut);
    if (p.rc != XR_EDATA)
      fail_msg("cut at %zu: rc %d, want XR_EDATA", cut, p.rc);
    if (!strstr(p.err, "line "))
      fail_msg("cut at %zu: no line in '%s'", cut, p.err);
    free(p.out);
  }
  {
    parse p = {.record = "/r/Elev", .fields = fields, .nfields = 1};
    run_parse(&p, doc, 60);
    assert_non_null(strstr(p.err, "truncated"));
    assert_non_null(strstr(p.err, "line 3"));
    free(p.out);
    run_parse(&p, doc, 0);
    assert_non_null(strstr(p.err, "no root element"));
    free(p.out);
    run_parse(&p, doc, end);
    assert_int_equal(p.rc, 0);
    free(p.out);
  }
}

static void test_record_function_stops(void **state) {
  static const char *const fields[] = {"cpr"};
  parse p = {
      .record = "//Elev", .fields = fields, .nfields = 1, .stop_after = 2};
  (void)state;
  run_text(&p, nested_doc);
  assert_int_equal(p.rc, -42);
  assert_string_equal(p.err, "");
  assert_string_equal(p.out, "1@3:|0101001234\n2@9:|skipped\n");
  free(p.out);
}

/* ---- engine: secure parsing ------------------------------------------- */

static const char billion_laughs[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE lolz [\n"
    " <!ENTITY lol \"lol\">\n"
    " <!ELEMENT lolz (#PCDATA)>\n"
    " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
    " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;"
    "&lol1;\">\n"
    " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"
    "&lol2;\">\n"
    " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"
    "&lol3;\">\n"
    " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"
    "&lol4;\">\n"
    " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;"
    "&lol5;\">\n"
    " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;"
    "&lol6;\">\n"
    " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;"
    "&lol7;\">\n"
    " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;"
    "&lol8;\">\n"
    "]>\n"
    "<lolz><Elev><cpr>&lol9;</cpr></Elev></lolz>\n";

static long maxrss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Parse doc (whole and byte by byte) and expect the DTD refusal, quickly
 * and without memory growth, with no record and no text of it seen. */
static void expect_refused(const char *doc, size_t len) {
  static const char *const fields[] = {"cpr", "."};
  size_t c;

  for (c = 0; c < 2; c++) {
    parse p = {
        .record = "//Elev", .fields = fields, .nfields = 2, .chunk = c ? 1 : 0};
    long rss0 = maxrss_kb();
    double t0 = now_s();
    run_parse(&p, doc, len);
    assert_true(now_s() - t0 < 2.0);
    assert_true(maxrss_kb() - rss0 < 16 * 1024);
    assert_int_equal(p.rc, XR_EDATA);
    if (!strstr(p.err, "DTDs and entity declarations are not accepted"))
      fail_msg("message: %s", p.err);
    assert_string_equal(p.out, "");
    assert_int_equal(p.peak, 0);
    free(p.out);
  }
}

static void test_billion_laughs_refused(void **state) {
  sp_buf b;
  int i;
  (void)state;
  expect_refused(billion_laughs, strlen(billion_laughs));

  /* quadratic blowup: one large entity referenced many times */
  sp_buf_init(&b);
  sp_buf_puts(&b, "<!DOCTYPE r [<!ENTITY a \"");
  for (i = 0; i < 50000; i++)
    sp_buf_putc(&b, 'a');
  sp_buf_puts(&b, "\">]><r><Elev><cpr>");
  for (i = 0; i < 50000; i++)
    sp_buf_puts(&b, "&a;");
  sp_buf_puts(&b, "</cpr></Elev></r>");
  expect_refused(b.data, b.len);
  sp_buf_free(&b);
}

static void test_external_entities_refused(void **state) {
  static const char *const docs[] = {
      "<?xml version=\"1.0\"?>\n<!DOCTYPE r [\n"
      "<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\n"
      "<r><Elev><cpr>&e;</cpr></Elev></r>",
      "<!DOCTYPE r [<!ENTITY e SYSTEM \"http://127.0.0.1:9/x\">]>"
      "<r><Elev><cpr>&e;</cpr></Elev></r>",
      "<!DOCTYPE r SYSTEM \"http://127.0.0.1:9/x.dtd\"><r><Elev/></r>",
      "<!DOCTYPE r PUBLIC \"-//X//Y\" \"file:///etc/passwd\"><r><Elev/></r>",
      "<!DOCTYPE r [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>"
      "<r><Elev/></r>",
      "<!DOCTYPE r [<!ENTITY e SYSTEM \"/etc/passwd\" NDATA x>]>"
      "<r><Elev a=\"&e;\"/></r>",
  };
  size_t i;
  (void)state;
  for (i = 0; i < NELEM(docs); i++)
    expect_refused(docs[i], strlen(docs[i]));
}

static void test_doctype_without_entities_refused(void **state) {
  /* Every DOCTYPE is refused: it is the one way into DTD processing, and
   * no partner's export needs one. */
  static const char *const docs[] = {
      "<!DOCTYPE r><r><Elev/></r>",
      "<?xml version=\"1.0\"?>\n<!DOCTYPE r [<!ELEMENT r ANY>]>\n<r/>",
  };
  size_t i;
  (void)state;
  for (i = 0; i < NELEM(docs); i++)
    expect_refused(docs[i], strlen(docs[i]));
}

static void test_xinclude_not_processed(void **state) {
  static const char *const fields[] = {".", "count(*)"};
  parse p = {.record = "/r/Elev", .fields = fields, .nfields = 2};
  (void)state;
  run_text(&p, "<r xmlns:xi=\"http://www.w3.org/2001/XInclude\"><Elev>"
               "<xi:include href=\"file:///etc/passwd\" parse=\"text\"/>"
               "</Elev></r>");
  assert_int_equal(p.rc, 0);
  assert_string_equal(p.out, "1@1:||1\n");
  free(p.out);
}

/* ---- engine: limits --------------------------------------------------- */

static void test_record_too_long(void **state) {
  static const char *const fields[] = {"cpr"};
  sp_buf b;
  parse p = {
      .record = "/r/Elev", .fields = fields, .nfields = 1, .max_record = 2048};
  int i;
  (void)state;

  sp_buf_init(&b);
  sp_buf_puts(&b, "<r>\n<Elev><cpr>1</cpr></Elev>\n<Elev><cpr>2</cpr><t>");
  for (i = 0; i < 3000; i++)
    sp_buf_putc(&b, 'P');
  sp_buf_puts(&b, "</t></Elev>\n<Elev><cpr>3</cpr>");
  for (i = 0; i < 100; i++)
    sp_buf_puts(&b, "<x a=\"1\"/>"); /* small, but many nodes */
  sp_buf_puts(&b, "</Elev>\n<Elev><cpr>4</cpr></Elev>\n</r>");

  for (i = 0; i < 2; i++) {
    p.chunk = i ? 5 : 0;
    run_parse(&p, b.data, b.len);
    assert_int_equal(p.rc, 0);
    assert_string_equal(p.out, "1@2:|1\n2@3:TOO_LONG\n3@4:TOO_LONG\n4@5:|4\n");
    free(p.out);
  }
  assert_true(p.peak <= 2048);
  sp_buf_free(&b);
}

static void test_nesting_limit(void **state) {
  static const char *const fields[] = {"count(.//a)"};
  parse p = {.record = "//a", .fields = fields, .nfields = 1};
  sp_buf b;
  int i;
  (void)state;

  for (i = 0; i < 2; i++) {
    int depth = i ? XR_MAX_DEPTH + 1 : XR_MAX_DEPTH, k;
    sp_buf_init(&b);
    for (k = 0; k < depth; k++)
      sp_buf_puts(&b, "<a>");
    for (k = 0; k < depth; k++)
      sp_buf_puts(&b, "</a>");
    run_parse(&p, b.data, b.len);
    if (i == 0) {
      assert_int_equal(p.rc, 0);
      assert_string_equal(p.out, "1@1:|1023\n");
    } else {
      assert_int_equal(p.rc, XR_EDATA);
      assert_non_null(strstr(p.err, "nested more than 1024 deep"));
    }
    free(p.out);
    sp_buf_free(&b);
  }
}

static void test_soap_fault(void **state) {
  static const char *const fields[] = {"cpr"};
  static const char soap11[] =
      "<?xml version=\"1.0\"?>\n"
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">\n"
      "<s:Body><s:Fault><faultcode>s:Client</faultcode>\n"
      "<faultstring>Ukendt CPR 010100-1234\tfor\nbruger</faultstring>"
      "<detail><x>more</x></detail></s:Fault></s:Body></s:Envelope>";
  static const char soap12[] =
      "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\">"
      "<env:Body><env:Fault><env:Code><env:Value>env:Receiver</env:Value>"
      "<env:Subcode><env:Value>x:Other</env:Value></env:Subcode></env:Code>"
      "<env:Reason><env:Text xml:lang=\"da\">Tjenesten er nede</env:Text>"
      "<env:Text xml:lang=\"en\">Service down</env:Text></env:Reason>"
      "</env:Fault></env:Body></env:Envelope>";
  sp_buf b;
  parse p = {.record = "//Elev", .fields = fields, .nfields = 1};
  int i;
  (void)state;

  run_text(&p, soap11);
  assert_int_equal(p.rc, XR_EFAULT);
  /* The code is shown, the fault string (free text: here a CPR number
   * and a word) never. */
  assert_string_equal(p.err, "line 5: SOAP Fault s:Client (its fault string "
                             "is withheld: it may quote data)");
  assert_null(strstr(p.err, "Ukendt"));
  free(p.out);
  run_text(&p, soap12);
  assert_int_equal(p.rc, XR_EFAULT);
  assert_non_null(strstr(p.err, "SOAP Fault env:Receiver (its fault"));
  assert_null(strstr(p.err, "nede"));
  free(p.out);

  /* A fault code that is not a qualified name is free text too. */
  run_text(&p, "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/"
               "envelope/\"><s:Body><s:Fault><faultcode>Jens Hansen"
               "</faultcode></s:Fault></s:Body></s:Envelope>");
  assert_int_equal(p.rc, XR_EFAULT);
  assert_null(strstr(p.err, "Jens"));
  free(p.out);

  /* A long fault string is not even read. */
  sp_buf_init(&b);
  sp_buf_puts(&b, "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/"
                  "envelope/\"><s:Body><s:Fault><faultstring>");
  for (i = 0; i < 5000; i++)
    sp_buf_puts(&b, "\xc3\xa6");
  sp_buf_puts(&b, "</faultstring></s:Fault></s:Body></s:Envelope>");
  p.chunk = 3;
  run_parse(&p, b.data, b.len);
  assert_int_equal(p.rc, XR_EFAULT);
  assert_null(strstr(p.err, "\xc3\xa6"));
  free(p.out);
  sp_buf_free(&b);

  /* Records before the Fault are delivered; the document fails all the
   * same (the core then loads nothing of it). */
  p.chunk = 0;
  run_text(&p, "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/"
               "envelope/\"><s:Body><Elev><cpr>1</cpr></Elev><s:Fault/>"
               "</s:Body></s:Envelope>");
  assert_int_equal(p.rc, XR_EFAULT);
  assert_non_null(strstr(p.err, "line 1: SOAP Fault (its fault string"));
  assert_string_equal(p.out, "1@1:|1\n");
  free(p.out);
}

/*
 * Write a large generated document (`bytes` of it) to the parser in 64 KiB
 * pieces, never holding it whole.  Returns the records seen.
 */
static unsigned long long feed_large(size_t bytes, size_t *peak) {
  static const char *const fields[] = {"cpr", "klassetrin", "fag/navn", "@id"};
  xr_config cfg = {.record = "/Elevliste/Elev", .max_record = 0};
  xr_parser *xp;
  xr_fields *xf;
  seen s;
  char err[512];
  char *buf = malloc(65536 + 4096);
  size_t used = 0, total = 0;
  unsigned long i = 0;

  assert_non_null(buf);
  memset(&s, 0, sizeof s);
  sp_buf_init(&s.out);
  assert_int_equal(
      xr_fields_new(fields, NELEM(fields), NULL, 0, &xf, err, sizeof err), 0);
  s.fields = xf;
  s.nfields = NELEM(fields);
  assert_int_equal(xr_parser_new(&cfg, on_rec, &s, &xp, err, sizeof err), 0);
  used = (size_t)sprintf(buf, "<?xml version=\"1.0\"?>\n<Elevliste>\n");
  while (total + used < bytes) {
    used += (size_t)sprintf(
        buf + used,
        "  <Elev id=\"%lu\">\n    <cpr>%02lu%02lu%02lu%04lu</cpr>\n"
        "    <klassetrin>%lu</klassetrin>\n    <skoleaar>2025/26</skoleaar>\n"
        "    <fag><navn>Dansk</navn><resultat>%+.2f</resultat></fag>\n"
        "    <fravaer>%lu.%lu</fravaer>\n  </Elev>\n",
        i, i % 28 + 1, i % 12 + 1, i % 100, i % 10000, i % 10,
        (double)(i % 200) / 100.0 - 1.0, i % 30, i % 10);
    i++;
    if (used >= 65536) {
      assert_int_equal(xr_parser_feed(xp, buf, used), 0);
      total += used;
      used = 0;
      /* the records' text is not kept: forget it as we go */
      sp_buf_reset(&s.out);
    }
  }
  used += (size_t)sprintf(buf + used, "</Elevliste>\n");
  assert_int_equal(xr_parser_feed(xp, buf, used), 0);
  assert_int_equal(xr_parser_finish(xp), 0);
  assert_int_equal(xr_parser_records(xp), i);
  *peak = xr_parser_peak(xp);
  xr_parser_free(xp);
  xr_fields_free(xf);
  sp_buf_free(&s.out);
  free(buf);
  return i;
}

static void test_large_document_bounded_memory(void **state) {
  size_t peak;
  long rss;
  unsigned long long n;
  (void)state;

  n = feed_large(50u * 1024 * 1024, &peak);
  rss = maxrss_kb();
  print_message("50 MB document: %llu records, largest record %zu units, "
                "max RSS %ld kB%s\n",
                n, peak, rss,
                UNDER_ASAN ? " (ASan: RSS limit not checked)" : "");
  assert_true(n > 150000);
  assert_true(peak < 4096);
  /* ASan's shadow memory and quarantine hold far more than the parser
   * does; the bound is checked in the plain build. */
  if (!UNDER_ASAN && rss >= 64 * 1024)
    fail_msg("max RSS %ld kB, want < 64 MB", rss);
}

/* ---- the plugin: test host -------------------------------------------- */

/* The context, sink and temporary directory are the shared test host's
 * (plugin_host.h); the host is the core's, with the shared log and error
 * (which check messages for markers and keep them).  The core's host
 * forwards records to a core sink, which forwards them to the shared
 * one. */
typedef struct tsink {
  samspor_sink base; /* the core's sink interface */
  ph_sink *to;
} tsink;

static int s_record_begin(samspor_sink *sink, const char *position) {
  return ph_record_begin(((tsink *)sink)->to, position);
}

static void s_field(samspor_sink *sink, size_t index, const char *value,
                    size_t len) {
  ph_field(((tsink *)sink)->to, index, value, len);
}

static int s_record_end(samspor_sink *sink) {
  return ph_record_end(((tsink *)sink)->to);
}

static int s_reject(samspor_sink *sink, const char *position,
                    const char *reason, const char *message) {
  return ph_reject(((tsink *)sink)->to, position, reason, message);
}

static void s_set_state(samspor_sink *sink, const char *state) {
  ph_set_state(((tsink *)sink)->to, state);
}

/* One run of the plugin: settings from libconfig text, host objects,
 * results. */
typedef struct run {
  config_t cfg;
  samspor_settings *source, *stream;
  samspor_host host;
  ph_ctx ctx;
  ph_sink sink;
  tsink fwd; /* forwards to sink */
  const char *cursor;
  const char *state; /* the stored state given to open */
  int full;          /* --full */
  int open_rc, read_rc;
} run;

/*
 * Parse `source` and `stream` (the insides of the groups, libconfig
 * syntax; "%D" stands for ph_tmpdir) with the plugin's tables and the core's
 * option engine, the stream as the core does: its own table and the
 * plugin's (a table and a column are added for the core's).
 */
static void run_init(run *r, const char *source, const char *stream) {
  const samspor_plugin *pl = samspor_plugin_descriptor();
  sp_buf text, sub;
  sp_errors errs;
  const char *s;
  size_t i;

  memset(r, 0, sizeof *r);
  sp_buf_init(&text);
  sp_buf_init(&sub);
  sp_buf_printf(&text,
                "source = { %s };\nstream = { table = \"t\"; columns = ( { "
                "name = \"c\"; from = \"x\"; } ); %s };\n",
                source, stream);
  for (s = text.data; *s; s++)
    if (s[0] == '%' && s[1] == 'D') {
      sp_buf_puts(&sub, ph_tmpdir);
      s++;
    } else {
      sp_buf_putc(&sub, *s);
    }
  config_init(&r->cfg);
  if (!config_read_string(&r->cfg, sub.data))
    fail_msg("config: line %d: %s", config_error_line(&r->cfg),
             config_error_text(&r->cfg));
  sp_errors_init(&errs);
  r->source =
      sp_settings_parse(config_lookup(&r->cfg, "source"), pl->source_options,
                        NULL, "source", ph_tmpdir, &errs);
  r->stream =
      sp_settings_parse(config_lookup(&r->cfg, "stream"), sp_stream_options,
                        pl->stream_options, "stream", ph_tmpdir, &errs);
  for (i = 0; i < errs.nerrors; i++)
    print_error("settings: %s\n", errs.errors[i]);
  assert_int_equal(errs.nerrors, 0);
  sp_errors_free(&errs);
  sp_buf_free(&text);
  sp_buf_free(&sub);

  r->host = *sp_host();
  r->host.log = ph_host.log;
  r->host.error = ph_host.error;
  r->ctx.keep_log = 1;
  sp_buf_init(&r->ctx.log);
  sp_buf_init(&r->sink.out);
  sp_buf_puts(&r->sink.out, "");
  sp_buf_puts(&r->ctx.log, "");
  r->fwd.base.record_begin = s_record_begin;
  r->fwd.base.field = s_field;
  r->fwd.base.record_end = s_record_end;
  r->fwd.base.reject = s_reject;
  r->fwd.base.set_state = s_set_state;
  r->fwd.to = &r->sink;
}

/* open, read (when open worked), close; results in r. */
static void run_plugin(run *r, const char *const *fields, size_t nfields) {
  const samspor_plugin *pl = samspor_plugin_descriptor();
  samspor_open_args a = {
      .struct_size = sizeof a,
      .host = &r->host,
      .ctx = PH_CTX(&r->ctx),
      .sink = &r->fwd.base,
      .source = r->source,
      .stream = r->stream,
      .fields = fields,
      .nfields = nfields,
      .cursor = r->cursor,
      .cursor_field = -1,
      .state = r->state,
      .full = r->full,
  };

  r->sink.nfields = nfields;
  ph_open_read_close(pl, &a, &r->ctx, &r->open_rc, &r->read_rc);
}

static void run_free(run *r) {
  sp_settings_free(r->source);
  sp_settings_free(r->stream);
  config_destroy(&r->cfg);
  ph_sink_free(&r->sink);
  ph_ctx_free(&r->ctx);
}

/* ---- the plugin ------------------------------------------------------- */

static void test_plugin_descriptor(void **state) {
  const samspor_plugin *pl = samspor_plugin_descriptor();
  const samspor_option *o;
  int url = 0, ns = 0, soap = 0, max = 0, record = 0;
  (void)state;

  assert_int_equal(pl->struct_size, sizeof(samspor_plugin));
  assert_int_equal(pl->abi_version, SAMSPOR_ABI_VERSION);
  assert_string_equal(pl->name, "xml");
  assert_non_null(pl->open);
  assert_non_null(pl->read);
  assert_non_null(pl->close);
  assert_non_null(pl->check);
  for (o = pl->source_options; o->name; o++) {
    assert_non_null(o->help);
    url += !strcmp(o->name, "url");
    ns += !strcmp(o->name, "namespaces") && o->type == SAMSPOR_OPT_STRLIST;
    soap +=
        !strcmp(o->name, "soap_request_file") && o->type == SAMSPOR_OPT_PATH;
    max += !strcmp(o->name, "max_record_size") && o->type == SAMSPOR_OPT_INT;
  }
  for (o = pl->stream_options; o->name; o++)
    record += !strcmp(o->name, "record") && o->type == SAMSPOR_OPT_STRING &&
              (o->flags & SAMSPOR_OPT_REQUIRED);
  assert_int_equal(url + ns + soap + max + record, 5);
}

static const char elevliste[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<e:Elevliste xmlns:e=\"urn:test:elev\">\n"
    "  <e:Elev id=\"1\"><e:cpr>0101001234</e:cpr><e:navn>Person "
    "1</e:navn><e:klassetrin>3</e:klassetrin></e:Elev>\n"
    "  <e:Elev id=\"2\"><e:cpr>0101001235</e:cpr><e:klassetrin/></e:Elev>\n"
    "</e:Elevliste>\n";

static void test_plugin_reads_records(void **state) {
  static const char *const fields[] = {"e:cpr", "@id", "e:klassetrin",
                                       "e:fravaer"};
  run r;
  (void)state;

  ph_write_text("elevliste.xml", elevliste);
  run_init(&r,
           "url = \"%D/elevliste.xml\"; namespaces = [\"e=urn:test:elev\"];",
           "record = \"/e:Elevliste/e:Elev\";");
  run_plugin(&r, fields, NELEM(fields));
  assert_int_equal(r.open_rc, 0);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data,
                      "elevliste.xml: record 1 (line 3) |0101001234 |1 |3 "
                      "<null>\n"
                      "elevliste.xml: record 2 (line 4) |0101001235 |2 | "
                      "<null>\n");
  assert_non_null(r.sink.state);
  assert_non_null(
      strstr(r.sink.state, "[{\"name\":\"elevliste.xml\",\"size\":"));
  assert_non_null(strstr(r.sink.state, ",\"mtime\":"));
  /* a field never present is worth a warning */
  assert_non_null(strstr(r.ctx.log.data, "field 'e:fravaer' has no value in "
                                         "any of the 2 records"));
  run_free(&r);
}

static void test_plugin_malformed_fails_stream(void **state) {
  static const char *const fields[] = {"cpr"};
  run r;
  (void)state;

  ph_write_text("bad.xml", "<r>\n<Elev><cpr>0101001234</cpr></Elev>\n"
                           "<Elev><cpr>SECRET</cpr></Elev\n</r>\n");
  run_init(&r, "url = \"%D/bad.xml\";", "record = \"/r/Elev\";");
  run_plugin(&r, fields, 1);
  assert_int_equal(r.open_rc, 0);
  assert_int_equal(r.read_rc, SAMSPOR_EDATA);
  assert_non_null(strstr(r.ctx.error, "xml: bad.xml: line 4"));
  assert_non_null(strstr(r.ctx.error, "nothing from it is loaded"));
  assert_null(r.sink.state); /* no state: the run failed */
  run_free(&r);

  /* a document that ends early: broken when older than the settle time
   * (5 minutes without min_age) ... */
  ph_write_file("trunc.xml", "<r>\n<Elev><cpr>0101001234</cpr></Elev>\n<Elev>",
                strlen("<r>\n<Elev><cpr>0101001234</cpr></Elev>\n<Elev>"),
                time(NULL) - 301);
  run_init(&r, "url = \"%D/trunc.xml\";", "record = \"/r/Elev\";");
  run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, SAMSPOR_EDATA);
  assert_non_null(strstr(r.ctx.error, "truncated"));
  run_free(&r);

  /* ... still being written when fresh: temporary (exit 75) */
  ph_write_text("trunc.xml", "<r>\n<Elev><cpr>0101001234</cpr></Elev>\n<Elev>");
  run_init(&r, "url = \"%D/trunc.xml\";", "record = \"/r/Elev\";");
  run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, SAMSPOR_ETEMP);
  assert_non_null(strstr(r.ctx.error, "still being written"));
  assert_null(r.sink.state);
  run_free(&r);

  /* an empty file just written (an export starting over): the same */
  ph_write_text("empty.xml", "");
  run_init(&r, "url = \"%D/empty.xml\";", "record = \"/r/Elev\";");
  run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, SAMSPOR_ETEMP);
  run_free(&r);

  ph_write_text("lol.xml", billion_laughs);
  run_init(&r, "url = \"%D/lol.xml\";", "record = \"//Elev\";");
  run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, SAMSPOR_EDATA);
  assert_non_null(strstr(r.ctx.error, "lol.xml: line 2: DTDs and entity "
                                      "declarations are not accepted"));
  assert_string_equal(r.sink.out.data, "");
  run_free(&r);

  run_init(&r, "url = \"%D/elevliste.xml\";", "record = \"/Elevliste/Elev\";");
  ph_write_text("elevliste.xml", elevliste);
  run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "in namespace 'urn:test:elev'"));
  run_free(&r);
}

static void test_plugin_settings_errors(void **state) {
  static const char *const bad_field[] = {"e:cpr["};
  static const char *const unknown_prefix[] = {"q:cpr"};
  run r;
  (void)state;

  ph_write_text("elevliste.xml", elevliste);
  run_init(&r, "url = \"%D/elevliste.xml\"; namespaces = [\"e=urn:x\"];",
           "record = \"/e:Elevliste/e:Elev\";");
  run_plugin(&r, bad_field, 1);
  assert_int_equal(r.open_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "field 'e:cpr['"));
  run_free(&r);

  run_init(&r, "url = \"%D/elevliste.xml\";", "record = \"/e:Elevliste\";");
  run_plugin(&r, bad_field + 0, 0);
  assert_int_equal(r.open_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "prefix 'e' is not declared"));
  run_free(&r);

  run_init(&r, "url = \"%D/elevliste.xml\";", "record = \"/a\";");
  run_plugin(&r, unknown_prefix, 1);
  assert_int_equal(r.open_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "prefix"));
  run_free(&r);

  run_init(&r, "url = \"%D/nosuch.xml\";", "record = \"/a\";");
  run_plugin(&r, NULL, 0);
  assert_true(r.open_rc < 0);
  run_free(&r);
}

static void test_plugin_too_long_is_a_reject(void **state) {
  static const char *const fields[] = {"cpr"};
  sp_buf b;
  run r;
  int i;
  (void)state;

  sp_buf_init(&b);
  sp_buf_puts(&b, "<r>\n<Elev><cpr>1</cpr></Elev>\n<Elev><cpr>Person</cpr>");
  for (i = 0; i < 2000; i++)
    sp_buf_puts(&b, "<n>Testvej</n>");
  sp_buf_puts(&b, "</Elev>\n<Elev><cpr>3</cpr></Elev>\n</r>\n");
  ph_write_file("big.xml", b.data, b.len, 0);
  sp_buf_free(&b);
  run_init(&r, "url = \"%D/big.xml\"; max_record_size = 4096;",
           "record = \"/r/Elev\";");
  run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data,
                      "big.xml: record 1 (line 2) |1\n"
                      "big.xml: record 2 (line 3) REJECT record_too_long: "
                      "record is larger than max_record_size (4096 bytes); "
                      "it was not read\n"
                      "big.xml: record 3 (line 4) |3\n");
  assert_non_null(strstr(r.ctx.log.data, "3 records, 1 malformed"));
  run_free(&r);
}

static void test_plugin_host_stop(void **state) {
  static const char *const fields[] = {"e:cpr"};
  run r;
  (void)state;

  ph_write_text("elevliste.xml", elevliste);
  run_init(&r,
           "url = \"%D/elevliste.xml\"; namespaces = [\"e=urn:test:elev\"];",
           "record = \"//e:Elev\";");
  r.sink.stop_after = 1;
  run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, -42);
  assert_int_equal(r.sink.nrecords, 1);
  run_free(&r);
}

static void test_soap_request_template(void **state) {
  static const char tpl[] = "${cursor}<fra>${cursor}</fra>${curs${cursor}";
  size_t len;
  char *s;
  (void)state;

  s = xr_soap_request(tpl, strlen(tpl), "2026-01-01 <&>\"'", &len);
  assert_non_null(s);
  assert_string_equal(s, "2026-01-01 &lt;&amp;&gt;&quot;&apos;<fra>2026-01-01 "
                         "&lt;&amp;&gt;&quot;&apos;</fra>${curs2026-01-01 "
                         "&lt;&amp;&gt;&quot;&apos;");
  assert_int_equal(len, strlen(s));
  free(s);
  s = xr_soap_request(tpl, strlen(tpl), NULL, &len);
  assert_string_equal(s, "<fra></fra>${curs");
  free(s);
  s = xr_soap_request("no key ${cursor", 15, "x", &len);
  assert_string_equal(s, "no key ${cursor");
  free(s);
  s = xr_soap_request("", 0, "x", &len);
  assert_string_equal(s, "");
  assert_int_equal(len, 0);
  free(s);
}

static void test_plugin_soap_settings(void **state) {
  static const char *const fields[] = {"m:cpr"};
  run r;
  (void)state;

  /* SOAP is a POST to an https:// service, not a local file. */
  ph_write_text("request.xml", "<x>${cursor}</x>");
  ph_write_text("svc.xml", "<x/>");
  run_init(&r, "url = \"%D/svc.xml\"; soap_request_file = \"%D/request.xml\";",
           "record = \"//Elev\";");
  run_plugin(&r, fields, 0);
  assert_int_equal(r.open_rc, SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "needs an https:// url"));
  run_free(&r);

  /* a missing template fails open, before anything is posted */
  run_init(&r,
           "url = \"https://127.0.0.1:9/svc\"; soap_request_file = "
           "\"%D/nosuch.xml\";",
           "record = \"//Elev\";");
  run_plugin(&r, fields, 0);
  assert_int_equal(r.open_rc, SAMSPOR_ENOENT);
  assert_non_null(strstr(r.ctx.error, "soap_request_file"));
  run_free(&r);
}

static void test_plugin_append_skips_loaded_files(void **state) {
  static const char *const fields[] = {"cpr"};
  static const char src[] = "url = \"%D/elever_*.xml\"; files = \"all\";";
  char *saved;
  run r;
  (void)state;

  ph_write_text("elever_1.xml", "<r><Elev><cpr>1</cpr></Elev></r>");
  run_init(&r, src, "mode = \"append\"; record = \"/r/Elev\";");
  run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "elever_1.xml: record 1 (line 1) |1\n");
  saved = strdup(r.sink.state);
  run_free(&r);

  /* the next run: only the new file */
  ph_write_text("elever_2.xml", "<r><Elev><cpr>2</cpr></Elev></r>");
  run_init(&r, src, "mode = \"append\"; record = \"/r/Elev\";");
  r.state = saved;
  run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, 0);
  assert_string_equal(r.sink.out.data, "elever_2.xml: record 1 (line 1) |2\n");
  assert_non_null(strstr(r.ctx.log.data, "elever_1.xml already loaded"));
  assert_non_null(strstr(r.sink.state, "\"elever_1.xml\""));
  assert_non_null(strstr(r.sink.state, "\"elever_2.xml\""));
  free(saved);
  saved = strdup(r.sink.state);
  run_free(&r);

  /* a file that changed is read again; --full reads every file */
  ph_write_text("elever_1.xml", "<r><Elev><cpr>11</cpr></Elev></r>");
  run_init(&r, src, "mode = \"append\"; record = \"/r/Elev\";");
  r.state = saved;
  run_plugin(&r, fields, 1);
  assert_string_equal(r.sink.out.data, "elever_1.xml: record 1 (line 1) |11\n");
  run_free(&r);
  run_init(&r, src, "mode = \"append\"; record = \"/r/Elev\";");
  r.state = saved;
  r.full = 1;
  run_plugin(&r, fields, 1);
  assert_string_equal(r.sink.out.data, "elever_1.xml: record 1 (line 1) |11\n"
                                       "elever_2.xml: record 1 (line 1) |2\n");
  run_free(&r);

  /* other modes read every file */
  run_init(&r, src, "mode = \"full_refresh\"; record = \"/r/Elev\";");
  r.state = saved;
  run_plugin(&r, fields, 1);
  assert_int_equal(r.read_rc, 0);
  assert_non_null(strstr(r.sink.out.data, "elever_2.xml"));
  run_free(&r);

  /* a state that is not ours: refuse to guess */
  run_init(&r, src, "mode = \"append\"; record = \"/r/Elev\";");
  r.state = "{\"cursor\": 1}";
  run_plugin(&r, fields, 1);
  assert_int_equal(r.open_rc, SAMSPOR_EDATA);
  assert_non_null(strstr(r.ctx.error, "stored state"));
  run_free(&r);
  free(saved);
}

static void test_plugin_check(void **state) {
  const samspor_plugin *pl = samspor_plugin_descriptor();
  samspor_check_args a = {.struct_size = sizeof a};
  run r;
  (void)state;

  ph_write_text("elevliste.xml", elevliste);
  run_init(&r, "url = \"%D/elevliste.xml\";", "record = \"/a\";");
  a.host = &r.host;
  a.ctx = PH_CTX(&r.ctx);
  a.source = r.source;
  assert_int_equal(pl->check(&a), 0);
  run_free(&r);

  run_init(&r, "url = \"%D/nosuch.xml\";", "record = \"/a\";");
  a.host = &r.host;
  a.ctx = PH_CTX(&r.ctx);
  a.source = r.source;
  assert_true(pl->check(&a) < 0);
  assert_true(r.ctx.nerrors > 0);
  run_free(&r);

  run_init(&r, "url = \"%D/elevliste.xml\"; namespaces = [\"bad\"];",
           "record = \"/a\";");
  a.host = &r.host;
  a.ctx = PH_CTX(&r.ctx);
  a.source = r.source;
  assert_int_equal(pl->check(&a), SAMSPOR_EINVAL);
  assert_non_null(strstr(r.ctx.error, "namespaces"));
  run_free(&r);
}

int main(void) {
  const struct CMUnitTest engine[] = {
      /* first, so that the process's max RSS is this test's */
      cmocka_unit_test(test_large_document_bounded_memory),
      cmocka_unit_test(test_nested_records),
      cmocka_unit_test(test_namespaces_with_prefixes),
      cmocka_unit_test(test_attributes_entities_cdata),
      cmocka_unit_test(test_encodings),
      cmocka_unit_test(test_encoding_errors_stay_quiet),
      cmocka_unit_test(test_record_path_mismatch),
      cmocka_unit_test(test_record_path_syntax),
      cmocka_unit_test(test_field_xpath_errors),
      cmocka_unit_test(test_chunk_boundaries),
      cmocka_unit_test(test_malformed_document),
      cmocka_unit_test(test_truncated_document),
      cmocka_unit_test(test_record_function_stops),
      cmocka_unit_test(test_billion_laughs_refused),
      cmocka_unit_test(test_external_entities_refused),
      cmocka_unit_test(test_doctype_without_entities_refused),
      cmocka_unit_test(test_xinclude_not_processed),
      cmocka_unit_test(test_record_too_long),
      cmocka_unit_test(test_nesting_limit),
      cmocka_unit_test(test_soap_fault),
      cmocka_unit_test(test_soap_request_template),
  };
  const struct CMUnitTest plugin[] = {
      cmocka_unit_test(test_plugin_descriptor),
      cmocka_unit_test(test_plugin_reads_records),
      cmocka_unit_test(test_plugin_malformed_fails_stream),
      cmocka_unit_test(test_plugin_settings_errors),
      cmocka_unit_test(test_plugin_too_long_is_a_reject),
      cmocka_unit_test(test_plugin_host_stop),
      cmocka_unit_test(test_plugin_soap_settings),
      cmocka_unit_test(test_plugin_append_skips_loaded_files),
      cmocka_unit_test(test_plugin_check),
  };
  int failed;
  ph_set_markers(private_markers);

  xmlInitParser();
  failed = cmocka_run_group_tests_name("xml engine", engine, NULL, NULL);
  failed += cmocka_run_group_tests_name("xml plugin", plugin, ph_setup_dir,
                                        ph_teardown_dir);
  return failed ? 1 : 0;
}
