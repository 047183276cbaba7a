#include "config.h"

/*
 * csv.c — the csv source plugin: the samspor plugin ABI over csv_parse.
 *
 * One stream reads the file (or files) the connector's `url` names (a local
 * path, file://, https:// or sftp://: plugins/common/transport.c), takes
 * the first record as the header, and hands the core only the fields the
 * stream's columns ask for.  Records are streamed file by file through a
 * fixed read buffer, pulled from the transport (so that open() can stop
 * after the header) and inflated on the way when gzip-compressed; memory
 * does not grow with the file.
 *
 * In append mode the files already loaded (name, size, mtime, kept in the
 * stream's plugin state: plugins/common/loaded.c) are skipped, so that a
 * glob over a directory of daily exports loads each export once.
 *
 * Privacy: messages name files, line numbers, field numbers and header
 * names (which describe the data and are not personal); never a value.
 * For the same reason the header line itself is never quoted in an error:
 * with `header = true` on a file without one, it would be a data record.
 */

#include "samspor-plugin.h"

#include "csv_parse.h"
#include "loaded.h"
#include "transport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define CSV_PLUGIN_VERSION "0.1.0"
#define READ_CHUNK (256 * 1024) /* bytes per read(); also the gzip buffer */

/* Record function stop values (positive: never a parser or host code). */
#define STOP_HEADER 1 /* the header is resolved: open() returns */
#define STOP_FAIL 2   /* h->fail holds the code; the error is reported */

/* The source settings of the parser, checked (the url and everything
 * about reaching it are the transport's). */
typedef struct csv_opts {
  spp_transport_conf tp; /* for spp_transport_open; borrowed strings */
  int header;            /* the first record names the fields */
  int final_nl;          /* final_newline = "required" */
  csv_config cfg;        /* for the parser */
} csv_opts;

/* One open stream. */
typedef struct csv_handle {
  const samspor_host *host; /* borrowed, valid until close */
  samspor_ctx *ctx;
  samspor_sink *sink;
  csv_opts opts;
  spp_transport *tp; /* owned: reaches the files */

  spp_file *files; /* owned: the files to read, in reading order */
  size_t nfiles;
  size_t cur;        /* index of the file open (or next to open) */
  int is_open;       /* files[cur] is open */
  char *shown;       /* owned: files[cur] for messages (no credentials) */
  int append;        /* the stream's mode is append (and not --full) */
  spp_loaded loaded; /* owned: the files of the stored state */

  char **fields; /* owned copies of the requested fields */
  size_t nfields;
  size_t *col;        /* col[i]: 0-based column of fields[i] in this file */
  size_t max_pos;     /* header = false: highest position requested */
  size_t ncols;       /* fields per record in this file; 0 until known */
  int header_pending; /* the next record is this file's header */
  int discover;       /* samspor discover: the next header names the fields */

  csv_parser *parser;
  spp_reader *rd; /* the open file's bytes, or NULL */
  int gz;         /* the file is gzip-compressed: inflated through zs */
  z_stream zs;    /* inflate state while gz */
  char *zin;      /* owned compressed input buffer of READ_CHUNK bytes */
  int zin_eof;    /* the reader has no more compressed bytes */
  int eof;        /* the file has no more bytes */
  char *buf;      /* owned read buffer of READ_CHUNK bytes */
  size_t buf_len; /* bytes in buf */
  size_t buf_off; /* bytes of buf handed to the parser */
  int last_byte;  /* last byte of the (inflated) file so far, -1: none */

  char *pos;               /* owned "name.csv:LINE" position buffer */
  size_t pos_prefix;       /* length of "name.csv:" in pos */
  int fail;                /* code behind STOP_FAIL */
  unsigned long long nrec; /* records and rejects of this file, for the log */
  unsigned long long nrej;
  char msg[96]; /* field_count reject message */
} csv_handle;

/* ---- settings --------------------------------------------------------- */

/* The source settings as written, filled by host->fill. */
typedef struct csv_conf {
  spp_transport_conf tp;
  int encoding; /* utf-8|windows-1252|iso-8859-1 */
  const char *delimiter;
  int header;
  const char *quote;
  long long max_record_size;
  long long skip_lines;
  int final_newline; /* required|optional */
} csv_conf;

#define AT(member) SAMSPOR_AT(csv_conf, member)

/*
 * Defaults are written as the value itself (no libconfig quoting).
 * The ranges are checked again in parse_opts() so that a core that skips
 * them cannot give the parser something it refuses.
 */
