/*
 * daemon.h — `samspor run`: the scheduler and supervisor.
 *
 * One libuv loop, one thread.  Each due connector runs as a child process
 * of the same binary (`samspor -c CONFIG sync NAME`), so a plugin that
 * crashes, leaks or hangs takes down one run, never the daemon.  One timer
 * is armed for the next due time; between runs the daemon sleeps.
 *
 * Run outcomes (the exit status of `samspor sync`, SPEC.md):
 *   0            succeeded
 *   75           temporary failure: retried with capped exponential
 *                backoff and full jitter, up to retry.attempts times
 *   1, 2, other  failed: not retried (2: the configuration the run read is
 *                invalid)
 *   a signal     the child crashed or was killed: counted as temporary
 *                (an OOM kill or a reboot-time kill is not the data's
 *                fault), so retried
 *   timeout      stopped by the daemon (SIGTERM, SIGKILL after
 *                daemon.grace): temporary (a source that hung), retried
 * A run stopped because the daemon itself is stopping is not a failure;
 * the catch-up at the next start runs it again.
 *
 * The functions below are the pure parts, exposed for the unit tests.
 */
#ifndef SAMSPOR_DAEMON_H
#define SAMSPOR_DAEMON_H

#include <time.h>

#include "schedule.h"

/*
 * The delay before retry number `attempt` (1 for the first retry): full
 * jitter over a capped exponential, u * min(cap, base * 2^(attempt-1)),
 * with u uniform in [0, 1) supplied by the caller (so this stays pure).
 * Returns seconds, never more than cap.
 */
double sp_backoff_delay(double base, double cap, unsigned attempt, double u);

/*
 * collectd's complain pattern: should the n-th failure in a row (n >= 1) be
 * reported at error level?  1 at n = 1, 2, 4, 8, ..., so a connector that
 * keeps failing is reported with growing gaps.
 */
int sp_complain_due(unsigned long long n);

/* How far back the catch-up looks when a connector never succeeded.  More
 * than a year, so @yearly and @monthly are covered. */
#define SP_CATCHUP_WINDOW (400 * 86400.0)

/*
 * Catch-up at start: was a scheduled run missed?  With last_success (unix
 * time of the connector's last successful run; 0 for never) the answer is
 * yes when the schedule has a time in (last_success, now], i.e. the last
 * success is older than the latest scheduled time not after now; with no
 * success on record, when it has a time in the SP_CATCHUP_WINDOW before
 * now.  Returns 1 and sets *missed to the first missed time, 0 when
 * nothing was missed, or a negative code (unknown zone).
 */
int sp_catchup_due(const sp_schedule *s, const char *tz, time_t now,
                   time_t last_success, time_t *missed);

/*
 * The next run strictly after `after`: *sched the scheduled time, *due
 * that plus u * jitter seconds (u uniform in [0, 1), from the caller).
 * Returns 0, or the code of sp_schedule_next() (SAMSPOR_ENOENT: it never
 * runs again).
 */
int sp_next_run(const sp_schedule *s, const char *tz, time_t after,
                double jitter, double u, time_t *sched, double *due);

/*
 * One summary line that `samspor sync` prints on stdout per stream:
 *   "NAME.TABLE: read R, loaded L, rejected J, skipped S, deleted D in
 *    X s (run N)"
 *   "NAME.TABLE: FAILED after X s (run N): why"
 */
typedef struct sp_summary {
  int failed;         /* the FAILED form */
  char stream[64];    /* TABLE */
  long long run_id;   /* N */
  long long read;     /* R (0 when failed) */
  long long loaded;   /* L (0 when failed) */
  long long rejected; /* J (0 when failed) */
  double seconds;     /* X */
  char error[512];    /* why (failed only), truncated to fit */
} sp_summary;

/*
 * Parse one stdout line of the sync of `connector`.  Returns 0 and fills
 * *out, or -1 when the line is not a summary line of that connector.
 */
int sp_summary_parse(const char *line, const char *connector, sp_summary *out);

/*
 * The daemon (samspor run), in the foreground until SIGTERM: the
 * configuration at config_path, logging at INFO + verbosity (-v/-q) until
 * its log group says otherwise.  Returns an exit status (exitcode.h).
 */
int sp_daemon_run(const char *config_path, int verbosity);

#endif
