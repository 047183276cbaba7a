#include "config.h"

/*
 * rest_http.c — HTTPS over libcurl for the rest plugin: TLS, auth,
 * retries, size cap.  See rest_http.h for the contract.
 *
 * Every request starts from curl_easy_reset() and sets all of its options,
 * so that an API request never inherits the token endpoint's credentials
 * or the reverse; reset keeps the connection cache, so pages still reuse
 * one kept-alive connection.
 */

#include "rest_http.h"

#include "http_util.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "http_util.h"
#include "rest_util.h"

#define URL_TEXT 512          /* a redacted URL in a message */
#define TOKEN_MARGIN_MAX 60.0 /* renew a token this long before expiry */

typedef struct request request;

struct rest_http {
  const samspor_host *host; /* borrowed, valid until free */
  samspor_ctx *ctx;
  rest_http_config cfg;             /* strings borrowed from the settings */
  CURL *curl;                       /* owned; reused for every request */
  struct curl_slist *get_headers;   /* owned: configured + defaults */
  struct curl_slist *post_headers;  /* owned: the same + Content-Type */
  struct curl_slist *token_headers; /* owned: for the token endpoint */
  char errbuf[CURL_ERROR_SIZE];     /* libcurl's text of its last error */

  /* The response being received (valid until the next request). */
  char *body;         /* owned; NUL-terminated; reused from page to page */
  size_t len, cap;    /* bytes in body; allocated size (cap - 1 usable) */
  int too_big;        /* the body passed cfg.max_body: transfer stopped */
  int header_oom;     /* out of memory keeping a Link target */
  long status;        /* HTTP status of the last response, 0 for none */
  long hdr_status;    /* status of the response whose headers arrive */
  const request *rq;  /* the request under way (for on_header) */
  int cross_redirect; /* a redirect to another host was refused */
  char *link_next;    /* owned: first Link rel="next" target, or NULL */
  int has_retry_after;
  double retry_after; /* seconds, from Retry-After */

  /* OAuth2 */
  char *token;                /* owned access token, wiped when dropped */
  double token_deadline;      /* monotonic time to renew at; 0: only on 401 */
  unsigned long long ntokens; /* tokens obtained, for the log */

  unsigned seed; /* rand_r state for jitter, seeded per client */
};

/* One request as with_retries() performs it. */
struct request {
  const char *what; /* "" or "token endpoint " (for messages) */
  const char *url;
  int post;
  const char *body; /* POST body, len bytes */
  size_t len;
  const struct curl_slist *headers;
  const char *bearer;      /* Authorization: Bearer, or NULL */
  const char *user, *pass; /* basic auth, or NULL */
};

/* ---- libcurl, once per process ----------------------------------------- */

/*
 * curl_global_init() is not thread-safe with itself and must run before
 * any other libcurl call; a plugin has no init hook of its own, so the
 * first rest_http_new() (or rest_url_resolve) runs it through
 * pthread_once.  This once-flag is the plugin's only file-scope state: it
 * is set once and never reset, and libcurl's global state is never torn
 * down (the plugin stays loaded until the process ends).
 */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void) {
  /* A failure shows later as curl_easy_init() returning NULL. */
  (void)curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void curl_init(void) {
  pthread_once(&curl_once, curl_init_once);
}

/* ---- helpers ---------------------------------------------------------- */

static double now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Overwrite and free a secret. */
static void wipe_free(char *s) {
  if (!s)
    return;
#ifdef HAVE_EXPLICIT_BZERO
  explicit_bzero(s, strlen(s));
#else
  {
    volatile char *p = s;
    while (*p)
      *p++ = 0;
  }
#endif
  free(s);
}

/* "HTTP 404 Not Found", or "HTTP 499" for a status without a phrase
 * here, into buf. */
static const char *status_text(long status, char *buf, size_t size) {
  const char *p = spp_http_reason(status);
  snprintf(buf, size, "HTTP %ld%s%s", status, *p ? " " : "", p);
  return buf;
}

/* Whether a header list already has a header of this name. */
static int has_header(const char *const *list, size_t n, const char *name) {
  size_t i, len = strlen(name);
  for (i = 0; i < n; i++)
    if (!strncasecmp(list[i], name, len) && list[i][len] == ':')
      return 1;
  return 0;
}

/* Append to a curl_slist.  Returns 0 or SAMSPOR_ENOMEM (the list is kept
 * as it was). */
static int slist_add(struct curl_slist **l, const char *s) {
  struct curl_slist *n = curl_slist_append(*l, s);
  if (!n)
    return SAMSPOR_ENOMEM;
  *l = n;
  return 0;
}

/* ---- callbacks -------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud) {
  rest_http *h = ud;
  size_t n = size * nmemb;
  if (n > h->cfg.max_body - h->len) {
    h->too_big = 1;
    return 0; /* stops the transfer (CURLE_WRITE_ERROR) */
  }
  if (h->len + n + 1 > h->cap) {
    size_t cap = h->cap ? h->cap : 64 * 1024;
    char *b;
    while (cap < h->len + n + 1)
      cap *= 2;
    if (cap > h->cfg.max_body + 1)
      cap = h->cfg.max_body + 1;
    b = realloc(h->body, cap);
    if (!b)
      return 0;
    h->body = b;
    h->cap = cap;
  }
  memcpy(h->body + h->len, data, n);
  h->len += n;
  h->body[h->len] = '\0';
  return n;
}

