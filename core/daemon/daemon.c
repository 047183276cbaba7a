#include "config.h"

#include "daemon/daemon.h"
#include "daemon/daemon_int.h"
#include "daemon/jobs.h"
#include "model/key.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <uv.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "daemon/admin.h"
#include "base/exitcode.h"
#include "model/conf.h"
#include "base/log.h"
#include "daemon/metrics.h"
#include "base/options.h"
#include "model/runrecord.h"
#include "store/warehouse.h"

/*
 * The longest the loop sleeps.  libuv's timers run on the monotonic clock,
 * which stands still while a machine is suspended and ignores steps of the
 * wall clock; schedules are wall-clock times.  Waking at least this often
 * bounds how late a run can start after such a jump, at a cost of a few
 * microseconds of CPU an hour.
 */
#define MAX_SLEEP_S 900.0
const char *const sp_dm_reason_names[] = {"schedule", "catch-up", "trigger",
                                          "retry"};

/* ---- small helpers ---------------------------------------------------- */

/* Uniform in [0, 1), from libsodium's generator: no PRNG state to keep. */
static double random01(void) {
  return (double)randombytes_uniform(1u << 30) / (double)(1u << 30);
}

void sp_dm_fmt_time(const sp_daemon *d, double t, char *buf, size_t len) {
  if (sp_time_format((time_t)t, d->tz, buf, len) != 0)
    snprintf(buf, len, "@%.0f", t);
}

static void fmt_dur(double s, char *buf, size_t len) {
  if (s < 60)
    snprintf(buf, len, "%.1fs", s);
  else
    sp_duration_format(s, buf, len);
}

static void notify(const char *fmt, ...) SP_PRINTF(1, 2);
static void notify(const char *fmt, ...) {
#ifdef HAVE_SYSTEMD
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  sd_notify(0, buf);
#else
  (void)fmt;
#endif
}

static void monotonic_usec(unsigned long long *usec) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  *usec = (unsigned long long)ts.tv_sec * 1000000ull +
          (unsigned long long)ts.tv_nsec / 1000ull;
}

static char *schedule_key(const sp_daemon *d, const sp_connector *cc) {
  return sp_xasprintf("%s|%g|%s|%d",
                      cc->schedule ? sp_schedule_text(cc->schedule) : "-",
                      cc->conf.jitter, d->tz, cc->conf.enabled);
}

/* Set the job's next scheduled time to the first one after `after`. */
static void compute_schedule(sp_job *j, time_t after) {
  sp_daemon *d = j->d;
  j->sched = 0;
  j->due = 0;
  if (!job_enabled(j) || !j->conn->schedule)
    return;
  double jitter = j->conn->conf.jitter;
  int rc = sp_next_run(j->conn->schedule, d->tz, after, jitter, random01(),
                       &j->sched, &j->due);
  if (rc != 0) {
    sp_logctx ctx = {j->name, NULL, 0};
    sp_warn(&ctx, "schedule '%s' has no run after now; not scheduled",
            sp_schedule_text(j->conn->schedule));
    j->sched = 0;
    j->due = 0;
  }
}

static sp_job *job_new(sp_daemon *d, const sp_connector *cc) {
  sp_job *j = sp_xcalloc(1, sizeof *j);
  j->d = d;
  j->name = sp_xstrdup(cc->name);
  j->conn = cc;
  j->last_exit = -1;
  j->last_loaded = j->last_rejected = j->last_run_id = -1;
  j->sched_key = schedule_key(d, cc);
  compute_schedule(j, time(NULL));
  return j;
}

static void job_free(sp_job *j) {
  if (!j)
    return;
  free(j->name);
  free(j->sched_key);
  free(j->last_error);
  free(j->streams);
  free(j);
}

/* The job of a connector in the configuration (not a removed one). */
sp_job *sp_dm_find_job(const sp_daemon *d, const char *name) {
  for (size_t i = 0; i < d->njobs; i++)
    if (d->jobs[i]->conn && strcmp(d->jobs[i]->name, name) == 0)
      return d->jobs[i];
  return NULL;
}

static void dequeue(sp_daemon *d, sp_job *j) {
  for (size_t i = 0; i < d->nqueue; i++)
    if (d->queue[i] == j) {
      memmove(&d->queue[i], &d->queue[i + 1],
              (d->nqueue - i - 1) * sizeof *d->queue);
      d->nqueue--;
      break;
    }
  j->queued = 0;
}

/* Drop a job that left the configuration, once nothing refers to it. */
void sp_dm_drop_job(sp_daemon *d, sp_job *j) {
  if (j->queued)
    dequeue(d, j);
  for (size_t i = 0; i < d->njobs; i++)
    if (d->jobs[i] == j) {
      memmove(&d->jobs[i], &d->jobs[i + 1],
              (d->njobs - i - 1) * sizeof *d->jobs);
      d->njobs--;
      break;
    }
  job_free(j);
}

/*
 * Ask for a run of j.  It joins the end of the queue (runs become due in
 * time order, so the queue stays in due order) unless one is queued or
 * going on already: one connector never runs twice at once.
 */
