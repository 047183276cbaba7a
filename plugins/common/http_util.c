#include "config.h"

/*
 * http_util.c — HTTP helpers shared by transport.c and the rest plugin
 * (see http_util.h).  Only libcurl's URL parser here: rest drives its own
 * transfers.
 */

#include "http_util.h"
#include "samspor-plugin.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HEADERS_FILE_MAX (64 * 1024)

double spp_jitter01(unsigned *seed) {
  return (double)rand_r(seed) / ((double)RAND_MAX + 1.0);
}

int spp_http_status_temporary(long status) {
  return status == 429 || (status >= 500 && status <= 599);
}

const char *spp_http_reason(long status) {
  switch (status) {
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 406:
    return "Not Acceptable";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 410:
    return "Gone";
  case 413:
    return "Content Too Large";
  case 415:
    return "Unsupported Media Type";
  case 422:
    return "Unprocessable Content";
  case 429:
    return "Too Many Requests";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  default:
    return "";
  }
}

void spp_sleep_for(double s) {
  struct timespec ts;
  if (s <= 0)
    return;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* Nonzero when c may appear in a header name (RFC 9110 token). */
static int tchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

void spp_headers_free(char **lines, size_t n) {
  if (!lines)
    return;
  for (size_t i = 0; i < n; i++) {
    /* volatile: the wipe must not be optimised away */
    volatile char *p = lines[i];
    while (p && *p)
      *p++ = 0;
    free(lines[i]);
  }
  free(lines);
}

int spp_headers_file_read(const char *path, char ***out, size_t *n, char *err,
                          size_t errlen) {
  struct stat st;
  char *buf = NULL, **lines = NULL;
  size_t got = 0, count = 0, lineno = 0;
  int fd, rc = SAMSPOR_EINVAL;

  *out = NULL;
  *n = 0;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "headers_file %s: %s", path, strerror(errno));
    return SAMSPOR_EINVAL;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      st.st_size > HEADERS_FILE_MAX) {
    snprintf(err, errlen,
             "headers_file %s: not a regular file of at most %d bytes", path,
             HEADERS_FILE_MAX);
    goto done;
  }
  if (st.st_mode & 077) {
    snprintf(err, errlen,
             "headers_file %s is readable or writable by group or others; "
             "it holds secrets: chmod 600 it",
             path);
    goto done;
  }
  buf = malloc((size_t)st.st_size + 1);
  lines = calloc((size_t)st.st_size / 2 + 2, sizeof *lines);
  if (!buf || !lines) {
    snprintf(err, errlen, "out of memory");
    rc = SAMSPOR_ENOMEM;
    goto done;
  }
  for (;;) {
    ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      snprintf(err, errlen, "headers_file %s: %s", path, strerror(errno));
      goto done;
    }
    if (r == 0 || (got += (size_t)r) == (size_t)st.st_size)
      break;
  }
  buf[got] = '\0';
  if (memchr(buf, '\0', got)) {
    snprintf(err, errlen, "headers_file %s holds a NUL byte", path);
    goto done;
  }
  for (char *p = buf, *next; p < buf + got; p = next) {
    char *nl = strchr(p, '\n');
    size_t len = nl ? (size_t)(nl - p) : strlen(p), k = 0;
    next = p + len + 1;
    lineno++;
    if (len && p[len - 1] == '\r')
      len--;
    p[len] = '\0';
    if (!len || p[0] == '#')
      continue;
    while (tchar(p[k]))
      k++;
    if (k == 0 || p[k] != ':' || strchr(p, '\r')) {
      snprintf(err, errlen, "headers_file %s:%zu: not a \"Name: value\" line",
               path, lineno);
      goto done;
    }
    if (!(lines[count] = strdup(p))) {
      snprintf(err, errlen, "out of memory");
      rc = SAMSPOR_ENOMEM;
      goto done;
    }
    count++;
  }
  *out = lines;
  *n = count;
  lines = NULL;
  rc = 0;
done:
  if (buf) {
    volatile char *v = buf;
    for (size_t i = 0; i < got; i++)
      v[i] = 0;
  }
  free(buf);
  spp_headers_free(lines, count);
  close(fd);
  return rc;
}

/* Scheme, host and port of h into buf ("https://host:443"), lowercase.
 * Returns 0, or -1 when h lacks one of them. */
static int origin_of(CURLU *h, char *buf, size_t len) {
  char *scheme = NULL, *host = NULL, *port = NULL;
  int rc = -1;
  if (curl_url_get(h, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      curl_url_get(h, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(h, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    snprintf(buf, len, "%s://%s:%s", scheme, host, port);
    for (char *p = buf; *p; p++)
      if (*p >= 'A' && *p <= 'Z')
        *p = (char)(*p + 32);
    rc = 0;
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  return rc;
}

int spp_http_same_origin(const char *configured, const char *current,
                         const char *location, size_t len) {
  char a[512], b[512], *loc = malloc(len + 1);
  CURLU *hc = curl_url(), *hl = curl_url();
  int same = 0;

  if (loc && hc && hl) {
    memcpy(loc, location, len);
    loc[len] = '\0';
    /* hl starts at the answering URL, so a relative Location resolves. */
    if (curl_url_set(hc, CURLUPART_URL, configured, 0) == CURLUE_OK &&
        curl_url_set(hl, CURLUPART_URL, current, 0) == CURLUE_OK &&
        curl_url_set(hl, CURLUPART_URL, loc, 0) == CURLUE_OK &&
        origin_of(hc, a, sizeof a) == 0 && origin_of(hl, b, sizeof b) == 0)
      same = strcmp(a, b) == 0;
  }
  free(loc);
  curl_url_cleanup(hc);
  curl_url_cleanup(hl);
  return same;
}
