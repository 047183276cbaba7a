#include "config.h"

/*
 * pgsql.c — the pgsql source plugin: one SQL query against another
 * PostgreSQL (a partner's database the plan may read) per stream.
 *
 * open() connects, starts a READ ONLY, REPEATABLE READ transaction,
 * prepares the query and checks every requested field against the
 * result columns the server describes, all without running the query, so
 * that a misspelt `from` fails before any row moves.  read() runs it with
 * `$1` bound to the stored cursor and streams the rows to the core.
 *
 * Streaming.  libpq 17 and later hand rows over in chunks of fetch_size
 * (PQsetChunkedRowsMode); older ones one row at a time (PQsetSingleRowMode).
 * Either way only a chunk is ever in memory, never the whole result.  A
 * server-side cursor (DECLARE, then FETCH fetch_size in a loop) was
 * measured against single-row mode with libpq 15 on 1M rows: fetching
 * alone took 0.63-0.75 s against 0.40-0.53 s, a whole sync 2.2 s against
 * 2.0 s.  Every FETCH is a round trip during which the server sits idle,
 * whereas in single-row mode it produces rows while the client consumes
 * them.
 *
 * Privacy: messages name options, files, result columns (which describe
 * the data and are not personal) and row numbers; never a value.  A
 * server's message text is repeated only for the SQLSTATE classes whose
 * texts carry no values (spp_pq_text_allowed(), shared with the core);
 * otherwise the SQLSTATE and samspor's words.  DETAIL and CONTEXT lines,
 * which may quote rows, are never read, and server notices are logged by
 * SQLSTATE only.
 */

#include "samspor-plugin.h"

#include "pgconn.h"
#include "pgsql_msg.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PGSQL_PLUGIN_VERSION "0.1.0"
#define QUERY_FILE_MAX (1024 * 1024) /* bytes; a query is not a data file */

/* The source settings, filled by host->fill and checked. */
typedef struct pgsql_opts {
  const char *conninfo;     /* borrowed from the settings (until close) */
  const char *password;     /* borrowed secret, or NULL */
  double connect_timeout;   /* seconds */
  double statement_timeout; /* seconds; 0: the server's own setting */
  long long fetch_size;     /* rows per chunk (libpq 17+) */
} pgsql_opts;

/* Where a connection's notices are logged. */
typedef struct pgsql_logto {
  const samspor_host *host;
  samspor_ctx *ctx;
} pgsql_logto;

/* One open stream. */
typedef struct pgsql_handle {
  const samspor_host *host; /* borrowed, valid until close */
  samspor_ctx *ctx;
  samspor_sink *sink;
  pgsql_logto logto; /* the notice receiver's argument: lives here */
  pgsql_opts opts;

  PGconn *conn;            /* owned */
  char *query;             /* owned: the query text */
  char *query_src;         /* owned: "the query" or "query_file PATH" */
  char *cursor;            /* owned copy of the stored cursor, or NULL */
  int nparams;             /* parameters the query uses: 0 or 1 */
  size_t nfields;          /* requested fields */
  int *col;                /* owned: col[i] is the result column of field i */
  char **names;            /* samspor discover: every result column (owned) */
  int busy;                /* the query runs: close() cancels it */
  unsigned long long rows; /* rows handed to the core */
  char pos[32];            /* "row N" */
} pgsql_handle;

/* ---- settings --------------------------------------------------------- */

/* The stream settings as written, filled by host->fill (the source
 * settings fill pgsql_opts). */
typedef struct pgsql_stream_conf {
  const char *query;
  const char *query_file;
} pgsql_stream_conf;