request_result sp_dm_request_run(sp_job *j, run_reason why) {
  sp_daemon *d = j->d;
  sp_logctx ctx = {j->name, NULL, 0};
  if (d->stopping)
    return REQ_STOPPING;
  if (j->child) {
    if (why == REASON_TRIGGER) {
      j->rerun = 1;
      return REQ_RUNNING_RERUN;
    }
    char since[SP_TIME_BUFLEN];
    sp_dm_fmt_time(d, (double)j->child->started, since, sizeof since);
    sp_warn(&ctx,
            "still running (since %s) at its scheduled time; that run is "
            "skipped",
            since);
    return REQ_RUNNING_SKIPPED;
  }
  if (j->queued) {
    sp_debug(&ctx, "a run is queued already (%s)",
             sp_dm_reason_names[j->queued_reason]);
    return REQ_ALREADY_QUEUED;
  }
  /* A run is coming anyway: the pending retry is folded into it. */
  j->retry_at = 0;
  j->queued = 1;
  j->queued_reason = why;
  j->queued_at = wall_now();
  d->queue = sp_xrealloc(d->queue, (d->nqueue + 1) * sizeof *d->queue);
  d->queue[d->nqueue++] = j;
  return REQ_QUEUED;
}

static const char *signal_name(int sig) {
  switch (sig) {
  case SIGKILL:
    return "SIGKILL";
  case SIGTERM:
    return "SIGTERM";
  case SIGSEGV:
    return "SIGSEGV";
  case SIGABRT:
    return "SIGABRT";
  case SIGBUS:
    return "SIGBUS";
  case SIGINT:
    return "SIGINT";
  default:
    return "a signal";
  }
}

/* Record what a run came to, log it, plan a retry.  c may be NULL (the
 * child could not be started; why in spawn_err). */
static void unrecorded_free(sp_unrecorded *u) {
  free(u->connector);
  for (char **t = u->streams; t && *t; t++)
    free(*t);
  free(u->streams);
  free(u->error);
}

/* Remember a failed run that left no row in samspor.sync_run. */
static void remember_unrecorded(sp_job *j, const sp_child *c,
                                const char *what) {
  sp_daemon *d = j->d;
  if (!j->conn || !j->conn->nstreams)
    return;
  if (d->nunrecorded == SP_UNRECORDED_MAX) {
    sp_warn(NULL,
            "more than %d failed runs wait to be recorded in "
            "samspor.sync_run; the oldest (connector %s) is dropped",
            SP_UNRECORDED_MAX, d->unrecorded[0].connector);
    unrecorded_free(&d->unrecorded[0]);
    memmove(d->unrecorded, d->unrecorded + 1,
            (d->nunrecorded - 1) * sizeof *d->unrecorded);
    d->nunrecorded--;
  }
  d->unrecorded =
      sp_xrealloc(d->unrecorded, (d->nunrecorded + 1) * sizeof *d->unrecorded);
  sp_unrecorded *u = &d->unrecorded[d->nunrecorded++];
  u->connector = sp_xstrdup(j->name);
  u->streams = sp_xcalloc(j->conn->nstreams + 1, sizeof *u->streams);
  for (size_t i = 0; i < j->conn->nstreams; i++)
    u->streams[i] = sp_xstrdup(j->conn->streams[i].table);
  u->started = c ? c->wall0 : wall_now();
  u->finished = wall_now();
  u->pid = c ? c->proc.pid : 0;
  u->error = sp_xasprintf("%s; recorded by the daemon: the run could not "
                          "write its own record",
                          what);
}

/* Insert the remembered failed runs (one row per stream, each with a run
 * id of its own), all in one transaction; kept for the next time when the
 * warehouse does not answer. */
void sp_dm_record_unrecorded(sp_daemon *d) {
  if (!d->nunrecorded)
    return;
  PGconn *conn = NULL;
  char err[1024];
  if (sp_warehouse_connect(d->config, &conn, err, sizeof err) != 0) {
    sp_debug(NULL, "failed runs not recorded yet: %s", err);
    return;
  }
  char host[256] = "unknown";
  if (gethostname(host, sizeof host) != 0)
    snprintf(host, sizeof host, "unknown");
  host[sizeof host - 1] = '\0';
  PGresult *res = PQexec(conn, "BEGIN");
  int ok = PQresultStatus(res) == PGRES_COMMAND_OK;
  PQclear(res);
  size_t rows = 0;
  for (size_t i = 0; ok && i < d->nunrecorded; i++) {
    const sp_unrecorded *u = &d->unrecorded[i];
    char st[32], fi[32], pid[16];
    snprintf(st, sizeof st, "%.6f", u->started);
    snprintf(fi, sizeof fi, "%.6f", u->finished);
    snprintf(pid, sizeof pid, "%d", u->pid);
    for (char **t = u->streams; ok && *t; t++) {
      const char *p[] = {u->connector, *t,       st,   fi,
                         d->key_id,    u->error, host, pid};
      res = PQexecParams(
          conn,
          "INSERT INTO samspor.sync_run (run_id, connector, stream, "
          "started_at, finished_at, status, key_id, error, host, pid) "
          "VALUES (nextval('samspor.sync_run_id_seq'), $1, $2, "
          "to_timestamp($3::float8), to_timestamp($4::float8), 'failed', "
          "$5, $6, $7, $8::integer)",
          8, NULL, p, NULL, NULL, 0);
      ok = PQresultStatus(res) == PGRES_COMMAND_OK;
      PQclear(res);
      rows++;
    }
  }
  if (ok) {
    res = PQexec(conn, "COMMIT");
    ok = PQresultStatus(res) == PGRES_COMMAND_OK;
    PQclear(res);
  }
  if (ok) {
    sp_info(NULL,
            "recorded %zu failed run%s in samspor.sync_run (%zu row%s) that "
            "could not record themselves",
            d->nunrecorded, d->nunrecorded == 1 ? "" : "s", rows,
            rows == 1 ? "" : "s");
    for (size_t i = 0; i < d->nunrecorded; i++)
      unrecorded_free(&d->unrecorded[i]);
    free(d->unrecorded);
    d->unrecorded = NULL;
    d->nunrecorded = 0;
  } else {
    sp_warn(NULL, "failed runs not recorded yet in samspor.sync_run: %s",
            PQerrorMessage(conn));
  }
  PQfinish(conn);
}

