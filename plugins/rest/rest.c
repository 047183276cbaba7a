#include "config.h"

/*
 * rest.c — the rest source plugin: REST/JSON APIs over HTTPS, the samspor
 * plugin ABI over rest_http (requests), rest_json (pages, paths, values)
 * and rest_util (Link headers, ${cursor}, query strings).
 *
 * One stream requests page after page until the pagination says there is
 * no next one.  Each page is parsed whole with jansson (a page is bounded
 * by max_page_size), its records handed to the core, and freed before the
 * next request: memory depends on the largest page, not on how many pages
 * there are.
 *
 * Privacy: messages name URLs (redacted: no credentials, no query values),
 * page and item numbers, paths and JSON types; never a value from a page,
 * and never jansson's own error text, which quotes the document.
 */

#include "samspor-plugin.h"

#include "http_util.h"
#include "names.h"
#include "rest_http.h"
#include "rest_json.h"
#include "rest_util.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define REST_PLUGIN_VERSION "0.1.0"
#define MAX_BODY_FILE (1024 * 1024) /* a request body template, at most */
#define URL_TEXT 512                /* a redacted URL in a message */
#define ERR_TEXT 512                /* a sentence from rest_json/rest_util */

typedef enum pagination {
  PG_NONE,
  PG_NEXT_LINK,   /* the next page's URL is in the body, at next_path */
  PG_LINK_HEADER, /* ... in a Link: <...>; rel="next" header */
  PG_PAGE,        /* page_param=1, 2, 3 ... */
  PG_OFFSET,      /* offset_param=0, n, 2n ... */
  PG_CURSOR       /* cursor_param=<token at cursor_path of the last page> */
} pagination;

/* The source settings, checked. */
typedef struct rest_opts {
  const char *url; /* template with ${cursor}; borrowed from settings */
  int post;        /* method = POST */
  char *body;      /* owned body template (body or body_file), or NULL */
  pagination pg;
  rest_path next_path;   /* owned; next_link */
  rest_path cursor_path; /* owned; cursor */
  const char *page_param, *offset_param, *limit_param, *cursor_param;
  long long page_size;  /* page, offset, cursor: records asked per page */
  long long start_page; /* page: the first page's number */
  long long max_pages;  /* safety cap on requests per read */
  char **file_headers;  /* owned: the headers_file's lines (secrets) */
  size_t nfile_headers;
  const char **all_headers; /* owned array: headers, then file_headers */
  rest_http_config http;
} rest_opts;

/* One open stream. */
typedef struct rest_handle {
  const samspor_host *host; /* borrowed, valid until close */
  samspor_ctx *ctx;
  samspor_sink *sink;
  rest_opts o;
  rest_http *http; /* owned */

  rest_path records; /* owned: where a page's records are */
  rest_path *fields; /* owned: one compiled path per requested field */
  json_t **vals;     /* the current record's values (borrowed from page) */
  const char *const *names; /* the fields as configured (the core's) */
  size_t nfields;
  char **owned; /* discover: the field names found, owned; else NULL */
  size_t nowned;

  char *base_url; /* owned: url with ${cursor} substituted */
  char *body;     /* owned: body with ${cursor} substituted, or NULL */
  size_t body_len;
  rest_scratch scratch; /* value texts */
  char pos[64];         /* "page N item M" */
  char msg[160];        /* a reject's message */
} rest_handle;

/* ---- settings --------------------------------------------------------- */

/* The source settings as written, filled by host->fill from the table. */
typedef struct rest_conf {
  const char *url;
  int method; /* GET|POST */
  const char *body, *body_file;
  samspor_strlist headers;
  const char *headers_file, *ca_file, *client_cert_file, *client_key_file;
  int auth; /* none|bearer|basic|oauth2: the order of rest_auth */
  const char *token, *username, *password, *token_url, *client_id,
      *client_secret, *scope;
  int pagination; /* the order of enum pagination */
  const char *next_path, *page_param, *offset_param, *limit_param,
      *cursor_param, *cursor_path;
  long long start_page, page_size, max_pages, max_page_size, retry_attempts;
  double connect_timeout, timeout, retry_backoff, retry_max_backoff;
} rest_conf;

#define AT(member) SAMSPOR_AT(rest_conf, member)

