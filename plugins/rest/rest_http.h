/*
 * rest_http.h — HTTPS requests of the rest plugin over libcurl: TLS (always
 * verified; CA file; client certificate), authentication (bearer, basic,
 * OAuth2 client credentials with a reused token), retries of temporary
 * failures with capped exponential backoff and full jitter, and a cap on
 * the size of a response.
 *
 * One rest_http per stream (or per check): it owns one curl easy handle,
 * reused for every request so that the connection is kept alive between
 * pages.  Not shared between threads.
 *
 * Errors follow the plugin ABI: 0 or a negative SAMSPOR_E* code, after
 * host->error() with a sentence that names the URL (redacted by
 * rest_url_redact: no credentials, no query values) and never a field
 * value or a secret.
 */
#ifndef SAMSPOR_REST_HTTP_H
#define SAMSPOR_REST_HTTP_H

#include <stddef.h>

#include "samspor-plugin.h"

typedef enum rest_auth {
  REST_AUTH_NONE = 0,
  REST_AUTH_BEARER,
  REST_AUTH_BASIC,
  REST_AUTH_OAUTH2
} rest_auth;

/*
 * What a rest_http needs.  Strings are borrowed and must outlive the
 * rest_http (they are the host's settings, valid until close()).  Secrets
 * (token, password, client_secret) are never copied, logged or printed.
 */
typedef struct rest_http_config {
  const char *ca_file;        /* PEM CA bundle, or NULL for the system's */
  const char *cert_file;      /* client certificate (PEM), or NULL */
  const char *key_file;       /* its key, or NULL when in cert_file */
  long connect_timeout;       /* seconds */
  long timeout;               /* seconds for one whole request */
  const char *const *headers; /* "Name: value" for API requests */
  size_t nheaders;
  rest_auth auth;
  const char *token;               /* bearer */
  const char *username, *password; /* basic */
  const char *token_url;           /* oauth2 token endpoint */
  const char *client_id;           /* oauth2 */
  const char *client_secret;       /* oauth2 */
  const char *scope;               /* oauth2, or NULL */
  unsigned retry_attempts;         /* retries after the first try */
  double retry_backoff;            /* seconds before the first retry */
  double retry_max_backoff;        /* cap on a delay (and Retry-After) */
  size_t max_body;                 /* largest response accepted */
} rest_http_config;

typedef struct rest_http rest_http;

/*
 * A new client.  Returns 0 with *out (free with rest_http_free), or
 * SAMSPOR_ENOMEM / SAMSPOR_EFAIL after host->error().  Initialises libcurl
 * once per process (pthread_once) on first use.
 */
int rest_http_new(const samspor_host *host, samspor_ctx *ctx,
                  const rest_http_config *cfg, rest_http **out);

/* Release the client (NULL-safe); wipes the OAuth2 token it held. */
void rest_http_free(rest_http *h);

/* The result of a successful request: borrowed from the rest_http and
 * valid until its next request. */
typedef struct rest_response {
  long status;           /* the final HTTP status (2xx) */
  const char *body;      /* the body, NUL-terminated after len bytes */
  size_t len;            /* bytes of body (<= max_body) */
  const char *url;       /* the URL answered, after any redirects */
  const char *link_next; /* the raw target of a Link rel="next", or NULL */
} rest_response;

/*
 * GET url, or POST body (len bytes, Content-Type as the configured headers
 * say, else application/json) to it, with authentication, retries and the
 * size cap.  Returns 0 with *resp for a 2xx answer, or after host->error():
 *   SAMSPOR_ETEMP  connect errors, timeouts, 408, 429, 5xx still failing
 *                  after the retries, or at once when a Retry-After asks
 *                  for longer than retry_max_backoff;
 *   SAMSPOR_EAUTH  401 (with oauth2: after one new token and one retry),
 *                  or the token endpoint refused the client;
 *   SAMSPOR_EDATA  the response is larger than max_body;
 *   SAMSPOR_EFAIL  any other status (named), TLS verification failures,
 *                  other permanent libcurl errors;
 *   SAMSPOR_EINVAL ca_file or the client certificate cannot be used;
 *   SAMSPOR_ENOMEM.
 */
int rest_http_fetch(rest_http *h, int post, const char *url, const char *body,
                    size_t len, rest_response *resp);

/*
 * Make sure an OAuth2 token is held (a no-op for other auth), for check().
 * Returns 0 or a code as rest_http_fetch does.
 */
int rest_http_authenticate(rest_http *h);

/*
 * ref resolved against base (RFC 3986, via curl_url).  Returns 0 with
 * *out (malloc'd), SAMSPOR_EDATA when it is no valid URL, SAMSPOR_ENOMEM.
 */
int rest_url_resolve(const char *base, const char *ref, char **out);

/*
 * Whether URLs a and b have the same origin (scheme, host, port), for
 * next links: credentials go only where the first page came from.
 * Returns 1, 0, or SAMSPOR_EDATA when either is no valid URL.
 */
int rest_url_same_origin(const char *a, const char *b);

#endif