static const samspor_option csv_source_options[] = {
    SPP_TRANSPORT_OPTION_ROWS(csv_conf, tp),
    {.name = "encoding",
     AT(encoding),
     .type = SAMSPOR_OPT_ENUM,
     .def = "utf-8",
     .choices = "utf-8|windows-1252|iso-8859-1",
     .help = "Character encoding of the files; values are converted to "
             "UTF-8. A record with bytes invalid in the encoding is "
             "rejected (reason encoding)."},
    {.name = "delimiter",
     AT(delimiter),
     .type = SAMSPOR_OPT_STRING,
     .def = ";",
     .help = "Field separator: any one ASCII character (\";\", \",\", "
             "\"|\", \"\\t\" or \"tab\", ...), or \"auto\" to use "
             "whichever of \";\", \",\" and tab occurs most in the first "
             "line of each file."},
    {.name = "header",
     AT(header),
     .type = SAMSPOR_OPT_BOOL,
     .def = "true",
     .help = "Whether the first line names the fields. When false, a "
             "column's from is a 1-based field position (\"3\")."},
    {.name = "quote",
     AT(quote),
     .type = SAMSPOR_OPT_STRING,
     .def = "\"",
     .help = "Character that quotes fields containing the delimiter, line "
             "breaks or itself (doubled); \"\" when fields are never "
             "quoted."},
    {.name = "max_record_size",
     AT(max_record_size),
     .type = SAMSPOR_OPT_INT,
     .def = "1048576",
     .min = 1024,
     .max = CSV_MAX_RECORD_LIMIT,
     .help = "Longest record in bytes. A longer record is rejected (reason "
             "record_too_long) rather than read into memory."},
    {.name = "skip_lines",
     AT(skip_lines),
     .type = SAMSPOR_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1000000,
     .help = "Lines to ignore at the start of each file, before the header "
             "(a title or an export note)."},
    {.name = "final_newline",
     AT(final_newline),
     .type = SAMSPOR_OPT_ENUM,
     .def = "required",
     .choices = "required|optional",
     .help = "Whether the last line must end with a line break. required: "
             "a file whose last line has none is taken as still being "
             "written (cut inside its last record): nothing of it is "
             "loaded and the run ends with exit status 75, so the daemon "
             "tries again. optional: for a partner whose exports never "
             "end with a line break; the last line is then a record."},
    {.name = NULL},
};

/* The csv plugin has no stream options: a stream is its columns. */
static const samspor_option csv_stream_options[] = {{.name = NULL}};

/* Read and check the source settings into *o.  Returns 0 or
 * SAMSPOR_EINVAL after host->error. */
static int parse_opts(const samspor_host *host, samspor_ctx *ctx,
                      const samspor_settings *s, csv_opts *o) {
  const char *v;
  long long n;
  csv_conf c;

  csv_config_init(&o->cfg);
  memset(&c, 0, sizeof c);
  if (host->fill(s, csv_source_options, &c) != 0) {
    host->error(ctx, "csv: the source settings do not fit this plugin");
    return SAMSPOR_EINVAL;
  }
  o->tp = c.tp;
  o->final_nl = c.final_newline != 1;
  switch (c.encoding) {
  case 0:
    o->cfg.encoding = CSV_UTF8;
    break;
  case 1:
    o->cfg.encoding = CSV_WINDOWS_1252;
    break;
  case 2:
    o->cfg.encoding = CSV_ISO_8859_1;
    break;
  default:
    host->error(ctx, "csv: encoding must be \"utf-8\", \"windows-1252\" or "
                     "\"iso-8859-1\"");
    return SAMSPOR_EINVAL;
  }

  v = c.delimiter;
  if (!v) {
    o->cfg.delimiter = ';';
  } else if (!strcmp(v, "tab") || !strcmp(v, "\\t")) {
    o->cfg.delimiter = '\t';
  } else if (!strcmp(v, "auto")) {
    o->cfg.delimiter = CSV_DELIM_AUTO;
  } else if (v[0] && !v[1] && (unsigned char)v[0] < 0x80 && v[0] != '"' &&
             v[0] != '\r' && v[0] != '\n') {
    /* Any single ASCII byte ('|', ';', ',', tab, ...): exports use them
     * all.  Not above 0x7f: the parser finds delimiters before the bytes
     * are decoded, and such a byte is part of a UTF-8 sequence. */
    o->cfg.delimiter = (unsigned char)v[0];
  } else {
    host->error(ctx, "csv: delimiter must be one ASCII character (\";\", "
                     "\",\", \"|\", \"tab\", ...) other than a quote or a "
                     "line break, or \"auto\"");
    return SAMSPOR_EINVAL;
  }

  o->header = c.header;

  v = c.quote;
  if (!v) {
    o->cfg.quote = '"';
  } else if (!*v) {
    o->cfg.quote = CSV_NO_QUOTE;
  } else if (v[1] || (unsigned char)v[0] < 0x21 || (unsigned char)v[0] > 0x7e ||
             (unsigned char)v[0] == o->cfg.delimiter ||
             (o->cfg.delimiter == CSV_DELIM_AUTO &&
              (v[0] == ';' || v[0] == ','))) {
    host->error(ctx, "csv: quote must be one printable ASCII character other "
                     "than a delimiter, or \"\" for none");
    return SAMSPOR_EINVAL;
  } else {
    o->cfg.quote = v[0];
  }

  n = c.max_record_size;
  if (n < 1024 || n > CSV_MAX_RECORD_LIMIT) {
    host->error(ctx, "csv: max_record_size must be between 1024 and %u",
                CSV_MAX_RECORD_LIMIT);
    return SAMSPOR_EINVAL;
  }
  o->cfg.max_record = (size_t)n;

  n = c.skip_lines;
  if (n < 0) {
    host->error(ctx, "csv: skip_lines must not be negative");
    return SAMSPOR_EINVAL;
  }
  o->cfg.skip_lines = (uint64_t)n;
  return 0;
}