static const samspor_option pgsql_source_options[] = {
    {.name = "conninfo",
     SAMSPOR_AT(pgsql_opts, conninfo),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED | SAMSPOR_OPT_CONNINFO,
     .help = "libpq connection string or URI of the partner's database "
             "(\"host=db.example.invalid dbname=jobcenter user=samspor "
             "sslmode=verify-full\", or \"service=NAME\"). Every libpq "
             "setting may appear here; never a password. TCP keepalives "
             "default to 60s idle, 10s interval, 6 probes, so a dead "
             "server is noticed within about two minutes."},
    {.name = "password",
     SAMSPOR_AT(pgsql_opts, password),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_SECRET,
     .help = "The password, when the server asks for one."},
    {.name = "connect_timeout",
     SAMSPOR_AT(pgsql_opts, connect_timeout),
     .type = SAMSPOR_OPT_DURATION,
     .def = "30s",
     .min = 1,
     .max = 3600,
     .help = "How long to wait for the server before the run is counted as "
             "a temporary failure (exit status 75)."},
    {.name = "statement_timeout",
     SAMSPOR_AT(pgsql_opts, statement_timeout),
     .type = SAMSPOR_OPT_DURATION,
     .min = 1,
     .max = 7 * 86400,
     .help = "Longest time a stream's query may run, sending of rows "
             "included; the server's own setting when unset. A query "
             "stopped by it fails the run."},
    {.name = "fetch_size",
     SAMSPOR_AT(pgsql_opts, fetch_size),
     .type = SAMSPOR_OPT_INT,
     .def = "10000",
     .min = 1,
     .max = 1000000,
     .help = "Rows handed over at a time with libpq 17 or later (chunked "
             "rows mode); memory grows with it. Older libpq hands rows over "
             "one at a time."},
    {.name = NULL},
};

static const samspor_option pgsql_stream_options[] = {
    {.name = "query",
     SAMSPOR_AT(pgsql_stream_conf, query),
     .type = SAMSPOR_OPT_STRING,
     .help = "The SQL query (one statement) whose result columns the "
             "stream's columns name in from; values arrive as text. $1 is "
             "the stream's stored cursor, as text, or NULL on the first run "
             "and with --full; cast it, e.g. WHERE $1::timestamptz IS NULL "
             "OR changed_at >= $1::timestamptz. Ask for >=, not >: the core "
             "drops the rows at the cursor it already has. Runs in a READ "
             "ONLY, REPEATABLE READ transaction. Give query or query_file."},
    {.name = "query_file",
     SAMSPOR_AT(pgsql_stream_conf, query_file),
     .type = SAMSPOR_OPT_PATH,
     .help = "A file holding the query (UTF-8, at most 1 MiB), instead of "
             "query; the same rules apply."},
    {.name = NULL},
};

/* Read and check the source settings into *o.  Returns 0 or
 * SAMSPOR_ECONFIG after host->error. */
static int parse_opts(const samspor_host *host, samspor_ctx *ctx,
                      const samspor_settings *s, pgsql_opts *o) {
  char err[256];
  int rc;

  memset(o, 0, sizeof *o);
  if (host->fill(s, pgsql_source_options, o) != 0) {
    host->error(ctx, "pgsql: the source settings do not fit this plugin");
    return SAMSPOR_ECONFIG;
  }
  if (!o->conninfo || !*o->conninfo) {
    host->error(ctx, "pgsql: conninfo is required");
    return SAMSPOR_ECONFIG;
  }
  if ((rc = pgsql_conninfo_check(o->conninfo, err, sizeof err)) != 0) {
    host->error(ctx, "pgsql: %s", err);
    return rc;
  }
  /* is_set: a password_file that could not be read fills NULL. */
  if (!o->password && host->is_set(s, "password")) {
    /* The core read password_file/password_env and could not use it. */
    host->error(ctx, "pgsql: the password (password_file or password_env) "
                     "could not be read");
    return SAMSPOR_ECONFIG;
  }
  if (o->connect_timeout < 1)
    o->connect_timeout = 30;
  if (o->fetch_size < 1 || o->fetch_size > 1000000) {
    host->error(ctx, "pgsql: fetch_size must be between 1 and 1000000");
    return SAMSPOR_ECONFIG;
  }
  return 0;
}

/* ---- server messages -------------------------------------------------- */

/*
 * Report a failed call on `conn` (its result `res`, or NULL) through
 * host->error as "pgsql: WHAT: message (SQLSTATE x)", redacted, with the
 * line and column of `query` that a syntax error points at (described as
 * `qsrc`).  Returns the SAMSPOR_E* code the failure means.
 */
