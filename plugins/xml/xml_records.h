/*
 * xml_records.h — the XML record engine of the xml plugin: a streaming
 * libxml2 SAX2 push parser that finds the record elements a path names,
 * builds a small DOM of each record only, and evaluates the columns'
 * XPath expressions against it.  Independent of the plugin ABI, so that it
 * can be unit tested and fuzzed on its own.
 *
 * Memory: bytes are pushed in pieces of any size (xr_parser_feed); only the
 * record being read is ever held as a tree, and its size is bounded
 * (xr_config.max_record).  Elements outside the record path are skipped
 * without building anything.
 *
 * Secure parsing: a document with a DOCTYPE is refused before its internal
 * subset is read, so no entity is ever declared, expanded or loaded (no
 * "billion laughs", no external entities, no DTD loading); the parser never
 * touches the network (XML_PARSE_NONET).
 *
 * Privacy: messages (xr_parser_error, the err buffers) name lines, record
 * numbers, element names and XPath expressions, never text or attribute
 * values of the document; libxml2's own messages, which may quote a few
 * bytes of the input, are not used.
 *
 * libxml2 must have been initialised once with xmlInitParser() before any
 * function here is called while other threads use libxml2 (the plugin does
 * so when it is loaded).  During a call, the calling thread's libxml2
 * error handlers are the engine's (libxml2 reports some errors, with bytes
 * of the document, to them rather than to the parser); they are put back
 * before the call returns, so between calls libxml2's global state is as
 * the caller left it.
 *
 * Error codes: 0 or one of XR_E* below (the values equal the samspor ABI's
 * codes of the same meaning), or the negative value a record function
 * returned.
 */
#ifndef SAMSPOR_XML_RECORDS_H
#define SAMSPOR_XML_RECORDS_H

#include <stddef.h>

#include <libxml/tree.h>

/*
 * XR_EINVAL: a bad setting (record path, namespace map, XPath), or a
 * record path that the document's root element refutes.  XR_EDATA: a
 * malformed or truncated document, or one with a DTD.  XR_EFAULT: the
 * document is a SOAP Fault.
 */
#define XR_OK 0
#define XR_ENOMEM (-1)
#define XR_EINVAL (-2)
#define XR_EDATA (-5)
#define XR_EFAULT (-11)

/* Default and limits of xr_config.max_record, in bytes. */
#define XR_DEFAULT_MAX_RECORD (1024 * 1024)
#define XR_MIN_MAX_RECORD 1024
#define XR_MAX_MAX_RECORD (256 * 1024 * 1024)

/* Most steps a record path may have. */
#define XR_MAX_STEPS 32
/* Deepest element nesting accepted.  libxml2's push parser has no limit
 * of its own, and its stacks (and ours) grow with the depth; real exports
 * nest a dozen levels. */
#define XR_MAX_DEPTH 1024

typedef struct xr_config {
  /*
   * The record element's path: "/Elevliste/Elev" (from the root) or
   * "//Elev" (at any depth, but never inside another record).  Steps are
   * names, "prefix:name" with a prefix of `namespaces`, "*" or
   * "prefix:*".  As in XPath 1.0, a name without a prefix matches only
   * an element in no namespace.
   */
  const char *record;
  /* "prefix=uri" items, for the record path and the fields' XPaths. */
  const char *const *namespaces;
  size_t nnamespaces;
  /*
   * Largest record, in bytes of its text, attribute values and names, each
   * element, attribute and text node counted with 64 bytes more for its
   * node.  A larger record is not built: it is reported with too_long set.
   * 0 means XR_DEFAULT_MAX_RECORD.
   */
  size_t max_record;
} xr_config;

/* One record, for the record function.  Valid during the call only. */
typedef struct xr_record {
  unsigned long long number; /* 1-based, in the document, too_long included */
  unsigned long line;        /* line of the record's start tag */
  int too_long;              /* larger than max_record: node is NULL */
  xmlNodePtr node; /* the record element, root of a document of its own
                      that holds nothing else; owned by the engine */
} xr_record;

/*
 * Called for every record, when its end tag has been read.  Return 0 to go
 * on, or a negative value to stop the document: xr_parser_feed or
 * xr_parser_finish then return that value.
 */
typedef int (*xr_record_fn)(void *ud, const xr_record *r);

typedef struct xr_parser xr_parser;

/*
 * A parser for documents whose records cfg describes (cfg is copied).
 * Returns 0 with *out (free with xr_parser_free), XR_EINVAL with a
 * message in err (record path or namespace map), or XR_ENOMEM.
 */
int xr_parser_new(const xr_config *cfg, xr_record_fn fn, void *ud,
                  xr_parser **out, char *err, size_t errlen);
void xr_parser_free(xr_parser *p);

/*
 * Push the next `len` bytes of the current document (a new one starts with
 * the first feed after xr_parser_new or xr_parser_finish).  Records are
 * delivered as their end tags arrive.  Returns 0, an XR_E* code (see
 * xr_parser_error), or the record function's stop value.  After a
 * failure, the document is dead: further feeds return the same code until
 * xr_parser_finish.
 */
int xr_parser_feed(xr_parser *p, const char *buf, size_t len);

/*
 * End the current document: a truncated one fails here.  Returns like
 * xr_parser_feed, and resets the parser for a next document either way.
 */
int xr_parser_finish(xr_parser *p);

/* Why the last feed or finish failed: "line 12: ..."; "" when it did not,
 * or when the record function stopped it.  Borrowed until the next call. */
const char *xr_parser_error(const xr_parser *p);

/* Records (too_long ones included) of the current or last document. */
unsigned long long xr_parser_records(const xr_parser *p);

/* Largest record seen so far, in max_record's units (for tests). */
size_t xr_parser_peak(const xr_parser *p);

/* ---- fields: compiled XPath expressions --------------------------------
 */

typedef struct xr_fields xr_fields;

/*
 * Compile the n expressions (relative to a record) once, with the prefixes
 * of `namespaces` ("prefix=uri"), and try each on an empty record so that
 * an unknown prefix, function or variable fails here rather than at the
 * first record.  Returns 0 with *out (free with xr_fields_free), XR_EINVAL
 * with a message in err naming the expression, or XR_ENOMEM.
 */
int xr_fields_new(const char *const *exprs, size_t n,
                  const char *const *namespaces, size_t nnamespaces,
                  xr_fields **out, char *err, size_t errlen);
void xr_fields_free(xr_fields *f);

/*
 * The value of expression i for record r: the string value of the first
 * node (in document order) of a node-set, or the string, number or
 * boolean the expression gives.  *value is NULL for an empty node-set or
 * NaN (the field is absent), else borrowed until the next call on f.
 * Returns 0, XR_ENOMEM, or XR_EINVAL when the evaluation failed (message in
 * err).
 */
int xr_fields_eval(xr_fields *f, const xr_record *r, size_t i,
                   const char **value, size_t *len, char *err, size_t errlen);

/* ---- SOAP request templates --------------------------------------------
 */

/*
 * tpl (n bytes) with every "${cursor}" replaced by value XML-escaped
 * (& < > " ' as entity references; value NULL: the empty string), for a
 * SOAP request body.  Returns a malloc'd NUL-terminated string with its
 * length in *outlen (caller frees), or NULL when out of memory.
 */
char *xr_soap_request(const char *tpl, size_t n, const char *value,
                      size_t *outlen);

#endif