/* Forget what the headers of an earlier response said. */
static void reset_headers(rest_http *h) {
  free(h->link_next);
  h->link_next = NULL;
  h->has_retry_after = 0;
  h->retry_after = 0;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud) {
  rest_http *h = ud;
  size_t n = size * nmemb, nlen;
  const char *colon, *v, *end = data + n;

  if (n >= 5 && !memcmp(data, "HTTP/", 5)) {
    /* The status line of a new response (after a redirect or a 100
     * Continue): only the final response's headers count. */
    const char *sp = memchr(data, ' ', n);
    h->hdr_status = sp ? strtol(sp + 1, NULL, 10) : 0;
    reset_headers(h);
    return n;
  }
  colon = memchr(data, ':', n);
  if (!colon)
    return n;
  nlen = (size_t)(colon - data);
  v = colon + 1;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' ||
                     end[-1] == '\t'))
    end--;
  if (nlen == 8 && !strncasecmp(data, "location", 8) && h->hdr_status >= 300 &&
      h->hdr_status <= 399 && h->rq) {
    /* libcurl would follow and send the configured headers (X-Api-Key...)
     * along: it drops only its own Authorization and Cookie at another
     * host.  So a redirect elsewhere is refused before it is followed,
     * measured against the request's URL, which the configuration (url,
     * token_url) or a same-host next link gave. */
    const char *cur = NULL;
    curl_easy_getinfo(h->curl, CURLINFO_EFFECTIVE_URL, &cur);
    if (!spp_http_same_origin(h->rq->url, cur ? cur : h->rq->url, v,
                              (size_t)(end - v))) {
      h->cross_redirect = 1;
      return 0; /* stops the transfer */
    }
  }
  if (nlen == 4 && !strncasecmp(data, "link", 4) && !h->link_next) {
    if (rest_link_next(v, (size_t)(end - v), &h->link_next) < 0)
      h->header_oom = 1;
  } else if (nlen == 11 && !strncasecmp(data, "retry-after", 11)) {
    char buf[64];
    size_t vl = (size_t)(end - v);
    double s;
    if (vl < sizeof buf) {
      memcpy(buf, v, vl);
      buf[vl] = '\0';
      if (rest_retry_after(buf, time(NULL), &s) == 0) {
        h->has_retry_after = 1;
        h->retry_after = s;
      }
    }
  }
  return n;
}

/* ---- one request ------------------------------------------------------ */

/* Set the options of request rq on a freshly reset handle.  Returns the
 * first libcurl error. */