static int pg_fail(const samspor_host *host, samspor_ctx *ctx, PGconn *conn,
                   const PGresult *res, const char *what, const char *query,
                   const char *qsrc) {
  const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
  const char *spos =
      res ? PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION) : NULL;
  char text[768], where[320] = "", hbuf[320] = "", sbuf[32] = "";

  spp_pq_message(res, conn ? PQerrorMessage(conn) : "no connection", text,
                 sizeof text);

  if (spos && query) {
    long line, col;
    pgsql_position(query, strtol(spos, NULL, 10), &line, &col);
    snprintf(where, sizeof where, " at line %ld, column %ld of %s", line, col,
             qsrc ? qsrc : "the query");
  }
  if (state && !strcmp(state, "42P18")) {
    snprintf(hbuf, sizeof hbuf,
             "; give $1 a type with a cast, e.g. $1::timestamptz or "
             "$1::date");
  } else if (hint && spp_pq_text_allowed(state)) {
    snprintf(hbuf, sizeof hbuf, "; hint: %s", hint);
  }
  if (state)
    snprintf(sbuf, sizeof sbuf, " (SQLSTATE %s)", state);
  host->error(ctx, "pgsql: %s: %s%s%s%s", what, text, where, hbuf, sbuf);

  if (!conn || PQstatus(conn) != CONNECTION_OK)
    return SAMSPOR_ETEMP;
  return pgsql_classify_sqlstate(state);
}

/*
 * Notices (WARNING, NOTICE, ...) are logged by severity and SQLSTATE at
 * debug level; never their text, since RAISE NOTICE in a partner's
 * functions may print anything.
 */
static void on_notice(void *arg, const PGresult *res) {
  const pgsql_logto *to = arg;
  const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  to->host->log(to->ctx, SAMSPOR_LOG_DEBUG,
                "pgsql: the server sent a %s (SQLSTATE %s)",
                sev ? sev : "notice", state ? state : "?");
}

/* Run one command that returns no rows.  Returns 0 or a negative code
 * after host->error. */
static int pg_command(const samspor_host *host, samspor_ctx *ctx, PGconn *conn,
                      const char *sql, const char *what) {
  PGresult *res = PQexec(conn, sql);
  int rc = 0;
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    rc = pg_fail(host, ctx, conn, res, what, NULL, NULL);
  PQclear(res);
  return rc;
}

/* ---- the session ------------------------------------------------------ */

/*
 * Connect to the source, in UTF-8.  Returns 0 with *out set (caller
 * PQfinish()es it), or a negative code after host->error.
 */
static int pg_connect(const samspor_host *host, samspor_ctx *ctx,
                      const pgsql_opts *o, pgsql_logto *logto, PGconn **out) {
  char timeout[32], why[768];
  spp_pq_tls_info tls;
  PGconn *conn;
  int rc;

  *out = NULL;
  snprintf(timeout, sizeof timeout, "%.0f", o->connect_timeout);
  spp_pq_tls(o->conninfo, &tls);
  if (tls.defaulted)
    host->log(ctx, SAMSPOR_LOG_DEBUG,
              "pgsql: sslmode=verify-full (samspor's default for the "
              "non-local host %s)",
              tls.first_remote);
  /* expand_dbname = 1: the conninfo sits in dbname; what comes before it
   * is a default the conninfo may override, what comes after it wins.
   * libpq skips a NULL value (sslmode, when samspor adds none). */
  const char *keys[] = {"fallback_application_name",
                        "keepalives_idle",
                        "keepalives_interval",
                        "keepalives_count",
                        "sslmode",
                        "dbname",
                        "password",
                        "connect_timeout",
                        "client_encoding",
                        NULL};
  const char *vals[] = {"samspor",
                        "60",
                        "10",
                        "6",
                        tls.defaulted ? tls.sslmode : NULL,
                        o->conninfo,
                        o->password,
                        timeout,
                        "UTF8",
                        NULL};
  rc = spp_pq_connect(keys, vals, o->connect_timeout, "the source's conninfo",
                      &conn, why, sizeof why);
  if (rc != 0) {
    host->error(ctx, "pgsql: cannot connect to the source: %s", why);
    return rc;
  }
  /* Terse: PQerrorMessage() then holds no DETAIL, which may quote rows. */
  PQsetErrorVerbosity(conn, PQERRORS_TERSE);
  PQsetErrorContextVisibility(conn, PQSHOW_CONTEXT_NEVER);
  PQsetNoticeReceiver(conn, on_notice, logto);

  host->log(ctx, SAMSPOR_LOG_DEBUG, "pgsql: connected to PostgreSQL %d",
            PQserverVersion(conn));
  *out = conn;
  return 0;
}