/* ---- reading one file ------------------------------------------------- */

static void file_close(csv_handle *h) {
  spp_reader_close(h->rd);
  h->rd = NULL;
  if (h->gz)
    inflateEnd(&h->zs);
  h->gz = 0;
  h->is_open = 0;
}

/* Read up to n raw (possibly compressed) bytes of the open file.  Returns
 * the count (0 at the end) or a negative SAMSPOR code after host->error
 * (the transport names the file). */
static long long raw_read(csv_handle *h, char *buf, size_t n) {
  return spp_reader_read(h->rd, buf, n);
}

/*
 * Inflate up to n bytes of the open gzip file into buf.  Returns the count
 * (0 at the end) or a negative SAMSPOR code after host->error.  A file of
 * several gzip members (as `cat a.gz b.gz` makes) is read whole, as gzip
 * -d would; bytes after the last member that are no gzip header end it,
 * as zlib's gzread() does.
 */
static long long gz_read(csv_handle *h, char *buf, size_t n) {
  z_stream *zs = &h->zs;
  int zrc;

  zs->next_out = (Bytef *)buf;
  zs->avail_out = (uInt)n;
  while (zs->avail_out == n) {
    if (zs->avail_in == 0 && !h->zin_eof) {
      long long k = raw_read(h, h->zin, READ_CHUNK);
      if (k < 0)
        return k;
      if (k == 0)
        h->zin_eof = 1;
      zs->next_in = (Bytef *)h->zin;
      zs->avail_in = (uInt)k;
    }
    zrc = inflate(zs, Z_NO_FLUSH);
    if (zrc == Z_STREAM_END) {
      if (zs->avail_in == 0 && !h->zin_eof)
        continue; /* look at what follows before deciding */
      if (zs->avail_in == 0 || zs->next_in[0] != 0x1f) {
        h->zin_eof = 1;
        zs->avail_in = 0;
        break; /* the end (any trailing bytes are no member) */
      }
      inflateReset(zs); /* the next member */
      continue;
    }
    if (zrc == Z_OK)
      continue;
    if (zrc == Z_BUF_ERROR && zs->avail_in == 0 && h->zin_eof) {
      h->host->error(h->ctx,
                     "csv: %s: gzip data ends early (truncated "
                     "file?)",
                     h->shown);
      return SAMSPOR_EDATA;
    }
    if (zrc == Z_BUF_ERROR)
      continue;
    if (zrc == Z_MEM_ERROR) {
      h->host->error(h->ctx, "csv: out of memory decompressing %s", h->shown);
      return SAMSPOR_ENOMEM;
    }
    /* zlib's messages are fixed strings about the stream, not its data */
    h->host->error(h->ctx, "csv: %s: corrupt gzip data: %s", h->shown,
                   zs->msg ? zs->msg : "unknown error");
    return SAMSPOR_EDATA;
  }
  return (long long)(n - zs->avail_out);
}

/* Read up to n bytes of the open file, inflated when it is gzip.  Returns
 * the count (0 at the end) or a negative SAMSPOR code after host->error. */