static CURLcode set_options(rest_http *h, const request *rq) {
  CURL *c = h->curl;
  CURLcode rc = CURLE_OK;
#define SET(opt, val)                                                          \
  do {                                                                         \
    if (rc == CURLE_OK)                                                        \
      rc = curl_easy_setopt(c, opt, val);                                      \
  } while (0)

  SET(CURLOPT_URL, rq->url);
  SET(CURLOPT_ERRORBUFFER, h->errbuf);
  SET(CURLOPT_NOSIGNAL, 1L); /* threads: no SIGALRM for DNS timeouts */
#if LIBCURL_VERSION_NUM >= 0x075500
  SET(CURLOPT_PROTOCOLS_STR, "https");
  SET(CURLOPT_REDIR_PROTOCOLS_STR, "https");
#else
  SET(CURLOPT_PROTOCOLS, (long)CURLPROTO_HTTPS);
  SET(CURLOPT_REDIR_PROTOCOLS, (long)CURLPROTO_HTTPS);
#endif
  SET(CURLOPT_FOLLOWLOCATION, 1L);
  SET(CURLOPT_MAXREDIRS, 5L);
  /* Verification is always on; stated to say so, not to change it. */
  SET(CURLOPT_SSL_VERIFYPEER, 1L);
  SET(CURLOPT_SSL_VERIFYHOST, 2L);
  if (h->cfg.ca_file)
    SET(CURLOPT_CAINFO, h->cfg.ca_file);
  if (h->cfg.cert_file)
    SET(CURLOPT_SSLCERT, h->cfg.cert_file);
  if (h->cfg.key_file)
    SET(CURLOPT_SSLKEY, h->cfg.key_file);
  SET(CURLOPT_CONNECTTIMEOUT, h->cfg.connect_timeout);
  SET(CURLOPT_TIMEOUT, h->cfg.timeout);
  SET(CURLOPT_USERAGENT, "samspor-rest/" PACKAGE_VERSION);
  SET(CURLOPT_ACCEPT_ENCODING, ""); /* what libcurl can decode */
  /* The cap applies to the decoded bytes too (on_body), so a small gzip
   * bomb is stopped as well. */
  SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->cfg.max_body);
  SET(CURLOPT_WRITEFUNCTION, on_body);
  SET(CURLOPT_WRITEDATA, h);
  SET(CURLOPT_HEADERFUNCTION, on_header);
  SET(CURLOPT_HEADERDATA, h);
  if (rq->headers)
    SET(CURLOPT_HTTPHEADER, rq->headers);
  if (rq->post) {
    SET(CURLOPT_POST, 1L);
    SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->len);
    SET(CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
  }
  if (rq->bearer) {
    SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
    SET(CURLOPT_XOAUTH2_BEARER, rq->bearer);
  } else if (rq->user) {
    SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    SET(CURLOPT_USERNAME, rq->user);
    SET(CURLOPT_PASSWORD, rq->pass ? rq->pass : "");
  }
#undef SET
  return rc;
}

/* What kind of libcurl failure cc is. */
typedef enum failure {
  F_TEMP,       /* worth retrying */
  F_TLS_CLIENT, /* the server refused our client certificate (or none) */
  F_TLS_ALERT,  /* the server refused the handshake for another reason */
  F_TLS_VERIFY, /* we refused the server's certificate */
  F_TLS_FILES,  /* ca_file or the client certificate cannot be used */
  F_PERM        /* anything else that retrying cannot fix */
} failure;

static failure classify(const rest_http *h, CURLcode cc) {
  /* A TLS alert is the server's deliberate refusal, so retrying cannot
   * help.  Under TLS 1.3 the client sees the alert only on its first
   * read, hence RECV_ERROR as well as SSL_CONNECT_ERROR. */
  if ((cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_RECV_ERROR ||
       cc == CURLE_SEND_ERROR) &&
      strstr(h->errbuf, "alert")) {
    if (strstr(h->errbuf, "certificate") || strstr(h->errbuf, "unknown ca") ||
        strstr(h->errbuf, "handshake failure") ||
        strstr(h->errbuf, "access denied"))
      return F_TLS_CLIENT;
    return F_TLS_ALERT;
  }
  switch (cc) {
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_CONNECT:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_GOT_NOTHING:
  case CURLE_PARTIAL_FILE:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_AGAIN:
  case CURLE_BAD_CONTENT_ENCODING:
    return F_TEMP;
  case CURLE_PEER_FAILED_VERIFICATION:
    return F_TLS_VERIFY;
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
    return F_TLS_FILES;
  default:
    return F_PERM;
  }
}

/*
 * Perform rq, retrying temporary failures (libcurl's and HTTP 408, 429,
 * 5xx) up to cfg.retry_attempts times with capped exponential backoff and
 * full jitter; Retry-After, when given, sets the delay instead (capped at
 * retry_max_backoff).  Returns 0 when a response with a status that is no
 * temporary failure arrived (h->status; the body in h->body), or a
 * negative code after host->error().
 */