/*
 * Start the stream's transaction: one snapshot for the whole result, READ
 * ONLY so that a query with side effects (a function that writes) cannot
 * change the partner's data, and settings that end with it, so that they
 * also hold behind a transaction-pooling connection pooler: ISO dates
 * (what the core's date and timestamp rules read without a format), exact
 * floats, the statement timeout.  Returns 0 or a negative code after
 * host->error.
 */
static int begin(const samspor_host *host, samspor_ctx *ctx, PGconn *conn,
                 const pgsql_opts *o) {
  char sql[256], st[64] = "";

  if (o->statement_timeout > 0)
    snprintf(st, sizeof st, "SET LOCAL statement_timeout = %.0f;",
             o->statement_timeout * 1000);
  snprintf(sql, sizeof sql,
           "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;"
           "SET LOCAL DateStyle = 'ISO, YMD';"
           "SET LOCAL extra_float_digits = 3;%s",
           st);
  return pg_command(host, ctx, conn, sql, "cannot start a transaction");
}

/* ---- the query -------------------------------------------------------- */

/*
 * The stream's query: `query`, or the contents of `query_file` (a UTF-8
 * byte order mark dropped).  Exactly one must be given.  Returns 0 with
 * h->query and h->query_src set, or SAMSPOR_ECONFIG / SAMSPOR_ENOMEM after
 * host->error.
 */
static int load_query(pgsql_handle *h, const samspor_settings *s) {
  const samspor_host *host = h->host;
  pgsql_stream_conf c;
  int has_q, has_f;
  const char *path;
  struct stat st;
  size_t got = 0, plen;
  ssize_t n;
  char *q;
  int fd;

  memset(&c, 0, sizeof c);
  if (host->fill(s, pgsql_stream_options, &c) != 0) {
    host->error(h->ctx, "pgsql: the stream settings do not fit this plugin");
    return SAMSPOR_ECONFIG;
  }
  /* A string or path option is non-NULL exactly when it is written. */
  has_q = c.query != NULL;
  has_f = c.query_file != NULL;
  if (has_q == has_f) {
    host->error(h->ctx, has_q ? "pgsql: give either query or query_file in "
                                "the stream, not both"
                              : "pgsql: the stream needs query or "
                                "query_file");
    return SAMSPOR_ECONFIG;
  }
  if (has_q) {
    h->query = strdup(c.query);
    h->query_src = strdup("the query");
    if (!h->query || !h->query_src)
      goto nomem;
  } else {
    path = c.query_file;
    fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0) {
      int e = errno;
      host->error(h->ctx, "pgsql: query_file %s: %s", path ? path : "(none)",
                  strerror(e));
      return SAMSPOR_ECONFIG;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > QUERY_FILE_MAX) {
      host->error(h->ctx,
                  "pgsql: query_file %s: not a regular file of at most "
                  "%d bytes",
                  path, QUERY_FILE_MAX);
      close(fd);
      return SAMSPOR_ECONFIG;
    }
    q = malloc((size_t)st.st_size + 1);
    if (!q) {
      close(fd);
      goto nomem;
    }
    /* Read to EOF (at most the size seen) rather than trusting st_size. */
    while (got < (size_t)st.st_size &&
           (n = read(fd, q + got, (size_t)st.st_size - got)) != 0) {
      if (n < 0) {
        int e = errno;
        if (e == EINTR)
          continue;
        host->error(h->ctx, "pgsql: query_file %s: %s", path, strerror(e));
        free(q);
        close(fd);
        return SAMSPOR_ECONFIG;
      }
      got += (size_t)n;
    }
    close(fd);
    q[got] = '\0';
    h->query = q;
    if (memchr(q, '\0', got)) {
      host->error(h->ctx, "pgsql: query_file %s holds a NUL byte", path);
      return SAMSPOR_ECONFIG;
    }
    /* Windows editors start UTF-8 files with a byte order mark, which the
     * server would read as part of the first keyword. */
    if (got >= 3 && !memcmp(q, "\xef\xbb\xbf", 3))
      memmove(q, q + 3, got - 2);
    plen = strlen(path) + sizeof "query_file ";
    h->query_src = malloc(plen);
    if (!h->query_src)
      goto nomem;
    snprintf(h->query_src, plen, "query_file %s", path);
  }
  if (!h->query[strspn(h->query, " \t\r\n")]) {
    host->error(h->ctx, "pgsql: %s is empty", h->query_src);
    return SAMSPOR_ECONFIG;
  }
  return 0;
