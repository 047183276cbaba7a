/*
 * daemon_int.h — private to core/daemon/: the state `samspor run` keeps
 * (sp_daemon, sp_job, sp_child) and the functions its three files share.
 * daemon.c holds the loop, scheduling, the warehouse history, reload,
 * metrics, systemd and signals; supervisor.c the sync children (spawning,
 * their stdout and run-record pipes, timeout, drain and kill, their end);
 * control.c the answers on the control socket (status, trigger, reload).
 * The pure decisions are in jobs.c (jobs.h), which knows nothing of these.
 */
#ifndef SAMSPOR_DAEMON_INT_H
#define SAMSPOR_DAEMON_INT_H

#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>
#include <uv.h>

#include "base/options.h"
#include "base/util.h"
#include "daemon/admin.h"
#include "daemon/jobs.h"
#include "model/conf.h"
#include "model/runrecord.h"

typedef enum run_reason {
  REASON_SCHEDULE,
  REASON_CATCHUP,
  REASON_TRIGGER,
  REASON_RETRY
} run_reason;

extern const char *const sp_dm_reason_names[];

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

typedef enum request_result {
  REQ_QUEUED,
  REQ_ALREADY_QUEUED,
  REQ_RUNNING_RERUN,
  REQ_RUNNING_SKIPPED,
  REQ_STOPPING
} request_result;

static inline double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline long long max_parallel(const sp_daemon *d) {
  return d->config->conf.daemon.max_parallel;
}

static inline double grace(const sp_daemon *d) {
  return d->config->conf.daemon.grace;
}

static inline int job_enabled(const sp_job *j) {
  return j->conn && j->conn->conf.enabled;
}

static inline void timeout_text(const sp_job *j, char *buf, size_t len) {
  if (j->conn)
    sp_duration_format(j->conn->conf.timeout, buf, len);
  else
    snprintf(buf, len, "?");
}

/* ---- daemon.c --------------------------------------------------------- */

void sp_dm_fmt_time(const sp_daemon *d, double t, char *buf, size_t len);
/* The job of a connector in the configuration (not a removed one). */
sp_job *sp_dm_find_job(const sp_daemon *d, const char *name);
/* Drop a job that left the configuration, once nothing refers to it. */
void sp_dm_drop_job(sp_daemon *d, sp_job *j);
/* Ask for a run of j (queued unless one is queued or going on). */
request_result sp_dm_request_run(sp_job *j, run_reason why);
/* Record what a run came to, log it, plan a retry.  c may be NULL (the
 * child could not be started; why in spawn_err). */
void sp_dm_record_outcome(sp_job *j, sp_outcome o, const sp_child *c,
                          const char *spawn_err);
/* Insert the failed runs that could not record themselves, when the
 * warehouse answers. */
void sp_dm_record_unrecorded(sp_daemon *d);
/* Start queued runs while there are free slots. */
void sp_dm_pump(sp_daemon *d);
/* Arm the one timer for the earliest due time of any job. */
void sp_dm_arm_timer(sp_daemon *d);
void sp_dm_write_metrics(sp_daemon *d);
void sp_dm_notify_status(sp_daemon *d);
void sp_dm_maybe_finish_shutdown(sp_daemon *d);
/* Parse and validate the file, apply it only when valid.  Returns the
 * answer for `samspor reload` (new reference). */
json_t *sp_dm_reload(sp_daemon *d, const char *why);

/* ---- supervisor.c ----------------------------------------------------- */

/* The environment of children (owned, NULL-terminated). */
char **sp_dm_child_environment(void);
/* Spawn `samspor sync NAME` for j; a failed spawn is recorded at once. */
void sp_dm_start_run(sp_job *j, run_reason why);
/* The child's timer: timeout, then grace, then drain. */
void sp_dm_on_child_timer(uv_timer_t *t);
void sp_dm_signal_child(sp_child *c, int sig);
/* The child is done (exited and its stdout read, or given up on). */
void sp_dm_finish_child(sp_child *c);

/* ---- control.c -------------------------------------------------------- */

/* The control socket's handler (admin.h sp_admin_fn). */
json_t *sp_dm_on_request(void *ud, json_t *req);

#endif