void sp_dm_record_outcome(sp_job *j, sp_outcome o, const sp_child *c,
                          const char *spawn_err) {
  sp_daemon *d = j->d;
  double now = wall_now();
  double dur = c ? sp_now_mono() - c->t0 : 0;
  j->have_last = 1;
  j->last_from_warehouse = 0;
  j->last_start = c ? c->started : (time_t)now;
  j->last_end = (time_t)now;
  j->last_duration = dur;
  j->last_exit = c && c->exited && !c->term_signal ? (int)c->exit_status : -1;
  j->last_signal = c && c->exited ? c->term_signal : 0;
  j->last_loaded = c && c->summaries ? c->loaded : -1;
  j->last_rejected = c && c->summaries ? c->rejected : -1;
  j->last_run_id = c && c->run_id ? c->run_id : -1;
  free(j->last_error);
  j->last_error = NULL;
  if (c && c->failed_streams)
    j->last_error = sp_xstrdup(c->error);
  else if (spawn_err)
    j->last_error = sp_xstrdup(spawn_err);

  sp_logctx ctx = {j->name, NULL, c ? c->run_id : 0};
  char took[32];
  fmt_dur(dur, took, sizeof took);
  if (o == SP_OUT_OK) {
    j->last_result = "succeeded";
    j->last_success = (time_t)now;
    j->attempt = 0;
    if (j->consecutive > 0)
      sp_info(&ctx, "recovered: run succeeded after %llu failed run%s",
              j->consecutive, j->consecutive == 1 ? "" : "s");
    j->consecutive = 0;
    sp_info(&ctx, "run succeeded in %s: loaded %lld, rejected %lld", took,
            j->last_loaded, j->last_rejected);
    return;
  }
  if (o == SP_OUT_STOPPED) {
    j->last_result = "stopped";
    sp_warn(&ctx,
            "run stopped after %s because the daemon is stopping; the "
            "catch-up at the next start runs it again",
            took);
    return;
  }

  char what[256], tbuf[32];
  int temporary = 0;
  switch (o) {
  case SP_OUT_TEMP:
    temporary = 1;
    j->last_result = "temporary failure";
    if (c)
      snprintf(what, sizeof what, "failed temporarily (exit status 75)");
    else
      snprintf(what, sizeof what, "could not start: %s", spawn_err);
    break;
  case SP_OUT_SIGNAL:
    temporary = 1;
    j->last_result = "killed";
    snprintf(what, sizeof what, "was killed by signal %d (%s)", c->term_signal,
             signal_name(c->term_signal));
    break;
  case SP_OUT_TIMEOUT:
    temporary = 1;
    j->last_result = "timed out";
    timeout_text(j, tbuf, sizeof tbuf);
    snprintf(what, sizeof what, "timed out (timeout %s) and was stopped%s",
             tbuf, c->kill_sent ? " with SIGKILL" : "");
    break;
  case SP_OUT_CONFIG:
    j->last_result = "config error";
    snprintf(what, sizeof what,
             "failed: the configuration it read is invalid (exit status 2; "
             "see samspor check)");
    break;
  default:
    j->last_result = "failed";
    snprintf(what, sizeof what, "failed (exit status %lld)",
             c ? (long long)c->exit_status : -1LL);
    break;
  }
  const char *detail = c && c->failed_streams ? c->error : "";
  /* No run id seen: the child wrote nothing to sync_run. */
  if (!c || !c->run_id) {
    char *e = sp_xasprintf("run %s%s%s", what, *detail ? ": " : "", detail);
    remember_unrecorded(j, c, e);
    free(e);
  }
  j->failures_total++;
  j->consecutive++;

  char plan[256];
  unsigned attempts = 0;
  if (j->conn) {
    const sp_retry_conf *r = &j->conn->conf.retry;
    attempts = (unsigned)r->attempts;
    double delay;
    if (sp_retry_decide(temporary, &j->attempt, attempts, r->backoff,
                        r->max_backoff, random01(), &delay)) {
      j->retry_at = now + delay;
      char in[32];
      fmt_dur(delay, in, sizeof in);
      snprintf(plan, sizeof plan, "retry %u of %u in %s", j->attempt, attempts,
               in);
    } else {
      char next[SP_TIME_BUFLEN] = "none";
      if (j->due > 0)
        sp_dm_fmt_time(d, j->due, next, sizeof next);
      if (temporary && attempts > 0)
        snprintf(plan, sizeof plan, "giving up after %u retries; next run %s",
                 attempts, next);
      else
        snprintf(plan, sizeof plan, "not retried; next run %s", next);
    }
  } else {
    snprintf(plan, sizeof plan, "not retried: removed from the configuration");
  }
  char row[64] = "";
  if (j->consecutive > 1)
    snprintf(row, sizeof row, " (%llu failed runs in a row)", j->consecutive);
  if (sp_complain_due(j->consecutive))
    sp_error(&ctx, "run %s after %s%s%s; %s%s", what, took, *detail ? ": " : "",
             detail, plan, row);
  else
    sp_debug(&ctx, "run %s after %s%s%s; %s%s", what, took, *detail ? ": " : "",
             detail, plan, row);
}

/* Start queued runs while there are free slots. */
void sp_dm_pump(sp_daemon *d) {
  while (!d->stopping && d->nqueue > 0 &&
         (long long)d->running < max_parallel(d)) {
    sp_job *j = d->queue[0];
    dequeue(d, j);
    sp_dm_start_run(j, j->queued_reason);
  }
}

/* ---- the timer -------------------------------------------------------- */