static int with_retries(rest_http *h, const request *rq) {
  char url[URL_TEXT];
  unsigned attempt;
  unsigned tries = h->cfg.retry_attempts + 1;

  rest_url_redact(rq->url, url, sizeof url);
  for (attempt = 0;; attempt++) {
    CURLcode cc;
    char why[CURL_ERROR_SIZE + 64];
    double delay;

    curl_easy_reset(h->curl);
    h->errbuf[0] = '\0';
    h->len = 0;
    h->too_big = 0;
    h->header_oom = 0;
    h->status = 0;
    h->hdr_status = 0;
    h->cross_redirect = 0;
    h->rq = rq;
    reset_headers(h);
    cc = set_options(h, rq);
    if (cc != CURLE_OK) {
      h->host->error(h->ctx, "rest: %s%s: libcurl refused an option: %s",
                     rq->what, url, curl_easy_strerror(cc));
      return SAMSPOR_EFAIL;
    }
    cc = curl_easy_perform(h->curl);
    h->rq = NULL;
    curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
    if (h->cross_redirect) {
      h->host->error(h->ctx,
                     "rest: %s%s redirects to another host; not following "
                     "it, so that the configured headers and credentials "
                     "reach no host but the configured one: configure the "
                     "URL it redirects to",
                     rq->what, url);
      return SAMSPOR_EFAIL;
    }
    if (h->too_big || cc == CURLE_FILESIZE_EXCEEDED) {
      h->host->error(h->ctx,
                     "rest: %s%s: the response is larger than "
                     "max_page_size (%zu bytes)",
                     rq->what, url, h->cfg.max_body);
      return SAMSPOR_EDATA;
    }
    if (h->header_oom || (cc == CURLE_WRITE_ERROR && !h->too_big)) {
      h->host->error(h->ctx, "rest: %s%s: out of memory", rq->what, url);
      return SAMSPOR_ENOMEM;
    }
    if (cc != CURLE_OK) {
      const char *detail = h->errbuf[0] ? h->errbuf : curl_easy_strerror(cc);
      switch (classify(h, cc)) {
      case F_TLS_CLIENT:
        h->host->error(h->ctx,
                       "rest: %s%s: the server refused the TLS handshake "
                       "(%s): a client certificate is required or was "
                       "not accepted (client_cert_file)",
                       rq->what, url, detail);
        return SAMSPOR_EAUTH;
      case F_TLS_ALERT:
        h->host->error(h->ctx,
                       "rest: %s%s: the server refused the TLS handshake "
                       "(%s)",
                       rq->what, url, detail);
        return SAMSPOR_EFAIL;
      case F_TLS_VERIFY:
        h->host->error(h->ctx,
                       "rest: %s%s: TLS verification of the server "
                       "failed: %s (check ca_file)",
                       rq->what, url, detail);
        return SAMSPOR_EFAIL;
      case F_TLS_FILES:
        h->host->error(h->ctx, "rest: %s%s: cannot use %s: %s", rq->what, url,
                       cc == CURLE_SSL_CACERT_BADFILE
                           ? "ca_file"
                           : "client_cert_file/client_key_file",
                       detail);
        return SAMSPOR_EINVAL;
      case F_PERM:
        h->host->error(h->ctx, "rest: %s%s: %s", rq->what, url, detail);
        return SAMSPOR_EFAIL;
      case F_TEMP:
        break;
      }
      snprintf(why, sizeof why, "%s", detail);
    } else if (h->status == 408 || h->status == 429 || h->status >= 500) {
      status_text(h->status, why, sizeof why);
    } else {
      return 0;
    }
    if (attempt + 1 >= tries) {
      h->host->error(h->ctx, "rest: %s%s: %s, still failing after %u %s",
                     rq->what, url, why, tries,
                     tries == 1 ? "attempt" : "attempts");
      return SAMSPOR_ETEMP;
    }
    if (cc == CURLE_OK && h->has_retry_after &&
        h->retry_after > h->cfg.retry_max_backoff) {
      /* Asking again sooner than the server said would only be refused
       * again: the run ends now, to be retried later as a whole. */
      h->host->error(h->ctx,
                     "rest: %s%s: %s, and the server asks to wait %.0f s, "
                     "longer than retry_max_backoff (%.0f s)",
                     rq->what, url, why, h->retry_after,
                     h->cfg.retry_max_backoff);
      return SAMSPOR_ETEMP;
    }
    if (cc == CURLE_OK && h->has_retry_after)
      delay = h->retry_after;
    else
      delay =
          samspor_backoff_delay(h->cfg.retry_backoff, h->cfg.retry_max_backoff,
                                attempt + 1, spp_jitter01(&h->seed));
    h->host->log(h->ctx, SAMSPOR_LOG_WARN,
                 "rest: %s%s: %s; retry %u of %u in %.1f s", rq->what, url, why,
                 attempt + 1, tries - 1, delay);
    spp_sleep_for(delay);
  }
}

