#include "config.h"

/*
 * fuzz_rest.c — libFuzzer target for the rest plugin's parsers
 * (plugins/rest/rest_json.c, plugins/rest/rest_util.c).
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE \
 *     -I. -Icore -Iplugins/rest tests/fuzz/fuzz_rest.c \
 *     plugins/rest/rest_json.c plugins/rest/rest_util.c \
 *     $(pkg-config --cflags --libs jansson) -o fuzz_rest && \
 *     ./fuzz_rest -max_total_time=60
 *
 * The input is "PATH\nDOCUMENT": the first line is a dotted path (also
 * tried as a Retry-After value, a cursor and a query parameter name), the
 * rest a JSON page (also tried as a Link header value and a URL).  Besides
 * the sanitizers' checks, the target asserts:
 *   - a Link target is a piece of the header that stood between < and >;
 *   - a page's records path leads to an array, every value text of an
 *     object or array reads back as an equal value, a number's text reads
 *     back as the same number, and a page error names no piece of the
 *     document longer than the path itself;
 *   - a Retry-After delay is within [0, 1e9];
 *   - ${cursor} substituted URL-encoded adds only unreserved bytes and
 *     %XX escapes, JSON-escaped it stays a valid JSON string;
 *   - a redacted URL is printable ASCII and fits its buffer.
 */

#include "rest_json.h"
#include "rest_util.h"

#include "samspor-plugin.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_link(const char *v, size_t n) {
  char *t = NULL;
  int rc = rest_link_next(v, n, &t);
  if (rc < 0)
    abort();
  if (rc == 0) {
    if (t)
      abort();
    return;
  }
  {
    size_t tl = strlen(t), i;
    int found = 0;
    if (memchr(t, '>', tl))
      abort();
    for (i = 0; i + tl <= n && !found; i++) {
      size_t j = i;
      if (memcmp(v + i, t, tl) != 0)
        continue;
      /* before it: '<' and optional whitespace; after it: '>' likewise */
      while (j > 0 && (v[j - 1] == ' ' || v[j - 1] == '\t'))
        j--;
      if (j > 0 && v[j - 1] == '<')
        found = 1;
    }
    if (!found)
      abort();
  }
  free(t);
}

/* Check the value text of v against v. */
static void check_value(json_t *v, rest_scratch *s) {
  const char *t;
  size_t len;
  int rc = rest_value_text(v, s, &t, &len);
  if (rc < 0)
    abort();
  if (!v || json_is_null(v)) {
    if (rc != 0)
      abort();
    return;
  }
  if (rc != 1)
    abort();
  if (json_is_object(v) || json_is_array(v)) {
    json_error_t e;
    json_t *back = json_loadb(t, len, JSON_ALLOW_NUL, &e);
    if (!back || !json_equal(back, v)) {
      fprintf(stderr, "value text does not read back\n");
      abort();
    }
    json_decref(back);
  } else if (json_is_real(v)) {
    char buf[64];
    if (len >= sizeof buf)
      abort();
    memcpy(buf, t, len);
    buf[len] = '\0';
    if (strtod(buf, NULL) != json_real_value(v))
      abort();
  } else if (json_is_integer(v)) {
    char buf[32];
    if (len >= sizeof buf)
      abort();
    memcpy(buf, t, len);
    buf[len] = '\0';
    if (strtoll(buf, NULL, 10) != json_integer_value(v))
      abort();
  } else if (json_is_string(v)) {
    if (len != json_string_length(v))
      abort();
  }
}

