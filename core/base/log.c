#include "config.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_SYSTEMD
#define SD_JOURNAL_SUPPRESS_LOCATION /* the file:line of log.c says nothing */
#include <systemd/sd-journal.h>
#endif

static int g_level = SP_LOG_INFO;
static int g_json = 0;
/* stderr is the journal's stream: 0 no, 1 yes (priority prefixes), 2 yes
 * and its socket is there (sd_journal_sendv); -1: not looked at yet. */
static int g_journal = -1;

/* syslog priorities of error, warn, info, debug (syslog.h LOG_ERR ...). */
static const int level_priority[] = {3, 4, 6, 7};

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void sp_log_setup(int level, int json) {
  if (level < SP_LOG_ERROR)
    level = SP_LOG_ERROR;
  if (level > SP_LOG_DEBUG)
    level = SP_LOG_DEBUG;
  g_level = level;
  g_json = json;
}

/* systemd.exec(5): JOURNAL_STREAM is "DEV:INODE" of the stream it
 * connected stdout/stderr to; it is inherited by processes whose stderr
 * went elsewhere, hence the comparison. */
static int stderr_is_journal(void) {
  const char *v = getenv("JOURNAL_STREAM");
  if (!v || !*v)
    return 0;
  unsigned long long dev, ino;
  char tail;
  if (sscanf(v, "%llu:%llu%c", &dev, &ino, &tail) != 2)
    return 0;
  struct stat st;
  if (fstat(STDERR_FILENO, &st) != 0)
    return 0;
  return (unsigned long long)st.st_dev == dev &&
         (unsigned long long)st.st_ino == ino;
}

#ifdef HAVE_SYSTEMD
/* sd_journal_sendv() reports success when no journal listens (it drops
 * the event), so the socket is looked for first. */
static int journal_socket(void) {
  struct stat st;
  return stat("/run/systemd/journal/socket", &st) == 0 && S_ISSOCK(st.st_mode);
}
#endif

int sp_log_level(void) {
  return g_level;
}

int sp_log_level_parse(const char *s) {
  for (int i = 0; i < (int)SP_ARRAY_LEN(level_names); i++)
    if (s && strcmp(s, level_names[i]) == 0)
      return i;
  if (s && strcmp(s, "warning") == 0)
    return SP_LOG_WARN;
  return -1;
}

/* logfmt quotes a value when it has spaces, quotes, '=' or controls. */
static void put_logfmt_value(sp_buf *b, const char *s) {
  int quote = (*s == '\0');
  for (const char *p = s; *p; p++)
    if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20 ||
        *p == '\\')
      quote = 1;
  if (!quote) {
    sp_buf_puts(b, s);
    return;
  }
  sp_buf_putc(b, '"');
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') {
      sp_buf_putc(b, '\\');
      sp_buf_putc(b, (char)c);
    } else if (c == '\n') {
      sp_buf_puts(b, "\\n");
    } else if (c == '\t') {
      sp_buf_puts(b, "\\t");
    } else if (c < 0x20) {
      sp_buf_printf(b, "\\x%02x", c);
    } else {
      sp_buf_putc(b, (char)c);
    }
  }
  sp_buf_putc(b, '"');
}

static void put_json_string(sp_buf *b, const char *s) {
  sp_buf_putc(b, '"');
  for (const char *p = s; *p; p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') {
      sp_buf_putc(b, '\\');
      sp_buf_putc(b, (char)c);
    } else if (c == '\n') {
      sp_buf_puts(b, "\\n");
    } else if (c < 0x20) {
      sp_buf_printf(b, "\\u%04x", c);
    } else {
      sp_buf_putc(b, (char)c);
    }
  }
  sp_buf_putc(b, '"');
}

/* A number: bare in JSON and logfmt alike. */
static void put_number(sp_buf *b, const char *key, long long val) {
  if (g_json)
    sp_buf_printf(b, ",\"%s\":%lld", key, val);
  else
    sp_buf_printf(b, " %s=%lld", key, val);
}

static void put_field(sp_buf *b, const char *key, const char *val) {
  if (g_json) {
    sp_buf_puts(b, ",");
    put_json_string(b, key);
    sp_buf_putc(b, ':');
    put_json_string(b, val);
  } else {
    sp_buf_putc(b, ' ');
    sp_buf_puts(b, key);
    sp_buf_putc(b, '=');
    put_logfmt_value(b, val);
  }
}

