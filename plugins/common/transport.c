#include "config.h"

/*
 * transport.c — local files, file://, https:// and sftp:// for the file
 * plugins (see transport.h for the contract).
 *
 * Local files are read with open/read and listed with glob(3): no libcurl
 * in the way of the common case.  Remote transfers all run through one
 * curl multi handle and one easy handle per transport, driven by hand
 * (curl_multi_perform/poll), so that the same engine serves both the push
 * style of fetch() and the pull style of spp_reader_read(): a pull reader
 * pauses the transfer while its unread bytes wait, which keeps memory
 * bounded whatever the file size.  One multi handle also means one
 * connection cache: the SSH session that listed a directory fetches its
 * files, the TLS connection of a HEAD serves the GET.
 *
 * Privacy: messages name the URL without credentials (spp_url_redact), the
 * HTTP status and curl's own error text (which names hosts and protocol
 * problems, never payload); bodies of HTTP error answers are dropped
 * unread.
 */

#include "transport.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PIECE (256 * 1024)             /* bytes handed to a fetch() callback */
#define PAUSE_AT (256 * 1024)          /* unread bytes at which a pull pauses */
#define COLLECT_MAX (16 * 1024 * 1024) /* longest directory listing */
#define MSG_MAX 1024                   /* longest message we format */

typedef enum scheme { SCHEME_LOCAL, SCHEME_HTTPS, SCHEME_SFTP } scheme;

/* What a reader asks of the server. */
typedef enum req_kind {
  REQ_GET,  /* the file's bytes */
  REQ_HEAD, /* size and mtime only (HTTP HEAD, SFTP stat) */
  REQ_POST, /* the answer to a POST (https) */
  REQ_LIST, /* a directory's names (SFTP) */
  REQ_LONG  /* a directory's long listing, "ls -l" style (SFTP) */
} req_kind;

struct spp_transport {
  const samspor_host *host; /* borrowed: for error() and log() */
  samspor_ctx *ctx;
  scheme scheme;
  char *url;   /* owned: as configured; for local files the decoded path */
  char *shown; /* owned: url without credentials, for messages */
  int all_files;
  int if_missing;                           /* 0 fail, 1 retry, 2 skip */
  char *ca_file, *client_cert, *client_key; /* owned copies, or NULL */
  char *username, *password;                /* owned; password wiped */
  char *private_key, *known_hosts;
  struct curl_slist *headers; /* owned: the `headers` option */
  long connect_ms, timeout_ms;
  int retries;                  /* retry_attempts */
  double backoff;               /* retry_backoff, seconds */
  double max_backoff;           /* retry_max_backoff, seconds */
  double min_age;               /* min_age, seconds */
  int no_retry;                 /* set during check(): answer quickly */
  unsigned seed;                /* rand_r state for the jitter: per transport */
  CURLM *multi;                 /* owned; NULL for local */
  CURL *easy;                   /* owned; NULL for local */
  char errbuf[CURL_ERROR_SIZE]; /* curl's detail for the last transfer */
  int khmatch;                  /* last host key check (curl_khmatch), or -1 */
  spp_reader *active;           /* the open reader, if any (one at a time) */
};

struct spp_reader {
  spp_transport *t;
  req_kind kind;
  char *url;   /* owned: what to transfer */
  char *shown; /* owned: url without credentials */
  int fd;      /* a local file, or -1 */
  char *body;  /* owned copy of a POST body */
  size_t body_len;
  int collect;  /* keep the whole answer (HEAD, LIST): never pause */
  int in_multi; /* the easy handle is added to the multi handle */
  int started;  /* an attempt has been started */
  int done;     /* finished: rc holds the result */
  int rc;
  int paused;           /* the write callback paused the transfer */
  int overflow;         /* a collected answer grew beyond COLLECT_MAX */
  int nomem;            /* the write callback ran out of memory */
  int head_unsupported; /* HEAD answered 405/501: size/mtime unknown */
  long hdr_status;      /* status of the response whose headers arrive */
  int cross_redirect;   /* a redirect to another host was refused */
  char *buf;            /* received, not yet handed out: buf[off..len) */
  size_t off, len, cap;
  unsigned long long delivered; /* bytes handed to the consumer */
  int attempt;                  /* retries done so far */
  int64_t size, mtime;          /* HEAD/stat results (-1 unknown) */
  /* What the file was when opened (local: fstat; sftp: the listing), to
   * tell at its end whether it changed while read.  -1: unknown. */
  int64_t want_size, want_mtime;
  long want_ns;
  dev_t dev;
  ino_t ino;
  int verified; /* the end-of-file check has been made */
};

/* ---- messages ------------------------------------------------------- */

static int fail(const spp_transport *t, int code, const char *fmt, ...)
    SAMSPOR_PRINTF(3, 4);

/* Report why the current call fails through host->error (which is
 * variadic only, hence the buffer) and return code. */
static int fail(const spp_transport *t, int code, const char *fmt, ...) {
  char msg[MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  t->host->error(t->ctx, "%s", msg);
  return code;
}

static int nomem(const spp_transport *t) {
  return fail(t, SAMSPOR_ENOMEM, "out of memory");
}

/* ---- pure helpers --------------------------------------------------- */

char *spp_url_redact(const char *url) {
  const char *sep = strstr(url, "://");
  const char *auth, *end, *at = NULL, *p;
  size_t n;
  char *out;

  if (!sep)
    return strdup(url);
  auth = sep + 3;
  end = auth + strcspn(auth, "/?#");
  for (p = auth; p < end; p++)
    if (*p == '@')
      at = p; /* the last '@': a password may contain one */
  if (!at)
    return strdup(url);
  n = strlen(url) - (size_t)(at + 1 - auth);
  out = malloc(n + 1);
  if (!out)
    return NULL;
  memcpy(out, url, (size_t)(auth - url));
  strcpy(out + (auth - url), at + 1);
  return out;
}

int spp_listing_match(const char *listing, size_t len, const char *pattern,
                      char ***names, size_t *n) {
  const char *p = listing, *end = listing + len;
  char **v = NULL;
  size_t nv = 0;

  *names = NULL;
  *n = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    size_t l = (size_t)(le - p);
    char *name;

    if (l && p[l - 1] == '\r')
      l--;
    name = malloc(l + 1);
    if (!name)
      goto nomem;
    memcpy(name, p, l);
    name[l] = '\0';
    p = nl ? nl + 1 : end;
    /* a NUL inside a name cannot be a real file name: skip the line */
    if (!l || strlen(name) != l || !strcmp(name, ".") || !strcmp(name, "..") ||
        fnmatch(pattern, name, FNM_PERIOD) != 0) {
      free(name);
      continue;
    }
    {
      char **nvv = realloc(v, (nv + 1) * sizeof *v);
      if (!nvv) {
        free(name);
        goto nomem;
      }
      v = nvv;
      v[nv++] = name;
    }
  }
  *names = v;
  *n = nv;
  return 0;
nomem:
  while (nv)
    free(v[--nv]);
  free(v);
  return SAMSPOR_ENOMEM;
}

int spp_listing_is_dir(const char *listing, size_t len, const char *name) {
  const char *p = listing, *end = listing + len;
  size_t nl = strlen(name);
  int dir = 0, other = 0;

  while (p < end) {
    const char *e = memchr(p, '\n', (size_t)(end - p));
    const char *le = e ? e : end;
    if (le > p && le[-1] == '\r')
      le--;
    if ((size_t)(le - p) > nl + 1 && le[-(long)nl - 1] == ' ' &&
        !memcmp(le - nl, name, nl)) {
      if (*p == 'd')
        dir = 1;
      else
        other = 1;
    }
    p = e ? e + 1 : end;
  }
  return dir && !other;
}