static void check_page(const char *path, const char *doc, size_t n) {
  rest_path p, field;
  rest_page pg;
  rest_scratch s = {NULL, 0};
  char err[512];
  size_t i;
  int rc = rest_path_compile(path, &p, err, sizeof err);

  if (rc == SAMSPOR_ENOMEM)
    abort();
  if (rc) {
    if (p.seg || p.n)
      abort();
    return;
  }
  rc = rest_page_parse(doc, n, &p, &pg, err, sizeof err);
  if (rc == 0) {
    const char *t;
    size_t tl;
    if (!json_is_array(pg.records) || json_array_size(pg.records) != pg.n)
      abort();
    /* the path as a field path inside each record, and each record whole */
    if (rest_path_compile(path, &field, err, sizeof err) != 0)
      abort();
    for (i = 0; i < pg.n && i < 64; i++) {
      json_t *item = json_array_get(pg.records, i);
      check_value(item, &s);
      check_value(rest_path_get(item, &field), &s);
    }
    rc = rest_page_token(&pg, &field, &s, &t, &tl, err, sizeof err);
    if (rc < 0 && rc != SAMSPOR_EDATA)
      abort();
    if (rc == 1 && (tl == 0 || memchr(t, '\0', tl)))
      abort();
    rest_path_free(&field);
    rest_page_free(&pg);
  } else if (rc == SAMSPOR_EDATA) {
    /* The error names positions and the configured path, never the
     * document: no run of 12 document bytes may show up in it unless it
     * is part of the path as well. */
    size_t el = strlen(err), k;
    if (pg.root)
      abort();
    for (k = 0; n >= 12 && el >= 12 && k + 12 <= n; k++) {
      char piece[13];
      memcpy(piece, doc + k, 12);
      piece[12] = '\0';
      if (strlen(piece) == 12 && strstr(err, piece) && !strstr(path, piece)) {
        fprintf(stderr, "page error quotes the document: %s\n", err);
        abort();
      }
    }
  } else {
    abort();
  }
  rest_scratch_free(&s);
  rest_path_free(&p);
}

static void check_subst(const char *line, const char *doc) {
  char *out = NULL;
  json_t *j;
  json_error_t e;
  size_t i;
  char *tmpl;

  if (rest_subst_cursor("${cursor}", line, REST_ESC_URL, &out))
    abort();
  for (i = 0; out[i]; i++) {
    char c = out[i];
    if (c == '%') {
      if (!strchr("0123456789ABCDEF", out[i + 1]) || !out[i + 1] ||
          !strchr("0123456789ABCDEF", out[i + 2]) || !out[i + 2])
        abort();
      i += 2;
    } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || strchr("-._~", c))) {
      abort();
    }
  }
  free(out);
  /* JSON: the substituted template parses, and gives back the cursor
   * (when it is valid UTF-8, which jansson requires). */
  if (rest_subst_cursor("[\"${cursor}\"]", line, REST_ESC_JSON, &out))
    abort();
  j = json_loads(out, 0, &e);
  if (j) {
    if (strcmp(json_string_value(json_array_get(j, 0)), line) != 0)
      abort();
    json_decref(j);
  } else if (json_error_code(&e) != json_error_invalid_utf8) {
    fprintf(stderr, "JSON-escaped cursor does not parse: %s\n", e.text);
    abort();
  }
  free(out);
  /* the document as a template */
  tmpl = strdup(doc);
  if (!tmpl)
    abort();
  if (rest_template_check(tmpl, (char[128]){0}, 128) == 0) {
    if (rest_subst_cursor(tmpl, line, REST_ESC_URL, &out))
      abort();
    free(out);
  }
  free(tmpl);
}

static void check_url(const char *line, const char *doc) {
  char buf[96], *out = NULL;
  size_t i;
  rest_url_redact(doc, buf, sizeof buf);
  for (i = 0; buf[i]; i++)
    if (buf[i] <= 0x20 || buf[i] >= 0x7f)
      abort();
  if (i >= sizeof buf)
    abort();
  if (*line) {
    if (rest_url_set_param(doc, line, line, &out))
      abort();
    if (strchr(out, '#'))
      abort();
    free(out);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *nl = memchr(data, '\n', size);
  size_t plen = nl ? (size_t)(nl - (const char *)data) : size;
  char *line, *doc;
  size_t dlen = nl ? size - plen - 1 : 0;
  double s;

  line = malloc(plen + 1);
  doc = malloc(dlen + 1);
  if (!line || !doc)
    abort();
  memcpy(line, data, plen);
  line[plen] = '\0';
  if (dlen)
    memcpy(doc, nl + 1, dlen);
  doc[dlen] = '\0';

  check_link((const char *)data, size);
  if (!memchr(line, '\0', plen)) {
    check_page(line, doc, dlen);
    if (rest_retry_after(line, 1000000000, &s) == 0 && !(s >= 0 && s <= 1e9))
      abort();
    if (!memchr(doc, '\0', dlen)) {
      check_subst(line, doc);
      check_url(line, doc);
    }
  }
  free(line);
  free(doc);
  return 0;
}
