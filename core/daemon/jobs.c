#include "config.h"

#include "daemon/jobs.h"

#include "base/exitcode.h"
#include "samspor-plugin.h"

int sp_complain_due(unsigned long long n) {
  return n > 0 && (n & (n - 1)) == 0;
}

int sp_catchup_due(const sp_schedule *s, const char *tz, time_t now,
                   time_t last_success, time_t *missed) {
  time_t from =
      last_success > 0 ? last_success : now - (time_t)SP_CATCHUP_WINDOW;
  if (from >= now)
    return 0;
  time_t next;
  int rc = sp_schedule_next(s, tz, from, &next);
  if (rc == SAMSPOR_ENOENT)
    return 0;
  if (rc != 0)
    return rc;
  if (next > now)
    return 0;
  *missed = next;
  return 1;
}

int sp_next_run(const sp_schedule *s, const char *tz, time_t after,
                double jitter, double u, time_t *sched, double *due) {
  int rc = sp_schedule_next(s, tz, after, sched);
  if (rc != 0)
    return rc;
  *due = (double)*sched + (jitter > 0 ? u * jitter : 0);
  return 0;
}

sp_outcome sp_outcome_of(int exited, int stopped, int timed_out,
                         int term_signal, int64_t exit_status) {
  if (!exited || (stopped && (term_signal || exit_status != 0)))
    return SP_OUT_STOPPED;
  if (timed_out)
    return SP_OUT_TIMEOUT;
  if (term_signal)
    return SP_OUT_SIGNAL;
  if (exit_status == SP_EXIT_OK)
    return SP_OUT_OK;
  if (exit_status == SP_EXIT_TEMPFAIL)
    return SP_OUT_TEMP;
  if (exit_status == SP_EXIT_USAGE)
    return SP_OUT_CONFIG;
  return SP_OUT_FAIL;
}

int sp_retry_decide(int temporary, unsigned *attempt, unsigned attempts,
                    double base, double cap, double u, double *delay) {
  if (temporary && *attempt < attempts) {
    (*attempt)++;
    *delay = samspor_backoff_delay(base, cap, *attempt, u);
    return 1;
  }
  *attempt = 0;
  return 0;
}