/* ---- OAuth2 ----------------------------------------------------------- */

/* Drop the held token. */
static void drop_token(rest_http *h) {
  wipe_free(h->token);
  h->token = NULL;
  h->token_deadline = 0;
}

/* The OAuth2 "error" code of a token endpoint's error body, if it is a
 * plain code (RFC 6749 5.2: ASCII letters and '_'), for the message. */
static void oauth_error_code(const rest_http *h, char *out, size_t size) {
  json_t *root, *e;
  const char *s;
  size_t i;

  out[0] = '\0';
  root = json_loadb(h->body ? h->body : "", h->len, 0, NULL);
  e = root ? json_object_get(root, "error") : NULL;
  s = json_is_string(e) ? json_string_value(e) : NULL;
  if (s && *s && strlen(s) < size - 4 && strlen(s) < 40) {
    for (i = 0; s[i]; i++)
      if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_'))
        break;
    if (!s[i])
      snprintf(out, size, " (%s)", s);
  }
  if (root)
    json_decref(root);
}

/* Obtain a new token with the client credentials grant (RFC 6749 4.4).
 * Returns 0 or a negative code after host->error(). */
static int obtain_token(rest_http *h) {
  char url[URL_TEXT], code[64], st[64];
  char *form = NULL, *scope = NULL;
  json_t *root = NULL, *tok, *exp;
  request rq;
  double expires = 0;
  int rc;

  drop_token(h);
  rest_url_redact(h->cfg.token_url, url, sizeof url);
  if (h->cfg.scope && *h->cfg.scope) {
    if (rest_url_encode(h->cfg.scope, &scope))
      goto nomem;
    form = malloc(strlen(scope) + 48);
    if (!form)
      goto nomem;
    sprintf(form, "grant_type=client_credentials&scope=%s", scope);
  } else {
    form = strdup("grant_type=client_credentials");
    if (!form)
      goto nomem;
  }
  /* The client authenticates with HTTP basic (RFC 6749 2.3.1), so the
   * secret is in no body that a server might log. */
  memset(&rq, 0, sizeof rq);
  rq.what = "token endpoint ";
  rq.url = h->cfg.token_url;
  rq.post = 1;
  rq.body = form;
  rq.len = strlen(form);
  rq.headers = h->token_headers;
  rq.user = h->cfg.client_id;
  rq.pass = h->cfg.client_secret;
  rc = with_retries(h, &rq);
  if (rc)
    goto out;
  if (h->status == 400 || h->status == 401 || h->status == 403) {
    oauth_error_code(h, code, sizeof code);
    h->host->error(h->ctx,
                   "rest: token endpoint %s refused the client "
                   "credentials: %s%s",
                   url, status_text(h->status, st, sizeof st), code);
    rc = SAMSPOR_EAUTH;
    goto out;
  }
  if (h->status < 200 || h->status > 299) {
    h->host->error(h->ctx, "rest: token endpoint %s: %s", url,
                   status_text(h->status, st, sizeof st));
    rc = SAMSPOR_EFAIL;
    goto out;
  }
  root = json_loadb(h->body ? h->body : "", h->len, 0, NULL);
  tok = root ? json_object_get(root, "access_token") : NULL;
  if (!json_is_string(tok) || !json_string_length(tok) ||
      strlen(json_string_value(tok)) != json_string_length(tok)) {
    h->host->error(h->ctx,
                   "rest: token endpoint %s answered HTTP %ld without an "
                   "access_token in a JSON object",
                   url, h->status);
    rc = SAMSPOR_EFAIL;
    goto out;
  }
  h->token = strdup(json_string_value(tok));
  if (!h->token)
    goto nomem;
  exp = json_object_get(root, "expires_in");
  if (json_is_number(exp))
    expires = json_number_value(exp);
  else if (json_is_string(exp))
    expires = strtod(json_string_value(exp), NULL);
  if (expires > 0) {
    /* Renew a little before the server would refuse it, so that a page
     * never goes out with a token about to expire in flight. */
    double margin =
        expires / 10 < TOKEN_MARGIN_MAX ? expires / 10 : TOKEN_MARGIN_MAX;
    h->token_deadline = now_mono() + expires - margin;
  }
  h->ntokens++;
  if (expires > 0)
    h->host->log(h->ctx, SAMSPOR_LOG_INFO,
                 "rest: obtained an OAuth2 token from %s, valid %.0f s", url,
                 expires);
  else
    h->host->log(h->ctx, SAMSPOR_LOG_INFO,
                 "rest: obtained an OAuth2 token from %s (no expires_in: "
                 "used until refused)",
                 url);
  rc = 0;
out:
  if (root) {
    /* The body held the token; do not leave it in the buffer. */
    json_decref(root);
  }
  if (h->body && h->len)
    memset(h->body, 0, h->len);
  h->len = 0;
  free(form);
  free(scope);
  return rc;
nomem:
  h->host->error(h->ctx, "rest: out of memory");
  rc = SAMSPOR_ENOMEM;
  goto out;
}