static const samspor_option rest_source_options[] = {
    {.name = "url",
     AT(url),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_REQUIRED | SAMSPOR_OPT_URL,
     .help = "The first page's https:// URL. ${cursor} is replaced by the "
             "stream's stored cursor, URL-encoded (empty when there is "
             "none): \"https://api.example.invalid/v1/tenancies?"
             "modified_since=${cursor}\"."},
    {.name = "method",
     AT(method),
     .type = SAMSPOR_OPT_ENUM,
     .def = "GET",
     .choices = "GET|POST",
     .help = "HTTP method of every page request."},
    {.name = "body",
     AT(body),
     .type = SAMSPOR_OPT_STRING,
     .help = "Request body for method POST (JSON unless headers set a "
             "Content-Type); ${cursor} is replaced by the cursor, escaped "
             "for the inside of a JSON string."},
    {.name = "body_file",
     AT(body_file),
     .type = SAMSPOR_OPT_PATH,
     .help = "File holding the request body (at most 1 MiB), instead of "
             "body; ${cursor} as in body."},
    {.name = "headers",
     AT(headers),
     .type = SAMSPOR_OPT_STRLIST,
     .flags = SAMSPOR_OPT_HEADERS,
     .help = "Extra request headers, each \"Name: value\". Not sent to "
             "the OAuth2 token endpoint. A header that carries a secret "
             "(Authorization, Cookie, *key*, *token*, *secret*) is refused "
             "here: put it in headers_file."},
    {.name = "headers_file",
     AT(headers_file),
     .type = SAMSPOR_OPT_PATH,
     .help = "A file of request headers, one \"Name: value\" a line (blank "
             "lines and lines starting with # ignored), for headers that "
             "carry a secret (\"X-Api-Key: ...\"). It must not be readable "
             "by group or others. Sent like headers, and only to url's "
             "host."},
    {.name = "ca_file",
     AT(ca_file),
     .type = SAMSPOR_OPT_PATH,
     .help = "PEM file of the CA certificates to verify the server with "
             "(default: the system's). Verification is always on."},
    {.name = "client_cert_file",
     AT(client_cert_file),
     .type = SAMSPOR_OPT_PATH,
     .help = "PEM client certificate for mutual TLS."},
    {.name = "client_key_file",
     AT(client_key_file),
     .type = SAMSPOR_OPT_PATH,
     .help = "PEM key of client_cert_file, when not in that file; keep it "
             "readable only by samspor."},
    {.name = "auth",
     AT(auth),
     .type = SAMSPOR_OPT_ENUM,
     .def = "none",
     .choices = "none|bearer|basic|oauth2",
     .help = "Authentication: none; bearer (token); basic (username, "
             "password); oauth2 client credentials (token_url, client_id, "
             "client_secret, scope), the token reused until shortly before "
             "it expires and renewed once when the API answers 401."},
    {.name = "token",
     AT(token),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_SECRET,
     .help = "Bearer token for auth = \"bearer\"."},
    {.name = "username",
     AT(username),
     .type = SAMSPOR_OPT_STRING,
     .help = "User name for auth = \"basic\"."},
    {.name = "password",
     AT(password),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_SECRET,
     .help = "Password for auth = \"basic\"."},
    {.name = "token_url",
     AT(token_url),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_URL,
     .help = "OAuth2 token endpoint (https://) for auth = \"oauth2\"."},
    {.name = "client_id",
     AT(client_id),
     .type = SAMSPOR_OPT_STRING,
     .help = "OAuth2 client id (sent with HTTP basic authentication to the "
             "token endpoint)."},
    {.name = "client_secret",
     AT(client_secret),
     .type = SAMSPOR_OPT_STRING,
     .flags = SAMSPOR_OPT_SECRET,
     .help = "OAuth2 client secret."},
    {.name = "scope",
     AT(scope),
     .type = SAMSPOR_OPT_STRING,
     .help = "OAuth2 scope to ask for (space-separated), or unset."},
    {.name = "pagination",
     AT(pagination),
     .type = SAMSPOR_OPT_ENUM,
     .def = "none",
     .choices = "none|next_link|link_header|page|offset|cursor",
     .help = "How the next page is found: none (one request); next_link "
             "(its URL in the body at next_path); link_header (an RFC 8288 "
             "Link header with rel=\"next\"); page (page_param counts up "
             "from start_page); offset (offset_param counts records); "
             "cursor (the token at cursor_path is sent as cursor_param). "
             "page and offset stop at a page with fewer than page_size "
             "records, so page_size must not exceed the API's own maximum; "
             "the others stop when there is no next page."},
    {.name = "next_path",
     AT(next_path),
     .type = SAMSPOR_OPT_STRING,
     .help = "next_link: dotted path of the next page's URL in the body "
             "(\"links.next\"; write \\\\. for a dot inside a key, as in "
             "\"@odata\\\\.nextLink\"). Absent, null or \"\": last page."},
    {.name = "page_param",
     AT(page_param),
     .type = SAMSPOR_OPT_STRING,
     .def = "page",
     .help = "page: query parameter of the page number."},
    {.name = "start_page",
     AT(start_page),
     .type = SAMSPOR_OPT_INT,
     .def = "1",
     .min = 0,
     .max = 1000000,
     .help = "page: number of the first page."},
    {.name = "offset_param",
     AT(offset_param),
     .type = SAMSPOR_OPT_STRING,
     .def = "offset",
     .help = "offset: query parameter of the number of records to skip."},
    {.name = "limit_param",
     AT(limit_param),
     .type = SAMSPOR_OPT_STRING,
     .def = "limit",
     .help = "page, offset, cursor: query parameter sent with page_size; "
             "\"\" sends none."},
    {.name = "page_size",
     AT(page_size),
     .type = SAMSPOR_OPT_INT,
     .def = "100",
     .min = 1,
     .max = 1000000,
     .help = "page, offset, cursor: records per page."},
    {.name = "cursor_param",
     AT(cursor_param),
     .type = SAMSPOR_OPT_STRING,
     .def = "cursor",
     .help = "cursor: query parameter that carries the token to the next "
             "request."},
    {.name = "cursor_path",
     AT(cursor_path),
     .type = SAMSPOR_OPT_STRING,
     .help = "cursor: dotted path of the next token in the body "
             "(\"meta.next_cursor\"). Absent, null or \"\": last page."},
    {.name = "max_pages",
     AT(max_pages),
     .type = SAMSPOR_OPT_INT,
     .def = "100000",
     .min = 1,
     .max = 1e9,
     .help = "Safety cap: a read that would request more pages fails "
             "(nothing is loaded) rather than loop for ever."},
    {.name = "max_page_size",
     AT(max_page_size),
     .type = SAMSPOR_OPT_INT,
     .def = "16777216",
     .min = 1024,
     .max = 1073741824,
     .help = "Largest response in bytes (after decompression); a larger "
             "page fails the stream. Each page is parsed whole: a page whose "
             "parsed form would take more than 24 times its size (very many "
             "tiny values) fails too, so one page takes at most about 26 "
             "times this in memory."},
    {.name = "connect_timeout",
     AT(connect_timeout),
     .type = SAMSPOR_OPT_DURATION,
     .def = "30s",
     .min = 1,
     .max = 3600,
     .help = "Time allowed to connect (TCP and TLS)."},
    {.name = "timeout",
     AT(timeout),
     .type = SAMSPOR_OPT_DURATION,
     .def = "5m",
     .min = 1,
     .max = 86400,
     .help = "Time allowed for one whole request, response included."},
    {.name = "retry_attempts",
     AT(retry_attempts),
     .type = SAMSPOR_OPT_INT,
     .def = "3",
     .min = 0,
     .max = 100,
     .help = "Retries of a request that failed temporarily (connect error, "
             "timeout, HTTP 408, 429, 5xx) before the run ends with exit "
             "status 75 (worth retrying later)."},
    {.name = "retry_backoff",
     AT(retry_backoff),
     .type = SAMSPOR_OPT_DURATION,
     .def = "1s",
     .min = 0,
     .max = 3600,
     .help = "Delay before the first retry; it doubles with each retry, "
             "with full jitter."},
    {.name = "retry_max_backoff",
     AT(retry_max_backoff),
     .type = SAMSPOR_OPT_DURATION,
     .def = "30s",
     .min = 0,
     .max = 86400,
     .help = "Longest wait between two retries; also the longest "
             "Retry-After of an HTTP 429 or 503 answer that is waited for "
             "(a longer one ends the run with exit status 75)."},
    {.name = NULL},
};

