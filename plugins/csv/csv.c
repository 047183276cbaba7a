#include "config.h"

/*
 * csv.c — the csv source plugin: the samspor plugin ABI over csv_parse.
 *
 * One stream reads the file (or files) the connector's `url` names, takes
 * the first record as the header, and hands the core only the fields the
 * stream's columns ask for.  Records are streamed file by file through a
 * fixed read buffer; memory does not grow with the file.
 *
 * Privacy: messages name files, line numbers, field numbers and header
 * names (which describe the data and are not personal); never a value.
 * For the same reason the header line itself is never quoted in an error:
 * with `header = true` on a file without one, it would be a data record.
 */

#include "samspor-plugin.h"

#include "csv_parse.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define CSV_PLUGIN_VERSION "0.1.0"
#define READ_CHUNK (256 * 1024) /* bytes per read(); also the gzip buffer */

/* Record function stop values (positive: never a parser or host code). */
#define STOP_HEADER 1 /* the header is resolved: open() returns */
#define STOP_FAIL 2   /* h->fail holds the code; the error is reported */

/* One file the url selected. */
typedef struct csv_file {
  char *path;       /* owned */
  const char *base; /* inside path: the name used in positions and state */
  long long size;   /* bytes, as found when opened */
  long long mtime;  /* seconds since the epoch, as found when opened */
  long mtime_ns;    /* nanoseconds part, to order files by age */
} csv_file;

/* The source settings, checked. */
typedef struct csv_opts {
  const char *url; /* borrowed from the settings (valid until close) */
  int all_files;   /* files = all */
  int header;      /* the first record names the fields */
  csv_config cfg;  /* for the parser */
} csv_opts;

/* One open stream. */
typedef struct csv_handle {
  const samspor_host *host; /* borrowed, valid until close */
  samspor_ctx *ctx;
  samspor_sink *sink;
  csv_opts opts;

  csv_file *files; /* owned: the files to read, in reading order */
  size_t nfiles;
  size_t cur;  /* index of the file open (or next to open) */
  int is_open; /* files[cur] is open */

  char **fields; /* owned copies of the requested fields */
  size_t nfields;
  size_t *col;        /* col[i]: 0-based column of fields[i] in this file */
  size_t max_pos;     /* header = false: highest position requested */
  size_t ncols;       /* fields per record in this file; 0 until known */
  int header_pending; /* the next record is this file's header */

  csv_parser *parser;
  int fd;         /* the open file, or -1 (owned by gz once gz is set) */
  gzFile gz;      /* gzip stream over fd, or NULL for plain files */
  int eof;        /* the file has no more bytes */
  char *buf;      /* owned read buffer of READ_CHUNK bytes */
  size_t buf_len; /* bytes in buf */
  size_t buf_off; /* bytes of buf handed to the parser */

  char *pos;               /* owned "name.csv:LINE" position buffer */
  size_t pos_prefix;       /* length of "name.csv:" in pos */
  int fail;                /* code behind STOP_FAIL */
  unsigned long long nrec; /* records and rejects of this file, for the log */
  unsigned long long nrej;
  char msg[96]; /* field_count reject message */
} csv_handle;

/* ---- settings --------------------------------------------------------- */

/*
 * Defaults are written as the value itself (no libconfig quoting).
 * The ranges are checked again in parse_opts() so that a core that skips
 * them cannot give the parser something it refuses.
 */