static int by_name(const void *a, const void *b) {
  const spp_file *x = a, *y = b;
  return strcmp(x->name, y->name);
}

/* Nonzero when a is newer than b (on a tie, the later name, so that the
 * choice does not depend on the order of a listing). */
static int newer(const spp_file *a, const spp_file *b) {
  if (a->mtime != b->mtime)
    return a->mtime > b->mtime;
  if (a->mtime_ns != b->mtime_ns)
    return a->mtime_ns > b->mtime_ns;
  return strcmp(a->name, b->name) > 0;
}

static void file_free(spp_file *f) {
  free(f->name);
  free(f->url);
  f->name = f->url = NULL;
}

void spp_files_select(spp_files *f, int all) {
  size_t i, best = 0;

  if (f->n < 2)
    return;
  if (all) {
    qsort(f->v, f->n, sizeof *f->v, by_name);
    return;
  }
  for (i = 1; i < f->n; i++)
    if (newer(&f->v[i], &f->v[best]))
      best = i;
  for (i = 0; i < f->n; i++)
    if (i != best)
      file_free(&f->v[i]);
  f->v[0] = f->v[best];
  f->n = 1;
}

void spp_files_free(spp_files *f) {
  size_t i;
  if (!f)
    return;
  for (i = 0; i < f->n; i++)
    file_free(&f->v[i]);
  free(f->v);
  f->v = NULL;
  f->n = 0;
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int spp_percent_decode(const char *s, size_t len, char **out) {
  char *o, *d;
  size_t i;

  *out = NULL;
  d = o = malloc(len + 1);
  if (!o)
    return SAMSPOR_ENOMEM;
  for (i = 0; i < len; i++) {
    if (s[i] == '%') {
      int hi = i + 2 < len ? hexval(s[i + 1]) : -1;
      int lo = hi >= 0 ? hexval(s[i + 2]) : -1;
      if (lo < 0 || (hi == 0 && lo == 0)) {
        free(o);
        return SAMSPOR_EINVAL;
      }
      *d++ = (char)(hi * 16 + lo);
      i += 2;
    } else {
      *d++ = s[i];
    }
  }
  *d = '\0';
  *out = o;
  return 0;
}

/* ---- curl setup ------------------------------------------------------- */

/*
 * curl_global_init must run before any other curl call, is not
 * thread-safe in every libcurl this may meet (before 7.84), and neither
 * the core (which has no use for curl) nor the plugin loader calls it.  So
 * the first transport opened in this plugin calls it, exactly once, under
 * pthread_once; streams of one plugin may open in parallel threads.  Each
 * plugin that compiles this file in (csv, xml) has its own once: curl
 * counts its inits, so a second one is harmless.  curl_global_cleanup is
 * never called, as a plugin cannot know it is the last user; the process
 * exit releases it.  These two statics are the only file-scope state here,
 * and the result is written only inside the once routine.
 */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void curl_init_once(void) {
  curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* SSH host key check: only a key known_hosts_file holds for this host is
 * accepted; never added, never asked about. */
static int on_host_key(CURL *easy, const struct curl_khkey *knownkey,
                       const struct curl_khkey *foundkey,
                       enum curl_khmatch match, void *ud) {
  spp_transport *t = ud;
  (void)easy;
  (void)knownkey;
  (void)foundkey;
  t->khmatch = (int)match;
  return match == CURLKHMATCH_OK ? CURLKHSTAT_FINE : CURLKHSTAT_REJECT;
}

/* Append n bytes to r's buffer.  Returns 0 or SAMSPOR_ENOMEM. */
static int buf_add(spp_reader *r, const char *p, size_t n) {
  if (r->off == r->len)
    r->off = r->len = 0;
  if (r->len + n > r->cap && r->off > 0) {
    memmove(r->buf, r->buf + r->off, r->len - r->off);
    r->len -= r->off;
    r->off = 0;
  }
  if (r->len + n > r->cap) {
    size_t cap = r->cap ? r->cap : 64 * 1024;
    char *nb;
    while (cap < r->len + n)
      cap *= 2;
    nb = realloc(r->buf, cap);
    if (!nb)
      return SAMSPOR_ENOMEM;
    r->buf = nb;
    r->cap = cap;
  }
  memcpy(r->buf + r->len, p, n);
  r->len += n;
  return 0;
}

/* curl's write callback: body bytes into r's buffer.  The body of an HTTP
 * error answer is dropped unread: it is not data, and may be anything. */
static size_t on_data(char *p, size_t size, size_t nmemb, void *ud) {
  spp_reader *r = ud;
  size_t n = size * nmemb;

  if (r->t->scheme == SCHEME_HTTPS) {
    long status = 0;
    curl_easy_getinfo(r->t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299)
      return n;
  }
  if (!r->collect && r->len - r->off >= PAUSE_AT) {
    r->paused = 1;
    return CURL_WRITEFUNC_PAUSE; /* curl keeps p and gives it again */
  }
  if (r->collect && r->len + n > COLLECT_MAX) {
    r->overflow = 1;
    return 0;
  }
  if (buf_add(r, p, n)) {
    r->nomem = 1;
    return 0;
  }
  return n;
}

/*
 * Response headers (https).  libcurl follows redirects itself and sends
 * the configured headers (X-Api-Key, ...) to wherever they lead; it drops
 * only its own Authorization and Cookie at another host.  So a redirect
 * to another scheme, host or port than r's URL is refused here, before it
 * is followed.
 */
static size_t on_header(char *p, size_t size, size_t nmemb, void *ud) {
  spp_reader *r = ud;
  size_t n = size * nmemb;
  const char *v, *end = p + n;

  if (n >= 5 && !memcmp(p, "HTTP/", 5)) {
    const char *sp = memchr(p, ' ', n);
    r->hdr_status = sp ? strtol(sp + 1, NULL, 10) : 0;
    return n;
  }
  if (n < 9 || strncasecmp(p, "location:", 9) || r->hdr_status < 300 ||
      r->hdr_status > 399)
    return n;
  v = p + 9;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  const char *cur = NULL;
  curl_easy_getinfo(r->t->easy, CURLINFO_EFFECTIVE_URL, &cur);
  if (!spp_http_same_origin(r->url, cur ? cur : r->url, v, (size_t)(end - v))) {
    r->cross_redirect = 1;
    return 0; /* stops the transfer */
  }
  return n;
}

#define SETOPT(e, o, v)                                                        \
  do {                                                                         \
    if (curl_easy_setopt((e), (o), (v)) != CURLE_OK)                           \
      bad = #o;                                                                \
  } while (0)

/* Set up the easy handle for one attempt of r.  Returns 0 or a code after
 * host->error (an option this libcurl refuses). */
static int setup_easy(spp_reader *r) {
  spp_transport *t = r->t;
  CURL *e = t->easy;
  const char *bad = NULL;

  curl_easy_reset(e);
  t->errbuf[0] = '\0';
  t->khmatch = -1;
  SETOPT(e, CURLOPT_URL, r->url);
  SETOPT(e, CURLOPT_NOSIGNAL, 1L);
  SETOPT(e, CURLOPT_ERRORBUFFER, t->errbuf);
#if LIBCURL_VERSION_NUM >= 0x075500
  SETOPT(e, CURLOPT_PROTOCOLS_STR, "https,sftp");
  SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
  SETOPT(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTPS | CURLPROTO_SFTP));
  SETOPT(e, CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
  SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, t->connect_ms);
  SETOPT(e, CURLOPT_TIMEOUT_MS, t->timeout_ms);
  SETOPT(e, CURLOPT_WRITEFUNCTION, on_data);
  SETOPT(e, CURLOPT_WRITEDATA, r);
  if (r->kind == REQ_HEAD) {
    SETOPT(e, CURLOPT_NOBODY, 1L);
    SETOPT(e, CURLOPT_FILETIME, 1L);
  }
  if (t->scheme == SCHEME_HTTPS) {
    SETOPT(e, CURLOPT_SSL_VERIFYPEER, 1L);
    SETOPT(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (t->ca_file)
      SETOPT(e, CURLOPT_CAINFO, t->ca_file);
    if (t->client_cert)
      SETOPT(e, CURLOPT_SSLCERT, t->client_cert);
    if (t->client_key)
      SETOPT(e, CURLOPT_SSLKEY, t->client_key);
    SETOPT(e, CURLOPT_FOLLOWLOCATION, 1L);
    SETOPT(e, CURLOPT_MAXREDIRS, 5L);
    SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(e, CURLOPT_HEADERDATA, r);
    SETOPT(e, CURLOPT_USERAGENT, "samspor/" PACKAGE_VERSION);
    /* compressed transfer when the server offers it; curl inflates */
    SETOPT(e, CURLOPT_ACCEPT_ENCODING, "");
    if (t->headers)
      SETOPT(e, CURLOPT_HTTPHEADER, t->headers);
    if (t->username) {
      SETOPT(e, CURLOPT_USERNAME, t->username);
      SETOPT(e, CURLOPT_PASSWORD, t->password ? t->password : "");
      SETOPT(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    }
    if (r->kind == REQ_POST) {
      SETOPT(e, CURLOPT_POST, 1L);
      SETOPT(e, CURLOPT_POSTFIELDS, r->body);
      SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    }
  } else {
    long auth = 0;
    if (t->username)
      SETOPT(e, CURLOPT_USERNAME, t->username);
    if (t->private_key) {
      auth |= CURLSSH_AUTH_PUBLICKEY;
      SETOPT(e, CURLOPT_SSH_PRIVATE_KEYFILE, t->private_key);
    }
    if (t->password) {
      auth |= CURLSSH_AUTH_PASSWORD | CURLSSH_AUTH_KEYBOARD;
      SETOPT(e, CURLOPT_PASSWORD, t->password);
    }
    SETOPT(e, CURLOPT_SSH_AUTH_TYPES, auth);
    SETOPT(e, CURLOPT_SSH_KNOWNHOSTS, t->known_hosts);
    SETOPT(e, CURLOPT_SSH_KEYFUNCTION, on_host_key);
    SETOPT(e, CURLOPT_SSH_KEYDATA, t);
    if (r->kind == REQ_LIST)
      SETOPT(e, CURLOPT_DIRLISTONLY, 1L);
  }
  if (bad)
    return fail(t, SAMSPOR_EINVAL, "%s: this libcurl (%s) refuses option %s",
                r->shown, curl_version(), bad);
  return 0;
}

/* ---- the transfer engine ---------------------------------------------- */

/* Start an attempt of r.  Returns 0 or a code after host->error. */
static int start_attempt(spp_reader *r) {
  spp_transport *t = r->t;
  int rc = setup_easy(r);
  CURLMcode mc;

  if (rc)
    return rc;
  r->off = r->len = 0;
  r->paused = r->overflow = r->nomem = r->head_unsupported = 0;
  r->hdr_status = 0;
  r->cross_redirect = 0;
  mc = curl_multi_add_handle(t->multi, t->easy);
  if (mc != CURLM_OK)
    return fail(t, mc == CURLM_OUT_OF_MEMORY ? SAMSPOR_ENOMEM : SAMSPOR_EFAIL,
                "%s: cannot start the transfer: %s", r->shown,
                curl_multi_strerror(mc));
  r->in_multi = 1;
  r->started = 1;
  return 0;
}

static void stop_attempt(spp_reader *r) {
  if (r->in_multi) {
    curl_multi_remove_handle(r->t->multi, r->t->easy);
    r->in_multi = 0;
  }
}

/* 1 when curl's error text says the server refused our TLS client
 * certificate (or the lack of one), 2 when it refused the handshake
 * without saying why (how TLS 1.2 servers often refuse a client
 * certificate), else 0.  Such an alert is an answer, not a network fault,
 * and asking again gets the same answer.  (OpenSSL's alert texts.) */
static int client_cert_refused(const char *e) {
  if (strstr(e, "alert certificate required") ||
      strstr(e, "alert bad certificate") || strstr(e, "alert unknown ca") ||
      strstr(e, "alert access denied") ||
      strstr(e, "alert certificate unknown") ||
      strstr(e, "alert certificate expired") ||
      strstr(e, "alert certificate revoked"))
    return 1;
  return strstr(e, "alert handshake failure") ? 2 : 0;
}

/*
 * The outcome of a finished attempt: 0, or a code with the reason written
 * into msg; *temp set when it is worth retrying and *wait to a Retry-After
 * in seconds (or -1).
 */
static int classify(spp_reader *r, CURLcode res, int *temp, double *wait,
                    char *msg, size_t msglen) {
  spp_transport *t = r->t;
  const char *detail = t->errbuf[0] ? t->errbuf : curl_easy_strerror(res);
  long status = 0;

  *temp = 0;
  *wait = -1;
  msg[0] = '\0';
  if (r->cross_redirect) {
    snprintf(msg, msglen,
             "redirects to another host; not following it, so that the "
             "configured headers and credentials reach no host but the "
             "configured one: configure the URL it redirects to");
    return SAMSPOR_EFAIL;
  }
  if (res == CURLE_OK && t->scheme == SCHEME_HTTPS) {
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status <= 299)
      return 0;
    if (r->kind == REQ_HEAD && (status == 405 || status == 501)) {
      r->head_unsupported = 1; /* no HEAD here: size and mtime unknown */
      return 0;
    }
    snprintf(msg, msglen, "HTTP status %ld%s%s%s", status,
             *spp_http_reason(status) ? " (" : "", spp_http_reason(status),
             *spp_http_reason(status) ? ")" : "");
    if (spp_http_status_temporary(status)) {
      curl_off_t ra = -1;
      *temp = 1;
      if ((status == 429 || status == 503) &&
          curl_easy_getinfo(t->easy, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK &&
          ra > 0)
        *wait = (double)ra;
      return SAMSPOR_ETEMP;
    }
    if (status == 401) {
      snprintf(msg + strlen(msg), msglen - strlen(msg),
               ": the credentials were refused");
      return SAMSPOR_EAUTH;
    }
    return SAMSPOR_EFAIL;
  }
  switch (res) {
  case CURLE_OK:
    return 0;
  case CURLE_WRITE_ERROR:
    if (r->nomem) {
      snprintf(msg, msglen, "out of memory");
      return SAMSPOR_ENOMEM;
    }
    if (r->overflow) {
      snprintf(msg, msglen, "the directory listing is longer than %d bytes",
               COLLECT_MAX);
      return SAMSPOR_EFAIL;
    }
    snprintf(msg, msglen, "%s", detail);
    return SAMSPOR_EFAIL;
  case CURLE_OUT_OF_MEMORY:
    snprintf(msg, msglen, "out of memory");
    return SAMSPOR_ENOMEM;
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_CONNECT:
    *temp = 1;
    snprintf(msg, msglen, "cannot connect: %s", detail);
    return SAMSPOR_ETEMP;
  case CURLE_OPERATION_TIMEDOUT:
    *temp = 1;
    snprintf(msg, msglen, "timed out: %s", detail);
    return SAMSPOR_ETEMP;
  case CURLE_PEER_FAILED_VERIFICATION:
    if (t->scheme == SCHEME_SFTP && t->khmatch == CURLKHMATCH_MISSING) {
      snprintf(msg, msglen,
               "the server's host key is not in known_hosts_file %s; "
               "refused. Check its fingerprint with the server's "
               "administrator, then add it (ssh-keyscan)",
               t->known_hosts);
      return SAMSPOR_EFAIL;
    }
    if (t->scheme == SCHEME_SFTP && t->khmatch == CURLKHMATCH_MISMATCH) {
      snprintf(msg, msglen,
               "the server's host key does NOT match the one in "
               "known_hosts_file %s; refused (the server's key changed, or "
               "this is not the server it claims to be)",
               t->known_hosts);
      return SAMSPOR_EFAIL;
    }
    if (t->scheme == SCHEME_SFTP) {
      snprintf(msg, msglen, "the server's host key was refused: %s", detail);
      return SAMSPOR_EFAIL;
    }
    snprintf(msg, msglen, "TLS verification of the server failed: %s (%s)",
             detail,
             t->ca_file ? "is ca_file the CA that signed the server's "
                          "certificate?"
                        : "set ca_file to the CA that signed the server's "
                          "certificate");
    return SAMSPOR_EFAIL;
  case CURLE_SSL_CACERT_BADFILE:
    snprintf(msg, msglen, "cannot use ca_file %s: %s",
             t->ca_file ? t->ca_file : "(system default)", detail);
    return SAMSPOR_EINVAL;
  case CURLE_SSL_CERTPROBLEM:
    snprintf(msg, msglen, "cannot use client_cert_file/client_key_file: %s",
             detail);
    return SAMSPOR_EINVAL;
  case CURLE_LOGIN_DENIED:
    snprintf(msg, msglen, "login as %s refused (wrong key or password?): %s",
             t->username ? t->username : "(from the URL)", detail);
    return SAMSPOR_EAUTH;
  case CURLE_REMOTE_FILE_NOT_FOUND:
    snprintf(msg, msglen, "no such file on the server");
    return SAMSPOR_ENOENT;
  case CURLE_REMOTE_ACCESS_DENIED:
    snprintf(msg, msglen, "access denied by the server: %s", detail);
    return SAMSPOR_EFAIL;
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
    snprintf(msg, msglen, "%s", detail);
    return SAMSPOR_EINVAL;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
    if (t->scheme == SCHEME_HTTPS && client_cert_refused(detail)) {
      snprintf(msg, msglen, "the server refused the TLS %s%s: %s",
               client_cert_refused(detail) == 1
                   ? "client certificate"
                   : "handshake (a client certificate missing or refused?)",
               t->client_cert ? ""
                              : " (none is configured: set client_cert_file)",
               detail);
      return SAMSPOR_EAUTH;
    }
    *temp = 1;
    snprintf(msg, msglen, "%s", detail);
    return SAMSPOR_ETEMP;
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_SSH:
  case CURLE_AGAIN:
    *temp = 1;
    snprintf(msg, msglen, "%s", detail);
    return SAMSPOR_ETEMP;
  default:
    snprintf(msg, msglen, "%s", detail);
    return SAMSPOR_EFAIL;
  }
}

/* A finished attempt: done, or wait and set up the next one. */
static void finish_attempt(spp_reader *r, CURLcode res) {
  spp_transport *t = r->t;
  char msg[MSG_MAX - 200];
  double wait;
  int temp, rc, tries;

  rc = classify(r, res, &temp, &wait, msg, sizeof msg);
  if (rc == 0 && (r->kind == REQ_HEAD)) {
    curl_off_t v = -1;
    if (!r->head_unsupported &&
        curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &v) ==
            CURLE_OK)
      r->size = v >= 0 ? (int64_t)v : -1;
    v = -1;
    if (!r->head_unsupported &&
        curl_easy_getinfo(t->easy, CURLINFO_FILETIME_T, &v) == CURLE_OK)
      r->mtime = v >= 0 ? (int64_t)v : -1;
  }
  stop_attempt(r);
  if (rc == 0) {
    r->done = 1;
    r->rc = 0;
    return;
  }
  tries = t->no_retry ? 0 : t->retries;
  if (temp && r->delivered == 0 && r->attempt < tries &&
      (wait < 0 || wait <= t->max_backoff)) {
    double d = wait >= 0 ? wait
                         : samspor_backoff_delay(t->backoff, t->max_backoff,
                                                 (unsigned)r->attempt + 1,
                                                 spp_jitter01(&t->seed));
    t->host->log(t->ctx, SAMSPOR_LOG_WARN,
                 "%s: %s; retrying in %.1fs (retry %d of %d)", r->shown, msg, d,
                 r->attempt + 1, tries);
    spp_sleep_for(d);
    r->attempt++;
    r->started = 0; /* drive() starts the next attempt */
    /* what this attempt received was never handed out: the next attempt
     * starts from the first byte again */
    r->off = r->len = 0;
    return;
  }
  r->done = 1;
  if (temp && r->delivered > 0)
    r->rc = fail(t, SAMSPOR_ETEMP,
                 "%s: %s after %llu bytes had been read; not retried within "
                 "this run, since those bytes were already used (the run "
                 "can be retried later)",
                 r->shown, msg, r->delivered);
  else if (temp && wait > t->max_backoff)
    r->rc = fail(t, SAMSPOR_ETEMP,
                 "%s: %s, and the server asks to wait %.0fs, longer than "
                 "retry_max_backoff (%.0fs); try again later",
                 r->shown, msg, wait, t->max_backoff);
  else if (temp && r->attempt > 0)
    r->rc = fail(t, SAMSPOR_ETEMP, "%s: %s (still failing after %d retr%s)",
                 r->shown, msg, r->attempt, r->attempt == 1 ? "y" : "ies");
  else
    r->rc = fail(t, rc, "%s: %s", r->shown, msg);
}

/*
 * Run r's transfer until it has unread bytes (a collecting reader: until it
 * is finished) or is finished.  Returns 0, or the final code once finished
 * with an error.
 */
static int drive(spp_reader *r) {
  spp_transport *t = r->t;

  while (!r->done && (r->collect || r->off == r->len)) {
    CURLMcode mc;
    CURLMsg *m;
    int running = 0, queued;

    if (!r->started) {
      int rc = start_attempt(r);
      if (rc) {
        r->done = 1;
        r->rc = rc;
        break;
      }
    }
    if (r->paused) {
      /* everything handed out: let curl give the bytes it held back */
      r->paused = 0;
      curl_easy_pause(t->easy, CURLPAUSE_CONT);
      continue;
    }
    mc = curl_multi_perform(t->multi, &running);
    if (mc != CURLM_OK) {
      stop_attempt(r);
      r->done = 1;
      r->rc =
          fail(t, SAMSPOR_EFAIL, "%s: %s", r->shown, curl_multi_strerror(mc));
      break;
    }
    while ((m = curl_multi_info_read(t->multi, &queued)) != NULL)
      if (m->msg == CURLMSG_DONE && m->easy_handle == t->easy && r->in_multi)
        finish_attempt(r, m->data.result);
    if (r->in_multi && !r->paused && (r->collect || r->off == r->len))
      curl_multi_poll(t->multi, NULL, 0, 1000, NULL);
  }
  return r->done ? r->rc : 0;
}

/* ---- readers ---------------------------------------------------------- */

/* A reader of `kind` for url (copied).  Returns 0 with *out or a code. */
static int reader_new(spp_transport *t, req_kind kind, const char *url,
                      spp_reader **out) {
  spp_reader *r;

  *out = NULL;
  if (t->active)
    return fail(t, SAMSPOR_EINVAL,
                "%s: a transfer is already open on this transport", t->shown);
  r = calloc(1, sizeof *r);
  if (!r)
    return nomem(t);
  r->t = t;
  r->kind = kind;
  r->fd = -1;
  r->size = r->mtime = -1;
  r->want_size = r->want_mtime = -1;
  r->collect = kind == REQ_HEAD || kind == REQ_LIST || kind == REQ_LONG;
  r->url = strdup(url);
  r->shown = r->url ? spp_url_redact(url) : NULL;
  if (!r->shown) {
    free(r->url);
    free(r);
    return nomem(t);
  }
  t->active = r;
  *out = r;
  return 0;
}

void spp_reader_close(spp_reader *r) {
  if (!r)
    return;
  stop_attempt(r);
  if (r->fd >= 0)
    close(r->fd);
  if (r->t->active == r)
    r->t->active = NULL;
  free(r->url);
  free(r->shown);
  free(r->body);
  free(r->buf);
  free(r);
}

/* Run a collecting reader to its end.  Returns 0 or a code. */
static int run_collect(spp_reader *r) {
  return drive(r);
}

int spp_transport_read_open(spp_transport *t, spp_file *f, spp_reader **out) {
  spp_reader *r;
  int rc;

  *out = NULL;
  if ((rc = reader_new(t, REQ_GET, f->url, &r)) != 0)
    return rc;
  if (t->scheme == SCHEME_LOCAL) {
    struct stat st;
    r->fd = open(f->url, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
      int e = errno;
      spp_reader_close(r);
      return fail(t, e == ENOENT ? SAMSPOR_ENOENT : SAMSPOR_EIO, "%s: %s",
                  f->url, strerror(e));
    }
    if (fstat(r->fd, &st) != 0) {
      int e = errno;
      spp_reader_close(r);
      return fail(t, SAMSPOR_EIO, "%s: %s", f->url, strerror(e));
    }
    /* The file opened is not the one listed (replaced, or rewritten, in
     * between): what the listing chose may not be what is read. */
    if (f->has_ino &&
        ((uint64_t)st.st_dev != f->dev || (uint64_t)st.st_ino != f->ino ||
         (int64_t)st.st_size != f->size ||
         (int64_t)st.st_mtim.tv_sec != f->mtime ||
         st.st_mtim.tv_nsec != f->mtime_ns)) {
      spp_reader_close(r);
      return fail(t, SAMSPOR_ETEMP,
                  "%s: changed between the listing and the open (replaced "
                  "or still being written); nothing was read, try again "
                  "later",
                  f->url);
    }
    /* what is read, not what glob saw */
    f->size = (int64_t)st.st_size;
    f->mtime = (int64_t)st.st_mtim.tv_sec;
    f->mtime_ns = st.st_mtim.tv_nsec;
    r->want_size = f->size;
    r->want_mtime = f->mtime;
    r->want_ns = f->mtime_ns;
    r->dev = st.st_dev;
    r->ino = st.st_ino;
  } else if (t->scheme == SCHEME_SFTP) {
    r->want_size = f->size;
    r->want_mtime = f->mtime;
  }
  if (t->min_age > 0 && f->mtime >= 0) {
    double age = difftime(time(NULL), (time_t)f->mtime);
    if (age < t->min_age) {
      spp_reader_close(r);
      return fail(t, SAMSPOR_ETEMP,
                  "%s: modified %.0fs ago, less than min_age (%.0fs): "
                  "not read yet (it may still be being written); try "
                  "again later",
                  f->name, age < 0 ? 0 : age, t->min_age);
    }
  }
  *out = r;
  return 0;
}

/* A local file at its end: did it change since it was opened?  Returns 0
 * or SAMSPOR_ETEMP after host->error. */
static int verify_local(spp_reader *r) {
  struct stat st, ps;
  const char *why = NULL;

  if (fstat(r->fd, &st) != 0)
    return fail(r->t, SAMSPOR_EIO, "%s: %s", r->url, strerror(errno));
  if ((int64_t)st.st_size != r->want_size ||
      r->delivered != (unsigned long long)r->want_size)
    why = "its size changed while it was read";
  else if ((int64_t)st.st_mtim.tv_sec != r->want_mtime ||
           st.st_mtim.tv_nsec != r->want_ns)
    why = "it was modified while it was read";
  else if (stat(r->url, &ps) != 0 || ps.st_dev != r->dev || ps.st_ino != r->ino)
    why = "its path was replaced or removed while it was read";
  if (!why)
    return 0;
  return fail(r->t, SAMSPOR_ETEMP,
              "%s: %s (%lld bytes at the open, %llu read); nothing of it "
              "is loaded, try again later",
              r->url, why, (long long)r->want_size, r->delivered);
}

static int stat_remote(spp_transport *t, const char *url, int64_t *size,
                       int64_t *mtime);

/* An sftp:// file at its end: the bytes the listing announced, and the
 * same size and mtime in a stat after the transfer.  Returns 0 or a code
 * after host->error. */
static int verify_sftp(spp_reader *r) {
  spp_transport *t = r->t;
  int64_t size = -1, mtime = -1;
  int rc;

  if (r->want_size >= 0 && r->delivered != (unsigned long long)r->want_size)
    return fail(t, SAMSPOR_ETEMP,
                "%s: %llu bytes read, the listing announced %lld: the file "
                "changed while it was read; nothing of it is loaded, try "
                "again later",
                r->shown, r->delivered, (long long)r->want_size);
  /* the transfer is over: the transport's handle may serve a stat */
  t->active = NULL;
  rc = stat_remote(t, r->url, &size, &mtime);
  t->active = r;
  if (rc == SAMSPOR_ENOENT) /* gone (renamed away) since it was read */
    return fail(t, SAMSPOR_ETEMP,
                "%s: removed or renamed while it was read; nothing of it is "
                "loaded, try again later",
                r->shown);
  if (rc)
    return rc;
  if ((r->want_size >= 0 && size != r->want_size) ||
      (r->want_mtime >= 0 && mtime != r->want_mtime))
    return fail(t, SAMSPOR_ETEMP,
                "%s: its size or modification time changed while it was "
                "read; nothing of it is loaded, try again later",
                r->shown);
  return 0;
}

int spp_transport_post_open(spp_transport *t, const char *body, size_t len,
                            spp_reader **out) {
  spp_reader *r;
  int rc;

  *out = NULL;
  if (t->scheme != SCHEME_HTTPS)
    return fail(t, SAMSPOR_EINVAL, "%s: a POST needs an https:// url",
                t->shown);
  if ((rc = reader_new(t, REQ_POST, t->url, &r)) != 0)
    return rc;
  r->body = malloc(len ? len : 1);
  if (!r->body) {
    spp_reader_close(r);
    return nomem(t);
  }
  if (len)
    memcpy(r->body, body, len);
  r->body_len = len;
  *out = r;
  return 0;
}

long long spp_reader_read(spp_reader *r, char *buf, size_t cap) {
  size_t n;
  int rc;

  if (r->fd >= 0) {
    for (;;) {
      ssize_t k = read(r->fd, buf, cap);
      if (k == 0 && !r->verified) {
        r->verified = 1;
        if ((rc = verify_local(r)) != 0)
          return rc;
      }
      if (k >= 0) {
        r->delivered += (unsigned long long)k;
        return k;
      }
      if (errno != EINTR)
        return fail(r->t, SAMSPOR_EIO, "%s: read failed: %s", r->url,
                    strerror(errno));
    }
  }
  if ((rc = drive(r)) != 0)
    return rc;
  n = r->len - r->off;
  if (n == 0 && r->done && r->kind == REQ_GET && r->t->scheme == SCHEME_SFTP &&
      !r->verified) {
    r->verified = 1;
    if ((rc = verify_sftp(r)) != 0)
      return rc;
  }
  if (n > cap)
    n = cap;
  if (n) {
    memcpy(buf, r->buf + r->off, n);
    r->off += n;
    r->delivered += n;
  }
  return (long long)n;
}

/* Push every byte of r to fn.  Returns 0 or a code. */
static int push_all(spp_reader *r, spp_transport_data_fn fn, void *ud) {
  char *buf = malloc(PIECE);
  int rc = 0;

  if (!buf)
    return nomem(r->t);
  for (;;) {
    long long n = spp_reader_read(r, buf, PIECE);
    if (n <= 0) {
      rc = (int)n;
      break;
    }
    if ((rc = fn(ud, buf, (size_t)n)) != 0)
      break;
  }
  free(buf);
  return rc;
}

int spp_transport_fetch(spp_transport *t, const spp_file *f,
                        spp_transport_data_fn fn, void *ud) {
  spp_file copy = *f;
  spp_reader *r;
  int rc = spp_transport_read_open(t, &copy, &r);
  if (rc)
    return rc;
  rc = push_all(r, fn, ud);
  spp_reader_close(r);
  return rc;
}

int spp_transport_post(spp_transport *t, const char *body, size_t len,
                       spp_transport_data_fn fn, void *ud) {
  spp_reader *r;
  int rc = spp_transport_post_open(t, body, len, &r);
  if (rc)
    return rc;
  rc = push_all(r, fn, ud);
  spp_reader_close(r);
  return rc;
}

/* ---- listing ---------------------------------------------------------- */

/* Add a file (name and url copied) to out.  Returns 0 or SAMSPOR_ENOMEM. */
static int files_add(spp_files *out, const char *name, const char *url,
                     int64_t size, int64_t mtime, long mtime_ns) {
  spp_file *nv = realloc(out->v, (out->n + 1) * sizeof *out->v);
  spp_file *f;
  if (!nv)
    return SAMSPOR_ENOMEM;
  out->v = nv;
  f = &nv[out->n];
  f->name = strdup(name);
  f->url = strdup(url);
  if (!f->name || !f->url) {
    free(f->name);
    free(f->url);
    return SAMSPOR_ENOMEM;
  }
  f->size = size;
  f->mtime = mtime;
  f->mtime_ns = mtime_ns;
  f->has_ino = 0;
  f->dev = f->ino = 0;
  out->n++;
  return 0;
}

/* Add the local file at path if it is a regular file.  Returns 0, 1 when
 * it is not (or is gone), or SAMSPOR_ENOMEM. */
static int add_local(spp_files *out, const char *path) {
  struct stat st;
  const char *slash = strrchr(path, '/');
  int rc;
  if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
    return 1;
  rc = files_add(out, slash ? slash + 1 : path, path, (int64_t)st.st_size,
                 (int64_t)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
  if (rc == 0) {
    spp_file *f = &out->v[out->n - 1];
    f->has_ino = 1;
    f->dev = (uint64_t)st.st_dev;
    f->ino = (uint64_t)st.st_ino;
  }
  return rc;
}

/*
 * glob(3) failed to read the directory of `path` and says not why (its
 * error callback has no user pointer to carry errno without file-scope
 * state), so ask opendir() again.  Returns SAMSPOR_ENOENT for a missing
 * directory, else SAMSPOR_EIO, after host->error.
 */
static int dir_error(spp_transport *t, const char *path, const char *slash) {
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
  return fail(t, e == ENOENT || e == ENOTDIR ? SAMSPOR_ENOENT : SAMSPOR_EIO,
              "cannot read directory %s (for %s): %s", dir, path, strerror(e));
}

static int list_local(spp_transport *t, spp_files *out) {
  const char *path = t->url;
  const char *slash = strrchr(path, '/');
  const char *seg = slash ? slash + 1 : path;
  glob_t g;
  size_t i;
  int grc, rc = 0;

  if (!strpbrk(seg, "*?[")) {
    struct stat st;
    if (stat(path, &st) != 0) {
      int e = errno;
      return fail(t, e == ENOENT || e == ENOTDIR ? SAMSPOR_ENOENT : SAMSPOR_EIO,
                  "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode))
      return fail(t, SAMSPOR_EINVAL, "%s: not a regular file", path);
    rc = add_local(out, path);
    if (rc == 1)
      return fail(t, SAMSPOR_ENOENT, "%s: no longer a regular file", path);
    return rc ? nomem(t) : 0;
  }
  grc = glob(path, GLOB_ERR | GLOB_NOSORT, NULL, &g);
  if (grc == GLOB_NOMATCH)
    return 0;
  if (grc == GLOB_NOSPACE) {
    globfree(&g);
    return nomem(t);
  }
  if (grc != 0) {
    globfree(&g);
    return dir_error(t, path, slash);
  }
  for (i = 0; i < g.gl_pathc && rc >= 0; i++)
    rc = add_local(out, g.gl_pathv[i]);
  globfree(&g);
  return rc < 0 ? nomem(t) : 0;
}

/* Size and mtime of one remote file (HTTP HEAD, SFTP stat).  Returns 0
 * with *size and *mtime (-1 when unknown), or a code after host->error. */
static int stat_remote(spp_transport *t, const char *url, int64_t *size,
                       int64_t *mtime) {
  spp_reader *r;
  int rc = reader_new(t, REQ_HEAD, url, &r);
  if (rc)
    return rc;
  rc = run_collect(r);
  *size = r->size;
  *mtime = r->mtime;
  spp_reader_close(r);
  return rc;
}

/* The last path segment of a remote url (after the authority): *seg and
 * its length; the query of an https url is not part of it. */
static void last_segment(const spp_transport *t, const char **seg,
                         size_t *len) {
  const char *auth = strstr(t->url, "://") + 3;
  const char *path = auth + strcspn(auth, "/");
  const char *end =
      path + (t->scheme == SCHEME_HTTPS ? strcspn(path, "?#") : strlen(path));
  const char *s = end;
  while (s > path && s[-1] != '/')
    s--;
  *seg = s;
  *len = (size_t)(end - s);
}

static int list_https(spp_transport *t, spp_files *out) {
  const char *seg;
  size_t len;
  int64_t size = -1, mtime = -1;
  char *name;
  int rc;

  last_segment(t, &seg, &len);
  if ((rc = stat_remote(t, t->url, &size, &mtime)) != 0)
    return rc;
  /* the name is for positions and state: undecoded is fine and exact */
  name = len ? strndup(seg, len) : strdup("index");
  if (!name)
    return nomem(t);
  rc = files_add(out, name, t->url, size, mtime, 0);
  free(name);
  return rc ? nomem(t) : 0;
}

static int list_sftp(spp_transport *t, spp_files *out) {
  const char *seg;
  size_t seglen, i, nnames = 0;
  char *pattern = NULL, *dir = NULL, **names = NULL;
  spp_reader *r = NULL;
  int rc;

  last_segment(t, &seg, &seglen);
  rc = spp_percent_decode(seg, seglen, &pattern);
  if (rc)
    return rc == SAMSPOR_ENOMEM ? nomem(t)
                                : fail(t, SAMSPOR_EINVAL,
                                       "%s: invalid %%-escape in the file "
                                       "name",
                                       t->shown);
  if (!*pattern || strchr(pattern, '/')) {
    free(pattern);
    return fail(t, SAMSPOR_EINVAL, "%s: the url must name a file (or a glob)",
                t->shown);
  }
  if (!strpbrk(pattern, "*?[")) {
    int64_t size = -1, mtime = -1;
    rc = stat_remote(t, t->url, &size, &mtime);
    if (!rc && files_add(out, pattern, t->url, size, mtime, 0))
      rc = nomem(t);
    free(pattern);
    return rc;
  }

  /* A glob: list the directory (the url up to the segment) by name. */
  dir = strndup(t->url, (size_t)(seg - t->url));
  if (!dir) {
    free(pattern);
    return nomem(t);
  }
  if ((rc = reader_new(t, REQ_LIST, dir, &r)) != 0)
    goto out;
  if ((rc = run_collect(r)) != 0)
    goto out;
  if (spp_listing_match(r->buf + r->off, r->len - r->off, pattern, &names,
                        &nnames)) {
    rc = nomem(t);
    goto out;
  }
  spp_reader_close(r);
  r = NULL;
  if (nnames > 0) {
    /* The names do not say which are directories; a long listing does,
     * in its first column, for those that match: drop them, as glob(3)
     * on a local path does (fetching one would fail as an SSH error). */
    if ((rc = reader_new(t, REQ_LONG, dir, &r)) != 0 ||
        (rc = run_collect(r)) != 0)
      goto out;
    for (i = 0; i < nnames; i++)
      if (spp_listing_is_dir(r->buf + r->off, r->len - r->off, names[i])) {
        free(names[i]);
        names[i] = NULL;
      }
    spp_reader_close(r);
    r = NULL;
  }
  for (i = 0; i < nnames && rc == 0; i++) {
    char *esc, *url;
    int64_t size = -1, mtime = -1;
    if (!names[i]) /* a directory */
      continue;
    esc = curl_easy_escape(t->easy, names[i], (int)strlen(names[i]));
    url = esc ? malloc(strlen(dir) + strlen(esc) + 1) : NULL;
    if (!url) {
      curl_free(esc);
      rc = nomem(t);
      break;
    }
    strcpy(url, dir);
    strcat(url, esc);
    curl_free(esc);
    rc = stat_remote(t, url, &size, &mtime);
    if (rc == SAMSPOR_ENOENT) /* gone since the listing: not a match now */
      rc = 0;
    else if (!rc && files_add(out, names[i], url, size, mtime, 0))
      rc = nomem(t);
    free(url);
  }
out:
  spp_reader_close(r);
  for (i = 0; i < nnames; i++)
    free(names[i]);
  free(names);
  free(dir);
  free(pattern);
  return rc;
}

int spp_transport_list(spp_transport *t, int all, spp_files *out) {
  int rc;

  out->v = NULL;
  out->n = 0;
  rc = t->scheme == SCHEME_LOCAL   ? list_local(t, out)
       : t->scheme == SCHEME_HTTPS ? list_https(t, out)
                                   : list_sftp(t, out);
  if (rc) {
    spp_files_free(out);
    return rc;
  }
  spp_files_select(out, all);
  return 0;
}

int spp_transport_missing(spp_transport *t, int list_rc, const char *plugin) {
  if (list_rc != 0 && list_rc != SAMSPOR_ENOENT)
    return list_rc;
  if (t->if_missing == 1)
    return fail(t, SAMSPOR_ETEMP,
                "%s: no file matches %s yet (if_missing = retry: try again "
                "later)",
                plugin, t->shown);
  if (t->if_missing == 2)
    return fail(t, SAMSPOR_ESKIP,
                "%s: no file matches %s (if_missing = skip: nothing loaded)",
                plugin, t->shown);
  if (list_rc == 0)
    return fail(t, SAMSPOR_ENOENT, "%s: no file matches %s", plugin, t->shown);
  return list_rc; /* its message names the path and why */
}

int spp_transport_check(spp_transport *t) {
  spp_files files;
  int rc;

  t->no_retry = 1;
  rc = spp_transport_list(t, 0, &files);
  t->no_retry = 0;
  if (rc)
    return rc;
  if (files.n == 0)
    rc = fail(t, SAMSPOR_ENOENT, "no file matches %s", t->shown);
  else if (t->scheme == SCHEME_LOCAL) {
    int fd = open(files.v[0].url, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      rc = fail(t, e == ENOENT ? SAMSPOR_ENOENT : SAMSPOR_EIO, "%s: %s",
                files.v[0].url, strerror(e));
    } else {
      close(fd);
    }
  }
  spp_files_free(&files);
  return rc;
}

/* ---- opening ---------------------------------------------------------- */

const char *spp_transport_url(const spp_transport *t) {
  return t->shown;
}

double spp_transport_min_age(const spp_transport *t) {
  return t->min_age;
}

double spp_transport_settle(const spp_transport *t) {
  return t->min_age > 0 ? t->min_age : SPP_SETTLE_DEFAULT;
}

int spp_transport_files_all(const spp_transport *t) {
  return t->all_files;
}

int spp_transport_is_local(const spp_transport *t) {
  return t->scheme == SCHEME_LOCAL;
}

void spp_transport_close(spp_transport *t) {
  if (!t)
    return;
  if (t->active)
    spp_reader_close(t->active);
  if (t->easy)
    curl_easy_cleanup(t->easy);
  if (t->multi)
    curl_multi_cleanup(t->multi);
  curl_slist_free_all(t->headers);
  if (t->password) {
    /* the secret should not outlive its use in freed heap memory */
    volatile char *p = t->password;
    while (*p)
      *p++ = '\0';
    free(t->password);
  }
  free(t->url);
  free(t->shown);
  free(t->ca_file);
  free(t->client_cert);
  free(t->client_key);
  free(t->username);
  free(t->private_key);
  free(t->known_hosts);
  free(t);
}

/* Copy option value v into *dst (NULL when unset or empty).  Returns 0
 * or SAMSPOR_ENOMEM. */
static int copy_opt(const char *v, char **dst) {
  *dst = NULL;
  if (!v || !*v)
    return 0;
  *dst = strdup(v);
  return *dst ? 0 : SAMSPOR_ENOMEM;
}

/* The option naming a file must name a readable one.  Returns 0 or
 * SAMSPOR_EINVAL after host->error. */
static int readable(const spp_transport *t, const char *opt, const char *path) {
  if (!path || access(path, R_OK) == 0)
    return 0;
  return fail(t, SAMSPOR_EINVAL, "%s %s: %s", opt, path, strerror(errno));
}

/* Work out the scheme of t->url and, for local files, replace it by the
 * path it names.  Returns 0 or a code after host->error. */
static int parse_url(spp_transport *t) {
  const char *url = t->url, *sep = strstr(url, "://");
  size_t slen;
  char *path;
  const char *src;
  int rc;

  t->scheme = SCHEME_LOCAL;
  if (!sep)
    return 0;
  slen = (size_t)(sep - url);
  if (slen == 0 ||
      strspn(url, "abcdefghijklmnopqrstuvwxyz"
                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-") < slen)
    return 0; /* a local path that happens to contain "://" */
  if (slen == 5 && !strncasecmp(url, "https", 5)) {
    t->scheme = SCHEME_HTTPS;
    return 0;
  }
  if (slen == 4 && !strncasecmp(url, "sftp", 4)) {
    t->scheme = SCHEME_SFTP;
    return 0;
  }
  if (slen == 4 && !strncasecmp(url, "http", 4))
    return fail(t, SAMSPOR_EINVAL,
                "url %s: plain http:// is not supported: the data must travel "
                "encrypted (use https://)",
                t->shown);
  if (!(slen == 4 && !strncasecmp(url, "file", 4)))
    return fail(t, SAMSPOR_EINVAL,
                "url %s: unsupported URL scheme (use a local path, file://, "
                "https:// or sftp://)",
                t->shown);
  src = sep + 3;
  if (!strncasecmp(src, "localhost/", 10))
    src += 9;
  if (*src != '/')
    return fail(t, SAMSPOR_EINVAL,
                "url %s: a file:// URL needs an absolute path on this host "
                "(file:///path)",
                t->shown);
  rc = spp_percent_decode(src, strlen(src), &path);
  if (rc == SAMSPOR_ENOMEM)
    return nomem(t);
  if (rc)
    return fail(t, SAMSPOR_EINVAL, "url %s: invalid %%-escape", t->shown);
  free(t->url);
  t->url = path;
  return 0;
}

/* Checks of a local path: a glob only in the last segment. */
static int check_local(spp_transport *t) {
  const char *slash = strrchr(t->url, '/');
  const char *g = strpbrk(t->url, "*?[");
  if (g && slash && g < slash)
    return fail(t, SAMSPOR_EINVAL,
                "url %s: a glob is allowed only in the last path segment",
                t->shown);
  return 0;
}

/* Options of a remote url.  Returns 0 or a code after host->error. */
static int open_remote(spp_transport *t, const spp_transport_conf *c) {
  const char *const *items = NULL;
  size_t n, i;
  const char *seg;
  size_t seglen;

  if (t->scheme == SCHEME_HTTPS) {
    last_segment(t, &seg, &seglen);
    (void)seg;
    if (t->client_key && !t->client_cert)
      return fail(t, SAMSPOR_EINVAL,
                  "client_key_file is set without client_cert_file");
    n = c->headers.n;
    items = c->headers.items;
    for (i = 0; i < n; i++) {
      const char *hd = items[i];
      const char *colon = hd ? strchr(hd, ':') : NULL;
      struct curl_slist *nl;
      if (!colon || colon == hd || strpbrk(hd, "\r\n"))
        return fail(t, SAMSPOR_EINVAL,
                    "headers: entry %zu is not one \"Name: value\" line",
                    i + 1);
      nl = curl_slist_append(t->headers, hd);
      if (!nl)
        return nomem(t);
      t->headers = nl;
    }
    const char *hf = c->headers_file;
    if (hf) {
      char **fh, err[MSG_MAX];
      size_t nf;
      int rc = spp_headers_file_read(hf, &fh, &nf, err, sizeof err);
      if (rc != 0)
        return fail(t, rc, "%s", err);
      for (i = 0; i < nf; i++) {
        struct curl_slist *nl = curl_slist_append(t->headers, fh[i]);
        if (!nl) {
          spp_headers_free(fh, nf);
          return nomem(t);
        }
        t->headers = nl;
      }
      spp_headers_free(fh, nf);
    }
  } else {
    const char *auth = strstr(t->url, "://") + 3;
    const char *end = auth + strcspn(auth, "/");
    int user_in_url = memchr(auth, '@', (size_t)(end - auth)) != NULL;
    const char *slash = strrchr(t->url, '/');
    const char *g = strpbrk(end, "*?[");

    if (!*end || !slash || slash < end)
      return fail(t, SAMSPOR_EINVAL, "url %s: no file path", t->shown);
    if (g && g < slash)
      return fail(t, SAMSPOR_EINVAL,
                  "url %s: a glob is allowed only in the last path segment",
                  t->shown);
    if (!t->known_hosts)
      return fail(t, SAMSPOR_EINVAL,
                  "url %s: sftp:// needs known_hosts_file, a known_hosts "
                  "file with the server's host key (it is always checked)",
                  t->shown);
    if (!t->username && !user_in_url)
      return fail(t, SAMSPOR_EINVAL, "url %s: sftp:// needs username",
                  t->shown);
    if (!t->private_key && !t->password)
      return fail(t, SAMSPOR_EINVAL,
                  "url %s: sftp:// needs private_key_file or password_file",
                  t->shown);
  }
  t->multi = curl_multi_init();
  t->easy = curl_easy_init();
  if (!t->multi || !t->easy)
    return fail(t, SAMSPOR_ENOMEM, "cannot set up libcurl");
  return 0;
}

int spp_transport_open(const samspor_host *host, samspor_ctx *ctx,
                       const spp_transport_conf *c, spp_transport **out) {
  spp_transport *t;
  const char *url;
  int rc;

  *out = NULL;
  t = calloc(1, sizeof *t);
  if (!t) {
    host->error(ctx, "out of memory");
    return SAMSPOR_ENOMEM;
  }
  t->host = host;
  t->ctx = ctx;
  t->khmatch = -1;
  /* jitter state: differs between processes and transports, and needs
   * no global generator */
  t->seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16) ^
            (unsigned)(uintptr_t)t;

  url = c->url;
  if (!url || !*url) {
    rc = fail(t, SAMSPOR_EINVAL, "url is required");
    goto fail;
  }
  t->url = strdup(url);
  t->shown = spp_url_redact(url);
  if (!t->url || !t->shown)
    goto nomem;

  if (c->files == 0 || c->files == 1) /* newest|all */
    t->all_files = c->files;
  else {
    rc = fail(t, SAMSPOR_EINVAL, "files must be \"newest\" or \"all\"");
    goto fail;
  }
  if (c->if_missing >= 0 && c->if_missing <= 2) /* fail|retry|skip */
    t->if_missing = c->if_missing;
  else {
    rc = fail(t, SAMSPOR_EINVAL,
              "if_missing must be \"fail\", \"retry\" or \"skip\"");
    goto fail;
  }

  if (copy_opt(c->ca_file, &t->ca_file) ||
      copy_opt(c->client_cert_file, &t->client_cert) ||
      copy_opt(c->client_key_file, &t->client_key) ||
      copy_opt(c->username, &t->username) ||
      copy_opt(c->password, &t->password) ||
      copy_opt(c->private_key_file, &t->private_key) ||
      copy_opt(c->known_hosts_file, &t->known_hosts))
    goto nomem;
  t->connect_ms = (long)(c->connect_timeout * 1000);
  t->timeout_ms = (long)(c->timeout * 1000);
  if (t->connect_ms <= 0)
    t->connect_ms = 30000;
  if (t->timeout_ms <= 0)
    t->timeout_ms = 30L * 60 * 1000;
  {
    long long n = c->retry_attempts;
    t->retries = n < 0 ? 0 : n > 100 ? 100 : (int)n;
  }
  t->backoff = c->retry_backoff;
  t->max_backoff = c->retry_max_backoff;
  t->min_age = c->min_age;
  if (t->min_age < 0)
    t->min_age = 0;
  if (t->backoff < 0)
    t->backoff = 0;
  if (t->max_backoff < t->backoff)
    t->max_backoff = t->backoff;

  if ((rc = parse_url(t)) != 0)
    goto fail;
  if (t->scheme == SCHEME_LOCAL) {
    rc = check_local(t);
  } else {
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK) {
      rc = fail(t, SAMSPOR_EFAIL, "cannot initialise libcurl: %s",
                curl_easy_strerror(curl_init_rc));
      goto fail;
    }
    if ((rc = readable(t, "ca_file", t->ca_file)) != 0 ||
        (rc = readable(t, "client_cert_file", t->client_cert)) != 0 ||
        (rc = readable(t, "client_key_file", t->client_key)) != 0 ||
        (rc = readable(t, "private_key_file", t->private_key)) != 0 ||
        (rc = readable(t, "known_hosts_file", t->known_hosts)) != 0)
      goto fail;
    rc = open_remote(t, c);
  }
  if (rc)
    goto fail;
  *out = t;
  return 0;
nomem:
  rc = nomem(t);
fail:
  spp_transport_close(t);
  return rc;
}
