#include "config.h"

#include "daemon/metrics.h"

#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "samspor-plugin.h"

/* One label value, escaped as the text format wants.  Connector names are
 * plain identifiers today; escaping anyway keeps the file parseable should
 * that rule ever loosen. */
static void put_label(sp_buf *b, const char *v) {
  sp_buf_putc(b, '"');
  for (const char *p = v ? v : ""; *p; p++) {
    if (*p == '\\' || *p == '"')
      sp_buf_putc(b, '\\');
    if (*p == '\n')
      sp_buf_puts(b, "\\n");
    else
      sp_buf_putc(b, *p);
  }
  sp_buf_putc(b, '"');
}

static void put_header(sp_buf *b, const char *name, const char *type,
                       const char *help) {
  sp_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_sample_prefix(sp_buf *b, const char *name,
                              const sp_metrics_conn *c) {
  sp_buf_printf(b, "%s{connector=", name);
  put_label(b, c->name);
  sp_buf_puts(b, "} ");
}

static void put_stream_prefix(sp_buf *b, const char *name,
                              const sp_metrics_conn *c,
                              const sp_metrics_stream *s) {
  sp_buf_printf(b, "%s{connector=", name);
  put_label(b, c->name);
  sp_buf_puts(b, ",stream=");
  put_label(b, s->name);
}

/* The per-stream metrics: progress of the running load, then the last
 * run's result and rejects per reason. */
static void format_streams(sp_buf *out, const sp_metrics_conn *conns,
                           size_t n) {
  static const struct {
    const char *name, *help;
    size_t off;
  } so_far[] = {
      {"samspor_stream_rows_read",
       "Rows the running load of the stream has read so far.",
       offsetof(sp_metrics_stream, read)},
      {"samspor_stream_rows_loaded",
       "Rows the running load of the stream has sent to the warehouse so "
       "far (committed at the stream's end).",
       offsetof(sp_metrics_stream, loaded)},
      {"samspor_stream_rows_rejected",
       "Rows the running load of the stream has rejected so far.",
       offsetof(sp_metrics_stream, rejected)},
  };
  int any_running = 0, any_last = 0, any_reason = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < conns[i].nstreams; k++) {
      const sp_metrics_stream *s = &conns[i].streams[k];
      any_running |= s->running;
      any_last |= s->last_result != NULL;
      any_reason |= s->last_result && s->nreasons;
    }
  for (size_t m = 0; any_running && m < SP_ARRAY_LEN(so_far); m++) {
    put_header(out, so_far[m].name, "gauge", so_far[m].help);
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < conns[i].nstreams; k++) {
        const sp_metrics_stream *s = &conns[i].streams[k];
        if (!s->running)
          continue;
        put_stream_prefix(out, so_far[m].name, &conns[i], s);
        sp_buf_printf(out, "} %lld\n",
                      *(const long long *)((const char *)s + so_far[m].off));
      }
  }
  if (any_last) {
    put_header(out, "samspor_stream_last_result", "gauge",
               "1 for the result of the stream's last run (succeeded, "
               "failed, skipped).");
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < conns[i].nstreams; k++) {
        const sp_metrics_stream *s = &conns[i].streams[k];
        if (!s->last_result)
          continue;
        put_stream_prefix(out, "samspor_stream_last_result", &conns[i], s);
        sp_buf_puts(out, ",result=");
        put_label(out, s->last_result);
        sp_buf_puts(out, "} 1\n");
      }
    put_header(out, "samspor_stream_last_rows_loaded", "gauge",
               "Rows the stream's last run loaded.");
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < conns[i].nstreams; k++) {
        const sp_metrics_stream *s = &conns[i].streams[k];
        if (!s->last_result)
          continue;
        put_stream_prefix(out, "samspor_stream_last_rows_loaded", &conns[i], s);
        sp_buf_printf(out, "} %lld\n", s->last_loaded);
      }
    put_header(out, "samspor_stream_last_rows_rejected", "gauge",
               "Rows the stream's last run rejected.");
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < conns[i].nstreams; k++) {
        const sp_metrics_stream *s = &conns[i].streams[k];
        if (!s->last_result)
          continue;
        put_stream_prefix(out, "samspor_stream_last_rows_rejected", &conns[i],
                          s);
        sp_buf_printf(out, "} %lld\n", s->last_rejected);
      }
  }
  if (any_reason) {
    put_header(out, "samspor_stream_last_rejected_by_reason", "gauge",
               "Rows the stream's last run rejected, per reason.");
    for (size_t i = 0; i < n; i++)
      for (size_t k = 0; k < conns[i].nstreams; k++) {
        const sp_metrics_stream *s = &conns[i].streams[k];
        if (!s->last_result)
          continue;
        for (size_t r = 0; r < s->nreasons; r++) {
          put_stream_prefix(out, "samspor_stream_last_rejected_by_reason",
                            &conns[i], s);
          sp_buf_puts(out, ",reason=");
          put_label(out, s->reasons[r].reason);
          sp_buf_printf(out, "} %lld\n", s->reasons[r].rows);
        }
      }
  }
}