static long long src_read(csv_handle *h, char *buf, size_t n) {
  return h->gz ? gz_read(h, buf, n) : raw_read(h, buf, n);
}

/* Open files[h->cur] and reset the parser for it.  The first bytes are
 * read here: gzip is recognised by its magic bytes (so a gzip file without
 * .gz is still read; a .gz name without them is read as it is); plain
 * bytes stay in buf for the parser.  Returns 0 or a negative SAMSPOR code
 * after host->error. */
static int file_open(csv_handle *h) {
  spp_file *f = &h->files[h->cur];
  size_t blen = strlen(f->name);
  long long k;
  int rc;

  free(h->shown);
  h->shown = spp_url_redact(f->url);
  if (!h->shown) {
    h->host->error(h->ctx, "csv: out of memory");
    return SAMSPOR_ENOMEM;
  }
  if ((rc = spp_transport_read_open(h->tp, f, &h->rd)) != 0)
    return rc;
  h->is_open = 1;

  free(h->pos);
  h->pos = malloc(blen + 2 + 20);
  if (!h->pos) {
    h->host->error(h->ctx, "csv: out of memory");
    return SAMSPOR_ENOMEM;
  }
  memcpy(h->pos, f->name, blen);
  h->pos[blen] = ':';
  h->pos_prefix = blen + 1;

  csv_parser_reset(h->parser);
  h->eof = 0;
  h->buf_len = h->buf_off = 0;
  h->last_byte = -1;
  h->ncols = 0;
  /* Discovering without a header, the first record gives the count. */
  h->header_pending = h->opts.header || h->discover;
  h->nrec = h->nrej = 0;

  /* The magic bytes: read until there are two, or the file ends. */
  while (h->buf_len < 2 && !h->eof) {
    k = raw_read(h, h->buf + h->buf_len, READ_CHUNK - h->buf_len);
    if (k < 0)
      return (int)k;
    if (k == 0)
      h->eof = 1;
    h->buf_len += (size_t)k;
  }
  if (h->buf_len >= 2 && (unsigned char)h->buf[0] == 0x1f &&
      (unsigned char)h->buf[1] == 0x8b) {
    if (!h->zin && !(h->zin = malloc(READ_CHUNK))) {
      h->host->error(h->ctx, "csv: out of memory");
      return SAMSPOR_ENOMEM;
    }
    memset(&h->zs, 0, sizeof h->zs);
    if (inflateInit2(&h->zs, 16 + MAX_WBITS) != Z_OK) {
      h->host->error(h->ctx, "csv: out of memory opening %s", h->shown);
      return SAMSPOR_ENOMEM;
    }
    h->gz = 1;
    memcpy(h->zin, h->buf, h->buf_len);
    h->zs.next_in = (Bytef *)h->zin;
    h->zs.avail_in = (uInt)h->buf_len;
    h->zin_eof = h->eof;
    h->eof = 0;
    h->buf_len = 0;
  }
  if (h->buf_len)
    h->last_byte = (unsigned char)h->buf[h->buf_len - 1];
  if (f->size >= 0)
    h->host->log(h->ctx, SAMSPOR_LOG_INFO, "csv: reading %s (%lld bytes%s)",
                 h->shown, (long long)f->size, h->gz ? ", gzip" : "");
  else
    h->host->log(h->ctx, SAMSPOR_LOG_INFO, "csv: reading %s%s", h->shown,
                 h->gz ? " (gzip)" : "");
  return 0;
}

/* Set h->pos to "name.csv:LINE". */
static void set_pos(csv_handle *h, uint64_t line) {
  char digits[20];
  size_t n = 0;
  char *p = h->pos + h->pos_prefix;

  do {
    digits[n++] = (char)('0' + line % 10);
    line /= 10;
  } while (line);
  while (n)
    *p++ = digits[--n];
  *p = '\0';
}

/* Length of s without surrounding ASCII whitespace; *start is set past the
 * leading part. */
static size_t trim(const char *s, size_t len, const char **start) {
  while (len && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
    s++;
    len--;
  }
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' ||
                 s[len - 1] == '\r' || s[len - 1] == '\n'))
    len--;
  *start = s;
  return len;
}

/* ASCII case-insensitive equality of two byte ranges of length n; not
 * strncasecmp, whose answer depends on the process locale. */
static int ascii_caseeq(const char *a, const char *b, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x >= 'A' && x <= 'Z')
      x += 32;
    if (y >= 'A' && y <= 'Z')
      y += 32;
    if (x != y)
      return 0;
  }
  return 1;
}

