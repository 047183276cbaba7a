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
 * Layout: jobs.c (which job runs when, retry and backoff decisions: pure,
 * no libuv), daemon.c (the loop, scheduling, history, reload, metrics,
 * signals), supervisor.c (the sync children), control.c (the control
 * socket's answers); daemon_int.h is their private header.
 */
#ifndef SAMSPOR_DAEMON_H
#define SAMSPOR_DAEMON_H

#include <time.h>

#include "model/schedule.h"

/*
 * The daemon (samspor run), in the foreground until SIGTERM: the
 * configuration at config_path, logging at INFO + verbosity (-v/-q) until
 * its log group says otherwise.  Returns an exit status (exitcode.h).
 */
int sp_daemon_run(const char *config_path, int verbosity);

#endif