static const samspor_option csv_source_options[] = {
    {.name = "url",
     .type = SAMSPOR_OPT_PATH,
     .flags = SAMSPOR_OPT_REQUIRED,
     .help = "Where the CSV file is: a local path (relative to the "
             "configuration file's directory) or a file:// URL. The "
             "last path segment may be a glob (unge_*.csv). https:// and "
             "sftp:// are not supported yet."},
    {.name = "files",
     .type = SAMSPOR_OPT_ENUM,
     .def = "newest",
     .choices = "newest|all",
     .help = "Which files a glob in url selects: the newest by modification "
             "time, or all of them, read in name order."},
    {.name = "encoding",
     .type = SAMSPOR_OPT_ENUM,
     .def = "utf-8",
     .choices = "utf-8|windows-1252|iso-8859-1",
     .help = "Character encoding of the files; values are converted to "
             "UTF-8. A record with bytes invalid in the encoding is "
             "rejected (reason encoding)."},
    {.name = "delimiter",
     .type = SAMSPOR_OPT_STRING,
     .def = ";",
     .help = "Field separator: \";\", \",\", \"\\t\" (or \"tab\"), or "
             "\"auto\" to use whichever of them occurs most in the first "
             "line of each file."},
    {.name = "header",
     .type = SAMSPOR_OPT_BOOL,
     .def = "true",
     .help = "Whether the first line names the fields. When false, a "
             "column's from is a 1-based field position (\"3\")."},
    {.name = "quote",
     .type = SAMSPOR_OPT_STRING,
     .def = "\"",
     .help = "Character that quotes fields containing the delimiter, line "
             "breaks or itself (doubled); \"\" when fields are never "
             "quoted."},
    {.name = "max_record_size",
     .type = SAMSPOR_OPT_INT,
     .def = "1048576",
     .min = 1024,
     .max = CSV_MAX_RECORD_LIMIT,
     .help = "Longest record in bytes. A longer record is rejected (reason "
             "record_too_long) rather than read into memory."},
    {.name = "skip_lines",
     .type = SAMSPOR_OPT_INT,
     .def = "0",
     .min = 0,
     .max = 1000000,
     .help = "Lines to ignore at the start of each file, before the header "
             "(a title or an export note)."},
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

  csv_config_init(&o->cfg);
  o->url = host->get_string(s, "url");
  if (!o->url || !*o->url) {
    host->error(ctx, "csv: url is required");
    return SAMSPOR_EINVAL;
  }

  v = host->get_string(s, "files");
  if (!v || !strcmp(v, "newest")) {
    o->all_files = 0;
  } else if (!strcmp(v, "all")) {
    o->all_files = 1;
  } else {
    host->error(ctx, "csv: files must be \"newest\" or \"all\"");
    return SAMSPOR_EINVAL;
  }

  v = host->get_string(s, "encoding");
  if (!v || !strcmp(v, "utf-8")) {
    o->cfg.encoding = CSV_UTF8;
  } else if (!strcmp(v, "windows-1252")) {
    o->cfg.encoding = CSV_WINDOWS_1252;
  } else if (!strcmp(v, "iso-8859-1")) {
    o->cfg.encoding = CSV_ISO_8859_1;
  } else {
    host->error(ctx, "csv: encoding must be \"utf-8\", \"windows-1252\" or "
                     "\"iso-8859-1\"");
    return SAMSPOR_EINVAL;
  }

  v = host->get_string(s, "delimiter");
  if (!v) {
    o->cfg.delimiter = ';';
  } else if (!strcmp(v, ";") || !strcmp(v, ",") || !strcmp(v, "\t")) {
    o->cfg.delimiter = v[0];
  } else if (!strcmp(v, "tab") || !strcmp(v, "\\t")) {
    o->cfg.delimiter = '\t';
  } else if (!strcmp(v, "auto")) {
    o->cfg.delimiter = CSV_DELIM_AUTO;
  } else {
    host->error(ctx, "csv: delimiter must be \";\", \",\", \"\\t\", \"tab\" "
                     "or \"auto\"");
    return SAMSPOR_EINVAL;
  }

  o->header = host->get_bool(s, "header");

  v = host->get_string(s, "quote");
  if (!v) {
    o->cfg.quote = '"';
  } else if (!*v) {
    o->cfg.quote = CSV_NO_QUOTE;
  } else if (v[1] || (unsigned char)v[0] < 0x21 || (unsigned char)v[0] > 0x7e ||
             v[0] == ';' || v[0] == ',') {
    host->error(ctx, "csv: quote must be one printable ASCII character other "
                     "than a delimiter, or \"\" for none");
    return SAMSPOR_EINVAL;
  } else {
    o->cfg.quote = v[0];
  }

  n = host->get_int(s, "max_record_size");
  if (n < 1024 || n > CSV_MAX_RECORD_LIMIT) {
    host->error(ctx, "csv: max_record_size must be between 1024 and %u",
                CSV_MAX_RECORD_LIMIT);
    return SAMSPOR_EINVAL;
  }
  o->cfg.max_record = (size_t)n;

  n = host->get_int(s, "skip_lines");
  if (n < 0) {
    host->error(ctx, "csv: skip_lines must not be negative");
    return SAMSPOR_EINVAL;
  }
  o->cfg.skip_lines = (uint64_t)n;
  return 0;
}