/* The 1-based position s names, or 0 when s is not all digits. */
static size_t position_of(const char *s, size_t len) {
  size_t v = 0, i;
  if (!len || len > 9)
    return 0;
  for (i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return 0;
    v = v * 10 + (size_t)(s[i] - '0');
  }
  return v;
}

/*
 * Find requested field `want` in header record r: the header name equal
 * to it after trimming, else equal ignoring ASCII case, else (all digits)
 * a 1-based position.  Returns 0 with *col set, or SAMSPOR_EINVAL after
 * host->error.
 */
static int resolve_field(csv_handle *h, const csv_record *r, const char *want,
                         size_t *col) {
  const char *path = h->shown;
  const char *w, *name;
  size_t wlen = trim(want, strlen(want), &w);
  size_t pass, j, len, nmatch, first = 0, second = 0, pos;

  for (pass = 0; pass < 2; pass++) {
    nmatch = 0;
    for (j = 0; j < r->nfields; j++) {
      const char *f = csv_record_field(r, j, &len);
      len = trim(f, len, &name);
      if (len != wlen ||
          !(pass == 0 ? !memcmp(name, w, len) : ascii_caseeq(name, w, len)))
        continue;
      if (nmatch++ == 0)
        first = j;
      else if (nmatch == 2)
        second = j;
    }
    if (nmatch == 1) {
      *col = first;
      return 0;
    }
    if (nmatch > 1) {
      h->host->error(h->ctx,
                     "csv: %s: header name '%s' is in columns %zu "
                     "and %zu; use a 1-based position instead",
                     path, want, first + 1, second + 1);
      return SAMSPOR_EINVAL;
    }
  }
  pos = position_of(w, wlen);
  if (pos >= 1 && pos <= r->nfields) {
    *col = pos - 1;
    return 0;
  }
  if (pos >= 1)
    h->host->error(h->ctx,
                   "csv: %s: field %zu requested, but the header "
                   "(line %llu) has %zu fields",
                   path, pos, (unsigned long long)r->line, r->nfields);
  else
    h->host->error(h->ctx,
                   "csv: %s: field '%s' is not in the header "
                   "(line %llu)",
                   path, want, (unsigned long long)r->line);
  return SAMSPOR_EINVAL;
}

/* samspor discover: every field of the header record (with header =
 * false, positions "1".."n" of the first record), in order.  Returns 0, or
 * -1 with h->fail set. */
static int take_all_fields(csv_handle *h, const csv_record *r) {
  size_t i, len;
  const char *v, *w;

  h->discover = 0; /* later files resolve these names as usual */
  h->fields = calloc(r->nfields ? r->nfields : 1, sizeof *h->fields);
  h->col = calloc(r->nfields ? r->nfields : 1, sizeof *h->col);
  if (!h->fields || !h->col)
    goto nomem;
  for (i = 0; i < r->nfields; i++) {
    char num[24];
    if (h->opts.header) {
      v = csv_record_field(r, i, &len);
      len = trim(v, len, &w);
    } else {
      len = (size_t)snprintf(num, sizeof num, "%zu", i + 1);
      w = num;
    }
    if (!(h->fields[i] = strndup(w, len)))
      goto nomem;
    h->nfields++;
    h->col[i] = i;
  }
  if (!h->opts.header)
    h->max_pos = r->nfields;
  return 0;
nomem:
  h->host->error(h->ctx, "csv: out of memory");
  h->fail = SAMSPOR_ENOMEM;
  return -1;
}

/* The header record of the current file: resolve every requested field
 * against it.  Returns STOP_HEADER, or STOP_FAIL with h->fail set. */
static int take_header(csv_handle *h, const csv_record *r) {
  size_t i;

  h->header_pending = 0;
  if (r->status != CSV_REC_OK) {
    h->host->error(h->ctx,
                   "csv: %s:%llu: cannot read the header line: %s "
                   "(%s)",
                   h->shown, (unsigned long long)r->line, r->message,
                   csv_status_reason(r->status));
    h->fail = SAMSPOR_EDATA;
    return STOP_FAIL;
  }
  if (h->discover) {
    if (take_all_fields(h, r) != 0)
      return STOP_FAIL;
    if (!h->opts.header) {
      h->ncols = r->nfields;
      return STOP_HEADER;
    }
  }
  for (i = 0; i < h->nfields; i++) {
    int rc = resolve_field(h, r, h->fields[i], &h->col[i]);
    if (rc) {
      h->fail = rc;
      return STOP_FAIL;
    }
  }
  h->ncols = r->nfields;
  {
    int d = csv_parser_delimiter(h->parser);
    char dn[8];
    if (d == '\t')
      snprintf(dn, sizeof dn, "tab");
    else
      snprintf(dn, sizeof dn, "'%c'", d);
    h->host->log(h->ctx, SAMSPOR_LOG_DEBUG,
                 "csv: %s: header on line %llu, %zu fields, delimiter %s",
                 h->files[h->cur].name, (unsigned long long)r->line, r->nfields,
                 dn);
  }
  return STOP_HEADER;
}

