/*
 * jobs.h — the daemon's decisions, pure: which job runs when (next run,
 * catch-up), what a child's end means (outcome), whether and when a
 * failed run is retried (the backoff is samspor_backoff_delay() of
 * samspor-plugin.h, shared with the plugins), and when a failure is worth
 * an error line.  No libuv, no clock, no random state: the caller passes
 * the time and the uniform draws, so tests/unit/test_daemon.c checks
 * every decision.
 */
#ifndef SAMSPOR_JOBS_H
#define SAMSPOR_JOBS_H

#include <stdint.h>
#include <time.h>

#include "model/schedule.h"

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

/* What a run came to. */
typedef enum sp_outcome {
  SP_OUT_OK,      /* exit 0 */
  SP_OUT_FAIL,    /* exit 1 or an unknown status: not retried */
  SP_OUT_CONFIG,  /* exit 2: not retried */
  SP_OUT_TEMP,    /* exit 75 or the child could not be started: retried */
  SP_OUT_SIGNAL,  /* died of a signal we did not send: retried */
  SP_OUT_TIMEOUT, /* stopped by us at its timeout: retried */
  SP_OUT_STOPPED  /* stopped by us because the daemon stops: not a failure */
} sp_outcome;

/*
 * The outcome of a child from what the supervisor saw: whether it exited
 * (or was given up on), whether the daemon stopped it because it stops,
 * whether it was stopped at its timeout, the signal that ended it (0:
 * none) and its exit status.
 */
sp_outcome sp_outcome_of(int exited, int stopped, int timed_out,
                         int term_signal, int64_t exit_status);

/*
 * After a failed run: is it retried?  With a temporary failure and fewer
 * than `attempts` retries spent (*attempt), yes: returns 1, counts the
 * retry in *attempt and sets *delay to samspor_backoff_delay(base, cap,
 * *attempt, u).  Otherwise returns 0 and resets *attempt to 0 (the next
 * failure starts afresh); *delay is left alone.
 */
int sp_retry_decide(int temporary, unsigned *attempt, unsigned attempts,
                    double base, double cap, double u, double *delay);

#endif