/* ---- finding the files ------------------------------------------------ */

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/*
 * The local path a url names: a path as it is, or a file:// URL
 * (file:///p, file://localhost/p) percent-decoded.  Returns 0 with a
 * freshly allocated *path (caller frees), or SAMSPOR_EINVAL /
 * SAMSPOR_ENOMEM after host->error.
 */
static int url_to_path(const samspor_host *host, samspor_ctx *ctx,
                       const char *url, char **path) {
  const char *sep = strstr(url, "://");
  const char *src;
  size_t i, n;
  char *out;

  *path = NULL;
  if (sep) {
    size_t slen = (size_t)(sep - url);
    int scheme = slen > 0 && strspn(url, "abcdefghijklmnopqrstuvwxyz"
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "0123456789+.-") >= slen;
    if (scheme && slen == 4 && !strncasecmp(url, "file", 4)) {
      src = sep + 3;
      if (!strncasecmp(src, "localhost/", 10))
        src += 9;
      if (*src != '/') {
        host->error(ctx,
                    "csv: url %s: a file:// URL needs an absolute path "
                    "on this host (file:///path)",
                    url);
        return SAMSPOR_EINVAL;
      }
    } else if (scheme) {
      if ((slen == 5 && !strncasecmp(url, "https", 5)) ||
          (slen == 4 && !strncasecmp(url, "http", 4)) ||
          (slen == 4 && !strncasecmp(url, "sftp", 4)))
        host->error(ctx,
                    "csv: url %s: transport not supported yet (only "
                    "local files and file:// for now)",
                    url);
      else
        host->error(ctx, "csv: url %s: unsupported URL scheme", url);
      return SAMSPOR_EINVAL;
    } else {
      src = url; /* a local path that happens to contain "://" */
      sep = NULL;
    }
  } else {
    src = url;
  }

  n = strlen(src);
  out = malloc(n + 1);
  if (!out) {
    host->error(ctx, "csv: out of memory");
    return SAMSPOR_ENOMEM;
  }
  if (!sep) {
    memcpy(out, src, n + 1);
  } else {
    char *o = out;
    for (i = 0; i < n; i++) {
      if (src[i] == '%') {
        int hi = i + 2 < n ? hexval(src[i + 1]) : -1;
        int lo = hi >= 0 ? hexval(src[i + 2]) : -1;
        if (lo < 0 || (hi == 0 && lo == 0)) {
          host->error(ctx, "csv: url %s: invalid %%-escape", url);
          free(out);
          return SAMSPOR_EINVAL;
        }
        *o++ = (char)(hi * 16 + lo);
        i += 2;
      } else {
        *o++ = src[i];
      }
    }
    *o = '\0';
  }
  *path = out;
  return 0;
}

static int by_name(const void *a, const void *b) {
  const csv_file *x = a, *y = b;
  return strcmp(x->base, y->base);
}

/* Nonzero when file a is newer than b (later mtime; on a tie the later
 * name, so the choice does not depend on the order glob returned). */
static int newer(const csv_file *a, const csv_file *b) {
  if (a->mtime != b->mtime)
    return a->mtime > b->mtime;
  if (a->mtime_ns != b->mtime_ns)
    return a->mtime_ns > b->mtime_ns;
  return strcmp(a->base, b->base) > 0;
}

static void free_files(csv_file *files, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    free(files[i].path);
  free(files);
}

/* Add path (taking ownership) to the list if it is a regular file.
 * Returns 0, 1 when skipped (not a regular file), or SAMSPOR_ENOMEM. */
