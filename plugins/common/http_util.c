#include "config.h"

/*
 * http_util.c — HTTP helpers shared by transport.c and the rest plugin
 * (see http_util.h).  No libcurl here: rest drives its own.
 */

#include "http_util.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

double sp_backoff_delay(double base, double cap, int attempt, unsigned *seed) {
  double limit = base;
  int i;

  for (i = 0; i < attempt && limit < cap; i++)
    limit *= 2;
  if (limit > cap)
    limit = cap;
  if (limit <= 0)
    return 0;
  return limit * ((double)rand_r(seed) / ((double)RAND_MAX + 1.0));
}

int sp_http_status_temporary(long status) {
  return status == 429 || (status >= 500 && status <= 599);
}

const char *sp_http_reason(long status) {
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

void sp_sleep_for(double s) {
  struct timespec ts;
  if (s <= 0)
    return;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}
