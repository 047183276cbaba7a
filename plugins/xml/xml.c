#include "config.h"

/*
 * xml.c — the xml source plugin: the samspor plugin ABI over the record
 * engine (xml_records.c) and the shared transport (plugins/common).
 *
 * One stream reads the documents the connector's `url` names (or, with
 * soap_request_file, the response to one SOAP request), finds the records
 * at the stream's `record` path, and hands the core the value of each
 * requested field: an XPath expression relative to the record.  Bytes are
 * pushed from the transport straight into libxml2's push parser; only one
 * record at a time is ever a tree.
 *
 * In append mode the files already loaded (name, size, mtime, kept in the
 * stream's plugin state: plugins/common/loaded.c) are skipped, as the csv
 * plugin does.
 *
 * A document that turns out malformed, truncated, a SOAP Fault or carrying
 * a DTD fails the stream with SAMSPOR_EDATA (a Fault: SAMSPOR_EFAIL) even
 * though some of its records have gone to the core already: the core's
 * COPY is then abandoned and the transaction rolled back, so nothing of it
 * is loaded.
 *
 * libxml2 is initialised once, when the plugin is loaded (see
 * xml_plugin_load below); no other libxml2 global is read or changed, and
 * xmlCleanupParser is never called, since other code in the process may
 * use libxml2 too.
 *
 * Privacy: messages name files, record numbers, lines, element names and
 * the configured XPaths (which describe the data, not people); never a
 * value.  libxml2's own messages are not passed on (xml_records.c).
 */

#include "samspor-plugin.h"

#include "loaded.h"
#include "names.h"
#include "transport.h"
#include "xml_records.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>

#define XML_PLUGIN_VERSION "0.1.0"
/* Largest SOAP request template. */
#define SOAP_TEMPLATE_MAX (1024 * 1024)
/* What the SOAP response is called in positions and messages. */
#define SOAP_DOC_NAME "SOAP response"

/* One open stream. */
typedef struct xml_handle {
  const samspor_host *host; /* borrowed, valid until close */
  samspor_ctx *ctx;
  samspor_sink *sink;

  spp_transport *t;  /* owned */
  spp_files files;   /* owned: the documents to read (not for SOAP) */
  int append;        /* append mode with a stored state (and not --full) */
  spp_loaded loaded; /* owned: in append mode, the files loaded before */
  char *soap_body;   /* owned: the request, cursor substituted; or NULL */
  size_t soap_len;

  xr_parser *parser; /* owned */
  xr_fields *fields; /* owned */
  char **exprs;      /* owned copies of the requested fields */
  size_t nfields;
  unsigned long long *hits; /* hits[i]: records of this document in which
                               field i had a value (for the warning) */

  const char *doc; /* name of the document being read, for positions */
  char *pos;       /* owned position buffer */
  size_t pos_cap;
  int fail;          /* the host's stop code, or 0 */
  int doc_rc;        /* why the document failed, or 0 */
  char msg[640];     /* its message, re-reported after the transfer */
  size_t max_record; /* max_record_size, for the reject message */
  unsigned long long nrec, nrej;
} xml_handle;

/* ---- libxml2 ---------------------------------------------------------- */

/*
 * xmlInitParser must run once before libxml2 is used from several threads
 * (streams of one plugin may run in parallel).  Doing it when the plugin
 * is loaded, in the thread that loads it, needs no state of our own.
 */
__attribute__((constructor)) static void xml_plugin_load(void) {
  xmlInitParser();
}

/* ---- settings --------------------------------------------------------- */

/* The source and stream settings as written, filled by host->fill. */
typedef struct xml_conf {
  spp_transport_conf tp;
  samspor_strlist namespaces;
  const char *soap_request_file;
  long long max_record_size;
} xml_conf;
typedef struct xml_stream_conf {
  const char *record;
} xml_stream_conf;