static int add_file(csv_file **files, size_t *n, char *path) {
  struct stat st;
  csv_file *nf, *f;
  const char *slash;

  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
    free(path);
    return 1;
  }
  nf = realloc(*files, (*n + 1) * sizeof **files);
  if (!nf) {
    free(path);
    return SAMSPOR_ENOMEM;
  }
  *files = nf;
  f = &nf[(*n)++];
  f->path = path;
  slash = strrchr(path, '/');
  f->base = slash ? slash + 1 : path;
  f->size = (long long)st.st_size;
  f->mtime = (long long)st.st_mtim.tv_sec;
  f->mtime_ns = st.st_mtim.tv_nsec;
  return 0;
}

/*
 * glob(3) failed to read the directory of `path` (its last '/' at `slash`,
 * or none) and says not why; its error callback has no user pointer to
 * carry errno without file-scope state, so ask opendir() again.  Returns
 * SAMSPOR_ENOENT for a missing directory, else SAMSPOR_EIO, after
 * host->error.
 */
static int dir_error(const samspor_host *host, samspor_ctx *ctx,
                     const char *path, const char *slash) {
  char dir[4096];
  DIR *d;
  int e = EIO;

  if (!slash)
    strcpy(dir, ".");
  else
    snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path),
             path);
  d = opendir(dir);
  if (d)
    closedir(d); /* readable now: it failed while reading */
  else
    e = errno;
  host->error(ctx, "csv: cannot read directory %s (for %s): %s", dir, path,
              strerror(e));
  return e == ENOENT || e == ENOTDIR ? SAMSPOR_ENOENT : SAMSPOR_EIO;
}

/*
 * The files the url selects, in reading order: one file, or with a glob
 * in the last segment the newest match (files = newest) or every match in
 * name order.  Returns 0 with *out and *nout set (caller frees with
 * free_files), or SAMSPOR_EINVAL, SAMSPOR_ENOENT, SAMSPOR_EIO or SAMSPOR_ENOMEM
 * after host->error.
 */
static int resolve_files(const samspor_host *host, samspor_ctx *ctx,
                         const csv_opts *o, csv_file **out, size_t *nout) {
  char *path, *slash;
  csv_file *files = NULL;
  size_t n = 0, i, best;
  int rc;

  *out = NULL;
  *nout = 0;
  if ((rc = url_to_path(host, ctx, o->url, &path)) != 0)
    return rc;
  slash = strrchr(path, '/');
  if (strpbrk(path, "*?[") && slash && strpbrk(path, "*?[") < slash) {
    host->error(ctx,
                "csv: url %s: a glob is allowed only in the last path "
                "segment",
                o->url);
    free(path);
    return SAMSPOR_EINVAL;
  }

  if (!strpbrk(slash ? slash + 1 : path, "*?[")) {
    struct stat st;
    if (stat(path, &st) != 0) {
      int e = errno;
      host->error(ctx, "csv: %s: %s", path, strerror(e));
      free(path);
      return e == ENOENT || e == ENOTDIR ? SAMSPOR_ENOENT : SAMSPOR_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
      host->error(ctx, "csv: %s: not a regular file", path);
      free(path);
      return SAMSPOR_EINVAL;
    }
    rc = add_file(&files, &n, path);
    if (rc == 1) { /* gone or replaced since the stat above */
      host->error(ctx, "csv: %s: no longer a regular file", o->url);
      rc = SAMSPOR_ENOENT;
    } else if (rc < 0) {
      host->error(ctx, "csv: out of memory");
    }
  } else {
    glob_t g;
    int grc = glob(path, GLOB_ERR | GLOB_NOSORT, NULL, &g);

    if (grc == GLOB_NOMATCH || (grc == 0 && g.gl_pathc == 0)) {
      host->error(ctx, "csv: no file matches %s", path);
      rc = SAMSPOR_ENOENT;
    } else if (grc == GLOB_NOSPACE) {
      host->error(ctx, "csv: out of memory");
      rc = SAMSPOR_ENOMEM;
    } else if (grc != 0) {
      rc = dir_error(host, ctx, path, slash);
    } else {
      rc = 0;
      for (i = 0; i < g.gl_pathc && rc >= 0; i++) {
        char *p = strdup(g.gl_pathv[i]);
        rc = p ? add_file(&files, &n, p) : SAMSPOR_ENOMEM;
      }
      if (rc == SAMSPOR_ENOMEM)
        host->error(ctx, "csv: out of memory");
      else if (n == 0) {
        host->error(ctx, "csv: no regular file matches %s", path);
        rc = SAMSPOR_ENOENT;
      } else
        rc = 0;
    }
    if (grc != GLOB_NOMATCH)
      globfree(&g);
    free(path);
  }
  if (rc < 0) {
    free_files(files, n);
    return rc;
  }

  if (o->all_files) {
    qsort(files, n, sizeof *files, by_name);
  } else if (n > 1) {
    best = 0;
    for (i = 1; i < n; i++)
      if (newer(&files[i], &files[best]))
        best = i;
    if (best != 0) {
      csv_file t = files[0];
      files[0] = files[best];
      files[best] = t;
    }
    for (i = 1; i < n; i++)
      free(files[i].path);
    n = 1;
  }
  *out = files;
  *nout = n;
  return 0;
}