typedef struct due_event {
  sp_job *job;
  double at;
  run_reason why;
} due_event;

static int due_cmp(const void *a, const void *b) {
  const due_event *x = a, *y = b;
  if (x->at != y->at)
    return x->at < y->at ? -1 : 1;
  return strcmp(x->job->name, y->job->name);
}

static void on_timer(uv_timer_t *t) {
  sp_daemon *d = t->data;
  double now = wall_now();
  due_event *ev = sp_xcalloc(d->njobs * 2 + 1, sizeof *ev);
  size_t n = 0;
  for (size_t i = 0; i < d->njobs; i++) {
    sp_job *j = d->jobs[i];
    if (!j->conn)
      continue;
    if (j->retry_at > 0 && j->retry_at <= now) {
      ev[n++] = (due_event){j, j->retry_at, REASON_RETRY};
      j->retry_at = 0;
    }
    if (j->due > 0 && j->due <= now) {
      ev[n++] = (due_event){j, j->due, REASON_SCHEDULE};
      /* From the scheduled time, not from now, so that a jitter never
       * skips the next slot; but not from long ago after a suspend, or the
       * missed slots would all come due at once. */
      double jitter = j->conn->conf.jitter;
      double base = (double)j->sched;
      if (base < now - jitter)
        base = now - jitter;
      compute_schedule(j, (time_t)base);
    }
  }
  qsort(ev, n, sizeof *ev, due_cmp);
  for (size_t i = 0; i < n; i++)
    sp_dm_request_run(ev[i].job, ev[i].why);
  free(ev);
  sp_dm_pump(d);
  sp_dm_arm_timer(d);
  sp_dm_notify_status(d);
}

/* Arm the one timer for the earliest due time of any job. */
void sp_dm_arm_timer(sp_daemon *d) {
  if (d->stopping) {
    uv_timer_stop(&d->timer);
    return;
  }
  double next = 0;
  for (size_t i = 0; i < d->njobs; i++) {
    const sp_job *j = d->jobs[i];
    if (!j->conn)
      continue;
    if (j->due > 0 && (next == 0 || j->due < next))
      next = j->due;
    if (j->retry_at > 0 && (next == 0 || j->retry_at < next))
      next = j->retry_at;
  }
  if (next == 0) {
    uv_timer_stop(&d->timer);
    return;
  }
  double delay = next - wall_now();
  if (delay < 0)
    delay = 0;
  if (delay > MAX_SLEEP_S)
    delay = MAX_SLEEP_S;
  /* Rounded up: a timer that fires a hair early finds nothing due and
   * would spin once more. */
  uv_timer_start(&d->timer, on_timer, (uint64_t)ceil(delay * 1000), 0);
}

/* ---- metrics and systemd status --------------------------------------- */

void sp_dm_write_metrics(sp_daemon *d) {
  if (!d->metrics_path)
    return;
  sp_metrics_conn *m = sp_xcalloc(d->njobs + 1, sizeof *m);
  size_t nst = 0, nre = 0;
  for (size_t i = 0; i < d->njobs; i++) {
    nst += d->jobs[i]->nstreams;
    for (size_t k = 0; k < d->jobs[i]->nstreams; k++)
      nre += d->jobs[i]->streams[k].nreasons;
  }
  sp_metrics_stream *ms = sp_xcalloc(nst + 1, sizeof *ms);
  sp_metrics_reason *mr = sp_xcalloc(nre + 1, sizeof *mr);
  size_t n = 0;
  nst = nre = 0;
  for (size_t i = 0; i < d->njobs; i++) {
    const sp_job *j = d->jobs[i];
    if (!j->conn && !j->child)
      continue;
    sp_metrics_conn *x = &m[n++];
    x->name = j->name;
    x->last_success = (double)j->last_success;
    x->have_last_run = j->have_last;
    x->last_duration = j->last_duration;
    x->rows_loaded = j->last_loaded < 0 ? 0 : j->last_loaded;
    x->rows_rejected = j->last_rejected < 0 ? 0 : j->last_rejected;
    x->failures = j->failures_total;
    x->running = j->child != NULL;
    x->streams = ms + nst;
    for (size_t k = 0; k < j->nstreams; k++) {
      const sp_stream_state *t = &j->streams[k];
      sp_metrics_stream *y = &ms[nst++];
      y->name = t->name;
      y->running = t->running;
      y->read = t->read;
      y->loaded = t->loaded;
      y->rejected = t->rejected;
      y->last_result = t->last_result;
      y->last_loaded = t->last_loaded;
      y->last_rejected = t->last_rejected;
      y->reasons = mr + nre;
      y->nreasons = t->nreasons;
      for (size_t r = 0; r < t->nreasons; r++) {
        mr[nre].reason = t->reasons[r].reason;
        mr[nre++].rows = t->reasons[r].rows;
      }
    }
    x->nstreams = j->nstreams;
  }
  char err[512];
  if (sp_metrics_write(d->metrics_path, m, n, err, sizeof err) != 0)
    sp_warn(NULL, "%s", err);
  free(mr);
  free(ms);
  free(m);
}

void sp_dm_notify_status(sp_daemon *d) {
#ifdef HAVE_SYSTEMD
  const sp_job *first = NULL;
  for (size_t i = 0; i < d->njobs; i++) {
    const sp_job *j = d->jobs[i];
    if (j->conn && j->due > 0 && (!first || j->due < first->due))
      first = j;
  }
  char next[SP_TIME_BUFLEN] = "";
  if (first)
    sp_dm_fmt_time(d, first->due, next, sizeof next);
  notify("STATUS=%s%u running, %zu queued%s%s%s%s",
         d->stopping ? "stopping; " : "", d->running, d->nqueue,
         first ? "; next: " : "", first ? first->name : "", first ? " at " : "",
         next);
#else
  (void)d;
#endif
}