nomem:
  host->error(h->ctx, "pgsql: out of memory");
  return SAMSPOR_ENOMEM;
}

/*
 * The result column of every requested field, from the prepared
 * statement's description.  A field that is no result column fails with
 * the list of those there are.  Returns 0, or SAMSPOR_ECONFIG /
 * SAMSPOR_ENOMEM after host->error.
 */
static int resolve_fields(pgsql_handle *h, const PGresult *desc,
                          const char *const *fields) {
  int ncols = PQnfields(desc), j;
  const char **names;
  size_t i, col = 0, other = 0, len = 0;
  int rc = 0;

  if (ncols <= 0) {
    h->host->error(h->ctx,
                   "pgsql: %s returns no columns (it must be a SELECT, "
                   "VALUES, TABLE or WITH ... SELECT query)",
                   h->query_src);
    return SAMSPOR_ECONFIG;
  }
  names = calloc((size_t)ncols, sizeof *names);
  h->col = calloc(h->nfields ? h->nfields : 1, sizeof *h->col);
  if (!names || !h->col) {
    free(names);
    h->host->error(h->ctx, "pgsql: out of memory");
    return SAMSPOR_ENOMEM;
  }
  for (j = 0; j < ncols; j++) {
    names[j] = PQfname(desc, j);
    len += strlen(names[j]) + 2;
  }
  for (i = 0; i < h->nfields && rc == 0; i++) {
    const char *want = fields[i] ? fields[i] : "";
    switch (pgsql_find_column(names, (size_t)ncols, want, &col, &other)) {
    case PGSQL_COL_FOUND:
      h->col[i] = (int)col;
      break;
    case PGSQL_COL_AMBIGUOUS:
      h->host->error(h->ctx,
                     "pgsql: result columns %zu and %zu of %s are both "
                     "named '%s'; give one an alias (AS)",
                     col + 1, other + 1, h->query_src, names[col]);
      rc = SAMSPOR_ECONFIG;
      break;
    default: {
      /* Column names describe the data; they are not personal. */
      char *list = malloc(len + 1), *p = list;
      if (!list) {
        h->host->error(h->ctx, "pgsql: out of memory");
        rc = SAMSPOR_ENOMEM;
        break;
      }
      *p = '\0';
      for (j = 0; j < ncols; j++)
        p += sprintf(p, "%s%s", j ? ", " : "", names[j]);
      h->host->error(h->ctx,
                     "pgsql: '%s' is not a result column of %s; its result "
                     "columns are: %s",
                     want, h->query_src, list);
      free(list);
      rc = SAMSPOR_ECONFIG;
    }
    }
  }
  free(names);
  return rc;
}

/*
 * Prepare the query as the unnamed statement and describe it: how many
 * parameters it takes and which columns it returns.  Nothing runs.
 * Returns 0 with *desc set (caller PQclear()s it), or a negative code
 * after host->error.
 */
static int describe(const samspor_host *host, samspor_ctx *ctx, PGconn *conn,
                    const char *query, const char *qsrc, PGresult **desc) {
  char what[300];
  PGresult *res;
  int rc = 0, np;

  *desc = NULL;
  snprintf(what, sizeof what, "cannot prepare %s", qsrc);
  res = PQprepare(conn, "", query, 0, NULL);
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    rc = pg_fail(host, ctx, conn, res, what, query, qsrc);
    PQclear(res);
    return rc;
  }
  PQclear(res);
  res = PQdescribePrepared(conn, "");
  if (PQresultStatus(res) != PGRES_COMMAND_OK) {
    rc = pg_fail(host, ctx, conn, res, what, query, qsrc);
    PQclear(res);
    return rc;
  }
  np = PQnparams(res);
  if (np > 1) {
    host->error(ctx,
                "pgsql: %s uses $%d; only $1 (the stored cursor) can be "
                "bound",
                qsrc, np);
    PQclear(res);
    return SAMSPOR_ECONFIG;
  }
  *desc = res;
  return 0;
}

/* ---- the plugin functions --------------------------------------------- */