static const samspor_option xml_source_options[] = {
    SPP_TRANSPORT_OPTION_ROWS(xml_conf, tp),
    {.name = "namespaces",
     SAMSPOR_AT(xml_conf, namespaces),
     .type = SAMSPOR_OPT_STRLIST,
     .help = "Namespace prefixes for the stream's record path and the "
             "columns' XPaths, each \"prefix=uri\" (\"e=urn:example:elev\"). "
             "As in XPath, a name without a prefix means an element in no "
             "namespace, so a document with a default namespace (xmlns=...) "
             "needs a prefix here."},
    {.name = "soap_request_file",
     SAMSPOR_AT(xml_conf, soap_request_file),
     .type = SAMSPOR_OPT_PATH,
     .help = "Make the source a SOAP service: this file is the request "
             "body, POSTed to url with the transport's headers (e.g. "
             "\"Content-Type: text/xml; charset=utf-8\" and \"SOAPAction: "
             "...\"); ${cursor} in it is replaced by the stored cursor "
             "(XML-escaped; empty when there is none). Records are taken "
             "from the response; a SOAP Fault fails the stream."},
    {.name = "max_record_size",
     SAMSPOR_AT(xml_conf, max_record_size),
     .type = SAMSPOR_OPT_INT,
     .def = "1048576",
     .min = XR_MIN_MAX_RECORD,
     .max = XR_MAX_MAX_RECORD,
     .help = "Largest record in bytes: its text, attribute values and names, "
             "each element and attribute counted with 64 bytes more. A "
             "larger record is rejected (reason record_too_long) rather "
             "than read into memory."},
    {.name = NULL},
};

static const samspor_option xml_stream_options[] = {
    {.name = "record",
     SAMSPOR_AT(xml_stream_conf, record),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "Path of the record element: from the root (\"/Elevliste/Elev\") "
             "or at any depth (\"//e:Elev\"). Steps are names, prefix:name "
             "with a prefix from namespaces, or *. Each column's from is an "
             "XPath relative to the record (\"cpr\", \"@id\", "
             "\"fag/navn\"), evaluated on the record alone."},
    {.name = NULL},
};

/* ---- small helpers ---------------------------------------------------- */

static int from_xr(int rc) {
  switch (rc) {
  case XR_ENOMEM:
    return SAMSPOR_ENOMEM;
  case XR_EINVAL:
    return SAMSPOR_EINVAL;
  case XR_EDATA:
    return SAMSPOR_EDATA;
  case XR_EFAULT:
    return SAMSPOR_EFAIL;
  default:
    return rc < 0 ? SAMSPOR_EFAIL : 0;
  }
}

/*
 * Read the SOAP request template at path and substitute ${cursor} with
 * the cursor, XML-escaped (empty when cursor is NULL).  Returns 0 with a
 * malloc'd *body and *len (caller frees), or a negative code after
 * host->error.
 */
static int soap_body(const samspor_host *host, samspor_ctx *ctx,
                     const char *path, const char *cursor, char **body,
                     size_t *len) {
  FILE *f;
  char *tpl;
  size_t n;
  long size;

  *body = NULL;
  *len = 0;
  f = fopen(path, "rb");
  if (!f) {
    int e = errno;
    host->error(ctx, "xml: soap_request_file %s: %s", path, strerror(e));
    return e == ENOENT ? SAMSPOR_ENOENT : SAMSPOR_EIO;
  }
  if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
      fseek(f, 0, SEEK_SET) != 0) {
    host->error(ctx, "xml: soap_request_file %s: cannot read it", path);
    fclose(f);
    return SAMSPOR_EIO;
  }
  if (size > SOAP_TEMPLATE_MAX) {
    host->error(ctx, "xml: soap_request_file %s: larger than %d bytes", path,
                SOAP_TEMPLATE_MAX);
    fclose(f);
    return SAMSPOR_EINVAL;
  }
  tpl = malloc((size_t)size + 1);
  if (!tpl) {
    fclose(f);
    host->error(ctx, "xml: out of memory");
    return SAMSPOR_ENOMEM;
  }
  n = fread(tpl, 1, (size_t)size, f);
  fclose(f);
  if (n != (size_t)size) {
    free(tpl);
    host->error(ctx, "xml: soap_request_file %s: short read", path);
    return SAMSPOR_EIO;
  }
  *body = xr_soap_request(tpl, n, cursor, len);
  free(tpl);
  if (!*body) {
    host->error(ctx, "xml: out of memory");
    return SAMSPOR_ENOMEM;
  }
  return 0;
}

