/*
 * log.h — one line per event on stderr, logfmt (default) or JSON, with a
 * UTC ISO 8601 timestamp, the level, and the connector/stream/run of the
 * event where there is one.  Never pass a field value to these functions:
 * values may be CPR numbers, names or addresses.
 *
 * When stderr is the journal's stream (JOURNAL_STREAM names stderr's
 * device and inode, as systemd.exec(5) says), each event goes to the
 * journal through sd_journal_sendv() with PRIORITY= and the context as
 * fields (CONNECTOR=, STREAM=, RUN=, ROWS_*=); without libsystemd, or
 * when the journal does not take it, the line on stderr starts with its
 * syslog priority, "<3>" to "<7>", which journald reads as the level.
 */
#ifndef SAMSPOR_LOG_H
#define SAMSPOR_LOG_H

#include "samspor-plugin.h"
#include "base/util.h"

#define SP_LOG_ERROR SAMSPOR_LOG_ERROR
#define SP_LOG_WARN SAMSPOR_LOG_WARN
#define SP_LOG_INFO SAMSPOR_LOG_INFO
#define SP_LOG_DEBUG SAMSPOR_LOG_DEBUG

/* Row counts a line may carry (a stream's progress or its end): written
 * as numbers in logfmt and JSON, and as ROWS_READ=, ROWS_LOADED=,
 * ROWS_REJECTED= in the journal. */
typedef struct sp_logcounts {
  long long read;
  long long loaded;
  long long rejected;
} sp_logcounts;

/* The context a log line carries.  All fields may be NULL / 0. */
typedef struct sp_logctx {
  const char *connector; /* connector name */
  const char *stream;    /* stream (table) name */
  long long run;         /* sync_run id, 0 when none */
} sp_logctx;

/*
 * Process-wide logging settings.  These are the one piece of global state:
 * stderr itself is process-wide, and every module must log the same way.
 */
void sp_log_setup(int level, int json);
int sp_log_level(void);
/* "error" "warn" "info" "debug" -> level, or -1 */
int sp_log_level_parse(const char *s);

void sp_log(int level, const sp_logctx *ctx, const char *fmt, ...)
    SP_PRINTF(3, 4);
void sp_vlog(int level, const sp_logctx *ctx, const char *fmt, va_list ap)
    SP_PRINTF(3, 0);
/* The same, with row counts (may be NULL). */
void sp_log_rows(int level, const sp_logctx *ctx, const sp_logcounts *rows,
                 const char *fmt, ...) SP_PRINTF(4, 5);

#define sp_error(ctx, ...)                                                     \
  do {                                                                         \
    sp_log(SP_LOG_ERROR, (ctx), __VA_ARGS__);                                  \
  } while (0)
#define sp_warn(ctx, ...)                                                      \
  do {                                                                         \
    sp_log(SP_LOG_WARN, (ctx), __VA_ARGS__);                                   \
  } while (0)
#define sp_info(ctx, ...)                                                      \
  do {                                                                         \
    sp_log(SP_LOG_INFO, (ctx), __VA_ARGS__);                                   \
  } while (0)
#define sp_debug(ctx, ...)                                                     \
  do {                                                                         \
    if (sp_log_level() >= SP_LOG_DEBUG)                                        \
      sp_log(SP_LOG_DEBUG, (ctx), __VA_ARGS__);                                \
  } while (0)

#endif