int rest_http_authenticate(rest_http *h) {
  if (h->cfg.auth != REST_AUTH_OAUTH2)
    return 0;
  if (h->token && (h->token_deadline == 0 || now_mono() < h->token_deadline))
    return 0;
  return obtain_token(h);
}

/* ---- the API ---------------------------------------------------------- */

static const char *auth_name(rest_auth a) {
  switch (a) {
  case REST_AUTH_BEARER:
    return "bearer";
  case REST_AUTH_BASIC:
    return "basic";
  case REST_AUTH_OAUTH2:
    return "oauth2";
  default:
    return "none";
  }
}

int rest_http_fetch(rest_http *h, int post, const char *url, const char *body,
                    size_t len, rest_response *resp) {
  char ut[URL_TEXT], st[64];
  int renewed = 0, rc;
  request rq;

  memset(resp, 0, sizeof *resp);
  for (;;) {
    if ((rc = rest_http_authenticate(h)) != 0)
      return rc;
    memset(&rq, 0, sizeof rq);
    rq.what = "";
    rq.url = url;
    rq.post = post;
    rq.body = body;
    rq.len = len;
    rq.headers = post ? h->post_headers : h->get_headers;
    if (h->cfg.auth == REST_AUTH_BEARER)
      rq.bearer = h->cfg.token;
    else if (h->cfg.auth == REST_AUTH_OAUTH2)
      rq.bearer = h->token;
    else if (h->cfg.auth == REST_AUTH_BASIC) {
      rq.user = h->cfg.username;
      rq.pass = h->cfg.password;
    }
    if ((rc = with_retries(h, &rq)) != 0)
      return rc;
    if (h->status >= 200 && h->status <= 299)
      break;
    rest_url_redact(url, ut, sizeof ut);
    if (h->status == 401 && h->cfg.auth == REST_AUTH_OAUTH2 && !renewed) {
      /* Revoked or expired early: one new token, one more try. */
      h->host->log(h->ctx, SAMSPOR_LOG_INFO,
                   "rest: %s: HTTP 401 with the current token; obtaining a "
                   "new one",
                   ut);
      renewed = 1;
      drop_token(h);
      continue;
    }
    if (h->status == 401) {
      h->host->error(h->ctx,
                     "rest: %s: HTTP 401 Unauthorized: the API refused the "
                     "credentials (auth = %s%s)",
                     ut, auth_name(h->cfg.auth),
                     renewed ? ", also with a new token" : "");
      return SAMSPOR_EAUTH;
    }
    h->host->error(h->ctx, "rest: %s: %s (not retried)", ut,
                   status_text(h->status, st, sizeof st));
    return SAMSPOR_EFAIL;
  }
  resp->status = h->status;
  if (!h->body) {
    h->body = malloc(1);
    if (!h->body) {
      h->host->error(h->ctx, "rest: out of memory");
      return SAMSPOR_ENOMEM;
    }
    h->cap = 1;
  }
  h->body[h->len] = '\0';
  resp->body = h->body;
  resp->len = h->len;
  resp->link_next = h->link_next;
  resp->url = url;
  {
    char *eff = NULL;
    if (curl_easy_getinfo(h->curl, CURLINFO_EFFECTIVE_URL, &eff) == CURLE_OK &&
        eff)
      resp->url = eff;
  }
  return 0;
}