/* The stream settings, filled by host->fill. */
typedef struct rest_stream_conf {
  const char *records;
} rest_stream_conf;

static const samspor_option rest_stream_options[] = {
    {.name = "records",
     SAMSPOR_AT(rest_stream_conf, records),
     .type = SAMSPOR_OPT_STRING,
     .def = "",
     .help = "Dotted path of the array of records in each page "
             "(\"data.items\"); \"\" or \".\" when the page is the array. "
             "Each column's from is a dotted path inside one record "
             "(\"tenant.cpr\", \"phones.0.number\"); objects and arrays "
             "arrive as compact JSON text."},
    {.name = NULL},
};

/* Release what read_opts allocated. */
static void free_opts(rest_opts *o) {
  free(o->body);
  o->body = NULL;
  spp_headers_free(o->file_headers, o->nfile_headers);
  o->file_headers = NULL;
  o->nfile_headers = 0;
  free(o->all_headers);
  o->all_headers = NULL;
  rest_path_free(&o->next_path);
  rest_path_free(&o->cursor_path);
}

/* Whether s starts with https:// (any case). */
static int is_https(const char *s) {
  return s && !strncasecmp(s, "https://", 8) && s[8];
}

/* Read a body template file.  Returns 0 with *out (malloc'd), or
 * SAMSPOR_EINVAL / SAMSPOR_ENOMEM after host->error. */
static int read_body_file(const samspor_host *host, samspor_ctx *ctx,
                          const char *path, char **out) {
  struct stat st;
  char *buf;
  ssize_t n;
  size_t off = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  *out = NULL;
  if (fd < 0 || fstat(fd, &st) != 0) {
    int e = errno;
    host->error(ctx, "rest: body_file %s: %s", path, strerror(e));
    if (fd >= 0)
      close(fd);
    return SAMSPOR_EINVAL; /* part of the configuration: exit status 2 */
  }
  if (!S_ISREG(st.st_mode) || st.st_size > MAX_BODY_FILE) {
    host->error(ctx, "rest: body_file %s: %s", path,
                S_ISREG(st.st_mode) ? "larger than 1 MiB"
                                    : "not a regular file");
    close(fd);
    return SAMSPOR_EINVAL;
  }
  buf = malloc((size_t)st.st_size + 1);
  if (!buf) {
    close(fd);
    host->error(ctx, "rest: out of memory");
    return SAMSPOR_ENOMEM;
  }
  while (off < (size_t)st.st_size &&
         (n = read(fd, buf + off, (size_t)st.st_size - off)) > 0)
    off += (size_t)n;
  close(fd);
  buf[off] = '\0';
  if (strlen(buf) != off) {
    host->error(ctx, "rest: body_file %s contains a NUL byte", path);
    free(buf);
    return SAMSPOR_EINVAL;
  }
  *out = buf;
  return 0;
}

/* A readable file named by option `name`, or an error. */
static int check_file(const samspor_host *host, samspor_ctx *ctx,
                      const char *name, const char *path) {
  if (path && access(path, R_OK) != 0) {
    host->error(ctx, "rest: %s %s: %s", name, path, strerror(errno));
    return SAMSPOR_EINVAL;
  }
  return 0;
}

/* Compile a path option.  Returns 0 or SAMSPOR_EINVAL / SAMSPOR_ENOMEM
 * after host->error. */
static int compile_path(const samspor_host *host, samspor_ctx *ctx,
                        const char *name, const char *text, rest_path *p) {
  char err[ERR_TEXT];
  int rc = rest_path_compile(text, p, err, sizeof err);
  if (rc == SAMSPOR_ENOMEM)
    host->error(ctx, "rest: out of memory");
  else if (rc)
    host->error(ctx, "rest: %s: %s", name, err);
  return rc;
}

/* An option that only one auth method uses, set for another. */
static int stray(const samspor_host *host, samspor_ctx *ctx,
                 const samspor_settings *s, const char *name,
                 const char *auth) {
  if (!host->is_set(s, name))
    return 0;
  host->error(ctx, "rest: %s is used only with auth = \"%s\"", name, auth);
  return SAMSPOR_EINVAL;
}

/* A required secret that did not resolve: its _file or _env is missing. */
static int need(const samspor_host *host, samspor_ctx *ctx, const char *v,
                const char *name, const char *auth, int secret) {
  if (v && *v)
    return 0;
  if (secret)
    host->error(ctx,
                "rest: auth = \"%s\" needs %s_file or %s_env (naming a "
                "non-empty file or a set variable)",
                auth, name, name);
  else
    host->error(ctx, "rest: auth = \"%s\" needs %s", auth, name);
  return SAMSPOR_EINVAL;
}

/* url, method and the body template into *o. */
static int opts_request(const samspor_host *host, samspor_ctx *ctx,
                        const rest_conf *c, rest_opts *o) {
  char err[ERR_TEXT];
  int rc;

  o->url = c->url;
  if (!is_https(o->url)) {
    host->error(ctx, "rest: url must be an https:// URL (TLS is always on)");
    return SAMSPOR_EINVAL;
  }
  if (rest_template_check(o->url, err, sizeof err)) {
    host->error(ctx, "rest: url: %s", err);
    return SAMSPOR_EINVAL;
  }
  o->post = c->method == 1;
  if (c->method != 0 && c->method != 1) {
    host->error(ctx, "rest: method must be \"GET\" or \"POST\"");
    return SAMSPOR_EINVAL;
  }
  if (c->body && c->body_file) {
    host->error(ctx, "rest: give body or body_file, not both");
    return SAMSPOR_EINVAL;
  }
  if ((c->body || c->body_file) && !o->post) {
    host->error(ctx, "rest: a request body needs method = \"POST\"");
    return SAMSPOR_EINVAL;
  }
  if (c->body_file) {
    if ((rc = read_body_file(host, ctx, c->body_file, &o->body)) != 0)
      return rc;
  } else if (c->body && !(o->body = strdup(c->body))) {
    host->error(ctx, "rest: out of memory");
    return SAMSPOR_ENOMEM;
  }
  if (o->body && rest_template_check(o->body, err, sizeof err)) {
    host->error(ctx, "rest: %s: %s", c->body_file ? "body_file" : "body", err);
    return SAMSPOR_EINVAL;
  }
  return 0;
}