#ifdef HAVE_SYSTEMD
/* The event as journal fields.  Returns 0 when the journal took it. */
static int journal_send(int level, const sp_logctx *ctx,
                        const sp_logcounts *rows, const char *msg) {
  char *f[10];
  struct iovec iov[10];
  int n = 0;
  /* MESSAGE carries the context too, for the plain `journalctl -u`. */
  sp_buf m;
  sp_buf_init(&m);
  sp_buf_puts(&m, "MESSAGE=");
  if (ctx && ctx->connector)
    sp_buf_printf(&m, "%s%s", ctx->connector, ctx->stream ? "." : "");
  if (ctx && ctx->stream)
    sp_buf_puts(&m, ctx->stream);
  if (ctx && ctx->run > 0)
    sp_buf_printf(&m, " (run %lld)", ctx->run);
  if (ctx && (ctx->connector || ctx->stream || ctx->run > 0))
    sp_buf_puts(&m, ": ");
  sp_buf_puts(&m, msg);
  f[n++] = m.data;
  f[n++] = sp_xasprintf("PRIORITY=%d", level_priority[level]);
  f[n++] = sp_xasprintf("SYSLOG_IDENTIFIER=%s", PACKAGE);
  if (ctx && ctx->connector)
    f[n++] = sp_xasprintf("CONNECTOR=%s", ctx->connector);
  if (ctx && ctx->stream)
    f[n++] = sp_xasprintf("STREAM=%s", ctx->stream);
  if (ctx && ctx->run > 0)
    f[n++] = sp_xasprintf("RUN=%lld", ctx->run);
  if (rows) {
    f[n++] = sp_xasprintf("ROWS_READ=%lld", rows->read);
    f[n++] = sp_xasprintf("ROWS_LOADED=%lld", rows->loaded);
    f[n++] = sp_xasprintf("ROWS_REJECTED=%lld", rows->rejected);
  }
  for (int i = 0; i < n; i++) {
    iov[i].iov_base = f[i];
    iov[i].iov_len = strlen(f[i]);
  }
  int rc = sd_journal_sendv(iov, n);
  for (int i = 1; i < n; i++)
    free(f[i]);
  sp_buf_free(&m);
  return rc < 0 ? -1 : 0;
}
#endif

static void vlog_rows(int level, const sp_logctx *ctx, const sp_logcounts *rows,
                      const char *fmt, va_list ap) {
  if (level > g_level)
    return;
  if (g_journal < 0) {
    g_journal = stderr_is_journal();
#ifdef HAVE_SYSTEMD
    if (g_journal && journal_socket())
      g_journal = 2; /* structured fields */
#endif
  }
  struct timeval tv;
  struct tm tm;
  char ts[64];
  gettimeofday(&tv, NULL);
  gmtime_r(&tv.tv_sec, &tm);
  snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, (int)(tv.tv_usec / 1000));

  sp_buf msg, line;
  sp_buf_init(&msg);
  sp_buf_init(&line);
  sp_buf_vprintf(&msg, fmt, ap);

#ifdef HAVE_SYSTEMD
  if (g_journal == 2 &&
      journal_send(level, ctx, rows, msg.data ? msg.data : "") == 0) {
    sp_buf_free(&msg);
    return;
  }
#endif
  /* journald reads a leading "<N>" on its stream as the priority. */
  if (g_journal)
    sp_buf_printf(&line, "<%d>", level_priority[level]);
  if (g_json) {
    sp_buf_puts(&line, "{\"ts\":");
    put_json_string(&line, ts);
  } else {
    sp_buf_puts(&line, "ts=");
    sp_buf_puts(&line, ts);
  }
  put_field(&line, "level", level_names[level]);
  if (ctx && ctx->connector)
    put_field(&line, "connector", ctx->connector);
  if (ctx && ctx->stream)
    put_field(&line, "stream", ctx->stream);
  if (ctx && ctx->run > 0)
    put_number(&line, "run", ctx->run);
  if (rows) {
    put_number(&line, "read", rows->read);
    put_number(&line, "loaded", rows->loaded);
    put_number(&line, "rejected", rows->rejected);
  }
  put_field(&line, "msg", msg.data ? msg.data : "");
  if (g_json)
    sp_buf_putc(&line, '}');
  sp_buf_putc(&line, '\n');
  /* One write(2) per line so lines from parallel children never interleave
   * (stderr is shared with the daemon and journald). */
  ssize_t off = 0;
  while ((size_t)off < line.len) {
    ssize_t n = write(STDERR_FILENO, line.data + off, line.len - (size_t)off);
    if (n <= 0)
      break;
    off += n;
  }
  sp_buf_free(&msg);
  sp_buf_free(&line);
}

void sp_vlog(int level, const sp_logctx *ctx, const char *fmt, va_list ap) {
  vlog_rows(level, ctx, NULL, fmt, ap);
}

void sp_log_rows(int level, const sp_logctx *ctx, const sp_logcounts *rows,
                 const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vlog_rows(level, ctx, rows, fmt, ap);
  va_end(ap);
}

void sp_log(int level, const sp_logctx *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sp_vlog(level, ctx, fmt, ap);
  va_end(ap);
}
