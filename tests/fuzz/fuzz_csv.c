#include "config.h"

/*
 * fuzz_csv.c — libFuzzer target for the csv parser (plugins/csv/csv_parse.c).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -I. -Iplugins/csv tests/fuzz/fuzz_csv.c plugins/csv/csv_parse.c \
 *     -o fuzz_csv && ./fuzz_csv -max_total_time=120
 *
 * Byte 0 picks the configuration (bits 0-1 delimiter, 2-3 encoding, 4-5
 * quote, 6 a 16-byte record limit, 7 two skipped lines), byte 1 seeds the
 * chunk sizes and stops; the rest is the input.  Besides the sanitizers'
 * checks, the target asserts:
 *   - the input fed whole and fed in random chunks, with the record
 *     function stopping the parser at random records and the caller
 *     resuming, yields exactly the same records;
 *   - every accepted record's fields are valid UTF-8 and there is at least
 *     one, line numbers never go down, rejects carry no fields;
 *   - memory stays bounded by the record limit;
 *   - csv_utf8_valid agrees with a slow reference decoder on the input,
 *     and accepts nothing glibc's iconv refuses.
 */

#include "csv_parse.h"

#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STOP 5

typedef struct out {
  char *s; /* every record, serialised */
  size_t len, cap;
  uint64_t last_line;
  uint32_t rng; /* decides where the record function stops */
  int stops;    /* stop at random records */
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

static int on_record(void *user, const csv_record *r) {
  out *o = user;
  uint64_t hdr[3] = {r->line, (uint64_t)r->status, r->nfields};
  size_t i, len;

  if (r->line < o->last_line)
    abort();
  o->last_line = r->line;
  if (r->status != CSV_REC_OK && r->nfields != 0)
    abort();
  if (r->status == CSV_REC_OK && (r->nfields == 0 || r->message[0]))
    abort();
  out_add(o, hdr, sizeof hdr);
  out_add(o, r->message, strlen(r->message));
  for (i = 0; i < r->nfields; i++) {
    const char *f = csv_record_field(r, i, &len);
    if (!csv_utf8_valid(f, len))
      abort();
    out_add(o, &len, sizeof len);
    out_add(o, f, len);
  }
  if (o->stops && next_rand(&o->rng) % 3 == 0)
    return STOP;
  return 0;
}

/* Parse the input; chunk sizes from *rng when `chunked`.  The result is
 * in *o. */
static void run(const csv_config *cfg, const uint8_t *in, size_t n, int chunked,
                uint32_t seed, out *o) {
  csv_parser *p;
  size_t off = 0, used;
  uint32_t rng = seed;
  int rc;

  memset(o, 0, sizeof *o);
  o->rng = seed ^ 0x5a5a;
  o->stops = chunked;
  if (csv_parser_new(&p, cfg, on_record, o) != 0)
    abort();
  while (off < n) {
    size_t k = chunked ? 1 + next_rand(&rng) % 64 : n;
    if (k > n - off)
      k = n - off;
    rc = csv_parser_feed(p, in + off, k, &used);
    if (rc != 0 && rc != STOP)
      abort();
    if (used > k || (rc == 0 && used != k))
      abort();
    off += used;
    if (chunked && next_rand(&rng) % 4 == 0) {
      /* an empty feed is allowed at any time */
      while ((rc = csv_parser_feed(p, "", 0, &used)) == STOP)
        ;
      if (rc)
        abort();
    }
  }
  while ((rc = csv_parser_finish(p)) == STOP)
    ;
  if (rc)
    abort();
  if (cfg->max_record < 1024 &&
      csv_parser_memory(p) > 16 * 1024 + 32 * cfg->max_record)
    abort();
  csv_parser_free(p);
}

/* glibc's opinion of whether [s, s+n) is UTF-8.  glibc is laxer than
 * RFC 3629 (it takes F5..F7 lead bytes, beyond U+10FFFF), so only
 * "csv_utf8_valid accepts => glibc accepts" is checked against it. */
static int iconv_valid(const uint8_t *s, size_t n) {
  iconv_t cd = iconv_open("UTF-8", "UTF-8");
  char *in = (char *)s, *obuf = malloc(n * 2 + 1), *o = obuf;
  size_t inleft = n, oleft = n * 2 + 1;
  int ok;

  if (cd == (iconv_t)-1 || !obuf)
    abort();
  ok = iconv(cd, &in, &inleft, &o, &oleft) != (size_t)-1 && inleft == 0;
  iconv_close(cd);
  free(obuf);
  return ok;
}

/* A slow, obviously-correct RFC 3629 decoder to compare with: decode
 * each sequence to its code point and check the code point's range. */
static int reference_valid(const uint8_t *s, size_t n) {
  size_t i = 0, len, k;
  uint32_t cp, min;

  while (i < n) {
    uint8_t c = s[i];
    if (c == 0)
      return 0;
    if (c < 0x80) {
      i++;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (n - i < len)
      return 0;
    for (k = 1; k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        return 0;
      cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return 0;
    i += len;
  }
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int delims[4] = {';', ',', '\t', CSV_DELIM_AUTO};
  static const int quotes[4] = {'"', '"', '\'', CSV_NO_QUOTE};
  csv_config cfg;
  out whole, pieces;
  uint32_t seed;

  if (size < 2)
    return 0;
  csv_config_init(&cfg);
  cfg.delimiter = delims[data[0] & 3];
  cfg.encoding = (csv_encoding)(((data[0] >> 2) & 3) % 3);
  cfg.quote = quotes[(data[0] >> 4) & 3];
  cfg.max_record = (data[0] & 0x40) ? 16 : CSV_DEFAULT_MAX_RECORD;
  cfg.skip_lines = (data[0] & 0x80) ? 2 : 0;
  if (cfg.quote == '\'' && cfg.delimiter == CSV_DELIM_AUTO)
    cfg.quote = '"';
  seed = data[1];
  data += 2;
  size -= 2;

  run(&cfg, data, size, 0, seed, &whole);
  run(&cfg, data, size, 1, seed, &pieces);
  if (whole.len != pieces.len ||
      (whole.len && memcmp(whole.s, pieces.s, whole.len))) {
    fprintf(stderr, "whole and chunked parses differ\n");
    abort();
  }
  free(whole.s);
  free(pieces.s);

  if (csv_utf8_valid((const char *)data, size) != reference_valid(data, size)) {
    fprintf(stderr, "csv_utf8_valid disagrees with the reference decoder\n");
    abort();
  }
  if (csv_utf8_valid((const char *)data, size) && !iconv_valid(data, size)) {
    fprintf(stderr, "csv_utf8_valid accepts what iconv refuses\n");
    abort();
  }
  return 0;
}
