#include "config.h"

/*
 * rest_json.c — dotted paths, value texts and pages of records over
 * jansson.  See rest_json.h for the contract.
 */

#include "rest_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "samspor-plugin.h"

/* ---- paths ------------------------------------------------------------ */

void rest_path_free(rest_path *p) {
  size_t i;
  if (!p)
    return;
  for (i = 0; i < p->n; i++)
    free(p->seg[i]);
  free(p->seg);
  p->seg = NULL;
  p->n = 0;
}

int rest_path_compile(const char *text, rest_path *out, char *err,
                      size_t errlen) {
  size_t len, i, nseg = 1, k = 0;
  char *cur = NULL;
  size_t cur_len = 0;

  out->seg = NULL;
  out->n = 0;
  if (!text || !*text || !strcmp(text, "."))
    return 0;
  len = strlen(text);
  for (i = 0; i < len; i++) {
    if (text[i] == '\\' && i + 1 < len)
      i++;
    else if (text[i] == '.')
      nseg++;
  }
  out->seg = calloc(nseg, sizeof *out->seg);
  if (!out->seg)
    return SAMSPOR_ENOMEM;
  for (i = 0; i <= len; i++) {
    char c = text[i];
    if (!cur) {
      cur = malloc(len + 1); /* a segment is never longer than the path */
      if (!cur) {
        rest_path_free(out);
        return SAMSPOR_ENOMEM;
      }
      cur_len = 0;
    }
    if (c == '\\') {
      if (i + 1 >= len || (text[i + 1] != '.' && text[i + 1] != '\\')) {
        snprintf(err, errlen,
                 "path '%s': a backslash must be followed by '.' or '\\' "
                 "(byte %zu)",
                 text, i + 1);
        free(cur);
        rest_path_free(out);
        return SAMSPOR_EINVAL;
      }
      cur[cur_len++] = text[++i];
      continue;
    }
    if (c != '.' && c != '\0') {
      cur[cur_len++] = c;
      continue;
    }
    if (cur_len == 0) {
      snprintf(err, errlen,
               "path '%s' has an empty segment (byte %zu); write a.b.c, "
               "or \".\" for the value itself",
               text, i + 1);
      free(cur);
      rest_path_free(out);
      return SAMSPOR_EINVAL;
    }
    cur[cur_len] = '\0';
    out->seg[k++] = cur;
    out->n = k;
    cur = NULL;
  }
  return 0;
}

/* The array index a segment names, or -1 when it is not all digits (or
 * too long to be an index of anything in memory). */
