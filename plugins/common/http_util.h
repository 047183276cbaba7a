/*
 * http_util.h — the pure HTTP helpers that the transport
 * (plugins/common/transport.c) and the rest plugin
 * (plugins/rest/rest_http.c) share: reason phrases, which statuses are
 * worth retrying, the jitter of retries, sleeping through signals and
 * reading a headers_file.
 * Kept apart from transport.c so that rest, which has its own libcurl
 * engine, links only these.  Compiled into each plugin that uses it, so
 * everything here is hidden.
 */
#ifndef SAMSPOR_HTTP_UTIL_H
#define SAMSPOR_HTTP_UTIL_H

#include <stddef.h>

/* A uniform draw in [0, 1) from rand_r(seed), for the jitter of
 * samspor_backoff_delay() (samspor-plugin.h): the state is the caller's. */
double spp_jitter01(unsigned *seed);

/* Nonzero when an HTTP status is worth retrying: 429 and 5xx. */
int spp_http_status_temporary(long status);

/* The reason phrase of common HTTP statuses ("Not Found"), or "". */
const char *spp_http_reason(long status);

/* Sleep s seconds (nothing when s <= 0), through signals: the core ends
 * the process when it wants it gone, so an interrupted sleep goes on. */
void spp_sleep_for(double s);

/*
 * Whether following a redirect to `location` (the Location header's value,
 * `len` bytes, possibly relative to `current`, the URL that answered)
 * stays at the scheme, host and port of `configured`: 1 yes, 0 no (or
 * unparsable).  Configured headers and credentials are sent only there.
 */
int spp_http_same_origin(const char *configured, const char *current,
                         const char *location, size_t len);

/*
 * Read a headers_file: one "Name: value" a line (CRLF or LF), blank lines
 * and lines starting with '#' skipped.  The file must be a regular file of
 * at most 64 KiB not readable by group or others, since its lines carry
 * secrets.  Returns 0 with *out (a NULL-terminated array of *n malloc'd
 * lines; free with spp_headers_free()), or SAMSPOR_EINVAL (the file is
 * unusable) or SAMSPOR_ENOMEM, with a sentence in err (capacity errlen)
 * naming the file and line but never a value.
 */
int spp_headers_file_read(const char *path, char ***out, size_t *n, char *err,
                          size_t errlen);

/* Wipe and free what spp_headers_file_read() returned. */
void spp_headers_free(char **lines, size_t n);

#endif