/* A host function's result as a record function result. */
static int host_rc(csv_handle *h, int rc) {
  if (rc >= 0)
    return 0;
  h->fail = rc;
  return STOP_FAIL;
}

/* The parser's record function: header, reject or record to the host. */
static int on_record(void *user, const csv_record *r) {
  csv_handle *h = user;
  const samspor_host *host = h->host;
  size_t i, len;
  const char *v;

  if (h->header_pending)
    return take_header(h, r);
  set_pos(h, r->line);
  h->nrec++;
  if (r->status != CSV_REC_OK) {
    h->nrej++;
    return host_rc(h, host->reject(h->sink, h->pos,
                                   csv_status_reason(r->status), r->message));
  }
  if (h->ncols == 0) { /* header = false: the first record sets the count */
    if (r->nfields < h->max_pos) {
      host->error(h->ctx,
                  "csv: %s: the first record has %zu fields, but "
                  "field %zu is requested",
                  h->pos, r->nfields, h->max_pos);
      h->fail = SAMSPOR_EINVAL;
      return STOP_FAIL;
    }
    h->ncols = r->nfields;
  }
  if (r->nfields != h->ncols) {
    h->nrej++;
    snprintf(h->msg, sizeof h->msg, "record has %zu fields, %s has %zu",
             r->nfields, h->opts.header ? "header" : "the first record",
             h->ncols);
    return host_rc(h, host->reject(h->sink, h->pos, "field_count", h->msg));
  }
  if (host_rc(h, host->record_begin(h->sink, h->pos)))
    return STOP_FAIL;
  for (i = 0; i < h->nfields; i++) {
    v = csv_record_field(r, h->col[i], &len);
    /* CSV cannot tell a missing value from empty text: empty is NULL */
    host->field(h->sink, i, len ? v : NULL, len);
  }
  return host_rc(h, host->record_end(h->sink));
}

/* The result of a parser call as a SAMSPOR code. */
static int parser_rc(csv_handle *h, int rc) {
  if (rc == STOP_FAIL)
    return h->fail;
  if (rc == CSV_ENOMEM) {
    h->host->error(h->ctx, "csv: out of memory reading %s", h->shown);
    return SAMSPOR_ENOMEM;
  }
  return rc < 0 ? SAMSPOR_EFAIL : 0;
}

/*
 * Run the open file through the parser: up to its header when
 * `header_only` (for open(), so that a missing field fails there), else
 * to its end, where the bytes left over from the header step come first.
 * Returns 0 or a negative SAMSPOR code (after host->error, unless it is
 * the host's own stop code).
 */
static int pump(csv_handle *h, int header_only) {
  size_t used;
  long long n;
  int rc;

  for (;;) {
    /* Fed even when empty: the parser may hold bytes from a pause. */
    rc = csv_parser_feed(h->parser, h->buf + h->buf_off,
                         h->buf_len - h->buf_off, &used);
    h->buf_off += used;
    if (rc == STOP_HEADER) {
      if (header_only)
        return 0;
      continue;
    }
    if (rc)
      return parser_rc(h, rc);
    if (h->eof)
      break;
    n = src_read(h, h->buf, READ_CHUNK);
    if (n < 0)
      return (int)n;
    h->buf_len = (size_t)n;
    h->buf_off = 0;
    if (n == 0)
      h->eof = 1;
    else
      h->last_byte = (unsigned char)h->buf[n - 1];
  }
  /* A last line without its line break is, by default, a line still
   * being written: loading it would store a cut value ("4994," of
   * "4994,50") and the finished line again on the next run. */
  if (h->opts.final_nl && h->last_byte >= 0 && h->last_byte != '\n' &&
      h->last_byte != '\r') {
    h->host->error(h->ctx,
                   "csv: %s: the last line has no line break: the file "
                   "looks cut off or still being written; nothing of it "
                   "is loaded, try again later (final_newline = "
                   "\"optional\" accepts such a file)",
                   h->shown);
    return SAMSPOR_ETEMP;
  }
  for (;;) {
    rc = csv_parser_finish(h->parser);
    if (rc == STOP_HEADER) {
      if (header_only)
        return 0;
      continue;
    }
    if (rc)
      return parser_rc(h, rc);
    break;
  }
  if (h->header_pending) {
    const spp_file *f = &h->files[h->cur];
    double settle = spp_transport_settle(h->tp);
    double age = f->mtime >= 0 ? difftime(time(NULL), (time_t)f->mtime) : -1;
    /* Empty and fresh: most likely an export being written again from
     * the start (truncated, then filled), not a broken one. */
    if (h->last_byte < 0 && f->mtime >= 0 && age < settle) {
      h->host->error(h->ctx,
                     "csv: %s: empty, and modified %.0fs ago (less than "
                     "%.0fs): taken as an export being written; try again "
                     "later",
                     h->shown, age < 0 ? 0 : age, settle);
      return SAMSPOR_ETEMP;
    }
    h->host->error(h->ctx,
                   "csv: %s: no header line (the file has no "
                   "records)",
                   h->shown);
    return SAMSPOR_EDATA;
  }
  return 0;
}