/* ---- warehouse history and catch-up ----------------------------------- */

/*
 * What the warehouse knows of each connector: its last successful run
 * (for the catch-up) and the latest run of each stream, summed up (for
 * status until the daemon's own first run).  Returns 0, or -1 when the
 * warehouse cannot tell (the caller skips the catch-up).
 */
static int load_history(sp_daemon *d) {
  PGconn *conn = NULL;
  char err[1024];
  int rc = sp_warehouse_connect(d->config, &conn, err, sizeof err);
  if (rc != 0) {
    sp_warn(NULL,
            "catch-up skipped: %s; connectors run at their next "
            "scheduled time",
            err);
    return -1;
  }
  PGresult *res = PQexec(
      conn,
      "WITH last AS ("
      "  SELECT DISTINCT ON (connector, stream) connector, run_id, "
      "    started_at, finished_at, status, rows_loaded, rows_rejected, error "
      "  FROM samspor.sync_run "
      "  ORDER BY connector, stream, started_at DESC, run_id DESC) "
      "SELECT l.connector, "
      "  extract(epoch FROM min(l.started_at))::float8, "
      "  extract(epoch FROM max(l.finished_at))::float8, "
      "  bool_and(l.status = 'succeeded'), "
      "  sum(l.rows_loaded)::bigint, sum(l.rows_rejected)::bigint, "
      "  max(l.run_id), min(l.error), "
      "  (SELECT extract(epoch FROM max(s.finished_at))::float8 "
      "     FROM samspor.sync_run s "
      "    WHERE s.connector = l.connector AND s.status = 'succeeded') "
      "FROM last l GROUP BY l.connector");
  int status = 0;
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    /* No samspor schema yet: nothing was ever loaded, so every connector
     * is behind. */
    if (!sp_streq(state, "42P01") && !sp_streq(state, "3F000")) {
      sp_warn(NULL, "catch-up skipped: cannot read samspor.sync_run: %s",
              PQresultErrorMessage(res));
      status = -1;
    }
  } else {
    for (int r = 0; r < PQntuples(res); r++) {
      sp_job *j = sp_dm_find_job(d, PQgetvalue(res, r, 0));
      if (!j)
        continue;
      j->have_last = 1;
      j->last_from_warehouse = 1;
      j->last_start = (time_t)atof(PQgetvalue(res, r, 1));
      j->last_end = (time_t)atof(PQgetvalue(res, r, 2));
      j->last_duration =
          PQgetisnull(res, r, 2) ? 0 : (double)(j->last_end - j->last_start);
      j->last_result =
          strcmp(PQgetvalue(res, r, 3), "t") == 0 ? "succeeded" : "failed";
      j->last_loaded = atoll(PQgetvalue(res, r, 4));
      j->last_rejected = atoll(PQgetvalue(res, r, 5));
      j->last_run_id = atoll(PQgetvalue(res, r, 6));
      if (!PQgetisnull(res, r, 7))
        j->last_error = sp_xstrdup(PQgetvalue(res, r, 7));
      if (!PQgetisnull(res, r, 8))
        j->last_success = (time_t)atof(PQgetvalue(res, r, 8));
    }
  }
  PQclear(res);
  PQfinish(conn);
  return status;
}

/* Queue, once, every enabled connector that missed a scheduled run while
 * the daemon was down, the longest-waiting first. */
static void catch_up(sp_daemon *d) {
  if (load_history(d) != 0)
    return;
  time_t now = time(NULL);
  due_event *ev = sp_xcalloc(d->njobs + 1, sizeof *ev);
  size_t n = 0;
  for (size_t i = 0; i < d->njobs; i++) {
    sp_job *j = d->jobs[i];
    time_t missed;
    if (!job_enabled(j) || !j->conn->schedule)
      continue;
    if (sp_catchup_due(j->conn->schedule, d->tz, now, j->last_success,
                       &missed) == 1) {
      sp_logctx ctx = {j->name, NULL, 0};
      if (j->last_success) {
        char m[SP_TIME_BUFLEN], l[SP_TIME_BUFLEN];
        sp_dm_fmt_time(d, (double)missed, m, sizeof m);
        sp_dm_fmt_time(d, (double)j->last_success, l, sizeof l);
        sp_info(&ctx,
                "catch-up: last success %s is older than the scheduled run "
                "at %s; running it now",
                l, m);
      } else {
        /* missed is only the first scheduled time of the search window,
         * not a run anybody expected: naming it would mislead. */
        sp_info(&ctx, "catch-up: no successful run on record; first run now");
      }
      ev[n++] = (due_event){j, (double)missed, REASON_CATCHUP};
    }
  }
  qsort(ev, n, sizeof *ev, due_cmp);
  for (size_t i = 0; i < n; i++)
    sp_dm_request_run(ev[i].job, REASON_CATCHUP);
  free(ev);
}

/* The key id of the configured key: status shows the generation the
 * children load under (only the id: the key itself is wiped at once). */
static void read_key_id(sp_daemon *d) {
  sp_key *k = NULL;
  char err[256];
  const char *kf = d->config->conf.key_file;
  d->key_id[0] = '\0';
  if (kf && sp_key_load(kf, &k, err, sizeof err) == 0) {
    snprintf(d->key_id, sizeof d->key_id, "%s", sp_key_id(k));
    sp_key_free(k);
  }
}

/* ---- reload ----------------------------------------------------------- */

/* One option value as text, for comparing and naming restart options. */
static char *value_text(const sp_value *v) {
  if (!v)
    return sp_xstrdup("");
  if (v->str)
    return sp_xstrdup(v->str);
  return sp_xasprintf("%lld/%g", v->i, v->f);
}

