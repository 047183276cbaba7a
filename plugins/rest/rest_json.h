/*
 * rest_json.h — the JSON side of the rest plugin: dotted paths, the text of
 * a JSON value as the core receives it, and one page of records.
 *
 * Pure code over jansson: no I/O, no libcurl, no host, so that unit tests
 * and the fuzzer can drive it directly.
 *
 * Privacy: error texts written here name line, column, byte offset, paths
 * and JSON types, never a piece of the document, since any string in it
 * may be a CPR number or a name.  (jansson's own json_error_t.text quotes
 * the offending token, so it is never passed on.)
 *
 * Errors are 0 or a negative SAMSPOR_E* code, as in the plugin ABI.
 */
#ifndef SAMSPOR_REST_JSON_H
#define SAMSPOR_REST_JSON_H

#include <stddef.h>

#include <jansson.h>

/*
 * A compiled dotted path: "data.items", "tenant.cpr", "phones.0.number".
 * "" and "." name the value itself.  A segment of digits indexes an array
 * (and names a member of an object, where the value is one); "\." is a
 * literal dot and "\\" a backslash, for keys such as "@odata.nextLink".
 */
typedef struct rest_path {
  char **seg; /* owned, unescaped segments */
  size_t n;   /* number of segments; 0: the value itself */
} rest_path;

/*
 * Compile `text` into *out.  Returns 0 (free *out with rest_path_free), or
 * SAMSPOR_EINVAL with a sentence in err (an empty segment, a dangling
 * backslash), or SAMSPOR_ENOMEM; on failure *out needs no freeing.
 */
int rest_path_compile(const char *text, rest_path *out, char *err,
                      size_t errlen);

/* Release a compiled path (NULL-safe, idempotent). */
void rest_path_free(rest_path *p);

/*
 * The value at path p inside v, borrowed from v, or NULL when a segment is
 * missing or leads through a scalar.
 */
json_t *rest_path_get(json_t *v, const rest_path *p);

/* Scratch space for value texts: reused from value to value, so emitting
 * a record allocates only when a value is longer than any before it. */
typedef struct rest_scratch {
  char *buf; /* owned */
  size_t cap;
} rest_scratch;

void rest_scratch_free(rest_scratch *s);

/*
 * The text the core receives for JSON value v (NULL: absent): a string as
 * it is (UTF-8, possibly with NUL bytes: check *len), an integer in
 * decimal, a real in the shortest form that reads back as the same double
 * ("1234.5", "1e+21"), true/false, and an object or array as compact JSON.
 * Returns 1 with *text and *len set (borrowed from v or from s, valid until the
 * next call with s), 0 for NULL (JSON null or absent), or SAMSPOR_ENOMEM.
 */
int rest_value_text(const json_t *v, rest_scratch *s, const char **text,
                    size_t *len);

/* The JSON type of v as a word for messages: "object", "string", ...,
 * "nothing" for NULL. */
const char *rest_json_type_name(const json_t *v);

/* One parsed page. */
typedef struct rest_page {
  json_t *root;    /* owned: the whole document */
  json_t *records; /* borrowed from root: the array at the records path,
                      or NULL when the page has null there (no records) */
  size_t n;        /* json_array_size(records) */
} rest_page;

/* A document is parsed only when its tree takes at most this many times
 * its bytes, or at most REST_JSON_MIN_TREE bytes (rest_json_tree_bytes);
 * peak memory of a page is then about this multiple plus 2 (the body and
 * its buffer growth) of its size. */
#define REST_JSON_MAX_EXPANSION 24
#define REST_JSON_MIN_TREE (4u << 20)

/*
 * An upper estimate of the heap bytes jansson takes for the document of
 * len bytes in buf, by a lexical pass that allocates nothing (a
 * malformed document gets an estimate too; the parser then refuses it).
 */
size_t rest_json_tree_bytes(const char *buf, size_t len);

/*
 * Parse one page of len bytes and find the array at path `records` (JSON
 * null there, as some APIs write an empty list, is a page without records;
 * a path that leads nowhere is an error).
 * Returns 0 with *out (free with rest_page_free), or with a sentence in
 * err: SAMSPOR_EDATA for a malformed or truncated document ("malformed
 * JSON at line 3, column 17 (byte 52): premature end of input"), when
 * its tree would take more than REST_JSON_MAX_EXPANSION times its bytes, or
 * when the path does not lead to an array, SAMSPOR_ENOMEM.  On failure *out
 * needs no freeing (rest_page_free on it is harmless).
 */
int rest_page_parse(const char *buf, size_t len, const rest_path *records,
                    rest_page *out, char *err, size_t errlen);

/*
 * Whether buf holds one well-formed JSON document (object or array), for
 * check().  Returns 0, or SAMSPOR_EDATA with a sentence in err as
 * rest_page_parse gives, or SAMSPOR_ENOMEM.
 */
int rest_json_check(const char *buf, size_t len, char *err, size_t errlen);

/* Release a page (NULL-safe, idempotent). */
void rest_page_free(rest_page *p);

/*
 * A token the page carries at path p: a next link or a pagination cursor.
 * Returns 1 with *text and *len (borrowed from the page or from s) for a
 * non-empty string or a number, 0 when it is absent, null or "" (the last
 * page), or SAMSPOR_EDATA with a sentence in err for any other type, or
 * SAMSPOR_ENOMEM.
 */
int rest_page_token(const rest_page *page, const rest_path *p, rest_scratch *s,
                    const char **text, size_t *len, char *err, size_t errlen);

#endif
