/*
 * supervisor.c — the sync children of `samspor run`: spawning `samspor
 * sync NAME` (stdout and the run records on fd 3 as pipes), reading both
 * line by line, the timeout, the grace before SIGKILL and the drain after
 * the exit, and the run's end (sp_dm_finish_child).  What an end means is
 * jobs.c's sp_outcome_of; recording it is daemon.c's.
 */
#include "config.h"

#include "daemon/daemon_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "base/log.h"
#include "base/util.h"
#include "model/runrecord.h"

extern char **environ;

/* After a child exits, how long to wait for the rest of its stdout and
 * run records (a grandchild could hold a pipe open forever). */
#define DRAIN_MS 2000
/* Stdout lines and run records of a child longer than this are cut. */
#define MAX_LINE 65536

/*
 * The environment of children: the daemon's, without systemd's per-service
 * variables, so that a child never answers for the daemon (a READY=1 or a
 * watchdog ping from a sync would mislead systemd).
 */
char **sp_dm_child_environment(void) {
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
  /* Where the child writes its run records (sp_dm_start_run passes the fd). */
  env[k++] = sp_xasprintf("%s=%d", SP_RUNREC_ENV, SP_RUNREC_FD);
  return env;
}

/* ---- children --------------------------------------------------------- */

void sp_dm_signal_child(sp_child *c, int sig) {
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
    sp_dm_write_metrics(c->d);
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

/* The child is done (exited and its stdout read, or given up on). */
void sp_dm_finish_child(sp_child *c) {
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
  sp_dm_record_outcome(j, o, c, NULL);
  /* The warehouse answered this run: the failures it missed go in now. */
  if (o == SP_OUT_OK || c->run_id)
    sp_dm_record_unrecorded(d);
  close_child(c);
  if (!j->conn) {
    sp_dm_drop_job(d, j);
  } else if (j->rerun) {
    j->rerun = 0;
    sp_dm_request_run(j, REASON_TRIGGER);
  }
  sp_dm_pump(d);
  sp_dm_arm_timer(d);
  sp_dm_write_metrics(d);
  sp_dm_notify_status(d);
  sp_dm_maybe_finish_shutdown(d);
}

void sp_dm_on_child_timer(uv_timer_t *t) {
  sp_child *c = t->data;
  sp_daemon *d = c->d;
  if (c->exited) {
    /* Drain time is up: something else holds its stdout open. */
    sp_dm_finish_child(c);
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
    sp_dm_signal_child(c, SIGTERM);
    uv_timer_start(&c->timer, sp_dm_on_child_timer, (uint64_t)(grace(d) * 1000),
                   0);
  } else if (!c->kill_sent) {
    c->kill_sent = 1;
    sp_warn(&ctx, "run still going %s after SIGTERM; sending SIGKILL", g);
    sp_dm_signal_child(c, SIGKILL);
  }
}

static void on_child_exit(uv_process_t *p, int64_t status, int sig) {
  sp_child *c = p->data;
  c->exited = 1;
  c->exit_status = status;
  c->term_signal = sig;
  uv_timer_stop(&c->timer);
  if (c->out_eof && c->status_eof)
    sp_dm_finish_child(c);
  else
    uv_timer_start(&c->timer, sp_dm_on_child_timer, DRAIN_MS, 0);
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
      sp_dm_finish_child(c);
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

void sp_dm_start_run(sp_job *j, run_reason why) {
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
    sp_dm_record_outcome(j, SP_OUT_TEMP, NULL, err);
    return;
  }
  d->running++;
  j->child = c;
  j->reason = why;
  uv_read_start((uv_stream_t *)&c->out, on_child_alloc, on_child_read);
  uv_read_start((uv_stream_t *)&c->status, on_child_alloc, on_child_read);
  /* Running now: the metrics file says so during the run, not after. */
  sp_dm_write_metrics(d);
  double timeout = j->conn->conf.timeout;
  uv_timer_start(&c->timer, sp_dm_on_child_timer, (uint64_t)(timeout * 1000),
                 0);
  if (why == REASON_RETRY) {
    unsigned attempts = (unsigned)j->conn->conf.retry.attempts;
    sp_info(&ctx, "run started (pid %d, retry %u of %u)", c->proc.pid,
            j->attempt, attempts);
  } else {
    sp_info(&ctx, "run started (pid %d, %s)", c->proc.pid,
            sp_dm_reason_names[why]);
  }
}
