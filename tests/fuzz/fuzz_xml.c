#include "config.h"

/*
 * fuzz_xml.c — libFuzzer target for the xml record engine
 * (plugins/xml/xml_records.c).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -I. -Iplugins/xml $(pkg-config --cflags libxml-2.0) \
 *     tests/fuzz/fuzz_xml.c plugins/xml/xml_records.c \
 *     $(pkg-config --libs libxml-2.0) -o fuzz_xml && ./fuzz_xml \
 *     -max_total_time=60
 *
 * Byte 0 picks the configuration (bits 0-1 the record path, bit 2 a
 * 1024-byte record limit, bit 3 a record function that stops at the third
 * record), byte 1 seeds the chunk sizes; the rest is the document.  Besides
 * the sanitizers' checks, the target asserts:
 *   - the document fed whole and fed in random pieces (1 to 64 bytes, with
 *     empty feeds between) gives the same records, field values and result
 *     code, whenever both parses succeed;
 *   - a too_long record has no node and every other has one; record numbers
 *     count up from 1; line numbers never go down;
 *   - the largest record stays within the limit (the memory bound);
 *   - the messages of well-formedness errors and DTD refusals are plain
 *     ASCII (they are made of our own words and numbers, never the
 *     document's bytes);
 *   - a failed document stays failed until finish, and the parser is
 *     usable for the next document after it;
 *   - xr_soap_request, with the document as the template, replaces every
 *     ${cursor} and nothing else (its length says so).
 */

#include "xml_records.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[4] = {"/r/e", "//e", "/*/*", "//p:e"};
static const char *const ns[] = {"p=urn:p", "q=urn:q"};
static const char *const fields[] = {".",        "@a",       "e",
                                     "p:e/@q:a", "count(*)", "string(@p:b)",
                                     "*[2]",     "number(e)"};

typedef struct out {
  char *s; /* every record, serialised */
  size_t len, cap;
  xr_fields *f;
  unsigned long long last_number;
  unsigned long last_line;
  int stop_at; /* stop at this record (0: never) */
} out;

static void out_add(out *o, const void *p, size_t n) {
  if (n == 0)
    return;
  if (o->len + n > o->cap) {
    o->cap = (o->len + n) * 2 + 64;
    o->s = realloc(o->s, o->cap);
    if (!o->s)
      abort();
  }
  memcpy(o->s + o->len, p, n);
  o->len += n;
}

static uint32_t next_rand(uint32_t *x) {
  *x = *x * 1103515245u + 12345u;
  return *x >> 16;
}

static int on_record(void *ud, const xr_record *r) {
  out *o = ud;
  char err[256];
  size_t i;

  if (r->number != o->last_number + 1 || r->line < o->last_line)
    abort();
  o->last_number = r->number;
  o->last_line = r->line;
  if ((r->too_long && r->node) || (!r->too_long && !r->node))
    abort();
  out_add(o, &r->number, sizeof r->number);
  out_add(o, &r->line, sizeof r->line);
  out_add(o, &r->too_long, sizeof r->too_long);
  for (i = 0; !r->too_long && i < sizeof fields / sizeof *fields; i++) {
    const char *v;
    size_t len;
    int rc = xr_fields_eval(o->f, r, i, &v, &len, err, sizeof err);
    if (rc == XR_ENOMEM)
      abort();
    if (rc != 0)
      continue; /* a runtime XPath error is reported, not a crash */
    if (v && strlen(v) != len)
      abort();
    out_add(o, &len, sizeof len);
    if (v)
      out_add(o, v, len);
  }
  if (o->stop_at && (int)r->number == o->stop_at)
    return -42;
  return 0;
}

/* Nonzero when s is printable ASCII. */
static int plain_ascii(const char *s) {
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
      return 0;
  return 1;
}

/* Parse the input into *o (whole when !chunked); returns the result code. */
static int run(const xr_config *cfg, int stop, const uint8_t *in, size_t n,
               int chunked, uint32_t seed, out *o) {
  xr_parser *p;
  char err[256];
  size_t off = 0;
  uint32_t rng = seed;
  int rc = 0, frc;

  memset(o, 0, sizeof *o);
  o->stop_at = stop ? 3 : 0;
  if (xr_fields_new(fields, sizeof fields / sizeof *fields, ns, 2, &o->f, err,
                    sizeof err) != 0)
    abort();
  if (xr_parser_new(cfg, on_record, o, &p, err, sizeof err) != 0)
    abort();
  while (off < n && rc == 0) {
    size_t k = chunked ? 1 + next_rand(&rng) % 64 : n;
    if (k > n - off)
      k = n - off;
    rc = xr_parser_feed(p, (const char *)in + off, k);
    off += k;
    if (chunked && rc == 0 && next_rand(&rng) % 4 == 0)
      rc = xr_parser_feed(p, "", 0);
  }
  if (rc != 0 && xr_parser_feed(p, "<e/>", 4) != rc)
    abort(); /* a failed document stays failed */
  frc = xr_parser_finish(p);
  if (rc == 0)
    rc = frc;
  if ((rc == XR_EDATA && !plain_ascii(xr_parser_error(p))) ||
      (rc == -42 && xr_parser_error(p)[0]) ||
      (rc != 0 && rc != -42 && !xr_parser_error(p)[0]))
    abort();
  if (xr_parser_peak(p) > cfg->max_record)
    abort();
  /* the parser takes a next document after any outcome */
  if (xr_parser_feed(p, "<r/>", 4) != 0 || xr_parser_finish(p) != 0)
    abort();
  xr_parser_free(p);
  xr_fields_free(o->f);
  o->f = NULL;
  return rc;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  xmlInitParser();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  xr_config cfg;
  out whole, pieces;
  int rw, rp, stop;
  uint32_t seed;

  if (size < 2)
    return 0;
  memset(&cfg, 0, sizeof cfg);
  cfg.record = paths[data[0] & 3];
  cfg.namespaces = ns;
  cfg.nnamespaces = 2;
  cfg.max_record = (data[0] & 4) ? 1024 : XR_DEFAULT_MAX_RECORD;
  stop = (data[0] & 8) != 0;
  seed = data[1];
  data += 2;
  size -= 2;

  rw = run(&cfg, stop, data, size, 0, seed, &whole);
  rp = run(&cfg, stop, data, size, 1, seed, &pieces);
  /* libxml2's push parser may notice an error at another point depending
   * on where the pieces end, so only successful parses must agree
   * exactly. */
  if (rw == 0 && rp == 0 &&
      (whole.len != pieces.len ||
       (whole.len && memcmp(whole.s, pieces.s, whole.len)))) {
    fprintf(stderr, "whole and chunked parses differ\n");
    abort();
  }
  if ((rw == 0) != (rp == 0) && rw != -42 && rp != -42) {
    fprintf(stderr, "whole and chunked parses disagree: %d vs %d\n", rw, rp);
    abort();
  }
  free(whole.s);
  free(pieces.s);

  {
    /* "<&>" escapes to 13 bytes: each ${cursor} (9) grows by 4 */
    size_t len, i, keys = 0;
    char *req = xr_soap_request((const char *)data, size, "<&>", &len);
    if (!req)
      abort();
    for (i = 0; i + 9 <= size; i++)
      if (!memcmp(data + i, "${cursor}", 9)) {
        keys++;
        i += 8;
      }
    if (len != size + 4 * keys || req[len] != '\0')
      abort();
    free(req);
  }
  return 0;
}