/* Open files[h->cur] and, with a header, read and resolve it.  Returns 0
 * or a negative SAMSPOR code after host->error. */
static int file_start(csv_handle *h) {
  int rc = file_open(h);
  if (rc == 0 && h->header_pending)
    rc = pump(h, 1);
  return rc;
}

/* ---- the plugin functions --------------------------------------------- */

static void csv_close(void *handle) {
  csv_handle *h = handle;
  size_t i;

  if (!h)
    return;
  file_close(h);
  csv_parser_free(h->parser);
  {
    spp_files fl = {h->files, h->nfiles};
    spp_files_free(&fl);
  }
  spp_transport_close(h->tp);
  spp_loaded_free(&h->loaded);
  for (i = 0; i < h->nfields; i++)
    free(h->fields[i]);
  free(h->fields);
  free(h->col);
  free(h->buf);
  free(h->zin);
  free(h->pos);
  free(h->shown);
  free(h);
}

/* Copy the requested fields; with header = false check that they are
 * positions.  Returns 0 or a negative SAMSPOR code after host->error. */
static int take_fields(csv_handle *h, const samspor_open_args *a) {
  size_t i, pos, len;
  const char *w;

  h->fields = calloc(a->nfields ? a->nfields : 1, sizeof *h->fields);
  h->col = calloc(a->nfields ? a->nfields : 1, sizeof *h->col);
  if (!h->fields || !h->col)
    goto nomem;
  for (i = 0; i < a->nfields; i++) {
    char *copy = strdup(a->fields[i] ? a->fields[i] : "");
    if (!copy)
      goto nomem;
    h->fields[h->nfields++] = copy; /* freed by csv_close() */
    if (h->opts.header)
      continue;
    len = trim(h->fields[i], strlen(h->fields[i]), &w);
    pos = position_of(w, len);
    if (pos == 0) {
      a->host->error(a->ctx,
                     "csv: field '%s' must be a 1-based position "
                     "(header = false)",
                     h->fields[i]);
      return SAMSPOR_EINVAL;
    }
    h->col[i] = pos - 1;
    if (pos > h->max_pos)
      h->max_pos = pos;
  }
  return 0;
nomem:
  a->host->error(a->ctx, "csv: out of memory");
  return SAMSPOR_ENOMEM;
}

/* In append mode, drop from h->files those loaded before (see
 * spp_loaded_skip).  Returns 0 or a negative SAMSPOR code after
 * host->error. */
static int skip_loaded(csv_handle *h, const samspor_open_args *a) {
  return spp_loaded_skip(a, "csv", "the list csv writes", &h->loaded,
                         &h->append, h->files, &h->nfiles);
}

/* The files of the url, as csv reads them: at least one must match.
 * Returns 0 or a negative SAMSPOR code after host->error. */
static int list_files(const samspor_host *host, samspor_ctx *ctx,
                      spp_transport *tp, spp_files *out) {
  int rc = spp_transport_list(tp, spp_transport_files_all(tp), out);
  (void)host;
  (void)ctx;
  if (rc == SAMSPOR_ENOENT || (rc == 0 && out->n == 0))
    rc = spp_transport_missing(tp, rc, "csv");
  return rc;
}

