/*
 * http_util.h — the pure HTTP helpers that the transport
 * (plugins/common/transport.c) and the rest plugin
 * (plugins/rest/rest_http.c) share: reason phrases, which statuses are
 * worth retrying, the backoff of retries and sleeping through signals.
 * Kept apart from transport.c so that rest, which has its own libcurl
 * engine, links only these.  Compiled into each plugin that uses it, so
 * everything here is hidden.
 */
#ifndef SAMSPOR_HTTP_UTIL_H
#define SAMSPOR_HTTP_UTIL_H

/*
 * The wait before retry number `attempt` (0 for the first retry): a
 * uniformly random time in [0, min(cap, base * 2^attempt)) seconds, "full
 * jitter", drawn with rand_r(seed) so that the state is the caller's.
 */
double sp_backoff_delay(double base, double cap, int attempt, unsigned *seed);

/* Nonzero when an HTTP status is worth retrying: 429 and 5xx. */
int sp_http_status_temporary(long status);

/* The reason phrase of common HTTP statuses ("Not Found"), or "". */
const char *sp_http_reason(long status);

/* Sleep s seconds (nothing when s <= 0), through signals: the core ends
 * the process when it wants it gone, so an interrupted sleep goes on. */
void sp_sleep_for(double s);

#endif