/* ---- reading one file ------------------------------------------------- */

static void file_close(csv_handle *h) {
  if (h->gz)
    gzclose(h->gz); /* closes fd too */
  else if (h->fd >= 0)
    close(h->fd);
  h->gz = NULL;
  h->fd = -1;
  h->is_open = 0;
}

/* Report a failed read of the open file; returns SAMSPOR_EIO. */
static int read_error(csv_handle *h, int e) {
  h->host->error(h->ctx, "csv: %s: read failed: %s", h->files[h->cur].path,
                 strerror(e));
  return SAMSPOR_EIO;
}

/* Read up to n bytes of the open file.  Returns the count (0 at the end)
 * or a negative SAMSPOR code after host->error. */
static long long src_read(csv_handle *h, char *buf, size_t n) {
  const char *path = h->files[h->cur].path;

  if (h->gz) {
    int k = gzread(h->gz, buf, (unsigned)n), err;
    const char *zmsg;

    if (k > 0)
      return k;
    zmsg = gzerror(h->gz, &err);
    if (k == 0 && err == Z_OK)
      return 0;
    if (err == Z_ERRNO)
      return read_error(h, errno);
    if (err == Z_MEM_ERROR) {
      h->host->error(h->ctx, "csv: out of memory decompressing %s", path);
      return SAMSPOR_ENOMEM;
    }
    if (err == Z_BUF_ERROR) {
      h->host->error(h->ctx,
                     "csv: %s: gzip data ends early (truncated "
                     "file?)",
                     path);
      return SAMSPOR_EDATA;
    }
    /* zlib's messages are fixed strings about the stream, not its data */
    h->host->error(h->ctx, "csv: %s: corrupt gzip data: %s", path,
                   zmsg ? zmsg : "unknown error");
    return SAMSPOR_EDATA;
  }
  for (;;) {
    ssize_t k = read(h->fd, buf, n);
    if (k >= 0)
      return k;
    if (errno != EINTR)
      return read_error(h, errno);
  }
}

/* Open files[h->cur] and reset the parser for it.  Returns 0 or a
 * negative SAMSPOR code after host->error. */
