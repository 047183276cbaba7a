#include "config.h"

#include "daemon/daemon.h"
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

extern char **environ;

/*
 * The longest the loop sleeps.  libuv's timers run on the monotonic clock,
 * which stands still while a machine is suspended and ignores steps of the
 * wall clock; schedules are wall-clock times.  Waking at least this often
 * bounds how late a run can start after such a jump, at a cost of a few
 * microseconds of CPU an hour.
 */
#define MAX_SLEEP_S 900.0
/* After a child exits, how long to wait for the rest of its stdout and
 * run records (a grandchild could hold a pipe open forever). */
#define DRAIN_MS 2000
/* Stdout lines and run records of a child longer than this are cut. */
#define MAX_LINE 65536

/* ---- the daemon's state ----------------------------------------------- */

typedef enum run_reason {
  REASON_SCHEDULE,
  REASON_CATCHUP,
  REASON_TRIGGER,
  REASON_RETRY
} run_reason;

static const char *const reason_names[] = {"schedule", "catch-up", "trigger",
                                           "retry"};

typedef struct sp_daemon sp_daemon;
typedef struct sp_job sp_job;

/* One stream of a connector as the run records told it: the running
 * load's progress and the last run's end. */
typedef struct sp_stream_state {
  char name[128]; /* the stream's table */
  int running;    /* heard of in the run going on, not ended yet */
  long long run_id, read, loaded, rejected; /* so far (progress records) */
  double seconds;                           /* of the load, so far */
  const char *last_result; /* sp_runrec_status_name(); NULL: none seen */
  long long last_loaded, last_rejected;
  size_t nreasons; /* the last run's rejects per reason */
  sp_runrec_reason reasons[SP_RUNREC_MAX_REASONS];
} sp_stream_state;

/* One running `samspor sync NAME`.  Freed when its four handles closed. */
typedef struct sp_child {
  uv_process_t proc; /* the process */
  uv_pipe_t out;     /* its stdout */
  uv_pipe_t status;  /* its run records (runrecord.h), fd SP_RUNREC_FD */
  uv_timer_t timer;  /* timeout, then grace, then drain */
  sp_daemon *d;
  sp_job *job;    /* the job it runs for; NULL once finished */
  int nclosed;    /* handles whose close callback ran */
  int exited;     /* exit callback seen */
  int out_eof;    /* stdout at its end */
  int status_eof; /* the run records at their end */
  int finished;   /* outcome recorded, handles closing */
  int64_t exit_status;
  int term_signal;
  int timed_out;    /* we stopped it at its timeout */
  int stopped;      /* we stopped it because the daemon stops */
  int term_sent;    /* SIGTERM sent (timeout or shutdown) */
  int kill_sent;    /* SIGKILL sent */
  double t0;        /* monotonic start, for the duration */
  time_t started;   /* wall-clock start */
  double wall0;     /* the same, to the microsecond (for sync_run) */
  int summaries;    /* run records seen, skipped streams aside (none: rows
                       unknown) */
  long long loaded; /* from the run records: sum over streams */
  long long rejected;
  long long run_id; /* the last run id seen (the failed one if any) */
  int failed_streams;
  char error[1160]; /* "stream: why" of the first failed stream */
  sp_buf line;      /* partial stdout line */
  sp_buf rec;       /* partial run record */
  char rbuf[16384];
} sp_child;

/*
 * One connector as the daemon tracks it.  Jobs are matched to connectors
 * by name, so a job (its history, counters, a running child) survives a
 * reload; conn is re-pointed into the new configuration.
 */
struct sp_job {
  sp_daemon *d;
  char *name;               /* owned */
  const sp_connector *conn; /* in d->config; NULL once removed by a reload
                               (the job lives until its run ends) */
  char *sched_key;          /* schedule, jitter, zone, enabled: when a reload
                               changes none of them the next time is kept */
  time_t sched;             /* next scheduled time; 0: none (disabled, never) */
  double due;               /* sched plus jitter: when the run is queued */
  unsigned attempt;         /* retries spent on the current temporary failure */
  double retry_at;          /* when the pending retry is due; 0: none */
  int queued;               /* in d->queue */
  run_reason queued_reason;
  double queued_at;
  int rerun;         /* triggered while running: run again when it ends */
  sp_child *child;   /* the run going on, or NULL */
  run_reason reason; /* why the current or last run ran */
  /* The last run: of this daemon, or as the warehouse told at start. */
  int have_last;
  int last_from_warehouse;
  time_t last_start, last_end;
  double last_duration;
  const char *last_result; /* static string */
  int last_exit;           /* exit status, -1 when none */
  int last_signal;         /* 0 when none */
  long long last_loaded, last_rejected, last_run_id; /* -1: unknown */
  char *last_error;                                  /* owned or NULL */
  time_t last_success;                               /* 0: none known */
  unsigned long long failures_total;
  unsigned long long consecutive;
  sp_stream_state *streams; /* owned: every stream heard of, first-heard
                               order */
  size_t nstreams;
};

