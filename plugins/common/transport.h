/*
 * transport.h — how file-based plugins (csv, xml) reach their files: a local
 * path, file://, https:// or sftp://, all through libcurl (local paths
 * through plain stdio, which is faster).  Compiled into each plugin that
 * uses it (plugins never link against the core), so everything here is
 * hidden and reached only through the plugin's own code.
 *
 * Streaming: fetch() pushes the bytes of one file through a callback as
 * they arrive; nothing is ever held whole in memory.
 *
 * Ownership: spp_transport owns its curl handle and settings copies; a
 * file list returned by list() is owned by the caller (spp_files_free).
 *
 * Errors follow the ABI: 0 or a negative SAMSPOR_E* code, with a message
 * through host->error() that names the URL (without credentials) and never
 * a field value.  Temporary failures (connect, timeout, 5xx, 429) are
 * retried inside the call with capped exponential backoff and full jitter
 * (429 honours Retry-After); still failing, they return SAMSPOR_ETEMP.
 */
#ifndef SAMSPOR_TRANSPORT_H
#define SAMSPOR_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "http_util.h"
#include "samspor-plugin.h"

/*
 * The source options of the transport (url, timeouts, TLS, SFTP
 * credentials, headers, retries), as option-table rows to put at the top
 * of a plugin's own source table, so that one table still declares every
 * option:
 *
 *   typedef struct csv_conf { spp_transport_conf tp; int encoding; ... };
 *   static const samspor_option csv_source_options[] = {
 *       SPP_TRANSPORT_OPTION_ROWS(csv_conf, tp),
 *       {.name = "encoding", ...},
 *       {.name = NULL}};
 *
 * host->fill then fills the plugin's struct, transport part included, and
 * spp_transport_open takes that part.
 */
typedef struct spp_transport_conf {
  const char *url;
  int files;      /* newest|all */
  int if_missing; /* fail|retry|skip */
  const char *ca_file, *client_cert_file, *client_key_file, *username,
      *password, *private_key_file, *known_hosts_file;
  samspor_strlist headers;
  const char *headers_file;
  double connect_timeout, timeout; /* seconds */
  long long retry_attempts;
  double retry_backoff, retry_max_backoff, min_age; /* seconds */
} spp_transport_conf;