static int file_open(csv_handle *h) {
  csv_file *f = &h->files[h->cur];
  unsigned char magic[2];
  struct stat st;
  size_t blen = strlen(f->base);
  int gz;

  h->fd = open(f->path, O_RDONLY | O_CLOEXEC);
  if (h->fd < 0) {
    int e = errno;
    h->host->error(h->ctx, "csv: %s: %s", f->path, strerror(e));
    return e == ENOENT ? SAMSPOR_ENOENT : SAMSPOR_EIO;
  }
  h->is_open = 1;
  if (fstat(h->fd, &st) == 0) { /* what is read, not what glob saw */
    f->size = (long long)st.st_size;
    f->mtime = (long long)st.st_mtim.tv_sec;
    f->mtime_ns = st.st_mtim.tv_nsec;
  }
  /* The magic bytes decide, so a gzip file without .gz is still read;
   * a .gz name without them is read as it is (as zlib would anyway). */
  gz = pread(h->fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (gz) {
    h->gz = gzdopen(h->fd, "rb");
    if (!h->gz) {
      h->host->error(h->ctx, "csv: out of memory opening %s", f->path);
      return SAMSPOR_ENOMEM;
    }
    gzbuffer(h->gz, READ_CHUNK);
  }

  free(h->pos);
  h->pos = malloc(blen + 2 + 20);
  if (!h->pos) {
    h->host->error(h->ctx, "csv: out of memory");
    return SAMSPOR_ENOMEM;
  }
  memcpy(h->pos, f->base, blen);
  h->pos[blen] = ':';
  h->pos_prefix = blen + 1;

  csv_parser_reset(h->parser);
  h->eof = 0;
  h->buf_len = h->buf_off = 0;
  h->ncols = 0;
  h->header_pending = h->opts.header;
  h->nrec = h->nrej = 0;
  h->host->log(h->ctx, SAMSPOR_LOG_INFO, "csv: reading %s (%lld bytes%s)",
               f->path, f->size, gz ? ", gzip" : "");
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
  const char *path = h->files[h->cur].path;
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

/* The header record of the current file: resolve every requested field
 * against it.  Returns STOP_HEADER, or STOP_FAIL with h->fail set. */
static int take_header(csv_handle *h, const csv_record *r) {
  size_t i;

  h->header_pending = 0;
  if (r->status != CSV_REC_OK) {
    h->host->error(h->ctx,
                   "csv: %s:%llu: cannot read the header line: %s "
                   "(%s)",
                   h->files[h->cur].path, (unsigned long long)r->line,
                   r->message, csv_status_reason(r->status));
    h->fail = SAMSPOR_EDATA;
    return STOP_FAIL;
  }
  for (i = 0; i < h->nfields; i++) {
    int rc = resolve_field(h, r, h->fields[i], &h->col[i]);
    if (rc) {
      h->fail = rc;
      return STOP_FAIL;
    }
  }
  h->ncols = r->nfields;
  h->host->log(h->ctx, SAMSPOR_LOG_DEBUG,
               "csv: %s: header on line %llu, %zu fields, delimiter %s",
               h->files[h->cur].base, (unsigned long long)r->line, r->nfields,
               csv_parser_delimiter(h->parser) == '\t'  ? "tab"
               : csv_parser_delimiter(h->parser) == ',' ? "','"
                                                        : "';'");
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
    h->host->error(h->ctx, "csv: out of memory reading %s",
                   h->files[h->cur].path);
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
    h->host->error(h->ctx,
                   "csv: %s: no header line (the file has no "
                   "records)",
                   h->files[h->cur].path);
    return SAMSPOR_EDATA;
  }
  return 0;
}

/* Open files[h->cur] and, with a header, read and resolve it.  Returns 0
 * or a negative SAMSPOR code after host->error. */
static int file_start(csv_handle *h) {
  int rc = file_open(h);
  if (rc == 0 && h->opts.header)
    rc = pump(h, 1);
  return rc;
}

/* ---- state ------------------------------------------------------------ */

/* Append s as a JSON string to b (capacity known to suffice).  Bytes of a
 * name that is not valid UTF-8 are written as \u00XX, keeping the JSON
 * valid and the same name always giving the same text. */
static char *json_string(char *b, const char *s) {
  int utf8 = csv_utf8_valid(s, strlen(s));
  const unsigned char *p;

  *b++ = '"';
  for (p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') {
      *b++ = '\\';
      *b++ = (char)*p;
    } else if (*p < 0x20 || (*p >= 0x80 && !utf8)) {
      b += sprintf(b, "\\u%04x", *p);
    } else {
      *b++ = (char)*p;
    }
  }
  *b++ = '"';
  return b;
}

/*
 * The state after a complete read: the files read, as
 * [{"name":"unge_1.csv","size":123,"mtime":1700000000}].  Hand-written
 * (no jansson) as the format is this small.  Returns a malloc'd string or
 * NULL when out of memory.
 */
