#include "config.h"

#include "daemon/metrics.h"

#include <errno.h>
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