/* clang-format off */
#define SPP_TRANSPORT_OPTION_ROWS(T, M)                                         \
    {.name = "url",                                                            \
     SAMSPOR_AT(T, M.url),                                                     \
     .type = SAMSPOR_OPT_PATH,                                                 \
     .flags = SAMSPOR_OPT_REQUIRED | SAMSPOR_OPT_URL,                          \
     .help = "Where the data is: a local path (relative to the configuration " \
             "file's directory), file:///path, https://host/path or "          \
             "sftp://host/path. The last path segment of a local path or an "  \
             "sftp:// URL may be a glob (unge_*.csv). Put credentials in "     \
             "username and password_file, not in the URL."},                   \
    {.name = "files",                                                          \
     SAMSPOR_AT(T, M.files),                                                   \
     .type = SAMSPOR_OPT_ENUM,                                                 \
     .def = "newest",                                                          \
     .choices = "newest|all",                                                  \
     .help = "Which files a glob in url selects: the newest by "               \
             "modification time, or all of them, read in name order. In "      \
             "append mode a file already loaded (same name, size and "         \
             "modification time) is not loaded again."},                       \
    {.name = "if_missing",                                                     \
     SAMSPOR_AT(T, M.if_missing),                                              \
     .type = SAMSPOR_OPT_ENUM,                                                 \
     .def = "fail",                                                            \
     .choices = "fail|retry|skip",                                             \
     .help = "When no file matches url (a local path or sftp://): fail "       \
             "(exit status 1), retry (exit status 75, so the daemon tries "    \
             "again with its backoff: for a file that arrives late) or "       \
             "skip (exit status 0, the run recorded as skipped)."},            \
    {.name = "ca_file",                                                        \
     SAMSPOR_AT(T, M.ca_file),                                                 \
     .type = SAMSPOR_OPT_PATH,                                                 \
     .help = "PEM file of the certificate authorities to trust for an "        \
             "https:// server (default: the system's). The server's "          \
             "certificate and name are always verified."},                     \
    {.name = "client_cert_file",                                               \
     SAMSPOR_AT(T, M.client_cert_file),                                        \
     .type = SAMSPOR_OPT_PATH,                                                 \
     .help = "PEM client certificate, for https:// servers that require "      \
             "mutual TLS (such as Serviceplatformen). Its key is "             \
             "client_key_file, or this file when that is not given."},         \
    {.name = "client_key_file",                                                \
     SAMSPOR_AT(T, M.client_key_file),                                         \
     .type = SAMSPOR_OPT_PATH,                                                 \
     .help = "Unencrypted PEM private key of client_cert_file; make it "       \
             "readable only by the user running samspor."},                    \
    {.name = "username",                                                       \
     SAMSPOR_AT(T, M.username),                                                \
     .type = SAMSPOR_OPT_STRING,                                               \
     .help = "User name: the SFTP login (required for sftp://), or with "      \
             "password HTTP basic authentication for https://."},              \
    {.name = "password",                                                       \
     SAMSPOR_AT(T, M.password),                                                \
     .type = SAMSPOR_OPT_STRING,                                               \
     .flags = SAMSPOR_OPT_SECRET,                                              \
     .help = "Password of username, for an SFTP login or HTTP basic "          \
             "authentication. For SFTP prefer private_key_file."},             \
    {.name = "private_key_file",                                               \
     SAMSPOR_AT(T, M.private_key_file),                                        \
     .type = SAMSPOR_OPT_PATH,                                                 \
     .help = "Unencrypted private key (OpenSSH or PEM format: ed25519, "       \
             "ECDSA or RSA) for an SFTP login by public key; make it "         \
             "readable only by the user running samspor."},                    \
    {.name = "known_hosts_file",                                               \
     SAMSPOR_AT(T, M.known_hosts_file),                                        \
     .type = SAMSPOR_OPT_PATH,                                                 \
     .help = "OpenSSH known_hosts file with the SFTP server's host key "       \
             "(written [host]:port for a port other than 22), e.g. from "      \
             "ssh-keyscan once its fingerprint is checked. Required for "      \
             "sftp://: an unknown or changed host key is refused."},           \
    {.name = "headers",                                                        \
     SAMSPOR_AT(T, M.headers),                                                 \
     .type = SAMSPOR_OPT_STRLIST,                                              \
     .flags = SAMSPOR_OPT_HEADERS,                                             \
     .help = "Extra HTTP request headers for https://, each \"Name: "          \
             "value\" (e.g. \"SOAPAction: urn:hent\"). A header that carries " \
             "a secret (Authorization, Cookie, *key*, *token*, *secret*) is "  \
             "refused here: put it in headers_file."},                         \
    {.name = "headers_file",                                                   \
     SAMSPOR_AT(T, M.headers_file),                                            \
     .type = SAMSPOR_OPT_PATH,                                                 \
     .help = "A file of request headers for https://, one \"Name: value\" a " \
             "line (blank lines and lines starting with # ignored), for "      \
             "headers that carry a secret (\"X-Api-Key: ...\"). It must not "  \
             "be readable by group or others. Sent only to url's host."},      \
    {.name = "connect_timeout",                                                \
     SAMSPOR_AT(T, M.connect_timeout),                                         \
     .type = SAMSPOR_OPT_DURATION,                                             \
     .def = "30s",                                                             \
     .min = 1,                                                                 \
     .max = 3600,                                                              \
     .help = "Longest wait for a connection (TCP, TLS and SSH handshakes) "    \
             "to a remote source; longer counts as a temporary failure."},     \
    {.name = "timeout",                                                        \
     SAMSPOR_AT(T, M.timeout),                                                 \
     .type = SAMSPOR_OPT_DURATION,                                             \
     .def = "30m",                                                             \
     .min = 1,                                                                 \
     .max = 604800,                                                            \
     .help = "Longest one transfer from a remote source may take, "            \
             "including the time spent loading what it delivers; longer "      \
             "counts as a temporary failure."},                                \
    {.name = "retry_attempts",                                                 \
     SAMSPOR_AT(T, M.retry_attempts),                                          \
     .type = SAMSPOR_OPT_INT,                                                  \
     .def = "3",                                                               \
     .min = 0,                                                                 \
     .max = 20,                                                                \
     .help = "How often a temporary failure of a remote source (cannot "       \
             "connect, timeout, HTTP 5xx or 429) is retried within the run "   \
             "before any of its data was read; still failing, the run "        \
             "ends with exit status 75 (worth retrying later)."},              \
    {.name = "retry_backoff",                                                  \
     SAMSPOR_AT(T, M.retry_backoff),                                           \
     .type = SAMSPOR_OPT_DURATION,                                             \
     .def = "1s",                                                              \
     .min = 0,                                                                 \
     .max = 3600,                                                              \
     .help = "Limit of the wait before the first retry; it doubles for "       \
             "each further one, up to retry_max_backoff. The wait is a "       \
             "random time below the limit (full jitter)."},                    \
    {.name = "retry_max_backoff",                                              \
     SAMSPOR_AT(T, M.retry_max_backoff),                                       \
     .type = SAMSPOR_OPT_DURATION,                                             \
     .def = "30s",                                                             \
     .min = 0,                                                                 \
     .max = 86400,                                                             \
     .help = "Longest wait between two retries; also the longest "             \
             "Retry-After of an HTTP 429 or 503 answer that is waited for "    \
             "(a longer one ends the run with exit status 75)."},              \
    {.name = "min_age",                                                        \
     SAMSPOR_AT(T, M.min_age),                                                 \
     .type = SAMSPOR_OPT_DURATION,                                             \
     .def = "0",                                                               \
     .min = 0,                                                                 \
     .max = 604800,                                                            \
     .help = "Settle time: a file modified more recently than this (by "       \
             "its modification time: local files, sftp:// and https:// "      \
             "when the server gives Last-Modified) is not read yet and the "   \
             "run ends with exit status 75, so the daemon retries it: for "    \
             "a partner that writes its export in place. It is also the "     \
             "time an empty csv file (where a header is expected) or an "      \
             "xml document that ends early counts as still being written "     \
             "(exit status 75) rather than broken (1); 5 minutes when "        \
             "min_age is 0."}
