/*
 * metrics.h — the daemon's Prometheus metrics, in the text format that
 * node_exporter's textfile collector reads (one file, replaced whole).
 *
 * The file is written to a temporary name in the same directory, fsync'd
 * and renamed over the old one, so the collector never reads half a file.
 * The temporary name does not end in ".prom", so the collector ignores it
 * should a crash leave it behind.
 */
#ifndef SAMSPOR_METRICS_H
#define SAMSPOR_METRICS_H

#include <stddef.h>

#include "base/util.h"

/* Rejected rows of one reason. */
typedef struct sp_metrics_reason {
  const char *reason; /* samspor.rejects.reason: a fixed word */
  long long rows;
} sp_metrics_reason;

/* One stream of a connector: its running load, its last run. */
typedef struct sp_metrics_stream {
  const char *name; /* the stream's table: the `stream` label */
  int running;      /* a progress or final record of the current run came */
  long long read, loaded, rejected; /* so far in the current run ("loaded":
                                       sent to the warehouse, committed at
                                       the stream's end) */
  const char *last_result; /* "succeeded", "failed", "skipped"; NULL: no
                              record of a last run */
  long long last_loaded, last_rejected;
  const sp_metrics_reason *reasons; /* the last run's rejects per reason */
  size_t nreasons;
} sp_metrics_stream;

/* What the daemon knows of one connector.  All borrowed by the caller. */
typedef struct sp_metrics_conn {
  const char *name;            /* connector name: the `connector` label */
  double last_success;         /* unix time of the last successful run; 0: none
                                  known (written as 0, so "too long ago" alerts
                                  fire rather than stay silent) */
  int have_last_run;           /* a run has ended since the daemon started, or
                                  the warehouse told us of one at start */
  double last_duration;        /* seconds of that run */
  long long rows_loaded;       /* rows it loaded (all streams) */
  long long rows_rejected;     /* rows it rejected (all streams) */
  unsigned long long failures; /* failed runs since the daemon started */
  int running;                 /* a run is going on now */
  const sp_metrics_stream *streams; /* streams heard of, in the current or
                                       the last run */
  size_t nstreams;
} sp_metrics_conn;

/*
 * Append the metrics of conns[0..n) to out: for each metric a HELP and a
 * TYPE line, then one sample per connector.  Metrics of the last run are
 * left out for connectors without one (have_last_run 0).  Per stream:
 * rows so far while it runs, the last run's result and its rejects per
 * reason.  Label values are
 * escaped as the format requires (\\, \", \n).  Pure: no I/O.
 */
void sp_metrics_format(sp_buf *out, const sp_metrics_conn *conns, size_t n);

/*
 * Format the metrics and replace the file at path atomically (temporary
 * file in the same directory, mode 0644, fsync, rename, fsync of the
 * directory).  Returns 0, or SAMSPOR_EIO with the reason in err (the
 * temporary file is removed and the old file left as it was).
 */
int sp_metrics_write(const char *path, const sp_metrics_conn *conns, size_t n,
                     char *err, size_t errlen);

#endif