/* ---- life cycle ------------------------------------------------------- */

int rest_http_new(const samspor_host *host, samspor_ctx *ctx,
                  const rest_http_config *cfg, rest_http **out) {
  rest_http *h;
  size_t i;
  int rc = 0;

  *out = NULL;
  curl_init();
  h = calloc(1, sizeof *h);
  if (!h) {
    host->error(ctx, "rest: out of memory");
    return SAMSPOR_ENOMEM;
  }
  h->host = host;
  h->ctx = ctx;
  h->cfg = *cfg;
  h->seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)(uintptr_t)h ^
            (unsigned)(now_mono() * 1e6);
  h->curl = curl_easy_init();
  if (!h->curl) {
    host->error(ctx, "rest: cannot initialise libcurl");
    free(h);
    return SAMSPOR_EFAIL;
  }
  for (i = 0; i < cfg->nheaders && !rc; i++) {
    rc = slist_add(&h->get_headers, cfg->headers[i]);
    if (!rc)
      rc = slist_add(&h->post_headers, cfg->headers[i]);
  }
  if (!rc && !has_header(cfg->headers, cfg->nheaders, "accept")) {
    rc = slist_add(&h->get_headers, "Accept: application/json");
    if (!rc)
      rc = slist_add(&h->post_headers, "Accept: application/json");
  }
  if (!rc && !has_header(cfg->headers, cfg->nheaders, "content-type"))
    rc = slist_add(&h->post_headers, "Content-Type: application/json");
  /* No "Expect: 100-continue" round trip before a large POST body. */
  if (!rc && !has_header(cfg->headers, cfg->nheaders, "expect"))
    rc = slist_add(&h->post_headers, "Expect:");
  if (!rc)
    rc = slist_add(&h->token_headers, "Accept: application/json");
  if (!rc)
    rc = slist_add(&h->token_headers,
                   "Content-Type: application/x-www-form-urlencoded");
  if (rc) {
    host->error(ctx, "rest: out of memory");
    rest_http_free(h);
    return rc;
  }
  *out = h;
  return 0;
}

void rest_http_free(rest_http *h) {
  if (!h)
    return;
  if (h->ntokens > 1)
    h->host->log(h->ctx, SAMSPOR_LOG_DEBUG, "rest: %llu OAuth2 tokens used",
                 h->ntokens);
  drop_token(h);
  if (h->curl)
    curl_easy_cleanup(h->curl);
  curl_slist_free_all(h->get_headers);
  curl_slist_free_all(h->post_headers);
  curl_slist_free_all(h->token_headers);
  free(h->link_next);
  free(h->body);
  free(h);
}

int rest_url_resolve(const char *base, const char *ref, char **out) {
  CURLU *u;
  char *s = NULL;
  int rc = SAMSPOR_EDATA;

  *out = NULL;
  curl_init();
  u = curl_url();
  if (!u)
    return SAMSPOR_ENOMEM;
  if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
    *out = strdup(s);
    rc = *out ? 0 : SAMSPOR_ENOMEM;
  }
  curl_free(s);
  curl_url_cleanup(u);
  return rc;
}

/* The origin of url ("https://host:port"), malloc'd, or NULL. */
static char *origin_of(const char *url) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *port = NULL, *o = NULL;
  if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    size_t n = strlen(scheme) + strlen(host) + strlen(port) + 8;
    o = malloc(n);
    if (o) {
      size_t i;
      snprintf(o, n, "%s://%s:%s", scheme, host, port);
      for (i = 0; o[i]; i++) /* scheme and host names are ASCII-caseless */
        if (o[i] >= 'A' && o[i] <= 'Z')
          o[i] = (char)(o[i] + 32);
    }
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return o;
}

int rest_url_same_origin(const char *a, const char *b) {
  char *oa, *ob;
  int rc;
  curl_init();
  oa = origin_of(a);
  ob = origin_of(b);
  rc = !oa || !ob ? SAMSPOR_EDATA : !strcmp(oa, ob);
  free(oa);
  free(ob);
  return rc;
}