/* clang-format on */

typedef struct spp_file {
  char *name;        /* base name, for positions ("unge_2026.csv") and state */
  char *url;         /* full URL (credentials included as configured) or local
                        path to fetch; never put it in a message as it is: see
                        spp_url_redact() */
  int64_t size;      /* bytes, -1 when unknown */
  int64_t mtime;     /* modification time (unix seconds), -1 when unknown */
  long mtime_ns;     /* nanoseconds part of mtime (local files; else 0), so
                        that "newest" can tell apart files of the same second */
  int has_ino;       /* dev and ino are known (local files) */
  uint64_t dev, ino; /* identity of the file the listing saw, so that one
                        replaced before it is opened is noticed */
} spp_file;

typedef struct spp_files {
  spp_file *v; /* owned, n entries */
  size_t n;
} spp_files;

typedef struct spp_transport spp_transport;
typedef struct spp_reader spp_reader;

/* Called with each piece of a file's bytes as it arrives.  Return 0 to go
 * on, or a negative code to stop the transfer (returned by fetch()). */
typedef int (*spp_transport_data_fn)(void *ud, const char *buf, size_t len);

/*
 * Take the transport options `c` (filled from the SPP_TRANSPORT_OPTION_ROWS
 * of the plugin's source table: url, timeouts, TLS, SFTP credentials...)
 * and check them: files named must be readable, sftp://
 * needs username, known_hosts_file and a key or password.  Nothing is
 * contacted yet.  Returns 0 and *out (free with spp_transport_close), or
 * SAMSPOR_EINVAL / SAMSPOR_ENOMEM after host->error().  `host` and `ctx`
 * are borrowed and must outlive the transport; every option value is
 * copied.
 */
int spp_transport_open(const samspor_host *host, samspor_ctx *ctx,
                       const spp_transport_conf *c, spp_transport **out);