/* ---- records ---------------------------------------------------------- */

/* Set h->pos to "name: record N (line L)".  Returns 0 or SAMSPOR_ENOMEM. */
static int set_pos(xml_handle *h, const xr_record *r) {
  size_t need = strlen(h->doc) + 64;
  if (need > h->pos_cap) {
    char *np = realloc(h->pos, need);
    if (!np)
      return SAMSPOR_ENOMEM;
    h->pos = np;
    h->pos_cap = need;
  }
  snprintf(h->pos, h->pos_cap, "%s: record %llu (line %lu)", h->doc, r->number,
           r->line);
  return 0;
}

/* The engine's record function: evaluate each field, hand the record to
 * the host.  Returns 0, or the host's (or our) negative code to stop. */
static int on_record(void *ud, const xr_record *r) {
  xml_handle *h = ud;
  const samspor_host *host = h->host;
  char err[400];
  size_t i;
  int rc;

  if (set_pos(h, r)) {
    h->fail = SAMSPOR_ENOMEM;
    host->error(h->ctx, "xml: out of memory");
    return h->fail;
  }
  h->nrec++;
  if (r->too_long) {
    h->nrej++;
    snprintf(err, sizeof err,
             "record is larger than max_record_size (%zu bytes); it was not "
             "read",
             h->max_record);
    rc = host->reject(h->sink, h->pos, "record_too_long", err);
    if (rc < 0)
      h->fail = rc;
    return rc < 0 ? rc : 0;
  }
  if ((rc = host->record_begin(h->sink, h->pos)) < 0) {
    h->fail = rc;
    return rc;
  }
  for (i = 0; i < h->nfields; i++) {
    const char *v;
    size_t len;
    rc = xr_fields_eval(h->fields, r, i, &v, &len, err, sizeof err);
    if (rc) {
      h->fail = from_xr(rc);
      host->error(h->ctx, "xml: %s: %s", h->pos, err);
      return h->fail;
    }
    if (v)
      h->hits[i]++;
    host->field(h->sink, i, v, len);
  }
  if ((rc = host->record_end(h->sink)) < 0) {
    h->fail = rc;
    return rc;
  }
  return 0;
}

/* Note why the document failed (the engine's message), for read_doc to
 * report once the transport has returned. */
static int doc_failed(xml_handle *h, int xrc) {
  if (h->fail)
    return h->fail; /* the host's stop code, or an error already given */
  h->doc_rc = from_xr(xrc);
  snprintf(h->msg, sizeof h->msg, "xml: %s: %s; nothing from it is loaded",
           h->doc, xr_parser_error(h->parser));
  return h->doc_rc;
}

/* The transport's data function: the bytes go to the parser. */
static int on_data(void *ud, const char *buf, size_t len) {
  xml_handle *h = ud;
  int rc = xr_parser_feed(h->parser, buf, len);
  return rc ? doc_failed(h, rc) : 0;
}

/*
 * Read one document: `file` through spp_transport_fetch, or (file NULL) the
 * response to the SOAP request.  Returns 0 or a negative code after
 * host->error.
 */