/* A run that failed before it could write samspor.sync_run (the
 * warehouse unreachable, or the child gone before it had a run id):
 * recorded by the daemon once the warehouse answers again. */
typedef struct {
  char *connector; /* owned */
  char **streams;  /* owned, NULL-terminated: the connector's streams then */
  double started, finished; /* wall clock, sub-second: the run's rows sort
                               right against runs recorded by the children */
  int pid;
  char *error; /* owned: what the daemon knows of the failure */
} sp_unrecorded;

/* At most this many are kept; older ones are dropped, with a warning. */
#define SP_UNRECORDED_MAX 1000

struct sp_daemon {
  uv_loop_t loop;
  const char *config_path; /* as given with -c (borrowed from argv/env) */
  int verbosity;           /* -v/-q, passed on to children */
  sp_config *config;       /* the configuration in force (owned) */
  struct stat config_st;   /* the file when it was loaded */
  int config_changed_warned;
  time_t config_loaded;
  sp_job **jobs; /* in configuration order, removed-but-running last */
  size_t njobs;
  sp_job **queue; /* due runs waiting for a slot, in due order */
  size_t nqueue;
  unsigned running;
  uv_timer_t timer;                    /* the one timer: the next due time */
  uv_timer_t watchdog;                 /* systemd watchdog pings */
  uv_timer_t stop_timer;               /* last resort while stopping */
  uv_signal_t sighup, sigterm, sigint; /* reload; stop; stop */
  sp_admin *admin;                     /* the admin socket server */
  char *admin_path;          /* where admin listens (restart to change) */
  char *metrics_path;        /* daemon.metrics_file in force, or NULL */
  char *tz;                  /* daemon.timezone in force */
  char key_id[16];           /* the configured key's id (the generation the sync
                                children will load under), or "" when unreadable */
  int stopping;              /* SIGTERM/SIGINT seen: no new runs */
  int closing;               /* handles are being closed: the loop ends */
  time_t started;            /* when the daemon started, for status */
  char **child_env;          /* the environment of children (owned) */
  sp_unrecorded *unrecorded; /* failed runs not yet in sync_run, oldest
                                first */
  size_t nunrecorded;
};

static void arm_timer(sp_daemon *d);
static void pump(sp_daemon *d);
static void write_metrics(sp_daemon *d);
static void notify_status(sp_daemon *d);
static void maybe_finish_shutdown(sp_daemon *d);

/* ---- small helpers ---------------------------------------------------- */

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Uniform in [0, 1), from libsodium's generator: no PRNG state to keep. */
static double random01(void) {
  return (double)randombytes_uniform(1u << 30) / (double)(1u << 30);
}

static long long max_parallel(const sp_daemon *d) {
  return d->config->conf.daemon.max_parallel;
}

static double grace(const sp_daemon *d) {
  return d->config->conf.daemon.grace;
}

static int job_enabled(const sp_job *j) {
  return j->conn && j->conn->conf.enabled;
}

static void fmt_time(const sp_daemon *d, double t, char *buf, size_t len) {
  if (sp_time_format((time_t)t, d->tz, buf, len) != 0)
    snprintf(buf, len, "@%.0f", t);
}

static void fmt_dur(double s, char *buf, size_t len) {
  if (s < 60)
    snprintf(buf, len, "%.1fs", s);
  else
    sp_duration_format(s, buf, len);
}

static json_t *json_time(const sp_daemon *d, double t) {
  if (t <= 0)
    return json_null();
  char buf[SP_TIME_BUFLEN];
  fmt_time(d, t, buf, sizeof buf);
  return json_string(buf);
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

/*
 * The environment of children: the daemon's, without systemd's per-service
 * variables, so that a child never answers for the daemon (a READY=1 or a
 * watchdog ping from a sync would mislead systemd).
 */
static char **child_environment(void) {
  static const char *const drop[] = {
      "NOTIFY_SOCKET=", "WATCHDOG_USEC=",  "WATCHDOG_PID=",  "LISTEN_FDS=",
      "LISTEN_PID=",    "LISTEN_FDNAMES=", SP_RUNREC_ENV "="};
  size_t n = 0;
  while (environ[n])
    n++;
  char **env = sp_xcalloc(n + 2, sizeof *env);
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    int keep = 1;
    for (size_t j = 0; j < SP_ARRAY_LEN(drop); j++)
      if (strncmp(environ[i], drop[j], strlen(drop[j])) == 0)
        keep = 0;
    if (keep)
      env[k++] = sp_xstrdup(environ[i]);
  }
  /* Where the child writes its run records (start_run passes the fd). */
  env[k++] = sp_xasprintf("%s=%d", SP_RUNREC_ENV, SP_RUNREC_FD);
  return env;
}