/* headers, headers_file and the TLS files into o->http. */
static int opts_headers_tls(const samspor_host *host, samspor_ctx *ctx,
                            const rest_conf *cf, rest_opts *o) {
  char err[ERR_TEXT];
  rest_http_config *c = &o->http;
  int rc;

  c->headers = cf->headers.items;
  c->nheaders = cf->headers.n;
  for (size_t i = 0; i < c->nheaders; i++) {
    const char *hd = c->headers[i], *colon = strchr(hd, ':');
    size_t k;
    for (k = 0; hd + k < colon; k++)
      if (!strchr("!#$%&'*+-.^_`|~", hd[k]) &&
          !((hd[k] >= 'a' && hd[k] <= 'z') || (hd[k] >= 'A' && hd[k] <= 'Z') ||
            (hd[k] >= '0' && hd[k] <= '9')))
        break;
    if (!colon || colon == hd || hd + k != colon || strpbrk(hd, "\r\n")) {
      host->error(ctx,
                  "rest: headers item %zu is not \"Name: value\" on one "
                  "line",
                  i + 1);
      return SAMSPOR_EINVAL;
    }
  }
  if (cf->headers_file) {
    if ((rc = spp_headers_file_read(cf->headers_file, &o->file_headers,
                                    &o->nfile_headers, err, sizeof err)) != 0) {
      host->error(ctx, "rest: %s", err);
      return rc;
    }
    o->all_headers =
        calloc(c->nheaders + o->nfile_headers + 1, sizeof *o->all_headers);
    if (!o->all_headers) {
      host->error(ctx, "rest: out of memory");
      return SAMSPOR_ENOMEM;
    }
    for (size_t i = 0; i < c->nheaders; i++)
      o->all_headers[i] = c->headers[i];
    for (size_t i = 0; i < o->nfile_headers; i++)
      o->all_headers[c->nheaders + i] = o->file_headers[i];
    c->headers = o->all_headers;
    c->nheaders += o->nfile_headers;
  }

  c->ca_file = cf->ca_file;
  c->cert_file = cf->client_cert_file;
  c->key_file = cf->client_key_file;
  if (c->key_file && !c->cert_file) {
    host->error(ctx, "rest: client_key_file needs client_cert_file");
    return SAMSPOR_EINVAL;
  }
  if ((rc = check_file(host, ctx, "ca_file", c->ca_file)) ||
      (rc = check_file(host, ctx, "client_cert_file", c->cert_file)) ||
      (rc = check_file(host, ctx, "client_key_file", c->key_file)))
    return rc;
  return 0;
}

/* auth and its credentials into o->http; the others' must be unset. */
static int opts_auth(const samspor_host *host, samspor_ctx *ctx,
                     const samspor_settings *s, const rest_conf *cf,
                     rest_opts *o) {
  rest_http_config *c = &o->http;
  int rc = 0;

  c->auth = cf->auth >= REST_AUTH_NONE && cf->auth <= REST_AUTH_OAUTH2
                ? (rest_auth)cf->auth
                : (rest_auth)-1;
  c->token = cf->token;
  c->username = cf->username;
  c->password = cf->password;
  c->token_url = cf->token_url;
  c->client_id = cf->client_id;
  c->client_secret = cf->client_secret;
  c->scope = cf->scope;
  switch ((int)c->auth) {
  case REST_AUTH_NONE:
    break;
  case REST_AUTH_BEARER:
    rc = need(host, ctx, c->token, "token", "bearer", 1);
    break;
  case REST_AUTH_BASIC:
    if (!(rc = need(host, ctx, c->username, "username", "basic", 0)))
      rc = need(host, ctx, c->password, "password", "basic", 1);
    break;
  case REST_AUTH_OAUTH2:
    if (!(rc = need(host, ctx, c->token_url, "token_url", "oauth2", 0)) &&
        !(rc = need(host, ctx, c->client_id, "client_id", "oauth2", 0)))
      rc = need(host, ctx, c->client_secret, "client_secret", "oauth2", 1);
    if (!rc && !is_https(c->token_url)) {
      host->error(ctx, "rest: token_url must be an https:// URL");
      rc = SAMSPOR_EINVAL;
    }
    break;
  default:
    host->error(ctx, "rest: auth must be none, bearer, basic or oauth2");
    rc = SAMSPOR_EINVAL;
  }
  /* is_set, not the filled value: a secret named by a _file that cannot
   * be read is still written, and still stray. */
  if (!rc && c->auth != REST_AUTH_BEARER)
    rc = stray(host, ctx, s, "token", "bearer");
  if (!rc && c->auth != REST_AUTH_BASIC &&
      !(rc = stray(host, ctx, s, "username", "basic")))
    rc = stray(host, ctx, s, "password", "basic");
  if (!rc && c->auth != REST_AUTH_OAUTH2 &&
      !(rc = stray(host, ctx, s, "token_url", "oauth2")) &&
      !(rc = stray(host, ctx, s, "client_id", "oauth2")) &&
      !(rc = stray(host, ctx, s, "client_secret", "oauth2")))
    rc = stray(host, ctx, s, "scope", "oauth2");
  return rc;
}