static void pgsql_close(void *handle) {
  pgsql_handle *h = handle;

  if (!h)
    return;
  if (h->conn && h->busy) {
    /* Stopped mid-result (the core wants no more rows): tell the server to
     * stop too rather than let it finish a query nobody reads. */
    PGcancel *c = PQgetCancel(h->conn);
    char buf[256];
    if (c) {
      PQcancel(c, buf, sizeof buf);
      PQfreeCancel(c);
    }
  }
  if (h->conn)
    PQfinish(h->conn); /* an open transaction ends with the session */
  free(h->query);
  free(h->query_src);
  free(h->cursor);
  free(h->col);
  for (size_t i = 0; h->names && i < h->nfields; i++)
    free(h->names[i]);
  free(h->names);
  free(h);
}

/* samspor discover: every result column is a field, in order.  Returns 0
 * or SAMSPOR_ENOMEM / SAMSPOR_ECONFIG after host->error. */
static int take_all_columns(pgsql_handle *h, const PGresult *desc) {
  int ncols = PQnfields(desc), j;

  if (ncols <= 0)
    return resolve_fields(h, desc, NULL); /* its message */
  h->names = calloc((size_t)ncols, sizeof *h->names);
  h->col = calloc((size_t)ncols, sizeof *h->col);
  if (!h->names || !h->col)
    goto nomem;
  for (j = 0; j < ncols; j++) {
    if (!(h->names[j] = strdup(PQfname(desc, j))))
      goto nomem;
    h->col[j] = j;
    h->nfields = (size_t)j + 1;
  }
  return 0;
nomem:
  h->host->error(h->ctx, "pgsql: out of memory");
  return SAMSPOR_ENOMEM;
}