static int open_handle(const samspor_open_args *a, void **handle,
                       int discover) {
  csv_handle *h;
  spp_files fl = {NULL, 0};
  int rc;

  *handle = NULL;
  if (!samspor_abi_fits(a->host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  h = calloc(1, sizeof *h);
  if (!h) {
    a->host->error(a->ctx, "csv: out of memory");
    return SAMSPOR_ENOMEM;
  }
  h->host = a->host;
  h->ctx = a->ctx;
  h->sink = a->sink;
  h->discover = discover;

  if ((rc = parse_opts(a->host, a->ctx, a->source, &h->opts)) != 0 ||
      (!discover && (rc = take_fields(h, a)) != 0) ||
      (rc = spp_transport_open(a->host, a->ctx, &h->opts.tp, &h->tp)) != 0 ||
      (rc = list_files(a->host, a->ctx, h->tp, &fl)) != 0)
    goto fail;
  h->files = fl.v;
  h->nfiles = fl.n;
  if (!discover && (rc = skip_loaded(h, a)) != 0)
    goto fail;
  h->buf = malloc(READ_CHUNK);
  rc = h->buf ? csv_parser_new(&h->parser, &h->opts.cfg, on_record, h)
              : CSV_ENOMEM;
  if (rc) {
    a->host->error(a->ctx, rc == CSV_ENOMEM ? "csv: out of memory"
                                            : "csv: invalid parser settings");
    rc = rc == CSV_ENOMEM ? SAMSPOR_ENOMEM : SAMSPOR_EINVAL;
    goto fail;
  }
  if (h->nfiles > 0 && (rc = file_start(h)) != 0)
    goto fail;
  *handle = h;
  return 0;
fail:
  csv_close(h);
  return rc;
}

static int csv_open(const samspor_open_args *a, void **handle) {
  return open_handle(a, handle, 0);
}

static int csv_discover(const samspor_open_args *a, void **handle,
                        const char *const **names, size_t *nnames) {
  int rc = open_handle(a, handle, 1);
  if (rc)
    return rc;
  csv_handle *h = *handle;
  *names = (const char *const *)h->fields;
  *nnames = h->nfields;
  return 0;
}

static int csv_read(void *handle) {
  csv_handle *h = handle;
  char *state;
  int rc;

  while (h->cur < h->nfiles) {
    if (!h->is_open && (rc = file_start(h)) != 0)
      return rc;
    if ((rc = pump(h, 0)) != 0)
      return rc;
    h->host->log(h->ctx, SAMSPOR_LOG_INFO,
                 "csv: read %s: %llu records, %llu malformed",
                 h->files[h->cur].name, h->nrec, h->nrej);
    file_close(h);
    h->cur++;
  }
  state = spp_loaded_json(h->append ? &h->loaded : NULL, h->files, h->nfiles);
  if (!state) {
    h->host->error(h->ctx, "csv: out of memory");
    return SAMSPOR_ENOMEM;
  }
  h->host->set_state(h->sink, state);
  free(state);
  return 0;
}

/* `check --connect`: the settings parse, the url resolves to a file that
 * can be opened, and (remote) the credentials are accepted. */
static int csv_check(const samspor_check_args *a) {
  csv_opts o;
  spp_transport *tp = NULL;
  int rc;

  if (!samspor_abi_fits(a->host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  if ((rc = parse_opts(a->host, a->ctx, a->source, &o)) == 0 &&
      (rc = spp_transport_open(a->host, a->ctx, &o.tp, &tp)) == 0)
    rc = spp_transport_check(tp);
  spp_transport_close(tp);
  return rc;
}

/* `check`: the settings parse as open() parses them, reaching nothing. */
static int csv_validate(const samspor_check_args *a) {
  csv_opts o;
  spp_transport *tp = NULL;
  int rc;

  if (!samspor_abi_fits(a->host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  if ((rc = parse_opts(a->host, a->ctx, a->source, &o)) == 0)
    rc = spp_transport_open(a->host, a->ctx, &o.tp, &tp);
  spp_transport_close(tp);
  return rc;
}

static const samspor_plugin csv_plugin = {
    .struct_size = sizeof(samspor_plugin),
    .abi_version = SAMSPOR_ABI_VERSION,
    .name = "csv",
    .version = CSV_PLUGIN_VERSION,
    .description = "CSV files (RFC 4180), local, file://, https:// or "
                   "sftp://, optionally gzip-compressed, in UTF-8, "
                   "windows-1252 or ISO 8859-1",
    .source_options = csv_source_options,
    .stream_options = csv_stream_options,
    .open = csv_open,
    .read = csv_read,
    .close = csv_close,
    .check = csv_check,
    .validate = csv_validate,
    .discover = csv_discover,
};

SAMSPOR_PLUGIN_EXPORT(csv_plugin)