static char *state_json(const csv_handle *h) {
  size_t i, cap = 3;
  char *s, *b;

  for (i = 0; i < h->nfiles; i++)
    cap += strlen(h->files[i].base) * 6 + 80;
  s = b = malloc(cap);
  if (!s)
    return NULL;
  *b++ = '[';
  for (i = 0; i < h->nfiles; i++) {
    if (i)
      *b++ = ',';
    b += sprintf(b, "{\"name\":");
    b = json_string(b, h->files[i].base);
    b += sprintf(b, ",\"size\":%lld,\"mtime\":%lld}", h->files[i].size,
                 h->files[i].mtime);
  }
  *b++ = ']';
  *b = '\0';
  return s;
}

/* ---- the plugin functions --------------------------------------------- */

static void csv_close(void *handle) {
  csv_handle *h = handle;
  size_t i;

  if (!h)
    return;
  file_close(h);
  csv_parser_free(h->parser);
  free_files(h->files, h->nfiles);
  for (i = 0; i < h->nfields; i++)
    free(h->fields[i]);
  free(h->fields);
  free(h->col);
  free(h->buf);
  free(h->pos);
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

/* Check that the core's structs are at least as large as ours, since we
 * read every field of them. */
static int abi_fits(const samspor_host *host, uint32_t args_size,
                    uint32_t want) {
  return host && args_size >= want &&
         host->struct_size >= sizeof(samspor_host) &&
         host->abi_version == SAMSPOR_ABI_VERSION;
}

static int csv_open(const samspor_open_args *a, void **handle) {
  csv_handle *h;
  int rc;

  *handle = NULL;
  if (!abi_fits(a->host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  h = calloc(1, sizeof *h);
  if (!h) {
    a->host->error(a->ctx, "csv: out of memory");
    return SAMSPOR_ENOMEM;
  }
  h->host = a->host;
  h->ctx = a->ctx;
  h->sink = a->sink;
  h->fd = -1;

  if ((rc = parse_opts(a->host, a->ctx, a->source, &h->opts)) != 0 ||
      (rc = take_fields(h, a)) != 0 ||
      (rc = resolve_files(a->host, a->ctx, &h->opts, &h->files, &h->nfiles)) !=
          0)
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
  if ((rc = file_start(h)) != 0)
    goto fail;
  *handle = h;
  return 0;
fail:
  csv_close(h);
  return rc;
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
                 "csv: read %s: %llu records, %llu rejected",
                 h->files[h->cur].base, h->nrec, h->nrej);
    file_close(h);
    h->cur++;
  }
  state = state_json(h);
  if (!state) {
    h->host->error(h->ctx, "csv: out of memory");
    return SAMSPOR_ENOMEM;
  }
  h->host->set_state(h->sink, state);
  free(state);
  return 0;
}

static int csv_check(const samspor_check_args *a) {
  csv_opts o;
  csv_file *files;
  size_t n, i;
  int rc;

  if (!abi_fits(a->host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  if ((rc = parse_opts(a->host, a->ctx, a->source, &o)) != 0 ||
      (rc = resolve_files(a->host, a->ctx, &o, &files, &n)) != 0)
    return rc;
  for (i = 0; i < n && rc == 0; i++) {
    int fd = open(files[i].path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      a->host->error(a->ctx, "csv: %s: %s", files[i].path, strerror(e));
      rc = e == ENOENT ? SAMSPOR_ENOENT : SAMSPOR_EIO;
    } else {
      close(fd);
    }
  }
  free_files(files, n);
  return rc;
}

static const samspor_plugin csv_plugin = {
    .struct_size = sizeof(samspor_plugin),
    .abi_version = SAMSPOR_ABI_VERSION,
    .name = "csv",
    .version = CSV_PLUGIN_VERSION,
    .description = "CSV files (RFC 4180), local or file://, optionally "
                   "gzip-compressed, in UTF-8, windows-1252 or ISO 8859-1",
    .source_options = csv_source_options,
    .stream_options = csv_stream_options,
    .open = csv_open,
    .read = csv_read,
    .close = csv_close,
    .check = csv_check,
};

SAMSPOR_PLUGIN_EXPORT(csv_plugin)