static int open_handle(const samspor_open_args *a, void **handle,
                       int discover) {
  pgsql_handle *h;
  PGresult *desc = NULL;
  int rc;

  *handle = NULL;
  if (!samspor_abi_fits(a->host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  h = calloc(1, sizeof *h);
  if (!h) {
    a->host->error(a->ctx, "pgsql: out of memory");
    return SAMSPOR_ENOMEM;
  }
  h->host = a->host;
  h->ctx = a->ctx;
  h->sink = a->sink;
  h->logto.host = a->host;
  h->logto.ctx = a->ctx;
  h->nfields = discover ? 0 : a->nfields;

  if ((rc = parse_opts(a->host, a->ctx, a->source, &h->opts)) != 0 ||
      (rc = load_query(h, a->stream)) != 0)
    goto fail;
  if (a->cursor && !(h->cursor = strdup(a->cursor))) {
    a->host->error(a->ctx, "pgsql: out of memory");
    rc = SAMSPOR_ENOMEM;
    goto fail;
  }
  if ((rc = pg_connect(h->host, h->ctx, &h->opts, &h->logto, &h->conn)) != 0)
    goto fail;
  if ((rc = begin(h->host, h->ctx, h->conn, &h->opts)) != 0 ||
      (rc = describe(h->host, h->ctx, h->conn, h->query, h->query_src,
                     &desc)) != 0 ||
      (rc = discover ? take_all_columns(h, desc)
                     : resolve_fields(h, desc, a->fields)) != 0)
    goto fail;
  h->nparams = PQnparams(desc);
  if (h->nparams == 0 && a->cursor_field >= 0)
    h->host->log(h->ctx, SAMSPOR_LOG_WARN,
                 "pgsql: the stream has a cursor but %s does not use $1: "
                 "every run reads every row (the core skips the ones "
                 "already loaded)",
                 h->query_src);
  PQclear(desc);
  *handle = h;
  return 0;
fail:
  PQclear(desc);
  pgsql_close(h);
  return rc;
}

static int pgsql_open(const samspor_open_args *a, void **handle) {
  return open_handle(a, handle, 0);
}

static int pgsql_discover(const samspor_open_args *a, void **handle,
                          const char *const **names, size_t *nnames) {
  int rc = open_handle(a, handle, 1);
  if (rc)
    return rc;
  pgsql_handle *h = *handle;
  *names = (const char *const *)h->names;
  *nnames = h->nfields;
  return 0;
}

/* Hand the rows of `res` to the core.  Returns 0, or the host's negative
 * stop code. */
static int emit(pgsql_handle *h, const PGresult *res) {
  const samspor_host *host = h->host;
  int n = PQntuples(res), r, rc;
  size_t i;

  for (r = 0; r < n; r++) {
    h->rows++;
    snprintf(h->pos, sizeof h->pos, "row %llu", h->rows);
    if ((rc = host->record_begin(h->sink, h->pos)) < 0)
      return rc;
    for (i = 0; i < h->nfields; i++) {
      int c = h->col[i];
      if (PQgetisnull(res, r, c))
        host->field(h->sink, i, NULL, 0);
      else
        host->field(h->sink, i, PQgetvalue(res, r, c),
                    (size_t)PQgetlength(res, r, c));
    }
    if ((rc = host->record_end(h->sink)) < 0)
      return rc;
  }
  return 0;
}

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int pgsql_read(void *handle) {
  pgsql_handle *h = handle;
  const char *params[1] = {h->cursor};
  double t0 = seconds_now();
  PGresult *res;
  int rc = 0, ok;

  if (!PQsendQueryPrepared(h->conn, "", h->nparams, params, NULL, NULL, 0))
    return pg_fail(h->host, h->ctx, h->conn, NULL, "cannot send the query",
                   NULL, NULL);
  h->busy = 1;
#ifdef LIBPQ_HAS_CHUNK_MODE
  ok = PQsetChunkedRowsMode(h->conn, (int)h->opts.fetch_size);
#else
  ok = PQsetSingleRowMode(h->conn);
#endif
  if (!ok) {
    h->host->error(h->ctx, "pgsql: libpq refused to stream the result");
    return SAMSPOR_EFAIL;
  }
  while ((res = PQgetResult(h->conn)) != NULL) {
    ExecStatusType st = PQresultStatus(res);
    if (st == PGRES_SINGLE_TUPLE || st == PGRES_TUPLES_OK
#ifdef LIBPQ_HAS_CHUNK_MODE
        || st == PGRES_TUPLES_CHUNK
#endif
    ) {
      if (rc == 0 && (rc = emit(h, res)) != 0) {
        PQclear(res);
        return rc; /* the core's stop: close() cancels the query */
      }
    } else if (rc == 0) {
      /* An error ends the result: the loop drains to its end. */
      char what[320];
      snprintf(what, sizeof what, "%s failed after %llu rows", h->query_src,
               h->rows);
      rc = pg_fail(h->host, h->ctx, h->conn, res, what, h->query, h->query_src);
    }
    PQclear(res);
  }
  h->busy = 0;
  if (rc)
    return rc;
  if ((rc = pg_command(h->host, h->ctx, h->conn, "COMMIT",
                       "cannot end the transaction")) != 0)
    return rc;
  h->host->log(h->ctx, SAMSPOR_LOG_INFO, "pgsql: read %llu rows in %.1f s",
               h->rows, seconds_now() - t0);
  return 0;
}

/* `check`: the settings parse as open() parses them, reaching nothing. */
static int pgsql_validate(const samspor_check_args *a) {
  pgsql_opts o;

  if (!samspor_abi_fits(a->host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  return parse_opts(a->host, a->ctx, a->source, &o);
}

static int pgsql_check(const samspor_check_args *a) {
  pgsql_logto logto = {a->host, a->ctx};
  pgsql_opts o;
  PGconn *conn;
  PGresult *res;
  int rc;

  if (!samspor_abi_fits(a->host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  if ((rc = parse_opts(a->host, a->ctx, a->source, &o)) != 0 ||
      (rc = pg_connect(a->host, a->ctx, &o, &logto, &conn)) != 0)
    return rc;
  res = PQexec(conn, "SELECT 1");
  if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
      strcmp(PQgetvalue(res, 0, 0), "1") != 0)
    rc = pg_fail(a->host, a->ctx, conn, res, "SELECT 1 failed", NULL, NULL);
  PQclear(res);
  PQfinish(conn);
  return rc;
}

static const samspor_plugin pgsql_plugin = {
    .struct_size = sizeof(samspor_plugin),
    .abi_version = SAMSPOR_ABI_VERSION,
    .name = "pgsql",
    .version = PGSQL_PLUGIN_VERSION,
    .description = "A SQL query against another PostgreSQL database, "
                   "streamed in one read-only snapshot, with $1 bound to "
                   "the stored cursor",
    .source_options = pgsql_source_options,
    .stream_options = pgsql_stream_options,
    .open = pgsql_open,
    .read = pgsql_read,
    .close = pgsql_close,
    .check = pgsql_check,
    .validate = pgsql_validate,
    .discover = pgsql_discover,
};

SAMSPOR_PLUGIN_EXPORT(pgsql_plugin)