/* pagination and its parameters into *o. */
static int opts_pages(const samspor_host *host, samspor_ctx *ctx,
                      const rest_conf *c, rest_opts *o) {
  const char *v = NULL;
  int rc = 0;

  o->pg = c->pagination >= PG_NONE && c->pagination <= PG_CURSOR
              ? (pagination)c->pagination
              : (pagination)-1;
  if ((int)o->pg < 0) {
    host->error(ctx, "rest: pagination must be none, next_link, "
                     "link_header, page, offset or cursor");
    return SAMSPOR_EINVAL;
  }
  o->page_param = c->page_param;
  o->offset_param = c->offset_param;
  o->limit_param = c->limit_param;
  o->cursor_param = c->cursor_param;
  o->page_size = c->page_size;
  o->start_page = c->start_page;
  o->max_pages = c->max_pages;
  if (o->pg == PG_NEXT_LINK && !(v = c->next_path))
    host->error(ctx, "rest: pagination = \"next_link\" needs next_path");
  else if (o->pg == PG_CURSOR && !(v = c->cursor_path))
    host->error(ctx, "rest: pagination = \"cursor\" needs cursor_path");
  else if (o->pg == PG_PAGE && (!o->page_param || !*o->page_param))
    host->error(ctx, "rest: page_param must not be empty");
  else if (o->pg == PG_OFFSET && (!o->offset_param || !*o->offset_param))
    host->error(ctx, "rest: offset_param must not be empty");
  else if (o->pg == PG_CURSOR && (!o->cursor_param || !*o->cursor_param))
    host->error(ctx, "rest: cursor_param must not be empty");
  else if (o->page_size < 1 || o->max_pages < 1 || o->start_page < 0)
    host->error(ctx, "rest: page_size and max_pages must be at least 1, "
                     "start_page at least 0");
  else
    v = "";
  if (!v)
    return SAMSPOR_EINVAL;
  if (o->pg == PG_NEXT_LINK)
    rc = compile_path(host, ctx, "next_path", c->next_path, &o->next_path);
  else if (o->pg == PG_CURSOR)
    rc =
        compile_path(host, ctx, "cursor_path", c->cursor_path, &o->cursor_path);
  return rc;
}

/* Timeouts, retries and the page size cap into o->http. */
static int opts_limits(const samspor_host *host, samspor_ctx *ctx,
                       const rest_conf *cf, rest_opts *o) {
  rest_http_config *c = &o->http;
  long long n = cf->retry_attempts;

  c->connect_timeout = (long)cf->connect_timeout;
  c->timeout = (long)cf->timeout;
  if (c->connect_timeout < 1)
    c->connect_timeout = 1;
  if (c->timeout < 1)
    c->timeout = 1;
  c->retry_attempts = n < 0 ? 0 : n > 100 ? 100 : (unsigned)n;
  c->retry_backoff = cf->retry_backoff;
  c->retry_max_backoff = cf->retry_max_backoff;
  if (c->retry_backoff > c->retry_max_backoff) {
    host->error(ctx, "rest: retry_backoff must not exceed retry_max_backoff");
    return SAMSPOR_EINVAL;
  }
  n = cf->max_page_size;
  if (n < 1024 || n > 1073741824LL) {
    host->error(ctx, "rest: max_page_size must be between 1024 and "
                     "1073741824 bytes");
    return SAMSPOR_EINVAL;
  }
  c->max_body = (size_t)n;
  return 0;
}

/*
 * Fill and check the source settings into *o.  Returns 0 (free with
 * free_opts), or SAMSPOR_EINVAL (a configuration error: exit status 2)
 * or SAMSPOR_ENOMEM, after host->error; on failure *o needs no freeing.
 * The table has already checked types, ranges and choices; what is left
 * is what spans options.
 */
static int read_opts(const samspor_host *host, samspor_ctx *ctx,
                     const samspor_settings *s, rest_opts *o) {
  rest_conf c;
  int rc;

  memset(o, 0, sizeof *o);
  memset(&c, 0, sizeof c);
  if ((rc = host->fill(s, rest_source_options, &c)) != 0) {
    host->error(ctx, "rest: the source settings do not fit this plugin");
    return rc;
  }
  if ((rc = opts_request(host, ctx, &c, o)) ||
      (rc = opts_headers_tls(host, ctx, &c, o)) ||
      (rc = opts_auth(host, ctx, s, &c, o)) ||
      (rc = opts_pages(host, ctx, &c, o)) ||
      (rc = opts_limits(host, ctx, &c, o))) {
    free_opts(o);
    return rc;
  }
  return 0;
}

/* ---- URLs ------------------------------------------------------------- */

/* *url with parameter name=number set (replacing *url).  Returns 0 or
 * SAMSPOR_ENOMEM. */
static int set_num(char **url, const char *name, long long v) {
  char num[32], *n;
  snprintf(num, sizeof num, "%lld", v);
  if (rest_url_set_param(*url, name, num, &n))
    return SAMSPOR_ENOMEM;
  free(*url);
  *url = n;
  return 0;
}

/* The base URL with the page size parameter, when one is sent. */
static int with_limit(const rest_opts *o, char **url) {
  if (o->pg != PG_PAGE && o->pg != PG_OFFSET && o->pg != PG_CURSOR)
    return 0;
  if (!o->limit_param || !*o->limit_param)
    return 0;
  return set_num(url, o->limit_param, o->page_size);
}

/*
 * The first page's URL: base (url with ${cursor}) plus, for page and
 * offset pagination, the first page's number or offset and the limit.
 * Returns 0 with *out (malloc'd) or SAMSPOR_ENOMEM.
 */
static int first_url(const rest_opts *o, const char *base, char **out) {
  char *u = strdup(base);
  int rc = u ? 0 : SAMSPOR_ENOMEM;
  if (!rc)
    rc = with_limit(o, &u);
  if (!rc && o->pg == PG_PAGE)
    rc = set_num(&u, o->page_param, o->start_page);
  else if (!rc && o->pg == PG_OFFSET)
    rc = set_num(&u, o->offset_param, 0);
  if (rc) {
    free(u);
    return rc;
  }
  *out = u;
  return 0;
}

/* ---- the plugin functions --------------------------------------------- */

static void rest_close(void *handle) {
  rest_handle *h = handle;
  size_t i;
  if (!h)
    return;
  rest_http_free(h->http);
  free_opts(&h->o);
  rest_path_free(&h->records);
  for (i = 0; h->fields && i < h->nfields; i++)
    rest_path_free(&h->fields[i]);
  free(h->fields);
  free(h->vals);
  free(h->base_url);
  free(h->body);
  rest_scratch_free(&h->scratch);
  for (i = 0; i < h->nowned; i++)
    free(h->owned[i]);
  free(h->owned);
  free(h);
}