/* Warn about every restart-only option (SAMSPOR_OPT_RESTART) of the core
 * tables that the new configuration changes; those keep their old value. */
static void restart_warnings(const sp_config *old, const sp_config *nc,
                             json_t *warnings) {
  for (const samspor_option *o = sp_root_options; o->name; o++) {
    const samspor_option *tab = o->type == SAMSPOR_OPT_GROUP ? o->sub : o;
    const samspor_settings *a = o->type == SAMSPOR_OPT_GROUP
                                    ? sp_get_group(old->root, o->name)
                                    : old->root;
    const samspor_settings *b = o->type == SAMSPOR_OPT_GROUP
                                    ? sp_get_group(nc->root, o->name)
                                    : nc->root;
    for (const samspor_option *s = tab; s->name; s++) {
      if (!(s->flags & SAMSPOR_OPT_RESTART))
        continue;
      char *x = value_text(sp_settings_value(a, s->name));
      char *y = value_text(sp_settings_value(b, s->name));
      if (strcmp(x, y) != 0) {
        char *msg = sp_xasprintf(
            "%s%s%s changed from '%s' to '%s': that takes a restart of the "
            "daemon; until then it keeps '%s'",
            o->type == SAMSPOR_OPT_GROUP ? o->name : "",
            o->type == SAMSPOR_OPT_GROUP ? "." : "", s->name, x, y, x);
        sp_warn(NULL, "%s", msg);
        json_array_append_new(warnings, json_string(msg));
        free(msg);
      }
      free(x);
      free(y);
      if (tab == o)
        break; /* a top-level option: only itself */
    }
  }
}

static void apply_log_settings(const sp_daemon *d) {
  const sp_log_conf *lg = &d->config->conf.log;
  sp_log_setup(lg->level + d->verbosity, lg->format == 1 /* json */);
}

/* Re-point the jobs at the connectors of nc (then the old configuration
 * can go), add jobs for new connectors, retire those that left. */
static void rebind_jobs(sp_daemon *d, sp_config *nc) {
  time_t now = time(NULL);
  sp_job **jobs = sp_xcalloc(nc->nconnectors + d->njobs + 1, sizeof *jobs);
  size_t n = 0;
  for (size_t i = 0; i < nc->nconnectors; i++) {
    const sp_connector *cc = &nc->connectors[i];
    sp_job *j = NULL;
    for (size_t k = 0; k < d->njobs; k++)
      if (d->jobs[k] && d->jobs[k]->conn &&
          strcmp(d->jobs[k]->name, cc->name) == 0) {
        j = d->jobs[k];
        d->jobs[k] = NULL;
        break;
      }
    if (!j) {
      j = job_new(d, cc);
      sp_logctx ctx = {j->name, NULL, 0};
      sp_info(&ctx, "new connector");
    } else {
      j->conn = cc;
      char *key = schedule_key(d, cc);
      if (strcmp(key, j->sched_key) != 0) {
        free(j->sched_key);
        j->sched_key = key;
        compute_schedule(j, now);
      } else {
        free(key);
      }
      if (!cc->conf.enabled) {
        j->retry_at = 0;
        if (j->queued && j->queued_reason != REASON_TRIGGER)
          dequeue(d, j);
      }
    }
    jobs[n++] = j;
  }
  /* Left the configuration: keep a running one until its run ends. */
  for (size_t k = 0; k < d->njobs; k++) {
    sp_job *j = d->jobs[k];
    if (!j)
      continue;
    sp_logctx ctx = {j->name, NULL, 0};
    if (j->queued)
      dequeue(d, j);
    j->retry_at = 0;
    if (j->child) {
      sp_info(&ctx, "removed from the configuration; its run goes on to "
                    "its end");
      j->conn = NULL;
      j->rerun = 0;
      jobs[n++] = j;
    } else {
      sp_info(&ctx, "removed from the configuration");
      job_free(j);
    }
  }
  free(d->jobs);
  d->jobs = jobs;
  d->njobs = n;
}

/* Parse and validate the file, apply it only when valid.  Returns the
 * answer for `samspor reload` (new reference). */