void sp_metrics_format(sp_buf *out, const sp_metrics_conn *conns, size_t n) {
  int any_run = 0;
  for (size_t i = 0; i < n; i++)
    any_run |= conns[i].have_last_run;

  put_header(out, "samspor_last_success_timestamp_seconds", "gauge",
             "Unix time the connector's last successful run ended (0: none "
             "known).");
  for (size_t i = 0; i < n; i++) {
    put_sample_prefix(out, "samspor_last_success_timestamp_seconds", &conns[i]);
    sp_buf_printf(out, "%.0f\n", conns[i].last_success);
  }
  if (any_run) {
    put_header(out, "samspor_last_run_duration_seconds", "gauge",
               "How long the connector's last run took.");
    for (size_t i = 0; i < n; i++)
      if (conns[i].have_last_run) {
        put_sample_prefix(out, "samspor_last_run_duration_seconds", &conns[i]);
        sp_buf_printf(out, "%.3f\n", conns[i].last_duration);
      }
    put_header(out, "samspor_rows_loaded", "gauge",
               "Rows the connector's last run loaded, all streams.");
    for (size_t i = 0; i < n; i++)
      if (conns[i].have_last_run) {
        put_sample_prefix(out, "samspor_rows_loaded", &conns[i]);
        sp_buf_printf(out, "%lld\n", conns[i].rows_loaded);
      }
    put_header(out, "samspor_rows_rejected", "gauge",
               "Rows the connector's last run rejected, all streams.");
    for (size_t i = 0; i < n; i++)
      if (conns[i].have_last_run) {
        put_sample_prefix(out, "samspor_rows_rejected", &conns[i]);
        sp_buf_printf(out, "%lld\n", conns[i].rows_rejected);
      }
  }
  put_header(out, "samspor_failures_total", "counter",
             "Failed runs of the connector since the daemon started.");
  for (size_t i = 0; i < n; i++) {
    put_sample_prefix(out, "samspor_failures_total", &conns[i]);
    sp_buf_printf(out, "%llu\n", conns[i].failures);
  }
  put_header(out, "samspor_running", "gauge",
             "1 while a run of the connector is going on, else 0.");
  for (size_t i = 0; i < n; i++) {
    put_sample_prefix(out, "samspor_running", &conns[i]);
    sp_buf_printf(out, "%d\n", conns[i].running ? 1 : 0);
  }
  format_streams(out, conns, n);
}

int sp_metrics_write(const char *path, const sp_metrics_conn *conns, size_t n,
                     char *err, size_t errlen) {
  sp_buf text;
  sp_buf_init(&text);
  sp_metrics_format(&text, conns, n);

  char why[512];
  int rc = 0;
  /* 0644: the collector runs as another user. */
  if (sp_replace_file(path, text.data, text.len, 0644, why, sizeof why) != 0) {
    snprintf(err, errlen, "metrics file: %s", why);
    rc = SAMSPOR_EIO;
  }
  sp_buf_free(&text);
  return rc;
}