/* ---- jobs and schedules ----------------------------------------------- */

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
static sp_job *find_job(const sp_daemon *d, const char *name) {
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
static void drop_job(sp_daemon *d, sp_job *j) {
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

typedef enum request_result {
  REQ_QUEUED,
  REQ_ALREADY_QUEUED,
  REQ_RUNNING_RERUN,
  REQ_RUNNING_SKIPPED,
  REQ_STOPPING
} request_result;

/*
 * Ask for a run of j.  It joins the end of the queue (runs become due in
 * time order, so the queue stays in due order) unless one is queued or
 * going on already: one connector never runs twice at once.
 */
static request_result request_run(sp_job *j, run_reason why) {
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
    fmt_time(d, (double)j->child->started, since, sizeof since);
    sp_warn(&ctx,
            "still running (since %s) at its scheduled time; that run is "
            "skipped",
            since);
    return REQ_RUNNING_SKIPPED;
  }
  if (j->queued) {
    sp_debug(&ctx, "a run is queued already (%s)",
             reason_names[j->queued_reason]);
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

/* ---- children --------------------------------------------------------- */

static void signal_child(sp_child *c, int sig) {
  /* Once reaped, its pid may belong to somebody else. */
  if (c->exited)
    return;
  /* The child leads its own process group (UV_PROCESS_DETACHED), so this
   * reaches whatever it started too. */
  if (kill(-c->proc.pid, sig) != 0)
    uv_process_kill(&c->proc, sig);
}

static void on_child_closed(uv_handle_t *h) {
  sp_child *c = h->data;
  if (++c->nclosed < 4)
    return;
  sp_buf_free(&c->line);
  sp_buf_free(&c->rec);
  free(c);
}

static void close_child(sp_child *c) {
  uv_close((uv_handle_t *)&c->proc, on_child_closed);
  uv_close((uv_handle_t *)&c->out, on_child_closed);
  uv_close((uv_handle_t *)&c->status, on_child_closed);
  uv_close((uv_handle_t *)&c->timer, on_child_closed);
}

/*
 * Whether a stdout line is the child's human summary of one stream,
 * "NAME.TABLE: ...": the child logged the same on stderr already, so it
 * goes to the debug level.  Only the level depends on this; what the run
 * came to comes from the run records.  A skipped stream's line stays at
 * the info level.
 */
static int summary_line(const char *name, const char *line) {
  size_t nl = strlen(name);
  if (strncmp(line, name, nl) != 0 || line[nl] != '.')
    return 0;
  const char *table = line + nl + 1;
  const char *colon = strstr(table, ": ");
  if (!colon || colon == table || colon - table >= 64)
    return 0;
  return strncmp(colon + 2, "skipped ", 8) != 0;
}

static void child_line(sp_child *c, const char *line) {
  sp_job *j = c->job;
  sp_logctx ctx = {j ? j->name : NULL, NULL, 0};
  if (j && summary_line(j->name, line))
    sp_debug(&ctx, "sync output: %s", line);
  else
    sp_info(&ctx, "sync output: %s", line);
}

/* The job's state of a stream, added when first heard of. */
static sp_stream_state *job_stream(sp_job *j, const char *name) {
  for (size_t i = 0; i < j->nstreams; i++)
    if (strcmp(j->streams[i].name, name) == 0)
      return &j->streams[i];
  j->streams = sp_xrealloc(j->streams, (j->nstreams + 1) * sizeof *j->streams);
  sp_stream_state *t = &j->streams[j->nstreams++];
  memset(t, 0, sizeof *t);
  snprintf(t->name, sizeof t->name, "%s", name);
  return t;
}

/* One run record of the child (runrecord.h). */
static void child_record(sp_child *c, const char *line) {
  sp_job *j = c->job;
  sp_logctx ctx = {j ? j->name : NULL, NULL, 0};
  sp_runrec r;
  char err[256];
  if (sp_runrec_decode(line, &r, err, sizeof err) != 0) {
    sp_warn(&ctx, "sync sent a run record the daemon cannot read: %s", err);
    return;
  }
  if (!j || strcmp(r.connector, j->name) != 0) {
    sp_warn(&ctx, "sync sent a run record of connector %s; ignored",
            r.connector);
    return;
  }
  sp_logctx sctx = {j->name, r.stream, r.run_id};
  sp_stream_state *t = job_stream(j, r.stream);
  t->run_id = r.run_id;
  t->read = r.read;
  t->loaded = r.loaded;
  t->rejected = r.rejected;
  t->seconds = r.seconds;
  if (r.type == SP_RUNREC_PROGRESS) {
    t->running = 1;
    sp_debug(&sctx, "progress: read %lld, loaded %lld, rejected %lld", r.read,
             r.loaded, r.rejected);
    write_metrics(c->d);
    return;
  }
  t->running = 0;
  t->last_result = sp_runrec_status_name(r.status);
  t->last_loaded = r.loaded;
  t->last_rejected = r.rejected;
  t->nreasons = r.nreasons;
  memcpy(t->reasons, r.reasons, sizeof t->reasons);
  sp_debug(&sctx, "run record: %s", sp_runrec_status_name(r.status));
  /* A skipped stream (if_missing = "skip") neither counts rows nor names
   * the run. */
  if (r.status == SP_RUNREC_SKIPPED)
    return;
  c->summaries++;
  if (r.status == SP_RUNREC_FAILED) {
    if (!c->failed_streams++)
      snprintf(c->error, sizeof c->error, "%s: %s", r.stream, r.error);
    c->run_id = r.run_id;
  } else {
    c->loaded += r.loaded;
    c->rejected += r.rejected;
    if (!c->failed_streams)
      c->run_id = r.run_id;
  }
}

static void timeout_text(const sp_job *j, char *buf, size_t len) {
  if (j->conn)
    sp_duration_format(j->conn->conf.timeout, buf, len);
  else
    snprintf(buf, len, "?");
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
static void record_unrecorded(sp_daemon *d) {
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

static void record_outcome(sp_job *j, sp_outcome o, const sp_child *c,
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
        fmt_time(d, j->due, next, sizeof next);
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

/* The child is done (exited and its stdout read, or given up on). */
static void finish_child(sp_child *c) {
  if (c->finished)
    return;
  c->finished = 1;
  sp_daemon *d = c->d;
  sp_job *j = c->job;
  uv_timer_stop(&c->timer);
  if (c->line.len) {
    child_line(c, c->line.data);
    sp_buf_reset(&c->line);
  }
  if (c->rec.len) {
    child_record(c, c->rec.data);
    sp_buf_reset(&c->rec);
  }
  sp_outcome o = sp_outcome_of(c->exited, c->stopped, c->timed_out,
                               c->term_signal, c->exit_status);
  d->running--;
  j->child = NULL;
  c->job = NULL;
  for (size_t i = 0; i < j->nstreams; i++)
    j->streams[i].running = 0;
  record_outcome(j, o, c, NULL);
  /* The warehouse answered this run: the failures it missed go in now. */
  if (o == SP_OUT_OK || c->run_id)
    record_unrecorded(d);
  close_child(c);
  if (!j->conn) {
    drop_job(d, j);
  } else if (j->rerun) {
    j->rerun = 0;
    request_run(j, REASON_TRIGGER);
  }
  pump(d);
  arm_timer(d);
  write_metrics(d);
  notify_status(d);
  maybe_finish_shutdown(d);
}

static void on_child_timer(uv_timer_t *t) {
  sp_child *c = t->data;
  sp_daemon *d = c->d;
  if (c->exited) {
    /* Drain time is up: something else holds its stdout open. */
    finish_child(c);
    return;
  }
  sp_logctx ctx = {c->job->name, NULL, c->run_id};
  char g[32];
  sp_duration_format(grace(d), g, sizeof g);
  if (!c->term_sent) {
    c->timed_out = 1;
    c->term_sent = 1;
    char tbuf[32];
    timeout_text(c->job, tbuf, sizeof tbuf);
    sp_error(&ctx,
             "run exceeded its timeout (%s); sending SIGTERM, SIGKILL in %s",
             tbuf, g);
    signal_child(c, SIGTERM);
    uv_timer_start(&c->timer, on_child_timer, (uint64_t)(grace(d) * 1000), 0);
  } else if (!c->kill_sent) {
    c->kill_sent = 1;
    sp_warn(&ctx, "run still going %s after SIGTERM; sending SIGKILL", g);
    signal_child(c, SIGKILL);
  }
}

static void on_child_exit(uv_process_t *p, int64_t status, int sig) {
  sp_child *c = p->data;
  c->exited = 1;
  c->exit_status = status;
  c->term_signal = sig;
  uv_timer_stop(&c->timer);
  if (c->out_eof && c->status_eof)
    finish_child(c);
  else
    uv_timer_start(&c->timer, on_child_timer, DRAIN_MS, 0);
}

static void on_child_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  sp_child *c = h->data;
  *buf = uv_buf_init(c->rbuf, sizeof c->rbuf);
}

/* Split what a pipe of the child gave into lines, each to `fn`. */
static void child_lines(sp_child *c, sp_buf *line, const uv_buf_t *buf,
                        ssize_t nread,
                        void (*fn)(sp_child *c, const char *line)) {
  for (ssize_t i = 0; i < nread; i++) {
    char ch = buf->base[i];
    if (ch == '\n' || line->len >= MAX_LINE) {
      fn(c, line->data ? line->data : "");
      sp_buf_reset(line);
      if (ch == '\n')
        continue;
    }
    sp_buf_putc(line, ch);
  }
}

static void on_child_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf) {
  sp_child *c = s->data;
  int is_out = s == (uv_stream_t *)&c->out;
  if (nread < 0) {
    uv_read_stop(s);
    if (is_out)
      c->out_eof = 1;
    else
      c->status_eof = 1;
    if (c->exited && c->out_eof && c->status_eof)
      finish_child(c);
    return;
  }
  if (is_out)
    child_lines(c, &c->line, buf, nread, child_line);
  else
    child_lines(c, &c->rec, buf, nread, child_record);
}

/* Warn once when the file changed since it was loaded: the child reads
 * the file as it is now, not the configuration the daemon validated. */
static void check_config_file(sp_daemon *d) {
  struct stat st;
  if (stat(d->config_path, &st) != 0)
    return;
  if (st.st_ino == d->config_st.st_ino && st.st_dev == d->config_st.st_dev &&
      st.st_size == d->config_st.st_size &&
      st.st_mtim.tv_sec == d->config_st.st_mtim.tv_sec &&
      st.st_mtim.tv_nsec == d->config_st.st_mtim.tv_nsec)
    return;
  if (d->config_changed_warned)
    return;
  d->config_changed_warned = 1;
  sp_warn(NULL,
          "%s changed since the daemon loaded it; runs read the file as it "
          "is now: check it with 'samspor check' and apply it with "
          "'samspor reload'",
          d->config_path);
}

static void start_run(sp_job *j, run_reason why) {
  sp_daemon *d = j->d;
  sp_logctx ctx = {j->name, NULL, 0};
  check_config_file(d);

  char *args[16];
  int n = 0;
  args[n++] = "samspor";
  args[n++] = "-c";
  args[n++] = (char *)d->config_path;
  for (int v = 0; v < d->verbosity && n < 8; v++)
    args[n++] = "-v";
  for (int v = 0; v > d->verbosity && n < 8; v--)
    args[n++] = "-q";
  args[n++] = "sync";
  args[n++] = j->name;
  args[n] = NULL;

  sp_child *c = sp_xcalloc(1, sizeof *c);
  c->d = d;
  c->job = j;
  sp_buf_init(&c->line);
  sp_buf_init(&c->rec);
  uv_pipe_init(&d->loop, &c->out, 0);
  uv_pipe_init(&d->loop, &c->status, 0);
  uv_timer_init(&d->loop, &c->timer);
  c->out.data = c;
  c->status.data = c;
  c->timer.data = c;
  c->proc.data = c;

  uv_stdio_container_t stdio[SP_RUNREC_FD + 1];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[1].data.stream = (uv_stream_t *)&c->out;
  /* stderr straight through: the child's log lines carry their connector,
   * stream and run already, and reach journald as they are written. */
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = STDERR_FILENO;
  /* The run records: the child finds the fd in its environment. */
  stdio[SP_RUNREC_FD].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
  stdio[SP_RUNREC_FD].data.stream = (uv_stream_t *)&c->status;
  uv_process_options_t po;
  memset(&po, 0, sizeof po);
  /* The very binary that runs the daemon, even after a package upgrade
   * replaced the file on disk. */
  po.file = "/proc/self/exe";
  po.args = args;
  po.env = d->child_env;
  po.exit_cb = on_child_exit;
  po.flags = UV_PROCESS_DETACHED;
  po.stdio_count = SP_RUNREC_FD + 1;
  po.stdio = stdio;
  c->t0 = sp_now_mono();
  c->started = time(NULL);
  c->wall0 = wall_now();
  int rc = uv_spawn(&d->loop, &c->proc, &po);
  if (rc != 0) {
    /* A failed spawn still needs its handles closed. */
    c->job = NULL;
    close_child(c);
    j->reason = why;
    char err[256];
    snprintf(err, sizeof err, "%s", uv_strerror(rc));
    record_outcome(j, SP_OUT_TEMP, NULL, err);
    return;
  }
  d->running++;
  j->child = c;
  j->reason = why;
  uv_read_start((uv_stream_t *)&c->out, on_child_alloc, on_child_read);
  uv_read_start((uv_stream_t *)&c->status, on_child_alloc, on_child_read);
  /* Running now: the metrics file says so during the run, not after. */
  write_metrics(d);
  double timeout = j->conn->conf.timeout;
  uv_timer_start(&c->timer, on_child_timer, (uint64_t)(timeout * 1000), 0);
  if (why == REASON_RETRY) {
    unsigned attempts = (unsigned)j->conn->conf.retry.attempts;
    sp_info(&ctx, "run started (pid %d, retry %u of %u)", c->proc.pid,
            j->attempt, attempts);
  } else {
    sp_info(&ctx, "run started (pid %d, %s)", c->proc.pid, reason_names[why]);
  }
}

/* Start queued runs while there are free slots. */
static void pump(sp_daemon *d) {
  while (!d->stopping && d->nqueue > 0 &&
         (long long)d->running < max_parallel(d)) {
    sp_job *j = d->queue[0];
    dequeue(d, j);
    start_run(j, j->queued_reason);
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
    request_run(ev[i].job, ev[i].why);
  free(ev);
  pump(d);
  arm_timer(d);
  notify_status(d);
}

/* Arm the one timer for the earliest due time of any job. */
static void arm_timer(sp_daemon *d) {
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

static void write_metrics(sp_daemon *d) {
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

static void notify_status(sp_daemon *d) {
#ifdef HAVE_SYSTEMD
  const sp_job *first = NULL;
  for (size_t i = 0; i < d->njobs; i++) {
    const sp_job *j = d->jobs[i];
    if (j->conn && j->due > 0 && (!first || j->due < first->due))
      first = j;
  }
  char next[SP_TIME_BUFLEN] = "";
  if (first)
    fmt_time(d, first->due, next, sizeof next);
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
      sp_job *j = find_job(d, PQgetvalue(res, r, 0));
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
        fmt_time(d, (double)missed, m, sizeof m);
        fmt_time(d, (double)j->last_success, l, sizeof l);
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
    request_run(ev[i].job, REASON_CATCHUP);
  free(ev);
}

/* ---- status and trigger ----------------------------------------------- */

static const char *job_state(const sp_job *j) {
  if (j->child)
    return "running";
  if (j->queued)
    return "queued";
  if (j->retry_at > 0)
    return "retrying";
  if (!job_enabled(j))
    return "disabled";
  return "idle";
}

static json_t *job_json(const sp_daemon *d, const sp_job *j) {
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(j->name));
  json_object_set_new(o, "state", json_string(job_state(j)));
  json_object_set_new(o, "enabled", json_boolean(job_enabled(j)));
  if (!j->conn)
    json_object_set_new(o, "removed", json_true());
  json_object_set_new(o, "schedule",
                      j->conn && j->conn->schedule
                          ? json_string(sp_schedule_text(j->conn->schedule))
                          : json_null());
  json_object_set_new(o, "next_run", json_time(d, j->due));
  if (j->child) {
    json_object_set_new(o, "running_since",
                        json_time(d, (double)j->child->started));
    json_object_set_new(o, "pid", json_integer(j->child->proc.pid));
    json_object_set_new(o, "reason", json_string(reason_names[j->reason]));
  }
  if (j->queued)
    json_object_set_new(o, "queued_since", json_time(d, j->queued_at));
  if (j->retry_at > 0) {
    json_object_set_new(o, "retry_at", json_time(d, j->retry_at));
    json_object_set_new(o, "retry", json_integer(j->attempt));
    json_object_set_new(
        o, "retry_attempts",
        json_integer(j->conn ? j->conn->conf.retry.attempts : 0));
  }
  if (j->have_last) {
    json_t *l = json_object();
    json_object_set_new(l, "started", json_time(d, (double)j->last_start));
    json_object_set_new(l, "finished", json_time(d, (double)j->last_end));
    json_object_set_new(l, "duration_seconds",
                        json_real(round(j->last_duration * 1000) / 1000));
    json_object_set_new(l, "result", json_string(j->last_result));
    json_object_set_new(l, "exit_status",
                        j->last_exit >= 0 ? json_integer(j->last_exit)
                                          : json_null());
    json_object_set_new(l, "signal",
                        j->last_signal ? json_integer(j->last_signal)
                                       : json_null());
    json_object_set_new(l, "rows_loaded",
                        j->last_loaded >= 0 ? json_integer(j->last_loaded)
                                            : json_null());
    json_object_set_new(l, "rows_rejected",
                        j->last_rejected >= 0 ? json_integer(j->last_rejected)
                                              : json_null());
    json_object_set_new(l, "run_id",
                        j->last_run_id > 0 ? json_integer(j->last_run_id)
                                           : json_null());
    json_object_set_new(
        l, "error", j->last_error ? json_string(j->last_error) : json_null());
    json_object_set_new(
        l, "source",
        json_string(j->last_from_warehouse ? "warehouse" : "daemon"));
    json_object_set_new(o, "last_run", l);
  } else {
    json_object_set_new(o, "last_run", json_null());
  }
  /* Per stream: the running load's progress, the last run's end. */
  json_t *sa = json_array();
  for (size_t k = 0; k < j->nstreams; k++) {
    const sp_stream_state *t = &j->streams[k];
    json_t *so = json_object();
    json_object_set_new(so, "stream", json_string(t->name));
    json_object_set_new(so, "running", json_boolean(t->running));
    if (t->running) {
      json_object_set_new(so, "run_id", json_integer(t->run_id));
      json_object_set_new(so, "read", json_integer(t->read));
      json_object_set_new(so, "loaded", json_integer(t->loaded));
      json_object_set_new(so, "rejected", json_integer(t->rejected));
      json_object_set_new(so, "seconds",
                          json_real(round(t->seconds * 10) / 10));
      json_object_set_new(
          so, "rows_per_second",
          json_integer(
              t->seconds > 0 ? (json_int_t)((double)t->read / t->seconds) : 0));
    }
    json_object_set_new(so, "last_result",
                        t->last_result ? json_string(t->last_result)
                                       : json_null());
    if (t->last_result) {
      json_object_set_new(so, "last_rows_loaded", json_integer(t->last_loaded));
      json_object_set_new(so, "last_rows_rejected",
                          json_integer(t->last_rejected));
      json_t *ro = json_object();
      for (size_t r = 0; r < t->nreasons; r++)
        json_object_set_new(ro, t->reasons[r].reason,
                            json_integer(t->reasons[r].rows));
      json_object_set_new(so, "last_rejects", ro);
    }
    json_array_append_new(sa, so);
  }
  json_object_set_new(o, "streams", sa);
  json_object_set_new(o, "last_success", json_time(d, (double)j->last_success));
  json_object_set_new(o, "failures_total",
                      json_integer((json_int_t)j->failures_total));
  json_object_set_new(o, "consecutive_failures",
                      json_integer((json_int_t)j->consecutive));
  return o;
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

static json_t *status_json(const sp_daemon *d) {
  json_t *dm = json_object();
  json_object_set_new(dm, "pid", json_integer(getpid()));
  json_object_set_new(dm, "version", json_string(PACKAGE_VERSION));
  json_object_set_new(dm, "started", json_time(d, (double)d->started));
  json_object_set_new(dm, "config", json_string(d->config_path));
  json_object_set_new(dm, "config_loaded",
                      json_time(d, (double)d->config_loaded));
  json_object_set_new(dm, "timezone", json_string(d->tz));
  json_object_set_new(dm, "key_id",
                      d->key_id[0] ? json_string(d->key_id) : json_null());
  json_object_set_new(dm, "max_parallel", json_integer(max_parallel(d)));
  json_object_set_new(dm, "running", json_integer(d->running));
  json_object_set_new(dm, "queued", json_integer((json_int_t)d->nqueue));
  json_object_set_new(dm, "stopping", json_boolean(d->stopping));
  json_t *arr = json_array();
  for (size_t i = 0; i < d->njobs; i++)
    json_array_append_new(arr, job_json(d, d->jobs[i]));
  json_t *o = json_object();
  json_object_set_new(o, "ok", json_true());
  json_object_set_new(o, "daemon", dm);
  json_object_set_new(o, "connectors", arr);
  return o;
}

static json_t *trigger_json(sp_daemon *d, const char *name) {
  sp_job *j = name ? find_job(d, name) : NULL;
  if (!j) {
    sp_buf names;
    sp_buf_init(&names);
    for (size_t i = 0; i < d->njobs; i++)
      if (d->jobs[i]->conn)
        sp_buf_printf(&names, "%s%s", names.len ? ", " : "", d->jobs[i]->name);
    char *msg =
        sp_xasprintf("no connector named '%s'; connectors: %s",
                     name ? name : "", names.data ? names.data : "(none)");
    json_t *o = json_pack("{s:b, s:s, s:s}", "ok", 0, "error", msg, "code",
                          "unknown_connector");
    free(msg);
    sp_buf_free(&names);
    return o;
  }
  sp_logctx ctx = {j->name, NULL, 0};
  request_result r = request_run(j, REASON_TRIGGER);
  const char *msg;
  switch (r) {
  case REQ_STOPPING:
    return json_pack("{s:b, s:s, s:s}", "ok", 0, "error",
                     "the daemon is stopping", "code", "stopping");
  case REQ_RUNNING_RERUN:
    msg = "running now; it runs again when this run ends";
    break;
  case REQ_ALREADY_QUEUED:
    msg = "queued already; it runs when a slot is free";
    break;
  default:
    sp_info(&ctx, "triggered through the admin socket");
    pump(d);
    arm_timer(d);
    notify_status(d);
    msg = j->child ? "started" : "queued: it runs when a slot is free";
    break;
  }
  char *full = sp_xasprintf("%s: %s", j->name, msg);
  json_t *o = json_pack("{s:b, s:s, s:s}", "ok", 1, "state", job_state(j),
                        "message", full);
  free(full);
  return o;
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
static json_t *reload(sp_daemon *d, const char *why) {
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
    fmt_time(d, (double)d->config_loaded, loaded, sizeof loaded);
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
    pump(d);
    arm_timer(d);
    write_metrics(d);
  }
  sp_errors_free(&errs);
  notify("READY=1");
  notify_status(d);
  return resp;
}

static json_t *on_request(void *ud, json_t *req) {
  sp_daemon *d = ud;
  const char *cmd = json_string_value(json_object_get(req, "cmd"));
  if (sp_streq(cmd, "status"))
    return status_json(d);
  if (sp_streq(cmd, "trigger"))
    return trigger_json(d,
                        json_string_value(json_object_get(req, "connector")));
  if (sp_streq(cmd, "reload")) {
    if (d->stopping)
      return json_pack("{s:b, s:s, s:s}", "ok", 0, "error",
                       "the daemon is stopping", "code", "stopping");
    return reload(d, "samspor reload");
  }
  return json_pack("{s:b, s:s, s:s}", "ok", 0, "error",
                   "unknown request; known: status, trigger, reload", "code",
                   "bad_request");
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

static void maybe_finish_shutdown(sp_daemon *d) {
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
    finish_child(c); /* may drop the job: look again from the start */
  }
  maybe_finish_shutdown(d);
}

static void begin_shutdown(sp_daemon *d, const char *signame) {
  if (d->stopping) {
    sp_warn(NULL, "%s again: sending SIGKILL to running syncs now", signame);
    for (size_t i = 0; i < d->njobs; i++)
      if (d->jobs[i]->child && !d->jobs[i]->child->kill_sent) {
        d->jobs[i]->child->kill_sent = 1;
        signal_child(d->jobs[i]->child, SIGKILL);
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
      signal_child(c, SIGTERM);
      uv_timer_start(&c->timer, on_child_timer, (uint64_t)(grace(d) * 1000), 0);
    }
  }
  if (d->running > 0)
    uv_timer_start(&d->stop_timer, on_stop_timer,
                   (uint64_t)(grace(d) * 1000) + 5000, 0);
  write_metrics(d);
  maybe_finish_shutdown(d);
}

static void on_signal(uv_signal_t *s, int signum) {
  sp_daemon *d = s->data;
  if (signum == SIGHUP) {
    if (d->stopping)
      return;
    json_decref(reload(d, "SIGHUP"));
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
  d->child_env = child_environment();

  uv_loop_init(&d->loop);
  char err[1024];
  rc = sp_admin_listen(&d->loop, d->admin_path, on_request, d, &d->admin, err,
                       sizeof err);
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
      fmt_time(d, d->jobs[i]->due, t, sizeof t);
      sp_logctx ctx = {d->jobs[i]->name, NULL, 0};
      sp_debug(&ctx, "next run %s", t);
    }

  catch_up(d);
  pump(d);
  arm_timer(d);
  write_metrics(d);
  notify("READY=1\nMAINPID=%d", (int)getpid());
  notify_status(d);

  uv_run(&d->loop, UV_RUN_DEFAULT);
  /* Anything still open (only on an error path) gets closed here. */
  if (uv_loop_close(&d->loop) == UV_EBUSY) {
    close_all(d);
    uv_run(&d->loop, UV_RUN_DEFAULT);
    uv_loop_close(&d->loop);
  }
  if (d->metrics_path)
    write_metrics(d);
  daemon_free(d);
  return SP_EXIT_OK;
}
