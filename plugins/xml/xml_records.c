#include "config.h"

/*
 * xml_records.c — the SAX-to-record engine of the xml plugin (see
 * xml_records.h for the contract).
 *
 * How a document flows:
 *
 *   bytes --xmlParseChunk--> SAX2 events --> path matching (one bitmask per
 *   open element) --> inside a record: DOM nodes in a private xmlDoc -->
 *   at the record's end tag: the record function, then the nodes are freed
 *
 * No tree is built by libxml2 itself: the SAX handler is ours alone (no
 * xmlSAX2* tree builders), so ctxt->myDoc stays NULL and memory does not
 * grow with the document.
 */

#include "xml_records.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/globals.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

/*
 * Parser options: XML_PARSE_NONET so that nothing is ever fetched over the
 * network.  Left out on purpose: XML_PARSE_NOENT (substitute entities),
 * XML_PARSE_DTDLOAD / XML_PARSE_DTDATTR / XML_PARSE_DTDVALID (load or use
 * a DTD), XML_PARSE_XINCLUDE, and XML_PARSE_HUGE, whose absence keeps
 * libxml2's own limits (10 MB text nodes and lookahead, depth 256).
 */
#define XR_PARSE_OPTIONS XML_PARSE_NONET

/* Bytes handed to xmlParseChunk at once (it takes an int). */
#define FEED_MAX (1024 * 1024)
/* What one element, attribute, namespace or text node costs beyond its
 * names and text, in max_record's units: about an xmlNode or xmlAttr. */
#define NODE_COST 64
/* SOAP Fault texts kept, and the longest shown in a message. */
#define FAULT_TEXT_MAX 512
#define FAULT_SHOWN 200
/* A text buffer larger than this is released after its record. */
#define TEXT_KEEP (64 * 1024)

#define SOAP11_NS "http://schemas.xmlsoap.org/soap/envelope/"
#define SOAP12_NS "http://www.w3.org/2003/05/soap-envelope"

/* One step of the record path. */
typedef struct xr_step {
  char *uri;   /* the step's namespace, NULL for none (ignored if any_ns) */
  char *local; /* local name, NULL for "*" */
  int any_ns;  /* a plain "*": any element in any namespace */
} xr_step;

/* A parsed namespace map. */
typedef struct xr_nsmap {
  char **prefix; /* owned */
  char **uri;    /* owned */
  size_t n;
} xr_nsmap;

struct xr_parser {
  /* settings */
  xr_step steps[XR_MAX_STEPS];
  size_t nsteps;
  int anywhere;      /* the path began with "//" */
  char *path;        /* the record path, for messages (owned) */
  size_t max_record; /* bytes, see xr_config */
  xr_record_fn fn;
  void *ud;
  xmlSAXHandler sax; /* our handler; libxml2 copies it into each ctxt */

  /* the document being parsed */
  xmlParserCtxtPtr ctxt; /* push parser, NULL between documents */
  int rc;                /* first failure of the document, or 0 */
  char err[512];         /* its message ("" for the record function's) */
  uint32_t *masks;       /* masks[d]: bit j set when the element open at depth
                            d ends a match of steps 0..j; masks[0] = 0 */
  size_t depth;          /* elements open */
  size_t mcap;           /* capacity of masks */
  int root_seen;         /* the root element has started */
  int root_closed;       /* ... and ended */
  unsigned long long nrecords; /* records begun in this document */

  /* the record being built */
  xmlDocPtr doc;      /* holds the record while it is built (owned) */
  xmlNodePtr root;    /* the record element, or NULL */
  xmlNodePtr cur;     /* the element open inside it */
  size_t rec_depth;   /* depth of the record element, 0 outside records */
  size_t rec_bytes;   /* its size so far, in max_record's units */
  int too_long;       /* it outgrew max_record: nothing more is built */
  unsigned long line; /* line of its start tag */
  char *tbuf;         /* text not yet made a node (owned) */
  size_t tlen, tcap;
  char *abuf; /* an attribute value being decoded (owned) */
  size_t acap;
  size_t peak; /* largest rec_bytes seen */

  /* a SOAP Fault being read */
  size_t fault_depth;   /* depth of the Fault element, 0 outside one */
  int capture;          /* 1: inside the faultcode, 0: not */
  size_t capture_depth; /* depth of the element captured */
  char fcode[FAULT_TEXT_MAX];
  size_t fcode_len;
  int fcode_done;
};

/* ---- small helpers ---------------------------------------------------- */

static void fmt(char *buf, size_t len, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t len, const char *f, ...) {
  va_list ap;
  if (!buf || !len)
    return;
  va_start(ap, f);
  vsnprintf(buf, len, f, ap);
  va_end(ap);
}

/* Nonzero for a character allowed in an XML NCName (ASCII rules; any
 * non-ASCII byte is let through, libxml2 checks the document's names). */
static int name_char(unsigned char c, int first) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80)
    return 1;
  return !first && ((c >= '0' && c <= '9') || c == '-' || c == '.');
}

/* Nonzero when [s, s+n) is a plausible NCName. */
static int is_ncname(const char *s, size_t n) {
  size_t i;
  if (n == 0)
    return 0;
  for (i = 0; i < n; i++)
    if (!name_char((unsigned char)s[i], i == 0))
      return 0;
  return 1;
}