static long long seg_index(const char *s) {
  long long v = 0;
  size_t i;
  if (!*s || (s[0] == '0' && s[1]))
    return -1;
  for (i = 0; s[i]; i++) {
    if (s[i] < '0' || s[i] > '9' || i >= 15)
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

json_t *rest_path_get(json_t *v, const rest_path *p) {
  size_t i;
  for (i = 0; v && i < p->n; i++) {
    if (json_is_object(v)) {
      v = json_object_get(v, p->seg[i]);
    } else if (json_is_array(v)) {
      long long ix = seg_index(p->seg[i]);
      v = ix < 0 ? NULL : json_array_get(v, (size_t)ix);
    } else {
      return NULL;
    }
  }
  return v;
}

/* ---- value texts ------------------------------------------------------ */

void rest_scratch_free(rest_scratch *s) {
  if (!s)
    return;
  free(s->buf);
  s->buf = NULL;
  s->cap = 0;
}

/* Make room for n bytes.  Returns 0 or SAMSPOR_ENOMEM. */
static int scratch_reserve(rest_scratch *s, size_t n) {
  char *b;
  size_t cap;
  if (n <= s->cap)
    return 0;
  cap = s->cap ? s->cap : 64;
  while (cap < n)
    cap *= 2;
  b = realloc(s->buf, cap);
  if (!b)
    return SAMSPOR_ENOMEM;
  s->buf = b;
  s->cap = cap;
  return 0;
}

/*
 * The shortest %g form of d that reads back as d.  jansson would write
 * 17 significant digits ("1234.5" becomes "1234.5000000000002" for some
 * values), which is not what the API sent.
 */
static size_t real_text(double d, char *buf, size_t size) {
  int prec;
  for (prec = 15; prec <= 17; prec++) {
    snprintf(buf, size, "%.*g", prec, d);
    if (strtod(buf, NULL) == d)
      break;
  }
  return strlen(buf);
}

int rest_value_text(const json_t *v, rest_scratch *s, const char **text,
                    size_t *len) {
  size_t n;
  if (!v)
    return 0;
  switch (json_typeof(v)) {
  case JSON_NULL:
    return 0;
  case JSON_STRING:
    *text = json_string_value(v);
    *len = json_string_length(v);
    return 1;
  case JSON_TRUE:
    *text = "true";
    *len = 4;
    return 1;
  case JSON_FALSE:
    *text = "false";
    *len = 5;
    return 1;
  case JSON_INTEGER:
    if (scratch_reserve(s, 32))
      return SAMSPOR_ENOMEM;
    *len = (size_t)snprintf(s->buf, s->cap, "%" JSON_INTEGER_FORMAT,
                            json_integer_value(v));
    *text = s->buf;
    return 1;
  case JSON_REAL:
    if (scratch_reserve(s, 40))
      return SAMSPOR_ENOMEM;
    *len = real_text(json_real_value(v), s->buf, s->cap);
    *text = s->buf;
    return 1;
  case JSON_OBJECT:
  case JSON_ARRAY:
    n = json_dumpb(v, s->buf, s->cap, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n == 0)
      return SAMSPOR_ENOMEM; /* dumping a parsed value fails only so */
    if (n > s->cap) {
      if (scratch_reserve(s, n))
        return SAMSPOR_ENOMEM;
      n = json_dumpb(v, s->buf, s->cap, JSON_COMPACT | JSON_ENCODE_ANY);
      if (n == 0 || n > s->cap)
        return SAMSPOR_ENOMEM;
    }
    *text = s->buf;
    *len = n;
    return 1;
  }
  return 0;
}

const char *rest_json_type_name(const json_t *v) {
  if (!v)
    return "nothing";
  switch (json_typeof(v)) {
  case JSON_OBJECT:
    return "object";
  case JSON_ARRAY:
    return "array";
  case JSON_STRING:
    return "string";
  case JSON_INTEGER:
  case JSON_REAL:
    return "number";
  case JSON_TRUE:
  case JSON_FALSE:
    return "boolean";
  case JSON_NULL:
    return "null";
  }
  return "value";
}

/* ---- pages ------------------------------------------------------------ */

/* What went wrong, in words of our own: jansson's text quotes the
 * document. */
static const char *parse_problem(const json_error_t *e) {
  switch (json_error_code(e)) {
  case json_error_out_of_memory:
    return "out of memory";
  case json_error_stack_overflow:
    return "nested too deeply";
  case json_error_invalid_utf8:
    return "invalid UTF-8";
  case json_error_premature_end_of_input:
    return "premature end of input (truncated)";
  case json_error_end_of_input_expected:
    return "text after the end of the document";
  case json_error_invalid_syntax:
    return "invalid syntax";
  case json_error_null_byte_in_key:
    return "NUL byte in an object key";
  case json_error_numeric_overflow:
    return "number out of range";
  case json_error_duplicate_key:
    return "duplicate object key";
  default:
    return "not valid JSON";
  }
}

/* Append the path as written to buf (for messages).  Paths come from the
 * configuration, not the document, so they may be quoted. */
static void path_text(const rest_path *p, char *buf, size_t size) {
  size_t i, off = 0;
  if (p->n == 0) {
    snprintf(buf, size, ".");
    return;
  }
  buf[0] = '\0';
  for (i = 0; i < p->n && off < size; i++) {
    int w = snprintf(buf + off, size - off, "%s%s", i ? "." : "", p->seg[i]);
    if (w < 0)
      break;
    off += (size_t)w;
  }
}

void rest_page_free(rest_page *p) {
  if (!p)
    return;
  if (p->root)
    json_decref(p->root);
  p->root = NULL;
  p->records = NULL;
  p->n = 0;
}

size_t rest_json_tree_bytes(const char *buf, size_t len) {
  /* Heap bytes jansson 2.14 takes per value on 64-bit glibc, allocator
   * overhead included, as measured (rounded up): an array 128, an object
   * 224, a number 24, a string 72 + its length, an object key 96 + its
   * length (its hash bucket too); each element 8 in its container's
   * table; true, false and null are shared. */
  size_t n = 0, i = 0;
  while (i < len) {
    unsigned char c = (unsigned char)buf[i];
    if (c == '"') {
      size_t j = i + 1;
      while (j < len && buf[j] != '"')
        j += buf[j] == '\\' ? 2 : 1;
      size_t k = j + 1;
      while (k < len && (buf[k] == ' ' || buf[k] == '\t' || buf[k] == '\n' ||
                         buf[k] == '\r'))
        k++;
      n += (k < len && buf[k] == ':' ? 96 : 72 + 8) + (j - i);
      i = j + 1;
    } else if (c == '[') {
      n += 128 + 8, i++;
    } else if (c == '{') {
      n += 224 + 8, i++;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      n += 24 + 8;
      while (i < len && (buf[i] == '-' || buf[i] == '+' || buf[i] == '.' ||
                         buf[i] == 'e' || buf[i] == 'E' ||
                         (buf[i] >= '0' && buf[i] <= '9')))
        i++;
    } else {
      i++;
    }
  }
  return n;
}

/* Parse a document.  Returns 0 with *root (owned), or SAMSPOR_EDATA /
 * SAMSPOR_ENOMEM with a sentence in err. */
static int load(const char *buf, size_t len, json_t **root, char *err,
                size_t errlen) {
  json_error_t e;
  /* A page of tiny values ("[[],[],...]") takes 45 times its bytes as a
   * tree, "{}"s 77 times: bound it before building it (README,
   * Security).  Small documents pass whatever their shape. */
  size_t tree = rest_json_tree_bytes(buf, len);
  if (tree > REST_JSON_MIN_TREE && tree / REST_JSON_MAX_EXPANSION > len) {
    snprintf(err, errlen,
             "the JSON document of %zu bytes would take about %zu MB to "
             "parse, more than %d times its size (very many tiny values, "
             "such as empty arrays or objects): refused",
             len, tree >> 20, REST_JSON_MAX_EXPANSION);
    return SAMSPOR_EDATA;
  }
  /* JSON_ALLOW_NUL: a "\u0000" inside one string rejects that record
   * (the caller checks the lengths) instead of failing the whole page. */
  *root = json_loadb(buf ? buf : "", len, JSON_ALLOW_NUL, &e);
  if (*root)
    return 0;
  if (json_error_code(&e) == json_error_out_of_memory) {
    snprintf(err, errlen, "out of memory parsing JSON");
    return SAMSPOR_ENOMEM;
  }
  if (len == 0)
    snprintf(err, errlen, "malformed JSON: the response is empty");
  else
    snprintf(err, errlen,
             "malformed JSON at line %d, column %d (byte %d of %zu): %s",
             e.line, e.column, e.position, len, parse_problem(&e));
  return SAMSPOR_EDATA;
}

int rest_page_parse(const char *buf, size_t len, const rest_path *records,
                    rest_page *out, char *err, size_t errlen) {
  json_t *a;
  char ptext[128];
  int rc;

  out->root = NULL;
  out->records = NULL;
  out->n = 0;
  if ((rc = load(buf, len, &out->root, err, errlen)) != 0)
    return rc;
  a = rest_path_get(out->root, records);
  if (json_is_null(a) && records->n > 0) {
    /* Some APIs (Go's encoding/json, for one) write an empty list as
     * null: no records.  A path that leads nowhere is still an error, as
     * it is far more often a mistyped path than an empty page. */
    return 0;
  }
  if (!json_is_array(a)) {
    path_text(records, ptext, sizeof ptext);
    snprintf(err, errlen,
             "the records path '%s' leads to %s%s, not to an array of "
             "records",
             ptext, a ? "a JSON " : "", a ? rest_json_type_name(a) : "nothing");
    rest_page_free(out);
    return SAMSPOR_EDATA;
  }
  out->records = a;
  out->n = json_array_size(a);
  return 0;
}

int rest_json_check(const char *buf, size_t len, char *err, size_t errlen) {
  json_t *root;
  int rc = load(buf, len, &root, err, errlen);
  if (rc == 0)
    json_decref(root);
  return rc;
}

int rest_page_token(const rest_page *page, const rest_path *p, rest_scratch *s,
                    const char **text, size_t *len, char *err, size_t errlen) {
  json_t *v = rest_path_get(page->root, p);
  char ptext[128];
  int rc;

  if (!v || json_is_null(v))
    return 0;
  if (json_is_string(v) || json_is_number(v)) {
    rc = rest_value_text(v, s, text, len);
    if (rc < 0)
      return rc;
    if (*len == 0)
      return 0;
    if (memchr(*text, '\0', *len)) {
      path_text(p, ptext, sizeof ptext);
      snprintf(err, errlen, "the value at '%s' contains a NUL byte", ptext);
      return SAMSPOR_EDATA;
    }
    return 1;
  }
  path_text(p, ptext, sizeof ptext);
  snprintf(err, errlen, "the value at '%s' is a JSON %s, not a string", ptext,
           rest_json_type_name(v));
  return SAMSPOR_EDATA;
}