static int rest_open(const samspor_open_args *a, void **handle) {
  rest_handle *h;
  const char *rec;
  size_t i;
  int rc;

  *handle = NULL;
  if (!samspor_abi_fits(a->host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  h = calloc(1, sizeof *h);
  if (!h) {
    a->host->error(a->ctx, "rest: out of memory");
    return SAMSPOR_ENOMEM;
  }
  h->host = a->host;
  h->ctx = a->ctx;
  h->sink = a->sink;
  h->names = a->fields;
  if ((rc = read_opts(a->host, a->ctx, a->source, &h->o)) != 0) {
    free(h);
    return rc;
  }
  {
    rest_stream_conf sc = {NULL};
    if (a->host->fill(a->stream, rest_stream_options, &sc) != 0) {
      a->host->error(a->ctx, "rest: the stream settings do not fit this "
                             "plugin");
      rc = SAMSPOR_EINVAL;
      goto fail;
    }
    rec = sc.records;
  }
  if ((rc = compile_path(a->host, a->ctx, "records", rec ? rec : "",
                         &h->records)) != 0)
    goto fail;
  h->fields = calloc(a->nfields ? a->nfields : 1, sizeof *h->fields);
  h->vals = calloc(a->nfields ? a->nfields : 1, sizeof *h->vals);
  if (!h->fields || !h->vals)
    goto nomem;
  for (i = 0; i < a->nfields; i++) {
    char what[160];
    const char *f = a->fields[i] ? a->fields[i] : "";
    snprintf(what, sizeof what, "column source (from) '%s'", f);
    if (!*f || !strcmp(f, ".")) {
      a->host->error(a->ctx, "rest: %s: name a field inside the record", what);
      rc = SAMSPOR_EINVAL;
      goto fail;
    }
    if ((rc = compile_path(a->host, a->ctx, what, f, &h->fields[i])) != 0)
      goto fail;
    h->nfields = i + 1;
  }
  if (rest_subst_cursor(h->o.url, a->cursor, REST_ESC_URL, &h->base_url))
    goto nomem;
  if (h->o.post) {
    if (rest_subst_cursor(h->o.body ? h->o.body : "", a->cursor, REST_ESC_JSON,
                          &h->body))
      goto nomem;
    h->body_len = strlen(h->body);
  }
  if ((rc = rest_http_new(a->host, a->ctx, &h->o.http, &h->http)) != 0)
    goto fail;
  *handle = h;
  return 0;
nomem:
  a->host->error(a->ctx, "rest: out of memory");
  rc = SAMSPOR_ENOMEM;
fail:
  rest_close(h);
  return rc;
}

/*
 * Hand the records of one page to the core.  Returns 0, or a negative
 * code (the host's stop code, or SAMSPOR_ENOMEM after host->error).
 */
static int emit_page(rest_handle *h, const rest_page *pg,
                     unsigned long long page, unsigned long long *nrej) {
  const samspor_host *host = h->host;
  size_t i, f;
  int rc;

  for (i = 0; i < pg->n; i++) {
    json_t *item = json_array_get(pg->records, i);
    size_t nul = SIZE_MAX;

    snprintf(h->pos, sizeof h->pos, "page %llu item %zu", page, i + 1);
    if (!json_is_object(item)) {
      snprintf(h->msg, sizeof h->msg, "the record is a JSON %s, not an object",
               rest_json_type_name(item));
      (*nrej)++;
      if ((rc = host->reject(h->sink, h->pos, "not_an_object", h->msg)) < 0)
        return rc;
      continue;
    }
    for (f = 0; f < h->nfields; f++) {
      json_t *v = rest_path_get(item, &h->fields[f]);
      h->vals[f] = v;
      if (nul == SIZE_MAX && json_is_string(v) &&
          strlen(json_string_value(v)) != json_string_length(v))
        nul = f;
    }
    if (nul != SIZE_MAX) {
      /* The core's values are C strings in the end; the configured name
       * of the field says where, without the value. */
      snprintf(h->msg, sizeof h->msg,
               "the value of '%.100s' contains a "
               "NUL byte",
               h->names[nul] ? h->names[nul] : "");
      (*nrej)++;
      if ((rc = host->reject(h->sink, h->pos, "nul_byte", h->msg)) < 0)
        return rc;
      continue;
    }
    if ((rc = host->record_begin(h->sink, h->pos)) < 0)
      return rc;
    for (f = 0; f < h->nfields; f++) {
      const char *text = NULL;
      size_t len = 0;
      rc = rest_value_text(h->vals[f], &h->scratch, &text, &len);
      if (rc < 0) {
        host->error(h->ctx, "rest: out of memory at %s", h->pos);
        return rc;
      }
      host->field(h->sink, f, rc ? text : NULL, len);
    }
    if ((rc = host->record_end(h->sink)) < 0)
      return rc;
  }
  return 0;
}

/*
 * The next page's URL after page pg (fetched from resp), or NULL at the
 * end.  Returns 0 with *next (malloc'd or NULL), or a negative code after
 * host->error.
 */
static int next_url(rest_handle *h, const rest_page *pg,
                    const rest_response *resp, unsigned long long page,
                    long long *pageno, long long *offset, char **next) {
  const rest_opts *o = &h->o;
  char err[ERR_TEXT], ut[URL_TEXT];
  const char *tok = NULL;
  size_t tlen = 0;
  char *copy = NULL;
  int rc = 0;

  *next = NULL;
  switch (o->pg) {
  case PG_NONE:
    return 0;
  case PG_NEXT_LINK:
  case PG_CURSOR:
    rc = rest_page_token(pg,
                         o->pg == PG_CURSOR ? &o->cursor_path : &o->next_path,
                         &h->scratch, &tok, &tlen, err, sizeof err);
    if (rc < 0) {
      rest_url_redact(resp->url, ut, sizeof ut);
      if (rc == SAMSPOR_ENOMEM)
        h->host->error(h->ctx, "rest: out of memory");
      else
        h->host->error(h->ctx, "rest: page %llu (%s): %s", page, ut, err);
      return rc;
    }
    if (rc == 0)
      return 0;
    copy = malloc(tlen + 1);
    if (!copy)
      goto nomem;
    memcpy(copy, tok, tlen);
    copy[tlen] = '\0';
    if (o->pg == PG_CURSOR) {
      char *u = strdup(h->base_url);
      rc = u ? with_limit(o, &u) : SAMSPOR_ENOMEM;
      if (!rc) {
        rc = rest_url_set_param(u, o->cursor_param, copy, next);
      }
      free(u);
      free(copy);
      if (rc)
        goto nomem;
      return 0;
    }
    break;
  case PG_LINK_HEADER:
    if (!resp->link_next)
      return 0;
    copy = strdup(resp->link_next);
    if (!copy)
      goto nomem;
    break;
  case PG_PAGE:
  case PG_OFFSET:
    if (pg->n == 0 || (long long)pg->n < o->page_size)
      return 0;
    if (o->pg == PG_PAGE)
      ++*pageno;
    else
      *offset += (long long)pg->n;
    rc = first_url(o, h->base_url, next);
    if (!rc)
      rc = o->pg == PG_PAGE ? set_num(next, o->page_param, *pageno)
                            : set_num(next, o->offset_param, *offset);
    if (rc) {
      free(*next);
      *next = NULL;
      goto nomem;
    }
    return 0;
  }
  /* next_link and link_header: the target may be relative to the page */
  rc = rest_url_resolve(resp->url, copy, next);
  free(copy);
  if (rc == SAMSPOR_ENOMEM)
    goto nomem;
  if (rc) {
    rest_url_redact(resp->url, ut, sizeof ut);
    h->host->error(h->ctx,
                   "rest: page %llu (%s): the next page's %s is not a "
                   "valid URL",
                   page, ut,
                   o->pg == PG_LINK_HEADER ? "Link header target"
                                           : "link in the body");
    return SAMSPOR_EDATA;
  }
  /* A next link elsewhere would carry our credentials, configured headers
   * or client certificate to a host the configuration never named
   * (compared with the configured url, not the page's). */
  if ((o->http.auth != REST_AUTH_NONE || o->http.nheaders > 0 ||
       o->http.cert_file) &&
      rest_url_same_origin(h->base_url, *next) != 1) {
    rest_url_redact(*next, ut, sizeof ut);
    h->host->error(h->ctx,
                   "rest: page %llu: the next page (%s) is on another host "
                   "than url; not sending credentials or configured headers "
                   "there",
                   page, ut);
    free(*next);
    *next = NULL;
    return SAMSPOR_EDATA;
  }
  return 0;
nomem:
  h->host->error(h->ctx, "rest: out of memory");
  return SAMSPOR_ENOMEM;
}

static int rest_read(void *handle) {
  rest_handle *h = handle;
  const rest_opts *o = &h->o;
  char err[ERR_TEXT], ut[URL_TEXT];
  char *url = NULL, *next = NULL;
  unsigned long long page = 0, nrec = 0, nrej = 0;
  long long pageno = o->start_page, offset = 0;
  rest_response resp;
  rest_page pg = {NULL, NULL, 0};
  int rc;

  if ((rc = first_url(o, h->base_url, &url)) != 0) {
    h->host->error(h->ctx, "rest: out of memory");
    return rc;
  }
  for (;;) {
    if (++page > (unsigned long long)o->max_pages) {
      h->host->error(h->ctx,
                     "rest: the API still has a next page after max_pages "
                     "(%lld) pages; nothing is loaded (raise max_pages if "
                     "the data really is this large)",
                     o->max_pages);
      rc = SAMSPOR_EFAIL;
      break;
    }
    rc = rest_http_fetch(h->http, o->post, url, h->body, h->body_len, &resp);
    if (rc)
      break;
    rc =
        rest_page_parse(resp.body, resp.len, &h->records, &pg, err, sizeof err);
    if (rc) {
      rest_url_redact(resp.url, ut, sizeof ut);
      if (rc == SAMSPOR_ENOMEM)
        h->host->error(h->ctx, "rest: page %llu (%s): %s", page, ut, err);
      else
        h->host->error(h->ctx, "rest: page %llu (%s, HTTP %ld, %zu bytes): %s",
                       page, ut, resp.status, resp.len, err);
      break;
    }
    h->host->log(h->ctx, SAMSPOR_LOG_DEBUG, "rest: page %llu: %zu records",
                 page, pg.n);
    nrec += pg.n;
    if ((rc = emit_page(h, &pg, page, &nrej)) != 0)
      break;
    rc = next_url(h, &pg, &resp, page, &pageno, &offset, &next);
    rest_page_free(&pg);
    if (rc || !next)
      break;
    if (!strcmp(next, url)) {
      rest_url_redact(next, ut, sizeof ut);
      h->host->error(h->ctx,
                     "rest: page %llu names itself (%s) as the next page; "
                     "stopping rather than looping",
                     page, ut);
      rc = SAMSPOR_EDATA;
      break;
    }
    free(url);
    url = next;
    next = NULL;
  }
  rest_page_free(&pg);
  free(next);
  free(url);
  if (rc == 0)
    h->host->log(h->ctx, SAMSPOR_LOG_INFO,
                 "rest: read %llu page%s, %llu records, %llu malformed", page,
                 page == 1 ? "" : "s", nrec, nrej);
  return rc;
}

/* `check`: the settings parse as open() parses them, reaching nothing. */
static int rest_validate(const samspor_check_args *a) {
  rest_opts o;
  int rc;

  if (!samspor_abi_fits(a->host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  if ((rc = read_opts(a->host, a->ctx, a->source, &o)) != 0)
    return rc;
  free_opts(&o);
  return 0;
}

static int rest_check(const samspor_check_args *a) {
  rest_opts o;
  rest_http *http = NULL;
  rest_response resp;
  char *base = NULL, *url = NULL, *body = NULL;
  char err[ERR_TEXT], ut[URL_TEXT];
  int rc;

  if (!samspor_abi_fits(a->host, a->struct_size, sizeof *a))
    return SAMSPOR_EABI;
  if ((rc = read_opts(a->host, a->ctx, a->source, &o)) != 0)
    return rc;
  if (rest_subst_cursor(o.url, NULL, REST_ESC_URL, &base) ||
      first_url(&o, base, &url) ||
      (o.post &&
       rest_subst_cursor(o.body ? o.body : "", NULL, REST_ESC_JSON, &body))) {
    a->host->error(a->ctx, "rest: out of memory");
    rc = SAMSPOR_ENOMEM;
    goto out;
  }
  if ((rc = rest_http_new(a->host, a->ctx, &o.http, &http)) != 0 ||
      (rc = rest_http_authenticate(http)) != 0 ||
      (rc = rest_http_fetch(http, o.post, url, body, body ? strlen(body) : 0,
                            &resp)) != 0)
    goto out;
  rc = rest_json_check(resp.body, resp.len, err, sizeof err);
  if (rc) {
    rest_url_redact(resp.url, ut, sizeof ut);
    a->host->error(a->ctx, "rest: %s (HTTP %ld): %s", ut, resp.status, err);
  }
out:
  rest_http_free(http);
  free(base);
  free(url);
  free(body);
  free_opts(&o);
  return rc;
}

/* ---- samspor discover ------------------------------------------------- */

/* Records of the first page whose keys name the fields (the core's default
 * sample); a key only some records have is still found. */
#define DISCOVER_RECORDS 100
/* Deepest object nesting listed as a dotted path; deeper objects arrive
 * as compact JSON text under the path reached. */
#define DISCOVER_DEPTH 8
/* Most field names listed. */
#define DISCOVER_MAX_NAMES 1000

/* The field names found so far: dotted paths inside a record. */
typedef spp_names rest_names;

static void names_free(rest_names *c) {
  spp_names_free(c);
}

static int names_add(rest_names *c, const char *path) {
  return spp_names_add(c, path, DISCOVER_MAX_NAMES);
}

/*
 * Every member of object obj as a path after `prefix`: a non-empty object
 * by its own members (dotted: "tenant.cpr"), anything else (a scalar, an
 * array, null) as it is.  Dots and backslashes in keys are escaped as the
 * path syntax wants.
 */
static int names_walk(rest_names *c, json_t *obj, const char *prefix,
                      int depth) {
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    char path[1024];
    size_t o =
        (size_t)snprintf(path, sizeof path, "%s%s", prefix, *prefix ? "." : "");
    int rc;
    if (!*key)
      continue; /* no path names it */
    for (const char *k = key; *k && o + 2 < sizeof path; k++) {
      if (*k == '.' || *k == '\\')
        path[o++] = '\\';
      path[o++] = *k;
    }
    path[o] = '\0';
    if (json_is_object(v) && json_object_size(v) > 0 &&
        depth + 1 < DISCOVER_DEPTH)
      rc = names_walk(c, v, path, depth + 1);
    else
      rc = names_add(c, path);
    if (rc)
      return rc;
  }
  return 0;
}

/* The keys of the first page's records, by the request read() makes
 * first.  Returns 0 with c filled, or a negative code after host->error. */
static int names_find(rest_handle *h, rest_names *c) {
  char err[ERR_TEXT], ut[URL_TEXT];
  char *url = NULL;
  rest_response resp;
  rest_page pg = {NULL, NULL, 0};
  size_t objects = 0;
  int rc;

  if ((rc = first_url(&h->o, h->base_url, &url)) != 0) {
    h->host->error(h->ctx, "rest: out of memory");
    return rc;
  }
  rc = rest_http_fetch(h->http, h->o.post, url, h->body, h->body_len, &resp);
  if (rc == 0 && (rc = rest_page_parse(resp.body, resp.len, &h->records, &pg,
                                       err, sizeof err)) != 0) {
    rest_url_redact(resp.url, ut, sizeof ut);
    h->host->error(h->ctx, "rest: page 1 (%s): %s", ut, err);
  }
  for (size_t i = 0; rc == 0 && i < pg.n && objects < DISCOVER_RECORDS; i++) {
    json_t *item = json_array_get(pg.records, i);
    if (!json_is_object(item))
      continue;
    objects++;
    if ((rc = names_walk(c, item, "", 0)) != 0)
      h->host->error(h->ctx, "rest: out of memory");
  }
  if (rc == 0 && c->n == 0) {
    rest_url_redact(url, ut, sizeof ut);
    h->host->error(h->ctx,
                   objects ? "rest: page 1 (%s): the records have no keys"
                           : "rest: page 1 (%s): no record (JSON object) at "
                             "the records path to take the fields from",
                   ut);
    rc = SAMSPOR_EDATA;
  }
  rest_page_free(&pg);
  free(url);
  return rc;
}

/* samspor discover: open() without fields, then the first page's keys as
 * the fields; the handle owns their names (h->owned). */
static int rest_discover(const samspor_open_args *a, void **handle,
                         const char *const **names, size_t *nnames) {
  rest_names c = {0};
  rest_handle *h;
  int rc;

  if ((rc = rest_open(a, handle)) != 0)
    return rc;
  h = *handle;
  if ((rc = names_find(h, &c)) != 0)
    goto fail;
  free(h->fields);
  free(h->vals);
  h->fields = calloc(c.n, sizeof *h->fields);
  h->vals = calloc(c.n, sizeof *h->vals);
  if (!h->fields || !h->vals) {
    h->host->error(h->ctx, "rest: out of memory");
    rc = SAMSPOR_ENOMEM;
    goto fail;
  }
  for (size_t i = 0; i < c.n; i++) {
    char what[160];
    snprintf(what, sizeof what, "key '%s'", c.v[i]);
    if ((rc = compile_path(h->host, h->ctx, what, c.v[i], &h->fields[i])) != 0)
      goto fail;
    h->nfields = i + 1;
  }
  h->owned = c.v;
  h->nowned = c.n;
  h->names = (const char *const *)c.v;
  *names = h->names;
  *nnames = h->nfields;
  return 0;
fail:
  names_free(&c);
  rest_close(h);
  *handle = NULL;
  return rc;
}

static const samspor_plugin rest_plugin = {
    .struct_size = sizeof(samspor_plugin),
    .abi_version = SAMSPOR_ABI_VERSION,
    .name = "rest",
    .version = REST_PLUGIN_VERSION,
    .description = "REST/JSON APIs over HTTPS: GET or POST, records at a "
                   "JSON path, five kinds of pagination, bearer, basic or "
                   "OAuth2 client credentials, mutual TLS",
    .source_options = rest_source_options,
    .stream_options = rest_stream_options,
    .open = rest_open,
    .read = rest_read,
    .close = rest_close,
    .check = rest_check,
    .validate = rest_validate,
    .discover = rest_discover,
};

SAMSPOR_PLUGIN_EXPORT(rest_plugin)