static char *dup_n(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

static int streq(const xmlChar *a, const char *b) {
  return a && !strcmp((const char *)a, b);
}

static void nsmap_free(xr_nsmap *m) {
  size_t i;
  for (i = 0; i < m->n; i++) {
    free(m->prefix[i]);
    free(m->uri[i]);
  }
  free(m->prefix);
  free(m->uri);
  memset(m, 0, sizeof *m);
}

/*
 * Parse "prefix=uri" items into m.  Returns 0, XR_EINVAL with a message in
 * err, or XR_ENOMEM; m is to be freed with nsmap_free either way.
 */
static int nsmap_parse(const char *const *items, size_t n, xr_nsmap *m,
                       char *err, size_t errlen) {
  size_t i, j;

  memset(m, 0, sizeof *m);
  if (n == 0)
    return 0;
  m->prefix = calloc(n, sizeof *m->prefix);
  m->uri = calloc(n, sizeof *m->uri);
  if (!m->prefix || !m->uri)
    goto nomem;
  for (i = 0; i < n; i++) {
    const char *it = items[i] ? items[i] : "";
    const char *eq = strchr(it, '=');
    size_t plen = eq ? (size_t)(eq - it) : 0;

    if (!eq || !is_ncname(it, plen) || !eq[1]) {
      fmt(err, errlen,
          "namespaces: item %zu must be \"prefix=uri\" with a prefix made "
          "of letters, digits, '_', '-' and '.'",
          i + 1);
      return XR_EINVAL;
    }
    if ((plen == 3 && !memcmp(it, "xml", 3)) ||
        (plen == 5 && !memcmp(it, "xmlns", 5))) {
      fmt(err, errlen, "namespaces: prefix '%.*s' is reserved", (int)plen, it);
      return XR_EINVAL;
    }
    for (j = 0; j < m->n; j++)
      if (strlen(m->prefix[j]) == plen && !memcmp(m->prefix[j], it, plen)) {
        fmt(err, errlen, "namespaces: prefix '%.*s' is given twice", (int)plen,
            it);
        return XR_EINVAL;
      }
    m->prefix[m->n] = dup_n(it, plen);
    m->uri[m->n] = strdup(eq + 1);
    if (!m->prefix[m->n] || !m->uri[m->n]) {
      m->n++; /* so that nsmap_free frees what was made */
      goto nomem;
    }
    m->n++;
  }
  return 0;
nomem:
  fmt(err, errlen, "out of memory");
  return XR_ENOMEM;
}

static const char *nsmap_find(const xr_nsmap *m, const char *prefix,
                              size_t plen) {
  size_t i;
  for (i = 0; i < m->n; i++)
    if (strlen(m->prefix[i]) == plen && !memcmp(m->prefix[i], prefix, plen))
      return m->uri[i];
  return NULL;
}

/*
 * Parse the record path into p->steps.  Returns 0, XR_EINVAL with a
 * message, or XR_ENOMEM.
 */
static int path_parse(xr_parser *p, const char *path, const xr_nsmap *m,
                      char *err, size_t errlen) {
  const char *s = path, *e;

  if (!path || path[0] != '/') {
    fmt(err, errlen,
        "record path '%s' must start with '/' (from the root: "
        "/Elevliste/Elev) or '//' (at any depth: //Elev)",
        path ? path : "");
    return XR_EINVAL;
  }
  p->anywhere = path[1] == '/';
  s += p->anywhere ? 2 : 1;
  for (;;) {
    const char *colon;
    xr_step *st;
    size_t len;

    e = strchr(s, '/');
    len = e ? (size_t)(e - s) : strlen(s);
    if (p->nsteps == XR_MAX_STEPS) {
      fmt(err, errlen, "record path '%s' has more than %d steps", path,
          XR_MAX_STEPS);
      return XR_EINVAL;
    }
    st = &p->steps[p->nsteps];
    colon = memchr(s, ':', len);
    if (len == 1 && s[0] == '*') {
      st->any_ns = 1;
    } else {
      const char *local = colon ? colon + 1 : s;
      size_t llen = len - (size_t)(local - s);
      int star = llen == 1 && local[0] == '*';

      if ((!star && !is_ncname(local, llen)) ||
          (colon && !is_ncname(s, (size_t)(colon - s)))) {
        fmt(err, errlen,
            "record path '%s': step '%.*s' is not a name, prefix:name, * "
            "or prefix:* (predicates, attributes and '..' are not "
            "allowed)",
            path, (int)len, s);
        return XR_EINVAL;
      }
      if (colon) {
        const char *uri = nsmap_find(m, s, (size_t)(colon - s));
        if (!uri) {
          fmt(err, errlen,
              "record path '%s': prefix '%.*s' is not declared in "
              "namespaces",
              path, (int)(colon - s), s);
          return XR_EINVAL;
        }
        if (!(st->uri = strdup(uri)))
          goto nomem;
      }
      if (!star && !(st->local = dup_n(local, llen)))
        goto nomem;
    }
    p->nsteps++;
    if (!e)
      break;
    s = e + 1;
  }
  return 0;
nomem:
  fmt(err, errlen, "out of memory");
  return XR_ENOMEM;
}

static int step_matches(const xr_step *s, const xmlChar *local,
                        const xmlChar *uri) {
  if (s->local && strcmp(s->local, (const char *)local) != 0)
    return 0;
  if (s->any_ns)
    return 1;
  if (!s->uri)
    return !uri || !*uri;
  return uri && !strcmp(s->uri, (const char *)uri);
}

/* ---- failures ----------------------------------------------------------
 */

static unsigned long cur_line(const xr_parser *p) {
  return p->ctxt && p->ctxt->input && p->ctxt->input->line > 0
             ? (unsigned long)p->ctxt->input->line
             : 0;
}

/* Fail the document with rc and a message, and stop the parser. */
static void fail(xr_parser *p, int rc, const char *f, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(xr_parser *p, int rc, const char *f, ...) {
  va_list ap;
  if (p->rc)
    return;
  p->rc = rc;
  va_start(ap, f);
  vsnprintf(p->err, sizeof p->err, f, ap);
  va_end(ap);
  /* xmlStopParser is made for SAX callbacks: it halts the input and every
   * parsing loop checks for that state after each callback. */
  xmlStopParser(p->ctxt);
}

static void nomem(xr_parser *p) {
  fail(p, XR_ENOMEM, "out of memory");
}

/*
 * A person's explanation of a libxml2 parser error code.  libxml2's own
 * messages are not used: some quote bytes of the document ("Input is not
 * proper UTF-8 ... Bytes: 0x.. 0x..") or names that a broken document
 * makes out of its text.
 */
static const char *describe(int code) {
  switch (code) {
  case XML_ERR_DOCUMENT_EMPTY:
    return "the document is empty";
  case XML_ERR_DOCUMENT_START:
    return "the document does not start like XML";
  case XML_ERR_DOCUMENT_END:
  case XML_ERR_EXTRA_CONTENT:
    return "content after the end of the root element";
  case XML_ERR_TAG_NAME_MISMATCH:
  case XML_ERR_NOT_WELL_BALANCED:
    return "an end tag does not match its start tag";
  case XML_ERR_TAG_NOT_FINISHED:
    return "the document ends inside an element (truncated?)";
  case XML_ERR_LT_REQUIRED:
    return "'<' expected";
  case XML_ERR_GT_REQUIRED:
    return "'>' expected (an unfinished tag?)";
  case XML_ERR_LTSLASH_REQUIRED:
    return "'</' expected";
  case XML_ERR_NAME_REQUIRED:
    return "a name was expected (a bare '<' or '&' in text? write &lt; "
           "or &amp;)";
  case XML_ERR_SPACE_REQUIRED:
    return "white space expected";
  case XML_ERR_EQUAL_REQUIRED:
    return "'=' expected after an attribute name";
  case XML_ERR_INVALID_CHAR:
  case XML_ERR_INVALID_CHARREF:
  case XML_ERR_INVALID_DEC_CHARREF:
  case XML_ERR_INVALID_HEX_CHARREF:
    return "a byte sequence or character that is invalid in the document's "
           "encoding or not allowed in XML";
  case XML_ERR_UNKNOWN_ENCODING:
  case XML_ERR_UNSUPPORTED_ENCODING:
  case XML_ERR_ENCODING_NAME:
    return "the declared encoding is unknown or not supported";
  case XML_ERR_INVALID_ENCODING:
    return "the document's bytes do not fit its declared encoding";
  case XML_ERR_UNDECLARED_ENTITY:
  case XML_WAR_UNDECLARED_ENTITY:
    return "a reference to an undeclared entity (only &amp; &lt; &gt; "
           "&quot; &apos; and character references are accepted)";
  case XML_ERR_ENTITYREF_SEMICOL_MISSING:
  case XML_ERR_ENTITYREF_NO_NAME:
    return "an '&' that does not start an entity reference (write &amp;)";
  case XML_ERR_LT_IN_ATTRIBUTE:
    return "'<' in an attribute value";
  case XML_ERR_ATTRIBUTE_NOT_STARTED:
  case XML_ERR_ATTRIBUTE_WITHOUT_VALUE:
  case XML_ERR_ATTRIBUTE_NOT_FINISHED:
  case XML_ERR_STRING_NOT_STARTED:
  case XML_ERR_STRING_NOT_CLOSED:
    return "an attribute value is not quoted or not closed";
  case XML_ERR_ATTRIBUTE_REDEFINED:
  case XML_NS_ERR_ATTRIBUTE_REDEFINED:
    return "an attribute appears twice in one element";
  case XML_NS_ERR_UNDEFINED_NAMESPACE:
    return "a namespace prefix is used but not declared";
  case XML_NS_ERR_QNAME:
  case XML_NS_ERR_EMPTY:
  case XML_ERR_NS_DECL_ERROR:
    return "an invalid namespace name or declaration";
  case XML_ERR_CDATA_NOT_FINISHED:
    return "an unfinished CDATA section";
  case XML_ERR_COMMENT_NOT_FINISHED:
  case XML_ERR_HYPHEN_IN_COMMENT:
    return "an unfinished comment or '--' inside a comment";
  case XML_ERR_PI_NOT_FINISHED:
  case XML_ERR_RESERVED_XML_NAME:
  case XML_ERR_XMLDECL_NOT_FINISHED:
  case XML_ERR_VERSION_MISSING:
  case XML_ERR_STANDALONE_VALUE:
    return "a malformed XML declaration or processing instruction";
  case XML_ERR_MISPLACED_CDATA_END:
    return "']]>' in text";
  case XML_ERR_NAME_TOO_LONG:
    return "a name longer than libxml2's limit";
  case XML_ERR_INTERNAL_ERROR:
    return "a libxml2 limit was exceeded (a construct over 10 MB?)";
  default:
    return NULL;
  }
}

/*
 * libxml2's structured error callback for the push parser.  Only the first
 * error of a document counts; warnings do not.  It records and does not
 * stop: libxml2 is itself inside error handling here, and a fatal error
 * already disables further SAX events; for a recoverable one (a namespace
 * error) our callbacks ignore what follows, and the feed returns after this
 * chunk.
 */
static void on_parse_error(void *ud, xmlErrorPtr e) {
  xr_parser *p = ud;
  const char *what;

  if (!e || e->level < XML_ERR_ERROR || p->rc)
    return;
  if (e->code == XML_ERR_NO_MEMORY) {
    p->rc = XR_ENOMEM;
    fmt(p->err, sizeof p->err, "out of memory");
    return;
  }
  p->rc = XR_EDATA;
  what = describe(e->code);
  /* In push mode libxml2 says "extra content at the end" for a document
   * that simply stops: tell the cases apart by what was seen. */
  if (e->code == XML_ERR_DOCUMENT_END || e->code == XML_ERR_EXTRA_CONTENT) {
    if (!p->root_seen)
      what = "the document has no root element (is it empty?)";
    else if (!p->root_closed)
      what = "the document ends before its root element is closed "
             "(truncated?)";
  }
  if (what)
    fmt(p->err, sizeof p->err, "line %d, column %d: not well-formed XML: %s",
        e->line, e->int2, what);
  else
    fmt(p->err, sizeof p->err,
        "line %d, column %d: not well-formed XML (libxml2 error %d)", e->line,
        e->int2, e->code);
}

/* ---- errors libxml2 reports without a context ------------------------- */

/*
 * Some errors libxml2 raises without the parser context: the encoding
 * conversion's ("input conversion failed due to input error, bytes 0x..
 * 0x..") and a few I/O and XPath ones.  They go to the thread's structured
 * error handler, or to its generic handler, which prints them on stderr,
 * some with bytes of the document.  So around each call into libxml2 our
 * handlers are the thread's, and the previous ones are put back after the
 * call: between calls libxml2's (thread-local) global state is as it was,
 * and nothing of libxml2's ever reaches stderr.
 */
typedef struct err_scope {
  xmlStructuredErrorFunc sfn; /* the handlers to put back */
  void *sctx;
  xmlGenericErrorFunc gfn;
  void *gctx;
} err_scope;

/* Generic (printf-style) errors: dropped, since their text may hold data;
 * each is also raised as a structured error, or is an internal one. */
static void drop_generic(void *ctx, const char *msg, ...) {}

static void scope_enter(err_scope *s, xmlStructuredErrorFunc fn, void *ud) {
  s->sfn = xmlStructuredError;
  s->sctx = xmlStructuredErrorContext;
  s->gfn = xmlGenericError;
  s->gctx = xmlGenericErrorContext;
  xmlSetStructuredErrorFunc(ud, fn);
  xmlSetGenericErrorFunc(NULL, drop_generic);
}

static void scope_leave(const err_scope *s) {
  xmlSetStructuredErrorFunc(s->sctx, s->sfn);
  xmlSetGenericErrorFunc(s->gctx, s->gfn);
}

/* The parser's structured handler for errors without its context. */
static void on_stray_error(void *ud, xmlErrorPtr e) {
  xr_parser *p = ud;

  if (!e || e->level < XML_ERR_ERROR || p->rc)
    return;
  if (e->domain == XML_FROM_MEMORY || e->code == XML_ERR_NO_MEMORY) {
    p->rc = XR_ENOMEM;
    fmt(p->err, sizeof p->err, "out of memory");
    return;
  }
  p->rc = XR_EDATA;
  if (e->domain == XML_FROM_I18N || e->code == XML_IO_ENCODER)
    fmt(p->err, sizeof p->err,
        "line %lu: not well-formed XML: bytes that are invalid in the "
        "document's encoding (declared or detected)",
        cur_line(p));
  else
    fmt(p->err, sizeof p->err,
        "line %lu: not well-formed XML (libxml2 error %d)", cur_line(p),
        e->code);
}

/* ---- DTDs: refused before anything in them is read -------------------- */

static void refuse_dtd(xr_parser *p) {
  fail(p, XR_EDATA,
       "line %lu: DTDs and entity declarations are not accepted (the "
       "document has a DOCTYPE); the document was not read",
       cur_line(p));
}

/* Called at "<!DOCTYPE name ..." before the internal subset "[...]" is
 * parsed: a refusal here means no entity is ever declared. */
static void sax_internal_subset(void *ud, const xmlChar *name,
                                const xmlChar *external_id,
                                const xmlChar *system_id) {
  refuse_dtd(ud);
}

/* The rest are unreachable after the refusal above; they refuse too, so
 * that no path into the DTD machinery is left open. */
static void sax_external_subset(void *ud, const xmlChar *name,
                                const xmlChar *external_id,
                                const xmlChar *system_id) {
  refuse_dtd(ud);
}

static void sax_entity_decl(void *ud, const xmlChar *name, int type,
                            const xmlChar *public_id, const xmlChar *system_id,
                            xmlChar *content) {
  refuse_dtd(ud);
}

static xmlParserInputPtr sax_resolve_entity(void *ud, const xmlChar *public_id,
                                            const xmlChar *system_id) {
  refuse_dtd(ud);
  return NULL;
}

/* ---- building the record ---------------------------------------------- */

/* Free the record's nodes (the document itself is kept for the next). */
static void record_free(xr_parser *p) {
  if (p->root) {
    xmlUnlinkNode(p->root);
    xmlFreeNode(p->root);
  }
  p->root = p->cur = NULL;
  p->tlen = 0;
}

/*
 * Count n more units against max_record.  Returns 1, or 0 when the record
 * is (now) too long: its nodes are freed then and nothing more is built,
 * but its end is still found so that it can be reported.
 */
static int charge(xr_parser *p, size_t n) {
  if (p->too_long)
    return 0;
  if (n > p->max_record || p->rec_bytes > p->max_record - n) {
    record_free(p);
    p->too_long = 1;
    return 0;
  }
  p->rec_bytes += n;
  if (p->rec_bytes > p->peak)
    p->peak = p->rec_bytes;
  return 1;
}

/* Make the text gathered since the last element event a text node. */
static void flush_text(xr_parser *p) {
  xmlNodePtr t;

  if (!p->tlen || p->too_long || !p->cur)
    return;
  if (!charge(p, NODE_COST))
    return;
  t = xmlNewDocTextLen(p->doc, (const xmlChar *)p->tbuf, (int)p->tlen);
  p->tlen = 0;
  if (!t) {
    nomem(p);
    return;
  }
  xmlAddChild(p->cur, t);
}

/*
 * The namespace to give a node for (prefix, uri): one in scope in the
 * record with that URI, else a new declaration on node (the document
 * declared it outside the record).  XPath compares URIs, not prefixes, so
 * a made-up prefix is as good when the document's one is taken.  Returns
 * NULL when out of memory.
 */
static xmlNsPtr ns_for(xr_parser *p, xmlNodePtr node, const xmlChar *prefix,
                       const xmlChar *uri) {
  xmlNsPtr ns = xmlSearchNsByHref(p->doc, node, uri);
  char gen[24];
  unsigned k;

  if (ns)
    return ns;
  if ((ns = xmlNewNs(node, uri, prefix)) != NULL)
    return ns;
  for (k = 0; k < 64; k++) {
    snprintf(gen, sizeof gen, "_samspor%u", k);
    if ((ns = xmlNewNs(node, uri, (const xmlChar *)gen)) != NULL)
      return ns;
  }
  return NULL;
}

/*
 * The value of an attribute as SAX2 gives it, decoded into p->abuf.
 * Without XML_PARSE_NOENT libxml2 hands over a '&' of the value (from
 * &amp; or &#38;) as the five characters "&#38;" so that a tree builder
 * could tell it from an entity reference; with DTDs refused there are no
 * entity references, so that is the only '&' sequence there can be.
 * Returns the decoded value or NULL when out of memory.
 */
static const xmlChar *attr_value(xr_parser *p, const xmlChar *v,
                                 const xmlChar *end) {
  size_t n = (size_t)(end - v), i, o = 0;

  if (n + 1 > p->acap) {
    char *nb = realloc(p->abuf, n + 1);
    if (!nb)
      return NULL;
    p->abuf = nb;
    p->acap = n + 1;
  }
  for (i = 0; i < n; i++) {
    if (v[i] == '&' && n - i >= 5 && !memcmp(v + i, "&#38;", 5)) {
      p->abuf[o++] = '&';
      i += 4;
    } else {
      p->abuf[o++] = (char)v[i];
    }
  }
  p->abuf[o] = '\0';
  return (const xmlChar *)p->abuf;
}

/* Add an element to the record (its root when there is none yet). */
static void build_element(xr_parser *p, const xmlChar *local,
                          const xmlChar *prefix, const xmlChar *uri, int nb_ns,
                          const xmlChar **namespaces, int nb_attr,
                          const xmlChar **attrs) {
  xmlNodePtr node;
  int i;

  flush_text(p);
  if (!charge(p, NODE_COST + strlen((const char *)local)))
    return;
  node = xmlNewDocNode(p->doc, NULL, local, NULL);
  if (!node) {
    nomem(p);
    return;
  }
  if (p->cur) {
    xmlAddChild(p->cur, node);
  } else {
    xmlDocSetRootElement(p->doc, node);
    p->root = node;
  }
  p->cur = node;
  for (i = 0; i < nb_ns; i++) {
    const xmlChar *dp = namespaces[2 * i], *du = namespaces[2 * i + 1];
    if (!charge(p, NODE_COST + (du ? strlen((const char *)du) : 0)))
      return;
    /* NULL for a declaration libxml2 refuses (the xml prefix): such a
     * namespace is found by ns_for() all the same. */
    xmlNewNs(node, du, dp);
  }
  if (uri && *uri) {
    xmlNsPtr ns = ns_for(p, node, prefix, uri);
    if (!ns) {
      nomem(p);
      return;
    }
    xmlSetNs(node, ns);
  }
  for (i = 0; i < nb_attr; i++) {
    const xmlChar *alocal = attrs[5 * i], *auri = attrs[5 * i + 2];
    const xmlChar *v = attrs[5 * i + 3], *end = attrs[5 * i + 4];
    const xmlChar *value;
    xmlNsPtr ns = NULL;

    if (!charge(p,
                NODE_COST + strlen((const char *)alocal) + (size_t)(end - v)))
      return;
    if (auri && *auri && !(ns = ns_for(p, node, attrs[5 * i + 1], auri))) {
      nomem(p);
      return;
    }
    /* xmlNewNsProp makes the value one text node as it is: no entity
     * parsing happens here. */
    if (!(value = attr_value(p, v, end)) ||
        !xmlNewNsProp(node, ns, alocal, value)) {
      nomem(p);
      return;
    }
  }
}

/* The record's end tag: hand it over, then free it. */
static void record_end(xr_parser *p) {
  xr_record r;
  int rc;

  r.number = p->nrecords;
  r.line = p->line;
  r.too_long = p->too_long;
  r.node = p->too_long ? NULL : p->root;
  p->rec_depth = 0;
  rc = p->fn(p->ud, &r);
  record_free(p);
  p->too_long = 0;
  p->rec_bytes = 0;
  if (p->tcap > TEXT_KEEP) {
    free(p->tbuf);
    p->tbuf = NULL;
    p->tcap = 0;
  }
  if (rc < 0 && !p->rc) {
    p->rc = rc;
    p->err[0] = '\0';
    xmlStopParser(p->ctxt);
  }
}

/* ---- SOAP Faults ------------------------------------------------------ */

static int soap_ns(const xmlChar *uri) {
  return streq(uri, SOAP11_NS) || streq(uri, SOAP12_NS);
}

/* An element start inside a Fault: note the code element of SOAP 1.1
 * (faultcode) and 1.2 (Code/Value).  The fault string (faultstring,
 * Reason/Text) is never read: it is the server's free text, which may
 * quote what was asked for (a CPR number, a name). */
static void fault_start(xr_parser *p, const xmlChar *local, const xmlChar *uri,
                        size_t d) {
  int no_ns = !uri || !*uri;
  if (p->capture)
    return;
  if (!p->fcode_done && ((no_ns && streq(local, "faultcode")) ||
                         (streq(uri, SOAP12_NS) && streq(local, "Value")))) {
    p->capture = 1;
    p->capture_depth = d;
  }
}

static void fault_text(xr_parser *p, const xmlChar *ch, int len) {
  char *buf = p->fcode;
  size_t *n = &p->fcode_len;
  size_t k = (size_t)len;

  if (k > FAULT_TEXT_MAX - 1 - *n)
    k = FAULT_TEXT_MAX - 1 - *n;
  memcpy(buf + *n, ch, k);
  *n += k;
  buf[*n] = '\0';
}

/*
 * Fault text fit for a message: control characters made spaces, runs of
 * space collapsed, a run of six or more digits (an identifier the server
 * may have echoed) replaced by "[number]", at most FAULT_SHOWN bytes cut
 * at a UTF-8 boundary.  Faultstrings describe the failure, not people, but
 * this costs little.  out holds at least FAULT_SHOWN + 16 bytes.
 */
static void fault_clean(const char *in, size_t n, char *out) {
  size_t i = 0, o = 0;

  while (i < n && o < FAULT_SHOWN) {
    unsigned char c = (unsigned char)in[i];
    if (c >= '0' && c <= '9') {
      size_t j = i, digits = 0;
      while (j < n &&
             ((in[j] >= '0' && in[j] <= '9') || in[j] == '-' || in[j] == ' ')) {
        if (in[j] >= '0' && in[j] <= '9')
          digits++;
        j++;
      }
      if (digits >= 6) {
        memcpy(out + o, "[number]", 8);
        o += 8;
        if (in[j - 1] == ' ')
          out[o++] = ' ';
        i = j;
        continue;
      }
    }
    if (c < 0x20 || c == 0x7f)
      c = ' ';
    if (c == ' ' && (o == 0 || out[o - 1] == ' ')) {
      i++;
      continue;
    }
    out[o++] = (char)c;
    i++;
  }
  if (i < n) {
    /* drop a character the cut left incomplete */
    size_t k = o, want;
    while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80)
      k--;
    if (k > 0 && (unsigned char)out[k - 1] >= 0xC0) {
      unsigned char lead = (unsigned char)out[k - 1];
      want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
      if (o - (k - 1) < want)
        o = k - 1;
    }
    memcpy(out + o, "...", 3);
    o += 3;
  }
  while (o > 0 && out[o - 1] == ' ')
    o--;
  out[o] = '\0';
}

/* An element end inside a Fault; at the Fault's own end, fail. */
static void fault_end(xr_parser *p, size_t d) {
  char code[FAULT_SHOWN + 16];

  if (p->capture && d == p->capture_depth) {
    p->fcode_done = 1;
    p->capture = 0;
  }
  if (d != p->fault_depth)
    return;
  fault_clean(p->fcode, p->fcode_len, code);
  /* A fault code is a qualified name (soap:Client); anything else in it
   * is free text and is not shown either. */
  if (code[strspn(code, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789:._-")])
    code[0] = '\0';
  fail(p, XR_EFAULT,
       "line %lu: SOAP Fault%s%s (its fault string is withheld: it may "
       "quote data)",
       cur_line(p), code[0] ? " " : "", code);
}

/* ---- SAX callbacks ---------------------------------------------------- */

/* Describe an element's expanded name into buf for a message. */
static void expanded(char *buf, size_t len, const xmlChar *local,
                     const xmlChar *uri) {
  if (uri && *uri)
    fmt(buf, len, "'%.100s' in namespace '%.200s'", (const char *)local,
        (const char *)uri);
  else
    fmt(buf, len, "'%.100s' (in no namespace)", (const char *)local);
}

/* The root element does not start an absolute record path: the
 * configuration does not fit the document, which would otherwise give
 * zero records (and empty a full_refresh table) without a word. */
static void root_mismatch(xr_parser *p, const xmlChar *local,
                          const xmlChar *uri) {
  const xr_step *s = &p->steps[0];
  char root[360];

  expanded(root, sizeof root, local, uri);
  if (s->local && streq(local, s->local) && !s->uri && uri && *uri)
    fail(p, XR_EINVAL,
         "record path '%s' does not match the document: its root element "
         "is %s; declare a prefix for that namespace in namespaces "
         "(\"p=%.200s\") and use it in the record path and the columns' "
         "from",
         p->path, root, (const char *)uri);
  else
    fail(p, XR_EINVAL,
         "record path '%s' does not match the document: its root element "
         "is %s",
         p->path, root);
}

static void sax_start(void *ud, const xmlChar *local, const xmlChar *prefix,
                      const xmlChar *uri, int nb_ns, const xmlChar **namespaces,
                      int nb_attr, int nb_defaulted, const xmlChar **attrs) {
  xr_parser *p = ud;
  uint32_t m = 0, prev;
  size_t d, j;

  if (p->rc)
    return;
  if (p->depth >= XR_MAX_DEPTH) {
    fail(p, XR_EDATA, "line %lu: elements nested more than %d deep",
         cur_line(p), XR_MAX_DEPTH);
    return;
  }
  if (p->depth + 2 > p->mcap) {
    size_t ncap = p->mcap * 2;
    uint32_t *nm = realloc(p->masks, ncap * sizeof *nm);
    if (!nm) {
      nomem(p);
      return;
    }
    p->masks = nm;
    p->mcap = ncap;
  }
  d = ++p->depth;
  p->masks[d] = 0;

  if (p->fault_depth)
    fault_start(p, local, uri, d);
  else if (streq(local, "Fault") && soap_ns(uri))
    p->fault_depth = d;

  if (p->rec_depth) {
    if (!p->too_long)
      build_element(p, local, prefix, uri, nb_ns, namespaces, nb_attr, attrs);
    return;
  }

  prev = p->masks[d - 1];
  for (j = 0; j < p->nsteps; j++) {
    int after = j == 0 ? (p->anywhere || d == 1) : (int)((prev >> (j - 1)) & 1);
    if (after && step_matches(&p->steps[j], local, uri))
      m |= (uint32_t)1 << j;
  }
  p->masks[d] = m;
  if (d == 1) {
    p->root_seen = 1;
    if (!p->anywhere && !(m & 1)) {
      root_mismatch(p, local, uri);
      return;
    }
  }
  if (m & ((uint32_t)1 << (p->nsteps - 1))) {
    p->rec_depth = d;
    p->nrecords++;
    p->line = cur_line(p);
    p->rec_bytes = 0;
    p->too_long = 0;
    p->tlen = 0;
    build_element(p, local, prefix, uri, nb_ns, namespaces, nb_attr, attrs);
  }
}

static void sax_end(void *ud, const xmlChar *local, const xmlChar *prefix,
                    const xmlChar *uri) {
  xr_parser *p = ud;
  size_t d = p->depth;

  if (p->rc || d == 0)
    return;
  if (p->rec_depth) {
    flush_text(p);
    if (d == p->rec_depth)
      record_end(p);
    else if (!p->too_long && p->cur)
      p->cur = p->cur->parent;
  }
  if (p->fault_depth && !p->rc)
    fault_end(p, d);
  if (d == 1)
    p->root_closed = 1;
  p->depth--;
}

static void sax_chars(void *ud, const xmlChar *ch, int len) {
  xr_parser *p = ud;
  size_t n = (size_t)len;

  if (p->rc || len <= 0)
    return;
  if (p->capture)
    fault_text(p, ch, len);
  if (!p->rec_depth || p->too_long || !charge(p, n))
    return;
  if (p->tlen + n > p->tcap) {
    size_t ncap = p->tcap ? p->tcap : 256;
    char *nb;
    while (ncap < p->tlen + n)
      ncap *= 2;
    if (!(nb = realloc(p->tbuf, ncap))) {
      nomem(p);
      return;
    }
    p->tbuf = nb;
    p->tcap = ncap;
  }
  memcpy(p->tbuf + p->tlen, ch, n);
  p->tlen += n;
}

/* ---- the parser ------------------------------------------------------- */

int xr_parser_new(const xr_config *cfg, xr_record_fn fn, void *ud,
                  xr_parser **out, char *err, size_t errlen) {
  xr_parser *p;
  xr_nsmap m;
  int rc;

  *out = NULL;
  if (cfg->max_record && (cfg->max_record < XR_MIN_MAX_RECORD ||
                          cfg->max_record > XR_MAX_MAX_RECORD)) {
    fmt(err, errlen, "max_record_size must be between %d and %d",
        XR_MIN_MAX_RECORD, XR_MAX_MAX_RECORD);
    return XR_EINVAL;
  }
  p = calloc(1, sizeof *p);
  if (!p) {
    fmt(err, errlen, "out of memory");
    return XR_ENOMEM;
  }
  p->fn = fn;
  p->ud = ud;
  p->max_record = cfg->max_record ? cfg->max_record : XR_DEFAULT_MAX_RECORD;
  rc = nsmap_parse(cfg->namespaces, cfg->nnamespaces, &m, err, errlen);
  if (rc == 0)
    rc = path_parse(p, cfg->record, &m, err, errlen);
  nsmap_free(&m);
  if (rc) {
    xr_parser_free(p);
    return rc;
  }
  p->path = strdup(cfg->record);
  p->mcap = 64;
  p->masks = calloc(p->mcap, sizeof *p->masks);
  p->doc = xmlNewDoc((const xmlChar *)"1.0");
  if (!p->path || !p->masks || !p->doc) {
    xr_parser_free(p);
    fmt(err, errlen, "out of memory");
    return XR_ENOMEM;
  }

  /* Only these callbacks: no xmlSAX2* defaults, so libxml2 builds no tree
   * and keeps no entity table of its own. */
  p->sax.initialized = XML_SAX2_MAGIC;
  p->sax.startElementNs = sax_start;
  p->sax.endElementNs = sax_end;
  p->sax.characters = sax_chars;
  p->sax.ignorableWhitespace = sax_chars;
  p->sax.cdataBlock = sax_chars; /* CDATA is text to XPath */
  p->sax.internalSubset = sax_internal_subset;
  p->sax.externalSubset = sax_external_subset;
  p->sax.entityDecl = sax_entity_decl;
  p->sax.resolveEntity = sax_resolve_entity;
  p->sax.serror = on_parse_error;
  *out = p;
  return 0;
}

/* Free the document's parser and per-document state; keeps rc, err and
 * nrecords for the caller to read. */
static void doc_end(xr_parser *p) {
  record_free(p);
  if (p->ctxt) {
    xmlFreeParserCtxt(p->ctxt);
    p->ctxt = NULL;
  }
  p->depth = 0;
  p->rec_depth = 0;
  p->too_long = 0;
  p->rec_bytes = 0;
  p->fault_depth = 0;
  p->capture = 0;
}

/* Start a document: a fresh push parser. */
static int doc_start(xr_parser *p) {
  p->rc = 0;
  p->err[0] = '\0';
  p->nrecords = 0;
  p->root_seen = p->root_closed = 0;
  p->fcode_len = 0;
  p->fcode_done = 0;
  p->fcode[0] = '\0';
  p->ctxt = xmlCreatePushParserCtxt(&p->sax, p, NULL, 0, NULL);
  if (!p->ctxt) {
    p->rc = XR_ENOMEM;
    fmt(p->err, sizeof p->err, "out of memory");
    return p->rc;
  }
  xmlCtxtUseOptions(p->ctxt, XR_PARSE_OPTIONS);
  return 0;
}

/* After xmlParseChunk: a failure libxml2 reported without calling our
 * error callback (it should not happen, but the return code says so). */
static void check_chunk(xr_parser *p, int xrc) {
  if (xrc != 0 && xrc != XML_ERR_USER_STOP && !p->rc) {
    const char *what = describe(xrc);
    p->rc = xrc == XML_ERR_NO_MEMORY ? XR_ENOMEM : XR_EDATA;
    if (what)
      fmt(p->err, sizeof p->err, "line %lu: not well-formed XML: %s",
          cur_line(p), what);
    else
      fmt(p->err, sizeof p->err,
          "line %lu: not well-formed XML (libxml2 error %d)", cur_line(p), xrc);
  }
}

int xr_parser_feed(xr_parser *p, const char *buf, size_t len) {
  err_scope sc;

  if (!p->ctxt && p->rc)
    return p->rc; /* doc_start failed: finish resets */
  scope_enter(&sc, on_stray_error, p);
  if (!p->ctxt)
    doc_start(p);
  while (len > 0 && !p->rc) {
    int n = len > FEED_MAX ? FEED_MAX : (int)len;
    check_chunk(p, xmlParseChunk(p->ctxt, buf, n, 0));
    buf += n;
    len -= (size_t)n;
  }
  scope_leave(&sc);
  return p->rc;
}

int xr_parser_finish(xr_parser *p) {
  err_scope sc;
  int rc;

  scope_enter(&sc, on_stray_error, p);
  if (!p->ctxt && !p->rc)
    doc_start(p);
  if (p->ctxt && !p->rc)
    check_chunk(p, xmlParseChunk(p->ctxt, NULL, 0, 1));
  if (!p->rc && p->ctxt && !p->ctxt->wellFormed)
    check_chunk(p, p->ctxt->errNo ? p->ctxt->errNo : XML_ERR_INTERNAL_ERROR);
  if (!p->rc && !p->root_seen) {
    p->rc = XR_EDATA;
    fmt(p->err, sizeof p->err, "not well-formed XML: %s",
        describe(XML_ERR_DOCUMENT_EMPTY));
  }
  rc = p->rc;
  doc_end(p);
  scope_leave(&sc);
  p->rc = 0; /* the next feed starts a new document */
  return rc;
}

const char *xr_parser_error(const xr_parser *p) {
  return p->err;
}

unsigned long long xr_parser_records(const xr_parser *p) {
  return p->nrecords;
}

size_t xr_parser_peak(const xr_parser *p) {
  return p->peak;
}

void xr_parser_free(xr_parser *p) {
  size_t i;

  if (!p)
    return;
  doc_end(p);
  for (i = 0; i < p->nsteps; i++) {
    free(p->steps[i].uri);
    free(p->steps[i].local);
  }
  if (p->doc)
    xmlFreeDoc(p->doc);
  free(p->masks);
  free(p->tbuf);
  free(p->abuf);
  free(p->path);
  free(p);
}

/* ---- fields ----------------------------------------------------------- */

struct xr_fields {
  xmlXPathContextPtr xp;     /* namespaces registered; node set per eval */
  xmlXPathCompExprPtr *comp; /* one per expression (owned) */
  char **expr;               /* the expressions, for messages (owned) */
  size_t n;
  xmlChar *last; /* the value last returned (owned) */
  int failed;    /* an XPath error was reported */
  char why[160]; /* what it was */
};

/* A person's explanation of an XPath error code (xmlXPathError). */
static const char *xpath_describe(int code) {
  switch (code) {
  case XPATH_NUMBER_ERROR:
    return "invalid number";
  case XPATH_UNFINISHED_LITERAL_ERROR:
  case XPATH_START_LITERAL_ERROR:
    return "unfinished string literal";
  case XPATH_VARIABLE_REF_ERROR:
  case XPATH_UNDEF_VARIABLE_ERROR:
  case XPATH_FORBID_VARIABLE_ERROR:
    return "variables are not supported";
  case XPATH_INVALID_PREDICATE_ERROR:
    return "invalid predicate";
  case XPATH_UNCLOSED_ERROR:
    return "unclosed bracket or parenthesis";
  case XPATH_UNKNOWN_FUNC_ERROR:
    return "unknown function";
  case XPATH_INVALID_OPERAND:
  case XPATH_INVALID_TYPE:
    return "an operand of the wrong type";
  case XPATH_INVALID_ARITY:
    return "wrong number of arguments to a function";
  case XPATH_MEMORY_ERROR:
    return "out of memory";
  case XPATH_UNDEF_PREFIX_ERROR:
    return "a namespace prefix not declared in namespaces";
  case XPATH_ENCODING_ERROR:
  case XPATH_INVALID_CHAR_ERROR:
    return "invalid character";
  default:
    return "invalid expression";
  }
}

/*
 * XPath errors, kept as an explanation of their code.  Without this
 * callback libxml2 would print them to stderr.
 */
static void on_xpath_error(void *ud, xmlErrorPtr e) {
  xr_fields *f = ud;
  if (f->failed || (e && e->level < XML_ERR_ERROR))
    return;
  f->failed = 1;
  if (e && e->domain != XML_FROM_XPATH)
    fmt(f->why, sizeof f->why, "libxml2 error %d", e->code);
  else
    fmt(f->why, sizeof f->why, "%s",
        xpath_describe(e ? e->code - XML_XPATH_EXPRESSION_OK : -1));
}

/*
 * Find the function calls of an XPath expression and check that each is
 * a function libxml2 knows.  libxml2 itself finds an unknown function only
 * when the call runs, and then prints to stderr (xmlGenericError) before
 * its error callback; checking first keeps that message ours.  A lexer of
 * just enough XPath: string literals and numbers are skipped, a name (or
 * prefix:name) followed by '(' is a call unless it is a node type test or
 * an operator name.  Returns 0, or XR_EINVAL with a message in err.
 */
static int check_functions(xr_fields *f, const char *e, char *err,
                           size_t errlen) {
  static const char *const not_calls[] = {
      "node", "text", "comment", "processing-instruction",
      "and",  "or",   "div",     "mod"};
  size_t i = 0, n = strlen(e), k;

  while (i < n) {
    unsigned char c = (unsigned char)e[i];
    if (c == '"' || c == '\'') {
      const char *q = strchr(e + i + 1, (char)c);
      i = q ? (size_t)(q - e) + 1 : n;
    } else if (c == '$') { /* a variable reference: never a call */
      i++;
      while (i < n && (name_char((unsigned char)e[i], 0) || e[i] == ':'))
        i++;
    } else if (name_char(c, 1)) {
      size_t start = i, colon = 0, j;
      int known = 0;
      while (i < n && name_char((unsigned char)e[i], 0))
        i++;
      if (i + 1 < n && e[i] == ':' && e[i + 1] != ':' &&
          name_char((unsigned char)e[i + 1], 1)) {
        colon = i;
        i++;
        while (i < n && name_char((unsigned char)e[i], 0))
          i++;
      }
      j = i;
      while (j < n &&
             (e[j] == ' ' || e[j] == '\t' || e[j] == '\n' || e[j] == '\r'))
        j++;
      if (j >= n || e[j] != '(')
        continue;
      for (k = 0; k < sizeof not_calls / sizeof *not_calls; k++)
        if (strlen(not_calls[k]) == i - start &&
            !memcmp(not_calls[k], e + start, i - start))
          known = 1;
      if (!known && !colon) {
        char name[64];
        fmt(name, sizeof name, "%.*s", (int)(i - start), e + start);
        known = xmlXPathFunctionLookup(f->xp, (const xmlChar *)name) != NULL;
      }
      if (!known) {
        fmt(err, errlen, "field '%s': unknown XPath function '%.*s'", e,
            (int)(i - start), e + start);
        return XR_EINVAL;
      }
    } else if (c >= '0' && c <= '9') {
      while (i < n && ((e[i] >= '0' && e[i] <= '9') || e[i] == '.'))
        i++;
    } else {
      i++;
    }
  }
  return 0;
}

void xr_fields_free(xr_fields *f) {
  size_t i;
  if (!f)
    return;
  for (i = 0; i < f->n; i++) {
    if (f->comp[i])
      xmlXPathFreeCompExpr(f->comp[i]);
    free(f->expr[i]);
  }
  free(f->comp);
  free(f->expr);
  if (f->xp)
    xmlXPathFreeContext(f->xp);
  xmlFree(f->last);
  free(f);
}

/* Evaluate expression i with node as the context.  Returns the result
 * (caller frees) or NULL with f->failed set, or NULL when out of memory. */
static xmlXPathObjectPtr eval_at(xr_fields *f, size_t i, xmlNodePtr node) {
  xmlXPathObjectPtr o;
  err_scope sc;

  f->failed = 0;
  f->why[0] = '\0';
  f->xp->doc = node->doc;
  f->xp->node = node;
  f->xp->contextSize = -1;
  f->xp->proximityPosition = -1;
  scope_enter(&sc, on_xpath_error, f);
  o = xmlXPathCompiledEval(f->comp[i], f->xp);
  scope_leave(&sc);
  return o;
}

int xr_fields_new(const char *const *exprs, size_t n,
                  const char *const *namespaces, size_t nnamespaces,
                  xr_fields **out, char *err, size_t errlen) {
  xr_fields *f;
  xr_nsmap m;
  xmlDocPtr doc = NULL;
  xmlNodePtr root;
  err_scope sc;
  size_t i;
  int rc;

  *out = NULL;
  f = calloc(1, sizeof *f);
  if (!f) {
    fmt(err, errlen, "out of memory");
    return XR_ENOMEM;
  }
  scope_enter(&sc, on_xpath_error, f);
  rc = nsmap_parse(namespaces, nnamespaces, &m, err, errlen);
  if (rc) {
    scope_leave(&sc);
    nsmap_free(&m);
    free(f);
    return rc;
  }
  f->comp = calloc(n ? n : 1, sizeof *f->comp);
  f->expr = calloc(n ? n : 1, sizeof *f->expr);
  f->xp = xmlXPathNewContext(NULL);
  if (!f->comp || !f->expr || !f->xp)
    goto nomem;
  f->xp->error = on_xpath_error;
  f->xp->userData = f;
  for (i = 0; i < m.n; i++)
    if (xmlXPathRegisterNs(f->xp, (const xmlChar *)m.prefix[i],
                           (const xmlChar *)m.uri[i]) != 0)
      goto nomem;

  for (i = 0; i < n; i++) {
    const char *e = exprs[i] ? exprs[i] : "";
    f->n++;
    if (!(f->expr[i] = strdup(e)))
      goto nomem;
    f->failed = 0;
    f->comp[i] = xmlXPathCtxtCompile(f->xp, (const xmlChar *)e);
    if (!f->comp[i]) {
      fmt(err, errlen, "field '%s': not a valid XPath expression: %s", e,
          f->failed ? f->why : "syntax error");
      rc = XR_EINVAL;
      goto fail;
    }
    if ((rc = check_functions(f, e, err, errlen)) != 0)
      goto fail;
  }

  /* Try each on an empty record: undefined prefixes, functions and
   * variables are found only when an expression runs. */
  doc = xmlNewDoc((const xmlChar *)"1.0");
  root = doc ? xmlNewDocNode(doc, NULL, (const xmlChar *)"record", NULL) : NULL;
  if (!root)
    goto nomem;
  xmlDocSetRootElement(doc, root);
  for (i = 0; i < n; i++) {
    xmlXPathObjectPtr o = eval_at(f, i, root);
    if (o)
      xmlXPathFreeObject(o);
    if (f->failed || !o) {
      fmt(err, errlen, "field '%s': %s", f->expr[i],
          f->failed ? f->why : "cannot be evaluated");
      rc = XR_EINVAL;
      goto fail;
    }
  }
  xmlFreeDoc(doc);
  scope_leave(&sc);
  nsmap_free(&m);
  *out = f;
  return 0;
nomem:
  fmt(err, errlen, "out of memory");
  rc = XR_ENOMEM;
fail:
  if (doc)
    xmlFreeDoc(doc);
  scope_leave(&sc);
  nsmap_free(&m);
  xr_fields_free(f);
  return rc;
}

int xr_fields_eval(xr_fields *f, const xr_record *r, size_t i,
                   const char **value, size_t *len, char *err, size_t errlen) {
  xmlXPathObjectPtr o;
  int absent = 0;

  *value = NULL;
  *len = 0;
  xmlFree(f->last);
  f->last = NULL;
  if (!r->node || i >= f->n)
    return 0;
  o = eval_at(f, i, r->node);
  if (!o) {
    if (!f->failed) {
      fmt(err, errlen, "out of memory");
      return XR_ENOMEM;
    }
    fmt(err, errlen, "field '%s': %s", f->expr[i], f->why);
    return XR_EINVAL;
  }
  if (o->type == XPATH_NODESET)
    absent = !o->nodesetval || o->nodesetval->nodeNr == 0;
  else if (o->type == XPATH_NUMBER)
    absent = xmlXPathIsNaN(o->floatval);
  if (!absent) {
    f->last = xmlXPathCastToString(o);
    if (!f->last) {
      xmlXPathFreeObject(o);
      fmt(err, errlen, "out of memory");
      return XR_ENOMEM;
    }
    *value = (const char *)f->last;
    *len = strlen(*value);
  }
  xmlXPathFreeObject(o);
  return 0;
}

/* ---- SOAP request templates ------------------------------------------- */

/* The entity reference for c, or NULL when c is written as it is. */
static const char *xml_escape(char c) {
  switch (c) {
  case '&':
    return "&amp;";
  case '<':
    return "&lt;";
  case '>':
    return "&gt;";
  case '"':
    return "&quot;";
  case '\'':
    return "&apos;";
  default:
    return NULL;
  }
}

char *xr_soap_request(const char *tpl, size_t n, const char *value,
                      size_t *outlen) {
  static const char key[] = "${cursor}";
  const size_t klen = sizeof key - 1;
  size_t esc = 0, count = 0, i;
  const char *c;
  char *out, *o;

  if (!value)
    value = "";
  for (c = value; *c; c++)
    esc += xml_escape(*c) ? strlen(xml_escape(*c)) : 1;
  for (i = 0; i + klen <= n; i++)
    if (!memcmp(tpl + i, key, klen)) {
      count++;
      i += klen - 1;
    }
  out = malloc(n - count * klen + count * esc + 1);
  if (!out)
    return NULL;
  o = out;
  for (i = 0; i < n;) {
    if (i + klen <= n && !memcmp(tpl + i, key, klen)) {
      for (c = value; *c; c++) {
        const char *rep = xml_escape(*c);
        if (rep) {
          memcpy(o, rep, strlen(rep));
          o += strlen(rep);
        } else {
          *o++ = *c;
        }
      }
      i += klen;
    } else {
      *o++ = tpl[i++];
    }
  }
  *o = '\0';
  *outlen = (size_t)(o - out);
  return out;
}
