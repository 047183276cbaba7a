#include "config.h"

#include "base/log.h"

#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int g_level = SP_LOG_INFO;
static int g_json = 0;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void sp_log_setup(int level, int json) {
  if (level < SP_LOG_ERROR)
    level = SP_LOG_ERROR;
  if (level > SP_LOG_DEBUG)
    level = SP_LOG_DEBUG;
  g_level = level;
  g_json = json;
}

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

void sp_vlog(int level, const sp_logctx *ctx, const char *fmt, va_list ap) {
  if (level > g_level)
    return;
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
  if (ctx && ctx->run > 0) {
    char run[32];
    snprintf(run, sizeof run, "%lld", ctx->run);
    put_field(&line, "run", run);
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

void sp_log(int level, const sp_logctx *ctx, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  sp_vlog(level, ctx, fmt, ap);
  va_end(ap);
}