static int read_doc(xml_handle *h, const spp_file *file) {
  int rc, frc;
  size_t i;

  h->doc = file ? file->name : SOAP_DOC_NAME;
  h->doc_rc = 0;
  h->msg[0] = '\0';
  h->nrec = h->nrej = 0;
  for (i = 0; i < h->nfields; i++)
    h->hits[i] = 0;
  if (file && file->size >= 0)
    h->host->log(h->ctx, SAMSPOR_LOG_INFO, "xml: reading %s (%lld bytes)",
                 file->name, (long long)file->size);
  else if (file)
    h->host->log(h->ctx, SAMSPOR_LOG_INFO, "xml: reading %s", file->name);
  else
    h->host->log(h->ctx, SAMSPOR_LOG_INFO, "xml: posting the SOAP request");

  rc = file ? spp_transport_fetch(h->t, file, on_data, h)
            : spp_transport_post(h->t, h->soap_body, h->soap_len, on_data, h);
  /* The document is ended either way, so the parser is ready for the
   * next; after a failure its own verdict comes first. */
  frc = xr_parser_finish(h->parser);
  if (rc == 0 && frc != 0) {
    rc = doc_failed(h, frc);
    /* Every byte was read and parsed, and only the end of the input
     * failed: the document stops before its end (its root element not
     * closed).  A fresh file so cut is one still being written, like a
     * csv line without its line break; an older one is broken. */
    if (file && frc == XR_EDATA && h->doc_rc == SAMSPOR_EDATA &&
        file->mtime >= 0) {
      double age = difftime(time(NULL), (time_t)file->mtime);
      double settle = spp_transport_settle(h->t);
      if (age < settle) {
        size_t n = strlen(h->msg);
        snprintf(h->msg + n, sizeof h->msg - n,
                 " (it ends early and was modified %.0fs ago, less than "
                 "%.0fs: taken as still being written; try again later)",
                 age < 0 ? 0 : age, settle);
        h->doc_rc = rc = SAMSPOR_ETEMP;
      }
    }
  }
  if (h->doc_rc) {
    /* Ours whatever the transport made of the stop: it may have said
     * "transfer aborted" meanwhile. */
    h->host->error(h->ctx, "%s", h->msg);
    return h->doc_rc;
  }
  if (h->fail)
    return h->fail;
  if (rc != 0)
    return rc;
  h->host->log(h->ctx, SAMSPOR_LOG_INFO,
               "xml: read %s: %llu records, %llu malformed", h->doc, h->nrec,
               h->nrej);
  if (h->nrec == 0)
    h->host->log(h->ctx, SAMSPOR_LOG_WARN,
                 "xml: %s: no element matches the record path", h->doc);
  else if (h->nrec > h->nrej)
    for (i = 0; i < h->nfields; i++)
      if (h->hits[i] == 0)
        h->host->log(h->ctx, SAMSPOR_LOG_WARN,
                     "xml: %s: field '%s' has no value in any of the %llu "
                     "records; check its XPath and namespace prefixes",
                     h->doc, h->exprs[i], h->nrec - h->nrej);
  return 0;
}

/* ---- the plugin functions --------------------------------------------- */

static void xml_close(void *handle) {
  xml_handle *h = handle;
  size_t i;

  if (!h)
    return;
  xr_parser_free(h->parser);
  xr_fields_free(h->fields);
  if (h->t)
    spp_transport_close(h->t);
  spp_files_free(&h->files);
  spp_loaded_free(&h->loaded);
  for (i = 0; i < h->nfields; i++)
    free(h->exprs[i]);
  free(h->exprs);
  free(h->hits);
  free(h->soap_body);
  free(h->pos);
  free(h);
}

/*
 * The engine's settings from the source and stream settings: namespaces,
 * max_record_size and (stream NULL: not needed) the record path; *xc
 * gets every source setting (the transport's, soap_request_file).  Returns
 * 0 or SAMSPOR_EINVAL after host->error.
 */
static int engine_config(const samspor_host *host, samspor_ctx *ctx,
                         const samspor_settings *src,
                         const samspor_settings *stream, xr_config *c,
                         xml_conf *xc) {
  xml_stream_conf sc;
  memset(c, 0, sizeof *c);
  memset(xc, 0, sizeof *xc);
  memset(&sc, 0, sizeof sc);
  if (host->fill(src, xml_source_options, xc) != 0 ||
      (stream && host->fill(stream, xml_stream_options, &sc) != 0)) {
    host->error(ctx, "xml: the settings do not fit this plugin");
    return SAMSPOR_EINVAL;
  }
  c->namespaces = xc->namespaces.items;
  c->nnamespaces = xc->namespaces.n;
  c->max_record = (size_t)xc->max_record_size;
  c->record = sc.record;
  return 0;
}