/* Free t (NULL is fine), closing its connections.  Never fails. */
void spp_transport_close(spp_transport *t);

/* The configured url for messages, without credentials.  Borrowed: valid
 * until spp_transport_close. */
const char *spp_transport_url(const spp_transport *t);

/*
 * The url matched no file (list_rc 0 and no files), or its local path or
 * directory does not exist (list_rc SAMSPOR_ENOENT): the code if_missing
 * asks for after host->error naming the url: SAMSPOR_ENOENT (fail),
 * SAMSPOR_ETEMP (retry) or SAMSPOR_ESKIP (skip).  Any other list_rc is
 * returned as it is.  plugin names the caller in the message ("csv").
 */
int spp_transport_missing(spp_transport *t, int list_rc, const char *plugin);

/* The min_age option, in seconds (0: none). */
double spp_transport_min_age(const spp_transport *t);

/* The settle time, in seconds: how long a file that is empty where a
 * header is expected (csv) or a document that ends early (xml) counts as
 * an export still being written (SAMSPOR_ETEMP) rather than a broken one:
 * min_age, or SPP_SETTLE_DEFAULT seconds when min_age is 0. */
#define SPP_SETTLE_DEFAULT 300
double spp_transport_settle(const spp_transport *t);

/* Nonzero when the `files` option says "all" (else "newest"). */
int spp_transport_files_all(const spp_transport *t);

/* Nonzero when the url is a local path or file:// URL. */
int spp_transport_is_local(const spp_transport *t);

/*
 * The files the url names: one file, or the matches of a glob in its last
 * path segment (local: glob(3); sftp: a directory listing, then a stat of
 * each match for its size and mtime; https: no globs, one file, whose size
 * and mtime come from a HEAD request when the server answers one).
 * `all`: every match in name order; else only the newest by mtime (on a
 * tie, the last by name).  Names starting with '.' match only a pattern
 * that starts with '.'.  Returns 0 with *out (owned by the caller: free
 * with spp_files_free; possibly empty, n == 0, when a glob matches
 * nothing), or a negative code after host->error() (a single file that
 * does not exist: SAMSPOR_ENOENT).
 */
int spp_transport_list(spp_transport *t, int all, spp_files *out);
/* Free the entries of f and empty it (f itself is the caller's). */
void spp_files_free(spp_files *f);

/*
 * Stream one file's bytes to fn, as they arrive, in pieces of at most
 * 256 KiB.  Returns 0 at its end, fn's own negative code when fn stopped
 * the transfer, or a code after host->error().
 *
 * Retries: a temporary failure (cannot connect, timeout, connection lost,
 * HTTP 5xx, HTTP 429) is retried inside the call, with capped exponential
 * backoff and full jitter (retry_attempts, retry_backoff,
 * retry_max_backoff; a Retry-After of a 429 or 503 is waited for exactly,
 * when not longer than retry_max_backoff), but only as long as fn has been
 * given no byte of the file yet.  Once fn has bytes, the transfer cannot
 * start over without handing it the same bytes twice, so a failure then
 * returns SAMSPOR_ETEMP at once, and the run is retried later as a whole.
 * Still failing after the retries: SAMSPOR_ETEMP.  Permanent failures are
 * not retried: HTTP 401 and a refused login or client certificate
 * (SAMSPOR_EAUTH), any other HTTP 4xx (SAMSPOR_EFAIL naming URL and
 * status), an untrusted server certificate or host key (SAMSPOR_EFAIL), no
 * such file (SAMSPOR_ENOENT).
 *
 * Source files are only ever read: never modified, renamed or deleted.
 */
int spp_transport_fetch(spp_transport *t, const spp_file *f,
                        spp_transport_data_fn fn, void *ud);

/*
 * POST `body` (len bytes; copied) to the url (https:// only: SOAP) with
 * the configured headers and stream the response to fn, with fetch()'s
 * retries.  Returns 0, or a code (4xx other than 429: SAMSPOR_EFAIL naming
 * the status; 401: SAMSPOR_EAUTH).
 */
int spp_transport_post(spp_transport *t, const char *body, size_t len,
                       spp_transport_data_fn fn, void *ud);