json_t *sp_dm_reload(sp_daemon *d, const char *why) {
  unsigned long long usec;
  monotonic_usec(&usec);
  notify("RELOADING=1\nMONOTONIC_USEC=%llu", usec);
  sp_info(NULL, "reloading %s (%s)", d->config_path, why);
  sp_errors errs;
  sp_config *nc = NULL;
  sp_errors_init(&errs);
  struct stat st;
  int have_st = stat(d->config_path, &st) == 0;
  int rc = sp_config_load(d->config_path, &nc, &errs);
  json_t *errors = json_array(), *warnings = json_array();
  for (size_t i = 0; i < errs.nwarnings; i++) {
    sp_warn(NULL, "%s", errs.warnings[i]);
    json_array_append_new(warnings, json_string(errs.warnings[i]));
  }
  for (size_t i = 0; i < errs.nerrors; i++) {
    sp_error(NULL, "%s", errs.errors[i]);
    json_array_append_new(errors, json_string(errs.errors[i]));
  }
  json_t *resp;
  if (rc != 0) {
    char loaded[SP_TIME_BUFLEN];
    sp_dm_fmt_time(d, (double)d->config_loaded, loaded, sizeof loaded);
    char *msg = sp_xasprintf(
        "configuration not reloaded: %zu error%s in %s; keeping the one "
        "loaded at %s",
        errs.nerrors, errs.nerrors == 1 ? "" : "s", d->config_path, loaded);
    sp_error(NULL, "%s", msg);
    resp = json_pack("{s:b, s:b, s:s, s:s, s:o, s:o}", "ok", 0, "applied", 0,
                     "error", msg, "code", "invalid_config", "errors", errors,
                     "warnings", warnings);
    free(msg);
  } else {
    restart_warnings(d->config, nc, warnings);
    sp_config *old = d->config;
    free(d->tz);
    d->tz = sp_xstrdup(sp_config_timezone(nc));
    d->config = nc;
    read_key_id(d);
    rebind_jobs(d, nc);
    sp_config_free(old);
    d->config_loaded = time(NULL);
    if (have_st)
      d->config_st = st;
    d->config_changed_warned = 0;
    apply_log_settings(d);
    const char *mf = nc->conf.daemon.metrics_file;
    if (!sp_streq(mf, d->metrics_path)) {
      /* The old file is ours; left behind it would be scraped forever with
       * values that no longer change. */
      if (d->metrics_path)
        unlink(d->metrics_path);
      free(d->metrics_path);
      d->metrics_path = mf ? sp_xstrdup(mf) : NULL;
    }
    size_t enabled = 0;
    for (size_t i = 0; i < nc->nconnectors; i++)
      enabled += nc->connectors[i].conf.enabled ? 1 : 0;
    char *msg =
        sp_xasprintf("configuration reloaded: %zu connector%s (%zu "
                     "enabled)",
                     nc->nconnectors, nc->nconnectors == 1 ? "" : "s", enabled);
    sp_info(NULL, "%s", msg);
    resp = json_pack("{s:b, s:b, s:s, s:o, s:o}", "ok", 1, "applied", 1,
                     "message", msg, "errors", errors, "warnings", warnings);
    free(msg);
    sp_dm_pump(d);
    sp_dm_arm_timer(d);
    sp_dm_write_metrics(d);
  }
  sp_errors_free(&errs);
  notify("READY=1");
  sp_dm_notify_status(d);
  return resp;
}

/* ---- signals and shutdown --------------------------------------------- */

static void close_all(sp_daemon *d) {
  if (d->closing)
    return;
  d->closing = 1;
  sp_admin_close(d->admin);
  d->admin = NULL;
  uv_close((uv_handle_t *)&d->timer, NULL);
  uv_close((uv_handle_t *)&d->watchdog, NULL);
  uv_close((uv_handle_t *)&d->stop_timer, NULL);
  uv_close((uv_handle_t *)&d->sighup, NULL);
  uv_close((uv_handle_t *)&d->sigterm, NULL);
  uv_close((uv_handle_t *)&d->sigint, NULL);
}

void sp_dm_maybe_finish_shutdown(sp_daemon *d) {
  if (!d->stopping || d->running > 0 || d->closing)
    return;
  sp_info(NULL, "stopped");
  close_all(d);
}

/* Grace is over and a child is still there (stuck in the kernel): leave
 * it to systemd's cgroup and go. */
static void on_stop_timer(uv_timer_t *t) {
  sp_daemon *d = t->data;
  for (;;) {
    sp_child *c = NULL;
    for (size_t i = 0; i < d->njobs && !c; i++)
      c = d->jobs[i]->child;
    if (!c)
      break;
    sp_logctx ctx = {c->job->name, NULL, 0};
    sp_error(&ctx, "run did not end after SIGKILL (pid %d); leaving it",
             c->proc.pid);
    sp_dm_finish_child(c); /* may drop the job: look again from the start */
  }
  sp_dm_maybe_finish_shutdown(d);
}

static void begin_shutdown(sp_daemon *d, const char *signame) {
  if (d->stopping) {
    sp_warn(NULL, "%s again: sending SIGKILL to running syncs now", signame);
    for (size_t i = 0; i < d->njobs; i++)
      if (d->jobs[i]->child && !d->jobs[i]->child->kill_sent) {
        d->jobs[i]->child->kill_sent = 1;
        sp_dm_signal_child(d->jobs[i]->child, SIGKILL);
      }
    return;
  }
  d->stopping = 1;
  notify("STOPPING=1");
  char g[32];
  sp_duration_format(grace(d), g, sizeof g);
  if (d->running > 0)
    sp_info(NULL,
            "%s: stopping; %u running sync%s get%s SIGTERM, SIGKILL after %s",
            signame, d->running, d->running == 1 ? "" : "s",
            d->running == 1 ? "s" : "", g);
  else
    sp_info(NULL, "%s: stopping", signame);
  uv_timer_stop(&d->timer);
  while (d->nqueue > 0) {
    sp_job *j = d->queue[0];
    sp_logctx ctx = {j->name, NULL, 0};
    sp_info(&ctx, "queued run dropped: the daemon is stopping");
    dequeue(d, j);
  }
  for (size_t i = 0; i < d->njobs; i++) {
    sp_child *c = d->jobs[i]->child;
    if (!c)
      continue;
    c->stopped = 1;
    if (!c->term_sent) {
      c->term_sent = 1;
      sp_dm_signal_child(c, SIGTERM);
      uv_timer_start(&c->timer, sp_dm_on_child_timer,
                     (uint64_t)(grace(d) * 1000), 0);
    }
  }
  if (d->running > 0)
    uv_timer_start(&d->stop_timer, on_stop_timer,
                   (uint64_t)(grace(d) * 1000) + 5000, 0);
  sp_dm_write_metrics(d);
  sp_dm_maybe_finish_shutdown(d);
}