/* In append mode, drop from h->files those loaded before (same name,
 * size and mtime; see spp_loaded_skip), as the csv plugin does.  Returns 0
 * or a negative code after host->error. */
static int skip_loaded(xml_handle *h, const samspor_open_args *a) {
  return spp_loaded_skip(a, "xml", "a list of files", &h->loaded, &h->append,
                         h->files.v, &h->files.n);
}

static int xml_open(const samspor_open_args *a, void **handle) {
  const samspor_host *host = a->host;
  xml_handle *h;
  xr_config cfg;
  char err[600];
  const char *soap;
  xml_conf xc;
  size_t i;
  int rc;

  *handle = NULL;
  if (!samspor_abi_fits(host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  h = calloc(1, sizeof *h);
  if (!h) {
    host->error(a->ctx, "xml: out of memory");
    return SAMSPOR_ENOMEM;
  }
  h->host = host;
  h->ctx = a->ctx;
  h->sink = a->sink;

  if ((rc = engine_config(host, a->ctx, a->source, a->stream, &cfg, &xc)) != 0)
    goto fail;
  h->max_record = cfg.max_record;
  if (!cfg.record) {
    host->error(a->ctx, "xml: the stream's record path is required");
    rc = SAMSPOR_EINVAL;
    goto fail;
  }
  h->nfields = a->nfields;
  h->exprs = calloc(a->nfields ? a->nfields : 1, sizeof *h->exprs);
  h->hits = calloc(a->nfields ? a->nfields : 1, sizeof *h->hits);
  if (!h->exprs || !h->hits)
    goto nomem;
  for (i = 0; i < a->nfields; i++)
    if (!(h->exprs[i] = strdup(a->fields[i] ? a->fields[i] : "")))
      goto nomem;

  rc = xr_fields_new((const char *const *)h->exprs, h->nfields, cfg.namespaces,
                     cfg.nnamespaces, &h->fields, err, sizeof err);
  if (rc == 0)
    rc = xr_parser_new(&cfg, on_record, h, &h->parser, err, sizeof err);
  if (rc) {
    host->error(a->ctx, "xml: %s", err);
    rc = from_xr(rc);
    goto fail;
  }

  if ((rc = spp_transport_open(host, a->ctx, &xc.tp, &h->t)) != 0)
    goto fail;
  soap = xc.soap_request_file;
  if (soap && *soap) {
    if (spp_transport_is_local(h->t)) {
      host->error(a->ctx, "xml: soap_request_file needs an https:// url "
                          "(the SOAP service), not a local file");
      rc = SAMSPOR_EINVAL;
      goto fail;
    }
    rc = soap_body(host, a->ctx, soap, a->cursor, &h->soap_body, &h->soap_len);
    if (rc)
      goto fail;
  } else {
    /* Listing here makes a missing file fail open(), before any load. */
    rc = spp_transport_list(h->t, spp_transport_files_all(h->t), &h->files);
    if (rc == SAMSPOR_ENOENT || (rc == 0 && h->files.n == 0))
      rc = spp_transport_missing(h->t, rc, "xml");
    if (rc == 0)
      rc = skip_loaded(h, a);
    if (rc)
      goto fail;
  }
  *handle = h;
  return 0;
nomem:
  host->error(a->ctx, "xml: out of memory");
  rc = SAMSPOR_ENOMEM;
fail:
  xml_close(h);
  return rc;
}

static int xml_read(void *handle) {
  xml_handle *h = handle;
  char *state;
  size_t i;
  int rc;

  if (h->soap_body)
    return read_doc(h, NULL);
  for (i = 0; i < h->files.n; i++)
    if ((rc = read_doc(h, &h->files.v[i])) != 0)
      return rc;
  state =
      spp_loaded_json(h->append ? &h->loaded : NULL, h->files.v, h->files.n);
  if (!state) {
    h->host->error(h->ctx, "xml: out of memory");
    return SAMSPOR_ENOMEM;
  }
  h->host->set_state(h->sink, state);
  free(state);
  return 0;
}

/* `check`: the settings parse as open() parses them, reaching nothing. */
static int xml_validate(const samspor_check_args *a) {
  const samspor_host *host = a->host;
  spp_transport *t = NULL;
  xr_config cfg;
  xr_parser *p = NULL;
  char err[600];
  const char *soap;
  xml_conf xc;
  int rc;

  if (!samspor_abi_fits(host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  if ((rc = engine_config(host, a->ctx, a->source, NULL, &cfg, &xc)) != 0)
    return rc;
  cfg.record = "//*";
  if ((rc = xr_parser_new(&cfg, on_record, NULL, &p, err, sizeof err)) != 0) {
    host->error(a->ctx, "xml: %s", err);
    return from_xr(rc);
  }
  xr_parser_free(p);
  if ((rc = spp_transport_open(host, a->ctx, &xc.tp, &t)) != 0)
    return rc;
  soap = xc.soap_request_file;
  if (soap && *soap && spp_transport_is_local(t)) {
    host->error(a->ctx, "xml: soap_request_file needs an https:// url "
                        "(the SOAP service), not a local file");
    rc = SAMSPOR_EINVAL;
  }
  spp_transport_close(t);
  return rc;
}

static int xml_check(const samspor_check_args *a) {
  const samspor_host *host = a->host;
  spp_transport *t = NULL;
  xr_config cfg;
  xr_parser *p = NULL;
  char err[600];
  const char *soap;
  xml_conf xc;
  int rc;

  if (!samspor_abi_fits(host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  /* The namespace map is checked here; the record path belongs to the
   * streams, which check --connect does not open. */
  if ((rc = engine_config(host, a->ctx, a->source, NULL, &cfg, &xc)) != 0)
    return rc;
  cfg.record = "//*";
  if ((rc = xr_parser_new(&cfg, on_record, NULL, &p, err, sizeof err)) != 0) {
    host->error(a->ctx, "xml: %s", err);
    return from_xr(rc);
  }
  xr_parser_free(p);
  if ((rc = spp_transport_open(host, a->ctx, &xc.tp, &t)) != 0)
    return rc;
  soap = xc.soap_request_file;
  if (soap && *soap) {
    char *body;
    size_t len;
    if (spp_transport_is_local(t)) {
      host->error(a->ctx, "xml: soap_request_file needs an https:// url "
                          "(the SOAP service), not a local file");
      rc = SAMSPOR_EINVAL;
    } else if ((rc = soap_body(host, a->ctx, soap, NULL, &body, &len)) == 0) {
      free(body);
    }
  }
  /* For SOAP this reaches the service (TLS with the client certificate)
   * without posting a request. */
  if (rc == 0)
    rc = spp_transport_check(t);
  spp_transport_close(t);
  return rc;
}

/* ---- samspor discover ------------------------------------------------- */

/* Records whose children name the fields: the core's default sample.  A
 * child only some records have is still found. */
#define DISCOVER_RECORDS 100
/* Deepest nesting listed as a path ("Adresse/Vej"); below it the element's
 * text as a whole is the field. */
#define DISCOVER_DEPTH 8
/* Most field names listed. */
#define DISCOVER_MAX_NAMES 1000

/* The field names found so far: XPaths relative to the record. */
typedef struct xml_names {
  spp_names names;
  const char *const *ns; /* the configured "prefix=uri" items */
  size_t nns;
  unsigned long long records;
  xr_parser *parser; /* borrowed */
  int fail;          /* SAMSPOR_ENOMEM, or an engine code, or 0 */
  char bare_ns[256]; /* a child's namespace without a configured prefix */
} xml_names;

static int names_add(xml_names *c, const char *path) {
  return spp_names_add(&c->names, path, DISCOVER_MAX_NAMES);
}

/* The XPath step for element e: its name; with a namespace, the
 * configured prefix for it, else a local-name() test (which works without
 * one, and tells the reader which prefix to declare). */
static void names_step(xml_names *c, xmlNodePtr e, char *out, size_t outlen) {
  const char *uri = e->ns && e->ns->href ? (const char *)e->ns->href : NULL;
  if (!uri || !*uri) {
    snprintf(out, outlen, "%s", (const char *)e->name);
    return;
  }
  for (size_t i = 0; i < c->nns; i++) {
    const char *eq = strchr(c->ns[i], '=');
    if (eq && !strcmp(eq + 1, uri)) {
      snprintf(out, outlen, "%.*s:%s", (int)(eq - c->ns[i]), c->ns[i],
               (const char *)e->name);
      return;
    }
  }
  if (!c->bare_ns[0])
    snprintf(c->bare_ns, sizeof c->bare_ns, "%s", uri);
  snprintf(out, outlen, "*[local-name()='%s']", (const char *)e->name);
}

static int has_element_child(xmlNodePtr e) {
  for (xmlNodePtr k = e->children; k; k = k->next)
    if (k->type == XML_ELEMENT_NODE)
      return 1;
  return 0;
}

/* Every leaf element under `parent`, as a path from the record. */
static int names_walk(xml_names *c, xmlNodePtr parent, const char *prefix,
                      int depth) {
  for (xmlNodePtr e = parent->children; e; e = e->next) {
    char step[256], path[1024];
    int rc;
    if (e->type != XML_ELEMENT_NODE)
      continue;
    names_step(c, e, step, sizeof step);
    snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "/" : "", step);
    if (depth + 1 < DISCOVER_DEPTH && has_element_child(e))
      rc = names_walk(c, e, path, depth + 1);
    else
      rc = names_add(c, path);
    if (rc)
      return rc;
  }
  return 0;
}

static int names_record(void *ud, const xr_record *r) {
  xml_names *c = ud;
  if (r->too_long)
    return 0;
  if ((c->fail = names_walk(c, r->node, "", 0)) != 0)
    return c->fail;
  return ++c->records >= DISCOVER_RECORDS ? SAMSPOR_EABORT : 0;
}

static int names_data(void *ud, const char *buf, size_t len) {
  xml_names *c = ud;
  return xr_parser_feed(c->parser, buf, len);
}

/*
 * The fields of the first records (of the first documents, or of the SOAP
 * response): the leaf elements under each record, as XPaths relative to
 * it.  Returns 0 with c filled, or a negative code after host->error.
 */
static int names_find(const samspor_open_args *a, xml_names *c) {
  const samspor_host *host = a->host;
  spp_transport *t = NULL;
  spp_files files = {0};
  xr_config cfg;
  xml_conf xc;
  char err[600], *body = NULL;
  size_t len = 0;
  const char *soap, *doc = SOAP_DOC_NAME;
  int rc;

  if ((rc = engine_config(host, a->ctx, a->source, a->stream, &cfg, &xc)) != 0)
    return rc;
  if (!cfg.record) {
    host->error(a->ctx, "xml: the stream's record path is required");
    return SAMSPOR_EINVAL;
  }
  c->ns = cfg.namespaces;
  c->nns = cfg.nnamespaces;
  if ((rc = xr_parser_new(&cfg, names_record, c, &c->parser, err,
                          sizeof err)) != 0) {
    host->error(a->ctx, "xml: %s", err);
    return from_xr(rc);
  }
  if ((rc = spp_transport_open(host, a->ctx, &xc.tp, &t)) != 0)
    goto out;
  soap = xc.soap_request_file;
  if (soap && *soap) {
    if (spp_transport_is_local(t)) {
      host->error(a->ctx, "xml: soap_request_file needs an https:// url "
                          "(the SOAP service), not a local file");
      rc = SAMSPOR_EINVAL;
    } else if ((rc = soap_body(host, a->ctx, soap, a->cursor, &body, &len)) ==
               0) {
      rc = spp_transport_post(t, body, len, names_data, c);
      int frc = xr_parser_finish(c->parser);
      if (rc == 0)
        rc = frc;
    }
  } else {
    rc = spp_transport_list(t, spp_transport_files_all(t), &files);
    if (rc == SAMSPOR_ENOENT || (rc == 0 && files.n == 0))
      rc = spp_transport_missing(t, rc, "xml");
    for (size_t i = 0; rc == 0 && i < files.n; i++) {
      if (c->records >= DISCOVER_RECORDS)
        break;
      doc = files.v[i].name;
      rc = spp_transport_fetch(t, &files.v[i], names_data, c);
      int frc = xr_parser_finish(c->parser);
      if (rc == 0)
        rc = frc;
    }
  }
  if (rc == SAMSPOR_EABORT)
    rc = 0; /* enough records */
  if (c->fail == SAMSPOR_ENOMEM || rc == XR_ENOMEM) {
    host->error(a->ctx, "xml: out of memory");
    rc = SAMSPOR_ENOMEM;
  } else if (rc == XR_EINVAL || rc == XR_EDATA || rc == XR_EFAULT) {
    host->error(a->ctx, "xml: %s: %s", doc, xr_parser_error(c->parser));
    rc = from_xr(rc);
  } else if (rc == 0 && c->names.n == 0) {
    /* No record at all is most likely a wrong record path: a setting. */
    host->error(a->ctx,
                c->records ? "xml: %s: the records at '%s' have no child "
                             "elements"
                           : "xml: %s: no element matches the record path '%s'",
                doc, cfg.record);
    rc = c->records ? SAMSPOR_EDATA : SAMSPOR_EINVAL;
  }
  if (rc == 0 && c->bare_ns[0])
    host->log(a->ctx, SAMSPOR_LOG_WARN,
              "xml: some fields are in namespace %s, which namespaces gives "
              "no prefix: they are listed as *[local-name()='...']; add "
              "\"PREFIX=%s\" to namespaces for PREFIX:NAME paths",
              c->bare_ns, c->bare_ns);
out:
  free(body);
  spp_files_free(&files);
  if (t)
    spp_transport_close(t);
  xr_parser_free(c->parser);
  c->parser = NULL;
  return rc;
}

/* samspor discover: open() with the fields names_find found; the handle
 * owns their copies (exprs). */
static int xml_discover(const samspor_open_args *a, void **handle,
                        const char *const **names, size_t *nnames) {
  xml_names c = {0};
  int rc;

  *handle = NULL;
  if (!samspor_abi_fits(a->host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  rc = names_find(a, &c);
  if (rc == 0) {
    samspor_open_args all = *a;
    all.fields = (const char *const *)c.names.v;
    all.nfields = c.names.n;
    rc = xml_open(&all, handle);
  }
  spp_names_free(&c.names);
  if (rc)
    return rc;
  xml_handle *h = *handle;
  *names = (const char *const *)h->exprs;
  *nnames = h->nfields;
  return 0;
}

static const samspor_plugin xml_plugin = {
    .struct_size = sizeof(samspor_plugin),
    .abi_version = SAMSPOR_ABI_VERSION,
    .name = "xml",
    .version = XML_PLUGIN_VERSION,
    .description = "XML documents (local, file://, https://, sftp://) or SOAP "
                   "responses, streamed: records found by path, fields by "
                   "XPath; DTDs and entities refused",
    .source_options = xml_source_options,
    .stream_options = xml_stream_options,
    .open = xml_open,
    .read = xml_read,
    .close = xml_close,
    .check = xml_check,
    .validate = xml_validate,
    .discover = xml_discover,
};

SAMSPOR_PLUGIN_EXPORT(xml_plugin)