/*
 * Pull-style reading, for a consumer that asks for bytes when it wants
 * them (a parser that must stop after a header, libxml2's xmlReaderForIO)
 * instead of having them pushed: open a reader on one file (or a POST),
 * call spp_reader_read until it returns 0, close it.  The same retry rules
 * as fetch(): a failure before the first byte was returned is retried,
 * after it returns SAMSPOR_ETEMP.  Memory stays bounded (the transfer is
 * paused while unread bytes wait).  One reader may be open per transport
 * at a time.
 *
 * spp_transport_read_open: for a local file, f->size and f->mtime are
 * updated from the file actually opened (what is read, not what the
 * listing saw).  Returns 0 with *out (close with spp_reader_close), or a
 * code after host->error().  Remote transfers start on the first read.
 *
 * A file that changes while it is read is never delivered as if whole:
 * SAMSPOR_ETEMP (exit 75, the run is retried later) when a local file was
 * replaced between the listing and the open (other inode, size or mtime),
 * or when, at its end, the bytes read differ from the size at the open, or
 * its size or mtime changed, or its path now names another file; for
 * sftp:// when the bytes read differ from the size the listing announced
 * or a stat after the transfer gives another size or mtime.  A file
 * modified less than min_age ago is not opened (SAMSPOR_ETEMP).
 */
int spp_transport_read_open(spp_transport *t, spp_file *f, spp_reader **out);
int spp_transport_post_open(spp_transport *t, const char *body, size_t len,
                            spp_reader **out);
/* Up to `cap` bytes into buf.  Returns the count (> 0), 0 at the end of
 * the data, or a negative code after host->error(). */
long long spp_reader_read(spp_reader *r, char *buf, size_t cap);
/* Close the reader (NULL is fine), abandoning a transfer in progress. */
void spp_reader_close(spp_reader *r);

/*
 * Reach the source and verify credentials without transferring data, for
 * `samspor check --connect`: list the url (TLS handshake with the client
 * certificate and an HTTP HEAD for https, SSH login, host key check and a
 * stat or directory listing for sftp; open for local files) and require at
 * least one file.  Tried once: no retries, so that a check answers
 * quickly.  Returns 0, or a code after host->error() (unreachable:
 * SAMSPOR_ETEMP).
 */
int spp_transport_check(spp_transport *t);

/* ---- pure helpers (also for tests/unit/test_transport.c) -------------- */

/* A copy of url without the user name and password of its authority
 * ("sftp://u:pw@host/p" -> "sftp://host/p"), for messages.  Returns a
 * malloc'd string (caller frees) or NULL when out of memory. */
char *spp_url_redact(const char *url);

/* spp_jitter01, spp_http_status_temporary, spp_http_reason: see
 * http_util.h. */

/*
 * The names in a directory listing (one name a line, "\n" or "\r\n"
 * terminated, as curl's SFTP DIRLISTONLY gives them) that match the
 * fnmatch(3) pattern; "." and ".." never match and a leading '.' must be
 * matched explicitly.  Returns 0 with *names (n entries, in listing order;
 * free each and the array) or SAMSPOR_ENOMEM.
 */
int spp_listing_match(const char *listing, size_t len, const char *pattern,
                      char ***names, size_t *n);

/*
 * Whether `name` is a directory according to a long directory listing
 * ("ls -l" style lines, as an SFTP server's long names are: the type in
 * the first column, the name last).  Nonzero only when a line ending in
 * " name" starts with 'd' and no other line ending so says otherwise.
 */
int spp_listing_is_dir(const char *listing, size_t len, const char *name);

/* Keep in f every file in name order (all), or only the newest (largest
 * mtime, then mtime_ns, then name), freeing the others. */
void spp_files_select(spp_files *f, int all);

/*
 * Decode the %XX escapes of s[0..len) into a new string.  Returns 0 with
 * *out (malloc'd, caller frees), SAMSPOR_EINVAL for a malformed escape or
 * %00, or SAMSPOR_ENOMEM.
 */
int spp_percent_decode(const char *s, size_t len, char **out);

#endif