static void on_signal(uv_signal_t *s, int signum) {
  sp_daemon *d = s->data;
  if (signum == SIGHUP) {
    if (d->stopping)
      return;
    json_decref(sp_dm_reload(d, "SIGHUP"));
    return;
  }
  begin_shutdown(d, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

#ifdef HAVE_SYSTEMD
static void on_watchdog(uv_timer_t *t) {
  notify("WATCHDOG=1");
}
#endif

/* ---- samspor run ------------------------------------------------------ */

static void daemon_free(sp_daemon *d) {
  for (size_t i = 0; i < d->nunrecorded; i++)
    unrecorded_free(&d->unrecorded[i]);
  free(d->unrecorded);
  for (size_t i = 0; i < d->njobs; i++)
    job_free(d->jobs[i]);
  free(d->jobs);
  free(d->queue);
  sp_config_free(d->config);
  free(d->admin_path);
  free(d->metrics_path);
  free(d->tz);
  if (d->child_env) {
    for (char **e = d->child_env; *e; e++)
      free(*e);
    free(d->child_env);
  }
  free(d);
}

int sp_daemon_run(const char *config_path, int verbosity) {
  sp_daemon *d = sp_xcalloc(1, sizeof *d);
  d->config_path = config_path;
  d->verbosity = verbosity;
  d->started = time(NULL);

  sp_errors errs;
  sp_errors_init(&errs);
  struct stat st;
  int have_st = stat(d->config_path, &st) == 0;
  int rc = sp_config_load(d->config_path, &d->config, &errs);
  sp_errors_print(&errs, stderr);
  sp_errors_free(&errs);
  if (rc != 0) {
    fprintf(stderr, "samspor: run: %s is invalid; not starting\n",
            d->config_path);
    daemon_free(d);
    return SP_EXIT_USAGE;
  }
  if (have_st)
    d->config_st = st;
  d->config_loaded = time(NULL);
  apply_log_settings(d);
  d->tz = sp_xstrdup(sp_config_timezone(d->config));
  read_key_id(d);
  const sp_daemon_conf *dg = &d->config->conf.daemon;
  d->metrics_path = dg->metrics_file ? sp_xstrdup(dg->metrics_file) : NULL;
  d->admin_path = sp_xstrdup(dg->admin_socket);

  /* schedule.h: the zone functions swap TZ; have it set before anything
   * else could read the environment, so later swaps only replace a value.
   * ":/etc/localtime" is what an unset TZ means. */
  setenv("TZ", ":/etc/localtime", 0);
  /* A client that hangs up before its answer must not kill the daemon. */
  signal(SIGPIPE, SIG_IGN);
  d->child_env = sp_dm_child_environment();

  uv_loop_init(&d->loop);
  char err[1024];
  rc = sp_admin_listen(&d->loop, d->admin_path, sp_dm_on_request, d, &d->admin,
                       err, sizeof err);
  if (rc != 0) {
    sp_error(NULL, "%s", err);
    fprintf(stderr, "samspor: run: %s\n", err);
    uv_run(&d->loop, UV_RUN_DEFAULT); /* the admin's close callbacks */
    uv_loop_close(&d->loop);
    daemon_free(d);
    return sp_exit_status(rc);
  }

  d->jobs = sp_xcalloc(d->config->nconnectors + 1, sizeof *d->jobs);
  for (size_t i = 0; i < d->config->nconnectors; i++)
    d->jobs[d->njobs++] = job_new(d, &d->config->connectors[i]);

  uv_timer_init(&d->loop, &d->timer);
  uv_timer_init(&d->loop, &d->watchdog);
  uv_timer_init(&d->loop, &d->stop_timer);
  d->timer.data = d->watchdog.data = d->stop_timer.data = d;
  uv_signal_init(&d->loop, &d->sighup);
  uv_signal_init(&d->loop, &d->sigterm);
  uv_signal_init(&d->loop, &d->sigint);
  d->sighup.data = d->sigterm.data = d->sigint.data = d;
  uv_signal_start(&d->sighup, on_signal, SIGHUP);
  uv_signal_start(&d->sigterm, on_signal, SIGTERM);
  uv_signal_start(&d->sigint, on_signal, SIGINT);
#ifdef HAVE_SYSTEMD
  uint64_t wd_usec = 0;
  if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec >= 2000)
    uv_timer_start(&d->watchdog, on_watchdog, wd_usec / 2000, wd_usec / 2000);
#endif

  size_t enabled = 0;
  for (size_t i = 0; i < d->njobs; i++)
    enabled += job_enabled(d->jobs[i]) ? 1 : 0;
  sp_info(NULL,
          "daemon started (pid %d): %zu connector%s (%zu enabled), "
          "max_parallel %lld, admin socket %s, timezone %s",
          (int)getpid(), d->njobs, d->njobs == 1 ? "" : "s", enabled,
          max_parallel(d), d->admin_path, d->tz);
  for (size_t i = 0; i < d->njobs; i++)
    if (d->jobs[i]->due > 0) {
      char t[SP_TIME_BUFLEN];
      sp_dm_fmt_time(d, d->jobs[i]->due, t, sizeof t);
      sp_logctx ctx = {d->jobs[i]->name, NULL, 0};
      sp_debug(&ctx, "next run %s", t);
    }

  catch_up(d);
  sp_dm_pump(d);
  sp_dm_arm_timer(d);
  sp_dm_write_metrics(d);
  notify("READY=1\nMAINPID=%d", (int)getpid());
  sp_dm_notify_status(d);

  uv_run(&d->loop, UV_RUN_DEFAULT);
  /* Anything still open (only on an error path) gets closed here. */
  if (uv_loop_close(&d->loop) == UV_EBUSY) {
    close_all(d);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    uv_loop_close(&d->loop);
  }
  if (d->metrics_path)
    sp_dm_write_metrics(d);
  daemon_free(d);
  return SP_EXIT_OK;
}
